/* Scene layout: camera, track (two cone lines along a curved centre line, blue left,
 * yellow right, orange near start/finish), more track in the distance, spare cones,
 * clutter, lighting, ground and backdrop, and the photographic effects. */
#include <stddef.h>
#include <string.h>

#include "synth_internal.h"

#define TRACK_DS 0.25f
#define TRACK_MAXP 512

struct track {
    int n;
    float x[TRACK_MAXP], z[TRACK_MAXP], hd[TRACK_MAXP], k[TRACK_MAXP];
    float w;          /* width between cone lines */
};

/* A centre line of `len` metres from (x, z) heading hd (radians from +Z towards +X):
 * straights, constant-radius turns and slaloms, FS-like radii. */
static void gen_track(struct track *t, struct qb_synth_rng *r, float x, float z, float hd, float len)
{
    float seg_left = 0, k = 0, k_amp = 0, lambda = 1, s_seg = 0;
    int kind = 0;
    t->n = 0;
    for (float s = 0; s < len && t->n < TRACK_MAXP; s += TRACK_DS) {
        if (seg_left <= 0) {
            static const float w[3] = {0.35f, 0.5f, 0.15f};
            kind = qb_synth_rng_pick(r, w, 3);
            s_seg = 0;
            if (kind == 0) {
                k = 0;
                seg_left = qb_synth_rng_range(r, 4.0f, 22.0f);
            } else if (kind == 1) {
                float R = qb_synth_rng_range(r, 0.5f * t->w + 3.5f, 30.0f);
                if (qb_synth_rng_chance(r, 0.5f))
                    R = qb_synth_rng_range(r, 0.5f * t->w + 3.5f, 12.0f);
                k = (qb_synth_rng_chance(r, 0.5f) ? 1.0f : -1.0f) / R;
                seg_left = qb_synth_rng_range(r, 20.0f, 150.0f) * SYN_DEG * R;
            } else {
                lambda = qb_synth_rng_range(r, 14.0f, 26.0f);
                k_amp = 1.0f / qb_synth_rng_range(r, 7.0f, 14.0f);
                seg_left = lambda * (float)(1 + qb_synth_rng_int(r, 2));
            }
        }
        const float kk = kind == 2 ? k_amp * sinf(2.0f * SYN_PI * s_seg / lambda) : k;
        t->x[t->n] = x;
        t->z[t->n] = z;
        t->hd[t->n] = hd;
        t->k[t->n++] = kk;
        hd += kk * TRACK_DS;
        x += sinf(hd) * TRACK_DS;
        z += cosf(hd) * TRACK_DS;
        seg_left -= TRACK_DS;
        s_seg += TRACK_DS;
    }
}

/* Closest distance from (x, z) to a track's centre line. */
static float track_dist(const struct track *t, float x, float z)
{
    float best = 1e30f;
    for (int i = 0; i < t->n; i += 2) {
        float dx = t->x[i] - x, dz = t->z[i] - z;
        best = minf(best, dx * dx + dz * dz);
    }
    return sqrtf(best);
}

static int near_cone(const struct qb_synth_scene *sc, float x, float z, float d)
{
    for (int i = 0; i < sc->n_obj; i++)
        if (sc->obj[i].cone) {
            float dx = sc->obj[i].pos.x - x, dz = sc->obj[i].pos.z - z;
            if (dx * dx + dz * dz < d * d)
                return 1;
        }
    return 0;
}

struct track_opts {
    float sf;          /* start/finish at this arc length (< 0: none) */
    float orange_to;   /* small orange cones from sf to here */
    const struct track *avoid;
    float avoid_d;
};

