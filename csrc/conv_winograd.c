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
 * into lanes, its 4x4 outputs stored from them).  A forward or input
 * gradient over few tiles (64 or fewer; 128 from 256 input channels) runs
 * in conv_winograd_k.c instead: output channels as the lanes, the weights
 * transformed in the registers (conv_winograd_k.c, wgk_takes).
 *
 * The input gradient of such a layer is the same correlation of dy with
 * the kernel rotated by 180 degrees and its channel axes swapped, with
 * padding 2 - pad (needs pad <= 2): the same code, weights read flipped.
 * The weight gradient: at the end of this file.
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

/* G g for one row or column g0 g1 g2 of a filter: its 6 transformed values, in double (the rows of
 * G for the points 0, 1, -1, 1/2, -2 and infinity) */
static inline void fc_wg_g(double g0, double g1, double g2, double o[6])
{
    const double third = 1.0 / 3, fifteenth = 1.0 / 15;
    o[0] = g0;
    o[1] = (g0 + g1 + g2) * third;
    o[2] = (g1 - g0 - g2) * third;
    o[3] = -(16 * g0 + 8 * g1 + 4 * g2) * fifteenth;
    o[4] = (g0 - 2 * g1 + 4 * g2) * fifteenth;
    o[5] = g2;
}
#endif

/* Elements between U's matrices U_xi: a cache line more than one holds.
 * At a multiple of 4 KiB (CI a multiple of 16) the 36 streams of stores of
 * the weight transform all map to one set of the L1 cache: 74% of a
 * 512 x 512 layer's time.  V and M below are spaced the same way. */
static inline int64_t FCN(wg_ux)(int64_t KP, int64_t CI) { return KP * CI * GEMM_MR + 64 / (int64_t)sizeof(T); }

#if GEMM_MR == 8
typedef double FCN(d8) __attribute__((vector_size(8 * sizeof(double))));

/* wg_weight_panel for a panel of 8 output channels, all of them real: the 8 x 9 filter taps read
 * as an 8 x 8 block through the register transpose and a last column, the arithmetic on vectors
 * of the 8 channels in double (the same operations as below, lane by lane).  Loaded one by one
 * into a spilled array, the taps made the transform half of VGG's conv5_2 at batch 1 (3.0-3.6 ->
 * 2.3-2.4 ms; torch 4.6-5.0). */
static void FCN(wg_weight_panel8)(T *U, int64_t ux, const T *w, const fc_wg_geo *q, int64_t kp, int64_t ci,
                                  int64_t kpu, int flip)
{
    typedef FCN(d8) D8;
    typedef FCN(v8) W8;
    const int64_t CI = q->CI, KO = q->KO, ko0 = kp * 8;
    /* channel l's taps in memory order m at base[l ls + m]: tap (r, c) is m = 3 r + c, or
     * rotated by 180 degrees, 8 - (3 r + c) */
    const T *base = flip ? w + (ci * KO + ko0) * 9 : w + (ko0 * CI + ci) * 9;
    const int64_t ls = flip ? 9 : CI * 9;
    T tr[64] __attribute__((aligned(64)));
    FCN(transpose8)(tr, 8, base, ls);
    D8 g[9], last;
    for (int m = 0; m < 8; m++) {
        W8 v;
        memcpy(&v, tr + 8 * m, sizeof v);
        g[flip ? 8 - m : m] = __builtin_convertvector(v, D8);
    }
    for (int l = 0; l < 8; l++) last[l] = (double)base[l * ls + 8];
    g[flip ? 0 : 8] = last;
    const double th = 1.0 / 3, fi = 1.0 / 15;
    /* G's rows, as fc_wg_g's (the same rounding: U bit for bit as before; with the common terms
     * taken once, 10 operations instead of 14, it ran no faster) */
#define WG_GV(o, a0, a1, a2)                                          \
    do {                                                              \
        const D8 g0 = (a0), g1 = (a1), g2 = (a2);                     \
        o[0] = g0;                                                    \
        o[1] = (g0 + g1 + g2) * th;                                   \
        o[2] = (g1 - g0 - g2) * th;                                   \
        o[3] = -(16 * g0 + 8 * g1 + 4 * g2) * fi;                     \
        o[4] = (g0 - 2 * g1 + 4 * g2) * fi;                           \
        o[5] = g2;                                                    \
    } while (0)
    D8 t[3][6]; /* t = G g: column c of t, rows 0..5 */
    for (int c = 0; c < 3; c++) WG_GV(t[c], g[c], g[3 + c], g[6 + c]);
    for (int a = 0; a < 6; a++) { /* u = t G^T: row a */
        D8 u[6];
        WG_GV(u, t[0][a], t[1][a], t[2][a]);
        for (int b = 0; b < 6; b++) {
            const W8 o = __builtin_convertvector(u[b], W8);
            memcpy(U + (a * 6 + b) * ux + (kpu * CI + ci) * 8, &o, sizeof o);
        }
    }
#undef WG_GV
}
#endif

