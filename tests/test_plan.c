/* Precision plans: op-sets, rules and their precedence, errors for rules that match
 * nothing, the plan hash, plan files (JSON and text) and the command-line options. */
#include <sha2.h>

#include "core/onnx.h"
#include "core/op.h"
#include "core/plan.h"
#include "testutil.h"
#include "testutil_graph.h"
/* the option parser is a thin layer over core/plan.h; test it here too */
#include "tui/cli_plan.c"

static const char *tmpdir;

static struct qb_graph *load(const char *name, bool fix_shape)
{
    struct qb_graph *g = NULL;
    struct qb_error err = {0};
    char path[4096];
    const char *src = getenv("QB_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/data/%s", src ? src : ".", name);
    if (qb_onnx_load(path, &g, &err) != QB_OK ||
        (fix_shape && qb_graph_set_input_shape(g, "images", 4, (const int64_t[]){2, 3, 320, 320}, &err) != QB_OK) ||
        qb_graph_prepare(g, &err) != QB_OK) {
        CHECKF(0, "%s: %s", name, err.msg);
        qb_graph_free(g);
        return NULL;
    }
    return g;
}

/* A spec from a default, an op-set (NULL: none) and "kind:pattern" rules ("o:" fp16-op,
 * "f:" fp16-node, "i:" int8-node), NULL-terminated. */
static enum qb_status spec_of(struct qb_plan_spec *s, enum qb_prec base, const char *op_set, const char *const *rules,
                              struct qb_error *err)
{
    enum qb_status st = QB_OK;
    qb_plan_spec_init(s, base);
    if (op_set)
        st = qb_plan_spec_set_op_set(s, op_set, NULL, err);
    for (int i = 0; st == QB_OK && rules && rules[i]; i++) {
        enum qb_plan_rule_kind k = rules[i][0] == 'o' ? QB_PLAN_FP16_OP
                                   : rules[i][0] == 'f' ? QB_PLAN_FP16_NODE
                                                        : QB_PLAN_INT8_NODE;
        st = qb_plan_spec_add(s, k, rules[i] + 2, NULL, err);
    }
    return st;
}

struct res {
    enum qb_status st;
    enum qb_prec *prec;
    int *why;
    int n[QB_PREC_INT8 + 1];
    char hash[65];
    struct qb_error err;
};

static struct res resolve(const struct qb_graph *g, enum qb_prec base, const char *op_set, const char *const *rules)
{
    struct res r = {0};
    struct qb_plan_spec s;
    r.prec = calloc((size_t)g->n_nodes, sizeof(*r.prec));
    r.why = calloc((size_t)g->n_nodes, sizeof(*r.why));
    r.st = spec_of(&s, base, op_set, rules, &r.err);
    if (r.st == QB_OK)
        r.st = qb_plan_resolve(&s, g, r.prec, r.why, &r.err);
    if (r.st == QB_OK) {
        for (int i = 0; i < g->n_order; i++)
            r.n[r.prec[g->order[i]]]++;
        qb_plan_hash(g, r.prec, r.hash);
    }
    qb_plan_spec_free(&s);
    return r;
}

static void res_free(struct res *r)
{
    free(r->prec);
    free(r->why);
}

static int node_index(const struct qb_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return i;
    CHECKF(0, "the test model has no node '%s'", name);
    return 0;
}

static int count_op(const struct qb_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_order; i++)
        n += strcmp(g->nodes[g->order[i]].op_type, op) == 0;
    return n;
}

/* the status is st and the message holds every needle */
static void expect_error(const struct res *r, enum qb_status st, const char *what, const char *n1, const char *n2)
{
    CHECKF(r->st == st && strstr(r->err.msg, n1) && (!n2 || strstr(r->err.msg, n2)), "%s: status %d, '%s'", what,
           r->st, r->err.msg);
}

