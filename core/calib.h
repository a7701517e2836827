/* Calibration: the range (amax) of every float activation, measured on the FP32
 * model over calibration images, for the INT8 nodes of a plan (DESIGN.md
 * "Calibration", "Numerics").
 *
 * One pass over the images collects, per float tensor (graph inputs and node
 * outputs), a histogram of |x| that every method reads afterwards, so choosing
 * another method or percentile costs no inference:
 *
 *     struct qb_calib_collector *c;
 *     qb_calib_collector_new(g, n_threads, &c, &err);
 *     struct qb_exec_opts o = {.n_threads = 2, .observe = qb_calib_observe, .observe_user = c};
 *     qb_exec_new(g, &o, &e, &err);
 *     for each batch: fill the input, qb_exec_run(e, &err);     // c sees every tensor
 *     struct qb_calib_table t = {.params = {.method = QB_CALIB_ENTROPY}};
 *     qb_calib_table_from(c, &t, &err);                          // amax per tensor
 *     qb_calib_table_save(&t, "calib.json", &err);
 *     ...
 *     qb_calib_table_load("calib.json", model_sha256, &t, &err); // refuses other models
 *     qb_calib_table_amax(&t, g, prec, amax, &err);              // amax[] for qb_exec_opts
 *     qb_calib_table_free(&t);
 *
 * The histogram (struct qb_calib_hist): QB_CALIB_BINS = 16384 equal bins over
 * [0, R), R = 2^e the smallest power of two strictly above the largest |x| seen
 * so far (bin j holds j*R/16384 <= |x| < (j+1)*R/16384). A larger value doubles R
 * as often as needed, each doubling adding bins 2j and 2j+1 into bin j. The bin
 * width is a power of two, so an index is an exact product and floor: a histogram
 * grown this way equals, bin for bin, one built with the final R from the start.
 * Non-finite values are counted apart and left out of every statistic.
 *
 * How that maps onto TensorRT's histogram: TensorRT's entropy calibrator bins |x|
 * into 2048 bins over [0, max|x|]. Since max|x| >= R/2, those 2048 bins span at
 * least 8192 of ours (each at least 4), and qb_calib_hist_trt() forms them by
 * giving every fine bin's count to the 2048-bin grid in proportion to overlap
 * (uniform density within a fine bin); the top bin takes everything up to max
 * (values equal to max fall in it, as in TensorRT). Only the fine bins cut by a
 * 2048-grid edge are split, so each of the 2048 counts is exact up to the share of
 * the two fine bins at its edges (at most a quarter of a bin width each side).
 *
 * The methods (amax of one tensor from its histogram):
 *  - max: the largest finite |x| seen (exact, not from the bins);
 *  - percentile P (default 99.99): the upper edge of the first fine bin at which
 *    the cumulative count reaches P% of the values (so within R/16384 above the
 *    exact percentile), at most max; as pytorch-quantization/ModelOpt read theirs;
 *  - entropy: TensorRT's IInt8EntropyCalibrator2 KL-divergence search on the 2048
 *    bins h[0..2047] (qb_calib_entropy_kl): for each threshold i = 128 .. 2048,
 *      P = h[0..i-1] with the outliers h[i..2047] added to P[i-1];
 *      Q = h[0..i-1] merged into 128 levels (bin j goes to level floor(128 j / i),
 *          the np.digitize over linspace(0, i, 129) of NVIDIA's pytorch-quantization
 *          and ModelOpt), each level's sum spread evenly over the level's non-zero
 *          bins, zero bins staying zero;
 *      KL(P || Q) of the normalised P and Q (a bin with P > 0 and Q = 0 is +inf);
 *    the smallest KL wins (ties: the larger i, as those tools pick); amax = i *
 *    max / 2048, the chosen threshold's upper edge. (pytorch-quantization also
 *    replaces h[0] by h[1] to discount ReLU's zeros; qbench does not.)
 *  - mse: the threshold i = 128 .. 2048 on the same bins (amax = i * max / 2048)
 *    minimising the expected squared error of quantizing |x| with scale s = amax /
 *    127, round half to even, clamped at 127 (qb_calib_mse_error: exact integrals
 *    with the density uniform within each bin); ties: the smaller i. |x| hides the
 *    sign, so the negative side's extra level (-128) is not credited.
 * A tensor that is zero everywhere gets amax 0 (the executor's qb_quant_scale()
 * turns that into a safe scale).
 */
