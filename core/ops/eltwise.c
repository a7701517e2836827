/* Element-wise ops: unary activations and math (float32; a few also on integers),
 * Clip, Cast/CastLike, and the table that also lists the broadcasting binary ops
 * of binary.c. */
#include <math.h>
#include <string.h>

#include "../op.h"
#include "act.h"
#include "binary.h"
#include "opsutil.h"

enum un_op {
    UN_SIGMOID,
    UN_RELU,
    UN_LEAKYRELU,
    UN_TANH,
    UN_EXP,
    UN_LOG,
    UN_SQRT,
    UN_NEG,
    UN_ABS,
    UN_RECIPROCAL,
    UN_FLOOR,
    UN_CEIL,
    UN_ROUND,
    UN_ERF,
    UN_HARDSIGMOID,
    UN_HARDSWISH,
    UN_ELU,
    UN_SELU,
    UN_CELU,
    UN_SOFTPLUS,
    UN_SOFTSIGN,
    UN_SIGN,
    UN_SIN,
    UN_COS,
    UN_TAN,
    UN_ASIN,
    UN_ACOS,
    UN_ATAN,
    UN_SINH,
    UN_COSH,
    UN_ASINH,
    UN_ACOSH,
    UN_ATANH,
    UN_GELU,
    UN_GELU_TANH,
    UN_THRESHOLDEDRELU,
    UN_SHRINK,
    UN_MISH,
    UN_ISNAN,
    UN_ISINF,
    UN_NOT,
    UN_BITNOT,
    UN_COUNT
};

#define M(t) (1u << (t))
#define M_F32 M(QB_DTYPE_F32)
#define M_SINT (M(QB_DTYPE_I8) | M(QB_DTYPE_I16) | M(QB_DTYPE_I32) | M(QB_DTYPE_I64))
#define M_UINT (M(QB_DTYPE_U8) | M(QB_DTYPE_U16) | M(QB_DTYPE_U32) | M(QB_DTYPE_U64))

struct un_info {
    const char *name;
    enum un_op op;
    unsigned types;      /* input dtypes; float32 runs the vector kernel, others the scalar path */
    float alpha, beta;   /* attribute defaults */
    bool out_bool;
};

static const struct un_info un_ops[] = {
    {"Sigmoid", UN_SIGMOID, M_F32, 0, 0, false},
    {"Relu", UN_RELU, M_F32 | M_SINT, 0, 0, false},
    {"LeakyRelu", UN_LEAKYRELU, M_F32, 0.01f, 0, false},
    {"Tanh", UN_TANH, M_F32, 0, 0, false},
    {"Exp", UN_EXP, M_F32, 0, 0, false},
    {"Log", UN_LOG, M_F32, 0, 0, false},
    {"Sqrt", UN_SQRT, M_F32, 0, 0, false},
    {"Neg", UN_NEG, M_F32 | M_SINT, 0, 0, false},
    {"Abs", UN_ABS, M_F32 | M_SINT | M_UINT, 0, 0, false},
    {"Reciprocal", UN_RECIPROCAL, M_F32, 0, 0, false},
    {"Floor", UN_FLOOR, M_F32, 0, 0, false},
    {"Ceil", UN_CEIL, M_F32, 0, 0, false},
    {"Round", UN_ROUND, M_F32, 0, 0, false},
    {"Erf", UN_ERF, M_F32, 0, 0, false},
    {"HardSigmoid", UN_HARDSIGMOID, M_F32, 0.2f, 0.5f, false},
    {"HardSwish", UN_HARDSWISH, M_F32, 0, 0, false},
    {"Elu", UN_ELU, M_F32, 1.0f, 0, false},
    /* Selu: alpha, gamma (stored in beta) */
    {"Selu", UN_SELU, M_F32, 1.67326319217681884765625f, 1.05070102214813232421875f, false},
    {"Celu", UN_CELU, M_F32, 1.0f, 0, false},
    {"Softplus", UN_SOFTPLUS, M_F32, 0, 0, false},
    {"Softsign", UN_SOFTSIGN, M_F32, 0, 0, false},
    {"Sign", UN_SIGN, M_F32 | M_SINT | M_UINT, 0, 0, false},
    {"Sin", UN_SIN, M_F32, 0, 0, false},
    {"Cos", UN_COS, M_F32, 0, 0, false},
    {"Tan", UN_TAN, M_F32, 0, 0, false},
    {"Asin", UN_ASIN, M_F32, 0, 0, false},
    {"Acos", UN_ACOS, M_F32, 0, 0, false},
    {"Atan", UN_ATAN, M_F32, 0, 0, false},
    {"Sinh", UN_SINH, M_F32, 0, 0, false},
    {"Cosh", UN_COSH, M_F32, 0, 0, false},
    {"Asinh", UN_ASINH, M_F32, 0, 0, false},
    {"Acosh", UN_ACOSH, M_F32, 0, 0, false},
    {"Atanh", UN_ATANH, M_F32, 0, 0, false},
    {"Gelu", UN_GELU, M_F32, 0, 0, false},
    {"ThresholdedRelu", UN_THRESHOLDEDRELU, M_F32, 1.0f, 0, false},
    /* Shrink: lambd (alpha), bias (beta) */
    {"Shrink", UN_SHRINK, M_F32, 0.5f, 0.0f, false},
    {"Mish", UN_MISH, M_F32, 0, 0, false},
    {"IsNaN", UN_ISNAN, M_F32, 0, 0, true},
    {"IsInf", UN_ISINF, M_F32, 0, 0, true},
    {"Not", UN_NOT, M(QB_DTYPE_BOOL), 0, 0, true},
    {"BitwiseNot", UN_BITNOT, M_SINT | M_UINT, 0, 0, false},
};

