/* Model inputs in batches, from a dataset (image files, video frames) or a pack,
 * decoded on a producer thread one batch ahead of the consumer (two buffers):
 *
 *     struct qb_batches *b;
 *     qb_batches_start(&(struct qb_batches_opts){.ds = ds, .batch = 2, .w = 640, .h = 640,
 *                                               .limit = n}, &b, &err);
 *     const struct qb_batch *x;
 *     while ((st = qb_batches_next(b, &x, &err)) == QB_OK && x->filled) {
 *         memcpy(input, x->input, ...);            // valid until the next call
 *         ...
 *     }
 *     qb_batches_stop(b);
 *
 * Unreadable images are skipped (a warning through qb_log names each) and counted
 * in the batch that passed over them; a damaged pack stops the run with an error.
 * Slots after the last item of the last batch are padding: grey (114), or repeats
 * of the batch's first items (repeat_pad), for callers that must not see grey. */
#ifndef QB_BATCHES_H
#define QB_BATCHES_H

#include <stdbool.h>
#include <stddef.h>

#include "dataset.h"
#include "image.h"
#include "pack.h"
#include "status.h"

struct qb_batch {
    float *input;                /* batch x 3 x h x w */
    struct qb_letterbox *lb;     /* per filled slot */
    size_t *item;                /* per filled slot: dataset item or pack record */
    int filled;                  /* slots holding items; 0 marks the end */
    long skipped;                /* unreadable items passed over while filling it */
    double t_decode;             /* seconds the producer spent filling it */
};

struct qb_batches_opts {
    const struct qb_dataset *ds; /* one of ds and pack */
    struct qb_pack *pack;
    int batch, w, h;
    enum qb_letterbox_mode mode; /* datasets only: a pack has its own */
    size_t limit;                /* items (dataset) or source items (pack) below limit are read */
    bool repeat_pad;
};

struct qb_batches;

enum qb_status qb_batches_start(const struct qb_batches_opts *o, struct qb_batches **out, struct qb_error *err);
/* The next batch, in order; *out is valid until the next call or stop. After the
 * end marker (filled 0) it returns the marker again. An error from either side
 * ends the sequence. */
enum qb_status qb_batches_next(struct qb_batches *b, const struct qb_batch **out, struct qb_error *err);
/* Stops the producer (also early) and frees everything. NULL is fine. */
void qb_batches_stop(struct qb_batches *b);

#endif
