/* The graph IR: one model, owned by one arena.
 *
 * A graph holds values (every tensor name: graph inputs, initializers, node
 * outputs) and nodes that read and write values by index. The ONNX loader fills
 * it; qb_graph_prepare() then orders the nodes, validates every node against its
 * op definition, infers static shapes and folds constant subgraphs (shape
 * arithmetic, Constant nodes, anything whose inputs are all known) so that only
 * the runtime nodes remain for executors.
 *
 *     struct qb_graph *g;
 *     qb_onnx_load("yolo11n.onnx", &g, &err);     // parse
 *     qb_graph_prepare(g, &err);                   // order, check, infer, fold
 *     for (int i = 0; i < g->n_order; i++) {       // runtime nodes, in order
 *         const struct qb_node *n = &g->nodes[g->order[i]];
 *         ...
 *     }
 *     qb_graph_free(g);                            // frees everything above
 *
 * Everything reachable from a graph (names, attributes, constant data) lives in
 * g->arena and is freed by qb_graph_free().
 */
#ifndef QB_GRAPH_H
#define QB_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "dtype.h"
#include "status.h"

#define QB_MAX_DIMS 8

enum qb_value_flags {
    QB_VALUE_INPUT = 1u << 0,  /* graph input fed at run time */
    QB_VALUE_OUTPUT = 1u << 1, /* graph output */
    QB_VALUE_CONST = 1u << 2,  /* data is known before run time (initializer or folded) */
    QB_VALUE_INIT = 1u << 3,   /* came from an initializer (counts as a parameter) */
};

struct qb_value {
    const char *name;
    enum qb_dtype dtype;
    int ndim;                     /* -1 while the rank is unknown */
    int64_t shape[QB_MAX_DIMS];   /* -1 for an unknown dimension */
    const char *dim_param[QB_MAX_DIMS]; /* symbolic names from the file, or NULL */
    void *data;                   /* constant data (arena) when QB_VALUE_CONST */
    int producer;                 /* node index, or -1 */
    unsigned flags;
};

enum qb_attr_type {
    QB_ATTR_FLOAT,
    QB_ATTR_INT,
    QB_ATTR_STRING,
    QB_ATTR_TENSOR,
    QB_ATTR_FLOATS,
    QB_ATTR_INTS,
    QB_ATTR_STRINGS,
    QB_ATTR_GRAPH,  /* subgraphs (If/Loop bodies): loaded, never executed */
    QB_ATTR_OTHER,  /* sparse tensors, type protos ...: loaded, refused by ops */
    QB_ATTR_TYPE_COUNT
};

struct qb_attr {
    const char *name;
    enum qb_attr_type type;
    int n;                  /* element count for list types */
    union {
        float f;
        int64_t i;
        const char *s;
        float *fs;
        int64_t *is;
        const char **ss;
        int tensor;         /* QB_ATTR_TENSOR: index of an (unnamed-graph) const value */
    } u;
};

struct qb_op_def;

struct qb_node {
    const char *name;       /* never NULL: the loader names unnamed nodes "<op>_<index>" */
    const char *op_type;
    const char *domain;     /* "" for the default ONNX domain */
    int n_in, n_out;
    int *in;                /* value indices; -1 for an omitted optional input */
    int *out;               /* value indices; -1 for an omitted optional output */
    int n_attr;
    struct qb_attr *attrs;
    const struct qb_op_def *def; /* set by qb_graph_prepare() */
    void *params;           /* op-specific parsed attributes (arena), set by def->infer */
    bool folded;            /* outputs became constants; executors skip the node */
};

struct qb_opset {
    const char *domain;
    int64_t version;
};

struct qb_meta {
    const char *key, *value;
};

struct qb_graph {
    struct qb_arena *arena;
    const char *path;       /* the model file, for messages */
    const char *name;       /* graph name */
    const char *producer;   /* producer_name and version, "" if absent */
    int64_t ir_version;
    int64_t opset;          /* version of the default domain */

