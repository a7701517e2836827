/* Resize (opset 10-19) and Upsample (opset 7-9): nearest on any dtype, linear
 * (N-d, separable) and cubic on float32.
 *
 * infer() turns the scales/sizes, coordinate transformation and rounding mode into
 * taps per axis: for output index o, ntaps (input index, weight) pairs (1 for
 * nearest, 2 for linear, 4 for cubic), computed in float as onnxruntime does. run()
 * then only gathers and blends: each output row combines the taps of the outer axes
 * (at most MAX_COMBOS source rows) with the taps of the last axis. */
#include <math.h>
#include <string.h>

#include "../op.h"
#include "opsutil.h"

#define MAX_COMBOS 64

enum rs_mode { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum rs_coord {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
};
enum rs_round { NR_SIMPLE, NR_ROUND_PREFER_FLOOR, NR_ROUND_PREFER_CEIL, NR_FLOOR, NR_CEIL };

struct rs_axis {
    bool identity;      /* output index o reads input index o with weight 1 */
    int64_t *idx;       /* [out * ntaps] */
    float *w;           /* [out * ntaps] */
    uint8_t *outside;   /* [out]: tf_crop_and_resize extrapolates here */
};

struct rs_params {
    enum rs_mode mode;
    int ntaps;
    int ndim;
    float extrapolation;
    bool any_outside;
    bool dup2;          /* last axis: nearest, idx[o] = o / 2 */
    struct rs_axis ax[QB_MAX_DIMS];
};

static const struct {
    const char *name;
    enum rs_coord ct;
    int min_opset;
} coord_names[] = {
    {"half_pixel", CT_HALF_PIXEL, 11},           {"half_pixel_symmetric", CT_HALF_PIXEL_SYMMETRIC, 19},
    {"pytorch_half_pixel", CT_PYTORCH_HALF_PIXEL, 11}, {"align_corners", CT_ALIGN_CORNERS, 11},
    {"asymmetric", CT_ASYMMETRIC, 11},           {"tf_half_pixel_for_nn", CT_TF_HALF_PIXEL_FOR_NN, 11},
    {"tf_crop_and_resize", CT_TF_CROP_AND_RESIZE, 11},
};

static const struct {
    const char *name;
    enum rs_round nr;
} round_names[] = {
    {"round_prefer_floor", NR_ROUND_PREFER_FLOOR},
    {"round_prefer_ceil", NR_ROUND_PREFER_CEIL},
    {"floor", NR_FLOOR},
    {"ceil", NR_CEIL},
};

/* resized coordinate -> input coordinate, in float as onnxruntime computes it */
static float original_coord(enum rs_coord ct, float x, float scale, float len_out, float len_in, float roi_start,
                            float roi_end)
{
    switch (ct) {
    case CT_ASYMMETRIC: return x / scale;
    case CT_PYTORCH_HALF_PIXEL: return len_out > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5f) / scale;
    case CT_ALIGN_CORNERS: return len_out == 1 ? 0.0f : x * (len_in - 1) / (len_out - 1);
    case CT_TF_CROP_AND_RESIZE:
        if (len_out > 1)
            return roi_start * (len_in - 1) + (x * (roi_end - roi_start) * (len_in - 1)) / (len_out - 1);
        return (float)(0.5 * (roi_start + roi_end) * (len_in - 1));
    case CT_HALF_PIXEL_SYMMETRIC: {
        float adj = len_out / (scale * len_in), center = len_in / 2;
        return center * (1 - adj) + (x + 0.5f) / scale - 0.5f;
    }
    default: return (x + 0.5f) / scale - 0.5f;
    }
}

static int64_t nearest_index(enum rs_round nr, float x, bool downsample)
{
    switch (nr) {
    case NR_SIMPLE: return downsample ? (int64_t)ceilf(x) : (int64_t)x;
    case NR_ROUND_PREFER_CEIL: return (int64_t)roundf(x);
    case NR_FLOOR: return (int64_t)floorf(x);
    case NR_CEIL: return (int64_t)ceilf(x);
    default:
        if (x == (float)(int64_t)x + 0.5f)
            return (int64_t)floorf(x);
        return (int64_t)roundf(x);
    }
}

