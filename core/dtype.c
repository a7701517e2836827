#include "dtype.h"

const struct qb_dtype_traits qb_dtype_traits[QB_DTYPE_COUNT] = {
    [QB_DTYPE_UNDEFINED] = {"undefined", 0, ""},
    [QB_DTYPE_F32] = {"float", 4, "f4"},
    [QB_DTYPE_F16] = {"float16", 2, "f2"},
    [QB_DTYPE_F64] = {"double", 8, "f8"},
    [QB_DTYPE_I8] = {"int8", 1, "i1"},
    [QB_DTYPE_U8] = {"uint8", 1, "u1"},
    [QB_DTYPE_I16] = {"int16", 2, "i2"},
    [QB_DTYPE_U16] = {"uint16", 2, "u2"},
    [QB_DTYPE_I32] = {"int32", 4, "i4"},
    [QB_DTYPE_U32] = {"uint32", 4, "u4"},
    [QB_DTYPE_I64] = {"int64", 8, "i8"},
    [QB_DTYPE_U64] = {"uint64", 8, "u8"},
    [QB_DTYPE_BOOL] = {"bool", 1, "b1"},
    [QB_DTYPE_STRING] = {"string", 0, ""},
};
_Static_assert(sizeof(qb_dtype_traits) / sizeof(qb_dtype_traits[0]) == QB_DTYPE_COUNT,
               "one traits entry per dtype");
