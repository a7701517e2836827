/* Precision plans: specs, op-sets, resolving against a graph, the plan hash and
 * the summary line (core/plan.h). Plan files: core/plan_file.c. */
#include <regex.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "op.h"
#include "plan.h"
#include "plan_internal.h"

static const char *const rule_names[QB_PLAN_RULE_COUNT] = {
    [QB_PLAN_FP16_OP] = "fp16-op",
    [QB_PLAN_FP16_NODE] = "fp16-node",
    [QB_PLAN_INT8_NODE] = "int8-node",
};

static const char *const prec_names[] = {
    [QB_PREC_FP32] = "fp32",
    [QB_PREC_FP16] = "fp16",
    [QB_PREC_INT8] = "int8",
};
_Static_assert(sizeof(prec_names) / sizeof(prec_names[0]) == QB_PREC_INT8 + 1, "a name per precision");

const char *qb_plan_rule_name(enum qb_plan_rule_kind k)
{
    return (unsigned)k < QB_PLAN_RULE_COUNT ? rule_names[k] : "?";
}

const char *qb_plan_prec_name(enum qb_prec p)
{
    return (unsigned)p <= QB_PREC_INT8 ? prec_names[p] : "?";
}

#define RE_PREFIX "re:"
#define RE_PREFIX_LEN 3

static bool is_regex(const char *pattern)
{
    return strncmp(pattern, RE_PREFIX, RE_PREFIX_LEN) == 0;
}

/* How messages name a setting: "op-set 'x'" (no origin), "--op-set 'x'" (an option),
 * "plan.json: $.op_set: op-set 'x'" (a file). */
static const char *label(const char *origin, const char *what, const char *value, char *buf, size_t len)
{
    if (!origin)
        snprintf(buf, len, "%s '%s'", what, value);
    else if (strncmp(origin, "--", 2) == 0)
        snprintf(buf, len, "%s '%s'", origin, value);
    else
        snprintf(buf, len, "%s: %s '%s'", origin, what, value);
    return buf;
}

#define LABEL_LEN 1400

/* Op-sets ----------------------------------------------------------------------- */

