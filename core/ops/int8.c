/* Helpers of the exact INT8 ops (int8.h): parallel quantization, chunked
 * int32 sums and the epilogue that applies core/quant.h's output expression. */
#include <stdatomic.h>

#include "../quant.h"
#include "int8.h"
#include "opsutil.h"

static atomic_int force_reference;

void qb_int8_force_reference(bool on)
{
    atomic_store(&force_reference, on ? 1 : 0);
}

bool qb_int8_reference_forced(void)
{
    return atomic_load_explicit(&force_reference, memory_order_relaxed) != 0;
}

/* Quantization -------------------------------------------------------------------- */

struct quant_job {
    const float *x;
    void *q;
    float scale;
    bool ints;
};

static void quant_range(void *ctx, int64_t begin, int64_t end)
{
    const struct quant_job *j = ctx;
    if (j->ints)
        qb_quant_ints(j->x + begin, (float *)j->q + begin, (size_t)(end - begin), j->scale);
    else
        qb_quant_buffer(j->x + begin, (int8_t *)j->q + begin, (size_t)(end - begin), j->scale);
}

void qb_int8_quant_ints(struct qb_pool *pool, const float *x, float *q, size_t n, float scale)
{
    struct quant_job j = {.x = x, .q = q, .scale = scale, .ints = true};
    qb_opu_parallel(pool, (int64_t)n, QB_OPU_GRAIN * 4, quant_range, &j);
}

void qb_int8_quant(struct qb_pool *pool, const float *x, int8_t *q, size_t n, float scale)
{
    struct quant_job j = {.x = x, .q = q, .scale = scale, .ints = false};
    qb_opu_parallel(pool, (int64_t)n, QB_OPU_GRAIN * 4, quant_range, &j);
}

/* Chunk sums ------------------------------------------------------------------------ */

struct acc_job {
    const float *y;
    ptrdiff_t ldy;
    int32_t *acc;
    int64_t cols;
    bool first;
};

static void acc_rows(void *ctx, int64_t begin, int64_t end)
{
    const struct acc_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *y = j->y + r * j->ldy;
        int32_t *a = j->acc + r * j->cols;
        if (j->first)
            QB_LOOP8(j->cols, a[i] = (int32_t)y[i]);
        else
            QB_LOOP8(j->cols, a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)(int32_t)y[i]));
    }
}

void qb_int8_acc_add(const float *y, ptrdiff_t ldy, int32_t *acc, int64_t rows, int64_t cols, bool first,
                     struct qb_pool *pool)
{
    struct acc_job j = {.y = y, .ldy = ldy, .acc = acc, .cols = cols, .first = first};
    int64_t grain = cols > 0 ? (QB_OPU_GRAIN + cols - 1) / cols : rows;
    qb_opu_parallel(pool, rows, grain, acc_rows, &j);
}

/* Epilogue ---------------------------------------------------------------------------- */

struct epi_job {
    float *y;
    ptrdiff_t ldy;
    const int32_t *acc;
    int64_t cols;
    const struct qb_int8_epi *e;
};

static void epi_rows(void *ctx, int64_t begin, int64_t end)
{
    const struct epi_job *j = ctx;
    const struct qb_int8_epi *e = j->e;

    for (int64_t r = begin; r < end; r++) {
        float *y = j->y + r * j->ldy;
        const int32_t *acc = j->acc ? j->acc + r * j->cols : NULL;
        const float sr = e->sr[r * e->srs], *sc = e->sc, beta = e->beta;
        const float *b = e->bias ? e->bias + r * e->brs : NULL;
        const ptrdiff_t scs = e->scs, bcs = e->bcs;
        if (acc)
            QB_LOOP8(j->cols, y[i] = qb_quant_out(acc[i], sr, sc[i * scs], qb_int8_bias(beta, b, i * bcs)));
        else
            QB_LOOP8(j->cols, y[i] = qb_quant_out((int32_t)y[i], sr, sc[i * scs], qb_int8_bias(beta, b, i * bcs)));
    }
}

void qb_int8_epilogue(float *y, ptrdiff_t ldy, const int32_t *acc, int64_t rows, int64_t cols,
                      const struct qb_int8_epi *e, struct qb_pool *pool)
{
    struct epi_job j = {.y = y, .ldy = ldy, .acc = acc, .cols = cols, .e = e};
    int64_t grain = cols > 0 ? (QB_OPU_GRAIN + cols - 1) / cols : rows;
    qb_opu_parallel(pool, rows, grain, epi_rows, &j);
}
