/* qbench info: what a model is, in text or JSON. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_preset.h"
#include "core/op.h"

struct op_count {
    const char *op;
    int total, runtime;
};

static int by_count(const void *a, const void *b)
{
    const struct op_count *x = a, *y = b;
    if (x->total != y->total)
        return y->total - x->total;
    return strcmp(x->op, y->op);
}

/* Histogram of op types: every node in the file, and those left after folding. */
static int count_ops(const struct qb_graph *g, struct op_count *c)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct qb_node *nd = &g->nodes[i];
        int k = 0;
        while (k < n && strcmp(c[k].op, nd->op_type) != 0)
            k++;
        if (k == n)
            c[n++] = (struct op_count){nd->op_type, 0, 0};
        c[k].total++;
        c[k].runtime += !nd->folded;
    }
    qsort(c, (size_t)n, sizeof(*c), by_count);
    return n;
}

/* Learned weights: float initializers read by the ops that carry them. Other
 * initializers (anchors, strides, shapes) are constants, counted apart, so the
 * number matches what training frameworks report. */
static bool is_weight_op(const char *op)
{
    static const char *const ops[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "PRelu"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(op, ops[i]) == 0)
            return true;
    return false;
}

static void param_count(const struct qb_graph *g, int64_t *weights, int64_t *constants)
{
    bool *seen = calloc((size_t)g->n_values + 1, sizeof(bool));
    *weights = *constants = 0;
    if (!seen)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct qb_node *n = &g->nodes[i];
        if (!is_weight_op(n->op_type))
            continue;
        for (int k = 0; k < n->n_in; k++) {
            const struct qb_value *v = qb_node_in(g, n, k);
            if (v && (v->flags & QB_VALUE_INIT) && !seen[n->in[k]] &&
                (v->dtype == QB_DTYPE_F32 || v->dtype == QB_DTYPE_F16 || v->dtype == QB_DTYPE_F64)) {
                seen[n->in[k]] = true;
                *weights += qb_value_numel(v);
            }
        }
    }
    for (int v = 0; v < g->n_values; v++)
        if ((g->values[v].flags & QB_VALUE_INIT) && !seen[v])
            *constants += qb_value_numel(&g->values[v]);
    free(seen);
}

static cJSON *shape_json(const struct qb_value *v)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < v->ndim; i++)
        cJSON_AddItemToArray(a, v->shape[i] >= 0 ? cJSON_CreateNumber((double)v->shape[i])
                                                 : cJSON_CreateString(v->dim_param[i] ? v->dim_param[i] : "?"));
    return a;
}

static cJSON *values_json(const struct qb_graph *g, const int *idx, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const struct qb_value *v = &g->values[idx[i]];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v->name);
        cJSON_AddStringToObject(o, "dtype", qb_dtype_name(v->dtype));
        cJSON_AddItemToObject(o, "shape", shape_json(v));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static void print_json(const struct qb_graph *g, const char *sha, struct op_count *c, int n_ops, double flops)
{
    cJSON *root = cJSON_CreateObject(), *ops = cJSON_CreateObject(), *q = cJSON_CreateArray();
    cJSON *meta = cJSON_CreateObject();
    char *s;

    cJSON_AddStringToObject(root, "model", g->path);
    cJSON_AddStringToObject(root, "sha256", sha);
    cJSON_AddStringToObject(root, "producer", g->producer);
    cJSON_AddNumberToObject(root, "ir_version", (double)g->ir_version);
    cJSON_AddNumberToObject(root, "opset", (double)g->opset);
    cJSON_AddItemToObject(root, "inputs", values_json(g, g->inputs, g->n_inputs));
    cJSON_AddItemToObject(root, "outputs", values_json(g, g->outputs, g->n_outputs));
    cJSON_AddNumberToObject(root, "nodes", g->n_nodes);
    cJSON_AddNumberToObject(root, "runtime_nodes", g->n_order);
    for (int i = 0; i < n_ops; i++)
        cJSON_AddNumberToObject(ops, c[i].op, c[i].total);
    cJSON_AddItemToObject(root, "op_counts", ops);
    int64_t weights, constants;
    param_count(g, &weights, &constants);
    cJSON_AddNumberToObject(root, "parameters", (double)weights);
    cJSON_AddNumberToObject(root, "constant_elements", (double)constants);
    cJSON_AddNumberToObject(root, "flops", flops);
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (!(n->def->flags & QB_OP_QUANTIZABLE))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", n->name);
        cJSON_AddStringToObject(o, "op", n->op_type);
        cJSON_AddItemToObject(o, "output_shape", shape_json(qb_node_out(g, n, 0)));
        cJSON_AddNumberToObject(o, "flops", qb_node_flops(g, n));
        cJSON_AddItemToArray(q, o);
    }
    cJSON_AddItemToObject(root, "quantizable_nodes", q);
    for (int i = 0; i < g->n_meta; i++)
        cJSON_AddStringToObject(meta, g->meta[i].key, g->meta[i].value);
    cJSON_AddItemToObject(root, "metadata", meta);
    s = cJSON_Print(root);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(root);
}

