/* Datasets (core/dataset.h) and the split preprocessing (core/image.h): listing as
 * Ultralytics does, label checks, data.yaml errors, video frame sampling, and model
 * inputs bit-identical to the one-call letterbox. Fixtures are built at run time. */
#include <math.h>

#include "core/dataset.h"
#include "core/image.h"
#include "testutil.h"

static char tmp[256];

/* warnings captured from qb_log */
static char logbuf[16384];

static void capture(enum qb_log_level level, const char *msg, void *user)
{
    (void)user;
    size_t n = strlen(logbuf);
    if (level >= QB_LOG_WARN && n + strlen(msg) + 2 < sizeof(logbuf))
        snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
}

static const char *P(const char *rel)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, rel);
    return b;
}

static void mkdirs(const char *rel)
{
    char b[512];
    snprintf(b, sizeof(b), "%s/%s", tmp, rel);
    for (char *p = b + strlen(tmp) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(b, 0755);
            *p = '/';
        }
    }
    mkdir(b, 0755);
}

static void put(const char *rel, const char *text)
{
    write_file(P(rel), text, strlen(text));
}

/* a w x h image whose pixels depend on position and seed; PNG is lossless */
static void image(const char *rel, int w, int h, int seed)
{
    unsigned char *rgb = malloc((size_t)w * h * 3);
    struct qb_error err = {0};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(x * 7 + seed);
            p[1] = (unsigned char)(y * 5 + seed * 3);
            p[2] = (unsigned char)((x ^ y) * 3 + seed * 11);
        }
    if (qb_image_write_rgb(P(rel), rgb, w, h, 95, &err) != QB_OK) {
        fprintf(stderr, "test_dataset: %s\n", err.msg);
        exit(2);
    }
    free(rgb);
}

/* index of the item whose path ends with suffix, or -1 */
static long find(const struct qb_dataset *ds, const char *suffix)
{
    for (size_t i = 0; i < qb_dataset_count(ds); i++) {
        const char *p = qb_dataset_path(ds, i);
        size_t n = strlen(p), m = strlen(suffix);
        if (n >= m && strcmp(p + n - m, suffix) == 0)
            return (long)i;
    }
    return -1;
}

static bool near(float a, float b)
{
    return fabsf(a - b) < 1e-4f;
}

