/* Winograd for 3x3 stride-2 layers, by input phase   (template, see internal.h)
 *
 * Along one axis, output o of a 3-tap stride-2 correlation reads inputs 2 o,
 * 2 o + 1 and 2 o + 2 (of the padded input): the even inputs 2 (o + t') with
 * taps 0 and 2, a 2-tap stride-1 correlation of the even phase, and the odd
 * input 2 o + 1 with tap 1.  4 outputs from the 9 inputs 8 t .. 8 t + 8 are
 * then F(4, 2) on the 5 even ones (5 products, conv_winograd1d.c's
 * transforms) and the 4 products of the odd ones: 9 positions instead of 12
 * products.  In 2-D the 81 positions of the two axes together,
 *     Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A,
 * B^T (9 x 9) F(4, 2)'s on the even inputs and the identity on the odd, G
 * (9 x 3), A^T (4 x 9): 81 multiplies per 4x4 outputs and channel pair
 * instead of 144 (1.78x fewer), as 81 GEMMs over the input channels.  Or 2
 * outputs from 5 inputs (F(2, 2) on 3 even ones, 2 odd ones): 25 positions per
 * 2x2 outputs (1.44x fewer), on maps that 4x4 tiles would overrun by more
 * (14x14 outputs: 16 4x4 tiles compute 256, 49 2x2 tiles 196; the size with
 * the fewer products in all, fc_wg2_size).
 *
 * The run is conv_winograd.c's: the weights transformed in double once per
 * call and packed as the micro-kernel's A panels, the input copied once with
 * the tile grid's zeros around it, then blocks of tiles (a block's inputs
 * transformed into V, its products into M, its outputs from M, all in the
 * thread's cache).  Over 64 tiles or fewer, conv_winograd_k.c runs the same
 * positions with the output channels as the lanes.  The forward only: the
 * gradients of a strided layer are not strided correlations of this form.
 */

#ifndef FC_WINOGRAD_S2_COMMON
#define FC_WINOGRAD_S2_COMMON
#define WG2_NMAX 9                     /* positions per axis, at most */
#define WG2_XIMAX (WG2_NMAX * WG2_NMAX) /* transformed tile positions, at most */

/* whether the (canonical) geometry is one this computes: 3x3, stride 2, dilation 1, one group,
 * padding at most 2 */
static inline int fc_winograd_s2_fits(const fc_conv_geom *g)
{
    return g->R == 3 && g->S == 3 && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 && g->dil_w == 1 &&
           g->G == 1 && g->pad_h <= 2 && g->pad_w <= 2 && g->P >= 1 && g->Q >= 1;
}

/* the outputs per tile and axis, 4 or 2: the fewer products in all, (2 m + 1)^2 per tile over the
 * tiles that cover OH x OW (the rule fastconv/_cpu/conv.py repeats) */
static inline int fc_wg2_size(int64_t OH, int64_t OW)
{
    return 81 * FC_CEIL_DIV(OH, 4) * FC_CEIL_DIV(OW, 4) <= 25 * FC_CEIL_DIV(OH, 2) * FC_CEIL_DIV(OW, 2) ? 4 : 2;
}

/* The positions along an axis in the inputs' order: position 2 i (i <= m) F(m, 2)'s i-th of the
 * even inputs, position 2 i + 1 the odd input 2 i + 1 (so a tile's inputs are copied as they lie).
 * G g for one row or column g0 g1 g2 of a filter, n of them at once (lane l of each): F(m, 2) of
 * the even taps (g0, g2) (F(2, 2) at the points 0, 1 and infinity), the odd tap g1 at the odd
 * positions. */
static inline void fc_wg2_g(int m, const double *g0, const double *g1, const double *g2, double *o, int64_t os,
                            int n)
{
    if (m == 4)
        for (int l = 0; l < n; l++) {
            double e[5];
            fc_wg1_g2(g0[l], g2[l], e);
            for (int i = 0; i < 5; i++) o[2 * i * os + l] = e[i];
        }
    else
        for (int l = 0; l < n; l++) {
            o[l] = g0[l];
            o[2 * os + l] = g0[l] + g2[l];
            o[4 * os + l] = g2[l];
        }
    for (int i = 0; i < m; i++)
        for (int l = 0; l < n; l++) o[(2 * i + 1) * os + l] = g1[l];
}
#endif

/* Input channel ci of panel kp's MR output channels into U[xi][kp][ci][l] (U_xi ux apart):
 * (G g G^T)[xi] of g = w[ko][ci] in double, zero for ko past KO; the output channels the lanes of
 * the innermost loops, and MR contiguous elements of each plane of U. */
