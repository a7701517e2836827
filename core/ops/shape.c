/* Shape and data-movement ops on any dtype: Identity, Dropout (inference),
 * Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Constant, Transpose, Concat,
 * Split, Slice, DepthToSpace, SpaceToDepth; the table also lists the indexing and
 * generating ops of index.c (Gather, Expand, Tile, Pad, Range, Scatter ...). */
#include <string.h>

#include "../op.h"
#include "index.h"
#include "opsutil.h"

#define MAX_PARTS 1024 /* Concat inputs / Split outputs */

/* Output with x's data reinterpreted (same bytes): shares the constant data when x
 * is constant, so the node folds without a copy. */
static void alias_out(struct qb_value *y, const struct qb_value *x, int ndim, const int64_t *shape)
{
    qb_opu_set_out(y, x->dtype, ndim, shape);
    if ((x->flags & QB_VALUE_CONST) && x->data) {
        y->data = x->data;
        y->flags |= QB_VALUE_CONST;
    }
}

static enum qb_status copy_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    (void)n;
    qb_opu_copy(ctx->pool, out[0].data, in[0].data, (size_t)qb_tview_numel(&out[0]) * qb_dtype_size(out[0].dtype));
    return QB_OK;
}

/* Identity, Dropout ----------------------------------------------------------- */

static enum qb_status identity_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    enum qb_status st = qb_opu_need_sized(g, n, x, err);
    if (st == QB_OK)
        alias_out(qb_node_out(g, n, 0), x, x->ndim, x->shape);
    return st;
}

static enum qb_status dropout_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *tm = qb_node_in(g, n, 2);
    struct qb_value *mask = qb_node_out(g, n, 1);
    enum qb_status st;
    int64_t is_test;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK)
        return st;
    if ((st = qb_node_attr_int(g, n, "is_test", 1, &is_test, err)) != QB_OK)
        return st;
    if (!is_test)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "training mode (is_test=0) is not supported");
    if (tm) {
        const struct qb_value *ratio = qb_node_in(g, n, 1);
        if (!(tm->flags & QB_VALUE_CONST) || tm->dtype != QB_DTYPE_BOOL || qb_value_numel(tm) != 1)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "training_mode must be a constant bool");
        /* training drops at random; only ratio 0 (nothing dropped) is deterministic */
        if (*(const uint8_t *)tm->data &&
            !(ratio && (ratio->flags & QB_VALUE_CONST) && qb_value_numel(ratio) == 1 && qb_dtype_size(ratio->dtype) &&
              qb_num_as_double(qb_num_load(ratio->dtype, ratio->data), qb_num_domain(ratio->dtype)) == 0))
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "training mode with a non-zero ratio is random");
    }
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    if (mask)
        qb_opu_set_out(mask, g->opset >= 10 ? QB_DTYPE_BOOL : x->dtype, x->ndim, x->shape);
    return QB_OK;
}

static enum qb_status dropout_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                  const struct qb_kctx *ctx)
{
    copy_run(n, in, out, ctx);
    if (n->n_out > 1 && out[1].data) {
        int64_t cnt = qb_tview_numel(&out[1]);
        union qb_num one = {.i = 1};
        size_t es = qb_dtype_size(out[1].dtype);
        for (int64_t i = 0; i < cnt; i++)
            qb_num_store(out[1].dtype, (char *)out[1].data + (size_t)i * es, one, QB_NUM_I);
    }
    return QB_OK;
}

/* Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------------- */

