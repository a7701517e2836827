/* MatMul (numpy semantics: 1-D operands, broadcast batch dims) and Gemm
 * (alpha, beta, transA, transB, broadcast C) on the shared SGEMM. MatMul also
 * runs int64 (plainly) so that shape arithmetic folds. Both have an exact INT8
 * form (int8.h, core/quant.h), at the end of this file. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../op.h"
#include "../quant.h"
#include "int8.h"
#include "sgemm.h"

struct matmul_params {
    int64_t M, N, K, batch;
    int nb;                               /* batch rank of the output */
    int64_t bshape[QB_MAX_DIMS];          /* output batch dims */
    int64_t astride[QB_MAX_DIMS], bstride[QB_MAX_DIMS]; /* in matrices; 0 = broadcast */
    bool fold;                            /* B is shared: one GEMM with batch*M rows */
    bool a_shared;                        /* A is shared by all batches */
};

struct gemm_params {
    int64_t M, N, K;
    float alpha, beta;
    bool ta, tb;
    bool has_c;
    int64_t crs, ccs;                     /* C(i, j) = c[i * crs + j * ccs] */
};

/* Packed A that prepare() made from a constant operand. */
struct packed_a {
    float *pa;
};

static size_t round64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static void packed_release(void *state)
{
    struct packed_a *s = state;
    if (s)
        free(s->pa);
    free(s);
}

static enum qb_status pack_const_a(const struct qb_graph *g, const struct qb_node *n, int M, int K, const float *a,
                                   ptrdiff_t rs, ptrdiff_t cs, float alpha, void **state, struct qb_error *err)
{
    struct packed_a *s = calloc(1, sizeof(*s));
    if (!s || !(s->pa = aligned_alloc(64, round64(qb_sgemm_pack_a_size(M, K) * sizeof(float))))) {
        packed_release(s);
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory packing node '%s'", g->path, n->name);
    }
    qb_sgemm_pack_a(M, K, a, rs, cs, alpha, s->pa, NULL);
    *state = s;
    return QB_OK;
}

static enum qb_status too_large(const struct qb_graph *g, const struct qb_node *n, struct qb_error *err)
{
    return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "matrix product too large");
}

/* MatMul ------------------------------------------------------------------------ */

static enum qb_status matmul_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *a = qb_node_in(g, n, 0), *b = qb_node_in(g, n, 1);
    struct matmul_params *p = qb_arena_alloc(g->arena, sizeof(*p));
    int64_t ashape[QB_MAX_DIMS + 1], bshape[QB_MAX_DIMS + 1], oshape[QB_MAX_DIMS];
    int ar, br, ab, bb, on = 0;
    int64_t as = 1, bs = 1;

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if (a->dtype != b->dtype || (a->dtype != QB_DTYPE_F32 && a->dtype != QB_DTYPE_I64))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "operands are %s and %s; float (or int64) supported",
                              qb_dtype_name(a->dtype), qb_dtype_name(b->dtype));
    if (a->ndim < 1 || b->ndim < 1)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "scalar operands");
    /* 1-D operands become [1, K] and [K, 1]; the extra dim is dropped again */
    ar = a->ndim < 2 ? 2 : a->ndim;
    br = b->ndim < 2 ? 2 : b->ndim;
    if (a->ndim == 1) {
        ashape[0] = 1;
        ashape[1] = a->shape[0];
    } else {
        memcpy(ashape, a->shape, (size_t)ar * sizeof(int64_t));
    }
    if (b->ndim == 1) {
        bshape[0] = b->shape[0];
        bshape[1] = 1;
    } else {
        memcpy(bshape, b->shape, (size_t)br * sizeof(int64_t));
    }
    p->M = ashape[ar - 2];
    p->K = ashape[ar - 1];
    p->N = bshape[br - 1];
    if (bshape[br - 2] != p->K)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "inner dimensions differ (%lld and %lld)", (long long)p->K,
                              (long long)bshape[br - 2]);
    ab = ar - 2;
    bb = br - 2;
    p->nb = ab > bb ? ab : bb;
    p->batch = 1;
    for (int i = p->nb - 1; i >= 0; i--) {
        int ia = i - (p->nb - ab), ib = i - (p->nb - bb);
        int64_t da = ia >= 0 ? ashape[ia] : 1, db = ib >= 0 ? bshape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "batch dimensions %lld and %lld do not broadcast",
                                  (long long)da, (long long)db);
        p->bshape[i] = da > db ? da : db;
        if (da == 0 || db == 0)
            p->bshape[i] = 0;
        p->astride[i] = da == 1 ? 0 : as;
        p->bstride[i] = db == 1 ? 0 : bs;
        as *= da;
        bs *= db;
        p->batch *= p->bshape[i];
    }
    p->fold = p->a_shared = true;
    for (int i = 0; i < p->nb; i++) {
        if (p->bstride[i])
            p->fold = false;
        if (p->astride[i])
            p->a_shared = false;
    }
    if (p->M > INT_MAX / 2 || p->N > INT_MAX / 2 || p->K > INT_MAX / 2 || p->M * p->batch > INT_MAX / 2 ||
        (double)p->M * (double)p->K * (double)p->batch > (double)INT_MAX)
        return too_large(g, n, err);
    for (int i = 0; i < p->nb; i++)
        oshape[on++] = p->bshape[i];
    if (a->ndim > 1)
        oshape[on++] = p->M;
    if (b->ndim > 1)
        oshape[on++] = p->N;
    if (on > QB_MAX_DIMS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "output rank %d too large", on);
    struct qb_value *y = qb_node_out(g, n, 0);
    y->dtype = a->dtype;
    y->ndim = on;
    memcpy(y->shape, oshape, (size_t)on * sizeof(int64_t));
    n->params = p;
    return QB_OK;
}

