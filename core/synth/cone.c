/* FSOCO cones as 3D shapes (square base plate + truncated cone with stripes that
 * follow the surface), and the object/material bookkeeping the props share. */
#include "synth_internal.h"

static const char *const class_names[QB_SYNTH_CLASS_COUNT] = {
    [QB_SYNTH_BLUE] = "blue_cone",
    [QB_SYNTH_YELLOW] = "yellow_cone",
    [QB_SYNTH_ORANGE] = "orange_cone",
    [QB_SYNTH_LARGE_ORANGE] = "large_orange_cone",
};

const char *qb_synth_class_name(int cls)
{
    return cls >= 0 && cls < QB_SYNTH_CLASS_COUNT ? class_names[cls] : "?";
}

/* Sizes in metres (FS cones: 228 x 325 mm small, 285 x 505 mm large); stripes as
 * fractions of the body height. */
static const struct cone_spec {
    float height, plate, plate_h, r0, r1;
    uint8_t body[3], stripe[3];
    float bands[4];
} cone_specs[QB_SYNTH_CLASS_COUNT] = {
    [QB_SYNTH_BLUE] = {0.325f, 0.228f, 0.025f, 0.094f, 0.024f, {22, 62, 170}, {236, 236, 232}, {0.40f, 0.64f, 2, 2}},
    [QB_SYNTH_YELLOW] = {0.325f, 0.228f, 0.025f, 0.094f, 0.024f, {246, 196, 12}, {26, 26, 26}, {0.40f, 0.64f, 2, 2}},
    [QB_SYNTH_ORANGE] = {0.325f, 0.228f, 0.025f, 0.094f, 0.024f, {244, 96, 14}, {238, 238, 234},
                         {0.30f, 0.41f, 0.58f, 0.69f}},
    [QB_SYNTH_LARGE_ORANGE] = {0.505f, 0.285f, 0.030f, 0.128f, 0.030f, {244, 96, 14}, {238, 238, 234},
                               {0.26f, 0.41f, 0.56f, 0.71f}},
};
_Static_assert(sizeof(cone_specs) / sizeof(cone_specs[0]) == QB_SYNTH_CLASS_COUNT, "one spec per class");

void qb_synth_srgb(float *rgb, int r, int g, int b)
{
    const int c[3] = {r, g, b};
    for (int i = 0; i < 3; i++) {
        float x = (float)c[i] / 255.0f;
        rgb[i] = x <= 0.04045f ? x / 12.92f : powf((x + 0.055f) / 1.055f, 2.4f);
    }
}

int qb_synth_add_mat(struct qb_synth_scene *sc, const struct qb_synth_mat *m)
{
    if (sc->n_mat >= SYN_MAX_MAT)
        return -1;
    sc->mat[sc->n_mat] = *m;
    return sc->n_mat++;
}

int qb_synth_begin_obj(struct qb_synth_scene *sc, float x, float z, float yaw)
{
    if (sc->n_obj >= SYN_MAX_OBJ)
        return -1;
    struct qb_synth_obj *o = &sc->obj[sc->n_obj];
    *o = (struct qb_synth_obj){.pos = v3(x, 0, z), .yaw = yaw, .cy = cosf(yaw), .sy = sinf(yaw),
                               .prim0 = sc->n_prim, .sun = 1.0f};
    return sc->n_obj++;
}

int qb_synth_add_prim(struct qb_synth_scene *sc, int kind, int mat, const float g[6])
{
    struct qb_synth_obj *o = &sc->obj[sc->n_obj - 1];
    float rad = 0, top = 0, ex[4] = {0, 0, 0, 0};
    if (sc->n_prim >= SYN_MAX_PRIM || mat < 0)
        return -1;
    struct qb_synth_prim *p = &sc->prim[sc->n_prim++];
    p->kind = (uint16_t)kind;
    p->mat = (uint16_t)mat;
    for (int i = 0; i < 6; i++)
        p->g[i] = g[i];
    switch ((enum qb_synth_prim_kind)kind) {
    case SYN_PRIM_FRUSTUM:
        rad = hypotf(g[0], g[1]) + maxf(g[4], g[5]);
        top = g[3];
        ex[0] = g[0] - maxf(g[4], g[5]);
        ex[1] = g[0] + maxf(g[4], g[5]);
        ex[2] = g[1] - maxf(g[4], g[5]);
        ex[3] = g[1] + maxf(g[4], g[5]);
        break;
    case SYN_PRIM_BOX:
        rad = hypotf(maxf(fabsf(g[0]), fabsf(g[1])), maxf(fabsf(g[4]), fabsf(g[5])));
        top = g[3];
        ex[0] = g[0];
        ex[1] = g[1];
        ex[2] = g[4];
        ex[3] = g[5];
        break;
    case SYN_PRIM_ELLIPSOID:
        rad = hypotf(g[0], g[2]) + maxf(g[3], g[5]);
        top = g[1] + g[4];
        ex[0] = g[0] - g[3];
        ex[1] = g[0] + g[3];
        ex[2] = g[2] - g[5];
        ex[3] = g[2] + g[5];
        break;
    case SYN_PRIM_KIND_COUNT:
        break;
    }
    if (o->nprim == 0) {
        o->bx0 = ex[0];
        o->bx1 = ex[1];
        o->bz0 = ex[2];
        o->bz1 = ex[3];
    }
    o->bx0 = minf(o->bx0, ex[0]);
    o->bx1 = maxf(o->bx1, ex[1]);
    o->bz0 = minf(o->bz0, ex[2]);
    o->bz1 = maxf(o->bz1, ex[3]);
    o->rad = maxf(o->rad, rad);
    o->height = maxf(o->height, top);
    o->nprim++;
    return 0;
}

