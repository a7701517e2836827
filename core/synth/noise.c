/* Tileable procedural textures (value noise fbm, cellular pebbles, crack lines)
 * built once per context, mip-mapped and sampled trilinearly in world metres. */
#include <stdlib.h>
#include <string.h>

#include "synth_internal.h"

/* Periodic value noise on a cells x cells lattice at (x, y) in cell units. */
static float vnoise(const float *lat, int cells, float x, float y)
{
    float fx = floorf(x), fy = floorf(y);
    int x0 = (int)fx, y0 = (int)fy;
    float tx = x - fx, ty = y - fy;
    int xa = ((x0 % cells) + cells) % cells, ya = ((y0 % cells) + cells) % cells;
    int xb = (xa + 1) % cells, yb = (ya + 1) % cells;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    float a = lerpf(lat[ya * cells + xa], lat[ya * cells + xb], tx);
    float b = lerpf(lat[yb * cells + xa], lat[yb * cells + xb], tx);
    return lerpf(a, b, ty);
}

/* Adds amp * fbm (octaves from c0 cells, doubling, gain 0.5) in [-1, 1] to out (stride ch). */
static int add_fbm(float *out, int n, int ch, int c0, int octaves, float amp, struct qb_synth_rng *r)
{
    float a = amp, norm = 0;
    for (int o = 0; o < octaves; o++)
        norm += 1.0f / (float)(1 << o);
    for (int o = 0, cells = c0; o < octaves && cells <= n; o++, cells *= 2, a *= 0.5f) {
        float *lat = malloc(sizeof(float) * (size_t)cells * (size_t)cells);
        if (!lat)
            return -1;
        for (int i = 0; i < cells * cells; i++)
            lat[i] = 2.0f * qb_synth_rng_unif(r) - 1.0f;
        const float k = (float)cells / (float)n;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                out[((size_t)y * n + x) * ch] += a / norm * vnoise(lat, cells, (float)x * k, (float)y * k);
        free(lat);
    }
    return 0;
}

/* Cellular texture: one stone per cell of `cell` texels; value = stone shade or gap. */
static void pebbles(float *out, int n, int cell, float radius, float gap_dark, uint32_t seed, float amp)
{
    const int cells = n / cell;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            int cx = x / cell, cy = y / cell;
            float best = 1e9f, shade = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int gx = cx + dx, gy = cy + dy;
                    int wx = (gx + cells) % cells, wy = (gy + cells) % cells;
                    float px = ((float)gx + qb_synth_hash3(seed, wx, wy, 0)) * (float)cell;
                    float py = ((float)gy + qb_synth_hash3(seed, wx, wy, 1)) * (float)cell;
                    float rr = radius * (float)cell * (0.6f + 0.8f * qb_synth_hash3(seed, wx, wy, 2));
                    float d = sqrtf(((float)x - px) * ((float)x - px) + ((float)y - py) * ((float)y - py)) / rr;
                    if (d < best) {
                        best = d;
                        shade = 2.0f * qb_synth_hash3(seed, wx, wy, 3) - 1.0f;
                    }
                }
            out[(size_t)y * n + x] += best < 1.0f ? amp * shade * (1.0f - 0.3f * best) : -gap_dark;
        }
}

static void rect_patches(float *out, int n, int ch, int count, struct qb_synth_rng *r)
{
    for (int k = 0; k < count; k++) {
        int w = (int)qb_synth_rng_range(r, 0.04f * (float)n, 0.18f * (float)n);
        int h = (int)qb_synth_rng_range(r, 0.03f * (float)n, 0.12f * (float)n);
        int x0 = qb_synth_rng_int(r, n), y0 = qb_synth_rng_int(r, n);
        float v = qb_synth_rng_range(r, 0.4f, 1.0f);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[((size_t)((y0 + y) % n) * n + (size_t)((x0 + x) % n)) * ch] = v;
    }
}

static void normalise(float *t, size_t count, int ch, int c, float mean_to, float lo, float hi)
{
    double sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += t[i * ch + c];
    float shift = mean_to - (float)(sum / (double)count);
    for (size_t i = 0; i < count; i++)
        t[i * ch + c] = clampf(t[i * ch + c] + shift, lo, hi);
}