static void test_op_sets(const struct qb_graph *g)
{
    /* core is what the ops register as QB_OP_QUANTIZABLE */
    const char *const *core = qb_plan_op_set_named("core");
    int n_flagged = 0, n_core = 0;
    for (int i = 0; qb_op_at(i); i++) {
        const struct qb_op_def *d = qb_op_at(i);
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= strcmp(qb_op_at(j)->name, d->name) == 0;
        if (dup)
            continue;
        n_flagged += !!(d->flags & QB_OP_QUANTIZABLE);
        CHECKF(!!(d->flags & QB_OP_QUANTIZABLE) == qb_plan_op_set_has("core", d->name), "core op-set vs flag: %s",
               d->name);
    }
    for (; core && core[n_core]; n_core++)
        ;
    CHECKF(n_core == 4 && n_flagged == 4, "core has %d types, %d flagged", n_core, n_flagged);
    CHECK(qb_plan_op_set_has("modelopt", "MaxPool") && qb_plan_op_set_has("modelopt", "BatchNormalization"));
    CHECK(!qb_plan_op_set_has("modelopt", "Sigmoid") && qb_plan_op_set_has("modelopt + Sigmoid", "Sigmoid"));
    CHECK(qb_plan_op_set_has("core+Resize+Concat", "Concat") && !qb_plan_op_set_has("core+Resize+Concat", "Add"));
    CHECK(qb_plan_op_set_has(NULL, "Conv") && !qb_plan_op_set_has(NULL, "Mul"));

    /* yolo11n-tiny: 88 Conv, 2 MatMul, 79 Mul, 16 Add, 3 MaxPool, all reading float */
    struct res c = resolve(g, QB_PREC_INT8, NULL, NULL);
    struct res m = resolve(g, QB_PREC_INT8, "modelopt", NULL);
    struct res w = resolve(g, QB_PREC_INT8, "modelopt+Sigmoid", NULL);
    struct res h = resolve(g, QB_PREC_FP16, NULL, NULL);
    struct res r = resolve(g, QB_PREC_FP32, NULL, NULL);
    CHECKF(c.st == QB_OK && c.n[QB_PREC_INT8] == 90 && c.n[QB_PREC_FP16] == g->n_order - 90, "core: %d INT8 (%s)",
           c.n[QB_PREC_INT8], c.err.msg);
    CHECKF(m.st == QB_OK && m.n[QB_PREC_INT8] == 88 + 2 + 79 + 16 + 3, "modelopt: %d INT8 (%s)", m.n[QB_PREC_INT8],
           m.err.msg);
    CHECKF(w.st == QB_OK && w.n[QB_PREC_INT8] == m.n[QB_PREC_INT8] + count_op(g, "Sigmoid"), "modelopt+Sigmoid: %d",
           w.n[QB_PREC_INT8]);
    CHECKF(h.st == QB_OK && h.n[QB_PREC_FP16] == g->n_order, "fp16: %d FP16", h.n[QB_PREC_FP16]);
    CHECKF(r.st == QB_OK && r.n[QB_PREC_FP32] == g->n_order, "fp32: %d FP32", r.n[QB_PREC_FP32]);
    bool ok = true;
    for (int i = 0; c.st == QB_OK && i < g->n_nodes; i++) {
        const char *op = g->nodes[i].op_type;
        bool q = strcmp(op, "Conv") == 0 || strcmp(op, "MatMul") == 0;
        ok &= c.prec[i] == (q ? QB_PREC_INT8 : QB_PREC_FP16) && c.why[i] == -1;
    }
    CHECKF(ok, "core: exactly the Conv and MatMul nodes INT8, decided by the default");

    char line[1024];
    struct qb_plan_spec s;
    spec_of(&s, QB_PREC_INT8, NULL, NULL, NULL);
    qb_plan_summary(&s, g, c.prec, line, sizeof(line));
    CHECKF(strncmp(line, "plan ", 5) == 0 && strncmp(line + 5, c.hash, 12) == 0 &&
               strstr(line, ": 90 INT8 (Conv 88, MatMul 2), 229 FP16 (outside the op-set); op-set core"),
           "summary: %s", line);
    CHECKF(qb_plan_note(&s) == NULL, "no ModelOpt note for core");
    qb_plan_spec_free(&s);
    spec_of(&s, QB_PREC_INT8, "modelopt", (const char *const[]){"f:/model.0/conv/Conv", NULL}, NULL);
    CHECKF(qb_plan_resolve(&s, g, m.prec, NULL, NULL) == QB_OK, "resolves");
    qb_plan_summary(&s, g, m.prec, line, sizeof(line));
    CHECKF(strstr(line, ": 187 INT8 (Conv 87, Mul 79, Add 16, MaxPool 3, MatMul 2), 132 FP16 (kept by rules: Conv 1; "
                        "131 outside the op-set); op-set modelopt"),
           "summary: %s", line);
    CHECKF(qb_plan_note(&s) && strstr(qb_plan_note(&s), "ModelOpt decides per graph pattern"), "ModelOpt note");
    qb_plan_spec_free(&s);
    spec_of(&s, QB_PREC_FP32, NULL, NULL, NULL);
    qb_plan_summary(&s, g, r.prec, line, sizeof(line));
    CHECKF(strstr(line, ": FP32 reference, 319 nodes"), "summary: %s", line);
    qb_plan_spec_free(&s);
    printf("ok   op-sets: core %d INT8, modelopt %d, modelopt+Sigmoid %d of %d nodes\n", c.n[QB_PREC_INT8],
           m.n[QB_PREC_INT8], w.n[QB_PREC_INT8], g->n_order);
    res_free(&c);
    res_free(&m);
    res_free(&w);
    res_free(&h);
    res_free(&r);
}

