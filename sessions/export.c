/* Plan exports for ModelOpt, trtexec, JSON and text (sessions/export.h). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"

const char *const qb_export_format_names[QB_EXPORT_COUNT] = {"modelopt", "trtexec", "json", "txt"};

/* A growing string; on allocation failure it stays failed and the export says so. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)(n < 0 ? 0 : n) + 1) * 2 + 256;
        char *grown = n < 0 ? NULL : realloc(b->s, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The plan's sets: quantizable nodes (op-set members that can run INT8), which stay
 * FP16, and op types none of whose quantizable nodes runs INT8. */
struct sets {
    int *fp16, n_fp16;           /* quantizable nodes kept in FP16, graph order */
    int *int8, n_int8;
    const char **types;          /* op types wholly in FP16 */
    int n_types;
};

static bool quantizable(const struct qb_export_input *in, const struct qb_node *n)
{
    return qb_plan_op_set_has(in->spec->op_set, n->op_type) && qb_plan_node_int8_capable(in->g, n);
}

static bool type_listed(const struct sets *s, const char *op)
{
    for (int i = 0; i < s->n_types; i++)
        if (strcmp(s->types[i], op) == 0)
            return true;
    return false;
}

static bool node_in_type(const struct qb_export_input *in, const struct sets *s, int k)
{
    return type_listed(s, in->g->nodes[k].op_type);
}

static enum qb_status make_sets(const struct qb_export_input *in, struct sets *s, struct qb_error *err)
{
    const struct qb_graph *g = in->g;
    memset(s, 0, sizeof(*s));
    s->fp16 = calloc((size_t)g->n_nodes + 1, sizeof(int));
    s->int8 = calloc((size_t)g->n_nodes + 1, sizeof(int));
    s->types = calloc((size_t)g->n_nodes + 1, sizeof(char *));
    if (!s->fp16 || !s->int8 || !s->types)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_order; i++) {
        int k = g->order[i];
        const struct qb_node *n = &g->nodes[k];
        if (in->prec[k] == QB_PREC_INT8)
            s->int8[s->n_int8++] = k;
        else if (quantizable(in, n))
            s->fp16[s->n_fp16++] = k;
    }
    /* op types with FP16 nodes and no INT8 node */
    for (int i = 0; i < s->n_fp16; i++) {
        const char *op = g->nodes[s->fp16[i]].op_type;
        bool any_int8 = false;
        for (int j = 0; j < s->n_int8 && !any_int8; j++)
            any_int8 = strcmp(g->nodes[s->int8[j]].op_type, op) == 0;
        if (!any_int8 && !type_listed(s, op))
            s->types[s->n_types++] = op;
    }
    return QB_OK;
}

static void free_sets(struct sets *s)
{
    free(s->fp16);
    free(s->int8);
    free(s->types);
}

/* Shell word in single quotes ('\'' for a quote inside). */
static void put_shell(struct sbuf *b, const char *s)
{
    put(b, "'");
    for (; *s; s++)
        put(b, *s == '\'' ? "'\\''" : "%c", *s);
    put(b, "'");
}

/* A Python regular expression matching exactly name from its start: escaped, then "$". */
static void put_regex(struct sbuf *b, const char *name, bool for_python_string)
{
    for (const char *p = name; *p; p++) {
        if (strchr(".^$*+?{}[]\\|()", *p))
            put(b, for_python_string ? "\\\\" : "\\");
        if (for_python_string && (*p == '"' || *p == '\\'))
            put(b, "\\");
        put(b, "%c", *p);
    }
    put(b, "$");
}

static void put_py_string(struct sbuf *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++)
        put(b, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    put(b, "\"");
}

static void header(struct sbuf *b, const struct qb_export_input *in, const struct sets *s)
{
    char hash[65];
    const char *note = qb_plan_note(in->spec);
    qb_plan_hash(in->g, in->prec, hash);
    put(b, "# qbench plan %.12s for %s: %d nodes INT8, %d quantizable nodes kept in FP16, op-set %s\n", hash,
        in->model, s->n_int8, s->n_fp16, in->spec->op_set ? in->spec->op_set : "core");
    if (in->model_sha256)
        put(b, "# model sha256 %s\n", in->model_sha256);
    if (note)
        put(b, "# note: %s\n", note);
}