static void build_fixture(void)
{
    mkdirs("ds/images/train");
    mkdirs("ds/images/val/sub");
    mkdirs("ds/labels/train");
    mkdirs("ds/labels/val/sub");
    mkdirs("ds/lists");
    mkdirs("empty/nested");
    image("ds/images/train/t1.png", 40, 30, 1);
    image("ds/images/train/t2.png", 30, 40, 2);
    put("ds/labels/train/t1.txt", "0 0.5 0.5 0.5 0.5\n");
    put("ds/labels/train/t2.txt", "2 0.25 0.25 0.1 0.1\n1 0.75 0.75 0.2 0.2\n");

    image("ds/images/val/a.png", 64, 48, 3);        /* two labels */
    image("ds/images/val/sub/b.png", 48, 64, 4);    /* nested folder */
    image("ds/images/val/c.png", 32, 32, 5);        /* no label file */
    image("ds/images/val/d.png", 32, 32, 6);        /* malformed label: skipped */
    image("ds/images/val/e.png", 32, 32, 7);        /* duplicate rows */
    image("ds/images/val/f.png", 32, 32, 8);        /* polygon labels */
    image("ds/images/val/g.png", 32, 32, 9);        /* class >= nc: skipped */
    image("ds/images/val/h.png", 32, 32, 10);       /* 1.02: skipped */
    image("ds/images/val/i.png", 32, 32, 11);       /* 1.005 and -0.005: within tolerance */
    image("ds/images/val/UPPER.PNG", 32, 32, 12);   /* extension case */
    image("ds/images/val/.hidden.png", 32, 32, 13); /* hidden: not listed */
    image("ds/images/val/k.png", 32, 32, 14);       /* wrong field count: skipped */
    image("ds/images/val/m.png", 32, 32, 15);       /* empty label file */
    image("ds/images/val/n.png", 32, 32, 16);       /* binary label file: skipped */
    write_file(P("ds/images/val/bad.jpg"), "this is not a jpeg", 18); /* corrupt image, no label */
    put("ds/images/val/notes.txt", "not an image\n");
    put("ds/labels/val/a.txt", "1 0.5 0.5 0.5 0.5\n\n0   0.25\t0.25 0.1 0.2\r\n");
    put("ds/labels/val/sub/b.txt", "2 0.5 0.5 1 1\n");
    put("ds/labels/val/d.txt", "0 0.5 0.5 0.1 0.1\n0 0.5 abc 0.1 0.1\n");
    put("ds/labels/val/e.txt", "2 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.1 0.1\n2 0.5 0.5 0.2 0.2\n");
    put("ds/labels/val/f.txt", "1 0.1 0.2 0.5 0.2 0.4 0.6\n0 0.5 0.5 0.5 0.5\n");
    put("ds/labels/val/g.txt", "3 0.5 0.5 0.1 0.1\n");
    put("ds/labels/val/h.txt", "0 0.5 0.5 1.02 0.1\n");
    put("ds/labels/val/i.txt", "0 0.5 0.5 1.005 -0.005\n");
    put("ds/labels/val/UPPER.txt", "0 0.5 0.5 0.5 0.5\n");
    put("ds/labels/val/k.txt", "0 0.5 0.5 0.1 0.1 0.7\n");
    put("ds/labels/val/m.txt", "\n");
    write_file(P("ds/labels/val/n.txt"), "0 0.5 0.5 0.1 0.1\n\0\n", 20);

    put("ds/lists/test.txt", "./../images/val/a.png\n"
                             "../images/train/t1.png\n"
                             "../images/val/missing.png\n"
                             "../images/val/notes.txt\n"
                             "  ./../images/val/a.png  \n");
    put("ds/data.yaml", "# names as a list\n"
                        "train: images/train\n"
                        "val: images/val\n"
                        "test: [images/train, lists/test.txt]\n"
                        "names: [zero, one, two]\n");
    put("map.yaml", "path: ds\n"
                    "val: images/val\n"
                    "calib: images/train\n"
                    "nc: 3\n"
                    "names:\n  2: two\n  0: zero\n  1: one\n");
    put("bad.yaml", "path: ds\nval: images/val\nnames: [a, b\ntrain: x\n");
    put("nc.yaml", "path: ds\nval: images/val\nnc: 4\nnames: [a, b, c]\n");
    put("nonames.yaml", "path: ds\nval: images/val\n");
    put("missing.yaml", "path: ds\nval: images/nowhere\n");
}