/* Rows of A that one packing covers. */
static int64_t matmul_a_rows(const struct matmul_params *p)
{
    return p->fold ? p->M * p->batch : p->M;
}

static enum qb_status matmul_prepare(const struct qb_graph *g, const struct qb_node *n, void **state,
                                     size_t *scratch, struct qb_error *err)
{
    const struct matmul_params *p = n->params;
    const struct qb_value *a = qb_node_in(g, n, 0);
    int rows = (int)matmul_a_rows(p);

    *state = NULL;
    *scratch = 0;
    if (a->dtype != QB_DTYPE_F32)
        return QB_OK;
    *scratch = qb_sgemm_scratch_size();
    if ((a->flags & QB_VALUE_CONST) && (p->fold || p->a_shared) && p->batch > 0)
        return pack_const_a(g, n, rows, (int)p->K, a->data, (ptrdiff_t)p->K, 1, 1.0f, state, err);
    *scratch += round64(qb_sgemm_pack_a_size(rows, (int)p->K) * sizeof(float));
    return QB_OK;
}

/* Offsets of batch item `it` into A and B (in matrices). */
static void batch_offsets(const struct matmul_params *p, int64_t it, int64_t *ao, int64_t *bo)
{
    *ao = *bo = 0;
    for (int i = p->nb - 1; i >= 0; i--) {
        int64_t d = p->bshape[i], idx = it % d;
        it /= d;
        *ao += idx * p->astride[i];
        *bo += idx * p->bstride[i];
    }
}

static void matmul_i64(const struct matmul_params *p, const int64_t *a, const int64_t *b, int64_t *y)
{
    for (int64_t it = 0; it < p->batch; it++) {
        int64_t ao, bo;
        batch_offsets(p, it, &ao, &bo);
        for (int64_t i = 0; i < p->M; i++)
            for (int64_t j = 0; j < p->N; j++) {
                uint64_t s = 0; /* wraps like two's complement instead of overflowing */
                for (int64_t k = 0; k < p->K; k++)
                    s += (uint64_t)a[(ao * p->M + i) * p->K + k] * (uint64_t)b[(bo * p->K + k) * p->N + j];
                y[(it * p->M + i) * p->N + j] = (int64_t)s;
            }
    }
}

static enum qb_status matmul_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx)
{
    const struct matmul_params *p = n->params;
    const struct packed_a *s = ctx->state;
    const float *a = in[0].data, *b = in[1].data;
    float *y = out[0].data, *pa;
    char *gemm = ctx->scratch;
    int64_t rows = matmul_a_rows(p), nit = p->fold ? 1 : p->batch;
    size_t need;

