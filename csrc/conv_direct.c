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

/* ---- forward --------------------------------------------------------------- */

/* Where a tile's lanes go: lane f of a run of rows `pitch` apart is output
 * row f / pitch, column f % pitch (kept only when < Q). */
typedef struct FCN(out_view) {
    T *y;            /* output channel 0 of the block, row 0, column 0 */
    int64_t kstride; /* between output channels */
    int64_t rstride; /* between rows */
    int64_t pitch, Q, nrows;
} FCN(out_view);

/* KB output channels x NVD vectors of lanes starting at output row j0,
 * column q0 (lane f0 = j0 * pitch + q0); xp is xs at the window origin of
 * lane f0; wp the channel block's packed weights. */
static inline __attribute__((always_inline)) void FCN(direct_fwd_tile)(
    const int KB, const int NVD, const T *xp, int64_t cstride, const int64_t *tapoff, const T *wp,
    int64_t Cg, int64_t RS, const FCN(out_view) *o, int64_t j0, int64_t q0, const T *bias,
    int accumulate)
{
    V acc[DIRECT_KB][4];
#pragma GCC unroll 8
    for (int kb = 0; kb < KB; kb++)
#pragma GCC unroll 4
        for (int v = 0; v < NVD; v++) acc[kb][v] = (V){0};
    for (int64_t c = 0; c < Cg; c++) {
        const T *xc = xp + c * cstride;
        for (int64_t tap = 0; tap < RS; tap++, wp += KB) {
            const T *src = xc + tapoff[tap];
            V xv[4];
#pragma GCC unroll 4
            for (int v = 0; v < NVD; v++) xv[v] = FCN(loadu)(src + v * VL);
#pragma GCC unroll 8
            for (int kb = 0; kb < KB; kb++) {
                V wv = FCN(splat)(wp[kb]);
#pragma GCC unroll 4
                for (int v = 0; v < NVD; v++) acc[kb][v] += wv * xv[v];
            }
        }
    }
    /* store each run of valid lanes (one output row) with masked moves; the
     * masks of a run are made once for all KB channels */
    int64_t j = j0, q = q0;
    for (int64_t lane = 0; lane < NVD * VL && j < o->nrows;) {
        if (q >= o->Q) {
            lane += o->pitch - q;
            q = 0;
            j++;
            continue;
        }
        const int64_t len = FC_MIN(o->Q - q, NVD * VL - lane);
        T *dst = o->y + j * o->rstride + q - lane; /* lane `lane` lands on column q */
        FCN(lanes) m[4];
#pragma GCC unroll 4
        for (int v = 0; v < NVD; v++) m[v] = FCN(make_lanes)(lane - v * VL, lane + len - v * VL);
#pragma GCC unroll 8
        for (int kb = 0; kb < KB; kb++) {
            T *d = dst + kb * o->kstride;
            const V b = bias ? FCN(splat)(bias[kb]) : (V){0};
#pragma GCC unroll 4
            for (int v = 0; v < NVD; v++) {
                if (m[v].hi <= m[v].lo) continue;
                V r = bias ? acc[kb][v] + b : acc[kb][v];
                if (accumulate) r += FCN(load_masked)(d + v * VL, m[v]);
                FCN(store_masked)(d + v * VL, r, m[v]);
            }
        }
        lane += len;
        q += len;
    }
}

#define FC_FWD_VARIANT(name, KB, NVD)                                                            \
    static void FCN(name)(const T *xp, int64_t cs, const int64_t *to, const T *wp, int64_t Cg,   \
                          int64_t RS, const FCN(out_view) *o, int64_t j0, int64_t q0,            \
                          const T *b, int acc)                                                   \
    {                                                                                            \
        FCN(direct_fwd_tile)(KB, NVD, xp, cs, to, wp, Cg, RS, o, j0, q0, b, acc);                \
    }
FC_FWD_VARIANT(direct_fwd_tile_k, DIRECT_KB, DIRECT_NV)
FC_FWD_VARIANT(direct_fwd_tile_k1, DIRECT_KB, 1)
FC_FWD_VARIANT(direct_fwd_tile_1, 1, 4)
FC_FWD_VARIANT(direct_fwd_tile_11, 1, 1)
#undef FC_FWD_VARIANT

/* Tiles over lanes [0, n) of one channel block: the wide tile while more
 * than one vector's worth is left, then a one-vector tile. */
/* Tiles over lanes [f_begin, f_end) of one channel block: the wide tile
 * while more than one vector's worth is left, then a one-vector tile. */
static void FCN(direct_fwd_lanes)(int64_t bw, const T *xp, int64_t cs, const FCN(direct_plan) *pl,
                                  const T *wb, const FCN(out_view) *o, int64_t f_begin, int64_t f_end,
                                  const T *bb, int accumulate)
{
    int64_t j = f_begin / o->pitch, q = f_begin % o->pitch; /* then kept without dividing */
    for (int64_t f0 = f_begin; f0 < f_end;) {
        const int64_t left = f_end - f0, step = bw == DIRECT_KB ? (left > VL ? DIRECT_NV * VL : VL)
                                                                : (left > 2 * VL ? 4 * VL : VL);
        const T *xf = xp + f0;
        if (bw == DIRECT_KB && step > VL)
            FCN(direct_fwd_tile_k)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
        else if (bw == DIRECT_KB)
            FCN(direct_fwd_tile_k1)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
        else if (step == 4 * VL)
            FCN(direct_fwd_tile_1)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
        else
            FCN(direct_fwd_tile_11)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
        f0 += step;
        for (q += step; q >= o->pitch; q -= o->pitch) j++;
    }
}

