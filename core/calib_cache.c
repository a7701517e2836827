/* The on-disk cache of calibration histograms (core/calib.h).
 *
 * An entry is one binary file, little-endian, ending in the sha256 of everything
 * before it (so a truncated or damaged entry is recognised, ignored and rebuilt):
 *     "QBCALIBH" | u32 version | u32 bins | key (64 hex) | u64 images | u64 skipped
 *     | u64 runs | u32 tensors | per tensor: u32 name length, name, f32 max, i32 exp,
 *     u64 count, u64 nonfinite, u32 stored bins (up to the last non-zero one), the
 *     counts as LEB128 varints | sha256 (32 bytes) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sha2.h>

#include "calib.h"
#include "fileio.h"

#define CACHE_MAGIC "QBCALIBH"
#define CACHE_VERSION 1u
#define CACHE_MAX_BYTES ((size_t)1 << 31)

/* Cache folder ------------------------------------------------------------------ */

static enum qb_status mkdirs(char *path, struct qb_error *err)
{
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                enum qb_status st = qb_errorf(err, QB_ERR_IO, "%s: cannot create the cache folder: %s", path,
                                              strerror(errno));
                *p = c;
                return st;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    return QB_OK;
}

enum qb_status qb_calib_cache_dir(char *buf, size_t len, struct qb_error *err)
{
    const char *d = getenv("QB_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;

    if (d && *d)
        n = snprintf(buf, len, "%s", d);
    else if (x && *x)
        n = snprintf(buf, len, "%s/qbench", x);
    else if (home && *home)
        n = snprintf(buf, len, "%s/.cache/qbench", home);
    else
        return qb_errorf(err, QB_ERR_IO, "no cache folder: set QB_CACHE_DIR, XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= len)
        return qb_errorf(err, QB_ERR_IO, "cache folder path too long");
    return mkdirs(buf, err);
}

void qb_calib_cache_key(const struct qb_calib_table *t, char key[65])
{
    char text[512];
    int n = snprintf(text, sizeof(text), "qbench-calib-cache %u\nbins %d\nmodel %s\nimages %s\ninput %dx3x%dx%d\n"
                     "letterbox %d\n", CACHE_VERSION, QB_CALIB_BINS, t->model_sha256, t->images_sha256, t->batch,
                     t->height, t->width, (int)t->letterbox);
    SHA256Data((const uint8_t *)text, (size_t)n, key);
}

void qb_calib_cache_path(const char *dir, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "%s/calib-%s.qbh", dir, key);
}

/* Writing ------------------------------------------------------------------------ */

struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool failed;
};

static void put(struct wbuf *b, const void *data, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        uint8_t *q;
        while (cap < b->n + n)
            cap *= 2;
        if (!(q = realloc(b->p, cap))) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u64(struct wbuf *b, uint64_t v, int bytes)
{
    uint8_t le[8];
    for (int i = 0; i < bytes; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put(b, le, (size_t)bytes);
}

static void put_varint(struct wbuf *b, uint64_t v)
{
    uint8_t out[10];
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, out, n);
}

enum qb_status qb_calib_cache_save(const struct qb_calib_collector *c, const char *dir, const char *key,
                                   long images, long skipped, struct qb_error *err)
{
    struct qb_calib_collector *cc = (struct qb_calib_collector *)c; /* read only */
    const struct qb_graph *g = qb_calib_collector_graph(c);
    struct wbuf b = {0};
    uint8_t digest[32];
    uint32_t n = 0;
    char path[4096];
    enum qb_status st;

    for (int v = 0; v < g->n_values; v++)
        n += qb_calib_collector_hist(cc, v) != NULL;
    put(&b, CACHE_MAGIC, 8);
    put_u64(&b, CACHE_VERSION, 4);
    put_u64(&b, QB_CALIB_BINS, 4);
    put(&b, key, 64);
    put_u64(&b, (uint64_t)images, 8);
    put_u64(&b, (uint64_t)skipped, 8);
    put_u64(&b, (uint64_t)qb_calib_collector_runs(c), 8);
    put_u64(&b, n, 4);
    for (int v = 0; v < g->n_values; v++) {
        const struct qb_calib_hist *h = qb_calib_collector_hist(cc, v);
        uint32_t bits, stored = QB_CALIB_BINS;
        if (!h)
            continue;
        while (stored > 0 && h->bins[stored - 1] == 0)
            stored--;
        memcpy(&bits, &h->max, 4);
        put_u64(&b, strlen(g->values[v].name), 4);
        put(&b, g->values[v].name, strlen(g->values[v].name));
        put_u64(&b, bits, 4);
        put_u64(&b, (uint32_t)h->exp, 4);
        put_u64(&b, h->count, 8);
        put_u64(&b, h->nonfinite, 8);
        put_u64(&b, stored, 4);
        for (uint32_t j = 0; j < stored; j++)
            put_varint(&b, h->bins[j]);
    }
    if (!b.failed) {
        SHA2_CTX ctx;
        SHA256Init(&ctx);
        SHA256Update(&ctx, b.p, b.n);
        SHA256Final(digest, &ctx);
        put(&b, digest, 32);
    }
    if (b.failed) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory writing the calibration cache");
    } else {
        qb_calib_cache_path(dir, key, path, sizeof(path));
        st = qb_file_write_atomic(path, b.p, b.n, err);
    }
    free(b.p);
    return st;
}

