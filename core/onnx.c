/* ONNX loader: file -> bounded protobuf-c unpack -> struct qb_graph.
 *
 * The file is checked by a small wire-format walk before protobuf-c sees it
 * (nesting depth, truncation, node count, repeated singular messages), and
 * protobuf-c unpacks through an allocator with a byte budget, so a hostile file
 * can neither blow the stack nor the heap. Everything kept is copied into the
 * graph's arena; the unpacked protobuf is freed on every path. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "onnx.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.pb-c.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensor data is copied as little-endian bytes");

#define MAX_FILE_BYTES ((uint64_t)1 << 31) /* protobuf's own 2 GiB limit */
#define MAX_NESTING 64                     /* protobuf message levels */
#define MAX_SINGULAR_REPEAT 4              /* a non-repeated message field given this often */
#define MAX_NODES 1000000
#define MAX_NODE_IO 65536                  /* inputs or outputs of one node */
#define MAX_ATTRS 1024                     /* attributes of one node */
#define MAX_ATTR_LIST (1 << 24)            /* elements of one list attribute */
#define MAX_LIST (1 << 26)                 /* inputs, outputs, initializers, value_info ... */

/* ---- protobuf-c with a byte budget ------------------------------------------------ */

struct pb {
    ProtobufCAllocator alloc;
    size_t used, limit;
    bool over;
};

#define PB_HDR 16 /* keeps the size in front of each block, max_align_t aligned */

static void *pb_alloc(void *ud, size_t size)
{
    struct pb *pb = ud;
    unsigned char *p;

    if (size > pb->limit - pb->used) {
        pb->over = true;
        return NULL;
    }
    if (!(p = malloc(size + PB_HDR)))
        return NULL;
    memcpy(p, &size, sizeof(size));
    pb->used += size;
    return p + PB_HDR;
}

static void pb_free(void *ud, void *ptr)
{
    struct pb *pb = ud;
    unsigned char *p = ptr;
    size_t size;

    if (!p)
        return;
    p -= PB_HDR;
    memcpy(&size, p, sizeof(size));
    pb->used -= size;
    free(p);
}

/* ---- wire-format walk before unpacking -------------------------------------------- */

struct scan {
    const uint8_t *base;
    size_t nodes;
    enum qb_status st;
    char why[256];
};

static bool __attribute__((format(printf, 5, 6)))
scan_fail(struct scan *s, const uint8_t *at, enum qb_status st, const ProtobufCMessageDescriptor *d,
          const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    s->st = st;
    snprintf(s->why, sizeof(s->why), "%s in %s at byte %zu", what, d->short_name, (size_t)(at - s->base));
    return false;
}

static bool scan_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < 10 && *p < end; i++) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Walks one message: every length must fit, nesting stays bounded (protobuf-c
 * recurses on the C stack), a singular message field is not given over and over
 * (protobuf-c merges each repeat, quadratic in time), the node count is bounded. */
static bool scan_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth,
                         struct scan *s)
{
    const uint8_t *end = p + len;
    uint8_t seen[64] = {0};

    if (depth > MAX_NESTING)
        return scan_fail(s, p, QB_ERR_UNSUPPORTED, d, "messages nested more than %d levels deep", MAX_NESTING);
    while (p < end) {
        const uint8_t *at = p;
        const ProtobufCFieldDescriptor *f;
        uint64_t tag, n;

        if (!scan_varint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
            return scan_fail(s, at, QB_ERR_PARSE, d, "bad field tag");
        f = protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
        switch (tag & 7) {
        case 0:
            if (!scan_varint(&p, end, &n))
                return scan_fail(s, at, QB_ERR_PARSE, d, "bad varint");
            break;
        case 1:
        case 5:
            n = (tag & 7) == 1 ? 8 : 4;
            if ((uint64_t)(end - p) < n)
                return scan_fail(s, at, QB_ERR_PARSE, d, "field cut short");
            p += n;
            break;
        case 2:
            if (!scan_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return scan_fail(s, at, QB_ERR_PARSE, d, "field '%s' runs past the end", f ? f->name : "?");
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                size_t i = (size_t)(f - d->fields);
                if (f->label != PROTOBUF_C_LABEL_REPEATED && i < sizeof(seen) && ++seen[i] > MAX_SINGULAR_REPEAT)
                    return scan_fail(s, at, QB_ERR_PARSE, d, "field '%s' given more than %d times", f->name,
                                     MAX_SINGULAR_REPEAT);
                if (d == &onnx__graph_proto__descriptor && f->offset == offsetof(Onnx__GraphProto, node) &&
                    ++s->nodes > MAX_NODES)
                    return scan_fail(s, at, QB_ERR_UNSUPPORTED, d, "more than %d nodes", MAX_NODES);
                if (!scan_message(f->descriptor, p, (size_t)n, depth + 1, s))
                    return false;
            }
            p += n;
            break;
        default:
            return scan_fail(s, at, QB_ERR_PARSE, d, "unsupported wire type %d", (int)(tag & 7));
        }
    }
    return true;
}

/* Checks and unpacks; *out is freed with protobuf_c_message_free_unpacked(m, &pb->alloc). */
static enum qb_status pb_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                                const char *path, const char *what, struct pb *pb, ProtobufCMessage **out,
                                struct qb_error *err)
{
    struct scan s = {.base = data};

    *out = NULL;
    pb->alloc = (ProtobufCAllocator){.alloc = pb_alloc, .free = pb_free, .allocator_data = pb};
    pb->used = 0;
    pb->over = false;
    if (len == 0)
        return qb_errorf(err, QB_ERR_PARSE, "%s: the file is empty", path);
    if ((uint64_t)len > MAX_FILE_BYTES)
        return qb_errorf(err, QB_ERR_UNSUPPORTED,
                         "%s: %zu bytes is over protobuf's 2 GiB limit (large models keep their weights in "
                         "external data files)", path, len);
    if (!scan_message(d, data, len, 0, &s) && s.st == QB_ERR_PARSE)
        return qb_errorf(err, s.st, "%s: not an ONNX %s or truncated (%s)", path, what, s.why);
    if (s.st != QB_OK)
        return qb_errorf(err, s.st, "%s: refused: %s", path, s.why);
    /* the structs and copies protobuf-c makes stay well under this for real files */
    pb->limit = 2 * len + ((size_t)512 << 20);
    *out = protobuf_c_message_unpack(d, &pb->alloc, len, data);
    if (!*out && pb->over)
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: decoding needs more than %zu MiB (too many small fields)",
                         path, pb->limit >> 20);
    if (!*out)
        return qb_errorf(err, QB_ERR_PARSE, "%s: not an ONNX %s or truncated (protobuf could not decode it)",
                         path, what);
    return QB_OK;
}

