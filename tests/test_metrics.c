/* Detection metrics (core/metrics): Ultralytics' matching rules (greedy by IoU per
 * detection, a shared label to the first detection, IoU >= threshold in float32),
 * numpy's np.interp on repeated points, the 101-point trapezoid AP (0.995 for a
 * perfect class), P and R at the best smoothed mean F1, the "all" row over labelled
 * classes only, empty images, and the printed table. Expected numbers are worked out
 * by hand in the comments; the implementation was cross-checked bit for bit against
 * a numpy transcription of Ultralytics during development. */
#include <math.h>
#include <time.h>

#include "core/metrics.h"
#include "testutil.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)
#define CHECK_NEAR(a, b) CHECKF(NEAR(a, b), "%s = %.17g, expected %.17g", #a, (double)(a), (double)(b))

/* 100 trapezoids of the 101-point AP: a curve at precision v up to recall 1 (then the
 * sentinel 0) gives 99 * 0.01 * v + 0.01 * v / 2 = 0.995 v */
#define AP_FLAT(v) (0.995 * (v))

static struct qb_det D(float x1, float y1, float x2, float y2, float conf, int cls)
{
    return (struct qb_det){.box = {x1, y1, x2, y2}, .conf = conf, .cls = cls};
}

static struct qb_gt G(float x1, float y1, float x2, float y2, int cls)
{
    return (struct qb_gt){.box = {x1, y1, x2, y2}, .cls = cls};
}

/* correct bits of detection i as a mask over thresholds */
static unsigned mask_of(const unsigned char *correct, int i)
{
    unsigned m = 0;
    for (int t = 0; t < QB_N_IOU; t++)
        m |= (unsigned)correct[i * QB_N_IOU + t] << t;
    return m;
}

#define TMASK(lo, hi) ((((1u << ((hi) + 1)) - 1u) >> (lo)) << (lo)) /* thresholds lo..hi */

static void summarise(struct qb_metrics *m, struct qb_map_result *r)
{
    struct qb_error err = {0};
    enum qb_status st = qb_metrics_summary(m, r, &err);
    CHECKF(st == QB_OK, "summary: %s", err.msg);
}

static void add(struct qb_metrics *m, const struct qb_det *d, int nd, const struct qb_gt *g, int ng)
{
    struct qb_error err = {0};
    enum qb_status st = qb_metrics_add(m, d, nd, g, ng, &err);
    CHECKF(st == QB_OK, "add: %s", err.msg);
}

static void test_thresholds_and_iou(void)
{
    CHECK(qb_iou_threshold(0) == 0.5f);
    CHECK(qb_iou_threshold(5) == 0.75f);
    CHECK(qb_iou_threshold(9) == 0.95f);
    struct qb_box a = {0, 0, 10, 10}, b = {0, 0, 10, 20}, c = {20, 20, 30, 30}, d = {0, 0, 10, 7.5f};
    CHECK(qb_box_iou(&a, &a) == 1.0f); /* 100 / (100 + 1e-7f): the eps vanishes in float */
    CHECK(qb_box_iou(&a, &b) == 0.5f);
    CHECK(qb_box_iou(&a, &c) == 0.0f);
    CHECK(qb_box_iou(&a, &d) == 0.75f);
}

/* IoU exactly at a threshold counts (>=), compared in float32 */
static void test_threshold_boundaries(void)
{
    struct qb_gt g[] = {G(0, 0, 10, 10, 0)};
    struct qb_det half[] = {D(0, 0, 10, 20, 0.9f, 0)};       /* IoU 0.5 */
    struct qb_det three_q[] = {D(0, 0, 10, 7.5f, 0.9f, 0)};   /* IoU 0.75 */
    struct qb_gt wide[] = {G(0, 0, 100, 1, 0)};
    struct qb_det p65[] = {D(0, 0, 65, 1, 0.9f, 0)};          /* IoU 65/100 = 0.65f < 0.65 */
    unsigned char correct[QB_N_IOU];
    CHECK(qb_match(half, 1, g, 1, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 0), "IoU 0.5: mask %#x", mask_of(correct, 0));
    CHECK(qb_match(three_q, 1, g, 1, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 5), "IoU 0.75: mask %#x", mask_of(correct, 0));
    /* Ultralytics compares float32 with float32(0.65) (torch.linspace): counts at "0.65";
     * a comparison in double would drop it */
    CHECK(qb_match(p65, 1, wide, 1, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 3), "IoU 0.65f: mask %#x", mask_of(correct, 0));
}

