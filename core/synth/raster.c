/* Objects drawn by ray casting inside their screen boxes, far to near, with a
 * z-buffer, supersampled edges, and a cone-id buffer from which the labels come:
 * the box around each cone's visible pixels. */
#include <stdlib.h>

#include "synth_internal.h"

void qb_synth_shade(const struct qb_synth_scene *sc, const float *albedo, const struct qb_synth_mat *m, struct v3 n,
                    struct v3 vd, float sun, float dist, float *out)
{
    const struct qb_synth_light *L = &sc->L;
    const float ndl = maxf(v3_dot(n, L->sun), 0.0f) * sun;
    const float sky = 0.55f + 0.45f * n.y, bounce = 0.5f - 0.5f * n.y;
    float spec = 0, env = 0;
    if (m->spec > 0) {
        const float ndv = maxf(v3_dot(n, vd), 0.0f), fr = 1.0f - ndv, fr2 = fr * fr;
        env = m->spec * (0.04f + 0.5f * fr2 * fr2 * fr);
        if (ndl > 0) {
            float nh = maxf(v3_dot(n, v3_norm(v3_add(L->sun, vd))), 0.0f);
            for (int s = m->shin; s > 1; s >>= 1)
                nh *= nh;
            spec = m->spec * nh * sun;
        }
    }
    const float fog = 1.0f - qb_synth_expneg(dist * L->inv_vis);
    for (int i = 0; i < 3; i++) {
        float c = albedo[i] * (L->sun_rgb[i] * ndl + L->sky_rgb[i] * sky + L->bounce_rgb[i] * bounce) +
                  spec * L->sun_rgb[i] + env * L->sky_rgb[i];
        out[i] = lerpf(c, L->haze_rgb[i], fog);
    }
}

struct item {
    float depth;
    int obj, x0, y0, x1, y1;
};

static int cmp_item(const void *a, const void *b)
{
    const struct item *p = a, *q = b;
    if (p->depth != q->depth)
        return p->depth < q->depth ? 1 : -1;   /* far first */
    return p->obj - q->obj;
}

/* Screen box of an object's bounding cylinder; 0 when it is not in view. */
static int screen_box(const struct qb_synth_cam *cam, const struct qb_synth_obj *o, struct item *it)
{
    float u0 = 1e9f, u1 = -1e9f, v0 = 1e9f, v1 = -1e9f;
    for (int c = 0; c < 8; c++) {
        struct v3 p = v3(o->pos.x + (c & 1 ? o->rad : -o->rad), c & 4 ? o->height : 0.0f,
                         o->pos.z + (c & 2 ? o->rad : -o->rad));
        float u, v;
        if (qb_synth_cam_to(cam, p, &u, &v) < 0.05f)
            return 0;
        u0 = minf(u0, u);
        u1 = maxf(u1, u);
        v0 = minf(v0, v);
        v1 = maxf(v1, v);
    }
    it->x0 = (int)maxf(floorf(u0), 0);
    it->y0 = (int)maxf(floorf(v0), 0);
    it->x1 = (int)minf(ceilf(u1) + 1, (float)cam->w);
    it->y1 = (int)minf(ceilf(v1) + 1, (float)cam->h);
    return it->x0 < it->x1 && it->y0 < it->y1;
}

static const float ss4[4][2] = {{0.375f, 0.125f}, {0.875f, 0.375f}, {0.125f, 0.625f}, {0.625f, 0.875f}};

#define MAX_PRIMS_PER_OBJ 64

struct ctx {
    const struct qb_synth_scene *sc;
    const struct qb_synth_cam *cam;
    const struct qb_synth_obj *o;
    struct v3 lo;                       /* eye in object space */
    int np;
    int pb[MAX_PRIMS_PER_OBJ][4];       /* screen box per prim: x0, y0, x1, y1 */
};

/* One sample at pixel coordinates (x, y): returns the hit key (prim * 16 + pattern
 * cell) or -1, with colour and depth. */
static int sample(const struct ctx *c, float x, float y, float *rgb, float *tout)
{
    const struct qb_synth_obj *o = c->o;
    const struct v3 d = qb_synth_cam_ray(c->cam, x, y);
    const struct v3 dl = v3(d.x * o->cy - d.z * o->sy, d.y, d.x * o->sy + d.z * o->cy);
    const struct qb_synth_prim *prims = &c->sc->prim[o->prim0];
    const int xi = (int)x, yi = (int)y;
    float best = 1e30f, t;
    struct v3 n, bn = v3(0, 1, 0);
    int bp = -1;
    for (int k = 0; k < c->np; k++) {
        const int *b = c->pb[k];
        if (xi < b[0] || xi >= b[2] || yi < b[1] || yi >= b[3])
            continue;
        if (qb_synth_intersect(&prims[k], c->lo, dl, best, &t, &n)) {
            best = t;
            bn = n;
            bp = k;
        }
    }
    if (bp < 0)
        return -1;
    const struct qb_synth_prim *pr = &prims[bp];
    const struct qb_synth_mat *m = &c->sc->mat[pr->mat];
    float alb[3];
    const int cell = qb_synth_mat_albedo(m, pr, v3_add(c->lo, v3_scale(dl, best)), alb);
    bn = v3_norm(bn);
    const struct v3 nw = v3(bn.x * o->cy + bn.z * o->sy, bn.y, -bn.x * o->sy + bn.z * o->cy);
    const float len = sqrtf(v3_dot(d, d));
    qb_synth_shade(c->sc, alb, m, nw, v3_scale(d, -1.0f / len), o->sun, best * len, rgb);
    *tout = best;
    return bp * 16 + (cell & 15);
}

