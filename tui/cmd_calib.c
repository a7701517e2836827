/* qbench calib: the amax of every float activation of the FP32 model over
 * calibration images, saved as a calibration table (core/calib.h does the work).
 *
 * The steps: open the image source; refuse a test split and images that the
 * evaluation set also holds (leakage guard); hash the images (the image-list
 * hash keys the on-disk cache); collect the histograms in one pass over the
 * images, or take them from the cache; compute the method's amax per tensor;
 * save the table (and, on request, a TensorRT calibration cache). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "cli_preset.h"
#include "core/batches.h"
#include "core/calib.h"
#include "core/dataset.h"
#include "core/exec.h"
#include "core/threadpool.h"


#define MAX_VIDEOS 64
#define FEW_IMAGES 100

struct calib_opts {
    const char *model, *images, *data, *split, *eval_data, *eval_split, *out, *trt_cache;
    const char *videos[MAX_VIDEOS];
    int n_videos;
    long every, max_frames, images_max;
    struct qb_calib_params params;
    bool method_given, percentile_given, allow_overlap, no_cache, json, quiet;
    enum qb_letterbox_mode mode;
    struct qb_cli_preset preset;
};

/* Everything one calibration holds; freed by calib_free(). */
struct calib {
    struct calib_opts o;
    struct qb_cli_model_opts mo;
    struct qb_graph *g;
    struct qb_dataset *ds;
    size_t n_items;              /* items used (after --images-max) */
    uint8_t (*digest)[32];       /* content hash per item */
    struct qb_pool *pool;
    struct qb_calib_collector *c;
    struct qb_calib_digests *memo; /* content hashes of unchanged files (NULL: --no-cache) */
    struct qb_calib_table t;
    char cache_dir[2048], cache_key[65];
    int batch, h, w;
    long n_images, n_skipped, n_repeated;
    bool cached;
    double t_start, t_hash, t_infer, t_methods, t_progress, t_run;
};

static const char usage[] =
    "usage: qbench calib MODEL (--images DIR|LIST | --data D.yaml [--split S] | --video V... [--every N] [--max M])\n"
    "                    [--images-max N] [--method max|percentile|entropy|mse] [--percentile P]\n"
    "                    [--eval-data D.yaml [--eval-split val]] [--allow-overlap] [--letterbox predict|val]\n"
    "                    [--threads N] [--no-cache] --out C.json [--trt-cache OUT] [--json] [--quiet]\n"
    "       qbench calib --preset S [MODEL] [options above] --out C.json\n" QB_CLI_PRESET_USAGE
    "              (calib: the model; the calibration images (with --images-max), --method and\n"
    "              --percentile it records; its evaluation data as --eval-data for the leakage guard)\n";

/* What --preset S stands for: the model; with no image source given, the one the
 * preset's calibration records and its count; the method and percentile; and its
 * evaluation data for the leakage guard. */
static int apply_preset(struct calib_opts *o)
{
    const struct qb_preset *p;
    const struct qb_preset_calib *pc;
    struct qb_error err = {0};

    if (qb_cli_preset_load(&o->preset, "calib", &o->model) != QB_OK)
        return -1;
    if (!(p = qb_cli_preset_get(&o->preset)))
        return 0;
    pc = &p->calib;
    if (!o->images && !o->data && !o->n_videos) {
        o->images = pc->images;
        o->data = pc->images ? NULL : pc->data;
        if (o->data && !o->split)
            o->split = pc->split;
        if (!o->images_max && pc->images_max > 0)
            o->images_max = pc->images_max;
    }
    if (!o->method_given && pc->method && qb_calib_method_parse(pc->method, &o->params.method, &err) != QB_OK) {
        fprintf(stderr, "qbench calib: preset %s: %s\n", o->preset.path, err.msg);
        return -1;
    }
    if (!o->percentile_given && o->params.method == QB_CALIB_PERCENTILE && isfinite(pc->percentile))
        o->params.percentile = pc->percentile;
    if (!o->eval_data && p->source.data) {
        o->eval_data = p->source.data;
        if (!o->eval_split)
            o->eval_split = p->source.split;
    }
    return 0;
}

