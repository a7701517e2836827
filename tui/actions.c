/* The workbench's actions (see actions.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "actions.h"
#include "cli.h"
#include "core/calib.h"
#include "core/fileio.h"
#include "core/op.h"
#include "sessions/export.h"
#include "sessions/preset.h"

/* ---- builds ---- */

static void now_utc(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void tui_builds_clear(struct app *a)
{
    for (int i = 0; i < a->n_builds; i++) {
        free(a->builds[i].prec);
        qb_plan_spec_free(&a->builds[i].spec);
    }
    a->n_builds = 0;
    a->cur_build = a->prev_build = -1;
}

struct build *tui_build_new(struct app *a)
{
    if (a->n_builds == a->cap_builds) {
        int cap = a->cap_builds ? 2 * a->cap_builds : 32;
        struct build *b = realloc(a->builds, (size_t)cap * sizeof(*b));
        if (!b)
            return NULL;
        a->builds = b;
        a->cap_builds = cap;
    }
    struct build *b = &a->builds[a->n_builds];
    memset(b, 0, sizeof(*b));
    qb_plan_spec_init(&b->spec, QB_PREC_INT8);
    return b;
}

/* Adds an evaluated plan (prec is taken over) and makes it the current build. */
static void add_build(struct app *a, const char *what, enum qb_prec *prec, const struct qb_sweep_result *r)
{
    struct qb_error err = {0};
    struct build *b = tui_build_new(a);
    if (!b) {
        free(prec);
        tui_status(a, true, "out of memory");
        return;
    }
    snprintf(b->what, sizeof(b->what), "%s", what);
    qb_plan_hash(a->w.g, prec, b->hash);
    b->prec = prec;
    b->n_int8 = tui_count(a, prec, QB_PREC_INT8);
    b->n_fp16 = tui_count(a, prec, QB_PREC_FP16);
    b->cost = qb_sens_plan_cost(a->w.g, prec);
    b->images = (int)r->images;
    b->r = *r;
    b->latency_ms = r->cached || r->images <= 0 ? NAN : 1000 * r->seconds / (double)r->images;
    now_utc(b->time, sizeof(b->time));
    snprintf(b->executor, sizeof(b->executor), "cpu-sim");
    snprintf(b->device, sizeof(b->device), "%s", a->w.device);
    qb_plan_spec_free(&b->spec);
    if (work_plan_spec(&a->w, prec, &b->spec, &err) != QB_OK)
        tui_logf(a, "warning: %s", err.msg);
    a->n_builds++;
    a->prev_build = a->cur_build;
    a->cur_build = a->n_builds - 1;
    a->dirty = true;
    tui_history_pareto(a);
}

static const char *short_hash(const char *h, char buf[13])
{
    memcpy(buf, h, 12);
    buf[12] = 0;
    return buf;
}

/* ---- the plan, with undo ---- */

static bool push(enum qb_prec ***stack, int *n, int *cap, const enum qb_prec *prec, size_t bytes)
{
    enum qb_prec *copy = malloc(bytes);
    if (!copy)
        return false;
    memcpy(copy, prec, bytes);
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        enum qb_prec **s = realloc(*stack, (size_t)c * sizeof(*s));
        if (!s) {
            free(copy);
            return false;
        }
        *stack = s;
        *cap = c;
    }
    (*stack)[(*n)++] = copy;
    return true;
}

size_t tui_prec_bytes(const struct app *a)
{
    return (size_t)a->w.g->n_nodes * sizeof(*a->prec);
}

/* Before a change: the current plan onto the undo stack, and no redo. */
bool tui_will_change(struct app *a)
{
    if (!push(&a->undo, &a->n_undo, &a->cap_undo, a->prec, tui_prec_bytes(a))) {
        tui_status(a, true, "out of memory");
        return false;
    }
    for (int i = 0; i < a->n_redo; i++)
        free(a->redo[i]);
    a->n_redo = 0;
    a->dirty = true;
    return true;
}

