/* Winograd forwards over few tiles, the output channels as the lanes   (template, see internal.h)
 *
 * The Winograd runs of conv_winograd.c (F(4x4, 3x3), 36 positions a tile) and conv_winograd_s2.c
 * (3x3 stride 2 by input phase: 81 positions a 4x4 tile, 25 a 2x2 one) put tiles in the vector
 * lanes and transform the weights once per call, in double, into U (the positions x the weights)
 * in memory.  With few tiles (ResNet-18's 512 @7 at batch 1 has 4) most lanes stay empty, and
 * each transformed weight, written to memory and read back, feeds a few products: the weight
 * transform and U's traffic were 80 % of that layer's time (2.8 ms against im2col's 1.2).
 *
 * Here the lanes are VL output channels.  A thread takes a block of them; for a chunk of input
 * channels it transposes their filters (gemm.c's 8x8 register transposes), transforms them in
 * the registers into U' and keeps U' in its cache, never memory, then multiplies each vector of
 * U' by the tiles' values of V (broadcast), summing over the input channels in registers, a pass
 * of XG positions x TT tiles at a time (tiles in groups of at most WGK_TMAX, each chunk of U'
 * serving every group).  U' = G' g G'^T in float, G's rows scaled to small integers (exact but
 * for a few roundings), G'_i = s_i G_i; the scales go into V, V'_ab = V_ab / (s_a s_b), computed
 * once per call by the team as [group][input channel][position][tile].  The outputs from M'
 * (= M) as the runs' own A^T M A, a tile at a time, each lane an output channel.  Every output
 * channel is one thread's: the same bits whatever the threads.  And a stride-1 layer's input
 * gradient: the same with the filters rotated by 180 degrees and their channel axes swapped (each
 * lane's filter now 9 elements further, a reduction channel's 9 K further).
 */

#ifndef FC_WINOGRAD_K_COMMON
#define FC_WINOGRAD_K_COMMON
#define WGK_TILES 128 /* tiles at most (wgk_takes) */

/* 1 / s for the positions of one axis (wgk_g) */
static inline double fc_wgk_unscale(int m2, int i)
{
    static const double s1[6] = {1, 1.0 / 3, 1.0 / 3, -4.0 / 15, 1.0 / 15, 1};
    static const double s4[9] = {1, 1, 0.5, 1, 1.0 / 6, 1, 4.0 / 3, 1, 0.5};
    return !m2 ? s1[i] : m2 == 4 ? s4[i] : 1;
}
#endif

#define WGK_ACC (FC_VBYTES == 64 ? 24 : 12)  /* accumulators: of 32 registers, of 16 */
#define WGK_TMAX (FC_VBYTES == 64 ? 16 : 12) /* tiles a group at most */
#define WGK_XIMAX WG2_XIMAX                  /* positions at most (81) */
/* positions a pass for TT tiles and NX positions: a divisor of NX, as many as the accumulators hold */
#define WGK_DIV(NX, TT, d) ((NX) % (d) == 0 && (TT) * (d) <= WGK_ACC)
#define WGK_XG(NX, TT)                                                                                        \
    (WGK_DIV(NX, TT, 18)   ? 18                                                                               \
     : WGK_DIV(NX, TT, 12) ? 12                                                                               \
     : WGK_DIV(NX, TT, 9)  ? 9                                                                                \
     : WGK_DIV(NX, TT, 6)  ? 6                                                                                \
     : WGK_DIV(NX, TT, 5)  ? 5                                                                                \
     : WGK_DIV(NX, TT, 4)  ? 4                                                                                \
     : WGK_DIV(NX, TT, 3)  ? 3                                                                                \
     : WGK_DIV(NX, TT, 2)  ? 2                                                                                \
                           : 1)

/* The run's kind: m2 = 0 F(4x4, 3x3) (stride 1), m2 = 4 or 2 the stride-2 tiles of m2 x m2 outputs */
static inline int FCN(wgk_n1)(int m2) { return m2 ? 2 * m2 + 1 : 6; } /* positions per axis */

