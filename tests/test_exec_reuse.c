/* Prefix reuse in the CPU executor (sensitivity sweeps), on the tiny test models:
 * a variant plan resumed from the values an all-FP16 base plan left before their
 * first differing step gives exactly what a full run of the variant gives, bit for
 * bit, while the variant's own memory was poisoned with NaN before the load:
 *  - one Conv INT8 early, in the middle and late (the cut is that Conv's step), a
 *    MatMul (attention), and a Mul (SiLU) and an Add (residual) reading a value that
 *    the base keeps FP32 inside a pointwise chain (flipping them makes that value
 *    FP16, so the cut comes at or before its producer), all served by one base run
 *    going forward;
 *  - a plan identical to the base (cut = n_steps) and 20 random pairs of plans;
 *  - an executor without a plan or of another graph shares nothing (cut 0); the
 *    step counts, the node -> step map, the live set at the ends (inputs, outputs),
 *    qb_exec_value() and what the observer sees of a partial run. */
#include <math.h>

#include "core/exec.h"
#include "core/onnx.h"
#include "testutil.h"
#include "testutil_sim.h"



static size_t tview_bytes(const struct qb_tview *t)
{
    return (size_t)qb_tview_numel(t) * qb_dtype_size(t->dtype);
}

/* Observers --------------------------------------------------------------------- */

struct calib {
    float *amax;   /* per value, max |x| */
};

static void observe_amax(void *user, int v, const struct qb_tview *t)
{
    struct calib *c = user;
    const float *x = t->data;
    for (int64_t i = 0; i < qb_tview_numel(t); i++)
        c->amax[v] = fmaxf(c->amax[v], fabsf(x[i]));
}

struct seen {
    int calls;
    bool *value;   /* per value */
};

static void observe_seen(void *user, int v, const struct qb_tview *t)
{
    struct seen *s = user;
    (void)t;
    s->calls++;
    s->value[v] = true;
}

/* Outputs of a run, back to back (all graph outputs). */
struct outs {
    unsigned char *data;
    size_t bytes;
};

static struct outs copy_outputs(const struct qb_graph *g, const struct qb_executor *e)
{
    struct outs o = {0};
    for (int i = 0; i < g->n_outputs; i++)
        o.bytes += tview_bytes(qb_exec_output(e, i));
    o.data = malloc(o.bytes + 1);
    for (size_t i = 0, off = 0; i < (size_t)g->n_outputs; i++) {
        const struct qb_tview *t = qb_exec_output(e, (int)i);
        memcpy(o.data + off, t->data, tview_bytes(t));
        off += tview_bytes(t);
    }
    return o;
}

static bool same_outs(struct outs a, struct outs b)
{
    return a.data && b.data && a.bytes == b.bytes && memcmp(a.data, b.data, a.bytes) == 0;
}

/* Every value the executor stores, set to NaN bits: what a load misses shows. */
static void poison(const struct qb_graph *g, struct qb_executor *e)
{
    for (int v = 0; v < g->n_values; v++) {
        const struct qb_tview *t = qb_exec_value(e, v);
        if (t)
            memset(t->data, 0xFF, tview_bytes(t));
    }
}

/* Threads change no bit (test_exec); one is fastest for these tiny models on a busy
 * machine, two for the base show that a resumed run does not depend on them. */
static struct qb_executor *build(const struct qb_graph *g, const enum qb_prec *prec, const float *amax, int threads)
{
    struct qb_executor *e = NULL;
    struct qb_error err = {0};
    if (qb_exec_new(g, &(struct qb_exec_opts){.n_threads = threads, .prec = prec, .amax = amax}, &e, &err) != QB_OK)
        CHECKF(0, "%s", err.msg);
    return e;
}

/* The variant's full run, then the reuse path from base's values at cut (base has
 * run exactly the steps [0, cut) on the filled input): equal outputs? */
static bool reuse_matches(const struct qb_graph *g, struct qb_executor *base, struct qb_executor *var, int cut,
                          struct outs *full_out)
{
    struct qb_error err = {0};
    size_t bytes = qb_exec_live_bytes(base, cut);
    unsigned char *buf = malloc(bytes + 1);
    struct outs full, reused = {0};
    bool ok;

    sim_fill_input(var);
    CHECKF(qb_exec_run(var, &err) == QB_OK, "%s", err.msg);
    full = copy_outputs(g, var);
    poison(g, var);
    CHECK(qb_exec_live_bytes(var, cut) == bytes);
    qb_exec_save_live(base, cut, buf);
    qb_exec_load_live(var, cut, buf);
    if (qb_exec_run_steps(var, cut, qb_exec_n_steps(var), &err) == QB_OK)
        reused = copy_outputs(g, var);
    else
        CHECKF(0, "%s", err.msg);
    ok = same_outs(full, reused);
    free(buf);
    free(reused.data);
    if (full_out)
        *full_out = full;
    else
        free(full.data);
    return ok;
}

