/* Everything behind the objects: sky with clouds and sun, a horizon backdrop (trees,
 * buildings, grandstands), and the ground (asphalt with grain, cracks, patches and
 * paint; gravel; grass), lit by sun and sky, with soft shadows of the objects. */
#include <stdlib.h>

#include "synth_internal.h"

#define CLOUD_HEIGHT 1500.0f

static float fast_atan2(float y, float x)
{
    const float ax = fabsf(x), ay = fabsf(y);
    const float mn = minf(ax, ay), mx = maxf(ax, ay);
    const float a = mx > 0 ? mn / mx : 0, s = a * a;
    float r = ((-0.0464964749f * s + 0.15931422f) * s - 0.327622764f) * s * a + a;
    if (ay > ax)
        r = 0.5f * SYN_PI - r;
    if (x < 0)
        r = SYN_PI - r;
    return y < 0 ? -r : r;
}

static inline void tex_uv(const struct qb_synth_ground *G, float x, float z, float *u, float *v)
{
    *u = G->rot_c * x - G->rot_s * z + G->off_u;
    *v = G->rot_s * x + G->rot_c * z + G->off_v;
}

static inline float patch_shade(const struct qb_synth_light *L, float field)
{
    return L->shadow_patches > 1.5f ? 0.0f : smoothk(L->shadow_patches - 0.04f, 12.5f, field);
}

/* Shadow of object o at ground point (x, z): coverage 0..1, and contact occlusion. */
static float shadow_cover(const struct qb_synth_scene *sc, const struct qb_synth_obj *o, float x, float z, float *ao)
{
    const struct v3 sun = sc->L.sun;
    const float dx = x - o->pos.x, dz = z - o->pos.z, ex = o->cy, ez = -o->sy, hl = o->shadow_hl;
    const float s0 = clampf(dx * ex + dz * ez, -hl, hl);
    const float qx = dx - s0 * ex, qz = dz - s0 * ez, d0 = sqrtf(qx * qx + qz * qz);
    *ao = 1.0f - smooth01(o->shadow_r * 0.9f, o->shadow_r * 2.5f + 0.12f, d0);
    if (sc->L.shadow_k <= 0 || sun.y <= 0.02f)
        return 0;
    const float Wx = -o->shadow_h * sun.x / sun.y, Wz = -o->shadow_h * sun.z / sun.y, WW = Wx * Wx + Wz * Wz;
    float s = s0, t = 0;
    for (int it = 0; it < 2; it++) {
        t = WW > 1e-8f ? clampf(((dx - s * ex) * Wx + (dz - s * ez) * Wz) / WW, 0.0f, 1.0f) : 0.0f;
        s = clampf((dx - t * Wx) * ex + (dz - t * Wz) * ez, -hl, hl);
    }
    const float rx = dx - s * ex - t * Wx, rz = dz - s * ez - t * Wz;
    const float rad = lerpf(o->shadow_r, o->shadow_rt, t), pen = 0.012f + 0.012f * t * sqrtf(WW);
    return 1.0f - smooth01(rad - pen, rad + pen, sqrtf(rx * rx + rz * rz));
}

float qb_synth_sun_at(const struct qb_synth_scene *sc, const struct qb_synth *s, float x, float z, int self)
{
    float u, v, m[4], sun, ao;
    tex_uv(&sc->G, x, z, &u, &v);
    qb_synth_tex_sample(&s->tex[SYN_TEX_MACRO], u, v, 0.3f, -1.0f, m);
    sun = 1.0f - patch_shade(&sc->L, m[2]);
    for (int i = 0; i < sc->n_obj && sun > 0; i++)
        if (i != self && sc->obj[i].shadow_h > 0 && sc->obj[i].height > 0.6f)
            sun *= 1.0f - shadow_cover(sc, &sc->obj[i], x, z, &ao);
    return sun;
}

