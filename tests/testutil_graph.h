/* One-node graphs for testing an op against plain reference code (header only;
 * see testutil.h). A test describes the node's inputs, builds and prepares the
 * graph (attribute checks, shape inference, constant folding), runs the op's
 * kernel on fresh buffers followed by canary bytes, with a two-thread pool, and
 * compares the outputs:
 *
 *     struct tin in[2] = {fin(2, shape, x), i64s(1, axes)};   // a float input, an int64 constant
 *     struct qb_attr at[1] = {attr_i("keepdims", 0)};
 *     struct tcase tc;
 *     if (build_run(&tc, 13, "ReduceSum", 2, in, 1, at, 1, 1, out_shape))
 *         expect_f32("ReduceSum", tc.buf[0], want, n, 1e-6, 0);
 *     done(&tc);
 *
 * main() sets `pool` (qb_pool_new(2)) before the first run.
 *
 * Tests that add attributes one by one describe a struct tnode instead:
 *
 *     struct tnode t = {.op = "Conv", .opset = 17, .n_in = 2, .n_out = 1};
 *     t.in[0] = (struct tin){.ndim = 4, .shape = {1, 2, 5, 5}, .data = x};
 *     attr_ints(&t, "strides", 2, (const int64_t[]){2, 2});
 *     check(tn_build(&t, &g, &err) == QB_OK, "prepares");
 *     run_and_compare(g, &t, pool2, pool2, want, mag, n, "Conv");
 */
#ifndef QB_TESTUTIL_GRAPH_H
#define QB_TESTUTIL_GRAPH_H

#include <assert.h>
#include <math.h>

#include "core/graph.h"
#include "core/op.h"
#include "core/ops/sgemm.h"
#include "core/threadpool.h"
#include "testutil.h"

#define GUARD 64
#define CANARY 0xA5

static struct qb_pool *pool;

static inline int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* graph building ------------------------------------------------------------------ */

/* An input of the node under test. Runtime inputs must be float (as graph inputs
 * are); everything else is a constant. data may be NULL for an omitted input. */
struct tin {
    enum qb_dtype dt;
    int ndim;
    int64_t shape[QB_MAX_DIMS];
    const void *data;
    bool is_const;
    bool omitted;
};

struct tcase {
    struct qb_graph *g;
    struct qb_node *n;
    const struct tin *in;
    struct qb_tview out[8];
    void *buf[8];
    size_t bytes[8];
    enum qb_status prep;
    struct qb_error err;
};

static inline struct tin fin(int ndim, const int64_t *shape, const float *data)
{
    struct tin t = {.dt = QB_DTYPE_F32, .ndim = ndim, .data = data};
    memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return t;
}

static inline struct tin cin(enum qb_dtype dt, int ndim, const int64_t *shape, const void *data)
{
    struct tin t = {.dt = dt, .ndim = ndim, .data = data, .is_const = true};
    if (ndim)
        memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return t;
}

static inline struct tin i64s(int n, const int64_t *v)
{
    int64_t s[1] = {n};
    return cin(QB_DTYPE_I64, 1, s, v);
}

static const struct tin omitted = {.omitted = true};

