/* Detection metrics with Ultralytics val semantics: match -> PR curves -> AP -> summary.
 * References for each step: ultralytics/utils/metrics.py (box_iou, compute_ap, smooth,
 * ap_per_class, Metric), ultralytics/engine/validator.py (match_predictions, non-scipy
 * path), ultralytics/models/yolo/detect/val.py (update_metrics, get_stats,
 * print_results), numpy's compiled interp and pairwise summation. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NOTE: every expression below must be evaluated as written, without FMA contraction
 * (which -march=native with GNU C or clang would allow): bit-exactness with numpy and
 * torch depends on it. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define N_CONF 1000      /* confidence grid of the P, R and F1 curves */
#define N_REC 101        /* recall points of the AP */
#define F1_SMOOTH 0.1    /* box filter width, fraction of the grid */
#define NP_EPS 1e-16     /* ap_per_class's eps */
#define IOU_EPS 1e-7f    /* box_iou's eps, as torch adds it to a float32 tensor */

float qb_iou_threshold(int t)
{
    return (float)(0.5 + 0.05 * t);
}

float qb_box_iou(const struct qb_box *a, const struct qb_box *b)
{
    float w = (a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
    float h = (a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
    w = w < 0.0f ? 0.0f : w; /* clamp_(0) */
    h = h < 0.0f ? 0.0f : h;
    float inter = w * h;
    float area_a = (a->x2 - a->x1) * (a->y2 - a->y1);
    float area_b = (b->x2 - b->x1) * (b->y2 - b->y1);
    float denom = area_a + area_b - inter + IOU_EPS;
    return inter / denom;
}

/* ---- match ---- */

/* best_g/best_iou: nd entries, taken: ng entries. After sorting pairs by IoU and keeping
 * the first pair of each detection, a detection's pair is its same-class label of highest
 * IoU, whatever the threshold (ties: the later label); np.unique then reorders the pairs by
 * detection, so a label shared by several detections goes to the first of them. */
static void match_into(const struct qb_det *det, int nd, const struct qb_gt *gt, int ng, unsigned char *correct,
                       int *best_g, float *best_iou, unsigned short *taken)
{
    const float thr0 = qb_iou_threshold(0);
    float thr[QB_N_IOU];
    for (int t = 0; t < QB_N_IOU; t++)
        thr[t] = qb_iou_threshold(t);
    for (int j = 0; j < nd; j++) {
        memset(correct + (size_t)j * QB_N_IOU, 0, QB_N_IOU);
        best_g[j] = -1;
        best_iou[j] = 0.0f;
        for (int g = 0; g < ng; g++) {
            if (gt[g].cls != det[j].cls)
                continue;
            float iou = qb_box_iou(&gt[g].box, &det[j].box);
            if (!(iou >= thr0))
                continue; /* never a pair (also NaN) */
            if (best_g[j] < 0 || iou >= best_iou[j]) {
                best_g[j] = g;
                best_iou[j] = iou;
            }
        }
    }
    for (int g = 0; g < ng; g++)
        taken[g] = 0;
    for (int j = 0; j < nd; j++) {
        int g = best_g[j];
        if (g < 0)
            continue;
        for (int t = 0; t < QB_N_IOU && best_iou[j] >= thr[t]; t++) {
            if (taken[g] & (1u << t))
                continue;
            taken[g] |= (unsigned short)(1u << t);
            correct[(size_t)j * QB_N_IOU + (size_t)t] = 1;
        }
    }
}

enum qb_status qb_match(const struct qb_det *det, int nd, const struct qb_gt *gt, int ng, unsigned char *correct,
                        struct qb_error *err)
{
    enum qb_status st = QB_OK;
    int *best_g = NULL;
    float *best_iou = NULL;
    unsigned short *taken = NULL;
    if (nd < 0 || ng < 0)
        return qb_errorf(err, QB_ERR_USAGE, "qb_match: negative count (%d detections, %d labels)", nd, ng);
    best_g = malloc(sizeof(*best_g) * (size_t)(nd + 1));
    best_iou = malloc(sizeof(*best_iou) * (size_t)(nd + 1));
    taken = malloc(sizeof(*taken) * (size_t)(ng + 1));
    if (!best_g || !best_iou || !taken) {
        st = qb_errorf(err, QB_ERR_NOMEM, "qb_match: out of memory (%d detections, %d labels)", nd, ng);
        goto out;
    }
    match_into(det, nd, gt, ng, correct, best_g, best_iou, taken);
out:
    free(best_g);
    free(best_iou);
    free(taken);
    return st;
}

/* ---- numpy building blocks ---- */

/* last i with xp[i] <= key, given xp[0] <= key <= xp[n-1] (what numpy's
 * binary_search_with_guess returns for a non-decreasing xp) */
static int last_le(const double *xp, int n, double key)
{
    int lo = 0, hi = n; /* first index with xp > key lies in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (key >= xp[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

void qb_np_interp(const double *x, int nx, const double *xp, const double *fp, int n, double left, double right,
                  double *out)
{
    for (int i = 0; i < nx; i++) {
        double v = x[i];
        if (isnan(v)) {
            out[i] = v;
            continue;
        }
        if (v > xp[n - 1]) {
            out[i] = right;
            continue;
        }
        if (v < xp[0]) {
            out[i] = left;
            continue;
        }
        int j = last_le(xp, n, v);
        if (j == n - 1 || xp[j] == v) {
            out[i] = fp[j];
            continue;
        }
        double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
        double y = slope * (v - xp[j]) + fp[j];
        if (isnan(y)) { /* numpy: try from the other end, then the flat case */
            y = slope * (v - xp[j + 1]) + fp[j + 1];
            if (isnan(y) && fp[j] == fp[j + 1])
                y = fp[j];
        }
        out[i] = y;
    }
}