/* Input channel ci of panel kp's MR output channels (ko = kp MR + i) into U[xi][kpu][ci][i]
 * (matrices U_xi ux apart): (G g G^T)[xi] in double, zero for ko past KO; g = w[ko][ci] or,
 * flipped, w[ci][ko] rotated by 180 degrees.  The output channels are the lanes of the innermost
 * loops, which the compiler vectorises (one pair at a time, a 512 x 512 layer's weights took 3 ms
 * a thread), and MR contiguous elements of each plane of U. */
static void FCN(wg_weight_panel)(T *U, int64_t ux, const T *w, const fc_wg_geo *q, int64_t kp, int64_t ci,
                                 int64_t kpu, int flip)
{
    const int64_t CI = q->CI, KO = q->KO;
#if GEMM_MR == 8
    if (kp * 8 + 8 <= KO) {
        FCN(wg_weight_panel8)(U, ux, w, q, kp, ci, kpu, flip);
        return;
    }
#endif
    double g[9][GEMM_MR], t[18][GEMM_MR], u[WG_XI][GEMM_MR];
    for (int l = 0; l < GEMM_MR; l++) {
        const int64_t ko = kp * GEMM_MR + l;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                g[r * 3 + c][l] = ko >= KO ? 0.0
                                  : flip   ? (double)w[(ci * KO + ko) * 9 + (2 - r) * 3 + (2 - c)]
                                           : (double)w[(ko * CI + ci) * 9 + r * 3 + c];
    }
    /* t = G g (6 x 3), then u = t G^T (6 x 6) */
    for (int l = 0; l < GEMM_MR; l++) {
        double o[6];
        for (int c = 0; c < 3; c++) {
            fc_wg_g(g[c][l], g[3 + c][l], g[6 + c][l], o);
            for (int k = 0; k < 6; k++) t[c + 3 * k][l] = o[k];
        }
        for (int a = 0; a < 6; a++) {
            fc_wg_g(t[a * 3][l], t[a * 3 + 1][l], t[a * 3 + 2][l], o);
            for (int k = 0; k < 6; k++) u[a * 6 + k][l] = o[k];
        }
    }
    for (int xi = 0; xi < WG_XI; xi++) {
        T *dst = U + xi * ux + (kpu * CI + ci) * GEMM_MR;
        for (int l = 0; l < GEMM_MR; l++) dst[l] = (T)u[xi][l];
    }
}

/* All of U (KP panels), the team sharing the panels' input channels.  A call transforms one input
 * channel's weights for a panel's MR output channels, the lanes of its arithmetic: its 36 values
 * per lane are MR contiguous elements in each of U's planes (one output channel per call wrote
 * each element apart, in MR visits to each cache line: 39 % of VGG's conv5_2 at batch 1). */
static void FCN(wg_weights)(T *U, const T *w, const fc_wg_geo *q, int64_t KP, int flip)
{
    const int64_t CI = q->CI, ux = FCN(wg_ux)(KP, CI);
#pragma omp for schedule(static)
    for (int64_t job = 0; job < KP * CI; job++) FCN(wg_weight_panel)(U, ux, w, q, job / CI, job % CI, job / CI, flip);
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

/* The tile panel width: the micro-kernel's NR, or one vector for a run of
 * at most VL tiles (TB = VL: ResNet-18's 256 @14 at batch 1 has 16 tiles,
 * and a 32-wide panel would multiply 16 columns of zeros). */
static inline int64_t FCN(wg_pw)(int64_t TB) { return TB < GEMM_NR ? VL : GEMM_NR; }

/* c[MR x VL] = sum_k a[k][:] (x) b[k][:]: the micro-kernel one vector wide */
static void FCN(wg_ukr1)(int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc)
{
    V acc[GEMM_MR];
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) acc[i] = (V){0};
    for (int64_t k = 0; k < kc; k++) {
        const V bv = *(const V *)(b + k * VL);
#pragma GCC unroll 16
        for (int i = 0; i < GEMM_MR; i++) acc[i] += FCN(splat)(a[k * GEMM_MR + i]) * bv;
    }
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) FCN(storeu)(c + i * ldc, acc[i]);
}

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

