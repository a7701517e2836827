/* MaxPool (optionally with Indices), AveragePool, GlobalAveragePool and
 * GlobalMaxPool (FP32, NCHW, 1 to 3 spatial dims, held as (D, H, W)).
 *
 * Windowed pools run row by row: each output row starts at its identity and
 * every kernel tap updates the whole row at once (vectorized for stride 1).
 * Geometry that onnx and onnxruntime disagree on (a ceil_mode window that starts
 * past the padded input, an average over such a window with count_include_pad,
 * a window with no input element) is refused in infer(). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../op.h"

#define SP 3
#define DIM_MAX ((int64_t)1 << 24)

typedef float v4sf __attribute__((vector_size(16)));
typedef int v4si __attribute__((vector_size(16)));

enum auto_pad { AP_NOTSET, AP_SAME_UPPER, AP_SAME_LOWER, AP_VALID };
enum pool_kind { POOL_MAX, POOL_AVG };

struct pool_params {
    enum pool_kind kind;
    bool include_pad; /* AveragePool count_include_pad */
    bool indices;     /* MaxPool's Indices output */
    int64_t N, C;
    int64_t in[SP], out[SP], k[SP], s[SP], d[SP], pb[SP], pe[SP];
};

static int64_t spatial_numel(const int64_t *dims) { return dims[0] * dims[1] * dims[2]; }

/* t in [lo, hi) are the t < T with 0 <= t * s + o < L. */
static void tap_range(int64_t o, int64_t s, int64_t L, int64_t T, int64_t *lo, int64_t *hi)
{
    int64_t a = o >= 0 ? 0 : (-o + s - 1) / s;
    int64_t b = o > L - 1 ? 0 : (L - 1 - o) / s + 1;
    if (b > T)
        b = T;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

/* Attributes ------------------------------------------------------------------ */

static enum qb_status parse_auto_pad(const struct qb_graph *g, const struct qb_node *n, enum auto_pad *ap,
                                     struct qb_error *err)
{
    static const char *const names[] = {[AP_NOTSET] = "NOTSET", [AP_SAME_UPPER] = "SAME_UPPER",
                                        [AP_SAME_LOWER] = "SAME_LOWER", [AP_VALID] = "VALID"};
    const char *s;
    enum qb_status st = qb_node_attr_string(g, n, "auto_pad", "NOTSET", &s, err);
    if (st != QB_OK)
        return st;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *ap = (enum auto_pad)i;
            return QB_OK;
        }
    return qb_node_errorf(g, n, err, QB_ERR_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID",
                          s);
}

static enum qb_status ints_attr(const struct qb_graph *g, const struct qb_node *n, const char *name, int want,
                                int64_t dflt, int64_t lo, int64_t *out, struct qb_error *err)
{
    int count;
    enum qb_status st = qb_node_attr_ints(g, n, name, out, 2 * SP, &count, err);
    if (st != QB_OK)
        return st;
    if (count < 0) {
        for (int i = 0; i < want; i++)
            out[i] = dflt;
        return QB_OK;
    }
    if (count != want)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute '%s' has %d values, expected %d", name, count,
                              want);
    for (int i = 0; i < want; i++)
        if (out[i] < lo || out[i] > DIM_MAX)
            return qb_node_errorf(g, n, err, lo == 0 && out[i] < 0 ? QB_ERR_UNSUPPORTED : QB_ERR_INVALID,
                                  "attribute '%s' value %lld is out of range [%lld, %lld]", name,
                                  (long long)out[i], (long long)lo, (long long)DIM_MAX);
    return QB_OK;
}

static enum qb_status check_input(const struct qb_graph *g, const struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    if (x->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input is %s; only float is supported",
                              qb_dtype_name(x->dtype));
    if (x->ndim < 3 || x->ndim > 2 + SP)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input has rank %d; 3 to %d are supported", x->ndim,
                              2 + SP);
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] < 1)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "empty input dimension");
    if (x->shape[0] * x->shape[1] > INT_MAX)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "too many planes");
    return QB_OK;
}

/* Output size of one dim; refuses what the implementations disagree on. */
static enum qb_status window_dim(const struct qb_graph *g, const struct qb_node *n, struct pool_params *p, int i,
                                 enum auto_pad ap, bool ceil_mode, int64_t pb, int64_t pe, struct qb_error *err)
{
    int64_t in = p->in[i], k = p->k[i], s = p->s[i], dk = (k - 1) * p->d[i] + 1, o;