/* ---- files ---------------------------------------------------------------------- */

static enum qb_status read_file(const char *path, void **data, size_t *len, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    unsigned char *buf = NULL;
    struct stat sb;
    size_t size, got = 0;
    int fd;

    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO must not hang the open; it is refused below */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return qb_errorf(err, QB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = qb_errorf(err, QB_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    if (sb.st_size == 0) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: the file is empty", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > MAX_FILE_BYTES) {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED,
                       "%s: the file is %lld bytes, over protobuf's 2 GiB limit (large models keep their "
                       "weights in external data files)", path, (long long)sb.st_size);
        goto out;
    }
    size = (size_t)sb.st_size;
    if (!(buf = malloc(size))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
        goto out;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = qb_errorf(err, QB_ERR_IO, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)r;
    }
    *data = buf;
    *len = size;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return st;
}

/* The folder a path is in ("." for a bare name); malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *d;

    if (slash == path)
        n = 1;
    if (!(d = malloc(n + 1)))
        return NULL;
    memcpy(d, slash ? path : ".", n);
    d[n] = '\0';
    return d;
}

/* ---- loader state and messages --------------------------------------------------- */

struct ld {
    const char *path;
    const char *base_dir;   /* external data folder; NULL refuses external data */
    char *base_real;        /* realpath(base_dir), resolved on first use (malloc) */
    struct qb_graph *g;     /* NULL while reading a lone tensor */
    struct qb_arena *arena;
    struct qb_error *err;
    const char **scratch;   /* attribute names of one node (malloc) */
    size_t scratch_cap;
    bool have_opset;        /* the default domain is imported */
};

static enum qb_status __attribute__((format(printf, 3, 4)))
lerr(struct ld *L, enum qb_status st, const char *fmt, ...)
{
    char detail[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return qb_errorf(L->err, st, "%s: %s", L->path, detail);
}

static enum qb_status nomem(struct ld *L)
{
    return lerr(L, QB_ERR_NOMEM, "out of memory");
}

static const char *dims_str(const int64_t *dims, size_t n, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%" PRId64, i ? "," : "", dims[i]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
    return buf;
}

static char *bin_strdup(struct qb_arena *a, const ProtobufCBinaryData *b)
{
    return b->len ? qb_arena_strndup(a, (const char *)b->data, b->len) : qb_arena_strdup(a, "");
}

/* ---- tensors --------------------------------------------------------------------- */

static const struct onnx_type {
    const char *name;
    enum qb_dtype dtype; /* UNDEFINED: qbench does not load it */
} onnx_types[] = {
    [0] = {"UNDEFINED", QB_DTYPE_UNDEFINED}, [1] = {"FLOAT", QB_DTYPE_F32},    [2] = {"UINT8", QB_DTYPE_U8},
    [3] = {"INT8", QB_DTYPE_I8},             [4] = {"UINT16", QB_DTYPE_U16},  [5] = {"INT16", QB_DTYPE_I16},
    [6] = {"INT32", QB_DTYPE_I32},           [7] = {"INT64", QB_DTYPE_I64},   [8] = {"STRING", QB_DTYPE_STRING},
    [9] = {"BOOL", QB_DTYPE_BOOL},           [10] = {"FLOAT16", QB_DTYPE_F16}, [11] = {"DOUBLE", QB_DTYPE_F64},
    [12] = {"UINT32", QB_DTYPE_U32},         [13] = {"UINT64", QB_DTYPE_U64}, [14] = {"COMPLEX64", QB_DTYPE_UNDEFINED},
    [15] = {"COMPLEX128", QB_DTYPE_UNDEFINED}, [16] = {"BFLOAT16", QB_DTYPE_UNDEFINED},
    [17] = {"FLOAT8E4M3FN", QB_DTYPE_UNDEFINED}, [18] = {"FLOAT8E4M3FNUZ", QB_DTYPE_UNDEFINED},
    [19] = {"FLOAT8E5M2", QB_DTYPE_UNDEFINED}, [20] = {"FLOAT8E5M2FNUZ", QB_DTYPE_UNDEFINED},
    [21] = {"UINT4", QB_DTYPE_UNDEFINED},    [22] = {"INT4", QB_DTYPE_UNDEFINED},
    [23] = {"FLOAT4E2M1", QB_DTYPE_UNDEFINED},
};

static const char *onnx_type_name(int32_t t)
{
    return t >= 0 && (size_t)t < sizeof(onnx_types) / sizeof(onnx_types[0]) ? onnx_types[t].name : NULL;
}

static enum qb_dtype onnx_dtype(int32_t t)
{
    return onnx_type_name(t) ? onnx_types[t].dtype : QB_DTYPE_UNDEFINED;
}

/* The typed TensorProto fields, and which one each dtype uses. */
enum tfield { TF_NONE, TF_FLOAT, TF_INT32, TF_STRING, TF_INT64, TF_DOUBLE, TF_UINT64, TF_COUNT };

static const char *const tfield_names[TF_COUNT] = {
    [TF_NONE] = "none",          [TF_FLOAT] = "float_data",   [TF_INT32] = "int32_data", [TF_STRING] = "string_data",
    [TF_INT64] = "int64_data",   [TF_DOUBLE] = "double_data", [TF_UINT64] = "uint64_data",
};

static const enum tfield dtype_field[QB_DTYPE_COUNT] = {
    [QB_DTYPE_UNDEFINED] = TF_NONE, [QB_DTYPE_F32] = TF_FLOAT,   [QB_DTYPE_F16] = TF_INT32,
    [QB_DTYPE_F64] = TF_DOUBLE,     [QB_DTYPE_I8] = TF_INT32,    [QB_DTYPE_U8] = TF_INT32,
    [QB_DTYPE_I16] = TF_INT32,      [QB_DTYPE_U16] = TF_INT32,   [QB_DTYPE_I32] = TF_INT32,
    [QB_DTYPE_U32] = TF_UINT64,     [QB_DTYPE_I64] = TF_INT64,   [QB_DTYPE_U64] = TF_UINT64,
    [QB_DTYPE_BOOL] = TF_INT32,     [QB_DTYPE_STRING] = TF_STRING,
};

struct tensor {
    enum qb_dtype dtype;
    int ndim;
    int64_t shape[QB_MAX_DIMS];
    void *data;
};

static bool parse_u63(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - (*s - '0')) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

static bool has_dotdot(const char *p)
{
    while (*p) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        p += strspn(p, "/\\");
    }
    return false;
}

