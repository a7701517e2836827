/* Session presets (sessions/preset.h): one table of fields drives init, free, copy,
 * the loader and the writer, so the key order, the checks and the defaults cannot
 * drift apart. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/calib.h"
#include "core/fileio.h"
#include "preset.h"

#define PRESET_MAX_BYTES ((size_t)64 << 20)
#define PRESET_MAX_BUILDS 100000
#define LONG_MAX_EXACT 9007199254740992.0 /* 2^53: larger integers do not survive a double */
#define JPATH_LEN 160 /* "$.builds[2147483647].plan.fp16_op_types" and more */

enum field_kind {
    F_FORMAT,  /* "qbench-preset" */
    F_VERSION, /* int >= 1 */
    F_STR,     /* char *, NULL = null */
    F_PATH,    /* char *, made absolute on save */
    F_SHA,     /* char[65], "" = null */
    F_LONG,    /* long in [0, 2^53] */
    F_INT,     /* int in [0, INT_MAX] */
    F_NUM,     /* double, NAN = null */
    F_PERCENT, /* double in (0, 100], NAN = null */
    F_METHOD,  /* char *, a calibration method or NULL */
    F_OBJECT,  /* a nested object whose fields (sub) lie in the same struct */
    F_PLAN,    /* struct qb_plan_spec */
    F_BUILDS,  /* the builds of a struct qb_preset */
    F_KIND_COUNT
};

struct field {
    const char *key;
    enum field_kind kind;
    size_t off;               /* of the value in the struct the table describes */
    const struct field *sub;  /* F_OBJECT: its fields */
};

/* what the loader says it expected (F_METHOD builds its own list) */
static const char *const expected[F_KIND_COUNT] = {
    [F_FORMAT] = "\"" QB_PRESET_FORMAT "\"",
    [F_VERSION] = "an integer >= 1",
    [F_STR] = "a string or null",
    [F_PATH] = "a path (a non-empty string) or null",
    [F_SHA] = "64 lowercase hex digits or null",
    [F_LONG] = "a non-negative integer up to 2^53",
    [F_INT] = "a non-negative integer up to 2147483647",
    [F_NUM] = "a number or null",
    [F_PERCENT] = "a number in (0, 100] or null",
    [F_METHOD] = "a calibration method or null",
    [F_OBJECT] = "an object or null",
    [F_PLAN] = "an object (a plan) or null",
    [F_BUILDS] = "an array of objects or null",
};

#define P(m) offsetof(struct qb_preset, m)
#define B(m) offsetof(struct qb_preset_build, m)

/* NOTE: the order of every table is the order of the keys in the file. */
static const struct field model_fields[] = {
    {.key = "path", .kind = F_PATH, .off = P(model)},
    {.key = "sha256", .kind = F_SHA, .off = P(model_sha256)},
    {.key = NULL},
};

static const struct field data_fields[] = {
    {.key = "data", .kind = F_PATH, .off = P(source.data)},
    {.key = "split", .kind = F_STR, .off = P(source.split)},
    {.key = "images", .kind = F_PATH, .off = P(source.images)},
    {.key = "pack", .kind = F_PATH, .off = P(source.pack)},
    {.key = "images_max", .kind = F_LONG, .off = P(source.images_max)},
    {.key = NULL},
};

static const struct field calib_fields[] = {
    {.key = "table", .kind = F_PATH, .off = P(calib.table)},
    {.key = "data", .kind = F_PATH, .off = P(calib.data)},
    {.key = "split", .kind = F_STR, .off = P(calib.split)},
    {.key = "images", .kind = F_PATH, .off = P(calib.images)},
    {.key = "method", .kind = F_METHOD, .off = P(calib.method)},
    {.key = "percentile", .kind = F_PERCENT, .off = P(calib.percentile)},
    {.key = "images_max", .kind = F_LONG, .off = P(calib.images_max)},
    {.key = NULL},
};

