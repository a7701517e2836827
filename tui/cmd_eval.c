/* qbench eval: mAP on a labelled dataset, as `yolo val` reports it (core/dataset.h,
 * core/detect.h, core/metrics.h do the work), of the FP32 reference or of a
 * precision plan simulated exactly, beside its FP32 and FP16 baselines
 * (tui/eval_variants.c); from image files or from a pack (core/pack.h), decoded
 * one batch ahead on a producer thread (core/batches.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_plan.h"
#include "cli_preset.h"
#include "cli_source.h"
#include "core/batches.h"
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
    struct qb_cli_preset preset;
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
    char **names;           /* the model's (metadata) or the dataset's */
    int nc, n_model_names;
    int batch, h, w;
    const struct qb_batch *cur; /* the batch being scored */
    size_t limit;            /* dataset items below limit are evaluated */
    struct qb_det *dets, *ref_dets; /* ref_dets: the FP32 baseline's, for fidelity */
    struct qb_gt *gt;
    int gt_cap;
    FILE *dump;
    char *dump_tmp;
    long n_images, n_skipped, n_dump;
    double t_decode, t_post, t_start, t_progress;
};

static const char usage[] =
    "usage: qbench eval (MODEL | --preset S [MODEL]) (--data D.yaml|DIR|LIST [--split val] | --pack P.qbpack)\n"
    "                   [--images N] [--threads N] [--letterbox predict|val] [--conf C] [--iou I] [--max-det N]\n"
    "                   [--json OUT] [--save-detections OUT.json] [--quiet]\n"
    "                   [--calib C.json] [--no-baselines] [--verbose] " QB_CLI_PLAN_USAGE
    QB_CLI_PRESET_USAGE
    "              (eval: the model, the images and their count (images_max), --calib and the plan;\n"
    "              without --int8/--fp16/--fp32/--plan, the --op-set and rules given apply to the preset's plan)\n";

/* What --preset S stands for: the model (settled by qb_cli_preset_load), the images
 * and their count, the calibration table and the plan, where none was given. */
static int apply_preset(struct eval_opts *o)
{
    const struct qb_preset *p;
    struct qb_cli_source s;

    if (qb_cli_preset_load(&o->preset, "eval", &o->model) != QB_OK)
        return -1;
    if (!(p = qb_cli_preset_get(&o->preset)))
        return 0;
    s = (struct qb_cli_source){.data = o->data, .split = o->split, .pack = o->pack, .max = (size_t)o->max_images};
    qb_cli_preset_source(&o->preset, &s);
    o->data = s.data ? s.data : s.images; /* eval reads a folder of images as --data DIR */
    o->split = s.split;
    o->pack = s.pack;
    o->max_images = (long)s.max;
    qb_cli_preset_str(&o->calib, p->calib.table);
    return qb_cli_preset_plan(&o->preset, &o->plan);
}

