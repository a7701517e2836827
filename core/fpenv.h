/* Subnormal floats flushed to zero (x86 MXCSR FTZ and DAZ) while the CPU
 * executor runs. Trained detectors produce subnormal activations (a SiLU of a
 * large negative input), and arithmetic on them is slow on x86: flushing made
 * the trained YOLO11n 16-20% faster on `bench` input (docs/PERF.md). GPU engines flush them too;
 * values change only below FLT_MIN (1.2e-38), far under what FP16 or INT8 can
 * hold. A no-op on other architectures. */
#ifndef QB_FPENV_H
#define QB_FPENV_H

#if defined(__SSE2__)
#include <xmmintrin.h>
#define QB_FPENV_FLUSH 0x8040u /* FTZ (bit 15) | DAZ (bit 6) */

/* Turns flushing on for the calling thread; returns the state to restore. */
static inline unsigned qb_fpenv_flush_begin(void)
{
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | QB_FPENV_FLUSH);
    return old;
}

static inline void qb_fpenv_flush_end(unsigned old)
{
    _mm_setcsr(old);
}
#else
static inline unsigned qb_fpenv_flush_begin(void)
{
    return 0;
}

static inline void qb_fpenv_flush_end(unsigned old)
{
    (void)old;
}
#endif

#endif
