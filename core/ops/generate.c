/* Ops that replicate or generate data: Expand, Tile, Pad, Range, ConstantOfShape,
 * EyeLike, Trilu. Any dtype with a size. */
#include <math.h>
#include <string.h>

#include "index.h"
#include "opsutil.h"

/* Expand ------------------------------------------------------------------------------ */

enum qb_status qb_expand_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t spec[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    const int64_t *shapes[2] = {x->shape, spec};
    int cnt, nd, ndims[2];
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK ||
        (st = qb_opu_const_ints(g, n, 1, "shape", spec, QB_MAX_DIMS, &cnt, err)) != QB_OK)
        return st;
    for (int i = 0; i < cnt; i++)
        if (spec[i] < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "negative dim in shape");
    ndims[0] = x->ndim;
    ndims[1] = cnt;
    if (qb_bcast_shape(2, ndims, shapes, &nd, shape) != 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input does not broadcast to the given shape");
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, nd, shape);
    return QB_OK;
}

static void k_bcopy(void *ctx, void *y, const void *const *x, const int64_t *xs, int64_t n)
{
    size_t es = *(const size_t *)ctx;
    if (xs[0]) {
        memcpy(y, x[0], (size_t)n * es);
    } else if (es == 4) {
        uint32_t v, *d = y;
        memcpy(&v, x[0], 4);
        for (int64_t i = 0; i < n; i++)
            d[i] = v;
    } else {
        for (int64_t i = 0; i < n; i++)
            memcpy((char *)y + (size_t)i * es, x[0], es);
    }
}

enum qb_status qb_expand_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx)
{
    struct qb_bcast bc;
    size_t es = qb_dtype_size(in[0].dtype);
    const int64_t *shapes[1] = {in[0].shape};
    const void *xp[1] = {in[0].data};

    (void)n;
    qb_bcast_init(&bc, 1, &in[0].ndim, shapes, out[0].ndim, out[0].shape);
    qb_bcast_run(&bc, out[0].data, es, xp, &es, k_bcopy, &es, ctx->pool);
    return QB_OK;
}

/* Tile ---------------------------------------------------------------------------------- */

enum qb_status qb_tile_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t rep[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    int cnt;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK ||
        (st = qb_opu_const_ints(g, n, 1, "repeats", rep, QB_MAX_DIMS, &cnt, err)) != QB_OK)
        return st;
    if (cnt != x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "repeats has %d entries for rank %d", cnt, x->ndim);
    for (int d = 0; d < cnt; d++) {
        if (rep[d] < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "negative repeat");
        shape[d] = x->shape[d] * rep[d];
    }
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, shape);
    return QB_OK;
}

struct tile_job {
    const struct qb_tview *x, *y;
    size_t es;
};

static void tile_range(void *ctx, int64_t b, int64_t e)
{
    const struct tile_job *j = ctx;
    int last = j->y->ndim - 1;
    size_t row = (size_t)j->x->shape[last] * j->es;
    int64_t reps = j->x->shape[last] ? j->y->shape[last] / j->x->shape[last] : 0;
    for (int64_t r = b; r < e; r++) {
        int64_t rem = r, off = 0, s = 1;
        char *dst = (char *)j->y->data + (size_t)r * (size_t)j->y->shape[last] * j->es;
        for (int d = last - 1; d >= 0; d--) {
            off += (rem % j->y->shape[d]) % j->x->shape[d] * s;
            rem /= j->y->shape[d];
            s *= j->x->shape[d];
        }
        for (int64_t k = 0; k < reps; k++)
            memcpy(dst + (size_t)k * row, (const char *)j->x->data + (size_t)off * row, row);
    }
}

enum qb_status qb_tile_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                           const struct qb_kctx *ctx)
{
    struct tile_job j = {&in[0], &out[0], qb_dtype_size(in[0].dtype)};
    int64_t numel = qb_tview_numel(&out[0]);

    (void)n;
    if (numel == 0)
        return QB_OK;
    if (out[0].ndim == 0) {
        memcpy(out[0].data, in[0].data, j.es);
        return QB_OK;
    }
    qb_opu_parallel(ctx->pool, numel / out[0].shape[out[0].ndim - 1], 64, tile_range, &j);
    return QB_OK;
}

/* Pad ------------------------------------------------------------------------------------ */

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

struct pad_params {
    enum pad_mode mode;
    int64_t begin[QB_MAX_DIMS], end[QB_MAX_DIMS];
    double value; /* opset < 11 attribute */
    bool value_input;
};