static void test_match_rules(void)
{
    unsigned char correct[4 * QB_N_IOU];
    /* duplicate: the same box twice, the second (lower in NMS order) is a false positive */
    struct qb_gt g1[] = {G(0, 0, 10, 10, 0)};
    struct qb_det dup[] = {D(0, 0, 10, 10, 0.9f, 0), D(0, 0, 10, 10, 0.8f, 0)};
    CHECK(qb_match(dup, 2, g1, 1, correct, NULL) == QB_OK);
    CHECK(mask_of(correct, 0) == TMASK(0, 9) && mask_of(correct, 1) == 0);

    /* wrong class on a perfect box: never a match */
    struct qb_det wrong[] = {D(0, 0, 10, 10, 0.9f, 1)};
    CHECK(qb_match(wrong, 1, g1, 1, correct, NULL) == QB_OK);
    CHECK(mask_of(correct, 0) == 0);

    /* no labels / no detections */
    CHECK(qb_match(dup, 2, NULL, 0, correct, NULL) == QB_OK);
    CHECK(mask_of(correct, 0) == 0 && mask_of(correct, 1) == 0);
    CHECK(qb_match(NULL, 0, g1, 1, correct, NULL) == QB_OK);

    /* the label goes to the first detection that picks it, not the best pair: D0 (IoU
     * 90/110 = 0.818) keeps L0 up to 0.80; above, only D1 (IoU 1) still pairs with L0 */
    struct qb_det order[] = {D(1, 0, 11, 10, 0.9f, 0), D(0, 0, 10, 10, 0.8f, 0)};
    CHECK(qb_match(order, 2, g1, 1, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 6) && mask_of(correct, 1) == TMASK(7, 9), "first-det rule: %#x %#x",
           mask_of(correct, 0), mask_of(correct, 1));

    /* crowd: each detection takes its best label even when that one is taken. L0 and L1
     * overlap; D0 is best on L0 (0.818); D1 is best on L0 too (85/115 = 0.739), although
     * L1 (75/125 = 0.6) is free: D1 stays a false positive at every threshold, and L1
     * is missed (a COCO-style greedy would give D1 L1 at 0.50-0.60) */
    struct qb_gt crowd[] = {G(0, 0, 10, 10, 0), G(4, 0, 14, 10, 0)};
    struct qb_det cd[] = {D(1, 0, 11, 10, 0.9f, 0), D(1.5f, 0, 11.5f, 10, 0.8f, 0)};
    CHECK(qb_match(cd, 2, crowd, 2, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 6) && mask_of(correct, 1) == 0, "crowd: %#x %#x", mask_of(correct, 0),
           mask_of(correct, 1));

    /* same crowd, L1 now taken by its own detection: L0 is free for D1 (up to 0.70) */
    struct qb_det cd2[] = {D(4, 0, 14, 10, 0.9f, 0), D(1.5f, 0, 11.5f, 10, 0.8f, 0)};
    CHECK(qb_match(cd2, 2, crowd, 2, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 9) && mask_of(correct, 1) == TMASK(0, 4), "crowd 2: %#x %#x",
           mask_of(correct, 0), mask_of(correct, 1));

    /* exact tie between two labels (2/3 each): the later label wins (qbench's fixed
     * order, numpy's for a stable sort), so D1 (IoU 1 with that label) is a false
     * positive while D0 holds it (0.50-0.65) and a true positive above */
    struct qb_gt tie[] = {G(-2, 0, 8, 10, 0), G(2, 0, 12, 10, 0)};
    struct qb_det td[] = {D(0, 0, 10, 10, 0.9f, 0), D(2, 0, 12, 10, 0.8f, 0)};
    CHECK(qb_match(td, 2, tie, 2, correct, NULL) == QB_OK);
    CHECKF(mask_of(correct, 0) == TMASK(0, 3) && mask_of(correct, 1) == TMASK(4, 9), "tie: %#x %#x", mask_of(correct, 0),
           mask_of(correct, 1));
}

/* np.interp on repeated xp: the last copy wins; between copies and the next point it
 * interpolates from the last copy */
static void test_interp(void)
{
    const double xp[] = {0, 1, 1, 2}, fp[] = {0, 10, 20, 30};
    const double x[] = {-1, 0, 0.5, 1, 1.5, 2, 3};
    const double want[] = {-5, 0, 5, 20, 25, 30, 99};
    double out[7];
    qb_np_interp(x, 7, xp, fp, 4, -5, 99, out);
    for (int i = 0; i < 7; i++)
        CHECKF(out[i] == want[i], "interp(%g) = %g, expected %g", x[i], out[i], want[i]);
    const double one[] = {0.5}, f1[] = {7};
    qb_np_interp(x, 7, one, f1, 1, -5, 99, out);
    CHECK(out[0] == -5 && out[2] == 7 && out[3] == 99);
}