static const struct field top_fields[] = {
    {.key = "format", .kind = F_FORMAT},
    {.key = "version", .kind = F_VERSION, .off = P(version)},
    {.key = "model", .kind = F_OBJECT, .sub = model_fields},
    {.key = "data", .kind = F_OBJECT, .sub = data_fields},
    {.key = "calibration", .kind = F_OBJECT, .sub = calib_fields},
    {.key = "eval_images", .kind = F_LONG, .off = P(eval_images)},
    {.key = "plan", .kind = F_PLAN, .off = P(plan)},
    {.key = "builds", .kind = F_BUILDS},
    {.key = NULL},
};

static const struct field build_fields[] = {
    {.key = "what", .kind = F_STR, .off = B(what)},
    {.key = "time", .kind = F_STR, .off = B(time)},
    {.key = "executor", .kind = F_STR, .off = B(executor)},
    {.key = "device", .kind = F_STR, .off = B(device)},
    {.key = "plan_hash", .kind = F_SHA, .off = B(plan_hash)},
    {.key = "n_int8", .kind = F_INT, .off = B(n_int8)},
    {.key = "n_fp16", .kind = F_INT, .off = B(n_fp16)},
    {.key = "cost", .kind = F_NUM, .off = B(cost)},
    {.key = "images", .kind = F_LONG, .off = B(images)},
    {.key = "map50", .kind = F_NUM, .off = B(map50)},
    {.key = "map50_95", .kind = F_NUM, .off = B(map50_95)},
    {.key = "precision", .kind = F_NUM, .off = B(precision)},
    {.key = "recall", .kind = F_NUM, .off = B(recall)},
    {.key = "fid50_95", .kind = F_NUM, .off = B(fid50_95)},
    {.key = "sqnr_db", .kind = F_NUM, .off = B(sqnr_db)},
    {.key = "latency_ms", .kind = F_NUM, .off = B(latency_ms)},
    {.key = "plan", .kind = F_PLAN, .off = B(plan)},
    {.key = NULL},
};

#undef P
#undef B

#define AT(base, f, type) ((type *)((char *)(base) + (f)->off))
#define AT_C(base, f, type) ((const type *)((const char *)(base) + (f)->off))

/* Plain values --------------------------------------------------------------------- */

/* jpath + ".key", or jpath + "[index]" when key is NULL (cut short past JPATH_LEN) */
static void subpath(char *sub, const char *jpath, const char *key, int index)
{
    int n = key ? snprintf(sub, JPATH_LEN, "%s.%s", jpath, key) : snprintf(sub, JPATH_LEN, "%s[%d]", jpath, index);
    if (n < 0 || n >= JPATH_LEN)
        memcpy(sub + JPATH_LEN - 4, "...", 4);
}

