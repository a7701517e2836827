/* Reductions along axes: Softmax, LogSoftmax, Hardmax, Reduce{Sum,Mean,Max,Min,
 * Prod,L1,L2,LogSum,LogSumExp,SumSquare}; the table also lists scan.c's ArgMax,
 * ArgMin, CumSum and TopK.
 *
 * Most of them see the input as [O, R, I]: O and I kept, R reduced (one axis, or
 * several adjacent ones). Work items are (o, tile of I); a tile's accumulators live
 * on the stack, so run() allocates nothing. Reduce* over axes that are not adjacent
 * falls back to an odometer walk per output element. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../op.h"
#include "opsutil.h"
#include "scan.h"

#define TILE 64

/* [O, R, I] of a tensor for the dims [a, b) reduced */
struct ori {
    int64_t O, R, I;
};

static struct ori ori_of(const struct qb_tview *t, int a, int b)
{
    struct ori s = {1, 1, 1};
    for (int d = 0; d < t->ndim; d++)
        *(d < a ? &s.O : d < b ? &s.R : &s.I) *= t->shape[d];
    return s;
}

/* Softmax, LogSoftmax, Hardmax -------------------------------------------------------- */

enum sm_kind { SM_SOFTMAX, SM_LOG, SM_HARD };

struct sm_params {
    enum sm_kind kind;
    int axis;
    bool coerce_2d; /* opset < 13: the input is [prod(:axis), prod(axis:)] */
};

static enum qb_status softmax_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct sm_params *p;
    int64_t axis;
    enum qb_status st;
    int a;

    if (x->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(x->dtype));
    if ((st = qb_node_attr_int(g, n, "axis", g->opset < 13 ? 1 : -1, &axis, err)) != QB_OK)
        return st;
    a = qb_opu_axis(axis, x->ndim);
    if (a < 0 && !(g->opset < 13 && axis == x->ndim && x->ndim == 0))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              x->ndim);
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->kind = strcmp(n->op_type, "LogSoftmax") == 0 ? SM_LOG : strcmp(n->op_type, "Hardmax") == 0 ? SM_HARD : SM_SOFTMAX;
    p->axis = a < 0 ? 0 : a;
    p->coerce_2d = g->opset < 13;
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, x->shape);
    n->params = p;
    return QB_OK;
}

struct sm_job {
    const struct sm_params *p;
    const float *x;
    float *y;
    struct ori s;
    int64_t tiles; /* tiles per o along I */
};

/* Hardmax: 1 at the first maximum of each group of R values at stride I */
static void hardmax(const float *x, float *y, int64_t R, int64_t I, int64_t t)
{
    for (int64_t j = 0; j < t; j++) {
        int64_t best = 0;
        for (int64_t r = 1; r < R; r++)
            if (x[r * I + j] > x[best * I + j])
                best = r;
        for (int64_t r = 0; r < R; r++)
            y[r * I + j] = r == best ? 1.0f : 0.0f;
    }
}

/* Softmax and LogSoftmax kernels per vector width: a contiguous row of R values, or
 * a tile of t <= TILE adjacent columns of R values at stride I. The running max keeps
 * a NaN once it met one, so a NaN anywhere in a group makes the whole group NaN. */