static enum qb_status reshape_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t spec[QB_MAX_DIMS], shape[QB_MAX_DIMS], known = 1, allowzero = 0, xn = qb_value_numel(x);
    int cnt, infer_at = -1;
    enum qb_status st;
    char buf[128];

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK)
        return st;
    if (g->opset < 5)
        st = qb_node_attr_ints(g, n, "shape", spec, QB_MAX_DIMS, &cnt, err);
    else
        st = qb_opu_const_ints(g, n, 1, "shape", spec, QB_MAX_DIMS, &cnt, err);
    if (st != QB_OK)
        return st;
    if (cnt < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "the target shape is missing");
    if ((st = qb_node_attr_int(g, n, "allowzero", 0, &allowzero, err)) != QB_OK)
        return st;
    for (int i = 0; i < cnt; i++) {
        int64_t d = spec[i];
        if (d == 0 && !allowzero) {
            if (i >= x->ndim)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "0 at position %d copies a dim the input lacks", i);
            d = x->shape[i];
        }
        if (d == -1) {
            if (infer_at >= 0)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "more than one -1 in the target shape");
            infer_at = i;
            continue;
        }
        if (d < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "invalid dim %lld in the target shape", (long long)d);
        shape[i] = d;
        known *= d;
    }
    if (infer_at >= 0) {
        if (known == 0 || xn % known != 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "cannot reshape %s: -1 has no whole value",
                                  qb_shape_str(x, buf, sizeof(buf)));
        shape[infer_at] = xn / known;
        known = xn;
    }
    if (known != xn)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "cannot reshape %s (%lld elements) to %lld elements",
                              qb_shape_str(x, buf, sizeof(buf)), (long long)xn, (long long)known);
    alias_out(qb_node_out(g, n, 0), x, cnt, shape);
    return QB_OK;
}

static enum qb_status flatten_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axis, shape[2] = {1, 1};
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = qb_node_attr_int(g, n, "axis", 1, &axis, err)) != QB_OK)
        return st;
    if (axis < 0)
        axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              x->ndim);
    for (int i = 0; i < x->ndim; i++)
        shape[i < axis ? 0 : 1] *= x->shape[i];
    alias_out(qb_node_out(g, n, 0), x, 2, shape);
    return QB_OK;
}

/* axes from the 'axes' attribute (opset < 13) or input 1; *cnt = -1 when absent */
static enum qb_status axes_arg(struct qb_graph *g, struct qb_node *n, int64_t *axes, int *cnt,
                               struct qb_error *err)
{
    if (g->opset < 13)
        return qb_node_attr_ints(g, n, "axes", axes, QB_MAX_DIMS, cnt, err);
    return qb_opu_const_ints(g, n, 1, "axes", axes, QB_MAX_DIMS, cnt, err);
}

static enum qb_status squeeze_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axes[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    bool drop[QB_MAX_DIMS] = {false};
    int cnt, nd = 0;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = axes_arg(g, n, axes, &cnt, err)) != QB_OK)
        return st;
    for (int i = 0; i < cnt; i++) {
        int a = qb_opu_axis(axes[i], x->ndim);
        if (a < 0 || drop[a])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range or repeated",
                                  (long long)axes[i]);
        if (x->shape[a] != 1)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "cannot squeeze axis %d of size %lld", a,
                                  (long long)x->shape[a]);
        drop[a] = true;
    }
    for (int i = 0; i < x->ndim; i++)
        if (!(cnt < 0 ? x->shape[i] == 1 : drop[i]))
            shape[nd++] = x->shape[i];
    alias_out(qb_node_out(g, n, 0), x, nd, shape);
    return QB_OK;
}

static enum qb_status unsqueeze_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axes[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    bool ins[QB_MAX_DIMS] = {false};
    int cnt, r, k = 0;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = axes_arg(g, n, axes, &cnt, err)) != QB_OK)
        return st;
    if (cnt < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axes are missing");
    r = x->ndim + cnt;
    if (r > QB_MAX_DIMS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "rank %d exceeds %d", r, QB_MAX_DIMS);
    for (int i = 0; i < cnt; i++) {
        int a = qb_opu_axis(axes[i], r);
        if (a < 0 || ins[a])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range or repeated",
                                  (long long)axes[i]);
        ins[a] = true;
    }
    for (int i = 0; i < r; i++)
        shape[i] = ins[i] ? 1 : x->shape[k++];
    alias_out(qb_node_out(g, n, 0), x, r, shape);
    return QB_OK;
}

/* Shape, Size, Constant ---------------------------------------------------------- */

