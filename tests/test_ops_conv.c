/* Conv, ConvTranspose, BatchNormalization and the pools against plain
 * reference loops (double accumulation) written here, on random shapes with a
 * fixed seed: odd sizes, groups, depthwise, strides, dilations, pads, auto_pad,
 * ceil_mode. Every run goes through qb_graph_prepare() and the op's
 * prepare/run with guard regions around the output, with no pool and with a
 * 2-thread pool (results must be bitwise identical), and with the portable
 * GEMM kernel. Refusals of what run() does not implement are checked too.
 *
 *   test_ops_conv            the tests
 *   test_ops_conv --bench [THREADS [FILTER]]
 *                            GFLOP/s of YOLO11n's convolution shapes at 640
 *   test_ops_conv --bench-model MODEL [THREADS [-v]]
 *                            time of every node of a model that these ops run
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/graph.h"
#include "core/onnx.h"
#include "core/op.h"
#include "core/ops/sgemm.h"

#define GUARD 64
#define GUARD_VAL 12345.678f
#define MAX_IN 5
#define MAX_ATTR 12

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static int n_checks, n_failed;

static unsigned rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng_state >> 33);
}
static int rint_in(int lo, int hi) { return lo + (int)(rnd() % (unsigned)(hi - lo + 1)); }
static float rfloat(void) { return (float)(rnd() % 20001) / 10000.0f - 1.0f; }

static void check(int ok, const char *what)
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

static void attr_ints(struct tnode *t, const char *name, int n, const int64_t *v)
{
    struct qb_attr *a = &t->attrs[t->n_attr];
    memcpy(t->ints[t->n_attr], v, (size_t)n * sizeof(int64_t));
    a->name = name;
    a->type = QB_ATTR_INTS;
    a->n = n;
    a->u.is = t->ints[t->n_attr++];
}
static void attr_int(struct tnode *t, const char *name, int64_t v)
{
    struct qb_attr *a = &t->attrs[t->n_attr++];
    a->name = name;
    a->type = QB_ATTR_INT;
    a->u.i = v;
}
static void attr_float(struct tnode *t, const char *name, float v)
{
    struct qb_attr *a = &t->attrs[t->n_attr++];
    a->name = name;
    a->type = QB_ATTR_FLOAT;
    a->u.f = v;
}
static void attr_str(struct tnode *t, const char *name, const char *v)
{
    struct qb_attr *a = &t->attrs[t->n_attr++];
    a->name = name;
    a->type = QB_ATTR_STRING;
    a->u.s = v;
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* Builds and prepares the graph; returns the status of qb_graph_prepare(). */
static enum qb_status build(const struct tnode *t, struct qb_graph **out, struct qb_error *err)
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
static void run_node(struct qb_graph *g, const struct tnode *t, struct qb_pool *pool, void **outs)
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
static int close_enough(const float *got, const double *want, const double *mag, int64_t n, const char *what)
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

static float *rand_buf(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    assert(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = rfloat();
    return p;
}

/* Runs one prepared case three ways (no pool, 2 threads, portable kernel), checks
 * the first output against want/mag and that threads change nothing. */
static void run_and_compare(struct qb_graph *g, const struct tnode *t, struct qb_pool *pool2, const double *want,
                            const double *mag, int64_t n, const char *what)
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

/* Convolution geometry ----------------------------------------------------------- */

struct geo {
    int nsp;
    int64_t N, C, M, group;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3], opad[3];
};

static void conv_ref(const struct geo *c, const float *x, const float *w, const float *b, double *y, double *mag)
{
    int64_t cg = c->C / c->group, mg = c->M / c->group;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++) {
            int64_t g = m / mg;
            for (int64_t oz = 0; oz < c->out[0]; oz++)
                for (int64_t oy = 0; oy < c->out[1]; oy++)
                    for (int64_t ox = 0; ox < c->out[2]; ox++) {
                        double s = b ? b[m] : 0.0, a = b ? fabs(b[m]) : 0.0;
                        for (int64_t ci = 0; ci < cg; ci++)
                            for (int64_t kz = 0; kz < c->k[0]; kz++)
                                for (int64_t ky = 0; ky < c->k[1]; ky++)
                                    for (int64_t kx = 0; kx < c->k[2]; kx++) {
                                        int64_t iz = oz * c->s[0] - c->pb[0] + kz * c->d[0];
                                        int64_t iy = oy * c->s[1] - c->pb[1] + ky * c->d[1];
                                        int64_t ix = ox * c->s[2] - c->pb[2] + kx * c->d[2];
                                        double t;
                                        if (iz < 0 || iz >= c->in[0] || iy < 0 || iy >= c->in[1] || ix < 0 ||
                                            ix >= c->in[2])
                                            continue;
                                        t = (double)x[(((n * c->C + g * cg + ci) * c->in[0] + iz) * c->in[1] + iy) *
                                                          c->in[2] +
                                                      ix] *
                                            w[(((m * cg + ci) * c->k[0] + kz) * c->k[1] + ky) * c->k[2] + kx];
                                        s += t;
                                        a += fabs(t);
                                    }
                        int64_t o = (((n * c->M + m) * c->out[0] + oz) * c->out[1] + oy) * c->out[2] + ox;
                        y[o] = s;
                        mag[o] = a;
                    }
        }
}

