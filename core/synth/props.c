/* Clutter around a track: occluders and distractors, several in cone colours
 * (hi-vis vests, striped barrels and posts, yellow boxes, blue tents). Each prop is
 * a handful of primitives in object space (x along its length, y up). */
#include "synth_internal.h"

/* sRGB palettes */
static const uint8_t pal_vivid[][3] = {
    {240, 100, 20}, {250, 200, 20}, {30, 70, 170}, {200, 30, 30}, {235, 235, 235}, {30, 30, 35},
    {40, 120, 60},  {120, 120, 125}, {250, 130, 30}, {20, 40, 110}, {255, 220, 60}, {90, 40, 120},
};
static const uint8_t pal_car[][3] = {
    {230, 230, 228}, {160, 162, 165}, {25, 25, 28}, {30, 60, 140}, {170, 25, 25}, {90, 90, 95}, {240, 200, 30},
};
static const uint8_t pal_pants[][3] = {{25, 30, 50}, {30, 30, 30}, {90, 90, 95}, {150, 130, 100}, {40, 50, 90}};
static const uint8_t pal_skin[][3] = {{230, 190, 160}, {200, 150, 110}, {150, 100, 70}, {90, 60, 40}};

#define PICK(pal) (pal)[qb_synth_rng_int(r, (int)(sizeof(pal) / sizeof((pal)[0])))]

static void rgb_of(float *dst, const uint8_t *c, struct qb_synth_rng *r)
{
    qb_synth_srgb(dst, c[0], c[1], c[2]);
    float k = qb_synth_rng_range(r, 0.8f, 1.1f);
    for (int i = 0; i < 3; i++)
        dst[i] = clampf(dst[i] * k, 0.003f, 0.9f);
}

static int mat_plain(struct qb_synth_scene *sc, struct qb_synth_rng *r, const uint8_t *c, float spec)
{
    struct qb_synth_mat m = {.pattern = SYN_PAT_PLAIN, .spec = spec, .shin = 16};
    rgb_of(m.a, c, r);
    m.dirt = qb_synth_rng_range(r, 0.0f, 0.3f);
    return qb_synth_add_mat(sc, &m);
}

static int prim(struct qb_synth_scene *sc, int kind, int mat, float a, float b, float c, float d, float e, float f)
{
    const float g[6] = {a, b, c, d, e, f};
    return qb_synth_add_prim(sc, kind, mat, g);
}

static int tyres(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    struct qb_synth_mat m = {.pattern = SYN_PAT_RINGS, .spec = 0.06f, .shin = 8, .p = {0.2f, 0.035f}};
    const int stacks = 2 + qb_synth_rng_int(r, 5), rows = 1 + qb_synth_rng_int(r, 2);
    const int tall = 2 + qb_synth_rng_int(r, 4);
    int rc = 0;
    qb_synth_srgb(m.a, 32, 32, 34);
    qb_synth_srgb(m.b, 12, 12, 12);
    if (qb_synth_rng_chance(r, 0.15f))
        qb_synth_srgb(m.a, 220, 220, 215);   /* painted white */
    int mi = qb_synth_add_mat(sc, &m);
    for (int row = 0; row < rows; row++)
        for (int s = 0; s < stacks; s++) {
            float x = ((float)s - 0.5f * (float)(stacks - 1)) * 0.6f + (row ? 0.3f : 0.0f);
            rc |= prim(sc, SYN_PRIM_FRUSTUM, mi, x, (float)row * 0.55f, 0, 0.2f * (float)tall, 0.3f, 0.3f);
        }
    return rc;
}

static int barrier(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    static const uint8_t pairs[][2][3] = {
        {{210, 30, 30}, {235, 235, 235}}, {{240, 100, 20}, {235, 235, 235}}, {{245, 200, 20}, {30, 30, 30}},
        {{150, 150, 148}, {150, 150, 148}}, {{30, 70, 170}, {235, 235, 235}},
    };
    const int k = qb_synth_rng_int(r, 5);
    struct qb_synth_mat m = {.pattern = SYN_PAT_SEGMENTS, .spec = 0.15f, .shin = 16};
    const int segs = 2 + qb_synth_rng_int(r, 5);
    const float seg = k == 3 ? 3.0f : 1.2f, h = k == 3 ? 0.8f : qb_synth_rng_range(r, 0.6f, 1.0f);
    rgb_of(m.a, pairs[k][0], r);
    rgb_of(m.b, pairs[k][1], r);
    m.p[0] = seg;
    m.dirt = 0.3f;
    int mi = qb_synth_add_mat(sc, &m);
    const float len = seg * (float)segs;
    return prim(sc, SYN_PRIM_BOX, mi, -0.5f * len, 0.5f * len, 0, h, -0.22f, 0.22f);
}