static enum qb_status const_out(struct qb_graph *g, struct qb_value *y, enum qb_dtype dt, int ndim,
                                const int64_t *shape, const void *data, struct qb_error *err)
{
    size_t bytes;
    qb_opu_set_out(y, dt, ndim, shape);
    bytes = (size_t)qb_value_numel(y) * qb_dtype_size(dt);
    y->data = qb_arena_alloc(g->arena, bytes ? bytes : 1);
    if (!y->data)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    memcpy(y->data, data, bytes);
    y->flags |= QB_VALUE_CONST;
    return QB_OK;
}

static enum qb_status shape_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t start, end, len;
    enum qb_status st;

    if ((st = qb_node_attr_int(g, n, "start", 0, &start, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "end", x->ndim, &end, err)) != QB_OK)
        return st;
    start = start < 0 ? start + x->ndim : start;
    end = end < 0 ? end + x->ndim : end;
    start = start < 0 ? 0 : start > x->ndim ? x->ndim : start;
    end = end < 0 ? 0 : end > x->ndim ? x->ndim : end;
    len = end > start ? end - start : 0;
    return const_out(g, qb_node_out(g, n, 0), QB_DTYPE_I64, 1, &len, x->shape + start, err);
}

static enum qb_status size_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    int64_t numel = qb_value_numel(qb_node_in(g, n, 0));
    return const_out(g, qb_node_out(g, n, 0), QB_DTYPE_I64, 0, NULL, &numel, err);
}

static enum qb_status constant_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    struct qb_value *y = qb_node_out(g, n, 0);
    const struct qb_attr *a;
    int64_t one;

    if (n->n_attr != 1)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "needs exactly one value attribute, has %d", n->n_attr);
    a = &n->attrs[0];
    if (strcmp(a->name, "value") == 0 && a->type == QB_ATTR_TENSOR) {
        const struct qb_value *t = a->u.tensor >= 0 && a->u.tensor < g->n_values ? &g->values[a->u.tensor] : NULL;
        if (!t || !(t->flags & QB_VALUE_CONST) || (!t->data && qb_value_numel(t) != 0))
            return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "tensor attribute has no data");
        if (qb_dtype_size(t->dtype) == 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "constant of type %s is not supported",
                                  qb_dtype_name(t->dtype));
        qb_opu_set_out(y, t->dtype, t->ndim, t->shape);
        y->data = t->data;
        if (!y->data && !(y->data = qb_arena_alloc(g->arena, 1)))
            return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
        y->flags |= QB_VALUE_CONST;
        return QB_OK;
    }
    if (strcmp(a->name, "value_float") == 0 && a->type == QB_ATTR_FLOAT)
        return const_out(g, y, QB_DTYPE_F32, 0, NULL, &a->u.f, err);
    if (strcmp(a->name, "value_int") == 0 && a->type == QB_ATTR_INT)
        return const_out(g, y, QB_DTYPE_I64, 0, NULL, &a->u.i, err);
    one = a->n;
    if (strcmp(a->name, "value_floats") == 0 && a->type == QB_ATTR_FLOATS)
        return const_out(g, y, QB_DTYPE_F32, 1, &one, a->u.fs, err);
    if (strcmp(a->name, "value_ints") == 0 && a->type == QB_ATTR_INTS)
        return const_out(g, y, QB_DTYPE_I64, 1, &one, a->u.is, err);
    return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "attribute '%s' is not supported", a->name);
}

/* Transpose, DepthToSpace, SpaceToDepth ------------------------------------------ */

struct perm_params {
    int ndim;                    /* rank of the permuted view */
    int64_t shape[QB_MAX_DIMS];  /* input seen with this shape */
    int perm[QB_MAX_DIMS];
};

static enum qb_status transpose_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct perm_params *p;
    int64_t perm[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    bool seen[QB_MAX_DIMS] = {false};
    int cnt;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK ||
        (st = qb_node_attr_ints(g, n, "perm", perm, QB_MAX_DIMS, &cnt, err)) != QB_OK)
        return st;
    if (cnt < 0) {
        cnt = x->ndim;
        for (int i = 0; i < cnt; i++)
            perm[i] = cnt - 1 - i;
    }
    if (cnt != x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "perm has %d entries for rank %d", cnt, x->ndim);
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    for (int i = 0; i < cnt; i++) {
        if (perm[i] < 0 || perm[i] >= cnt || seen[perm[i]])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "perm is not a permutation");
        seen[perm[i]] = true;
        p->perm[i] = (int)perm[i];
        shape[i] = x->shape[perm[i]];
        p->shape[i] = x->shape[i];
    }
    p->ndim = cnt;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, cnt, shape);
    n->params = p;
    return QB_OK;
}

