/* Packed datasets (core/pack.h): the writer and the reader. Plain C, cJSON and zlib,
 * no OpenCV, so qbench-gpu reads what qbench wrote.
 *
 * The JSON header (version 1):
 *   {"format": "qbench-pack", "model": "m.onnx", "input": [2, 3, 640, 640],
 *    "letterbox": "predict"|"val", "pixels": "rgb8"|"rgb8-sub-deflate",
 *    "data": "data.yaml", "split": "val", "names": ["a", ...] | null, "nc": 4,
 *    "has_labels": true, "items": 1000,
 *    "skipped": [{"item": 7, "frame": -1, "path": "/x/broken.jpg", "error": "..."}]}
 * Every key is required and no other is allowed. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "pack.h"

#define PREAMBLE 96
#define ENTRY 80
#define LABEL 20
#define MAGIC "QBPACK\r\n"
#define FORMAT "qbench-pack"

static const char *const pixels_names[QB_PACK_PIXELS_COUNT] = {
    [QB_PACK_PIXELS_RAW] = "rgb8",
    [QB_PACK_PIXELS_DEFLATE] = "rgb8-sub-deflate",
};
_Static_assert(QB_PACK_PIXELS_COUNT == 2 && QB_LETTERBOX_MODE_COUNT == 2, "name tables");

const char *qb_pack_pixels_name(enum qb_pack_pixels p)
{
    return (unsigned)p < QB_PACK_PIXELS_COUNT ? pixels_names[p] : "?";
}

/* ---- little-endian fields and CRC ---- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void putf(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(p, v);
}

static float getf(const unsigned char *p)
{
    uint32_t v = get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    return crc_update((uint32_t)crc32(0L, Z_NULL, 0), p, n);
}

/* Each byte minus the byte 3 to its left in the same row (PNG's Sub filter), and back. */
static void sub_filter(const unsigned char *in, unsigned char *out, int w, int h)
{
    const size_t row = (size_t)w * 3;
    for (int y = 0; y < h; y++) {
        const unsigned char *s = in + y * row;
        unsigned char *d = out + y * row;
        for (size_t k = 0; k < row; k++)
            d[k] = (unsigned char)(s[k] - (k >= 3 ? s[k - 3] : 0));
    }
}

static void sub_unfilter(unsigned char *p, int w, int h)
{
    const size_t row = (size_t)w * 3;
    for (int y = 0; y < h; y++) {
        unsigned char *d = p + y * row;
        for (size_t k = 3; k < row; k++)
            d[k] = (unsigned char)(d[k] + d[k - 3]);
    }
}

