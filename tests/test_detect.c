/* Detect-head decoding (core/detect): layout recognition and refusal, the strict
 * confidence threshold, multi-label, class-aware NMS with torchvision's strict IoU
 * test (threshold a double), tie order, the max_det and max_nms caps, the letterbox
 * mapping and clipping, both tensor layouts, batch items, NaN scores, and agreement
 * with a plain reference (torchvision's suppression loop over qsorted candidates) on
 * random outputs. Prints the time for a crowded image (30000 candidates, 300 kept). */
#include <math.h>
#include <time.h>

#include "core/detect.h"
#include "testutil.h"

/* an output tensor, [B, 4+nc, N] or [B, N, 4+nc] */
struct tens {
    int B, nc, N, cl;
    float *v;
};

static struct tens tens_new(int B, int nc, int N, int cl)
{
    struct tens t = {B, nc, N, cl, calloc((size_t)B * (size_t)(nc + 4) * (size_t)N, sizeof(float))};
    return t;
}

static float *at(const struct tens *t, int b, int ch, int a)
{
    const size_t C = (size_t)t->nc + 4;
    return t->cl ? &t->v[((size_t)b * t->N + a) * C + ch] : &t->v[((size_t)b * C + ch) * t->N + a];
}

static void put(const struct tens *t, int b, int a, float cx, float cy, float w, float h)
{
    *at(t, b, 0, a) = cx;
    *at(t, b, 1, a) = cy;
    *at(t, b, 2, a) = w;
    *at(t, b, 3, a) = h;
}

static void score(const struct tens *t, int b, int a, int c, float s)
{
    *at(t, b, 4 + c, a) = s;
}

static struct qb_detect_layout lay_of(const struct tens *t)
{
    return (struct qb_detect_layout){.batch = t->B, .anchors = t->N, .nc = t->nc, .channels_last = t->cl};
}

/* detections of batch item b, or -1 on error */
static int run(const struct tens *t, const struct qb_detect_opts *o, int b, const struct qb_letterbox *lb,
               struct qb_det *dets)
{
    struct qb_error err = {0};
    struct qb_detect_layout lay = lay_of(t);
    struct qb_detector *d = NULL;
    int n = -1;
    if (qb_detector_new(&lay, o, &d, &err) != QB_OK || qb_detect_image(d, t->v, b, lb, dets, &n, &err) != QB_OK) {
        fprintf(stderr, "detect: %s\n", err.msg);
        n = -1;
    }
    qb_detector_free(d);
    return n;
}

static int same_det(const struct qb_det *a, const struct qb_det *b)
{
    return memcmp(&a->box, &b->box, sizeof a->box) == 0 && memcmp(&a->conf, &b->conf, sizeof a->conf) == 0 &&
           a->cls == b->cls;
}

static int near_box(struct qb_box b, float x1, float y1, float x2, float y2, float tol)
{
    return fabsf(b.x1 - x1) <= tol && fabsf(b.y1 - y1) <= tol && fabsf(b.x2 - x2) <= tol && fabsf(b.y2 - y2) <= tol;
}