static int parse_args(int argc, char **argv, struct eval_opts *o, struct qb_cli_model_opts *mo)
{
    o->detect = qb_detect_opts_default();
    for (int i = 1; i < argc; i++) {
        int r = qb_cli_model_opt(argc, argv, &i, mo);
        const char *a, *v;
        char *end = NULL;
        if (r == 0)
            r = qb_cli_plan_opt(argc, argv, &i, &o->plan);
        if (r == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &o->preset);
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
            int m = qb_letterbox_mode_parse(argv[++i]);
            if (m < 0)
                goto bad;
            o->mode = (enum qb_letterbox_mode)m;
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
    if (apply_preset(o) < 0 || qb_cli_plan_finish(&o->plan) < 0)
        return -1;
    if (!o->split)
        o->split = "val";
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
    eval_variants_free(&ev->vs);
    qb_plan_spec_free(&ev->o.plan);
    qb_cli_preset_free(&ev->o.preset);
    qb_detector_free(ev->det);
    qb_dataset_free(ev->ds);
    qb_pack_close(ev->pack);
    qb_graph_free(ev->g);
    if (ev->n_model_names)
        qb_cli_free_names(ev->names, ev->n_model_names);
    free(ev->dets);
    free(ev->ref_dets);
    free(ev->gt);
}

/* The model input must be one float [B, 3, H, W] tensor; the first output is the detect head. */
static enum qb_status check_model(struct eval *ev, struct qb_error *err)
{
    struct qb_detect_layout layout;
    enum qb_status st;

    if ((st = qb_cli_detect_model(ev->g, ev->n_model_names, &ev->batch, &ev->h, &ev->w, &layout, err)) != QB_OK)
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

    if (pi->dst_w != ev->w || pi->dst_h != ev->h)
        return qb_errorf(err, QB_ERR_SHAPE,
                         "%s was packed for a %dx%d input (width x height), but %s takes %dx%d: pack the data "
                         "again for this model", ev->o.pack, pi->dst_w, pi->dst_h, ev->o.model, ev->w, ev->h);
    if (ev->o.mode_set && ev->o.mode != pi->mode)
        return qb_errorf(err, QB_ERR_USAGE, "%s was packed with --letterbox %s, not %s", ev->o.pack,
                         qb_letterbox_mode_names[pi->mode], qb_letterbox_mode_names[ev->o.mode]);
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

/* ---- inference, decoding and scoring ---- */

/* Detections of every variant against the labels; v[0]'s go to the dump. */
static enum qb_status score_batch(struct eval *ev, int filled, struct qb_error *err)
{
    double t0 = qb_cli_now();
    enum qb_status st = QB_OK;

    eval_variants_compare(&ev->vs, filled, ev->batch);
    for (int s = 0; s < filled && st == QB_OK; s++) {
        const struct qb_letterbox *lb = &ev->cur->lb[s];
        int ng = 0;
        if ((st = src_labels(ev, ev->cur->item[s], lb, &ng, err)) != QB_OK)
            break;
        int n_ref = 0;
        for (int k = ev->vs.n - 1; k >= 0 && st == QB_OK; k--) {
            const float *out = (const float *)qb_exec_output(ev->vs.v[k].e, 0)->data;
            bool ref = k > 0 && strcmp(ev->vs.v[k].name, "fp32") == 0;
            struct qb_det *d = ref ? ev->ref_dets : ev->dets;
            int nd = 0;
            if ((st = qb_detect_image(ev->det, out, s, lb, d, &nd, err)) == QB_OK)
                st = qb_score_labels(ev->vs.v[k].s, d, nd, ev->gt, ng, err);
            if (ref)
                n_ref = nd;
            if (st == QB_OK && k == 0 && ev->vs.n > 1)
                st = qb_score_fidelity(ev->vs.v[0].s, d, nd, ev->ref_dets, n_ref, err);
            if (st == QB_OK && k == 0 && ev->dump)
                dump_image(ev, ev->cur->item[s], lb, ev->dets, nd);
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

/* Takes the batches in order until the end or an error on either side. */
static enum qb_status consume(struct eval *ev, struct qb_batches *q, struct qb_error *err)
{
    const size_t bytes = (size_t)ev->batch * 3 * ev->h * ev->w * sizeof(float);
    enum qb_status st = QB_OK;

    while (st == QB_OK && (st = qb_batches_next(q, &ev->cur, err)) == QB_OK) {
        ev->n_skipped += ev->cur->skipped;
        ev->t_decode += ev->cur->t_decode;
        if (!ev->cur->filled)
            break;
        for (int v = 0; v < ev->vs.n; v++)
            memcpy(qb_exec_input(ev->vs.v[v].e, 0)->data, ev->cur->input, bytes);
        for (int v = 0; v < ev->vs.n && st == QB_OK; v++) {
            double t0 = qb_cli_now();
            st = qb_exec_run(ev->vs.v[v].e, err);
            ev->vs.v[v].t_infer += qb_cli_now() - t0;
        }
        if (st == QB_OK)
            st = score_batch(ev, ev->cur->filled, err);
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
    struct qb_batches *q = NULL;
    enum qb_status st;

    ev->limit = ev->o.max_images && (size_t)ev->o.max_images < count ? (size_t)ev->o.max_images : count;
    ev->t_start = ev->t_progress = qb_cli_now();
    if (ev->pack)
        pack_skipped(ev);
    st = qb_batches_start(&(struct qb_batches_opts){.ds = ev->ds, .pack = ev->pack, .batch = ev->batch, .w = ev->w,
                                                    .h = ev->h, .mode = ev->o.mode, .limit = ev->limit},
                          &q, err);
    if (st == QB_OK)
        st = consume(ev, q, err);
    ev->cur = NULL;
    qb_batches_stop(q);
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
    const struct qb_map_result *r = &ev->vs.v[0].r.map;
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
    if (!(ev->dets = calloc((size_t)ev->o.detect.max_det, sizeof(*ev->dets))) ||
        !(ev->ref_dets = calloc((size_t)ev->o.detect.max_det, sizeof(*ev->ref_dets))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
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
        qb_cli_preset_free(&ev.o.preset);
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
