/* INT8 quantization and FP16 rounding: the normative numerics of DESIGN.md
 * ("Numerics") that the CPU simulation, the Vulkan engine and the Q/DQ export
 * share. Everything here is plain float32 arithmetic with one rounding per
 * operation (no FMA contraction: qbench builds C11, where GCC does not contract).
 *
 *     float s = qb_quant_scale(amax);          // amax / 127, made safe
 *     int8_t q = qb_quant_value(x, s);         // clamp(rne(x / s), -128, 127)
 *     qb_quant_fake(x, y, n, s);               // y = q * s (generic INT8 nodes)
 *     qb_quant_weights(w, 1, M, K, qw, s_w);   // per output channel (rows of W)
 *     y = qb_quant_out(acc, s, s_w[c], b[c]);  // what an INT8 Conv/MatMul/Gemm writes
 *     qb_fp16_round(y, y, n);                  // what every FP16 or INT8 node stores
 *
 * The INT8 form of Conv, ConvTranspose, MatMul and Gemm (core/ops/int8.h):
 *   - each activation input is quantized per tensor: q = qb_quant_value(x, s_in),
 *     s_in = qb_quant_scale(amax): q = clamp(rne(x / s_in), -128, 127), the
 *     division in float32 (as TensorRT's Q computes x / scale), rne = round half
 *     to even whatever the FPU rounding mode, NaN -> 0, +-inf -> 127 / -128;
 *   - constant weights per output channel c: s_w[c] = qb_quant_scale(max|w_c|),
 *     q_w = qb_quant_value(w, s_w[c]) (in [-127, 127]); Conv's channel is W's
 *     axis 0, ConvTranspose's is axis 1 within each group;
 *   - acc = sum of q_x * q_w in int32 (exact; it would wrap modulo 2^32 only
 *     past 131072 products per output);
 *   - the output, in float32, two roundings, in this order:
 *
 *         y = (float)acc * (s_in * s_w[c]) + bias[c]
 *
 *     where (float)acc rounds to nearest (exact up to 2^24), s_in * s_w[c] is
 *     one float32 product (qb_quant_out() spells it), and bias[c] is 0.0f when
 *     the node has no bias (so a zero acc gives +0.0f). The executor then
 *     rounds y to FP16.
 *   - MatMul and Gemm, output (i, j): the scale is s_a(i) * s_b(j), s_a the
 *     per-tensor scale of an activation A or the row scale of a constant A
 *     (quantized per row), s_b likewise per tensor or per output column of a
 *     constant B. Gemm folds alpha into s_b first (s_b := alpha * s_b in
 *     float32, skipped when alpha is 1) and its bias is beta * C(i, j) in
 *     float32 (0.0f without C or with beta 0). With the usual activation A and
 *     constant B this is the expression above with s_in = s_a, c = j.
 *   - an operand that is neither (a Conv W computed at run time) is quantized
 *     per tensor with the executor's scale, as an activation.
 */
#ifndef QB_QUANT_H
#define QB_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define QB_QUANT_QMAX 127.0f

/* Scale of a symmetric INT8 quantization of values within [-amax, amax]:
 * amax / 127 in float32. Never 0, inf or subnormal, so that dividing by it is
 * safe on every device (GPUs flush subnormals):
 *   - amax +inf: FLT_MAX / 127 (the largest finite amax);
 *   - amax <= 0, NaN, or so small that amax / 127 is below FLT_MIN: 1.0f
 *     (the convention of onnxruntime's and pytorch-quantization's calibrators
 *     for a zero range): a tensor calibrated as zero quantizes to zeros, and so
 *     does an all-zero tensor whatever its scale. */
float qb_quant_scale(float amax);

/* rne(x / scale) as an integer clamped to [lo, hi] (lo <= 0 <= hi, both exact
 * in float32); NaN gives 0. Division in float32, round half to even computed
 * explicitly (no dependence on the FPU rounding mode). */
static inline int32_t qb_quant_round(float x, float scale, int32_t lo, int32_t hi)
{
    float v = x / scale, r;
    int32_t i;

    if (v != v)
        return 0;
    if (v <= (float)lo)
        return lo;
    if (v >= (float)hi)
        return hi;
    i = (int32_t)v; /* truncates toward zero; |v| < 2^31 here */
    r = v - (float)i; /* exact */
    if (r > 0.5f || (r == 0.5f && (i & 1)))
        i++;
    else if (r < -0.5f || (r == -0.5f && (i & 1)))
        i--;
    return i;
}

/* The INT8 quantization: clamp(rne(x / scale), -128, 127), NaN -> 0. */
static inline int8_t qb_quant_value(float x, float scale)
{
    return (int8_t)qb_quant_round(x, scale, -128, 127);
}

/* The INT8 output expression above: (float)acc * (s_in * s_w) + bias. */
static inline float qb_quant_out(int32_t acc, float s_in, float s_w, float bias)
{
    float s = s_in * s_w;
    float t = (float)acc * s;
    return t + bias;
}

/* q[i] = qb_quant_value(x[i], scale). */
void qb_quant_buffer(const float *x, int8_t *q, size_t n, float scale);
/* y[i] = (float)q[i] * scale, q = qb_quant_value(x[i], scale): what a generic
 * INT8 node reads. In place (y == x) is fine. */
void qb_quant_fake(const float *x, float *y, size_t n, float scale);
/* q[i] = (float)qb_quant_value(x[i], scale): the integers themselves as floats
 * (the exact INT8 kernels run on those). In place is fine. */
void qb_quant_ints(const float *x, float *q, size_t n, float scale);

/* Per-channel quantization of a tensor viewed as [outer, ch, inner], channel c
 * being x[o][c][i] for all o, i (Conv W: outer 1, ch M; a [K, N] MatMul B:
 * outer K, ch N, inner 1; ONNX's `axis` form). */
/* amax[c] = max |x[o][c][i]| (NaN ignored; 0 for an all-zero channel). */
void qb_quant_amax_axis(const float *x, int64_t outer, int64_t ch, int64_t inner, float *amax);
/* q[o][c][i] = qb_quant_value(x[o][c][i], scale[c]). */
void qb_quant_axis(const float *x, int64_t outer, int64_t ch, int64_t inner, const float *scale, int8_t *q);
/* Symmetric per-channel weights: scale[c] = qb_quant_scale(amax[c]), then q as
 * above (an all-zero channel gets scale 1 and zeros). q may be NULL. */
void qb_quant_weights(const float *w, int64_t outer, int64_t ch, int64_t inner, int8_t *q, float *scale);

/* FP16 rounding of float32 values: y[i] = half_to_float(float_to_half(x[i])),
 * round to nearest even, overflow to +-inf, subnormal halves kept, NaN stays NaN
 * (quieted, payload truncated), bit for bit as qb_opu_float_to_half /
 * qb_opu_half_to_float. F16C where the CPU has it. In place is fine. */
void qb_fp16_round(const float *x, float *y, size_t n);
/* Which FP16 rounding path runs: "f16c" or "generic"; tests may force the
 * portable one (process-wide; not while other threads round). */
const char *qb_fp16_isa(void);
void qb_fp16_force_generic(int on);

#endif
