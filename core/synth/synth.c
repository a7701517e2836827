/* Public side of the renderer: context with the shared textures, and one scene
 * rendered as a stereo pair with labels. */
#include <stdlib.h>
#include <string.h>

#include "synth_internal.h"

static const char *const split_names[QB_SYNTH_SPLIT_COUNT] = {
    [QB_SYNTH_TRAIN] = "train",
    [QB_SYNTH_VAL] = "val",
    [QB_SYNTH_CALIB] = "calib",
};

enum qb_synth_split qb_synth_split_of(int64_t scene)
{
    const int64_t m = scene % 10;
    return m == 8 ? QB_SYNTH_VAL : m == 9 ? QB_SYNTH_CALIB : QB_SYNTH_TRAIN;
}

const char *qb_synth_split_name(enum qb_synth_split s)
{
    return s >= 0 && s < QB_SYNTH_SPLIT_COUNT ? split_names[s] : "?";
}

enum qb_status qb_synth_new(const struct qb_synth_params *p, struct qb_synth **out, struct qb_error *err)
{
    struct qb_synth *s = NULL;
    enum qb_status st = QB_OK;
    *out = NULL;
    if (p->width < 64 || p->width > 4096 || p->height < 64 || p->height > 4096) {
        st = qb_errorf(err, QB_ERR_USAGE, "image size %dx%d out of range (64..4096 each)", p->width, p->height);
        goto out;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    s->p = *p;
    qb_synth_tone_init(s);
    if (!(s->noise = malloc(SYN_NOISE_N))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    {
        struct qb_synth_rng r;
        qb_synth_rng_seed(&r, qb_synth_mix64(p->seed ^ 0x6e6f697365ull));
        for (int i = 0; i < SYN_NOISE_N; i++)
            s->noise[i] = (int8_t)clampf(roundf(SYN_NOISE_SCALE * qb_synth_rng_normal(&r)), -127.0f, 127.0f);
    }
    for (int t = 0; t < SYN_TEX_COUNT; t++)
        if (qb_synth_tex_build(&s->tex[t], (enum qb_synth_tex_id)t, p->seed) != 0) {
            st = qb_errorf(err, QB_ERR_NOMEM, "out of memory building textures");
            goto out;
        }
    *out = s;
    s = NULL;
out:
    qb_synth_free(s);
    return st;
}

void qb_synth_free(struct qb_synth *s)
{
    if (!s)
        return;
    for (int t = 0; t < SYN_TEX_COUNT; t++)
        qb_synth_tex_free(&s->tex[t]);
    free(s->noise);
    free(s);
}

enum qb_status qb_synth_render(const struct qb_synth *s, int64_t scene, struct qb_synth_view views[2],
                               struct qb_synth_info *info, struct qb_error *err)
{
    const size_t np = (size_t)s->p.width * s->p.height;
    struct qb_synth_scene *sc = malloc(sizeof(*sc));
    float *rgb[2] = {NULL, NULL}, *tmp = NULL, *zbuf = NULL, *mask = NULL;
    void *scratch = NULL;
    uint16_t *id = NULL;
    int *cover = NULL;
    enum qb_status st = QB_OK;

    if (scene < 0) {
        st = qb_errorf(err, QB_ERR_USAGE, "scene index %lld is negative", (long long)scene);
        goto out;
    }
    rgb[0] = malloc(sizeof(float) * np * 3);
    rgb[1] = malloc(sizeof(float) * np * 3);
    tmp = malloc(sizeof(float) * (np + (size_t)s->p.width) * 3);
    zbuf = malloc(sizeof(float) * np);
    mask = malloc(sizeof(float) * np);
    id = malloc(sizeof(uint16_t) * np);
    scratch = malloc(qb_synth_scratch_size(s->p.width, s->p.height));
    if (!sc || !rgb[0] || !rgb[1] || !tmp || !zbuf || !mask || !id || !scratch) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory rendering scene %lld", (long long)scene);
        goto out;
    }
    qb_synth_scene_build(sc, s, scene);
    if (!(cover = malloc(sizeof(int) * (size_t)(sc->n_cones + 1)))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory rendering scene %lld", (long long)scene);
        goto out;
    }
    for (int v = 0; v < 2; v++) {
        struct qb_synth_frame fr = {.rgb = rgb[v], .zbuf = zbuf, .id = id, .mask = mask, .cover = cover,
                                     .scratch = scratch};
        for (size_t p = 0; p < np; p++)
            zbuf[p] = 1e30f;
        memset(id, 0, sizeof(uint16_t) * np);
        memset(cover, 0, sizeof(int) * (size_t)(sc->n_cones + 1));
        if (qb_synth_draw_background(sc, s, v, rgb[v], mask) != 0 || qb_synth_draw_objects(sc, v, &fr) != 0 ||
            qb_synth_labels(sc, v, &fr, &views[v]) != 0) {
            st = qb_errorf(err, QB_ERR_NOMEM, "out of memory rendering scene %lld", (long long)scene);
            goto out;
        }
    }
    /* one exposure for the pair, metered on the left image, as a synchronised rig does */
    const float e = qb_synth_auto_exposure(sc, rgb[0]);
    for (int v = 0; v < 2; v++)
        qb_synth_effects(sc, s, v, e, rgb[v], tmp, views[v].rgb);
    if (info) {
        info->fx = sc->cam[0].f;
        info->cx = sc->cam[0].cx;
        info->cy = sc->cam[0].cy;
        info->baseline = sc->baseline;
        info->cam_height = sc->cam_h;
        info->jpeg_quality = sc->fx.jpeg_quality;
        info->n_cones = sc->n_cones;
    }
out:
    free(sc);
    free(rgb[0]);
    free(rgb[1]);
    free(tmp);
    free(zbuf);
    free(mask);
    free(id);
    free(cover);
    free(scratch);
    return st;
}
