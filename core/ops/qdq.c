/* QuantizeLinear and DequantizeLinear (opsets 10 to 22): int8/uint8, per
 * tensor or per axis, through core/quant.h's rounding (the one the INT8 nodes
 * use):
 *
 *     QuantizeLinear:   y = clamp(rne(x / scale) + zp, qmin, qmax)
 *                         = qb_quant_round(x, scale, qmin - zp, qmax - zp) + zp
 *     DequantizeLinear: y = (float)(x - zp) * scale
 *
 * float32 x and scales only; int32 x for DequantizeLinear (opset 10's bias
 * form, zero point 0). Refused by name: blocked quantization (block_size), 4-
 * and 16-bit and float8 types, float16 scales. */
#include <string.h>

#include "../op.h"
#include "../quant.h"
#include "opsutil.h"

struct qdq_params {
    int axis;           /* channel axis, or -1 per tensor */
    enum qb_dtype qt;   /* the quantized type: int8, uint8 (int32: DequantizeLinear only) */
};

/* outer x ch x inner view of x around the axis (ch 1 per tensor). */
static void qdq_dims(const struct qdq_params *p, const struct qb_tview *x, int64_t *outer, int64_t *ch,
                     int64_t *inner)
{
    *outer = *ch = *inner = 1;
    if (p->axis < 0) {
        *inner = qb_tview_numel(x);
        return;
    }
    for (int d = 0; d < x->ndim; d++) {
        if (d < p->axis)
            *outer *= x->shape[d];
        else if (d == p->axis)
            *ch = x->shape[d];
        else
            *inner *= x->shape[d];
    }
}

/* Scale (input 1) and zero point (input 2): float32 scale; the zero point of
 * type qt; both one value (per tensor) or 1-D of x's axis length. */
static enum qb_status parse_common(struct qb_graph *g, struct qb_node *n, struct qdq_params *p, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *s = qb_node_in(g, n, 1), *z = qb_node_in(g, n, 2);
    int64_t axis = 1, block = 0, ns = qb_value_numel(s);
    enum qb_status st;

    if ((st = qb_node_attr_int(g, n, "axis", 1, &axis, err)) ||
        (st = qb_node_attr_int(g, n, "block_size", 0, &block, err)))
        return st;
    if (block != 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "blocked quantization (block_size %lld) is not supported",
                              (long long)block);
    if (s->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "scale is %s; only float is supported",
                              qb_dtype_name(s->dtype));
    if (s->ndim > 1)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "scale of rank %d (blocked quantization) is not supported",
                              s->ndim);
    if (z && (z->ndim != s->ndim || qb_value_numel(z) != ns))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "zero point and scale differ in shape");
    p->axis = -1;
    if (ns != 1) { /* per axis: 1-D, one scale per index of x's axis */
        int a = qb_opu_axis(axis, x->ndim);
        if (g->opset < 13)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "per-axis scales need opset 13");
        if (a < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis,
                                  x->ndim);
        if (x->shape[a] != ns)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "%lld scales for axis %d of length %lld", (long long)ns,
                                  a, (long long)x->shape[a]);
        p->axis = a;
    }
    return QB_OK;
}

static enum qb_status q_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *z = qb_node_in(g, n, 2);
    struct qdq_params *p;
    int64_t out_dt = 0;
    enum qb_status st;

    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) ||
        (st = qb_node_attr_int(g, n, "output_dtype", 0, &out_dt, err)))
        return st;
    if (x->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input x is %s; only float is supported",
                              qb_dtype_name(x->dtype));
    p->qt = z ? z->dtype : out_dt ? qb_opu_onnx_dtype(out_dt) : QB_DTYPE_U8;
    if (p->qt != QB_DTYPE_I8 && p->qt != QB_DTYPE_U8)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "quantized type %s; int8 and uint8 are supported",
                              out_dt && !z ? "(output_dtype)" : qb_dtype_name(p->qt));
    if (out_dt && qb_opu_onnx_dtype(out_dt) != p->qt)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "output_dtype disagrees with the zero point's type");
    if ((st = parse_common(g, n, p, err)) != QB_OK)
        return st;
    qb_opu_set_out(qb_node_out(g, n, 0), p->qt, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

static int32_t zero_point(const struct qb_tview *z, int64_t c)
{
    if (!z || !z->data)
        return 0;
    if (z->dtype == QB_DTYPE_I8)
        return ((const int8_t *)z->data)[c];
    if (z->dtype == QB_DTYPE_U8)
        return ((const uint8_t *)z->data)[c];
    return ((const int32_t *)z->data)[c];
}

static enum qb_status q_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                            const struct qb_kctx *ctx)
{
    const struct qdq_params *p = n->params;
    const struct qb_tview *z = n->n_in > 2 ? &in[2] : NULL;
    const float *x = in[0].data, *scale = in[1].data;
    const int32_t qmin = p->qt == QB_DTYPE_I8 ? -128 : 0, qmax = p->qt == QB_DTYPE_I8 ? 127 : 255;
    int64_t outer, ch, inner;

