/* qbench bench: latency and throughput (median after warm-up) of the CPU reference,
 * or of the CPU simulation of a precision plan. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_plan.h"
#include "cli_preset.h"
#include "core/exec.h"

static const char usage[] =
    "usage: qbench bench (MODEL | --preset S [MODEL]) [--runs N] [--warmup N] [--threads N] [--json OUT]\n"
    "                    [--calib C.json] " QB_CLI_PLAN_USAGE
    QB_CLI_PRESET_USAGE
    "              (bench: the model, --calib and the plan)\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int qb_cmd_bench(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    const char *model = NULL, *json = NULL, *calib = NULL;
    struct qb_plan_spec plan = {0};
    struct qb_cli_preset preset = {0};
    enum qb_prec *prec = NULL;
    float *amax = NULL;
    int runs = 20, warmup = 3;
    struct qb_graph *g = NULL;
    struct qb_executor *e = NULL;
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    double *ms = NULL;

    for (int i = 1; i < argc; i++) {
        int r = qb_cli_model_opt(argc, argv, &i, &mo);
        if (r == 0)
            r = qb_cli_plan_opt(argc, argv, &i, &plan);
        if (r == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &preset);
        if (r < 0)
            goto usage;
        if (r)
            continue;
        const char *a = argv[i];
        if ((strcmp(a, "--runs") == 0 || strcmp(a, "--warmup") == 0) && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < (a[2] == 'r') || v > 100000) {
                fprintf(stderr, "qbench bench: bad value for %s: '%s'\n", a, argv[i]);
                goto usage;
            }
            *(a[2] == 'r' ? &runs : &warmup) = (int)v;
        } else if (strcmp(a, "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strcmp(a, "--calib") == 0 && i + 1 < argc) {
            calib = argv[++i];
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            fprintf(stderr, "qbench bench: unexpected or incomplete argument '%s'\n", a);
            goto usage;
        }
    }
    if ((st = qb_cli_preset_load(&preset, "bench", &model)) != QB_OK)
        goto out_quiet;
    if (qb_cli_preset_get(&preset))
        qb_cli_preset_str(&calib, qb_cli_preset_get(&preset)->calib.table);
    if (qb_cli_preset_plan(&preset, &plan) < 0)
        goto usage;
    if (!model || qb_cli_plan_finish(&plan) < 0) {
        fputs(usage, stderr);
        goto usage;
    }
    if (!(g = qb_cli_load(model, &mo, &st)))
        goto out_quiet;
    if ((st = qb_cli_plan_exec(g, model, &plan, calib, &mo, stdout, &prec, &amax, &e, &err)) != QB_OK)
        goto out;
    if (!(ms = calloc((size_t)runs, sizeof(double)))) {
        st = qb_errorf(&err, QB_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* deterministic inputs in [0, 1), like normalised pixels */
    for (int k = 0; k < g->n_inputs; k++) {
        struct qb_tview *in = qb_exec_input(e, k);
        uint32_t x = 12345u + (uint32_t)k;
        for (int64_t j = 0; j < qb_tview_numel(in); j++) {
            x = x * 1664525u + 1013904223u;
            ((float *)in->data)[j] = (float)(x >> 8) / 16777216.0f;
        }
    }
    for (int r = 0; r < warmup + runs; r++) {
        double t0 = qb_cli_now();
        if ((st = qb_exec_run(e, &err)) != QB_OK)
            goto out;
        if (r >= warmup)
            ms[r - warmup] = (qb_cli_now() - t0) * 1e3;
    }
    {
        const struct qb_tview *in = qb_exec_input(e, 0);
        const int batch = g->n_inputs && in->ndim > 0 ? (int)in->shape[0] : 1;
        double mean = 0, median, p90;
        for (int r = 0; r < runs; r++)
            mean += ms[r] / runs;
        qsort(ms, (size_t)runs, sizeof(double), cmp_double);
        median = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
        p90 = ms[(int)(0.9 * (runs - 1))];
        printf("%s: %s, batch %d, %d runs after %d warm-up\n", model, qb_exec_describe(e), batch, runs, warmup);
        printf("latency  median %.2f ms   mean %.2f   min %.2f   p90 %.2f\n", median, mean, ms[0], p90);
        printf("throughput  %.2f images/s\n", batch * 1e3 / median);
        if (json) {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddStringToObject(root, "model", model);
            cJSON_AddStringToObject(root, "device", mo.device ? mo.device : "cpu");
            cJSON_AddStringToObject(root, "executor", qb_exec_describe(e));
            cJSON_AddNumberToObject(root, "threads", mo.threads);
            cJSON_AddNumberToObject(root, "batch", batch);
            cJSON_AddNumberToObject(root, "runs", runs);
            cJSON_AddNumberToObject(root, "warmup", warmup);
            cJSON_AddNumberToObject(root, "latency_ms", median);
            cJSON_AddNumberToObject(root, "latency_mean_ms", mean);
            cJSON_AddNumberToObject(root, "latency_min_ms", ms[0]);
            cJSON_AddNumberToObject(root, "latency_p90_ms", p90);
            cJSON_AddNumberToObject(root, "images_per_s", batch * 1e3 / median);
            st = qb_cli_write_json(json, root, &err);
            cJSON_Delete(root);
        }
    }
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
out_quiet:
    free(ms);
    free(prec);
    free(amax);
    qb_exec_free(e);
    qb_graph_free(g);
    qb_plan_spec_free(&plan);
    qb_cli_preset_free(&preset);
    return qb_cli_exit_code(st);
usage:
    qb_plan_spec_free(&plan);
    qb_cli_preset_free(&preset);
    return QB_EXIT_USAGE;
}
