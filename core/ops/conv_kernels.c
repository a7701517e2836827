/* Conv and ConvTranspose kernels (conv_kernels.h): im2col packing, zero-padded
 * planes, depthwise, col2im. */
#include <string.h>

#include "conv_kernels.h"

#define NR QB_SGEMM_NR

typedef qb_v8sf v8sf;

/* Kernels are written once as always-inline bodies and compiled twice: for
 * the baseline ISA and, on x86-64, for AVX2 (chosen at run time). */
#define INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_BUILD 1
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define HAVE_AVX2_BUILD 0
#endif

static int64_t i64min(int64_t a, int64_t b) { return a < b ? a : b; }

/* im2col packing for the GEMM ----------------------------------------------- */

/* d[t] = src[t] for t < n, 8 at a time */
INLINE void copy_run1(float *d, const float *src, int64_t n)
{
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        v8sf a;
        memcpy(&a, src + t, sizeof(a));
        memcpy(d + t, &a, sizeof(a));
    }
    for (; t < n; t++)
        d[t] = src[t];
}

/* d[t] = src[2 t] for t < n: the even elements of 16-float loads, the last
 * load shifted back one float so that it ends at src[2 n - 2] */
INLINE void copy_run2(float *d, const float *src, int64_t n)
{
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        v8sf a, b;
        if (t + 8 < n) {
            memcpy(&a, src + 2 * t, sizeof(a));
            memcpy(&b, src + 2 * t + 8, sizeof(b));
            a = QB_V8_EVEN(a, b);
        } else {
            if (t == 0)
                break;
            memcpy(&a, src + 2 * t - 1, sizeof(a));
            memcpy(&b, src + 2 * t + 7, sizeof(b));
            a = QB_V8_ODD(a, b);
        }
        memcpy(d + t, &a, sizeof(a));
    }
    for (; t < n; t++)
        d[t] = src[2 * t];
}

INLINE void copy_run(float *d, const float *src, int64_t sw, int64_t n)
{
    if (sw == 1)
        copy_run1(d, src, n);
    else if (sw == 2)
        copy_run2(d, src, n);
    else
        for (int64_t t = 0; t < n; t++)
            d[t] = src[t * sw];
}

#define KW_CACHE 32

/* B[k][n] = x[ch][oz*s - p + fz*d][oy*s - p + fy*d][ox*s - p + fx*d] (0 in the
 * pads), k = (ch, fz, fy, fx), n = (oz, oy, ox). Walks each k row as runs along
 * output rows; no divisions inside the loops. */
