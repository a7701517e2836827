/* Shape, index and generator ops against plain reference code: Transpose,
 * Concat/Split, Slice, the Reshape family (Flatten, Squeeze, Unsqueeze, Shape,
 * Size), Gather/GatherElements/Expand/Tile/Range, ScatterElements/Compress,
 * Constant/ConstantOfShape, Pad and DepthToSpace/SpaceToDepth. Random inputs
 * from a fixed seed, negative axes, opset variants, tensors big enough to go
 * through the threads, and refusals. The harness is tests/testutil_graph.h.
 */
#include "testutil_graph.h"


/* naive permute: out[j] = in[i] where out dim k walks in dim perm[k] */
static void ref_permute(const void *in, void *out, size_t es, int nd, const int64_t *shape, const int *perm)
{
    int64_t n = numel_of(nd, shape), istr[QB_MAX_DIMS], s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        istr[d] = s;
        s *= shape[d];
    }
    for (int64_t j = 0; j < n; j++) {
        int64_t rem = j, off = 0;
        for (int k = nd - 1; k >= 0; k--) {
            off += (rem % shape[perm[k]]) * istr[perm[k]];
            rem /= shape[perm[k]];
        }
        memcpy((char *)out + (size_t)j * es, (const char *)in + (size_t)off * es, es);
    }
}

static void transpose_case(enum qb_dtype dt, int nd, const int64_t *shape, const int *perm, const char *what)
{
    int64_t n = numel_of(nd, shape), p64[QB_MAX_DIMS], oshape[QB_MAX_DIMS];
    size_t es = qb_dtype_size(dt);
    unsigned char *x = malloc((size_t)n * es), *want = malloc((size_t)n * es);
    struct qb_attr at[1];
    struct tin in[1];
    struct tcase tc;

    for (size_t i = 0; i < (size_t)n * es; i++)
        x[i] = (unsigned char)rng32();
    for (int k = 0; k < nd; k++) {
        p64[k] = perm[k];
        oshape[k] = shape[perm[k]];
    }
    at[0] = attr_is("perm", nd, p64);
    in[0] = dt == QB_DTYPE_F32 ? fin(nd, shape, (const float *)x) : cin(dt, nd, shape, x);
    ref_permute(x, want, es, nd, shape, perm);
    if (build_run(&tc, 13, "Transpose", 1, in, 1, at, 1, nd, oshape))
        expect_bytes(what, tc.buf[0], want, (size_t)n * es);
    done(&tc);
    free(x);
    free(want);
}

static void test_transpose(void)
{
    int64_t s4[4] = {2, 3, 5, 7}, s3[3] = {3, 4, 5}, big[4] = {2, 32, 40, 41}, s5[5] = {2, 1, 3, 1, 4};
    int perm[4] = {0, 1, 2, 3};
    char what[64];
    /* all 24 permutations of a 4-D float tensor */
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) {
                int d = 6 - a - b - c;
                if (a == b || a == c || b == c || d < 0 || d > 3 || d == a || d == b || d == c)
                    continue;
                perm[0] = a, perm[1] = b, perm[2] = c, perm[3] = d;
                snprintf(what, sizeof(what), "Transpose float [%d%d%d%d]", a, b, c, d);
                transpose_case(QB_DTYPE_F32, 4, s4, perm, what);
            }
    {
        const int p3[3] = {2, 0, 1}, p3b[3] = {1, 2, 0};
        transpose_case(QB_DTYPE_I64, 3, s3, p3, "Transpose int64");
        transpose_case(QB_DTYPE_U8, 3, s3, p3b, "Transpose uint8");
        transpose_case(QB_DTYPE_F16, 3, s3, p3, "Transpose float16");
    }
    {
        const int pb[4] = {0, 2, 3, 1}, pc[4] = {0, 3, 1, 2}, p5[5] = {4, 3, 2, 1, 0};
        transpose_case(QB_DTYPE_F32, 4, big, pb, "Transpose [2,32,40,41] NCHW->NHWC (threads)");
        transpose_case(QB_DTYPE_F32, 4, big, pc, "Transpose [2,32,40,41] NHWC->NCHW (threads)");
        transpose_case(QB_DTYPE_F32, 5, s5, p5, "Transpose with unit dims");
    }
    {
        /* default perm reverses the dims */
        float *x = rand_buf(60, -1, 1);
        int64_t rs[3] = {5, 4, 3};
        const int rev[3] = {2, 1, 0};
        float want[60];
        struct tin in[1] = {fin(3, s3, x)};
        struct tcase tc;
        ref_permute(x, want, 4, 3, s3, rev);
        if (build_run(&tc, 13, "Transpose", 1, in, 1, NULL, 0, 3, rs))
            expect_bytes("Transpose default perm", tc.buf[0], want, sizeof(want));
        done(&tc);
        free(x);
    }
}