static void test_yaml_val(void)
{
    struct qb_dataset *ds = NULL;
    struct qb_error err = {0};
    enum qb_status st;

    logbuf[0] = '\0';
    st = qb_dataset_open(P("ds/data.yaml"), "val", &ds, &err);
    CHECKF(st == QB_OK, "open data.yaml val: %s", err.msg);
    if (st != QB_OK)
        return;
    const struct qb_dataset_stats *s = qb_dataset_stats(ds);
    /* kept: UPPER.PNG a b bad.jpg c e f i m (sorted by path: 'U' < 'a'; "sub/b" after "m") */
    const char *order[] = {"val/UPPER.PNG", "val/a.png", "val/bad.jpg", "val/c.png", "val/e.png",
                           "val/f.png",     "val/i.png", "val/m.png",   "val/sub/b.png"};
    CHECKF(qb_dataset_count(ds) == 9, "val count %zu", qb_dataset_count(ds));
    for (size_t i = 0; i < 9 && i < qb_dataset_count(ds); i++)
        CHECKF(find(ds, order[i]) == (long)i, "item %zu is %s, expected %s", i, qb_dataset_path(ds, i), order[i]);
    CHECKF(qb_dataset_path(ds, 0)[0] == '/', "paths are absolute: %s", qb_dataset_path(ds, 0));
    CHECK(qb_dataset_frame(ds, 0) == -1);
    CHECKF(s->corrupt == 5, "corrupt %zu (d, g, h, k, n)", s->corrupt);
    CHECKF(s->duplicate_labels == 1, "duplicate labels %zu", s->duplicate_labels);
    /* UPPER 1, a 2, e 2, f 2, i 1, b 1 */
    CHECKF(s->instances == 9, "instances %zu", s->instances);
    CHECKF(s->labels_missing == 2, "missing label files %zu (bad.jpg, c)", s->labels_missing);
    CHECKF(s->labels_empty == 1, "empty label files %zu (m)", s->labels_empty);
    CHECKF(s->images == 9 && s->frames == 0, "images %zu frames %zu", s->images, s->frames);
    CHECK(qb_dataset_nc(ds) == 3);
    CHECK(qb_dataset_max_class(ds) == 2);
    CHECK(qb_dataset_has_labels(ds));
    const char *const *names = qb_dataset_names(ds);
    CHECK(names && strcmp(names[0], "zero") == 0 && strcmp(names[2], "two") == 0);

    /* warnings name the label file and line */
    CHECKF(strstr(logbuf, "labels/val/d.txt:2:") && strstr(logbuf, "'abc'"), "log: %s", logbuf);
    CHECKF(strstr(logbuf, "labels/val/g.txt:1: class 3"), "log: %s", logbuf);
    CHECKF(strstr(logbuf, "labels/val/h.txt:1: w 1.02"), "log: %s", logbuf);
    CHECKF(strstr(logbuf, "labels/val/k.txt:1: 6 fields"), "log: %s", logbuf);
    CHECKF(strstr(logbuf, "e.txt: 1 duplicate labels removed"), "log: %s", logbuf);
    CHECKF(strstr(logbuf, "n.txt: binary data"), "log: %s", logbuf);

    /* a.png: two rows in file order, CRLF and tabs accepted */
    int n;
    long a = find(ds, "val/a.png");
    const struct qb_label *l = qb_dataset_labels_norm(ds, (size_t)a, &n);
    CHECK(n == 2 && l[0].cls == 1 && l[1].cls == 0 && near(l[1].cx, 0.25f) && near(l[1].h, 0.2f));
    /* in pixels of the original 64x48 image */
    struct qb_letterbox lb;
    struct qb_gt gt[4];
    CHECK(qb_letterbox_plan(64, 48, 32, 32, QB_LETTERBOX_PREDICT, &lb, &err) == QB_OK);
    CHECK(qb_dataset_labels(ds, (size_t)a, &lb, gt) == 2);
    CHECKF(near(gt[0].box.x1, 16) && near(gt[0].box.y1, 12) && near(gt[0].box.x2, 48) && near(gt[0].box.y2, 36),
           "a.png label 0: %g %g %g %g", (double)gt[0].box.x1, (double)gt[0].box.y1, (double)gt[0].box.x2,
           (double)gt[0].box.y2);
    CHECK(near(gt[1].box.x1, 12.8f) && near(gt[1].box.y1, 7.2f) && near(gt[1].box.x2, 19.2f) &&
          near(gt[1].box.y2, 16.8f));

    /* e.png: the repeat dropped, rows then sorted as numpy's unique() leaves them */
    long e = find(ds, "val/e.png");
    l = qb_dataset_labels_norm(ds, (size_t)e, &n);
    CHECK(n == 2 && l[0].cls == 0 && l[1].cls == 2 && near(l[1].w, 0.2f));

    /* f.png: a polygon row makes every row a polygon; the 5-field row is 2 points */
    long f = find(ds, "val/f.png");
    l = qb_dataset_labels_norm(ds, (size_t)f, &n);
    CHECKF(n == 2 && l[0].cls == 1 && near(l[0].cx, 0.3f) && near(l[0].cy, 0.4f) && near(l[0].w, 0.4f) &&
               near(l[0].h, 0.4f),
           "polygon box: n %d cls %d %g %g %g %g", n, n ? l[0].cls : -1, (double)l[0].cx, (double)l[0].cy,
           (double)l[0].w, (double)l[0].h);
    CHECK(n == 2 && near(l[1].cx, 0.5f) && near(l[1].w, 0.0f));

    /* i.png: inside the 1% tolerance; clipped to the image in pixels */
    long i = find(ds, "val/i.png");
    CHECK(qb_letterbox_plan(32, 32, 32, 32, QB_LETTERBOX_PREDICT, &lb, &err) == QB_OK);
    CHECK(qb_dataset_labels(ds, (size_t)i, &lb, gt) == 1);
    CHECK(gt[0].box.x1 == 0 && gt[0].box.x2 == 32);

    /* the corrupt image: listed, but decoding fails with its name */
    long bad = find(ds, "val/bad.jpg");
    unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(32, 32));
    struct qb_video *vid = NULL;
    err.msg[0] = '\0';
    st = qb_dataset_load(ds, (size_t)bad, &vid, 32, 32, QB_LETTERBOX_PREDICT, rgb, &lb, &err);
    CHECKF(st == QB_ERR_PARSE && strstr(err.msg, "bad.jpg"), "corrupt image: %d %s", st, err.msg);
    st = qb_dataset_load(ds, (size_t)a, &vid, 32, 32, QB_LETTERBOX_PREDICT, rgb, &lb, &err);
    CHECKF(st == QB_OK && lb.src_w == 64 && lb.src_h == 48 && lb.new_w == 32 && lb.new_h == 24, "load a.png: %s",
           err.msg);
    CHECK(vid == NULL);
    free(rgb);
    qb_dataset_free(ds);
}

