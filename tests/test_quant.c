/* The quantization numerics (core/quant.h) and the exact INT8 forms of Conv,
 * ConvTranspose, MatMul and Gemm (core/ops/int8.h), QuantizeLinear and
 * DequantizeLinear:
 *  - rounding half to even, clamping, NaN/inf, the scale of odd amax values;
 *  - per-channel weight scales on hand-computed weights;
 *  - a Conv and a MatMul worked by hand (int32 sums and outputs written out);
 *  - the fast paths equal the reference loops bit for bit on many shapes, and
 *    the reference agrees with the FP32 ops on the dequantized operands;
 *  - FP16 rounding: a table, then F16C and the portable path against
 *    ops/opsutil.c's conversions on a sweep of bit patterns (every pattern with
 *    QB_TEST_EXHAUSTIVE=1);
 *  - QuantizeLinear / DequantizeLinear values and refusals.
 *
 *   test_quant [--bench [THREADS]]     the bench compares INT8 and FP32 Conv speed
 */
#include <float.h>
#include <math.h>
#include <time.h>

#include "core/ops/conv_kernels.h"
#include "core/ops/int8.h"
#include "core/ops/opsutil.h"
#include "core/quant.h"
#include "testutil_graph.h"

static struct qb_pool *pool2;

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof(b));
    return b;
}

static float float_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof(f));
    return f;
}

/* Scalar quantization --------------------------------------------------------------- */

static void test_rounding(void)
{
    static const struct {
        float x;
        int q;
    } table[] = {
        {0.5f, 0},    {1.5f, 2},    {2.5f, 2},     {3.5f, 4},      {-0.5f, 0},   {-1.5f, -2},
        {-2.5f, -2},  {0.49999997f, 0}, {0.50000006f, 1}, {-0.50000006f, -1}, {126.5f, 126}, {-127.5f, -128},
        {127.5f, 127}, {127.49f, 127}, {-128.5f, -128}, {-129.0f, -128}, {1e30f, 127}, {-1e30f, -128},
        {0.0f, 0},    {-0.0f, 0},   {1e-30f, 0},
    };
    float xs[32], fake[32];
    int8_t q[32];
    size_t n = sizeof(table) / sizeof(table[0]);

    for (size_t i = 0; i < n; i++) {
        int got = qb_quant_value(table[i].x, 1.0f);
        CHECKF(got == table[i].q, "qb_quant_value(%.9g, 1) = %d, expected %d", table[i].x, got, table[i].q);
        xs[i] = table[i].x;
    }
    /* the bulk functions (vector body and scalar tail) give the same */
    qb_quant_buffer(xs, q, n, 1.0f);
    qb_quant_fake(xs, fake, n, 1.0f);
    for (size_t i = 0; i < n; i++) {
        CHECKF(q[i] == table[i].q, "qb_quant_buffer: element %zu is %d, expected %d", i, q[i], table[i].q);
        CHECKF(bits_of(fake[i]) == bits_of((float)table[i].q), "qb_quant_fake: element %zu is %.9g", i, fake[i]);
    }
    /* a scale that is not a power of two: the division is float32 x / s */
    CHECK(qb_quant_value(2.5f * 0.5f, 0.5f) == 2);
    CHECK(qb_quant_value(-3.5f * 0.25f, 0.25f) == -4);
    /* x / s in float32: -37.35 / 0.3 is -124.5 exactly (a tie -> -124), where
     * x * (1 / s) gives -124.500008 (-> -125) */
    {
        volatile float x = -0x1.2acccep+5f, s = 0.3f;
        CHECKF(x / s == -124.5f && x * (1.0f / s) < -124.5f, "the division example holds in float32");
        CHECK(qb_quant_value(x, s) == -124);
    }
    /* NaN and infinities */
    CHECK(qb_quant_value(NAN, 0.1f) == 0);
    CHECK(qb_quant_value(-NAN, 0.1f) == 0);
    CHECK(qb_quant_value(INFINITY, 0.1f) == 127);
    CHECK(qb_quant_value(-INFINITY, 0.1f) == -128);
    {
        float sp[9] = {NAN, INFINITY, -INFINITY, -0.2f, 0.3f, -0.0f, FLT_MAX, -FLT_MAX, 1.0f}, y[9];
        int8_t qq[9];
        qb_quant_fake(sp, y, 9, 0.5f);
        qb_quant_buffer(sp, qq, 9, 0.5f);
        CHECK(bits_of(y[0]) == 0 && y[1] == 63.5f && y[2] == -64.0f);
        CHECKF(bits_of(y[3]) == 0 && bits_of(y[5]) == 0, "zeros are +0.0 (%.9g, %.9g)", y[3], y[5]);
        CHECK(y[4] == 0.5f && y[6] == 63.5f && y[7] == -64.0f && y[8] == 1.0f);
        CHECK(qq[0] == 0 && qq[1] == 127 && qq[2] == -128 && qq[3] == 0 && qq[4] == 1 && qq[8] == 2);
    }
    /* clamping: -128 is reachable, +127 is the top */
    {
        float s = qb_quant_scale(1.0f);
        CHECK(qb_quant_value(1.0f, s) == 127 && qb_quant_value(-1.0f, s) == -127);
        CHECK(qb_quant_value(-1.01f, s) == -128 && qb_quant_value(-5.0f, s) == -128);
        CHECK(qb_quant_value(1.01f, s) == 127);
    }
    /* the QuantizeLinear form with a zero point: clamp after adding it */
    CHECK(qb_quant_round(-200.0f, 1.0f, 0 - 128, 255 - 128) + 128 == 0);
    CHECK(qb_quant_round(126.5f, 1.0f, 0 - 128, 255 - 128) + 128 == 254);
    CHECK(qb_quant_round(NAN, 1.0f, 0 - 3, 255 - 3) + 3 == 3);
}

static void test_scale(void)
{
    CHECK(qb_quant_scale(127.0f) == 1.0f);
    CHECK(qb_quant_scale(63.5f) == 0.5f);
    CHECK(qb_quant_scale(2.54f) == 2.54f / 127.0f);
    CHECK(qb_quant_scale(0.0f) == 1.0f);
    CHECK(qb_quant_scale(-0.0f) == 1.0f);
    CHECK(qb_quant_scale(-3.0f) == 1.0f);
    CHECK(qb_quant_scale(NAN) == 1.0f);
    CHECK(qb_quant_scale(INFINITY) == FLT_MAX / 127.0f);
    CHECK(qb_quant_scale(FLT_MAX) == FLT_MAX / 127.0f);
    CHECK(qb_quant_scale(1e-40f) == 1.0f);               /* amax / 127 would be subnormal */
    CHECK(qb_quant_scale(FLT_MIN * 127.0f) == FLT_MIN); /* the smallest scale that stays */
    /* a zero tensor quantizes to zeros with the scale of amax 0 */
    {
        float z[11] = {0}, y[11];
        qb_quant_fake(z, y, 11, qb_quant_scale(0.0f));
        for (int i = 0; i < 11; i++)
            CHECK(bits_of(y[i]) == 0);
    }
}