struct un_params {
    enum un_op op;
    enum qb_dtype dtype;
    float alpha, beta;
    bool detect_neg, detect_pos; /* IsInf */
};

static const struct un_info *un_find(const char *name)
{
    for (size_t i = 0; i < sizeof(un_ops) / sizeof(un_ops[0]); i++)
        if (strcmp(un_ops[i].name, name) == 0)
            return &un_ops[i];
    return NULL;
}

static enum qb_status unary_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct un_info *ui = un_find(n->op_type);
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct un_params *p;
    enum qb_status st;
    const char *name_a = "alpha", *name_b = "beta";

    if (!ui)
        return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "not a unary op");
    if (!(ui->types & M(x->dtype)))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported",
                              qb_dtype_name(x->dtype));
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->op = ui->op;
    p->dtype = x->dtype;
    if (ui->op == UN_SELU)
        name_b = "gamma";
    if (ui->op == UN_SHRINK) {
        name_a = "lambd";
        name_b = "bias";
    }
    if ((st = qb_node_attr_float(g, n, name_a, ui->alpha, &p->alpha, err)) != QB_OK ||
        (st = qb_node_attr_float(g, n, name_b, ui->beta, &p->beta, err)) != QB_OK)
        return st;
    if (ui->op == UN_GELU) {
        const char *approx;
        if ((st = qb_node_attr_string(g, n, "approximate", "none", &approx, err)) != QB_OK)
            return st;
        if (strcmp(approx, "tanh") == 0)
            p->op = UN_GELU_TANH;
        else if (strcmp(approx, "none") != 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "approximate='%s' is not supported", approx);
    }
    if (ui->op == UN_ISINF) {
        int64_t dn, dp;
        if ((st = qb_node_attr_int(g, n, "detect_negative", 1, &dn, err)) != QB_OK ||
            (st = qb_node_attr_int(g, n, "detect_positive", 1, &dp, err)) != QB_OK)
            return st;
        p->detect_neg = dn != 0;
        p->detect_pos = dp != 0;
    }
    qb_opu_set_out(qb_node_out(g, n, 0), ui->out_bool ? QB_DTYPE_BOOL : x->dtype, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

/* float32 kernels ---------------------------------------------------------------- */

/* One function per op: restrict parameters are what lets GCC vectorize the loop. */
#define UN_F32(NAME, EXPR)                                                                         \
    static void NAME(const float *restrict X, float *restrict Y, int64_t n, const float al,        \
                     const float be)                                                               \
    {                                                                                              \
        (void)al;                                                                                  \
        (void)be;                                                                                  \
        QB_LOOP8(n, { const float v = X[i]; Y[i] = (EXPR); });                                     \
    }

/* 1/(1+e^-v) for v >= 0, e^v/(1+e^v) below: accurate for large |v| */
static inline float sigmoid_f(float v)
{
    float e = qb_opu_expf(-fabsf(v)), s = 1.0f / (1.0f + e);
    return qb_opu_sel_neg(v, e * s, s);
}

/* clamps to [0, 1]; NaN stays NaN (fminf/fmaxf would drop it) */
static inline float clamp01(float t)
{
    t = t < 0.0f ? 0.0f : t;
    return t > 1.0f ? 1.0f : t;
}

/* max(0, v) + min(0, al * (exp(v / al) - 1)), NaN propagating */
static inline float celu_f(float v, float al)
{
    float n = al * expm1f(v / al);
    return v > 0 ? v : n;
}

static inline float leaky_f(float v, float al)
{
    return qb_opu_sel_neg(v, v * al, v); /* -0.0 * al is -0.0: same either way */
}

static inline float softplus_f(float v)
{
    /* log(1 + e^v) without overflow */
    return v > 0 ? v + log1pf(expf(-v)) : log1pf(expf(v));
}

/* Sigmoid and SiLU: 4 lanes everywhere, and an 8-lane AVX2 clone picked at run time
 * on x86-64 (same operations in the same order: bit-identical results). */
#define DEF_SIGMOID(NAME, VF, VU, W, EXPF, ATTR, SILU)                                             \
    static ATTR void NAME(const float *restrict X, float *restrict Y, int64_t n)                   \
    {                                                                                              \
        int64_t i = 0;                                                                             \
        for (; i + W <= n; i += W) {                                                               \
            VF v, e, s, r;                                                                         \
            VU neg;                                                                                \
            memcpy(&v, X + i, sizeof(v));                                                          \
            e = EXPF((VF)((VU)v | 0x80000000u)); /* e^-|v| */                                      \
            s = 1.0f / (1.0f + e);                                                                 \
            neg = (VU)(v < 0.0f);                                                                  \
            r = (VF)((neg & (VU)(e * s)) | (~neg & (VU)s));                                        \
            if (SILU)                                                                              \
                r = v * r;                                                                         \
            neg = (VU)(v != v); /* NaN in, the same NaN out, whatever the compiler's order */      \
            r = (VF)((neg & (VU)v) | (~neg & (VU)r));                                              \
            memcpy(Y + i, &r, sizeof(r));                                                          \
        }                                                                                          \
        for (; i < n; i++)                                                                         \
            Y[i] = X[i] != X[i] ? X[i] : SILU ? X[i] * sigmoid_f(X[i]) : sigmoid_f(X[i]);          \
    }

DEF_SIGMOID(sigmoid_v4, qb_v4f, qb_v4u, 4, qb_v4_expf_neg, , 0)
DEF_SIGMOID(silu_v4, qb_v4f, qb_v4u, 4, qb_v4_expf_neg, , 1)

#ifdef QB_OPU_HAVE_AVX2
#define HAVE_AVX2_CLONE 1
DEF_SIGMOID(sigmoid_v8, qb_v8f, qb_v8u, 8, qb_v8_expf_neg, QB_OPU_AVX2, 0)
DEF_SIGMOID(silu_v8, qb_v8f, qb_v8u, 8, qb_v8_expf_neg, QB_OPU_AVX2, 1)
#endif

static bool use_avx2(enum qb_act_isa isa)
{
#ifdef HAVE_AVX2_CLONE
    return isa == QB_ACT_ISA_BEST && qb_opu_avx2();
#else
    (void)isa;
    return false;
#endif
}

void qb_act_sigmoid_isa(const float *x, float *y, int64_t n, enum qb_act_isa isa)
{
#ifdef HAVE_AVX2_CLONE
    if (use_avx2(isa)) {
        sigmoid_v8(x, y, n);
        return;
    }
#endif
    sigmoid_v4(x, y, n);
}

void qb_act_silu_isa(const float *x, float *y, int64_t n, enum qb_act_isa isa)
{
#ifdef HAVE_AVX2_CLONE
    if (use_avx2(isa)) {
        silu_v8(x, y, n);
        return;
    }
#endif
    silu_v4(x, y, n);
}

struct act_job {
    const float *x;
    float *y;
    bool silu;
};

static void act_range(void *ctx, int64_t b, int64_t e)
{
    const struct act_job *j = ctx;
    if (j->silu)
        qb_act_silu_isa(j->x + b, j->y + b, e - b, QB_ACT_ISA_BEST);
    else
        qb_act_sigmoid_isa(j->x + b, j->y + b, e - b, QB_ACT_ISA_BEST);
}

void qb_act_silu(struct qb_pool *pool, const float *x, float *y, int64_t n)
{
    struct act_job j = {x, y, true};
    qb_opu_parallel(pool, n, QB_OPU_GRAIN, act_range, &j);
}

static void u_sigmoid(const float *restrict X, float *restrict Y, int64_t n, const float al, const float be)
{
    (void)al;
    (void)be;
    qb_act_sigmoid_isa(X, Y, n, QB_ACT_ISA_BEST);
}

UN_F32(u_relu, v < 0 ? 0.0f : v)
UN_F32(u_leakyrelu, leaky_f(v, al))
UN_F32(u_tanh, tanhf(v))
UN_F32(u_exp, expf(v))
UN_F32(u_log, logf(v))
UN_F32(u_sqrt, sqrtf(v))
UN_F32(u_neg, -v)
UN_F32(u_abs, fabsf(v))
UN_F32(u_reciprocal, 1.0f / v)
UN_F32(u_floor, floorf(v))
UN_F32(u_ceil, ceilf(v))
UN_F32(u_round, rintf(v))
UN_F32(u_erf, erff(v))
UN_F32(u_hardsigmoid, clamp01(al * v + be))
UN_F32(u_hardswish, v * clamp01(v * (1.0f / 6.0f) + 0.5f))
UN_F32(u_elu, v < 0 ? al * expm1f(v) : v)
UN_F32(u_selu, v > 0 ? be * v : be * (al * expf(v) - al))
UN_F32(u_celu, celu_f(v, al))
UN_F32(u_softplus, softplus_f(v))
UN_F32(u_softsign, v / (1.0f + fabsf(v)))
UN_F32(u_sign, v > 0 ? 1.0f : v < 0 ? -1.0f : v)
UN_F32(u_sin, sinf(v))
UN_F32(u_cos, cosf(v))
UN_F32(u_tan, tanf(v))
UN_F32(u_asin, asinf(v))
UN_F32(u_acos, acosf(v))
UN_F32(u_atan, atanf(v))
UN_F32(u_sinh, sinhf(v))
UN_F32(u_cosh, coshf(v))
UN_F32(u_asinh, asinhf(v))
UN_F32(u_acosh, acoshf(v))
UN_F32(u_atanh, atanhf(v))
UN_F32(u_gelu, 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)))
UN_F32(u_thresholdedrelu, v > al ? v : 0.0f)
UN_F32(u_shrink, v < -al ? v + be : v > al ? v - be : 0.0f)
UN_F32(u_mish, v * tanhf(softplus_f(v)))
UN_F32(u_gelu_tanh, 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))))