INLINE void pack_im2col_body(const struct qb_sgemm_b *b, int k0, int kc, int n0, int nc, float *dst)
{
    const struct qb_conv_im2col *c = b->ctx;
    const int64_t D = c->in[0], H = c->in[1], W = c->in[2], OH = c->out[1], OW = c->out[2];
    const int64_t KH = c->k[1], KW = c->k[2], sw = c->s[2], plane = qb_window_numel3(c->in);
    const int64_t npan = (nc + NR - 1) / NR, taps = qb_window_numel3(c->k);
    const int64_t oz0 = n0 / (OH * OW), oy0 = n0 % (OH * OW) / OW, ox0 = n0 % OW;
    int64_t xlo[KW_CACHE], xhi[KW_CACHE]; /* valid ox of each fx over a whole row */
    int64_t ch = k0 / taps, t = k0 % taps, fz = t / (KH * KW), fy = t / KW % KH, fx = t % KW;
    float row[QB_SGEMM_NC + NR]; /* columns past nc stay zero */

    memset(row + nc, 0, (size_t)(npan * NR - nc) * sizeof(float));
    for (int64_t i = 0; i < KW && i < KW_CACHE; i++)
        qb_window_taps(i * c->d[2] - c->pb[2], sw, W, OW, &xlo[i], &xhi[i]);
    for (int kk = 0; kk < kc; kk++) {
        const float *xc = c->x + ch * plane;
        int64_t j = 0, oz = oz0, oy = oy0, ox = ox0, lo_row, hi_row;
        int64_t xoff = fx * c->d[2] - c->pb[2]; /* ix = ox * sw + xoff */

        if (fx < KW_CACHE) {
            lo_row = xlo[fx];
            hi_row = xhi[fx];
        } else {
            qb_window_taps(xoff, sw, W, OW, &lo_row, &hi_row);
        }
        /* the row of B, contiguous, then its panels' slices */
        while (j < nc) {
            int64_t run = i64min(OW - ox, nc - j);
            int64_t iz = oz * c->s[0] - c->pb[0] + fz * c->d[0], iy = oy * c->s[1] - c->pb[1] + fy * c->d[1];
            if (iz < 0 || iz >= D || iy < 0 || iy >= H) {
                memset(row + j, 0, (size_t)run * sizeof(float));
            } else {
                int64_t lo = lo_row - ox, hi = hi_row - ox;
                lo = lo < 0 ? 0 : lo > run ? run : lo;
                hi = hi < lo ? lo : hi > run ? run : hi;
                for (int64_t z = 0; z < lo; z++)
                    row[j + z] = 0.0f;
                if (hi > lo)
                    copy_run(row + j + lo, xc + (iz * H + iy) * W + (ox + lo) * sw + xoff, sw, hi - lo);
                for (int64_t z = hi; z < run; z++)
                    row[j + z] = 0.0f;
            }
            j += run;
            ox = 0;
            if (++oy == OH) {
                oy = 0;
                oz++;
            }
        }
        for (int64_t p = 0; p < npan; p++)
            memcpy(dst + (size_t)(p * kc + kk) * NR, row + p * NR, NR * sizeof(float));
        if (++fx == KW) {
            fx = 0;
            if (++fy == KH) {
                fy = 0;
                if (++fz == c->k[0]) {
                    fz = 0;
                    ch++;
                }
            }
        }
    }
}

static void pack_im2col(const struct qb_sgemm_b *b, int k0, int kc, int n0, int nc, float *dst)
{
    pack_im2col_body(b, k0, kc, n0, nc, dst);
}

#if HAVE_AVX2_BUILD
TARGET_AVX2 static void pack_im2col_avx2(const struct qb_sgemm_b *b, int k0, int kc, int n0, int nc, float *dst)
{
    pack_im2col_body(b, k0, kc, n0, nc, dst);
}
#endif

void qb_conv_im2col_source(struct qb_sgemm_b *src, struct qb_conv_im2col *geo, const struct qb_conv_params *p,
                           const float *x)
{
    memset(src, 0, sizeof(*src));
    geo->x = x;
    memcpy(geo->in, p->in, sizeof(geo->in));
    memcpy(geo->out, p->out, sizeof(geo->out));
    memcpy(geo->k, p->k, sizeof(geo->k));
    memcpy(geo->s, p->s, sizeof(geo->s));
    memcpy(geo->d, p->d, sizeof(geo->d));
    memcpy(geo->pb, p->pb, sizeof(geo->pb));
    src->pack = pack_im2col;
#if HAVE_AVX2_BUILD
    if (qb_sgemm_use_avx2())
        src->pack = pack_im2col_avx2;
#endif
    src->ctx = geo;
}

/* Zero-padded planes --------------------------------------------------------- */

struct prep_job {
    const struct qb_conv_params *p;
    const float *x; /* image n */
    float *buf;
};

/* Channel ch into its hq x wq plane: the image with its pads as zeros. */
static void prep_channel(void *ctx, int ch)
{
    const struct prep_job *j = ctx;
    const struct qb_conv_params *p = j->p;
    const int64_t H = p->in[1], W = p->in[2], wq = p->wq, pl = p->pb[2];
    const float *xc = j->x + (int64_t)ch * H * W;
    float *dst = j->buf + (int64_t)ch * p->chan_floats;

    for (int64_t r = 0; r < p->hq; r++) {
        int64_t iy = r - p->pb[1];
        float *row = dst + r * wq;
        if (iy < 0 || iy >= H) {
            memset(row, 0, (size_t)wq * sizeof(float));
            continue;
        }
        memset(row, 0, (size_t)pl * sizeof(float));
        memcpy(row + pl, xc + iy * W, (size_t)W * sizeof(float));
        memset(row + pl + W, 0, (size_t)(wq - pl - W) * sizeof(float));
    }
}