static void print_values(const struct qb_graph *g, const char *title, const int *idx, int n)
{
    char buf[160];
    printf("%s:\n", title);
    for (int i = 0; i < n; i++) {
        const struct qb_value *v = &g->values[idx[i]];
        printf("  %-24s %-8s %s\n", v->name, qb_dtype_name(v->dtype), qb_shape_str(v, buf, sizeof(buf)));
    }
}

static void print_text(const struct qb_graph *g, const char *sha, struct op_count *c, int n_ops, double flops)
{
    char buf[160];
    int nq = 0;

    printf("model     %s\n", g->path);
    printf("sha256    %s\n", sha);
    printf("producer  %s   ir %" PRId64 "   opset %" PRId64 "\n", g->producer[0] ? g->producer : "-", g->ir_version,
           g->opset);
    print_values(g, "inputs", g->inputs, g->n_inputs);
    print_values(g, "outputs", g->outputs, g->n_outputs);
    printf("nodes     %d in the file, %d at run time after folding\n", g->n_nodes, g->n_order);
    printf("ops:\n");
    for (int i = 0; i < n_ops; i++)
        printf("  %-20s %5d%s\n", c[i].op, c[i].total,
               c[i].runtime == c[i].total ? "" : (c[i].runtime ? "  (some folded)" : "  (folded)"));
    int64_t weights, constants;
    param_count(g, &weights, &constants);
    printf("parameters  %" PRId64 " (%.2f M) learned weights; %" PRId64 " elements of other constants\n", weights,
           (double)weights / 1e6, constants);
    printf("flops       %.3f GFLOPs per run at the input shape above (2 per multiply-accumulate)\n", flops / 1e9);
    for (int i = 0; i < g->n_order; i++)
        nq += !!(g->nodes[g->order[i]].def->flags & QB_OP_QUANTIZABLE);
    printf("quantizable nodes (%d; op set core: Conv, ConvTranspose, Gemm, MatMul):\n", nq);
    printf("  %4s  %-48s %-8s %-18s %8s\n", "#", "name", "op", "output", "GFLOPs");
    for (int i = 0, k = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (!(n->def->flags & QB_OP_QUANTIZABLE))
            continue;
        printf("  %4d  %-48s %-8s %-18s %8.4f\n", k++, n->name, n->op_type,
               qb_shape_str(qb_node_out(g, n, 0), buf, sizeof(buf)), qb_node_flops(g, n) / 1e9);
    }
    printf("metadata:%s\n", g->n_meta ? "" : " (none)");
    for (int i = 0; i < g->n_meta; i++)
        printf("  %-12s %s\n", g->meta[i].key, g->meta[i].value);
}

static const char usage[] = "usage: qbench info (MODEL | --preset S [MODEL]) [--json] [--shape NAME=D,D,...]\n"
                            "  --preset S: the model of a session preset (saved by qbench tui)\n";

int qb_cmd_info(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    struct qb_cli_preset preset = {0};
    const char *path = NULL;
    bool json = false;
    struct qb_graph *g = NULL;
    struct op_count *counts;
    enum qb_status st = QB_OK;
    char sha[SHA256_DIGEST_STRING_LENGTH] = "";
    double flops = 0;
    int n_ops;

    for (int i = 1; i < argc; i++) {
        int r = qb_cli_model_opt(argc, argv, &i, &mo);
        if (r == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &preset);
        if (r < 0)
            return QB_EXIT_USAGE;
        if (r)
            continue;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "qbench info: unexpected argument '%s'\n%s", argv[i], usage);
            return QB_EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if ((st = qb_cli_preset_load(&preset, "info", &path)) != QB_OK)
        goto out;
    if (!path) {
        fputs(usage, stderr);
        st = QB_ERR_USAGE;
        goto out;
    }
    if (!(g = qb_cli_load(path, &mo, &st)))
        goto out;
    if (!SHA256File(path, sha))
        snprintf(sha, sizeof(sha), "?");
    if (!(counts = calloc((size_t)g->n_nodes + 1, sizeof(*counts)))) {
        fprintf(stderr, "qbench: out of memory\n");
        st = QB_ERR_NOMEM;
        goto out;
    }
    n_ops = count_ops(g, counts);
    for (int i = 0; i < g->n_order; i++)
        flops += qb_node_flops(g, &g->nodes[g->order[i]]);
    if (json)
        print_json(g, sha, counts, n_ops, flops);
    else
        print_text(g, sha, counts, n_ops, flops);
    free(counts);
out:
    qb_graph_free(g);
    qb_cli_preset_free(&preset);
    return qb_cli_exit_code(st);
}
