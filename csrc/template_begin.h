/* Opens one (ISA, element type) instantiation of the compute templates.
 * Expects FC_ISA (generic | avx2 | avx512), FC_VBYTES (16 | 32 | 64),
 * FC_T (float | double) and FC_SFX (f32 | f64).  Defines the element and
 * vector types, the register tiles, and small vector helpers.  Closed by
 * template_end.h.  Only isa_*.c include this. */

#define T FC_T
#define FCN(name) FC_CAT3(name, FC_ISA, FC_SFX)

/* lanes per vector */
#define VL (FC_VBYTES / (int)sizeof(T))

typedef T FCN(vec) __attribute__((vector_size(FC_VBYTES)));
typedef T FCN(uvec) __attribute__((vector_size(FC_VBYTES), aligned(sizeof(T)), may_alias));
#if FC_DOUBLE
typedef int64_t FCN(ivec) __attribute__((vector_size(FC_VBYTES)));
#else
typedef int32_t FCN(ivec) __attribute__((vector_size(FC_VBYTES)));
#endif
#define V FCN(vec)
#define UV FCN(uvec)
#define IV FCN(ivec)

/* GEMM micro-kernel tile: MR rows (broadcast operand) x NR columns
 * (GEMM_NV vectors).  With MR * GEMM_NV accumulators plus GEMM_NV loads
 * and a broadcast, the tile fills the register file without spilling:
 * 8x2 of 32 zmm, 6x2 of 16 ymm, 4x2 of 16 xmm. */
#ifdef FC_TUNE_MR /* tuning builds only */
#define GEMM_MR FC_TUNE_MR
#elif FC_VBYTES == 64
#define GEMM_MR 8
#elif FC_VBYTES == 32
#define GEMM_MR 6
#else
#define GEMM_MR 4
#endif
#ifdef FC_TUNE_NV
#define GEMM_NV FC_TUNE_NV
#else
#define GEMM_NV 2
#endif
#define GEMM_NR (GEMM_NV * VL)
#ifndef FC_TUNE_KC_BYTES
#define FC_TUNE_KC_BYTES (24 * 1024)
#endif
#ifndef FC_TUNE_NC_BYTES
/* 512 columns of either type (of 256 doubles, a layer's 3136 pixels made 13 column blocks, each
 * packing a weight matrix too large to share (4.7 MB) again: VGG's 256 @56 float64 im2col
 * 39.4 -> 36.6 ms; float32 unchanged either way) */
#define FC_TUNE_NC_BYTES (FC_DOUBLE ? 768 * 1024 : 384 * 1024)
#endif
/* Reduction block: one packed B micro-panel (KC x NR) stays in L1. */
#define GEMM_KC (FC_TUNE_KC_BYTES / (GEMM_NR * (int)sizeof(T)))
/* Column block: a packed B block (KC x NC) stays in L2. */
#define GEMM_NC (FC_TUNE_NC_BYTES / (GEMM_KC * (int)sizeof(T)) / GEMM_NR * GEMM_NR)

static inline V FCN(splat)(T a) { return a - (V){0}; /* a - 0 == a, even for -0 */ }
static inline V FCN(loadu)(const T *p) { return *(const UV *)p; }
static inline void FCN(storeu)(T *p, V v) { *(UV *)p = v; }

/* v with lanes >= n (0 <= n <= VL) set to zero: keeps tails of a row
 * from mixing values (even NaN or Inf) of positions outside it. */
static inline V FCN(keep_lanes)(V v, int n)
{
    IV lane;
    for (int i = 0; i < VL; i++) lane[i] = i;
    IV keep = lane < n;
    return (V)((IV)v & keep);
}

/* Lanes [lo, hi) of p (0 <= lo <= hi <= VL), the others zero, and lanes
 * [lo, hi) of v stored to p: masked moves that touch no memory outside
 * p[lo .. hi), so p may point before an array (AVX-512 / AVX2 masks; a
 * scalar loop on the portable level). */
#if FC_X86 && FC_VBYTES == 64
static inline unsigned FCN(lane_mask)(int64_t lo, int64_t hi)
{
    return (unsigned)(((1ull << hi) - 1) & ~((1ull << lo) - 1));
}
#elif FC_X86 && FC_VBYTES == 32
static inline IV FCN(lane_mask)(int64_t lo, int64_t hi)
{
    IV lane;
    for (int i = 0; i < VL; i++) lane[i] = i;
    __typeof__(lane[0]) l = (__typeof__(lane[0]))lo, h = (__typeof__(lane[0]))hi;
    return (lane >= l) & (lane < h);
}
#endif

