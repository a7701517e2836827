/* Broadcasting binary ops (Add ... Xor, Pow, Mod, PRelu, BitShift), the variadic
 * Max/Min/Sum/Mean and Where. float32 runs through vectorizable kernels per stride
 * pattern; every other supported dtype through a scalar path in a wide domain
 * (double, int64 or uint64) with ONNX's integer rules (wrap-around, Div truncating
 * toward zero, Mod with the divisor's sign unless fmod=1). */
#include "binary.h"

#include <math.h>
#include <string.h>

#include "opsutil.h"

enum bin_op {
    BIN_ADD,
    BIN_SUB,
    BIN_MUL,
    BIN_DIV,
    BIN_POW,
    BIN_MOD,
    BIN_MAX,
    BIN_MIN,
    BIN_EQ,
    BIN_LT,
    BIN_GT,
    BIN_LE,
    BIN_GE,
    BIN_AND,
    BIN_OR,
    BIN_XOR,
    BIN_PRELU,
    BIN_SHL,
    BIN_SHR,
    BIN_BITAND,
    BIN_BITOR,
    BIN_BITXOR,
    BIN_SUM,  /* variadic only: Sum and Mean accumulate with + */
    BIN_COUNT
};

/* dtype masks */
#define M(t) (1u << (t))
#define M_F (M(QB_DTYPE_F32) | M(QB_DTYPE_F64) | M(QB_DTYPE_F16))
#define M_UINT (M(QB_DTYPE_U8) | M(QB_DTYPE_U16) | M(QB_DTYPE_U32) | M(QB_DTYPE_U64))
#define M_INT (M(QB_DTYPE_I8) | M(QB_DTYPE_I16) | M(QB_DTYPE_I32) | M(QB_DTYPE_I64) | M_UINT)
#define M_NUM (M_F | M_INT)
#define M_BOOL M(QB_DTYPE_BOOL)

struct bin_info {
    const char *name;
    enum bin_op op;
    unsigned types;   /* accepted dtypes of input A (and B unless Pow) */
    bool out_bool;
    int legacy_below; /* opset below which 'broadcast'/'axis' attributes apply; 0 = none */
};

static const struct bin_info bin_ops[] = {
    {"Add", BIN_ADD, M_NUM, false, 7},
    {"Sub", BIN_SUB, M_NUM, false, 7},
    {"Mul", BIN_MUL, M_NUM, false, 7},
    {"Div", BIN_DIV, M_NUM, false, 7},
    {"Pow", BIN_POW, M_F | M(QB_DTYPE_I32) | M(QB_DTYPE_I64), false, 7},
    {"Mod", BIN_MOD, M_NUM, false, 0},
    {"Equal", BIN_EQ, M_NUM | M_BOOL, true, 7},
    {"Less", BIN_LT, M_NUM, true, 7},
    {"Greater", BIN_GT, M_NUM, true, 7},
    {"LessOrEqual", BIN_LE, M_NUM, true, 0},
    {"GreaterOrEqual", BIN_GE, M_NUM, true, 0},
    {"And", BIN_AND, M_BOOL, true, 7},
    {"Or", BIN_OR, M_BOOL, true, 7},
    {"Xor", BIN_XOR, M_BOOL, true, 7},
    {"PRelu", BIN_PRELU, M_NUM, false, 0},
    {"BitShift", BIN_SHL, M_UINT, false, 0},
    {"BitwiseAnd", BIN_BITAND, M_INT | M_BOOL, false, 0},
    {"BitwiseOr", BIN_BITOR, M_INT | M_BOOL, false, 0},
    {"BitwiseXor", BIN_BITXOR, M_INT | M_BOOL, false, 0},
};

static const struct bin_info var_ops[] = {
    {"Max", BIN_MAX, M_NUM, false, 0},
    {"Min", BIN_MIN, M_NUM, false, 0},
    {"Sum", BIN_SUM, M_F, false, 0},
    {"Mean", BIN_SUM, M_F, false, 0},
};