static enum qb_status perm_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct perm_params *p = n->params;
    qb_opu_permute(in[0].data, out[0].data, qb_dtype_size(in[0].dtype), p->ndim, p->shape, p->perm, ctx->pool);
    return QB_OK;
}

static enum qb_status space_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    bool d2s = strcmp(n->op_type, "DepthToSpace") == 0;
    struct perm_params *p;
    int64_t b, N, C, H, W, shape[4];
    const char *mode = "DCR";
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "blocksize", 0, &b, err)) != QB_OK)
        return st;
    if (d2s && (st = qb_node_attr_string(g, n, "mode", "DCR", &mode, err)) != QB_OK)
        return st;
    if (x->ndim != 4)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input must be 4-D, is %d-D", x->ndim);
    if (b <= 0 || b > 4096)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "blocksize %lld is invalid", (long long)b);
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "mode '%s' is not DCR or CRD", mode);
    N = x->shape[0];
    C = x->shape[1];
    H = x->shape[2];
    W = x->shape[3];
    if (d2s ? C % (b * b) != 0 : (H % b != 0 || W % b != 0))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "shape does not divide by blocksize %lld", (long long)b);
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->ndim = 6;
    if (d2s && mode[0] == 'D') {
        const int64_t s[6] = {N, b, b, C / (b * b), H, W};
        const int pm[6] = {0, 3, 4, 1, 5, 2};
        memcpy(p->shape, s, sizeof(s));
        memcpy(p->perm, pm, sizeof(pm));
    } else if (d2s) {
        const int64_t s[6] = {N, C / (b * b), b, b, H, W};
        const int pm[6] = {0, 1, 4, 2, 5, 3};
        memcpy(p->shape, s, sizeof(s));
        memcpy(p->perm, pm, sizeof(pm));
    } else {
        const int64_t s[6] = {N, C, H / b, b, W / b, b};
        const int pm[6] = {0, 3, 5, 1, 2, 4};
        memcpy(p->shape, s, sizeof(s));
        memcpy(p->perm, pm, sizeof(pm));
    }
    shape[0] = N;
    shape[1] = d2s ? C / (b * b) : C * b * b;
    shape[2] = d2s ? H * b : H / b;
    shape[3] = d2s ? W * b : W / b;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, 4, shape);
    n->params = p;
    return QB_OK;
}

/* Concat, Split ----------------------------------------------------------------------- */

struct axis_params {
    int axis;
    int64_t *split; /* Split: size of each output along axis */
};

/* Copies between one joined tensor [outer, sum(bytes)] and parts [outer, bytes[k]],
 * split evenly by bytes over the pool. */
struct seg_job {
    int n;
    char *const *part;
    const size_t *bytes;
    size_t row;
    char *joined;
    bool concat;
};

static void seg_range(void *ctx, int64_t b, int64_t e)
{
    const struct seg_job *j = ctx;
    size_t pos = (size_t)b, end = (size_t)e;
    while (pos < end) {
        size_t o = pos / j->row, r = pos % j->row, cum = 0, len;
        int k = 0;
        while (cum + j->bytes[k] <= r)
            cum += j->bytes[k++];
        len = j->bytes[k] - (r - cum);
        if (len > end - pos)
            len = end - pos;
        if (!j->part[k])
            ; /* omitted Split output */
        else if (j->concat)
            memcpy(j->joined + pos, j->part[k] + o * j->bytes[k] + (r - cum), len);
        else
            memcpy(j->part[k] + o * j->bytes[k] + (r - cum), j->joined + pos, len);
        pos += len;
    }
}

