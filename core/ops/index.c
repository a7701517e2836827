/* Indexing ops: Gather, GatherElements, GatherND, ScatterElements/Scatter,
 * ScatterND, OneHot, NonZero, Compress. Any dtype with a size; indices int32 or
 * int64, negative ones counting from the end. */
#include "index.h"

#include <math.h>
#include <string.h>

#include "opsutil.h"

static enum qb_status need_index(const struct qb_graph *g, const struct qb_node *n, const struct qb_value *v,
                                 struct qb_error *err)
{
    if (v->dtype != QB_DTYPE_I64 && v->dtype != QB_DTYPE_I32)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "indices are %s, expected int32 or int64",
                              qb_dtype_name(v->dtype));
    return QB_OK;
}

static inline int64_t index_at(enum qb_dtype t, const void *p, int64_t i)
{
    return t == QB_DTYPE_I64 ? ((const int64_t *)p)[i] : ((const int32_t *)p)[i];
}

/* Checks every index against [-dim, dim); returns -1 or the first bad position. */
static int64_t bad_index(enum qb_dtype t, const void *p, int64_t count, int64_t dim)
{
    for (int64_t i = 0; i < count; i++) {
        int64_t v = index_at(t, p, i);
        if (v < -dim || v >= dim)
            return i;
    }
    return -1;
}

struct axis_params {
    int axis;
};

/* Gather --------------------------------------------------------------------------- */

enum qb_status qb_gather_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *ind = qb_node_in(g, n, 1);
    int64_t axis, shape[QB_MAX_DIMS];
    struct axis_params *p;
    enum qb_status st;
    int a, nd = 0;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = need_index(g, n, ind, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "axis", 0, &axis, err)) != QB_OK)
        return st;
    if ((a = qb_opu_axis(axis, x->ndim)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              x->ndim);
    if (x->ndim - 1 + ind->ndim > QB_MAX_DIMS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "output rank exceeds %d", QB_MAX_DIMS);
    if ((ind->flags & QB_VALUE_CONST) && bad_index(ind->dtype, ind->data, qb_value_numel(ind), x->shape[a]) >= 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "an index is out of range for dim %lld",
                              (long long)x->shape[a]);
    for (int d = 0; d < a; d++)
        shape[nd++] = x->shape[d];
    for (int d = 0; d < ind->ndim; d++)
        shape[nd++] = ind->shape[d];
    for (int d = a + 1; d < x->ndim; d++)
        shape[nd++] = x->shape[d];
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, nd, shape);
    n->params = p;
    return QB_OK;
}

struct gather_job {
    const char *x;
    char *y;
    const void *ind;
    enum qb_dtype it;
    int64_t k, dim;
    size_t inner; /* bytes */
};

static void gather_range(void *ctx, int64_t b, int64_t e)
{
    const struct gather_job *j = ctx;
    for (int64_t w = b; w < e; w++) {
        int64_t o = w / j->k, i = index_at(j->it, j->ind, w % j->k);
        if (i < 0)
            i += j->dim;
        memcpy(j->y + (size_t)w * j->inner, j->x + (size_t)(o * j->dim + i) * j->inner, j->inner);
    }
}

enum qb_status qb_gather_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx)
{
    const struct axis_params *p = n->params;
    struct gather_job j = {in[0].data, out[0].data, in[1].data, in[1].dtype, qb_tview_numel(&in[1]),
                           in[0].shape[p->axis], qb_dtype_size(in[0].dtype)};
    int64_t outer = 1;

    for (int d = 0; d < p->axis; d++)
        outer *= in[0].shape[d];
    for (int d = p->axis + 1; d < in[0].ndim; d++)
        j.inner *= (size_t)in[0].shape[d];
    if (bad_index(j.it, j.ind, j.k, j.dim) >= 0)
        return QB_ERR_INVALID;
    qb_opu_parallel(ctx->pool, outer * j.k, 1 + (int64_t)(QB_OPU_GRAIN * 4 / (j.inner + 1)), gather_range, &j);
    return QB_OK;
}

/* GatherElements ---------------------------------------------------------------------- */

