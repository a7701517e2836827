#include "opsutil.h"

#include <math.h>

/* threads ------------------------------------------------------------------ */

struct par_job {
    qb_opu_range_fn fn;
    void *ctx;
    int64_t n;
    int chunks;
};

static void par_item(void *ctx, int item)
{
    const struct par_job *j = ctx;
    int64_t b = j->n * item / j->chunks, e = j->n * (item + 1) / j->chunks;
    if (e > b)
        j->fn(j->ctx, b, e);
}

void qb_opu_parallel(struct qb_pool *pool, int64_t n, int64_t grain, qb_opu_range_fn fn, void *ctx)
{
    int threads = qb_pool_size(pool);
    int64_t chunks;
    struct par_job job;

    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    chunks = n / grain;
    if (chunks > (int64_t)threads * 4)
        chunks = (int64_t)threads * 4;
    if (!pool || threads <= 1 || chunks <= 1) {
        fn(ctx, 0, n);
        return;
    }
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.chunks = (int)chunks;
    qb_pool_for(pool, job.chunks, par_item, &job);
}

struct copy_job {
    char *dst;
    const char *src;
};

static void copy_range(void *ctx, int64_t b, int64_t e)
{
    const struct copy_job *j = ctx;
    memcpy(j->dst + b, j->src + b, (size_t)(e - b));
}

void qb_opu_copy(struct qb_pool *pool, void *dst, const void *src, size_t bytes)
{
    struct copy_job j = {dst, src};
    if (dst == src || bytes == 0)
        return;
    qb_opu_parallel(pool, (int64_t)bytes, (int64_t)1 << 18, copy_range, &j);
}

int qb_opu_axis(int64_t axis, int rank)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

enum qb_status qb_opu_alloc(struct qb_graph *g, size_t size, void **out, struct qb_error *err)
{
    *out = qb_arena_alloc(g->arena, size);
    return *out ? QB_OK : qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
}

enum qb_status qb_opu_need_sized(const struct qb_graph *g, const struct qb_node *n, const struct qb_value *v,
                                 struct qb_error *err)
{
    if (qb_dtype_size(v->dtype) == 0)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "type %s is not supported", qb_dtype_name(v->dtype));
    return QB_OK;
}

enum qb_dtype qb_opu_onnx_dtype(int64_t t)
{
    static const enum qb_dtype map[] = {
        [1] = QB_DTYPE_F32, [2] = QB_DTYPE_U8,   [3] = QB_DTYPE_I8,   [4] = QB_DTYPE_U16,
        [5] = QB_DTYPE_I16, [6] = QB_DTYPE_I32,  [7] = QB_DTYPE_I64,  [9] = QB_DTYPE_BOOL,
        [10] = QB_DTYPE_F16, [11] = QB_DTYPE_F64, [12] = QB_DTYPE_U32, [13] = QB_DTYPE_U64,
    };
    return t > 0 && t < (int64_t)(sizeof(map) / sizeof(map[0])) ? map[t] : QB_DTYPE_UNDEFINED;
}

void qb_opu_set_out(struct qb_value *v, enum qb_dtype dt, int ndim, const int64_t *shape)
{
    v->dtype = dt;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        v->shape[i] = shape[i];
}

static enum qb_status const_input(const struct qb_graph *g, const struct qb_node *n, int idx,
                                  const char *what, int max, const struct qb_value **out, int *count,
                                  struct qb_error *err)
{
    const struct qb_value *v = qb_node_in(g, n, idx);
    int64_t numel;

    *out = NULL;
    *count = -1;
    if (!v)
        return QB_OK;
    if (!(v->flags & QB_VALUE_CONST) || (!v->data && qb_value_numel(v) != 0))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED,
                              "input '%s' (%s) is computed at run time; qbench needs it constant", v->name,
                              what);
    if (v->ndim > 1)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input '%s' (%s) must be a scalar or 1-D", v->name,
                              what);
    numel = qb_value_numel(v);
    if (numel > max)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input '%s' (%s) has %lld values, at most %d supported",
                              v->name, what, (long long)numel, max);
    *out = v;
    *count = (int)numel;
    return QB_OK;
}

