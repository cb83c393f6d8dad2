/* Kernels for AVX2 + FMA; compiled with -mavx2 -mfma, run only where the CPU has them. */
#define FC_ISA avx2
#define FC_VBYTES 32
#include "isa_body.h"
