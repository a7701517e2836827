/* Shared by the plan-simulation tests (test_sim.c, test_exec_reuse.c): the tiny
 * models they run, a deterministic input, and the pointwise-fusion rule written
 * from its definition (core/exec_sim.h), independently of the executor's. */
#ifndef QB_TESTUTIL_SIM_H
#define QB_TESTUTIL_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/exec.h"

static const char *const sim_models[] = {
    "tests/data/yolo11n-tiny-b2-320.onnx",
    "tests/data/yolo12n-tiny-b2-320.onnx",
    "tests/data/yolov8n-tiny-b2-320.onnx",
};

/* Graph input 0 filled with a fixed pseudo-random sequence in [0, 1). */
static inline void sim_fill_input(struct qb_executor *e)
{
    struct qb_tview *in = qb_exec_input(e, 0);
    uint32_t x = 11u;
    for (int64_t i = 0; i < qb_tview_numel(in); i++) {
        x = x * 1664525u + 1013904223u;
        ((float *)in->data)[i] = (float)(x >> 8) / 16777216.0f;
    }
}

/* The elementwise op types of the tiny models. */
static inline bool sim_elementwise(const struct qb_node *n)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Sigmoid", "Pow", "Sqrt", "Neg",
                                      "Exp", "Tanh", "Relu", "Clip", "Max", "Min", "Erf"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(n->op_type, ops[i]) == 0)
            return true;
    return false;
}

/* In the all-FP16 plan, v stays FP32: an elementwise node writes it, only
 * elementwise nodes read it, and it is not a graph output. */
static inline bool sim_kept_fp32(const struct qb_graph *g, int v)
{
    const struct qb_value *x = &g->values[v];
    if (x->producer < 0 || !sim_elementwise(&g->nodes[x->producer]) || x->dtype != QB_DTYPE_F32)
        return false;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return false;
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v && !sim_elementwise(n))
                return false;
    }
    return true;
}

#endif
