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
#include "conv_kernels.h" /* qb_v8_load_s12 */
#include "sgemm.h"
#include "window.h"

#define SP QB_WINDOW_SP

typedef qb_v8sf v8sf;
typedef int v8si __attribute__((vector_size(32)));

enum pool_kind { POOL_MAX, POOL_AVG };

struct pool_params {
    enum pool_kind kind;
    bool include_pad; /* AveragePool count_include_pad */
    bool indices;     /* MaxPool's Indices output */
    int64_t N, C;
    int64_t in[SP], out[SP], k[SP], s[SP], d[SP], pb[SP], pe[SP];
};

/* Attributes ------------------------------------------------------------------ */

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
    for (int i = 2, plane = 1; i < x->ndim; i++) {
        if (x->shape[i] > INT_MAX / plane)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "plane too large");
        plane *= (int)x->shape[i];
    }
    return QB_OK;
}

/* Output size of one dim; refuses what the implementations disagree on. */
static enum qb_status window_dim(const struct qb_graph *g, const struct qb_node *n, struct pool_params *p, int i,
                                 enum qb_auto_pad ap, bool ceil_mode, int64_t pb, int64_t pe, struct qb_error *err)
{
    int64_t in = p->in[i], k = p->k[i], s = p->s[i], dk = (k - 1) * p->d[i] + 1, o;
    enum qb_status st = qb_window_out(g, n, ap, in, s, dk, &pb, &pe, &o, err);

    if (st != QB_OK)
        return st;
    if (ceil_mode && !qb_window_same(ap) && (in + pb + pe - dk) % s) {
        if (ap == QB_AUTO_PAD_VALID)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "ceil_mode with auto_pad VALID is ambiguous");
        o++;
        if ((o - 1) * s >= in + pb)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                                  "ceil_mode window starting past the padded input is ambiguous");
        if (p->include_pad && (o - 1) * s + dk > in + pb + pe)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                                  "ceil_mode window beyond the pads with count_include_pad is ambiguous");
    }
    if (pb >= k || pe >= k)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "pads (%lld, %lld) must be smaller than the kernel (%lld)",
                              (long long)pb, (long long)pe, (long long)k);
    /* a window whose first tap is in the input is not empty: only those that
     * start in the pads, t < t_in or t >= t_end, are checked */
    for (int64_t t = 0, t_in = (pb + s - 1) / s, t_end = (in + pb + s - 1) / s; t < o; t++) {
        int64_t lo, hi;
        if (t == t_in && t_end > t_in)
            t = t_end;
        if (t >= o)
            break;
        qb_window_taps(t * s - pb, p->d[i], in, k, &lo, &hi);
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
    int64_t ceil_mode, include_pad = 0, storage_order, oshape[2 + SP];
    struct qb_window w;
    enum qb_status st;
    int nsp, off;

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if ((st = check_input(g, n, err)) != QB_OK)
        return st;
    nsp = x->ndim - 2;
    off = SP - nsp;
    if ((st = qb_window_parse(g, n, nsp, NULL, &w, err)) ||
        (st = qb_node_attr_int(g, n, "ceil_mode", 0, &ceil_mode, err)) ||
        (st = qb_node_attr_int(g, n, "count_include_pad", 0, &include_pad, err)) ||
        (st = qb_node_attr_int(g, n, "storage_order", 0, &storage_order, err)))
        return st;
    if ((ceil_mode != 0 && ceil_mode != 1) || (include_pad != 0 && include_pad != 1) ||
        (storage_order != 0 && storage_order != 1))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID,
                              "ceil_mode, count_include_pad and storage_order must be 0 or 1");
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
        p->k[off + i] = w.k[i];
        p->s[off + i] = w.s[i];
        p->d[off + i] = w.d[i];
    }
    for (int i = 0; i < nsp; i++)
        if ((st = window_dim(g, n, p, off + i, w.ap, ceil_mode, w.pads[i], w.pads[nsp + i], err)) != QB_OK)
            return st;
    if (!qb_window_numel3_le(p->out, INT_MAX))
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

