/* Ops that walk one axis (ArgMax, ArgMin, CumSum, TopK), defined in scan.c and
 * listed in reduce.c's table. */
#ifndef QB_OPS_SCAN_H
#define QB_OPS_SCAN_H

#include "../op.h"

enum qb_status qb_arg_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
enum qb_status qb_arg_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                          const struct qb_kctx *ctx);
enum qb_status qb_cumsum_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
enum qb_status qb_cumsum_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx);
enum qb_status qb_topk_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
/* scratch: two int64 index arrays of the axis length */
enum qb_status qb_topk_prepare(const struct qb_graph *g, const struct qb_node *n, void **state, size_t *scratch,
                               struct qb_error *err);
enum qb_status qb_topk_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                           const struct qb_kctx *ctx);

#endif