static bool inside_dir(const char *real, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return real[0] == '/' && real[1] != '\0';
    return strncmp(real, dir, n) == 0 && real[n] == '/';
}

/* Reads external data (location/offset/length, relative to the model's folder). */
static enum qb_status read_external(struct ld *L, const Onnx__TensorProto *t, const char *what, size_t bytes,
                                    const char *shape, void **dst)
{
    const char *loc = NULL;
    int64_t off = 0, length = -1, size;
    char *full = NULL, *real = NULL;
    unsigned char *buf;
    enum qb_status st = QB_OK;
    struct stat sb;
    size_t got = 0;
    int fd = -1;

    if (!L->base_dir)
        return lerr(L, QB_ERR_UNSUPPORTED, "%s: uses external data, which is refused when loading from memory",
                    what);
    for (size_t i = 0; i < t->n_external_data; i++) {
        const char *key = t->external_data[i]->key ? t->external_data[i]->key : "";
        const char *val = t->external_data[i]->value ? t->external_data[i]->value : "";
        if (strcmp(key, "location") == 0) {
            if (loc)
                return lerr(L, QB_ERR_INVALID, "%s: external data gives 'location' twice", what);
            loc = val;
        } else if ((strcmp(key, "offset") == 0 && !parse_u63(val, &off)) ||
                   (strcmp(key, "length") == 0 && !parse_u63(val, &length))) {
            return lerr(L, QB_ERR_INVALID, "%s: external data %s '%s' is not a non-negative integer", what, key,
                        val);
        }
    }
    if (!loc || !*loc)
        return lerr(L, QB_ERR_INVALID, "%s: external data has no location", what);
    if (loc[0] == '/')
        return lerr(L, QB_ERR_INVALID, "%s: external data location '%s' is an absolute path; it must be relative "
                    "to the model's folder", what, loc);
    if (has_dotdot(loc))
        return lerr(L, QB_ERR_INVALID, "%s: external data location '%s' contains '..'; it must stay inside the "
                    "model's folder", what, loc);
    if (!L->base_real && !(L->base_real = realpath(L->base_dir, NULL))) {
        st = lerr(L, QB_ERR_IO, "%s: cannot resolve the model's folder '%s': %s", what, L->base_dir,
                  strerror(errno));
        goto out;
    }
    if (!(full = malloc(strlen(L->base_dir) + strlen(loc) + 2))) {
        st = nomem(L);
        goto out;
    }
    sprintf(full, "%s/%s", L->base_dir, loc);
    if (!(real = realpath(full, NULL))) {
        st = lerr(L, QB_ERR_IO, "%s: external data file '%s': %s", what, loc, strerror(errno));
        goto out;
    }
    if (!inside_dir(real, L->base_real)) {
        st = lerr(L, QB_ERR_INVALID, "%s: external data file '%s' resolves to '%s', outside the model's folder",
                  what, loc, real);
        goto out;
    }
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = lerr(L, QB_ERR_IO, "%s: external data file '%s': %s", what, loc, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = lerr(L, QB_ERR_INVALID, "%s: external data file '%s' is not a regular file", what, loc);
        goto out;
    }
    size = (int64_t)sb.st_size;
    if (off > size) {
        st = lerr(L, QB_ERR_INVALID, "%s: external data offset %" PRId64 " is past the end of '%s' (%" PRId64
                  " bytes)", what, off, loc, size);
        goto out;
    }
    if (length < 0)
        length = size - off;
    if (length > size - off) {
        st = lerr(L, QB_ERR_INVALID, "%s: external data offset %" PRId64 " + length %" PRId64
                  " runs past the end of '%s' (%" PRId64 " bytes)", what, off, length, loc, size);
        goto out;
    }
    if ((uint64_t)length != bytes) {
        st = lerr(L, QB_ERR_INVALID, "%s: external data has %" PRId64 " bytes, but dims %s of %s need %zu", what,
                  length, shape, onnx_type_name(t->data_type), bytes);
        goto out;
    }
    if (!(buf = qb_arena_alloc(L->arena, bytes ? bytes : 1))) {
        st = nomem(L);
        goto out;
    }
    while (got < bytes) {
        size_t chunk = bytes - got < ((size_t)1 << 30) ? bytes - got : ((size_t)1 << 30);
        ssize_t r = pread(fd, buf + got, chunk, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = lerr(L, QB_ERR_IO, "%s: reading external data file '%s': %s", what, loc,
                      r < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)r;
    }
    *dst = buf;
out:
    if (fd >= 0)
        close(fd);
    free(full);
    free(real);
    return st;
}

static enum qb_status copy_strings(struct ld *L, const Onnx__TensorProto *t, const char **dst)
{
    for (size_t i = 0; i < t->n_string_data; i++)
        if (!(dst[i] = bin_strdup(L->arena, &t->string_data[i])))
            return nomem(L);
    return QB_OK;
}

/* Copies the typed field (already checked to hold n elements) into dst. */
static void copy_typed(enum qb_dtype dt, const Onnx__TensorProto *t, void *dst, size_t n)
{
    const int32_t *i32 = t->int32_data;
    switch (dt) {
    case QB_DTYPE_F32: memcpy(dst, t->float_data, n * 4); break;
    case QB_DTYPE_F64: memcpy(dst, t->double_data, n * 8); break;
    case QB_DTYPE_I64: memcpy(dst, t->int64_data, n * 8); break;
    case QB_DTYPE_U64: memcpy(dst, t->uint64_data, n * 8); break;
    case QB_DTYPE_I32: memcpy(dst, i32, n * 4); break;
    case QB_DTYPE_U32:
        for (size_t i = 0; i < n; i++)
            ((uint32_t *)dst)[i] = (uint32_t)t->uint64_data[i];
        break;
    case QB_DTYPE_F16: /* float16 travels as its bit pattern */
    case QB_DTYPE_I16:
    case QB_DTYPE_U16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = (uint16_t)(uint32_t)i32[i];
        break;
    case QB_DTYPE_I8:
    case QB_DTYPE_U8:
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = (uint8_t)(uint32_t)i32[i];
        break;
    case QB_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = i32[i] != 0;
        break;
    case QB_DTYPE_UNDEFINED:
    case QB_DTYPE_STRING:
    case QB_DTYPE_COUNT:
        break;
    }
}

/* Loads a TensorProto into o (data in L->arena). what names it in messages. */
static enum qb_status load_tensor(struct ld *L, const Onnx__TensorProto *t, const char *what, struct tensor *o)
{
    const char *tname = t->has_data_type ? onnx_type_name(t->data_type) : NULL;
    size_t counts[TF_COUNT] = {
        [TF_FLOAT] = t->n_float_data, [TF_INT32] = t->n_int32_data,   [TF_STRING] = t->n_string_data,
        [TF_INT64] = t->n_int64_data, [TF_DOUBLE] = t->n_double_data, [TF_UINT64] = t->n_uint64_data,
    };
    enum tfield want, used = TF_NONE;
    int64_t numel = 1, prod = 1;
    size_t esize, bytes;
    bool raw, external;
    char shape[256];

    memset(o, 0, sizeof(*o));
    if (!t->has_data_type || t->data_type == 0)
        return lerr(L, QB_ERR_INVALID, "%s: has no data type", what);
    if (!tname)
        return lerr(L, QB_ERR_INVALID, "%s: has unknown data type %d", what, (int)t->data_type);
    if ((o->dtype = onnx_dtype(t->data_type)) == QB_DTYPE_UNDEFINED)
        return lerr(L, QB_ERR_UNSUPPORTED, "%s: data type %s is not supported", what, tname);
    if (t->segment)
        return lerr(L, QB_ERR_UNSUPPORTED, "%s: segmented tensors (TensorProto.segment) are not supported", what);
    if (t->n_dims > QB_MAX_DIMS)
        return lerr(L, QB_ERR_UNSUPPORTED, "%s: has %zu dimensions, at most %d are supported", what, t->n_dims,
                    QB_MAX_DIMS);
    o->ndim = (int)t->n_dims;
    dims_str(t->dims, t->n_dims, shape, sizeof(shape));
    for (int i = 0; i < o->ndim; i++) {
        int64_t d = t->dims[i];
        if (d < 0)
            return lerr(L, QB_ERR_INVALID, "%s: dims %s has a negative dimension", what, shape);
        if (d > 1 && prod > INT64_MAX / d)
            return lerr(L, QB_ERR_INVALID, "%s: the element count of dims %s overflows", what, shape);
        prod *= d > 1 ? d : 1;
        numel = d == 0 ? 0 : numel * d;
        o->shape[i] = d;
    }
    esize = o->dtype == QB_DTYPE_STRING ? sizeof(char *) : qb_dtype_size(o->dtype);
    if ((uint64_t)numel > (uint64_t)INT64_MAX / esize || (uint64_t)numel * esize > SIZE_MAX / 2)
        return lerr(L, QB_ERR_INVALID, "%s: dims %s of %s are too large", what, shape, tname);
    bytes = (size_t)numel * esize;

    /* where the data is: exactly one of raw_data, a typed field, external data */
    if (t->has_data_location && t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT &&
        t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return lerr(L, QB_ERR_INVALID, "%s: unknown data_location %d", what, (int)t->data_location);
    external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    for (int f = TF_NONE + 1; f < TF_COUNT; f++) {
        if (!counts[f])
            continue;
        if (used != TF_NONE)
            return lerr(L, QB_ERR_INVALID, "%s: stores data in both %s and %s", what, tfield_names[used],
                        tfield_names[f]);
        used = (enum tfield)f;
    }
    raw = t->has_raw_data && (t->raw_data.len > 0 || (used == TF_NONE && !external));
    if ((raw && used != TF_NONE) || (external && (raw || used != TF_NONE)))
        return lerr(L, QB_ERR_INVALID, "%s: stores data in more than one of raw_data, %s and external data", what,
                    used != TF_NONE ? tfield_names[used] : "the typed fields");
    if (o->dtype == QB_DTYPE_STRING && (raw || external))
        return lerr(L, QB_ERR_INVALID, "%s: STRING tensors must use string_data, not %s", what,
                    raw ? "raw_data" : "external data");
    want = dtype_field[o->dtype];
    if (used != TF_NONE && used != want)
        return lerr(L, QB_ERR_INVALID, "%s: is %s but stores its data in %s (expected %s)", what, tname,
                    tfield_names[used], tfield_names[want]);

    if (external)
        return read_external(L, t, what, bytes, shape, &o->data);
    if (raw && t->raw_data.len != bytes)
        return lerr(L, QB_ERR_INVALID, "%s: raw_data has %zu bytes, but dims %s of %s need %zu", what,
                    t->raw_data.len, shape, tname, bytes);
    if (used != TF_NONE && counts[used] != (uint64_t)numel)
        return lerr(L, QB_ERR_INVALID, "%s: %s has %zu elements, but dims %s need %" PRId64, what,
                    tfield_names[used], counts[used], shape, numel);
    if (!raw && used == TF_NONE && numel != 0)
        return lerr(L, QB_ERR_INVALID, "%s: has no data, but dims %s need %" PRId64 " elements", what, shape,
                    numel);
    if (!(o->data = qb_arena_alloc(L->arena, bytes ? bytes : 1)))
        return nomem(L);
    if (raw && bytes)
        memcpy(o->data, t->raw_data.data, bytes);
    else if (used == TF_STRING)
        return copy_strings(L, t, o->data);
    else if (used != TF_NONE)
        copy_typed(o->dtype, t, o->data, (size_t)numel);
    return QB_OK;
}

/* ---- values ---------------------------------------------------------------------- */

enum type_need { TYPE_REQUIRED, TYPE_OPTIONAL, TYPE_HINT };

/* Sets dtype and shape of value v from a ValueInfoProto's type. TYPE_HINT
 * (value_info) ignores what it cannot use; the others refuse it. */
static enum qb_status load_value_type(struct ld *L, int v, const Onnx__ValueInfoProto *vi, const char *kind,
                                      enum type_need need)
{
    const Onnx__TypeProto *tp = vi->type;
    const Onnx__TypeProto__Tensor *tt;
    const Onnx__TensorShapeProto *sp;
    struct qb_value *val = &L->g->values[v];
    const char *name = val->name;
    bool strict = need != TYPE_HINT;

    if (!tp)
        return need == TYPE_REQUIRED ? lerr(L, QB_ERR_INVALID, "%s '%s' has no type", kind, name) : QB_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return strict ? lerr(L, QB_ERR_UNSUPPORTED, "%s '%s' is not a tensor (only tensors are supported)", kind,
                             name)
                      : QB_OK;
    tt = tp->tensor_type;
    if (!tt->has_elem_type || tt->elem_type == 0)
        return strict ? lerr(L, QB_ERR_INVALID, "%s '%s' has no element type", kind, name) : QB_OK;
    if (onnx_dtype(tt->elem_type) == QB_DTYPE_UNDEFINED) {
        const char *tn = onnx_type_name(tt->elem_type);
        if (!strict)
            return QB_OK;
        if (!tn)
            return lerr(L, QB_ERR_INVALID, "%s '%s' has unknown element type %d", kind, name, (int)tt->elem_type);
        return lerr(L, QB_ERR_UNSUPPORTED, "%s '%s' has element type %s, which is not supported", kind, name, tn);
    }
    sp = tt->shape;
    if (sp && sp->n_dim > QB_MAX_DIMS)
        return strict ? lerr(L, QB_ERR_UNSUPPORTED, "%s '%s' has %zu dimensions, at most %d are supported", kind,
                             name, sp->n_dim, QB_MAX_DIMS)
                      : QB_OK;
    for (size_t i = 0; sp && i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value < 0)
            return strict ? lerr(L, QB_ERR_INVALID, "%s '%s' has dimension %zu = %" PRId64, kind, name, i,
                                 d->dim_value)
                          : QB_OK;
    }
    val->dtype = onnx_dtype(tt->elem_type);
    val->ndim = sp ? (int)sp->n_dim : -1;
    for (int i = 0; i < val->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        val->shape[i] = -1;
        val->dim_param[i] = NULL;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            val->shape[i] = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
                   *d->dim_param) {
            if (!(val->dim_param[i] = qb_arena_strdup(L->arena, d->dim_param)))
                return nomem(L);
        }
    }
    return QB_OK;
}