#define INLINE static inline __attribute__((always_inline))

/* Taps of dim i that an average over output position t divides by. */
static int64_t avg_count(const struct pool_params *p, int i, int64_t t)
{
    int64_t lo, hi, o = t * p->s[i] - p->pb[i];
    if (p->include_pad) /* the window clipped to the padded extent */
        qb_window_taps(o + p->pb[i], p->d[i], p->in[i] + p->pb[i] + p->pe[i], p->k[i], &lo, &hi);
    else
        qb_window_taps(o, p->d[i], p->in[i], p->k[i], &lo, &hi);
    return hi - lo;
}

struct pool_job {
    const struct pool_params *p;
    const float *x;
    float *y;
    int64_t *idx;
};

/* One output element, every tap checked, in (kz, ky, kx) order; a NaN never
 * wins a max (the vector path below computes the same). With `at` (MaxPool's
 * Indices, *at = -1 on entry): the first tap in the input is taken as it is,
 * then only greater ones, and *at gets the winner's offset in x. */
INLINE float pool_point(const struct pool_params *p, const float *x, int64_t oz, int64_t oy, int64_t ox, bool is_max,
                        int64_t *at)
{
    const int64_t D = p->in[0], H = p->in[1], W = p->in[2];
    float acc = is_max ? -INFINITY : 0.0f;
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
                float v;
                if (ix < 0 || ix >= W)
                    continue;
                v = x[e];
                if (!is_max) {
                    acc = acc + v;
                } else if (at ? *at < 0 || v > acc : v > acc) {
                    acc = v;
                    if (at)
                        *at = e;
                }
            }
        }
    }
    if (!is_max)
        acc /= (float)(avg_count(p, 0, oz) * avg_count(p, 1, oy) * avg_count(p, 2, ox));
    return acc;
}

/* acc = max(acc, x) or acc + x over 8 columns at stride sw (1 or 2) */
INLINE void pool_tap(v8sf *acc, const float *src, int64_t sw, bool is_max)
{
    v8sf a;
    qb_v8_load_s12(&a, src, sw);
    if (is_max) {
        v8si ai, ci, m = a > *acc;
        memcpy(&ai, &a, sizeof(ai));
        memcpy(&ci, acc, sizeof(ci));
        ci = (ci & ~m) | (ai & m);
        memcpy(acc, &ci, sizeof(ci));
    } else {
        *acc = *acc + a;
    }
}

/* One plane: columns whose every tap lies in the image run 8 at a time (strides
 * 1 and 2), with the output held in a register through all taps; the rest
 * point by point. */
INLINE void pool_plane_body(const struct pool_job *j, int item, bool is_max)
{
    const struct pool_params *p = j->p;
    const int64_t D = p->in[0], H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2], KW = p->k[2];
    const int64_t sw = p->s[2], pw = p->pb[2], dw = p->d[2], reach = (KW - 1) * dw;
    const float *x = j->x + (int64_t)item * qb_window_numel3(p->in);
    float *y = j->y + (int64_t)item * qb_window_numel3(p->out);
    const float init = is_max ? -INFINITY : 0.0f;
    int64_t vlo, vhi;

    qb_window_vector_cols(W, OW, sw, pw, reach, &vlo, &vhi);
    for (int64_t oz = 0; oz < p->out[0]; oz++)
        for (int64_t oy = 0; oy < OH; oy++) {
            float *row = y + (oz * OH + oy) * OW;
            float div = is_max ? 1.0f : (float)(avg_count(p, 0, oz) * avg_count(p, 1, oy) * KW);
            int64_t ox = 0;
            for (; ox < vlo && ox < OW; ox++)
                row[ox] = pool_point(p, x, oz, oy, ox, is_max, NULL);
            for (; ox + 8 <= vhi || (is_max && ox < vhi && vhi - vlo >= 8); ox += 8) {
                v8sf acc = {init, init, init, init, init, init, init, init};
                if (ox + 8 > vhi) /* max is idempotent: the last block overlaps the previous one */
                    ox = vhi - 8;
                for (int64_t kz = 0; kz < p->k[0]; kz++) {
                    int64_t iz = oz * p->s[0] - p->pb[0] + kz * p->d[0];
                    if (iz < 0 || iz >= D)
                        continue;
                    for (int64_t ky = 0; ky < p->k[1]; ky++) {
                        int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int64_t kx = 0; kx < KW; kx++)
                            pool_tap(&acc, x + (iz * H + iy) * W + ox * sw - pw + kx * dw, sw, is_max);
                    }
                }
                if (!is_max)
                    acc = acc / (v8sf){div, div, div, div, div, div, div, div};
                memcpy(row + ox, &acc, sizeof(acc));
            }
            for (; ox < OW; ox++)
                row[ox] = pool_point(p, x, oz, oy, ox, is_max, NULL);
        }
}