    if (in[0].dtype == QB_DTYPE_I64) {
        matmul_i64(p, in[0].data, in[1].data, out[0].data);
        return QB_OK;
    }
    if (p->batch == 0 || p->M == 0 || p->N == 0)
        return QB_OK;
    need = qb_sgemm_scratch_size() / QB_SGEMM_SLOTS +
           (s ? 0 : round64(qb_sgemm_pack_a_size((int)rows, (int)p->K) * sizeof(float)));
    if (!ctx->scratch || ctx->scratch_size < need)
        return QB_ERR_INTERNAL;
    pa = s ? s->pa : (float *)ctx->scratch;
    if (!s)
        gemm += round64(qb_sgemm_pack_a_size((int)rows, (int)p->K) * sizeof(float));
    for (int64_t it = 0; it < nit; it++) {
        int64_t ao, bo;
        struct qb_sgemm_b src;
        batch_offsets(p, it, &ao, &bo);
        if (!s && (it == 0 || !p->a_shared))
            qb_sgemm_pack_a((int)rows, (int)p->K, a + ao * p->M * p->K, (ptrdiff_t)p->K, 1, 1.0f, pa, ctx->pool);
        qb_sgemm_b_matrix(&src, b + bo * p->K * p->N, (ptrdiff_t)p->N, 1);
        qb_sgemm_packed((int)rows, (int)p->N, (int)p->K, pa, &src, y + it * p->M * p->N, (ptrdiff_t)p->N, NULL, 0,
                        gemm, ctx->scratch_size - (size_t)(gemm - (char *)ctx->scratch), ctx->pool);
    }
    return QB_OK;
}

static double matmul_flops(const struct qb_graph *g, const struct qb_node *n)
{
    const struct matmul_params *p = n->params;
    (void)g;
    return 2.0 * (double)p->batch * (double)p->M * (double)p->N * (double)p->K;
}

/* Gemm ---------------------------------------------------------------------------- */

static enum qb_status gemm_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *a = qb_node_in(g, n, 0), *b = qb_node_in(g, n, 1), *c = qb_node_in(g, n, 2);
    struct gemm_params *p = qb_arena_alloc(g->arena, sizeof(*p));
    int64_t ta, tb, bcast;
    enum qb_status st;

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if ((st = qb_node_attr_float(g, n, "alpha", 1.0f, &p->alpha, err)) ||
        (st = qb_node_attr_float(g, n, "beta", 1.0f, &p->beta, err)) ||
        (st = qb_node_attr_int(g, n, "transA", 0, &ta, err)) || (st = qb_node_attr_int(g, n, "transB", 0, &tb, err)) ||
        (st = qb_node_attr_int(g, n, "broadcast", 0, &bcast, err)))
        return st;
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || (bcast != 0 && bcast != 1))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "transA, transB and broadcast must be 0 or 1");
    if (qb_node_attr(n, "broadcast") && g->opset >= 7)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'broadcast' was removed in opset 7");
    if (!isfinite(p->alpha) || !isfinite(p->beta))
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "alpha and beta must be finite");
    if (!c && g->opset < 11)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "input C is required before opset 11");
    for (int i = 0; i < 3; i++) {
        const struct qb_value *v = qb_node_in(g, n, i);
        if (v && v->dtype != QB_DTYPE_F32)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input %d is %s; only float is supported", i,
                                  qb_dtype_name(v->dtype));
    }
    if (a->ndim != 2 || b->ndim != 2)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "A and B must be 2-D (ranks %d and %d)", a->ndim, b->ndim);
    p->ta = ta;
    p->tb = tb;
    p->M = a->shape[ta ? 1 : 0];
    p->K = a->shape[ta ? 0 : 1];
    p->N = b->shape[tb ? 0 : 1];
    if (b->shape[tb ? 1 : 0] != p->K)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "inner dimensions differ (%lld and %lld)", (long long)p->K,
                              (long long)b->shape[tb ? 1 : 0]);
    if (p->M > INT_MAX / 2 || p->N > INT_MAX / 2 || p->K > INT_MAX / 2 || p->M * p->K > INT_MAX / 2)
        return too_large(g, n, err);
    p->has_c = c && p->beta != 0.0f;
    if (c) {
        int64_t d0 = c->ndim >= 2 ? c->shape[c->ndim - 2] : 1, d1 = c->ndim >= 1 ? c->shape[c->ndim - 1] : 1;
        if (c->ndim > 2 || (d0 != 1 && d0 != p->M) || (d1 != 1 && d1 != p->N))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "C does not broadcast to [%lld, %lld]", (long long)p->M,
                                  (long long)p->N);
        if (g->opset < 7 && !bcast && (c->ndim != 2 || d0 != p->M || d1 != p->N))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "C must be [%lld, %lld] when broadcast=0",
                                  (long long)p->M, (long long)p->N);
        p->crs = d0 == 1 ? 0 : d1;
        p->ccs = d1 == 1 ? 0 : 1;
    }
    struct qb_value *y = qb_node_out(g, n, 0);
    y->dtype = QB_DTYPE_F32;
    y->ndim = 2;
    y->shape[0] = p->M;
    y->shape[1] = p->N;
    n->params = p;
    return QB_OK;
}

