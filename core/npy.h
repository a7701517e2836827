/* NumPy .npy files (format versions 1.0-3.0), the tensor interchange format of
 * `qbench run`. Only C-order, little-endian arrays. */
#ifndef QB_NPY_H
#define QB_NPY_H

#include <stdint.h>

#include "dtype.h"
#include "graph.h"
#include "status.h"

struct qb_npy {
    enum qb_dtype dtype;
    int ndim;
    int64_t shape[QB_MAX_DIMS];
    void *data;      /* malloc'd; freed by qb_npy_free() */
};

enum qb_status qb_npy_read(const char *path, struct qb_npy *out, struct qb_error *err);
/* Writes atomically (temporary file, then rename): a failed write leaves no file. */
enum qb_status qb_npy_write(const char *path, enum qb_dtype dtype, int ndim, const int64_t *shape,
                            const void *data, struct qb_error *err);
void qb_npy_free(struct qb_npy *npy);

#endif