struct bin_params {
    enum bin_op op;
    enum qb_dtype ta, tb, ty;
    bool fmod;                     /* Mod: C fmod semantics */
    bool b_override;               /* legacy broadcast: B seen with this shape */
    int b_ndim;
    int64_t b_shape[QB_MAX_DIMS];
    bool mean;                     /* variadic Mean */
};

static const struct bin_info *find_info(const struct bin_info *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* scalar path --------------------------------------------------------------- */

static int64_t ipow(int64_t base, int64_t e)
{
    uint64_t r = 1, b = (uint64_t)base;
    if (e < 0)
        return base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;
    while (e) {
        if (e & 1)
            r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

static double fmod_py(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

/* Computes a op b; *rd gets the domain of the result (bool results use QB_NUM_I). */
static union qb_num bin_scalar(const struct bin_params *p, union qb_num a, union qb_num b, enum qb_num_dom d,
                               enum qb_num_dom db, enum qb_num_dom *rd)
{
    union qb_num r = {.i = 0};
    int c = 0; /* comparison: -1, 0, 1, or 2 for unordered */

    *rd = d;
    switch (p->op) {
    case BIN_EQ:
    case BIN_LT:
    case BIN_GT:
    case BIN_LE:
    case BIN_GE:
        if (d == QB_NUM_F)
            c = a.f < b.f ? -1 : a.f > b.f ? 1 : a.f == b.f ? 0 : 2;
        else if (d == QB_NUM_I)
            c = a.i < b.i ? -1 : a.i > b.i;
        else
            c = a.u < b.u ? -1 : a.u > b.u;
        *rd = QB_NUM_I;
        r.i = p->op == BIN_EQ ? c == 0 : p->op == BIN_LT ? c == -1 : p->op == BIN_GT ? c == 1
            : p->op == BIN_LE ? c == -1 || c == 0 : c == 1 || c == 0;
        return r;
    case BIN_AND: *rd = QB_NUM_I; r.i = a.i && b.i; return r;
    case BIN_OR: *rd = QB_NUM_I; r.i = a.i || b.i; return r;
    case BIN_XOR: *rd = QB_NUM_I; r.i = !a.i != !b.i; return r;
    case BIN_POW:
        if (d != QB_NUM_F && db != QB_NUM_F) {
            int64_t e = db == QB_NUM_U ? (b.u > INT64_MAX ? INT64_MAX : (int64_t)b.u) : b.i;
            r.i = ipow(a.i, e);
            return r;
        }
        r.f = pow(qb_num_as_double(a, d), qb_num_as_double(b, db));
        *rd = QB_NUM_F;
        return r;
    default:
        break;
    }
    if (d == QB_NUM_F) {
        double x = a.f, y = b.f;
        switch (p->op) {
        case BIN_ADD:
        case BIN_SUM: r.f = x + y; break;
        case BIN_SUB: r.f = x - y; break;
        case BIN_MUL: r.f = x * y; break;
        case BIN_DIV: r.f = x / y; break;
        case BIN_MOD: r.f = p->fmod ? fmod(x, y) : fmod_py(x, y); break;
        case BIN_MAX: r.f = (x > y || x != x) ? x : y; break;
        case BIN_MIN: r.f = (x < y || x != x) ? x : y; break;
        case BIN_PRELU: r.f = x < 0 ? x * y : x; break;
        default: break;
        }
        return r;
    }
    if (d == QB_NUM_I) {
        int64_t x = a.i, y = b.i;
        switch (p->op) {
        case BIN_ADD:
        case BIN_SUM: r.u = (uint64_t)x + (uint64_t)y; break;
        case BIN_SUB: r.u = (uint64_t)x - (uint64_t)y; break;
        case BIN_MUL: r.u = (uint64_t)x * (uint64_t)y; break;
        case BIN_DIV:
            /* division by zero has no defined answer: 0 rather than a trap */
            r.i = y == 0 ? 0 : y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y;
            break;
        case BIN_MOD:
            if (y == 0 || y == -1) {
                r.i = 0;
            } else {
                r.i = x % y;
                if (!p->fmod && r.i != 0 && ((r.i < 0) != (y < 0)))
                    r.i += y;
            }
            break;
        case BIN_MAX: r.i = x > y ? x : y; break;
        case BIN_MIN: r.i = x < y ? x : y; break;
        case BIN_PRELU: r.u = x < 0 ? (uint64_t)x * (uint64_t)y : (uint64_t)x; break;
        case BIN_BITAND: r.i = x & y; break;
        case BIN_BITOR: r.i = x | y; break;
        case BIN_BITXOR: r.i = x ^ y; break;
        default: break;
        }
        return r;
    }
    {
        uint64_t x = a.u, y = b.u;
        switch (p->op) {
        case BIN_ADD:
        case BIN_SUM: r.u = x + y; break;
        case BIN_SUB: r.u = x - y; break;
        case BIN_MUL: r.u = x * y; break;
        case BIN_DIV: r.u = y ? x / y : 0; break;
        case BIN_MOD: r.u = y ? x % y : 0; break;
        case BIN_MAX: r.u = x > y ? x : y; break;
        case BIN_MIN: r.u = x < y ? x : y; break;
        case BIN_PRELU: r.u = x; break;
        case BIN_SHL: r.u = y >= 64 ? 0 : x << y; break;
        case BIN_SHR: r.u = y >= 64 ? 0 : x >> y; break;
        case BIN_BITAND: r.u = x & y; break;
        case BIN_BITOR: r.u = x | y; break;
        case BIN_BITXOR: r.u = x ^ y; break;
        default: break;
        }
        return r;
    }
}

static void k_generic(void *ctx, void *y, const void *const *x, const int64_t *xs, int64_t n)
{
    const struct bin_params *p = ctx;
    enum qb_num_dom da = qb_num_domain(p->ta), db = qb_num_domain(p->tb), rd;
    size_t sa = qb_dtype_size(p->ta) * (size_t)xs[0], sb = qb_dtype_size(p->tb) * (size_t)xs[1];
    size_t sy = qb_dtype_size(p->ty);
    const char *pa = x[0], *pb = x[1];
    char *py = y;

    if (p->ta == QB_DTYPE_BOOL)
        da = db = QB_NUM_U;
    for (int64_t i = 0; i < n; i++, pa += sa, pb += sb, py += sy) {
        union qb_num r = bin_scalar(p, qb_num_load(p->ta, pa), qb_num_load(p->tb, pb), da, db, &rd);
        qb_num_store(p->ty, py, r, rd);
    }
}

/* float32 kernels ------------------------------------------------------------ */

/* One kernel set per op: both vectors, vector-scalar, scalar-vector, and a fill for
 * two scalars. restrict parameters (not locals) are what lets GCC vectorize; the
 * variadic ops call them with Y == A, which is safe for element-wise bodies. */
#define BIN_F32(NAME, TY, EXPR)                                                                    \
    static void NAME##_vv(const float *restrict A, const float *restrict B, TY *restrict Y, int64_t n) \
    {                                                                                              \
        QB_LOOP8(n, { const float a = A[i], b = B[i]; Y[i] = (EXPR); });                          \
    }                                                                                              \
    static void NAME##_vs(const float *restrict A, const float b, TY *restrict Y, int64_t n)       \
    {                                                                                              \
        QB_LOOP8(n, { const float a = A[i]; Y[i] = (EXPR); });                                     \
    }                                                                                              \
    static void NAME##_sv(const float a, const float *restrict B, TY *restrict Y, int64_t n)       \
    {                                                                                              \
        QB_LOOP8(n, { const float b = B[i]; Y[i] = (EXPR); });                                     \
    }                                                                                              \
    static void NAME(const float *A, const float *B, const int64_t *xs, void *y, int64_t n)        \
    {                                                                                              \
        if (xs[0] && xs[1]) {                                                                      \
            NAME##_vv(A, B, y, n);                                                                 \
        } else if (xs[0]) {                                                                        \
            NAME##_vs(A, B[0], y, n);                                                              \
        } else if (xs[1]) {                                                                        \
            NAME##_sv(A[0], B, y, n);                                                              \
        } else {                                                                                   \
            const float a = A[0], b = B[0];                                                        \
            const TY v = (EXPR);                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                ((TY *)y)[i] = v;                                                                  \
        }                                                                                          \
    }

static inline float prelu_f(float a, float b)
{
    return qb_opu_sel_neg(a, a * b, a); /* a = -0.0 gives -0.0 * b: zero either way */
}

static inline float fmod_py_f(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

BIN_F32(f_add, float, a + b)
BIN_F32(f_sub, float, a - b)
BIN_F32(f_mul, float, a * b)
BIN_F32(f_div, float, a / b)
BIN_F32(f_max, float, ((a > b) | (a != a)) ? a : b)
BIN_F32(f_min, float, ((a < b) | (a != a)) ? a : b)
BIN_F32(f_prelu, float, prelu_f(a, b))
BIN_F32(f_sqr, float, ((void)b, a * a))
BIN_F32(f_pow, float, powf(a, b))
BIN_F32(f_fmod, float, fmodf(a, b))
BIN_F32(f_mod, float, fmod_py_f(a, b))
BIN_F32(f_eq, uint8_t, a == b)
BIN_F32(f_lt, uint8_t, a < b)
BIN_F32(f_gt, uint8_t, a > b)
BIN_F32(f_le, uint8_t, a <= b)
BIN_F32(f_ge, uint8_t, a >= b)

static void k_f32(void *ctx, void *y, const void *const *x, const int64_t *xs, int64_t n)
{
    const struct bin_params *p = ctx;
    const float *A = x[0], *B = x[1];

    switch (p->op) {
    case BIN_ADD:
    case BIN_SUM: f_add(A, B, xs, y, n); break;
    case BIN_SUB: f_sub(A, B, xs, y, n); break;
    case BIN_MUL: f_mul(A, B, xs, y, n); break;
    case BIN_DIV: f_div(A, B, xs, y, n); break;
    case BIN_MAX: f_max(A, B, xs, y, n); break;
    case BIN_MIN: f_min(A, B, xs, y, n); break;
    case BIN_PRELU: f_prelu(A, B, xs, y, n); break;
    case BIN_POW:
        if (!xs[1] && B[0] == 2.0f)
            f_sqr(A, B, xs, y, n);
        else
            f_pow(A, B, xs, y, n);
        break;
    case BIN_MOD:
        if (p->fmod)
            f_fmod(A, B, xs, y, n);
        else
            f_mod(A, B, xs, y, n);
        break;
    case BIN_EQ: f_eq(A, B, xs, y, n); break;
    case BIN_LT: f_lt(A, B, xs, y, n); break;
    case BIN_GT: f_gt(A, B, xs, y, n); break;
    case BIN_LE: f_le(A, B, xs, y, n); break;
    case BIN_GE: f_ge(A, B, xs, y, n); break;
    default: break;
    }
}

/* shapes ----------------------------------------------------------------------- */

static bool f32_kernel_ok(const struct bin_params *p)
{
    if (p->ta != QB_DTYPE_F32 || p->tb != QB_DTYPE_F32)
        return false;
    switch (p->op) {
    case BIN_ADD: case BIN_SUM: case BIN_SUB: case BIN_MUL: case BIN_DIV: case BIN_MAX: case BIN_MIN:
    case BIN_PRELU: case BIN_POW: case BIN_MOD: case BIN_EQ: case BIN_LT: case BIN_GT: case BIN_LE:
    case BIN_GE:
        return true;
    default:
        return false;
    }
}

static enum qb_status check_types(const struct qb_graph *g, const struct qb_node *n, const struct bin_info *bi,
                                  enum qb_dtype ta, enum qb_dtype tb, struct qb_error *err)
{
    if (!(bi->types & M(ta)))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(ta));
    if (bi->op == BIN_POW) {
        if (!((M_NUM)&M(tb)))
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "exponent type %s is not supported",
                                  qb_dtype_name(tb));
    } else if (ta != tb) {
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "inputs have different types (%s, %s)", qb_dtype_name(ta),
                              qb_dtype_name(tb));
    }
    return QB_OK;
}

enum qb_status qb_binary_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct bin_info *bi = find_info(bin_ops, sizeof(bin_ops) / sizeof(bin_ops[0]), n->op_type);
    const struct qb_value *a = qb_node_in(g, n, 0), *b = qb_node_in(g, n, 1);
    struct qb_value *y = qb_node_out(g, n, 0);
    struct bin_params *p;
    int64_t shape[QB_MAX_DIMS];
    const int64_t *shapes[2];
    int ndims[2], nd;
    enum qb_status st;
    char sa[128], sb[128];

    if (!bi || !a || !b)
        return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "not a binary op");
    if ((st = check_types(g, n, bi, a->dtype, b->dtype, err)) != QB_OK)
        return st;
    p = qb_arena_alloc(g->arena, sizeof(*p));
    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    p->op = bi->op;
    p->ta = a->dtype;
    p->tb = b->dtype;
    p->ty = bi->out_bool ? QB_DTYPE_BOOL : a->dtype;
    if (bi->op == BIN_MOD) {
        int64_t fm;
        if ((st = qb_node_attr_int(g, n, "fmod", 0, &fm, err)) != QB_OK)
            return st;
        if (fm != 0 && fm != 1)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "fmod must be 0 or 1, got %lld", (long long)fm);
        p->fmod = fm == 1;
    }
    if (bi->op == BIN_SHL) {
        const char *dir;
        if ((st = qb_node_attr_string(g, n, "direction", "", &dir, err)) != QB_OK)
            return st;
        if (strcmp(dir, "RIGHT") == 0)
            p->op = BIN_SHR;
        else if (strcmp(dir, "LEFT") != 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "direction must be LEFT or RIGHT, got '%s'", dir);
    }
    ndims[0] = a->ndim;
    ndims[1] = b->ndim;
    shapes[0] = a->shape;
    shapes[1] = b->shape;
    if (bi->legacy_below && g->opset < bi->legacy_below) {
        /* opset < 7: B is broadcast onto A only when broadcast=1, aligned at 'axis' */
        int64_t bc, axis;
        if ((st = qb_node_attr_int(g, n, "broadcast", 0, &bc, err)) != QB_OK ||
            (st = qb_node_attr_int(g, n, "axis", INT64_MIN, &axis, err)) != QB_OK)
            return st;
        if (!bc) {
            bool same = a->ndim == b->ndim;
            for (int i = 0; same && i < a->ndim; i++)
                same = a->shape[i] == b->shape[i];
            if (!same)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "shapes %s and %s differ and broadcast=0",
                                      qb_shape_str(a, sa, sizeof(sa)), qb_shape_str(b, sb, sizeof(sb)));
        } else if (axis != INT64_MIN) {
            int ax = qb_opu_axis(axis, a->ndim);
            if (ax < 0 || ax + b->ndim > a->ndim)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld does not fit B of rank %d",
                                      (long long)axis, b->ndim);
            p->b_override = true;
            p->b_ndim = a->ndim - ax;
            for (int i = 0; i < p->b_ndim; i++)
                p->b_shape[i] = i < b->ndim ? b->shape[i] : 1;
            ndims[1] = p->b_ndim;
            shapes[1] = p->b_shape;
        }
    }
    if (qb_bcast_shape(2, ndims, shapes, &nd, shape) != 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "shapes %s and %s do not broadcast",
                              qb_shape_str(a, sa, sizeof(sa)), qb_shape_str(b, sb, sizeof(sb)));
    if (bi->op == BIN_PRELU || (bi->legacy_below && g->opset < bi->legacy_below)) {
        /* unidirectional: the result has A's shape */
        bool same = nd == a->ndim;
        for (int i = 0; same && i < nd; i++)
            same = shape[i] == a->shape[i];
        if (!same)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "B %s does not broadcast onto A %s",
                                  qb_shape_str(b, sb, sizeof(sb)), qb_shape_str(a, sa, sizeof(sa)));
    }
    qb_opu_set_out(y, p->ty, nd, shape);
    n->params = p;
    return QB_OK;
}

