/* Calibration tables: JSON save/load with errors that name the JSON path, the
 * amax[] the executor takes, the TensorRT calibration cache, and the hashes
 * (core/calib.h). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sha2.h>

#include "calib.h"
#include "fileio.h"

#define TABLE_FORMAT "qbench-calib"
#define TABLE_MAX_BYTES (64u << 20)

static const char *const top_keys[] = {"format", "version", "model", "method", "percentile",
                                       "images", "preprocess", "tensors", NULL};
static const char *const model_keys[] = {"path", "sha256", NULL};
static const char *const images_keys[] = {"count", "skipped", "list_sha256", NULL};
static const char *const preprocess_keys[] = {"input", "letterbox", NULL};

void qb_calib_table_free(struct qb_calib_table *t)
{
    for (int k = 0; t->names && k < t->n; k++)
        free(t->names[k]);
    free(t->names);
    free(t->amax);
    free(t->model);
    memset(t, 0, sizeof(*t));
}

/* Save ------------------------------------------------------------------------- */

static cJSON *table_json(const struct qb_calib_table *t)
{
    cJSON *root = cJSON_CreateObject(), *model, *images, *pre, *input, *tensors;
    int shape[4] = {t->batch, 3, t->height, t->width};
    bool ok = root && cJSON_AddStringToObject(root, "format", TABLE_FORMAT) &&
              cJSON_AddNumberToObject(root, "version", QB_CALIB_TABLE_VERSION) &&
              (model = cJSON_AddObjectToObject(root, "model")) &&
              (!t->model || cJSON_AddStringToObject(model, "path", t->model)) &&
              cJSON_AddStringToObject(model, "sha256", t->model_sha256) &&
              cJSON_AddStringToObject(root, "method", qb_calib_method_name(t->params.method)) &&
              (t->params.method != QB_CALIB_PERCENTILE ||
               cJSON_AddNumberToObject(root, "percentile",
                                       t->params.percentile > 0 ? t->params.percentile : QB_CALIB_PERCENTILE_DEFAULT)) &&
              (images = cJSON_AddObjectToObject(root, "images")) &&
              cJSON_AddNumberToObject(images, "count", (double)t->images) &&
              cJSON_AddNumberToObject(images, "skipped", (double)t->skipped) &&
              cJSON_AddStringToObject(images, "list_sha256", t->images_sha256) &&
              (pre = cJSON_AddObjectToObject(root, "preprocess")) &&
              (input = cJSON_CreateIntArray(shape, 4)) && cJSON_AddItemToObject(pre, "input", input) &&
              (unsigned)t->letterbox < QB_LETTERBOX_MODE_COUNT &&
              cJSON_AddStringToObject(pre, "letterbox", qb_letterbox_mode_names[t->letterbox]) &&
              (tensors = cJSON_AddObjectToObject(root, "tensors"));
    for (int k = 0; ok && k < t->n; k++)
        ok = cJSON_AddNumberToObject(tensors, t->names[k], (double)t->amax[k]) != NULL;
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

enum qb_status qb_calib_table_save(const struct qb_calib_table *t, const char *path, struct qb_error *err)
{
    cJSON *root = table_json(t);
    char *text = root ? cJSON_Print(root) : NULL;
    enum qb_status st;

    if (!text) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory writing %s", path);
    } else {
        size_t n = strlen(text);
        text[n] = '\n'; /* cJSON's buffer ends with the NUL we overwrite: write n + 1 bytes */
        st = qb_file_write_atomic(path, text, n + 1, err);
    }
    cJSON_free(text);
    cJSON_Delete(root);
    return st;
}

/* Load ------------------------------------------------------------------------- */

static int key_index(const char *const *keys, const char *k)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return i;
    return -1;
}

/* Unknown and repeated keys are errors. */
static enum qb_status check_keys(const char *file, const char *path, const cJSON *obj, const char *const *keys,
                                 struct qb_error *err)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (keys && key_index(keys, c->string) < 0)
            return qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: unknown key", file, path, c->string);
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return qb_errorf(err, QB_ERR_PARSE, "%s: %s[\"%s\"]: repeated key", file, path, c->string);
    }
    return QB_OK;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A required member of an object: NULL (with the error) when absent or of the wrong kind. */
static const cJSON *member(const char *file, const char *path, const cJSON *obj, const char *key,
                           cJSON_bool (*is)(const cJSON *), const char *want, struct qb_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!m)
        qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: missing", file, path, key);
    else if (!is(m))
        qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: expected %s", file, path, key, want);
    else
        return m;
    return NULL;
}