/* ConvTranspose by its definition: every input pixel scatters its kernel. */
static void convt_ref(const struct geo *c, const float *x, const float *w, const float *b, double *y, double *mag)
{
    int64_t cg = c->C / c->group, mg = c->M / c->group, on = c->out[0] * c->out[1] * c->out[2];
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t i = 0; i < on; i++) {
                y[(n * c->M + m) * on + i] = b ? b[m] : 0.0;
                mag[(n * c->M + m) * on + i] = b ? fabs(b[m]) : 0.0;
            }
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t ci = 0; ci < c->C; ci++) {
            int64_t g = ci / cg;
            for (int64_t iz = 0; iz < c->in[0]; iz++)
                for (int64_t iy = 0; iy < c->in[1]; iy++)
                    for (int64_t ix = 0; ix < c->in[2]; ix++) {
                        double xv = x[(((n * c->C + ci) * c->in[0] + iz) * c->in[1] + iy) * c->in[2] + ix];
                        for (int64_t mi = 0; mi < mg; mi++)
                            for (int64_t kz = 0; kz < c->k[0]; kz++)
                                for (int64_t ky = 0; ky < c->k[1]; ky++)
                                    for (int64_t kx = 0; kx < c->k[2]; kx++) {
                                        int64_t oz = iz * c->s[0] - c->pb[0] + kz * c->d[0];
                                        int64_t oy = iy * c->s[1] - c->pb[1] + ky * c->d[1];
                                        int64_t ox = ix * c->s[2] - c->pb[2] + kx * c->d[2];
                                        int64_t m = g * mg + mi, o;
                                        double t;
                                        if (oz < 0 || oz >= c->out[0] || oy < 0 || oy >= c->out[1] || ox < 0 ||
                                            ox >= c->out[2])
                                            continue;
                                        t = xv * w[(((ci * mg + mi) * c->k[0] + kz) * c->k[1] + ky) * c->k[2] + kx];
                                        o = (((n * c->M + m) * c->out[0] + oz) * c->out[1] + oy) * c->out[2] + ox;
                                        y[o] += t;
                                        mag[o] += fabs(t);
                                    }
                    }
        }
}

static void geo_shape(const struct geo *c, int64_t ch, const int64_t *sp, int64_t *shape)
{
    shape[0] = c->N;
    shape[1] = ch;
    for (int i = 0; i < c->nsp; i++)
        shape[2 + i] = sp[3 - c->nsp + i];
}

/* A random convolution; auto_pad: 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID. */
static void test_conv_case(struct qb_pool *pool2, int idx)
{
    static const char *const ap_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    struct geo c = {0};
    struct tnode t = {.op = "Conv", .opset = idx % 2 ? 11 : 1, .n_out = 1};
    int ap = rint_in(0, 5) > 3 ? rint_in(1, 3) : 0, kind = rint_in(0, 9), off;
    int64_t ks[3], ss[3], ds[3], pads[6], xs[5], ws[5], ys[5];
    float *x, *w, *b = NULL;
    double *want, *mag;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[160];
    int64_t cg, mg;

    c.nsp = rint_in(0, 5) == 0 ? (rint_in(0, 1) ? 1 : 3) : 2;
    off = 3 - c.nsp;
    c.N = rint_in(1, 2);
    c.group = kind < 2 ? rint_in(2, 3) : 1;
    cg = rint_in(1, 9);
    mg = rint_in(1, 20);
    if (kind == 2 || kind == 3) { /* depthwise */
        c.group = rint_in(1, 12);
        cg = mg = 1;
    }
    if (kind == 4) /* many output channels, several row panels */
        mg = rint_in(20, 70);
    if (kind == 8) /* deep: several K blocks */
        cg = rint_in(45, 90);
    c.C = cg * c.group;
    c.M = mg * c.group;
    for (int i = 0; i < 3; i++) {
        c.in[i] = c.k[i] = c.s[i] = c.d[i] = c.out[i] = 1;
        c.pb[i] = c.pe[i] = 0;
    }
    for (int i = off; i < 3; i++) {
        c.in[i] = rint_in(1, c.nsp == 3 ? 7 : 23);
        c.k[i] = rint_in(1, c.nsp == 3 ? 3 : 5);
        c.s[i] = rint_in(1, 3);
        c.d[i] = rint_in(0, 3) ? 1 : 2;
        if (kind == 5) { /* pointwise */
            c.k[i] = c.s[i] = 1;
        }
        if (kind == 6 || kind == 7)
            c.s[i] = 2;
        if (kind == 7 && i == 2) /* wide rows: whole 16-column panels at stride 2 */
            c.in[i] = rint_in(33, 90);
        if (kind == 8)
            c.k[i] = 3;
        c.pb[i] = rint_in(0, 2);
        c.pe[i] = rint_in(0, 2);
        if (kind == 5)
            c.pb[i] = c.pe[i] = 0;
        int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
        if (ap == 1 || ap == 2) {
            int64_t o = (c.in[i] + c.s[i] - 1) / c.s[i], tot = (o - 1) * c.s[i] + dk - c.in[i];
            tot = tot < 0 ? 0 : tot;
            c.pb[i] = ap == 1 ? tot / 2 : tot - tot / 2;
            c.pe[i] = tot - c.pb[i];
        } else if (ap == 3) {
            c.pb[i] = c.pe[i] = 0;
        }
        while (c.in[i] + c.pb[i] + c.pe[i] < dk)
            c.in[i]++;
        c.out[i] = (c.in[i] + c.pb[i] + c.pe[i] - dk) / c.s[i] + 1;
    }
    for (int i = 0; i < c.nsp; i++) {
        ks[i] = c.k[off + i];
        ss[i] = c.s[off + i];
        ds[i] = c.d[off + i];
        pads[i] = c.pb[off + i];
        pads[c.nsp + i] = c.pe[off + i];
    }
    geo_shape(&c, c.C, c.in, xs);
    ws[0] = c.M;
    ws[1] = cg;
    for (int i = 0; i < c.nsp; i++)
        ws[2 + i] = ks[i];
    geo_shape(&c, c.M, c.out, ys);
    x = rand_buf(numel(2 + c.nsp, xs));
    w = rand_buf(numel(2 + c.nsp, ws));
    t.n_in = 2;
    t.in[0] = (struct tin){.ndim = 2 + c.nsp, .data = x};
    memcpy(t.in[0].shape, xs, sizeof(xs));
    t.in[1] = (struct tin){.ndim = 2 + c.nsp, .data = w, .is_const = rint_in(0, 4) != 0};
    memcpy(t.in[1].shape, ws, sizeof(ws));
    if (rint_in(0, 2)) {
        b = rand_buf(c.M);
        t.n_in = 3;
        t.in[2] = (struct tin){.ndim = 1, .shape = {c.M}, .data = b, .is_const = true};
    }
    if (c.group > 1 || rint_in(0, 1))
        attr_int(&t, "group", c.group);
    if (rint_in(0, 1))
        attr_ints(&t, "kernel_shape", c.nsp, ks);
    attr_ints(&t, "strides", c.nsp, ss);
    attr_ints(&t, "dilations", c.nsp, ds);
    if (ap)
        attr_str(&t, "auto_pad", ap_names[ap]);
    else
        attr_ints(&t, "pads", 2 * c.nsp, pads);
    snprintf(what, sizeof(what),
             "Conv #%d %dD N%lld C%lld M%lld g%lld in %lldx%lldx%lld k %lldx%lldx%lld s %lld,%lld d %lld,%lld ap %d",
             idx, c.nsp, (long long)c.N, (long long)c.C, (long long)c.M, (long long)c.group, (long long)c.in[0],
             (long long)c.in[1], (long long)c.in[2], (long long)c.k[0], (long long)c.k[1], (long long)c.k[2],
             (long long)c.s[1], (long long)c.s[2], (long long)c.d[1], (long long)c.d[2], ap);
    if (build(&t, &g, &err) != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "conv case prepares");
    } else {
        int64_t n = numel(2 + c.nsp, ys);
        const struct qb_value *yv = &g->values[g->nodes[0].out[0]];
        check(yv->ndim == 2 + c.nsp && memcmp(yv->shape, ys, (size_t)yv->ndim * sizeof(int64_t)) == 0,
              "conv output shape");
        want = malloc((size_t)n * sizeof(double));
        mag = malloc((size_t)n * sizeof(double));
        conv_ref(&c, x, w, b, want, mag);
        run_and_compare(g, &t, pool2, want, mag, n, what);
        free(want);
        free(mag);
    }
    qb_graph_free(g);
    free(x);
    free(w);
    free(b);
}