static int person(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    static const uint8_t hivis[][3] = {{250, 110, 20}, {230, 240, 40}, {30, 70, 170}, {250, 200, 20}};
    const float s = qb_synth_rng_range(r, 0.9f, 1.08f);
    const uint8_t *shirt = qb_synth_rng_chance(r, 0.45f) ? PICK(hivis) : PICK(pal_vivid);
    int mt = mat_plain(sc, r, shirt, 0.05f), ml = mat_plain(sc, r, PICK(pal_pants), 0.03f);
    int ms = mat_plain(sc, r, PICK(pal_skin), 0.1f), mh = mat_plain(sc, r, pal_pants[1], 0.1f);
    const float lx = qb_synth_rng_range(r, 0.0f, 0.08f);
    int rc = 0;
    rc |= prim(sc, SYN_PRIM_FRUSTUM, ml, -0.1f - lx, 0, 0, 0.86f * s, 0.065f, 0.08f);
    rc |= prim(sc, SYN_PRIM_FRUSTUM, ml, 0.1f + lx, 0, 0, 0.86f * s, 0.065f, 0.08f);
    rc |= prim(sc, SYN_PRIM_FRUSTUM, mt, 0, 0, 0.84f * s, 1.45f * s, 0.17f, 0.2f);
    rc |= prim(sc, SYN_PRIM_FRUSTUM, mt, -0.25f, 0, 0.9f * s, 1.42f * s, 0.045f, 0.06f);
    rc |= prim(sc, SYN_PRIM_FRUSTUM, mt, 0.25f, 0, 0.9f * s, 1.42f * s, 0.045f, 0.06f);
    rc |= prim(sc, SYN_PRIM_ELLIPSOID, ms, 0, 1.58f * s, 0, 0.09f, 0.115f, 0.1f);
    rc |= prim(sc, SYN_PRIM_ELLIPSOID, mh, 0, 1.63f * s, -0.01f, 0.095f, 0.08f, 0.1f);
    return rc;
}

static int barrel(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    struct qb_synth_mat m = {.pattern = SYN_PAT_BANDS, .spec = 0.2f, .shin = 16, .p = {0.25f, 0.4f, 0.6f, 0.75f}};
    int kind = qb_synth_rng_int(r, 3);
    rgb_of(m.a, kind == 0 ? (const uint8_t[]){244, 100, 18} : kind == 1 ? pal_vivid[2] : pal_vivid[1], r);
    rgb_of(m.b, kind == 2 ? pal_vivid[5] : pal_vivid[4], r);
    if (kind == 1)
        m.pattern = SYN_PAT_PLAIN;
    m.dirt = 0.4f;
    int mi = qb_synth_add_mat(sc, &m);
    const float h = qb_synth_rng_range(r, 0.8f, 1.0f);
    return prim(sc, SYN_PRIM_FRUSTUM, mi, 0, 0, 0, h, 0.3f, 0.27f);
}

static int box(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    int mi = mat_plain(sc, r, PICK(pal_vivid), 0.15f);
    float w = qb_synth_rng_range(r, 0.3f, 1.1f), d = qb_synth_rng_range(r, 0.3f, 0.8f);
    float h = qb_synth_rng_range(r, 0.25f, 0.9f);
    int rc = prim(sc, SYN_PRIM_BOX, mi, -0.5f * w, 0.5f * w, 0, h, -0.5f * d, 0.5f * d);
    if (qb_synth_rng_chance(r, 0.4f)) /* a second box stacked on it */
        rc |= prim(sc, SYN_PRIM_BOX, mat_plain(sc, r, PICK(pal_vivid), 0.15f), -0.4f * w, 0.35f * w, h, h + 0.3f * h,
                   -0.4f * d, 0.4f * d);
    return rc;
}