/* off[t] = where tile t of a block starts in a padded tensor of images `image` elements apart and
 * rows `pitch` apart; returns the block's number of tiles (the last block may have fewer). */
static int64_t FCN(wg_offsets)(int64_t *off, const FCN(wg_tile) *tl, int64_t TB, int64_t image, int64_t pitch)
{
    int64_t tiles = 0;
    for (; tiles < TB && tl[tiles].n >= 0; tiles++) off[tiles] = tl[tiles].n * image + tl[tiles].p0 * pitch + tl[tiles].c0;
    return tiles;
}

/* One channel's 6x6 input tiles of `lanes` tiles (lane l at base + off[l], rows PW apart; the
 * other lanes zero) copied into lanes d[xi][l], 8 tiles at a time by register transposes, and
 * transformed in place (B^T d B); returns the 36 vectors. */
static inline V *FCN(wg_tile_inputs)(T *d, const T *base, const int64_t *off, int lanes, int64_t PW)
{
    int l0 = 0;
    for (; l0 + 8 <= lanes; l0 += 8)
        for (int i = 0; i < 6; i++) {
            const T *row[8];
            for (int k = 0; k < 8; k++) row[k] = base + off[l0 + k] + i * PW;
            FCN(transpose8_rows)(d + i * 6 * VL + l0, VL, row, 6);
        }
    for (int l = l0; l < lanes; l++) {
        const T *src = base + off[l];
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) d[(i * 6 + j) * VL + l] = src[i * PW + j];
    }
    for (int l = lanes; l < VL; l++)
        for (int xi = 0; xi < WG_XI; xi++) d[xi * VL + l] = 0;
    V *v = (V *)d;
    for (int j = 0; j < 6; j++) FCN(wg_bt)(v + j, 6); /* columns: B^T d */
    for (int i = 0; i < 6; i++) FCN(wg_bt)(v + i * 6, 1); /* rows: (B^T d) B */
    return v;
}

/* The block's inputs transformed: Vb[xi][tile panel][ci][NR] (the xi at
 * stride vx).  Each tile's 6x6 inputs go into lanes d[xi][l] (wg_tile_inputs:
 * 8 tiles' rows at a time by gemm.c's 8x8 register transposes, 6 of the 8
 * columns kept), then are transformed along VL tiles at once.  Measured on
 * Zen 4 (C3, one thread): element by element 5.1 ms; AVX-512 gathers 2x
 * slower, the copies double-buffered the same; the 8x8 transposes 3-6 %
 * faster on C1, C3 and ResNet-18's layer3 (two threads; an earlier
 * transpose of whole rows was 1.2x slower).  Channels outer: the block's
 * tiles lie close together, so one plane's rows serve every lane group
 * before the next plane. */
static void FCN(wg_input)(T *restrict Vb, const T *xp, const fc_wg_geo *q, const FCN(wg_tile) *tl, int64_t TB,
                          int64_t PH, int64_t PW, int64_t vx, int64_t ci0, int64_t ci1)
{
    const int64_t CI = q->CI, plane = PH * PW, pw = FCN(wg_pw)(TB);
    int64_t off[4 * GEMM_NR]; /* TB <= 4 NR (wg_run) */
    const int64_t tiles = FCN(wg_offsets)(off, tl, TB, CI * plane, PW);
    T d[WG_XI * VL] __attribute__((aligned(64)));
    for (int64_t ci = ci0; ci < ci1; ci++) {
        const T *base = xp + ci * plane;
        for (int64_t t0 = 0; t0 < TB; t0 += VL) {
            const int64_t tp = t0 / pw, lo = t0 % pw;
            const V *v = FCN(wg_tile_inputs)(d, base, off + t0, (int)FC_MAX(0, FC_MIN(VL, tiles - t0)), PW);
            for (int xi = 0; xi < WG_XI; xi++) *(V *)(Vb + xi * vx + (tp * CI + ci) * pw + lo) = v[xi];
        }
    }
}

/* The block's products M_xi = U_xi V_xi for xi < nxi (KP panels of U, CI rows of V):
 * Mb[xi][KP * MR][TB]. */