static enum qb_status load_initializers(struct ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;
    char what[600];

    if (gp->n_sparse_initializer)
        return lerr(L, QB_ERR_UNSUPPORTED, "sparse initializers are not supported (%zu in the graph)",
                    gp->n_sparse_initializer);
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        struct tensor tv;
        enum qb_status st;
        int v;

        if (!t->name || !*t->name)
            return lerr(L, QB_ERR_INVALID, "initializer %zu has no name", i);
        if (qb_graph_find_value(g, t->name) >= 0)
            return lerr(L, QB_ERR_INVALID, "initializer '%s' is given twice", t->name);
        snprintf(what, sizeof(what), "initializer '%s'", t->name);
        if ((st = load_tensor(L, t, what, &tv)) != QB_OK)
            return st;
        if ((v = qb_graph_intern_value(g, t->name)) < 0)
            return nomem(L);
        g->values[v].dtype = tv.dtype;
        g->values[v].ndim = tv.ndim;
        memcpy(g->values[v].shape, tv.shape, sizeof(tv.shape));
        g->values[v].data = tv.data;
        g->values[v].flags |= QB_VALUE_CONST | QB_VALUE_INIT;
    }
    return QB_OK;
}

static enum qb_status load_inputs(struct ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;

    if (!(g->inputs = qb_arena_calloc(L->arena, gp->n_input + 1, sizeof(int))))
        return nomem(L);
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        enum qb_status st;
        int v;

        if (!vi->name || !*vi->name)
            return lerr(L, QB_ERR_INVALID, "graph input %zu has no name", i);
        v = qb_graph_find_value(g, vi->name);
        if (v >= 0 && (g->values[v].flags & QB_VALUE_INIT))
            continue; /* an initializer listed as input (IR < 4): a constant */
        if (v >= 0)
            return lerr(L, QB_ERR_INVALID, "graph input '%s' is listed twice", vi->name);
        if ((v = qb_graph_intern_value(g, vi->name)) < 0)
            return nomem(L);
        g->values[v].flags |= QB_VALUE_INPUT;
        if ((st = load_value_type(L, v, vi, "graph input", TYPE_REQUIRED)) != QB_OK)
            return st;
        g->inputs[g->n_inputs++] = v;
    }
    return QB_OK;
}

