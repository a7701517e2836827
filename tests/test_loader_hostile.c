/* The ONNX loader on hostile input: external data that escapes the model's
 * folder or does not fit, bytes that are not a model (empty, garbage, deep
 * nesting, too many nodes, repeated fields, lengths past the end), every
 * truncation and random byte flips of a small model, and files that are empty,
 * missing, not regular or over 2 GiB. Every refusal must carry the path first,
 * and nothing may crash or leak (the ASan build runs this too).
 */
#include <fcntl.h>

#include "testutil_onnx.h"

static char tmpdir[256];

/* ---- external data ------------------------------------------------------------------ */

/* Writes the model as DIR/model.onnx and loads it from there. */
static void expect_ext(const char *dir, struct tm *t, enum qb_status want, const char *frag, int line)
{
    char path[512];
    struct qb_error err = {0};
    struct qb_graph *g = NULL;
    enum qb_status st;

    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    tm_write(t, path);
    st = qb_onnx_load(path, &g, &err);
    expect_status(st, g, &err, path, want, frag, __FILE__, line);
    if (st == QB_OK) {
        const struct qb_value *v = value(g, "E");
        CHECK(v && v->data && ((const float *)v->data)[0] == 1.0f && ((const float *)v->data)[3] == -4.0f);
    }
    qb_graph_free(g);
}

#define EXPECT_EXT(dir, t, st, frag) expect_ext((dir), (t), (st), (frag), __LINE__)

