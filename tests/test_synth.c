/* The synthetic cone-scene renderer (core/synth): a seed fixes every byte, the
 * thread that renders a scene does not matter, labels lie inside the image and on
 * pixels of the cone's colour, the right view is shifted by f*B/Z, and a batch of
 * scenes has the intended mix of classes and sizes. */
#include <math.h>

#include "core/synth/synth.h"
#include "core/threadpool.h"
#include "testutil.h"

#define W QB_SYNTH_DEFAULT_W
#define H QB_SYNTH_DEFAULT_H
#define N_STATS 48

struct pair {
    struct qb_synth_view v[2];
    struct qb_synth_info info;
    enum qb_status st;
};

static struct pair *pair_new(void)
{
    struct pair *p = calloc(1, sizeof(*p));
    p->v[0].rgb = malloc(W * H * 3);
    p->v[1].rgb = malloc(W * H * 3);
    return p;
}

static void pair_free(struct pair *p)
{
    if (!p)
        return;
    free(p->v[0].rgb);
    free(p->v[1].rgb);
    free(p);
}

static int same_pair(const struct pair *a, const struct pair *b)
{
    for (int k = 0; k < 2; k++) {
        if (memcmp(a->v[k].rgb, b->v[k].rgb, W * H * 3) != 0 || a->v[k].n_boxes != b->v[k].n_boxes)
            return 0;
        if (memcmp(a->v[k].boxes, b->v[k].boxes, sizeof(struct qb_synth_box) * (size_t)a->v[k].n_boxes) != 0)
            return 0;
    }
    return 1;
}

struct batch {
    const struct qb_synth *s;
    int64_t first;
    struct pair **p;
};

static void render_item(void *ctx, int i)
{
    struct batch *b = ctx;
    struct qb_error err = {0};
    b->p[i]->st = qb_synth_render(b->s, b->first + i, b->p[i]->v, &b->p[i]->info, &err);
}

/* Renders scenes first.. first+n-1 on a pool of `threads` threads. */
static struct pair **render_batch(const struct qb_synth *s, int64_t first, int n, int threads)
{
    struct pair **p = calloc((size_t)n, sizeof(*p));
    struct qb_pool *pool = qb_pool_new(threads);
    for (int i = 0; i < n; i++)
        p[i] = pair_new();
    struct batch b = {s, first, p};
    qb_pool_for(pool, n, render_item, &b);
    qb_pool_free(pool);
    return p;
}

static void batch_free(struct pair **p, int n)
{
    for (int i = 0; i < n; i++)
        pair_free(p[i]);
    free(p);
}

static struct qb_synth *make(uint64_t seed)
{
    struct qb_synth *s = NULL;
    struct qb_error err = {0};
    CHECKF(qb_synth_new(&(struct qb_synth_params){.seed = seed, .width = W, .height = H}, &s, &err) == QB_OK, "%s",
           err.msg);
    return s;
}

static void test_determinism(const struct qb_synth *s1)
{
    struct qb_synth *again = make(1), *other = make(2);
    struct pair *a = pair_new(), *b = pair_new(), *c = pair_new();
    struct qb_error err = {0};
    CHECK(qb_synth_render(s1, 5, a->v, NULL, &err) == QB_OK);
    CHECK(qb_synth_render(again, 5, b->v, NULL, &err) == QB_OK);
    CHECKF(same_pair(a, b), "same seed and scene must give identical bytes and labels");
    CHECK(qb_synth_render(other, 5, c->v, NULL, &err) == QB_OK);
    CHECKF(memcmp(a->v[0].rgb, c->v[0].rgb, W * H * 3) != 0, "a different seed must give a different scene");
    CHECK(qb_synth_render(s1, 6, c->v, NULL, &err) == QB_OK);
    CHECKF(memcmp(a->v[0].rgb, c->v[0].rgb, W * H * 3) != 0, "another scene index must give another scene");
    CHECKF(memcmp(a->v[0].rgb, a->v[1].rgb, W * H * 3) != 0, "left and right views must differ");
    pair_free(a);
    pair_free(b);
    pair_free(c);
    qb_synth_free(again);
    qb_synth_free(other);
}

static void test_errors(const struct qb_synth *s)
{
    struct qb_synth *bad = NULL;
    struct qb_error err = {0};
    struct pair *p = pair_new();
    CHECK(qb_synth_new(&(struct qb_synth_params){.seed = 1, .width = 32, .height = 384}, &bad, &err) ==
          QB_ERR_USAGE);
    CHECK(bad == NULL && strstr(err.msg, "32x384") != NULL);
    CHECK(qb_synth_render(s, -1, p->v, NULL, &err) == QB_ERR_USAGE);
    int n[QB_SYNTH_SPLIT_COUNT] = {0};
    for (int64_t i = 0; i < 1000; i++)
        n[qb_synth_split_of(i)]++;
    CHECKF(n[QB_SYNTH_TRAIN] == 800 && n[QB_SYNTH_VAL] == 100 && n[QB_SYNTH_CALIB] == 100, "split %d/%d/%d",
           n[0], n[1], n[2]);
    CHECK(strcmp(qb_synth_class_name(QB_SYNTH_LARGE_ORANGE), "large_orange_cone") == 0);
    pair_free(p);
}