/* Cone lines along both sides; returns the number of cones placed. */
static void place_cones(struct qb_synth_scene *sc, struct qb_synth_rng *r, const struct track *t,
                        const struct track_opts *o)
{
    for (int side = 0; side < 2; side++) {
        const float sgn = side == 0 ? 1.0f : -1.0f;   /* left, right */
        const float sp = qb_synth_rng_range(r, 2.5f, 5.0f);
        float acc = qb_synth_rng_range(r, 0.0f, sp), px = 0, pz = 0;
        for (int i = 0; i < t->n; i++) {
            const float nx = -cosf(t->hd[i]) * sgn, nz = sinf(t->hd[i]) * sgn;
            const float bx = t->x[i] + nx * 0.5f * t->w, bz = t->z[i] + nz * 0.5f * t->w;
            if (i > 0)
                acc -= hypotf(bx - px, bz - pz) * (1.0f + 5.0f * fabsf(t->k[i]));
            px = bx;
            pz = bz;
            if (acc > 0)
                continue;
            acc += sp * (1.0f + 0.08f * qb_synth_rng_normal(r));
            const float s = (float)i * TRACK_DS;
            int cls = side == 0 ? QB_SYNTH_BLUE : QB_SYNTH_YELLOW;
            if (o->sf >= 0 && s >= o->sf && s <= o->orange_to)
                cls = QB_SYNTH_ORANGE;
            float cx = bx + 0.06f * qb_synth_rng_normal(r), cz = bz + 0.06f * qb_synth_rng_normal(r);
            if (o->avoid && track_dist(o->avoid, cx, cz) < o->avoid_d)
                continue;
            qb_synth_add_cone(sc, r, cls, cx, cz);
        }
        if (o->sf >= 0) {
            const int i = (int)(o->sf / TRACK_DS);
            if (i >= t->n)
                continue;
            const float nx = -cosf(t->hd[i]) * sgn, nz = sinf(t->hd[i]) * sgn;
            const float tx = sinf(t->hd[i]), tz = cosf(t->hd[i]);
            for (int j = -1; j <= 1; j += 2) {
                float off = 0.5f * t->w + 0.35f, along = 0.55f * (float)j;
                qb_synth_add_cone(sc, r, QB_SYNTH_LARGE_ORANGE, t->x[i] + nx * off + tx * along,
                                  t->z[i] + nz * off + tz * along);
            }
        }
    }
}

static void place_props(struct qb_synth_scene *sc, struct qb_synth_rng *r, const struct track *t, float cam_yaw)
{
    static const float w_kind[SYN_PROP_COUNT] = {
        [SYN_PROP_TYRES] = 0.12f, [SYN_PROP_BARRIER] = 0.09f, [SYN_PROP_PERSON] = 0.2f, [SYN_PROP_BARREL] = 0.07f,
        [SYN_PROP_BOX] = 0.08f,   [SYN_PROP_CAR] = 0.07f,     [SYN_PROP_TENT] = 0.08f,  [SYN_PROP_TREE] = 0.09f,
        [SYN_PROP_POST] = 0.1f,   [SYN_PROP_FENCE] = 0.08f,
    };
    const int n = 4 + qb_synth_rng_int(r, 22);
    for (int k = 0, tries = 0; k < n && tries < 4 * n; tries++) {
        enum qb_synth_prop kind = (enum qb_synth_prop)qb_synth_rng_pick(r, w_kind, SYN_PROP_COUNT);
        const int big = kind == SYN_PROP_CAR || kind == SYN_PROP_TENT || kind == SYN_PROP_TREE;
        const float mode = qb_synth_rng_unif(r);
        float x, z, yaw = qb_synth_rng_range(r, 0, 2 * SYN_PI);
        if (mode < 0.6f || t->n < 32) {   /* beside the track */
            int i = 28 + qb_synth_rng_int(r, t->n - 28 > 1 ? t->n - 28 : 1);
            if (i >= t->n)
                i = t->n - 1;
            float sgn = qb_synth_rng_chance(r, 0.5f) ? 1.0f : -1.0f;
            float off = 0.5f * t->w + (kind == SYN_PROP_TREE ? qb_synth_rng_range(r, 10.0f, 30.0f)
                                       : big ? qb_synth_rng_range(r, 4.0f, 20.0f) : qb_synth_rng_range(r, 0.8f, 9.0f));
            x = t->x[i] - cosf(t->hd[i]) * sgn * off;
            z = t->z[i] + sinf(t->hd[i]) * sgn * off;
            if (kind == SYN_PROP_TYRES || kind == SYN_PROP_BARRIER || kind == SYN_PROP_FENCE || kind == SYN_PROP_CAR)
                yaw = t->hd[i] - 0.5f * SYN_PI + 0.15f * qb_synth_rng_normal(r);
        } else if (mode < 0.75f && !big && sc->n_obj > 0) {   /* next to a cone, towards the camera: occludes the line */
            int c = qb_synth_rng_int(r, sc->n_obj);
            if (!sc->obj[c].cone)
                continue;
            float d = hypotf(sc->obj[c].pos.x, sc->obj[c].pos.z);
            if (d < 5 || d > 28)
                continue;
            float back = qb_synth_rng_range(r, 0.6f, 2.5f) / d;
            x = sc->obj[c].pos.x * (1 - back) + qb_synth_rng_range(r, -0.6f, 0.6f);
            z = sc->obj[c].pos.z * (1 - back);
        } else {   /* far field */
            float d = qb_synth_rng_range(r, 18.0f, 90.0f), b = cam_yaw + qb_synth_rng_range(r, -0.9f, 0.9f);
            x = d * sinf(b);
            z = d * cosf(b);
        }
        if (hypotf(x, z) < 3.0f || near_cone(sc, x, z, big ? 3.0f : 0.8f))
            continue;
        if (big && track_dist(t, x, z) < 0.5f * t->w + 2.5f)
            continue;
        if (qb_synth_add_prop(sc, r, kind, x, z, yaw) < 0)
            break;
        k++;
    }
}

