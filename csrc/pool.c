/* Pooling: max and average, forward and backward   (template, see internal.h)
 *
 * Layout: a "plane" is one (image, channel) of H x W inputs and P x Q
 * outputs; 1-D pooling is H = P = R = 1.  Max indices are flat within the
 * plane (ih * W + iw, int64), as PyTorch stores them.
 *
 * Input rows are copied into per-thread scratch phase-split by the column
 * stride (padded column gamma = t * stride_w + phase, the padding holding
 * -inf for max and 0 for average), so the taps of a run of output columns
 * read contiguous vectors whatever the stride; stride 2 splits with vector
 * shuffles.  The copy runs in cache; the kernels read x once from memory.
 *
 * Max: a lane keeps the first maximum in window order, and a NaN replaces
 * the maximum (PyTorch's rule: val > max || isnan(val)); a window of -inf
 * reports its first in-input element, and a window that dilation makes skip
 * every input element gives -inf with index -1, which the backward skips.  Average: divisor as PyTorch computes
 * it, the window clipped to the padded input (count_include_pad) or to the
 * input, a product of a row count and a column count.
 *
 * Every kernel here runs with flush-to-zero and denormals-are-zero cleared
 * (fc_fp_exact_enter), whatever the caller set: denormals compare and add
 * as themselves, so the maximum of denormals is the true one, as PyTorch's.
 * Geometries far wider than the input run on pool_generic (fc_pool_wide).
 *
 * Backward kernels here OVERWRITE dx (unlike the convolution's, which add):
 * a pooling gradient is a whole input gradient, and writing it in one pass
 * per plane saves a full pass over memory.  Max backward scatters through
 * the indices into a plane that one thread owns (any duplicates or
 * overlapping windows add correctly, without atomics); average backward
 * accumulates each window into phase-split rows owned by one thread and
 * interleaves them back.
 */

#ifndef FC_POOL_COMMON
#define FC_POOL_COMMON
#include <math.h>
#include <string.h>

#include "conv_common.h"
/* a unit's phase-split rows stay below this, in L2 */
#define FC_POOL_SCRATCH_BYTES (256 * 1024)

/* PyTorch's average-pool count along one axis for the window starting at
 * `start` (>= -pad) of length k over n inputs with padding pad. */
static inline int64_t fc_pool_count(int64_t start, int64_t k, int64_t n, int64_t pad, int include_pad)
{
    const int64_t end = FC_MIN(start + k, n + pad);
    if (include_pad) return end - start;
    return FC_MIN(end, n) - FC_MAX(start, 0);
}

/* One axis of a pooling: n inputs, out outputs at `stride`, k taps at `dil`,
 * `pad` before, as PyTorch allows them: the padding at most half the dilated
 * window, which spans below FC_GEOM_LIMIT, and every window starting inside
 * the input or its leading padding.  Window starts then lie in [-pad, n) and
 * their ends below n + FC_GEOM_LIMIT: no index sum overflows. */
static inline int fc_pool_axis_ok(int64_t n, int64_t k, int64_t out, int64_t stride, int64_t pad, int64_t dil)
{
    int64_t eff, last;
    if (!fc_geom_in(n, 1) || !fc_geom_in(k, 1) || !fc_geom_in(out, 1) || !fc_geom_in(stride, 1) ||
        !fc_geom_in(pad, 0) || !fc_geom_in(dil, 1) || !fc_geom_span(k, dil, &eff))
        return 0;
    return pad <= eff / 2 && !__builtin_mul_overflow(out - 1, stride, &last) && last < n + pad;
}

/* Checks *in (FC_ERR_GEOM) and copies it to *g with the dilation of a
 * one-tap axis and a large stride of a one-output axis set to 1 (neither
 * changes any output). */
static inline int fc_pool_prepare(const fc_pool_geom *in, fc_pool_geom *g)
{
    if (!fc_geom_in(in->NC, 1) || !fc_pool_axis_ok(in->H, in->R, in->P, in->stride_h, in->pad_h, in->dil_h) ||
        !fc_pool_axis_ok(in->W, in->S, in->Q, in->stride_w, in->pad_w, in->dil_w) ||
        !fc_geom_product_ok(in->NC, in->H, in->W, 1) || !fc_geom_product_ok(in->NC, in->P, in->Q, 1))
        return FC_ERR_GEOM;
    *g = *in;
    if (g->R == 1) g->dil_h = 1;
    if (g->S == 1) g->dil_w = 1;
    if (g->P == 1 && g->stride_h > 64) g->stride_h = 1;
    if (g->Q == 1 && g->stride_w > 64) g->stride_w = 1;
    return FC_OK;
}

/* Whether the split rows would serve the geometry badly: windows (or, with
 * ceil_mode, their padding) far wider than the input, or strides that make
 * a split row far longer than an input row.  Those run on pool_generic,
 * whose work is bounded by the output times the windows clipped to the
 * input.  Never true of the pooling of networks. */
static inline int fc_pool_wide(const fc_pool_geom *g)
{
    /* spans below FC_GEOM_LIMIT (fc_pool_prepare) */
    const int64_t eh = (g->R - 1) * g->dil_h + 1, ew = (g->S - 1) * g->dil_w + 1;
    if (eh > 2 * g->H + 64 || ew > 2 * g->W + 64 || g->stride_h > 2 * g->H + 64) return 1;
    int64_t row; /* elements of a split row: stride_w * (Q + tap offsets + a few vectors) */
    if (__builtin_mul_overflow(g->stride_w, g->Q + (g->S - 1) * g->dil_w / g->stride_w + 32, &row)) return 1;
    return row > 4 * g->W + 4096;
}

/* per-call tables of pool_generic */
typedef struct fc_pool_clips {
    int64_t *rlo, *rhi, *clo, *chi; /* clipped taps per output row and column */
    int64_t *rcnt, *ccnt;           /* average counts per output row and column */
    double work;                    /* taps in one plane's clipped windows */
} fc_pool_clips;

/* Taps [*lo, *hi) of a window starting at `start` (>= -pad; k taps at
 * dilation d) that land inside [0, n). */
static inline void fc_pool_clip(int64_t start, int64_t k, int64_t d, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t a = start >= 0 ? 0 : (-start + d - 1) / d;
    int64_t b = start >= n ? 0 : (n - 1 - start) / d + 1;
    a = FC_MIN(a, k);
    b = FC_MIN(b, k);
    *lo = a;
    *hi = FC_MAX(a, b);
}
/* A team only past 512 KiB of planes: one thread reads them at 40-50 GB/s (ResNet's 2048 @7 at
 * batch 1, 0.4 MB: 9 us), and waking a sleeping team costs 20-100 us on a virtual machine
 * (measured on the 2-core one: 8.9 us alone, 8.4 us two threads awake, 80-150 us asleep).
 * Since the idle threads spin 0.25 ms before they sleep (_openmp_env.py), a layer that follows
 * another finds them awake: the threshold was 4 MiB, and ResNet's 512 @7 at batch 32 (3.2 MB)
 * ran on one thread at 0.063 ms, on two 0.035 (torch 0.054); 0.8 MB 0.017 -> 0.010 ms. */
