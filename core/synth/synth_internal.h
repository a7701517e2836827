/* Internal pieces of the scene renderer, split by concern:
 *   rng.c      random numbers (xoshiro256** seeded by splitmix64, counter hashes)
 *   noise.c    tileable value/cellular noise, mip-mapped textures
 *   camera.c   pinhole stereo camera, projection, ray-primitive intersection
 *   cone.c     FSOCO cone models and object materials/shading
 *   props.c    clutter: tyre walls, barriers, people, barrels, cars, tents, trees
 *   scene.c    track layout, placement, lighting and effect parameters
 *   ground.c   sky, clouds, horizon backdrop, ground materials, shadows
 *   raster.c   ray-cast rasterisation of objects with a z-buffer, labels
 *   effects.c  glare, blur, vignetting, exposure, tone curve, sensor noise
 *   synth.c    the public API
 * World: X right, Y up, Z forward (metres, ground at Y = 0). */
#ifndef QB_SYNTH_INTERNAL_H
#define QB_SYNTH_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "synth.h"

/* ---- vectors ---- */
struct v3 {
    float x, y, z;
};

static inline struct v3 v3(float x, float y, float z)
{
    return (struct v3){x, y, z};
}
static inline struct v3 v3_add(struct v3 a, struct v3 b)
{
    return v3(a.x + b.x, a.y + b.y, a.z + b.z);
}
static inline struct v3 v3_sub(struct v3 a, struct v3 b)
{
    return v3(a.x - b.x, a.y - b.y, a.z - b.z);
}
static inline struct v3 v3_scale(struct v3 a, float s)
{
    return v3(a.x * s, a.y * s, a.z * s);
}
static inline float v3_dot(struct v3 a, struct v3 b)
{
    return a.x * b.x + a.y * b.y + a.z * b.z;
}
static inline struct v3 v3_norm(struct v3 a)
{
    float l = sqrtf(v3_dot(a, a));
    return l > 0 ? v3_scale(a, 1.0f / l) : a;
}
/* plain min/max: fminf/fmaxf are library calls on baseline x86-64 (NaN rules) */
static inline float minf(float a, float b)
{
    return a < b ? a : b;
}
static inline float maxf(float a, float b)
{
    return a > b ? a : b;
}
static inline float clampf(float x, float lo, float hi)
{
    return minf(maxf(x, lo), hi);   /* maxss, minss: no branches */
}
static inline float lerpf(float a, float b, float t)
{
    return a + (b - a) * t;
}
/* smoothstep with the reciprocal of the width given: no division */
static inline float smoothk(float e0, float inv_w, float x)
{
    float t = clampf((x - e0) * inv_w, 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}
static inline float smooth01(float e0, float e1, float x)
{
    float t = clampf((x - e0) / (e1 - e0), 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}

#define SYN_PI 3.14159265358979f
#define SYN_DEG (SYN_PI / 180.0f)

/* ---- rng.c ---- */
struct qb_synth_rng {
    uint64_t s[4];
};

/* splitmix64 finaliser: a good 64-bit hash */
static inline uint64_t qb_synth_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
void qb_synth_rng_seed(struct qb_synth_rng *r, uint64_t seed);
uint64_t qb_synth_rng_next(struct qb_synth_rng *r);
float qb_synth_rng_unif(struct qb_synth_rng *r);                  /* [0, 1) */
float qb_synth_rng_range(struct qb_synth_rng *r, float lo, float hi);
float qb_synth_rng_normal(struct qb_synth_rng *r);
int qb_synth_rng_int(struct qb_synth_rng *r, int n);              /* [0, n) */
int qb_synth_rng_chance(struct qb_synth_rng *r, float p);
int qb_synth_rng_pick(struct qb_synth_rng *r, const float *w, int n); /* index by weight */
/* Hash of integer coordinates to [0, 1): position-based noise for textures. */
float qb_synth_hash3(uint32_t seed, int32_t x, int32_t y, int32_t z);

/* ---- noise.c: tileable mip-mapped textures, coordinates in metres ---- */
#define QB_SYNTH_TEX_MAXLV 12
struct qb_synth_tex {
    int n, ch, levels;        /* n x n texels (power of two), ch channels interleaved */
    float texel;              /* metres per texel at level 0 */
    float log2_texel;
    float inv[QB_SYNTH_TEX_MAXLV];   /* texels per metre at each level */
    float *lv[QB_SYNTH_TEX_MAXLV];
};

/* Mip level for a footprint with log2(fp) = lfp, dithered: one level per pixel,
 * no seams. Returns levels - 1 (a single texel: the mean) past the coarsest. */
static inline int qb_synth_tex_level(const struct qb_synth_tex *t, float lfp, float dither)
{
    float l = lfp - t->log2_texel + dither;
    int li = l > 0 ? (int)l : 0;
    return li < t->levels - 1 ? li : t->levels - 1;
}

/* Bilinear, wrapping, at level l, coordinates in metres; out[ch]. */
static inline void qb_synth_tex_fetch(const struct qb_synth_tex *t, int l, float u, float v, float *out)
{
    const int m = t->n >> l, mask = m - 1, ch = t->ch;
    const float x = u * t->inv[l] - 0.5f, y = v * t->inv[l] - 0.5f;
    int xi = (int)x, yi = (int)y;
    xi -= x < (float)xi;
    yi -= y < (float)yi;
    const float tx = x - (float)xi, ty = y - (float)yi;
    const float *L = t->lv[l];
    const int x0 = (xi & mask) * ch, x1 = ((xi + 1) & mask) * ch;
    const int y0 = (yi & mask) * m * ch, y1 = ((yi + 1) & mask) * m * ch;
    for (int c = 0; c < ch; c++) {
        const float a = L[y0 + x0 + c], b = L[y0 + x1 + c], p = L[y1 + x0 + c], q = L[y1 + x1 + c];
        const float top = a + (b - a) * tx, bot = p + (q - p) * tx;
        out[c] = top + (bot - top) * ty;
    }
}

enum qb_synth_tex_id {
    SYN_TEX_ASPHALT,   /* grain and aggregate (mean 1) */
    SYN_TEX_CRACKS,    /* ch0 crack lines 0..1, ch1 patch mask 0..1 */
    SYN_TEX_GRASS,     /* blades and clumps (mean 1) */
    SYN_TEX_GRAVEL,    /* pebbles (mean 1) */
    SYN_TEX_MACRO,     /* 4 smooth fields in [-1, 1]: mottle, edge wobble, shade, dryness */
    SYN_TEX_CLOUD,     /* cloud density fbm 0..1 */
    SYN_TEX_COUNT
};

/* tone curve LUT over linear values 2^-14 .. 2^4, indexed by float bits */
#define SYN_TONE_BASE ((127 - 14) << 8)
#define SYN_TONE_N (18 << 8)

struct qb_synth {
    struct qb_synth_params p;
    struct qb_synth_tex tex[SYN_TEX_COUNT];
    float tone[SYN_TONE_N], dtone[SYN_TONE_N];   /* output level 0..255 and its slope */
    int8_t *noise;                                /* SYN_NOISE_N gaussian samples * SYN_NOISE_SCALE */
};
#define SYN_NOISE_N (1 << 21)
#define SYN_NOISE_SCALE 40.0f

int qb_synth_tex_build(struct qb_synth_tex *t, enum qb_synth_tex_id id, uint64_t seed);
void qb_synth_tex_free(struct qb_synth_tex *t);
/* Sample at (u, v) metres for a pixel footprint of fp metres into out[ch]:
 * trilinear when dither < 0, else one mip level picked by dither in [0, 1). */
void qb_synth_tex_sample(const struct qb_synth_tex *t, float u, float v, float fp, float dither, float *out);
float qb_synth_tex_sample1(const struct qb_synth_tex *t, float u, float v, float fp, float dither);
/* Fast log2 for mip selection (about 0.01 accurate), x > 0. */
static inline float qb_synth_log2f(float x)
{
    union {
        float f;
        uint32_t i;
    } v = {x};
    float e = (float)((int)(v.i >> 23) - 127);
    v.i = (v.i & 0x7fffffu) | 0x3f800000u;
    return e + (-0.34484843f * v.f + 2.02466578f) * v.f - 0.67487759f;
}

/* exp(-x) for x >= 0 (relative error ~1e-4; no division): aerial perspective per pixel. */
static inline float qb_synth_expneg(float x)
{
    const float p = -1.442695f * x;
    if (p < -125.0f)
        return 0.0f;
    const int w = (int)p - (p < (float)(int)p);
    const float z = p - (float)w;
    union {
        uint32_t i;
        float f;
    } v = {.f = 1.0f + z * (0.69583356f + z * (0.22606716f + z * 0.07809964f))};
    v.i += (uint32_t)w << 23;
    return v.f;
}

/* A cheap per-pixel dither in [0, 1). */
static inline float qb_synth_dither(uint32_t seed, int i, int j)
{
    uint32_t h = seed ^ ((uint32_t)i * 0x9e3779b1u) ^ ((uint32_t)j * 0x85ebca77u);
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

/* ---- camera.c ---- */
struct qb_synth_cam {
    int w, h;
    float f, cx, cy;
    struct v3 pos;
    struct v3 rx, ry, rz;     /* camera axes in world: right, down, forward */
    struct v3 d00, du, dv;    /* world ray for pixel (u, v) = d00 + u du + v dv, cam z = 1 */
};

void qb_synth_cam_init(struct qb_synth_cam *c, int w, int h, float f, float cx, float cy, struct v3 pos,
                       float yaw, float pitch, float roll);
/* Camera-frame coordinates of a world point; returns z (depth). */
float qb_synth_cam_to(const struct qb_synth_cam *c, struct v3 p, float *u, float *v);
static inline struct v3 qb_synth_cam_ray(const struct qb_synth_cam *c, float u, float v)
{
    return v3(c->d00.x + u * c->du.x + v * c->dv.x, c->d00.y + u * c->du.y + v * c->dv.y,
              c->d00.z + u * c->du.z + v * c->dv.z);
}

/* ---- materials and primitives (cone.c, props.c) ---- */
enum qb_synth_pattern {
    SYN_PAT_PLAIN,
    SYN_PAT_BANDS,     /* alt colour where local height fraction lies in p[0..1] or p[2..3] */
    SYN_PAT_SEGMENTS,  /* alternate a/b every p[0] metres along local x (barriers) */
    SYN_PAT_RINGS,     /* dark grooves every p[0] metres in height (tyre stacks) */
    SYN_PAT_LEAVES,    /* blotchy foliage */
    SYN_PAT_WINDOWS,   /* facade rows of dark windows */
    SYN_PAT_COUNT
};

struct qb_synth_mat {
    float a[3], b[3];      /* linear albedo, alternate colour */
    float p[4];            /* pattern parameters */
    float spec;            /* specular strength */
    float dirt;            /* darkening towards the ground, 0..1 */
    uint8_t pattern, shin; /* enum qb_synth_pattern, specular exponent (power of two) */
};

enum qb_synth_prim_kind {
    SYN_PRIM_FRUSTUM,   /* vertical: centre x, z, y0, y1, r0, r1 (r at y0, y1) */
    SYN_PRIM_BOX,       /* x0, x1, y0, y1, z0, z1 in object space */
    SYN_PRIM_ELLIPSOID, /* centre x, y, z, radii x, y, z */
    SYN_PRIM_KIND_COUNT
};

struct qb_synth_prim {
    uint16_t kind, mat;
    float g[6];
};

/* Nearest hit of object-space ray o + t d (0 < t < tmax) with p: t and normal (not unit). */
int qb_synth_intersect(const struct qb_synth_prim *p, struct v3 o, struct v3 d, float tmax, float *t, struct v3 *n);

/* An object stands on the ground at pos, turned by yaw about Y. */
struct qb_synth_obj {
    struct v3 pos;
    float yaw, cy, sy;        /* cos, sin of yaw */
    float rad, height;        /* bounding cylinder */
    int prim0, nprim;
    int cone;                 /* 1-based cone id, 0 for props */
    int cls;                  /* cone class */
    float sun;                /* 0..1: sun visibility at the object */
    /* shadow caster: a segment of half-length hl along local x, radius r at the ground
     * and rt at height h (h = 0: no shadow) */
    float shadow_hl, shadow_r, shadow_rt, shadow_h;
    float bx0, bx1, bz0, bz1;  /* object-space extent of the prims */
};

/* labels: a cone needs this many visible pixel rows, at most 70% hidden */
#define SYN_MIN_BOX_H 7
#define SYN_MAX_OBJ 640
#define SYN_MAX_PRIM 4096
#define SYN_MAX_MAT 1024
#define SYN_BD_BINS 1024
#define SYN_MAX_EDGES 3
#define SYN_MAX_FLARES 8

struct qb_synth_light {
    struct v3 sun;                     /* unit vector towards the sun */
    float sun_rgb[3], sky_rgb[3], bounce_rgb[3];
    float zenith[3], horizon[3];       /* sky colours */
    float haze_rgb[3], visibility;     /* aerial perspective: colour, metres */
    float inv_vis, ground_lit[3];      /* 1 / visibility; light on flat ground */
    float cloud_cover, cloud_soft, cloud_rgb[3], cloud_shade;
    float shadow_k;                    /* fraction of ground light that the sun gives */
    float shadow_patches;              /* threshold on macro shade field; 2 = none */
    int sunny, dusk;
};

struct qb_synth_ground {
    float rot_c, rot_s, off_u, off_v;  /* texture placement */
    float asphalt[3], asphalt_var, crack_amt, patch_amt;
    float grass[3], grass_dry[3], gravel[3];
    float sheen;                       /* asphalt specular towards the sun */
    int n_edges;                       /* grass/gravel half-planes */
    float edge_nx[SYN_MAX_EDGES], edge_nz[SYN_MAX_EDGES], edge_c[SYN_MAX_EDGES], edge_gravel[SYN_MAX_EDGES];
    int paint;                         /* parking-lot lines */
    float paint_rgb[3], paint_c, paint_s, paint_sp, paint_isp, paint_w, paint_off, paint_wear;
    /* horizon backdrop: a wall bd_dist away, height per azimuth bin */
    float bd_dist, bd_max;             /* distance, tallest height */
    float bd_h[SYN_BD_BINS];
    uint8_t bd_kind[SYN_BD_BINS];
    float bd_rgb[4][3];                /* per kind: open, trees, buildings, stands */
};

struct qb_synth_fx {
    float exposure_err;        /* multiplier on auto exposure */
    float max_exposure;        /* auto exposure limit: dark scenes stay dark */
    float wb[3], saturation;
    float motion_x, motion_y;  /* box lengths in pixels (0 = none) */
    int defocus;               /* box radius, 0 = none */
    float vignette;
    float read_noise, shot_noise;
    float glare;               /* strength; 0 = none */
    int n_flares;
    float flare_t[SYN_MAX_FLARES], flare_r[SYN_MAX_FLARES], flare_rgb[SYN_MAX_FLARES][3];
    float right_gain;          /* photometric mismatch of the right camera */
    int jpeg_quality;
};

struct qb_synth_scene {
    int w, h;
    uint64_t seed;             /* per-scene stream for view-level noise */
    struct qb_synth_cam cam[2];
    float baseline, cam_h;
    struct qb_synth_light L;
    struct qb_synth_ground G;
    struct qb_synth_fx fx;
    int n_obj, n_prim, n_mat, n_cones;
    struct qb_synth_obj obj[SYN_MAX_OBJ];
    struct qb_synth_prim prim[SYN_MAX_PRIM];
    struct qb_synth_mat mat[SYN_MAX_MAT];
};

/* cone.c */
int qb_synth_add_cone(struct qb_synth_scene *sc, struct qb_synth_rng *r, int cls, float x, float z);
/* Adds a material; returns its index or -1 when full. */
int qb_synth_add_mat(struct qb_synth_scene *sc, const struct qb_synth_mat *m);
/* Starts an object at (x, z); returns its index or -1 when full. Add prims after it. */
int qb_synth_begin_obj(struct qb_synth_scene *sc, float x, float z, float yaw);
int qb_synth_add_prim(struct qb_synth_scene *sc, int kind, int mat, const float g[6]);
/* Albedo of material m at object-space point p (after the pattern); returns the
 * pattern cell (0 or 1 for two-colour patterns) so edges between cells are found. */
int qb_synth_mat_albedo(const struct qb_synth_mat *m, const struct qb_synth_prim *pr, struct v3 p, float *rgb);
/* sRGB 0..255 to linear */
void qb_synth_srgb(float *rgb, int r, int g, int b);

/* props.c */
enum qb_synth_prop {
    SYN_PROP_TYRES,
    SYN_PROP_BARRIER,
    SYN_PROP_PERSON,
    SYN_PROP_BARREL,
    SYN_PROP_BOX,
    SYN_PROP_CAR,
    SYN_PROP_TENT,
    SYN_PROP_TREE,
    SYN_PROP_POST,
    SYN_PROP_FENCE,
    SYN_PROP_COUNT
};
int qb_synth_add_prop(struct qb_synth_scene *sc, struct qb_synth_rng *r, enum qb_synth_prop kind, float x, float z,
                      float yaw);

/* scene.c */
void qb_synth_scene_build(struct qb_synth_scene *sc, const struct qb_synth *s, int64_t scene);

/* ground.c: sky, backdrop and ground of one view into rgb (linear float), with the
 * shadows of objects and of unseen trees on the ground; mask is w*h scratch. */
int qb_synth_draw_background(const struct qb_synth_scene *sc, const struct qb_synth *s, int view, float *rgb,
                             float *mask);   /* -1: out of memory */
/* Fraction of direct sun reaching ground point (x, z): shade patches and the
 * shadows of every object but `self`. */
float qb_synth_sun_at(const struct qb_synth_scene *sc, const struct qb_synth *s, float x, float z, int self);

/* raster.c */
struct qb_synth_frame {
    float *rgb;        /* w*h*3 linear */
    float *zbuf;       /* w*h depth of the nearest object */
    uint16_t *id;      /* w*h cone id (0 none) */
    float *mask;       /* w*h scratch */
    int *cover;        /* per cone: in-image pixels it covers, occluded or not */
    void *scratch;     /* w*h samples for one object's box */
};
size_t qb_synth_scratch_size(int w, int h);   /* bytes for qb_synth_frame.scratch */
/* Both return -1 when out of memory. */
int qb_synth_draw_objects(const struct qb_synth_scene *sc, int view, struct qb_synth_frame *fr);
int qb_synth_labels(const struct qb_synth_scene *sc, int view, const struct qb_synth_frame *fr,
                    struct qb_synth_view *out);
/* Shades a hit on material m with world normal n, view direction vd (towards the eye). */
void qb_synth_shade(const struct qb_synth_scene *sc, const float *albedo, const struct qb_synth_mat *m, struct v3 n,
                    struct v3 vd, float sun, float dist, float *out);

/* effects.c */
float qb_synth_auto_exposure(const struct qb_synth_scene *sc, const float *rgb);
void qb_synth_tone_init(struct qb_synth *s);
void qb_synth_effects(const struct qb_synth_scene *sc, const struct qb_synth *s, int view, float exposure,
                      float *rgb, float *tmp, unsigned char *out);

#endif
