/* Packed datasets (core/pack.h): write/read round trip (raw and deflated pixels),
 * random access through the index, and refusal of damaged files: every truncation,
 * every single flipped byte, a foreign magic, an unknown version, header JSON that is
 * well-formed but wrong. Packs are small and built at run time. */
#include <zlib.h>

#include "core/pack.h"
#include "testutil.h"

#define DST 24 /* model input DST x DST */

static char tmp[256];

static const char *P(const char *rel)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, rel);
    return b;
}

struct item {
    int w, h;
    long frame;
    char path[64];
    struct qb_label labels[3];
    int n_labels;
    struct qb_letterbox lb;
    unsigned char rgb[DST * DST * 3];
};

#define N_ITEMS 6
static struct item items[N_ITEMS];
static const char *const names[] = {"cone", "car", "person"};

/* items 0..N_ITEMS-1 are records at dataset positions 2k; odd positions are skipped */
static void make_items(enum qb_letterbox_mode mode)
{
    static const int sizes[N_ITEMS][2] = {{40, 30}, {24, 24}, {7, 50}, {100, 3}, {13, 17}, {24, 12}};
    for (int i = 0; i < N_ITEMS; i++) {
        struct item *it = &items[i];
        struct qb_error err = {0};
        it->w = sizes[i][0];
        it->h = sizes[i][1];
        it->frame = i == 3 ? 120 : -1;
        snprintf(it->path, sizeof(it->path), "/data/images/img_%d.%s", i, i == 3 ? "mp4" : "png");
        it->n_labels = i % 3;
        for (int k = 0; k < it->n_labels; k++)
            it->labels[k] = (struct qb_label){.cls = (i + k) % 3, .cx = frand(0, 1), .cy = frand(0, 1),
                                              .w = frand(0, 1), .h = frand(0, 1)};
        CHECKF(qb_letterbox_plan(it->w, it->h, DST, DST, mode, &it->lb, &err) == QB_OK, "%s", err.msg);
        /* smooth ramps (deflate finds something) plus noise */
        for (int k = 0; k < it->lb.new_w * it->lb.new_h * 3; k++)
            it->rgb[k] = (unsigned char)(k / 3 % it->lb.new_w * 5 + (rng32() & 7));
    }
}

static struct qb_pack_info meta(enum qb_letterbox_mode mode, enum qb_pack_pixels px)
{
    return (struct qb_pack_info){.batch = 2, .dst_w = DST, .dst_h = DST, .mode = mode, .pixels = px,
                                 .model = "m.onnx", .data = "data.yaml", .split = "val", .names = names, .nc = 3,
                                 .has_labels = 1};
}

static enum qb_status write_pack(const char *path, enum qb_letterbox_mode mode, enum qb_pack_pixels px)
{
    struct qb_pack_info m = meta(mode, px);
    struct qb_pack_writer *w;
    struct qb_error err = {0};
    enum qb_status st = qb_pack_writer_new(path, &m, &w, &err);

    CHECKF(st == QB_OK, "writer_new: %s", err.msg);
    for (int i = 0; st == QB_OK && i < N_ITEMS; i++) {
        const struct item *it = &items[i];
        struct qb_pack_record r = {.item = 2 * (size_t)i, .frame = it->frame, .path = it->path, .lb = it->lb,
                                   .labels = it->labels, .n_labels = it->n_labels};
        struct qb_pack_skip s = {.item = 2 * (size_t)i + 1, .frame = -1, .path = "/data/images/broken.jpg",
                                 .error = "broken.jpg: cannot decode"};
        st = qb_pack_add(w, &r, it->rgb, &err);
        if (st == QB_OK && i < 2)
            st = qb_pack_add_skipped(w, &s, &err);
    }
    CHECKF(st == QB_OK, "add: %s", err.msg);
    st = qb_pack_writer_finish(w, 2 * N_ITEMS, &err);
    CHECKF(st == QB_OK, "finish: %s", err.msg);
    return st;
}

