/* The workbench's jobs: open, evaluate, sensitivity, search (see work.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sha2.h>

#include "cli.h"
#include "core/calib.h"
#include "work.h"

struct work_job *work_job_new(enum work_job_kind kind)
{
    struct work_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = kind;
    j->eta = -1;
    pthread_mutex_init(&j->mu, NULL);
    return j;
}

void work_job_free(struct work_job *j)
{
    if (!j)
        return;
    pthread_mutex_destroy(&j->mu);
    free(j->prec);
    free(j->partial);
    qb_search_free(j->search);
    qb_sens_free(j->sens);
    free(j);
}

static void set_what(struct work *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_what(struct work *w, const char *fmt, ...)
{
    struct work_job *j = w->job;
    va_list ap;
    pthread_mutex_lock(&j->mu);
    va_start(ap, fmt);
    vsnprintf(j->what, sizeof(j->what), fmt, ap);
    va_end(ap);
    j->done = j->total = j->batch = j->n_batches = 0;
    j->elapsed = 0;
    j->eta = -1;
    pthread_mutex_unlock(&j->mu);
}

static void on_load(void *user, int images, size_t of)
{
    struct work *w = user;
    pthread_mutex_lock(&w->job->mu);
    w->job->done = images;
    w->job->total = (int)of;
    pthread_mutex_unlock(&w->job->mu);
}

/* Sweep progress; for the sensitivity job also the results as they arrive (items
 * 0 and 1 are FP32 and the all-FP16 base, unit i is item i + 2). */
static void on_sweep(void *user, const struct qb_sweep_progress *p)
{
    struct work *w = user;
    struct work_job *j = w->job;
    pthread_mutex_lock(&j->mu);
    j->done = p->done;
    j->total = p->total;
    j->batch = p->batch;
    j->n_batches = p->n_batches;
    j->elapsed = p->elapsed;
    j->eta = p->eta;
    if (j->ranking && j->partial && j->sens && p->items && p->total == j->sens->n + 2 &&
        p->items[1].r.done) {
        const struct qb_sens *s = j->sens;
        double base = qb_sens_metric_value(s->o.metric, &p->items[1].r);
        for (int u = 0; u < s->n; u++) {
            int node = s->units[u].nodes[0];
            if (p->items[u + 2].r.done && isnan(j->partial[node])) {
                j->partial[node] = base - qb_sens_metric_value(s->o.metric, &p->items[u + 2].r);
                j->n_partial_new++;
            }
        }
    }
    pthread_mutex_unlock(&j->mu);
}

/* The sweep over the first n loaded images: a view of the loaded set with its own
 * cache key. The FP32 reference runs at the first evaluation of each count. */
static enum qb_status sweep_for(struct work *w, int n, struct qb_error *err)
{
    const struct qb_evalset *all = w->src.set;
    if (n <= 0 || n > all->n_images)
        n = all->n_images;
    if (w->sweep && w->sweep_images == n)
        return QB_OK;
    qb_sweep_free(w->sweep);
    w->sweep = NULL;
    w->view = *all;
    w->view.n_images = n;
    w->view.n_batches = (n + all->batch - 1) / all->batch;
    if (n < all->n_images) {
        char key[96];
        snprintf(key, sizeof(key), "%s:%d", all->hash, n);
        SHA256Data((const uint8_t *)key, strlen(key), w->view.hash);
    }
    w->sw = (struct qb_sweep_opts){.g = w->g, .model_sha256 = w->sha, .set = &w->view, .amax = w->amax,
                                   .exec = &w->exec, .detect = w->src.detect, .nc = w->src.nc,
                                   .cache_dir = w->cache_dir[0] ? w->cache_dir : NULL, .cancel = &w->cancel,
                                   .progress = on_sweep, .user = w};
    w->sweep_images = n;
    return qb_sweep_new(&w->sw, &w->sweep, err);
}

static enum qb_status eval_one(struct work *w, const enum qb_prec *prec, int images, struct qb_sweep_result *r,
                               struct qb_error *err)
{
    struct qb_sweep_item it = {.prec = prec, .probe = -1};
    enum qb_status st = sweep_for(w, images, err);
    if (st == QB_OK && (st = qb_sweep_eval(w->sweep, &it, 1, err)) == QB_OK)
        *r = it.r;
    return st;
}