enum qb_status qb_gather_elements_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *ind = qb_node_in(g, n, 1);
    struct axis_params *p;
    int64_t axis;
    enum qb_status st;
    int a;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = need_index(g, n, ind, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "axis", 0, &axis, err)) != QB_OK)
        return st;
    if ((a = qb_opu_axis(axis, x->ndim)) < 0 || ind->ndim != x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis out of range or ranks differ");
    for (int d = 0; d < x->ndim; d++)
        if (d != a && ind->shape[d] > x->shape[d])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "indices dim %d exceeds the data's", d);
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, ind->ndim, ind->shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_gather_elements_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                      const struct qb_kctx *ctx)
{
    const struct axis_params *p = n->params;
    const struct qb_tview *x = &in[0], *ind = &in[1];
    int64_t xstr[QB_MAX_DIMS], idx[QB_MAX_DIMS] = {0}, s = 1, cnt = qb_tview_numel(ind), dim = x->shape[p->axis];
    size_t es = qb_dtype_size(x->dtype);
    int nd = ind->ndim;

    (void)ctx;
    if (bad_index(ind->dtype, ind->data, cnt, dim) >= 0)
        return QB_ERR_INVALID;
    for (int d = nd - 1; d >= 0; d--) {
        xstr[d] = s;
        s *= x->shape[d];
    }
    for (int64_t i = 0; i < cnt; i++) {
        int64_t off = 0, v = index_at(ind->dtype, ind->data, i);
        if (v < 0)
            v += dim;
        for (int d = 0; d < nd; d++)
            off += (d == p->axis ? v : idx[d]) * xstr[d];
        memcpy((char *)out[0].data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
        for (int d = nd - 1; d >= 0 && ++idx[d] == ind->shape[d]; d--)
            idx[d] = 0;
    }
    return QB_OK;
}

/* GatherND ---------------------------------------------------------------------------- */

struct gnd_params {
    int batch_dims;
};

enum qb_status qb_gather_nd_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *ind = qb_node_in(g, n, 1);
    struct gnd_params *p;
    int64_t bd, k, shape[QB_MAX_DIMS];
    int nd = 0;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = qb_node_attr_int(g, n, "batch_dims", 0, &bd, err)) != QB_OK)
        return st;
    if (ind->dtype != QB_DTYPE_I64)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "indices must be int64");
    if (ind->ndim < 1 || bd < 0 || bd >= ind->ndim || bd >= x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "batch_dims %lld does not fit the ranks", (long long)bd);
    k = ind->shape[ind->ndim - 1];
    if (k < 1 || k > x->ndim - bd)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "index tuples of length %lld do not fit the data",
                              (long long)k);
    for (int d = 0; d < bd; d++)
        if (ind->shape[d] != x->shape[d])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "batch dim %d differs", d);
    if (ind->ndim - 1 + x->ndim - bd - k > QB_MAX_DIMS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "output rank exceeds %d", QB_MAX_DIMS);
    for (int d = 0; d < ind->ndim - 1; d++)
        shape[nd++] = ind->shape[d];
    for (int d = (int)(bd + k); d < x->ndim; d++)
        shape[nd++] = x->shape[d];
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->batch_dims = (int)bd;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, nd, shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_gather_nd_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                const struct qb_kctx *ctx)
{
    const struct gnd_params *p = n->params;
    const struct qb_tview *x = &in[0], *ind = &in[1];
    const int64_t *iv = ind->data;
    int bd = p->batch_dims;
    int64_t k = ind->shape[ind->ndim - 1], batches = 1, per_batch = 1, xbatch = 1, slice = 1;
    size_t es = qb_dtype_size(x->dtype);
    char *y = out[0].data;

    (void)ctx;
    for (int d = 0; d < bd; d++)
        batches *= x->shape[d];
    for (int d = bd; d < ind->ndim - 1; d++)
        per_batch *= ind->shape[d];
    for (int d = bd; d < x->ndim; d++)
        xbatch *= x->shape[d];
    for (int d = (int)(bd + k); d < x->ndim; d++)
        slice *= x->shape[d];
    for (int64_t b = 0; b < batches; b++) {
        for (int64_t t = 0; t < per_batch; t++) {
            const int64_t *tup = iv + (b * per_batch + t) * k;
            int64_t off = 0;
            for (int64_t q = 0; q < k; q++) {
                int64_t dim = x->shape[bd + q], v = tup[q];
                if (v < -dim || v >= dim)
                    return QB_ERR_INVALID;
                off = off * dim + (v < 0 ? v + dim : v);
            }
            memcpy(y, (const char *)x->data + (size_t)(b * xbatch + off * slice) * es, (size_t)slice * es);
            y += (size_t)slice * es;
        }
    }
    return QB_OK;
}

/* OneHot -------------------------------------------------------------------------------------- */

struct onehot_params {
    int axis;
    int64_t depth;
};

