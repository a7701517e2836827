/* ONNX loader, the byte side: files, the bounded protobuf-c unpack, and
 * TensorProto -> data (every dtype, external data). core/onnx.c builds the graph.
 *
 * The file is checked by a small wire-format walk before protobuf-c sees it
 * (nesting depth, truncation, node count, repeated singular messages), and
 * protobuf-c unpacks through an allocator with a byte budget, so a hostile file
 * can neither blow the stack nor the heap. Everything kept is copied into an
 * arena; the unpacked protobuf is freed on every path. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "onnx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensor data is copied as little-endian bytes");

#define MAX_FILE_BYTES ((uint64_t)1 << 31) /* protobuf's own 2 GiB limit */
#define MAX_NESTING 64                     /* protobuf message levels */
#define MAX_SINGULAR_REPEAT 4              /* a non-repeated message field given this often */

/* ---- protobuf-c with a byte budget ------------------------------------------------ */

#define PB_HDR 16 /* keeps the size in front of each block, max_align_t aligned */

static void *pb_alloc(void *ud, size_t size)
{
    struct qb_onnx_pb *pb = ud;
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
    struct qb_onnx_pb *pb = ud;
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
                    ++s->nodes > QB_ONNX_MAX_NODES)
                    return scan_fail(s, at, QB_ERR_UNSUPPORTED, d, "more than %d nodes", QB_ONNX_MAX_NODES);
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

enum qb_status qb_onnx_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                              const char *path, const char *what, struct qb_onnx_pb *pb, ProtobufCMessage **out,
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

enum qb_status qb_onnx_read_file(const char *path, void **data, size_t *len, struct qb_error *err)
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

char *qb_onnx_dir_of(const char *path)
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

/* ---- messages ------------------------------------------------------------------- */