static void cubic_coeffs(float s, float a, float c[4])
{
    float t = s + 1, u = 1 - s, v = 2 - s;
    c[0] = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    c[1] = ((a + 2) * s - (a + 3)) * s * s + 1;
    c[2] = ((a + 2) * u - (a + 3)) * u * u + 1;
    c[3] = ((a * v - 5 * a) * v + 8 * a) * v - 4 * a;
}

struct rs_attrs {
    enum rs_mode mode;
    enum rs_coord ct;
    enum rs_round nr;
    float cubic_a;
    bool exclude_outside;
};

/* Fills the taps of one axis. Returns false when coordinates overflow. */
static bool build_axis(struct qb_graph *g, struct rs_params *p, const struct rs_attrs *at, int d, int64_t in,
                       int64_t out, float scale, bool from_sizes, float roi_start, float roi_end)
{
    /* ONNX measures the resized length as input * scale when scales are given (it
     * differs from the integer output size when that product is fractional) */
    float len_out = from_sizes ? (float)out : scale * (float)in;
    struct rs_axis *ax = &p->ax[d];
    int nt = p->ntaps;
    bool ident = in == out;

    ax->idx = qb_arena_calloc(g->arena, (size_t)(out * nt + 1), sizeof(int64_t));
    ax->w = qb_arena_calloc(g->arena, (size_t)(out * nt + 1), sizeof(float));
    ax->outside = qb_arena_calloc(g->arena, (size_t)out + 1, 1);
    if (!ax->idx || !ax->w || !ax->outside)
        return false;
    for (int64_t o = 0; o < out; o++) {
        /* half_pixel_symmetric adjusts by the integer output size over scale * input */
        float xo = original_coord(at->ct, (float)o, scale, at->ct == CT_HALF_PIXEL_SYMMETRIC ? (float)out : len_out,
                                  (float)in, roi_start, roi_end);
        int64_t *ix = ax->idx + o * nt;
        float *w = ax->w + o * nt;
        if (at->ct == CT_TF_CROP_AND_RESIZE && (xo < 0 || xo > (float)(in - 1))) {
            ax->outside[o] = 1;
            p->any_outside = true;
            ident = false;
            continue;
        }
        if (!(fabsf(xo) < 1e15f)) {
            ax->outside[o] = 1; /* non-finite coordinate: no input to read */
            p->any_outside = true;
            ident = false;
            continue;
        }
        if (at->mode == RS_NEAREST) {
            int64_t i = nearest_index(at->nr, xo, scale < 1);
            ix[0] = i < 0 ? 0 : i >= in ? in - 1 : i;
            w[0] = 1;
        } else if (at->mode == RS_LINEAR) {
            float xc = xo < 0 ? 0 : xo > (float)(in - 1) ? (float)(in - 1) : xo;
            int64_t x1 = (int64_t)xc < in - 1 ? (int64_t)xc : in - 1, x2 = x1 + 1 < in - 1 ? x1 + 1 : in - 1;
            float d1 = fabsf(xc - (float)x1), d2 = fabsf(xc - (float)x2);
            if (x1 == x2)
                d1 = d2 = 0.5f;
            ix[0] = x1;
            ix[1] = x2;
            w[0] = d2;
            w[1] = d1;
        } else {
            float fl = floorf(xo), c[4], sum = 0;
            int64_t base = (int64_t)fl - 1;
            cubic_coeffs(xo - fl, at->cubic_a, c);
            for (int t = 0; t < 4; t++) {
                int64_t i = base + t;
                if (at->exclude_outside && (i < 0 || i >= in))
                    c[t] = 0;
                ix[t] = i < 0 ? 0 : i >= in ? in - 1 : i;
                sum += c[t];
            }
            for (int t = 0; t < 4; t++)
                w[t] = at->exclude_outside && sum != 0 ? c[t] / sum : c[t];
        }
        for (int t = 0; t < nt; t++) {
            bool self = ix[t] == o;
            if ((t == 0 && (!self || w[t] != 1)) || (t > 0 && w[t] != 0 && !self))
                ident = false;
        }
    }
    ax->identity = ident;
    if (d == p->ndim - 1 && at->mode == RS_NEAREST && out == 2 * in) {
        p->dup2 = true;
        for (int64_t o = 0; o < out && p->dup2; o++)
            p->dup2 = !ax->outside[o] && ax->idx[o] == o / 2;
    }
    return true;
}