static void test_rules(const struct qb_graph *g)
{
    const char *head = "re:/model\\.23/.*";
    int n23 = 0, n23_conv = 0;
    for (int i = 0; i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        if (strncmp(n->name, "/model.23/", 10) == 0) {
            n23++;
            n23_conv += strcmp(n->op_type, "Conv") == 0;
        }
    }
    CHECKF(n23 == 83 && n23_conv == 25, "model.23 has %d nodes, %d Conv", n23, n23_conv);

    /* fp16-op: Mul out of modelopt */
    struct res r = resolve(g, QB_PREC_INT8, "modelopt", (const char *const[]){"o:Mul", NULL});
    int mul = node_index(g, "/model.23/Mul");
    CHECKF(r.st == QB_OK && r.n[QB_PREC_INT8] == 88 + 2 + 16 + 3 && r.prec[mul] == QB_PREC_FP16 && r.why[mul] == 0,
           "fp16-op Mul: %d INT8 (%s)", r.n[QB_PREC_INT8], r.err.msg);
    res_free(&r);

    /* exact names, both ways */
    int first = node_index(g, "/model.0/conv/Conv"), sig = node_index(g, "/model.23/Sigmoid");
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:/model.0/conv/Conv", "i:/model.23/Sigmoid", NULL});
    CHECKF(r.st == QB_OK && r.n[QB_PREC_INT8] == 90 && r.prec[first] == QB_PREC_FP16 && r.prec[sig] == QB_PREC_INT8 &&
               r.why[first] == 0 && r.why[sig] == 1,
           "exact fp16-node and int8-node (%s)", r.err.msg);
    res_free(&r);
    r = resolve(g, QB_PREC_FP16, NULL, (const char *const[]){"i:/model.0/conv/Conv", NULL});
    CHECKF(r.st == QB_OK && r.n[QB_PREC_INT8] == 1 && r.prec[first] == QB_PREC_INT8, "int8-node on the FP16 default");
    res_free(&r);

    /* a regex keeping the whole detect head in FP16 */
    char rule[64];
    snprintf(rule, sizeof(rule), "f:%s", head);
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){rule, NULL});
    bool ok = r.st == QB_OK && r.n[QB_PREC_INT8] == 90 - n23_conv;
    for (int i = 0; ok && i < g->n_order; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        bool in23 = strncmp(n->name, "/model.23/", 10) == 0;
        ok = in23 ? r.prec[g->order[i]] == QB_PREC_FP16 && r.why[g->order[i]] == 0 : r.why[g->order[i]] == -1;
    }
    CHECKF(ok, "%s: every /model.23/ node FP16 (%d INT8; %s)", head, r.n[QB_PREC_INT8], r.err.msg);
    res_free(&r);
    /* the example: the last Conv of each box and class branch */
    r = resolve(g, QB_PREC_INT8, NULL,
                (const char *const[]){"f:re:/model\\.23/cv[23]\\.[0-9]+/cv[23]\\.[0-9]+\\.2/Conv", NULL});
    CHECKF(r.st == QB_OK && r.n[QB_PREC_INT8] == 84 && r.prec[node_index(g, "/model.23/cv3.0/cv3.0.2/Conv")] ==
                                                          QB_PREC_FP16,
           "detect head: %d INT8 (%s)", r.n[QB_PREC_INT8], r.err.msg);
    res_free(&r);

    /* anchoring: a prefix alone matches nothing */
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:re:/model\\.23/", NULL});
    expect_error(&r, QB_ERR_USAGE, "unanchored-looking regex", "re:/model\\.23/", "matches no node");
    res_free(&r);
    printf("ok   rules: fp16-op, exact names both ways, %s keeps %d nodes FP16\n", head, n23);
}

