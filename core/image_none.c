/* core/image.h for builds without OpenCV (the GPU-machine binary qbench-gpu). */
#include "image.h"

#define NO_OPENCV "this build of qbench has no image support (no OpenCV); use packed or raw tensors"

int qb_image_available(void)
{
    return 0;
}

enum qb_status qb_image_letterbox(const char *path, int dst_w, int dst_h, float *chw, struct qb_letterbox *lb,
                                  struct qb_error *err)
{
    (void)dst_w;
    (void)dst_h;
    (void)chw;
    (void)lb;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: " NO_OPENCV, path);
}

enum qb_status qb_image_write_rgb(const char *path, const unsigned char *rgb, int w, int h, int quality,
                                  struct qb_error *err)
{
    (void)rgb;
    (void)w;
    (void)h;
    (void)quality;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: " NO_OPENCV, path);
}