/* Is this pixel of a cone class's body colour (hue and saturation, any brightness)? */
static int cone_coloured(const unsigned char *px, int cls)
{
    const int r = px[0], g = px[1], b = px[2];
    const int mx = r > g ? (r > b ? r : b) : (g > b ? g : b), mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    if (mx < 12 || mx - mn < mx / 4 + 4)
        return 0;   /* too dark or too grey to tell */
    switch (cls) {
    case QB_SYNTH_BLUE:
        return b == mx && b > r + 8;
    case QB_SYNTH_YELLOW:
        return r >= b + 2 * (mx - mn) / 3 && g >= b + (mx - mn) / 2 && g * 10 >= r * 6;
    default:
        return r == mx && g * 10 < r * 7 && g >= b;
    }
}

static float colour_fraction(const unsigned char *rgb, int cls, int x0, int y0, int x1, int y1)
{
    int hit = 0, all = 0;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < H; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < W; x++, all++)
            hit += cone_coloured(&rgb[(y * W + x) * 3], cls);
    return all ? (float)hit / (float)all : 0.0f;
}

/* Horizontal offset (pixels) between the box centre and the centroid of the cone's
 * colour in a window 1.5 times the box's width: cones are symmetric, so a box that
 * sits on its cone has the colour centred on it. */
static float centroid_offset(const unsigned char *rgb, int cls, int x0, int y0, int x1, int y1)
{
    const int m = (x1 - x0) / 4 + 1;
    double sx = 0;
    int hit = 0;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < H; y++)
        for (int x = x0 - m < 0 ? 0 : x0 - m; x < x1 + m && x < W; x++)
            if (cone_coloured(&rgb[(y * W + x) * 3], cls)) {
                sx += x + 0.5;
                hit++;
            }
    return hit ? (float)(sx / hit - 0.5 * (x0 + x1)) : 0.0f;
}

static void test_labels(struct pair **p, int n)
{
    int in_range = 1, checked = 0, coloured = 0;
    double inside = 0, beside = 0, offset = 0, bias = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const struct qb_synth_view *v = &p[i]->v[k];
            for (int b = 0; b < v->n_boxes; b++) {
                const struct qb_synth_box *x = &v->boxes[b];
                const float x0 = x->cx - 0.5f * x->w, x1 = x->cx + 0.5f * x->w;
                const float y0 = x->cy - 0.5f * x->h, y1 = x->cy + 0.5f * x->h;
                if (!(x0 >= -1e-6f && y0 >= -1e-6f && x1 <= 1 + 1e-6f && y1 <= 1 + 1e-6f && x->w > 0 && x->h > 0 &&
                      x->cls >= 0 && x->cls < QB_SYNTH_CLASS_COUNT && x->occluded <= 0.7f))
                    in_range = 0;
                if (x->h * H < 12 || x->occluded > 0.1f)
                    continue;
                const int px0 = (int)lroundf(x0 * W), px1 = (int)lroundf(x1 * W);
                const int py0 = (int)lroundf(y0 * H), py1 = (int)lroundf(y1 * H);
                const int bw = px1 - px0;
                const float fin = colour_fraction(v->rgb, x->cls, px0, py0, px1, py1);
                const float fout = 0.5f * (colour_fraction(v->rgb, x->cls, px0 - 2 * bw, py0, px1 - 2 * bw, py1) +
                                           colour_fraction(v->rgb, x->cls, px0 + 2 * bw, py0, px1 + 2 * bw, py1));
                checked++;
                const float off = centroid_offset(v->rgb, x->cls, px0, py0, px1, py1);
                offset += fabsf(off);
                bias += off;
                coloured += fin >= 0.08f;
                inside += fin;
                beside += fout;
            }
        }
    if (!checked)
        checked = 1;
    printf("labels: %d boxes checked, %d hold their colour; colour fraction inside %.3f, beside %.3f; "
           "colour centroid %.2f px from the box centre (mean signed %.2f)\n", checked, coloured, inside / checked,
           beside / checked, offset / checked, bias / checked);
    CHECKF(in_range, "every box inside [0, 1] with a valid class and at most 70%% occluded");
    CHECKF(checked >= 50, "only %d unoccluded boxes of 12 px or more", checked);
    /* dusk, glare and blur wash some out; most must show their colour */
    CHECKF(coloured >= 0.85 * checked, "%d of %d boxes hold their cone's colour", coloured, checked);
    CHECKF(inside > 4 * beside, "cone colour inside boxes %.3f vs beside them %.3f", inside / checked,
           beside / checked);
    CHECKF(offset < checked && fabs(bias) < 0.3 * checked,
           "boxes off their cones: colour centroid %.2f px (signed %.2f) from the centre on average", offset / checked,
           bias / checked);
}

