/* Geometry helpers shared by the convolution algorithms (type independent). */
#ifndef FASTCONV_CONV_COMMON_H
#define FASTCONV_CONV_COMMON_H

#include <stdlib.h>

#include "internal.h"

/* strides of a weight view: group, output channel, input channel, r, s */
typedef struct fc_wview {
    int64_t gs, os, is, rs, ss;
} fc_wview;

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