static void gemm_a_strides(const struct gemm_params *p, ptrdiff_t *rs, ptrdiff_t *cs)
{
    *rs = p->ta ? 1 : (ptrdiff_t)p->K;
    *cs = p->ta ? (ptrdiff_t)p->M : 1;
}

static enum qb_status gemm_prepare(const struct qb_graph *g, const struct qb_node *n, void **state, size_t *scratch,
                                   struct qb_error *err)
{
    const struct gemm_params *p = n->params;
    const struct qb_value *a = qb_node_in(g, n, 0);
    ptrdiff_t rs, cs;

    *state = NULL;
    *scratch = qb_sgemm_scratch_size();
    gemm_a_strides(p, &rs, &cs);
    if (a->flags & QB_VALUE_CONST)
        return pack_const_a(g, n, (int)p->M, (int)p->K, a->data, rs, cs, p->alpha, state, err);
    *scratch += round64(qb_sgemm_pack_a_size((int)p->M, (int)p->K) * sizeof(float));
    return QB_OK;
}

static enum qb_status gemm_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                               const struct qb_kctx *ctx)
{
    const struct gemm_params *p = n->params;
    const struct packed_a *s = ctx->state;
    const float *c = n->n_in > 2 ? in[2].data : NULL;
    float *y = out[0].data, *pa;
    char *gemm = ctx->scratch;
    size_t abytes = s ? 0 : round64(qb_sgemm_pack_a_size((int)p->M, (int)p->K) * sizeof(float));
    struct qb_sgemm_b src;
    ptrdiff_t rs, cs;
    unsigned flags = 0;

    if (p->M == 0 || p->N == 0)
        return QB_OK;
    if (!ctx->scratch || ctx->scratch_size < abytes + qb_sgemm_scratch_size() / QB_SGEMM_SLOTS)
        return QB_ERR_INTERNAL;
    pa = s ? s->pa : (float *)ctx->scratch;
    gemm += abytes;
    if (!s) {
        gemm_a_strides(p, &rs, &cs);
        qb_sgemm_pack_a((int)p->M, (int)p->K, in[0].data, rs, cs, p->alpha, pa, ctx->pool);
    }
    if (p->has_c && c) {
        for (int64_t i = 0; i < p->M; i++)
            for (int64_t j = 0; j < p->N; j++)
                y[i * p->N + j] = p->beta * c[i * p->crs + j * p->ccs];
        flags = QB_SGEMM_ACCUMULATE;
    }
    qb_sgemm_b_matrix(&src, in[1].data, p->tb ? 1 : (ptrdiff_t)p->N, p->tb ? (ptrdiff_t)p->K : 1);
    qb_sgemm_packed((int)p->M, (int)p->N, (int)p->K, pa, &src, y, (ptrdiff_t)p->N, NULL, flags, gemm,
                    ctx->scratch_size - abytes, ctx->pool);
    return QB_OK;
}

static double gemm_flops(const struct qb_graph *g, const struct qb_node *n)
{
    const struct gemm_params *p = n->params;
    (void)g;
    return 2.0 * (double)p->M * (double)p->N * (double)p->K;
}