#define DEF_SOFTMAX(SFX, VF, VU, W, EXPF, ATTR)                                                    \
    static ATTR void sm_row_##SFX(enum sm_kind kind, const float *restrict x, float *restrict y,   \
                                  int64_t R)                                                       \
    {                                                                                              \
        VF mv, sv;                                                                                 \
        float m = -INFINITY, sum = 0;                                                              \
        int64_t i = 0;                                                                             \
        for (int k = 0; k < W; k++) {                                                              \
            mv[k] = -INFINITY;                                                                     \
            sv[k] = 0;                                                                             \
        }                                                                                          \
        for (; i + W <= R; i += W) {                                                               \
            VF v;                                                                                  \
            VU up;                                                                                 \
            memcpy(&v, x + i, sizeof(v));                                                          \
            up = (VU)(v > mv) | (VU)(v != v);                                                      \
            mv = (VF)((up & (VU)v) | (~up & (VU)mv));                                              \
        }                                                                                          \
        for (int k = 0; k < W; k++)                                                                \
            m = (mv[k] > m || mv[k] != mv[k] || m != m) ? (m != m ? m : mv[k]) : m;                \
        for (; i < R; i++)                                                                         \
            m = (x[i] > m || x[i] != x[i]) && m == m ? x[i] : m;                                   \
        for (i = 0; i + W <= R; i += W) {                                                          \
            VF v, e;                                                                               \
            memcpy(&v, x + i, sizeof(v));                                                          \
            e = EXPF(v - m);                                                                       \
            sv += e;                                                                               \
            if (kind == SM_SOFTMAX)                                                                \
                memcpy(y + i, &e, sizeof(e));                                                      \
        }                                                                                          \
        for (int k = 0; k < W; k++)                                                                \
            sum += sv[k];                                                                          \
        for (; i < R; i++) {                                                                       \
            float e = qb_opu_expf(x[i] - m);                                                       \
            sum += e;                                                                              \
            if (kind == SM_SOFTMAX)                                                                \
                y[i] = e;                                                                          \
        }                                                                                          \
        if (kind == SM_LOG) {                                                                      \
            float ls = logf(sum) + m;                                                              \
            for (i = 0; i + W <= R; i += W) {                                                      \
                VF v;                                                                              \
                memcpy(&v, x + i, sizeof(v));                                                      \
                v = v - ls;                                                                        \
                memcpy(y + i, &v, sizeof(v));                                                      \
            }                                                                                      \
            for (; i < R; i++)                                                                     \
                y[i] = x[i] - ls;                                                                  \
        } else {                                                                                   \
            float inv = 1.0f / sum;                                                                \
            for (i = 0; i + W <= R; i += W) {                                                      \
                VF v;                                                                              \
                memcpy(&v, y + i, sizeof(v));                                                      \
                v = v * inv;                                                                       \
                memcpy(y + i, &v, sizeof(v));                                                      \
            }                                                                                      \
            for (; i < R; i++)                                                                     \
                y[i] *= inv;                                                                       \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static ATTR void sm_cols_##SFX(enum sm_kind kind, const float *restrict x, float *restrict y,  \
                                   int64_t R, int64_t I, int64_t t)                                \
    {                                                                                              \
        float m[TILE], s[TILE];                                                                    \
        int64_t tv = t / W * W;                                                                    \
        for (int64_t j = 0; j < t; j++) {                                                          \
            m[j] = x[j];                                                                           \
            s[j] = 0;                                                                              \
        }                                                                                          \
        for (int64_t r = 1; r < R; r++) {                                                          \
            const float *xr = x + r * I;                                                           \
            for (int64_t j = 0; j < tv; j += W) {                                                  \
                VF v, mv;                                                                          \
                VU up;                                                                             \
                memcpy(&v, xr + j, sizeof(v));                                                     \
                memcpy(&mv, m + j, sizeof(mv));                                                    \
                up = ((VU)(v > mv) | (VU)(v != v)) & (VU)(mv == mv);                               \
                mv = (VF)((up & (VU)v) | (~up & (VU)mv));                                          \
                memcpy(m + j, &mv, sizeof(mv));                                                    \
            }                                                                                      \
            for (int64_t j = tv; j < t; j++)                                                       \
                m[j] = (xr[j] > m[j] || xr[j] != xr[j]) && m[j] == m[j] ? xr[j] : m[j];            \
        }                                                                                          \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const float *xr = x + r * I;                                                           \
            float *yr = y + r * I;                                                                 \
            for (int64_t j = 0; j < tv; j += W) {                                                  \
                VF v, mv, sv, e;                                                                   \
                memcpy(&v, xr + j, sizeof(v));                                                     \
                memcpy(&mv, m + j, sizeof(mv));                                                    \
                memcpy(&sv, s + j, sizeof(sv));                                                    \
                e = EXPF(v - mv);                                                                  \
                sv += e;                                                                           \
                memcpy(s + j, &sv, sizeof(sv));                                                    \
                if (kind == SM_SOFTMAX)                                                            \
                    memcpy(yr + j, &e, sizeof(e));                                                 \
            }                                                                                      \
            for (int64_t j = tv; j < t; j++) {                                                     \
                float e = qb_opu_expf(xr[j] - m[j]);                                               \
                s[j] += e;                                                                         \
                if (kind == SM_SOFTMAX)                                                            \
                    yr[j] = e;                                                                     \
            }                                                                                      \
        }                                                                                          \
        for (int64_t j = 0; j < t; j++)                                                            \
            s[j] = kind == SM_LOG ? logf(s[j]) + m[j] : 1.0f / s[j];                               \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const float *xr = x + r * I;                                                           \
            float *yr = y + r * I;                                                                 \
            for (int64_t j = 0; j < tv; j += W) {                                                  \
                VF v, sv;                                                                          \
                memcpy(&sv, s + j, sizeof(sv));                                                    \
                memcpy(&v, (kind == SM_LOG ? xr : yr) + j, sizeof(v));                             \
                v = kind == SM_LOG ? v - sv : v * sv;                                              \
                memcpy(yr + j, &v, sizeof(v));                                                     \
            }                                                                                      \
            for (int64_t j = tv; j < t; j++)                                                       \
                yr[j] = kind == SM_LOG ? xr[j] - s[j] : yr[j] * s[j];                              \
        }                                                                                          \
    }