enum qb_status qb_opu_const_ints(const struct qb_graph *g, const struct qb_node *n, int idx,
                                 const char *what, int64_t *out, int max, int *count,
                                 struct qb_error *err)
{
    const struct qb_value *v;
    enum qb_status st = const_input(g, n, idx, what, max, &v, count, err);

    if (st != QB_OK || !v)
        return st;
    if (v->dtype != QB_DTYPE_I64 && v->dtype != QB_DTYPE_I32)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input '%s' (%s) is %s, expected int64", v->name, what,
                              qb_dtype_name(v->dtype));
    for (int i = 0; i < *count; i++)
        out[i] = v->dtype == QB_DTYPE_I64 ? ((const int64_t *)v->data)[i] : ((const int32_t *)v->data)[i];
    return QB_OK;
}

enum qb_status qb_opu_const_floats(const struct qb_graph *g, const struct qb_node *n, int idx,
                                   const char *what, float *out, int max, int *count,
                                   struct qb_error *err)
{
    const struct qb_value *v;
    enum qb_status st = const_input(g, n, idx, what, max, &v, count, err);

    if (st != QB_OK || !v)
        return st;
    if (v->dtype != QB_DTYPE_F32 && v->dtype != QB_DTYPE_F64)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input '%s' (%s) is %s, expected float", v->name, what,
                              qb_dtype_name(v->dtype));
    for (int i = 0; i < *count; i++)
        out[i] = v->dtype == QB_DTYPE_F32 ? ((const float *)v->data)[i] : (float)((const double *)v->data)[i];
    return QB_OK;
}

/* scalar numbers ----------------------------------------------------------- */

enum qb_num_dom qb_num_domain(enum qb_dtype t)
{
    switch (t) {
    case QB_DTYPE_F32:
    case QB_DTYPE_F64:
    case QB_DTYPE_F16:
        return QB_NUM_F;
    case QB_DTYPE_U8:
    case QB_DTYPE_U16:
    case QB_DTYPE_U32:
    case QB_DTYPE_U64:
        return QB_NUM_U;
    default:
        return QB_NUM_I;
    }
}

union qb_num qb_num_load(enum qb_dtype t, const void *p)
{
    union qb_num v = {.i = 0};
    switch (t) {
    case QB_DTYPE_F32: v.f = *(const float *)p; break;
    case QB_DTYPE_F64: v.f = *(const double *)p; break;
    case QB_DTYPE_F16: v.f = qb_opu_half_to_float(*(const uint16_t *)p); break;
    case QB_DTYPE_I8: v.i = *(const int8_t *)p; break;
    case QB_DTYPE_I16: v.i = *(const int16_t *)p; break;
    case QB_DTYPE_I32: v.i = *(const int32_t *)p; break;
    case QB_DTYPE_I64: v.i = *(const int64_t *)p; break;
    case QB_DTYPE_BOOL: v.i = *(const uint8_t *)p != 0; break;
    case QB_DTYPE_U8: v.u = *(const uint8_t *)p; break;
    case QB_DTYPE_U16: v.u = *(const uint16_t *)p; break;
    case QB_DTYPE_U32: v.u = *(const uint32_t *)p; break;
    case QB_DTYPE_U64: v.u = *(const uint64_t *)p; break;
    default: break;
    }
    return v;
}

double qb_num_as_double(union qb_num v, enum qb_num_dom dom)
{
    return dom == QB_NUM_F ? v.f : dom == QB_NUM_I ? (double)v.i : (double)v.u;
}

/* double -> integer bits as x86's cvttsd2si does: truncation, and the 'integer
 * indefinite' (INT64_MIN) for NaN and out-of-range values, never UB. */