static void test_layout(void)
{
    struct qb_detect_layout l;
    struct qb_error err = {0};
    const int64_t cn[] = {1, 84, 8400}, nc_[] = {2, 8400, 84}, small[] = {4, 6, 2100}, tiny[] = {1, 5, 3};
    CHECK(qb_detect_layout(cn, 3, 0, &l, &err) == QB_OK && !l.channels_last && l.nc == 80 && l.anchors == 8400 &&
          l.batch == 1);
    CHECK(qb_detect_layout(cn, 3, 80, &l, &err) == QB_OK && !l.channels_last && l.nc == 80);
    CHECK(qb_detect_layout(nc_, 3, 0, &l, &err) == QB_OK && l.channels_last && l.nc == 80 && l.anchors == 8400 &&
          l.batch == 2);
    CHECK(qb_detect_layout(nc_, 3, 80, &l, &err) == QB_OK && l.channels_last);
    CHECK(qb_detect_layout(small, 3, 0, &l, &err) == QB_OK && !l.channels_last && l.nc == 2 && l.anchors == 2100);
    /* a known nc wins over "the smaller dimension" */
    CHECK(qb_detect_layout(tiny, 3, 1, &l, &err) == QB_OK && !l.channels_last && l.nc == 1 && l.anchors == 3);

    struct {
        int64_t shape[4];
        int rank, nc;
        const char *needle;
    } bad[] = {
        {{84, 8400}, 2, 0, "[84, 8400]"},
        {{1, 1, 84, 8400}, 4, 0, "[1, 1, 84, 8400]"},
        {{1, 4, 8400}, 3, 0, "[1, 4, 8400]"},
        {{1, 84, 84}, 3, 0, "[1, 84, 84]"},
        {{1, 84, 84}, 3, 80, "ambiguous"},
        {{1, 85, 8400}, 3, 80, "4+nc = 84"},
        {{1, 84, 0}, 3, 0, "[1, 84, 0]"},
        {{-1, 84, 8400}, 3, 0, "[-1, 84, 8400]"},
        {{1, 84, 8400}, 3, -3, "negative"},
        {{1, 3, 8400}, 3, 0, "no class scores"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        const enum qb_status st = qb_detect_layout(bad[i].shape, bad[i].rank, bad[i].nc, &l, &err);
        CHECKF(st != QB_OK && strstr(err.msg, bad[i].needle), "bad layout %zu: status %d, msg '%s' lacks '%s'", i,
               (int)st, err.msg, bad[i].needle);
    }
    CHECK(qb_detect_layout(NULL, 3, 0, &l, NULL) == QB_ERR_UNSUPPORTED);
}

static void test_threshold_and_multilabel(void)
{
    struct tens t = tens_new(1, 4, 16, 0);
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det dets[300];
    for (int a = 0; a < 16; a++)
        put(&t, 0, a, 40.0f * (float)a + 20.0f, 100, 20, 20); /* disjoint */
    score(&t, 0, 0, 0, 0.001f);                               /* equal to conf: dropped */
    score(&t, 0, 1, 1, nextafterf(0.001f, 1.0f));             /* just above: kept */
    score(&t, 0, 2, 2, 0.5f);
    score(&t, 0, 2, 3, 0.25f); /* the same anchor, a second class */
    int n = run(&t, &o, 0, NULL, dets);
    CHECKF(n == 3, "threshold/multi-label: %d detections, expected 3", n);
    if (n == 3) {
        CHECK(dets[0].cls == 2 && dets[0].conf == 0.5f && dets[1].cls == 3 && dets[1].conf == 0.25f);
        CHECK(dets[2].cls == 1 && dets[2].conf == nextafterf(0.001f, 1.0f));
        CHECK(memcmp(&dets[0].box, &dets[1].box, sizeof dets[0].box) == 0);
        CHECK(near_box(dets[0].box, 90, 90, 110, 110, 0));
    }
    o.multi_label = 0; /* best class per anchor */
    n = run(&t, &o, 0, NULL, dets);
    CHECK(n == 2 && dets[0].cls == 2 && dets[1].cls == 1);
    o = qb_detect_opts_default();
    o.conf = 0.25f; /* strict at a larger threshold too */
    n = run(&t, &o, 0, NULL, dets);
    CHECK(n == 1 && dets[0].cls == 2);
    free(t.v);
}

static void test_nms(void)
{
    struct tens t = tens_new(1, 3, 8, 0);
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det dets[300];
    /* anchors 0 and 1 overlap by IoU 0.8 (10x10 vs 10x8 inside it) */
    put(&t, 0, 0, 50, 50, 10, 10);
    put(&t, 0, 1, 50, 49, 10, 8);
    score(&t, 0, 0, 0, 0.9f);
    score(&t, 0, 1, 0, 0.8f);
    int n = run(&t, &o, 0, NULL, dets);
    CHECKF(n == 1 && dets[0].conf == 0.9f, "same class, IoU 0.8: %d kept, expected 1", n);
    score(&t, 0, 1, 0, 0.0f);
    score(&t, 0, 1, 1, 0.8f); /* the same boxes, different classes */
    n = run(&t, &o, 0, NULL, dets);
    CHECKF(n == 2 && dets[0].cls == 0 && dets[1].cls == 1, "different classes: %d kept, expected 2", n);
    score(&t, 0, 1, 1, 0.95f); /* one anchor's two classes at the same box: both kept, score order */
    score(&t, 0, 1, 0, 0.9f);
    n = run(&t, &o, 0, NULL, dets);
    CHECK(n == 2 && dets[0].conf == 0.95f && dets[0].cls == 1 && dets[1].cls == 0 && dets[1].conf == 0.9f);
    free(t.v);

    /* IoU exactly at the threshold: 3/5 and 7/10 and 1/2 in float */
    struct {
        float wa, wb;
        double iou;
        int kept;
    } cases[] = {
        {5, 10, 0.5, 2},  /* IoU 0.5 == 0.5: kept (strict) */
        {5, 10, 0.49, 1}, /* suppressed */
        {7, 10, 0.7, 2},  /* 0.7f < 0.7: kept */
        {3, 5, 0.6, 1},   /* 0.6f > 0.6 (double): suppressed, as torchvision */
        {3, 5, 0.61, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int c = 0; c < 3; c += 2) { /* class 0 and class 2 (offset 15360) */
            struct tens u = tens_new(1, 3, 4, 0);
            put(&u, 0, 0, cases[i].wa / 2, 0.5f, cases[i].wa, 1); /* [0, 0, wa, 1] */
            put(&u, 0, 1, cases[i].wb / 2, 0.5f, cases[i].wb, 1); /* [0, 0, wb, 1] */
            score(&u, 0, 0, c, 0.9f);
            score(&u, 0, 1, c, 0.8f);
            o.iou = cases[i].iou;
            n = run(&u, &o, 0, NULL, dets);
            CHECKF(n == cases[i].kept, "IoU %g/%g at threshold %g, class %d: %d kept, expected %d", cases[i].wa,
                   cases[i].wb, cases[i].iou, c, n, cases[i].kept);
            free(u.v);
        }
    }

    /* boxes wider than the class offset: torchvision suppresses across classes */
    struct tens h = tens_new(1, 2, 2, 0);
    o = qb_detect_opts_default();
    put(&h, 0, 0, 50000, 50000, 100000, 100000);
    score(&h, 0, 0, 0, 0.9f);
    score(&h, 0, 0, 1, 0.8f);
    n = run(&h, &o, 0, NULL, dets);
    CHECKF(n == 1 && dets[0].cls == 0, "huge boxes: %d kept, expected 1 (cross-class IoU 0.74)", n);
    free(h.v);
}

static void test_ties_and_caps(void)
{
    struct tens t = tens_new(1, 2, 12, 1);
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det dets[300];
    /* equal scores, identical boxes: the lower anchor wins */
    put(&t, 0, 5, 100, 100, 30, 30);
    put(&t, 0, 3, 100, 100, 30, 30);
    score(&t, 0, 5, 0, 0.5f);
    score(&t, 0, 3, 0, 0.5f);
    put(&t, 0, 7, 300, 300, 30, 30);
    score(&t, 0, 7, 1, 0.5f);
    score(&t, 0, 7, 0, 0.5f);
    int n = run(&t, &o, 0, NULL, dets);
    CHECKF(n == 3, "ties: %d detections, expected 3", n);
    if (n == 3) {
        CHECK(dets[0].cls == 0 && dets[0].box.x1 == 85); /* anchor 3 */
        CHECK(dets[1].cls == 0 && dets[1].box.x1 == 285 && dets[2].cls == 1); /* anchor 7, class 0 first */
    }
    free(t.v);

    /* ten disjoint boxes, scores 0.1 .. 1.0 */
    struct tens u = tens_new(1, 1, 10, 0);
    for (int a = 0; a < 10; a++) {
        put(&u, 0, a, 50.0f * (float)a + 25.0f, 25, 40, 40);
        score(&u, 0, a, 0, 0.1f * (float)(a + 1));
    }
    o.max_det = 4;
    n = run(&u, &o, 0, NULL, dets);
    CHECK(n == 4 && dets[0].conf == 1.0f && dets[3].box.x1 == 50.0f * 6 + 5);
    o = qb_detect_opts_default();
    o.max_nms = 3;
    n = run(&u, &o, 0, NULL, dets);
    CHECK(n == 3 && dets[2].conf == 0.1f * 8);
    /* the cap applies before NMS: anchor 8 (0.9) overlaps anchor 9 (1.0), so of the top
     * three only 9 and 7 remain; without the cap anchor 6 would fill in */
    put(&u, 0, 8, 472, 25, 40, 40);
    n = run(&u, &o, 0, NULL, dets);
    CHECK(n == 2 && dets[0].conf == 1.0f && dets[1].conf == 0.1f * 8);
    o.max_nms = 30000;
    n = run(&u, &o, 0, NULL, dets);
    CHECK(n == 9);
    free(u.v);

    /* all 1500 scores equal: the max_nms cap keeps the lowest (anchor, class) */
    struct tens e = tens_new(1, 3, 500, 0);
    for (int a = 0; a < 500; a++) {
        put(&e, 0, a, 10.0f * (float)a, 0, 1, 1); /* disjoint */
        for (int c = 0; c < 3; c++)
            score(&e, 0, a, c, 0.5f);
    }
    o.max_nms = 100;
    o.max_det = 100;
    n = run(&e, &o, 0, NULL, dets);
    int in_order = n == 100;
    for (int i = 0; in_order && i < n; i++)
        in_order = dets[i].cls == i % 3 && dets[i].box.x1 == 10.0f * (float)(i / 3) - 0.5f;
    CHECKF(in_order, "equal scores under the cap: %d detections, not anchors 0..33 in (anchor, class) order", n);
    free(e.v);
}

/* Ultralytics' letterbox: r = min(dst/h, dst/w), new size round(w*r), pads round(d - 0.1) */
static struct qb_letterbox lbox(int w, int h, int dst)
{
    const double r = fmin((double)dst / h, (double)dst / w);
    const int nw = (int)nearbyint(w * r), nh = (int)nearbyint(h * r);
    return (struct qb_letterbox){.src_w = w,
                                 .src_h = h,
                                 .scale = (float)r,
                                 .pad_left = (int)nearbyint((dst - nw) / 2.0 - 0.1),
                                 .pad_top = (int)nearbyint((dst - nh) / 2.0 - 0.1)};
}

static void test_letterbox(void)
{
    struct {
        int w, h, pad_left, pad_top;
    } imgs[] = {
        {1000, 600, 0, 128}, /* landscape, downscaled */
        {640, 427, 0, 106},  /* odd padding: 213 = 106 top + 107 bottom */
        {427, 640, 106, 0},  /* portrait, odd padding */
        {333, 500, 107, 0},  /* portrait, upscaled 1.28 */
    };
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det dets[300];
    for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++) {
        const struct qb_letterbox lb = lbox(imgs[i].w, imgs[i].h, 640);
        CHECKF(lb.pad_left == imgs[i].pad_left && lb.pad_top == imgs[i].pad_top, "image %zu: pads %d,%d", i,
               lb.pad_left, lb.pad_top);
        const float W = (float)imgs[i].w, H = (float)imgs[i].h;
        /* one box inside, one crossing the top-left and one the bottom-right edge */
        const float ob[3][4] = {
            {0.1f * W, 0.2f * H, 0.6f * W, 0.7f * H}, {-0.1f * W, -0.1f * H, 0.3f * W, 0.4f * H},
            {0.7f * W, 0.5f * H, 1.2f * W, 1.3f * H}};
        struct tens t = tens_new(1, 3, 3, 0);
        for (int a = 0; a < 3; a++) {
            const float x1 = ob[a][0] * lb.scale + (float)lb.pad_left, y1 = ob[a][1] * lb.scale + (float)lb.pad_top;
            const float x2 = ob[a][2] * lb.scale + (float)lb.pad_left, y2 = ob[a][3] * lb.scale + (float)lb.pad_top;
            put(&t, 0, a, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1);
            score(&t, 0, a, a, 0.9f - 0.1f * (float)a);
        }
        const int n = run(&t, &o, 0, &lb, dets);
        CHECKF(n == 3, "image %zu: %d detections", i, n);
        if (n != 3)
            continue;
        const float tol = 1e-3f * W;
        CHECKF(near_box(dets[0].box, ob[0][0], ob[0][1], ob[0][2], ob[0][3], tol),
               "image %zu: box (%g %g %g %g) expected (%g %g %g %g)", i, dets[0].box.x1, dets[0].box.y1,
               dets[0].box.x2, dets[0].box.y2, ob[0][0], ob[0][1], ob[0][2], ob[0][3]);
        CHECK(dets[1].box.x1 == 0.0f && dets[1].box.y1 == 0.0f && near_box(dets[1].box, 0, 0, ob[1][2], ob[1][3], tol));
        CHECK(dets[2].box.x2 == W && dets[2].box.y2 == H && near_box(dets[2].box, ob[2][0], ob[2][1], W, H, tol));
        /* the exact float formula: (x - pad) / scale */
        const float x1 = *at(&t, 0, 0, 0) - *at(&t, 0, 2, 0) / 2;
        CHECK(dets[0].box.x1 == (x1 - (float)lb.pad_left) / lb.scale);
        free(t.v);
    }
    /* bad letterbox is refused */
    struct tens t = tens_new(1, 1, 2, 0);
    struct qb_letterbox bad = {.src_w = 0, .src_h = 10, .scale = 1};
    CHECK(run(&t, &o, 0, &bad, dets) == -1);
    free(t.v);
}

