/* Blocked FP32 GEMM: packed A row panels (MR x kc), packed B column panels
 * (kc x NR), an MR x NR register-blocked micro-kernel, and a thread split over
 * column (or row) ranges. See sgemm.h. */
#include "sgemm.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86 1
#include <immintrin.h>
#else
#define HAVE_X86 0
#endif

#define MR QB_SGEMM_MR
#define NR QB_SGEMM_NR
#define KC_MAX 256         /* K block: a kc x NR panel of B stays in L1 */
#define NC_MAX QB_SGEMM_NC /* columns of B packed per block */
#define MC_PANELS 64       /* A panels swept per B panel (MC_PANELS*MR x kc in L2) */
#define SLOT_FLOATS ((size_t)KC_MAX * NC_MAX)
#define MIN_PARALLEL_MACS (1 << 17)

typedef void (*kern_fn)(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int mr, int nr,
                        const float *bias, int load_c);

static int imin(int a, int b) { return a < b ? a : b; }

/* K is split into nkb blocks of kcb (the last one shorter); the packed-A
 * layout depends on this, so it is a function of K alone. */
static void k_blocks(int K, int *nkb, int *kcb)
{
    int n = (K + KC_MAX - 1) / KC_MAX;
    if (n < 1)
        n = 1;
    *nkb = n;
    *kcb = (K + n - 1) / n;
}

static int m_panels(int M) { return (M + MR - 1) / MR; }

/* Micro-kernels ------------------------------------------------------------ */

/* Writes an MR x NR tile to C: t = acc (+ C) (+ bias), in that order on every path. */
static void store_tile(const float *acc, float *c, ptrdiff_t ldc, int mr, int nr, const float *bias, int load_c)
{
    for (int i = 0; i < mr; i++) {
        float *cr = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            float t = acc[i * NR + j];
            if (load_c)
                t = t + cr[j];
            if (bias)
                t = t + bias[i];
            cr[j] = t;
        }
    }
}

typedef float v4sf __attribute__((vector_size(16)));

/* tile (MR x NR) = A panel a (K x MR) times K rows of B: row k at b + off[k],
 * of which only the first nr lanes are read (off NULL: packed, b + k * NR). */
static inline __attribute__((always_inline)) void tile_generic(int K, const float *a, const float *b,
                                                               const int64_t *off, int nr, float *tile)
{
    v4sf acc[MR][NR / 4];

    memset(acc, 0, sizeof(acc));
    for (int k = 0; k < K; k++) {
        const float *bk = off ? b + off[k] : b + k * NR;
        v4sf bv[NR / 4];
        if (nr == NR) {
            memcpy(bv, bk, sizeof(bv));
        } else {
            memset(bv, 0, sizeof(bv));
            memcpy(bv, bk, (size_t)nr * sizeof(float));
        }
        for (int i = 0; i < MR; i++) {
            v4sf av = {a[k * MR + i], a[k * MR + i], a[k * MR + i], a[k * MR + i]};
            for (int h = 0; h < NR / 4; h++)
                acc[i][h] += av * bv[h];
        }
    }
    memcpy(tile, acc, sizeof(acc));
}

static void kern_generic(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int mr, int nr,
                         const float *bias, int load_c)
{
    float tile[MR * NR];

    tile_generic(kc, a, b, NULL, NR, tile);
    store_tile(tile, c, ldc, mr, nr, bias, load_c);
}

#if HAVE_X86
#define AVX2 __attribute__((target("avx2,fma")))

#define FMA_ROW(i)                                                                                                 \
    do {                                                                                                           \
        __m256 av = _mm256_broadcast_ss(a + i);                                                                    \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                                                \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                                                \
        c##i##2 = _mm256_fmadd_ps(av, b2, c##i##2);                                                                \
    } while (0)

/* the accumulators += the MR values at a times the B row b0..b2; a moves to the next k */
#define FMA_TILE()                                                                                                 \
    do {                                                                                                           \
        FMA_ROW(0);                                                                                                \
        FMA_ROW(1);                                                                                                \
        FMA_ROW(2);                                                                                                \
        FMA_ROW(3);                                                                                                \
        a += MR;                                                                                                   \
    } while (0)

