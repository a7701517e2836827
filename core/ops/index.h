/* Indexing and generating ops on any dtype (Gather, GatherElements, GatherND,
 * Expand, Tile, Pad, Range, ConstantOfShape, EyeLike, Trilu, OneHot, NonZero,
 * ScatterElements, ScatterND, Compress), defined in index.c (indexing) and
 * generate.c (replicating, padding, generating) and listed in shape.c's table. */
#ifndef QB_OPS_INDEX_H
#define QB_OPS_INDEX_H

#include "../op.h"

#define QB_INDEX_OP(name)                                                                          \
    enum qb_status qb_##name##_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err); \
    enum qb_status qb_##name##_run(const struct qb_node *n, const struct qb_tview *in,            \
                                   struct qb_tview *out, const struct qb_kctx *ctx);

QB_INDEX_OP(gather)
QB_INDEX_OP(gather_elements)
QB_INDEX_OP(gather_nd)
QB_INDEX_OP(expand)
QB_INDEX_OP(tile)
QB_INDEX_OP(pad)
QB_INDEX_OP(range)
QB_INDEX_OP(constant_of_shape)
QB_INDEX_OP(trilu)
QB_INDEX_OP(onehot)
QB_INDEX_OP(scatter_elements)
QB_INDEX_OP(scatter_nd)
QB_INDEX_OP(compress)

/* EyeLike and NonZero produce their output at infer time (NonZero needs a constant input). */
enum qb_status qb_eyelike_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
enum qb_status qb_nonzero_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err);

#endif