static void fill_random(struct tens *t, int clusters, float max_w)
{
    for (int b = 0; b < t->B; b++)
        for (int a = 0; a < t->N; a++) {
            const int k = a % clusters; /* anchors cluster around a few objects */
            const float cx = 37.0f * (float)k + 5.0f * rfloat(), cy = 23.0f * (float)(k % 7) + 5.0f * rfloat();
            put(t, b, a, cx, cy, max_w * (0.55f + 0.45f * rfloat()), max_w * (0.55f + 0.45f * rfloat()));
            for (int c = 0; c < t->nc; c++) {
                float s = 0.5f + 0.5f * rfloat();
                s = s * s * s;
                if (rnd() % 4 == 0)
                    s = floorf(s * 16) / 16; /* ties */
                score(t, b, a, c, s);
            }
        }
}

static void transpose(const struct tens *src, struct tens *dst)
{
    for (int b = 0; b < src->B; b++)
        for (int ch = 0; ch < src->nc + 4; ch++)
            for (int a = 0; a < src->N; a++)
                *at(dst, b, ch, a) = *at(src, b, ch, a);
}

static void test_layouts_and_batch(void)
{
    struct tens cn = tens_new(3, 5, 700, 0), nc = tens_new(3, 5, 700, 1);
    fill_random(&cn, 50, 60);
    transpose(&cn, &nc);
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det *d1 = calloc(300, sizeof *d1), *d2 = calloc(300, sizeof *d2);
    const struct qb_letterbox lb = lbox(1000, 600, 640);
    for (int b = 0; b < 3; b++) {
        const int n1 = run(&cn, &o, b, &lb, d1), n2 = run(&nc, &o, b, &lb, d2);
        int same = n1 == n2 && n1 > 0;
        for (int i = 0; same && i < n1; i++)
            same = same_det(&d1[i], &d2[i]);
        CHECKF(same, "batch item %d: [B, 4+nc, N] gives %d detections, [B, N, 4+nc] %d, or they differ", b, n1, n2);
    }
    /* batch item 2 alone: distinct boxes there, none elsewhere */
    struct tens t = tens_new(3, 2, 64, 0);
    put(&t, 2, 10, 320, 320, 100, 50);
    score(&t, 2, 10, 1, 0.7f);
    put(&t, 0, 10, 100, 100, 10, 10);
    score(&t, 0, 10, 0, 0.9f);
    int n = run(&t, &o, 2, NULL, d1);
    CHECK(n == 1 && d1[0].cls == 1 && d1[0].conf == 0.7f && near_box(d1[0].box, 270, 295, 370, 345, 0));
    n = run(&t, &o, 1, NULL, d1);
    CHECK(n == 0);
    CHECK(run(&t, &o, 3, NULL, d1) == -1 && run(&t, &o, -1, NULL, d1) == -1);
    free(t.v);
    free(cn.v);
    free(nc.v);
    free(d1);
    free(d2);
}

