#include "graph.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"

/* Folding evaluates constant subgraphs at prepare time; a node whose outputs
 * are larger, whose arithmetic is heavier or whose scratch is bigger than these
 * is left to run time instead (a hostile model must not make loading slow). */
#define FOLD_MAX_ELEMS ((int64_t)1 << 26)
#define FOLD_MAX_FLOPS 1e8
#define FOLD_MAX_SCRATCH ((size_t)64 << 20)

enum qb_status qb_graph_new(const char *path, struct qb_graph **out, struct qb_error *err)
{
    struct qb_graph *g = NULL;
    struct qb_arena *a = qb_arena_new();

    *out = NULL;
    if (!a || !(g = qb_arena_alloc(a, sizeof(*g)))) {
        qb_arena_free(a);
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
    }
    g->arena = a;
    g->path = qb_arena_strdup(a, path);
    g->name = g->producer = "";
    if (!g->path) {
        qb_arena_free(a);
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = g;
    return QB_OK;
}

void qb_graph_free(struct qb_graph *g)
{
    if (!g)
        return;
    free(g->hash);
    free(g->values);
    qb_arena_free(g->arena); /* g itself lives in the arena */
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int hash_find_slot(const struct qb_graph *g, const char *name)
{
    uint32_t mask = (uint32_t)g->hash_cap - 1;
    uint32_t i = hash_str(name) & mask;
    while (g->hash[i] >= 0 && strcmp(g->values[g->hash[i]].name, name) != 0)
        i = (i + 1) & mask;
    return (int)i;
}

static int hash_grow(struct qb_graph *g)
{
    int cap = g->hash_cap ? g->hash_cap * 2 : 1024;
    int *old = g->hash;
    int *h = malloc((size_t)cap * sizeof(int));
    if (!h)
        return -1;
    for (int i = 0; i < cap; i++)
        h[i] = -1;
    g->hash = h;
    g->hash_cap = cap;
    for (int v = 0; v < g->n_values; v++)
        g->hash[hash_find_slot(g, g->values[v].name)] = v;
    free(old);
    return 0;
}

int qb_graph_find_value(const struct qb_graph *g, const char *name)
{
    if (!g->hash_cap || !name || !*name)
        return -1;
    return g->hash[hash_find_slot(g, name)];
}

int qb_graph_intern_value(struct qb_graph *g, const char *name)
{
    int slot, v = qb_graph_find_value(g, name);
    struct qb_value *val;

    if (v >= 0)
        return v;
    if ((g->n_values + 1) * 2 > g->hash_cap && hash_grow(g) != 0)
        return -1;
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 256;
        struct qb_value *nv = realloc(g->values, (size_t)cap * sizeof(*nv));
        if (!nv)
            return -1;
        g->values = nv;
        g->cap_values = cap;
    }
    val = &g->values[g->n_values];
    memset(val, 0, sizeof(*val));
    val->name = qb_arena_strdup(g->arena, name ? name : "");
    if (!val->name)
        return -1;
    val->ndim = -1;
    val->producer = -1;
    if (*val->name) {
        slot = hash_find_slot(g, val->name);
        g->hash[slot] = g->n_values;
    }
    return g->n_values++;
}

int64_t qb_value_numel(const struct qb_value *v)
{
    int64_t n = 1;
    if (v->ndim < 0)
        return -1;
    for (int i = 0; i < v->ndim; i++) {
        if (v->shape[i] < 0)
            return -1;
        if (v->shape[i] && n > INT64_MAX / v->shape[i])
            return -1;
        n *= v->shape[i];
    }
    return n;
}

const char *qb_shape_str(const struct qb_value *v, char *buf, size_t len)
{
    size_t k = 0;
    if (v->ndim < 0) {
        snprintf(buf, len, "?");
        return buf;
    }
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < v->ndim && k < len; i++) {
        if (v->shape[i] >= 0)
            k += (size_t)snprintf(buf + k, len - k, "%s%" PRId64, i ? "," : "", v->shape[i]);
        else
            k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? "," : "",
                                  v->dim_param[i] ? v->dim_param[i] : "?");
    }
    if (k < len)
        snprintf(buf + k, len - k, "]");
    return buf;
}

enum qb_status qb_node_errorf(const struct qb_graph *g, const struct qb_node *n,
                              struct qb_error *err, enum qb_status st, const char *fmt, ...)
{
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return qb_errorf(err, st, "%s: node '%s' (%s): %s", g->path, n->name, n->op_type, detail);
}

