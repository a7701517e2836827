/* The spatial window that Conv, ConvTranspose, MaxPool and AveragePool share:
 * the attributes kernel_shape, strides, dilations, pads and auto_pad, parsed
 * and range-checked once here, the output size of a dim under auto_pad, and
 * the small (D, H, W) geometry helpers their kernels use. Spatial dims are
 * held as three, D, H and W; lower ranks lead with 1s.
 *
 *     struct qb_window w;                      // pools: kernel_shape required
 *     st = qb_window_parse(g, n, x->ndim - 2, NULL, &w, err);
 *     for (int i = 0; i < w.nsp; i++) {
 *         int64_t pb = w.pads[i], pe = w.pads[w.nsp + i], o;
 *         st = qb_window_out(g, n, w.ap, x->shape[2 + i], w.s[i], (w.k[i] - 1) * w.d[i] + 1, &pb, &pe, &o, err);
 *     }
 */
#ifndef QB_OPS_WINDOW_H
#define QB_OPS_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "../op.h"

#define QB_WINDOW_SP 3                          /* spatial dims held as (D, H, W) */
#define QB_WINDOW_DIM_MAX ((int64_t)1 << 24)    /* kernel, stride, dilation, pad limit */

enum qb_auto_pad {
    QB_AUTO_PAD_NOTSET,
    QB_AUTO_PAD_SAME_UPPER,
    QB_AUTO_PAD_SAME_LOWER,
    QB_AUTO_PAD_VALID,
    QB_AUTO_PAD_COUNT
};

/* The attributes as written: nsp values each, 2 * nsp pads (all begins, then all ends). */
struct qb_window {
    int nsp;
    enum qb_auto_pad ap;
    int64_t k[QB_WINDOW_SP], s[QB_WINDOW_SP], d[QB_WINDOW_SP], pads[2 * QB_WINDOW_SP];
};

/* Reads an ints attribute of exactly `want` (<= 2 * QB_WINDOW_SP) values into
 * out, each in [lo, QB_WINDOW_DIM_MAX]; absent: dflt for all. */
enum qb_status qb_window_ints(const struct qb_graph *g, const struct qb_node *n, const char *name, int want,
                              int64_t dflt, int64_t lo, int64_t *out, struct qb_error *err);

/* kernel_shape, strides, dilations, pads and auto_pad of a window of nsp dims.
 * kernel NULL: kernel_shape is required (pools); else kernel_shape is optional
 * and must equal kernel (Conv: W's spatial dims), which w->k gets. */
enum qb_status qb_window_parse(const struct qb_graph *g, const struct qb_node *n, int nsp, const int64_t *kernel,
                               struct qb_window *w, struct qb_error *err);

/* Output size *o of one dim of `in` with stride s and dilated kernel extent dk
 * (floor mode). *pb, *pe hold the explicit pads and get the ones auto_pad
 * chooses: VALID none, SAME_UPPER/SAME_LOWER ceil(in / s) outputs with the odd
 * pad at the end/start. A kernel beyond the padded input is an error. */
enum qb_status qb_window_out(const struct qb_graph *g, const struct qb_node *n, enum qb_auto_pad ap, int64_t in,
                             int64_t s, int64_t dk, int64_t *pb, int64_t *pe, int64_t *o, struct qb_error *err);

static inline bool qb_window_same(enum qb_auto_pad ap)
{
    return ap == QB_AUTO_PAD_SAME_UPPER || ap == QB_AUTO_PAD_SAME_LOWER;
}

/* t in [lo, hi) are the t < T with 0 <= t * s + o < L (s >= 1). */
static inline void qb_window_taps(int64_t o, int64_t s, int64_t L, int64_t T, int64_t *lo, int64_t *hi)
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

/* Extent of one dim of a padded plane that every window reads: the padded
 * input, or further when the last window reaches past it. */
static inline int64_t qb_window_extent(int64_t in, int64_t pb, int64_t pe, int64_t out, int64_t s, int64_t k,
                                       int64_t d)
{
    int64_t a = in + pb + pe, b = (out - 1) * s + (k - 1) * d + 1;
    return a > b ? a : b;
}

/* Output columns [*vlo, *vhi) of a row (W wide, left pad pw, stride sw, taps
 * reaching `reach` past the first) whose every tap lies in the row, also when
 * a stride-2 load reads sw floats per lane: the ones 8-lane vectors can run
 * unchecked. None for strides above 2. */
static inline void qb_window_vector_cols(int64_t W, int64_t OW, int64_t sw, int64_t pw, int64_t reach, int64_t *vlo,
                                         int64_t *vhi)
{
    int64_t lo = (pw + sw - 1) / sw, hi = W - sw - reach + pw >= 0 ? (W - sw - reach + pw) / sw + 1 : 0;
    if (sw > 2 || hi > OW)
        hi = sw > 2 ? 0 : OW;
    if (hi < lo)
        hi = lo;
    *vlo = lo;
    *vhi = hi;
}

static inline int64_t qb_window_numel3(const int64_t *dims) { return dims[0] * dims[1] * dims[2]; }

/* qb_window_numel3(dims) <= max, without overflowing (dims >= 1, max >= 1) */
static inline bool qb_window_numel3_le(const int64_t *dims, int64_t max)
{
    return dims[0] <= max && dims[1] <= max / dims[0] && dims[2] <= max / (dims[0] * dims[1]);
}

#endif