enum qb_status qb_onnx_lerr(struct qb_onnx_ld *L, enum qb_status st, const char *fmt, ...)
{
    char detail[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return qb_errorf(L->err, st, "%s: %s", L->path, detail);
}

enum qb_status qb_onnx_nomem(struct qb_onnx_ld *L)
{
    return qb_onnx_lerr(L, QB_ERR_NOMEM, "out of memory");
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

char *qb_onnx_bin_strdup(struct qb_arena *a, const ProtobufCBinaryData *b)
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

const char *qb_onnx_type_name(int32_t t)
{
    return t >= 0 && (size_t)t < sizeof(onnx_types) / sizeof(onnx_types[0]) ? onnx_types[t].name : NULL;
}

enum qb_dtype qb_onnx_dtype(int32_t t)
{
    return qb_onnx_type_name(t) ? onnx_types[t].dtype : QB_DTYPE_UNDEFINED;
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
static enum qb_status read_external(struct qb_onnx_ld *L, const Onnx__TensorProto *t, const char *what, size_t bytes,
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
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s: uses external data, which is refused when loading from memory",
                            what);
    for (size_t i = 0; i < t->n_external_data; i++) {
        const char *key = t->external_data[i]->key ? t->external_data[i]->key : "";
        const char *val = t->external_data[i]->value ? t->external_data[i]->value : "";
        if (strcmp(key, "location") == 0) {
            if (loc)
                return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data gives 'location' twice", what);
            loc = val;
        } else if ((strcmp(key, "offset") == 0 && !parse_u63(val, &off)) ||
                   (strcmp(key, "length") == 0 && !parse_u63(val, &length))) {
            return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data %s '%s' is not a non-negative integer", what, key,
                                val);
        }
    }
    if (!loc || !*loc)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data has no location", what);
    if (loc[0] == '/')
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data location '%s' is an absolute path; it must be "
                            "relative to the model's folder", what, loc);
    if (has_dotdot(loc))
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data location '%s' contains '..'; it must stay inside the "
                            "model's folder", what, loc);
    if (!L->base_real && !(L->base_real = realpath(L->base_dir, NULL))) {
        st = qb_onnx_lerr(L, QB_ERR_IO, "%s: cannot resolve the model's folder '%s': %s", what, L->base_dir,
                          strerror(errno));
        goto out;
    }
    if (!(full = malloc(strlen(L->base_dir) + strlen(loc) + 2))) {
        st = qb_onnx_nomem(L);
        goto out;
    }
    sprintf(full, "%s/%s", L->base_dir, loc);
    if (!(real = realpath(full, NULL))) {
        st = qb_onnx_lerr(L, QB_ERR_IO, "%s: external data file '%s': %s", what, loc, strerror(errno));
        goto out;
    }
    if (!inside_dir(real, L->base_real)) {
        st = qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data file '%s' resolves to '%s', outside the model's folder",
                          what, loc, real);
        goto out;
    }
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = qb_onnx_lerr(L, QB_ERR_IO, "%s: external data file '%s': %s", what, loc, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data file '%s' is not a regular file", what, loc);
        goto out;
    }
    size = (int64_t)sb.st_size;
    if (off > size) {
        st = qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data offset %" PRId64 " is past the end of '%s' (%" PRId64
                          " bytes)", what, off, loc, size);
        goto out;
    }
    if (length < 0)
        length = size - off;
    if (length > size - off) {
        st = qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data offset %" PRId64 " + length %" PRId64
                          " runs past the end of '%s' (%" PRId64 " bytes)", what, off, length, loc, size);
        goto out;
    }
    if ((uint64_t)length != bytes) {
        st = qb_onnx_lerr(L, QB_ERR_INVALID, "%s: external data has %" PRId64 " bytes, but dims %s of %s need %zu",
                          what, length, shape, qb_onnx_type_name(t->data_type), bytes);
        goto out;
    }
    if (!(buf = qb_arena_alloc(L->arena, bytes ? bytes : 1))) {
        st = qb_onnx_nomem(L);
        goto out;
    }
    while (got < bytes) {
        size_t chunk = bytes - got < ((size_t)1 << 30) ? bytes - got : ((size_t)1 << 30);
        ssize_t r = pread(fd, buf + got, chunk, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = qb_onnx_lerr(L, QB_ERR_IO, "%s: reading external data file '%s': %s", what, loc,
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

static enum qb_status copy_strings(struct qb_onnx_ld *L, const Onnx__TensorProto *t, const char **dst)
{
    for (size_t i = 0; i < t->n_string_data; i++)
        if (!(dst[i] = qb_onnx_bin_strdup(L->arena, &t->string_data[i])))
            return qb_onnx_nomem(L);
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

enum qb_status qb_onnx_load_tensor(struct qb_onnx_ld *L, const Onnx__TensorProto *t, const char *what,
                                   struct qb_onnx_tensor *o)
{
    const char *tname = t->has_data_type ? qb_onnx_type_name(t->data_type) : NULL;
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
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: has no data type", what);
    if (!tname)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: has unknown data type %d", what, (int)t->data_type);
    if ((o->dtype = qb_onnx_dtype(t->data_type)) == QB_DTYPE_UNDEFINED)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s: data type %s is not supported", what, tname);
    if (t->segment)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s: segmented tensors (TensorProto.segment) are not supported",
                            what);
    if (t->n_dims > QB_MAX_DIMS)
        return qb_onnx_lerr(L, QB_ERR_UNSUPPORTED, "%s: has %zu dimensions, at most %d are supported", what, t->n_dims,
                            QB_MAX_DIMS);
    o->ndim = (int)t->n_dims;
    dims_str(t->dims, t->n_dims, shape, sizeof(shape));
    for (int i = 0; i < o->ndim; i++) {
        int64_t d = t->dims[i];
        if (d < 0)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: dims %s has a negative dimension", what, shape);
        if (d > 1 && prod > INT64_MAX / d)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: the element count of dims %s overflows", what, shape);
        prod *= d > 1 ? d : 1;
        numel = d == 0 ? 0 : numel * d;
        o->shape[i] = d;
    }
    esize = o->dtype == QB_DTYPE_STRING ? sizeof(char *) : qb_dtype_size(o->dtype);
    if ((uint64_t)numel > (uint64_t)INT64_MAX / esize || (uint64_t)numel * esize > SIZE_MAX / 2)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: dims %s of %s are too large", what, shape, tname);
    bytes = (size_t)numel * esize;

    /* where the data is: exactly one of raw_data, a typed field, external data */
    if (t->has_data_location && t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT &&
        t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: unknown data_location %d", what, (int)t->data_location);
    external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    for (int f = TF_NONE + 1; f < TF_COUNT; f++) {
        if (!counts[f])
            continue;
        if (used != TF_NONE)
            return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: stores data in both %s and %s", what, tfield_names[used],
                                tfield_names[f]);
        used = (enum tfield)f;
    }
    raw = t->has_raw_data && (t->raw_data.len > 0 || (used == TF_NONE && !external));
    if ((raw && used != TF_NONE) || (external && (raw || used != TF_NONE)))
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: stores data in more than one of raw_data, %s and external data",
                            what, used != TF_NONE ? tfield_names[used] : "the typed fields");
    if (o->dtype == QB_DTYPE_STRING && (raw || external))
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: STRING tensors must use string_data, not %s", what,
                            raw ? "raw_data" : "external data");
    want = dtype_field[o->dtype];
    if (used != TF_NONE && used != want)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: is %s but stores its data in %s (expected %s)", what, tname,
                            tfield_names[used], tfield_names[want]);

    if (external)
        return read_external(L, t, what, bytes, shape, &o->data);
    if (raw && t->raw_data.len != bytes)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: raw_data has %zu bytes, but dims %s of %s need %zu", what,
                            t->raw_data.len, shape, tname, bytes);
    if (used != TF_NONE && counts[used] != (uint64_t)numel)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: %s has %zu elements, but dims %s need %" PRId64, what,
                            tfield_names[used], counts[used], shape, numel);
    if (!raw && used == TF_NONE && numel != 0)
        return qb_onnx_lerr(L, QB_ERR_INVALID, "%s: has no data, but dims %s need %" PRId64 " elements", what, shape,
                            numel);
    if (!(o->data = qb_arena_alloc(L->arena, bytes ? bytes : 1)))
        return qb_onnx_nomem(L);
    if (raw && bytes)
        memcpy(o->data, t->raw_data.data, bytes);
    else if (used == TF_STRING)
        return copy_strings(L, t, o->data);
    else if (used != TF_NONE)
        copy_typed(o->dtype, t, o->data, (size_t)numel);
    return QB_OK;
}

