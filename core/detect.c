/* Detect-head decoding and NMS as Ultralytics `yolo val` does it.
 *
 * Checked against (ultralytics/ultralytics, pytorch/vision):
 * - ultralytics/utils/nms.py (was ops.py) non_max_suppression: `xc = amax(cls) >
 *   conf_thres`, multi-label `torch.where(cls > conf_thres)`: strict, and torch
 *   compares a float32 tensor with a Python float in float32, hence `s > conf` on
 *   floats here (DESIGN.md's ">= 0.001" is looser than the code). xywh2xyxy:
 *   cx -/+ w/2 in float. `argsort(descending)[:max_nms]`, boxes + cls * max_wh
 *   (7680), torchvision.ops.nms, `i[:max_det]`. multi_label &= nc > 1 (for one
 *   class both paths agree).
 * - torchvision/csrc/ops/cpu/nms_kernel.cpp: areas and IoU in float on the offset
 *   boxes, `inter / (iarea + areas[j] - inter) > iou_threshold` with the threshold a
 *   double. Greedy: a box is kept when no kept, higher-ranked box exceeds the
 *   threshold with it, which is the kernel's suppression loop reordered. (The CUDA
 *   kernel compares with a float threshold: the same at 0.7, whose float is below
 *   0.7, but not at 0.6, whose float is above.)
 * - ultralytics/utils/ops.py scale_boxes with ratio_pad (as the validator calls it):
 *   subtract the integer pads (LetterBox's round(d - 0.1)), divide by the gain, then
 *   clip_boxes clamps to [0, w] x [0, h] (NaN stays NaN, as torch.clamp). A float
 *   division, as on the CPU (CUDA multiplies by the reciprocal: one ulp apart).
 *
 * How it runs: candidates are packed into 64-bit keys (inverted score bits above
 * anchor * nc + class), so ascending key order is score descending with ties by
 * lower anchor then lower class. An MSD radix select keeps the max_nms smallest keys,
 * an LSD radix sort orders them, then greedy NMS compares each candidate only with
 * the kept boxes of its class: with class offsets of 7680, boxes of different
 * classes cannot intersect when all boxes span less than 7680 px in x or in y (the
 * check below); otherwise every kept box is compared, as torchvision would. The loop
 * stops at max_det kept, which changes nothing: later boxes never suppress earlier.
 */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WH 7680.0f /* Ultralytics' class offset */
#define HIST_BINS 65536
#define LANES 8 /* kept boxes compared at once */

struct qb_detector {
    struct qb_detect_layout lay;
    struct qb_detect_opts opts;
    float iou_gt; /* smallest float > opts.iou: `ovr > iou` is `ovr >= iou_gt` */
    int64_t n_cand;
    size_t key_cap, cand_cap;
    uint64_t *keys, *tmp;
    uint32_t *hist;
    unsigned char *nan_anchor;
    float *best;   /* single-label: best score per anchor */
    int *best_cls;
    float *cbox;   /* x1 y1 x2 y2 per sorted candidate */
    float *cscore;
    int *ccls;
    float *kx1, *ky1, *kx2, *ky2, *karea; /* kept offset boxes: [class][kstride] */
    size_t kstride;                       /* max_det rounded up to LANES */
    int *kcount;
    int *kept;
};

struct qb_detect_opts qb_detect_opts_default(void)
{
    return (struct qb_detect_opts){.conf = 0.001f, .iou = 0.7, .max_det = 300, .max_nms = 30000, .multi_label = 1};
}

static void shape_str(const int64_t *shape, int rank, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    o += (size_t)snprintf(buf, size, "[");
    for (int i = 0; shape && i < rank && i < 8 && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < size)
        snprintf(buf + o, size - o, "%s]", rank > 8 ? ", ..." : "");
}