static bool is_sha(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static bool is_method(const char *s)
{
    for (int m = 0; m < QB_CALIB_METHOD_COUNT; m++)
        if (strcmp(s, qb_calib_method_name((enum qb_calib_method)m)) == 0)
            return true;
    return false;
}

/* "one of max, percentile, entropy, mse or null" */
static const char *methods_expected(char *buf, size_t len)
{
    size_t pos = (size_t)snprintf(buf, len, "one of");
    for (int m = 0; m < QB_CALIB_METHOD_COUNT && pos < len; m++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s %s", m ? "," : "", qb_calib_method_name((enum qb_calib_method)m));
    if (pos < len)
        snprintf(buf + pos, len - pos, " or null");
    return buf;
}

static const char *expect(enum field_kind k, char *buf, size_t len)
{
    return k == F_METHOD ? methods_expected(buf, len) : expected[k];
}

static enum qb_status dup_str(char **dst, const char *src, struct qb_error *err)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    return QB_OK;
}

/* Init, free, copy ------------------------------------------------------------------ */

static void build_free(struct qb_preset_build *b);

static void init_fields(const struct field *fs, void *base)
{
    for (const struct field *f = fs; f->key; f++) {
        if (f->kind == F_NUM || f->kind == F_PERCENT)
            *AT(base, f, double) = NAN;
        else if (f->kind == F_OBJECT)
            init_fields(f->sub, base);
        else if (f->kind == F_PLAN)
            qb_plan_spec_init(AT(base, f, struct qb_plan_spec), QB_PREC_FP32);
    }
}

static void free_fields(const struct field *fs, void *base)
{
    for (const struct field *f = fs; f->key; f++) {
        if (f->kind == F_STR || f->kind == F_PATH || f->kind == F_METHOD) {
            free(*AT(base, f, char *));
            *AT(base, f, char *) = NULL;
        } else if (f->kind == F_OBJECT) {
            free_fields(f->sub, base);
        } else if (f->kind == F_PLAN) {
            qb_plan_spec_free(AT(base, f, struct qb_plan_spec));
        } else if (f->kind == F_BUILDS) {
            struct qb_preset *p = base;
            for (int i = 0; i < p->n_builds; i++)
                build_free(&p->builds[i]);
            free(p->builds);
            p->builds = NULL;
            p->n_builds = p->cap_builds = 0;
        }
    }
}

static void build_init(struct qb_preset_build *b)
{
    memset(b, 0, sizeof(*b));
    init_fields(build_fields, b);
}

static void build_free(struct qb_preset_build *b)
{
    free_fields(build_fields, b);
}

void qb_preset_init(struct qb_preset *p)
{
    memset(p, 0, sizeof(*p));
    p->version = QB_PRESET_VERSION;
    init_fields(top_fields, p);
}

void qb_preset_free(struct qb_preset *p)
{
    free_fields(top_fields, p);
    qb_preset_init(p);
}

enum qb_status qb_preset_set_str(char **dst, const char *src, struct qb_error *err)
{
    char *d;
    enum qb_status st = dup_str(&d, src, err);
    if (st == QB_OK) {
        free(*dst);
        *dst = d;
    }
    return st;
}

enum qb_status qb_preset_copy_plan(struct qb_plan_spec *dst, const struct qb_plan_spec *src, struct qb_error *err)
{
    enum qb_status st;
    qb_plan_spec_init(dst, src->base);
    dst->base_given = src->base_given;
    dst->op_set_given = src->op_set_given;
    if ((st = dup_str(&dst->op_set, src->op_set, err)) != QB_OK)
        goto out;
    if (src->n_rules > 0 && !(dst->rules = calloc((size_t)src->n_rules, sizeof(*dst->rules)))) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    dst->cap_rules = src->n_rules;
    for (int i = 0; i < src->n_rules; i++) {
        dst->rules[i].kind = src->rules[i].kind;
        if ((st = dup_str(&dst->rules[i].pattern, src->rules[i].pattern, err)) != QB_OK)
            goto out;
        dst->n_rules++;
    }
out:
    if (st != QB_OK)
        qb_plan_spec_free(dst);
    return st;
}

/* Deep copy of the fields fs of src into dst (dst owns nothing yet; on failure it
 * owns what was copied, for free_fields). */
static enum qb_status copy_fields(const struct field *fs, void *dst, const void *src, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    for (const struct field *f = fs; f->key && st == QB_OK; f++) {
        switch (f->kind) {
        case F_STR:
        case F_PATH:
        case F_METHOD:
            st = dup_str(AT(dst, f, char *), *AT_C(src, f, char *const), err);
            break;
        case F_SHA:
            snprintf(AT(dst, f, char), 65, "%.64s", AT_C(src, f, char));
            break;
        case F_LONG:
            *AT(dst, f, long) = *AT_C(src, f, long);
            break;
        case F_INT:
        case F_VERSION:
            *AT(dst, f, int) = *AT_C(src, f, int);
            break;
        case F_NUM:
        case F_PERCENT:
            *AT(dst, f, double) = *AT_C(src, f, double);
            break;
        case F_OBJECT:
            st = copy_fields(f->sub, dst, src, err);
            break;
        case F_PLAN:
            st = qb_preset_copy_plan(AT(dst, f, struct qb_plan_spec), AT_C(src, f, struct qb_plan_spec), err);
            break;
        case F_FORMAT:
        case F_BUILDS:
        case F_KIND_COUNT:
            break;
        }
    }
    return st;
}

static enum qb_status grow_builds(struct qb_preset *p, struct qb_error *err)
{
    struct qb_preset_build *nb;
    int cap;
    if (p->n_builds < p->cap_builds)
        return QB_OK;
    if (p->n_builds >= PRESET_MAX_BUILDS)
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "more than %d builds in one preset", PRESET_MAX_BUILDS);
    cap = p->cap_builds ? 2 * p->cap_builds : 8;
    if (!(nb = realloc(p->builds, (size_t)cap * sizeof(*nb))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    p->builds = nb;
    p->cap_builds = cap;
    return QB_OK;
}

enum qb_status qb_preset_add_build(struct qb_preset *p, const struct qb_preset_build *b, struct qb_error *err)
{
    struct qb_preset_build c;
    enum qb_status st;

    build_init(&c); /* copied before the array grows: b may be one of p's builds */
    if ((st = copy_fields(build_fields, &c, b, err)) == QB_OK && !c.time) {
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            snprintf(now, sizeof(now), "unknown");
        st = dup_str(&c.time, now, err);
    }
    if (st == QB_OK)
        st = grow_builds(p, err);
    if (st != QB_OK) {
        build_free(&c);
        return st;
    }
    p->builds[p->n_builds++] = c;
    return QB_OK;
}

enum qb_status qb_preset_check_model(const struct qb_preset *p, const char *model_sha256, struct qb_error *err)
{
    if (!model_sha256 || !p->model_sha256[0] || strcmp(p->model_sha256, model_sha256) == 0)
        return QB_OK;
    return qb_errorf(err, QB_ERR_INVALID, "the preset was made for another model (%s, sha256 %.12s...), not this one "
                     "(sha256 %.12s...); open it with that model, or start a new session on this one",
                     p->model ? p->model : "path not recorded", p->model_sha256, model_sha256);
}

/* Loading ----------------------------------------------------------------------------- */

/* what the loader and the writer pass down */
struct io {
    const char *file;   /* for messages */
    struct qb_error *err;
};

static enum qb_status bad(const struct io *r, const char *jpath, enum field_kind k)
{
    char buf[128];
    return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s: expected %s", r->file, jpath, expect(k, buf, sizeof(buf)));
}

/* Unknown and repeated keys are errors; with at most as many distinct keys as the
 * table has, a repeat shows up early, so this stays cheap on hostile files. */
static enum qb_status check_keys(const struct io *r, const cJSON *obj, const struct field *fs, const char *jpath)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        const struct field *f = fs;
        while (f->key && strcmp(f->key, c->string) != 0)
            f++;
        if (!f->key) {
            char known[512];
            size_t pos = 0;
            for (int i = 0; fs[i].key && pos < sizeof(known); i++)
                pos += (size_t)snprintf(known + pos, sizeof(known) - pos, "%s%s", i ? ", " : "", fs[i].key);
            return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s.%s: unknown key (known: %s)", r->file, jpath, c->string,
                             known);
        }
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s.%s: repeated key", r->file, jpath, c->string);
    }
    return QB_OK;
}

