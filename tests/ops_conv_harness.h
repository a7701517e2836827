/* The one-node-graph harness of the Conv/ConvTranspose/BatchNormalization and
 * pool tests (test_ops_conv.c, test_ops_pool.c): a seeded random generator,
 * check() counters, building and preparing a graph of one node, running it with
 * guard regions around every output, and comparing against a double reference.
 *
 *     struct tnode t = {.op = "Conv", .opset = 17, .n_in = 2, .n_out = 1};
 *     t.in[0] = (struct tin){.ndim = 4, .shape = {1, 2, 5, 5}, .data = x};
 *     attr_ints(&t, "strides", 2, (const int64_t[]){2, 2});
 *     check(build(&t, &g, &err) == QB_OK, "prepares");
 *     run_and_compare(g, &t, pool2, want, mag, n, "Conv");
 *
 * Functions are static inline: each test uses a different subset.
 */
#ifndef QB_TESTS_OPS_CONV_HARNESS_H
#define QB_TESTS_OPS_CONV_HARNESS_H

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "core/op.h"
#include "core/ops/sgemm.h"

#define GUARD 64
#define GUARD_VAL 12345.678f
#define MAX_IN 5
#define MAX_ATTR 12

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static int n_checks, n_failed;

static inline unsigned rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng_state >> 33);
}
static inline int rint_in(int lo, int hi) { return lo + (int)(rnd() % (unsigned)(hi - lo + 1)); }
static inline float rfloat(void) { return (float)(rnd() % 20001) / 10000.0f - 1.0f; }

static inline void check(int ok, const char *what)
{
    n_checks++;
    if (!ok) {
        n_failed++;
        fprintf(stderr, "FAIL: %s\n", what);
    }
}

/* One-node graphs ------------------------------------------------------------ */

struct tin {
    int ndim;          /* -1: omitted optional input */
    int64_t shape[QB_MAX_DIMS];
    const float *data; /* its values (runtime inputs are fed these too) */
    bool is_const;
};

struct tnode {
    const char *op;
    int opset, n_in, n_out;
    struct tin in[MAX_IN];
    struct qb_attr attrs[MAX_ATTR];
    int64_t ints[MAX_ATTR][8];
    int n_attr;
};

static inline void attr_ints(struct tnode *t, const char *name, int n, const int64_t *v)
{
    struct qb_attr *a = &t->attrs[t->n_attr];
    memcpy(t->ints[t->n_attr], v, (size_t)n * sizeof(int64_t));
    a->name = name;
    a->type = QB_ATTR_INTS;
    a->n = n;
    a->u.is = t->ints[t->n_attr++];
}
static inline void attr_int(struct tnode *t, const char *name, int64_t v)
{
    struct qb_attr *a = &t->attrs[t->n_attr++];
    a->name = name;
    a->type = QB_ATTR_INT;
    a->u.i = v;
}
static inline void attr_float(struct tnode *t, const char *name, float v)
{
    struct qb_attr *a = &t->attrs[t->n_attr++];
    a->name = name;
    a->type = QB_ATTR_FLOAT;
    a->u.f = v;
}
static inline void attr_str(struct tnode *t, const char *name, const char *v)
{
    struct qb_attr *a = &t->attrs[t->n_attr++];
    a->name = name;
    a->type = QB_ATTR_STRING;
    a->u.s = v;
}

static inline int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* Builds and prepares the graph; returns the status of qb_graph_prepare(). */
static inline enum qb_status build(const struct tnode *t, struct qb_graph **out, struct qb_error *err)
{
    struct qb_graph *g;
    struct qb_node *n;
    enum qb_status st = qb_graph_new("test", &g, err);

    assert(st == QB_OK);
    g->opset = t->opset;
    g->nodes = qb_arena_calloc(g->arena, 1, sizeof(*n));
    g->inputs = qb_arena_calloc(g->arena, MAX_IN, sizeof(int));
    g->outputs = qb_arena_calloc(g->arena, 2, sizeof(int));
    n = &g->nodes[0];
    g->n_nodes = 1;
    n->name = "n0";
    n->op_type = t->op;
    n->domain = "";
    n->n_in = t->n_in;
    n->n_out = t->n_out;
    n->in = qb_arena_calloc(g->arena, MAX_IN, sizeof(int));
    n->out = qb_arena_calloc(g->arena, 2, sizeof(int));
    for (int i = 0; i < t->n_in; i++) {
        char name[16];
        struct qb_value *v;
        if (t->in[i].ndim < 0) {
            n->in[i] = -1;
            continue;
        }
        snprintf(name, sizeof(name), "in%d", i);
        n->in[i] = qb_graph_intern_value(g, name);
        v = &g->values[n->in[i]];
        v->dtype = QB_DTYPE_F32;
        v->ndim = t->in[i].ndim;
        memcpy(v->shape, t->in[i].shape, sizeof(v->shape));
        if (t->in[i].is_const) {
            size_t bytes = (size_t)numel(v->ndim, v->shape) * sizeof(float);
            v->data = qb_arena_alloc(g->arena, bytes ? bytes : 1);
            memcpy(v->data, t->in[i].data, bytes);
            v->flags = QB_VALUE_CONST | QB_VALUE_INIT;
        } else {
            v->flags = QB_VALUE_INPUT;
            g->inputs[g->n_inputs++] = n->in[i];
        }
    }
    for (int i = 0; i < t->n_out; i++) {
        char name[16];
        snprintf(name, sizeof(name), "out%d", i);
        n->out[i] = qb_graph_intern_value(g, name);
        g->values[n->out[i]].producer = 0;
        g->values[n->out[i]].flags = QB_VALUE_OUTPUT;
        g->outputs[g->n_outputs++] = n->out[i];
    }
    n->n_attr = t->n_attr;
    n->attrs = qb_arena_calloc(g->arena, MAX_ATTR, sizeof(struct qb_attr));
    memcpy(n->attrs, t->attrs, sizeof(t->attrs));
    *out = g;
    return qb_graph_prepare(g, err);
}

