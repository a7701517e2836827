/* How far one plan's results are from the truth and from the FP32 reference, image
 * by image (DESIGN.md "Evaluation"; issue 6 "Metrics"):
 *  - mAP against the labels, as `yolo val` computes it (core/metrics.h);
 *  - fidelity mAP: the plan's detections scored against the FP32 model's own
 *    detections with confidence >= QB_FIDELITY_CONF as labels, divided by what FP32's
 *    detections score against themselves (0.995, not 1: Ultralytics' AP integrates
 *    its last recall step to zero), so that FP32 scores exactly 1; it needs no labels
 *    and varies far less between image sets than a small delta of mAP;
 *  - SQNR (dB) and cosine similarity of the raw output against FP32's.
 *
 *     struct qb_score *s = qb_score_new(nc);
 *     for each image:
 *         qb_score_labels(s, dets, nd, gt, ng, &err);        // labelled images
 *         qb_score_fidelity(s, dets, nd, ref, n_ref, &err);  // FP32's detections
 *     qb_score_outputs(s, y, y_fp32, count);                  // raw outputs, any grouping
 *     struct qb_score_result r = {0};
 *     qb_score_summary(s, &r, &err);
 *     qb_score_result_free(&r);
 *     qb_score_free(s);
 */
#ifndef QB_SCORE_H
#define QB_SCORE_H

#include <stddef.h>

#include "det.h"
#include "metrics.h"
#include "status.h"

#define QB_FIDELITY_CONF 0.25f

struct qb_score;

struct qb_score_result {
    struct qb_map_result map;      /* against the labels (map.n_images: images scored) */
    struct qb_map_result fidelity; /* against FP32's detections (fidelity.n_images); map50 and
                                      map50_95 relative to FP32's own (FP32: exactly 1) */
    double sqnr_db;                /* INFINITY when identical; NAN when nothing was compared */
    double cosine;                 /* NAN when nothing was compared */
};

/* NULL when out of memory. */
struct qb_score *qb_score_new(int nc);
void qb_score_free(struct qb_score *s);

/* One image's detections (NMS order) against its labels. */
enum qb_status qb_score_labels(struct qb_score *s, const struct qb_det *d, int n, const struct qb_gt *gt, int ng,
                               struct qb_error *err);
/* One image's detections against the FP32 reference's detections ref of the same image. */
enum qb_status qb_score_fidelity(struct qb_score *s, const struct qb_det *d, int n, const struct qb_det *ref,
                                 int n_ref, struct qb_error *err);
/* Adds count raw output values y and the FP32 reference's to the SQNR and cosine sums. */
void qb_score_outputs(struct qb_score *s, const float *y, const float *ref, size_t count);

/* Fills *r (free it with qb_score_result_free); s may take more images afterwards. */
enum qb_status qb_score_summary(const struct qb_score *s, struct qb_score_result *r, struct qb_error *err);
void qb_score_result_free(struct qb_score_result *r);

#endif