/* A random transposed convolution (explicit pads or output_shape). */
static void test_convt_case(struct qb_pool *pool2, int idx)
{
    struct geo c = {0};
    struct tnode t = {.op = "ConvTranspose", .opset = 11, .n_out = 1};
    int64_t ks[3], ss[3], ds[3], pads[6], opad[3], oshape[3], xs[5], ws[5], ys[5];
    int use_oshape = rint_in(0, 3) == 0, off;
    float *x, *w, *b = NULL;
    double *want, *mag;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[128];
    int64_t cg, mg;

    c.nsp = rint_in(0, 4) == 0 ? (rint_in(0, 1) ? 1 : 3) : 2;
    off = 3 - c.nsp;
    c.N = rint_in(1, 2);
    c.group = rint_in(0, 3) ? 1 : rint_in(2, 3);
    cg = rint_in(1, 6);
    mg = rint_in(1, 9);
    c.C = cg * c.group;
    c.M = mg * c.group;
    for (int i = 0; i < 3; i++) {
        c.in[i] = c.k[i] = c.s[i] = c.d[i] = c.out[i] = 1;
        c.pb[i] = c.pe[i] = c.opad[i] = 0;
    }
    for (int i = off; i < 3; i++) {
        int64_t dk, full;
        c.in[i] = rint_in(1, c.nsp == 3 ? 5 : 11);
        c.k[i] = rint_in(1, 4);
        c.s[i] = rint_in(1, 3);
        c.d[i] = rint_in(0, 3) ? 1 : 2;
        c.opad[i] = rint_in(0, c.s[i] - 1);
        dk = (c.k[i] - 1) * c.d[i] + 1;
        full = c.s[i] * (c.in[i] - 1) + c.opad[i] + dk;
        c.pb[i] = rint_in(0, 2);
        c.pe[i] = rint_in(0, 2);
        while (full - c.pb[i] - c.pe[i] < 1) {
            if (c.pe[i])
                c.pe[i]--;
            else
                c.pb[i]--;
        }
        c.out[i] = full - c.pb[i] - c.pe[i];
        if (use_oshape) { /* pads from the requested size: odd pixel cropped at the start */
            int64_t total = c.pb[i] + c.pe[i];
            c.pb[i] = total - total / 2;
        }
    }
    for (int i = 0; i < c.nsp; i++) {
        ks[i] = c.k[off + i];
        ss[i] = c.s[off + i];
        ds[i] = c.d[off + i];
        opad[i] = c.opad[off + i];
        pads[i] = c.pb[off + i];
        pads[c.nsp + i] = c.pe[off + i];
        oshape[i] = c.out[off + i];
    }
    geo_shape(&c, c.C, c.in, xs);
    ws[0] = c.C;
    ws[1] = mg;
    for (int i = 0; i < c.nsp; i++)
        ws[2 + i] = ks[i];
    geo_shape(&c, c.M, c.out, ys);
    x = rand_buf(numel(2 + c.nsp, xs));
    w = rand_buf(numel(2 + c.nsp, ws));
    t.n_in = 2;
    t.in[0] = (struct tin){.ndim = 2 + c.nsp, .data = x};
    memcpy(t.in[0].shape, xs, sizeof(xs));
    t.in[1] = (struct tin){.ndim = 2 + c.nsp, .data = w, .is_const = rint_in(0, 3) != 0};
    memcpy(t.in[1].shape, ws, sizeof(ws));
    if (rint_in(0, 1)) {
        b = rand_buf(c.M);
        t.n_in = 3;
        t.in[2] = (struct tin){.ndim = 1, .shape = {c.M}, .data = b, .is_const = true};
    }
    if (c.group > 1)
        attr_int(&t, "group", c.group);
    attr_ints(&t, "strides", c.nsp, ss);
    attr_ints(&t, "dilations", c.nsp, ds);
    attr_ints(&t, "output_padding", c.nsp, opad);
    if (use_oshape)
        attr_ints(&t, "output_shape", c.nsp, oshape);
    else
        attr_ints(&t, "pads", 2 * c.nsp, pads);
    snprintf(what, sizeof(what), "ConvTranspose #%d %dD C%lld M%lld g%lld", idx, c.nsp, (long long)c.C,
             (long long)c.M, (long long)c.group);
    if (build(&t, &g, &err) != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "convtranspose case prepares");
    } else {
        int64_t n = numel(2 + c.nsp, ys);
        const struct qb_value *yv = &g->values[g->nodes[0].out[0]];
        check(memcmp(yv->shape, ys, (size_t)yv->ndim * sizeof(int64_t)) == 0, "convtranspose output shape");
        want = malloc((size_t)n * sizeof(double));
        mag = malloc((size_t)n * sizeof(double));
        convt_ref(&c, x, w, b, want, mag);
        run_and_compare(g, &t, pool2, want, mag, n, what);
        free(want);
        free(mag);
    }
    qb_graph_free(g);
    free(x);
    free(w);
    free(b);
}

