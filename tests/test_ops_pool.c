/* MaxPool (with Indices), AveragePool, GlobalAveragePool and GlobalMaxPool
 * against plain reference loops written here, on random shapes with a fixed
 * seed: 1-D to 3-D, strides, dilations, pads, ceil_mode, count_include_pad, and
 * planes too large for the padded on-stack path. Every run goes through
 * qb_graph_prepare() and the op's run with guard regions around the outputs,
 * with no pool and with a 2-thread pool, and with the portable kernels. Refusals
 * of the geometry onnx and onnxruntime disagree on are checked too. */
#include "testutil_graph.h"

/* Pools ------------------------------------------------------------------------------ */

struct pgeo {
    int nsp, kind; /* 0 max, 1 average */
    int include_pad;
    int64_t N, C, in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
};

static void pool_ref(const struct pgeo *p, const float *x, double *y, int64_t *idx)
{
    int64_t on = p->out[0] * p->out[1] * p->out[2], inn = p->in[0] * p->in[1] * p->in[2];
    for (int64_t pl = 0; pl < p->N * p->C; pl++)
        for (int64_t o = 0; o < on; o++) {
            int64_t oz = o / (p->out[1] * p->out[2]), oy = o / p->out[2] % p->out[1], ox = o % p->out[2];
            double acc = p->kind ? 0.0 : -INFINITY;
            int64_t cnt = 0, at = -1;
            for (int64_t kz = 0; kz < p->k[0]; kz++)
                for (int64_t ky = 0; ky < p->k[1]; ky++)
                    for (int64_t kx = 0; kx < p->k[2]; kx++) {
                        int64_t iz = oz * p->s[0] - p->pb[0] + kz * p->d[0];
                        int64_t iy = oy * p->s[1] - p->pb[1] + ky * p->d[1];
                        int64_t ix = ox * p->s[2] - p->pb[2] + kx * p->d[2];
                        int inside = iz >= 0 && iz < p->in[0] && iy >= 0 && iy < p->in[1] && ix >= 0 && ix < p->in[2];
                        int padded = iz >= -p->pb[0] && iz < p->in[0] + p->pe[0] && iy >= -p->pb[1] &&
                                     iy < p->in[1] + p->pe[1] && ix >= -p->pb[2] && ix < p->in[2] + p->pe[2];
                        if (p->include_pad ? padded : inside)
                            cnt++;
                        if (!inside)
                            continue;
                        int64_t e = (iz * p->in[1] + iy) * p->in[2] + ix;
                        double v = x[pl * inn + e];
                        if (p->kind)
                            acc += v;
                        else if (v > acc || at < 0) {
                            acc = v;
                            at = pl * inn + e;
                        }
                    }
            y[pl * on + o] = p->kind ? acc / (double)cnt : acc;
            if (idx)
                idx[pl * on + o] = at;
        }
}