/* INT8 MatMul and Gemm ----------------------------------------------------------------
 *
 * One description covers both: products Y[it] = A[it] . B[it], A(i, k) =
 * a[i * ars + k * acs], B(k, j) = b[k * brs + j * bcs]. An activation operand
 * is quantized per tensor with the executor's scale; a constant one once, per
 * row (A) or per output column (B). Output scale sa(i) * sb(j), Gemm's alpha
 * folded into sb in float32 (alpha * s_b); bias beta * C(i, j) for Gemm. */

struct mm8 {
    int64_t M, N, K;
    int64_t batch;                   /* products in the output (MatMul's batch, 1 for Gemm) */
    bool fold;                       /* the fast path runs one product of batch * M rows (B shared) */
    ptrdiff_t ars, acs, brs, bcs;
    const struct matmul_params *mp;  /* MatMul's batch offsets; NULL for Gemm */
    float alpha;
    const float *c;                  /* Gemm's C when it adds (beta != 0), else NULL */
    ptrdiff_t crs, ccs;
    float beta;
};

struct mm8_state {
    int8_t *q[2];  /* a constant operand quantized (NULL: an activation) */
    float *qf[2];  /* the same integers as floats, for the fast path */
    float *s[2];   /* constant A: a scale per row (M); constant B: per column (N), times alpha */
    size_t numel[2];
};

static void mm8_release(void *state)
{
    struct mm8_state *s = state;
    if (!s)
        return;
    for (int k = 0; k < 2; k++) {
        free(s->q[k]);
        free(s->qf[k]);
        free(s->s[k]);
    }
    free(s);
}

static void mm8_from_matmul(const struct matmul_params *p, struct mm8 *d)
{
    *d = (struct mm8){.M = p->M, .N = p->N, .K = p->K, .batch = p->batch, .fold = p->fold, .ars = (ptrdiff_t)p->K,
                      .acs = 1, .brs = (ptrdiff_t)p->N, .bcs = 1, .mp = p, .alpha = 1.0f, .beta = 1.0f};
}

static void mm8_from_gemm(const struct gemm_params *p, const float *c, struct mm8 *d)
{
    *d = (struct mm8){.M = p->M, .N = p->N, .K = p->K, .batch = 1, .alpha = p->alpha, .beta = p->beta,
                      .c = p->has_c ? c : NULL, .crs = (ptrdiff_t)p->crs, .ccs = (ptrdiff_t)p->ccs};
    gemm_a_strides(p, &d->ars, &d->acs);
    d->brs = p->tb ? 1 : (ptrdiff_t)p->N;
    d->bcs = p->tb ? (ptrdiff_t)p->K : 1;
}

/* Element offsets of output product it into A and B. */
static void mm8_offsets(const struct mm8 *d, int64_t it, int64_t *ao, int64_t *bo)
{
    *ao = *bo = 0;
    if (d->mp) {
        batch_offsets(d->mp, it, ao, bo);
        *ao *= d->M * d->K;
        *bo *= d->K * d->N;
    }
}

/* Rows and count of the products the fast path runs. */
static int64_t mm8_rows(const struct mm8 *d) { return d->fold ? d->M * d->batch : d->M; }
static int64_t mm8_products(const struct mm8 *d) { return d->fold ? 1 : d->batch; }
static int mm8_chunks(const struct mm8 *d) { return (int)((d->K + QB_INT8_CHUNK - 1) / QB_INT8_CHUNK); }

/* Scratch, from the start: reference [A int8][B int8] (activations only);
 * fast [A floats][B floats][packed A][GEMM][chunk sums]. */
static size_t mm8_ref_scratch(const struct mm8_state *s)
{
    return (s->q[0] ? 0 : qb_int8_round64(s->numel[0])) + (s->q[1] ? 0 : qb_int8_round64(s->numel[1]));
}

static size_t mm8_pack_bytes(const struct mm8 *d)
{
    int64_t kc = d->K < QB_INT8_CHUNK ? d->K : QB_INT8_CHUNK;
    return qb_int8_round64(qb_sgemm_pack_a_size((int)mm8_rows(d), (int)kc) * sizeof(float));
}

static size_t mm8_fast_scratch(const struct mm8 *d, const struct mm8_state *s)
{
    return (s->q[0] ? 0 : qb_int8_round64(s->numel[0] * sizeof(float))) +
           (s->q[1] ? 0 : qb_int8_round64(s->numel[1] * sizeof(float))) + mm8_pack_bytes(d) +
           qb_sgemm_scratch_size() +
           (mm8_chunks(d) > 1 ? qb_int8_round64((size_t)(mm8_rows(d) * d->N) * sizeof(int32_t)) : 0);
}