/* numpy's pairwise_sum for one buffer chunk */
static double pairwise_sum(const double *a, long n, long stride)
{
    if (n < 8) {
        double res = 0.0;
        for (long i = 0; i < n; i++)
            res += a[i * stride];
        return res;
    }
    if (n <= 128) {
        double r[8];
        long i;
        for (int k = 0; k < 8; k++)
            r[k] = a[k * stride];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++)
                r[k] += a[(i + k) * stride];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i * stride];
        return res;
    }
    long n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2, stride) + pairwise_sum(a + n2 * stride, n - n2, stride);
}

double qb_np_sum(const double *a, long n, long stride)
{
    double s = 0.0;
    for (long i = 0; i < n; i += 8192) /* the ufunc reduction's buffer size */
        s += pairwise_sum(a + i * stride, n - i < 8192 ? n - i : 8192, stride);
    return s;
}

/* np.linspace(0, 1, n): i * step, the last point exactly 1 */
static double linspace01(int i, int n)
{
    return i == n - 1 ? 1.0 : (double)i * (1.0 / (double)(n - 1));
}

/* np.maximum: NaN propagates */
static double np_maximum(double a, double b)
{
    if (isnan(a))
        return a;
    if (isnan(b))
        return b;
    return a >= b ? a : b;
}