/* t = acc (+ cr when load) (+ bias), stored to cr through the lane masks m0..m2 unless full */
#define STORE_ROW(i, cr_, load)                                                                                    \
    do {                                                                                                           \
        float *cr = cr_;                                                                                           \
        __m256 t0 = c##i##0, t1 = c##i##1, t2 = c##i##2;                                                           \
        if (full) {                                                                                                \
            if (load) {                                                                                            \
                t0 = _mm256_add_ps(t0, _mm256_loadu_ps(cr));                                                       \
                t1 = _mm256_add_ps(t1, _mm256_loadu_ps(cr + 8));                                                   \
                t2 = _mm256_add_ps(t2, _mm256_loadu_ps(cr + 16));                                                  \
            }                                                                                                      \
        } else if (load) {                                                                                         \
            t0 = _mm256_add_ps(t0, _mm256_maskload_ps(cr, m0));                                                    \
            t1 = _mm256_add_ps(t1, _mm256_maskload_ps(cr + 8, m1));                                                \
            t2 = _mm256_add_ps(t2, _mm256_maskload_ps(cr + 16, m2));                                               \
        }                                                                                                          \
        if (bias) {                                                                                                \
            __m256 bb = _mm256_set1_ps(bias[i]);                                                                   \
            t0 = _mm256_add_ps(t0, bb);                                                                            \
            t1 = _mm256_add_ps(t1, bb);                                                                            \
            t2 = _mm256_add_ps(t2, bb);                                                                            \
        }                                                                                                          \
        if (full) {                                                                                                \
            _mm256_storeu_ps(cr, t0);                                                                              \
            _mm256_storeu_ps(cr + 8, t1);                                                                          \
            _mm256_storeu_ps(cr + 16, t2);                                                                         \
        } else {                                                                                                   \
            _mm256_maskstore_ps(cr, m0, t0);                                                                       \
            _mm256_maskstore_ps(cr + 8, m1, t1);                                                                   \
            _mm256_maskstore_ps(cr + 16, m2, t2);                                                                  \
        }                                                                                                          \
    } while (0)

/* the mr rows of the tile into c (row stride ldc) */
#define STORE_TILE(c_, load)                                                                                       \
    do {                                                                                                           \
        STORE_ROW(0, (c_), load);                                                                                  \
        if (mr > 1)                                                                                                \
            STORE_ROW(1, (c_) + ldc, load);                                                                        \
        if (mr > 2)                                                                                                \
            STORE_ROW(2, (c_) + 2 * ldc, load);                                                                    \
        if (mr > 3)                                                                                                \
            STORE_ROW(3, (c_) + 3 * ldc, load);                                                                    \
    } while (0)

AVX2 static void kern_avx2(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int mr, int nr,
                           const float *bias, int load_c)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m0, m1, m2;
    int full = nr == NR;

    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), b2 = _mm256_load_ps(b + 16);
        FMA_TILE();
        b += NR;
    }
    m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), iota);
    m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), iota);
    m2 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 16), iota);
    STORE_TILE(c, load_c);
}
#endif

static atomic_int force_generic;

