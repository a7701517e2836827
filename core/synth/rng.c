/* Random numbers: xoshiro256** streams seeded through splitmix64, and stateless
 * hashes of coordinates for textures. Only integer arithmetic and IEEE basics, so a
 * stream gives the same values on every thread and run. */
#include "synth_internal.h"

void qb_synth_rng_seed(struct qb_synth_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        r->s[i] = qb_synth_mix64(seed);
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t qb_synth_rng_next(struct qb_synth_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float qb_synth_rng_unif(struct qb_synth_rng *r)
{
    return (float)(qb_synth_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float qb_synth_rng_range(struct qb_synth_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * qb_synth_rng_unif(r);
}

float qb_synth_rng_normal(struct qb_synth_rng *r)
{
    /* Box-Muller; the second value is dropped to keep streams simple */
    float u1 = qb_synth_rng_unif(r), u2 = qb_synth_rng_unif(r);
    if (u1 < 1e-7f)
        u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(2.0f * SYN_PI * u2);
}

int qb_synth_rng_int(struct qb_synth_rng *r, int n)
{
    return n <= 1 ? 0 : (int)((qb_synth_rng_next(r) >> 33) % (uint64_t)n);
}

int qb_synth_rng_chance(struct qb_synth_rng *r, float p)
{
    return qb_synth_rng_unif(r) < p;
}

int qb_synth_rng_pick(struct qb_synth_rng *r, const float *w, int n)
{
    float sum = 0, x;
    for (int i = 0; i < n; i++)
        sum += w[i];
    x = qb_synth_rng_unif(r) * sum;
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

float qb_synth_hash3(uint32_t seed, int32_t x, int32_t y, int32_t z)
{
    uint64_t h = ((uint64_t)seed << 32) ^ (uint32_t)x;
    h = qb_synth_mix64(h) ^ ((uint64_t)(uint32_t)y << 21) ^ ((uint64_t)(uint32_t)z << 42);
    return (float)(qb_synth_mix64(h) >> 40) * (1.0f / 16777216.0f);
}
