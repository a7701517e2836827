/* The calibration methods: amax of one tensor from its |x| histogram (max,
 * percentile, TensorRT's entropy search, mse); definitions in core/calib.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"

static const char *const method_names[QB_CALIB_METHOD_COUNT] = {
    [QB_CALIB_MAX] = "max",
    [QB_CALIB_PERCENTILE] = "percentile",
    [QB_CALIB_ENTROPY] = "entropy",
    [QB_CALIB_MSE] = "mse",
};
_Static_assert(sizeof(method_names) / sizeof(method_names[0]) == QB_CALIB_METHOD_COUNT, "a method without a name");

const char *qb_calib_method_name(enum qb_calib_method m)
{
    return (unsigned)m < QB_CALIB_METHOD_COUNT ? method_names[m] : "?";
}

enum qb_status qb_calib_method_parse(const char *name, enum qb_calib_method *out, struct qb_error *err)
{
    for (int m = 0; m < QB_CALIB_METHOD_COUNT; m++)
        if (strcmp(name, method_names[m]) == 0) {
            *out = (enum qb_calib_method)m;
            return QB_OK;
        }
    return qb_errorf(err, QB_ERR_USAGE, "unknown calibration method '%s' (max, percentile, entropy, mse)", name);
}

/* Entropy ----------------------------------------------------------------------
 * KL(P || Q) for threshold i in O(levels) from prefix sums: with p the reference
 * counts (Ptot of them), q the candidate's (Qtot), and Q constant (level sum / its
 * non-zero bins) on the non-zero bins of a level,
 *   KL = (sum p log p - sum_levels Pmass(level) log q(level)) / Ptot - log Ptot + log Qtot. */

struct prefix {
    int n;
    double *cnt;  /* cnt[j] = sum of bins[0..j-1] */
    double *nz;   /* non-zero bins among them */
    double *plp;  /* sum of b log b */
};

static void prefix_free(struct prefix *p)
{
    free(p->cnt);
    free(p->nz);
    free(p->plp);
}

static bool prefix_init(struct prefix *p, const double *bins, int n)
{
    p->n = n;
    p->cnt = malloc((size_t)(n + 1) * sizeof(double));
    p->nz = malloc((size_t)(n + 1) * sizeof(double));
    p->plp = malloc((size_t)(n + 1) * sizeof(double));
    if (!p->cnt || !p->nz || !p->plp) {
        prefix_free(p);
        return false;
    }
    p->cnt[0] = p->nz[0] = p->plp[0] = 0;
    for (int j = 0; j < n; j++) {
        double b = bins[j] > 0 ? bins[j] : 0;
        p->cnt[j + 1] = p->cnt[j] + b;
        p->nz[j + 1] = p->nz[j] + (b > 0);
        p->plp[j + 1] = p->plp[j] + (b > 0 ? b * log(b) : 0);
    }
    return true;
}

static double kl_at(const struct prefix *p, const double *bins, int levels, int i)
{
    double ptot = p->cnt[p->n], qtot = p->cnt[i], outliers = ptot - qtot;
    double last = bins[i - 1] > 0 ? bins[i - 1] : 0, plast = last + outliers;
    double plogp = p->plp[i - 1] + (plast > 0 ? plast * log(plast) : 0), plogq = 0;

    if (!(ptot > 0))
        return NAN;
    if (plast > 0 && !(last > 0))
        return INFINITY; /* P[i-1] holds the outliers, Q[i-1] is an empty bin */
    for (int l = 0; l < levels; l++) {
        int a = (int)(((long long)l * i + levels - 1) / levels);
        int b = (int)(((long long)(l + 1) * i + levels - 1) / levels);
        double sum = p->cnt[b] - p->cnt[a], nz = p->nz[b] - p->nz[a];
        double pmass = sum + (b == i ? outliers : 0);
        if (nz > 0 && sum > 0)
            plogq += pmass * log(sum / nz);
    }
    return (plogp - plogq) / ptot - log(ptot) + log(qtot);
}

double qb_calib_entropy_kl(const double *bins, int n, int levels, int i)
{
    struct prefix p;
    double kl;
    if (levels < 1 || i < levels || i > n || !prefix_init(&p, bins, n))
        return NAN;
    kl = kl_at(&p, bins, levels, i);
    prefix_free(&p);
    return kl;
}

int qb_calib_entropy_pick(const double *bins, int n, int levels, int start)
{
    struct prefix p;
    double best = INFINITY;
    int pick = 0;

    if (start < levels)
        start = levels;
    if (levels < 1 || start > n || !prefix_init(&p, bins, n))
        return 0;
    if (p.cnt[n] > 0) {
        pick = n; /* i = n has no outliers: finite */
        for (int i = start; i <= n; i++) {
            double kl = kl_at(&p, bins, levels, i);
            if (kl <= best) {
                best = kl;
                pick = i;
            }
        }
    }
    prefix_free(&p);
    return pick;
}

/* MSE ----------------------------------------------------------------------------
 * Moments of the piecewise-uniform density (bins of width 1): m_r(x) = integral of
 * t^r from 0 to x, r = 0, 1, 2, from prefix sums at whole bins plus the partial bin. */

struct moments {
    int n;
    const double *bins;
    double *m[3];
};