static void sky(const struct qb_synth_scene *sc, const struct qb_synth *s, struct v3 d, float len, float f, float dz,
                float *out)
{
    const struct qb_synth_light *L = &sc->L;
    const float e = d.y / len, t = sqrtf(clampf(e, 0.0f, 1.0f));
    const float c = v3_dot(d, L->sun) / len;
    float cl = 0;
    for (int i = 0; i < 3; i++)
        out[i] = lerpf(L->horizon[i], L->zenith[i], t);
    if (e > 0.003f && L->cloud_cover > 0.01f) {
        const float tc = CLOUD_HEIGHT / d.y;
        const float fp = tc / f * sqrtf(len / d.y);
        float dens = qb_synth_tex_sample1(&s->tex[SYN_TEX_CLOUD], tc * d.x + 7.0f * sc->G.off_u,
                                          tc * d.z + 7.0f * sc->G.off_v, fp, dz);
        const float th = 1.0f - L->cloud_cover;
        cl = smooth01(th, th + L->cloud_soft, dens) * smooth01(0.003f, 0.08f, e);
        const float shade = 1.0f - L->cloud_shade * smooth01(th, 1.0f, dens);
        for (int i = 0; i < 3; i++)
            out[i] = lerpf(out[i], L->cloud_rgb[i] * shade, cl);
    }
    if (c > 0) {
        float c2 = c * c, c4 = c2 * c2, c8 = c4 * c4, c16 = c8 * c8, c64 = c16 * c16 * c16 * c16;
        float glow = L->sunny ? (0.12f * c8 + 0.6f * c64 * c64 * c64 * c64) * (1.0f - 0.7f * cl) : 0.1f * c4;
        if (L->sunny && c > 0.99997f)
            glow += 25.0f * (1.0f - cl);
        for (int i = 0; i < 3; i++)
            out[i] += L->sun_rgb[i] * glow;
    }
}

/* Backdrop wall at bd_dist; returns 1 and the colour when the ray hits it. */
static int backdrop(const struct qb_synth_scene *sc, const struct qb_synth *s, struct v3 d, float lxz, float f,
                    float dz, float *out)
{
    const struct qb_synth_ground *G = &sc->G;
    const struct qb_synth_light *L = &sc->L;
    const float tw = G->bd_dist / lxz, yw = sc->cam_h + tw * d.y;
    if (yw < 0)
        return 0;
    const float az = fast_atan2(d.x, d.z);
    const float fb = (az + SYN_PI) * (float)SYN_BD_BINS / (2.0f * SYN_PI);
    int i0 = (int)fb;
    const float fr = fb - (float)i0;
    i0 &= SYN_BD_BINS - 1;
    const int kind = G->bd_kind[i0];
    const float h = kind == 1 ? lerpf(G->bd_h[i0], G->bd_h[(i0 + 1) & (SYN_BD_BINS - 1)], fr) : G->bd_h[i0];
    if (yw >= h)
        return 0;
    const float arc = az * G->bd_dist, fp = G->bd_dist / f;
    const float lit = 0.7f + 0.6f * maxf(L->sun.y, 0.0f);
    float a[3];
    for (int i = 0; i < 3; i++)
        a[i] = G->bd_rgb[kind][i];
    if (kind == 1) {
        float n = qb_synth_tex_sample1(&s->tex[SYN_TEX_GRASS], arc * 0.03f, yw * 0.03f, fp * 0.03f, dz);
        float k = n * (0.6f + 0.4f * smooth01(0.0f, h, yw));
        for (int i = 0; i < 3; i++)
            a[i] *= k;
    } else if (kind == 2) {
        float k = 0.7f + 0.6f * qb_synth_hash3(3u, i0 / 24, 0, 0);
        int win = fmodf(yw, 3.2f) > 1.1f && fmodf(arc + 1000.0f, 3.0f) < 1.7f;
        for (int i = 0; i < 3; i++)
            a[i] = win ? 0.04f : a[i] * k * (yw > h - 0.5f ? 0.5f : 1.0f);
    } else if (kind == 3) {   /* grandstand: roof, rows of seats, a thin crowd */
        const float row = fmodf(yw, 0.8f);
        const float hsh = qb_synth_hash3(5u, (int)floorf(arc * 2.0f), (int)floorf(yw * 1.25f), 0);
        float k = row < 0.35f ? 0.7f : 1.0f;
        if (yw > h - 1.0f)
            k = 0.35f;
        else if (hsh > 0.7f)
            k = 0.5f + 1.2f * (hsh - 0.7f) * 3.0f;
        for (int i = 0; i < 3; i++)
            a[i] *= k;
    }
    const float fog = 1.0f - qb_synth_expneg(G->bd_dist * L->inv_vis);
    for (int i = 0; i < 3; i++)
        out[i] = lerpf(a[i] * (L->sky_rgb[i] + L->sun_rgb[i] * 0.35f) * lit, L->haze_rgb[i], fog);
    return 1;
}