static kern_fn pick_kernel(void)
{
#if HAVE_X86
    if (!atomic_load_explicit(&force_generic, memory_order_relaxed) && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return kern_avx2;
#endif
    return kern_generic;
}

const char *qb_sgemm_isa(void)
{
    return pick_kernel() == kern_generic ? "generic" : "avx2";
}

bool qb_sgemm_use_avx2(void)
{
    return pick_kernel() != kern_generic;
}

void qb_sgemm_force_generic(bool on)
{
    atomic_store(&force_generic, on ? 1 : 0);
}

/* Packing ------------------------------------------------------------------- */

size_t qb_sgemm_pack_a_size(int M, int K)
{
    return (size_t)m_panels(M) * MR * (size_t)(K > 0 ? K : 1);
}

struct pack_a_job {
    int M, K, nkb, kcb;
    const float *a;
    ptrdiff_t rs, cs;
    float alpha;
    float *dst;
};

static void pack_a_panel(void *ctx, int p)
{
    const struct pack_a_job *j = ctx;
    size_t mp = (size_t)m_panels(j->M) * MR;
    int rows = imin(MR, j->M - p * MR);

    for (int kb = 0; kb < j->nkb; kb++) {
        int k0 = kb * j->kcb, kc = imin(j->kcb, j->K - k0);
        float *d = j->dst + (size_t)k0 * mp + (size_t)p * MR * kc;
        for (int k = 0; k < kc; k++) {
            const float *s = j->a + (ptrdiff_t)p * MR * j->rs + (ptrdiff_t)(k0 + k) * j->cs;
            int r = 0;
            for (; r < rows; r++)
                d[k * MR + r] = j->alpha == 1.0f ? s[r * j->rs] : j->alpha * s[r * j->rs];
            for (; r < MR; r++)
                d[k * MR + r] = 0.0f;
        }
    }
}

void qb_sgemm_pack_a(int M, int K, const float *a, ptrdiff_t rs, ptrdiff_t cs, float alpha, float *dst,
                     struct qb_pool *pool)
{
    struct pack_a_job j = {.M = M, .K = K, .a = a, .rs = rs, .cs = cs, .alpha = alpha, .dst = dst};
    if (M <= 0 || K <= 0)
        return;
    k_blocks(K, &j.nkb, &j.kcb);
    if ((size_t)M * (size_t)K < ((size_t)1 << 16))
        pool = NULL;
    qb_pool_for(pool, m_panels(M), pack_a_panel, &j);
}

void qb_sgemm_pack_a_rows(int M, int K, const float *a, ptrdiff_t rs, ptrdiff_t cs, float *dst, struct qb_pool *pool)
{
    struct pack_a_job j = {.M = M, .K = K, .nkb = 1, .kcb = K, .a = a, .rs = rs, .cs = cs, .alpha = 1.0f, .dst = dst};
    if (M <= 0 || K <= 0)
        return;
    if ((size_t)M * (size_t)K < ((size_t)1 << 16))
        pool = NULL;
    qb_pool_for(pool, m_panels(M), pack_a_panel, &j);
}

static void pack_b_matrix(const struct qb_sgemm_b *b, int k0, int kc, int n0, int nc, float *dst)
{
    for (int p = 0; p * NR < nc; p++) {
        int cnt = imin(NR, nc - p * NR);
        float *d = dst + (size_t)p * kc * NR;
        const float *s = b->data + (ptrdiff_t)k0 * b->rs + (ptrdiff_t)(n0 + p * NR) * b->cs;
        if (b->cs == 1 && cnt == NR) {
            for (int k = 0; k < kc; k++)
                memcpy(d + k * NR, s + k * b->rs, NR * sizeof(float));
        } else if (b->cs == 1) {
            for (int k = 0; k < kc; k++) {
                memcpy(d + k * NR, s + k * b->rs, (size_t)cnt * sizeof(float));
                memset(d + k * NR + cnt, 0, (size_t)(NR - cnt) * sizeof(float));
            }
        } else {
            /* transposed or strided source: walk it along its contiguous axis */
            if (cnt < NR)
                for (int k = 0; k < kc; k++)
                    memset(d + k * NR + cnt, 0, (size_t)(NR - cnt) * sizeof(float));
            for (int jj = 0; jj < cnt; jj++)
                for (int k = 0; k < kc; k++)
                    d[k * NR + jj] = s[jj * b->cs + k * b->rs];
        }
    }
}

void qb_sgemm_b_matrix(struct qb_sgemm_b *b, const float *data, ptrdiff_t rs, ptrdiff_t cs)
{
    memset(b, 0, sizeof(*b));
    b->pack = pack_b_matrix;
    b->data = data;
    b->rs = rs;
    b->cs = cs;
}

/* Driver -------------------------------------------------------------------- */

size_t qb_sgemm_scratch_size(void)
{
    return SLOT_FLOATS * sizeof(float) * QB_SGEMM_SLOTS;
}

/* Work is split into items (column ranges, or row-panel ranges when N is
 * narrow) taken dynamically by the pool's threads, a few per thread so that a
 * slow thread does not hold the others up. A thread keeps one B buffer (slot)
 * for all the items it takes in a call. Items never change what is summed in
 * which order, so the result is the same for any thread count. */
#define ITEMS_PER_THREAD 4

static atomic_ullong job_counter;
static _Thread_local unsigned long long tl_job; /* the call this thread last took a slot in */
static _Thread_local int tl_slot;

struct gemm_job {
    int M, N, K, nkb, kcb;
    const float *pa;
    const struct qb_sgemm_b *b;
    float *c;
    ptrdiff_t ldc;
    const float *bias;
    unsigned flags;
    float *scratch;
    bool split_n;
    int per_item; /* NR panels (split_n) or MR panels per item */
    kern_fn kern;
    unsigned long long id;
    atomic_int next_slot;
};

/* Computes C over A panels [p0, p1) and columns [n0, n1), packing B into buf. */
static void gemm_range(const struct gemm_job *j, float *buf, int p0, int p1, int n0, int n1)
{
    size_t mp = (size_t)m_panels(j->M) * MR;

    for (int nb = n0; nb < n1; nb += NC_MAX) {
        int nc = imin(NC_MAX, n1 - nb);
        int nbp = (nc + NR - 1) / NR;
        for (int kb = 0; kb < j->nkb; kb++) {
            int k0 = kb * j->kcb, kc = imin(j->kcb, j->K - k0);
            int load_c = kb > 0 || (j->flags & QB_SGEMM_ACCUMULATE);
            const float *pa = j->pa + (size_t)k0 * mp;
            j->b->pack(j->b, k0, kc, nb, nc, buf);
            for (int mb = p0; mb < p1; mb += MC_PANELS) {
                int me = imin(p1, mb + MC_PANELS);
                for (int q = 0; q < nbp; q++) {
                    const float *bp = buf + (size_t)q * kc * NR;
                    int nr = imin(NR, nc - q * NR);
                    float *cq = j->c + nb + q * NR;
                    for (int i = mb; i < me; i++) {
                        const float *bias = kb == 0 && j->bias ? j->bias + i * MR : NULL;
                        j->kern(kc, pa + (size_t)i * MR * kc, bp, cq + (ptrdiff_t)i * MR * j->ldc, j->ldc,
                                imin(MR, j->M - i * MR), nr, bias, load_c);
                    }
                }
            }
        }
    }
}

static void gemm_item(void *ctx, int it)
{
    struct gemm_job *j = ctx;
    int mp = m_panels(j->M);
    float *buf;

    if (tl_job != j->id) {
        tl_job = j->id;
        tl_slot = atomic_fetch_add(&j->next_slot, 1);
    }
    buf = j->scratch + (size_t)tl_slot * SLOT_FLOATS;
    if (j->split_n)
        gemm_range(j, buf, 0, mp, it * j->per_item * NR, imin(j->N, (it + 1) * j->per_item * NR));
    else
        gemm_range(j, buf, it * j->per_item, imin(mp, (it + 1) * j->per_item), 0, j->N);
}

/* Items for `threads` threads over np column panels or mp row panels: sets
 * *split_n and *per_item, returns the item count. */
static int plan_items(int np, int mp, int threads, int max_items, bool *split_n, int *per_item)
{
    int want = threads > 1 ? threads * ITEMS_PER_THREAD : 1, units;
    if (want > max_items)
        want = max_items;
    *split_n = np >= 2 * threads || np >= mp;
    units = *split_n ? np : mp;
    *per_item = (units + want - 1) / want;
    return (units + *per_item - 1) / *per_item;
}

void qb_sgemm_packed(int M, int N, int K, const float *pa, const struct qb_sgemm_b *b, float *c, ptrdiff_t ldc,
                     const float *bias, unsigned flags, void *scratch, size_t scratch_size, struct qb_pool *pool)
{
    struct gemm_job j = {.M = M, .N = N, .K = K, .pa = pa, .b = b, .c = c, .ldc = ldc, .bias = bias,
                         .flags = flags, .scratch = scratch, .kern = pick_kernel()};
    int slots = (int)(scratch_size / (SLOT_FLOATS * sizeof(float)));
    int threads = qb_pool_size(pool), items, max_items = INT32_MAX;

    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        /* empty sum: C = (C) + bias */
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++) {
                float t = 0.0f;
                if (flags & QB_SGEMM_ACCUMULATE)
                    t = t + c[i * ldc + n];
                if (bias)
                    t = t + bias[i];
                c[i * ldc + n] = t;
            }
        return;
    }
    k_blocks(K, &j.nkb, &j.kcb);
    if ((double)M * N * K < MIN_PARALLEL_MACS)
        threads = 1;
    if (threads > slots) /* no more takers than B buffers */
        max_items = slots > 1 ? slots : 1;
    items = plan_items((N + NR - 1) / NR, m_panels(M), threads, max_items, &j.split_n, &j.per_item);
    j.id = atomic_fetch_add(&job_counter, 1) + 1;
    atomic_init(&j.next_slot, 0);
    qb_pool_for(threads > 1 ? pool : NULL, items, gemm_item, &j);
}

