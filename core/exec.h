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

/* Reuse (sensitivity sweeps). Executors of one graph built with plans (opts.prec set)
 * run the same steps; two plans compute the same values up to the first step where
 * they differ, so a sweep runs the shared prefix once:
 *
 *     int cut = qb_exec_first_diff(base, variant);
 *     qb_exec_run_steps(base, 0, cut, &err);          // inputs filled in base
 *     qb_exec_save_live(base, cut, buf);              // buf: qb_exec_live_bytes(base, cut)
 *     qb_exec_load_live(variant, cut, buf);
 *     qb_exec_run_steps(variant, cut, qb_exec_n_steps(variant), &err);
 *     // qb_exec_output(variant, 0) == what qb_exec_run(variant) gives, bit for bit
 *
 * One base run serves every variant whose cut it has passed: save at each cut as
 * the base runs forward (qb_exec_run_steps(base, cut_i, cut_j)).
 */
int qb_exec_n_steps(const struct qb_executor *e);
/* The first step at which a and b compute differently (node, precision, INT8 input
 * scales, input conversions, rounding of outputs), qb_exec_n_steps() when they agree
 * everywhere, 0 when they cannot share values (different graphs or step lists, an
 * executor without a plan). */
int qb_exec_first_diff(const struct qb_executor *a, const struct qb_executor *b);
/* Bytes of the values live across the boundary before step s (0 <= s <= n_steps):
 * the graph inputs and the values produced before s that a step >= s reads, and the
 * graph outputs produced before s. A graph input no step >= s reads is not live (its
 * memory may already hold other values). 0 for s outside [0, n_steps]. */
size_t qb_exec_live_bytes(const struct qb_executor *e, int s);
/* save copies the values live at s into buf (qb_exec_live_bytes(e, s) bytes), back to
 * back in ascending value index; load copies them from buf into e. Two executors agree
 * on the layout when qb_exec_first_diff() of them is > 0. */
void qb_exec_save_live(const struct qb_executor *e, int s, void *buf);
void qb_exec_load_live(struct qb_executor *e, int s, const void *buf);
/* Runs steps [from, to) (0 <= from <= to <= n_steps; else QB_ERR_USAGE), with
 * subnormals flushed as qb_exec_run() does; the observer (if any) sees the outputs of
 * the steps run, and the graph inputs when from == 0. */
enum qb_status qb_exec_run_steps(struct qb_executor *e, int from, int to, struct qb_error *err);
/* The step that runs node i (index in g->nodes), or -1 (folded, or fused into another step). */
int qb_exec_node_step(const struct qb_executor *e, int node);
/* Value v (index in g->values) as the steps run so far left it: valid after the step that
 * produced it (graph inputs: once filled) and until a later step reuses its memory (its
 * last reader has run; graph outputs are never reused); NULL for constants, values no
 * step stores (fused away) or an invalid v. */
const struct qb_tview *qb_exec_value(const struct qb_executor *e, int v);

#endif
