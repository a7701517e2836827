/* ONNX loader, the graph side: an unpacked ModelProto -> struct qb_graph
 * (opsets, metadata, initializers, inputs, outputs, value_info, nodes and their
 * attributes). Bytes and tensors are core/onnx_tensor.c's. */
#include "onnx.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define MAX_NODE_IO 65536       /* inputs or outputs of one node */
#define MAX_ATTRS 1024          /* attributes of one node */
#define MAX_ATTR_LIST (1 << 24) /* elements of one list attribute */
#define MAX_LIST (1 << 26)      /* inputs, outputs, initializers, value_info ... */

/* ---- values ---------------------------------------------------------------------- */

/* Value v becomes the constant tensor tv. */
static void set_const(struct qb_value *val, const struct qb_onnx_tensor *tv, unsigned flags)
{
    val->dtype = tv->dtype;
    val->ndim = tv->ndim;
    memcpy(val->shape, tv->shape, sizeof(tv->shape));
    val->data = tv->data;
    val->flags |= flags;
}

enum type_need { TYPE_REQUIRED, TYPE_OPTIONAL, TYPE_HINT };

/* Sets dtype and shape of value v from a ValueInfoProto's type. TYPE_HINT
 * (value_info) ignores what it cannot use; the others refuse it. */
static enum qb_status load_value_type(struct qb_onnx_ld *L, int v, const Onnx__ValueInfoProto *vi, const char *kind,
                                      enum type_need need)
{
    const Onnx__TypeProto *tp = vi->type;
    const Onnx__TypeProto__Tensor *tt;
    const Onnx__TensorShapeProto *sp;
    struct qb_value *val = &L->g->values[v];
    const char *name = val->name;
    bool strict = need != TYPE_HINT;

    if (!tp)
        return need == TYPE_REQUIRED ? qb_onnx_lerr(L, QB_ERR_INVALID, "%s '%s' has no type", kind, name) : QB_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return strict ? qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s '%s' is not a tensor (only tensors are supported)",
                                     kind, name)
                      : QB_OK;
    tt = tp->tensor_type;
    if (!tt->has_elem_type || tt->elem_type == 0)
        return strict ? qb_onnx_lerr(L, QB_ERR_INVALID, "%s '%s' has no element type", kind, name) : QB_OK;
    if (qb_onnx_dtype(tt->elem_type) == QB_DTYPE_UNDEFINED) {
        const char *tn = qb_onnx_type_name(tt->elem_type);
        if (!strict)
            return QB_OK;
        if (!tn)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "%s '%s' has unknown element type %d", kind, name,
                                (int)tt->elem_type);
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s '%s' has element type %s, which is not supported", kind, name,
                            tn);
    }
    sp = tt->shape;
    if (sp && sp->n_dim > QB_MAX_DIMS)
        return strict ? qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s '%s' has %zu dimensions, at most %d are supported",
                                     kind, name, sp->n_dim, QB_MAX_DIMS)
                      : QB_OK;
    for (size_t i = 0; sp && i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value < 0)
            return strict ? qb_onnx_lerr(L, QB_ERR_INVALID, "%s '%s' has dimension %zu = %" PRId64, kind, name, i,
                                         d->dim_value)
                          : QB_OK;
    }
    val->dtype = qb_onnx_dtype(tt->elem_type);
    val->ndim = sp ? (int)sp->n_dim : -1;
    for (int i = 0; i < val->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        val->shape[i] = -1;
        val->dim_param[i] = NULL;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            val->shape[i] = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
                   *d->dim_param) {
            if (!(val->dim_param[i] = qb_arena_strdup(L->arena, d->dim_param)))
                return qb_onnx_nomem(L);
        }
    }
    return QB_OK;
}