#ifndef QB_CALIB_H
#define QB_CALIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "graph.h"
#include "image.h"
#include "op.h"
#include "status.h"

#define QB_CALIB_BINS 16384     /* fine bins of struct qb_calib_hist (a power of two) */
#define QB_CALIB_TRT_BINS 2048  /* TensorRT's histogram */
#define QB_CALIB_TRT_LEVELS 128 /* INT8 levels of the positive side (TensorRT's nbins) */
#define QB_CALIB_TRT_START 128  /* first threshold searched, in bins */
#define QB_CALIB_PERCENTILE_DEFAULT 99.99
#define QB_CALIB_TABLE_VERSION 1

/* NOTE: append only: the names are written in tables and the cache key. */
enum qb_calib_method {
    QB_CALIB_MAX = 0,
    QB_CALIB_PERCENTILE,
    QB_CALIB_ENTROPY,
    QB_CALIB_MSE,
    QB_CALIB_METHOD_COUNT
};

/* "max", "percentile", "entropy", "mse" */
const char *qb_calib_method_name(enum qb_calib_method m);
/* QB_ERR_USAGE naming the choices when name is none of them. */
enum qb_status qb_calib_method_parse(const char *name, enum qb_calib_method *out, struct qb_error *err);

struct qb_calib_params {
    enum qb_calib_method method;
    double percentile;            /* QB_CALIB_PERCENTILE: in (0, 100]; 0 = default */
};

/* One tensor's |x| statistics (see above). Plain data, about 128 KiB: allocate it. */
struct qb_calib_hist {
    float max;                    /* largest finite |x| */
    int exp;                      /* R = 2^exp; meaningful once max > 0 */
    uint64_t count;               /* finite values binned */
    uint64_t nonfinite;           /* NaN and inf values seen (not binned) */
    uint64_t bins[QB_CALIB_BINS];
};

/* Empties h. */
void qb_calib_hist_reset(struct qb_calib_hist *h);
/* Adds n values (8 at a time with SIMD; the range grows as needed). Not thread-safe. */
void qb_calib_hist_add(struct qb_calib_hist *h, const float *x, size_t n);
/* dst += src (either range may be the larger). */
void qb_calib_hist_merge(struct qb_calib_hist *dst, const struct qb_calib_hist *src);
/* TensorRT's 2048 bins over [0, max] (see above); all zero when max is 0. */
void qb_calib_hist_trt(const struct qb_calib_hist *h, double out[QB_CALIB_TRT_BINS]);
/* amax of h by the method p names. */
float qb_calib_hist_amax(const struct qb_calib_hist *h, const struct qb_calib_params *p);

/* The searches on any histogram bins[0..n-1] of |x| with bins of width 1, exposed
 * for tests; the methods call them with n = 2048, levels = 128, start = 128.
 * qb_calib_entropy_kl: KL(P || Q) for threshold i (levels <= i <= n), +inf when
 * some bin has P > 0 and Q = 0; qb_calib_entropy_pick returns the i in start..n
 * with the smallest (ties: the largest i), 0 when every bin is empty.
 * qb_calib_mse_error: expected squared error (per value, in bin-width units) of
 * quantizing with amax = i, levels 0..qmax, scale i / qmax; qb_calib_mse_pick
 * returns the i in start..n with the smallest (ties: the smallest i). */
double qb_calib_entropy_kl(const double *bins, int n, int levels, int i);
int qb_calib_entropy_pick(const double *bins, int n, int levels, int start);
double qb_calib_mse_error(const double *bins, int n, int qmax, double i);
int qb_calib_mse_pick(const double *bins, int n, int qmax, int start);