/* Builds and prepares; tc->prep holds prepare's status. */
static inline void build(struct tcase *tc, int64_t opset, const char *op, int n_in, const struct tin *in,
                         int n_out, const struct qb_attr *attrs, int n_attr)
{
    struct qb_graph *g;
    struct qb_node *n;
    int ins = 0;

    memset(tc, 0, sizeof(*tc));
    assert(qb_graph_new("test.onnx", &g, NULL) == QB_OK);
    g->opset = opset;
    g->nodes = qb_arena_calloc(g->arena, 1, sizeof(struct qb_node));
    g->inputs = qb_arena_calloc(g->arena, 16, sizeof(int));
    g->outputs = qb_arena_calloc(g->arena, 8, sizeof(int));
    n = &g->nodes[0];
    g->n_nodes = 1;
    n->name = "n0";
    n->op_type = op;
    n->domain = "";
    n->n_in = n_in;
    n->n_out = n_out;
    n->in = qb_arena_calloc(g->arena, (size_t)n_in + 1, sizeof(int));
    n->out = qb_arena_calloc(g->arena, (size_t)n_out + 1, sizeof(int));
    n->n_attr = n_attr;
    n->attrs = qb_arena_calloc(g->arena, (size_t)n_attr + 1, sizeof(struct qb_attr));
    if (n_attr)
        memcpy(n->attrs, attrs, sizeof(struct qb_attr) * (size_t)n_attr);
    for (int k = 0; k < n_in; k++) {
        char name[16];
        struct qb_value *v;
        int vi;
        if (in[k].omitted) {
            n->in[k] = -1;
            continue;
        }
        snprintf(name, sizeof(name), "x%d", k);
        vi = qb_graph_intern_value(g, name);
        v = &g->values[vi];
        v->dtype = in[k].dt;
        v->ndim = in[k].ndim;
        memcpy(v->shape, in[k].shape, sizeof(int64_t) * (size_t)in[k].ndim);
        if (in[k].is_const) {
            size_t b = (size_t)numel_of(in[k].ndim, in[k].shape) * qb_dtype_size(in[k].dt);
            v->data = qb_arena_alloc(g->arena, b ? b : 1);
            if (b)
                memcpy(v->data, in[k].data, b);
            v->flags = QB_VALUE_CONST | QB_VALUE_INIT;
        } else {
            v->flags = QB_VALUE_INPUT;
            g->inputs[ins++] = vi;
        }
        n->in[k] = vi;
    }
    g->n_inputs = ins;
    for (int k = 0; k < n_out; k++) {
        char name[16];
        int vi;
        snprintf(name, sizeof(name), "y%d", k);
        vi = qb_graph_intern_value(g, name);
        g->values[vi].producer = 0;
        g->values[vi].flags = QB_VALUE_OUTPUT;
        n->out[k] = vi;
        g->outputs[k] = vi;
    }
    g->n_outputs = n_out;
    tc->g = g;
    tc->n = n;
    tc->in = in;
    tc->prep = qb_graph_prepare(g, &tc->err);
}

/* Runs the kernel on fresh output buffers (pre-filled with 0xFF, then GUARD canary
 * bytes). Returns the run status; checks the canaries. */
static inline enum qb_status run(struct tcase *tc)
{
    struct qb_tview in[16];
    struct qb_kctx ctx = {.pool = pool, .graph = tc->g};
    const struct qb_node *n = tc->n;
    void *state = NULL;
    size_t scratch = 0;
    enum qb_status st;

    assert(tc->prep == QB_OK);
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *v = qb_node_in(tc->g, n, k);
        memset(&in[k], 0, sizeof(in[k]));
        if (!v)
            continue;
        in[k].dtype = v->dtype;
        in[k].ndim = v->ndim;
        memcpy(in[k].shape, v->shape, sizeof(v->shape));
        in[k].data = (v->flags & QB_VALUE_CONST) ? v->data : (void *)tc->in[k].data;
    }
    for (int k = 0; k < n->n_out; k++) {
        const struct qb_value *v = qb_node_out(tc->g, n, k);
        tc->bytes[k] = (size_t)qb_value_numel(v) * qb_dtype_size(v->dtype);
        tc->buf[k] = (char *)malloc(tc->bytes[k] + 2 * GUARD) + GUARD;
        memset((char *)tc->buf[k] - GUARD, CANARY, GUARD);
        memset(tc->buf[k], 0xFF, tc->bytes[k]);
        memset((char *)tc->buf[k] + tc->bytes[k], CANARY, GUARD);
        tc->out[k].dtype = v->dtype;
        tc->out[k].ndim = v->ndim;
        memcpy(tc->out[k].shape, v->shape, sizeof(v->shape));
        tc->out[k].data = tc->buf[k];
    }
    if (n->def->prepare)
        assert(n->def->prepare(tc->g, n, &state, &scratch, NULL) == QB_OK);
    ctx.state = state;
    ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) & ~(size_t)63) : NULL;
    ctx.scratch_size = scratch;
    if (n->def->run) {
        st = n->def->run(n, in, tc->out, &ctx);
    } else {
        /* ops that produce their output at infer time (Shape, Constant ...) */
        for (int k = 0; k < n->n_out; k++)
            memcpy(tc->buf[k], qb_node_out(tc->g, n, k)->data, tc->bytes[k]);
        st = QB_OK;
    }
    if (n->def->release)
        n->def->release(state);
    free(ctx.scratch);
    for (int k = 0; k < n->n_out; k++) {
        const unsigned char *gd = (const unsigned char *)tc->buf[k] + tc->bytes[k];
        const unsigned char *gf = (const unsigned char *)tc->buf[k] - GUARD;
        bool ok = true;
        for (int i = 0; i < GUARD; i++)
            ok = ok && gd[i] == CANARY && gf[i] == CANARY;
        CHECKF(ok, "%s: output %d wrote outside its buffer", n->op_type, k);
    }
    return st;
}

