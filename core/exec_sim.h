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

#endif
