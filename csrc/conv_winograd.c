/* Winograd F(4x4, 3x3) convolution   (template, see internal.h)
 *
 * A 3x3, stride-1, undilated, ungrouped correlation computes each 4x4 block
 * of outputs from a 6x6 tile of inputs as
 *     Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A
 * (Lavin and Gray, "Fast algorithms for convolutional neural networks"):
 * 36 multiplies per output block and input channel instead of 144, so 4x
 * fewer; the channel sums are 36 independent GEMMs,
 * M_xi[K, tiles] = U_xi[K, C] V_xi[C, tiles].  The interpolation points
 * are 0, 1, -1, 1/2, -2 and infinity (Barabasz et al., "Error analysis and
 * improving the accuracy of Winograd convolution", 2020), not the usual
 * 0, +-1, +-2: in float32 against float64, 2.2x direct's largest error
 * and 2.7x its rms instead of 8.5x and 4.0x (tools/winograd_error.py).
 *
 *   weights  U_xi = (G g G^T)_xi, computed in double, packed as the GEMM
 *            micro-kernel's A panels (GEMM_MR output channels) once per call;
 *   tiles    a thread takes a block of TB tiles (across images), transforms
 *            its inputs into V (the micro-kernel's B panels, GEMM_NR tiles),
 *            runs the 36 products into M, and transforms M into the block's
 *            outputs, so V and M stay in the thread's cache (no full-size
 *            transformed tensor exists).
 * The transforms run along VL tiles at once (a tile's 6x6 inputs gathered
 * into lanes, its 4x4 outputs stored from them).
 *
 * The input gradient of such a layer is the same correlation of dy with
 * the kernel rotated by 180 degrees and its channel axes swapped, with
 * padding 2 - pad (needs pad <= 2): the same code, weights read flipped.
 * bench/RESULTS.md ("Winograd") has the error table.
 */

#ifndef FC_WINOGRAD_COMMON
#define FC_WINOGRAD_COMMON
#include "conv_common.h"
#define WG_XI 36 /* transformed tile positions (6 x 6) */
/* a thread's transformed inputs and products (V and M) in about this much cache */
#define FC_WG_BLOCK_BYTES (768 * 1024)

/* whether the geometry (canonical, fc_conv_prepare) is a Winograd one: 3x3,
 * stride 1, dilation 1, one group, padding at most 2 (the input gradient's
 * padding is 2 - pad) */
static inline int fc_winograd_fits(const fc_conv_geom *g)
{
    return g->R == 3 && g->S == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 && g->dil_w == 1 &&
           g->G == 1 && g->pad_h <= 2 && g->pad_w <= 2 && g->P >= 1 && g->Q >= 1;
}

/* one direction of a Winograd run: outputs (N, KO, OH, OW) from inputs
 * (N, CI, IH, IW) read at top / left padding pt / pl */
typedef struct fc_wg_geo {
    int64_t N, CI, IH, IW, KO, OH, OW, pt, pl;
    int64_t TH, TW, tiles; /* tiles per column / row, all tiles */
} fc_wg_geo;
#endif

/* G applied to (g0, g1, g2), in double, giving 6 values at stride s (by
 * reciprocals: a division per value made the transform of a 512 x 512
 * layer's weights cost 30 ms) */
static inline void FCN(wg_g)(double g0, double g1, double g2, double *t, int s)
{
    const double third = 1.0 / 3, fifteenth = 1.0 / 15;
    t[0] = g0;
    t[s] = (g0 + g1 + g2) * third;
    t[2 * s] = (g1 - g0 - g2) * third;
    t[3 * s] = -(16 * g0 + 8 * g1 + 4 * g2) * fifteenth;
    t[4 * s] = (g0 - 2 * g1 + 4 * g2) * fifteenth;
    t[5 * s] = g2;
}

/* Elements between U's matrices U_xi: a cache line more than one holds.
 * At a multiple of 4 KiB (CI a multiple of 16) the 36 streams of stores of
 * the weight transform all map to one set of the L1 cache: 74% of a
 * 512 x 512 layer's time.  V and M below are spaced the same way. */