static int fc_gavg_team(int64_t planes, int64_t n, size_t itemsize, int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    return (double)planes * (double)n * (double)itemsize >= 524288.0 ? (planes < nt ? (int)planes : nt) : 1;
}

#endif

typedef struct FCN(pool_plan) {
    const fc_pool_geom *g;
    int64_t L;      /* elements per phase of a split row */
    int64_t pitch;  /* elements per split row: stride_w * L */
    int64_t band;   /* rows per unit: output rows (forward), input rows (average backward) */
    int64_t nbands;
    int64_t *soff;  /* S entries, tap s: phase * L + (s * dil_w) / stride_w */
    T *ccount;      /* average: column counts per output column, 1 past Q */
    IV iota;        /* lane numbers */
} FCN(pool_plan);

static int FCN(pool_plan_init)(FCN(pool_plan) *pl, const fc_pool_geom *g, int64_t rows_total,
                               int64_t row_step, int64_t row_extra, int avg, int include_pad, int nt)
{
    pl->g = g;
    const int64_t offmax = ((g->S - 1) * g->dil_w) / g->stride_w;
    pl->L = FC_ROUND_UP(g->Q + offmax + VL, VL); /* a tap's vector reads past Q by < VL */
    pl->pitch = g->stride_w * pl->L;
    const int64_t ncol = avg ? FC_ROUND_UP(g->Q, VL) + VL : 0;
    /* one block: the column counts (T, aligned first) and the tap offsets */
    pl->ccount = malloc((size_t)ncol * sizeof(T) + (size_t)g->S * sizeof(int64_t));
    if (!pl->ccount) return FC_ERR_NOMEM;
    pl->soff = (int64_t *)(pl->ccount + ncol);
    for (int64_t s = 0; s < g->S; s++) {
        const int64_t gamma = s * g->dil_w;
        pl->soff[s] = (gamma % g->stride_w) * pl->L + gamma / g->stride_w;
    }
    for (int i = 0; i < VL; i++) pl->iota[i] = i;
    /* about four units per thread; a unit's rows fit the scratch budget */
    int64_t nb = g->NC >= 4 * nt ? 1 : FC_CEIL_DIV(4 * nt, g->NC);
    const int64_t max_rows = FC_MAX(1, FC_POOL_SCRATCH_BYTES / (pl->pitch * (int64_t)sizeof(T)));
    int64_t band = FC_CEIL_DIV(rows_total, nb);
    while (band > 1 && (band - 1) * row_step + row_extra > max_rows) band = FC_CEIL_DIV(band, 2);
    pl->band = FC_MAX(band, 1);
    pl->nbands = FC_CEIL_DIV(rows_total, pl->band);
    for (int64_t q = 0; q < ncol; q++) /* lanes past Q divide zeros by one */
        pl->ccount[q] = q < g->Q ? (T)fc_pool_count(q * g->stride_w - g->pad_w, g->S, g->W, g->pad_w, include_pad) : 1;
    return FC_OK;
}

static void FCN(pool_plan_free)(FCN(pool_plan) *pl) { free(pl->ccount); }

/* dst[phase * L + t] = padded row at gamma = t * sw + phase, where the
 * padded row is src[gamma - pad_w] inside [0, W) and `pad` elsewhere. */
static void FCN(pool_split_row)(const FCN(pool_plan) *pl, T *dst, const T *src, T pad)
{
    const fc_pool_geom *g = pl->g;
    const int64_t L = pl->L, W = g->W, pw = g->pad_w, sw = g->stride_w;
    if (sw == 1) {
        const int64_t lead = FC_MIN(pw, L), body = FC_MAX(0, FC_MIN(W, L - lead));
        int64_t t = 0;
        for (; t < lead; t++) dst[t] = pad;
        for (; t < lead + body; t++) dst[t] = src[t - lead];
        for (; t < L; t++) dst[t] = pad;
        return;
    }
    /* t past t_end holds only padding in every phase */
    const int64_t t_end = FC_MIN(L, FC_CEIL_DIV(W + pw, sw));
    int64_t t = 0;
    if (sw == 2) {
        /* both phases inside the input for t in [t_lo, t_hi) */
        const int64_t t_lo = FC_MIN((pw + 1) / 2, t_end), t_hi = FC_MIN(L, (W + pw) / 2);
        for (; t < t_lo; t++) {
            for (int64_t ph = 0; ph < 2; ph++) {
                const int64_t iw = 2 * t + ph - pw;
                dst[ph * L + t] = (iw >= 0 && iw < W) ? src[iw] : pad;
            }
        }
        const IV even = pl->iota * 2, odd = even + 1;
        for (; t + VL <= t_hi; t += VL) {
            const V a = FCN(loadu)(src + 2 * t - pw), b = FCN(loadu)(src + 2 * t - pw + VL);
            FCN(storeu)(dst + t, __builtin_shuffle(a, b, even));
            FCN(storeu)(dst + L + t, __builtin_shuffle(a, b, odd));
        }
        if (t < t_end && t + VL <= L) {
            /* the rest of the row in one masked step: input past W reads as pad */
            const int64_t i0 = 2 * t - pw, left = W - i0; /* 0 < left < 2 * VL */
            const V pv = FCN(splat)(pad);
            const V a = FCN(select)(pl->iota < (__typeof__(pl->iota[0]))left,
                                    FCN(load_range)(src + i0, 0, left), pv);
            const V b = FCN(select)(pl->iota < (__typeof__(pl->iota[0]))(left - VL),
                                    FCN(load_range)(src + i0 + VL, 0, left - VL), pv);
            FCN(storeu)(dst + t, __builtin_shuffle(a, b, even));
            FCN(storeu)(dst + L + t, __builtin_shuffle(a, b, odd));
            t = FC_MIN(t + VL, t_end);
        }
    }
    for (; t < t_end; t++) {
        for (int64_t ph = 0; ph < sw; ph++) {
            const int64_t iw = t * sw + ph - pw;
            dst[ph * L + t] = (iw >= 0 && iw < W) ? src[iw] : pad;
        }
    }
    const V pv = FCN(splat)(pad);
    for (int64_t ph = 0; ph < sw; ph++)
        for (int64_t tt = t_end; tt < L; tt += VL) FCN(store_lanes)(dst + ph * L + tt, pv, L - tt);
}

/* dst[iw] = split row at gamma = iw + pad_w, for iw in [0, W): the inverse
 * of pool_split_row (the average backward's rows back in input order). */
