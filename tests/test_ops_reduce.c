/* Reductions and scans against plain reference code: Softmax/LogSoftmax/Hardmax
 * (opset 11's 2-D coercion and opset 13's single axis), the Reduce* family
 * (axes as attribute or input, keepdims, noop_with_empty_axes), ArgMax/ArgMin,
 * CumSum and TopK. Random inputs from a fixed seed, tensors big enough to go
 * through the threads, and refusals. The harness is tests/testutil_graph.h.
 */
#include "testutil_graph.h"


/* softmax over groups: element i belongs to group (i / (R*I), i % I), strided by I */
static void ref_softmax(const float *x, double *y, int64_t O, int64_t R, int64_t I, int kind)
{
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            double m = -INFINITY, s = 0;
            int64_t best = 0;
            for (int64_t r = 0; r < R; r++) {
                double v = x[(o * R + r) * I + i];
                if (v > m) {
                    m = v;
                    best = r;
                }
            }
            for (int64_t r = 0; r < R; r++)
                s += exp(x[(o * R + r) * I + i] - m);
            for (int64_t r = 0; r < R; r++) {
                double v = x[(o * R + r) * I + i];
                y[(o * R + r) * I + i] = kind == 0 ? exp(v - m) / s : kind == 1 ? v - m - log(s) : (r == best);
            }
        }
}

static void test_softmax(void)
{
    int64_t s[3] = {2, 3, 4}, big[4] = {2, 16, 4, 1000};
    float *x = rand_buf(24, -5, 5), *bx = rand_buf(128000, -8, 8);
    double want[24], *bw = malloc(sizeof(double) * 128000);
    struct tcase tc;
    struct qb_attr a1[1] = {attr_i("axis", 1)}, am1[1] = {attr_i("axis", -1)};
    struct tin in[1] = {fin(3, s, x)};

    /* opset 11: axis=1 means rows of prod(dims[1:]) = 12 */
    ref_softmax(x, want, 2, 12, 1, 0);
    if (build_run(&tc, 11, "Softmax", 1, in, 1, a1, 1, 3, s))
        expect_f32("Softmax opset 11 axis=1 (2-D coercion)", tc.buf[0], want, 24, 1e-6, 1e-7);
    done(&tc);
    /* opset 13: axis=1 alone, strided */
    ref_softmax(x, want, 2, 3, 4, 0);
    if (build_run(&tc, 13, "Softmax", 1, in, 1, a1, 1, 3, s))
        expect_f32("Softmax opset 13 axis=1", tc.buf[0], want, 24, 1e-6, 1e-7);
    done(&tc);
    ref_softmax(x, want, 6, 4, 1, 0);
    if (build_run(&tc, 13, "Softmax", 1, in, 1, NULL, 0, 3, s))
        expect_f32("Softmax opset 13 default axis -1", tc.buf[0], want, 24, 1e-6, 1e-7);
    done(&tc);
    ref_softmax(x, want, 6, 4, 1, 1);
    if (build_run(&tc, 13, "LogSoftmax", 1, in, 1, am1, 1, 3, s))
        expect_f32("LogSoftmax axis -1", tc.buf[0], want, 24, 1e-6, 1e-6);
    done(&tc);
    ref_softmax(x, want, 2, 3, 4, 2);
    if (build_run(&tc, 13, "Hardmax", 1, in, 1, a1, 1, 3, s))
        expect_f32("Hardmax axis 1", tc.buf[0], want, 24, 0, 0);
    done(&tc);
    {
        float l[4] = {1000, 1001, 1002, 1003};
        int64_t s4[2] = {1, 4};
        struct tin lin[1] = {fin(2, s4, l)};
        ref_softmax(l, want, 1, 4, 1, 0);
        if (build_run(&tc, 13, "Softmax", 1, lin, 1, NULL, 0, 2, s4))
            expect_f32("Softmax large numbers", tc.buf[0], want, 4, 1e-6, 1e-7);
        done(&tc);
    }
    {
        /* DFL-like: softmax over 16 bins of [2,16,4,1000] */
        struct tin bin[1] = {fin(4, big, bx)};
        ref_softmax(bx, bw, 2, 16, 4000, 0);
        if (build_run(&tc, 13, "Softmax", 1, bin, 1, a1, 1, 4, big))
            expect_f32("Softmax [2,16,4,1000] axis 1 (threads)", tc.buf[0], bw, 128000, 2e-6, 1e-7);
        done(&tc);
        ref_softmax(bx, bw, 128, 1000, 1, 0);
        if (build_run(&tc, 13, "Softmax", 1, bin, 1, am1, 1, 4, big))
            expect_f32("Softmax rows of 1000 (threads)", tc.buf[0], bw, 128000, 2e-6, 1e-8);
        done(&tc);
    }
    free(x);
    free(bx);
    free(bw);
}

enum rop { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LSE, R_SUMSQ, R_LOGSUM };