/* Lanes direct_fwd_lanes computes for n lanes of a channel block of width bw. */
static int64_t FCN(direct_lanes_computed)(int64_t n, int64_t bw)
{
    int64_t computed = 0;
    for (int64_t f = 0; f < n; f += FC_LANE_BLOCK) {
        for (int64_t left = FC_MIN(FC_LANE_BLOCK, n - f); left > 0;) {
            const int64_t step = bw == DIRECT_KB ? (left > VL ? DIRECT_NV * VL : VL)
                                                 : (left > 2 * VL ? 4 * VL : VL);
            computed += step;
            left -= step;
        }
    }
    return computed;
}

/* Whether the forward of the plan runs faster on channel vectors
 * (conv_cv.c) than on lane tiles.  Both run at about the same rate per
 * computed lane, so the cost per output element is CgRS / (the fraction of
 * useful lanes): lane tiles waste the lanes past each row's Q columns and
 * the tail of a run, channel vectors the output channels' round-up to VL.
 * Channel vectors add about 12 lane-FMAs per output element (pixel setup,
 * the transpose to NCHW), which decides short reductions (C4: one input
 * channel).  Measured on 4x4 to 56x56 maps, 1 to 128 channels; on large
 * maps the two tie, and the lane tiles (no per-image buffers) are kept. */
static int FCN(direct_cv_wins)(const FCN(direct_plan) *pl)
{
    const fc_conv_geom *g = pl->g;
    if (FCN(cv_image_bytes)(g) > FC_CV_MAX_UNIT_BYTES) return 0;
    int64_t n = g->Q, useful = g->Q; /* one output row at a time */
    if (pl->stacked || pl->flat) {     /* runs of `band` rows, `pitch` apart */
        n = pl->band * pl->pitch;
        useful = pl->band * g->Q;
    }
    const int64_t full = pl->Kg / DIRECT_KB, rest = pl->Kg % DIRECT_KB;
    const double lane = (double)(pl->Kg * useful) /
                        (double)(full * DIRECT_KB * FCN(direct_lanes_computed)(n, DIRECT_KB) +
                                 rest * FCN(direct_lanes_computed)(n, 1));
    const double cv = (double)pl->Kg / (double)FC_ROUND_UP(pl->Kg, VL);
    const double CgRS = (double)(pl->Cg * pl->RS);
    return CgRS / cv + 12.0 < CgRS / lane;
}

/* Packs the weights of the convolution the plan describes, element
 * (group gi, output channel o, input channel i, tap r, s) read at
 * wb[gi * gs + o * os + i * is + r * rs + s * ss], into blocks of DIRECT_KB
 * output channels, then single channels: the block starting at channel k0
 * with width bw holds (kappa, kk) at k0 * CgRS + kappa * bw + kk.  Strides
 * let the input gradient run this forward on flipped, transposed weights. */
static void FCN(direct_pack_weights)(T *wp, const T *wb, fc_wview v, const FCN(direct_plan) *pl)
{
    const fc_conv_geom *g = pl->g;
    const int64_t CgRS = pl->Cg * pl->RS;
    for (int64_t gi = 0; gi < g->G; gi++) {
        T *dg = wp + gi * pl->Kg * CgRS;
        for (int64_t k0 = 0; k0 < pl->Kg;) {
            int64_t bw = pl->Kg - k0 >= DIRECT_KB ? DIRECT_KB : 1;
            for (int64_t kk = 0; kk < bw; kk++) {
                const T *wo = wb + gi * v.gs + (k0 + kk) * v.os;
                int64_t kap = 0;
                for (int64_t i = 0; i < pl->Cg; i++)
                    for (int64_t r = 0; r < g->R; r++)
                        for (int64_t s = 0; s < g->S; s++, kap++)
                            dg[k0 * CgRS + kap * bw + kk] = wo[i * v.is + r * v.rs + s * v.ss];
            }
            k0 += bw;
        }
    }
}