    if (ap == AP_SAME_UPPER || ap == AP_SAME_LOWER) {
        int64_t total;
        o = (in + s - 1) / s;
        total = (o - 1) * s + dk - in;
        if (total < 0)
            total = 0;
        pb = ap == AP_SAME_UPPER ? total / 2 : total - total / 2;
        pe = total - pb;
    } else {
        if (ap == AP_VALID)
            pb = pe = 0;
        if (in + pb + pe < dk)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "kernel (%lld with dilation) exceeds the padded input (%lld)",
                                  (long long)dk, (long long)(in + pb + pe));
        o = (in + pb + pe - dk) / s + 1;
        if (ceil_mode && (in + pb + pe - dk) % s) {
            if (ap == AP_VALID)
                return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "ceil_mode with auto_pad VALID is ambiguous");
            o++;
            if ((o - 1) * s >= in + pb)
                return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                                      "ceil_mode window starting past the padded input is ambiguous");
            if (p->include_pad && (o - 1) * s + dk > in + pb + pe)
                return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                                      "ceil_mode window beyond the pads with count_include_pad is ambiguous");
        }
    }
    if (pb >= k || pe >= k)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "pads (%lld, %lld) must be smaller than the kernel (%lld)",
                              (long long)pb, (long long)pe, (long long)k);
    for (int64_t t = 0; t < o; t++) {
        int64_t lo, hi;
        tap_range(t * s - pb, p->d[i], in, k, &lo, &hi);
        if (hi <= lo)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "a pooling window covers no input element");
    }
    p->out[i] = o;
    p->pb[i] = pb;
    p->pe[i] = pe;
    return QB_OK;
}

static enum qb_status pool_infer(struct qb_graph *g, struct qb_node *n, enum pool_kind kind, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct pool_params *p = qb_arena_alloc(g->arena, sizeof(*p));
    int64_t k[SP], s[SP], d[SP], pads[2 * SP], ceil_mode, include_pad = 0, storage_order, oshape[2 + SP];
    enum auto_pad ap = AP_NOTSET;
    enum qb_status st;
    int nsp, off, count;

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if ((st = check_input(g, n, err)) != QB_OK)
        return st;
    nsp = x->ndim - 2;
    off = SP - nsp;
    if ((st = qb_node_attr_ints(g, n, "kernel_shape", k, SP, &count, err)) != QB_OK)
        return st;
    if (count < 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'kernel_shape' is required");
    if ((st = ints_attr(g, n, "kernel_shape", nsp, 1, 1, k, err)) || (st = ints_attr(g, n, "strides", nsp, 1, 1, s, err)) ||
        (st = ints_attr(g, n, "dilations", nsp, 1, 1, d, err)) ||
        (st = ints_attr(g, n, "pads", 2 * nsp, 0, 0, pads, err)) || (st = parse_auto_pad(g, n, &ap, err)) ||
        (st = qb_node_attr_int(g, n, "ceil_mode", 0, &ceil_mode, err)) ||
        (st = qb_node_attr_int(g, n, "count_include_pad", 0, &include_pad, err)) ||
        (st = qb_node_attr_int(g, n, "storage_order", 0, &storage_order, err)))
        return st;
    if ((ceil_mode != 0 && ceil_mode != 1) || (include_pad != 0 && include_pad != 1) ||
        (storage_order != 0 && storage_order != 1))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "ceil_mode, count_include_pad and storage_order must be 0 or 1");
    p->kind = kind;
    p->include_pad = include_pad;
    p->indices = n->n_out > 1 && n->out[1] >= 0;
    if (p->indices && g->opset < 8)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "MaxPool has an Indices output only from opset 8");
    if (p->indices && storage_order != 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "storage_order=1 (column-major Indices) is not supported");
    p->N = x->shape[0];
    p->C = x->shape[1];
    for (int i = 0; i < SP; i++) {
        p->in[i] = p->k[i] = p->s[i] = p->d[i] = p->out[i] = 1;
        p->pb[i] = p->pe[i] = 0;
    }
    for (int i = 0; i < nsp; i++) {
        p->in[off + i] = x->shape[2 + i];
        p->k[off + i] = k[i];
        p->s[off + i] = s[i];
        p->d[off + i] = d[i];
    }
    for (int i = 0; i < nsp; i++)
        if ((st = window_dim(g, n, p, off + i, ap, ceil_mode, pads[i], pads[nsp + i], err)) != QB_OK)
            return st;
    if (spatial_numel(p->in) > INT_MAX || spatial_numel(p->out) > INT_MAX)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "plane too large");
    oshape[0] = p->N;
    oshape[1] = p->C;
    for (int i = 0; i < nsp; i++)
        oshape[2 + i] = p->out[off + i];
    for (int o = 0; o < (p->indices ? 2 : 1); o++) {
        struct qb_value *y = qb_node_out(g, n, o);
        y->dtype = o ? QB_DTYPE_I64 : QB_DTYPE_F32;
        y->ndim = x->ndim;
        memcpy(y->shape, oshape, (size_t)x->ndim * sizeof(int64_t));
    }
    n->params = p;
    return QB_OK;
}

