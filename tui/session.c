/* The workbench's presets (sessions/preset.h) and exports (sessions/export.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "cli_preset.h"
#include "core/fileio.h"
#include "sessions/export.h"

static const struct {
    const char *format, *ext;
    enum qb_export_format f;
} exports[] = {
    {"modelopt", "modelopt.sh", QB_EXPORT_MODELOPT},
    {"trtexec", "trtexec.sh", QB_EXPORT_TRTEXEC},
    {"json", "json", QB_EXPORT_JSON},
    {"txt", "txt", QB_EXPORT_TXT},
};

const char *tui_export_ext(const char *format)
{
    for (size_t i = 0; i < sizeof(exports) / sizeof(exports[0]); i++)
        if (strcmp(exports[i].format, format) == 0)
            return exports[i].ext;
    return NULL;
}

void tui_act_export(struct app *a, const char *format, const char *path)
{
    struct qb_plan_spec spec;
    struct qb_error err = {0};
    char *text = NULL;
    enum qb_status st;
    size_t i = 0;

    while (strcmp(exports[i].format, format) != 0)
        i++;
    if ((st = work_plan_spec(&a->w, a->prec, &spec, &err)) == QB_OK) {
        struct qb_export_input in = {.g = a->w.g, .model = a->w.model, .model_sha256 = a->w.sha, .spec = &spec,
                                     .prec = a->prec, .calib_method = a->w.calib_method[0] ? a->w.calib_method : NULL};
        if ((st = qb_export(&in, exports[i].f, &text, &err)) == QB_OK)
            st = qb_file_write_atomic(path, text, strlen(text), &err);
    }
    if (st == QB_OK) {
        int lines = 0;
        tui_status(a, false, "exported the plan's %d FP16 nodes as %s to %s",
                   tui_count(a, a->w.int8, QB_PREC_INT8) - tui_count(a, a->prec, QB_PREC_INT8), format, path);
        tui_logf(a, "export %s -> %s:", format, path);
        for (char *p = text, *nl; p && *p && lines < 12; p = nl ? nl + 1 : NULL, lines++) {
            nl = strchr(p, '\n');
            tui_logf(a, "  %.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
        }
    } else {
        tui_status(a, true, "export: %s", err.msg[0] ? err.msg : qb_status_str(st));
    }
    free(text);
    qb_plan_spec_free(&spec);
}

/* ---- presets ---- */

static enum qb_status fill(struct app *a, struct qb_preset *p, struct qb_error *err)
{
    const struct work *w = &a->w;
    const struct qb_preset *old = a->loaded;
    enum qb_status st;

    if ((st = qb_preset_set_str(&p->model, w->model, err)) != QB_OK)
        return st;
    snprintf(p->model_sha256, sizeof(p->model_sha256), "%s", w->sha);
    if ((st = qb_preset_set_str(&p->source.data, w->src_opts.data, err)) != QB_OK ||
        (st = qb_preset_set_str(&p->source.split, w->src_opts.split, err)) != QB_OK ||
        (st = qb_preset_set_str(&p->source.images, w->src_opts.images, err)) != QB_OK ||
        (st = qb_preset_set_str(&p->source.pack, w->src_opts.pack, err)) != QB_OK)
        return st;
    p->source.images_max = (long)w->src_opts.max;
    /* how the table was made: what the preset it came from said, else the table's own record */
    if (old && old->calib.table && w->calib && strcmp(old->calib.table, w->calib) == 0) {
        if ((st = qb_preset_set_str(&p->calib.data, old->calib.data, err)) != QB_OK ||
            (st = qb_preset_set_str(&p->calib.split, old->calib.split, err)) != QB_OK ||
            (st = qb_preset_set_str(&p->calib.images, old->calib.images, err)) != QB_OK)
            return st;
        p->calib.percentile = old->calib.percentile;
    }
    if ((st = qb_preset_set_str(&p->calib.table, w->calib, err)) != QB_OK ||
        (st = qb_preset_set_str(&p->calib.method, w->calib_method[0] ? w->calib_method : NULL, err)) != QB_OK)
        return st;
    p->calib.images_max = w->calib ? w->calib_images : 0;
    p->eval_images = a->eval_images;
    qb_plan_spec_free(&p->plan);
    if ((st = work_plan_spec(w, a->prec, &p->plan, err)) != QB_OK)
        return st;
    for (int i = 0; i < a->n_builds && st == QB_OK; i++) {
        const struct build *b = &a->builds[i];
        struct qb_preset_build pb = {
            .what = (char *)b->what, .time = (char *)b->time, .executor = (char *)b->executor,
            .device = (char *)b->device, .n_int8 = b->n_int8, .n_fp16 = b->n_fp16, .cost = b->cost,
            .images = b->images, .map50 = b->r.map50, .map50_95 = b->r.map50_95, .precision = b->r.precision,
            .recall = b->r.recall, .fid50_95 = b->r.fid50_95, .sqnr_db = b->r.sqnr_db, .latency_ms = b->latency_ms,
            .plan = b->spec};
        snprintf(pb.plan_hash, sizeof(pb.plan_hash), "%s", b->hash);
        st = qb_preset_add_build(p, &pb, err);
    }
    return st;
}