static void un_f32(const struct un_params *p, const float *X, void *y, int64_t n)
{
    uint8_t *B = y;

    switch (p->op) {
    case UN_SIGMOID: u_sigmoid(X, y, n, p->alpha, p->beta); break;
    case UN_RELU: u_relu(X, y, n, p->alpha, p->beta); break;
    case UN_LEAKYRELU: u_leakyrelu(X, y, n, p->alpha, p->beta); break;
    case UN_TANH: u_tanh(X, y, n, p->alpha, p->beta); break;
    case UN_EXP: u_exp(X, y, n, p->alpha, p->beta); break;
    case UN_LOG: u_log(X, y, n, p->alpha, p->beta); break;
    case UN_SQRT: u_sqrt(X, y, n, p->alpha, p->beta); break;
    case UN_NEG: u_neg(X, y, n, p->alpha, p->beta); break;
    case UN_ABS: u_abs(X, y, n, p->alpha, p->beta); break;
    case UN_RECIPROCAL: u_reciprocal(X, y, n, p->alpha, p->beta); break;
    case UN_FLOOR: u_floor(X, y, n, p->alpha, p->beta); break;
    case UN_CEIL: u_ceil(X, y, n, p->alpha, p->beta); break;
    case UN_ROUND: u_round(X, y, n, p->alpha, p->beta); break;
    case UN_ERF: u_erf(X, y, n, p->alpha, p->beta); break;
    case UN_HARDSIGMOID: u_hardsigmoid(X, y, n, p->alpha, p->beta); break;
    case UN_HARDSWISH: u_hardswish(X, y, n, p->alpha, p->beta); break;
    case UN_ELU: u_elu(X, y, n, p->alpha, p->beta); break;
    case UN_SELU: u_selu(X, y, n, p->alpha, p->beta); break;
    case UN_CELU: u_celu(X, y, n, p->alpha, p->beta); break;
    case UN_SOFTPLUS: u_softplus(X, y, n, p->alpha, p->beta); break;
    case UN_SOFTSIGN: u_softsign(X, y, n, p->alpha, p->beta); break;
    case UN_SIGN: u_sign(X, y, n, p->alpha, p->beta); break;
    case UN_SIN: u_sin(X, y, n, p->alpha, p->beta); break;
    case UN_COS: u_cos(X, y, n, p->alpha, p->beta); break;
    case UN_TAN: u_tan(X, y, n, p->alpha, p->beta); break;
    case UN_ASIN: u_asin(X, y, n, p->alpha, p->beta); break;
    case UN_ACOS: u_acos(X, y, n, p->alpha, p->beta); break;
    case UN_ATAN: u_atan(X, y, n, p->alpha, p->beta); break;
    case UN_SINH: u_sinh(X, y, n, p->alpha, p->beta); break;
    case UN_COSH: u_cosh(X, y, n, p->alpha, p->beta); break;
    case UN_ASINH: u_asinh(X, y, n, p->alpha, p->beta); break;
    case UN_ACOSH: u_acosh(X, y, n, p->alpha, p->beta); break;
    case UN_ATANH: u_atanh(X, y, n, p->alpha, p->beta); break;
    case UN_GELU: u_gelu(X, y, n, p->alpha, p->beta); break;
    case UN_THRESHOLDEDRELU: u_thresholdedrelu(X, y, n, p->alpha, p->beta); break;
    case UN_SHRINK: u_shrink(X, y, n, p->alpha, p->beta); break;
    case UN_MISH: u_mish(X, y, n, p->alpha, p->beta); break;
    case UN_GELU_TANH: u_gelu_tanh(X, y, n, p->alpha, p->beta); break;
    case UN_ISNAN:
        for (int64_t i = 0; i < n; i++)
            B[i] = isnan(X[i]);
        break;
    case UN_ISINF:
        for (int64_t i = 0; i < n; i++)
            B[i] = isinf(X[i]) && ((X[i] > 0 && p->detect_pos) || (X[i] < 0 && p->detect_neg));
        break;
    default:
        break;
    }
}

