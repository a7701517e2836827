/* Element-wise, shape, reduction and resize ops against plain reference code.
 *
 * Each case builds a one-node graph by hand, prepares it (attribute checks, shape
 * inference) and runs the op's kernel on buffers followed by canary bytes, with a
 * two-thread pool, then compares every element with a naive reference written here
 * independently (random inputs from a fixed seed, NaN checks, broadcasting, negative
 * axes, opset variants). Refusals are checked too: infer must answer
 * QB_ERR_UNSUPPORTED for what the kernels do not implement.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "core/ops/act.h"
#include "core/op.h"
#include "core/threadpool.h"

#define GUARD 64
#define CANARY 0xA5

static int n_pass, n_fail;
static struct qb_pool *pool;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            n_pass++;                                                                              \
        } else {                                                                                   \
            n_fail++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rnd() & 0xFFFFFF) / (float)0x1000000;
}

static int64_t numel_of(int ndim, const int64_t *shape)
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

static struct tin fin(int ndim, const int64_t *shape, const float *data)
{
    struct tin t = {.dt = QB_DTYPE_F32, .ndim = ndim, .data = data};
    memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return t;
}

static struct tin cin(enum qb_dtype dt, int ndim, const int64_t *shape, const void *data)
{
    struct tin t = {.dt = dt, .ndim = ndim, .data = data, .is_const = true};
    if (ndim)
        memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return t;
}

static struct tin i64s(int n, const int64_t *v)
{
    int64_t s[1] = {n};
    return cin(QB_DTYPE_I64, 1, s, v);
}

static const struct tin omitted = {.omitted = true};

/* Builds and prepares; tc->prep holds prepare's status. */
static void build(struct tcase *tc, int64_t opset, const char *op, int n_in, const struct tin *in, int n_out,
                  const struct qb_attr *attrs, int n_attr)
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
static enum qb_status run(struct tcase *tc)
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
        CHECK(ok, "%s: output %d wrote past its end", n->op_type, k);
    }
    return st;
}

static void done(struct tcase *tc)
{
    for (int k = 0; k < 8; k++)
        free(tc->buf[k]);
    qb_graph_free(tc->g);
    memset(tc, 0, sizeof(*tc));
}

/* Builds, checks the output shape, runs. Returns false (after reporting) on failure. */
static bool build_run(struct tcase *tc, int64_t opset, const char *op, int n_in, const struct tin *in, int n_out,
                      const struct qb_attr *attrs, int n_attr, int want_ndim, const int64_t *want_shape)
{
    const struct qb_value *y;
    bool same;

    build(tc, opset, op, n_in, in, n_out, attrs, n_attr);
    if (tc->prep != QB_OK) {
        CHECK(0, "%s (opset %lld): prepare failed: %s", op, (long long)opset, tc->err.msg);
        return false;
    }
    y = qb_node_out(tc->g, tc->n, 0);
    same = y->ndim == want_ndim;
    for (int i = 0; same && i < want_ndim; i++)
        same = y->shape[i] == want_shape[i];
    CHECK(same, "%s (opset %lld): output rank %d, shape[0] %lld, expected rank %d", op, (long long)opset, y->ndim,
          (long long)(y->ndim > 0 ? y->shape[0] : -1), want_ndim);
    if (!same)
        return false;
    CHECK(run(tc) == QB_OK, "%s: run failed", op);
    return true;
}

static bool close_f(double got, double want, double rtol, double atol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* compares float outputs, reporting the first mismatch */
static void expect_f32(const char *what, const float *got, const double *want, int64_t n, double rtol, double atol)
{
    for (int64_t i = 0; i < n; i++)
        if (!close_f(got[i], want[i], rtol, atol)) {
            CHECK(0, "%s: element %lld is %.9g, expected %.9g", what, (long long)i, got[i], want[i]);
            return;
        }
    CHECK(1, "%s", what);
}

static void expect_bytes(const char *what, const void *got, const void *want, size_t bytes)
{
    const unsigned char *a = got, *b = want;
    for (size_t i = 0; i < bytes; i++)
        if (a[i] != b[i]) {
            CHECK(0, "%s: byte %zu is %d, expected %d", what, i, a[i], b[i]);
            return;
        }
    CHECK(1, "%s", what);
}

static void expect_refused(const char *what, struct tcase *tc)
{
    CHECK(tc->prep == QB_ERR_UNSUPPORTED, "%s: prepare gave %d (%s), expected QB_ERR_UNSUPPORTED", what, tc->prep,
          tc->err.msg);
    CHECK(tc->prep != QB_ERR_UNSUPPORTED || strstr(tc->err.msg, "node 'n0'"), "%s: message does not name the node: %s",
          what, tc->err.msg);
    done(tc);
}

/* attribute helpers */
static struct qb_attr attr_i(const char *name, int64_t v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_INT, .u.i = v};
}
static struct qb_attr attr_f(const char *name, float v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_FLOAT, .u.f = v};
}
static struct qb_attr attr_s(const char *name, const char *v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_STRING, .u.s = v};
}
static struct qb_attr attr_is(const char *name, int n, int64_t *v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_INTS, .n = n, .u.is = v};
}
static struct qb_attr attr_fs(const char *name, int n, float *v)
{
    return (struct qb_attr){.name = name, .type = QB_ATTR_FLOATS, .n = n, .u.fs = v};
}

/* naive broadcasting: offset into an input of shape (ndim, shape) for output index */
static int64_t bc_offset(int64_t lin, int ondim, const int64_t *oshape, int ndim, const int64_t *shape)
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

static float *rand_buf(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i] = frand(lo, hi);
    return p;
}

/* unary ------------------------------------------------------------------------------ */

