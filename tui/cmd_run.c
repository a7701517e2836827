/* qbench run: the FP32 reference, or the CPU simulation of a precision plan, on .npy
 * tensors or images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_plan.h"
#include "cli_preset.h"
#include "core/exec.h"
#include "core/image.h"
#include "core/npy.h"

#define MAX_INPUTS 64

static const char usage[] =
    "usage: qbench run (MODEL | --preset S [MODEL]) --input X.npy|IMAGE [--input ...] --output Y.npy\n"
    "                  [--save-input X.npy] [--threads N] [--shape NAME=D,D,...] [--calib C.json]\n"
    "                  " QB_CLI_PLAN_USAGE
    "  Images are letterboxed as Ultralytics does; several --input fill the batch slots\n"
    "  in order (the last one repeats). With several model outputs, Y.<name>.npy each.\n"
    "  Without a plan option, the FP32 reference.\n" QB_CLI_PRESET_USAGE
    "              (run: the model, --calib and the plan)\n";

static bool is_npy(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && strcmp(path + n - 4, ".npy") == 0;
}

/* Fills batch slot `slot` of a [B,...] input (or the whole input) from one file. */
static enum qb_status fill_from(const char *path, struct qb_tview *in, int slot, bool whole, bool *took_whole,
                                struct qb_error *err)
{
    const int64_t numel = qb_tview_numel(in);
    const int64_t batch = in->ndim > 0 ? in->shape[0] : 1;
    const int64_t per = batch > 0 ? numel / batch : numel;
    float *dst = (float *)in->data;
    enum qb_status st;

    *took_whole = false;
    if (is_npy(path)) {
        struct qb_npy a;
        int64_t n = 1;
        if ((st = qb_npy_read(path, &a, err)) != QB_OK)
            return st;
        for (int i = 0; i < a.ndim; i++)
            n *= a.shape[i];
        if (a.dtype != QB_DTYPE_F32) {
            st = qb_errorf(err, QB_ERR_SHAPE, "%s: array is %s; the model input is float32", path,
                           qb_dtype_name(a.dtype));
        } else if (n == numel && whole) {
            memcpy(dst, a.data, (size_t)numel * sizeof(float));
            *took_whole = true;
        } else if (n == per) {
            memcpy(dst + slot * per, a.data, (size_t)per * sizeof(float));
        } else {
            st = qb_errorf(err, QB_ERR_SHAPE,
                           "%s: array has %lld elements; the model input needs %lld (or %lld for one batch slot)",
                           path, (long long)n, (long long)numel, (long long)per);
        }
        qb_npy_free(&a);
        return st;
    }
    if (in->ndim != 4 || in->shape[1] != 3)
        return qb_errorf(err, QB_ERR_SHAPE, "%s: an image input needs a model input of shape [B,3,H,W]", path);
    return qb_image_letterbox(path, (int)in->shape[3], (int)in->shape[2], dst + slot * per, NULL, err);
}

/* "out.npy" + "output0" -> "out.output0.npy"; names are made file-safe. */
static void output_path(char *buf, size_t len, const char *base, const char *name)
{
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".npy") == 0)
        n -= 4;
    snprintf(buf, len, "%.*s.", (int)n, base);
    size_t k = strlen(buf);
    for (const char *p = name; *p && k + 5 < len; p++)
        buf[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                                  *p == '-' || *p == '_'
                              ? *p
                              : '_');
    snprintf(buf + k, len - k, ".npy");
}