void qb_conv_pad_planes(const struct qb_conv_params *p, const float *x, float *buf, struct qb_pool *pool)
{
    struct prep_job pj = {.p = p, .x = x, .buf = buf};
    qb_pool_for(p->C * p->chan_floats >= 65536 ? pool : NULL, (int)p->C, prep_channel, &pj);
    memset(buf + p->C * p->chan_floats, 0, (size_t)(p->prep_floats - p->C * p->chan_floats) * sizeof(float));
}

/* Depthwise direct kernel ----------------------------------------------------- */

struct dw_job {
    const struct qb_conv_params *p;
    const float *x, *w, *b;
    float *y;
};

/* One output element, every tap checked: bias, then the taps in (ky, kx) order
 * (the vector path below adds in the same order, so both round alike). */
INLINE float dw_point(const struct qb_conv_params *p, const float *x, const float *w, float bias, int64_t oy,
                      int64_t ox)
{
    const int64_t H = p->in[1], W = p->in[2], KH = p->k[1], KW = p->k[2];
    float acc = bias;
    for (int64_t ky = 0; ky < KH; ky++) {
        int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
        if (iy < 0 || iy >= H)
            continue;
        for (int64_t kx = 0; kx < KW; kx++) {
            int64_t ix = ox * p->s[2] - p->pb[2] + kx * p->d[2];
            if (ix >= 0 && ix < W)
                acc = acc + w[ky * KW + kx] * x[iy * W + ix];
        }
    }
    return acc;
}

/* acc += wv * x[0 .. 8) (stride 1) or the even elements of x[0 .. 16) */
INLINE void dw_tap(v8sf *acc, const v8sf *wv, const float *src, int64_t sw)
{
    v8sf a;
    qb_v8_load_s12(&a, src, sw);
    *acc = *acc + *wv * a;
}

/* One kernel row's KW taps (weights w) into 8 output columns (a0), or 32 (a0
 * to a3; a1 NULL for 8); src is the input under the first column's first tap. */
INLINE void dw_row(v8sf *a0, v8sf *a1, v8sf *a2, v8sf *a3, const float *w, const float *src, int64_t sw, int64_t KW,
                   int64_t dw)
{
    for (int64_t kx = 0; kx < KW; kx++) {
        float wt = w[kx];
        v8sf wv = {wt, wt, wt, wt, wt, wt, wt, wt};
        const float *s = src + kx * dw;
        dw_tap(a0, &wv, s, sw);
        if (a1) {
            dw_tap(a1, &wv, s + 8 * sw, sw);
            dw_tap(a2, &wv, s + 16 * sw, sw);
            dw_tap(a3, &wv, s + 24 * sw, sw);
        }
    }
}

/* y[0 .. 32) = a0 .. a3 */
INLINE void dw_store4(float *y, const v8sf *a0, const v8sf *a1, const v8sf *a2, const v8sf *a3)
{
    memcpy(y, a0, sizeof(*a0));
    memcpy(y + 8, a1, sizeof(*a1));
    memcpy(y + 16, a2, sizeof(*a2));
    memcpy(y + 24, a3, sizeof(*a3));
}

#define DW_PAD_MAX 16384 /* floats of a zero-padded plane on the stack */

/* Small planes: copied into a zero-padded buffer first, so that every column
 * runs in vectors (a pad tap adds w * 0). */