static bool record_ok(const struct qb_pack *p, size_t i, unsigned char *rgb)
{
    const struct item *it = &items[i];
    struct qb_pack_record r;
    struct qb_error err = {0};
    bool ok;

    qb_pack_record(p, i, &r);
    ok = r.item == 2 * i && r.frame == it->frame && strcmp(r.path, it->path) == 0 &&
         memcmp(&r.lb, &it->lb, sizeof(r.lb)) == 0 && r.n_labels == it->n_labels &&
         (r.n_labels == 0 || memcmp(r.labels, it->labels, (size_t)r.n_labels * sizeof(*r.labels)) == 0);
    memset(rgb, 0xAB, DST * DST * 3);
    ok = ok && qb_pack_read_rgb(p, i, rgb, &err) == QB_OK &&
         memcmp(rgb, it->rgb, (size_t)it->lb.new_w * it->lb.new_h * 3) == 0;
    /* nothing written past the image */
    for (size_t k = (size_t)it->lb.new_w * it->lb.new_h * 3; ok && k < DST * DST * 3; k++)
        ok = rgb[k] == 0xAB;
    return ok;
}

static void test_round_trip(enum qb_letterbox_mode mode, enum qb_pack_pixels px)
{
    const char *path = P("rt.qbpack");
    struct qb_pack *p = NULL;
    struct qb_error err = {0};
    unsigned char rgb[DST * DST * 3];

    make_items(mode);
    if (write_pack(path, mode, px) != QB_OK)
        return;
    CHECKF(qb_pack_open(path, &p, &err) == QB_OK, "open: %s", err.msg);
    if (!p)
        return;
    const struct qb_pack_info *in = qb_pack_info(p);
    CHECK(in->batch == 2 && in->dst_w == DST && in->dst_h == DST && in->mode == mode && in->pixels == px);
    CHECK(strcmp(in->model, "m.onnx") == 0 && strcmp(in->data, "data.yaml") == 0 && strcmp(in->split, "val") == 0);
    CHECK(in->nc == 3 && in->names && strcmp(in->names[1], "car") == 0 && in->has_labels == 1);
    CHECK(in->items == 2 * N_ITEMS && in->n_skipped == 2);
    CHECK(in->n_skipped == 2 && in->skipped[1].item == 3 && in->skipped[1].frame == -1 &&
          strcmp(in->skipped[1].path, "/data/images/broken.jpg") == 0 &&
          strcmp(in->skipped[1].error, "broken.jpg: cannot decode") == 0);
    CHECK(qb_pack_count(p) == N_ITEMS);
    CHECK(qb_pack_max_class(p) == 2);
    for (size_t i = 0; i < N_ITEMS; i++)
        CHECKF(record_ok(p, i, rgb), "%s/%s: record %zu", qb_pack_pixels_name(px), mode ? "val" : "predict", i);
    /* random access: backwards, and the same record twice */
    for (size_t i = N_ITEMS; i-- > 0;)
        CHECKF(record_ok(p, i, rgb), "backwards: record %zu", i);
    CHECK(record_ok(p, 3, rgb) && record_ok(p, 3, rgb));
    /* the model input equals the one from the original pixels */
    {
        static float a[3 * DST * DST], b[3 * DST * DST];
        struct qb_pack_record r;
        qb_pack_record(p, 2, &r);
        qb_pack_read_rgb(p, 2, rgb, &err);
        qb_letterbox_to_chw(rgb, &r.lb, a);
        qb_letterbox_to_chw(items[2].rgb, &items[2].lb, b);
        CHECK(memcmp(a, b, sizeof(a)) == 0);
    }
    qb_pack_close(p);
}

/* ---- damaged files ---- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long len;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(b = malloc((size_t)len + 1)) || fread(b, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Opens path and reads every record: the status of the first failure, or QB_OK. */
static enum qb_status open_and_read(const char *path, struct qb_error *err)
{
    struct qb_pack *p = NULL;
    unsigned char rgb[DST * DST * 3];
    enum qb_status st = qb_pack_open(path, &p, err);
    for (size_t i = 0; st == QB_OK && i < qb_pack_count(p); i++)
        st = qb_pack_read_rgb(p, i, rgb, err);
    qb_pack_close(p);
    return st;
}