/* integers and bool: scalar path */
static void un_int(const struct un_params *p, const void *x, void *y, int64_t n)
{
    enum qb_num_dom d = qb_num_domain(p->dtype);
    size_t es = qb_dtype_size(p->dtype);

    for (int64_t i = 0; i < n; i++) {
        union qb_num v = qb_num_load(p->dtype, (const char *)x + (size_t)i * es), r = v;
        bool neg = d == QB_NUM_I && v.i < 0;
        switch (p->op) {
        case UN_RELU: r.i = neg ? 0 : v.i; break;
        case UN_NEG: r.u = 0 - v.u; break;
        case UN_ABS: r.u = neg ? 0 - v.u : v.u; break;
        case UN_SIGN: r.i = neg ? -1 : v.u != 0; break;
        case UN_NOT: r.i = !v.i; break;
        case UN_BITNOT: r.u = ~v.u; break;
        default: break;
        }
        qb_num_store(p->dtype, (char *)y + (size_t)i * es, r, d);
    }
}

struct un_job {
    const struct un_params *p;
    const void *x;
    void *y;
};

static void un_range(void *ctx, int64_t b, int64_t e)
{
    const struct un_job *j = ctx;
    size_t es = qb_dtype_size(j->p->dtype);
    if (j->p->dtype == QB_DTYPE_F32) {
        size_t ys = j->p->op == UN_ISNAN || j->p->op == UN_ISINF ? 1 : 4;
        un_f32(j->p, (const float *)j->x + b, (char *)j->y + (size_t)b * ys, e - b);
    } else {
        un_int(j->p, (const char *)j->x + (size_t)b * es, (char *)j->y + (size_t)b * es, e - b);
    }
}