static enum qb_status maxpool_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    return pool_infer(g, n, POOL_MAX, err);
}

static enum qb_status avgpool_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    return pool_infer(g, n, POOL_AVG, err);
}

/* Windowed run ------------------------------------------------------------------ */

static void max_row(float *y, const float *x, int64_t sx, int64_t n)
{
    int64_t i = 0;
    if (sx == 1)
        for (; i + 4 <= n; i += 4) {
            v4sf a, b;
            v4si ai, bi, m;
            memcpy(&a, y + i, sizeof(a));
            memcpy(&b, x + i, sizeof(b));
            m = b > a;
            memcpy(&ai, &a, sizeof(ai));
            memcpy(&bi, &b, sizeof(bi));
            ai = (ai & ~m) | (bi & m);
            memcpy(y + i, &ai, sizeof(ai));
        }
    for (; i < n; i++)
        if (x[i * sx] > y[i])
            y[i] = x[i * sx];
}

static void add_row(float *y, const float *x, int64_t sx, int64_t n)
{
    int64_t i = 0;
    if (sx == 1)
        for (; i + 4 <= n; i += 4) {
            v4sf a, b;
            memcpy(&a, y + i, sizeof(a));
            memcpy(&b, x + i, sizeof(b));
            a += b;
            memcpy(y + i, &a, sizeof(a));
        }
    for (; i < n; i++)
        y[i] += x[i * sx];
}

/* Taps of dim i that an average over output position t divides by. */
static int64_t avg_count(const struct pool_params *p, int i, int64_t t)
{
    int64_t lo, hi, o = t * p->s[i] - p->pb[i];
    if (p->include_pad) /* the window clipped to the padded extent */
        tap_range(o + p->pb[i], p->d[i], p->in[i] + p->pb[i] + p->pe[i], p->k[i], &lo, &hi);
    else
        tap_range(o, p->d[i], p->in[i], p->k[i], &lo, &hi);
    return hi - lo;
}

struct pool_job {
    const struct pool_params *p;
    const float *x;
    float *y;
    int64_t *idx;
};

static void pool_plane(void *ctx, int item)
{
    const struct pool_job *j = ctx;
    const struct pool_params *p = j->p;
    const int64_t D = p->in[0], H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2];
    const float *x = j->x + (int64_t)item * spatial_numel(p->in);
    float *y = j->y + (int64_t)item * spatial_numel(p->out);
    float init = p->kind == POOL_MAX ? -INFINITY : 0.0f;

    for (int64_t oz = 0; oz < p->out[0]; oz++)
        for (int64_t oy = 0; oy < OH; oy++) {
            float *row = y + (oz * OH + oy) * OW;
            for (int64_t ox = 0; ox < OW; ox++)
                row[ox] = init;
            for (int64_t kz = 0; kz < p->k[0]; kz++) {
                int64_t iz = oz * p->s[0] - p->pb[0] + kz * p->d[0];
                if (iz < 0 || iz >= D)
                    continue;
                for (int64_t ky = 0; ky < p->k[1]; ky++) {
                    int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int64_t kx = 0; kx < p->k[2]; kx++) {
                        int64_t ix0 = kx * p->d[2] - p->pb[2], lo, hi;
                        const float *src;
                        tap_range(ix0, p->s[2], W, OW, &lo, &hi);
                        if (hi <= lo)
                            continue;
                        src = x + (iz * H + iy) * W + ix0 + lo * p->s[2];
                        if (p->kind == POOL_MAX)
                            max_row(row + lo, src, p->s[2], hi - lo);
                        else
                            add_row(row + lo, src, p->s[2], hi - lo);
                    }
                }
            }
            if (p->kind == POOL_AVG) {
                int64_t czy = avg_count(p, 0, oz) * avg_count(p, 1, oy);
                for (int64_t ox = 0; ox < OW; ox++)
                    row[ox] /= (float)(czy * avg_count(p, 2, ox));
            }
        }
}

/* MaxPool with Indices: element by element, the first maximum wins. */
static void maxidx_plane(void *ctx, int item)
{
    const struct pool_job *j = ctx;
    const struct pool_params *p = j->p;
    const int64_t D = p->in[0], H = p->in[1], W = p->in[2];
    const int64_t base = (int64_t)item * spatial_numel(p->in);
    const float *x = j->x + base;
    int64_t o = (int64_t)item * spatial_numel(p->out);

    for (int64_t oz = 0; oz < p->out[0]; oz++)
        for (int64_t oy = 0; oy < p->out[1]; oy++)
            for (int64_t ox = 0; ox < p->out[2]; ox++, o++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t kz = 0; kz < p->k[0]; kz++) {
                    int64_t iz = oz * p->s[0] - p->pb[0] + kz * p->d[0];
                    if (iz < 0 || iz >= D)
                        continue;
                    for (int64_t ky = 0; ky < p->k[1]; ky++) {
                        int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int64_t kx = 0; kx < p->k[2]; kx++) {
                            int64_t ix = ox * p->s[2] - p->pb[2] + kx * p->d[2], e = (iz * H + iy) * W + ix;
                            if (ix < 0 || ix >= W)
                                continue;
                            if (at < 0 || x[e] > best) {
                                best = x[e];
                                at = e;
                            }
                        }
                    }
                }
                j->y[o] = best;
                j->idx[o] = base + at;
            }
}

