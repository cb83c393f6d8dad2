/* Closes an instantiation opened by template_begin.h. */
#undef T
#undef FCN
#undef VL
#undef V
#undef UV
#undef IV
#undef GEMM_MR
#undef GEMM_NV
#undef GEMM_NR
#undef GEMM_KC
#undef GEMM_NC
