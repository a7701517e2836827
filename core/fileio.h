/* Whole-file I/O for the files qbench writes and reads back (calibration tables
 * and caches, plans, presets). */
#ifndef QB_FILEIO_H
#define QB_FILEIO_H

#include <stddef.h>

#include "status.h"

/* Writes len bytes to path atomically (path.tmp.XXXXXX, fsync, rename, fsync of
 * the folder); nothing is left behind on failure, and path is untouched. */
enum qb_status qb_file_write_atomic(const char *path, const void *data, size_t len, struct qb_error *err);
/* Reads a whole file (at most max bytes; more is QB_ERR_PARSE) into a malloc'd,
 * NUL-terminated buffer. */
enum qb_status qb_file_read(const char *path, size_t max, char **out, size_t *len, struct qb_error *err);

#endif