static void test_concat_split(void)
{
    struct tcase tc;
    {
        int64_t s0[3] = {2, 3, 4}, s1[3] = {2, 1, 4}, s2[3] = {2, 0, 4}, out[3] = {2, 4, 4};
        float *a = rand_buf(24, -1, 1), *b = rand_buf(8, -1, 1), dummy[1] = {0};
        double want[32];
        struct tin in[3] = {fin(3, s0, a), fin(3, s1, b), fin(3, s2, dummy)};
        struct qb_attr at[1] = {attr_i("axis", -2)};
        for (int i = 0; i < 32; i++) {
            int o = i / 16, r = (i / 4) % 4, c = i % 4;
            want[i] = r < 3 ? a[(o * 3 + r) * 4 + c] : b[o * 4 + c];
        }
        if (build_run(&tc, 13, "Concat", 3, in, 1, at, 1, 3, out))
            expect_f32("Concat axis=-2 with an empty input", tc.buf[0], want, 32, 0, 0);
        done(&tc);
        free(a);
        free(b);
    }
    {
        int64_t s[4] = {2, 32, 40, 40}, out[4] = {2, 64, 40, 40}, half = 32 * 1600;
        float *a = rand_buf(2 * half, -1, 1), *b = rand_buf(2 * half, -1, 1);
        double *want = malloc(sizeof(double) * 4 * (size_t)half);
        struct tin in[2] = {fin(4, s, a), fin(4, s, b)};
        struct qb_attr at[1] = {attr_i("axis", 1)};
        for (int64_t i = 0; i < 4 * half; i++) {
            int64_t o = i / (2 * half), r = i % (2 * half);
            want[i] = r < half ? a[o * half + r] : b[o * half + r - half];
        }
        if (build_run(&tc, 13, "Concat", 2, in, 1, at, 1, 4, out)) {
            expect_f32("Concat [2,32,40,40] x2 axis 1 (threads)", tc.buf[0], want, 4 * half, 0, 0);
            /* Split undoes it: opset 13 equal split */
            struct tcase sp;
            struct tin sin[1] = {fin(4, out, tc.buf[0])};
            build(&sp, 13, "Split", 1, sin, 2, at, 1);
            CHECKF(sp.prep == QB_OK, "Split prepare: %s", sp.err.msg);
            if (sp.prep == QB_OK && run(&sp) == QB_OK) {
                expect_bytes("Split equal parts (threads) 0", sp.buf[0], a, (size_t)(2 * half) * 4);
                expect_bytes("Split equal parts (threads) 1", sp.buf[1], b, (size_t)(2 * half) * 4);
            }
            done(&sp);
        }
        done(&tc);
        free(a);
        free(b);
        free(want);
    }
    {
        /* unequal parts along the last axis: attribute (opset 11), input (13), num_outputs (18) */
        int64_t s[3] = {2, 3, 7}, sp[3] = {2, 3, 1}, split_v[3] = {3, 3, 1}, sh[3] = {3};
        float *x = rand_buf(42, -1, 1);
        struct qb_attr a11[2] = {attr_i("axis", -1), attr_is("split", 3, split_v)};
        struct qb_attr a18[2] = {attr_i("axis", -1), attr_i("num_outputs", 3)};
        struct tin in11[1] = {fin(3, s, x)}, in13[2] = {fin(3, s, x), cin(QB_DTYPE_I64, 1, sh, split_v)};
        for (int v = 0; v < 3; v++) {
            struct tcase t;
            const char *names[3] = {"Split opset 11 attribute", "Split opset 13 input", "Split opset 18 num_outputs"};
            if (v == 0)
                build(&t, 11, "Split", 1, in11, 3, a11, 2);
            else if (v == 1)
                build(&t, 13, "Split", 2, in13, 3, a11, 1);
            else
                build(&t, 18, "Split", 1, in11, 3, a18, 2);
            CHECKF(t.prep == QB_OK, "%s: %s", names[v], t.err.msg);
            if (t.prep == QB_OK && run(&t) == QB_OK) {
                const struct qb_value *y2 = qb_node_out(t.g, t.n, 2);
                bool ok = y2->ndim == 3 && y2->shape[2] == sp[2];
                for (int k = 0; k < 3 && ok; k++)
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < split_v[k]; j++)
                            ok = ok && ((float *)t.buf[k])[i * split_v[k] + j] == x[i * 7 + k * 3 + j];
                CHECKF(ok, "%s: wrong parts", names[v]);
            }
            done(&t);
        }
        free(x);
    }
}