static enum qb_status load_outputs(struct ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;

    if (!(g->outputs = qb_arena_calloc(L->arena, gp->n_output + 1, sizeof(int))))
        return nomem(L);
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        enum qb_status st;
        int v;

        if (!vi->name || !*vi->name)
            return lerr(L, QB_ERR_INVALID, "graph output %zu has no name", i);
        if ((v = qb_graph_intern_value(g, vi->name)) < 0)
            return nomem(L);
        if (g->values[v].flags & QB_VALUE_OUTPUT)
            return lerr(L, QB_ERR_INVALID, "graph output '%s' is listed twice", vi->name);
        g->values[v].flags |= QB_VALUE_OUTPUT;
        g->outputs[g->n_outputs++] = v;
        if (g->values[v].flags & (QB_VALUE_INPUT | QB_VALUE_CONST))
            continue; /* keeps the input's or initializer's own type */
        if ((st = load_value_type(L, v, vi, "graph output", TYPE_OPTIONAL)) != QB_OK)
            return st;
    }
    return QB_OK;
}

static enum qb_status load_value_info(struct ld *L, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        const struct qb_value *val;
        enum qb_status st;
        int v;

        if (!vi->name || !*vi->name)
            return lerr(L, QB_ERR_INVALID, "value_info %zu has no name", i);
        if ((v = qb_graph_find_value(L->g, vi->name)) < 0)
            continue; /* describes nothing the graph uses */
        val = &L->g->values[v];
        if (val->dtype != QB_DTYPE_UNDEFINED || val->ndim >= 0 || (val->flags & (QB_VALUE_INPUT | QB_VALUE_CONST)))
            continue;
        if ((st = load_value_type(L, v, vi, "value_info", TYPE_HINT)) != QB_OK)
            return st;
    }
    return QB_OK;
}