size_t qb_sgemm_plain_scratch_size(int M, int K)
{
    size_t a = (qb_sgemm_pack_a_size(M, K) * sizeof(float) + 63) & ~(size_t)63;
    return a + qb_sgemm_scratch_size();
}

void qb_sgemm(int M, int N, int K, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
              ptrdiff_t ldc, const float *bias, void *scratch, size_t scratch_size, struct qb_pool *pool)
{
    size_t abytes = (qb_sgemm_pack_a_size(M, K) * sizeof(float) + 63) & ~(size_t)63;
    struct qb_sgemm_b src;

    qb_sgemm_pack_a(M, K, a, lda, 1, 1.0f, scratch, pool);
    qb_sgemm_b_matrix(&src, b, ldb, 1);
    qb_sgemm_packed(M, N, K, scratch, &src, c, ldc, bias, 0, (char *)scratch + abytes, scratch_size - abytes, pool);
}

/* Offset-row GEMM ------------------------------------------------------------ */

/* Lanes [l0, l1) of a tile row go to c[row * ldc + off + lane]. */
struct seg {
    int l0, l1;
    ptrdiff_t off;
};

/* nr < NR: only lanes below nr of B are read */
typedef void (*rkern_fn)(int K, const float *a, const float *b, const int64_t *off, int nr, float *c, ptrdiff_t ldc,
                         int mr, const struct seg *segs, int nseg, const float *bias);

