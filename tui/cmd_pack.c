/* qbench pack: a dataset's model inputs (resized images), labels and letterbox
 * geometry in one file (core/pack.h), for `qbench eval --pack` on a machine that
 * cannot read images. The model is read only for its input size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_preset.h"
#include "core/dataset.h"
#include "core/pack.h"


struct pack_opts {
    const char *model, *data, *split, *out;
    const char *videos[16];
    int n_videos;
    long every, max, max_images;
    enum qb_letterbox_mode mode;
    enum qb_pack_pixels pixels;
    bool quiet;
    struct qb_cli_preset preset;
};

static const char usage[] =
    "usage: qbench pack (MODEL | --preset S [MODEL]) (--data D.yaml|DIR|LIST [--split val] | --video V... [--every N]\n"
    "                   [--max M]) [--images N] [--letterbox predict|val] [--compress none|deflate]\n"
    "                   [--shape NAME=D,...] [--quiet] --out P.qbpack\n" QB_CLI_PRESET_USAGE
    "              (pack: the model, and the images with --images N from its images_max)\n";

/* What --preset S stands for: the model and, with no --data or --video, its images. */
static int apply_preset(struct pack_opts *o)
{
    struct qb_cli_source s = {.split = o->split};

    if (qb_cli_preset_load(&o->preset, "pack", &o->model) != QB_OK)
        return -1;
    if (!qb_cli_preset_get(&o->preset) || o->data || o->n_videos)
        return 0;
    qb_cli_preset_source(&o->preset, &s);
    if (s.pack) {
        fprintf(stderr, "qbench pack: preset %s evaluates the pack %s already; give --data to pack other images\n",
                o->preset.path, s.pack);
        return -1;
    }
    o->data = s.data ? s.data : s.images;
    o->split = s.split;
    if (!o->max_images)
        o->max_images = (long)s.max;
    return 0;
}

static int parse_args(int argc, char **argv, struct pack_opts *o, struct qb_cli_model_opts *mo)
{
    o->every = 30;
    o->pixels = QB_PACK_PIXELS_RAW;
    for (int i = 1; i < argc; i++) {
        int r = qb_cli_model_opt(argc, argv, &i, mo);
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (r == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &o->preset);
        if (r < 0)
            return -1;
        if (r)
            continue;
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (a[0] == '-' && !v) {
            fprintf(stderr, "qbench pack: %s needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--data") == 0) {
            o->data = argv[++i];
        } else if (strcmp(a, "--split") == 0) {
            o->split = argv[++i];
        } else if (strcmp(a, "--out") == 0) {
            o->out = argv[++i];
        } else if (strcmp(a, "--video") == 0) {
            if (o->n_videos == (int)(sizeof(o->videos) / sizeof(o->videos[0]))) {
                fprintf(stderr, "qbench pack: too many --video options\n");
                return -1;
            }
            o->videos[o->n_videos++] = argv[++i];
        } else if (strcmp(a, "--images") == 0 || strcmp(a, "--every") == 0 || strcmp(a, "--max") == 0) {
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < (a[2] == 'm' ? 0 : 1))
                goto bad;
            *(a[2] == 'i' ? &o->max_images : a[2] == 'e' ? &o->every : &o->max) = n;
        } else if (strcmp(a, "--letterbox") == 0 || strcmp(a, "--compress") == 0) {
            end = argv[++i];
            if (strcmp(a, "--letterbox") == 0 && qb_letterbox_mode_parse(end) >= 0)
                o->mode = (enum qb_letterbox_mode)qb_letterbox_mode_parse(end);
            else if (strcmp(a, "--compress") == 0 && (strcmp(end, "none") == 0 || strcmp(end, "deflate") == 0))
                o->pixels = strcmp(end, "deflate") == 0 ? QB_PACK_PIXELS_DEFLATE : QB_PACK_PIXELS_RAW;
            else
                goto bad;
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "qbench pack: unexpected argument '%s'\n%s", a, usage);
            return -1;
        }
        continue;
