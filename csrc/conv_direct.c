/* Direct convolution   (template, see internal.h)
 *
 * Each work unit (image, group, band of rows) first copies the input rows it
 * needs into a zero-padded, phase-split scratch xs[c][row][phase][t]: padded
 * column gamma = t * stride_w + phase.  The window of output column q at
 * tap s then starts at t = q + (s * dil_w) / stride_w of phase
 * (s * dil_w) % stride_w, so a run of output columns reads a contiguous run
 * of xs whatever the stride, and the padding needs no branches.  The tap
 * offsets within xs are one table, tapoff[r * S + s].
 *
 * Register tiles hold a block of channels x a run of output columns (the
 * forward and the input gradient) or a block of output channels x a block
 * of taps (the weight gradient), so each input vector loaded feeds several
 * FMAs, as in the GEMM micro-kernel, without packing.
 *
 * Ownership: forward units own disjoint output rows; input-gradient units
 * own disjoint input rows (they gather from every output row that reads
 * them); weight-gradient units add into per-thread copies of dw that are
 * summed in thread order at the end (static schedule, so the result is
 * the same from run to run for a given thread count).
 */

#ifndef FC_DIRECT_COMMON
#define FC_DIRECT_COMMON
#include <string.h>

#include "conv_common.h"
/* a unit's scratch (padded rows of all channels of a group) stays below this: the
 * size of L2.  128 KiB (tried with the filtering work) cut C3 to bands of one
 * output row whose three input rows are each re-padded three times: 43 vs 35 ms */
#define FC_DIRECT_SCRATCH_BYTES (1 << 20)

enum { FC_PLAN_FLAT = 1, FC_PLAN_STACK = 2 };

#endif

/* Register tiles: output channels x vectors of columns (forward), input
 * channels x vectors (input gradient), output channels x taps (weight
 * gradient).  Half the register file holds accumulators. */
#if FC_VBYTES == 64
#define DIRECT_KB 8
#define DIRECT_NV 3 /* forward tile 8 x 3 vectors: 24 of 32 zmm accumulate */
#define DIRECT_WKB 4
#else
#define DIRECT_KB 4
#define DIRECT_NV 2
#define DIRECT_WKB 2
#endif
#define DIRECT_WSB 4
/* lanes per block of the forward's lane loop: a multiple of every tile width */
#define FC_LANE_BLOCK (12 * VL)

typedef struct FCN(direct_plan) {
    const fc_conv_geom *g;
    int64_t Cg, Kg, RS, PQ, HW;
    int64_t L;       /* elements per phase of a padded row */
    int64_t pitch;   /* elements per padded row: stride_w * L */
    int64_t slack;   /* zeros after the last padded row, read by tiles' last lanes */
    int stacked;     /* 1-D forward: images are the rows of one unit */
    int flat;        /* tiles run across rows: stride_w == 1, rows one pitch apart */
    int64_t band;    /* rows per unit: output rows (forward, weight), input rows (input grad),
                        images (stacked) */
    int64_t nbands;
    int64_t *tapoff; /* RS entries: offset of tap (r, s) from the window origin */
    int64_t *soff;   /* S entries: offset of tap s within a padded row */
} FCN(direct_plan);

/* rows_total: rows the units split between them; a band of b of those rows
 * needs (b - 1) * row_step + row_extra rows of scratch.  mode FC_PLAN_STACK:
 * a 1-D convolution's images become the rows of a unit; FC_PLAN_FLAT: the
 * caller runs flat tiles (the forward), so rows lie one minimal pitch apart. */
static int FCN(direct_plan_init)(FCN(direct_plan) *pl, const fc_conv_geom *g, int64_t rows_total,
                                 int64_t row_step, int64_t row_extra, int mode, int nt)
{
    const int allow_flat = (mode & FC_PLAN_FLAT) != 0;
    pl->g = g;
    pl->Cg = g->C / g->G;
    pl->Kg = g->K / g->G;
    pl->RS = g->R * g->S;
    pl->PQ = g->P * g->Q;
    pl->HW = g->H * g->W;
    pl->stacked = (mode & FC_PLAN_STACK) && g->H == 1 && g->R == 1 && g->P == 1 && g->pad_h == 0;
    pl->flat = allow_flat && g->stride_w == 1 && (pl->stacked || g->stride_h == 1);
    const int64_t offmax = ((g->S - 1) * g->dil_w) / g->stride_w;
    if (pl->flat) {
        /* the columns the outputs read, nothing more; and when the zeros a row
         * needs on its right are no more than the next row's leading zeros,
         * rows share them: pitch pad_w + W, and outputs still fit in a row */
        const int64_t right = g->Q + offmax - g->pad_w - g->W;
        pl->L = right <= FC_MIN(g->pad_w, offmax) ? g->pad_w + g->W : g->Q + offmax;
        pl->slack = FC_ROUND_UP(offmax + 4 * VL, VL);
    } else {
        pl->L = FC_ROUND_UP(g->Q + offmax + 4 * VL, VL);
        pl->slack = 0;
    }
    pl->pitch = g->stride_w * pl->L;
    if (pl->stacked) {
        rows_total = g->N;
        row_step = row_extra = 1;
    }
    /* bands: about four units per thread (dynamic scheduling then absorbs a
     * thread that the machine slows down), and a bounded scratch per unit */
    const int64_t units0 = pl->stacked ? g->G : g->N * g->G;
    int64_t nb = units0 >= 4 * nt ? 1 : FC_CEIL_DIV(4 * nt, units0);
    const int64_t row_bytes = pl->Cg * pl->pitch * (int64_t)sizeof(T);
    const int64_t max_rows = FC_MAX(1, FC_DIRECT_SCRATCH_BYTES / FC_MAX(row_bytes, 1));
    int64_t band = FC_CEIL_DIV(rows_total, nb);
    while (band > 1 && (band - 1) * row_step + row_extra > max_rows) band = FC_CEIL_DIV(band, 2);
    pl->band = FC_MAX(band, 1);
    pl->nbands = FC_CEIL_DIV(rows_total, pl->band);
    pl->tapoff = malloc((size_t)(pl->RS + g->S) * sizeof(int64_t));
    if (!pl->tapoff) return FC_ERR_NOMEM;
    pl->soff = pl->tapoff + pl->RS;
    for (int64_t s = 0; s < g->S; s++) {
        int64_t gamma = s * g->dil_w;
        pl->soff[s] = (gamma % g->stride_w) * pl->L + gamma / g->stride_w;
    }
    for (int64_t r = 0; r < g->R; r++)
        for (int64_t s = 0; s < g->S; s++)
            pl->tapoff[r * g->S + s] = r * g->dil_h * pl->pitch + pl->soff[s];
    return FC_OK;
}