/* Quantizes constant operand k, viewed as [outer, ch, inner] (quant.h). */
static enum qb_status mm8_quant_const(struct mm8_state *s, int k, const float *x, int64_t outer, int64_t ch,
                                      int64_t inner, float alpha)
{
    size_t count = s->numel[k] ? s->numel[k] : 1;
    if (!(s->q[k] = malloc(count)) || !(s->qf[k] = malloc(count * sizeof(float))) ||
        !(s->s[k] = malloc((size_t)(ch ? ch : 1) * sizeof(float))))
        return QB_ERR_NOMEM;
    qb_quant_weights(x, outer, ch, inner, s->q[k], s->s[k]);
    for (size_t i = 0; i < s->numel[k]; i++)
        s->qf[k][i] = (float)s->q[k][i];
    if (alpha != 1.0f)
        for (int64_t c = 0; c < ch; c++)
            s->s[k][c] = alpha * s->s[k][c];
    return QB_OK;
}

/* Operand k as [outer, ch, inner]: A's channels are its rows, B's its columns. */
struct mm8_axes {
    int64_t outer[2], ch[2], inner[2];
};

static enum qb_status mm8_prepare(const struct qb_graph *g, const struct qb_node *n, const struct mm8 *d,
                                  const struct mm8_axes *ax, void **state, size_t *scratch, struct qb_error *err)
{
    struct mm8_state *s = calloc(1, sizeof(*s));
    enum qb_status st = QB_OK;

    *state = NULL;
    *scratch = 0;
    if (!s)
        goto nomem;
    for (int k = 0; k < 2; k++) {
        const struct qb_value *v = qb_node_in(g, n, k);
        if (v->dtype != QB_DTYPE_F32) {
            st = qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "no INT8 form for %s operands",
                                qb_dtype_name(v->dtype));
            goto out;
        }
        s->numel[k] = (size_t)qb_value_numel(v);
        if ((v->flags & QB_VALUE_CONST) &&
            mm8_quant_const(s, k, v->data, ax->outer[k], ax->ch[k], ax->inner[k], k ? d->alpha : 1.0f) != QB_OK)
            goto nomem;
    }
    if (s->q[0] && s->q[1]) {
        st = qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "INT8 form with both operands constant");
        goto out;
    }
    *scratch = mm8_ref_scratch(s);
    if (mm8_fast_scratch(d, s) > *scratch)
        *scratch = mm8_fast_scratch(d, s);
    *state = s;
    s = NULL;
    goto out;
nomem:
    st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory quantizing node '%s'", g->path, n->name);
out:
    mm8_release(s);
    return st;
}

/* The scales of one run: sa(i) = sa[i * sas], sb(j) = sb[j * sbs]. */
struct mm8_scales {
    const float *sa, *sb;
    ptrdiff_t sas, sbs;
    float a1, b1; /* per-tensor scales of activation operands, b1 times alpha */
};

static enum qb_status mm8_scales(const struct mm8 *d, const struct mm8_state *s, const float *in_scale,
                                 struct mm8_scales *sc)
{
    for (int k = 0; k < 2; k++)
        if (!s->q[k] && !qb_int8_scale_ok(in_scale[k]))
            return QB_ERR_INVALID;
    sc->a1 = in_scale[0];
    sc->b1 = d->alpha == 1.0f ? in_scale[1] : d->alpha * in_scale[1];
    sc->sa = s->q[0] ? s->s[0] : &sc->a1;
    sc->sas = s->q[0] ? 1 : 0;
    sc->sb = s->q[1] ? s->s[1] : &sc->b1;
    sc->sbs = s->q[1] ? 1 : 0;
    return QB_OK;
}

struct mm8_ref_job {
    const struct mm8 *d;
    const struct mm8_scales *sc;
    const int8_t *qa, *qb;
    float *y;
};

/* Output row r (product r / M, row r % M): plain int32 sums, wrapping rather
 * than overflowing. */