/* The slowly varying part of the ground, evaluated once per block of pixels:
 * footprint, macro fields, material weights, sheen and aerial perspective. */
struct ground_lf {
    int ground;                 /* 0: not evaluated (the block centre sees sky) */
    float fp, ifp, lfp;
    float m[4], t_gravel, t_grass, sheen, fog, shade;
};

static void ground_lf(const struct qb_synth_scene *sc, const struct qb_synth *s, const struct qb_synth_cam *cam,
                      struct v3 d, float dz, struct ground_lf *q)
{
    const struct qb_synth_ground *G = &sc->G;
    const struct qb_synth_light *L = &sc->L;
    const float len = sqrtf(v3_dot(d, d));
    q->ground = 1;
    const float idy = -1.0f / d.y, tg = cam->pos.y * idy;
    const float x = cam->pos.x + tg * d.x, z = cam->pos.z + tg * d.z;
    float u, v;
    q->fp = tg / cam->f * sqrtf(len * idy);
    q->ifp = 1.0f / q->fp;
    q->lfp = qb_synth_log2f(q->fp);
    tex_uv(G, x, z, &u, &v);
    qb_synth_tex_fetch(&s->tex[SYN_TEX_MACRO], qb_synth_tex_level(&s->tex[SYN_TEX_MACRO], q->lfp, dz), u, v, q->m);

    float sd = -1e9f, gw = 0;
    for (int k = 0; k < G->n_edges; k++) {
        float e = G->edge_nx[k] * x + G->edge_nz[k] * z - G->edge_c[k] + 1.5f * q->m[1];
        if (e > sd) {
            sd = e;
            gw = G->edge_gravel[k];
        }
    }
    const float wb = 0.15f + q->fp, iw = 0.5f / wb;
    q->t_gravel = gw > 0 && sd > -wb ? smoothk(-wb, iw, sd) : 0.0f;
    q->t_grass = sd > gw - wb ? smoothk(gw - wb, iw, sd) : 0.0f;
    /* glossy asphalt towards a low sun */
    const float c = (d.x * L->sun.x - d.y * L->sun.y + d.z * L->sun.z) / len;
    q->sheen = 0;
    if (c > 0.88f) {
        float k = (c - 0.88f) * (1.0f / 0.12f);
        k *= k;
        q->sheen = 0.3f * G->sheen * k * k * (1.0f - q->t_grass);
    }
    q->fog = 1.0f - qb_synth_expneg(tg * len * L->inv_vis);
    q->shade = patch_shade(L, q->m[2]);
}

