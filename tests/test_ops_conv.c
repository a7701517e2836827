/* Conv, ConvTranspose and BatchNormalization against plain reference loops
 * (double accumulation) written here, on random shapes with a fixed seed: odd
 * sizes, groups, depthwise, strides, dilations, pads, auto_pad. Every run goes
 * through qb_graph_prepare() and the op's prepare/run with guard regions around
 * the output, with no pool and with a 2-thread pool (results must be bitwise
 * identical), and with the portable GEMM kernel. Refusals of what run() does not
 * implement are checked too. The pools are in test_ops_pool.c.
 *
 *   test_ops_conv            the tests
 *   test_ops_conv --bench [THREADS [FILTER]]
 *                            GFLOP/s of YOLO11n's convolution shapes at 640
 *   test_ops_conv --bench-model MODEL [THREADS [-v]]
 *                            time of every node of a model that these ops run
 */
#include <time.h>

#include "core/onnx.h"
#include "testutil_graph.h"

/* Convolution geometry ----------------------------------------------------------- */

struct geo {
    int nsp;
    int64_t N, C, M, group;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3], opad[3];
};

static void conv_ref(const struct geo *c, const float *x, const float *w, const float *b, double *y, double *mag)
{
    int64_t cg = c->C / c->group, mg = c->M / c->group;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++) {
            int64_t g = m / mg;
            for (int64_t oz = 0; oz < c->out[0]; oz++)
                for (int64_t oy = 0; oy < c->out[1]; oy++)
                    for (int64_t ox = 0; ox < c->out[2]; ox++) {
                        double s = b ? b[m] : 0.0, a = b ? fabs(b[m]) : 0.0;
                        for (int64_t ci = 0; ci < cg; ci++)
                            for (int64_t kz = 0; kz < c->k[0]; kz++)
                                for (int64_t ky = 0; ky < c->k[1]; ky++)
                                    for (int64_t kx = 0; kx < c->k[2]; kx++) {
                                        int64_t iz = oz * c->s[0] - c->pb[0] + kz * c->d[0];
                                        int64_t iy = oy * c->s[1] - c->pb[1] + ky * c->d[1];
                                        int64_t ix = ox * c->s[2] - c->pb[2] + kx * c->d[2];
                                        double t;
                                        if (iz < 0 || iz >= c->in[0] || iy < 0 || iy >= c->in[1] || ix < 0 ||
                                            ix >= c->in[2])
                                            continue;
                                        t = (double)x[(((n * c->C + g * cg + ci) * c->in[0] + iz) * c->in[1] + iy) *
                                                          c->in[2] +
                                                      ix] *
                                            w[(((m * cg + ci) * c->k[0] + kz) * c->k[1] + ky) * c->k[2] + kx];
                                        s += t;
                                        a += fabs(t);
                                    }
                        int64_t o = (((n * c->M + m) * c->out[0] + oz) * c->out[1] + oy) * c->out[2] + ox;
                        y[o] = s;
                        mag[o] = a;
                    }
        }
}

/* ConvTranspose by its definition: every input pixel scatters its kernel. */
static void convt_ref(const struct geo *c, const float *x, const float *w, const float *b, double *y, double *mag)
{
    int64_t cg = c->C / c->group, mg = c->M / c->group, on = c->out[0] * c->out[1] * c->out[2];
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t i = 0; i < on; i++) {
                y[(n * c->M + m) * on + i] = b ? b[m] : 0.0;
                mag[(n * c->M + m) * on + i] = b ? fabs(b[m]) : 0.0;
            }
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t ci = 0; ci < c->C; ci++) {
            int64_t g = ci / cg;
            for (int64_t iz = 0; iz < c->in[0]; iz++)
                for (int64_t iy = 0; iy < c->in[1]; iy++)
                    for (int64_t ix = 0; ix < c->in[2]; ix++) {
                        double xv = x[(((n * c->C + ci) * c->in[0] + iz) * c->in[1] + iy) * c->in[2] + ix];
                        for (int64_t mi = 0; mi < mg; mi++)
                            for (int64_t kz = 0; kz < c->k[0]; kz++)
                                for (int64_t ky = 0; ky < c->k[1]; ky++)
                                    for (int64_t kx = 0; kx < c->k[2]; kx++) {
                                        int64_t oz = iz * c->s[0] - c->pb[0] + kz * c->d[0];
                                        int64_t oy = iy * c->s[1] - c->pb[1] + ky * c->d[1];
                                        int64_t ox = ix * c->s[2] - c->pb[2] + kx * c->d[2];
                                        int64_t m = g * mg + mi, o;
                                        double t;
                                        if (oz < 0 || oz >= c->out[0] || oy < 0 || oy >= c->out[1] || ox < 0 ||
                                            ox >= c->out[2])
                                            continue;
                                        t = xv * w[(((ci * mg + mi) * c->k[0] + kz) * c->k[1] + ky) * c->k[2] + kx];
                                        o = (((n * c->M + m) * c->out[0] + oz) * c->out[1] + oy) * c->out[2] + ox;
                                        y[o] += t;
                                        mag[o] += fabs(t);
                                    }
                    }
        }
}

