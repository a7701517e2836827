/* Conv, ConvTranspose and BatchNormalization (FP32, NCHW, 1 to 3 spatial dims).
 *
 * Conv is an implicit GEMM per image and group (sgemm.h) with the weights
 * (Mg x Cg*taps) packed once in prepare(). Which B it reads depends on the
 * geometry (enum qb_conv_kind): stride-1 1-D/2-D convolutions copy the image into
 * zero-padded planes once and let the GEMM read every tap's row in place; 1x1
 * convolutions pack the image itself; everything else packs im2col panels on
 * demand (never materialised). Depthwise 2-D convolutions run a direct kernel.
 * ConvTranspose is a GEMM into a column buffer (scratch) and a col2im scatter.
 * Spatial geometry is held as three dims (D, H, W): lower ranks lead with 1s.
 * This file parses, plans and packs the weights; conv_kernels.c has the kernels,
 * conv_int8.c the exact INT8 forms (int8.h).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../op.h"
#include "conv_kernels.h"
#include "int8.h"
#include "opsutil.h"
#include "sgemm.h"

#define SP QB_WINDOW_SP
#define WIDE_MAX_FLOATS ((int64_t)1 << 28) /* padded planes of a WIDE conv */
#define WIDE_MAX_ROWS ((int64_t)1 << 20)   /* Cg * taps: its offset table */

typedef float v4sf __attribute__((vector_size(16)));

struct bn_params {
    float eps;
};

/* Attributes ---------------------------------------------------------------- */

static enum qb_status check_f32(const struct qb_graph *g, const struct qb_node *n, int i, const char *what,
                                struct qb_error *err)
{
    const struct qb_value *v = qb_node_in(g, n, i);
    if (v && v->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "%s is %s; only float is supported", what,
                              qb_dtype_name(v->dtype));
    return QB_OK;
}

/* X/W/B checks, then the window attributes (kernel_shape optional: W's dims). */
static enum qb_status parse_window(const struct qb_graph *g, const struct qb_node *n, struct qb_window *w,
                                   struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *wt = qb_node_in(g, n, 1), *b = qb_node_in(g, n, 2);
    enum qb_status st;

    if ((st = check_f32(g, n, 0, "input X", err)) || (st = check_f32(g, n, 1, "weight W", err)) ||
        (st = check_f32(g, n, 2, "bias B", err)))
        return st;
    if (x->ndim < 3 || x->ndim > 2 + SP)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input X has rank %d; 3 to %d are supported", x->ndim,
                              2 + SP);
    if (wt->ndim != x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "weight W has rank %d, input X rank %d", wt->ndim, x->ndim);
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] < 1 || wt->shape[i] < 1)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "empty input or weight dimension");
    /* int-sized images, channels, planes and kernels (run() needs them anyway), so
     * that no product below overflows */
    if (x->shape[0] > INT_MAX / x->shape[1] || wt->shape[0] > INT_MAX / wt->shape[1])
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "too many images or channels");
    for (int i = 2, plane = 1, taps = 1; i < x->ndim; i++) {
        if (x->shape[i] > INT_MAX / plane || wt->shape[i] > INT_MAX / taps)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input plane or kernel too large");
        plane *= (int)x->shape[i];
        taps *= (int)wt->shape[i];
    }
    if (b && (b->ndim != 1))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "bias B must be 1-D");
    return qb_window_parse(g, n, x->ndim - 2, wt->shape + 2, w, err);
}

static enum qb_status parse_group(const struct qb_graph *g, const struct qb_node *n, int64_t *group,
                                  struct qb_error *err)
{
    enum qb_status st = qb_node_attr_int(g, n, "group", 1, group, err);
    if (st == QB_OK && (*group < 1 || *group > INT_MAX))
        st = qb_node_errorf(g, n, err, QB_ERR_INVALID, "group %lld must be positive", (long long)*group);
    return st;
}