static void run_pair(const struct bin_params *p, const struct qb_tview *a, const int b_ndim, const int64_t *b_shape,
                     const void *bdata, struct qb_tview *y, struct qb_pool *pool)
{
    struct qb_bcast bc;
    const int ndims[2] = {a->ndim, b_ndim};
    const int64_t *shapes[2] = {a->shape, b_shape};
    const void *xp[2] = {a->data, bdata};
    const size_t xsz[2] = {qb_dtype_size(p->ta), qb_dtype_size(p->tb)};

    qb_bcast_init(&bc, 2, ndims, shapes, y->ndim, y->shape);
    qb_bcast_run(&bc, y->data, qb_dtype_size(p->ty), xp, xsz, f32_kernel_ok(p) ? k_f32 : k_generic, (void *)p,
                 pool);
}

enum qb_status qb_binary_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                             const struct qb_kctx *ctx)
{
    const struct bin_params *p = n->params;
    if (p->b_override)
        run_pair(p, &in[0], p->b_ndim, p->b_shape, in[1].data, &out[0], ctx->pool);
    else
        run_pair(p, &in[0], in[1].ndim, in[1].shape, in[1].data, &out[0], ctx->pool);
    return QB_OK;
}

/* variadic ----------------------------------------------------------------------- */

enum qb_status qb_variadic_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct bin_info *bi = find_info(var_ops, sizeof(var_ops) / sizeof(var_ops[0]), n->op_type);
    struct qb_value *y = qb_node_out(g, n, 0);
    struct bin_params *p;
    int64_t shape[QB_MAX_DIMS];
    const int64_t *shapes[64];
    int ndims[64], nd;
    enum qb_dtype t;

    if (!bi || n->n_in < 1)
        return qb_node_errorf(g, n, err, QB_ERR_INTERNAL, "not a variadic op");
    if (n->n_in > 64)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "%d inputs, at most 64 supported", n->n_in);
    t = qb_node_in(g, n, 0) ? qb_node_in(g, n, 0)->dtype : QB_DTYPE_UNDEFINED;
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *v = qb_node_in(g, n, k);
        if (!v)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input %d is missing", k);
        if (v->dtype != t)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "inputs have different types (%s, %s)",
                                  qb_dtype_name(t), qb_dtype_name(v->dtype));
        ndims[k] = v->ndim;
        shapes[k] = v->shape;
    }
    if (!(bi->types & M(t)))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input type %s is not supported", qb_dtype_name(t));
    if (qb_bcast_shape(n->n_in, ndims, shapes, &nd, shape) != 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input shapes do not broadcast");
    p = qb_arena_alloc(g->arena, sizeof(*p));
    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    p->op = bi->op;
    p->ta = p->tb = p->ty = t;
    p->mean = strcmp(n->op_type, "Mean") == 0;
    qb_opu_set_out(y, t, nd, shape);
    n->params = p;
    return QB_OK;
}