enum qb_status qb_pad_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *cv = qb_node_in(g, n, 2);
    int64_t pads[2 * QB_MAX_DIMS], axes[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    const char *mode;
    struct pad_params *p;
    enum qb_status st;
    int cnt, na = -1, r = x->ndim;
    float fv = 0;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK ||
        (st = qb_node_attr_string(g, n, "mode", "constant", &mode, err)) != QB_OK)
        return st;
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    if (strcmp(mode, "constant") == 0)
        p->mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        p->mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        p->mode = PAD_EDGE;
    else if (strcmp(mode, "wrap") == 0 && g->opset >= 19)
        p->mode = PAD_WRAP;
    else
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (g->opset < 11) {
        st = qb_node_attr_ints(g, n, g->opset < 2 ? "paddings" : "pads", pads, 2 * QB_MAX_DIMS, &cnt, err);
        if (st == QB_OK)
            st = qb_node_attr_float(g, n, "value", 0.0f, &fv, err);
        if (st != QB_OK)
            return st;
        if (x->dtype != QB_DTYPE_F32 && x->dtype != QB_DTYPE_F64)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "type %s is not supported before opset 11",
                                  qb_dtype_name(x->dtype));
        p->value = fv;
    } else {
        if ((st = qb_opu_const_ints(g, n, 1, "pads", pads, 2 * QB_MAX_DIMS, &cnt, err)) != QB_OK)
            return st;
        if (g->opset >= 18 && (st = qb_opu_const_ints(g, n, 3, "axes", axes, QB_MAX_DIMS, &na, err)) != QB_OK)
            return st;
        if (cv && (cv->dtype != x->dtype || qb_value_numel(cv) != 1))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "constant_value must be a %s scalar",
                                  qb_dtype_name(x->dtype));
        p->value_input = cv != NULL;
    }
    if (na < 0) {
        na = r;
        for (int i = 0; i < r; i++)
            axes[i] = i;
    }
    if (cnt != 2 * na)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "pads has %d entries for %d axes", cnt, na);
    for (int i = 0; i < na; i++) {
        int a = qb_opu_axis(axes[i], r);
        if (a < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range", (long long)axes[i]);
        p->begin[a] = pads[i];
        p->end[a] = pads[i + na];
    }
    for (int d = 0; d < r; d++) {
        int64_t dim = x->shape[d];
        shape[d] = dim + p->begin[d] + p->end[d];
        if (shape[d] < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "pads make dim %d negative", d);
        if (p->mode != PAD_CONSTANT && (p->begin[d] > 0 || p->end[d] > 0) && dim == 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "cannot %s-pad an empty dim", mode);
        if (p->mode == PAD_REFLECT && (p->begin[d] > dim - 1 || p->end[d] > dim - 1) &&
            (p->begin[d] > 0 || p->end[d] > 0))
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "reflect pads wider than dim %d - 1", d);
    }
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, r, shape);
    n->params = p;
    return QB_OK;
}

/* source index of output position o along a dim, or -1 for the constant */
static int64_t pad_src(enum pad_mode m, int64_t o, int64_t begin, int64_t dim)
{
    int64_t i = o - begin, per;
    if (i >= 0 && i < dim)
        return i;
    switch (m) {
    case PAD_EDGE: return i < 0 ? 0 : dim - 1;
    case PAD_WRAP: return ((i % dim) + dim) % dim;
    case PAD_REFLECT:
        if (dim == 1)
            return 0;
        per = 2 * (dim - 1);
        i = ((i % per) + per) % per;
        return i < dim ? i : per - i;
    default: return -1;
    }
}

struct pad_job {
    const struct pad_params *p;
    const struct qb_tview *x, *y;
    size_t es;
    unsigned char value[16];
};

static void pad_range(void *ctx, int64_t b, int64_t e)
{
    const struct pad_job *j = ctx;
    const struct qb_tview *x = j->x, *y = j->y;
    int last = y->ndim - 1;
    int64_t W = y->shape[last], xw = x->shape[last];
    size_t es = j->es;

    for (int64_t r = b; r < e; r++) {
        char *dst = (char *)y->data + (size_t)(r * W) * es;
        int64_t rem = r, off = 0, s = xw;
        bool fill = false;
        for (int d = last - 1; d >= 0; d--) {
            int64_t src = pad_src(j->p->mode, rem % y->shape[d], j->p->begin[d], x->shape[d]);
            rem /= y->shape[d];
            if (src < 0)
                fill = true;
            off += src * s;
            s *= x->shape[d];
        }
        for (int64_t o = 0; o < W; o++) {
            int64_t src = fill ? -1 : pad_src(j->p->mode, o, j->p->begin[last], xw);
            if (src < 0) {
                memcpy(dst + (size_t)o * es, j->value, es);
            } else if (o - j->p->begin[last] == src) {
                /* the in-range run: one copy */
                int64_t len = xw - src < W - o ? xw - src : W - o;
                memcpy(dst + (size_t)o * es, (const char *)x->data + (size_t)(off + src) * es, (size_t)len * es);
                o += len - 1;
            } else {
                memcpy(dst + (size_t)o * es, (const char *)x->data + (size_t)(off + src) * es, es);
            }
        }
    }
}

