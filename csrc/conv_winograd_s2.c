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
 * instead of 144 (1.78x fewer), as 81 GEMMs over the input channels.
 *
 * The run is conv_winograd.c's: the weights transformed in double once per
 * call and packed as the micro-kernel's A panels, the input copied once with
 * the tile grid's zeros around it, then blocks of tiles (a block's inputs
 * transformed into V, its products into M, its outputs from M, all in the
 * thread's cache).  The forward only: the gradients of a strided layer are
 * not strided correlations of this form.
 */

#ifndef FC_WINOGRAD_S2_COMMON
#define FC_WINOGRAD_S2_COMMON
#define WG2_N 9                /* positions per axis */
#define WG2_XI (WG2_N * WG2_N) /* transformed tile positions */

/* whether the (canonical) geometry is one this computes: 3x3, stride 2, dilation 1, one group,
 * padding at most 2 */
static inline int fc_winograd_s2_fits(const fc_conv_geom *g)
{
    return g->R == 3 && g->S == 3 && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 && g->dil_w == 1 &&
           g->G == 1 && g->pad_h <= 2 && g->pad_w <= 2 && g->P >= 1 && g->Q >= 1;
}

/* The positions along an axis in the inputs' order: position 2 i (i < 5) F(4, 2)'s i-th of the
 * even inputs, position 2 i + 1 the odd input 2 i + 1 (so a tile's inputs are copied as they lie).
 * G g for one row or column g0 g1 g2 of a filter, n of them at once (lane l of each): F(4, 2) of
 * the even taps (g0, g2), the odd tap g1 at the odd positions. */
static inline void fc_wg2_g(const double *g0, const double *g1, const double *g2, double *o, int64_t os, int n)
{
    for (int l = 0; l < n; l++) {
        double e[5];
        fc_wg1_g2(g0[l], g2[l], e);
        for (int i = 0; i < 5; i++) o[2 * i * os + l] = e[i];
        for (int i = 0; i < 4; i++) o[(2 * i + 1) * os + l] = g1[l];
    }
}
#endif

/* Input channel ci of panel kp's MR output channels into U[xi][kp][ci][l] (U_xi ux apart):
 * (G g G^T)[xi] of g = w[ko][ci] in double, zero for ko past KO; the output channels the lanes of
 * the innermost loops, and MR contiguous elements of each plane of U. */
static void FCN(wg2_weight_panel)(T *U, int64_t ux, const T *w, const fc_wg_geo *q, int64_t kp, int64_t ci)
{
    const int64_t CI = q->CI, KO = q->KO;
    double g[9][GEMM_MR], t[3][WG2_N][GEMM_MR], u[WG2_XI][GEMM_MR];
    for (int e = 0; e < 9; e++)
        for (int l = 0; l < GEMM_MR; l++) {
            const int64_t ko = kp * GEMM_MR + l;
            g[e][l] = ko < KO ? (double)w[(ko * CI + ci) * 9 + e] : 0.0;
        }
    for (int c = 0; c < 3; c++) fc_wg2_g(g[c], g[3 + c], g[6 + c], t[c][0], GEMM_MR, GEMM_MR); /* G g */
    for (int a = 0; a < WG2_N; a++) fc_wg2_g(t[0][a], t[1][a], t[2][a], u[a * WG2_N], GEMM_MR, GEMM_MR); /* G^T */
    T *dst = U + (kp * CI + ci) * GEMM_MR;
    for (int xi = 0; xi < WG2_XI; xi++)
        for (int l = 0; l < GEMM_MR; l++) dst[xi * ux + l] = (T)u[xi][l];
}

/* B^T d B of a tile's 81 inputs in lanes in place: F(4, 2) over the even ones of each column, then
 * of each row (the odd ones as they are) */
static inline void FCN(wg2_bt)(V *v)
{
    for (int j = 0; j < WG2_N; j++) FCN(wg1_bt2)(v + j, 2 * WG2_N);
    for (int i = 0; i < WG2_N; i++) FCN(wg1_bt2)(v + i * WG2_N, 2);
}

