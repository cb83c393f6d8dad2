/* Prelude of every kernel source in this directory: _launch.py compiles
 * common.cuh + <family>.cu with NVRTC (cupy.RawModule), once per device and
 * with scalar_t defined as float or double.  No #include: NVRTC has no host
 * headers.  tests/cuda_emulator.py compiles the same text as C++ for the CPU
 * (the kernels run there on NumPy arrays, one thread per block), defining
 * what is CUDA-only here; so kernels use only what this file defines,
 * blockIdx / threadIdx / blockDim / gridDim .x, CUDA's math functions,
 * atomicAdd and __syncthreads.
 *
 * Every kernel covers its work with grid-stride (or block-stride) loops, so
 * it is correct for any launch configuration.  Indexes are 64-bit, or
 * 32-bit where _launch.py compiles the source with FC_INDEX32 for a launch
 * whose sizes and index bounds it has checked to fit (a 32-bit division
 * costs a fraction of a 64-bit one, and the index arithmetic is what limits
 * the gather kernels). */

#ifdef FC_INDEX32
typedef int index_t;
#else
typedef long long index_t;
#endif

/* i over [0, n) across the whole grid */
#define CUDA_KERNEL_LOOP(i, n) \
    for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (index_t)blockDim.x * gridDim.x)

/* i over [0, n) across the threads of one block */
#define BLOCK_LOOP(i, n) for (index_t i = threadIdx.x; i < (n); i += blockDim.x)

/* b over [0, n) across the blocks of the grid */
#define GRID_BLOCKS_LOOP(b, n) for (index_t b = blockIdx.x; b < (n); b += gridDim.x)

#ifdef __CUDACC__ /* NVRTC and nvcc; the emulator defines these for the CPU */
__device__ __forceinline__ float fc_infinity(float) { return __int_as_float(0x7f800000); }
__device__ __forceinline__ double fc_infinity(double) { return __longlong_as_double(0x7ff0000000000000LL); }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 600
/* double atomicAdd came with sm_60 */
__device__ double atomicAdd(double *address, double val)
{
    unsigned long long *p = (unsigned long long *)address;
    unsigned long long old = *p, assumed;
    do {
        assumed = old;
        old = atomicCAS(p, assumed, __double_as_longlong(val + __longlong_as_double(assumed)));
    } while (assumed != old);
    return __longlong_as_double(old);
}
#endif
#endif
