/* Direct convolution: the weight gradient   (template, see internal.h; the method, the
 * plan and the padded scratch: conv_direct.c) */

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
static int FCN(direct_cv_wgrad_wins)(const fc_conv_geom *g, int nt)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G;
    /* (its threads take blocks of images: with fewer images than threads, and maps large enough
     * that the tiles' own split pays, the tiles win: ResNet-50's 1x1 64 -> 256 @56 at batch 1,
     * float32, ran on one thread in 2.44 ms, where float64's tiles took 1.24) */
    if (g->N < nt && g->P * g->Q > 256) return 0;
    return 2 * Kg >= VL && FCN(cv_image_bytes)(g) <= FC_CV_MAX_UNIT_BYTES &&
           (Cg * g->R * g->S >= 32 || g->P * g->Q <= 64);
}

/* Depthwise, stride 2 in both directions, dilation 1: each channel's weight gradient over the
 * batch, a thread taking whole channels.  Per image, the input plane is split into the
 * forward's phase planes (conv_direct_forward.c) and the output gradient laid out at their row
 * pitch (zeros past each row); a tap's gradient is then one dot product of the two over all
 * P Qp positions. */
static void FCN(depthwise_backward_weight_channels)(T *dw, const T *dy, const T *x, const fc_conv_geom *g,
                                                    FCN(dw_phases) ph, int *err)
{
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, R = g->R, S = g->S, C = g->C, Qp = ph.Qp;
    fc_fpstate fp = fc_fp_enter();
    T *buf = fc_scratch(FC_SCRATCH_WORK, (size_t)(4 * ph.plane + P * Qp + R * S) * sizeof(T));
    if (!buf) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        T *dyp = buf + 4 * ph.plane, *sum = dyp + P * Qp;
        memset(buf, 0, (size_t)(4 * ph.plane + P * Qp) * sizeof(T)); /* padding, and dy's columns past Q */
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            for (int64_t t = 0; t < R * S; t++) sum[t] = 0;
            for (int64_t n = 0; n < g->N; n++) {
                const T *dyc = dy + (n * C + c) * P * Q;
                FCN(dw_split_plane)(buf, x + (n * C + c) * H * W, g, ph);
                for (int64_t p = 0; p < P; p++) memcpy(dyp + p * Qp, dyc + p * Q, (size_t)Q * sizeof(T));
                for (int64_t t = 0; t < R * S; t++) {
                    const T *src = buf + FCN(dw_tap_offset)(g, ph, t / S, t % S);
                    T acc = 0;
#pragma omp simd reduction(+ : acc)
                    for (int64_t k = 0; k < P * Qp; k++) acc += dyp[k] * src[k];
                    sum[t] += acc;
                }
            }
            for (int64_t t = 0; t < R * S; t++) dw[c * R * S + t] = sum[t];
        }
    }
    fc_fp_leave(fp);
}

static int FCN(conv_direct_backward_weight)(T *dw, const T *dy, const T *x, const fc_conv_geom *g,
                                            int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    if (g->G == g->C && g->G == g->K && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 && g->dil_w == 1) {
        int err = 0;
        FC_TEAM(g->C < nt ? (int)g->C : nt,
                FCN(depthwise_backward_weight_channels)(dw, dy, x, g, FCN(dw_phases_of)(g), &err));
        return err;
    }
    if (FCN(direct_cv_wgrad_wins)(g, nt)) return FCN(conv_cv_backward_weight)(dw, dy, x, g, nt);
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