static inline __attribute__((always_inline)) void FCN(wg2_weight_panel)(T *U, int64_t ux, const T *w,
                                                                        const fc_wg_geo *q, const int m, int64_t kp,
                                                                        int64_t ci)
{
    const int64_t CI = q->CI, KO = q->KO;
    const int N = 2 * m + 1;
    double g[9][GEMM_MR], t[3][WG2_NMAX][GEMM_MR], u[WG2_XIMAX][GEMM_MR];
    for (int e = 0; e < 9; e++)
        for (int l = 0; l < GEMM_MR; l++) {
            const int64_t ko = kp * GEMM_MR + l;
            g[e][l] = ko < KO ? (double)w[(ko * CI + ci) * 9 + e] : 0.0;
        }
    for (int c = 0; c < 3; c++) fc_wg2_g(m, g[c], g[3 + c], g[6 + c], t[c][0], GEMM_MR, GEMM_MR); /* G g */
    for (int a = 0; a < N; a++) fc_wg2_g(m, t[0][a], t[1][a], t[2][a], u[a * N], GEMM_MR, GEMM_MR); /* G^T */
    T *dst = U + (kp * CI + ci) * GEMM_MR;
    for (int xi = 0; xi < N * N; xi++)
        for (int l = 0; l < GEMM_MR; l++) dst[xi * ux + l] = (T)u[xi][l];
}

/* B^T of F(m, 2) on the m + 1 even values of one axis (stride s between the even ones) in place */
static inline void FCN(wg2_bt1)(int m, V *d, int s)
{
    if (m == 4) {
        FCN(wg1_bt2)(d, s);
        return;
    }
    const V e1 = d[s];
    d[0] -= e1;
    d[2 * s] -= e1;
}

/* B^T d B of a tile's N x N inputs in lanes in place: F(m, 2) over the even ones of each column,
 * then of each row (the odd ones as they are) */
static inline void FCN(wg2_bt)(int m, V *v)
{
    const int N = 2 * m + 1;
    for (int j = 0; j < N; j++) FCN(wg2_bt1)(m, v + j, 2 * N);
    for (int i = 0; i < N; i++) FCN(wg2_bt1)(m, v + i * N, 2);
}

/* One channel's N x N input tiles of `lanes` tiles (lane l from base + off[l], rows PW apart; the
 * other lanes zero) into lanes d[xi][l], 8 tiles' rows of 8 at a time by register transposes (the
 * scalar copies were 20 % of ResNet-18 layer2's time; the rows of 8 read inside the padded input:
 * its slack after the end), transformed in place (B^T d B); returns the vectors. */
static inline __attribute__((always_inline)) V *FCN(wg2_tile_inputs)(const int m, T *d, const T *base,
                                                                     const int64_t *off, int lanes, int64_t PW)
{
    const int N = 2 * m + 1, XI = N * N;
    int l = 0;
    for (; l + 8 <= lanes; l += 8)
        for (int i = 0; i < N; i++) {
            const T *row[8];
            for (int k = 0; k < 8; k++) row[k] = base + off[l + k] + i * PW;
            FCN(transpose8_rows)(d + i * N * VL + l, VL, row, FC_MIN(N, 8));
            if (N > 8)
                for (int k = 0; k < 8; k++) d[(i * N + 8) * VL + l + k] = row[k][8];
        }
    for (; l < lanes; l++) {
        const T *src = base + off[l];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) d[(i * N + j) * VL + l] = src[i * PW + j];
    }
    for (; l < VL; l++)
        for (int xi = 0; xi < XI; xi++) d[xi * VL + l] = 0;
    V *v = (V *)d;
    FCN(wg2_bt)(m, v);
    return v;
}

/* The block's inputs transformed: Vb[xi][tile panel][ci][NR] (the xi at stride vx), VL tiles at
 * once (wg2_tile_inputs). */
static inline __attribute__((always_inline)) void FCN(wg2_input)(T *restrict Vb, const T *xp, const fc_wg_geo *q,
                                                                 const int m, const FCN(wg_tile) *tl, int64_t TB,
                                                                 int64_t PH, int64_t PW, int64_t vx)
{
    const int64_t CI = q->CI, plane = PH * PW, pw = FCN(wg_pw)(TB);
    const int N = 2 * m + 1, XI = N * N;
    int64_t off[4 * GEMM_NR]; /* TB <= 4 NR */
    int64_t tiles = 0;
    for (; tiles < TB && tl[tiles].n >= 0; tiles++)
        off[tiles] = tl[tiles].n * CI * plane + 2 * (tl[tiles].p0 * PW + tl[tiles].c0);
    T d[WG2_XIMAX * VL] __attribute__((aligned(64)));
    for (int64_t ci = 0; ci < CI; ci++) {
        const T *base = xp + ci * plane;
        for (int64_t t0 = 0; t0 < TB; t0 += VL) {
            const int lanes = (int)FC_MAX(0, FC_MIN(VL, tiles - t0));
            /* the next channel's rows of these tiles (the plane is past the L2 cache: these loads
             * waited for each line, 60 % of the inputs' time) */
            if (ci + 1 < CI)
                for (int k = 0; k < lanes; k++)
                    for (int i = 0; i < N; i++) __builtin_prefetch(base + plane + off[t0 + k] + i * PW);
            const V *v = FCN(wg2_tile_inputs)(m, d, base, off + t0, lanes, PW);
            T *dst = Vb + ((t0 / pw) * CI + ci) * pw + t0 % pw;
            for (int xi = 0; xi < XI; xi++) *(V *)(dst + xi * vx) = v[xi];
        }
    }
}