/* Reading ------------------------------------------------------------------------ */

struct rbuf {
    const uint8_t *p;
    size_t n, at;
    bool bad;
};

static uint64_t get_u64(struct rbuf *r, int bytes)
{
    uint64_t v = 0;
    if (r->bad || r->n - r->at < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->at + (size_t)i] << (8 * i);
    r->at += (size_t)bytes;
    return v;
}

static uint64_t get_varint(struct rbuf *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t byte;
        if (r->bad || r->at >= r->n)
            break;
        byte = r->p[r->at++];
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

/* One tensor's record into its histogram; false when it is malformed or foreign. */
static bool read_tensor(struct rbuf *r, struct qb_calib_collector *c, unsigned char *seen)
{
    const struct qb_graph *g = qb_calib_collector_graph(c);
    uint32_t len = (uint32_t)get_u64(r, 4), bits, stored;
    char name[4096];
    struct qb_calib_hist *h;
    uint64_t sum = 0;
    int v;

    if (r->bad || len >= sizeof(name) || r->n - r->at < len)
        return false;
    memcpy(name, r->p + r->at, len);
    name[len] = '\0';
    r->at += len;
    if ((v = qb_graph_find_value(g, name)) < 0 || seen[v] || !(h = qb_calib_collector_hist(c, v)))
        return false;
    seen[v] = 1;
    bits = (uint32_t)get_u64(r, 4);
    memcpy(&h->max, &bits, 4);
    h->exp = (int32_t)(uint32_t)get_u64(r, 4);
    h->count = get_u64(r, 8);
    h->nonfinite = get_u64(r, 8);
    stored = (uint32_t)get_u64(r, 4);
    if (r->bad || stored > QB_CALIB_BINS || !(h->max >= 0 && isfinite(h->max)))
        return false;
    if (h->max > 0 && (h->exp < -160 || h->exp > 160 || !(h->max < ldexp(1, h->exp)) ||
                       !(h->max >= ldexp(1, h->exp - 1))))
        return false;
    memset(h->bins, 0, sizeof(h->bins));
    for (uint32_t j = 0; j < stored; j++)
        sum += h->bins[j] = get_varint(r);
    return !r->bad && sum == h->count;
}

enum qb_status qb_calib_cache_load(struct qb_calib_collector *c, const char *dir, const char *key, long *images,
                                   long *skipped, struct qb_error *err)
{
    const struct qb_graph *g = qb_calib_collector_graph(c);
    char path[4096], *data = NULL, digest[32];
    unsigned char *seen = NULL;
    size_t len = 0;
    struct rbuf r;
    uint32_t n, expect = 0;
    const char *why = NULL;
    struct stat sb;
    enum qb_status st;

    qb_calib_cache_path(dir, key, path, sizeof(path));
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        st = qb_errorf(err, QB_ERR_IO, "%s: no cache entry", path);
        goto out;
    }
    if ((st = qb_file_read(path, CACHE_MAX_BYTES, &data, &len, err)) != QB_OK) {
        st = QB_ERR_PARSE; /* there but unreadable: ignored like a corrupt one */
        goto out;
    }
    r = (struct rbuf){.p = (const uint8_t *)data, .n = len};
    if (len < 8 + 32 || memcmp(data, CACHE_MAGIC, 8) != 0) {
        why = "not a qbench calibration cache entry";
        goto bad;
    }
    {
        SHA2_CTX ctx;
        SHA256Init(&ctx);
        SHA256Update(&ctx, (const uint8_t *)data, len - 32);
        SHA256Final((uint8_t *)digest, &ctx);
    }
    if (memcmp(digest, data + len - 32, 32) != 0) {
        why = "checksum mismatch (truncated or damaged)";
        goto bad;
    }
    r.n = len - 32;
    r.at = 8;
    if (get_u64(&r, 4) != CACHE_VERSION || get_u64(&r, 4) != QB_CALIB_BINS || r.n - r.at < 64 ||
        memcmp(data + r.at, key, 64) != 0) {
        why = "another version or key";
        goto bad;
    }
    r.at += 64;
    *images = (long)get_u64(&r, 8);
    *skipped = (long)get_u64(&r, 8);
    get_u64(&r, 8); /* runs: informational */
    n = (uint32_t)get_u64(&r, 4);
    for (int v = 0; v < g->n_values; v++)
        expect += qb_calib_collector_hist(c, v) != NULL;
    if (r.bad || n != expect || !(seen = calloc((size_t)g->n_values + 1, 1))) {
        why = "its tensors do not fit the model";
        goto bad;
    }
    qb_calib_collector_reset(c);
    for (uint32_t k = 0; k < n; k++)
        if (!read_tensor(&r, c, seen)) {
            why = "a malformed tensor record, or one the model lacks";
            goto bad;
        }
    if (r.at != r.n) {
        why = "trailing bytes";
        goto bad;
    }
    goto out;
bad:
    qb_calib_collector_reset(c);
    st = qb_errorf(err, QB_ERR_PARSE, "%s: %s", path, why);
out:
    free(seen);
    free(data);
    return st;
}
