/* Boxes shared by detection decoding (core/detect.h), datasets (core/dataset.h)
 * and metrics (core/metrics.h). Coordinates are pixels of the original image,
 * corners (x1, y1) top left and (x2, y2) bottom right. */
#ifndef QB_DET_H
#define QB_DET_H

struct qb_box {
    float x1, y1, x2, y2;
};

/* a model detection after NMS */
struct qb_det {
    struct qb_box box;
    float conf;
    int cls;
};

/* a ground-truth label */
struct qb_gt {
    struct qb_box box;
    int cls;
};

#endif
