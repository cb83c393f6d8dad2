/* Body of an ISA translation unit: instantiates every compute template for
 * float and double and exports the ISA's kernel table fc_isa_<FC_ISA>.
 * Included by isa_generic.c, isa_avx2.c and isa_avx512.c only. */
#include "internal.h"

#define FC_T float
#define FC_SFX f32
#define FC_DOUBLE 0
#include "isa_instance.h"
#undef FC_T
#undef FC_SFX
#undef FC_DOUBLE

#define FC_T double
#define FC_SFX f64
#define FC_DOUBLE 1
#include "isa_instance.h"
#undef FC_T
#undef FC_SFX
#undef FC_DOUBLE

#define FC_ISA_SYM(name, sfx) FC_CAT3(name, FC_ISA, sfx)

const fc_isa_table FC_CAT2(fc_isa, FC_ISA) = {
    .gemm_mr_f32 = FC_ISA_SYM(gemm_mr, f32),
    .gemm_nr_f32 = FC_ISA_SYM(gemm_nr, f32),
    .gemm_mr_f64 = FC_ISA_SYM(gemm_mr, f64),
    .gemm_nr_f64 = FC_ISA_SYM(gemm_nr, f64),
#define FC_OP(stem, params, args) .stem = {FC_ISA_SYM(stem##_entry, f32), FC_ISA_SYM(stem##_entry, f64)},
#include "ops.def"
#undef FC_OP
};