static uint64_t f2int_bits(double f, int to_unsigned64)
{
    if (f != f)
        return (uint64_t)INT64_MIN;
    if (to_unsigned64 && f >= 9223372036854775808.0) {
        if (f >= 18446744073709551616.0)
            return (uint64_t)INT64_MIN;
        return (uint64_t)(int64_t)(f - 9223372036854775808.0) + ((uint64_t)1 << 63);
    }
    if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
        return (uint64_t)INT64_MIN;
    return (uint64_t)(int64_t)f;
}

void qb_num_store(enum qb_dtype t, void *p, union qb_num v, enum qb_num_dom dom)
{
    uint64_t bits;

    if (t == QB_DTYPE_F32 || t == QB_DTYPE_F64 || t == QB_DTYPE_F16) {
        double d = qb_num_as_double(v, dom);
        if (t == QB_DTYPE_F32)
            *(float *)p = (float)d;
        else if (t == QB_DTYPE_F64)
            *(double *)p = d;
        else
            *(uint16_t *)p = qb_opu_float_to_half((float)d);
        return;
    }
    if (t == QB_DTYPE_BOOL) {
        *(uint8_t *)p = dom == QB_NUM_F ? v.f != 0 : v.u != 0;
        return;
    }
    bits = dom == QB_NUM_F ? f2int_bits(v.f, t == QB_DTYPE_U64) : v.u;
    switch (t) {
    case QB_DTYPE_I8:
    case QB_DTYPE_U8: *(uint8_t *)p = (uint8_t)bits; break;
    case QB_DTYPE_I16:
    case QB_DTYPE_U16: *(uint16_t *)p = (uint16_t)bits; break;
    case QB_DTYPE_I32:
    case QB_DTYPE_U32: *(uint32_t *)p = (uint32_t)bits; break;
    case QB_DTYPE_I64:
    case QB_DTYPE_U64: *(uint64_t *)p = bits; break;
    default: break;
    }
}

