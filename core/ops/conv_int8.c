/* INT8 Conv and ConvTranspose (int8.h; numerics in core/quant.h).
 *
 * prepare quantizes constant weights per output channel once. Conv's fast path
 * (constant W, at most QB_INT8_CHUNK taps) runs the FP32 convolution kernels of
 * conv.c on integer-valued floats: the input quantized once per run, the
 * integer weights packed per group and per chunk of input channels (each chunk
 * <= QB_INT8_CHUNK products per output), chunk sums added in int32 when there
 * are several, then the epilogue. Everything else (a W computed at run time,
 * ConvTranspose, forced reference) runs the plain loops. */
#include <stdlib.h>
#include <string.h>

#include "../quant.h"
#include "conv_kernels.h"
#include "int8.h"
#include "sgemm.h"

struct conv8_state {
    int8_t *qw;          /* W quantized per output channel, W's layout; NULL when W is not constant */
    float *sw;           /* M scales */
    /* fast path */
    bool fast;
    int64_t cc;          /* input channels per chunk */
    int n_chunks;
    size_t chunk_floats; /* one packed (group, chunk) block */
    float *pa;           /* packed integer weights, [group][chunk] */
    float *wdw;          /* DEPTHWISE: integer weights as floats */
};

void qb_conv_int8_release(void *state)
{
    struct conv8_state *s = state;
    if (!s)
        return;
    free(s->qw);
    free(s->sw);
    free(s->pa);
    free(s->wdw);
    free(s);
}

static int64_t spatial_in(const struct qb_conv_params *p) { return qb_window_numel3(p->in); }
static int64_t spatial_out(const struct qb_conv_params *p) { return qb_window_numel3(p->out); }

/* W's element count: [M, Cg, taps] for Conv, [C, Mg, taps] for ConvTranspose. */
static size_t weight_count(const struct qb_conv_params *p, bool transpose)
{
    return (size_t)((transpose ? p->C * p->mg : p->M * p->cg) * p->taps);
}

static bool fast_ok(const struct conv8_state *s)
{
    return s->fast && !qb_int8_reference_forced();
}

/* Scratch of each path, from the start of the buffer. */
static size_t ref_scratch(const struct qb_conv_params *p, bool transpose, bool w_const)
{
    return qb_int8_round64((size_t)(p->N * p->C * spatial_in(p))) +
           (w_const ? 0 : qb_int8_round64(weight_count(p, transpose)));
}

static size_t fast_scratch(const struct qb_conv_params *p, const struct conv8_state *s)
{
    size_t bytes = qb_int8_round64((size_t)(p->N * p->C * spatial_in(p)) * sizeof(float));
    if (p->kind == QB_CONV_KIND_WIDE)
        bytes += qb_int8_round64((size_t)p->prep_floats * sizeof(float));
    else if (p->kind != QB_CONV_KIND_DEPTHWISE)
        bytes += qb_sgemm_scratch_size();
    if (s->n_chunks > 1)
        bytes += qb_int8_round64((size_t)(p->mg * spatial_out(p)) * sizeof(int32_t));
    return bytes;
}

static enum qb_status nomem(const struct qb_graph *g, const struct qb_node *n, struct qb_error *err)
{
    return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory quantizing the weights of node '%s'", g->path, n->name);
}

/* Packs the integer weights of every (group, chunk) for the fast path. */
static enum qb_status pack_fast(const struct qb_conv_params *p, struct conv8_state *s)
{
    const int64_t kall = p->cg * p->taps, count = p->M * kall;
    float *wf = malloc((size_t)count * sizeof(float));
    int rows = (int)p->mg;

    if (!wf)
        return QB_ERR_NOMEM;
    for (int64_t i = 0; i < count; i++)
        wf[i] = (float)s->qw[i];
    if (p->kind == QB_CONV_KIND_DEPTHWISE) {
        s->wdw = wf;
        return QB_OK;
    }
    s->cc = QB_INT8_CHUNK / p->taps;
    if (s->cc > p->cg)
        s->cc = p->cg;
    s->n_chunks = (int)((p->cg + s->cc - 1) / s->cc);
    s->chunk_floats = qb_int8_round64(qb_sgemm_pack_a_size(rows, (int)(s->cc * p->taps)) * sizeof(float)) /
                      sizeof(float);
    s->pa = aligned_alloc(64, s->chunk_floats * sizeof(float) * (size_t)(p->group * s->n_chunks));
    if (!s->pa) {
        free(wf);
        return QB_ERR_NOMEM;
    }
    for (int64_t g = 0; g < p->group; g++)
        for (int j = 0; j < s->n_chunks; j++) {
            int64_t c0 = j * s->cc, depth = (c0 + s->cc > p->cg ? p->cg - c0 : s->cc) * p->taps;
            const float *src = wf + g * p->mg * kall + c0 * p->taps;
            float *dst = s->pa + (size_t)(g * s->n_chunks + j) * s->chunk_floats;
            if (p->kind == QB_CONV_KIND_WIDE)
                qb_sgemm_pack_a_rows(rows, (int)depth, src, (ptrdiff_t)kall, 1, dst, NULL);
            else
                qb_sgemm_pack_a(rows, (int)depth, src, (ptrdiff_t)kall, 1, 1.0f, dst, NULL);
        }
    free(wf);
    return QB_OK;
}