DEF_SOFTMAX(v4, qb_v4f, qb_v4u, 4, qb_v4_expf_neg, )
#ifdef QB_OPU_HAVE_AVX2
DEF_SOFTMAX(v8, qb_v8f, qb_v8u, 8, qb_v8_expf_neg, QB_OPU_AVX2)
#endif

static void sm_range(void *ctx, int64_t b, int64_t e)
{
    const struct sm_job *j = ctx;
    enum sm_kind kind = j->p->kind;
#ifdef QB_OPU_HAVE_AVX2
    bool wide = qb_opu_avx2();
#endif
    for (int64_t w = b; w < e; w++) {
        int64_t o = w / j->tiles, i0 = (w % j->tiles) * TILE;
        int64_t t = j->s.I - i0 < TILE ? j->s.I - i0 : TILE;
        size_t off = (size_t)(o * j->s.R * j->s.I + i0);
        if (kind == SM_HARD)
            hardmax(j->x + off, j->y + off, j->s.R, j->s.I, t);
#ifdef QB_OPU_HAVE_AVX2
        else if (wide && j->s.I == 1)
            sm_row_v8(kind, j->x + off, j->y + off, j->s.R);
        else if (wide)
            sm_cols_v8(kind, j->x + off, j->y + off, j->s.R, j->s.I, t);
#endif
        else if (j->s.I == 1)
            sm_row_v4(kind, j->x + off, j->y + off, j->s.R);
        else
            sm_cols_v4(kind, j->x + off, j->y + off, j->s.R, j->s.I, t);
    }
}

static enum qb_status softmax_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                  const struct qb_kctx *ctx)
{
    const struct sm_params *p = n->params;
    struct sm_job j = {p, in[0].data, out[0].data, {1, 1, 1}, 1};

    if (in[0].ndim > 0)
        j.s = ori_of(&in[0], p->axis, p->coerce_2d ? in[0].ndim : p->axis + 1);
    if (qb_tview_numel(&in[0]) == 0)
        return QB_OK;
    j.tiles = (j.s.I + TILE - 1) / TILE;
    qb_opu_parallel(ctx->pool, j.s.O * j.tiles, 1 + QB_OPU_GRAIN / (j.s.R * (j.s.I < TILE ? j.s.I : TILE)),
                    sm_range, &j);
    return QB_OK;
}

/* Reduce* ------------------------------------------------------------------------------ */

enum red_op { RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_L1, RED_L2, RED_LOGSUM, RED_LOGSUMEXP, RED_SUMSQ };

static const struct {
    const char *name;
    enum red_op op;
    int axes_input_from; /* opset at which 'axes' became an input */
} red_ops[] = {
    {"ReduceSum", RED_SUM, 13},       {"ReduceMean", RED_MEAN, 18},     {"ReduceMax", RED_MAX, 18},
    {"ReduceMin", RED_MIN, 18},       {"ReduceProd", RED_PROD, 18},     {"ReduceL1", RED_L1, 18},
    {"ReduceL2", RED_L2, 18},         {"ReduceLogSum", RED_LOGSUM, 18}, {"ReduceLogSumExp", RED_LOGSUMEXP, 18},
    {"ReduceSumSquare", RED_SUMSQ, 18},
};

struct red_params {
    enum red_op op;
    enum qb_dtype dtype;
    bool noop;                 /* empty axes with noop_with_empty_axes: identity */
    bool red[QB_MAX_DIMS];     /* reduced input dims */
    bool adjacent;             /* the reduced dims (size > 1) form one block [a, b) */
    int a, b;
};