static inline void done(struct tcase *tc)
{
    for (int k = 0; k < 8; k++)
        if (tc->buf[k])
            free((char *)tc->buf[k] - GUARD);
    qb_graph_free(tc->g);
    memset(tc, 0, sizeof(*tc));
}

/* Builds, checks the output shape, runs. Returns false (after reporting) on failure. */
static inline bool build_run(struct tcase *tc, int64_t opset, const char *op, int n_in, const struct tin *in,
                             int n_out, const struct qb_attr *attrs, int n_attr, int want_ndim,
                             const int64_t *want_shape)
{
    const struct qb_value *y;
    bool same;

    build(tc, opset, op, n_in, in, n_out, attrs, n_attr);
    if (tc->prep != QB_OK) {
        CHECKF(0, "%s (opset %lld): prepare failed: %s", op, (long long)opset, tc->err.msg);
        return false;
    }
    y = qb_node_out(tc->g, tc->n, 0);
    same = y->ndim == want_ndim;
    for (int i = 0; same && i < want_ndim; i++)
        same = y->shape[i] == want_shape[i];
    CHECKF(same, "%s (opset %lld): output rank %d, shape[0] %lld, expected rank %d", op, (long long)opset, y->ndim,
           (long long)(y->ndim > 0 ? y->shape[0] : -1), want_ndim);
    if (!same)
        return false;
    CHECKF(run(tc) == QB_OK, "%s: run failed", op);
    return true;
}

static inline bool close_f(double got, double want, double rtol, double atol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* compares float outputs, reporting the first mismatch */
static inline void expect_f32(const char *what, const float *got, const double *want, int64_t n, double rtol,
                              double atol)
{
    for (int64_t i = 0; i < n; i++)
        if (!close_f(got[i], want[i], rtol, atol)) {
            CHECKF(0, "%s: element %lld is %.9g, expected %.9g", what, (long long)i, got[i], want[i]);
            return;
        }
    CHECKF(1, "%s", what);
}

static inline void expect_bytes(const char *what, const void *got, const void *want, size_t bytes)
{
    const unsigned char *a = got, *b = want;
    for (size_t i = 0; i < bytes; i++)
        if (a[i] != b[i]) {
            CHECKF(0, "%s: byte %zu is %d, expected %d", what, i, a[i], b[i]);
            return;
        }
    CHECKF(1, "%s", what);
}

static inline void expect_refused(const char *what, struct tcase *tc)
{
    CHECKF(tc->prep == QB_ERR_UNSUPPORTED, "%s: prepare gave %d (%s), expected QB_ERR_UNSUPPORTED", what, tc->prep,
           tc->err.msg);
    CHECKF(tc->prep != QB_ERR_UNSUPPORTED || strstr(tc->err.msg, "node 'n0'"),
           "%s: message does not name the node: %s", what, tc->err.msg);
    done(tc);
}

/* attribute helpers */
static inline struct qb_attr attr_i(const char *name, int64_t v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_INT, .u.i = v};
}
static inline struct qb_attr attr_f(const char *name, float v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_FLOAT, .u.f = v};
}
static inline struct qb_attr attr_s(const char *name, const char *v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_STRING, .u.s = v};
}
static inline struct qb_attr attr_is(const char *name, int n, int64_t *v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_INTS, .n = n, .u.is = v};
}
static inline struct qb_attr attr_fs(const char *name, int n, float *v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_FLOATS, .n = n, .u.fs = v};
}