static bool whole_in(const cJSON *n, double lo, double hi)
{
    double v = n->valuedouble;
    return cJSON_IsNumber(n) && v >= lo && v <= hi && v == floor(v);
}

static enum qb_status parse_model(const char *file, const cJSON *root, struct qb_calib_table *t, struct qb_error *err)
{
    const cJSON *o = member(file, "$", root, "model", cJSON_IsObject, "an object", err), *sha, *p;
    enum qb_status st;
    if (!o)
        return QB_ERR_PARSE;
    if ((st = check_keys(file, "$.model", o, model_keys, err)) != QB_OK)
        return st;
    if (!(sha = member(file, "$.model", o, "sha256", cJSON_IsString, "a string", err)))
        return QB_ERR_PARSE;
    if (!is_hex64(sha->valuestring))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.model.sha256: \"%.80s\" is not 64 lowercase hex digits", file,
                         sha->valuestring);
    memcpy(t->model_sha256, sha->valuestring, 65);
    if ((p = cJSON_GetObjectItemCaseSensitive(o, "path"))) {
        if (!cJSON_IsString(p))
            return qb_errorf(err, QB_ERR_PARSE, "%s: $.model.path: expected a string", file);
        if (!(t->model = strdup(p->valuestring)))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    return QB_OK;
}

static enum qb_status parse_method(const char *file, const cJSON *root, struct qb_calib_table *t,
                                   struct qb_error *err)
{
    const cJSON *m = member(file, "$", root, "method", cJSON_IsString, "a string", err);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "percentile");
    struct qb_error sub = {0};
    if (!m)
        return QB_ERR_PARSE;
    if (qb_calib_method_parse(m->valuestring, &t->params.method, &sub) != QB_OK)
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.method: %s", file, sub.msg);
    if (p && t->params.method != QB_CALIB_PERCENTILE)
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.percentile: only for method \"percentile\"", file);
    if (p && !(cJSON_IsNumber(p) && p->valuedouble > 0 && p->valuedouble <= 100))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.percentile: expected a number in (0, 100]", file);
    t->params.percentile = p ? p->valuedouble : t->params.method == QB_CALIB_PERCENTILE ? QB_CALIB_PERCENTILE_DEFAULT : 0;
    return QB_OK;
}

static enum qb_status parse_images(const char *file, const cJSON *root, struct qb_calib_table *t,
                                   struct qb_error *err)
{
    const cJSON *o = member(file, "$", root, "images", cJSON_IsObject, "an object", err), *c, *s, *h;
    enum qb_status st;
    if (!o)
        return QB_ERR_PARSE;
    if ((st = check_keys(file, "$.images", o, images_keys, err)) != QB_OK)
        return st;
    if (!(c = member(file, "$.images", o, "count", cJSON_IsNumber, "a number", err)) ||
        !(h = member(file, "$.images", o, "list_sha256", cJSON_IsString, "a string", err)))
        return QB_ERR_PARSE;
    if (!whole_in(c, 0, 1e15))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.images.count: expected a whole number >= 0", file);
    if (!is_hex64(h->valuestring))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.images.list_sha256: expected 64 lowercase hex digits", file);
    if ((s = cJSON_GetObjectItemCaseSensitive(o, "skipped")) && !whole_in(s, 0, 1e15))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.images.skipped: expected a whole number >= 0", file);
    t->images = (long)c->valuedouble;
    t->skipped = s ? (long)s->valuedouble : 0;
    memcpy(t->images_sha256, h->valuestring, 65);
    return QB_OK;
}

static enum qb_status parse_preprocess(const char *file, const cJSON *root, struct qb_calib_table *t,
                                       struct qb_error *err)
{
    const cJSON *o = member(file, "$", root, "preprocess", cJSON_IsObject, "an object", err), *in, *lb;
    int dims[4], k = 0;
    enum qb_status st;
    if (!o)
        return QB_ERR_PARSE;
    if ((st = check_keys(file, "$.preprocess", o, preprocess_keys, err)) != QB_OK)
        return st;
    if (!(in = member(file, "$.preprocess", o, "input", cJSON_IsArray, "an array", err)) ||
        !(lb = member(file, "$.preprocess", o, "letterbox", cJSON_IsString, "a string", err)))
        return QB_ERR_PARSE;
    for (const cJSON *d = in->child; d; d = d->next, k++)
        if (k >= 4 || !whole_in(d, 1, 65535))
            break;
        else
            dims[k] = (int)d->valuedouble;
    if (k != 4 || cJSON_GetArraySize(in) != 4 || dims[1] != 3)
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.preprocess.input: expected [B, 3, H, W] with sizes 1..65535", file);
    t->batch = dims[0];
    t->height = dims[2];
    t->width = dims[3];
    if ((k = qb_letterbox_mode_parse(lb->valuestring)) < 0)
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.preprocess.letterbox: \"%.80s\" (expected \"predict\" or \"val\")",
                         file, lb->valuestring);
    t->letterbox = (enum qb_letterbox_mode)k;
    return QB_OK;
}