/* Ground colour at (x, z) with the block's slow terms q and this pixel's details. */
static void ground_px(const struct qb_synth_scene *sc, const struct qb_synth *s, const struct ground_lf *q, float x,
                      float z, float dz, float *out)
{
    const struct qb_synth_ground *G = &sc->G;
    const struct qb_synth_light *L = &sc->L;
    const struct qb_synth_tex *tx = s->tex;
    float u, v, a[3];
    tex_uv(G, x, z, &u, &v);
    if (q->t_grass < 1.0f) {
        float det, cr[2] = {0, 0};
        qb_synth_tex_fetch(&tx[SYN_TEX_ASPHALT], qb_synth_tex_level(&tx[SYN_TEX_ASPHALT], q->lfp, dz), u, v, &det);
        if (G->crack_amt > 0 || G->patch_amt != 0)
            qb_synth_tex_fetch(&tx[SYN_TEX_CRACKS], qb_synth_tex_level(&tx[SYN_TEX_CRACKS], q->lfp, dz), u, v, cr);
        const float k = det * (1.0f + G->asphalt_var * q->m[0]) * (1.0f - 0.75f * G->crack_amt * cr[0]) *
                        (1.0f + G->patch_amt * cr[1]);
        for (int i = 0; i < 3; i++)
            a[i] = G->asphalt[i] * k;
        if (G->paint) {
            const float p = (G->paint_c * x + G->paint_s * z + G->paint_off) * G->paint_isp;
            const float dd = fabsf(p - floorf(p + 0.5f)) * G->paint_sp;
            float cov = clampf((0.5f * G->paint_w - dd) * q->ifp + 0.5f, 0.0f, 1.0f);
            if (cov > 0) {
                cov *= clampf(1.0f - G->paint_wear * (0.6f + 0.5f * q->m[0]) * (1.6f - det), 0.0f, 1.0f);
                for (int i = 0; i < 3; i++)
                    a[i] = lerpf(a[i], G->paint_rgb[i] * det, cov);
            }
        }
        if (q->t_gravel > 0) {
            float g;
            qb_synth_tex_fetch(&tx[SYN_TEX_GRAVEL], qb_synth_tex_level(&tx[SYN_TEX_GRAVEL], q->lfp, dz), u, v, &g);
            for (int i = 0; i < 3; i++)
                a[i] = lerpf(a[i], G->gravel[i] * g, q->t_gravel);
        }
    } else {
        a[0] = a[1] = a[2] = 0;
    }
    if (q->t_grass > 0) {
        float g;
        qb_synth_tex_fetch(&tx[SYN_TEX_GRASS], qb_synth_tex_level(&tx[SYN_TEX_GRASS], q->lfp, dz), u, v, &g);
        const float dry = smooth01(-0.2f, 0.8f, q->m[3]);
        for (int i = 0; i < 3; i++)
            a[i] = lerpf(a[i], lerpf(G->grass[i], G->grass_dry[i], dry) * g, q->t_grass);
    }
    for (int i = 0; i < 3; i++) {
        float c = a[i] * L->ground_lit[i] + q->sheen * L->sun_rgb[i];
        out[i] = lerpf(c, L->haze_rgb[i], q->fog);
    }
}

/* Screen box of the ground rectangle [x0, x1] x [z0, z1], clipped to the part in
 * front of the camera; 0 when none of it is. */
static int ground_rect_box(const struct qb_synth_cam *cam, float x0, float x1, float z0, float z1, float *u0,
                           float *u1, float *v0, float *v1)
{
    const float near = 0.1f;
    struct v3 poly[4] = {v3(x0, 0, z0), v3(x1, 0, z0), v3(x1, 0, z1), v3(x0, 0, z1)};
    float dz[4];
    int n = 0;
    *u0 = *v0 = 1e9f;
    *u1 = *v1 = -1e9f;
    for (int k = 0; k < 4; k++)
        dz[k] = v3_dot(v3_sub(poly[k], cam->pos), cam->rz) - near;
    for (int k = 0; k < 4; k++) {
        const int l = (k + 1) & 3;
        struct v3 pts[2];
        int m = 0;
        if (dz[k] >= 0)
            pts[m++] = poly[k];
        if ((dz[k] >= 0) != (dz[l] >= 0)) {
            const float t = dz[k] / (dz[k] - dz[l]);
            pts[m++] = v3_add(poly[k], v3_scale(v3_sub(poly[l], poly[k]), t));
        }
        for (int q = 0; q < m; q++) {
            float u, v;
            qb_synth_cam_to(cam, pts[q], &u, &v);
            *u0 = minf(*u0, u);
            *u1 = maxf(*u1, u);
            *v0 = minf(*v0, v);
            *v1 = maxf(*v1, v);
            n++;
        }
    }
    return n > 0;
}