bad:
        fprintf(stderr, "qbench pack: bad value for %s: '%s'\n", a, argv[i]);
        return -1;
    }
    if (apply_preset(o) < 0)
        return -1;
    if (!o->split)
        o->split = "val";
    if (!o->model || !o->out || (!o->data && !o->n_videos)) {
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

/* The dataset: --data, then the frames of each --video appended. */
static enum qb_status open_dataset(const struct pack_opts *o, struct qb_dataset **ds, struct qb_error *err)
{
    enum qb_status st = o->data ? qb_dataset_open(o->data, o->split, ds, err) : qb_dataset_new(ds, err);
    for (int i = 0; st == QB_OK && i < o->n_videos; i++)
        st = qb_dataset_add_videos(*ds, o->videos[i], o->every, o->max, err);
    return st;
}

/* The model input: one float [B, 3, H, W]. */
static enum qb_status input_size(const struct qb_graph *g, struct qb_pack_info *info, struct qb_error *err)
{
    const struct qb_value *in = &g->values[g->inputs[0]];
    if (g->n_inputs != 1 || in->ndim != 4 || in->shape[1] != 3 || in->dtype != QB_DTYPE_F32 || in->shape[0] < 1 ||
        in->shape[2] < 1 || in->shape[3] < 1)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: packing needs one float input of shape [B,3,H,W]", g->path);
    info->batch = (int)in->shape[0];
    info->dst_h = (int)in->shape[2];
    info->dst_w = (int)in->shape[3];
    return QB_OK;
}

static void progress(bool quiet, size_t done, size_t total, double t0, double *t_last, bool last)
{
    double now = qb_cli_now();
    bool tty = isatty(2);
    if (quiet || (!last && now - *t_last < (tty ? 0.5 : 10.0)))
        return;
    *t_last = now;
    fprintf(stderr, "%spack: %zu/%zu images, %.1f images/s%s", tty ? "\r" : "", done, total,
            done / (now - t0 + 1e-9), tty && !last ? "" : "\n");
}

/* Decodes every item below total into w; unreadable ones are recorded as skipped. */
static enum qb_status pack_items(const struct pack_opts *o, const struct qb_dataset *ds, struct qb_pack_writer *w,
                                 const struct qb_pack_info *info, size_t total, size_t *n_packed, struct qb_error *err)
{
    unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(info->dst_w, info->dst_h));
    struct qb_video *video = NULL;
    enum qb_status st = QB_OK;
    double t0 = qb_cli_now(), t_last = t0;

    if (!rgb)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < total && st == QB_OK; i++) {
        struct qb_pack_record r = {.item = i, .frame = qb_dataset_frame(ds, i), .path = qb_dataset_path(ds, i)};
        struct qb_error e = {0};
        if (qb_dataset_load(ds, i, &video, info->dst_w, info->dst_h, info->mode, rgb, &r.lb, &e) != QB_OK) {
            qb_log(QB_LOG_WARN, "skipped: %s", e.msg);
            st = qb_pack_add_skipped(w, &(struct qb_pack_skip){.item = i, .frame = r.frame, .path = r.path,
                                                               .error = e.msg}, err);
            continue;
        }
        r.labels = qb_dataset_labels_norm(ds, i, &r.n_labels);
        if ((st = qb_pack_add(w, &r, rgb, err)) == QB_OK)
            ++*n_packed;
        progress(o->quiet, i + 1, total, t0, &t_last, false);
    }
    progress(o->quiet, total, total, t0, &t_last, true);
    qb_video_close(video);
    free(rgb);
    return st;
}

int qb_cmd_pack(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    struct pack_opts o = {0};
    struct qb_dataset *ds = NULL;
    struct qb_graph *g = NULL;
    struct qb_pack_writer *w = NULL;
    struct qb_pack_info info = {0};
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    unsigned long long stored = 0, raw = 0;
    size_t total, n_packed = 0;
    double t0 = qb_cli_now();
    struct stat sb;

    if (parse_args(argc, argv, &o, &mo) != 0) {
        qb_cli_preset_free(&o.preset);
        return QB_EXIT_USAGE;
    }
    if (!qb_image_available()) {
        st = qb_errorf(&err, QB_ERR_UNSUPPORTED, "this qbench cannot read images (built without OpenCV): pack with "
                       "the full qbench");
        goto out;
    }
    if ((st = open_dataset(&o, &ds, &err)) != QB_OK)
        goto out;
    if (!(g = qb_cli_load(o.model, &mo, &st))) { /* qb_cli_load printed why */
        qb_dataset_free(ds);
        qb_cli_preset_free(&o.preset);
        return qb_cli_exit_code(st);
    }
    if ((st = input_size(g, &info, &err)) != QB_OK)
        goto out;
    info.mode = o.mode;
    info.pixels = o.pixels;
    info.model = o.model;
    info.data = o.data ? o.data : o.videos[0];
    info.split = o.split;
    info.names = qb_dataset_names(ds);
    info.nc = qb_dataset_nc(ds);
    info.has_labels = qb_dataset_has_labels(ds);
    total = qb_dataset_count(ds);
    if (o.max_images && (size_t)o.max_images < total)
        total = (size_t)o.max_images;
    if ((st = qb_pack_writer_new(o.out, &info, &w, &err)) != QB_OK ||
        (st = pack_items(&o, ds, w, &info, total, &n_packed, &err)) != QB_OK)
        goto out;
    if (n_packed == 0) {
        st = qb_errorf(&err, QB_ERR_INVALID, "%s: none of the %zu images could be read; no pack written", info.data,
                       total);
        goto out;
    }
    qb_pack_writer_bytes(w, &stored, &raw);
    st = qb_pack_writer_finish(w, total, &err);
    w = NULL;
    if (st == QB_OK && stat(o.out, &sb) == 0)
        printf("packed %zu images (%zu skipped) for a %dx%d input into %s: %.1f MB (pixels %.1f MB, %s, %.3f of "
               "raw) in %.1f s\n", n_packed, total - n_packed, info.dst_w, info.dst_h, o.out, sb.st_size / 1e6,
               stored / 1e6, qb_pack_pixels_name(o.pixels), raw ? (double)stored / raw : 1.0, qb_cli_now() - t0);
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench pack: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
    qb_pack_writer_abort(w);
    qb_graph_free(g);
    qb_dataset_free(ds);
    qb_cli_preset_free(&o.preset);
    return qb_cli_exit_code(st);
}