static void FCN(pool_merge_row)(const FCN(pool_plan) *pl, T *dst, const T *split)
{
    const fc_pool_geom *g = pl->g;
    const int64_t L = pl->L, W = g->W, pw = g->pad_w, sw = g->stride_w;
    int64_t iw = 0;
    if (sw == 1) {
        for (; iw < W && iw + pw < L; iw++) dst[iw] = split[iw + pw];
        for (; iw < W; iw++) dst[iw] = 0;
        return;
    }
    if (sw == 2) {
        IV lo = (pl->iota >> 1) + (pl->iota & 1) * VL, hi = lo + VL / 2;
        for (; iw < W; iw += 2 * VL) {
            const int64_t gam = iw + pw, first = gam & 1, t0 = gam >> 1, left = W - iw;
            if (t0 + first + VL > L) break;
            const V a = FCN(loadu)(split + first * L + t0);
            const V b = FCN(loadu)(split + (1 - first) * L + t0 + first);
            FCN(store_lanes)(dst + iw, __builtin_shuffle(a, b, lo), left);          /* masked at the */
            FCN(store_lanes)(dst + iw + VL, __builtin_shuffle(a, b, hi), left - VL); /* row's end     */
        }
    }
    for (; iw < W; iw++) {
        const int64_t gam = iw + pw, t = gam / sw;
        dst[iw] = t < L ? split[(gam % sw) * L + t] : 0;
    }
}

/* input rows [ih0, ih1) that the output rows [p0, p1) read */
static inline void FCN(pool_rows_read)(const fc_pool_geom *g, int64_t p0, int64_t p1, int64_t *ih0,
                                       int64_t *ih1)
{
    *ih0 = FC_MAX(0, p0 * g->stride_h - g->pad_h);
    *ih1 = FC_MIN(g->H, (p1 - 1) * g->stride_h - g->pad_h + (g->R - 1) * g->dil_h + 1);
}

/* o[0 .. n) = the first n lanes of an index vector, widened to int64 */
static inline void FCN(store_indices)(int64_t *o, IV v, int64_t n)
{
#if FC_DOUBLE /* 64-bit lanes already: a masked move of the bits */
    FCN(store_lanes)((T *)o, (V)v, n);
#else
    typedef int64_t half __attribute__((vector_size(FC_VBYTES), aligned(8)));
#if FC_VBYTES == 64
    const half lo = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), half);
    const half hi = __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), half);
#elif FC_VBYTES == 32
    const half lo = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), half);
    const half hi = __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), half);
#else
    const half lo = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1), half);
    const half hi = __builtin_convertvector(__builtin_shufflevector(v, v, 2, 3), half);
#endif
    if (n == VL) {
        *(half *)o = lo;
        *(half *)(o + VL / 2) = hi;
    } else {
        for (int64_t i = 0; i < n; i++) o[i] = v[i];
    }
#endif
}

/* Splits input rows up to (excluding) `upto` into the unit's band of split
 * rows, starting after the last row split (*done); prefetches the source
 * rows a few rows further, so reading memory overlaps the pooling of the
 * rows already split, which are still in L1 when their output rows run. */
static inline void FCN(pool_split_upto)(const FCN(pool_plan) *pl, T *xs, const T *x, int64_t ih0,
                                        int64_t *done, int64_t upto, T pad)
{
    const fc_pool_geom *g = pl->g;
    for (int64_t ih = *done; ih < upto; ih++) {
        const int64_t ahead = ih + 4;
        if (ahead < g->H) {
            const char *src = (const char *)(x + ahead * g->W);
            for (int64_t b = 0; b < g->W * (int64_t)sizeof(T); b += 64) __builtin_prefetch(src + b, 0, 0);
        }
        FCN(pool_split_row)(pl, xs + (ih - ih0) * pl->pitch, x + ih * g->W, pad);
    }
    if (upto > *done) *done = upto;
}

/* ---- forward: taps of one output row -------------------------------------------
 * For each output row the taps that lie inside the input are listed once,
 * as a split-row pointer and the in-plane index of the tap at column 0, so
 * the per-chunk loop is one load and one update per tap.  Windows of 4 and
 * 9 taps (2x2, 3x3 away from the border) run fully unrolled. */

#define FC_POOL_TAPS_MAX 64 /* taps listed per row; larger windows run in slices */

typedef struct FCN(pool_taps) {
    int n;
    const T *ptr[FC_POOL_TAPS_MAX];
    int64_t index[FC_POOL_TAPS_MAX]; /* ih * W + s * dil_w - pad_w */
} FCN(pool_taps);

/* max over taps [0, NT) (NT > 0: compile-time count) for the chunk at q0 */
static inline __attribute__((always_inline)) void FCN(max_taps)(
    const int NT, const FCN(pool_taps) *tp, int64_t q0, IV stepq, V *best, IV *best_i)
{
    const int n = NT > 0 ? NT : tp->n;
#pragma GCC unroll 9
    for (int k = 0; k < n; k++) {
        const V v = FCN(loadu)(tp->ptr[k] + q0);
        const IV m = (IV)(v > *best) | (IV)(v != v);
        *best = FCN(select)(m, v, *best);
        *best_i = ((stepq + (__typeof__(stepq[0]))tp->index[k]) & m) | (*best_i & ~m);
    }
}

/* max over taps without indices: a running max plus a sticky NaN mask */
static inline __attribute__((always_inline)) V FCN(max_taps_noindex)(const int NT, const FCN(pool_taps) *tp,
                                                                    int64_t q0, V best)
{
    const int n = NT > 0 ? NT : tp->n;
    IV nan = (IV)(best != best);
#pragma GCC unroll 9
    for (int k = 0; k < n; k++) {
        const V v = FCN(loadu)(tp->ptr[k] + q0);
        best = FCN(select)((IV)(v > best), v, best);
        nan |= (IV)(v != v);
    }
    return FCN(select)(nan, FCN(splat)((T)NAN), best);
}

static inline __attribute__((always_inline)) V FCN(sum_taps)(const int NT, const FCN(pool_taps) *tp,
                                                             int64_t q0)
{
    const int n = NT > 0 ? NT : tp->n;
    V sum = (V){0};
#pragma GCC unroll 9
    for (int k = 0; k < n; k++) sum += FCN(loadu)(tp->ptr[k] + q0);
    return sum;
}

/* taps [k0, k0 + FC_POOL_TAPS_MAX) of output row p whose input row lies in
 * [lo, hi); split row ih is at rows + (ih - lo) * pitch */
static void FCN(pool_list_taps)(const FCN(pool_plan) *pl, FCN(pool_taps) *tp, const T *rows, int64_t lo,
                                int64_t hi, int64_t p, int64_t k0)
{
    /* locals: the int64_t index stores below could otherwise alias g's fields */
    const fc_pool_geom *g = pl->g;
    const int64_t S = g->S, W = g->W, dh = g->dil_h, dw = g->dil_w, pw = g->pad_w, pitch = pl->pitch;
    const int64_t hstart = p * g->stride_h - g->pad_h;
    const int64_t k1 = FC_MIN(g->R * S, k0 + FC_POOL_TAPS_MAX);
    const int64_t *soff = pl->soff;
    int n = 0;
    for (int64_t k = k0; k < k1;) {
        const int64_t r = k / S, s0 = k - r * S, s1 = FC_MIN(S, s0 + (k1 - k));
        const int64_t ih = hstart + r * dh;
        if (ih >= lo && ih < hi) {
            const T *row = rows + (ih - lo) * pitch;
            for (int64_t s = s0; s < s1; s++, n++) {
                tp->ptr[n] = row + soff[s];
                tp->index[n] = ih * W + s * dw - pw;
            }
        }
        k += s1 - s0;
    }
    tp->n = n;
}

