/* Detection metrics as Ultralytics `yolo val` reports them (DESIGN.md, "Evaluation"):
 * matching at IoU 0.50:0.05:0.95, per-class precision/recall curves, 101-point
 * interpolated AP, precision and recall at the best mean F1, and the printed table.
 *
 *     struct qb_metrics *m = qb_metrics_new(nc);
 *     for each image:                                   // dets in NMS order (conf descending)
 *         if (qb_metrics_add(m, dets, nd, gts, ng, &err) != QB_OK) goto out;
 *     struct qb_map_result r = {0};
 *     if (qb_metrics_summary(m, &r, &err) == QB_OK)
 *         qb_metrics_print(stdout, &r, names);          // names: nc strings or NULL
 *     qb_map_result_free(&r);
 *     qb_metrics_free(m);
 *
 * Numerics, chosen to reproduce Ultralytics bit for bit where it is deterministic:
 * - IoU in float32 as torch's box_iou: inter / (area_label + area_det - inter + 1e-7f);
 *   a pair matches when iou >= (float)(0.5 + 0.05 t): Ultralytics' thresholds are a
 *   float32 torch.linspace and numpy compares the float32 IoU in float32 (so an IoU of
 *   0.64999998f does count at "0.65");
 * - curves, AP and means in double with numpy's own evaluation order (np.interp,
 *   np.trapz, pairwise summation of np.mean, a sequential sum for the F1 smoothing as
 *   numpy with the reference BLAS computes np.convolve).
 * Where Ultralytics' order is unspecified (numpy's quicksort is not stable) qbench fixes
 * one: detections of equal confidence keep the order in which they were added; a
 * detection whose best IoU ties between two labels takes the later label (what numpy's
 * argsort()[::-1] gives when its sort is stable, as it is for up to 16 candidate pairs
 * without AVX-512). These only move results when confidences or IoUs tie exactly.
 */
#ifndef QB_METRICS_H
#define QB_METRICS_H

#include <stdio.h>

#include "det.h"
#include "status.h"

#define QB_N_IOU 10 /* IoU thresholds 0.50, 0.55 ... 0.95 */

/* Threshold t (0 <= t < QB_N_IOU) as Ultralytics holds it: float32. */
float qb_iou_threshold(int t);

/* IoU of a label and a detection box, float32, exactly as Ultralytics' box_iou. */
float qb_box_iou(const struct qb_box *label, const struct qb_box *det);

/* Ultralytics' match_predictions: correct[i * QB_N_IOU + t] = 1 when detection i is a
 * true positive at threshold t. Per threshold: every detection takes its same-class
 * label of highest IoU (>= threshold); a label taken by several detections goes to the
 * one that comes first in det[] (NMS order: highest confidence), the others are false
 * positives (also when another label would be free). correct has nd * QB_N_IOU bytes. */
enum qb_status qb_match(const struct qb_det *det, int nd, const struct qb_gt *gt, int ng,
                        unsigned char *correct, struct qb_error *err);

/* Building blocks, exposed for tests. */

/* np.interp(x, xp, fp, left, right) for non-decreasing xp (n >= 1): for repeated xp
 * values numpy takes the LAST point whose xp <= x (so x equal to a repeated xp gives the
 * fp of its last copy) and interpolates towards the next point. */
void qb_np_interp(const double *x, int nx, const double *xp, const double *fp, int n, double left,
                  double right, double *out);

/* np.sum of n doubles at the given element stride, in numpy's order (pairwise blocks of
 * 8 accumulators, 8192-element buffer chunks). */
double qb_np_sum(const double *a, long n, long stride);

/* Ultralytics' compute_ap: sentinels (0, 1) and (1, 0), precision envelope, np.interp
 * at 101 recall points and np.trapz. recall and precision have n >= 0 points; work
 * holds 2 * (n + 2) doubles. A perfect curve gives 0.995, not 1 (the last trapezoid
 * interpolates down to the sentinel at recall 1). */
double qb_compute_ap(const double *recall, const double *precision, int n, double *work);

/* Ultralytics' smooth(y, f): box filter of nf = round(n * f * 2) // 2 + 1 points, edges
 * padded with nf // 2 copies of y[0] and y[n-1], np.convolve 'valid'. Returns the number
 * of points written to out: n when nf is odd (n = 1000, f = 0.1: nf = 101), n + 1 when
 * it is even, as numpy gives. n >= 1; out has room for n + 1. */
int qb_smooth(const double *y, int n, double f, double *out);

/* The accumulator. Owns copies of what it needs (correct bits, confidence and class per
 * detection, label and image counts per class); freed by qb_metrics_free(). */
struct qb_metrics;

/* NULL when nc < 1 or out of memory. */
struct qb_metrics *qb_metrics_new(int nc);
void qb_metrics_free(struct qb_metrics *m);

/* Matches one image's detections against its labels and stores the result. Either may
 * be empty (nd == 0 / ng == 0, pointer may then be NULL). A class outside [0, nc) is
 * QB_ERR_INVALID; on any error m is unchanged. */
enum qb_status qb_metrics_add(struct qb_metrics *m, const struct qb_det *det, int nd, const struct qb_gt *gt,
                              int ng, struct qb_error *err);

struct qb_class_result {
    long images;    /* images whose labels contain the class */
    long instances; /* labels of the class; 0: the class is not scored, the rest is 0 */
    double p, r;    /* precision, recall at the confidence of the best mean F1 */
    double ap50;    /* ap[0] */
    double ap50_95; /* mean of ap[] */
    double ap[QB_N_IOU];
};

/* The "all" row of `yolo val` and the per-class rows. Means are over the scored classes
 * (those with labels). When no detection is a true positive at any threshold, Ultralytics
 * skips the computation: every number is 0 and no per-class row is printed (any_tp == 0). */
struct qb_map_result {
    int nc;
    long n_images;    /* images added, with or without labels or detections */
    long n_instances; /* labels */
    int n_scored;     /* classes with labels */
    int any_tp;
    double precision, recall, map50, map50_95;
    double best_conf;              /* confidence grid point of the best smoothed mean F1 */
    struct qb_class_result *cls;   /* nc entries, malloc'd: qb_map_result_free() */
};

/* Fills *r (overwritten: free a previous result first). m is not changed: more images
 * may be added and summarised again. */
enum qb_status qb_metrics_summary(const struct qb_metrics *m, struct qb_map_result *r, struct qb_error *err);
void qb_map_result_free(struct qb_map_result *r);

/* The table `yolo val` prints: header, "all" row, then (when nc > 1 and any_tp) one row
 * per scored class, named by names[c] (NULL or a NULL entry: the class number). */
void qb_metrics_print(FILE *f, const struct qb_map_result *r, const char *const *names);

#endif
