/* Calibration histograms of |x| with power-of-two range growth, and the collector
 * that feeds one per float activation from the executor's observer (core/calib.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "threadpool.h"

#define BINS_LOG2 14
_Static_assert(QB_CALIB_BINS == 1 << BINS_LOG2, "QB_CALIB_BINS must be 2^BINS_LOG2");

void qb_calib_hist_reset(struct qb_calib_hist *h)
{
    memset(h, 0, sizeof(*h));
}

/* Merges bins so that R becomes 2^exp (exp >= h->exp). */
static void grow(struct qb_calib_hist *h, int exp)
{
    int d = exp - h->exp;
    if (d <= 0)
        return;
    if (d >= BINS_LOG2) {
        uint64_t sum = 0;
        for (int j = 0; j < QB_CALIB_BINS; j++)
            sum += h->bins[j];
        memset(h->bins, 0, sizeof(h->bins));
        h->bins[0] = sum;
    } else {
        for (int j = 0; j < QB_CALIB_BINS; j++) {
            uint64_t c = h->bins[j];
            h->bins[j] = 0;
            h->bins[j >> d] += c;
        }
    }
    h->exp = exp;
}

/* Makes R = 2^exp strictly greater than m (m > 0 finite). Zeros binned before any
 * non-zero value sit in bin 0 whatever R becomes. */
static void cover(struct qb_calib_hist *h, float m)
{
    int e;
    frexpf(m, &e); /* m = f * 2^e, 0.5 <= f < 1: 2^(e-1) <= m < 2^e */
    if (h->max > 0)
        grow(h, e);
    else
        h->exp = e;
    if (m > h->max)
        h->max = m;
}

static float abs_max(const float *x, size_t n, uint64_t *nonfinite)
{
    float m = 0;
    uint64_t bad = 0;
    for (size_t k = 0; k < n; k++) {
        float a = fabsf(x[k]);
        if (a <= FLT_MAX)
            m = a > m ? a : m;
        else
            bad++;
    }
    *nonfinite += bad;
    return m;
}

/* Bins x[0..n-1] with width 2^exp / QB_CALIB_BINS (every finite |x| < 2^exp). */
static uint64_t bin_values(uint64_t *bins, int exp, const float *x, size_t n)
{
    double inv = ldexp(1.0, BINS_LOG2 - exp); /* exact; double so tiny ranges do not overflow */
    uint64_t binned = 0;
    for (size_t k = 0; k < n; k++) {
        float a = fabsf(x[k]);
        if (a <= FLT_MAX) {
            bins[(size_t)((double)a * inv)]++;
            binned++;
        }
    }
    return binned;
}

/* The careful path: any values (non-finite, growing the range). */
static void add_slow(struct qb_calib_hist *h, const float *x, size_t n)
{
    uint64_t bad = 0;
    float m = abs_max(x, n, &bad);
    if (m > 0 && !(h->max > 0 && m < ldexpf(1.0f, h->exp)))
        cover(h, m);
    else if (m > h->max)
        h->max = m;
    h->nonfinite += bad;
    h->count += bin_values(h->bins, h->max > 0 ? h->exp : 0, x, n);
}