static void moments_free(struct moments *mo)
{
    for (int r = 0; r < 3; r++)
        free(mo->m[r]);
}

static bool moments_init(struct moments *mo, const double *bins, int n)
{
    mo->n = n;
    mo->bins = bins;
    for (int r = 0; r < 3; r++)
        mo->m[r] = malloc((size_t)(n + 1) * sizeof(double));
    if (!mo->m[0] || !mo->m[1] || !mo->m[2]) {
        moments_free(mo);
        return false;
    }
    mo->m[0][0] = mo->m[1][0] = mo->m[2][0] = 0;
    for (int j = 0; j < n; j++) {
        double b = bins[j] > 0 ? bins[j] : 0, lo = j, hi = j + 1.0;
        mo->m[0][j + 1] = mo->m[0][j] + b;
        mo->m[1][j + 1] = mo->m[1][j] + b * (hi * hi - lo * lo) / 2;
        mo->m[2][j + 1] = mo->m[2][j] + b * (hi * hi * hi - lo * lo * lo) / 3;
    }
    return true;
}

static void moments_at(const struct moments *mo, double x, double out[3])
{
    int j;
    double b, lo;
    if (x >= mo->n) {
        for (int r = 0; r < 3; r++)
            out[r] = mo->m[r][mo->n];
        return;
    }
    if (x < 0)
        x = 0;
    j = (int)x;
    lo = j;
    b = mo->bins[j] > 0 ? mo->bins[j] : 0;
    out[0] = mo->m[0][j] + b * (x - lo);
    out[1] = mo->m[1][j] + b * (x * x - lo * lo) / 2;
    out[2] = mo->m[2][j] + b * (x * x * x - lo * lo * lo) / 3;
}

/* Total squared error (not yet per value) of amax = i: cell k (value k * s) holds
 * [(k - 1/2) s, (k + 1/2) s); the top cell everything from (qmax - 1/2) s up. */
static double mse_total(const struct moments *mo, int qmax, double i)
{
    double s = i / qmax, prev[3], cur[3], total = 0;
    moments_at(mo, 0, prev);
    for (int k = 0; k <= qmax; k++) {
        double q = k * s, s0, s1, s2;
        moments_at(mo, k == qmax ? (double)mo->n : (k + 0.5) * s, cur);
        s0 = cur[0] - prev[0];
        s1 = cur[1] - prev[1];
        s2 = cur[2] - prev[2];
        if (s0 > 0) {
            double e = s2 - 2 * q * s1 + q * q * s0;
            total += e > 0 ? e : 0;
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return total;
}

double qb_calib_mse_error(const double *bins, int n, int qmax, double i)
{
    struct moments mo;
    double e;
    if (qmax < 1 || !(i > 0) || !moments_init(&mo, bins, n))
        return NAN;
    e = mo.m[0][n] > 0 ? mse_total(&mo, qmax, i) / mo.m[0][n] : NAN;
    moments_free(&mo);
    return e;
}

int qb_calib_mse_pick(const double *bins, int n, int qmax, int start)
{
    struct moments mo;
    double best = INFINITY;
    int pick = 0;

    if (start < 1)
        start = 1;
    if (qmax < 1 || start > n || !moments_init(&mo, bins, n))
        return 0;
    if (mo.m[0][n] > 0)
        for (int i = start; i <= n; i++) {
            double e = mse_total(&mo, qmax, i);
            if (e < best) {
                best = e;
                pick = i;
            }
        }
    moments_free(&mo);
    return pick;
}

/* The methods on a collected histogram ------------------------------------------ */

static float percentile_amax(const struct qb_calib_hist *h, double pct)
{
    double target = (pct > 0 ? pct : QB_CALIB_PERCENTILE_DEFAULT) / 100.0 * (double)h->count;
    uint64_t cum = 0;
    for (int j = 0; j < QB_CALIB_BINS; j++) {
        cum += h->bins[j];
        if ((double)cum >= target && cum > 0) {
            float edge = (float)(ldexp(j + 1.0, h->exp) / QB_CALIB_BINS);
            return edge < h->max ? edge : h->max;
        }
    }
    return h->max;
}

float qb_calib_hist_amax(const struct qb_calib_hist *h, const struct qb_calib_params *p)
{
    double trt[QB_CALIB_TRT_BINS];
    int i;

    if (!(h->max > 0) || h->count == 0)
        return 0;
    switch (p->method) {
    case QB_CALIB_MAX:
        return h->max;
    case QB_CALIB_PERCENTILE:
        return percentile_amax(h, p->percentile);
    case QB_CALIB_ENTROPY:
    case QB_CALIB_MSE:
        qb_calib_hist_trt(h, trt);
        if (p->method == QB_CALIB_ENTROPY)
            i = qb_calib_entropy_pick(trt, QB_CALIB_TRT_BINS, QB_CALIB_TRT_LEVELS, QB_CALIB_TRT_START);
        else
            i = qb_calib_mse_pick(trt, QB_CALIB_TRT_BINS, 127, QB_CALIB_TRT_START);
        /* i = 0 only when the search could not allocate: the widest range is the safe answer */
        return i > 0 ? (float)((double)h->max * i / QB_CALIB_TRT_BINS) : h->max;
    case QB_CALIB_METHOD_COUNT:
        break;
    }
    return h->max;
}