/* ---- max forward ------------------------------------------------------------- */

static void FCN(maxpool_unit)(const FCN(pool_plan) *pl, T *y, int64_t *yi, const T *x, T *xs,
                              int64_t p0, int64_t p1)
{
    const fc_pool_geom *g = pl->g;
    const int64_t Q = g->Q, W = g->W, sw = g->stride_w, pw = g->pad_w, dw = g->dil_w;
    const int64_t RS = g->R * g->S;
    int64_t ih0, ih1, done;
    FCN(pool_rows_read)(g, p0, p1, &ih0, &ih1);
    done = ih0;
    const IV step = pl->iota * (__typeof__(pl->iota[0]))sw;
    FCN(pool_taps) tp;
    for (int64_t p = p0; p < p1; p++) {
        FCN(pool_split_upto)(pl, xs, x, ih0, &done,
                             FC_MIN(ih1, p * g->stride_h - g->pad_h + (g->R - 1) * g->dil_h + 1), (T)-INFINITY);
        int64_t hfirst = p * g->stride_h - g->pad_h;
        while (hfirst < 0) hfirst += g->dil_h;
        T *yrow = y + p * Q;
        int64_t *irow = yi ? yi + p * Q : NULL;
        for (int64_t k0 = 0; k0 < RS; k0 += FC_POOL_TAPS_MAX) {
            FCN(pool_list_taps)(pl, &tp, xs, ih0, ih1, p, k0);
            const int first = k0 == 0, last = k0 + FC_POOL_TAPS_MAX >= RS;
            for (int64_t q0 = 0; q0 < Q; q0 += VL) {
                const int64_t n = FC_MIN((int64_t)VL, Q - q0), w0 = q0 * sw - pw;
                const IV stepq = step + (__typeof__(step[0]))(q0 * sw);
                V best;
                IV best_i;
                if (first) {
                    /* the first in-input element of each window, reported when all
                     * are -inf; -1 when dilation skips every input element */
                    best = FCN(splat)((T)-INFINITY);
                    best_i = step + (__typeof__(step[0]))(hfirst * W + w0);
                    if (w0 < 0 || hfirst >= g->H || w0 + (VL - 1) * sw >= W) {
                        for (int i = 0; i < VL; i++) {
                            int64_t w = w0 + i * sw;
                            while (w < 0) w += dw;
                            best_i[i] = (__typeof__(step[0]))(hfirst < g->H && w < W ? hfirst * W + w : -1);
                        }
                    }
                } else { /* a later slice of a large window: resume */
                    best = FCN(load_lanes)(yrow + q0, n);
                    for (int i = 0; i < VL; i++) best_i[i] = irow && i < n ? (__typeof__(step[0]))irow[q0 + i] : 0;
                }
                if (!irow)
                    best = tp.n == 4 ? FCN(max_taps_noindex)(4, &tp, q0, best)
                         : tp.n == 9 ? FCN(max_taps_noindex)(9, &tp, q0, best)
                                     : FCN(max_taps_noindex)(0, &tp, q0, best);
                else if (tp.n == 4)
                    FCN(max_taps)(4, &tp, q0, stepq, &best, &best_i);
                else if (tp.n == 9)
                    FCN(max_taps)(9, &tp, q0, stepq, &best, &best_i);
                else
                    FCN(max_taps)(0, &tp, q0, stepq, &best, &best_i);
                FCN(store_lanes)(yrow + q0, best, n);
                if (irow && (last || RS > FC_POOL_TAPS_MAX)) FCN(store_indices)(irow + q0, best_i, n);
            }
        }
    }
}

/* ---- average forward ---------------------------------------------------------- */

static void FCN(avgpool_unit)(const FCN(pool_plan) *pl, T *y, const T *x, T *xs, int64_t p0,
                              int64_t p1, int include_pad)
{
    const fc_pool_geom *g = pl->g;
    const int64_t Q = g->Q, RS = g->R * g->S;
    int64_t ih0, ih1, done;
    FCN(pool_rows_read)(g, p0, p1, &ih0, &ih1);
    done = ih0;
    FCN(pool_taps) tp;
    for (int64_t p = p0; p < p1; p++) {
        FCN(pool_split_upto)(pl, xs, x, ih0, &done, FC_MIN(ih1, p * g->stride_h - g->pad_h + g->R), 0);
        const int64_t hstart = p * g->stride_h - g->pad_h;
        const V rc = FCN(splat)((T)fc_pool_count(hstart, g->R, g->H, g->pad_h, include_pad));
        T *yrow = y + p * Q;
        for (int64_t k0 = 0; k0 < RS; k0 += FC_POOL_TAPS_MAX) {
            FCN(pool_list_taps)(pl, &tp, xs, ih0, ih1, p, k0);
            const int last = k0 + FC_POOL_TAPS_MAX >= RS;
            for (int64_t q0 = 0; q0 < Q; q0 += VL) {
                const int64_t n = FC_MIN((int64_t)VL, Q - q0);
                V sum = tp.n == 4 ? FCN(sum_taps)(4, &tp, q0)
                      : tp.n == 9 ? FCN(sum_taps)(9, &tp, q0) : FCN(sum_taps)(0, &tp, q0);
                if (k0 > 0) sum += FCN(load_lanes)(yrow + q0, n); /* partial sums of earlier slices */
                if (last) sum = sum / (rc * FCN(loadu)(pl->ccount + q0));
                FCN(store_lanes)(yrow + q0, sum, n);
            }
        }
    }
}

/* ---- small planes ------------------------------------------------------------------ */

/* Rows of at most FC_POOL_SMALL_Q outputs fill a fraction of a vector while
 * the split-row layout costs its setup per row (the 8x8 maps of a small CNN
 * ran at 5 ns per tap).  Here every plane shares one table of tap offsets
 * (RS x PQ, -1 for taps in the padding), built once per call; a plane is
 * then, tap by tap, a branch-free pass over its outputs that the compiler
 * vectorises with gathers.  Semantics as the vector path: NaN wins (the last
 * NaN's index), all -inf reports the window's first in-input element, -1
 * when the window holds none. */
#define FC_POOL_SMALL_Q 8
#define FC_POOL_SMALL_TABLE (1 << 16) /* table entries at most */
#define FC_POOL_SMALL_CHUNK 256       /* outputs per pass */

