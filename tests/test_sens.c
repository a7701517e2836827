/* Sensitivity sweeps (sensitivity/sweep.h, sens.h) on the shared fixture
 * (../shared/fixtures: yolo11n-320, COCO-trained, and coco128-val), 4 images:
 *  - a node made sensitive by construction (its input's calibrated range shrunk 64x,
 *    so INT8 clips it) ranks first in an INT8-alone sweep by module, by output SQNR;
 *  - fidelity mAP of FP32 (and of the all-FP32 plan) against itself is exactly 1;
 *  - reuse of upstream values gives the same numbers as running every plan from the
 *    inputs, and a cached sweep the same numbers as an uncached one;
 *  - a sweep cancelled after 3 plans resumes from the cache and ends with the same
 *    numbers, evaluating only what was missing. */
#include <math.h>
#include <stdatomic.h>

#include "core/dataset.h"
#include "core/exec.h"
#include "core/onnx.h"
#include "core/plan.h"
#include "sensitivity/sens.h"
#include "testutil.h"

static void max_observer(void *user, int v, const struct qb_tview *t)
{
    float *amax = user;
    const float *x = t->data;
    for (int64_t i = 0; i < qb_tview_numel(t); i++)
        amax[v] = fmaxf(amax[v], fabsf(x[i]));
}