static void geo_shape(const struct geo *c, int64_t ch, const int64_t *sp, int64_t *shape)
{
    shape[0] = c->N;
    shape[1] = ch;
    for (int i = 0; i < c->nsp; i++)
        shape[2 + i] = sp[3 - c->nsp + i];
}

/* A random convolution; auto_pad: 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID. */
static void test_conv_case(struct qb_pool *pool2, int idx)
{
    static const char *const ap_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    struct geo c = {0};
    struct tnode t = {.op = "Conv", .opset = idx % 2 ? 11 : 1, .n_out = 1};
    int ap = rint_in(0, 5) > 3 ? rint_in(1, 3) : 0, kind = rint_in(0, 9), off;
    int64_t ks[3], ss[3], ds[3], pads[6], xs[5], ws[5], ys[5];
    float *x, *w, *b = NULL;
    double *want, *mag;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[160];
    int64_t cg, mg;

    c.nsp = rint_in(0, 5) == 0 ? (rint_in(0, 1) ? 1 : 3) : 2;
    off = 3 - c.nsp;
    c.N = rint_in(1, 2);
    c.group = kind < 2 ? rint_in(2, 3) : 1;
    cg = rint_in(1, 9);
    mg = rint_in(1, 20);
    if (kind == 2 || kind == 3) { /* depthwise */
        c.group = rint_in(1, 12);
        cg = mg = 1;
    }
    if (kind == 4) /* many output channels, several row panels */
        mg = rint_in(20, 70);
    if (kind == 8) /* deep: several K blocks */
        cg = rint_in(45, 90);
    c.C = cg * c.group;
    c.M = mg * c.group;
    for (int i = 0; i < 3; i++) {
        c.in[i] = c.k[i] = c.s[i] = c.d[i] = c.out[i] = 1;
        c.pb[i] = c.pe[i] = 0;
    }
    for (int i = off; i < 3; i++) {
        c.in[i] = rint_in(1, c.nsp == 3 ? 7 : 23);
        c.k[i] = rint_in(1, c.nsp == 3 ? 3 : 5);
        c.s[i] = rint_in(1, 3);
        c.d[i] = rint_in(0, 3) ? 1 : 2;
        if (kind == 5) { /* pointwise */
            c.k[i] = c.s[i] = 1;
        }
        if (kind == 6 || kind == 7)
            c.s[i] = 2;
        if (kind == 7 && i == 2) /* wide rows: whole 16-column panels at stride 2 */
            c.in[i] = rint_in(33, 90);
        if (kind == 8)
            c.k[i] = 3;
        c.pb[i] = rint_in(0, 2);
        c.pe[i] = rint_in(0, 2);
        if (kind == 5)
            c.pb[i] = c.pe[i] = 0;
        int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
        if (ap == 1 || ap == 2) {
            int64_t o = (c.in[i] + c.s[i] - 1) / c.s[i], tot = (o - 1) * c.s[i] + dk - c.in[i];
            tot = tot < 0 ? 0 : tot;
            c.pb[i] = ap == 1 ? tot / 2 : tot - tot / 2;
            c.pe[i] = tot - c.pb[i];
        } else if (ap == 3) {
            c.pb[i] = c.pe[i] = 0;
        }
        while (c.in[i] + c.pb[i] + c.pe[i] < dk)
            c.in[i]++;
        c.out[i] = (c.in[i] + c.pb[i] + c.pe[i] - dk) / c.s[i] + 1;
    }
    for (int i = 0; i < c.nsp; i++) {
        ks[i] = c.k[off + i];
        ss[i] = c.s[off + i];
        ds[i] = c.d[off + i];
        pads[i] = c.pb[off + i];
        pads[c.nsp + i] = c.pe[off + i];
    }
    geo_shape(&c, c.C, c.in, xs);
    ws[0] = c.M;
    ws[1] = cg;
    for (int i = 0; i < c.nsp; i++)
        ws[2 + i] = ks[i];
    geo_shape(&c, c.M, c.out, ys);
    x = rand_unit(numel_of(2 + c.nsp, xs));
    w = rand_unit(numel_of(2 + c.nsp, ws));
    t.n_in = 2;
    t.in[0] = (struct tin){.ndim = 2 + c.nsp, .data = x};
    memcpy(t.in[0].shape, xs, sizeof(xs));
    t.in[1] = (struct tin){.ndim = 2 + c.nsp, .data = w, .is_const = rint_in(0, 4) != 0};
    memcpy(t.in[1].shape, ws, sizeof(ws));
    if (rint_in(0, 2)) {
        b = rand_unit(c.M);
        t.n_in = 3;
        t.in[2] = (struct tin){.ndim = 1, .shape = {c.M}, .data = b, .is_const = true};
    }
    if (c.group > 1 || rint_in(0, 1))
        attr_int(&t, "group", c.group);
    if (rint_in(0, 1))
        attr_ints(&t, "kernel_shape", c.nsp, ks);
    attr_ints(&t, "strides", c.nsp, ss);
    attr_ints(&t, "dilations", c.nsp, ds);
    if (ap)
        attr_str(&t, "auto_pad", ap_names[ap]);
    else
        attr_ints(&t, "pads", 2 * c.nsp, pads);
    snprintf(what, sizeof(what),
             "Conv #%d %dD N%lld C%lld M%lld g%lld in %lldx%lldx%lld k %lldx%lldx%lld s %lld,%lld d %lld,%lld ap %d",
             idx, c.nsp, (long long)c.N, (long long)c.C, (long long)c.M, (long long)c.group, (long long)c.in[0],
             (long long)c.in[1], (long long)c.in[2], (long long)c.k[0], (long long)c.k[1], (long long)c.k[2],
             (long long)c.s[1], (long long)c.s[2], (long long)c.d[1], (long long)c.d[2], ap);
    if (tn_build(&t, &g, &err) != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "conv case prepares");
    } else {
        int64_t n = numel_of(2 + c.nsp, ys);
        const struct qb_value *yv = &g->values[g->nodes[0].out[0]];
        check(yv->ndim == 2 + c.nsp && memcmp(yv->shape, ys, (size_t)yv->ndim * sizeof(int64_t)) == 0,
              "conv output shape");
        want = malloc((size_t)n * sizeof(double));
        mag = malloc((size_t)n * sizeof(double));
        conv_ref(&c, x, w, b, want, mag);
        run_and_compare(g, &t, pool2, pool2, want, mag, n, what);
        free(want);
        free(mag);
    }
    qb_graph_free(g);
    free(x);
    free(w);
    free(b);
}