/* naive broadcasting: offset into an input of shape (ndim, shape) for output index */
static inline int64_t bc_offset(int64_t lin, int ondim, const int64_t *oshape, int ndim, const int64_t *shape)
{
    int64_t off = 0, stride = 1;
    for (int d = ondim - 1; d >= 0; d--) {
        int64_t i = lin % oshape[d];
        int j = d - (ondim - ndim);
        lin /= oshape[d];
        if (j >= 0) {
            if (shape[j] != 1)
                off += i * stride;
            stride *= shape[j];
        }
    }
    return off;
}

static inline float *rand_buf(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i] = frand(lo, hi);
    return p;
}

/* Nodes built up field by field (the conv, pool and gemm tests) -------------------- */

#define TN_MAX_IN 5
#define TN_MAX_ATTR 12

/* in[k]: dt UNDEFINED means float, ndim < 0 an omitted input; inputs that are
 * not float become constants. n_out 0 means 1. */
struct tnode {
    const char *op;
    int opset, n_in, n_out;
    struct tin in[TN_MAX_IN];
    struct qb_attr attrs[TN_MAX_ATTR];
    int64_t ints[TN_MAX_ATTR][8];
    int n_attr;
};

static inline void attr_ints(struct tnode *t, const char *name, int n, const int64_t *v)
{
    assert(t->n_attr < TN_MAX_ATTR && n <= 8);
    memcpy(t->ints[t->n_attr], v, (size_t)n * sizeof(int64_t));
    t->attrs[t->n_attr] = attr_is(name, n, t->ints[t->n_attr]);
    t->n_attr++;
}
static inline void attr_int(struct tnode *t, const char *name, int64_t v)
{
    assert(t->n_attr < TN_MAX_ATTR);
    t->attrs[t->n_attr++] = attr_i(name, v);
}
static inline void attr_float(struct tnode *t, const char *name, float v)
{
    assert(t->n_attr < TN_MAX_ATTR);
    t->attrs[t->n_attr++] = attr_f(name, v);
}
static inline void attr_str(struct tnode *t, const char *name, const char *v)
{
    assert(t->n_attr < TN_MAX_ATTR);
    t->attrs[t->n_attr++] = attr_s(name, v);
}

/* Builds and prepares; *out gets the graph even on failure (qb_graph_free it).
 * Returns the status of qb_graph_prepare(). */
static inline enum qb_status tn_build(struct tnode *t, struct qb_graph **out, struct qb_error *err)
{
    struct tcase tc;

    for (int k = 0; k < t->n_in; k++) {
        struct tin *in = &t->in[k];
        if (in->ndim < 0)
            in->omitted = true;
        if (in->dt == QB_DTYPE_UNDEFINED)
            in->dt = QB_DTYPE_F32;
        if (in->dt != QB_DTYPE_F32)
            in->is_const = true;
    }
    build(&tc, t->opset, t->op, t->n_in, t->in, t->n_out ? t->n_out : 1, t->attrs, t->n_attr);
    *out = tc.g;
    if (err)
        *err = tc.err;
    return tc.prep;
}

/* Runs the prepared node of tn_build() with thread pool p (NULL: none); outs[k]
 * gets a malloc'd copy of output k. Checks the run status and the canaries. A
 * node folded at prepare time is not run: outs get its folded values. */