/* Picking nodes ------------------------------------------------------------------ */



static int count_op(const struct qb_graph *g, const char *op)
{
    int count = 0;
    for (int s = 0; s < g->n_order; s++)
        count += strcmp(g->nodes[g->order[s]].op_type, op) == 0;
    return count;
}

/* The i-th runtime node of op type (negative i counts from the end), or -1. */
static int nth_node(const struct qb_graph *g, const char *op, int i)
{
    int seen = 0;
    if (i < 0)
        i += count_op(g, op);
    for (int s = 0; s < g->n_order; s++)
        if (strcmp(g->nodes[g->order[s]].op_type, op) == 0 && seen++ == i)
            return g->order[s];
    return -1;
}

/* A node that reads a float activation and writes a float output (may run INT8). */
static bool float_node(const struct qb_graph *g, const struct qb_node *n)
{
    bool in = false;
    for (int k = 0; k < n->n_in; k++)
        in |= n->in[k] >= 0 && g->values[n->in[k]].dtype == QB_DTYPE_F32 &&
              !(g->values[n->in[k]].flags & QB_VALUE_CONST);
    return in && n->n_out > 0 && n->out[0] >= 0 && g->values[n->out[0]].dtype == QB_DTYPE_F32;
}

/* Tests ---------------------------------------------------------------------------- */

enum expect {
    EXPECT_AT,       /* the cut is the flipped node's step */
    EXPECT_BEFORE,   /* 0 < cut <= limit */
    EXPECT_ALL,      /* the cut is n_steps */
};

struct variant {
    const char *what;
    int node;        /* flipped to INT8, or -1 */
    enum expect expect;
    int limit;       /* step, for EXPECT_BEFORE */
    int cut;
    struct qb_executor *e;
};

/* The first node of op type that reads a value the base keeps FP32 (not produced
 * by step 0): INT8 there makes that value FP16, so the cut is at or before its producer. */
static void add_pointwise(const struct qb_graph *g, const struct qb_executor *base, const char *op,
                          struct variant *vs, int *n)
{
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *x = &g->nodes[g->order[i]];
        int v = -1;
        if (strcmp(x->op_type, op) != 0)
            continue;
        for (int k = 0; k < x->n_in; k++)
            if (x->in[k] >= 0 && sim_kept_fp32(g, x->in[k]) && g->values[x->in[k]].producer != g->order[0])
                v = x->in[k];
        if (v < 0)
            continue;
        vs[(*n)++] = (struct variant){.what = op, .node = g->order[i], .expect = EXPECT_BEFORE,
                                      .limit = qb_exec_node_step(base, g->values[v].producer)};
        return;
    }
}

static int by_cut(const void *a, const void *b)
{
    return ((const struct variant *)a)->cut - ((const struct variant *)b)->cut;
}