static bool same_letterbox(const struct qb_letterbox *a, const struct qb_letterbox *b)
{
    return a->src_w == b->src_w && a->src_h == b->src_h && a->scale == b->scale && a->pad_left == b->pad_left &&
           a->pad_top == b->pad_top && a->new_w == b->new_w && a->new_h == b->new_h && a->dst_w == b->dst_w &&
           a->dst_h == b->dst_h && a->mode == b->mode;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

/* ---- writer ---- */

struct buf {
    unsigned char *p;
    size_t n, cap;
};

static bool buf_put(struct buf *b, const void *data, size_t len)
{
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            return false;
        b->p = q;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
    return true;
}

/* fwrite of n bytes (p may be NULL when n is 0) */
static bool put_all(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n;
}

struct qb_pack_writer {
    char *path, *tmp;
    FILE *f;
    cJSON *header;                 /* everything but items and skipped */
    cJSON *skipped;                /* array */
    enum qb_pack_pixels pixels;
    int dst_w, dst_h;
    enum qb_letterbox_mode mode;
    struct buf index, labels, strings;
    uint64_t pos, n_records, n_labels;
    size_t next_item;              /* items must increase */
    unsigned char *filtered, *packed; /* deflate scratch */
    unsigned long packed_cap;
    unsigned long long bytes_stored, bytes_raw;
};

void qb_pack_writer_abort(struct qb_pack_writer *w)
{
    if (!w)
        return;
    if (w->f) {
        fclose(w->f);
        remove(w->tmp);
    }
    cJSON_Delete(w->header);
    cJSON_Delete(w->skipped);
    free(w->index.p);
    free(w->labels.p);
    free(w->strings.p);
    free(w->filtered);
    free(w->packed);
    free(w->path);
    free(w->tmp);
    free(w);
}

static cJSON *header_json(const struct qb_pack_info *m)
{
    cJSON *h = cJSON_CreateObject(), *names = NULL;
    const int input[4] = {m->batch, 3, m->dst_h, m->dst_w};
    bool ok = true;

    if (!h)
        return NULL;
    if (m->names) {
        names = cJSON_CreateArray();
        for (int c = 0; names && c < m->nc; c++)
            ok &= cJSON_AddItemToArray(names, cJSON_CreateString(m->names[c] ? m->names[c] : ""));
    } else {
        names = cJSON_CreateNull();
    }
    ok &= names != NULL;
    ok &= cJSON_AddStringToObject(h, "format", FORMAT) != NULL;
    ok &= cJSON_AddStringToObject(h, "model", m->model ? m->model : "") != NULL;
    ok &= cJSON_AddItemToObject(h, "input", cJSON_CreateIntArray(input, 4));
    ok &= cJSON_AddStringToObject(h, "letterbox", qb_letterbox_mode_names[m->mode]) != NULL;
    ok &= cJSON_AddStringToObject(h, "pixels", pixels_names[m->pixels]) != NULL;
    ok &= cJSON_AddStringToObject(h, "data", m->data ? m->data : "") != NULL;
    ok &= cJSON_AddStringToObject(h, "split", m->split ? m->split : "") != NULL;
    ok &= cJSON_AddItemToObject(h, "names", names);
    ok &= cJSON_AddNumberToObject(h, "nc", m->nc) != NULL;
    ok &= cJSON_AddBoolToObject(h, "has_labels", m->has_labels) != NULL;
    if (!ok) {
        cJSON_Delete(h);
        return NULL;
    }
    return h;
}

enum qb_status qb_pack_writer_new(const char *path, const struct qb_pack_info *meta, struct qb_pack_writer **out,
                                  struct qb_error *err)
{
    struct qb_pack_writer *w = NULL;
    struct qb_letterbox probe;
    unsigned char zero[PREAMBLE] = {0};
    enum qb_status st = QB_OK;
    int fd = -1;

    *out = NULL;
    if ((unsigned)meta->pixels >= QB_PACK_PIXELS_COUNT || (unsigned)meta->mode >= QB_LETTERBOX_MODE_COUNT ||
        meta->batch < 1 || meta->nc < 0 || (meta->names && meta->nc < 1))
        return qb_errorf(err, QB_ERR_USAGE, "%s: bad pack settings", path);
    if ((st = qb_letterbox_plan(1, 1, meta->dst_w, meta->dst_h, meta->mode, &probe, err)) != QB_OK)
        return st;
    if (!(w = calloc(1, sizeof(*w))) || !(w->path = dup_str(path)) || !(w->tmp = malloc(strlen(path) + 16)) ||
        !(w->header = header_json(meta)) || !(w->skipped = cJSON_CreateArray())) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    w->pixels = meta->pixels;
    w->dst_w = meta->dst_w;
    w->dst_h = meta->dst_h;
    w->mode = meta->mode;
    if (w->pixels == QB_PACK_PIXELS_DEFLATE) {
        w->packed_cap = compressBound((uLong)QB_LETTERBOX_RGB_BYTES(w->dst_w, w->dst_h));
        if (!(w->filtered = malloc(QB_LETTERBOX_RGB_BYTES(w->dst_w, w->dst_h))) || !(w->packed = malloc(w->packed_cap))) {
            st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    snprintf(w->tmp, strlen(path) + 16, "%s.tmp.XXXXXX", path);
    if ((fd = mkstemp(w->tmp)) < 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        goto out;
    }
    fchmod(fd, 0644);
    if (!(w->f = fdopen(fd, "wb"))) {
        st = qb_errorf(err, QB_ERR_IO, "%s: %s", w->tmp, strerror(errno));
        close(fd);
        remove(w->tmp);
        goto out;
    }
    if (fwrite(zero, 1, PREAMBLE, w->f) != PREAMBLE) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", w->tmp, strerror(errno));
        goto out;
    }
    w->pos = PREAMBLE;
    *out = w;
    w = NULL;
out:
    qb_pack_writer_abort(w);
    return st;
}

enum qb_status qb_pack_add(struct qb_pack_writer *w, const struct qb_pack_record *r, const unsigned char *rgb,
                           struct qb_error *err)
{
    struct qb_letterbox want;
    const struct qb_letterbox *lb = &r->lb;
    const size_t raw = (size_t)lb->new_w * lb->new_h * 3, path_len = strlen(r->path);
    const unsigned char *data = rgb;
    size_t stored = raw;
    unsigned char e[ENTRY] = {0};
    enum qb_status st;

    if (r->item < w->next_item || r->n_labels < 0)
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: items out of order (%zu)", w->path, r->item);
    if ((st = qb_letterbox_plan(lb->src_w, lb->src_h, w->dst_w, w->dst_h, w->mode, &want, err)) != QB_OK)
        return st;
    if (!same_letterbox(lb, &want))
        return qb_errorf(err, QB_ERR_INVALID, "%s: item %zu: letterbox does not match the pack's input %dx%d (%s)",
                         w->path, r->item, w->dst_w, w->dst_h, qb_letterbox_mode_names[w->mode]);
    if (w->strings.n + path_len > UINT32_MAX || w->n_labels + (uint64_t)r->n_labels > UINT32_MAX)
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: too many items for one pack", w->path);
    if (w->pixels == QB_PACK_PIXELS_DEFLATE) {
        uLongf n = w->packed_cap;
        sub_filter(rgb, w->filtered, lb->new_w, lb->new_h);
        if (compress2(w->packed, &n, w->filtered, (uLong)raw, 1) != Z_OK)
            return qb_errorf(err, QB_ERR_INTERNAL, "%s: deflate failed", w->path);
        data = w->packed;
        stored = n;
    }
    put64(e, w->pos);
    put64(e + 8, r->item);
    put64(e + 16, (uint64_t)(int64_t)r->frame);
    put32(e + 24, (uint32_t)stored);
    put32(e + 28, crc_of(data, stored));
    put32(e + 32, (uint32_t)lb->src_w);
    put32(e + 36, (uint32_t)lb->src_h);
    putf(e + 40, lb->scale);
    put32(e + 44, (uint32_t)lb->pad_left);
    put32(e + 48, (uint32_t)lb->pad_top);
    put32(e + 52, (uint32_t)lb->new_w);
    put32(e + 56, (uint32_t)lb->new_h);
    put32(e + 60, (uint32_t)w->n_labels);
    put32(e + 64, (uint32_t)r->n_labels);
    put32(e + 68, (uint32_t)w->strings.n);
    put32(e + 72, (uint32_t)path_len);
    for (int k = 0; k < r->n_labels; k++) {
        const struct qb_label *l = &r->labels[k];
        unsigned char b[LABEL];
        put32(b, (uint32_t)l->cls);
        putf(b + 4, l->cx);
        putf(b + 8, l->cy);
        putf(b + 12, l->w);
        putf(b + 16, l->h);
        if (!buf_put(&w->labels, b, LABEL))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    if (!buf_put(&w->index, e, ENTRY) || !buf_put(&w->strings, r->path, path_len))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if (!put_all(w->f, data, stored))
        return qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", w->tmp, strerror(errno));
    w->pos += stored;
    w->n_records++;
    w->n_labels += (uint64_t)r->n_labels;
    w->next_item = r->item + 1;
    w->bytes_stored += stored;
    w->bytes_raw += raw;
    return QB_OK;
}

enum qb_status qb_pack_add_skipped(struct qb_pack_writer *w, const struct qb_pack_skip *s, struct qb_error *err)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "item", (double)s->item) &&
              cJSON_AddNumberToObject(o, "frame", (double)s->frame) &&
              cJSON_AddStringToObject(o, "path", s->path ? s->path : "") &&
              cJSON_AddStringToObject(o, "error", s->error ? s->error : "");
    if (!ok || !cJSON_AddItemToArray(w->skipped, o)) {
        cJSON_Delete(o);
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    if (s->item < w->next_item)
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: items out of order (%zu)", w->path, s->item);
    w->next_item = s->item + 1;
    return QB_OK;
}

void qb_pack_writer_bytes(const struct qb_pack_writer *w, unsigned long long *stored, unsigned long long *raw)
{
    *stored = w->bytes_stored;
    *raw = w->bytes_raw;
}

static enum qb_status write_tail(struct qb_pack_writer *w, size_t items, struct qb_error *err)
{
    unsigned char pre[PREAMBLE] = {0};
    const uint64_t table_off = w->pos, table_len = w->index.n + w->labels.n + w->strings.n;
    uint32_t table_crc = crc_of(w->index.p, w->index.n);
    char *json = NULL;
    size_t json_len;
    enum qb_status st = QB_OK;

    table_crc = crc_update(table_crc, w->labels.p, w->labels.n);
    table_crc = crc_update(table_crc, w->strings.p, w->strings.n);
    if (items < w->next_item)
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: %zu items, but item %zu was added", w->path, items,
                         w->next_item - 1);
    if (!cJSON_AddNumberToObject(w->header, "items", (double)items) ||
        !cJSON_AddItemToObject(w->header, "skipped", w->skipped))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    w->skipped = NULL; /* owned by the header now */
    if (!(json = cJSON_PrintUnformatted(w->header)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    json_len = strlen(json);
    memcpy(pre, MAGIC, 8);
    put32(pre + 8, QB_PACK_VERSION);
    put64(pre + 16, table_off + table_len);
    put64(pre + 24, json_len);
    put64(pre + 32, table_off);
    put64(pre + 40, w->n_records);
    put64(pre + 48, w->n_labels);
    put64(pre + 56, w->strings.n);
    put32(pre + 64, crc_of((const unsigned char *)json, json_len));
    put32(pre + 68, table_crc);
    put64(pre + 72, table_off + table_len + json_len);
    put32(pre + 92, crc_of(pre, 92));
    if (!put_all(w->f, w->index.p, w->index.n) || !put_all(w->f, w->labels.p, w->labels.n) ||
        !put_all(w->f, w->strings.p, w->strings.n) || !put_all(w->f, json, json_len) ||
        fseek(w->f, 0, SEEK_SET) != 0 || !put_all(w->f, pre, PREAMBLE) || fflush(w->f) != 0 ||
        fsync(fileno(w->f)) != 0)
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", w->tmp, strerror(errno));
    free(json);
    return st;
}

enum qb_status qb_pack_writer_finish(struct qb_pack_writer *w, size_t items, struct qb_error *err)
{
    enum qb_status st = write_tail(w, items, err);
    FILE *f = w->f;

    w->f = NULL;
    if (fclose(f) != 0 && st == QB_OK)
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", w->tmp, strerror(errno));
    if (st == QB_OK && rename(w->tmp, w->path) != 0)
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot rename into place: %s", w->path, strerror(errno));
    if (st != QB_OK)
        remove(w->tmp);
    qb_pack_writer_abort(w);
    return st;
}

/* ---- reader ---- */

struct rec {
    uint64_t off;
    uint32_t stored, crc;
    struct qb_pack_record r;
};

struct qb_pack {
    char *path;
    int fd;
    struct qb_pack_info info;
    char *model, *data, *split;
    char **names;
    struct qb_pack_skip *skipped;
    struct rec *recs;
    size_t n;
    struct qb_label *labels;
    char *paths; /* every record's path, NUL-terminated */
    int max_class;
};

void qb_pack_close(struct qb_pack *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    for (int c = 0; p->names && c < p->info.nc; c++)
        free(p->names[c]);
    for (size_t i = 0; p->skipped && i < p->info.n_skipped; i++) {
        free((char *)p->skipped[i].path);
        free((char *)p->skipped[i].error);
    }
    free(p->names);
    free(p->skipped);
    free(p->model);
    free(p->data);
    free(p->split);
    free(p->recs);
    free(p->labels);
    free(p->paths);
    free(p->path);
    free(p);
}

const struct qb_pack_info *qb_pack_info(const struct qb_pack *p)
{
    return &p->info;
}

size_t qb_pack_count(const struct qb_pack *p)
{
    return p->n;
}

int qb_pack_max_class(const struct qb_pack *p)
{
    return p->max_class;
}

void qb_pack_record(const struct qb_pack *p, size_t i, struct qb_pack_record *r)
{
    *r = p->recs[i].r;
}

/* Reads exactly n bytes at off; a short read means the file was cut. */
static enum qb_status read_at(const struct qb_pack *p, void *dst, size_t n, uint64_t off, struct qb_error *err)
{
    unsigned char *d = dst;
    while (n) {
        ssize_t k = pread(p->fd, d, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return qb_errorf(err, QB_ERR_IO, "%s: %s", p->path, strerror(errno));
        if (k == 0)
            return qb_errorf(err, QB_ERR_PARSE, "%s: truncated pack (ends before byte %llu)", p->path,
                             (unsigned long long)off + 1);
        d += k;
        off += (uint64_t)k;
        n -= (size_t)k;
    }
    return QB_OK;
}

/* ---- the JSON header ---- */

static const char *const header_keys[] = {"format", "model", "input", "letterbox", "pixels", "data", "split",
                                          "names", "nc", "has_labels", "items", "skipped", NULL};
static const char *const skip_keys[] = {"item", "frame", "path", "error", NULL};

/* Every member of o is one of keys; the name of the first that is not, else NULL. */
static const char *unknown_key(const cJSON *o, const char *const *keys)
{
    for (const cJSON *c = o->child; c; c = c->next) {
        int k = 0;
        while (keys[k] && strcmp(keys[k], c->string) != 0)
            k++;
        if (!keys[k])
            return c->string;
    }
    return NULL;
}

static bool int_in(const cJSON *v, double lo, double hi, long long *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) || v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (long long)v->valuedouble;
    return true;
}

static int name_index(const char *const *names, int n, const cJSON *v)
{
    for (int i = 0; cJSON_IsString(v) && i < n; i++)
        if (strcmp(names[i], v->valuestring) == 0)
            return i;
    return -1;
}

static enum qb_status parse_skipped(struct qb_pack *p, const cJSON *arr, struct qb_error *err)
{
    const int n = cJSON_GetArraySize(arr);
    int i = 0;

    if (n && !(p->skipped = calloc((size_t)n, sizeof(*p->skipped))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (const cJSON *s = arr->child; s; s = s->next, i++) {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(s, "path");
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(s, "error");
        long long item, frame;
        if (!cJSON_IsObject(s) || unknown_key(s, skip_keys) ||
            !int_in(cJSON_GetObjectItemCaseSensitive(s, "item"), 0, (double)p->info.items - 1, &item) ||
            !int_in(cJSON_GetObjectItemCaseSensitive(s, "frame"), -1, 9e15, &frame) || !cJSON_IsString(path) ||
            !cJSON_IsString(why))
            return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: skipped item %d", p->path, i);
        p->skipped[i].item = (size_t)item;
        p->skipped[i].frame = (long)frame;
        p->info.n_skipped = (size_t)i + 1;
        if (!(p->skipped[i].path = dup_str(path->valuestring)) || !(p->skipped[i].error = dup_str(why->valuestring)))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    return QB_OK;
}

static enum qb_status parse_names(struct qb_pack *p, const cJSON *names, struct qb_error *err)
{
    int i = 0;
    if (cJSON_IsNull(names))
        return QB_OK;
    if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) != p->info.nc || p->info.nc < 1)
        return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: names do not match nc %d", p->path, p->info.nc);
    if (!(p->names = calloc((size_t)p->info.nc, sizeof(*p->names))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (const cJSON *c = names->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c))
            return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: class name %d is not a string", p->path, i);
        if (!(p->names[i] = dup_str(c->valuestring)))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    p->info.names = (const char *const *)p->names;
    return QB_OK;
}

static enum qb_status parse_header(struct qb_pack *p, const char *text, size_t len, uint64_t n_records,
                                   struct qb_error *err)
{
    cJSON *h = cJSON_ParseWithLength(text, len);
    const cJSON *input = h ? cJSON_GetObjectItemCaseSensitive(h, "input") : NULL;
    const cJSON *strs[4];
    const char *bad = NULL, *extra;
    long long dims[4] = {0}, nc = 0, items = 0;
    int mode, pixels;
    enum qb_status st = QB_OK;

    if (!cJSON_IsObject(h)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: not JSON", p->path);
        goto out;
    }
    if ((extra = unknown_key(h, header_keys))) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: unknown key '%s'", p->path, extra);
        goto out;
    }
    strs[0] = cJSON_GetObjectItemCaseSensitive(h, "format");
    strs[1] = cJSON_GetObjectItemCaseSensitive(h, "model");
    strs[2] = cJSON_GetObjectItemCaseSensitive(h, "data");
    strs[3] = cJSON_GetObjectItemCaseSensitive(h, "split");
    mode = name_index(qb_letterbox_mode_names, QB_LETTERBOX_MODE_COUNT, cJSON_GetObjectItemCaseSensitive(h, "letterbox"));
    pixels = name_index(pixels_names, QB_PACK_PIXELS_COUNT, cJSON_GetObjectItemCaseSensitive(h, "pixels"));
    for (int i = 0; i < 4 && !bad; i++)
        if (!cJSON_IsString(strs[i]))
            bad = "format, model, data or split is not a string";
    if (!bad && strcmp(strs[0]->valuestring, FORMAT) != 0)
        bad = "format is not " FORMAT;
    if (!bad && (cJSON_GetArraySize(input) != 4 || !cJSON_IsArray(input)))
        bad = "input is not [batch, 3, height, width]";
    for (int i = 0; i < 4 && !bad; i++)
        if (!int_in(cJSON_GetArrayItem(input, i), 1, 65535, &dims[i]) || (i == 1 && dims[1] != 3))
            bad = "input is not [batch, 3, height, width]";
    if (!bad && mode < 0)
        bad = "unknown letterbox";
    if (!bad && pixels < 0)
        bad = "unknown pixel encoding";
    if (!bad && !int_in(cJSON_GetObjectItemCaseSensitive(h, "nc"), 0, 1e6, &nc))
        bad = "bad nc";
    if (!bad && !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(h, "has_labels")))
        bad = "bad has_labels";
    if (!bad && !int_in(cJSON_GetObjectItemCaseSensitive(h, "items"), (double)n_records, 9e15, &items))
        bad = "bad items count";
    if (!bad && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(h, "skipped")))
        bad = "skipped is not a list";
    if (bad) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: %s", p->path, bad);
        goto out;
    }
    p->info.batch = (int)dims[0];
    p->info.dst_h = (int)dims[2];
    p->info.dst_w = (int)dims[3];
    p->info.mode = (enum qb_letterbox_mode)mode;
    p->info.pixels = (enum qb_pack_pixels)pixels;
    p->info.nc = (int)nc;
    p->info.has_labels = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "has_labels"));
    p->info.items = (size_t)items;
    if (!(p->model = dup_str(strs[1]->valuestring)) || !(p->data = dup_str(strs[2]->valuestring)) ||
        !(p->split = dup_str(strs[3]->valuestring))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    p->info.model = p->model;
    p->info.data = p->data;
    p->info.split = p->split;
    if ((st = parse_names(p, cJSON_GetObjectItemCaseSensitive(h, "names"), err)) != QB_OK)
        goto out;
    if ((st = parse_skipped(p, cJSON_GetObjectItemCaseSensitive(h, "skipped"), err)) != QB_OK)
        goto out;
    p->info.skipped = p->skipped;
out:
    cJSON_Delete(h);
    return st;
}