/* Copies the window into p's (D, H, W) layout, lower ranks leading with 1s. */
static void set_spatial(struct qb_conv_params *p, const struct qb_window *w, const struct qb_value *x)
{
    int off = SP - w->nsp;
    for (int i = 0; i < SP; i++) {
        p->in[i] = p->out[i] = p->k[i] = p->s[i] = p->d[i] = 1;
        p->pb[i] = p->pe[i] = 0;
    }
    for (int i = 0; i < w->nsp; i++) {
        p->in[off + i] = x->shape[2 + i];
        p->k[off + i] = w->k[i];
        p->s[off + i] = w->s[i];
        p->d[off + i] = w->d[i];
    }
    p->nsp = w->nsp;
    p->taps = qb_window_numel3(p->k);
}

static enum qb_status check_gemm_dims(const struct qb_graph *g, const struct qb_node *n, int64_t m, int64_t nn,
                                      int64_t k, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *w = qb_node_in(g, n, 1);
    if (m > INT_MAX / 2 || nn > INT_MAX / 2 || k > INT_MAX / 2 || m * k > INT_MAX ||
        x->shape[0] * x->shape[1] > INT_MAX || w->shape[0] * w->shape[1] > INT_MAX)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "convolution too large (%lld x %lld x %lld)",
                              (long long)m, (long long)nn, (long long)k);
    return QB_OK;
}

/* Params of a Conv or ConvTranspose node with its window parsed: group, N and C. */
static enum qb_status new_params(struct qb_graph *g, struct qb_node *n, struct qb_window *w,
                                 struct qb_conv_params **out, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct qb_conv_params *p = qb_arena_alloc(g->arena, sizeof(*p));
    enum qb_status st;

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if ((st = parse_window(g, n, w, err)) || (st = parse_group(g, n, &p->group, err)))
        return st;
    p->N = x->shape[0];
    p->C = x->shape[1];
    *out = p;
    return QB_OK;
}

/* Output [N, M, spatial out]; p becomes the node's params. */
static void set_output(struct qb_graph *g, struct qb_node *n, struct qb_conv_params *p)
{
    int64_t shape[2 + SP];
    shape[0] = p->N;
    shape[1] = p->M;
    for (int i = 0; i < p->nsp; i++)
        shape[2 + i] = p->out[SP - p->nsp + i];
    qb_opu_set_out(qb_node_out(g, n, 0), QB_DTYPE_F32, 2 + p->nsp, shape);
    n->params = p;
}

/* Conv: infer --------------------------------------------------------------- */

/* Chooses QB_CONV_KIND_WIDE for 1-D/2-D convolutions whose padded-width grid wastes at
 * most a fifth of the columns. */
static enum qb_status plan_wide(struct qb_graph *g, struct qb_node *n, struct qb_conv_params *p, struct qb_error *err)
{
    /* strided convolutions: packing im2col beats splitting the image by phase */
    if (p->nsp > 2 || p->in[0] != 1 || p->s[1] != 1 || p->s[2] != 1)
        return QB_OK;
    p->hq = p->in[1] + p->pb[1] + p->pe[1];
    p->wq = p->in[2] + p->pb[2] + p->pe[2];
    if ((p->wq - p->out[2]) * 5 > p->wq || p->out[1] * p->wq > INT_MAX / 2)
        return QB_OK;
    p->chan_floats = p->hq * p->wq;
    if (p->chan_floats > WIDE_MAX_FLOATS / p->C || p->cg * p->taps > WIDE_MAX_ROWS)
        return QB_OK;
    /* slack: the wasted columns of the last output row read past the last plane */
    p->prep_floats = p->C * p->chan_floats + p->wq + p->k[2] * p->d[2] + 64;
    if (p->prep_floats > WIDE_MAX_FLOATS)
        return QB_OK;
    if (!(p->off = qb_arena_calloc(g->arena, (size_t)(p->cg * p->taps), sizeof(int64_t))))
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory at node '%s'", g->path, n->name);
    for (int64_t k = 0; k < p->cg * p->taps; k++) {
        int64_t t = k % p->taps;
        p->off[k] = k / p->taps * p->chan_floats + t / p->k[2] * p->d[1] * p->wq + t % p->k[2] * p->d[2];
    }
    p->kind = QB_CONV_KIND_WIDE;
    return QB_OK;
}