/* A^T m of N positions (stride s: the even ones by F(m, 2), plus the odd ones) into m (stride o) */
static inline void FCN(wg2_at)(int m, const V *mv, int s, V *out, int o)
{
    if (m == 4)
        FCN(wg1_at2)(mv, 2 * s, out, o);
    else {
        out[0] = mv[0] + mv[2 * s];
        out[o] = mv[2 * s] + mv[4 * s];
    }
    for (int i = 0; i < m; i++) out[i * o] += mv[(2 * i + 1) * s];
}

/* The block's outputs from M: y = A^T M A (plus bias) for each tile and output channel. */
static inline __attribute__((always_inline)) void FCN(wg2_output)(T *y, const T *Mb, const T *bias,
                                                                  const fc_wg_geo *q, const int m,
                                                                  const FCN(wg_tile) *tl, int64_t TB, int64_t mx)
{
    const int N = 2 * m + 1, XI = N * N;
    const int64_t KO = q->KO, OH = q->OH, OW = q->OW;
    T o[16 * VL] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < TB; t0 += VL) {
        const FCN(wg_tile) *lt = tl + t0;
        int lanes = 0;
        while (lanes < VL && lt[lanes].n >= 0) lanes++;
        if (!lanes) break; /* the tiles past the last are at the block's end */
        for (int64_t ko = 0; ko < KO; ko++) {
            V mv[WG2_XIMAX], s[4 * WG2_NMAX], r[16];
            for (int xi = 0; xi < XI; xi++) mv[xi] = *(const V *)(Mb + xi * mx + ko * TB + t0);
            /* the next channel's lines (M is past the L2 cache: read unprefetched, each line
             * waited for, these loads were 56 % of the outputs' time) */
            if (ko + 1 < KO)
                for (int xi = 0; xi < XI; xi++) __builtin_prefetch(Mb + xi * mx + (ko + 1) * TB + t0);
            for (int j = 0; j < N; j++) FCN(wg2_at)(m, mv + j, N, s + j, N); /* A^T M: m x N */
            for (int i = 0; i < m; i++) FCN(wg2_at)(m, s + i * N, 1, r + i * m, 1); /* (A^T M) A */
            if (bias) {
                const V b = FCN(splat)(bias[ko]);
                for (int e = 0; e < m * m; e++) r[e] += b;
            }
            if (m == 4) {
                FCN(wg_store_blocks)(y, r, o, lt, lanes, q, ko, 0);
                continue;
            }
            for (int e = 0; e < 4; e++) *(V *)(o + e * VL) = r[e];
            for (int l = 0; l < lanes; l++) {
                const int64_t p0 = lt[l].p0, c0 = lt[l].c0;
                T *dst = y + ((lt[l].n * KO + ko) * OH + p0) * OW + c0;
                for (int i = 0; i < FC_MIN(2, OH - p0); i++)
                    for (int j = 0; j < FC_MIN(2, OW - c0); j++) dst[i * OW + j] = o[(2 * i + j) * VL + l];
            }
        }
    }
}

/* the two of them for each tile size (m a constant in each: the loops unrolled; with m a variable
 * ResNet-18's layer2 ran 15 % slower) */