/* ---- the table ---- */

/* Decodes and checks index entry i; *lab, *str, *pix: where the next record's labels,
 * path and pixels must start (records are stored one after the other). */
static enum qb_status parse_entry(struct qb_pack *p, const unsigned char *e, size_t i, uint64_t *lab, uint64_t *str,
                                  uint64_t *pix, uint64_t table_off, struct qb_error *err)
{
    struct rec *r = &p->recs[i];
    struct qb_letterbox *lb = &r->r.lb, want;
    const uint64_t item = get64(e + 8);
    const int64_t frame = (int64_t)get64(e + 16);
    const uint32_t lab_first = get32(e + 60), n_lab = get32(e + 64), path_off = get32(e + 68), path_len = get32(e + 72);
    struct qb_error ignore;

    r->off = get64(e);
    r->stored = get32(e + 24);
    r->crc = get32(e + 28);
    lb->src_w = (int32_t)get32(e + 32);
    lb->src_h = (int32_t)get32(e + 36);
    lb->scale = getf(e + 40);
    lb->pad_left = (int32_t)get32(e + 44);
    lb->pad_top = (int32_t)get32(e + 48);
    lb->new_w = (int32_t)get32(e + 52);
    lb->new_h = (int32_t)get32(e + 56);
    lb->dst_w = p->info.dst_w;
    lb->dst_h = p->info.dst_h;
    lb->mode = p->info.mode;
    if (r->off != *pix || r->stored > table_off - *pix || lab_first != *lab || path_off != *str ||
        item >= p->info.items || (i && item <= p->recs[i - 1].r.item) || frame < -1 || frame > 9000000000000000LL)
        return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack index: record %zu", p->path, i);
    if (n_lab > INT32_MAX)
        return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack index: record %zu", p->path, i);
    if (qb_letterbox_plan(lb->src_w, lb->src_h, lb->dst_w, lb->dst_h, lb->mode, &want, &ignore) != QB_OK ||
        !same_letterbox(lb, &want))
        return qb_errorf(err, QB_ERR_PARSE,
                         "%s: record %zu: stored letterbox is not the one qbench computes for a %dx%d image (%s, "
                         "input %dx%d): corrupt, or made by an incompatible qbench", p->path, i, lb->src_w, lb->src_h,
                         qb_letterbox_mode_names[lb->mode], lb->dst_w, lb->dst_h);
    if (p->info.pixels == QB_PACK_PIXELS_RAW && r->stored != (uint64_t)lb->new_w * lb->new_h * 3)
        return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack index: record %zu has %u bytes of pixels, not %d x %d x 3",
                         p->path, i, r->stored, lb->new_w, lb->new_h);
    r->r.item = (size_t)item;
    r->r.frame = (long)frame;
    r->r.n_labels = (int)n_lab;
    *lab += n_lab;
    *str += path_len;
    *pix += r->stored;
    return QB_OK;
}

