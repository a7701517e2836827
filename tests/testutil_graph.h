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
 */
#ifndef QB_TESTUTIL_GRAPH_H
#define QB_TESTUTIL_GRAPH_H

#include <assert.h>
#include <math.h>

#include "core/graph.h"
#include "core/op.h"
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
        tc->buf[k] = malloc(tc->bytes[k] + GUARD);
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
        bool ok = true;
        for (int i = 0; i < GUARD; i++)
            ok = ok && gd[i] == CANARY;
        CHECKF(ok, "%s: output %d wrote past its end", n->op_type, k);
    }
    return st;
}

static inline void done(struct tcase *tc)
{
    for (int k = 0; k < 8; k++)
        free(tc->buf[k]);
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


#endif