enum qb_status tui_act_save(struct app *a, const char *path)
{
    struct qb_preset p;
    struct qb_error err = {0};
    enum qb_status st;

    qb_preset_init(&p);
    if ((st = fill(a, &p, &err)) == QB_OK)
        st = qb_preset_save(path, &p, &err);
    if (st == QB_OK) {
        if (path != a->preset_buf)
            snprintf(a->preset_buf, sizeof(a->preset_buf), "%s", path);
        a->preset_path = a->preset_buf;
        a->dirty = false;
        tui_status(a, false, "session saved to %s (%d builds)", path, a->n_builds);
        tui_logf(a, "saved %s", path);
    } else {
        tui_status(a, true, "save: %s (nothing was written)", err.msg[0] ? err.msg : qb_status_str(st));
    }
    qb_preset_free(&p);
    return st;
}

/* A plan spec resolved against the open model into a malloc'd precision array. */
static enum qb_status resolve(struct app *a, const struct qb_plan_spec *s, enum qb_prec **out, struct qb_error *err)
{
    enum qb_prec *prec = malloc(tui_prec_bytes(a) + sizeof(*prec));
    enum qb_status st;
    *out = NULL;
    if (!prec)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if ((st = qb_plan_resolve(s, a->w.g, prec, NULL, err)) != QB_OK) {
        free(prec);
        return st;
    }
    for (int k = 0; k < a->w.g->n_nodes; k++)
        if (prec[k] == QB_PREC_INT8 && !a->w.amax) {
            free(prec);
            return qb_errorf(err, QB_ERR_USAGE, "the preset's plan runs %s in INT8, and no calibration table is "
                             "open (--calib)", a->w.g->nodes[k].name);
        }
    *out = prec;
    return QB_OK;
}

enum qb_status tui_preset_apply(struct app *a, const struct qb_preset *p, bool at_start)
{
    struct qb_error err = {0};
    enum qb_prec *prec = NULL;
    enum qb_status st;