static enum qb_status unary_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                const struct qb_kctx *ctx)
{
    struct un_job j = {n->params, in[0].data, out[0].data};
    qb_opu_parallel(ctx->pool, qb_tview_numel(&in[0]), QB_OPU_GRAIN, un_range, &j);
    return QB_OK;
}

/* Clip ------------------------------------------------------------------------------ */

struct clip_params {
    enum qb_dtype dtype;
    bool from_inputs; /* opset >= 11: min and max are (optional) inputs */
    float lo, hi;     /* opset < 11 attributes */
};

static enum qb_status clip_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct clip_params *p;
    enum qb_status st;
    unsigned ok = g->opset >= 12 ? M_F32 | M_SINT | M_UINT : M_F32;

    if (!(ok & M(x->dtype)))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported",
                              qb_dtype_name(x->dtype));
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->dtype = x->dtype;
    p->from_inputs = g->opset >= 11;
    if (!p->from_inputs) {
        if ((st = qb_node_attr_float(g, n, "min", -INFINITY, &p->lo, err)) != QB_OK ||
            (st = qb_node_attr_float(g, n, "max", INFINITY, &p->hi, err)) != QB_OK)
            return st;
    } else {
        for (int k = 1; k < n->n_in; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            if (v && (v->dtype != x->dtype || qb_value_numel(v) != 1))
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "%s must be a %s scalar", k == 1 ? "min" : "max",
                                      qb_dtype_name(x->dtype));
        }
    }
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

