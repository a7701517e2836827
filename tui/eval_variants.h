/* The precisions one `qbench eval` runs side by side on every batch: the plan
 * asked for (v[0]) and the FP32 and FP16 baselines its deltas and its output
 * SQNR and cosine are measured against. Without a plan, v[0] is the FP32
 * reference alone. */
#ifndef QB_TUI_EVAL_VARIANTS_H
#define QB_TUI_EVAL_VARIANTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/exec.h"
#include "core/metrics.h"
#include "core/plan.h"
#include "core/score.h"

struct eval_variant {
    const char *name;            /* "plan", "fp32", "fp16" */
    enum qb_prec *prec;          /* NULL: the FP32 reference */
    struct qb_executor *e;
    struct qb_score *s;          /* v[0]: labels, fidelity and outputs; baselines: labels */
    struct qb_score_result r;    /* filled by eval_variants_summary() */
    double t_infer;              /* seconds in qb_exec_run */
};

struct eval_variants {
    int n;
    struct eval_variant v[3];
    float *amax;                 /* from the calibration table, when a node runs INT8 */
    const char *mode;            /* v[0]: "fp32", "fp16", "int8" (every quantizable node) or "mixed" */
    char hash[65];               /* v[0]'s plan hash ("" for FP32) */
    int n_int8, n_fp16;
};

struct eval_variants_opts {
    const char *model;           /* the model file, for the calibration table's hash check */
    const struct qb_plan_spec *plan;
    const char *calib;           /* calibration table, needed when a node runs INT8 */
    bool baselines;              /* run FP32 and FP16 beside a plan */
    bool verbose;                /* print the per-node plan */
    FILE *log;                   /* where the plan summary goes */
    const struct qb_exec_opts *exec; /* device and threads */
    int nc;
};

/* Resolves the plan, reads the calibration and builds an executor and metrics per variant. */
enum qb_status eval_variants_new(struct eval_variants *vs, const struct qb_graph *g,
                                 const struct eval_variants_opts *o, struct qb_error *err);
void eval_variants_free(struct eval_variants *vs);

/* Adds the first `filled` images of output 0 of v[0] and of the FP32 variant to the
 * SQNR and cosine sums (nothing without an FP32 baseline). */
void eval_variants_compare(struct eval_variants *vs, int filled, int batch);
enum qb_status eval_variants_summary(struct eval_variants *vs, struct qb_error *err);
/* The comparison table and output fidelity (after v[0]'s own table). */
void eval_variants_print(FILE *f, const struct eval_variants *vs, long n_images);
/* precision_mode, plan, baselines, deltas, sqnr_db and cosine into root. */
void eval_variants_json(cJSON *root, const struct eval_variants *vs, long n_images);

#endif
