/* Geometry helpers shared by the convolution algorithms (type independent). */
#ifndef FASTCONV_CONV_COMMON_H
#define FASTCONV_CONV_COMMON_H

#include <stdlib.h>

#include "internal.h"

/* ---- geometry limits -----------------------------------------------------
 * Every size, stride, padding and dilation lies below FC_GEOM_LIMIT (2^62),
 * and so do the padded input and the span of the windows along each axis,
 * so a sum of two such terms (an output's offset plus a tap's) never
 * overflows int64.  The Python layer rejects geometries outside these
 * limits first; the entry points check again (FC_ERR_GEOM). */
#define FC_GEOM_LIMIT ((int64_t)1 << 62)

static inline int fc_geom_in(int64_t v, int64_t lo) { return v >= lo && v < FC_GEOM_LIMIT; }

/* *span = (n - 1) * step + 1 for n, step >= 1; 0 when not below FC_GEOM_LIMIT */
static inline int fc_geom_span(int64_t n, int64_t step, int64_t *span)
{
    int64_t a;
    if (__builtin_mul_overflow(n - 1, step, &a) || a >= FC_GEOM_LIMIT - 1) return 0;
    *span = a + 1;
    return 1;
}

/* a * b * c * d fits int64 (all >= 0) */
static inline int fc_geom_product_ok(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t p;
    return !__builtin_mul_overflow(a, b, &p) && !__builtin_mul_overflow(p, c, &p) &&
           !__builtin_mul_overflow(p, d, &p);
}

/* One axis of a convolution: n inputs, out outputs at `stride`, k taps at
 * `dil`, `pad` before.  The windows span (out - 1) * stride + (k - 1) * dil
 * + 1 positions of the padded input, within n + 2 * pad + 1 (the bottom or
 * right padding is implied, one more than pad for "same" with an even
 * kernel). */
static inline int fc_conv_axis_ok(int64_t n, int64_t k, int64_t out, int64_t stride, int64_t pad, int64_t dil)
{
    int64_t a, b;
    if (!fc_geom_in(n, 1) || !fc_geom_in(k, 1) || !fc_geom_in(out, 1) || !fc_geom_in(stride, 1) ||
        !fc_geom_in(pad, 0) || !fc_geom_in(dil, 1))
        return 0;
    if (!fc_geom_span(out, stride, &a) || !fc_geom_span(k, dil, &b)) return 0;
    const int64_t padded = n + 2 * pad; /* < 3 * 2^62: no overflow */
    return padded >= 0 && padded < FC_GEOM_LIMIT && a + b - 1 <= padded + 1;
}

static inline int fc_conv_geom_ok(const fc_conv_geom *g)
{
    return fc_geom_in(g->N, 1) && fc_geom_in(g->C, 1) && fc_geom_in(g->K, 1) && fc_geom_in(g->G, 1) &&
           g->C % g->G == 0 && g->K % g->G == 0 &&
           fc_conv_axis_ok(g->H, g->R, g->P, g->stride_h, g->pad_h, g->dil_h) &&
           fc_conv_axis_ok(g->W, g->S, g->Q, g->stride_w, g->pad_w, g->dil_w) &&
           fc_geom_product_ok(g->N, g->C, g->H, g->W) && fc_geom_product_ok(g->N, g->K, g->P, g->Q) &&
           fc_geom_product_ok(g->K, g->C / g->G, g->R, g->S);
}

/* Whether the windows reach far more padded positions than the input holds
 * (padding, stride or dilation far beyond the input and kernel sizes).  The
 * direct kernels' padded scratch (and the FFT's transforms) grow with the
 * span of the windows, im2col's work only with the output and the weights,
 * so such geometries run on im2col.  Never true of the convolutions of
 * networks: there the padding stays within the kernel's span, the windows
 * within twice the input, strides at a few. */