/* BatchNormalization -------------------------------------------------------------- */

static void test_bn(struct qb_pool *pool2)
{
    for (int it = 0; it < 6; it++) {
        int64_t N = rint_in(1, 3), C = rint_in(1, 7), H = rint_in(1, 13), W = rint_in(1, 13);
        int64_t xs[4] = {N, C, H, W}, n = N * C * H * W;
        float *x = rand_buf(n), *st[4], eps = it % 2 ? 1e-3f : 1e-5f;
        struct tnode t = {.op = "BatchNormalization", .opset = it % 3 ? 15 : 7, .n_in = 5, .n_out = 1};
        struct qb_graph *g;
        struct qb_error err = {0};
        double *want = malloc((size_t)n * sizeof(double));

        t.in[0] = (struct tin){.ndim = 4, .data = x};
        memcpy(t.in[0].shape, xs, sizeof(xs));
        for (int k = 0; k < 4; k++) {
            st[k] = rand_buf(C);
            if (k == 3)
                for (int64_t c = 0; c < C; c++)
                    st[k][c] = fabsf(st[k][c]) + 0.1f;
            t.in[1 + k] = (struct tin){.ndim = 1, .shape = {C}, .data = st[k], .is_const = k != 2};
        }
        attr_float(&t, "epsilon", eps);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = i / (H * W) % C;
            want[i] = (x[i] - st[2][c]) / sqrt((double)st[3][c] + eps) * st[0][c] + st[1][c];
        }
        check(build(&t, &g, &err) == QB_OK, "batchnorm prepares");
        run_and_compare(g, &t, pool2, want, NULL, n, "BatchNormalization");
        qb_graph_free(g);
        free(x);
        free(want);
        for (int k = 0; k < 4; k++)
            free(st[k]);
    }
}

/* Pools ------------------------------------------------------------------------------ */

struct pgeo {
    int nsp, kind; /* 0 max, 1 average */
    int include_pad;
    int64_t N, C, in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
};

static void pool_ref(const struct pgeo *p, const float *x, double *y, int64_t *idx)
{
    int64_t on = p->out[0] * p->out[1] * p->out[2], inn = p->in[0] * p->in[1] * p->in[2];
    for (int64_t pl = 0; pl < p->N * p->C; pl++)
        for (int64_t o = 0; o < on; o++) {
            int64_t oz = o / (p->out[1] * p->out[2]), oy = o / p->out[2] % p->out[1], ox = o % p->out[2];
            double acc = p->kind ? 0.0 : -INFINITY;
            int64_t cnt = 0, at = -1;
            for (int64_t kz = 0; kz < p->k[0]; kz++)
                for (int64_t ky = 0; ky < p->k[1]; ky++)
                    for (int64_t kx = 0; kx < p->k[2]; kx++) {
                        int64_t iz = oz * p->s[0] - p->pb[0] + kz * p->d[0];
                        int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                        int64_t ix = ox * p->s[2] - p->pb[2] + kx * p->d[2];
                        int inside = iz >= 0 && iz < p->in[0] && iy >= 0 && iy < p->in[1] && ix >= 0 && ix < p->in[2];
                        int padded = iz >= -p->pb[0] && iz < p->in[0] + p->pe[0] && iy >= -p->pb[1] &&
                                     iy < p->in[1] + p->pe[1] && ix >= -p->pb[2] && ix < p->in[2] + p->pe[2];
                        if (p->include_pad ? padded : inside)
                            cnt++;
                        if (!inside)
                            continue;
                        int64_t e = (iz * p->in[1] + iy) * p->in[2] + ix;
                        double v = x[pl * inn + e];
                        if (p->kind)
                            acc += v;
                        else if (v > acc || at < 0) {
                            acc = v;
                            at = pl * inn + e;
                        }
                    }
            y[pl * on + o] = p->kind ? acc / (double)cnt : acc;
            if (idx)
                idx[pl * on + o] = at;
        }
}