/* Per-channel weight scales, worked by hand: W is [4 channels, 4]. */
static void test_weights(void)
{
    static const float w[16] = {
        1.0f,  -127.0f, 2.5f,   3.5f,    /* amax 127: scale 1 */
        0.25f, -0.75f,  63.5f,  -31.75f, /* amax 63.5: scale 0.5 */
        0.0f,  -0.0f,   0.0f,   0.0f,    /* zeros: scale 1, all zero */
        NAN,   31.75f,  -0.125f, 0.375f, /* NaN ignored: amax 31.75, scale 0.25 */
    };
    static const int8_t want_q[16] = {1, -127, 2, 4, 0, -2, 127, -64, 0, 0, 0, 0, 0, 127, 0, 2};
    static const float want_s[4] = {1.0f, 0.5f, 1.0f, 0.25f};
    int8_t q[16];
    float s[4], amax[4];

    qb_quant_weights(w, 1, 4, 4, q, s);
    for (int c = 0; c < 4; c++)
        CHECKF(s[c] == want_s[c], "channel %d: scale %.9g, expected %.9g", c, s[c], want_s[c]);
    for (int i = 0; i < 16; i++)
        CHECKF(q[i] == want_q[i], "weight %d: %d, expected %d", i, q[i], want_q[i]);
    /* the same tensor seen with the channel as the last axis: [4, 4] columns */
    qb_quant_amax_axis(w, 4, 4, 1, amax);
    CHECK(amax[0] == 1.0f && amax[1] == 127.0f && amax[2] == 63.5f && amax[3] == 31.75f);
}

/* Running INT8 hooks ------------------------------------------------------------------ */

/* Runs node 0's INT8 form (the reference loops when `ref`) on data[k] for the
 * runtime inputs, scale[k] for activations (0 for constants, as the executor
 * passes them). Returns a malloc'd output, NULL when prepare_int8 fails. */
static float *run_int8(struct qb_graph *g, const float *const *data, const float *scale, bool ref,
                       struct qb_pool *p, enum qb_status *prep_st)
{
    const struct qb_node *n = &g->nodes[0];
    const struct qb_value *yv = qb_node_out(g, n, 0);
    struct qb_tview in[TN_MAX_IN], out = {.dtype = QB_DTYPE_F32, .ndim = yv->ndim};
    struct qb_error err = {0};
    struct qb_kctx ctx = {.pool = p, .graph = g};
    int64_t count = qb_value_numel(yv);
    float *y = guarded_f32(count), *res;
    void *state = NULL;
    size_t scratch = 0;
    enum qb_status st;

    st = n->def->prepare_int8(g, n, &state, &scratch, &err);
    if (prep_st)
        *prep_st = st;
    if (st != QB_OK) {
        if (!prep_st)
            CHECKF(0, "prepare_int8: %s", err.msg);
        guarded_free(y);
        return NULL;
    }
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *v = qb_node_in(g, n, k);
        memset(&in[k], 0, sizeof(in[k]));
        if (!v)
            continue;
        in[k].dtype = v->dtype;
        in[k].ndim = v->ndim;
        memcpy(in[k].shape, v->shape, sizeof(v->shape));
        in[k].data = (v->flags & QB_VALUE_CONST) ? v->data : (void *)data[k];
    }
    memcpy(out.shape, yv->shape, sizeof(yv->shape));
    out.data = y;
    ctx.state = state;
    ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) & ~(size_t)63) : NULL;
    ctx.scratch_size = scratch;
    qb_int8_force_reference(ref);
    st = n->def->run_int8(n, in, scale, &out, &ctx);
    qb_int8_force_reference(false);
    CHECKF(st == QB_OK, "run_int8: %s", qb_status_str(st));
    CHECKF(guarded_ok(y, count), "run_int8 wrote outside its output");
    n->def->release_int8(state);
    free(ctx.scratch);
    res = malloc((size_t)(count ? count : 1) * sizeof(float));
    memcpy(res, y, (size_t)count * sizeof(float));
    guarded_free(y);
    return res;
}

/* The tiny Conv worked by hand: X [1,1,3,3], W [2,1,2,2], stride 1, no pads.
 * s_in = 0.5 (amax 63.5): q_x = x / 0.5 = [[1, 2, -3], [4, 0, 127], [-2, 2, 6]]
 * (0.25 / 0.5 = 0.5 -> 0, 70 / 0.5 = 140 -> 127, -0.75 -> -1.5 -> -2, 1.25 -> 2.5 -> 2).
 * W0 amax 127 -> s_w 1:    q = [[64, -32], [12, 127]]  (63.5 -> 64, 12.5 -> 12)
 * W1 amax 31.75 -> s_w 0.25: q = [[127, -2], [0, -24]]  (-0.375 -> -1.5 -> -2, 0.125 -> 0.5 -> 0)
 * acc0 = [[1*64 + 2*-32 + 4*12 + 0*127, 2*64 + -3*-32 + 0*12 + 127*127],
 *         [4*64 + 0*-32 + -2*12 + 2*127, 0*64 + 127*-32 + 2*12 + 6*127]] = [[48, 16353], [486, -3278]]
 * acc1 = [[127 - 4 + 0 + 0, 254 + 6 + 0 - 3048], [508 + 0 + 0 - 48, 0 - 254 + 0 - 144]]
 *      = [[123, -2788], [460, -398]]
 * y = acc * (s_in * s_w) + b: channel 0 acc * 0.5 + 0.5, channel 1 acc * 0.125 - 1. */
static void test_conv_by_hand(void)
{
    static const float x[9] = {0.5f, 1.0f, -1.5f, 2.0f, 0.25f, 70.0f, -0.75f, 1.25f, 3.0f};
    static const float w[8] = {63.5f, -31.75f, 12.5f, 127.0f, 31.75f, -0.375f, 0.125f, -6.0f};
    static const float b[2] = {0.5f, -1.0f};
    static const int32_t acc[8] = {48, 16353, 486, -3278, 123, -2788, 460, -398};
    static const float want[8] = {24.5f, 8177.0f, 243.5f, -1638.5f, 14.375f, -349.5f, 56.5f, -50.75f};
    const float *data[3] = {x, NULL, NULL}, scale[3] = {qb_quant_scale(63.5f), 0, 0};
    struct tnode t = {.op = "Conv", .opset = 17, .n_in = 3, .n_out = 1};
    struct qb_graph *g;
    struct qb_error err = {0};

    t.in[0] = (struct tin){.ndim = 4, .shape = {1, 1, 3, 3}, .data = x};
    t.in[1] = (struct tin){.ndim = 4, .shape = {2, 1, 2, 2}, .data = w, .is_const = true};
    t.in[2] = (struct tin){.ndim = 1, .shape = {2}, .data = b, .is_const = true};
    CHECK(scale[0] == 0.5f);
    for (int i = 0; i < 8; i++)
        CHECK(want[i] == (float)acc[i] * (0.5f * (i < 4 ? 1.0f : 0.25f)) + b[i / 4]);
    if (tn_build(&t, &g, &err) != QB_OK) {
        CHECKF(0, "conv prepares: %s", err.msg);
        qb_graph_free(g);
        return;
    }
    for (int ref = 0; ref < 2; ref++) {
        float *y = run_int8(g, data, scale, ref, pool2, NULL);
        for (int i = 0; y && i < 8; i++)
            CHECKF(y[i] == want[i], "hand conv (%s): y[%d] = %.9g, expected %.9g", ref ? "reference" : "fast", i, y[i],
                   want[i]);
        free(y);
    }
    qb_graph_free(g);
}

/* The tiny MatMul worked by hand: A [2,3] activation with s_a = 1 (amax 127),
 * B [3,2] constant quantized per column.
 * q_a = [[1, -2, 3], [0, 127, -128]]          (0.5 -> 0, -200 -> -128)
 * B col 0 amax 127 -> s 1:      q = [64, -127, 0]    (63.5 -> 64)
 * B col 1 amax 15.875 -> s 0.125: q = [127, -64, 0]  (-7.9375 / 0.125 = -63.5 -> -64)
 * acc = [[1*64 + -2*-127 + 3*0, 1*127 + -2*-64 + 3*0], [0*64 + 127*-127 + -128*0, 0 + 127*-64 + 0]]
 *     = [[318, 255], [-16129, -8128]]
 * y = acc * (1 * s_b[j]) + 0.0f = [[318, 31.875], [-16129, -1016]]. */