static void set_light(struct qb_synth_scene *sc, struct qb_synth_rng *r, float cam_yaw, float hfov)
{
    struct qb_synth_light *L = &sc->L;
    static const float w_weather[3] = {0.5f, 0.25f, 0.25f};
    const int weather = qb_synth_rng_pick(r, w_weather, 3);   /* sunny, broken clouds, overcast */
    const int dusk = qb_synth_rng_chance(r, 0.18f);
    const float elev = (dusk ? qb_synth_rng_range(r, 1.0f, 10.0f) : qb_synth_rng_range(r, 12.0f, 65.0f)) * SYN_DEG;
    float az = qb_synth_rng_range(r, 0, 2 * SYN_PI);
    if (qb_synth_rng_chance(r, 0.22f))
        az = cam_yaw + qb_synth_rng_range(r, -0.6f, 0.6f) * (0.5f * hfov + 0.3f);   /* into the sun */
    L->sun = v3(cosf(elev) * sinf(az), sinf(elev), cosf(elev) * cosf(az));
    L->sunny = weather < 2;
    L->dusk = dusk;

    const float warm = 1.0f - smooth01(2 * SYN_DEG, 25 * SYN_DEG, elev);
    float sun_i = weather == 0 ? 2.6f : weather == 1 ? 2.0f : 0.0f, sky_i = weather == 0 ? 0.55f : weather == 1 ? 0.7f : 1.05f;
    if (dusk) {
        sun_i *= 0.45f;
        sky_i *= 0.22f;
    }
    const float sun_c[3] = {1.0f, lerpf(0.96f, 0.62f, warm), lerpf(0.9f, 0.36f, warm)};
    const float sky_c[3] = {weather == 2 ? 0.82f : 0.52f, weather == 2 ? 0.84f : 0.64f, weather == 2 ? 0.88f : 0.9f};
    const float sky_scale = (weather == 0 ? 1.25f : weather == 1 ? 1.35f : 1.45f) * (dusk ? 0.3f : 1.0f);
    const float tint = qb_synth_rng_range(r, 0.9f, 1.1f);
    for (int c = 0; c < 3; c++) {
        L->sun_rgb[c] = sun_i * sun_c[c];
        L->sky_rgb[c] = sky_i * sky_c[c] * (c == 2 ? tint : 1.0f);
        L->bounce_rgb[c] = 0.12f * (sun_i * sinf(elev) + sky_i);
    }
    const float zen_sunny[3] = {0.10f, 0.22f, 0.58f}, hor_sunny[3] = {0.62f, 0.72f, 0.88f};
    const float zen_over[3] = {0.62f, 0.64f, 0.68f}, hor_over[3] = {0.82f, 0.84f, 0.86f};
    const float hor_dusk[3] = {1.0f, 0.58f, 0.32f};
    const float haze = qb_synth_rng_range(r, 0.0f, 0.5f);
    for (int c = 0; c < 3; c++) {
        float zen = weather == 2 ? zen_over[c] : lerpf(zen_sunny[c], hor_sunny[c], haze * 0.6f);
        float hor = weather == 2 ? hor_over[c] : hor_sunny[c];
        if (dusk)
            hor = lerpf(hor, hor_dusk[c], warm);
        L->zenith[c] = zen * sky_scale;
        L->horizon[c] = hor * sky_scale;
        L->haze_rgb[c] = L->horizon[c] * 0.9f;
    }
    L->visibility = qb_synth_rng_range(r, 250.0f, 3000.0f) * (1.0f - 0.6f * haze);
    L->inv_vis = 1.0f / L->visibility;
    for (int c = 0; c < 3; c++)
        L->ground_lit[c] = L->sun_rgb[c] * maxf(L->sun.y, 0.0f) + L->sky_rgb[c];
    L->cloud_cover = weather == 0 ? qb_synth_rng_range(r, 0.0f, 0.45f)
                                  : weather == 1 ? qb_synth_rng_range(r, 0.4f, 0.75f) : qb_synth_rng_range(r, 0.6f, 1.0f);
    L->cloud_soft = qb_synth_rng_range(r, 0.08f, 0.3f);
    L->cloud_shade = weather == 2 ? 0.25f : qb_synth_rng_range(r, 0.2f, 0.5f);
    for (int c = 0; c < 3; c++)
        L->cloud_rgb[c] = (weather == 2 ? 0.9f : 1.15f) * sky_scale * (dusk ? hor_dusk[c] : 1.0f);
    const float sun_g = sun_i * sinf(elev);
    L->shadow_k = sun_g > 0 ? sun_g / (sun_g + sky_i) : 0.0f;
    L->shadow_patches = weather < 2 && qb_synth_rng_chance(r, 0.3f) ? qb_synth_rng_range(r, 0.1f, 0.45f) : 2.0f;
}

