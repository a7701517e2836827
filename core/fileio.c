/* Whole-file I/O shared by the formats qbench writes (core/fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

enum qb_status qb_file_write_atomic(const char *path, const void *data, size_t len, struct qb_error *err)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n), *slash;
    int fd = -1, dir, rc;
    bool created = false;
    enum qb_status st = QB_OK;

    if (!tmp)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    created = true;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = qb_errorf(err, QB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    rc = close(fd);
    fd = -1;
    if (rc != 0 || rename(tmp, path) != 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    created = false;
    if ((slash = strrchr(tmp, '/'))) /* make the rename durable (best effort) */
        slash[slash == tmp] = '\0';
    if ((dir = open(slash ? tmp : ".", O_RDONLY)) >= 0) {
        fsync(dir);
        close(dir);
    }
out:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return st;
}

enum qb_status qb_file_read(const char *path, size_t max, char **out, size_t *len, struct qb_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;
    enum qb_status st = QB_OK;

    *out = NULL;
    if (!f)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot read (not a regular file?)", path);
        goto out;
    }
    if ((size_t)size > max) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: %ld bytes, more than such a file holds", path, size);
        goto out;
    }
    if (!(buf = malloc((size_t)size + 1))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        st = qb_errorf(err, QB_ERR_IO, "%s: read failed", path);
        goto out;
    }
    buf[size] = '\0';
    *len = (size_t)size;
    *out = buf;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return st;
}