/* A random transposed convolution (explicit pads or output_shape). */
static void test_convt_case(struct qb_pool *pool2, int idx)
{
    struct geo c = {0};
    struct tnode t = {.op = "ConvTranspose", .opset = 11, .n_out = 1};
    int64_t ks[3], ss[3], ds[3], pads[6], opad[3], oshape[3], xs[5], ws[5], ys[5];
    int use_oshape = rint_in(0, 3) == 0, off;
    float *x, *w, *b = NULL;
    double *want, *mag;
    struct qb_graph *g;
    struct qb_error err = {0};
    char what[128];
    int64_t cg, mg;

    c.nsp = rint_in(0, 4) == 0 ? (rint_in(0, 1) ? 1 : 3) : 2;
    off = 3 - c.nsp;
    c.N = rint_in(1, 2);
    c.group = rint_in(0, 3) ? 1 : rint_in(2, 3);
    cg = rint_in(1, 6);
    mg = rint_in(1, 9);
    c.C = cg * c.group;
    c.M = mg * c.group;
    for (int i = 0; i < 3; i++) {
        c.in[i] = c.k[i] = c.s[i] = c.d[i] = c.out[i] = 1;
        c.pb[i] = c.pe[i] = c.opad[i] = 0;
    }
    for (int i = off; i < 3; i++) {
        int64_t dk, full;
        c.in[i] = rint_in(1, c.nsp == 3 ? 5 : 11);
        c.k[i] = rint_in(1, 4);
        c.s[i] = rint_in(1, 3);
        c.d[i] = rint_in(0, 3) ? 1 : 2;
        c.opad[i] = rint_in(0, c.s[i] - 1);
        dk = (c.k[i] - 1) * c.d[i] + 1;
        full = c.s[i] * (c.in[i] - 1) + c.opad[i] + dk;
        c.pb[i] = rint_in(0, 2);
        c.pe[i] = rint_in(0, 2);
        while (full - c.pb[i] - c.pe[i] < 1) {
            if (c.pe[i])
                c.pe[i]--;
            else
                c.pb[i]--;
        }
        c.out[i] = full - c.pb[i] - c.pe[i];
        if (use_oshape) { /* pads from the requested size: odd pixel cropped at the start */
            int64_t total = c.pb[i] + c.pe[i];
            c.pb[i] = total - total / 2;
        }
    }
    for (int i = 0; i < c.nsp; i++) {
        ks[i] = c.k[off + i];
        ss[i] = c.s[off + i];
        ds[i] = c.d[off + i];
        opad[i] = c.opad[off + i];
        pads[i] = c.pb[off + i];
        pads[c.nsp + i] = c.pe[off + i];
        oshape[i] = c.out[off + i];
    }
    geo_shape(&c, c.C, c.in, xs);
    ws[0] = c.C;
    ws[1] = mg;
    for (int i = 0; i < c.nsp; i++)
        ws[2 + i] = ks[i];
    geo_shape(&c, c.M, c.out, ys);
    x = rand_unit(numel_of(2 + c.nsp, xs));
    w = rand_unit(numel_of(2 + c.nsp, ws));
    t.n_in = 2;
    t.in[0] = (struct tin){.ndim = 2 + c.nsp, .data = x};
    memcpy(t.in[0].shape, xs, sizeof(xs));
    t.in[1] = (struct tin){.ndim = 2 + c.nsp, .data = w, .is_const = rint_in(0, 3) != 0};
    memcpy(t.in[1].shape, ws, sizeof(ws));
    if (rint_in(0, 1)) {
        b = rand_unit(c.M);
        t.n_in = 3;
        t.in[2] = (struct tin){.ndim = 1, .shape = {c.M}, .data = b, .is_const = true};
    }
    if (c.group > 1)
        attr_int(&t, "group", c.group);
    attr_ints(&t, "strides", c.nsp, ss);
    attr_ints(&t, "dilations", c.nsp, ds);
    attr_ints(&t, "output_padding", c.nsp, opad);
    if (use_oshape)
        attr_ints(&t, "output_shape", c.nsp, oshape);
    else
        attr_ints(&t, "pads", 2 * c.nsp, pads);
    snprintf(what, sizeof(what), "ConvTranspose #%d %dD C%lld M%lld g%lld", idx, c.nsp, (long long)c.C,
             (long long)c.M, (long long)c.group);
    if (tn_build(&t, &g, &err) != QB_OK) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        check(0, "convtranspose case prepares");
    } else {
        int64_t n = numel_of(2 + c.nsp, ys);
        const struct qb_value *yv = &g->values[g->nodes[0].out[0]];
        check(memcmp(yv->shape, ys, (size_t)yv->ndim * sizeof(int64_t)) == 0, "convtranspose output shape");
        want = malloc((size_t)n * sizeof(double));
        mag = malloc((size_t)n * sizeof(double));
        convt_ref(&c, x, w, b, want, mag);
        run_and_compare(g, &t, pool2, pool2, want, mag, n, what);
        free(want);
        free(mag);
    }
    qb_graph_free(g);
    free(x);
    free(w);
    free(b);
}

