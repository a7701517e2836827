/* Evaluation images for sens and search (tui/cli_source.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_source.h"
#include "core/image.h"

int qb_cli_source_opt(int argc, char **argv, int *i, struct qb_cli_source *s)
{
    const char *a = argv[*i];
    const char **dst = strcmp(a, "--data") == 0     ? &s->data
                       : strcmp(a, "--split") == 0  ? &s->split
                       : strcmp(a, "--images") == 0 ? &s->images
                       : strcmp(a, "--pack") == 0   ? &s->pack
                                                    : NULL;
    bool other = strcmp(a, "--images-max") == 0 || strcmp(a, "--letterbox") == 0;

    if (!dst && !other)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "qbench: %s needs a value\n", a);
        return -1;
    }
    (*i)++;
    if (dst) {
        *dst = argv[*i];
    } else if (strcmp(a, "--images-max") == 0) {
        char *end;
        long long v = strtoll(argv[*i], &end, 10);
        if (*end || v < 1) {
            fprintf(stderr, "qbench: bad --images-max '%s' (a count >= 1)\n", argv[*i]);
            return -1;
        }
        s->max = (size_t)v;
    } else {
        int m = qb_letterbox_mode_parse(argv[*i]);
        if (m < 0) {
            fprintf(stderr, "qbench: unknown --letterbox '%s' (predict or val)\n", argv[*i]);
            return -1;
        }
        s->mode = (enum qb_letterbox_mode)m;
    }
    return 1;
}

int qb_cli_source_check(const struct qb_cli_source *s)
{
    int n = !!s->data + !!s->images + !!s->pack;
    if (n != 1) {
        fprintf(stderr, "qbench: give the images with one of --data D.yaml, --images DIR, --pack P\n");
        return -1;
    }
    if (s->split && !s->data) {
        fprintf(stderr, "qbench: --split goes with --data\n");
        return -1;
    }
    return 0;
}

enum qb_status qb_cli_source_open(const struct qb_cli_source *s, struct qb_cli_loaded *l, struct qb_error *err)
{
    memset(l, 0, sizeof(*l));
    l->detect = qb_detect_opts_default();
    l->mode = s->mode;
    l->max = s->max;
    if (s->pack) {
        l->name = s->pack;
        return qb_pack_open(s->pack, &l->pack, err);
    }
    l->name = s->data ? s->data : s->images;
    if (!qb_image_available())
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "this qbench cannot read images (built without OpenCV): make a "
                                                  "pack with `qbench pack` and give it with --pack");
    return qb_dataset_open(l->name, s->data ? (s->split ? s->split : "val") : NULL, &l->ds, err);
}

enum qb_status qb_cli_detect_model(const struct qb_graph *g, int n_names, int *batch, int *h, int *w,
                                   struct qb_detect_layout *layout, struct qb_error *err)
{
    const struct qb_value *in = &g->values[g->inputs[0]], *out = &g->values[g->outputs[0]];

    if (g->n_inputs != 1 || in->ndim != 4 || in->shape[1] != 3 || in->dtype != QB_DTYPE_F32)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: evaluation needs one float input of shape [B,3,H,W]", g->path);
    *batch = (int)in->shape[0];
    *h = (int)in->shape[2];
    *w = (int)in->shape[3];
    if (out->dtype != QB_DTYPE_F32)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: output 0 is %s; a detect head is float32", g->path,
                         qb_dtype_name(out->dtype));
    return qb_detect_layout(out->shape, out->ndim, n_names, layout, err);
}

enum qb_status qb_cli_source_model(struct qb_cli_loaded *l, const struct qb_graph *g, struct qb_error *err)
{
    struct qb_detect_layout layout;
    char **names = NULL;
    int n_names = qb_cli_model_names(g, &names), max_cls;
    enum qb_status st;

    qb_cli_free_names(names, n_names);
    if ((st = qb_cli_detect_model(g, n_names, &l->batch, &l->h, &l->w, &layout, err)) != QB_OK)
        return st;
    l->nc = layout.nc;
    if (l->pack) {
        const struct qb_pack_info *pi = qb_pack_info(l->pack);
        if (pi->batch != l->batch || pi->dst_w != l->w || pi->dst_h != l->h)
            return qb_errorf(err, QB_ERR_USAGE, "%s was packed for input [%d,3,%d,%d], the model takes [%d,3,%d,%d]",
                             l->name, pi->batch, pi->dst_h, pi->dst_w, l->batch, l->h, l->w);
        l->mode = pi->mode;
    }
    max_cls = l->pack ? qb_pack_max_class(l->pack) : qb_dataset_max_class(l->ds);
    if (max_cls >= l->nc)
        return qb_errorf(err, QB_ERR_INVALID, "%s: labels use class %d, but the model has %d classes", l->name,
                         max_cls, l->nc);
    return QB_OK;
}

static void load_progress(void *user, int images, size_t of)
{
    (void)user;
    if (isatty(2))
        fprintf(stderr, "\rreading images: %d/%zu\033[K", images, of);
}

enum qb_status qb_cli_source_load(struct qb_cli_loaded *l, const struct qb_graph *g, bool quiet,
                                  struct qb_error *err)
{
    enum qb_status st;
    (void)g;
    st = qb_evalset_load(&(struct qb_evalset_opts){.ds = l->ds, .pack = l->pack, .batch = l->batch, .w = l->w,
                                                   .h = l->h, .mode = l->mode, .limit = l->max,
                                                   .progress = quiet ? NULL : load_progress},
                         &l->set, err);
    if (!quiet && isatty(2))
        fputs("\r\033[K", stderr);
    if (st == QB_OK && l->set->skipped)
        qb_log(QB_LOG_WARN, "%s: %ld unreadable images skipped", l->name, l->set->skipped);
    return st;
}

void qb_cli_source_close(struct qb_cli_loaded *l)
{
    qb_evalset_free(l->set);
    qb_dataset_free(l->ds);
    qb_pack_close(l->pack);
    memset(l, 0, sizeof(*l));
}
