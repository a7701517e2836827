/* MatMul (numpy semantics: 1-D operands, broadcast batch dims) and Gemm
 * (alpha, beta, transA, transB, broadcast C) on the shared SGEMM. MatMul also
 * runs int64 (plainly) so that shape arithmetic folds. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../op.h"
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

static const char *const gemm_attrs[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};

const struct qb_op_def qb_ops_gemm[] = {
    {.name = "MatMul", .min_opset = 1, .max_opset = 22, .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
     .flags = QB_OP_QUANTIZABLE, .infer = matmul_infer, .prepare = matmul_prepare, .release = packed_release,
     .run = matmul_run, .flops = matmul_flops},
    {.name = "Gemm", .min_opset = 1, .max_opset = 22, .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
     .attrs = gemm_attrs, .flags = QB_OP_QUANTIZABLE, .infer = gemm_infer, .prepare = gemm_prepare,
     .release = packed_release, .run = gemm_run, .flops = gemm_flops},
    {.name = NULL},
};