static enum qb_status read_fields(const struct io *r, const cJSON *obj, const struct field *fs, void *base,
                                  const char *jpath);

static enum qb_status read_builds(const struct io *r, const cJSON *v, struct qb_preset *p, const char *jpath)
{
    enum qb_status st = QB_OK;
    int i = 0;
    if (cJSON_IsNull(v))
        return QB_OK;
    if (!cJSON_IsArray(v))
        return bad(r, jpath, F_BUILDS);
    for (const cJSON *c = v->child; c && st == QB_OK; c = c->next, i++) {
        char sub[JPATH_LEN];
        subpath(sub, jpath, NULL, i);
        if (!cJSON_IsObject(c))
            return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s: expected an object", r->file, sub);
        if (p->n_builds >= PRESET_MAX_BUILDS)
            return qb_errorf(r->err, QB_ERR_UNSUPPORTED, "%s: %s: more than %d builds", r->file, jpath,
                             PRESET_MAX_BUILDS);
        if ((st = grow_builds(p, r->err)) != QB_OK)
            return st;
        build_init(&p->builds[p->n_builds++]);
        st = read_fields(r, c, build_fields, &p->builds[p->n_builds - 1], sub);
    }
    return st;
}

static enum qb_status read_value(const struct io *r, const cJSON *v, const struct field *f, void *base,
                                 const char *jpath)
{
    bool null = !v || cJSON_IsNull(v);
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;

    switch (f->kind) {
    case F_FORMAT:
        if (!v)
            return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s: missing (expected \"%s\": not a qbench preset)", r->file,
                             jpath, QB_PRESET_FORMAT);
        if (!cJSON_IsString(v) || strcmp(v->valuestring, QB_PRESET_FORMAT) != 0)
            return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s: %s%s%s (expected \"%s\": not a qbench preset)", r->file,
                             jpath, cJSON_IsString(v) ? "\"" : "", cJSON_IsString(v) ? v->valuestring : "wrong type",
                             cJSON_IsString(v) ? "\"" : "", QB_PRESET_FORMAT);
        return QB_OK;
    case F_VERSION:
        if (!v)
            return qb_errorf(r->err, QB_ERR_PARSE, "%s: %s: missing (expected the integer %d)", r->file, jpath,
                             QB_PRESET_VERSION);
        if (!(d >= 1 && d <= INT_MAX && d == floor(d)))
            return bad(r, jpath, F_VERSION);
        if (d > QB_PRESET_VERSION)
            return qb_errorf(r->err, QB_ERR_UNSUPPORTED, "%s: %s: %d, from a newer qbench (this one reads version %d)",
                             r->file, jpath, (int)d, QB_PRESET_VERSION);
        *AT(base, f, int) = (int)d;
        return QB_OK;
    case F_STR:
    case F_PATH:
    case F_METHOD:
        if (null)
            return QB_OK;
        if (!cJSON_IsString(v) || (f->kind == F_PATH && !v->valuestring[0]) ||
            (f->kind == F_METHOD && !is_method(v->valuestring)))
            return bad(r, jpath, f->kind);
        return qb_preset_set_str(AT(base, f, char *), v->valuestring, r->err);
    case F_SHA:
        if (null)
            return QB_OK;
        if (!cJSON_IsString(v) || !is_sha(v->valuestring))
            return bad(r, jpath, F_SHA);
        memcpy(AT(base, f, char), v->valuestring, 65);
        return QB_OK;
    case F_LONG:
    case F_INT:
        if (!v)
            return QB_OK;
        if (!(d >= 0 && d <= (f->kind == F_LONG ? LONG_MAX_EXACT : INT_MAX) && d == floor(d)))
            return bad(r, jpath, f->kind);
        if (f->kind == F_LONG)
            *AT(base, f, long) = (long)d;
        else
            *AT(base, f, int) = (int)d;
        return QB_OK;
    case F_NUM:
    case F_PERCENT:
        if (null)
            return QB_OK;
        if (!isfinite(d) || (f->kind == F_PERCENT && !(d > 0 && d <= 100)))
            return bad(r, jpath, f->kind);
        *AT(base, f, double) = d;
        return QB_OK;
    case F_OBJECT:
        return null ? QB_OK : read_fields(r, v, f->sub, base, jpath);
    case F_PLAN:
        if (null)
            return QB_OK;
        if (!cJSON_IsObject(v))
            return bad(r, jpath, F_PLAN);
        return qb_plan_spec_from_json(v, r->file, jpath, NULL, AT(base, f, struct qb_plan_spec), r->err);
    case F_BUILDS:
        return v ? read_builds(r, v, base, jpath) : QB_OK;
    case F_KIND_COUNT:
        break;
    }
    return qb_errorf(r->err, QB_ERR_INTERNAL, "%s: %s: bad field kind", r->file, jpath);
}