void tui_changed(struct app *a)
{
    if (a->sort == COL_PREC)
        tui_nodes_rebuild(a);
}

static void undo_redo(struct app *a, bool undo)
{
    enum qb_prec ***from = undo ? &a->undo : &a->redo, ***to = undo ? &a->redo : &a->undo;
    int *nf = undo ? &a->n_undo : &a->n_redo, *nt = undo ? &a->n_redo : &a->n_undo;
    int *ct = undo ? &a->cap_redo : &a->cap_undo;
    if (*nf == 0) {
        tui_status(a, false, "nothing to %s", undo ? "undo" : "redo");
        return;
    }
    if (!push(to, nt, ct, a->prec, tui_prec_bytes(a))) {
        tui_status(a, true, "out of memory");
        return;
    }
    enum qb_prec *p = (*from)[--*nf];
    int diff = 0;
    for (int i = 0; i < a->w.g->n_nodes; i++)
        diff += p[i] != a->prec[i];
    free(a->prec);
    a->prec = p;
    a->dirty = true;
    tui_changed(a);
    tui_status(a, false, "%s: %d nodes changed back (%d more to %s)", undo ? "undone" : "redone", diff, *nf,
               undo ? "undo" : "redo");
}

void tui_act_undo(struct app *a) { undo_redo(a, true); }
void tui_act_redo(struct app *a) { undo_redo(a, false); }

/* The activation inputs an INT8 node reads must be calibrated. */
static const char *uncalibrated(const struct app *a, int k)
{
    const struct qb_graph *g = a->w.g;
    const struct qb_node *n = &g->nodes[k];
    for (int i = 0; i < n->n_in; i++) {
        const struct qb_value *v = qb_node_in(g, n, i);
        if (v && !(v->flags & QB_VALUE_CONST) && (v->dtype == QB_DTYPE_F32) && isnan(a->w.amax[n->in[i]]))
            return v->name;
    }
    return NULL;
}

void tui_act_toggle(struct app *a, enum tui_group grp)
{
    const struct qb_graph *g = a->w.g;
    char mod[256], unit[300];
    int k, n = 0, any_int8 = 0;

    if (a->n_rows == 0)
        return;
    k = a->rows[a->sel];
    if (grp == TUI_GROUP_MODULE && !strcmp(qb_sens_module(g->nodes[k].name, mod, sizeof(mod)), g->nodes[k].name)) {
        tui_status(a, true, "%s is in no Ultralytics module (/model.N/)", g->nodes[k].name);
        return;
    }
    snprintf(unit, sizeof(unit), "%s", grp == TUI_GROUP_NODE ? g->nodes[k].name
                                       : grp == TUI_GROUP_OP ? g->nodes[k].op_type
                                                             : mod);
    bool *in = calloc((size_t)g->n_nodes, sizeof(*in));
    if (!in)
        return;
    for (int i = 0; i < g->n_order; i++) {
        int j = g->order[i];
        char m2[256];
        bool member = grp == TUI_GROUP_NODE ? j == k
                      : grp == TUI_GROUP_OP ? strcmp(g->nodes[j].op_type, g->nodes[k].op_type) == 0
                                            : qb_sens_module(g->nodes[j].name, m2, sizeof(m2)) && !strcmp(m2, mod);
        if (member && qb_plan_node_int8_capable(g, &g->nodes[j])) {
            in[j] = true;
            n++;
            any_int8 += a->prec[j] == QB_PREC_INT8;
        }
    }
    if (n == 0) {
        tui_status(a, true, "%s cannot run INT8: it does not read and write float activations", unit);
        goto out;
    }
    enum qb_prec to = any_int8 ? QB_PREC_FP16 : QB_PREC_INT8;
    if (to == QB_PREC_INT8 && !a->w.amax) {
        tui_status(a, true, "INT8 needs a calibration table: open with --calib C.json (made by qbench calib)");
        goto out;
    }
    for (int j = 0; to == QB_PREC_INT8 && j < g->n_nodes; j++) {
        const char *t = in[j] ? uncalibrated(a, j) : NULL;
        if (t) {
            tui_status(a, true, "%s cannot run INT8: the calibration table has no amax for %s", g->nodes[j].name, t);
            goto out;
        }
    }
    if (!tui_will_change(a))
        goto out;
    for (int j = 0; j < g->n_nodes; j++)
        if (in[j])
            a->prec[j] = to;
    tui_changed(a);
    if (grp == TUI_GROUP_NODE)
        tui_status(a, false, "%s -> %s (r rebuilds)", unit, qb_plan_prec_name(to));
    else
        tui_status(a, false, "%s: %d nodes -> %s (r rebuilds)", unit, n, qb_plan_prec_name(to));
out:
    free(in);
}

