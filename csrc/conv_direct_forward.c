/* Direct convolution: the forward   (template, see internal.h; the method, the
 * plan and the padded scratch: conv_direct.c) */

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
#if DIRECT_KB > 4
FC_FWD_VARIANT(direct_fwd_tile_4, 4, 4)
FC_FWD_VARIANT(direct_fwd_tile_41, 4, 1)
#endif
FC_FWD_VARIANT(direct_fwd_tile_2, 2, 4)
FC_FWD_VARIANT(direct_fwd_tile_21, 2, 1)
#undef FC_FWD_VARIANT

/* The width of the channel block starting where `rem` channels are left: DIRECT_KB, then the
 * rest in blocks of 4, 2 and 1 (one channel a tile loads 4 vectors for 4 FMAs a step, load-bound:
 * LeNet's 6-channel input gradient ran on six of them at half the FMA rate) */
static inline int64_t FCN(direct_bw)(int64_t rem)
{
    return rem >= DIRECT_KB ? DIRECT_KB : rem >= 4 ? 4 : rem >= 2 ? 2 : 1;
}

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
#if DIRECT_KB > 4
        else if (bw == 4 && step == 4 * VL)
            FCN(direct_fwd_tile_4)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
        else if (bw == 4)
            FCN(direct_fwd_tile_41)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
#endif
        else if (bw == 2 && step == 4 * VL)
            FCN(direct_fwd_tile_2)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
        else if (bw == 2)
            FCN(direct_fwd_tile_21)(xf, cs, pl->tapoff, wb, pl->Cg, pl->RS, o, j, q, bb, accumulate);
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
 * output channels, then of 4, 2 and 1 (direct_bw): the block starting at channel k0
 * with width bw holds (kappa, kk) at k0 * CgRS + kappa * bw + kk.  Strides
 * let the input gradient run this forward on flipped, transposed weights. */