static enum qb_status conv_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *wt = qb_node_in(g, n, 1), *b = qb_node_in(g, n, 2);
    struct qb_conv_params *p;
    struct qb_window w;
    enum qb_status st;
    int off;

    if ((st = new_params(g, n, &w, &p, err)) != QB_OK)
        return st;
    p->M = wt->shape[0];
    if (p->C % p->group || p->M % p->group)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID,
                              "group %lld does not divide %lld input and %lld output channels",
                              (long long)p->group, (long long)p->C, (long long)p->M);
    p->cg = p->C / p->group;
    p->mg = p->M / p->group;
    if (wt->shape[1] != p->cg)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "W has %lld channels per group, X has %lld",
                              (long long)wt->shape[1], (long long)p->cg);
    if (b && b->shape[0] != p->M)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "bias has %lld values for %lld output channels",
                              (long long)b->shape[0], (long long)p->M);
    set_spatial(p, &w, x);
    off = SP - w.nsp;
    for (int i = 0; i < w.nsp; i++) {
        int64_t pb = w.pads[i], pe = w.pads[w.nsp + i];
        if ((st = qb_window_out(g, n, w.ap, x->shape[2 + i], w.s[i], (w.k[i] - 1) * w.d[i] + 1, &pb, &pe,
                                &p->out[off + i], err)) != QB_OK)
            return st;
        p->pb[off + i] = pb;
        p->pe[off + i] = pe;
    }
    if (!qb_window_numel3_le(p->out, INT_MAX / 2))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "output plane too large");
    if ((st = check_gemm_dims(g, n, p->mg, qb_window_numel3(p->out), p->cg * p->taps, err)) != QB_OK)
        return st;

    p->kind = QB_CONV_KIND_GEMM;
    if (p->cg == 1 && p->mg == 1 && w.nsp <= 2)
        p->kind = QB_CONV_KIND_DEPTHWISE;
    else if (p->taps == 1 && qb_window_numel3(p->s) == 1 && p->pb[0] + p->pb[1] + p->pb[2] == 0 &&
             qb_window_numel3(p->out) == qb_window_numel3(p->in))
        p->kind = QB_CONV_KIND_POINTWISE;
    else if ((st = plan_wide(g, n, p, err)) != QB_OK)
        return st;
    set_output(g, n, p);
    return QB_OK;
}

/* Conv: prepare / run --------------------------------------------------------- */

struct conv_state {
    float *pa;          /* packed weights, one block per group */
    size_t group_floats;
};

static size_t round64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static void conv_release(void *state)
{
    struct conv_state *s = state;
    if (s)
        free(s->pa);
    free(s);
}

/* WIDE reads B in place (offset-row GEMM, its own A layout). */
static bool rows_gemm(const struct qb_conv_params *p)
{
    return p->kind == QB_CONV_KIND_WIDE;
}

/* Geometry of the per-group GEMM: A is rows x depth, packed per group. */
static void conv_gemm_shape(const struct qb_conv_params *p, bool transpose, int *rows, int *depth)
{
    *rows = (int)(transpose ? p->mg * p->taps : p->mg);
    *depth = (int)(transpose ? p->cg : p->cg * p->taps);
}

static void pack_weights(const struct qb_conv_params *p, bool transpose, const float *w, float *dst,
                         size_t group_floats, int64_t g, struct qb_pool *pool)
{
    int rows, depth;
    conv_gemm_shape(p, transpose, &rows, &depth);
    if (transpose) /* W is [C, Mg, taps]: A(r, c) = W[(g*Cg + c) * Mg*taps + r] */
        qb_sgemm_pack_a(rows, depth, w + g * p->cg * rows, 1, rows, 1.0f, dst + g * group_floats, pool);
    else if (rows_gemm(p)) /* W is [M, Cg, taps]: A(m, k) = W[(g*Mg + m) * Cg*taps + k] */
        qb_sgemm_pack_a_rows(rows, depth, w + g * rows * depth, depth, 1, dst + g * group_floats, pool);
    else
        qb_sgemm_pack_a(rows, depth, w + g * rows * depth, depth, 1, 1.0f, dst + g * group_floats, pool);
}

