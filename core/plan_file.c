/* Plan files: JSON and the one-rule-per-line text form, loaded with errors that
 * name the JSON path or the line, saved atomically (core/plan.h). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "plan.h"
#include "fileio.h"

enum {
    K_FORMAT,
    K_VERSION,
    K_DEFAULT,
    K_OP_SET,
    K_FP16_OPS,
    K_FP16_NODES,
    K_INT8_NODES,
    K_RESOLVED,
    K_COUNT
};

static const char *const top_keys[K_COUNT + 1] = { /* NULL-terminated */
    [K_FORMAT] = "format",         [K_VERSION] = "version",       [K_DEFAULT] = "default",
    [K_OP_SET] = "op_set",         [K_FP16_OPS] = "fp16_op_types", [K_FP16_NODES] = "fp16_nodes",
    [K_INT8_NODES] = "int8_nodes", [K_RESOLVED] = "resolved",
};

/* the array key that holds each kind of rule */
static const int kind_key[QB_PLAN_RULE_COUNT] = {
    [QB_PLAN_FP16_OP] = K_FP16_OPS,
    [QB_PLAN_FP16_NODE] = K_FP16_NODES,
    [QB_PLAN_INT8_NODE] = K_INT8_NODES,
};

/* the keys qb_plan_spec_from_json reads (those of top_keys from K_DEFAULT to K_INT8_NODES) */
static const char *const rule_keys[] = {"default", "op_set", "fp16_op_types", "fp16_nodes", "int8_nodes", NULL};
_Static_assert(K_INT8_NODES - K_DEFAULT + 2 == sizeof(rule_keys) / sizeof(rule_keys[0]), "the rule keys");

static const char *const resolved_keys[] = {"model", "hash", "int8", "fp16", "nodes", NULL};
static const char *const node_keys[] = {"index", "name", "op", "precision", NULL};

#define PLAN_FORMAT "qbench-plan"
#define PLAN_VERSION 1
#define PLAN_MAX_BYTES (64u << 20)


/* index of k in the NULL-terminated keys, or -1 */
static int key_index(const char *const *keys, const char *k)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return i;
    return -1;
}

static bool parse_prec(const char *t, enum qb_prec *p)
{
    for (int i = 0; i <= QB_PREC_INT8; i++)
        if (strcmp(t, qb_plan_prec_name((enum qb_prec)i)) == 0) {
            *p = (enum qb_prec)i;
            return true;
        }
    return false;
}

/* Checks obj's keys against keys and more (both NULL-terminated; more may be NULL):
 * unknown and repeated keys are errors. */
static enum qb_status check_keys2(const char *file, const char *path, const cJSON *obj, const char *const *keys,
                                  const char *const *more, struct qb_error *err)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (key_index(keys, c->string) < 0 && (!more || key_index(more, c->string) < 0)) {
            char known[512];
            size_t pos = 0;
            for (int i = 0; keys[i] && pos < sizeof(known); i++)
                pos += (size_t)snprintf(known + pos, sizeof(known) - pos, "%s%s", i ? ", " : "", keys[i]);
            for (int i = 0; more && more[i] && pos < sizeof(known); i++)
                pos += (size_t)snprintf(known + pos, sizeof(known) - pos, ", %s", more[i]);
            return qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: unknown key (known: %s)", file, path, c->string, known);
        }
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: repeated key", file, path, c->string);
    }
    return QB_OK;
}

static enum qb_status check_keys(const char *file, const char *path, const cJSON *obj, const char *const *keys,
                                 struct qb_error *err)
{
    return check_keys2(file, path, obj, keys, NULL, err);
}

