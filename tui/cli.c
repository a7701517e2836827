#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/onnx.h"

int qb_cli_exit_code(enum qb_status st)
{
    switch (st) {
    case QB_OK:
        return QB_EXIT_OK;
    case QB_ERR_IO:
    case QB_ERR_PARSE:
    case QB_ERR_UNSUPPORTED:
    case QB_ERR_INVALID:
    case QB_ERR_SHAPE:
    case QB_ERR_USAGE:
        return QB_EXIT_USAGE;
    case QB_ERR_NOMEM:
    case QB_ERR_CANCELLED:
    case QB_ERR_INTERNAL:
    case QB_STATUS_COUNT:
        break;
    }
    return QB_EXIT_FAIL;
}

double qb_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int qb_cli_model_opt(int argc, char **argv, int *i, struct qb_cli_model_opts *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--shape") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--device") == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "qbench: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++*i];
        if (a[2] == 'd') {
            o->device = v;
        } else if (a[2] == 's') {
            if (o->n_shapes == (int)(sizeof(o->shapes) / sizeof(o->shapes[0]))) {
                fprintf(stderr, "qbench: too many --shape options\n");
                return -1;
            }
            o->shapes[o->n_shapes++] = v;
        } else {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 1024) {
                fprintf(stderr, "qbench: --threads wants a count from 1 to 1024, got '%s'\n", v);
                return -1;
            }
            o->threads = (int)t;
        }
        return 1;
    }
    return 0;
}

static enum qb_status apply_shape(struct qb_graph *g, const char *spec, struct qb_error *err)
{
    char name[256];
    int64_t shape[QB_MAX_DIMS];
    int n = 0;
    const char *eq = strrchr(spec, '=');
    const char *p;

    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof(name))
        return qb_errorf(err, QB_ERR_USAGE, "--shape wants NAME=D0,D1,..., got '%s'", spec);
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = '\0';
    for (p = eq + 1; *p;) {
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (end == p || errno || d < 1 || n == QB_MAX_DIMS)
            return qb_errorf(err, QB_ERR_USAGE, "--shape: bad dimension list in '%s'", spec);
        shape[n++] = d;
        p = end;
        if (*p == ',' || *p == 'x')
            p++;
        else if (*p)
            return qb_errorf(err, QB_ERR_USAGE, "--shape: bad dimension list in '%s'", spec);
    }
    return qb_graph_set_input_shape(g, name, n, shape, err);
}

const char *qb_cli_meta(const struct qb_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].value;
    return NULL;
}

/* An Ultralytics export with dynamic=True has a symbolic [batch,3,height,width]
 * input; its metadata says what it was exported for (batch "2", imgsz "[640, 640]"),
 * which is what the user means unless --shape says otherwise. */
static enum qb_status shape_from_metadata(struct qb_graph *g, struct qb_error *err)
{
    const char *imgsz = qb_cli_meta(g, "imgsz"), *batch = qb_cli_meta(g, "batch");
    struct qb_value *v;
    long long h = 0, w = 0, b = 1;
    int64_t shape[4];

    if (g->n_inputs != 1 || !imgsz)
        return QB_OK;
    v = &g->values[g->inputs[0]];
    if (v->ndim != 4 || qb_value_numel(v) >= 0)
        return QB_OK;
    if (sscanf(imgsz, " [ %lld , %lld ]", &h, &w) != 2 && sscanf(imgsz, " %lld", &h) == 1)
        w = h;
    if (batch)
        sscanf(batch, " %lld", &b);
    if (h < 1 || w < 1 || b < 1 || h > 65536 || w > 65536 || b > 4096)
        return QB_OK;
    shape[0] = v->shape[0] >= 0 ? v->shape[0] : b;
    shape[1] = v->shape[1] >= 0 ? v->shape[1] : 3;
    shape[2] = v->shape[2] >= 0 ? v->shape[2] : h;
    shape[3] = v->shape[3] >= 0 ? v->shape[3] : w;
    qb_log(QB_LOG_INFO, "%s: input '%s' takes [%lld,%lld,%lld,%lld] from the model's metadata (batch, imgsz); "
           "--shape %s=B,C,H,W overrides", g->path, v->name, (long long)shape[0], (long long)shape[1],
           (long long)shape[2], (long long)shape[3], v->name);
    return qb_graph_set_input_shape(g, v->name, 4, shape, err);
}

struct qb_graph *qb_cli_load(const char *path, const struct qb_cli_model_opts *o, enum qb_status *st)
{
    struct qb_error err = {0};
    struct qb_graph *g = NULL;

    *st = qb_onnx_load(path, &g, &err);
    for (int i = 0; *st == QB_OK && o && i < o->n_shapes; i++)
        *st = apply_shape(g, o->shapes[i], &err);
    if (*st == QB_OK && !(o && o->n_shapes))
        *st = shape_from_metadata(g, &err);
    if (*st == QB_OK)
        *st = qb_graph_prepare(g, &err);
    if (*st != QB_OK) {
        fprintf(stderr, "qbench: %s\n", err.msg[0] ? err.msg : qb_status_str(*st));
        if (*st == QB_ERR_SHAPE && g && !(o && o->n_shapes))
            fprintf(stderr, "qbench: give symbolic input dimensions with --shape NAME=D,D,...\n");
        qb_graph_free(g);
        return NULL;
    }
    return g;
}

/* One Python string literal ('...' or "..." with backslash escapes) at *p. */
static char *py_string(const char **p)
{
    const char *s = *p;
    char q = *s, *out, *o;
    if (q != '\'' && q != '"')
        return NULL;
    if (!(out = o = malloc(strlen(s) + 1)))
        return NULL;
    for (s++; *s && *s != q; s++)
        *o++ = (*s == '\\' && s[1]) ? *++s : *s;
    if (*s != q) {
        free(out);
        return NULL;
    }
    *o = '\0';
    *p = s + 1;
    return out;
}

void qb_cli_free_names(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* Ultralytics writes names as a Python dict: {0: 'person', 1: 'bicycle', ...}. */
int qb_cli_model_names(const struct qb_graph *g, char ***out)
{
    const char *p = qb_cli_meta(g, "names");
    char **names = NULL;
    int n = 0;

    *out = NULL;
    if (!p || *(p += strspn(p, " ")) != '{')
        return 0;
    for (p++;;) {
        char *end, *name, **grown;
        long k;
        p += strspn(p, " ,\n");
        if (*p == '}')
            break;
        k = strtol(p, &end, 10);
        if (end == p || k != n)
            goto bad;
        p = end + strspn(end, " ");
        if (*p++ != ':')
            goto bad;
        p += strspn(p, " ");
        if (!(name = py_string(&p)))
            goto bad;
        if (!(grown = realloc(names, (size_t)(n + 1) * sizeof(*names)))) {
            free(name);
            goto bad;
        }
        names = grown;
        names[n++] = name;
    }
    *out = names;
    return n;
bad:
    qb_cli_free_names(names, n);
    return 0;
}

enum qb_status qb_cli_write_json(const char *path, cJSON *root, struct qb_error *err)
{
    char *s = cJSON_Print(root);
    FILE *f;
    enum qb_status st = QB_OK;
    if (!s)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f || fprintf(f, "%s\n", s) < 0)
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write", path);
    if (f && f != stdout && fclose(f) != 0)
        st = qb_errorf(err, QB_ERR_IO, "%s: cannot write", path);
    free(s);
    return st;
}