/* Column buffer of ConvTranspose, padded planes of a wide Conv (floats). */
static size_t col_floats(const struct qb_conv_params *p, bool transpose)
{
    if (transpose)
        return (size_t)(p->mg * p->taps * qb_window_numel3(p->in));
    return p->kind == QB_CONV_KIND_WIDE ? (size_t)p->prep_floats : 0;
}

static enum qb_status prepare_common(const struct qb_graph *g, const struct qb_node *n, bool transpose, void **state,
                                     size_t *scratch, struct qb_error *err)
{
    const struct qb_conv_params *p = n->params;
    const struct qb_value *w = qb_node_in(g, n, 1);
    struct conv_state *s = NULL;
    int rows, depth;
    size_t gf;

    *state = NULL;
    *scratch = 0;
    if (p->kind == QB_CONV_KIND_DEPTHWISE && !transpose)
        return QB_OK;
    conv_gemm_shape(p, transpose, &rows, &depth);
    gf = round64(qb_sgemm_pack_a_size(rows, depth) * sizeof(float)) / sizeof(float);
    *scratch = (rows_gemm(p) && !transpose ? 0 : qb_sgemm_scratch_size()) +
               round64(col_floats(p, transpose) * sizeof(float));
    if (!(w->flags & QB_VALUE_CONST)) {
        *scratch += gf * sizeof(float);
        return QB_OK;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->pa = aligned_alloc(64, gf * sizeof(float) * (size_t)p->group))) {
        conv_release(s);
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory packing weights of node '%s'", g->path, n->name);
    }
    s->group_floats = gf;
    for (int64_t gi = 0; gi < p->group; gi++)
        pack_weights(p, transpose, w->data, s->pa, gf, gi, NULL);
    *state = s;
    return QB_OK;
}

static enum qb_status conv_prepare(const struct qb_graph *g, const struct qb_node *n, void **state, size_t *scratch,
                                   struct qb_error *err)
{
    return prepare_common(g, n, false, state, scratch, err);
}

/* Scratch layout: [packed weights when not prepacked][column buffer][GEMM slots]. */
struct conv_scratch {
    float *pa, *cols;
    void *gemm;
    size_t gemm_size, group_floats;
    bool packed;
};

static enum qb_status conv_scratch_split(const struct qb_conv_params *p, bool transpose, const struct qb_kctx *ctx,
                                         struct conv_scratch *cs)
{
    int rows, depth;
    char *at = ctx->scratch;
    size_t need, cols = round64(col_floats(p, transpose) * sizeof(float));
    const struct conv_state *s = ctx->state;

    conv_gemm_shape(p, transpose, &rows, &depth);
    cs->packed = s != NULL;
    cs->group_floats = s ? s->group_floats : round64(qb_sgemm_pack_a_size(rows, depth) * sizeof(float)) / sizeof(float);
    need = (s ? 0 : cs->group_floats * sizeof(float)) + cols +
           (rows_gemm(p) && !transpose ? 0 : round64(qb_sgemm_scratch_size() / QB_SGEMM_SLOTS));
    if (need && (!at || ctx->scratch_size < need))
        return qb_errorf(NULL, QB_ERR_INTERNAL, "conv scratch too small");
    cs->pa = s ? s->pa : (float *)at;
    at += s ? 0 : cs->group_floats * sizeof(float);
    cs->cols = (float *)at;
    at += cols;
    cs->gemm = at;
    cs->gemm_size = ctx->scratch_size - (size_t)(at - (char *)ctx->scratch);
    return QB_OK;
}