static int FCN(pool_small)(T *y, int64_t *yi, const T *x, const fc_pool_geom *g, int avg, int include_pad,
                           int nt)
{
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, PQ = P * Q, RS = g->R * g->S, HW = H * W;
    /* one block: the divisors first (malloc's alignment serves T), then the int32 tables */
    T *div = malloc((size_t)PQ * sizeof(T) + (size_t)((RS + 1) * PQ) * sizeof(int32_t));
    if (!div) return FC_ERR_NOMEM;
    int32_t *off = (int32_t *)(div + PQ);
    int32_t *first = off + RS * PQ;
    for (int64_t p = 0; p < P; p++) {
        const int64_t h0 = p * g->stride_h - g->pad_h;
        for (int64_t q = 0; q < Q; q++) {
            const int64_t o = p * Q + q, w0 = q * g->stride_w - g->pad_w;
            first[o] = -1;
            for (int64_t r = 0; r < g->R; r++) {
                for (int64_t s = 0; s < g->S; s++) {
                    const int64_t ih = h0 + r * g->dil_h, iw = w0 + s * g->dil_w;
                    const int valid = ih >= 0 && ih < H && iw >= 0 && iw < W;
                    off[(r * g->S + s) * PQ + o] = valid ? (int32_t)(ih * W + iw) : -1;
                    if (valid && first[o] < 0) first[o] = (int32_t)(ih * W + iw);
                }
            }
            div[o] = avg ? (T)fc_pool_count(h0, g->R, H, g->pad_h, include_pad) *
                           (T)fc_pool_count(w0, g->S, W, g->pad_w, include_pad) : (T)1;
        }
    }
    /* a team only when there is work for it (waking one costs microseconds) */
    const int team = g->NC * PQ * RS >= 65536 ? (g->NC < nt ? (int)g->NC : nt) : 1;
#pragma omp parallel num_threads(team)
    {
        fc_fpstate fp = fc_fp_exact_enter();
        T best[FC_POOL_SMALL_CHUNK];
        int32_t bidx[FC_POOL_SMALL_CHUNK];
        const T fill = avg ? (T)0 : (T)-INFINITY;
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->NC; plane++) {
            const T *xp = x + plane * HW;
            for (int64_t o0 = 0; o0 < PQ; o0 += FC_POOL_SMALL_CHUNK) {
                const int64_t n = FC_MIN((int64_t)FC_POOL_SMALL_CHUNK, PQ - o0);
                for (int64_t i = 0; i < n; i++) {
                    best[i] = fill;
                    bidx[i] = first[o0 + i];
                }
                for (int64_t k = 0; k < RS; k++) {
                    const int32_t *ok = off + k * PQ + o0;
                    if (avg) {
                        for (int64_t i = 0; i < n; i++) best[i] += ok[i] >= 0 ? xp[ok[i]] : (T)0;
                        continue;
                    }
                    for (int64_t i = 0; i < n; i++) {
                        const int32_t j = ok[i];
                        const T v = j >= 0 ? xp[j] : fill;
                        const int m = (v > best[i]) | (v != v);
                        best[i] = m ? v : best[i];
                        bidx[i] = m ? j : bidx[i];
                    }
                }
                T *yp = y + plane * PQ + o0;
                if (avg)
                    for (int64_t i = 0; i < n; i++) yp[i] = best[i] / div[o0 + i];
                else
                    for (int64_t i = 0; i < n; i++) yp[i] = best[i];
                if (yi)
                    for (int64_t i = 0; i < n; i++) yi[plane * PQ + o0 + i] = bidx[i];
            }
        }
        fc_fp_leave(fp);
    }
    free(div);
    return FC_OK;
}

/* ---- 2x2 windows, stride 2 --------------------------------------------------------- */

/* The pooling of most CNNs: 2x2 windows at stride 2, no padding or
 * dilation, every window inside the input.  A vector of VL outputs of one
 * row reads 2 VL columns of its two input rows, split into even and odd
 * columns by two shuffles; the four taps are then whole vectors, compared
 * in the window's row-major order (so ties keep the first, NaN the last
 * NaN, as the general paths).  Rows shorter than VL outputs run masked. */
static int FCN(pool_2x2_fits)(const fc_pool_geom *g)
{
    return g->R == 2 && g->S == 2 && g->stride_h == 2 && g->stride_w == 2 && g->pad_h == 0 &&
           g->pad_w == 0 && g->dil_h == 1 && g->dil_w == 1 && 2 * g->P <= g->H && 2 * g->Q <= g->W;
}

/* The 2x2 pooling of rows [all] (orphaned omp for: the caller's team, or one thread). */
static void FCN(pool_2x2_rows)(T *y, int64_t *yi, const T *x, const fc_pool_geom *g, int avg)
{
    const int64_t W = g->W, P = g->P, Q = g->Q, HW = g->H * g->W, PQ = P * Q, rows = g->NC * P;
    IV even, odd;
    for (int i = 0; i < VL; i++) {
        even[i] = 2 * i;
        odd[i] = 2 * i + 1;
    }
    fc_fpstate fp = fc_fp_exact_enter();
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; row++) {
        const int64_t plane = row / P, p = row % P;
        const T *top = x + plane * HW + 2 * p * W, *bot = top + W;
        T *yo = y + plane * PQ + p * Q;
        for (int64_t q0 = 0; q0 < Q; q0 += VL) {
            const int64_t n = FC_MIN((int64_t)VL, Q - q0), m = 2 * n; /* outputs, input columns */
            const T *t = top + 2 * q0, *b = bot + 2 * q0;
            const V t0 = FCN(load_range)(t, 0, m), t1 = FCN(load_range)(t + VL, 0, m - VL);
            const V b0 = FCN(load_range)(b, 0, m), b1 = FCN(load_range)(b + VL, 0, m - VL);
            const V te = __builtin_shuffle(t0, t1, even), to = __builtin_shuffle(t0, t1, odd);
            const V be = __builtin_shuffle(b0, b1, even), bo = __builtin_shuffle(b0, b1, odd);
            if (avg) {
                FCN(store_range)(yo + q0, ((te + to) + (be + bo)) * (T)0.25, 0, n);
                continue;
            }
            V best = te;
            IV bi = even + (__typeof__(even[0]))(2 * p * W + 2 * q0), idx = bi;
            const V cand[3] = {to, be, bo};
            const __typeof__(even[0]) step[3] = {1, (__typeof__(even[0]))(W - 1), 1};
#pragma GCC unroll 3
            for (int k = 0; k < 3; k++) {
                idx += step[k];
                const IV take = (cand[k] > best) | (cand[k] != cand[k]);
                best = FCN(select)(take, cand[k], best);
                bi = (bi & ~take) | (idx & take);
            }
            FCN(store_range)(yo + q0, best, 0, n);
            if (yi) {
                int64_t *io = yi + plane * PQ + p * Q + q0;
                for (int64_t i = 0; i < n; i++) io[i] = bi[i];
            }
        }
    }
    fc_fp_leave(fp);
}

static int FCN(pool_2x2)(T *y, int64_t *yi, const T *x, const fc_pool_geom *g, int avg, int nt)
{
    const int64_t PQ = g->P * g->Q, rows = g->NC * g->P;
    const int team = g->NC * PQ * 4 >= 65536 ? (rows < nt ? (int)rows : nt) : 1;
    FC_TEAM(team, FCN(pool_2x2_rows)(y, yi, x, g, avg));
    return FC_OK;
}

/* ---- windows far wider than the input -----------------------------------------------
 * Geometries fc_pool_wide flags run one output at a time over its window
 * clipped to the input (fc_pool_clip per row and per column, from tables
 * built once per call), so the work is the output times the clipped windows
 * however large the windows, strides or paddings are.  Semantics as the
 * vector paths: the taps in the padding, which hold -inf or 0 there and
 * never change a result, are skipped; a window keeps its first in-input
 * element when all are -inf, its last NaN, -1 when it holds no input
 * element; averages divide by PyTorch's count. */

