/* qbench export: a plan as ModelOpt flags, trtexec flags, JSON or text (sessions/export.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_plan.h"
#include "cli_preset.h"
#include "core/calib.h"
#include "core/fileio.h"
#include "sessions/export.h"

static const char usage[] =
    "usage: qbench export --model M [--calib C.json] (--int8 [--op-set SET] | --fp16 | --plan P) [rules]\n"
    "                     --format modelopt|trtexec|json|txt [-o OUT] [--trt-cache CACHE]\n"
    "       qbench export --model M --calib C.json --format trt-calib-cache -o CACHE\n"
    "       qbench export --preset S [--model M] [--calib C.json] [plan options] --format F [-o OUT]\n"
    "  rules: " QB_CLI_PLAN_USAGE QB_CLI_PRESET_USAGE
    "              (export: the model (--model M, if given, must be the preset's), --calib and its method,\n"
    "              and the plan)\n";

/* Beside sessions/export.h's formats: the TensorRT cache of the calibration table. */
#define FORMAT_TRT_CACHE QB_EXPORT_COUNT

struct export_opts {
    const char *model, *calib, *out, *trt_cache;
    int format;
    struct qb_plan_spec plan;
    struct qb_cli_preset preset;
};

static int parse_args(int argc, char **argv, struct export_opts *o, struct qb_cli_model_opts *mo)
{
    o->format = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = qb_cli_model_opt(argc, argv, &i, mo);
        if (r == 0)
            r = qb_cli_plan_opt(argc, argv, &i, &o->plan);
        if (r == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &o->preset);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (a[0] == '-' && i + 1 >= argc) {
            fprintf(stderr, "qbench export: %s needs a value\n%s", a, usage);
            return -1;
        }
        if (strcmp(a, "--model") == 0) {
            o->model = argv[++i];
        } else if (strcmp(a, "--calib") == 0) {
            o->calib = argv[++i];
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) {
            o->out = argv[++i];
        } else if (strcmp(a, "--trt-cache") == 0) {
            o->trt_cache = argv[++i];
        } else if (strcmp(a, "--format") == 0) {
            const char *f = argv[++i];
            for (int k = 0; k < QB_EXPORT_COUNT; k++)
                if (strcmp(f, qb_export_format_names[k]) == 0)
                    o->format = k;
            if (strcmp(f, "trt-calib-cache") == 0)
                o->format = FORMAT_TRT_CACHE;
            if (o->format < 0) {
                fprintf(stderr, "qbench export: unknown --format '%s' (modelopt, trtexec, json, txt, "
                                "trt-calib-cache)\n", f);
                return -1;
            }
        } else {
            fprintf(stderr, "qbench export: unexpected argument '%s'\n%s", a, usage);
            return -1;
        }
    }
    if (qb_cli_preset_load(&o->preset, "export", &o->model) != QB_OK)
        return -1;
    if (qb_cli_preset_get(&o->preset))
        qb_cli_preset_str(&o->calib, qb_cli_preset_get(&o->preset)->calib.table);
    if (qb_cli_preset_plan(&o->preset, &o->plan) < 0)
        return -1;
    if (o->format == FORMAT_TRT_CACHE && (!o->calib || !o->out || strcmp(o->out, "-") == 0)) {
        fprintf(stderr, "qbench export: --format trt-calib-cache writes the --calib table's scales to -o FILE\n");
        return -1;
    }
    if (!o->model || o->format < 0 || (!o->plan.base_given && o->format != FORMAT_TRT_CACHE)) {
        fprintf(stderr, "qbench export: needs --model (or --preset), a plan (--int8, --fp16 or --plan) and --format\n%s",
                usage);
        return -1;
    }
    return o->format == FORMAT_TRT_CACHE ? 0 : qb_cli_plan_finish(&o->plan); /* the cache needs no plan */
}

/* The table's method; without a table, the method a preset records, if any. */
static const char *calib_method(const struct export_opts *o, const struct qb_calib_table *t)
{
    const struct qb_preset *p = qb_cli_preset_get(&o->preset);
    if (o->calib)
        return qb_calib_method_name(t->params.method);
    return p ? p->calib.method : NULL;
}

int qb_cmd_export(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    struct export_opts o = {0};
    struct qb_error err = {0};
    struct qb_graph *g = NULL;
    struct qb_calib_table t = {0};
    enum qb_prec *prec = NULL;
    char sha[65], *text = NULL;
    enum qb_status st = QB_OK;

    if (parse_args(argc, argv, &o, &mo) != 0) {
        qb_plan_spec_free(&o.plan);
        qb_cli_preset_free(&o.preset);
        return QB_EXIT_USAGE;
    }
    if (!(g = qb_cli_load(o.model, &mo, &st)))
        goto out_quiet;
    if ((st = qb_calib_file_sha256(o.model, sha, &err)) != QB_OK ||
        (o.calib && (st = qb_calib_table_load(o.calib, sha, &t, &err)) != QB_OK))
        goto out;
    if (o.format == FORMAT_TRT_CACHE) {
        if ((st = qb_calib_table_write_trt(&t, o.out, NULL, &err)) == QB_OK)
            fprintf(stderr, "wrote %s (%d tensors)\n", o.out, t.n);
        goto out;
    }
    if ((st = qb_cli_plan_resolve(g, &o.plan, stderr, false, &prec)) != QB_OK)
        goto out_quiet;
    if (!prec) {
        st = qb_errorf(&err, QB_ERR_USAGE, "the FP32 reference has nothing to export");
        goto out;
    }
    st = qb_export(&(struct qb_export_input){.g = g, .model = o.model, .model_sha256 = sha, .spec = &o.plan,
                                             .prec = prec,
                                             .calib_method = calib_method(&o, &t),
                                             .trt_cache = o.trt_cache},
                   (enum qb_export_format)o.format, &text, &err);
    if (st != QB_OK)
        goto out;
    if (o.out && strcmp(o.out, "-") != 0)
        st = qb_file_write_atomic(o.out, text, strlen(text), &err);
    else
        fputs(text, stdout);
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench export: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
out_quiet:
    free(text);
    free(prec);
    qb_calib_table_free(&t);
    qb_graph_free(g);
    qb_plan_spec_free(&o.plan);
    qb_cli_preset_free(&o.preset);
    return qb_cli_exit_code(st);
}