static void rkern_generic(int K, const float *a, const float *b, const int64_t *off, int nr, float *c, ptrdiff_t ldc,
                          int mr, const struct seg *segs, int nseg, const float *bias)
{
    float tile[MR * NR];

    tile_generic(K, a, b, off, nr, tile);
    for (int s = 0; s < nseg; s++)
        for (int i = 0; i < mr; i++)
            for (int l = segs[s].l0; l < segs[s].l1; l++) {
                float t = tile[i * NR + l];
                if (bias)
                    t = t + bias[i];
                c[i * ldc + segs[s].off + l] = t;
            }
}

#if HAVE_X86
AVX2 static __m256i lane_mask(int l0, int l1, int base)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i lane = _mm256_add_epi32(iota, _mm256_set1_epi32(base));
    __m256i below_end = _mm256_cmpgt_epi32(_mm256_set1_epi32(l1), lane);
    __m256i before_start = _mm256_cmpgt_epi32(_mm256_set1_epi32(l0), lane);
    return _mm256_andnot_si256(before_start, below_end);
}

AVX2 static void rkern_avx2(int K, const float *a, const float *b, const int64_t *off, int nr, float *c, ptrdiff_t ldc,
                            int mr, const struct seg *segs, int nseg, const float *bias)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;

    if (nr == NR) {
        for (int k = 0; k < K; k++) {
            const float *bp = b + off[k];
            __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), b2 = _mm256_loadu_ps(bp + 16);
            FMA_TILE();
        }
    } else {
        __m256i l0 = lane_mask(0, nr, 0), l1 = lane_mask(0, nr, 8), l2 = lane_mask(0, nr, 16);
        for (int k = 0; k < K; k++) {
            const float *bp = b + off[k];
            __m256 b0 = _mm256_maskload_ps(bp, l0), b1 = _mm256_maskload_ps(bp + 8, l1),
                   b2 = _mm256_maskload_ps(bp + 16, l2);
            FMA_TILE();
        }
    }
    for (const struct seg *sg = segs; sg < segs + nseg; sg++) {
        int full = sg->l0 == 0 && sg->l1 == NR;
        __m256i m0 = lane_mask(sg->l0, sg->l1, 0), m1 = lane_mask(sg->l0, sg->l1, 8),
                m2 = lane_mask(sg->l0, sg->l1, 16);
        STORE_TILE(c + sg->off, 0);
    }
}
#endif