static void seg_copy(struct qb_pool *pool, int n, char *const *part, const size_t *bytes, char *joined,
                     int64_t outer, bool concat)
{
    struct seg_job j = {n, part, bytes, 0, joined, concat};
    for (int k = 0; k < n; k++)
        j.row += bytes[k];
    if (j.row == 0 || outer == 0)
        return;
    qb_opu_parallel(pool, outer * (int64_t)j.row, (int64_t)1 << 16, seg_range, &j);
}

static enum qb_status concat_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x0 = qb_node_in(g, n, 0);
    struct axis_params *p;
    int64_t axis, shape[QB_MAX_DIMS];
    enum qb_status st;
    int a;

    if ((st = qb_opu_need_sized(g, n, x0, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "axis", g->opset < 4 ? 1 : INT64_MIN, &axis, err)) != QB_OK)
        return st;
    if (axis == INT64_MIN)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'axis' is missing");
    if (n->n_in > MAX_PARTS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "%d inputs, at most %d supported", n->n_in, MAX_PARTS);
    if ((a = qb_opu_axis(axis, x0->ndim)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              x0->ndim);
    memcpy(shape, x0->shape, sizeof(shape));
    shape[a] = 0;
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *x = qb_node_in(g, n, k);
        if (!x)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input %d is missing", k);
        if (x->dtype != x0->dtype || x->ndim != x0->ndim)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input %d differs in type or rank", k);
        for (int d = 0; d < x->ndim; d++)
            if (d != a && x->shape[d] != x0->shape[d])
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input %d differs in dim %d", k, d);
        shape[a] += x->shape[a];
    }
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    qb_opu_set_out(qb_node_out(g, n, 0), x0->dtype, x0->ndim, shape);
    n->params = p;
    return QB_OK;
}

/* bytes of one slab of dims [axis, ndim) for a tensor, and the outer count */
static size_t slab_bytes(const struct qb_tview *t, int axis)
{
    size_t b = qb_dtype_size(t->dtype);
    for (int d = axis; d < t->ndim; d++)
        b *= (size_t)t->shape[d];
    return b;
}

static int64_t outer_count(const struct qb_tview *t, int axis)
{
    int64_t o = 1;
    for (int d = 0; d < axis; d++)
        o *= t->shape[d];
    return o;
}

static enum qb_status concat_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx)
{
    const struct axis_params *p = n->params;
    char *part[MAX_PARTS];
    size_t bytes[MAX_PARTS];

    for (int k = 0; k < n->n_in; k++) {
        part[k] = in[k].data;
        bytes[k] = slab_bytes(&in[k], p->axis);
    }
    seg_copy(ctx->pool, n->n_in, part, bytes, out[0].data, outer_count(&out[0], p->axis), true);
    return QB_OK;
}

static enum qb_status split_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct axis_params *p;
    int64_t axis, split[MAX_PARTS], num_outputs = 0, dim, sum = 0;
    int cnt = -1, a;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = qb_node_attr_int(g, n, "axis", 0, &axis, err)) != QB_OK)
        return st;
    if (n->n_out > MAX_PARTS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "%d outputs, at most %d supported", n->n_out, MAX_PARTS);
    if ((a = qb_opu_axis(axis, x->ndim)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              x->ndim);
    dim = x->shape[a];
    /* 'split' is an attribute before opset 13 (Split-1 also took it as input 1) */
    if (g->opset < 13 && (st = qb_node_attr_ints(g, n, "split", split, MAX_PARTS, &cnt, err)) != QB_OK)
        return st;
    if (cnt < 0 && (g->opset >= 13 || g->opset < 2) &&
        (st = qb_opu_const_ints(g, n, 1, "split", split, MAX_PARTS, &cnt, err)) != QB_OK)
        return st;
    if (g->opset >= 18 && (st = qb_node_attr_int(g, n, "num_outputs", 0, &num_outputs, err)) != QB_OK)
        return st;
    if (cnt >= 0 && num_outputs)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "both 'split' and 'num_outputs' are given");
    if (cnt >= 0) {
        if (cnt != n->n_out)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "split has %d entries for %d outputs", cnt, n->n_out);
        for (int k = 0; k < cnt; k++) {
            if (split[k] < 0)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "negative split size");
            sum += split[k];
        }
        if (sum != dim)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "split sizes add up to %lld, dim is %lld", (long long)sum,
                                  (long long)dim);
    } else if (num_outputs) {
        int64_t chunk;
        if (num_outputs != n->n_out)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "num_outputs %lld but %d outputs",
                                  (long long)num_outputs, n->n_out);
        chunk = (dim + num_outputs - 1) / num_outputs;
        for (int k = 0; k < n->n_out; k++) {
            int64_t left = dim - chunk * k;
            split[k] = left < 0 ? 0 : left < chunk ? left : chunk;
        }
    } else {
        if (dim % n->n_out != 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "dim %lld does not split into %d equal parts",
                                  (long long)dim, n->n_out);
        for (int k = 0; k < n->n_out; k++)
            split[k] = dim / n->n_out;
    }
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    if (!(p->split = qb_arena_calloc(g->arena, (size_t)n->n_out, sizeof(int64_t))))
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    for (int k = 0; k < n->n_out; k++) {
        struct qb_value *y = qb_node_out(g, n, k);
        if (!y)
            continue;
        qb_opu_set_out(y, x->dtype, x->ndim, x->shape);
        y->shape[a] = split[k];
    }
    for (int k = 0; k < n->n_out; k++)
        p->split[k] = split[k];
    n->params = p;
    return QB_OK;
}