static enum qb_status pool_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct pool_params *p = n->params;
    struct pool_job j = {.p = p, .x = in[0].data, .y = out[0].data};
    struct qb_pool *pool = qb_tview_numel(&out[0]) * p->k[0] * p->k[1] * p->k[2] >= 16384 ? ctx->pool : NULL;

    if (p->indices) {
        j.idx = out[1].data;
        qb_pool_for(pool, (int)(p->N * p->C), maxidx_plane, &j);
    } else {
        qb_pool_for(pool, (int)(p->N * p->C), pool_plane, &j);
    }
    return QB_OK;
}

static double pool_flops(const struct qb_graph *g, const struct qb_node *n)
{
    const struct pool_params *p = n->params;
    (void)g;
    return (double)p->N * (double)p->C * (double)spatial_numel(p->out) * (double)spatial_numel(p->k);
}

/* Global pools ------------------------------------------------------------------- */

static enum qb_status global_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct qb_value *y = qb_node_out(g, n, 0);
    enum qb_status st = check_input(g, n, err);

    if (st != QB_OK)
        return st;
    if (qb_value_numel(x) / (x->shape[0] * x->shape[1]) > INT_MAX)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "plane too large");
    y->dtype = QB_DTYPE_F32;
    y->ndim = x->ndim;
    y->shape[0] = x->shape[0];
    y->shape[1] = x->shape[1];
    for (int i = 2; i < x->ndim; i++)
        y->shape[i] = 1;
    return QB_OK;
}

struct global_job {
    const float *x;
    float *y;
    int64_t plane;
};

static void gavg_plane(void *ctx, int item)
{
    const struct global_job *j = ctx;
    const float *x = j->x + (int64_t)item * j->plane;
    double s = 0.0;
    for (int64_t i = 0; i < j->plane; i++)
        s += x[i];
    j->y[item] = (float)(s / (double)j->plane);
}

static void gmax_plane(void *ctx, int item)
{
    const struct global_job *j = ctx;
    const float *x = j->x + (int64_t)item * j->plane;
    float m = -INFINITY;
    for (int64_t i = 0; i < j->plane; i++)
        if (x[i] > m)
            m = x[i];
    j->y[item] = m;
}

static enum qb_status global_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx, qb_pool_fn fn)
{
    int64_t planes = in[0].shape[0] * in[0].shape[1];
    struct global_job j = {.x = in[0].data, .y = out[0].data, .plane = qb_tview_numel(&in[0]) / planes};
    (void)n;
    qb_pool_for(qb_tview_numel(&in[0]) >= 16384 ? ctx->pool : NULL, (int)planes, fn, &j);
    return QB_OK;
}

static enum qb_status gavg_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    return global_run(n, in, out, ctx, gavg_plane);
}

static enum qb_status gmax_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    return global_run(n, in, out, ctx, gmax_plane);
}

static double global_flops(const struct qb_graph *g, const struct qb_node *n)
{
    return (double)qb_value_numel(qb_node_in(g, n, 0));
}

static const char *const maxpool_attrs[] = {"auto_pad",      "ceil_mode", "dilations", "kernel_shape", "pads",
                                            "storage_order", "strides",   NULL};
static const char *const avgpool_attrs[] = {"auto_pad",     "ceil_mode", "count_include_pad", "dilations",
                                            "kernel_shape", "pads",      "strides",           NULL};

const struct qb_op_def qb_ops_pool[] = {
    {.name = "MaxPool", .min_opset = 1, .max_opset = 22, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 2,
     .attrs = maxpool_attrs, .infer = maxpool_infer, .run = pool_run, .flops = pool_flops},
    {.name = "AveragePool", .min_opset = 1, .max_opset = 22, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
     .attrs = avgpool_attrs, .infer = avgpool_infer, .run = pool_run, .flops = pool_flops},
    {.name = "GlobalAveragePool", .min_opset = 1, .max_opset = 22, .min_in = 1, .max_in = 1, .min_out = 1,
     .max_out = 1, .infer = global_infer, .run = gavg_run, .flops = global_flops},
    {.name = "GlobalMaxPool", .min_opset = 1, .max_opset = 22, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
     .infer = global_infer, .run = gmax_run, .flops = global_flops},
    {.name = NULL},
};
