/* Portable kernels: 16-byte vectors (SSE2 on x86-64, NEON elsewhere). */
#define FC_ISA generic
#define FC_VBYTES 16
#include "isa_body.h"
