#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPY_MAX_HEADER 65536

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Finds `'key':` in a header dict and returns the text after the colon. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[32];
    const char *p;
    snprintf(pat, sizeof(pat), "'%s'", key);
    p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int parse_descr(const char *v, enum qb_dtype *dt)
{
    char d[8] = {0};
    if (*v != '\'' && *v != '"')
        return -1;
    const char *end = strchr(v + 1, *v);
    if (!end || end - v - 1 >= (long)sizeof(d) || end - v - 1 < 2)
        return -1;
    memcpy(d, v + 1, (size_t)(end - v - 1));
    if (d[0] != '<' && d[0] != '|' && d[0] != '=')
        return -1; /* big-endian */
    for (int t = 0; t < QB_DTYPE_COUNT; t++)
        if (qb_dtype_traits[t].npy[0] && strcmp(d + 1, qb_dtype_traits[t].npy) == 0) {
            *dt = (enum qb_dtype)t;
            return 0;
        }
    if (strcmp(d + 1, "b1") == 0 || strcmp(d + 1, "?") == 0) {
        *dt = QB_DTYPE_BOOL;
        return 0;
    }
    return -1;
}

static int parse_shape(const char *v, int *ndim, int64_t *shape)
{
    int n = 0;
    if (*v++ != '(')
        return -1;
    for (;;) {
        while (*v == ' ' || *v == ',')
            v++;
        if (*v == ')')
            break;
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || errno || x < 0 || n >= QB_MAX_DIMS)
            return -1;
        shape[n++] = x;
        v = end;
    }
    *ndim = n;
    return 0;
}

enum qb_status qb_npy_read(const char *path, struct qb_npy *out, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    char *hdr = NULL;
    size_t hlen;
    const char *v;
    int64_t numel = 1;

    memset(out, 0, sizeof(*out));
    if (!f)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, npy_magic, 6) != 0) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: not a NumPy .npy file", path);
        goto out;
    }
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: truncated .npy header", path);
            goto out;
        }
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)b[0] << 16 | (size_t)b[1] << 24;
    } else {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: .npy format version %d is not supported", path, pre[6]);
        goto out;
    }
    if (hlen > NPY_MAX_HEADER || !(hdr = calloc(1, hlen + 1)) || fread(hdr, 1, hlen, f) != hlen) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: truncated or oversized .npy header", path);
        goto out;
    }
    if (!(v = dict_value(hdr, "descr")) || parse_descr(v, &out->dtype) != 0) {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: unsupported dtype in .npy header (little-endian numeric only)",
                       path);
        goto out;
    }
    if ((v = dict_value(hdr, "fortran_order")) && strncmp(v, "False", 5) != 0) {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported; save with C order",
                       path);
        goto out;
    }
    if (!(v = dict_value(hdr, "shape")) || parse_shape(v, &out->ndim, out->shape) != 0) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: bad 'shape' in .npy header", path);
        goto out;
    }
    for (int i = 0; i < out->ndim; i++) {
        if (out->shape[i] && numel > ((int64_t)1 << 40) / out->shape[i]) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: array too large", path);
            goto out;
        }
        numel *= out->shape[i];
    }
    {
        size_t bytes = (size_t)numel * qb_dtype_size(out->dtype);
        out->data = malloc(bytes ? bytes : 1);
        if (!out->data) {
            st = qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        if (fread(out->data, 1, bytes, f) != bytes) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: truncated .npy data (expected %zu bytes)", path, bytes);
            goto out;
        }
    }
out:
    if (st != QB_OK)
        qb_npy_free(out);
    free(hdr);
    fclose(f);
    return st;
}

void qb_npy_free(struct qb_npy *npy)
{
    free(npy->data);
    npy->data = NULL;
}

enum qb_status qb_npy_write(const char *path, enum qb_dtype dtype, int ndim, const int64_t *shape,
                            const void *data, struct qb_error *err)
{
    char hdr[512], tmp[4096];
    int n, fd;
    size_t numel = 1, bytes;
    FILE *f = NULL;
    enum qb_status st = QB_OK;

    if (!qb_dtype_traits[dtype].npy[0])
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: cannot write %s as .npy", path, qb_dtype_name(dtype));
    n = snprintf(hdr, sizeof(hdr), "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                 qb_dtype_size(dtype) == 1 ? '|' : '<', qb_dtype_traits[dtype].npy);
    for (int i = 0; i < ndim; i++) {
        n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "%" PRId64 "%s", shape[i], ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        numel *= (size_t)shape[i];
    }
    n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "), }");
    /* pad with spaces so that data starts at a multiple of 64, newline last */
    while ((10 + n + 1) % 64)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    bytes = numel * qb_dtype_size(dtype);

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
        return qb_errorf(err, QB_ERR_USAGE, "%s: path too long", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                             (unsigned char)(n >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(hdr, 1, (size_t)n, f) != (size_t)n ||
        fwrite(data, 1, bytes, f) != bytes || fflush(f) != 0 || fsync(fileno(f)) != 0)
        st = qb_errorf(err, QB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && st == QB_OK)
        st = qb_errorf(err, QB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st == QB_OK && rename(tmp, path) != 0)
        st = qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    if (st != QB_OK)
        unlink(tmp);
    return st;
}