static double r_sigmoid(double x, double a, double b) { (void)a; (void)b; return 1 / (1 + exp(-x)); }
static double r_relu(double x, double a, double b) { (void)a; (void)b; return x < 0 ? 0 : x; }
static double r_leaky(double x, double a, double b) { (void)b; return x < 0 ? a * x : x; }
static double r_tanh(double x, double a, double b) { (void)a; (void)b; return tanh(x); }
static double r_exp(double x, double a, double b) { (void)a; (void)b; return exp(x); }
static double r_log(double x, double a, double b) { (void)a; (void)b; return log(x); }
static double r_sqrt(double x, double a, double b) { (void)a; (void)b; return sqrt(x); }
static double r_neg(double x, double a, double b) { (void)a; (void)b; return -x; }
static double r_abs(double x, double a, double b) { (void)a; (void)b; return fabs(x); }
static double r_recip(double x, double a, double b) { (void)a; (void)b; return 1 / x; }
static double r_floor(double x, double a, double b) { (void)a; (void)b; return floor(x); }
static double r_ceil(double x, double a, double b) { (void)a; (void)b; return ceil(x); }
static double r_round(double x, double a, double b)
{
    double f = floor(x), d = x - f;
    (void)a;
    (void)b;
    if (x != x)
        return x;
    return d < 0.5 ? f : d > 0.5 ? f + 1 : fmod(f, 2) == 0 ? f : f + 1; /* half to even */
}
static double r_erf(double x, double a, double b) { (void)a; (void)b; return erf(x); }
static double clamp01(double t) { return t < 0 ? 0 : t > 1 ? 1 : t; }
static double r_hsig(double x, double a, double b) { return clamp01(a * x + b); }
static double r_hswish(double x, double a, double b) { (void)a; (void)b; return x * clamp01(x / 6 + 0.5); }
static double r_elu(double x, double a, double b) { (void)b; return x < 0 ? a * (exp(x) - 1) : x; }
static double r_selu(double x, double a, double b) { return x > 0 ? b * x : b * (a * exp(x) - a); }
static double r_celu(double x, double a, double b) { (void)b; return x > 0 ? x : a * (exp(x / a) - 1); }
static double r_softplus(double x, double a, double b) { (void)a; (void)b; return log1p(exp(x)); }
static double r_softsign(double x, double a, double b) { (void)a; (void)b; return x / (1 + fabs(x)); }
static double r_sign(double x, double a, double b) { (void)a; (void)b; return x > 0 ? 1 : x < 0 ? -1 : x; }
static double r_sin(double x, double a, double b) { (void)a; (void)b; return sin(x); }
static double r_cos(double x, double a, double b) { (void)a; (void)b; return cos(x); }
static double r_thr(double x, double a, double b) { (void)b; return x > a ? x : 0; }
static double r_mish(double x, double a, double b) { (void)a; (void)b; return x * tanh(log1p(exp(x))); }
static double r_gelu(double x, double a, double b) { (void)a; (void)b; return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double r_gelu_tanh(double x, double a, double b)
{
    (void)a;
    (void)b;
    return 0.5 * x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}

struct un_case {
    const char *op;
    double (*ref)(double, double, double);
    float lo, hi;
    int opset;
    const char *an, *bn; /* attribute names, or NULL for the op's defaults */
    float a, b;
    double rtol;
};

static void test_unary(void)
{
    static const struct un_case cases[] = {
        {"Sigmoid", r_sigmoid, -30, 30, 13, NULL, NULL, 0, 0, 1e-6},
        {"Relu", r_relu, -5, 5, 14, NULL, NULL, 0, 0, 0},
        {"LeakyRelu", r_leaky, -5, 5, 16, "alpha", NULL, 0.1f, 0, 1e-7},
        {"LeakyRelu", r_leaky, -5, 5, 16, NULL, NULL, 0.01f, 0, 1e-7},
        {"Tanh", r_tanh, -6, 6, 13, NULL, NULL, 0, 0, 2e-6},
        {"Exp", r_exp, -20, 20, 13, NULL, NULL, 0, 0, 2e-6},
        {"Log", r_log, 0.001f, 100, 13, NULL, NULL, 0, 0, 2e-6},
        {"Sqrt", r_sqrt, 0, 100, 13, NULL, NULL, 0, 0, 1e-6},
        {"Neg", r_neg, -5, 5, 13, NULL, NULL, 0, 0, 0},
        {"Abs", r_abs, -5, 5, 13, NULL, NULL, 0, 0, 0},
        {"Reciprocal", r_recip, 0.5f, 5, 13, NULL, NULL, 0, 0, 1e-6},
        {"Floor", r_floor, -5, 5, 13, NULL, NULL, 0, 0, 0},
        {"Ceil", r_ceil, -5, 5, 13, NULL, NULL, 0, 0, 0},
        {"Round", r_round, -5, 5, 11, NULL, NULL, 0, 0, 0},
        {"Erf", r_erf, -4, 4, 13, NULL, NULL, 0, 0, 2e-6},
        {"HardSigmoid", r_hsig, -5, 5, 6, "alpha", "beta", 0.3f, 0.4f, 1e-6},
        {"HardSigmoid", r_hsig, -5, 5, 6, NULL, NULL, 0.2f, 0.5f, 1e-6},
        {"HardSwish", r_hswish, -5, 5, 14, NULL, NULL, 0, 0, 1e-6},
        {"Elu", r_elu, -5, 5, 6, "alpha", NULL, 0.7f, 0, 2e-6},
        {"Selu", r_selu, -5, 5, 6, NULL, NULL, 1.67326319217681884765625f, 1.05070102214813232421875f, 2e-6},
        {"Celu", r_celu, -5, 5, 12, "alpha", NULL, 1.5f, 0, 2e-6},
        {"Softplus", r_softplus, -30, 30, 1, NULL, NULL, 0, 0, 2e-6},
        {"Softsign", r_softsign, -5, 5, 1, NULL, NULL, 0, 0, 1e-6},
        {"Sign", r_sign, -5, 5, 13, NULL, NULL, 0, 0, 0},
        {"Sin", r_sin, -5, 5, 7, NULL, NULL, 0, 0, 2e-6},
        {"Cos", r_cos, -5, 5, 7, NULL, NULL, 0, 0, 2e-6},
        {"ThresholdedRelu", r_thr, -5, 5, 10, "alpha", NULL, 0.5f, 0, 0},
        {"Mish", r_mish, -10, 10, 18, NULL, NULL, 0, 0, 4e-6},
        {"Gelu", r_gelu, -5, 5, 20, NULL, NULL, 0, 0, 2e-6},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct un_case *u = &cases[c];
        for (int big = 0; big < 2; big++) {
            int64_t n = big ? 50003 : 1001, shape[1] = {n};
            float *x = rand_buf(n, u->lo, u->hi);
            double *want = malloc((size_t)n * sizeof(double));
            struct qb_attr at[2];
            int na = 0;
            struct tcase tc;
            struct tin in[1];
            char what[96];

            x[7] = NAN;
            if (u->an)
                at[na++] = attr_f(u->an, u->a);
            if (u->bn)
                at[na++] = attr_f(u->bn, u->b);
            if (strcmp(u->op, "Round") == 0) {
                const float halves[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f};
                memcpy(x + 10, halves, sizeof(halves));
            }
            for (int64_t i = 0; i < n; i++)
                want[i] = u->ref(x[i], u->a, u->b);
            in[0] = fin(1, shape, x);
            snprintf(what, sizeof(what), "%s opset %d n=%lld", u->op, u->opset, (long long)n);
            if (build_run(&tc, u->opset, u->op, 1, in, 1, at, na, 1, shape))
                expect_f32(what, tc.buf[0], want, n, u->rtol, u->rtol ? 1e-6 : 0);
            done(&tc);
            free(x);
            free(want);
        }
    }
}

/* Sigmoid stays accurate (relative) far into the tails, subnormal results included */
static void test_sigmoid_tails(void)
{
    float x[12] = {-200, -104, -90, -87.5f, -50, -20, 0, 20, 50, INFINITY, -INFINITY, -0.0f};
    double want[12];
    int64_t shape[1] = {12};
    struct tin in[1] = {fin(1, shape, x)};
    struct tcase tc;
    for (int i = 0; i < 12; i++)
        want[i] = 1 / (1 + exp(-(double)x[i]));
    if (build_run(&tc, 13, "Sigmoid", 1, in, 1, NULL, 0, 1, shape))
        expect_f32("Sigmoid tails", tc.buf[0], want, 12, 2e-6, 1.5e-45);
    done(&tc);
}

/* the portable and the widest kernels agree bit for bit; SiLU is x * sigmoid(x) */
static void test_act_isa(void)
{
    int64_t n = 4099;
    float *x = rand_buf(n, -120, 120), *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    double *want = malloc(sizeof(double) * (size_t)n);
    const float special[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, -87.5f, -103.9f, -104.5f, 1e-30f, -1e-30f};
    memcpy(x, special, sizeof(special));
    qb_act_sigmoid_isa(x, a, n, QB_ACT_ISA_PORTABLE);
    qb_act_sigmoid_isa(x, b, n, QB_ACT_ISA_BEST);
    expect_bytes("Sigmoid portable == best ISA", a, b, sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        want[i] = 1 / (1 + exp(-(double)x[i]));
    expect_f32("Sigmoid portable kernel", a, want, n, 2e-6, 1.5e-45);
    qb_act_silu_isa(x, a, n, QB_ACT_ISA_PORTABLE);
    qb_act_silu_isa(x, b, n, QB_ACT_ISA_BEST);
    expect_bytes("SiLU portable == best ISA", a, b, sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        want[i] = isinf(x[i]) && x[i] < 0 ? NAN : x[i] / (1 + exp(-(double)x[i]));
    expect_f32("SiLU", a, want, n, 2e-6, 1e-40); /* sigmoid underflows below -87 */
    qb_act_silu(pool, x, b, n);
    expect_bytes("SiLU threaded == single", a, b, sizeof(float) * (size_t)n);
    free(x);
    free(a);
    free(b);
    free(want);
}

static void test_gelu_tanh(void)
{
    int64_t shape[2] = {3, 7};
    float *x = rand_buf(21, -5, 5);
    double want[21];
    struct qb_attr at[1] = {attr_s("approximate", "tanh")};
    struct tin in[1] = {fin(2, shape, x)};
    struct tcase tc;
    for (int i = 0; i < 21; i++)
        want[i] = r_gelu_tanh(x[i], 0, 0);
    if (build_run(&tc, 20, "Gelu", 1, in, 1, at, 1, 2, shape))
        expect_f32("Gelu tanh", tc.buf[0], want, 21, 2e-6, 1e-6);
    done(&tc);
    free(x);
}

static void test_unary_int(void)
{
    int64_t v64[6] = {-5, 0, 7, INT64_MIN, -1, 3}, shape[1] = {6};
    int32_t v32[6] = {-5, 0, 7, INT32_MIN, -1, 3};
    struct tcase tc;
    {
        struct tin in[1] = {cin(QB_DTYPE_I64, 1, shape, v64)};
        int64_t want[6] = {5, 0, -7, INT64_MIN, 1, -3};
        if (build_run(&tc, 13, "Neg", 1, in, 1, NULL, 0, 1, shape))
            expect_bytes("Neg int64 (wraps at INT64_MIN)", tc.buf[0], want, sizeof(want));
        done(&tc);
    }
    {
        struct tin in[1] = {cin(QB_DTYPE_I32, 1, shape, v32)};
        int32_t want[6] = {5, 0, 7, INT32_MIN, 1, 3};
        if (build_run(&tc, 13, "Abs", 1, in, 1, NULL, 0, 1, shape))
            expect_bytes("Abs int32", tc.buf[0], want, sizeof(want));
        done(&tc);
    }
    {
        struct tin in[1] = {cin(QB_DTYPE_I32, 1, shape, v32)};
        int32_t want[6] = {0, 0, 7, 0, 0, 3};
        if (build_run(&tc, 14, "Relu", 1, in, 1, NULL, 0, 1, shape))
            expect_bytes("Relu int32", tc.buf[0], want, sizeof(want));
        done(&tc);
    }
    {
        uint8_t b[4] = {0, 1, 1, 0}, want[4] = {1, 0, 0, 1};
        int64_t s4[1] = {4};
        struct tin in[1] = {cin(QB_DTYPE_BOOL, 1, s4, b)};
        if (build_run(&tc, 1, "Not", 1, in, 1, NULL, 0, 1, s4))
            expect_bytes("Not", tc.buf[0], want, sizeof(want));
        done(&tc);
    }
    {
        float x[5] = {1, NAN, INFINITY, -INFINITY, 0};
        uint8_t nan_want[5] = {0, 1, 0, 0, 0}, inf_want[5] = {0, 0, 0, 1, 0};
        int64_t s5[1] = {5};
        struct tin in[1] = {fin(1, s5, x)};
        struct qb_attr at[1] = {attr_i("detect_positive", 0)};
        if (build_run(&tc, 13, "IsNaN", 1, in, 1, NULL, 0, 1, s5))
            expect_bytes("IsNaN", tc.buf[0], nan_want, 5);
        done(&tc);
        if (build_run(&tc, 13, "IsInf", 1, in, 1, at, 1, 1, s5))
            expect_bytes("IsInf detect_positive=0", tc.buf[0], inf_want, 5);
        done(&tc);
    }
}

/* binary ------------------------------------------------------------------------------- */

static double fmod_py(double a, double b)
{
    double r = fmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

enum bop { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_MOD, B_FMOD, B_PRELU, B_EQ, B_LT, B_GT, B_LE, B_GE };

static double bref(enum bop op, double a, double b)
{
    switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MAX: return (a != a || b != b) ? NAN : a > b ? a : b;
    case B_MIN: return (a != a || b != b) ? NAN : a < b ? a : b;
    case B_MOD: return fmod_py(a, b);
    case B_FMOD: return fmod(a, b);
    case B_PRELU: return a < 0 ? a * b : a;
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    default: return a >= b;
    }
}

static void test_binary_f32(void)
{
    static const struct {
        const char *op;
        enum bop b;
        bool boolean;
        float lo, hi;
        int opset;
    } ops[] = {
        {"Add", B_ADD, false, -5, 5, 14},    {"Sub", B_SUB, false, -5, 5, 14},
        {"Mul", B_MUL, false, -5, 5, 14},    {"Div", B_DIV, false, 0.5f, 5, 14},
        {"Pow", B_POW, false, 0.1f, 3, 15},  {"Max", B_MAX, false, -5, 5, 13},
        {"Min", B_MIN, false, -5, 5, 13},    {"Mod", B_MOD, false, -5, 5, 13},
        {"Mod", B_FMOD, false, -5, 5, 13},   {"Equal", B_EQ, true, -2, 2, 13},
        {"Less", B_LT, true, -2, 2, 13},     {"Greater", B_GT, true, -2, 2, 13},
        {"LessOrEqual", B_LE, true, -2, 2, 16}, {"GreaterOrEqual", B_GE, true, -2, 2, 16},
    };
    static const struct {
        int na, nb;
        int64_t a[4], b[4];
    } shapes[] = {
        {4, 4, {2, 3, 4, 5}, {2, 3, 4, 5}}, {4, 1, {2, 3, 4, 5}, {1}},        {0, 2, {0}, {3, 4}},
        {4, 1, {2, 3, 4, 5}, {5}},          {4, 4, {2, 3, 4, 5}, {1, 3, 1, 1}}, {3, 3, {3, 1, 5}, {1, 4, 1}},
        {2, 3, {4, 1}, {3, 1, 1}},          {4, 4, {2, 16, 40, 40}, {1, 16, 1, 1}}, {2, 2, {40, 700}, {40, 700}},
    };
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
            int na = shapes[s].na, nb = shapes[s].nb, nd;
            int64_t an = numel_of(na, shapes[s].a), bn = numel_of(nb, shapes[s].b), out[4];
            float *a = rand_buf(an, ops[o].lo, ops[o].hi), *b = rand_buf(bn, ops[o].lo, ops[o].hi);
            struct qb_attr at[1] = {attr_i("fmod", 1)};
            struct tin in[2];
            struct tcase tc;
            double *want;
            int64_t yn;
            char what[96];

            if (ops[o].b == B_POW)
                for (int64_t i = 0; i < bn; i++)
                    b[i] = frand(-2, 2);
            if (ops[o].boolean) /* coarse values so that ties happen */
                for (int64_t i = 0; i < an + bn; i++)
                    (i < an ? a : b)[i < an ? i : i - an] = floorf((i < an ? a : b)[i < an ? i : i - an]);
            if (ops[o].b == B_MAX || ops[o].b == B_MIN || ops[o].b == B_ADD)
                a[an / 2] = NAN;
            nd = na > nb ? na : nb;
            for (int d = 0; d < nd; d++) {
                int ja = d - (nd - na), jb = d - (nd - nb);
                int64_t da = ja >= 0 ? shapes[s].a[ja] : 1, db = jb >= 0 ? shapes[s].b[jb] : 1;
                out[d] = da > db ? da : db;
            }
            yn = numel_of(nd, out);
            want = malloc((size_t)yn * sizeof(double));
            for (int64_t i = 0; i < yn; i++)
                want[i] = bref(ops[o].b, a[bc_offset(i, nd, out, na, shapes[s].a)],
                               b[bc_offset(i, nd, out, nb, shapes[s].b)]);
            in[0] = fin(na, shapes[s].a, a);
            in[1] = fin(nb, shapes[s].b, b);
            snprintf(what, sizeof(what), "%s%s shapes #%zu", ops[o].op, ops[o].b == B_FMOD ? "(fmod)" : "", s);
            if (build_run(&tc, ops[o].opset, ops[o].op, 2, in, 1, at, ops[o].b == B_FMOD, nd, out)) {
                if (ops[o].boolean) {
                    uint8_t *w = malloc((size_t)yn);
                    for (int64_t i = 0; i < yn; i++)
                        w[i] = (uint8_t)want[i];
                    expect_bytes(what, tc.buf[0], w, (size_t)yn);
                    free(w);
                } else {
                    expect_f32(what, tc.buf[0], want, yn, ops[o].b == B_POW ? 2e-6 : 1e-6, 1e-6);
                }
            }
            done(&tc);
            free(a);
            free(b);
            free(want);
        }
}

static void test_prelu_legacy(void)
{
    int64_t xs[4] = {2, 3, 4, 5}, ss[3] = {3, 1, 1}, bs[2] = {3, 4};
    float *x = rand_buf(120, -3, 3), *sl = rand_buf(3, 0, 1), *b = rand_buf(12, -3, 3);
    double want[120];
    struct tcase tc;
    {
        struct tin in[2] = {fin(4, xs, x), cin(QB_DTYPE_F32, 3, ss, sl)};
        for (int i = 0; i < 120; i++)
            want[i] = bref(B_PRELU, x[i], sl[bc_offset(i, 4, xs, 3, ss)]);
        if (build_run(&tc, 16, "PRelu", 2, in, 1, NULL, 0, 4, xs))
            expect_f32("PRelu channel slope", tc.buf[0], want, 120, 1e-7, 0);
        done(&tc);
    }
    {
        /* opset 6: B [3,4] broadcast onto A [2,3,4,5] from axis 1 */
        struct tin in[2] = {fin(4, xs, x), cin(QB_DTYPE_F32, 2, bs, b)};
        struct qb_attr at[2] = {attr_i("broadcast", 1), attr_i("axis", 1)};
        for (int i = 0; i < 120; i++)
            want[i] = x[i] + b[(i / 5) % 12];
        if (build_run(&tc, 6, "Add", 2, in, 1, at, 2, 4, xs))
            expect_f32("Add opset 6 broadcast axis=1", tc.buf[0], want, 120, 1e-7, 0);
        done(&tc);
        /* the same shapes without broadcast=1 are invalid before opset 7 */
        build(&tc, 6, "Add", 2, in, 1, NULL, 0);
        CHECK(tc.prep == QB_ERR_INVALID, "Add opset 6 without broadcast: prepare gave %d", tc.prep);
        done(&tc);
    }
    free(x);
    free(sl);
    free(b);
}

static void test_binary_int(void)
{
    int64_t as[2] = {3, 4}, bs[1] = {4}, a64[12], b64[4];
    int32_t a32[12], b32[4];
    struct tcase tc;
    for (int i = 0; i < 12; i++)
        a32[i] = (int32_t)(a64[i] = (int64_t)(rnd() % 101) - 50);
    for (int i = 0; i < 4; i++)
        b32[i] = (int32_t)(b64[i] = (i % 2 ? 1 : -1) * (int64_t)(1 + rnd() % 7));
    static const struct {
        const char *op;
        int fmod;
    } ops[] = {{"Add", -1}, {"Sub", -1}, {"Mul", -1}, {"Div", -1}, {"Mod", 0}, {"Mod", 1}, {"Max", -1}, {"Min", -1}};
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        for (int w = 0; w < 2; w++) {
            enum qb_dtype dt = w ? QB_DTYPE_I64 : QB_DTYPE_I32;
            struct tin in[2] = {cin(dt, 2, as, w ? (void *)a64 : (void *)a32), cin(dt, 1, bs, w ? (void *)b64 : (void *)b32)};
            struct qb_attr at[1] = {attr_i("fmod", ops[o].fmod)};
            int64_t want[12];
            char what[64];
            for (int i = 0; i < 12; i++) {
                int64_t x = a64[i], y = b64[i % 4], r;
                switch (ops[o].op[0] == 'M' && ops[o].op[1] == 'o' ? 'm' : ops[o].op[0]) {
                case 'A': r = x + y; break;
                case 'S': r = x - y; break;
                case 'D': r = x / y; break; /* C truncates toward zero, as ONNX wants */
                case 'm':
                    r = x % y;
                    if (!ops[o].fmod && r != 0 && ((r < 0) != (y < 0)))
                        r += y;
                    break;
                default:
                    r = strcmp(ops[o].op, "Mul") == 0 ? x * y : strcmp(ops[o].op, "Max") == 0 ? (x > y ? x : y)
                                                                                                : (x < y ? x : y);
                }
                want[i] = r;
            }
            snprintf(what, sizeof(what), "%s%s %s", ops[o].op, ops[o].fmod == 1 ? "(fmod)" : "", qb_dtype_name(dt));
            if (build_run(&tc, 13, ops[o].op, 2, in, 1, at, ops[o].fmod >= 0, 2, as)) {
                if (w) {
                    expect_bytes(what, tc.buf[0], want, sizeof(want));
                    /* the folded constant agrees with the kernel */
                    expect_bytes(what, qb_node_out(tc.g, tc.n, 0)->data, want, sizeof(want));
                } else {
                    int32_t w32[12];
                    for (int i = 0; i < 12; i++)
                        w32[i] = (int32_t)want[i];
                    expect_bytes(what, tc.buf[0], w32, sizeof(w32));
                }
            }
            done(&tc);
        }
    {
        uint8_t a[3] = {250, 3, 0}, b[3] = {10, 5, 1}, want[3] = {4, 8, 1};
        int64_t s3[1] = {3};
        struct tin in[2] = {cin(QB_DTYPE_U8, 1, s3, a), cin(QB_DTYPE_U8, 1, s3, b)};
        if (build_run(&tc, 14, "Add", 2, in, 1, NULL, 0, 1, s3))
            expect_bytes("Add uint8 wraps", tc.buf[0], want, 3);
        done(&tc);
    }
    {
        int64_t a[4] = {INT64_MIN, 7, -7, 5}, b[4] = {-1, 0, 2, -2}, want[4] = {INT64_MIN, 0, -3, -2};
        int64_t s4[1] = {4};
        struct tin in[2] = {cin(QB_DTYPE_I64, 1, s4, a), cin(QB_DTYPE_I64, 1, s4, b)};
        if (build_run(&tc, 14, "Div", 2, in, 1, NULL, 0, 1, s4))
            expect_bytes("Div int64 edge cases (no trap)", tc.buf[0], want, sizeof(want));
        done(&tc);
    }
    {
        uint8_t a[4] = {0, 0, 1, 1}, b[4] = {0, 1, 0, 1};
        uint8_t w_and[4] = {0, 0, 0, 1}, w_or[4] = {0, 1, 1, 1}, w_xor[4] = {0, 1, 1, 0};
        int64_t s4[1] = {4};
        struct tin in[2] = {cin(QB_DTYPE_BOOL, 1, s4, a), cin(QB_DTYPE_BOOL, 1, s4, b)};
        const char *names[3] = {"And", "Or", "Xor"};
        const uint8_t *wants[3] = {w_and, w_or, w_xor};
        for (int k = 0; k < 3; k++) {
            if (build_run(&tc, 7, names[k], 2, in, 1, NULL, 0, 1, s4))
                expect_bytes(names[k], tc.buf[0], wants[k], 4);
            done(&tc);
        }
    }
    {
        int64_t a[3] = {1, 5, 7}, b[1] = {5}, s3[1] = {3}, s1[1] = {1};
        uint8_t want[3] = {0, 1, 0};
        struct tin in[2] = {cin(QB_DTYPE_I64, 1, s3, a), cin(QB_DTYPE_I64, 1, s1, b)};
        if (build_run(&tc, 13, "Equal", 2, in, 1, NULL, 0, 1, s3))
            expect_bytes("Equal int64", tc.buf[0], want, 3);
        done(&tc);
    }
}

static void test_variadic_where(void)
{
    int64_t s0[3] = {2, 3, 4}, s1[1] = {4}, s2[2] = {3, 1};
    float *a = rand_buf(24, -3, 3), *b = rand_buf(4, -3, 3), *c = rand_buf(3, -3, 3);
    double want[24];
    struct tin in[3] = {fin(3, s0, a), fin(1, s1, b), fin(2, s2, c)};
    struct tcase tc;
    const char *ops[4] = {"Sum", "Mean", "Max", "Min"};

    a[5] = NAN;
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 24; i++) {
            double x = a[i], y = b[i % 4], z = c[(i / 4) % 3];
            want[i] = k == 0 ? x + y + z : k == 1 ? (x + y + z) / 3 : bref(k == 2 ? B_MAX : B_MIN, bref(k == 2 ? B_MAX : B_MIN, x, y), z);
        }
        if (build_run(&tc, 13, ops[k], 3, in, 1, NULL, 0, 3, s0))
            expect_f32(ops[k], tc.buf[0], want, 24, 1e-6, 1e-6);
        done(&tc);
    }
    /* one input: a copy */
    if (build_run(&tc, 13, "Max", 1, in, 1, NULL, 0, 3, s0)) {
        for (int i = 0; i < 24; i++)
            want[i] = a[i];
        expect_f32("Max of one input", tc.buf[0], want, 24, 0, 0);
    }
    done(&tc);
    {
        uint8_t cond[3] = {1, 0, 1};
        int64_t cs[2] = {3, 1}, xs[2] = {1, 4}, ys[1] = {1}, out[2] = {3, 4};
        float x[4] = {1, 2, 3, 4}, y[1] = {-1};
        struct tin win[3] = {cin(QB_DTYPE_BOOL, 2, cs, cond), fin(2, xs, x), cin(QB_DTYPE_F32, 1, ys, y)};
        double w[12];
        for (int i = 0; i < 12; i++)
            w[i] = cond[i / 4] ? x[i % 4] : -1;
        if (build_run(&tc, 16, "Where", 3, win, 1, NULL, 0, 2, out))
            expect_f32("Where broadcast", tc.buf[0], w, 12, 0, 0);
        done(&tc);
    }
    free(a);
    free(b);
    free(c);
}