static void test_precedence(const struct qb_graph *g)
{
    int cls = node_index(g, "/model.23/cv3.0/cv3.0.2/Conv"), dfl = node_index(g, "/model.23/dfl/conv/Conv");
    int c23 = node_index(g, "/model.23/cv2.0/cv2.0.0/conv/Conv"), c0 = node_index(g, "/model.0/conv/Conv");

    /* exact int8 beats an fp16 regex */
    struct res r = resolve(g, QB_PREC_INT8, NULL,
                           (const char *const[]){"f:re:/model\\.23/.*", "i:/model.23/cv3.0/cv3.0.2/Conv", NULL});
    CHECKF(r.st == QB_OK && r.prec[cls] == QB_PREC_INT8 && r.why[cls] == 1 && r.prec[c23] == QB_PREC_FP16,
           "exact int8-node over an fp16 regex (%s)", r.err.msg);
    res_free(&r);
    /* exact fp16 beats an int8 regex */
    r = resolve(g, QB_PREC_FP16, NULL,
                (const char *const[]){"i:re:/model\\.23/.*Conv", "f:/model.23/dfl/conv/Conv", NULL});
    CHECKF(r.st == QB_OK && r.prec[dfl] == QB_PREC_FP16 && r.why[dfl] == 1 && r.prec[cls] == QB_PREC_INT8 &&
               r.n[QB_PREC_INT8] == 24,
           "exact fp16-node over an int8 regex: %d INT8 (%s)", r.n[QB_PREC_INT8], r.err.msg);
    res_free(&r);
    /* between regexes, int8 wins, whatever the order */
    for (int order = 0; order < 2; order++) {
        const char *a = "f:re:/model\\.23/.*", *b = "i:re:.*/cv3\\..*Conv";
        r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){order ? b : a, order ? a : b, NULL});
        CHECKF(r.st == QB_OK && r.prec[cls] == QB_PREC_INT8 && r.prec[c23] == QB_PREC_FP16 &&
                   r.why[cls] == (order ? 0 : 1),
               "int8 regex over fp16 regex (order %d)", order);
        res_free(&r);
    }
    /* names beat op types: all Conv FP16 except those named INT8 */
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"o:Conv", "i:re:/model\\.0/.*Conv", NULL});
    CHECKF(r.st == QB_OK && r.n[QB_PREC_INT8] == 1 + 2 && r.prec[c0] == QB_PREC_INT8 && r.prec[cls] == QB_PREC_FP16,
           "int8 regex over fp16-op: %d INT8", r.n[QB_PREC_INT8]);
    res_free(&r);
    /* the same name in both lists is a contradiction */
    struct qb_plan_spec s;
    struct qb_error err = {0};
    enum qb_status st = spec_of(&s, QB_PREC_INT8, NULL,
                                (const char *const[]){"f:/model.0/conv/Conv", "i:/model.0/conv/Conv", NULL}, &err);
    CHECKF(st == QB_ERR_USAGE && strstr(err.msg, "also named by fp16-node") && strstr(err.msg, "/model.0/conv/Conv"),
           "same name in both lists: %s", err.msg);
    qb_plan_spec_free(&s);
    printf("ok   precedence: exact names > regexes (int8 > fp16) > fp16-op > op-set\n");
}

static void test_errors(const struct qb_graph *g, const struct qb_graph *dyn)
{
    struct res r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:/model.99/conv/Conv", NULL});
    expect_error(&r, QB_ERR_USAGE, "unknown name", "fp16-node '/model.99/conv/Conv'", "has no node of that name");
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:/model.0/conv/conv", NULL});
    expect_error(&r, QB_ERR_USAGE, "name in the wrong case", "did you mean '/model.0/conv/Conv'?", NULL);
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"i:re:/model\\.99/.*", NULL});
    expect_error(&r, QB_ERR_USAGE, "regex matching nothing", "int8-node 're:/model\\.99/.*'", "matches no node");
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"o:Sigmod", NULL});
    expect_error(&r, QB_ERR_USAGE, "unknown op type", "fp16-op 'Sigmod'", "not an op type");
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"o:ConvTranspose", NULL});
    expect_error(&r, QB_ERR_USAGE, "op type absent from the model", "fp16-op 'ConvTranspose'", "has no ConvTranspose");
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, "core+Gemm", NULL);
    expect_error(&r, QB_ERR_USAGE, "op-set item absent from the model", "op-set 'core+Gemm'", "has no Gemm node");
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, "core+Sigmod", NULL);
    expect_error(&r, QB_ERR_USAGE, "unknown op-set item", "'Sigmod' is neither", NULL);
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, "core++Resize", NULL);
    expect_error(&r, QB_ERR_USAGE, "empty op-set item", "empty item", NULL);
    res_free(&r);
    r = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:re:(/model", NULL});
    expect_error(&r, QB_ERR_USAGE, "bad regex", "bad regular expression", NULL);
    res_free(&r);
    r = resolve(g, QB_PREC_FP32, NULL, (const char *const[]){"f:/model.0/conv/Conv", NULL});
    expect_error(&r, QB_ERR_USAGE, "rules on the reference", "takes no rules", NULL);
    res_free(&r);

    /* folded nodes: FP32, and naming one is an error that says so */
    if (dyn) {
        r = resolve(dyn, QB_PREC_INT8, NULL, NULL);
        int shape = node_index(dyn, "/model.10/m/m.0/attn/Shape");
        CHECKF(r.st == QB_OK && dyn->nodes[shape].folded && r.prec[shape] == QB_PREC_FP32 &&
                   r.n[QB_PREC_INT8] == 90 && dyn->n_order == 319 && dyn->n_nodes == 451,
               "folded nodes stay FP32: %d INT8 (%s)", r.n[QB_PREC_INT8], r.err.msg);
        res_free(&r);
        r = resolve(dyn, QB_PREC_INT8, NULL, (const char *const[]){"f:/model.10/m/m.0/attn/Shape", NULL});
        expect_error(&r, QB_ERR_USAGE, "folded node", "folded into constants", NULL);
        res_free(&r);
    }

    /* INT8 needs float data: a runtime Cast to int64 */
    struct tnode t = {.op = "Cast", .opset = 17, .n_in = 1, .n_out = 1};
    struct qb_graph *cg = NULL;
    struct qb_error err = {0};
    t.in[0] = (struct tin){.ndim = 2, .shape = {1, 4}};
    attr_int(&t, "to", 7);
    if (tn_build(&t, &cg, &err) == QB_OK) {
        CHECK(!qb_plan_node_int8_capable(cg, &cg->nodes[0]));
        r = resolve(cg, QB_PREC_FP16, NULL, (const char *const[]){"i:n0", NULL});
        expect_error(&r, QB_ERR_USAGE, "int8-node on an int node", "cannot run INT8", "'n0' (Cast)");
        res_free(&r);
        r = resolve(cg, QB_PREC_FP16, NULL, (const char *const[]){"i:re:n.*", NULL});
        expect_error(&r, QB_ERR_USAGE, "int8 regex on int nodes only", "matches only nodes that read or write no float",
                     NULL);
        res_free(&r);
        r = resolve(cg, QB_PREC_INT8, "core+Cast", NULL);
        expect_error(&r, QB_ERR_USAGE, "op-set item without float data", "no Cast node", "float data");
        res_free(&r);
        r = resolve(cg, QB_PREC_INT8, NULL, NULL);
        CHECKF(r.st == QB_OK && r.prec[0] == QB_PREC_FP16, "an int node is FP16 under the INT8 default");
        res_free(&r);
    } else {
        CHECKF(0, "Cast graph: %s", err.msg);
    }
    qb_graph_free(cg);
    (void)pool;
    printf("ok   errors: unknown names, op types, op-set items, folded and int-only nodes\n");
}