enum qb_status qb_pad_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                          const struct qb_kctx *ctx)
{
    const struct pad_params *p = n->params;
    struct pad_job j = {p, &in[0], &out[0], qb_dtype_size(in[0].dtype), {0}};
    int64_t numel = qb_tview_numel(&out[0]);

    if (p->value_input && n->n_in > 2 && in[2].data)
        memcpy(j.value, in[2].data, j.es);
    else if (!p->value_input) {
        union qb_num v = {.f = p->value};
        qb_num_store(in[0].dtype, j.value, v, QB_NUM_F);
    }
    if (numel == 0)
        return QB_OK;
    if (out[0].ndim == 0) {
        memcpy(out[0].data, in[0].data, j.es);
        return QB_OK;
    }
    qb_opu_parallel(ctx->pool, numel / out[0].shape[out[0].ndim - 1], 64, pad_range, &j);
    return QB_OK;
}

/* Range --------------------------------------------------------------------------------- */

struct range_params {
    union qb_num start, delta;
};

enum qb_status qb_range_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *v[3];
    union qb_num s, l, d;
    struct range_params *p;
    enum qb_dtype t = qb_node_in(g, n, 0)->dtype;
    enum qb_status st;
    int64_t count;

    for (int k = 0; k < 3; k++) {
        v[k] = qb_node_in(g, n, k);
        if (!(v[k]->flags & QB_VALUE_CONST))
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input '%s' is computed at run time; qbench needs it constant",
                                  v[k]->name);
        if (v[k]->dtype != t || qb_value_numel(v[k]) != 1)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "inputs must be scalars of one type");
    }
    if (t != QB_DTYPE_F32 && t != QB_DTYPE_F64 && t != QB_DTYPE_I16 && t != QB_DTYPE_I32 && t != QB_DTYPE_I64)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "type %s is not supported", qb_dtype_name(t));
    s = qb_num_load(t, v[0]->data);
    l = qb_num_load(t, v[1]->data);
    d = qb_num_load(t, v[2]->data);
    if (t == QB_DTYPE_F32 || t == QB_DTYPE_F64) {
        double c;
        if (d.f == 0 || !isfinite(d.f) || !isfinite(s.f) || !isfinite(l.f))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "start, limit and delta must be finite, delta non-zero");
        c = ceil((l.f - s.f) / d.f);
        if (c > (double)(1 << 30))
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "range of %.0f elements is too long", c);
        count = c > 0 ? (int64_t)c : 0;
    } else {
        __int128 num = (__int128)l.i - s.i;
        if (d.i == 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "delta is zero");
        if ((num > 0) != (d.i > 0) || num == 0) {
            count = 0;
        } else {
            __int128 c = (num + d.i + (d.i > 0 ? -1 : 1)) / d.i;
            if (c > (1 << 30))
                return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "range is too long");
            count = (int64_t)c;
        }
    }
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->start = s;
    p->delta = d;
    qb_opu_set_out(qb_node_out(g, n, 0), t, 1, &count);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_range_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                            const struct qb_kctx *ctx)
{
    const struct range_params *p = n->params;
    int64_t cnt = out[0].shape[0];
    enum qb_dtype t = out[0].dtype;
    size_t es = qb_dtype_size(t);

    (void)in;
    (void)ctx;
    for (int64_t i = 0; i < cnt; i++) {
        union qb_num v;
        if (t == QB_DTYPE_F32) {
            ((float *)out[0].data)[i] = (float)p->start.f + (float)i * (float)p->delta.f;
            continue;
        }
        if (t == QB_DTYPE_F64)
            v.f = p->start.f + (double)i * p->delta.f;
        else
            v.u = (uint64_t)p->start.i + (uint64_t)i * (uint64_t)p->delta.i;
        qb_num_store(t, (char *)out[0].data + (size_t)i * es, v, t == QB_DTYPE_F64 ? QB_NUM_F : QB_NUM_I);
    }
    return QB_OK;
}