static void test_clip_cast(void)
{
    int64_t s[1] = {8};
    float x[8] = {-3, -1, -0.5f, 0, 0.5f, 2, 3, NAN};
    struct tcase tc;
    {
        struct qb_attr at[2] = {attr_f("min", -1), attr_f("max", 2)};
        struct tin in[1] = {fin(1, s, x)};
        double want[8] = {-1, -1, -0.5, 0, 0.5, 2, 2, NAN};
        if (build_run(&tc, 6, "Clip", 1, in, 1, at, 2, 1, s))
            expect_f32("Clip opset 6 attributes", tc.buf[0], want, 8, 0, 0);
        done(&tc);
    }
    {
        float lo[1] = {0.25f};
        struct tin in[2] = {fin(1, s, x), cin(QB_DTYPE_F32, 0, NULL, lo)};
        double want[8] = {0.25, 0.25, 0.25, 0.25, 0.5, 2, 3, NAN};
        if (build_run(&tc, 13, "Clip", 2, in, 1, NULL, 0, 1, s))
            expect_f32("Clip opset 13 min input only", tc.buf[0], want, 8, 0, 0);
        done(&tc);
    }
    {
        float lo[1] = {2}, hi[1] = {1};
        struct tin in[3] = {fin(1, s, x), cin(QB_DTYPE_F32, 0, NULL, lo), cin(QB_DTYPE_F32, 0, NULL, hi)};
        double want[8] = {1, 1, 1, 1, 1, 1, 1, NAN};
        if (build_run(&tc, 13, "Clip", 3, in, 1, NULL, 0, 1, s))
            expect_f32("Clip min > max gives max", tc.buf[0], want, 8, 0, 0);
        done(&tc);
    }
    {
        int8_t xi[4] = {-100, -5, 5, 100}, lo[1] = {-10}, want[4] = {-10, -5, 5, 100};
        int64_t s4[1] = {4};
        struct tin in[3] = {cin(QB_DTYPE_I8, 1, s4, xi), cin(QB_DTYPE_I8, 0, NULL, lo), omitted};
        if (build_run(&tc, 13, "Clip", 3, in, 1, NULL, 0, 1, s4))
            expect_bytes("Clip int8, max omitted", tc.buf[0], want, 4);
        done(&tc);
    }
    {
        float v[6] = {-2.7f, 2.7f, -0.5f, 1e10f, 3.99f, 0};
        int64_t s6[1] = {6}, w64[6] = {-2, 2, 0, 10000000000LL, 3, 0};
        uint8_t wb[6] = {1, 1, 1, 1, 1, 0};
        struct tin in[1] = {fin(1, s6, v)};
        struct qb_attr to64[1] = {attr_i("to", 7)}, tob[1] = {attr_i("to", 9)};
        if (build_run(&tc, 13, "Cast", 1, in, 1, to64, 1, 1, s6))
            expect_bytes("Cast float->int64 truncates", tc.buf[0], w64, sizeof(w64));
        done(&tc);
        if (build_run(&tc, 13, "Cast", 1, in, 1, tob, 1, 1, s6))
            expect_bytes("Cast float->bool", tc.buf[0], wb, sizeof(wb));
        done(&tc);
    }
    {
        float v[8] = {1.0009765625f, 1.00048828125f, 1.00146484375f, 65520, 1e-8f, 3e-8f, -2.5f, NAN};
        uint16_t want[8] = {0x3C01, 0x3C00, 0x3C02, 0x7C00, 0x0000, 0x0001, 0xC100, 0};
        int64_t s8[1] = {8};
        struct tin in[1] = {fin(1, s8, v)};
        struct qb_attr to16[1] = {attr_i("to", 10)};
        if (build_run(&tc, 13, "Cast", 1, in, 1, to16, 1, 1, s8)) {
            const uint16_t *h = tc.buf[0];
            expect_bytes("Cast float->float16 rounds to even", h, want, 7 * sizeof(uint16_t));
            CHECK((h[7] & 0x7C00) == 0x7C00 && (h[7] & 0x3FF), "Cast NaN->float16 stays NaN: %04x", h[7]);
        }
        done(&tc);
    }
    {
        int64_t v[3] = {-3, 1LL << 40, 7}, s3[1] = {3};
        struct tin in[1] = {cin(QB_DTYPE_I64, 1, s3, v)};
        struct qb_attr tof[1] = {attr_s("to", "FLOAT")};
        double want[3] = {-3, 1099511627776.0, 7};
        if (build_run(&tc, 1, "Cast", 1, in, 1, tof, 1, 1, s3))
            expect_f32("Cast-1 int64->FLOAT (string 'to')", tc.buf[0], want, 3, 0, 0);
        done(&tc);
    }
}

/* shape and data movement ---------------------------------------------------------------- */