/* ---- tensor files ----------------------------------------------------------------- */

enum qb_status qb_onnx_read_tensor_file(const char *path, struct qb_arena *arena, enum qb_dtype *dtype,
                                        int *ndim, int64_t shape[QB_MAX_DIMS], void **data, const char **name,
                                        struct qb_error *err)
{
    struct qb_onnx_ld L = {.path = path, .arena = arena, .err = err};
    ProtobufCMessage *msg = NULL;
    const Onnx__TensorProto *t;
    char *dir = NULL, what[600];
    const char *nm;
    struct qb_onnx_tensor tv;
    void *buf = NULL;
    enum qb_status st;
    struct qb_onnx_pb pb;
    size_t len;

    if (!path)
        return qb_errorf(err, QB_ERR_USAGE, "no tensor path given");
    if ((st = qb_onnx_read_file(path, &buf, &len, err)) != QB_OK)
        return st;
    st = qb_onnx_unpack(&onnx__tensor_proto__descriptor, buf, len, path, "tensor", &pb, &msg, err);
    free(buf);
    if (st != QB_OK)
        goto out;
    if (!(dir = qb_onnx_dir_of(path))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    L.base_dir = dir;
    t = (const Onnx__TensorProto *)msg;
    if (t->name && *t->name)
        snprintf(what, sizeof(what), "tensor '%s'", t->name);
    else
        snprintf(what, sizeof(what), "tensor");
    if ((st = qb_onnx_load_tensor(&L, t, what, &tv)) != QB_OK)
        goto out;
    if (!(nm = qb_arena_strdup(arena, t->name ? t->name : ""))) {
        st = qb_onnx_nomem(&L);
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