/* Screen box of a prim from its object-space bounds; the object's box if unsure. */
static void prim_box(const struct ctx *c, const struct qb_synth_prim *p, const struct item *it, int *b)
{
    float lo[3], hi[3];
    const float *g = p->g;
    switch ((enum qb_synth_prim_kind)p->kind) {
    case SYN_PRIM_FRUSTUM: {
        const float r = maxf(g[4], g[5]);
        lo[0] = g[0] - r, hi[0] = g[0] + r, lo[1] = g[2], hi[1] = g[3], lo[2] = g[1] - r, hi[2] = g[1] + r;
        break;
    }
    case SYN_PRIM_BOX:
        lo[0] = g[0], hi[0] = g[1], lo[1] = g[2], hi[1] = g[3], lo[2] = g[4], hi[2] = g[5];
        break;
    default:
        lo[0] = g[0] - g[3], hi[0] = g[0] + g[3], lo[1] = g[1] - g[4], hi[1] = g[1] + g[4];
        lo[2] = g[2] - g[5], hi[2] = g[2] + g[5];
        break;
    }
    float u0 = 1e9f, u1 = -1e9f, v0 = 1e9f, v1 = -1e9f;
    const struct qb_synth_obj *o = c->o;
    for (int k = 0; k < 8; k++) {
        const float lx = k & 1 ? hi[0] : lo[0], ly = k & 2 ? hi[1] : lo[1], lz = k & 4 ? hi[2] : lo[2];
        const struct v3 w = v3(o->pos.x + lx * o->cy + lz * o->sy, ly, o->pos.z - lx * o->sy + lz * o->cy);
        float u, v;
        if (qb_synth_cam_to(c->cam, w, &u, &v) < 0.05f) {
            b[0] = it->x0, b[1] = it->y0, b[2] = it->x1, b[3] = it->y1;
            return;
        }
        u0 = minf(u0, u), u1 = maxf(u1, u), v0 = minf(v0, v), v1 = maxf(v1, v);
    }
    b[0] = (int)floorf(u0) - 1, b[1] = (int)floorf(v0) - 1, b[2] = (int)ceilf(u1) + 2, b[3] = (int)ceilf(v1) + 2;
}

struct px {
    float rgb[3], t;
    int key;
};

/* Centre samples first; pixels whose key differs from a neighbour's (silhouette,
 * stripe, other prim) are supersampled 4 more times. */
static void draw_obj(const struct qb_synth_scene *sc, const struct qb_synth_cam *cam, const struct item *it,
                     struct qb_synth_frame *fr)
{
    const struct qb_synth_obj *o = &sc->obj[it->obj];
    const int W = sc->w, bw = it->x1 - it->x0, bh = it->y1 - it->y0;
    struct px *buf = fr->scratch;
    struct ctx c = {.sc = sc, .cam = cam, .o = o, .np = o->nprim < MAX_PRIMS_PER_OBJ ? o->nprim : MAX_PRIMS_PER_OBJ};
    const struct v3 e = v3_sub(cam->pos, o->pos);
    c.lo = v3(e.x * o->cy - e.z * o->sy, e.y, e.x * o->sy + e.z * o->cy);
    for (int k = 0; k < c.np; k++)
        prim_box(&c, &sc->prim[o->prim0 + k], it, c.pb[k]);

    for (int j = 0; j < bh; j++)
        for (int i = 0; i < bw; i++) {
            struct px *q = &buf[j * bw + i];
            q->key = sample(&c, (float)(it->x0 + i) + 0.5f, (float)(it->y0 + j) + 0.5f, q->rgb, &q->t);
        }
    for (int j = 0; j < bh; j++)
        for (int i = 0; i < bw; i++) {
            const struct px *q = &buf[j * bw + i];
            const int key = q->key;
            const int edge = (i == 0 ? -1 : q[-1].key) != key || (i == bw - 1 ? -1 : q[1].key) != key ||
                             (j == 0 ? -1 : q[-bw].key) != key || (j == bh - 1 ? -1 : q[bw].key) != key;
            float acc[3] = {q->rgb[0], q->rgb[1], q->rgb[2]}, tmin = q->t;
            int hits = key >= 0, ns = 1;
            if (!edge && key < 0)
                continue;
            if (edge) {
                if (key < 0)
                    acc[0] = acc[1] = acc[2] = 0, tmin = 1e30f;
                for (int s = 0; s < 4; s++) {
                    float rgb[3], t;
                    if (sample(&c, (float)(it->x0 + i) + ss4[s][0], (float)(it->y0 + j) + ss4[s][1], rgb, &t) < 0)
                        continue;
                    acc[0] += rgb[0], acc[1] += rgb[1], acc[2] += rgb[2];
                    tmin = minf(tmin, t);
                    hits++;
                }
                ns = 5;
                if (!hits)
                    continue;
            }
            const float cov = (float)hits / (float)ns;
            const size_t p = (size_t)(it->y0 + j) * W + (size_t)(it->x0 + i);
            if (o->cone && 2 * hits >= ns)
                fr->cover[o->cone]++;
            if (tmin >= fr->zbuf[p])
                continue;
            float *px = &fr->rgb[p * 3];
            for (int k = 0; k < 3; k++)
                px[k] = px[k] * (1.0f - cov) + acc[k] / (float)hits * cov;
            if (2 * hits >= ns) {
                fr->zbuf[p] = tmin;
                fr->id[p] = (uint16_t)o->cone;
            }
        }
}