/* ---- nodes ----------------------------------------------------------------------- */

/* Names, op, domain, inputs and outputs; producers are checked here. */
static enum qb_status load_node_io(struct ld *L, const Onnx__NodeProto *np, int ni)
{
    struct qb_graph *g = L->g;
    struct qb_node *n = &g->nodes[ni];
    const char *dom = np->domain ? np->domain : "";

    if (!np->op_type || !*np->op_type)
        return lerr(L, QB_ERR_INVALID, "node %d ('%s') has no op_type", ni, np->name ? np->name : "");
    if (!(n->op_type = qb_arena_strdup(L->arena, np->op_type)))
        return nomem(L);
    if (np->name && *np->name) {
        n->name = qb_arena_strdup(L->arena, np->name);
    } else {
        size_t len = strlen(np->op_type) + 16;
        if ((n->name = qb_arena_alloc(L->arena, len)))
            snprintf((char *)n->name, len, "%s_%d", np->op_type, ni);
    }
    n->domain = strcmp(dom, "ai.onnx") == 0 ? "" : qb_arena_strdup(L->arena, dom);
    if (!n->name || !n->domain)
        return nomem(L);
    if (np->n_input > MAX_NODE_IO || np->n_output > MAX_NODE_IO)
        return qb_node_errorf(g, n, L->err, QB_ERR_UNSUPPORTED, "has %zu inputs and %zu outputs, at most %d each",
                              np->n_input, np->n_output, MAX_NODE_IO);
    n->n_in = (int)np->n_input;
    n->n_out = (int)np->n_output;
    n->in = qb_arena_calloc(L->arena, np->n_input + 1, sizeof(int));
    n->out = qb_arena_calloc(L->arena, np->n_output + 1, sizeof(int));
    if (!n->in || !n->out)
        return nomem(L);
    for (int k = 0; k < n->n_in; k++) {
        const char *name = np->input[k];
        n->in[k] = -1;
        if (name && *name && (n->in[k] = qb_graph_intern_value(g, name)) < 0)
            return nomem(L);
    }
    for (int k = 0; k < n->n_out; k++) {
        const char *name = np->output[k];
        struct qb_value *val;
        int v;

        n->out[k] = -1;
        if (!name || !*name)
            continue;
        if ((v = qb_graph_intern_value(g, name)) < 0)
            return nomem(L);
        val = &g->values[v];
        if (val->producer >= 0) {
            const struct qb_node *p = &g->nodes[val->producer];
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "output '%s' is also produced by node '%s' (%s)",
                                  name, p->name, p->op_type);
        }
        if (val->flags & (QB_VALUE_INIT | QB_VALUE_INPUT))
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "output '%s' is also %s", name,
                                  (val->flags & QB_VALUE_INIT) ? "an initializer" : "a graph input");
        val->producer = ni;
        n->out[k] = v;
    }
    return QB_OK;
}

/* A TENSOR attribute becomes a constant value "<node>.<attr>" (made unique). */
static enum qb_status load_tensor_attr(struct ld *L, struct qb_node *n, const Onnx__AttributeProto *a,
                                       struct qb_attr *out)
{
    struct qb_graph *g = L->g;
    size_t len = strlen(n->name) + strlen(a->name) + 32;
    char what[600], *vname;
    struct tensor tv;
    enum qb_status st;
    int v;

    snprintf(what, sizeof(what), "node '%s' (%s): attribute '%s'", n->name, n->op_type, a->name);
    if ((st = load_tensor(L, a->t, what, &tv)) != QB_OK)
        return st;
    if (!(vname = malloc(len)))
        return nomem(L);
    /* on a clash, the node index keeps the search short even when many nodes share a name */
    snprintf(vname, len, "%s.%s", n->name, a->name);
    for (int k = 0; qb_graph_find_value(g, vname) >= 0; k++)
        snprintf(vname, len, "%s.%s#%d.%d", n->name, a->name, (int)(n - g->nodes), k);
    v = qb_graph_intern_value(g, vname);
    free(vname);
    if (v < 0)
        return nomem(L);
    g->values[v].dtype = tv.dtype;
    g->values[v].ndim = tv.ndim;
    memcpy(g->values[v].shape, tv.shape, sizeof(tv.shape));
    g->values[v].data = tv.data;
    g->values[v].flags |= QB_VALUE_CONST;
    out->type = QB_ATTR_TENSOR;
    out->n = 1;
    out->u.tensor = v;
    return QB_OK;
}