/* The fast path, 8 lanes at a time (GCC vector extensions: SSE pairs by default,
 * AVX2 where the CPU has it): bin indices of finite values below the range, the
 * largest index (QB_CALIB_BINS flags a value out of range, inf or NaN) and the
 * largest |x| of x[0..n), n a multiple of 8. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) int32_t index_body(const float *x, size_t n, float inv, int32_t *idx,
                                                                 float *m_out)
{
    const v8f lim = {QB_CALIB_BINS, QB_CALIB_BINS, QB_CALIB_BINS, QB_CALIB_BINS,
                     QB_CALIB_BINS, QB_CALIB_BINS, QB_CALIB_BINS, QB_CALIB_BINS};
    const v8i sign = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
    v8f vinv = {inv, inv, inv, inv, inv, inv, inv, inv}, m = {0};
    v8i top = {0};
    float mm = 0;
    int32_t tt = 0;

    for (size_t k = 0; k < n; k += 8) {
        v8f v, a, f;
        v8i lt, i, gt, mg;
        memcpy(&v, x + k, sizeof(v));
        a = (v8f)((v8i)v & sign);
        f = a * vinv;
        lt = f < lim; /* false for NaN */
        f = (v8f)(((v8i)f & lt) | ((v8i)lim & ~lt));
        i = __builtin_convertvector(f, v8i);
        memcpy(idx + k, &i, sizeof(i));
        gt = i > top;
        top = (i & gt) | (top & ~gt);
        mg = a > m;
        m = (v8f)(((v8i)a & mg) | ((v8i)m & ~mg));
    }
    for (int l = 0; l < 8; l++) {
        mm = m[l] > mm ? m[l] : mm;
        tt = top[l] > tt ? top[l] : tt;
    }
    *m_out = mm;
    return tt;
}

static int32_t index_generic(const float *x, size_t n, float inv, int32_t *idx, float *m)
{
    return index_body(x, n, inv, idx, m);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static int32_t index_avx2(const float *x, size_t n, float inv, int32_t *idx,
                                                          float *m)
{
    return index_body(x, n, inv, idx, m);
}
#endif

static int32_t index_block(const float *x, size_t n, float inv, int32_t *idx, float *m)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2"))
        return index_avx2(x, n, inv, idx, m);
#endif
    return index_generic(x, n, inv, idx, m);
}

#define BLOCK 2048                         /* values indexed at a time (a multiple of 8) */
#define SCRATCH_MIN ((size_t)1 << 16)      /* tensors binned through two 32-bit scratch copies */

/* Four copies, taking every fourth value, so that runs of equal bins do not wait
 * on each other's increments; 32-bit, added into the 64-bit bins at the end. */
struct scratch {
    uint32_t c0[QB_CALIB_BINS], c1[QB_CALIB_BINS], c2[QB_CALIB_BINS], c3[QB_CALIB_BINS];
    bool dirty;
};

static void scratch_flush(struct qb_calib_hist *h, struct scratch *s)
{
    if (!s || !s->dirty)
        return;
    for (int j = 0; j < QB_CALIB_BINS; j++)
        h->bins[j] += (uint64_t)s->c0[j] + s->c1[j] + s->c2[j] + s->c3[j];
    memset(s->c2, 0, sizeof(s->c2));
    memset(s->c3, 0, sizeof(s->c3));
    memset(s->c0, 0, sizeof(s->c0));
    memset(s->c1, 0, sizeof(s->c1));
    s->dirty = false;
}

/* s: zeroed scratch for big tensors, or NULL (direct increments). */
static void hist_add(struct qb_calib_hist *h, const float *x, size_t n, struct scratch *s)
{
    int32_t idx[BLOCK];

    for (size_t k = 0; k < n;) {
        size_t b = n - k < BLOCK ? n - k : BLOCK, b8 = b & ~(size_t)7;
        float m;
        int32_t top = QB_CALIB_BINS;
        /* the float scale 2^(14 - exp) stays a normal float for exp in [-100, 140] */
        if (h->max > 0 && h->exp >= -100 && h->exp <= 140 && b8 > 0)
            top = index_block(x + k, b8, ldexpf(1.0f, BINS_LOG2 - h->exp), idx, &m);
        if (top >= QB_CALIB_BINS) {
            scratch_flush(h, s); /* the range may grow: bins at the old range first */
            add_slow(h, x + k, b);
            k += b;
            continue;
        }
        if (m > h->max)
            h->max = m;
        if (s) {
            for (size_t i = 0; i < b8; i += 4) {
                s->c0[idx[i]]++;
                s->c1[idx[i + 1]]++;
                s->c2[idx[i + 2]]++;
                s->c3[idx[i + 3]]++;
            }
            s->dirty = true;
        } else {
            for (size_t i = 0; i < b8; i++)
                h->bins[idx[i]]++;
        }
        h->count += b8;
        if (b8 < b)
            add_slow(h, x + k + b8, b - b8);
        k += b;
        /* 32-bit scratch counts: flush well before 2^32 values */
        if (s && (k / BLOCK) % (1u << 20) == 0)
            scratch_flush(h, s);
    }
    scratch_flush(h, s);
}