/* max |x| per value over the set (the max calibration) */
static float *calibrate(const struct qb_graph *g, const struct qb_evalset *set)
{
    float *amax = calloc((size_t)g->n_values, sizeof(float));
    struct qb_executor *e = NULL;
    struct qb_error err = {0};
    if (qb_exec_new(g, &(struct qb_exec_opts){.n_threads = 2, .observe = max_observer, .observe_user = amax}, &e,
                    &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        return amax;
    }
    for (int b = 0; b < set->n_batches; b++) {
        qb_evalset_input(set, b, qb_exec_input(e, 0)->data);
        CHECK(qb_exec_run(e, &err) == QB_OK);
    }
    qb_exec_free(e);
    return amax;
}

/* A Conv in the middle of the backbone whose input no other node reads. */
static int pick_victim(const struct qb_graph *g, const enum qb_prec *int8)
{
    int found = -1, seen = 0;
    for (int i = 0; i < g->n_order && found < 0; i++) {
        const struct qb_node *n = &g->nodes[g->order[i]];
        int readers = 0;
        if (int8[g->order[i]] != QB_PREC_INT8 || ++seen < 20)
            continue;
        for (int j = 0; j < g->n_order; j++) {
            const struct qb_node *m = &g->nodes[g->order[j]];
            for (int k = 0; k < m->n_in; k++)
                readers += m->in[k] == n->in[0];
        }
        if (readers == 1)
            found = g->order[i];
    }
    return found;
}

struct cancel_after {
    atomic_int flag;
    int after, first_done;
    bool seen;
};

static void progress(void *user, const struct qb_sweep_progress *p)
{
    struct cancel_after *c = user;
    if (!c->seen) {
        c->seen = true;
        c->first_done = p->done;
    }
    if (c->after && p->done >= c->after)
        atomic_store(&c->flag, 1);
}

static bool same_result(const struct qb_sweep_result *a, const struct qb_sweep_result *b)
{
    const double x[] = {a->map50, a->map50_95, a->fid50, a->fid50_95, a->sqnr_db, a->cosine};
    const double y[] = {b->map50, b->map50_95, b->fid50, b->fid50_95, b->sqnr_db, b->cosine};
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
        if (!(x[i] == y[i] || (isnan(x[i]) && isnan(y[i]))))
            return false;
    return a->images == b->images;
}

static void run(const char *model, const char *data, const char *tmp)
{
    struct qb_graph *g = NULL;
    struct qb_dataset *ds = NULL;
    struct qb_evalset *set = NULL;
    struct qb_error err = {0};
    struct qb_plan_spec spec;
    struct qb_sens *s = NULL;
    enum qb_prec *int8 = NULL;
    float *amax = NULL;
    struct qb_sweep_item *ref = NULL, *items = NULL;
    int n = 0, victim;
    char module[256];

    qb_plan_spec_init(&spec, QB_PREC_INT8);
    if (qb_onnx_load(model, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK ||
        qb_dataset_open(data, "val", &ds, &err) != QB_OK ||
        qb_evalset_load(&(struct qb_evalset_opts){.ds = ds, .batch = 1, .w = 320, .h = 320, .limit = 4}, &set,
                        &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        goto out;
    }
    int8 = malloc((size_t)g->n_nodes * sizeof(*int8));
    CHECK(qb_plan_resolve(&spec, g, int8, NULL, &err) == QB_OK);
    amax = calibrate(g, set);
    victim = pick_victim(g, int8);
    CHECK(victim >= 0);
    if (victim < 0)
        goto out;
    amax[g->nodes[victim].in[0]] /= 64;
    qb_sens_module(g->nodes[victim].name, module, sizeof(module));

    /* the ranking, reusing upstream values, cached */
    CHECK(qb_sens_new(g, int8,
                      &(struct qb_sens_opts){.mode = QB_SENS_INT8_ALONE, .metric = QB_SENS_SQNR,
                                             .unit = QB_SENS_MODULE},
                      &s, &err) == QB_OK);
    struct qb_exec_opts eo = {.n_threads = 2};
    struct qb_sweep_opts so = {.g = g, .model_sha256 = "test", .set = set, .amax = amax, .exec = &eo,
                               .detect = qb_detect_opts_default(), .nc = 80, .cache_dir = tmp};
    CHECKF(qb_sens_run(s, &so, &err) == QB_OK, "%s", err.msg);
    CHECKF(strcmp(s->units[s->rank[0]].name, module) == 0, "ranked first: %s (%.1f dB), expected %s",
           s->units[s->rank[0]].name, s->units[s->rank[0]].item.r.sqnr_db, module);
    printf("ok   %s ranks first of %d modules: SQNR %.1f dB (next %s %.1f dB), base %.1f dB\n", module, s->n,
           s->units[s->rank[0]].item.r.sqnr_db, s->units[s->rank[1]].name, s->units[s->rank[1]].item.r.sqnr_db,
           s->base_item.r.sqnr_db);

    /* by node, on one image: the node itself ranks first */
    {
        struct qb_sens *sn = NULL;
        struct qb_evalset one = *set;
        one.n_images = 1;
        one.n_batches = 1;
        struct qb_sweep_opts o1 = so;
        o1.set = &one;
        o1.cache_dir = NULL;
        for (int mode = QB_SENS_INT8_ALONE; mode <= QB_SENS_LOCAL; mode += QB_SENS_LOCAL - QB_SENS_INT8_ALONE) {
            CHECK(qb_sens_new(g, int8,
                              &(struct qb_sens_opts){.mode = (enum qb_sens_mode)mode, .metric = QB_SENS_SQNR,
                                                     .unit = QB_SENS_NODE},
                              &sn, &err) == QB_OK);
            CHECKF(sn && qb_sens_run(sn, &o1, &err) == QB_OK, "%s", err.msg);
            if (sn) {
                CHECKF(sn->units[sn->rank[0]].nodes[0] == victim, "%s: ranked first: %s, expected %s",
                       qb_sens_mode_names[mode], sn->units[sn->rank[0]].name, g->nodes[victim].name);
                printf("ok   %s: %s ranks first of %d nodes: SQNR %.1f dB (next %.1f dB)\n", qb_sens_mode_names[mode],
                       g->nodes[victim].name, sn->n, sn->units[sn->rank[0]].item.r.sqnr_db,
                       sn->units[sn->rank[1]].item.r.sqnr_db);
            }
            qb_sens_free(sn);
            sn = NULL;
        }
    }

    /* the same plans: FP32 itself and the all-FP32 plan first, then every unit's */
    n = s->n + 2;
    ref = calloc((size_t)n, sizeof(*ref));
    items = calloc((size_t)n, sizeof(*items));
    ref[0] = (struct qb_sweep_item){.prec = NULL, .probe = -1};
    ref[1] = (struct qb_sweep_item){.prec = s->fp32, .probe = -1};
    for (int i = 0; i < s->n; i++)
        ref[i + 2] = (struct qb_sweep_item){.prec = s->units[i].prec, .probe = -1};
    memcpy(items, ref, (size_t)n * sizeof(*items));

    /* uncached, every plan from the inputs */
    struct qb_sweep_opts plain = so;
    plain.cache_dir = NULL;
    plain.no_reuse = true;
    plain.base = s->fp16;
    CHECKF(qb_sweep_run(&plain, ref, n, &err) == QB_OK, "%s", err.msg);
    CHECKF(ref[0].r.fid50_95 == 1.0 && ref[0].r.fid50 == 1.0, "FP32 fidelity %.17g / %.17g", ref[0].r.fid50,
           ref[0].r.fid50_95);
    CHECKF(ref[1].r.fid50_95 == 1.0 && isinf(ref[1].r.sqnr_db), "all-FP32 plan: fidelity %.17g, SQNR %g",
           ref[1].r.fid50_95, ref[1].r.sqnr_db);
    for (int i = 0; i < s->n; i++)
        CHECKF(same_result(&ref[i + 2].r, &s->units[i].item.r) && !ref[i + 2].r.cached && s->units[i].item.r.done,
               "%s: with reuse and cache %.17g dB, plain %.17g dB", s->units[i].name, s->units[i].item.r.sqnr_db,
               ref[i + 2].r.sqnr_db);
    printf("ok   reuse + cache == plain runs on %d plans; FP32 fidelity exactly 1\n", s->n);

    /* a second sweep reads everything from the cache */
    so.base = s->fp16;
    struct cancel_after c = {0};
    so.progress = progress;
    so.user = &c;
    so.cancel = &c.flag;
    CHECKF(qb_sweep_run(&so, items + 2, s->n, &err) == QB_OK, "%s", err.msg);
    int cached = 0;
    for (int i = 0; i < s->n; i++) {
        cached += items[i + 2].r.cached;
        CHECKF(same_result(&items[i + 2].r, &ref[i + 2].r), "%s: cached result differs", s->units[i].name);
    }
    CHECKF(cached == s->n, "%d of %d read from the cache", cached, s->n);

    /* cancel after 3 plans in a fresh cache, then resume */
    char tmp2[4096];
    snprintf(tmp2, sizeof(tmp2), "%s/resume", tmp);
    so.cache_dir = tmp2;
    c = (struct cancel_after){.after = 3};
    CHECK(qb_sweep_run(&so, items + 2, s->n, &err) == QB_ERR_CANCELLED);
    int done = 0;
    for (int i = 0; i < s->n; i++)
        done += items[i + 2].r.done;
    CHECKF(done >= 3 && done < s->n, "%d plans done when cancelled", done);
    c = (struct cancel_after){0};
    CHECKF(qb_sweep_run(&so, items + 2, s->n, &err) == QB_OK, "%s", err.msg);
    cached = 0;
    for (int i = 0; i < s->n; i++) {
        cached += items[i + 2].r.cached;
        CHECKF(items[i + 2].r.done && same_result(&items[i + 2].r, &ref[i + 2].r),
               "%s: resumed result differs: %.17g %.17g dB, fidelity %.17g %.17g, images %ld %ld", s->units[i].name,
               items[i + 2].r.sqnr_db, ref[i + 2].r.sqnr_db, items[i + 2].r.fid50_95, ref[i + 2].r.fid50_95,
               items[i + 2].r.images, ref[i + 2].r.images);
    }
    CHECKF(cached == done && c.first_done == done, "resumed: %d cached, started at %d, %d were done", cached,
           c.first_done, done);
    printf("ok   cancelled after %d of %d plans; resumed with %d from the cache, same numbers\n", done, s->n,
           cached);
out:
    free(ref);
    free(items);
    qb_sens_free(s);
    free(int8);
    free(amax);
    qb_evalset_free(set);
    qb_dataset_free(ds);
    qb_graph_free(g);
    qb_plan_spec_free(&spec);
}

int main(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    char model[4096], data[4096], tmp[] = "/tmp/qb_test_sens.XXXXXX";
    snprintf(model, sizeof(model), "%s/../shared/fixtures/yolo11n/yolo11n-320.onnx", src ? src : ".");
    snprintf(data, sizeof(data), "%s/../shared/fixtures/coco128-val/data.yaml", src ? src : ".");
    if (access(model, R_OK) != 0 || access(data, R_OK) != 0) {
        printf("SKIPPED: %s or %s absent\n", model, data);
        return 77;
    }
    qb_log_set_level(QB_LOG_ERROR);
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    run(model, data, tmp);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary("test_sens");
}
