/* qbench eval: mAP on a labelled dataset, as `yolo val` reports it (core/dataset.h,
 * core/detect.h, core/metrics.h do the work), of the FP32 reference or of a
 * precision plan simulated exactly, beside its FP32 and FP16 baselines
 * (tui/eval_variants.c); from image files or from a pack (core/pack.h). A
 * producer thread decodes the next batch while the executors run the current one
 * (two batch buffers). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_plan.h"
#include "core/dataset.h"
#include "core/detect.h"
#include "core/exec.h"
#include "core/metrics.h"
#include "core/pack.h"
#include "eval_variants.h"

struct eval_opts {
    const char *model, *data, *split, *pack, *json, *dets_path;
    long max_images;
    enum qb_letterbox_mode mode;
    bool mode_set;
    struct qb_detect_opts detect;
    struct qb_plan_spec plan;
    const char *calib;
    bool no_baselines, verbose;
    bool quiet;
};

/* One batch of model inputs, filled by the producer. */
struct batch {
    float *input;            /* batch x 3 x h x w */
    struct qb_letterbox *lb; /* per slot */
    size_t *pos;             /* per slot: dataset item or pack record */
    int filled;              /* slots filled; 0 marks the end */
    long skipped;            /* unreadable items passed over while filling */
    double t_decode;
};

/* Everything one evaluation holds; freed by eval_free(). */
struct eval {
    struct eval_opts o;
    const char *source;     /* the data spec or the pack, for messages */
    struct qb_graph *g;
    struct eval_variants vs; /* vs.v[0]: what was asked, the others its baselines */
    struct qb_dataset *ds;  /* one of ds and pack */
    struct qb_pack *pack;
    struct qb_detector *det;
    struct qb_video *video; /* the producer's */
    char **names;           /* the model's (metadata) or the dataset's */
    int nc, n_model_names;
    int batch, h, w;
    unsigned char *rgb;     /* the producer's */
    struct batch buf[2];
    struct qb_letterbox *lb; /* the batch being scored */
    size_t *pos;
    size_t limit;            /* dataset items below limit are evaluated */
    struct qb_det *dets;
    struct qb_gt *gt;
    int gt_cap;
    FILE *dump;
    char *dump_tmp;
    long n_images, n_skipped, n_dump;
    double t_decode, t_post, t_start, t_progress;
};

static const char usage[] =
    "usage: qbench eval MODEL (--data D.yaml|DIR|LIST [--split val] | --pack P.qbpack) [--images N] [--threads N]\n"
    "                   [--letterbox predict|val] [--conf C] [--iou I] [--max-det N]\n"
    "                   [--json OUT] [--save-detections OUT.json] [--quiet]\n"
    "                   [--calib C.json] [--no-baselines] [--verbose] " QB_CLI_PLAN_USAGE;