size_t qb_synth_scratch_size(int w, int h)
{
    return sizeof(struct px) * (size_t)(w + 2) * (size_t)(h + 2);
}

int qb_synth_draw_objects(const struct qb_synth_scene *sc, int view, struct qb_synth_frame *fr)
{
    const struct qb_synth_cam *cam = &sc->cam[view];
    struct item *items = malloc(sizeof(*items) * (size_t)(sc->n_obj ? sc->n_obj : 1));
    int n = 0;
    if (!items)
        return -1;
    for (int k = 0; k < sc->n_obj; k++) {
        struct item it = {.obj = k};
        float u, v;
        it.depth = qb_synth_cam_to(cam, sc->obj[k].pos, &u, &v);
        if (screen_box(cam, &sc->obj[k], &it))
            items[n++] = it;
    }
    qsort(items, (size_t)n, sizeof(*items), cmp_item);
    for (int k = 0; k < n; k++)
        draw_obj(sc, cam, &items[k], fr);
    free(items);
    return 0;
}

int qb_synth_labels(const struct qb_synth_scene *sc, int view, const struct qb_synth_frame *fr,
                    struct qb_synth_view *out)
{
    const int W = sc->w, H = sc->h, nc = sc->n_cones;
    const struct qb_synth_cam *cam = &sc->cam[view];
    int *bb = malloc(sizeof(int) * 5 * (size_t)(nc + 1));   /* x0, y0, x1, y1, count */
    out->n_boxes = 0;
    if (!bb)
        return -1;
    for (int k = 0; k <= nc; k++) {
        bb[5 * k] = bb[5 * k + 1] = 1 << 30;
        bb[5 * k + 2] = bb[5 * k + 3] = -1;
        bb[5 * k + 4] = 0;
    }
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            const int k = fr->id[(size_t)j * W + i];
            if (!k)
                continue;
            int *b = &bb[5 * k];
            if (i < b[0])
                b[0] = i;
            if (j < b[1])
                b[1] = j;
            if (i > b[2])
                b[2] = i;
            if (j > b[3])
                b[3] = j;
            b[4]++;
        }
    for (int k = 0; k < sc->n_obj && out->n_boxes < QB_SYNTH_MAX_BOXES; k++) {
        const struct qb_synth_obj *o = &sc->obj[k];
        if (!o->cone)
            continue;
        const int *b = &bb[5 * o->cone];
        if (b[4] == 0)
            continue;
        const int bw = b[2] - b[0] + 1, bh = b[3] - b[1] + 1;
        const float occl = fr->cover[o->cone] > 0 ? 1.0f - (float)b[4] / (float)fr->cover[o->cone] : 0.0f;
        if (bh < SYN_MIN_BOX_H || bw < 2 || occl > 0.7f)
            continue;
        /* cut by the image border: keep it while a third of its height and width show */
        if (b[0] == 0 || b[1] == 0 || b[2] == W - 1 || b[3] == H - 1) {
            float ut, vt, ub, vb;
            const float zt = qb_synth_cam_to(cam, v3_add(o->pos, v3(0, o->height, 0)), &ut, &vt);
            const float zb = qb_synth_cam_to(cam, o->pos, &ub, &vb);
            const float full_h = vb - vt, full_w = 2.0f * o->shadow_r * cam->f / maxf(zb, 0.05f);
            if (zt <= 0.05f || zb <= 0.05f || (float)bh < 0.35f * full_h || (float)bw < 0.35f * full_w)
                continue;
        }
        struct qb_synth_box *x = &out->boxes[out->n_boxes++];
        x->cls = o->cls;
        x->cone = o->cone;
        x->cx = ((float)b[0] + 0.5f * (float)bw) / (float)W;
        x->cy = ((float)b[1] + 0.5f * (float)bh) / (float)H;
        x->w = (float)bw / (float)W;
        x->h = (float)bh / (float)H;
        {
            float u, v;
            x->depth = qb_synth_cam_to(cam, o->pos, &u, &v);
        }
        x->occluded = occl;
    }
    free(bb);
    return 0;
}
