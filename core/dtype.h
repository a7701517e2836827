/* Element types. Values follow no external numbering; the ONNX loader maps
 * TensorProto.DataType onto them. */
#ifndef QB_DTYPE_H
#define QB_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum qb_dtype {
    QB_DTYPE_UNDEFINED = 0,
    QB_DTYPE_F32,
    QB_DTYPE_F16,
    QB_DTYPE_F64,
    QB_DTYPE_I8,
    QB_DTYPE_U8,
    QB_DTYPE_I16,
    QB_DTYPE_U16,
    QB_DTYPE_I32,
    QB_DTYPE_U32,
    QB_DTYPE_I64,
    QB_DTYPE_U64,
    QB_DTYPE_BOOL,
    QB_DTYPE_STRING, /* loaded so that errors can name it; never computed on */
    QB_DTYPE_COUNT
};

struct qb_dtype_traits {
    const char *name; /* ONNX spelling: "float", "int64" ... */
    size_t size;      /* bytes per element; 0 for UNDEFINED/STRING */
    char npy[4];      /* numpy descr without byte order, "f4"; "" if none */
};

extern const struct qb_dtype_traits qb_dtype_traits[QB_DTYPE_COUNT];

static inline size_t qb_dtype_size(enum qb_dtype t) { return qb_dtype_traits[t].size; }
static inline const char *qb_dtype_name(enum qb_dtype t) { return qb_dtype_traits[t].name; }

#endif
