/* The CPU executor's plan simulation (DESIGN.md "Numerics") against oracles
 * written here from the definitions, on the tiny test models:
 *  - an all-FP32 plan is the reference, bit for bit;
 *  - the all-FP16 plan equals the FP32 reference run on FP16-rounded constants
 *    with every tensor rounded to FP16 as it is produced (scalar conversion),
 *    except the tensors inside elementwise chains (written and read only by
 *    elementwise nodes, not a graph output), which stay FP32 (pointwise fusion);
 *  - one INT8 Conv (the exact form: int32 accumulation) and one INT8 Add (the
 *    generic form: fake-quantized inputs, FP32 arithmetic) inside an FP16 plan
 *    give what plain loops here compute from their captured inputs;
 *  - an INT8 node without a calibrated range is refused, naming the tensor. */
#include <math.h>

#include "core/exec.h"
#include "core/onnx.h"
#include "core/ops/opsutil.h"
#include "testutil.h"
#include "testutil_sim.h"


static float round16(float x)
{
    return qb_opu_half_to_float(qb_opu_float_to_half(x));
}


/* Observers ------------------------------------------------------------------- */

struct capture {
    const struct qb_graph *g;
    float **copy;        /* per value, when wanted[v] */
    const bool *wanted;
    float *amax;         /* per value, running max |x| (calibration) */
    bool round;          /* round observed tensors in place (the FP16 oracle) ... */
    const bool *keep;    /* ... except these (per value), when not NULL */
};

static void observe(void *user, int v, const struct qb_tview *t)
{
    struct capture *c = user;
    size_t n = (size_t)qb_tview_numel(t);
    float *x = t->data;
    if (c->round && !(c->keep && c->keep[v]))
        for (size_t i = 0; i < n; i++)
            x[i] = round16(x[i]);
    if (c->amax)
        for (size_t i = 0; i < n; i++)
            c->amax[v] = fmaxf(c->amax[v], fabsf(x[i]));
    if (c->wanted && c->wanted[v]) {
        free(c->copy[v]);
        c->copy[v] = malloc(n * sizeof(float));
        memcpy(c->copy[v], x, n * sizeof(float));
    }
}

static float *run(const struct qb_graph *g, const struct qb_exec_opts *o, size_t *n_out, struct qb_error *err)
{
    struct qb_executor *e = NULL;
    float *y = NULL;
    if (qb_exec_new(g, o, &e, err) == QB_OK) {
        sim_fill_input(e);
        if (qb_exec_run(e, err) == QB_OK) {
            const struct qb_tview *t = qb_exec_output(e, 0);
            *n_out = (size_t)qb_tview_numel(t);
            y = malloc(*n_out * sizeof(float));
            memcpy(y, t->data, *n_out * sizeof(float));
        }
    }
    qb_exec_free(e);
    return y;
}

static size_t count_diff(const float *a, const float *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return d;
}

/* Oracles for one INT8 node ---------------------------------------------------- */

static int8_t quant(float x, float scale)
{
    float r = x / scale, f = floorf(r), q;
    if (r != r)
        return 0;
    if (r - f > 0.5f || (r - f == 0.5f && fmodf(f, 2.0f) != 0))
        f += 1;
    q = fminf(fmaxf(f, -128), 127);
    return (int8_t)q;
}

static int64_t attr_or(const struct qb_node *n, const char *name, int i, int64_t dflt)
{
    const struct qb_attr *a = qb_node_attr(n, name);
    if (!a)
        return dflt;
    return a->type == QB_ATTR_INT ? a->u.i : a->u.is[i];
}

/* INT8 Conv of DESIGN.md, from the FP16 input x as stored: quantize per tensor
 * and the weights per output channel, accumulate in int64 (checked to fit int32),
 * out = acc * (s_in * s_w[c]) + bias, rounded to FP16. */