static enum qb_status load_initializers(struct qb_onnx_ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;
    char what[600];

    if (gp->n_sparse_initializer)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "sparse initializers are not supported (%zu in the graph)",
                            gp->n_sparse_initializer);
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        struct qb_onnx_tensor tv;
        enum qb_status st;
        int v;

        if (!t->name || !*t->name)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "initializer %zu has no name", i);
        if (qb_graph_find_value(g, t->name) >= 0)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "initializer '%s' is given twice", t->name);
        snprintf(what, sizeof(what), "initializer '%s'", t->name);
        if ((st = qb_onnx_load_tensor(L, t, what, &tv)) != QB_OK)
            return st;
        if ((v = qb_graph_intern_value(g, t->name)) < 0)
            return qb_onnx_nomem(L);
        set_const(&g->values[v], &tv, QB_VALUE_CONST | QB_VALUE_INIT);
    }
    return QB_OK;
}

static enum qb_status load_inputs(struct qb_onnx_ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;

    if (!(g->inputs = qb_arena_calloc(L->arena, gp->n_input + 1, sizeof(int))))
        return qb_onnx_nomem(L);
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        enum qb_status st;
        int v;

        if (!vi->name || !*vi->name)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "graph input %zu has no name", i);
        v = qb_graph_find_value(g, vi->name);
        if (v >= 0 && (g->values[v].flags & QB_VALUE_INIT))
            continue; /* an initializer listed as input (IR < 4): a constant */
        if (v >= 0)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "graph input '%s' is listed twice", vi->name);
        if ((v = qb_graph_intern_value(g, vi->name)) < 0)
            return qb_onnx_nomem(L);
        g->values[v].flags |= QB_VALUE_INPUT;
        if ((st = load_value_type(L, v, vi, "graph input", TYPE_REQUIRED)) != QB_OK)
            return st;
        g->inputs[g->n_inputs++] = v;
    }
    return QB_OK;
}

static enum qb_status load_outputs(struct qb_onnx_ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;

    if (!(g->outputs = qb_arena_calloc(L->arena, gp->n_output + 1, sizeof(int))))
        return qb_onnx_nomem(L);
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        enum qb_status st;
        int v;

        if (!vi->name || !*vi->name)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "graph output %zu has no name", i);
        if ((v = qb_graph_intern_value(g, vi->name)) < 0)
            return qb_onnx_nomem(L);
        if (g->values[v].flags & QB_VALUE_OUTPUT)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "graph output '%s' is listed twice", vi->name);
        g->values[v].flags |= QB_VALUE_OUTPUT;
        g->outputs[g->n_outputs++] = v;
        if (g->values[v].flags & (QB_VALUE_INPUT | QB_VALUE_CONST))
            continue; /* keeps the input's or initializer's own type */
        if ((st = load_value_type(L, v, vi, "graph output", TYPE_OPTIONAL)) != QB_OK)
            return st;
    }
    return QB_OK;
}

static enum qb_status load_value_info(struct qb_onnx_ld *L, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        const struct qb_value *val;
        enum qb_status st;
        int v;

        if (!vi->name || !*vi->name)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "value_info %zu has no name", i);
        if ((v = qb_graph_find_value(L->g, vi->name)) < 0)
            continue; /* describes nothing the graph uses */
        val = &L->g->values[v];
        if (val->dtype != QB_DTYPE_UNDEFINED || val->ndim >= 0 || (val->flags & (QB_VALUE_INPUT | QB_VALUE_CONST)))
            continue;
        if ((st = load_value_type(L, v, vi, "value_info", TYPE_HINT)) != QB_OK)
            return st;
    }
    return QB_OK;
}

/* ---- nodes ----------------------------------------------------------------------- */

/* Names, op, domain, inputs and outputs; producers are checked here. */
static enum qb_status load_node_io(struct qb_onnx_ld *L, const Onnx__NodeProto *np, int ni)
{
    struct qb_graph *g = L->g;
    struct qb_node *n = &g->nodes[ni];
    const char *dom = np->domain ? np->domain : "";