static void FCN(wg_products)(T *restrict Mb, const T *U, int64_t ux, const T *Vb, int nxi, int64_t CI, int64_t KP,
                             int64_t TB, int64_t vx, int64_t mx)
{
    const int64_t pw = FCN(wg_pw)(TB), npanels = TB / pw;
    for (int xi = 0; xi < nxi; xi++)
        for (int64_t tp = 0; tp < npanels; tp++) {
            const T *b = Vb + xi * vx + tp * CI * pw;
            for (int64_t kp = 0; kp < KP; kp++) {
                const T *a = U + xi * ux + kp * CI * GEMM_MR;
                T *c = Mb + xi * mx + kp * GEMM_MR * TB + tp * pw;
                if (pw == GEMM_NR)
                    FCN(gemm_ukr)(CI, a, b, c, TB, NULL, 0);
                else
                    FCN(wg_ukr1)(CI, a, b, c, TB);
            }
        }
}

/* The 4x4 output blocks r[i * 4 + j] of `lanes` tiles (lane l of each vector) into output channel
 * ko of y (=, or += where accumulating), the rows and columns past the map's left out; o: a
 * buffer of 16 VL. */
static inline void FCN(wg_store_blocks)(T *y, const V *r, T *o, const FCN(wg_tile) *lt, int lanes,
                                        const fc_wg_geo *q, int64_t ko, int accumulate)
{
    const int64_t KO = q->KO, OH = q->OH, OW = q->OW;
    for (int e = 0; e < 16; e++) *(V *)(o + e * VL) = r[e];
    int l = 0;
    /* 8 whole blocks at a time: their 16 elements into rows by two register transposes, stored 4
     * at a time (instead of 128 scalar stores) */
    for (; !accumulate && l + 8 <= lanes; l += 8) {
        int whole = 1;
        for (int k = 0; k < 8; k++) whole = whole && lt[l + k].p0 + 4 <= OH && lt[l + k].c0 + 4 <= OW;
        if (!whole) break;
        T tb[8 * 16] __attribute__((aligned(64)));
        for (int h = 0; h < 2; h++) {
            const T *row[8];
            for (int i = 0; i < 8; i++) row[i] = o + (8 * h + i) * VL + l;
            FCN(transpose8_rows)(tb + 8 * h, 16, row, 8);
        }
        for (int k = 0; k < 8; k++) {
            T *dst = y + ((lt[l + k].n * KO + ko) * OH + lt[l + k].p0) * OW + lt[l + k].c0;
            for (int i = 0; i < 4; i++) memcpy(dst + i * OW, tb + k * 16 + 4 * i, 4 * sizeof(T));
        }
    }
    for (; l < lanes; l++) {
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

/* Output channels [ko0, ko1) of the block's tiles from M: y (=, plus bias, or +=) the 4x4 block of
 * each tile. */
static void FCN(wg_output)(T *y, const T *Mb, const T *bias, const fc_wg_geo *q, const FCN(wg_tile) *tl,
                           int64_t TB, int64_t mx, int64_t ko0, int64_t ko1, int accumulate)
{
    T o[16 * VL] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < TB; t0 += VL) {
        const FCN(wg_tile) *lt = tl + t0;
        int lanes = 0;
        while (lanes < VL && lt[lanes].n >= 0) lanes++;
        if (!lanes) break; /* the tiles past the last are at the block's end */
        for (int64_t ko = ko0; ko < ko1; ko++) { /* M's rows from ko0 */
            V m[WG_XI], s[24], r[16];
            for (int xi = 0; xi < WG_XI; xi++) m[xi] = *(const V *)(Mb + xi * mx + (ko - ko0) * TB + t0);
            for (int j = 0; j < 6; j++) FCN(wg_at)(m + j, 6, s + j, 6);  /* A^T M: 4 x 6 */
            for (int i = 0; i < 4; i++) FCN(wg_at)(s + i * 6, 1, r + i * 4, 1); /* (A^T M) A */
            if (bias && !accumulate) {
                const V b = FCN(splat)(bias[ko]);
                for (int e = 0; e < 16; e++) r[e] += b;
            }
            FCN(wg_store_blocks)(y, r, o, lt, lanes, q, ko, accumulate);
        }
    }
}

/* Tiles [t0, t0 + TB) of the run, m x m outputs each (4 here; conv_winograd_s2.c's 4 or 2): tl[],
 * n = -1 past the last tile. */
static void FCN(wg_tiles)(FCN(wg_tile) *tl, const fc_wg_geo *q, int m, int64_t t0, int64_t TB)
{
    const int64_t per_image = q->TH * q->TW;
    for (int64_t i = 0; i < TB; i++) {
        const int64_t t = t0 + i;
        if (t >= q->tiles) {
            tl[i] = (FCN(wg_tile)){-1, 0, 0};
            continue;
        }
        const int64_t n = t / per_image, rem = t % per_image;
        tl[i] = (FCN(wg_tile)){n, (rem / q->TW) * m, (rem % q->TW) * m};
    }
}

/* A thread's V (nxi matrices vx apart) and M (mx apart), then room for TB tile records: their
 * address, or NULL (and *err set) without the memory. */
static FCN(wg_tile) *FCN(wg_block_scratch)(T **Vb, T **Mb, int nxi, int64_t vx, int64_t mx, int64_t TB, int *err)
{
    *Vb = fc_scratch(FC_SCRATCH_WORK, (size_t)nxi * vx * sizeof(T));
    *Mb = fc_scratch(FC_SCRATCH_WORK2, (size_t)nxi * mx * sizeof(T) + (size_t)TB * sizeof(FCN(wg_tile)));
    if (*Vb && *Mb) return (FCN(wg_tile) *)(*Mb + (size_t)nxi * mx);
#pragma omp atomic write
    *err = FC_ERR_NOMEM;
    return NULL;
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
    T *Vb, *Mb;
    FCN(wg_tile) *tl = FCN(wg_block_scratch)(&Vb, &Mb, WG_XI, vx, mx, TB, err);
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; b++) {
        if (!tl) continue;
        FCN(wg_tiles)(tl, q, 4, b * TB, TB);
        FCN(wg_input)(Vb, xp, q, tl, TB, PH, PW, vx, 0, q->CI);
        FCN(wg_products)(Mb, U, FCN(wg_ux)(KP, q->CI), Vb, WG_XI, q->CI, KP, TB, vx, mx);
        FCN(wg_output)(y, Mb, bias, q, tl, TB, mx, 0, q->KO, accumulate);
    }
    fc_fp_leave(fp);
}