/* ONNX slicing rules per dim (numpy-like), then a naive gather */
static void slice_case(int64_t opset, int nd, const int64_t *shape, int ns, const int64_t *starts, const int64_t *ends,
                       const int64_t *axes, const int64_t *steps, const char *what)
{
    int64_t st[QB_MAX_DIMS], sp[QB_MAX_DIMS], len[QB_MAX_DIMS], n = numel_of(nd, shape), on = 1, istr[QB_MAX_DIMS], s = 1;
    float *x = rand_buf(n, -1, 1);
    double *want;
    struct tcase tc;
    struct qb_attr at[3];
    int64_t cnt[1] = {ns};
    struct tin in[5];

    for (int d = nd - 1; d >= 0; d--) {
        istr[d] = s;
        s *= shape[d];
        st[d] = 0, sp[d] = 1, len[d] = shape[d];
    }
    for (int i = 0; i < ns; i++) {
        int a = (int)(axes[i] < 0 ? axes[i] + nd : axes[i]);
        int64_t dim = shape[a], b = starts[i], e = ends[i], step = steps ? steps[i] : 1, c = 0, first = -1;
        if (b < 0)
            b += dim;
        if (e < 0)
            e += dim;
        /* clamp, then count */
        if (step > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            for (int64_t k = b; k < e; k += step)
                c++, first = first < 0 ? k : first;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b; /* ONNX clamps here where python would not */
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            for (int64_t k = b; k > e; k += step)
                c++, first = first < 0 ? k : first;
        }
        st[a] = first < 0 ? 0 : first, sp[a] = step, len[a] = c;
    }
    on = numel_of(nd, len);
    want = malloc(sizeof(double) * (size_t)(on ? on : 1));
    for (int64_t j = 0; j < on; j++) {
        int64_t rem = j, off = 0;
        for (int d = nd - 1; d >= 0; d--) {
            off += (st[d] + (rem % len[d]) * sp[d]) * istr[d];
            rem /= len[d];
        }
        want[j] = x[off];
    }
    in[0] = fin(nd, shape, x);
    if (opset < 10) {
        at[0] = attr_is("starts", ns, (int64_t *)starts);
        at[1] = attr_is("ends", ns, (int64_t *)ends);
        at[2] = attr_is("axes", ns, (int64_t *)axes);
        if (build_run(&tc, opset, "Slice", 1, in, 1, at, 3, nd, len))
            expect_f32(what, tc.buf[0], want, on, 0, 0);
    } else {
        (void)cnt;
        in[1] = i64s(ns, starts);
        in[2] = i64s(ns, ends);
        in[3] = i64s(ns, axes);
        in[4] = steps ? i64s(ns, steps) : omitted;
        if (build_run(&tc, opset, "Slice", steps ? 5 : 4, in, 1, NULL, 0, nd, len))
            expect_f32(what, tc.buf[0], want, on, 0, 0);
    }
    done(&tc);
    free(x);
    free(want);
}

static void test_slice(void)
{
    int64_t s3[3] = {4, 5, 6}, big[4] = {2, 64, 40, 40};
    {
        int64_t b[1] = {1}, e[1] = {1000}, a[1] = {1};
        slice_case(9, 3, s3, 1, b, e, a, NULL, "Slice opset 9 attributes, end past the dim");
    }
    {
        int64_t b[2] = {-1, 0}, e[2] = {-1000, 3}, a[2] = {2, -3}, st[2] = {-2, 1};
        slice_case(13, 3, s3, 2, b, e, a, st, "Slice negative step, negative axis");
    }
    {
        int64_t b[3] = {INT64_MIN, 7, 1}, e[3] = {INT64_MAX, -8, 4}, a[3] = {0, 1, 2}, st[3] = {3, -1, 2};
        slice_case(13, 3, s3, 3, b, e, a, st, "Slice extreme bounds");
    }
    {
        int64_t b[1] = {3}, e[1] = {1}, a[1] = {1};
        slice_case(13, 3, s3, 1, b, e, a, NULL, "Slice empty result");
    }
    {
        int64_t b[1] = {32}, e[1] = {64}, a[1] = {1};
        slice_case(13, 4, big, 1, b, e, a, NULL, "Slice channels of [2,64,40,40] (threads)");
    }
    {
        int64_t b[2] = {1, 0}, e[2] = {40, 40}, a[2] = {2, 3}, st[2] = {2, 2};
        slice_case(13, 4, big, 2, b, e, a, st, "Slice stride 2 on H and W (threads)");
    }
}