/* ---- jobs ---- */

static void *worker_main(void *arg)
{
    struct app *a = arg;
    /* Below the screen thread, so a key is answered at once even with every core busy.
     * On Linux the nice value is per thread, and the executors' pool threads, made on
     * this thread, inherit it. */
    if (setpriority(PRIO_PROCESS, 0, 5) != 0)
        tui_logf(a, "note: the worker runs at normal priority");
    work_run(&a->w, a->job);
    return NULL;
}

static bool start(struct app *a, struct work_job *j)
{
    if (a->running) {
        tui_status(a, true, "busy: %s (Esc cancels it)", a->job->what[0] ? a->job->what : "a job is running");
        work_job_free(j);
        return false;
    }
    a->job = j;
    a->job_t0 = qb_cli_now();
    if (pthread_create(&a->thread, NULL, worker_main, a) != 0) {
        tui_status(a, true, "cannot start the worker thread");
        a->job = NULL;
        work_job_free(j);
        return false;
    }
    a->running = true;
    a->status[0] = 0;
    return true;
}

static struct work_job *job(struct app *a, enum work_job_kind kind)
{
    struct work_job *j = work_job_new(kind);
    if (!j)
        tui_status(a, true, "out of memory");
    else
        j->images = a->eval_images;
    return j;
}

void tui_act_open(struct app *a)
{
    struct work_job *j = job(a, WORK_OPEN);
    if (j)
        start(a, j);
}

void tui_act_rebuild(struct app *a)
{
    struct work_job *j = job(a, WORK_EVAL);
    int images = a->eval_images ? a->eval_images : a->w.src.set->n_images;
    if (!j)
        return;
    if (!(j->prec = malloc(tui_prec_bytes(a)))) {
        work_job_free(j);
        return;
    }
    memcpy(j->prec, a->prec, tui_prec_bytes(a));
    j->baselines = !a->have_base || a->base_images != images;
    start(a, j);
}

void tui_act_sens(struct app *a)
{
    struct work_job *j = job(a, WORK_SENS);
    if (!j)
        return;
    if (!a->w.amax) {
        tui_status(a, true, "sensitivity runs nodes in INT8: open with --calib C.json");
        work_job_free(j);
        return;
    }
    for (int i = 0; i < a->w.g->n_nodes; i++)
        a->sens[i] = NAN;
    a->sens_metric = a->w.src.set->labelled ? "dmAP" : "dfid";
    start(a, j);
}

void tui_act_search(struct app *a, double budget)
{
    struct work_job *j = job(a, WORK_SEARCH);
    int images = a->eval_images ? a->eval_images : a->w.src.set->n_images;
    if (!j)
        return;
    if (!a->w.amax || !a->w.src.set->labelled) {
        tui_status(a, true, "the search needs a calibration table (--calib) and labelled images (--data)");
        work_job_free(j);
        return;
    }
    j->budget = budget;
    if (a->rank && a->rank_images == images) { /* the ranking is done: lend it */
        j->sens = a->rank;
        a->rank = NULL;
    } else {
        for (int i = 0; i < a->w.g->n_nodes; i++)
            a->sens[i] = NAN;
        a->sens_metric = "dmAP";
    }
    start(a, j);
}