static void object_shadows(const struct qb_synth_scene *sc, int view, float *rgb, float *mask)
{
    const struct qb_synth_cam *cam = &sc->cam[view];
    const int W = sc->w, H = sc->h;
    for (int k = 0; k < sc->n_obj; k++) {
        const struct qb_synth_obj *o = &sc->obj[k];
        if (o->shadow_h <= 0)
            continue;
        /* ground rectangle holding shadow and contact darkening */
        float W_x = 0, W_z = 0;
        if (sc->L.shadow_k > 0 && sc->L.sun.y > 0.02f) {
            W_x = -o->shadow_h * sc->L.sun.x / sc->L.sun.y;
            W_z = -o->shadow_h * sc->L.sun.z / sc->L.sun.y;
        }
        const float ex = o->cy * o->shadow_hl, ez = -o->sy * o->shadow_hl;
        const float m = maxf(o->shadow_r, o->shadow_rt) * 2.5f + 0.2f;
        const float x0 = o->pos.x - fabsf(ex) + minf(W_x, 0) - m, x1 = o->pos.x + fabsf(ex) + maxf(W_x, 0) + m;
        const float z0 = o->pos.z - fabsf(ez) + minf(W_z, 0) - m, z1 = o->pos.z + fabsf(ez) + maxf(W_z, 0) + m;
        float u0, u1, v0, v1;
        if (!ground_rect_box(cam, x0, x1, z0, z1, &u0, &u1, &v0, &v1))
            continue;
        const int ia = (int)maxf(u0 - 1, 0), ib = (int)minf(u1 + 2, (float)W);
        const int ja = (int)maxf(v0 - 1, 0), jb = (int)minf(v1 + 2, (float)H);
        for (int j = ja; j < jb; j++)
            for (int i = ia; i < ib; i++) {
                float *mk = &mask[(size_t)j * W + i], ao;
                if (*mk < 0)
                    continue;   /* sky or backdrop */
                const struct v3 d = qb_synth_cam_ray(cam, (float)i + 0.5f, (float)j + 0.5f);
                if (d.y >= -1e-6f)
                    continue;
                const float t = -cam->pos.y / d.y, gx = cam->pos.x + t * d.x, gz = cam->pos.z + t * d.z;
                if (gx < x0 || gx > x1 || gz < z0 || gz > z1)
                    continue;
                const float cv = shadow_cover(sc, o, gx, gz, &ao);
                if (cv > *mk)
                    *mk = cv;
                if (ao > 0) {
                    float *p = &rgb[((size_t)j * W + i) * 3], dk = 1.0f - 0.5f * ao * (1.0f - 0.5f * sc->L.shadow_k);
                    p[0] *= dk;
                    p[1] *= dk;
                    p[2] *= dk;
                }
            }
    }
}

#define SKY_STEP 4
#define LF_STEP 4   /* ground_lf once per LF_STEP x LF_STEP pixels */

/* Sky colour on a grid of every SKY_STEP-th pixel corner, filled a row at a time
 * when first needed; pixels interpolate it (the sky has no sharp detail). */
struct sky_grid {
    int gw, gh;
    float *rgb;
    uint8_t *done;
};

static const float *sky_row(const struct qb_synth_scene *sc, const struct qb_synth *s, const struct qb_synth_cam *cam,
                            struct sky_grid *g, int gj)
{
    float *row = &g->rgb[(size_t)gj * g->gw * 3];
    if (!g->done[gj]) {
        for (int gi = 0; gi < g->gw; gi++) {
            const struct v3 d = qb_synth_cam_ray(cam, (float)(gi * SKY_STEP), (float)(gj * SKY_STEP));
            sky(sc, s, d, sqrtf(v3_dot(d, d)), cam->f, 0.5f, &row[gi * 3]);
        }
        g->done[gj] = 1;
    }
    return row;
}

