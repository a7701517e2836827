/* qbench sens: per-layer sensitivity, ranked (sensitivity/sens.h); qbench search: the fastest
 * plan within an accuracy budget (sensitivity/search.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_plan.h"
#include "cli_preset.h"
#include "cli_source.h"
#include "core/calib.h"
#include "sensitivity/search.h"

static const char search_usage[] =
    "usage: qbench search MODEL (--data D.yaml [--split S] | --pack P) (--calib C.json | --calib-images DIR\n"
    "                     [--calib-method M] [--allow-overlap]) --budget POINTS\n"
    "                     [--budget-metric map50-95|map50] [--op-set SET] [--images-max N] [--max-returns N]\n"
    "                     [--out-plan P.json] [--no-reuse] [--no-cache] [--threads N] [--json OUT] [--quiet]\n"
    "       qbench search --preset S [MODEL] --budget POINTS [options above]\n" QB_CLI_PRESET_USAGE
    "              (search: the model, the images (with --images-max), --calib and --op-set)\n";

static const char usage[] =
    "usage: qbench sens MODEL (--data D.yaml [--split S] | --images DIR | --pack P)\n"
    "                   (--calib C.json | --calib-images DIR [--calib-method M] [--allow-overlap])\n"
    "                   [--mode int8-alone|fp16-alone|local] [--metric sqnr|map|fidelity]\n"
    "                   [--by node|op|module|module-op] [--op-set SET] [--images-max N] [--top N]\n"
    "                   [--no-reuse] [--no-cache] [--threads N] [--json OUT] [--quiet]\n"
    "       qbench sens --preset S [MODEL] [options above]\n" QB_CLI_PRESET_USAGE
    "              (sens: the model, the images (with --images-max), --calib and --op-set)\n";

struct sens_opts {
    const char *model, *calib, *json, *op_set;
    const char *calib_images, *calib_method; /* calibrate here (qbench calib) */
    bool allow_overlap;
    struct qb_cli_source src;
    struct qb_sens_opts s;
    bool metric_given, no_reuse, no_cache, quiet;
    int top;
    /* search */
    double budget;
    bool budget_given, budget_map50;
    const char *out_plan;
    int max_returns;
    struct qb_cli_preset preset;
};

static atomic_int cancel_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&cancel_flag, 1);
}