static inline V FCN(load_range)(const T *p, int64_t lo, int64_t hi)
{
    if (lo <= 0 && hi >= VL) return FCN(loadu)(p);
    lo = FC_MAX(lo, 0);
    hi = FC_MIN(hi, VL);
    if (hi <= lo) return (V){0};
#if FC_X86 && FC_VBYTES == 64 && FC_DOUBLE
    return (V)_mm512_maskz_loadu_pd((__mmask8)FCN(lane_mask)(lo, hi), p);
#elif FC_X86 && FC_VBYTES == 64
    return (V)_mm512_maskz_loadu_ps((__mmask16)FCN(lane_mask)(lo, hi), p);
#elif FC_X86 && FC_VBYTES == 32 && FC_DOUBLE
    return (V)_mm256_maskload_pd(p, (__m256i)FCN(lane_mask)(lo, hi));
#elif FC_X86 && FC_VBYTES == 32
    return (V)_mm256_maskload_ps(p, (__m256i)FCN(lane_mask)(lo, hi));
#else
    V v = {0};
    for (int64_t i = lo; i < hi; i++) v[i] = p[i];
    return v;
#endif
}

static inline void FCN(store_range)(T *p, V v, int64_t lo, int64_t hi)
{
    if (lo <= 0 && hi >= VL) {
        FCN(storeu)(p, v);
        return;
    }
    lo = FC_MAX(lo, 0);
    hi = FC_MIN(hi, VL);
    if (hi <= lo) return;
#if FC_X86 && FC_VBYTES == 64 && FC_DOUBLE
    _mm512_mask_storeu_pd(p, (__mmask8)FCN(lane_mask)(lo, hi), (__m512d)v);
#elif FC_X86 && FC_VBYTES == 64
    _mm512_mask_storeu_ps(p, (__mmask16)FCN(lane_mask)(lo, hi), (__m512)v);
#elif FC_X86 && FC_VBYTES == 32 && FC_DOUBLE
    _mm256_maskstore_pd(p, (__m256i)FCN(lane_mask)(lo, hi), (__m256d)v);
#elif FC_X86 && FC_VBYTES == 32
    _mm256_maskstore_ps(p, (__m256i)FCN(lane_mask)(lo, hi), (__m256)v);
#else
    for (int64_t i = lo; i < hi; i++) p[i] = v[i];
#endif
}

/* A lane range [lo, hi) prepared once and applied to many loads / stores. */
typedef struct FCN(lanes) {
    int64_t lo, hi;
#if FC_X86 && FC_VBYTES == 64
    unsigned bits;
#elif FC_X86 && FC_VBYTES == 32
    IV vmask;
#endif
} FCN(lanes);

static inline FCN(lanes) FCN(make_lanes)(int64_t lo, int64_t hi)
{
    FCN(lanes) l;
    l.lo = FC_MAX(lo, 0);
    l.hi = FC_MIN(hi, VL);
#if FC_X86 && FC_VBYTES == 64
    l.bits = l.hi > l.lo ? FCN(lane_mask)(l.lo, l.hi) : 0;
#elif FC_X86 && FC_VBYTES == 32
    l.vmask = FCN(lane_mask)(l.lo, l.hi);
#endif
    return l;
}

static inline V FCN(load_masked)(const T *p, FCN(lanes) l)
{
    if (l.lo == 0 && l.hi == VL) return FCN(loadu)(p);
#if FC_X86 && FC_VBYTES == 64 && FC_DOUBLE
    return (V)_mm512_maskz_loadu_pd((__mmask8)l.bits, p);
#elif FC_X86 && FC_VBYTES == 64
    return (V)_mm512_maskz_loadu_ps((__mmask16)l.bits, p);
#elif FC_X86 && FC_VBYTES == 32 && FC_DOUBLE
    return (V)_mm256_maskload_pd(p, (__m256i)l.vmask);
#elif FC_X86 && FC_VBYTES == 32
    return (V)_mm256_maskload_ps(p, (__m256i)l.vmask);
#else
    V v = {0};
    for (int64_t i = l.lo; i < l.hi; i++) v[i] = p[i];
    return v;
#endif
}

static inline void FCN(store_masked)(T *p, V v, FCN(lanes) l)
{
    if (l.lo == 0 && l.hi == VL) {
        FCN(storeu)(p, v);
        return;
    }
#if FC_X86 && FC_VBYTES == 64 && FC_DOUBLE
    _mm512_mask_storeu_pd(p, (__mmask8)l.bits, (__m512d)v);
#elif FC_X86 && FC_VBYTES == 64
    _mm512_mask_storeu_ps(p, (__mmask16)l.bits, (__m512)v);
#elif FC_X86 && FC_VBYTES == 32 && FC_DOUBLE
    _mm256_maskstore_pd(p, (__m256i)l.vmask, (__m256d)v);
#elif FC_X86 && FC_VBYTES == 32
    _mm256_maskstore_ps(p, (__m256i)l.vmask, (__m256)v);
#else
    for (int64_t i = l.lo; i < l.hi; i++) p[i] = v[i];
#endif
}

static inline V FCN(load_lanes)(const T *p, int64_t n) { return FCN(load_range)(p, 0, n); }
static inline void FCN(store_lanes)(T *p, V v, int64_t n) { FCN(store_range)(p, v, 0, n); }

/* lanes of a where m is set, else of b */
static inline V FCN(select)(IV m, V a, V b) { return (V)(((IV)a & m) | ((IV)b & ~m)); }

static inline T FCN(hsum)(V v)
{
    T s = 0;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}