int qb_cmd_run(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    const char *model = NULL, *output = NULL, *save_input = NULL, *calib = NULL, *inputs[MAX_INPUTS];
    int n_inputs = 0;
    struct qb_plan_spec plan = {0};
    struct qb_cli_preset preset = {0};
    enum qb_prec *prec = NULL;
    float *amax = NULL;
    struct qb_graph *g = NULL;
    struct qb_executor *e = NULL;
    struct qb_error err = {0};
    enum qb_status st = QB_OK;
    double t0, t1;

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
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--input") == 0 && has_val && n_inputs < MAX_INPUTS) {
            inputs[n_inputs++] = argv[++i];
        } else if (strcmp(a, "--calib") == 0 && has_val) {
            calib = argv[++i];
        } else if (strcmp(a, "--output") == 0 && has_val) {
            output = argv[++i];
        } else if (strcmp(a, "--save-input") == 0 && has_val) {
            save_input = argv[++i];
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            fprintf(stderr, "qbench run: unexpected or incomplete argument '%s'\n%s", a, usage);
            goto usage;
        }
    }
    if ((st = qb_cli_preset_load(&preset, "run", &model)) != QB_OK)
        goto out_quiet;
    if (qb_cli_preset_get(&preset))
        qb_cli_preset_str(&calib, qb_cli_preset_get(&preset)->calib.table);
    if (qb_cli_preset_plan(&preset, &plan) < 0 || qb_cli_plan_finish(&plan) < 0)
        goto usage;
    if (!model || !n_inputs || !output) {
        fputs(usage, stderr);
        goto usage;
    }
    if (!(g = qb_cli_load(model, &mo, &st)))
        goto out_quiet;
    if ((st = qb_cli_plan_exec(g, model, &plan, calib, &mo, stderr, &prec, &amax, &e, &err)) != QB_OK)
        goto out;

    if (g->n_inputs == 1) {
        struct qb_tview *in = qb_exec_input(e, 0);
        const int64_t batch = in->ndim > 0 && in->shape[0] > 0 ? in->shape[0] : 1;
        const int64_t per = qb_tview_numel(in) / batch;
        bool whole = false;
        if (n_inputs > batch) {
            st = qb_errorf(&err, QB_ERR_USAGE, "%d inputs given; the model's batch is %lld", n_inputs,
                           (long long)batch);
            goto out;
        }
        for (int s = 0; s < n_inputs && !whole; s++)
            if ((st = fill_from(inputs[s], in, s, n_inputs == 1, &whole, &err)) != QB_OK)
                goto out;
        for (int64_t s = n_inputs; s < batch && !whole; s++)
            memcpy((float *)in->data + s * per, (float *)in->data + (n_inputs - 1) * per, (size_t)per * sizeof(float));
    } else {
        if (n_inputs != g->n_inputs) {
            st = qb_errorf(&err, QB_ERR_USAGE, "the model has %d inputs; give one .npy per input, in order",
                           g->n_inputs);
            goto out;
        }
        for (int k = 0; k < n_inputs; k++) {
            bool whole;
            if ((st = fill_from(inputs[k], qb_exec_input(e, k), 0, true, &whole, &err)) != QB_OK)
                goto out;
        }
    }
    if (save_input) {
        const struct qb_tview *in = qb_exec_input(e, 0);
        if ((st = qb_npy_write(save_input, in->dtype, in->ndim, in->shape, in->data, &err)) != QB_OK)
            goto out;
    }

    t0 = qb_cli_now();
    if ((st = qb_exec_run(e, &err)) != QB_OK)
        goto out;
    t1 = qb_cli_now();

    for (int k = 0; k < g->n_outputs; k++) {
        const struct qb_tview *o = qb_exec_output(e, k);
        char path[4096];
        if (g->n_outputs == 1)
            snprintf(path, sizeof(path), "%s", output);
        else
            output_path(path, sizeof(path), output, g->values[g->outputs[k]].name);
        if ((st = qb_npy_write(path, o->dtype, o->ndim, o->shape, o->data, &err)) != QB_OK)
            goto out;
        fprintf(stderr, "qbench: wrote %s\n", path);
    }
    fprintf(stderr, "qbench: %s in %.1f ms (%s)\n", model, (t1 - t0) * 1e3, qb_exec_describe(e));
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
out_quiet:
    qb_exec_free(e);
    qb_graph_free(g);
    free(prec);
    free(amax);
    qb_plan_spec_free(&plan);
    qb_cli_preset_free(&preset);
    return qb_cli_exit_code(st);
usage:
    qb_plan_spec_free(&plan);
    qb_cli_preset_free(&preset);
    return QB_EXIT_USAGE;
}
