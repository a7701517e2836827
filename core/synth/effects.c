/* The camera between the scene and the bytes: sun glare and lens flare, motion blur
 * and defocus, vignetting, auto exposure with a limit (so dusk stays dark and
 * noisy), white balance, a filmic tone curve, sRGB, and signal-dependent noise. */
#include <stdlib.h>
#include <string.h>

#include "synth_internal.h"


float qb_synth_auto_exposure(const struct qb_synth_scene *sc, const float *rgb)
{
    double sum = 0;
    long n = 0;
    for (int j = 2; j < sc->h; j += 4)
        for (int i = 2; i < sc->w; i += 4) {
            const float *p = &rgb[((size_t)j * sc->w + i) * 3];
            float l = 0.2126f * p[0] + 0.7152f * p[1] + 0.0722f * p[2];
            sum += log(fmin(fmax((double)l, 1e-4), 8.0));
            n++;
        }
    const float mean = (float)exp(sum / (double)(n ? n : 1));
    return minf(0.16f / mean, sc->fx.max_exposure) * sc->fx.exposure_err;
}

static void glare(const struct qb_synth_scene *sc, int view, float *rgb)
{
    const struct qb_synth_cam *cam = &sc->cam[view];
    const struct qb_synth_fx *fx = &sc->fx;
    const int W = sc->w, H = sc->h;
    float su, sv;
    const struct v3 far = v3_add(cam->pos, v3_scale(sc->L.sun, 1e5f));
    if (qb_synth_cam_to(cam, far, &su, &sv) <= 0)
        return;
    const float r0 = 0.04f * (float)W, veil = 0.05f * fx->glare;
    const float ccx = 0.5f * (float)W, ccy = 0.5f * (float)H;
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            const float dx = ((float)i - su) / r0, dy = ((float)j - sv) / r0;
            const float g = fx->glare * (0.5f / (1.0f + dx * dx + dy * dy) + veil);
            float *p = &rgb[((size_t)j * W + i) * 3];
            for (int c = 0; c < 3; c++)
                p[c] += g * sc->L.sun_rgb[c] * 0.5f;
        }
    for (int k = 0; k < fx->n_flares; k++) {
        const float fx_ = ccx + (su - ccx) * fx->flare_t[k], fy = ccy + (sv - ccy) * fx->flare_t[k];
        const float rr = fx->flare_r[k] * (float)W;
        const int i0 = (int)maxf(fx_ - rr - 1, 0), i1 = (int)minf(fx_ + rr + 2, (float)W);
        const int j0 = (int)maxf(fy - rr - 1, 0), j1 = (int)minf(fy + rr + 2, (float)H);
        for (int j = j0; j < j1; j++)
            for (int i = i0; i < i1; i++) {
                const float d = hypotf((float)i - fx_, (float)j - fy) / rr;
                const float a = 0.06f * fx->glare * (1.0f - smooth01(0.8f, 1.0f, d)) * (0.6f + 0.4f * d);
                float *p = &rgb[((size_t)j * W + i) * 3];
                for (int c = 0; c < 3; c++)
                    p[c] += a * fx->flare_rgb[k][c] * sc->L.sun_rgb[c];
            }
    }
}

/* Box filter of n taps along rows (dir 0) or columns (dir 1), edges clamped. */
static void box(float *img, float *tmp, int W, int H, int n, int dir)
{
    const int a = n / 2, b = n - 1 - a;
    const float inv = 1.0f / (float)n;
    if (n < 2)
        return;
    if (dir == 0) {
        for (int j = 0; j < H; j++) {
            float *row = &img[(size_t)j * W * 3], *out = &tmp[(size_t)j * W * 3];
            for (int c = 0; c < 3; c++) {
                float s = 0;
                for (int k = -a; k <= b; k++)
                    s += row[(k < 0 ? 0 : k >= W ? W - 1 : k) * 3 + c];
                for (int i = 0; i < W; i++) {
                    out[i * 3 + c] = s * inv;
                    const int add = i + b + 1, sub = i - a;
                    s += row[(add >= W ? W - 1 : add) * 3 + c] - row[(sub < 0 ? 0 : sub) * 3 + c];
                }
            }
        }
    } else {
        const size_t rs = (size_t)W * 3;
        float *acc = tmp + (size_t)H * rs;   /* one spare row after the image */
        memset(acc, 0, sizeof(float) * rs);
        for (int k = -a; k <= b; k++) {
            const float *row = &img[(size_t)(k < 0 ? 0 : k >= H ? H - 1 : k) * rs];
            for (size_t x = 0; x < rs; x++)
                acc[x] += row[x];
        }
        for (int j = 0; j < H; j++) {
            float *out = &tmp[(size_t)j * rs];
            const int add = j + b + 1, sub = j - a;
            const float *ra = &img[(size_t)(add >= H ? H - 1 : add) * rs];
            const float *rb = &img[(size_t)(sub < 0 ? 0 : sub) * rs];
            for (size_t x = 0; x < rs; x++) {
                out[x] = acc[x] * inv;
                acc[x] += ra[x] - rb[x];
            }
        }
    }
    memcpy(img, tmp, sizeof(float) * (size_t)W * H * 3);
}