/* The run over few tiles (K-split): every tile's inputs transformed once,
 * the input channels shared out (Vall, shared), then the output channels
 * in chunks of kcp panels shared out: a chunk's U (in the thread's cache),
 * its products with Vall, its outputs.  With few tiles, blocks of tiles
 * leave threads idle, and a large layer's U (36 x its weights: 38 MB at
 * 512 x 512) would stream from memory for every block. */
static void FCN(wg_ksplit_units)(T *y, const T *x, const T *w, const T *bias, const fc_wg_geo *q, T *xp, T *Vall,
                                 int64_t KP, int64_t TB, int64_t kcp, int flip, int accumulate, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int64_t PH = 4 * q->TH + 2, PW = 4 * q->TW + 2, CI = q->CI;
    const int64_t vx = CI * TB + 64 / (int64_t)sizeof(T), ux = FCN(wg_ux)(kcp, CI);
    const int64_t mx = kcp * GEMM_MR * TB + 64 / (int64_t)sizeof(T);
    T *Uc = fc_scratch(FC_SCRATCH_WORK, (size_t)WG_XI * ux * sizeof(T));
    T *Mc = fc_scratch(FC_SCRATCH_WORK2, (size_t)WG_XI * mx * sizeof(T) + (size_t)TB * sizeof(FCN(wg_tile)));
    if (!Uc || !Mc) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    }
    FCN(wg_tile) *tl = Mc ? (FCN(wg_tile) *)(Mc + (size_t)WG_XI * mx) : NULL;
    if (tl) FCN(wg_tiles)(tl, q, 4, 0, TB);
    FCN(wg_pad)(xp, x, q, PH, PW);
