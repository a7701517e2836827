/* Broadcasting binary, variadic and select ops (Add ... Where), defined in
 * binary.c and listed in eltwise.c's table. */
#ifndef QB_OPS_BINARY_H
#define QB_OPS_BINARY_H

#include "../op.h"

enum qb_status qb_binary_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
enum qb_status qb_binary_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx);

/* Max, Min, Sum, Mean over 1..N inputs */
enum qb_status qb_variadic_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
enum qb_status qb_variadic_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx);

enum qb_status qb_where_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
enum qb_status qb_where_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                            const struct qb_kctx *ctx);

#endif