static float *int8_conv(const struct qb_graph *g, const struct qb_node *n, const float *x, float amax)
{
    const struct qb_value *xv = qb_node_in(g, n, 0), *wv = qb_node_in(g, n, 1), *bv = qb_node_in(g, n, 2);
    const struct qb_value *yv = qb_node_out(g, n, 0);
    const float *w = wv->data, *bias = bv ? bv->data : NULL;
    int64_t N = xv->shape[0], C = xv->shape[1], H = xv->shape[2], W = xv->shape[3];
    int64_t M = yv->shape[1], OH = yv->shape[2], OW = yv->shape[3], KH = wv->shape[2], KW = wv->shape[3];
    int64_t grp = attr_or(n, "group", 0, 1), cg = C / grp, mg = M / grp;
    int64_t sh = attr_or(n, "strides", 0, 1), sw = attr_or(n, "strides", 1, 1);
    int64_t ph = attr_or(n, "pads", 0, 0), pw = attr_or(n, "pads", 1, 0);
    int64_t dh = attr_or(n, "dilations", 0, 1), dw = attr_or(n, "dilations", 1, 1);
    float s_in = amax / 127.0f;
    float *y = malloc((size_t)(N * M * OH * OW) * sizeof(float));
    int8_t *qx = malloc((size_t)(N * C * H * W));
    int8_t *qw = malloc((size_t)(M * cg * KH * KW));
    float *s_w = malloc((size_t)M * sizeof(float));

    for (int64_t i = 0; i < N * C * H * W; i++)
        qx[i] = quant(x[i], s_in);
    for (int64_t m = 0; m < M; m++) {
        float mx = 0;
        for (int64_t i = 0; i < cg * KH * KW; i++)
            mx = fmaxf(mx, fabsf(w[m * cg * KH * KW + i]));
        s_w[m] = mx / 127.0f;
        for (int64_t i = 0; i < cg * KH * KW; i++)
            qw[m * cg * KH * KW + i] = mx > 0 ? quant(w[m * cg * KH * KW + i], s_w[m]) : 0;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    int64_t acc = 0, c0 = (m / mg) * cg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ky = 0; ky < KH; ky++)
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                acc += (int64_t)qx[((b * C + c0 + c) * H + iy) * W + ix] *
                                       qw[((m * cg + c) * KH + ky) * KW + kx];
                            }
                    CHECK(acc >= INT32_MIN && acc <= INT32_MAX);
                    y[((b * M + m) * OH + oy) * OW + ox] =
                        round16((float)acc * (s_in * s_w[m]) + (bias ? bias[m] : 0.0f));
                }
    free(qx);
    free(qw);
    free(s_w);
    return y;
}

/* A generic INT8 node (here Add of two same-shape tensors): fake-quantized
 * inputs, FP32 arithmetic, FP16 output. */
static float *int8_add(const float *a, const float *b, size_t n, float amax_a, float amax_b)
{
    float sa = amax_a / 127.0f, sb = amax_b / 127.0f, *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        y[i] = round16((float)quant(a[i], sa) * sa + (float)quant(b[i], sb) * sb);
    return y;
}

/* The first runtime node of this op type whose activation inputs come from
 * other nodes (and, for Add, have the output's shape). */
static const struct qb_node *pick(const struct qb_graph *g, const char *op)
{
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        const struct qb_value *a = qb_node_in(g, n, 0), *b = qb_node_in(g, n, 1);
        if (strcmp(n->op_type, op) != 0 || a->producer < 0)
            continue;
        if (strcmp(op, "Add") == 0 &&
            (!b || b->producer < 0 || qb_value_numel(a) != qb_value_numel(b) ||
             qb_value_numel(a) != qb_value_numel(qb_node_out(g, n, 0))))
            continue;
        if (strcmp(op, "Conv") == 0 && qb_node_in(g, n, 1)->shape[2] != 3)
            continue;
        return n;
    }
    return NULL;
}

static void check_int8_node(const struct qb_graph *g, const char *op, const float *amax)
{
    const struct qb_node *n = pick(g, op);
    struct qb_error err = {0};
    enum qb_prec *prec = calloc((size_t)g->n_nodes, sizeof(*prec));
    bool *wanted = calloc((size_t)g->n_values, sizeof(bool));
    float **copy = calloc((size_t)g->n_values, sizeof(float *)), *want = NULL;
    struct capture cap = {.g = g, .copy = copy, .wanted = wanted};
    size_t n_out = 0, count;
    int y;

    CHECKF(n, "%s: no %s node to test", g->path, op);
    if (!n)
        goto out;
    for (int i = 0; i < g->n_nodes; i++)
        prec[i] = QB_PREC_FP16;
    prec[n - g->nodes] = QB_PREC_INT8;
    y = n->out[0];
    wanted[n->in[0]] = wanted[y] = true;
    if (n->n_in > 1 && n->in[1] >= 0)
        wanted[n->in[1]] = true;
    free(run(g, &(struct qb_exec_opts){.n_threads = 2, .prec = prec, .amax = amax, .observe = observe,
                                       .observe_user = &cap},
             &n_out, &err));
    CHECKF(copy[y], "%s: INT8 %s did not run: %s", g->path, n->name, err.msg);
    if (!copy[y])
        goto out;
    count = (size_t)qb_value_numel(&g->values[y]);
    if (strcmp(op, "Conv") == 0)
        want = int8_conv(g, n, copy[n->in[0]], amax[n->in[0]]);
    else
        want = int8_add(copy[n->in[0]], copy[n->in[1]], count, amax[n->in[0]], amax[n->in[1]]);
    CHECKF(count_diff(want, copy[y], count) == 0, "%s: INT8 %s '%s': %zu of %zu outputs differ from the oracle",
           g->path, op, n->name, count_diff(want, copy[y], count), count);
    if (count_diff(want, copy[y], count) == 0)
        printf("ok   %s: INT8 %s '%s' equals the oracle on %zu outputs\n", g->path, op, n->name, count);
out:
    for (int v = 0; v < g->n_values; v++)
        free(copy[v]);
    free(copy);
    free(wanted);
    free(want);
    free(prec);
}

/* Pointwise fusion, from its definition (testutil_sim.h): the values that only
 * elementwise nodes write and read, other than graph outputs, in an all-FP16 plan. */