static inline void tn_run(struct qb_graph *g, const struct tnode *t, struct qb_pool *p, void **outs)
{
    struct qb_pool *saved = pool;
    struct tcase tc = {.g = g, .n = &g->nodes[0], .in = t->in, .prep = QB_OK};

    if (tc.n->folded) {
        for (int k = 0; k < tc.n->n_out; k++) {
            const struct qb_value *v = qb_node_out(g, tc.n, k);
            size_t bytes = (size_t)qb_value_numel(v) * qb_dtype_size(v->dtype);
            outs[k] = malloc(bytes + 4);
            memcpy(outs[k], v->data, bytes);
        }
        return;
    }
    pool = p;
    check(run(&tc) == QB_OK, "run returns QB_OK");
    pool = saved;
    for (int k = 0; k < tc.n->n_out; k++) {
        outs[k] = malloc(tc.bytes[k] + 4);
        memcpy(outs[k], tc.buf[k], tc.bytes[k]);
        free((char *)tc.buf[k] - GUARD);
    }
}

/* Compares against a double reference; the tolerance scales with mag[i] (the
 * sum of |terms|), or |want[i]| where mag is NULL. */
static inline bool close_mag(const float *got, const double *want, const double *mag, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-5 * (mag ? mag[i] : fabs(want[i])) + 1e-6;
        if (!isfinite(got[i]) || fabs(got[i] - want[i]) > tol) {
            fprintf(stderr, "%s: element %lld is %.9g, expected %.9g (tol %.3g)\n", what, (long long)i, got[i],
                    want[i], tol);
            return false;
        }
    }
    return true;
}

/* Runs one prepared case three ways (no pool; pool2; the portable sgemm kernel
 * with generic_pool), checks the first output against want/mag and that the
 * threads change no bit. */
static inline void run_and_compare(struct qb_graph *g, const struct tnode *t, struct qb_pool *pool2,
                                   struct qb_pool *generic_pool, const double *want, const double *mag, int64_t n,
                                   const char *what)
{
    void *a[2] = {0}, *b[2] = {0}, *c[2] = {0};
    tn_run(g, t, NULL, a);
    tn_run(g, t, pool2, b);
    qb_sgemm_force_generic(true);
    tn_run(g, t, generic_pool, c);
    qb_sgemm_force_generic(false);
    check(close_mag(a[0], want, mag, n, what), what);
    check(close_mag(c[0], want, mag, n, what), "portable kernel matches the reference");
    check(memcmp(a[0], b[0], (size_t)n * sizeof(float)) == 0, "2 threads give bitwise the same result");
    for (int k = 0; k < 2; k++) {
        free(a[k]);
        free(b[k]);
        free(c[k]);
    }
}

/* prepare must fail with status want and a message containing needle */
static inline void expect_refusal(struct tnode *t, enum qb_status want, const char *needle, const char *what)
{
    struct qb_graph *g;
    struct qb_error err = {0};
    enum qb_status st = tn_build(t, &g, &err);
    if (st != want || !strstr(err.msg, needle))
        fprintf(stderr, "%s: got %s: %s\n", what, qb_status_str(st), err.msg);
    check(st == want && strstr(err.msg, needle) != NULL, what);
    qb_graph_free(g);
}

/* n values of rfloat() (testutil.h) */
static inline float *rand_unit(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    assert(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = rfloat();
    return p;
}

/* n floats between two canary regions of GUARD floats (guarded_ok checks them) */
static inline float *guarded_f32(int64_t n)
{
    float *p = malloc((size_t)(n + 2 * GUARD) * sizeof(float));
    assert(p);
    memset(p, CANARY, (size_t)(n + 2 * GUARD) * sizeof(float));
    return p + GUARD;
}
static inline bool guarded_ok(const float *p, int64_t n)
{
    const unsigned char *a = (const unsigned char *)(p - GUARD), *b = (const unsigned char *)(p + n);
    for (size_t i = 0; i < GUARD * sizeof(float); i++)
        if (a[i] != CANARY || b[i] != CANARY)
            return false;
    return true;
}
static inline void guarded_free(float *p)
{
    free(p - GUARD);
}

#endif