static int car(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    const float L = qb_synth_rng_range(r, 3.8f, 5.2f), W = qb_synth_rng_range(r, 1.7f, 2.0f);
    const int van = qb_synth_rng_chance(r, 0.3f);
    int mb = mat_plain(sc, r, PICK(pal_car), 0.5f), mw = mat_plain(sc, r, pal_car[2], 0.02f);
    struct qb_synth_mat glass = {.pattern = SYN_PAT_PLAIN, .spec = 0.9f, .shin = 64};
    qb_synth_srgb(glass.a, 20, 24, 30);
    int mg = qb_synth_add_mat(sc, &glass);
    int rc = 0;
    const float top = van ? 1.9f : 1.0f;
    rc |= prim(sc, SYN_PRIM_BOX, mb, -0.5f * L, 0.5f * L, 0.3f, top, -0.5f * W, 0.5f * W);
    if (!van)
        rc |= prim(sc, SYN_PRIM_BOX, mg, -0.25f * L, 0.2f * L, top, 1.45f, -0.45f * W, 0.45f * W);
    for (int i = 0; i < 4; i++)
        rc |= prim(sc, SYN_PRIM_BOX, mw, (i & 1 ? 0.3f : -0.42f) * L, (i & 1 ? 0.42f : -0.3f) * L, 0, 0.36f,
                   (i & 2 ? 0.38f : -0.5f) * W, (i & 2 ? 0.5f : -0.38f) * W);
    return rc;
}

static int tent(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    const float s = qb_synth_rng_range(r, 1.4f, 2.0f), h = qb_synth_rng_range(r, 2.0f, 2.4f);
    int mr = mat_plain(sc, r, PICK(pal_vivid), 0.05f), ml = mat_plain(sc, r, pal_car[1], 0.4f);
    int rc = prim(sc, SYN_PRIM_FRUSTUM, mr, 0, 0, h, h + 0.7f, s * 1.41f, 0.1f);
    for (int i = 0; i < 4; i++)
        rc |= prim(sc, SYN_PRIM_FRUSTUM, ml, i & 1 ? s : -s, i & 2 ? s : -s, 0, h, 0.03f, 0.03f);
    if (qb_synth_rng_chance(r, 0.4f)) /* a closed back wall */
        rc |= prim(sc, SYN_PRIM_BOX, mr, -s, s, 0, h, s - 0.02f, s);
    return rc;
}

static int tree(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    struct qb_synth_mat leaves = {.pattern = SYN_PAT_LEAVES, .spec = 0.02f, .shin = 8, .p = {0.18f}};
    const float h = qb_synth_rng_range(r, 2.0f, 4.0f), cr = qb_synth_rng_range(r, 1.5f, 3.5f);
    int mt = mat_plain(sc, r, (const uint8_t[]){70, 55, 40}, 0.0f);
    qb_synth_srgb(leaves.a, 40 + qb_synth_rng_int(r, 30), 70 + qb_synth_rng_int(r, 40), 25 + qb_synth_rng_int(r, 20));
    qb_synth_srgb(leaves.b, 90, 120, 50);
    int ml = qb_synth_add_mat(sc, &leaves);
    int rc = prim(sc, SYN_PRIM_FRUSTUM, mt, 0, 0, 0, h + cr, 0.25f, 0.12f);
    rc |= prim(sc, SYN_PRIM_ELLIPSOID, ml, 0, h + cr, 0, cr, cr * qb_synth_rng_range(r, 1.0f, 1.5f), cr);
    if (qb_synth_rng_chance(r, 0.6f))
        rc |= prim(sc, SYN_PRIM_ELLIPSOID, ml, 0.5f * cr, h + 0.7f * cr, 0.3f * cr, 0.8f * cr, 0.8f * cr, 0.8f * cr);
    return rc;
}

static int post(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    static const uint8_t pairs[][2][3] = {
        {{244, 100, 18}, {235, 235, 235}}, {{210, 30, 30}, {235, 235, 235}}, {{245, 200, 20}, {30, 30, 30}},
        {{30, 70, 170}, {235, 235, 235}},
    };
    const int k = qb_synth_rng_int(r, 4);
    struct qb_synth_mat m = {.pattern = SYN_PAT_BANDS, .spec = 0.2f, .shin = 16, .p = {0.55f, 0.7f, 0.8f, 0.9f}};
    rgb_of(m.a, pairs[k][0], r);
    rgb_of(m.b, pairs[k][1], r);
    int mi = qb_synth_add_mat(sc, &m);
    const float h = qb_synth_rng_range(r, 0.7f, 1.2f);
    int rc = prim(sc, SYN_PRIM_FRUSTUM, mi, 0, 0, 0.05f, h, 0.045f, 0.04f);
    rc |= prim(sc, SYN_PRIM_BOX, mat_plain(sc, r, pal_vivid[5], 0.05f), -0.15f, 0.15f, 0, 0.05f, -0.15f, 0.15f);
    if (qb_synth_rng_chance(r, 0.3f)) /* a sign board on top */
        rc |= prim(sc, SYN_PRIM_BOX, mat_plain(sc, r, PICK(pal_vivid), 0.1f), -0.3f, 0.3f, h, h + 0.45f, -0.02f,
                   0.02f);
    return rc;
}