static void test_pool_case(struct qb_pool *pool2, int idx)
{
    struct pgeo p = {0};
    struct tnode t = {.opset = 19, .n_in = 1, .n_out = 1};
    int64_t ks[3], ss[3], ds[3], pads[6], xs[5];
    int ceil_mode = rint_in(0, 2) == 0, with_idx, off;
    float *x;
    double *want;
    int64_t *want_idx = NULL;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[96];
    enum qb_status st;

    p.kind = rint_in(0, 1);
    p.include_pad = p.kind && rint_in(0, 1);
    with_idx = !p.kind && rint_in(0, 2) == 0;
    p.nsp = rint_in(0, 4) == 0 ? (rint_in(0, 1) ? 1 : 3) : 2;
    off = 3 - p.nsp;
    p.N = rint_in(1, 2);
    p.C = rint_in(1, 5);
    for (int i = 0; i < 3; i++) {
        p.in[i] = p.k[i] = p.s[i] = p.d[i] = p.out[i] = 1;
        p.pb[i] = p.pe[i] = 0;
    }
    for (int i = off; i < 3; i++) {
        int64_t dk, span;
        p.k[i] = rint_in(1, 5);
        p.s[i] = rint_in(1, 3);
        p.d[i] = rint_in(0, 3) ? 1 : 2;
        p.pb[i] = rint_in(0, (int)p.k[i] - 1);
        p.pe[i] = rint_in(0, (int)p.k[i] - 1);
        if (p.d[i] > 1)
            p.pb[i] = p.pe[i] = 0;
        dk = (p.k[i] - 1) * p.d[i] + 1;
        p.in[i] = dk + rint_in(0, p.nsp == 3 ? 5 : 17);
        if (idx % 10 == 9 && p.nsp == 2) /* planes too large for the padded on-stack path */
            p.in[i] = rint_in(130, 150);
        span = p.in[i] + p.pb[i] + p.pe[i] - dk;
        p.out[i] = span / p.s[i] + 1;
        if (ceil_mode && span % p.s[i])
            p.out[i]++;
    }
    for (int i = 0; i < p.nsp; i++) {
        ks[i] = p.k[off + i];
        ss[i] = p.s[off + i];
        ds[i] = p.d[off + i];
        pads[i] = p.pb[off + i];
        pads[p.nsp + i] = p.pe[off + i];
    }
    xs[0] = p.N;
    xs[1] = p.C;
    for (int i = 0; i < p.nsp; i++)
        xs[2 + i] = p.in[off + i];
    x = rand_unit(numel_of(2 + p.nsp, xs));
    t.op = p.kind ? "AveragePool" : "MaxPool";
    t.n_out = with_idx ? 2 : 1;
    t.in[0] = (struct tin){.ndim = 2 + p.nsp, .data = x};
    memcpy(t.in[0].shape, xs, sizeof(xs));
    attr_ints(&t, "kernel_shape", p.nsp, ks);
    attr_ints(&t, "strides", p.nsp, ss);
    attr_ints(&t, "dilations", p.nsp, ds);
    attr_ints(&t, "pads", 2 * p.nsp, pads);
    attr_int(&t, "ceil_mode", ceil_mode);
    if (p.kind)
        attr_int(&t, "count_include_pad", p.include_pad);
    snprintf(what, sizeof(what), "%s #%d %dD%s%s", t.op, idx, p.nsp, ceil_mode ? " ceil" : "",
             p.include_pad ? " include_pad" : "");
    st = tn_build(&t, &g, &err);
    if (st == QB_ERR_UNSUPPORTED && ceil_mode) {
        /* only the ambiguous ceil_mode windows may be refused */
        check(strstr(err.msg, "ceil_mode") != NULL, "only ambiguous ceil_mode windows are refused");
    } else if (st != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "pool case prepares");
    } else {
        int64_t n = p.N * p.C * p.out[0] * p.out[1] * p.out[2];
        void *a[2] = {0}, *b[2] = {0};
        want = malloc((size_t)n * sizeof(double));
        if (with_idx)
            want_idx = malloc((size_t)n * sizeof(int64_t));
        pool_ref(&p, x, want, want_idx);
        tn_run(g, &t, NULL, a);
        qb_sgemm_force_generic(idx % 2 == 1);
        tn_run(g, &t, pool2, b);
        qb_sgemm_force_generic(false);
        check(close_mag(a[0], want, NULL, n, what), what);
        check(close_mag(b[0], want, NULL, n, what), "pool with 2 threads (and the portable kernel)");
        if (with_idx)
            check(memcmp(a[1], want_idx, (size_t)n * sizeof(int64_t)) == 0 &&
                      memcmp(b[1], want_idx, (size_t)n * sizeof(int64_t)) == 0,
                  "MaxPool indices");
        if (idx % 2 == 0)
            check(memcmp(a[0], b[0], (size_t)n * sizeof(float)) == 0, "pool: 2 threads give the same result");
        free(want);
        free(want_idx);
        for (int k = 0; k < 2; k++) {
            free(a[k]);
            free(b[k]);
        }
    }
    qb_graph_free(g);
    free(x);
}

static void test_global_pools(struct qb_pool *pool2)
{
    for (int it = 0; it < 4; it++) {
        int64_t xs[4] = {rint_in(1, 2), rint_in(1, 9), rint_in(1, 30), rint_in(1, 30)};
        int64_t planes = xs[0] * xs[1], plane = xs[2] * xs[3];
        float *x = rand_unit(planes * plane);
        double *want = malloc((size_t)planes * sizeof(double));
        struct tnode t = {.op = it % 2 ? "GlobalMaxPool" : "GlobalAveragePool", .opset = 13, .n_in = 1, .n_out = 1};
        struct qb_graph *g;
        struct qb_error err = {0};

        t.in[0] = (struct tin){.ndim = 4, .data = x};
        memcpy(t.in[0].shape, xs, sizeof(xs));
        for (int64_t pl = 0; pl < planes; pl++) {
            double s = 0.0, m = -INFINITY;
            for (int64_t i = 0; i < plane; i++) {
                s += x[pl * plane + i];
                m = x[pl * plane + i] > m ? x[pl * plane + i] : m;
            }
            want[pl] = it % 2 ? m : s / (double)plane;
        }
        check(tn_build(&t, &g, &err) == QB_OK, "global pool prepares");
        check(g->values[g->nodes[0].out[0]].shape[2] == 1 && g->values[g->nodes[0].out[0]].shape[3] == 1,
              "global pool output is [N, C, 1, 1]");
        run_and_compare(g, &t, pool2, pool2, want, NULL, planes, t.op);
        qb_graph_free(g);
        free(x);
        free(want);
    }
}