static enum qb_status parse_table(struct qb_pack *p, const unsigned char *t, uint64_t n, uint64_t n_labels,
                                  uint64_t strings_len, uint64_t table_off, struct qb_error *err)
{
    const unsigned char *lab_bytes = t + n * ENTRY, *strs = lab_bytes + n_labels * LABEL;
    uint64_t lab = 0, str = 0, pix = PREAMBLE;
    char *dst;
    enum qb_status st;

    p->recs = calloc(n ? n : 1, sizeof(*p->recs));
    p->labels = calloc(n_labels ? n_labels : 1, sizeof(*p->labels));
    p->paths = malloc(strings_len + n + 1);
    if (!p->recs || !p->labels || !p->paths)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (uint64_t k = 0; k < n_labels; k++) {
        const unsigned char *b = lab_bytes + k * LABEL;
        struct qb_label *l = &p->labels[k];
        l->cls = (int32_t)get32(b);
        l->cx = getf(b + 4);
        l->cy = getf(b + 8);
        l->w = getf(b + 12);
        l->h = getf(b + 16);
        if (l->cls < 0 || (p->info.nc && l->cls >= p->info.nc) || !isfinite(l->cx) || !isfinite(l->cy) ||
            !isfinite(l->w) || !isfinite(l->h))
            return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack: label %llu", p->path, (unsigned long long)k);
        if (l->cls > p->max_class)
            p->max_class = l->cls;
    }
    dst = p->paths;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *e = t + i * ENTRY;
        const uint32_t path_len = get32(e + 72);
        if ((st = parse_entry(p, e, i, &lab, &str, &pix, table_off, err)) != QB_OK)
            return st;
        if (lab > n_labels || str > strings_len || memchr(strs + str - path_len, 0, path_len))
            return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack index: record %llu", p->path,
                             (unsigned long long)i);
        memcpy(dst, strs + str - path_len, path_len);
        dst[path_len] = '\0';
        p->recs[i].r.path = dst;
        p->recs[i].r.labels = p->labels + (lab - p->recs[i].r.n_labels);
        dst += path_len + 1;
    }
    if (lab != n_labels || str != strings_len || pix != table_off)
        return qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack index: sizes do not add up", p->path);
    p->n = (size_t)n;
    return QB_OK;
}