/* naive permute: out[j] = in[i] where out dim k walks in dim perm[k] */
static void ref_permute(const void *in, void *out, size_t es, int nd, const int64_t *shape, const int *perm)
{
    int64_t n = numel_of(nd, shape), istr[QB_MAX_DIMS], s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        istr[d] = s;
        s *= shape[d];
    }
    for (int64_t j = 0; j < n; j++) {
        int64_t rem = j, off = 0;
        for (int k = nd - 1; k >= 0; k--) {
            off += (rem % shape[perm[k]]) * istr[perm[k]];
            rem /= shape[perm[k]];
        }
        memcpy((char *)out + (size_t)j * es, (const char *)in + (size_t)off * es, es);
    }
}

static void transpose_case(enum qb_dtype dt, int nd, const int64_t *shape, const int *perm, const char *what)
{
    int64_t n = numel_of(nd, shape), p64[QB_MAX_DIMS], oshape[QB_MAX_DIMS];
    size_t es = qb_dtype_size(dt);
    unsigned char *x = malloc((size_t)n * es), *want = malloc((size_t)n * es);
    struct qb_attr at[1];
    struct tin in[1];
    struct tcase tc;

    for (size_t i = 0; i < (size_t)n * es; i++)
        x[i] = (unsigned char)rnd();
    for (int k = 0; k < nd; k++) {
        p64[k] = perm[k];
        oshape[k] = shape[perm[k]];
    }
    at[0] = attr_is("perm", nd, p64);
    in[0] = dt == QB_DTYPE_F32 ? fin(nd, shape, (const float *)x) : cin(dt, nd, shape, x);
    ref_permute(x, want, es, nd, shape, perm);
    if (build_run(&tc, 13, "Transpose", 1, in, 1, at, 1, nd, oshape))
        expect_bytes(what, tc.buf[0], want, (size_t)n * es);
    done(&tc);
    free(x);
    free(want);
}

static void test_transpose(void)
{
    int64_t s4[4] = {2, 3, 5, 7}, s3[3] = {3, 4, 5}, big[4] = {2, 32, 40, 41}, s5[5] = {2, 1, 3, 1, 4};
    int perm[4] = {0, 1, 2, 3};
    char what[64];
    /* all 24 permutations of a 4-D float tensor */
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) {
                int d = 6 - a - b - c;
                if (a == b || a == c || b == c || d < 0 || d > 3 || d == a || d == b || d == c)
                    continue;
                perm[0] = a, perm[1] = b, perm[2] = c, perm[3] = d;
                snprintf(what, sizeof(what), "Transpose float [%d%d%d%d]", a, b, c, d);
                transpose_case(QB_DTYPE_F32, 4, s4, perm, what);
            }
    {
        const int p3[3] = {2, 0, 1}, p3b[3] = {1, 2, 0};
        transpose_case(QB_DTYPE_I64, 3, s3, p3, "Transpose int64");
        transpose_case(QB_DTYPE_U8, 3, s3, p3b, "Transpose uint8");
        transpose_case(QB_DTYPE_F16, 3, s3, p3, "Transpose float16");
    }
    {
        const int pb[4] = {0, 2, 3, 1}, pc[4] = {0, 3, 1, 2}, p5[5] = {4, 3, 2, 1, 0};
        transpose_case(QB_DTYPE_F32, 4, big, pb, "Transpose [2,32,40,41] NCHW->NHWC (threads)");
        transpose_case(QB_DTYPE_F32, 4, big, pc, "Transpose [2,32,40,41] NHWC->NCHW (threads)");
        transpose_case(QB_DTYPE_F32, 5, s5, p5, "Transpose with unit dims");
    }
    {
        /* default perm reverses the dims */
        float *x = rand_buf(60, -1, 1);
        int64_t rs[3] = {5, 4, 3};
        const int rev[3] = {2, 1, 0};
        float want[60];
        struct tin in[1] = {fin(3, s3, x)};
        struct tcase tc;
        ref_permute(x, want, 4, 3, s3, rev);
        if (build_run(&tc, 13, "Transpose", 1, in, 1, NULL, 0, 3, rs))
            expect_bytes("Transpose default perm", tc.buf[0], want, sizeof(want));
        done(&tc);
        free(x);
    }
}

static void test_concat_split(void)
{
    struct tcase tc;
    {
        int64_t s0[3] = {2, 3, 4}, s1[3] = {2, 1, 4}, s2[3] = {2, 0, 4}, out[3] = {2, 4, 4};
        float *a = rand_buf(24, -1, 1), *b = rand_buf(8, -1, 1), dummy[1] = {0};
        double want[32];
        struct tin in[3] = {fin(3, s0, a), fin(3, s1, b), fin(3, s2, dummy)};
        struct qb_attr at[1] = {attr_i("axis", -2)};
        for (int i = 0; i < 32; i++) {
            int o = i / 16, r = (i / 4) % 4, c = i % 4;
            want[i] = r < 3 ? a[(o * 3 + r) * 4 + c] : b[o * 4 + c];
        }
        if (build_run(&tc, 13, "Concat", 3, in, 1, at, 1, 3, out))
            expect_f32("Concat axis=-2 with an empty input", tc.buf[0], want, 32, 0, 0);
        done(&tc);
        free(a);
        free(b);
    }
    {
        int64_t s[4] = {2, 32, 40, 40}, out[4] = {2, 64, 40, 40}, half = 32 * 1600;
        float *a = rand_buf(2 * half, -1, 1), *b = rand_buf(2 * half, -1, 1);
        double *want = malloc(sizeof(double) * 4 * (size_t)half);
        struct tin in[2] = {fin(4, s, a), fin(4, s, b)};
        struct qb_attr at[1] = {attr_i("axis", 1)};
        for (int64_t i = 0; i < 4 * half; i++) {
            int64_t o = i / (2 * half), r = i % (2 * half);
            want[i] = r < half ? a[o * half + r] : b[o * half + r - half];
        }
        if (build_run(&tc, 13, "Concat", 2, in, 1, at, 1, 4, out)) {
            expect_f32("Concat [2,32,40,40] x2 axis 1 (threads)", tc.buf[0], want, 4 * half, 0, 0);
            /* Split undoes it: opset 13 equal split */
            struct tcase sp;
            struct tin sin[1] = {fin(4, out, tc.buf[0])};
            build(&sp, 13, "Split", 1, sin, 2, at, 1);
            CHECK(sp.prep == QB_OK, "Split prepare: %s", sp.err.msg);
            if (sp.prep == QB_OK && run(&sp) == QB_OK) {
                expect_bytes("Split equal parts (threads) 0", sp.buf[0], a, (size_t)(2 * half) * 4);
                expect_bytes("Split equal parts (threads) 1", sp.buf[1], b, (size_t)(2 * half) * 4);
            }
            done(&sp);
        }
        done(&tc);
        free(a);
        free(b);
        free(want);
    }
    {
        /* unequal parts along the last axis: attribute (opset 11), input (13), num_outputs (18) */
        int64_t s[3] = {2, 3, 7}, sp[3] = {2, 3, 1}, split_v[3] = {3, 3, 1}, sh[3] = {3};
        float *x = rand_buf(42, -1, 1);
        struct qb_attr a11[2] = {attr_i("axis", -1), attr_is("split", 3, split_v)};
        struct qb_attr a18[2] = {attr_i("axis", -1), attr_i("num_outputs", 3)};
        struct tin in11[1] = {fin(3, s, x)}, in13[2] = {fin(3, s, x), cin(QB_DTYPE_I64, 1, sh, split_v)};
        for (int v = 0; v < 3; v++) {
            struct tcase t;
            const char *names[3] = {"Split opset 11 attribute", "Split opset 13 input", "Split opset 18 num_outputs"};
            if (v == 0)
                build(&t, 11, "Split", 1, in11, 3, a11, 2);
            else if (v == 1)
                build(&t, 13, "Split", 2, in13, 3, a11, 1);
            else
                build(&t, 18, "Split", 1, in11, 3, a18, 2);
            CHECK(t.prep == QB_OK, "%s: %s", names[v], t.err.msg);
            if (t.prep == QB_OK && run(&t) == QB_OK) {
                const struct qb_value *y2 = qb_node_out(t.g, t.n, 2);
                bool ok = y2->ndim == 3 && y2->shape[2] == sp[2];
                for (int k = 0; k < 3 && ok; k++)
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < split_v[k]; j++)
                            ok = ok && ((float *)t.buf[k])[i * split_v[k] + j] == x[i * 7 + k * 3 + j];
                CHECK(ok, "%s: wrong parts", names[v]);
            }
            done(&t);
        }
        free(x);
    }
}

/* ONNX slicing rules per dim (numpy-like), then a naive gather */
static void slice_case(int64_t opset, int nd, const int64_t *shape, int ns, const int64_t *starts, const int64_t *ends,
                       const int64_t *axes, const int64_t *steps, const char *what)
{
    int64_t st[QB_MAX_DIMS], sp[QB_MAX_DIMS], len[QB_MAX_DIMS], n = numel_of(nd, shape), on = 1, istr[QB_MAX_DIMS], s = 1;
    float *x = rand_buf(n, -1, 1);
    double *want;
    struct tcase tc;
    struct qb_attr at[3];
    int64_t cnt[1] = {ns};
    struct tin in[5];

    for (int d = nd - 1; d >= 0; d--) {
        istr[d] = s;
        s *= shape[d];
        st[d] = 0, sp[d] = 1, len[d] = shape[d];
    }
    for (int i = 0; i < ns; i++) {
        int a = (int)(axes[i] < 0 ? axes[i] + nd : axes[i]);
        int64_t dim = shape[a], b = starts[i], e = ends[i], step = steps ? steps[i] : 1, c = 0, first = -1;
        if (b < 0)
            b += dim;
        if (e < 0)
            e += dim;
        /* clamp, then count */
        if (step > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            for (int64_t k = b; k < e; k += step)
                c++, first = first < 0 ? k : first;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b; /* ONNX clamps here where python would not */
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            for (int64_t k = b; k > e; k += step)
                c++, first = first < 0 ? k : first;
        }
        st[a] = first < 0 ? 0 : first, sp[a] = step, len[a] = c;
    }
    on = numel_of(nd, len);
    want = malloc(sizeof(double) * (size_t)(on ? on : 1));
    for (int64_t j = 0; j < on; j++) {
        int64_t rem = j, off = 0;
        for (int d = nd - 1; d >= 0; d--) {
            off += (st[d] + (rem % len[d]) * sp[d]) * istr[d];
            rem /= len[d];
        }
        want[j] = x[off];
    }
    in[0] = fin(nd, shape, x);
    if (opset < 10) {
        at[0] = attr_is("starts", ns, (int64_t *)starts);
        at[1] = attr_is("ends", ns, (int64_t *)ends);
        at[2] = attr_is("axes", ns, (int64_t *)axes);
        if (build_run(&tc, opset, "Slice", 1, in, 1, at, 3, nd, len))
            expect_f32(what, tc.buf[0], want, on, 0, 0);
    } else {
        (void)cnt;
        in[1] = i64s(ns, starts);
        in[2] = i64s(ns, ends);
        in[3] = i64s(ns, axes);
        in[4] = steps ? i64s(ns, steps) : omitted;
        if (build_run(&tc, opset, "Slice", steps ? 5 : 4, in, 1, NULL, 0, nd, len))
            expect_f32(what, tc.buf[0], want, on, 0, 0);
    }
    done(&tc);
    free(x);
    free(want);
}

static void test_slice(void)
{
    int64_t s3[3] = {4, 5, 6}, big[4] = {2, 64, 40, 40};
    {
        int64_t b[1] = {1}, e[1] = {1000}, a[1] = {1};
        slice_case(9, 3, s3, 1, b, e, a, NULL, "Slice opset 9 attributes, end past the dim");
    }
    {
        int64_t b[2] = {-1, 0}, e[2] = {-1000, 3}, a[2] = {2, -3}, st[2] = {-2, 1};
        slice_case(13, 3, s3, 2, b, e, a, st, "Slice negative step, negative axis");
    }
    {
        int64_t b[3] = {INT64_MIN, 7, 1}, e[3] = {INT64_MAX, -8, 4}, a[3] = {0, 1, 2}, st[3] = {3, -1, 2};
        slice_case(13, 3, s3, 3, b, e, a, st, "Slice extreme bounds");
    }
    {
        int64_t b[1] = {3}, e[1] = {1}, a[1] = {1};
        slice_case(13, 3, s3, 1, b, e, a, NULL, "Slice empty result");
    }
    {
        int64_t b[1] = {32}, e[1] = {64}, a[1] = {1};
        slice_case(13, 4, big, 1, b, e, a, NULL, "Slice channels of [2,64,40,40] (threads)");
    }
    {
        int64_t b[2] = {1, 0}, e[2] = {40, 40}, a[2] = {2, 3}, st[2] = {2, 2};
        slice_case(13, 4, big, 2, b, e, a, st, "Slice stride 2 on H and W (threads)");
    }
}