/* BatchNormalization -------------------------------------------------------------- */

static void test_bn(struct qb_pool *pool2)
{
    for (int it = 0; it < 6; it++) {
        int64_t N = rint_in(1, 3), C = rint_in(1, 7), H = rint_in(1, 13), W = rint_in(1, 13);
        int64_t xs[4] = {N, C, H, W}, n = N * C * H * W;
        float *x = rand_unit(n), *st[4], eps = it % 2 ? 1e-3f : 1e-5f;
        struct tnode t = {.op = "BatchNormalization", .opset = it % 3 ? 15 : 7, .n_in = 5, .n_out = 1};
        struct qb_graph *g;
        struct qb_error err = {0};
        double *want = malloc((size_t)n * sizeof(double));

        t.in[0] = (struct tin){.ndim = 4, .data = x};
        memcpy(t.in[0].shape, xs, sizeof(xs));
        for (int k = 0; k < 4; k++) {
            st[k] = rand_unit(C);
            if (k == 3)
                for (int64_t c = 0; c < C; c++)
                    st[k][c] = fabsf(st[k][c]) + 0.1f;
            t.in[1 + k] = (struct tin){.ndim = 1, .shape = {C}, .data = st[k], .is_const = k != 2};
        }
        attr_float(&t, "epsilon", eps);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = i / (H * W) % C;
            want[i] = (x[i] - st[2][c]) / sqrt((double)st[3][c] + eps) * st[0][c] + st[1][c];
        }
        check(tn_build(&t, &g, &err) == QB_OK, "batchnorm prepares");
        run_and_compare(g, &t, pool2, pool2, want, NULL, n, "BatchNormalization");
        qb_graph_free(g);
        free(x);
        free(want);
        for (int k = 0; k < 4; k++)
            free(st[k]);
    }
}