static inline int64_t FCN(wg_ux)(int64_t KP, int64_t CI) { return KP * CI * GEMM_MR + 64 / (int64_t)sizeof(T); }

/* U[xi][kp][ci][i] = (G g G^T)[xi] of output channel kp * MR + i (zero past
 * KO), g = w[ko][ci] or, flipped, w[ci][ko] rotated by 180 degrees. */
static void FCN(wg_weights)(T *U, const T *w, const fc_wg_geo *q, int64_t KP, int flip)
{
    const int64_t CI = q->CI, KO = q->KO;
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < KP * GEMM_MR * CI; pair++) {
        const int64_t ko = pair / CI, ci = pair % CI;
        const int64_t kp = ko / GEMM_MR, i = ko % GEMM_MR;
        double u[WG_XI];
        if (ko >= KO) {
            for (int xi = 0; xi < WG_XI; xi++) u[xi] = 0;
        } else {
            double g[9], t[18];
            for (int r = 0; r < 3; r++)
                for (int s = 0; s < 3; s++)
                    g[r * 3 + s] = flip ? (double)w[(ci * KO + ko) * 9 + (2 - r) * 3 + (2 - s)]
                                        : (double)w[(ko * CI + ci) * 9 + r * 3 + s];
            for (int s = 0; s < 3; s++) { /* t = G g (6 x 3) */
                const double g0 = g[s], g1 = g[3 + s], g2 = g[6 + s];
                FCN(wg_g)(g0, g1, g2, t + s, 3);
            }
            for (int a = 0; a < 6; a++) { /* u = t G^T (6 x 6) */
                const double g0 = t[a * 3], g1 = t[a * 3 + 1], g2 = t[a * 3 + 2];
                FCN(wg_g)(g0, g1, g2, u + a * 6, 1);
            }
        }
        for (int xi = 0; xi < WG_XI; xi++) U[xi * FCN(wg_ux)(KP, CI) + (kp * CI + ci) * GEMM_MR + i] = (T)u[xi];
    }
}

/* B^T applied to 6 values (stride s) in place: the input transform's rows */
static inline void FCN(wg_bt)(V *d, int s)
{
    const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    const V h = FCN(splat)((T)0.5), h3 = FCN(splat)((T)1.5), two = FCN(splat)(2), h5 = FCN(splat)((T)2.5);
    d[0] = d0 + d4 - two * d2 + h3 * (d3 - d1);
    d[s] = d4 - d1 + h * d2 + h5 * d3;
    d[2 * s] = d4 + d1 - h5 * d2 + h * d3;
    d[3 * s] = d4 - d2 + two * (d3 - d1);
    d[4 * s] = d4 - d2 + h * (d1 - d3);
    d[5 * s] = d1 + d5 - two * d3 + h3 * (d4 - d2);
}

/* A^T applied to 6 values (stride s) giving 4 (stride o) */
static inline void FCN(wg_at)(const V *m, int s, V *out, int o)
{
    const V m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s];
    const V p12 = m1 + m2, d12 = m1 - m2;
    out[0] = m[0] + p12 + m3 + m4;
    out[o] = d12 + FCN(splat)((T)0.5) * m3 - FCN(splat)(2) * m4;
    out[2 * o] = p12 + FCN(splat)((T)0.25) * m3 + FCN(splat)(4) * m4;
    out[3 * o] = d12 + FCN(splat)((T)0.125) * m3 - FCN(splat)(8) * m4 + m[5 * s];
}

/* Where each of a block's tiles lies: image, top row and left column of its
 * output block (the padded input's rows and columns it reads start there). */
typedef struct FCN(wg_tile) {
    int64_t n, p0, c0; /* n < 0: no tile (past the last) */
} FCN(wg_tile);

/* xp = the input with the padding of the tile grid: (N, CI, PH, PW), zero
 * outside, PH = 4 TH + 2 and PW = 4 TW + 2, so that every tile reads 6x6
 * elements inside it (one pass over the input instead of a bounds test
 * per element and tile: half the tiles of a 28x28 map touch a border). */