static void check_variants(const struct qb_graph *g, struct qb_executor *base, const enum qb_prec *prec16,
                           const float *amax, struct outs base_out)
{
    struct variant vs[10];
    enum qb_prec *prec = malloc((size_t)g->n_nodes * sizeof(*prec));
    struct qb_error err = {0};
    int n = 0, n_steps = qb_exec_n_steps(base), done = 0;

    vs[n++] = (struct variant){.what = "Conv early", .node = nth_node(g, "Conv", 1), .expect = EXPECT_AT};
    vs[n++] = (struct variant){.what = "Conv middle", .node = nth_node(g, "Conv", count_op(g, "Conv") / 2),
                               .expect = EXPECT_AT};
    vs[n++] = (struct variant){.what = "Conv late", .node = nth_node(g, "Conv", -1), .expect = EXPECT_AT};
    if (nth_node(g, "MatMul", 0) >= 0)
        vs[n++] = (struct variant){.what = "MatMul", .node = nth_node(g, "MatMul", 0), .expect = EXPECT_BEFORE,
                                   .limit = qb_exec_node_step(base, nth_node(g, "MatMul", 0))};
    add_pointwise(g, base, "Mul", vs, &n); /* the first SiLU's Mul */
    add_pointwise(g, base, "Add", vs, &n); /* the first Bottleneck's residual Add */
    vs[n++] = (struct variant){.what = "identical", .node = -1, .expect = EXPECT_ALL};
    CHECKF(n == 6 + (nth_node(g, "MatMul", 0) >= 0), "%s: %d variants", g->path, n);

    for (int i = 0; i < n; i++) {
        struct variant *v = &vs[i];
        memcpy(prec, prec16, (size_t)g->n_nodes * sizeof(*prec));
        if (v->node >= 0)
            prec[v->node] = QB_PREC_INT8;
        v->e = build(g, prec, amax, 1);
        v->cut = v->e ? qb_exec_first_diff(base, v->e) : -1;
        CHECK(!v->e || qb_exec_first_diff(v->e, base) == v->cut);
        if (v->expect == EXPECT_AT) {
            CHECKF(v->cut == qb_exec_node_step(base, v->node) && v->cut > 0, "%s: %s '%s': cut %d, step %d",
                   g->path, v->what, g->nodes[v->node].name, v->cut, qb_exec_node_step(base, v->node));
        } else if (v->expect == EXPECT_BEFORE) {
            CHECKF(v->cut > 0 && v->cut <= v->limit, "%s: %s '%s': cut %d, expected in (0, %d]", g->path, v->what,
                   g->nodes[v->node].name, v->cut, v->limit);
        } else {
            CHECKF(v->cut == n_steps, "%s: identical plans: cut %d of %d steps", g->path, v->cut, n_steps);
        }
    }

    /* one base run forward serves every cut */
    qsort(vs, (size_t)n, sizeof(vs[0]), by_cut);
    sim_fill_input(base);
    for (int i = 0; i < n; i++) {
        struct variant *v = &vs[i];
        struct outs full = {0};
        if (!v->e)
            continue;
        CHECKF(qb_exec_run_steps(base, done, v->cut, &err) == QB_OK, "%s", err.msg);
        done = v->cut;
        CHECKF(qb_exec_live_bytes(base, v->cut) > 0, "%s: nothing live at step %d", g->path, v->cut);
        CHECKF(reuse_matches(g, base, v->e, v->cut, &full), "%s: %s '%s': resumed at step %d of %d, outputs differ",
               g->path, v->what, v->node >= 0 ? g->nodes[v->node].name : "-", v->cut, n_steps);
        /* the flip changes the model's output, so the match above means something */
        CHECKF(v->node < 0 || !same_outs(full, base_out),
               "%s: %s: the INT8 variant gives the base's output", g->path, v->what);
        printf("ok   %s: %-11s %-40s cut %3d of %d (node step %3d), %7.1f kB live: reuse == full run\n", g->path,
               v->what, v->node >= 0 ? g->nodes[v->node].name : "-", v->cut, n_steps,
               v->node >= 0 ? qb_exec_node_step(base, v->node) : -1, (double)qb_exec_live_bytes(base, v->cut) / 1e3);
        free(full.data);
    }
    CHECK(qb_exec_run_steps(base, done, n_steps, &err) == QB_OK);
    {
        struct outs again = copy_outputs(g, base);
        CHECKF(same_outs(again, base_out), "%s: base run in pieces differs from its full run", g->path);
        free(again.data);
    }
    for (int i = 0; i < n; i++)
        qb_exec_free(vs[i].e);
    free(prec);
}

/* Random pairs: a random plan and the same with 1-3 nodes flipped (as a sweep
 * makes them) or, every fourth pair, another random plan. */
static void check_random(const struct qb_graph *g, const float *amax, int pairs)
{
    enum qb_prec *pa = malloc((size_t)g->n_nodes * sizeof(*pa)), *pb = malloc((size_t)g->n_nodes * sizeof(*pb));
    int *cand = malloc((size_t)g->n_order * sizeof(int)), n_cand = 0, ok = 0;

    for (int i = 0; i < g->n_order; i++)
        if (float_node(g, &g->nodes[g->order[i]]))
            cand[n_cand++] = g->order[i];
    for (int p = 0; p < pairs; p++) {
        struct qb_executor *a, *b;
        struct qb_error err = {0};
        unsigned density = rnd() % 60;
        int cut;
        for (int i = 0; i < g->n_nodes; i++)
            pa[i] = QB_PREC_FP16;
        for (int i = 0; i < n_cand; i++)
            pa[cand[i]] = rnd() % 100 < density ? QB_PREC_INT8 : QB_PREC_FP16;
        memcpy(pb, pa, (size_t)g->n_nodes * sizeof(*pb));
        if (p % 4 == 3) {
            for (int i = 0; i < n_cand; i++)
                pb[cand[i]] = rnd() % 100 < density ? QB_PREC_INT8 : QB_PREC_FP16;
        } else {
            for (int f = 0, nf = rint_in(1, 3); f < nf; f++) {
                int node = cand[rint_in(0, n_cand - 1)];
                pb[node] = pb[node] == QB_PREC_INT8 ? QB_PREC_FP16 : QB_PREC_INT8;
            }
        }
        a = build(g, pa, amax, 2);
        b = build(g, pb, amax, 1);
        if (a && b) {
            cut = qb_exec_first_diff(a, b);
            CHECK(cut >= 0 && cut <= qb_exec_n_steps(a));
            sim_fill_input(a);
            CHECKF(qb_exec_run_steps(a, 0, cut, &err) == QB_OK, "%s", err.msg);
            if (reuse_matches(g, a, b, cut, NULL))
                ok++;
            else
                CHECKF(0, "%s: random pair %d: resumed at step %d, outputs differ", g->path, p, cut);
            printf("     %s: random pair %d (%s, %u%% INT8): cut %d of %d\n", g->path, p,
                   p % 4 == 3 ? "independent" : "1-3 flips", density, cut, qb_exec_n_steps(a));
        }
        qb_exec_free(a);
        qb_exec_free(b);
    }
    printf("ok   %s: %d of %d random pairs: reuse == full run\n", g->path, ok, pairs);
    free(pa);
    free(pb);
    free(cand);
}