static void mm8_ref_row(void *ctx, int r)
{
    const struct mm8_ref_job *j = ctx;
    const struct mm8 *d = j->d;
    const int64_t i = r % d->M, it = r / d->M;
    const float sa = j->sc->sa[i * j->sc->sas];
    float *y = j->y + (int64_t)r * d->N;
    int64_t ao, bo;

    mm8_offsets(d, it, &ao, &bo);
    for (int64_t jc = 0; jc < d->N; jc++) {
        uint32_t acc = 0;
        for (int64_t k = 0; k < d->K; k++)
            acc += (uint32_t)((int32_t)j->qa[ao + i * d->ars + k * d->acs] *
                              (int32_t)j->qb[bo + k * d->brs + jc * d->bcs]);
        y[jc] = qb_quant_out((int32_t)acc, sa, j->sc->sb[jc * j->sc->sbs],
                             qb_int8_bias(d->beta, d->c, i * d->crs + jc * d->ccs));
    }
}

static enum qb_status mm8_run_ref(const struct mm8 *d, const struct mm8_state *s, const struct mm8_scales *sc,
                                  const struct qb_tview *in, const float *in_scale, float *y,
                                  const struct qb_kctx *ctx)
{
    struct mm8_ref_job j = {.d = d, .sc = sc, .y = y, .qa = s->q[0], .qb = s->q[1]};
    int8_t *at = ctx->scratch;

    if (mm8_ref_scratch(s) && (!ctx->scratch || ctx->scratch_size < mm8_ref_scratch(s)))
        return QB_ERR_INTERNAL;
    for (int k = 0; k < 2; k++) {
        if (s->q[k])
            continue;
        qb_int8_quant(ctx->pool, in[k].data, at, s->numel[k], in_scale[k]);
        if (k == 0)
            j.qa = at;
        else
            j.qb = at;
        at += qb_int8_round64(s->numel[k]);
    }
    qb_pool_for(ctx->pool, (int)(d->batch * d->M), mm8_ref_row, &j);
    return QB_OK;
}

static enum qb_status mm8_run_fast(const struct mm8 *d, const struct mm8_state *s, const struct mm8_scales *sc,
                                   const struct qb_tview *in, const float *in_scale, float *y,
                                   const struct qb_kctx *ctx)
{
    const int64_t rows = mm8_rows(d), N = d->N;
    const int chunks = mm8_chunks(d);
    const struct qb_int8_epi e = {.sr = sc->sa, .srs = sc->sas, .sc = sc->sb, .scs = sc->sbs, .bias = d->c,
                                  .brs = d->crs, .bcs = d->ccs, .beta = d->beta};
    const float *f[2] = {s->qf[0], s->qf[1]};
    char *at = ctx->scratch;
    float *pa;
    void *gemm;
    int32_t *acc;

    if (!ctx->scratch || ctx->scratch_size < mm8_fast_scratch(d, s))
        return QB_ERR_INTERNAL;
    for (int k = 0; k < 2; k++) {
        if (s->q[k])
            continue;
        qb_int8_quant_ints(ctx->pool, in[k].data, (float *)at, s->numel[k], in_scale[k]);
        f[k] = (const float *)at;
        at += qb_int8_round64(s->numel[k] * sizeof(float));
    }
    pa = (float *)at;
    at += mm8_pack_bytes(d);
    gemm = at;
    at += qb_sgemm_scratch_size();
    acc = chunks > 1 ? (int32_t *)at : NULL;
    for (int64_t it = 0; it < mm8_products(d); it++) {
        float *yit = y + it * rows * N;
        int64_t ao, bo;
        mm8_offsets(d, it, &ao, &bo);
        for (int j = 0; j < chunks; j++) {
            int64_t k0 = (int64_t)j * QB_INT8_CHUNK, kc = d->K - k0 < QB_INT8_CHUNK ? d->K - k0 : QB_INT8_CHUNK;
            struct qb_sgemm_b src;
            qb_sgemm_pack_a((int)rows, (int)kc, f[0] + ao + k0 * d->acs, d->ars, d->acs, 1.0f, pa, ctx->pool);
            qb_sgemm_b_matrix(&src, f[1] + bo + k0 * d->brs, d->brs, d->bcs);
            qb_sgemm_packed((int)rows, (int)N, (int)kc, pa, &src, yit, (ptrdiff_t)N, NULL, 0, gemm,
                            qb_sgemm_scratch_size(), ctx->pool);
            if (acc)
                qb_int8_acc_add(yit, (ptrdiff_t)N, acc, rows, N, j == 0, ctx->pool);
        }
        /* per product of M rows: a constant A's row scales repeat */
        for (int64_t r0 = 0; r0 < rows; r0 += d->M)
            qb_int8_epilogue(yit + r0 * N, (ptrdiff_t)N, acc ? acc + r0 * N : NULL, d->M, N, &e, ctx->pool);
    }
    return QB_OK;
}