/* G' applied to a b c (one row or column of a filter, vectors), the n1 results s apart.  Stride 1:
 * the rows of G for the points 0, 1, -1, 1/2, -2, infinity times 1, 3, 3, -15/4, 15, 1.  Stride 2:
 * F(m, 2) of (a, c) at the even positions (the points 0, 1, -1, 1/2, infinity times 1, 2, 6, 3/4, 2;
 * or 0, 1, infinity), b at the odd ones, b at the odd ones. */
static inline __attribute__((always_inline)) void FCN(wgk_g)(const int m2, V a, V b, V c, V *o, int s)
{
    const V two = FCN(splat)(2), four = FCN(splat)(4);
    if (!m2) {
        const V p = a + c;
        o[0] = a;
        o[s] = p + b;
        o[2 * s] = b - p;
        o[3 * s] = four * a + (two * b + c);
        o[4 * s] = four * c + (a - two * b);
        o[5 * s] = c;
        return;
    }
    o[0] = a;
    o[2 * s] = a + c;
    if (m2 == 4) {
        o[4 * s] = a - c;
        o[6 * s] = two * a + c;
        o[8 * s] = c;
    } else {
        o[4 * s] = c;
    }
    for (int i = 0; i < m2; i++) o[(2 * i + 1) * s] = b;
}

/* Wt[e][VL] = row[l][e0 + e] for e < ne, lane l: the block's filters, input channels [c0, c0 + cc)
 * (e0 = 9 c0), rows CR elements long; 8 lanes x 8 elements at a time where all lie in the rows.
 * The input gradient's (step > 0): Wt[9 j + tap][VL] = row[l][(c0 + j) step + tap], j < ne / 9, its
 * filters' 9 taps a step apart (taps 0-7, then 1-8: 1-7 again, the same values). */
static void FCN(wgk_transpose)(T *restrict Wt, const T *const *row, int64_t e0, int64_t ne, int64_t CR,
                               int64_t step)
{
    int64_t e = 0;
    if (step) {
        for (int64_t j = 0; j < ne / 9; j++) {
            const int64_t at = (e0 / 9 + j) * step;
            if (VL % 8 == 0)
                for (int h = 0; h < VL; h += 8)
                    for (int o = 0; o < 2; o++) {
                        const T *r8[8];
                        for (int i = 0; i < 8; i++) r8[i] = row[h + i] + at + o;
                        FCN(transpose8_rows)(Wt + (9 * j + o) * VL + h, VL, r8, 8);
                    }
            else
                for (int t = 0; t < 9; t++)
                    for (int l = 0; l < VL; l++) Wt[(9 * j + t) * VL + l] = row[l][at + t];
        }
        return;
    }
    for (; VL % 8 == 0 && (e + 8 <= ne || (e < ne && e0 + e + 8 <= CR)); e += 8)
        for (int h = 0; h < VL; h += 8) {
            const T *r8[8];
            for (int i = 0; i < 8; i++) r8[i] = row[h + i] + e0 + e;
            FCN(transpose8_rows)(Wt + e * VL + h, VL, r8, (int)FC_MIN(8, ne - e));
        }
    for (; e < ne; e++)
        for (int l = 0; l < VL; l++) Wt[e * VL + l] = row[l][e0 + e];
}

/* Ub[c][xi][VL] = U' of the cc input channels' filters in Wt */
static inline __attribute__((always_inline)) void FCN(wgk_weights)(const int m2, const int flip, T *restrict Ub,
                                                                   const T *Wt, int64_t cc)
{
    const int n1 = FCN(wgk_n1)(m2), nx = n1 * n1;
    for (int64_t c = 0; c < cc; c++) {
        const V *g = (const V *)(Wt + 9 * c * VL);
        V t[3 * WG2_NMAX];
        for (int s = 0; s < 3; s++) /* G' g: n1 x 3 (the filter rotated by 180 degrees where flip) */
            if (flip)
                FCN(wgk_g)(m2, g[8 - s], g[5 - s], g[2 - s], t + s, 3);
            else
                FCN(wgk_g)(m2, g[s], g[3 + s], g[6 + s], t + s, 3);
        V *u = (V *)(Ub + c * nx * VL);
        for (int i = 0; i < n1; i++) FCN(wgk_g)(m2, t[3 * i], t[3 * i + 1], t[3 * i + 2], u + n1 * i, 1);
    }
}