double qb_compute_ap(const double *recall, const double *precision, int n, double *work)
{
    double *mrec = work, *mpre = work + n + 2;
    double x[N_REC], y[N_REC], term[N_REC - 1];
    mrec[0] = 0.0;
    mpre[0] = 1.0;
    for (int i = 0; i < n; i++) {
        mrec[i + 1] = recall[i];
        mpre[i + 1] = precision[i];
    }
    mrec[n + 1] = 1.0;
    mpre[n + 1] = 0.0;
    for (int i = n; i >= 0; i--) /* np.flip(np.maximum.accumulate(np.flip(mpre))) */
        mpre[i] = np_maximum(mpre[i + 1], mpre[i]);
    for (int i = 0; i < N_REC; i++)
        x[i] = linspace01(i, N_REC);
    qb_np_interp(x, N_REC, mrec, mpre, n + 2, mpre[0], mpre[n + 1], y);
    for (int i = 0; i < N_REC - 1; i++) /* np.trapz: d * (y[1:] + y[:-1]) / 2.0, summed */
        term[i] = (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
    return qb_np_sum(term, N_REC - 1, 1);
}

int qb_smooth(const double *y, int n, double f, double *out)
{
    int nf = (int)rint((double)n * f * 2.0) / 2 + 1; /* Python round(): half to even */
    int half = nf / 2, len = n + 2 * half - nf + 1;
    double w = 1.0 / (double)nf;
    for (int i = 0; i < len; i++) {
        double s = 0.0; /* np.convolve's dot, summed in order (reference BLAS) */
        for (int k = 0; k < nf; k++) {
            int src = i + k - half;
            double v = src < 0 ? y[0] : src >= n ? y[n - 1] : y[src];
            s += v * w;
        }
        out[i] = s;
    }
    return len;
}

/* ---- the accumulator ---- */

struct qb_metrics {
    int nc;
    int any_tp;
    long n_images;
    long n_det, cap_det;
    unsigned short *bits; /* per detection: bit t set = true positive at threshold t */
    float *conf;
    int *cls;
    long *instances; /* per class */
    long *images;    /* per class: images whose labels contain it */
    long *stamp;     /* per class: last image (1-based) counted in images[] */
    /* match scratch, grown as needed */
    int cap_nd, cap_ng;
    int *best_g;
    float *best_iou;
    unsigned short *taken;
    unsigned char *correct;
};

struct qb_metrics *qb_metrics_new(int nc)
{
    struct qb_metrics *m = NULL;
    if (nc < 1)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nc = nc;
    m->instances = calloc((size_t)nc, sizeof(*m->instances));
    m->images = calloc((size_t)nc, sizeof(*m->images));
    m->stamp = calloc((size_t)nc, sizeof(*m->stamp));
    if (!m->instances || !m->images || !m->stamp) {
        qb_metrics_free(m);
        return NULL;
    }
    return m;
}

void qb_metrics_free(struct qb_metrics *m)
{
    if (!m)
        return;
    free(m->bits);
    free(m->conf);
    free(m->cls);
    free(m->instances);
    free(m->images);
    free(m->stamp);
    free(m->best_g);
    free(m->best_iou);
    free(m->taken);
    free(m->correct);
    free(m);
}

/* realloc to n elements of size sz; the old block stays valid on failure */
static int grow(void **p, size_t n, size_t sz)
{
    void *q = realloc(*p, n * sz);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

static int reserve(struct qb_metrics *m, int nd, int ng)
{
    if (nd > m->cap_nd) {
        if (grow((void **)&m->best_g, (size_t)nd, sizeof(*m->best_g)) ||
            grow((void **)&m->best_iou, (size_t)nd, sizeof(*m->best_iou)) ||
            grow((void **)&m->correct, (size_t)nd * QB_N_IOU, 1))
            return -1;
        m->cap_nd = nd;
    }
    if (ng > m->cap_ng) {
        if (grow((void **)&m->taken, (size_t)ng, sizeof(*m->taken)))
            return -1;
        m->cap_ng = ng;
    }
    if (m->n_det + nd > m->cap_det) {
        long cap = m->cap_det ? m->cap_det : 1024;
        while (cap < m->n_det + nd)
            cap *= 2;
        if (grow((void **)&m->bits, (size_t)cap, sizeof(*m->bits)) ||
            grow((void **)&m->conf, (size_t)cap, sizeof(*m->conf)) ||
            grow((void **)&m->cls, (size_t)cap, sizeof(*m->cls)))
            return -1;
        m->cap_det = cap;
    }
    return 0;
}

enum qb_status qb_metrics_add(struct qb_metrics *m, const struct qb_det *det, int nd, const struct qb_gt *gt, int ng,
                              struct qb_error *err)
{
    if (nd < 0 || ng < 0 || (nd && !det) || (ng && !gt))
        return qb_errorf(err, QB_ERR_USAGE, "metrics: bad image (%d detections, %d labels)", nd, ng);
    for (int j = 0; j < nd; j++)
        if (det[j].cls < 0 || det[j].cls >= m->nc)
            return qb_errorf(err, QB_ERR_INVALID, "metrics: detection %d has class %d, the model has %d classes", j,
                             det[j].cls, m->nc);
    for (int g = 0; g < ng; g++)
        if (gt[g].cls < 0 || gt[g].cls >= m->nc)
            return qb_errorf(err, QB_ERR_INVALID, "metrics: label %d has class %d, the model has %d classes", g,
                             gt[g].cls, m->nc);
    if (reserve(m, nd, ng))
        return qb_errorf(err, QB_ERR_NOMEM, "metrics: out of memory after %ld detections", m->n_det);

    match_into(det, nd, gt, ng, m->correct, m->best_g, m->best_iou, m->taken);
    for (int j = 0; j < nd; j++) {
        unsigned short b = 0;
        for (int t = 0; t < QB_N_IOU; t++)
            if (m->correct[(size_t)j * QB_N_IOU + (size_t)t])
                b |= (unsigned short)(1u << t);
        m->any_tp |= b != 0;
        m->bits[m->n_det] = b;
        m->conf[m->n_det] = det[j].conf;
        m->cls[m->n_det] = det[j].cls;
        m->n_det++;
    }
    m->n_images++;
    for (int g = 0; g < ng; g++) {
        int c = gt[g].cls;
        m->instances[c]++;
        if (m->stamp[c] != m->n_images) {
            m->stamp[c] = m->n_images;
            m->images[c]++;
        }
    }
    return QB_OK;
}

/* ---- summary ---- */

/* a before b in np.argsort(-conf): higher confidence first, NaN last */
static int conf_before(float a, float b)
{
    return a > b || (isnan(b) && !isnan(a));
}

/* stable merge sort of idx[0..n) by confidence, descending; tmp has n entries */
static void sort_by_conf(const float *conf, long *idx, long *tmp, long n)
{
    for (long w = 1; w < n; w *= 2) {
        for (long lo = 0; lo < n; lo += 2 * w) {
            long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            long i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = conf_before(conf[idx[j]], conf[idx[i]]) ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(*idx));
    }
}

/* scratch for one class's curves, sized for the largest class */
struct pr_work {
    double *neg_conf, *rec, *prec, *ap_work, *neg_x;
};

/* One scored class (ap_per_class's loop body): det[0..n) are its detections by
 * confidence; fills ap[QB_N_IOU] and the P and R curves on the confidence grid. */
static void class_pr(const struct qb_metrics *m, const long *det, long n, long n_label, struct pr_work *w,
                     double *ap, double *p_curve, double *r_curve)
{
    if (n == 0) {
        memset(ap, 0, sizeof(double) * QB_N_IOU);
        memset(p_curve, 0, sizeof(double) * N_CONF);
        memset(r_curve, 0, sizeof(double) * N_CONF);
        return;
    }
    for (long i = 0; i < n; i++)
        w->neg_conf[i] = -(double)m->conf[det[i]];
    for (int t = 0; t < QB_N_IOU; t++) {
        long tpc = 0, fpc = 0;
        for (long i = 0; i < n; i++) {
            if (m->bits[det[i]] & (1u << t))
                tpc++;
            else
                fpc++;
            w->rec[i] = (double)tpc / ((double)n_label + NP_EPS);
            w->prec[i] = (double)tpc / (double)(tpc + fpc);
        }
        if (t == 0) {
            qb_np_interp(w->neg_x, N_CONF, w->neg_conf, w->rec, (int)n, 0.0, w->rec[n - 1], r_curve);
            qb_np_interp(w->neg_x, N_CONF, w->neg_conf, w->prec, (int)n, 1.0, w->prec[n - 1], p_curve);
        }
        ap[t] = qb_compute_ap(w->rec, w->prec, (int)n, w->ap_work);
    }
}

/* index of the best smoothed class-mean F1 on the confidence grid */
static int best_f1_index(const double *p_curve, const double *r_curve, int k, double *f1_mean, double *smoothed)
{
    for (int i = 0; i < N_CONF; i++)
        f1_mean[i] = 0.0;
    for (int c = 0; c < k; c++) /* f1_curve.mean(0): rows added in order */
        for (int i = 0; i < N_CONF; i++) {
            double p = p_curve[(size_t)c * N_CONF + (size_t)i], r = r_curve[(size_t)c * N_CONF + (size_t)i];
            f1_mean[i] += 2.0 * p * r / (p + r + NP_EPS);
        }
    for (int i = 0; i < N_CONF; i++)
        f1_mean[i] /= (double)k;
    int len = qb_smooth(f1_mean, N_CONF, F1_SMOOTH, smoothed); /* N_CONF points: the filter is 101 long */
    int best = 0; /* np.argmax: the first maximum, the first NaN */
    for (int i = 1; i < len && !isnan(smoothed[best]); i++)
        if (isnan(smoothed[i]) || smoothed[i] > smoothed[best])
            best = i;
    return best;
}

/* Stable counting sort of the confidence order by class: class c's detections are
 * out[start[c] .. start[c + 1]), still by confidence. start has nc + 1 entries. */
static void group_by_class(const int *cls, const long *order, long n, int nc, long *start, long *next, long *out)
{
    memset(start, 0, sizeof(*start) * ((size_t)nc + 1));
    for (long i = 0; i < n; i++)
        start[cls[i] + 1]++;
    for (int c = 0; c < nc; c++)
        start[c + 1] += start[c];
    memcpy(next, start, sizeof(*next) * (size_t)nc);
    for (long i = 0; i < n; i++)
        out[next[cls[order[i]]]++] = order[i];
}

/* ap_per_class over the k scored classes; fills r->cls[] and the means */
static enum qb_status score(const struct qb_metrics *m, struct qb_map_result *r, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    const int nc = m->nc, k = r->n_scored;
    const long n = m->n_det;
    long *order = NULL, *by_class = NULL, *start = NULL, *next = NULL;
    int *scored = NULL;
    double *curves = NULL, *aps = NULL, *ps = NULL, *rs = NULL, *buf = NULL, *f1_mean, *smoothed;
    struct pr_work w;
    long max_n = 0;
    int best;

    order = malloc(sizeof(*order) * (size_t)(n + 1));
    by_class = malloc(sizeof(*by_class) * (size_t)(n + 1));
    start = malloc(sizeof(*start) * ((size_t)nc + 1));
    next = malloc(sizeof(*next) * (size_t)nc);
    scored = malloc(sizeof(*scored) * (size_t)k);
    curves = malloc(sizeof(*curves) * (size_t)k * 2 * N_CONF); /* k P curves, then k R curves */
    aps = malloc(sizeof(*aps) * (size_t)k * QB_N_IOU);
    ps = malloc(sizeof(*ps) * (size_t)k);
    rs = malloc(sizeof(*rs) * (size_t)k);
    if (!order || !by_class || !start || !next || !scored || !curves || !aps || !ps || !rs)
        goto nomem;

    for (long i = 0; i < n; i++)
        order[i] = i;
    sort_by_conf(m->conf, order, by_class, n);
    group_by_class(m->cls, order, n, nc, start, next, by_class);
    for (int c = 0; c < nc; c++)
        if (start[c + 1] - start[c] > max_n)
            max_n = start[c + 1] - start[c];

    buf = malloc(sizeof(*buf) * ((size_t)max_n * 3 + 2 * ((size_t)max_n + 2) + 3 * N_CONF + 1));
    if (!buf)
        goto nomem;
    w.neg_conf = buf;
    w.rec = w.neg_conf + max_n;
    w.prec = w.rec + max_n;
    w.ap_work = w.prec + max_n;
    w.neg_x = w.ap_work + 2 * (max_n + 2);
    f1_mean = w.neg_x + N_CONF;
    smoothed = f1_mean + N_CONF;
    for (int i = 0; i < N_CONF; i++)
        w.neg_x[i] = -linspace01(i, N_CONF);

    for (int c = 0, s = 0; c < nc; c++) {
        if (m->instances[c] == 0)
            continue;
        scored[s] = c;
        class_pr(m, by_class + start[c], start[c + 1] - start[c], m->instances[c], &w, aps + (size_t)s * QB_N_IOU,
                 curves + (size_t)s * N_CONF, curves + ((size_t)k + (size_t)s) * N_CONF);
        s++;
    }
    best = best_f1_index(curves, curves + (size_t)k * N_CONF, k, f1_mean, smoothed);
    r->best_conf = linspace01(best, N_CONF);
    for (int s = 0; s < k; s++) {
        struct qb_class_result *cr = &r->cls[scored[s]];
        cr->p = ps[s] = curves[(size_t)s * N_CONF + (size_t)best];
        cr->r = rs[s] = curves[((size_t)k + (size_t)s) * N_CONF + (size_t)best];
        memcpy(cr->ap, aps + (size_t)s * QB_N_IOU, sizeof(cr->ap));
        cr->ap50 = cr->ap[0];
        cr->ap50_95 = qb_np_sum(cr->ap, QB_N_IOU, 1) / QB_N_IOU;
    }
    /* Metric.mp, mr, map50, map: np.mean over classes (and thresholds) */
    r->precision = qb_np_sum(ps, k, 1) / k;
    r->recall = qb_np_sum(rs, k, 1) / k;
    r->map50 = qb_np_sum(aps, k, QB_N_IOU) / k;
    r->map50_95 = qb_np_sum(aps, (long)k * QB_N_IOU, 1) / ((double)k * QB_N_IOU);
    goto out;
nomem:
    st = qb_errorf(err, QB_ERR_NOMEM, "metrics: out of memory summarising %ld detections", n);
out:
    free(order);
    free(by_class);
    free(start);
    free(next);
    free(scored);
    free(curves);
    free(aps);
    free(ps);
    free(rs);
    free(buf);
    return st;
}

enum qb_status qb_metrics_summary(const struct qb_metrics *m, struct qb_map_result *r, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    memset(r, 0, sizeof(*r));
    r->cls = calloc((size_t)m->nc, sizeof(*r->cls));
    if (!r->cls)
        return qb_errorf(err, QB_ERR_NOMEM, "metrics: out of memory (%d classes)", m->nc);
    r->nc = m->nc;
    r->n_images = m->n_images;
    for (int c = 0; c < m->nc; c++) {
        r->cls[c].instances = m->instances[c];
        r->cls[c].images = m->images[c];
        r->n_instances += m->instances[c];
        r->n_scored += m->instances[c] > 0;
    }
    /* Ultralytics computes nothing unless some detection is a true positive */
    r->any_tp = m->any_tp && r->n_scored > 0;
    if (r->any_tp)
        st = score(m, r, err);
    if (st != QB_OK)
        qb_map_result_free(r);
    return st;
}

void qb_map_result_free(struct qb_map_result *r)
{
    if (!r)
        return;
    free(r->cls);
    r->cls = NULL;
}

/* ---- report ---- */

void qb_metrics_print(FILE *f, const struct qb_map_result *r, const char *const *names)
{
    fprintf(f, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)");
    fprintf(f, "%22s%11ld%11ld%11.3g%11.3g%11.3g%11.3g\n", "all", r->n_images, r->n_instances, r->precision, r->recall,
            r->map50, r->map50_95);
    if (r->n_instances == 0)
        fprintf(f, "WARNING: no labels found, can not compute metrics without labels\n");
    if (r->nc < 2 || !r->any_tp)
        return;
    for (int c = 0; c < r->nc; c++) {
        const struct qb_class_result *cr = &r->cls[c];
        char num[16];
        const char *name = names ? names[c] : NULL;
        if (cr->instances == 0)
            continue;
        if (!name) {
            snprintf(num, sizeof(num), "%d", c);
            name = num;
        }
        fprintf(f, "%22s%11ld%11ld%11.3g%11.3g%11.3g%11.3g\n", name, cr->images, cr->instances, cr->p, cr->r, cr->ap50,
                cr->ap50_95);
    }
}
