/* The CPU executor as a whole: fused and unfused runs agree bit for bit, the
 * thread count does not change a single bit, repeated runs are identical (no
 * state leaks between runs through reused memory), and lifetime planning shares
 * memory between activations. */
#include "core/exec.h"
#include "core/onnx.h"
#include "testutil.h"

static float *run_once(const struct qb_graph *g, const struct qb_exec_opts *o, int reps, size_t *n_out,
                       size_t *act_bytes)
{
    struct qb_executor *e = NULL;
    struct qb_error err = {0};
    float *copy = NULL;
    if (qb_exec_new(g, o, &e, &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        return NULL;
    }
    struct qb_tview *in = qb_exec_input(e, 0);
    CHECKF(o->no_fusion == (strstr(qb_exec_describe(e), " 0 SiLU fused") != NULL), "fusion: %s",
          qb_exec_describe(e));
    for (int r = 0; r < reps; r++) {
        uint32_t x = 7u;
        for (int64_t i = 0; i < qb_tview_numel(in); i++) {
            x = x * 1664525u + 1013904223u;
            ((float *)in->data)[i] = (float)(x >> 8) / 16777216.0f;
        }
        if (qb_exec_run(e, &err) != QB_OK) {
            CHECKF(0, "%s", err.msg);
            break;
        }
    }
    const struct qb_tview *y = qb_exec_output(e, 0);
    *n_out = (size_t)qb_tview_numel(y);
    *act_bytes = qb_exec_activation_bytes(e);
    copy = malloc(*n_out * sizeof(float));
    memcpy(copy, y->data, *n_out * sizeof(float));
    qb_exec_free(e);
    return copy;
}

static void check_model(const char *path)
{
    struct qb_graph *g = NULL;
    struct qb_error err = {0};
    size_t n1, n2, n3, b1, b2, b3, total = 0;
    if (qb_onnx_load(path, &g, &err) != QB_OK || qb_graph_prepare(g, &err) != QB_OK) {
        CHECKF(0, "%s", err.msg);
        qb_graph_free(g);
        return;
    }
    float *fused = run_once(g, &(struct qb_exec_opts){.n_threads = 2}, 2, &n1, &b1);
    float *plain = run_once(g, &(struct qb_exec_opts){.n_threads = 2, .no_fusion = true}, 1, &n2, &b2);
    float *single = run_once(g, &(struct qb_exec_opts){.n_threads = 1}, 1, &n3, &b3);
    for (int v = 0; v < g->n_values; v++)
        if (!(g->values[v].flags & QB_VALUE_CONST))
            total += (size_t)qb_value_numel(&g->values[v]) * qb_dtype_size(g->values[v].dtype);
    if (fused && plain && single) {
        CHECKF(n1 == n2 && n1 == n3, "%s: output sizes differ", path);
        CHECKF(memcmp(fused, plain, n1 * sizeof(float)) == 0, "%s: SiLU fusion changed the output", path);
        CHECKF(memcmp(fused, single, n1 * sizeof(float)) == 0, "%s: 1 and 2 threads differ", path);
        CHECKF(b1 < total / 2, "%s: planned %zu activation bytes of %zu, expected reuse", path, b1, total);
        printf("ok   %s: %zu outputs bit-identical (fused/unfused, 1/2 threads, run twice); activations %.1f MB "
               "planned of %.1f MB\n",
               path, n1, (double)b1 / 1e6, (double)total / 1e6);
    }
    free(fused);
    free(plain);
    free(single);
    qb_graph_free(g);
}

int main(void)
{
    const char *src = getenv("QB_SOURCE_DIR");
    const char *models[] = {"tests/data/yolo11n-tiny-b2-320.onnx", "tests/data/yolo12n-tiny-b2-320.onnx",
                            "tests/data/yolov8n-tiny-b2-320.onnx"};
    char path[4096];
    if (!src)
        src = ".";
    qb_log_set_level(QB_LOG_ERROR);
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", src, models[i]);
        check_model(path);
    }
    return test_summary("test_exec");
}
