/* core/image.h for builds without OpenCV (the GPU-machine binary qbench-gpu). The
 * letterbox geometry and qb_letterbox_to_chw() live in core/letterbox.c and work here. */
#include <stddef.h>

#include "image.h"

#define NO_OPENCV "this build of qbench has no image support (no OpenCV); use packed or raw tensors"

int qb_image_available(void)
{
    return 0;
}

enum qb_status qb_image_load_resized(const char *path, int dst_w, int dst_h, enum qb_letterbox_mode mode,
                                     unsigned char *rgb, struct qb_letterbox *lb, struct qb_error *err)
{
    (void)dst_w;
    (void)dst_h;
    (void)mode;
    (void)rgb;
    (void)lb;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: " NO_OPENCV, path);
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

enum qb_status qb_video_open(const char *path, struct qb_video **out, struct qb_error *err)
{
    *out = NULL;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: " NO_OPENCV, path);
}

/* no video can be open here: these are never reached with a non-NULL video */
void qb_video_close(struct qb_video *v)
{
    (void)v;
}

const char *qb_video_path(const struct qb_video *v)
{
    (void)v;
    return "";
}

long qb_video_frame_count(const struct qb_video *v)
{
    (void)v;
    return 0;
}

enum qb_status qb_video_read_resized(struct qb_video *v, long frame, int dst_w, int dst_h,
                                     enum qb_letterbox_mode mode, unsigned char *rgb, struct qb_letterbox *lb,
                                     struct qb_error *err)
{
    (void)v;
    (void)frame;
    (void)dst_w;
    (void)dst_h;
    (void)mode;
    (void)rgb;
    (void)lb;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "video: " NO_OPENCV);
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

enum qb_status qb_video_write_rgb(const char *path, const unsigned char *rgb, int n, int w, int h, double fps,
                                  struct qb_error *err)
{
    (void)rgb;
    (void)n;
    (void)w;
    (void)h;
    (void)fps;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: " NO_OPENCV, path);
}

enum qb_status qb_image_letterbox_oracle(const char *path, int dst_w, int dst_h, float *chw, struct qb_error *err)
{
    (void)dst_w;
    (void)dst_h;
    (void)chw;
    return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: " NO_OPENCV, path);
}