enum qb_status qb_detect_layout(const int64_t *shape, int rank, int nc, struct qb_detect_layout *out,
                                struct qb_error *err)
{
    char s[160];
    shape_str(shape, rank, s, sizeof s);
    if (!shape || rank != 3)
        return qb_errorf(err, QB_ERR_UNSUPPORTED,
                         "detect output %s: expected rank 3, [B, 4+nc, N] or [B, N, 4+nc]; got rank %d", s, rank);
    for (int i = 0; i < 3; i++)
        if (shape[i] < 1)
            return qb_errorf(err, QB_ERR_UNSUPPORTED, "detect output %s: dimension %d is not a concrete size", s, i);
    if (nc < 0)
        return qb_errorf(err, QB_ERR_USAGE, "detect output %s: number of classes %d is negative", s, nc);
    const int64_t d1 = shape[1], d2 = shape[2];
    if (d1 == d2)
        return qb_errorf(err, QB_ERR_UNSUPPORTED,
                         "detect output %s: ambiguous, both dimensions are %lld: cannot tell 4+nc from anchors", s,
                         (long long)d1);
    int channels_last;
    if (nc > 0) {
        if (d1 == 4 + (int64_t)nc)
            channels_last = 0;
        else if (d2 == 4 + (int64_t)nc)
            channels_last = 1;
        else
            return qb_errorf(err, QB_ERR_UNSUPPORTED,
                             "detect output %s: neither dimension is 4+nc = %d (nc = %d from the model's metadata)", s,
                             4 + nc, nc);
    } else {
        channels_last = d2 < d1;
        const int64_t c = channels_last ? d2 : d1;
        if (c < 5)
            return qb_errorf(err, QB_ERR_UNSUPPORTED,
                             "detect output %s: the smaller dimension (%lld) leaves no class scores; expected 4+nc "
                             "with nc >= 1",
                             s, (long long)c);
        if (c - 4 > 1000000)
            return qb_errorf(err, QB_ERR_UNSUPPORTED, "detect output %s: %lld classes is not a detect head", s,
                             (long long)(c - 4));
        nc = (int)(c - 4);
    }
    *out = (struct qb_detect_layout){
        .batch = shape[0], .anchors = channels_last ? d1 : d2, .nc = nc, .channels_last = channels_last};
    return QB_OK;
}

void qb_detector_free(struct qb_detector *d)
{
    if (!d)
        return;
    free(d->keys);
    free(d->tmp);
    free(d->hist);
    free(d->nan_anchor);
    free(d->best);
    free(d->best_cls);
    free(d->cbox);
    free(d->cscore);
    free(d->ccls);
    free(d->kx1);
    free(d->ky1);
    free(d->kx2);
    free(d->ky2);
    free(d->karea);
    free(d->kcount);
    free(d->kept);
    free(d);
}

