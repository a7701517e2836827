/* Session presets (sessions/preset.h): save -> load -> save gives the same bytes
 * (NaNs, doubles, rules of every kind, quotes and UTF-8 in names); every bad file is
 * refused with its JSON path; a preset for another model is refused; a failed save
 * leaves the old file as it was; add_build copies deeply.
 *
 * Modes for tests/preset_kill_test.sh:
 *     test_preset --write-a PATH | --write-b PATH   the two presets' text, as a save writes it
 *     test_preset --save-loop PATH                  saves A (about 5 MB) and B in turn, forever
 *     test_preset --check PATH                      loads PATH (exit 0 when it loads)
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <math.h>
#include <signal.h>
#include <sys/resource.h>

#include "core/fileio.h"
#include "core/onnx.h"
#include "sessions/preset.h"
#include "testutil.h"

static char tmpdir[256];

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    if (qb_file_read(path, SIZE_MAX, &text, &n, NULL) != QB_OK)
        return NULL;
    if (len)
        *len = n;
    return text;
}

static bool same_file(const char *path, const char *text)
{
    char *t = slurp(path, NULL);
    bool same = t && strcmp(t, text) == 0;
    free(t);
    return same;
}

/* files named prefix* in dir */
static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += starts_with(e->d_name, prefix);
    closedir(d);
    return n;
}

static void add_rule(struct qb_plan_spec *s, enum qb_plan_rule_kind k, const char *pattern)
{
    struct qb_error err = {0};
    if (qb_plan_spec_add(s, k, pattern, "test", &err) != QB_OK) {
        fprintf(stderr, "cannot set up rule '%s': %s\n", pattern, err.msg);
        exit(2);
    }
}

static const double odd_numbers[] = {0.1, 1 / 3., 1e-300, 412.5, 102, 0.30000000000000004, 2 / 3., 1e300,
                                     -7.25, 5e-324, 123456789.123456789, 0};

/* A preset with every field set. variant 0: tests; 'a': many builds (about 5 MB);
 * 'b': another small one. The same on every run. */
static void fill(struct qb_preset *p, int n_builds, int variant)
{
    struct qb_error err = {0};
    qb_preset_init(p);
    qb_preset_set_str(&p->model, "/models/yolo12n-cones.onnx", &err);
    memset(p->model_sha256, variant == 'b' ? 'b' : 'a', 64);
    qb_preset_set_str(&p->source.data, "/data/cones/data.yaml", &err);
    qb_preset_set_str(&p->source.split, "val", &err);
    p->source.images_max = 200;
    qb_preset_set_str(&p->calib.table, "/data/cones/calib \"q\".json", &err);
    qb_preset_set_str(&p->calib.images, "/data/cones/images/calib", &err);
    qb_preset_set_str(&p->calib.method, variant == 'b' ? "percentile" : "entropy", &err);
    p->calib.percentile = variant == 'b' ? 99.99 : NAN;
    p->calib.images_max = 500;
    p->eval_images = variant == 'b' ? 0 : 64;
    qb_plan_spec_init(&p->plan, QB_PREC_INT8);
    p->plan.base_given = true;
    qb_plan_spec_set_op_set(&p->plan, "modelopt+Sigmoid", NULL, &err);
    add_rule(&p->plan, QB_PLAN_FP16_OP, "Softmax");
    add_rule(&p->plan, QB_PLAN_FP16_NODE, "/model.23/dfl/conv/Conv");
    add_rule(&p->plan, QB_PLAN_FP16_NODE, "re:/model\\.23/.*");
    add_rule(&p->plan, QB_PLAN_INT8_NODE, "/model.0/conv \"q\" \\ caf\xc3\xa9 \xe2\x98\x83 \t\x01 end");
    add_rule(&p->plan, QB_PLAN_INT8_NODE, "re:/mod\xc3\xa8le\\.[0-9]+/conv");
    for (int i = 0; i < n_builds; i++) {
        struct qb_preset_build b = {
            .what = i % 3 ? "rebuild" : "search: top 12 in FP16",
            .time = "2026-11-24T06:35:00Z",
            .executor = "cpu-sim",
            .device = i % 2 ? "cpu, 2 threads" : NULL,
            .n_int8 = 102 + i,
            .n_fp16 = 34,
            .cost = odd_numbers[i % 12],
            .images = 200,
            .map50 = 0.8758,
            .map50_95 = i % 4 ? odd_numbers[(i + 5) % 12] : NAN,
            .precision = 0.91,
            .recall = NAN,
            .fid50_95 = odd_numbers[(i + 1) % 12],
            .sqnr_db = -31.2 + i,
            .latency_ms = i % 5 ? 412.5 : NAN,
        };
        char name[256];
        memset(b.plan_hash, "0123456789abcdef"[i % 16], 64);
        qb_plan_spec_init(&b.plan, i % 2 ? QB_PREC_INT8 : QB_PREC_FP16);
        if (i % 2)
            add_rule(&b.plan, QB_PLAN_FP16_OP, "Sigmoid");
        /* A: few long names, so that 5 MB are quick to build (the kill test builds it 25 times) */
        for (int r = 0; r < (variant == 'a' ? 12 : 3); r++) {
            snprintf(name, sizeof(name), "/model.%d/m.%d/cv%d/conv/Conv \xe2\x80\x94 \"%c\"%s", i, r, r % 3,
                     variant ? variant : 'x', variant == 'a' ? " /model.10/attn/qkv/conv/Conv/model.10/attn/proj/"
                                                               "conv/Conv/model.10/m/m.0/attn/pe/conv/Conv"
                                                               "/model.23/one2one_cv3.2/one2one_cv3.2.0/Conv" : "");
            add_rule(&b.plan, r % 4 ? QB_PLAN_FP16_NODE : QB_PLAN_INT8_NODE, name);
        }
        if (i % 7 == 3)
            add_rule(&b.plan, QB_PLAN_INT8_NODE, "re:/model\\.2[0-9]/.*");
        if (qb_preset_add_build(p, &b, &err) != QB_OK) {
            fprintf(stderr, "cannot set up builds: %s\n", err.msg);
            exit(2);
        }
        qb_plan_spec_free(&b.plan);
    }
}