/* The collector: one histogram per float activation of a prepared graph, fed by
 * the executor's observer (on the executor's thread). n_threads (<= 0: one per
 * CPU) compute the methods in qb_calib_table_from(). */
struct qb_calib_collector;

enum qb_status qb_calib_collector_new(const struct qb_graph *g, int n_threads, struct qb_calib_collector **out,
                                      struct qb_error *err);
void qb_calib_collector_free(struct qb_calib_collector *c);
/* The qb_exec_observe_fn to set in struct qb_exec_opts (user = the collector). */
void qb_calib_observe(void *user, int value, const struct qb_tview *t);
/* Histogram of value v (index into g->values), NULL for a value that is not a
 * float activation (constant, integer). Writable, for the cache loader. */
struct qb_calib_hist *qb_calib_collector_hist(struct qb_calib_collector *c, int v);
const struct qb_graph *qb_calib_collector_graph(const struct qb_calib_collector *c);
/* Runs that fed it (batches; counted when the first graph input is observed). */
long qb_calib_collector_runs(const struct qb_calib_collector *c);
void qb_calib_collector_reset(struct qb_calib_collector *c);

/* The calibration table: amax per tensor name and how it was made. Plain data,
 * owned strings and arrays; qb_calib_table_free() frees them. */
struct qb_calib_table {
    char model_sha256[65];        /* of the model file (hex) */
    char *model;                  /* the model's path as given (information only; may be NULL) */
    struct qb_calib_params params;
    long images;                  /* calibration images used */
    long skipped;                 /* unreadable images skipped */
    char images_sha256[65];       /* the image-list hash (qb_calib_list_hash) */
    int batch, width, height;     /* the model input the images were letterboxed into */
    enum qb_letterbox_mode letterbox;
    int n;
    char **names;                 /* n tensor names (graph order) */
    float *amax;                  /* n values >= 0 */
};

void qb_calib_table_free(struct qb_calib_table *t);

/* Fills t->n, names and amax from c by t->params (the other fields stay as the
 * caller set them): every float activation the collector saw, in g->values order.
 * Tensors are computed in parallel on the collector's threads. */
enum qb_status qb_calib_table_from(struct qb_calib_collector *c, struct qb_calib_table *t, struct qb_error *err);

/* Writes t as JSON (format "qbench-calib", version QB_CALIB_TABLE_VERSION)
 * atomically: path.tmp.XXXXXX, fsync, rename. */
enum qb_status qb_calib_table_save(const struct qb_calib_table *t, const char *path, struct qb_error *err);

/* Reads a table. Errors name the file and the JSON path of the bad key or value
 * ("c.json: $.tensors[\"x\"]: expected a finite number >= 0 (amax)"); unknown
 * and repeated keys are errors; a
 * table for another model (model_sha256 given and different) is QB_ERR_INVALID
 * naming both hashes. On failure *t is left empty. */
enum qb_status qb_calib_table_load(const char *path, const char *model_sha256, struct qb_calib_table *t,
                                   struct qb_error *err);

/* amax per value for struct qb_exec_opts.amax: amax[v] (g->n_values entries) is
 * the table's value for g->values[v].name, NaN for values the table lacks. With a
 * plan (prec indexed like g->nodes; may be NULL), every float activation input of
 * a runtime INT8 node must be in the table: QB_ERR_INVALID naming the node and the
 * tensor otherwise. A table name that is no float value of g is QB_ERR_INVALID.
 * The lead's executor set-up:
 *     float *amax = malloc(g->n_values * sizeof(float));
 *     qb_calib_table_amax(&t, g, prec, amax, &err);   // then opts.prec = prec, opts.amax = amax */
enum qb_status qb_calib_table_amax(const struct qb_calib_table *t, const struct qb_graph *g,
                                   const enum qb_prec *prec, float *amax, struct qb_error *err);

/* TensorRT calibration cache (trtexec --calib): the header line
 * "TRT-<version>-EntropyCalibration2" (version NULL = "8601", TensorRT 8.6.1; the
 * calibrator name is what trtexec's own calibrator expects, whatever method made
 * the amax), then `name: xxxxxxxx` per tensor, the scale amax / 127 as float32
 * bits in big-endian hex. Written atomically. */