static void FCN(wg_pad)(T *restrict xp, const T *x, const fc_wg_geo *q, int64_t PH, int64_t PW)
{
    const int64_t IH = q->IH, IW = q->IW, n = FC_MIN(IW, PW - q->pl);
#pragma omp for schedule(static)
    for (int64_t pc = 0; pc < q->N * q->CI; pc++) {
        const T *src = x + pc * IH * IW;
        T *dst = xp + pc * PH * PW;
        for (int64_t r = 0; r < PH; r++) {
            T *d = dst + r * PW;
            const int64_t sr = r - q->pt;
            if (sr < 0 || sr >= IH || n <= 0) {
                memset(d, 0, (size_t)PW * sizeof(T));
                continue;
            }
            for (int64_t c = 0; c < q->pl; c++) d[c] = 0;
            memcpy(d + q->pl, src + sr * IW, (size_t)n * sizeof(T));
            for (int64_t c = q->pl + n; c < PW; c++) d[c] = 0;
        }
    }
}

/* The block's inputs transformed: Vb[xi][tile panel][ci][NR] (the xi at
 * stride vx).  Each tile's 6x6 inputs are copied into lanes d[xi][l], then
 * transformed along VL tiles at once.  Measured on Zen 4 (C3, one thread):
 * this 5.1 ms; AVX-512 gathers in place of the copies 2x slower, in-register
 * transposes of the tiles' rows 1.2x slower, the copies double-buffered the
 * same.  Channels outer: the block's tiles lie close together, so one
 * plane's rows serve every lane group before the next plane. */
static void FCN(wg_input)(T *restrict Vb, const T *xp, const fc_wg_geo *q, const FCN(wg_tile) *tl, int64_t TB,
                          int64_t PH, int64_t PW, int64_t vx)
{
    const int64_t CI = q->CI, plane = PH * PW;
    int64_t off[4 * GEMM_NR]; /* TB <= 4 NR (wg_run) */
    int64_t tiles = 0;        /* tiles in the block (the last block may have fewer) */
    for (; tiles < TB && tl[tiles].n >= 0; tiles++)
        off[tiles] = tl[tiles].n * CI * plane + tl[tiles].p0 * PW + tl[tiles].c0;
    T d[WG_XI * VL] __attribute__((aligned(64)));
    for (int64_t ci = 0; ci < CI; ci++) {
        const T *base = xp + ci * plane;
        for (int64_t t0 = 0; t0 < TB; t0 += VL) {
            const int64_t tp = t0 / GEMM_NR, lo = t0 % GEMM_NR;
            const int lanes = (int)FC_MAX(0, FC_MIN(VL, tiles - t0));
            for (int l = 0; l < lanes; l++) {
                const T *src = base + off[t0 + l];
#pragma GCC unroll 6
                for (int i = 0; i < 6; i++)
#pragma GCC unroll 6
                    for (int j = 0; j < 6; j++) d[(i * 6 + j) * VL + l] = src[i * PW + j];
            }
            for (int l = lanes; l < VL; l++)
                for (int xi = 0; xi < WG_XI; xi++) d[xi * VL + l] = 0;
            V *v = (V *)d; /* transformed in place */
            for (int j = 0; j < 6; j++) FCN(wg_bt)(v + j, 6); /* columns: B^T d */
            for (int i = 0; i < 6; i++) FCN(wg_bt)(v + i * 6, 1); /* rows: (B^T d) B */
            for (int xi = 0; xi < WG_XI; xi++) *(V *)(Vb + xi * vx + (tp * CI + ci) * GEMM_NR + lo) = v[xi];
        }
    }
}