static enum qb_status reduce_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    int64_t axes[QB_MAX_DIMS], keepdims, noop, shape[QB_MAX_DIMS];
    struct red_params *p;
    int cnt = -1, nd = 0, from = 0, first = -1, last = -1;
    enum qb_status st;
    size_t k;

    for (k = 0; k < sizeof(red_ops) / sizeof(red_ops[0]); k++)
        if (strcmp(red_ops[k].name, n->op_type) == 0)
            break;
    if (k == sizeof(red_ops) / sizeof(red_ops[0]))
        return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "not a reduction");
    from = red_ops[k].axes_input_from;
    if (x->dtype != QB_DTYPE_F32 && x->dtype != QB_DTYPE_F64 &&
        !((x->dtype == QB_DTYPE_I64 || x->dtype == QB_DTYPE_I32) &&
          (red_ops[k].op == RED_SUM || red_ops[k].op == RED_MAX || red_ops[k].op == RED_MIN ||
           red_ops[k].op == RED_PROD)))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(x->dtype));
    if ((st = qb_node_attr_int(g, n, "keepdims", 1, &keepdims, err)) != QB_OK ||
        (st = qb_node_attr_int(g, n, "noop_with_empty_axes", 0, &noop, err)) != QB_OK)
        return st;
    if (g->opset < from)
        st = qb_node_attr_ints(g, n, "axes", axes, QB_MAX_DIMS, &cnt, err);
    else
        st = qb_opu_const_ints(g, n, 1, "axes", axes, QB_MAX_DIMS, &cnt, err);
    if (st != QB_OK)
        return st;
    if ((st = qb_opu_alloc(g, sizeof(*p), (void **)&p, err)) != QB_OK)
        return st;
    p->op = red_ops[k].op;
    p->dtype = x->dtype;
    if (cnt <= 0) {
        p->noop = noop != 0;
        for (int d = 0; d < x->ndim; d++)
            p->red[d] = !p->noop;
    }
    for (int i = 0; i < cnt; i++) {
        int a = qb_opu_axis(axes[i], x->ndim);
        if (a < 0 || p->red[a])
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range or repeated",
                                  (long long)axes[i]);
        p->red[a] = true;
    }
    p->adjacent = true;
    for (int d = 0; d < x->ndim; d++) {
        if (p->red[d] && x->shape[d] != 1) {
            if (first < 0)
                first = d;
            last = d;
        }
        if (!p->red[d] || keepdims)
            shape[nd++] = p->red[d] ? 1 : x->shape[d];
    }
    /* adjacency ignoring unit dims: [first, last] must hold no kept dim of size > 1 */
    for (int d = first; first >= 0 && d <= last; d++)
        if (!p->red[d] && x->shape[d] != 1)
            p->adjacent = false;
    p->a = first < 0 ? 0 : first;
    p->b = first < 0 ? 0 : last + 1;
    if (p->noop) {
        nd = x->ndim;
        memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    }
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, nd, shape);
    n->params = p;
    return QB_OK;
}

/* computed in double: stored back into a float accumulator this rounds exactly as
 * float arithmetic would for +, * and max/min */
static double red_init(enum red_op op)
{
    switch (op) {
    case RED_MAX:
    case RED_LOGSUMEXP: return -INFINITY;
    case RED_MIN: return INFINITY;
    case RED_PROD: return 1.0;
    default: return 0.0;
    }
}

static inline double red_step(enum red_op op, double acc, double v)
{
    switch (op) {
    case RED_MAX: return (v > acc || v != v) ? v : acc;
    case RED_MIN: return (v < acc || v != v) ? v : acc;
    case RED_PROD: return acc * v;
    case RED_L1: return acc + fabs(v);
    case RED_L2:
    case RED_SUMSQ: return acc + v * v;
    default: return acc + v;
    }
}

static inline double red_final(enum red_op op, double acc, int64_t R)
{
    switch (op) {
    case RED_MEAN: return acc / (double)R;
    case RED_L2: return sqrt(acc);
    case RED_LOGSUM: return log(acc);
    default: return acc;
    }
}

