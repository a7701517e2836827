/* The executor interface: "run this plan on these inputs".
 *
 * Everything that runs a model (run, eval, calibration, sensitivity, the TUI) goes
 * through this interface; behind it sit the CPU reference (and, later, its exact
 * INT8/FP16 simulation) and the Vulkan engine.
 *
 *     struct qb_exec_opts o = {.device = "cpu", .n_threads = 2};
 *     struct qb_executor *e;
 *     qb_exec_new(g, &o, &e, &err);              // builds: plans memory, packs weights
 *     memcpy(qb_exec_input(e, 0)->data, img, bytes);
 *     qb_exec_run(e, &err);
 *     const struct qb_tview *y = qb_exec_output(e, 0);  // valid until the next run
 *     qb_exec_free(e);
 *
 * The graph must be prepared and must outlive the executor.
 */
#ifndef QB_EXEC_H
#define QB_EXEC_H

#include <stdbool.h>

#include "graph.h"
#include "op.h"
#include "status.h"

struct qb_executor;

/* The precision a node runs in (DESIGN.md "Numerics"). FP32 is the reference. */
enum qb_prec {
    QB_PREC_FP32 = 0,
    QB_PREC_FP16,
    QB_PREC_INT8,
};

/* Called with each float graph input at the start of a run, then after each node
 * with each of its float outputs (value index in g->values), in execution order,
 * on the thread that called qb_exec_run(). Calibration uses it. */
typedef void (*qb_exec_observe_fn)(void *user, int value, const struct qb_tview *t);

struct qb_exec_opts {
    const char *device;   /* "cpu" (NULL = "cpu") */
    int n_threads;        /* <= 0: one per online CPU */
    bool no_fusion;       /* run every node on its own (tests, debugging) */
    /* A plan: precision per node (indexed like g->nodes); NULL runs everything in
     * FP32. INT8 nodes need amax: per value (indexed like g->values), the
     * calibrated absolute maximum of each activation an INT8 node reads (NaN: not
     * calibrated; an INT8 node reading it is refused when the executor is built). */
    const enum qb_prec *prec;
    const float *amax;
    qb_exec_observe_fn observe; /* NULL: none; set, it turns fusion off */
    void *observe_user;
};

enum qb_status qb_exec_new(const struct qb_graph *g, const struct qb_exec_opts *opts, struct qb_executor **out,
                           struct qb_error *err);
void qb_exec_free(struct qb_executor *e);

/* Graph input i (in g->inputs order): shape and dtype as the graph says, data owned
 * by the executor; fill it before qb_exec_run(). */
struct qb_tview *qb_exec_input(struct qb_executor *e, int i);
/* Runs the graph, with subnormal floats flushed to zero (core/fpenv.h). */
enum qb_status qb_exec_run(struct qb_executor *e, struct qb_error *err);
/* Graph output i (in g->outputs order), owned by the executor, valid until the next run. */
const struct qb_tview *qb_exec_output(const struct qb_executor *e, int i);

/* "cpu fp32, 2 threads, 57 SiLU fused" */
const char *qb_exec_describe(const struct qb_executor *e);
/* Bytes of activation memory the build planned (after lifetime reuse). */
size_t qb_exec_activation_bytes(const struct qb_executor *e);

#endif