static void test_yaml_other(void)
{
    struct qb_dataset *ds = NULL;
    struct qb_error err = {0};
    enum qb_status st;
    int n;

    /* names as a map, `path:` relative to the yaml's folder, nc agreeing, a calib split */
    st = qb_dataset_open(P("map.yaml"), "calib", &ds, &err);
    CHECKF(st == QB_OK && qb_dataset_count(ds) == 2, "map.yaml calib: %s", err.msg);
    if (st == QB_OK) {
        const char *const *names = qb_dataset_names(ds);
        CHECK(qb_dataset_nc(ds) == 3 && names && strcmp(names[0], "zero") == 0 && strcmp(names[1], "one") == 0 &&
              strcmp(names[2], "two") == 0);
        const struct qb_label *l = qb_dataset_labels_norm(ds, 1, &n);
        CHECK(n == 2 && l[0].cls == 2 && l[1].cls == 1);
        CHECK(qb_dataset_stats(ds)->instances == 3);
    }
    qb_dataset_free(ds);
    ds = NULL;

    /* test: a list of a folder and a list file; ./ and other relative lines against the
     * list's folder, a missing file skipped, a non-image line ignored, repeats once */
    logbuf[0] = '\0';
    st = qb_dataset_open(P("ds/data.yaml"), "test", &ds, &err);
    CHECKF(st == QB_OK, "data.yaml test: %s", err.msg);
    if (st == QB_OK) {
        CHECKF(qb_dataset_count(ds) == 3, "test count %zu", qb_dataset_count(ds));
        CHECK(find(ds, "images/train/t1.png") == 0 && find(ds, "images/train/t2.png") == 1 &&
              find(ds, "images/val/a.png") == 2);
        CHECKF(qb_dataset_stats(ds)->duplicate_items == 2, "dups %zu", qb_dataset_stats(ds)->duplicate_items);
        CHECK(qb_dataset_stats(ds)->corrupt == 1);
        CHECKF(strstr(logbuf, "missing.png: listed, but No such file"), "log: %s", logbuf);
        CHECK(strstr(qb_dataset_path(ds, 0), "/./") == NULL);
    }
    qb_dataset_free(ds);
    ds = NULL;

    /* errors that name the file and what is wrong */
    st = qb_dataset_open(P("ds/data.yaml"), "calib", &ds, &err);
    CHECKF(st == QB_ERR_PARSE && strstr(err.msg, "data.yaml") && strstr(err.msg, "'calib'"), "no split: %s",
           err.msg);
    CHECK(ds == NULL);
    st = qb_dataset_open(P("bad.yaml"), "val", &ds, &err);
    CHECKF(st == QB_ERR_PARSE && strstr(err.msg, "bad.yaml:4:"), "bad yaml: %s", err.msg);
    st = qb_dataset_open(P("nc.yaml"), "val", &ds, &err);
    CHECKF(st == QB_ERR_PARSE && strstr(err.msg, "nc.yaml:4:") && strstr(err.msg, "nc is 4"), "nc: %s", err.msg);
    st = qb_dataset_open(P("missing.yaml"), "val", &ds, &err);
    CHECKF(st == QB_ERR_IO && strstr(err.msg, "missing.yaml:2:") && strstr(err.msg, "images/nowhere"),
           "missing split folder: %s", err.msg);
    st = qb_dataset_open(P("nowhere.yaml"), "val", &ds, &err);
    CHECKF(st == QB_ERR_IO && strstr(err.msg, "nowhere.yaml"), "missing yaml: %s", err.msg);
    st = qb_dataset_open(P("empty"), NULL, &ds, &err);
    CHECKF(st == QB_ERR_IO && strstr(err.msg, P("empty")), "empty folder: %s", err.msg);

    /* no names: NULL names, nc unknown (so class 3 is kept), max class reported */
    logbuf[0] = '\0';
    st = qb_dataset_open(P("nonames.yaml"), NULL, &ds, &err);
    CHECKF(st == QB_OK && qb_dataset_names(ds) == NULL && qb_dataset_nc(ds) == 0, "nonames: %s", err.msg);
    if (st == QB_OK) {
        CHECK(qb_dataset_count(ds) == 10 && qb_dataset_max_class(ds) == 3);
        CHECK(qb_dataset_stats(ds)->corrupt == 4);
    }
    qb_dataset_free(ds);
    ds = NULL;

    /* a folder (recursive), a single image, a list file given directly */
    st = qb_dataset_open(P("ds/images"), NULL, &ds, &err);
    CHECKF(st == QB_OK && qb_dataset_count(ds) == 12, "folder: %s (%zu)", err.msg, ds ? qb_dataset_count(ds) : 0);
    qb_dataset_free(ds);
    ds = NULL;
    st = qb_dataset_open(P("ds/images/val/sub/b.png"), NULL, &ds, &err);
    CHECKF(st == QB_OK && qb_dataset_count(ds) == 1 && qb_dataset_label_count(ds, 0) == 1, "one image: %s", err.msg);
    qb_dataset_free(ds);
    ds = NULL;
    st = qb_dataset_open(P("ds/lists/test.txt"), NULL, &ds, &err);
    CHECKF(st == QB_OK && qb_dataset_count(ds) == 2 && qb_dataset_stats(ds)->duplicate_items == 1,
           "list file: %s", err.msg);
    qb_dataset_free(ds);
    ds = NULL;
    st = qb_dataset_open(P("nothing-here"), NULL, &ds, &err);
    CHECKF(st == QB_ERR_IO && strstr(err.msg, "nothing-here"), "missing path: %s", err.msg);
}

