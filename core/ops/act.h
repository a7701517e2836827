/* Activation kernels that other code may call directly: the executor to fuse
 * Sigmoid -> Mul(x, sigmoid(x)) into one SiLU pass, tests to compare the portable
 * and the AVX2 code paths (which give bit-identical results). float32, contiguous;
 * x and y may be the same buffer. */
#ifndef QB_OPS_ACT_H
#define QB_OPS_ACT_H

#include <stdint.h>

#include "../threadpool.h"

enum qb_act_isa {
    QB_ACT_ISA_PORTABLE, /* 4-lane vector code any target compiles */
    QB_ACT_ISA_BEST,     /* the widest clone this CPU runs (AVX2 on x86-64) */
};

/* y = 1 / (1 + e^-x), within 2 ulp; NaN stays NaN */
void qb_act_sigmoid_isa(const float *x, float *y, int64_t n, enum qb_act_isa isa);
/* y = x * sigmoid(x) */
void qb_act_silu_isa(const float *x, float *y, int64_t n, enum qb_act_isa isa);
/* SiLU split over the pool (may be NULL) */
void qb_act_silu(struct qb_pool *pool, const float *x, float *y, int64_t n);

#endif