static void test_reshape_family(void)
{
    int64_t s[3] = {2, 3, 4};
    float *x = rand_buf(24, -1, 1);
    double want[24];
    struct tcase tc;
    for (int i = 0; i < 24; i++)
        want[i] = x[i];
    {
        int64_t spec[2] = {0, -1}, out[2] = {2, 12};
        struct tin in[2] = {fin(3, s, x), i64s(2, spec)};
        if (build_run(&tc, 13, "Reshape", 2, in, 1, NULL, 0, 2, out))
            expect_f32("Reshape [0,-1]", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t spec[3] = {4, -1, 3}, out[3] = {4, 2, 3};
        struct qb_attr at[1] = {attr_is("shape", 3, spec)};
        struct tin in[1] = {fin(3, s, x)};
        if (build_run(&tc, 1, "Reshape", 1, in, 1, at, 1, 3, out))
            expect_f32("Reshape-1 shape attribute", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t zs[2] = {0, 3}, spec[2] = {3, 0}, out[2] = {3, 0};
        float none[1] = {0};
        struct qb_attr at[1] = {attr_i("allowzero", 1)};
        struct tin in[2] = {fin(2, zs, none), i64s(2, spec)};
        build_run(&tc, 14, "Reshape", 2, in, 1, at, 1, 2, out);
        done(&tc);
        /* without allowzero the 0 copies the input dim: [3, 3] holds 9, not 0 elements */
        build(&tc, 14, "Reshape", 2, in, 1, NULL, 0);
        CHECKF(tc.prep == QB_ERR_INVALID, "Reshape [3,0] of an empty [0,3] without allowzero: %d", tc.prep);
        done(&tc);
    }
    {
        int64_t out[2] = {6, 4}, out0[2] = {1, 24};
        struct qb_attr at[1] = {attr_i("axis", -1)}, at0[1] = {attr_i("axis", 0)};
        struct tin in[1] = {fin(3, s, x)};
        if (build_run(&tc, 13, "Flatten", 1, in, 1, at, 1, 2, out))
            expect_f32("Flatten axis=-1", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Flatten", 1, in, 1, at0, 1, 2, out0))
            expect_f32("Flatten axis=0", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t us[4] = {1, 2, 1, 12}, axes[2] = {0, -2}, out[2] = {2, 12}, out_all[2] = {2, 12}, ax1[1] = {-2};
        int64_t out1[3] = {1, 2, 12};
        struct qb_attr at[1] = {attr_is("axes", 1, ax1)};
        struct tin in11[1] = {fin(4, us, x)}, in13[2] = {fin(4, us, x), i64s(2, axes)};
        if (build_run(&tc, 11, "Squeeze", 1, in11, 1, at, 1, 3, out1))
            expect_f32("Squeeze opset 11 axes attribute", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Squeeze", 2, in13, 1, NULL, 0, 2, out))
            expect_f32("Squeeze opset 13 axes input", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Squeeze", 1, in11, 1, NULL, 0, 2, out_all))
            expect_f32("Squeeze all unit dims", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        {
            int64_t bad[1] = {1};
            struct tin inb[2] = {fin(4, us, x), i64s(1, bad)};
            build(&tc, 13, "Squeeze", 2, inb, 1, NULL, 0);
            CHECKF(tc.prep == QB_ERR_INVALID, "Squeeze of a dim of size 2: %d", tc.prep);
            done(&tc);
        }
    }
    {
        int64_t s2[2] = {2, 12}, axes[2] = {-1, 0}, out[4] = {1, 2, 12, 1};
        struct qb_attr at[1] = {attr_is("axes", 2, axes)};
        struct tin in11[1] = {fin(2, s2, x)}, in13[2] = {fin(2, s2, x), i64s(2, axes)};
        if (build_run(&tc, 11, "Unsqueeze", 1, in11, 1, at, 1, 4, out))
            expect_f32("Unsqueeze opset 11 negative axes", tc.buf[0], want, 24, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "Unsqueeze", 2, in13, 1, NULL, 0, 4, out))
            expect_f32("Unsqueeze opset 13 axes input", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        struct tin in[1] = {fin(3, s, x)};
        struct qb_attr at[2] = {attr_i("start", 1), attr_i("end", -1)};
        int64_t one[1] = {1}, w1[1] = {3}, wall[3] = {2, 3, 4}, three[1] = {3}, n24 = 24;
        if (build_run(&tc, 15, "Shape", 1, in, 1, at, 2, 1, one))
            expect_bytes("Shape start=1 end=-1", tc.buf[0], w1, 8);
        done(&tc);
        if (build_run(&tc, 13, "Shape", 1, in, 1, NULL, 0, 1, three))
            expect_bytes("Shape", tc.buf[0], wall, 24);
        done(&tc);
        if (build_run(&tc, 13, "Size", 1, in, 1, NULL, 0, 0, NULL))
            expect_bytes("Size", tc.buf[0], &n24, 8);
        done(&tc);
    }
    free(x);
}

static void test_index_ops(void)
{
    struct tcase tc;
    {
        int64_t ds[2] = {5, 4}, is[2] = {2, 3}, out[3] = {5, 2, 3}, ind[6] = {0, -1, 3, 2, -4, 1};
        float *x = rand_buf(20, -1, 1);
        double want[30];
        struct tin in[2] = {fin(2, ds, x), cin(QB_DTYPE_I64, 2, is, ind)};
        struct qb_attr at[1] = {attr_i("axis", -1)};
        for (int r = 0; r < 5; r++)
            for (int k = 0; k < 6; k++)
                want[r * 6 + k] = x[r * 4 + (ind[k] < 0 ? ind[k] + 4 : ind[k])];
        if (build_run(&tc, 13, "Gather", 2, in, 1, at, 1, 3, out))
            expect_f32("Gather axis=-1, negative indices", tc.buf[0], want, 30, 0, 0);
        done(&tc);
        {
            int32_t i32[3] = {4, 0, -5};
            int64_t s3[1] = {3}, out0[2] = {3, 4};
            struct tin in0[2] = {fin(2, ds, x), cin(QB_DTYPE_I32, 1, s3, i32)};
            for (int k = 0; k < 3; k++)
                for (int c = 0; c < 4; c++)
                    want[k * 4 + c] = x[(i32[k] < 0 ? i32[k] + 5 : i32[k]) * 4 + c];
            if (build_run(&tc, 11, "Gather", 2, in0, 1, NULL, 0, 2, out0))
                expect_f32("Gather axis 0, int32 indices", tc.buf[0], want, 12, 0, 0);
            done(&tc);
            i32[0] = 5;
            build(&tc, 11, "Gather", 2, in0, 1, NULL, 0);
            CHECKF(tc.prep == QB_ERR_INVALID, "Gather index out of range: prepare gave %d", tc.prep);
            done(&tc);
        }
        {
            int64_t gi[6] = {1, -1, 0, 3, 2, 2}, gs[2] = {2, 3};
            struct tin ge[2] = {fin(2, ds, x), cin(QB_DTYPE_I64, 2, gs, gi)};
            struct qb_attr a1[1] = {attr_i("axis", 1)};
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 3; c++)
                    want[r * 3 + c] = x[r * 4 + (gi[r * 3 + c] < 0 ? gi[r * 3 + c] + 4 : gi[r * 3 + c])];
            if (build_run(&tc, 13, "GatherElements", 2, ge, 1, a1, 1, 2, gs))
                expect_f32("GatherElements axis 1", tc.buf[0], want, 6, 0, 0);
            done(&tc);
        }
        free(x);
    }
    {
        int64_t xs[2] = {3, 1}, shape[3] = {2, 1, 4}, out[3] = {2, 3, 4};
        float x[3] = {1, 2, 3};
        double want[24];
        struct tin in[2] = {fin(2, xs, x), i64s(3, shape)};
        for (int i = 0; i < 24; i++)
            want[i] = x[(i / 4) % 3];
        if (build_run(&tc, 13, "Expand", 2, in, 1, NULL, 0, 3, out))
            expect_f32("Expand [3,1] to [2,1,4]", tc.buf[0], want, 24, 0, 0);
        done(&tc);
    }
    {
        int64_t xs[2] = {2, 3}, rep[2] = {2, 3}, out[2] = {4, 9};
        float x[6] = {1, 2, 3, 4, 5, 6};
        double want[36];
        struct tin in[2] = {fin(2, xs, x), i64s(2, rep)};
        for (int i = 0; i < 36; i++)
            want[i] = x[((i / 9) % 2) * 3 + (i % 9) % 3];
        if (build_run(&tc, 13, "Tile", 2, in, 1, NULL, 0, 2, out))
            expect_f32("Tile", tc.buf[0], want, 36, 0, 0);
        done(&tc);
    }
    {
        int64_t st[1] = {10}, li[1] = {1}, de[1] = {-3}, w[3] = {10, 7, 4}, three[1] = {3};
        struct tin in[3] = {cin(QB_DTYPE_I64, 0, NULL, st), cin(QB_DTYPE_I64, 0, NULL, li), cin(QB_DTYPE_I64, 0, NULL, de)};
        if (build_run(&tc, 11, "Range", 3, in, 1, NULL, 0, 1, three))
            expect_bytes("Range int64 negative delta", tc.buf[0], w, sizeof(w));
        done(&tc);
    }
    {
        float st[1] = {1}, li[1] = {5}, de[1] = {1.5f};
        double w[3] = {1, 2.5, 4};
        int64_t three[1] = {3};
        struct tin in[3] = {cin(QB_DTYPE_F32, 0, NULL, st), cin(QB_DTYPE_F32, 0, NULL, li), cin(QB_DTYPE_F32, 0, NULL, de)};
        if (build_run(&tc, 11, "Range", 3, in, 1, NULL, 0, 1, three))
            expect_f32("Range float", tc.buf[0], w, 3, 0, 0);
        done(&tc);
    }
}

static void test_scatter_compress(void)
{
    struct tcase tc;
    int64_t s[2] = {2, 3};
    float x[6] = {1, 2, 3, 4, 5, 6};
    {
        int64_t ind[4] = {0, 0, 2, -1}, is[2] = {2, 2};
        float upd[4] = {10, 20, 30, 40};
        struct tin in[3] = {fin(2, s, x), cin(QB_DTYPE_I64, 2, is, ind), cin(QB_DTYPE_F32, 2, is, upd)};
        struct qb_attr at[2] = {attr_i("axis", 1), attr_s("reduction", "add")};
        double w_add[6] = {31, 2, 3, 4, 5, 76}, w_none[6] = {20, 2, 3, 4, 5, 40};
        if (build_run(&tc, 16, "ScatterElements", 3, in, 1, at, 2, 2, s))
            expect_f32("ScatterElements add, duplicate and negative indices", tc.buf[0], w_add, 6, 0, 0);
        done(&tc);
        if (build_run(&tc, 13, "ScatterElements", 3, in, 1, at, 1, 2, s))
            expect_f32("ScatterElements none: the last write wins", tc.buf[0], w_none, 6, 0, 0);
        done(&tc);
        build(&tc, 16, "ScatterElements", 3, in, 1, (struct qb_attr[]){attr_s("reduction", "max")}, 1);
        expect_refused("ScatterElements reduction=max before opset 18", &tc);
    }
    {
        uint8_t cond[3] = {1, 0, 1};
        int64_t c3[1] = {3}, out[2] = {2, 2};
        struct tin in[2] = {fin(2, s, x), cin(QB_DTYPE_BOOL, 1, c3, cond)};
        struct qb_attr at[1] = {attr_i("axis", -1)};
        double w[4] = {1, 3, 4, 6};
        if (build_run(&tc, 11, "Compress", 2, in, 1, at, 1, 2, out))
            expect_f32("Compress axis -1", tc.buf[0], w, 4, 0, 0);
        done(&tc);
    }
}

/* Constant and ConstantOfShape take tensor attributes: a constant value of the graph */
static void test_constants(void)
{
    struct tcase tc;
    {
        int64_t v[3] = {4, -2, 9}, three[1] = {3};
        float f = 2.5f;
        struct qb_attr ai[1] = {attr_is("value_ints", 3, v)}, af[1] = {attr_f("value_float", f)};
        double wf[1] = {2.5};
        if (build_run(&tc, 13, "Constant", 0, NULL, 1, ai, 1, 1, three))
            expect_bytes("Constant value_ints", tc.buf[0], v, sizeof(v));
        done(&tc);
        if (build_run(&tc, 13, "Constant", 0, NULL, 1, af, 1, 0, NULL))
            expect_f32("Constant value_float", tc.buf[0], wf, 1, 0, 0);
        done(&tc);
    }
    {
        /* build by hand: the attribute's tensor must live in the same graph */
        struct qb_graph *g;
        struct qb_node *n;
        struct qb_error err = {0};
        int tv, sv, yv;
        int32_t seven = 7;
        int64_t shape[2] = {2, 3};

        assert(qb_graph_new("test.onnx", &g, NULL) == QB_OK);
        g->opset = 13;
        tv = qb_graph_intern_value(g, "");
        g->values[tv].dtype = QB_DTYPE_I32;
        g->values[tv].ndim = 1;
        g->values[tv].shape[0] = 1;
        g->values[tv].data = qb_arena_alloc(g->arena, 4);
        memcpy(g->values[tv].data, &seven, 4);
        g->values[tv].flags = QB_VALUE_CONST;
        sv = qb_graph_intern_value(g, "shape");
        g->values[sv].dtype = QB_DTYPE_I64;
        g->values[sv].ndim = 1;
        g->values[sv].shape[0] = 2;
        g->values[sv].data = qb_arena_alloc(g->arena, 16);
        memcpy(g->values[sv].data, shape, 16);
        g->values[sv].flags = QB_VALUE_CONST | QB_VALUE_INIT;
        yv = qb_graph_intern_value(g, "y");
        g->values[yv].producer = 0;
        g->values[yv].flags = QB_VALUE_OUTPUT;
        g->nodes = qb_arena_calloc(g->arena, 1, sizeof(*n));
        g->n_nodes = 1;
        n = &g->nodes[0];
        n->name = "n0";
        n->op_type = "ConstantOfShape";
        n->domain = "";
        n->n_in = n->n_out = n->n_attr = 1;
        n->in = qb_arena_calloc(g->arena, 1, sizeof(int));
        n->out = qb_arena_calloc(g->arena, 1, sizeof(int));
        n->in[0] = sv;
        n->out[0] = yv;
        n->attrs = qb_arena_calloc(g->arena, 1, sizeof(struct qb_attr));
        n->attrs[0] = (struct qb_attr){.name = "value", .type = QB_ATTR_TENSOR, .u.tensor = tv};
        g->outputs = qb_arena_calloc(g->arena, 1, sizeof(int));
        g->outputs[0] = yv;
        g->n_outputs = 1;
        CHECKF(qb_graph_prepare(g, &err) == QB_OK, "ConstantOfShape prepare: %s", err.msg);
        if (g->prepared) {
            const struct qb_value *y = &g->values[yv];
            int32_t want[6] = {7, 7, 7, 7, 7, 7};
            CHECKF(y->dtype == QB_DTYPE_I32 && y->ndim == 2 && y->shape[1] == 3 && (y->flags & QB_VALUE_CONST),
                   "ConstantOfShape output: %s rank %d", qb_dtype_name(y->dtype), y->ndim);
            if (y->data)
                expect_bytes("ConstantOfShape int32 7 (folded)", y->data, want, sizeof(want));
        }
        /* Constant with the same tensor */
        qb_graph_free(g);
    }
}

static double pad_src(const char *mode, int64_t o, int64_t begin, int64_t dim)
{
    int64_t i = o - begin;
    if (i >= 0 && i < dim)
        return (double)i;
    if (strcmp(mode, "edge") == 0)
        return i < 0 ? 0 : (double)(dim - 1);
    if (strcmp(mode, "reflect") == 0)
        return i < 0 ? (double)-i : (double)(2 * (dim - 1) - i);
    return -1;
}

static void test_pad(void)
{
    int64_t xs[2] = {3, 4};
    float *x = rand_buf(12, -1, 1);
    static const struct {
        const char *mode;
        int64_t pads[4];
        int opset;
    } cases[] = {
        {"constant", {1, 0, 2, 1}, 11}, {"reflect", {0, 2, 2, 3}, 13}, {"edge", {1, 1, 1, 1}, 13},
        {"constant", {-1, 1, 0, -2}, 13}, {"constant", {1, 2, 0, 1}, 2}, {"edge", {2, 0, 0, 3}, 18},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const int64_t *p = cases[c].pads;
        int64_t out[2] = {3 + p[0] + p[2], 4 + p[1] + p[3]}, on = out[0] * out[1];
        float cv[1] = {2.5f};
        double want[64];
        struct qb_attr at[3];
        struct tin in[4];
        struct tcase tc;
        char what[64];
        int na = 0, nin;

        for (int64_t i = 0; i < on; i++) {
            double r = pad_src(cases[c].mode, i / out[1], p[0], 3), q = pad_src(cases[c].mode, i % out[1], p[1], 4);
            want[i] = r < 0 || q < 0 ? 2.5 : x[(int)r * 4 + (int)q];
        }
        at[na++] = attr_s("mode", cases[c].mode);
        in[0] = fin(2, xs, x);
        if (cases[c].opset < 11) {
            at[na++] = attr_is("pads", 4, (int64_t *)p);
            at[na++] = attr_f("value", 2.5f);
            nin = 1;
        } else if (cases[c].opset < 18) {
            in[1] = i64s(4, p);
            in[2] = cin(QB_DTYPE_F32, 0, NULL, cv);
            nin = 3;
        } else {
            /* opset 18: pads for the listed axes only */
            static int64_t axes[2] = {-2, 1};
            in[1] = i64s(4, p);
            in[2] = cin(QB_DTYPE_F32, 0, NULL, cv);
            in[3] = i64s(2, axes);
            nin = 4;
        }
        snprintf(what, sizeof(what), "Pad %s opset %d #%zu", cases[c].mode, cases[c].opset, c);
        if (build_run(&tc, cases[c].opset, "Pad", nin, in, 1, at, na, 2, out))
            expect_f32(what, tc.buf[0], want, on, 0, 0);
        done(&tc);
    }
    free(x);
}

static void test_space_depth(void)
{
    int64_t xs[4] = {2, 8, 3, 2};
    float *x = rand_buf(96, -1, 1);
    double want[96];
    struct tcase tc;
    for (int crd = 0; crd < 2; crd++) {
        int64_t out[4] = {2, 2, 6, 4};
        struct qb_attr at[2] = {attr_i("blocksize", 2), attr_s("mode", crd ? "CRD" : "DCR")};
        struct tin in[1] = {fin(4, xs, x)};
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 2; c++)
                for (int h = 0; h < 6; h++)
                    for (int w = 0; w < 4; w++) {
                        int bh = h % 2, bw = w % 2, ic = crd ? c * 4 + bh * 2 + bw : (bh * 2 + bw) * 2 + c;
                        want[((n * 2 + c) * 6 + h) * 4 + w] = x[((n * 8 + ic) * 3 + h / 2) * 2 + w / 2];
                    }
        if (build_run(&tc, 13, "DepthToSpace", 1, in, 1, at, 2, 4, out))
            expect_f32(crd ? "DepthToSpace CRD" : "DepthToSpace DCR", tc.buf[0], want, 96, 0, 0);
        done(&tc);
    }
    {
        int64_t ss[4] = {1, 2, 4, 6}, out[4] = {1, 8, 2, 3};
        struct qb_attr at[1] = {attr_i("blocksize", 2)};
        struct tin in[1] = {fin(4, ss, x)};
        for (int c = 0; c < 8; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 3; w++) {
                    int ic = c % 2, b = c / 2, bh = b / 2, bw = b % 2;
                    want[(c * 2 + h) * 3 + w] = x[(ic * 4 + h * 2 + bh) * 6 + w * 2 + bw];
                }
        if (build_run(&tc, 13, "SpaceToDepth", 1, in, 1, at, 1, 4, out))
            expect_f32("SpaceToDepth", tc.buf[0], want, 48, 0, 0);
        done(&tc);
    }
    free(x);
}

/* refusals ---------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    int64_t s[2] = {2, 3};
    float x[6] = {0};
    struct tcase tc;
    {
        int64_t pads[4] = {0, 1, 0, 1};
        struct tin pin[2] = {fin(2, s, x), i64s(4, pads)};
        struct qb_attr pad_wrap[1] = {attr_s("mode", "wrap")};
        build(&tc, 18, "Pad", 2, pin, 1, pad_wrap, 1);
        expect_refused("Pad wrap before opset 19", &tc);
    }
    {
        int64_t pads[4] = {0, 3, 0, 0};
        struct tin pin[2] = {fin(2, s, x), i64s(4, pads)};
        struct qb_attr reflect[1] = {attr_s("mode", "reflect")};
        build(&tc, 13, "Pad", 2, pin, 1, reflect, 1);
        expect_refused("Pad reflect wider than the dim", &tc);
    }
    {
        struct tin in[2] = {fin(2, s, x), fin(1, s, x)};
        build(&tc, 13, "Reshape", 2, in, 1, NULL, 0);
        CHECKF(tc.prep == QB_ERR_UNSUPPORTED || tc.prep == QB_ERR_INVALID, "Reshape with a runtime shape: %d",
               tc.prep);
        done(&tc);
    }
    {
        struct tin in[1] = {fin(2, s, x)};
        struct qb_attr tm[1] = {attr_i("is_test", 0)};
        build(&tc, 6, "Dropout", 1, in, 1, tm, 1);
        expect_refused("Dropout is_test=0", &tc);
    }
}

int main(void)
{
    pool = qb_pool_new(2);
    assert(pool);
    test_transpose();
    test_concat_split();
    test_slice();
    test_reshape_family();
    test_index_ops();
    test_constants();
    test_scatter_compress();
    test_pad();
    test_space_depth();
    test_refusals();
    qb_pool_free(pool);
    return test_summary("test_ops_shape");
}
