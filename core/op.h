/* Op definitions: what an ONNX op type means to qbench.
 *
 * Each op family (core/ops/conv.c, eltwise.c ...) defines a NULL-name-terminated
 * array of struct qb_op_def and registers it in core/ops/registry.c. An op
 * definition validates a node's attributes and infers its output shapes when the
 * graph is prepared, and runs it on the CPU (FP32, plus the integer types the
 * shape arithmetic needs) both to fold constants and in the reference executor.
 *
 * Contract for definitions:
 *  - infer() refuses (QB_ERR_UNSUPPORTED, via qb_node_errorf) every attribute
 *    value, input count or dtype that run() does not implement exactly: a node that
 *    prepares must compute the right answer. Unknown attribute names are refused
 *    before infer() is called (def->attrs lists the accepted ones).
 *  - infer() parses attributes into node->params (allocated in g->arena) and sets
 *    dtype/ndim/shape of every output value. It may read input data when the input
 *    value is QB_VALUE_CONST (Reshape's shape, Slice's starts ...), and may produce
 *    output data itself (Shape, Constant) by setting value->data and QB_VALUE_CONST.
 *  - run() must not allocate in the hot path: scratch memory is requested by
 *    prepare() and handed in through ctx. It may use ctx->pool for threads.
 */
#ifndef QB_OP_H
#define QB_OP_H

#include <stddef.h>

#include "graph.h"
#include "threadpool.h"

/* A tensor as a kernel sees it: shape, type and a pointer to contiguous row-major data. */
struct qb_tview {
    enum qb_dtype dtype;
    int ndim;
    int64_t shape[QB_MAX_DIMS];
    void *data;               /* NULL for an omitted optional input/output */
};

static inline int64_t qb_tview_numel(const struct qb_tview *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

struct qb_kctx {
    struct qb_pool *pool;   /* may be NULL: run single-threaded */
    void *state;            /* what prepare() returned in *state */
    void *scratch;          /* prepare()'s *scratch bytes, 64-byte aligned */
    size_t scratch_size;
    const struct qb_graph *graph; /* for messages */
};

enum qb_op_flags {
    QB_OP_QUANTIZABLE = 1u << 0, /* in the default INT8 op set (Conv, ConvTranspose, Gemm, MatMul) */
    QB_OP_POINTWISE = 1u << 1,   /* elementwise arithmetic (Add, Sigmoid, Clip ...): FP16 chains of
                                    them fuse (core/exec_sim.h) */
};

struct qb_op_def {
    const char *name;             /* ONNX op_type in the default domain */
    int min_opset, max_opset;     /* opset versions whose semantics run() implements (0 = any) */
    int min_in, max_in, min_out, max_out;
    const char *const *attrs;     /* NULL-terminated accepted attribute names; NULL = none */
    unsigned flags;

    enum qb_status (*infer)(struct qb_graph *g, struct qb_node *n, struct qb_error *err);
    /* Optional: per-build state (prepacked weights) and scratch size for run(). */
    enum qb_status (*prepare)(const struct qb_graph *g, const struct qb_node *n, void **state,
                              size_t *scratch, struct qb_error *err);
    void (*release)(void *state);
    /* in[i] for i < node->n_in (data NULL when omitted); out[i] for i < node->n_out,
     * with shape and dtype as inferred and data pointing to writable memory. */
    enum qb_status (*run)(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                          const struct qb_kctx *ctx);
    /* Optional: the exact INT8 form of a quantizable op (DESIGN.md "Numerics").
     * prepare_int8() quantizes the constant weights per output channel, once per
     * build (state freed by release_int8). run_int8() gets the stored inputs, FP32;
     * in_scale[i] > 0 for each activation input (scale = amax / 127; it quantizes
     * them itself, round half to even, clamp [-128, 127]), 0 for inputs whose
     * quantized form prepare_int8 keeps; it accumulates in int32 and writes
     * acc * s_in * s_w[c] + bias as FP32 to out; the executor rounds out to FP16. */
    enum qb_status (*prepare_int8)(const struct qb_graph *g, const struct qb_node *n, void **state,
                                   size_t *scratch, struct qb_error *err);
    void (*release_int8)(void *state);
    enum qb_status (*run_int8)(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                               struct qb_tview *out, const struct qb_kctx *ctx);
    /* Optional: floating-point operations of one run (2 per multiply-accumulate). */
    double (*flops)(const struct qb_graph *g, const struct qb_node *n);
};

/* Looks up the definition of a default-domain op valid at the given opset. */
const struct qb_op_def *qb_op_find(const char *op_type, int64_t opset);

/* Floating-point operations of a runtime node at the graph's shapes (2 per
 * multiply-accumulate); 0 for folded nodes and ops without a cost (elementwise,
 * shape). */
double qb_node_flops(const struct qb_graph *g, const struct qb_node *n);
/* True when any registered definition has this name (at another opset or not). */
int qb_op_known(const char *op_type);
/* Iterates over every registered definition (for `--list-ops`, tests). */
const struct qb_op_def *qb_op_at(int i);

#endif