const struct qb_attr *qb_node_attr(const struct qb_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

static const char *const attr_type_names[QB_ATTR_TYPE_COUNT] = {
    [QB_ATTR_FLOAT] = "float",  [QB_ATTR_INT] = "int",   [QB_ATTR_STRING] = "string",
    [QB_ATTR_TENSOR] = "tensor", [QB_ATTR_FLOATS] = "floats", [QB_ATTR_INTS] = "ints",
    [QB_ATTR_STRINGS] = "strings", [QB_ATTR_GRAPH] = "graph", [QB_ATTR_OTHER] = "other",
};

static enum qb_status attr_typed(const struct qb_graph *g, const struct qb_node *n, const char *name,
                                 enum qb_attr_type want, const struct qb_attr **out, struct qb_error *err)
{
    const struct qb_attr *a = qb_node_attr(n, name);
    *out = a;
    if (a && a->type != want)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute '%s' is %s, expected %s", name,
                              attr_type_names[a->type], attr_type_names[want]);
    return QB_OK;
}

enum qb_status qb_node_attr_int(const struct qb_graph *g, const struct qb_node *n, const char *name,
                                int64_t dflt, int64_t *out, struct qb_error *err)
{
    const struct qb_attr *a;
    enum qb_status st = attr_typed(g, n, name, QB_ATTR_INT, &a, err);
    *out = a ? a->u.i : dflt;
    return st;
}

enum qb_status qb_node_attr_float(const struct qb_graph *g, const struct qb_node *n, const char *name,
                                  float dflt, float *out, struct qb_error *err)
{
    const struct qb_attr *a;
    enum qb_status st = attr_typed(g, n, name, QB_ATTR_FLOAT, &a, err);
    *out = a ? a->u.f : dflt;
    return st;
}

enum qb_status qb_node_attr_string(const struct qb_graph *g, const struct qb_node *n, const char *name,
                                   const char *dflt, const char **out, struct qb_error *err)
{
    const struct qb_attr *a;
    enum qb_status st = attr_typed(g, n, name, QB_ATTR_STRING, &a, err);
    *out = a ? a->u.s : dflt;
    return st;
}

enum qb_status qb_node_attr_ints(const struct qb_graph *g, const struct qb_node *n, const char *name,
                                 int64_t *out, int max, int *count, struct qb_error *err)
{
    const struct qb_attr *a;
    enum qb_status st = attr_typed(g, n, name, QB_ATTR_INTS, &a, err);
    *count = -1;
    if (st != QB_OK || !a)
        return st;
    if (a->n > max)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "attribute '%s' has %d values, at most %d supported",
                              name, a->n, max);
    memcpy(out, a->u.is, (size_t)a->n * sizeof(int64_t));
    *count = a->n;
    return QB_OK;
}

enum qb_status qb_graph_set_input_shape(struct qb_graph *g, const char *name, int ndim,
                                        const int64_t *shape, struct qb_error *err)
{
    int v = qb_graph_find_value(g, name);
    struct qb_value *val;

    if (v < 0 || !(g->values[v].flags & QB_VALUE_INPUT))
        return qb_errorf(err, QB_ERR_USAGE, "%s: no graph input named '%s'", g->path, name);
    if (g->prepared)
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: input shape set after prepare", g->path);
    val = &g->values[v];
    if (ndim < 0 || ndim > QB_MAX_DIMS || (val->ndim >= 0 && val->ndim != ndim))
        return qb_errorf(err, QB_ERR_SHAPE, "%s: input '%s' has rank %d, got rank %d", g->path, name,
                         val->ndim, ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (val->ndim >= 0 && val->shape[i] >= 0 && val->shape[i] != shape[i]))
            return qb_errorf(err, QB_ERR_SHAPE, "%s: input '%s' dimension %d is %" PRId64 ", got %" PRId64,
                             g->path, name, i, val->shape[i], shape[i]);
    }
    val->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        val->shape[i] = shape[i];
    return QB_OK;
}

enum qb_status qb_graph_bind_const(struct qb_graph *g, const char *name, enum qb_dtype dtype, int ndim,
                                   const int64_t *shape, const void *data, struct qb_error *err)
{
    enum qb_status st = qb_graph_set_input_shape(g, name, ndim, shape, err);
    struct qb_value *val;
    int64_t n;

    if (st != QB_OK)
        return st;
    val = &g->values[qb_graph_find_value(g, name)];
    if (val->dtype != QB_DTYPE_UNDEFINED && val->dtype != dtype)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: input '%s' is %s, got %s", g->path, name,
                         qb_dtype_name(val->dtype), qb_dtype_name(dtype));
    n = qb_value_numel(val);
    val->dtype = dtype;
    val->data = qb_arena_calloc(g->arena, (size_t)n, qb_dtype_size(dtype));
    if (!val->data)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    memcpy(val->data, data, (size_t)n * qb_dtype_size(dtype));
    val->flags = (val->flags & ~(unsigned)QB_VALUE_INPUT) | QB_VALUE_CONST;
    for (int i = 0, j = 0; i < g->n_inputs; i++)
        if (g->inputs[i] != val - g->values)
            g->inputs[j++] = g->inputs[i];
    g->n_inputs--;
    return QB_OK;
}

