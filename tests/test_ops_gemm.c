/* The SGEMM kernels (packed, wrapped output, offset rows), MatMul and Gemm
 * against plain reference loops (double accumulation) written here: fixed
 * seed, odd sizes around the register and cache blocks, bias and accumulate,
 * numpy batch broadcasting and 1-D operands, transA/transB/alpha/beta and every
 * form of C. Each case runs with no pool and with a 2-thread pool (bitwise
 * identical), and with the portable kernel; outputs have guard regions. */
#include "testutil_graph.h"

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) & ~(size_t)63); }

/* The kernels directly ----------------------------------------------------------------- */

/* C (M x N, row stride ldc) = [C +] A . B + bias, A and B row-major. */
static void gemm_ref(int M, int N, int K, const float *a, const float *b, const float *bias, const float *c0,
                     ptrdiff_t ldc, double *want, double *mag)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = c0 ? c0[i * ldc + j] : 0.0, m = fabs(s);
            for (int k = 0; k < K; k++) {
                double t = (double)a[i * K + k] * b[k * N + j];
                s += t;
                m += fabs(t);
            }
            if (bias) {
                s += bias[i];
                m += fabs(bias[i]);
            }
            want[i * N + j] = s;
            mag[i * N + j] = m;
        }
}

static void test_sgemm_case(struct qb_pool *pool2, int idx)
{
    static const int sizes[] = {1, 2, 3, 4, 5, 7, 23, 24, 25, 47, 97, 191, 193, 250};
    int M = sizes[rnd() % 14], N = sizes[rnd() % 14] + (idx % 3 == 0 ? rint_in(0, 500) : 0);
    int K = idx % 4 == 0 ? rint_in(250, 800) : sizes[rnd() % 14];
    int accumulate = rint_in(0, 2) == 0, with_bias = rint_in(0, 1);
    ptrdiff_t ldc = N + rint_in(0, 3);
    float *a = rand_unit((int64_t)M * K), *b = rand_unit((int64_t)K * N), *bias = with_bias ? rand_unit(M) : NULL;
    float *c0 = rand_unit((int64_t)M * ldc), *pa = alloc64(qb_sgemm_pack_a_size(M, K) * sizeof(float));
    size_t ss = qb_sgemm_scratch_size();
    void *scratch = alloc64(ss);
    double *want = malloc((size_t)M * N * sizeof(double)), *mag = malloc((size_t)M * N * sizeof(double));
    float *out[3];
    char what[96];
    struct qb_sgemm_b src;

    snprintf(what, sizeof(what), "sgemm #%d M%d N%d K%d%s%s", idx, M, N, K, accumulate ? " acc" : "",
             with_bias ? " bias" : "");
    gemm_ref(M, N, K, a, b, bias, accumulate ? c0 : NULL, ldc, want, mag);
    qb_sgemm_pack_a(M, K, a, K, 1, 1.0f, pa, NULL);
    qb_sgemm_b_matrix(&src, b, N, 1);
    for (int v = 0; v < 3; v++) {
        float *c = guarded_f32((int64_t)M * ldc);
        memcpy(c, c0, (size_t)M * (size_t)ldc * sizeof(float));
        qb_sgemm_force_generic(v == 2);
        qb_sgemm_packed(M, N, K, pa, &src, c, ldc, bias, accumulate ? QB_SGEMM_ACCUMULATE : 0, scratch, ss,
                        v == 1 ? pool2 : NULL);
        qb_sgemm_force_generic(false);
        check(guarded_ok(c, (int64_t)M * ldc), "sgemm leaves the guard regions alone");
        out[v] = malloc((size_t)M * N * sizeof(float));
        for (int i = 0; i < M; i++) {
            memcpy(out[v] + (size_t)i * N, c + i * ldc, (size_t)N * sizeof(float));
            for (ptrdiff_t j = N; j < ldc; j++)
                if (c[i * ldc + j] != c0[i * ldc + j])
                    check(0, "sgemm leaves columns past N alone");
        }
        guarded_free(c);
    }
    check(close_mag(out[0], want, mag, (int64_t)M * N, what), what);
    check(close_mag(out[2], want, mag, (int64_t)M * N, what), "portable sgemm kernel matches the reference");
    if (!accumulate) { /* the convenience entry packs A itself: same bits */
        size_t ps = qb_sgemm_plain_scratch_size(M, K);
        void *plain = alloc64(ps);
        float *c = guarded_f32((int64_t)M * ldc);
        qb_sgemm(M, N, K, a, K, b, N, c, ldc, bias, plain, ps, pool2);
        check(guarded_ok(c, (int64_t)M * ldc), "qb_sgemm leaves the guard regions alone");
        for (int i = 0; i < M; i++)
            if (memcmp(c + i * ldc, out[0] + (size_t)i * N, (size_t)N * sizeof(float)) != 0)
                check(0, "qb_sgemm equals qb_sgemm_packed");
        guarded_free(c);
        free(plain);
    }
    check(memcmp(out[0], out[1], (size_t)M * N * sizeof(float)) == 0, "sgemm: 2 threads give the same bits");
    for (int v = 0; v < 3; v++)
        free(out[v]);
    free(a);
    free(b);
    free(bias);
    free(c0);
    free(pa);
    free(scratch);
    free(want);
    free(mag);
}