struct clip_job {
    enum qb_dtype dtype;
    const void *x;
    void *y;
    float lo, hi;
    union qb_num ilo, ihi;
    bool has_lo, has_hi;
};

/* NaN stays NaN; lo > hi gives hi, as ONNX specifies */
static void clip_f32(const float *restrict X, float *restrict Y, int64_t n, const float lo, const float hi)
{
    QB_LOOP8(n, {
        float v = X[i];
        v = v < lo ? lo : v;
        Y[i] = v > hi ? hi : v;
    });
}

static void clip_range(void *ctx, int64_t b, int64_t e)
{
    const struct clip_job *j = ctx;
    if (j->dtype == QB_DTYPE_F32) {
        clip_f32((const float *)j->x + b, (float *)j->y + b, e - b, j->lo, j->hi);
        return;
    }
    {
        enum qb_num_dom d = qb_num_domain(j->dtype);
        size_t es = qb_dtype_size(j->dtype);
        for (int64_t i = b; i < e; i++) {
            union qb_num v = qb_num_load(j->dtype, (const char *)j->x + (size_t)i * es);
            if (d == QB_NUM_I) {
                if (j->has_lo && v.i < j->ilo.i)
                    v = j->ilo;
                if (j->has_hi && v.i > j->ihi.i)
                    v = j->ihi;
            } else {
                if (j->has_lo && v.u < j->ilo.u)
                    v = j->ilo;
                if (j->has_hi && v.u > j->ihi.u)
                    v = j->ihi;
            }
            qb_num_store(j->dtype, (char *)j->y + (size_t)i * es, v, d);
        }
    }
}

static enum qb_status clip_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct clip_params *p = n->params;
    struct clip_job j = {.dtype = p->dtype, .x = in[0].data, .y = out[0].data, .lo = p->lo, .hi = p->hi};

    if (p->from_inputs) {
        j.lo = -INFINITY;
        j.hi = INFINITY;
        if (n->n_in > 1 && in[1].data) {
            j.has_lo = true;
            j.ilo = qb_num_load(p->dtype, in[1].data);
            if (p->dtype == QB_DTYPE_F32)
                j.lo = *(const float *)in[1].data;
        }
        if (n->n_in > 2 && in[2].data) {
            j.has_hi = true;
            j.ihi = qb_num_load(p->dtype, in[2].data);
            if (p->dtype == QB_DTYPE_F32)
                j.hi = *(const float *)in[2].data;
        }
    }
    qb_opu_parallel(ctx->pool, qb_tview_numel(&in[0]), QB_OPU_GRAIN, clip_range, &j);
    return QB_OK;
}

/* Cast / CastLike ---------------------------------------------------------------------- */

struct cast_params {
    enum qb_dtype from, to;
};

/* Cast-1 spells the type as a string */
static enum qb_dtype onnx_type_name(const char *s)
{
    static const struct {
        const char *name;
        enum qb_dtype t;
    } names[] = {
        {"FLOAT", QB_DTYPE_F32}, {"UINT8", QB_DTYPE_U8},   {"INT8", QB_DTYPE_I8},    {"UINT16", QB_DTYPE_U16},
        {"INT16", QB_DTYPE_I16}, {"INT32", QB_DTYPE_I32},  {"INT64", QB_DTYPE_I64},  {"BOOL", QB_DTYPE_BOOL},
        {"FLOAT16", QB_DTYPE_F16}, {"DOUBLE", QB_DTYPE_F64}, {"UINT32", QB_DTYPE_U32}, {"UINT64", QB_DTYPE_U64},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].name, s) == 0)
            return names[i].t;
    return QB_DTYPE_UNDEFINED;
}

static bool castable(enum qb_dtype t)
{
    return t != QB_DTYPE_UNDEFINED && t != QB_DTYPE_STRING && qb_dtype_size(t) > 0;
}