    int n_values, cap_values;
    struct qb_value *values;
    int n_nodes;
    struct qb_node *nodes;
    int n_inputs, n_outputs;
    int *inputs, *outputs;  /* value indices; inputs exclude initializers */
    int n_opsets;
    struct qb_opset *opsets;
    int n_meta;
    struct qb_meta *meta;

    /* set by qb_graph_prepare(): runtime (not folded) nodes in execution order */
    int n_order;
    int *order;
    bool prepared;

    int *hash;              /* private: name -> value index, open addressing (malloc) */
    int hash_cap;
};

/* Creates an empty graph with its own arena. path is copied. */
enum qb_status qb_graph_new(const char *path, struct qb_graph **out, struct qb_error *err);
void qb_graph_free(struct qb_graph *g);

/* Value lookup and creation (the name is copied). Names are unique; "" is not a value. */
int qb_graph_find_value(const struct qb_graph *g, const char *name);
/* Returns the existing value with that name, or adds one; -1 when out of memory. */
int qb_graph_intern_value(struct qb_graph *g, const char *name);

/* Fixes the shape of a graph input before qb_graph_prepare(), for models exported
 * with symbolic dimensions (batch "N", "height" ...). */
enum qb_status qb_graph_set_input_shape(struct qb_graph *g, const char *name, int ndim,
                                        const int64_t *shape, struct qb_error *err);

/* Makes a graph input a constant with the given data (copied), so that the shape
 * subgraphs it feeds fold. Used for int64 shape/axes inputs of test models. */
enum qb_status qb_graph_bind_const(struct qb_graph *g, const char *name, enum qb_dtype dtype,
                                   int ndim, const int64_t *shape, const void *data,
                                   struct qb_error *err);

/* Orders, validates, infers shapes and folds constants. Idempotent. Errors name
 * the file, the node and its op. */
enum qb_status qb_graph_prepare(struct qb_graph *g, struct qb_error *err);

/* Helpers for op definitions ------------------------------------------------ */

int64_t qb_value_numel(const struct qb_value *v);    /* -1 if the shape is unknown */
const struct qb_attr *qb_node_attr(const struct qb_node *n, const char *name);

/* Attribute getters: return QB_OK and the default when absent; an attribute of
 * the wrong type is QB_ERR_INVALID with a message naming node and op. */
enum qb_status qb_node_attr_int(const struct qb_graph *g, const struct qb_node *n,
                                const char *name, int64_t dflt, int64_t *out, struct qb_error *err);
enum qb_status qb_node_attr_float(const struct qb_graph *g, const struct qb_node *n,
                                  const char *name, float dflt, float *out, struct qb_error *err);
enum qb_status qb_node_attr_string(const struct qb_graph *g, const struct qb_node *n,
                                   const char *name, const char *dflt, const char **out,
                                   struct qb_error *err);
/* Copies up to max ints; *count = -1 when absent. More than max is QB_ERR_UNSUPPORTED. */
enum qb_status qb_node_attr_ints(const struct qb_graph *g, const struct qb_node *n,
                                 const char *name, int64_t *out, int max, int *count,
                                 struct qb_error *err);

/* Formats "FILE: node 'NAME' (OP): <detail>" into err and returns st. */
enum qb_status qb_node_errorf(const struct qb_graph *g, const struct qb_node *n,
                              struct qb_error *err, enum qb_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Input/output value of a node, or NULL when the slot is absent or omitted. */
static inline struct qb_value *qb_node_in(const struct qb_graph *g, const struct qb_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? &g->values[n->in[i]] : (struct qb_value *)0;
}
static inline struct qb_value *qb_node_out(const struct qb_graph *g, const struct qb_node *n, int i)
{
    return i < n->n_out && n->out[i] >= 0 ? &g->values[n->out[i]] : (struct qb_value *)0;
}

/* Formats a shape as "[1,3,640,640]" ("?" for unknown dims) into buf. */
const char *qb_shape_str(const struct qb_value *v, char *buf, size_t len);

#endif