static int FCN(pool_clips_init)(fc_pool_clips *c, const fc_pool_geom *g, int include_pad)
{
    c->rlo = malloc((size_t)(3 * g->P + 3 * g->Q) * sizeof(int64_t));
    if (!c->rlo) return FC_ERR_NOMEM;
    c->rhi = c->rlo + g->P;
    c->rcnt = c->rhi + g->P;
    c->clo = c->rcnt + g->P;
    c->chi = c->clo + g->Q;
    c->ccnt = c->chi + g->Q;
    double rows = 0, cols = 0;
    for (int64_t p = 0; p < g->P; p++) {
        const int64_t start = p * g->stride_h - g->pad_h;
        fc_pool_clip(start, g->R, g->dil_h, g->H, &c->rlo[p], &c->rhi[p]);
        c->rcnt[p] = fc_pool_count(start, g->R, g->H, g->pad_h, include_pad);
        rows += (double)(c->rhi[p] - c->rlo[p]);
    }
    for (int64_t q = 0; q < g->Q; q++) {
        const int64_t start = q * g->stride_w - g->pad_w;
        fc_pool_clip(start, g->S, g->dil_w, g->W, &c->clo[q], &c->chi[q]);
        c->ccnt[q] = fc_pool_count(start, g->S, g->W, g->pad_w, include_pad);
        cols += (double)(c->chi[q] - c->clo[q]);
    }
    c->work = rows * cols;
    return FC_OK;
}

static int FCN(pool_generic)(T *y, int64_t *yi, const T *x, const fc_pool_geom *g, int avg, int include_pad,
                             int nt)
{
    fc_pool_clips c;
    if (FCN(pool_clips_init)(&c, g, include_pad)) return FC_ERR_NOMEM;
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, HW = H * W, PQ = P * Q;
    const int team = (double)g->NC * (c.work + (double)PQ) >= 65536 ? (g->NC < nt ? (int)g->NC : nt) : 1;
#pragma omp parallel num_threads(team)
    {
        fc_fpstate fp = fc_fp_exact_enter();
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->NC; plane++) {
            const T *xp = x + plane * HW;
            T *yp = y + plane * PQ;
            int64_t *ip = yi ? yi + plane * PQ : NULL;
            for (int64_t p = 0; p < P; p++) {
                const int64_t h0 = p * g->stride_h - g->pad_h;
                for (int64_t q = 0; q < Q; q++) {
                    const int64_t w0 = q * g->stride_w - g->pad_w;
                    const int64_t s0 = c.clo[q], s1 = c.chi[q];
                    if (avg) {
                        T sum = 0;
                        for (int64_t r = c.rlo[p]; r < c.rhi[p]; r++) {
                            /* indices: w0 may lie far left of the row (padding) */
                            const int64_t base = (h0 + r * g->dil_h) * W + w0;
                            for (int64_t s = s0; s < s1; s++) sum += xp[base + s * g->dil_w];
                        }
                        yp[p * Q + q] = sum / ((T)c.rcnt[p] * (T)c.ccnt[q]);
                        continue;
                    }
                    T best = (T)-INFINITY;
                    int64_t bi = -1;
                    if (c.rlo[p] < c.rhi[p] && s0 < s1) bi = (h0 + c.rlo[p] * g->dil_h) * W + w0 + s0 * g->dil_w;
                    for (int64_t r = c.rlo[p]; r < c.rhi[p]; r++) {
                        const int64_t base = (h0 + r * g->dil_h) * W + w0;
                        for (int64_t s = s0; s < s1; s++) {
                            const int64_t j = base + s * g->dil_w;
                            const T v = xp[j];
                            if (v > best || v != v) {
                                best = v;
                                bi = j;
                            }
                        }
                    }
                    yp[p * Q + q] = best;
                    if (ip) ip[p * Q + q] = bi;
                }
            }
        }
        fc_fp_leave(fp);
    }
    free(c.rlo);
    return FC_OK;
}

/* dx (overwritten) = the average pooling's gradient, window by clipped window */
static int FCN(avgpool_backward_generic)(T *dx, const T *dy, const fc_pool_geom *g, int include_pad, int nt)
{
    fc_pool_clips c;
    if (FCN(pool_clips_init)(&c, g, include_pad)) return FC_ERR_NOMEM;
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, HW = H * W, PQ = P * Q;
    const int team = (double)g->NC * (c.work + (double)(PQ + HW)) >= 65536 ? (g->NC < nt ? (int)g->NC : nt) : 1;
#pragma omp parallel num_threads(team)
    {
        fc_fpstate fp = fc_fp_exact_enter();
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->NC; plane++) {
            T *dp = dx + plane * HW;
            const T *gp = dy + plane * PQ;
            memset(dp, 0, (size_t)HW * sizeof(T));
            for (int64_t p = 0; p < P; p++) {
                const int64_t h0 = p * g->stride_h - g->pad_h;
                for (int64_t q = 0; q < Q; q++) {
                    const int64_t w0 = q * g->stride_w - g->pad_w;
                    const T gv = gp[p * Q + q] / ((T)c.rcnt[p] * (T)c.ccnt[q]);
                    for (int64_t r = c.rlo[p]; r < c.rhi[p]; r++) {
                        const int64_t base = (h0 + r * g->dil_h) * W + w0;
                        for (int64_t s = c.clo[q]; s < c.chi[q]; s++) dp[base + s * g->dil_w] += gv;
                    }
                }
            }
        }
        fc_fp_leave(fp);
    }
    free(c.rlo);
    return FC_OK;
}

/* ---- forward driver ---------------------------------------------------------------- */

static int FCN(pool_forward)(T *y, int64_t *yi, const T *x, const fc_pool_geom *g0, int avg,
                             int include_pad, int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    fc_pool_geom gc;
    if (fc_pool_prepare(g0, &gc)) return FC_ERR_GEOM;
    const fc_pool_geom *g = &gc;
    if (fc_pool_wide(g)) return FCN(pool_generic)(y, yi, x, g, avg, include_pad, nt);
    if (FCN(pool_2x2_fits)(g)) return FCN(pool_2x2)(y, yi, x, g, avg, nt);
    if (g->Q <= FC_POOL_SMALL_Q && fc_geom_product_ok(g->P, g->Q, g->R, g->S) &&
        g->P * g->Q * g->R * g->S <= FC_POOL_SMALL_TABLE && g->H * g->W < INT32_MAX)
        return FCN(pool_small)(y, yi, x, g, avg, include_pad, nt);
    FCN(pool_plan) pl;
    if (FCN(pool_plan_init)(&pl, g, g->P, g->stride_h, (g->R - 1) * g->dil_h + 1, avg, include_pad, nt))
        return FC_ERR_NOMEM;
    const int64_t units = g->NC * pl.nbands, HW = g->H * g->W, PQ = g->P * g->Q;
    const int64_t rows = FC_MIN(g->H, (pl.band - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1);
    int err = 0;
#pragma omp parallel num_threads(units < nt ? (int)units : nt)
    {
        fc_fpstate fp = fc_fp_exact_enter();
        T *xs = fc_scratch(FC_SCRATCH_WORK, (size_t)(FC_MAX(rows, 1) * pl.pitch) * sizeof(T));
        if (!xs) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            if (!xs) continue;
            const int64_t plane = u / pl.nbands, p0 = (u % pl.nbands) * pl.band;
            const int64_t p1 = FC_MIN(g->P, p0 + pl.band);
            if (avg)
                FCN(avgpool_unit)(&pl, y + plane * PQ, x + plane * HW, xs, p0, p1, include_pad);
            else
                FCN(maxpool_unit)(&pl, y + plane * PQ, yi ? yi + plane * PQ : NULL, x + plane * HW, xs, p0, p1);
        }
        fc_fp_leave(fp);
    }
    FCN(pool_plan_free)(&pl);
    return err;
}

