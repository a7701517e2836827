/* Resize and Upsample against a reference written from the operator's
 * definition (in double): nearest with every nearest_mode, linear and cubic
 * with every coordinate_transformation_mode, scales or sizes, opsets 7 to 19,
 * YOLO's 2x upsample through the threads, non-float data, and refusals. The
 * harness is tests/testutil_graph.h.
 */
#include "testutil_graph.h"


/* ONNX Resize on the last two dims, in double, from the operator's definition */
static double rs_coord(const char *ct, double x, double scale, double out_len, double in_len)
{
    if (strcmp(ct, "asymmetric") == 0)
        return x / scale;
    if (strcmp(ct, "align_corners") == 0)
        return out_len == 1 ? 0 : x * (in_len - 1) / (out_len - 1);
    if (strcmp(ct, "pytorch_half_pixel") == 0)
        return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0;
    if (strcmp(ct, "tf_half_pixel_for_nn") == 0)
        return (x + 0.5) / scale;
    return (x + 0.5) / scale - 0.5;
}

static int64_t rs_nearest(const char *nm, double v, int64_t len)
{
    int64_t i;
    if (strcmp(nm, "floor") == 0)
        i = (int64_t)floor(v);
    else if (strcmp(nm, "ceil") == 0)
        i = (int64_t)ceil(v);
    else if (strcmp(nm, "round_prefer_ceil") == 0)
        i = (int64_t)floor(v + 0.5);
    else
        i = (int64_t)ceil(v - 0.5); /* round_prefer_floor */
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

/* cubic and linear weights of input index k for coordinate v */
static double rs_weight(bool cubic, double v, int64_t k, int64_t len, double a)
{
    if (!cubic) {
        double c = v < 0 ? 0 : v > (double)(len - 1) ? (double)(len - 1) : v, t = 1 - fabs(c - (double)k);
        return t > 0 ? t : 0;
    } else {
        double s = fabs(v - (double)k);
        if (s < 1)
            return ((a + 2) * s - (a + 3)) * s * s + 1;
        if (s < 2)
            return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
        return 0;
    }
}

static void ref_resize(const float *x, int64_t N, int64_t H, int64_t W, int64_t OH, int64_t OW, double sh, double sw,
                       const char *mode, const char *ct, const char *nm, double *y)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                double vy = rs_coord(ct, (double)oy, sh, (double)OH, (double)H);
                double vx = rs_coord(ct, (double)ox, sw, (double)OW, (double)W), acc = 0;
                const float *p = x + n * H * W;
                if (strcmp(mode, "nearest") == 0) {
                    acc = p[rs_nearest(nm, vy, H) * W + rs_nearest(nm, vx, W)];
                } else {
                    bool cubic = strcmp(mode, "cubic") == 0;
                    /* taps beyond the edge read the edge pixel (clamped index) */
                    for (int64_t ky = (int64_t)floor(vy) - 2; ky <= (int64_t)floor(vy) + 3; ky++)
                        for (int64_t kx = (int64_t)floor(vx) - 2; kx <= (int64_t)floor(vx) + 3; kx++) {
                            double w = rs_weight(cubic, vy, ky, H, -0.75) * rs_weight(cubic, vx, kx, W, -0.75);
                            int64_t cy = ky < 0 ? 0 : ky >= H ? H - 1 : ky, cx = kx < 0 ? 0 : kx >= W ? W - 1 : kx;
                            if (!cubic && (ky < 0 || ky >= H || kx < 0 || kx >= W))
                                continue;
                            acc += w * p[cy * W + cx];
                        }
                }
                y[(n * OH + oy) * OW + ox] = acc;
            }
}

