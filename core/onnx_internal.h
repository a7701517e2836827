/* Private to the ONNX loader (core/onnx.c, core/onnx_tensor.c); not part of the API.
 *
 * onnx_tensor.c owns the bytes: reading files, the bounded protobuf-c unpack
 * (a wire-format walk, then an allocator with a byte budget), ONNX data types
 * and TensorProto -> data (all dtypes, external data). onnx.c turns an unpacked
 * ModelProto into a struct qb_graph through qb_onnx_load_tensor().
 */
#ifndef QB_ONNX_INTERNAL_H
#define QB_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx.h"
#include "onnx/onnx.pb-c.h"

#define QB_ONNX_MAX_NODES 1000000

/* protobuf-c with a byte budget; set up by qb_onnx_unpack(). */
struct qb_onnx_pb {
    ProtobufCAllocator alloc;
    size_t used, limit;
    bool over;
};

/* Loader state. Every message starts with path. */
struct qb_onnx_ld {
    const char *path;
    const char *base_dir;   /* external data folder; NULL refuses external data */
    char *base_real;        /* realpath(base_dir), resolved on first use (malloc; the caller frees) */
    struct qb_graph *g;     /* NULL while reading a lone tensor */
    struct qb_arena *arena; /* where tensor data and names go */
    struct qb_error *err;
    const char **scratch;   /* attribute names of one node (malloc; the caller frees) */
    size_t scratch_cap;
    bool have_opset;        /* the default domain is imported */
};

/* A loaded tensor: data as contiguous little-endian elements in L->arena
 * (STRING: an array of numel `const char *`). */
struct qb_onnx_tensor {
    enum qb_dtype dtype;
    int ndim;
    int64_t shape[QB_MAX_DIMS];
    void *data;
};

/* Checks the wire format, then unpacks. On success *out is freed with
 * protobuf_c_message_free_unpacked(*out, &pb->alloc). what: "model" or "tensor". */
enum qb_status qb_onnx_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                              const char *path, const char *what, struct qb_onnx_pb *pb, ProtobufCMessage **out,
                              struct qb_error *err);

/* Reads a whole regular file of at most 2 GiB into *data (malloc). */
enum qb_status qb_onnx_read_file(const char *path, void **data, size_t *len, struct qb_error *err);

/* The folder a path is in ("." for a bare name); malloc'd, NULL when out of memory. */
char *qb_onnx_dir_of(const char *path);

/* "<path>: <message>" into L->err; returns st. */
enum qb_status qb_onnx_lerr(struct qb_onnx_ld *L, enum qb_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum qb_status qb_onnx_nomem(struct qb_onnx_ld *L);

/* A protobuf bytes field as a NUL-terminated string in arena. */
char *qb_onnx_bin_strdup(struct qb_arena *a, const ProtobufCBinaryData *b);

/* ONNX TensorProto.DataType: its name (NULL when unknown) and the qb_dtype
 * (QB_DTYPE_UNDEFINED when unknown or not loaded). */
const char *qb_onnx_type_name(int32_t t);
enum qb_dtype qb_onnx_dtype(int32_t t);

/* Loads a TensorProto into o (data in L->arena). what names it in messages. */
enum qb_status qb_onnx_load_tensor(struct qb_onnx_ld *L, const Onnx__TensorProto *t, const char *what,
                                   struct qb_onnx_tensor *o);

#endif