/* Refusals ------------------------------------------------------------------------------ */

static void test_conv_refusals(void)
{
    static const float data[64] = {0};
    struct tin x4 = {.ndim = 4, .shape = {1, 2, 5, 5}, .data = data};
    struct tin w4 = {.ndim = 4, .shape = {2, 2, 3, 3}, .data = data, .is_const = true};
    struct tin c2 = {.ndim = 1, .shape = {2}, .data = data, .is_const = true};
    struct tnode t;

    t = (struct tnode){.op = "BatchNormalization", .opset = 15, .n_in = 5, .n_out = 1,
                       .in = {x4, c2, c2, c2, c2}};
    attr_int(&t, "training_mode", 1);
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "training_mode", "BatchNormalization training_mode=1 is refused");

    t = (struct tnode){.op = "BatchNormalization", .opset = 9, .n_in = 5, .n_out = 3,
                       .in = {x4, c2, c2, c2, c2}};
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "training", "BatchNormalization with statistics outputs is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "pads", 4, (const int64_t[]){-1, 0, 0, 0});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "pads", "Conv with negative pads is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "kernel_shape", 2, (const int64_t[]){3, 2});
    expect_refusal(&t, QB_ERR_INVALID, "kernel_shape", "Conv kernel_shape disagreeing with W is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_str(&t, "auto_pad", "SAME");
    expect_refusal(&t, QB_ERR_INVALID, "auto_pad", "Conv with an unknown auto_pad is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_int(&t, "group", 3);
    expect_refusal(&t, QB_ERR_INVALID, "group", "Conv with a group that does not divide is refused");

    /* 6 values for 2 spatial dims: refused, not read past a 3-slot array (ASan finding) */
    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "strides", 6, (const int64_t[]){1, 1, 1, 1, 1, 1});
    expect_refusal(&t, QB_ERR_INVALID, "expected 2", "Conv with 6 strides is refused");
    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "kernel_shape", 6, (const int64_t[]){3, 3, 3, 3, 3, 3});
    expect_refusal(&t, QB_ERR_INVALID, "expected 2", "Conv with 6 kernel_shape values is refused");

    /* sizes whose arithmetic would overflow int64 (fuzzer findings): refused, no UB */
    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1,
                       .in = {x4, {.ndim = 4, .shape = {1, 2, (int64_t)1 << 61, 1}, .data = data}}};
    attr_ints(&t, "dilations", 2, (const int64_t[]){1 << 24, 1});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "kernel too large", "Conv with a 2^61 kernel is refused");

    t = (struct tnode){.op = "Conv", .opset = 11, .n_in = 2, .n_out = 1,
                       .in = {{.ndim = 5, .shape = {1, 1, 1, 1, 1}, .data = data},
                              {.ndim = 5, .shape = {1, 1, 1, 1, 1}, .data = data, .is_const = true}}};
    attr_ints(&t, "pads", 6, (const int64_t[]){1 << 24, 1 << 24, 1 << 24, 1 << 24, 1 << 24, 1 << 24});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "output plane too large", "Conv with a 2^75 output plane is refused");

    t = (struct tnode){.op = "ConvTranspose", .opset = 11, .n_in = 2, .n_out = 1,
                       .in = {{.ndim = 5, .shape = {1, 1, 1 << 20, 1 << 10, 1}, .data = data},
                              {.ndim = 5, .shape = {1, 1, 1, 1, 1}, .data = data, .is_const = true}}};
    attr_ints(&t, "strides", 3, (const int64_t[]){1 << 24, 1 << 24, 1});
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "too large", "ConvTranspose with a 2^78 output plane is refused");

    /* output_shape one larger than the result with SAME_UPPER: onnx and onnxruntime differ */
    t = (struct tnode){.op = "ConvTranspose", .opset = 11, .n_in = 2, .n_out = 1, .in = {x4, w4}};
    attr_ints(&t, "output_shape", 2, (const int64_t[]){9, 9});
    attr_str(&t, "auto_pad", "SAME_UPPER");
    expect_refusal(&t, QB_ERR_UNSUPPORTED, "output_shape", "ConvTranspose ambiguous output_shape is refused");
}

/* The ONNX conformance data's ConvTranspose SAME_UPPER case, inline: the odd
 * padding pixel is cropped at the end. */
