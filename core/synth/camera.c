/* Pinhole camera (x right, y down, z forward in the camera frame) and ray
 * intersection with the three primitive kinds objects are built from. */
#include "synth_internal.h"

void qb_synth_cam_init(struct qb_synth_cam *c, int w, int h, float f, float cx, float cy, struct v3 pos,
                       float yaw, float pitch, float roll)
{
    const float cyw = cosf(yaw), syw = sinf(yaw), cp = cosf(pitch), sp = sinf(pitch);
    const float cr = cosf(roll), sr = sinf(roll);
    struct v3 fw = v3(syw * cp, sp, cyw * cp);                   /* forward after yaw and pitch */
    struct v3 right0 = v3(cyw, 0, -syw);
    struct v3 up1 = v3(-syw * sp, cp, -cyw * sp);
    struct v3 right = v3_add(v3_scale(right0, cr), v3_scale(up1, -sr));
    struct v3 up = v3_add(v3_scale(up1, cr), v3_scale(right0, sr));

    c->w = w;
    c->h = h;
    c->f = f;
    c->cx = cx;
    c->cy = cy;
    c->pos = pos;
    c->rx = right;
    c->ry = v3_scale(up, -1.0f);
    c->rz = fw;
    c->du = v3_scale(c->rx, 1.0f / f);
    c->dv = v3_scale(c->ry, 1.0f / f);
    c->d00 = v3_sub(c->rz, v3_add(v3_scale(c->du, cx), v3_scale(c->dv, cy)));
}

float qb_synth_cam_to(const struct qb_synth_cam *c, struct v3 p, float *u, float *v)
{
    struct v3 q = v3_sub(p, c->pos);
    float x = v3_dot(q, c->rx), y = v3_dot(q, c->ry), z = v3_dot(q, c->rz);
    if (z > 1e-4f) {
        *u = c->f * x / z + c->cx;
        *v = c->f * y / z + c->cy;
    } else {
        *u = *v = 0;
    }
    return z;
}

static int frustum(const float *g, struct v3 o, struct v3 d, float tmax, float *tout, struct v3 *n)
{
    const float y0 = g[2], y1 = g[3], r0 = g[4], r1 = g[5];
    const float k = (r1 - r0) / (y1 - y0), a = r0 - k * y0;
    const float ox = o.x - g[0], oz = o.z - g[1];
    const float q0 = a + k * o.y, q1 = k * d.y;
    const float A = d.x * d.x + d.z * d.z - q1 * q1;
    const float B = 2.0f * (ox * d.x + oz * d.z - q0 * q1);
    const float C = ox * ox + oz * oz - q0 * q0;
    float best = tmax;
    int hit = 0;

    float roots[2];
    int nr = 0;
    if (fabsf(A) < 1e-9f) {
        if (fabsf(B) > 1e-12f)
            roots[nr++] = -C / B;
    } else {
        float disc = B * B - 4.0f * A * C;
        if (disc >= 0) {
            float s = sqrtf(disc), inv = 0.5f / A;
            float ta = (-B - s) * inv, tb = (-B + s) * inv;
            roots[nr++] = ta < tb ? ta : tb;
            roots[nr++] = ta < tb ? tb : ta;
        }
    }
    for (int i = 0; i < nr; i++) {
        float t = roots[i];
        if (t <= 1e-4f || t >= best)
            continue;
        float y = o.y + t * d.y;
        if (y < y0 || y > y1 || q0 + q1 * t < 0)
            continue;
        best = t;
        hit = 1;
        *n = v3(ox + t * d.x, -k * (a + k * y), oz + t * d.z);
        break;
    }
    /* caps */
    if (fabsf(d.y) > 1e-9f) {
        for (int c = 0; c < 2; c++) {
            const float yc = c ? y0 : y1, rc = c ? r0 : r1;
            if (rc <= 0)
                continue;
            float t = (yc - o.y) / d.y;
            if (t <= 1e-4f || t >= best)
                continue;
            float x = ox + t * d.x, z = oz + t * d.z;
            if (x * x + z * z <= rc * rc) {
                best = t;
                hit = 1;
                *n = v3(0, c ? -1.0f : 1.0f, 0);
            }
        }
    }
    if (hit)
        *tout = best;
    return hit;
}

static int box(const float *g, struct v3 o, struct v3 d, float tmax, float *tout, struct v3 *n)
{
    const float lo[3] = {g[0], g[2], g[4]}, hi[3] = {g[1], g[3], g[5]};
    const float oo[3] = {o.x, o.y, o.z}, dd[3] = {d.x, d.y, d.z};
    float tn = 1e-4f, tf = tmax;
    int axis = -1;
    float sign = 0;
    for (int i = 0; i < 3; i++) {
        if (fabsf(dd[i]) < 1e-12f) {
            if (oo[i] < lo[i] || oo[i] > hi[i])
                return 0;
            continue;
        }
        float inv = 1.0f / dd[i];
        float ta = (lo[i] - oo[i]) * inv, tb = (hi[i] - oo[i]) * inv;
        float s = -1.0f;
        if (ta > tb) {
            float x = ta;
            ta = tb;
            tb = x;
            s = 1.0f;
        }
        if (ta > tn) {
            tn = ta;
            axis = i;
            sign = s;
        }
        if (tb < tf)
            tf = tb;
        if (tn > tf)
            return 0;
    }
    if (axis < 0)
        return 0;   /* the eye is inside the box */
    *tout = tn;
    *n = v3(axis == 0 ? sign : 0, axis == 1 ? sign : 0, axis == 2 ? sign : 0);
    return 1;
}

static int ellipsoid(const float *g, struct v3 o, struct v3 d, float tmax, float *tout, struct v3 *n)
{
    const float ix = 1.0f / g[3], iy = 1.0f / g[4], iz = 1.0f / g[5];
    struct v3 p = v3((o.x - g[0]) * ix, (o.y - g[1]) * iy, (o.z - g[2]) * iz);
    struct v3 q = v3(d.x * ix, d.y * iy, d.z * iz);
    float A = v3_dot(q, q), B = 2.0f * v3_dot(p, q), C = v3_dot(p, p) - 1.0f;
    float disc = B * B - 4.0f * A * C;
    if (disc < 0)
        return 0;
    float t = (-B - sqrtf(disc)) / (2.0f * A);
    if (t <= 1e-4f || t >= tmax)
        return 0;
    *tout = t;
    *n = v3((p.x + t * q.x) * ix, (p.y + t * q.y) * iy, (p.z + t * q.z) * iz);
    return 1;
}

int qb_synth_intersect(const struct qb_synth_prim *p, struct v3 o, struct v3 d, float tmax, float *t, struct v3 *n)
{
    switch ((enum qb_synth_prim_kind)p->kind) {
    case SYN_PRIM_FRUSTUM:
        return frustum(p->g, o, d, tmax, t, n);
    case SYN_PRIM_BOX:
        return box(p->g, o, d, tmax, t, n);
    case SYN_PRIM_ELLIPSOID:
        return ellipsoid(p->g, o, d, tmax, t, n);
    case SYN_PRIM_KIND_COUNT:
        break;
    }
    return 0;
}
