/* The kernels behind Conv and ConvTranspose (conv.c, which parses the
 * attributes, chooses the kind and packs the weights): im2col panels packed
 * straight from the image as a GEMM B source, zero-padded planes for the
 * offset-row GEMM, the direct depthwise kernel and ConvTranspose's col2im
 * scatter. Each picks its AVX2 clone at run time (qb_sgemm_use_avx2()).
 * Also the 8-lane vector helpers that pool.c shares.
 *
 *     struct qb_conv_im2col geo;              // must outlive src
 *     struct qb_sgemm_b src;
 *     qb_conv_im2col_source(&src, &geo, p, x_of_image_and_group);
 *     qb_sgemm_packed(p->mg, ohw, p->cg * p->taps, pa, &src, y, ohw, bias, 0, ...);
 */
#ifndef QB_OPS_CONV_KERNELS_H
#define QB_OPS_CONV_KERNELS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../threadpool.h"
#include "sgemm.h"
#include "window.h" /* QB_WINDOW_SP: spatial dims held as (D, H, W) */

/* GEMM: im2col panels packed from the image (any geometry);
 * WIDE: stride 1: the image is first copied into zero-padded planes, where
 *       every kernel tap's im2col row is one contiguous run read in place: the
 *       GEMM runs on a grid wq wide (a few wasted columns per output row);
 * POINTWISE: 1x1, stride 1, no pads: the image is B;
 * DEPTHWISE: one input and one output channel per group, direct. */
enum qb_conv_kind {
    QB_CONV_KIND_GEMM,
    QB_CONV_KIND_WIDE,
    QB_CONV_KIND_POINTWISE,
    QB_CONV_KIND_DEPTHWISE,
    QB_CONV_KIND_COUNT
};

/* Geometry of a Conv or ConvTranspose node, set by infer() (n->params). For
 * ConvTranspose, in/out are those of the node: the scatter goes in to out. */
struct qb_conv_params {
    int nsp;
    enum qb_conv_kind kind;
    int64_t N, C, M, group, cg, mg, taps;
    int64_t in[QB_WINDOW_SP], out[QB_WINDOW_SP], k[QB_WINDOW_SP], s[QB_WINDOW_SP], d[QB_WINDOW_SP];
    int64_t pb[QB_WINDOW_SP], pe[QB_WINDOW_SP];
    /* WIDE: padded planes hq x wq; row k of B (channel k / taps of the
     * group, tap k % taps) starts off[k] floats into the group's first plane */
    int64_t hq, wq, chan_floats, prep_floats;
    int64_t *off;
};

/* im2col B source: B[k][n] = x[ch][oz*s - p + fz*d][oy*s - p + fy*d][ox*s - p + fx*d]
 * (0 in the pads), k = (ch, fz, fy, fx) of the group, n = (oz, oy, ox). */
struct qb_conv_im2col {
    const float *x; /* image n, first channel of the group */
    int64_t in[QB_WINDOW_SP], out[QB_WINDOW_SP], k[QB_WINDOW_SP], s[QB_WINDOW_SP], d[QB_WINDOW_SP], pb[QB_WINDOW_SP];
};
/* Fills geo from p and x and points src at it (src->ctx = geo). */
void qb_conv_im2col_source(struct qb_sgemm_b *src, struct qb_conv_im2col *geo, const struct qb_conv_params *p,
                           const float *x);

/* WIDE: the C channels of image x into their hq x wq zero-padded planes in buf
 * (p->prep_floats floats, the slack after the last plane zeroed too). */
void qb_conv_pad_planes(const struct qb_conv_params *p, const float *x, float *buf, struct qb_pool *pool);

/* DEPTHWISE (1-D/2-D): y = conv(x, w) + b over all N*C planes; b may be NULL. */
void qb_conv_depthwise(const struct qb_conv_params *p, const float *x, const float *w, const float *b, float *y,
                       struct qb_pool *pool);

/* ConvTranspose of one image and group: y (mg output planes) = bias, then the
 * column buffer (mg*taps rows of spatial_in floats) scattered in. bias may be NULL. */
void qb_conv_col2im(const struct qb_conv_params *p, const float *cols, const float *bias, float *y,
                    struct qb_pool *pool);

/* 8-lane vectors: the even (or odd) lanes of the 16 floats of a, b. GCC 12 and
 * clang have __builtin_shufflevector; older GCC only __builtin_shuffle. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define QB_V8_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define QB_V8_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#else
typedef int qb_v8_lanes __attribute__((vector_size(32)));
#define QB_V8_EVEN(a, b) __builtin_shuffle(a, b, (qb_v8_lanes){0, 2, 4, 6, 8, 10, 12, 14})
#define QB_V8_ODD(a, b) __builtin_shuffle(a, b, (qb_v8_lanes){1, 3, 5, 7, 9, 11, 13, 15})
#endif

typedef float qb_v8sf __attribute__((vector_size(32)));

/* *v = the 8 floats of a row at stride sw, 1 or 2: src[0 .. 8) or the even
 * elements of src[0 .. 16). Inlined into each ISA clone of the kernels. */
static inline __attribute__((always_inline)) void qb_v8_load_s12(qb_v8sf *v, const float *src, int64_t sw)
{
    qb_v8sf b;
    memcpy(v, src, sizeof(*v));
    if (sw != 1) {
        memcpy(&b, src + 8, sizeof(b));
        *v = QB_V8_EVEN(*v, b);
    }
}

#endif
