/* Public entry points: forward each call to the kernel table of the active
 * SIMD level, chosen on first use (the best the CPU supports) or capped by
 * fc_simd_set (FASTCONV_SIMD in Python, and the tests of every level). */
#include <stdatomic.h>

#include "internal.h"

static _Atomic(const fc_isa_table *) fc_active = NULL;
static atomic_int fc_active_level = -1;

static const fc_isa_table *fc_table_for(int level)
{
#if FC_X86
    if (level >= 2) return &fc_isa_avx512;
    if (level == 1) return &fc_isa_avx2;
#endif
    (void)level;
    return &fc_isa_generic;
}

int fc_simd_set(int level)
{
    int best = fc_simd_detected();
    if (level < 0 || level > best) level = best;
#if !FC_X86
    level = 0;
#endif
    atomic_store(&fc_active, fc_table_for(level));
    atomic_store(&fc_active_level, level);
    return level;
}

static inline const fc_isa_table *fc_table(void)
{
    const fc_isa_table *t = atomic_load(&fc_active);
    if (!t) {
        fc_simd_set(-1);
        t = atomic_load(&fc_active);
    }
    return t;
}

int fc_simd_active(void)
{
    fc_table();
    return atomic_load(&fc_active_level);
}

void fc_gemm_tile(int dtype_bytes, int *mr, int *nr)
{
    const fc_isa_table *t = fc_table();
    *mr = dtype_bytes == 8 ? t->gemm_mr_f64 : t->gemm_mr_f32;
    *nr = dtype_bytes == 8 ? t->gemm_nr_f64 : t->gemm_nr_f32;
}

/* fc_<stem> for every operation of ops.def: the active table's entry of
 * the element type. */
#define FC_E void
#define FC_OP(stem, params, args)                                     \
    int fc_##stem FC_WITH_DTYPE params                                \
    {                                                                 \
        if (dtype != FC_F32 && dtype != FC_F64) return FC_ERR_ARG;    \
        return fc_table()->stem[dtype] args;                          \
    }
#include "ops.def"
#undef FC_OP
#undef FC_E
