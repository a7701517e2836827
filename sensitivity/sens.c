/* Per-layer sensitivity analyses (sensitivity/sens.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/op.h"
#include "sens.h"

const char *const qb_sens_mode_names[QB_SENS_MODE_COUNT] = {"int8-alone", "fp16-alone", "local"};
const char *const qb_sens_metric_names[QB_SENS_METRIC_COUNT] = {"sqnr", "map", "fidelity"};
const char *const qb_sens_unit_names[QB_SENS_UNIT_COUNT] = {"node", "op", "module", "module-op"};

int qb_sens_parse(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static double model_flops(const struct qb_graph *g)
{
    double f = 0;
    for (int i = 0; i < g->n_order; i++)
        f += qb_node_flops(g, &g->nodes[g->order[i]]);
    return f;
}

/* BOPs: MACs x bits of activations x bits of weights; FP16 16 x 16, INT8 8 x 8. */
double qb_sens_plan_cost(const struct qb_graph *g, const enum qb_prec *prec)
{
    double all = model_flops(g), cost = 0;
    if (all <= 0)
        return 1.0;
    for (int i = 0; i < g->n_order; i++) {
        int k = g->order[i];
        cost += qb_node_flops(g, &g->nodes[k]) * (prec && prec[k] == QB_PREC_INT8 ? 0.25 : 1.0);
    }
    return cost / all;
}

const char *qb_sens_module(const char *name, char *buf, size_t len)
{
    /* "/model.21/cv2.0/..." -> "/model.21/"; names without two levels are their own module */
    const char *second = name[0] == '/' ? strchr(name + 1, '/') : NULL;
    if (second)
        snprintf(buf, len, "%.*s", (int)(second - name + 1), name);
    else
        snprintf(buf, len, "%s", name);
    return buf;
}

double qb_sens_metric_value(enum qb_sens_metric m, const struct qb_sweep_result *r)
{
    return m == QB_SENS_SQNR ? r->sqnr_db : m == QB_SENS_MAP ? r->map50_95 : r->fid50_95;
}

/* The unit's key for node k under the grouping. */
static void unit_key(const struct qb_graph *g, enum qb_sens_unit u, int k, char *buf, size_t len)
{
    const struct qb_node *n = &g->nodes[k];
    char mod[256];
    switch (u) {
    case QB_SENS_OP:
        snprintf(buf, len, "%s", n->op_type);
        break;
    case QB_SENS_MODULE:
        qb_sens_module(n->name ? n->name : "", buf, len);
        break;
    case QB_SENS_MODULE_OP:
        snprintf(buf, len, "%s %s", qb_sens_module(n->name ? n->name : "", mod, sizeof(mod)), n->op_type);
        break;
    default:
        snprintf(buf, len, "%s", n->name ? n->name : "");
        break;
    }
}

static enum qb_status add_node(struct qb_sens *s, int k, const char *key, int *cap, struct qb_error *err)
{
    const struct qb_node *n = &s->g->nodes[k];
    struct qb_sens_unit_result *u = NULL;
    int *grown_nodes;