    if (!np->op_type || !*np->op_type)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "node %d ('%s') has no op_type", ni, np->name ? np->name : "");
    if (!(n->op_type = qb_arena_strdup(L->arena, np->op_type)))
        return qb_onnx_nomem(L);
    if (np->name && *np->name) {
        n->name = qb_arena_strdup(L->arena, np->name);
    } else {
        size_t len = strlen(np->op_type) + 16;
        if ((n->name = qb_arena_alloc(L->arena, len)))
            snprintf((char *)n->name, len, "%s_%d", np->op_type, ni);
    }
    n->domain = strcmp(dom, "ai.onnx") == 0 ? "" : qb_arena_strdup(L->arena, dom);
    if (!n->name || !n->domain)
        return qb_onnx_nomem(L);
    if (np->n_input > MAX_NODE_IO || np->n_output > MAX_NODE_IO)
        return qb_node_errorf(g, n, L->err, QB_ERR_UNSUPPORTED, "has %zu inputs and %zu outputs, at most %d each",
                              np->n_input, np->n_output, MAX_NODE_IO);
    n->n_in = (int)np->n_input;
    n->n_out = (int)np->n_output;
    n->in = qb_arena_calloc(L->arena, np->n_input + 1, sizeof(int));
    n->out = qb_arena_calloc(L->arena, np->n_output + 1, sizeof(int));
    if (!n->in || !n->out)
        return qb_onnx_nomem(L);
    for (int k = 0; k < n->n_in; k++) {
        const char *name = np->input[k];
        n->in[k] = -1;
        if (name && *name && (n->in[k] = qb_graph_intern_value(g, name)) < 0)
            return qb_onnx_nomem(L);
    }
    for (int k = 0; k < n->n_out; k++) {
        const char *name = np->output[k];
        struct qb_value *val;
        int v;

        n->out[k] = -1;
        if (!name || !*name)
            continue;
        if ((v = qb_graph_intern_value(g, name)) < 0)
            return qb_onnx_nomem(L);
        val = &g->values[v];
        if (val->producer >= 0) {
            const struct qb_node *p = &g->nodes[val->producer];
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "output '%s' is also produced by node '%s' (%s)",
                                  name, p->name, p->op_type);
        }
        if (val->flags & (QB_VALUE_INIT | QB_VALUE_INPUT))
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "output '%s' is also %s", name,
                                  (val->flags & QB_VALUE_INIT) ? "an initializer" : "a graph input");
        val->producer = ni;
        n->out[k] = v;
    }
    return QB_OK;
}

/* A TENSOR attribute becomes a constant value "<node>.<attr>" (made unique). */
static enum qb_status load_tensor_attr(struct qb_onnx_ld *L, struct qb_node *n, const Onnx__AttributeProto *a,
                                       struct qb_attr *out)
{
    struct qb_graph *g = L->g;
    size_t len = strlen(n->name) + strlen(a->name) + 32;
    char what[600], *vname;
    struct qb_onnx_tensor tv;
    enum qb_status st;
    int v;

    snprintf(what, sizeof(what), "node '%s' (%s): attribute '%s'", n->name, n->op_type, a->name);
    if ((st = qb_onnx_load_tensor(L, a->t, what, &tv)) != QB_OK)
        return st;
    if (!(vname = malloc(len)))
        return qb_onnx_nomem(L);
    /* on a clash, the node index keeps the search short even when many nodes share a name */
    snprintf(vname, len, "%s.%s", n->name, a->name);
    for (int k = 0; qb_graph_find_value(g, vname) >= 0; k++)
        snprintf(vname, len, "%s.%s#%d.%d", n->name, a->name, (int)(n - g->nodes), k);
    v = qb_graph_intern_value(g, vname);
    free(vname);
    if (v < 0)
        return qb_onnx_nomem(L);
    set_const(&g->values[v], &tv, QB_VALUE_CONST);
    out->type = QB_ATTR_TENSOR;
    out->n = 1;
    out->u.tensor = v;
    return QB_OK;
}

