/* The plan and its baselines in `qbench eval` (tui/eval_variants.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_plan.h"
#include "eval_variants.h"

static enum qb_status add_variant(struct eval_variants *vs, const struct qb_graph *g, const char *name,
                                  enum qb_prec *prec, const struct eval_variants_opts *o, struct qb_error *err)
{
    struct eval_variant *v = &vs->v[vs->n++];
    struct qb_exec_opts eo = *o->exec;
    enum qb_status st;

    v->name = name;
    v->prec = prec;
    eo.prec = prec;
    eo.amax = vs->amax;
    if ((st = qb_exec_new(g, &eo, &v->e, err)) != QB_OK)
        return st;
    if (!(v->s = qb_score_new(o->nc)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    return QB_OK;
}

enum qb_status eval_variants_new(struct eval_variants *vs, const struct qb_graph *g,
                                 const struct eval_variants_opts *o, struct qb_error *err)
{
    enum qb_prec *prec = NULL, *fp16 = NULL;
    enum qb_status st;

    memset(vs, 0, sizeof(*vs));
    vs->mode = "fp32";
    if ((st = qb_cli_plan_resolve(g, o->plan, o->log, o->verbose, &prec)) != QB_OK)
        return qb_errorf(err, st, "the plan does not fit %s (see above)", o->model);
    vs->v[0].prec = prec; /* owned from here on, freed with the variants */
    if (prec) {
        for (int i = 0; i < g->n_order; i++) {
            vs->n_int8 += prec[g->order[i]] == QB_PREC_INT8;
            vs->n_fp16 += prec[g->order[i]] == QB_PREC_FP16;
        }
        qb_plan_hash(g, prec, vs->hash);
        vs->mode = !vs->n_int8 ? "fp16" : o->plan->base == QB_PREC_INT8 && !o->plan->n_rules ? "int8" : "mixed";
        if ((st = qb_cli_plan_amax(g, o->model, o->calib, prec, &vs->amax, err)) != QB_OK)
            return st;
    }
    if ((st = add_variant(vs, g, prec ? "plan" : "fp32", prec, o, err)) != QB_OK || !prec || !o->baselines)
        return st;
    if ((st = add_variant(vs, g, "fp32", NULL, o, err)) != QB_OK)
        return st;
    if (!vs->n_int8)
        return QB_OK;
    if (!(fp16 = malloc((size_t)g->n_nodes * sizeof(*fp16))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++)
        fp16[i] = QB_PREC_FP16;
    return add_variant(vs, g, "fp16", fp16, o, err);
}

void eval_variants_free(struct eval_variants *vs)
{
    for (int i = 0; i < 3; i++) {
        qb_exec_free(vs->v[i].e);
        qb_score_free(vs->v[i].s);
        qb_score_result_free(&vs->v[i].r);
        free(vs->v[i].prec);
    }
    free(vs->amax);
    memset(vs, 0, sizeof(*vs));
}

static const struct eval_variant *find(const struct eval_variants *vs, const char *name)
{
    for (int i = 1; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0)
            return &vs->v[i];
    return NULL;
}

void eval_variants_compare(struct eval_variants *vs, int filled, int batch)
{
    const struct eval_variant *ref = find(vs, "fp32");
    const struct qb_tview *x, *y;

    if (!ref)
        return;
    x = qb_exec_output(vs->v[0].e, 0);
    y = qb_exec_output(ref->e, 0);
    qb_score_outputs(vs->v[0].s, x->data, y->data, (size_t)(qb_tview_numel(x) / batch * filled));
}

enum qb_status eval_variants_summary(struct eval_variants *vs, struct qb_error *err)
{
    for (int i = 0; i < vs->n; i++) {
        enum qb_status st;
        qb_score_result_free(&vs->v[i].r);
        if ((st = qb_score_summary(vs->v[i].s, &vs->v[i].r, err)) != QB_OK)
            return st;
    }
    return QB_OK;
}

static void print_row(FILE *f, const char *label, const struct qb_map_result *r, const struct qb_map_result *base,
                      double ms)
{
    fprintf(f, "%-18s %9.4f %9.4f %9.4f %9.4f", label, r->map50, r->map50_95, r->precision, r->recall);
    if (base)
        fprintf(f, "   %+8.4f %+8.4f", r->map50 - base->map50, r->map50_95 - base->map50_95);
    else
        fprintf(f, "   %8s %8s", "", "");
    fprintf(f, " %10.1f\n", ms);
}