/* Offset rows + wrapped output: B row k is a shifted window of a long buffer,
 * output rows of width ow live on a grid wq wide. */
static void test_rows_case(struct qb_pool *pool2, int idx)
{
    int M = rint_in(1, 30), K = rint_in(1, 300), ow = rint_in(1, 40), wq = ow + rint_in(0, 4), rows = rint_in(1, 9);
    int N = rows * wq, span = N + 64;
    float *buf = rand_unit((int64_t)K * span), *a = rand_unit((int64_t)M * K), *bias = rint_in(0, 1) ? rand_unit(M) : NULL;
    float *pa = alloc64(qb_sgemm_pack_a_size(M, K) * sizeof(float));
    int64_t *off = malloc((size_t)K * sizeof(int64_t));
    int64_t on = (int64_t)M * rows * ow;
    double *want = malloc((size_t)on * sizeof(double)), *mag = malloc((size_t)on * sizeof(double));
    float *out[3];
    struct qb_sgemm_wrap wrap = {.wq = wq, .ow = ow};
    char what[80];

    for (int k = 0; k < K; k++)
        off[k] = (int64_t)k * span + rint_in(0, span - N);
    for (int i = 0; i < M; i++)
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < ow; x++) {
                double s = 0.0, m = 0.0;
                for (int k = 0; k < K; k++) {
                    double t = (double)a[i * K + k] * buf[off[k] + r * wq + x];
                    s += t;
                    m += fabs(t);
                }
                if (bias) {
                    s += bias[i];
                    m += fabs(bias[i]);
                }
                want[(i * rows + r) * ow + x] = s;
                mag[(i * rows + r) * ow + x] = m;
            }
    snprintf(what, sizeof(what), "sgemm rows #%d M%d K%d ow%d wq%d", idx, M, K, ow, wq);
    qb_sgemm_pack_a_rows(M, K, a, K, 1, pa, NULL);
    for (int v = 0; v < 3; v++) {
        float *c = guarded_f32(on);
        qb_sgemm_force_generic(v == 2);
        qb_sgemm_rows(M, N, K, pa, buf, off, c, (ptrdiff_t)rows * ow, bias, &wrap, v == 1 ? pool2 : NULL);
        qb_sgemm_force_generic(false);
        check(guarded_ok(c, on), "sgemm rows leaves the guard regions alone");
        out[v] = malloc((size_t)on * sizeof(float));
        memcpy(out[v], c, (size_t)on * sizeof(float));
        guarded_free(c);
    }
    check(close_mag(out[0], want, mag, on, what), what);
    check(close_mag(out[2], want, mag, on, what), "portable rows kernel matches the reference");
    check(memcmp(out[0], out[1], (size_t)on * sizeof(float)) == 0, "sgemm rows: 2 threads give the same bits");
    for (int v = 0; v < 3; v++)
        free(out[v]);
    free(buf);
    free(a);
    free(bias);
    free(pa);
    free(off);
    free(want);
    free(mag);
}