static void test_matmul_by_hand(void)
{
    static const float a[6] = {1.0f, -2.0f, 3.0f, 0.5f, 127.0f, -200.0f};
    static const float b[6] = {63.5f, 15.875f, -127.0f, -7.9375f, 0.25f, 0.0f};
    static const int32_t acc[4] = {318, 255, -16129, -8128};
    static const float want[4] = {318.0f, 31.875f, -16129.0f, -1016.0f};
    const float *data[2] = {a, NULL}, scale[2] = {qb_quant_scale(127.0f), 0};
    struct tnode t = {.op = "MatMul", .opset = 17, .n_in = 2, .n_out = 1};
    struct qb_graph *g;
    struct qb_error err = {0};

    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .data = a};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 2}, .data = b, .is_const = true};
    for (int i = 0; i < 4; i++)
        CHECK(want[i] == (float)acc[i] * (1.0f * (i % 2 ? 0.125f : 1.0f)) + 0.0f);
    if (tn_build(&t, &g, &err) != QB_OK) {
        CHECKF(0, "matmul prepares: %s", err.msg);
        qb_graph_free(g);
        return;
    }
    for (int ref = 0; ref < 2; ref++) {
        float *y = run_int8(g, data, scale, ref, NULL, NULL);
        for (int i = 0; y && i < 4; i++)
            CHECKF(y[i] == want[i], "hand matmul (%s): y[%d] = %.9g, expected %.9g", ref ? "reference" : "fast", i,
                   y[i], want[i]);
        free(y);
    }
    qb_graph_free(g);
}

/* Sums past 2^24: 2200 odd products near -16129, whose float32 running sum
 * rounds on the way (odd terms past 2^24) and ends elsewhere than the exact
 * int32 sum converted once; the fast path must cut them into chunks. acc is
 * computed here in int64. */
static void test_long_sums(void)
{
    enum { K = 2200 };
    float *x = malloc(2 * K * sizeof(float)), *w = malloc(3 * K * sizeof(float));
    const float sx = qb_quant_scale(127.0f);
    int64_t acc = 0;
    float want, running = 0.0f;
    struct qb_graph *g;
    struct qb_error err = {0};

    for (int i = 0; i < K; i++) {
        x[i] = x[K + i] = (float)(-127 + 2 * (i % 3)); /* -127, -125, -123: odd */
        acc += (int64_t)(-127 + 2 * (i % 3)) * 127;
        running += (float)((-127 + 2 * (i % 3)) * 127);
    }
    for (int i = 0; i < 3 * K; i++)
        w[i] = 127.0f;
    want = qb_quant_out((int32_t)acc, 1.0f, 1.0f, 0.0f);
    CHECK(acc < -(1 << 25) && running != want); /* an unchunked float sum would show */
    for (int op = 0; op < 2; op++) {
        struct tnode t = {.op = op ? "MatMul" : "Conv", .opset = 17, .n_in = 2, .n_out = 1};
        const float *data[2] = {x, w};
        float scale[2] = {sx, sx};
        if (op) { /* both activations: [2, K] x [K, 3] (B's columns all 127) */
            t.in[0] = (struct tin){.ndim = 2, .shape = {2, K}, .data = x};
            t.in[1] = (struct tin){.ndim = 2, .shape = {K, 3}, .data = w};
        } else { /* 1x1 conv: X [1, K, 1, 1] twice as batch 2, W [3, K, 1, 1] with s_w = 1 */
            t.in[0] = (struct tin){.ndim = 4, .shape = {2, K, 1, 1}, .data = x};
            t.in[1] = (struct tin){.ndim = 4, .shape = {3, K, 1, 1}, .data = w, .is_const = true};
            scale[1] = 0;
        }
        if (tn_build(&t, &g, &err) != QB_OK) {
            CHECKF(0, "long sums: %s", err.msg);
            qb_graph_free(g);
            continue;
        }
        for (int ref = 0; ref < 2; ref++) {
            float *y = run_int8(g, data, scale, ref, pool2, NULL);
            for (int i = 0; y && i < 6; i++)
                CHECKF(bits_of(y[i]) == bits_of(want), "%s long sum (%s): y[%d] = %.9g, expected %.9g", t.op,
                       ref ? "reference" : "fast", i, y[i], want);
            free(y);
        }
        qb_graph_free(g);
    }
    free(x);
    free(w);
}

/* Fast path == reference on random shapes ---------------------------------------------- */

static size_t count_diff(const float *a, const float *b, int64_t n)
{
    size_t d = 0;
    for (int64_t i = 0; i < n; i++)
        d += bits_of(a[i]) != bits_of(b[i]);
    return d;
}

/* The reference against an FP32 computation of the same dequantized operands:
 * they differ by float rounding only. */
static bool close_to(const float *got, const float *want, int64_t n, const char *what)
{
    float mx = 0;
    for (int64_t i = 0; i < n; i++)
        mx = fmaxf(mx, fabsf(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 2e-5f * mx + 1e-6f)) {
            fprintf(stderr, "%s: element %lld is %.9g, FP32 on the dequantized operands %.9g\n", what, (long long)i,
                    got[i], want[i]);
            return false;
        }
    return true;
}

/* Conv kinds (conv_kernels.h) the cases ran: bit 0 plain, bit 1 with K chunks. */
static unsigned kinds_seen[QB_CONV_KIND_COUNT];

struct conv_case {
    bool transpose;
    int nsp, group;
    int64_t N, C, M, in[3], k[3], s[3], d[3], pads[6];
    bool bias;
};