static int fence(struct qb_synth_scene *sc, struct qb_synth_rng *r)
{
    const int posts = 2 + qb_synth_rng_int(r, 4);
    const float gap = qb_synth_rng_range(r, 2.0f, 3.0f), h = qb_synth_rng_range(r, 1.0f, 2.0f);
    const float len = gap * (float)(posts - 1);
    int mp = mat_plain(sc, r, pal_car[1], 0.5f), rc = 0;
    for (int i = 0; i < posts; i++)
        rc |= prim(sc, SYN_PRIM_FRUSTUM, mp, -0.5f * len + gap * (float)i, 0, 0, h, 0.025f, 0.025f);
    rc |= prim(sc, SYN_PRIM_BOX, mp, -0.5f * len, 0.5f * len, h - 0.05f, h, -0.02f, 0.02f);
    if (qb_synth_rng_chance(r, 0.6f)) { /* a banner */
        struct qb_synth_mat m = {.pattern = SYN_PAT_SEGMENTS, .spec = 0.1f, .shin = 8};
        rgb_of(m.a, PICK(pal_vivid), r);
        rgb_of(m.b, PICK(pal_vivid), r);
        m.p[0] = qb_synth_rng_range(r, 0.3f, 2.0f);
        rc |= prim(sc, SYN_PRIM_BOX, qb_synth_add_mat(sc, &m), -0.5f * len, 0.5f * len, 0.1f, 0.1f + 0.8f * h,
                   -0.01f, 0.01f);
    } else {
        rc |= prim(sc, SYN_PRIM_BOX, mp, -0.5f * len, 0.5f * len, 0.45f * h, 0.45f * h + 0.04f, -0.02f, 0.02f);
    }
    return rc;
}

typedef int (*prop_fn)(struct qb_synth_scene *sc, struct qb_synth_rng *r);
static const prop_fn prop_fns[SYN_PROP_COUNT] = {
    [SYN_PROP_TYRES] = tyres, [SYN_PROP_BARRIER] = barrier, [SYN_PROP_PERSON] = person,
    [SYN_PROP_BARREL] = barrel, [SYN_PROP_BOX] = box,       [SYN_PROP_CAR] = car,
    [SYN_PROP_TENT] = tent,    [SYN_PROP_TREE] = tree,     [SYN_PROP_POST] = post,
    [SYN_PROP_FENCE] = fence,
};

int qb_synth_add_prop(struct qb_synth_scene *sc, struct qb_synth_rng *r, enum qb_synth_prop kind, float x, float z,
                      float yaw)
{
    const int n_prim = sc->n_prim, n_mat = sc->n_mat;
    int o = qb_synth_begin_obj(sc, x, z, yaw);
    if (o < 0)
        return -1;
    if (prop_fns[kind](sc, r) != 0) {
        sc->n_obj--;   /* out of room: drop the half-built prop */
        sc->n_prim = n_prim;
        sc->n_mat = n_mat;
        return -1;
    }
    /* shadow: the footprint's long axis as a segment (props are centred on x = 0) */
    struct qb_synth_obj *ob = &sc->obj[o];
    const float wx = ob->bx1 - ob->bx0, wz = ob->bz1 - ob->bz0;
    ob->shadow_r = ob->shadow_rt = 0.5f * minf(wx, wz) * 0.9f;
    ob->shadow_hl = wx > wz ? 0.5f * (wx - wz) : 0.0f;
    ob->shadow_h = kind == SYN_PROP_FENCE ? 0.0f : ob->height;   /* thin fences: none worth drawing */
    if (kind == SYN_PROP_PERSON)
        ob->shadow_r = ob->shadow_rt = 0.2f;
    return o;
}