/* Mk[xi][t] (+)= sum over cc input channels of U'[c][xi] V'[c][xi][t], TT tiles, NX positions, XG a
 * pass */
static inline __attribute__((always_inline)) void FCN(wgk_prod)(const int NX, const int TT, const int XG,
                                                                int64_t cc, const T *restrict Ub,
                                                                const T *restrict Vc, T *restrict Mk, int first)
{
    for (int x0 = 0; x0 < NX; x0 += XG) {
        V acc[WGK_ACC >= 16 ? WGK_ACC : 16]; /* (AVX2 never runs the 13-16 tiles' kernels, but builds them) */
#pragma GCC unroll 24
        for (int a = 0; a < XG * TT; a++) acc[a] = first ? (V){0} : *(const V *)(Mk + (x0 * TT + a) * VL);
        for (int64_t c = 0; c < cc; c++) {
            const T *u = Ub + (c * NX + x0) * VL, *v = Vc + (c * NX + x0) * TT;
#pragma GCC unroll 18
            for (int x = 0; x < XG; x++) {
                const V uv = *(const V *)(u + x * VL);
#pragma GCC unroll 16
                for (int t = 0; t < TT; t++) acc[x * TT + t] += uv * FCN(splat)(v[x * TT + t]);
            }
        }
#pragma GCC unroll 24
        for (int a = 0; a < XG * TT; a++) *(V *)(Mk + (x0 * TT + a) * VL) = acc[a];
    }
}