static void test_hash(const struct qb_graph *g)
{
    /* the same plan written two ways: a regex, and the exact names of the Conv it covers */
    const char *names[32];
    char buf[32][128];
    int n = 0;
    for (int i = 0; i < g->n_order && n < 31; i++) {
        const struct qb_node *nd = &g->nodes[g->order[i]];
        if (strncmp(nd->name, "/model.23/", 10) == 0 && strcmp(nd->op_type, "Conv") == 0) {
            snprintf(buf[n], sizeof(buf[n]), "f:%s", nd->name);
            names[n] = buf[n];
            n++;
        }
    }
    names[n] = NULL;
    struct res a = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:re:/model\\.23/.*", NULL});
    struct res b = resolve(g, QB_PREC_INT8, "core", names);
    struct res c = resolve(g, QB_PREC_INT8, NULL, NULL);
    struct res d = resolve(g, QB_PREC_INT8, "modelopt", (const char *const[]){"o:Mul", "o:Add", "o:MaxPool", NULL});
    struct res e = resolve(g, QB_PREC_INT8, NULL, (const char *const[]){"f:/model.0/conv/Conv", NULL});
    struct res f = resolve(g, QB_PREC_FP16, NULL, NULL);
    CHECKF(a.st == QB_OK && b.st == QB_OK && strcmp(a.hash, b.hash) == 0, "regex and %d exact names: %.12s %.12s", n,
           a.hash, b.hash);
    CHECKF(d.st == QB_OK && strcmp(c.hash, d.hash) == 0, "core == modelopt minus Mul, Add, MaxPool: %.12s %.12s",
           c.hash, d.hash);
    CHECKF(strcmp(a.hash, c.hash) && strcmp(c.hash, e.hash) && strcmp(c.hash, f.hash) && strcmp(a.hash, e.hash),
           "different plans, different hashes");

    /* the documented canonical text: "NAME\0PREC\n" per runtime node in graph order */
    SHA2_CTX ctx;
    char hex[65];
    SHA256Init(&ctx);
    for (int i = 0; i < g->n_nodes; i++) {
        const char *p = c.prec[i] == QB_PREC_INT8 ? "int8" : "fp16";
        SHA256Update(&ctx, (const uint8_t *)g->nodes[i].name, strlen(g->nodes[i].name) + 1);
        SHA256Update(&ctx, (const uint8_t *)p, 4);
        SHA256Update(&ctx, (const uint8_t *)"\n", 1);
    }
    SHA256End(&ctx, hex);
    CHECKF(strcmp(hex, c.hash) == 0, "hash of the canonical text: %s vs %s", hex, c.hash);
    printf("ok   hash: core %.12s, head FP16 %.12s (two spellings), /model.0 FP16 %.12s, fp16 %.12s\n", c.hash, a.hash,
           e.hash, f.hash);
    res_free(&a);
    res_free(&b);
    res_free(&c);
    res_free(&d);
    res_free(&e);
    res_free(&f);
}

