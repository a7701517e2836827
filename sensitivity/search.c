/* The automatic plan search (sensitivity/search.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

struct harm {
    int node;
    double score;                /* loss per gain */
};

static int cmp_harm(const void *a, const void *b)
{
    const struct harm *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->node > y->node) - (x->node < y->node);
}

struct ctx {
    const struct qb_sens *rank;
    const struct qb_search_opts *o;
    struct qb_sweep *sw;
    struct qb_search *s;
    const struct qb_graph *g;
};

static double metric(const struct ctx *c, const struct qb_sweep_result *r)
{
    return c->o->map50 ? r->map50 : r->map50_95;
}

static enum qb_status add_plan(struct ctx *c, const enum qb_prec *prec, const char *what, int *index,
                               struct qb_error *err)
{
    struct qb_search *s = c->s;
    struct qb_search_plan *p;

    for (int i = 0; i < s->n; i++) /* the same plan twice is evaluated once */
        if (memcmp(s->plans[i].prec, prec, (size_t)c->g->n_nodes * sizeof(*prec)) == 0) {
            *index = i;
            return QB_OK;
        }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        struct qb_search_plan *grown = realloc(s->plans, (size_t)cap * sizeof(*grown));
        if (!grown)
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        s->plans = grown;
        s->cap = cap;
    }
    p = &s->plans[s->n];
    memset(p, 0, sizeof(*p));
    if (!(p->prec = malloc(((size_t)c->g->n_nodes + 1) * sizeof(*prec))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    memcpy(p->prec, prec, (size_t)c->g->n_nodes * sizeof(*prec));
    p->item = (struct qb_sweep_item){.prec = p->prec, .probe = -1};
    p->cost = qb_sens_plan_cost(c->g, prec);
    for (int i = 0; i < c->g->n_nodes; i++)
        p->n_fp16 += c->rank->int8[i] == QB_PREC_INT8 && prec[i] != QB_PREC_INT8;
    snprintf(p->what, sizeof(p->what), "%s", what);
    *index = s->n++;
    return QB_OK;
}

/* Evaluates the plans [from, s->n) not evaluated yet. */
static enum qb_status eval_new(struct ctx *c, int from, struct qb_error *err)
{
    struct qb_search *s = c->s;
    int n = s->n - from;
    struct qb_sweep_item *items;
    enum qb_status st;

    if (n <= 0)
        return QB_OK;
    if (!(items = calloc((size_t)n, sizeof(*items))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        items[i] = s->plans[from + i].item;
    st = qb_sweep_eval(c->sw, items, n, err);
    for (int i = 0; i < n; i++) {
        struct qb_search_plan *p = &s->plans[from + i];
        p->item = items[i];
        p->meets = p->item.r.done && metric(c, &p->item.r) >= s->target;
    }
    free(items);
    return st;
}

/* "the top k of order[] in FP16, the other quantizable nodes INT8" */
static enum qb_status top_k(struct ctx *c, const struct harm *order, int k, enum qb_prec *prec, int *index,
                            struct qb_error *err)
{
    char what[96];
    memcpy(prec, c->rank->int8, (size_t)c->g->n_nodes * sizeof(*prec));
    for (int i = 0; i < k; i++)
        prec[order[i].node] = QB_PREC_FP16;
    snprintf(what, sizeof(what), "top %d in FP16", k);
    return add_plan(c, prec, what, index, err);
}

static void mark_front(struct qb_search *s)
{
    for (int i = 0; i < s->n; i++) {
        const struct qb_search_plan *p = &s->plans[i];
        s->plans[i].pareto = p->item.r.done;
        for (int j = 0; j < s->n && s->plans[i].pareto; j++) {
            const struct qb_search_plan *q = &s->plans[j];
            if (j == i || !q->item.r.done)
                continue;
            if (q->cost <= p->cost && q->item.r.map50_95 >= p->item.r.map50_95 &&
                (q->cost < p->cost || q->item.r.map50_95 > p->item.r.map50_95))
                s->plans[i].pareto = false;
        }
    }
}

/* Step 2: the smallest k whose plan meets the target, k in (lo, hi] with hi meeting it. */
static enum qb_status narrow(struct ctx *c, const struct harm *order, int n_q, enum qb_prec *prec, int *best,
                             struct qb_error *err)
{
    int lo = 0, hi = n_q, hi_index = c->s->fp16;
    enum qb_status st = QB_OK;

    while (hi - lo > 1 && st == QB_OK) {
        int from = c->s->n, probes[4], n_probes = 0;
        for (int t = 1; t <= 4; t++) {
            int k = lo + (int)((double)(hi - lo) * t / 5.0 + 0.5);
            if (k <= lo || k >= hi || (n_probes && probes[n_probes - 1] == k))
                continue;
            probes[n_probes++] = k;
        }
        if (!n_probes)
            probes[n_probes++] = lo + 1;
        int idx[4];
        for (int t = 0; t < n_probes && st == QB_OK; t++)
            st = top_k(c, order, probes[t], prec, &idx[t], err);
        if (st != QB_OK || (st = eval_new(c, from, err)) != QB_OK)
            break;
        /* the smallest probe that meets the target becomes hi; the largest below it that fails, lo */
        int new_hi = hi, new_hi_index = hi_index, new_lo = lo;
        for (int t = 0; t < n_probes; t++)
            if (c->s->plans[idx[t]].meets) {
                new_hi = probes[t];
                new_hi_index = idx[t];
                break;
            }
        for (int t = 0; t < n_probes; t++)
            if (!c->s->plans[idx[t]].meets && probes[t] < new_hi && probes[t] > new_lo)
                new_lo = probes[t];
        if (new_hi == hi && new_lo == lo)
            break;
        hi = new_hi;
        hi_index = new_hi_index;
        lo = new_lo;
    }
    *best = hi_index;
    return st;
}

enum qb_status qb_search_run(const struct qb_sens *rank, const struct qb_sweep_opts *sw,
                             const struct qb_search_opts *o, struct qb_search **out, struct qb_error *err)
{
    const struct qb_graph *g = rank->g;
    struct qb_sweep_opts so = *sw;
    struct ctx c = {.rank = rank, .o = o, .g = g};
    struct harm *order = NULL;
    enum qb_prec *prec = NULL;
    int n_q = 0, best;
    enum qb_status st;

    *out = NULL;
    if (rank->o.mode != QB_SENS_INT8_ALONE || rank->o.unit != QB_SENS_NODE)
        return qb_errorf(err, QB_ERR_USAGE, "the search starts from an INT8-alone ranking by node");
    if (!(c.s = calloc(1, sizeof(*c.s))) || !(order = calloc((size_t)rank->n + 1, sizeof(*order))) ||
        !(prec = malloc(((size_t)g->n_nodes + 1) * sizeof(*prec)))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    so.base = rank->int8;
    so.progress = sw->progress;
    if ((st = qb_sweep_new(&so, &c.sw, err)) != QB_OK)
        goto out;

    /* 1. the two ends */
    if ((st = add_plan(&c, rank->fp16, "all FP16", &c.s->fp16, err)) != QB_OK ||
        (st = add_plan(&c, rank->int8, "all INT8", &c.s->int8, err)) != QB_OK ||
        (st = eval_new(&c, 0, err)) != QB_OK)
        goto out;
    c.s->target = metric(&c, &c.s->plans[c.s->fp16].item.r) - o->budget / 100.0;
    c.s->plans[c.s->fp16].meets = true;
    c.s->plans[c.s->int8].meets = metric(&c, &c.s->plans[c.s->int8].item.r) >= c.s->target;
    best = c.s->plans[c.s->int8].meets ? c.s->int8 : c.s->fp16;

    if (best == c.s->fp16) {
        /* 2. harm per gain from the ranking, most harmful first */
        for (int i = 0; i < rank->n; i++) {
            const struct qb_sens_unit_result *u = &rank->units[i];
            double harm = u->item.r.done ? fmax(0.0, u->cost) : INFINITY;
            order[n_q++] = (struct harm){.node = u->nodes[0], .score = (harm + 1e-6) / (u->gain + 1e-9)};
        }
        qsort(order, (size_t)n_q, sizeof(*order), cmp_harm);
        if ((st = narrow(&c, order, n_q, prec, &best, err)) != QB_OK)
            goto out;

        /* 3. return kept nodes to INT8, least harmful first */
        int tries = 0;
        for (int i = n_q - 1; i >= 0 && st == QB_OK; i--) {
            int k = order[i].node, idx, from = c.s->n;
            char what[96];
            if (c.s->plans[best].prec[k] == QB_PREC_INT8)
                continue;
            if (o->max_returns && tries++ >= o->max_returns)
                break;
            memcpy(prec, c.s->plans[best].prec, (size_t)g->n_nodes * sizeof(*prec));
            prec[k] = QB_PREC_INT8;
            snprintf(what, sizeof(what), "return %s", g->nodes[k].name);
            if ((st = add_plan(&c, prec, what, &idx, err)) != QB_OK || (st = eval_new(&c, from, err)) != QB_OK)
                break;
            if (c.s->plans[idx].meets && c.s->plans[idx].cost < c.s->plans[best].cost)
                best = idx;
        }
    }
    /* the cheapest plan evaluated that meets the budget */
    for (int i = 0; i < c.s->n; i++)
        if (c.s->plans[i].meets && c.s->plans[i].cost < c.s->plans[best].cost)
            best = i;
    c.s->chosen = best;
    mark_front(c.s);
out:
    qb_sweep_free(c.sw);
    free(order);
    free(prec);
    if (st != QB_OK && st != QB_ERR_CANCELLED) {
        qb_search_free(c.s);
        return st;
    }
    if (c.s)
        mark_front(c.s);
    *out = c.s;
    return st;
}

void qb_search_free(struct qb_search *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->plans[i].prec);
    free(s->plans);
    free(s);
}
