/* Ops that walk one axis: ArgMax, ArgMin, CumSum, TopK. The input is seen as
 * [O, R, I] with R the axis; any numeric dtype for ArgMax/ArgMin, float and
 * int32/int64 for CumSum and TopK. */
#include <string.h>

#include "opsutil.h"
#include "scan.h"

/* [O, R, I] of a tensor around axis a */
struct ori {
    int64_t O, R, I;
};

static struct ori ori_of(const struct qb_tview *t, int a)
{
    struct ori s = {1, 1, 1};
    for (int d = 0; d < t->ndim; d++)
        *(d < a ? &s.O : d == a ? &s.R : &s.I) *= t->shape[d];
    return s;
}

/* ArgMax, ArgMin ---------------------------------------------------------------------------- */

struct arg_params {
    int axis;
    bool is_max, last;
};

enum qb_status qb_arg_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axis, keepdims, last, shape[QB_MAX_DIMS];
    struct arg_params *p;
    enum qb_status st;
    int a, nd = 0;

    if (x->dtype != QB_DTYPE_F32 && !qb_opu_is_int(x->dtype) && x->dtype != QB_DTYPE_F64)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(x->dtype));
    if ((st = qb_node_attr_int(g, n, "axis", 0, &axis, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "keepdims", 1, &keepdims, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "select_last_index", 0, &last, err)) != QB_OK)
        return st;
    if ((a = qb_opu_axis(axis, x->ndim)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              x->ndim);
    if (x->shape[a] == 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "cannot take the arg of an empty axis");
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    p->is_max = strcmp(n->op_type, "ArgMax") == 0;
    p->last = last != 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != a || keepdims)
            shape[nd++] = d == a ? 1 : x->shape[d];
    qb_opu_set_out(qb_node_out(g, n, 0), QB_DTYPE_I64, nd, shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_arg_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                              const struct qb_kctx *ctx)
{
    const struct arg_params *p = n->params;
    struct ori s = ori_of(&in[0], p->axis);
    enum qb_dtype t = in[0].dtype;
    enum qb_num_dom dom = qb_num_domain(t);
    size_t es = qb_dtype_size(t);
    int64_t *y = out[0].data;

    (void)ctx;
    for (int64_t o = 0; o < s.O; o++)
        for (int64_t i = 0; i < s.I; i++) {
            const char *x = (const char *)in[0].data + (size_t)(o * s.R * s.I + i) * es;
            int64_t best = 0;
            union qb_num bv = qb_num_load(t, x);
            for (int64_t r = 1; r < s.R; r++) {
                union qb_num v = qb_num_load(t, x + (size_t)(r * s.I) * es);
                int c = dom == QB_NUM_F ? (v.f > bv.f) - (v.f < bv.f)
                      : dom == QB_NUM_I ? (v.i > bv.i) - (v.i < bv.i)
                                        : (v.u > bv.u) - (v.u < bv.u);
                if (!p->is_max)
                    c = -c;
                if (c > 0 || (c == 0 && p->last && !(dom == QB_NUM_F && v.f != v.f))) {
                    best = r;
                    bv = v;
                }
            }
            y[o * s.I + i] = best;
        }
    return QB_OK;
}

/* CumSum ------------------------------------------------------------------------------------ */

struct cumsum_params {
    int axis;
    bool exclusive, reverse;
};