    for (int i = 0; i < s->n && !u; i++)
        if (s->o.unit != QB_SENS_NODE && strcmp(s->units[i].name, key) == 0)
            u = &s->units[i];
    if (!u) {
        if (s->n == *cap) {
            int c = *cap ? *cap * 2 : 64;
            struct qb_sens_unit_result *grown = realloc(s->units, (size_t)c * sizeof(*grown));
            if (!grown)
                return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
            s->units = grown;
            *cap = c;
        }
        u = &s->units[s->n++];
        memset(u, 0, sizeof(*u));
        u->item.probe = -1;
        u->op = n->op_type;
        if (!(u->name = strdup(key)))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    if (!(grown_nodes = realloc(u->nodes, (size_t)(u->n_nodes + 1) * sizeof(int))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    u->nodes = grown_nodes;
    u->nodes[u->n_nodes++] = k;
    if (strcmp(u->op, n->op_type) != 0)
        u->op = "mixed";
    u->gain += 0.75 * qb_node_flops(s->g, n) / (s->flops_fp16 > 0 ? s->flops_fp16 : 1);
    return QB_OK;
}

static enum qb_prec *plan_copy(const struct qb_graph *g, const enum qb_prec *src)
{
    enum qb_prec *p = malloc(((size_t)g->n_nodes + 1) * sizeof(*p));
    if (p)
        memcpy(p, src, (size_t)g->n_nodes * sizeof(*p));
    return p;
}

enum qb_status qb_sens_new(const struct qb_graph *g, const enum qb_prec *int8, const struct qb_sens_opts *o,
                           struct qb_sens **out, struct qb_error *err)
{
    struct qb_sens *s = calloc(1, sizeof(*s));
    enum qb_status st = QB_OK;
    int cap = 0;
    char key[512];

    *out = NULL;
    if (!s)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    s->o = *o;
    s->g = g;
    s->flops_fp16 = model_flops(g);
    if (o->mode == QB_SENS_LOCAL && o->unit != QB_SENS_NODE) {
        st = qb_errorf(err, QB_ERR_USAGE, "the local analysis measures single nodes (not --by %s)",
                       qb_sens_unit_names[o->unit]);
        goto out;
    }
    s->int8 = plan_copy(g, int8);
    s->fp16 = plan_copy(g, int8);
    s->fp32 = calloc((size_t)g->n_nodes + 1, sizeof(*s->fp32));
    if (!s->int8 || !s->fp16 || !s->fp32) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (s->fp16[i] == QB_PREC_INT8)
            s->fp16[i] = QB_PREC_FP16;
    for (int i = 0; i < g->n_order && st == QB_OK; i++) {
        int k = g->order[i];
        if (int8[k] != QB_PREC_INT8)
            continue;
        unit_key(g, o->unit, k, key, sizeof(key));
        st = add_node(s, k, key, &cap, err);
    }
    if (st == QB_OK && !s->n)
        st = qb_errorf(err, QB_ERR_USAGE, "%s: no node runs INT8 in this op-set; nothing to analyse", g->path);
    for (int i = 0; i < s->n && st == QB_OK; i++) {
        struct qb_sens_unit_result *u = &s->units[i];
        const enum qb_prec from = o->mode == QB_SENS_FP16_ALONE ? QB_PREC_FP16 : QB_PREC_INT8;
        u->prec = plan_copy(g, o->mode == QB_SENS_INT8_ALONE ? s->fp16 : o->mode == QB_SENS_FP16_ALONE ? s->int8
                                                                                                      : s->fp32);
        if (!u->prec) {
            st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
            break;
        }
        for (int j = 0; j < u->n_nodes; j++)
            u->prec[u->nodes[j]] = from;
        u->item.prec = u->prec;
        if (o->mode == QB_SENS_LOCAL)
            u->item.probe = g->nodes[u->nodes[0]].out[0];
    }
    if (st == QB_OK && !(s->rank = calloc((size_t)s->n + 1, sizeof(int))))
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
out:
    if (st != QB_OK)
        qb_sens_free(s);
    else
        *out = s;
    return st;
}

void qb_sens_free(struct qb_sens *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++) {
        free(s->units[i].name);
        free(s->units[i].nodes);
        free(s->units[i].prec);
    }
    free(s->units);
    free(s->rank);
    free(s->int8);
    free(s->fp16);
    free(s->fp32);
    free(s);
}

struct rank_key {
    double cost, gain;
    int unit;
};

static int cmp_rank(const void *a, const void *b)
{
    const struct rank_key *x = a, *y = b;
    double cx = isnan(x->cost) ? -INFINITY : x->cost, cy = isnan(y->cost) ? -INFINITY : y->cost;
    if (cx != cy)
        return cx < cy ? 1 : -1;
    if (x->gain != y->gain)
        return x->gain < y->gain ? 1 : -1;
    return (x->unit > y->unit) - (x->unit < y->unit);
}

/* Costs from the results, then the order: most sensitive first (unfinished last). */
static enum qb_status rank_units(struct qb_sens *s, struct qb_error *err)
{
    const enum qb_sens_metric m = s->o.mode == QB_SENS_LOCAL ? QB_SENS_SQNR : s->o.metric;
    double base = qb_sens_metric_value(m, &s->base_item.r);
    struct rank_key *keys = calloc((size_t)s->n + 1, sizeof(*keys));

    if (!keys)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n; i++) {
        struct qb_sens_unit_result *u = &s->units[i];
        double v = qb_sens_metric_value(m, &u->item.r);
        if (!u->item.r.done)
            u->cost = NAN;
        else if (s->o.mode == QB_SENS_LOCAL)
            u->cost = -v; /* a lower SQNR of its own output: more sensitive */
        else if (s->o.mode == QB_SENS_INT8_ALONE)
            u->cost = base - v;
        else
            u->cost = v - base; /* what keeping it in FP16 gives back */
        keys[i] = (struct rank_key){.cost = u->cost, .gain = u->gain, .unit = i};
    }
    qsort(keys, (size_t)s->n, sizeof(*keys), cmp_rank);
    for (int i = 0; i < s->n; i++)
        s->rank[i] = keys[i].unit;
    free(keys);
    return QB_OK;
}

enum qb_status qb_sens_run(struct qb_sens *s, const struct qb_sweep_opts *sw, struct qb_error *err)
{
    struct qb_sweep_opts o = *sw;
    struct qb_sweep_item *items = calloc((size_t)s->n + 2, sizeof(*items));
    enum qb_status st;

    if (!items)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    o.base = s->o.mode == QB_SENS_INT8_ALONE ? s->fp16 : s->o.mode == QB_SENS_FP16_ALONE ? s->int8 : s->fp32;
    items[0] = (struct qb_sweep_item){.prec = NULL, .probe = -1};
    items[1] = (struct qb_sweep_item){.prec = o.base, .probe = -1};
    for (int i = 0; i < s->n; i++)
        items[i + 2] = s->units[i].item;
    st = qb_sweep_run(&o, items, s->n + 2, err);
    s->fp32_item = items[0];
    s->base_item = items[1];
    for (int i = 0; i < s->n; i++)
        s->units[i].item = items[i + 2];
    free(items);
    if (st == QB_OK || st == QB_ERR_CANCELLED) {
        struct qb_error e2 = {0};
        enum qb_status rs = rank_units(s, st == QB_OK ? err : &e2);
        if (st == QB_OK)
            st = rs;
    }
    return st;
}