static bool same_double(double a, double b)
{
    return isnan(a) ? isnan(b) : memcmp(&a, &b, sizeof(a)) == 0;
}

static bool same_str(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* the same default, op-set and rules (a file lists the rules by kind, so the order may differ) */
static bool same_plan(const struct qb_plan_spec *a, const struct qb_plan_spec *b)
{
    if (a->base != b->base || a->n_rules != b->n_rules || !same_str(a->op_set ? a->op_set : "core",
                                                                     b->op_set ? b->op_set : "core"))
        return false;
    for (int i = 0; i < a->n_rules; i++) {
        int j = 0;
        while (j < b->n_rules && (a->rules[i].kind != b->rules[j].kind || strcmp(a->rules[i].pattern,
                                                                                  b->rules[j].pattern) != 0))
            j++;
        if (j == b->n_rules)
            return false;
    }
    return true;
}

static void test_round_trip(void)
{
    struct qb_preset p, l;
    struct qb_error err = {0};
    char a[512], b[512], *ta = NULL, *tb = NULL, *tt = NULL;

    fill(&p, 12, 0);
    p.source.images_max = 9007199254740992L; /* 2^53 */
    snprintf(a, sizeof(a), "%s/a.json", tmpdir);
    snprintf(b, sizeof(b), "%s/b.json", tmpdir);
    CHECKF(qb_preset_save(a, &p, &err) == QB_OK, "save: %s", err.msg);
    CHECKF(qb_preset_load(a, &l, &err) == QB_OK, "load: %s", err.msg);
    CHECKF(qb_preset_save(b, &l, &err) == QB_OK, "second save: %s", err.msg);
    ta = slurp(a, NULL);
    tb = slurp(b, NULL);
    CHECK(ta && tb && strcmp(ta, tb) == 0);
    CHECKF(qb_preset_to_text(&l, &tt, &err) == QB_OK && tt && ta && strcmp(tt, ta) == 0, "to_text is the file: %s",
           err.msg);

    /* the values came back */
    CHECK(l.version == QB_PRESET_VERSION && same_str(l.model, p.model) && strcmp(l.model_sha256, p.model_sha256) == 0);
    CHECK(same_str(l.source.data, p.source.data) && same_str(l.source.split, "val") && !l.source.images &&
          !l.source.pack && l.source.images_max == 9007199254740992L);
    /* numbers are written with the digits that read back exactly (cJSON's own printing
     * would write 0.3 and 9.00719925474099e+15 here) */
    CHECK(ta && strstr(ta, "\"cost\":\t0.30000000000000004,") && strstr(ta, "\"images_max\":\t9007199254740992\n") &&
          strstr(ta, "\"cost\":\t0.1,") && strstr(ta, "\"cost\":\t1e-300,") && strstr(ta, "\"cost\":\t412.5,") &&
          strstr(ta, "\"cost\":\t102,") && strstr(ta, "\"cost\":\t4.94065645841247e-324,"));
    CHECK(same_str(l.calib.table, p.calib.table) && !l.calib.data && !l.calib.split &&
          same_str(l.calib.method, "entropy") && isnan(l.calib.percentile) && l.calib.images_max == 500);
    CHECK(l.eval_images == 64 && same_plan(&l.plan, &p.plan) && l.plan.base_given && l.plan.op_set_given);
    CHECK(l.n_builds == p.n_builds);
    bool builds_same = l.n_builds == p.n_builds;
    for (int i = 0; builds_same && i < l.n_builds; i++) {
        const struct qb_preset_build *x = &l.builds[i], *y = &p.builds[i];
        builds_same = same_str(x->what, y->what) && same_str(x->time, y->time) && same_str(x->executor, y->executor) &&
                      same_str(x->device, y->device) && strcmp(x->plan_hash, y->plan_hash) == 0 &&
                      x->n_int8 == y->n_int8 && x->n_fp16 == y->n_fp16 && x->images == y->images &&
                      same_double(x->map50, y->map50) && same_double(x->precision, y->precision) &&
                      same_double(x->recall, y->recall) && same_double(x->sqnr_db, y->sqnr_db) &&
                      same_double(x->latency_ms, y->latency_ms) && same_double(x->cost, y->cost) &&
                      same_double(x->map50_95, y->map50_95) && same_double(x->fid50_95, y->fid50_95) &&
                      same_plan(&x->plan, &y->plan);
    }
    CHECK(builds_same);
    /* NaN is null, and null reads back as NaN */
    CHECK(ta && strstr(ta, "\"percentile\":\tnull") && strstr(ta, "\"recall\":\tnull") && !strstr(ta, "nan"));
    CHECK(isnan(l.builds[0].map50_95) && isnan(l.builds[0].latency_ms) && isnan(l.builds[0].recall));
    /* rules keep where they were written, for qb_plan_resolve's messages */
    char want[700];
    snprintf(want, sizeof(want), "%s: $.plan.fp16_nodes[1]", a);
    CHECKF(l.plan.n_rules == 5 && same_str(l.plan.rules[2].origin, want), "origin '%s'",
           l.plan.n_rules > 2 ? l.plan.rules[2].origin : "");
    snprintf(want, sizeof(want), "%s: $.builds[3].plan.int8_nodes[1]", a);
    const struct qb_plan_spec *b3 = &l.builds[3].plan;
    CHECKF(b3->n_rules == 5 && same_str(b3->rules[b3->n_rules - 1].origin, want), "origin '%s'",
           b3->n_rules ? b3->rules[b3->n_rules - 1].origin : "");
    printf("ok   round trip: %zu bytes, %d builds, save -> load -> save identical\n", ta ? strlen(ta) : 0,
           l.n_builds);
    free(ta);
    free(tb);
    free(tt);
    qb_preset_free(&l);
    qb_preset_free(&p);
}

/* The file format itself: key order, nulls, the plan's keys. */
static void test_format(void)
{
    static const char want[] =
        "{\n\t\"format\":\t\"qbench-preset\",\n\t\"version\":\t1,\n"
        "\t\"model\":\t{\n\t\t\"path\":\tnull,\n\t\t\"sha256\":\tnull\n\t},\n"
        "\t\"data\":\t{\n\t\t\"data\":\tnull,\n\t\t\"split\":\tnull,\n\t\t\"images\":\tnull,\n\t\t\"pack\":\tnull,\n"
        "\t\t\"images_max\":\t0\n\t},\n"
        "\t\"calibration\":\t{\n\t\t\"table\":\tnull,\n\t\t\"data\":\tnull,\n\t\t\"split\":\tnull,\n"
        "\t\t\"images\":\tnull,\n\t\t\"method\":\tnull,\n\t\t\"percentile\":\tnull,\n\t\t\"images_max\":\t0\n\t},\n"
        "\t\"eval_images\":\t0,\n"
        "\t\"plan\":\t{\n\t\t\"default\":\t\"fp32\",\n\t\t\"op_set\":\t\"core\",\n\t\t\"fp16_op_types\":\t[],\n"
        "\t\t\"fp16_nodes\":\t[],\n\t\t\"int8_nodes\":\t[]\n\t},\n"
        "\t\"builds\":\t[]\n}\n";
    struct qb_preset p, l;
    struct qb_error err = {0};
    char *t = NULL, *t2 = NULL, path[512];

    qb_preset_init(&p);
    CHECKF(qb_preset_to_text(&p, &t, &err) == QB_OK && t && strcmp(t, want) == 0, "empty preset:\n%s", t ? t : err.msg);
    /* relative paths are made absolute: realpath when the file exists, else from the working folder */
    char cwd[4096], sub[4200];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(path, sizeof(path), "%s/rel", tmpdir);
    CHECK(mkdir(path, 0755) == 0 && chdir(path) == 0);
    write_file("exists.yaml", "x", 1);
    qb_preset_set_str(&p.model, "./not-there/m.onnx", &err);
    qb_preset_set_str(&p.source.data, "exists.yaml", &err);
    qb_preset_set_str(&p.calib.table, "/no/such/../folder/c.json", &err);
    qb_preset_set_str(&p.source.images, "", &err);
    free(t);
    t = NULL;
    snprintf(path, sizeof(path), "%s/rel/p.json", tmpdir);
    CHECKF(qb_preset_save("p.json", &p, &err) == QB_OK, "save: %s", err.msg);
    CHECK(chdir(cwd) == 0);
    CHECKF(qb_preset_load(path, &l, &err) == QB_OK, "load: %s", err.msg);
    char real[4096];
    CHECK(realpath(tmpdir, real) != NULL);
    snprintf(sub, sizeof(sub), "%s/rel/not-there/m.onnx", real);
    CHECKF(same_str(l.model, sub), "relative, missing: '%s' (want '%s')", l.model ? l.model : "(null)", sub);
    snprintf(sub, sizeof(sub), "%s/rel/exists.yaml", real);
    CHECKF(same_str(l.source.data, sub), "relative, existing: '%s' (want '%s')", l.source.data, sub);
    CHECKF(same_str(l.calib.table, "/no/such/../folder/c.json"), "absolute kept: '%s'", l.calib.table);
    CHECK(!l.source.images);
    /* a missing key reads as unset */
    qb_preset_free(&l);
    static const char minimal[] = "{\"format\": \"qbench-preset\", \"version\": 1, \"builds\": [{}]}";
    CHECKF(qb_preset_from_text(minimal, strlen(minimal), "m.json", &l, &err) == QB_OK, "minimal: %s", err.msg);
    CHECK(!l.model && !l.model_sha256[0] && isnan(l.calib.percentile) && l.plan.base == QB_PREC_FP32 &&
          !l.plan.base_given && l.n_builds == 1 && isnan(l.builds[0].map50) && l.builds[0].n_int8 == 0);
    CHECKF(qb_preset_to_text(&l, &t2, &err) == QB_OK && t2 && strstr(t2, "\"map50\":\tnull"), "%s", err.msg);
    printf("ok   format: key order and nulls as documented, paths made absolute, missing keys unset\n");
    free(t);
    free(t2);
    qb_preset_free(&l);
    qb_preset_free(&p);
}

static void test_bad_files(void)
{
#define HDR "{\"format\": \"qbench-preset\", \"version\": 1, "
    static const struct {
        const char *text, *want;
        enum qb_status st;
        const char *also; /* in the message too, or NULL */
    } cases[] = {
        {HDR "\"foo\": 1}", ": $.foo: unknown key (known: format, version, model", QB_ERR_PARSE, NULL},
        {HDR "\"data\": {\"dta\": null}}", ": $.data.dta: unknown key", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{}, {}, {\"foo\": 1}]}", ": $.builds[2].foo: unknown key", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{\"plan\": {\"default\": \"int8\", \"fp16_node\": []}}]}",
         ": $.builds[0].plan.fp16_node: unknown key (known: default, op_set", QB_ERR_PARSE, NULL},
        {HDR "\"eval_images\": \"5\"}", ": $.eval_images: expected a non-negative integer", QB_ERR_PARSE, NULL},
        {HDR "\"eval_images\": null}", ": $.eval_images: expected a non-negative integer", QB_ERR_PARSE, NULL},
        {HDR "\"data\": {\"images_max\": -1}}", ": $.data.images_max: expected a non-negative integer", QB_ERR_PARSE, NULL},
        {HDR "\"data\": {\"images_max\": 2.5}}", ": $.data.images_max: expected a non-negative integer", QB_ERR_PARSE, NULL},
        {HDR "\"data\": {\"images_max\": 1e300}}", ": $.data.images_max: expected a non-negative integer up to 2^53",
         QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{\"n_int8\": 3e9}]}", ": $.builds[0].n_int8: expected a non-negative integer up to 2147483647",
         QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{\"map50\": \"x\"}]}", ": $.builds[0].map50: expected a number or null", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{\"map50\": 1e999}]}", ": $.builds[0].map50: expected a number or null", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{\"what\": 3}]}", ": $.builds[0].what: expected a string or null", QB_ERR_PARSE, NULL},
        {HDR "\"calibration\": {\"method\": \"minmax\"}}",
         ": $.calibration.method: expected one of max, percentile, entropy, mse or null", QB_ERR_PARSE, NULL},
        {HDR "\"calibration\": {\"percentile\": 0}}", ": $.calibration.percentile: expected a number in (0, 100]",
         QB_ERR_PARSE, NULL},
        {HDR "\"calibration\": {\"percentile\": 100.5}}", ": $.calibration.percentile: expected a number in (0, 100]",
         QB_ERR_PARSE, NULL},
        {HDR "\"model\": {\"sha256\": \"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\"}}",
         ": $.model.sha256: expected 64 lowercase hex digits or null", QB_ERR_PARSE, NULL},
        {HDR "\"model\": {\"sha256\": \"abc\"}}", ": $.model.sha256: expected 64 lowercase hex digits", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{\"plan_hash\": 7}]}", ": $.builds[0].plan_hash: expected 64 lowercase hex", QB_ERR_PARSE, NULL},
        {HDR "\"model\": {\"path\": \"\"}}", ": $.model.path: expected a path", QB_ERR_PARSE, NULL},
        {HDR "\"model\": 3}", ": $.model: expected an object or null", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": {}}", ": $.builds: expected an array of objects or null", QB_ERR_PARSE, NULL},
        {HDR "\"builds\": [{}, 1]}", ": $.builds[1]: expected an object", QB_ERR_PARSE, NULL},
        {HDR "\"plan\": []}", ": $.plan: expected an object (a plan) or null", QB_ERR_PARSE, NULL},
        {HDR "\"plan\": {}}", ": $.plan.default: missing", QB_ERR_PARSE, NULL},
        {HDR "\"plan\": {\"default\": \"int4\"}}", ": $.plan.default: bad value", QB_ERR_PARSE, NULL},
        {HDR "\"plan\": {\"default\": \"int8\", \"op_set\": \"core+Sigmod\"}}",
         ": $.plan.op_set: op-set 'core+Sigmod'", QB_ERR_USAGE, NULL},
        {HDR "\"plan\": {\"default\": \"int8\", \"fp16_op_types\": [\"conv\"]}}",
         ": $.plan.fp16_op_types[0]: fp16-op 'conv': not an op type", QB_ERR_USAGE, NULL},
        {HDR "\"builds\": [{\"plan\": {\"default\": \"int8\", \"int8_nodes\": [\"a\", \"re:a(\"]}}]}",
         ": $.builds[0].plan.int8_nodes[1]: int8-node 're:a(': bad regular expression", QB_ERR_USAGE, NULL},
        {HDR "\"plan\": {\"default\": \"int8\", \"fp16_nodes\": [\"n\"], \"int8_nodes\": [\"n\"]}}",
         ": $.plan.int8_nodes[0]: int8-node 'n': the node is also named by fp16-node at", QB_ERR_USAGE, NULL},
        /* regcomp would take gigabytes (found by fuzz_preset) */
        {HDR "\"plan\": {\"default\": \"int8\", \"fp16_nodes\": [\"re:/model+++++++++++++++++++++++++++++++++++++\"]}}",
         ": $.plan.fp16_nodes[0]: fp16-node 're:/model++++", QB_ERR_USAGE, "regular expression too costly to compile"},
        {HDR "\"plan\": {\"default\": \"int8\", \"fp16_nodes\": [\"re:/moL*****************++++++++++\"]}}",
         ": $.plan.fp16_nodes[0]: fp16-node 're:/moL**", QB_ERR_USAGE, "nested more than 4 deep"},
        {HDR "\"builds\": [{\"plan\": {\"default\": \"int8\", \"int8_nodes\": [\"re:(((a{99}){99}){99})\"]}}]}",
         ": $.builds[0].plan.int8_nodes[0]: int8-node", QB_ERR_USAGE, "regular expression too costly to compile"},
        {HDR "\"plan\": {\"default\": \"int8\", \"fp16_nodes\": [1]}}", ": $.plan.fp16_nodes[0]: expected a string",
         QB_ERR_PARSE, NULL},
        {HDR "\"version\": 1}", ": $.version: repeated key", QB_ERR_PARSE, NULL},
        {"{\"format\": \"qbench-preset\", \"version\": 2, \"new_key\": 1}",
         ": $.version: 2, from a newer qbench (this one reads version 1)", QB_ERR_UNSUPPORTED, NULL},
        {"{\"format\": \"qbench-preset\", \"version\": 1.5}", ": $.version: expected an integer >= 1", QB_ERR_PARSE, NULL},
        {"{\"format\": \"qbench-preset\", \"version\": 0}", ": $.version: expected an integer >= 1", QB_ERR_PARSE, NULL},
        {"{\"format\": \"qbench-preset\", \"version\": \"1\"}", ": $.version: expected an integer >= 1", QB_ERR_PARSE, NULL},
        {"{\"format\": \"qbench-preset\"}", ": $.version: missing", QB_ERR_PARSE, NULL},
        {"{\"version\": 1}", ": $.format: missing (expected \"qbench-preset\": not a qbench preset)", QB_ERR_PARSE, NULL},
        {"{\"format\": \"qbench-plan\", \"version\": 1, \"default\": \"int8\"}",
         ": $.format: \"qbench-plan\" (expected \"qbench-preset\"", QB_ERR_PARSE, NULL},
        {"[1, 2]", ": $: expected an object", QB_ERR_PARSE, NULL},
        /* cJSON reports where it stopped: at the bad token or just past its first character */
        {"{\n  \"format\": \"qbench-preset\",\n  \"version\": 1,\n  oops\n}", ":4:", QB_ERR_PARSE, "not valid JSON"},
        {"{\"format\": \"qbench-preset\", \"version\": 1}  x", ":1:44: not valid JSON", QB_ERR_PARSE, NULL},
        {"{\"format\": \"qbench-preset\",\n \"version\": 1, \"model\": {\"pa", ":2:", QB_ERR_PARSE,
         "not valid JSON (it ends inside a string, object or array: a truncated file?)"},
        {"{\"format\": \"qbench-preset\",\n \"version\": 1, \"model\": {\"path\": null}", ":2:", QB_ERR_PARSE,
         "a truncated file?"},
        {"{\"format\": \"qbench-preset\", \"version\": 1, \"model\": {\"path\": \"a}b{\"}}}", ":1:",
         QB_ERR_PARSE, "not valid JSON"},
        {"", ": empty file: not a qbench preset", QB_ERR_PARSE, NULL},
        {" \n\t\n", ": empty file: not a qbench preset", QB_ERR_PARSE, NULL},
    };
    struct qb_preset p;
    struct qb_error err = {0};
    char path[512];
    int n_ok = 0;

    snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[1024];
        write_file(path, cases[i].text, strlen(cases[i].text));
        memset(&p, 0x5a, sizeof(p)); /* the loader initialises it */
        enum qb_status st = qb_preset_load(path, &p, &err);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
        bool ok = st == cases[i].st && starts_with(err.msg, want) && (!cases[i].also || strstr(err.msg, cases[i].also));
        CHECKF(ok, "bad file %zu: want %s '%s' ... '%s', got %s '%s'", i, qb_status_str(cases[i].st), want,
               cases[i].also ? cases[i].also : "", qb_status_str(st), err.msg);
        if (i == 0 || !cases[i].also != !cases[i - 1].also)
            printf("     e.g. %s\n", err.msg);
        /* nothing half filled is left behind */
        CHECKF(!p.model && !p.n_builds && !p.builds && !p.plan.n_rules && isnan(p.calib.percentile), "bad file %zu: "
               "the preset is not reset", i);
        qb_preset_free(&p);
        n_ok += ok;
    }
    /* a truncated save */
    {
        struct qb_preset full;
        char *t = NULL;
        fill(&full, 3, 0);
        CHECK(qb_preset_to_text(&full, &t, &err) == QB_OK);
        for (size_t cut = 1; t && cut < strlen(t) - 2; cut += strlen(t) / 7) {
            write_file(path, t, cut);
            CHECKF(qb_preset_load(path, &p, &err) == QB_ERR_PARSE && strstr(err.msg, "not valid JSON") &&
                       strstr(err.msg, "a truncated file?"), "cut at %zu: %s", cut, err.msg);
            qb_preset_free(&p);
        }
        free(t);
        qb_preset_free(&full);
    }
    /* regular expressions that are large but fine, and one too large in a text plan file */
    static const char fine[] = HDR "\"plan\": {\"default\": \"int8\", \"fp16_nodes\": [\"re:/model\\\\.(1[0-9]|2[0-3])/"
                               "(cv[0-9]+|m\\\\.[0-9]+)/.*\", \"re:(/model\\\\.[0-9]{1,3}){1,2}/[[:alnum:]_]+/.*\", "
                               "\"re:a{1000}\", \"re:x+y+z*[]+]{2}\", \"re:((((a|b)+c?)*)+)?\"]}}";
    CHECKF(qb_preset_from_text(fine, strlen(fine), "fine.json", &p, &err) == QB_OK && p.plan.n_rules == 5,
           "fine regexes: %s", err.msg);
    qb_preset_free(&p);
    {
        struct qb_plan_spec s;
        static const char txt[] = "default int8\nfp16-node re:/a/b/\n"
                                  "int8-node re:((((((((((((((((x+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+\n";
        snprintf(path, sizeof(path), "%s/plan.txt", tmpdir);
        write_file(path, txt, strlen(txt));
        CHECKF(qb_plan_load(path, &s, &err) == QB_ERR_USAGE && strstr(err.msg, "plan.txt:3: int8-node") &&
                   strstr(err.msg, "regular expression too costly to compile"), "text plan: %s", err.msg);
        qb_plan_spec_free(&s);
    }
    /* NUL bytes, a folder, a missing file */
    write_file(path, "{\"format\": \"qbench-preset\", \"version\": 1}\0{}", 44);
    CHECKF(qb_preset_load(path, &p, &err) == QB_ERR_PARSE && strstr(err.msg, "contains NUL bytes"), "NUL: %s",
           err.msg);
    qb_preset_free(&p);
    CHECKF(qb_preset_load(tmpdir, &p, &err) == QB_ERR_IO && starts_with(err.msg, tmpdir) &&
               strstr(err.msg, "Is a directory"), "folder: %s", err.msg);
    qb_preset_free(&p);
    snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
    CHECKF(qb_preset_load(path, &p, &err) == QB_ERR_IO && starts_with(err.msg, path) &&
               strstr(err.msg, "No such file"), "missing: %s", err.msg);
    qb_preset_free(&p);
#undef HDR
    printf("ok   bad files: %d of %zu named by JSON path or line:col, truncated, NUL, folder, missing\n", n_ok,
           sizeof(cases) / sizeof(cases[0]));
}

/* A rule that matches nothing is named, at resolve, by where the preset wrote it. */
static void test_resolve_origin(void)
{
    static const char text[] = "{\"format\": \"qbench-preset\", \"version\": 1, \"plan\": {\"default\": \"int8\", "
                               "\"fp16_nodes\": [\"re:/model\\\\.0/.*\", \"/model.99/no/Conv\"]}}";
    const char *src = getenv("QB_SOURCE_DIR");
    struct qb_graph *g = NULL;
    struct qb_preset p;
    struct qb_error err = {0};
    char model[4096];
    enum qb_prec *prec = NULL;

    snprintf(model, sizeof(model), "%s/tests/data/yolo11n-tiny-b2-320.onnx", src ? src : ".");
    if (qb_onnx_load(model, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK) {
        CHECKF(0, "%s: %s", model, err.msg);
        qb_graph_free(g);
        return;
    }
    prec = calloc((size_t)g->n_nodes, sizeof(*prec));
    CHECKF(qb_preset_from_text(text, strlen(text), "s.json", &p, &err) == QB_OK, "%s", err.msg);
    CHECKF(qb_plan_resolve(&p.plan, g, prec, NULL, &err) == QB_ERR_USAGE &&
               strstr(err.msg, "s.json: $.plan.fp16_nodes[1]: fp16-node '/model.99/no/Conv'"),
           "resolve: %s", err.msg);
    printf("ok   resolve errors name the preset's JSON path: %s\n", err.msg);
    qb_preset_free(&p);
    free(prec);
    qb_graph_free(g);
}

static void test_check_model(void)
{
    struct qb_preset p;
    struct qb_error err = {0};
    char other[65];

    fill(&p, 0, 0);
    memset(other, 'c', 64);
    other[64] = '\0';
    CHECK(qb_preset_check_model(&p, p.model_sha256, &err) == QB_OK);
    CHECKF(qb_preset_check_model(&p, other, &err) == QB_ERR_INVALID && strstr(err.msg, "another model") &&
               strstr(err.msg, "/models/yolo12n-cones.onnx") && strstr(err.msg, "aaaaaaaaaaaa") &&
               strstr(err.msg, "cccccccccccc") && !strstr(err.msg, "aaaaaaaaaaaaa"),
           "refusal: %s", err.msg);
    printf("ok   check_model: %s\n", err.msg);
    qb_preset_free(&p);
}

static void test_failed_save(void)
{
    struct qb_preset p, big;
    struct qb_error err = {0};
    char path[512], missing[512], *before = NULL;
    struct rlimit old;

    fill(&p, 2, 'b');
    fill(&big, 200, 0);
    snprintf(path, sizeof(path), "%s/keep/p.json", tmpdir);
    snprintf(missing, sizeof(missing), "%s/keep", tmpdir);
    CHECK(mkdir(missing, 0755) == 0);
    CHECKF(qb_preset_save(path, &p, &err) == QB_OK, "%s", err.msg);
    before = slurp(path, NULL);

    /* a value the loader would refuse: nothing written */
    char sha[65];
    memcpy(sha, big.model_sha256, 65);
    memcpy(big.model_sha256, "XYZ", 4);
    CHECKF(qb_preset_save(path, &big, &err) == QB_ERR_INVALID && strstr(err.msg, "$.model.sha256"), "bad sha: %s",
           err.msg);
    memcpy(big.model_sha256, sha, 65);
    big.builds[150].n_fp16 = -1;
    CHECKF(qb_preset_save(path, &big, &err) == QB_ERR_INVALID && strstr(err.msg, "$.builds[150].n_fp16"),
           "negative: %s", err.msg);
    big.builds[150].n_fp16 = 1;
    qb_preset_set_str(&big.calib.method, "minmax", &err);
    CHECKF(qb_preset_save(path, &big, &err) == QB_ERR_INVALID && strstr(err.msg, "$.calibration.method"),
           "bad method: %s", err.msg);
    qb_preset_set_str(&big.calib.method, NULL, &err);
    CHECK(before && same_file(path, before));

    /* the disk fills up mid-write (a file size limit): the old file stays */
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = 4096, .rlim_max = old.rlim_max};
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    enum qb_status st = qb_preset_save(path, &big, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_DFL);
    CHECKF(st == QB_ERR_IO && starts_with(err.msg, path), "full disk: %s %s", qb_status_str(st), err.msg);
    CHECK(before && same_file(path, before));
    CHECK(count_files(missing, "p.json.tmp.") == 0);

    /* a read-only folder (root writes anyway: skipped then) */
    if (geteuid() != 0) {
        CHECK(chmod(missing, 0555) == 0);
        CHECKF(qb_preset_save(path, &big, &err) == QB_ERR_IO, "read-only: %s", err.msg);
        CHECK(chmod(missing, 0755) == 0);
        CHECK(before && same_file(path, before));
    }
    /* a missing folder */
    snprintf(path, sizeof(path), "%s/no/such/p.json", tmpdir);
    CHECKF(qb_preset_save(path, &p, &err) == QB_ERR_IO && starts_with(err.msg, path), "missing folder: %s", err.msg);
    snprintf(path, sizeof(path), "%s/no", tmpdir);
    CHECK(access(path, F_OK) != 0);
    printf("ok   failed saves (bad values, full disk%s, missing folder) leave the old file as it was\n",
           geteuid() ? ", read-only folder" : "");
    free(before);
    qb_preset_free(&big);
    qb_preset_free(&p);
}

static void test_add_build(void)
{
    struct qb_preset p;
    struct qb_error err = {0};
    struct qb_preset_build b = {.n_int8 = 7, .cost = 0.25, .map50 = NAN};
    char *what = strdup("search: top 12 in FP16"), *dev = strdup("cpu, 2 threads");

    qb_preset_init(&p);
    b.what = what;
    b.device = dev;
    memset(b.plan_hash, 'e', 64);
    qb_plan_spec_init(&b.plan, QB_PREC_INT8);
    qb_plan_spec_set_op_set(&b.plan, "core+Sigmoid", "--op-set", &err);
    add_rule(&b.plan, QB_PLAN_FP16_NODE, "/model.23/Mul");
    add_rule(&b.plan, QB_PLAN_FP16_OP, "Sigmoid");
    CHECKF(qb_preset_add_build(&p, &b, &err) == QB_OK, "%s", err.msg);
    /* the source goes away */
    memset(what, 'X', strlen(what));
    memset(dev, 'X', strlen(dev));
    free(what);
    free(dev);
    b.plan.rules[0].pattern[0] = 'X';
    qb_plan_spec_free(&b.plan);
    memset(&b, 0x5a, sizeof(b));

    const struct qb_preset_build *c = &p.builds[0];
    CHECK(p.n_builds == 1 && same_str(c->what, "search: top 12 in FP16") && same_str(c->device, "cpu, 2 threads") &&
          !c->executor && c->n_int8 == 7 && c->cost == 0.25 && isnan(c->map50) && c->plan_hash[63] == 'e' &&
          c->plan_hash[64] == '\0');
    CHECK(c->plan.base == QB_PREC_INT8 && same_str(c->plan.op_set, "core+Sigmoid") && !c->plan.op_set_origin &&
          c->plan.n_rules == 2 && same_str(c->plan.rules[0].pattern, "/model.23/Mul") && !c->plan.rules[0].origin);
    /* time filled in, UTC */
    CHECKF(c->time && strlen(c->time) == 20 && c->time[10] == 'T' && c->time[19] == 'Z', "time '%s'",
           c->time ? c->time : "(null)");
    /* set_str with its own value */
    qb_preset_set_str(&p.model, "/m.onnx", &err);
    CHECK(qb_preset_set_str(&p.model, p.model, &err) == QB_OK && same_str(p.model, "/m.onnx"));
    for (int i = 0; i < 40; i++) /* grows */
        CHECK(qb_preset_add_build(&p, &p.builds[0], &err) == QB_OK);
    CHECK(p.n_builds == 41 && same_str(p.builds[40].what, "search: top 12 in FP16") &&
          same_str(p.builds[40].plan.rules[1].pattern, "Sigmoid"));
    printf("ok   add_build copies deeply (%d builds, time %s)\n", p.n_builds, p.builds[0].time);
    qb_preset_free(&p);
    qb_preset_free(&p); /* free leaves an empty preset */
}

/* kill-test modes */

static int write_text(const char *path, int variant)
{
    struct qb_preset p;
    struct qb_error err = {0};
    char *t = NULL;
    fill(&p, variant == 'a' ? 2000 : 7, variant);
    if (qb_preset_to_text(&p, &t, &err) != QB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    write_file(path, t, strlen(t));
    printf("%s: %zu bytes, %d builds\n", path, strlen(t), p.n_builds);
    free(t);
    qb_preset_free(&p);
    return 0;
}

static int save_loop(const char *path)
{
    struct qb_preset p[2];
    struct qb_error err = {0};
    fill(&p[0], 2000, 'a');
    fill(&p[1], 7, 'b');
    printf("saving\n"); /* the kill test starts its clock here */
    fflush(stdout);
    for (unsigned long i = 0;; i++)
        if (qb_preset_save(path, &p[i % 2], &err) != QB_OK) {
            fprintf(stderr, "save %lu: %s\n", i, err.msg);
            return 1;
        }
}

static int check_file(const char *path)
{
    struct qb_preset p;
    struct qb_error err = {0};
    enum qb_status st = qb_preset_load(path, &p, &err);
    if (st != QB_OK)
        fprintf(stderr, "%s\n", err.msg);
    qb_preset_free(&p);
    return st != QB_OK;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-a") == 0)
        return write_text(argv[2], 'a');
    if (argc == 3 && strcmp(argv[1], "--write-b") == 0)
        return write_text(argv[2], 'b');
    if (argc == 3 && strcmp(argv[1], "--save-loop") == 0)
        return save_loop(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--check") == 0)
        return check_file(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_preset [--write-a P | --write-b P | --save-loop P | --check P]\n");
        return 2;
    }
    qb_log_set_level(QB_LOG_ERROR);
    make_tmpdir(tmpdir, sizeof(tmpdir), "preset");
    test_round_trip();
    test_format();
    test_bad_files();
    test_resolve_origin();
    test_check_model();
    test_failed_save();
    test_add_build();
    remove_tree(tmpdir);
    return test_summary("test_preset");
}
