/* Helpers shared by the eltwise, shape, reduce and resize op families:
 * threading over index ranges, numpy-style broadcasting, axis normalisation,
 * reading the small constant inputs that infer() needs (axes, shapes, pads),
 * and a fast vectorizable expf.
 *
 *     struct qb_bcast b;
 *     qb_bcast_init(&b, 2, ins, &out[0]);          // strides, merged dims
 *     qb_bcast_run(&b, ptrs, sizes, add_kernel, &params, ctx->pool);
 */
#ifndef QB_OPS_OPSUTIL_H
#define QB_OPS_OPSUTIL_H

#include <stdint.h>
#include <string.h>

#include "../op.h"

/* Elements below which a loop stays on the calling thread. */
#define QB_OPU_GRAIN 16384

/* for (i = 0; i < n; i++) BODY, in blocks of 8 so that -O2's cheap vectorizer turns
 * the body into packed instructions (it skips loops that need a scalar epilogue). */
#define QB_LOOP8(n, ...)                                                                           \
    do {                                                                                           \
        int64_t i0_ = 0;                                                                           \
        for (; i0_ + 8 <= (n); i0_ += 8)                                                           \
            for (int j_ = 0; j_ < 8; j_++) {                                                       \
                int64_t i = i0_ + j_;                                                              \
                __VA_ARGS__;                                                                       \
            }                                                                                      \
        for (; i0_ < (n); i0_++) {                                                                 \
            int64_t i = i0_;                                                                       \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    } while (0)

/* Runs fn(ctx, begin, end) over [0, n) split into chunks of at least grain items,
 * on the pool when there is more than one chunk (pool may be NULL). */
typedef void (*qb_opu_range_fn)(void *ctx, int64_t begin, int64_t end);
void qb_opu_parallel(struct qb_pool *pool, int64_t n, int64_t grain, qb_opu_range_fn fn, void *ctx);

/* memcpy split over the pool when large (no-op when dst == src). */
void qb_opu_copy(struct qb_pool *pool, void *dst, const void *src, size_t bytes);

/* Maps axis in [-rank, rank) onto [0, rank); -1 when out of range. */
int qb_opu_axis(int64_t axis, int rank);

/* Reads constant input idx (int32 or int64, rank <= 1) into out; *count = -1 when the
 * input is omitted. Not constant, wrong type or too long is an error naming `what`. */
enum qb_status qb_opu_const_ints(const struct qb_graph *g, const struct qb_node *n, int idx,
                                 const char *what, int64_t *out, int max, int *count,
                                 struct qb_error *err);
/* Same for a float (or double) constant input. */
enum qb_status qb_opu_const_floats(const struct qb_graph *g, const struct qb_node *n, int idx,
                                   const char *what, float *out, int max, int *count,
                                   struct qb_error *err);

/* Zeroed memory for a node's params in g->arena; QB_ERR_NOMEM with a message. */
enum qb_status qb_opu_alloc(struct qb_graph *g, size_t size, void **out, struct qb_error *err);

/* QB_ERR_UNSUPPORTED for dtypes without an element size (string, undefined). */
enum qb_status qb_opu_need_sized(const struct qb_graph *g, const struct qb_node *n, const struct qb_value *v,
                                 struct qb_error *err);

/* TensorProto.DataType number -> dtype; UNDEFINED for the types qbench does not
 * compute on (string, complex, bfloat16, float8 ...). */
enum qb_dtype qb_opu_onnx_dtype(int64_t t);

/* Copies shape/dtype into v (output value of a node). */
void qb_opu_set_out(struct qb_value *v, enum qb_dtype dt, int ndim, const int64_t *shape);

/* Integer and float dtypes. */
static inline int qb_opu_is_int(enum qb_dtype t)
{
    return t == QB_DTYPE_I8 || t == QB_DTYPE_U8 || t == QB_DTYPE_I16 || t == QB_DTYPE_U16 ||
           t == QB_DTYPE_I32 || t == QB_DTYPE_U32 || t == QB_DTYPE_I64 || t == QB_DTYPE_U64;
}
static inline int qb_opu_is_unsigned(enum qb_dtype t)
{
    return t == QB_DTYPE_U8 || t == QB_DTYPE_U16 || t == QB_DTYPE_U32 || t == QB_DTYPE_U64 ||
           t == QB_DTYPE_BOOL;
}

/* Scalar access to any numeric element, through one of three domains: double for
 * float types, int64 for signed and bool, uint64 for unsigned. Slow paths only. */
enum qb_num_dom { QB_NUM_F, QB_NUM_I, QB_NUM_U };
union qb_num {
    double f;
    int64_t i;
    uint64_t u;
};
enum qb_num_dom qb_num_domain(enum qb_dtype t);
union qb_num qb_num_load(enum qb_dtype t, const void *p);
/* Stores v (of domain dom) as dtype t: float->int truncates toward zero (NaN and
 * out-of-range values give the x86 'integer indefinite' then wrap), int->int wraps. */
void qb_num_store(enum qb_dtype t, void *p, union qb_num v, enum qb_num_dom dom);
double qb_num_as_double(union qb_num v, enum qb_num_dom dom);

/* IEEE half <-> float, round to nearest even. */
float qb_opu_half_to_float(uint16_t h);
uint16_t qb_opu_float_to_half(float f);

/* numpy broadcasting ------------------------------------------------------ */

#define QB_BC_MAX_IN 3

/* Broadcasts n shapes; returns 0 and the result, or -1 when they do not broadcast. */
int qb_bcast_shape(int n, const int *ndims, const int64_t *const *shapes, int *out_ndim,
                   int64_t *out_shape);

struct qb_bcast {
    int n_in, ndim;
    int64_t numel;
    int64_t shape[QB_MAX_DIMS];                  /* merged output dims, innermost last */
    int64_t stride[QB_BC_MAX_IN][QB_MAX_DIMS];   /* element strides; 0 = broadcast */
};

/* Input shapes given as (ndim, shape); out_shape must be their broadcast. */
void qb_bcast_init(struct qb_bcast *b, int n_in, const int *ndims, const int64_t *const *shapes,
                   int out_ndim, const int64_t *out_shape);

/* Kernel over one run of n output elements along the innermost merged dim: x[k]
 * points at input k's first element, xs[k] is its stride there (0 or 1). */
typedef void (*qb_bcast_fn)(void *ctx, void *y, const void *const *x, const int64_t *xs, int64_t n);

void qb_bcast_run(const struct qb_bcast *b, void *y, size_t ysize, const void *const *x,
                  const size_t *xsize, qb_bcast_fn fn, void *ctx, struct qb_pool *pool);

/* Strided gathers: out (contiguous, row-major over the dims) gets the source
 * element at sum(index[d] * stride[d]). Dims are pushed outermost first: unit
 * dims are dropped and a dim contiguous with the one before merges into it.
 *
 *     struct qb_opu_strided v = {0};
 *     for (int d = 0; d < ndim; d++)
 *         qb_opu_strided_push(&v, out_shape[d], step[d] * in_stride[d]);
 *     qb_opu_gather(&v, first, out, esize, pool);
 */
struct qb_opu_strided {
    int nd;
    int64_t len[QB_MAX_DIMS], stride[QB_MAX_DIMS]; /* element strides into the source (may be negative) */
};

void qb_opu_strided_push(struct qb_opu_strided *v, int64_t len, int64_t stride);
/* Copies the view of `in` (its first element) to out; a view with no dims is one element. */
void qb_opu_gather(const struct qb_opu_strided *v, const void *in, void *out, size_t esize, struct qb_pool *pool);

/* Permuted copy: out[i_perm] = in[i] for a row-major tensor of elements of esize bytes;
 * out dim k is in dim perm[k]. Merges dims, copies contiguous runs, tiles 2-D
 * transposes. */
void qb_opu_permute(const void *in, void *out, size_t esize, int ndim, const int64_t *shape,
                    const int *perm, struct qb_pool *pool);

/* v's sign bit set ? if_neg : if_pos, as integer bit operations: GCC keeps
 * -ftrapping-math, which stops it from if-converting a float compare-and-select
 * into vector code. -0.0 counts as negative; callers make that harmless. */
static inline float qb_opu_sel_neg(float v, float if_neg, float if_pos)
{
    uint32_t b, x, y, m;
    float r;
    memcpy(&b, &v, sizeof(b));
    memcpy(&x, &if_neg, sizeof(x));
    memcpy(&y, &if_pos, sizeof(y));
    m = 0u - (b >> 31);
    x = (x & m) | (y & ~m);
    memcpy(&r, &x, sizeof(r));
    return r;
}

/* Fast expf: Cephes-style polynomial after range reduction, within 2 ulp over the whole
 * range (subnormal results included), inlined so that loops around it vectorize. */
static inline float qb_opu_expf(float x)
{
    float t, m, nf, r, p, s1, s2;
    uint32_t bits, n1, n2;
    int32_t n;

    x = x < -104.0f ? -104.0f : x;
    x = x > 89.0f ? 89.0f : x;
    t = x * 1.44269504088896341f;
    m = t + 12582912.0f; /* 1.5 * 2^23: rounds t to an integer in m's low bits */
    nf = m - 12582912.0f;
    memcpy(&bits, &m, sizeof(bits));
    n = (int32_t)(bits - 0x4B400000u);
    r = x - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n as two factors so that n down to -150 stays exact */
    n1 = (uint32_t)(n / 2);
    n2 = (uint32_t)n - n1;
    n1 = (n1 + 127u) << 23;
    n2 = (n2 + 127u) << 23;
    memcpy(&s1, &n1, sizeof(s1));
    memcpy(&s2, &n2, sizeof(s2));
    return p * s1 * s2;
}

/* 4-lane float vectors (GCC/Clang vector extensions) for the few kernels whose
 * compare-and-select bodies GCC will not vectorize by itself (-ftrapping-math). */
typedef float qb_v4f __attribute__((vector_size(16)));
typedef int32_t qb_v4i __attribute__((vector_size(16)));
typedef uint32_t qb_v4u __attribute__((vector_size(16)));

static inline qb_v4f qb_v4_load(const float *p)
{
    qb_v4f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void qb_v4_store(float *p, qb_v4f v)
{
    memcpy(p, &v, sizeof(v));
}

/* m ? a : b per lane, m from a vector comparison (all ones or zero) */
static inline qb_v4f qb_v4_sel(qb_v4i m, qb_v4f a, qb_v4f b)
{
    return (qb_v4f)(((qb_v4i)a & m) | ((qb_v4i)b & ~m));
}

/* exp(x) for x <= 0 on a float vector type VF (uint32 lanes VU), as qb_opu_expf but
 * with one scaling step (2^(n+64) * 2^-64 stays exact down to subnormal results).
 * Defined per vector width, with ATTR naming the target ISA of wider clones. NaN
 * stays NaN; inputs above 0 are not supported. */
#define QB_DEF_VEXPF_NEG(NAME, VF, VU, ATTR)                                                      \
    static inline ATTR VF NAME(VF x)                                                               \
    {                                                                                              \
        VF t, m, nf, r, p, sc;                                                                     \
        VU n, lo = (VU)(x < -104.0f);                                                              \
        x = (VF)((lo & 0xC2D00000u) | (~lo & (VU)x)); /* max(x, -104.0f), NaN kept */             \
        t = x * 1.44269504088896341f;                                                              \
        m = t + 12582912.0f;                                                                       \
        nf = m - 12582912.0f;                                                                      \
        n = (VU)m - 0x4B400000u;                                                                   \
        r = x - nf * 0.693359375f;                                                                 \
        r = r - nf * -2.12194440e-4f;                                                              \
        p = r * 1.9875691500e-4f + 1.3981999507e-3f;                                               \
        p = p * r + 8.3334519073e-3f;                                                              \
        p = p * r + 4.1665795894e-2f;                                                              \
        p = p * r + 1.6666665459e-1f;                                                              \
        p = p * r + 5.0000001201e-1f;                                                              \
        p = p * r * r + r + 1.0f;                                                                  \
        sc = (VF)((n + (127u + 64u)) << 23);                                                       \
        return p * sc * 5.42101086242752217e-20f; /* 2^-64 */                                     \
    }

QB_DEF_VEXPF_NEG(qb_v4_expf_neg, qb_v4f, qb_v4u, )

/* 8-lane AVX2 clones on x86-64, chosen at run time with qb_opu_avx2() */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QB_OPU_HAVE_AVX2 1
#define QB_OPU_AVX2 __attribute__((target("avx2")))
typedef float qb_v8f __attribute__((vector_size(32)));
typedef uint32_t qb_v8u __attribute__((vector_size(32)));
QB_DEF_VEXPF_NEG(qb_v8_expf_neg, qb_v8f, qb_v8u, QB_OPU_AVX2)
static inline int qb_opu_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}
#endif

#endif