static const char *const core_ops[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", NULL};
/* ModelOpt's ONNX PTQ default quantizable types (its per-pattern choices aside). */
static const char *const modelopt_ops[] = {"Add",     "AveragePool",   "BatchNormalization", "Clip",
                                           "Conv",    "ConvTranspose", "Gemm",               "GlobalAveragePool",
                                           "MatMul",  "MaxPool",       "Mul",                NULL};

static const struct {
    const char *name;
    const char *const *ops;
} op_sets[] = {
    {.name = "core", .ops = core_ops},
    {.name = "modelopt", .ops = modelopt_ops},
};

const char *const *qb_plan_op_set_named(const char *name)
{
    for (size_t i = 0; i < sizeof(op_sets) / sizeof(op_sets[0]); i++)
        if (strcmp(op_sets[i].name, name) == 0)
            return op_sets[i].ops;
    return NULL;
}

/* Calls fn on each '+'-separated item of op_set (spaces around items ignored) until
 * it returns non-zero; returns that value. An empty item is passed as "". */
static int each_item(const char *op_set, int (*fn)(const char *item, void *user), void *user)
{
    const char *p = op_set ? op_set : "core";
    for (;;) {
        char item[128];
        size_t n = strcspn(p, "+");
        const char *a = p, *b = p + n;
        int r;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if ((size_t)(b - a) >= sizeof(item))
            b = a + sizeof(item) - 1;
        memcpy(item, a, (size_t)(b - a));
        item[b - a] = '\0';
        if ((r = fn(item, user)) != 0)
            return r;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

struct check_ctx {
    const char *label;
    struct qb_error *err;
    enum qb_status st;
};

static int check_item(const char *item, void *user)
{
    struct check_ctx *c = user;
    if (!*item)
        c->st = qb_errorf(c->err, QB_ERR_USAGE, "%s: empty item (write SET+OP+OP, e.g. core+Resize)", c->label);
    else if (!qb_plan_op_set_named(item) && !qb_op_known(item))
        c->st = qb_errorf(c->err, QB_ERR_USAGE,
                          "%s: '%s' is neither a named set (core, modelopt) nor an op type qbench runs", c->label,
                          item);
    return c->st != QB_OK;
}

static enum qb_status check_op_set(const char *op_set, const char *origin, struct qb_error *err)
{
    char buf[LABEL_LEN];
    struct check_ctx c = {.label = label(origin, "op-set", op_set ? op_set : "core", buf, sizeof(buf)),
                          .err = err,
                          .st = QB_OK};
    each_item(op_set, check_item, &c);
    return c.st;
}

enum qb_status qb_plan_op_set_check(const char *op_set, struct qb_error *err)
{
    return check_op_set(op_set, NULL, err);
}

static int has_item(const char *item, void *user)
{
    const char *op = user;
    const char *const *named = qb_plan_op_set_named(item);
    if (!named)
        return strcmp(item, op) == 0;
    for (; *named; named++)
        if (strcmp(*named, op) == 0)
            return 1;
    return 0;
}

bool qb_plan_op_set_has(const char *op_set, const char *op_type)
{
    return each_item(op_set, has_item, (void *)op_type) != 0;
}

static bool is_float(enum qb_dtype t)
{
    return t == QB_DTYPE_F32 || t == QB_DTYPE_F16;
}

bool qb_plan_node_int8_capable(const struct qb_graph *g, const struct qb_node *n)
{
    bool in = false, out = false;
    for (int k = 0; k < n->n_in; k++) {
        const struct qb_value *v = qb_node_in(g, n, k);
        in |= v && is_float(v->dtype) && !(v->flags & QB_VALUE_CONST);
    }
    for (int k = 0; k < n->n_out; k++) {
        const struct qb_value *v = qb_node_out(g, n, k);
        out |= v && is_float(v->dtype);
    }
    return in && out;
}

/* Specs --------------------------------------------------------------------------- */

void qb_plan_spec_init(struct qb_plan_spec *s, enum qb_prec base)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
}

void qb_plan_spec_free(struct qb_plan_spec *s)
{
    for (int i = 0; i < s->n_rules; i++) {
        free(s->rules[i].pattern);
        free(s->rules[i].origin);
    }
    free(s->rules);
    free(s->op_set);
    free(s->op_set_origin);
    free(s->path);
    memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *s, bool *fail)
{
    char *d = s ? strdup(s) : NULL;
    *fail |= s && !d;
    return d;
}

enum qb_status qb_plan_spec_set_op_set(struct qb_plan_spec *s, const char *op_set, const char *origin,
                                       struct qb_error *err)
{
    bool fail = false;
    char *set, *org;
    enum qb_status st = check_op_set(op_set, origin, err);
    if (st != QB_OK)
        return st;
    set = dup_or_null(op_set, &fail);
    org = dup_or_null(origin, &fail);
    if (fail) {
        free(set);
        free(org);
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    free(s->op_set);
    free(s->op_set_origin);
    s->op_set = set;
    s->op_set_origin = org;
    return QB_OK;
}

static enum qb_status check_rule(const struct qb_plan_spec *s, enum qb_plan_rule_kind kind, const char *pattern,
                                 const char *origin, struct qb_error *err)
{
    char what[LABEL_LEN];
    if ((unsigned)kind >= QB_PLAN_RULE_COUNT)
        return qb_errorf(err, QB_ERR_INTERNAL, "bad rule kind %d", (int)kind);
    label(origin, rule_names[kind], pattern, what, sizeof(what));
    if (!*pattern)
        return qb_errorf(err, QB_ERR_USAGE, "%s: empty name", what);
    if (kind == QB_PLAN_FP16_OP) {
        if (!qb_op_known(pattern))
            return qb_errorf(err, QB_ERR_USAGE, "%s: not an op type qbench runs (op types are ONNX names such as "
                             "Conv, Sigmoid; the case matters)", what);
        return QB_OK;
    }
    if (is_regex(pattern)) {
        regex_t re;
        char why[128];
        if (qb_plan_regex_problem(pattern + RE_PREFIX_LEN, why, sizeof(why)))
            return qb_errorf(err, QB_ERR_USAGE, "%s: regular expression too costly to compile (%s)", what, why);
        int rc = regcomp(&re, pattern + RE_PREFIX_LEN, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &re, msg, sizeof(msg));
            return qb_errorf(err, QB_ERR_USAGE, "%s: bad regular expression: %s", what, msg);
        }
        regfree(&re);
        if (!pattern[RE_PREFIX_LEN])
            return qb_errorf(err, QB_ERR_USAGE, "%s: empty regular expression", what);
        return QB_OK;
    }
    for (int i = 0; i < s->n_rules; i++) {
        const struct qb_plan_rule *r = &s->rules[i];
        if (r->kind != QB_PLAN_FP16_OP && r->kind != kind && strcmp(r->pattern, pattern) == 0)
            return qb_errorf(err, QB_ERR_USAGE, "%s: the node is also named by %s%s%s; give each node one "
                             "precision", what, rule_names[r->kind], r->origin ? " at " : "",
                             r->origin ? r->origin : "");
    }
    return QB_OK;
}

enum qb_status qb_plan_spec_add(struct qb_plan_spec *s, enum qb_plan_rule_kind kind, const char *pattern,
                                const char *origin, struct qb_error *err)
{
    enum qb_status st;
    struct qb_plan_rule r = {.kind = kind};
    bool fail = false;

    if ((st = check_rule(s, kind, pattern, origin, err)) != QB_OK)
        return st;
    for (int i = 0; i < s->n_rules; i++)
        if (s->rules[i].kind == kind && strcmp(s->rules[i].pattern, pattern) == 0)
            return QB_OK;
    if (s->n_rules == s->cap_rules) {
        int cap = s->cap_rules ? 2 * s->cap_rules : 16;
        struct qb_plan_rule *p = realloc(s->rules, (size_t)cap * sizeof(*p));
        if (!p)
            return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        s->rules = p;
        s->cap_rules = cap;
    }
    r.pattern = dup_or_null(pattern, &fail);
    r.origin = dup_or_null(origin, &fail);
    if (fail) {
        free(r.pattern);
        free(r.origin);
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    }
    s->rules[s->n_rules++] = r;
    return QB_OK;
}

/* Resolving ----------------------------------------------------------------------- */

static const char *rule_label(const struct qb_plan_rule *r, char *buf, size_t len)
{
    return label(r->origin, rule_names[r->kind], r->pattern, buf, len);
}

struct resolve {
    const struct qb_plan_spec *s;
    const struct qb_graph *g;
    regex_t *re;        /* per rule, compiled when is_re[i] */
    bool *is_re;
    int *hits;          /* runtime nodes each rule matched (int8 regexes: the capable ones) */
    int *skipped;       /* int8-node regexes: matched nodes that cannot run INT8 */
    int *first_skipped; /* and the first of them */
};

static bool rule_matches(const struct resolve *r, int i, const struct qb_node *n)
{
    const struct qb_plan_rule *rule = &r->s->rules[i];
    if (rule->kind == QB_PLAN_FP16_OP)
        return strcmp(rule->pattern, n->op_type) == 0;
    if (r->is_re[i])
        return regexec(&r->re[i], n->name, 0, NULL, 0) == 0;
    return strcmp(rule->pattern, n->name) == 0;
}

/* One node through the precedence levels, lowest first; later levels override. */
static enum qb_status resolve_node(struct resolve *r, int ni, enum qb_prec *prec, int *why, struct qb_error *err)
{
    const struct qb_graph *g = r->g;
    const struct qb_plan_spec *s = r->s;
    const struct qb_node *n = &g->nodes[ni];
    bool capable = qb_plan_node_int8_capable(g, n);
    enum qb_prec p = s->base == QB_PREC_INT8 && capable && qb_plan_op_set_has(s->op_set, n->op_type)
                         ? QB_PREC_INT8
                         : QB_PREC_FP16;
    int w = -1;
    char what[LABEL_LEN];

    for (int level = 3; level >= 1; level--)
        for (int pass = 0; pass < 2; pass++) /* FP16 first, so INT8 wins within a level */
            for (int i = 0; i < s->n_rules; i++) {
                const struct qb_plan_rule *rule = &s->rules[i];
                int rule_level = rule->kind == QB_PLAN_FP16_OP ? 3 : r->is_re[i] ? 2 : 1;
                bool int8 = rule->kind == QB_PLAN_INT8_NODE;
                if (rule_level != level || int8 != (pass == 1) || !rule_matches(r, i, n))
                    continue;
                if (int8 && !capable) {
                    if (!r->is_re[i])
                        return qb_errorf(err, QB_ERR_USAGE,
                                         "%s: node '%s' (%s) reads or writes no float data; it cannot run INT8",
                                         rule_label(rule, what, sizeof(what)), n->name, n->op_type);
                    if (!r->skipped[i]++)
                        r->first_skipped[i] = ni;
                    continue;
                }
                r->hits[i]++;
                p = int8 ? QB_PREC_INT8 : QB_PREC_FP16;
                w = i;
            }
    prec[ni] = p;
    if (why)
        why[ni] = w;
    return QB_OK;
}

/* A rule that matched nothing: say why as precisely as we can. */
static enum qb_status unmatched(const struct resolve *r, int i, struct qb_error *err)
{
    const struct qb_graph *g = r->g;
    const struct qb_plan_rule *rule = &r->s->rules[i];
    char what[LABEL_LEN];

    rule_label(rule, what, sizeof(what));
    if (r->skipped[i])
        return qb_errorf(err, QB_ERR_USAGE,
                         "%s: matches only nodes that read or write no float data (such as '%s', %s); "
                         "none can run INT8", what, g->nodes[r->first_skipped[i]].name,
                         g->nodes[r->first_skipped[i]].op_type);
    for (int ni = 0; ni < g->n_nodes; ni++)
        if (g->nodes[ni].folded && rule_matches(r, i, &g->nodes[ni]))
            return qb_errorf(err, QB_ERR_USAGE,
                             "%s: matches only nodes folded into constants when %s was loaded (such as '%s'); "
                             "they do not run and have no precision", what, g->path, g->nodes[ni].name);
    if (rule->kind == QB_PLAN_FP16_OP)
        return qb_errorf(err, QB_ERR_USAGE, "%s: %s has no %s node", what, g->path, rule->pattern);
    if (r->is_re[i])
        return qb_errorf(err, QB_ERR_USAGE, "%s: matches no node of %s (the expression must match the whole "
                         "name)", what, g->path);
    for (int ni = 0; ni < g->n_nodes; ni++)
        if (strcasecmp(g->nodes[ni].name, rule->pattern) == 0)
            return qb_errorf(err, QB_ERR_USAGE, "%s: %s has no node of that name (did you mean '%s'?)", what,
                             g->path, g->nodes[ni].name);
    return qb_errorf(err, QB_ERR_USAGE, "%s: %s has no node of that name", what, g->path);
}

struct extra_ctx {
    const struct qb_plan_spec *s;
    const struct qb_graph *g;
    struct qb_error *err;
    enum qb_status st;
};

/* Op types added to the op-set must occur in the model as nodes that can run INT8. */
static int check_extra(const char *item, void *user)
{
    struct extra_ctx *c = user;
    char what[LABEL_LEN];
    bool any = false, capable = false;
    if (qb_plan_op_set_named(item))
        return 0;
    for (int i = 0; i < c->g->n_order; i++) {
        const struct qb_node *n = &c->g->nodes[c->g->order[i]];
        if (strcmp(n->op_type, item) == 0) {
            any = true;
            capable |= qb_plan_node_int8_capable(c->g, n);
        }
    }
    label(c->s->op_set_origin, "op-set", c->s->op_set, what, sizeof(what));
    if (!any)
        c->st = qb_errorf(c->err, QB_ERR_USAGE, "%s: %s has no %s node", what, c->g->path, item);
    else if (!capable)
        c->st = qb_errorf(c->err, QB_ERR_USAGE, "%s: no %s node of %s reads and writes float data", what, item,
                          c->g->path);
    return c->st != QB_OK;
}

enum qb_status qb_plan_resolve(const struct qb_plan_spec *s, const struct qb_graph *g, enum qb_prec *prec,
                               int *why, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    struct resolve r = {.s = s, .g = g};
    size_t n = (size_t)s->n_rules + 1;
    int n_compiled = 0;
    char what[LABEL_LEN];

    if (!g->prepared)
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: plan resolved on an unprepared graph", g->path);
    if (s->base != QB_PREC_FP32 && s->base != QB_PREC_FP16 && s->base != QB_PREC_INT8)
        return qb_errorf(err, QB_ERR_INTERNAL, "plan with a bad default (%d)", (int)s->base);
    if (s->base == QB_PREC_FP32 && s->n_rules)
        return qb_errorf(err, QB_ERR_USAGE, "%s: the FP32 reference takes no rules (give an int8 or fp16 default)",
                         rule_label(&s->rules[0], what, sizeof(what)));
    if ((st = check_op_set(s->op_set, s->op_set_origin, err)) != QB_OK)
        return st;
    r.re = calloc(n, sizeof(*r.re));
    r.is_re = calloc(n, sizeof(*r.is_re));
    r.hits = calloc(n, sizeof(*r.hits));
    r.skipped = calloc(n, sizeof(*r.skipped));
    r.first_skipped = calloc(n, sizeof(*r.first_skipped));
    if (!r.re || !r.is_re || !r.hits || !r.skipped || !r.first_skipped) {
        st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (; n_compiled < s->n_rules; n_compiled++) {
        const struct qb_plan_rule *rule = &s->rules[n_compiled];
        char *anchored;
        int rc;
        if (rule->kind == QB_PLAN_FP16_OP || !is_regex(rule->pattern))
            continue;
        /* the expression alone was checked by qb_plan_spec_add; anchor it to the whole name */
        if (!(anchored = malloc(strlen(rule->pattern) + 8))) {
            st = qb_errorf(err, QB_ERR_NOMEM, "out of memory");
            goto out;
        }
        sprintf(anchored, "^(%s)$", rule->pattern + RE_PREFIX_LEN);
        rc = regcomp(&r.re[n_compiled], anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc != 0) {
            st = qb_errorf(err, QB_ERR_USAGE, "%s: bad regular expression",
                           rule_label(rule, what, sizeof(what)));
            goto out;
        }
        r.is_re[n_compiled] = true;
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        if (g->nodes[ni].folded || s->base == QB_PREC_FP32) {
            prec[ni] = QB_PREC_FP32;
            if (why)
                why[ni] = -1;
        } else if ((st = resolve_node(&r, ni, prec, why, err)) != QB_OK) {
            goto out;
        }
    }
    for (int i = 0; i < s->n_rules; i++)
        if (!r.hits[i]) {
            st = unmatched(&r, i, err);
            goto out;
        }
    if (s->base == QB_PREC_INT8) {
        struct extra_ctx c = {.s = s, .g = g, .err = err, .st = QB_OK};
        each_item(s->op_set, check_extra, &c);
        if ((st = c.st) != QB_OK)
            goto out;
    }
    if (s->file_hash[0]) {
        char hex[65];
        qb_plan_hash(g, prec, hex);
        if (strcmp(hex, s->file_hash) != 0)
            qb_log(QB_LOG_WARN, "%s: resolves to plan %.12s on %s; the file recorded %.12s (another model, or "
                   "the rules changed)", s->path ? s->path : "plan", hex, g->path, s->file_hash);
    }
out:
    for (int i = 0; i < n_compiled; i++)
        if (r.is_re && r.is_re[i])
            regfree(&r.re[i]);
    free(r.re);
    free(r.is_re);
    free(r.hits);
    free(r.skipped);
    free(r.first_skipped);
    return st;
}

void qb_plan_hash(const struct qb_graph *g, const enum qb_prec *prec, char hex[65])
{
    SHA2_CTX ctx;
    SHA256Init(&ctx);
    for (int i = 0; i < g->n_nodes; i++) {
        const char *p = qb_plan_prec_name(prec[i]);
        if (g->nodes[i].folded)
            continue;
        SHA256Update(&ctx, (const uint8_t *)g->nodes[i].name, strlen(g->nodes[i].name) + 1);
        SHA256Update(&ctx, (const uint8_t *)p, strlen(p));
        SHA256Update(&ctx, (const uint8_t *)"\n", 1);
    }
    SHA256End(&ctx, hex);
}

/* Printing ------------------------------------------------------------------------ */

struct op_count {
    const char *op;
    int n;
};

static int by_count(const void *a, const void *b)
{
    const struct op_count *x = a, *y = b;
    return x->n != y->n ? y->n - x->n : strcmp(x->op, y->op);
}

/* "Conv 84, MatMul 2" at buf + *pos for the INT8 nodes (want 0) or the op-set members
 * kept in FP16 by rules (want 1); returns their count. */
static int list_ops(const struct qb_graph *g, const struct qb_plan_spec *s, const enum qb_prec *prec, int want,
                    char *buf, size_t len, size_t *pos)
{
    struct op_count *c = calloc((size_t)g->n_order + 1, sizeof(*c));
    int n_c = 0, total = 0;
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        enum qb_prec p = prec[g->order[i]];
        bool kept = p == QB_PREC_FP16 && s->base == QB_PREC_INT8 && qb_plan_op_set_has(s->op_set, n->op_type) &&
                    qb_plan_node_int8_capable(g, n);
        bool in = want == 0 ? p == QB_PREC_INT8 : kept;
        int k = 0;
        if (!in)
            continue;
        total++;
        if (!c)
            continue;
        while (k < n_c && strcmp(c[k].op, n->op_type) != 0)
            k++;
        if (k == n_c)
            c[n_c++].op = n->op_type;
        c[k].n++;
    }
    if (c)
        qsort(c, (size_t)n_c, sizeof(*c), by_count);
    for (int k = 0; k < n_c && *pos < len; k++)
        *pos += (size_t)snprintf(buf + *pos, len - *pos, "%s%s %d", k ? ", " : "", c[k].op, c[k].n);
    free(c);
    return total;
}

const char *qb_plan_summary(const struct qb_plan_spec *s, const struct qb_graph *g, const enum qb_prec *prec,
                            char *buf, size_t len)
{
    char hex[65], ops[512], kept[512];
    size_t pos = 0;
    int n_int8, n_kept, n_fp16 = 0;

    qb_plan_hash(g, prec, hex);
    if (s->base == QB_PREC_FP32) {
        snprintf(buf, len, "plan %.12s: FP32 reference, %d nodes", hex, g->n_order);
        return buf;
    }
    n_int8 = list_ops(g, s, prec, 0, ops, sizeof(ops), &pos);
    pos = 0;
    n_kept = list_ops(g, s, prec, 1, kept, sizeof(kept), &pos);
    for (int i = 0; i < g->n_order; i++)
        n_fp16 += prec[g->order[i]] == QB_PREC_FP16;
    pos = (size_t)snprintf(buf, len, "plan %.12s: %d INT8%s%s%s, %d FP16", hex, n_int8, n_int8 ? " (" : "",
                           n_int8 ? ops : "", n_int8 ? ")" : "", n_fp16);
    if (pos < len && s->base == QB_PREC_INT8) {
        if (n_kept)
            pos += (size_t)snprintf(buf + pos, len - pos, " (kept by rules: %s; %d outside the op-set)", kept,
                                    n_fp16 - n_kept);
        else
            pos += (size_t)snprintf(buf + pos, len - pos, " (outside the op-set)");
    }
    if (pos < len)
        snprintf(buf + pos, len - pos, "; %s %s", s->base == QB_PREC_INT8 ? "op-set" : "default",
                 s->base == QB_PREC_INT8 ? (s->op_set ? s->op_set : "core") : "fp16");
    return buf;
}

static int is_modelopt(const char *item, void *user)
{
    (void)user;
    return strcmp(item, "modelopt") == 0;
}

const char *qb_plan_note(const struct qb_plan_spec *s)
{
    if (s->base != QB_PREC_INT8 || !each_item(s->op_set, is_modelopt, NULL))
        return NULL;
    return "op-set modelopt: qbench quantizes every Add, AveragePool, BatchNormalization, Clip, "
           "GlobalAveragePool, MaxPool and Mul node the plan does not exclude, while ModelOpt decides per "
           "graph pattern which of them to quantize; exclude those it leaves in FP16 to match its engine";
}

enum qb_status qb_plan_spec_from_prec(const struct qb_graph *g, const char *op_set, const enum qb_prec *dflt,
                                      const enum qb_prec *prec, struct qb_plan_spec *s, struct qb_error *err)
{
    enum qb_status st = QB_OK;
    qb_plan_spec_init(s, QB_PREC_INT8);
    s->base_given = true;
    if (op_set)
        st = qb_plan_spec_set_op_set(s, op_set, NULL, err);
    for (int k = 0; k < g->n_nodes && st == QB_OK; k++) {
        bool int8 = prec[k] == QB_PREC_INT8;
        if (g->nodes[k].folded || int8 == (dflt[k] == QB_PREC_INT8))
            continue;
        st = qb_plan_spec_add(s, int8 ? QB_PLAN_INT8_NODE : QB_PLAN_FP16_NODE, g->nodes[k].name, NULL, err);
    }
    return st;
}
