/* Many plans over one evaluation set, with prefix reuse and a result cache
 * (sensitivity/sweep.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fileio.h"
#include "core/plan.h"
#include "core/score.h"
#include "sweep.h"

#define CACHE_FORMAT "qbench-sweep-cache"
#define CACHE_VERSION 1
#define MAX_DETS_CAP 100000

struct ckpt {
    int pos;                     /* the step its values are live at; -1: nothing saved */
    unsigned char *buf;
};

struct sweep {
    const struct qb_sweep_opts *o; /* points at qb_sweep.o */
    const struct qb_graph *g;
    const struct qb_evalset *set;
    struct qb_detector *det;
    struct qb_executor *base;    /* the base plan, when reusing */
    float *input;                /* one batch */
    size_t input_floats;
    /* the FP32 reference, per batch: output 0 and every image's detections */
    float *ref_out;
    size_t out_floats;           /* per batch */
    struct qb_det *ref_dets;     /* max_det per image */
    int *ref_n;
    struct qb_det *dets;         /* scratch: one image */
    struct ckpt *ck;             /* per batch of the chunk */
    size_t ck_bytes;
    int chunk;                   /* batches per chunk */
    /* the cache */
    char path[4096];
    cJSON *cache;                /* the file's "results" object (owned through cache_root) */
    cJSON *cache_root;
    /* progress */
    struct qb_sweep_progress p;
    double t0, work_done, work_total; /* in batch-runs, for the ETA */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool cancelled(const struct sweep *s)
{
    return s->o->cancel && atomic_load(s->o->cancel);
}

static void report(struct sweep *s)
{
    if (!s->o->progress)
        return;
    s->p.elapsed = now() - s->t0;
    s->p.eta = s->work_done > 0 ? s->p.elapsed * (s->work_total - s->work_done) / s->work_done : -1;
    s->o->progress(s->o->user, &s->p);
}

/* ---- the cache ---- */

static void hex32(const uint8_t d[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

enum qb_status qb_sweep_cache_path(const struct qb_sweep_opts *o, char *path, size_t len, struct qb_error *err)
{
    SHA2_CTX ctx;
    uint8_t d[32];
    char key[65], head[256];
    const struct qb_detect_opts *t = &o->detect;

    SHA256Init(&ctx);
    snprintf(head, sizeof(head), "%s %d\n%s\n%s\nconf %.9g iou %.17g max_det %d max_nms %d multi %d\n",
             CACHE_FORMAT, CACHE_VERSION, o->model_sha256 ? o->model_sha256 : "", o->set->hash, (double)t->conf,
             t->iou, t->max_det, t->max_nms, t->multi_label);
    SHA256Update(&ctx, (const uint8_t *)head, strlen(head));
    if (o->amax)
        SHA256Update(&ctx, (const uint8_t *)o->amax, (size_t)o->g->n_values * sizeof(float));
    SHA256Final(d, &ctx);
    hex32(d, key);
    if ((size_t)snprintf(path, len, "%s/sweep-%.32s.json", o->cache_dir, key) >= len)
        return qb_errorf(err, QB_ERR_USAGE, "cache folder path too long: %s", o->cache_dir);
    return QB_OK;
}

static void item_key(const struct sweep *s, const struct qb_sweep_item *it, char *key, size_t len)
{
    if (it->probe >= 0)
        snprintf(key, len, "%s@%s", it->prec ? it->hash : "fp32", s->g->values[it->probe].name);
    else
        snprintf(key, len, "%s", it->prec ? it->hash : "fp32");
}

static double get_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "inf") == 0)
        return INFINITY;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "-inf") == 0)
        return -INFINITY;
    return NAN;
}

static void put_num(cJSON *o, const char *k, double x)
{
    if (isinf(x))
        cJSON_AddStringToObject(o, k, x > 0 ? "inf" : "-inf");
    else if (isnan(x))
        cJSON_AddNullToObject(o, k);
    else {
        char buf[40]; /* 17 digits: the double comes back exactly (cJSON prints 15) */
        snprintf(buf, sizeof(buf), "%.17g", x);
        cJSON_AddRawToObject(o, k, buf);
    }
}