static char warnings[2048];

static void capture(enum qb_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= QB_LOG_WARN)
        snprintf(warnings + strlen(warnings), sizeof(warnings) - strlen(warnings), "%s\n", msg);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = calloc(1, 1 << 20);
    if (f) {
        size_t n = fread(s, 1, (1 << 20) - 1, f);
        s[n] = '\0';
        fclose(f);
    }
    return s;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_files(const struct qb_graph *g)
{
    char json[4096], txt[4096], bad[4096];
    struct qb_plan_spec s, s2, l;
    struct qb_error err = {0};
    enum qb_prec *p1 = calloc((size_t)g->n_nodes, sizeof(*p1)), *p2 = calloc((size_t)g->n_nodes, sizeof(*p2));
    char h1[65], h2[65];

    snprintf(json, sizeof(json), "%s/plan.json", tmpdir);
    snprintf(txt, sizeof(txt), "%s/plan.txt", tmpdir);
    snprintf(bad, sizeof(bad), "%s/bad.json", tmpdir);
    spec_of(&s, QB_PREC_INT8, "modelopt+Sigmoid",
            (const char *const[]){"o:Softmax", "f:re:/model\\.23/.*", "i:/model.23/cv3.0/cv3.0.2/Conv", NULL}, &err);
    CHECKF(qb_plan_resolve(&s, g, p1, NULL, &err) == QB_OK, "%s", err.msg);
    qb_plan_hash(g, p1, h1);
    for (int fmt = 0; fmt < QB_PLAN_FORMAT_COUNT; fmt++) {
        const char *path = fmt == QB_PLAN_FORMAT_JSON ? json : txt;
        enum qb_status st = qb_plan_save(path, (enum qb_plan_format)fmt, &s, g, p1, &err);
        CHECKF(st == QB_OK, "save %s: %s", path, err.msg);
        st = qb_plan_load(path, &l, &err);
        CHECKF(st == QB_OK, "load %s: %s", path, err.msg);
        bool same = st == QB_OK && l.base == s.base && l.op_set && strcmp(l.op_set, s.op_set) == 0 &&
                    l.n_rules == s.n_rules && l.base_given && l.op_set_given;
        for (int i = 0; same && i < s.n_rules; i++)
            same = l.rules[i].kind == s.rules[i].kind && strcmp(l.rules[i].pattern, s.rules[i].pattern) == 0 &&
                   l.rules[i].origin && strstr(l.rules[i].origin, path);
        CHECKF(same, "%s: the spec comes back", path);
        CHECKF(qb_plan_resolve(&l, g, p2, NULL, &err) == QB_OK, "%s", err.msg);
        qb_plan_hash(g, p2, h2);
        CHECKF(strcmp(h1, h2) == 0, "%s: resolves to the same plan", path);
        CHECKF(fmt != QB_PLAN_FORMAT_JSON || strcmp(l.file_hash, h1) == 0, "the JSON file records the hash");
        qb_plan_spec_free(&l);
    }
    char *text = read_file(json);
    CHECKF(strstr(text, "\"format\":\t\"qbench-plan\"") && strstr(text, "\"version\":\t1") &&
               strstr(text, "\"fp16_nodes\":\t[\"re:/model\\\\.23/.*\"]") && strstr(text, "\"precision\":\t\"int8\""),
           "JSON content:\n%.600s", text);
    free(text);
    text = read_file(txt);
    CHECKF(strstr(text, "default int8\nop-set modelopt+Sigmoid\nfp16-op Softmax\nfp16-node re:/model\\.23/.*\n"
                        "int8-node /model.23/cv3.0/cv3.0.2/Conv\n"),
           "text content:\n%s", text);
    free(text);
    CHECKF(count_tmp_files(tmpdir) == 0, "no temporary files left");
    snprintf(bad, sizeof(bad), "%s/no/such/dir/plan.json", tmpdir);
    CHECKF(qb_plan_save(bad, QB_PLAN_FORMAT_JSON, &s, NULL, NULL, &err) == QB_ERR_IO, "save into a missing folder");

    /* the loaded origin reaches the resolve error */
    snprintf(bad, sizeof(bad), "%s/bad.json", tmpdir);
    const char *unknown = "{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\",\n"
                          " \"fp16_nodes\": [\"/model.0/conv/Conv\", \"/model.0/conv/Conf\"]}";
    write_file(bad, unknown, strlen(unknown));
    CHECKF(qb_plan_load(bad, &l, &err) == QB_OK, "%s", err.msg);
    CHECKF(qb_plan_resolve(&l, g, p2, NULL, &err) == QB_ERR_USAGE && strstr(err.msg, "bad.json: $.fp16_nodes[1]") &&
               strstr(err.msg, "/model.0/conv/Conf"),
           "resolve error names the JSON path: %s", err.msg);
    qb_plan_spec_free(&l);

    /* a file whose recorded plan differs from what it resolves to here: a warning */
    const char *other = "{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"resolved\": "
                        "{\"hash\": \"00000000000000000000000000000000000000000000000000000000000000ff\"}}";
    write_file(bad, other, strlen(other));
    warnings[0] = '\0';
    qb_log_set(capture, NULL);
    CHECKF(qb_plan_load(bad, &l, &err) == QB_OK && qb_plan_resolve(&l, g, p2, NULL, &err) == QB_OK, "%s", err.msg);
    CHECKF(strstr(warnings, "the file recorded 000000000000"), "hash mismatch warning: '%s'", warnings);
    warnings[0] = '\0';
    spec_of(&s2, QB_PREC_INT8, "modelopt+Sigmoid",
            (const char *const[]){"o:Softmax", "f:re:/model\\.23/.*", "i:/model.23/cv3.0/cv3.0.2/Conv", NULL}, &err);
    memcpy(s2.file_hash, h1, 65);
    CHECKF(qb_plan_resolve(&s2, g, p2, NULL, &err) == QB_OK && !warnings[0], "no warning when it matches: '%s'",
           warnings);
    qb_log_set(NULL, NULL);
    qb_plan_spec_free(&s2);
    qb_plan_spec_free(&l);

    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"fp16_nodes\": [\"a\", 3]}",
         "$.fp16_nodes[1]: expected a string"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"fp16_node\": []}",
         "$.fp16_node: unknown key"},
        {"{\"format\": \"qbench-plan\", \"version\": 2, \"default\": \"int8\"}", "$.version: 2, from a newer qbench"},
        {"{\"format\": \"qbench-plan\", \"version\": 1.5, \"default\": \"int8\"}", "$.version: bad value"},
        {"{\"version\": 1, \"default\": \"int8\"}", "$.format: missing"},
        {"{\"format\": \"qbench-session\", \"version\": 1}", "$.format: wrong value"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int4\"}", "$.default: bad value"},
        {"{\"format\": \"qbench-plan\", \"version\": 1}", "$.default: missing"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"op_set\": \"core+Sigmod\"}",
         "$.op_set: op-set 'core+Sigmod': 'Sigmod' is neither"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"op_set\": 4}",
         "$.op_set: expected a string"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"fp16_op_types\": \"Conv\"}",
         "$.fp16_op_types: expected an array"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"fp16_op_types\": [\"Conv\", "
         "\"conv\"]}",
         "$.fp16_op_types[1]: fp16-op 'conv': not an op type"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"int8_nodes\": [\"re:a(\"]}",
         "$.int8_nodes[0]: int8-node 're:a(': bad regular expression"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"default\": \"fp16\"}",
         "$.default: repeated key"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"resolved\": {\"nodes\": "
         "[{\"index\": 0, \"name\": \"a\", \"op\": \"Conv\", \"precision\": \"int4\"}]}}",
         "$.resolved.nodes[0].precision: expected int8"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"resolved\": {\"hash\": \"xyz\"}}",
         "$.resolved.hash: expected 64"},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\", \"resolved\": {\"extra\": 1}}",
         "$.resolved.extra: unknown key"},
        {"[1, 2]", "$: expected an object"},
        {"{\"format\": \"qbench-plan\",\n \"version\": 1,\n \"default\": int8}", "bad.json:3:"},
        {"# a plan\ndefault int8\nfp16-nod /model.0/conv/Conv\n", "bad.json:3: unknown keyword 'fp16-nod'"},
        {"default int8\ndefault fp16\n", "bad.json:2: a second 'default' line"},
        {"fp16-node /model.0/conv/Conv\n", "no 'default int8|fp16|fp32' line"},
        {"default int8\nfp16-op\n", "bad.json:2: fp16-op needs a value"},
        {"default int8\nop-set core+\n", "bad.json:2: op-set 'core+': empty item"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(bad, cases[i].text, strlen(cases[i].text));
        enum qb_status st = qb_plan_load(bad, &l, &err);
        CHECKF(st != QB_OK && strstr(err.msg, cases[i].want), "bad file %zu: want '%s', got %d '%s'", i,
               cases[i].want, st, err.msg);
        qb_plan_spec_free(&l);
    }
    snprintf(bad, sizeof(bad), "%s/missing.json", tmpdir);
    CHECKF(qb_plan_load(bad, &l, &err) == QB_ERR_IO && strstr(err.msg, "missing.json"), "missing file: %s", err.msg);
    qb_plan_spec_free(&l);
    printf("ok   files: JSON and text round trips (plan %.12s), %zu bad files named by JSON path or line\n", h1,
           sizeof(cases) / sizeof(cases[0]));
    qb_plan_spec_free(&s);
    free(p1);
    free(p2);
}