/* y (+)= conv(x, packed weights wp) (+ bias): the forward of the plan. */
static int FCN(direct_forward_run)(T *y, const T *x, const T *wp, const T *bias,
                                   const FCN(direct_plan) *pl, int accumulate, int nt)
{
    const fc_conv_geom *g = pl->g;
    const int64_t CgRS = pl->Cg * pl->RS;
    const int64_t units = (pl->stacked ? 1 : g->N) * g->G * pl->nbands;
    const int64_t max_rows = pl->stacked ? pl->band
                                         : (pl->band - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    int err = 0;
#pragma omp parallel num_threads(units < nt ? (int)units : nt)
    {
        fc_fpstate fp = fc_fp_enter();
        T *xs = fc_scratch(FC_SCRATCH_WORK, ((size_t)pl->Cg * max_rows * pl->pitch + pl->slack) * sizeof(T));
        if (!xs) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            if (!xs) continue;
            const int64_t b = u % pl->nbands, gi = (u / pl->nbands) % g->G, img = u / (pl->nbands * g->G);
            int64_t nrows, nout;
            FCN(out_view) o;
            if (pl->stacked) { /* rows are images b * band .. */
                const int64_t i0 = b * pl->band;
                nout = nrows = FC_MIN(g->N, i0 + pl->band) - i0;
                FCN(direct_pad_rows)(pl, xs, x + (i0 * g->C + gi * pl->Cg) * g->W, g->W, g->C * g->W,
                                     nrows, 0, 0, nrows);
                o = (FCN(out_view)){y + (i0 * g->K + gi * pl->Kg) * g->Q, g->Q, g->K * g->Q,
                                    pl->pitch, g->Q, nout};
            } else { /* rows are output rows p0 .. of image img */
                const int64_t p0 = b * pl->band;
                nout = FC_MIN(g->P, p0 + pl->band) - p0;
                nrows = (nout - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
                FCN(direct_pad_rows)(pl, xs, x + (img * g->C + gi * pl->Cg) * pl->HW, pl->HW, g->W, g->H,
                                     g->pad_h, p0 * g->stride_h, nrows);
                o = (FCN(out_view)){y + (img * g->K + gi * pl->Kg) * pl->PQ + p0 * g->Q, pl->PQ, g->Q,
                                    pl->pitch, g->Q, nout};
            }
            const int64_t cs = nrows * pl->pitch;
            /* Lanes outer, channel blocks inner: a block of lanes' input (all
             * channels, ~10-30 KiB) stays in L1 while every channel block's
             * weights stream past it.  Flat: the unit's lanes in blocks of
             * FC_LANE_BLOCK; otherwise one output row (its columns) at a time. */
            const int64_t n = pl->flat ? nout * pl->pitch : g->Q;
            const int64_t lb = pl->flat ? FC_LANE_BLOCK : g->Q;
            for (int64_t p = 0; p < (pl->flat ? 1 : nout); p++) {
                const T *xr = xs + p * g->stride_h * pl->pitch;
                FCN(out_view) orow = o;
                if (!pl->flat) {
                    orow.y += p * o.rstride;
                    orow.pitch = g->Q;
                    orow.nrows = 1;
                }
                for (int64_t f = 0; f < n; f += lb) {
                    for (int64_t k0 = 0; k0 < pl->Kg;) {
                        const int64_t bw = pl->Kg - k0 >= DIRECT_KB ? DIRECT_KB : 1;
                        FCN(out_view) ok = orow;
                        ok.y += k0 * o.kstride;
                        FCN(direct_fwd_lanes)(bw, xr, cs, pl, wp + (gi * pl->Kg + k0) * CgRS, &ok, f,
                                              FC_MIN(n, f + lb), bias ? bias + gi * pl->Kg + k0 : NULL,
                                              accumulate);
                        k0 += bw;
                    }
                }
            }
        }
        fc_fp_leave(fp);
    }
    return err;
}

static int FCN(conv_direct_forward)(T *y, const T *x, const T *w, const T *bias,
                                    const fc_conv_geom *g, int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    FCN(direct_plan) pl;
    if (FCN(direct_plan_init)(&pl, g, g->P, g->stride_h, (g->R - 1) * g->dil_h + 1,
                              FC_PLAN_FLAT | FC_PLAN_STACK, nt))
        return FC_ERR_NOMEM;
    const int64_t CgRS = pl.Cg * pl.RS;
    if (FCN(direct_cv_wins)(&pl)) {
        free(pl.tapoff);
        return FCN(conv_cv)(y, x, w, (fc_wview){pl.Kg * CgRS, CgRS, pl.RS, g->S, 1}, bias, g, 0, nt);
    }
    T *wp = fc_scratch(FC_SCRATCH_SHARED, (size_t)g->K * CgRS * sizeof(T));
    int st = FC_ERR_NOMEM;
    if (wp) {
        fc_wview v = {pl.Kg * CgRS, CgRS, pl.RS, g->S, 1};
        FCN(direct_pack_weights)(wp, w, v, &pl);
        st = FCN(direct_forward_run)(y, x, wp, bias, &pl, 0, nt);
    }
    free(pl.tapoff);
    return st;
}

/* Stride-1 input gradient as a forward convolution: dx = conv(dy, w
 * flipped in r and s, with K and C swapped), top / left padding
 * dil * (R - 1) - pad (>= 0), output H x W.  Runs the tuned forward tiles. */
static int FCN(direct_backward_input_as_forward)(T *dx, const T *dy, const T *w,
                                                 const fc_conv_geom *g, int nt)
{
    fc_conv_geom a = *g;
    a.C = g->K;
    a.H = g->P;
    a.W = g->Q;
    a.K = g->C;
    a.P = g->H;
    a.Q = g->W;
    a.pad_h = g->dil_h * (g->R - 1) - g->pad_h;
    a.pad_w = g->dil_w * (g->S - 1) - g->pad_w;
    const int64_t RS = g->R * g->S, Cg = g->C / g->G, Kg = g->K / g->G;
    /* element (o = original c, i = original k, r, s) = w[i][o][R-1-r][S-1-s] */
    const fc_wview v = {Kg * Cg * RS, RS, Cg * RS, -g->S, -1};
    FCN(direct_plan) pl;
    if (FCN(direct_plan_init)(&pl, &a, a.P, 1, (a.R - 1) * a.dil_h + 1, FC_PLAN_FLAT | FC_PLAN_STACK, nt))
        return FC_ERR_NOMEM;
    if (FCN(direct_cv_wins)(&pl)) {
        free(pl.tapoff);
        return FCN(conv_cv)(dx, dy, w + RS - 1, v, NULL, &a, 1, nt);
    }
    T *wp = fc_scratch(FC_SCRATCH_SHARED, (size_t)g->K * Cg * RS * sizeof(T));
    int st = FC_ERR_NOMEM;
    if (wp) {
        FCN(direct_pack_weights)(wp, w + RS - 1, v, &pl);
        st = FCN(direct_forward_run)(dx, dy, wp, NULL, &pl, 1, nt);
    }
    free(pl.tapoff);
    return st;
}

/* ---- input gradient ------------------------------------------------------- */

/* dxs[cb] (+)= sum_k wt[k][cb] dy[k, p, q0 ..] for CB input channels;
 * lanes at or past nvalid contribute nothing. */
static inline __attribute__((always_inline)) void FCN(direct_bwdi_tile)(
    const int CB, const int NVD, T *dxs, int64_t cstride, const T *dy, int64_t kstride,
    int64_t nvalid, const T *wt, int64_t Kg)
{
    V acc[DIRECT_KB][2];
#pragma GCC unroll 8
    for (int cb = 0; cb < CB; cb++)
#pragma GCC unroll 2
        for (int v = 0; v < NVD; v++) acc[cb][v] = (V){0};
    const int full = nvalid >= NVD * VL;
    for (int64_t k = 0; k < Kg; k++, wt += CB) {
        const T *dk = dy + k * kstride;
        V dv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NVD; v++)
            dv[v] = full ? FCN(loadu)(dk + v * VL) : FCN(load_lanes)(dk + v * VL, nvalid - v * VL);
#pragma GCC unroll 8
        for (int cb = 0; cb < CB; cb++) {
            V wv = FCN(splat)(wt[cb]);
#pragma GCC unroll 2
            for (int v = 0; v < NVD; v++) acc[cb][v] += wv * dv[v];
        }
    }
#pragma GCC unroll 8
    for (int cb = 0; cb < CB; cb++) {
        T *d = dxs + cb * cstride;
#pragma GCC unroll 2
        for (int v = 0; v < NVD; v++) {
            V a = acc[cb][v];
            if (!full) a = FCN(keep_lanes)(a, (int)FC_MAX(0, FC_MIN(VL, nvalid - v * VL)));
            FCN(storeu)(d + v * VL, FCN(loadu)(d + v * VL) + a);
        }
    }
}