static void test_compute_ap(void)
{
    double work[2 * (4 + 2)];
    /* perfect: recall 1, precision 1 -> 0.995 */
    const double r1[] = {1}, p1[] = {1};
    CHECK_NEAR(qb_compute_ap(r1, p1, 1, work), 0.995);
    /* FP then TP: recall [0, 1], precision [0, 0.5]; envelope [1, 0.5, 0.5, 0] on
     * mrec [0, 0, 1, 1]; at recall 0 np.interp takes the last copy (0.5, not 1):
     * 0.995 * 0.5 = 0.4975 (taking the first copy would give 0.5) */
    const double r2[] = {0, 1}, p2[] = {0, 0.5};
    CHECK_NEAR(qb_compute_ap(r2, p2, 2, work), 0.4975);
    /* half the labels found at precision 1: y = 1 for recall <= 0.5, then linear down
     * to 0 at recall 1: 0.5 + 0.25 = 0.75 exactly on the grid (trapezoids are exact on
     * linear pieces) */
    const double r3[] = {0.5}, p3[] = {1};
    CHECK_NEAR(qb_compute_ap(r3, p3, 1, work), 0.75);
    /* no detections: only the sentinels, 1 at recall 0 down to 0 at recall 1: 0.5 */
    CHECK_NEAR(qb_compute_ap(NULL, NULL, 0, work), 0.5);
}

static void test_smooth(void)
{
    double y[1000], out[1001];
    for (int i = 0; i < 1000; i++)
        y[i] = i < 500 ? 0.0 : 1.0;
    CHECK(qb_smooth(y, 1000, 0.1, out) == 1000);
    /* 101-point window: point 449 sees 399..499 (all 0), point 450 sees one 1 */
    CHECK(out[449] == 0.0);
    CHECK_NEAR(out[450], 1.0 / 101);
    CHECK_NEAR(out[550], 1.0);
    CHECK_NEAR(out[999], 1.0); /* padded with y[999] */
    /* Ultralytics' filter length can be even (round(10 * 0.2) // 2 + 1 = 2): numpy then
     * returns n + 1 points */
    double y10[10] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18};
    CHECK(qb_smooth(y10, 10, 0.1, out) == 11);
    CHECK(out[0] == 0 && out[1] == 1 && out[10] == 18);
}

/* one class, one label, one perfect detection: AP 0.995 at every threshold, P = R = 1 */
static void test_perfect(void)
{
    struct qb_metrics *m = qb_metrics_new(1);
    struct qb_map_result r = {0};
    struct qb_gt g[] = {G(10, 10, 50, 50, 0)};
    struct qb_det d[] = {D(10, 10, 50, 50, 0.9f, 0)};
    add(m, d, 1, g, 1);
    summarise(m, &r);
    CHECK(r.any_tp && r.n_images == 1 && r.n_instances == 1 && r.n_scored == 1);
    for (int t = 0; t < QB_N_IOU; t++)
        CHECK_NEAR(r.cls[0].ap[t], 0.995);
    CHECK_NEAR(r.map50, 0.995);
    CHECK_NEAR(r.map50_95, 0.995);
    CHECK(r.precision == 1.0 && r.recall == 1.0);
    CHECK(r.best_conf == 0.0); /* F1 = 1 on the whole plateau below 0.9: the first maximum */
    qb_map_result_free(&r);
    qb_metrics_free(m);
}

/* classes 0..3: perfect, FP-before-TP (FP from an image without labels), missed, and a
 * detection at IoU 0.75 (TP at 0.50..0.75 only); class 4 has detections but no labels
 * and is not scored; class 5 has nothing. Empty images count as images. */