static void expect_refused(const char *what, const char *path, enum qb_status want, const char *needle)
{
    struct qb_error err = {0};
    enum qb_status st = open_and_read(path, &err);
    CHECKF(st == want && strstr(err.msg, needle) && strstr(err.msg, path), "%s: status %d (want %d), '%s' lacks '%s'",
           what, (int)st, (int)want, err.msg, needle);
}

static void test_truncated(void)
{
    const char *good = P("rt.qbpack"), *bad = P("cut.qbpack");
    size_t n;
    unsigned char *b;
    int refused = 0, tries = 0;

    make_items(QB_LETTERBOX_PREDICT);
    write_pack(good, QB_LETTERBOX_PREDICT, QB_PACK_PIXELS_DEFLATE);
    b = slurp(good, &n);
    for (size_t len = 0; len < n; len += len < 128 ? 1 : 37) {
        struct qb_error err = {0};
        write_file(bad, b, len);
        tries++;
        refused += open_and_read(bad, &err) == QB_ERR_PARSE;
    }
    CHECKF(refused == tries, "every truncation refused: %d of %d", refused, tries);
    write_file(bad, b, n - 1);
    expect_refused("one byte short", bad, QB_ERR_PARSE, "truncated");
    write_file(bad, b, 50);
    expect_refused("cut in the preamble", bad, QB_ERR_PARSE, "truncated");
    write_file(bad, b, 0);
    expect_refused("empty file", bad, QB_ERR_PARSE, "not a qbench pack");
    free(b);
}

/* Every single flipped bit pattern in any byte is caught, at open or at read. */
static void test_flipped_bytes(void)
{
    const char *good = P("rt.qbpack"), *bad = P("flip.qbpack");
    size_t n;
    unsigned char *b;
    int caught = 0, tries = 0;

    for (int px = 0; px < QB_PACK_PIXELS_COUNT; px++) {
        make_items(QB_LETTERBOX_VAL);
        write_pack(good, QB_LETTERBOX_VAL, (enum qb_pack_pixels)px);
        b = slurp(good, &n);
        for (size_t k = 0; k < n; k++) {
            struct qb_error err = {0};
            b[k] ^= (unsigned char)(1u << (k % 8));
            write_file(bad, b, n);
            b[k] ^= (unsigned char)(1u << (k % 8));
            tries++;
            caught += open_and_read(bad, &err) != QB_OK;
        }
        free(b);
    }
    CHECKF(caught == tries, "flipped bytes caught: %d of %d", caught, tries);
}

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

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Rewrites path with another JSON header and every size and CRC made consistent,
 * so only the header's content is wrong. */
static void rewrite_json(const char *src, const char *dst, const char *json)
{
    size_t n, jl = strlen(json);
    unsigned char *b = slurp(src, &n);
    uint64_t off = get64(b + 16);
    unsigned char *o = malloc(off + jl);

    memcpy(o, b, off);
    memcpy(o + off, json, jl);
    put64(o + 24, jl);
    put64(o + 72, off + jl);
    put32(o + 64, (uint32_t)crc32(0, (const unsigned char *)json, (uInt)jl));
    put32(o + 92, (uint32_t)crc32(0, o, 92));
    write_file(dst, o, off + jl);
    free(o);
    free(b);
}