static enum qb_status conv_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct qb_conv_params *p = n->params;
    const float *x = in[0].data, *w = in[1].data, *bias = n->n_in > 2 ? in[2].data : NULL;
    float *y = out[0].data;
    int64_t ohw = qb_window_numel3(p->out), ihw = qb_window_numel3(p->in);
    struct conv_scratch cs;
    enum qb_status st;

    if (p->kind == QB_CONV_KIND_DEPTHWISE) {
        qb_conv_depthwise(p, x, w, bias, y, ctx->pool);
        return QB_OK;
    }
    if ((st = conv_scratch_split(p, false, ctx, &cs)) != QB_OK)
        return st;
    for (int64_t b = 0; b < p->N; b++) {
        if (p->kind == QB_CONV_KIND_WIDE)
            qb_conv_pad_planes(p, x + b * p->C * ihw, cs.cols, ctx->pool);
        for (int64_t g = 0; g < p->group; g++) {
            const float *pa = cs.pa + (cs.packed ? g * cs.group_floats : 0);
            const float *xg = x + (b * p->C + g * p->cg) * ihw;
            float *yg = y + (b * p->M + g * p->mg) * ohw;
            const float *bg = bias ? bias + g * p->mg : NULL;
            int depth = (int)(p->cg * p->taps);
            struct qb_conv_im2col geo;
            struct qb_sgemm_b src;
            if (!cs.packed)
                pack_weights(p, false, w, cs.pa, 0, g, ctx->pool);
            if (p->kind == QB_CONV_KIND_POINTWISE) {
                qb_sgemm_b_matrix(&src, xg, ihw, 1);
            } else if (p->kind == QB_CONV_KIND_WIDE) {
                struct qb_sgemm_wrap wrap = {.wq = (int)p->wq, .ow = (int)p->out[2]};
                qb_sgemm_rows((int)p->mg, (int)(p->out[1] * p->wq), depth, pa, cs.cols + g * p->cg * p->chan_floats,
                              p->off, yg, ohw, bg, &wrap, ctx->pool);
                continue;
            } else {
                qb_conv_im2col_source(&src, &geo, p, xg);
            }
            qb_sgemm_packed((int)p->mg, (int)ohw, depth, pa, &src, yg, ohw, bg, 0, cs.gemm, cs.gemm_size, ctx->pool);
        }
    }
    return QB_OK;
}

static double conv_flops(const struct qb_graph *g, const struct qb_node *n)
{
    const struct qb_conv_params *p = n->params;
    (void)g;
    return 2.0 * (double)p->N * (double)p->M * (double)qb_window_numel3(p->out) * (double)(p->cg * p->taps);
}

/* ConvTranspose ------------------------------------------------------------------ */

static enum qb_status convt_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0), *wt = qb_node_in(g, n, 1), *b = qb_node_in(g, n, 2);
    struct qb_conv_params *p;
    struct qb_window w;
    int64_t opad[SP], oshp[2 + SP];
    int n_oshp, off;
    enum qb_status st;

    if ((st = new_params(g, n, &w, &p, err)) != QB_OK)
        return st;
    if ((st = qb_window_ints(g, n, "output_padding", w.nsp, 0, 0, opad, err)) != QB_OK)
        return st;
    if ((st = qb_node_attr_ints(g, n, "output_shape", oshp, 2 + SP, &n_oshp, err)) != QB_OK)
        return st;
    if (wt->shape[0] != p->C || p->C % p->group)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "W has %lld input channels, X %lld (group %lld)",
                              (long long)wt->shape[0], (long long)p->C, (long long)p->group);
    p->cg = p->C / p->group;
    p->mg = wt->shape[1];
    p->M = p->mg * p->group;
    if (b && b->shape[0] != p->M)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "bias has %lld values for %lld output channels",
                              (long long)b->shape[0], (long long)p->M);
    if (n_oshp >= 0) {
        if (n_oshp == w.nsp + 2) { /* full shape: N and M must agree */
            if (oshp[0] != p->N || oshp[1] != p->M)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "output_shape disagrees with batch or channels");
            memmove(oshp, oshp + 2, (size_t)w.nsp * sizeof(int64_t));
        } else if (n_oshp != w.nsp) {
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "output_shape has %d values for %d spatial dims", n_oshp,
                                  w.nsp);
        }
    }
    set_spatial(p, &w, x);
    off = SP - w.nsp;
    for (int i = 0; i < w.nsp; i++) {
        int64_t in = x->shape[2 + i], dk = (w.k[i] - 1) * w.d[i] + 1, s = w.s[i];
        int64_t full = s * (in - 1) + opad[i] + dk, o, pb, pe;
        if (n_oshp >= 0 || qb_window_same(w.ap)) {
            int64_t total;
            o = n_oshp >= 0 ? oshp[i] : in * s;
            if (o < 1 || o > QB_WINDOW_DIM_MAX)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "output size %lld out of range", (long long)o);
            total = full - o;
            if (total < 0 && !(total == -1 && w.ap != QB_AUTO_PAD_SAME_UPPER))
                /* onnx and onnxruntime place a larger output differently */
                return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                                      "output_shape %lld exceeds the transposed convolution's %lld (ambiguous padding)",
                                      (long long)o, (long long)full);
            /* SAME_UPPER: the odd pixel is cropped at the end; NOTSET and SAME_LOWER: at the start */
            pb = total < 0 ? 0 : w.ap == QB_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        } else {
            pb = w.ap == QB_AUTO_PAD_VALID ? 0 : w.pads[i];
            pe = w.ap == QB_AUTO_PAD_VALID ? 0 : w.pads[w.nsp + i];
            o = full - pb - pe;
            if (o < 1)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "pads leave an empty output");
        }
        p->out[off + i] = o;
        p->pb[off + i] = pb;
    }
    if ((st = check_gemm_dims(g, n, p->mg * p->taps, qb_window_numel3(p->in), p->cg, err)) != QB_OK)
        return st;
    if (!qb_window_numel3_le(p->out, INT_MAX) ||
        (double)p->mg * (double)p->taps * (double)qb_window_numel3(p->in) > 1e9)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "transposed convolution too large");
    p->kind = QB_CONV_KIND_GEMM;
    set_output(g, n, p);
    return QB_OK;
}