static enum qb_status prepare_common(const struct qb_graph *g, const struct qb_node *n, bool transpose,
                                     void **state, size_t *scratch, struct qb_error *err)
{
    const struct qb_conv_params *p = n->params;
    const struct qb_value *x = qb_node_in(g, n, 0), *w = qb_node_in(g, n, 1);
    struct conv8_state *s = calloc(1, sizeof(*s));
    enum qb_status st = QB_OK;
    bool w_const = (w->flags & QB_VALUE_CONST) != 0;

    *state = NULL;
    *scratch = 0;
    if (!s)
        return nomem(g, n, err);
    if (x->flags & QB_VALUE_CONST) {
        st = qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                            "INT8 form with a constant input X (it has no calibrated range); keep it in FP16");
        goto out;
    }
    if (!(s->sw = malloc((size_t)p->M * sizeof(float)))) {
        st = nomem(g, n, err);
        goto out;
    }
    if (w_const) {
        if (!(s->qw = malloc(weight_count(p, transpose)))) {
            st = nomem(g, n, err);
            goto out;
        }
        if (transpose) /* per group, W is [Cg, Mg, taps]: output channel = axis 1 */
            for (int64_t gi = 0; gi < p->group; gi++) {
                int64_t at = gi * p->cg * p->mg * p->taps;
                qb_quant_weights((const float *)w->data + at, p->cg, p->mg, p->taps, s->qw + at, s->sw + gi * p->mg);
            }
        else
            qb_quant_weights(w->data, 1, p->M, p->cg * p->taps, s->qw, s->sw);
    }
    s->fast = !transpose && w_const && p->taps <= QB_INT8_CHUNK;
    if (s->fast && pack_fast(p, s) != QB_OK) {
        st = nomem(g, n, err);
        goto out;
    }
    *scratch = ref_scratch(p, transpose, w_const);
    if (s->fast && fast_scratch(p, s) > *scratch)
        *scratch = fast_scratch(p, s);
    *state = s;
    s = NULL;
out:
    qb_conv_int8_release(s);
    return st;
}

enum qb_status qb_conv_int8_prepare(const struct qb_graph *g, const struct qb_node *n, void **state,
                                    size_t *scratch, struct qb_error *err)
{
    return prepare_common(g, n, false, state, scratch, err);
}

enum qb_status qb_convt_int8_prepare(const struct qb_graph *g, const struct qb_node *n, void **state,
                                     size_t *scratch, struct qb_error *err)
{
    return prepare_common(g, n, true, state, scratch, err);
}

/* Reference ------------------------------------------------------------------------ */

struct ref_job {
    const struct qb_conv_params *p;
    const int8_t *qx, *qw;
    const float *sw, *bias;
    ptrdiff_t sws;       /* 0: one scale (W quantized per tensor at run time) */
    float s_in;
    float *y;
};

/* Conv, output plane `item` = (image b, channel m): every output's int32 sum
 * over the group's input channels and the kernel taps inside the image. */