int qb_synth_draw_background(const struct qb_synth_scene *sc, const struct qb_synth *s, int view, float *rgb,
                             float *mask)
{
    const struct qb_synth_cam *cam = &sc->cam[view];
    const int W = sc->w, H = sc->h;
    const float ch = cam->pos.y, bd = sc->G.bd_dist, bd2 = bd * bd;
    /* rays steeper than this clear every backdrop */
    const float bd_slope = (sc->G.bd_max - ch) / bd;
    const uint32_t dseed = (uint32_t)qb_synth_mix64(sc->seed + 0x6d6970ull + (uint64_t)view);
    struct sky_grid g = {.gw = W / SKY_STEP + 2, .gh = H / SKY_STEP + 2};
    g.rgb = malloc(sizeof(float) * 3 * (size_t)g.gw * (size_t)g.gh);
    g.done = calloc((size_t)g.gh, 1);
    if (!g.rgb || !g.done) {
        free(g.rgb);
        free(g.done);
        return -1;
    }
    for (int bj = 0; bj < H; bj += LF_STEP)
        for (int bi = 0; bi < W; bi += LF_STEP) {
            struct ground_lf blk, own;
            const struct v3 dc = qb_synth_cam_ray(cam, (float)bi + 0.5f * LF_STEP, (float)bj + 0.5f * LF_STEP);
            blk.ground = dc.y < -1e-6f;
            if (blk.ground)
                ground_lf(sc, s, cam, dc, qb_synth_dither(dseed ^ 0x5bd1e995u, bi, bj), &blk);
            for (int j = bj; j < bj + LF_STEP && j < H; j++)
                for (int i = bi; i < bi + LF_STEP && i < W; i++) {
                    const struct v3 d = qb_synth_cam_ray(cam, (float)i + 0.5f, (float)j + 0.5f);
                    float *out = &rgb[((size_t)j * W + i) * 3];
                    float *mk = &mask[(size_t)j * W + i];
                    const float lxz2 = d.x * d.x + d.z * d.z, dz = qb_synth_dither(dseed, i, j);
                    const int is_ground = d.y < -1e-6f;
                    const float tg = is_ground ? -ch / d.y : 1e30f;
                    *mk = -1.0f;
                    if ((is_ground ? tg * tg * lxz2 > bd2 : bd_slope > 0 && d.y * d.y < bd_slope * bd_slope * lxz2) &&
                        backdrop(sc, s, d, sqrtf(lxz2), cam->f, dz, out))
                        continue;
                    if (is_ground) {
                        const struct ground_lf *q = &blk;
                        if (!blk.ground) {   /* the block straddles the horizon */
                            ground_lf(sc, s, cam, d, dz, &own);
                            q = &own;
                        }
                        ground_px(sc, s, q, cam->pos.x + tg * d.x, cam->pos.z + tg * d.z, dz, out);
                        *mk = q->shade;
                    } else {
                        const int gi = i / SKY_STEP, gj = j / SKY_STEP;
                        const float fx = ((float)(i % SKY_STEP) + 0.5f) * (1.0f / SKY_STEP);
                        const float fy = ((float)(j % SKY_STEP) + 0.5f) * (1.0f / SKY_STEP);
                        const float *r0 = sky_row(sc, s, cam, &g, gj) + gi * 3;
                        const float *r1 = sky_row(sc, s, cam, &g, gj + 1) + gi * 3;
                        for (int c = 0; c < 3; c++) {
                            const float top = lerpf(r0[c], r0[c + 3], fx), bot = lerpf(r1[c], r1[c + 3], fx);
                            out[c] = lerpf(top, bot, fy);
                        }
                    }
                }
        }
    free(g.rgb);
    free(g.done);
    object_shadows(sc, view, rgb, mask);
    const float k = sc->L.shadow_k;
    if (k > 0)
        for (size_t p = 0; p < (size_t)W * H; p++)
            if (mask[p] > 0) {
                const float m = 1.0f - k * mask[p];
                rgb[p * 3] *= m;
                rgb[p * 3 + 1] *= m;
                rgb[p * 3 + 2] *= m;
            }
    return 0;
}