static void test_stereo(struct pair **p, int n)
{
    int matched = 0, good = 0, ordered = 0, pairs = 0;
    for (int i = 0; i < n; i++) {
        const struct qb_synth_view *l = &p[i]->v[0], *r = &p[i]->v[1];
        float last_want = 0, last_d = 0;
        int have_last = 0;
        for (int a = 0; a < l->n_boxes; a++) {
            const struct qb_synth_box *bl = &l->boxes[a];
            if (bl->occluded > 0 || bl->h * H < 10 || bl->cx - bl->w < 0.02f || bl->cx + bl->w > 0.98f)
                continue;
            for (int b = 0; b < r->n_boxes; b++) {
                const struct qb_synth_box *br = &r->boxes[b];
                if (br->cone != bl->cone || br->occluded > 0)
                    continue;
                const float disp = (bl->cx - br->cx) * W;
                const float want = p[i]->info.fx * p[i]->info.baseline / bl->depth;
                matched++;
                good += disp > 0 && fabsf(disp - want) <= 1.0f + 0.1f * want;
                if (have_last && fabsf(want - last_want) > 3.0f) {
                    pairs++;
                    ordered += (want > last_want) == (disp > last_d);
                }
                last_want = want;
                last_d = disp;
                have_last = 1;
            }
        }
    }
    printf("stereo: %d cones matched, %d disparities within tolerance, %d of %d pairs ordered by depth\n", matched,
           good, ordered, pairs);
    CHECKF(matched >= 40, "only %d cones matched between the views", matched);
    CHECKF(good >= 0.95 * matched, "%d of %d disparities positive and within 1 px + 10%% of f*B/Z", good, matched);
    CHECKF(ordered == pairs, "nearer cones have larger disparity: %d of %d pairs", ordered, pairs);
}

static void test_statistics(struct pair **p, int n)
{
    long cls[QB_SYNTH_CLASS_COUNT] = {0}, boxes = 0, small = 0, tiny = 0, big = 0;
    int empty = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        failed += p[i]->st != QB_OK;
        for (int k = 0; k < 2; k++) {
            const struct qb_synth_view *v = &p[i]->v[k];
            empty += v->n_boxes == 0;
            for (int b = 0; b < v->n_boxes; b++) {
                const float h = v->boxes[b].h * H;
                cls[v->boxes[b].cls]++;
                boxes++;
                small += h < 16;
                tiny += h < 8;
                big += h >= 32;
            }
        }
    }
    CHECK(failed == 0);
    const double per_img = (double)boxes / (2.0 * n);
    printf("statistics over %d scenes: %.1f boxes per image, <8 px %.0f%%, <16 px %.0f%%, >=32 px %.0f%%, "
           "classes %.0f/%.0f/%.0f/%.0f%%\n",
           n, per_img, 100.0 * tiny / boxes, 100.0 * small / boxes, 100.0 * big / boxes, 100.0 * cls[0] / boxes,
           100.0 * cls[1] / boxes, 100.0 * cls[2] / boxes, 100.0 * cls[3] / boxes);
    CHECKF(per_img >= 8 && per_img <= 60, "%.1f boxes per image", per_img);
    CHECKF(empty <= n / 10, "%d images without a labelled cone", empty);
    CHECKF(small >= 0.4 * boxes && small <= 0.9 * boxes, "%ld of %ld boxes under 16 px: many far cones", small,
           boxes);
    CHECKF(big >= 0.04 * boxes, "%ld of %ld boxes 32 px or taller: near cones too", big, boxes);
    CHECKF(cls[QB_SYNTH_BLUE] >= 0.25 * boxes && cls[QB_SYNTH_YELLOW] >= 0.25 * boxes, "blue %ld yellow %ld of %ld",
           cls[0], cls[1], boxes);
    CHECKF(cls[QB_SYNTH_ORANGE] >= 0.03 * boxes && cls[QB_SYNTH_LARGE_ORANGE] >= 0.02 * boxes,
           "orange %ld large orange %ld of %ld", cls[2], cls[3], boxes);
}

int main(void)
{
    struct qb_synth *s = make(1);
    if (!s)
        return test_summary("test_synth");
    test_determinism(s);
    test_errors(s);

    /* the same scenes on 1 and 3 threads, in whatever order the pool hands them out */
    struct pair **one = render_batch(s, 100, 6, 1), **three = render_batch(s, 100, 6, 3);
    int same = 1;
    for (int i = 0; i < 6; i++)
        same &= one[i]->st == QB_OK && same_pair(one[i], three[i]);
    CHECKF(same, "thread count changed the output");
    batch_free(one, 6);
    batch_free(three, 6);

    struct pair **p = render_batch(s, 0, N_STATS, 0);
    test_labels(p, N_STATS);
    test_stereo(p, N_STATS);
    test_statistics(p, N_STATS);
    batch_free(p, N_STATS);
    qb_synth_free(s);
    return test_summary("test_synth");
}