enum qb_status qb_calib_table_write_trt(const struct qb_calib_table *t, const char *path, const char *trt_version,
                                        struct qb_error *err);

/* Hashes -------------------------------------------------------------------- */

/* sha256 of a file's bytes as 64 hex digits and a NUL. */
enum qb_status qb_calib_file_sha256(const char *path, char hex[65], struct qb_error *err);
/* Content hashes for the image-list hash and the leakage guard: an image file's is
 * the sha256 of its bytes; a video frame's the sha256 of (the video file's sha256,
 * the frame index as 8 little-endian bytes). */
enum qb_status qb_calib_file_digest(const char *path, uint8_t out[32], struct qb_error *err);
void qb_calib_frame_digest(const uint8_t file[32], long frame, uint8_t out[32]);
/* The image-list hash: sha256 over the items' content hashes (32 bytes each), in order. */
void qb_calib_list_hash(const uint8_t (*content)[32], size_t n, char hex[65]);

/* A memo of file content hashes in the cache folder, so that a second run
 * re-hashes only the files that changed: an entry is trusted while the file's
 * stat data (size, mtime in ns, inode, device) is unchanged, as git trusts its
 * index. Not thread-safe: look up and store from one thread, hash in parallel. */
struct qb_calib_digests;

struct qb_calib_stamp {
    uint64_t size, mtime_ns, ino, dev;
    bool ok;                      /* false when the file could not be stat'ed */
};

/* Opens the memo of cache folder dir (a missing or damaged one starts empty;
 * damage is warned about). Fails only when out of memory. */
enum qb_status qb_calib_digests_open(const char *dir, struct qb_calib_digests **out, struct qb_error *err);
void qb_calib_digests_free(struct qb_calib_digests *d);
/* The stat data of path (st->ok false when it is no readable regular file). */
void qb_calib_stamp_of(const char *path, struct qb_calib_stamp *st);
/* The memo's digest of path when its stamp matches st (d may be NULL: a miss). */
bool qb_calib_digests_get(struct qb_calib_digests *d, const char *path, const struct qb_calib_stamp *st,
                          uint8_t out[32]);
/* Records digest for path, taken while path had stamp st (ignored when the file
 * changed meanwhile, or d is NULL). */
void qb_calib_digests_put(struct qb_calib_digests *d, const char *path, const struct qb_calib_stamp *st,
                          const uint8_t digest[32]);
/* Writes the memo back (atomically) when it changed. */
enum qb_status qb_calib_digests_save(struct qb_calib_digests *d, struct qb_error *err);

/* The on-disk cache of collected histograms ------------------------------------
 * Keyed by what decides the histograms: model sha256, image-list hash and the
 * preprocessing (input shape, letterbox mode); every method reads the same
 * histograms, so the method is not part of the key. */

/* The cache folder: $QB_CACHE_DIR, else $XDG_CACHE_HOME/qbench, else
 * $HOME/.cache/qbench (created when missing). */
enum qb_status qb_calib_cache_dir(char *buf, size_t len, struct qb_error *err);
/* The key (64 hex digits) of t's model_sha256, images_sha256, batch, width,
 * height and letterbox. */
void qb_calib_cache_key(const struct qb_calib_table *t, char key[65]);
/* Saves c's histograms (and images, skipped) under key, atomically. */
enum qb_status qb_calib_cache_save(const struct qb_calib_collector *c, const char *dir, const char *key,
                                   long images, long skipped, struct qb_error *err);
/* Loads the entry into c (replacing what it holds): QB_OK on a hit; QB_ERR_IO
 * when there is no entry; QB_ERR_PARSE when the entry is corrupt or does not fit
 * the graph (the caller warns and recomputes; c is reset). */
enum qb_status qb_calib_cache_load(struct qb_calib_collector *c, const char *dir, const char *key, long *images,
                                   long *skipped, struct qb_error *err);
/* The entry's path for key, into buf. */
void qb_calib_cache_path(const char *dir, const char *key, char *buf, size_t len);

#endif