/* Sensitivity results as they arrive, into the table's column. */
static void take_partial(struct app *a)
{
    struct work_job *j = a->job;
    bool any = false;
    pthread_mutex_lock(&j->mu);
    if (j->partial && j->n_partial_new) {
        for (int i = 0; i < a->w.g->n_nodes; i++)
            if (!isnan(j->partial[i]))
                a->sens[i] = j->partial[i];
        j->n_partial_new = 0;
        any = true;
    }
    pthread_mutex_unlock(&j->mu);
    if (any && a->sort == COL_SENS)
        tui_nodes_rebuild(a);
}

static void take_rank(struct app *a, struct work_job *j)
{
    const struct qb_sens *s = j->sens;
    if (!s)
        return;
    for (int u = 0; u < s->n; u++)
        if (s->units[u].item.r.done && !isnan(s->units[u].cost))
            a->sens[s->units[u].nodes[0]] = s->units[u].cost;
    if (j->st == QB_OK || (j->kind == WORK_SEARCH && j->search)) {
        qb_sens_free(a->rank);
        a->rank = j->sens;
        a->rank_images = (int)s->base_item.r.images;
        j->sens = NULL;
    }
    if (a->sort == COL_SENS)
        tui_nodes_rebuild(a);
}

/* The model is open: the plan (the preset's, else all-INT8 when calibrated), the
 * table, the baselines, the preset's history; then the first build. */
static void opened(struct app *a, struct work_job *j)
{
    const struct qb_graph *g = a->w.g;
    double total = 0;
    a->prec = malloc(tui_prec_bytes(a));
    a->rows = malloc((size_t)g->n_nodes * sizeof(*a->rows));
    a->gain = calloc((size_t)g->n_nodes, sizeof(*a->gain));
    a->sens = malloc((size_t)g->n_nodes * sizeof(*a->sens));
    if (!a->prec || !a->rows || !a->gain || !a->sens) {
        tui_status(a, true, "out of memory");
        return;
    }
    memcpy(a->prec, a->w.amax ? a->w.int8 : a->w.fp16, tui_prec_bytes(a));
    for (int i = 0; i < g->n_order; i++)
        total += qb_node_flops(g, &g->nodes[g->order[i]]);
    for (int k = 0; k < g->n_nodes; k++) {
        a->sens[k] = NAN;
        if (!g->nodes[k].folded && total > 0 && qb_plan_node_int8_capable(g, &g->nodes[k]))
            a->gain[k] = 0.75 * qb_node_flops(g, &g->nodes[k]) / total;
    }
    a->fp32 = j->fp32;
    a->fp16 = j->fp16;
    a->base_images = (int)j->fp16.images;
    a->have_base = true;
    a->opened = true;
    if (a->loaded)
        tui_preset_apply(a, a->loaded, true);
    tui_nodes_rebuild(a);
    tui_logf(a, "opened %s: %d nodes, %d quantizable; FP32 mAP50-95 %.4f, FP16 %.4f on %d images", a->w.model,
             g->n_order, tui_count(a, a->w.int8, QB_PREC_INT8), a->fp32.map50_95, a->fp16.map50_95, a->base_images);
    if (a->cur_build < 0)
        tui_act_rebuild(a);
}