#define PAD_MAX 16384 /* floats of a padded plane on the stack */

/* 1-D/2-D planes that fit PAD_MAX: the plane is first copied into a buffer
 * padded with the identity (-inf for max, 0 for sums), so every window reads
 * only that buffer and every column runs in vectors. Same values and order as
 * pool_plane_body (padding never wins a max and adds nothing to a sum). */
static int64_t padded_width(const struct pool_params *p)
{
    /* + stride-2 loads past the last column */
    return qb_window_extent(p->in[2], p->pb[2], p->pe[2], p->out[2], p->s[2], p->k[2], p->d[2]) + 16;
}

static int64_t padded_height(const struct pool_params *p)
{
    return qb_window_extent(p->in[1], p->pb[1], p->pe[1], p->out[1], p->s[1], p->k[1], p->d[1]);
}

static bool use_padded(const struct pool_params *p)
{
    return p->in[0] == 1 && p->out[2] <= PAD_MAX && padded_height(p) * padded_width(p) <= PAD_MAX;
}

INLINE void pool_padded_body(const struct pool_job *j, int item, bool is_max)
{
    const struct pool_params *p = j->p;
    const int64_t H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2], KH = p->k[1], KW = p->k[2];
    const int64_t sh = p->s[1], sw = p->s[2], dh = p->d[1], dw = p->d[2];
    const int64_t Hp = padded_height(p), Wp = padded_width(p);
    const float *x = j->x + (int64_t)item * H * W;
    float *y = j->y + (int64_t)item * OH * OW;
    const float init = is_max ? -INFINITY : 0.0f;
    float pad[PAD_MAX], aux[PAD_MAX]; /* aux: column counts (average) or row maxima (max) */
    float *cx = aux;

    for (int64_t r = 0; r < Hp; r++) {
        float *pr = pad + r * Wp;
        int64_t iy = r - p->pb[1];
        if (iy < 0 || iy >= H) {
            for (int64_t c = 0; c < Wp; c++)
                pr[c] = init;
            continue;
        }
        for (int64_t c = 0; c < p->pb[2]; c++)
            pr[c] = init;
        memcpy(pr + p->pb[2], x + iy * W, (size_t)W * sizeof(float));
        for (int64_t c = p->pb[2] + W; c < Wp; c++)
            pr[c] = init;
    }
    if (!is_max)
        for (int64_t ox = 0; ox < OW; ox++)
            cx[ox] = (float)avg_count(p, 2, ox);
    if (is_max && sw <= 2 && OW >= 8) {
        /* separable: the max over each padded row's kx taps, then over ky */
        for (int64_t r = 0; r < Hp; r++)
            for (int64_t ox = 0; ox < OW; ox += 8) {
                v8sf acc = {init, init, init, init, init, init, init, init};
                if (ox + 8 > OW)
                    ox = OW - 8;
                for (int64_t kx = 0; kx < KW; kx++)
                    pool_tap(&acc, pad + r * Wp + ox * sw + kx * dw, sw, true);
                memcpy(aux + r * OW + ox, &acc, sizeof(acc));
            }
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox += 8) {
                v8sf acc = {init, init, init, init, init, init, init, init};
                if (ox + 8 > OW)
                    ox = OW - 8;
                for (int64_t ky = 0; ky < KH; ky++)
                    pool_tap(&acc, aux + (oy * sh + ky * dh) * OW + ox, 1, true);
                memcpy(y + oy * OW + ox, &acc, sizeof(acc));
            }
        return;
    }
    for (int64_t oy = 0; oy < OH; oy++) {
        float *row = y + oy * OW;
        const float *top = pad + oy * sh * Wp;
        int64_t ox = 0;
        if (sw <= 2)
            for (; ox + 8 <= OW || (is_max && ox < OW && OW >= 8); ox += 8) {
                v8sf acc = {init, init, init, init, init, init, init, init};
                if (ox + 8 > OW) /* max is idempotent: the last block overlaps the previous one */
                    ox = OW - 8;
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++)
                        pool_tap(&acc, top + ky * dh * Wp + ox * sw + kx * dw, sw, is_max);
                memcpy(row + ox, &acc, sizeof(acc));
            }
        for (; ox < OW; ox++) {
            float acc = init;
            for (int64_t ky = 0; ky < KH; ky++)
                for (int64_t kx = 0; kx < KW; kx++) {
                    float v = top[ky * dh * Wp + ox * sw + kx * dw];
                    if (!is_max)
                        acc = acc + v;
                    else if (v > acc)
                        acc = v;
                }
            row[ox] = acc;
        }
        if (!is_max) {
            float cy = (float)avg_count(p, 1, oy);
            for (ox = 0; ox < OW; ox++)
                row[ox] /= cy * cx[ox];
        }
    }
}