static enum qb_status read_fields(const struct io *r, const cJSON *obj, const struct field *fs, void *base,
                                  const char *jpath)
{
    enum qb_status st;
    if (!cJSON_IsObject(obj))
        return bad(r, jpath, F_OBJECT);
    if ((st = check_keys(r, obj, fs, jpath)) != QB_OK)
        return st;
    for (const struct field *f = fs; f->key && st == QB_OK; f++) {
        char sub[JPATH_LEN];
        subpath(sub, jpath, f->key, 0);
        st = read_value(r, cJSON_GetObjectItemCaseSensitive(obj, f->key), f, base, sub);
    }
    return st;
}

/* True when text ends inside a string or with brackets left open: most likely a
 * file cut short (cJSON reports where it stopped, which is not always the end). */
static bool ends_open(const char *text)
{
    long depth = 0;
    bool in_str = false;
    for (const char *c = text; *c; c++) {
        if (in_str) {
            if (*c == '\\' && c[1])
                c++;
            else if (*c == '"')
                in_str = false;
        } else if (*c == '"') {
            in_str = true;
        } else if (*c == '{' || *c == '[') {
            depth++;
        } else if (*c == '}' || *c == ']') {
            depth--;
        }
    }
    return in_str || depth > 0;
}

enum qb_status qb_preset_from_text(const char *text, size_t len, const char *file, struct qb_preset *p,
                                   struct qb_error *err)
{
    struct io r = {.file = file, .err = err};
    const char *end = NULL;
    cJSON *root = NULL;
    enum qb_status st = QB_OK;