static void k_copy(void *ctx, void *y, const void *const *x, const int64_t *xs, int64_t n)
{
    size_t es = *(const size_t *)ctx;
    if (xs[0]) {
        memcpy(y, x[0], (size_t)n * es);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)y + (size_t)i * es, x[0], es);
}

struct scale_job {
    void *y;
    enum qb_dtype t;
    double s;
};

static void scale_range(void *ctx, int64_t b, int64_t e)
{
    const struct scale_job *j = ctx;
    if (j->t == QB_DTYPE_F32) {
        float *y = j->y, d = (float)j->s;
        for (int64_t i = b; i < e; i++)
            y[i] /= d;
    } else if (j->t == QB_DTYPE_F64) {
        double *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] /= j->s;
    } else {
        size_t es = qb_dtype_size(j->t);
        for (int64_t i = b; i < e; i++) {
            char *p = (char *)j->y + (size_t)i * es;
            union qb_num v = qb_num_load(j->t, p);
            v.f /= j->s;
            qb_num_store(j->t, p, v, QB_NUM_F);
        }
    }
}

enum qb_status qb_variadic_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct bin_params *p = n->params;
    struct qb_tview *y = &out[0];

    if (n->n_in == 1) {
        struct qb_bcast bc;
        size_t es = qb_dtype_size(p->ty);
        const void *xp[1] = {in[0].data};
        qb_bcast_init(&bc, 1, &in[0].ndim, (const int64_t *const[]){in[0].shape}, y->ndim, y->shape);
        qb_bcast_run(&bc, y->data, es, xp, &es, k_copy, &es, ctx->pool);
    } else {
        run_pair(p, &in[0], in[1].ndim, in[1].shape, in[1].data, y, ctx->pool);
        for (int k = 2; k < n->n_in; k++)
            run_pair(p, y, in[k].ndim, in[k].shape, in[k].data, y, ctx->pool);
    }
    if (p->mean && n->n_in > 1) {
        struct scale_job j = {y->data, p->ty, (double)n->n_in};
        qb_opu_parallel(ctx->pool, qb_tview_numel(y), QB_OPU_GRAIN, scale_range, &j);
    }
    return QB_OK;
}