/* The block's products M_xi = U_xi V_xi: Mb[xi][KP * MR][TB]. */
static void FCN(wg_products)(T *restrict Mb, const T *U, const T *Vb, const fc_wg_geo *q, int64_t KP, int64_t TB,
                             int64_t vx, int64_t mx)
{
    const int64_t CI = q->CI, npanels = TB / GEMM_NR;
    for (int xi = 0; xi < WG_XI; xi++)
        for (int64_t tp = 0; tp < npanels; tp++) {
            const T *b = Vb + xi * vx + tp * CI * GEMM_NR;
            for (int64_t kp = 0; kp < KP; kp++)
                FCN(gemm_ukr)(CI, U + xi * FCN(wg_ux)(KP, CI) + kp * CI * GEMM_MR, b,
                              Mb + xi * mx + kp * GEMM_MR * TB + tp * GEMM_NR, TB, NULL, 0);
        }
}

/* The block's outputs from M: y (=, plus bias, or +=) the 4x4 block of each tile. */
static void FCN(wg_output)(T *y, const T *Mb, const T *bias, const fc_wg_geo *q, const FCN(wg_tile) *tl,
                           int64_t KP, int64_t TB, int64_t mx, int accumulate)
{
    const int64_t KO = q->KO, OH = q->OH, OW = q->OW;
    T o[16 * VL] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < TB; t0 += VL) {
        const FCN(wg_tile) *lt = tl + t0;
        int lanes = 0;
        while (lanes < VL && lt[lanes].n >= 0) lanes++;
        if (!lanes) break; /* the tiles past the last are at the block's end */
        for (int64_t ko = 0; ko < KO; ko++) {
            V m[WG_XI], s[24], r[16];
            for (int xi = 0; xi < WG_XI; xi++) m[xi] = *(const V *)(Mb + xi * mx + ko * TB + t0);
            for (int j = 0; j < 6; j++) FCN(wg_at)(m + j, 6, s + j, 6);  /* A^T M: 4 x 6 */
            for (int i = 0; i < 4; i++) FCN(wg_at)(s + i * 6, 1, r + i * 4, 1); /* (A^T M) A */
            if (bias && !accumulate) {
                const V b = FCN(splat)(bias[ko]);
                for (int e = 0; e < 16; e++) r[e] += b;
            }
            for (int e = 0; e < 16; e++) *(V *)(o + e * VL) = r[e];
            for (int l = 0; l < lanes; l++) {
                const int64_t p0 = lt[l].p0, c0 = lt[l].c0;
                const int64_t nr = FC_MIN(4, OH - p0), nc = FC_MIN(4, OW - c0);
                T *dst = y + ((lt[l].n * KO + ko) * OH + p0) * OW + c0;
                const T *ol = o + l;
                if (nr == 4 && nc == 4 && !accumulate) {
#pragma GCC unroll 4
                    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                        for (int j = 0; j < 4; j++) dst[i * OW + j] = ol[(i * 4 + j) * VL];
                } else if (accumulate) {
                    for (int i = 0; i < nr; i++)
                        for (int j = 0; j < nc; j++) dst[i * OW + j] += ol[(i * 4 + j) * VL];
                } else {
                    for (int i = 0; i < nr; i++)
                        for (int j = 0; j < nc; j++) dst[i * OW + j] = ol[(i * 4 + j) * VL];
                }
            }
        }
    }
}

/* Tiles [t0, t0 + TB) of the run: tl[], n = -1 past the last tile. */
static void FCN(wg_tiles)(FCN(wg_tile) *tl, const fc_wg_geo *q, int64_t t0, int64_t TB)
{
    const int64_t per_image = q->TH * q->TW;
    for (int64_t i = 0; i < TB; i++) {
        const int64_t t = t0 + i;
        if (t >= q->tiles) {
            tl[i] = (FCN(wg_tile)){-1, 0, 0};
            continue;
        }
        const int64_t n = t / per_image, rem = t % per_image;
        tl[i] = (FCN(wg_tile)){n, (rem / q->TW) * 4, (rem % q->TW) * 4};
    }
}