static void FCN(direct_bwdi_tile_c)(T *dxs, int64_t cs, const T *dy, int64_t ks, int64_t nv,
                                    const T *wt, int64_t Kg)
{
    FCN(direct_bwdi_tile)(DIRECT_KB, 2, dxs, cs, dy, ks, nv, wt, Kg);
}
static void FCN(direct_bwdi_tile_1)(T *dxs, int64_t cs, const T *dy, int64_t ks, int64_t nv,
                                    const T *wt, int64_t Kg)
{
    FCN(direct_bwdi_tile)(1, 2, dxs, cs, dy, ks, nv, wt, Kg);
}

/* wt for blocks of DIRECT_KB input channels, then single channels: block
 * starting at channel c0 with width cw holds (tap, k, cc) at
 * c0 * RS * Kg + (tap * Kg + k) * cw + cc. */
static void FCN(direct_pack_weights_t)(T *wt, const T *w, const FCN(direct_plan) *pl)
{
    const int64_t CgRS = pl->Cg * pl->RS, Kg = pl->Kg, RS = pl->RS;
    for (int64_t gi = 0; gi < pl->g->G; gi++) {
        const T *wg = w + gi * Kg * CgRS;
        T *dg = wt + gi * Kg * CgRS;
        for (int64_t c0 = 0; c0 < pl->Cg;) {
            int64_t cw = pl->Cg - c0 >= DIRECT_KB ? DIRECT_KB : 1;
            for (int64_t tap = 0; tap < RS; tap++)
                for (int64_t k = 0; k < Kg; k++)
                    for (int64_t cc = 0; cc < cw; cc++)
                        dg[c0 * RS * Kg + (tap * Kg + k) * cw + cc] = wg[k * CgRS + (c0 + cc) * RS + tap];
            c0 += cw;
        }
    }
}