/* Kahn's algorithm over value producers; refuses cycles and names nothing defines. */
static enum qb_status topo_sort(struct qb_graph *g, int *order, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    int *indeg = calloc((size_t)g->n_nodes + 1, sizeof(int));
    int *queue = malloc(((size_t)g->n_nodes + 1) * sizeof(int));
    /* consumers as CSR: for each value, the nodes reading it */
    int *cstart = calloc((size_t)g->n_values + 1, sizeof(int));
    int *cons = NULL, *fill = NULL;
    int total = 0, head = 0, tail = 0, done = 0;

    if (!indeg || !queue || !cstart) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const struct qb_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0)
                continue;
            const struct qb_value *val = &g->values[v];
            if (val->producer < 0 && !(val->flags & (QB_VALUE_INPUT | QB_VALUE_CONST))) {
                st = qb_node_errorf(g, n, err, QB_ERR_INVALID,
                                    "input '%s' is not a graph input, an initializer or any node's output",
                                    val->name);
                goto out;
            }
            if (val->producer >= 0) {
                indeg[i]++;
                cstart[v + 1]++;
                total++;
            }
        }
    }
    for (int v = 0; v < g->n_values; v++)
        cstart[v + 1] += cstart[v];
    cons = malloc(((size_t)total + 1) * sizeof(int));
    fill = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!cons || !fill) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            if (v >= 0 && g->values[v].producer >= 0)
                cons[cstart[v] + fill[v]++] = i;
        }
    for (int i = 0; i < g->n_nodes; i++)
        if (indeg[i] == 0)
            queue[tail++] = i;
    while (head < tail) {
        int i = queue[head++];
        order[done++] = i;
        for (int k = 0; k < g->nodes[i].n_out; k++) {
            int v = g->nodes[i].out[k];
            if (v < 0)
                continue;
            for (int c = cstart[v]; c < cstart[v + 1]; c++)
                if (--indeg[cons[c]] == 0)
                    queue[tail++] = cons[c];
        }
    }
    if (done != g->n_nodes) {
        for (int i = 0; i < g->n_nodes; i++)
            if (indeg[i] > 0) {
                st = qb_node_errorf(g, &g->nodes[i], err, QB_ERR_INVALID, "the graph has a cycle through this node");
                break;
            }
    }
out:
    free(indeg);
    free(queue);
    free(cstart);
    free(cons);
    free(fill);
    return st;
}

static enum qb_status check_node(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_op_def *d;

    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "op domain '%s' is not supported", n->domain);
    d = qb_op_find(n->op_type, g->opset);
    if (!d) {
        if (qb_op_known(n->op_type))
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "op is not supported at opset %" PRId64, g->opset);
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "unsupported op");
    }
    if (n->n_in < d->min_in || n->n_in > d->max_in)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "has %d inputs, expected %d to %d", n->n_in, d->min_in,
                              d->max_in);
    if (n->n_out < d->min_out || n->n_out > d->max_out)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "has %d outputs, supported %d to %d", n->n_out,
                              d->min_out, d->max_out);
    for (int i = 0; i < d->min_in; i++)
        if (n->in[i] < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "required input %d is missing", i);
    for (int i = 0; i < d->min_out; i++)
        if (n->out[i] < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "required output %d is missing", i);
    for (int i = 0; i < n->n_attr; i++) {
        const char *const *a = d->attrs;
        while (a && *a && strcmp(*a, n->attrs[i].name) != 0)
            a++;
        if (!a || !*a)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "unsupported attribute '%s'", n->attrs[i].name);
    }
    n->def = d;
    return QB_OK;
}

static void view_of(const struct qb_value *v, struct qb_tview *t)
{
    t->dtype = v->dtype;
    t->ndim = v->ndim;
    for (int i = 0; i < v->ndim; i++)
        t->shape[i] = v->shape[i];
    t->data = v->data;
}