static void test_nan(void)
{
    struct tens t = tens_new(1, 3, 4, 0);
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det dets[300];
    put(&t, 0, 0, 50, 50, 10, 10);
    put(&t, 0, 1, 150, 50, 10, 10);
    score(&t, 0, 0, 0, 0.9f);
    score(&t, 0, 0, 2, NAN); /* amax is NaN: the whole anchor goes, as in Ultralytics */
    score(&t, 0, 1, 1, 0.8f);
    int n = run(&t, &o, 0, NULL, dets);
    CHECK(n == 1 && dets[0].cls == 1);
    o.multi_label = 0;
    n = run(&t, &o, 0, NULL, dets);
    CHECK(n == 1 && dets[0].cls == 1);
    free(t.v);
}

/* --- reference: candidates qsorted, torchvision's CPU suppression loop --- */

struct cand {
    float s;
    int a, c;
};

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *x = pa, *y = pb;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

static float fmx(float a, float b)
{
    return a < b ? b : a;
}

static float fmn(float a, float b)
{
    return b < a ? b : a;
}

static int ref_detect(const struct tens *t, int b, const struct qb_detect_opts *o, struct qb_det *out)
{
    struct cand *cs = malloc((size_t)t->N * (size_t)t->nc * sizeof *cs);
    size_t n = 0;
    for (int a = 0; a < t->N; a++) {
        float amax = *at(t, b, 4, a);
        int arg = 0;
        for (int c = 1; c < t->nc && amax == amax; c++) {
            const float s = *at(t, b, 4 + c, a);
            if (s > amax || s != s) {
                amax = s;
                arg = c;
            }
        }
        if (!(amax > o->conf))
            continue;
        if (!o->multi_label || t->nc == 1)
            cs[n++] = (struct cand){amax, a, arg};
        else
            for (int c = 0; c < t->nc; c++)
                if (*at(t, b, 4 + c, a) > o->conf)
                    cs[n++] = (struct cand){*at(t, b, 4 + c, a), a, c};
    }
    qsort(cs, n, sizeof *cs, cand_cmp);
    if (n > (size_t)o->max_nms)
        n = (size_t)o->max_nms;
    float(*bx)[4] = malloc((n + 1) * sizeof *bx), (*ob)[4] = malloc((n + 1) * sizeof *ob);
    float *area = malloc((n + 1) * sizeof *area);
    unsigned char *sup = calloc(n + 1, 1);
    for (size_t i = 0; i < n; i++) {
        const int a = cs[i].a;
        const float cx = *at(t, b, 0, a), cy = *at(t, b, 1, a), hw = *at(t, b, 2, a) / 2, hh = *at(t, b, 3, a) / 2;
        const float off = (float)cs[i].c * 7680.0f;
        bx[i][0] = cx - hw, bx[i][1] = cy - hh, bx[i][2] = cx + hw, bx[i][3] = cy + hh;
        for (int j = 0; j < 4; j++)
            ob[i][j] = bx[i][j] + off;
        area[i] = (ob[i][2] - ob[i][0]) * (ob[i][3] - ob[i][1]);
    }
    int kept = 0;
    for (size_t i = 0; i < n && kept < o->max_det; i++) {
        if (sup[i])
            continue;
        out[kept++] = (struct qb_det){.box = {bx[i][0], bx[i][1], bx[i][2], bx[i][3]}, .conf = cs[i].s, .cls = cs[i].c};
        for (size_t j = i + 1; j < n; j++) {
            if (sup[j])
                continue;
            const float w = fmx(0.0f, fmn(ob[i][2], ob[j][2]) - fmx(ob[i][0], ob[j][0]));
            const float h = fmx(0.0f, fmn(ob[i][3], ob[j][3]) - fmx(ob[i][1], ob[j][1]));
            const float inter = w * h;
            const float ovr = inter / (area[i] + area[j] - inter);
            if (ovr > o->iou)
                sup[j] = 1;
        }
    }
    free(cs);
    free(bx);
    free(ob);
    free(area);
    free(sup);
    return kept;
}