enum qb_status qb_detector_new(const struct qb_detect_layout *layout, const struct qb_detect_opts *opts,
                               struct qb_detector **out, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct qb_detector *d = NULL;
    const struct qb_detect_layout *L = layout;
    if (!out) {
        st = qb_errorf(err, QB_ERR_USAGE, "detector: no result pointer");
        goto out;
    }
    *out = NULL;
    if (!L || L->batch < 1 || L->anchors < 1 || L->nc < 1) {
        st = qb_errorf(err, QB_ERR_USAGE, "detector: layout missing or empty (use qb_detect_layout)");
        goto out;
    }
    if (!opts || !(opts->conf >= 0.0f && opts->conf <= 1.0f) || !(opts->iou >= 0.0 && opts->iou <= 1.0) ||
        opts->max_det < 1 || opts->max_nms < 1) {
        st = qb_errorf(err, QB_ERR_USAGE,
                       "detector: options out of range (conf and iou in [0, 1], max_det and max_nms >= 1)");
        goto out;
    }
    /* a key holds anchor * nc + class in 32 bits */
    if (L->anchors > INT32_MAX || L->nc > 1000000 || L->anchors * L->nc > (int64_t)UINT32_MAX) {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED, "detector: %lld anchors x %d classes is too many",
                       (long long)L->anchors, L->nc);
        goto out;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        st = qb_errorf(err, QB_ERR_NOMEM, "detector: out of memory");
        goto out;
    }
    d->lay = *L;
    d->opts = *opts;
    float f = (float)opts->iou;
    d->iou_gt = (double)f > opts->iou ? f : nextafterf(f, INFINITY);
    const int64_t cells = opts->multi_label ? L->anchors * L->nc : L->anchors;
    d->key_cap = (size_t)cells;
    d->cand_cap = (size_t)(cells < opts->max_nms ? cells : opts->max_nms);
    d->kstride = ((size_t)opts->max_det + LANES - 1) / LANES * LANES;
    const size_t N = (size_t)L->anchors, kept_cells = (size_t)L->nc * d->kstride;
    d->keys = malloc(d->key_cap * sizeof *d->keys);
    d->tmp = malloc(d->key_cap * sizeof *d->tmp);
    d->hist = malloc(HIST_BINS * sizeof *d->hist);
    d->nan_anchor = malloc(N);
    d->best = malloc(N * sizeof *d->best);
    d->best_cls = malloc(N * sizeof *d->best_cls);
    d->cbox = malloc(4 * d->cand_cap * sizeof *d->cbox);
    d->cscore = malloc(d->cand_cap * sizeof *d->cscore);
    d->ccls = malloc(d->cand_cap * sizeof *d->ccls);
    d->kx1 = calloc(kept_cells, sizeof(float));
    d->ky1 = calloc(kept_cells, sizeof(float));
    d->kx2 = calloc(kept_cells, sizeof(float));
    d->ky2 = calloc(kept_cells, sizeof(float));
    d->karea = malloc(kept_cells * sizeof(float));
    d->kcount = malloc((size_t)L->nc * sizeof *d->kcount);
    d->kept = malloc((size_t)opts->max_det * sizeof *d->kept);
    if (!d->keys || !d->tmp || !d->hist || !d->nan_anchor || !d->best || !d->best_cls || !d->cbox || !d->cscore ||
        !d->ccls || !d->kx1 || !d->ky1 || !d->kx2 || !d->ky2 || !d->karea || !d->kcount || !d->kept) {
        st = qb_errorf(err, QB_ERR_NOMEM, "detector: out of memory for %lld anchors x %d classes",
                       (long long)L->anchors, L->nc);
        goto out;
    }
    memset(d->karea, 0xFF, kept_cells * sizeof(float)); /* all-ones: NaN, an empty slot */
    *out = d;
    d = NULL;
out:
    qb_detector_free(d);
    return st;
}

int64_t qb_detector_candidates(const struct qb_detector *d)
{
    return d ? d->n_cand : 0;
}

/* score > conf >= 0, so the score is positive and its bits order like its value */
static inline uint64_t make_key(float s, uint32_t idx)
{
    uint32_t bits;
    memcpy(&bits, &s, sizeof bits);
    return (uint64_t)(~bits) << 32 | idx;
}