static int parse_long(const char *s, long lo, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct calib_opts *o, struct qb_cli_model_opts *mo)
{
    struct qb_error err = {0};
    o->every = 30;
    o->params.method = QB_CALIB_ENTROPY;
    for (int i = 1; i < argc; i++) {
        int r = qb_cli_model_opt(argc, argv, &i, mo);
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (r == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &o->preset);
        if (r < 0)
            return -1;
        if (r)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(a, "--allow-overlap") == 0 || strcmp(a, "--no-cache") == 0 || strcmp(a, "--json") == 0 ||
            strcmp(a, "--quiet") == 0) {
            *(a[2] == 'a' ? &o->allow_overlap : a[2] == 'n' ? &o->no_cache : a[2] == 'j' ? &o->json : &o->quiet) = true;
            continue;
        }
        if (a[0] == '-' && !v) {
            fprintf(stderr, "qbench calib: %s needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--images") == 0) {
            o->images = argv[++i];
        } else if (strcmp(a, "--data") == 0) {
            o->data = argv[++i];
        } else if (strcmp(a, "--split") == 0) {
            o->split = argv[++i];
        } else if (strcmp(a, "--video") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if (o->n_videos == MAX_VIDEOS) {
                    fprintf(stderr, "qbench calib: more than %d videos (give a folder instead)\n", MAX_VIDEOS);
                    return -1;
                }
                o->videos[o->n_videos++] = argv[++i];
            }
        } else if (strcmp(a, "--every") == 0) {
            if (parse_long(argv[++i], 1, &o->every) != 0)
                goto bad;
        } else if (strcmp(a, "--max") == 0) {
            if (parse_long(argv[++i], 1, &o->max_frames) != 0)
                goto bad;
        } else if (strcmp(a, "--images-max") == 0) {
            if (parse_long(argv[++i], 1, &o->images_max) != 0)
                goto bad;
        } else if (strcmp(a, "--method") == 0) {
            if (qb_calib_method_parse(argv[++i], &o->params.method, &err) != QB_OK) {
                fprintf(stderr, "qbench calib: %s\n", err.msg);
                return -1;
            }
            o->method_given = true;
        } else if (strcmp(a, "--percentile") == 0) {
            o->params.percentile = strtod(argv[++i], &end);
            o->percentile_given = true;
            if (*end || !(o->params.percentile > 0 && o->params.percentile <= 100))
                goto bad;
        } else if (strcmp(a, "--eval-data") == 0) {
            o->eval_data = argv[++i];
        } else if (strcmp(a, "--eval-split") == 0) {
            o->eval_split = argv[++i];
        } else if (strcmp(a, "--out") == 0) {
            o->out = argv[++i];
        } else if (strcmp(a, "--trt-cache") == 0) {
            o->trt_cache = argv[++i];
        } else if (strcmp(a, "--letterbox") == 0) {
            int m = qb_letterbox_mode_parse(argv[++i]);
            if (m < 0)
                goto bad;
            o->mode = (enum qb_letterbox_mode)m;
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "qbench calib: unexpected argument '%s'\n%s", a, usage);
            return -1;
        }
        continue;
bad:
        fprintf(stderr, "qbench calib: bad value for %s: '%s'\n", a, argv[i]);
        return -1;
    }
    if (apply_preset(o) < 0)
        return -1;
    if (!o->split)
        o->split = "train";
    if (!o->eval_split)
        o->eval_split = "val";
    if (!o->model || !o->out || (!!o->images + !!o->data + !!o->n_videos) != 1) {
        fprintf(stderr, "qbench calib: %s\n%s",
                !o->model ? "no model given" : !o->out ? "--out C.json is required"
                                             : "give one image source: --images, --data or --video",
                usage);
        return -1;
    }
    if (o->percentile_given && o->params.method != QB_CALIB_PERCENTILE) {
        fprintf(stderr, "qbench calib: --percentile goes with --method percentile\n");
        return -1;
    }
    return 0;
}

static void calib_free(struct calib *cb)
{
    qb_calib_table_free(&cb->t);
    qb_calib_collector_free(cb->c);
    qb_calib_digests_free(cb->memo);
    qb_pool_free(cb->pool);
    qb_dataset_free(cb->ds);
    qb_graph_free(cb->g);
    free(cb->digest);
    qb_cli_preset_free(&cb->o.preset);
}

