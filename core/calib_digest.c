/* A memo of file content hashes in the cache folder (core/calib.h), so that a
 * second calibration re-hashes only the image files that changed. An entry is
 * trusted while the file's stat data (size, mtime in ns, inode, device) is the
 * same, as git trusts its index.
 *
 * The file, little-endian, ending in the sha256 of everything before it:
 *     "QBDIGEST" | u32 version | u32 count | per entry: u32 path length, path,
 *     u64 size, u64 mtime_ns, u64 inode, u64 device, digest (32 bytes) | sha256 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sha2.h>

#include "calib.h"
#include "fileio.h"

#define DIGEST_MAGIC "QBDIGEST"
#define DIGEST_VERSION 1u
#define DIGEST_FILE "digests.qbd"
#define DIGEST_KEEP_MAX 200000 /* past this, only the entries this run used are kept */

struct entry {
    char *path;
    struct qb_calib_stamp stamp;
    uint8_t digest[32];
    bool used;
};

struct qb_calib_digests {
    char *file;
    struct entry *v;
    size_t n, cap;
    size_t *slot; /* open addressing over v: index + 1, 0 = empty */
    size_t n_slot;
    bool dirty;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct entry *find(const struct qb_calib_digests *d, const char *path)
{
    if (!d->n_slot)
        return NULL;
    for (size_t i = hash_str(path) & (d->n_slot - 1);; i = (i + 1) & (d->n_slot - 1)) {
        if (!d->slot[i])
            return NULL;
        if (strcmp(d->v[d->slot[i] - 1].path, path) == 0)
            return &d->v[d->slot[i] - 1];
    }
}

static bool rehash(struct qb_calib_digests *d, size_t n_slot)
{
    size_t *slot = calloc(n_slot, sizeof(*slot));
    if (!slot)
        return false;
    free(d->slot);
    d->slot = slot;
    d->n_slot = n_slot;
    for (size_t k = 0; k < d->n; k++) {
        size_t i = hash_str(d->v[k].path) & (n_slot - 1);
        while (slot[i])
            i = (i + 1) & (n_slot - 1);
        slot[i] = k + 1;
    }
    return true;
}

/* Adds or replaces; false when out of memory. */
static bool insert(struct qb_calib_digests *d, const char *path, const struct qb_calib_stamp *st, const uint8_t *dg)
{
    struct entry *e = find(d, path);
    if (!e) {
        char *p;
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 1024;
            struct entry *v = realloc(d->v, cap * sizeof(*v));
            if (!v)
                return false;
            d->v = v;
            d->cap = cap;
        }
        if ((d->n + 1) * 2 > d->n_slot && !rehash(d, d->n_slot ? d->n_slot * 2 : 4096))
            return false;
        if (!(p = strdup(path)))
            return false;
        e = &d->v[d->n++];
        *e = (struct entry){.path = p};
        {
            size_t i = hash_str(p) & (d->n_slot - 1);
            while (d->slot[i])
                i = (i + 1) & (d->n_slot - 1);
            d->slot[i] = d->n;
        }
    }
    e->stamp = *st;
    memcpy(e->digest, dg, 32);
    e->used = true;
    return true;
}

