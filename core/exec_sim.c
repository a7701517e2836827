/* The graph a plan simulation runs (DESIGN.md "Numerics"): a shallow copy of
 * the prepared graph whose float constants read by FP16 nodes hold FP16-rounded
 * values, so the ops' prepare() packs the weights an FP16 engine would hold. A
 * constant that INT8 or FP32 nodes also read is duplicated: they keep the
 * stored FP32 values (INT8 nodes quantize those per channel). */
#include <math.h>
#include <string.h>

#include "arena.h"
#include "op.h"
#include "exec_sim.h"
#include "quant.h"

/* Constant inputs that parameterise an op rather than carry data: kept as
 * stored (Resize's roi and scales define the output geometry). */
static bool is_param_input(const struct qb_node *n, int k)
{
    return k > 0 && strcmp(n->op_type, "Resize") == 0;
}

static bool rounds_const(const struct qb_graph *g, const struct qb_node *n, int k)
{
    const struct qb_value *v = qb_node_in(g, n, k);
    return v && (v->flags & QB_VALUE_CONST) && v->dtype == QB_DTYPE_F32 && !is_param_input(n, k);
}

static int node_index(const struct qb_graph *g, const struct qb_node *n)
{
    return (int)(n - g->nodes);
}

static bool fuses(const struct qb_node *n, enum qb_prec p)
{
    return p == QB_PREC_FP16 && n->def && (n->def->flags & QB_OP_POINTWISE);
}

bool *qb_sim_fused(const struct qb_graph *g, const enum qb_prec *prec, struct qb_arena *a)
{
    bool *fused = qb_arena_calloc(a, (size_t)g->n_values + 1, sizeof(bool));
    if (!fused)
        return NULL;
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (fuses(n, prec[g->order[i]]))
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0 && g->values[n->out[k]].dtype == QB_DTYPE_F32)
                    fused[n->out[k]] = true;
    }
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (!fuses(n, prec[g->order[i]]))
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0)
                    fused[n->in[k]] = false;
    }
    for (int i = 0; i < g->n_outputs; i++)
        fused[g->outputs[i]] = false;
    return fused;
}

enum qb_status qb_sim_graph(const struct qb_graph *g, const enum qb_prec *prec, struct qb_arena *a,
                            struct qb_graph **out, struct qb_error *err)
{
    struct qb_graph *s = qb_arena_alloc(a, sizeof(*s));
    int *fp16_readers = qb_arena_calloc(a, (size_t)g->n_values + 1, sizeof(int));
    int *other_readers = qb_arena_calloc(a, (size_t)g->n_values + 1, sizeof(int));
    int *rounded = qb_arena_calloc(a, (size_t)g->n_values + 1, sizeof(int)); /* value -> its FP16 twin */
    int n_twins = 0;

    if (!s || !fp16_readers || !other_readers || !rounded)
        goto nomem;
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        for (int k = 0; k < n->n_in; k++)
            if (rounds_const(g, n, k)) {
                if (prec[node_index(g, n)] == QB_PREC_FP16)
                    fp16_readers[n->in[k]]++;
                else
                    other_readers[n->in[k]]++;
            }
    }
    for (int v = 0; v < g->n_values; v++)
        if (fp16_readers[v] && other_readers[v])
            n_twins++;

    *s = *g;
    s->values = qb_arena_calloc(a, (size_t)(g->n_values + n_twins) + 1, sizeof(*s->values));
    s->nodes = qb_arena_calloc(a, (size_t)g->n_nodes + 1, sizeof(*s->nodes));
    if (!s->values || !s->nodes)
        goto nomem;
    memcpy(s->values, g->values, (size_t)g->n_values * sizeof(*s->values));
    memcpy(s->nodes, g->nodes, (size_t)g->n_nodes * sizeof(*s->nodes));
    s->cap_values = s->n_values = g->n_values + n_twins;

    /* rounded copies: in place of the value when only FP16 nodes read it, else as a twin */
    for (int v = 0, twin = g->n_values; v < g->n_values; v++) {
        struct qb_value *dst;
        int64_t count;
        float *data;
        if (!fp16_readers[v])
            continue;
        count = qb_value_numel(&g->values[v]);
        data = qb_arena_alloc(a, (size_t)count * sizeof(float));
        if (!data)
            goto nomem;
        qb_fp16_round(g->values[v].data, data, (size_t)count);
        if (other_readers[v]) {
            s->values[twin] = g->values[v];
            s->values[twin].flags &= ~(unsigned)(QB_VALUE_INPUT | QB_VALUE_OUTPUT);
            rounded[v] = twin++;
        } else {
            rounded[v] = v;
        }
        dst = &s->values[rounded[v]];
        dst->data = data;
    }

    /* FP16 readers of a twinned constant read the twin */
    for (int i = 0; i < g->n_order; i++) {
        struct qb_node *n = &s->nodes[g->order[i]];
        int *in;
        bool twinned = false;
        if (prec[g->order[i]] != QB_PREC_FP16)
            continue;
        for (int k = 0; k < n->n_in; k++)
            twinned |= rounds_const(g, n, k) && rounded[n->in[k]] != n->in[k];
        if (!twinned)
            continue;
        if (!(in = qb_arena_calloc(a, (size_t)n->n_in, sizeof(int))))
            goto nomem;
        for (int k = 0; k < n->n_in; k++)
            in[k] = rounds_const(g, n, k) ? rounded[n->in[k]] : n->in[k];
        n->in = in;
    }
    *out = s;
    return QB_OK;
nomem:
    return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory building the plan simulation", g->path);
}
