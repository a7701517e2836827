/* Calibration (core/calib.h): the histogram and its range growth, TensorRT's
 * entropy search on a histogram worked by hand and against a naive reference,
 * max / percentile / mse on known distributions, the collector behind the
 * executor, tables (round trip, JSON-path errors, foreign models, amax for a
 * plan), the TensorRT cache and the histogram cache. */
#include <assert.h>
#include <float.h>
#include <math.h>

#include "core/calib.h"
#include "core/fileio.h"
#include "core/exec.h"
#include "core/onnx.h"
#include "testutil.h"

static char tmpdir[256];

static struct qb_calib_hist *hist_new(void)
{
    struct qb_calib_hist *h = calloc(1, sizeof(*h));
    assert(h);
    return h;
}

static bool near(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

/* Histogram ---------------------------------------------------------------------- */

/* Adding values chunk by chunk while the range doubles (merging bins) gives the
 * histogram built with the final range from the start, bin for bin. */
static void test_growth(void)
{
    enum { N = 210000 }; /* chunks of 70000: the 32-bit scratch path, growing within a chunk */
    float *x = malloc(N * sizeof(*x));
    struct qb_calib_hist *grown = hist_new(), *once = hist_new(), *merged = hist_new(), *part = hist_new();
    uint64_t *ref = calloc(QB_CALIB_BINS, sizeof(*ref));
    const float scale[3] = {0.01f, 5.0f, 3000.0f};

    for (int k = 0; k < N; k++)
        x[k] = frand(-1, 1) * scale[k / (N / 3)];
    x[5] = 0.0f;
    x[N - 1] = -3100.0f;
    for (int c = 0; c < 3; c++)
        qb_calib_hist_add(grown, x + c * (N / 3), N / 3);
    qb_calib_hist_add(once, x, N);
    CHECK(once->count == N && grown->count == N);
    CHECK(grown->max == 3100.0f && once->max == 3100.0f);
    CHECKF(grown->exp == 12 && once->exp == 12, "exp %d %d (R = 4096 > 3100)", grown->exp, once->exp);
    CHECK(memcmp(grown->bins, once->bins, sizeof(once->bins)) == 0);
    /* the reference: every value binned at the final width 4096 / 16384 = 0.25 */
    for (int k = 0; k < N; k++)
        ref[(int)floorf(fabsf(x[k]) / 0.25f)]++;
    CHECK(memcmp(ref, once->bins, sizeof(once->bins)) == 0);

    /* merge: the small-range half into the large-range half, and the other way */
    qb_calib_hist_add(part, x + N / 3, N - N / 3);
    qb_calib_hist_add(merged, x, N / 3);
    qb_calib_hist_merge(merged, part);
    CHECK(merged->count == N && merged->max == once->max && merged->exp == once->exp);
    CHECK(memcmp(merged->bins, once->bins, sizeof(once->bins)) == 0);

    /* zeros first, then a range: the zeros stay in bin 0; non-finite values are left out */
    qb_calib_hist_reset(part);
    {
        float z[4] = {0, -0.0f, NAN, INFINITY}, v[2] = {0.75f, 0.25f};
        qb_calib_hist_add(part, z, 4);
        CHECK(part->max == 0 && part->count == 2 && part->nonfinite == 2 && part->bins[0] == 2);
        qb_calib_hist_add(part, v, 2);
        /* R = 1 (0.75 < 1): bin width 1/16384; 0.75 -> 12288, 0.25 -> 4096 */
        CHECK(part->exp == 0 && part->bins[0] == 2 && part->bins[12288] == 1 && part->bins[4096] == 1);
        CHECKF(qb_calib_hist_amax(part, &(struct qb_calib_params){.method = QB_CALIB_MAX}) == 0.75f, "max");
    }
    free(x);
    free(ref);
    free(grown);
    free(once);
    free(merged);
    free(part);
}

/* TensorRT's 2048 bins over [0, max]: exact sums of 4 fine bins when max = R/2;
 * close to binning the values directly otherwise. */
static void test_trt_bins(void)
{
    enum { N = 200000 };
    float *x = malloc(N * sizeof(*x));
    struct qb_calib_hist *h = hist_new();
    double *trt = malloc(QB_CALIB_TRT_BINS * sizeof(*trt)), *direct = calloc(QB_CALIB_TRT_BINS, sizeof(*direct));
    double sum = 0, worst = 0;
    bool exact = true;

    for (int k = 0; k < N; k++)
        x[k] = frand(0, 2.0f);
    x[0] = 2.0f; /* max = 2 = R/2 with R = 4 */
    qb_calib_hist_add(h, x, N);
    CHECK(h->exp == 2);
    qb_calib_hist_trt(h, trt);
    for (int t = 0; t < QB_CALIB_TRT_BINS; t++) {
        uint64_t want = h->bins[4 * t] + h->bins[4 * t + 1] + h->bins[4 * t + 2] + h->bins[4 * t + 3];
        if (t == QB_CALIB_TRT_BINS - 1)
            want += h->bins[4 * QB_CALIB_TRT_BINS]; /* the max itself, 2.0, in fine bin 8192 */
        exact &= trt[t] == (double)want;
        sum += trt[t];
    }
    CHECK(exact);
    CHECK(sum == N);

    /* a Gaussian with max 3.3: compare with the values binned at TensorRT's width */
    qb_calib_hist_reset(h);
    for (int k = 0; k < N; k++) {
        double u1 = frand(1e-7f, 1), u2 = frand(0, 1);
        x[k] = (float)(sqrt(-2 * log(u1)) * cos(2 * 3.14159265358979323846 * u2));
        if (fabsf(x[k]) > 3.3f)
            x[k] = 3.3f;
    }
    qb_calib_hist_add(h, x, N);
    qb_calib_hist_trt(h, trt);
    for (int k = 0; k < N; k++) {
        int t = (int)(fabsf(x[k]) / h->max * QB_CALIB_TRT_BINS);
        direct[t < QB_CALIB_TRT_BINS ? t : QB_CALIB_TRT_BINS - 1]++;
    }
    sum = 0;
    for (int t = 0; t < QB_CALIB_TRT_BINS; t++) {
        double d = fabs(trt[t] - direct[t]);
        sum += trt[t];
        /* only the two cut fine bins (each at most a quarter of a TRT bin) are shared out by
         * assumption: with 100+ values a bin, about 6% at worst here */
        if (direct[t] >= 100 && d / direct[t] > worst && t < QB_CALIB_TRT_BINS - 1)
            worst = d / direct[t];
    }
    CHECKF(near(sum, N, 1e-6), "sum %.3f", sum);
    CHECKF(trt[QB_CALIB_TRT_BINS - 1] >= direct[QB_CALIB_TRT_BINS - 1] - 1, "top bin keeps the clipped values");
    CHECKF(worst < 0.12, "TRT bins from fine bins: worst relative difference %.3f", worst);
    free(x);
    free(h);
    free(trt);
    free(direct);
}

/* Entropy ------------------------------------------------------------------------- */

/* KL of normalised p and q as scipy.stats.entropy computes it (the hand reference). */
static double kl_ref(const double *p, const double *q, int n)
{
    double sp = 0, sq = 0, kl = 0;
    for (int j = 0; j < n; j++) {
        sp += p[j];
        sq += q[j];
    }
    for (int j = 0; j < n; j++) {
        if (p[j] == 0)
            continue;
        if (q[j] == 0)
            return INFINITY;
        kl += p[j] / sp * log((p[j] / sp) / (q[j] / sq));
    }
    return kl;
}

/* The algorithm in miniature (8 bins, 2 levels, thresholds from 4), worked by hand:
 *   h = [2, 3, 0, 0, 6, 2, 1, 1]  (15 values)
 *   i = 4: P = [2, 3, 0, 0+6+2+1+1 = 10]; P[3] > 0 but h[3] = 0, so Q[3] = 0: KL = inf
 *   i = 5: levels floor(2j/5): {0,1,2} {3,4}
 *          P = [2, 3, 0, 0, 6+4 = 10]
 *          Q = [5/2, 5/2, 0 | 0, 6/1]          (level sums spread over non-zero bins)
 *          KL = 2/15 ln((2/15)/(2.5/11)) + 3/15 ln((3/15)/(2.5/11)) + 10/15 ln((10/15)/(6/11)) = 0.03711
 *   i = 6: levels {0,1,2} {3,4,5}
 *          P = [2, 3, 0, 0, 6, 2+2 = 4],  Q = [2.5, 2.5, 0 | 0, 4, 4]  (sum 13)
 *          KL = 2/15 ln((2/15)/(2.5/13)) + 3/15 ln((3/15)/(2.5/13)) + 6/15 ln((6/15)/(4/13))
 *             + 4/15 ln((4/15)/(4/13)) = 0.02580
 *   i = 7: levels {0..3} {4,5,6}: P = [2, 3, 0, 0, 6, 2, 1+1 = 2], Q = [2.5, 2.5, 0, 0 | 3, 3, 3] = 0.10685
 *   i = 8: levels {0..3} {4..7}: P = h, Q = [2.5, 2.5, 0, 0 | 2.5, 2.5, 2.5, 2.5] = 0.20497
 * The smallest is i = 6: amax would be 6 bin widths. */
static void test_entropy_by_hand(void)
{
    const double h[8] = {2, 3, 0, 0, 6, 2, 1, 1};
    const double kl5 = 2.0 / 15 * log((2.0 / 15) / (2.5 / 11)) + 3.0 / 15 * log((3.0 / 15) / (2.5 / 11)) +
                       10.0 / 15 * log((10.0 / 15) / (6.0 / 11));
    const double kl6 = 2.0 / 15 * log((2.0 / 15) / (2.5 / 13)) + 3.0 / 15 * log((3.0 / 15) / (2.5 / 13)) +
                       6.0 / 15 * log((6.0 / 15) / (4.0 / 13)) + 4.0 / 15 * log((4.0 / 15) / (4.0 / 13));
    const double p7[7] = {2, 3, 0, 0, 6, 2, 2}, q7[7] = {2.5, 2.5, 0, 0, 3, 3, 3};
    const double q8[8] = {2.5, 2.5, 0, 0, 2.5, 2.5, 2.5, 2.5};
    const double kl7 = kl_ref(p7, q7, 7), kl8 = kl_ref(h, q8, 8);

    CHECKF(near(kl5, 0.03711, 5e-6) && near(kl6, 0.02580, 5e-6) && near(kl7, 0.10685, 5e-6) &&
               near(kl8, 0.20497, 5e-6), "hand values %.5f %.5f %.5f %.5f", kl5, kl6, kl7, kl8);
    CHECK(isinf(qb_calib_entropy_kl(h, 8, 2, 4)));
    CHECKF(near(qb_calib_entropy_kl(h, 8, 2, 5), kl5, 1e-12), "i=5: %.6f", qb_calib_entropy_kl(h, 8, 2, 5));
    CHECKF(near(qb_calib_entropy_kl(h, 8, 2, 6), kl6, 1e-12), "i=6: %.6f", qb_calib_entropy_kl(h, 8, 2, 6));
    CHECKF(near(qb_calib_entropy_kl(h, 8, 2, 7), kl7, 1e-12), "i=7: %.6f", qb_calib_entropy_kl(h, 8, 2, 7));
    CHECKF(near(qb_calib_entropy_kl(h, 8, 2, 8), kl8, 1e-12), "i=8: %.6f", qb_calib_entropy_kl(h, 8, 2, 8));
    CHECKF(qb_calib_entropy_pick(h, 8, 2, 4) == 6, "pick %d", qb_calib_entropy_pick(h, 8, 2, 4));
    CHECK(qb_calib_entropy_pick((const double[8]){0}, 8, 2, 4) == 0);
}

/* The algorithm as TensorRT's slides write it, O(i) per threshold: the reference
 * for the O(levels) form on full-size histograms. */
static double kl_naive(const double *bins, int n, int levels, int i)
{
    double *p = malloc((size_t)i * sizeof(double)), *q = calloc((size_t)i, sizeof(double));
    double *sum = calloc((size_t)levels, sizeof(double)), kl;
    int *nz = calloc((size_t)levels, sizeof(int));
    for (int j = 0; j < i; j++)
        p[j] = bins[j];
    for (int j = i; j < n; j++)
        p[i - 1] += bins[j];
    for (int j = 0; j < i; j++) { /* bin j belongs to level floor(levels * j / i) */
        sum[(long long)levels * j / i] += bins[j];
        nz[(long long)levels * j / i] += bins[j] > 0;
    }
    for (int j = 0; j < i; j++)
        if (bins[j] > 0)
            q[j] = sum[(long long)levels * j / i] / nz[(long long)levels * j / i];
    kl = kl_ref(p, q, i);
    free(p);
    free(q);
    free(sum);
    free(nz);
    return kl;
}

static void test_entropy_full_size(void)
{
    enum { N = QB_CALIB_TRT_BINS };
    double *bins = malloc(N * sizeof(double)), best = INFINITY;
    int pick = 0, worst_i = 0;
    double worst = 0;

    /* a long-tailed histogram with holes, fractional counts (as from the fine bins) */
    for (int j = 0; j < N; j++) {
        bins[j] = 1e6 * exp(-j / 60.0) + (rng32() % 7 == 0 ? 0 : frand(0, 3));
        if (j > 1500 && rng32() % 3)
            bins[j] = 0;
    }
    for (int i = QB_CALIB_TRT_START; i <= N; i++) {
        double want = kl_naive(bins, N, QB_CALIB_TRT_LEVELS, i), got = qb_calib_entropy_kl(bins, N, 128, i);
        if (isinf(want) != isinf(got)) {
            worst = INFINITY;
            worst_i = i;
        } else if (!isinf(want) && fabs(want - got) > worst) {
            worst = fabs(want - got);
            worst_i = i;
        }
        if (want <= best) {
            best = want;
            pick = i;
        }
    }
    CHECKF(worst < 1e-9, "O(levels) KL differs from the naive one by %.3g at i = %d", worst, worst_i);
    CHECKF(qb_calib_entropy_pick(bins, N, 128, 128) == pick, "pick %d, naive %d",
           qb_calib_entropy_pick(bins, N, 128, 128), pick);
    CHECKF(pick > 128 && pick < N, "an interior threshold (%d)", pick);
    free(bins);
}

/* Max, percentile, mse ------------------------------------------------------------ */

static void test_percentile(void)
{
    enum { N = 100000 };
    float *x = malloc(N * sizeof(*x));
    struct qb_calib_hist *h = hist_new();
    struct qb_calib_params p = {.method = QB_CALIB_PERCENTILE, .percentile = 99};
    float a, step;

    /* values 0, 1, ..., N-1 (negated on odd k: |x| counts): the 99th percentile of |x|
     * is 98999 (99000 values <= it); the answer is the upper edge of its fine bin */
    for (int k = 0; k < N; k++)
        x[k] = (float)(k % 2 ? -k : k);
    qb_calib_hist_add(h, x, N);
    step = ldexpf(1.0f, h->exp) / QB_CALIB_BINS; /* 131072 / 16384 = 8 */
    a = qb_calib_hist_amax(h, &p);
    CHECKF(a >= 98999.0f && a <= 98999.0f + step, "p99 %.1f", a);
    p.percentile = 99.99;
    a = qb_calib_hist_amax(h, &p);
    CHECKF(a >= 99989.0f && a <= 99989.0f + step, "p99.99 %.1f", a);
    p.percentile = 0; /* the default */
    CHECK(qb_calib_hist_amax(h, &p) == a);
    p.percentile = 100;
    CHECKF(qb_calib_hist_amax(h, &p) == 99999.0f, "p100 is the max");
    CHECK(qb_calib_hist_amax(h, &(struct qb_calib_params){.method = QB_CALIB_MAX}) == 99999.0f);
    free(x);
    free(h);
}

/* Uniform density on [0, n) in bins of width 1, amax = i, s = i/127: cell 0 holds
 * [0, s/2) with error s^3/24; cells 1..126 s^3/12 each; the clamped cell 127 holds
 * [126.5 s, n): ((n - i)^3 + (s/2)^3) / 3 (its value is 127 s = i). Per value: / n. */
static double mse_uniform(double n, double i)
{
    double s = i / 127;
    return (s * s * s / 24 + 126 * s * s * s / 12 + ((n - i) * (n - i) * (n - i) + s * s * s / 8) / 3) / n;
}

static void test_mse(void)
{
    enum { N = QB_CALIB_TRT_BINS, SAMPLES = 100000 };
    double *bins = malloc(N * sizeof(double)), best = INFINITY;
    int want = 0;
    float *x = malloc(SAMPLES * sizeof(float));
    struct qb_calib_hist *h = hist_new();
    struct qb_calib_params p = {.method = QB_CALIB_MSE};
    float a, grid_best = 0;
    double e_ours = 0, e_grid = INFINITY;

    for (int j = 0; j < N; j++)
        bins[j] = 1;
    for (int i = 128; i <= N; i += 97)
        CHECKF(near(qb_calib_mse_error(bins, N, 127, i), mse_uniform(N, i), 1e-9 * mse_uniform(N, i)),
               "uniform, i = %d: %.9g, closed form %.9g", i, qb_calib_mse_error(bins, N, 127, i), mse_uniform(N, i));
    for (int i = 128; i <= N; i++)
        if (mse_uniform(N, i) < best) {
            best = mse_uniform(N, i);
            want = i;
        }
    CHECKF(qb_calib_mse_pick(bins, N, 127, 128) == want && want < N, "uniform: pick %d, closed form %d",
           qb_calib_mse_pick(bins, N, 127, 128), want);

    /* Laplace samples: the chosen amax quantizes them (rne, clamp 127) about as well
     * as the best of a fine grid of amax values, measured on the samples themselves */
    for (int k = 0; k < SAMPLES; k++) {
        double u = frand(1e-7f, 1.0f);
        x[k] = (float)(-log(u)) * (rng32() % 2 ? 1.0f : -1.0f);
    }
    qb_calib_hist_add(h, x, SAMPLES);
    a = qb_calib_hist_amax(h, &p);
    for (int g = 0; g <= 80; g++) {
        float amax = a == 0 ? 0 : h->max * (0.05f + 0.95f * g / 80.0f), s = amax / 127.0f;
        double e = 0;
        for (int k = 0; k < SAMPLES; k++) {
            float q = rintf(fabsf(x[k]) / s);
            q = q > 127 ? 127 : q;
            e += (fabsf(x[k]) - q * s) * (fabsf(x[k]) - q * s);
        }
        if (e < e_grid) {
            e_grid = e;
            grid_best = amax;
        }
    }
    for (int k = 0; k < SAMPLES; k++) {
        float s = a / 127.0f, q = rintf(fabsf(x[k]) / s);
        q = q > 127 ? 127 : q;
        e_ours += (fabsf(x[k]) - q * s) * (fabsf(x[k]) - q * s);
    }
    CHECKF(a > 0.2f * h->max && a < h->max, "Laplace: amax %.3f clips the tail (max %.3f)", a, h->max);
    CHECKF(e_ours <= 1.03 * e_grid, "Laplace: mse at amax %.3f is %.4g, the grid's best (%.3f) %.4g", a, e_ours,
           grid_best, e_grid);
    free(bins);
    free(x);
    free(h);
}

/* Tables --------------------------------------------------------------------------- */

static void fill_table(struct qb_calib_table *t)
{
    memset(t, 0, sizeof(*t));
    memset(t->model_sha256, 'a', 64);
    memset(t->images_sha256, '0', 64);
    t->model = strdup("m.onnx");
    t->params = (struct qb_calib_params){.method = QB_CALIB_PERCENTILE, .percentile = 99.9};
    t->images = 500;
    t->skipped = 2;
    t->batch = 2;
    t->width = 640;
    t->height = 384;
    t->letterbox = QB_LETTERBOX_VAL;
    t->n = 3;
    t->names = calloc(3, sizeof(char *));
    t->amax = calloc(3, sizeof(float));
    t->names[0] = strdup("images");
    t->names[1] = strdup("/model.0/conv/Conv_output_0");
    t->names[2] = strdup("x\"quoted\"");
    t->amax[0] = 1.0f;
    t->amax[1] = 12.345678f;
    t->amax[2] = 0.0f;
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

/* A valid table with one part replaced (sed-like: the first `from` by `to`). */
static enum qb_status load_edited(const char *good, const char *from, const char *to, struct qb_error *err)
{
    char path[300], *text, *at;
    size_t len;
    struct qb_calib_table t;
    FILE *f;
    enum qb_status st;

    assert(qb_file_read(good, 1 << 20, &text, &len, err) == QB_OK);
    at = strstr(text, from);
    assert(at);
    snprintf(path, sizeof(path), "%s/edited.json", tmpdir);
    f = fopen(path, "w");
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
    free(text);
    st = qb_calib_table_load(path, NULL, &t, err);
    qb_calib_table_free(&t);
    return st;
}

static void test_table_files(void)
{
    struct qb_calib_table t, u;
    struct qb_error err = {0};
    char path[300], trt[300], sha[65], *text;
    size_t len;
    static const struct {
        const char *from, *to, *needle;
    } bad[] = {
        {"\"/model.0/conv/Conv_output_0\":\t", "\"/model.0/conv/Conv_output_0\":\t\"12\",\n\t\t\"z\":\t",
         "$.tensors[\"/model.0/conv/Conv_output_0\"]: expected a finite number >= 0"},
        {"\"images\":\t1", "\"images\":\t-1", "$.tensors[\"images\"]"},
        {"\"method\"", "\"methd\"", "$.methd: unknown key"},
        {"\"letterbox\":\t\"val\"", "\"letterbox\":\t\"box\"", "$.preprocess.letterbox"},
        {"\"sha256\":\t\"aaaa", "\"sha256\":\t\"Xaaa", "$.model.sha256"},
        {"\"count\":\t500", "\"count\":\t500.5", "$.images.count"},
        {"\"version\":\t1", "\"version\":\t7", "$.version: 7, from a newer qbench"},
        {"\"format\":\t\"qbench-calib\"", "\"format\":\t\"qbench-plan\"", "$.format"},
        {"\"percentile\":\t99.9", "\"percentile\":\t120", "$.percentile"},
        {"\"input\":\t[2, 3, 384, 640]", "\"input\":\t[2, 3, 384]", "$.preprocess.input"},
        {"\"skipped\"", "\"skipped\":\t1,\n\t\t\"skipped\"", "repeated key"},
        {"\"tensors\":\t{", "\"tensors\":\t[", "not valid JSON"},
    };

    fill_table(&t);
    snprintf(path, sizeof(path), "%s/t.json", tmpdir);
    CHECKF(qb_calib_table_save(&t, path, &err) == QB_OK, "save: %s", err.msg);
    CHECKF(qb_calib_table_load(path, t.model_sha256, &u, &err) == QB_OK, "load: %s", err.msg);
    CHECK(strcmp(u.model_sha256, t.model_sha256) == 0 && strcmp(u.images_sha256, t.images_sha256) == 0);
    CHECK(u.model && strcmp(u.model, "m.onnx") == 0);
    CHECK(u.params.method == QB_CALIB_PERCENTILE && u.params.percentile == 99.9);
    CHECK(u.images == 500 && u.skipped == 2 && u.batch == 2 && u.width == 640 && u.height == 384);
    CHECK(u.letterbox == QB_LETTERBOX_VAL && u.n == 3);
    for (int k = 0; k < 3 && u.n == 3; k++)
        CHECKF(strcmp(u.names[k], t.names[k]) == 0 && u.amax[k] == t.amax[k], "tensor %d round trip", k);
    qb_calib_table_free(&u);

    /* another model: refused, naming both hashes */
    memset(sha, 'b', 64);
    sha[64] = '\0';
    CHECK(qb_calib_table_load(path, sha, &u, &err) == QB_ERR_INVALID);
    CHECKF(strstr(err.msg, "another model") && strstr(err.msg, "aaaaaaaaaaaa") && strstr(err.msg, "bbbbbbbbbbbb"),
           "%s", err.msg);
    CHECK(u.n == 0 && !u.names);

    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        err.msg[0] = '\0';
        enum qb_status st = load_edited(path, bad[k].from, bad[k].to, &err);
        CHECKF(st != QB_OK && strstr(err.msg, bad[k].needle), "case %zu: want '%s', got '%s'", k, bad[k].needle,
               err.msg);
    }
    snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
    CHECK(qb_calib_table_load(path, NULL, &u, &err) == QB_ERR_IO && strstr(err.msg, "missing.json"));
    write_text(path, "{\"format\": \"qbench-calib\", \"version\": 1}");
    CHECKF(qb_calib_table_load(path, NULL, &u, &err) == QB_ERR_PARSE && strstr(err.msg, "$.model: missing"), "%s",
           err.msg);

    /* TensorRT cache: header, then scale = amax / 127 as big-endian float32 hex */
    snprintf(trt, sizeof(trt), "%s/t.cache", tmpdir);
    t.amax[1] = 2.5f;
    CHECKF(qb_calib_table_write_trt(&t, trt, NULL, &err) == QB_OK, "%s", err.msg);
    CHECK(qb_file_read(trt, 1 << 20, &text, &len, &err) == QB_OK);
    CHECKF(strcmp(text, "TRT-8601-EntropyCalibration2\nimages: 3c010204\n/model.0/conv/Conv_output_0: 3ca14285\n"
                        "x\"quoted\": 3f800000\n") == 0, "cache:\n%s", text);
    free(text);
    qb_calib_table_free(&t);
}

/* The collector behind the executor, the table it gives, amax for a plan, the cache. */
static void test_collector(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char model[512], dir[300], key[65];
    struct qb_graph *g = NULL;
    struct qb_executor *e = NULL;
    struct qb_calib_collector *c = NULL, *d = NULL;
    struct qb_calib_table t = {.params = {.method = QB_CALIB_MAX}};
    struct qb_error err = {0};
    struct qb_tview *in;
    enum qb_prec *prec;
    float *amax, in_max = 0;
    int n_act = 0, v_in, victim = -1, victim_node = -1;
    long images = 0, skipped = 0;

    snprintf(model, sizeof(model), "%s/tests/data/yolov8n-tiny-b2-320.onnx", src ? src : ".");
    if (qb_onnx_load(model, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK) {
        CHECKF(false, "%s", err.msg);
        qb_graph_free(g);
        return;
    }
    CHECKF(qb_calib_collector_new(g, 2, &c, &err) == QB_OK, "%s", err.msg);
    CHECKF(qb_exec_new(g, &(struct qb_exec_opts){.n_threads = 2, .observe = qb_calib_observe, .observe_user = c}, &e,
                       &err) == QB_OK, "%s", err.msg);
    in = qb_exec_input(e, 0);
    v_in = g->inputs[0];
    for (int run = 0; run < 2; run++) {
        float *x = in->data;
        for (int64_t k = 0; k < qb_tview_numel(in); k++) {
            x[k] = frand(0, 1);
            in_max = x[k] > in_max ? x[k] : in_max;
        }
        CHECKF(qb_exec_run(e, &err) == QB_OK, "%s", err.msg);
    }
    CHECK(qb_calib_collector_runs(c) == 2);
    CHECK(qb_calib_collector_hist(c, v_in)->max == in_max);
    CHECK(qb_calib_collector_hist(c, v_in)->count == 2 * (uint64_t)qb_tview_numel(in));
    CHECKF(qb_calib_table_from(c, &t, &err) == QB_OK, "%s", err.msg);
    for (int v = 0; v < g->n_values; v++)
        n_act += qb_calib_collector_hist(c, v) != NULL;
    CHECKF(t.n == n_act && t.n > 50, "%d tensors of %d activations", t.n, n_act);
    CHECK(t.n > 0 && strcmp(t.names[0], g->values[v_in].name) == 0 && t.amax[0] == in_max);

    /* amax for a plan: every Conv INT8 */
    prec = calloc((size_t)g->n_nodes, sizeof(*prec));
    amax = malloc((size_t)g->n_values * sizeof(*amax));
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (strcmp(n->op_type, "Conv") == 0) {
            prec[g->order[i]] = QB_PREC_INT8;
            if (n->in[0] != v_in && victim < 0) {
                victim = n->in[0];
                victim_node = g->order[i];
            }
        }
    }
    CHECKF(qb_calib_table_amax(&t, g, prec, amax, &err) == QB_OK, "%s", err.msg);
    CHECK(amax[v_in] == in_max && isnan(amax[g->nodes[g->order[0]].in[1]]));
    /* drop the input of one INT8 Conv from the table: an error naming node and tensor */
    for (int k = 0; k < t.n; k++)
        if (victim >= 0 && strcmp(t.names[k], g->values[victim].name) == 0) {
            t.names[k][0] ^= 1;
            break;
        }
    CHECK(qb_calib_table_amax(&t, g, NULL, amax, &err) == QB_ERR_INVALID && strstr(err.msg, "another model"));
    for (int k = 0; k < t.n; k++)
        if (victim >= 0 && t.names[k][0] == (g->values[victim].name[0] ^ 1) &&
            strcmp(t.names[k] + 1, g->values[victim].name + 1) == 0) {
            free(t.names[k]);
            t.names[k] = t.names[--t.n];
            break;
        }
    CHECK(qb_calib_table_amax(&t, g, prec, amax, &err) == QB_ERR_INVALID);
    CHECKF(victim_node >= 0 && strstr(err.msg, g->nodes[victim_node].name) && strstr(err.msg, g->values[victim].name),
           "%s", err.msg);
    prec[victim_node] = QB_PREC_FP16;
    CHECKF(qb_calib_table_amax(&t, g, prec, amax, &err) == QB_OK, "FP16 node needs no amax: %s", err.msg);

    /* the cache: a round trip gives the same histograms; damage is recognised */
    snprintf(dir, sizeof(dir), "%s/cache", tmpdir);
    setenv("QB_CACHE_DIR", dir, 1);
    CHECK(qb_calib_cache_dir(dir, sizeof(dir), &err) == QB_OK);
    memset(t.model_sha256, 'c', 64);
    memset(t.images_sha256, 'd', 64);
    qb_calib_cache_key(&t, key);
    CHECKF(qb_calib_collector_new(g, 1, &d, &err) == QB_OK, "%s", err.msg);
    CHECK(qb_calib_cache_load(d, dir, key, &images, &skipped, &err) == QB_ERR_IO);
    CHECKF(qb_calib_cache_save(c, dir, key, 4, 1, &err) == QB_OK, "%s", err.msg);
    CHECKF(qb_calib_cache_load(d, dir, key, &images, &skipped, &err) == QB_OK, "%s", err.msg);
    CHECK(images == 4 && skipped == 1);
    {
        bool same = true;
        for (int v = 0; v < g->n_values; v++) {
            const struct qb_calib_hist *a = qb_calib_collector_hist(c, v), *b = qb_calib_collector_hist(d, v);
            if (a)
                same &= b && a->max == b->max && a->exp == b->exp && a->count == b->count &&
                        memcmp(a->bins, b->bins, sizeof(a->bins)) == 0;
        }
        CHECK(same);
    }
    {
        char path[400], *data;
        size_t len;
        qb_calib_cache_path(dir, key, path, sizeof(path));
        CHECK(qb_file_read(path, (size_t)1 << 30, &data, &len, &err) == QB_OK);
        data[len / 2] ^= 0x10;
        CHECK(qb_file_write_atomic(path, data, len, &err) == QB_OK);
        free(data);
        CHECK(qb_calib_cache_load(d, dir, key, &images, &skipped, &err) == QB_ERR_PARSE && strstr(err.msg, "checksum"));
        CHECK(qb_calib_collector_hist(d, v_in)->count == 0);
    }
    {
        char other[65];
        t.height = 640;
        qb_calib_cache_key(&t, other);
        CHECK(strcmp(other, key) != 0);
    }
    free(prec);
    free(amax);
    qb_calib_table_free(&t);
    qb_exec_free(e);
    qb_calib_collector_free(c);
    qb_calib_collector_free(d);
    qb_graph_free(g);
}

/* The image-hash memo: a hit while the file is unchanged, a miss once it changed. */
static void test_digests(void)
{
    char dir[300], file[320], memo[340];
    struct qb_calib_digests *d = NULL;
    struct qb_calib_stamp st;
    struct qb_error err = {0};
    uint8_t want[32], got[32];

    snprintf(dir, sizeof(dir), "%s/memo", tmpdir);
    snprintf(file, sizeof(file), "%s/a.png", tmpdir);
    mkdir(dir, 0755);
    write_text(file, "pretend image");
    CHECK(qb_calib_digests_open(dir, &d, &err) == QB_OK);
    qb_calib_stamp_of(file, &st);
    CHECK(st.ok && st.size == 13);
    CHECK(!qb_calib_digests_get(d, file, &st, got));
    CHECK(qb_calib_file_digest(file, want, &err) == QB_OK);
    qb_calib_digests_put(d, file, &st, want);
    CHECKF(qb_calib_digests_save(d, &err) == QB_OK, "%s", err.msg);
    qb_calib_digests_free(d);

    CHECK(qb_calib_digests_open(dir, &d, &err) == QB_OK);
    CHECK(qb_calib_digests_get(d, file, &st, got) && memcmp(got, want, 32) == 0);
    qb_calib_digests_free(d);

    write_text(file, "another image, longer"); /* new size and mtime: a miss */
    qb_calib_stamp_of(file, &st);
    CHECK(qb_calib_digests_open(dir, &d, &err) == QB_OK);
    CHECK(!qb_calib_digests_get(d, file, &st, got));
    qb_calib_digests_free(d);

    snprintf(memo, sizeof(memo), "%s/digests.qbd", dir); /* damaged: dropped, not trusted */
    write_text(memo, "QBDIGEST garbage that fails the checksum ............................................");
    CHECK(qb_calib_digests_open(dir, &d, &err) == QB_OK && d);
    CHECK(!qb_calib_digests_get(d, file, &st, got));
    qb_calib_digests_free(d);
}

static void test_methods_names(void)
{
    enum qb_calib_method m;
    struct qb_error err = {0};
    for (int k = 0; k < QB_CALIB_METHOD_COUNT; k++)
        CHECK(qb_calib_method_parse(qb_calib_method_name((enum qb_calib_method)k), &m, &err) == QB_OK && (int)m == k);
    CHECK(qb_calib_method_parse("kl", &m, &err) == QB_ERR_USAGE && strstr(err.msg, "entropy"));
}

int main(void)
{
    make_tmpdir(tmpdir, sizeof(tmpdir), "test_calib");
    test_growth();
    test_trt_bins();
    test_entropy_by_hand();
    test_entropy_full_size();
    test_percentile();
    test_mse();
    test_table_files();
    test_collector();
    test_digests();
    test_methods_names();
    remove_tree(tmpdir);
    return test_summary("test_calib");
}