static int parse_args(int argc, char **argv, struct sens_opts *o, struct qb_cli_model_opts *mo, bool search)
{
    const char *cmd = search ? "search" : "sens";
    const char *use = search ? search_usage : usage;
    o->s = (struct qb_sens_opts){.mode = QB_SENS_INT8_ALONE, .metric = QB_SENS_MAP, .unit = QB_SENS_NODE};
    o->top = 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = qb_cli_model_opt(argc, argv, &i, mo);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if ((r = qb_cli_source_opt(argc, argv, &i, &o->src)) == 0)
            r = qb_cli_preset_opt(argc, argv, &i, &o->preset);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (a[0] == '-' && a[1] && i + 1 >= argc && strcmp(a, "--no-reuse") != 0 && strcmp(a, "--no-cache") != 0 &&
            strcmp(a, "--quiet") != 0 && strcmp(a, "--allow-overlap") != 0) {
            fprintf(stderr, "qbench %s: %s needs a value\n%s", cmd, a, use);
            return -1;
        }
        if (strcmp(a, "--calib") == 0) {
            o->calib = argv[++i];
        } else if (strcmp(a, "--calib-images") == 0) {
            o->calib_images = argv[++i];
        } else if (strcmp(a, "--calib-method") == 0) {
            o->calib_method = argv[++i];
        } else if (strcmp(a, "--allow-overlap") == 0) {
            o->allow_overlap = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = argv[++i];
        } else if (strcmp(a, "--op-set") == 0) {
            o->op_set = argv[++i];
        } else if (search && strcmp(a, "--budget") == 0) {
            char *end;
            o->budget = strtod(argv[++i], &end);
            if (*end || !(o->budget >= 0 && o->budget <= 100)) {
                fprintf(stderr, "qbench search: bad --budget '%s' (points of mAP below FP16: 0.5 = 0.005)\n",
                        argv[i]);
                return -1;
            }
            o->budget_given = true;
        } else if (search && strcmp(a, "--budget-metric") == 0) {
            const char *v = argv[++i];
            if (strcmp(v, "map50") != 0 && strcmp(v, "map50-95") != 0) {
                fprintf(stderr, "qbench search: --budget-metric is map50-95 or map50, not '%s'\n", v);
                return -1;
            }
            o->budget_map50 = strcmp(v, "map50") == 0;
        } else if (search && strcmp(a, "--out-plan") == 0) {
            o->out_plan = argv[++i];
        } else if (search && strcmp(a, "--max-returns") == 0) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "qbench search: bad --max-returns '%s'\n", argv[i]);
                return -1;
            }
            o->max_returns = (int)v;
        } else if (!search && (strcmp(a, "--mode") == 0 || strcmp(a, "--metric") == 0 || strcmp(a, "--by") == 0)) {
            const char *const *names = a[2] == 'm' && a[3] == 'o' ? qb_sens_mode_names
                                       : a[2] == 'm'              ? qb_sens_metric_names
                                                                  : qb_sens_unit_names;
            int n = a[2] == 'm' && a[3] == 'o' ? QB_SENS_MODE_COUNT : a[2] == 'm' ? QB_SENS_METRIC_COUNT
                                                                                 : QB_SENS_UNIT_COUNT;
            int v = qb_sens_parse(names, n, argv[++i]);
            if (v < 0) {
                fprintf(stderr, "qbench %s: unknown %s '%s'\n%s", cmd, a, argv[i], use);
                return -1;
            }
            if (names == qb_sens_mode_names)
                o->s.mode = (enum qb_sens_mode)v;
            else if (names == qb_sens_metric_names)
                o->s.metric = (enum qb_sens_metric)v, o->metric_given = true;
            else
                o->s.unit = (enum qb_sens_unit)v;
        } else if (strcmp(a, "--top") == 0) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "qbench %s: bad --top '%s'\n", cmd, argv[i]);
                return -1;
            }
            o->top = (int)v;
        } else if (strcmp(a, "--no-reuse") == 0) {
            o->no_reuse = true;
        } else if (strcmp(a, "--no-cache") == 0) {
            o->no_cache = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "qbench %s: unknown option %s\n%s", cmd, a, use);
            return -1;
        } else if (!o->model) {
            o->model = a;
        } else {
            fprintf(stderr, "qbench %s: unexpected argument '%s'\n%s", cmd, a, use);
            return -1;
        }
    }
    if (qb_cli_preset_load(&o->preset, cmd, &o->model) != QB_OK)
        return -1;
    if (qb_cli_preset_get(&o->preset)) {
        const struct qb_preset *p = qb_cli_preset_get(&o->preset);
        qb_cli_preset_source(&o->preset, &o->src);
        if (!o->calib_images)
            qb_cli_preset_str(&o->calib, p->calib.table);
        qb_cli_preset_str(&o->op_set, p->plan.op_set);
    }
    if (!o->model || qb_cli_source_check(&o->src) < 0) {
        fprintf(stderr, "%s", use);
        return -1;
    }
    if (!o->calib == !o->calib_images) {
        fprintf(stderr, "qbench %s: give the calibration with --calib C.json or --calib-images DIR\n%s", cmd, use);
        return -1;
    }
    if (search && !o->budget_given) {
        fprintf(stderr, "qbench search: --budget POINTS is required (mAP50-95 points below FP16, e.g. 0.5)\n%s", use);
        return -1;
    }
    if (search && o->src.images) {
        fprintf(stderr, "qbench search: the budget is in mAP on labelled images: --data or --pack\n");
        return -1;
    }
    if (o->s.mode == QB_SENS_LOCAL && o->metric_given && o->s.metric != QB_SENS_SQNR) {
        fprintf(stderr, "qbench sens: the local analysis measures the SQNR of each node's own output\n");
        return -1;
    }
    if (o->s.mode == QB_SENS_LOCAL)
        o->s.metric = QB_SENS_SQNR;
    return 0;
}

static int count_int8(const struct qb_graph *g, const enum qb_prec *prec)
{
    int n = 0;
    for (int i = 0; i < g->n_order; i++)
        n += prec[g->order[i]] == QB_PREC_INT8;
    return n;
}