static void test_convt_same_upper(void)
{
    static const float x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static const float w[18] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const float row0[6] = {0, 0, 1, 1, 3, 2}, row2[6] = {3, 3, 8, 5, 12, 7};
    struct tnode t = {.op = "ConvTranspose", .opset = 11, .n_in = 2, .n_out = 1};
    struct qb_graph *g;
    struct qb_error err = {0};
    void *y[2] = {0};

    t.in[0] = (struct tin){.ndim = 4, .shape = {1, 1, 3, 3}, .data = x};
    t.in[1] = (struct tin){.ndim = 4, .shape = {1, 2, 3, 3}, .data = w, .is_const = true};
    attr_ints(&t, "strides", 2, (const int64_t[]){2, 2});
    attr_str(&t, "auto_pad", "SAME_UPPER");
    check(tn_build(&t, &g, &err) == QB_OK, "ConvTranspose SAME_UPPER prepares");
    check(g->values[g->nodes[0].out[0]].shape[2] == 6 && g->values[g->nodes[0].out[0]].shape[3] == 6,
          "ConvTranspose SAME_UPPER output is 6x6");
    tn_run(g, &t, NULL, y);
    check(memcmp(y[0], row0, sizeof(row0)) == 0 && memcmp((float *)y[0] + 12, row2, sizeof(row2)) == 0,
          "ConvTranspose SAME_UPPER matches the conformance data");
    free(y[0]);
    qb_graph_free(g);
}

/* Benchmark ------------------------------------------------------------------------------- */

/* Single-threaded benchmarks time the thread's CPU time, so that other
 * processes on a busy machine do not count. */
static int bench_cpu_clock;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(bench_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct bench_shape {
    const char *name;
    int64_t C, M, H, k, s, group;
};

/* The bare GEMM on row-major operands (B packed on the fly), for comparison. */
static void bench_gemm(struct qb_pool *bpool)
{
    static const int shapes[][3] = {{64, 6400, 576}, {256, 400, 2304}, {128, 1600, 1152}, {512, 512, 512}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2], reps = 0;
        float *a = rand_unit((int64_t)M * K), *b = rand_unit((int64_t)K * N), *c = rand_unit((int64_t)M * N);
        float *pa = aligned_alloc(64, (qb_sgemm_pack_a_size(M, K) * sizeof(float) + 63) & ~(size_t)63);
        void *scratch = aligned_alloc(64, qb_sgemm_scratch_size());
        struct qb_sgemm_b src;
        double t0, t1, best;

        qb_sgemm_pack_a(M, K, a, K, 1, 1.0f, pa, NULL);
        qb_sgemm_b_matrix(&src, b, N, 1);
        qb_sgemm_packed(M, N, K, pa, &src, c, N, NULL, 0, scratch, qb_sgemm_scratch_size(), bpool);
        best = 1e30;
        t0 = now_s();
        do {
            double ts = now_s();
            qb_sgemm_packed(M, N, K, pa, &src, c, N, NULL, 0, scratch, qb_sgemm_scratch_size(), bpool);
            t1 = now_s();
            best = t1 - ts < best ? t1 - ts : best;
            reps++;
        } while (t1 - t0 < 0.4 || reps < 5);
        printf("  gemm %4dx%5dx%4d      %8.3f ms %7.1f GFLOP/s\n", M, N, K, best * 1e3, 2.0 * M * N * K / best * 1e-9);
        free(a);
        free(b);
        free(c);
        free(pa);
        free(scratch);
    }
}