    qb_preset_init(p);
    if (strlen(text) != len) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: contains NUL bytes: not a qbench preset", file);
        goto out;
    }
    if (!text[strspn(text, " \t\r\n")]) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: empty file: not a qbench preset", file);
        goto out;
    }
    if (!(root = cJSON_ParseWithOpts(text, &end, 1))) {
        int line = 1, col = 1;
        for (const char *c = text; end && c < end && *c; c++, col++)
            if (*c == '\n')
                line++, col = 0;
        st = qb_errorf(err, QB_ERR_PARSE, "%s:%d:%d: not valid JSON%s", file, line, col,
                       ends_open(text) ? " (it ends inside a string, object or array: a truncated file?)" : "");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: $: expected an object", file);
        goto out;
    }
    /* format and version first: a newer file's new keys should not read as typos */
    if ((st = read_value(&r, cJSON_GetObjectItemCaseSensitive(root, "format"), &top_fields[0], p, "$.format")) ==
            QB_OK &&
        (st = read_value(&r, cJSON_GetObjectItemCaseSensitive(root, "version"), &top_fields[1], p, "$.version")) ==
            QB_OK)
        st = read_fields(&r, root, top_fields, p, "$");
out:
    cJSON_Delete(root);
    if (st != QB_OK)
        qb_preset_free(p);
    return st;
}

enum qb_status qb_preset_load(const char *path, struct qb_preset *p, struct qb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    enum qb_status st;

    qb_preset_init(p);
    if ((st = qb_file_read(path, PRESET_MAX_BYTES, &text, &len, err)) == QB_OK)
        st = qb_preset_from_text(text, len, path, p, err);
    free(text);
    return st;
}

/* Saving ------------------------------------------------------------------------------ */

static enum qb_status unsaveable(const struct io *w, const char *jpath, enum field_kind k)
{
    char buf[128];
    return qb_errorf(w->err, QB_ERR_INVALID, "%s: %s: cannot save this value: expected %s", w->file, jpath,
                     expect(k, buf, sizeof(buf)));
}

/* path made absolute: kept when it is, else realpath when it exists, else joined
 * onto the working folder */
