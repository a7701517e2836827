/* libFuzzer target: any bytes through the ONNX loader and qb_graph_prepare().
 * Refusals are fine; crashes, leaks, hangs and undefined behaviour are not.
 * Build and run: see tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>

#include "core/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qb_error err = {0};
    struct qb_graph *g = NULL;

    /* no base_dir: external data is refused, so no file is ever opened */
    if (qb_onnx_load_buffer(data, size, "fuzz.onnx", NULL, &g, &err) == QB_OK)
        (void)qb_graph_prepare(g, &err);
    qb_graph_free(g);
    return 0;
}