static int fill(struct qb_synth_tex *t, enum qb_synth_tex_id id, struct qb_synth_rng *r, uint32_t hseed)
{
    const int n = t->n, ch = t->ch;
    const size_t count = (size_t)n * n;
    float *a = t->lv[0];
    int rc = 0;

    switch (id) {
    case SYN_TEX_ASPHALT:
        rc |= add_fbm(a, n, 1, 128, 3, 0.22f, r);
        rc |= add_fbm(a, n, 1, 8, 4, 0.10f, r);
        pebbles(a, n, 4, 0.45f, 0.10f, hseed, 0.30f);
        normalise(a, count, 1, 0, 1.0f, 0.25f, 2.0f);
        break;
    case SYN_TEX_CRACKS: {
        float *warp = calloc(count, sizeof(float));
        float *ridge = calloc(count, sizeof(float));
        if (!warp || !ridge) {
            free(warp);
            free(ridge);
            return -1;
        }
        rc |= add_fbm(warp, n, 1, 8, 3, 6.0f, r);
        rc |= add_fbm(ridge, n, 1, 6, 5, 1.0f, r);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                /* ridges of |noise| near zero, read through a warped lookup */
                int wx = (x + (int)warp[(size_t)y * n + x] + n) % n;
                int wy = (y + (int)warp[(size_t)x * n + y] + n) % n;
                float v = fabsf(ridge[(size_t)wy * n + wx]);
                a[((size_t)y * n + x) * ch] = 1.0f - smooth01(0.0f, 0.025f, v);
            }
        free(warp);
        free(ridge);
        rect_patches(a + 1, n, ch, 7, r);
        break;
    }
    case SYN_TEX_GRASS:
        rc |= add_fbm(a, n, 1, 64, 3, 0.55f, r);
        rc |= add_fbm(a, n, 1, 4, 4, 0.30f, r);
        normalise(a, count, 1, 0, 1.0f, 0.2f, 2.2f);
        break;
    case SYN_TEX_GRAVEL:
        pebbles(a, n, 3, 0.55f, 0.35f, hseed ^ 0x5555u, 0.35f);
        rc |= add_fbm(a, n, 1, 8, 3, 0.12f, r);
        normalise(a, count, 1, 0, 1.0f, 0.2f, 2.2f);
        break;
    case SYN_TEX_MACRO:
        for (int c = 0; c < ch; c++)
            rc |= add_fbm(a + c, n, ch, 4, 6, 1.6f, r);
        for (size_t i = 0; i < count * (size_t)ch; i++)
            a[i] = clampf(a[i], -1.0f, 1.0f);
        break;
    case SYN_TEX_CLOUD:
        rc |= add_fbm(a, n, 1, 4, 6, 1.4f, r);
        for (size_t i = 0; i < count; i++)
            a[i] = clampf(0.5f + 0.5f * a[i], 0.0f, 1.0f);
        break;
    case SYN_TEX_COUNT:
        return -1;
    }
    return rc;
}

static const struct {
    int n, ch;
    float texel;
} tex_spec[SYN_TEX_COUNT] = {
    [SYN_TEX_ASPHALT] = {512, 1, 0.012f},
    [SYN_TEX_CRACKS] = {512, 2, 0.035f},
    [SYN_TEX_GRASS] = {256, 1, 0.014f},
    [SYN_TEX_GRAVEL] = {256, 1, 0.009f},
    [SYN_TEX_MACRO] = {256, 4, 0.5f},
    [SYN_TEX_CLOUD] = {256, 1, 24.0f},
};

int qb_synth_tex_build(struct qb_synth_tex *t, enum qb_synth_tex_id id, uint64_t seed)
{
    struct qb_synth_rng r;
    memset(t, 0, sizeof(*t));
    t->n = tex_spec[id].n;
    t->ch = tex_spec[id].ch;
    t->texel = tex_spec[id].texel;
    t->log2_texel = log2f(t->texel);
    qb_synth_rng_seed(&r, qb_synth_mix64(seed ^ (0x7e57ull << 32) ^ (uint64_t)id));
    for (int m = t->n; m >= 1 && t->levels < QB_SYNTH_TEX_MAXLV; m /= 2) {
        t->inv[t->levels] = (float)m / ((float)t->n * t->texel);
        t->lv[t->levels] = calloc((size_t)m * m * t->ch, sizeof(float));
        if (!t->lv[t->levels++])
            return -1;
    }
    if (fill(t, id, &r, (uint32_t)qb_synth_mix64(seed + (uint64_t)id)) != 0)
        return -1;
    for (int l = 1; l < t->levels; l++) {
        const int m = t->n >> l, pm = m * 2, ch = t->ch;
        const float *s = t->lv[l - 1];
        float *d = t->lv[l];
        for (int y = 0; y < m; y++)
            for (int x = 0; x < m; x++)
                for (int c = 0; c < ch; c++) {
                    const size_t i00 = ((size_t)(2 * y) * pm + 2 * x) * ch + c;
                    d[((size_t)y * m + x) * ch + c] =
                        0.25f * (s[i00] + s[i00 + ch] + s[i00 + (size_t)pm * ch] + s[i00 + (size_t)pm * ch + ch]);
                }
    }
    return 0;
}

void qb_synth_tex_free(struct qb_synth_tex *t)
{
    for (int l = 0; l < t->levels; l++)
        free(t->lv[l]);
    memset(t, 0, sizeof(*t));
}

void qb_synth_tex_sample(const struct qb_synth_tex *t, float u, float v, float fp, float dither, float *out)
{
    const float lfp = fp > 0 ? qb_synth_log2f(fp) : -30.0f;
    if (dither >= 0) {
        qb_synth_tex_fetch(t, qb_synth_tex_level(t, lfp, dither), u, v, out);
        return;
    }
    /* trilinear */
    float a[4], b[4];
    const int l0 = qb_synth_tex_level(t, lfp, 0.0f), l1 = l0 + 1 < t->levels ? l0 + 1 : l0;
    const float fr = clampf(lfp - t->log2_texel - (float)l0, 0.0f, 1.0f);
    qb_synth_tex_fetch(t, l0, u, v, a);
    qb_synth_tex_fetch(t, l1, u, v, b);
    for (int c = 0; c < t->ch; c++)
        out[c] = a[c] + (b[c] - a[c]) * fr;
}

float qb_synth_tex_sample1(const struct qb_synth_tex *t, float u, float v, float fp, float dither)
{
    float out[4];
    qb_synth_tex_sample(t, u, v, fp, dither, out);
    return out[0];
}