void qb_calib_hist_add(struct qb_calib_hist *h, const float *x, size_t n)
{
    struct scratch *s = n >= SCRATCH_MIN ? calloc(1, sizeof(*s)) : NULL;
    hist_add(h, x, n, s);
    free(s);
}

void qb_calib_hist_merge(struct qb_calib_hist *dst, const struct qb_calib_hist *src)
{
    int e = src->exp;
    if (src->max > 0) {
        if (!(dst->max > 0)) {
            dst->exp = e;
        } else if (e > dst->exp) {
            grow(dst, e);
        }
        if (src->max > dst->max)
            dst->max = src->max;
    }
    if (src->max > 0 && e < dst->exp) {
        int d = dst->exp - e;
        for (int j = 0; j < QB_CALIB_BINS; j++)
            dst->bins[d >= BINS_LOG2 ? 0 : j >> d] += src->bins[j];
    } else {
        for (int j = 0; j < QB_CALIB_BINS; j++)
            dst->bins[j] += src->bins[j];
    }
    dst->count += src->count;
    dst->nonfinite += src->nonfinite;
}

void qb_calib_hist_trt(const struct qb_calib_hist *h, double out[QB_CALIB_TRT_BINS])
{
    double below = 0, prev = 0, w;
    int next = 0; /* fine bins [0, next) are summed into below */

    memset(out, 0, QB_CALIB_TRT_BINS * sizeof(*out));
    if (!(h->max > 0)) {
        out[0] = (double)h->count;
        return;
    }
    w = ldexp((double)h->max, BINS_LOG2 - h->exp) / QB_CALIB_TRT_BINS; /* TRT bin width in fine bins */
    for (int t = 0; t < QB_CALIB_TRT_BINS - 1; t++) {
        double x = (t + 1) * w, c; /* the bin's upper edge; < QB_CALIB_BINS since max < R */
        int j = (int)x;
        while (next < j)
            below += (double)h->bins[next++];
        c = below + (double)h->bins[j] * (x - j); /* the cut fine bin, spread evenly */
        out[t] = c - prev;
        prev = c;
    }
    out[QB_CALIB_TRT_BINS - 1] = (double)h->count - prev;
}

/* The collector -------------------------------------------------------------- */

struct qb_calib_collector {
    const struct qb_graph *g;
    struct qb_calib_hist **hist;  /* per value; NULL for non-activations */
    int n_threads;                /* for qb_calib_table_from */
    struct scratch *scratch;      /* for big tensors (kept zeroed) */
    long runs;
    int first_input;              /* value observed first in a run (counts runs) */
};

/* NOTE: on the executor's thread, between nodes, single-threaded on purpose: a
 * second pool here would fight the executor's spinning workers for the cores. */
void qb_calib_observe(void *user, int value, const struct qb_tview *t)
{
    struct qb_calib_collector *c = user;
    struct qb_calib_hist *h;
    size_t n;

    if (value < 0 || value >= c->g->n_values || !(h = c->hist[value]) || t->dtype != QB_DTYPE_F32 || !t->data)
        return;
    if (value == c->first_input)
        c->runs++;
    n = (size_t)qb_tview_numel(t);
    hist_add(h, t->data, n, n >= SCRATCH_MIN ? c->scratch : NULL);
}

static bool is_activation(const struct qb_graph *g, int v)
{
    const struct qb_value *val = &g->values[v];
    return val->dtype == QB_DTYPE_F32 && !(val->flags & QB_VALUE_CONST) &&
           ((val->flags & QB_VALUE_INPUT) || val->producer >= 0);
}