/* The attribute's type; guessed from the fields set for old files without one. */
static int attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return (int)a->type;
    if (a->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (a->n_tensors || a->n_graphs || a->sparse_tensor || a->n_sparse_tensors || a->tp || a->n_type_protos)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS; /* loaded as QB_ATTR_OTHER */
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static enum qb_status load_attr(struct qb_onnx_ld *L, struct qb_node *n, const Onnx__AttributeProto *a, int k,
                                struct qb_attr *out)
{
    struct qb_graph *g = L->g;
    int type = attr_type(a);
    size_t count;

    if (!a->name || !*a->name)
        return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute %d has no name", k);
    if (!(out->name = qb_arena_strdup(L->arena, a->name)))
        return qb_onnx_nomem(L);
    if (a->ref_attr_name && *a->ref_attr_name)
        return qb_node_errorf(g, n, L->err, QB_ERR_INVALID,
                              "attribute '%s' refers to '%s' of an enclosing function, which only function bodies "
                              "may do", a->name, a->ref_attr_name);
    count = a->n_floats > a->n_ints ? a->n_floats : a->n_ints;
    count = a->n_strings > count ? a->n_strings : count;
    if (count > MAX_ATTR_LIST)
        return qb_node_errorf(g, n, L->err, QB_ERR_UNSUPPORTED, "attribute '%s' has %zu values, at most %d",
                              a->name, count, MAX_ATTR_LIST);
    out->n = 1;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->type = QB_ATTR_FLOAT;
        out->u.f = a->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->type = QB_ATTR_INT;
        out->u.i = a->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        out->type = QB_ATTR_STRING;
        if (!(out->u.s = qb_onnx_bin_strdup(L->arena, &a->s)))
            return qb_onnx_nomem(L);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (!a->t)
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' is a tensor but holds none",
                                  a->name);
        return load_tensor_attr(L, n, a, out);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        if (!a->g)
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' is a graph but holds none",
                                  a->name);
        out->type = QB_ATTR_GRAPH;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        out->type = QB_ATTR_FLOATS;
        out->n = (int)a->n_floats;
        if (!(out->u.fs = qb_arena_calloc(L->arena, a->n_floats + 1, sizeof(float))))
            return qb_onnx_nomem(L);
        if (a->n_floats)
            memcpy(out->u.fs, a->floats, a->n_floats * sizeof(float));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        out->type = QB_ATTR_INTS;
        out->n = (int)a->n_ints;
        if (!(out->u.is = qb_arena_calloc(L->arena, a->n_ints + 1, sizeof(int64_t))))
            return qb_onnx_nomem(L);
        if (a->n_ints)
            memcpy(out->u.is, a->ints, a->n_ints * sizeof(int64_t));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        out->type = QB_ATTR_STRINGS;
        out->n = (int)a->n_strings;
        if (!(out->u.ss = qb_arena_calloc(L->arena, a->n_strings + 1, sizeof(char *))))
            return qb_onnx_nomem(L);
        for (size_t i = 0; i < a->n_strings; i++)
            if (!(out->u.ss[i] = qb_onnx_bin_strdup(L->arena, &a->strings[i])))
                return qb_onnx_nomem(L);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
        out->type = QB_ATTR_OTHER;
        out->n = 0;
        break;
    default:
        if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' has no type and no value",
                                  a->name);
        return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' has unknown type %d", a->name, type);
    }
    return QB_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static enum qb_status load_node_attrs(struct qb_onnx_ld *L, const Onnx__NodeProto *np, struct qb_node *n)
{
    enum qb_status st;

    if (np->n_attribute > MAX_ATTRS)
        return qb_node_errorf(L->g, n, L->err, QB_ERR_UNSUPPORTED, "has %zu attributes, at most %d",
                              np->n_attribute, MAX_ATTRS);
    n->n_attr = (int)np->n_attribute;
    if (!(n->attrs = qb_arena_calloc(L->arena, np->n_attribute + 1, sizeof(*n->attrs))))
        return qb_onnx_nomem(L);
    for (int k = 0; k < n->n_attr; k++)
        if ((st = load_attr(L, n, np->attribute[k], k, &n->attrs[k])) != QB_OK)
            return st;
    if (n->n_attr < 2)
        return QB_OK;
    if ((size_t)n->n_attr > L->scratch_cap) {
        const char **s = realloc(L->scratch, (size_t)n->n_attr * sizeof(*s));
        if (!s)
            return qb_onnx_nomem(L);
        L->scratch = s;
        L->scratch_cap = (size_t)n->n_attr;
    }
    for (int k = 0; k < n->n_attr; k++)
        L->scratch[k] = n->attrs[k].name;
    qsort(L->scratch, (size_t)n->n_attr, sizeof(*L->scratch), cmp_str);
    for (int k = 1; k < n->n_attr; k++)
        if (strcmp(L->scratch[k - 1], L->scratch[k]) == 0)
            return qb_node_errorf(L->g, n, L->err, QB_ERR_INVALID, "attribute '%s' is given twice", L->scratch[k]);
    return QB_OK;
}