static void set_ground(struct qb_synth_scene *sc, struct qb_synth_rng *r, float w)
{
    struct qb_synth_ground *G = &sc->G;
    const float rot = qb_synth_rng_range(r, 0, 2 * SYN_PI);
    G->rot_c = cosf(rot);
    G->rot_s = sinf(rot);
    G->off_u = qb_synth_rng_range(r, 0, 1000);
    G->off_v = qb_synth_rng_range(r, 0, 1000);
    const float a = qb_synth_rng_range(r, 0.06f, 0.2f), warmth = qb_synth_rng_range(r, -0.06f, 0.06f);
    G->asphalt[0] = a * (1 + warmth);
    G->asphalt[1] = a;
    G->asphalt[2] = a * (1 - warmth);
    G->asphalt_var = qb_synth_rng_range(r, 0.05f, 0.3f);
    G->crack_amt = qb_synth_rng_chance(r, 0.3f) ? 0.0f : qb_synth_rng_range(r, 0.0f, 0.6f);
    G->patch_amt = qb_synth_rng_range(r, -0.35f, 0.35f);
    const float gk = qb_synth_rng_range(r, 0.8f, 1.4f);
    qb_synth_srgb(G->grass, 60, 92, 32);
    qb_synth_srgb(G->grass_dry, 120, 112, 62);
    qb_synth_srgb(G->gravel, 130, 122, 108);
    for (int c = 0; c < 3; c++) {
        G->grass[c] *= gk;
        G->gravel[c] *= qb_synth_rng_range(r, 0.8f, 1.15f);
    }
    G->sheen = qb_synth_rng_range(r, 0.0f, 0.5f);
    G->n_edges = 0;
    if (qb_synth_rng_chance(r, 0.5f)) {   /* grass along one side */
        float sgn = qb_synth_rng_chance(r, 0.5f) ? 1.0f : -1.0f;
        G->edge_nx[G->n_edges] = sgn;
        G->edge_nz[G->n_edges] = 0.1f * qb_synth_rng_normal(r);
        G->edge_c[G->n_edges] = 0.5f * w + qb_synth_rng_range(r, 2.5f, 15.0f);
        G->edge_gravel[G->n_edges++] = qb_synth_rng_chance(r, 0.5f) ? qb_synth_rng_range(r, 0.3f, 2.5f) : 0.0f;
    }
    if (qb_synth_rng_chance(r, 0.6f)) {   /* far end of the paved area */
        float ang = qb_synth_rng_range(r, -0.5f, 0.5f);
        G->edge_nx[G->n_edges] = sinf(ang);
        G->edge_nz[G->n_edges] = cosf(ang);
        G->edge_c[G->n_edges] = qb_synth_rng_range(r, 35.0f, 160.0f);
        G->edge_gravel[G->n_edges++] = qb_synth_rng_range(r, 0.0f, 3.0f);
    }
    G->paint = qb_synth_rng_chance(r, 0.45f);
    if (G->paint) {
        float ang = (qb_synth_rng_chance(r, 0.5f) ? 0.0f : 0.5f * SYN_PI) + 0.2f * qb_synth_rng_normal(r);
        G->paint_c = cosf(ang);
        G->paint_s = sinf(ang);
        G->paint_sp = qb_synth_rng_range(r, 2.5f, 7.0f);
        G->paint_isp = 1.0f / G->paint_sp;
        G->paint_w = qb_synth_rng_range(r, 0.08f, 0.16f);
        G->paint_off = qb_synth_rng_range(r, 0, 10);
        G->paint_wear = qb_synth_rng_range(r, 0.2f, 0.9f);
        if (qb_synth_rng_chance(r, 0.7f))
            qb_synth_srgb(G->paint_rgb, 215, 215, 210);
        else
            qb_synth_srgb(G->paint_rgb, 225, 185, 40);
    }
    /* horizon backdrop: runs of open land, trees, buildings and grandstands */
    G->bd_dist = qb_synth_rng_range(r, 120.0f, 400.0f);
    for (int i = 0; i < SYN_BD_BINS;) {
        static const float w_bd[4] = {0.25f, 0.45f, 0.2f, 0.1f};
        int kind = qb_synth_rng_pick(r, w_bd, 4), len = 10 + qb_synth_rng_int(r, 120);
        float h = kind == 0 ? qb_synth_rng_range(r, 0.0f, 2.0f)
                            : kind == 1 ? qb_synth_rng_range(r, 6.0f, 16.0f) : qb_synth_rng_range(r, 5.0f, 16.0f);
        float walk = 0;
        for (int j = 0; j < len && i < SYN_BD_BINS; j++, i++) {
            walk = kind == 1 ? clampf(0.9f * walk + 0.8f * qb_synth_rng_normal(r), -3.5f, 3.5f) : 0.0f;
            if (kind == 3)
                walk = 0.3f * h * (float)j / (float)len;
            G->bd_h[i] = h + walk;
            G->bd_kind[i] = (uint8_t)kind;
            G->bd_max = maxf(G->bd_max, G->bd_h[i]);
        }
    }
    qb_synth_srgb(G->bd_rgb[0], 90, 100, 70);
    qb_synth_srgb(G->bd_rgb[1], 34 + qb_synth_rng_int(r, 20), 52 + qb_synth_rng_int(r, 25), 30);
    qb_synth_srgb(G->bd_rgb[2], 150 + qb_synth_rng_int(r, 80), 150 + qb_synth_rng_int(r, 80), 150 + qb_synth_rng_int(r, 80));
    qb_synth_srgb(G->bd_rgb[3], 90, 95, 110);
}

