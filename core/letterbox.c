/* Letterbox geometry and the float model input from a resized image (core/image.h).
 * Plain C, so the OpenCV-free build turns packed uint8 images into exactly the
 * inputs that the OpenCV build makes from files. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "image.h"

const char *const qb_letterbox_mode_names[QB_LETTERBOX_MODE_COUNT] = {
    [QB_LETTERBOX_PREDICT] = "predict",
    [QB_LETTERBOX_VAL] = "val",
};

int qb_letterbox_mode_parse(const char *s)
{
    for (int m = 0; m < QB_LETTERBOX_MODE_COUNT; m++)
        if (strcmp(s, qb_letterbox_mode_names[m]) == 0)
            return m;
    return -1;
}

#define SIDE_MAX 65535

/* Python's round() is half-to-even, as nearbyint() in the default rounding mode */
static int round_even(double v)
{
    return (int)nearbyint(v);
}

static void place(struct qb_letterbox *lb)
{
    const double dw = (lb->dst_w - lb->new_w) / 2.0, dh = (lb->dst_h - lb->new_h) / 2.0;
    lb->pad_left = round_even(dw - 0.1);
    lb->pad_top = round_even(dh - 0.1);
}

enum qb_status qb_letterbox_plan(int src_w, int src_h, int dst_w, int dst_h, enum qb_letterbox_mode mode,
                                 struct qb_letterbox *lb, struct qb_error *err)
{
    if (src_w < 1 || src_h < 1 || src_w > SIDE_MAX || src_h > SIDE_MAX)
        return qb_errorf(err, QB_ERR_USAGE, "letterbox: image size %dx%d out of range", src_w, src_h);
    if (dst_w < 1 || dst_h < 1 || dst_w > SIDE_MAX || dst_h > SIDE_MAX)
        return qb_errorf(err, QB_ERR_USAGE, "letterbox: input size %dx%d out of range", dst_w, dst_h);
    lb->src_w = src_w;
    lb->src_h = src_h;
    lb->dst_w = dst_w;
    lb->dst_h = dst_h;
    lb->mode = mode;
    switch (mode) {
    case QB_LETTERBOX_PREDICT: {
        const double r = fmin((double)dst_h / src_h, (double)dst_w / src_w);
        lb->new_w = round_even(src_w * r);
        lb->new_h = round_even(src_h * r);
        lb->scale = (float)r;
        break;
    }
    case QB_LETTERBOX_VAL: {
        /* BaseDataset.load_image (rect_mode) then LetterBox(scaleup=False): the long
         * side becomes exactly imgsz, so the second stage only pads */
        const int s = dst_w;
        if (dst_w != dst_h)
            return qb_errorf(err, QB_ERR_USAGE, "letterbox: val mode needs a square input, not %dx%d", dst_w, dst_h);
        const double r = (double)s / (src_w > src_h ? src_w : src_h);
        lb->new_w = src_w;
        lb->new_h = src_h;
        if (r != 1.0) {
            const double cw = ceil(src_w * r), ch = ceil(src_h * r);
            lb->new_w = cw < s ? (int)cw : s;
            lb->new_h = ch < s ? (int)ch : s;
        }
        lb->scale = (float)((double)lb->new_h / src_h);
        break;
    }
    default:
        return qb_errorf(err, QB_ERR_USAGE, "letterbox: unknown mode %d", (int)mode);
    }
    if (lb->new_w < 1)
        lb->new_w = 1;
    if (lb->new_h < 1)
        lb->new_h = 1;
    place(lb);
    return QB_OK;
}

void qb_letterbox_to_chw(const unsigned char *rgb, const struct qb_letterbox *lb, float *chw)
{
    const size_t plane = (size_t)lb->dst_w * lb->dst_h;
    const float pad = 114 / 255.0f;
    float lut[256];

    /* the same float division as the one-call path, once per value */
    for (int v = 0; v < 256; v++)
        lut[v] = v / 255.0f;
    for (int c = 0; c < 3; c++) {
        float *p = chw + c * plane;
        for (int y = 0; y < lb->dst_h; y++) {
            float *row = p + (size_t)y * lb->dst_w;
            const int sy = y - lb->pad_top;
            if (sy < 0 || sy >= lb->new_h) {
                for (int x = 0; x < lb->dst_w; x++)
                    row[x] = pad;
                continue;
            }
            const unsigned char *src = rgb + (size_t)sy * lb->new_w * 3 + c;
            for (int x = 0; x < lb->pad_left; x++)
                row[x] = pad;
            for (int x = 0; x < lb->new_w; x++)
                row[lb->pad_left + x] = lut[src[3 * x]];
            for (int x = lb->pad_left + lb->new_w; x < lb->dst_w; x++)
                row[x] = pad;
        }
    }
}