struct red_job {
    const struct red_params *p;
    const struct qb_tview *x;
    struct qb_tview *y;
    struct ori s;
    int64_t tiles;
    /* odometer walk (non-adjacent axes) */
    int nr;
    int64_t rlen[QB_MAX_DIMS], rstr[QB_MAX_DIMS]; /* reduced dims: size, input stride */
    int nk;
    int64_t klen[QB_MAX_DIMS], kstr[QB_MAX_DIMS]; /* kept dims */
    int64_t rcount;
};

/* float32 / double over [O, R, I]; T accumulators */
#define RED_TILE(NAME, T)                                                                          \
    static void NAME(enum red_op op, const T *x, T *y, int64_t R, int64_t I, int64_t t)            \
    {                                                                                              \
        T acc[TILE], mx[TILE];                                                                     \
        if (op == RED_LOGSUMEXP) {                                                                 \
            for (int64_t j = 0; j < t; j++)                                                        \
                mx[j] = -INFINITY;                                                                 \
            for (int64_t r = 0; r < R; r++)                                                        \
                for (int64_t j = 0; j < t; j++)                                                    \
                    mx[j] = (T)red_step(RED_MAX, mx[j], x[r * I + j]);                             \
            for (int64_t j = 0; j < t; j++) {                                                      \
                if (isinf(mx[j]))                                                                  \
                    mx[j] = 0; /* all -inf: log(0) = -inf; +inf: inf */                            \
                acc[j] = 0;                                                                        \
            }                                                                                      \
            for (int64_t r = 0; r < R; r++)                                                        \
                for (int64_t j = 0; j < t; j++)                                                    \
                    acc[j] += (T)exp(x[r * I + j] - mx[j]);                                        \
            for (int64_t j = 0; j < t; j++)                                                        \
                y[j] = (T)(log(acc[j]) + mx[j]);                                                   \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j = 0; j < t; j++)                                                            \
            acc[j] = (T)red_init(op);                                                              \
        if (I == 1 && (op == RED_SUM || op == RED_MEAN)) {                                         \
            /* contiguous row: 8 partial sums */                                                   \
            T part[8] = {0};                                                                       \
            int64_t r = 0;                                                                         \
            for (; r + 8 <= R; r += 8)                                                             \
                for (int k = 0; k < 8; k++)                                                        \
                    part[k] += x[r + k];                                                           \
            for (; r < R; r++)                                                                     \
                part[0] += x[r];                                                                   \
            acc[0] = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])); \
        } else {                                                                                   \
            for (int64_t r = 0; r < R; r++)                                                        \
                for (int64_t j = 0; j < t; j++)                                                    \
                    acc[j] = (T)red_step(op, acc[j], x[r * I + j]);                                \
        }                                                                                          \
        for (int64_t j = 0; j < t; j++)                                                            \
            y[j] = (T)red_final(op, acc[j], R);                                                    \
    }

RED_TILE(red_tile_f32, float)
RED_TILE(red_tile_f64, double)

/* int32/int64 Sum, Max, Min, Prod over [O, R, I] (wrap-around arithmetic) */
static void red_tile_int(enum red_op op, enum qb_dtype dt, const void *x, void *y, int64_t R, int64_t I, int64_t t)
{
    for (int64_t j = 0; j < t; j++) {
        uint64_t acc = op == RED_PROD ? 1 : 0;
        int64_t best = 0;
        for (int64_t r = 0; r < R; r++) {
            int64_t v = dt == QB_DTYPE_I64 ? ((const int64_t *)x)[r * I + j] : ((const int32_t *)x)[r * I + j];
            if (r == 0)
                best = v;
            if (op == RED_SUM)
                acc += (uint64_t)v;
            else if (op == RED_PROD)
                acc *= (uint64_t)v;
            else if (op == RED_MAX ? v > best : v < best)
                best = v;
        }
        if (op == RED_MAX || op == RED_MIN)
            acc = R ? (uint64_t)best : (uint64_t)(op == RED_MAX ? INT64_MIN : INT64_MAX);
        if (dt == QB_DTYPE_I64)
            ((int64_t *)y)[j] = (int64_t)acc;
        else
            ((int32_t *)y)[j] = (int32_t)(uint32_t)acc;
    }
}