static enum qb_status load_nodes(struct qb_onnx_ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;
    enum qb_status st;

    if (gp->n_node > QB_ONNX_MAX_NODES)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "the graph has %zu nodes, at most %d are supported", gp->n_node,
                            QB_ONNX_MAX_NODES);
    if (!(g->nodes = qb_arena_calloc(L->arena, gp->n_node + 1, sizeof(*g->nodes))))
        return qb_onnx_nomem(L);
    /* all outputs first, so that attribute constants never take a node output's name */
    for (size_t i = 0; i < gp->n_node; i++) {
        if ((st = load_node_io(L, gp->node[i], (int)i)) != QB_OK)
            return st;
        g->n_nodes = (int)i + 1;
    }
    for (size_t i = 0; i < gp->n_node; i++)
        if ((st = load_node_attrs(L, gp->node[i], &g->nodes[i])) != QB_OK)
            return st;
    return QB_OK;
}

/* ---- the model ------------------------------------------------------------------- */

static enum qb_status load_header(struct qb_onnx_ld *L, const Onnx__ModelProto *m)
{
    struct qb_graph *g = L->g;
    const char *pn = m->producer_name ? m->producer_name : "";
    const char *pv = m->producer_version ? m->producer_version : "";
    bool have = false;
    size_t len;

    g->ir_version = m->has_ir_version ? m->ir_version : 0;
    len = strlen(pn) + strlen(pv) + 2;
    if (!(g->producer = qb_arena_alloc(L->arena, len)))
        return qb_onnx_nomem(L);
    snprintf((char *)g->producer, len, "%s%s%s", pn, *pn && *pv ? " " : "", pv);
    if (!(g->name = qb_arena_strdup(L->arena, m->graph->name ? m->graph->name : "")))
        return qb_onnx_nomem(L);

    if (m->n_opset_import > MAX_LIST || m->n_metadata_props > MAX_LIST)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "too many opset imports or metadata entries");
    g->opsets = qb_arena_calloc(L->arena, m->n_opset_import + 1, sizeof(*g->opsets));
    g->meta = qb_arena_calloc(L->arena, m->n_metadata_props + 1, sizeof(*g->meta));
    if (!g->opsets || !g->meta)
        return qb_onnx_nomem(L);
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *dom = o->domain ? o->domain : "";
        if (!o->has_version || o->version < 1)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "the opset import for domain '%s' has no valid version", dom);
        if (!(g->opsets[i].domain = qb_arena_strdup(L->arena, dom)))
            return qb_onnx_nomem(L);
        g->opsets[i].version = o->version;
        g->n_opsets = (int)i + 1;
        if (*dom && strcmp(dom, "ai.onnx") != 0)
            continue;
        if (have && g->opset != o->version)
            return qb_onnx_lerr(L, QB_ERR_INVALID,
                                "the default ONNX domain is imported at opsets %" PRId64 " and %" PRId64, g->opset,
                                o->version);
        g->opset = o->version;
        have = true;
    }
    L->have_opset = have;
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        g->meta[i].key = qb_arena_strdup(L->arena, e->key ? e->key : "");
        g->meta[i].value = qb_arena_strdup(L->arena, e->value ? e->value : "");
        if (!g->meta[i].key || !g->meta[i].value)
            return qb_onnx_nomem(L);
        g->n_meta = (int)i + 1;
    }
    return QB_OK;
}

