/* Images in memory for repeated evaluation (core/evalset.h). */
#include <math.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "evalset.h"

static size_t slot_bytes(const struct qb_evalset *s)
{
    return (size_t)3 * s->h * s->w;
}

/* Appends the labels of one image (original-image pixels, as `qbench eval` scores them). */
static enum qb_status add_labels(struct qb_evalset *s, const struct qb_evalset_opts *o, int i, int *cap,
                                 struct qb_error *err)
{
    struct qb_pack_record r = {0};
    int at = s->gt_at[i], n;

    if (o->pack)
        qb_pack_record(o->pack, s->item[i], &r);
    n = o->ds ? qb_dataset_label_count(o->ds, s->item[i]) : r.n_labels;
    if (at + n > *cap) {
        int grown_cap = (at + n) * 2 + 64;
        struct qb_gt *grown = realloc(s->gt, (size_t)grown_cap * sizeof(*grown));
        if (!grown)
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory reading the evaluation images");
        s->gt = grown;
        *cap = grown_cap;
    }
    if (o->ds)
        n = qb_dataset_labels(o->ds, s->item[i], &s->lb[i], s->gt + at);
    else
        qb_labels_to_px(r.labels, r.n_labels, &s->lb[i], s->gt + at);
    s->gt_at[i + 1] = at + n;
    return QB_OK;
}

/* Keeps one batch as bytes; the float input must be exactly byte / 255. */
static enum qb_status keep_batch(struct qb_evalset *s, int b, const float *input, struct qb_error *err)
{
    size_t n = (size_t)s->batch * slot_bytes(s);
    unsigned char *dst = s->pixels + (size_t)b * n;
    for (size_t i = 0; i < n; i++) {
        long v = lrintf(input[i] * 255.0f);
        if (v < 0 || v > 255 || (float)v / 255.0f != input[i])
            return qb_errorf(err, QB_ERR_INTERNAL, "evaluation input %g is not a byte / 255", (double)input[i]);
        dst[i] = (unsigned char)v;
    }
    return QB_OK;
}

static void hash_set(struct qb_evalset *s)
{
    SHA2_CTX ctx;
    uint8_t digest[32];
    SHA256Init(&ctx);
    SHA256Update(&ctx, (const uint8_t *)&s->n_images, sizeof(s->n_images));
    SHA256Update(&ctx, s->pixels, (size_t)s->n_batches * s->batch * slot_bytes(s));
    SHA256Update(&ctx, (const uint8_t *)s->lb, (size_t)s->n_images * sizeof(*s->lb));
    SHA256Update(&ctx, (const uint8_t *)s->gt_at, (size_t)(s->n_images + 1) * sizeof(*s->gt_at));
    if (s->gt_at[s->n_images])
        SHA256Update(&ctx, (const uint8_t *)s->gt, (size_t)s->gt_at[s->n_images] * sizeof(*s->gt));
    SHA256Final(digest, &ctx);
    for (int i = 0; i < 32; i++)
        snprintf(s->hash + 2 * i, 3, "%02x", digest[i]);
}

enum qb_status qb_evalset_load(const struct qb_evalset_opts *o, struct qb_evalset **out, struct qb_error *err)
{
    struct qb_evalset *s = calloc(1, sizeof(*s));
    struct qb_batches *q = NULL;
    const struct qb_batch *x;
    size_t total = o->pack ? qb_pack_count(o->pack) : qb_dataset_count(o->ds);
    size_t cap_images;
    int gt_cap = 0;
    enum qb_status st = QB_OK;

    *out = NULL;
    if (!s)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if (o->limit && o->limit < total)
        total = o->limit;
    cap_images = total + (size_t)o->batch;
    s->batch = o->batch;
    s->w = o->w;
    s->h = o->h;
    s->labelled = o->pack ? qb_pack_info(o->pack)->has_labels : qb_dataset_has_labels(o->ds);
    s->pixels = malloc((cap_images / (size_t)o->batch + 1) * (size_t)o->batch * slot_bytes(s));
    s->lb = calloc(cap_images, sizeof(*s->lb));
    s->item = calloc(cap_images, sizeof(*s->item));
    s->gt_at = calloc(cap_images + 1, sizeof(*s->gt_at));
    if (!s->pixels || !s->lb || !s->item || !s->gt_at) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory holding %zu evaluation images (%.0f MB)", total,
                       total * (double)slot_bytes(s) / 1e6);
        goto out;
    }
    if ((st = qb_batches_start(&(struct qb_batches_opts){.ds = o->ds, .pack = o->pack, .batch = o->batch,
                                                         .w = o->w, .h = o->h, .mode = o->mode, .limit = total},
                               &q, err)) != QB_OK)
        goto out;
    while ((st = qb_batches_next(q, &x, err)) == QB_OK) {
        s->skipped += x->skipped;
        if (!x->filled)
            break;
        if ((st = keep_batch(s, s->n_batches, x->input, err)) != QB_OK)
            goto out;
        for (int k = 0; k < x->filled; k++) {
            int i = s->n_images++;
            s->lb[i] = x->lb[k];
            s->item[i] = x->item[k];
            if ((st = add_labels(s, o, i, &gt_cap, err)) != QB_OK)
                goto out;
        }
        s->n_batches++;
        if (o->progress)
            o->progress(o->user, s->n_images, total);
    }
    if (st == QB_OK && !s->n_images)
        st = qb_errorf(err, QB_ERR_IO, "no readable images (%ld skipped)", s->skipped);
    if (st == QB_OK)
        hash_set(s);
out:
    qb_batches_stop(q);
    if (st != QB_OK)
        qb_evalset_free(s);
    else
        *out = s;
    return st;
}

void qb_evalset_free(struct qb_evalset *s)
{
    if (!s)
        return;
    free(s->pixels);
    free(s->lb);
    free(s->item);
    free(s->gt);
    free(s->gt_at);
    free(s);
}

int qb_evalset_input(const struct qb_evalset *s, int b, float *input)
{
    float lut[256];
    size_t n = (size_t)s->batch * slot_bytes(s);
    const unsigned char *src = s->pixels + (size_t)b * n;
    int filled = s->n_images - b * s->batch;

    for (int v = 0; v < 256; v++)
        lut[v] = v / 255.0f;
    for (size_t i = 0; i < n; i++)
        input[i] = lut[src[i]];
    return filled < s->batch ? filled : s->batch;
}

const struct qb_gt *qb_evalset_labels(const struct qb_evalset *s, int i, int *n)
{
    *n = s->gt_at[i + 1] - s->gt_at[i];
    return s->gt + s->gt_at[i];
}
