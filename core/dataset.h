/* Datasets for evaluation and calibration: an ordered list of items (an image
 * file, or one frame of a video) with optional YOLO labels and class names.
 *
 *     struct qb_dataset *ds;
 *     if (qb_dataset_open("coco/data.yaml", "val", &ds, &err) != QB_OK) ...
 *     struct qb_video *vid = NULL;                  // per thread: the open video, if any
 *     unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(640, 640));
 *     for (size_t i = 0; i < qb_dataset_count(ds); i++) {
 *         struct qb_letterbox lb;
 *         if (qb_dataset_load(ds, i, &vid, 640, 640, QB_LETTERBOX_VAL, rgb, &lb, &err) != QB_OK) ...
 *         qb_letterbox_to_chw(rgb, &lb, chw);
 *         int n = qb_dataset_labels(ds, i, &lb, gt);  // gt: qb_dataset_label_count(ds, i) boxes
 *     }
 *     qb_video_close(vid);
 *     qb_dataset_free(ds);
 *
 * What qb_dataset_open() accepts, as Ultralytics reads datasets:
 * - an Ultralytics data.yaml (.yaml/.yml): `split` names a key (train, val, test,
 *   calib ...; `validation` stands in for a missing `val`) whose value is a folder, a
 *   list file or an image, or a YAML list of those, relative to the root `path:`.
 *   A relative `path:` is taken against the yaml file's folder (Ultralytics takes it
 *   against the working directory if that exists there, else its datasets dir); no
 *   `path:` means the yaml's folder, as in Ultralytics. Split roots are made absolute
 *   with realpath() (Ultralytics resolve()s them too). A split entry that does not
 *   exist but starts with ../ is retried without it, as Ultralytics does.
 *   `names:` is a list or a map {0: a, 1: b} (keys exactly 0..n-1); `nc:` must agree
 *   when both are present; neither leaves names NULL and nc 0 (take nc from the model);
 * - a folder: every file below it (recursively, symbolic links followed, hidden
 *   files and folders skipped, as Python's glob('**' '/' '*.*')) whose extension,
 *   case-insensitively, is an image extension (qb_dataset_image_exts);
 * - a list file (any other file): one path per line; a path starting with ./ is
 *   relative to the list file's folder, as in Ultralytics; other relative paths are
 *   taken against the list's folder too (Ultralytics leaves those relative to the
 *   working directory); lines whose extension is not an image's are ignored;
 * - a single image file (an image extension).
 * Items are sorted by path string (byte order, as Python sorts str) and duplicates
 * dropped (counted). The split argument is ignored for anything but a data.yaml
 * (NULL means "val").
 *
 * Labels (every kind of source), as Ultralytics' verify_image_label:
 * - label file = image path with the last "/images/" replaced by "/labels/" and the
 *   extension by ".txt"; a missing file means no objects;
 * - rows `class cx cy w h`, normalised; if any row has more than 6 fields, every row
 *   is a polygon `class x1 y1 x2 y2 ...` and becomes its bounding box;
 * - the image is skipped as corrupt (a warning through qb_log naming the label file
 *   and line, and counted) on: a field that is not a finite number, a class that is
 *   not a non-negative integer (Ultralytics checks only class >= -0.01; qbench wants
 *   whole numbers), a class >= nc when nc is known, a box value above 1.01 or below
 *   -0.01 (Ultralytics' 1% tolerance, compared in float32), rows of other than 5
 *   fields, a polygon with an odd number of coordinates, an unreadable file;
 * - exactly repeated rows (as float32) are dropped and counted; then, as numpy's
 *   unique() leaves them, the rows are in ascending (class, cx, cy, w, h) order;
 * - a listed image that does not exist is skipped as corrupt too.
 * Images are not decoded when the dataset is opened: a corrupt image file is an
 * error of qb_dataset_load() for that item. Ultralytics also drops images smaller
 * than 10 pixels at this stage; qbench does not look at pixels here.
 *
 * Labels of a video frame: none. The dataset is read-only after opening (and after
 * qb_dataset_add_videos()): accessors may be called from several threads. */
#ifndef QB_DATASET_H
#define QB_DATASET_H

#include <stddef.h>

#include "det.h"
#include "image.h"
#include "status.h"

/* One label row as read from the file: class, then centre and size normalised to
 * the image (0..1). */
struct qb_label {
    int cls;
    float cx, cy, w, h;
};

/* What opening found. */
struct qb_dataset_stats {
    size_t images;            /* items that are image files */
    size_t frames;            /* items that are video frames */
    size_t instances;         /* labels over all items */
    size_t labels_found;      /* images with a label file */
    size_t labels_missing;    /* images without one (no objects) */
    size_t labels_empty;      /* label files without rows */
    size_t corrupt;           /* images skipped: bad label file, or listed but missing */
    size_t duplicate_labels;  /* label rows dropped as exact repeats */
    size_t duplicate_items;   /* paths listed more than once (kept once) */
};