static void FCN(direct_pack_weights)(T *wp, const T *wb, fc_wview v, const FCN(direct_plan) *pl)
{
    const fc_conv_geom *g = pl->g;
    const int64_t CgRS = pl->Cg * pl->RS;
    for (int64_t gi = 0; gi < g->G; gi++) {
        T *dg = wp + gi * pl->Kg * CgRS;
        for (int64_t k0 = 0; k0 < pl->Kg;) {
            const int64_t bw = FCN(direct_bw)(pl->Kg - k0);
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
/* The units of a forward run (orphaned omp for: the caller's team, or one thread). */
static void FCN(direct_forward_units)(T *y, const T *x, const T *wp, const T *bias, const FCN(direct_plan) *pl,
                                      int accumulate, int64_t units, int64_t max_rows, int *err)
{
    const fc_conv_geom *g = pl->g;
    const int64_t CgRS = pl->Cg * pl->RS;
    fc_fpstate fp = fc_fp_enter();
    T *xs = fc_scratch(FC_SCRATCH_WORK, ((size_t)pl->Cg * max_rows * pl->pitch + pl->slack) * sizeof(T));
    if (!xs) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
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
                    const int64_t bw = FCN(direct_bw)(pl->Kg - k0);
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

static int FCN(direct_forward_run)(T *y, const T *x, const T *wp, const T *bias,
                                   const FCN(direct_plan) *pl, int accumulate, int nt)
{
    const fc_conv_geom *g = pl->g;
    const int64_t units = (pl->stacked ? 1 : g->N) * g->G * pl->nbands;
    const int64_t max_rows = pl->stacked ? pl->band
                                         : (pl->band - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    int err = 0;
    FC_TEAM(units < nt ? (int)units : nt,
            FCN(direct_forward_units)(y, x, wp, bias, pl, accumulate, units, max_rows, &err));
    return err;
}

/* ---- depthwise (groups == C == K) ------------------------------------------
 * Each output plane from its own input plane: a 3x3 depthwise layer does
 * 9 multiply-adds per output, too few for the channel-blocked tiles above
 * (their per-unit set-up dominated: MobileNetV2's 3x3/2 layer ran 12x
 * slower than oneDNN; here 3.3x faster than they were).  A thread takes whole planes and reads the input in
 * place: for each output row and tap (r, s), the output columns whose input
 * column q sw - pw + s dw lies inside the row take one broadcast weight
 * times a run of the input row (contiguous at stride 1, every other element
 * at stride 2: a loop the compiler vectorises with permutes); the padding
 * is the columns and rows left out. */

static inline __attribute__((always_inline)) void FCN(depthwise_row)(T *restrict yr, const T *restrict xr, T wv,
                                                                     int64_t q0, int64_t q1, int64_t off,
                                                                     int64_t sw)
{
    if (sw == 1) {
#pragma omp simd
        for (int64_t q = q0; q < q1; q++) yr[q] += wv * xr[q + off];
    } else if (sw == 2) {
#pragma omp simd
        for (int64_t q = q0; q < q1; q++) yr[q] += wv * xr[2 * q + off];
    } else {
        for (int64_t q = q0; q < q1; q++) yr[q] += wv * xr[q * sw + off];
    }
}

static void FCN(depthwise_planes)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g)
{
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, R = g->R, S = g->S, C = g->C;
    const int64_t sh = g->stride_h, sw = g->stride_w, ph = g->pad_h, pw = g->pad_w, dh = g->dil_h, dw = g->dil_w;
    fc_fpstate fp = fc_fp_enter();
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < g->N * C; plane++) {
        const int64_t c = plane % C;
        const T *xc = x + plane * H * W, *wc = w + c * R * S;
        T *yc = y + plane * P * Q;
        const T b = bias ? bias[c] : (T)0;
        for (int64_t p = 0; p < P; p++) {
            T *yr = yc + p * Q;
            for (int64_t q = 0; q < Q; q++) yr[q] = b;
            for (int64_t r = 0; r < R; r++) {
                const int64_t ih = p * sh - ph + r * dh;
                if (ih < 0 || ih >= H) continue; /* a padding row: zeros */
                for (int64_t s = 0; s < S; s++) {
                    /* output q reads column q sw + off: inside the row for q0 <= q < q1 */
                    const int64_t off = s * dw - pw;
                    const int64_t q0 = off >= 0 ? 0 : FC_CEIL_DIV(-off, sw);
                    const int64_t q1 = W - off <= 0 ? 0 : FC_MIN(Q, FC_CEIL_DIV(W - off, sw));
                    if (q0 < q1) FCN(depthwise_row)(yr, xc + ih * W, wc[r * S + s], q0, q1, off, sw);
                }
            }
        }
    }
    fc_fp_leave(fp);
}

/* Stride 2 in both directions, dilation 1: the plane is first split into its four phase planes
 * (even / odd rows by even / odd columns, zero where the window leaves the image), each laid out
 * with one row pitch Qp; then tap (r, s) reads one phase plane shifted by (fa, fb), and since
 * the output runs at the same pitch, every tap is a single contiguous multiply-add over all P Qp
 * outputs (the Qp - Q columns past each row are discarded).  The per-row loops above spend more
 * on their set-up than on the 14-wide rows of a 28x28 -> 14x14 layer (MobileNetV2's 3x3/2 ran 3x
 * slower than oneDNN at batch 8). */
typedef struct FCN(dw_phases) {
    int64_t ilo, jlo, Pp, Qp, plane; /* phase planes: rows ilo .. ilo + Pp - 1, cols jlo .. */
} FCN(dw_phases);

static FCN(dw_phases) FCN(dw_phases_of)(const fc_conv_geom *g)
{
    FCN(dw_phases) ph;
    ph.ilo = FC_FLOOR_DIV(-g->pad_h, 2);
    ph.jlo = FC_FLOOR_DIV(-g->pad_w, 2);
    ph.Pp = g->P - 1 + FC_FLOOR_DIV(g->R - 1 - g->pad_h, 2) - ph.ilo + 1;
    ph.Qp = g->Q - 1 + FC_FLOOR_DIV(g->S - 1 - g->pad_w, 2) - ph.jlo + 1;
    ph.plane = ph.Pp * ph.Qp + ph.Qp; /* + a row of slack: the last row's shifted reads run past it */
    return ph;
}

/* The input plane xc split into the phase planes at buf (whose padding positions the caller
 * zeroed once: they are the same for every plane).  Input row ih is phase row (ih >> 1) - ilo
 * of the phases (ih & 1, *); its columns 2 k and 2 k + 1 are phase columns k - jlo (jlo <= 0),
 * those within the Qp kept. */
static void FCN(dw_split_plane)(T *buf, const T *xc, const fc_conv_geom *g, FCN(dw_phases) ph)
{
    const int64_t W = g->W, Qp = ph.Qp;
    const int64_t ne = FC_MIN((W + 1) / 2, Qp + ph.jlo), no = FC_MIN(W / 2, Qp + ph.jlo);
    /* pairs of vectors split by two-source shuffles, a row's last pairs by masked loads and stores
     * (the compiler's loop, with its checks and its scalar tail, ran 28-wide rows at 2.4x the
     * kernel's own time: MobileNetV2's 3x3/2 192 @28) */
    IV me, mo;
    for (int t = 0; t < VL; t++) {
        me[t] = 2 * t;
        mo[t] = 2 * t + 1;
    }
    for (int64_t ih = 0; ih < g->H; ih++) {
        const int64_t pa = ih & 1, i = (ih >> 1) - ph.ilo;
        if (i >= ph.Pp) break;
        const T *restrict xr = xc + ih * W;
        T *restrict ev = buf + 2 * pa * ph.plane + i * Qp - ph.jlo;
        T *restrict od = ev + ph.plane;
        int64_t k = 0;
        for (; k + VL <= no; k += VL) {
            const V a = FCN(loadu)(xr + 2 * k), b = FCN(loadu)(xr + 2 * k + VL);
            FCN(storeu)(ev + k, __builtin_shuffle(a, b, me));
            FCN(storeu)(od + k, __builtin_shuffle(a, b, mo));
        }
        if (k < no) {
            const int64_t n2 = 2 * (no - k);
            const V a = FCN(load_lanes)(xr + 2 * k, FC_MIN(n2, (int64_t)VL));
            const V b = n2 > VL ? FCN(load_lanes)(xr + 2 * k + VL, n2 - VL) : (V){0};
            FCN(store_lanes)(ev + k, __builtin_shuffle(a, b, me), no - k);
            FCN(store_lanes)(od + k, __builtin_shuffle(a, b, mo), no - k);
        }
        if (ne > no) ev[no] = xr[2 * no];
    }
}

/* Stride 1 (a depthwise layer's one padded plane, pitch Qp): the same structure with one phase,
 * rows ilo .. of the padded input; tap (r, s) of output (p, q) at (p + r) Qp + q + s */
static FCN(dw_phases) FCN(dw_padded_of)(const fc_conv_geom *g)
{
    FCN(dw_phases) ph;
    ph.ilo = -g->pad_h;
    ph.jlo = -g->pad_w;
    ph.Pp = g->P + g->R - 1;
    ph.Qp = g->Q + g->S - 1;
    ph.plane = ph.Pp * ph.Qp + ph.Qp;
    return ph;
}

static void FCN(dw_copy_plane)(T *buf, const T *xc, const fc_conv_geom *g, FCN(dw_phases) ph)
{
    const int64_t W = g->W, Qp = ph.Qp, nw = FC_MIN(W, Qp + ph.jlo);
    for (int64_t ih = 0; ih < g->H && ih - ph.ilo < ph.Pp; ih++) {
        const T *xr = xc + ih * W;
        T *d = buf + (ih - ph.ilo) * Qp - ph.jlo;
        for (int64_t k = 0; k < nw; k += VL) {
            const int64_t m = FC_MIN((int64_t)VL, nw - k);
            FCN(store_lanes)(d + k, FCN(load_lanes)(xr + k, m), m);
        }
    }
}

/* Where tap (r, s) reads (or, for the input gradient, writes) in the phase planes at buf: output
 * (p, q) at offset p Qp + q from there. */
static inline int64_t FCN(dw_tap_offset)(const fc_conv_geom *g, FCN(dw_phases) ph, int64_t r, int64_t s)
{
    const int64_t a = r - g->pad_h, fa = FC_FLOOR_DIV(a, 2), pa = a - 2 * fa;
    const int64_t b = s - g->pad_w, fb = FC_FLOOR_DIV(b, 2), pb = b - 2 * fb;
    return (2 * pa + pb) * ph.plane + (fa - ph.ilo) * ph.Qp + (fb - ph.jlo);
}

#ifndef FC_DW_NV
#define FC_DW_NV 4 /* vectors of outputs a block */
#define FC_DW_BLK (FC_DW_NV * VL)
#endif
/* The depthwise forward over phase planes: ph from dw_phases_of (stride 2, four planes) or
 * dw_padded_of (stride 1, one padded plane) */
static void FCN(depthwise_phase_planes)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g,
                                        FCN(dw_phases) ph, int *err)
{
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, R = g->R, S = g->S, C = g->C, Qp = ph.Qp;
    fc_fpstate fp = fc_fp_enter();
    /* (blocks of FC_DW_BLK outputs: acc and the phase planes' reads run up to a block past the
     * last output, into slack) */
    const int64_t n = P * Qp, nb = FC_ROUND_UP(n, FC_DW_BLK), nph = g->stride_h == 1 ? 1 : 4;
    T *buf = fc_scratch(FC_SCRATCH_WORK, (size_t)(nph * ph.plane + nb + FC_DW_BLK) * sizeof(T));
    int64_t *off = malloc((size_t)(R * S) * sizeof(int64_t));
    if (!buf || !off) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        T *acc = buf + nph * ph.plane;
        for (int64_t r = 0; r < R; r++)
            for (int64_t t = 0; t < S; t++)
                off[r * S + t] = nph == 1 ? r * Qp + t : FCN(dw_tap_offset)(g, ph, r, t);
        /* the padding (and slack) positions are the same for every plane: zero once, then each
         * plane writes only the positions its input fills */
        memset(buf, 0, (size_t)(nph * ph.plane) * sizeof(T));
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->N * C; plane++) {
            const int64_t c = plane % C;
            const T *wc = w + c * R * S;
            if (nph == 1)
                FCN(dw_copy_plane)(buf, x + plane * H * W, g, ph);
            else
                FCN(dw_split_plane)(buf, x + plane * H * W, g, ph);
            /* blocks of outputs held in registers over every tap (a pass over all outputs per tap
             * loaded and stored the accumulators at each: 9 passes for a 3x3 kernel) */
            const V b = FCN(splat)(bias ? bias[c] : (T)0);
            for (int64_t k0 = 0; k0 < n; k0 += FC_DW_BLK) {
                V a[FC_DW_NV];
#pragma GCC unroll 4
                for (int v = 0; v < FC_DW_NV; v++) a[v] = b;
                for (int64_t t = 0; t < R * S; t++) {
                    const V wv = FCN(splat)(wc[t]);
                    const T *src = buf + off[t] + k0;
#pragma GCC unroll 4
                    for (int v = 0; v < FC_DW_NV; v++) a[v] += wv * FCN(loadu)(src + v * VL);
                }
#pragma GCC unroll 4
                for (int v = 0; v < FC_DW_NV; v++) FCN(storeu)(acc + k0 + v * VL, a[v]);
            }
            T *yc = y + plane * P * Q;
            for (int64_t p = 0; p < P; p++) /* (vectors: libc's memcpy per 14-wide row was 8 %) */
                for (int64_t q = 0; q < Q; q += VL) {
                    const int64_t m = FC_MIN((int64_t)VL, Q - q);
                    FCN(store_lanes)(yc + p * Q + q, FCN(load_lanes)(acc + p * Qp + q, m), m);
                }
        }
    }
    free(off);
    fc_fp_leave(fp);
}