static void bench(int threads, const char *filter)
{
    static const struct bench_shape shapes[] = {
        {"3x3 s2   3->16  @640", 3, 16, 640, 3, 2, 1},
        {"3x3 s2  16->32  @320", 16, 32, 320, 3, 2, 1},
        {"3x3 s1   8->16  @160", 8, 16, 160, 3, 1, 1},
        {"1x1     48->64  @160", 48, 64, 160, 1, 1, 1},
        {"3x3 s2  64->64  @160", 64, 64, 160, 3, 2, 1},
        {"3x3 s1  64->64  @80", 64, 64, 80, 3, 1, 1},
        {"1x1     64->80  @80", 64, 80, 80, 1, 1, 1},
        {"dw3x3   64      @80", 64, 64, 80, 3, 1, 64},
        {"3x3 s2 128->128 @80", 128, 128, 80, 3, 2, 1},
        {"3x3 s1  64->64  @40", 64, 64, 40, 3, 1, 1},
        {"3x3 s1  64->64  @20", 64, 64, 20, 3, 1, 1},
        {"3x3 s2 128->256 @40", 128, 256, 40, 3, 2, 1},
        {"1x1    256->256 @20", 256, 256, 20, 1, 1, 1},
        {"1x1    384->256 @20", 384, 256, 20, 1, 1, 1},
    };
    struct qb_pool *bpool = threads > 1 ? qb_pool_new(threads) : NULL;
    double total_flops = 0.0, total_s = 0.0;

    bench_cpu_clock = threads == 1;
    printf("conv GFLOP/s, %d thread%s, kernel %s%s\n", threads, threads > 1 ? "s" : "", qb_sgemm_isa(),
           bench_cpu_clock ? " (thread CPU time)" : "");
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        const struct bench_shape *b = &shapes[i];
        int64_t pad = b->k / 2;
        if (filter && !strstr(b->name, filter))
            continue;
        struct tnode t = {.op = "Conv", .opset = 17, .n_in = 3, .n_out = 1};
        float *x = rand_unit(b->C * b->H * b->H), *w = rand_unit(b->M * (b->C / b->group) * b->k * b->k),
              *bias = rand_unit(b->M);
        struct qb_graph *g;
        struct qb_error err = {0};
        struct qb_tview in[3], out[1];
        struct qb_kctx ctx = {.pool = bpool};
        size_t scratch = 0;
        void *state = NULL;
        int reps = 0;
        double t0, t1, flops, best;

        t.in[0] = (struct tin){.ndim = 4, .shape = {1, b->C, b->H, b->H}, .data = x};
        t.in[1] = (struct tin){.ndim = 4, .shape = {b->M, b->C / b->group, b->k, b->k}, .data = w, .is_const = true};
        t.in[2] = (struct tin){.ndim = 1, .shape = {b->M}, .data = bias, .is_const = true};
        attr_ints(&t, "strides", 2, (const int64_t[]){b->s, b->s});
        attr_ints(&t, "pads", 4, (const int64_t[]){pad, pad, pad, pad});
        attr_int(&t, "group", b->group);
        if (tn_build(&t, &g, &err) != QB_OK) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        const struct qb_node *n = &g->nodes[0];
        const struct qb_value *yv = qb_node_out(g, n, 0);
        if (n->def->prepare)
            n->def->prepare(g, n, &state, &scratch, &err);
        ctx.state = state;
        ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) & ~(size_t)63) : NULL;
        ctx.scratch_size = scratch;
        for (int k = 0; k < 3; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            in[k] = (struct qb_tview){.dtype = QB_DTYPE_F32, .ndim = v->ndim, .data = (void *)t.in[k].data};
            memcpy(in[k].shape, v->shape, sizeof(v->shape));
        }
        out[0] = (struct qb_tview){.dtype = QB_DTYPE_F32, .ndim = yv->ndim};
        memcpy(out[0].shape, yv->shape, sizeof(yv->shape));
        out[0].data = malloc((size_t)qb_value_numel(yv) * sizeof(float));
        flops = n->def->flops(g, n);
        n->def->run(n, in, out, &ctx);
        best = 1e30;
        t0 = now_s();
        do { /* the fastest of many runs: other processes only ever slow a run down */
            double ts = now_s();
            n->def->run(n, in, out, &ctx);
            t1 = now_s();
            best = t1 - ts < best ? t1 - ts : best;
            reps++;
        } while (t1 - t0 < 0.4 || reps < 5);
        printf("  %-22s %8.3f ms %7.1f GFLOP/s\n", b->name, best * 1e3, flops / best * 1e-9);
        total_flops += flops;
        total_s += best;
        n->def->release(state);
        free(ctx.scratch);
        free(out[0].data);
        qb_graph_free(g);
        free(x);
        free(w);
        free(bias);
    }
    printf("  %-22s %8.3f ms %7.1f GFLOP/s\n", "all", total_s * 1e3, total_flops / total_s * 1e-9);
    if (!filter || strstr("gemm", filter))
        bench_gemm(bpool);
    qb_pool_free(bpool);
}

/* Times every node of a model that this family runs (Conv, ConvTranspose,
 * BatchNormalization, MatMul, Gemm, pools) in isolation on random inputs. */