static void ref_reduce(const float *x, int nd, const int64_t *shape, const bool *red, enum rop op, double *y)
{
    int64_t n = numel_of(nd, shape), on = 1, oshape[QB_MAX_DIMS];
    for (int d = 0; d < nd; d++)
        on *= (oshape[d] = red[d] ? 1 : shape[d]);
    for (int64_t j = 0; j < on; j++) {
        double acc = op == R_MAX ? -INFINITY : op == R_MIN ? INFINITY : op == R_PROD ? 1 : 0, m = -INFINITY;
        int64_t cnt = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t i = 0; i < n; i++) {
                int64_t rem = i, oj = 0, st = 1;
                for (int d = nd - 1; d >= 0; d--) {
                    int64_t k = rem % shape[d];
                    rem /= shape[d];
                    if (!red[d])
                        oj += k * st;
                    st *= oshape[d];
                }
                if (oj != j)
                    continue;
                double v = x[i];
                if (pass == 0) {
                    m = v > m ? v : m;
                    continue;
                }
                cnt++;
                switch (op) {
                case R_MAX: acc = v > acc ? v : acc; break;
                case R_MIN: acc = v < acc ? v : acc; break;
                case R_PROD: acc *= v; break;
                case R_L1: acc += fabs(v); break;
                case R_L2:
                case R_SUMSQ: acc += v * v; break;
                case R_LSE: acc += exp(v - m); break;
                default: acc += v;
                }
            }
        y[j] = op == R_MEAN ? acc / (double)cnt : op == R_L2 ? sqrt(acc) : op == R_LSE ? log(acc) + m
             : op == R_LOGSUM ? log(acc) : acc;
    }
}