#define FC_WG2_SIZED(m)                                                                                       \
    static void FCN(wg2_weight_panel##m)(T *U, int64_t ux, const T *w, const fc_wg_geo *q, int64_t kp,         \
                                         int64_t ci)                                                          \
    {                                                                                                         \
        FCN(wg2_weight_panel)(U, ux, w, q, m, kp, ci);                                                        \
    }                                                                                                         \
    static void FCN(wg2_input##m)(T *restrict Vb, const T *xp, const fc_wg_geo *q, const FCN(wg_tile) *tl,     \
                                  int64_t TB, int64_t PH, int64_t PW, int64_t vx)                              \
    {                                                                                                         \
        FCN(wg2_input)(Vb, xp, q, m, tl, TB, PH, PW, vx);                                                     \
    }                                                                                                         \
    static void FCN(wg2_output##m)(T *y, const T *Mb, const T *bias, const fc_wg_geo *q,                      \
                                   const FCN(wg_tile) *tl, int64_t TB, int64_t mx)                             \
    {                                                                                                         \
        FCN(wg2_output)(y, Mb, bias, q, m, tl, TB, mx);                                                       \
    }                                                                                                         \
    static V *FCN(wg2_tile_inputs##m)(T *d, const T *base, const int64_t *off, int lanes, int64_t PW)          \
    {                                                                                                         \
        return FCN(wg2_tile_inputs)(m, d, base, off, lanes, PW);                                              \
    }
FC_WG2_SIZED(4)
FC_WG2_SIZED(2)
#undef FC_WG2_SIZED

static void FCN(wg2_units)(T *y, const T *x, const T *w, const T *bias, const fc_wg_geo *q, int m, T *U, T *xp,
                           int64_t KP, int64_t TB, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int N = 2 * m + 1;
    const int64_t PH = 2 * m * q->TH + 1, PW = 2 * m * q->TW + 1, CI = q->CI, ux = FCN(wg_ux)(KP, CI);
#pragma omp for schedule(static)
    for (int64_t job = 0; job < KP * CI; job++)
        if (m == 4)
            FCN(wg2_weight_panel4)(U, ux, w, q, job / CI, job % CI);
        else
            FCN(wg2_weight_panel2)(U, ux, w, q, job / CI, job % CI);
    FCN(wg_pad)(xp, x, q, PH, PW); /* (each omp for ends with a barrier) */
    /* V's and M's matrices a cache line more apart than their size (conv_winograd.c) */
    const int64_t vx = CI * TB + 64 / (int64_t)sizeof(T), mx = KP * GEMM_MR * TB + 64 / (int64_t)sizeof(T);
    T *Vb, *Mb;
    FCN(wg_tile) *tl = FCN(wg_block_scratch)(&Vb, &Mb, N * N, vx, mx, TB, err);
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; b++) {
        if (!tl) continue;
        FCN(wg_tiles)(tl, q, m, b * TB, TB);
        if (m == 4)
            FCN(wg2_input4)(Vb, xp, q, tl, TB, PH, PW, vx);
        else
            FCN(wg2_input2)(Vb, xp, q, tl, TB, PH, PW, vx);
        FCN(wg_products)(Mb, U, ux, Vb, N * N, CI, KP, TB, vx, mx);
        if (m == 4)
            FCN(wg2_output4)(y, Mb, bias, q, tl, TB, mx);
        else
            FCN(wg2_output2)(y, Mb, bias, q, tl, TB, mx);
    }
    fc_fp_leave(fp);
}

static int FCN(conv_winograd_s2_forward)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g,
                                         int nthreads)
{
    fc_wg_geo q = {g->N, g->C, g->H, g->W, g->K, g->P, g->Q, g->pad_h, g->pad_w, 0, 0, 0};
    const int m = fc_wg2_size(q.OH, q.OW), XI = (2 * m + 1) * (2 * m + 1);
    q.TH = FC_CEIL_DIV(q.OH, m);
    q.TW = FC_CEIL_DIV(q.OW, m);
    q.tiles = q.N * q.TH * q.TW;
    const int64_t KP = FC_CEIL_DIV(q.KO, GEMM_MR);
    const int nt = fc_resolve_threads(nthreads);
    /* shared: the transformed weights, then the padded input (rounded to whole cache lines; 16
     * elements of slack after it for wg2_input's rows of 8) */
    const size_t ue = FC_ROUND_UP((size_t)XI * FCN(wg_ux)(KP, q.CI), 64 / sizeof(T));
    const size_t xe = (size_t)q.N * q.CI * (2 * m * q.TH + 1) * (2 * m * q.TW + 1) + 16;
    /* TB: a multiple of NR whose V and M fit the block's cache budget */
    const int64_t per_tile = (int64_t)XI * (q.CI + KP * GEMM_MR) * (int64_t)sizeof(T);
    int64_t TB = FC_MAX(1, FC_WG_BLOCK_BYTES / per_tile / GEMM_NR) * GEMM_NR;
    TB = FC_MIN(TB, 4 * GEMM_NR);
    TB = FC_MIN(TB, FC_ROUND_UP(q.tiles, GEMM_NR));
    const int64_t blocks = FC_CEIL_DIV(q.tiles, TB);
    T *U = fc_scratch(FC_SCRATCH_SHARED, (ue + xe) * sizeof(T));
    if (!U) return FC_ERR_NOMEM;
    int err = 0;
    FC_TEAM(blocks < nt ? (int)blocks : nt, FCN(wg2_units)(y, x, w, bias, &q, m, U, U + ue, KP, TB, &err));
    return err;
}