enum qb_status qb_cumsum_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axis[1], ex, rev;
    struct cumsum_params *p;
    enum qb_status st;
    int cnt, a;

    if (x->dtype != QB_DTYPE_F32 && x->dtype != QB_DTYPE_F64 && x->dtype != QB_DTYPE_I32 && x->dtype != QB_DTYPE_I64)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(x->dtype));
    if ((st = qb_opu_const_ints(g, n, 1, "axis", axis, 1, &cnt, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "exclusive", 0, &ex, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "reverse", 0, &rev, err)) != QB_OK)
        return st;
    if (cnt != 1 || (a = qb_opu_axis(axis[0], x->ndim)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis must be one value within the rank");
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    p->exclusive = ex != 0;
    p->reverse = rev != 0;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_cumsum_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx)
{
    const struct cumsum_params *p = n->params;
    struct ori s = ori_of(&in[0], p->axis);
    enum qb_dtype t = in[0].dtype;
    enum qb_num_dom dom = qb_num_domain(t);
    size_t es = qb_dtype_size(t);

    (void)ctx;
    for (int64_t o = 0; o < s.O; o++)
        for (int64_t i = 0; i < s.I; i++) {
            union qb_num acc = {.i = 0};
            for (int64_t k = 0; k < s.R; k++) {
                int64_t r = p->reverse ? s.R - 1 - k : k;
                size_t off = (size_t)((o * s.R + r) * s.I + i) * es;
                union qb_num v = qb_num_load(t, (const char *)in[0].data + off);
                if (p->exclusive)
                    qb_num_store(t, (char *)out[0].data + off, acc, dom);
                if (dom == QB_NUM_F)
                    acc.f = t == QB_DTYPE_F32 ? (double)((float)acc.f + (float)v.f) : acc.f + v.f;
                else
                    acc.u += v.u;
                if (!p->exclusive)
                    qb_num_store(t, (char *)out[0].data + off, acc, dom);
            }
        }
    return QB_OK;
}

/* TopK ------------------------------------------------------------------------------------------ */

struct topk_params {
    int axis;
    int64_t k;
    bool largest;
};

enum qb_status qb_topk_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axis, largest = 1, sorted = 1, k[1], shape[QB_MAX_DIMS];
    struct topk_params *p;
    enum qb_status st;
    int cnt, a;

    if (x->dtype != QB_DTYPE_F32 && x->dtype != QB_DTYPE_I64 && x->dtype != QB_DTYPE_I32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(x->dtype));
    if ((st = qb_node_attr_int(g, n, "axis", -1, &axis, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "largest", 1, &largest, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "sorted", 1, &sorted, err)) != QB_OK)
        return st;
    if (g->opset < 10) {
        if ((st = qb_node_attr_int(g, n, "k", -1, &k[0], err)) != QB_OK)
            return st;
        cnt = 1;
    } else if ((st = qb_opu_const_ints(g, n, 1, "K", k, 1, &cnt, err)) != QB_OK) {
        return st;
    }
    if ((a = qb_opu_axis(axis, x->ndim)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range", (long long)axis);
    if (cnt != 1 || k[0] < 0 || k[0] > x->shape[a])
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "K must be one value in [0, %lld]", (long long)x->shape[a]);
    /* sorted=0 leaves the order open; sorted output is a valid answer */
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    p->k = k[0];
    p->largest = largest != 0;
    memcpy(shape, x->shape, sizeof(shape));
    shape[a] = k[0];
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, shape);
    qb_opu_set_out(qb_node_out(g, n, 1), QB_DTYPE_I64, x->ndim, shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_topk_prepare(const struct qb_graph *g, const struct qb_node *n, void **state, size_t *scratch,
                                   struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    const struct topk_params *p = n->params;
    (void)err;
    *state = NULL;
    *scratch = (size_t)x->shape[p->axis] * 2 * sizeof(int64_t) + 64;
    return QB_OK;
}

/* true when element a ranks before b: by value (largest or smallest first), ties by index */
static bool topk_before(const struct qb_tview *x, const struct topk_params *p, size_t base, int64_t I, int64_t a,
                        int64_t b)
{
    double va, vb;
    if (x->dtype == QB_DTYPE_F32) {
        va = ((const float *)x->data)[base + (size_t)(a * I)];
        vb = ((const float *)x->data)[base + (size_t)(b * I)];
    } else if (x->dtype == QB_DTYPE_I64) {
        int64_t ia = ((const int64_t *)x->data)[base + (size_t)(a * I)], ib = ((const int64_t *)x->data)[base + (size_t)(b * I)];
        if (ia != ib)
            return p->largest ? ia > ib : ia < ib;
        return a < b;
    } else {
        va = ((const int32_t *)x->data)[base + (size_t)(a * I)];
        vb = ((const int32_t *)x->data)[base + (size_t)(b * I)];
    }
    if (va != vb)
        return p->largest ? va > vb : va < vb;
    return a < b;
}

enum qb_status qb_topk_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct topk_params *p = n->params;
    struct ori s = ori_of(&in[0], p->axis);
    int64_t *idx = ctx->scratch, *tmp = idx + s.R;
    size_t es = qb_dtype_size(in[0].dtype);

    for (int64_t o = 0; o < s.O; o++)
        for (int64_t i = 0; i < s.I; i++) {
            size_t base = (size_t)(o * s.R * s.I + i);
            for (int64_t r = 0; r < s.R; r++)
                idx[r] = r;
            /* bottom-up merge sort: stable and O(R log R) */
            for (int64_t w = 1; w < s.R; w *= 2) {
                for (int64_t lo = 0; lo < s.R; lo += 2 * w) {
                    int64_t mid = lo + w < s.R ? lo + w : s.R, hi = lo + 2 * w < s.R ? lo + 2 * w : s.R;
                    int64_t a = lo, b = mid, k = lo;
                    while (a < mid && b < hi)
                        tmp[k++] = topk_before(&in[0], p, base, s.I, idx[b], idx[a]) ? idx[b++] : idx[a++];
                    while (a < mid)
                        tmp[k++] = idx[a++];
                    while (b < hi)
                        tmp[k++] = idx[b++];
                }
                memcpy(idx, tmp, (size_t)s.R * sizeof(int64_t));
            }
            for (int64_t k = 0; k < p->k; k++) {
                size_t oo = (size_t)((o * p->k + k) * s.I + i);
                memcpy((char *)out[0].data + oo * es, (const char *)in[0].data + (base + (size_t)(idx[k] * s.I)) * es, es);
                ((int64_t *)out[1].data)[oo] = idx[k];
            }
        }
    return QB_OK;
}