static void progress(void *user, const struct qb_sweep_progress *p)
{
    static double last;
    const struct sens_opts *o = user;
    bool tty = isatty(2);
    if (p->elapsed < last) /* a new sweep (the search runs several) */
        last = 0;
    if (o->quiet || (p->elapsed - last < (tty ? 0.5 : 10.0) && p->done < p->total))
        return;
    last = p->elapsed;
    if (p->item < 0)
        fprintf(stderr, "%ssens: FP32 reference, batch %d/%d", tty ? "\r" : "", p->batch, p->n_batches);
    else
        fprintf(stderr, "%ssens: %d/%d plans, batch %d/%d, %.0f s", tty ? "\r" : "", p->done, p->total, p->batch,
                p->n_batches, p->elapsed);
    if (p->eta >= 0)
        fprintf(stderr, ", ETA %.0f s", p->eta);
    fputs(tty ? "\033[K" : "\n", stderr);
}

static void print_ref(const char *label, const struct qb_sweep_result *r)
{
    printf("%-16s", label);
    if (!isnan(r->map50_95))
        printf(" mAP50 %.4f  mAP50-95 %.4f", r->map50, r->map50_95);
    if (!isnan(r->fid50_95))
        printf("  fidelity mAP50-95 %.4f", r->fid50_95);
    if (!isnan(r->sqnr_db) && isfinite(r->sqnr_db))
        printf("  SQNR %.1f dB", r->sqnr_db);
    printf("\n");
}

static void print_table(const struct qb_sens *s, const struct sens_opts *o)
{
    const struct qb_sweep_result *base = &s->base_item.r;
    int shown = o->top && o->top < s->n ? o->top : s->n;
    bool local = s->o.mode == QB_SENS_LOCAL;

    print_ref("FP32", &s->fp32_item.r);
    if (!local)
        print_ref(s->o.mode == QB_SENS_INT8_ALONE ? "all FP16 (base)" : "all INT8 (base)", base);
    printf("\n%4s  %-46s %-9s %5s", "rank", qb_sens_unit_names[s->o.unit], "op", "nodes");
    if (local)
        printf(" %9s %9s", "SQNR dB", "cosine");
    else
        printf(" %10s %10s %10s %8s", "dmAP50-95", "dmAP50", "dfid50-95", "SQNR dB");
    printf(" %7s\n", "gain %");
    for (int r = 0; r < shown; r++) {
        const struct qb_sens_unit_result *u = &s->units[s->rank[r]];
        const struct qb_sweep_result *x = &u->item.r;
        int w = (int)strlen(u->name);
        printf("%4d  %-46s %-9s %5d", r + 1, w > 46 ? u->name + w - 46 : u->name, u->op, u->n_nodes);
        if (!x->done)
            printf("  (not evaluated)");
        else if (local)
            printf(" %9.2f %9.6f", x->sqnr_db, x->cosine);
        else if (isnan(x->map50_95)) /* no labels */
            printf(" %10s %10s %+10.4f %8.1f", "-", "-", x->fid50_95 - base->fid50_95, x->sqnr_db);
        else
            printf(" %+10.4f %+10.4f %+10.4f %8.1f", x->map50_95 - base->map50_95, x->map50 - base->map50,
                   x->fid50_95 - base->fid50_95, x->sqnr_db);
        printf(" %7.2f\n", 100 * u->gain);
    }
    if (shown < s->n)
        printf("(%d more; --top 0 shows all)\n", s->n - shown);
    printf("ranked by %s%s; gain: share of the all-FP16 model's bit-operations (MACs x 16 x 16) that INT8 "
           "removes\n",
           local ? "the SQNR of each node's own output (only its inputs and weights quantized)"
                 : s->o.mode == QB_SENS_INT8_ALONE ? "the loss when the unit alone runs INT8, "
                                                   : "what keeping the unit alone in FP16 gives back, ",
           local ? "" : s->o.metric == QB_SENS_MAP ? "mAP50-95" : s->o.metric == QB_SENS_FIDELITY ? "fidelity mAP50-95"
                                                                                               : "output SQNR");
}

static void add_result(cJSON *o, const struct qb_sweep_result *r)
{
    const char *k[] = {"map50", "map50_95", "precision", "recall", "fidelity_map50", "fidelity_map50_95", "sqnr_db",
                       "cosine"};
    const double v[] = {r->map50, r->map50_95, r->precision, r->recall, r->fid50, r->fid50_95, r->sqnr_db, r->cosine};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (isfinite(v[i]))
            cJSON_AddNumberToObject(o, k[i], v[i]);
    cJSON_AddBoolToObject(o, "cached", r->cached);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
}