static int parse_args(int argc, char **argv, struct eval_opts *o, struct qb_cli_model_opts *mo)
{
    o->detect = qb_detect_opts_default();
    o->split = "val";
    for (int i = 1; i < argc; i++) {
        int r = qb_cli_model_opt(argc, argv, &i, mo);
        const char *a, *v;
        char *end = NULL;
        if (r == 0)
            r = qb_cli_plan_opt(argc, argv, &i, &o->plan);
        if (r < 0)
            return -1;
        if (r)
            continue;
        a = argv[i];
        v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "--no-baselines") == 0 || strcmp(a, "--verbose") == 0) {
            *(a[2] == 'q' ? &o->quiet : a[2] == 'n' ? &o->no_baselines : &o->verbose) = true;
            continue;
        }
        if (a[0] == '-' && !v) {
            fprintf(stderr, "qbench eval: %s needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--data") == 0) {
            o->data = argv[++i];
        } else if (strcmp(a, "--calib") == 0) {
            o->calib = argv[++i];
        } else if (strcmp(a, "--pack") == 0) {
            o->pack = argv[++i];
        } else if (strcmp(a, "--split") == 0) {
            o->split = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            o->json = argv[++i];
        } else if (strcmp(a, "--save-detections") == 0) {
            o->dets_path = argv[++i];
        } else if (strcmp(a, "--images") == 0) {
            o->max_images = strtol(argv[++i], &end, 10);
            if (*end || o->max_images < 1)
                goto bad;
        } else if (strcmp(a, "--conf") == 0) {
            o->detect.conf = strtof(argv[++i], &end);
            if (*end || !(o->detect.conf >= 0 && o->detect.conf <= 1))
                goto bad;
        } else if (strcmp(a, "--iou") == 0) {
            o->detect.iou = strtod(argv[++i], &end);
            if (*end || !(o->detect.iou >= 0 && o->detect.iou <= 1))
                goto bad;
        } else if (strcmp(a, "--max-det") == 0) {
            o->detect.max_det = (int)strtol(argv[++i], &end, 10);
            if (*end || o->detect.max_det < 1 || o->detect.max_det > 100000)
                goto bad;
        } else if (strcmp(a, "--letterbox") == 0) {
            end = argv[++i];
            if (strcmp(end, "predict") == 0)
                o->mode = QB_LETTERBOX_PREDICT;
            else if (strcmp(end, "val") == 0)
                o->mode = QB_LETTERBOX_VAL;
            else
                goto bad;
            o->mode_set = true;
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "qbench eval: unexpected argument '%s'\n%s", a, usage);
            return -1;
        }
        continue;
bad:
        fprintf(stderr, "qbench eval: bad value for %s: '%s'\n", a, argv[i]);
        return -1;
    }
    if (qb_cli_plan_finish(&o->plan) < 0)
        return -1;
    if (!o->model || !o->data == !o->pack) {
        if (o->data && o->pack)
            fputs("qbench eval: --data and --pack exclude each other\n", stderr);
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

static void eval_free(struct eval *ev)
{
    if (ev->dump) {
        fclose(ev->dump);
        remove(ev->dump_tmp);
    }
    free(ev->dump_tmp);
    qb_video_close(ev->video);
    eval_variants_free(&ev->vs);
    qb_plan_spec_free(&ev->o.plan);
    qb_detector_free(ev->det);
    qb_dataset_free(ev->ds);
    qb_pack_close(ev->pack);
    qb_graph_free(ev->g);
    if (ev->n_model_names)
        qb_cli_free_names(ev->names, ev->n_model_names);
    free(ev->rgb);
    for (int k = 0; k < 2; k++) {
        free(ev->buf[k].input);
        free(ev->buf[k].lb);
        free(ev->buf[k].pos);
    }
    free(ev->lb);
    free(ev->pos);
    free(ev->dets);
    free(ev->gt);
}

/* The model input must be one float [B, 3, H, W] tensor; the first output is the detect head. */
static enum qb_status check_model(struct eval *ev, struct qb_error *err)
{
    const struct qb_graph *g = ev->g;
    const struct qb_value *in = &g->values[g->inputs[0]], *out = &g->values[g->outputs[0]];
    struct qb_detect_layout layout;
    enum qb_status st;

    if (g->n_inputs != 1 || in->ndim != 4 || in->shape[1] != 3 || in->dtype != QB_DTYPE_F32)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: evaluation needs one float input of shape [B,3,H,W]", g->path);
    ev->batch = (int)in->shape[0];
    ev->h = (int)in->shape[2];
    ev->w = (int)in->shape[3];
    if (out->dtype != QB_DTYPE_F32)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: output 0 is %s; a detect head is float32", g->path,
                         qb_dtype_name(out->dtype));
    if ((st = qb_detect_layout(out->shape, out->ndim, ev->n_model_names, &layout, err)) != QB_OK)
        return st;
    ev->nc = layout.nc;
    return qb_detector_new(&layout, &ev->o.detect, &ev->det, err);
}

/* ---- the source: a dataset's items or a pack's records, by position ---- */