static void finished(struct app *a, struct work_job *j)
{
    char h[13];
    if (j->st != QB_OK && j->st != QB_ERR_CANCELLED)
        tui_status(a, true, "%s", j->err.msg[0] ? j->err.msg : qb_status_str(j->st));
    if (j->kind == WORK_OPEN) {
        if (j->st == QB_OK)
            opened(a, j);
        else
            snprintf(a->open_err, sizeof(a->open_err), "%s", j->err.msg[0] ? j->err.msg : qb_status_str(j->st));
        return;
    }
    if (j->baselines && j->fp16.done) {
        a->fp32 = j->fp32;
        a->fp16 = j->fp16;
        a->base_images = (int)j->fp16.images;
        a->have_base = true;
    }
    switch (j->kind) {
    case WORK_EVAL:
        if (j->st == QB_OK) {
            enum qb_prec *p = j->prec;
            j->prec = NULL;
            add_build(a, "rebuild", p, &j->r);
            const struct build *b = &a->builds[a->cur_build];
            tui_status(a, false, "plan %s: mAP50-95 %.4f (%+.4f vs FP16) on %d images, cost %.3f",
                       short_hash(b->hash, h), b->r.map50_95, b->r.map50_95 - a->fp16.map50_95, b->images, b->cost);
            tui_logf(a, "build %d: plan %s, %d INT8 / %d FP16, mAP50 %.4f mAP50-95 %.4f, %.1f s", a->n_builds,
                     h, b->n_int8, b->n_fp16, b->r.map50, b->r.map50_95, b->r.seconds);
        } else if (j->st == QB_ERR_CANCELLED) {
            tui_status(a, false, "evaluation cancelled");
        }
        break;
    case WORK_SENS:
        take_rank(a, j);
        if (j->st == QB_OK && a->rank && a->rank->n) {
            const struct qb_sens_unit_result *u = &a->rank->units[a->rank->rank[0]];
            tui_status(a, false, "sensitivity of %d nodes done; most sensitive: %s (%+.4f)", a->rank->n, u->name,
                       -u->cost);
            tui_logf(a, "sensitivity: %d nodes, %.0f s", a->rank->n, qb_cli_now() - a->job_t0);
        } else if (j->st == QB_ERR_CANCELLED) {
            tui_status(a, false, "sensitivity cancelled; the nodes measured stay in the table and the cache (s resumes)");
        }
        break;
    case WORK_SEARCH:
        take_rank(a, j);
        if (j->search) {
            const struct qb_search *s = j->search;
            int chosen = -1;
            for (int i = 0; i < s->n; i++) {
                const struct qb_search_plan *p = &s->plans[i];
                enum qb_prec *copy;
                char what[128];
                if (!p->item.r.done || !(copy = malloc(tui_prec_bytes(a))))
                    continue;
                memcpy(copy, p->prec, tui_prec_bytes(a));
                snprintf(what, sizeof(what), "search: %s", p->what);
                add_build(a, what, copy, &p->item.r);
                if (i == s->chosen)
                    chosen = a->cur_build;
            }
            if (chosen >= 0 && j->st == QB_OK) {
                const struct build *b = &a->builds[chosen];
                if (tui_will_change(a)) {
                    memcpy(a->prec, b->prec, tui_prec_bytes(a));
                    tui_changed(a);
                }
                a->prev_build = a->cur_build != chosen ? a->cur_build : a->prev_build;
                a->cur_build = chosen;
                tui_status(a, false, "search: %d plans; chosen keeps %d nodes FP16, cost %.3f, mAP50-95 %.4f (%+.4f)",
                           s->n, tui_count(a, a->w.int8, QB_PREC_INT8) - b->n_int8, b->cost, b->r.map50_95,
                           b->r.map50_95 - a->fp16.map50_95);
                tui_logf(a, "search: budget %.2f points, %d plans evaluated, chosen plan %s", j->budget, s->n,
                         short_hash(b->hash, h));
            }
        }
        if (j->st == QB_ERR_CANCELLED)
            tui_status(a, false, "search cancelled; the plans evaluated are in the history and the cache");
        break;
    case WORK_OPEN:
    case WORK_JOB_COUNT:
        break;
    }
}

void tui_jobs_poll(struct app *a)
{
    if (!a->running)
        return;
    take_partial(a);
    if (!atomic_load(&a->job->finished))
        return;
    struct work_job *j = a->job;
    pthread_join(a->thread, NULL);
    a->running = false;
    a->job = NULL;
    finished(a, j); /* may start the next job */
    work_job_free(j);
}

void tui_jobs_stop(struct app *a)
{
    if (!a->running)
        return;
    atomic_store(&a->w.cancel, 1);
    pthread_join(a->thread, NULL);
    a->running = false;
    work_job_free(a->job);
    a->job = NULL;
}