static enum qb_status cast_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct cast_params *p;
    enum qb_status st;
    enum qb_dtype to;

    if (strcmp(n->op_type, "CastLike") == 0) {
        to = qb_node_in(g, n, 1)->dtype;
    } else {
        const struct qb_attr *a = qb_node_attr(n, "to");
        if (!a)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'to' is missing");
        if (a->type == QB_ATTR_STRING)
            to = onnx_type_name(a->u.s);
        else if (a->type == QB_ATTR_INT)
            to = qb_opu_onnx_dtype(a->u.i);
        else
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'to' has the wrong type");
        if (to == QB_DTYPE_UNDEFINED)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "cast to this type is not supported");
    }
    if (!castable(x->dtype) || !castable(to))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                              qb_dtype_name(x->dtype), qb_dtype_name(to));
    /* 'saturate' (opset 19) only changes float8 casts, which are refused above */
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->from = x->dtype;
    p->to = to;
    qb_opu_set_out(qb_node_out(g, n, 0), to, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

struct cast_job {
    const struct cast_params *p;
    const void *x;
    void *y;
};

static void cast_range(void *ctx, int64_t b, int64_t e)
{
    const struct cast_job *j = ctx;
    enum qb_dtype from = j->p->from, to = j->p->to;
    size_t fs = qb_dtype_size(from), ts = qb_dtype_size(to);
    enum qb_num_dom d = qb_num_domain(from);

    if (from == to) {
        memcpy((char *)j->y + (size_t)b * ts, (const char *)j->x + (size_t)b * fs, (size_t)(e - b) * ts);
        return;
    }
    if (from == QB_DTYPE_I64 && to == QB_DTYPE_F32) {
        const int64_t *x = j->x;
        float *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = (float)x[i];
        return;
    }
    if (from == QB_DTYPE_I32 && to == QB_DTYPE_I64) {
        const int32_t *x = j->x;
        int64_t *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = x[i];
        return;
    }
    for (int64_t i = b; i < e; i++)
        qb_num_store(to, (char *)j->y + (size_t)i * ts, qb_num_load(from, (const char *)j->x + (size_t)i * fs), d);
}

static enum qb_status cast_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    struct cast_job j = {n->params, in[0].data, out[0].data};
    qb_opu_parallel(ctx->pool, qb_tview_numel(&in[0]), QB_OPU_GRAIN, cast_range, &j);
    return QB_OK;
}

/* table ---------------------------------------------------------------------------------- */

static const char *const a_none[] = {NULL};
static const char *const a_legacy[] = {"consumed_inputs", NULL};
static const char *const a_alpha[] = {"alpha", "consumed_inputs", NULL};
static const char *const a_alpha_beta[] = {"alpha", "beta", "consumed_inputs", NULL};
static const char *const a_selu[] = {"alpha", "gamma", "consumed_inputs", NULL};
static const char *const a_shrink[] = {"lambd", "bias", NULL};
static const char *const a_gelu[] = {"approximate", NULL};
static const char *const a_isinf[] = {"detect_negative", "detect_positive", NULL};
static const char *const a_clip_old[] = {"min", "max", "consumed_inputs", NULL};
static const char *const a_cast[] = {"to", "saturate", NULL};
static const char *const a_bin_old[] = {"broadcast", "axis", "consumed_inputs", NULL};
static const char *const a_mod[] = {"fmod", NULL};
static const char *const a_shift[] = {"direction", NULL};

#define UNARY(NAME, ATTRS, MINV)                                                                   \
    {.name = NAME, .min_opset = MINV, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,       \
     .attrs = ATTRS, .flags = QB_OP_POINTWISE, .infer = unary_infer, .run = unary_run}
#define BINARY(NAME, ATTRS, MINV, MAXV)                                                            \
    {.name = NAME, .min_opset = MINV, .max_opset = MAXV, .min_in = 2, .max_in = 2, .min_out = 1,  \
     .max_out = 1, .attrs = ATTRS, .flags = QB_OP_POINTWISE, .infer = qb_binary_infer, .run = qb_binary_run}
#define VARIADIC(NAME)                                                                             \
    {.name = NAME, .min_in = 1, .max_in = 1 << 20, .min_out = 1, .max_out = 1, .attrs = a_legacy, \
     .flags = QB_OP_POINTWISE, .infer = qb_variadic_infer, .run = qb_variadic_run}