/* Op types of the op-set ModelOpt should quantize; NULL list when ModelOpt's own default is meant. */
static int quantize_types(const struct qb_export_input *in, const char **types, int cap)
{
    const char *const *candidates = qb_plan_op_set_named("modelopt"); /* every type a named set holds */
    const char *op_set = in->spec->op_set ? in->spec->op_set : "core";
    int n = 0;
    if (strcmp(op_set, "modelopt") == 0)
        return 0;
    for (int i = 0; candidates[i] && n < cap; i++)
        if (qb_plan_op_set_has(op_set, candidates[i]))
            types[n++] = candidates[i];
    /* widened op-sets: the extra types in graph order */
    for (int i = 0; i < in->g->n_order && n < cap; i++) {
        const char *op = in->g->nodes[in->g->order[i]].op_type;
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = strcmp(types[j], op) == 0;
        if (!seen && qb_plan_op_set_has(op_set, op))
            types[n++] = op;
    }
    return n;
}

static void modelopt(struct sbuf *b, const struct qb_export_input *in, const struct sets *s)
{
    const char *types[64];
    int n_types = quantize_types(in, types, 64);
    const char *method = in->calib_method && (strcmp(in->calib_method, "entropy") == 0 ||
                                              strcmp(in->calib_method, "max") == 0)
                             ? in->calib_method
                             : "entropy";

    header(b, in, s);
    if (in->calib_method && strcmp(method, in->calib_method) != 0)
        put(b, "# ModelOpt calibrates INT8 with entropy or max; qbench's table used %s\n", in->calib_method);
    put(b, "# add --calibration_data_path=CALIB.npy (the calibration images as the model's input tensor)\n");
    put(b, "python -m modelopt.onnx.quantization \\\n    --onnx_path=");
    put_shell(b, in->model);
    put(b, " \\\n    --quantize_mode=int8 \\\n    --calibration_method=%s", method);
    if (n_types) {
        put(b, " \\\n    --op_types_to_quantize");
        for (int i = 0; i < n_types; i++)
            put(b, " %s", types[i]);
    }
    if (s->n_types) {
        put(b, " \\\n    --op_types_to_exclude");
        for (int i = 0; i < s->n_types; i++)
            put(b, " %s", s->types[i]);
    }
    if (s->n_fp16 > 0) {
        int listed = 0;
        for (int i = 0; i < s->n_fp16; i++)
            listed += !node_in_type(in, s, s->fp16[i]);
        if (listed) {
            put(b, " \\\n    --nodes_to_exclude");
            for (int i = 0; i < s->n_fp16; i++) {
                struct sbuf r = {0};
                if (node_in_type(in, s, s->fp16[i]))
                    continue;
                put_regex(&r, in->g->nodes[s->fp16[i]].name, false);
                put(b, " \\\n        ");
                if (r.failed)
                    b->failed = true;
                else
                    put_shell(b, r.s);
                free(r.s);
            }
        }
    }
    put(b, "\n\n# The same as a Python call:\nfrom modelopt.onnx.quantization import quantize\n\nquantize(\n"
           "    onnx_path=");
    put_py_string(b, in->model);
    put(b, ",\n    quantize_mode=\"int8\",\n    calibration_method=\"%s\",\n", method);
    if (n_types) {
        put(b, "    op_types_to_quantize=[");
        for (int i = 0; i < n_types; i++)
            put(b, "%s\"%s\"", i ? ", " : "", types[i]);
        put(b, "],\n");
    }
    if (s->n_types) {
        put(b, "    op_types_to_exclude=[");
        for (int i = 0; i < s->n_types; i++)
            put(b, "%s\"%s\"", i ? ", " : "", s->types[i]);
        put(b, "],\n");
    }
    put(b, "    nodes_to_exclude=[\n");
    for (int i = 0; i < s->n_fp16; i++) {
        if (node_in_type(in, s, s->fp16[i]))
            continue;
        put(b, "        \"");
        put_regex(b, in->g->nodes[s->fp16[i]].name, true);
        put(b, "\",\n");
    }
    put(b, "    ],\n)\n");
}