static inline float key_score(uint64_t key)
{
    uint32_t bits = ~(uint32_t)(key >> 32);
    float s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* Every (anchor, class) with score > conf; flags anchors with a NaN score. */
static size_t gather_multi(struct qb_detector *d, const float *base, int *saw_nan)
{
    const size_t N = (size_t)d->lay.anchors, nc = (size_t)d->lay.nc, C = nc + 4;
    const float conf = d->opts.conf;
    uint64_t *keys = d->keys;
    size_t n = 0;
    int has_nan = 0;
    if (d->lay.channels_last) {
        for (size_t a = 0; a < N; a++) {
            const float *p = base + a * C + 4;
            for (size_t c = 0; c < nc; c++) {
                if (p[c] > conf)
                    keys[n++] = make_key(p[c], (uint32_t)(a * nc + c));
                else if (p[c] != p[c])
                    has_nan = 1;
            }
        }
    } else {
        for (size_t c = 0; c < nc; c++) {
            const float *row = base + (4 + c) * N;
            for (size_t a = 0; a < N; a++) {
                if (row[a] > conf)
                    keys[n++] = make_key(row[a], (uint32_t)(a * nc + c));
                else if (row[a] != row[a])
                    has_nan = 1;
            }
        }
    }
    *saw_nan = has_nan;
    return n;
}

/* Ultralytics drops a whole anchor whose amax over classes is NaN. Rare: a second pass. */
static size_t drop_nan_anchors(struct qb_detector *d, const float *base, size_t n)
{
    const size_t N = (size_t)d->lay.anchors, nc = (size_t)d->lay.nc;
    const size_t cs = d->lay.channels_last ? 1 : N, as = d->lay.channels_last ? nc + 4 : 1;
    for (size_t a = 0; a < N; a++) {
        d->nan_anchor[a] = 0;
        for (size_t c = 0; c < nc; c++)
            if (isnan(base[(4 + c) * cs + a * as]))
                d->nan_anchor[a] = 1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!d->nan_anchor[(uint32_t)d->keys[i] / nc])
            d->keys[m++] = d->keys[i];
    return m;
}

/* Best class per anchor (first maximum; NaN wins, as torch.max), kept when > conf. */
static size_t gather_single(struct qb_detector *d, const float *base)
{
    const size_t N = (size_t)d->lay.anchors, nc = (size_t)d->lay.nc;
    const size_t cs = d->lay.channels_last ? 1 : N, as = d->lay.channels_last ? nc + 4 : 1;
    for (size_t a = 0; a < N; a++) {
        d->best[a] = base[4 * cs + a * as];
        d->best_cls[a] = 0;
    }
    for (size_t c = 1; c < nc; c++)
        for (size_t a = 0; a < N; a++) {
            const float s = base[(4 + c) * cs + a * as];
            if ((s > d->best[a] || s != s) && d->best[a] == d->best[a]) {
                d->best[a] = s;
                d->best_cls[a] = (int)c;
            }
        }
    size_t n = 0;
    for (size_t a = 0; a < N; a++)
        if (d->best[a] > d->opts.conf)
            d->keys[n++] = make_key(d->best[a], (uint32_t)(a * nc + (size_t)d->best_cls[a]));
    return n;
}

/* Moves the k smallest of keys[0..n) (unique) into dst, unordered; clobbers keys. */
static void select_smallest(uint64_t *keys, size_t n, size_t k, uint64_t *dst, uint32_t *hist)
{
    size_t nd = 0;
    for (int shift = 48; shift >= 0 && n > k; shift -= 16) {
        memset(hist, 0, HIST_BINS * sizeof *hist);
        for (size_t i = 0; i < n; i++)
            hist[(keys[i] >> shift) & 0xFFFF]++;
        size_t below = 0;
        uint32_t cut = 0;
        while (below + hist[cut] < k)
            below += hist[cut++];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const uint32_t dig = (uint32_t)(keys[i] >> shift) & 0xFFFF;
            if (dig < cut)
                dst[nd++] = keys[i];
            else if (dig == cut)
                keys[m++] = keys[i];
        }
        n = m;
        k -= below;
    }
    memcpy(dst + nd, keys, k * sizeof *keys);
}

/* LSD radix sort, 8 bits a pass, passes with one occupied bucket skipped. Returns
 * the array (a or b) that holds the result. */