enum qb_status qb_pack_open(const char *path, struct qb_pack **out, struct qb_error *err)
{
    struct qb_pack *p = NULL;
    unsigned char pre[PREAMBLE], *table = NULL;
    char *json = NULL;
    struct stat sb;
    uint64_t json_off, json_len, table_off, n, n_labels, strings_len, size, table_len;
    uint32_t version;
    enum qb_status st = QB_OK;

    *out = NULL;
    if (!(p = calloc(1, sizeof(*p))) || !(p->path = dup_str(path))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    p->max_class = -1;
    if ((p->fd = open(path, O_RDONLY)) < 0 || fstat(p->fd, &sb) != 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)sb.st_size < 8 || (st = read_at(p, pre, 8, 0, err)) != QB_OK || memcmp(pre, MAGIC, 8) != 0) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: not a qbench pack (no QBPACK signature)", path);
        goto out;
    }
    if ((uint64_t)sb.st_size < PREAMBLE) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: truncated pack (%lld bytes)", path, (long long)sb.st_size);
        goto out;
    }
    if ((st = read_at(p, pre, PREAMBLE, 0, err)) != QB_OK)
        goto out;
    if ((version = get32(pre + 8)) != QB_PACK_VERSION) {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: pack version %u; this qbench reads version %d (pack the data again)",
                       path, version, QB_PACK_VERSION);
        goto out;
    }
    if (get32(pre + 92) != crc_of(pre, 92)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack (preamble CRC mismatch)", path);
        goto out;
    }
    json_off = get64(pre + 16);
    json_len = get64(pre + 24);
    table_off = get64(pre + 32);
    n = get64(pre + 40);
    n_labels = get64(pre + 48);
    strings_len = get64(pre + 56);
    size = get64(pre + 72);
    if ((uint64_t)sb.st_size != size) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: %s pack: %lld bytes, its preamble says %llu", path,
                       (uint64_t)sb.st_size < size ? "truncated" : "corrupt", (long long)sb.st_size,
                       (unsigned long long)size);
        goto out;
    }
    /* sections in order, inside the file; every count bounded by the size first */
    if (n > size / ENTRY || n_labels > size / LABEL || strings_len > size || table_off < PREAMBLE || table_off > size ||
        (table_len = n * ENTRY + n_labels * LABEL + strings_len) > size - table_off ||
        json_off != table_off + table_len || json_len != size - json_off) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack (section sizes)", path);
        goto out;
    }
    if (!(json = malloc(json_len + 1)) || !(table = malloc(table_len + 1))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = read_at(p, json, json_len, json_off, err)) != QB_OK || (st = read_at(p, table, table_len, table_off, err)))
        goto out;
    if (crc_of((unsigned char *)json, json_len) != get32(pre + 64) || crc_of(table, table_len) != get32(pre + 68)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack (%s CRC mismatch)", path,
                       crc_of((unsigned char *)json, json_len) != get32(pre + 64) ? "header" : "index");
        goto out;
    }
    if ((st = parse_header(p, json, json_len, n, err)) != QB_OK ||
        (st = parse_table(p, table, n, n_labels, strings_len, table_off, err)) != QB_OK)
        goto out;
    if (p->info.n_skipped + p->n > p->info.items) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack header: more records and skipped items than items", path);
        goto out;
    }
    *out = p;
    p = NULL;
