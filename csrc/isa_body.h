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
    .gemm_f32 = FC_ISA_SYM(gemm, f32),
    .gemm_f64 = FC_ISA_SYM(gemm, f64),
    .conv_fwd_f32 = FC_ISA_SYM(conv_fwd, f32),
    .conv_fwd_f64 = FC_ISA_SYM(conv_fwd, f64),
    .conv_bwd_input_f32 = FC_ISA_SYM(conv_bwd_input, f32),
    .conv_bwd_input_f64 = FC_ISA_SYM(conv_bwd_input, f64),
    .conv_bwd_weight_f32 = FC_ISA_SYM(conv_bwd_weight, f32),
    .conv_bwd_weight_f64 = FC_ISA_SYM(conv_bwd_weight, f64),
    .pool_fwd_f32 = FC_ISA_SYM(pool_forward, f32),
    .pool_fwd_f64 = FC_ISA_SYM(pool_forward, f64),
    .max_pool_bwd_f32 = FC_ISA_SYM(maxpool_backward, f32),
    .max_pool_bwd_f64 = FC_ISA_SYM(maxpool_backward, f64),
    .avg_pool_bwd_f32 = FC_ISA_SYM(avgpool_backward, f32),
    .avg_pool_bwd_f64 = FC_ISA_SYM(avgpool_backward, f64),
    .gavg_fwd_f32 = FC_ISA_SYM(global_avgpool_forward, f32),
    .gavg_fwd_f64 = FC_ISA_SYM(global_avgpool_forward, f64),
    .gavg_bwd_f32 = FC_ISA_SYM(global_avgpool_backward, f32),
    .gavg_bwd_f64 = FC_ISA_SYM(global_avgpool_backward, f64),
    .rnn_fwd_f32 = FC_ISA_SYM(rnn_forward, f32),
    .rnn_fwd_f64 = FC_ISA_SYM(rnn_forward, f64),
    .rnn_bwd_f32 = FC_ISA_SYM(rnn_backward, f32),
    .rnn_bwd_f64 = FC_ISA_SYM(rnn_backward, f64),
    .act_fwd_f32 = FC_ISA_SYM(activation_forward, f32),
    .act_fwd_f64 = FC_ISA_SYM(activation_forward, f64),
    .act_bwd_f32 = FC_ISA_SYM(activation_backward, f32),
    .act_bwd_f64 = FC_ISA_SYM(activation_backward, f64),
    .optim_f32 = FC_ISA_SYM(optim_update, f32),
    .optim_f64 = FC_ISA_SYM(optim_update, f64),
    .f2d_fwd_f32 = FC_ISA_SYM(filter2d_forward, f32),
    .f2d_fwd_f64 = FC_ISA_SYM(filter2d_forward, f64),
    .sep_fwd_f32 = FC_ISA_SYM(sepfilter_forward, f32),
    .sep_fwd_f64 = FC_ISA_SYM(sepfilter_forward, f64),
};