static float tone(float x)
{
    /* filmic curve (a rational fit of the ACES reference), then sRGB */
    float y = x * (2.51f * x + 0.03f) / (x * (2.43f * x + 0.59f) + 0.14f);
    y = clampf(y, 0.0f, 1.0f);
    return y <= 0.0031308f ? 12.92f * y : 1.055f * powf(y, 1.0f / 2.4f) - 0.055f;
}

/* LUT index of a linear value: its float bits, 8 mantissa bits per octave. */
static inline int tone_index(float x)
{
    union {
        float f;
        uint32_t i;
    } v = {x};
    int k = (int)(v.i >> 15) - SYN_TONE_BASE;
    return k < 0 ? 0 : k >= SYN_TONE_N ? SYN_TONE_N - 1 : k;
}

static float tone_value(int k)
{
    union {
        uint32_t i;
        float f;
    } v = {((uint32_t)(k + SYN_TONE_BASE) << 15) | (1u << 14)};
    return v.f;
}

void qb_synth_tone_init(struct qb_synth *s)
{
    for (int k = 0; k < SYN_TONE_N; k++)
        s->tone[k] = 255.0f * tone(tone_value(k));
    for (int k = 0; k < SYN_TONE_N; k++) {
        const int a = k > 0 ? k - 1 : k, b = k + 1 < SYN_TONE_N ? k + 1 : k;
        s->dtone[k] = (s->tone[b] - s->tone[a]) / (tone_value(b) - tone_value(a));
    }
}

void qb_synth_effects(const struct qb_synth_scene *sc, const struct qb_synth *s, int view, float exposure,
                      float *rgb, float *tmp, unsigned char *out)
{
    const struct qb_synth_fx *fx = &sc->fx;
    const int W = sc->w, H = sc->h;
    float sig[SYN_TONE_N];
    if (fx->glare > 0)
        glare(sc, view, rgb);
    if (fx->motion_x >= 1.5f)
        box(rgb, tmp, W, H, (int)(fx->motion_x + 0.5f), 0);
    if (fx->motion_y >= 1.5f)
        box(rgb, tmp, W, H, (int)(fx->motion_y + 0.5f), 1);
    for (int pass = 0; pass < 2 && fx->defocus; pass++) {
        box(rgb, tmp, W, H, 2 * fx->defocus + 1, 0);
        box(rgb, tmp, W, H, 2 * fx->defocus + 1, 1);
    }

    /* noise: signal-dependent in linear light, applied through the curve's slope */
    const float e = exposure * (view ? fx->right_gain : 1.0f);
    const float gain = maxf(1.0f, exposure / 0.5f);   /* analogue gain past base ISO */
    const float read = fx->read_noise * gain, shot = fx->shot_noise * gain;
    for (int k = 0; k < SYN_TONE_N; k++)
        sig[k] = s->dtone[k] * sqrtf(read * read + shot * tone_value(k)) * (1.0f / SYN_NOISE_SCALE);
    const float sat = fx->saturation;
    const float hw = 0.5f * (float)W, hh = 0.5f * (float)H, ir2 = 1.0f / (hw * hw + hh * hh);
    const uint64_t h = qb_synth_mix64(sc->seed ^ (0x6e6f697365ull + (uint64_t)view));
    const int8_t *nz_tab = s->noise;
    const uint32_t mask = SYN_NOISE_N - 1, base = (uint32_t)h & mask;
    for (int j = 0; j < H; j++) {
        const float dy = (float)j + 0.5f - hh;
        for (int i = 0; i < W; i++) {
            const size_t p = (size_t)j * W + i;
            const float *c = &rgb[p * 3];
            const float dx = (float)i + 0.5f - hw;
            const float v = e * (1.0f - fx->vignette * (dx * dx + dy * dy) * ir2);
            const float l = 0.2126f * c[0] + 0.7152f * c[1] + 0.0722f * c[2];
            /* per-channel noise plus a shared part (demosaicing correlates channels) */
            const uint32_t o = (base + (uint32_t)p * 4u) & mask;
            const float common = 0.6f * (float)nz_tab[(o + 3) & mask];
            for (int k = 0; k < 3; k++) {
                const float x = maxf((l + sat * (c[k] - l)) * fx->wb[k] * v, 0.0f);
                const int q = tone_index(x);
                const float nz = 0.8f * (float)nz_tab[(o + (uint32_t)k) & mask] + common;
                out[p * 3 + k] = (unsigned char)clampf(s->tone[q] + nz * sig[q] + 0.5f, 0.0f, 255.0f);
            }
        }
    }
}