/* Steps, the node -> step map, the ends of the live set, qb_exec_value(), the
 * observer of a partial run, and executors that share nothing. */
static void check_interface(const char *path, const struct qb_graph *g, struct qb_executor *base)
{
    struct qb_graph *g2 = NULL;
    struct qb_executor *plain = NULL, *other = NULL, *seen_e = NULL;
    struct qb_error err = {0};
    int n = qb_exec_n_steps(base), n_plain, mono = 1;
    size_t in_bytes = 0, out_bytes = 0;
    bool *seen_v = calloc((size_t)g->n_values + 1, sizeof(bool));
    struct seen seen = {.value = seen_v};
    enum qb_prec *prec = malloc((size_t)g->n_nodes * sizeof(*prec));

    CHECKF(n == g->n_order, "%s: plan executor: %d steps for %d runtime nodes", path, n, g->n_order);
    for (int i = 0; i < g->n_order; i++)
        mono &= qb_exec_node_step(base, g->order[i]) == i;
    CHECKF(mono, "%s: node_step is not the execution order", path);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].folded)
            mono &= qb_exec_node_step(base, i) == -1;
    CHECKF(mono && qb_exec_node_step(base, -1) == -1 && qb_exec_node_step(base, g->n_nodes) == -1,
           "%s: folded or invalid nodes have a step", path);

    for (int i = 0; i < g->n_inputs; i++)
        in_bytes += tview_bytes(qb_exec_input(base, i));
    for (int i = 0; i < g->n_outputs; i++)
        out_bytes += tview_bytes(qb_exec_output(base, i));
    CHECKF(qb_exec_live_bytes(base, 0) == in_bytes, "%s: live at step 0: %zu bytes, inputs %zu", path,
           qb_exec_live_bytes(base, 0), in_bytes);
    CHECKF(qb_exec_live_bytes(base, n) == out_bytes, "%s: live at the end: %zu bytes, outputs %zu", path,
           qb_exec_live_bytes(base, n), out_bytes);
    CHECK(qb_exec_live_bytes(base, -1) == 0 && qb_exec_live_bytes(base, n + 1) == 0);
    CHECK(qb_exec_run_steps(base, 2, 1, &err) == QB_ERR_USAGE);
    CHECK(qb_exec_run_steps(base, 0, n + 1, &err) == QB_ERR_USAGE);

    /* an executor without a plan, or of another graph, shares nothing */
    if (qb_exec_new(g, &(struct qb_exec_opts){.n_threads = 1}, &plain, &err) == QB_OK) {
        n_plain = qb_exec_n_steps(plain);
        CHECKF(n_plain < n, "%s: no SiLU fused without a plan (%d steps)", path, n_plain);
        CHECK(qb_exec_first_diff(plain, base) == 0 && qb_exec_first_diff(base, plain) == 0 &&
              qb_exec_first_diff(plain, plain) == 0);
        mono = 0;
        for (int i = 0; i < g->n_order; i++)
            mono += qb_exec_node_step(plain, g->order[i]) < 0;
        CHECKF(mono == n - n_plain, "%s: %d nodes without a step, %d fused", path, mono, n - n_plain);
    }
    for (int i = 0; i < g->n_nodes; i++)
        prec[i] = QB_PREC_FP16;
    if (qb_onnx_load(path, &g2, &err) == QB_OK && qb_graph_prepare(g2, &err) == QB_OK &&
        qb_exec_new(g2, &(struct qb_exec_opts){.n_threads = 1, .prec = prec}, &other, &err) == QB_OK)
        CHECKF(qb_exec_first_diff(base, other) == 0, "%s: executors of two graphs share values", path);
    else
        CHECKF(0, "%s", err.msg);

    /* qb_exec_value after a partial run; the observer of partial runs */
    if (qb_exec_new(g, &(struct qb_exec_opts){.n_threads = 1, .prec = prec, .observe = observe_seen,
                                              .observe_user = &seen},
                    &seen_e, &err) == QB_OK) {
        int half = n / 2, y = g->nodes[g->order[half - 1]].out[0], calls;
        const struct qb_tview *t;
        float *want = NULL;
        sim_fill_input(seen_e);
        CHECK(qb_exec_run_steps(seen_e, 0, half, &err) == QB_OK);
        CHECK(seen.value[g->inputs[0]]);
        t = qb_exec_value(seen_e, y);
        CHECKF(t && t->data && seen.value[y], "%s: value of step %d", path, half - 1);
        if (t) {
            want = malloc(tview_bytes(t));
            memcpy(want, t->data, tview_bytes(t));
        }
        calls = seen.calls;
        memset(seen_v, 0, (size_t)g->n_values);
        CHECK(qb_exec_run_steps(seen_e, half, n, &err) == QB_OK);
        CHECKF(!seen.value[g->inputs[0]] && !seen.value[y] && seen.calls > calls,
               "%s: the observer of steps [%d, %d) saw the input or step %d", path, half, n, half - 1);
        sim_fill_input(base);
        CHECK(qb_exec_run_steps(base, 0, half, &err) == QB_OK);
        CHECKF(want && qb_exec_value(base, y) && memcmp(qb_exec_value(base, y)->data, want, tview_bytes(t)) == 0,
               "%s: qb_exec_value differs between two runs of the same plan", path);
        free(want);
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].flags & QB_VALUE_CONST)
            CHECKF(!qb_exec_value(base, v), "%s: constant '%s' has a value", path, g->values[v].name);
    CHECK(!qb_exec_value(base, -1) && !qb_exec_value(base, g->n_values));
    CHECK(qb_exec_value(base, g->outputs[0]) == qb_exec_output(base, 0));
    printf("ok   %s: %d steps (%d without a plan), live %zu bytes at step 0 (inputs), %zu at the end (outputs)\n", path,
           n, plain ? qb_exec_n_steps(plain) : -1, in_bytes, out_bytes);
    qb_exec_free(plain);
    qb_exec_free(other);
    qb_exec_free(seen_e);
    qb_graph_free(g2);
    free(seen_v);
    free(prec);
}