typedef void (*FCN(wgk_prod_fn))(int64_t, const T *, const T *, T *, int);
#define WGK_PROD(NX, TT)                                                                                      \
    static void FCN(wgk_prod_##NX##_##TT)(int64_t cc, const T *Ub, const T *Vc, T *Mk, int first)             \
    {                                                                                                         \
        FCN(wgk_prod)(NX, TT, WGK_XG(NX, TT), cc, Ub, Vc, Mk, first);                                         \
    }
#define WGK_PRODS(NX)                                                                                         \
    WGK_PROD(NX, 1)                                                                                           \
    WGK_PROD(NX, 2)                                                                                           \
    WGK_PROD(NX, 3)                                                                                           \
    WGK_PROD(NX, 4)                                                                                           \
    WGK_PROD(NX, 5)                                                                                           \
    WGK_PROD(NX, 6)                                                                                           \
    WGK_PROD(NX, 7)                                                                                           \
    WGK_PROD(NX, 8)                                                                                           \
    WGK_PROD(NX, 9)                                                                                           \
    WGK_PROD(NX, 10)                                                                                          \
    WGK_PROD(NX, 11)                                                                                          \
    WGK_PROD(NX, 12)                                                                                          \
    WGK_PROD(NX, 13)                                                                                          \
    WGK_PROD(NX, 14)                                                                                          \
    WGK_PROD(NX, 15)                                                                                          \
    WGK_PROD(NX, 16)                                                                                          \
    static const FCN(wgk_prod_fn) FCN(wgk_prods_##NX)[16] = {                                                 \
        FCN(wgk_prod_##NX##_1),  FCN(wgk_prod_##NX##_2),  FCN(wgk_prod_##NX##_3),  FCN(wgk_prod_##NX##_4),    \
        FCN(wgk_prod_##NX##_5),  FCN(wgk_prod_##NX##_6),  FCN(wgk_prod_##NX##_7),  FCN(wgk_prod_##NX##_8),    \
        FCN(wgk_prod_##NX##_9),  FCN(wgk_prod_##NX##_10), FCN(wgk_prod_##NX##_11), FCN(wgk_prod_##NX##_12),   \
        FCN(wgk_prod_##NX##_13), FCN(wgk_prod_##NX##_14), FCN(wgk_prod_##NX##_15), FCN(wgk_prod_##NX##_16),   \
    };
WGK_PRODS(36)
WGK_PRODS(81)
WGK_PRODS(25)
#undef WGK_PRODS
#undef WGK_PROD

/* The tiles in groups of at most WGK_TMAX, sizes as even as can be: group g's first tile g0[g]
 * (g0[ng] = tiles); returns ng */
static int FCN(wgk_groups)(int64_t tiles, int64_t *g0)
{
    const int ng = (int)FC_CEIL_DIV(tiles, WGK_TMAX);
    for (int g = 0; g <= ng; g++) g0[g] = tiles * g / ng;
    return ng;
}

/* The padded input's shape: PH x PW (each tile's inputs within it) */
static inline void FCN(wgk_padded)(const fc_wg_geo *q, int m2, int64_t *PH, int64_t *PW)
{
    *PH = m2 ? 2 * m2 * q->TH + 1 : 4 * q->TH + 2;
    *PW = m2 ? 2 * m2 * q->TW + 1 : 4 * q->TW + 2;
}

/* V' of input channel ci for a group's tg tiles (offsets off in the padded input xp):
 * vg[xi][t] = V_xi / (s_a s_b) (f), through the runs' own tile gathers and B^T d B */
static void FCN(wgk_inputs)(int m2, T *restrict vg, const T *base, const int64_t *off, int64_t tg, int64_t PW,
                            const double *f)
{
    T d[WGK_XIMAX * VL] __attribute__((aligned(64)));
    const int nx = FCN(wgk_n1)(m2) * FCN(wgk_n1)(m2);
    for (int64_t t0 = 0; t0 < tg; t0 += VL) {
        const int lanes = (int)FC_MIN(VL, tg - t0);
        const T *v = m2 == 4   ? (const T *)FCN(wg2_tile_inputs4)(d, base, off + t0, lanes, PW)
                     : m2 == 2 ? (const T *)FCN(wg2_tile_inputs2)(d, base, off + t0, lanes, PW)
                               : (const T *)FCN(wg_tile_inputs)(d, base, off + t0, lanes, PW);
        for (int xi = 0; xi < nx; xi++)
            for (int l = 0; l < lanes; l++) vg[xi * tg + t0 + l] = (T)((double)v[xi * VL + l] * f[xi]);
    }
}

/* A tile's outputs from its n1 x n1 sums m (lanes: VL output channels from k0, kn of them real),
 * plus bias bv, into y */
static inline __attribute__((always_inline)) void FCN(wgk_output)(const int m2, T *y, const V *m, V bv,
                                                                  const fc_wg_geo *q, const FCN(wg_tile) *lt,
                                                                  int64_t k0, int64_t kn)
{
    const int n1 = FCN(wgk_n1)(m2), mo = m2 ? m2 : 4; /* outputs per tile and axis */
    V s[4 * WG2_NMAX], r[16];
    if (m2) {
        for (int j = 0; j < n1; j++) FCN(wg2_at)(m2, m + j, n1, s + j, n1); /* A^T M: mo x n1 */
        for (int i = 0; i < mo; i++) FCN(wg2_at)(m2, s + i * n1, 1, r + i * mo, 1);
    } else {
        for (int j = 0; j < 6; j++) FCN(wg_at)(m + j, 6, s + j, 6);
        for (int i = 0; i < 4; i++) FCN(wg_at)(s + i * 6, 1, r + i * 4, 1);
    }
    T o[16 * VL] __attribute__((aligned(64)));
    for (int e = 0; e < mo * mo; e++) *(V *)(o + e * VL) = r[e] + bv;
    const int64_t OH = q->OH, OW = q->OW, p0 = lt->p0, q0 = lt->c0;
    const int64_t nr = FC_MIN(mo, OH - p0), nc = FC_MIN(mo, OW - q0);
    for (int64_t l = 0; l < kn; l++) {
        T *dst = y + ((lt->n * q->KO + k0 + l) * OH + p0) * OW + q0;
        for (int64_t i = 0; i < nr; i++)
            for (int64_t j = 0; j < nc; j++) dst[i * OW + j] = o[(i * mo + j) * VL + l];
    }
}

/* The team: x padded (xp), V' of every tile and input channel (Vk), then blocks of VL output
 * channels shared out, a chunk of cmax input channels of U' at a time (in L2) */
static inline __attribute__((always_inline)) void FCN(wgk_units)(const int m2, const int flip, T *y, const T *x,
                                                                 const T *w, const T *bias, const fc_wg_geo *q,
                                                                 T *xp, T *Vk, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int n1 = FCN(wgk_n1)(m2), nx = n1 * n1;
    const int64_t CI = q->CI, KO = q->KO, TT = q->tiles, CR = 9 * CI, cmax = nx > 36 ? 32 : 64;
    int64_t PH, PW;
    FCN(wgk_padded)(q, m2, &PH, &PW);
    FCN(wg_tile) tl[WGK_TILES];
    int64_t off[WGK_TILES], g0[WGK_TILES / WGK_TMAX + 2];
    const int ng = FCN(wgk_groups)(TT, g0);
    FCN(wg_tiles)(tl, q, m2 ? m2 : 4, 0, TT);
    for (int64_t t = 0; t < TT; t++)
        off[t] = tl[t].n * CI * PH * PW + (m2 ? 2 : 1) * (tl[t].p0 * PW + tl[t].c0);
    FCN(wg_pad)(xp, x, q, PH, PW);
    double f[WGK_XIMAX];
    for (int xi = 0; xi < nx; xi++) f[xi] = fc_wgk_unscale(m2, xi / n1) * fc_wgk_unscale(m2, xi % n1);
#pragma omp for schedule(static)
    for (int64_t ci = 0; ci < CI; ci++)
        for (int g = 0; g < ng; g++) {
            const int64_t tg = g0[g + 1] - g0[g];
            FCN(wgk_inputs)(m2, Vk + CI * nx * g0[g] + ci * nx * tg, xp + ci * PH * PW, off + g0[g], tg, PW, f);
        }
    T *Wt = fc_scratch(FC_SCRATCH_WORK, (size_t)(cmax * 9 + cmax * nx) * VL * sizeof(T));
    T *Mk = fc_scratch(FC_SCRATCH_WORK2, (size_t)(nx * TT) * VL * sizeof(T));
    if (!Wt || !Mk) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    }
    T *Ub = Wt ? Wt + cmax * 9 * VL : NULL;
    const FCN(wgk_prod_fn) *prods = nx == 36 ? FCN(wgk_prods_36) : nx == 81 ? FCN(wgk_prods_81) : FCN(wgk_prods_25);
    const int64_t nkb = FC_CEIL_DIV(KO, VL);
#pragma omp for schedule(dynamic, 1)
    for (int64_t kb = 0; kb < nkb; kb++) {
        if (!Wt || !Mk) continue;
        const int64_t k0 = kb * VL, kn = FC_MIN(VL, KO - k0);
        /* (lanes past KO repeat the last output channel: computed, not stored; the input gradient's
         * output channel k is w's input channel, its filters 9 KO apart) */
        const T *row[VL];
        for (int l = 0; l < VL; l++) row[l] = w + (k0 + FC_MIN(l, kn - 1)) * (flip ? 9 : CR);
        for (int64_t c0 = 0; c0 < CI; c0 += cmax) {
            const int64_t cc = FC_MIN(cmax, CI - c0);
            FCN(wgk_transpose)(Wt, row, 9 * c0, 9 * cc, CR, flip ? 9 * KO : 0);
            FCN(wgk_weights)(m2, flip, Ub, Wt, cc);
            for (int g = 0; g < ng; g++) {
                const int64_t tg = g0[g + 1] - g0[g];
                prods[tg - 1](cc, Ub, Vk + CI * nx * g0[g] + c0 * nx * tg, Mk + nx * g0[g] * VL, c0 == 0);
            }
        }
        const V bv = bias ? FCN(load_lanes)(bias + k0, kn) : (V){0};
        for (int g = 0; g < ng; g++) {
            const int64_t tg = g0[g + 1] - g0[g];
            const T *mg = Mk + nx * g0[g] * VL;
            for (int64_t t = 0; t < tg; t++) {
                V m[WGK_XIMAX];
                for (int xi = 0; xi < nx; xi++) m[xi] = *(const V *)(mg + (xi * tg + t) * VL);
                FCN(wgk_output)(m2, y, m, bv, q, tl + g0[g] + t, k0, kn);
            }
        }
    }
    fc_fp_leave(fp);
}

/* (each kind a function of its own: the loops over positions unrolled) */
#define WGK_UNITS(name, m2, flip)                                                                             \
    static void FCN(name)(T *y, const T *x, const T *w, const T *bias, const fc_wg_geo *q, T *xp, T *Vk,      \
                          int *err)                                                                           \
    {                                                                                                         \
        FCN(wgk_units)(m2, flip, y, x, w, bias, q, xp, Vk, err);                                              \
    }
WGK_UNITS(wgk_units0, 0, 0)
WGK_UNITS(wgk_units0f, 0, 1)
WGK_UNITS(wgk_units4, 4, 0)
WGK_UNITS(wgk_units2, 2, 0)
#undef WGK_UNITS

/* The forward's tile grid (stride 1: 4x4 tiles; stride 2: fc_wg2_size's m2 x m2) in q, and whether
 * it runs here: against the tiles' runs (two threads), at stride 1 1.1-1.2x faster over 32 to 64
 * tiles (ResNet-18's 512 @7 at batch 8 and 16, 256 @14 at batch 2 and 4, 128 @28 at batch 1),
 * 1.12x over 128 tiles of 256 channels, the same over 128 of 128 channels, 0.96x over 196 of 64 */
static int FCN(wgk_grid)(fc_wg_geo *q, int m2)
{
    const int mo = m2 ? m2 : 4;
    q->TH = FC_CEIL_DIV(q->OH, mo);
    q->TW = FC_CEIL_DIV(q->OW, mo);
    q->tiles = q->N * q->TH * q->TW;
    return q->tiles <= 64 || (!m2 && q->tiles <= WGK_TILES && q->CI >= 256);
}
static int FCN(wgk_takes)(const fc_conv_geom *g, fc_wg_geo *q, int *m2)
{
    *q = (fc_wg_geo){g->N, g->C, g->H, g->W, g->K, g->P, g->Q, g->pad_h, g->pad_w, 0, 0, 0};
    *m2 = g->stride_h == 2 ? fc_wg2_size(q->OH, q->OW) : 0;
    return FCN(wgk_grid)(q, *m2);
}
/* the input gradient of a stride-1 layer (fc_winograd_fits): the correlation of dy with the filters
 * rotated and their channel axes swapped, padding 2 - pad (conv_winograd.c) */
static int FCN(wgk_takes_input)(const fc_conv_geom *g, fc_wg_geo *q)
{
    *q = (fc_wg_geo){g->N, g->K, g->P, g->Q, g->C, g->H, g->W, 2 - g->pad_h, 2 - g->pad_w, 0, 0, 0};
    return FCN(wgk_grid)(q, 0);
}

/* y = the forward (m2 from wgk_takes), or the input gradient of a stride-1 layer (flip: x is dy, y
 * dx, every element stored; q from wgk_takes_input) */
static int FCN(conv_winograd_k_forward)(T *y, const T *x, const T *w, const T *bias, const fc_wg_geo *q, int m2,
                                        int flip, int nthreads)
{
    const int64_t nkb = FC_CEIL_DIV(q->KO, VL), nx = FCN(wgk_n1)(m2) * FCN(wgk_n1)(m2);
    const int nt = (int)FC_MIN((int64_t)fc_resolve_threads(nthreads), nkb);
    int64_t PH, PW;
    FCN(wgk_padded)(q, m2, &PH, &PW);
    /* the padded input (16 elements of slack for the gathers' rows of 8), then V' */
    const size_t xe = FC_ROUND_UP((size_t)q->N * q->CI * PH * PW + 16, 64 / sizeof(T));
    T *xp = fc_scratch(FC_SCRATCH_SHARED, (xe + (size_t)q->CI * nx * q->tiles) * sizeof(T));
    if (!xp) return FC_ERR_NOMEM;
    int err = 0;
    if (m2 == 4)
        FC_TEAM(nt, FCN(wgk_units4)(y, x, w, bias, q, xp, xp + xe, &err));
    else if (m2 == 2)
        FC_TEAM(nt, FCN(wgk_units2)(y, x, w, bias, q, xp, xp + xe, &err));
    else if (flip)
        FC_TEAM(nt, FCN(wgk_units0f)(y, x, w, NULL, q, xp, xp + xe, &err));
    else
        FC_TEAM(nt, FCN(wgk_units0)(y, x, w, bias, q, xp, xp + xe, &err));
    return err;
}