static void test_against_reference(void)
{
    struct {
        int nc, N, clusters, multi, max_nms, max_det;
        float max_w, conf;
        double iou;
    } cfg[] = {
        {6, 600, 40, 1, 30000, 300, 60, 0.001f, 0.7},
        {6, 600, 40, 1, 1000, 300, 60, 0.001f, 0.7},  /* the max_nms select */
        {6, 600, 40, 1, 1000, 50, 60, 0.001f, 0.45},
        {6, 600, 15, 0, 30000, 300, 60, 0.001f, 0.6},  /* best class only */
        {1, 900, 30, 1, 500, 300, 80, 0.001f, 0.7},    /* one class */
        {4, 500, 20, 1, 30000, 300, 12000, 0.001f, 0.7}, /* boxes wider than the offset */
        {80, 400, 25, 1, 30000, 300, 50, 0.25f, 0.7},
        {6, 600, 600, 1, 777, 777, 0.5f, 0.001f, 0.7}, /* disjoint boxes: the exact top 777 */
    };
    struct qb_det *d1 = calloc(1000, sizeof *d1), *d2 = calloc(1000, sizeof *d2);
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        struct tens t = tens_new(2, cfg[i].nc, cfg[i].N, (int)(i & 1));
        fill_random(&t, cfg[i].clusters, cfg[i].max_w);
        struct qb_detect_opts o = {.conf = cfg[i].conf,
                                   .iou = cfg[i].iou,
                                   .max_det = cfg[i].max_det,
                                   .max_nms = cfg[i].max_nms,
                                   .multi_label = cfg[i].multi};
        for (int b = 0; b < 2; b++) {
            const int n1 = run(&t, &o, b, NULL, d1), n2 = ref_detect(&t, b, &o, d2);
            int first = -1;
            for (int k = 0; k < n1 && k < n2 && first < 0; k++)
                if (!same_det(&d1[k], &d2[k]))
                    first = k;
            CHECKF(n1 == n2 && n1 > 0 && first < 0 && (i + 1 < sizeof cfg / sizeof cfg[0] || n1 == 777), "config %zu, item %d: %d detections vs reference %d, first diff %d",
                   i, b, n1, n2, first);
        }
        free(t.v);
    }
    free(d1);
    free(d2);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int same_as_reference(const struct tens *t, const struct qb_detect_opts *o, const struct qb_det *dets, int n)
{
    struct qb_det *ref = calloc((size_t)o->max_det, sizeof *ref);
    const int nref = ref_detect(t, 0, o, ref);
    int same = n == nref;
    for (int i = 0; same && i < n; i++)
        same = same_det(&dets[i], &ref[i]);
    free(ref);
    return same;
}