static void test_bad_files(void)
{
    const char *good = P("rt.qbpack"), *bad = P("bad.qbpack");
    size_t n;
    unsigned char *b;
    struct qb_error err = {0};
    struct qb_pack *p = NULL;
    char json[2048];
    static const char base[] =
        "{\"format\":\"qbench-pack\",\"model\":\"m.onnx\",\"input\":[2,3,24,24],\"letterbox\":\"predict\","
        "\"pixels\":\"rgb8\",\"data\":\"data.yaml\",\"split\":\"val\",\"names\":[\"cone\",\"car\",\"person\"],"
        "\"nc\":3,\"has_labels\":true,\"items\":12,\"skipped\":[]%s}";

    make_items(QB_LETTERBOX_PREDICT);
    write_pack(good, QB_LETTERBOX_PREDICT, QB_PACK_PIXELS_RAW);
    b = slurp(good, &n);

    memcpy(b, "QBPACK\r\r", 8);
    write_file(bad, b, n);
    expect_refused("bad magic", bad, QB_ERR_PARSE, "not a qbench pack");
    memcpy(b, "QBPACK\r\n", 8);
    {
        char text[120];
        memset(text, '.', sizeof(text));
        memcpy(text, "just some text", 14);
        write_file(bad, text, sizeof(text));
    }
    expect_refused("text file", bad, QB_ERR_PARSE, "not a qbench pack");

    put32(b + 8, 2);
    put32(b + 92, (uint32_t)crc32(0, b, 92));
    write_file(bad, b, n);
    expect_refused("version 2", bad, QB_ERR_UNSUPPORTED, "version 2");
    put32(b + 8, 1);
    put32(b + 92, (uint32_t)crc32(0, b, 92));

    b[get64(b + 16) + 3] ^= 1; /* in the JSON */
    write_file(bad, b, n);
    expect_refused("JSON byte flipped", bad, QB_ERR_PARSE, "header CRC");
    b[get64(b + 16) + 3] ^= 1;
    b[get64(b + 32) + 9] ^= 1; /* in the index */
    write_file(bad, b, n);
    expect_refused("index byte flipped", bad, QB_ERR_PARSE, "index CRC");
    b[get64(b + 32) + 9] ^= 1;
    b[200] ^= 1; /* in the pixels of record 0: found when read */
    write_file(bad, b, n);
    CHECKF(qb_pack_open(bad, &p, &err) == QB_OK, "pixels are checked on read: %s", err.msg);
    if (p) {
        unsigned char rgb[DST * DST * 3];
        CHECK(qb_pack_read_rgb(p, 1, rgb, &err) == QB_OK);
        CHECKF(qb_pack_read_rgb(p, 0, rgb, &err) == QB_ERR_PARSE && strstr(err.msg, "record 0") &&
                   strstr(err.msg, "img_0.png"), "pixel CRC: %s", err.msg);
        qb_pack_close(p);
    }
    b[200] ^= 1;
    write_file(bad, b, n);
    CHECKF(open_and_read(bad, &err) == QB_OK, "restored: %s", err.msg);

    /* the header rewritten as the writer wrote it: accepted (the rewriting is right) */
    snprintf(json, sizeof(json), base, "");
    rewrite_json(good, bad, json);
    CHECKF(open_and_read(bad, &err) == QB_OK, "rewritten header: %s", err.msg);

    static const struct {
        const char *what, *from, *to, *needle;
    } cases[] = {
        {"unknown key", "\"nc\":3", "\"nc\":3,\"colour\":1", "unknown key 'colour'"},
        {"foreign format", "qbench-pack", "qbench-pick", "format"},
        {"zero height", "[2,3,24,24]", "[2,3,0,24]", "input"},
        {"4 channels", "[2,3,24,24]", "[2,4,24,24]", "input"},
        {"letterbox", "\"predict\"", "\"stretch\"", "letterbox"},
        {"pixels", "\"rgb8\"", "\"rgb16\"", "pixel"},
        {"names and nc", "\"nc\":3", "\"nc\":2", "nc"},
        {"missing key", "\"has_labels\":true,", "", "has_labels"},
        {"fewer items than records", "\"items\":12", "\"items\":5", "items"},
        {"fractional items", "\"items\":12", "\"items\":12.5", "items"},
        {"skipped beyond items", "\"skipped\":[]", "\"skipped\":[{\"item\":12,\"frame\":-1,\"path\":\"x\",\"error\":\"e\"}]",
         "skipped"},
        {"skipped without error", "\"skipped\":[]", "\"skipped\":[{\"item\":1,\"frame\":-1,\"path\":\"x\"}]", "skipped"},
        {"not JSON", "{\"format\"", "[\"format\"", "not JSON"},
        {"cut JSON", "\"skipped\":[]", "\"skipped\":[", "not JSON"},
        {"other input size", "[2,3,24,24]", "[2,3,32,24]", "letterbox"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char edited[2048];
        const char *at = strstr(json, cases[c].from);
        if (!at) {
            CHECKF(0, "%s: '%s' not in the header", cases[c].what, cases[c].from);
            continue;
        }
        snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - json), json, cases[c].to, at + strlen(cases[c].from));
        rewrite_json(good, bad, edited);
        expect_refused(cases[c].what, bad, QB_ERR_PARSE, cases[c].needle);
    }
    free(b);
}