/* MatMul --------------------------------------------------------------------------------- */

static void test_matmul_case(struct qb_pool *pool2, int idx)
{
    struct tnode t = {.op = "MatMul", .opset = 13, .n_in = 2};
    int ra = rint_in(1, 4), rb = rint_in(1, 4), nb;
    int64_t M = rint_in(1, 40), N = rint_in(1, 60), K = rint_in(1, 70), as[6], bs[6], bat[4] = {1, 1, 1, 1};
    int64_t ab[4], bb[4], batch = 1, rows;
    float *a, *b;
    double *want, *mag;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[96];

    if (idx % 5 == 0)
        M = rint_in(100, 300);
    nb = (ra > rb ? ra : rb) - 2;
    nb = nb < 0 ? 0 : nb;
    for (int i = 0; i < nb; i++) {
        bat[i] = rint_in(1, 3);
        ab[i] = rint_in(0, 2) ? bat[i] : 1;
        bb[i] = rint_in(0, 2) ? bat[i] : 1;
        if (ab[i] != bat[i] && bb[i] != bat[i])
            ab[i] = bat[i];
        batch *= bat[i];
    }
    /* shapes: A is [.., M, K] (or [K] when rank 1), B is [.., K, N] (or [K]) */
    for (int i = 0; i < ra - 2; i++)
        as[i] = ab[nb - (ra - 2) + i];
    for (int i = 0; i < rb - 2; i++)
        bs[i] = bb[nb - (rb - 2) + i];
    /* dims missing from the shorter operand broadcast */
    for (int i = 0; i < nb; i++) {
        if (i < nb - (ra - 2))
            ab[i] = 1;
        if (i < nb - (rb - 2))
            bb[i] = 1;
        bat[i] = ab[i] > bb[i] ? ab[i] : bb[i];
    }
    batch = 1;
    for (int i = 0; i < nb; i++)
        batch *= bat[i];
    if (ra == 1) {
        as[0] = K;
        M = 1;
    } else {
        as[ra - 2] = M;
        as[ra - 1] = K;
    }
    if (rb == 1) {
        bs[0] = K;
        N = 1;
    } else {
        bs[rb - 2] = K;
        bs[rb - 1] = N;
    }
    a = rand_unit(numel_of(ra, as));
    b = rand_unit(numel_of(rb, bs));
    t.in[0] = (struct tin){.ndim = ra, .data = a, .is_const = rint_in(0, 3) == 0};
    memcpy(t.in[0].shape, as, sizeof(as));
    t.in[1] = (struct tin){.ndim = rb, .data = b, .is_const = rint_in(0, 1)};
    memcpy(t.in[1].shape, bs, sizeof(bs));
    rows = batch * M * N;
    want = malloc((size_t)rows * sizeof(double));
    mag = malloc((size_t)rows * sizeof(double));
    for (int64_t it = 0; it < batch; it++) {
        int64_t ao = 0, bo = 0, rem = it, astr = 1, bstr = 1;
        for (int i = nb - 1; i >= 0; i--) {
            int64_t idx_i = rem % bat[i];
            rem /= bat[i];
            ao += (ab[i] == 1 ? 0 : idx_i) * astr;
            bo += (bb[i] == 1 ? 0 : idx_i) * bstr;
            astr *= ab[i];
            bstr *= bb[i];
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0.0, m = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    double v = (double)a[(ao * M + i) * K + k] * b[(bo * K + k) * N + j];
                    s += v;
                    m += fabs(v);
                }
                want[(it * M + i) * N + j] = s;
                mag[(it * M + i) * N + j] = m;
            }
    }
    snprintf(what, sizeof(what), "MatMul #%d ranks %d,%d M%lld N%lld K%lld batch %lld", idx, ra, rb, (long long)M,
             (long long)N, (long long)K, (long long)batch);
    if (tn_build(&t, &g, &err) != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "matmul case prepares");
    } else {
        const struct qb_value *y = qb_node_out(g, &g->nodes[0], 0);
        int want_rank = nb + (ra > 1) + (rb > 1);
        check(y->ndim == want_rank && qb_value_numel(y) == rows, "MatMul output shape");
        run_and_compare(g, &t, pool2, NULL, want, mag, rows, what);
    }
    qb_graph_free(g);
    free(a);
    free(b);
    free(want);
    free(mag);
}