static void test_pool_case(struct qb_pool *pool2, int idx)
{
    struct pgeo p = {0};
    struct tnode t = {.opset = 19, .n_in = 1, .n_out = 1};
    int64_t ks[3], ss[3], ds[3], pads[6], xs[5];
    int ceil_mode = rint_in(0, 2) == 0, with_idx, off;
    float *x;
    double *want;
    int64_t *want_idx = NULL;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[96];
    enum qb_status st;

    p.kind = rint_in(0, 1);
    p.include_pad = p.kind && rint_in(0, 1);
    with_idx = !p.kind && rint_in(0, 2) == 0;
    p.nsp = rint_in(0, 4) == 0 ? (rint_in(0, 1) ? 1 : 3) : 2;
    off = 3 - p.nsp;
    p.N = rint_in(1, 2);
    p.C = rint_in(1, 5);
    for (int i = 0; i < 3; i++) {
        p.in[i] = p.k[i] = p.s[i] = p.d[i] = p.out[i] = 1;
        p.pb[i] = p.pe[i] = 0;
    }
    for (int i = off; i < 3; i++) {
        int64_t dk, span;
        p.k[i] = rint_in(1, 5);
        p.s[i] = rint_in(1, 3);
        p.d[i] = rint_in(0, 3) ? 1 : 2;
        p.pb[i] = rint_in(0, (int)p.k[i] - 1);
        p.pe[i] = rint_in(0, (int)p.k[i] - 1);
        if (p.d[i] > 1)
            p.pb[i] = p.pe[i] = 0;
        dk = (p.k[i] - 1) * p.d[i] + 1;
        p.in[i] = dk + rint_in(0, p.nsp == 3 ? 5 : 17);
        if (idx % 10 == 9 && p.nsp == 2) /* planes too large for the padded on-stack path */
            p.in[i] = rint_in(130, 150);
        span = p.in[i] + p.pb[i] + p.pe[i] - dk;
        p.out[i] = span / p.s[i] + 1;
        if (ceil_mode && span % p.s[i])
            p.out[i]++;
    }
    for (int i = 0; i < p.nsp; i++) {
        ks[i] = p.k[off + i];
        ss[i] = p.s[off + i];
        ds[i] = p.d[off + i];
        pads[i] = p.pb[off + i];
        pads[p.nsp + i] = p.pe[off + i];
    }
    xs[0] = p.N;
    xs[1] = p.C;
    for (int i = 0; i < p.nsp; i++)
        xs[2 + i] = p.in[off + i];
    x = rand_buf(numel(2 + p.nsp, xs));
    t.op = p.kind ? "AveragePool" : "MaxPool";
    t.n_out = with_idx ? 2 : 1;
    t.in[0] = (struct tin){.ndim = 2 + p.nsp, .data = x};
    memcpy(t.in[0].shape, xs, sizeof(xs));
    attr_ints(&t, "kernel_shape", p.nsp, ks);
    attr_ints(&t, "strides", p.nsp, ss);
    attr_ints(&t, "dilations", p.nsp, ds);
    attr_ints(&t, "pads", 2 * p.nsp, pads);
    attr_int(&t, "ceil_mode", ceil_mode);
    if (p.kind)
        attr_int(&t, "count_include_pad", p.include_pad);
    snprintf(what, sizeof(what), "%s #%d %dD%s%s", t.op, idx, p.nsp, ceil_mode ? " ceil" : "",
             p.include_pad ? " include_pad" : "");
    st = build(&t, &g, &err);
    if (st == QB_ERR_UNSUPPORTED && ceil_mode) {
        /* only the ambiguous ceil_mode windows may be refused */
        check(strstr(err.msg, "ceil_mode") != NULL, "only ambiguous ceil_mode windows are refused");
    } else if (st != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "pool case prepares");
    } else {
        int64_t n = p.N * p.C * p.out[0] * p.out[1] * p.out[2];
        void *a[2] = {0}, *b[2] = {0};
        want = malloc((size_t)n * sizeof(double));
        if (with_idx)
            want_idx = malloc((size_t)n * sizeof(int64_t));
        pool_ref(&p, x, want, want_idx);
        run_node(g, &t, NULL, a);
        qb_sgemm_force_generic(idx % 2 == 1);
        run_node(g, &t, pool2, b);
        qb_sgemm_force_generic(false);
        check(close_enough(a[0], want, NULL, n, what), what);
        check(close_enough(b[0], want, NULL, n, what), "pool with 2 threads (and the portable kernel)");
        if (with_idx)
            check(memcmp(a[1], want_idx, (size_t)n * sizeof(int64_t)) == 0 &&
                      memcmp(b[1], want_idx, (size_t)n * sizeof(int64_t)) == 0,
                  "MaxPool indices");
        if (idx % 2 == 0)
            check(memcmp(a[0], b[0], (size_t)n * sizeof(float)) == 0, "pool: 2 threads give the same result");
        free(want);
        free(want_idx);
        for (int k = 0; k < 2; k++) {
            free(a[k]);
            free(b[k]);
        }
    }
    qb_graph_free(g);
    free(x);
}

static void test_global_pools(struct qb_pool *pool2)
{
    for (int it = 0; it < 4; it++) {
        int64_t xs[4] = {rint_in(1, 2), rint_in(1, 9), rint_in(1, 30), rint_in(1, 30)};
        int64_t planes = xs[0] * xs[1], plane = xs[2] * xs[3];
        float *x = rand_buf(planes * plane);
        double *want = malloc((size_t)planes * sizeof(double));
        struct tnode t = {.op = it % 2 ? "GlobalMaxPool" : "GlobalAveragePool", .opset = 13, .n_in = 1, .n_out = 1};
        struct qb_graph *g;
        struct qb_error err = {0};

        t.in[0] = (struct tin){.ndim = 4, .data = x};
        memcpy(t.in[0].shape, xs, sizeof(xs));
        for (int64_t pl = 0; pl < planes; pl++) {
            double s = 0.0, m = -INFINITY;
            for (int64_t i = 0; i < plane; i++) {
                s += x[pl * plane + i];
                m = x[pl * plane + i] > m ? x[pl * plane + i] : m;
            }
            want[pl] = it % 2 ? m : s / (double)plane;
        }
        check(build(&t, &g, &err) == QB_OK, "global pool prepares");
        check(g->values[g->nodes[0].out[0]].shape[2] == 1 && g->values[g->nodes[0].out[0]].shape[3] == 1,
              "global pool output is [N, C, 1, 1]");
        run_and_compare(g, &t, pool2, want, NULL, planes, t.op);
        qb_graph_free(g);
        free(x);
        free(want);
    }
}