/* Output shape and scales common to Resize and Upsample, then the taps. */
static enum qb_status finish(struct qb_graph *g, struct qb_node *n, const struct rs_attrs *at, const float *scales,
                             const int64_t *sizes, const float *roi, int n_roi, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct rs_params *p = qb_arena_alloc(g->arena, sizeof(*p));
    int64_t shape[QB_MAX_DIMS], combos = 1;
    float sc[QB_MAX_DIMS];

    if (!p)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
    if (at->mode != RS_NEAREST && x->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "%s mode on %s is not supported",
                              at->mode == RS_LINEAR ? "linear" : "cubic", qb_dtype_name(x->dtype));
    if (qb_dtype_size(x->dtype) == 0 || x->ndim < 1)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "input of type %s, rank %d is not supported",
                              qb_dtype_name(x->dtype), x->ndim);
    p->mode = at->mode;
    p->ntaps = at->mode == RS_NEAREST ? 1 : at->mode == RS_LINEAR ? 2 : 4;
    p->ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++) {
        int64_t in = x->shape[d];
        if (sizes) {
            shape[d] = sizes[d];
            sc[d] = in ? (float)sizes[d] / (float)in : 1.0f;
        } else {
            if (!(scales[d] > 0) || !isfinite(scales[d]))
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "scale %g is not positive", (double)scales[d]);
            sc[d] = scales[d];
            shape[d] = (int64_t)(scales[d] * (float)in);
        }
        if (shape[d] < 0 || shape[d] > ((int64_t)1 << 31))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "output dim %d would be %lld", d, (long long)shape[d]);
        if (in == 0 && shape[d] != 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "cannot resize an empty dim %d to %lld", d,
                                  (long long)shape[d]);
    }
    for (int d = 0; d < x->ndim; d++) {
        float rs = 0, re = 1;
        if (at->ct == CT_TF_CROP_AND_RESIZE) {
            if (n_roi != 2 * x->ndim)
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "roi has %d values for rank %d", n_roi, x->ndim);
            rs = roi[d];
            re = roi[d + x->ndim];
        }
        if (!build_axis(g, p, at, d, x->shape[d], shape[d], sc[d], sizes != NULL, rs, re))
            return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", g->path);
        if (d < x->ndim - 1 && !p->ax[d].identity)
            combos *= p->ntaps;
    }
    if (p->any_outside && x->dtype != QB_DTYPE_F32)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "tf_crop_and_resize extrapolation on %s is not supported",
                              qb_dtype_name(x->dtype));
    if (combos > MAX_COMBOS)
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "interpolating %lld source rows per output row",
                              (long long)combos);
    qb_opu_set_out(qb_node_out(g, n, 0), x->dtype, x->ndim, shape);
    n->params = p;
    return QB_OK;
}

static enum qb_status mode_attr(const struct qb_graph *g, const struct qb_node *n, struct rs_attrs *at,
                                struct qb_error *err)
{
    const char *mode;
    enum qb_status st = qb_node_attr_string(g, n, "mode", "nearest", &mode, err);
    if (st != QB_OK)
        return st;
    if (strcmp(mode, "nearest") == 0)
        at->mode = RS_NEAREST;
    else if (strcmp(mode, "linear") == 0 || (strcmp(mode, "bilinear") == 0 && g->opset < 10))
        at->mode = RS_LINEAR;
    else if (strcmp(mode, "cubic") == 0 && strcmp(n->op_type, "Resize") == 0 && g->opset >= 11)
        at->mode = RS_CUBIC;
    else
        return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    return QB_OK;
}