INLINE void pool_any_body(const struct pool_job *j, int item, bool is_max)
{
    if (use_padded(j->p))
        pool_padded_body(j, item, is_max);
    else
        pool_plane_body(j, item, is_max);
}

static void maxpool_plane(void *ctx, int item) { pool_any_body(ctx, item, true); }
static void avgpool_plane(void *ctx, int item) { pool_any_body(ctx, item, false); }

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_BUILD 1
__attribute__((target("avx2"))) static void maxpool_plane_avx2(void *ctx, int item)
{
    pool_any_body(ctx, item, true);
}
__attribute__((target("avx2"))) static void avgpool_plane_avx2(void *ctx, int item)
{
    pool_any_body(ctx, item, false);
}
#else
#define HAVE_AVX2_BUILD 0
#endif

static qb_pool_fn pick_plane(enum pool_kind kind)
{
#if HAVE_AVX2_BUILD
    if (qb_sgemm_use_avx2())
        return kind == POOL_MAX ? maxpool_plane_avx2 : avgpool_plane_avx2;
#endif
    return kind == POOL_MAX ? maxpool_plane : avgpool_plane;
}

/* MaxPool with Indices: element by element, the first maximum wins. */
static void maxidx_plane(void *ctx, int item)
{
    const struct pool_job *j = ctx;
    const struct pool_params *p = j->p;
    const int64_t base = (int64_t)item * qb_window_numel3(p->in);
    int64_t o = (int64_t)item * qb_window_numel3(p->out);

    for (int64_t oz = 0; oz < p->out[0]; oz++)
        for (int64_t oy = 0; oy < p->out[1]; oy++)
            for (int64_t ox = 0; ox < p->out[2]; ox++, o++) {
                int64_t at = -1;
                j->y[o] = pool_point(p, j->x + base, oz, oy, ox, true, &at);
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
        qb_pool_for(pool, (int)(p->N * p->C), pick_plane(p->kind), &j);
    }
    return QB_OK;
}

static double pool_flops(const struct qb_graph *g, const struct qb_node *n)
{
    const struct pool_params *p = n->params;
    (void)g;
    return (double)p->N * (double)p->C * (double)qb_window_numel3(p->out) * (double)qb_window_numel3(p->k);
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