static enum qb_status open_calib(struct work *w, struct qb_error *err)
{
    struct qb_calib_table t = {0};
    enum qb_status st;
    if (!w->calib)
        return QB_OK;
    if (!(w->amax = malloc((size_t)w->g->n_values * sizeof(float))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if ((st = qb_calib_table_load(w->calib, w->sha, &t, err)) == QB_OK &&
        (st = qb_calib_table_amax(&t, w->g, w->int8, w->amax, err)) == QB_OK) {
        snprintf(w->calib_method, sizeof(w->calib_method), "%s", qb_calib_method_name(t.params.method));
        w->calib_images = (int)t.images;
    }
    qb_calib_table_free(&t);
    return st;
}

static enum qb_status job_open(struct work *w, struct work_job *j)
{
    struct qb_error *err = &j->err;
    struct qb_plan_spec spec;
    enum qb_status st;

    qb_plan_spec_init(&spec, QB_PREC_INT8);
    set_what(w, "loading %s", w->model);
    if ((st = qb_cli_source_open(&w->src_opts, &w->src, err)) != QB_OK)
        goto out;
    if (!(w->g = qb_cli_load(w->model, NULL, &st))) {
        st = qb_errorf(err, st, "%s: not loaded (see the log)", w->model);
        goto out;
    }
    if ((st = qb_cli_source_model(&w->src, w->g, err)) != QB_OK ||
        (st = qb_calib_file_sha256(w->model, w->sha, err)) != QB_OK)
        goto out;
    if (w->op_set && (st = qb_plan_spec_set_op_set(&spec, w->op_set, "--op-set", err)) != QB_OK)
        goto out;
    w->int8 = malloc(((size_t)w->g->n_nodes + 1) * sizeof(*w->int8));
    w->fp16 = malloc(((size_t)w->g->n_nodes + 1) * sizeof(*w->fp16));
    if (!w->int8 || !w->fp16) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = qb_plan_resolve(&spec, w->g, w->int8, NULL, err)) != QB_OK)
        goto out;
    for (int i = 0; i < w->g->n_nodes; i++)
        w->fp16[i] = w->g->nodes[i].folded ? QB_PREC_FP32 : QB_PREC_FP16;
    if ((st = open_calib(w, err)) != QB_OK)
        goto out;
    if (qb_calib_cache_dir(w->cache_dir, sizeof(w->cache_dir), err) != QB_OK)
        w->cache_dir[0] = 0; /* no cache: every evaluation runs */
    w->exec = (struct qb_exec_opts){.device = "cpu", .n_threads = w->threads};
    snprintf(w->device, sizeof(w->device), "cpu, %ld threads", w->threads > 0 ? (long)w->threads
                                                                               : sysconf(_SC_NPROCESSORS_ONLN));
    set_what(w, "reading images from %s", w->src.name);
    st = qb_evalset_load(&(struct qb_evalset_opts){.ds = w->src.ds, .pack = w->src.pack, .batch = w->src.batch,
                                                   .w = w->src.w, .h = w->src.h, .mode = w->src.mode,
                                                   .limit = w->src.max, .progress = on_load, .user = w},
                         &w->src.set, err);
    if (st != QB_OK)
        goto out;
    if (w->src.set->n_images == 0) {
        st = qb_errorf(err, QB_ERR_INVALID, "%s: no readable images", w->src.name);
        goto out;
    }
    if (w->src.set->skipped)
        qb_log(QB_LOG_WARN, "%s: %ld unreadable images skipped", w->src.name, w->src.set->skipped);
    set_what(w, "baselines: FP32 and FP16 on %s", w->src.name);
    if ((st = eval_one(w, NULL, j->images, &j->fp32, err)) == QB_OK)
        st = eval_one(w, w->fp16, j->images, &j->fp16, err);
out:
    qb_plan_spec_free(&spec);
    return st;
}

static enum qb_status job_sens(struct work *w, struct work_job *j, struct qb_error *err)
{
    struct qb_sens_opts so = {.mode = QB_SENS_INT8_ALONE,
                              .metric = w->src.set->labelled ? QB_SENS_MAP : QB_SENS_FIDELITY,
                              .unit = QB_SENS_NODE};
    struct qb_sens *s = NULL;
    enum qb_status st;

    if ((st = sweep_for(w, j->images, err)) != QB_OK || (st = qb_sens_new(w->g, w->int8, &so, &s, err)) != QB_OK)
        return st;
    pthread_mutex_lock(&j->mu);
    j->sens = s;
    if (!j->partial && (j->partial = malloc((size_t)w->g->n_nodes * sizeof(double))))
        for (int i = 0; i < w->g->n_nodes; i++)
            j->partial[i] = NAN;
    j->ranking = true;
    pthread_mutex_unlock(&j->mu);
    st = qb_sens_run(s, &w->sw, err);
    pthread_mutex_lock(&j->mu);
    j->ranking = false;
    pthread_mutex_unlock(&j->mu);
    return st;
}

void work_run(struct work *w, struct work_job *j)
{
    enum qb_status st = QB_OK;
    char hash[65];

    w->job = j;
    atomic_store(&w->cancel, 0);
    switch (j->kind) {
    case WORK_OPEN:
        st = job_open(w, j);
        break;
    case WORK_EVAL:
        qb_plan_hash(w->g, j->prec, hash);
        hash[12] = 0;
        if (j->baselines) {
            set_what(w, "baselines: FP32 and FP16 on %s", w->src.name);
            if ((st = eval_one(w, NULL, j->images, &j->fp32, &j->err)) != QB_OK ||
                (st = eval_one(w, w->fp16, j->images, &j->fp16, &j->err)) != QB_OK)
                break;
        }
        set_what(w, "evaluating plan %s", hash);
        st = eval_one(w, j->prec, j->images, &j->r, &j->err);
        break;
    case WORK_SENS:
        set_what(w, "sensitivity: each node alone INT8");
        st = job_sens(w, j, &j->err);
        break;
    case WORK_SEARCH:
        if (!j->sens) {
            set_what(w, "search: ranking the nodes");
            st = job_sens(w, j, &j->err); /* fills the table's sens column too */
        }
        if (st == QB_OK && (st = sweep_for(w, j->images, &j->err)) == QB_OK) { /* the ranking's images */
            set_what(w, "search: budget %.2f points of mAP50-95", j->budget);
            st = qb_search_run(j->sens, &w->sw, &(struct qb_search_opts){.budget = j->budget, .max_returns = 8},
                               &j->search, &j->err);
        }
        break;
    case WORK_JOB_COUNT:
        break;
    }
    j->st = st;
    atomic_store(&j->finished, 1);
}

void work_close(struct work *w)
{
    qb_sweep_free(w->sweep);
    free(w->int8);
    free(w->fp16);
    free(w->amax);
    qb_cli_source_close(&w->src);
    qb_graph_free(w->g);
    memset(w, 0, sizeof(*w));
}

enum qb_status work_plan_spec(const struct work *w, const enum qb_prec *prec, struct qb_plan_spec *s,
                              struct qb_error *err)
{
    return qb_plan_spec_from_prec(w->g, w->op_set, w->int8, prec, s, err);
}