static const char *src_path(const struct eval *ev, size_t pos)
{
    struct qb_pack_record r;
    if (ev->ds)
        return qb_dataset_path(ev->ds, pos);
    qb_pack_record(ev->pack, pos, &r);
    return r.path;
}

static long src_frame(const struct eval *ev, size_t pos)
{
    struct qb_pack_record r;
    if (ev->ds)
        return qb_dataset_frame(ev->ds, pos);
    qb_pack_record(ev->pack, pos, &r);
    return r.frame;
}

/* Labels of pos in original-image pixels (as qb_dataset_labels), into ev->gt. */
static enum qb_status src_labels(struct eval *ev, size_t pos, const struct qb_letterbox *lb, int *ng,
                                 struct qb_error *err)
{
    struct qb_pack_record r = {0};
    int n;

    if (ev->pack)
        qb_pack_record(ev->pack, pos, &r);
    n = ev->ds ? qb_dataset_label_count(ev->ds, pos) : r.n_labels;
    if (n > ev->gt_cap) {
        struct qb_gt *grown = realloc(ev->gt, (size_t)n * sizeof(*grown));
        if (!grown)
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        ev->gt = grown;
        ev->gt_cap = n;
    }
    if (ev->ds) {
        *ng = qb_dataset_labels(ev->ds, pos, lb, ev->gt);
    } else {
        qb_labels_to_px(r.labels, r.n_labels, lb, ev->gt);
        *ng = r.n_labels;
    }
    return QB_OK;
}

/* Class names: the model's metadata, else the dataset's; labels must fit the model. */
static enum qb_status check_classes(struct eval *ev, struct qb_error *err)
{
    const struct qb_pack_info *pi = ev->pack ? qb_pack_info(ev->pack) : NULL;
    const int max_cls = pi ? qb_pack_max_class(ev->pack) : qb_dataset_max_class(ev->ds);
    const char *const *names = pi ? pi->names : qb_dataset_names(ev->ds);
    const int nc = pi ? pi->nc : qb_dataset_nc(ev->ds);

    if (max_cls >= ev->nc)
        return qb_errorf(err, QB_ERR_INVALID, "%s: labels use class %d, but the model has %d classes", ev->source,
                         max_cls, ev->nc);
    if (!ev->n_model_names && names && nc == ev->nc)
        ev->names = (char **)names;
    if (ev->n_model_names && names && nc != ev->nc)
        qb_log(QB_LOG_WARN, "%s names %d classes, the model %d", ev->source, nc, ev->nc);
    return QB_OK;
}

/* A pack stands in for the images it was made from: same input size, same
 * letterbox; its data spec and split are reported as eval from the images would. */
static enum qb_status check_pack(struct eval *ev, struct qb_error *err)
{
    const struct qb_pack_info *pi = qb_pack_info(ev->pack);
    static const char *const mode_name[QB_LETTERBOX_MODE_COUNT] = {
        [QB_LETTERBOX_PREDICT] = "predict",
        [QB_LETTERBOX_VAL] = "val",
    };

    if (pi->dst_w != ev->w || pi->dst_h != ev->h)
        return qb_errorf(err, QB_ERR_SHAPE,
                         "%s was packed for a %dx%d input (width x height), but %s takes %dx%d: pack the data "
                         "again for this model", ev->o.pack, pi->dst_w, pi->dst_h, ev->o.model, ev->w, ev->h);
    if (ev->o.mode_set && ev->o.mode != pi->mode)
        return qb_errorf(err, QB_ERR_USAGE, "%s was packed with --letterbox %s, not %s", ev->o.pack,
                         mode_name[pi->mode], mode_name[ev->o.mode]);
    ev->o.mode = pi->mode;
    ev->o.data = pi->data;
    ev->o.split = pi->split;
    return QB_OK;
}