/* Refusals ------------------------------------------------------------------------------ */

static void expect_refusal(struct tnode *t, enum qb_status want, const char *needle, const char *what)
{
    struct qb_graph *g;
    struct qb_error err = {0};
    enum qb_status st = build(t, &g, &err);
    if (st != want || !strstr(err.msg, needle))
        fprintf(stderr, "%s: got %s: %s\n", what, qb_status_str(st), err.msg);
    check(st == want && strstr(err.msg, needle) != NULL, what);
    qb_graph_free(g);
}

static void test_refusals(void)
{
    static const float data[64] = {0};
    struct tin x4 = {.ndim = 4, .shape = {1, 2, 5, 5}, .data = data};
    struct tin w4 = {.ndim = 4, .shape = {2, 2, 3, 3}, .data = data, .is_const = true};
    struct tin c2 = {.ndim = 1, .shape = {2}, .data = data, .is_const = true};
    struct tnode t;

    t = (struct tnode){.op = "BatchNormalization", .opset = 15, .n_in = 5, .n_out = 1,
                       .in = {x4, c2, c2, c2, c2}};
    attr_int(&t, "training_mode", 1);
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "training_mode", "BatchNormalization training_mode=1 is refused");

    t = (struct tnode){.op = "BatchNormalization", .opset = 9, .n_in = 5, .n_out = 3,
                       .in = {x4, c2, c2, c2, c2}};
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "training", "BatchNormalization with statistics outputs is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "pads", 4, (const int64_t[]){-1, 0, 0, 0});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "pads", "Conv with negative pads is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){3, 2});
    expect_refusal(&t, QB_ERR_INVALID, "kernel_shape", "Conv kernel_shape disagreeing with W is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_str(&t, "auto_pad", "SAME");
    expect_refusal(&t, QB_ERR_INVALID, "auto_pad", "Conv with an unknown auto_pad is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_int(&t, "group", 3);
    expect_refusal(&t, QB_ERR_INVALID, "group", "Conv with a group that does not divide is refused");

    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 2, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_int(&t, "storage_order", 1);
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "storage_order", "MaxPool column-major Indices are refused");

    /* 5 wide, kernel 2, stride 2, pad 1 each side, ceil: the last window starts in the pad */
    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 1, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "strides", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    attr_int(&t, "ceil_mode", 1);
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "ceil_mode", "MaxPool ambiguous ceil_mode window is refused");

    t = (struct tnode){.op = "AveragePool", .opset = 12, .n_in = 1, .n_out = 1, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "pads", 4, (const int64_t[]){2, 0, 0, 0});
    expect_refusal(&t, QB_ERR_INVALID, "pads", "AveragePool with pads as large as the kernel is refused");

    /* output_shape one larger than the result with SAME_UPPER: onnx and onnxruntime differ */
    t = (struct tnode){.op = "ConvTranspose", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "output_shape", 2, (const int64_t[]){9, 9});
    attr_str(&t, "auto_pad", "SAME_UPPER");
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "output_shape", "ConvTranspose ambiguous output_shape is refused");
}

/* The ONNX conformance data's ConvTranspose SAME_UPPER case, inline: the odd
 * padding pixel is cropped at the end. */
static void test_convt_same_upper(void)
{
    static const float x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static const float w[18] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const float row0[6] = {0, 0, 1, 1, 3, 2}, row2[6] = {3, 3, 8, 5, 12, 7};
    struct tnode t = {.op = "ConvTranspose", .opset = 11, .n_in = 2, .n_out = 1};
    struct qb_graph *g;
    struct qb_error err = {0};
    void *y[2] = {0};

    t.in[0] = (struct tin){.ndim = 4, .shape = {1, 1, 3, 3}, .data = x};
    t.in[1] = (struct tin){.ndim = 4, .shape = {1, 2, 3, 3}, .data = w, .is_const = true};
    attr_ints(&t, "strides", 2, (const int64_t[]){2, 2});
    attr_str(&t, "auto_pad", "SAME_UPPER");
    check(build(&t, &g, &err) == QB_OK, "ConvTranspose SAME_UPPER prepares");
    check(g->values[g->nodes[0].out[0]].shape[2] == 6 && g->values[g->nodes[0].out[0]].shape[3] == 6,
          "ConvTranspose SAME_UPPER output is 6x6");
    run_node(g, &t, NULL, y);
    check(memcmp(y[0], row0, sizeof(row0)) == 0 && memcmp((float *)y[0] + 12, row2, sizeof(row2)) == 0,
          "ConvTranspose SAME_UPPER matches the conformance data");
    free(y[0]);
    qb_graph_free(g);
}

/* Benchmark ------------------------------------------------------------------------------- */

/* Single-threaded benchmarks time the thread's CPU time, so that other
 * processes on a busy machine do not count. */