static void test_matmul_i64(void)
{
    static const int64_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, -12};
    static const int64_t want[4] = {1 * 7 + 2 * 9 + 3 * 11, 1 * 8 + 2 * 10 - 3 * 12, 4 * 7 + 5 * 9 + 6 * 11,
                                    4 * 8 + 5 * 10 - 6 * 12};
    struct tnode t = {.op = "MatMul", .opset = 13, .n_in = 2};
    struct qb_graph *g;
    struct qb_error err = {0};
    void *y[1] = {0};

    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .dt = QB_DTYPE_I64, .data = a, .is_const = true};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 2}, .dt = QB_DTYPE_I64, .data = b, .is_const = true};
    check(tn_build(&t, &g, &err) == QB_OK, "int64 MatMul prepares");
    check(g->nodes[0].folded, "int64 MatMul of constants folds");
    tn_run(g, &t, NULL, y);
    check(memcmp(y[0], want, sizeof(want)) == 0, "int64 MatMul values");
    free(y[0]);
    qb_graph_free(g);
}

/* Gemm ------------------------------------------------------------------------------------ */

static void test_gemm_case(struct qb_pool *pool2, int idx)
{
    struct tnode t = {.op = "Gemm", .opset = idx % 4 == 0 ? 6 : 13, .n_in = 3};
    int64_t M = rint_in(1, 50), N = rint_in(1, 70), K = rint_in(1, 300);
    int ta = rint_in(0, 1), tb = rint_in(0, 1), cform = rint_in(0, 5);
    float alpha = rint_in(0, 1) ? 1.0f : rfloat() * 2.0f, beta = rint_in(0, 2) == 0 ? 0.0f : rfloat() * 2.0f;
    float *a = rand_unit(M * K), *b = rand_unit(K * N), *c = NULL;
    int64_t cs[2] = {0, 0}, crs = 0, ccs = 0;
    int crank = 0;
    double *want = malloc((size_t)(M * N) * sizeof(double)), *mag = malloc((size_t)(M * N) * sizeof(double));
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[96];

    if (t.opset < 11 && cform == 5)
        cform = 4;
    switch (cform) { /* 0 scalar, 1 [N], 2 [M,1], 3 [1,N], 4 [M,N], 5 none */
    case 0: crank = 1; cs[0] = 1; break;
    case 1: crank = 1; cs[0] = N; ccs = 1; break;
    case 2: crank = 2; cs[0] = M; cs[1] = 1; crs = 1; break;
    case 3: crank = 2; cs[0] = 1; cs[1] = N; ccs = 1; break;
    case 4: crank = 2; cs[0] = M; cs[1] = N; crs = N; ccs = 1; break;
    default: break;
    }
    t.in[0] = (struct tin){.ndim = 2, .shape = {ta ? K : M, ta ? M : K}, .data = a, .is_const = rint_in(0, 2) == 0};
    t.in[1] = (struct tin){.ndim = 2, .shape = {tb ? N : K, tb ? K : N}, .data = b, .is_const = rint_in(0, 1)};
    if (cform == 5) {
        t.n_in = 2;
    } else {
        c = rand_unit(numel_of(crank, cs));
        t.in[2] = (struct tin){.ndim = crank, .data = c, .is_const = rint_in(0, 1)};
        memcpy(t.in[2].shape, cs, sizeof(cs));
    }
    if (ta || rint_in(0, 1))
        attr_int(&t, "transA", ta);
    if (tb)
        attr_int(&t, "transB", tb);
    attr_float(&t, "alpha", alpha);
    attr_float(&t, "beta", beta);
    if (t.opset < 7)
        attr_int(&t, "broadcast", cform != 4 ? 1 : rint_in(0, 1));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0, m = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double v = (double)alpha * a[ta ? k * M + i : i * K + k] * b[tb ? j * K + k : k * N + j];
                s += v;
                m += fabs(v);
            }
            if (c && beta != 0.0f) {
                double v = (double)beta * c[i * crs + j * ccs];
                s += v;
                m += fabs(v);
            }
            want[i * N + j] = s;
            mag[i * N + j] = m;
        }
    snprintf(what, sizeof(what), "Gemm #%d M%lld N%lld K%lld tA%d tB%d C%d opset %d", idx, (long long)M, (long long)N,
             (long long)K, ta, tb, cform, t.opset);
    if (tn_build(&t, &g, &err) != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "gemm case prepares");
    } else {
        run_and_compare(g, &t, pool2, NULL, want, mag, M * N, what);
    }
    qb_graph_free(g);
    free(a);
    free(b);
    free(c);
    free(want);
    free(mag);
}