static void test_conv_case(const struct conv_case *c, const char *what)
{
    struct tnode t = {.op = c->transpose ? "ConvTranspose" : "Conv", .opset = 17, .n_in = c->bias ? 3 : 2};
    struct tnode tq;
    int64_t xs = c->N * c->C, wcount, cg = c->C / c->group, mg = c->M / c->group, taps = 1, ks[3], ss[3], ds[3];
    float *x, *w, *b, *xq, *wq, *sw;
    int8_t *q;
    struct qb_graph *g = NULL, *gq = NULL;
    struct qb_error err = {0};
    const float amax = 1.5f, s_in = qb_quant_scale(amax);
    float scale[3] = {s_in, 0, 0};
    float *fast, *fast1, *ref, *fp32[1] = {0};

    for (int i = 0; i < c->nsp; i++) {
        xs *= c->in[i];
        taps *= c->k[i];
        ks[i] = c->k[i];
        ss[i] = c->s[i];
        ds[i] = c->d[i];
    }
    wcount = (c->transpose ? c->C * mg : c->M * cg) * taps;
    x = rand_buf(xs, -2.0f, 2.0f);
    w = rand_buf(wcount, -1.0f, 1.0f);
    b = rand_buf(c->M, -1.0f, 1.0f);
    if (!c->transpose) /* an all-zero output channel */
        memset(w, 0, (size_t)(cg * taps) * sizeof(float));
    t.in[0] = (struct tin){.ndim = 2 + c->nsp, .shape = {c->N, c->C}, .data = x};
    t.in[1] = (struct tin){.ndim = 2 + c->nsp, .shape = {c->transpose ? c->C : c->M, c->transpose ? mg : cg},
                           .data = w, .is_const = true};
    for (int i = 0; i < c->nsp; i++) {
        t.in[0].shape[2 + i] = c->in[i];
        t.in[1].shape[2 + i] = c->k[i];
    }
    if (c->bias)
        t.in[2] = (struct tin){.ndim = 1, .shape = {c->M}, .data = b, .is_const = true};
    attr_ints(&t, "strides", c->nsp, ss);
    attr_ints(&t, "dilations", c->nsp, ds);
    attr_ints(&t, "pads", 2 * c->nsp, c->pads);
    attr_ints(&t, "kernel_shape", c->nsp, ks);
    attr_int(&t, "group", c->group);
    tq = t;

    /* the FP32 op on dequantized x and per-channel dequantized w */
    xq = malloc((size_t)xs * sizeof(float));
    wq = malloc((size_t)wcount * sizeof(float));
    q = malloc((size_t)wcount);
    sw = malloc((size_t)c->M * sizeof(float));
    qb_quant_fake(x, xq, (size_t)xs, s_in);
    if (c->transpose)
        for (int64_t gi = 0; gi < c->group; gi++)
            qb_quant_weights(w + gi * cg * mg * taps, cg, mg, taps, q + gi * cg * mg * taps, sw + gi * mg);
    else
        qb_quant_weights(w, 1, c->M, cg * taps, q, sw);
    for (int64_t i = 0; i < wcount; i++) {
        int64_t m = c->transpose ? i / taps % mg + i / (cg * mg * taps) * mg : i / (cg * taps);
        wq[i] = (float)q[i] * sw[m];
    }
    tq.in[0].data = xq;
    tq.in[1].data = wq;

    if (tn_build(&t, &g, &err) != QB_OK || tn_build(&tq, &gq, &err) != QB_OK) {
        CHECKF(0, "%s prepares: %s", what, err.msg);
        goto out;
    }
    if (!c->transpose) {
        const struct qb_conv_params *p = g->nodes[0].params;
        kinds_seen[p->kind] |= p->cg * p->taps > QB_INT8_CHUNK ? 2u : 1u;
    }
    {
        const float *data[3] = {x, NULL, NULL};
        int64_t ny = qb_value_numel(qb_node_out(g, &g->nodes[0], 0));
        fast = run_int8(g, data, scale, false, pool2, NULL);
        fast1 = run_int8(g, data, scale, false, NULL, NULL);
        ref = run_int8(g, data, scale, true, pool2, NULL);
        tn_run(gq, &tq, pool2, (void **)fp32);
        if (fast && ref && fast1 && fp32[0]) {
            size_t d = count_diff(fast, ref, ny);
            CHECKF(d == 0, "%s: fast path differs from the reference in %zu of %lld values", what, d, (long long)ny);
            CHECKF(count_diff(fast, fast1, ny) == 0, "%s: the thread count changes bits", what);
            CHECKF(close_to(ref, fp32[0], ny, what), "%s: reference matches FP32 on dequantized operands", what);
        }
        free(fast);
        free(fast1);
        free(ref);
        free(fp32[0]);
    }
out:
    qb_graph_free(g);
    qb_graph_free(gq);
    free(x);
    free(w);
    free(b);
    free(xq);
    free(wq);
    free(q);
    free(sw);
}

