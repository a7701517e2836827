/* Whole-file I/O: the files qbench writes and reads back (calibration tables and
 * caches, plans, sweep caches) and the text files of datasets (data.yaml, lists,
 * labels). */
#ifndef QB_FILEIO_H
#define QB_FILEIO_H

#include <stddef.h>

#include "status.h"

/* Writes len bytes to path atomically (path.tmp.XXXXXX, fsync, rename, fsync of
 * the folder); nothing is left behind on failure, and path is untouched. */
enum qb_status qb_file_write_atomic(const char *path, const void *data, size_t len, struct qb_error *err);
/* Reads a whole file, streamed (at most max bytes, SIZE_MAX for no bound; more is
 * QB_ERR_PARSE) into a malloc'd, NUL-terminated buffer; *len excludes the NUL. */
enum qb_status qb_file_read(const char *path, size_t max, char **out, size_t *len, struct qb_error *err);

#endif