static int FCN(conv_direct_backward_input)(T *dx, const T *dy, const T *w, const fc_conv_geom *g,
                                           int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    if (g->stride_h == 1 && g->stride_w == 1 && g->pad_h <= g->dil_h * (g->R - 1) &&
        g->pad_w <= g->dil_w * (g->S - 1))
        return FCN(direct_backward_input_as_forward)(dx, dy, w, g, nt);
    /* strided: scatter each output row into the input rows it reads */
    FCN(direct_plan) pl;
    if (FCN(direct_plan_init)(&pl, g, g->H, 1, 1, 0, nt)) return FC_ERR_NOMEM;
    const int64_t CgRS = pl.Cg * pl.RS;
    T *wt = fc_scratch(FC_SCRATCH_SHARED, (size_t)g->K * CgRS * sizeof(T));
    if (!wt) {
        free(pl.tapoff);
        return FC_ERR_NOMEM;
    }
    FCN(direct_pack_weights_t)(wt, w, &pl);
    const int64_t units = g->N * g->G * pl.nbands;
    int err = 0;
#pragma omp parallel num_threads(units < nt ? (int)units : nt)
    {
        fc_fpstate fp = fc_fp_enter();
        T *dxs = fc_scratch(FC_SCRATCH_WORK, (size_t)pl.Cg * pl.band * pl.pitch * sizeof(T));
        if (!dxs) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            if (!dxs) continue;
            const int64_t b = u % pl.nbands, gi = (u / pl.nbands) % g->G, img = u / (pl.nbands * g->G);
            const int64_t h0 = b * pl.band, h1 = FC_MIN(g->H, h0 + pl.band), nrows = h1 - h0;
            const int64_t rho0 = h0 + g->pad_h, rho1 = h1 + g->pad_h; /* padded rows owned */
            const int64_t cstride = nrows * pl.pitch;
            memset(dxs, 0, (size_t)pl.Cg * cstride * sizeof(T));
            /* output rows p whose window (rows p*sh + r*dh) meets [rho0, rho1) */
            const int64_t plo = FC_MAX(0, fc_floor_div(rho0 - (g->R - 1) * g->dil_h + g->stride_h - 1,
                                                       g->stride_h));
            const int64_t phi = FC_MIN(g->P, fc_floor_div(rho1 - 1, g->stride_h) + 1);
            const T *dyg = dy + (img * g->K + gi * pl.Kg) * pl.PQ;
            for (int64_t c0 = 0; c0 < pl.Cg;) {
                const int64_t cw = pl.Cg - c0 >= DIRECT_KB ? DIRECT_KB : 1;
                const T *wb = wt + gi * pl.Kg * CgRS + c0 * pl.RS * pl.Kg;
                T *dxc = dxs + c0 * cstride;
                for (int64_t p = plo; p < phi; p++) {
                    for (int64_t r = 0; r < g->R; r++) {
                        const int64_t rho = p * g->stride_h + r * g->dil_h;
                        if (rho < rho0 || rho >= rho1) continue;
                        T *drow = dxc + (rho - rho0) * pl.pitch;
                        for (int64_t s = 0; s < g->S; s++) {
                            const T *wts = wb + (r * g->S + s) * pl.Kg * cw;
                            T *dd = drow + pl.soff[s];
                            for (int64_t q0 = 0; q0 < g->Q; q0 += 2 * VL) {
                                const T *dyq = dyg + p * g->Q + q0;
                                if (cw == DIRECT_KB)
                                    FCN(direct_bwdi_tile_c)(dd + q0, cstride, dyq, pl.PQ, g->Q - q0, wts, pl.Kg);
                                else
                                    FCN(direct_bwdi_tile_1)(dd + q0, cstride, dyq, pl.PQ, g->Q - q0, wts, pl.Kg);
                            }
                        }
                    }
                }
                c0 += cw;
            }
            /* fold: dx[c, ih, iw] += dxs[c, ih + pad_h - rho0, (iw + pad_w) % sw, (iw + pad_w) / sw] */
            for (int64_t c = 0; c < pl.Cg; c++) {
                T *dxp = dx + (img * g->C + gi * pl.Cg + c) * pl.HW;
                for (int64_t ih = h0; ih < h1; ih++) {
                    const T *srow = dxs + c * cstride + (ih - h0) * pl.pitch;
                    T *drow = dxp + ih * g->W;
                    if (g->stride_w == 1) {
                        const T *sr = srow + g->pad_w;
                        const int64_t wv = FC_MIN(g->W, pl.L - g->pad_w);
                        for (int64_t iw = 0; iw < wv; iw++) drow[iw] += sr[iw];
                    } else {
                        for (int64_t iw = 0; iw < g->W; iw++) {
                            int64_t gamma = iw + g->pad_w, t = gamma / g->stride_w;
                            if (t < pl.L) drow[iw] += srow[(gamma % g->stride_w) * pl.L + t];
                        }
                    }
                }
            }
        }
        fc_fp_leave(fp);
    }
    free(pl.tapoff);
    return err;
}

/* ---- weight gradient ------------------------------------------------------
 * Units (image, group, band of output rows) add into per-thread partial
 * weight gradients laid out [group][tap][k][c]; the partials are summed in
 * thread order at the end (static schedule: the same result run to run for
 * a given thread count).  Two unit bodies:
 *   channels-last: per tap a GEMM over the band's pixels, the input channels
 *     as the vector operand and the output channels as the broadcast operand
 *     (the GEMM micro-kernel's tile).  The unit transposes its band of x
 *     (padded) and of dy to pixel-major order once, so the tile reads both
 *     with unit stride and reduces over pixels without horizontal sums.
 *   rows: dot products of dy rows with shifted x rows, for groups with too
 *     few input channels to fill a vector (depthwise, one input channel). */

typedef struct FCN(wgrad_layout) {
    int cl;       /* channels-last body */
    int64_t Kp;   /* output channels in the partials (padded to GEMM_MR when cl) */
    int64_t Cp;   /* input channels in the partials (padded to VL when cl) */
    int64_t Wp;   /* cl: padded input columns read, (Q - 1) * sw + (S - 1) * dw + 1 */
} FCN(wgrad_layout);

/* part[kb * ks + sb * ts] += sum over the band's rows and columns of
 * dy[kb, p, q] xs(tap sb; p, q) for KB output channels x SB taps (xoff: SB
 * tap offsets within the padded rows). */