    if ((st = qb_preset_check_model(p, a->w.sha, &err)) != QB_OK || (st = resolve(a, &p->plan, &prec, &err)) != QB_OK) {
        tui_status(a, true, "preset: %s (nothing changed)", err.msg);
        return st;
    }
    if (!at_start && !tui_will_change(a)) {
        free(prec);
        return QB_ERR_NOMEM;
    }
    memcpy(a->prec, prec, tui_prec_bytes(a));
    free(prec);
    tui_changed(a);
    tui_builds_clear(a);
    for (int i = 0; i < p->n_builds; i++) {
        const struct qb_preset_build *pb = &p->builds[i];
        struct build *b = tui_build_new(a);
        struct qb_error e2 = {0};
        if (!b)
            break;
        snprintf(b->what, sizeof(b->what), "%s", pb->what ? pb->what : "");
        snprintf(b->time, sizeof(b->time), "%s", pb->time ? pb->time : "");
        snprintf(b->executor, sizeof(b->executor), "%s", pb->executor ? pb->executor : "");
        snprintf(b->device, sizeof(b->device), "%s", pb->device ? pb->device : "");
        snprintf(b->hash, sizeof(b->hash), "%s", pb->plan_hash);
        b->n_int8 = pb->n_int8;
        b->n_fp16 = pb->n_fp16;
        b->cost = pb->cost;
        b->images = (int)pb->images;
        b->r = (struct qb_sweep_result){.done = true, .images = pb->images, .map50 = pb->map50,
                                        .map50_95 = pb->map50_95, .precision = pb->precision, .recall = pb->recall,
                                        .fid50_95 = pb->fid50_95, .sqnr_db = pb->sqnr_db};
        b->latency_ms = pb->latency_ms;
        qb_plan_spec_free(&b->spec);
        if (qb_preset_copy_plan(&b->spec, &pb->plan, &e2) != QB_OK || resolve(a, &b->spec, &b->prec, &e2) != QB_OK)
            tui_logf(a, "warning: preset build %d: %s", i + 1, e2.msg);
        a->n_builds++;
    }
    a->cur_build = a->n_builds - 1;
    a->prev_build = a->n_builds - 2;
    tui_history_pareto(a);
    if (p->eval_images >= 0 && p->eval_images <= a->w.src.set->n_images)
        a->eval_images = (int)p->eval_images;
    a->dirty = false;
    return QB_OK;
}

void tui_act_load(struct app *a, const char *path)
{
    struct qb_preset *p = calloc(1, sizeof(*p));
    struct qb_error err = {0};

    if (!p)
        return;
    if (qb_preset_load(path, p, &err) != QB_OK) {
        tui_status(a, true, "load: %s (nothing changed)", err.msg);
        qb_preset_free(p);
        free(p);
        return;
    }
    if (tui_preset_apply(a, p, false) != QB_OK) {
        qb_preset_free(p);
        free(p);
        return;
    }
    if (p->source.data && a->w.src_opts.data && strcmp(p->source.data, a->w.src_opts.data) != 0)
        tui_logf(a, "warning: the preset was made on %s; this session evaluates %s", p->source.data,
                 a->w.src_opts.data);
    snprintf(a->preset_buf, sizeof(a->preset_buf), "%s", path);
    a->preset_path = a->preset_buf;
    if (a->loaded) {
        qb_preset_free(a->loaded);
        free(a->loaded);
    }
    a->loaded = p;
    tui_status(a, false, "loaded %s: plan with %d INT8 nodes, %d builds", path, tui_count(a, a->prec, QB_PREC_INT8),
               a->n_builds);
}

enum qb_status tui_preset_start(struct app *a)
{
    struct qb_cli_preset cp = {.path = a->preset_path};
    enum qb_status st = qb_cli_preset_load(&cp, "tui", &a->w.model); /* prints its errors */

    if (st == QB_OK && !(a->loaded = malloc(sizeof(*a->loaded))))
        st = QB_ERR_NOMEM;
    if (st != QB_OK) {
        qb_cli_preset_free(&cp);
        return st;
    }
    qb_cli_preset_source(&cp, &a->w.src_opts);
    qb_cli_preset_str(&a->w.calib, cp.p.calib.table);
    qb_cli_preset_str(&a->w.op_set, cp.p.plan.op_set);
    *a->loaded = cp.p; /* moved, with the strings the options now point to */
    snprintf(a->preset_buf, sizeof(a->preset_buf), "%s", a->preset_path);
    a->preset_path = a->preset_buf;
    return QB_OK;
}

void tui_recover(struct app *a)
{
    const char *path = "qbench-session.recovered.json";
    if (!a->opened)
        return;
    if (tui_act_save(a, path) == QB_OK)
        fprintf(stderr, "qbench: the unsaved session was written to %s\n", path);
    else
        fprintf(stderr, "qbench: the unsaved session could not be written: %s\n", a->status);
}
