/* Image decoding and Ultralytics preprocessing, behind a C interface (the
 * implementation uses OpenCV, whose API is C++). Lives in its own library
 * (qbimage) so that builds for the GPU machine, which cannot carry OpenCV, link
 * core without it. */
#ifndef QB_IMAGE_H
#define QB_IMAGE_H

#include "status.h"

/* How an image was placed into the model input: input = image * scale + pad. */
struct qb_letterbox {
    int src_w, src_h;     /* original image size */
    float scale;          /* resize ratio */
    int pad_left, pad_top;
};

/* Loads an image file and letterboxes it as Ultralytics does for validation:
 * keep the aspect ratio, resize with linear interpolation, pad with 114 split
 * evenly, BGR -> RGB, divide by 255, planar. chw must hold 3 * dst_h * dst_w floats. */
enum qb_status qb_image_letterbox(const char *path, int dst_w, int dst_h, float *chw, struct qb_letterbox *lb,
                                  struct qb_error *err);

#endif