#pragma omp for schedule(static)
    for (int64_t ci = 0; ci < CI; ci++)
        if (tl) FCN(wg_input)(Vall, xp, q, tl, TB, PH, PW, vx, ci, ci + 1);
    const int64_t chunks = FC_CEIL_DIV(KP, kcp);
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; c++) {
        if (!Uc || !Mc) continue;
        const int64_t kp0 = c * kcp, np = FC_MIN(kcp, KP - kp0);
        for (int64_t kp = kp0; kp < kp0 + np; kp++)
            for (int64_t ci = 0; ci < CI; ci++) FCN(wg_weight_panel)(Uc, ux, w, q, kp, ci, kp - kp0, flip);
        FCN(wg_products)(Mc, Uc, ux, Vall, WG_XI, CI, np, TB, vx, mx);
        FCN(wg_output)(y, Mc, bias, q, tl, TB, mx, kp0 * GEMM_MR, FC_MIN(q->KO, (kp0 + np) * GEMM_MR), accumulate);
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
    const int nt = fc_resolve_threads(nthreads);
    /* the padded input (+ slack, and rounded to whole cache lines: Vall follows it) */
    const size_t xe = FC_ROUND_UP((size_t)q.N * q.CI * (4 * q.TH + 2) * (4 * q.TW + 2) + 16, 64 / sizeof(T));
    const size_t ue = (size_t)WG_XI * FCN(wg_ux)(KP, q.CI);
    /* TB: a multiple of NR (and so of VL) whose V and M fit the block's cache budget */
    const int64_t per_tile = (int64_t)WG_XI * (q.CI + KP * GEMM_MR) * (int64_t)sizeof(T);
    int64_t TB = FC_MAX(1, FC_WG_BLOCK_BYTES / per_tile / GEMM_NR) * GEMM_NR;
    TB = FC_MIN(TB, 4 * GEMM_NR);
    TB = FC_MIN(TB, FC_ROUND_UP(q.tiles, GEMM_NR));
    const int64_t blocks = FC_CEIL_DIV(q.tiles, TB);
    const int64_t all = q.tiles <= VL ? VL : FC_ROUND_UP(q.tiles, GEMM_NR); /* (FCN(wg_pw)) */
    int err = 0;
    /* few tiles (fewer blocks than two per thread), or a U past the caches: the K-split */
    if (all <= 4 * GEMM_NR && KP >= 2 && (blocks < 2 * nt || ue * sizeof(T) > ((size_t)8 << 20))) {
        /* chunks of output channels whose U stays within ~1.5 MB, two or more per thread */
        int64_t kcp = FC_MAX(1, ((int64_t)3 << 19) / ((int64_t)WG_XI * q.CI * GEMM_MR * (int64_t)sizeof(T)));
        kcp = FC_MIN(kcp, FC_MAX(1, KP / (2 * nt)));
        const size_t ve = (size_t)WG_XI * (q.CI * all + 64 / sizeof(T));
        T *xp = fc_scratch(FC_SCRATCH_SHARED, (xe + ve) * sizeof(T));
        if (!xp) return FC_ERR_NOMEM;
        FC_TEAM(nt, FCN(wg_ksplit_units)(y, x, w, bias, &q, xp, xp + xe, KP, all, kcp, flip, accumulate, &err));
        return err;
    }
    /* shared: the transformed weights, then the padded input */
    T *U = fc_scratch(FC_SCRATCH_SHARED, (ue + xe) * sizeof(T));
    if (!U) return FC_ERR_NOMEM;
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

/* ---- weight gradient --------------------------------------------------------
 * y = A^T [(G g G^T) .* V] A is linear in g, so over a layer's tiles
 *     dW[k][c] = G^T [ sum_t (A dY_t A^T) .* V_t ] G:
 * the output gradient's 4x4 tiles transformed to 6x6 (Z = A dY A^T), the
 * inputs' 6x6 tiles as in the forward (V = B^T d B), then per position xi a
 * product summed over tiles, dU_xi[k][c] = sum_t Z_xi[k][t] V_xi[c][t], and
 * G^T dU G for each pair.  Tiles go in blocks: the team transforms a block
 * (rows of Z and V shared out), then multiplies it (the 36 positions shared
 * out, each thread adding into its positions of dU). */

/* A applied to 4 values (stride s) giving 6 (stride o): the transpose of A^T */
static inline void FCN(wg_a)(const V *d, int s, V *z, int o)
{
    const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s];
    const V p02 = d0 + d2, p13 = d1 + d3;
    z[0] = d0;
    z[o] = p02 + p13;
    z[2 * o] = p02 - p13;
    z[3 * o] = d0 + FCN(splat)((T)0.5) * d1 + FCN(splat)((T)0.25) * d2 + FCN(splat)((T)0.125) * d3;
    z[4 * o] = d0 - FCN(splat)(2) * d1 + FCN(splat)(4) * d2 - FCN(splat)(8) * d3;
    z[5 * o] = d3;
}

/* Rows [r0, r1) of the block's transforms, row-major over the block's tiles:
 * rows < CI are V's (input channel r), the rest Z's (output channel r - CI).
 * V: Vb[xi][ci][TB] from the padded input xp (tiles at offx); Z: Zb[xi][ko][TB] from the
 * padded output gradient dp (N, KO, 4 TH, 4 TW; tiles at offd). */