static void test_classes(void)
{
    struct qb_metrics *m = qb_metrics_new(6);
    struct qb_map_result r = {0};
    struct qb_gt g1[] = {G(0, 0, 10, 10, 0), G(20, 0, 30, 10, 1), G(40, 0, 50, 10, 2), G(60, 0, 70, 10, 3)};
    struct qb_det d1[] = {D(0, 0, 10, 10, 0.9f, 0), D(20, 0, 30, 10, 0.8f, 1), D(60, 0, 70, 7.5f, 0.7f, 3),
                          D(80, 0, 90, 10, 0.6f, 4)};
    struct qb_det d2[] = {D(0, 0, 10, 10, 0.95f, 1), D(5, 5, 9, 9, 0.5f, 4)}; /* no labels here */
    add(m, NULL, 0, NULL, 0); /* empty image */
    add(m, d1, 4, g1, 4);
    add(m, d2, 2, NULL, 0);
    add(m, NULL, 0, g1, 1); /* labels, no detections: class 0 missed once */
    summarise(m, &r);
    CHECK(r.n_images == 4 && r.n_instances == 5 && r.n_scored == 4 && r.any_tp);
    CHECK(r.cls[0].instances == 2 && r.cls[0].images == 2);
    CHECK(r.cls[1].instances == 1 && r.cls[1].images == 1);
    CHECK(r.cls[4].instances == 0 && r.cls[4].images == 0 && r.cls[4].ap50 == 0 && r.cls[4].p == 0);
    CHECK(r.cls[5].instances == 0);
    /* class 0: one TP for two labels: recall 0.5 at precision 1 -> 0.75 */
    for (int t = 0; t < QB_N_IOU; t++)
        CHECK_NEAR(r.cls[0].ap[t], 0.75);
    /* class 1: FP (0.95) then TP (0.8) -> 0.4975 */
    CHECK_NEAR(r.cls[1].ap50, 0.4975);
    CHECK_NEAR(r.cls[1].ap50_95, 0.4975);
    CHECK(r.cls[2].ap50 == 0.0 && r.cls[2].ap50_95 == 0.0 && r.cls[2].p == 0.0 && r.cls[2].r == 0.0);
    /* class 3: 0.995 at six thresholds, 0 at four */
    for (int t = 0; t < QB_N_IOU; t++)
        CHECK_NEAR(r.cls[3].ap[t], t <= 5 ? 0.995 : 0.0);
    CHECK_NEAR(r.cls[3].ap50_95, 0.995 * 6 / 10);
    CHECK_NEAR(r.map50, (0.75 + 0.4975 + 0 + 0.995) / 4);
    CHECK_NEAR(r.map50_95, (0.75 + 0.4975 + 0 + 0.597) / 4);
    /* precision and recall at the best F1 point, conf 0 (the plateau of every curve
     * below the lowest confidence): p = 1, 0.5, 0, 1; r = 0.5, 1, 0, 1 */
    CHECK(r.best_conf == 0.0);
    CHECK_NEAR(r.precision, 2.5 / 4);
    CHECK_NEAR(r.recall, 2.5 / 4);
    CHECK_NEAR(r.cls[1].p, 0.5);
    CHECK_NEAR(r.cls[0].r, 0.5);
    qb_map_result_free(&r);
    qb_metrics_free(m);
}

/* P and R at the best smoothed mean F1, away from the ends: TP at 0.9, FP at 0.2, one
 * label. F1 rises on (0.2, 0.9] (P interpolated from 0.5 up to 1, R = 1) and drops to 0
 * above 0.9; the best 101-point window ends at the last grid point <= 0.9 (899), so
 * its centre is 849 and P is the interpolated precision at conf 849/999. */
static void test_best_f1(void)
{
    struct qb_metrics *m = qb_metrics_new(1);
    struct qb_map_result r = {0};
    struct qb_gt g[] = {G(0, 0, 10, 10, 0)};
    struct qb_det d[] = {D(0, 0, 10, 10, 0.9f, 0), D(50, 50, 60, 60, 0.2f, 0)};
    add(m, d, 2, g, 1);
    summarise(m, &r);
    double x = 849 * (1.0 / 999);
    double slope = (0.5 - 1.0) / (-(double)0.2f - -(double)0.9f);
    double p = slope * (-x - -(double)0.9f) + 1.0;
    CHECKF(r.best_conf == x, "best conf %.17g, expected %.17g", r.best_conf, x);
    CHECK_NEAR(r.precision, p);
    CHECK(fabs(r.precision - 0.96418) < 1e-5);
    CHECK(r.recall == 1.0);
    CHECK_NEAR(r.map50, 0.995); /* the FP comes after recall 1 */
    qb_map_result_free(&r);
    qb_metrics_free(m);
}

/* no true positive anywhere: Ultralytics reports zeros and no class rows */
static void test_no_tp_and_no_labels(void)
{
    struct qb_metrics *m = qb_metrics_new(2);
    struct qb_map_result r = {0};
    struct qb_gt g[] = {G(0, 0, 10, 10, 0)};
    struct qb_det d[] = {D(0, 0, 10, 10, 0.9f, 1)}; /* right box, wrong class */
    add(m, d, 1, g, 1);
    summarise(m, &r);
    CHECK(!r.any_tp && r.n_scored == 1 && r.n_instances == 1);
    CHECK(r.precision == 0 && r.recall == 0 && r.map50 == 0 && r.map50_95 == 0);
    qb_map_result_free(&r);
    qb_metrics_free(m);

    m = qb_metrics_new(3);
    add(m, d, 1, NULL, 0);
    add(m, NULL, 0, NULL, 0);
    summarise(m, &r);
    CHECK(!r.any_tp && r.n_images == 2 && r.n_instances == 0 && r.n_scored == 0 && r.map50_95 == 0);
    qb_map_result_free(&r);
    qb_metrics_free(m);
}