static enum qb_status split_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                const struct qb_kctx *ctx)
{
    const struct axis_params *p = n->params;
    char *part[MAX_PARTS];
    size_t bytes[MAX_PARTS], slab = slab_bytes(&in[0], p->axis + 1);

    for (int k = 0; k < n->n_out; k++) {
        part[k] = out[k].data; /* NULL for an omitted output: skipped */
        bytes[k] = slab * (size_t)p->split[k];
    }
    seg_copy(ctx->pool, n->n_out, part, bytes, in[0].data, outer_count(&in[0], p->axis), false);
    return QB_OK;
}

/* Slice ---------------------------------------------------------------------------------- */

struct slice_params {
    int ndim;
    int64_t start[QB_MAX_DIMS], step[QB_MAX_DIMS];
};

static enum qb_status slice_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t starts[QB_MAX_DIMS], ends[QB_MAX_DIMS], axes[QB_MAX_DIMS], steps[QB_MAX_DIMS], shape[QB_MAX_DIMS];
    int ns, ne, na = -1, nst = -1;
    bool seen[QB_MAX_DIMS] = {false};
    struct slice_params *p;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK)
        return st;
    if (g->opset < 10) {
        if ((st = qb_node_attr_ints(g, n, "starts", starts, QB_MAX_DIMS, &ns, err)) != QB_OK ||
            (st = qb_node_attr_ints(g, n, "ends", ends, QB_MAX_DIMS, &ne, err)) != QB_OK ||
            (st = qb_node_attr_ints(g, n, "axes", axes, QB_MAX_DIMS, &na, err)) != QB_OK)
            return st;
    } else {
        if ((st = qb_opu_const_ints(g, n, 1, "starts", starts, QB_MAX_DIMS, &ns, err)) != QB_OK ||
            (st = qb_opu_const_ints(g, n, 2, "ends", ends, QB_MAX_DIMS, &ne, err)) != QB_OK ||
            (st = qb_opu_const_ints(g, n, 3, "axes", axes, QB_MAX_DIMS, &na, err)) != QB_OK ||
            (st = qb_opu_const_ints(g, n, 4, "steps", steps, QB_MAX_DIMS, &nst, err)) != QB_OK)
            return st;
    }
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "starts, ends, axes and steps differ in length");
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
        shape[d] = x->shape[d];
    }
    for (int i = 0; i < ns; i++) {
        int a = qb_opu_axis(na >= 0 ? axes[i] : i, x->ndim);
        int64_t dim, s = starts[i], e = ends[i], step = nst >= 0 ? steps[i] : 1, len;
        if (a < 0 || seen[a])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range or repeated",
                                  (long long)(na >= 0 ? axes[i] : i));
        if (step == 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "step is 0");
        seen[a] = true;
        dim = x->shape[a];
        s = s < 0 ? s + dim : s;
        e = e < 0 ? e + dim : e;
        if (step > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            len = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        p->start[a] = len > 0 ? s : 0;
        p->step[a] = step;
        shape[a] = len;
    }
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, shape);
    n->params = p;
    return QB_OK;
}

