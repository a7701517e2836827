/* Plan options of the command line (tui/cli_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_plan.h"
#include "core/calib.h"

static const struct {
    const char *opt;
    enum qb_prec base;
} base_opts[] = {
    {.opt = "--int8", .base = QB_PREC_INT8},
    {.opt = "--fp16", .base = QB_PREC_FP16},
    {.opt = "--fp32", .base = QB_PREC_FP32},
};

static const char *const rule_opts[QB_PLAN_RULE_COUNT] = {
    [QB_PLAN_FP16_OP] = "--fp16-op",
    [QB_PLAN_FP16_NODE] = "--fp16-node",
    [QB_PLAN_INT8_NODE] = "--int8-node",
};

static int fail(const char *msg)
{
    fprintf(stderr, "qbench: %s\n", msg);
    return -1;
}

/* --plan FILE: the file's default and op-set, the rules of both. */
static int load_plan(const char *path, struct qb_plan_spec *s)
{
    struct qb_plan_spec t;
    struct qb_error err = {0};
    int r = 1;

    if (s->path)
        return fail("give --plan once");
    if (s->base_given)
        return fail("--plan and --int8/--fp16/--fp32 exclude each other (the plan file sets the default)");
    if (s->op_set_given)
        return fail("--plan and --op-set exclude each other (the plan file sets the op-set)");
    if (qb_plan_load(path, &t, &err) != QB_OK) {
        r = fail(err.msg);
        goto out;
    }
    for (int i = 0; i < s->n_rules; i++)
        if (qb_plan_spec_add(&t, s->rules[i].kind, s->rules[i].pattern, s->rules[i].origin, &err) != QB_OK) {
            r = fail(err.msg);
            goto out;
        }
    if (s->n_rules)
        t.file_hash[0] = '\0'; /* the options change what the file resolved to */
    qb_plan_spec_free(s);
    *s = t;
    memset(&t, 0, sizeof(t));
out:
    qb_plan_spec_free(&t);
    return r;
}

int qb_cli_plan_opt(int argc, char **argv, int *i, struct qb_plan_spec *s)
{
    const char *a = argv[*i], *v;
    struct qb_error err = {0};

    for (size_t k = 0; k < sizeof(base_opts) / sizeof(base_opts[0]); k++) {
        if (strcmp(a, base_opts[k].opt) != 0)
            continue;
        if (s->path)
            return fail("--plan and --int8/--fp16/--fp32 exclude each other (the plan file sets the default)");
        if (s->base_given && s->base != base_opts[k].base)
            return fail("give one of --int8, --fp16, --fp32");
        s->base = base_opts[k].base;
        s->base_given = true;
        return 1;
    }
    int kind = -1;
    for (int k = 0; k < QB_PLAN_RULE_COUNT; k++)
        if (strcmp(a, rule_opts[k]) == 0)
            kind = k;
    if (kind < 0 && strcmp(a, "--plan") != 0 && strcmp(a, "--op-set") != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "qbench: %s needs a value\n", a);
        return -1;
    }
    v = argv[++*i];
    if (strcmp(a, "--plan") == 0)
        return load_plan(v, s);
    if (kind >= 0) {
        if (qb_plan_spec_add(s, (enum qb_plan_rule_kind)kind, v, a, &err) != QB_OK)
            return fail(err.msg);
        s->file_hash[0] = '\0';
        return 1;
    }
    if (s->path)
        return fail("--plan and --op-set exclude each other (the plan file sets the op-set)");
    if (s->op_set_given)
        return fail("give --op-set once (widen a set with '+': modelopt+Sigmoid)");
    if (qb_plan_spec_set_op_set(s, v, "--op-set", &err) != QB_OK)
        return fail(err.msg);
    s->op_set_given = true;
    return 1;
}

int qb_cli_plan_finish(const struct qb_plan_spec *s)
{
    if (s->n_rules && !s->base_given)
        return fail("--fp16-op, --fp16-node and --int8-node need --int8, --fp16 or --plan");
    if (s->n_rules && s->base == QB_PREC_FP32)
        return fail("the FP32 reference (--fp32) takes no --fp16-op, --fp16-node or --int8-node");
    if (s->op_set_given && !s->path && s->base != QB_PREC_INT8)
        return fail("--op-set needs --int8");
    return 0;
}

