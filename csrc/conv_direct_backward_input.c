/* Direct convolution: the input gradient   (template, see internal.h; the method, the
 * plan and the padded scratch: conv_direct.c) */

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

/* Depthwise, stride 2 in both directions, dilation 1: the forward's phase planes
 * (conv_direct_forward.c) in reverse.  The plane's output gradient is laid out at the phase
 * planes' row pitch (zeros past each row), each tap adds w times all of it into one phase
 * plane, shifted (one contiguous multiply-add), and the four phase planes are interleaved
 * back into the input gradient (zero where no output reads the input). */
static void FCN(depthwise_backward_input_planes)(T *dx, const T *dy, const T *w, const fc_conv_geom *g,
                                                 FCN(dw_phases) ph, int *err)
{
    const int64_t H = g->H, W = g->W, P = g->P, Q = g->Q, R = g->R, S = g->S, C = g->C;
    const int64_t Pp = ph.Pp, Qp = ph.Qp;
    fc_fpstate fp = fc_fp_enter();
    T *buf = fc_scratch(FC_SCRATCH_WORK, (size_t)(4 * ph.plane + P * Qp) * sizeof(T));
    if (!buf) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        T *dyp = buf + 4 * ph.plane;
        memset(dyp, 0, (size_t)(P * Qp) * sizeof(T)); /* the columns past Q stay zero */
        const int64_t kc = FC_MIN(W / 2, Qp + ph.jlo), ke = FC_MIN((W + 1) / 2, Qp + ph.jlo);
        IV zlo, zhi; /* lanes (e0, o0, e1, o1, ...) of the first and second halves */
        for (int t = 0; t < VL; t++) {
            zlo[t] = t / 2 + (t % 2) * VL;
            zhi[t] = VL / 2 + t / 2 + (t % 2) * VL;
        }
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->N * C; plane++) {
            const int64_t c = plane % C;
            const T *wc = w + c * R * S, *dyc = dy + plane * P * Q;
            for (int64_t p = 0; p < P; p++)
                for (int64_t q = 0; q < Q; q += VL) {
                    const int64_t m = FC_MIN((int64_t)VL, Q - q);
                    FCN(store_lanes)(dyp + p * Qp + q, FCN(load_lanes)(dyc + p * Q + q, m), m);
                }
            memset(buf, 0, (size_t)(4 * ph.plane) * sizeof(T));
            for (int64_t t = 0; t < R * S; t++) {
                T *dst = buf + FCN(dw_tap_offset)(g, ph, t / S, t % S);
                const T wv = wc[t];
#pragma omp simd
                for (int64_t k = 0; k < P * Qp; k++) dst[k] += wv * dyp[k];
            }
            T *dxc = dx + plane * H * W;
            for (int64_t ih = 0; ih < H; ih++) {
                const int64_t pa = ih & 1, i = (ih >> 1) - ph.ilo;
                T *restrict xr = dxc + ih * W;
                int64_t done = 0;
                if (i < Pp) {
                    const T *restrict ev = buf + 2 * pa * ph.plane + i * Qp - ph.jlo;
                    const T *restrict od = ev + ph.plane;
                    /* interleaved by two-source shuffles, the row's end by masked loads and stores
                     * (as dw_split_plane) */
                    for (int64_t k = 0; k < kc; k += VL) {
                        const int64_t m = FC_MIN((int64_t)VL, kc - k);
                        const V e = FCN(load_lanes)(ev + k, m), o = FCN(load_lanes)(od + k, m);
                        const V lo = __builtin_shuffle(e, o, zlo), hi = __builtin_shuffle(e, o, zhi);
                        FCN(store_lanes)(xr + 2 * k, lo, FC_MIN(2 * m, (int64_t)VL));
                        if (2 * m > VL) FCN(store_lanes)(xr + 2 * k + VL, hi, 2 * m - VL);
                    }
                    done = 2 * kc;
                    if (ke > kc) xr[done++] = ev[kc];
                }
                for (int64_t iw = done; iw < W; iw++) xr[iw] = 0; /* read by no output */
            }
        }
    }
    fc_fp_leave(fp);
}

/* A depthwise layer of stride 2 (the phase planes' kernels; its input gradient stores every element) */
static inline int FCN(direct_dw_stride2)(const fc_conv_geom *g)
{
    return g->G == g->C && g->G == g->K && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 && g->dil_w == 1;
}

static int FCN(conv_direct_backward_input)(T *dx, const T *dy, const T *w, const fc_conv_geom *g,
                                           int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    if (FCN(direct_dw_stride2)(g)) {
        const int64_t planes = g->N * g->C;
        int err = 0;
        FC_TEAM(planes < nt ? (int)planes : nt,
                FCN(depthwise_backward_input_planes)(dx, dy, w, g, FCN(dw_phases_of)(g), &err));
        return err;
    }
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