static inline __attribute__((always_inline)) void FCN(direct_bwdw_tile)(
    const int KB, const int SB, T *part, int64_t ks, int64_t ts, const int64_t *xoff, const T *xs,
    int64_t xrow_step, const T *dy, int64_t kstride, int64_t nrowsp, int64_t Q)
{
    V acc[DIRECT_WKB][DIRECT_WSB];
#pragma GCC unroll 4
    for (int kb = 0; kb < KB; kb++)
#pragma GCC unroll 4
        for (int sb = 0; sb < SB; sb++) acc[kb][sb] = (V){0};
    for (int64_t i = 0; i < nrowsp; i++) {
        const T *xr = xs + i * xrow_step, *dr = dy + i * Q;
        for (int64_t q0 = 0; q0 < Q; q0 += VL) {
            const int64_t n = Q - q0;
            V dv[DIRECT_WKB], xv[DIRECT_WSB];
#pragma GCC unroll 4
            for (int kb = 0; kb < KB; kb++) dv[kb] = FCN(load_lanes)(dr + kb * kstride + q0, n);
#pragma GCC unroll 4
            for (int sb = 0; sb < SB; sb++) {
                xv[sb] = FCN(loadu)(xr + xoff[sb] + q0);
                if (n < VL) xv[sb] = FCN(keep_lanes)(xv[sb], (int)n);
            }
#pragma GCC unroll 4
            for (int kb = 0; kb < KB; kb++)
#pragma GCC unroll 4
                for (int sb = 0; sb < SB; sb++) acc[kb][sb] += dv[kb] * xv[sb];
        }
    }
#pragma GCC unroll 4
    for (int kb = 0; kb < KB; kb++)
#pragma GCC unroll 4
        for (int sb = 0; sb < SB; sb++) part[kb * ks + sb * ts] += FCN(hsum)(acc[kb][sb]);
}

#define FC_BWDW_VARIANT(name, KB, SB)                                                            \
    static void FCN(name)(T * part, int64_t ks, int64_t ts, const int64_t *xo, const T *xs,     \
                          int64_t xstep, const T *dy, int64_t kstride, int64_t nr, int64_t Q)    \
    {                                                                                            \
        FCN(direct_bwdw_tile)(KB, SB, part, ks, ts, xo, xs, xstep, dy, kstride, nr, Q);          \
    }
FC_BWDW_VARIANT(direct_bwdw_tile_ks, DIRECT_WKB, DIRECT_WSB)
FC_BWDW_VARIANT(direct_bwdw_tile_k1, DIRECT_WKB, 1)
FC_BWDW_VARIANT(direct_bwdw_tile_1s, 1, DIRECT_WSB)
FC_BWDW_VARIANT(direct_bwdw_tile_11, 1, 1)
#undef FC_BWDW_VARIANT

/* rows body: x0 / dy0 are channel 0 of the group in the image */
static void FCN(wgrad_rows_unit)(const FCN(direct_plan) *pl, const FCN(wgrad_layout) *lay, T *part,
                                 T *xs, const T *x0, const T *dy0, int64_t p0, int64_t p1)
{
    const fc_conv_geom *g = pl->g;
    const int64_t nrows = (p1 - 1 - p0) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    FCN(direct_pad_rows)(pl, xs, x0, pl->HW, g->W, g->H, g->pad_h, p0 * g->stride_h, nrows);
    const int64_t cstride = nrows * pl->pitch, xstep = g->stride_h * pl->pitch;
    const int64_t ks = lay->Cp, ts = lay->Kp * lay->Cp;
    const T *dyb = dy0 + p0 * g->Q;
    for (int64_t k0 = 0; k0 < pl->Kg;) {
        const int64_t kw = pl->Kg - k0 >= DIRECT_WKB ? DIRECT_WKB : 1;
        for (int64_t c = 0; c < pl->Cg; c++) {
            for (int64_t t0 = 0; t0 < pl->RS;) {
                const int64_t sw = pl->RS - t0 >= DIRECT_WSB ? DIRECT_WSB : 1;
                T *d = part + (t0 * lay->Kp + k0) * lay->Cp + c;
                const T *xc = xs + c * cstride, *dk = dyb + k0 * pl->PQ;
                const int64_t *xo = pl->tapoff + t0;
                if (kw > 1 && sw > 1)
                    FCN(direct_bwdw_tile_ks)(d, ks, ts, xo, xc, xstep, dk, pl->PQ, p1 - p0, g->Q);
                else if (kw > 1)
                    FCN(direct_bwdw_tile_k1)(d, ks, ts, xo, xc, xstep, dk, pl->PQ, p1 - p0, g->Q);
                else if (sw > 1)
                    FCN(direct_bwdw_tile_1s)(d, ks, ts, xo, xc, xstep, dk, pl->PQ, p1 - p0, g->Q);
                else
                    FCN(direct_bwdw_tile_11)(d, ks, ts, xo, xc, xstep, dk, pl->PQ, p1 - p0, g->Q);
                t0 += sw;
            }
        }
        k0 += kw;
    }
}

/* out[m][c0 ..] += sum over the pixels of nrows rows x Q columns of
 * dy_m[pixel] * xt[pixel][c0 ..] for GEMM_MR output channels (row i of
 * channel m at drows[m] + i * drs, read in place) and NVW vectors of input
 * channels (xt: row i at xt + i * xrow, column q at + q * xcol). */