static rkern_fn pick_rkernel(void)
{
#if HAVE_X86
    if (pick_kernel() == kern_avx2)
        return rkern_avx2;
#endif
    return rkern_generic;
}

struct rows_job {
    int M, N, K, mcp, per_item;
    bool split_n;
    const float *pa, *b, *bias;
    const int64_t *off;
    float *c;
    ptrdiff_t ldc;
    int wq, ow;
    rkern_fn kern;
};

/* Output segments of the tile at wide columns [n, n + nr). */
static int tile_segs(const struct rows_job *j, int n, int nr, struct seg *segs)
{
    int r, x, l = 0, ns = 0;
    if (!j->wq) {
        segs[0] = (struct seg){0, nr, n};
        return 1;
    }
    r = n / j->wq;
    x = n - r * j->wq;
    while (l < nr) {
        if (x < j->ow) {
            int len = imin(j->ow - x, nr - l);
            segs[ns++] = (struct seg){l, l + len, (ptrdiff_t)r * j->ow + x - l};
            l += len;
            x += len;
        } else {
            l += j->wq - x;
            x = 0;
            r++;
        }
    }
    return ns;
}

static void rows_range(const struct rows_job *j, int p0, int p1, int q0, int q1)
{
    for (int mb = p0; mb < p1; mb += j->mcp) {
        int me = imin(p1, mb + j->mcp);
        for (int q = q0; q < q1; q++) {
            struct seg segs[NR];
            int n = q * NR, nr = imin(NR, j->N - n), ns = tile_segs(j, n, nr, segs);
            for (int i = mb; i < me; i++)
                j->kern(j->K, j->pa + (size_t)i * MR * j->K, j->b + n, j->off, nr, j->c + (ptrdiff_t)i * MR * j->ldc,
                        j->ldc, imin(MR, j->M - i * MR), segs, ns, j->bias ? j->bias + i * MR : NULL);
        }
    }
}

static void rows_item(void *ctx, int it)
{
    const struct rows_job *j = ctx;
    int np = (j->N + NR - 1) / NR, mp = m_panels(j->M);
    if (j->split_n)
        rows_range(j, 0, mp, it * j->per_item, imin(np, (it + 1) * j->per_item));
    else
        rows_range(j, it * j->per_item, imin(mp, (it + 1) * j->per_item), 0, np);
}

void qb_sgemm_rows(int M, int N, int K, const float *pa, const float *b, const int64_t *off, float *c, ptrdiff_t ldc,
                   const float *bias, const struct qb_sgemm_wrap *wrap, struct qb_pool *pool)
{
    struct rows_job j = {.M = M, .N = N, .K = K, .pa = pa, .b = b, .bias = bias, .off = off, .c = c, .ldc = ldc,
                         .kern = pick_rkernel()};
    int threads = qb_pool_size(pool), items;

    if (M <= 0 || N <= 0 || K <= 0)
        return;
    if (wrap && wrap->wq > wrap->ow) {
        j.wq = wrap->wq;
        j.ow = wrap->ow;
    }
    /* A panels swept per column tile: about 256 KiB of A stays in L2 */
    j.mcp = (int)((256 * 1024) / ((size_t)K * MR * sizeof(float)));
    j.mcp = j.mcp < 1 ? 1 : j.mcp;
    if ((double)M * N * K < MIN_PARALLEL_MACS)
        threads = 1;
    items = plan_items((N + NR - 1) / NR, m_panels(M), threads, INT32_MAX, &j.split_n, &j.per_item);
    qb_pool_for(threads > 1 ? pool : NULL, items, rows_item, &j);
}