static int FCN(max_pool2d_forward)(T *y, int64_t *idx, const T *x, const fc_pool_geom *g, int nthreads)
{
    return FCN(pool_forward)(y, idx, x, g, 0, 0, nthreads);
}

static int FCN(avg_pool2d_forward)(T *y, const T *x, const fc_pool_geom *g, int count_include_pad, int nthreads)
{
    return FCN(pool_forward)(y, NULL, x, g, 1, count_include_pad, nthreads);
}

/* ---- max backward --------------------------------------------------------------- */

static int FCN(max_pool2d_backward)(T *dx, const T *dy, const int64_t *idx, const fc_pool_geom *g,
                                 int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    if (!fc_geom_in(g->NC, 1) || !fc_geom_in(g->H, 1) || !fc_geom_in(g->W, 1) || !fc_geom_in(g->P, 1) ||
        !fc_geom_in(g->Q, 1) || !fc_geom_product_ok(g->NC, g->H, g->W, 1) ||
        !fc_geom_product_ok(g->NC, g->P, g->Q, 1))
        return FC_ERR_GEOM;
    const int64_t HW = g->H * g->W, PQ = g->P * g->Q;
    int bad = 0;
#pragma omp parallel num_threads(g->NC < nt ? (int)g->NC : nt)
    {
        fc_fpstate fp = fc_fp_exact_enter();
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->NC; plane++) {
            T *d = dx + plane * HW;
            const T *gy = dy + plane * PQ;
            const int64_t *ix = idx + plane * PQ;
            memset(d, 0, (size_t)HW * sizeof(T)); /* the plane is then scattered into in cache */
            int64_t oob = 0;
            for (int64_t o = 0; o < PQ; o++) {
                const int64_t i = ix[o];
                if ((uint64_t)i < (uint64_t)HW)
                    d[i] += gy[o];
                else if (i != -1) /* -1: a window without input elements */
                    oob = 1;
            }
            if (oob) {
#pragma omp atomic write
                bad = 1;
            }
        }
        fc_fp_leave(fp);
    }
    return bad ? FC_ERR_ARG : FC_OK;
}

/* ---- average backward ------------------------------------------------------------ */

/* input rows [h0, h1) of one plane.  Per output row: its gradient, scaled by
 * the divisors, goes into gbuf (zero margins of VL + S on each side); each
 * phase's horizontal sum h[t] = sum over its taps of gbuf[t - offset] is
 * formed in registers and added once into each input row the window covers
 * (taps of one phase never read-modify-write overlapping vectors, which
 * would stall on store forwarding).  A row is merged into dx as soon as no
 * later output row reaches it, so dx is written while dy is still read. */
static void FCN(avgpool_backward_unit)(const FCN(pool_plan) *pl, T *dx, const T *dy, T *dxs, T *gbuf,
                                       const int64_t *poff, const int64_t *pcnt, int64_t h0, int64_t h1,
                                       int include_pad)
{
    const fc_pool_geom *g = pl->g;
    const int64_t Q = g->Q, sh = g->stride_h, ph = g->pad_h, sw = g->stride_w, L = pl->L;
    const int64_t margin = VL + g->S;
    const int64_t plo = FC_MAX(0, fc_floor_div(h0 + ph - (g->R - 1) + sh - 1, sh));
    const int64_t phi = FC_MIN(g->P, fc_floor_div(h1 - 1 + ph, sh) + 1);
    T *gq = gbuf + margin; /* gq[q] for q in [0, Q); zeros around */
    int64_t zeroed = h0, merged = h0;
    for (int64_t p = plo; p < phi; p++) {
        const int64_t top = FC_MIN(h1, p * sh - ph + g->R), r0 = FC_MAX(h0, p * sh - ph);
        for (; zeroed < top; zeroed++) memset(dxs + (zeroed - h0) * pl->pitch, 0, (size_t)pl->pitch * sizeof(T));
        const V rc = FCN(splat)((T)fc_pool_count(p * sh - ph, g->R, g->H, ph, include_pad));
        for (int64_t q0 = 0; q0 < Q; q0 += VL) {
            const V gv = FCN(load_lanes)(dy + p * Q + q0, Q - q0) / (rc * FCN(loadu)(pl->ccount + q0));
            FCN(store_lanes)(gq + q0, gv, Q - q0);
        }
        const int64_t *off = poff;
        for (int64_t phs = 0; phs < sw; off += pcnt[phs], phs++) {
            const int64_t n = pcnt[phs];
            if (n == 0) continue;
            const int64_t tend = Q + off[n - 1]; /* offsets ascend */
            for (int64_t t0 = 0; t0 < tend; t0 += VL) {
                V h = FCN(loadu)(gq + t0 - off[0]);
                for (int64_t k = 1; k < n; k++) h += FCN(loadu)(gq + t0 - off[k]);
                for (int64_t ih = r0; ih < top; ih++) {
                    T *d = dxs + (ih - h0) * pl->pitch + phs * L + t0;
                    FCN(storeu)(d, FCN(loadu)(d) + h);
                }
            }
        }
        /* rows above the next output row's window are final */
        const int64_t done = FC_MIN(zeroed, (p + 1) * sh - ph);
        for (; merged < done; merged++)
            FCN(pool_merge_row)(pl, dx + merged * g->W, dxs + (merged - h0) * pl->pitch);
    }
    for (; zeroed < h1; zeroed++) memset(dxs + (zeroed - h0) * pl->pitch, 0, (size_t)pl->pitch * sizeof(T));
    for (; merged < h1; merged++) FCN(pool_merge_row)(pl, dx + merged * g->W, dxs + (merged - h0) * pl->pitch);
}