static enum qb_status slice_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                const struct qb_kctx *ctx)
{
    const struct slice_params *p = n->params;
    struct qb_opu_strided v = {0};
    size_t es = qb_dtype_size(in[0].dtype);
    int64_t istr[QB_MAX_DIMS], s = 1, base = 0;

    if (qb_tview_numel(&out[0]) == 0)
        return QB_OK;
    for (int d = p->ndim - 1; d >= 0; d--) {
        istr[d] = s;
        s *= in[0].shape[d];
    }
    for (int d = 0; d < p->ndim; d++) {
        base += p->start[d] * istr[d];
        qb_opu_strided_push(&v, out[0].shape[d], p->step[d] * istr[d]);
    }
    qb_opu_gather(&v, (const char *)in[0].data + (size_t)base * es, out[0].data, es, ctx->pool);
    return QB_OK;
}

/* table ----------------------------------------------------------------------------------- */

static const char *const a_none[] = {NULL};
static const char *const a_dropout[] = {"ratio", "is_test", "seed", "consumed_inputs", NULL};
static const char *const a_reshape_old[] = {"shape", "consumed_inputs", NULL};
static const char *const a_reshape[] = {"allowzero", NULL};
static const char *const a_axis[] = {"axis", NULL};
static const char *const a_axes[] = {"axes", NULL};
static const char *const a_shape[] = {"start", "end", NULL};
static const char *const a_constant[] = {"value", "value_float", "value_floats", "value_int", "value_ints",
                                         "value_string", "value_strings", "sparse_value", NULL};
static const char *const a_perm[] = {"perm", NULL};
static const char *const a_d2s[] = {"blocksize", "mode", NULL};
static const char *const a_s2d[] = {"blocksize", NULL};
static const char *const a_split[] = {"axis", "split", NULL};
static const char *const a_split18[] = {"axis", "num_outputs", NULL};
static const char *const a_slice_old[] = {"starts", "ends", "axes", NULL};
static const char *const a_gnd[] = {"batch_dims", NULL};
static const char *const a_pad_old[] = {"mode", "pads", "paddings", "value", NULL};
static const char *const a_pad[] = {"mode", NULL};
static const char *const a_value[] = {"value", NULL};
static const char *const a_eyelike[] = {"dtype", "k", NULL};
static const char *const a_trilu[] = {"upper", NULL};
static const char *const a_scatter[] = {"axis", "reduction", NULL};
static const char *const a_reduction[] = {"reduction", NULL};

#define DEF(NAME, MINV, MAXV, MININ, MAXIN, MINOUT, MAXOUT, ATTRS, INFER, RUN)                     \
    {.name = NAME, .min_opset = MINV, .max_opset = MAXV, .min_in = MININ, .max_in = MAXIN,         \
     .min_out = MINOUT, .max_out = MAXOUT, .attrs = ATTRS, .infer = INFER, .run = RUN}