static void test_refusals(void)
{
    static const float f[64];
    static const int32_t i32[64];
    struct tnode t;

    t = (struct tnode){.op = "MatMul", .opset = 13, .n_in = 2};
    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .dt = QB_DTYPE_I32, .data = i32, .is_const = true};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 2}, .dt = QB_DTYPE_I32, .data = i32, .is_const = true};
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "int32", "MatMul on int32 is refused");

    t = (struct tnode){.op = "MatMul", .opset = 13, .n_in = 2};
    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .data = f};
    t.in[1] = (struct tin){.ndim = 2, .shape = {4, 2}, .data = f, .is_const = true};
    expect_refusal(&t, QB_ERR_INVALID, "inner", "MatMul with mismatched inner dims is refused");

    t = (struct tnode){.op = "MatMul", .opset = 13, .n_in = 2};
    t.in[0] = (struct tin){.ndim = 3, .shape = {2, 2, 3}, .data = f};
    t.in[1] = (struct tin){.ndim = 3, .shape = {3, 3, 2}, .data = f, .is_const = true};
    expect_refusal(&t, QB_ERR_INVALID, "broadcast", "MatMul batch dims that do not broadcast are refused");

    t = (struct tnode){.op = "Gemm", .opset = 13, .n_in = 2};
    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .data = f};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 2}, .data = f, .is_const = true};
    attr_int(&t, "transA", 2);
    expect_refusal(&t, QB_ERR_INVALID, "transA", "Gemm transA=2 is refused");

    t = (struct tnode){.op = "Gemm", .opset = 13, .n_in = 3};
    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .data = f};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 4}, .data = f, .is_const = true};
    t.in[2] = (struct tin){.ndim = 1, .shape = {3}, .data = f, .is_const = true};
    expect_refusal(&t, QB_ERR_INVALID, "broadcast", "Gemm C that does not broadcast is refused");

    t = (struct tnode){.op = "Gemm", .opset = 9, .n_in = 2};
    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .data = f};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 4}, .data = f, .is_const = true};
    expect_refusal(&t, QB_ERR_INVALID, "required", "Gemm without C before opset 11 is refused");

    t = (struct tnode){.op = "Gemm", .opset = 6, .n_in = 3};
    t.in[0] = (struct tin){.ndim = 2, .shape = {2, 3}, .data = f};
    t.in[1] = (struct tin){.ndim = 2, .shape = {3, 4}, .data = f, .is_const = true};
    t.in[2] = (struct tin){.ndim = 1, .shape = {4}, .data = f, .is_const = true};
    expect_refusal(&t, QB_ERR_INVALID, "broadcast=0", "Gemm-6 C of another shape without broadcast is refused");
}

int main(void)
{
    struct qb_pool *pool2;

    lcg_state = 0x243F6A8885A308D3ull;
    pool2 = qb_pool_new(2);
    assert(pool2);
    for (int i = 0; i < 60; i++)
        test_sgemm_case(pool2, i);
    for (int i = 0; i < 40; i++)
        test_rows_case(pool2, i);
    for (int i = 0; i < 80; i++)
        test_matmul_case(pool2, i);
    test_matmul_i64();
    for (int i = 0; i < 60; i++)
        test_gemm_case(pool2, i);
    test_refusals();
    qb_pool_free(pool2);
    printf("test_ops_gemm: %d checks, %d failed (kernel %s)\n", n_pass + n_fail, n_fail, qb_sgemm_isa());
    return n_fail ? 1 : 0;
}
