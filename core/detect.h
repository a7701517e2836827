/* Decoding YOLO detect-head outputs into detections, as Ultralytics `yolo val`
 * post-processes them (ultralytics/utils/nms.py non_max_suppression with
 * multi_label=True, then scale_boxes with the letterbox's gain and pad).
 *
 *     struct qb_detect_layout lay;
 *     qb_detect_layout(shape, 3, nc_from_metadata_or_0, &lay, &err);
 *     struct qb_detect_opts o = qb_detect_opts_default();
 *     struct qb_detector *d;
 *     qb_detector_new(&lay, &o, &d, &err);          // all scratch allocated here
 *     struct qb_det dets[300];                       // o.max_det
 *     int n;
 *     for (b = 0; b < lay.batch; b++)
 *         qb_detect_image(d, output, b, &lb[b], dets, &n, &err);
 *     qb_detector_free(d);
 *
 * Semantics (see detect.c for where each was checked):
 * - a candidate is every (anchor, class) with score > conf (strictly, compared in
 *   float as torch compares a float32 tensor with a Python float); an anchor with a
 *   NaN class score yields nothing (Ultralytics' amax prefilter is then NaN);
 * - boxes cx,cy,w,h -> x1 = cx - w/2 ... in float;
 * - candidates sorted by score descending, ties by lower anchor then lower class
 *   (Ultralytics' sorts are not stable: their tie order is unspecified); at most
 *   max_nms go into NMS;
 * - class-aware greedy NMS on boxes offset by class * 7680, IoU computed in float as
 *   torchvision's CPU kernel does, a box suppressed when IoU > iou (strictly);
 * - at most max_det detections, in that order (score descending);
 * - boxes mapped back: x = (x - pad_left) / scale, y = (y - pad_top) / scale, then
 *   clipped to [0, src_w] x [0, src_h].
 */
#ifndef QB_DETECT_H
#define QB_DETECT_H

#include <stdint.h>

#include "det.h"
#include "image.h"
#include "status.h"

/* Where boxes and scores sit in the output tensor. */
struct qb_detect_layout {
    int64_t batch;      /* B */
    int64_t anchors;    /* N */
    int nc;             /* classes; channels = 4 + nc */
    int channels_last;  /* 0: [B, 4+nc, N] (Ultralytics' export); 1: [B, N, 4+nc] */
};

/* Recognises the layout of a detect output of shape[rank]. nc > 0 (from the model's
 * metadata) picks the dimension equal to 4 + nc; nc == 0 takes the smaller of the
 * two as 4 + nc (N is thousands of anchors). Refuses, with the shape in the message:
 * rank != 3, non-positive dimensions, 4 + nc < 5, both dimensions equal, nc given
 * but matching neither dimension. */
enum qb_status qb_detect_layout(const int64_t *shape, int rank, int nc, struct qb_detect_layout *out,
                                struct qb_error *err);

struct qb_detect_opts {
    float conf;       /* keep scores > conf; in [0, 1] */
    double iou;       /* suppress IoU > iou; in [0, 1]; double as torchvision compares */
    int max_det;      /* detections per image, >= 1 */
    int max_nms;      /* candidates into NMS, >= 1 */
    int multi_label;  /* 1: every class above conf; 0: best class per anchor only */
};

/* Ultralytics val: conf 0.001, iou 0.7, max_det 300, max_nms 30000, multi-label. */
struct qb_detect_opts qb_detect_opts_default(void);

/* Scratch for decoding one image at a time, sized at creation for the worst case
 * (every anchor and class a candidate: 16 bytes x N x nc, 10.8 MB at 640 with 80
 * classes) so that qb_detect_image() never allocates. Not for concurrent use: one
 * detector per thread. Freed with qb_detector_free(). */
struct qb_detector;

enum qb_status qb_detector_new(const struct qb_detect_layout *layout, const struct qb_detect_opts *opts,
                               struct qb_detector **out, struct qb_error *err);
void qb_detector_free(struct qb_detector *d);

/* Decodes batch item b of out, the whole output tensor (B x (4+nc) x N floats in
 * the layout's order). Writes at most opts.max_det detections into dets, score
 * descending, and their count into *n_dets. lb maps boxes back to original-image
 * pixels and clips them; lb == NULL leaves them in model-input pixels, unclipped. */
enum qb_status qb_detect_image(struct qb_detector *d, const float *out, int64_t b, const struct qb_letterbox *lb,
                               struct qb_det *dets, int *n_dets, struct qb_error *err);

/* Candidates (score > conf) that the last qb_detect_image() found, before the
 * max_nms cap. */
int64_t qb_detector_candidates(const struct qb_detector *d);

#endif