struct qb_dataset;

/* Opens spec as described above. Errors name the file and what is wrong: a missing
 * path (QB_ERR_IO), a data.yaml without the split, with bad names/nc or bad YAML
 * (QB_ERR_PARSE, with the line), no images at all (QB_ERR_IO, naming the paths
 * looked at and how many images were skipped as corrupt). */
enum qb_status qb_dataset_open(const char *spec, const char *split, struct qb_dataset **out, struct qb_error *err);

/* An empty dataset, to fill with qb_dataset_add_videos(). */
enum qb_status qb_dataset_new(struct qb_dataset **out, struct qb_error *err);

/* Adds frames 0, every, 2*every ... (at most max per video; max 0 = no limit) of a
 * video file, or of every video file below a folder (sorted, as above), to the end
 * of ds. Video extensions: qb_dataset_video_exts. Needs OpenCV (the frame count):
 * QB_ERR_UNSUPPORTED in qbench-gpu. A path with no frames is an error naming it. */
enum qb_status qb_dataset_add_videos(struct qb_dataset *ds, const char *path, long every, long max,
                                     struct qb_error *err);

void qb_dataset_free(struct qb_dataset *ds);

size_t qb_dataset_count(const struct qb_dataset *ds);
/* Absolute path of item i's file. */
const char *qb_dataset_path(const struct qb_dataset *ds, size_t i);
/* Frame index of item i, or -1 for an image file. */
long qb_dataset_frame(const struct qb_dataset *ds, size_t i);
/* Class names (nc of them) or NULL when the source gave none. */
const char *const *qb_dataset_names(const struct qb_dataset *ds);
/* Number of classes from names or nc:, 0 when unknown. */
int qb_dataset_nc(const struct qb_dataset *ds);
/* Largest class id in the labels, -1 when there are none (to check against the
 * model's class count when the dataset has no names). */
int qb_dataset_max_class(const struct qb_dataset *ds);
const struct qb_dataset_stats *qb_dataset_stats(const struct qb_dataset *ds);
/* True for a data.yaml source or when at least one label file was found. */
int qb_dataset_has_labels(const struct qb_dataset *ds);

/* Labels of item i as read (normalised); *n receives their count. */
const struct qb_label *qb_dataset_labels_norm(const struct qb_dataset *ds, size_t i, int *n);
int qb_dataset_label_count(const struct qb_dataset *ds, size_t i);

/* Labels of item i in pixels of the original image, as `yolo val` compares them with
 * detections: corners x1 = cx - w/2 ... (float), times the size the labels were
 * denormalised by (the original size for QB_LETTERBOX_PREDICT; for QB_LETTERBOX_VAL
 * the resized size divided by lb->scale, as Ultralytics' round trip through the
 * letterbox does), clipped to [0, src_w] x [0, src_h]. Writes
 * qb_dataset_label_count(ds, i) boxes into gt and returns that count. */
int qb_dataset_labels(const struct qb_dataset *ds, size_t i, const struct qb_letterbox *lb, struct qb_gt *gt);

/* The same conversion for labels held elsewhere (a packed dataset). */
void qb_labels_to_px(const struct qb_label *l, int n, const struct qb_letterbox *lb, struct qb_gt *gt);

/* Decodes item i (image file or video frame) resized for a dst_w x dst_h input, as
 * qb_image_load_resized(). *video caches the open video between calls (start with
 * NULL, one per thread, free with qb_video_close()), so the frames of a video read
 * in item order decode the file once. */
enum qb_status qb_dataset_load(const struct qb_dataset *ds, size_t i, struct qb_video **video, int dst_w, int dst_h,
                               enum qb_letterbox_mode mode, unsigned char *rgb, struct qb_letterbox *lb,
                               struct qb_error *err);

/* Lower-case extensions without the dot, NULL-terminated. Images: Ultralytics'
 * IMG_FORMATS (bmp dng jpeg jpg mpo png tif tiff webp pfm heic), so the same files
 * are listed; OpenCV 4 decodes bmp jpeg jpg mpo (its first image) png tif tiff webp
 * pfm, not heic, and dng only where its TIFF reader copes: those fail in
 * qb_dataset_load with QB_ERR_PARSE naming the file. Videos: Ultralytics'
 * VID_FORMATS (asf avi gif m4v mkv mov mp4 mpeg mpg ts wmv webm), as far as
 * OpenCV's video backends read them. */
extern const char *const qb_dataset_image_exts[];
extern const char *const qb_dataset_video_exts[];

#endif