enum qb_status qb_onehot_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *ind = qb_node_in(g, n, 0), *dv = qb_node_in(g, n, 1), *vals = qb_node_in(g, n, 2);
    struct onehot_params *p;
    int64_t axis, shape[QB_MAX_DIMS];
    double depth;
    enum qb_status st;
    int a, r = ind->ndim + 1, k = 0;

    if ((st = qb_node_attr_int(g, n, "axis", -1, &axis, err)) != QB_OK)
        return st;
    if (!(dv->flags & QB_VALUE_CONST) || qb_value_numel(dv) != 1 || qb_dtype_size(dv->dtype) == 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "depth must be a constant scalar");
    if (qb_value_numel(vals) != 2 || qb_dtype_size(vals->dtype) == 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "values must hold [off, on]");
    if (qb_num_domain(ind->dtype) != QB_NUM_F && !qb_opu_is_int(ind->dtype))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "indices of type %s", qb_dtype_name(ind->dtype));
    if (r > QB_MAX_DIMS || (a = qb_opu_axis(axis, r)) < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range", (long long)axis);
    depth = qb_num_as_double(qb_num_load(dv->dtype, dv->data), qb_num_domain(dv->dtype));
    if (!(depth >= 1 && depth < (double)(1 << 24)))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "depth %g is invalid", depth);
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = a;
    p->depth = (int64_t)depth;
    for (int d = 0; d < r; d++)
        shape[d] = d == a ? p->depth : ind->shape[k++];
    qb_opu_set_out(qb_node_out(g, n, 0), vals->dtype, r, shape);
    n->params = p;
    return QB_OK;
}

enum qb_status qb_onehot_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx)
{
    const struct onehot_params *p = n->params;
    const struct qb_tview *ind = &in[0];
    size_t es = qb_dtype_size(out[0].dtype);
    const char *off = in[2].data, *on = (const char *)in[2].data + es;
    int64_t outer = 1, inner = 1, D = p->depth;
    enum qb_num_dom dom = qb_num_domain(ind->dtype);
    size_t is = qb_dtype_size(ind->dtype);

    (void)ctx;
    for (int d = 0; d < p->axis; d++)
        outer *= ind->shape[d];
    for (int d = p->axis; d < ind->ndim; d++)
        inner *= ind->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double v = qb_num_as_double(qb_num_load(ind->dtype, (const char *)ind->data + (size_t)(o * inner + i) * is),
                                        dom);
            int64_t hot = (int64_t)v; /* fractional indices truncate, as onnxruntime casts */
            if (hot < 0)
                hot += D;
            for (int64_t d = 0; d < D; d++)
                memcpy((char *)out[0].data + (size_t)((o * D + d) * inner + i) * es, d == hot ? on : off, es);
        }
    return QB_OK;
}

/* NonZero (constant input only: the output shape depends on the data) ------------------------ */

enum qb_status qb_nonzero_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct qb_value *y = qb_node_out(g, n, 0);
    int64_t cnt = 0, numel = qb_value_numel(x), shape[2], idx[QB_MAX_DIMS] = {0}, col = 0;
    size_t es = qb_dtype_size(x->dtype);
    int64_t *out;

    if (!(x->flags & QB_VALUE_CONST))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                              "input is computed at run time: its output shape is not static");
    if (es == 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "type %s is not supported", qb_dtype_name(x->dtype));
    for (int64_t i = 0; i < numel; i++)
        cnt += qb_num_as_double(qb_num_load(x->dtype, (const char *)x->data + (size_t)i * es),
                                qb_num_domain(x->dtype)) != 0;
    shape[0] = x->ndim;
    shape[1] = cnt;
    qb_opu_set_out(y, QB_DTYPE_I64, 2, shape);
    out = qb_arena_calloc(g->arena, (size_t)(x->ndim * cnt + 1), sizeof(int64_t));
    if (!out)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < numel; i++) {
        if (qb_num_as_double(qb_num_load(x->dtype, (const char *)x->data + (size_t)i * es), qb_num_domain(x->dtype)) !=
            0) {
            for (int d = 0; d < x->ndim; d++)
                out[d * cnt + col] = idx[d];
            col++;
        }
        for (int d = x->ndim - 1; d >= 0 && ++idx[d] == x->shape[d]; d--)
            idx[d] = 0;
    }
    y->data = out;
    y->flags |= QB_VALUE_CONST;
    return QB_OK;
}

/* ScatterElements, Scatter, ScatterND ------------------------------------------------------- */

enum scatter_red { SCAT_NONE, SCAT_ADD, SCAT_MUL, SCAT_MAX, SCAT_MIN };