/* Decodes t repeatedly with one detector; returns ms per image. */
static double time_detect(const struct tens *t, int reps, struct qb_det *dets, int *n, int64_t *cand)
{
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_detect_layout lay = lay_of(t);
    struct qb_detector *d = NULL;
    struct qb_error err = {0};
    double ms = -1;
    *n = -1;
    CHECK(qb_detector_new(&lay, &o, &d, &err) == QB_OK);
    if (d && qb_detect_image(d, t->v, 0, NULL, dets, n, &err) == QB_OK) { /* warm-up */
        const double t0 = now_ms();
        for (int r = 0; r < reps; r++)
            qb_detect_image(d, t->v, 0, NULL, dets, n, &err);
        ms = (now_ms() - t0) / reps;
        *cand = qb_detector_candidates(d);
    }
    qb_detector_free(d);
    return ms;
}

/* YOLO11n at 640 on a crowded image: 8400 anchors x 80 classes, 75 places with 100
 * anchors each scoring on 4 classes: 30000 candidates into NMS, 300 kept. Scores
 * fall place by place, so the kept lists grow all the way through and every
 * duplicate is suppressed by the last box of its class list (the longest scan).
 * Spread over more than 7680 px in x and y, the boxes too far apart for per-class buckets: every kept
 * box is compared. */