/* ---- the writer ---- */

static void test_writer(void)
{
    const char *path = P("w.qbpack");
    struct qb_pack_info m = meta(QB_LETTERBOX_PREDICT, QB_PACK_PIXELS_RAW);
    struct qb_pack_writer *w = NULL;
    struct qb_error err = {0};
    struct qb_letterbox wrong;
    DIR *d;
    int entries = 0;

    make_items(QB_LETTERBOX_PREDICT);
    /* abandoned: nothing left behind, not even the temporary file */
    CHECK(qb_pack_writer_new(path, &m, &w, &err) == QB_OK);
    CHECK(qb_pack_add(w, &(struct qb_pack_record){.item = 0, .frame = -1, .path = "a", .lb = items[0].lb},
                      items[0].rgb, &err) == QB_OK);
    /* out of order, and a letterbox for another input size: refused */
    CHECK(qb_pack_add(w, &(struct qb_pack_record){.item = 0, .frame = -1, .path = "b", .lb = items[1].lb},
                      items[1].rgb, &err) == QB_ERR_INTERNAL);
    qb_letterbox_plan(items[1].w, items[1].h, DST + 8, DST + 8, QB_LETTERBOX_PREDICT, &wrong, NULL);
    CHECK(qb_pack_add(w, &(struct qb_pack_record){.item = 5, .frame = -1, .path = "b", .lb = wrong}, items[1].rgb,
                      &err) == QB_ERR_INVALID && strstr(err.msg, "letterbox"));
    qb_pack_writer_abort(w);
    CHECK(access(path, F_OK) != 0);
    if ((d = opendir(tmp))) {
        for (struct dirent *e; (e = readdir(d));)
            entries += strstr(e->d_name, "w.qbpack") != NULL;
        closedir(d);
    }
    CHECKF(entries == 0, "%d leftover files", entries);
    /* a non-square input cannot use the val letterbox; a missing folder is an I/O error */
    m.mode = QB_LETTERBOX_VAL;
    m.dst_w = 32;
    CHECK(qb_pack_writer_new(path, &m, &w, &err) == QB_ERR_USAGE && !w);
    m = meta(QB_LETTERBOX_PREDICT, QB_PACK_PIXELS_RAW);
    CHECK(qb_pack_writer_new(P("no/such/dir/x.qbpack"), &m, &w, &err) == QB_ERR_IO && !w);
    /* no names: names NULL, nc 0; a pack of only skipped items is valid */
    m.names = NULL;
    m.nc = 0;
    CHECK(qb_pack_writer_new(path, &m, &w, &err) == QB_OK);
    CHECK(qb_pack_add_skipped(w, &(struct qb_pack_skip){.item = 0, .frame = 4, .path = "v.mp4", .error = "x"}, &err) ==
          QB_OK);
    CHECKF(qb_pack_writer_finish(w, 3, &err) == QB_OK, "%s", err.msg);
    {
        struct qb_pack *p = NULL;
        CHECKF(qb_pack_open(path, &p, &err) == QB_OK, "%s", err.msg);
        if (p) {
            const struct qb_pack_info *in = qb_pack_info(p);
            CHECK(qb_pack_count(p) == 0 && in->names == NULL && in->nc == 0 && in->items == 3 &&
                  in->n_skipped == 1 && in->skipped[0].frame == 4 && qb_pack_max_class(p) == -1);
            qb_pack_close(p);
        }
    }
    expect_refused("missing file", P("nope.qbpack"), QB_ERR_IO, "nope.qbpack");
}

int main(void)
{
    make_tmpdir(tmp, sizeof(tmp), "pack");
    for (int mode = 0; mode < QB_LETTERBOX_MODE_COUNT; mode++)
        for (int px = 0; px < QB_PACK_PIXELS_COUNT; px++)
            test_round_trip((enum qb_letterbox_mode)mode, (enum qb_pack_pixels)px);
    test_truncated();
    test_flipped_bytes();
    test_bad_files();
    test_writer();
    remove_tree(tmp);
    return test_summary("test_pack");
}