void eval_variants_print(FILE *f, const struct eval_variants *vs, long n_images)
{
    const struct eval_variant *fp16 = find(vs, "fp16"), *fp32 = find(vs, "fp32");
    const struct qb_map_result *base = fp16 ? &fp16->r.map : fp32 ? &fp32->r.map : NULL;
    const struct qb_score_result *r = &vs->v[0].r;
    char label[40];
    double n = n_images > 0 ? (double)n_images : 1.0;

    if (vs->n < 2)
        return;
    fprintf(f, "\n%-18s %9s %9s %9s %9s   %8s %8s %10s\n", "precision", "mAP50", "mAP50-95", "P", "R", "dmAP50",
            "dmAP5095", "ms/image");
    fprintf(f, "%-18s %9s %9s %9s %9s   %17s %10s\n", "", "", "", "", "", base == &fp32->r.map ? "(vs FP32)" : "(vs FP16)",
            "(CPU sim)");
    print_row(f, "FP32 (reference)", &fp32->r.map, NULL, 1e3 * fp32->t_infer / n);
    if (fp16)
        print_row(f, "FP16", &fp16->r.map, &fp32->r.map, 1e3 * fp16->t_infer / n);
    snprintf(label, sizeof(label), "plan %.12s", vs->hash);
    print_row(f, label, &r->map, base, 1e3 * vs->v[0].t_infer / n);
    if (fp16)
        fprintf(f, "%-18s %9s %9s %9s %9s   %+8.4f %+8.4f\n", "  vs FP32", "", "", "", "",
                r->map.map50 - fp32->r.map.map50, r->map.map50_95 - fp32->r.map.map50_95);
    fprintf(f, "Output fidelity of the plan against FP32 (output 0, %ld images): SQNR %.2f dB, cosine %.6f\n",
            n_images, r->sqnr_db, r->cosine);
    fprintf(f, "Fidelity mAP of the plan against FP32's own detections (conf >= %.2f as labels): mAP50 %.4f, "
            "mAP50-95 %.4f\n", QB_FIDELITY_CONF, r->fidelity.map50, r->fidelity.map50_95);
}

static void add_metrics(cJSON *o, const struct qb_map_result *r)
{
    cJSON_AddNumberToObject(o, "map50", r->map50);
    cJSON_AddNumberToObject(o, "map50_95", r->map50_95);
    cJSON_AddNumberToObject(o, "precision", r->precision);
    cJSON_AddNumberToObject(o, "recall", r->recall);
}

static void add_delta(cJSON *root, const char *key, const struct qb_map_result *r, const struct qb_map_result *base)
{
    cJSON *d = cJSON_AddObjectToObject(root, key);
    if (!d)
        return;
    cJSON_AddNumberToObject(d, "map50", r->map50 - base->map50);
    cJSON_AddNumberToObject(d, "map50_95", r->map50_95 - base->map50_95);
    cJSON_AddNumberToObject(d, "precision", r->precision - base->precision);
    cJSON_AddNumberToObject(d, "recall", r->recall - base->recall);
}

void eval_variants_json(cJSON *root, const struct eval_variants *vs, long n_images)
{
    const struct eval_variant *fp16 = find(vs, "fp16"), *fp32 = find(vs, "fp32");
    cJSON *plan, *base;
    double n = n_images > 0 ? (double)n_images : 1.0;

    cJSON_AddStringToObject(root, "precision_mode", vs->mode);
    cJSON_AddStringToObject(root, "executor", qb_exec_describe(vs->v[0].e));
    if (!vs->v[0].prec)
        return;
    if ((plan = cJSON_AddObjectToObject(root, "plan"))) {
        cJSON_AddStringToObject(plan, "hash", vs->hash);
        cJSON_AddNumberToObject(plan, "int8_nodes", vs->n_int8);
        cJSON_AddNumberToObject(plan, "fp16_nodes", vs->n_fp16);
    }
    if (vs->n < 2 || !(base = cJSON_AddObjectToObject(root, "baselines")))
        return;
    for (int i = 1; i < vs->n; i++) {
        cJSON *o = cJSON_AddObjectToObject(base, vs->v[i].name);
        if (!o)
            continue;
        add_metrics(o, &vs->v[i].r.map);
        cJSON_AddNumberToObject(o, "inference_ms_per_image", 1e3 * vs->v[i].t_infer / n);
    }
    add_delta(root, "delta_fp32", &vs->v[0].r.map, &fp32->r.map);
    if (fp16)
        add_delta(root, "delta_fp16", &vs->v[0].r.map, &fp16->r.map);
    if (isfinite(vs->v[0].r.sqnr_db))
        cJSON_AddNumberToObject(root, "sqnr_db", vs->v[0].r.sqnr_db);
    cJSON_AddNumberToObject(root, "cosine", vs->v[0].r.cosine);
    if ((base = cJSON_AddObjectToObject(root, "fidelity"))) {
        cJSON_AddNumberToObject(base, "conf", QB_FIDELITY_CONF);
        cJSON_AddNumberToObject(base, "map50", vs->v[0].r.fidelity.map50);
        cJSON_AddNumberToObject(base, "map50_95", vs->v[0].r.fidelity.map50_95);
    }
}
