/* Per-layer sensitivity (issue 6): what each quantizable node (or group of nodes)
 * costs in accuracy when it runs INT8, and what it buys in speed.
 *
 * Analyses, over the nodes the op-set quantizes:
 *  - int8-alone: every node FP16 except this unit, INT8 (its cost against all-FP16);
 *  - fp16-alone: every quantizable node INT8 except this unit, FP16 (what keeping it
 *    in FP16 gives back against all-INT8);
 *  - local: the SQNR of the node's own output when only it runs INT8 (everything
 *    else FP32, so only its own inputs and weights are quantized).
 * Units: single nodes, op types ("Conv"), Ultralytics modules ("/model.21/") or
 * op types within a module ("/model.21/ Conv": the head's convolutions).
 * Speed: until an engine measures per-node times, a unit's gain is the share of the
 * all-FP16 model's bit-operations that INT8 removes (AIMET's BOPs: MACs x bits(a) x
 * bits(w); INT8 costs a quarter of FP16), qb_sens_gain().
 *
 *     struct qb_sens *s;
 *     qb_sens_new(g, int8, &(struct qb_sens_opts){.mode = QB_SENS_INT8_ALONE}, &s, &err);
 *     qb_sens_run(s, &sweep_opts, &err);      // sweep_opts.base is set by qb_sens_run
 *     for (int r = 0; r < s->n; r++) s->units[s->rank[r]] ...
 *     qb_sens_free(s);
 */
#ifndef QB_SENS_H
#define QB_SENS_H

#include "sweep.h"

enum qb_sens_mode {
    QB_SENS_INT8_ALONE = 0,
    QB_SENS_FP16_ALONE,
    QB_SENS_LOCAL,
    QB_SENS_MODE_COUNT
};

enum qb_sens_metric {
    QB_SENS_SQNR = 0,            /* output SQNR against FP32 (fast, needs no labels) */
    QB_SENS_MAP,                 /* mAP50-95 against the labels */
    QB_SENS_FIDELITY,            /* fidelity mAP50-95 against FP32's detections */
    QB_SENS_METRIC_COUNT
};

enum qb_sens_unit {
    QB_SENS_NODE = 0,
    QB_SENS_OP,
    QB_SENS_MODULE,
    QB_SENS_MODULE_OP,
    QB_SENS_UNIT_COUNT
};

/* "int8-alone" ..., "sqnr" "map" "fidelity", "node" "op" "module" "module-op"; parse: -1 if unknown */
extern const char *const qb_sens_mode_names[QB_SENS_MODE_COUNT];
extern const char *const qb_sens_metric_names[QB_SENS_METRIC_COUNT];
extern const char *const qb_sens_unit_names[QB_SENS_UNIT_COUNT];
int qb_sens_parse(const char *const *names, int n, const char *s);

struct qb_sens_unit_result {
    char *name;                  /* node name, op type, module prefix, "module op" */
    const char *op;              /* the op type when all its nodes share one, else "mixed" */
    int *nodes, n_nodes;         /* indices in g->nodes */
    double gain;                 /* share of the FP16 model's BOPs its INT8 removes */
    enum qb_prec *prec;          /* the plan it was evaluated with */
    struct qb_sweep_item item;
    double cost;                 /* accuracy cost by the metric; higher = more sensitive */
};

struct qb_sens_opts {
    enum qb_sens_mode mode;
    enum qb_sens_metric metric;
    enum qb_sens_unit unit;
};

struct qb_sens {
    struct qb_sens_opts o;
    const struct qb_graph *g;
    enum qb_prec *int8, *fp16, *fp32; /* the all-INT8 (op-set), all-FP16 and FP32 plans */
    int n;
    struct qb_sens_unit_result *units;
    int *rank;                   /* unit indices, most sensitive first */
    /* the references: FP32 itself, and the plan the units are measured against */
    struct qb_sweep_item fp32_item, base_item;
    double flops_fp16;           /* the model's multiply-accumulates x 2 */
};

/* int8[g->n_nodes]: the all-INT8 plan (qb_plan_resolve of the op-set): its INT8 nodes
 * are the quantizable ones. Refuses a local analysis by other units than nodes. */
enum qb_status qb_sens_new(const struct qb_graph *g, const enum qb_prec *int8, const struct qb_sens_opts *o,
                           struct qb_sens **out, struct qb_error *err);
void qb_sens_free(struct qb_sens *s);

/* Runs the sweep (sw: images, calibration, executor, cache, progress; its base is set
 * here), then fills cost and rank. QB_ERR_CANCELLED leaves the finished units cached. */
enum qb_status qb_sens_run(struct qb_sens *s, const struct qb_sweep_opts *sw, struct qb_error *err);

/* Relative BOPs of a plan against all-FP16 (1.0 = all FP16; all-INT8 of a conv net ~0.25). */
double qb_sens_plan_cost(const struct qb_graph *g, const enum qb_prec *prec);
/* The Ultralytics module of a node name ("/model.21/cv2.0/Conv" -> "/model.21/"), into buf. */
const char *qb_sens_module(const char *name, char *buf, size_t len);

/* The metric value of a result (higher = better: SQNR dB, mAP50-95, fidelity mAP50-95). */
double qb_sens_metric_value(enum qb_sens_metric m, const struct qb_sweep_result *r);

#endif