static enum qb_status load_resolved(const char *file, const cJSON *o, struct qb_plan_spec *s, struct qb_error *err)
{
    enum qb_status st;
    const cJSON *v;
    if (!cJSON_IsObject(o))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.resolved: expected an object", file);
    if ((st = check_keys(file, "$.resolved", o, resolved_keys, err)) != QB_OK)
        return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "model")) && !cJSON_IsString(v))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.resolved.model: expected a string", file);
    for (int k = 0; k < 2; k++)
        if ((v = cJSON_GetObjectItemCaseSensitive(o, k ? "fp16" : "int8")) && !cJSON_IsNumber(v))
            return qb_errorf(err, QB_ERR_PARSE, "%s: $.resolved.%s: expected a number", file, k ? "fp16" : "int8");
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "hash"))) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) != 64 || strspn(v->valuestring, "0123456789abcdef") != 64)
            return qb_errorf(err, QB_ERR_PARSE, "%s: $.resolved.hash: expected 64 lowercase hex digits", file);
        memcpy(s->file_hash, v->valuestring, 65);
    }
    if (!(v = cJSON_GetObjectItemCaseSensitive(o, "nodes")))
        return QB_OK;
    if (!cJSON_IsArray(v))
        return qb_errorf(err, QB_ERR_PARSE, "%s: $.resolved.nodes: expected an array", file);
    int i = 0;
    for (const cJSON *n = v->child; n; n = n->next, i++) {
        char path[64];
        const cJSON *f;
        enum qb_prec p;
        snprintf(path, sizeof(path), "$.resolved.nodes[%d]", i);
        if (!cJSON_IsObject(n))
            return qb_errorf(err, QB_ERR_PARSE, "%s: %s: expected an object", file, path);
        if ((st = check_keys(file, path, n, node_keys, err)) != QB_OK)
            return st;
        for (int k = 0; node_keys[k]; k++) {
            bool number = k == 0;
            if (!(f = cJSON_GetObjectItemCaseSensitive(n, node_keys[k])))
                return qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: missing", file, path, node_keys[k]);
            if (number ? !cJSON_IsNumber(f) : !cJSON_IsString(f))
                return qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: expected a %s", file, path, node_keys[k],
                                 number ? "number" : "string");
        }
        if (!parse_prec(cJSON_GetObjectItemCaseSensitive(n, "precision")->valuestring, &p))
            return qb_errorf(err, QB_ERR_PARSE, "%s: %s.precision: expected int8, fp16 or fp32", file, path);
    }
    return QB_OK;
}

enum qb_status qb_plan_spec_from_json(const struct cJSON *obj, const char *file, const char *path,
                                      const char *const *extra, struct qb_plan_spec *s, struct qb_error *err)
{
    const cJSON *item[K_COUNT] = {0};
    enum qb_status st;
    char origin[1024];

    if (!cJSON_IsObject(obj))
        return qb_errorf(err, QB_ERR_PARSE, "%s: %s: expected an object", file, path);
    if ((st = check_keys2(file, path, obj, rule_keys, extra, err)) != QB_OK)
        return st;
    for (int k = K_DEFAULT; k <= K_INT8_NODES; k++)
        item[k] = cJSON_GetObjectItemCaseSensitive(obj, top_keys[k]);
    if (!item[K_DEFAULT] || !cJSON_IsString(item[K_DEFAULT]) || !parse_prec(item[K_DEFAULT]->valuestring, &s->base))
        return qb_errorf(err, QB_ERR_PARSE, "%s: %s.default: %s (expected \"int8\", \"fp16\" or \"fp32\")", file,
                         path, item[K_DEFAULT] ? "bad value" : "missing");
    s->base_given = true;
    if (item[K_OP_SET]) {
        snprintf(origin, sizeof(origin), "%s: %s.op_set", file, path);
        if (!cJSON_IsString(item[K_OP_SET]))
            return qb_errorf(err, QB_ERR_PARSE, "%s: expected a string such as \"core\" or \"modelopt+Sigmoid\"",
                             origin);
        if ((st = qb_plan_spec_set_op_set(s, item[K_OP_SET]->valuestring, origin, err)) != QB_OK)
            return st;
        s->op_set_given = true;
    }
    for (int kind = 0; kind < QB_PLAN_RULE_COUNT; kind++) {
        int i = 0, k = kind_key[kind];
        if (!item[k])
            continue;
        if (!cJSON_IsArray(item[k]))
            return qb_errorf(err, QB_ERR_PARSE, "%s: %s.%s: expected an array of strings", file, path, top_keys[k]);
        for (const cJSON *c = item[k]->child; c; c = c->next, i++) {
            snprintf(origin, sizeof(origin), "%s: %s.%s[%d]", file, path, top_keys[k], i);
            if (!cJSON_IsString(c))
                return qb_errorf(err, QB_ERR_PARSE, "%s: expected a string", origin);
            if ((st = qb_plan_spec_add(s, (enum qb_plan_rule_kind)kind, c->valuestring, origin, err)) != QB_OK)
                return st;
        }
    }
    return QB_OK;
}