/* What decided node i: a rule, or the default. */
static const char *decided_by(const struct qb_plan_spec *s, const struct qb_graph *g, const int *why, int i,
                              char *buf, size_t len)
{
    const struct qb_node *n = &g->nodes[i];
    if (why && why[i] >= 0) {
        snprintf(buf, len, "%s %s", qb_plan_rule_name(s->rules[why[i]].kind), s->rules[why[i]].pattern);
    } else if (s->base != QB_PREC_INT8) {
        snprintf(buf, len, "default %s", qb_plan_prec_name(s->base));
    } else if (!qb_plan_op_set_has(s->op_set, n->op_type)) {
        snprintf(buf, len, "not in the op-set");
    } else if (!qb_plan_node_int8_capable(g, n)) {
        snprintf(buf, len, "op-set, but no float data");
    } else {
        snprintf(buf, len, "op-set %s", s->op_set ? s->op_set : "core");
    }
    return buf;
}

void qb_cli_plan_print(FILE *f, const struct qb_plan_spec *s, const struct qb_graph *g, const enum qb_prec *prec,
                       const int *why, bool verbose)
{
    char line[2048];
    const char *note = qb_plan_note(s);
    int w_name = 4, w_op = 2;

    fprintf(f, "%s\n", qb_plan_summary(s, g, prec, line, sizeof(line)));
    if (note)
        fprintf(f, "note: %s\n", note);
    if (!verbose)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        int ln = (int)strlen(g->nodes[i].name), lo = (int)strlen(g->nodes[i].op_type);
        if (g->nodes[i].folded)
            continue;
        w_name = ln > w_name ? (ln < 60 ? ln : 60) : w_name;
        w_op = lo > w_op ? (lo < 20 ? lo : 20) : w_op;
    }
    fprintf(f, "%6s  %-*s  %-*s  %-9s  %s\n", "#", w_name, "name", w_op, "op", "precision", "decided by");
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].folded)
            continue;
        fprintf(f, "%6d  %-*s  %-*s  %-9s  %s\n", i, w_name, g->nodes[i].name, w_op, g->nodes[i].op_type,
                qb_plan_prec_name(prec[i]), decided_by(s, g, why, i, line, sizeof(line)));
    }
}

enum qb_status qb_cli_plan_resolve(const struct qb_graph *g, const struct qb_plan_spec *s, FILE *f, bool verbose,
                                   enum qb_prec **out)
{
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    enum qb_prec *prec = malloc(((size_t)g->n_nodes + 1) * sizeof(*prec));
    int *why = malloc(((size_t)g->n_nodes + 1) * sizeof(*why));

    *out = NULL;
    if (!prec || !why) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = qb_plan_resolve(s, g, prec, why, &err)) != QB_OK)
        goto out;
    if (f && (s->base_given || s->n_rules))
        qb_cli_plan_print(f, s, g, prec, why, verbose);
    if (s->base != QB_PREC_FP32) {
        *out = prec;
        prec = NULL;
    }
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
    free(prec);
    free(why);
    return st;
}

enum qb_status qb_cli_plan_amax(const struct qb_graph *g, const char *model, const char *calib,
                                const enum qb_prec *prec, float **amax, struct qb_error *err)
{
    struct qb_calib_table t = {0};
    char sha[65];
    enum qb_status st;
    int n_int8 = 0;

    *amax = NULL;
    for (int i = 0; prec && i < g->n_order; i++)
        n_int8 += prec[g->order[i]] == QB_PREC_INT8;
    if (!n_int8)
        return QB_OK;
    if (!calib)
        return qb_errorf(err, QB_ERR_USAGE, "the plan runs %d nodes in INT8: give their calibration with --calib "
                         "C.json (made by qbench calib)", n_int8);
    if (!(*amax = malloc((size_t)g->n_values * sizeof(float))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if ((st = qb_calib_file_sha256(model, sha, err)) == QB_OK &&
        (st = qb_calib_table_load(calib, sha, &t, err)) == QB_OK)
        st = qb_calib_table_amax(&t, g, prec, *amax, err);
    qb_calib_table_free(&t);
    if (st != QB_OK) {
        free(*amax);
        *amax = NULL;
    }
    return st;
}

enum qb_status qb_cli_plan_exec(const struct qb_graph *g, const char *model, const struct qb_plan_spec *plan,
                                const char *calib, const struct qb_cli_model_opts *mo, FILE *f, enum qb_prec **prec,
                                float **amax, struct qb_executor **e, struct qb_error *err)
{
    enum qb_status st;
    *amax = NULL;
    *e = NULL;
    if ((st = qb_cli_plan_resolve(g, plan, f, false, prec)) != QB_OK)
        return qb_errorf(err, st, "the plan does not fit %s (see above)", model);
    if ((st = qb_cli_plan_amax(g, model, calib, *prec, amax, err)) != QB_OK)
        return st;
    return qb_exec_new(g, &(struct qb_exec_opts){.device = mo->device, .n_threads = mo->threads, .prec = *prec,
                                                 .amax = *amax},
                       e, err);
}