struct scatter_params {
    int axis;
    enum scatter_red red;
};

static enum qb_status scatter_red_attr(const struct qb_graph *g, const struct qb_node *n, struct scatter_params *p,
                                       struct qb_error *err)
{
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    const char *r;
    enum qb_status st = qb_node_attr_string(g, n, "reduction", "none", &r, err);
    if (st != QB_OK)
        return st;
    for (int i = 0; i < 5; i++)
        if (strcmp(r, names[i]) == 0 && (i < 3 || g->opset >= 18)) {
            p->red = (enum scatter_red)i;
            return QB_OK;
        }
    return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "reduction '%s' is not supported", r);
}

/* Params of a scatter (axis, reduction); the output is the data's type and shape. */
static enum qb_status scatter_params(struct qb_graph *g, struct qb_node *n, int axis, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct scatter_params *p;
    enum qb_status st;

    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK || (st = scatter_red_attr(g, n, p, err)) != QB_OK)
        return st;
    p->axis = axis;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

/* dst op= src for one element */
static void scatter_elem(enum scatter_red red, enum qb_dtype t, char *dst, const char *src)
{
    union qb_num a, b;
    enum qb_num_dom d = qb_num_domain(t);
    if (red == SCAT_NONE) {
        memcpy(dst, src, qb_dtype_size(t));
        return;
    }
    a = qb_num_load(t, dst);
    b = qb_num_load(t, src);
    if (d == QB_NUM_F) {
        a.f = red == SCAT_ADD ? a.f + b.f : red == SCAT_MUL ? a.f * b.f : red == SCAT_MAX ? (b.f > a.f ? b.f : a.f)
                                                                                       : (b.f < a.f ? b.f : a.f);
    } else if (d == QB_NUM_I) {
        a.i = red == SCAT_ADD ? (int64_t)(a.u + b.u) : red == SCAT_MUL ? (int64_t)(a.u * b.u)
            : red == SCAT_MAX ? (b.i > a.i ? b.i : a.i) : (b.i < a.i ? b.i : a.i);
    } else {
        a.u = red == SCAT_ADD ? a.u + b.u : red == SCAT_MUL ? a.u * b.u : red == SCAT_MAX ? (b.u > a.u ? b.u : a.u)
                                                                                       : (b.u < a.u ? b.u : a.u);
    }
    qb_num_store(t, dst, a, d);
}

enum qb_status qb_scatter_elements_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *ind = qb_node_in(g, n, 1), *upd = qb_node_in(g, n, 2);
    int64_t axis;
    enum qb_status st;
    int a;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK || (st = need_index(g, n, ind, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "axis", 0, &axis, err)) != QB_OK)
        return st;
    if ((a = qb_opu_axis(axis, x->ndim)) < 0 || ind->ndim != x->ndim || upd->ndim != x->ndim || upd->dtype != x->dtype)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis, ranks or types do not match");
    for (int d = 0; d < x->ndim; d++)
        if (ind->shape[d] != upd->shape[d] || (d != a && ind->shape[d] > x->shape[d]))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "indices and updates shapes do not fit");
    return scatter_params(g, n, a, err);
}

enum qb_status qb_scatter_elements_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                       const struct qb_kctx *ctx)
{
    const struct scatter_params *p = n->params;
    const struct qb_tview *x = &in[0], *ind = &in[1], *upd = &in[2];
    int64_t xstr[QB_MAX_DIMS], idx[QB_MAX_DIMS] = {0}, s = 1, cnt = qb_tview_numel(ind), dim = x->shape[p->axis];
    size_t es = qb_dtype_size(x->dtype);

    (void)ctx;
    if (bad_index(ind->dtype, ind->data, cnt, dim) >= 0)
        return QB_ERR_INVALID;
    memcpy(out[0].data, x->data, (size_t)qb_tview_numel(x) * es);
    for (int d = x->ndim - 1; d >= 0; d--) {
        xstr[d] = s;
        s *= x->shape[d];
    }
    for (int64_t i = 0; i < cnt; i++) {
        int64_t off = 0, v = index_at(ind->dtype, ind->data, i);
        if (v < 0)
            v += dim;
        for (int d = 0; d < x->ndim; d++)
            off += (d == p->axis ? v : idx[d]) * xstr[d];
        scatter_elem(p->red, x->dtype, (char *)out[0].data + (size_t)off * es, (const char *)upd->data + (size_t)i * es);
        for (int d = x->ndim - 1; d >= 0 && ++idx[d] == ind->shape[d]; d--)
            idx[d] = 0;
    }
    return QB_OK;
}