static enum qb_status mm8_run(const struct mm8 *d, const struct qb_tview *in, const float *in_scale, float *y,
                              const struct qb_kctx *ctx)
{
    const struct mm8_state *s = ctx->state;
    struct mm8_scales sc;
    enum qb_status st;

    if (!s)
        return QB_ERR_INTERNAL;
    if ((st = mm8_scales(d, s, in_scale, &sc)) != QB_OK)
        return st;
    if (d->batch == 0 || d->M == 0 || d->N == 0)
        return QB_OK;
    if (d->K == 0 || qb_int8_reference_forced())
        return mm8_run_ref(d, s, &sc, in, in_scale, y, ctx);
    return mm8_run_fast(d, s, &sc, in, in_scale, y, ctx);
}

static enum qb_status matmul_prepare_int8(const struct qb_graph *g, const struct qb_node *n, void **state,
                                          size_t *scratch, struct qb_error *err)
{
    const struct matmul_params *p = n->params;
    int64_t na = qb_value_numel(qb_node_in(g, n, 0)), nb = qb_value_numel(qb_node_in(g, n, 1));
    struct mm8 d;
    struct mm8_axes ax = {.outer = {p->M * p->K != 0 ? na / (p->M * p->K) : 0, p->N ? nb / p->N : 0},
                          .ch = {p->M, p->N},
                          .inner = {p->K, 1}};
    mm8_from_matmul(p, &d);
    return mm8_prepare(g, n, &d, &ax, state, scratch, err);
}

static enum qb_status matmul_run_int8(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                                      struct qb_tview *out, const struct qb_kctx *ctx)
{
    struct mm8 d;
    mm8_from_matmul(n->params, &d);
    return mm8_run(&d, in, in_scale, out[0].data, ctx);
}

static enum qb_status gemm_prepare_int8(const struct qb_graph *g, const struct qb_node *n, void **state,
                                        size_t *scratch, struct qb_error *err)
{
    const struct gemm_params *p = n->params;
    struct mm8 d;
    struct mm8_axes ax = {.outer = {p->ta ? p->K : 1, p->tb ? 1 : p->K},
                          .ch = {p->M, p->N},
                          .inner = {p->ta ? 1 : p->K, p->tb ? p->K : 1}};
    mm8_from_gemm(p, NULL, &d);
    return mm8_prepare(g, n, &d, &ax, state, scratch, err);
}

static enum qb_status gemm_run_int8(const struct qb_node *n, const struct qb_tview *in, const float *in_scale,
                                    struct qb_tview *out, const struct qb_kctx *ctx)
{
    struct mm8 d;
    mm8_from_gemm(n->params, n->n_in > 2 ? in[2].data : NULL, &d);
    return mm8_run(&d, in, in_scale, out[0].data, ctx);
}

static const char *const gemm_attrs[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};

const struct qb_op_def qb_ops_gemm[] = {
    {.name = "MatMul", .min_opset = 1, .max_opset = 22, .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
     .flags = QB_OP_QUANTIZABLE, .infer = matmul_infer, .prepare = matmul_prepare, .release = packed_release,
     .run = matmul_run, .prepare_int8 = matmul_prepare_int8, .release_int8 = mm8_release,
     .run_int8 = matmul_run_int8, .flops = matmul_flops},
    {.name = "Gemm", .min_opset = 1, .max_opset = 22, .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
     .attrs = gemm_attrs, .flags = QB_OP_QUANTIZABLE, .infer = gemm_infer, .prepare = gemm_prepare,
     .release = packed_release, .run = gemm_run, .prepare_int8 = gemm_prepare_int8, .release_int8 = mm8_release,
     .run_int8 = gemm_run_int8, .flops = gemm_flops},
    {.name = NULL},
};