/* Where ---------------------------------------------------------------------------- */

enum qb_status qb_where_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *c = qb_node_in(g, n, 0), *a = qb_node_in(g, n, 1), *b = qb_node_in(g, n, 2);
    int64_t shape[QB_MAX_DIMS];
    const int64_t *shapes[3] = {c->shape, a->shape, b->shape};
    int ndims[3] = {c->ndim, a->ndim, b->ndim}, nd;

    if (c->dtype != QB_DTYPE_BOOL)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "condition is %s, expected bool", qb_dtype_name(c->dtype));
    if (a->dtype != b->dtype)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "X is %s but Y is %s", qb_dtype_name(a->dtype),
                              qb_dtype_name(b->dtype));
    if (qb_dtype_size(a->dtype) == 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "type %s is not supported", qb_dtype_name(a->dtype));
    if (qb_bcast_shape(3, ndims, shapes, &nd, shape) != 0)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input shapes do not broadcast");
    qb_opu_set_out(qb_node_out(g, n, 0), a->dtype, nd, shape);
    return QB_OK;
}

#define WHERE_LOOP(T)                                                                              \
    do {                                                                                           \
        const uint8_t *C = x[0];                                                                   \
        const T *A = x[1], *B = x[2];                                                              \
        T *Y = y;                                                                                  \
        for (int64_t i = 0; i < n; i++)                                                            \
            Y[i] = C[i * xs[0]] ? A[i * xs[1]] : B[i * xs[2]];                                     \
    } while (0)