/* One phase of a stride-2 padded row: seg[t] = row[2 t + off] where that lies in [0, W), zero
 * elsewhere, t < L.  Pairs of vectors gathered by a two-source shuffle, the run's end by masked
 * loads (the scalar loop with its bounds test per element was 8 % of ResNet's 7x7/2 stem). */
static void FCN(split_phase2)(T *restrict seg, int64_t L, const T *restrict row, int64_t W, int64_t off)
{
    const int64_t t0 = FC_MIN(L, off >= 0 ? 0 : (1 - off) / 2); /* first t with 2 t + off >= 0 */
    const int64_t t1 = FC_MAX(t0, FC_MIN(L, FC_FLOOR_DIV(W - 1 - off, 2) + 1));
    IV me;
    for (int t = 0; t < VL; t++) me[t] = 2 * t;
    int64_t t = 0;
    for (; t < t0; t++) seg[t] = 0;
    const T *src = row + 2 * t0 + off;
    for (; t + VL <= t1; t += VL, src += 2 * VL) {
        const int64_t left = 2 * (t1 - t) - 1; /* elements up to the run's last one */
        const V a = FCN(loadu)(src);
        const V b = left > 2 * VL - 1 ? FCN(loadu)(src + VL) : FCN(load_lanes)(src + VL, VL - 1);
        FCN(storeu)(seg + t, __builtin_shuffle(a, b, me));
    }
    if (t < t1) {
        const int64_t n2 = 2 * (t1 - t) - 1;
        const V a = FCN(load_lanes)(src, FC_MIN(n2, (int64_t)VL));
        const V b = n2 > VL ? FCN(load_lanes)(src + VL, n2 - VL) : (V){0};
        FCN(store_lanes)(seg + t, __builtin_shuffle(a, b, me), t1 - t);
        t = t1;
    }
    if (t < L) memset(seg + t, 0, (size_t)(L - t) * sizeof(T));
}

/* Padded rows [rho0, rho0 + nrows) of Cg channels into xs (channel c at
 * xs + c * (nrows * pitch), then pl->slack zeros): padded row rho is source
 * row rho - pad_v, source row i of channel c at src + c * cs + i * rs, rows
 * outside [0, nin) zero; columns padded by pad_w and phase-split. */
static void FCN(direct_pad_rows)(const FCN(direct_plan) *pl, T *xs, const T *src, int64_t cs,
                                 int64_t rs, int64_t nin, int64_t pad_v, int64_t rho0, int64_t nrows)
{
    const fc_conv_geom *g = pl->g;
    for (int64_t c = 0; c < pl->Cg; c++) {
        for (int64_t i = 0; i < nrows; i++) {
            T *dst = xs + (c * nrows + i) * pl->pitch;
            const int64_t ih = rho0 + i - pad_v;
            if (ih < 0 || ih >= nin) {
                memset(dst, 0, (size_t)pl->pitch * sizeof(T));
                continue;
            }
            const T *row = src + c * cs + ih * rs;
            if (g->stride_w == 1) {
                /* inline loops: rows are short, and a libc call per piece costs
                 * as much as the copy */
                const int64_t lead = FC_MIN(g->pad_w, pl->L);
                const int64_t body = FC_MAX(0, FC_MIN(g->W, pl->L - lead));
                int64_t t = 0;
                for (; t < lead; t++) dst[t] = 0;
                for (; t < lead + body; t++) dst[t] = row[t - lead];
                for (; t < pl->L; t++) dst[t] = 0;
            } else if (g->stride_w == 2) {
                for (int64_t ph = 0; ph < 2; ph++)
                    FCN(split_phase2)(dst + ph * pl->L, pl->L, row, g->W, ph - g->pad_w);
            } else {
                for (int64_t ph = 0; ph < g->stride_w; ph++) {
                    T *seg = dst + ph * pl->L;
                    for (int64_t t = 0; t < pl->L; t++) {
                        int64_t iw = t * g->stride_w + ph - g->pad_w;
                        seg[t] = (iw >= 0 && iw < g->W) ? row[iw] : 0;
                    }
                }
            }
        }
    }
    memset(xs + pl->Cg * nrows * pl->pitch, 0, (size_t)pl->slack * sizeof(T));
}