const struct qb_op_def qb_ops_shape[] = {
    DEF("Identity", 0, 0, 1, 1, 1, 1, a_none, identity_infer, copy_run),
    DEF("Dropout", 0, 0, 1, 3, 1, 2, a_dropout, dropout_infer, dropout_run),
    DEF("Reshape", 0, 4, 1, 1, 1, 1, a_reshape_old, reshape_infer, copy_run),
    DEF("Reshape", 5, 0, 2, 2, 1, 1, a_reshape, reshape_infer, copy_run),
    DEF("Flatten", 0, 0, 1, 1, 1, 1, a_axis, flatten_infer, copy_run),
    DEF("Squeeze", 0, 12, 1, 1, 1, 1, a_axes, squeeze_infer, copy_run),
    DEF("Squeeze", 13, 0, 1, 2, 1, 1, a_none, squeeze_infer, copy_run),
    DEF("Unsqueeze", 0, 12, 1, 1, 1, 1, a_axes, unsqueeze_infer, copy_run),
    DEF("Unsqueeze", 13, 0, 2, 2, 1, 1, a_none, unsqueeze_infer, copy_run),
    DEF("Shape", 0, 0, 1, 1, 1, 1, a_shape, shape_infer, NULL),
    DEF("Size", 0, 0, 1, 1, 1, 1, a_none, size_infer, NULL),
    DEF("Constant", 0, 0, 0, 0, 1, 1, a_constant, constant_infer, NULL),
    DEF("Transpose", 0, 0, 1, 1, 1, 1, a_perm, transpose_infer, perm_run),
    DEF("DepthToSpace", 0, 0, 1, 1, 1, 1, a_d2s, space_infer, perm_run),
    DEF("SpaceToDepth", 0, 0, 1, 1, 1, 1, a_s2d, space_infer, perm_run),
    DEF("Concat", 0, 0, 1, MAX_PARTS, 1, 1, a_axis, concat_infer, concat_run),
    DEF("Split", 0, 1, 1, 2, 1, MAX_PARTS, a_split, split_infer, split_run),
    DEF("Split", 2, 12, 1, 1, 1, MAX_PARTS, a_split, split_infer, split_run),
    DEF("Split", 13, 17, 1, 2, 1, MAX_PARTS, a_axis, split_infer, split_run),
    DEF("Split", 18, 0, 1, 2, 1, MAX_PARTS, a_split18, split_infer, split_run),
    DEF("Slice", 0, 9, 1, 1, 1, 1, a_slice_old, slice_infer, slice_run),
    DEF("Slice", 10, 0, 3, 5, 1, 1, a_none, slice_infer, slice_run),
    DEF("Gather", 0, 0, 2, 2, 1, 1, a_axis, qb_gather_infer, qb_gather_run),
    DEF("GatherElements", 11, 0, 2, 2, 1, 1, a_axis, qb_gather_elements_infer, qb_gather_elements_run),
    DEF("GatherND", 11, 0, 2, 2, 1, 1, a_gnd, qb_gather_nd_infer, qb_gather_nd_run),
    DEF("Expand", 8, 0, 2, 2, 1, 1, a_none, qb_expand_infer, qb_expand_run),
    DEF("Tile", 6, 0, 2, 2, 1, 1, a_none, qb_tile_infer, qb_tile_run),
    DEF("Pad", 0, 10, 1, 1, 1, 1, a_pad_old, qb_pad_infer, qb_pad_run),
    DEF("Pad", 11, 0, 2, 4, 1, 1, a_pad, qb_pad_infer, qb_pad_run),
    DEF("Range", 11, 0, 3, 3, 1, 1, a_none, qb_range_infer, qb_range_run),
    DEF("ConstantOfShape", 9, 0, 1, 1, 1, 1, a_value, qb_constant_of_shape_infer, qb_constant_of_shape_run),
    DEF("EyeLike", 9, 0, 1, 1, 1, 1, a_eyelike, qb_eyelike_infer, NULL),
    DEF("Trilu", 14, 0, 1, 2, 1, 1, a_trilu, qb_trilu_infer, qb_trilu_run),
    DEF("OneHot", 9, 0, 3, 3, 1, 1, a_axis, qb_onehot_infer, qb_onehot_run),
    DEF("NonZero", 9, 0, 1, 1, 1, 1, a_none, qb_nonzero_infer, NULL),
    DEF("Scatter", 9, 10, 3, 3, 1, 1, a_axis, qb_scatter_elements_infer, qb_scatter_elements_run),
    DEF("ScatterElements", 11, 0, 3, 3, 1, 1, a_scatter, qb_scatter_elements_infer, qb_scatter_elements_run),
    DEF("ScatterND", 11, 0, 3, 3, 1, 1, a_reduction, qb_scatter_nd_infer, qb_scatter_nd_run),
    DEF("Compress", 9, 0, 2, 2, 1, 1, a_axis, qb_compress_infer, qb_compress_run),
    {.name = NULL},
};