enum qb_status qb_calib_collector_new(const struct qb_graph *g, int n_threads, struct qb_calib_collector **out,
                                      struct qb_error *err)
{
    struct qb_calib_collector *c = calloc(1, sizeof(*c));
    enum qb_status st = QB_OK;

    *out = NULL;
    if (!c || !(c->hist = calloc((size_t)g->n_values, sizeof(*c->hist))))
        goto nomem;
    c->g = g;
    c->first_input = g->n_inputs > 0 ? g->inputs[0] : -1;
    c->n_threads = n_threads;
    if (!(c->scratch = calloc(1, sizeof(*c->scratch))))
        goto nomem;
    for (int v = 0; v < g->n_values; v++)
        if (is_activation(g, v) && !(c->hist[v] = calloc(1, sizeof(**c->hist))))
            goto nomem;
    *out = c;
    c = NULL;
    goto out;
nomem:
    st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory for the calibration histograms", g->path);
out:
    qb_calib_collector_free(c);
    return st;
}

void qb_calib_collector_free(struct qb_calib_collector *c)
{
    if (!c)
        return;
    for (int v = 0; c->hist && v < c->g->n_values; v++)
        free(c->hist[v]);
    free(c->hist);
    free(c->scratch);
    free(c);
}

struct qb_calib_hist *qb_calib_collector_hist(struct qb_calib_collector *c, int v)
{
    return v >= 0 && v < c->g->n_values ? c->hist[v] : NULL;
}

const struct qb_graph *qb_calib_collector_graph(const struct qb_calib_collector *c)
{
    return c->g;
}

long qb_calib_collector_runs(const struct qb_calib_collector *c)
{
    return c->runs;
}

void qb_calib_collector_reset(struct qb_calib_collector *c)
{
    for (int v = 0; v < c->g->n_values; v++)
        if (c->hist[v])
            qb_calib_hist_reset(c->hist[v]);
    c->runs = 0;
}

/* The table from the histograms: one tensor per pool item. */
struct table_job {
    struct qb_calib_collector *c;
    const int *values;
    const struct qb_calib_params *params;
    float *amax;
};

static void table_item(void *ctx, int item)
{
    struct table_job *j = ctx;
    j->amax[item] = qb_calib_hist_amax(j->c->hist[j->values[item]], j->params);
}

enum qb_status qb_calib_table_from(struct qb_calib_collector *c, struct qb_calib_table *t, struct qb_error *err)
{
    const struct qb_graph *g = c->g;
    int *values = malloc((size_t)g->n_values * sizeof(*values) + 1), n = 0;
    struct qb_pool *pool = NULL;
    enum qb_status st = QB_OK;

    for (int k = 0; k < t->n; k++)
        free(t->names[k]);
    free(t->names);
    free(t->amax);
    t->names = NULL;
    t->amax = NULL;
    t->n = 0;
    if (!values)
        goto nomem;
    for (int v = 0; v < g->n_values; v++)
        if (c->hist[v] && (c->hist[v]->count || c->hist[v]->nonfinite))
            values[n++] = v;
    if (!(t->names = calloc((size_t)n + 1, sizeof(*t->names))) || !(t->amax = calloc((size_t)n + 1, sizeof(float))))
        goto nomem;
    for (int k = 0; k < n; k++) {
        if (!(t->names[k] = strdup(g->values[values[k]].name)))
            goto nomem;
        t->n = k + 1;
    }
    if (c->n_threads != 1 && n > 1)
        pool = qb_pool_new(c->n_threads); /* NULL (out of memory) runs on this thread */
    qb_pool_for(pool, n, table_item, &(struct table_job){.c = c, .values = values, .params = &t->params, .amax = t->amax});
    goto out;
nomem:
    st = qb_errorf(err, QB_ERR_NOMEM, "out of memory computing the calibration table");
out:
    qb_pool_free(pool);
    free(values);
    return st;
}