static enum qb_status load_json(const char *file, const char *text, struct qb_plan_spec *s, struct qb_error *err)
{
    static const char *const other_keys[] = {"format", "version", "resolved", NULL};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    const cJSON *item[K_COUNT] = {0};
    enum qb_status st = QB_OK;

    if (!root) {
        int line = 1, col = 1;
        for (const char *p = text; end && p < end && *p; p++, col++)
            if (*p == '\n')
                line++, col = 0;
        return qb_errorf(err, QB_ERR_PARSE, "%s:%d:%d: not valid JSON", file, line, col);
    }
    if (!cJSON_IsObject(root)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: $: expected an object", file);
        goto out;
    }
    if ((st = check_keys(file, "$", root, top_keys, err)) != QB_OK)
        goto out;
    for (int k = 0; k < K_COUNT; k++)
        item[k] = cJSON_GetObjectItemCaseSensitive(root, top_keys[k]);
    if (!item[K_FORMAT] || !cJSON_IsString(item[K_FORMAT]) || strcmp(item[K_FORMAT]->valuestring, PLAN_FORMAT)) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: $.format: %s (expected \"" PLAN_FORMAT "\": not a qbench plan)", file,
                       item[K_FORMAT] ? "wrong value" : "missing");
        goto out;
    }
    if (!item[K_VERSION] || !cJSON_IsNumber(item[K_VERSION]) || !(item[K_VERSION]->valuedouble >= 1) ||
        item[K_VERSION]->valuedouble > INT_MAX ||
        item[K_VERSION]->valuedouble != (double)(int)item[K_VERSION]->valuedouble) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: $.version: %s (expected the integer %d)", file,
                       item[K_VERSION] ? "bad value" : "missing", PLAN_VERSION);
        goto out;
    }
    if (item[K_VERSION]->valueint > PLAN_VERSION) {
        st = qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: $.version: %d, from a newer qbench (this one reads version %d)",
                       file, item[K_VERSION]->valueint, PLAN_VERSION);
        goto out;
    }
    if ((st = qb_plan_spec_from_json(root, file, "$", other_keys, s, err)) != QB_OK)
        goto out;
    if (item[K_RESOLVED])
        st = load_resolved(file, item[K_RESOLVED], s, err);
out:
    cJSON_Delete(root);
    return st;
}

static const char *const text_keys[] = {"default", "op-set", "fp16-op", "fp16-node", "int8-node", NULL};