/* Sources ------------------------------------------------------------------------ */

static enum qb_status open_source(struct calib *cb, struct qb_error *err)
{
    const struct calib_opts *o = &cb->o;
    enum qb_status st;

    if (o->data && strcasecmp(o->split, "test") == 0 && !o->allow_overlap)
        return qb_errorf(err, QB_ERR_USAGE, "refusing to calibrate on the split named '%s' of %s: the test set must "
                         "stay unseen (calibrate on train or a calibration split, or pass --allow-overlap)",
                         o->split, o->data);
    if (o->images)
        st = qb_dataset_open(o->images, NULL, &cb->ds, err);
    else if (o->data)
        st = qb_dataset_open(o->data, o->split, &cb->ds, err);
    else if ((st = qb_dataset_new(&cb->ds, err)) == QB_OK)
        for (int i = 0; i < o->n_videos && st == QB_OK; i++)
            st = qb_dataset_add_videos(cb->ds, o->videos[i], o->every, o->max_frames, err);
    if (st != QB_OK)
        return st;
    cb->n_items = qb_dataset_count(cb->ds);
    if (o->images_max && (size_t)o->images_max < cb->n_items)
        cb->n_items = (size_t)o->images_max;
    return QB_OK;
}

/* One file to hash: an image, or a video whose frames follow each other. */
struct file_hash {
    const char *path;
    struct qb_calib_stamp stamp;
    uint8_t digest[32];
    bool known, read;   /* from the memo; hashed from the file */
};

struct hash_job {
    struct file_hash **todo;
    size_t n;
};

/* Unreadable files get a hash of their path (they are skipped when decoded). */
static void hash_file(void *ctx, int item)
{
    struct hash_job *j = ctx;
    struct file_hash *f = j->todo[item];
    struct qb_error err = {0};
    SHA2_CTX sc;

    if ((f->read = qb_calib_file_digest(f->path, f->digest, &err) == QB_OK))
        return;
    SHA256Init(&sc);
    SHA256Update(&sc, (const uint8_t *)"unreadable:", 11);
    SHA256Update(&sc, (const uint8_t *)f->path, strlen(f->path));
    SHA256Final(f->digest, &sc);
}

/* Content hashes of items [0, n) of ds (core/calib.h: a frame's from its video's);
 * files the memo knows unchanged are not read again. */
static enum qb_status hash_dataset(struct calib *cb, const struct qb_dataset *ds, size_t n, uint8_t (**out)[32],
                                   struct qb_error *err)
{
    uint8_t (*digest)[32] = calloc(n + 1, 32);
    struct file_hash *files = calloc(n + 1, sizeof(*files));
    struct file_hash **todo = calloc(n + 1, sizeof(*todo));
    size_t *of = calloc(n + 1, sizeof(*of)), n_files = 0, n_todo = 0;
    enum qb_status st = QB_OK;

    if (!digest || !files || !todo || !of) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *path = qb_dataset_path(ds, i);
        if (qb_dataset_frame(ds, i) >= 0 && n_files && qb_dataset_frame(ds, i - 1) >= 0 &&
            strcmp(files[n_files - 1].path, path) == 0) {
            of[i] = n_files - 1;
            continue;
        }
        of[i] = n_files;
        files[n_files].path = path;
        qb_calib_stamp_of(path, &files[n_files].stamp);
        files[n_files].known = qb_calib_digests_get(cb->memo, path, &files[n_files].stamp, files[n_files].digest);
        if (!files[n_files].known)
            todo[n_todo++] = &files[n_files];
        n_files++;
    }
    qb_pool_for(cb->pool, (int)n_todo, hash_file, &(struct hash_job){.todo = todo, .n = n_todo});
    for (size_t k = 0; k < n_todo; k++)
        if (todo[k]->read)
            qb_calib_digests_put(cb->memo, todo[k]->path, &todo[k]->stamp, todo[k]->digest);
    for (size_t i = 0; i < n; i++) {
        long frame = qb_dataset_frame(ds, i);
        if (frame >= 0)
            qb_calib_frame_digest(files[of[i]].digest, frame, digest[i]);
        else
            memcpy(digest[i], files[of[i]].digest, 32);
    }
    *out = digest;
    digest = NULL;