static void test_errors(void)
{
    struct qb_error err = {0};
    CHECK(qb_metrics_new(0) == NULL);
    struct qb_metrics *m = qb_metrics_new(2);
    struct qb_gt g[] = {G(0, 0, 10, 10, 2)};
    struct qb_det d[] = {D(0, 0, 10, 10, 0.9f, -1)};
    CHECK(qb_metrics_add(m, NULL, 0, g, 1, &err) == QB_ERR_INVALID && strstr(err.msg, "class 2"));
    CHECK(qb_metrics_add(m, d, 1, NULL, 0, &err) == QB_ERR_INVALID && strstr(err.msg, "class -1"));
    CHECK(qb_metrics_add(m, NULL, 1, NULL, 0, &err) == QB_ERR_USAGE);
    struct qb_map_result r = {0};
    summarise(m, &r);
    CHECK(r.n_images == 0 && r.n_instances == 0); /* failed adds left nothing behind */
    qb_map_result_free(&r);
    qb_metrics_free(m);
}

/* the table as `yolo val` prints it */
static void test_print(void)
{
    struct qb_metrics *m = qb_metrics_new(2);
    struct qb_map_result r = {0};
    struct qb_gt g[] = {G(0, 0, 10, 10, 0), G(20, 0, 30, 10, 1)};
    struct qb_det d[] = {D(0, 0, 10, 10, 0.9f, 0)};
    const char *names[] = {"blue", NULL};
    char *text = NULL;
    size_t len = 0;
    add(m, d, 1, g, 2);
    summarise(m, &r);
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    if (!f)
        goto out;
    qb_metrics_print(f, &r, names);
    fclose(f);
    const char *want = "                 Class     Images  Instances      Box(P          R      mAP50  mAP50-95)\n"
                       "                   all          1          2        0.5        0.5      0.497      0.497\n"
                       "                  blue          1          1          1          1      0.995      0.995\n"
                       "                     1          1          1          0          0          0          0\n";
    CHECKF(strcmp(text, want) == 0, "table:\n%s", text);
out:
    free(text);
    qb_map_result_free(&r);
    qb_metrics_free(m);
}

/* 1000 images x 300 detections: well under a second (ASan included, loosely) */
static void test_speed(void)
{
    enum { NIMG = 1000, NDET = 300, NC = 80 };
    struct qb_metrics *m = qb_metrics_new(NC);
    struct qb_det *d = malloc(sizeof(*d) * NDET);
    struct qb_gt g[20];
    struct qb_map_result r = {0};
    struct timespec t0, t1;
    int failed_adds = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < NIMG; i++) {
        for (int k = 0; k < 20; k++) { /* one draw per statement: a fixed order */
            float x = frand(0, 600), y = frand(0, 400);
            float w = frand(5, 100);
            float h = frand(5, 100);
            int c = (int)(rng32() % NC);
            g[k] = G(x, y, x + w, y + h, c);
        }
        for (int j = 0; j < NDET; j++) {
            const struct qb_gt *s = &g[j % 20];
            float e = frand(-4, 4);
            int c = j % 7 ? s->cls : (int)(rng32() % NC);
            d[j] = D(s->box.x1 + e, s->box.y1 - e, s->box.x2 + e, s->box.y2, 1.0f - (float)j / NDET, c);
        }
        failed_adds += qb_metrics_add(m, d, NDET, g, 20, NULL) != QB_OK;
    }
    summarise(m, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(failed_adds == 0);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("1000 images x 300 detections: add + summary %.3f s, mAP50-95 %.4f\n", s, r.map50_95);
    CHECK(r.n_instances == NIMG * 20 && r.any_tp && r.map50_95 > 0 && r.map50_95 < 1);
    CHECKF(s < 5.0, "too slow: %.3f s", s);
    qb_map_result_free(&r);
    qb_metrics_free(m);
    free(d);
}

int main(void)
{
    test_thresholds_and_iou();
    test_threshold_boundaries();
    test_match_rules();
    test_interp();
    test_compute_ap();
    test_smooth();
    test_perfect();
    test_classes();
    test_best_f1();
    test_no_tp_and_no_labels();
    test_errors();
    test_print();
    test_speed();
    return test_summary("test_metrics");
}