enum qb_status qb_scatter_nd_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *ind = qb_node_in(g, n, 1), *upd = qb_node_in(g, n, 2);
    int64_t k;
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK)
        return st;
    if (ind->dtype != QB_DTYPE_I64 || ind->ndim < 1 || upd->dtype != x->dtype)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "indices must be int64 and updates of the data's type");
    k = ind->shape[ind->ndim - 1];
    if (k < 1 || k > x->ndim || upd->ndim != ind->ndim - 1 + x->ndim - k)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "index tuples of length %lld do not fit", (long long)k);
    for (int d = 0; d < ind->ndim - 1; d++)
        if (upd->shape[d] != ind->shape[d])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "updates shape does not fit the indices");
    for (int d = (int)k; d < x->ndim; d++)
        if (upd->shape[ind->ndim - 1 + d - k] != x->shape[d])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "updates shape does not fit the data");
    return scatter_params(g, n, 0, err);
}

enum qb_status qb_scatter_nd_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx)
{
    const struct scatter_params *p = n->params;
    const struct qb_tview *x = &in[0], *ind = &in[1], *upd = &in[2];
    const int64_t *iv = ind->data;
    int64_t k = ind->shape[ind->ndim - 1], tuples = qb_tview_numel(ind) / k, slice = 1;
    size_t es = qb_dtype_size(x->dtype);

    (void)ctx;
    for (int d = (int)k; d < x->ndim; d++)
        slice *= x->shape[d];
    memcpy(out[0].data, x->data, (size_t)qb_tview_numel(x) * es);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int64_t q = 0; q < k; q++) {
            int64_t dim = x->shape[q], v = iv[t * k + q];
            if (v < -dim || v >= dim)
                return QB_ERR_INVALID;
            off = off * dim + (v < 0 ? v + dim : v);
        }
        for (int64_t e = 0; e < slice; e++)
            scatter_elem(p->red, x->dtype, (char *)out[0].data + (size_t)(off * slice + e) * es,
                         (const char *)upd->data + (size_t)(t * slice + e) * es);
    }
    return QB_OK;
}

/* Compress (constant condition only: the output shape depends on it) -------------------------- */

struct compress_params {
    int axis;            /* -1: flattened input */
    int64_t kept;
    int64_t *sel;        /* kept positions along the axis */
};

enum qb_status qb_compress_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *c = qb_node_in(g, n, 1);
    const struct qb_attr *aa = qb_node_attr(n, "axis");
    struct compress_params *p;
    int64_t dim, cn = qb_value_numel(c), shape[QB_MAX_DIMS];
    enum qb_status st;

    if ((st = qb_opu_need_sized(g, n, x, err)) != QB_OK)
        return st;
    if (!(c->flags & QB_VALUE_CONST) || c->dtype != QB_DTYPE_BOOL || c->ndim != 1)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                              "condition must be a constant 1-D bool tensor (it decides the output shape)");
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->axis = -1;
    if (aa) {
        if (aa->type != QB_ATTR_INT || (p->axis = qb_opu_axis(aa->u.i, x->ndim)) < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis is out of range");
    }
    dim = p->axis < 0 ? qb_value_numel(x) : x->shape[p->axis];
    if (cn > dim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "condition is longer than the axis");
    p->sel = qb_arena_calloc(g->arena, (size_t)cn + 1, sizeof(int64_t));
    if (!p->sel)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < cn; i++)
        if (((const uint8_t *)c->data)[i])
            p->sel[p->kept++] = i;
    if (p->axis < 0) {
        qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, 1, &p->kept);
    } else {
        memcpy(shape, x->shape, sizeof(shape));
        shape[p->axis] = p->kept;
        qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, shape);
    }
    n->params = p;
    return QB_OK;
}

enum qb_status qb_compress_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct compress_params *p = n->params;
    size_t es = qb_dtype_size(in[0].dtype), inner = es;
    int64_t outer = 1, dim = qb_tview_numel(&in[0]);
    char *y = out[0].data;

    (void)ctx;
    if (p->axis >= 0) {
        dim = in[0].shape[p->axis];
        for (int d = 0; d < p->axis; d++)
            outer *= in[0].shape[d];
        for (int d = p->axis + 1; d < in[0].ndim; d++)
            inner *= (size_t)in[0].shape[d];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < p->kept; k++) {
            memcpy(y, (const char *)in[0].data + (size_t)(o * dim + p->sel[k]) * inner, inner);
            y += inner;
        }
    return QB_OK;
}