static int bench_cpu_clock;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(bench_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct bench_shape {
    const char *name;
    int64_t C, M, H, k, s, group;
};

/* The bare GEMM on row-major operands (B packed on the fly), for comparison. */
static void bench_gemm(struct qb_pool *pool)
{
    static const int shapes[][3] = {{64, 6400, 576}, {256, 400, 2304}, {128, 1600, 1152}, {512, 512, 512}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2], reps = 0;
        float *a = rand_buf((int64_t)M * K), *b = rand_buf((int64_t)K * N), *c = rand_buf((int64_t)M * N);
        float *pa = aligned_alloc(64, (qb_sgemm_pack_a_size(M, K) * sizeof(float) + 63) & ~(size_t)63);
        void *scratch = aligned_alloc(64, qb_sgemm_scratch_size());
        struct qb_sgemm_b src;
        double t0, t1, best;

        qb_sgemm_pack_a(M, K, a, K, 1, 1.0f, pa, NULL);
        qb_sgemm_b_matrix(&src, b, N, 1);
        qb_sgemm_packed(M, N, K, pa, &src, c, N, NULL, 0, scratch, qb_sgemm_scratch_size(), pool);
        best = 1e30;
        t0 = now_s();
        do {
            double ts = now_s();
            qb_sgemm_packed(M, N, K, pa, &src, c, N, NULL, 0, scratch, qb_sgemm_scratch_size(), pool);
            t1 = now_s();
            best = t1 - ts < best ? t1 - ts : best;
            reps++;
        } while (t1 - t0 < 0.4 || reps < 5);
        printf("  gemm %4dx%5dx%4d      %8.3f ms %7.1f GFLOP/s\n", M, N, K, best * 1e3, 2.0 * M * N * K / best * 1e-9);
        free(a);
        free(b);
        free(c);
        free(pa);
        free(scratch);
    }
}

static void bench(int threads, const char *filter)
{
    static const struct bench_shape shapes[] = {
        {"3x3 s2   3->16  @640", 3, 16, 640, 3, 2, 1},
        {"3x3 s2  16->32  @320", 16, 32, 320, 3, 2, 1},
        {"3x3 s1   8->16  @160", 8, 16, 160, 3, 1, 1},
        {"1x1     48->64  @160", 48, 64, 160, 1, 1, 1},
        {"3x3 s2  64->64  @160", 64, 64, 160, 3, 2, 1},
        {"3x3 s1  64->64  @80", 64, 64, 80, 3, 1, 1},
        {"1x1     64->80  @80", 64, 80, 80, 1, 1, 1},
        {"dw3x3   64      @80", 64, 64, 80, 3, 1, 64},
        {"3x3 s2 128->128 @80", 128, 128, 80, 3, 2, 1},
        {"3x3 s1  64->64  @40", 64, 64, 40, 3, 1, 1},
        {"3x3 s1  64->64  @20", 64, 64, 20, 3, 1, 1},
        {"3x3 s2 128->256 @40", 128, 256, 40, 3, 2, 1},
        {"1x1    256->256 @20", 256, 256, 20, 1, 1, 1},
        {"1x1    384->256 @20", 384, 256, 20, 1, 1, 1},
    };
    struct qb_pool *pool = threads > 1 ? qb_pool_new(threads) : NULL;
    double total_flops = 0.0, total_s = 0.0;

    bench_cpu_clock = threads == 1;
    printf("conv GFLOP/s, %d thread%s, kernel %s%s\n", threads, threads > 1 ? "s" : "", qb_sgemm_isa(),
           bench_cpu_clock ? " (thread CPU time)" : "");
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        const struct bench_shape *b = &shapes[i];
        int64_t pad = b->k / 2;
        if (filter && !strstr(b->name, filter))
            continue;
        struct tnode t = {.op = "Conv", .opset = 17, .n_in = 3, .n_out = 1};
        float *x = rand_buf(b->C * b->H * b->H), *w = rand_buf(b->M * (b->C / b->group) * b->k * b->k),
              *bias = rand_buf(b->M);
        struct qb_graph *g;
        struct qb_error err = {0};
        struct qb_tview in[3], out[1];
        struct qb_kctx ctx = {.pool = pool};
        size_t scratch = 0;
        void *state = NULL;
        int reps = 0;
        double t0, t1, flops, best;

        t.in[0] = (struct tin){.ndim = 4, .shape = {1, b->C, b->H, b->H}, .data = x};
        t.in[1] = (struct tin){.ndim = 4, .shape = {b->M, b->C / b->group, b->k, b->k}, .data = w, .is_const = true};
        t.in[2] = (struct tin){.ndim = 1, .shape = {b->M}, .data = bias, .is_const = true};
        attr_ints(&t, "strides", 2, (const int64_t[]){b->s, b->s});
        attr_ints(&t, "pads", 4, (const int64_t[]){pad, pad, pad, pad});
        attr_int(&t, "group", b->group);
        if (build(&t, &g, &err) != QB_OK) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        const struct qb_node *n = &g->nodes[0];
        const struct qb_value *yv = qb_node_out(g, n, 0);
        if (n->def->prepare)
            n->def->prepare(g, n, &state, &scratch, &err);
        ctx.state = state;
        ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) & ~(size_t)63) : NULL;
        ctx.scratch_size = scratch;
        for (int k = 0; k < 3; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            in[k] = (struct qb_tview){.dtype = QB_DTYPE_F32, .ndim = v->ndim, .data = (void *)t.in[k].data};
            memcpy(in[k].shape, v->shape, sizeof(v->shape));
        }
        out[0] = (struct qb_tview){.dtype = QB_DTYPE_F32, .ndim = yv->ndim};
        memcpy(out[0].shape, yv->shape, sizeof(yv->shape));
        out[0].data = malloc((size_t)qb_value_numel(yv) * sizeof(float));
        flops = n->def->flops(g, n);
        n->def->run(n, in, out, &ctx);
        best = 1e30;
        t0 = now_s();
        do { /* the fastest of many runs: other processes only ever slow a run down */
            double ts = now_s();
            n->def->run(n, in, out, &ctx);
            t1 = now_s();
            best = t1 - ts < best ? t1 - ts : best;
            reps++;
        } while (t1 - t0 < 0.4 || reps < 5);
        printf("  %-22s %8.3f ms %7.1f GFLOP/s\n", b->name, best * 1e3, flops / best * 1e-9);
        total_flops += flops;
        total_s += best;
        n->def->release(state);
        free(ctx.scratch);
        free(out[0].data);
        qb_graph_free(g);
        free(x);
        free(w);
        free(bias);
    }
    printf("  %-22s %8.3f ms %7.1f GFLOP/s\n", "all", total_s * 1e3, total_flops / total_s * 1e-9);
    if (!filter || strstr("gemm", filter))
        bench_gemm(pool);
    qb_pool_free(pool);
}