static enum qb_status open_dump(struct eval *ev, struct qb_error *err)
{
    size_t n = strlen(ev->o.dets_path) + 16;
    if (!(ev->dump_tmp = malloc(n)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    snprintf(ev->dump_tmp, n, "%s.tmp.%ld", ev->o.dets_path, (long)getpid());
    if (!(ev->dump = fopen(ev->dump_tmp, "w")))
        return qb_errorf(err, QB_ERR_IO, "%s: cannot write", ev->dump_tmp);
    return QB_OK;
}

static void dump_string(FILE *f, const char *s)
{
    cJSON *item = cJSON_CreateStringReference(s);
    char *q = item ? cJSON_PrintUnformatted(item) : NULL;
    if (q)
        fputs(q, f);
    free(q);
    cJSON_Delete(item);
}

static void dump_image(struct eval *ev, size_t pos, const struct qb_letterbox *lb, const struct qb_det *d, int n)
{
    FILE *f = ev->dump;
    fputs(ev->n_dump++ ? ",\n  {\"file\": " : "\n  {\"file\": ", f);
    dump_string(f, src_path(ev, pos));
    if (src_frame(ev, pos) >= 0)
        fprintf(f, ", \"frame\": %ld", src_frame(ev, pos));
    fprintf(f, ", \"width\": %d, \"height\": %d, \"detections\": [", lb->src_w, lb->src_h);
    for (int k = 0; k < n; k++)
        fprintf(f, "%s[%.9g, %.9g, %.9g, %.9g, %.9g, %d]", k ? ", " : "", d[k].box.x1, d[k].box.y1, d[k].box.x2,
                d[k].box.y2, d[k].conf, d[k].cls);
    fputs("]}", f);
}

/* ---- the producer: decodes batches on its own thread ---- */

/* Fills b from the source, starting at *next; skips (and counts) unreadable images.
 * b->filled == 0: nothing left. An error stops the run (a corrupt pack). */
static enum qb_status fill_batch(struct eval *ev, struct batch *b, size_t *next, struct qb_error *err)
{
    const size_t per = (size_t)3 * ev->h * ev->w;
    const size_t end = ev->ds ? ev->limit : qb_pack_count(ev->pack);
    struct qb_error e = {0};
    enum qb_status st = QB_OK;
    double t0 = qb_cli_now();
    int slot = 0;

    b->skipped = 0;
    while (slot < ev->batch && *next < end) {
        size_t i = (*next)++;
        if (ev->ds) {
            if (qb_dataset_load(ev->ds, i, &ev->video, ev->w, ev->h, ev->o.mode, ev->rgb, &b->lb[slot], &e) !=
                QB_OK) {
                qb_log(QB_LOG_WARN, "skipped: %s", e.msg);
                b->skipped++;
                continue;
            }
        } else {
            struct qb_pack_record r;
            qb_pack_record(ev->pack, i, &r);
            if (r.item >= ev->limit) {
                *next = end;
                break;
            }
            if ((st = qb_pack_read_rgb(ev->pack, i, ev->rgb, err)) != QB_OK)
                break;
            b->lb[slot] = r.lb;
        }
        qb_letterbox_to_chw(ev->rgb, &b->lb[slot], b->input + slot * per);
        b->pos[slot++] = i;
    }
    /* padding slots (last batch) hold grey images; their outputs are ignored */
    for (int s = slot; s < ev->batch && slot > 0; s++)
        for (size_t k = 0; k < per; k++)
            b->input[s * per + k] = 114.0f / 255.0f;
    b->filled = slot;
    b->t_decode = qb_cli_now() - t0;
    return st;
}

/* Two buffers handed between the threads; ready[k]: buf[k] is filled and waits for
 * the consumer. Whoever owns a buffer (producer while !ready, consumer while ready)
 * touches it without the lock. */
struct pipe {
    struct eval *ev;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready[2];
    bool stop;   /* the consumer gave up: the producer ends */
    bool failed; /* the producer hit an error (err) and ended */
    struct qb_error err;
};

static void *produce(void *arg)
{
    struct pipe *p = arg;
    size_t next = 0;

    for (int k = 0;; k ^= 1) {
        struct qb_error err = {0};
        enum qb_status st;
        bool stop, last;

        pthread_mutex_lock(&p->mu);
        while (p->ready[k] && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        st = fill_batch(p->ev, &p->ev->buf[k], &next, &err);
        last = p->ev->buf[k].filled == 0; /* read before handing the buffer over */
        pthread_mutex_lock(&p->mu);
        if (st != QB_OK) {
            p->failed = true;
            p->err = err;
            p->err.status = st;
        } else {
            p->ready[k] = true;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (st != QB_OK || last)
            break;
    }
    return NULL;
}

/* ---- the consumer: inference, decoding and scoring ---- */

/* Detections of every variant against the labels; v[0]'s go to the dump. */
static enum qb_status score_batch(struct eval *ev, int filled, struct qb_error *err)
{
    double t0 = qb_cli_now();
    enum qb_status st = QB_OK;

    eval_variants_compare(&ev->vs, filled, ev->batch);
    for (int s = 0; s < filled && st == QB_OK; s++) {
        int ng = 0;
        if ((st = src_labels(ev, ev->pos[s], &ev->lb[s], &ng, err)) != QB_OK)
            break;
        for (int k = ev->vs.n - 1; k >= 0 && st == QB_OK; k--) {
            const float *out = (const float *)qb_exec_output(ev->vs.v[k].e, 0)->data;
            int nd = 0;
            if ((st = qb_detect_image(ev->det, out, s, &ev->lb[s], ev->dets, &nd, err)) == QB_OK)
                st = qb_metrics_add(ev->vs.v[k].m, ev->dets, nd, ev->gt, ng, err);
            if (st == QB_OK && k == 0 && ev->dump)
                dump_image(ev, ev->pos[s], &ev->lb[s], ev->dets, nd);
        }
        ev->n_images++;
    }
    ev->t_post += qb_cli_now() - t0;
    return st;
}

static void progress(struct eval *ev, bool last)
{
    double now = qb_cli_now();
    bool tty = isatty(2);
    if (ev->o.quiet || (!last && now - ev->t_progress < (tty ? 0.5 : 10.0)))
        return;
    ev->t_progress = now;
    fprintf(stderr, "%seval: %ld/%zu images, %.1f images/s%s", tty ? "\r" : "", ev->n_images + ev->n_skipped,
            ev->limit, ev->n_images / (now - ev->t_start + 1e-9), tty && !last ? "" : "\n");
}

/* Takes the batches in order until the end marker or an error on either side. */
static enum qb_status consume(struct eval *ev, struct pipe *p, struct qb_error *err)
{
    const size_t bytes = (size_t)ev->batch * 3 * ev->h * ev->w * sizeof(float);
    enum qb_status st = QB_OK;

    for (int k = 0; st == QB_OK; k ^= 1) {
        struct batch *b = &ev->buf[k];
        int filled;

        pthread_mutex_lock(&p->mu);
        while (!p->ready[k] && !p->failed)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->ready[k]) {
            *err = p->err;
            st = p->err.status;
        }
        pthread_mutex_unlock(&p->mu);
        if (st != QB_OK)
            break;
        ev->n_skipped += b->skipped;
        ev->t_decode += b->t_decode;
        if ((filled = b->filled) == 0)
            break;
        for (int v = 0; v < ev->vs.n; v++)
            memcpy(qb_exec_input(ev->vs.v[v].e, 0)->data, b->input, bytes);
        memcpy(ev->lb, b->lb, (size_t)filled * sizeof(*ev->lb));
        memcpy(ev->pos, b->pos, (size_t)filled * sizeof(*ev->pos));
        pthread_mutex_lock(&p->mu);
        p->ready[k] = false;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int v = 0; v < ev->vs.n && st == QB_OK; v++) {
            double t0 = qb_cli_now();
            st = qb_exec_run(ev->vs.v[v].e, err);
            ev->vs.v[v].t_infer += qb_cli_now() - t0;
        }
        if (st == QB_OK)
            st = score_batch(ev, filled, err);
        progress(ev, false);
    }
    return st;
}

/* Items skipped when the pack was made count as they would from the images. */
static void pack_skipped(struct eval *ev)
{
    const struct qb_pack_info *pi = qb_pack_info(ev->pack);
    for (size_t i = 0; i < pi->n_skipped; i++) {
        if (pi->skipped[i].item >= ev->limit)
            continue;
        qb_log(QB_LOG_WARN, "skipped: %s", pi->skipped[i].error);
        ev->n_skipped++;
    }
}

static enum qb_status run_all(struct eval *ev, struct qb_error *err)
{
    const size_t count = ev->ds ? qb_dataset_count(ev->ds) : qb_pack_info(ev->pack)->items;
    struct pipe p = {.ev = ev};
    pthread_t thread;
    enum qb_status st;

    ev->limit = ev->o.max_images && (size_t)ev->o.max_images < count ? (size_t)ev->o.max_images : count;
    ev->t_start = ev->t_progress = qb_cli_now();
    if (ev->pack)
        pack_skipped(ev);
    if (pthread_mutex_init(&p.mu, NULL) != 0)
        return qb_errorf(err, QB_ERR_INTERNAL, "cannot create a mutex");
    if (pthread_cond_init(&p.cv, NULL) != 0) {
        pthread_mutex_destroy(&p.mu);
        return qb_errorf(err, QB_ERR_INTERNAL, "cannot create a condition variable");
    }
    if (pthread_create(&thread, NULL, produce, &p) != 0) {
        st = qb_errorf(err, QB_ERR_INTERNAL, "cannot start the decoding thread");
    } else {
        st = consume(ev, &p, err);
        pthread_mutex_lock(&p.mu);
        p.stop = true;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(thread, NULL);
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    progress(ev, true);
    if (st == QB_OK && ev->n_images == 0)
        st = qb_errorf(err, QB_ERR_INVALID, "%s: none of the %zu images could be read", ev->source, ev->limit);
    return st;
}

static enum qb_status close_dump(struct eval *ev, struct qb_error *err)
{
    FILE *f = ev->dump;
    fputs("\n ]}\n", f);
    ev->dump = NULL;
    if (ferror(f) | (fclose(f) != 0) || rename(ev->dump_tmp, ev->o.dets_path) != 0) {
        remove(ev->dump_tmp);
        return qb_errorf(err, QB_ERR_IO, "%s: cannot write", ev->o.dets_path);
    }
    return QB_OK;
}

static cJSON *result_json(const struct eval *ev, const struct qb_map_result *r, double total_s)
{
    cJSON *root = cJSON_CreateObject(), *classes = cJSON_AddArrayToObject(root, "classes");
    cJSON *t = cJSON_CreateObject();
    double n = ev->n_images ? (double)ev->n_images : 1.0;

    cJSON_AddStringToObject(root, "model", ev->o.model);
    cJSON_AddStringToObject(root, "data", ev->o.data);
    cJSON_AddStringToObject(root, "split", ev->o.split);
    if (ev->o.pack)
        cJSON_AddStringToObject(root, "pack", ev->o.pack);
    eval_variants_json(root, &ev->vs, ev->n_images);
    cJSON_AddNumberToObject(root, "images", (double)r->n_images);
    cJSON_AddNumberToObject(root, "instances", (double)r->n_instances);
    cJSON_AddNumberToObject(root, "skipped", (double)ev->n_skipped);
    cJSON_AddNumberToObject(root, "precision", r->precision);
    cJSON_AddNumberToObject(root, "recall", r->recall);
    cJSON_AddNumberToObject(root, "map50", r->map50);
    cJSON_AddNumberToObject(root, "map50_95", r->map50_95);
    for (int c = 0; c < r->nc; c++) {
        const struct qb_class_result *k = &r->cls[c];
        cJSON *o;
        if (!k->instances)
            continue;
        o = cJSON_CreateObject();
        if (ev->names && ev->names[c])
            cJSON_AddStringToObject(o, "name", ev->names[c]);
        cJSON_AddNumberToObject(o, "class", c);
        cJSON_AddNumberToObject(o, "images", (double)k->images);
        cJSON_AddNumberToObject(o, "instances", (double)k->instances);
        cJSON_AddNumberToObject(o, "precision", k->p);
        cJSON_AddNumberToObject(o, "recall", k->r);
        cJSON_AddNumberToObject(o, "map50", k->ap50);
        cJSON_AddNumberToObject(o, "map50_95", k->ap50_95);
        cJSON_AddItemToArray(classes, o);
    }
    cJSON_AddNumberToObject(t, "total_s", total_s);
    cJSON_AddNumberToObject(t, "images_per_s", ev->n_images / (total_s + 1e-12));
    cJSON_AddNumberToObject(t, "decode_ms_per_image", 1e3 * ev->t_decode / n);
    cJSON_AddNumberToObject(t, "inference_ms_per_image", 1e3 * ev->vs.v[0].t_infer / n);
    cJSON_AddNumberToObject(t, "postprocess_ms_per_image", 1e3 * ev->t_post / n);
    cJSON_AddItemToObject(root, "time", t);
    return root;
}

static enum qb_status report(struct eval *ev, struct qb_error *err)
{
    const struct qb_map_result *r = &ev->vs.v[0].r;
    double total = qb_cli_now() - ev->t_start, n = ev->n_images, infer = 0;
    enum qb_status st;

    if ((st = eval_variants_summary(&ev->vs, err)) != QB_OK)
        return st;
    for (int v = 0; v < ev->vs.n; v++)
        infer += ev->vs.v[v].t_infer;
    if (!ev->o.json || strcmp(ev->o.json, "-") != 0) {
        if (ev->vs.v[0].prec)
            printf("%s: %s\n", ev->vs.mode, qb_exec_describe(ev->vs.v[0].e));
        qb_metrics_print(stdout, r, (const char *const *)ev->names);
        printf("Speed: %.1f ms decode, %.1f ms inference%s, %.1f ms postprocess per image; %ld images in %.1f s "
               "(%.1f images/s)\n", 1e3 * ev->t_decode / n, 1e3 * infer / n,
               ev->vs.n > 1 ? " (the plan and its baselines)" : "", 1e3 * ev->t_post / n, ev->n_images, total,
               n / total);
        if (ev->n_skipped)
            printf("%ld unreadable images skipped (see the warnings above)\n", ev->n_skipped);
        eval_variants_print(stdout, &ev->vs, ev->n_images);
    }
    if (ev->o.json) {
        cJSON *root = result_json(ev, r, total);
        st = root ? qb_cli_write_json(ev->o.json, root, err) : qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        cJSON_Delete(root);
    }
    return st;
}

/* The dataset or the pack, opened before the model: a wrong path fails first. */
static enum qb_status open_source(struct eval *ev, struct qb_error *err)
{
    enum qb_status st;

    if (ev->o.pack) {
        ev->source = ev->o.pack;
        if ((st = qb_pack_open(ev->o.pack, &ev->pack, err)) != QB_OK)
            return st;
        if (!qb_pack_info(ev->pack)->has_labels)
            qb_log(QB_LOG_WARN, "%s: no label files were found when packing; every detection counts as a false "
                   "positive", ev->o.pack);
        return QB_OK;
    }
    ev->source = ev->o.data;
    if (!qb_image_available())
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "this qbench cannot read images (built without OpenCV): make a "
                         "pack with `qbench pack` and evaluate it with --pack");
    if ((st = qb_dataset_open(ev->o.data, ev->o.split, &ev->ds, err)) != QB_OK)
        return st;
    if (!qb_dataset_has_labels(ev->ds))
        qb_log(QB_LOG_WARN, "%s: no label files found; every detection counts as a false positive", ev->o.data);
    return QB_OK;
}

static enum qb_status alloc_buffers(struct eval *ev, struct qb_error *err)
{
    const size_t per = (size_t)3 * ev->h * ev->w, n = (size_t)ev->batch;

    ev->rgb = malloc(QB_LETTERBOX_RGB_BYTES(ev->w, ev->h));
    ev->lb = calloc(n, sizeof(*ev->lb));
    ev->pos = calloc(n, sizeof(*ev->pos));
    ev->dets = calloc((size_t)ev->o.detect.max_det, sizeof(*ev->dets));
    if (!ev->rgb || !ev->lb || !ev->pos || !ev->dets)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 2; k++) {
        struct batch *b = &ev->buf[k];
        if (!(b->input = malloc(n * per * sizeof(float))) || !(b->lb = calloc(n, sizeof(*b->lb))) ||
            !(b->pos = calloc(n, sizeof(*b->pos))))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    return QB_OK;
}

static enum qb_status start_dump(struct eval *ev, struct qb_error *err)
{
    enum qb_status st = open_dump(ev, err);
    if (st != QB_OK)
        return st;
    fputs("{\"model\": ", ev->dump);
    dump_string(ev->dump, ev->o.model);
    fputs(", \"data\": ", ev->dump);
    dump_string(ev->dump, ev->o.data);
    fputs(", \"split\": ", ev->dump);
    dump_string(ev->dump, ev->o.split);
    fputs(", \"names\": [", ev->dump);
    for (int c = 0; c < ev->nc; c++) {
        char num[16];
        snprintf(num, sizeof(num), "%d", c);
        fputs(c ? ", " : "", ev->dump);
        dump_string(ev->dump, ev->names && ev->names[c] ? ev->names[c] : num);
    }
    fputs("],\n \"images\": [", ev->dump);
    return QB_OK;
}

int qb_cmd_eval(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    struct eval_variants_opts vo;
    struct eval ev = {0};
    struct qb_error err = {0};
    enum qb_status st = QB_OK;

    if (parse_args(argc, argv, &ev.o, &mo) != 0) {
        qb_plan_spec_free(&ev.o.plan);
        return QB_EXIT_USAGE;
    }
    if ((st = open_source(&ev, &err)) != QB_OK)
        goto out;
    if (!(ev.g = qb_cli_load(ev.o.model, &mo, &st))) { /* qb_cli_load printed why */
        eval_free(&ev);
        return qb_cli_exit_code(st);
    }
    ev.n_model_names = qb_cli_model_names(ev.g, &ev.names);
    if ((st = check_model(&ev, &err)) != QB_OK || (ev.pack && (st = check_pack(&ev, &err)) != QB_OK) ||
        (st = check_classes(&ev, &err)) != QB_OK)
        goto out;
    vo = (struct eval_variants_opts){
        .model = ev.o.model, .plan = &ev.o.plan, .calib = ev.o.calib, .baselines = !ev.o.no_baselines,
        .verbose = ev.o.verbose, .log = ev.o.json && strcmp(ev.o.json, "-") == 0 ? stderr : stdout,
        .exec = &(struct qb_exec_opts){.device = mo.device, .n_threads = mo.threads}, .nc = ev.nc};
    if ((st = eval_variants_new(&ev.vs, ev.g, &vo, &err)) != QB_OK || (st = alloc_buffers(&ev, &err)) != QB_OK)
        goto out;
    if (ev.o.dets_path && (st = start_dump(&ev, &err)) != QB_OK)
        goto out;
    if ((st = run_all(&ev, &err)) != QB_OK)
        goto out;
    if (ev.dump && (st = close_dump(&ev, &err)) != QB_OK)
        goto out;
    st = report(&ev, &err);
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench eval: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
    eval_free(&ev);
    return qb_cli_exit_code(st);
}