const struct qb_op_def qb_ops_eltwise[] = {
    UNARY("Sigmoid", a_legacy, 0),
    UNARY("Relu", a_legacy, 0),
    UNARY("LeakyRelu", a_alpha, 0),
    UNARY("Tanh", a_legacy, 0),
    UNARY("Exp", a_legacy, 0),
    UNARY("Log", a_legacy, 0),
    UNARY("Sqrt", a_legacy, 0),
    UNARY("Neg", a_legacy, 0),
    UNARY("Abs", a_legacy, 0),
    UNARY("Reciprocal", a_legacy, 0),
    UNARY("Floor", a_legacy, 0),
    UNARY("Ceil", a_legacy, 0),
    UNARY("Round", a_none, 11),
    UNARY("Erf", a_none, 9),
    UNARY("HardSigmoid", a_alpha_beta, 0),
    UNARY("HardSwish", a_none, 14),
    UNARY("Elu", a_alpha, 0),
    UNARY("Selu", a_selu, 0),
    UNARY("Celu", a_alpha, 12),
    UNARY("Softplus", a_none, 0),
    UNARY("Softsign", a_none, 0),
    UNARY("Sign", a_none, 9),
    UNARY("Sin", a_none, 7),
    UNARY("Cos", a_none, 7),
    UNARY("Tan", a_none, 7),
    UNARY("Asin", a_none, 7),
    UNARY("Acos", a_none, 7),
    UNARY("Atan", a_none, 7),
    UNARY("Sinh", a_none, 9),
    UNARY("Cosh", a_none, 9),
    UNARY("Asinh", a_none, 9),
    UNARY("Acosh", a_none, 9),
    UNARY("Atanh", a_none, 9),
    UNARY("Gelu", a_gelu, 20),
    UNARY("ThresholdedRelu", a_alpha, 10),
    UNARY("Shrink", a_shrink, 9),
    UNARY("Mish", a_none, 18),
    UNARY("IsNaN", a_none, 9),
    UNARY("IsInf", a_isinf, 10),
    UNARY("Not", a_none, 0),
    UNARY("BitwiseNot", a_none, 18),
    {.name = "Clip", .max_opset = 10, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
     .attrs = a_clip_old, .flags = QB_OP_POINTWISE, .infer = clip_infer, .run = clip_run},
    {.name = "Clip", .min_opset = 11, .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 1,
     .attrs = a_none, .flags = QB_OP_POINTWISE, .infer = clip_infer, .run = clip_run},
    {.name = "Cast", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .attrs = a_cast,
     .infer = cast_infer, .run = cast_run},
    {.name = "CastLike", .min_opset = 15, .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
     .attrs = a_cast, .infer = cast_infer, .run = cast_run},
    BINARY("Add", a_bin_old, 0, 6),
    BINARY("Add", a_none, 7, 0),
    BINARY("Sub", a_bin_old, 0, 6),
    BINARY("Sub", a_none, 7, 0),
    BINARY("Mul", a_bin_old, 0, 6),
    BINARY("Mul", a_none, 7, 0),
    BINARY("Div", a_bin_old, 0, 6),
    BINARY("Div", a_none, 7, 0),
    BINARY("Pow", a_bin_old, 0, 6),
    BINARY("Pow", a_none, 7, 0),
    BINARY("Equal", a_bin_old, 0, 6),
    BINARY("Equal", a_none, 7, 0),
    BINARY("Less", a_bin_old, 0, 6),
    BINARY("Less", a_none, 7, 0),
    BINARY("Greater", a_bin_old, 0, 6),
    BINARY("Greater", a_none, 7, 0),
    BINARY("And", a_bin_old, 0, 6),
    BINARY("And", a_none, 7, 0),
    BINARY("Or", a_bin_old, 0, 6),
    BINARY("Or", a_none, 7, 0),
    BINARY("Xor", a_bin_old, 0, 6),
    BINARY("Xor", a_none, 7, 0),
    BINARY("LessOrEqual", a_none, 12, 0),
    BINARY("GreaterOrEqual", a_none, 12, 0),
    BINARY("Mod", a_mod, 10, 0),
    BINARY("PRelu", a_none, 7, 0),
    BINARY("BitShift", a_shift, 11, 0),
    BINARY("BitwiseAnd", a_none, 18, 0),
    BINARY("BitwiseOr", a_none, 18, 0),
    BINARY("BitwiseXor", a_none, 18, 0),
    VARIADIC("Max"),
    VARIADIC("Min"),
    VARIADIC("Sum"),
    VARIADIC("Mean"),
    {.name = "Where", .min_opset = 9, .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1, .attrs = a_none,
     .infer = qb_where_infer, .run = qb_where_run},
    {.name = NULL},
};