out:
    free(digest);
    free(files);
    free(todo);
    free(of);
    return st;
}

static int cmp_digest(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static bool is_yaml(const char *spec)
{
    const char *dot = strrchr(spec, '.');
    return dot && (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0);
}

/* The leakage guard: calibration images whose content the evaluation set holds. */
static enum qb_status check_overlap(struct calib *cb, struct qb_error *err)
{
    const struct calib_opts *o = &cb->o;
    const char *spec = o->eval_data ? o->eval_data : o->data;
    struct qb_dataset *eval = NULL;
    uint8_t (*ev)[32] = NULL;
    size_t n_ev, overlap = 0, first = 0;
    char where[1200];
    struct qb_error sub = {0};
    enum qb_status st;

    if (!spec)
        return QB_OK; /* nothing to compare with */
    if ((st = qb_dataset_open(spec, o->eval_split, &eval, &sub)) != QB_OK) {
        if (o->eval_data)
            return qb_errorf(err, st, "--eval-data: %s", sub.msg);
        qb_log(QB_LOG_INFO, "%s has no '%s' split to check the calibration images against", spec, o->eval_split);
        return QB_OK;
    }
    n_ev = qb_dataset_count(eval);
    if ((st = hash_dataset(cb, eval, n_ev, &ev, err)) != QB_OK)
        goto out;
    qsort(ev, n_ev, 32, cmp_digest);
    for (size_t i = 0; i < cb->n_items; i++)
        if (bsearch(cb->digest[i], ev, n_ev, 32, cmp_digest) && overlap++ == 0)
            first = i;
    if (is_yaml(spec))
        snprintf(where, sizeof(where), "%s (split %s)", spec, o->eval_split);
    else
        snprintf(where, sizeof(where), "%s", spec);
    if (overlap && !o->allow_overlap)
        st = qb_errorf(err, QB_ERR_INVALID, "%zu of the %zu calibration images are also in the evaluation set %s "
                       "(same content), e.g. %s; calibrating on evaluation images flatters the accuracy you will "
                       "measure: choose other images, or pass --allow-overlap", overlap, cb->n_items, where,
                       qb_dataset_path(cb->ds, first));
    else if (overlap)
        qb_log(QB_LOG_WARN, "%zu of the %zu calibration images are also in the evaluation set %s; allowed by "
               "--allow-overlap", overlap, cb->n_items, where);
out:
    free(ev);
    qb_dataset_free(eval);
    return st;
}

/* The model ---------------------------------------------------------------------- */

static enum qb_status check_model(struct calib *cb, struct qb_error *err)
{
    const struct qb_graph *g = cb->g;
    const struct qb_value *in = &g->values[g->inputs[0]];

    if (g->n_inputs != 1 || in->ndim != 4 || in->shape[1] != 3 || in->dtype != QB_DTYPE_F32 ||
        qb_value_numel(in) < 1)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: calibration needs one float input of shape [B,3,H,W]", g->path);
    cb->batch = (int)in->shape[0];
    cb->h = (int)in->shape[2];
    cb->w = (int)in->shape[3];
    return QB_OK;
}

/* The pass over the images ------------------------------------------------------------ */

static void progress(struct calib *cb, bool last)
{
    double now = qb_cli_now(), rate, eta;
    long done = cb->n_images + cb->n_skipped;
    bool tty = isatty(2);
    if (cb->o.quiet || (!last && now - cb->t_progress < (tty ? 0.5 : 10.0)))
        return;
    cb->t_progress = now;
    rate = cb->n_images / (now - cb->t_run + 1e-9);
    eta = rate > 0 ? (double)((long)cb->n_items - done) / rate : 0;
    fprintf(stderr, "%scalib: %ld/%zu images, %.1f images/s, ETA %dm%02ds%s", tty ? "\r" : "", done, cb->n_items,
            rate, (int)(eta / 60), (int)eta % 60, tty && !last ? "" : "\n");
}

/* One pass of the FP32 model over the images, decoded one batch ahead. A last,
 * partial batch is filled with its own images again (counted as repeated), so
 * that every slot the collector sees holds a calibration image. */
static enum qb_status collect(struct calib *cb, struct qb_error *err)
{
    struct qb_exec_opts eo = {.device = cb->mo.device, .n_threads = cb->mo.threads, .observe = qb_calib_observe,
                              .observe_user = cb->c};
    const size_t bytes = (size_t)cb->batch * 3 * cb->h * cb->w * sizeof(float);
    struct qb_executor *e = NULL;
    struct qb_batches *q = NULL;
    const struct qb_batch *b;
    enum qb_status st;

    if ((st = qb_exec_new(cb->g, &eo, &e, err)) != QB_OK ||
        (st = qb_batches_start(&(struct qb_batches_opts){.ds = cb->ds, .batch = cb->batch, .w = cb->w, .h = cb->h,
                                                         .mode = cb->o.mode, .limit = cb->n_items,
                                                         .repeat_pad = true},
                               &q, err)) != QB_OK)
        goto out;
    cb->t_run = cb->t_progress = qb_cli_now();
    while ((st = qb_batches_next(q, &b, err)) == QB_OK) {
        cb->n_skipped += b->skipped;
        if (!b->filled)
            break;
        cb->n_images += b->filled;
        cb->n_repeated += cb->batch - b->filled;
        memcpy(qb_exec_input(e, 0)->data, b->input, bytes);
        if ((st = qb_exec_run(e, err)) != QB_OK)
            break;
        progress(cb, false);
    }
    progress(cb, true);
    cb->t_infer = qb_cli_now() - cb->t_run;
    if (st == QB_OK && cb->n_images == 0)
        st = qb_errorf(err, QB_ERR_INVALID, "none of the %zu calibration images could be read", cb->n_items);
out:
    qb_batches_stop(q);
    qb_exec_free(e);
    return st;
}

/* The cache folder and the image-hash memo in it; without them (--no-cache, or
 * no folder) everything is computed. */
static void open_cache(struct calib *cb)
{
    struct qb_error sub = {0};
    if (cb->o.no_cache)
        return;
    if (qb_calib_cache_dir(cb->cache_dir, sizeof(cb->cache_dir), &sub) != QB_OK) {
        qb_log(QB_LOG_WARN, "not caching: %s", sub.msg);
        cb->cache_dir[0] = '\0';
        return;
    }
    if (qb_calib_digests_open(cb->cache_dir, &cb->memo, &sub) != QB_OK)
        qb_log(QB_LOG_WARN, "no image-hash memo: %s", sub.msg);
}

/* The histograms: from the cache when the same model, images and preprocessing
 * were seen before, else one pass over the images (then cached). */
static enum qb_status histograms(struct calib *cb, struct qb_error *err)
{
    struct qb_error sub = {0};
    enum qb_status st;
    char path[4200];

    qb_calib_cache_key(&cb->t, cb->cache_key);
    if (cb->cache_dir[0]) {
        st = qb_calib_cache_load(cb->c, cb->cache_dir, cb->cache_key, &cb->n_images, &cb->n_skipped, &sub);
        if (st == QB_OK) {
            cb->cached = true;
            qb_calib_cache_path(cb->cache_dir, cb->cache_key, path, sizeof(path));
            if (!cb->o.quiet)
                fprintf(stderr, "calib: cached histograms from %s (no inference)\n", path);
            return QB_OK;
        }
        if (st == QB_ERR_PARSE)
            qb_log(QB_LOG_WARN, "ignoring a damaged calibration cache entry (%s); recomputing", sub.msg);
    }
    if ((st = collect(cb, err)) != QB_OK)
        return st;
    if (cb->cache_dir[0] &&
        qb_calib_cache_save(cb->c, cb->cache_dir, cb->cache_key, cb->n_images, cb->n_skipped, &sub) != QB_OK)
        qb_log(QB_LOG_WARN, "could not cache the histograms: %s", sub.msg);
    return QB_OK;
}

/* Report ----------------------------------------------------------------------------- */

static void print_table(const struct calib *cb)
{
    const struct qb_graph *g = cb->g;
    const struct qb_calib_table *t = &cb->t;
    struct qb_calib_collector *c = cb->c;
    char shape[96], method[32];
    int width = 6;

    for (int k = 0; k < t->n; k++) {
        int len = (int)strlen(t->names[k]);
        width = len > width ? len : width;
    }
    width = width > 60 ? 60 : width;
    if (t->params.method == QB_CALIB_PERCENTILE)
        snprintf(method, sizeof(method), "p%g", t->params.percentile);
    else
        snprintf(method, sizeof(method), "%s", qb_calib_method_name(t->params.method));
    printf("%4s  %-*s  %-20s %12s %12s %6s\n", "#", width, "tensor", "shape", "max", method, "ratio");
    for (int k = 0; k < t->n; k++) {
        int v = qb_graph_find_value(g, t->names[k]);
        const struct qb_calib_hist *h = qb_calib_collector_hist(c, v);
        float max = h ? h->max : 0;
        printf("%4d  %-*s  %-20s %12.6g %12.6g %6.3f\n", k, width, t->names[k], qb_shape_str(&g->values[v], shape,
               sizeof(shape)), max, t->amax[k], max > 0 ? t->amax[k] / max : 1.0);
    }
}

static cJSON *result_json(const struct calib *cb, double total)
{
    const struct qb_calib_table *t = &cb->t;
    cJSON *root = cJSON_CreateObject(), *tensors = cJSON_AddArrayToObject(root, "tensors"), *time;
    char shape[96];

    cJSON_AddStringToObject(root, "model", cb->o.model);
    cJSON_AddStringToObject(root, "model_sha256", t->model_sha256);
    cJSON_AddStringToObject(root, "method", qb_calib_method_name(t->params.method));
    if (t->params.method == QB_CALIB_PERCENTILE)
        cJSON_AddNumberToObject(root, "percentile", t->params.percentile);
    cJSON_AddNumberToObject(root, "images", (double)t->images);
    cJSON_AddNumberToObject(root, "skipped", (double)t->skipped);
    cJSON_AddStringToObject(root, "images_sha256", t->images_sha256);
    cJSON_AddBoolToObject(root, "cached", cb->cached);
    cJSON_AddStringToObject(root, "out", cb->o.out);
    time = cJSON_AddObjectToObject(root, "time");
    cJSON_AddNumberToObject(time, "total_s", total);
    cJSON_AddNumberToObject(time, "hash_s", cb->t_hash);
    cJSON_AddNumberToObject(time, "inference_s", cb->t_infer);
    cJSON_AddNumberToObject(time, "methods_s", cb->t_methods);
    for (int k = 0; k < t->n; k++) {
        int v = qb_graph_find_value(cb->g, t->names[k]);
        const struct qb_calib_hist *h = qb_calib_collector_hist(cb->c, v);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->names[k]);
        cJSON_AddStringToObject(o, "shape", qb_shape_str(&cb->g->values[v], shape, sizeof(shape)));
        cJSON_AddNumberToObject(o, "max", h ? h->max : 0);
        cJSON_AddNumberToObject(o, "amax", t->amax[k]);
        cJSON_AddItemToArray(tensors, o);
    }
    return root;
}