static enum qb_status resize_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct rs_attrs at = {RS_NEAREST, CT_ASYMMETRIC, NR_SIMPLE, -0.75f, false};
    float scales[QB_MAX_DIMS], roi[2 * QB_MAX_DIMS], ext = 0, sc_in[QB_MAX_DIMS];
    int64_t sizes[QB_MAX_DIMS], sz_in[QB_MAX_DIMS], axes[QB_MAX_DIMS], excl = 0, antialias = 0;
    int n_sc = -1, n_sz = -1, n_roi = -1, n_axes = -1, r = x->ndim;
    const char *ct = "half_pixel", *nr = "round_prefer_floor", *policy = "stretch";
    enum qb_status st;

    if ((st = mode_attr(g, n, &at, err)) != QB_OK)
        return st;
    if (g->opset < 11) {
        if ((st = qb_opu_const_floats(g, n, 1, "scales", sc_in, QB_MAX_DIMS, &n_sc, err)) != QB_OK)
            return st;
    } else {
        if ((st = qb_node_attr_string(g, n, "coordinate_transformation_mode", "half_pixel", &ct, err)) != QB_OK ||
            (st = qb_node_attr_string(g, n, "nearest_mode", "round_prefer_floor", &nr, err)) != QB_OK ||
            (st = qb_node_attr_float(g, n, "cubic_coeff_a", -0.75f, &at.cubic_a, err)) != QB_OK ||
            (st = qb_node_attr_int(g, n, "exclude_outside", 0, &excl, err)) != QB_OK ||
            (st = qb_node_attr_float(g, n, "extrapolation_value", 0.0f, &ext, err)) != QB_OK ||
            (st = qb_node_attr_int(g, n, "antialias", 0, &antialias, err)) != QB_OK ||
            (st = qb_node_attr_string(g, n, "keep_aspect_ratio_policy", "stretch", &policy, err)) != QB_OK ||
            (st = qb_node_attr_ints(g, n, "axes", axes, QB_MAX_DIMS, &n_axes, err)) != QB_OK)
            return st;
        at.ct = (enum rs_coord)-1;
        for (size_t i = 0; i < sizeof(coord_names) / sizeof(coord_names[0]); i++)
            if (strcmp(coord_names[i].name, ct) == 0 && g->opset >= coord_names[i].min_opset)
                at.ct = coord_names[i].ct;
        if ((int)at.ct < 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported",
                                  ct);
        at.nr = (enum rs_round)-1;
        for (size_t i = 0; i < sizeof(round_names) / sizeof(round_names[0]); i++)
            if (strcmp(round_names[i].name, nr) == 0)
                at.nr = round_names[i].nr;
        if ((int)at.nr < 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", nr);
        if (antialias)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "antialias=1 is not supported");
        if (strcmp(policy, "stretch") != 0)
            return qb_node_errorf(g, n, err, QB_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported",
                                  policy);
        if (excl && at.mode != RS_CUBIC)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "exclude_outside=1 needs cubic mode");
        at.exclude_outside = excl != 0;
        if (at.ct == CT_TF_CROP_AND_RESIZE &&
            (st = qb_opu_const_floats(g, n, 1, "roi", roi, 2 * QB_MAX_DIMS, &n_roi, err)) != QB_OK)
            return st;
        if ((st = qb_opu_const_floats(g, n, 2, "scales", sc_in, QB_MAX_DIMS, &n_sc, err)) != QB_OK ||
            (st = qb_opu_const_ints(g, n, 3, "sizes", sz_in, QB_MAX_DIMS, &n_sz, err)) != QB_OK)
            return st;
        if (n_sc == 0)
            n_sc = -1; /* an empty scales tensor stands for "not given" */
        if (n_sz == 0)
            n_sz = -1;
    }
    if ((n_sc >= 0) == (n_sz >= 0))
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "exactly one of scales and sizes must be given");
    if (n_axes < 0) {
        n_axes = r;
        for (int i = 0; i < r; i++)
            axes[i] = i;
    }
    if ((n_sc >= 0 ? n_sc : n_sz) != n_axes)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "%s has %d values for %d axes", n_sc >= 0 ? "scales" : "sizes",
                              n_sc >= 0 ? n_sc : n_sz, n_axes);
    for (int d = 0; d < r; d++) {
        scales[d] = 1.0f;
        sizes[d] = x->shape[d];
    }
    for (int i = 0; i < n_axes; i++) {
        int a = qb_opu_axis(axes[i], r);
        if (a < 0)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "axis %lld is out of range", (long long)axes[i]);
        if (n_sc >= 0)
            scales[a] = sc_in[i];
        else
            sizes[a] = sz_in[i];
    }
    if (at.ct == CT_TF_CROP_AND_RESIZE && n_roi == 2 * n_axes && n_axes != r) {
        /* roi given for the listed axes only: spread it over all dims */
        float full[2 * QB_MAX_DIMS];
        for (int d = 0; d < r; d++) {
            full[d] = 0;
            full[d + r] = 1;
        }
        for (int i = 0; i < n_axes; i++) {
            int a = qb_opu_axis(axes[i], r);
            full[a] = roi[i];
            full[a + r] = roi[i + n_axes];
        }
        memcpy(roi, full, sizeof(full));
        n_roi = 2 * r;
    }
    if ((st = finish(g, n, &at, scales, n_sz >= 0 ? sizes : NULL, roi, n_roi, err)) != QB_OK)
        return st;
    ((struct rs_params *)n->params)->extrapolation = ext;
    return QB_OK;
}

