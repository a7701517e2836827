/* An evaluation set held in memory, for work that runs many plans over the same
 * images (sensitivity sweeps, the search, the TUI's rebuilds): read and letterboxed
 * once, kept as the bytes the float inputs are made of (x = byte / 255, exactly), with
 * each image's letterbox and labels.
 *
 *     struct qb_evalset *s;
 *     qb_evalset_load(&(struct qb_evalset_opts){.ds = ds, .batch = 2, .w = 640, .h = 640,
 *                                               .limit = 200}, &s, &err);
 *     for (int b = 0; b < s->n_batches; b++) {
 *         int filled = qb_evalset_input(s, b, input);   // batch x 3 x h x w floats
 *         ... image i = b * s->batch + k for k < filled: s->lb[i], qb_evalset_labels(s, i, &n)
 *     }
 *     qb_evalset_free(s);
 *
 * 1.2 MB per image at 640 x 640. */
#ifndef QB_EVALSET_H
#define QB_EVALSET_H

#include <stdbool.h>
#include <stddef.h>

#include "batches.h"
#include "det.h"

struct qb_evalset {
    int batch, w, h;             /* the model input [batch, 3, h, w] */
    int n_images, n_batches;     /* the last batch may be partly filled (grey padding) */
    unsigned char *pixels;       /* n_batches * batch * 3 * h * w, CHW per slot */
    struct qb_letterbox *lb;     /* per image */
    size_t *item;                /* per image: dataset item or pack record */
    struct qb_gt *gt;            /* every image's labels, in original-image pixels ... */
    int *gt_at;                  /* ... image i's from gt[gt_at[i]] to gt[gt_at[i + 1]] */
    bool labelled;               /* the source has labels (a label-less image has none) */
    long skipped;                /* unreadable items passed over */
    char hash[65];               /* sha256 over pixels, letterboxes and labels: the cache key */
};

struct qb_evalset_opts {
    const struct qb_dataset *ds; /* one of ds and pack */
    struct qb_pack *pack;
    int batch, w, h;
    enum qb_letterbox_mode mode; /* datasets only */
    size_t limit;                /* at most this many items (0: all) */
    /* Called after each batch is read (may be NULL). */
    void (*progress)(void *user, int images, size_t of);
    void *user;
};

enum qb_status qb_evalset_load(const struct qb_evalset_opts *o, struct qb_evalset **out, struct qb_error *err);
void qb_evalset_free(struct qb_evalset *s);

/* Writes batch b into input (batch x 3 x h x w floats); returns its filled slots. */
int qb_evalset_input(const struct qb_evalset *s, int b, float *input);
/* Image i's labels (count in *n). */
const struct qb_gt *qb_evalset_labels(const struct qb_evalset *s, int i, int *n);

#endif