static enum qb_status convt_prepare(const struct qb_graph *g, const struct qb_node *n, void **state, size_t *scratch,
                                    struct qb_error *err)
{
    return prepare_common(g, n, true, state, scratch, err);
}


static enum qb_status convt_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                const struct qb_kctx *ctx)
{
    const struct qb_conv_params *p = n->params;
    const float *x = in[0].data, *w = in[1].data, *bias = n->n_in > 2 ? in[2].data : NULL;
    float *y = out[0].data;
    int64_t ihw = qb_window_numel3(p->in), ohw = qb_window_numel3(p->out);
    struct conv_scratch cs;
    enum qb_status st;
    int rows, depth;

    conv_gemm_shape(p, true, &rows, &depth);
    if ((st = conv_scratch_split(p, true, ctx, &cs)) != QB_OK)
        return st;
    for (int64_t g = 0; g < p->group; g++) {
        const float *pa = cs.pa + (cs.packed ? g * cs.group_floats : 0);
        if (!cs.packed)
            pack_weights(p, true, w, cs.pa, 0, g, ctx->pool);
        for (int64_t b = 0; b < p->N; b++) {
            struct qb_sgemm_b src;
            qb_sgemm_b_matrix(&src, x + (b * p->C + g * p->cg) * ihw, ihw, 1);
            qb_sgemm_packed(rows, (int)ihw, depth, pa, &src, cs.cols, ihw, NULL, 0, cs.gemm, cs.gemm_size, ctx->pool);
            qb_conv_col2im(p, cs.cols, bias ? bias + g * p->mg : NULL, y + (b * p->M + g * p->mg) * ohw, ctx->pool);
        }
    }
    return QB_OK;
}

static double convt_flops(const struct qb_graph *g, const struct qb_node *n)
{
    const struct qb_conv_params *p = n->params;
    (void)g;
    return 2.0 * (double)p->N * (double)p->C * (double)qb_window_numel3(p->in) * (double)(p->mg * p->taps);
}

/* BatchNormalization (inference) -------------------------------------------------- */