/* The block's inputs transformed: Vb[xi][tile panel][ci][NR] (the xi at stride vx).  Each tile's
 * 9x9 inputs from 2 p0, 2 c0 of the padded input go into lanes d[xi][l], 8 tiles' rows of 8 at a
 * time by register transposes (the scalar copies were 20 % of ResNet-18 layer2's time), then are
 * transformed along VL tiles at once. */
static void FCN(wg2_input)(T *restrict Vb, const T *xp, const fc_wg_geo *q, const FCN(wg_tile) *tl, int64_t TB,
                           int64_t PH, int64_t PW, int64_t vx)
{
    const int64_t CI = q->CI, plane = PH * PW, pw = FCN(wg_pw)(TB);
    int64_t off[4 * GEMM_NR]; /* TB <= 4 NR */
    int64_t tiles = 0;
    for (; tiles < TB && tl[tiles].n >= 0; tiles++)
        off[tiles] = tl[tiles].n * CI * plane + 2 * (tl[tiles].p0 * PW + tl[tiles].c0);
    T d[WG2_XI * VL] __attribute__((aligned(64)));
    for (int64_t ci = 0; ci < CI; ci++) {
        const T *base = xp + ci * plane;
        for (int64_t t0 = 0; t0 < TB; t0 += VL) {
            const int lanes = (int)FC_MAX(0, FC_MIN(VL, tiles - t0));
            /* the next channel's rows of these tiles (the plane is past the L2 cache: these loads
             * waited for each line, 60 % of the inputs' time) */
            if (ci + 1 < CI)
                for (int k = 0; k < lanes; k++)
                    for (int i = 0; i < WG2_N; i++) __builtin_prefetch(base + plane + off[t0 + k] + i * PW);
            int l = 0;
            for (; l + 8 <= lanes; l += 8)
                for (int i = 0; i < WG2_N; i++) {
                    const T *row[8];
                    for (int k = 0; k < 8; k++) row[k] = base + off[t0 + l + k] + i * PW;
                    FCN(transpose8_rows)(d + i * WG2_N * VL + l, VL, row, 8);
                    for (int k = 0; k < 8; k++) d[(i * WG2_N + 8) * VL + l + k] = row[k][8];
                }
            for (; l < lanes; l++) {
                const T *src = base + off[t0 + l];
                for (int i = 0; i < WG2_N; i++)
                    for (int j = 0; j < WG2_N; j++) d[(i * WG2_N + j) * VL + l] = src[i * PW + j];
            }
            for (; l < VL; l++)
                for (int xi = 0; xi < WG2_XI; xi++) d[xi * VL + l] = 0;
            V *v = (V *)d;
            FCN(wg2_bt)(v);
            T *dst = Vb + ((t0 / pw) * CI + ci) * pw + t0 % pw;
            for (int xi = 0; xi < WG2_XI; xi++) *(V *)(dst + xi * vx) = v[xi];
        }
    }
}

/* A^T m of 9 positions (stride s: the even ones by F(4, 2), plus the odd ones) into 4 (stride o) */
static inline void FCN(wg2_at)(const V *m, int s, V *out, int o)
{
    FCN(wg1_at2)(m, 2 * s, out, o);
    for (int i = 0; i < 4; i++) out[i * o] += m[(2 * i + 1) * s];
}

/* The block's outputs from M: y = A^T M A (plus bias) for each tile and output channel. */
static void FCN(wg2_output)(T *y, const T *Mb, const T *bias, const fc_wg_geo *q, const FCN(wg_tile) *tl,
                            int64_t TB, int64_t mx)
{
    T o[16 * VL] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < TB; t0 += VL) {
        const FCN(wg_tile) *lt = tl + t0;
        int lanes = 0;
        while (lanes < VL && lt[lanes].n >= 0) lanes++;
        if (!lanes) break; /* the tiles past the last are at the block's end */
        for (int64_t ko = 0; ko < q->KO; ko++) {
            V m[WG2_XI], s[4 * WG2_N], r[16];
            for (int xi = 0; xi < WG2_XI; xi++) m[xi] = *(const V *)(Mb + xi * mx + ko * TB + t0);
            /* the next channel's 81 lines (M is past the L2 cache: read unprefetched, each line
             * waited for, these loads were 56 % of the outputs' time) */
            if (ko + 1 < q->KO)
                for (int xi = 0; xi < WG2_XI; xi++) __builtin_prefetch(Mb + xi * mx + (ko + 1) * TB + t0);
            for (int j = 0; j < WG2_N; j++) FCN(wg2_at)(m + j, WG2_N, s + j, WG2_N); /* A^T M: 4 x 9 */
            for (int i = 0; i < 4; i++) FCN(wg2_at)(s + i * WG2_N, 1, r + i * 4, 1);  /* (A^T M) A */
            if (bias) {
                const V b = FCN(splat)(bias[ko]);
                for (int e = 0; e < 16; e++) r[e] += b;
            }
            FCN(wg_store_blocks)(y, r, o, lt, lanes, q, ko, 0);
        }
    }
}