/* runs qb_cli_plan_opt over a NULL-terminated argument list; returns the first
 * non-1 result (0 when every argument was consumed) */
static int parse(struct qb_plan_spec *s, const char *const *args)
{
    char *argv[32];
    int argc = 0, r = 0;
    while (args[argc] && argc < 31) {
        argv[argc] = (char *)args[argc];
        argc++;
    }
    qb_plan_spec_init(s, QB_PREC_FP32);
    for (int i = 0; i < argc; i++)
        if ((r = qb_cli_plan_opt(argc, argv, &i, s)) != 1)
            return r;
    return qb_cli_plan_finish(s);
}

static void test_cli(const struct qb_graph *g)
{
    struct qb_plan_spec s;
    char json[4096];
    snprintf(json, sizeof(json), "%s/plan.json", tmpdir);

    CHECK(parse(&s, (const char *const[]){"--int8", "--op-set", "modelopt", "--fp16-op", "Mul", "--fp16-node",
                                          "re:/model\\.23/.*", "--int8-node", "/model.23/Mul", NULL}) == 0 &&
          s.base == QB_PREC_INT8 && strcmp(s.op_set, "modelopt") == 0 && s.n_rules == 3 &&
          strcmp(s.rules[1].origin, "--fp16-node") == 0);
    qb_plan_spec_free(&s);
    CHECKF(parse(&s, (const char *const[]){"--fp16-node", "/model.0/conv/Conv", "--plan", json, NULL}) == 0 &&
               s.base == QB_PREC_INT8 && s.n_rules == 4 && s.path && !s.file_hash[0],
           "--plan with extra rules: %d rules", s.n_rules);
    enum qb_prec *prec = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(qb_cli_plan_resolve(g, &s, devnull, true, &prec) == QB_OK && prec &&
          prec[node_index(g, "/model.0/conv/Conv")] == QB_PREC_FP16);
    free(prec);
    qb_plan_spec_free(&s);
    CHECK(parse(&s, (const char *const[]){"--fp32", NULL}) == 0 &&
          qb_cli_plan_resolve(g, &s, devnull, false, &prec) == QB_OK && prec == NULL);
    qb_plan_spec_free(&s);
    CHECK(parse(&s, (const char *const[]){"--eval-thing", NULL}) == 0 && !s.base_given); /* not ours */
    qb_plan_spec_free(&s);
    if (devnull)
        fclose(devnull);

    const char *const *const bad[] = {
        (const char *const[]){"--int8", "--fp16", NULL},
        (const char *const[]){"--int8", "--plan", "x.json", NULL},
        (const char *const[]){"--plan", "/nonexistent/plan.json", NULL},
        (const char *const[]){"--op-set", "core", "--op-set", "modelopt", NULL},
        (const char *const[]){"--fp16-node", "/model.0/conv/Conv", NULL},
        (const char *const[]){"--fp16", "--op-set", "modelopt", NULL},
        (const char *const[]){"--fp32", "--fp16-op", "Conv", NULL},
        (const char *const[]){"--int8", "--fp16-op", NULL},
        (const char *const[]){"--int8", "--fp16-op", "Sigmod", NULL},
        (const char *const[]){"--int8", "--op-set", "core+", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(parse(&s, bad[i]) < 0, "bad option set %zu refused", i);
        qb_plan_spec_free(&s);
    }
    printf("ok   command line: options, --plan merged with rules, %zu bad combinations refused\n",
           sizeof(bad) / sizeof(bad[0]));
}

int main(void)
{
    char dir[256];
    struct qb_graph *g = load("yolo11n-tiny-b2-320.onnx", false);
    struct qb_graph *dyn = load("yolo11n-tiny-dyn.onnx", true);
    make_tmpdir(dir, sizeof(dir), "plan");
    tmpdir = dir;
    if (g) {
        test_op_sets(g);
        test_rules(g);
        test_precedence(g);
        test_errors(g, dyn);
        test_hash(g);
        test_files(g);
        test_cli(g);
    }
    remove_tree(dir);
    qb_graph_free(g);
    qb_graph_free(dyn);
    return test_summary("test_plan");
}
