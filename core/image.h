/* Image files, video frames and Ultralytics preprocessing, behind a C interface.
 *
 * Preprocessing is split in two so that images read from files and packed datasets
 * (which store the resized uint8 image) give bit-identical model inputs:
 *
 *   1. decode + resize (OpenCV): the image, resized to the letterbox's unpadded size,
 *      as 8-bit interleaved RGB, plus its geometry (struct qb_letterbox);
 *   2. qb_letterbox_to_chw() (plain C, core/letterbox.c, in every build): pad with
 *      114, divide by 255, planar float RGB.
 *
 *     unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(640, 640));
 *     struct qb_letterbox lb;
 *     if (qb_image_load_resized(path, 640, 640, QB_LETTERBOX_PREDICT, rgb, &lb, &err) == QB_OK)
 *         qb_letterbox_to_chw(rgb, &lb, chw);   // chw: 3 x 640 x 640 floats
 *
 * Two implementations of the OpenCV part: image_cv.cpp (OpenCV, whose API is C++;
 * library qbimage) and image_none.c (library qbimage_none, for the GPU-machine
 * build `qbench-gpu`, which cannot carry OpenCV's ~270 MB of libraries: every call
 * there fails with QB_ERR_UNSUPPORTED and says to use packed or raw data instead).
 *
 * Errors: a file that cannot be opened is QB_ERR_IO; a file that OpenCV cannot
 * decode (corrupt, truncated, not an image, a format this OpenCV lacks) is
 * QB_ERR_PARSE; both name the file. */
#ifndef QB_IMAGE_H
#define QB_IMAGE_H

#include "status.h"

/* How the resized size and the padding are chosen. */
enum qb_letterbox_mode {
    /* Ultralytics' LetterBox as `predict` and exported-model preprocessing apply it:
     * r = min(dst_h / h, dst_w / w), new size = round-half-even(w * r), (h * r), one
     * linear resize (only when the size changes), pads top = round(dh - 0.1),
     * left = round(dw - 0.1) with dh, dw half the leftover. scale = r. */
    QB_LETTERBOX_PREDICT = 0,
    /* What `yolo val` feeds a non-PyTorch model (rect=False): its dataloader first
     * resizes the long side to imgsz (r = imgsz / max(h, w); sizes ceil(w * r),
     * ceil(h * r) capped at imgsz; also upscales small images), then letterboxes that
     * without scaling up (pads only, as above). scale = new_h / h, the gain `yolo val`
     * divides boxes by (ratio_pad[0][0]). Needs a square input (dst_w == dst_h). */
    QB_LETTERBOX_VAL = 1,
    QB_LETTERBOX_MODE_COUNT
};

/* How an image was placed into the model input: input = image * scale + pad. */
struct qb_letterbox {
    int src_w, src_h;     /* original image size */
    float scale;          /* resize ratio (the gain boxes are divided by) */
    int pad_left, pad_top;
    int new_w, new_h;     /* resized image, before padding */
    int dst_w, dst_h;     /* model input size */
    enum qb_letterbox_mode mode;
};

/* The modes' names as options and files (packs, calibration tables) spell them:
 * "predict", "val". Stored in files: append only. */
extern const char *const qb_letterbox_mode_names[QB_LETTERBOX_MODE_COUNT];
/* The mode named s, or -1 when s names none. */
int qb_letterbox_mode_parse(const char *s);

/* Bytes of an RGB buffer that holds any resized image for a dst_w x dst_h input
 * (the resized size never exceeds the input size). */
#define QB_LETTERBOX_RGB_BYTES(dst_w, dst_h) ((size_t)(dst_w) * (size_t)(dst_h) * 3u)

/* Geometry for a src_w x src_h image (plain C, every build). Sizes must be in
 * 1..65535 (QB_ERR_USAGE otherwise; also for QB_LETTERBOX_VAL with a non-square
 * input). A resized side that would round to 0 (aspect ratios beyond the input's
 * size) is kept at 1 pixel. */