static bool *chain_values(const struct qb_graph *g, int *count)
{
    bool *keep = calloc((size_t)g->n_values + 1, sizeof(bool));
    *count = 0;
    for (int v = 0; v < g->n_values; v++)
        *count += keep[v] = sim_kept_fp32(g, v);
    return keep;
}

/* The whole model ----------------------------------------------------------------- */

static bool is_resize_param(const struct qb_graph *g, int v)
{
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        for (int k = 1; k < n->n_in; k++)
            if (n->in[k] == v && strcmp(n->op_type, "Resize") == 0)
                return true;
    }
    return false;
}

static void check_model(const char *path)
{
    struct qb_graph *g = NULL, *g16 = NULL;
    struct qb_error err = {0};
    enum qb_prec *prec = NULL;
    float *ref = NULL, *fp32 = NULL, *fp16 = NULL, *oracle = NULL, *amax = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    double num = 0, den = 0;
    bool *keep = NULL;
    int n_keep = 0;

    if (qb_onnx_load(path, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK ||
        qb_onnx_load(path, &g16, &err) != QB_OK || qb_graph_prepare(g16, &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        goto out;
    }
    prec = calloc((size_t)g->n_nodes, sizeof(*prec));
    amax = calloc((size_t)g->n_values, sizeof(float));

    /* calibration of the FP32 model: max |x| per tensor */
    ref = run(g, &(struct qb_exec_opts){.n_threads = 2, .observe = observe,
                                        .observe_user = &(struct capture){.g = g, .amax = amax}},
              &n1, &err);
    fp32 = run(g, &(struct qb_exec_opts){.n_threads = 2, .prec = prec}, &n2, &err);
    CHECKF(ref && fp32 && n1 == n2 && count_diff(ref, fp32, n1) == 0, "%s: the all-FP32 plan is not the reference",
           path);

    for (int i = 0; i < g->n_nodes; i++)
        prec[i] = QB_PREC_FP16;
    fp16 = run(g, &(struct qb_exec_opts){.n_threads = 2, .prec = prec}, &n3, &err);
    for (int v = 0; v < g16->n_values; v++) {
        struct qb_value *c = &g16->values[v];
        if ((c->flags & QB_VALUE_CONST) && c->dtype == QB_DTYPE_F32 && !is_resize_param(g16, v))
            for (int64_t i = 0; i < qb_value_numel(c); i++)
                ((float *)c->data)[i] = round16(((float *)c->data)[i]);
    }
    keep = chain_values(g16, &n_keep);
    CHECKF(n_keep > 0, "%s: no value inside an elementwise chain (the SiLU Sigmoids)", path);
    oracle = run(g16, &(struct qb_exec_opts){.n_threads = 1, .observe = observe,
                                             .observe_user = &(struct capture){.g = g16, .round = true, .keep = keep}},
                 &n4, &err);
    CHECKF(fp16 && oracle && n3 == n4, "%s: FP16 runs failed: %s", path, err.msg);
    if (fp16 && oracle && n3 == n4) {
        for (size_t i = 0; i < n3; i++) {
            num += ((double)fp16[i] - ref[i]) * ((double)fp16[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        CHECKF(count_diff(fp16, oracle, n3) == 0, "%s: FP16 plan: %zu of %zu outputs differ from the oracle", path,
               count_diff(fp16, oracle, n3), n3);
        CHECKF(count_diff(fp16, ref, n3) > 0 && num / den < 1e-4, "%s: FP16 vs FP32 relative L2 %.3g", path,
               sqrt(num / den));
        printf("ok   %s: FP32 plan == reference; FP16 plan == oracle (%zu outputs, %d values fused; rel L2 vs "
               "FP32 %.2e)\n",
               path, n3, n_keep, sqrt(num / den));
    }

    check_int8_node(g, "Conv", amax);
    check_int8_node(g, "Add", amax);

    /* an INT8 node needs its input's range */
    {
        const struct qb_node *n = pick(g, "Conv");
        struct qb_executor *e = NULL;
        prec[n - g->nodes] = QB_PREC_INT8;
        amax[n->in[0]] = NAN;
        CHECK(qb_exec_new(g, &(struct qb_exec_opts){.n_threads = 1, .prec = prec, .amax = amax}, &e, &err) ==
              QB_ERR_INVALID);
        CHECKF(strstr(err.msg, g->values[n->in[0]].name) && strstr(err.msg, "amax"), "message: %s", err.msg);
        qb_exec_free(e);
    }
out:
    free(ref);
    free(fp32);
    free(fp16);
    free(oracle);
    free(keep);
    free(prec);
    free(amax);
    qb_graph_free(g);
    qb_graph_free(g16);
}

int main(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char path[4096];
    qb_log_set_level(QB_LOG_ERROR);
    for (size_t i = 0; i < sizeof(sim_models) / sizeof(sim_models[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", src ? src : ".", sim_models[i]);
        check_model(path);
    }
    return test_summary("test_sim");
}