static inline __attribute__((always_inline)) void FCN(wgrad_cl_tile)(
    const int NVW, T *out, int64_t ldo, const T *xt, int64_t xrow, int64_t xcol,
    const T *const *drows, int64_t drs, int64_t nrows, int64_t Q)
{
    V acc[GEMM_MR][2];
#pragma GCC unroll 16
    for (int m = 0; m < GEMM_MR; m++)
#pragma GCC unroll 2
        for (int v = 0; v < NVW; v++) acc[m][v] = (V){0};
    for (int64_t i = 0; i < nrows; i++) {
        const T *xr = xt + i * xrow;
        const T *dr[GEMM_MR];
#pragma GCC unroll 16
        for (int m = 0; m < GEMM_MR; m++) dr[m] = drows[m] + i * drs;
        for (int64_t q = 0; q < Q; q++, xr += xcol) {
            V b[2];
#pragma GCC unroll 2
            for (int v = 0; v < NVW; v++) b[v] = FCN(loadu)(xr + v * VL);
#pragma GCC unroll 16
            for (int m = 0; m < GEMM_MR; m++) {
                V a = FCN(splat)(dr[m][q]);
#pragma GCC unroll 2
                for (int v = 0; v < NVW; v++) acc[m][v] += a * b[v];
            }
        }
    }
#pragma GCC unroll 16
    for (int m = 0; m < GEMM_MR; m++)
#pragma GCC unroll 2
        for (int v = 0; v < NVW; v++) {
            T *o = out + m * ldo + v * VL;
            FCN(storeu)(o, FCN(loadu)(o) + acc[m][v]);
        }
}

static void FCN(wgrad_cl_tile2)(T *o, int64_t ldo, const T *xt, int64_t xr, int64_t xc,
                                const T *const *d, int64_t drs, int64_t n, int64_t Q)
{
    FCN(wgrad_cl_tile)(2, o, ldo, xt, xr, xc, d, drs, n, Q);
}
static void FCN(wgrad_cl_tile1)(T *o, int64_t ldo, const T *xt, int64_t xr, int64_t xc,
                                const T *const *d, int64_t drs, int64_t n, int64_t Q)
{
    FCN(wgrad_cl_tile)(1, o, ldo, xt, xr, xc, d, drs, n, Q);
}

/* xt[row][col][c] = padded x of padded rows [rho0, rho0 + nrows) (padded row
 * rho is source row rho - pad_v; source row i of channel c at
 * x0 + c * cs + i * rs; rows outside [0, nin) are zero), columns [0, Wp),
 * channels [0, Cp) (zero past Cg) */
static void FCN(wgrad_cl_pack_x)(T *xt, const T *x0, int64_t cs, int64_t rs, int64_t nin,
                                 int64_t pad_v, const FCN(direct_plan) *pl,
                                 const FCN(wgrad_layout) *cl, int64_t rho0, int64_t nrows)
{
    const fc_conv_geom *g = pl->g;
    memset(xt, 0, (size_t)(nrows * cl->Wp * cl->Cp) * sizeof(T));
    const int64_t iw1 = FC_MIN(g->W, cl->Wp - g->pad_w); /* columns read, unpadded */
    for (int64_t i = 0; i < nrows; i++) {
        const int64_t ih = rho0 + i - pad_v;
        if (ih < 0 || ih >= nin) continue;
        T *dst = xt + i * cl->Wp * cl->Cp + g->pad_w * cl->Cp;
        for (int64_t c = 0; c < pl->Cg; c++) {
            const T *src = x0 + c * cs + ih * rs;
            for (int64_t iw = 0; iw < iw1; iw++) dst[iw * cl->Cp + c] = src[iw];
        }
    }
}

/* channels-last body: x0 / dy0 are channel 0 of the group in the image, or
 * of the first image when the plan stacks 1-D images as rows [p0, p1) */
static void FCN(wgrad_cl_unit)(const FCN(direct_plan) *pl, const FCN(wgrad_layout) *cl, T *part,
                               T *xt, const T *x0, const T *dy0, int64_t p0, int64_t p1)
{
    const fc_conv_geom *g = pl->g;
    const int64_t np = p1 - p0, nrows = (np - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    int64_t dks, drs; /* dy: between output channels, between rows */
    if (pl->stacked) { /* rows are images: no vertical padding or taps */
        FCN(wgrad_cl_pack_x)(xt, x0, g->W, g->C * g->W, g->N, 0, pl, cl, p0, np);
        dks = g->Q;
        drs = g->K * g->Q;
    } else {
        FCN(wgrad_cl_pack_x)(xt, x0, pl->HW, g->W, g->H, g->pad_h, pl, cl, p0 * g->stride_h, nrows);
        dks = pl->PQ;
        drs = g->Q;
    }
    const int64_t xrow = g->stride_h * cl->Wp * cl->Cp, xcol = g->stride_w * cl->Cp;
    /* a few hundred pixels at a time, so their rows of xt and dy stay in
     * cache while every (tap, k block, c block) tile reads them */
    const int64_t chunk = FC_MAX(1, FC_CEIL_DIV(256, g->Q));
    for (int64_t i0 = 0; i0 < np; i0 += chunk) {
        const int64_t ni = FC_MIN(chunk, np - i0);
        for (int64_t tap = 0; tap < pl->RS; tap++) {
            const int64_t r = tap / g->S, s = tap % g->S;
            const T *xtap = xt + i0 * xrow + (r * g->dil_h * cl->Wp + s * g->dil_w) * cl->Cp;
            T *ptap = part + tap * cl->Kp * cl->Cp;
            for (int64_t k0 = 0; k0 < cl->Kp; k0 += GEMM_MR) {
                /* rows past Kg repeat the last one; their partials are never read */
                const T *drows[GEMM_MR];
                for (int m = 0; m < GEMM_MR; m++)
                    drows[m] = dy0 + FC_MIN(k0 + m, pl->Kg - 1) * dks + (p0 + i0) * drs;
                for (int64_t c0 = 0; c0 < cl->Cp;) {
                    T *o = ptap + k0 * cl->Cp + c0;
                    if (cl->Cp - c0 >= 2 * VL) {
                        FCN(wgrad_cl_tile2)(o, cl->Cp, xtap + c0, xrow, xcol, drows, drs, ni, g->Q);
                        c0 += 2 * VL;
                    } else {
                        FCN(wgrad_cl_tile1)(o, cl->Cp, xtap + c0, xrow, xcol, drows, drs, ni, g->Q);
                        c0 += VL;
                    }
                }
            }
        }
    }
}

/* Whether the weight gradient runs faster on channel vectors (conv_cv.c):
 * wherever output channels fill half a vector or more, unless the
 * reduction per dy element is short (fewer than 32 input channel x taps)
 * on large maps, where transposing dy to pixel-major costs as much as the
 * FMAs (C4: 0.89 vs 0.34 ms).  Elsewhere measured 1.0-2.0x faster than the
 * lane and channels-last tiles (4x4 maps 0.134 vs 0.199 ms, 20x20 3.6 vs
 * 7.3 ms), which reduce over one image's few pixels between flushes. */
static int FCN(direct_cv_wgrad_wins)(const fc_conv_geom *g)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G;
    return 2 * Kg >= VL && FCN(cv_image_bytes)(g) <= FC_CV_MAX_UNIT_BYTES &&
           (Cg * g->R * g->S >= 32 || g->P * g->Q <= 64);
}

