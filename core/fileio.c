/* Whole-file I/O shared by the formats qbench writes (core/fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
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
    enum qb_status st = QB_OK;
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *b = NULL;

    *out = NULL;
    if (!f)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    for (;;) { /* streamed, so pipes and files that grow read whole too */
        char *nb = realloc(b, cap + 1);
        if (!nb) {
            st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        b = nb;
        n += fread(b + n, 1, cap - n, f);
        if (n > max) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: more than %zu bytes, more than such a file holds", path, max);
            goto out;
        }
        if (n < cap)
            break;
        cap = cap <= max / 2 ? cap * 2 : max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
    }
    if (ferror(f)) {
        st = qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    b = NULL;
out:
    free(b);
    fclose(f);
    return st;
}