/* Refusals ------------------------------------------------------------------------------ */

static void test_pool_refusals(void)
{
    static const float data[64] = {0};
    struct tin x4 = {.ndim = 4, .shape = {1, 2, 5, 5}, .data = data};
    struct tnode t;

    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 2, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_int(&t, "storage_order", 1);
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "storage_order", "MaxPool column-major Indices are refused");

    /* 5 wide, kernel 2, stride 2, pad 1 each side, ceil: the last window starts in the pad */
    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 1, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "strides", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    attr_int(&t, "ceil_mode", 1);
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "ceil_mode", "MaxPool ambiguous ceil_mode window is refused");

    t = (struct tnode){.op = "AveragePool", .opset = 12, .n_in = 1, .n_out = 1, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "pads", 4, (const int64_t[]){2, 0, 0, 0});
    expect_refusal(&t, QB_ERR_INVALID, "pads", "AveragePool with pads as large as the kernel is refused");

    /* the first window's taps (-1, 2) both miss the 2-wide input */
    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 1,
                       .in = {{.ndim = 3, .shape = {1, 1, 2}, .data = data}}};
    attr_ints(&t, "kernel_shape", 1, (const int64_t[]){2});
    attr_ints(&t, "dilations", 1, (const int64_t[]){3});
    attr_ints(&t, "pads", 2, (const int64_t[]){1, 1});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "covers no input", "MaxPool window with no input element is refused");

    /* a 2^40 plane: refused at once, not after a loop over its windows (fuzzer finding) */
    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 1,
                       .in = {{.ndim = 3, .shape = {1, 1, (int64_t)1 << 40}, .data = data}}};
    attr_ints(&t, "kernel_shape", 1, (const int64_t[]){1});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "plane too large", "MaxPool on a 2^40 plane is refused");

    /* 2^22 windows per dim, all non-empty: the output plane would overflow int64 */
    t = (struct tnode){.op = "AveragePool", .opset = 12, .n_in = 1, .n_out = 1,
                       .in = {{.ndim = 5, .shape = {1, 1, 1, 1, 1}, .data = data}}};
    attr_ints(&t, "kernel_shape", 3, (const int64_t[]){1 << 22, 1 << 22, 1 << 22});
    attr_ints(&t, "pads", 6, (const int64_t[]){(1 << 22) - 1, (1 << 22) - 1, (1 << 22) - 1, (1 << 22) - 1,
                                               (1 << 22) - 1, (1 << 22) - 1});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "plane too large", "AveragePool with a 2^66 output plane is refused");

    /* 6 strides for 2 spatial dims: refused, not read past a 3-slot array (ASan finding) */
    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 1, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "strides", 6, (const int64_t[]){1, 1, 1, 1, 1, 1});
    expect_refusal(&t, QB_ERR_INVALID, "expected 2", "MaxPool with 6 strides is refused");
    t = (struct tnode){.op = "MaxPool", .opset = 12, .n_in = 1, .n_out = 1, .in = {x4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){2, 2});
    attr_ints(&t, "dilations", 6, (const int64_t[]){1, 1, 1, 1, 1, 1});
    expect_refusal(&t, QB_ERR_INVALID, "expected 2", "MaxPool with 6 dilations is refused");
}

int main(void)
{
    struct qb_pool *pool2 = qb_pool_new(2);

    assert(pool2);
    for (int i = 0; i < 150; i++)
        test_pool_case(pool2, i);
    test_global_pools(pool2);
    test_pool_refusals();
    qb_pool_free(pool2);
    printf("test_ops_pool: %d checks, %d failed (kernel %s)\n", n_pass + n_fail, n_fail, qb_sgemm_isa());
    return n_fail ? 1 : 0;
}
