/* INT8 quantization and FP16 rounding (quant.h). Each bulk loop has a portable
 * body and, on x86-64, a vector clone chosen at run time: AVX2 for the
 * quantization (roundps with an explicit round-to-nearest-even, so the FPU mode
 * does not matter), F16C for the FP16 rounding. Both agree bit for bit with the
 * scalar definitions in quant.h and ops/opsutil.c (tests/test_quant.c). */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define HAVE_X86 0
#endif

float qb_quant_scale(float amax)
{
    float s;

    if (amax != amax || amax <= 0.0f)
        return 1.0f;
    if (amax > FLT_MAX)
        amax = FLT_MAX;
    s = amax / QB_QUANT_QMAX;
    return s < FLT_MIN ? 1.0f : s;
}

/* Bulk quantization ---------------------------------------------------------- */

enum qout { QOUT_INT8, QOUT_FAKE, QOUT_INTS };

static void quant_generic(const float *x, void *out, size_t n, float scale, enum qout kind)
{
    for (size_t i = 0; i < n; i++) {
        int8_t q = qb_quant_value(x[i], scale);
        if (kind == QOUT_INT8)
            ((int8_t *)out)[i] = q;
        else if (kind == QOUT_FAKE)
            ((float *)out)[i] = (float)q * scale;
        else
            ((float *)out)[i] = (float)q;
    }
}

#if HAVE_X86
__attribute__((target("avx2"))) static void quant_avx2(const float *x, void *out, size_t n, float scale,
                                                       enum qout kind)
{
    const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN -> 0 */
        r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
        r = _mm256_add_ps(r, zero); /* -0 -> +0, as (float)(int8_t)0 */
        if (kind == QOUT_INT8) {
            __m256i q = _mm256_cvttps_epi32(r);
            __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            _mm_storel_epi64((__m128i *)((int8_t *)out + i), _mm_packs_epi16(h, h));
        } else {
            _mm256_storeu_ps((float *)out + i, kind == QOUT_FAKE ? _mm256_mul_ps(r, s) : r);
        }
    }
    if (i < n)
        quant_generic(x + i, kind == QOUT_INT8 ? (void *)((int8_t *)out + i) : (void *)((float *)out + i), n - i,
                      scale, kind);
}
#endif

static void quant_bulk(const float *x, void *out, size_t n, float scale, enum qout kind)
{
#if HAVE_X86
    if (__builtin_cpu_supports("avx2")) {
        quant_avx2(x, out, n, scale, kind);
        return;
    }
#endif
    quant_generic(x, out, n, scale, kind);
}

void qb_quant_buffer(const float *x, int8_t *q, size_t n, float scale)
{
    quant_bulk(x, q, n, scale, QOUT_INT8);
}

void qb_quant_fake(const float *x, float *y, size_t n, float scale)
{
    quant_bulk(x, y, n, scale, QOUT_FAKE);
}

void qb_quant_ints(const float *x, float *q, size_t n, float scale)
{
    quant_bulk(x, q, n, scale, QOUT_INTS);
}

/* Per channel ------------------------------------------------------------------ */

void qb_quant_amax_axis(const float *x, int64_t outer, int64_t ch, int64_t inner, float *amax)
{
    for (int64_t c = 0; c < ch; c++)
        amax[c] = 0.0f;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            const float *p = x + (o * ch + c) * inner;
            float m = amax[c];
            for (int64_t i = 0; i < inner; i++) {
                float a = fabsf(p[i]);
                m = a > m ? a : m; /* NaN compares false: ignored */
            }
            amax[c] = m;
        }
}

void qb_quant_axis(const float *x, int64_t outer, int64_t ch, int64_t inner, const float *scale, int8_t *q)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            int64_t at = (o * ch + c) * inner;
            qb_quant_buffer(x + at, q + at, (size_t)inner, scale[c]);
        }
}

void qb_quant_weights(const float *w, int64_t outer, int64_t ch, int64_t inner, int8_t *q, float *scale)
{
    qb_quant_amax_axis(w, outer, ch, inner, scale);
    for (int64_t c = 0; c < ch; c++)
        scale[c] = qb_quant_scale(scale[c]);
    if (q)
        qb_quant_axis(w, outer, ch, inner, scale, q);
}

/* FP16 rounding ------------------------------------------------------------------ */

/* float -> half -> float in one step on the float's bits (ops/opsutil.c spells
 * out the two conversions; this agrees with them on every bit pattern). */
static inline float fp16_round1(float f)
{
    uint32_t b, sign, a;

    memcpy(&b, &f, sizeof(b));
    sign = b & 0x80000000u;
    a = b ^ sign;
    if (a > 0x7F800000u) {                 /* NaN: quieted, payload cut to 10 bits */
        a = 0x7FC00000u | (a & 0x007FE000u);
    } else if (a >= 0x477FF000u) {         /* >= 65520 (and inf): +-inf */
        a = 0x7F800000u;
    } else if (a >= 0x38800000u) {         /* >= 2^-14: a normal half, 10 mantissa bits */
        a = (a + 0x0FFFu + ((a >> 13) & 1u)) & ~0x1FFFu;
    } else {                               /* a subnormal half: multiples of 2^-24 */
        uint32_t e = a >> 23, m = (a & 0x7FFFFFu) | 0x800000u, q = 0;
        if (e >= 102) {                    /* below, under half of 2^-24: zero */
            uint32_t shift = 126 - e, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
            q = m >> shift;
            if (rest > half || (rest == half && (q & 1u)))
                q++;
        }
        f = (float)q * 5.9604644775390625e-8f; /* q * 2^-24, exact */
        memcpy(&a, &f, sizeof(a));
    }
    b = a | sign;
    memcpy(&f, &b, sizeof(f));
    return f;
}

static void fp16_generic(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fp16_round1(x[i]);
}

#if HAVE_X86
__attribute__((target("avx,f16c"))) static void fp16_f16c(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(t, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(t), _MM_FROUND_TO_NEAREST_INT)));
        memcpy(y + i, t, (n - i) * sizeof(float));
    }
}
#endif

static atomic_int fp16_force_generic;

static int use_f16c(void)
{
#if HAVE_X86
    unsigned a, b, c, d; /* F16C from CPUID leaf 1 (ECX bit 29): clang 14 has no "f16c" for __builtin_cpu_supports */
    return !atomic_load_explicit(&fp16_force_generic, memory_order_relaxed) && __builtin_cpu_supports("avx") &&
           __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
#else
    return 0;
#endif
}

void qb_fp16_round(const float *x, float *y, size_t n)
{
#if HAVE_X86
    if (use_f16c()) {
        fp16_f16c(x, y, n);
        return;
    }
#endif
    fp16_generic(x, y, n);
}

const char *qb_fp16_isa(void)
{
    return use_f16c() ? "f16c" : "generic";
}

void qb_fp16_force_generic(int on)
{
    atomic_store(&fp16_force_generic, on ? 1 : 0);
}