/* Times every node of a model that this family runs (Conv, ConvTranspose,
 * BatchNormalization, MatMul, Gemm, pools) in isolation on random inputs. */
static int bench_model(const char *path, int threads, int verbose)
{
    static const char *const ops[] = {"Conv", "ConvTranspose", "BatchNormalization", "MatMul", "Gemm", "MaxPool",
                                      "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
    enum { N_OPS = sizeof(ops) / sizeof(ops[0]) };
    struct qb_pool *pool = threads > 1 ? qb_pool_new(threads) : NULL;
    struct qb_graph *g = NULL;
    struct qb_error err = {0};
    double op_s[N_OPS] = {0}, op_flops[N_OPS] = {0}, total = 0.0;
    int op_n[N_OPS] = {0};

    if (qb_onnx_load(path, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        qb_graph_free(g);
        return 1;
    }
    bench_cpu_clock = threads == 1;
    printf("%s: %d thread%s, kernel %s%s\n", path, threads, threads > 1 ? "s" : "", qb_sgemm_isa(),
           bench_cpu_clock ? " (thread CPU time)" : "");
    for (int o = 0; o < g->n_order; o++) {
        const struct qb_node *n = &g->nodes[g->order[o]];
        struct qb_tview in[8], out[2];
        struct qb_kctx ctx = {.pool = pool, .graph = g};
        void *bufs[10] = {0}, *state = NULL;
        size_t scratch = 0;
        int op = 0, reps = 0;
        double best = 1e30, t0, t1, flops;
        char shape[64];

        while (op < N_OPS && strcmp(ops[op], n->op_type) != 0)
            op++;
        if (op == N_OPS || n->n_in > 8 || n->n_out > 2)
            continue;
        for (int k = 0; k < n->n_in; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            memset(&in[k], 0, sizeof(in[k]));
            if (!v)
                continue;
            in[k].dtype = v->dtype;
            in[k].ndim = v->ndim;
            memcpy(in[k].shape, v->shape, sizeof(v->shape));
            in[k].data = v->data ? v->data : (bufs[k] = rand_buf(qb_value_numel(v)));
        }
        for (int k = 0; k < n->n_out; k++) {
            const struct qb_value *v = qb_node_out(g, n, k);
            memset(&out[k], 0, sizeof(out[k]));
            if (!v)
                continue;
            out[k].dtype = v->dtype;
            out[k].ndim = v->ndim;
            memcpy(out[k].shape, v->shape, sizeof(v->shape));
            out[k].data = bufs[8 + k] = malloc((size_t)qb_value_numel(v) * qb_dtype_size(v->dtype) + 1);
        }
        if (n->def->prepare && n->def->prepare(g, n, &state, &scratch, &err) != QB_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ctx.state = state;
        ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) & ~(size_t)63) : NULL;
        ctx.scratch_size = scratch;
        n->def->run(n, in, out, &ctx);
        t0 = now_s();
        do {
            double ts = now_s();
            n->def->run(n, in, out, &ctx);
            t1 = now_s();
            best = t1 - ts < best ? t1 - ts : best;
            reps++;
        } while (t1 - t0 < 0.05 || reps < 3);
        flops = n->def->flops ? n->def->flops(g, n) : 0.0;
        if (verbose)
            printf("  %-48.48s %-8s %-18s %8.3f ms %7.1f GFLOP/s\n", n->name, n->op_type,
                   qb_shape_str(qb_node_out(g, n, 0), shape, sizeof(shape)), best * 1e3, flops / best * 1e-9);
        op_s[op] += best;
        op_flops[op] += flops;
        op_n[op]++;
        total += best;
        if (n->def->release)
            n->def->release(state);
        free(ctx.scratch);
        for (int k = 0; k < 10; k++)
            free(bufs[k]);
    }
    for (int op = 0; op < N_OPS; op++)
        if (op_n[op])
            printf("  %-20s %3d nodes %9.3f ms %7.1f GFLOP/s\n", ops[op], op_n[op], op_s[op] * 1e3,
                   op_flops[op] / op_s[op] * 1e-9);
    printf("  %-20s           %9.3f ms\n", "all", total * 1e3);
    qb_graph_free(g);
    qb_pool_free(pool);
    return 0;
}

int main(int argc, char **argv)
{
    struct qb_pool *pool2;

    if (argc > 2 && strcmp(argv[1], "--bench-model") == 0) {
        /* --bench-model MODEL [THREADS [-v]] */
        return bench_model(argv[2], argc > 3 ? atoi(argv[3]) : 1, argc > 4);
    }
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        /* --bench [THREADS [FILTER]] */
        int threads = argc > 2 ? atoi(argv[2]) : 0;
        const char *filter = argc > 3 ? argv[3] : NULL;
        if (threads <= 0 || threads == 1)
            bench(1, filter);
        if (threads <= 0 || threads > 1)
            bench(threads > 1 ? threads : 2, filter);
        return 0;
    }
    pool2 = qb_pool_new(2);
    assert(pool2);
    for (int i = 0; i < 200; i++)
        test_conv_case(pool2, i);
    for (int i = 0; i < 60; i++)
        test_convt_case(pool2, i);
    test_convt_same_upper();
    test_bn(pool2);
    for (int i = 0; i < 150; i++)
        test_pool_case(pool2, i);
    test_global_pools(pool2);
    test_refusals();
    qb_pool_free(pool2);
    printf("test_ops_conv: %d checks, %d failed (kernel %s)\n", n_checks, n_failed, qb_sgemm_isa());
    return n_failed ? 1 : 0;
}