static void crowded(struct tens *t, float step)
{
    memset(t->v, 0, (size_t)(t->nc + 4) * (size_t)t->N * sizeof(float));
    for (int k = 0; k < 75; k++)
        for (int j = 0; j < 100; j++) {
            const int a = k * 100 + j;
            const float cx = 40.0f + step * (float)k, cy = step > 100 ? cx : 40.0f + 40.0f * (float)(k % 13);
            put(t, 0, a, cx + 0.5f * rfloat(), cy + 0.5f * rfloat(), 30 + rfloat(), 30 + rfloat());
            for (int c = 0; c < 4; c++)
                score(t, 0, a, c, 0.9f - 0.01f * (float)k - 0.00002f * (float)(j * 4 + c));
        }
}

static void test_timing(void)
{
    struct tens t = tens_new(1, 80, 8400, 0);
    struct qb_detect_opts o = qb_detect_opts_default();
    struct qb_det *dets = calloc(300, sizeof *dets);
    int n;
    int64_t cand = 0;
    const struct {
        float step;
        const char *what;
    } sc[] = {{8.0f, "per-class buckets"}, {110.0f, "boxes span > 7680 px, one bucket"}};
    for (int i = 0; i < 2; i++) {
        crowded(&t, sc[i].step);
        const double ms = time_detect(&t, 10, dets, &n, &cand);
        CHECKF(n == 300 && cand == 30000 && same_as_reference(&t, &o, dets, n),
               "crowded image (%s): %d kept, %lld candidates", sc[i].what, n, (long long)cand);
        printf("crowded image, %s: %lld candidates, %d kept: %.2f ms per image\n", sc[i].what, (long long)cand, n,
               ms);
    }
    /* every score above conf: 672000 candidates, the max_nms select */
    for (int a = 0; a < t.N; a++) {
        put(&t, 0, a, 320 + 300 * rfloat(), 320 + 300 * rfloat(), 20 + 10 * rfloat(), 20 + 10 * rfloat());
        for (int c = 0; c < t.nc; c++)
            score(&t, 0, a, c, 0.002f + 0.9f * (0.5f + 0.5f * rfloat()));
    }
    const double ms = time_detect(&t, 5, dets, &n, &cand);
    CHECKF(cand == 672000 && same_as_reference(&t, &o, dets, n), "all candidates: %d kept, %lld candidates", n,
           (long long)cand);
    printf("all scores above conf: %lld candidates, %d kept: %.2f ms per image\n", (long long)cand, n, ms);
    free(dets);
    free(t.v);
}

int main(void)
{
    test_layout();
    test_threshold_and_multilabel();
    test_nms();
    test_ties_and_caps();
    test_letterbox();
    test_layouts_and_batch();
    test_nan();
    test_against_reference();
    test_timing();
    return test_summary("test_detect");
}
