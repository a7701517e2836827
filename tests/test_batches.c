/* core/batches: the decode-ahead batch source gives, in order, exactly what
 * loading each item by hand gives (qb_dataset_load + qb_letterbox_to_chw), skips
 * and counts unreadable images, pads the last batch (grey, or repeats), honours
 * the limit, returns the end marker again after the end, and can be stopped
 * early with batches still in flight. */
#include "core/batches.h"
#include "testutil.h"

#define W 64
#define H 48
#define N_IMG 7

static char root[256];

static const char *P(const char *rel)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", root, rel);
    return buf[k];
}

static void make_images(void)
{
    unsigned char rgb[37 * 23 * 3];
    struct qb_error err = {0};
    char rel[64];
    mkdir(P("images"), 0755);
    for (int i = 0; i < N_IMG; i++) {
        for (size_t k = 0; k < sizeof(rgb); k++)
            rgb[k] = (unsigned char)(k * 7 + (size_t)i * 31);
        snprintf(rel, sizeof(rel), "images/im%d.png", i);
        CHECKF(qb_image_write_rgb(P(rel), rgb, 37, 23, 95, &err) == QB_OK, "%s", err.msg);
    }
    FILE *f = fopen(P("images/im3b.png"), "w"); /* sorts between im3 and im4: unreadable */
    fputs("not a png", f);
    fclose(f);
}

/* What item i of the dataset becomes by hand. */
static void expected(const struct qb_dataset *ds, size_t i, float *chw)
{
    static unsigned char rgb[QB_LETTERBOX_RGB_BYTES(W, H)];
    struct qb_video *v = NULL;
    struct qb_letterbox lb;
    struct qb_error err = {0};
    CHECKF(qb_dataset_load(ds, i, &v, W, H, QB_LETTERBOX_PREDICT, rgb, &lb, &err) == QB_OK, "%s", err.msg);
    qb_letterbox_to_chw(rgb, &lb, chw);
    qb_video_close(v);
}

static void run(const struct qb_dataset *ds, size_t limit, bool repeat_pad)
{
    const size_t per = (size_t)3 * W * H;
    float *want = malloc(per * sizeof(float));
    struct qb_batches *q = NULL;
    struct qb_error err = {0};
    const struct qb_batch *b;
    size_t seen = 0, last_item = 0;
    long skipped = 0;
    int n_batches = 0;

    CHECK(qb_batches_start(&(struct qb_batches_opts){.ds = ds, .batch = 3, .w = W, .h = H, .limit = limit,
                                                     .repeat_pad = repeat_pad},
                           &q, &err) == QB_OK);
    while (qb_batches_next(q, &b, &err) == QB_OK && b->filled) {
        n_batches++;
        skipped += b->skipped;
        for (int s = 0; s < b->filled; s++) {
            CHECK(seen == 0 || b->item[s] > last_item);
            last_item = b->item[s];
            expected(ds, b->item[s], want);
            CHECKF(memcmp(want, b->input + s * per, per * sizeof(float)) == 0, "item %zu differs", b->item[s]);
            seen++;
        }
        for (int s = b->filled; s < 3; s++) /* padding */
            CHECK(repeat_pad ? memcmp(b->input + s * per, b->input + (s % b->filled) * per, per * sizeof(float)) == 0
                             : b->input[s * per] == 114.0f / 255.0f && b->input[(s + 1) * per - 1] == 114.0f / 255.0f);
    }
    skipped += b->skipped;
    CHECK(b->filled == 0);
    CHECK(qb_batches_next(q, &b, &err) == QB_OK && b->filled == 0); /* the end, again */
    CHECKF(seen + (size_t)skipped == limit, "seen %zu + skipped %ld != limit %zu", seen, skipped, limit);
    CHECK(skipped == (limit > 4 ? 1 : 0));
    printf("ok   limit %zu%s: %d batches, %zu images, %ld skipped\n", limit, repeat_pad ? ", repeat padding" : "",
           n_batches, seen, skipped);
    qb_batches_stop(q);
    free(want);
}

int main(void)
{
    struct qb_dataset *ds = NULL;
    struct qb_error err = {0};
    struct qb_batches *q = NULL;
    const struct qb_batch *b;
    char tmpl[] = "/tmp/qb-batches.XXXXXX";

    qb_log_set_level(QB_LOG_ERROR);
    snprintf(root, sizeof(root), "%s", mkdtemp(tmpl));
    make_images();
    CHECKF(qb_dataset_open(P("images"), "val", &ds, &err) == QB_OK, "%s", err.msg);
    if (ds) {
        CHECK(qb_dataset_count(ds) == N_IMG + 1);
        run(ds, N_IMG + 1, false); /* 7 images, one unreadable: 3 + 3 + 1 */
        run(ds, N_IMG + 1, true);
        run(ds, 4, false);         /* the unreadable one is item 4: not reached */
        /* stopped early, with both buffers possibly filled */
        CHECK(qb_batches_start(&(struct qb_batches_opts){.ds = ds, .batch = 1, .w = W, .h = H, .limit = N_IMG},
                               &q, &err) == QB_OK);
        CHECK(qb_batches_next(q, &b, &err) == QB_OK && b->filled == 1);
        qb_batches_stop(q);
    }
    qb_dataset_free(ds);
    for (int i = 0; i < N_IMG; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "images/im%d.png", i);
        remove(P(rel));
    }
    remove(P("images/im3b.png"));
    rmdir(P("images"));
    rmdir(root);
    return test_summary("test_batches");
}