static void FCN(wg_units)(T *y, const T *x, const T *w, const T *bias, const fc_wg_geo *q, T *U, T *xp,
                          int64_t KP, int64_t TB, int flip, int accumulate, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int64_t PH = 4 * q->TH + 2, PW = 4 * q->TW + 2;
    FCN(wg_weights)(U, w, q, KP, flip);
    FCN(wg_pad)(xp, x, q, PH, PW); /* (each omp for ends with a barrier) */
    /* the 36 matrices of V and M a cache line more apart than their size: at a multiple of 4 KiB
     * (CI or K a multiple of 32) they would all map to one set of the L1 and L2 caches */
    const int64_t vx = q->CI * TB + 64 / (int64_t)sizeof(T), mx = KP * GEMM_MR * TB + 64 / (int64_t)sizeof(T);
    const size_t vb = (size_t)WG_XI * vx, mb = (size_t)WG_XI * mx;
    T *Vb = fc_scratch(FC_SCRATCH_WORK, vb * sizeof(T));
    T *Mb = fc_scratch(FC_SCRATCH_WORK2, mb * sizeof(T) + (size_t)TB * sizeof(FCN(wg_tile)));
    if (!Vb || !Mb) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    }
    FCN(wg_tile) *tl = Mb ? (FCN(wg_tile) *)(Mb + mb) : NULL;
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; b++) {
        if (!Vb || !Mb) continue;
        FCN(wg_tiles)(tl, q, b * TB, TB);
        FCN(wg_input)(Vb, xp, q, tl, TB, PH, PW, vx);
        FCN(wg_products)(Mb, U, Vb, q, KP, TB, vx, mx);
        FCN(wg_output)(y, Mb, bias, q, tl, KP, TB, mx, accumulate);
    }
    fc_fp_leave(fp);
}

static int FCN(wg_run)(T *y, const T *x, const T *w, const T *bias, fc_wg_geo q, int flip, int accumulate,
                       int nthreads)
{
    q.TH = FC_CEIL_DIV(q.OH, 4);
    q.TW = FC_CEIL_DIV(q.OW, 4);
    q.tiles = q.N * q.TH * q.TW;
    const int64_t KP = FC_CEIL_DIV(q.KO, GEMM_MR);
    /* TB: a multiple of NR (and so of VL) whose V and M fit the block's cache budget */
    const int64_t per_tile = (int64_t)WG_XI * (q.CI + KP * GEMM_MR) * (int64_t)sizeof(T);
    int64_t TB = FC_MAX(1, FC_WG_BLOCK_BYTES / per_tile / GEMM_NR) * GEMM_NR;
    TB = FC_MIN(TB, 4 * GEMM_NR);
    TB = FC_MIN(TB, FC_ROUND_UP(q.tiles, GEMM_NR));
    /* shared: the transformed weights, then the padded input */
    const size_t ue = (size_t)WG_XI * FCN(wg_ux)(KP, q.CI),
                 xe = (size_t)q.N * q.CI * (4 * q.TH + 2) * (4 * q.TW + 2) + 16; /* + slack: rows read whole */
    T *U = fc_scratch(FC_SCRATCH_SHARED, (ue + xe) * sizeof(T));
    if (!U) return FC_ERR_NOMEM;
    const int nt = fc_resolve_threads(nthreads);
    const int64_t blocks = FC_CEIL_DIV(q.tiles, TB);
    int err = 0;
    FC_TEAM(blocks < nt ? (int)blocks : nt, FCN(wg_units)(y, x, w, bias, &q, U, U + ue, KP, TB, flip, accumulate, &err));
    return err;
}

static int FCN(conv_winograd_forward)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g,
                                      int nthreads)
{
    fc_wg_geo q = {g->N, g->C, g->H, g->W, g->K, g->P, g->Q, g->pad_h, g->pad_w, 0, 0, 0};
    return FCN(wg_run)(y, x, w, bias, q, 0, 0, nthreads);
}

/* dx += the correlation of dy with w rotated and transposed, padding 2 - pad */
static int FCN(conv_winograd_backward_input)(T *dx, const T *dy, const T *w, const fc_conv_geom *g, int nthreads)
{
    fc_wg_geo q = {g->N, g->K, g->P, g->Q, g->C, g->H, g->W, 2 - g->pad_h, 2 - g->pad_w, 0, 0, 0};
    return FCN(wg_run)(dx, dy, w, NULL, q, 1, 1, nthreads);
}