static uint64_t *sort_keys(uint64_t *a, uint64_t *b, size_t n, uint32_t *hist)
{
    uint32_t(*h)[256] = (uint32_t(*)[256])hist;
    memset(hist, 0, 8 * 256 * sizeof *hist);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < 8; p++)
            h[p][(a[i] >> (8 * p)) & 0xFF]++;
    for (int p = 0; p < 8; p++) {
        const int shift = 8 * p;
        if (n == 0 || h[p][(a[0] >> shift) & 0xFF] == n)
            continue;
        uint32_t sum = 0;
        for (int v = 0; v < 256; v++) {
            const uint32_t c = h[p][v];
            h[p][v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[h[p][(a[i] >> shift) & 0xFF]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* Decodes sorted candidates into boxes; returns whether classes may share NMS
 * buckets: all boxes span < 7680 px in x or in y, so offset boxes of different
 * classes have no intersection. */
static int decode_sorted(struct qb_detector *d, const float *base, const uint64_t *keys, size_t k)
{
    const size_t N = (size_t)d->lay.anchors, nc = (size_t)d->lay.nc;
    const size_t cs = d->lay.channels_last ? 1 : N, as = d->lay.channels_last ? nc + 4 : 1;
    float mnx = INFINITY, mxx = -INFINITY, mny = INFINITY, mxy = -INFINITY;
    int has_nan = 0;
    for (size_t r = 0; r < k; r++) {
        const uint32_t idx = (uint32_t)keys[r];
        const size_t a = idx / nc;
        const float *p = base + a * as;
        const float cx = p[0], cy = p[cs], hw = p[2 * cs] / 2, hh = p[3 * cs] / 2;
        float *bx = d->cbox + 4 * r;
        bx[0] = cx - hw;
        bx[1] = cy - hh;
        bx[2] = cx + hw;
        bx[3] = cy + hh;
        d->cscore[r] = key_score(keys[r]);
        d->ccls[r] = (int)(idx % nc);
        for (int j = 0; j < 4; j++) {
            const float v = bx[j];
            has_nan |= v != v;
            if (j & 1) {
                mny = v < mny ? v : mny;
                mxy = v > mxy ? v : mxy;
            } else {
                mnx = v < mnx ? v : mnx;
                mxx = v > mxx ? v : mxx;
            }
        }
    }
    return !has_nan && ((double)mxx - (double)mnx < (double)MAX_WH || (double)mxy - (double)mny < (double)MAX_WH);
}

/* torchvision's max/min argument order (NaN handling follows it) */
static inline float vmax(float a, float b)
{
    return a < b ? b : a;
}

static inline float vmin(float a, float b)
{
    return b < a ? b : a;
}

/* Whether any kept box overlaps (x1..x2, y1..y2, area) by IoU > threshold. Kept
 * lists are scanned in blocks of LANES (vectorised: the block loop has a fixed trip
 * count); unused slots have a NaN area, so their IoU is NaN and never suppresses. */
static int suppressed(const float *kx1, const float *ky1, const float *kx2, const float *ky2, const float *ka, int n,
                      float x1, float y1, float x2, float y2, float area, float iou_gt)
{
    for (int q0 = 0; q0 < n; q0 += LANES) {
        int hit = 0;
        for (int l = 0; l < LANES; l++) {
            const int q = q0 + l;
            const float w = vmax(0.0f, vmin(kx2[q], x2) - vmax(kx1[q], x1));
            const float h = vmax(0.0f, vmin(ky2[q], y2) - vmax(ky1[q], y1));
            const float inter = w * h;
            const float uni = ka[q] + area;
            hit |= inter / (uni - inter) >= iou_gt;
        }
        if (hit)
            return 1;
    }
    return 0;
}

/* Greedy NMS over the k sorted candidates; returns the number kept (<= max_det). */
static int nms(struct qb_detector *d, size_t k, int by_class)
{
    const int max_det = d->opts.max_det, nb = by_class ? d->lay.nc : 1;
    memset(d->kcount, 0, (size_t)nb * sizeof *d->kcount);
    int nkept = 0;
    for (size_t r = 0; r < k && nkept < max_det; r++) {
        const int c = d->ccls[r], g = by_class ? c : 0;
        const float off = (float)c * MAX_WH;
        const float *bx = d->cbox + 4 * r;
        const float x1 = bx[0] + off, y1 = bx[1] + off, x2 = bx[2] + off, y2 = bx[3] + off;
        const float area = (x2 - x1) * (y2 - y1);
        const size_t o = (size_t)g * d->kstride;
        const int cnt = d->kcount[g];
        if (suppressed(d->kx1 + o, d->ky1 + o, d->kx2 + o, d->ky2 + o, d->karea + o, cnt, x1, y1, x2, y2, area,
                       d->iou_gt))
            continue;
        d->kx1[o + cnt] = x1;
        d->ky1[o + cnt] = y1;
        d->kx2[o + cnt] = x2;
        d->ky2[o + cnt] = y2;
        d->karea[o + cnt] = area;
        d->kcount[g] = cnt + 1;
        d->kept[nkept++] = (int)r;
    }
    for (int g = 0; g < nb; g++) /* empty the slots again for the next image */
        memset(d->karea + (size_t)g * d->kstride, 0xFF, (size_t)d->kcount[g] * sizeof(float));
    return nkept;
}

static inline float clampf(float v, float hi)
{
    return v < 0.0f ? 0.0f : v > hi ? hi : v;
}

enum qb_status qb_detect_image(struct qb_detector *d, const float *out, int64_t b, const struct qb_letterbox *lb,
                               struct qb_det *dets, int *n_dets, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    if (n_dets)
        *n_dets = 0;
    if (!d || !out || !dets || !n_dets) {
        st = qb_errorf(err, QB_ERR_USAGE, "detect: missing detector, output or result buffer");
        goto out;
    }
    if (b < 0 || b >= d->lay.batch) {
        st = qb_errorf(err, QB_ERR_USAGE, "detect: batch index %lld outside [0, %lld)", (long long)b,
                       (long long)d->lay.batch);
        goto out;
    }
    if (lb && (lb->src_w < 1 || lb->src_h < 1 || !(lb->scale > 0.0f) || isinf(lb->scale))) {
        st = qb_errorf(err, QB_ERR_USAGE, "detect: bad letterbox (image %dx%d, scale %g)", lb->src_w, lb->src_h,
                       (double)lb->scale);
        goto out;
    }
    const float *base = out + (size_t)b * (size_t)(d->lay.nc + 4) * (size_t)d->lay.anchors;
    size_t n;
    if (d->opts.multi_label && d->lay.nc > 1) {
        int saw_nan = 0;
        n = gather_multi(d, base, &saw_nan);
        if (saw_nan)
            n = drop_nan_anchors(d, base, n);
    } else {
        n = gather_single(d, base);
    }
    d->n_cand = (int64_t)n;

    size_t k = n;
    const uint64_t *sorted;
    if (n > (size_t)d->opts.max_nms) {
        k = (size_t)d->opts.max_nms;
        select_smallest(d->keys, n, k, d->tmp, d->hist);
        sorted = sort_keys(d->tmp, d->keys, k, d->hist);
    } else {
        sorted = sort_keys(d->keys, d->tmp, k, d->hist);
    }
    const int by_class = decode_sorted(d, base, sorted, k);
    const int nkept = nms(d, k, by_class);

    for (int q = 0; q < nkept; q++) {
        const int r = d->kept[q];
        const float *bx = d->cbox + 4 * r;
        struct qb_box box = {bx[0], bx[1], bx[2], bx[3]};
        if (lb) {
            const float px = (float)lb->pad_left, py = (float)lb->pad_top, w = (float)lb->src_w,
                        h = (float)lb->src_h;
            box.x1 = clampf((box.x1 - px) / lb->scale, w);
            box.y1 = clampf((box.y1 - py) / lb->scale, h);
            box.x2 = clampf((box.x2 - px) / lb->scale, w);
            box.y2 = clampf((box.y2 - py) / lb->scale, h);
        }
        dets[q] = (struct qb_det){.box = box, .conf = d->cscore[r], .cls = d->ccls[r]};
    }
    *n_dets = nkept;
out:
    return st;
}