/* The attribute's type; guessed from the fields set for old files without one. */
static int attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return (int)a->type;
    if (a->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (a->n_tensors || a->n_graphs || a->sparse_tensor || a->n_sparse_tensors || a->tp || a->n_type_protos)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS; /* loaded as QB_ATTR_OTHER */
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static enum qb_status load_attr(struct ld *L, struct qb_node *n, const Onnx__AttributeProto *a, int k,
                                struct qb_attr *out)
{
    struct qb_graph *g = L->g;
    int type = attr_type(a);
    size_t count;

    if (!a->name || !*a->name)
        return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute %d has no name", k);
    if (!(out->name = qb_arena_strdup(L->arena, a->name)))
        return nomem(L);
    if (a->ref_attr_name && *a->ref_attr_name)
        return qb_node_errorf(g, n, L->err, QB_ERR_INVALID,
                              "attribute '%s' refers to '%s' of an enclosing function, which only function bodies "
                              "may do", a->name, a->ref_attr_name);
    count = a->n_floats > a->n_ints ? a->n_floats : a->n_ints;
    count = a->n_strings > count ? a->n_strings : count;
    if (count > MAX_ATTR_LIST)
        return qb_node_errorf(g, n, L->err, QB_ERR_UNSUPPORTED, "attribute '%s' has %zu values, at most %d",
                              a->name, count, MAX_ATTR_LIST);
    out->n = 1;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->type = QB_ATTR_FLOAT;
        out->u.f = a->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->type = QB_ATTR_INT;
        out->u.i = a->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        out->type = QB_ATTR_STRING;
        if (!(out->u.s = bin_strdup(L->arena, &a->s)))
            return nomem(L);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (!a->t)
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' is a tensor but holds none",
                                  a->name);
        return load_tensor_attr(L, n, a, out);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        if (!a->g)
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' is a graph but holds none",
                                  a->name);
        out->type = QB_ATTR_GRAPH;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        out->type = QB_ATTR_FLOATS;
        out->n = (int)a->n_floats;
        if (!(out->u.fs = qb_arena_calloc(L->arena, a->n_floats + 1, sizeof(float))))
            return nomem(L);
        if (a->n_floats)
            memcpy(out->u.fs, a->floats, a->n_floats * sizeof(float));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        out->type = QB_ATTR_INTS;
        out->n = (int)a->n_ints;
        if (!(out->u.is = qb_arena_calloc(L->arena, a->n_ints + 1, sizeof(int64_t))))
            return nomem(L);
        if (a->n_ints)
            memcpy(out->u.is, a->ints, a->n_ints * sizeof(int64_t));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        out->type = QB_ATTR_STRINGS;
        out->n = (int)a->n_strings;
        if (!(out->u.ss = qb_arena_calloc(L->arena, a->n_strings + 1, sizeof(char *))))
            return nomem(L);
        for (size_t i = 0; i < a->n_strings; i++)
            if (!(out->u.ss[i] = bin_strdup(L->arena, &a->strings[i])))
                return nomem(L);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
        out->type = QB_ATTR_OTHER;
        out->n = 0;
        break;
    default:
        if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
            return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' has no type and no value",
                                  a->name);
        return qb_node_errorf(g, n, L->err, QB_ERR_INVALID, "attribute '%s' has unknown type %d", a->name, type);
    }
    return QB_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static enum qb_status load_node_attrs(struct ld *L, const Onnx__NodeProto *np, struct qb_node *n)
{
    enum qb_status st;

    if (np->n_attribute > MAX_ATTRS)
        return qb_node_errorf(L->g, n, L->err, QB_ERR_UNSUPPORTED, "has %zu attributes, at most %d",
                              np->n_attribute, MAX_ATTRS);
    n->n_attr = (int)np->n_attribute;
    if (!(n->attrs = qb_arena_calloc(L->arena, np->n_attribute + 1, sizeof(*n->attrs))))
        return nomem(L);
    for (int k = 0; k < n->n_attr; k++)
        if ((st = load_attr(L, n, np->attribute[k], k, &n->attrs[k])) != QB_OK)
            return st;
    if (n->n_attr < 2)
        return QB_OK;
    if ((size_t)n->n_attr > L->scratch_cap) {
        const char **s = realloc(L->scratch, (size_t)n->n_attr * sizeof(*s));
        if (!s)
            return nomem(L);
        L->scratch = s;
        L->scratch_cap = (size_t)n->n_attr;
    }
    for (int k = 0; k < n->n_attr; k++)
        L->scratch[k] = n->attrs[k].name;
    qsort(L->scratch, (size_t)n->n_attr, sizeof(*L->scratch), cmp_str);
    for (int k = 1; k < n->n_attr; k++)
        if (strcmp(L->scratch[k - 1], L->scratch[k]) == 0)
            return qb_node_errorf(L->g, n, L->err, QB_ERR_INVALID, "attribute '%s' is given twice", L->scratch[k]);
    return QB_OK;
}

static enum qb_status load_nodes(struct ld *L, const Onnx__GraphProto *gp)
{
    struct qb_graph *g = L->g;
    enum qb_status st;

    if (gp->n_node > MAX_NODES)
        return lerr(L, QB_ERR_UNSUPPORTED, "the graph has %zu nodes, at most %d are supported", gp->n_node,
                    MAX_NODES);
    if (!(g->nodes = qb_arena_calloc(L->arena, gp->n_node + 1, sizeof(*g->nodes))))
        return nomem(L);
    /* all outputs first, so that attribute constants never take a node output's name */
    for (size_t i = 0; i < gp->n_node; i++) {
        if ((st = load_node_io(L, gp->node[i], (int)i)) != QB_OK)
            return st;
        g->n_nodes = (int)i + 1;
    }
    for (size_t i = 0; i < gp->n_node; i++)
        if ((st = load_node_attrs(L, gp->node[i], &g->nodes[i])) != QB_OK)
            return st;
    return QB_OK;
}

/* ---- the model ------------------------------------------------------------------- */

static enum qb_status load_header(struct ld *L, const Onnx__ModelProto *m)
{
    struct qb_graph *g = L->g;
    const char *pn = m->producer_name ? m->producer_name : "";
    const char *pv = m->producer_version ? m->producer_version : "";
    bool have = false;
    size_t len;

    g->ir_version = m->has_ir_version ? m->ir_version : 0;
    len = strlen(pn) + strlen(pv) + 2;
    if (!(g->producer = qb_arena_alloc(L->arena, len)))
        return nomem(L);
    snprintf((char *)g->producer, len, "%s%s%s", pn, *pn && *pv ? " " : "", pv);
    if (!(g->name = qb_arena_strdup(L->arena, m->graph->name ? m->graph->name : "")))
        return nomem(L);

    if (m->n_opset_import > MAX_LIST || m->n_metadata_props > MAX_LIST)
        return lerr(L, QB_ERR_UNSUPPORTED, "too many opset imports or metadata entries");
    g->opsets = qb_arena_calloc(L->arena, m->n_opset_import + 1, sizeof(*g->opsets));
    g->meta = qb_arena_calloc(L->arena, m->n_metadata_props + 1, sizeof(*g->meta));
    if (!g->opsets || !g->meta)
        return nomem(L);
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *dom = o->domain ? o->domain : "";
        if (!o->has_version || o->version < 1)
            return lerr(L, QB_ERR_INVALID, "the opset import for domain '%s' has no valid version", dom);
        if (!(g->opsets[i].domain = qb_arena_strdup(L->arena, dom)))
            return nomem(L);
        g->opsets[i].version = o->version;
        g->n_opsets = (int)i + 1;
        if (*dom && strcmp(dom, "ai.onnx") != 0)
            continue;
        if (have && g->opset != o->version)
            return lerr(L, QB_ERR_INVALID, "the default ONNX domain is imported at opsets %" PRId64 " and %" PRId64,
                        g->opset, o->version);
        g->opset = o->version;
        have = true;
    }
    L->have_opset = have;
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        g->meta[i].key = qb_arena_strdup(L->arena, e->key ? e->key : "");
        g->meta[i].value = qb_arena_strdup(L->arena, e->value ? e->value : "");
        if (!g->meta[i].key || !g->meta[i].value)
            return nomem(L);
        g->n_meta = (int)i + 1;
    }
    return QB_OK;
}