/* Stride 1, dilation 1, padding within the kernel's reach: one padded plane with the outputs held in
 * registers over every tap (MobileNetV2's 3x3 144 @56 at batch 1: the tiles' row runs took 0.25 ms,
 * oneDNN 0.20) */
static int FCN(dw_padded_plane_fits)(const fc_conv_geom *g)
{
    return g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 && g->dil_w == 1 && g->pad_h < g->R &&
           g->pad_w < g->S;
}

static int FCN(depthwise_forward)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g, int nt)
{
    const int64_t planes = g->N * g->C;
    const int team = planes < nt ? (int)planes : nt;
    const int stride2 = g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 && g->dil_w == 1;
    if (stride2 || FCN(dw_padded_plane_fits)(g)) {
        const FCN(dw_phases) ph = stride2 ? FCN(dw_phases_of)(g) : FCN(dw_padded_of)(g);
        int err = 0;
        FC_TEAM(team, FCN(depthwise_phase_planes)(y, x, w, bias, g, ph, &err));
        return err;
    }
    FC_TEAM(team, FCN(depthwise_planes)(y, x, w, bias, g));
    return FC_OK;
}

static int FCN(conv_direct_forward)(T *y, const T *x, const T *w, const T *bias,
                                    const fc_conv_geom *g, int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    /* depthwise layers: strided ones on phase planes, stride-1 ones on a padded plane (both with
     * the outputs in registers over the taps: MobileNetV2's 3x3 144 @56 at batch 1 0.14 ms, the
     * tiles' row runs 0.24, the old per-plane row loops 0.38) */
    if (g->G == g->C && g->G == g->K && (g->stride_h > 1 || g->stride_w > 1 || FCN(dw_padded_plane_fits)(g)))
        return FCN(depthwise_forward)(y, x, w, bias, g, nt);
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