static int FCN(conv_direct_backward_weight)(T *dw, const T *dy, const T *x, const fc_conv_geom *g,
                                            int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    if (FCN(direct_cv_wgrad_wins)(g)) return FCN(conv_cv_backward_weight)(dw, dy, x, g, nt);
    FCN(wgrad_layout) lay;
    lay.cl = g->C / g->G >= VL / 2; /* enough input channels to fill vectors */
    FCN(direct_plan) pl;
    if (FCN(direct_plan_init)(&pl, g, g->P, g->stride_h, (g->R - 1) * g->dil_h + 1,
                              lay.cl ? FC_PLAN_STACK : 0, nt))
        return FC_ERR_NOMEM;
    lay.Kp = lay.cl ? FC_ROUND_UP(pl.Kg, GEMM_MR) : pl.Kg;
    lay.Cp = lay.cl ? FC_ROUND_UP(pl.Cg, VL) : pl.Cg;
    lay.Wp = (g->Q - 1) * g->stride_w + (g->S - 1) * g->dil_w + 1;
    const int64_t max_rows = (pl.band - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    const size_t s1 = lay.cl ? (size_t)(max_rows * lay.Wp * lay.Cp) : (size_t)(pl.Cg * max_rows * pl.pitch);
    const int64_t gsize = pl.RS * lay.Kp * lay.Cp, part_size = g->G * gsize;
    const int64_t units = (pl.stacked ? 1 : g->N) * g->G * pl.nbands;
    const int team = units < nt ? (int)units : nt;
    T *part = fc_scratch(FC_SCRATCH_SHARED, (size_t)part_size * team * sizeof(T));
    if (!part) {
        free(pl.tapoff);
        return FC_ERR_NOMEM;
    }
    int err = 0;
#pragma omp parallel num_threads(team)
    {
        fc_fpstate fp = fc_fp_enter();
        const int tid = omp_get_thread_num(), nteam = omp_get_num_threads();
        T *mine = part + (size_t)tid * part_size;
        memset(mine, 0, (size_t)part_size * sizeof(T));
        T *w1 = fc_scratch(FC_SCRATCH_WORK, s1 * sizeof(T));
        if (!w1) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            if (!w1) continue;
            const int64_t b = u % pl.nbands, gi = (u / pl.nbands) % g->G, img = u / (pl.nbands * g->G);
            const int64_t p0 = b * pl.band, p1 = FC_MIN(pl.stacked ? g->N : g->P, p0 + pl.band);
            const T *x0 = x + (img * g->C + gi * pl.Cg) * pl.HW;   /* img = 0 when stacked */
            const T *dy0 = dy + (img * g->K + gi * pl.Kg) * pl.PQ;
            if (lay.cl)
                FCN(wgrad_cl_unit)(&pl, &lay, mine + gi * gsize, w1, x0, dy0, p0, p1);
            else
                FCN(wgrad_rows_unit)(&pl, &lay, mine + gi * gsize, w1, x0, dy0, p0, p1);
        }
#pragma omp barrier
        /* dw[gi][k][c][tap] += sum over threads of part[gi][tap][k][c], in thread order */
        if (!err) {
            const int64_t CgRS = pl.Cg * pl.RS, wsize = g->K * CgRS;
            int64_t e0, e1;
            fc_split_range(wsize, nteam, tid, &e0, &e1);
            for (int64_t e = e0; e < e1; e++) {
                const int64_t kk = e / CgRS, rem = e % CgRS, c = rem / pl.RS, tap = rem % pl.RS;
                const int64_t gi = kk / pl.Kg, k = kk % pl.Kg;
                const int64_t off = gi * gsize + (tap * lay.Kp + k) * lay.Cp + c;
                T s = 0;
                for (int t = 0; t < nteam; t++) s += part[(size_t)t * part_size + off];
                dw[e] += s;
            }
        }
        fc_fp_leave(fp);
    }
    free(pl.tapoff);
    return err;
}

#undef DIRECT_KB
#undef DIRECT_NV
#undef FC_LANE_BLOCK
#undef DIRECT_WKB
#undef DIRECT_WSB