/* the split path (decode+resize, then plain-C pad) equals the one-call path */
static void test_letterbox(void)
{
    struct qb_error err = {0};
    struct qb_letterbox lb;
    const struct {
        const char *file;
        int w, h, dst_w, dst_h;
    } cases[] = {
        {"lb/landscape.png", 97, 41, 64, 64}, {"lb/portrait.png", 41, 97, 64, 64}, {"lb/exact.png", 64, 48, 64, 48},
        {"lb/small.png", 20, 10, 64, 64},     {"lb/wide.png", 97, 41, 80, 48},
    };
    mkdirs("lb");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const size_t nf = (size_t)3 * cases[c].dst_w * cases[c].dst_h;
        float *x = malloc(nf * sizeof(float)), *y = malloc(nf * sizeof(float)), *z = malloc(nf * sizeof(float));
        unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(cases[c].dst_w, cases[c].dst_h));
        image(cases[c].file, cases[c].w, cases[c].h, (int)c);
        CHECK(qb_image_letterbox_oracle(P(cases[c].file), cases[c].dst_w, cases[c].dst_h, x, &err) == QB_OK);
        CHECK(qb_image_letterbox(P(cases[c].file), cases[c].dst_w, cases[c].dst_h, y, &lb, &err) == QB_OK);
        CHECK(qb_image_load_resized(P(cases[c].file), cases[c].dst_w, cases[c].dst_h, QB_LETTERBOX_PREDICT, rgb, &lb,
                                    &err) == QB_OK);
        qb_letterbox_to_chw(rgb, &lb, z);
        CHECKF(memcmp(x, y, nf * sizeof(float)) == 0 && memcmp(x, z, nf * sizeof(float)) == 0,
               "%s: split letterbox differs from the one-call path", cases[c].file);
        free(x);
        free(y);
        free(z);
        free(rgb);
    }

    /* geometry, by hand: 640x425 into 320 */
    CHECK(qb_letterbox_plan(640, 425, 320, 320, QB_LETTERBOX_PREDICT, &lb, &err) == QB_OK);
    CHECK(lb.new_w == 320 && lb.new_h == 212 && lb.pad_top == 54 && lb.pad_left == 0 && lb.scale == 0.5f);
    CHECK(qb_letterbox_plan(640, 427, 320, 320, QB_LETTERBOX_PREDICT, &lb, &err) == QB_OK);
    CHECK(lb.new_h == 214 && lb.pad_top == 53); /* 213.5 rounds to even */
    /* val: long side to 320, short side ceil(212.5) = 213, top round(53.5 - 0.1) = 53, gain 213/425 */
    CHECK(qb_letterbox_plan(640, 425, 320, 320, QB_LETTERBOX_VAL, &lb, &err) == QB_OK);
    CHECK(lb.new_w == 320 && lb.new_h == 213 && lb.pad_top == 53 && lb.scale == (float)(213.0 / 425));
    CHECK(qb_letterbox_plan(100, 50, 320, 320, QB_LETTERBOX_VAL, &lb, &err) == QB_OK);
    CHECK(lb.new_w == 320 && lb.new_h == 160 && lb.pad_top == 80 && lb.scale == 3.2f); /* upscales */
    CHECK(qb_letterbox_plan(640, 480, 320, 256, QB_LETTERBOX_VAL, &lb, &err) == QB_ERR_USAGE);
    CHECK(qb_letterbox_plan(0, 480, 320, 256, QB_LETTERBOX_PREDICT, &lb, &err) == QB_ERR_USAGE);

    /* val-mode labels go through the resized size over the gain, as yolo val's round trip */
    struct qb_label l = {.cls = 0, .cx = 0.5f, .cy = 0.5f, .w = 1, .h = 1};
    struct qb_gt g;
    CHECK(qb_letterbox_plan(640, 425, 320, 320, QB_LETTERBOX_VAL, &lb, &err) == QB_OK);
    qb_labels_to_px(&l, 1, &lb, &g);
    CHECKF(g.box.x1 == 0 && fabsf(g.box.x2 - 320 / lb.scale) < 1e-3f && fabsf(g.box.y2 - 425) < 1e-3f,
           "val label %g %g", (double)g.box.x2, (double)g.box.y2);

    /* to_chw by hand: 2x1 image into 2x3, pads 114 above and below */
    unsigned char px[6] = {0, 10, 20, 255, 128, 1};
    float out[18];
    CHECK(qb_letterbox_plan(2, 1, 2, 3, QB_LETTERBOX_PREDICT, &lb, &err) == QB_OK);
    CHECK(lb.new_w == 2 && lb.new_h == 1 && lb.pad_top == 1);
    qb_letterbox_to_chw(px, &lb, out);
    CHECK(out[0] == 114 / 255.0f && out[2] == 0.0f && out[3] == 1.0f && out[5] == 114 / 255.0f);
    CHECK(out[6 + 2] == 10 / 255.0f && out[12 + 3] == 1 / 255.0f);
}

