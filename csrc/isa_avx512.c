/* Kernels for AVX-512 (F, VL, BW, DQ); compiled with -mavx512*, run only where the CPU has them. */
#define FC_ISA avx512
#define FC_VBYTES 64
#include "isa_body.h"