INLINE void dw_plane_padded(const struct qb_conv_params *p, const float *x, const float *w, float bias, float *y,
                            const int64_t sw, const int64_t KW, int64_t hp, int64_t wp)
{
    const int64_t H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2], KH = p->k[1];
    const int64_t dh = p->d[1], dw = p->d[2], sh = p->s[1];
    const v8sf bv = {bias, bias, bias, bias, bias, bias, bias, bias};
    float pad[DW_PAD_MAX];

    for (int64_t r = 0; r < hp; r++) {
        float *pr = pad + r * wp;
        int64_t iy = r - p->pb[1];
        memset(pr, 0, (size_t)wp * sizeof(float));
        if (iy >= 0 && iy < H)
            memcpy(pr + p->pb[2], x + iy * W, (size_t)W * sizeof(float));
    }
    for (int64_t oy = 0; oy < OH; oy++) {
        float *row = y + oy * OW;
        const float *top = pad + oy * sh * wp;
        int64_t ox = 0;
        for (; ox + 32 <= OW; ox += 32) {
            v8sf a0 = bv, a1 = bv, a2 = bv, a3 = bv;
            for (int64_t ky = 0; ky < KH; ky++)
                dw_row(&a0, &a1, &a2, &a3, w + ky * KW, top + ky * dh * wp + ox * sw, sw, KW, dw);
            dw_store4(row + ox, &a0, &a1, &a2, &a3);
        }
        for (; ox < OW; ox += 8) {
            v8sf a0 = bv;
            if (ox + 8 > OW) /* the last block overlaps the previous one: same values again */
                ox = OW - 8;
            for (int64_t ky = 0; ky < KH; ky++)
                dw_row(&a0, NULL, NULL, NULL, w + ky * KW, top + ky * dh * wp + ox * sw, sw, KW, dw);
            memcpy(row + ox, &a0, sizeof(a0));
        }
    }
}

/* Plane `item` (image n, channel c): columns whose every tap is inside the
 * image run 8 (and 32) at a time for strides 1 and 2, the rest point by point. */
INLINE void dw_plane_rows(const struct dw_job *j, int item, const int64_t sw, const int64_t KW)
{
    const struct qb_conv_params *p = j->p;
    const int64_t H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2], KH = p->k[1];
    const int64_t pw = p->pb[2], dw = p->d[2], reach = (KW - 1) * dw;
    const int64_t c = item % p->C;
    const float *x = j->x + (int64_t)item * H * W, *w = j->w + c * KH * KW;
    float *y = j->y + (int64_t)item * OH * OW;
    const float bias = j->b ? j->b[c] : 0.0f;
    const v8sf bv = {bias, bias, bias, bias, bias, bias, bias, bias};
    const int64_t hp = qb_window_extent(H, p->pb[1], p->pe[1], OH, p->s[1], KH, p->d[1]);
    const int64_t wp = qb_window_extent(W, pw, p->pe[2], OW, sw, KW, dw) + 16;
    int64_t vlo, vhi;

    if (sw <= 2 && OW >= 8 && hp * wp <= DW_PAD_MAX) {
        dw_plane_padded(p, x, w, bias, y, sw, KW, hp, wp);
        return;
    }
    qb_window_vector_cols(W, OW, sw, pw, reach, &vlo, &vhi);
    for (int64_t oy = 0; oy < OH; oy++) {
        float *row = y + oy * OW;
        int64_t ox = 0;
        for (; ox < vlo && ox < OW; ox++)
            row[ox] = dw_point(p, x, w, bias, oy, ox);
        for (; ox + 32 <= vhi; ox += 32) {
            v8sf a0 = bv, a1 = bv, a2 = bv, a3 = bv;
            for (int64_t ky = 0; ky < KH; ky++) {
                int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                if (iy >= 0 && iy < H)
                    dw_row(&a0, &a1, &a2, &a3, w + ky * KW, x + iy * W + ox * sw - pw, sw, KW, dw);
            }
            dw_store4(row + ox, &a0, &a1, &a2, &a3);
        }
        for (; ox < vhi && vhi - vlo >= 8; ox += 8) {
            v8sf a0 = bv;
            if (ox + 8 > vhi) /* the last block overlaps the previous one: same values again */
                ox = vhi - 8;
            for (int64_t ky = 0; ky < KH; ky++) {
                int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                if (iy >= 0 && iy < H)
                    dw_row(&a0, NULL, NULL, NULL, w + ky * KW, x + iy * W + ox * sw - pw, sw, KW, dw);
            }
            memcpy(row + ox, &a0, sizeof(a0));
        }
        for (; ox < OW; ox++)
            row[ox] = dw_point(p, x, w, bias, oy, ox);
    }
}