static enum qb_status parse_tensors(const char *file, const cJSON *root, struct qb_calib_table *t,
                                    struct qb_error *err)
{
    const cJSON *o = member(file, "$", root, "tensors", cJSON_IsObject, "an object", err);
    enum qb_status st;
    int n;
    if (!o)
        return QB_ERR_PARSE;
    if ((st = check_keys(file, "$.tensors", o, NULL, err)) != QB_OK)
        return st;
    n = cJSON_GetArraySize(o);
    if (!(t->names = calloc((size_t)n + 1, sizeof(*t->names))) || !(t->amax = calloc((size_t)n + 1, sizeof(float))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (const cJSON *c = o->child; c; c = c->next) {
        double v = c->valuedouble;
        if (!cJSON_IsNumber(c) || !(v >= 0 && v <= FLT_MAX))
            return qb_errorf(err, QB_ERR_PARSE, "%s: $.tensors[\"%.200s\"]: expected a finite number >= 0 (amax)", file,
                             c->string);
        if (!(t->names[t->n] = strdup(c->string)))
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        t->amax[t->n++] = (float)v;
    }
    return QB_OK;
}

static enum qb_status parse_table(const char *file, const cJSON *root, struct qb_calib_table *t, struct qb_error *err)
{
    const cJSON *f, *v;
    enum qb_status st;

    if (!cJSON_IsObject(root))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $: expected an object (a qbench calibration table)", file);
    if (!(f = member(file, "$", root, "format", cJSON_IsString, "a string", err)))
        return QB_ERR_PARSE;
    if (strcmp(f->valuestring, TABLE_FORMAT) != 0)
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.format: \"%.80s\" (expected \"" TABLE_FORMAT "\": not a qbench "
                         "calibration table)", file, f->valuestring);
    if (!(v = member(file, "$", root, "version", cJSON_IsNumber, "a number", err)))
        return QB_ERR_PARSE;
    if (!whole_in(v, 1, 1e9))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.version: expected a whole number >= 1", file);
    if (v->valuedouble > QB_CALIB_TABLE_VERSION)
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: $.version: %d, from a newer qbench (this one reads version %d)",
                         file, (int)v->valuedouble, QB_CALIB_TABLE_VERSION);
    if ((st = check_keys(file, "$", root, top_keys, err)) != QB_OK || (st = parse_model(file, root, t, err)) != QB_OK ||
        (st = parse_method(file, root, t, err)) != QB_OK || (st = parse_images(file, root, t, err)) != QB_OK ||
        (st = parse_preprocess(file, root, t, err)) != QB_OK)
        return st;
    return parse_tensors(file, root, t, err);
}