static void test_external_data(void)
{
    char dir[300], outside[300], path[700], target[700];
    static const float junk[2] = {9, 9}, data[4] = {1, 2, 3, -4};
    unsigned char file[24];

    snprintf(dir, sizeof(dir), "%s/model", tmpdir);
    snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
    if (mkdir(dir, 0700) != 0 || mkdir(outside, 0700) != 0) {
        fprintf(stderr, "test_loader_hostile: mkdir: %s\n", strerror(errno));
        exit(2);
    }
    memcpy(file, junk, 8);
    memcpy(file + 8, data, 16);
    snprintf(path, sizeof(path), "%s/w.bin", dir);
    write_file(path, file, sizeof(file));
    snprintf(path, sizeof(path), "%s/d.bin", outside);
    write_file(path, data, sizeof(data));
    snprintf(path, sizeof(path), "%s/sub", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/sub/w.bin", dir);
    write_file(path, data, sizeof(data));
    snprintf(path, sizeof(path), "%s/link.bin", dir);
    snprintf(target, sizeof(target), "%s/d.bin", outside);
    CHECK(symlink(target, path) == 0);
    snprintf(path, sizeof(path), "%s/linkdir", dir);
    CHECK(symlink(outside, path) == 0);
    snprintf(path, sizeof(path), "%s/inner.bin", dir);
    CHECK(symlink("sub/w.bin", path) == 0); /* a link that stays inside is fine */

    EXPECT_EXT(dir, ext_model("w.bin", "8", "16"), QB_OK, "");
    EXPECT_EXT(dir, ext_model("w.bin", "8", NULL), QB_OK, ""); /* length: the rest of the file */
    EXPECT_EXT(dir, ext_model("sub/w.bin", NULL, NULL), QB_OK, "");
    EXPECT_EXT(dir, ext_model("./sub//w.bin", "0", "16"), QB_OK, "");
    EXPECT_EXT(dir, ext_model("inner.bin", NULL, NULL), QB_OK, "");
    EXPECT_EXT(dir, ext_model("../outside/d.bin", NULL, NULL), QB_ERR_INVALID, "contains '..'");
    EXPECT_EXT(dir, ext_model("sub/../../outside/d.bin", NULL, NULL), QB_ERR_INVALID, "contains '..'");
    EXPECT_EXT(dir, ext_model("..", NULL, NULL), QB_ERR_INVALID, "contains '..'");
    EXPECT_EXT(dir, ext_model("/etc/passwd", NULL, NULL), QB_ERR_INVALID, "is an absolute path");
    EXPECT_EXT(dir, ext_model(target, NULL, NULL), QB_ERR_INVALID, "is an absolute path");
    EXPECT_EXT(dir, ext_model("link.bin", NULL, NULL), QB_ERR_INVALID, "outside the model's folder");
    EXPECT_EXT(dir, ext_model("linkdir/d.bin", NULL, NULL), QB_ERR_INVALID, "outside the model's folder");
    EXPECT_EXT(dir, ext_model("sub", NULL, NULL), QB_ERR_INVALID, "is not a regular file");
    EXPECT_EXT(dir, ext_model("nope.bin", NULL, NULL), QB_ERR_IO, "external data file 'nope.bin'");
    EXPECT_EXT(dir, ext_model("w.bin", "8", "12"), QB_ERR_INVALID, "external data has 12 bytes, but dims [4]");
    EXPECT_EXT(dir, ext_model("w.bin", NULL, NULL), QB_ERR_INVALID, "external data has 24 bytes");
    EXPECT_EXT(dir, ext_model("w.bin", "100", "16"), QB_ERR_INVALID, "offset 100 is past the end");
    EXPECT_EXT(dir, ext_model("w.bin", "16", "16"), QB_ERR_INVALID, "runs past the end");
    EXPECT_EXT(dir, ext_model("w.bin", "-1", "16"), QB_ERR_INVALID, "offset '-1' is not a non-negative integer");
    EXPECT_EXT(dir, ext_model("w.bin", "8", "16x"), QB_ERR_INVALID, "length '16x'");
    EXPECT_EXT(dir, ext_model("w.bin", "99999999999999999999", NULL), QB_ERR_INVALID, "offset");
    EXPECT_EXT(dir, ext_model(NULL, "8", "16"), QB_ERR_INVALID, "initializer 'E': external data has no location");
    EXPECT_EXT(dir, ext_model("", NULL, NULL), QB_ERR_INVALID, "has no location");
    {
        struct tm *t = ext_model("w.bin", "8", "16");
        t->inits[0]->has_raw_data = 1;
        t->inits[0]->raw_data.len = 16;
        t->inits[0]->raw_data.data = tm_dup(t, data, 16);
        EXPECT_EXT(dir, t, QB_ERR_INVALID, "more than one of raw_data");
    }
    /* from memory: refused without a folder, read with one */
    {
        size_t len;
        uint8_t *buf = tm_pack_free(ext_model("w.bin", "8", "16"), &len);
        struct qb_graph *g = NULL;
        struct qb_error err = {0};
        EXPECT_BUF(buf, len, NULL, QB_ERR_UNSUPPORTED, "initializer 'E': uses external data, which is refused");
        CHECK(qb_onnx_load_buffer(buf, len, "mem.onnx", dir, &g, &err) == QB_OK);
        CHECK(g && ((const float *)value(g, "E")->data)[2] == 3.0f);
        qb_graph_free(g);
        free(buf);
    }
}

/* ---- hostile bytes ------------------------------------------------------------------ */

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct bytes *b, const void *src, size_t n)
{
    if (!n)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(2);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_varint(struct bytes *b, uint64_t v)
{
    uint8_t c;
    do {
        c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        put(b, &c, 1);
    } while (v);
}

/* field number f, length-delimited, wrapping inner */
static struct bytes wrap(int f, struct bytes inner)
{
    struct bytes b = {0};
    put_varint(&b, (uint64_t)f << 3 | 2);
    put_varint(&b, inner.n);
    put(&b, inner.p, inner.n);
    free(inner.p);
    return b;
}

static void test_hostile_bytes(void)
{
    static const uint8_t garbage[] = "this is not a protobuf at all \xff\xff\xff";
    static const uint8_t group[] = {0x0b, 0x0c};
    struct bytes b = {0};
    size_t len;
    uint8_t *model;

    EXPECT_BUF("", 0, NULL, QB_ERR_PARSE, "the file is empty");
    EXPECT_BUF(garbage, sizeof(garbage) - 1, NULL, QB_ERR_PARSE, "not an ONNX model or truncated");
    EXPECT_BUF(group, sizeof(group), NULL, QB_ERR_PARSE, "unsupported wire type");
    /* the length check comes before any byte is read */
    EXPECT_BUF(garbage, ((size_t)1 << 31) + 1, NULL, QB_ERR_UNSUPPORTED, "2 GiB");

    /* Model.graph -> (Graph.node -> Node.attribute -> Attribute.g)* : 3 levels per round */
    for (int i = 0; i < 30; i++)
        b = wrap(1, wrap(5, wrap(6, b)));
    b = wrap(7, b);
    EXPECT_BUF(b.p, b.n, NULL, QB_ERR_UNSUPPORTED, "refused: messages nested more than 64 levels");
    free(b.p);
    b = (struct bytes){0};

    /* 1,000,001 empty nodes */
    for (int i = 0; i <= 1000000; i++)
        put(&b, "\x0a\x00", 2);
    b = wrap(7, b);
    EXPECT_BUF(b.p, b.n, NULL, QB_ERR_UNSUPPORTED, "more than 1000000 nodes");
    free(b.p);
    b = (struct bytes){0};

    /* the graph given 10 times (protobuf-c would merge each one into the last) */
    for (int i = 0; i < 10; i++)
        put(&b, "\x3a\x00", 2);
    EXPECT_BUF(b.p, b.n, NULL, QB_ERR_PARSE, "field 'graph' given more than");
    free(b.p);

    /* a field whose length runs past the end */
    {
        model = tm_pack_free(base_model(), &len);
        memcpy(model + len, "\x3a\x10", 2); /* graph: 16 bytes follow, but only 1 does */
        model[len + 2] = 0;
        EXPECT_BUF(model, len + 3, NULL, QB_ERR_PARSE, "field 'graph' runs past the end");
        free(model);
    }
}

/* Any outcome is fine except a crash, a leak (ASan), a graph on failure, or a
 * message that does not start with the path. */
static int try_load(const uint8_t *buf, size_t len, bool parse_or_invalid_only, size_t *loaded)
{
    struct qb_error err = {0};
    struct qb_graph *g = NULL;
    enum qb_status st = qb_onnx_load_buffer(buf, len, "fuzzed.onnx", NULL, &g, &err);
    int ok = 1;

    if (st == QB_OK) {
        ok = g != NULL && g->n_nodes >= 0;
        (*loaded)++;
    } else {
        ok = g == NULL && starts_with(err.msg, "fuzzed.onnx: ") && err.status == st;
        if (parse_or_invalid_only && st != QB_ERR_PARSE && st != QB_ERR_INVALID)
            ok = 0;
    }
    if (!ok)
        fprintf(stderr, "  len %zu: %s: %s\n", len, qb_status_str(st), err.msg);
    qb_graph_free(g);
    return ok;
}

static void test_truncation_and_flips(void)
{
    size_t len, bad = 0, loaded = 0;
    uint8_t *model = tm_pack_free(base_model(), &len), *copy = malloc(len);

    for (size_t n = 0; n < len; n++) {
        memcpy(copy, model, n);
        bad += !try_load(copy, n, true, &loaded);
    }
    CHECK(bad == 0);
    printf("test_loader_hostile: %zu truncated prefixes of a %zu-byte model: %zu loaded, the rest refused cleanly\n",
           len, len, loaded);

    bad = loaded = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = len;
        int flips = 1 + (int)(rng64() % 4);
        memcpy(copy, model, len);
        for (int f = 0; f < flips; f++)
            copy[rng64() % len] = (uint8_t)rng64();
        if (rng64() % 4 == 0)
            n = (size_t)(rng64() % len);
        bad += !try_load(copy, n, false, &loaded);
    }
    CHECK(bad == 0);
    printf("test_loader_hostile: 20000 models with flipped bytes: %zu loaded, the rest refused cleanly\n", loaded);
    free(copy);
    free(model);
}