static int FCN(avg_pool2d_backward)(T *dx, const T *dy, const fc_pool_geom *g0, int include_pad, int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    fc_pool_geom gc;
    if (fc_pool_prepare(g0, &gc)) return FC_ERR_GEOM;
    const fc_pool_geom *g = &gc;
    if (fc_pool_wide(g)) return FCN(avgpool_backward_generic)(dx, dy, g, include_pad, nt);
    FCN(pool_plan) pl;
    if (FCN(pool_plan_init)(&pl, g, g->H, 1, 1, 1, include_pad, nt)) return FC_ERR_NOMEM;
    /* taps grouped by phase, offsets ascending: (s * dil_w) = offset * sw + phase */
    int64_t *poff = malloc((size_t)(g->S + g->stride_w) * sizeof(int64_t));
    if (!poff) {
        FCN(pool_plan_free)(&pl);
        return FC_ERR_NOMEM;
    }
    int64_t *pcnt = poff + g->S;
    for (int64_t phs = 0; phs < g->stride_w; phs++) pcnt[phs] = 0;
    for (int64_t s = 0; s < g->S; s++) pcnt[(s * g->dil_w) % g->stride_w]++;
    { /* counting sort by phase: offsets ascend within a phase as s does */
        int64_t *next = malloc((size_t)g->stride_w * sizeof(int64_t));
        if (!next) {
            free(poff);
            FCN(pool_plan_free)(&pl);
            return FC_ERR_NOMEM;
        }
        for (int64_t phs = 0, k = 0; phs < g->stride_w; k += pcnt[phs], phs++) next[phs] = k;
        for (int64_t s = 0; s < g->S; s++) poff[next[(s * g->dil_w) % g->stride_w]++] = (s * g->dil_w) / g->stride_w;
        free(next);
    }
    const int64_t units = g->NC * pl.nbands, HW = g->H * g->W, PQ = g->P * g->Q;
    const int64_t glen = FC_ROUND_UP(g->Q, VL) + 2 * (VL + g->S);
    int err = 0;
#pragma omp parallel num_threads(units < nt ? (int)units : nt)
    {
        fc_fpstate fp = fc_fp_exact_enter();
        T *dxs = fc_scratch(FC_SCRATCH_WORK, (size_t)(pl.band * pl.pitch) * sizeof(T));
        T *gbuf = fc_scratch(FC_SCRATCH_WORK2, (size_t)glen * sizeof(T));
        if (!dxs || !gbuf) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        } else {
            memset(gbuf, 0, (size_t)glen * sizeof(T)); /* margins stay zero */
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            if (!dxs || !gbuf) continue;
            const int64_t plane = u / pl.nbands, h0 = (u % pl.nbands) * pl.band;
            FCN(avgpool_backward_unit)(&pl, dx + plane * HW, dy + plane * PQ, dxs, gbuf, poff, pcnt, h0,
                                       FC_MIN(g->H, h0 + pl.band), include_pad);
        }
        fc_fp_leave(fp);
    }
    free(poff);
    FCN(pool_plan_free)(&pl);
    return err;
}

/* ---- global average ------------------------------------------------------------- */

/* One vector per plane (lanes summed in four chains), then VL planes' vectors reduced together:
 * each step adds the two halves of every plane's partial sum, the halves of VL / w planes
 * gathered into one vector by a two-source shuffle, so VL sums take VL - 1 shuffle pairs
 * instead of VL - 1 scalar adds each.  Every plane's lanes are added in the same tree
 * whatever its place in its group (a mean does not depend on the planes beside it). */
static inline V FCN(gavg_plane_acc)(const T *src, int64_t n)
{
    V acc[4] = {{0}, {0}, {0}, {0}};
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL)
        for (int k = 0; k < 4; k++) acc[k] += FCN(loadu)(src + i + k * VL);
    for (; i + VL <= n; i += VL) acc[0] += FCN(loadu)(src + i);
    if (i < n) acc[1] += FCN(load_lanes)(src + i, n - i);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* The shuffles of gavg_reduce: step j (w = VL >> (j + 1) lanes per half) takes the low
 * halves (lo) and the high halves (hi) of the partials in two vectors. */
typedef struct FCN(gavg_masks) { IV lo[8], hi[8]; } FCN(gavg_masks);

static void FCN(gavg_masks_init)(FCN(gavg_masks) *mk)
{
    for (int w = VL / 2, j = 0; w >= 1; w /= 2, j++) {
        const int per = VL / (2 * w); /* partials (of 2w lanes) per source vector */
        for (int b = 0; b < VL / w; b++)
            for (int t = 0; t < w; t++) {
                const int src = b < per ? 0 : VL, blk = b % per;
                mk->lo[j][b * w + t] = src + 2 * blk * w + t;
                mk->hi[j][b * w + t] = src + (2 * blk + 1) * w + t;
            }
    }
}

/* v[0..VL) -> lane p of the result: the sum of v[p]'s lanes */
static inline V FCN(gavg_reduce)(V *v, const FCN(gavg_masks) *mk)
{
    for (int w = VL / 2, cnt = VL, j = 0; w >= 1; w /= 2, cnt /= 2, j++)
        for (int q = 0; q < cnt / 2; q++)
            v[q] = __builtin_shuffle(v[2 * q], v[2 * q + 1], mk->lo[j]) +
                   __builtin_shuffle(v[2 * q], v[2 * q + 1], mk->hi[j]);
    return v[0];
}

/* y[plane] = mean of the plane's n elements, planes [all] (orphaned omp for: the caller's team, or
 * one thread) */
static void FCN(global_avg_pool_planes)(T *y, const T *x, int64_t planes, int64_t n)
{
    fc_fpstate fp = fc_fp_exact_enter();
    FCN(gavg_masks) mk;
    FCN(gavg_masks_init)(&mk);
    const int64_t groups = (planes + VL - 1) / VL;
    const V dn = FCN(splat)((T)n);
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; gi++) {
        const int64_t p0 = gi * VL, m = FC_MIN((int64_t)VL, planes - p0);
        V v[VL];
        if (m == VL) /* full groups without the test per plane: 5 % of 512 @7 at batch 32 */
            for (int p = 0; p < VL; p++) v[p] = FCN(gavg_plane_acc)(x + (p0 + p) * n, n);
        else
            for (int p = 0; p < VL; p++) v[p] = p < m ? FCN(gavg_plane_acc)(x + (p0 + p) * n, n) : (V){0};
        FCN(store_lanes)(y + p0, FCN(gavg_reduce)(v, &mk) / dn, m);
    }
    fc_fp_leave(fp);
}

static void FCN(global_avg_pool_spread)(T *dx, const T *dy, int64_t planes, int64_t n)
{
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        const V v = FCN(splat)(dy[plane] / (T)n);
        T *d = dx + plane * n;
        int64_t i = 0;
        for (; i + VL <= n; i += VL) FCN(storeu)(d + i, v);
        FCN(store_lanes)(d + i, v, n - i);
    }
}

static int FCN(global_avg_pool_forward)(T *y, const T *x, int64_t planes, int64_t n, int nthreads)
{
    FC_TEAM(fc_gavg_team(planes, n, sizeof(T), nthreads), FCN(global_avg_pool_planes)(y, x, planes, n));
    return FC_OK;
}

static int FCN(global_avg_pool_backward)(T *dx, const T *dy, int64_t planes, int64_t n, int nthreads)
{
    FC_TEAM(fc_gavg_team(planes, n, sizeof(T), nthreads), FCN(global_avg_pool_spread)(dx, dy, planes, n));
    return FC_OK;
}