static void conv_ref_plane(void *ctx, int item)
{
    const struct ref_job *j = ctx;
    const struct qb_conv_params *p = j->p;
    const int64_t b = item / p->M, m = item % p->M, c0 = m / p->mg * p->cg;
    const int64_t D = p->in[0], H = p->in[1], W = p->in[2];
    float *y = j->y + (int64_t)item * spatial_out(p);

    for (int64_t oz = 0; oz < p->out[0]; oz++)
        for (int64_t oy = 0; oy < p->out[1]; oy++)
            for (int64_t ox = 0; ox < p->out[2]; ox++) {
                uint32_t acc = 0; /* int32 arithmetic, wrapping instead of overflowing */
                for (int64_t c = 0; c < p->cg; c++)
                    for (int64_t kz = 0; kz < p->k[0]; kz++)
                        for (int64_t ky = 0; ky < p->k[1]; ky++)
                            for (int64_t kx = 0; kx < p->k[2]; kx++) {
                                int64_t iz = oz * p->s[0] - p->pb[0] + kz * p->d[0];
                                int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                                int64_t ix = ox * p->s[2] - p->pb[2] + kx * p->d[2];
                                if (iz < 0 || iz >= D || iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                acc += (uint32_t)((int32_t)j->qx[(((b * p->C + c0 + c) * D + iz) * H + iy) * W + ix] *
                                                  (int32_t)j->qw[(((m * p->cg + c) * p->k[0] + kz) * p->k[1] + ky) *
                                                                     p->k[2] + kx]);
                            }
                *y++ = qb_quant_out((int32_t)acc, j->s_in, j->sw[m * j->sws], qb_int8_bias(1.0f, j->bias, m));
            }
}

/* ConvTranspose, output plane (b, m): out[o] = sum over input positions i and
 * taps t with o = i * s - pads + t * d, gathered per output. */
static void convt_ref_plane(void *ctx, int item)
{
    const struct ref_job *j = ctx;
    const struct qb_conv_params *p = j->p;
    const int64_t b = item / p->M, m = item % p->M, g = m / p->mg, jm = m % p->mg;
    const int64_t D = p->in[0], H = p->in[1], W = p->in[2];
    float *y = j->y + (int64_t)item * spatial_out(p);

    for (int64_t oz = 0; oz < p->out[0]; oz++)
        for (int64_t oy = 0; oy < p->out[1]; oy++)
            for (int64_t ox = 0; ox < p->out[2]; ox++) {
                uint32_t acc = 0; /* int32 arithmetic, wrapping instead of overflowing */
                for (int64_t c = g * p->cg; c < (g + 1) * p->cg; c++)
                    for (int64_t kz = 0; kz < p->k[0]; kz++)
                        for (int64_t ky = 0; ky < p->k[1]; ky++)
                            for (int64_t kx = 0; kx < p->k[2]; kx++) {
                                int64_t nz = oz + p->pb[0] - kz * p->d[0], ny = oy + p->pb[1] - ky * p->d[1];
                                int64_t nx = ox + p->pb[2] - kx * p->d[2];
                                int64_t iz = nz / p->s[0], iy = ny / p->s[1], ix = nx / p->s[2];
                                if (nz < 0 || ny < 0 || nx < 0 || nz % p->s[0] || ny % p->s[1] || nx % p->s[2] ||
                                    iz >= D || iy >= H || ix >= W)
                                    continue;
                                acc += (uint32_t)((int32_t)j->qx[(((b * p->C + c) * D + iz) * H + iy) * W + ix] *
                                                  (int32_t)j->qw[(((c * p->mg + jm) * p->k[0] + kz) * p->k[1] + ky) *
                                                                     p->k[2] + kx]);
                            }
                *y++ = qb_quant_out((int32_t)acc, j->s_in, j->sw[m * j->sws], qb_int8_bias(1.0f, j->bias, m));
            }
}

static enum qb_status run_ref(const struct qb_conv_params *p, bool transpose, const struct conv8_state *s,
                              const struct qb_tview *in, const float *bias, const float *in_scale, float *y,
                              const struct qb_kctx *ctx)
{
    struct ref_job j = {.p = p, .s_in = in_scale[0], .y = y, .sw = s->sw, .sws = 1, .qw = s->qw, .bias = bias};
    int8_t *qx = ctx->scratch, *qw = (int8_t *)ctx->scratch + qb_int8_round64((size_t)(p->N * p->C * spatial_in(p)));

    if (!ctx->scratch || ctx->scratch_size < ref_scratch(p, transpose, s->qw != NULL))
        return QB_ERR_INTERNAL;
    if (!s->qw) { /* W computed at run time: per tensor, as an activation */
        if (!qb_int8_scale_ok(in_scale[1]))
            return QB_ERR_INVALID;
        qb_int8_quant(ctx->pool, in[1].data, qw, weight_count(p, transpose), in_scale[1]);
        j.qw = qw;
        j.sw = &in_scale[1];
        j.sws = 0;
    }
    qb_int8_quant(ctx->pool, in[0].data, qx, (size_t)(p->N * p->C * spatial_in(p)), in_scale[0]);
    j.qx = qx;
    qb_pool_for(ctx->pool, (int)(p->N * p->M), transpose ? convt_ref_plane : conv_ref_plane, &j);
    return QB_OK;
}

/* Fast path ------------------------------------------------------------------------- */

static enum qb_status run_fast(const struct qb_conv_params *p, const struct conv8_state *s, const float *x,
                               const float *bias, float s_in, float *y, const struct qb_kctx *ctx)
{
    const int64_t ihw = spatial_in(p), ohw = spatial_out(p);
    char *at = ctx->scratch;
    float *xf = (float *)at, *cols = NULL;
    void *gemm = NULL;
    int32_t *acc = NULL;
    size_t gemm_size = 0;

    if (!ctx->scratch || ctx->scratch_size < fast_scratch(p, s))
        return QB_ERR_INTERNAL;
    at += qb_int8_round64((size_t)(p->N * p->C * ihw) * sizeof(float));
    if (p->kind == QB_CONV_KIND_WIDE) {
        cols = (float *)at;
        at += qb_int8_round64((size_t)p->prep_floats * sizeof(float));
    } else if (p->kind != QB_CONV_KIND_DEPTHWISE) {
        gemm = at;
        gemm_size = qb_sgemm_scratch_size();
        at += gemm_size;
    }
    if (s->n_chunks > 1)
        acc = (int32_t *)at;
    qb_int8_quant_ints(ctx->pool, x, xf, (size_t)(p->N * p->C * ihw), s_in);

    if (p->kind == QB_CONV_KIND_DEPTHWISE) {
        struct qb_int8_epi e = {.sr = s->sw, .srs = 1, .sc = &s_in, .bias = bias, .brs = 1, .beta = 1.0f};
        qb_conv_depthwise(p, xf, s->wdw, NULL, y, ctx->pool);
        for (int64_t b = 0; b < p->N; b++)
            qb_int8_epilogue(y + b * p->M * ohw, ohw, NULL, p->M, ohw, &e, ctx->pool);
        return QB_OK;
    }
    for (int64_t b = 0; b < p->N; b++) {
        const float *xb = xf + b * p->C * ihw;
        if (p->kind == QB_CONV_KIND_WIDE)
            qb_conv_pad_planes(p, xb, cols, ctx->pool);
        for (int64_t g = 0; g < p->group; g++) {
            float *yg = y + (b * p->M + g * p->mg) * ohw;
            struct qb_int8_epi e = {.sr = s->sw + g * p->mg, .srs = 1, .sc = &s_in,
                                    .bias = bias ? bias + g * p->mg : NULL, .brs = 1, .beta = 1.0f};
            for (int j = 0; j < s->n_chunks; j++) {
                int64_t c0 = j * s->cc, depth = (c0 + s->cc > p->cg ? p->cg - c0 : s->cc) * p->taps;
                const float *pa = s->pa + (size_t)(g * s->n_chunks + j) * s->chunk_floats;
                const float *xg = xb + (g * p->cg + c0) * ihw;
                struct qb_conv_im2col geo;
                struct qb_sgemm_b src;
                if (p->kind == QB_CONV_KIND_WIDE) {
                    struct qb_sgemm_wrap wrap = {.wq = (int)p->wq, .ow = (int)p->out[2]};
                    qb_sgemm_rows((int)p->mg, (int)(p->out[1] * p->wq), (int)depth, pa,
                                  cols + (g * p->cg + c0) * p->chan_floats, p->off, yg, ohw, NULL, &wrap, ctx->pool);
                } else {
                    if (p->kind == QB_CONV_KIND_POINTWISE)
                        qb_sgemm_b_matrix(&src, xg, ihw, 1);
                    else
                        qb_conv_im2col_source(&src, &geo, p, xg);
                    qb_sgemm_packed((int)p->mg, (int)ohw, (int)depth, pa, &src, yg, ohw, NULL, 0, gemm, gemm_size,
                                    ctx->pool);
                }
                if (acc)
                    qb_int8_acc_add(yg, ohw, acc, p->mg, ohw, j == 0, ctx->pool);
            }
            qb_int8_epilogue(yg, ohw, acc, p->mg, ohw, &e, ctx->pool);
        }
    }
    return QB_OK;
}

enum qb_status qb_conv_int8_run(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                                struct qb_tview *out, const struct qb_kctx *ctx)
{
    const struct qb_conv_params *p = n->params;
    const struct conv8_state *s = ctx->state;
    const float *bias = n->n_in > 2 ? in[2].data : NULL;

    if (!s || !qb_int8_scale_ok(in_scale[0]))
        return QB_ERR_INVALID;
    if (fast_ok(s))
        return run_fast(p, s, in[0].data, bias, in_scale[0], out[0].data, ctx);
    return run_ref(p, false, s, in, bias, in_scale, out[0].data, ctx);
}

enum qb_status qb_convt_int8_run(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                                 struct qb_tview *out, const struct qb_kctx *ctx)
{
    const struct conv8_state *s = ctx->state;

    if (!s || !qb_int8_scale_ok(in_scale[0]))
        return QB_ERR_INVALID;
    return run_ref(n->params, true, s, in, n->n_in > 2 ? in[2].data : NULL, in_scale, out[0].data, ctx);
}