static enum qb_status trtexec(struct sbuf *b, const struct qb_export_input *in, const struct sets *s,
                              struct qb_error *err)
{
    for (int i = 0; i < s->n_fp16; i++) {
        const char *name = in->g->nodes[s->fp16[i]].name;
        if (strpbrk(name, ",:*"))
            return qb_errorf(err, QB_ERR_UNSUPPORTED,
                             "node '%s' has ',' ':' or '*' in its name, which trtexec's --layerPrecisions cannot "
                             "carry; use the json or txt export",
                             name);
    }
    header(b, in, s);
    if (!in->trt_cache)
        put(b, "# add --calib=CACHE (qbench calib ... --trt-cache CACHE)\n");
    put(b, "trtexec --onnx=");
    put_shell(b, in->model);
    put(b, " --int8 --fp16");
    if (in->trt_cache) {
        put(b, " --calib=");
        put_shell(b, in->trt_cache);
    }
    if (s->n_fp16) {
        put(b, " --precisionConstraints=obey --layerPrecisions=");
        struct sbuf v = {0};
        for (int i = 0; i < s->n_fp16; i++)
            put(&v, "%s%s:fp16", i ? "," : "", in->g->nodes[s->fp16[i]].name);
        if (v.failed)
            b->failed = true;
        else
            put_shell(b, v.s);
        free(v.s);
    }
    put(b, "\n");
    return QB_OK;
}

static enum qb_status json(struct sbuf *b, const struct qb_export_input *in, const struct sets *s,
                           struct qb_error *err)
{
    cJSON *root = cJSON_CreateObject(), *a;
    char hash[65], *text;
    const char *note = qb_plan_note(in->spec);

    if (!root)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    qb_plan_hash(in->g, in->prec, hash);
    cJSON_AddStringToObject(root, "format", "qbench-export");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "model", in->model);
    if (in->model_sha256)
        cJSON_AddStringToObject(root, "model_sha256", in->model_sha256);
    cJSON_AddStringToObject(root, "plan_hash", hash);
    cJSON_AddStringToObject(root, "op_set", in->spec->op_set ? in->spec->op_set : "core");
    if (note)
        cJSON_AddStringToObject(root, "note", note);
    if (in->calib_method)
        cJSON_AddStringToObject(root, "calibration_method", in->calib_method);
    if ((a = cJSON_AddArrayToObject(root, "fp16_op_types")))
        for (int i = 0; i < s->n_types; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(s->types[i]));
    if ((a = cJSON_AddArrayToObject(root, "fp16_nodes")))
        for (int i = 0; i < s->n_fp16; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(in->g->nodes[s->fp16[i]].name));
    if ((a = cJSON_AddArrayToObject(root, "int8_nodes")))
        for (int i = 0; i < s->n_int8; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(in->g->nodes[s->int8[i]].name));
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    put(b, "%s\n", text);
    free(text);
    return QB_OK;
}

static void txt(struct sbuf *b, const struct qb_export_input *in, const struct sets *s)
{
    header(b, in, s);
    for (int i = 0; i < s->n_types; i++)
        put(b, "# every %s node of the op-set is in FP16\n", s->types[i]);
    put(b, "# the quantizable nodes kept in FP16, one per line:\n");
    for (int i = 0; i < s->n_fp16; i++)
        put(b, "%s\n", in->g->nodes[s->fp16[i]].name);
}

enum qb_status qb_export(const struct qb_export_input *in, enum qb_export_format f, char **out, struct qb_error *err)
{
    struct sbuf b = {0};
    struct sets s;
    enum qb_status st;

    *out = NULL;
    if ((st = make_sets(in, &s, err)) == QB_OK) {
        switch (f) {
        case QB_EXPORT_MODELOPT:
            modelopt(&b, in, &s);
            break;
        case QB_EXPORT_TRTEXEC:
            st = trtexec(&b, in, &s, err);
            break;
        case QB_EXPORT_JSON:
            st = json(&b, in, &s, err);
            break;
        case QB_EXPORT_TXT:
            txt(&b, in, &s);
            break;
        default:
            st = qb_errorf(err, QB_ERR_USAGE, "unknown export format %d", (int)f);
        }
    }
    free_sets(&s);
    if (st == QB_OK && (b.failed || !b.s))
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory writing the export");
    if (st != QB_OK) {
        free(b.s);
        return st;
    }
    *out = b.s;
    return QB_OK;
}