static void red_range(void *ctx, int64_t b, int64_t e)
{
    const struct red_job *j = ctx;
    const struct red_params *p = j->p;
    size_t es = qb_dtype_size(p->dtype);

    if (p->adjacent) {
        for (int64_t w = b; w < e; w++) {
            int64_t o = w / j->tiles, i0 = (w % j->tiles) * TILE;
            int64_t t = j->s.I - i0 < TILE ? j->s.I - i0 : TILE;
            const char *x = (const char *)j->x->data + (size_t)(o * j->s.R * j->s.I + i0) * es;
            char *y = (char *)j->y->data + (size_t)(o * j->s.I + i0) * es;
            if (p->dtype == QB_DTYPE_F32)
                red_tile_f32(p->op, (const float *)x, (float *)y, j->s.R, j->s.I, t);
            else if (p->dtype == QB_DTYPE_F64)
                red_tile_f64(p->op, (const double *)x, (double *)y, j->s.R, j->s.I, t);
            else
                red_tile_int(p->op, p->dtype, x, y, j->s.R, j->s.I, t);
        }
        return;
    }
    /* odometer: output element w, its reduced positions walked one by one (two
     * passes for LogSumExp: max, then the sum) */
    for (int64_t w = b; w < e; w++) {
        int64_t base = 0, rem = w, idx[QB_MAX_DIMS] = {0};
        double acc = red_init(p->op), mx = -INFINITY;
        bool f32 = p->dtype == QB_DTYPE_F32, isf = f32 || p->dtype == QB_DTYPE_F64;
        int64_t iacc = p->op == RED_PROD ? 1 : 0, ibest = 0;
        for (int d = j->nk - 1; d >= 0; d--) {
            base += (rem % j->klen[d]) * j->kstr[d];
            rem /= j->klen[d];
        }
        for (int pass = p->op == RED_LOGSUMEXP ? 0 : 1; pass < 2; pass++) {
            int64_t off = base;
            if (pass == 1 && p->op == RED_LOGSUMEXP) {
                acc = 0;
                if (isinf(mx))
                    mx = 0;
            }
            memset(idx, 0, sizeof(idx));
            for (int64_t c = 0; c < j->rcount; c++) {
                if (isf) {
                    double v = f32 ? ((const float *)j->x->data)[off] : ((const double *)j->x->data)[off];
                    if (pass == 0)
                        mx = red_step(RED_MAX, mx, v);
                    else if (p->op == RED_LOGSUMEXP)
                        acc += exp(v - mx);
                    else
                        acc = red_step(p->op, acc, v);
                    if (f32)
                        acc = (float)acc; /* float accumulation, as the tiles do */
                } else {
                    int64_t v = p->dtype == QB_DTYPE_I64 ? ((const int64_t *)j->x->data)[off]
                                                          : ((const int32_t *)j->x->data)[off];
                    if (c == 0)
                        ibest = v;
                    if (p->op == RED_SUM)
                        iacc = (int64_t)((uint64_t)iacc + (uint64_t)v);
                    else if (p->op == RED_PROD)
                        iacc = (int64_t)((uint64_t)iacc * (uint64_t)v);
                    else if (p->op == RED_MAX ? v > ibest : v < ibest)
                        ibest = v;
                }
                for (int d = j->nr - 1; d >= 0; d--) {
                    off += j->rstr[d];
                    if (++idx[d] < j->rlen[d])
                        break;
                    off -= j->rlen[d] * j->rstr[d];
                    idx[d] = 0;
                }
            }
        }
        if (isf) {
            double r = p->op == RED_LOGSUMEXP ? log(acc) + mx : red_final(p->op, acc, j->rcount);
            if (f32)
                ((float *)j->y->data)[w] = (float)r;
            else
                ((double *)j->y->data)[w] = r;
        } else {
            if (p->op == RED_MAX || p->op == RED_MIN)
                iacc = ibest;
            if (p->dtype == QB_DTYPE_I64)
                ((int64_t *)j->y->data)[w] = iacc;
            else
                ((int32_t *)j->y->data)[w] = (int32_t)(uint32_t)(uint64_t)iacc;
        }
    }
}

static enum qb_status reduce_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx)
{
    const struct red_params *p = n->params;
    struct red_job j = {.p = p, .x = &in[0], .y = &out[0]};
    int64_t numel_out = qb_tview_numel(&out[0]);