static void test_reduce(void)
{
    int64_t s[3] = {3, 4, 5};
    float *x = rand_buf(60, 0.5f, 2);
    static const struct {
        const char *op;
        enum rop r;
        int opset;
        bool axes_input, keep;
        int na;
        int64_t axes[3];
    } cases[] = {
        {"ReduceMean", R_MEAN, 13, false, true, 1, {1}},     {"ReduceMean", R_MEAN, 18, true, false, 1, {-1}},
        {"ReduceSum", R_SUM, 11, false, true, 2, {0, 2}},    {"ReduceSum", R_SUM, 13, true, false, 2, {0, 2}},
        {"ReduceMax", R_MAX, 18, true, true, 1, {-1}},       {"ReduceMin", R_MIN, 13, false, false, 2, {1, 2}},
        {"ReduceProd", R_PROD, 13, false, true, 1, {1}},     {"ReduceL1", R_L1, 13, false, true, 1, {0}},
        {"ReduceL2", R_L2, 13, false, false, 0, {0}},        {"ReduceLogSumExp", R_LSE, 13, false, true, 2, {0, 2}},
        {"ReduceLogSumExp", R_LSE, 18, true, false, 1, {1}}, {"ReduceSumSquare", R_SUMSQ, 18, true, true, 3, {0, 1, 2}},
        {"ReduceLogSum", R_LOGSUM, 13, false, true, 1, {2}},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        bool red[3] = {cases[c].na == 0, cases[c].na == 0, cases[c].na == 0};
        int64_t out[3];
        int nd = 0;
        double want[60];
        struct qb_attr at[2];
        struct tin in[2] = {fin(3, s, x), i64s(cases[c].na, cases[c].axes)};
        struct tcase tc;
        char what[80];
        int na = 0;
        for (int i = 0; i < cases[c].na; i++)
            red[cases[c].axes[i] < 0 ? cases[c].axes[i] + 3 : cases[c].axes[i]] = true;
        for (int d = 0; d < 3; d++)
            if (!red[d] || cases[c].keep)
                out[nd++] = red[d] ? 1 : s[d];
        ref_reduce(x, 3, s, red, cases[c].r, want);
        at[na++] = attr_i("keepdims", cases[c].keep);
        if (!cases[c].axes_input && cases[c].na)
            at[na++] = attr_is("axes", cases[c].na, (int64_t *)cases[c].axes);
        snprintf(what, sizeof(what), "%s opset %d #%zu", cases[c].op, cases[c].opset, c);
        if (build_run(&tc, cases[c].opset, cases[c].op, cases[c].axes_input ? 2 : 1, in, 1, at, na, nd, out))
            expect_f32(what, tc.buf[0], want, numel_of(nd, out), 2e-6, 1e-6);
        done(&tc);
    }
    {
        /* empty axes with noop_with_empty_axes: identity; without it: all axes */
        struct qb_attr at[1] = {attr_i("noop_with_empty_axes", 1)};
        struct tin in[2] = {fin(3, s, x), i64s(0, NULL)};
        struct tcase tc;
        double want[60];
        int64_t one[3] = {1, 1, 1};
        bool all[3] = {true, true, true};
        for (int i = 0; i < 60; i++)
            want[i] = x[i];
        if (build_run(&tc, 13, "ReduceSum", 2, in, 1, at, 1, 3, s))
            expect_f32("ReduceSum noop_with_empty_axes", tc.buf[0], want, 60, 0, 0);
        done(&tc);
        ref_reduce(x, 3, s, all, R_SUM, want);
        if (build_run(&tc, 13, "ReduceSum", 2, in, 1, NULL, 0, 3, one))
            expect_f32("ReduceSum empty axes reduce all", tc.buf[0], want, 1, 1e-6, 0);
        done(&tc);
    }
    {
        int64_t v[6] = {3, -9, 4, 4, 7, 1}, s2[2] = {2, 3}, w[2] = {-9, 1}, two[1] = {2};
        struct tin in[1] = {cin(QB_DTYPE_I64, 2, s2, v)};
        int64_t ax[1] = {1};
        struct qb_attr at[2] = {attr_is("axes", 1, ax), attr_i("keepdims", 0)};
        struct tcase tc;
        if (build_run(&tc, 13, "ReduceMin", 1, in, 1, at, 2, 1, two))
            expect_bytes("ReduceMin int64", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    free(x);
}

static void test_argmax_cumsum_topk(void)
{
    float x[12] = {1, 5, 5, 2, 7, 0, 7, 3, -1, -1, 4, 4};
    int64_t s[2] = {3, 4}, o0[1] = {3}, o1[2] = {1, 4};
    struct tcase tc;
    {
        struct qb_attr at[2] = {attr_i("axis", 1), attr_i("keepdims", 0)};
        struct tin in[1] = {fin(2, s, x)};
        int64_t w[3] = {1, 0, 2};
        if (build_run(&tc, 13, "ArgMax", 1, in, 1, at, 2, 1, o0))
            expect_bytes("ArgMax axis 1 first of ties", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    {
        struct qb_attr at[3] = {attr_i("axis", -1), attr_i("keepdims", 0), attr_i("select_last_index", 1)};
        struct tin in[1] = {fin(2, s, x)};
        int64_t w[3] = {2, 2, 3}, wmin[3] = {0, 1, 1};
        if (build_run(&tc, 13, "ArgMax", 1, in, 1, at, 3, 1, o0))
            expect_bytes("ArgMax select_last_index", tc.buf[0], w, sizeof(w));
        done(&tc);
        if (build_run(&tc, 13, "ArgMin", 1, in, 1, at, 3, 1, o0))
            expect_bytes("ArgMin select_last_index", tc.buf[0], wmin, sizeof(wmin));
        done(&tc);
    }
    {
        struct qb_attr at[1] = {attr_i("axis", 0)};
        struct tin in[1] = {fin(2, s, x)};
        int64_t w[4] = {1, 0, 1, 2};
        if (build_run(&tc, 13, "ArgMax", 1, in, 1, at, 1, 2, o1))
            expect_bytes("ArgMax axis 0 keepdims", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    {
        int64_t ax[1] = {1};
        struct qb_attr at[2] = {attr_i("exclusive", 1), attr_i("reverse", 1)};
        struct tin in[2] = {fin(2, s, x), cin(QB_DTYPE_I64, 0, NULL, ax)};
        double w[12];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) {
                double acc = 0;
                for (int k = c + 1; k < 4; k++)
                    acc += x[r * 4 + k];
                w[r * 4 + c] = acc;
            }
        if (build_run(&tc, 14, "CumSum", 2, in, 1, at, 2, 2, s))
            expect_f32("CumSum exclusive reverse", tc.buf[0], w, 12, 1e-6, 0);
        done(&tc);
    }
    {
        int64_t k[1] = {2}, out[2] = {3, 2};
        struct tin in[2] = {fin(2, s, x), i64s(1, k)};
        double wv[6] = {5, 5, 7, 7, 4, 4};
        int64_t wi[6] = {1, 2, 0, 2, 2, 3};
        if (build_run(&tc, 11, "TopK", 2, in, 2, NULL, 0, 2, out)) {
            expect_f32("TopK values", tc.buf[0], wv, 6, 0, 0);
            expect_bytes("TopK indices (ties by index)", tc.buf[1], wi, sizeof(wi));
        }
        done(&tc);
    }
}

/* refusals ---------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    int64_t s[2] = {2, 3};
    int32_t xi[6] = {0};
    struct tin in[1] = {cin(QB_DTYPE_I32, 2, s, xi)};
    struct tcase tc;
    build(&tc, 13, "Softmax", 1, in, 1, NULL, 0);
    expect_refused("Softmax on int32", &tc);
    build(&tc, 13, "ReduceL2", 1, in, 1, NULL, 0);
    expect_refused("ReduceL2 on int32", &tc);
}

int main(void)
{
    pool = qb_pool_new(2);
    assert(pool);
    test_softmax();
    test_reduce();
    test_argmax_cumsum_topk();
    test_refusals();
    qb_pool_free(pool);
    return test_summary("test_ops_reduce");
}
