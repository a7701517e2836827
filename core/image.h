/* Image files and Ultralytics preprocessing, behind a C interface. Two
 * implementations: image_cv.cpp (OpenCV, whose API is C++; library qbimage) and
 * image_none.c (library qbimage_none, for the GPU-machine build `qbench-gpu`,
 * which cannot carry OpenCV's ~270 MB of libraries: every call there fails with
 * QB_ERR_UNSUPPORTED and says to use packed or raw data instead). */
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

/* Writes an 8-bit interleaved RGB image (h rows of w*3 bytes) as JPEG (quality
 * 1-100) or PNG, chosen by the file name's extension. Atomic: a failed write
 * leaves no file. */
enum qb_status qb_image_write_rgb(const char *path, const unsigned char *rgb, int w, int h, int quality,
                                  struct qb_error *err);

/* True when this build can read and write image files. */
int qb_image_available(void);

#endif