static void test_video(void)
{
    enum { W = 32, H = 24, N = 12 };
    static unsigned char frames[N * W * H * 3];
    struct qb_error err = {0};
    struct qb_dataset *ds = NULL;
    enum qb_status st;

    for (int k = 0; k < N; k++)
        for (int p = 0; p < W * H; p++) {
            frames[(k * W * H + p) * 3 + 0] = (unsigned char)(k * 20);
            frames[(k * W * H + p) * 3 + 1] = (unsigned char)(250 - k * 20);
            frames[(k * W * H + p) * 3 + 2] = 128;
        }
    mkdirs("vid/more");
    st = qb_video_write_rgb(P("vid/clip.avi"), frames, N, W, H, 10, &err);
    if (st == QB_ERR_UNSUPPORTED) {
        printf("test_dataset: video cases skipped: %s\n", err.msg);
        return;
    }
    CHECKF(st == QB_OK, "write video: %s", err.msg);
    CHECK(qb_video_write_rgb(P("vid/more/b.avi"), frames, 4, W, H, 10, &err) == QB_OK);

    CHECK(qb_dataset_new(&ds, &err) == QB_OK);
    st = qb_dataset_add_videos(ds, P("vid/clip.avi"), 3, 3, &err);
    CHECKF(st == QB_OK && qb_dataset_count(ds) == 3, "every 3, max 3: %s", err.msg);
    st = qb_dataset_add_videos(ds, P("vid"), 5, 0, &err); /* folder, sorted: clip.avi 0 5 10; more/b.avi 0 */
    CHECKF(st == QB_OK && qb_dataset_count(ds) == 7, "folder every 5: %s (%zu)", err.msg, qb_dataset_count(ds));
    const long want[] = {0, 3, 6, 0, 5, 10, 0};
    for (size_t i = 0; i < 7 && i < qb_dataset_count(ds); i++)
        CHECKF(qb_dataset_frame(ds, i) == want[i], "item %zu frame %ld, expected %ld", i, qb_dataset_frame(ds, i),
               want[i]);
    CHECK(qb_dataset_stats(ds)->frames == 7 && qb_dataset_label_count(ds, 0) == 0);
    CHECK(strstr(qb_dataset_path(ds, 6), "more/b.avi") != NULL);

    /* content: every item's frame decodes to its colour (MJPG is lossy: +-6) */
    unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(W, H));
    struct qb_video *vid = NULL;
    struct qb_letterbox lb;
    const size_t order[] = {0, 1, 2, 0, 2, 3, 4, 5, 6, 5};
    for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
        size_t i = order[j];
        long k = qb_dataset_frame(ds, i);
        st = qb_dataset_load(ds, i, &vid, W, H, QB_LETTERBOX_PREDICT, rgb, &lb, &err);
        CHECKF(st == QB_OK && lb.src_w == W && lb.src_h == H, "frame %ld: %s", k, err.msg);
        if (st != QB_OK)
            continue;
        const unsigned char *c = rgb + ((H / 2) * W + W / 2) * 3;
        CHECKF(abs(c[0] - (int)(k * 20)) <= 6 && abs(c[1] - (int)(250 - k * 20)) <= 6 && abs(c[2] - 128) <= 6,
               "item %zu frame %ld colour %d %d %d", i, k, c[0], c[1], c[2]);
    }
    qb_video_close(vid);

    /* past the end: an error naming the file and frame */
    CHECK(qb_video_open(P("vid/clip.avi"), &vid, &err) == QB_OK && qb_video_frame_count(vid) == N);
    st = qb_video_read_resized(vid, N + 2, W, H, QB_LETTERBOX_PREDICT, rgb, &lb, &err);
    CHECKF(st == QB_ERR_PARSE && strstr(err.msg, "clip.avi") && strstr(err.msg, "frame 14"), "past end: %s", err.msg);
    qb_video_close(vid);
    CHECK(qb_dataset_add_videos(ds, P("empty"), 1, 0, &err) == QB_ERR_IO && strstr(err.msg, "empty"));
    CHECK(qb_dataset_add_videos(ds, P("vid"), 0, 0, &err) == QB_ERR_USAGE);
    free(rgb);
    qb_dataset_free(ds);
}