/* Runs the prepared node; out[k] gets a malloc'd copy of output k. Checks the
 * guard regions around every output. */
static inline void run_node(struct qb_graph *g, const struct tnode *t, struct qb_pool *pool, void **outs)
{
    struct qb_node *n = &g->nodes[0];
    struct qb_tview in[MAX_IN], out[2];
    float *buf[2] = {NULL, NULL};
    void *state = NULL, *scratch = NULL;
    size_t scratch_size = 0;
    struct qb_error err = {0};
    struct qb_kctx ctx = {.pool = pool, .graph = g};
    enum qb_status st;

    if (n->def->prepare) {
        st = n->def->prepare(g, n, &state, &scratch_size, &err);
        assert(st == QB_OK);
    }
    if (scratch_size) {
        scratch = aligned_alloc(64, (scratch_size + 63) & ~(size_t)63);
        assert(scratch);
    }
    ctx.state = state;
    ctx.scratch = scratch;
    ctx.scratch_size = scratch_size;
    for (int i = 0; i < n->n_in; i++) {
        const struct qb_value *v = qb_node_in(g, n, i);
        memset(&in[i], 0, sizeof(in[i]));
        if (!v)
            continue;
        in[i].dtype = v->dtype;
        in[i].ndim = v->ndim;
        memcpy(in[i].shape, v->shape, sizeof(v->shape));
        in[i].data = (void *)t->in[i].data;
    }
    for (int k = 0; k < n->n_out; k++) {
        const struct qb_value *v = qb_node_out(g, n, k);
        size_t es = qb_dtype_size(v->dtype), ne = (size_t)qb_value_numel(v);
        size_t words = (ne * es + 3) / 4;
        buf[k] = malloc((words + 2 * GUARD) * sizeof(float));
        assert(buf[k]);
        for (size_t i = 0; i < words + 2 * GUARD; i++)
            buf[k][i] = GUARD_VAL;
        out[k].dtype = v->dtype;
        out[k].ndim = v->ndim;
        memcpy(out[k].shape, v->shape, sizeof(v->shape));
        out[k].data = buf[k] + GUARD;
    }
    st = n->def->run(n, in, out, &ctx);
    check(st == QB_OK, "run returns QB_OK");
    for (int k = 0; k < n->n_out; k++) {
        const struct qb_value *v = qb_node_out(g, n, k);
        size_t ne = (size_t)qb_value_numel(v), words = (ne * qb_dtype_size(v->dtype) + 3) / 4;
        int guards_ok = 1;
        for (size_t i = 0; i < GUARD; i++)
            if (buf[k][i] != GUARD_VAL || buf[k][GUARD + words + i] != GUARD_VAL)
                guards_ok = 0;
        check(guards_ok, "guard regions around the output are untouched");
        outs[k] = malloc(words * 4 + 4);
        memcpy(outs[k], buf[k] + GUARD, words * 4);
        free(buf[k]);
    }
    if (n->def->release)
        n->def->release(state);
    free(scratch);
}

/* Compares against a double reference; tol scales with the sum of |terms|. */
static inline int close_enough(const float *got, const double *want, const double *mag, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-5 * (mag ? mag[i] : fabs(want[i])) + 1e-6;
        if (!isfinite(got[i]) || fabs(got[i] - want[i]) > tol) {
            fprintf(stderr, "%s: element %lld is %.9g, expected %.9g (tol %.3g)\n", what, (long long)i, got[i],
                    want[i], tol);
            return 0;
        }
    }
    return 1;
}

static inline float *rand_buf(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    assert(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = rfloat();
    return p;
}

/* Runs one prepared case three ways (no pool, 2 threads, portable kernel), checks
 * the first output against want/mag and that threads change nothing. */
static inline void run_and_compare(struct qb_graph *g, const struct tnode *t, struct qb_pool *pool2,
                                   const double *want, const double *mag, int64_t n, const char *what)
{
    void *a[2] = {0}, *b[2] = {0}, *c[2] = {0};
    run_node(g, t, NULL, a);
    run_node(g, t, pool2, b);
    qb_sgemm_force_generic(true);
    run_node(g, t, pool2, c);
    qb_sgemm_force_generic(false);
    check(close_enough(a[0], want, mag, n, what), what);
    check(close_enough(c[0], want, mag, n, what), "portable kernel matches the reference");
    check(memcmp(a[0], b[0], (size_t)n * sizeof(float)) == 0, "2 threads give bitwise the same result");
    for (int k = 0; k < 2; k++) {
        free(a[k]);
        free(b[k]);
        free(c[k]);
    }
}

static inline void expect_refusal(struct tnode *t, enum qb_status want, const char *needle, const char *what)
{
    struct qb_graph *g;
    struct qb_error err = {0};
    enum qb_status st = build(t, &g, &err);
    if (st != want || !strstr(err.msg, needle))
        fprintf(stderr, "%s: got %s: %s\n", what, qb_status_str(st), err.msg);
    check(st == want && strstr(err.msg, needle) != NULL, what);
    qb_graph_free(g);
}

#endif