static void FCN(wg_wgrad_rows)(T *Vb, T *Zb, int64_t vx, int64_t zx, const T *xp, const T *dp, const fc_wg_geo *q,
                               const int64_t *offx, const int64_t *offd, int64_t tiles, int64_t TB, int64_t r0,
                               int64_t r1)
{
    const int64_t CI = q->CI, PW = 4 * q->TW + 2, DW = 4 * q->TW;
    const int64_t xplane = (4 * q->TH + 2) * PW, dplane = 4 * q->TH * DW;
    T d[WG_XI * VL] __attribute__((aligned(64)));
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t t0 = 0; t0 < TB; t0 += VL) {
            const int lanes = (int)FC_MAX(0, FC_MIN(VL, tiles - t0));
            if (r < CI) {
                const V *v = FCN(wg_tile_inputs)(d, xp + r * xplane, offx + t0, lanes, PW);
                for (int xi = 0; xi < WG_XI; xi++) *(V *)(Vb + xi * vx + r * TB + t0) = v[xi];
            } else {
                const int64_t ko = r - CI;
                const T *base = dp + ko * dplane;
                for (int l = 0; l < lanes; l++) {
                    const T *src = base + offd[t0 + l];
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) d[(i * 4 + j) * VL + l] = src[i * DW + j];
                }
                for (int l = lanes; l < VL; l++)
                    for (int e = 0; e < 16; e++) d[e * VL + l] = 0;
                const V *dv = (const V *)d;
                V t6[24], z[WG_XI];
                for (int j = 0; j < 4; j++) FCN(wg_a)(dv + j, 4, t6 + j, 4);      /* A dY: 6 x 4 */
                for (int a = 0; a < 6; a++) FCN(wg_a)(t6 + a * 4, 1, z + a * 6, 1); /* (A dY) A^T */
                for (int xi = 0; xi < WG_XI; xi++) *(V *)(Zb + xi * zx + ko * TB + t0) = z[xi];
            }
        }
    }
}

static void FCN(wg_wgrad_units)(T *dw, const T *dy, const T *x, const fc_wg_geo *q, T *xp, T *dp, T *Vb, T *Zb,
                                T *dU, int64_t TB, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int64_t CI = q->CI, KO = q->KO, PH = 4 * q->TH + 2, PW = 4 * q->TW + 2;
    const int64_t vx = CI * TB + 64 / (int64_t)sizeof(T), zx = KO * TB + 64 / (int64_t)sizeof(T);
    const int64_t ux = KO * CI + 64 / (int64_t)sizeof(T);
    /* the block's tiles, and where they start in the padded input and output gradient */
    FCN(wg_tile) *tl = fc_scratch(FC_SCRATCH_WORK, (size_t)TB * (sizeof(FCN(wg_tile)) + 2 * sizeof(int64_t)));
    if (!tl) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    }
    int64_t *offx = tl ? (int64_t *)(tl + TB) : NULL, *offd = tl ? offx + TB : NULL;
    FCN(wg_pad)(xp, x, q, PH, PW);
    /* the output gradient with the tile grid's padding: (N, KO, 4 TH, 4 TW), zero past P, Q */
    fc_wg_geo qd = *q;
    qd.CI = KO;
    qd.IH = q->OH;
    qd.IW = q->OW;
    qd.pt = qd.pl = 0;
    FCN(wg_pad)(dp, dy, &qd, 4 * q->TH, 4 * q->TW);