/* No default-domain opset: invalid when a node needs it, out of scope when every
 * node is in another domain (training and vendor ops). */
static enum qb_status check_opset(struct ld *L)
{
    const struct qb_graph *g = L->g;

    if (L->have_opset)
        return QB_OK;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].domain[0])
            return lerr(L, QB_ERR_INVALID, "node '%s' (%s) is in the default ONNX domain, but the model imports "
                        "no opset for it (no opset_import for \"\" or \"ai.onnx\")", g->nodes[i].name,
                        g->nodes[i].op_type);
    if (g->n_nodes)
        return lerr(L, QB_ERR_UNSUPPORTED, "all ops are in domain '%s' and the model imports no default ONNX "
                    "opset; qbench runs default-domain ops only", g->nodes[0].domain);
    return lerr(L, QB_ERR_INVALID, "the model imports no opset for the default ONNX domain (no opset_import for "
                "\"\" or \"ai.onnx\")");
}

static enum qb_status build_graph(struct ld *L, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    enum qb_status st;

    if (!gp)
        return lerr(L, QB_ERR_INVALID, "the model has no graph");
    if (gp->n_input > MAX_LIST || gp->n_output > MAX_LIST || gp->n_initializer > MAX_LIST ||
        gp->n_value_info > MAX_LIST)
        return lerr(L, QB_ERR_UNSUPPORTED, "the graph has too many inputs, outputs, initializers or value_info");
    if ((st = load_header(L, m)) != QB_OK || (st = load_initializers(L, gp)) != QB_OK ||
        (st = load_inputs(L, gp)) != QB_OK || (st = load_nodes(L, gp)) != QB_OK ||
        (st = load_outputs(L, gp)) != QB_OK || (st = load_value_info(L, gp)) != QB_OK)
        return st;
    return check_opset(L);
}

/* *owned (the file buffer, may be NULL) is freed as soon as protobuf-c has copied it. */
static enum qb_status load_model(const void *data, size_t len, const char *path, const char *base_dir,
                                 void **owned, struct qb_graph **out, struct qb_error *err)
{
    struct ld L = {.path = path, .base_dir = base_dir, .err = err};
    ProtobufCMessage *msg = NULL;
    struct qb_graph *g = NULL;
    enum qb_status st;
    struct pb pb;

    st = pb_unpack(&onnx__model_proto__descriptor, data, len, path, "model", &pb, &msg, err);
    if (owned) {
        free(*owned);
        *owned = NULL;
    }
    if (st != QB_OK)
        goto out;
    if ((st = qb_graph_new(path, &g, err)) != QB_OK)
        goto out;
    L.g = g;
    L.arena = g->arena;
    st = build_graph(&L, (const Onnx__ModelProto *)msg);
out:
    if (msg)
        protobuf_c_message_free_unpacked(msg, &pb.alloc);
    free(L.base_real);
    free(L.scratch);
    if (st != QB_OK) {
        qb_graph_free(g);
        g = NULL;
    }
    *out = g;
    return st;
}

enum qb_status qb_onnx_load_buffer(const void *data, size_t len, const char *path_for_messages,
                                   const char *base_dir, struct qb_graph **out, struct qb_error *err)
{
    const char *path = path_for_messages ? path_for_messages : "<memory>";

    *out = NULL;
    if (!data && len)
        return qb_errorf(err, QB_ERR_USAGE, "%s: no data", path);
    return load_model(data, len, path, base_dir, NULL, out, err);
}

enum qb_status qb_onnx_load(const char *path, struct qb_graph **out, struct qb_error *err)
{
    enum qb_status st;
    void *buf = NULL;
    char *dir = NULL;
    size_t len;

    *out = NULL;
    if (!path)
        return qb_errorf(err, QB_ERR_USAGE, "no model path given");
    if ((st = read_file(path, &buf, &len, err)) != QB_OK)
        return st;
    if (!(dir = dir_of(path)))
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
    else
        st = load_model(buf, len, path, dir, &buf, out, err);
    free(buf);
    free(dir);
    return st;
}

enum qb_status qb_onnx_read_tensor_file(const char *path, struct qb_arena *arena, enum qb_dtype *dtype,
                                        int *ndim, int64_t shape[QB_MAX_DIMS], void **data, const char **name,
                                        struct qb_error *err)
{
    struct ld L = {.path = path, .arena = arena, .err = err};
    ProtobufCMessage *msg = NULL;
    const Onnx__TensorProto *t;
    char *dir = NULL, what[600];
    const char *nm;
    struct tensor tv;
    void *buf = NULL;
    enum qb_status st;
    struct pb pb;
    size_t len;

    if (!path)
        return qb_errorf(err, QB_ERR_USAGE, "no tensor path given");
    if ((st = read_file(path, &buf, &len, err)) != QB_OK)
        return st;
    st = pb_unpack(&onnx__tensor_proto__descriptor, buf, len, path, "tensor", &pb, &msg, err);
    free(buf);
    if (st != QB_OK)
        goto out;
    if (!(dir = dir_of(path))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    L.base_dir = dir;
    t = (const Onnx__TensorProto *)msg;
    if (t->name && *t->name)
        snprintf(what, sizeof(what), "tensor '%s'", t->name);
    else
        snprintf(what, sizeof(what), "tensor");
    if ((st = load_tensor(&L, t, what, &tv)) != QB_OK)
        goto out;
    if (!(nm = qb_arena_strdup(arena, t->name ? t->name : ""))) {
        st = nomem(&L);
        goto out;
    }
    *dtype = tv.dtype;
    *ndim = tv.ndim;
    memcpy(shape, tv.shape, sizeof(tv.shape));
    *data = tv.data;
    if (name)
        *name = nm;
out:
    if (msg)
        protobuf_c_message_free_unpacked(msg, &pb.alloc);
    free(L.base_real);
    free(dir);
    return st;
}