static void test_reshape_family(void)
{
    int64_t s[3] = {2, 3, 4};
    float *x = rand_buf(24, -1, 1);
    double want[24];
    struct tcase tc;
    for (int i = 0; i < 24; i++)
        want[i] = x[i];
    {
        int64_t spec[2] = {0, -1}, out[2] = {2, 12};
        struct tin in[2] = {fin(3, s, x), i64s(2, spec)};
        if (build_run(&tc, 13, "Reshape", 2, in, 1, NULL, 0, 2, out))
            expect_f32("Reshape [0,-1]", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t spec[3] = {4, -1, 3}, out[3] = {4, 2, 3};
        struct qb_attr at[1] = {attr_is("shape", 3, spec)};
        struct tin in[1] = {fin(3, s, x)};
        if (build_run(&tc, 1, "Reshape", 1, in, 1, at, 1, 3, out))
            expect_f32("Reshape-1 shape attribute", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t zs[2] = {0, 3}, spec[2] = {3, 0}, out[2] = {3, 0};
        float none[1] = {0};
        struct qb_attr at[1] = {attr_i("allowzero", 1)};
        struct tin in[2] = {fin(2, zs, none), i64s(2, spec)};
        build_run(&tc, 14, "Reshape", 2, in, 1, at, 1, 2, out);
        done(&tc);
        /* without allowzero the 0 copies the input dim: [3, 3] holds 9, not 0 elements */
        build(&tc, 14, "Reshape", 2, in, 1, NULL, 0);
        CHECK(tc.prep == QB_ERR_INVALID, "Reshape [3,0] of an empty [0,3] without allowzero: %d", tc.prep);
        done(&tc);
    }
    {
        int64_t out[2] = {6, 4}, out0[2] = {1, 24};
        struct qb_attr at[1] = {attr_i("axis", -1)}, at0[1] = {attr_i("axis", 0)};
        struct tin in[1] = {fin(3, s, x)};
        if (build_run(&tc, 13, "Flatten", 1, in, 1, at, 1, 2, out))
            expect_f32("Flatten axis=-1", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Flatten", 1, in, 1, at0, 1, 2, out0))
            expect_f32("Flatten axis=0", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t us[4] = {1, 2, 1, 12}, axes[2] = {0, -2}, out[2] = {2, 12}, out_all[2] = {2, 12}, ax1[1] = {-2};
        int64_t out1[3] = {1, 2, 12};
        struct qb_attr at[1] = {attr_is("axes", 1, ax1)};
        struct tin in11[1] = {fin(4, us, x)}, in13[2] = {fin(4, us, x), i64s(2, axes)};
        if (build_run(&tc, 11, "Squeeze", 1, in11, 1, at, 1, 3, out1))
            expect_f32("Squeeze opset 11 axes attribute", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Squeeze", 2, in13, 1, NULL, 0, 2, out))
            expect_f32("Squeeze opset 13 axes input", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Squeeze", 1, in11, 1, NULL, 0, 2, out_all))
            expect_f32("Squeeze all unit dims", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        {
            int64_t bad[1] = {1};
            struct tin inb[2] = {fin(4, us, x), i64s(1, bad)};
            build(&tc, 13, "Squeeze", 2, inb, 1, NULL, 0);
            CHECK(tc.prep == QB_ERR_INVALID, "Squeeze of a dim of size 2: %d", tc.prep);
            done(&tc);
        }
    }
    {
        int64_t s2[2] = {2, 12}, axes[2] = {-1, 0}, out[4] = {1, 2, 12, 1};
        struct qb_attr at[1] = {attr_is("axes", 2, axes)};
        struct tin in11[1] = {fin(2, s2, x)}, in13[2] = {fin(2, s2, x), i64s(2, axes)};
        if (build_run(&tc, 11, "Unsqueeze", 1, in11, 1, at, 1, 4, out))
            expect_f32("Unsqueeze opset 11 negative axes", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Unsqueeze", 2, in13, 1, NULL, 0, 4, out))
            expect_f32("Unsqueeze opset 13 axes input", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        struct tin in[1] = {fin(3, s, x)};
        struct qb_attr at[2] = {attr_i("start", 1), attr_i("end", -1)};
        int64_t one[1] = {1}, w1[1] = {3}, wall[3] = {2, 3, 4}, three[1] = {3}, n24 = 24;
        if (build_run(&tc, 15, "Shape", 1, in, 1, at, 2, 1, one))
            expect_bytes("Shape start=1 end=-1", tc.buf[0], w1, 8);
        done(&tc);
        if (build_run(&tc, 13, "Shape", 1, in, 1, NULL, 0, 1, three))
            expect_bytes("Shape", tc.buf[0], wall, 24);
        done(&tc);
        if (build_run(&tc, 13, "Size", 1, in, 1, NULL, 0, 0, NULL))
            expect_bytes("Size", tc.buf[0], &n24, 8);
        done(&tc);
    }
    free(x);
}

static void test_index_ops(void)
{
    struct tcase tc;
    {
        int64_t ds[2] = {5, 4}, is[2] = {2, 3}, out[3] = {5, 2, 3}, ind[6] = {0, -1, 3, 2, -4, 1};
        float *x = rand_buf(20, -1, 1);
        double want[30];
        struct tin in[2] = {fin(2, ds, x), cin(QB_DTYPE_I64, 2, is, ind)};
        struct qb_attr at[1] = {attr_i("axis", -1)};
        for (int r = 0; r < 5; r++)
            for (int k = 0; k < 6; k++)
                want[r * 6 + k] = x[r * 4 + (ind[k] < 0 ? ind[k] + 4 : ind[k])];
        if (build_run(&tc, 13, "Gather", 2, in, 1, at, 1, 3, out))
            expect_f32("Gather axis=-1, negative indices", tc.buf[0], want, 30, 0, 0);
        done(&tc);
        {
            int32_t i32[3] = {4, 0, -5};
            int64_t s3[1] = {3}, out0[2] = {3, 4};
            struct tin in0[2] = {fin(2, ds, x), cin(QB_DTYPE_I32, 1, s3, i32)};
            for (int k = 0; k < 3; k++)
                for (int c = 0; c < 4; c++)
                    want[k * 4 + c] = x[(i32[k] < 0 ? i32[k] + 5 : i32[k]) * 4 + c];
            if (build_run(&tc, 11, "Gather", 2, in0, 1, NULL, 0, 2, out0))
                expect_f32("Gather axis 0, int32 indices", tc.buf[0], want, 12, 0, 0);
            done(&tc);
            i32[0] = 5;
            build(&tc, 11, "Gather", 2, in0, 1, NULL, 0);
            CHECK(tc.prep == QB_ERR_INVALID, "Gather index out of range: prepare gave %d", tc.prep);
            done(&tc);
        }
        {
            int64_t gi[6] = {1, -1, 0, 3, 2, 2}, gs[2] = {2, 3};
            struct tin ge[2] = {fin(2, ds, x), cin(QB_DTYPE_I64, 2, gs, gi)};
            struct qb_attr a1[1] = {attr_i("axis", 1)};
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 3; c++)
                    want[r * 3 + c] = x[r * 4 + (gi[r * 3 + c] < 0 ? gi[r * 3 + c] + 4 : gi[r * 3 + c])];
            if (build_run(&tc, 13, "GatherElements", 2, ge, 1, a1, 1, 2, gs))
                expect_f32("GatherElements axis 1", tc.buf[0], want, 6, 0, 0);
            done(&tc);
        }
        free(x);
    }
    {
        int64_t xs[2] = {3, 1}, shape[3] = {2, 1, 4}, out[3] = {2, 3, 4};
        float x[3] = {1, 2, 3};
        double want[24];
        struct tin in[2] = {fin(2, xs, x), i64s(3, shape)};
        for (int i = 0; i < 24; i++)
            want[i] = x[(i / 4) % 3];
        if (build_run(&tc, 13, "Expand", 2, in, 1, NULL, 0, 3, out))
            expect_f32("Expand [3,1] to [2,1,4]", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t xs[2] = {2, 3}, rep[2] = {2, 3}, out[2] = {4, 9};
        float x[6] = {1, 2, 3, 4, 5, 6};
        double want[36];
        struct tin in[2] = {fin(2, xs, x), i64s(2, rep)};
        for (int i = 0; i < 36; i++)
            want[i] = x[((i / 9) % 2) * 3 + (i % 9) % 3];
        if (build_run(&tc, 13, "Tile", 2, in, 1, NULL, 0, 2, out))
            expect_f32("Tile", tc.buf[0], want, 36, 0, 0);
        done(&tc);
    }
    {
        int64_t st[1] = {10}, li[1] = {1}, de[1] = {-3}, w[3] = {10, 7, 4}, three[1] = {3};
        struct tin in[3] = {cin(QB_DTYPE_I64, 0, NULL, st), cin(QB_DTYPE_I64, 0, NULL, li), cin(QB_DTYPE_I64, 0, NULL, de)};
        if (build_run(&tc, 11, "Range", 3, in, 1, NULL, 0, 1, three))
            expect_bytes("Range int64 negative delta", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    {
        float st[1] = {1}, li[1] = {5}, de[1] = {1.5f};
        double w[3] = {1, 2.5, 4};
        int64_t three[1] = {3};
        struct tin in[3] = {cin(QB_DTYPE_F32, 0, NULL, st), cin(QB_DTYPE_F32, 0, NULL, li), cin(QB_DTYPE_F32, 0, NULL, de)};
        if (build_run(&tc, 11, "Range", 3, in, 1, NULL, 0, 1, three))
            expect_f32("Range float", tc.buf[0], w, 3, 0, 0);
        done(&tc);
    }
}

static void test_scatter_compress(void)
{
    struct tcase tc;
    int64_t s[2] = {2, 3};
    float x[6] = {1, 2, 3, 4, 5, 6};
    {
        int64_t ind[4] = {0, 0, 2, -1}, is[2] = {2, 2};
        float upd[4] = {10, 20, 30, 40};
        struct tin in[3] = {fin(2, s, x), cin(QB_DTYPE_I64, 2, is, ind), cin(QB_DTYPE_F32, 2, is, upd)};
        struct qb_attr at[2] = {attr_i("axis", 1), attr_s("reduction", "add")};
        double w_add[6] = {31, 2, 3, 4, 5, 76}, w_none[6] = {20, 2, 3, 4, 5, 40};
        if (build_run(&tc, 16, "ScatterElements", 3, in, 1, at, 2, 2, s))
            expect_f32("ScatterElements add, duplicate and negative indices", tc.buf[0], w_add, 6, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "ScatterElements", 3, in, 1, at, 1, 2, s))
            expect_f32("ScatterElements none: the last write wins", tc.buf[0], w_none, 6, 0, 0);
        done(&tc);
        build(&tc, 16, "ScatterElements", 3, in, 1, (struct qb_attr[]){attr_s("reduction", "max")}, 1);
        expect_refused("ScatterElements reduction=max before opset 18", &tc);
    }
    {
        uint8_t cond[3] = {1, 0, 1};
        int64_t c3[1] = {3}, out[2] = {2, 2};
        struct tin in[2] = {fin(2, s, x), cin(QB_DTYPE_BOOL, 1, c3, cond)};
        struct qb_attr at[1] = {attr_i("axis", -1)};
        double w[4] = {1, 3, 4, 6};
        if (build_run(&tc, 11, "Compress", 2, in, 1, at, 1, 2, out))
            expect_f32("Compress axis -1", tc.buf[0], w, 4, 0, 0);
        done(&tc);
    }
}

/* Constant and ConstantOfShape take tensor attributes: a constant value of the graph */
static void test_constants(void)
{
    struct tcase tc;
    {
        int64_t v[3] = {4, -2, 9}, three[1] = {3};
        float f = 2.5f;
        struct qb_attr ai[1] = {attr_is("value_ints", 3, v)}, af[1] = {attr_f("value_float", f)};
        double wf[1] = {2.5};
        if (build_run(&tc, 13, "Constant", 0, NULL, 1, ai, 1, 1, three))
            expect_bytes("Constant value_ints", tc.buf[0], v, sizeof(v));
        done(&tc);
        if (build_run(&tc, 13, "Constant", 0, NULL, 1, af, 1, 0, NULL))
            expect_f32("Constant value_float", tc.buf[0], wf, 1, 0, 0);
        done(&tc);
    }
    {
        /* build by hand: the attribute's tensor must live in the same graph */
        struct qb_graph *g;
        struct qb_node *n;
        struct qb_error err = {0};
        int tv, sv, yv;
        int32_t seven = 7;
        int64_t shape[2] = {2, 3};

        assert(qb_graph_new("test.onnx", &g, NULL) == QB_OK);
        g->opset = 13;
        tv = qb_graph_intern_value(g, "");
        g->values[tv].dtype = QB_DTYPE_I32;
        g->values[tv].ndim = 1;
        g->values[tv].shape[0] = 1;
        g->values[tv].data = qb_arena_alloc(g->arena, 4);
        memcpy(g->values[tv].data, &seven, 4);
        g->values[tv].flags = QB_VALUE_CONST;
        sv = qb_graph_intern_value(g, "shape");
        g->values[sv].dtype = QB_DTYPE_I64;
        g->values[sv].ndim = 1;
        g->values[sv].shape[0] = 2;
        g->values[sv].data = qb_arena_alloc(g->arena, 16);
        memcpy(g->values[sv].data, shape, 16);
        g->values[sv].flags = QB_VALUE_CONST | QB_VALUE_INIT;
        yv = qb_graph_intern_value(g, "y");
        g->values[yv].producer = 0;
        g->values[yv].flags = QB_VALUE_OUTPUT;
        g->nodes = qb_arena_calloc(g->arena, 1, sizeof(*n));
        g->n_nodes = 1;
        n = &g->nodes[0];
        n->name = "n0";
        n->op_type = "ConstantOfShape";
        n->domain = "";
        n->n_in = n->n_out = n->n_attr = 1;
        n->in = qb_arena_calloc(g->arena, 1, sizeof(int));
        n->out = qb_arena_calloc(g->arena, 1, sizeof(int));
        n->in[0] = sv;
        n->out[0] = yv;
        n->attrs = qb_arena_calloc(g->arena, 1, sizeof(struct qb_attr));
        n->attrs[0] = (struct qb_attr){.name = "value", .type = QB_ATTR_TENSOR, .u.tensor = tv};
        g->outputs = qb_arena_calloc(g->arena, 1, sizeof(int));
        g->outputs[0] = yv;
        g->n_outputs = 1;
        CHECK(qb_graph_prepare(g, &err) == QB_OK, "ConstantOfShape prepare: %s", err.msg);
        if (g->prepared) {
            const struct qb_value *y = &g->values[yv];
            int32_t want[6] = {7, 7, 7, 7, 7, 7};
            CHECK(y->dtype == QB_DTYPE_I32 && y->ndim == 2 && y->shape[1] == 3 && (y->flags & QB_VALUE_CONST),
                  "ConstantOfShape output: %s rank %d", qb_dtype_name(y->dtype), y->ndim);
            if (y->data)
                expect_bytes("ConstantOfShape int32 7 (folded)", y->data, want, sizeof(want));
        }
        /* Constant with the same tensor */
        qb_graph_free(g);
    }
}

static double pad_src(const char *mode, int64_t o, int64_t begin, int64_t dim)
{
    int64_t i = o - begin;
    if (i >= 0 && i < dim)
        return (double)i;
    if (strcmp(mode, "edge") == 0)
        return i < 0 ? 0 : (double)(dim - 1);
    if (strcmp(mode, "reflect") == 0)
        return i < 0 ? (double)-i : (double)(2 * (dim - 1) - i);
    return -1;
}

static void test_pad(void)
{
    int64_t xs[2] = {3, 4};
    float *x = rand_buf(12, -1, 1);
    static const struct {
        const char *mode;
        int64_t pads[4];
        int opset;
    } cases[] = {
        {"constant", {1, 0, 2, 1}, 11}, {"reflect", {0, 2, 2, 3}, 13}, {"edge", {1, 1, 1, 1}, 13},
        {"constant", {-1, 1, 0, -2}, 13}, {"constant", {1, 2, 0, 1}, 2}, {"edge", {2, 0, 0, 3}, 18},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const int64_t *p = cases[c].pads;
        int64_t out[2] = {3 + p[0] + p[2], 4 + p[1] + p[3]}, on = out[0] * out[1];
        float cv[1] = {2.5f};
        double want[64];
        struct qb_attr at[3];
        struct tin in[4];
        struct tcase tc;
        char what[64];
        int na = 0, nin;

        for (int64_t i = 0; i < on; i++) {
            double r = pad_src(cases[c].mode, i / out[1], p[0], 3), q = pad_src(cases[c].mode, i % out[1], p[1], 4);
            want[i] = r < 0 || q < 0 ? 2.5 : x[(int)r * 4 + (int)q];
        }
        at[na++] = attr_s("mode", cases[c].mode);
        in[0] = fin(2, xs, x);
        if (cases[c].opset < 11) {
            at[na++] = attr_is("pads", 4, (int64_t *)p);
            at[na++] = attr_f("value", 2.5f);
            nin = 1;
        } else if (cases[c].opset < 18) {
            in[1] = i64s(4, p);
            in[2] = cin(QB_DTYPE_F32, 0, NULL, cv);
            nin = 3;
        } else {
            /* opset 18: pads for the listed axes only */
            static int64_t axes[2] = {-2, 1};
            in[1] = i64s(4, p);
            in[2] = cin(QB_DTYPE_F32, 0, NULL, cv);
            in[3] = i64s(2, axes);
            nin = 4;
        }
        snprintf(what, sizeof(what), "Pad %s opset %d #%zu", cases[c].mode, cases[c].opset, c);
        if (build_run(&tc, cases[c].opset, "Pad", nin, in, 1, at, na, 2, out))
            expect_f32(what, tc.buf[0], want, on, 0, 0);
        done(&tc);
    }
    free(x);
}

static void test_space_depth(void)
{
    int64_t xs[4] = {2, 8, 3, 2};
    float *x = rand_buf(96, -1, 1);
    double want[96];
    struct tcase tc;
    for (int crd = 0; crd < 2; crd++) {
        int64_t out[4] = {2, 2, 6, 4};
        struct qb_attr at[2] = {attr_i("blocksize", 2), attr_s("mode", crd ? "CRD" : "DCR")};
        struct tin in[1] = {fin(4, xs, x)};
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 2; c++)
                for (int h = 0; h < 6; h++)
                    for (int w = 0; w < 4; w++) {
                        int bh = h % 2, bw = w % 2, ic = crd ? c * 4 + bh * 2 + bw : (bh * 2 + bw) * 2 + c;
                        want[((n * 2 + c) * 6 + h) * 4 + w] = x[((n * 8 + ic) * 3 + h / 2) * 2 + w / 2];
                    }
        if (build_run(&tc, 13, "DepthToSpace", 1, in, 1, at, 2, 4, out))
            expect_f32(crd ? "DepthToSpace CRD" : "DepthToSpace DCR", tc.buf[0], want, 96, 0, 0);
        done(&tc);
    }
    {
        int64_t ss[4] = {1, 2, 4, 6}, out[4] = {1, 8, 2, 3};
        struct qb_attr at[1] = {attr_i("blocksize", 2)};
        struct tin in[1] = {fin(4, ss, x)};
        for (int c = 0; c < 8; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 3; w++) {
                    int ic = c % 2, b = c / 2, bh = b / 2, bw = b % 2;
                    want[(c * 2 + h) * 3 + w] = x[(ic * 4 + h * 2 + bh) * 6 + w * 2 + bw];
                }
        if (build_run(&tc, 13, "SpaceToDepth", 1, in, 1, at, 1, 4, out))
            expect_f32("SpaceToDepth", tc.buf[0], want, 48, 0, 0);
        done(&tc);
    }
    free(x);
}

/* reductions ------------------------------------------------------------------------------- */

/* softmax over groups: element i belongs to group (i / (R*I), i % I), strided by I */
static void ref_softmax(const float *x, double *y, int64_t O, int64_t R, int64_t I, int kind)
{
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            double m = -INFINITY, s = 0;
            int64_t best = 0;
            for (int64_t r = 0; r < R; r++) {
                double v = x[(o * R + r) * I + i];
                if (v > m) {
                    m = v;
                    best = r;
                }
            }
            for (int64_t r = 0; r < R; r++)
                s += exp(x[(o * R + r) * I + i] - m);
            for (int64_t r = 0; r < R; r++) {
                double v = x[(o * R + r) * I + i];
                y[(o * R + r) * I + i] = kind == 0 ? exp(v - m) / s : kind == 1 ? v - m - log(s) : (r == best);
            }
        }
}

static void test_softmax(void)
{
    int64_t s[3] = {2, 3, 4}, big[4] = {2, 16, 4, 1000};
    float *x = rand_buf(24, -5, 5), *bx = rand_buf(128000, -8, 8);
    double want[24], *bw = malloc(sizeof(double) * 128000);
    struct tcase tc;
    struct qb_attr a1[1] = {attr_i("axis", 1)}, am1[1] = {attr_i("axis", -1)};
    struct tin in[1] = {fin(3, s, x)};

    /* opset 11: axis=1 means rows of prod(dims[1:]) = 12 */
    ref_softmax(x, want, 2, 12, 1, 0);
    if (build_run(&tc, 11, "Softmax", 1, in, 1, a1, 1, 3, s))
        expect_f32("Softmax opset 11 axis=1 (2-D coercion)", tc.buf[0], want, 24, 1e-6, 1e-7);
    done(&tc);
    /* opset 13: axis=1 alone, strided */
    ref_softmax(x, want, 2, 3, 4, 0);
    if (build_run(&tc, 13, "Softmax", 1, in, 1, a1, 1, 3, s))
        expect_f32("Softmax opset 13 axis=1", tc.buf[0], want, 24, 1e-6, 1e-7);
    done(&tc);
    ref_softmax(x, want, 6, 4, 1, 0);
    if (build_run(&tc, 13, "Softmax", 1, in, 1, NULL, 0, 3, s))
        expect_f32("Softmax opset 13 default axis -1", tc.buf[0], want, 24, 1e-6, 1e-7);
    done(&tc);
    ref_softmax(x, want, 6, 4, 1, 1);
    if (build_run(&tc, 13, "LogSoftmax", 1, in, 1, am1, 1, 3, s))
        expect_f32("LogSoftmax axis -1", tc.buf[0], want, 24, 1e-6, 1e-6);
    done(&tc);
    ref_softmax(x, want, 2, 3, 4, 2);
    if (build_run(&tc, 13, "Hardmax", 1, in, 1, a1, 1, 3, s))
        expect_f32("Hardmax axis 1", tc.buf[0], want, 24, 0, 0);
    done(&tc);
    {
        float l[4] = {1000, 1001, 1002, 1003};
        int64_t s4[2] = {1, 4};
        struct tin lin[1] = {fin(2, s4, l)};
        ref_softmax(l, want, 1, 4, 1, 0);
        if (build_run(&tc, 13, "Softmax", 1, lin, 1, NULL, 0, 2, s4))
            expect_f32("Softmax large numbers", tc.buf[0], want, 4, 1e-6, 1e-7);
        done(&tc);
    }
    {
        /* DFL-like: softmax over 16 bins of [2,16,4,1000] */
        struct tin bin[1] = {fin(4, big, bx)};
        ref_softmax(bx, bw, 2, 16, 4000, 0);
        if (build_run(&tc, 13, "Softmax", 1, bin, 1, a1, 1, 4, big))
            expect_f32("Softmax [2,16,4,1000] axis 1 (threads)", tc.buf[0], bw, 128000, 2e-6, 1e-7);
        done(&tc);
        ref_softmax(bx, bw, 128, 1000, 1, 0);
        if (build_run(&tc, 13, "Softmax", 1, bin, 1, am1, 1, 4, big))
            expect_f32("Softmax rows of 1000 (threads)", tc.buf[0], bw, 128000, 2e-6, 1e-8);
        done(&tc);
    }
    free(x);
    free(bx);
    free(bw);
}

enum rop { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LSE, R_SUMSQ, R_LOGSUM };

static void ref_reduce(const float *x, int nd, const int64_t *shape, const bool *red, enum rop op, double *y)
{
    int64_t n = numel_of(nd, shape), on = 1, oshape[QB_MAX_DIMS];
    for (int d = 0; d < nd; d++)
        on *= (oshape[d] = red[d] ? 1 : shape[d]);
    for (int64_t j = 0; j < on; j++) {
        double acc = op == R_MAX ? -INFINITY : op == R_MIN ? INFINITY : op == R_PROD ? 1 : 0, m = -INFINITY;
        int64_t cnt = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t i = 0; i < n; i++) {
                int64_t rem = i, oj = 0, st = 1;
                for (int d = nd - 1; d >= 0; d--) {
                    int64_t k = rem % shape[d];
                    rem /= shape[d];
                    if (!red[d])
                        oj += k * st;
                    st *= oshape[d];
                }
                if (oj != j)
                    continue;
                double v = x[i];
                if (pass == 0) {
                    m = v > m ? v : m;
                    continue;
                }
                cnt++;
                switch (op) {
                case R_MAX: acc = v > acc ? v : acc; break;
                case R_MIN: acc = v < acc ? v : acc; break;
                case R_PROD: acc *= v; break;
                case R_L1: acc += fabs(v); break;
                case R_L2:
                case R_SUMSQ: acc += v * v; break;
                case R_LSE: acc += exp(v - m); break;
                default: acc += v;
                }
            }
        y[j] = op == R_MEAN ? acc / (double)cnt : op == R_L2 ? sqrt(acc) : op == R_LSE ? log(acc) + m
             : op == R_LOGSUM ? log(acc) : acc;
    }
}

static void test_reduce(void)
{
    int64_t s[3] = {3, 4, 5};
    float *x = rand_buf(60, 0.5f, 2);
    static const struct {
        const char *op;
        enum rop r;
        int opset;
        bool axes_input, keep;
        int na;
        int64_t axes[3];
    } cases[] = {
        {"ReduceMean", R_MEAN, 13, false, true, 1, {1}},     {"ReduceMean", R_MEAN, 18, true, false, 1, {-1}},
        {"ReduceSum", R_SUM, 11, false, true, 2, {0, 2}},    {"ReduceSum", R_SUM, 13, true, false, 2, {0, 2}},
        {"ReduceMax", R_MAX, 18, true, true, 1, {-1}},       {"ReduceMin", R_MIN, 13, false, false, 2, {1, 2}},
        {"ReduceProd", R_PROD, 13, false, true, 1, {1}},     {"ReduceL1", R_L1, 13, false, true, 1, {0}},
        {"ReduceL2", R_L2, 13, false, false, 0, {0}},        {"ReduceLogSumExp", R_LSE, 13, false, true, 2, {0, 2}},
        {"ReduceLogSumExp", R_LSE, 18, true, false, 1, {1}}, {"ReduceSumSquare", R_SUMSQ, 18, true, true, 3, {0, 1, 2}},
        {"ReduceLogSum", R_LOGSUM, 13, false, true, 1, {2}},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        bool red[3] = {cases[c].na == 0, cases[c].na == 0, cases[c].na == 0};
        int64_t out[3];
        int nd = 0;
        double want[60];
        struct qb_attr at[2];
        struct tin in[2] = {fin(3, s, x), i64s(cases[c].na, cases[c].axes)};
        struct tcase tc;
        char what[80];
        int na = 0;
        for (int i = 0; i < cases[c].na; i++)
            red[cases[c].axes[i] < 0 ? cases[c].axes[i] + 3 : cases[c].axes[i]] = true;
        for (int d = 0; d < 3; d++)
            if (!red[d] || cases[c].keep)
                out[nd++] = red[d] ? 1 : s[d];
        ref_reduce(x, 3, s, red, cases[c].r, want);
        at[na++] = attr_i("keepdims", cases[c].keep);
        if (!cases[c].axes_input && cases[c].na)
            at[na++] = attr_is("axes", cases[c].na, (int64_t *)cases[c].axes);
        snprintf(what, sizeof(what), "%s opset %d #%zu", cases[c].op, cases[c].opset, c);
        if (build_run(&tc, cases[c].opset, cases[c].op, cases[c].axes_input ? 2 : 1, in, 1, at, na, nd, out))
            expect_f32(what, tc.buf[0], want, numel_of(nd, out), 2e-6, 1e-6);
        done(&tc);
    }
    {
        /* empty axes with noop_with_empty_axes: identity; without it: all axes */
        struct qb_attr at[1] = {attr_i("noop_with_empty_axes", 1)};
        struct tin in[2] = {fin(3, s, x), i64s(0, NULL)};
        struct tcase tc;
        double want[60];
        int64_t one[3] = {1, 1, 1};
        bool all[3] = {true, true, true};
        for (int i = 0; i < 60; i++)
            want[i] = x[i];
        if (build_run(&tc, 13, "ReduceSum", 2, in, 1, at, 1, 3, s))
            expect_f32("ReduceSum noop_with_empty_axes", tc.buf[0], want, 60, 0, 0);
        done(&tc);
        ref_reduce(x, 3, s, all, R_SUM, want);
        if (build_run(&tc, 13, "ReduceSum", 2, in, 1, NULL, 0, 3, one))
            expect_f32("ReduceSum empty axes reduce all", tc.buf[0], want, 1, 1e-6, 0);
        done(&tc);
    }
    {
        int64_t v[6] = {3, -9, 4, 4, 7, 1}, s2[2] = {2, 3}, w[2] = {-9, 1}, two[1] = {2};
        struct tin in[1] = {cin(QB_DTYPE_I64, 2, s2, v)};
        int64_t ax[1] = {1};
        struct qb_attr at[2] = {attr_is("axes", 1, ax), attr_i("keepdims", 0)};
        struct tcase tc;
        if (build_run(&tc, 13, "ReduceMin", 1, in, 1, at, 2, 1, two))
            expect_bytes("ReduceMin int64", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    free(x);
}

static void test_argmax_cumsum_topk(void)
{
    float x[12] = {1, 5, 5, 2, 7, 0, 7, 3, -1, -1, 4, 4};
    int64_t s[2] = {3, 4}, o0[1] = {3}, o1[2] = {1, 4};
    struct tcase tc;
    {
        struct qb_attr at[2] = {attr_i("axis", 1), attr_i("keepdims", 0)};
        struct tin in[1] = {fin(2, s, x)};
        int64_t w[3] = {1, 0, 2};
        if (build_run(&tc, 13, "ArgMax", 1, in, 1, at, 2, 1, o0))
            expect_bytes("ArgMax axis 1 first of ties", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    {
        struct qb_attr at[3] = {attr_i("axis", -1), attr_i("keepdims", 0), attr_i("select_last_index", 1)};
        struct tin in[1] = {fin(2, s, x)};
        int64_t w[3] = {2, 2, 3}, wmin[3] = {0, 1, 1};
        if (build_run(&tc, 13, "ArgMax", 1, in, 1, at, 3, 1, o0))
            expect_bytes("ArgMax select_last_index", tc.buf[0], w, sizeof(w));
        done(&tc);
        if (build_run(&tc, 13, "ArgMin", 1, in, 1, at, 3, 1, o0))
            expect_bytes("ArgMin select_last_index", tc.buf[0], wmin, sizeof(wmin));
        done(&tc);
    }
    {
        struct qb_attr at[1] = {attr_i("axis", 0)};
        struct tin in[1] = {fin(2, s, x)};
        int64_t w[4] = {1, 0, 1, 2};
        if (build_run(&tc, 13, "ArgMax", 1, in, 1, at, 1, 2, o1))
            expect_bytes("ArgMax axis 0 keepdims", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    {
        int64_t ax[1] = {1};
        struct qb_attr at[2] = {attr_i("exclusive", 1), attr_i("reverse", 1)};
        struct tin in[2] = {fin(2, s, x), cin(QB_DTYPE_I64, 0, NULL, ax)};
        double w[12];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) {
                double acc = 0;
                for (int k = c + 1; k < 4; k++)
                    acc += x[r * 4 + k];
                w[r * 4 + c] = acc;
            }
        if (build_run(&tc, 14, "CumSum", 2, in, 1, at, 2, 2, s))
            expect_f32("CumSum exclusive reverse", tc.buf[0], w, 12, 1e-6, 0);
        done(&tc);
    }
    {
        int64_t k[1] = {2}, out[2] = {3, 2};
        struct tin in[2] = {fin(2, s, x), i64s(1, k)};
        double wv[6] = {5, 5, 7, 7, 4, 4};
        int64_t wi[6] = {1, 2, 0, 2, 2, 3};
        if (build_run(&tc, 11, "TopK", 2, in, 2, NULL, 0, 2, out)) {
            expect_f32("TopK values", tc.buf[0], wv, 6, 0, 0);
            expect_bytes("TopK indices (ties by index)", tc.buf[1], wi, sizeof(wi));
        }
        done(&tc);
    }
}

/* resize ---------------------------------------------------------------------------------- */

/* ONNX Resize on the last two dims, in double, from the operator's definition */
static double rs_coord(const char *ct, double x, double scale, double out_len, double in_len)
{
    if (strcmp(ct, "asymmetric") == 0)
        return x / scale;
    if (strcmp(ct, "align_corners") == 0)
        return out_len == 1 ? 0 : x * (in_len - 1) / (out_len - 1);
    if (strcmp(ct, "pytorch_half_pixel") == 0)
        return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0;
    if (strcmp(ct, "tf_half_pixel_for_nn") == 0)
        return (x + 0.5) / scale;
    return (x + 0.5) / scale - 0.5;
}

static int64_t rs_nearest(const char *nm, double v, int64_t len)
{
    int64_t i;
    if (strcmp(nm, "floor") == 0)
        i = (int64_t)floor(v);
    else if (strcmp(nm, "ceil") == 0)
        i = (int64_t)ceil(v);
    else if (strcmp(nm, "round_prefer_ceil") == 0)
        i = (int64_t)floor(v + 0.5);
    else
        i = (int64_t)ceil(v - 0.5); /* round_prefer_floor */
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

/* cubic and linear weights of input index k for coordinate v */
static double rs_weight(bool cubic, double v, int64_t k, int64_t len, double a)
{
    if (!cubic) {
        double c = v < 0 ? 0 : v > (double)(len - 1) ? (double)(len - 1) : v, t = 1 - fabs(c - (double)k);
        return t > 0 ? t : 0;
    } else {
        double s = fabs(v - (double)k);
        if (s < 1)
            return ((a + 2) * s - (a + 3)) * s * s + 1;
        if (s < 2)
            return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
        return 0;
    }
}

static void ref_resize(const float *x, int64_t N, int64_t H, int64_t W, int64_t OH, int64_t OW, double sh, double sw,
                       const char *mode, const char *ct, const char *nm, double *y)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                double vy = rs_coord(ct, (double)oy, sh, (double)OH, (double)H);
                double vx = rs_coord(ct, (double)ox, sw, (double)OW, (double)W), acc = 0;
                const float *p = x + n * H * W;
                if (strcmp(mode, "nearest") == 0) {
                    acc = p[rs_nearest(nm, vy, H) * W + rs_nearest(nm, vx, W)];
                } else {
                    bool cubic = strcmp(mode, "cubic") == 0;
                    /* taps beyond the edge read the edge pixel (clamped index) */
                    for (int64_t ky = (int64_t)floor(vy) - 2; ky <= (int64_t)floor(vy) + 3; ky++)
                        for (int64_t kx = (int64_t)floor(vx) - 2; kx <= (int64_t)floor(vx) + 3; kx++) {
                            double w = rs_weight(cubic, vy, ky, H, -0.75) * rs_weight(cubic, vx, kx, W, -0.75);
                            int64_t cy = ky < 0 ? 0 : ky >= H ? H - 1 : ky, cx = kx < 0 ? 0 : kx >= W ? W - 1 : kx;
                            if (!cubic && (ky < 0 || ky >= H || kx < 0 || kx >= W))
                                continue;
                            acc += w * p[cy * W + cx];
                        }
                }
                y[(n * OH + oy) * OW + ox] = acc;
            }
}

static void test_resize(void)
{
    static const struct {
        const char *mode, *ct, *nm;
        int64_t h, w, oh, ow;
        bool sizes;
        int opset;
    } cases[] = {
        {"nearest", "asymmetric", "floor", 20, 20, 40, 40, false, 13},
        {"nearest", "asymmetric", "floor", 5, 7, 10, 14, false, 11},
        {"nearest", "half_pixel", "round_prefer_floor", 4, 5, 7, 9, true, 13},
        {"nearest", "half_pixel", "round_prefer_ceil", 4, 5, 7, 3, true, 13},
        {"nearest", "align_corners", "ceil", 4, 5, 7, 9, true, 18},
        {"nearest", "tf_half_pixel_for_nn", "floor", 6, 6, 4, 3, true, 11},
        {"linear", "half_pixel", NULL, 4, 5, 7, 3, true, 13},
        {"linear", "pytorch_half_pixel", NULL, 4, 5, 8, 1, true, 13},
        {"linear", "align_corners", NULL, 4, 5, 7, 9, true, 13},
        {"linear", "asymmetric", NULL, 4, 5, 8, 10, false, 19},
        {"cubic", "half_pixel", NULL, 4, 5, 6, 8, false, 13},
        {"cubic", "align_corners", NULL, 5, 4, 3, 7, true, 13},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int64_t N = 6, xs[4] = {2, 3, cases[c].h, cases[c].w}, out[4] = {2, 3, cases[c].oh, cases[c].ow};
        int64_t n = numel_of(4, xs), on = numel_of(4, out);
        float *x = rand_buf(n, -2, 2), sc[4] = {1, 1, (float)cases[c].oh / (float)cases[c].h,
                                                   (float)cases[c].ow / (float)cases[c].w};
        double *want = malloc(sizeof(double) * (size_t)on);
        struct qb_attr at[3];
        struct tin in[4];
        struct tcase tc;
        char what[96];
        int na = 0;
        int64_t four[1] = {4};

        at[na++] = attr_s("mode", cases[c].mode);
        at[na++] = attr_s("coordinate_transformation_mode", cases[c].ct);
        if (cases[c].nm)
            at[na++] = attr_s("nearest_mode", cases[c].nm);
        in[0] = fin(4, xs, x);
        in[1] = omitted;
        if (cases[c].sizes) {
            in[2] = omitted;
            in[3] = i64s(4, out);
        } else {
            in[2] = cin(QB_DTYPE_F32, 1, four, sc);
        }
        ref_resize(x, N, cases[c].h, cases[c].w, cases[c].oh, cases[c].ow, sc[2], sc[3], cases[c].mode, cases[c].ct,
                   cases[c].nm ? cases[c].nm : "", want);
        snprintf(what, sizeof(what), "Resize %s %s %s %lldx%lld->%lldx%lld", cases[c].mode, cases[c].ct,
                 cases[c].nm ? cases[c].nm : "", (long long)cases[c].h, (long long)cases[c].w,
                 (long long)cases[c].oh, (long long)cases[c].ow);
        if (build_run(&tc, cases[c].opset, "Resize", cases[c].sizes ? 4 : 3, in, 1, at, na, 4, out))
            expect_f32(what, tc.buf[0], want, on, 2e-6, 2e-6);
        done(&tc);
        free(x);
        free(want);
    }
    {
        /* YOLO's upsample at a real size, through the threads */
        int64_t xs[4] = {2, 64, 40, 40}, out[4] = {2, 64, 80, 80}, four[1] = {4}, n = 204800;
        float *x = rand_buf(n, -2, 2), sc[4] = {1, 1, 2, 2};
        double *want = malloc(sizeof(double) * 4 * (size_t)n);
        struct qb_attr at[3] = {attr_s("mode", "nearest"), attr_s("coordinate_transformation_mode", "asymmetric"),
                                attr_s("nearest_mode", "floor")};
        struct tin in[3] = {fin(4, xs, x), omitted, cin(QB_DTYPE_F32, 1, four, sc)};
        struct tcase tc;
        ref_resize(x, 128, 40, 40, 80, 80, 2, 2, "nearest", "asymmetric", "floor", want);
        if (build_run(&tc, 17, "Resize", 3, in, 1, at, 3, 4, out))
            expect_f32("Resize nearest 2x [2,64,40,40] (threads)", tc.buf[0], want, 4 * n, 0, 0);
        done(&tc);
        free(x);
        free(want);
    }
    {
        /* opset 10 Resize and opset 9 Upsample: asymmetric, nearest truncates */
        int64_t xs[4] = {1, 2, 3, 4}, out[4] = {1, 2, 6, 12}, four[1] = {4};
        float *x = rand_buf(24, -2, 2), sc[4] = {1, 1, 2, 3};
        double want[144];
        struct qb_attr at[1] = {attr_s("mode", "nearest")}, al[1] = {attr_s("mode", "linear")};
        struct tin in[2] = {fin(4, xs, x), cin(QB_DTYPE_F32, 1, four, sc)};
        struct tcase tc;
        ref_resize(x, 2, 3, 4, 6, 12, 2, 3, "nearest", "asymmetric", "floor", want);
        if (build_run(&tc, 10, "Resize", 2, in, 1, at, 1, 4, out))
            expect_f32("Resize-10 nearest", tc.buf[0], want, 144, 0, 0);
        done(&tc);
        if (build_run(&tc, 9, "Upsample", 2, in, 1, at, 1, 4, out))
            expect_f32("Upsample-9 nearest", tc.buf[0], want, 144, 0, 0);
        done(&tc);
        ref_resize(x, 2, 3, 4, 6, 12, 2, 3, "linear", "asymmetric", NULL, want);
        {
            struct qb_attr a7[2] = {attr_s("mode", "linear"), attr_fs("scales", 4, sc)};
            struct tin in7[1] = {fin(4, xs, x)};
            if (build_run(&tc, 7, "Upsample", 1, in7, 1, a7, 2, 4, out))
                expect_f32("Upsample-7 linear (scales attribute)", tc.buf[0], want, 144, 2e-6, 2e-6);
            done(&tc);
        }
        if (build_run(&tc, 10, "Resize", 2, in, 1, al, 1, 4, out))
            expect_f32("Resize-10 linear", tc.buf[0], want, 144, 2e-6, 2e-6);
        done(&tc);
        free(x);
    }
    {
        /* opset 19 half_pixel_symmetric (the operator's documented example) and
         * opset 18 axes: sizes for the listed axes only */
        int64_t xs[4] = {1, 1, 1, 4}, out[4] = {1, 1, 1, 2}, one[1] = {1};
        float x[4] = {1, 2, 3, 4}, sc[1] = {0.6f};
        int64_t ax[1] = {-1};
        double want[2] = {1.6666666, 3.3333333};
        struct qb_attr at[3] = {attr_s("mode", "linear"), attr_s("coordinate_transformation_mode", "half_pixel_symmetric"),
                                attr_is("axes", 1, ax)};
        struct tin in[3] = {fin(4, xs, x), omitted, cin(QB_DTYPE_F32, 1, one, sc)};
        struct tcase tc;
        if (build_run(&tc, 19, "Resize", 3, in, 1, at, 3, 4, out))
            expect_f32("Resize half_pixel_symmetric, axes=[-1]", tc.buf[0], want, 2, 1e-6, 0);
        done(&tc);
        build(&tc, 18, "Resize", 3, in, 1, at, 3);
        expect_refused("Resize half_pixel_symmetric before opset 19", &tc);
    }
    {
        /* nearest on int64 data (any dtype moves) */
        int64_t xs[2] = {2, 3}, out[2] = {4, 6}, two[1] = {2}, x[6] = {1, 2, 3, 4, 5, 6}, w[24];
        float sc[2] = {2, 2};
        struct qb_attr at[2] = {attr_s("coordinate_transformation_mode", "asymmetric"), attr_s("nearest_mode", "floor")};
        struct tin in[3] = {cin(QB_DTYPE_I64, 2, xs, x), omitted, cin(QB_DTYPE_F32, 1, two, sc)};
        struct tcase tc;
        for (int i = 0; i < 24; i++)
            w[i] = x[(i / 6 / 2) * 3 + (i % 6) / 2];
        if (build_run(&tc, 13, "Resize", 3, in, 1, at, 2, 2, out))
            expect_bytes("Resize nearest int64", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
}

/* refusals ---------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    int64_t s[2] = {2, 3}, four[1] = {4}, xs4[4] = {1, 1, 2, 2};
    float x[6] = {0}, sc[4] = {1, 1, 2, 2};
    int32_t xi[6] = {0};
    struct tcase tc;
    {
        struct tin in[1] = {cin(QB_DTYPE_I32, 2, s, xi)};
        build(&tc, 13, "Sigmoid", 1, in, 1, NULL, 0);
        expect_refused("Sigmoid on int32", &tc);
        build(&tc, 13, "Softmax", 1, in, 1, NULL, 0);
        expect_refused("Softmax on int32", &tc);
        build(&tc, 13, "ReduceL2", 1, in, 1, NULL, 0);
        expect_refused("ReduceL2 on int32", &tc);
        build(&tc, 13, "Exp", 1, in, 1, NULL, 0);
        expect_refused("Exp on int32", &tc);
    }
    {
        struct tin in[2] = {cin(QB_DTYPE_STRING, 2, s, xi), cin(QB_DTYPE_STRING, 2, s, xi)};
        build(&tc, 13, "Add", 2, in, 1, NULL, 0);
        expect_refused("Add on strings", &tc);
    }
    {
        struct tin in[2] = {cin(QB_DTYPE_BOOL, 2, s, xi), cin(QB_DTYPE_BOOL, 2, s, xi)};
        build(&tc, 13, "Mod", 2, in, 1, NULL, 0);
        expect_refused("Mod on bool", &tc);
        build(&tc, 13, "Sub", 2, in, 1, NULL, 0);
        expect_refused("Sub on bool", &tc);
    }
    {
        struct tin in[1] = {fin(2, s, x)};
        struct qb_attr to_str[1] = {attr_i("to", 8)}, bad_gelu[1] = {attr_s("approximate", "erf")};
        struct qb_attr pad_wrap[1] = {attr_s("mode", "wrap")}, unknown[1] = {attr_i("color", 1)};
        int64_t pads[4] = {0, 1, 0, 1};
        struct tin pin[2] = {fin(2, s, x), i64s(4, pads)};
        build(&tc, 13, "Cast", 1, in, 1, to_str, 1);
        expect_refused("Cast to string", &tc);
        build(&tc, 20, "Gelu", 1, in, 1, bad_gelu, 1);
        expect_refused("Gelu approximate=erf", &tc);
        build(&tc, 18, "Pad", 2, pin, 1, pad_wrap, 1);
        expect_refused("Pad wrap before opset 19", &tc);
        build(&tc, 13, "Relu", 1, in, 1, unknown, 1);
        expect_refused("unknown attribute", &tc);
        build(&tc, 19, "Gelu", 1, in, 1, NULL, 0);
        expect_refused("Gelu before opset 20", &tc);
    }
    {
        int64_t pads[4] = {0, 3, 0, 0};
        struct tin pin[2] = {fin(2, s, x), i64s(4, pads)};
        struct qb_attr reflect[1] = {attr_s("mode", "reflect")};
        build(&tc, 13, "Pad", 2, pin, 1, reflect, 1);
        expect_refused("Pad reflect wider than the dim", &tc);
    }
    {
        struct tin in[3] = {fin(4, xs4, x), omitted, cin(QB_DTYPE_F32, 1, four, sc)};
        struct tin rt[3] = {fin(4, xs4, x), omitted, fin(1, four, sc)};
        struct qb_attr anti[2] = {attr_s("mode", "linear"), attr_i("antialias", 1)};
        struct qb_attr keep[1] = {attr_s("keep_aspect_ratio_policy", "not_larger")};
        struct qb_attr cubic_old[1] = {attr_s("mode", "cubic")};
        build(&tc, 18, "Resize", 3, in, 1, anti, 2);
        expect_refused("Resize antialias", &tc);
        build(&tc, 18, "Resize", 3, in, 1, keep, 1);
        expect_refused("Resize keep_aspect_ratio_policy", &tc);
        build(&tc, 13, "Resize", 3, rt, 1, NULL, 0);
        expect_refused("Resize with scales computed at run time", &tc);
        {
            struct tin in10[2] = {fin(4, xs4, x), cin(QB_DTYPE_F32, 1, four, sc)};
            build(&tc, 10, "Resize", 2, in10, 1, cubic_old, 1);
            expect_refused("Resize-10 cubic", &tc);
        }
    }
    {
        int64_t spec[2] = {3, 2};
        struct tin in[2] = {fin(2, s, x), fin(1, s, x)};
        build(&tc, 13, "Reshape", 2, in, 1, NULL, 0);
        CHECK(tc.prep == QB_ERR_UNSUPPORTED || tc.prep == QB_ERR_INVALID, "Reshape with a runtime shape: %d", tc.prep);
        done(&tc);
        (void)spec;
    }
    {
        struct tin in[2] = {fin(2, s, x), fin(2, s, x)};
        struct qb_attr tm[1] = {attr_i("is_test", 0)};
        build(&tc, 6, "Dropout", 1, in, 1, tm, 1);
        expect_refused("Dropout is_test=0", &tc);
    }
}

static void run_all_cases(void)
{
    test_unary();
    test_sigmoid_tails();
    test_gelu_tanh();
    test_act_isa();
    test_unary_int();
    test_binary_f32();
    test_prelu_legacy();
    test_binary_int();
    test_variadic_where();
    test_clip_cast();
    test_transpose();
    test_concat_split();
    test_slice();
    test_reshape_family();
    test_index_ops();
    test_constants();
    test_scatter_compress();
    test_pad();
    test_space_depth();
    test_softmax();
    test_reduce();
    test_argmax_cumsum_topk();
    test_resize();
    test_refusals();
}

int main(void)
{
    pool = qb_pool_new(2);
    assert(pool);
    run_all_cases();
    qb_pool_free(pool);
    printf("test_ops_misc: %d checks passed, %d failed\n", n_pass, n_fail);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