static const char *const result_keys[] = {"map50", "map50_95", "precision", "recall", "fidelity_map50",
                                          "fidelity_map50_95", "sqnr_db", "cosine"};

static double *result_field(struct qb_sweep_result *r, int i)
{
    double *f[] = {&r->map50, &r->map50_95, &r->precision, &r->recall,
                   &r->fid50, &r->fid50_95, &r->sqnr_db, &r->cosine};
    return f[i];
}

#define N_RESULT_KEYS ((int)(sizeof(result_keys) / sizeof(result_keys[0])))

static void cache_open(struct sweep *s)
{
    char *text = NULL;
    size_t len = 0;
    struct qb_error err = {0};
    cJSON *root = NULL;

    if (qb_file_read(s->path, 256u << 20, &text, &len, &err) == QB_OK) {
        root = cJSON_ParseWithLength(text, len);
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "format");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
        if (!root || !cJSON_IsString(f) || strcmp(f->valuestring, CACHE_FORMAT) != 0 || !cJSON_IsNumber(v) ||
            v->valueint != CACHE_VERSION || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "results"))) {
            qb_log(QB_LOG_WARN, "%s: not a sweep cache of this version; starting a new one", s->path);
            cJSON_Delete(root);
            root = NULL;
        }
    }
    free(text);
    if (!root && (root = cJSON_CreateObject())) {
        cJSON_AddStringToObject(root, "format", CACHE_FORMAT);
        cJSON_AddNumberToObject(root, "version", CACHE_VERSION);
        cJSON_AddStringToObject(root, "model_sha256", s->o->model_sha256);
        cJSON_AddStringToObject(root, "images_sha256", s->set->hash);
        cJSON_AddNumberToObject(root, "images", s->set->n_images);
        cJSON_AddObjectToObject(root, "results");
    }
    s->cache_root = root;
    s->cache = cJSON_GetObjectItemCaseSensitive(root, "results");
}

static bool cache_get(struct sweep *s, struct qb_sweep_item *it)
{
    char key[512];
    const cJSON *e;
    if (!s->cache)
        return false;
    item_key(s, it, key, sizeof(key));
    if (!cJSON_IsObject(e = cJSON_GetObjectItemCaseSensitive(s->cache, key)))
        return false;
    for (int i = 0; i < N_RESULT_KEYS; i++)
        *result_field(&it->r, i) = get_num(e, result_keys[i]);
    it->r.images = (long)get_num(e, "images");
    it->r.done = it->r.cached = true;
    it->r.seconds = 0;
    return true;
}

static enum qb_status cache_put(struct sweep *s, struct qb_sweep_item *it, struct qb_error *err)
{
    char key[512], *text;
    cJSON *e;
    enum qb_status st;