static void check_model(const char *path, int pairs)
{
    struct qb_graph *g = NULL;
    struct qb_executor *calib = NULL, *base = NULL;
    struct qb_error err = {0};
    enum qb_prec *prec16 = NULL;
    float *amax = NULL;
    struct outs base_out = {0};
    struct calib cal;

    if (qb_onnx_load(path, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        goto out;
    }
    amax = calloc((size_t)g->n_values, sizeof(float));
    prec16 = malloc((size_t)g->n_nodes * sizeof(*prec16));
    for (int i = 0; i < g->n_nodes; i++)
        prec16[i] = QB_PREC_FP16;
    cal.amax = amax;
    if (qb_exec_new(g, &(struct qb_exec_opts){.n_threads = 1, .observe = observe_amax, .observe_user = &cal}, &calib,
                    &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        goto out;
    }
    sim_fill_input(calib);
    CHECK(qb_exec_run(calib, &err) == QB_OK);
    if (!(base = build(g, prec16, amax, 2)))
        goto out;
    sim_fill_input(base);
    CHECK(qb_exec_run(base, &err) == QB_OK);
    base_out = copy_outputs(g, base);

    check_variants(g, base, prec16, amax, base_out);
    check_interface(path, g, base);
    check_random(g, amax, pairs);
out:
    free(base_out.data);
    qb_exec_free(calib);
    qb_exec_free(base);
    free(prec16);
    free(amax);
    qb_graph_free(g);
}

int main(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char path[4096];
    qb_log_set_level(QB_LOG_ERROR);
    for (size_t i = 0; i < sizeof(sim_models) / sizeof(sim_models[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", src ? src : ".", sim_models[i]);
        check_model(path, i == 2 ? 6 : 7); /* 20 random pairs in all */
    }
    return test_summary("test_exec_reuse");
}
