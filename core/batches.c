/* Batches of model inputs decoded one batch ahead (core/batches.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batches.h"

struct qb_batches {
    struct qb_batches_opts o;
    struct qb_batch buf[2];
    unsigned char *rgb;          /* the producer's */
    struct qb_video *video;      /* the producer's */
    size_t next;                 /* the producer's position in the source */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool sync_ok;
    /* under mu: ready[k] means buf[k] is filled and belongs to the consumer */
    bool ready[2], stop, failed;
    struct qb_error err;
    int k;                       /* the buffer next() hands out next */
    int held;                    /* the buffer the consumer holds, or -1 */
    const struct qb_batch *end;  /* the end marker, once handed out */
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Fills b from the source; skips (and counts) unreadable images. b->filled == 0:
 * nothing left. An error stops the run (a damaged pack). */
static enum qb_status fill(struct qb_batches *q, struct qb_batch *b, struct qb_error *err)
{
    const struct qb_batches_opts *o = &q->o;
    const size_t per = (size_t)3 * o->h * o->w;
    const size_t end = o->ds ? o->limit : qb_pack_count(o->pack);
    enum qb_status st = QB_OK;
    double t0 = now();
    int slot = 0;

    b->skipped = 0;
    while (slot < o->batch && q->next < end) {
        size_t i = q->next++;
        if (o->ds) {
            struct qb_error e = {0};
            if (qb_dataset_load(o->ds, i, &q->video, o->w, o->h, o->mode, q->rgb, &b->lb[slot], &e) != QB_OK) {
                qb_log(QB_LOG_WARN, "skipped: %s", e.msg);
                b->skipped++;
                continue;
            }
        } else {
            struct qb_pack_record r;
            qb_pack_record(o->pack, i, &r);
            if (r.item >= o->limit) {
                q->next = end;
                break;
            }
            if ((st = qb_pack_read_rgb(o->pack, i, q->rgb, err)) != QB_OK)
                break;
            b->lb[slot] = r.lb;
        }
        qb_letterbox_to_chw(q->rgb, &b->lb[slot], b->input + slot * per);
        b->item[slot++] = i;
    }
    for (int s = slot; s < o->batch && slot > 0; s++) {
        if (o->repeat_pad)
            memcpy(b->input + s * per, b->input + (s % slot) * per, per * sizeof(float));
        else
            for (size_t k = 0; k < per; k++)
                b->input[s * per + k] = 114.0f / 255.0f;
    }
    b->filled = slot;
    b->t_decode = now() - t0;
    return st;
}

static void *produce(void *arg)
{
    struct qb_batches *q = arg;

    for (int k = 0;; k ^= 1) {
        struct qb_error err = {0};
        enum qb_status st;
        bool stop, last;

        pthread_mutex_lock(&q->mu);
        while (q->ready[k] && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (stop)
            break;
        st = fill(q, &q->buf[k], &err);
        last = q->buf[k].filled == 0; /* read before handing the buffer over */
        pthread_mutex_lock(&q->mu);
        if (st != QB_OK) {
            q->failed = true;
            q->err = err;
            q->err.status = st;
        } else {
            q->ready[k] = true;
        }
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (st != QB_OK || last)
            break;
    }
    return NULL;
}

enum qb_status qb_batches_start(const struct qb_batches_opts *o, struct qb_batches **out, struct qb_error *err)
{
    const size_t per = (size_t)3 * o->h * o->w, n = o->batch > 0 ? (size_t)o->batch : 1;
    struct qb_batches *q = calloc(1, sizeof(*q));

    *out = NULL;
    if (!q)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    q->o = *o;
    q->held = -1;
    if (o->pack)
        q->o.mode = qb_pack_info(o->pack)->mode;
    if (!(q->rgb = malloc(QB_LETTERBOX_RGB_BYTES(o->w, o->h))))
        goto nomem;
    for (int k = 0; k < 2; k++) {
        struct qb_batch *b = &q->buf[k];
        if (!(b->input = malloc(n * per * sizeof(float))) || !(b->lb = calloc(n, sizeof(*b->lb))) ||
            !(b->item = calloc(n, sizeof(*b->item))))
            goto nomem;
    }
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        qb_batches_stop(q);
        return qb_errorf(err, QB_ERR_INTERNAL, "cannot create a mutex");
    }
    if (pthread_cond_init(&q->cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        qb_batches_stop(q);
        return qb_errorf(err, QB_ERR_INTERNAL, "cannot create a condition variable");
    }
    q->sync_ok = true;
    if (pthread_create(&q->thread, NULL, produce, q) != 0) {
        qb_batches_stop(q);
        return qb_errorf(err, QB_ERR_INTERNAL, "cannot start the decoding thread");
    }
    q->started = true;
    *out = q;
    return QB_OK;
nomem:
    qb_batches_stop(q);
    return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
}

enum qb_status qb_batches_next(struct qb_batches *q, const struct qb_batch **out, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    int k;

    pthread_mutex_lock(&q->mu);
    if (q->held >= 0) { /* hand the previous batch back for refilling */
        q->ready[q->held] = false;
        q->held = -1;
        pthread_cond_broadcast(&q->cv);
    }
    if (q->end) {
        *out = q->end;
        pthread_mutex_unlock(&q->mu);
        return QB_OK;
    }
    k = q->k;
    while (!q->ready[k] && !q->failed)
        pthread_cond_wait(&q->cv, &q->mu);
    if (q->ready[k]) {
        q->held = k;
        q->k ^= 1;
        *out = &q->buf[k];
        if (!q->buf[k].filled)
            q->end = *out;
    } else {
        *err = q->err;
        st = q->err.status;
    }
    pthread_mutex_unlock(&q->mu);
    return st;
}

void qb_batches_stop(struct qb_batches *q)
{
    if (!q)
        return;
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->stop = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->thread, NULL);
    }
    if (q->sync_ok) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
    }
    qb_video_close(q->video);
    free(q->rgb);
    for (int k = 0; k < 2; k++) {
        free(q->buf[k].input);
        free(q->buf[k].lb);
        free(q->buf[k].item);
    }
    free(q);
}