#pragma omp for schedule(static)
    for (int64_t e = 0; e < (int64_t)WG_XI * ux; e++) dU[e] = 0;
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
    for (int64_t b = 0; b < blocks; b++) {
        int64_t tiles = 0;
        if (tl) {
            FCN(wg_tiles)(tl, q, 4, b * TB, TB);
            tiles = FCN(wg_offsets)(offx, tl, TB, CI * PH * PW, PW);
            FCN(wg_offsets)(offd, tl, TB, KO * 16 * q->TH * q->TW, 4 * q->TW);
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t r = 0; r < CI + KO; r++)
            if (tl) FCN(wg_wgrad_rows)(Vb, Zb, vx, zx, xp, dp, q, offx, offd, tiles, TB, r, r + 1);
#pragma omp for schedule(dynamic, 1)
        for (int64_t xi = 0; xi < WG_XI; xi++) {
            /* dU_xi (KO x CI) += Z_xi (KO x TB) V_xi^T (TB x CI) */
            FCN(strided) am = {Zb + xi * zx, TB, 1}, bm = {Vb + xi * vx, TB, 1};
            FCN(gemm_op) op = {
                .M = KO, .N = CI, .K = TB,
                .pack_a = FCN(pack_a_strided), .a_ctx = &am,
                .pack_b = FCN(pack_b_strided), .b_ctx = &bm,
                .c = dU + xi * ux, .ldc = CI, .seg_len = CI, .seg_stride = 0, .bias = NULL, .accumulate = 1,
            };
            if (FCN(gemm_serial)(&op, NULL) != FC_OK) {
#pragma omp atomic write
                *err = FC_ERR_NOMEM;
            }
        }
    }
    /* dW[k][c] += G^T dU[k][c] G, in double */
    const double third = 1.0 / 3, fifteenth = 1.0 / 15;
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < KO * CI; pair++) {
        double u[WG_XI], t[18];
        for (int xi = 0; xi < WG_XI; xi++) u[xi] = (double)dU[xi * ux + pair];
        /* G^T along the rows (a), then along the columns (b): G^T u for 6 values u_a */
#define WG_GT(o, os, u0, u1, u2, u3, u4, u5)                                                      \
        do {                                                                                      \
            (o)[0] = (u0) + ((u1) - (u2)) * third - 16 * (u3) * fifteenth + (u4) * fifteenth;      \
            (o)[os] = ((u1) + (u2)) * third - 8 * (u3) * fifteenth - 2 * (u4) * fifteenth;         \
            (o)[2 * (os)] = ((u1) - (u2)) * third - 4 * (u3) * fifteenth + 4 * (u4) * fifteenth + (u5); \
        } while (0)
        for (int b = 0; b < 6; b++) /* t[r][b] = sum_a G[a][r] u[a][b] */
            WG_GT(t + b, 6, u[b], u[6 + b], u[12 + b], u[18 + b], u[24 + b], u[30 + b]);
        double o[9];
        for (int r = 0; r < 3; r++) /* o[r][s] = sum_b t[r][b] G[b][s] */
            WG_GT(o + r * 3, 1, t[r * 6], t[r * 6 + 1], t[r * 6 + 2], t[r * 6 + 3], t[r * 6 + 4], t[r * 6 + 5]);
#undef WG_GT
        T *dst = dw + pair * 9;
        for (int e = 0; e < 9; e++) dst[e] += (T)o[e];
    }
    fc_fp_leave(fp);
}

/* dw += the weight gradient of a Winograd-shaped layer */
static int FCN(conv_winograd_backward_weight)(T *dw, const T *dy, const T *x, const fc_conv_geom *g, int nthreads)
{
    fc_wg_geo q = {g->N, g->C, g->H, g->W, g->K, g->P, g->Q, g->pad_h, g->pad_w, 0, 0, 0};
    q.TH = FC_CEIL_DIV(q.OH, 4);
    q.TW = FC_CEIL_DIV(q.OW, 4);
    q.tiles = q.N * q.TH * q.TW;
    /* tiles per block: V and Z of a block within about 6 MB, a whole number of vectors */
    int64_t TB = ((int64_t)6 << 20) / ((int64_t)WG_XI * (q.CI + q.KO) * (int64_t)sizeof(T)) / VL * VL;
    TB = FC_MAX(VL, FC_MIN(TB, 1024));
    TB = FC_MIN(TB, FC_ROUND_UP(q.tiles, VL));
    const int64_t line = 64 / (int64_t)sizeof(T);
    const size_t xe = FC_ROUND_UP((size_t)q.N * q.CI * (4 * q.TH + 2) * (4 * q.TW + 2), (size_t)line);
    const size_t de = FC_ROUND_UP((size_t)q.N * q.KO * (4 * q.TH) * (4 * q.TW), (size_t)line);
    const size_t ve = (size_t)WG_XI * (q.CI * TB + line), ze = (size_t)WG_XI * (q.KO * TB + line);
    const size_t ue = (size_t)WG_XI * (q.KO * q.CI + line);
    T *xp = fc_scratch(FC_SCRATCH_SHARED, (xe + de + ve + ze + ue) * sizeof(T));
    if (!xp) return FC_ERR_NOMEM;
    T *dp = xp + xe, *Vb = dp + de, *Zb = Vb + ve, *dU = Zb + ze;
    int err = 0;
    FC_TEAM(fc_resolve_threads(nthreads), FCN(wg_wgrad_units)(dw, dy, x, &q, xp, dp, Vb, Zb, dU, TB, &err));
    return err;
}