static inline int fc_conv_sparse(const fc_conv_geom *g)
{
    /* spans below FC_GEOM_LIMIT (fc_conv_geom_ok) */
    const int64_t Hn = (g->P - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    const int64_t Wn = (g->Q - 1) * g->stride_w + (g->S - 1) * g->dil_w + 1;
    if (g->pad_h >= Hn || g->pad_w >= Wn) return 1;
    if (Hn > 2 * (g->H + g->R) + 64 || Wn > 2 * (g->W + g->S) + 64) return 1;
    /* a phase-split row of the direct kernel: stride_w * (Q + tap offsets + a few vectors) */
    int64_t row;
    if (__builtin_mul_overflow(g->stride_w, g->Q + (g->S - 1) * g->dil_w / g->stride_w + 80, &row)) return 1;
    return row > 4 * (g->W + g->S) + 4096;
}

/* Checks *in (FC_ERR_GEOM) and copies it to *g in a canonical form: the
 * dilation of a one-tap axis and a large stride of a one-output axis are
 * 1 (neither changes any output); *algo becomes im2col for sparse
 * geometries (fc_conv_sparse). */
static inline int fc_conv_prepare(const fc_conv_geom *in, fc_conv_geom *g, int *algo)
{
    if (!fc_conv_geom_ok(in)) return FC_ERR_GEOM;
    *g = *in;
    if (g->R == 1) g->dil_h = 1;
    if (g->S == 1) g->dil_w = 1;
    if (g->P == 1 && g->stride_h > 64) g->stride_h = 1;
    if (g->Q == 1 && g->stride_w > 64) g->stride_w = 1;
    if (fc_conv_sparse(g)) *algo = FC_ALGO_IM2COL;
    return FC_OK;
}

/* strides of a weight view: group, output channel, input channel, r, s */
typedef struct fc_wview {
    int64_t gs, os, is, rs, ss;
} fc_wview;

/* A 1x1 layer whose output pixels are its input pixels (no padding; stride 1, or one row / column
 * where the stride reads nothing else): column j of its GEMMs is pixel j % HW of image j / HW, so
 * a panel of x's or dy's columns is contiguous runs of each channel's plane. */
static inline int fc_conv_plain_1x1(const fc_conv_geom *g)
{
    return g->R == 1 && g->S == 1 && g->P == g->H && g->Q == g->W && g->pad_h == 0 && g->pad_w == 0;
}

/* floor(a / b) for b > 0 and any sign of a */
static inline int64_t fc_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Output columns q whose tap s reads inside the input row, q in [lo[s], hi[s]):
 * 0 <= q * stride_w - pad_w + s * dil_w < W.  One table per call, S entries. */
typedef struct fc_tap_range {
    int64_t *lo, *hi;
} fc_tap_range;

static inline int fc_tap_range_init(fc_tap_range *t, int64_t taps, int64_t in_len, int64_t out_len,
                                    int64_t stride, int64_t pad, int64_t dil)
{
    t->lo = malloc(2 * (size_t)taps * sizeof(int64_t));
    if (!t->lo) return FC_ERR_NOMEM;
    t->hi = t->lo + taps;
    for (int64_t s = 0; s < taps; s++) {
        int64_t off = s * dil - pad; /* input index of q = 0 */
        int64_t lo = off >= 0 ? 0 : fc_floor_div(-off + stride - 1, stride);
        int64_t hi = fc_floor_div(in_len - 1 - off, stride) + 1;
        lo = FC_MIN(FC_MAX(lo, 0), out_len);
        hi = FC_MIN(FC_MAX(hi, lo), out_len);
        t->lo[s] = lo;
        t->hi[s] = hi;
    }
    return FC_OK;
}

static inline void fc_tap_range_free(fc_tap_range *t) { free(t->lo); }

/* A run of consecutive output positions within one output row:
 * flat positions [j, j + len) = image img, row p, columns [q, q + len). */
typedef struct fc_run {
    int64_t lane; /* offset of the run within the range being walked */
    int64_t len, img, p, q;
} fc_run;

/* Splits flat output positions [j0, j0 + n) (j = (img * P + p) * Q + q) into
 * runs within rows; returns the count.  runs must hold n / Q + 2 entries. */
static inline int64_t fc_split_runs(fc_run *runs, int64_t j0, int64_t n, int64_t P, int64_t Q)
{
    int64_t img = j0 / (P * Q), pq = j0 % (P * Q), p = pq / Q, q = pq % Q, cnt = 0;
    for (int64_t lane = 0; lane < n;) {
        int64_t len = FC_MIN(n - lane, Q - q);
        runs[cnt++] = (fc_run){lane, len, img, p, q};
        lane += len;
        q = 0;
        if (++p == P) {
            p = 0;
            img++;
        }
    }
    return cnt;
}

#endif