static void jitter_colour(struct qb_synth_rng *r, float *c, float amount)
{
    float k = 1.0f + amount * qb_synth_rng_normal(r);
    for (int i = 0; i < 3; i++)
        c[i] = clampf(c[i] * k * (1.0f + 0.4f * amount * qb_synth_rng_normal(r)), 0.002f, 0.95f);
}

int qb_synth_add_cone(struct qb_synth_scene *sc, struct qb_synth_rng *r, int cls, float x, float z)
{
    const struct cone_spec *cs = &cone_specs[cls];
    struct qb_synth_mat body = {.pattern = SYN_PAT_BANDS, .shin = 16}, plate = {.pattern = SYN_PAT_PLAIN, .shin = 8};
    const float scale = 1.0f + 0.02f * qb_synth_rng_normal(r);
    const float fade = qb_synth_rng_chance(r, 0.3f) ? qb_synth_rng_range(r, 0.0f, 0.25f) : 0.0f;
    int mb, mp, o;

    qb_synth_srgb(body.a, cs->body[0], cs->body[1], cs->body[2]);
    qb_synth_srgb(body.b, cs->stripe[0], cs->stripe[1], cs->stripe[2]);
    jitter_colour(r, body.a, 0.08f);
    jitter_colour(r, body.b, 0.06f);
    for (int i = 0; i < 3; i++) {
        body.a[i] = lerpf(body.a[i], 0.25f, fade);   /* sun-bleached plastic */
        body.b[i] *= qb_synth_rng_range(r, 0.7f, 1.0f);
    }
    for (int i = 0; i < 4; i++)
        body.p[i] = cs->bands[i] + (i < 2 || cs->bands[2] < 1 ? 0.015f * qb_synth_rng_normal(r) : 0);
    body.spec = qb_synth_rng_range(r, 0.08f, 0.35f);
    body.dirt = qb_synth_rng_range(r, 0.0f, 0.7f);
    plate = body;
    plate.pattern = SYN_PAT_PLAIN;
    plate.shin = 8;
    for (int i = 0; i < 3; i++)
        plate.a[i] *= 0.8f;
    plate.dirt = minf(1.0f, body.dirt + 0.3f);

    if ((mb = qb_synth_add_mat(sc, &body)) < 0 || (mp = qb_synth_add_mat(sc, &plate)) < 0)
        return -1;
    if ((o = qb_synth_begin_obj(sc, x, z, qb_synth_rng_range(r, 0, SYN_PI))) < 0)
        return -1;
    const float hp = cs->plate * 0.5f * scale, ph = cs->plate_h * scale;
    const float gp[6] = {-hp, hp, 0, ph, -hp, hp};
    const float gb[6] = {0, 0, ph, cs->height * scale, cs->r0 * scale, cs->r1 * scale};
    if (qb_synth_add_prim(sc, SYN_PRIM_BOX, mp, gp) < 0 || qb_synth_add_prim(sc, SYN_PRIM_FRUSTUM, mb, gb) < 0) {
        sc->n_obj--;
        return -1;
    }
    sc->obj[o].cone = ++sc->n_cones;
    sc->obj[o].cls = cls;
    sc->obj[o].shadow_r = cs->r0 * scale;
    sc->obj[o].shadow_rt = cs->r1 * scale;
    sc->obj[o].shadow_h = cs->height * scale;
    return o;
}

int qb_synth_mat_albedo(const struct qb_synth_mat *m, const struct qb_synth_prim *pr, struct v3 p, float *rgb)
{
    const float *c = m->a;
    float k = 1.0f;
    int cell = 0;
    switch ((enum qb_synth_pattern)m->pattern) {
    case SYN_PAT_PLAIN:
        break;
    case SYN_PAT_BANDS: {
        float f = (p.y - pr->g[2]) / (pr->g[3] - pr->g[2]);
        if ((f >= m->p[0] && f <= m->p[1]) || (f >= m->p[2] && f <= m->p[3]))
            c = m->b;
        break;
    }
    case SYN_PAT_SEGMENTS:
        if (((int)floorf(p.x / m->p[0]) & 1) != 0)
            c = m->b;
        break;
    case SYN_PAT_RINGS:
        if (fmodf(p.y + 10.0f, m->p[0]) < m->p[1])
            c = m->b;
        break;
    case SYN_PAT_LEAVES: {
        const float s = 1.0f / m->p[0];
        float h = qb_synth_hash3(7u, (int32_t)floorf(p.x * s), (int32_t)floorf(p.y * s), (int32_t)floorf(p.z * s));
        k = 0.45f + 1.1f * h;
        if (h > 0.85f)
            c = m->b;
        cell = 2 + (int)(h * 8.0f);   /* foliage: every leaf its own edge */
        break;
    }
    case SYN_PAT_WINDOWS:
        if (fmodf(p.y, m->p[0]) > m->p[1] && fmodf(fabsf(p.x) + fabsf(p.z), m->p[2]) < m->p[3])
            c = m->b;
        break;
    case SYN_PAT_COUNT:
        break;
    }
    for (int i = 0; i < 3; i++)
        rgb[i] = c[i] * k;
    if (m->dirt > 0) {
        static const float dirt_rgb[3] = {0.07f, 0.06f, 0.045f};
        float d = m->dirt * (1.0f - smooth01(0.0f, 0.22f, p.y));
        for (int i = 0; i < 3; i++)
            rgb[i] = lerpf(rgb[i], dirt_rgb[i], d * 0.6f);
    }
    return cell ? cell : c == m->b;
}
