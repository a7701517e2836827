/* The table of op families. Each family file defines one NULL-name-terminated
 * array of definitions; adding a family means adding it here. */
#include <string.h>

#include "../op.h"

extern const struct qb_op_def qb_ops_conv[];    /* Conv, ConvTranspose, BatchNormalization */
extern const struct qb_op_def qb_ops_gemm[];    /* MatMul, Gemm */
extern const struct qb_op_def qb_ops_pool[];    /* MaxPool, AveragePool, Global*Pool */
extern const struct qb_op_def qb_ops_eltwise[]; /* unary and broadcasting binary ops */
extern const struct qb_op_def qb_ops_shape[];   /* Reshape, Transpose, Concat, Split, Slice, Gather ... */
extern const struct qb_op_def qb_ops_reduce[];  /* Softmax, Reduce*, ArgMax */
extern const struct qb_op_def qb_ops_resize[];  /* Resize, Upsample */
extern const struct qb_op_def qb_ops_qdq[];     /* QuantizeLinear, DequantizeLinear */

static const struct qb_op_def *const families[] = {
    qb_ops_conv, qb_ops_gemm, qb_ops_pool, qb_ops_eltwise, qb_ops_shape, qb_ops_reduce, qb_ops_resize, qb_ops_qdq,
};

const struct qb_op_def *qb_op_at(int i)
{
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        for (const struct qb_op_def *d = families[f]; d->name; d++)
            if (i-- == 0)
                return d;
    }
    return NULL;
}

const struct qb_op_def *qb_op_find(const char *op_type, int64_t opset)
{
    const struct qb_op_def *d;
    for (int i = 0; (d = qb_op_at(i)) != NULL; i++) {
        if (strcmp(d->name, op_type) != 0)
            continue;
        if (d->min_opset && opset < d->min_opset)
            continue;
        if (d->max_opset && opset > d->max_opset)
            continue;
        return d;
    }
    return NULL;
}

int qb_op_known(const char *op_type)
{
    const struct qb_op_def *d;
    for (int i = 0; (d = qb_op_at(i)) != NULL; i++)
        if (strcmp(d->name, op_type) == 0)
            return 1;
    return 0;
}

double qb_node_flops(const struct qb_graph *g, const struct qb_node *n)
{
    return !n->folded && n->def && n->def->flops ? n->def->flops(g, n) : 0.0;
}