/* No default-domain opset: invalid when a node needs it, out of scope when every
 * node is in another domain (training and vendor ops). */
static enum qb_status check_opset(struct qb_onnx_ld *L)
{
    const struct qb_graph *g = L->g;

    if (L->have_opset)
        return QB_OK;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].domain[0])
            return qb_onnx_lerr(L, QB_ERR_INVALID, "node '%s' (%s) is in the default ONNX domain, but the model "
                                "imports no opset for it (no opset_import for \"\" or \"ai.onnx\")", g->nodes[i].name,
                                g->nodes[i].op_type);
    if (g->n_nodes)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "all ops are in domain '%s' and the model imports no default ONNX "
                            "opset; qbench runs default-domain ops only", g->nodes[0].domain);
    return qb_onnx_lerr(L, QB_ERR_INVALID, "the model imports no opset for the default ONNX domain (no opset_import "
                        "for \"\" or \"ai.onnx\")");
}

static enum qb_status build_graph(struct qb_onnx_ld *L, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    enum qb_status st;

    if (!gp)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "the model has no graph");
    if (gp->n_input > MAX_LIST || gp->n_output > MAX_LIST || gp->n_initializer > MAX_LIST ||
        gp->n_value_info > MAX_LIST)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED,
                            "the graph has too many inputs, outputs, initializers or value_info");
    if ((st = load_header(L, m)) != QB_OK || (st = load_initializers(L, gp)) != QB_OK ||
        (st = load_inputs(L, gp)) != QB_OK || (st = load_nodes(L, gp)) != QB_OK ||
        (st = load_outputs(L, gp)) != QB_OK || (st = load_value_info(L, gp)) != QB_OK)
        return st;
    return check_opset(L);
}

/* *owned (the file buffer, may be NULL) is freed as soon as protobuf-c has copied it. */
static enum qb_status load_model(const void *data, size_t len, const char *path, const char *base_dir,
                                 void **owned, struct qb_graph **out, struct qb_error *err)
{
    struct qb_onnx_ld L = {.path = path, .base_dir = base_dir, .err = err};
    ProtobufCMessage *msg = NULL;
    struct qb_graph *g = NULL;
    enum qb_status st;
    struct qb_onnx_pb pb;

    st = qb_onnx_unpack(&onnx__model_proto__descriptor, data, len, path, "model", &pb, &msg, err);
    if (owned) {
        free(*owned);
        *owned = NULL;
    }
    if (st != QB_OK)
        goto out;
    if ((st = qb_graph_new(path, &g, err)) != QB_OK)
        goto out;
    L.g = g;
    L.arena = g->arena;
    st = build_graph(&L, (const Onnx__ModelProto *)msg);
out:
    if (msg)
        protobuf_c_message_free_unpacked(msg, &pb.alloc);
    free(L.base_real);
    free(L.scratch);
    if (st != QB_OK) {
        qb_graph_free(g);
        g = NULL;
    }
    *out = g;
    return st;
}

enum qb_status qb_onnx_load_buffer(const void *data, size_t len, const char *path_for_messages,
                                   const char *base_dir, struct qb_graph **out, struct qb_error *err)
{
    const char *path = path_for_messages ? path_for_messages : "<memory>";

    *out = NULL;
    if (!data && len)
        return qb_errorf(err, QB_ERR_USAGE, "%s: no data", path);
    return load_model(data, len, path, base_dir, NULL, out, err);
}

enum qb_status qb_onnx_load(const char *path, struct qb_graph **out, struct qb_error *err)
{
    enum qb_status st;
    void *buf = NULL;
    char *dir = NULL;
    size_t len;

    *out = NULL;
    if (!path)
        return qb_errorf(err, QB_ERR_USAGE, "no model path given");
    if ((st = qb_onnx_read_file(path, &buf, &len, err)) != QB_OK)
        return st;
    if (!(dir = qb_onnx_dir_of(path)))
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
    else
        st = load_model(buf, len, path, dir, &buf, out, err);
    free(buf);
    free(dir);
    return st;
}