enum qb_status qb_letterbox_plan(int src_w, int src_h, int dst_w, int dst_h, enum qb_letterbox_mode mode,
                                 struct qb_letterbox *lb, struct qb_error *err);

/* The model input from a resized image (plain C, every build): rgb holds lb->new_h
 * rows of lb->new_w * 3 bytes; chw receives 3 * dst_h * dst_w floats, planar R, G, B,
 * value / 255.0f, padding 114 / 255.0f. */
void qb_letterbox_to_chw(const unsigned char *rgb, const struct qb_letterbox *lb, float *chw);

/* Decodes an image file (BGR -> RGB; grey and alpha images become 3-channel, EXIF
 * orientation applied, as cv::imread does for Ultralytics) and resizes it with
 * cv::INTER_LINEAR as mode says. rgb must hold QB_LETTERBOX_RGB_BYTES(dst_w, dst_h)
 * bytes; it receives lb->new_h rows of lb->new_w * 3 bytes. */
enum qb_status qb_image_load_resized(const char *path, int dst_w, int dst_h, enum qb_letterbox_mode mode,
                                     unsigned char *rgb, struct qb_letterbox *lb, struct qb_error *err);

/* Loads an image file and letterboxes it as Ultralytics' predict does
 * (QB_LETTERBOX_PREDICT): the two steps above in one call. chw must hold
 * 3 * dst_h * dst_w floats; lb may be NULL. */
enum qb_status qb_image_letterbox(const char *path, int dst_w, int dst_h, float *chw, struct qb_letterbox *lb,
                                  struct qb_error *err);

/* A video opened for reading frames by index (0-based). Reading increasing indices
 * decodes the file once, sequentially (frames in between are grabbed, not
 * converted); an index below the last one read reopens the file. Frame indices are
 * exact (no keyframe seeking). Not for concurrent use: one per thread. */
struct qb_video;

enum qb_status qb_video_open(const char *path, struct qb_video **out, struct qb_error *err);
/* Closes and frees; NULL is a no-op. */
void qb_video_close(struct qb_video *v);
const char *qb_video_path(const struct qb_video *v);
/* Frames in the file, from the container (CAP_PROP_FRAME_COUNT); counted by
 * reading the whole file when the container does not say. */
long qb_video_frame_count(const struct qb_video *v);
/* As qb_image_load_resized, for frame `frame`. A frame past the end is QB_ERR_PARSE
 * naming the file, the frame and how many frames were read. */
enum qb_status qb_video_read_resized(struct qb_video *v, long frame, int dst_w, int dst_h,
                                     enum qb_letterbox_mode mode, unsigned char *rgb, struct qb_letterbox *lb,
                                     struct qb_error *err);

/* Writes an 8-bit interleaved RGB image (h rows of w*3 bytes) as JPEG (quality
 * 1-100) or PNG, chosen by the file name's extension. Atomic: a failed write
 * leaves no file. */
enum qb_status qb_image_write_rgb(const char *path, const unsigned char *rgb, int w, int h, int quality,
                                  struct qb_error *err);

/* True when this build can read and write image files. */
int qb_image_available(void);

/* Test hooks (tests/test_dataset.c only). */

/* Writes n frames (each h rows of w*3 bytes of RGB, consecutive in rgb) as a
 * Motion-JPEG .avi through OpenCV's built-in writer. QB_ERR_UNSUPPORTED when this
 * OpenCV cannot write one. */
enum qb_status qb_video_write_rgb(const char *path, const unsigned char *rgb, int n, int w, int h, double fps,
                                  struct qb_error *err);

/* The pre-split one-call preprocessing (cv::resize, cv::copyMakeBorder with 114,
 * BGR -> planar RGB / 255), kept as the oracle that pins qb_image_letterbox() and
 * packed datasets to it. */
enum qb_status qb_image_letterbox_oracle(const char *path, int dst_w, int dst_h, float *chw,
                                         struct qb_error *err);

#endif