static uint64_t get(const uint8_t **p, const uint8_t *end, int bytes, bool *bad)
{
    uint64_t v = 0;
    if (*bad || end - *p < bytes) {
        *bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += bytes;
    return v;
}

/* Reads the memo; a damaged one is dropped (it is only a memo). */
static void load(struct qb_calib_digests *d)
{
    char *data = NULL;
    size_t len = 0;
    struct qb_error err = {0};
    uint8_t sum[32];
    const uint8_t *p, *end;
    bool bad = false;
    uint32_t n;
    SHA2_CTX ctx;

    if (qb_file_read(d->file, (size_t)1 << 30, &data, &len, &err) != QB_OK)
        return;
    if (len < 16 + 32 || memcmp(data, DIGEST_MAGIC, 8) != 0)
        goto bad;
    SHA256Init(&ctx);
    SHA256Update(&ctx, (const uint8_t *)data, len - 32);
    SHA256Final(sum, &ctx);
    if (memcmp(sum, data + len - 32, 32) != 0)
        goto bad;
    p = (const uint8_t *)data + 8;
    end = (const uint8_t *)data + len - 32;
    if (get(&p, end, 4, &bad) != DIGEST_VERSION)
        goto bad;
    n = (uint32_t)get(&p, end, 4, &bad);
    for (uint32_t k = 0; k < n && !bad; k++) {
        uint32_t plen = (uint32_t)get(&p, end, 4, &bad);
        struct qb_calib_stamp st;
        char path[4096];
        if (bad || plen >= sizeof(path) || end - p < plen)
            goto bad;
        memcpy(path, p, plen);
        path[plen] = '\0';
        p += plen;
        st.size = get(&p, end, 8, &bad);
        st.mtime_ns = get(&p, end, 8, &bad);
        st.ino = get(&p, end, 8, &bad);
        st.dev = get(&p, end, 8, &bad);
        st.ok = true;
        if (bad || end - p < 32 || !insert(d, path, &st, p))
            goto bad;
        find(d, path)->used = false;
        p += 32;
    }
    if (!bad && p == end)
        goto out;
bad:
    qb_log(QB_LOG_WARN, "%s: damaged image-hash memo ignored (it will be rebuilt)", d->file);
    for (size_t k = 0; k < d->n; k++)
        free(d->v[k].path);
    d->n = 0;
    rehash(d, d->n_slot ? d->n_slot : 4096);
    d->dirty = true;
out:
    free(data);
}

enum qb_status qb_calib_digests_open(const char *dir, struct qb_calib_digests **out, struct qb_error *err)
{
    struct qb_calib_digests *d = calloc(1, sizeof(*d));
    size_t n = strlen(dir) + sizeof(DIGEST_FILE) + 2;

    *out = NULL;
    if (!d || !(d->file = malloc(n))) {
        free(d);
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    snprintf(d->file, n, "%s/%s", dir, DIGEST_FILE);
    load(d);
    *out = d;
    return QB_OK;
}

void qb_calib_digests_free(struct qb_calib_digests *d)
{
    if (!d)
        return;
    for (size_t k = 0; k < d->n; k++)
        free(d->v[k].path);
    free(d->v);
    free(d->slot);
    free(d->file);
    free(d);
}

void qb_calib_stamp_of(const char *path, struct qb_calib_stamp *st)
{
    struct stat sb;
    memset(st, 0, sizeof(*st));
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return;
    st->size = (uint64_t)sb.st_size;
    st->mtime_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
    st->ino = (uint64_t)sb.st_ino;
    st->dev = (uint64_t)sb.st_dev;
    st->ok = true;
}

static bool same(const struct qb_calib_stamp *a, const struct qb_calib_stamp *b)
{
    return a->ok && b->ok && a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino && a->dev == b->dev;
}

bool qb_calib_digests_get(struct qb_calib_digests *d, const char *path, const struct qb_calib_stamp *st,
                          uint8_t out[32])
{
    struct entry *e = d ? find(d, path) : NULL;
    if (!e || !same(&e->stamp, st))
        return false;
    memcpy(out, e->digest, 32);
    e->used = true;
    return true;
}

void qb_calib_digests_put(struct qb_calib_digests *d, const char *path, const struct qb_calib_stamp *st,
                          const uint8_t digest[32])
{
    struct qb_calib_stamp now;
    if (!d)
        return;
    qb_calib_stamp_of(path, &now);
    if (same(st, &now) && insert(d, path, st, digest)) /* unchanged while it was hashed */
        d->dirty = true;
}

enum qb_status qb_calib_digests_save(struct qb_calib_digests *d, struct qb_error *err)
{
    uint8_t *buf = NULL, *p, sum[32];
    size_t size = 16 + 32;
    uint32_t n = 0;
    bool all = d->n <= DIGEST_KEEP_MAX;
    SHA2_CTX ctx;
    enum qb_status st;

    if (!d->dirty)
        return QB_OK;
    for (size_t k = 0; k < d->n; k++)
        if (all || d->v[k].used) {
            size += 4 + strlen(d->v[k].path) + 32 + 32;
            n++;
        }
    if (!(buf = malloc(size)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    memcpy(buf, DIGEST_MAGIC, 8);
    p = buf + 8;
#define PUT(v, bytes)                                  \
    do {                                               \
        for (int i_ = 0; i_ < (bytes); i_++)           \
            *p++ = (uint8_t)((uint64_t)(v) >> (8 * i_)); \
    } while (0)
    PUT(DIGEST_VERSION, 4);
    PUT(n, 4);
    for (size_t k = 0; k < d->n; k++) {
        const struct entry *e = &d->v[k];
        size_t len = strlen(e->path);
        if (!(all || e->used))
            continue;
        PUT(len, 4);
        memcpy(p, e->path, len);
        p += len;
        PUT(e->stamp.size, 8);
        PUT(e->stamp.mtime_ns, 8);
        PUT(e->stamp.ino, 8);
        PUT(e->stamp.dev, 8);
        memcpy(p, e->digest, 32);
        p += 32;
    }
#undef PUT
    SHA256Init(&ctx);
    SHA256Update(&ctx, buf, (size_t)(p - buf));
    SHA256Final(sum, &ctx);
    memcpy(p, sum, 32);
    st = qb_file_write_atomic(d->file, buf, size, err);
    if (st == QB_OK)
        d->dirty = false;
    free(buf);
    return st;
}