static void set_fx(struct qb_synth_scene *sc, struct qb_synth_rng *r, float hfov, float cam_yaw, float cam_pitch)
{
    struct qb_synth_fx *fx = &sc->fx;
    const struct qb_synth_light *L = &sc->L;
    fx->exposure_err = clampf(exp2f(0.4f * qb_synth_rng_normal(r)), 0.45f, 2.2f);
    fx->max_exposure = L->dusk ? qb_synth_rng_range(r, 0.8f, 2.5f) : 6.0f;
    for (int c = 0; c < 3; c++)
        fx->wb[c] = 1.0f;
    const float t = 0.06f * qb_synth_rng_normal(r);
    fx->wb[0] = 1.0f + t;
    fx->wb[2] = 1.0f - t;
    fx->wb[1] = 1.0f + 0.02f * qb_synth_rng_normal(r);
    fx->saturation = qb_synth_rng_range(r, 0.8f, 1.2f);
    fx->motion_x = qb_synth_rng_chance(r, 0.25f) ? exp2f(qb_synth_rng_range(r, 0.6f, 2.6f)) : 0.0f;   /* 1.5-6 px */
    fx->motion_y = qb_synth_rng_chance(r, 0.12f) ? qb_synth_rng_range(r, 1.5f, 3.5f) : 0.0f;
    fx->defocus = qb_synth_rng_chance(r, 0.2f) ? 1 + qb_synth_rng_chance(r, 0.3f) : 0;
    fx->vignette = qb_synth_rng_range(r, 0.0f, 0.4f);
    fx->read_noise = qb_synth_rng_range(r, 0.0015f, 0.005f);
    fx->shot_noise = qb_synth_rng_range(r, 0.0003f, 0.0015f);
    fx->right_gain = 1.0f + 0.02f * qb_synth_rng_normal(r);
    fx->jpeg_quality = 80 + qb_synth_rng_int(r, 16);
    /* glare when the sun is near the view: angle between sun and the optical axis */
    const struct v3 fw = v3(sinf(cam_yaw) * cosf(cam_pitch), sinf(cam_pitch), cosf(cam_yaw) * cosf(cam_pitch));
    const float ang = acosf(clampf(v3_dot(fw, L->sun), -1.0f, 1.0f)), lim = 0.5f * hfov + 0.45f;
    fx->glare = 0;
    fx->n_flares = 0;
    if (L->sunny && ang < lim && L->sun.y < 0.7f) {
        fx->glare = qb_synth_rng_range(r, 0.4f, 1.0f) * (1.0f - ang / lim);
        fx->n_flares = 3 + qb_synth_rng_int(r, SYN_MAX_FLARES - 2);
        for (int i = 0; i < fx->n_flares; i++) {
            fx->flare_t[i] = qb_synth_rng_range(r, -1.3f, 0.9f);
            fx->flare_r[i] = qb_synth_rng_range(r, 0.01f, 0.09f);
            for (int c = 0; c < 3; c++)
                fx->flare_rgb[i][c] = qb_synth_rng_range(r, 0.2f, 1.0f);
        }
    }
}