static enum qb_status write_json(const struct qb_sens *s, const struct sens_opts *o, const struct qb_evalset *set,
                                 struct qb_error *err)
{
    cJSON *root = cJSON_CreateObject(), *units, *x;
    enum qb_status st;
    if (!root)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON_AddStringToObject(root, "mode", qb_sens_mode_names[s->o.mode]);
    cJSON_AddStringToObject(root, "metric", qb_sens_metric_names[s->o.metric]);
    cJSON_AddStringToObject(root, "by", qb_sens_unit_names[s->o.unit]);
    cJSON_AddStringToObject(root, "op_set", o->op_set ? o->op_set : "core");
    cJSON_AddNumberToObject(root, "images", set->n_images);
    if ((x = cJSON_AddObjectToObject(root, "fp32")))
        add_result(x, &s->fp32_item.r);
    if ((x = cJSON_AddObjectToObject(root, "base"))) {
        cJSON_AddStringToObject(x, "plan", s->o.mode == QB_SENS_INT8_ALONE   ? "fp16"
                                           : s->o.mode == QB_SENS_FP16_ALONE ? "int8"
                                                                             : "fp32");
        add_result(x, &s->base_item.r);
    }
    units = cJSON_AddArrayToObject(root, "units");
    for (int r = 0; units && r < s->n; r++) {
        const struct qb_sens_unit_result *u = &s->units[s->rank[r]];
        cJSON *e = cJSON_CreateObject(), *nodes;
        if (!e)
            break;
        cJSON_AddItemToArray(units, e);
        cJSON_AddNumberToObject(e, "rank", r + 1);
        cJSON_AddStringToObject(e, "name", u->name);
        cJSON_AddStringToObject(e, "op", u->op);
        if ((nodes = cJSON_AddArrayToObject(e, "nodes")))
            for (int j = 0; j < u->n_nodes; j++)
                cJSON_AddItemToArray(nodes, cJSON_CreateString(s->g->nodes[u->nodes[j]].name));
        cJSON_AddNumberToObject(e, "gain", u->gain);
        cJSON_AddBoolToObject(e, "evaluated", u->item.r.done);
        if (!u->item.r.done)
            continue;
        if (isfinite(u->cost))
            cJSON_AddNumberToObject(e, "cost", u->cost);
        add_result(e, &u->item.r);
        if (s->o.mode != QB_SENS_LOCAL && isfinite(u->item.r.map50_95 - s->base_item.r.map50_95)) {
            cJSON_AddNumberToObject(e, "delta_map50", u->item.r.map50 - s->base_item.r.map50);
            cJSON_AddNumberToObject(e, "delta_map50_95", u->item.r.map50_95 - s->base_item.r.map50_95);
        }
    }
    st = qb_cli_write_json(o->json, root, err);
    cJSON_Delete(root);
    return st;
}

/* What both commands set up: the model, the images, the all-INT8 plan and its calibration. */
struct work {
    struct qb_graph *g;
    struct qb_cli_loaded src;
    struct qb_plan_spec spec;
    enum qb_prec *int8;
    float *amax;
    char sha[65], cache_dir[4096], calib_path[4200];
    struct qb_sweep_opts sw;
    struct qb_exec_opts exec;
};

/* --calib-images: `qbench calib` into the cache folder (its histograms are cached
 * too), with the leakage guard against the evaluation data. */
static enum qb_status calibrate(struct work *w, const struct sens_opts *o, struct qb_error *err)
{
    char *argv[16];
    int argc = 0, rc;
    mkdir(w->cache_dir, 0777);
    snprintf(w->calib_path, sizeof(w->calib_path), "%s/sens-calib-%.16s.json", w->cache_dir, w->sha);
    argv[argc++] = "calib";
    argv[argc++] = (char *)o->model;
    argv[argc++] = "--images";
    argv[argc++] = (char *)o->calib_images;
    argv[argc++] = "--method";
    argv[argc++] = (char *)(o->calib_method ? o->calib_method : "entropy");
    if (o->src.data) {
        argv[argc++] = "--eval-data";
        argv[argc++] = (char *)o->src.data;
    }
    if (o->allow_overlap)
        argv[argc++] = "--allow-overlap";
    argv[argc++] = "--quiet";
    argv[argc++] = "--out";
    argv[argc++] = w->calib_path;
    argv[argc] = NULL;
    fflush(stdout);
    if ((rc = qb_cmd_calib(argc, argv)) != QB_EXIT_OK)
        return qb_errorf(err, rc == QB_EXIT_USAGE ? QB_ERR_USAGE : QB_ERR_IO,
                         "calibrating on %s failed (see above)", o->calib_images);
    return QB_OK;
}