/* Runs a node whose inputs are all constants and stores its outputs as constants. */
static enum qb_status fold_node(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    struct qb_tview in[16], out[16];
    struct qb_kctx ctx = {.graph = g};
    void *state = NULL;
    size_t scratch = 0;
    enum qb_status st = QB_OK;

    if (n->n_in > 16 || n->n_out > 16)
        return QB_OK; /* leave it to run time */
    for (int k = 0; k < n->n_out; k++) {
        struct qb_value *v = qb_node_out(g, n, k);
        if (v && qb_value_numel(v) > FOLD_MAX_ELEMS)
            return QB_OK;
    }
    if (n->def->flops && n->def->flops(g, n) > FOLD_MAX_FLOPS)
        return QB_OK;
    for (int k = 0; k < n->n_in; k++) {
        memset(&in[k], 0, sizeof(in[k]));
        if (n->in[k] >= 0)
            view_of(&g->values[n->in[k]], &in[k]);
    }
    for (int k = 0; k < n->n_out; k++) {
        struct qb_value *v = qb_node_out(g, n, k);
        memset(&out[k], 0, sizeof(out[k]));
        if (!v)
            continue;
        v->data = qb_arena_calloc(g->arena, (size_t)(qb_value_numel(v) ? qb_value_numel(v) : 1), qb_dtype_size(v->dtype));
        if (!v->data)
            return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory folding node '%s'", g->path, n->name);
        view_of(v, &out[k]);
    }
    if (n->def->prepare && (st = n->def->prepare(g, n, &state, &scratch, err)) != QB_OK)
        return st;
    if (scratch > FOLD_MAX_SCRATCH) {
        if (n->def->release)
            n->def->release(state);
        return QB_OK;
    }
    if (scratch && !(ctx.scratch = qb_arena_alloc(g->arena, scratch)))
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory folding node '%s'", g->path, n->name);
    ctx.state = state;
    ctx.scratch_size = scratch;
    if (st == QB_OK)
        st = n->def->run(n, in, out, &ctx);
    if (n->def->release)
        n->def->release(state);
    if (st != QB_OK)
        return st;
    for (int k = 0; k < n->n_out; k++) {
        struct qb_value *v = qb_node_out(g, n, k);
        if (v)
            v->flags |= QB_VALUE_CONST;
    }
    n->folded = true;
    return QB_OK;
}

static bool outputs_const(const struct qb_graph *g, const struct qb_node *n)
{
    for (int k = 0; k < n->n_out; k++) {
        const struct qb_value *v = qb_node_out(g, n, k);
        if (v && !(v->flags & QB_VALUE_CONST))
            return false;
    }
    return true;
}

static bool inputs_const(const struct qb_graph *g, const struct qb_node *n)
{
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *v = qb_node_in(g, n, k);
        if (v && !(v->flags & QB_VALUE_CONST))
            return false;
    }
    return true;
}

enum qb_status qb_graph_prepare(struct qb_graph *g, struct qb_error *err)
{
    enum qb_status st;
    int *order;

    if (g->prepared)
        return QB_OK;
    for (int i = 0; i < g->n_inputs; i++) {
        const struct qb_value *v = &g->values[g->inputs[i]];
        char buf[128];
        if (qb_value_numel(v) < 0)
            return qb_errorf(err, QB_ERR_SHAPE,
                             "%s: input '%s' has shape %s: give it a static shape (qbench runs static shapes only)",
                             g->path, v->name, qb_shape_str(v, buf, sizeof(buf)));
        if (v->dtype != QB_DTYPE_F32)
            return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: input '%s' is %s; qbench feeds float inputs only",
                             g->path, v->name, qb_dtype_name(v->dtype));
    }
    order = qb_arena_calloc(g->arena, (size_t)g->n_nodes + 1, sizeof(int));
    if (!order)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if ((st = topo_sort(g, order, err)) != QB_OK)
        return st;

    g->n_order = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        struct qb_node *n = &g->nodes[order[i]];
        if ((st = check_node(g, n, err)) != QB_OK)
            return st;
        for (int k = 0; k < n->n_in; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            if (v && v->ndim < 0)
                return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "input '%s' has no inferred shape", v->name);
        }
        if ((st = n->def->infer(g, n, err)) != QB_OK)
            return st;
        for (int k = 0; k < n->n_out; k++) {
            const struct qb_value *v = qb_node_out(g, n, k);
            if (v && (v->ndim < 0 || qb_value_numel(v) < 0 || v->dtype == QB_DTYPE_UNDEFINED))
                return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "output '%s' has no static shape", v->name);
        }
        if (outputs_const(g, n)) {
            n->folded = true;
        } else if (inputs_const(g, n) && n->def->run) {
            if ((st = fold_node(g, n, err)) != QB_OK)
                return st;
        }
        if (!n->folded)
            order[g->n_order++] = order[i];
    }
    for (int i = 0; i < g->n_outputs; i++) {
        const struct qb_value *v = &g->values[g->outputs[i]];
        if (v->producer < 0 && !(v->flags & (QB_VALUE_INPUT | QB_VALUE_CONST)))
            return qb_errorf(err, QB_ERR_INVALID, "%s: output '%s' is not produced by any node", g->path, v->name);
    }
    g->order = order;
    g->prepared = true;
    return QB_OK;
}