    (void)ctx;
    qdq_dims(p, &in[0], &outer, &ch, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            const int64_t at = (o * ch + c) * inner;
            const int32_t zp = zero_point(z, c);
            const float s = scale[c];
            if (p->qt == QB_DTYPE_I8 && zp == 0) { /* the INT8 nodes' quantization itself */
                qb_quant_buffer(x + at, (int8_t *)out[0].data + at, (size_t)inner, s);
            } else if (p->qt == QB_DTYPE_I8) {
                int8_t *y = (int8_t *)out[0].data + at;
                for (int64_t i = 0; i < inner; i++)
                    y[i] = (int8_t)(qb_quant_round(x[at + i], s, qmin - zp, qmax - zp) + zp);
            } else {
                uint8_t *y = (uint8_t *)out[0].data + at;
                for (int64_t i = 0; i < inner; i++)
                    y[i] = (uint8_t)(qb_quant_round(x[at + i], s, qmin - zp, qmax - zp) + zp);
            }
        }
    return QB_OK;
}

static enum qb_status dq_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *z = qb_node_in(g, n, 2);
    struct qdq_params *p;
    enum qb_status st;

    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->qt = x->dtype;
    if (p->qt != QB_DTYPE_I8 && p->qt != QB_DTYPE_U8 && p->qt != QB_DTYPE_I32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input x is %s; int8, uint8 and int32 are supported",
                              qb_dtype_name(p->qt));
    if (z && z->dtype != p->qt)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "zero point is %s, x is %s", qb_dtype_name(z->dtype),
                              qb_dtype_name(p->qt));
    if (z && p->qt == QB_DTYPE_I32 && (z->flags & QB_VALUE_CONST))
        for (int64_t i = 0; i < qb_value_numel(z); i++)
            if (((const int32_t *)z->data)[i] != 0)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "an int32 input needs zero point 0");
    if ((st = parse_common(g, n, p, err)) != QB_OK)
        return st;
    qb_opu_set_out(qb_node_out(g, n, 0), QB_DTYPE_F32, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

static enum qb_status dq_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx)
{
    const struct qdq_params *p = n->params;
    const struct qb_tview *z = n->n_in > 2 ? &in[2] : NULL;
    const float *scale = in[1].data;
    float *y = out[0].data;
    int64_t outer, ch, inner;

    (void)ctx;
    qdq_dims(p, &in[0], &outer, &ch, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            const int64_t at = (o * ch + c) * inner;
            const int64_t zp = zero_point(z, c);
            const float s = scale[c];
            if (p->qt == QB_DTYPE_I8) {
                const int8_t *x = (const int8_t *)in[0].data + at;
                QB_LOOP8(inner, y[at + i] = (float)((int32_t)x[i] - (int32_t)zp) * s);
            } else if (p->qt == QB_DTYPE_U8) {
                const uint8_t *x = (const uint8_t *)in[0].data + at;
                QB_LOOP8(inner, y[at + i] = (float)((int32_t)x[i] - (int32_t)zp) * s);
            } else {
                const int32_t *x = (const int32_t *)in[0].data + at;
                QB_LOOP8(inner, y[at + i] = (float)((int64_t)x[i] - zp) * s);
            }
        }
    return QB_OK;
}

static const char *const q_attrs[] = {"axis", "saturate", "block_size", "output_dtype", NULL};
static const char *const dq_attrs[] = {"axis", "block_size", NULL};

const struct qb_op_def qb_ops_qdq[] = {
    {.name = "QuantizeLinear", .min_opset = 10, .max_opset = 22, .min_in = 2, .max_in = 3, .min_out = 1,
     .max_out = 1, .attrs = q_attrs, .infer = q_infer, .run = q_run},
    {.name = "DequantizeLinear", .min_opset = 10, .max_opset = 22, .min_in = 2, .max_in = 3, .min_out = 1,
     .max_out = 1, .attrs = dq_attrs, .infer = dq_infer, .run = dq_run},
    {.name = NULL},
};