void qb_synth_scene_build(struct qb_synth_scene *sc, const struct qb_synth *s, int64_t scene)
{
    struct qb_synth_rng r;
    struct track tk[2], *main_t;
    const int W = s->p.width, H = s->p.height;

    memset(sc, 0, offsetof(struct qb_synth_scene, obj));
    sc->n_obj = sc->n_prim = sc->n_mat = sc->n_cones = 0;
    sc->w = W;
    sc->h = H;
    sc->seed = qb_synth_mix64(s->p.seed ^ qb_synth_mix64((uint64_t)scene * 0x2545f4914f6cdd1dull + 17));
    qb_synth_rng_seed(&r, sc->seed);

    /* camera: ~1 m high, small pitch and roll, 55-85 degree horizontal field of view */
    const float hfov = qb_synth_rng_range(&r, 55.0f, 85.0f) * SYN_DEG;
    const float f = 0.5f * (float)W / tanf(0.5f * hfov);
    const float ppx = 0.5f * (float)W + 0.01f * (float)W * qb_synth_rng_normal(&r);
    const float ppy = 0.5f * (float)H + 0.01f * (float)H * qb_synth_rng_normal(&r);
    sc->cam_h = qb_synth_rng_range(&r, 0.8f, 1.25f);
    sc->baseline = 0.12f;
    const float pitch = qb_synth_rng_range(&r, -5.0f, 1.5f) * SYN_DEG;
    const float roll = clampf(1.2f * qb_synth_rng_normal(&r), -3.0f, 3.0f) * SYN_DEG;

    /* main track from the camera forwards, a few metres behind it too */
    main_t = &tk[0];
    main_t->w = qb_synth_rng_range(&r, 3.0f, 4.5f);
    gen_track(main_t, &r, 0, -4.0f, 0, 95.0f);
    const float off = qb_synth_rng_range(&r, -0.25f, 0.25f) * main_t->w;
    const int i0 = (int)(4.0f / TRACK_DS);
    float yaw = main_t->hd[i0] + 4.0f * SYN_DEG * qb_synth_rng_normal(&r);
    if (qb_synth_rng_chance(&r, 0.2f))
        yaw += qb_synth_rng_range(&r, -20.0f, 20.0f) * SYN_DEG;
    const struct v3 pos = v3(main_t->x[i0] - cosf(main_t->hd[i0]) * off, sc->cam_h, main_t->z[i0] + sinf(main_t->hd[i0]) * off);

    struct track_opts to = {.sf = -1};
    if (qb_synth_rng_chance(&r, 0.5f)) {
        to.sf = 4.0f + qb_synth_rng_range(&r, 4.0f, 30.0f);
        to.orange_to = qb_synth_rng_chance(&r, 0.75f) ? to.sf + qb_synth_rng_range(&r, 8.0f, 30.0f) : to.sf;
        if (qb_synth_rng_chance(&r, 0.3f)) {   /* entry lane before the line instead */
            float l = to.orange_to - to.sf;
            to.orange_to = to.sf;
            to.sf -= l;
        }
    }
    place_cones(sc, &r, main_t, &to);

    /* more of the track in the distance, crossing the view */
    for (int k = 0; k < 2; k++) {
        if (!qb_synth_rng_chance(&r, k == 0 ? 0.45f : 0.15f))
            continue;
        struct track *t2 = &tk[1];
        const float d = qb_synth_rng_range(&r, 10.0f, 35.0f), b = yaw + qb_synth_rng_range(&r, -0.7f, 0.7f);
        const float hd = qb_synth_rng_range(&r, 0, 2 * SYN_PI);
        t2->w = qb_synth_rng_range(&r, 3.0f, 4.5f);
        gen_track(t2, &r, pos.x + d * sinf(b) - 25.0f * sinf(hd), pos.z + d * cosf(b) - 25.0f * cosf(hd), hd, 60.0f);
        struct track_opts o2 = {.sf = -1, .avoid = main_t, .avoid_d = 0.5f * (main_t->w + t2->w) + 1.5f};
        if (qb_synth_rng_chance(&r, 0.2f)) {
            o2.sf = qb_synth_rng_range(&r, 10.0f, 40.0f);
            o2.orange_to = o2.sf + qb_synth_rng_range(&r, 0.0f, 20.0f);
        }
        place_cones(sc, &r, t2, &o2);
    }

    /* spare cones beside the track, and now and then one knocked into the lane */
    if (qb_synth_rng_chance(&r, 0.45f)) {
        static const float w_cls[QB_SYNTH_CLASS_COUNT] = {0.1f, 0.1f, 0.4f, 0.4f};
        const int i = 16 + qb_synth_rng_int(&r, 140);
        const float sgn = qb_synth_rng_chance(&r, 0.5f) ? 1.0f : -1.0f;
        const float o = 0.5f * main_t->w + qb_synth_rng_range(&r, 1.5f, 6.0f);
        if (i < main_t->n) {
            float x = main_t->x[i] - cosf(main_t->hd[i]) * sgn * o, z = main_t->z[i] + sinf(main_t->hd[i]) * sgn * o;
            for (int k = 2 + qb_synth_rng_int(&r, 5); k > 0; k--) {
                x += qb_synth_rng_range(&r, -0.9f, 0.9f);
                z += qb_synth_rng_range(&r, -0.9f, 0.9f);
                if (!near_cone(sc, x, z, 0.4f))
                    qb_synth_add_cone(sc, &r, qb_synth_rng_pick(&r, w_cls, QB_SYNTH_CLASS_COUNT), x, z);
            }
        }
    }
    if (qb_synth_rng_chance(&r, 0.1f)) {
        const int i = 24 + qb_synth_rng_int(&r, 80);
        if (i < main_t->n)
            qb_synth_add_cone(sc, &r, qb_synth_rng_int(&r, 2), main_t->x[i] + qb_synth_rng_range(&r, -1.0f, 1.0f),
                              main_t->z[i] + qb_synth_rng_range(&r, -1.0f, 1.0f));
    }

    place_props(sc, &r, main_t, yaw);
    set_light(sc, &r, yaw, hfov);
    set_ground(sc, &r, main_t->w);
    set_fx(sc, &r, hfov, yaw, pitch);

    /* both cameras: same rotation, the right one a baseline to the right */
    qb_synth_cam_init(&sc->cam[0], W, H, f, ppx, ppy, pos, yaw, pitch, roll);
    const struct v3 right = sc->cam[0].rx;
    qb_synth_cam_init(&sc->cam[1], W, H, f, ppx, ppy, v3_add(pos, v3_scale(right, sc->baseline)), yaw, pitch, roll);

    /* sun visibility of each object: shade patches and other objects' shadows */
    for (int i = 0; i < sc->n_obj; i++)
        sc->obj[i].sun = qb_synth_sun_at(sc, s, sc->obj[i].pos.x, sc->obj[i].pos.z, i);
}