static enum qb_status load_text(const char *file, char *text, struct qb_plan_spec *s, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    char origin[1024];
    int line = 0;
    bool seen[2] = {false, false};

    for (char *p = text, *next; p && st == QB_OK; p = next) {
        char *key, *val, *e;
        int k;
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        line++;
        for (e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r');)
            *--e = '\0';
        key = p + strspn(p, " \t");
        if (!*key || *key == '#')
            continue;
        val = key + strcspn(key, " \t");
        if (*val)
            *val++ = '\0';
        val += strspn(val, " \t");
        snprintf(origin, sizeof(origin), "%s:%d", file, line);
        if ((k = key_index(text_keys, key)) < 0) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: unknown keyword '%s' (known: default, op-set, fp16-op, "
                           "fp16-node, int8-node)", origin, key);
        } else if (!*val) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: %s needs a value", origin, key);
        } else if (k < 2 && seen[k]) {
            st = qb_errorf(err, QB_ERR_PARSE, "%s: a second '%s' line", origin, key);
        } else if (k == 0) {
            seen[0] = s->base_given = true;
            if (!parse_prec(val, &s->base))
                st = qb_errorf(err, QB_ERR_PARSE, "%s: default '%s': expected int8, fp16 or fp32", origin, val);
        } else if (k == 1) {
            seen[1] = s->op_set_given = true;
            st = qb_plan_spec_set_op_set(s, val, origin, err);
        } else {
            st = qb_plan_spec_add(s, (enum qb_plan_rule_kind)(k - 2), val, origin, err);
        }
    }
    if (st == QB_OK && !seen[0])
        st = qb_errorf(err, QB_ERR_PARSE, "%s: no 'default int8|fp16|fp32' line", file);
    return st;
}