static void test_resize(void)
{
    static const struct {
        const char *mode, *ct, *nm;
        int64_t h, w, oh, ow;
        bool sizes;
        int opset;
    } cases[] = {
        {"nearest", "asymmetric", "floor", 20, 20, 40, 40, false, 13},
        {"nearest", "asymmetric", "floor", 5, 7, 10, 14, false, 11},
        {"nearest", "half_pixel", "round_prefer_floor", 4, 5, 7, 9, true, 13},
        {"nearest", "half_pixel", "round_prefer_ceil", 4, 5, 7, 3, true, 13},
        {"nearest", "align_corners", "ceil", 4, 5, 7, 9, true, 18},
        {"nearest", "tf_half_pixel_for_nn", "floor", 6, 6, 4, 3, true, 11},
        {"linear", "half_pixel", NULL, 4, 5, 7, 3, true, 13},
        {"linear", "pytorch_half_pixel", NULL, 4, 5, 8, 1, true, 13},
        {"linear", "align_corners", NULL, 4, 5, 7, 9, true, 13},
        {"linear", "asymmetric", NULL, 4, 5, 8, 10, false, 19},
        {"cubic", "half_pixel", NULL, 4, 5, 6, 8, false, 13},
        {"cubic", "align_corners", NULL, 5, 4, 3, 7, true, 13},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int64_t N = 6, xs[4] = {2, 3, cases[c].h, cases[c].w}, out[4] = {2, 3, cases[c].oh, cases[c].ow};
        int64_t n = numel_of(4, xs), on = numel_of(4, out);
        float *x = rand_buf(n, -2, 2), sc[4] = {1, 1, (float)cases[c].oh / (float)cases[c].h,
                                                   (float)cases[c].ow / (float)cases[c].w};
        double *want = malloc(sizeof(double) * (size_t)on);
        struct qb_attr at[3];
        struct tin in[4];
        struct tcase tc;
        char what[96];
        int na = 0;
        int64_t four[1] = {4};

        at[na++] = attr_s("mode", cases[c].mode);
        at[na++] = attr_s("coordinate_transformation_mode", cases[c].ct);
        if (cases[c].nm)
            at[na++] = attr_s("nearest_mode", cases[c].nm);
        in[0] = fin(4, xs, x);
        in[1] = omitted;
        if (cases[c].sizes) {
            in[2] = omitted;
            in[3] = i64s(4, out);
        } else {
            in[2] = cin(QB_DTYPE_F32, 1, four, sc);
        }
        ref_resize(x, N, cases[c].h, cases[c].w, cases[c].oh, cases[c].ow, sc[2], sc[3], cases[c].mode, cases[c].ct,
                   cases[c].nm ? cases[c].nm : "", want);
        snprintf(what, sizeof(what), "Resize %s %s %s %lldx%lld->%lldx%lld", cases[c].mode, cases[c].ct,
                 cases[c].nm ? cases[c].nm : "", (long long)cases[c].h, (long long)cases[c].w,
                 (long long)cases[c].oh, (long long)cases[c].ow);
        if (build_run(&tc, cases[c].opset, "Resize", cases[c].sizes ? 4 : 3, in, 1, at, na, 4, out))
            expect_f32(what, tc.buf[0], want, on, 2e-6, 2e-6);
        done(&tc);
        free(x);
        free(want);
    }
    {
        /* YOLO's upsample at a real size, through the threads */
        int64_t xs[4] = {2, 64, 40, 40}, out[4] = {2, 64, 80, 80}, four[1] = {4}, n = 204800;
        float *x = rand_buf(n, -2, 2), sc[4] = {1, 1, 2, 2};
        double *want = malloc(sizeof(double) * 4 * (size_t)n);
        struct qb_attr at[3] = {attr_s("mode", "nearest"), attr_s("coordinate_transformation_mode", "asymmetric"),
                                attr_s("nearest_mode", "floor")};
        struct tin in[3] = {fin(4, xs, x), omitted, cin(QB_DTYPE_F32, 1, four, sc)};
        struct tcase tc;
        ref_resize(x, 128, 40, 40, 80, 80, 2, 2, "nearest", "asymmetric", "floor", want);
        if (build_run(&tc, 17, "Resize", 3, in, 1, at, 3, 4, out))
            expect_f32("Resize nearest 2x [2,64,40,40] (threads)", tc.buf[0], want, 4 * n, 0, 0);
        done(&tc);
        free(x);
        free(want);
    }
    {
        /* opset 10 Resize and opset 9 Upsample: asymmetric, nearest truncates */
        int64_t xs[4] = {1, 2, 3, 4}, out[4] = {1, 2, 6, 12}, four[1] = {4};
        float *x = rand_buf(24, -2, 2), sc[4] = {1, 1, 2, 3};
        double want[144];
        struct qb_attr at[1] = {attr_s("mode", "nearest")}, al[1] = {attr_s("mode", "linear")};
        struct tin in[2] = {fin(4, xs, x), cin(QB_DTYPE_F32, 1, four, sc)};
        struct tcase tc;
        ref_resize(x, 2, 3, 4, 6, 12, 2, 3, "nearest", "asymmetric", "floor", want);
        if (build_run(&tc, 10, "Resize", 2, in, 1, at, 1, 4, out))
            expect_f32("Resize-10 nearest", tc.buf[0], want, 144, 0, 0);
        done(&tc);
        if (build_run(&tc, 9, "Upsample", 2, in, 1, at, 1, 4, out))
            expect_f32("Upsample-9 nearest", tc.buf[0], want, 144, 0, 0);
        done(&tc);
        ref_resize(x, 2, 3, 4, 6, 12, 2, 3, "linear", "asymmetric", NULL, want);
        {
            struct qb_attr a7[2] = {attr_s("mode", "linear"), attr_fs("scales", 4, sc)};
            struct tin in7[1] = {fin(4, xs, x)};
            if (build_run(&tc, 7, "Upsample", 1, in7, 1, a7, 2, 4, out))
                expect_f32("Upsample-7 linear (scales attribute)", tc.buf[0], want, 144, 2e-6, 2e-6);
            done(&tc);
        }
        if (build_run(&tc, 10, "Resize", 2, in, 1, al, 1, 4, out))
            expect_f32("Resize-10 linear", tc.buf[0], want, 144, 2e-6, 2e-6);
        done(&tc);
        free(x);
    }
    {
        /* opset 19 half_pixel_symmetric (the operator's documented example) and
         * opset 18 axes: sizes for the listed axes only */
        int64_t xs[4] = {1, 1, 1, 4}, out[4] = {1, 1, 1, 2}, one[1] = {1};
        float x[4] = {1, 2, 3, 4}, sc[1] = {0.6f};
        int64_t ax[1] = {-1};
        double want[2] = {1.6666666, 3.3333333};
        struct qb_attr at[3] = {attr_s("mode", "linear"), attr_s("coordinate_transformation_mode", "half_pixel_symmetric"),
                                attr_is("axes", 1, ax)};
        struct tin in[3] = {fin(4, xs, x), omitted, cin(QB_DTYPE_F32, 1, one, sc)};
        struct tcase tc;
        if (build_run(&tc, 19, "Resize", 3, in, 1, at, 3, 4, out))
            expect_f32("Resize half_pixel_symmetric, axes=[-1]", tc.buf[0], want, 2, 1e-6, 0);
        done(&tc);
        build(&tc, 18, "Resize", 3, in, 1, at, 3);
        expect_refused("Resize half_pixel_symmetric before opset 19", &tc);
    }
    {
        /* nearest on int64 data (any dtype moves) */
        int64_t xs[2] = {2, 3}, out[2] = {4, 6}, two[1] = {2}, x[6] = {1, 2, 3, 4, 5, 6}, w[24];
        float sc[2] = {2, 2};
        struct qb_attr at[2] = {attr_s("coordinate_transformation_mode", "asymmetric"), attr_s("nearest_mode", "floor")};
        struct tin in[3] = {cin(QB_DTYPE_I64, 2, xs, x), omitted, cin(QB_DTYPE_F32, 1, two, sc)};
        struct tcase tc;
        for (int i = 0; i < 24; i++)
            w[i] = x[(i / 6 / 2) * 3 + (i % 6) / 2];
        if (build_run(&tc, 13, "Resize", 3, in, 1, at, 2, 2, out))
            expect_bytes("Resize nearest int64", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
}

/* refusals ---------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    int64_t four[1] = {4}, xs4[4] = {1, 1, 2, 2};
    float x[6] = {0}, sc[4] = {1, 1, 2, 2};
    struct tin in[3] = {fin(4, xs4, x), omitted, cin(QB_DTYPE_F32, 1, four, sc)};
    struct tin rt[3] = {fin(4, xs4, x), omitted, fin(1, four, sc)};
    struct tin in10[2] = {fin(4, xs4, x), cin(QB_DTYPE_F32, 1, four, sc)};
    struct qb_attr anti[2] = {attr_s("mode", "linear"), attr_i("antialias", 1)};
    struct qb_attr keep[1] = {attr_s("keep_aspect_ratio_policy", "not_larger")};
    struct qb_attr cubic_old[1] = {attr_s("mode", "cubic")};
    struct tcase tc;

    build(&tc, 18, "Resize", 3, in, 1, anti, 2);
    expect_refused("Resize antialias", &tc);
    build(&tc, 18, "Resize", 3, in, 1, keep, 1);
    expect_refused("Resize keep_aspect_ratio_policy", &tc);
    build(&tc, 13, "Resize", 3, rt, 1, NULL, 0);
    expect_refused("Resize with scales computed at run time", &tc);
    build(&tc, 10, "Resize", 2, in10, 1, cubic_old, 1);
    expect_refused("Resize-10 cubic", &tc);
}

int main(void)
{
    pool = qb_pool_new(2);
    assert(pool);
    test_resize();
    test_refusals();
    qb_pool_free(pool);
    return test_summary("test_ops_resize");
}
