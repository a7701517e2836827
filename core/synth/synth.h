/* Synthetic Formula Student track scenes with the four FSOCO cone classes, rendered
 * as rectified stereo pairs into plain RGB buffers (no OpenCV: the same renderer runs
 * in the GPU-machine build, which writes raw tensors instead of image files).
 *
 *     struct qb_synth *s;
 *     struct qb_synth_params p = {.seed = 1, .width = 640, .height = 384};
 *     if (qb_synth_new(&p, &s, &err) != QB_OK) ...
 *     struct qb_synth_view *v = calloc(2, sizeof(*v));   // left, right
 *     v[0].rgb = malloc(640 * 384 * 3); v[1].rgb = malloc(640 * 384 * 3);
 *     qb_synth_render(s, scene_index, v, &info, &err);   // thread-safe, any order
 *     qb_synth_free(s);
 *
 * A scene depends only on (seed, width, height, scene index): the same bytes
 * whatever thread renders it and in whatever order.
 */
#ifndef QB_SYNTH_H
#define QB_SYNTH_H

#include <stdint.h>

#include "core/status.h"

enum qb_synth_class {
    QB_SYNTH_BLUE = 0,
    QB_SYNTH_YELLOW = 1,
    QB_SYNTH_ORANGE = 2,
    QB_SYNTH_LARGE_ORANGE = 3,
    QB_SYNTH_CLASS_COUNT
};

/* FSOCO names, indexed by enum qb_synth_class. */
const char *qb_synth_class_name(int cls);

enum qb_synth_split {
    QB_SYNTH_TRAIN = 0,
    QB_SYNTH_VAL = 1,
    QB_SYNTH_CALIB = 2,
    QB_SYNTH_SPLIT_COUNT
};

/* Scenes i with i % 10 < 8 train, == 8 val, == 9 calib. */
enum qb_synth_split qb_synth_split_of(int64_t scene);
const char *qb_synth_split_name(enum qb_synth_split s);

#define QB_SYNTH_MAX_BOXES 256
#define QB_SYNTH_DEFAULT_W 640
#define QB_SYNTH_DEFAULT_H 384

struct qb_synth_params {
    uint64_t seed;
    int width, height;   /* 64..4096 each */
};

/* One label: the box around the cone's visible pixels, normalised to [0, 1]. */
struct qb_synth_box {
    int cls;              /* enum qb_synth_class */
    int cone;             /* cone id within the scene: the same cone in both views */
    float cx, cy, w, h;   /* YOLO format */
    float depth;          /* camera-frame Z of the cone's base centre, metres */
    float occluded;       /* fraction of its in-image pixels hidden by nearer things */
};

struct qb_synth_view {
    unsigned char *rgb;   /* caller-allocated width * height * 3, interleaved RGB */
    int n_boxes;
    struct qb_synth_box boxes[QB_SYNTH_MAX_BOXES];
};

/* Camera of a scene: both views share intrinsics and rotation; the right camera
 * sits baseline metres to the right, so a point at depth Z has disparity
 * u_left - u_right = fx * baseline / Z pixels. */
struct qb_synth_info {
    float fx, cx, cy;
    float baseline, cam_height;
    int jpeg_quality;     /* suggested encoder quality for this scene */
    int n_cones;          /* cones placed in the world, labelled or not */
};

struct qb_synth;

/* Builds the shared textures (tens of milliseconds). Free with qb_synth_free. */
enum qb_status qb_synth_new(const struct qb_synth_params *p, struct qb_synth **out, struct qb_error *err);
void qb_synth_free(struct qb_synth *s);

/* Renders scene `scene` into views[0] (left) and views[1] (right). Thread-safe:
 * the context is read-only; each call allocates its own scratch. info may be NULL. */
enum qb_status qb_synth_render(const struct qb_synth *s, int64_t scene, struct qb_synth_view views[2],
                               struct qb_synth_info *info, struct qb_error *err);

#endif