/* ConstantOfShape, EyeLike ---------------------------------------------------------------- */

struct fill_params {
    unsigned char value[16];
};

enum qb_status qb_constant_of_shape_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_attr *a = qb_node_attr(n, "value");
    int64_t shape[QB_MAX_DIMS];
    enum qb_dtype t = QB_DTYPE_F32;
    struct fill_params *p;
    enum qb_status st;
    int cnt;

    if ((st = qb_opu_const_ints(g, n, 0, "shape", shape, QB_MAX_DIMS, &cnt, err)) != QB_OK)
        return st;
    for (int i = 0; i < cnt; i++)
        if (shape[i] < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "negative dim in shape");
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    if (a) {
        const struct qb_value *v;
        if (a->type != QB_ATTR_TENSOR || a->u.tensor < 0 || a->u.tensor >= g->n_values)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'value' must be a tensor");
        v = &g->values[a->u.tensor];
        if (qb_value_numel(v) != 1 || !v->data)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'value' must hold one element");
        if (qb_dtype_size(v->dtype) == 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "type %s is not supported", qb_dtype_name(v->dtype));
        t = v->dtype;
        memcpy(p->value, v->data, qb_dtype_size(t));
    }
    qb_opu_set_out(qb_node_out(g, n, 0), t, cnt, shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_constant_of_shape_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                        const struct qb_kctx *ctx)
{
    const struct fill_params *p = n->params;
    int64_t cnt = qb_tview_numel(&out[0]);
    size_t es = qb_dtype_size(out[0].dtype);
    bool zero = true;

    (void)in;
    (void)ctx;
    for (size_t i = 0; i < es; i++)
        zero = zero && p->value[i] == 0;
    if (zero) {
        memset(out[0].data, 0, (size_t)cnt * es);
        return QB_OK;
    }
    for (int64_t i = 0; i < cnt; i++)
        memcpy((char *)out[0].data + (size_t)i * es, p->value, es);
    return QB_OK;
}

enum qb_status qb_eyelike_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct qb_value *y = qb_node_out(g, n, 0);
    int64_t dt, k;
    enum qb_dtype t;
    enum qb_status st;
    union qb_num one = {.i = 1};
    size_t es;

    if ((st = qb_node_attr_int(g, n, "dtype", -1, &dt, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "k", 0, &k, err)) != QB_OK)
        return st;
    t = dt < 0 ? x->dtype : qb_opu_onnx_dtype(dt);
    if (x->ndim != 2)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input must be 2-D");
    if (t == QB_DTYPE_UNDEFINED || qb_dtype_size(t) == 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "output type is not supported");
    qb_opu_set_out(y, t, 2, x->shape);
    es = qb_dtype_size(t);
    y->data = qb_arena_calloc(g->arena, (size_t)(qb_value_numel(y) ? qb_value_numel(y) : 1), es);
    if (!y->data)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < x->shape[0]; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < x->shape[1])
            qb_num_store(t, (char *)y->data + (size_t)(i * x->shape[1] + j) * es, one, QB_NUM_I);
    }
    y->flags |= QB_VALUE_CONST;
    return QB_OK;
}

/* Trilu ------------------------------------------------------------------------------------- */

struct trilu_params {
    bool upper;
};

enum qb_status qb_trilu_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *k = qb_node_in(g, n, 1);
    struct trilu_params *p;
    int64_t upper;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = qb_node_attr_int(g, n, "upper", 1, &upper, err)) != QB_OK)
        return st;
    if (x->ndim < 2)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input must have rank >= 2");
    if (k && (k->dtype != QB_DTYPE_I64 || qb_value_numel(k) != 1))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "k must be an int64 scalar");
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->upper = upper != 0;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_trilu_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                            const struct qb_kctx *ctx)
{
    const struct trilu_params *p = n->params;
    int64_t k = n->n_in > 1 && in[1].data ? *(const int64_t *)in[1].data : 0;
    int64_t R = in[0].shape[in[0].ndim - 2], C = in[0].shape[in[0].ndim - 1], mats, numel = qb_tview_numel(&in[0]);
    size_t es = qb_dtype_size(in[0].dtype);

    (void)ctx;
    if (numel == 0)
        return QB_OK;
    mats = numel / (R * C);
    memcpy(out[0].data, in[0].data, (size_t)numel * es);
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++)
                if (p->upper ? j - i < k : j - i > k)
                    memset((char *)out[0].data + (size_t)((m * R + i) * C + j) * es, 0, es);
    return QB_OK;
}
