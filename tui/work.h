/* The workbench's model of a session, without the screen: the model, its evaluation
 * images and calibration, and the long jobs the TUI runs on its worker thread
 * (open, evaluate a plan, sensitivity, search). Everything here goes through
 * core/exec.h (via sensitivity/sweep.h), so the GPU engine plugs in unchanged.
 *
 * Threads: a job runs on one worker thread at a time (tui/worker.c). While it runs,
 * the screen thread reads struct work's loaded fields (g, set, int8 ...) but never
 * changes them; a job reports through struct work_job, whose progress and partial
 * results are guarded by its mutex.
 */
#ifndef QB_TUI_WORK_H
#define QB_TUI_WORK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cli_source.h"
#include "core/plan.h"
#include "sensitivity/search.h"

enum work_job_kind {
    WORK_OPEN = 0,               /* load model, calibration, images; evaluate FP32 and FP16 */
    WORK_EVAL,                   /* evaluate one plan */
    WORK_SENS,                   /* INT8-alone sensitivity by node */
    WORK_SEARCH,                 /* the automatic search (ranking first when there is none) */
    WORK_JOB_COUNT
};

struct work_job {
    enum work_job_kind kind;
    /* inputs, set before the job starts */
    enum qb_prec *prec;          /* WORK_EVAL: the plan (owned by the job) */
    int images;                  /* images to evaluate on (<= loaded) */
    double budget;               /* WORK_SEARCH: points of mAP50-95 */
    bool baselines;              /* WORK_EVAL: FP32 and FP16 first (a new image count) */
    /* progress, guarded by mu */
    pthread_mutex_t mu;
    char what[96];               /* "evaluating plan 3f2a9c0d1b2e", "sensitivity" ... */
    int done, total;             /* steps (plans, images) */
    int batch, n_batches;        /* within the plan running (0: none) */
    double elapsed, eta;         /* seconds; eta < 0: unknown */
    double *partial;             /* WORK_SENS: per node cost as results arrive (NAN: not yet) */
    int n_partial_new;           /* results added since the screen last looked */
    bool ranking;                /* the sensitivity sweep is running (partial is filled) */
    /* results, read once finished */
    atomic_int finished;
    enum qb_status st;
    struct qb_error err;
    struct qb_sweep_result r, fp32, fp16; /* WORK_EVAL: r; WORK_OPEN (and baselines): fp32, fp16 */
    struct qb_sens *sens;        /* WORK_SENS, WORK_SEARCH (owned by the job until taken) */
    struct qb_search *search;    /* WORK_SEARCH */
};

struct work {
    /* settings */
    const char *model;
    struct qb_cli_source src_opts;
    const char *calib;           /* calibration table, or NULL (then only FP16 plans run) */
    const char *op_set;          /* NULL: core */
    int threads;
    /* loaded by WORK_OPEN */
    char sha[65];
    struct qb_graph *g;
    struct qb_cli_loaded src;
    enum qb_prec *int8, *fp16;   /* the op-set's all-INT8 plan, and all-FP16 */
    float *amax;                 /* NULL without calibration */
    char calib_method[32];       /* from the table, "" without */
    int calib_images;            /* images it was made from */
    char cache_dir[4096];
    struct qb_exec_opts exec;
    char device[64];             /* "cpu, 2 threads" */
    /* the sweep of the current image count (the FP32 reference runs once per count) */
    struct qb_sweep *sweep;
    struct qb_evalset view;      /* the first `images` of src.set */
    struct qb_sweep_opts sw;
    int sweep_images;
    atomic_int cancel;
    struct work_job *job;        /* the job running (for the progress callback) */
};

/* Runs job on the calling thread (the worker); the result is in job. */
void work_run(struct work *w, struct work_job *job);
void work_close(struct work *w);

struct work_job *work_job_new(enum work_job_kind kind);
void work_job_free(struct work_job *j);

/* The plan as rules over the INT8 default (fp16-node / int8-node by exact name), for
 * presets and exports. s is initialised here. */
enum qb_status work_plan_spec(const struct work *w, const enum qb_prec *prec, struct qb_plan_spec *s,
                              struct qb_error *err);

#endif
