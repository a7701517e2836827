/* Evaluating many plans over one evaluation set, the engine under the sensitivity
 * analyses and the search (issue 6):
 *
 *     struct qb_sweep_item items[n];             // a plan each (precision per node)
 *     qb_sweep_run(&(struct qb_sweep_opts){.g = g, .set = set, .amax = amax, .base = fp16,
 *                                          .exec = &eo, .detect = qb_detect_opts_default(),
 *                                          .cache = dir}, items, n, &err);
 *     items[i].r.map50_95, .fid50_95, .sqnr_db ...
 *
 * - Every plan is scored against the labels (mAP), against the FP32 reference's own
 *   detections (fidelity mAP, core/score.h) and by its output's SQNR and cosine
 *   against FP32; the reference runs once per image.
 * - Reuse: plans that share a prefix of computation with the base plan (all of a
 *   sweep's plans differ from it in one node or a few) start from the base's values at
 *   the first step where they differ (qb_exec_first_diff()): the base runs each
 *   prefix once per image, and a plan whose first change sits halfway down the model
 *   costs half a run.
 * - Results are cached by (model, images, calibration, post-processing, plan hash):
 *   a repeated sweep, or one resumed after a cancel, evaluates only what is missing.
 *   The cache file is rewritten atomically after each plan.
 * - Cancel: *cancel set (from another thread) stops between batches with
 *   QB_ERR_CANCELLED; the plans finished so far are in the cache and in items.
 * - Executors are built through core/exec.h only, so the analyses run on any device
 *   that implements it (reuse where the executor supports qb_exec_first_diff()).
 */
#ifndef QB_SWEEP_H
#define QB_SWEEP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/detect.h"
#include "core/evalset.h"
#include "core/exec.h"

struct qb_sweep_result {
    bool done;                   /* evaluated, or read from the cache */
    bool cached;                 /* read from the cache */
    long images;
    double map50, map50_95;      /* against the labels; NAN without labels */
    double precision, recall;
    double fid50, fid50_95;      /* fidelity mAP against FP32's detections */
    double sqnr_db, cosine;      /* output 0 (a probe: that value) against the reference */
    double seconds;              /* time spent evaluating it (0 when cached) */
};

struct qb_sweep_item {
    const enum qb_prec *prec;    /* per node (g->nodes); NULL: the FP32 reference itself */
    /* -1; else a value (index in g->values): the local analysis compares that value
     * against the base plan's instead of the model's output, and runs no further. */
    int probe;
    char hash[65];               /* the plan's hash, filled in by qb_sweep_run() */
    struct qb_sweep_result r;
};

struct qb_sweep_progress {
    int done, total;             /* plans finished (cached ones included) */
    int item;                    /* the plan running (index into items), -1 for the reference */
    int batch, n_batches;        /* within it */
    double elapsed, eta;         /* seconds; eta < 0: unknown yet */
    /* The items being evaluated: items[i].r.done once plan i is finished (or read from
     * the cache), so a callback can show results as they arrive. */
    const struct qb_sweep_item *items;
};

struct qb_sweep_opts {
    const struct qb_graph *g;
    const char *model_sha256;    /* cache key; NULL or "": no cache */
    const struct qb_evalset *set;
    const float *amax;           /* per value, when a plan runs nodes in INT8 */
    const enum qb_prec *base;    /* the plan the items share prefixes with; NULL: no reuse */
    const struct qb_exec_opts *exec; /* device and threads; prec and amax are set per plan */
    struct qb_detect_opts detect;
    int nc;                      /* classes (the detect head's) */
    bool no_reuse;               /* run each plan from the inputs (measures what reuse saves) */
    const char *cache_dir;       /* NULL: no cache */
    size_t mem_budget;           /* bytes for saved prefixes; 0: 2 GB */
    const atomic_int *cancel;    /* may be NULL */
    void (*progress)(void *user, const struct qb_sweep_progress *p);
    void *user;
};

/* One sweep: evaluates items[n] (results in items[i].r) and frees everything. */
enum qb_status qb_sweep_run(const struct qb_sweep_opts *o, struct qb_sweep_item *items, int n,
                            struct qb_error *err);

/* The same in steps, for callers that evaluate plans in rounds (the search, the TUI):
 * the FP32 reference runs once, at the first qb_sweep_eval(). o is copied; what it
 * points to must outlive the sweep. */
struct qb_sweep;
enum qb_status qb_sweep_new(const struct qb_sweep_opts *o, struct qb_sweep **out, struct qb_error *err);
enum qb_status qb_sweep_eval(struct qb_sweep *w, struct qb_sweep_item *items, int n, struct qb_error *err);
void qb_sweep_free(struct qb_sweep *w);

/* The cache file of a sweep's settings, into path[len] (for messages and tests). */
enum qb_status qb_sweep_cache_path(const struct qb_sweep_opts *o, char *path, size_t len, struct qb_error *err);

#endif
