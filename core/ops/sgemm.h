/* The shared FP32 matrix multiply behind Conv, ConvTranspose, MatMul and Gemm.
 *
 *     C[M x N] = A[M x K] . B[K x N] (+ bias[row]) (+ C when QB_SGEMM_ACCUMULATE)
 *
 * A is packed once into row panels (weights: in an op's prepare(); activations:
 * at run time into scratch). B comes either from a source that packs column
 * panels on demand (a matrix, or a convolution's im2col panels packed straight
 * from the image), or, for the offset-row variant, is read in place: row k of
 * B starts at b + off[k] (a stride-1 convolution over a zero-padded image). The
 * kernel is register-blocked (QB_SGEMM_MR x QB_SGEMM_NR), cache-blocked over K
 * and N, and the columns (or rows) are split into items that the pool's threads
 * take; an AVX2+FMA kernel is chosen at run time where the CPU has it.
 *
 *     float *pa = malloc(qb_sgemm_pack_a_size(M, K) * sizeof(float));
 *     qb_sgemm_pack_a(M, K, w, K, 1, 1.0f, pa, NULL);      // row-major weights
 *     struct qb_sgemm_b src;
 *     qb_sgemm_b_matrix(&src, x, N, 1);                     // row-major B
 *     qb_sgemm_packed(M, N, K, pa, &src, y, N, bias, 0, scratch,
 *                     qb_sgemm_scratch_size(), pool);
 *
 * Results do not depend on the thread count: every element of C is summed in
 * the same order whichever thread computes it.
 */
#ifndef QB_SGEMM_H
#define QB_SGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../threadpool.h"

#define QB_SGEMM_MR 4      /* rows of A per packed panel */
#define QB_SGEMM_NR 24     /* columns of B per packed panel */
#define QB_SGEMM_NC (8 * QB_SGEMM_NR) /* most columns a B source packs at once */
#define QB_SGEMM_SLOTS 8   /* B buffers in qb_sgemm_scratch_size(): threads beyond share work coarser */

/* Packed A ----------------------------------------------------------------- */

/* Floats needed for a packed M x K matrix. */
size_t qb_sgemm_pack_a_size(int M, int K);
/* Packs alpha * A, where A(i, k) = a[i * rs + k * cs]. dst must hold
 * qb_sgemm_pack_a_size(M, K) floats; pool may be NULL. */
void qb_sgemm_pack_a(int M, int K, const float *a, ptrdiff_t rs, ptrdiff_t cs, float alpha, float *dst,
                     struct qb_pool *pool);

/* B sources ---------------------------------------------------------------- */

struct qb_sgemm_b;
/* Writes B[k0 .. k0+kc, n0 .. n0+nc) as ceil(nc / NR) panels of kc x NR floats
 * (panel p at dst + p * kc * NR, row-major within the panel, columns past nc zero). */
typedef void (*qb_sgemm_pack_b_fn)(const struct qb_sgemm_b *b, int k0, int kc, int n0, int nc, float *dst);

struct qb_sgemm_b {
    qb_sgemm_pack_b_fn pack;
    const float *data;     /* matrix source: B(k, n) = data[k * rs + n * cs] */
    ptrdiff_t rs, cs;
    const void *ctx;       /* other sources (a convolution's im2col geometry) */
};

void qb_sgemm_b_matrix(struct qb_sgemm_b *b, const float *data, ptrdiff_t rs, ptrdiff_t cs);

/* Multiply ------------------------------------------------------------------- */

enum qb_sgemm_flags {
    QB_SGEMM_ACCUMULATE = 1u << 0, /* add to C instead of overwriting it */
};

/* Bytes of scratch qb_sgemm_packed() uses at most (one B buffer per slot). */
size_t qb_sgemm_scratch_size(void);

/* C(i, j) = c[i * ldc + j]; bias (NULL or M floats) is added once per row.
 * scratch: 64-byte aligned, scratch_size bytes (fewer bytes, fewer threads;
 * at least one slot's worth is required). */
void qb_sgemm_packed(int M, int N, int K, const float *pa, const struct qb_sgemm_b *b, float *c, ptrdiff_t ldc,
                     const float *bias, unsigned flags, void *scratch, size_t scratch_size, struct qb_pool *pool);

/* Wrapped output, for convolutions computed on a padded-width grid: logical
 * column n = r * wq + x is C's column r * ow + x when x < ow and is dropped
 * otherwise (wq >= ow). */
struct qb_sgemm_wrap {
    int wq, ow;
};

/* Offset-row GEMM, for convolutions that need no im2col: B(k, n) = b[off[k] + n]
 * for n < N, read in place. A is packed by qb_sgemm_pack_a_rows() (same size as
 * qb_sgemm_pack_a(), another layout). wrap may be NULL. No scratch. */
void qb_sgemm_pack_a_rows(int M, int K, const float *a, ptrdiff_t rs, ptrdiff_t cs, float *dst, struct qb_pool *pool);
void qb_sgemm_rows(int M, int N, int K, const float *pa, const float *b, const int64_t *off, float *c, ptrdiff_t ldc,
                   const float *bias, const struct qb_sgemm_wrap *wrap, struct qb_pool *pool);

/* Convenience for row-major operands that are not packed yet:
 * C = A[M x K] (lda) . B[K x N] (ldb) (+ bias). Scratch: qb_sgemm_plain_scratch_size(M, K). */
size_t qb_sgemm_plain_scratch_size(int M, int K);
void qb_sgemm(int M, int N, int K, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
              ptrdiff_t ldc, const float *bias, void *scratch, size_t scratch_size, struct qb_pool *pool);

/* Which kernel runs: "avx2" or "generic". Tests and benchmarks may force the
 * portable one (process-wide; not while other threads multiply). */
const char *qb_sgemm_isa(void);
/* True when the AVX2+FMA kernels run (for other kernels that dispatch alike). */
bool qb_sgemm_use_avx2(void);
void qb_sgemm_force_generic(bool on);

#endif