/* Constant stride and width for the common 3-wide kernels, so that the tap
 * loops unroll. */
INLINE void dw_plane_body(const struct dw_job *j, int item)
{
    int64_t sw = j->p->s[2], kw = j->p->k[2];
    if (sw == 1 && kw == 3)
        dw_plane_rows(j, item, 1, 3);
    else if (sw == 2 && kw == 3)
        dw_plane_rows(j, item, 2, 3);
    else
        dw_plane_rows(j, item, sw, kw);
}

static void dw_plane(void *ctx, int item)
{
    dw_plane_body(ctx, item);
}

#if HAVE_AVX2_BUILD
TARGET_AVX2 static void dw_plane_avx2(void *ctx, int item)
{
    dw_plane_body(ctx, item);
}
#endif

void qb_conv_depthwise(const struct qb_conv_params *p, const float *x, const float *w, const float *b, float *y,
                       struct qb_pool *pool)
{
    struct dw_job j = {.p = p, .x = x, .w = w, .b = b, .y = y};
    qb_pool_fn fn = dw_plane;
#if HAVE_AVX2_BUILD
    if (qb_sgemm_use_avx2())
        fn = dw_plane_avx2;
#endif
    qb_pool_for(pool, (int)(p->N * p->C), fn, &j);
}

/* ConvTranspose col2im ------------------------------------------------------- */

struct col2im_job {
    const struct qb_conv_params *p;
    const float *cols, *bias;
    float *y; /* image n, group g */
};

/* Output channel m of the group: bias, then every tap's column row scattered in. */
static void col2im_channel(void *ctx, int m)
{
    const struct col2im_job *j = ctx;
    const struct qb_conv_params *p = j->p;
    const int64_t ihw = qb_window_numel3(p->in), ohw = qb_window_numel3(p->out);
    const int64_t OH = p->out[1], OW = p->out[2], H = p->in[1], W = p->in[2];
    float *y = j->y + m * ohw;
    float b = j->bias ? j->bias[m] : 0.0f;

    for (int64_t i = 0; i < ohw; i++)
        y[i] = b;
    for (int64_t t = 0; t < p->taps; t++) {
        int64_t fz = t / (p->k[1] * p->k[2]), fy = t / p->k[2] % p->k[1], fx = t % p->k[2];
        const float *col = j->cols + (m * p->taps + t) * ihw;
        int64_t lo, hi, ox0 = fx * p->d[2] - p->pb[2];
        /* ox = ix * s + ox0 must land in [0, OW) */
        qb_window_taps(ox0, p->s[2], OW, W, &lo, &hi);
        if (hi <= lo)
            continue;
        for (int64_t iz = 0; iz < p->in[0]; iz++) {
            int64_t oz = iz * p->s[0] - p->pb[0] + fz * p->d[0];
            if (oz < 0 || oz >= p->out[0])
                continue;
            for (int64_t iy = 0; iy < H; iy++) {
                int64_t oy = iy * p->s[1] - p->pb[1] + fy * p->d[1];
                const float *cr = col + (iz * H + iy) * W;
                float *yr;
                if (oy < 0 || oy >= OH)
                    continue;
                yr = y + (oz * OH + oy) * OW + ox0;
                for (int64_t ix = lo; ix < hi; ix++)
                    yr[ix * p->s[2]] += cr[ix];
            }
        }
    }
}

void qb_conv_col2im(const struct qb_conv_params *p, const float *cols, const float *bias, float *y,
                    struct qb_pool *pool)
{
    struct col2im_job j = {.p = p, .cols = cols, .bias = bias, .y = y};
    qb_pool_for(pool, (int)p->mg, col2im_channel, &j);
}