static void test_convs(void)
{
    static const struct conv_case cases[] = {
        /* kinds of conv.c: POINTWISE, WIDE (stride 1), GEMM (im2col), DEPTHWISE */
        {.nsp = 2, .group = 1, .N = 2, .C = 16, .M = 24, .in = {9, 11}, .k = {1, 1}, .s = {1, 1}, .d = {1, 1}, .bias = 1},
        {.nsp = 2, .group = 1, .N = 1, .C = 8, .M = 12, .in = {10, 13}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        {.nsp = 2, .group = 1, .N = 2, .C = 8, .M = 16, .in = {11, 9}, .k = {3, 3}, .s = {2, 2}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        {.nsp = 2, .group = 16, .N = 2, .C = 16, .M = 16, .in = {12, 20}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        {.nsp = 2, .group = 8, .N = 1, .C = 8, .M = 8, .in = {13, 17}, .k = {5, 5}, .s = {2, 2}, .d = {1, 1},
         .pads = {2, 2, 2, 2}, .bias = 1},
        {.nsp = 2, .group = 4, .N = 1, .C = 4, .M = 4, .in = {40, 45}, .k = {7, 7}, .s = {1, 1}, .d = {1, 1},
         .pads = {3, 3, 3, 3}, .bias = 0},
        /* groups, channel multiplier, dilation, asymmetric pads, no bias */
        {.nsp = 2, .group = 2, .N = 1, .C = 8, .M = 6, .in = {9, 9}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        {.nsp = 2, .group = 4, .N = 1, .C = 4, .M = 8, .in = {10, 10}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        {.nsp = 2, .group = 1, .N = 1, .C = 5, .M = 7, .in = {15, 12}, .k = {3, 2}, .s = {1, 2}, .d = {2, 3},
         .pads = {0, 1, 2, 0}, .bias = 0},
        {.nsp = 2, .group = 1, .N = 1, .C = 3, .M = 16, .in = {33, 31}, .k = {3, 3}, .s = {2, 2}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        /* more than 1024 products per output: chunks summed in int32 */
        {.nsp = 2, .group = 1, .N = 1, .C = 160, .M = 9, .in = {6, 40}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        {.nsp = 2, .group = 1, .N = 2, .C = 1100, .M = 5, .in = {3, 4}, .k = {1, 1}, .s = {1, 1}, .d = {1, 1},
         .bias = 1},
        {.nsp = 2, .group = 2, .N = 1, .C = 260, .M = 6, .in = {7, 6}, .k = {3, 3}, .s = {2, 2}, .d = {1, 1},
         .pads = {1, 1, 1, 1}, .bias = 1},
        /* 1-D and 3-D */
        {.nsp = 1, .group = 1, .N = 2, .C = 6, .M = 5, .in = {30}, .k = {5}, .s = {2}, .d = {1}, .pads = {2, 1},
         .bias = 1},
        {.nsp = 3, .group = 1, .N = 1, .C = 3, .M = 4, .in = {5, 6, 7}, .k = {3, 3, 3}, .s = {1, 2, 1},
         .d = {1, 1, 1}, .pads = {1, 1, 1, 1, 1, 1}, .bias = 1},
        /* ConvTranspose (reference loops only) */
        {.transpose = 1, .nsp = 2, .group = 1, .N = 1, .C = 6, .M = 4, .in = {5, 6}, .k = {3, 3}, .s = {2, 2},
         .d = {1, 1}, .pads = {1, 1, 0, 0}, .bias = 1},
        {.transpose = 1, .nsp = 2, .group = 2, .N = 2, .C = 4, .M = 6, .in = {4, 4}, .k = {2, 2}, .s = {2, 2},
         .d = {1, 1}, .bias = 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "%s case %zu", cases[i].transpose ? "ConvTranspose" : "Conv", i);
        test_conv_case(&cases[i], what);
    }
    /* every kernel kind ran, and every GEMM kind with more than one chunk */
    for (int k = 0; k < QB_CONV_KIND_COUNT; k++)
        CHECKF(kinds_seen[k] & 1u && (k == QB_CONV_KIND_DEPTHWISE || kinds_seen[k] & 2u),
               "conv kind %d ran (%u)", k, kinds_seen[k]);
}

/* MatMul / Gemm: operands as (shape, constant?); the oracle is the plain sum in
 * int64 on this test's own quantization, times the scales, in double. */
struct mm_case {
    const char *op;
    int ra, rb, rc;
    int64_t sa[4], sb[4], sc[2];
    bool ca, cb;
    int ta, tb;
    float alpha, beta;
};

static void test_mm_case(const struct mm_case *c, const char *what)
{
    struct tnode t = {.op = c->op, .opset = 17, .n_in = c->rc ? 3 : 2};
    int64_t na = 1, nb = 1, nc = 1;
    float *a, *b, *cc, *fast, *fast1, *ref;
    struct qb_graph *g = NULL;
    struct qb_error err = {0};
    float scale[3] = {c->ca ? 0 : qb_quant_scale(0.9f), c->cb ? 0 : qb_quant_scale(1.2f), 0};
    const float *data[3];

    for (int i = 0; i < c->ra; i++)
        na *= c->sa[i];
    for (int i = 0; i < c->rb; i++)
        nb *= c->sb[i];
    for (int i = 0; i < c->rc; i++)
        nc *= c->sc[i];
    a = rand_buf(na, -1.0f, 1.0f);
    b = rand_buf(nb, -1.3f, 1.3f);
    cc = rand_buf(nc, -2.0f, 2.0f);
    data[0] = a;
    data[1] = b;
    data[2] = cc;
    t.in[0] = (struct tin){.ndim = c->ra, .data = a, .is_const = c->ca};
    t.in[1] = (struct tin){.ndim = c->rb, .data = b, .is_const = c->cb};
    memcpy(t.in[0].shape, c->sa, sizeof(c->sa));
    memcpy(t.in[1].shape, c->sb, sizeof(c->sb));
    if (c->rc) {
        t.in[2] = (struct tin){.ndim = c->rc, .data = cc, .is_const = true};
        memcpy(t.in[2].shape, c->sc, sizeof(c->sc));
    }
    if (strcmp(c->op, "Gemm") == 0) {
        attr_int(&t, "transA", c->ta);
        attr_int(&t, "transB", c->tb);
        attr_float(&t, "alpha", c->alpha);
        attr_float(&t, "beta", c->beta);
    }
    if (tn_build(&t, &g, &err) != QB_OK) {
        CHECKF(0, "%s prepares: %s", what, err.msg);
        goto out;
    }
    {
        int64_t ny = qb_value_numel(qb_node_out(g, &g->nodes[0], 0));
        fast = run_int8(g, data, scale, false, pool2, NULL);
        fast1 = run_int8(g, data, scale, false, NULL, NULL);
        ref = run_int8(g, data, scale, true, pool2, NULL);
        if (fast && fast1 && ref) {
            size_t d = count_diff(fast, ref, ny);
            CHECKF(d == 0, "%s: fast path differs from the reference in %zu of %lld values", what, d, (long long)ny);
            CHECKF(count_diff(fast, fast1, ny) == 0, "%s: the thread count changes bits", what);
        }
        /* 2-D Gemm / MatMul: an independent oracle */
        if (ref && c->ra == 2 && c->rb == 2) {
            bool gemm = strcmp(c->op, "Gemm") == 0;
            int64_t M = c->sa[gemm && c->ta ? 1 : 0], K = c->sa[gemm && c->ta ? 0 : 1];
            int64_t N = c->sb[gemm && c->tb ? 0 : 1];
            float *sa = malloc((size_t)M * sizeof(float)), *sb = malloc((size_t)N * sizeof(float)), mx = 0;
            double *want = malloc((size_t)(M * N) * sizeof(double));
            bool ok = true;
            for (int64_t i = 0; i < M; i++) {
                float m = 0;
                for (int64_t k = 0; k < K; k++)
                    m = fmaxf(m, fabsf(a[gemm && c->ta ? k * M + i : i * K + k]));
                sa[i] = c->ca ? qb_quant_scale(m) : scale[0];
            }
            for (int64_t j = 0; j < N; j++) {
                float m = 0;
                for (int64_t k = 0; k < K; k++)
                    m = fmaxf(m, fabsf(b[gemm && c->tb ? j * K + k : k * N + j]));
                sb[j] = c->cb ? qb_quant_scale(m) : scale[1];
            }
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    int64_t acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += (int64_t)qb_quant_value(a[gemm && c->ta ? k * M + i : i * K + k], sa[i]) *
                               qb_quant_value(b[gemm && c->tb ? j * K + k : k * N + j], sb[j]);
                    want[i * N + j] = (double)acc * sa[i] * sb[j] * (gemm ? c->alpha : 1.0);
                    if (gemm && c->rc)
                        want[i * N + j] += c->beta * (double)cc[(c->sc[0] == 1 && c->rc == 2 ? 0 : c->rc == 2 ? i * c->sc[1] : 0) +
                                                                (c->sc[c->rc - 1] == 1 ? 0 : j)];
                    mx = fmaxf(mx, (float)fabs(want[i * N + j]));
                }
            for (int64_t i = 0; i < M * N && ok; i++)
                if (!(fabs(ref[i] - want[i]) <= 2e-6 * mx + 1e-6)) {
                    fprintf(stderr, "%s: element %lld is %.9g, oracle %.9g\n", what, (long long)i, ref[i], want[i]);
                    ok = false;
                }
            CHECKF(ok, "%s: reference matches the int64 oracle", what);
            free(sa);
            free(sb);
            free(want);
        }
        free(fast);
        free(fast1);
        free(ref);
    }
out:
    qb_graph_free(g);
    free(a);
    free(b);
    free(cc);
}

static void test_matmuls(void)
{
    static const struct mm_case cases[] = {
        {.op = "MatMul", .ra = 2, .rb = 2, .sa = {5, 37}, .sb = {37, 19}, .cb = 1},
        {.op = "MatMul", .ra = 4, .rb = 2, .sa = {2, 3, 7, 40}, .sb = {40, 9}, .cb = 1},
        {.op = "MatMul", .ra = 3, .rb = 3, .sa = {2, 6, 33}, .sb = {2, 33, 10}},
        {.op = "MatMul", .ra = 4, .rb = 3, .sa = {3, 1, 5, 8}, .sb = {4, 8, 6}},
        {.op = "MatMul", .ra = 2, .rb = 2, .sa = {4, 1500}, .sb = {1500, 7}, .cb = 1},
        {.op = "MatMul", .ra = 2, .rb = 2, .sa = {3, 2100}, .sb = {2100, 5}},
        {.op = "MatMul", .ra = 1, .rb = 2, .sa = {12}, .sb = {12, 5}, .cb = 1},
        {.op = "MatMul", .ra = 2, .rb = 1, .sa = {6, 12}, .sb = {12}, .cb = 1},
        {.op = "MatMul", .ra = 2, .rb = 3, .sa = {6, 20}, .sb = {2, 20, 7}, .ca = 1},
        {.op = "MatMul", .ra = 2, .rb = 2, .sa = {9, 20}, .sb = {20, 11}, .ca = 1},
        {.op = "MatMul", .ra = 3, .rb = 3, .sa = {2, 64, 32}, .sb = {2, 32, 64}},
        {.op = "Gemm", .ra = 2, .rb = 2, .rc = 1, .sa = {5, 30}, .sb = {30, 8}, .sc = {8}, .cb = 1, .alpha = 0.5f,
         .beta = 2.0f},
        {.op = "Gemm", .ra = 2, .rb = 2, .rc = 2, .sa = {30, 5}, .sb = {8, 30}, .sc = {5, 1}, .cb = 1, .ta = 1,
         .tb = 1, .alpha = 1.0f, .beta = 1.0f},
        {.op = "Gemm", .ra = 2, .rb = 2, .rc = 2, .sa = {6, 25}, .sb = {25, 4}, .sc = {6, 4}, .alpha = -1.5f,
         .beta = 0.25f},
        {.op = "Gemm", .ra = 2, .rb = 2, .sa = {3, 1300}, .sb = {10, 1300}, .cb = 1, .tb = 1, .alpha = 1.0f,
         .beta = 1.0f},
        {.op = "Gemm", .ra = 2, .rb = 2, .rc = 1, .sa = {7, 12}, .sb = {12, 3}, .sc = {1}, .ca = 1, .alpha = 2.0f,
         .beta = 1.0f},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "%s case %zu", cases[i].op, i);
        test_mm_case(&cases[i], what);
    }
}

/* An INT8 node refuses what it cannot run, by name. */
static void test_int8_refusals(void)
{
    static const float w[4] = {1, 2, 3, 4}, x[4] = {1, 2, 3, 4};
    struct tnode t = {.op = "MatMul", .opset = 17, .n_in = 2, .n_out = 1};
    struct qb_graph *g;
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    float scale[2] = {0.1f, 0.1f};
    const float *data[2] = {x, w};

    /* a Conv whose X is a constant has no calibrated range */
    t = (struct tnode){.op = "Conv", .opset = 17, .n_in = 2, .n_out = 1};
    t.in[0] = (struct tin){.ndim = 4, .shape = {1, 1, 2, 2}, .data = x, .is_const = true};
    t.in[1] = (struct tin){.ndim = 4, .shape = {1, 1, 1, 1}, .data = w};
    if (tn_build(&t, &g, &err) == QB_OK) {
        CHECK(run_int8(g, data, scale, false, NULL, &st) == NULL);
        CHECK(st == QB_ERR_UNSUPPORTED);
    }
    qb_graph_free(g);
    /* a Conv whose W is computed at run time: per tensor, reference loops */
    {
        static const float wx[2] = {0.5f, -1.0f}, xx[8] = {1, 2, 3, 4, -1, -2, -3, -4};
        const float *d2[2] = {xx, wx};
        float s2[2] = {qb_quant_scale(4.0f), qb_quant_scale(1.0f)};
        t = (struct tnode){.op = "Conv", .opset = 17, .n_in = 2, .n_out = 1};
        t.in[0] = (struct tin){.ndim = 4, .shape = {1, 2, 2, 2}, .data = xx};
        t.in[1] = (struct tin){.ndim = 4, .shape = {1, 2, 1, 1}, .data = wx};
        if (tn_build(&t, &g, &err) == QB_OK) {
            float *y = run_int8(g, d2, s2, false, NULL, NULL);
            /* q_x = round(x * 127 / 4), q_w = [64, -127] (0.5 * 127 = 63.5 -> 64) */
            for (int i = 0; y && i < 4; i++) {
                int32_t acc = qb_quant_value(xx[i], s2[0]) * 64 + qb_quant_value(xx[4 + i], s2[0]) * -127;
                CHECKF(y[i] == qb_quant_out(acc, s2[0], s2[1], 0.0f), "runtime W: y[%d] = %.9g", i, y[i]);
            }
            free(y);
        }
        qb_graph_free(g);
    }
}

/* QuantizeLinear / DequantizeLinear ---------------------------------------------------- */

static void test_qdq(void)
{
    static const float x[6] = {-1.0f, 0.25f, 0.75f, 100.0f, -100.0f, NAN};
    static const float s1[1] = {0.5f}, s3[3] = {0.5f, 1.0f, 0.25f};
    static const uint8_t zu[1] = {128}, zu3[3] = {0, 10, 255};
    static const int8_t zi[1] = {-3};
    static const uint8_t want_u[6] = {126, 128, 130, 255, 0, 128}; /* -2, 0.5 -> 0, 1.5 -> 2, clamp, clamp, NaN */
    static const int8_t want_i[6] = {-5, -3, -1, 127, -128, -3};
    int64_t shp[1] = {6}, one[1] = {1}, shp2[2] = {2, 3}, three[1] = {3};
    struct tcase tc;

    {
        struct tin in[3] = {fin(1, shp, x), cin(QB_DTYPE_F32, 1, one, s1), cin(QB_DTYPE_U8, 1, one, zu)};
        if (build_run(&tc, 13, "QuantizeLinear", 3, in, 1, NULL, 0, 1, shp))
            expect_bytes("QuantizeLinear uint8 zero point 128", tc.buf[0], want_u, 6);
        done(&tc);
    }
    {
        struct tin in[3] = {fin(1, shp, x), cin(QB_DTYPE_F32, 0, NULL, s1), cin(QB_DTYPE_I8, 0, NULL, zi)};
        if (build_run(&tc, 10, "QuantizeLinear", 3, in, 1, NULL, 0, 1, shp))
            expect_bytes("QuantizeLinear int8 zero point -3", tc.buf[0], want_i, 6);
        done(&tc);
    }
    {
        /* no zero point: uint8 */
        static const uint8_t want[6] = {0, 0, 2, 200, 0, 0};
        struct tin in[2] = {fin(1, shp, x), cin(QB_DTYPE_F32, 0, NULL, s1)};
        if (build_run(&tc, 13, "QuantizeLinear", 2, in, 1, NULL, 0, 1, shp)) {
            CHECK(tc.out[0].dtype == QB_DTYPE_U8);
            expect_bytes("QuantizeLinear default uint8", tc.buf[0], want, 6);
        }
        done(&tc);
    }
    {
        /* per axis 1 of [2, 3] */
        static const uint8_t want[6] = {0, 10, 255, 200, 0, 255};
        struct tin in[3] = {fin(2, shp2, x), cin(QB_DTYPE_F32, 1, three, s3), cin(QB_DTYPE_U8, 1, three, zu3)};
        if (build_run(&tc, 13, "QuantizeLinear", 3, in, 1, NULL, 0, 2, shp2))
            expect_bytes("QuantizeLinear per axis", tc.buf[0], want, 6);
        done(&tc);
    }
    {
        /* int8 with zero point 0 is the INT8 nodes' quantization itself */
        static const int8_t z0[1] = {0};
        float xs[37], fake[37];
        int8_t q[37];
        int64_t n37[1] = {37};
        for (int i = 0; i < 37; i++)
            xs[i] = frand(-3.0f, 3.0f);
        xs[5] = NAN;
        xs[6] = 0.25f; /* a tie */
        qb_quant_buffer(xs, q, 37, 0.5f);
        qb_quant_fake(xs, fake, 37, 0.5f);
        struct tin in[3] = {fin(1, n37, xs), cin(QB_DTYPE_F32, 0, NULL, s1), cin(QB_DTYPE_I8, 0, NULL, z0)};
        if (build_run(&tc, 13, "QuantizeLinear", 3, in, 1, NULL, 0, 1, n37))
            expect_bytes("QuantizeLinear int8 == qb_quant_buffer", tc.buf[0], q, 37);
        done(&tc);
        /* and DequantizeLinear of that is qb_quant_fake */
        struct tin dq[3] = {cin(QB_DTYPE_I8, 1, n37, q), cin(QB_DTYPE_F32, 0, NULL, s1), cin(QB_DTYPE_I8, 0, NULL, z0)};
        struct tin dqr[3] = {dq[0], fin(0, one, s1), dq[2]}; /* a runtime scale: not folded */
        if (build_run(&tc, 13, "DequantizeLinear", 3, dqr, 1, NULL, 0, 1, n37))
            expect_bytes("DequantizeLinear(QuantizeLinear(x)) == qb_quant_fake(x)", tc.buf[0], fake, 37 * sizeof(float));
        done(&tc);
    }
    {
        static const uint8_t xu[6] = {0, 10, 255, 128, 1, 254};
        static const float want[6] = {0.0f, 0.0f, 0.0f, 64.0f, -9.0f, -0.25f}; /* (x - zp) * s */
        struct tin in[3] = {cin(QB_DTYPE_U8, 2, shp2, xu), fin(1, three, s3), cin(QB_DTYPE_U8, 1, three, zu3)};
        if (build_run(&tc, 13, "DequantizeLinear", 3, in, 1, NULL, 0, 2, shp2))
            expect_bytes("DequantizeLinear per axis", tc.buf[0], want, sizeof(want));
        done(&tc);
    }
    /* refusals, by name */
    {
        static const int16_t z16[1] = {0};
        struct tin in[3] = {fin(1, shp, x), cin(QB_DTYPE_F32, 0, NULL, s1), cin(QB_DTYPE_I16, 0, NULL, z16)};
        build(&tc, 21, "QuantizeLinear", 3, in, 1, NULL, 0);
        expect_refused("QuantizeLinear int16", &tc);
    }
    {
        struct qb_attr at[1] = {attr_i("block_size", 2)};
        struct tin in[2] = {fin(1, shp, x), cin(QB_DTYPE_F32, 1, three, s3)};
        build(&tc, 21, "QuantizeLinear", 2, in, 1, at, 1);
        expect_refused("QuantizeLinear block_size", &tc);
    }
    {
        static const uint16_t h[1] = {0x3800};
        struct tin in[2] = {fin(1, shp, x), cin(QB_DTYPE_F16, 0, NULL, h)};
        build(&tc, 19, "QuantizeLinear", 2, in, 1, NULL, 0);
        expect_refused("QuantizeLinear float16 scale", &tc);
    }
    {
        static const int16_t x16[6] = {0};
        struct tin in[2] = {cin(QB_DTYPE_I16, 1, shp, x16), fin(0, one, s1)};
        build(&tc, 21, "DequantizeLinear", 2, in, 1, NULL, 0);
        expect_refused("DequantizeLinear int16", &tc);
    }
}

/* FP16 rounding ------------------------------------------------------------------------ */

static float fp16_ref(float f)
{
    return qb_opu_half_to_float(qb_opu_float_to_half(f));
}

static void test_fp16_table(void)
{
    static const struct {
        uint32_t in, out;
    } table[] = {
        {0x3F800000u, 0x3F800000u}, /* 1 */
        {0x3F801000u, 0x3F800000u}, /* 1 + 2^-11: a tie, to even (1) */
        {0x3F803000u, 0x3F804000u}, /* 1 + 3 * 2^-11: a tie, to even (1 + 2^-9) */
        {0x3F801001u, 0x3F802000u}, /* just above the tie: up */
        {0x3DCCCCCDu, 0x3DCCC000u}, /* 0.1 -> 0.0999755859375 */
        {0x477FE000u, 0x477FE000u}, /* 65504, the largest half */
        {0x477FEFFFu, 0x477FE000u}, /* just below 65520: 65504 */
        {0x477FF000u, 0x7F800000u}, /* 65520: a tie, to even: infinity */
        {0xC77FF000u, 0xFF800000u}, /* -65520: -infinity */
        {0x38800000u, 0x38800000u}, /* 2^-14, the smallest normal half */
        {0x387FC000u, 0x387FC000u}, /* 2^-14 - 2^-24, the largest subnormal */
        {0x387FE000u, 0x38800000u}, /* 2^-14 - 2^-25: a tie, to even: 2^-14 */
        {0x33800000u, 0x33800000u}, /* 2^-24, the smallest subnormal */
        {0x33000000u, 0x00000000u}, /* 2^-25: a tie, to even: 0 */
        {0x33000001u, 0x33800000u}, /* just above: 2^-24 */
        {0x33C00000u, 0x34000000u}, /* 3 * 2^-25: a tie, to even: 2^-23 */
        {0xB3000000u, 0x80000000u}, /* -2^-25: -0 */
        {0x80000000u, 0x80000000u}, /* -0 */
        {0x00000001u, 0x00000000u}, /* float subnormal: 0 */
        {0x7F800000u, 0x7F800000u}, /* inf */
        {0xFF800000u, 0xFF800000u}, /* -inf */
        {0x7FC00000u, 0x7FC00000u}, /* quiet NaN */
        {0x7F800001u, 0x7FC00000u}, /* signalling NaN, low payload: quieted, payload cut */
        {0xFFA12345u, 0xFFE12000u}, /* negative NaN with payload */
    };
    size_t n = sizeof(table) / sizeof(table[0]);
    float x[32], y[32];

    for (int pass = 0; pass < 2; pass++) {
        qb_fp16_force_generic(pass == 1);
        for (size_t i = 0; i < n; i++)
            x[i] = float_of(table[i].in);
        qb_fp16_round(x, y, n);
        for (size_t i = 0; i < n; i++) {
            CHECKF(bits_of(y[i]) == table[i].out, "fp16 (%s) of %08x: %08x, expected %08x", qb_fp16_isa(),
                   table[i].in, bits_of(y[i]), table[i].out);
            CHECKF(bits_of(fp16_ref(x[i])) == table[i].out, "opsutil's conversions of %08x: %08x", table[i].in,
                   bits_of(fp16_ref(x[i])));
        }
        qb_fp16_round(x, x, n); /* in place */
        CHECK(memcmp(x, y, n * sizeof(float)) == 0);
    }
    qb_fp16_force_generic(false);
}

/* Both paths against opsutil on the bit patterns [lo, hi) stepping by `step`
 * (every pattern: QB_TEST_EXHAUSTIVE=1), plus for each top 19 bits (sign,
 * exponent, 10 kept mantissa bits) the low 13 bits that decide the rounding. */
static void test_fp16_sweep(void)
{
    static const uint32_t lows[] = {0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x0800, 0x17FF};
    enum { B = 1 << 16 };
    const bool all = getenv("QB_TEST_EXHAUSTIVE") != NULL;
    uint32_t *in = malloc(B * sizeof(uint32_t));
    float *fast = malloc(B * sizeof(float)), *gen = malloc(B * sizeof(float));
    uint64_t bad = 0, tested = 0, total = all ? (1ull << 32) : (1ull << 19) * 8;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t base = 0; base < total; base += B) {
        for (uint32_t i = 0; i < B; i++) {
            uint64_t k = base + i;
            in[i] = all ? (uint32_t)k : (uint32_t)((k >> 3) << 13) | lows[k & 7];
        }
        qb_fp16_force_generic(false);
        qb_fp16_round((const float *)in, fast, B);
        qb_fp16_force_generic(true);
        qb_fp16_round((const float *)in, gen, B);
        for (uint32_t i = 0; i < B; i++) {
            uint32_t want = bits_of(fp16_ref(float_of(in[i])));
            if (bits_of(fast[i]) != want || bits_of(gen[i]) != want) {
                if (bad++ < 5)
                    fprintf(stderr, "fp16 of %08x: f16c %08x, generic %08x, opsutil %08x\n", in[i], bits_of(fast[i]),
                            bits_of(gen[i]), want);
            }
        }
        tested += B;
    }
    qb_fp16_force_generic(false);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECKF(bad == 0, "fp16 rounding: %llu of %llu bit patterns differ from opsutil", (unsigned long long)bad,
           (unsigned long long)tested);
    printf("fp16 rounding: %llu bit patterns%s, both paths equal to opsutil (%.1f s)\n", (unsigned long long)tested,
           all ? " (all)" : " (sampled; QB_TEST_EXHAUSTIVE=1 for all)",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    free(in);
    free(fast);
    free(gen);
}

/* The bulk quantization (vector body) against the scalar definition. */
static void test_quant_bulk(void)
{
    enum { N = 4099 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float)), *z = malloc(N * sizeof(float));
    int8_t *q = malloc(N);
    size_t bad = 0;

    for (int i = 0; i < N; i++)
        x[i] = i % 97 == 0 ? float_of(rng32() | (rng32() & 1u) << 31) : frand(-300.0f, 300.0f);
    for (int i = 0; i < 64; i++)
        x[i] = (float)(i - 32) * 0.5f * 0.37f; /* ties at scale 0.37 (as rounded in float32) */
    for (int rep = 0; rep < 3; rep++) {
        float s = rep == 0 ? 0.37f : rep == 1 ? 1.0f : qb_quant_scale(250.0f);
        qb_quant_buffer(x, q, N, s);
        qb_quant_fake(x, y, N, s);
        qb_quant_ints(x, z, N, s);
        for (int i = 0; i < N; i++) {
            int8_t want = qb_quant_value(x[i], s);
            bad += q[i] != want || bits_of(y[i]) != bits_of((float)want * s) || bits_of(z[i]) != bits_of((float)want);
        }
        memcpy(y, x, N * sizeof(float));
        qb_quant_fake(y, y, N, s); /* in place */
        for (int i = 0; i < N; i++)
            bad += bits_of(y[i]) != bits_of((float)qb_quant_value(x[i], s) * s);
    }
    CHECKF(bad == 0, "bulk quantization differs from qb_quant_value in %zu values", bad);
    free(x);
    free(y);
    free(z);
    free(q);
}

/* Benchmark: INT8 against FP32 Conv on YOLO-sized layers --------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of several runs of f(arg). */
static double best_time(void (*f)(void *), void *arg)
{
    double best = 1e30, start = now_s();
    int reps = 0;
    f(arg);
    do {
        double t0 = now_s();
        f(arg);
        double t = now_s() - t0;
        best = t < best ? t : best;
        reps++;
    } while (now_s() - start < 0.5 || reps < 3);
    return best;
}

struct bench_run {
    const struct qb_node *n;
    struct qb_tview *in, *out;
    struct qb_kctx *ctx;
    const float *scale;
};

static void bench_fp32(void *arg)
{
    struct bench_run *b = arg;
    b->n->def->run(b->n, b->in, b->out, b->ctx);
}

static void bench_int8(void *arg)
{
    struct bench_run *b = arg;
    b->n->def->run_int8(b->n, b->in, b->scale, b->out, b->ctx);
}

static void bench(int threads)
{
    static const struct {
        const char *name;
        int64_t N, C, M, H, k, s, group;
    } shapes[] = {
        {"3x3 s1  64->64  @80 x2", 2, 64, 64, 80, 3, 1, 1},   {"3x3 s1  32->32 @160 x2", 2, 32, 32, 160, 3, 1, 1},
        {"3x3 s2  64->128 @80 x2", 2, 64, 128, 80, 3, 2, 1},  {"3x3 s1 128->128 @40 x2", 2, 128, 128, 40, 3, 1, 1},
        {"1x1    128->64  @80 x2", 2, 128, 64, 80, 1, 1, 1},  {"dw7x7  128      @40 x2", 2, 128, 128, 40, 7, 1, 128},
        {"3x3 s1 256->256 @20 x2", 2, 256, 256, 20, 3, 1, 1},
    };
    struct qb_pool *bp = threads > 1 ? qb_pool_new(threads) : NULL;

    printf("INT8 vs FP32 Conv, %d thread%s, sgemm %s (INT8 time includes quantizing the input)\n", threads,
           threads > 1 ? "s" : "", qb_sgemm_isa());
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct tnode t = {.op = "Conv", .opset = 17, .n_in = 3, .n_out = 1};
        int64_t C = shapes[i].C, M = shapes[i].M, H = shapes[i].H, k = shapes[i].k, N = shapes[i].N;
        int64_t cg = C / shapes[i].group, pad = k / 2;
        float *x = rand_buf(N * C * H * H, -1, 1), *w = rand_buf(M * cg * k * k, -1, 1), *b = rand_buf(M, -1, 1);
        struct qb_graph *g;
        struct qb_error err = {0};
        struct qb_tview in[3], out;
        struct qb_kctx ctx = {.pool = bp};
        void *st32 = NULL, *st8 = NULL;
        size_t sc32 = 0, sc8 = 0;
        float scale[3] = {qb_quant_scale(1.0f), 0, 0};
        double t32, t8;

        t.in[0] = (struct tin){.ndim = 4, .shape = {N, C, H, H}, .data = x};
        t.in[1] = (struct tin){.ndim = 4, .shape = {M, cg, k, k}, .data = w, .is_const = true};
        t.in[2] = (struct tin){.ndim = 1, .shape = {M}, .data = b, .is_const = true};
        attr_ints(&t, "strides", 2, (int64_t[]){shapes[i].s, shapes[i].s});
        attr_ints(&t, "pads", 4, (int64_t[]){pad, pad, pad, pad});
        attr_int(&t, "group", shapes[i].group);
        if (tn_build(&t, &g, &err) != QB_OK) {
            printf("  %s: %s\n", shapes[i].name, err.msg);
            qb_graph_free(g);
            continue;
        }
        const struct qb_node *n = &g->nodes[0];
        const struct qb_value *yv = qb_node_out(g, n, 0);
        for (int kk = 0; kk < 3; kk++) {
            const struct qb_value *v = qb_node_in(g, n, kk);
            in[kk] = (struct qb_tview){.dtype = QB_DTYPE_F32, .ndim = v->ndim,
                                       .data = (v->flags & QB_VALUE_CONST) ? v->data : x};
            memcpy(in[kk].shape, v->shape, sizeof(v->shape));
        }
        out = (struct qb_tview){.dtype = QB_DTYPE_F32, .ndim = 4};
        memcpy(out.shape, yv->shape, sizeof(yv->shape));
        out.data = malloc((size_t)qb_value_numel(yv) * sizeof(float));
        n->def->prepare(g, n, &st32, &sc32, NULL);
        n->def->prepare_int8(g, n, &st8, &sc8, NULL);
        ctx.scratch_size = sc32 > sc8 ? sc32 : sc8;
        ctx.scratch = aligned_alloc(64, (ctx.scratch_size + 64) & ~(size_t)63);
        struct bench_run br = {.n = n, .in = in, .out = &out, .ctx = &ctx, .scale = scale};
        ctx.state = st32;
        t32 = best_time(bench_fp32, &br);
        ctx.state = st8;
        t8 = best_time(bench_int8, &br);
        printf("  %-24s FP32 %8.3f ms   INT8 %8.3f ms   INT8 speed %.2fx FP32\n", shapes[i].name, t32 * 1e3,
               t8 * 1e3, t32 / t8);
        if (n->def->release)
            n->def->release(st32);
        n->def->release_int8(st8);
        free(ctx.scratch);
        free(out.data);
        free(x);
        free(w);
        free(b);
        qb_graph_free(g);
    }
    qb_pool_free(bp);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(argc > 2 ? atoi(argv[2]) : 1);
        return 0;
    }
    pool2 = qb_pool_new(2);
    test_rounding();
    test_scale();
    test_weights();
    test_quant_bulk();
    test_conv_by_hand();
    test_matmul_by_hand();
    test_long_sums();
    test_convs();
    test_matmuls();
    test_int8_refusals();
    test_qdq();
    test_fp16_table();
    test_fp16_sweep();
    qb_pool_free(pool2);
    return test_summary("test_quant");
}