static enum qb_status absolute(const struct io *w, const char *jpath, const char *path, char **out)
{
    char *cwd = NULL;
    size_t cap = 256;
    enum qb_status st = QB_OK;

    if (path[0] == '/')
        return dup_str(out, path, w->err);
    if ((*out = realpath(path, NULL)))
        return QB_OK;
    if (errno == ENOMEM)
        return qb_errorf(w->err, QB_ERR_NOMEM, "out of memory");
    for (;;) {
        char *c = realloc(cwd, cap);
        if (!c) {
            st = qb_errorf(w->err, QB_ERR_NOMEM, "out of memory");
            goto out;
        }
        cwd = c;
        if (getcwd(cwd, cap))
            break;
        if (errno != ERANGE || cap > ((size_t)1 << 20)) {
            st = qb_errorf(w->err, QB_ERR_IO, "%s: %s: cannot make '%s' absolute: %s", w->file, jpath, path,
                           strerror(errno));
            goto out;
        }
        cap *= 2;
    }
    while (path[0] == '.' && path[1] == '/')
        for (path += 2; *path == '/'; path++)
            ;
    size_t n = strlen(cwd) + strlen(path) + 2;
    if (!(*out = malloc(n))) {
        st = qb_errorf(w->err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(*out, n, "%s%s%s", cwd, cwd[strlen(cwd) - 1] == '/' ? "" : "/", path);
out:
    free(cwd);
    return st;
}

/* v as the shortest of %.15g, %.16g and %.17g that reads back exactly, with a '.'
 * whatever the locale: what was saved is what loads (cJSON's own printing settles for
 * 15 digits within an ulp, and prints 2^53 as 9.00719925474099e+15). */
static cJSON *exact_number(double v)
{
    char buf[64];
    const char *dp = localeconv()->decimal_point;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (dp && dp[0] && strcmp(dp, ".") != 0) {
        char *c = strstr(buf, dp);
        if (c) {
            *c = '.';
            memmove(c + 1, c + strlen(dp), strlen(c + strlen(dp)) + 1);
        }
    }
    return cJSON_CreateRaw(buf);
}

static enum qb_status write_fields(const struct io *w, cJSON *obj, const struct field *fs, const void *base,
                                   const char *jpath);

/* the JSON value of field f of base (*out NULL after an allocation failure) */
static enum qb_status write_value(const struct io *w, const struct field *f, const void *base, const char *jpath,
                                  cJSON **out)
{
    enum qb_status st = QB_OK;
    *out = NULL;
    switch (f->kind) {
    case F_FORMAT:
        *out = cJSON_CreateString(QB_PRESET_FORMAT);
        break;
    case F_VERSION:
        *out = exact_number(QB_PRESET_VERSION);
        break;
    case F_STR:
    case F_PATH:
    case F_METHOD: {
        const char *s = *AT_C(base, f, char *const);
        char *abs = NULL;
        if (!s || (f->kind == F_PATH && !s[0]))
            *out = cJSON_CreateNull();
        else if (f->kind == F_METHOD && !is_method(s))
            return unsaveable(w, jpath, F_METHOD);
        else if (f->kind != F_PATH)
            *out = cJSON_CreateString(s);
        else if ((st = absolute(w, jpath, s, &abs)) == QB_OK)
            *out = cJSON_CreateString(abs);
        free(abs);
        if (st != QB_OK)
            return st;
        break;
    }
    case F_SHA: {
        const char *s = AT_C(base, f, char);
        if (s[0] && !is_sha(s))
            return unsaveable(w, jpath, F_SHA);
        *out = s[0] ? cJSON_CreateString(s) : cJSON_CreateNull();
        break;
    }
    case F_LONG: {
        long v = *AT_C(base, f, long);
        if (v < 0 || (double)v > LONG_MAX_EXACT)
            return unsaveable(w, jpath, F_LONG);
        *out = exact_number((double)v);
        break;
    }
    case F_INT:
        if (*AT_C(base, f, int) < 0)
            return unsaveable(w, jpath, F_INT);
        *out = exact_number(*AT_C(base, f, int));
        break;
    case F_NUM:
    case F_PERCENT: {
        double v = *AT_C(base, f, double);
        if (f->kind == F_PERCENT && !isnan(v) && !(v > 0 && v <= 100))
            return unsaveable(w, jpath, F_PERCENT);
        *out = isfinite(v) ? exact_number(v) : cJSON_CreateNull();
        break;
    }
    case F_OBJECT:
        if ((*out = cJSON_CreateObject()))
            st = write_fields(w, *out, f->sub, base, jpath);
        break;
    case F_PLAN: {
        const struct qb_plan_spec *s = AT_C(base, f, struct qb_plan_spec);
        if ((unsigned)s->base > QB_PREC_INT8)
            return qb_errorf(w->err, QB_ERR_INVALID, "%s: %s.default: cannot save precision %d", w->file, jpath,
                             (int)s->base);
        if ((*out = cJSON_CreateObject()))
            st = qb_plan_spec_to_json(s, *out, w->err);
        break;
    }
    case F_BUILDS: {
        const struct qb_preset *p = base;
        if (!(*out = cJSON_CreateArray()))
            break;
        for (int i = 0; i < p->n_builds && st == QB_OK; i++) {
            char sub[JPATH_LEN];
            cJSON *b = cJSON_CreateObject();
            subpath(sub, jpath, NULL, i);
            if (!b || !cJSON_AddItemToArray(*out, b)) {
                cJSON_Delete(b);
                st = qb_errorf(w->err, QB_ERR_NOMEM, "out of memory");
                break;
            }
            st = write_fields(w, b, build_fields, &p->builds[i], sub);
        }
        break;
    }
    case F_KIND_COUNT:
        return qb_errorf(w->err, QB_ERR_INTERNAL, "%s: bad field kind", jpath);
    }
    if (st != QB_OK) {
        cJSON_Delete(*out);
        *out = NULL;
        return st;
    }
    return *out ? QB_OK : qb_errorf(w->err, QB_ERR_NOMEM, "out of memory");
}

static enum qb_status write_fields(const struct io *w, cJSON *obj, const struct field *fs, const void *base,
                                   const char *jpath)
{
    enum qb_status st = QB_OK;
    for (const struct field *f = fs; f->key && st == QB_OK; f++) {
        char sub[JPATH_LEN];
        cJSON *v;
        subpath(sub, jpath, f->key, 0);
        if ((st = write_value(w, f, base, sub, &v)) == QB_OK && !cJSON_AddItemToObject(obj, f->key, v)) {
            cJSON_Delete(v);
            st = qb_errorf(w->err, QB_ERR_NOMEM, "out of memory");
        }
    }
    return st;
}

static enum qb_status to_text(const char *file, const struct qb_preset *p, char **out, struct qb_error *err)
{
    struct io w = {.file = file, .err = err};
    cJSON *root = cJSON_CreateObject();
    enum qb_status st;
    char *text = NULL;

    *out = NULL;
    if (!root)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if ((st = write_fields(&w, root, top_fields, p, "$")) == QB_OK) {
        size_t n;
        if (!(text = cJSON_Print(root)) || !(*out = malloc((n = strlen(text)) + 2))) {
            st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        } else {
            memcpy(*out, text, n);
            memcpy(*out + n, "\n", 2);
        }
    }
    cJSON_free(text);
    cJSON_Delete(root);
    return st;
}

enum qb_status qb_preset_to_text(const struct qb_preset *p, char **out, struct qb_error *err)
{
    return to_text("preset", p, out, err);
}

enum qb_status qb_preset_save(const char *path, const struct qb_preset *p, struct qb_error *err)
{
    char *text = NULL;
    enum qb_status st = to_text(path, p, &text, err);
    if (st == QB_OK)
        st = qb_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}