static enum qb_status upsample_infer(struct qb_graph *g, struct qb_node *n, struct qb_error *err)
{
    const struct qb_value *x = qb_node_in(g, n, 0);
    struct rs_attrs at = {RS_NEAREST, CT_ASYMMETRIC, NR_SIMPLE, -0.75f, false};
    float scales[QB_MAX_DIMS];
    int cnt = -1;
    enum qb_status st;

    if ((st = mode_attr(g, n, &at, err)) != QB_OK)
        return st;
    if (g->opset < 9) {
        const struct qb_attr *a = qb_node_attr(n, "scales");
        if (!a || a->type != QB_ATTR_FLOATS)
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "attribute 'scales' is missing");
        cnt = a->n;
        for (int i = 0; i < cnt && i < QB_MAX_DIMS; i++)
            scales[i] = a->u.fs[i];
    } else if ((st = qb_opu_const_floats(g, n, 1, "scales", scales, QB_MAX_DIMS, &cnt, err)) != QB_OK) {
        return st;
    }
    if (cnt != x->ndim)
        return qb_node_errorf(g, n, err, QB_ERR_INVALID, "scales has %d values for rank %d", cnt, x->ndim);
    for (int i = 0; i < cnt; i++)
        if (!(scales[i] >= 1))
            return qb_node_errorf(g, n, err, QB_ERR_INVALID, "scale %g is below 1", (double)scales[i]);
    return finish(g, n, &at, scales, NULL, NULL, 0, err);
}

/* run ----------------------------------------------------------------------------------- */

struct rs_job {
    const struct rs_params *p;
    const struct qb_tview *x, *y;
    int64_t istr[QB_MAX_DIMS];
    size_t es;
};