/* Line and column of offset in text, for parse errors. */
static void line_col(const char *text, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && text[i]; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

enum qb_status qb_calib_table_load(const char *path, const char *model_sha256, struct qb_calib_table *t,
                                   struct qb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    enum qb_status st;

    memset(t, 0, sizeof(*t));
    if ((st = qb_file_read(path, TABLE_MAX_BYTES, &text, &len, err)) != QB_OK)
        goto out;
    if (!(root = cJSON_ParseWithLength(text, len))) {
        const char *at = cJSON_GetErrorPtr();
        int line = 0, col = 0;
        if (at && at >= text && at <= text + len)
            line_col(text, (size_t)(at - text), &line, &col);
        st = qb_errorf(err, QB_ERR_PARSE, "%s:%d:%d: not valid JSON", path, line, col);
        goto out;
    }
    if ((st = parse_table(path, root, t, err)) != QB_OK)
        goto out;
    if (model_sha256 && strcmp(model_sha256, t->model_sha256) != 0)
        st = qb_errorf(err, QB_ERR_INVALID, "%s: made for another model (sha256 %.12s..., %s), not this one (%.12s...); "
                       "calibrate this model with qbench calib", path, t->model_sha256,
                       t->model ? t->model : "path not recorded", model_sha256);
out:
    if (st != QB_OK)
        qb_calib_table_free(t);
    cJSON_Delete(root);
    free(text);
    return st;
}

/* For the executor ------------------------------------------------------------- */

static bool float_input(const struct qb_graph *g, const struct qb_node *n, int k)
{
    const struct qb_value *v = qb_node_in(g, n, k);
    return v && v->dtype == QB_DTYPE_F32 && !(v->flags & QB_VALUE_CONST);
}

enum qb_status qb_calib_table_amax(const struct qb_calib_table *t, const struct qb_graph *g,
                                   const enum qb_prec *prec, float *amax, struct qb_error *err)
{
    for (int v = 0; v < g->n_values; v++)
        amax[v] = NAN;
    for (int k = 0; k < t->n; k++) {
        int v = qb_graph_find_value(g, t->names[k]);
        if (v < 0 || g->values[v].dtype != QB_DTYPE_F32 || (g->values[v].flags & QB_VALUE_CONST))
            return qb_errorf(err, QB_ERR_INVALID, "calibration table: tensor '%s' is no float activation of %s; "
                             "the table was made for another model", t->names[k], g->path);
        amax[v] = t->amax[k];
    }
    for (int i = 0; prec && i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (prec[g->order[i]] != QB_PREC_INT8)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (float_input(g, n, k) && isnan(amax[n->in[k]]))
                return qb_node_errorf(g, n, err, QB_ERR_INVALID, "runs INT8 but the calibration table has no amax for "
                                      "its input '%s'; recalibrate (qbench calib) or keep the node in FP16",
                                      g->values[n->in[k]].name);
    }
    return QB_OK;
}

/* TensorRT calibration cache --------------------------------------------------- */

enum qb_status qb_calib_table_write_trt(const struct qb_calib_table *t, const char *path, const char *trt_version,
                                        struct qb_error *err)
{
    size_t cap = 64, len;
    char *buf;
    enum qb_status st;

    for (int k = 0; k < t->n; k++)
        cap += strlen(t->names[k]) + 16;
    if (!(buf = malloc(cap)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    len = (size_t)snprintf(buf, cap, "TRT-%s-EntropyCalibration2\n", trt_version ? trt_version : "8601");
    for (int k = 0; k < t->n && len < cap; k++) {
        /* the scale the executor uses: amax / 127 in float32; 1.0 for a zero range */
        float scale = t->amax[k] / 127.0f;
        uint32_t bits;
        if (!(scale >= FLT_MIN && scale <= FLT_MAX))
            scale = 1.0f;
        memcpy(&bits, &scale, sizeof(bits));
        len += (size_t)snprintf(buf + len, cap - len, "%s: %08x\n", t->names[k], (unsigned)bits);
    }
    st = len < cap ? qb_file_write_atomic(path, buf, len, err) : qb_errorf(err, QB_ERR_INTERNAL, "%s: buffer", path);
    free(buf);
    return st;
}

/* Hashes ----------------------------------------------------------------------- */

enum qb_status qb_calib_file_sha256(const char *path, char hex[65], struct qb_error *err)
{
    if (!SHA256File(path, hex))
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    return QB_OK;
}

enum qb_status qb_calib_file_digest(const char *path, uint8_t out[32], struct qb_error *err)
{
    FILE *f = fopen(path, "rb");
    uint8_t buf[1 << 16];
    SHA2_CTX ctx;
    size_t n;
    int bad;

    if (!f)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
    SHA256Init(&ctx);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        SHA256Update(&ctx, buf, n);
    bad = ferror(f);
    fclose(f);
    SHA256Final(out, &ctx);
    return bad ? qb_errorf(err, QB_ERR_IO, "%s: read failed", path) : QB_OK;
}

void qb_calib_frame_digest(const uint8_t file[32], long frame, uint8_t out[32])
{
    uint8_t le[8];
    SHA2_CTX ctx;
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)frame >> (8 * i));
    SHA256Init(&ctx);
    SHA256Update(&ctx, file, 32);
    SHA256Update(&ctx, le, 8);
    SHA256Final(out, &ctx);
}

void qb_calib_list_hash(const uint8_t (*content)[32], size_t n, char hex[65])
{
    SHA2_CTX ctx;
    SHA256Init(&ctx);
    for (size_t i = 0; i < n; i++)
        SHA256Update(&ctx, content[i], 32);
    SHA256End(&ctx, hex);
}
