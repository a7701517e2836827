/* The plan simulation's graph (core/exec_sim.c), used by the CPU executor. */
#ifndef QB_EXEC_SIM_H
#define QB_EXEC_SIM_H

#include "exec.h"

struct qb_arena;

/* A shallow copy of the prepared graph g in which every float constant an FP16
 * node reads is rounded to FP16 (constants that INT8 or FP32 nodes also read
 * get a rounded twin for the FP16 readers). prec is indexed like g->nodes.
 * Everything is allocated in a; the copy shares g's names, params and order. */
enum qb_status qb_sim_graph(const struct qb_graph *g, const enum qb_prec *prec, struct qb_arena *a,
                            struct qb_graph **out, struct qb_error *err);

/* Pointwise fusion, as TensorRT fuses adjacent elementwise layers into one kernel:
 * a float tensor that an FP16 pointwise node (QB_OP_POINTWISE: Add, Mul, Sigmoid,
 * Clip ...) writes and only FP16 pointwise nodes read is never stored, so it stays
 * FP32 (its readers do not round it either); a tensor that leaves the chain (read
 * by any other node, an INT8 or FP32 node, or a graph output) is stored as FP16.
 * Returns fused[g->n_values] (true = kept FP32), allocated in a, or NULL when out of
 * memory. In a YOLO graph: the Sigmoid of every SiLU, and the box decoding's
 * anchor arithmetic (Sub, Add, Add, Div, Sub before its Concat). */
bool *qb_sim_fused(const struct qb_graph *g, const enum qb_prec *prec, struct qb_arena *a);

#endif
