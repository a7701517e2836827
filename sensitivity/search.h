/* The automatic search (issue 6): the fastest plan, by the bit-operations cost model
 * (qb_sens_plan_cost), whose mAP50-95 (or mAP50) stays within a budget of the
 * all-FP16 plan's, on the labelled evaluation images.
 *
 *  1. Evaluate all-FP16 and all-INT8; all-INT8 within the budget ends the search.
 *  2. Order the quantizable nodes by harm per gain from an INT8-alone ranking (the
 *     loss when the node alone runs INT8, over the BOPs its INT8 saves), most
 *     harmful first, and find the fewest of them to keep in FP16 so that the plan
 *     meets the budget: a search over k (plans "top k in FP16") that evaluates a few
 *     k per round and narrows the interval, each verified by a real evaluation.
 *  3. Try to return each kept node to INT8, least harmful first, keeping the
 *     change when the budget still holds.
 * Every plan evaluated is kept with its metrics and cost; the front of mAP against
 * cost (no other plan both cheaper and more accurate) is marked.
 */
#ifndef QB_SEARCH_H
#define QB_SEARCH_H

#include "sens.h"

struct qb_search_opts {
    double budget;               /* points (0.5 = 0.005) below all-FP16 */
    bool map50;                  /* the budget is on mAP50, not mAP50-95 */
    int max_returns;             /* step 3's tries; 0: every kept node */
};

struct qb_search_plan {
    enum qb_prec *prec;
    struct qb_sweep_item item;
    double cost;                 /* BOPs relative to all-FP16 */
    int n_fp16;                  /* quantizable nodes kept in FP16 */
    char what[96];               /* "all FP16", "top 12 in FP16", "return /model.3/conv/Conv" */
    bool meets, pareto;
};

struct qb_search {
    int n, cap;
    struct qb_search_plan *plans;
    int fp16, int8, chosen;      /* indices into plans */
    double target;               /* the metric value a plan must reach */
};

/* rank: a finished INT8-alone analysis by node (qb_sens_run) of the same graph,
 * images and calibration; sw as for qb_sens_run. */
enum qb_status qb_search_run(const struct qb_sens *rank, const struct qb_sweep_opts *sw,
                             const struct qb_search_opts *o, struct qb_search **out, struct qb_error *err);
void qb_search_free(struct qb_search *s);

#endif