static void rs_rows(void *ctx, int64_t b, int64_t e)
{
    const struct rs_job *j = ctx;
    const struct rs_params *p = j->p;
    const struct qb_tview *x = j->x, *y = j->y;
    int last = p->ndim - 1, nt = p->ntaps;
    int64_t W = y->shape[last], prev_off = -1;
    const struct rs_axis *lx = &p->ax[last];
    size_t es = j->es;

    for (int64_t row = b; row < e; row++) {
        int64_t off[MAX_COMBOS], rem = row, oidx[QB_MAX_DIMS];
        float wt[MAX_COMBOS];
        int nc = 1;
        bool outside = false;
        char *dst = (char *)y->data + (size_t)(row * W) * es;

        off[0] = 0;
        wt[0] = 1;
        for (int d = last - 1; d >= 0; d--) {
            oidx[d] = rem % y->shape[d];
            rem /= y->shape[d];
        }
        for (int d = 0; d < last; d++) {
            const struct rs_axis *ax = &p->ax[d];
            int64_t o = oidx[d];
            if (ax->identity) {
                for (int c = 0; c < nc; c++)
                    off[c] += o * j->istr[d];
                continue;
            }
            if (ax->outside[o])
                outside = true;
            for (int c = nc - 1; c >= 0; c--)
                for (int t = nt - 1; t >= 0; t--) {
                    off[c * nt + t] = off[c] + ax->idx[o * nt + t] * j->istr[d];
                    wt[c * nt + t] = wt[c] * ax->w[o * nt + t];
                }
            nc *= nt;
        }
        if (outside) {
            for (int64_t c = 0; c < W; c++)
                ((float *)dst)[c] = p->extrapolation;
            prev_off = -1;
            continue;
        }
        if (p->mode == RS_NEAREST) {
            const char *src = (const char *)x->data + (size_t)off[0] * es;
            if (off[0] == prev_off && row > b) {
                memcpy(dst, dst - (size_t)W * es, (size_t)W * es); /* same source row as the last one */
                continue;
            }
            prev_off = off[0];
            if (lx->identity) {
                memcpy(dst, src, (size_t)W * es);
            } else if (p->dup2 && es == 4) {
                const uint32_t *s = (const uint32_t *)src;
                uint32_t *d = (uint32_t *)dst;
                for (int64_t c = 0; c < W / 2; c++)
                    d[2 * c] = d[2 * c + 1] = s[c];
            } else {
                for (int64_t c = 0; c < W; c++) {
                    if (lx->outside[c]) {
                        ((float *)dst)[c] = p->extrapolation;
                        continue;
                    }
                    memcpy(dst + (size_t)c * es, src + (size_t)lx->idx[c] * es, es);
                }
            }
            continue;
        }
        for (int64_t c = 0; c < W; c++) {
            const float *xs = x->data;
            float acc = 0;
            if (lx->outside[c]) {
                ((float *)dst)[c] = p->extrapolation;
                continue;
            }
            for (int k = 0; k < nc; k++) {
                const float *s = xs + off[k];
                float r = 0;
                if (lx->identity)
                    r = s[c];
                else
                    for (int t = 0; t < nt; t++)
                        r += lx->w[c * nt + t] * s[lx->idx[c * nt + t]];
                acc += wt[k] * r;
            }
            ((float *)dst)[c] = acc;
        }
    }
}

static enum qb_status resize_run(const struct qb_node *n, const struct qb_tview *in, struct qb_tview *out,
                                 const struct qb_kctx *ctx)
{
    const struct rs_params *p = n->params;
    struct rs_job j = {p, &in[0], &out[0], {0}, qb_dtype_size(in[0].dtype)};
    int64_t s = 1, numel = qb_tview_numel(&out[0]), W = out[0].shape[p->ndim - 1];

    for (int d = p->ndim - 1; d >= 0; d--) {
        j.istr[d] = s;
        s *= in[0].shape[d];
    }
    if (numel == 0)
        return QB_OK;
    qb_opu_parallel(ctx->pool, numel / W, 1 + QB_OPU_GRAIN / (W * p->ntaps), rs_rows, &j);
    return QB_OK;
}

static const char *const a_resize10[] = {"mode", NULL};
static const char *const a_resize[] = {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                                       "exclude_outside", "extrapolation_value", "antialias", "axes",
                                       "keep_aspect_ratio_policy", NULL};
static const char *const a_upsample7[] = {"mode", "scales", NULL};

const struct qb_op_def qb_ops_resize[] = {
    {.name = "Resize", .min_opset = 10, .max_opset = 10, .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
     .attrs = a_resize10, .infer = resize_infer, .run = resize_run},
    {.name = "Resize", .min_opset = 11, .min_in = 1, .max_in = 4, .min_out = 1, .max_out = 1, .attrs = a_resize,
     .infer = resize_infer, .run = resize_run},
    {.name = "Upsample", .min_opset = 7, .max_opset = 8, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
     .attrs = a_upsample7, .infer = upsample_infer, .run = resize_run},
    {.name = "Upsample", .min_opset = 9, .max_opset = 9, .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
     .attrs = a_resize10, .infer = upsample_infer, .run = resize_run},
    {.name = NULL},
};
