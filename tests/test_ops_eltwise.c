/* Element-wise ops against plain reference code: unary activations and math
 * (float and integer), binary arithmetic and comparisons with broadcasting,
 * variadic Sum/Mean/Max/Min, Where, Clip and Cast, and the activation kernels'
 * portable and widest ISA paths. Random inputs from a fixed seed with NaNs,
 * opset variants, and refusals (infer answers QB_ERR_UNSUPPORTED for what the
 * kernels do not implement). The harness is tests/testutil_graph.h.
 */
#include "core/ops/act.h"
#include "testutil_graph.h"

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
        CHECKF(tc.prep == QB_ERR_INVALID, "Add opset 6 without broadcast: prepare gave %d", tc.prep);
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
        a32[i] = (int32_t)(a64[i] = (int64_t)(rng32() % 101) - 50);
    for (int i = 0; i < 4; i++)
        b32[i] = (int32_t)(b64[i] = (i % 2 ? 1 : -1) * (int64_t)(1 + rng32() % 7));
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
            CHECKF((h[7] & 0x7C00) == 0x7C00 && (h[7] & 0x3FF), "Cast NaN->float16 stays NaN: %04x", h[7]);
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

/* refusals ---------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    int64_t s[2] = {2, 3};
    float x[6] = {0};
    int32_t xi[6] = {0};
    struct tcase tc;
    {
        struct tin in[1] = {cin(QB_DTYPE_I32, 2, s, xi)};
        build(&tc, 13, "Sigmoid", 1, in, 1, NULL, 0);
        expect_refused("Sigmoid on int32", &tc);
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
        struct qb_attr unknown[1] = {attr_i("color", 1)};
        build(&tc, 13, "Cast", 1, in, 1, to_str, 1);
        expect_refused("Cast to string", &tc);
        build(&tc, 20, "Gelu", 1, in, 1, bad_gelu, 1);
        expect_refused("Gelu approximate=erf", &tc);
        build(&tc, 13, "Relu", 1, in, 1, unknown, 1);
        expect_refused("unknown attribute", &tc);
        build(&tc, 19, "Gelu", 1, in, 1, NULL, 0);
        expect_refused("Gelu before opset 20", &tc);
    }
}

int main(void)
{
    pool = qb_pool_new(2);
    assert(pool);
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
    test_refusals();
    qb_pool_free(pool);
    return test_summary("test_ops_eltwise");
}