static int bench_model(const char *path, int threads, int verbose)
{
    static const char *const ops[] = {"Conv", "ConvTranspose", "BatchNormalization", "MatMul", "Gemm", "MaxPool",
                                      "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
    enum { N_OPS = sizeof(ops) / sizeof(ops[0]) };
    struct qb_pool *bpool = threads > 1 ? qb_pool_new(threads) : NULL;
    struct qb_graph *g = NULL;
    struct qb_error err = {0};
    double op_s[N_OPS] = {0}, op_flops[N_OPS] = {0}, total = 0.0;
    int op_n[N_OPS] = {0};

    if (qb_onnx_load(path, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        qb_graph_free(g);
        return 1;
    }
    bench_cpu_clock = threads == 1;
    printf("%s: %d thread%s, kernel %s%s\n", path, threads, threads > 1 ? "s" : "", qb_sgemm_isa(),
           bench_cpu_clock ? " (thread CPU time)" : "");
    for (int o = 0; o < g->n_order; o++) {
        const struct qb_node *n = &g->nodes[g->order[o]];
        struct qb_tview in[8], out[2];
        struct qb_kctx ctx = {.pool = bpool, .graph = g};
        void *bufs[10] = {0}, *state = NULL;
        size_t scratch = 0;
        int op = 0, reps = 0;
        double best = 1e30, t0, t1, flops;
        char shape[64];

        while (op < N_OPS && strcmp(ops[op], n->op_type) != 0)
            op++;
        if (op == N_OPS || n->n_in > 8 || n->n_out > 2)
            continue;
        for (int k = 0; k < n->n_in; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            memset(&in[k], 0, sizeof(in[k]));
            if (!v)
                continue;
            in[k].dtype = v->dtype;
            in[k].ndim = v->ndim;
            memcpy(in[k].shape, v->shape, sizeof(v->shape));
            in[k].data = v->data ? v->data : (bufs[k] = rand_unit(qb_value_numel(v)));
        }
        for (int k = 0; k < n->n_out; k++) {
            const struct qb_value *v = qb_node_out(g, n, k);
            memset(&out[k], 0, sizeof(out[k]));
            if (!v)
                continue;
            out[k].dtype = v->dtype;
            out[k].ndim = v->ndim;
            memcpy(out[k].shape, v->shape, sizeof(v->shape));
            out[k].data = bufs[8 + k] = malloc((size_t)qb_value_numel(v) * qb_dtype_size(v->dtype) + 1);
        }
        if (n->def->prepare && n->def->prepare(g, n, &state, &scratch, &err) != QB_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ctx.state = state;
        ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) & ~(size_t)63) : NULL;
        ctx.scratch_size = scratch;
        n->def->run(n, in, out, &ctx);
        t0 = now_s();
        do {
            double ts = now_s();
            n->def->run(n, in, out, &ctx);
            t1 = now_s();
            best = t1 - ts < best ? t1 - ts : best;
            reps++;
        } while (t1 - t0 < 0.05 || reps < 3);
        flops = n->def->flops ? n->def->flops(g, n) : 0.0;
        if (verbose)
            printf("  %-48.48s %-8s %-18s %8.3f ms %7.1f GFLOP/s\n", n->name, n->op_type,
                   qb_shape_str(qb_node_out(g, n, 0), shape, sizeof(shape)), best * 1e3, flops / best * 1e-9);
        op_s[op] += best;
        op_flops[op] += flops;
        op_n[op]++;
        total += best;
        if (n->def->release)
            n->def->release(state);
        free(ctx.scratch);
        for (int k = 0; k < 10; k++)
            free(bufs[k]);
    }
    for (int op = 0; op < N_OPS; op++)
        if (op_n[op])
            printf("  %-20s %3d nodes %9.3f ms %7.1f GFLOP/s\n", ops[op], op_n[op], op_s[op] * 1e3,
                   op_flops[op] / op_s[op] * 1e-9);
    printf("  %-20s           %9.3f ms\n", "all", total * 1e3);
    qb_graph_free(g);
    qb_pool_free(bpool);
    return 0;
}

int main(int argc, char **argv)
{
    struct qb_pool *pool2;

    if (argc > 2 && strcmp(argv[1], "--bench-model") == 0) {
        /* --bench-model MODEL [THREADS [-v]] */
        return bench_model(argv[2], argc > 3 ? atoi(argv[3]) : 1, argc > 4);
    }
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        /* --bench [THREADS [FILTER]] */
        int threads = argc > 2 ? atoi(argv[2]) : 0;
        const char *filter = argc > 3 ? argv[3] : NULL;
        if (threads <= 0 || threads == 1)
            bench(1, filter);
        if (threads <= 0 || threads > 1)
            bench(threads > 1 ? threads : 2, filter);
        return 0;
    }
    pool2 = qb_pool_new(2);
    assert(pool2);
    for (int i = 0; i < 200; i++)
        test_conv_case(pool2, i);
    for (int i = 0; i < 60; i++)
        test_convt_case(pool2, i);
    test_convt_same_upper();
    test_bn(pool2);
    test_conv_refusals();
    qb_pool_free(pool2);
    printf("test_ops_conv: %d checks, %d failed (kernel %s)\n", n_pass + n_fail, n_fail, qb_sgemm_isa());
    return n_fail ? 1 : 0;
}
