/* Shared internals of the compiled core: scratch memory, floating-point
 * state, the per-ISA kernel table and the template machinery.
 *
 * The compute files (gemm.c, conv_im2col.c, conv_direct.c) are templates:
 * isa_generic.c, isa_avx2.c and isa_avx512.c each include them twice, once
 * per element type, with FC_ISA / FC_VBYTES set, and the compiler flags of
 * that ISA.  FCN(name) gives every instantiated symbol a unique name, e.g.
 * gemm_run_avx512_f32.  dispatch.c picks the table of the best ISA the CPU
 * supports at run time, so one binary runs on any x86-64.
 */
#ifndef FASTCONV_INTERNAL_H
#define FASTCONV_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <omp.h>

#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define FC_X86 1
#include <immintrin.h>
#else
#define FC_X86 0
#endif

#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FC_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
/* floor(a / b) for any sign of a, b > 0 */
#define FC_FLOOR_DIV(a, b) ((a) >= 0 ? (a) / (b) : -((-(a) + (b) - 1) / (b)))
#define FC_ROUND_UP(a, b) (FC_CEIL_DIV(a, b) * (b))

/* ---- scratch memory ----------------------------------------------------
 * Per-thread, 64-byte aligned, grow-only buffers, so that kernels never
 * allocate in a hot loop and repeated calls do not pay fresh page faults.
 * A slot is owned by one use at a time within a thread; slots:            */
enum {
    FC_SCRATCH_PACK_A = 0, /* packed A operand of a GEMM               */
    FC_SCRATCH_PACK_B = 1, /* packed B operand of a GEMM               */
    FC_SCRATCH_WORK = 2,   /* a kernel's own work area                 */
    FC_SCRATCH_WORK2 = 3,  /* a second work area                       */
    FC_SCRATCH_SHARED = 4, /* filled by the calling thread, read by all */
    FC_SCRATCH_GEMM_A = 5, /* a GEMM's A packed once for its team      */
    FC_SCRATCH_SLOTS = 6
};
void *fc_scratch(int slot, size_t bytes);

/* ---- floating-point state ----------------------------------------------
 * Denormals are flushed to zero inside kernels (they cost ~100x per op on
 * x86); the caller's MXCSR is restored on return.  Every thread of a
 * parallel region sets and restores its own, since MXCSR is per thread.   */
typedef struct fc_fpstate {
    unsigned int mxcsr;
} fc_fpstate;

static inline fc_fpstate fc_fp_enter(void)
{
    fc_fpstate s = {0};
#if FC_X86
    s.mxcsr = _mm_getcsr();
    _mm_setcsr(s.mxcsr | 0x8040u); /* FTZ | DAZ */
#endif
    return s;
}

/* Exact IEEE arithmetic and comparisons (pooling): FTZ and DAZ cleared,
 * whatever the caller set, so a denormal compares as itself and the
 * maximum of denormals is the true one; restored by fc_fp_leave. */
static inline fc_fpstate fc_fp_exact_enter(void)
{
    fc_fpstate s = {0};
#if FC_X86
    s.mxcsr = _mm_getcsr();
    _mm_setcsr(s.mxcsr & ~0x8040u); /* FTZ and DAZ off */
#endif
    return s;
}

static inline void fc_fp_leave(fc_fpstate s)
{
#if FC_X86
    _mm_setcsr(s.mxcsr);
#else
    (void)s;
#endif
}

/* FC_TEAM(n, call): runs call, a function whose worksharing constructs
 * (omp for) are orphaned, on a team of n threads; for n <= 1 it calls it
 * directly, outside OpenMP.  Entering a parallel region costs about 300 ns
 * even with one thread (measured here: libgomp sets up a team), more than
 * the whole work of a tiny call; an orphaned omp for run by a lone thread
 * costs about 15.  Inside an enclosing parallel region (a caller's own
 * OpenMP threads) a region of one is still entered, so that the orphaned
 * constructs bind to it and not to the caller's team. */
#define FC_TEAM(n, call)                                             \
    do {                                                             \
        const int fc_team_ = (n);                                    \
        if (fc_team_ > 1 || omp_in_parallel()) {                     \
            _Pragma("omp parallel num_threads(fc_team_)") { call; }  \
        } else {                                                     \
            call;                                                    \
        }                                                            \
    } while (0)

/* Thread count a kernel should use: the caller's, or the library default. */
int fc_resolve_threads(int nthreads);

/* Split [0, n) into `parts` nearly equal ranges; range `i` is [*b, *e). */
static inline void fc_split_range(int64_t n, int64_t parts, int64_t i, int64_t *b, int64_t *e)
{
    int64_t q = n / parts, r = n % parts;
    *b = i * q + FC_MIN(i, r);
    *e = *b + q + (i < r);
}

/* ---- per-ISA kernel table ------------------------------------------------ */

typedef struct fc_isa_table {
    int gemm_mr_f32, gemm_nr_f32, gemm_mr_f64, gemm_nr_f64;
    /* per operation of ops.def: its FC_F32 and FC_F64 instances */
#define FC_E void
#define FC_OP(stem, params, args) int (*stem[2]) params;
#include "ops.def"
#undef FC_OP
#undef FC_E
} fc_isa_table;

extern const fc_isa_table fc_isa_generic;
#if FC_X86
extern const fc_isa_table fc_isa_avx2;
extern const fc_isa_table fc_isa_avx512;
#endif

/* ---- template machinery -------------------------------------------------- */

#define FC_CAT2_(a, b) a##_##b
#define FC_CAT2(a, b) FC_CAT2_(a, b)
#define FC_CAT3(a, b, c) FC_CAT2(FC_CAT2(a, b), c)

#endif