static void test_files(void)
{
    char path[512];
    struct qb_error err = {0};
    struct qb_graph *g = (struct qb_graph *)&err;
    int fd;

    snprintf(path, sizeof(path), "%s/empty.onnx", tmpdir);
    write_file(path, "", 0);
    CHECK(qb_onnx_load(path, &g, &err) == QB_ERR_PARSE && g == NULL && strstr(err.msg, "the file is empty") &&
          starts_with(err.msg, path));
    CHECK(qb_onnx_load(tmpdir, &g, &err) == QB_ERR_IO && strstr(err.msg, "not a regular file"));
    snprintf(path, sizeof(path), "%s/missing.onnx", tmpdir);
    CHECK(qb_onnx_load(path, &g, &err) == QB_ERR_IO && starts_with(err.msg, path) &&
          strstr(err.msg, "No such file"));
    /* a sparse file just over 2 GiB: refused from its size, never read */
    snprintf(path, sizeof(path), "%s/huge.onnx", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0 && ftruncate(fd, ((off_t)1 << 31) + 1) == 0) {
        close(fd);
        CHECK(qb_onnx_load(path, &g, &err) == QB_ERR_UNSUPPORTED && strstr(err.msg, "over protobuf's 2 GiB limit"));
        unlink(path);
    } else if (fd >= 0) {
        close(fd);
    }
    {
        snprintf(path, sizeof(path), "%s/base.onnx", tmpdir);
        tm_write(base_model(), path);
        CHECK(qb_onnx_load(path, &g, &err) == QB_OK && g && strcmp(g->path, path) == 0 && g->n_nodes == 4);
        qb_graph_free(g);
    }
}

int main(void)
{
    make_tmpdir(tmpdir, sizeof(tmpdir), "test_loader_hostile");
    test_external_data();
    test_hostile_bytes();
    test_truncation_and_flips();
    test_files();
    remove_tree(tmpdir);
    return test_summary("test_loader_hostile");
}