/* the real held-out set: 128 images, 898 instances (fixture README) */
static void test_coco128(void)
{
    char path[1024];
    const char *src = getenv("QB_SOURCE_DIR");
    struct qb_dataset *ds = NULL;
    struct qb_error err = {0};

    snprintf(path, sizeof(path), "%s/../shared/fixtures/coco128-val/data.yaml", src ? src : ".");
    if (access(path, R_OK) != 0) {
        printf("test_dataset: %s absent; coco128 cases skipped\n", path);
        return;
    }
    enum qb_status st = qb_dataset_open(path, "val", &ds, &err);
    CHECKF(st == QB_OK, "coco128: %s", err.msg);
    if (st != QB_OK)
        return;
    const struct qb_dataset_stats *s = qb_dataset_stats(ds);
    CHECKF(qb_dataset_count(ds) == 128 && s->instances == 898 && s->corrupt == 0,
           "coco128: %zu images, %zu instances, %zu corrupt", qb_dataset_count(ds), s->instances, s->corrupt);
    CHECK(qb_dataset_nc(ds) == 80 && strcmp(qb_dataset_names(ds)[79], "toothbrush") == 0);
    CHECK(find(ds, "images/000000000139.jpg") == 0);
    for (size_t i = 0; i + 1 < qb_dataset_count(ds); i++)
        CHECK(strcmp(qb_dataset_path(ds, i), qb_dataset_path(ds, i + 1)) < 0);

    /* real JPEGs: the split path equals the one-call path */
    const size_t nf = (size_t)3 * 320 * 320;
    float *x = malloc(nf * sizeof(float)), *y = malloc(nf * sizeof(float));
    unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(320, 320));
    struct qb_letterbox lb;
    struct qb_video *vid = NULL;
    for (size_t i = 0; i < qb_dataset_count(ds); i += 40) {
        CHECK(qb_image_letterbox_oracle(qb_dataset_path(ds, i), 320, 320, x, &err) == QB_OK);
        CHECK(qb_dataset_load(ds, i, &vid, 320, 320, QB_LETTERBOX_PREDICT, rgb, &lb, &err) == QB_OK);
        qb_letterbox_to_chw(rgb, &lb, y);
        CHECKF(memcmp(x, y, nf * sizeof(float)) == 0, "%s: split letterbox differs", qb_dataset_path(ds, i));
    }
    free(x);
    free(y);
    free(rgb);
    qb_dataset_free(ds);
}

int main(void)
{
    if (!qb_image_available()) {
        printf("test_dataset: no image support in this build; skipped\n");
        return 0;
    }
    make_tmpdir(tmp, sizeof(tmp), "dataset");
    qb_log_set(capture, NULL);
    build_fixture();
    test_yaml_val();
    test_yaml_other();
    test_letterbox();
    test_video();
    test_coco128();
    qb_log_set(NULL, NULL);
    remove_tree(tmp);
    return test_summary("test_dataset");
}