float qb_opu_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    float f;

    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp == 0) {
        f = (float)man * 5.9604644775390625e-8f; /* man * 2^-24 */
        return sign ? -f : f;
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t qb_opu_float_to_half(float f)
{
    uint32_t bits, sign, man;
    int32_t exp;

    memcpy(&bits, &f, sizeof(bits));
    sign = (bits >> 16) & 0x8000u;
    exp = (int32_t)((bits >> 23) & 0xFFu);
    man = bits & 0x7FFFFFu;
    if (exp == 0xFF)
        return (uint16_t)(sign | 0x7C00u | (man ? 0x200u | (man >> 13) : 0));
    exp -= 112; /* rebias 127 -> 15 */
    if (exp >= 31)
        return (uint16_t)(sign | 0x7C00u);
    if (exp <= 0) {
        /* subnormal half (or zero): shift the full mantissa, round half to even */
        uint32_t m = man | 0x800000u, shift, half, rest, q;
        if (exp < -10)
            return (uint16_t)sign;
        shift = (uint32_t)(14 - exp);
        q = m >> shift;
        rest = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
        if (rest > half || (rest == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    {
        uint32_t q = ((uint32_t)exp << 10) | (man >> 13), rest = man & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (q & 1)))
            q++; /* may carry into the exponent, up to infinity: correct */
        return (uint16_t)(sign | q);
    }
}

/* broadcasting -------------------------------------------------------------- */

int qb_bcast_shape(int n, const int *ndims, const int64_t *const *shapes, int *out_ndim,
                   int64_t *out_shape)
{
    int r = 0;
    for (int k = 0; k < n; k++)
        r = ndims[k] > r ? ndims[k] : r;
    if (r > QB_MAX_DIMS)
        return -1;
    for (int d = 0; d < r; d++) {
        int64_t dim = 1;
        for (int k = 0; k < n; k++) {
            int j = d - (r - ndims[k]);
            int64_t s;
            if (j < 0)
                continue;
            s = shapes[k][j];
            if (s == 1)
                continue;
            if (dim != 1 && dim != s)
                return -1;
            dim = s;
        }
        out_shape[d] = dim;
    }
    *out_ndim = r;
    return 0;
}

void qb_bcast_init(struct qb_bcast *b, int n_in, const int *ndims, const int64_t *const *shapes,
                   int out_ndim, const int64_t *out_shape)
{
    int64_t st[QB_BC_MAX_IN][QB_MAX_DIMS];
    int nd = 0;

    memset(b, 0, sizeof(*b));
    b->n_in = n_in;
    b->numel = 1;
    for (int d = 0; d < out_ndim; d++)
        b->numel *= out_shape[d];
    /* element strides of each input against the output dims */
    for (int k = 0; k < n_in; k++) {
        int64_t s = 1;
        for (int d = out_ndim - 1; d >= 0; d--) {
            int j = d - (out_ndim - ndims[k]);
            int64_t dim = j >= 0 ? shapes[k][j] : 1;
            st[k][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
    /* drop unit dims, merge a dim into the previous one when every input walks both
     * as one (stride[d-1] == stride[d] * shape[d], broadcast or not) */
    for (int d = 0; d < out_ndim; d++) {
        int merge = nd > 0;
        if (out_shape[d] == 1)
            continue;
        for (int k = 0; k < n_in && merge; k++)
            if (b->stride[k][nd - 1] != st[k][d] * out_shape[d])
                merge = 0;
        if (merge) {
            b->shape[nd - 1] *= out_shape[d];
            for (int k = 0; k < n_in; k++)
                b->stride[k][nd - 1] = st[k][d];
        } else {
            b->shape[nd] = out_shape[d];
            for (int k = 0; k < n_in; k++)
                b->stride[k][nd] = st[k][d];
            nd++;
        }
    }
    if (nd == 0) {
        b->shape[0] = 1;
        for (int k = 0; k < n_in; k++)
            b->stride[k][0] = 0;
        nd = 1;
    }
    b->ndim = nd;
}

struct bc_job {
    const struct qb_bcast *b;
    char *y;
    size_t ysize;
    const char *x[QB_BC_MAX_IN];
    size_t xsize[QB_BC_MAX_IN];
    qb_bcast_fn fn;
    void *ctx;
};

static void bc_range(void *ctx, int64_t begin, int64_t end)
{
    const struct bc_job *j = ctx;
    const struct qb_bcast *b = j->b;
    int nd = b->ndim, last = nd - 1;
    int64_t idx[QB_MAX_DIMS], off[QB_BC_MAX_IN], xs[QB_BC_MAX_IN], rem = begin, pos = begin;
    const void *xp[QB_BC_MAX_IN];

    for (int d = last; d >= 0; d--) {
        idx[d] = rem % b->shape[d];
        rem /= b->shape[d];
    }
    for (int k = 0; k < b->n_in; k++) {
        off[k] = 0;
        for (int d = 0; d < nd; d++)
            off[k] += idx[d] * b->stride[k][d];
        xs[k] = b->stride[k][last];
    }
    while (pos < end) {
        int64_t run = b->shape[last] - idx[last];
        if (run > end - pos)
            run = end - pos;
        for (int k = 0; k < b->n_in; k++)
            xp[k] = j->x[k] + (size_t)off[k] * j->xsize[k];
        j->fn(j->ctx, j->y + (size_t)pos * j->ysize, xp, xs, run);
        pos += run;
        /* advance the multi-index by run elements */
        idx[last] += run;
        for (int k = 0; k < b->n_in; k++)
            off[k] += run * b->stride[k][last];
        for (int d = last; d > 0 && idx[d] == b->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
            for (int k = 0; k < b->n_in; k++)
                off[k] += b->stride[k][d - 1] - b->shape[d] * b->stride[k][d];
        }
    }
}

void qb_bcast_run(const struct qb_bcast *b, void *y, size_t ysize, const void *const *x,
                  const size_t *xsize, qb_bcast_fn fn, void *ctx, struct qb_pool *pool)
{
    struct bc_job j = {.b = b, .y = y, .ysize = ysize, .fn = fn, .ctx = ctx};
    for (int k = 0; k < b->n_in; k++) {
        j.x[k] = x[k];
        j.xsize[k] = xsize[k];
    }
    qb_opu_parallel(pool, b->numel, QB_OPU_GRAIN, bc_range, &j);
}

/* strided gathers ------------------------------------------------------------ */

void qb_opu_strided_push(struct qb_opu_strided *v, int64_t len, int64_t stride)
{
    if (len == 1)
        return;
    if (v->nd > 0 && v->stride[v->nd - 1] == len * stride) {
        v->len[v->nd - 1] *= len;
        v->stride[v->nd - 1] = stride;
    } else {
        v->len[v->nd] = len;
        v->stride[v->nd] = stride;
        v->nd++;
    }
}

struct gather_job {
    const struct qb_opu_strided *v;
    const char *in;
    char *out;
    size_t es;
};

/* Rows [b, e) along the innermost dim. */
static void gather_range(void *ctx, int64_t b, int64_t e)
{
    const struct gather_job *j = ctx;
    const struct qb_opu_strided *v = j->v;
    int last = v->nd - 1;
    int64_t L = v->len[last], s = v->stride[last];
    for (int64_t row = b; row < e; row++) {
        int64_t off = 0, rem = row;
        const char *src;
        char *dst = j->out + (size_t)(row * L) * j->es;
        for (int d = last - 1; d >= 0; d--) {
            off += (rem % v->len[d]) * v->stride[d];
            rem /= v->len[d];
        }
        src = j->in + (size_t)off * j->es;
        if (s == 1) {
            memcpy(dst, src, (size_t)L * j->es);
        } else if (j->es == 4) {
            for (int64_t i = 0; i < L; i++)
                memcpy(dst + 4 * (size_t)i, src + (ptrdiff_t)(i * s) * 4, 4);
        } else {
            for (int64_t i = 0; i < L; i++)
                memcpy(dst + (size_t)i * j->es, src + (ptrdiff_t)(i * s) * (ptrdiff_t)j->es, j->es);
        }
    }
}

void qb_opu_gather(const struct qb_opu_strided *v, const void *in, void *out, size_t esize, struct qb_pool *pool)
{
    static const struct qb_opu_strided one = {.nd = 1, .len = {1}, .stride = {1}};
    struct gather_job j = {.v = v->nd ? v : &one, .in = in, .out = out, .es = esize};
    int64_t numel = 1, L = j.v->len[j.v->nd - 1];

    for (int d = 0; d < j.v->nd; d++)
        numel *= j.v->len[d];
    if (numel == 0)
        return;
    qb_opu_parallel(pool, numel / L, QB_OPU_GRAIN / L + 1, gather_range, &j);
}

/* permuted copy -------------------------------------------------------------- */

/* A transpose whose last output dim is strided in the input: 2-D tiles over
 * dims ta (input-contiguous) and nd-1. */
struct perm_job {
    const char *in;
    char *out;
    size_t esize;
    struct qb_opu_strided v;    /* merged output dims, input element strides */
    int64_t ostr[QB_MAX_DIMS];
    int ta;
    int64_t tiles_a, tiles_b;   /* tile counts along ta and nd-1 */
};

#define PERM_TILE 32

static void copy_elem(char *d, const char *s, size_t esize)
{
    switch (esize) {
    case 1: *d = *s; break;
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    case 8: memcpy(d, s, 8); break;
    default: memcpy(d, s, esize); break;
    }
}

/* One tile: rows along output dim ta (input stride 1), columns along the last
 * output dim (output stride 1). */
#define PERM_TILE_LOOP(T)                                                                          \
    for (int64_t a = a0; a < a1; a++) {                                                            \
        const T *s = (const T *)in + a + b0 * sb;                                                  \
        T *d = (T *)out + a * oa + b0;                                                             \
        for (int64_t bb = 0; bb < b1 - b0; bb++)                                                   \
            d[bb] = s[bb * sb];                                                                    \
    }

static void perm_tile(const char *in, char *out, size_t esize, int64_t a0, int64_t a1, int64_t b0,
                      int64_t b1, int64_t sb, int64_t oa)
{
    switch (esize) {
    case 4: PERM_TILE_LOOP(uint32_t) break;
    case 8: PERM_TILE_LOOP(uint64_t) break;
    case 2: PERM_TILE_LOOP(uint16_t) break;
    case 1: PERM_TILE_LOOP(uint8_t) break;
    default:
        for (int64_t a = a0; a < a1; a++)
            for (int64_t bb = b0; bb < b1; bb++)
                copy_elem(out + (size_t)(a * oa + bb) * esize, in + (size_t)(a + bb * sb) * esize, esize);
        break;
    }
}

/* Work items: (outer index, tile along ta, tile along the last dim). */
static void perm_range(void *ctx, int64_t begin, int64_t end)
{
    const struct perm_job *j = ctx;
    const int64_t *len = j->v.len, *istr = j->v.stride;
    int last = j->v.nd - 1;
    int64_t per_outer = j->tiles_a * j->tiles_b;

    for (int64_t w = begin; w < end; w++) {
        int64_t o = w / per_outer, t = w % per_outer, ta = t / j->tiles_b, tb = t % j->tiles_b;
        int64_t ioff = 0, ooff = 0, rem = o;
        int64_t a0 = ta * PERM_TILE, b0 = tb * PERM_TILE;
        int64_t a1 = a0 + PERM_TILE < len[j->ta] ? a0 + PERM_TILE : len[j->ta];
        int64_t b1 = b0 + PERM_TILE < len[last] ? b0 + PERM_TILE : len[last];
        for (int d = last; d >= 0; d--) {
            int64_t i;
            if (d == last || d == j->ta)
                continue;
            i = rem % len[d];
            rem /= len[d];
            ioff += i * istr[d];
            ooff += i * j->ostr[d];
        }
        perm_tile(j->in + (size_t)ioff * j->esize, j->out + (size_t)ooff * j->esize, j->esize, a0, a1, b0, b1,
                  istr[last], j->ostr[j->ta]);
    }
}

void qb_opu_permute(const void *in, void *out, size_t esize, int ndim, const int64_t *shape,
                    const int *perm, struct qb_pool *pool)
{
    struct perm_job j = {.in = in, .out = out, .esize = esize};
    int64_t istride[QB_MAX_DIMS], numel, outer, s = 1;
    int last;

    for (int d = ndim - 1; d >= 0; d--) {
        istride[d] = s;
        s *= shape[d];
    }
    numel = s;
    if (numel == 0)
        return;
    /* output dims in order, with their input strides */
    for (int k = 0; k < ndim; k++)
        qb_opu_strided_push(&j.v, shape[perm[k]], istride[perm[k]]);
    if (j.v.nd <= 1) {
        memcpy(out, in, (size_t)numel * esize);
        return;
    }
    last = j.v.nd - 1;
    if (j.v.stride[last] == 1) { /* rows of the last output dim are contiguous in the input */
        qb_opu_gather(&j.v, in, out, esize, pool);
        return;
    }
    s = 1;
    for (int d = last; d >= 0; d--) {
        j.ostr[d] = s;
        s *= j.v.len[d];
    }
    /* the input-contiguous dim is some ta < last: tile the (ta, last) plane */
    for (int d = 0; d < last; d++)
        if (j.v.stride[d] == 1)
            j.ta = d;
    j.tiles_a = (j.v.len[j.ta] + PERM_TILE - 1) / PERM_TILE;
    j.tiles_b = (j.v.len[last] + PERM_TILE - 1) / PERM_TILE;
    outer = numel / (j.v.len[j.ta] * j.v.len[last]);
    qb_opu_parallel(pool, outer * j.tiles_a * j.tiles_b, QB_OPU_GRAIN / (PERM_TILE * PERM_TILE) + 1, perm_range,
                    &j);
}