static enum qb_status work_open(struct work *w, struct sens_opts *o, const struct qb_cli_model_opts *mo,
                                struct qb_error *err)
{
    enum qb_status st;

    if (o->op_set && (st = qb_plan_spec_set_op_set(&w->spec, o->op_set, "--op-set", err)) != QB_OK)
        return st;
    if ((st = qb_cli_source_open(&o->src, &w->src, err)) != QB_OK)
        return st;
    if (!(w->g = qb_cli_load(o->model, mo, &st)))
        return qb_errorf(err, st, "%s: not loaded (see above)", o->model);
    if ((st = qb_cli_source_model(&w->src, w->g, err)) != QB_OK)
        return st;
    if (!(w->int8 = malloc(((size_t)w->g->n_nodes + 1) * sizeof(*w->int8))))
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    if ((st = qb_plan_resolve(&w->spec, w->g, w->int8, NULL, err)) != QB_OK)
        return st;
    if ((st = qb_calib_file_sha256(o->model, w->sha, err)) != QB_OK ||
        ((!o->no_cache || o->calib_images) &&
         (st = qb_calib_cache_dir(w->cache_dir, sizeof(w->cache_dir), err)) != QB_OK) ||
        (o->calib_images && (st = calibrate(w, o, err)) != QB_OK) ||
        (st = qb_cli_plan_amax(w->g, o->model, o->calib ? o->calib : w->calib_path, w->int8, &w->amax, err)) !=
            QB_OK ||
        (st = qb_cli_source_load(&w->src, w->g, o->quiet, err)) != QB_OK)
        return st;
    if (o->s.metric == QB_SENS_MAP && !w->src.set->labelled && !o->metric_given) {
        qb_log(QB_LOG_WARN, "%s has no labels: ranking by fidelity mAP (against FP32's own detections)",
               w->src.name);
        o->s.metric = QB_SENS_FIDELITY;
    }
    if (o->s.metric == QB_SENS_MAP && !w->src.set->labelled)
        return qb_errorf(err, QB_ERR_USAGE, "%s has no labels: mAP needs them (use --metric fidelity or sqnr)",
                         w->src.name);
    w->exec = (struct qb_exec_opts){.device = mo->device, .n_threads = mo->threads};
    w->sw = (struct qb_sweep_opts){.g = w->g, .model_sha256 = w->sha, .set = w->src.set, .amax = w->amax,
                                   .exec = &w->exec, .detect = w->src.detect, .nc = w->src.nc,
                                   .no_reuse = o->no_reuse, .cache_dir = o->no_cache ? NULL : w->cache_dir,
                                   .cancel = &cancel_flag, .progress = progress, .user = (void *)o};
    return QB_OK;
}

static void work_close(struct work *w)
{
    free(w->int8);
    free(w->amax);
    qb_cli_source_close(&w->src);
    qb_graph_free(w->g);
    qb_plan_spec_free(&w->spec);
}

static void catch_signals(bool on)
{
    signal(SIGINT, on ? on_signal : SIG_DFL);
    signal(SIGTERM, on ? on_signal : SIG_DFL);
}