out:
    free(json);
    free(table);
    qb_pack_close(p);
    return st;
}

enum qb_status qb_pack_read_rgb(const struct qb_pack *p, size_t i, unsigned char *rgb, struct qb_error *err)
{
    const struct rec *r = &p->recs[i];
    const uLong raw = (uLong)r->r.lb.new_w * (uLong)r->r.lb.new_h * 3;
    unsigned char *data = p->info.pixels == QB_PACK_PIXELS_RAW ? rgb : malloc(r->stored ? r->stored : 1);
    uLongf n = raw;
    enum qb_status st;

    if (!data)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if ((st = read_at(p, data, r->stored, r->off, err)) != QB_OK)
        goto out;
    if (crc_of(data, r->stored) != r->crc) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack: record %zu (%s): pixel CRC mismatch", p->path, i,
                       r->r.path);
        goto out;
    }
    if (p->info.pixels == QB_PACK_PIXELS_DEFLATE) {
        if (uncompress(rgb, &n, data, r->stored) != Z_OK || n != raw) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: corrupt pack: record %zu (%s): bad deflate data", p->path, i,
                           r->r.path);
            goto out;
        }
        sub_unfilter(rgb, r->r.lb.new_w, r->r.lb.new_h);
    }
out:
    if (data != rgb)
        free(data);
    return st;
}