static void k_where(void *ctx, void *y, const void *const *x, const int64_t *xs, int64_t n)
{
    size_t es = *(const size_t *)ctx;
    switch (es) {
    case 1: WHERE_LOOP(uint8_t); break;
    case 2: WHERE_LOOP(uint16_t); break;
    case 4: WHERE_LOOP(uint32_t); break;
    case 8: WHERE_LOOP(uint64_t); break;
    default:
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *c = x[0];
            const char *src = c[i * xs[0]] ? (const char *)x[1] + (size_t)(i * xs[1]) * es
                                           : (const char *)x[2] + (size_t)(i * xs[2]) * es;
            memcpy((char *)y + (size_t)i * es, src, es);
        }
        break;
    }
}

enum qb_status qb_where_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                            const struct qb_kctx *ctx)
{
    struct qb_bcast bc;
    size_t es = qb_dtype_size(out[0].dtype);
    const int ndims[3] = {in[0].ndim, in[1].ndim, in[2].ndim};
    const int64_t *shapes[3] = {in[0].shape, in[1].shape, in[2].shape};
    const void *xp[3] = {in[0].data, in[1].data, in[2].data};
    const size_t xsz[3] = {1, es, es};

    (void)n;
    qb_bcast_init(&bc, 3, ndims, shapes, out[0].ndim, out[0].shape);
    qb_bcast_run(&bc, out[0].data, es, xp, xsz, k_where, &es, ctx->pool);
    return QB_OK;
}