int qb_cmd_sens(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    struct sens_opts o = {0};
    struct qb_error err = {0};
    struct work w = {0};
    struct qb_sens *s = NULL;
    enum qb_status st = QB_OK;
    double t0 = qb_cli_now();

    qb_plan_spec_init(&w.spec, QB_PREC_INT8);
    if (parse_args(argc, argv, &o, &mo, false) != 0) {
        work_close(&w);
        qb_cli_preset_free(&o.preset);
        return QB_EXIT_USAGE;
    }
    if ((st = work_open(&w, &o, &mo, &err)) != QB_OK || (st = qb_sens_new(w.g, w.int8, &o.s, &s, &err)) != QB_OK)
        goto out;
    if (!o.quiet)
        fprintf(stderr, "sens: %s by %s over %d quantizable nodes (%d units), %d images, metric %s\n",
                qb_sens_mode_names[o.s.mode], qb_sens_unit_names[o.s.unit], count_int8(w.g, w.int8), s->n,
                w.src.set->n_images, qb_sens_metric_names[o.s.metric]);
    catch_signals(true);
    st = qb_sens_run(s, &w.sw, &err);
    catch_signals(false);
    if (!o.quiet && isatty(2))
        fputs("\n", stderr);
    if (st != QB_OK && st != QB_ERR_CANCELLED)
        goto out;
    print_table(s, &o);
    printf("%d images, %.1f s%s\n", w.src.set->n_images, qb_cli_now() - t0,
           st == QB_ERR_CANCELLED ? "; cancelled: the plans finished so far are cached, run again to resume" : "");
    if (o.json) {
        struct qb_error e2 = {0};
        enum qb_status js = write_json(s, &o, w.src.set, st == QB_OK ? &err : &e2);
        if (st == QB_OK)
            st = js;
    }
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench sens: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
    qb_sens_free(s);
    work_close(&w);
    qb_cli_preset_free(&o.preset);
    return qb_cli_exit_code(st);
}

/* ---- qbench search ---- */

static void print_search(const struct qb_search *r, const struct qb_sens *s, const struct sens_opts *o)
{
    const struct qb_search_plan *fp16 = &r->plans[r->fp16];
    printf("\n%-3s %-52s %6s %8s %9s %10s %9s %s\n", "", "plan", "FP16", "cost", "mAP50", "mAP50-95", "d5095",
           "");
    for (int i = 0; i < r->n; i++) {
        const struct qb_search_plan *p = &r->plans[i];
        const struct qb_sweep_result *x = &p->item.r;
        int w = (int)strlen(p->what);
        printf("%-3s %-52s %6d %8.3f", i == r->chosen ? "=>" : p->pareto ? "*" : "",
               w > 52 ? p->what + w - 52 : p->what, p->n_fp16, p->cost);
        if (x->done)
            printf(" %9.4f %10.4f %+9.4f %s\n", x->map50, x->map50_95, x->map50_95 - fp16->item.r.map50_95,
                   p->meets ? "within budget" : "");
        else
            printf("  (not evaluated)\n");
    }
    printf("=> chosen, * on the front of mAP50-95 against cost; cost: bit-operations relative to all-FP16 "
           "(INT8 = 1/4)\n");
    printf("budget: %s >= %.4f (all-FP16 %.4f - %.2f points)\n", o->budget_map50 ? "mAP50" : "mAP50-95", r->target,
           o->budget_map50 ? fp16->item.r.map50 : fp16->item.r.map50_95, o->budget);
    const struct qb_search_plan *c = &r->plans[r->chosen];
    printf("chosen plan %.12s: %d quantizable nodes kept in FP16:", c->item.hash, c->n_fp16);
    for (int k = 0; k < s->g->n_nodes; k++)
        if (s->int8[k] == QB_PREC_INT8 && c->prec[k] != QB_PREC_INT8)
            printf("\n  %s", s->g->nodes[k].name);
    printf("\n");
}

static enum qb_status save_plan(const struct qb_search *r, const struct qb_sens *s, const struct sens_opts *o,
                                struct qb_error *err)
{
    struct qb_plan_spec spec;
    const struct qb_search_plan *c = &r->plans[r->chosen];
    enum qb_status st = qb_plan_spec_from_prec(s->g, o->op_set, s->int8, c->prec, &spec, err);

    if (st == QB_OK)
        st = qb_plan_save(o->out_plan, QB_PLAN_FORMAT_JSON, &spec, s->g, c->prec, err);
    if (st == QB_OK)
        printf("plan written to %s (qbench eval --plan %s)\n", o->out_plan, o->out_plan);
    qb_plan_spec_free(&spec);
    return st;
}