    if (!s->cache)
        return QB_OK;
    item_key(s, it, key, sizeof(key));
    cJSON_DeleteItemFromObjectCaseSensitive(s->cache, key);
    if (!(e = cJSON_AddObjectToObject(s->cache, key)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < N_RESULT_KEYS; i++)
        put_num(e, result_keys[i], *result_field(&it->r, i));
    cJSON_AddNumberToObject(e, "images", (double)it->r.images);
    cJSON_AddNumberToObject(e, "seconds", it->r.seconds);
    if (!(text = cJSON_Print(s->cache_root)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    st = qb_file_write_atomic(s->path, text, strlen(text), err);
    free(text);
    return st;
}

/* ---- running ---- */

static enum qb_status new_exec(const struct sweep *s, const enum qb_prec *prec, struct qb_executor **e,
                               struct qb_error *err)
{
    struct qb_exec_opts eo = *s->o->exec;
    eo.prec = prec;
    eo.amax = s->o->amax;
    eo.observe = NULL;
    return qb_exec_new(s->g, &eo, e, err);
}

/* Runs the FP32 reference over every batch and keeps output 0 and the detections. */
static enum qb_status reference(struct sweep *s, struct qb_error *err)
{
    const struct qb_evalset *set = s->set;
    struct qb_executor *e = NULL;
    const int max_det = s->o->detect.max_det;
    enum qb_status st;

    if ((st = new_exec(s, NULL, &e, err)) != QB_OK)
        return st;
    s->out_floats = (size_t)qb_tview_numel(qb_exec_output(e, 0));
    s->ref_out = malloc((size_t)set->n_batches * s->out_floats * sizeof(float));
    s->ref_dets = malloc((size_t)set->n_images * max_det * sizeof(*s->ref_dets));
    s->ref_n = calloc((size_t)set->n_images + 1, sizeof(int));
    if (!s->ref_out || !s->ref_dets || !s->ref_n) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory for the FP32 reference of %d images", set->n_images);
        goto out;
    }
    s->p.item = -1;
    s->p.n_batches = set->n_batches;
    for (int b = 0; b < set->n_batches && st == QB_OK; b++) {
        int filled = qb_evalset_input(set, b, qb_exec_input(e, 0)->data);
        if (cancelled(s)) {
            st = qb_errorf(err, QB_ERR_CANCELLED, "cancelled");
            break;
        }
        if ((st = qb_exec_run(e, err)) != QB_OK)
            break;
        memcpy(s->ref_out + (size_t)b * s->out_floats, qb_exec_output(e, 0)->data, s->out_floats * sizeof(float));
        for (int k = 0; k < filled && st == QB_OK; k++) {
            int i = b * set->batch + k;
            st = qb_detect_image(s->det, s->ref_out + (size_t)b * s->out_floats, k, &set->lb[i],
                                 s->ref_dets + (size_t)i * max_det, &s->ref_n[i], err);
        }
        s->p.batch = b + 1;
        s->work_done += 1;
        report(s);
    }
out:
    qb_exec_free(e);
    return st;
}

/* Scores one batch of a plan's output 0. */
static enum qb_status score_batch(struct sweep *s, struct qb_score *sc, const float *out, int b,
                                  struct qb_error *err)
{
    const struct qb_evalset *set = s->set;
    const int max_det = s->o->detect.max_det;
    int filled = set->n_images - b * set->batch < set->batch ? set->n_images - b * set->batch : set->batch;
    enum qb_status st = QB_OK;

    qb_score_outputs(sc, out, s->ref_out + (size_t)b * s->out_floats, s->out_floats / set->batch * filled);
    for (int k = 0; k < filled && st == QB_OK; k++) {
        int i = b * set->batch + k, nd = 0, ng = 0;
        const struct qb_gt *gt = qb_evalset_labels(set, i, &ng);
        if ((st = qb_detect_image(s->det, out, k, &set->lb[i], s->dets, &nd, err)) != QB_OK)
            break;
        if (set->labelled && (st = qb_score_labels(sc, s->dets, nd, gt, ng, err)) != QB_OK)
            break;
        st = qb_score_fidelity(sc, s->dets, nd, s->ref_dets + (size_t)i * max_det, s->ref_n[i], err);
    }
    return st;
}

/* Brings batch b's saved base values to step cut (from the inputs when they are past it). */
static enum qb_status advance(struct sweep *s, struct ckpt *c, int b, int cut, struct qb_error *err)
{
    enum qb_status st;
    if (c->pos == cut)
        return QB_OK;
    if (c->pos < 0 || c->pos > cut) {
        qb_evalset_input(s->set, b, qb_exec_input(s->base, 0)->data);
        c->pos = 0;
    } else {
        qb_exec_load_live(s->base, c->pos, c->buf);
    }
    if ((st = qb_exec_run_steps(s->base, c->pos, cut, err)) != QB_OK)
        return st;
    qb_exec_save_live(s->base, cut, c->buf);
    c->pos = cut;
    return QB_OK;
}

/* The SQNR parts of a probed value against the base plan's (run to the same step). */
static enum qb_status probe_batch(struct sweep *s, struct qb_executor *e, const struct qb_sweep_item *it,
                                  struct ckpt *c, int b, int cut, int end, struct qb_score *sc,
                                  struct qb_error *err)
{
    const struct qb_tview *x, *y;
    enum qb_status st;

    if (cut > 0)
        qb_exec_load_live(s->base, cut, c->buf);
    else
        qb_evalset_input(s->set, b, qb_exec_input(s->base, 0)->data);
    if ((st = qb_exec_run_steps(s->base, cut, end, err)) != QB_OK)
        return st;
    x = qb_exec_value(e, it->probe);
    y = qb_exec_value(s->base, it->probe);
    if (!x || !y)
        return qb_errorf(err, QB_ERR_INTERNAL, "probe value '%s' not available", s->g->values[it->probe].name);
    qb_score_outputs(sc, x->data, y->data, (size_t)qb_tview_numel(x));
    return QB_OK;
}

/* One plan over the batches [b0, b1) of the current chunk. */
static enum qb_status run_item(struct sweep *s, struct qb_sweep_item *it, struct qb_score *sc, int b0, int b1,
                               struct qb_error *err)
{
    struct qb_executor *e = NULL;
    enum qb_status st = QB_OK;
    int cut = 0, end, n_steps;

    if (!it->prec && it->probe < 0) { /* the reference itself */
        for (int b = b0; b < b1 && st == QB_OK; b++)
            st = score_batch(s, sc, s->ref_out + (size_t)b * s->out_floats, b, err);
        return st;
    }
    if ((st = new_exec(s, it->prec, &e, err)) != QB_OK)
        return st;
    n_steps = qb_exec_n_steps(e);
    end = n_steps;
    if (it->probe >= 0) {
        int producer = s->g->values[it->probe].producer;
        int step = producer >= 0 ? qb_exec_node_step(e, producer) : -1;
        if (step < 0 || !s->base) {
            st = qb_errorf(err, QB_ERR_USAGE, "cannot probe '%s': %s", s->g->values[it->probe].name,
                           step < 0 ? "no step computes it" : "no base plan to compare with");
            goto out;
        }
        end = step + 1;
    }
    if (s->ck) {
        cut = qb_exec_first_diff(s->base, e);
        if (cut > end)
            cut = end;
    }
    for (int b = b0; b < b1 && st == QB_OK; b++) {
        struct ckpt *c = s->ck ? &s->ck[b - b0] : NULL; /* NULL: no reuse (cut 0) */
        if (cancelled(s)) {
            st = qb_errorf(err, QB_ERR_CANCELLED, "cancelled");
            break;
        }
        if (cut > 0) {
            if ((st = advance(s, c, b, cut, err)) != QB_OK)
                break;
            qb_exec_load_live(e, cut, c->buf);
        } else {
            qb_evalset_input(s->set, b, qb_exec_input(e, 0)->data);
        }
        if ((st = qb_exec_run_steps(e, cut, end, err)) != QB_OK)
            break;
        if (it->probe >= 0)
            st = probe_batch(s, e, it, c, b, cut, end, sc, err);
        else
            st = score_batch(s, sc, qb_exec_output(e, 0)->data, b, err);
        s->p.batch = b + 1;
        s->work_done += n_steps > 0 ? (double)(end - cut) / n_steps : 1;
        report(s);
    }
out:
    qb_exec_free(e);
    return st;
}

static void finish_item(struct sweep *s, struct qb_sweep_item *it, const struct qb_score_result *r)
{
    it->r.done = true;
    it->r.cached = false;
    it->r.images = s->set->n_images;
    it->r.map50 = s->set->labelled && it->probe < 0 ? r->map.map50 : NAN;
    it->r.map50_95 = s->set->labelled && it->probe < 0 ? r->map.map50_95 : NAN;
    it->r.precision = s->set->labelled && it->probe < 0 ? r->map.precision : NAN;
    it->r.recall = s->set->labelled && it->probe < 0 ? r->map.recall : NAN;
    it->r.fid50 = it->probe < 0 ? r->fidelity.map50 : NAN;
    it->r.fid50_95 = it->probe < 0 ? r->fidelity.map50_95 : NAN;
    it->r.sqnr_db = r->sqnr_db;
    it->r.cosine = r->cosine;
}

/* The first node (in execution order) whose precision differs from the base: the
 * order plans run in, so that the base's saved values move forward only. */
static int first_change(const struct sweep *s, const struct qb_sweep_item *it)
{
    if (!s->o->base || !it->prec)
        return -1;
    for (int i = 0; i < s->g->n_order; i++)
        if (it->prec[s->g->order[i]] != s->o->base[s->g->order[i]])
            return i;
    return s->g->n_order;
}

struct order_key {
    int item, at;
};

static int cmp_order(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;
    return x->at != y->at ? (x->at > y->at) - (x->at < y->at) : (x->item > y->item) - (x->item < y->item);
}

static size_t max_live_bytes(struct qb_executor *e)
{
    size_t m = 0;
    for (int st = 0; st <= qb_exec_n_steps(e); st++) {
        size_t b = qb_exec_live_bytes(e, st);
        if (b > m)
            m = b;
    }
    return m;
}

static enum qb_status setup(struct sweep *s, struct qb_error *err)
{
    const struct qb_value *out = &s->g->values[s->g->outputs[0]];
    struct qb_detect_layout layout;
    enum qb_status st;
    size_t budget = s->o->mem_budget ? s->o->mem_budget : (size_t)2 << 30;

    if ((st = qb_detect_layout(out->shape, out->ndim, s->o->nc, &layout, err)) != QB_OK ||
        (st = qb_detector_new(&layout, &s->o->detect, &s->det, err)) != QB_OK)
        return st;
    if (!(s->dets = malloc((size_t)s->o->detect.max_det * sizeof(*s->dets))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    s->chunk = s->set->n_batches;
    if (s->o->base) {
        if ((st = new_exec(s, s->o->base, &s->base, err)) != QB_OK)
            return st;
        s->ck_bytes = max_live_bytes(s->base);
        if (!s->o->no_reuse && s->ck_bytes && budget / s->ck_bytes < (size_t)s->chunk)
            s->chunk = budget / s->ck_bytes > 0 ? (int)(budget / s->ck_bytes) : 1;
        if (!s->o->no_reuse && !(s->ck = calloc((size_t)s->chunk, sizeof(*s->ck))))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        for (int i = 0; s->ck && i < s->chunk; i++)
            if (!(s->ck[i].buf = malloc(s->ck_bytes ? s->ck_bytes : 1)))
                return qb_errorf(err, QB_ERR_NOMEM, "out of memory saving %zu-byte prefixes for %d batches",
                                 s->ck_bytes, s->chunk);
    }
    if (s->o->cache_dir && s->o->model_sha256 && s->o->model_sha256[0]) {
        if (mkdir(s->o->cache_dir, 0777) != 0 && errno != EEXIST)
            return qb_errorf(err, QB_ERR_IO, "%s: %s", s->o->cache_dir, strerror(errno));
        if ((st = qb_sweep_cache_path(s->o, s->path, sizeof(s->path), err)) != QB_OK)
            return st;
        cache_open(s);
    }
    return QB_OK;
}

static void teardown(struct sweep *s)
{
    qb_detector_free(s->det);
    qb_exec_free(s->base);
    for (int i = 0; s->ck && i < s->chunk; i++)
        free(s->ck[i].buf);
    free(s->ck);
    free(s->dets);
    free(s->ref_out);
    free(s->ref_dets);
    free(s->ref_n);
    cJSON_Delete(s->cache_root);
}

/* Plans run in groups; each group passes over the images chunk by chunk (one chunk
 * when every batch's saved prefix fits the memory budget: then a group is every plan,
 * and each plan is finished, and cached, before the next starts). */
static enum qb_status run_pending(struct sweep *s, struct qb_sweep_item *items, const struct order_key *order,
                                  int n_pending, struct qb_error *err)
{
    const int n_batches = s->set->n_batches;
    const int n_chunks = (n_batches + s->chunk - 1) / s->chunk;
    const int group = n_chunks == 1 ? n_pending : 16;
    struct qb_score **sc = calloc((size_t)group + 1, sizeof(*sc));
    enum qb_status st = QB_OK;

    if (!sc)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int g0 = 0; g0 < n_pending && st == QB_OK; g0 += group) {
        int g1 = g0 + group < n_pending ? g0 + group : n_pending;
        for (int j = g0; j < g1 && st == QB_OK; j++)
            if (!(sc[j - g0] = qb_score_new(s->o->nc)))
                st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        for (int c = 0; c < n_chunks && st == QB_OK; c++) {
            int b0 = c * s->chunk, b1 = b0 + s->chunk < n_batches ? b0 + s->chunk : n_batches;
            for (int k = 0; s->ck && k < s->chunk; k++)
                s->ck[k].pos = -1;
            for (int j = g0; j < g1 && st == QB_OK; j++) {
                struct qb_sweep_item *it = &items[order[j].item];
                double t = now();
                s->p.item = order[j].item;
                if ((st = run_item(s, it, sc[j - g0], b0, b1, err)) != QB_OK)
                    break;
                it->r.seconds += now() - t;
                if (c == n_chunks - 1) {
                    struct qb_score_result r = {0};
                    double secs = it->r.seconds;
                    if ((st = qb_score_summary(sc[j - g0], &r, err)) == QB_OK) {
                        finish_item(s, it, &r);
                        it->r.seconds = secs;
                        st = cache_put(s, it, err);
                    }
                    qb_score_result_free(&r);
                    s->p.done++;
                    report(s);
                }
            }
        }
        for (int j = g0; j < g1; j++) {
            qb_score_free(sc[j - g0]);
            sc[j - g0] = NULL;
        }
    }
    free(sc);
    return st;
}

struct qb_sweep {
    struct sweep s;
    struct qb_sweep_opts o;
    bool have_reference;
};

enum qb_status qb_sweep_new(const struct qb_sweep_opts *o, struct qb_sweep **out, struct qb_error *err)
{
    struct qb_sweep *w = calloc(1, sizeof(*w));
    enum qb_status st;

    *out = NULL;
    if (!w)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    w->s = (struct sweep){.o = &w->o, .g = o->g, .set = o->set};
    w->o = *o;
    if ((st = setup(&w->s, err)) != QB_OK) {
        qb_sweep_free(w);
        return st;
    }
    *out = w;
    return QB_OK;
}

void qb_sweep_free(struct qb_sweep *w)
{
    if (!w)
        return;
    teardown(&w->s);
    free(w);
}

enum qb_status qb_sweep_eval(struct qb_sweep *w, struct qb_sweep_item *items, int n, struct qb_error *err)
{
    struct sweep *s = &w->s;
    const struct qb_sweep_opts *o = s->o;
    struct order_key *order = calloc((size_t)n + 1, sizeof(*order));
    int n_pending = 0;
    enum qb_status st = QB_OK;

    if (!order)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    s->t0 = now();
    s->p = (struct qb_sweep_progress){.total = n, .n_batches = o->set->n_batches, .items = items};
    s->work_done = 0;
    for (int i = 0; i < n; i++) {
        memset(&items[i].r, 0, sizeof(items[i].r));
        items[i].hash[0] = 0;
        if (items[i].prec)
            qb_plan_hash(o->g, items[i].prec, items[i].hash);
        if (cache_get(s, &items[i]))
            s->p.done++;
        else
            order[n_pending++] = (struct order_key){.item = i, .at = first_change(s, &items[i])};
    }
    qsort(order, (size_t)n_pending, sizeof(*order), cmp_order);
    s->work_total = w->have_reference ? 0 : 1;
    for (int i = 0; i < n_pending; i++)
        s->work_total += o->base && !o->no_reuse && order[i].at >= 0
                             ? (double)(o->g->n_order - order[i].at) / (o->g->n_order ? o->g->n_order : 1)
                             : 1.0;
    s->work_total *= o->set->n_batches;
    if (n_pending && !w->have_reference) {
        if ((st = reference(s, err)) != QB_OK)
            goto out;
        w->have_reference = true;
    }
    if (n_pending)
        st = run_pending(s, items, order, n_pending, err);
out:
    free(order);
    return st;
}

enum qb_status qb_sweep_run(const struct qb_sweep_opts *o, struct qb_sweep_item *items, int n,
                            struct qb_error *err)
{
    struct qb_sweep *w;
    enum qb_status st = qb_sweep_new(o, &w, err);
    if (st == QB_OK)
        st = qb_sweep_eval(w, items, n, err);
    qb_sweep_free(w);
    return st;
}