static enum qb_status report(struct calib *cb, struct qb_error *err)
{
    double total = qb_cli_now() - cb->t_start;
    enum qb_status st = QB_OK;

    if (cb->o.json) {
        cJSON *root = result_json(cb, total);
        st = root ? qb_cli_write_json("-", root, err) : qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        cJSON_Delete(root);
        return st;
    }
    if (!cb->o.quiet)
        print_table(cb);
    printf("%d tensors, method %s, %ld images (%ld skipped%s) from %s\n", cb->t.n,
           qb_calib_method_name(cb->t.params.method), cb->n_images, cb->n_skipped,
           cb->n_repeated ? ", the last batch filled with repeats" : "",
           cb->o.images ? cb->o.images : cb->o.data ? cb->o.data : "videos");
    if (cb->cached)
        printf("time: %.2f s (histograms from the cache: no inference; hashing %.2f s, methods %.2f s)\n", total,
               cb->t_hash, cb->t_methods);
    else
        printf("time: %.2f s (inference %.2f s, %.2f s per image; hashing %.2f s, methods %.2f s)\n", total,
               cb->t_infer, cb->t_infer / (cb->n_images ? (double)cb->n_images : 1.0), cb->t_hash, cb->t_methods);
    printf("wrote %s%s%s\n", cb->o.out, cb->o.trt_cache ? " and " : "", cb->o.trt_cache ? cb->o.trt_cache : "");
    return st;
}

