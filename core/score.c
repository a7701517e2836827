/* One plan's scores: labels, fidelity, raw-output SQNR (core/score.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "score.h"

struct qb_score {
    struct qb_metrics *labels, *fidelity;
    struct qb_metrics *self;     /* FP32's detections against themselves: fidelity's 1 */
    struct qb_gt *gt;            /* FP32's confident detections of the current image */
    int gt_cap;
    double ref2, err2, dot, y2;  /* sum ref^2, (y - ref)^2, y * ref, y^2 */
    size_t compared;
};

struct qb_score *qb_score_new(int nc)
{
    struct qb_score *s = calloc(1, sizeof(*s));
    if (!s || !(s->labels = qb_metrics_new(nc)) || !(s->fidelity = qb_metrics_new(nc)) ||
        !(s->self = qb_metrics_new(nc))) {
        qb_score_free(s);
        return NULL;
    }
    return s;
}

void qb_score_free(struct qb_score *s)
{
    if (!s)
        return;
    qb_metrics_free(s->labels);
    qb_metrics_free(s->fidelity);
    qb_metrics_free(s->self);
    free(s->gt);
    free(s);
}

enum qb_status qb_score_labels(struct qb_score *s, const struct qb_det *d, int n, const struct qb_gt *gt, int ng,
                               struct qb_error *err)
{
    return qb_metrics_add(s->labels, d, n, gt, ng, err);
}

enum qb_status qb_score_fidelity(struct qb_score *s, const struct qb_det *d, int n, const struct qb_det *ref,
                                 int n_ref, struct qb_error *err)
{
    int ng = 0;
    if (n_ref > s->gt_cap) {
        struct qb_gt *grown = realloc(s->gt, (size_t)n_ref * sizeof(*grown));
        if (!grown)
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        s->gt = grown;
        s->gt_cap = n_ref;
    }
    for (int i = 0; i < n_ref; i++)
        if (ref[i].conf >= QB_FIDELITY_CONF)
            s->gt[ng++] = (struct qb_gt){.box = ref[i].box, .cls = ref[i].cls};
    enum qb_status st = qb_metrics_add(s->fidelity, d, n, s->gt, ng, err);
    return st == QB_OK ? qb_metrics_add(s->self, ref, n_ref, s->gt, ng, err) : st;
}

void qb_score_outputs(struct qb_score *s, const float *y, const float *ref, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double a = y[i], b = ref[i];
        s->ref2 += b * b;
        s->err2 += (a - b) * (a - b);
        s->dot += a * b;
        s->y2 += a * a;
    }
    s->compared += count;
}

enum qb_status qb_score_summary(const struct qb_score *s, struct qb_score_result *r, struct qb_error *err)
{
    struct qb_map_result self = {0};
    enum qb_status st;
    memset(r, 0, sizeof(*r));
    if ((st = qb_metrics_summary(s->labels, &r->map, err)) != QB_OK ||
        (st = qb_metrics_summary(s->fidelity, &r->fidelity, err)) != QB_OK ||
        (st = qb_metrics_summary(s->self, &self, err)) != QB_OK)
        return st;
    r->fidelity.map50 = self.map50 > 0 ? r->fidelity.map50 / self.map50 : 0;
    r->fidelity.map50_95 = self.map50_95 > 0 ? r->fidelity.map50_95 / self.map50_95 : 0;
    qb_map_result_free(&self);
    r->sqnr_db = !s->compared ? NAN : s->err2 > 0 ? 10.0 * log10(s->ref2 / s->err2) : INFINITY;
    r->cosine = !s->compared ? NAN : s->y2 > 0 && s->ref2 > 0 ? s->dot / sqrt(s->y2 * s->ref2) : 0.0;
    return QB_OK;
}

void qb_score_result_free(struct qb_score_result *r)
{
    qb_map_result_free(&r->map);
    qb_map_result_free(&r->fidelity);
}