    if (p->noop) {
        qb_opu_copy(ctx->pool, out[0].data, in[0].data, (size_t)numel_out * qb_dtype_size(p->dtype));
        return QB_OK;
    }
    if (numel_out == 0)
        return QB_OK;
    if (p->adjacent) {
        j.s = ori_of(&in[0], p->a, p->b);
        j.tiles = (j.s.I + TILE - 1) / TILE;
        qb_opu_parallel(ctx->pool, j.s.O * j.tiles, 1 + QB_OPU_GRAIN / (j.s.R * (j.s.I < TILE ? j.s.I : TILE) + 1),
                        red_range, &j);
        return QB_OK;
    }
    {
        int64_t s = 1, str[QB_MAX_DIMS];
        for (int d = in[0].ndim - 1; d >= 0; d--) {
            str[d] = s;
            s *= in[0].shape[d];
        }
        j.rcount = 1;
        for (int d = 0; d < in[0].ndim; d++) {
            if (p->red[d]) {
                j.rlen[j.nr] = in[0].shape[d];
                j.rstr[j.nr++] = str[d];
                j.rcount *= in[0].shape[d];
            } else {
                j.klen[j.nk] = in[0].shape[d];
                j.kstr[j.nk++] = str[d];
            }
        }
        qb_opu_parallel(ctx->pool, numel_out, 1 + QB_OPU_GRAIN / (j.rcount + 1), red_range, &j);
    }
    return QB_OK;
}

/* table ------------------------------------------------------------------------------------------- */

static const char *const a_axis[] = {"axis", NULL};
static const char *const a_reduce_old[] = {"axes", "keepdims", NULL};
static const char *const a_reduce[] = {"keepdims", "noop_with_empty_axes", NULL};
static const char *const a_arg[] = {"axis", "keepdims", "select_last_index", NULL};
static const char *const a_cumsum[] = {"exclusive", "reverse", NULL};
static const char *const a_topk_old[] = {"axis", "k", NULL};
static const char *const a_topk[] = {"axis", "largest", "sorted", NULL};

#define DEF(NAME, MINV, MAXV, MININ, MAXIN, MINOUT, MAXOUT, ATTRS, INFER, RUN)                     \
    {.name = NAME, .min_opset = MINV, .max_opset = MAXV, .min_in = MININ, .max_in = MAXIN,         \
     .min_out = MINOUT, .max_out = MAXOUT, .attrs = ATTRS, .infer = INFER, .run = RUN}
#define REDUCE(NAME, FROM)                                                                         \
    DEF(NAME, 0, FROM - 1, 1, 1, 1, 1, a_reduce_old, reduce_infer, reduce_run),                    \
    DEF(NAME, FROM, 0, 1, 2, 1, 1, a_reduce, reduce_infer, reduce_run)

const struct qb_op_def qb_ops_reduce[] = {
    DEF("Softmax", 0, 0, 1, 1, 1, 1, a_axis, softmax_infer, softmax_run),
    DEF("LogSoftmax", 0, 0, 1, 1, 1, 1, a_axis, softmax_infer, softmax_run),
    DEF("Hardmax", 0, 0, 1, 1, 1, 1, a_axis, softmax_infer, softmax_run),
    REDUCE("ReduceSum", 13),
    REDUCE("ReduceMean", 18),
    REDUCE("ReduceMax", 18),
    REDUCE("ReduceMin", 18),
    REDUCE("ReduceProd", 18),
    REDUCE("ReduceL1", 18),
    REDUCE("ReduceL2", 18),
    REDUCE("ReduceLogSum", 18),
    REDUCE("ReduceLogSumExp", 18),
    REDUCE("ReduceSumSquare", 18),
    DEF("ArgMax", 0, 0, 1, 1, 1, 1, a_arg, qb_arg_infer, qb_arg_run),
    DEF("ArgMin", 0, 0, 1, 1, 1, 1, a_arg, qb_arg_infer, qb_arg_run),
    DEF("CumSum", 11, 0, 2, 2, 1, 1, a_cumsum, qb_cumsum_infer, qb_cumsum_run),
    {.name = "TopK", .max_opset = 9, .min_in = 1, .max_in = 1, .min_out = 2, .max_out = 2, .attrs = a_topk_old,
     .infer = qb_topk_infer, .prepare = qb_topk_prepare, .run = qb_topk_run},
    {.name = "TopK", .min_opset = 10, .min_in = 2, .max_in = 2, .min_out = 2, .max_out = 2, .attrs = a_topk,
     .infer = qb_topk_infer, .prepare = qb_topk_prepare, .run = qb_topk_run},
    {.name = NULL},
};