enum qb_status qb_plan_load(const char *path, struct qb_plan_spec *s, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    FILE *f = NULL;
    char *text = NULL, first;
    size_t n = 0, cap = 0;

    qb_plan_spec_init(s, QB_PREC_FP32);
    if (!(s->path = strdup(path)))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if (!(f = fopen(path, "rb"))) {
        st = qb_errorf(err, QB_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *t;
            cap = cap ? 2 * cap : 4096;
            if (cap > PLAN_MAX_BYTES) {
                st = qb_errorf(err, QB_ERR_PARSE, "%s: larger than %u MiB: not a plan", path, PLAN_MAX_BYTES >> 20);
                goto out;
            }
            if (!(t = realloc(text, cap))) {
                st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
                goto out;
            }
            text = t;
        }
        size_t got = fread(text + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        st = qb_errorf(err, QB_ERR_IO, "%s: read error", path);
        goto out;
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        st = qb_errorf(err, QB_ERR_PARSE, "%s: contains NUL bytes: not a plan", path);
        goto out;
    }
    first = text[strspn(text, " \t\r\n")];
    if (first == '{' || first == '[') /* JSON; a top-level array is refused with its path */
        st = load_json(path, text, s, err);
    else
        st = load_text(path, text, s, err);
out:
    if (f)
        fclose(f);
    free(text);
    return st;
}

enum qb_status qb_plan_spec_to_json(const struct qb_plan_spec *s, struct cJSON *obj, struct qb_error *err)
{
    cJSON *lists[K_COUNT] = {0};
    bool ok = cJSON_AddStringToObject(obj, "default", qb_plan_prec_name(s->base)) &&
              cJSON_AddStringToObject(obj, "op_set", s->op_set ? s->op_set : "core");
    for (int kind = 0; ok && kind < QB_PLAN_RULE_COUNT; kind++)
        ok = (lists[kind_key[kind]] = cJSON_AddArrayToObject(obj, top_keys[kind_key[kind]])) != NULL;
    for (int i = 0; ok && i < s->n_rules; i++) {
        cJSON *str;
        if ((unsigned)s->rules[i].kind >= QB_PLAN_RULE_COUNT)
            return qb_errorf(err, QB_ERR_INTERNAL, "bad rule kind %d", (int)s->rules[i].kind);
        str = cJSON_CreateString(s->rules[i].pattern);
        ok = str && cJSON_AddItemToArray(lists[kind_key[s->rules[i].kind]], str);
        if (!ok)
            cJSON_Delete(str);
    }
    return ok ? QB_OK : qb_errorf(err, QB_ERR_NOMEM, "out of memory");
}

static enum qb_status json_text(const struct qb_plan_spec *s, const struct qb_graph *g, const enum qb_prec *prec,
                                char **out, struct qb_error *err)
{
    cJSON *root = cJSON_CreateObject(), *res, *nodes;
    enum qb_status st;
    bool ok = root && cJSON_AddStringToObject(root, "format", PLAN_FORMAT) &&
              cJSON_AddNumberToObject(root, "version", PLAN_VERSION);
    if (ok && (st = qb_plan_spec_to_json(s, root, err)) != QB_OK) {
        cJSON_Delete(root);
        return st;
    }
    if (ok && g && prec) {
        char hex[65];
        int count[QB_PREC_INT8 + 1] = {0};
        qb_plan_hash(g, prec, hex);
        for (int i = 0; i < g->n_order; i++)
            count[prec[g->order[i]]]++;
        ok = (res = cJSON_AddObjectToObject(root, "resolved")) && cJSON_AddStringToObject(res, "model", g->path) &&
             cJSON_AddStringToObject(res, "hash", hex) && cJSON_AddNumberToObject(res, "int8", count[QB_PREC_INT8]) &&
             cJSON_AddNumberToObject(res, "fp16", count[QB_PREC_FP16]) &&
             (nodes = cJSON_AddArrayToObject(res, "nodes"));
        for (int i = 0; ok && i < g->n_nodes; i++) {
            cJSON *n;
            if (g->nodes[i].folded)
                continue;
            ok = (n = cJSON_CreateObject()) && cJSON_AddItemToArray(nodes, n) &&
                 cJSON_AddNumberToObject(n, "index", i) && cJSON_AddStringToObject(n, "name", g->nodes[i].name) &&
                 cJSON_AddStringToObject(n, "op", g->nodes[i].op_type) &&
                 cJSON_AddStringToObject(n, "precision", qb_plan_prec_name(prec[i]));
        }
    }
    *out = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return *out ? QB_OK : qb_errorf(err, QB_ERR_NOMEM, "out of memory");
}

static enum qb_status plain_text(const struct qb_plan_spec *s, const struct qb_graph *g, const enum qb_prec *prec,
                                 char **out, struct qb_error *err)
{
    size_t len = 0;
    FILE *f = open_memstream(out, &len);
    bool ok;
    if (!f)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    fprintf(f, "# qbench plan: one rule per line (docs: core/plan.h)\n");
    if (g && prec) {
        char hex[65];
        qb_plan_hash(g, prec, hex);
        fprintf(f, "# resolves to plan %.12s on %s\n", hex, g->path);
    }
    fprintf(f, "default %s\nop-set %s\n", qb_plan_prec_name(s->base), s->op_set ? s->op_set : "core");
    for (int i = 0; i < s->n_rules; i++)
        fprintf(f, "%s %s\n", qb_plan_rule_name(s->rules[i].kind), s->rules[i].pattern);
    ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        free(*out);
        *out = NULL;
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    return QB_OK;
}

enum qb_status qb_plan_save(const char *path, enum qb_plan_format fmt, const struct qb_plan_spec *s,
                            const struct qb_graph *g, const enum qb_prec *prec, struct qb_error *err)
{
    enum qb_status st;
    char *text = NULL;

    if (fmt == QB_PLAN_FORMAT_TEXT) {
        for (int i = 0; i < s->n_rules; i++) {
            const char *p = s->rules[i].pattern;
            size_t n = strlen(p);
            if (strpbrk(p, "\r\n") || p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t')
                return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: %s '%s' has a line break or surrounding blanks; "
                                 "save the plan as JSON", path, qb_plan_rule_name(s->rules[i].kind), p);
        }
        st = plain_text(s, g, prec, &text, err);
    } else if (fmt == QB_PLAN_FORMAT_JSON) {
        st = json_text(s, g, prec, &text, err);
    } else {
        return qb_errorf(err, QB_ERR_INTERNAL, "bad plan format %d", (int)fmt);
    }
    if (st == QB_OK)
        st = qb_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}