static enum qb_status search_json(const struct qb_search *r, const struct qb_sens *s, const struct sens_opts *o,
                                  const struct qb_evalset *set, struct qb_error *err)
{
    cJSON *root = cJSON_CreateObject(), *plans;
    enum qb_status st;
    if (!root)
        return qb_errorf(err, QB_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON_AddNumberToObject(root, "images", set->n_images);
    cJSON_AddNumberToObject(root, "budget", o->budget);
    cJSON_AddStringToObject(root, "budget_metric", o->budget_map50 ? "map50" : "map50_95");
    cJSON_AddNumberToObject(root, "target", r->target);
    cJSON_AddNumberToObject(root, "chosen", r->chosen);
    if ((plans = cJSON_AddArrayToObject(root, "plans")))
        for (int i = 0; i < r->n; i++) {
            const struct qb_search_plan *p = &r->plans[i];
            cJSON *e = cJSON_CreateObject(), *nodes;
            if (!e)
                break;
            cJSON_AddItemToArray(plans, e);
            cJSON_AddStringToObject(e, "what", p->what);
            cJSON_AddStringToObject(e, "hash", p->item.hash);
            cJSON_AddNumberToObject(e, "cost", p->cost);
            cJSON_AddBoolToObject(e, "meets_budget", p->meets);
            cJSON_AddBoolToObject(e, "pareto", p->pareto);
            add_result(e, &p->item.r);
            if ((nodes = cJSON_AddArrayToObject(e, "fp16_nodes")))
                for (int k = 0; k < s->g->n_nodes; k++)
                    if (s->int8[k] == QB_PREC_INT8 && p->prec[k] != QB_PREC_INT8)
                        cJSON_AddItemToArray(nodes, cJSON_CreateString(s->g->nodes[k].name));
        }
    st = qb_cli_write_json(o->json, root, err);
    cJSON_Delete(root);
    return st;
}

int qb_cmd_search(int argc, char **argv)
{
    struct qb_cli_model_opts mo = {0};
    struct sens_opts o = {0};
    struct qb_error err = {0};
    struct work w = {0};
    struct qb_sens *s = NULL;
    struct qb_search *r = NULL;
    enum qb_status st = QB_OK;
    double t0 = qb_cli_now();

    qb_plan_spec_init(&w.spec, QB_PREC_INT8);
    if (parse_args(argc, argv, &o, &mo, true) != 0) {
        work_close(&w);
        qb_cli_preset_free(&o.preset);
        return QB_EXIT_USAGE;
    }
    o.s = (struct qb_sens_opts){.mode = QB_SENS_INT8_ALONE, .metric = QB_SENS_MAP, .unit = QB_SENS_NODE};
    o.metric_given = true; /* the budget is in mAP: labels are required */
    if ((st = work_open(&w, &o, &mo, &err)) != QB_OK || (st = qb_sens_new(w.g, w.int8, &o.s, &s, &err)) != QB_OK)
        goto out;
    if (!o.quiet)
        fprintf(stderr, "search: ranking %d nodes (INT8 alone, mAP50-95, %d images), then the search\n", s->n,
                w.src.set->n_images);
    catch_signals(true);
    if ((st = qb_sens_run(s, &w.sw, &err)) == QB_OK) {
        int top = o.top;
        o.top = 10;
        print_table(s, &o);
        o.top = top;
        st = qb_search_run(s, &w.sw,
                           &(struct qb_search_opts){.budget = o.budget, .map50 = o.budget_map50,
                                                    .max_returns = o.max_returns},
                           &r, &err);
    }
    catch_signals(false);
    if (!o.quiet && isatty(2))
        fputs("\n", stderr);
    if (st != QB_OK && !(st == QB_ERR_CANCELLED && r))
        goto out;
    print_search(r, s, &o);
    printf("%d images, %.1f s%s\n", w.src.set->n_images, qb_cli_now() - t0,
           st == QB_ERR_CANCELLED ? "; cancelled: the plans evaluated so far are cached, run again to resume" : "");
    if (st == QB_OK && o.out_plan)
        st = save_plan(r, s, &o, &err);
    if (st == QB_OK && o.json)
        st = search_json(r, s, &o, w.src.set, &err);
out:
    if (st != QB_OK)
        fprintf(stderr, "qbench search: %s\n", err.msg[0] ? err.msg : qb_status_str(st));
    qb_search_free(r);
    qb_sens_free(s);
    work_close(&w);
    qb_cli_preset_free(&o.preset);
    return qb_cli_exit_code(st);
}