static enum qb_status bn_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct bn_params *p = qb_arena_alloc(g->arena, sizeof(*p));
    int64_t training = 0, spatial = 1;
    float momentum;
    enum qb_status st;

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if ((st = qb_node_attr_float(g, n, "epsilon", 1e-5f, &p->eps, err)) ||
        (st = qb_node_attr_float(g, n, "momentum", 0.9f, &momentum, err)) ||
        (st = qb_node_attr_int(g, n, "training_mode", 0, &training, err)) ||
        (st = qb_node_attr_int(g, n, "spatial", 1, &spatial, err)))
        return st;
    if (!isfinite(p->eps) || p->eps < 0.0f)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "epsilon %g must be finite and non-negative", p->eps);
    if (training != 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "training_mode=%lld: only inference is supported",
                              (long long)training);
    if (spatial != 1)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "spatial=%lld: only per-channel statistics are supported",
                              (long long)spatial);
    for (int i = 1; i < n->n_out; i++)
        if (n->out[i] >= 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                                  "output %d (running or saved statistics) is training mode; "
                                  "only inference is supported",
                                  i);
    for (int i = 0; i < 5; i++)
        if ((st = check_f32(g, n, i, i ? "statistics input" : "input X", err)) != QB_OK)
            return st;
    if (x->ndim < 2)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input X has rank %d; at least 2 expected", x->ndim);
    for (int i = 1; i < 5; i++) {
        const struct qb_value *v = qb_node_in(g, n, i);
        if (v->ndim != 1 || v->shape[0] != x->shape[1])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input %d must have shape [%lld]", i,
                                  (long long)x->shape[1]);
    }
    qb_opu_set_out(qb_node_out(g, n, 0), QB_DTYPE_F32, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

struct bn_job {
    const float *x, *scale, *bias, *mean, *var;
    float *y;
    int64_t C, plane;
    float eps;
};

static void bn_plane(void *ctx, int item)
{
    const struct bn_job *j = ctx;
    int64_t c = item % j->C, i = 0;
    float a = j->scale[c] * (1.0f / sqrtf(j->var[c] + j->eps));
    float b = j->bias[c] - j->mean[c] * a;
    const float *x = j->x + (int64_t)item * j->plane;
    float *y = j->y + (int64_t)item * j->plane;
    v4sf av = {a, a, a, a}, bv = {b, b, b, b};

    for (; i + 4 <= j->plane; i += 4) {
        v4sf v;
        memcpy(&v, x + i, sizeof(v));
        v = v * av + bv;
        memcpy(y + i, &v, sizeof(v));
    }
    for (; i < j->plane; i++)
        y[i] = x[i] * a + b;
}

static enum qb_status bn_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx)
{
    const struct bn_params *p = n->params;
    struct bn_job j = {.x = in[0].data, .scale = in[1].data, .bias = in[2].data, .mean = in[3].data,
                       .var = in[4].data, .y = out[0].data, .C = in[0].shape[1], .eps = p->eps};
    int64_t planes = in[0].shape[0] * in[0].shape[1];
    j.plane = planes ? qb_tview_numel(&in[0]) / planes : 0;
    qb_pool_for(j.plane * planes >= 16384 ? ctx->pool : NULL, (int)planes, bn_plane, &j);
    return QB_OK;
}

static double bn_flops(const struct qb_graph *g, const struct qb_node *n)
{
    return 2.0 * (double)qb_value_numel(qb_node_in(g, n, 0));
}

/* Table ------------------------------------------------------------------------------- */

static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};
static const char *const convt_attrs[] = {"auto_pad", "dilations",      "group",        "kernel_shape",
                                          "pads",     "strides",        "output_padding", "output_shape",
                                          NULL};
static const char *const bn_attrs[] = {"epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode",
                                       NULL};

const struct qb_op_def qb_ops_conv[] = {
    {.name = "Conv", .min_opset = 1, .max_opset = 22, .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
     .attrs = conv_attrs, .flags = QB_OP_QUANTIZABLE, .infer = conv_infer, .prepare = conv_prepare,
     .release = conv_release, .run = conv_run, .prepare_int8 = qb_conv_int8_prepare,
     .release_int8 = qb_conv_int8_release, .run_int8 = qb_conv_int8_run, .flops = conv_flops},
    {.name = "ConvTranspose", .min_opset = 1, .max_opset = 22, .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
     .attrs = convt_attrs, .flags = QB_OP_QUANTIZABLE, .infer = convt_infer, .prepare = convt_prepare,
     .release = conv_release, .run = convt_run, .prepare_int8 = qb_convt_int8_prepare,
     .release_int8 = qb_conv_int8_release, .run_int8 = qb_convt_int8_run, .flops = convt_flops},
    {.name = "BatchNormalization", .min_opset = 1, .max_opset = 22, .min_in = 5, .max_in = 5, .min_out = 1,
     .max_out = 5, .attrs = bn_attrs, .infer = bn_infer, .run = bn_run, .flops = bn_flops},
    {.name = NULL},
};