/* The folder of path exists and is writable. */
static enum qb_status check_writable(const char *path, struct qb_error *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;

    if (n >= sizeof(dir))
        return qb_errorf(err, QB_ERR_USAGE, "%s: path too long", path);
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? (n ? n : 1) : 1] = '\0';
    if (access(dir, W_OK) != 0)
        return qb_errorf(err, QB_ERR_IO, "%s: cannot write into %s: %s", path, dir, strerror(errno));
    return QB_OK;
}

int qb_cmd_calib(int argc, char **argv)
{
    struct calib cb = {0};
    struct qb_error err = {0}, sub = {0};
    enum qb_status st = QB_OK;
    double t0;

    switch (parse_args(argc, argv, &cb.o, &cb.mo)) {
    case 0:
        break;
    case 1:
        qb_cli_preset_free(&cb.o.preset);
        return QB_EXIT_OK; /* --help */
    default:
        qb_cli_preset_free(&cb.o.preset);
        return QB_EXIT_USAGE;
    }
    /* outputs that cannot be written fail now, not after the pass over the images */
    if ((st = check_writable(cb.o.out, &err)) != QB_OK ||
        (cb.o.trt_cache && (st = check_writable(cb.o.trt_cache, &err)) != QB_OK))
        goto out;
    cb.t_start = qb_cli_now();
    cb.t.params = cb.o.params;
    if (cb.t.params.method == QB_CALIB_PERCENTILE && !(cb.t.params.percentile > 0))
        cb.t.params.percentile = QB_CALIB_PERCENTILE_DEFAULT;
    if (!(cb.pool = qb_pool_new(cb.mo.threads))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* the images first: a wrong path fails before the model loads */
    if ((st = open_source(&cb, &err)) != QB_OK)
        goto out;
    open_cache(&cb);
    t0 = qb_cli_now();
    if ((st = hash_dataset(&cb, cb.ds, cb.n_items, &cb.digest, &err)) == QB_OK)
        st = check_overlap(&cb, &err);
    cb.t_hash = qb_cli_now() - t0;
    if (cb.memo && qb_calib_digests_save(cb.memo, &sub) != QB_OK) /* also when the guard fired */
        qb_log(QB_LOG_WARN, "could not save the image-hash memo: %s", sub.msg);
    if (st != QB_OK)
        goto out;
    if (cb.n_items < FEW_IMAGES)
        qb_log(QB_LOG_WARN, "only %zu calibration images; ranges from fewer than %d are noisy", cb.n_items,
               FEW_IMAGES);
    if (!(cb.g = qb_cli_load(cb.o.model, &cb.mo, &st)))
        goto out_quiet;
    if ((st = check_model(&cb, &err)) != QB_OK ||
        (st = qb_calib_file_sha256(cb.o.model, cb.t.model_sha256, &err)) != QB_OK ||
        (st = qb_calib_collector_new(cb.g, cb.mo.threads, &cb.c, &err)) != QB_OK)
        goto out;
    qb_calib_list_hash((const uint8_t(*)[32])cb.digest, cb.n_items, cb.t.images_sha256);
    cb.t.batch = cb.batch;
    cb.t.width = cb.w;
    cb.t.height = cb.h;
    cb.t.letterbox = cb.o.mode;
    if (!(cb.t.model = strdup(cb.o.model))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = histograms(&cb, &err)) != QB_OK)
        goto out;
    cb.t.images = cb.n_images;
    cb.t.skipped = cb.n_skipped;
    t0 = qb_cli_now();
    if ((st = qb_calib_table_from(cb.c, &cb.t, &err)) != QB_OK)
        goto out;
    cb.t_methods = qb_cli_now() - t0;
    if ((st = qb_calib_table_save(&cb.t, cb.o.out, &err)) != QB_OK ||
        (cb.o.trt_cache && (st = qb_calib_table_write_trt(&cb.t, cb.o.trt_cache, NULL, &err)) != QB_OK))
        goto out;
    st = report(&cb, &err);
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench calib: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
out_quiet:
    calib_free(&cb);
    return qb_cli_exit_code(st);
}