static void FCN(wg2_units)(T *y, const T *x, const T *w, const T *bias, const fc_wg_geo *q, T *U, T *xp,
                           int64_t KP, int64_t TB, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int64_t PH = 8 * q->TH + 1, PW = 8 * q->TW + 1, CI = q->CI, ux = FCN(wg_ux)(KP, CI);
#pragma omp for schedule(static)
    for (int64_t job = 0; job < KP * CI; job++) FCN(wg2_weight_panel)(U, ux, w, q, job / CI, job % CI);
    FCN(wg_pad)(xp, x, q, PH, PW); /* (each omp for ends with a barrier) */
    /* V's and M's matrices a cache line more apart than their size (conv_winograd.c) */
    const int64_t vx = CI * TB + 64 / (int64_t)sizeof(T), mx = KP * GEMM_MR * TB + 64 / (int64_t)sizeof(T);
    T *Vb, *Mb;
    FCN(wg_tile) *tl = FCN(wg_block_scratch)(&Vb, &Mb, WG2_XI, vx, mx, TB, err);
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; b++) {
        if (!tl) continue;
        FCN(wg_tiles)(tl, q, b * TB, TB);
        FCN(wg2_input)(Vb, xp, q, tl, TB, PH, PW, vx);
        FCN(wg_products)(Mb, U, ux, Vb, WG2_XI, CI, KP, TB, vx, mx);
        FCN(wg2_output)(y, Mb, bias, q, tl, TB, mx);
    }
    fc_fp_leave(fp);
}

static int FCN(conv_winograd_s2_forward)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g,
                                         int nthreads)
{
    fc_wg_geo q = {g->N, g->C, g->H, g->W, g->K, g->P, g->Q, g->pad_h, g->pad_w, 0, 0, 0};
    q.TH = FC_CEIL_DIV(q.OH, 4);
    q.TW = FC_CEIL_DIV(q.OW, 4);
    q.tiles = q.N * q.TH * q.TW;
    const int64_t KP = FC_CEIL_DIV(q.KO, GEMM_MR);
    const int nt = fc_resolve_threads(nthreads);
    /* shared: the transformed weights, then the padded input (rounded to whole cache lines) */
    const size_t ue = FC_ROUND_UP((size_t)WG2_XI * FCN(wg_ux)(KP, q.CI), 64 / sizeof(T));
    const size_t xe = (size_t)q.N * q.CI * (8 * q.TH + 1) * (8 * q.TW + 1) + 16;
    /* TB: a multiple of NR whose V and M fit the block's cache budget */
    const int64_t per_tile = (int64_t)WG2_XI * (q.CI + KP * GEMM_MR) * (int64_t)sizeof(T);
    int64_t TB = FC_MAX(1, FC_WG_BLOCK_BYTES / per_tile / GEMM_NR) * GEMM_NR;
    TB = FC_MIN(TB, 4 * GEMM_NR);
    TB = FC_MIN(TB, FC_ROUND_UP(q.tiles, GEMM_NR));
    const int64_t blocks = FC_CEIL_DIV(q.tiles, TB);
    T *U = fc_scratch(FC_SCRATCH_SHARED, (ue + xe) * sizeof(T));
    if (!U) return FC_ERR_NOMEM;
    int err = 0;
    FC_TEAM(blocks < nt ? (int)blocks : nt, FCN(wg2_units)(y, x, w, bias, &q, U, U + ue, KP, TB, &err));
    return err;
}
