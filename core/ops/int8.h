/* The exact INT8 forms of Conv, ConvTranspose, MatMul and Gemm (op.h's
 * prepare_int8 / run_int8; the numerics are written down in core/quant.h).
 *
 * Each op has two implementations that give the same bits:
 *  - the reference: int8 operands, plain loops, int32 accumulators, then
 *    qb_quant_out() per element; obviously correct, slow;
 *  - the fast path: the quantized operands held as integer-valued floats and
 *    multiplied by the FP32 kernels (sgemm.h, conv_kernels.h). That is exact:
 *    every product is an integer of magnitude <= 128 * 128 = 2^14, and a sum of
 *    at most QB_INT8_CHUNK = 1024 of them stays within 2^24, where float32 holds
 *    every integer, whatever the order of the additions (and with or without
 *    FMA). Longer sums are cut into chunks of at most 1024 products whose exact
 *    float sums are added in int32. The epilogue converts each sum to int32 and
 *    applies qb_quant_out(), as the reference does.
 * tests/test_quant.c checks the two bit for bit on many shapes.
 *
 *     // conv.c's table:
 *     .prepare_int8 = qb_conv_int8_prepare, .release_int8 = qb_conv_int8_release,
 *     .run_int8 = qb_conv_int8_run,
 */
#ifndef QB_OPS_INT8_H
#define QB_OPS_INT8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../op.h"

/* Most int8 x int8 products a float32 sum may hold exactly (2^24 / 2^14). */
#define QB_INT8_CHUNK 1024

/* Conv and ConvTranspose (conv_int8.c); MatMul and Gemm have theirs in gemm.c. */
enum qb_status qb_conv_int8_prepare(const struct qb_graph *g, const struct qb_node *n, void **state,
                                    size_t *scratch, struct qb_error *err);
enum qb_status qb_conv_int8_run(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                                struct qb_tview *out, const struct qb_kctx *ctx);
enum qb_status qb_convt_int8_prepare(const struct qb_graph *g, const struct qb_node *n, void **state,
                                     size_t *scratch, struct qb_error *err);
enum qb_status qb_convt_int8_run(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                                 struct qb_tview *out, const struct qb_kctx *ctx);
void qb_conv_int8_release(void *state);

/* Tests and benchmarks: run the reference loops instead of the fast path
 * (process-wide; not while other threads run INT8 nodes). */
void qb_int8_force_reference(bool on);
bool qb_int8_reference_forced(void);

/* Helpers shared by the INT8 ops ------------------------------------------------ */

/* A scale an INT8 node was handed for an activation: finite and > 0. */
static inline bool qb_int8_scale_ok(float s)
{
    return s > 0.0f && s <= 3.402823466e38f;
}

/* q = qb_quant_ints / qb_quant_buffer of x, split over the pool when large. */
void qb_int8_quant_ints(struct qb_pool *pool, const float *x, float *q, size_t n, float scale);
void qb_int8_quant(struct qb_pool *pool, const float *x, int8_t *q, size_t n, float scale);

/* Chunked sums: acc[i] = (first ? 0 : acc[i]) + (int32_t)y[i] for the rows x
 * cols block at y (row stride ldy) and acc (row stride cols). */
void qb_int8_acc_add(const float *y, ptrdiff_t ldy, int32_t *acc, int64_t rows, int64_t cols, bool first,
                     struct qb_pool *pool);

/* The epilogue of a rows x cols output block:
 *     y(i, j) = qb_quant_out(acc(i, j), sr(i), sc(j), bias(i, j))
 * acc(i, j) = acc[i * cols + j], or (int32_t)y(i, j) when acc is NULL (the
 * exact float sum of one chunk); sr(i) = sr[i * srs], sc(j) = sc[j * scs]
 * (stride 0: one scale for all); bias(i, j) = beta * bias[i * brs + j * bcs]
 * in float32, or 0.0f when bias is NULL. */
struct qb_int8_epi {
    const float *sr, *sc, *bias;
    ptrdiff_t srs, scs, brs, bcs;
    float beta;
};
void qb_int8_epilogue(float *y, ptrdiff_t ldy, const int32_t *acc, int64_t rows, int64_t cols,
                      const struct qb_int8_epi *e, struct qb_pool *pool);

/* The bias term of the output expression: beta * b[at] in float32 (Conv and
 * MatMul pass beta 1), or 0.0f without a bias. */
static inline float qb_int8_bias(float beta, const float *b, ptrdiff_t at)
{
    return b ? beta * b[at] : 0.0f;
}

/* Bytes rounded up to a multiple of 64 (scratch layouts). */
static inline size_t qb_int8_round64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

#endif
