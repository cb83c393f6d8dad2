/* Convolution as GEMM with implicit im2col   (template, see internal.h)
 *
 * Per group g, with flat output positions j = (n * P + p) * Q + q and
 * reduction rows kappa = (c * R + r) * S + s of the group's channels:
 *   forward          y_g[K/G, j]       = w_g[K/G, kappa] col(x_g)[kappa, j] + bias
 *   backward weight  dw_g[K/G, kappa] += dy_g[K/G, j] col(x_g)[kappa, j]^T
 *   backward input   dcol[kappa, j]    = w_g^T dy_g, then col2im adds it into dx
 * col(x) is never formed: the GEMM's pack callbacks read the image directly
 * (zero where the window leaves the padded input), so the temporary memory
 * is the GEMM's packed panels, a few hundred KiB whatever the input size.
 */

#ifndef FC_IM2COL_COMMON
#define FC_IM2COL_COMMON
#include "conv_common.h"
/* col2im tile of the input gradient: dcol (rows x cols) stays in L2; four times that where dcol
 * is added into phase planes (fewer passes of W^T over the columns: 6 % of ResNet-18's 3x3/2
 * layers 2 and 3 at batch 8, one thread; 8 and 16 times no better) */
#define FC_DCOL_TILE_ELEMS (64 * 1024)
#define FC_DCOL_TILE_PHASED (256 * 1024)
/* The phase planes of a strided layer's input (x for the forward, dx for the input gradient): it
 * zero-padded to the Hn x Wn its windows cover and split by the stride into sh x sw planes of
 * Hp x Wp, chan elements a channel.  Tap (r, s) of output (p, q) is plane ((r dh) % sh, (s dw) % sw)
 * at (p + r dh / sh, q + s dw / sw): fc_phase_tap its offset in a channel's planes. */
#define FC_PHASE_MAX_STRIDE 16
typedef struct fc_phase_shape {
    int64_t Hn, Wn, Hp, Wp, hw, chan;
} fc_phase_shape;

/* Whether the planes are about the input's size (not for hostile strides or paddings, whose planes
 * would be mostly padding: sizes in double, no overflow); fills ps where they are */
static inline int fc_phase_shape_init(fc_phase_shape *ps, const fc_conv_geom *g)
{
    const int64_t sh = g->stride_h, sw = g->stride_w;
    const double Hn = (double)(g->P - 1) * (double)sh + (double)(g->R - 1) * (double)g->dil_h + 1;
    const double Wn = (double)(g->Q - 1) * (double)sw + (double)(g->S - 1) * (double)g->dil_w + 1;
    const double chan = (double)sh * (double)sw * ceil(Hn / (double)sh) * ceil(Wn / (double)sw);
    if (sh > FC_PHASE_MAX_STRIDE || sw > FC_PHASE_MAX_STRIDE || chan > 4.0 * (double)g->H * (double)g->W + 65536)
        return 0;
    ps->Hn = (int64_t)Hn;
    ps->Wn = (int64_t)Wn;
    ps->Hp = FC_CEIL_DIV(ps->Hn, sh);
    ps->Wp = FC_CEIL_DIV(ps->Wn, sw);
    ps->hw = ps->Hp * ps->Wp;
    ps->chan = sh * sw * ps->hw;
    return 1;
}

static inline int64_t fc_phase_tap(const fc_phase_shape *ps, const fc_conv_geom *g, int64_t r, int64_t t)
{
    const int64_t vr = r * g->dil_h, vs = t * g->dil_w, sh = g->stride_h, sw = g->stride_w;
    return ((vr % sh) * sw + vs % sw) * ps->hw + vr / sh * ps->Wp + vs / sw;
}

/* A panel of the W-in-place forward: w pixels from j0 of the plan's pixel order, of class cls */
typedef struct fc_wip_panel {
    int64_t j0;
    int w, cls;
} fc_wip_panel;
/* The kinds of output rows (or columns) by the taps [lo, hi) they keep, count of each */
#define WIP_AXIS_CLASSES 4
typedef struct fc_wip_axis {
    int n;
    int64_t lo[WIP_AXIS_CLASSES], hi[WIP_AXIS_CLASSES], count[WIP_AXIS_CLASSES];
} fc_wip_axis;
#endif

typedef struct FCN(im2col_ctx) {
    const T *x;           /* first channel of the group, image 0 */
    const T *dy;          /* first channel of the group, image 0 (backward weight) */
    const fc_conv_geom *g;
    int64_t Cg;           /* channels per group */
    fc_tap_range cols;    /* valid output columns per tap s */
    /* the forward's phase planes (im2col_phases: strided layers, the plain pixel-rows GEMM): x zero-padded
     * and split by the stride, and the offsets of (channel, tap) kappa and of output pixel j's
     * window origin in them */
    const T *xs;
    const int64_t *ct, *pixoff;
    /* xs is x itself (a 1x1 layer of stride 2: wip_strided_1x1), its pixels stride_w apart along q,
     * xlen elements from xs readable (no slack of zeros past the end); 0: phase planes */
    int64_t xlen;
} FCN(im2col_ctx);

/* Copies input row `row` (or zeros when ih is outside the input) read at the
 * window position of tap s for output columns [q, q + len) to d[0 .. len)
 * with destination stride ds. */
static inline void FCN(im2col_row)(const FCN(im2col_ctx) *cx, T *d, int64_t ds, const T *plane,
                                   int64_t ih, int64_t s, int64_t q, int64_t len)
{
    const fc_conv_geom *g = cx->g;
    if (ih < 0 || ih >= g->H) {
        for (int64_t t = 0; t < len; t++) d[t * ds] = 0;
        return;
    }
    const int64_t qa = FC_MIN(FC_MAX(cx->cols.lo[s], q), q + len);
    const int64_t qb = FC_MIN(FC_MAX(cx->cols.hi[s], qa), q + len);
    /* output column qq reads input column qq * stride_w + off of the row; as
     * indices, formed only for the columns inside the row (with a large
     * padding, a pointer to output column 0's input would lie far outside x) */
    const T *row = plane + ih * g->W;
    const int64_t off = s * g->dil_w - g->pad_w;
    int64_t t = 0;
    for (; t < qa - q; t++) d[t * ds] = 0;
    if (g->stride_w == 1) {
        if (qb > qa) {
            const T *sa = row + (qa + off);
            T *da = d + (qa - q) * ds;
            const int64_t n = qb - qa;
            if (ds == 1)
                for (int64_t i = 0; i < n; i++) da[i] = sa[i];
            else
                for (int64_t i = 0; i < n; i++) da[i * ds] = sa[i];
        }
        t = qb - q;
    } else {
        for (; t < qb - q; t++) d[t * ds] = row[(q + t) * g->stride_w + off];
    }
    for (; t < len; t++) d[t * ds] = 0;
}

/* B of the forward: col(x)[kappa, j], packed in panels of GEMM_NR columns. */
static void FCN(pack_im2col)(const void *ctx, T *dst, int64_t j0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(im2col_ctx) *cx = ctx;
    const fc_conv_geom *g = cx->g;
    const int64_t RS = g->R * g->S, HW = g->H * g->W, CHW = g->C * HW;
    fc_run runs[GEMM_NR + 2];
    if (fc_conv_plain_1x1(g)) {
        /* 1x1, stride 1, no padding: column j is pixel j % HW of image j / HW, so a panel is at most
         * a few contiguous pieces of each channel's plane (row runs of Q pixels, the generic path
         * below, cost a call per run and tap: 36 % of ResNet-50's 1x1 1024 -> 256 @14 at batch 1) */
        if (n > 0 && j0 / HW == (j0 + n - 1) / HW && (double)g->N * (double)CHW * sizeof(T) > 8e6) {
            /* the panels within one image of an x from beyond the caches: step by step, each step's
             * run of n pixels (one piece of a channel's plane) read in order, panel after panel.
             * Panel by panel, each step a new line in another page, it waited on memory: the
             * packing was a third of ResNet-50's 1x1 256 -> 64 @56 at batch 4 (float64, 26 MB; now
             * 5-8 % faster, float32 too, MobileNetV2's 144 -> 24 @56 at batch 8 13-17 %).  Where x
             * stays in L3 (batch 1) the steps' stores, 32 panels apart, made it 4-8 % slower. */
            const T *src0 = cx->x + j0 / HW * CHW + k0 * HW + j0 % HW;
            const int64_t nfull = n / GEMM_NR * GEMM_NR, rest = n - nfull;
            for (int64_t kk = 0; kk < kc; kk++) {
                const T *src = src0 + kk * HW;
                T *d = dst + kk * GEMM_NR;
                for (int64_t jp = 0; jp < nfull; jp += GEMM_NR)
                    memcpy(d + jp * kc, src + jp, GEMM_NR * sizeof(T));
                if (rest) {
                    T *dr = d + nfull * kc;
                    memcpy(dr, src + nfull, (size_t)rest * sizeof(T));
                    for (int64_t t = rest; t < GEMM_NR; t++) dr[t] = 0;
                }
            }
            return;
        }
        for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
            const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp);
            for (int64_t lane = 0; lane < w;) {
                const int64_t j = j0 + jp + lane, img = j / HW, pix = j % HW, len = FC_MIN(w - lane, HW - pix);
                const T *src = cx->x + img * CHW + k0 * HW + pix;
                T *d = dst + lane;
                if (len == GEMM_NR)
                    for (int64_t kk = 0; kk < kc; kk++) memcpy(d + kk * GEMM_NR, src + kk * HW, GEMM_NR * sizeof(T));
                else
                    for (int64_t kk = 0; kk < kc; kk++)
                        memcpy(d + kk * GEMM_NR, src + kk * HW, (size_t)len * sizeof(T));
                lane += len;
            }
            if (w < GEMM_NR)
                for (int64_t kk = 0; kk < kc; kk++)
                    for (int64_t t = w; t < GEMM_NR; t++) dst[kk * GEMM_NR + t] = 0;
        }
        return;
    }
    for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp);
        const int64_t nrun = fc_split_runs(runs, j0 + jp, w, g->P, g->Q);
        int64_t c = k0 / RS, r = (k0 % RS) / g->S, s = k0 % g->S;
        for (int64_t kk = 0; kk < kc; kk++) {
            T *d = dst + kk * GEMM_NR;
            for (int64_t u = 0; u < nrun; u++) {
                const fc_run *ru = &runs[u];
                const T *plane = cx->x + ru->img * CHW + c * HW;
                const int64_t ih = ru->p * g->stride_h - g->pad_h + r * g->dil_h;
                FCN(im2col_row)(cx, d + ru->lane, 1, plane, ih, s, ru->q, ru->len);
            }
            for (int64_t t = w; t < GEMM_NR; t++) d[t] = 0;
            if (++s == g->S) {
                s = 0;
                if (++r == g->R) {
                    r = 0;
                    c++;
                }
            }
        }
    }
}

/* A of the pixel-rows forward: col(x)^T[j, kappa] in panels of GEMM_MR pixels, gathered from the
 * padded copy by offset (no bounds to test) */
static void FCN(pack_im2col_rows)(const void *ctx, T *dst, int64_t j0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(im2col_ctx) *cx = ctx;
    for (int64_t jp = 0; jp < n; jp += GEMM_MR, dst += (int64_t)GEMM_MR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_MR, n - jp);
        const T *px[GEMM_MR];
        for (int64_t t = 0; t < GEMM_MR; t++) px[t] = cx->xs + cx->pixoff[j0 + jp + FC_MIN(t, w - 1)];
        const int64_t *ct = cx->ct + k0;
        for (int64_t kk = 0; kk < kc; kk++) {
            const int64_t o = ct[kk];
#pragma GCC unroll 8
            for (int t = 0; t < GEMM_MR; t++) dst[kk * GEMM_MR + t] = px[t][o];
        }
    }
}

/* A of the backward weight: dy_g[k, j] for rows k, reduction over j. */
/* dst[kk * width + t] = src[t * ls + kk] for lanes t < w and kk < len: w rows of src, each
 * contiguous along kk, laid out lane-interleaved; 8 x 8 blocks by register transposes (element by
 * element, the 8-32 strided rows outran the prefetchers: 14 % of a weight gradient each side) */
static inline void FCN(pack_rows_t)(T *dst, int width, int64_t w, const T *src, int64_t ls, int64_t len)
{
    int64_t t = 0;
    for (; t + 8 <= w; t += 8) {
        int64_t kk = 0;
        for (; kk + 8 <= len; kk += 8) FCN(transpose8)(dst + kk * width + t, width, src + t * ls + kk, ls);
        for (; kk < len; kk++)
            for (int i = 0; i < 8; i++) dst[kk * width + t + i] = src[(t + i) * ls + kk];
    }
    for (; t < w; t++)
        for (int64_t kk = 0; kk < len; kk++) dst[kk * width + t] = src[t * ls + kk];
}

static void FCN(pack_dy_rows)(const void *ctx, T *dst, int64_t i0, int64_t m, int64_t k0, int64_t kc)
{
    const FCN(im2col_ctx) *cx = ctx;
    const fc_conv_geom *g = cx->g;
    const int64_t PQ = g->P * g->Q, KPQ = g->K * PQ;
    for (int64_t ip = 0; ip < m; ip += GEMM_MR, dst += (int64_t)GEMM_MR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_MR, m - ip);
        /* runs of j within one image are contiguous in each row of dy */
        for (int64_t kk = 0; kk < kc;) {
            const int64_t j = k0 + kk, img = j / PQ, pq = j % PQ, len = FC_MIN(kc - kk, PQ - pq);
            FCN(pack_rows_t)(dst + kk * GEMM_MR, GEMM_MR, w, cx->dy + (i0 + ip) * PQ + img * KPQ + pq, PQ, len);
            kk += len;
        }
        for (int64_t ii = w; ii < GEMM_MR; ii++)
            for (int64_t kk = 0; kk < kc; kk++) dst[kk * GEMM_MR + ii] = 0;
    }
}

/* B of the backward weight: col(x)^T[j, kappa], panels of GEMM_NR kappas. */
static void FCN(pack_im2col_t)(const void *ctx, T *dst, int64_t i0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(im2col_ctx) *cx = ctx;
    const fc_conv_geom *g = cx->g;
    const int64_t RS = g->R * g->S, HW = g->H * g->W, CHW = g->C * HW;
    if (fc_conv_plain_1x1(g)) {
        /* 1x1, stride 1, no padding: pixels j of one image are contiguous in each channel's plane */
        for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
            const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp);
            for (int64_t kk = 0; kk < kc;) {
                const int64_t j = k0 + kk, img = j / HW, pix = j % HW, len = FC_MIN(kc - kk, HW - pix);
                FCN(pack_rows_t)(dst + kk * GEMM_NR, GEMM_NR, w, cx->x + img * CHW + (i0 + jp) * HW + pix, HW, len);
                kk += len;
            }
            if (w < GEMM_NR)
                for (int64_t kk = 0; kk < kc; kk++)
                    for (int64_t t = w; t < GEMM_NR; t++) dst[kk * GEMM_NR + t] = 0;
        }
        return;
    }
    fc_run runs[GEMM_KC + 2];
    const int64_t nrun = fc_split_runs(runs, k0, kc, g->P, g->Q);
    for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp);
        int64_t kap = i0 + jp;
        int64_t c = kap / RS, r = (kap % RS) / g->S, s = kap % g->S;
        for (int64_t t = 0; t < GEMM_NR; t++) {
            T *d = dst + t;
            if (t >= w) {
                for (int64_t kk = 0; kk < kc; kk++) d[kk * GEMM_NR] = 0;
                continue;
            }
            for (int64_t u = 0; u < nrun; u++) {
                const fc_run *ru = &runs[u];
                const T *plane = cx->x + ru->img * CHW + c * HW;
                const int64_t ih = ru->p * g->stride_h - g->pad_h + r * g->dil_h;
                FCN(im2col_row)(cx, d + ru->lane * GEMM_NR, GEMM_NR, plane, ih, s, ru->q, ru->len);
            }
            if (++s == g->S) {
                s = 0;
                if (++r == g->R) {
                    r = 0;
                    c++;
                }
            }
        }
    }
}

/* B of the backward weight from the phase planes (im2col_phases): a run of pixels along an output
 * row is a contiguous piece of each kappa's plane, so 8 kappas x 8 pixels are one transposed block
 * (element by element through the bounds of each tap, as pack_im2col_t, they were a tenth of
 * ResNet-18's layer4 3x3/2 weight gradient on one thread).  Each block reads 8 elements of every
 * row: past a short run, within the planes or their slack. */
static void FCN(pack_im2col_t_phased)(const void *ctx, T *dst, int64_t i0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(im2col_ctx) *cx = ctx;
    const int64_t Q = cx->g->Q;
    for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp), w8 = w / 8 * 8;
        const int64_t *ct = cx->ct + i0 + jp;
        for (int64_t kk = 0; kk < kc;) {
            const int64_t j = k0 + kk, len = FC_MIN(kc - kk, Q - j % Q);
            const T *px = cx->xs + cx->pixoff[j];
            T *d = dst + kk * GEMM_NR;
            for (int64_t t0 = 0; t0 < w8; t0 += 8) {
                const T *row[8];
                for (int i = 0; i < 8; i++) row[i] = px + ct[t0 + i];
                for (int64_t e = 0; e < len; e += 8) {
                    FCN(transpose8_rows)(d + e * GEMM_NR + t0, GEMM_NR, row, (int)FC_MIN(8, len - e));
                    for (int i = 0; i < 8; i++) row[i] += 8;
                }
            }
            for (int64_t e = 0; e < len; e++)
                for (int64_t t = w8; t < GEMM_NR; t++) d[e * GEMM_NR + t] = t < w ? px[ct[t] + e] : (T)0;
            kk += len;
        }
    }
}

/* Few output pixels (a small map at batch 1): pixels as the GEMM's rows and output channels as its
 * columns, Y^T = col(x)^T W^T into a pixel-major buffer, then transposed into y.  Columns of
 * GEMM_NR pixels left most of a panel empty (ResNet-18's 512 @7 at batch 1: 49 pixels in 64
 * columns, the edge panel a third of the time); rows of GEMM_MR waste at most GEMM_MR - 1. */
static int FCN(im2col_pixel_rows)(int64_t npix, int64_t Kg)
{
    const int64_t cols_waste = FC_ROUND_UP(npix, GEMM_NR) - npix, rows_waste = FC_ROUND_UP(npix, GEMM_MR) - npix;
    return npix <= 4 * GEMM_NR && Kg >= 2 * GEMM_NR && 4 * cols_waste > npix && rows_waste < cols_waste;
}

/* Whether a tap reads phase (a, b) of the stride (tap rows r dh with r dh % sh == a, columns alike) */
static int FCN(im2col_phase_read)(const fc_conv_geom *g, int64_t a, int64_t b)
{
    int rows = 0, cols = 0;
    for (int64_t r = 0; r < g->R && !rows; r++) rows = (r * g->dil_h) % g->stride_h == a;
    for (int64_t t = 0; t < g->S && !cols; t++) cols = (t * g->dil_w) % g->stride_w == b;
    return rows && cols;
}

/* Phase planes of width stride 2 (fc_phase_shape): plane pl's input rows in their order, each row's
 * two phase rows (even and odd columns, from the padding's start) from one pair of vector loads by
 * two shuffles.  Element by element, a phase at a time (each row read twice, every other row at a
 * time) they took 5 % of ResNet-18's layer4 3x3/2 forward at batch 8.  rd[a][b]: whether phase
 * (a, b) is read. */
static void FCN(phases_w2)(const fc_conv_geom *g, const fc_phase_shape *ps, const T *src, T *d,
                           const int rd[][FC_PHASE_MAX_STRIDE])
{
#if defined(__GNUC__) && !defined(__clang__) /* (__builtin_shuffle: GCC's) */
    const int64_t sh = g->stride_h, Hp = ps->Hp, Wp = ps->Wp, hw = ps->hw, W = g->W;
    IV ev, od;
    for (int t = 0; t < VL; t++) {
        ev[t] = (__typeof__(ev[t]))(2 * t);
        od[t] = (__typeof__(od[t]))(2 * t + 1);
    }
    for (int64_t i = 0; i < Hp; i++)
        for (int64_t a = 0; a < sh; a++) {
            if (!rd[a][0] && !rd[a][1]) continue;
            const int64_t ih = a + sh * i - g->pad_h;
            T *d0 = d + 2 * a * hw + i * Wp, *d1 = d0 + hw;
            const T *row = src + FC_MIN(FC_MAX(ih, 0), g->H - 1) * W;
            for (int64_t j = 0; j < Wp; j += VL) {
                const int64_t o = 2 * j - g->pad_w; /* (the input column of lane 0, phase 0) */
                V lo = (V){0}, hi = (V){0};
                if (ih >= 0 && ih < g->H) {
                    lo = FCN(load_range)(row + o, -o, W - o);
                    hi = FCN(load_range)(row + o + VL, -o - VL, W - o - VL);
                }
                if (rd[a][0]) FCN(store_lanes)(d0 + j, __builtin_shuffle(lo, hi, ev), Wp - j);
                if (rd[a][1]) FCN(store_lanes)(d1 + j, __builtin_shuffle(lo, hi, od), Wp - j);
            }
        }
#else
    (void)g, (void)ps, (void)src, (void)d, (void)rd;
#endif
}

/* x in phase planes of shape ps (fc_phase_shape), xs[n][c][a][b][i][j] = xpad[n][c][a + sh i][b + sw j]:
 * a tap's window contiguous along q whatever the stride.  ct[kappa]: the offset of (channel, tap)
 * kappa of the group; pixoff[j] of output pixel j's origin.  Returns the elements per channel (the
 * phase planes), 0 if out of memory. */
static int64_t FCN(im2col_phases)(const fc_conv_geom *g, const fc_phase_shape *ps, const T *x, T **xs_out,
                                  int64_t **ct_out, int nthreads)
{
    const int64_t sh = g->stride_h, sw = g->stride_w, Cg = g->C / g->G, RS = g->R * g->S, PQ = g->P * g->Q;
    const int64_t Hp = ps->Hp, Wp = ps->Wp, hw = ps->hw, chan = ps->chan;
    /* (two vectors more, zeros: wip_pack reads two vectors from any window, pack_im2col_t_phased 8
     * elements) */
    const int64_t slack = FC_MAX(2 * VL, 8);
    T *xs = malloc((size_t)(g->N * g->C * chan + slack) * sizeof(T));
    int64_t *ct = malloc((size_t)(Cg * RS + g->N * PQ) * sizeof(int64_t));
    if (!xs || !ct) {
        free(xs);
        free(ct);
        return 0;
    }
    memset(xs + g->N * g->C * chan, 0, (size_t)slack * sizeof(T));
    const int64_t planes = g->N * g->C;
    int rd[FC_PHASE_MAX_STRIDE][FC_PHASE_MAX_STRIDE]; /* (a 1x1 layer of stride 2 reads one phase of 4) */
    for (int64_t a = 0; a < sh; a++)
        for (int64_t b = 0; b < sw; b++) rd[a][b] = FCN(im2col_phase_read)(g, a, b);
#if defined(__GNUC__) && !defined(__clang__)
    const int w2 = sw == 2;
#else
    const int w2 = 0;
#endif
    /* (the team for a copy of at least 64K elements; every element written once) */
#pragma omp parallel for schedule(static) num_threads(planes * chan >= 65536 ? nthreads : 1)
    for (int64_t pl = 0; pl < planes; pl++) {
        if (w2) {
            FCN(phases_w2)(g, ps, x + pl * g->H * g->W, xs + pl * chan, (const int (*)[FC_PHASE_MAX_STRIDE])rd);
            continue;
        }
        for (int64_t a = 0; a < sh; a++)
            for (int64_t b = 0; b < sw; b++) {
                if (!rd[a][b]) continue;
                T *d = xs + pl * chan + (a * sw + b) * hw;
                const T *src = x + pl * g->H * g->W;
                /* columns j whose iw = b + sw j - pad_w lies in [0, W) */
                const int64_t jlo = FC_MIN(Wp, FC_MAX(0, FC_CEIL_DIV(g->pad_w - b, sw)));
                const int64_t wend = g->W + g->pad_w - b;
                const int64_t jhi = FC_MAX(jlo, FC_MIN(Wp, wend > 0 ? FC_CEIL_DIV(wend, sw) : 0));
                for (int64_t i = 0; i < Hp; i++) {
                    const int64_t ih = a + sh * i - g->pad_h;
                    T *di = d + i * Wp;
                    if (ih < 0 || ih >= g->H) {
                        for (int64_t j = 0; j < Wp; j += VL) FCN(store_lanes)(di + j, (V){0}, Wp - j);
                        continue;
                    }
                    /* column j reads row[c0 + sw j], c0 + sw j >= 0 for j >= jlo (the pointer itself
                     * never moved before the row: a padding of 2^52 wrapped it, fuzz-found) */
                    const T *row = src + ih * g->W;
                    const int64_t c0 = b - g->pad_w;
                    for (int64_t j = 0; j < jlo; j++) di[j] = 0;
                    if (sw == 1 && jhi > jlo)
                        memcpy(di + jlo, row + (c0 + jlo), (size_t)(jhi - jlo) * sizeof(T));
                    else if (sw > 1)
                        for (int64_t j = jlo; j < jhi; j++) di[j] = row[c0 + sw * j];
                    for (int64_t j = jhi; j < Wp; j++) di[j] = 0;
                }
            }
    }
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t r = 0; r < g->R; r++)
            for (int64_t t = 0; t < g->S; t++) ct[(c * g->R + r) * g->S + t] = c * chan + fc_phase_tap(ps, g, r, t);
    int64_t *pixoff = ct + Cg * RS;
    for (int64_t j = 0; j < g->N * PQ; j++) pixoff[j] = j / PQ * g->C * chan + (j % PQ) / g->Q * Wp + j % g->Q;
    *xs_out = xs;
    *ct_out = ct;
    return chan;
}

/* A 1x1 layer of stride 2 along rows without padding whose W-in-place tiles read x itself: each
 * vector of pixels two vectors of an input row, permuted (wip_pack), where the phase planes were a
 * copy of the one plane of four the layer reads (a quarter of ResNet-18's layer2 1x1/2 at batch 8):
 * that layer 8-9 % faster at batch 8 (float64 1.31 -> 1.21 ms), 12-19 % at batch 1, ResNet-50's
 * 1x1/2 layers 0-14 %.  Packing the panels a channel at a time across 16 of them (each plane read
 * in order) ran no faster, nor did prefetching along the rows.  AVX-512 with GCC's shuffles only. */
static int FCN(wip_strided_1x1)(const fc_conv_geom *g)
{
#if FC_VBYTES == 64 && defined(__GNUC__) && !defined(__clang__)
    return GEMM_NV == 2 && g->R == 1 && g->S == 1 && g->pad_h == 0 && g->pad_w == 0 && g->stride_w == 2;
#else
    (void)g;
    return 0;
#endif
}

/* ct and pixoff (im2col_ctx) of x itself for wip_strided_1x1: channel c at c H W, output pixel j's
 * input pixel; returns H W (the elements a channel), 0 if out of memory */
static int64_t FCN(im2col_x_offsets)(const fc_conv_geom *g, int64_t **ct_out)
{
    const int64_t Cg = g->C / g->G, PQ = g->P * g->Q, HW = g->H * g->W;
    int64_t *ct = malloc((size_t)(Cg + g->N * PQ) * sizeof(int64_t));
    if (!ct) return 0;
    for (int64_t c = 0; c < Cg; c++) ct[c] = c * HW;
    for (int64_t j = 0; j < g->N * PQ; j++)
        ct[Cg + j] = j / PQ * g->C * HW + (j % PQ) / g->Q * g->stride_h * g->W + j % g->Q * g->stride_w;
    *ct_out = ct;
    return HW;
}

/* B of the forward from the phase planes: each panel's runs along output rows are contiguous
 * pieces (a strided layer's columns, gathered one by one from x, were a fifth of its time) */
static void FCN(pack_im2col_phased)(const void *ctx, T *dst, int64_t j0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(im2col_ctx) *cx = ctx;
    const fc_conv_geom *g = cx->g;
    fc_run runs[GEMM_NR + 2];
    const T *src[GEMM_NR + 2];
    for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp);
        const int64_t nrun = fc_split_runs(runs, j0 + jp, w, g->P, g->Q);
        for (int64_t u = 0; u < nrun; u++) src[u] = cx->xs + cx->pixoff[j0 + jp + runs[u].lane];
        if (nrun == 1 && w == GEMM_NR) { /* one whole run (a 1-D layer's every panel): whole-vector copies */
            for (int64_t kk = 0; kk < kc; kk++)
                memcpy(dst + kk * GEMM_NR, src[0] + cx->ct[k0 + kk], GEMM_NR * sizeof(T));
            continue;
        }
        for (int64_t kk = 0; kk < kc; kk++) {
            T *d = dst + kk * GEMM_NR;
            const int64_t o = cx->ct[k0 + kk];
            for (int64_t u = 0; u < nrun; u++) memcpy(d + runs[u].lane, src[u] + o, (size_t)runs[u].len * sizeof(T));
            for (int64_t t = w; t < GEMM_NR; t++) d[t] = 0;
        }
    }
}

/* ---- few output pixels, the forward: the weights read in place ---------------------------------
 * y_g[k, j] = sum_kappa w_g[k, kappa] col[kappa, j] with W's rows as the GEMM's A where they lie:
 * each element broadcast, a tile's WIP_MR rows as many streams along kappa (no packing: the
 * pixel-rows GEMM transposed all of W into panels every call, 0.2 ms of ResNet-18's batch-1
 * 512 @7, 9.4 MB of weights used 49 times each).  col is the strided GEMM's B (panels of GEMM_NR
 * pixels from the phase planes), the last panel as few vectors as it needs.  Every pixel's sum runs
 * in the same order whatever the batch or map (a Dask chunk's pixels equal the whole array's).
 * Reduction blocks keep a tile's rows of W in L1 across the panels and the block of col in L2. */
#if FC_VBYTES == 64
#define WIP_MR 8 /* 16 accumulators, 2 vector loads: of 32 registers */
#else
#define WIP_MR 4 /* 8 and 2: of 16 */
#endif
#define WIP_LD GEMM_NR /* out: a tile's sums, a row per weight row */

static inline __attribute__((always_inline)) void FCN(wip_tile)(int nv, int64_t kb, const int64_t *idx,
                                                                const T *const *wr, const T *restrict b,
                                                                T *restrict out)
{
    V acc[WIP_MR][GEMM_NV];
#pragma GCC unroll 8
    for (int i = 0; i < WIP_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[i][v] = (V){0};
    for (int64_t k = 0; k < kb; k++) {
        const int64_t kk = idx ? idx[k] : k;
        V bv[GEMM_NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = FCN(loadu)(b + k * GEMM_NR + v * VL);
#pragma GCC unroll 8
        for (int i = 0; i < WIP_MR; i++) {
            const V a = FCN(splat)(wr[i][kk]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[i][v] += a * bv[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < WIP_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) FCN(storeu)(out + i * WIP_LD + v * VL, acc[i][v]);
}

/* (one or two vectors of pixels; the reduction's rows consecutive, or those listed in idx) */
static void FCN(wip_tile_1)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(1, kb, NULL, wr, b, out);
}
static void FCN(wip_tile_2)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(2, kb, NULL, wr, b, out);
}
static void FCN(wip_tile_1x)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(1, kb, idx, wr, b, out);
}
static void FCN(wip_tile_2x)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(2, kb, idx, wr, b, out);
}

#if FC_VBYTES == 64
/* A panel of at most half a vector of pixels (the last of a 14 x 14 map's 196 at batch 1: 4) as
 * half vectors, a 512-bit FMA being two 256-bit halves on Zen 4: the full vector spent 6 % of the
 * layer's products on lanes without pixels.  The same sums (lanes are pixels). */
typedef T FCN(hvec) __attribute__((vector_size(FC_VBYTES / 2)));
typedef T FCN(uhvec) __attribute__((vector_size(FC_VBYTES / 2), aligned(sizeof(T)), may_alias));
static inline __attribute__((always_inline)) void FCN(wip_tile_half)(int64_t kb, const int64_t *idx,
                                                                     const T *const *wr, const T *restrict b,
                                                                     T *restrict out)
{
    FCN(hvec) acc[WIP_MR];
#pragma GCC unroll 8
    for (int i = 0; i < WIP_MR; i++) acc[i] = (FCN(hvec)){0};
    for (int64_t k = 0; k < kb; k++) {
        const int64_t kk = idx ? idx[k] : k;
        const FCN(hvec) bv = *(const FCN(uhvec) *)(b + k * GEMM_NR);
#pragma GCC unroll 8
        for (int i = 0; i < WIP_MR; i++) acc[i] += wr[i][kk] * bv;
    }
#pragma GCC unroll 8
    for (int i = 0; i < WIP_MR; i++) *(FCN(uhvec) *)(out + i * WIP_LD) = acc[i];
}
static void FCN(wip_tile_h)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile_half)(kb, NULL, wr, b, out);
}
static void FCN(wip_tile_hx)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile_half)(kb, idx, wr, b, out);
}
/* A panel of a vector and at most half one (49 pixels: 32 and 17) as a vector and a half vector,
 * each weight broadcast once for both: 3.5 vectors' products for 49 pixels, not 4 */
static inline __attribute__((always_inline)) void FCN(wip_tile_vhalf)(int64_t kb, const int64_t *idx,
                                                                      const T *const *wr, const T *restrict b,
                                                                      T *restrict out)
{
    V acc[WIP_MR];
    FCN(hvec) acch[WIP_MR];
#pragma GCC unroll 8
    for (int i = 0; i < WIP_MR; i++) {
        acc[i] = (V){0};
        acch[i] = (FCN(hvec)){0};
    }
    for (int64_t k = 0; k < kb; k++) {
        const int64_t kk = idx ? idx[k] : k;
        const V bv = FCN(loadu)(b + k * GEMM_NR);
        const FCN(hvec) bh = *(const FCN(uhvec) *)(b + k * GEMM_NR + VL);
#pragma GCC unroll 8
        for (int i = 0; i < WIP_MR; i++) {
            const T a = wr[i][kk];
            acc[i] += FCN(splat)(a) * bv;
            acch[i] += a * bh;
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < WIP_MR; i++) {
        FCN(storeu)(out + i * WIP_LD, acc[i]);
        *(FCN(uhvec) *)(out + i * WIP_LD + VL) = acch[i];
    }
}
static void FCN(wip_tile_vh)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile_vhalf)(kb, NULL, wr, b, out);
}
static void FCN(wip_tile_vhx)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile_vhalf)(kb, idx, wr, b, out);
}
#define WIP_HALF (VL / 2)
#else
#define WIP_HALF 0 /* (not used: a vector of 16 bytes or 32 is one FMA) */
static void FCN(wip_tile_h)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(1, kb, NULL, wr, b, out);
}
static void FCN(wip_tile_hx)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(1, kb, idx, wr, b, out);
}
static void FCN(wip_tile_vh)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(2, kb, NULL, wr, b, out);
}
static void FCN(wip_tile_vhx)(int64_t kb, const int64_t *idx, const T *const *wr, const T *b, T *out)
{
    FCN(wip_tile)(2, kb, idx, wr, b, out);
}
#endif

/* Whether the forward of npix pixels reads W in place (instead of the pixel-rows GEMM): few lanes
 * idle */
static int FCN(im2col_wip)(int64_t npix) { return 8 * (FC_ROUND_UP(npix, VL) - npix) <= npix; }

/* Whether a plain 1x1 forward reads W in place, col packed from x itself (no phase planes, not as
 * pixel rows): a long reduction over few pixels, where packing W (once a call, 8 rows at a time
 * transposed; W^T for the pixel rows) is a large part of a product of few columns.  ResNet-50's
 * 1024 -> 256 @14 at batch 1 0.55 -> 0.48 ms, 2048 -> 512 @7 b1 0.64 -> 0.54 (pixel rows before;
 * torch 0.60-0.65), 512 -> 512 @14 b1 10 % faster, float64 alike; it lost (2-14 %) over reductions
 * of 24-144 channels (the tile's 16 sums stored after so few steps) and broke even from 3136
 * pixels.  Up to 5 panels of pixels the threads split W's rows (49 pixels: 0.55 against 0.60 ms
 * with the panels split), from 6 the panels (2 % faster at 196). */
static int FCN(im2col_wip_plain)(const fc_conv_geom *g)
{
    const int64_t Cg = g->C / g->G, npix = g->N * g->P * g->Q;
    return fc_conv_plain_1x1(g) && Cg >= 256 && npix <= (Cg >= 512 ? 1568 : 784);
}

#if defined(__GNUC__) && !defined(__clang__) /* (__builtin_shuffle: GCC's) */
/* A panel's vectors of pixels as two vectors of the planes each, permuted: each vector's lanes as
 * at most two segments (the second from the next image, say), each within two vectors of the
 * planes from its base; lanes in seg2 take the second's */
typedef struct FCN(wip_shuf) {
    IV idx[GEMM_NV][2], seg2[GEMM_NV];
    int64_t base[GEMM_NV][2];
    int nv, two;
} FCN(wip_shuf);

/* sh for the w pixels at offsets po; 0 where they do not fit it, or (lim > 0) where a base's two
 * vectors reach lim */
static int FCN(wip_shuf_init)(FCN(wip_shuf) *sh, const int64_t *po, int64_t w, int64_t lim)
{
    int ok = 1;
    sh->nv = (int)FC_CEIL_DIV(w, VL);
    sh->two = 0;
    for (int v = 0; v < sh->nv && ok; v++) {
        const int64_t n = FC_MIN((int64_t)VL, w - v * VL);
        const int64_t *pv = po + v * VL;
        int sg = 0;
        sh->base[v][0] = sh->base[v][1] = pv[0];
        for (int64_t t = 0; t < VL; t++) {
            int64_t d = t < n ? pv[t] - sh->base[v][sg] : 0;
            if (t < n && (d < 0 || d >= 2 * VL) && sg == 0) { /* the second segment starts here */
                sg = 1;
                sh->base[v][1] = pv[t];
                d = 0;
            }
            ok &= d >= 0 && d < 2 * VL;
            sh->idx[v][0][t] = (__typeof__(sh->idx[v][0][t]))(sg ? 0 : d);
            sh->idx[v][1][t] = (__typeof__(sh->idx[v][1][t]))(sg ? d : 0);
            sh->seg2[v][t] = sg ? -1 : 0;
        }
        sh->two |= sg;
        if (lim > 0) ok &= FC_MAX(sh->base[v][0], sh->base[v][1]) + 2 * VL <= lim;
    }
    return ok;
}

/* d[0 .. nv VL) = the panel's w pixels of the planes' row at s (zeros past w) */
static inline __attribute__((always_inline)) void FCN(wip_shuf_row)(const FCN(wip_shuf) *sh, const T *s, T *d,
                                                                    int64_t w)
{
    for (int v = 0; v < sh->nv; v++) {
        const int64_t n = FC_MIN((int64_t)VL, w - v * VL), b0 = sh->base[v][0], b1 = sh->base[v][1];
        V r = __builtin_shuffle(FCN(loadu)(s + b0), FCN(loadu)(s + b0 + VL), sh->idx[v][0]);
        if (sh->two && b1 != b0)
            r = FCN(select)(sh->seg2[v], __builtin_shuffle(FCN(loadu)(s + b1), FCN(loadu)(s + b1 + VL), sh->idx[v][1]),
                            r);
        FCN(storeu)(d + v * VL, n < VL ? FCN(keep_lanes)(r, (int)n) : r);
    }
}
#endif

/* col's panel of the w <= GEMM_NR pixels at offsets po in the phase planes, rows [k0, k0 + kc) (or
 * the kc rows listed in rows), as the kernel reads it (the vectors it uses, no more).  A vector of
 * pixels whose windows lie within two vectors of the phase planes (16 pixels of a 7-wide map, rows
 * 9 apart padded) is those two vectors loaded and permuted at every row (wip_shuf), the runs'
 * copies (a call each, then a masked move each) having been most of the packing; others are packed
 * as the strided GEMM packs them (pixels in their order from j0), or pixel by pixel (pixels in
 * another order, or x itself). */
static void FCN(wip_pack)(const FCN(im2col_ctx) *cx, T *dst, int64_t j0, const int64_t *po, int64_t w, int64_t k0,
                          const int64_t *rows, int64_t kc)
{
    if (!cx->xs) { /* (no phase planes: a plain 1x1 layer's pixels from x, pixels in their order) */
        FCN(pack_im2col)(cx, dst, j0, w, k0, kc);
        return;
    }
    if (kc <= 0) return;
#if defined(__GNUC__) && !defined(__clang__)
    FCN(wip_shuf) sh;
    /* (x itself: the last row's two vectors from each base inside x; the planes end in zeros) */
    if (FCN(wip_shuf_init)(&sh, po, w, cx->xlen ? cx->xlen - cx->ct[rows ? rows[kc - 1] : k0 + kc - 1] : 0)) {
        for (int64_t kk = 0; kk < kc; kk++)
            FCN(wip_shuf_row)(&sh, cx->xs + cx->ct[rows ? rows[kk] : k0 + kk], dst + kk * GEMM_NR, w);
        return;
    }
#endif
    if (!rows && po == cx->pixoff + j0 && !cx->xlen) {
        FCN(pack_im2col_phased)(cx, dst, j0, w, k0, kc);
        return;
    }
    const int64_t nv = FC_CEIL_DIV(w, VL);
    for (int64_t kk = 0; kk < kc; kk++) { /* (a gather instruction a vector: no faster) */
        const T *s = cx->xs + cx->ct[rows ? rows[kk] : k0 + kk];
        T *d = dst + kk * GEMM_NR;
        for (int64_t t = 0; t < w; t++) d[t] = s[po[t]];
        for (int64_t t = w; t < nv * VL; t++) d[t] = 0;
    }
}

/* The wip forward's shape: npix pixels in np panels, W's rows in units tiles, reduction blocks of
 * kcw rows, chunks of ncp panels.  Pixels in the order of pixoff (their offsets in the phase
 * planes) and yoff (in y).  Classes (border pixels grouped by the taps they keep: see wip_axis):
 * class c's rows of the reduction rows[c] (NULL: all), those of block b from
 * rows[c][bfirst[c * (nblk + 1) + b]] up to bfirst[c * (nblk + 1) + b + 1]. */
typedef struct FCN(wip_plan) {
    int64_t Kg, CgRS, PQ, npix, np, units, kcw, ncp, nblk;
    const int64_t *pixoff, *yoff;
    const fc_wip_panel *panels;
    int64_t *const *rows;
    const int64_t *bfirst;
} FCN(wip_plan);

/* y[yoff[j]] = o[j] for a panel's w pixels, one by one (GCC made scatter instructions of it: slower
 * on Zen 4 than the stores) */
__attribute__((optimize("no-tree-vectorize"))) static void FCN(wip_scatter)(T *yr, const int64_t *yoff,
                                                                          const T *o, int64_t w)
{
    for (int64_t j = 0; j < w; j++) yr[yoff[j]] = o[j];
}

/* y for panels [q0, q1) x tiles [u0, u1), col packed into bp a chunk and a block at a time.  A panel
 * whose pixels are not one run of y (the grouped border pixels, a panel across images) keeps its
 * sums over the reduction's blocks in yb (ncp panels of Kg rows of GEMM_NR, NULL: none), whole
 * vectors, and stores them into y pixel by pixel once, after the last block: adding into y pixel by
 * pixel after every block (a load and a store each, y's lines scattered) was 6 % of ResNet-18's
 * layer4 3x3/2 at batch 8.  The same sums in the same order. */
static void FCN(wip_job)(T *y, const T *w, const T *bias, const FCN(im2col_ctx) *cx, const FCN(wip_plan) *pl,
                         int64_t q0, int64_t q1, int64_t u0, int64_t u1, T *bp, T *yb)
{
    const int64_t Kg = pl->Kg, CgRS = pl->CgRS, PQ = pl->PQ;
    const int64_t *yoff = pl->yoff;
    T out[WIP_MR * WIP_LD];
    for (int64_t c0 = q0; c0 < q1 && u0 < u1; c0 += pl->ncp) {
        const int64_t c1 = FC_MIN(q1, c0 + pl->ncp);
        for (int64_t blk = 0, k0 = 0; k0 < CgRS; blk++, k0 += pl->kcw) {
            const int64_t kc = FC_MIN(pl->kcw, CgRS - k0);
            for (int64_t p = c0; p < c1; p++) { /* the block: panels c0.. of kc rows (or their class's) */
                const fc_wip_panel *pn = pl->panels + p;
                const int64_t *rows = pl->rows[pn->cls], *bf = pl->bfirst + pn->cls * (pl->nblk + 1);
                FCN(wip_pack)(cx, bp + (p - c0) * kc * GEMM_NR, pn->j0, pl->pixoff + pn->j0, pn->w, k0,
                              rows ? rows + bf[blk] : NULL, rows ? bf[blk + 1] - bf[blk] : kc);
            }
            for (int64_t u = u0; u < u1; u++) {
                const int64_t row0 = u * WIP_MR, rk = FC_MIN((int64_t)WIP_MR, Kg - row0);
                const T *wr[WIP_MR], *wb[WIP_MR]; /* (rows past Kg repeat the last: computed, not stored) */
                for (int i = 0; i < WIP_MR; i++) {
                    wb[i] = w + (row0 + FC_MIN((int64_t)i, rk - 1)) * CgRS;
                    wr[i] = wb[i] + k0;
                }
                for (int64_t p = c0; p < c1; p++) {
                    const fc_wip_panel *pn = pl->panels + p;
                    const int64_t j0 = pn->j0, wp = pn->w;
                    const T *b = bp + (p - c0) * kc * GEMM_NR;
                    const int64_t *rows = pl->rows[pn->cls], *bf = pl->bfirst + pn->cls * (pl->nblk + 1);
                    if (rows) /* (the class's rows of the block, W's rows from their starts) */
                        (wp <= WIP_HALF        ? FCN(wip_tile_hx)
                         : wp <= VL            ? FCN(wip_tile_1x)
                         : wp <= VL + WIP_HALF ? FCN(wip_tile_vhx)
                                               : FCN(wip_tile_2x))(bf[blk + 1] - bf[blk], rows + bf[blk], wb, b, out);
                    else
                        (wp <= WIP_HALF        ? FCN(wip_tile_h)
                         : wp <= VL            ? FCN(wip_tile_1)
                         : wp <= VL + WIP_HALF ? FCN(wip_tile_vh)
                                               : FCN(wip_tile_2))(kc, NULL, wr, b, out);
                    /* (a panel within one row of y: whole vectors of it; else pixel by pixel, masked
                     * vectors along the grouped border pixels' runs of 5 or 6 were 10 % slower, their
                     * stores read back too soon by the next run's loads, within 64 bytes) */
                    const int run = yoff[j0 + wp - 1] - yoff[j0] == wp - 1, last = k0 + kc >= CgRS;
                    for (int64_t i = 0; i < rk; i++) {
                        T *yr = y + (row0 + i) * PQ;
                        T *o = out + i * WIP_LD;
                        const T b0 = k0 ? (T)0 : bias ? bias[row0 + i] : (T)0;
                        if (!run && yb) {
                            T *ybi = yb + ((p - c0) * Kg + row0 + i) * GEMM_NR;
                            T *dst = last ? o : ybi;
                            for (int64_t j = 0; j < wp; j += VL)
                                FCN(storeu)(dst + j, (k0 ? FCN(loadu)(ybi + j) : FCN(splat)(b0)) + FCN(loadu)(o + j));
                            if (last) FCN(wip_scatter)(yr, yoff + j0, o, wp);
                        } else if (run) {
                            T *yk = yr + yoff[j0];
                            for (int64_t j = 0; j < wp; j += VL) {
                                const int64_t n = FC_MIN((int64_t)VL, wp - j);
                                const V prev = k0 ? FCN(load_lanes)(yk + j, n) : FCN(splat)(b0);
                                FCN(store_lanes)(yk + j, prev + FCN(loadu)(o + j), n);
                            }
                        } else if (!k0) { /* (one block) */
                            for (int64_t j = 0; j < wp; j += VL) FCN(storeu)(o + j, FCN(splat)(b0) + FCN(loadu)(o + j));
                            FCN(wip_scatter)(yr, yoff + j0, o, wp);
                        } else { /* (no yb: out of memory for it) */
                            for (int64_t j = 0; j < wp; j++) yr[yoff[j0 + j]] += o[j];
                        }
                    }
                }
            }
        }
    }
}

/* The taps [lo, hi) of a window along one axis that fall inside the input, for output n of stride
 * st, padding pad, dilation d over a size of size and a kernel of ks taps */
static inline void FCN(wip_taps)(int64_t n, int64_t st, int64_t pad, int64_t d, int64_t size, int64_t ks,
                                 int64_t *lo, int64_t *hi)
{
    int64_t a = 0, b = ks;
    while (a < ks && n * st - pad + a * d < 0) a++;
    while (b > a && n * st - pad + (b - 1) * d >= size) b--;
    *lo = a;
    *hi = b;
}

/* The kinds of output rows (or columns) by the taps they keep; each output's kind in kind[]; 0 if
 * more than WIP_AXIS_CLASSES.  A pixel's class is its row's kind and its column's: the strided
 * forward groups the pixels by class where that multiplies 5 % fewer vectors of pixels by taps,
 * each class's panels a product over the rows of the reduction it keeps.  Torch's direct kernels
 * skip the taps in the padding; im2col's GEMM multiplied them by zero (9 % of ResNet-18's layer4
 * 3x3/2, 5 % of layer3's: grouped there, 5-7 % faster on one thread, 3.5 % on two; layer3's 3 %
 * fewer products ran no faster).  Skipping them leaves zeros out of sums that run in the same
 * order: every pixel's result is the same bit for bit, a Dask chunk's too. */
static int FCN(wip_axis)(fc_wip_axis *ax, int64_t *kind, int64_t n_out, int64_t st, int64_t pad, int64_t d,
                         int64_t size, int64_t ks)
{
    ax->n = 0;
    for (int64_t o = 0; o < n_out; o++) {
        int64_t lo, hi, c = 0;
        FCN(wip_taps)(o, st, pad, d, size, ks, &lo, &hi);
        while (c < ax->n && (ax->lo[c] != lo || ax->hi[c] != hi)) c++;
        if (c == ax->n) {
            if (ax->n == WIP_AXIS_CLASSES) return 0;
            ax->lo[c] = lo;
            ax->hi[c] = hi;
            ax->count[c] = 0;
            ax->n++;
        }
        ax->count[c]++;
        kind[o] = c;
    }
    return 1;
}

/* y_g from the phase planes of cx (one group: y at its first channel, w its rows).  Few panels of
 * pixels (by_pixels 0): the threads split W's rows and each packs all of col for itself (a block
 * packed by one thread and read by the other crossed between the cores twice a call, its lines
 * owned by the other core's cache when packed again: 0.11 ms of batch-1 512 @7, and 8 % slower
 * products).  Many: the threads split the panels, every thread all of W's rows, then the panels
 * left over (fewer than the threads) by rows (25 panels ran as 13 and 12); col in chunks of panels
 * that stay in L2; the pixels grouped by the taps they keep where that saves (wip_axis). */
static int FCN(conv_wip_group)(T *y, const T *w, const T *bias, const FCN(im2col_ctx) *cx, int by_pixels,
                               int nthreads)
{
    const fc_conv_geom *g = cx->g;
    const int64_t Cg = cx->Cg, P = g->P, Q = g->Q;
    FCN(wip_plan) pl = {.Kg = g->K / g->G, .CgRS = Cg * g->R * g->S, .PQ = P * Q};
    const int64_t npix = g->N * pl.PQ;
    pl.npix = npix;
    pl.units = FC_CEIL_DIV(pl.Kg, WIP_MR);
    /* reduction blocks: a tile's rows of W in 32 KiB; chunks of panels: a block of col in 512 KiB */
    const int64_t kmax = FC_MAX(VL, 32 * 1024 / (WIP_MR * (int64_t)sizeof(T)) / VL * VL);
    pl.kcw = FC_ROUND_UP(FC_CEIL_DIV(pl.CgRS, FC_CEIL_DIV(pl.CgRS, kmax)), VL);
    pl.ncp = FC_MAX(1, 512 * 1024 / (pl.kcw * GEMM_NR * (int64_t)sizeof(T)));
    pl.nblk = FC_CEIL_DIV(pl.CgRS, pl.kcw);
    /* the classes: kinds of rows x kinds of columns (one, all taps, unless grouping saves) */
    fc_wip_axis ra, ca;
    int64_t *kind = malloc((size_t)(P + Q) * sizeof(int64_t));
    if (!kind) return FC_ERR_NOMEM;
    int grouped = by_pixels && cx->xs && pl.Kg >= 8 * WIP_MR &&
                  FCN(wip_axis)(&ra, kind, P, g->stride_h, g->pad_h, g->dil_h, g->H, g->R) &&
                  FCN(wip_axis)(&ca, kind + P, Q, g->stride_w, g->pad_w, g->dil_w, g->W, g->S);
    if (grouped) {
        double plain = (double)FC_CEIL_DIV(npix, VL) * (double)pl.CgRS, cost = 0;
        for (int a = 0; a < ra.n; a++)
            for (int b = 0; b < ca.n; b++)
                cost += (double)FC_CEIL_DIV(g->N * ra.count[a] * ca.count[b], VL) * (double)Cg *
                        (double)((ra.hi[a] - ra.lo[a]) * (ca.hi[b] - ca.lo[b]));
        grouped = ra.n * ca.n > 1 && cost < 0.95 * plain;
    }
    const int ncls = grouped ? ra.n * ca.n : 1;
    int64_t nrows = 0, np = 0; /* rows listed, panels */
    for (int c = 0; c < ncls; c++) {
        const int a = c / (grouped ? ca.n : 1), b = c % (grouped ? ca.n : 1);
        const int64_t n = grouped ? g->N * ra.count[a] * ca.count[b] : npix;
        np += FC_CEIL_DIV(n, GEMM_NR);
        if (grouped) nrows += Cg * (ra.hi[a] - ra.lo[a]) * (ca.hi[b] - ca.lo[b]);
    }
    pl.np = np;
    const size_t nidx = (size_t)((grouped ? 2 : 1) * npix + nrows + ncls * (pl.nblk + 1) + np + 1);
    int64_t *ibuf = malloc(nidx * sizeof(int64_t));
    fc_wip_panel *panels = malloc((size_t)FC_MAX(np, 1) * sizeof(fc_wip_panel));
    int64_t **rows = malloc((size_t)ncls * sizeof(int64_t *));
    if (!ibuf || !panels || !rows) {
        free(kind);
        free(ibuf);
        free(panels);
        free(rows);
        return FC_ERR_NOMEM;
    }
    int64_t *yoff = ibuf, *pixg = ibuf + npix; /* (pixg: the pixels' offsets in the grouped order) */
    int64_t *rlist = ibuf + (grouped ? 2 : 1) * npix, *bfirst = rlist + nrows, *pre = bfirst + ncls * (pl.nblk + 1);
    int64_t j = 0, pn = 0;
    for (int c = 0; c < ncls; c++) { /* each class's pixels in their order, panels, rows of the reduction */
        const int a = c / (grouped ? ca.n : 1), b = c % (grouped ? ca.n : 1);
        const int64_t j0 = j;
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t p = 0; p < P; p++)
                for (int64_t q = 0; q < Q; q++) {
                    if (grouped && (kind[p] != a || kind[P + q] != b)) continue;
                    const int64_t jn = (n * P + p) * Q + q; /* (the pixel in the natural order) */
                    yoff[j] = n * g->K * pl.PQ + p * Q + q;
                    if (grouped) pixg[j] = cx->pixoff[jn];
                    j++;
                }
        for (int64_t t = j0; t < j; t += GEMM_NR)
            panels[pn++] = (fc_wip_panel){t, (int)FC_MIN((int64_t)GEMM_NR, j - t), c};
        int64_t *bf = bfirst + c * (pl.nblk + 1);
        if (!grouped || (ra.lo[a] == 0 && ra.hi[a] == g->R && ca.lo[b] == 0 && ca.hi[b] == g->S)) {
            rows[c] = NULL; /* (all taps) */
            for (int64_t k = 0; k <= pl.nblk; k++) bf[k] = 0;
            continue;
        }
        rows[c] = rlist;
        int64_t m = 0, blk = 0;
        for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t r = ra.lo[a]; r < ra.hi[a]; r++)
                for (int64_t t = ca.lo[b]; t < ca.hi[b]; t++) {
                    const int64_t kap = (ci * g->R + r) * g->S + t;
                    while (blk <= pl.nblk && blk * pl.kcw <= kap) bf[blk++] = m;
                    rlist[m++] = kap;
                }
        while (blk <= pl.nblk) bf[blk++] = m;
        rlist += m;
    }
    free(kind);
    pre[0] = 0; /* the panels' products, vectors x (rows + 1), summed: how the threads split them */
    for (int64_t q = 0; q < np; q++) {
        const int c = panels[q].cls;
        const int64_t *bf = bfirst + c * (pl.nblk + 1);
        pre[q + 1] = pre[q] + FC_CEIL_DIV(panels[q].w, VL) * ((rows[c] ? bf[pl.nblk] : pl.CgRS) + 1);
    }
    pl.yoff = yoff;
    pl.pixoff = grouped ? pixg : cx->pixoff;
    pl.panels = panels;
    pl.rows = rows;
    pl.bfirst = bfirst;
    const int nt = (int)FC_MAX(1, FC_MIN((int64_t)nthreads, by_pixels ? pl.np : pl.units));
    int err = FC_OK;
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
        const int team = omp_get_num_threads(), id = omp_get_thread_num();
        const size_t bsize = (size_t)(FC_MIN(pl.ncp, pl.np) * GEMM_NR) * (size_t)pl.kcw * sizeof(T);
        T *bp = fc_scratch(FC_SCRATCH_PACK_B, bsize);
        /* (the sums of panels not in one run of y, over several blocks: see wip_job) */
        const size_t ysize = (size_t)(FC_MIN(pl.ncp, pl.np) * pl.Kg * GEMM_NR) * sizeof(T);
        T *yb = pl.nblk > 1 && (grouped || g->N > 1) ? fc_scratch(FC_SCRATCH_WORK, ysize) : NULL;
        int64_t u0, u1;
        fc_split_range(pl.units, team, id, &u0, &u1);
        if (!bp) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        } else if (by_pixels && !grouped) { /* (panels alike: as many each) */
            const int64_t each = pl.np / team;
            FCN(wip_job)(y, w, bias, cx, &pl, id * each, (id + 1) * each, 0, pl.units, bp, yb);
            FCN(wip_job)(y, w, bias, cx, &pl, each * team, pl.np, u0, u1, bp, yb);
        } else if (by_pixels) { /* the thread's share of the products: the panels wholly within it, */
            const int64_t tot = pre[pl.np], lo = id * tot / team, hi = (id + 1) * tot / team;
            int64_t q0 = 0, q1;
            while (q0 < pl.np && pre[q0] < lo) q0++;
            for (q1 = q0; q1 < pl.np && pre[q1 + 1] <= hi; q1++) {}
            FCN(wip_job)(y, w, bias, cx, &pl, q0, q1, 0, pl.units, bp, yb);
            /* and of a panel across an end of it, its part of the rows (half the rows each left one
             * thread up to half a panel more) */
            for (int64_t q = 0; q < pl.np; q++) {
                const int64_t a = pre[q], b = pre[q + 1];
                if (b <= lo || a >= hi || (a >= lo && b <= hi)) continue;
                const int64_t ua = lo > a ? pl.units * (lo - a) / (b - a) : 0;
                const int64_t ub = hi < b ? pl.units * (hi - a) / (b - a) : pl.units;
                if (ub > ua) FCN(wip_job)(y, w, bias, cx, &pl, q, q + 1, ua, ub, bp, yb);
            }
        } else {
            FCN(wip_job)(y, w, bias, cx, &pl, 0, pl.np, u0, u1, bp, yb);
        }
        fc_fp_leave(fp);
    }
    free(ibuf);
    free(panels);
    free(rows);
    return err;
}

/* ---- few output pixels as the GEMM's rows, the border pixels grouped by the taps they keep ------
 * Y^T = col(x)^T W^T over the pixel-rows GEMM's slices of the reduction, each class of pixels (the
 * kind of its row x the kind of its column: wip_axis) a product over the rows of the reduction it
 * keeps.  Torch's direct kernels skip the padding's taps; the GEMM multiplied them by zero: 18 % of
 * ResNet-18's 512 @7 at batch 1, 9 % of layer4's 3x3/2.  Leaving out exact zeros, a pixel's sum is
 * the GEMM's bit for bit (a Dask chunk's too, whatever its pixels' classes and tiles).  Every
 * tap a class keeps lies inside x, so A is gathered from x itself: the phase planes (a copy of x
 * built by the team, each core then reading the other's half) were 5 % of layer4's 3x3/2 at batch
 * 1.  The threads split W's columns; each packs B (W^T) a slice at a time for its columns; A is
 * gathered once by the team (rg_tiles), or a slice at a time by each thread where it is large. */
#if FC_GEMM_TALL
#define RG_ROWS (GEMM_MR + 4) /* a tile's rows at most: 24 accumulators of 32 registers */

/* acc[i][:] = sum_k a[k R + i] b[row k][:], B's rows those of kap (from k0; NULL: consecutive) */
static inline __attribute__((always_inline)) void FCN(rg_acc)(int R, int64_t kb, const T *restrict a,
                                                              const int64_t *kap, int64_t k0, const T *restrict b,
                                                              V acc[][GEMM_NV])
{
#pragma GCC unroll 12
    for (int i = 0; i < R; i++)
        for (int v = 0; v < GEMM_NV; v++) acc[i][v] = (V){0};
    for (int64_t k = 0; k < kb; k++) {
        const T *bk = b + (kap ? kap[k] - k0 : k) * GEMM_NR;
        V bv[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++) bv[v] = FCN(loadu)(bk + v * VL);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            const V ai = FCN(splat)(a[k * R + i]);
            for (int v = 0; v < GEMM_NV; v++) acc[i][v] += ai * bv[v];
        }
    }
}

/* A tile of one or two rows over np panels of B at once (bp: the first, pstride apart), c[i][col of
 * panel j ..] (+)= its sums: one panel's 2 R vector chains waited on the FMA's latency (4 cycles, a
 * zmm FMA a cycle: a corner's tile ran at half speed, 7 % of ResNet-18's 512 @7 at batch 1); each
 * sum runs in rg_acc's order, so the bits are the same */
#define RG_SHORT_NP 4 /* panels of a short tile at most (4 / R) */
static inline __attribute__((always_inline)) void FCN(rg_short)(const int R, const int np, int64_t kb,
                                                                const T *restrict a, const int64_t *kap,
                                                                int64_t k0, const T *bp, int64_t pstride, T *c,
                                                                int64_t ldc, int64_t ncols, int add)
{
    V acc[RG_SHORT_NP][2][GEMM_NV];
    for (int j = 0; j < np; j++)
        for (int i = 0; i < R; i++)
            for (int v = 0; v < GEMM_NV; v++) acc[j][i][v] = (V){0};
    for (int64_t k = 0; k < kb; k++) {
        const T *bk = bp + (kap ? kap[k] - k0 : k) * GEMM_NR;
        for (int i = 0; i < R; i++) {
            const V ai = FCN(splat)(a[k * R + i]);
            for (int j = 0; j < np; j++)
                for (int v = 0; v < GEMM_NV; v++) acc[j][i][v] += ai * FCN(loadu)(bk + j * pstride + v * VL);
        }
    }
    for (int j = 0; j < np; j++) {
        const int64_t nr = FC_MIN((int64_t)GEMM_NR, ncols - j * GEMM_NR);
        for (int i = 0; i < R; i++)
            for (int v = 0; v < GEMM_NV && v * VL < nr; v++) {
                T *ci = c + i * ldc + j * GEMM_NR + v * VL;
                V r = acc[j][i][v];
                if (add) r += FCN(load_lanes)(ci, nr - v * VL);
                FCN(store_lanes)(ci, r, nr - v * VL);
            }
    }
}

/* rg_short of a tile (R rows, kb of the reduction: those of kl, NULL: the slice's; A at a) over np
 * panels of B, np <= 4 / R */
static void FCN(rg_short_tile)(int R, int64_t kb, const T *a, const int64_t *kl, int np, int64_t k0, const T *bp,
                               int64_t pstride, T *c, int64_t ldc, int64_t ncols, int add)
{
#define FC_RG_SHORT(r, n)                                                                                   \
    if (R == r && np == n) {                                                                                \
        if (kl)                                                                                             \
            FCN(rg_short)(r, n, kb, a, kl, k0, bp, pstride, c, ldc, ncols, add);                             \
        else                                                                                                \
            FCN(rg_short)(r, n, kb, a, NULL, k0, bp, pstride, c, ldc, ncols, add);                           \
        return;                                                                                             \
    }
    FC_RG_SHORT(1, 1) FC_RG_SHORT(1, 2) FC_RG_SHORT(1, 3) FC_RG_SHORT(1, 4)
    FC_RG_SHORT(2, 1) FC_RG_SHORT(2, 2)
#undef FC_RG_SHORT
}

/* c[i][0 .. nr) (+)= the tile's sums, R rows ldc apart */
static void FCN(rg_tile)(int R, int64_t kb, const T *a, const int64_t *kap, int64_t k0, const T *b, T *c,
                         int64_t ldc, int64_t nr, int add)
{
    V acc[RG_ROWS][GEMM_NV];
    switch (R) {
#define FC_RG_CASE(n)                                                  \
    case n:                                                            \
        if (kap)                                                       \
            FCN(rg_acc)(n, kb, a, kap, k0, b, acc);                    \
        else /* (all the slice's rows: no index in the loop) */        \
            FCN(rg_acc)(n, kb, a, NULL, k0, b, acc);                   \
        break;
        FC_RG_CASE(1) FC_RG_CASE(2) FC_RG_CASE(3) FC_RG_CASE(4) FC_RG_CASE(5) FC_RG_CASE(6)
        FC_RG_CASE(7) FC_RG_CASE(8) FC_RG_CASE(9) FC_RG_CASE(10) FC_RG_CASE(11) FC_RG_CASE(12)
#undef FC_RG_CASE
    default: return;
    }
    for (int i = 0; i < R; i++)
        for (int v = 0; v < GEMM_NV && v * VL < nr; v++) {
            T *ci = c + i * ldc + v * VL;
            V r = acc[i][v];
            if (add) r += FCN(load_lanes)(ci, nr - v * VL);
            FCN(store_lanes)(ci, r, nr - v * VL);
        }
}

/* a tile of a slice: rows [t0, t0 + R) of the class order, kb rows of the reduction (those of kl;
 * NULL: the slice's), A packed at a */
typedef struct FCN(rg_tile_t) {
    int64_t t0, R, kb;
    const int64_t *kl;
    const T *a;
} FCN(rg_tile_t);
#define RG_CLASSES (WIP_AXIS_CLASSES * WIP_AXIS_CLASSES)
#define RG_TILES (4 * GEMM_NR / GEMM_MR + RG_CLASSES) /* (pixel rows: at most 4 GEMM_NR pixels) */

/* what the grouped pixel rows' slices share: the classes (their pixels j0c, rows of the reduction
 * kapc, first in each slice sfirst, taps [rlo, rhi) x [slo, shi)), the pixels' windows xo, the rows'
 * offsets xct */
typedef struct FCN(rg_plan) {
    const fc_conv_geom *g;
    const T *x;
    int ncls;
    int64_t nsl, kcs, CgRS;
    const int64_t *j0c, *const *kapc, *sfirst, *xo, *xct, *rlo, *rhi, *slo, *shi;
} FCN(rg_plan);
#define RG_A_ONCE (2 << 20) /* bytes: A gathered once for the team at most */

/* slice sl's tiles (every class's, 8 rows, the last of up to 12, one after the other), their A at
 * a (gathered from x if `gather`): their count */
static int FCN(rg_tiles)(const FCN(rg_plan) *rp, int64_t sl, T *a, int gather, FCN(rg_tile_t) *tiles)
{
    const fc_conv_geom *g = rp->g;
    const int64_t k0 = sl * rp->kcs, kc = FC_MIN(rp->kcs, rp->CgRS - k0);
    int nti = 0;
    for (int c = 0; c < rp->ncls; c++) {
        const int all = rp->rhi[c] - rp->rlo[c] == g->R && rp->shi[c] - rp->slo[c] == g->S;
        const int64_t *sf = rp->sfirst + c * (rp->nsl + 1);
        const int64_t *kl = all ? NULL : rp->kapc[c] + sf[sl], kb = all ? kc : sf[sl + 1] - sf[sl];
        for (int64_t t0 = rp->j0c[c], R; t0 < rp->j0c[c + 1]; t0 += R, a += R * kb) {
            const int64_t left = rp->j0c[c + 1] - t0;
            R = left <= RG_ROWS ? left : GEMM_MR;
            tiles[nti++] = (FCN(rg_tile_t)){t0, R, kb, kl, a};
            if (!gather) continue;
            const int64_t *po = rp->xo + t0;
            for (int64_t kk = 0; kk < kb; kk++) {
                const int64_t o = rp->xct[kl ? kl[kk] : k0 + kk];
                for (int64_t i = 0; i < R; i++) a[kk * R + i] = rp->x[po[i] + o];
            }
        }
    }
    return nti;
}

/* y_g (one group) from x (cx->x), its pixels grouped, through yt (npix x Kg): a status, or RG_PLAIN
 * where grouping would leave out under 5 % of the products (the caller runs the plain GEMM) */
#define RG_PLAIN (-1)
static int FCN(conv_rows_grouped)(T *y, T *yt, const T *w, const T *bias, const FCN(im2col_ctx) *cx,
                                  int nthreads)
{
    const fc_conv_geom *g = cx->g;
    const int64_t Cg = cx->Cg, Kg = g->K / g->G, P = g->P, Q = g->Q, PQ = P * Q, npix = g->N * PQ;
    const int64_t RS = g->R * g->S, CgRS = Cg * RS, kcs = FCN(gemm_kcs)(CgRS), nsl = FC_CEIL_DIV(CgRS, kcs);
    if (npix > 4 * GEMM_NR) return RG_PLAIN; /* (pixel rows: no more; RG_TILES) */
    fc_wip_axis ra, ca;
    int64_t *kind = malloc((size_t)(P + Q + PQ) * sizeof(int64_t)), *pcls = kind + P + Q;
    if (!kind) return FC_ERR_NOMEM;
    if (!FCN(wip_axis)(&ra, kind, P, g->stride_h, g->pad_h, g->dil_h, g->H, g->R) ||
        !FCN(wip_axis)(&ca, kind + P, Q, g->stride_w, g->pad_w, g->dil_w, g->W, g->S)) {
        free(kind);
        return RG_PLAIN;
    }
    /* classes: a kind of rows x a kind of columns */
    const int ncls = ra.n * ca.n;
    int64_t rlo[RG_CLASSES], rhi[RG_CLASSES], slo[RG_CLASSES], shi[RG_CLASSES], cnt[RG_CLASSES] = {0};
    for (int c = 0; c < ncls; c++) {
        rlo[c] = ra.lo[c / ca.n];
        rhi[c] = ra.hi[c / ca.n];
        slo[c] = ca.lo[c % ca.n];
        shi[c] = ca.hi[c % ca.n];
    }
    for (int64_t p = 0; p < P; p++) /* (each pixel's class) */
        for (int64_t q = 0; q < Q; q++) {
            pcls[p * Q + q] = kind[p] * ca.n + kind[P + q];
            cnt[pcls[p * Q + q]] += g->N;
        }
    double cost = 0;
    int64_t nrows = 0;
    for (int c = 0; c < ncls; c++) {
        cost += (double)cnt[c] * (double)((rhi[c] - rlo[c]) * (shi[c] - slo[c]));
        if (cnt[c]) nrows += Cg * (rhi[c] - rlo[c]) * (shi[c] - slo[c]);
    }
    if (cost >= 0.95 * (double)npix * (double)RS) {
        free(kind);
        return RG_PLAIN;
    }
    /* the pixels in class order (perm: each one's index in the natural order; xo: its window's
     * origin in x, outside it at a border), each class's rows of the reduction and their first in
     * each slice, each row's offset in x from a window's origin */
    int64_t *perm = malloc((size_t)(2 * npix + nrows + ncls * (nsl + 1) + CgRS) * sizeof(int64_t));
    if (!perm) {
        free(kind);
        return FC_ERR_NOMEM;
    }
    int64_t *xo = perm + npix, *kap = xo + npix, *sfirst = kap + nrows, *xct = sfirst + ncls * (nsl + 1);
    int64_t j0c[RG_CLASSES + 1];
    const int64_t *kapc[RG_CLASSES];
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t r = 0; r < g->R; r++)
            for (int64_t t = 0; t < g->S; t++)
                xct[(c * g->R + r) * g->S + t] = (c * g->H + r * g->dil_h) * g->W + t * g->dil_w;
    int64_t j = 0, m = 0;
    for (int c = 0; c < ncls; c++) {
        j0c[c] = j;
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t pq = 0; pq < PQ; pq++)
                if (pcls[pq] == c) {
                    xo[j] = (n * g->C * g->H + pq / Q * g->stride_h - g->pad_h) * g->W + pq % Q * g->stride_w -
                            g->pad_w;
                    perm[j++] = n * PQ + pq;
                }
        kapc[c] = kap + m;
        int64_t *sf = sfirst + c * (nsl + 1), s = 0, m0 = m;
        if (cnt[c])
            for (int64_t ci = 0; ci < Cg; ci++)
                for (int64_t r = rlo[c]; r < rhi[c]; r++)
                    for (int64_t t = slo[c]; t < shi[c]; t++) {
                        const int64_t kp = (ci * g->R + r) * g->S + t;
                        while (s <= nsl && s * kcs <= kp) sf[s++] = m - m0;
                        kap[m++] = kp;
                    }
        while (s <= nsl) sf[s++] = m - m0;
    }
    j0c[ncls] = j;
    free(kind);
    const int64_t pn = FC_CEIL_DIV(Kg, GEMM_NR);
    const int nt = (int)FC_MAX(1, FC_MIN((int64_t)nthreads, pn));
    FCN(strided) wa = {w, CgRS, 1};
    /* every thread needs all of A: with a team, A is gathered once, the slices shared out, where
     * it fits (gathered per slice by both threads, it was 5 % of ResNet-18's 512 @7 at batch 1) */
    const int64_t aslice = npix * kcs;
    T *aall = nt > 1 && nsl * aslice <= RG_A_ONCE / (int64_t)sizeof(T)
                  ? fc_scratch(FC_SCRATCH_SHARED, (size_t)(nsl * aslice) * sizeof(T))
                  : NULL;
    const FCN(rg_plan) rp = {.g = g, .x = cx->x, .ncls = ncls, .nsl = nsl, .kcs = kcs, .CgRS = CgRS,
                             .j0c = j0c, .kapc = kapc, .sfirst = sfirst, .xo = xo, .xct = xct,
                             .rlo = rlo, .rhi = rhi, .slo = slo, .shi = shi};
    int err = FC_OK;
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
        const int team = omp_get_num_threads(), me = omp_get_thread_num();
        int64_t p0, p1;
        fc_split_range(pn, team, me, &p0, &p1);
        const int64_t n0 = p0 * GEMM_NR, n1 = FC_MIN(Kg, p1 * GEMM_NR);
        T *bbuf = fc_scratch(FC_SCRATCH_PACK_B, (size_t)(kcs * FC_MAX(p1 - p0, 1) * GEMM_NR) * sizeof(T));
        T *abuf = aall ? NULL : fc_scratch(FC_SCRATCH_PACK_A, (size_t)aslice * sizeof(T));
        FCN(rg_tile_t) tiles[RG_TILES];
        if (aall) {
            for (int64_t sl = me; sl < nsl; sl += team) FCN(rg_tiles)(&rp, sl, aall + sl * aslice, 1, tiles);
#pragma omp barrier
        }
        if (!bbuf || (!aall && !abuf)) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        } else if (n1 > n0) {
            for (int64_t sl = 0, k0 = 0; sl < nsl; sl++, k0 += kcs) {
                const int64_t kc = FC_MIN(kcs, CgRS - k0);
                FCN(pack_b_strided)(&wa, bbuf, n0, n1 - n0, k0, kc);
                const int nti = aall ? FCN(rg_tiles)(&rp, sl, aall + sl * aslice, 0, tiles)
                                     : FCN(rg_tiles)(&rp, sl, abuf, 1, tiles);
                for (int64_t pp = p0; pp < p1; pp++) { /* (a panel of B in L1 across the tiles) */
                    const int64_t col = pp * GEMM_NR, nr = FC_MIN((int64_t)GEMM_NR, Kg - col);
                    const T *bp = bbuf + (pp - p0) * kc * GEMM_NR;
                    for (int ti = 0; ti < nti; ti++) {
                        const FCN(rg_tile_t) *tt = tiles + ti;
                        if (tt->R > 2)
                            FCN(rg_tile)((int)tt->R, tt->kb, tt->a, tt->kl, k0, bp, yt + tt->t0 * Kg + col, Kg, nr,
                                         sl > 0);
                    }
                }
                for (int ti = 0; ti < nti; ti++) { /* (tiles of one or two rows: 4 / R panels at once) */
                    const FCN(rg_tile_t) *tt = tiles + ti;
                    if (tt->R > 2) continue;
                    for (int64_t pp = p0, np; pp < p1; pp += np) {
                        np = FC_MIN(4 / tt->R, p1 - pp);
                        FCN(rg_short_tile)((int)tt->R, tt->kb, tt->a, tt->kl, (int)np, k0,
                                           bbuf + (pp - p0) * kc * GEMM_NR, kc * GEMM_NR,
                                           yt + tt->t0 * Kg + pp * GEMM_NR, Kg, Kg - pp * GEMM_NR, sl > 0);
                    }
                }
            }
            /* (pixel, channel) -> y[n][k][pixel] + bias, the thread's channels */
            for (int64_t jj = 0; jj < npix; jj++) {
                const int64_t jn = perm[jj];
                T *yp = y + jn / PQ * g->K * PQ + jn % PQ;
                const T *src = yt + jj * Kg;
                for (int64_t k = n0; k < n1; k++) yp[k * PQ] = src[k] + (bias ? bias[k] : (T)0);
            }
        }
        fc_fp_leave(fp);
    }
    free(perm);
    return err;
}
#endif

static int FCN(conv_im2col_forward)(T *y, const T *x, const T *w, const T *bias,
                                    const fc_conv_geom *g, int nthreads)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G;
    const int64_t CgRS = Cg * g->R * g->S, PQ = g->P * g->Q;
    FCN(im2col_ctx) cx = {.g = g, .Cg = Cg};
    if (fc_tap_range_init(&cx.cols, g->S, g->W, g->Q, g->stride_w, g->pad_w, g->dil_w))
        return FC_ERR_NOMEM;
    /* pixel rows (few output pixels) and the panels gather from the phase planes (the grouped
     * pixel rows from x itself), only where the planes are about the input's size; but a plain
     * 1x1 layer's from x itself (the planes a copy of it: MobileNetV2's pointwise layers 1.3-2x
     * slower).  At stride 1 the planes are x zero-padded, a copy the run-by-run packing from x
     * (a call per output row, tap and panel, bounds tested) does not need, but the W-in-place
     * GEMM's tiles load a vector of pixels from them by two loads and a permute: ResNet-18's 256
     * @14 at batch 1 1.24-1.38x faster, VGG's 512 @14 b1 1.24-1.40x, 512 @7 b8 1.29-1.39x, 64 @56
     * b8 1.14-1.17x, 64 @224 b1 1.03 (float32) and 1.23x (float64); with AVX-512 only, as the
     * strided layers' W-in-place tiles */
    fc_phase_shape ps;
    const int fits = fc_phase_shape_init(&ps, g);
    const int plain = GEMM_NV == 2 && FC_VBYTES == 64 && FCN(im2col_wip_plain)(g); /* (see there) */
    const int rows = !plain && fits && FCN(im2col_pixel_rows)(g->N * PQ, Kg);
    const int phased = fits && (rows || g->stride_w > 1 || (FC_VBYTES == 64 && !fc_conv_plain_1x1(g)));
    /* W in place: few pixels where the lanes fill (else pixels as rows), and with AVX-512 every
     * layer on the phase planes (strided layers: 5-8 % faster than the packed GEMM, with AVX2 even)
     * and plain 1x1 layers of long reductions over few pixels (col from x); its tiles are of one or
     * two vectors of pixels and halves (not for a tuning build's other panel widths) */
    const int wip = plain || (GEMM_NV == 2 && (rows ? FCN(im2col_wip)(g->N * PQ) : FC_VBYTES == 64 && phased));
    T *yt = rows && !wip ? malloc((size_t)(g->N * PQ * Kg) * sizeof(T)) : NULL, *xs = NULL;
    /* (the grouped pixel rows read x itself: the planes only if they fall back on the GEMM) */
    const int later = FC_GEMM_TALL && rows && !wip;
    const int xself = wip && !rows && !plain && FCN(wip_strided_1x1)(g); /* (x itself as the planes) */
    int64_t *ct = NULL;
    int64_t chan = xself ? FCN(im2col_x_offsets)(g, &ct)
                   : phased && !later ? FCN(im2col_phases)(g, &ps, x, &xs, &ct, fc_resolve_threads(nthreads)) : 0;
    int st = (rows && !wip && !yt) || (phased && !later && !chan) ? FC_ERR_NOMEM : FC_OK;
    for (int64_t gi = 0; gi < g->G && st == FC_OK; gi++) {
        cx.x = x + gi * Cg * g->H * g->W;
#if FC_GEMM_TALL
        if (later) {
            st = FCN(conv_rows_grouped)(y + gi * Kg * PQ, yt, w + gi * Kg * CgRS, bias ? bias + gi * Kg : NULL, &cx,
                                        fc_resolve_threads(nthreads));
            if (st != RG_PLAIN) continue;
            st = FC_OK;
            if (!xs && !(chan = FCN(im2col_phases)(g, &ps, x, &xs, &ct, fc_resolve_threads(nthreads)))) {
                st = FC_ERR_NOMEM;
                break;
            }
        }
#endif
        cx.ct = ct;
        cx.pixoff = ct ? ct + CgRS : NULL;
        cx.xs = xself ? cx.x : xs ? xs + gi * Cg * chan : NULL;
        cx.xlen = xself ? (g->N * g->C - gi * Cg) * chan : 0;
        if (wip) {
            const int by_pixels = plain ? g->N * PQ > 5 * GEMM_NR : !rows;
            st = FCN(conv_wip_group)(y + gi * Kg * PQ, w + gi * Kg * CgRS, bias ? bias + gi * Kg : NULL, &cx, by_pixels,
                                     fc_resolve_threads(nthreads));
            continue;
        }
        FCN(strided) wa = {w + gi * Kg * CgRS, CgRS, 1};
        FCN(gemm_op) op = {
            .M = Kg, .N = g->N * PQ, .K = CgRS,
            .pack_a = FCN(pack_a_strided), .a_ctx = &wa,
            .pack_b = phased ? FCN(pack_im2col_phased) : FCN(pack_im2col), .b_ctx = &cx,
            .c = y + gi * Kg * PQ, .ldc = PQ, .seg_len = PQ, .seg_stride = g->K * PQ,
            .bias = bias ? bias + gi * Kg : NULL, .accumulate = 0,
        };
        if (rows) {
            op = (FCN(gemm_op)){
                .M = g->N * PQ, .N = Kg, .K = CgRS,
                .pack_a = FCN(pack_im2col_rows), .a_ctx = &cx,
                .pack_b = FCN(pack_b_strided), .b_ctx = &wa,
                .c = yt, .ldc = Kg, .seg_len = Kg, .seg_stride = 0, .bias = NULL, .accumulate = 0,
            };
        }
        st = FCN(gemm_run)(&op, nthreads);
        if (rows && st == FC_OK) /* (pixel, channel) -> y[n][gi * Kg + k][pixel] + bias */
            for (int64_t n = 0; n < g->N; n++)
                FCN(pixmajor_to_rows)(y + (n * g->K + gi * Kg) * PQ, PQ, yt + n * PQ * Kg, Kg, PQ, Kg,
                                      bias ? bias + gi * Kg : NULL, 0);
    }
    free(yt);
    free(xs);
    free(ct);
    fc_tap_range_free(&cx.cols);
    return st;
}

static int FCN(conv_im2col_backward_weight)(T *dw, const T *dy, const T *x, const fc_conv_geom *g,
                                            int nthreads)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G;
    const int64_t CgRS = Cg * g->R * g->S, PQ = g->P * g->Q;
    FCN(im2col_ctx) cx = {.g = g, .Cg = Cg};
    if (fc_tap_range_init(&cx.cols, g->S, g->W, g->Q, g->stride_w, g->pad_w, g->dil_w))
        return FC_ERR_NOMEM;
    /* B from the phase planes where they are about the input's size */
    fc_phase_shape ps;
    T *xs = NULL;
    int64_t *ct = NULL, chan = !fc_conv_plain_1x1(g) && fc_phase_shape_init(&ps, g)
                                  ? FCN(im2col_phases)(g, &ps, x, &xs, &ct, fc_resolve_threads(nthreads)) : 0;
    cx.ct = ct;
    cx.pixoff = ct ? ct + CgRS : NULL;
    int st = FC_OK;
    for (int64_t gi = 0; gi < g->G && st == FC_OK; gi++) {
        cx.x = x + gi * Cg * g->H * g->W;
        cx.xs = xs ? xs + gi * Cg * chan : NULL;
        cx.dy = dy + gi * Kg * PQ;
        FCN(gemm_op) op = {
            .M = Kg, .N = CgRS, .K = g->N * PQ,
            .pack_a = FCN(pack_dy_rows), .a_ctx = &cx,
            .pack_b = xs ? FCN(pack_im2col_t_phased) : FCN(pack_im2col_t), .b_ctx = &cx,
            .c = dw + gi * Kg * CgRS, .ldc = CgRS, .seg_len = CgRS, .seg_stride = 0,
            .bias = NULL, .accumulate = 0,
        };
        st = FCN(gemm_run)(&op, nthreads);
    }
    free(xs);
    free(ct);
    fc_tap_range_free(&cx.cols);
    return st;
}

/* dx[c, ih, iw] += dcol[kappa, t] (rows ld apart) for the output positions [t0, t0 + nt) of
 * one image; rows kappa cover channels c0 .. of plane dx0 (channel c0). */
static void FCN(col2im_add)(T *dx0, const T *dcol, int64_t ld, int64_t rows, int64_t t0, int64_t nt,
                            const fc_conv_geom *g, const fc_tap_range *cols)
{
    const int64_t HW = g->H * g->W;
    int64_t c = 0, r = 0, s = 0;
    for (int64_t kap = 0; kap < rows; kap++) {
        const T *src = dcol + kap * ld;
        T *plane = dx0 + c * HW;
        for (int64_t t = 0; t < nt;) {
            int64_t pq = t0 + t, p = pq / g->Q, q = pq % g->Q;
            int64_t len = FC_MIN(nt - t, g->Q - q);
            int64_t ih = p * g->stride_h - g->pad_h + r * g->dil_h;
            if (ih >= 0 && ih < g->H) {
                const int64_t qa = FC_MIN(FC_MAX(cols->lo[s], q), q + len);
                const int64_t qb = FC_MIN(FC_MAX(cols->hi[s], qa), q + len);
                /* output column qq adds into input column qq * stride_w + off (as in im2col_row) */
                T *drow = plane + ih * g->W;
                const int64_t off = s * g->dil_w - g->pad_w;
                const T *sr = src + t; /* output column q */
                if (g->stride_w == 1) {
                    if (qb > qa) {
                        T *da = drow + (qa + off);
                        const T *sa = sr + (qa - q);
                        for (int64_t i = 0; i < qb - qa; i++) da[i] += sa[i];
                    }
                } else {
                    for (int64_t qq = qa; qq < qb; qq++) drow[qq * g->stride_w + off] += sr[qq - q];
                }
            }
            t += len;
        }
        if (++s == g->S) {
            s = 0;
            if (++r == g->R) {
                r = 0;
                c++;
            }
        }
    }
}

/* The input gradient of a 1x1 layer with stride 1 (or one output row / column) and no padding:
 * dx = W^T dy over every image's pixels at once, one GEMM per group (M = Cg, N = N * HW, K = Kg)
 * written into dx in place: the forward's 1x1 panels of dy's planes (dy is x of the layer with C
 * and K swapped), A = W read transposed.  The general path below ran a GEMM per image into a
 * scratch block, packed W^T per image and copied the block into dx. */
static int FCN(conv_im2col_backward_input_pointwise)(T *dx, const T *dy, const T *w, const fc_conv_geom *g,
                                                     int nthreads)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G, HW = g->H * g->W;
    fc_conv_geom gt = *g;
    gt.C = g->K;
    gt.K = g->C;
    FCN(im2col_ctx) cx = {.g = &gt, .Cg = Kg};
    int st = FC_OK;
    for (int64_t gi = 0; gi < g->G && st == FC_OK; gi++) {
        cx.x = dy + gi * Kg * HW;
        FCN(strided) wt = {w + gi * Kg * Cg, 1, Cg};
        FCN(gemm_op) op = {
            .M = Cg, .N = g->N * HW, .K = Kg,
            .pack_a = FCN(pack_a_strided), .a_ctx = &wt,
            .pack_b = FCN(pack_im2col), .b_ctx = &cx,
            .c = dx + gi * Cg * HW, .ldc = HW, .seg_len = HW, .seg_stride = g->C * HW,
            .bias = NULL, .accumulate = 0,
        };
        st = FCN(gemm_run)(&op, nthreads);
    }
    return st;
}

/* A of the pixel-rows input gradient: dy^T of group gi, rows j = all images' output pixels,
 * panel pn (GEMM_MR pixels, Kg steps; rows past the last pixel zero) */
static void FCN(pack_dy_pixels)(T *dst, const T *dy, const fc_conv_geom *g, int64_t gi, int64_t pn)
{
    const int64_t PQ = g->P * g->Q, Kg = g->K / g->G, j0 = pn * GEMM_MR;
    const int64_t w = FC_MIN((int64_t)GEMM_MR, g->N * PQ - j0);
    const T *px[GEMM_MR];
    for (int64_t t = 0; t < GEMM_MR; t++) {
        const int64_t j = j0 + FC_MIN(t, w - 1);
        px[t] = dy + (j / PQ * g->K + gi * Kg) * PQ + j % PQ;
    }
    for (int64_t kk = 0; kk < Kg; kk++)
#pragma GCC unroll 8
        for (int t = 0; t < GEMM_MR; t++) dst[kk * GEMM_MR + t] = t < w ? px[t][kk * PQ] : (T)0;
}

/* Whether the input gradient takes pixels as rows: few of them (the forward's test), and dy^T
 * small enough to stay in L2 while W streams past it */
static int FCN(im2col_bwd_pixel_rows)(const fc_conv_geom *g)
{
    const int64_t npix = g->N * g->P * g->Q, Kg = g->K / g->G, CgRS = g->C / g->G * g->R * g->S;
    return FCN(im2col_pixel_rows)(npix, CgRS) && FC_ROUND_UP(npix, GEMM_MR) * Kg * (int64_t)sizeof(T) <= 512 * 1024;
}

/* Few output pixels (a small map at batch 1): pixels as the GEMM's rows, dcol^T[j, kappa] =
 * dy^T[j, k] W[k, kappa] with W read in place as B (its rows are the reduction's steps and kappa
 * runs along them), each tile transposed into dcol[kappa, j] and added into dx by col2im.  With
 * pixels as columns, W^T was packed as A (ResNet-18's 512 @7: 9.4 MB written and read back, a
 * quarter of the call) and 49 pixels filled 64 lanes.  Units: blocks of channels whose columns are
 * whole panels (32 channels of a 3x3 layer); each streams its columns of W once, the next panel
 * prefetched while the current one runs (W's rows are 18 KB apart: no hardware stream). */
static int FCN(conv_im2col_backward_input_rows)(T *dx, const T *dy, const T *w, const fc_conv_geom *g,
                                                const fc_tap_range *cols, int nthreads)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G, RS = g->R * g->S, CgRS = Cg * RS;
    const int64_t PQ = g->P * g->Q, HW = g->H * g->W, npix = g->N * PQ;
    const int64_t mp = FC_CEIL_DIV(npix, GEMM_MR), apanel = (int64_t)GEMM_MR * Kg;
    int64_t cu = 1;
    while ((cu * RS) % GEMM_NR) cu++;
    while (cu * RS < 4 * GEMM_NR) cu *= 2;
    cu = FC_MIN(cu, Cg);
    const int64_t ublk = FC_CEIL_DIV(Cg, cu), units = g->G * ublk;
    const int nt = (int)FC_MIN((int64_t)fc_resolve_threads(nthreads), units);
    T *apk = fc_scratch(FC_SCRATCH_GEMM_A, (size_t)(g->G * mp * apanel) * sizeof(T));
    if (!apk) return FC_ERR_NOMEM;
    int err = 0;
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
#pragma omp for schedule(static)
        for (int64_t it = 0; it < g->G * mp; it++) FCN(pack_dy_pixels)(apk + it * apanel, dy, g, it / mp, it % mp);
        T *dcol = fc_scratch(FC_SCRATCH_WORK, (size_t)(cu * RS * npix) * sizeof(T));
        T *bt = fc_scratch(FC_SCRATCH_PACK_B, (size_t)(Kg * GEMM_NR) * sizeof(T));
        T tmp[(GEMM_MR + 4) * GEMM_NR] __attribute__((aligned(64)));
        if (!dcol || !bt) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            if (!dcol || !bt) continue;
            const int64_t gi = u / ublk, c0 = u % ublk * cu, c1 = FC_MIN(Cg, c0 + cu);
            const int64_t ncol = (c1 - c0) * RS;
            const T *wu = w + gi * Kg * CgRS + c0 * RS, *ag = apk + gi * mp * apanel;
            for (int64_t jj = 0; jj < ncol; jj += GEMM_NR) {
                const int64_t nr = FC_MIN((int64_t)GEMM_NR, ncol - jj);
                /* (the next panel: this unit's, or the first of the next unit, usually this thread's) */
                const T *bp = wu + jj, *pf = c0 * RS + jj + 2 * GEMM_NR <= CgRS ? wu + jj + GEMM_NR : NULL;
                int64_t ldb = CgRS;
                if (nr < GEMM_NR) { /* (a partial panel: read in place, it would run past W's end) */
                    for (int64_t kk = 0; kk < Kg; kk++) {
                        for (int64_t t = 0; t < nr; t++) bt[kk * GEMM_NR + t] = bp[kk * CgRS + t];
                        for (int64_t t = nr; t < GEMM_NR; t++) bt[kk * GEMM_NR + t] = 0;
                    }
                    bp = bt;
                    ldb = GEMM_NR;
                }
                for (int64_t i = 0, tile = 0; i < npix; tile++) {
                    const int64_t r2 = FC_GEMM_TALL && npix - i - GEMM_MR >= 1 && npix - i - GEMM_MR <= 4
                                           ? npix - i - GEMM_MR : 0;
                    /* the next panel's first line of each of W's rows with the first tile, its last
                     * with the second (both with the first where there is one tile) */
                    const T *pft = !pf ? NULL : tile == 0 ? pf : tile == 1 ? pf + GEMM_NR - 1 : NULL;
                    FCN(gemm_ukr_ldb)((int)r2, Kg, ag + i / GEMM_MR * apanel, bp, ldb, pft, tmp);
                    if (pf && tile == 0 && npix <= GEMM_MR + 4)
                        for (int64_t kk = 0; kk < Kg; kk++) __builtin_prefetch(pf + kk * ldb + GEMM_NR - 1, 0, 3);
                    const int64_t mr = FC_MIN((int64_t)GEMM_MR + r2, npix - i);
                    T *d = dcol + jj * npix + i;
                    int64_t e = 0;
                    if (mr >= 8)
                        for (; e + 8 <= nr; e += 8) FCN(transpose8)(d + e * npix, npix, tmp + e, GEMM_NR);
                    for (int64_t t = e ? 8 : 0; t < mr; t++) /* (rows past the 8 x 8 blocks, then columns) */
                        for (int64_t ee = 0; ee < e; ee++) d[ee * npix + t] = tmp[t * GEMM_NR + ee];
                    for (; e < nr; e++)
                        for (int64_t t = 0; t < mr; t++) d[e * npix + t] = tmp[t * GEMM_NR + e];
                    i += GEMM_MR + r2;
                }
            }
            for (int64_t img = 0; img < g->N; img++)
                FCN(col2im_add)(dx + (img * g->C + gi * Cg + c0) * HW, dcol + img * PQ, npix, ncol, 0, PQ, g, cols);
        }
        fc_fp_leave(fp);
    }
    return err;
}

/* The input gradient of a strided layer adds dcol into phase planes of dx: dx of a unit's images and
 * channels zero-padded to the Hn x Wn the windows cover and split by the stride (the forward's xs
 * layout), where tap (r, s) of output row p is a contiguous run (col2im's adds along a stride-2
 * row were scalar: 19 % of ResNet-18's layer3 3x3/2 at batch 8), then copied into dx once, the
 * padding left behind.  The same adds in the same order: dx bit for bit as col2im_add's. */
typedef struct FCN(dx_phases) {
    fc_phase_shape ps;
    int64_t *tapoff; /* tap (r, s)'s offset in a channel's planes (fc_phase_tap) */
} FCN(dx_phases);

/* Whether dx of ni images x cu channels takes phase planes (a stride, the planes about dx's size
 * and at most 1M elements a unit); fills ph (-1: out of memory) */
static int FCN(dx_phases_init)(FCN(dx_phases) *ph, const fc_conv_geom *g, int64_t ni, int64_t cu)
{
    if (g->stride_h * g->stride_w == 1 || !fc_phase_shape_init(&ph->ps, g) ||
        (double)ni * (double)cu * (double)ph->ps.chan > 1048576.0)
        return 0;
    ph->tapoff = malloc((size_t)(g->R * g->S) * sizeof(int64_t));
    if (!ph->tapoff) return -1;
    for (int64_t r = 0; r < g->R; r++)
        for (int64_t t = 0; t < g->S; t++) ph->tapoff[r * g->S + t] = fc_phase_tap(&ph->ps, g, r, t);
    return 1;
}

/* dxs[channel kappa / RS of image run.img][tap kappa % RS's plane, run's row and columns] +=
 * dcol[kappa] along the runs of a tile's columns (dcol's rows ld apart, images cu * chan apart) */
static void FCN(dx_phases_add)(T *dxs, const FCN(dx_phases) *ph, int64_t cu, const T *dcol, int64_t ld,
                               int64_t rows, int64_t RS, const fc_run *runs, int64_t nrun)
{
    for (int64_t kap = 0; kap < rows; kap++) {
        T *base = dxs + kap / RS * ph->ps.chan + ph->tapoff[kap % RS];
        const T *src = dcol + kap * ld;
        for (int64_t uu = 0, half = (nrun + 1) / 2; uu < nrun; uu++) {
            /* (the even runs, then the odd: the next output row's run lies within 64 bytes of this
             * one's, and a load of a line stored by a masked store just before is not forwarded:
             * 4-6 % of the 3x3/2 layers' input gradient, one thread) */
            const int64_t u = uu < half ? 2 * uu : 2 * (uu - half) + 1;
            T *d = base + runs[u].img * cu * ph->ps.chan + runs[u].p * ph->ps.Wp + runs[u].q;
            const T *sv = src + runs[u].lane;
            const int64_t n = runs[u].len;
            int64_t j = 0;
            for (; j + VL <= n; j += VL) FCN(storeu)(d + j, FCN(loadu)(d + j) + FCN(loadu)(sv + j));
            if (j < n) FCN(store_lanes)(d + j, FCN(load_lanes)(d + j, n - j) + FCN(load_lanes)(sv + j, n - j), n - j);
        }
    }
}

/* dx[channel c] = the inside of its phase planes src, for ni images x cu channels from dx0
 * (images C * HW apart in dx, cu * chan in dxs); rows and columns no window reaches left as they are */
static void FCN(dx_phases_copy)(T *dx0, const T *dxs, const FCN(dx_phases) *ph, const fc_conv_geom *g,
                                int64_t ni, int64_t cu)
{
    const int64_t sh = g->stride_h, sw = g->stride_w, HW = g->H * g->W;
    const int64_t ih1 = FC_MIN(g->H, ph->ps.Hn - g->pad_h), iw1 = FC_MIN(g->W, ph->ps.Wn - g->pad_w);
    for (int64_t li = 0; li < ni; li++)
        for (int64_t c = 0; c < cu; c++) {
            T *d = dx0 + li * g->C * HW + c * HW;
            const T *s = dxs + (li * cu + c) * ph->ps.chan;
            for (int64_t ih = 0; ih < ih1; ih++) {
                const int64_t hp = ih + g->pad_h;
                const T *srow = s + (hp % sh) * sw * ph->ps.hw + hp / sh * ph->ps.Wp;
                T *drow = d + ih * g->W;
                for (int64_t b = 0; b < sw; b++) { /* columns iw with (iw + pad_w) % sw == b */
                    const int64_t iw0 = ((b - g->pad_w % sw) + sw) % sw;
                    const T *sp = srow + b * ph->ps.hw + (iw0 + g->pad_w) / sw;
                    if (sw == 2)
                        for (int64_t iw = iw0, j = 0; iw < iw1; iw += 2, j++) drow[iw] = sp[j];
                    else
                        for (int64_t iw = iw0, j = 0; iw < iw1; iw += sw, j++) drow[iw] = sp[j];
                }
            }
        }
}

/* B of the input gradient over several images: dy's columns off + j = (image, pixel) of one
 * group from dy0 (the first image's first channel), images img_stride apart, PQ pixels each */
typedef struct FCN(dy_cols) {
    const T *dy0;
    int64_t img_stride, PQ, off;
} FCN(dy_cols);

static void FCN(pack_dy_cols)(const void *ctx, T *dst, int64_t j0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(dy_cols) *d = ctx;
    for (int64_t jp = 0; jp < n; jp += GEMM_NR, dst += (int64_t)GEMM_NR * kc) {
        const int64_t w = FC_MIN((int64_t)GEMM_NR, n - jp);
        for (int64_t kk = 0; kk < kc; kk++) {
            T *o = dst + kk * GEMM_NR;
            for (int64_t t = 0; t < w;) { /* runs within an image */
                const int64_t j = d->off + j0 + jp + t, img = j / d->PQ, p = j % d->PQ;
                const int64_t len = FC_MIN(w - t, d->PQ - p);
                memcpy(o + t, d->dy0 + img * d->img_stride + (k0 + kk) * d->PQ + p, (size_t)len * sizeof(T));
                t += len;
            }
            for (int64_t t = w; t < GEMM_NR; t++) o[t] = 0;
        }
    }
}

static int FCN(conv_im2col_backward_input)(T *dx, const T *dy, const T *w, const fc_conv_geom *g,
                                           int nthreads)
{
    const int64_t Cg = g->C / g->G, Kg = g->K / g->G, RS = g->R * g->S;
    const int64_t CgRS = Cg * RS, PQ = g->P * g->Q, HW = g->H * g->W;
    const int nt = fc_resolve_threads(nthreads);
    if (fc_conv_plain_1x1(g))
        return FCN(conv_im2col_backward_input_pointwise)(dx, dy, w, g, nthreads);
    fc_tap_range cols;
    if (fc_tap_range_init(&cols, g->S, g->W, g->Q, g->stride_w, g->pad_w, g->dil_w))
        return FC_ERR_NOMEM;
    if (FCN(im2col_bwd_pixel_rows)(g)) {
        const int st = FCN(conv_im2col_backward_input_rows)(dx, dy, w, g, &cols, nthreads);
        fc_tap_range_free(&cols);
        return st;
    }
    /* Units own disjoint slices of dx: (images, group, channel block).  Small maps take several
     * images a unit, their pixels one run of GEMM columns (49 pixels an image filled 77 % of the
     * lanes); channels are split only when images and groups alone leave threads idle. */
    const int64_t ngroups = PQ < 8 * GEMM_NR ? FC_MAX(1, FC_MIN(g->N, FC_CEIL_DIV(g->N * PQ, 8 * GEMM_NR))) : g->N;
    const int64_t ipu = FC_CEIL_DIV(g->N, ngroups), nimg = FC_CEIL_DIV(g->N, ipu);
    int64_t cblocks = 1;
    if (nimg * g->G < 2 * nt) cblocks = FC_MIN(Cg, FC_CEIL_DIV(2 * nt, nimg * g->G));
    const int64_t units = nimg * g->G * cblocks;
    /* W^T packed once per (group, channel block), the team's packing before the units (every
     * unit and pixel tile packed it again: 10 % of ResNet-18's stride-2 layer at batch 8) */
    const int64_t blk = FCN(gemm_apk_elems)(FC_CEIL_DIV(Cg, cblocks) * RS, Kg);
    const int64_t items = FCN(gemm_apk_items)(FC_CEIL_DIV(Cg, cblocks) * RS, Kg); /* (a block's most) */
    T *apk = fc_scratch(FC_SCRATCH_GEMM_A, (size_t)(g->G * cblocks * blk) * sizeof(T));
    FCN(dx_phases) ph = {0};
    const int phased = apk ? FCN(dx_phases_init)(&ph, g, ipu, FC_CEIL_DIV(Cg, cblocks)) : 0;
    if (!apk || phased < 0) {
        fc_tap_range_free(&cols);
        return FC_ERR_NOMEM;
    }
    int err = 0;
#pragma omp parallel num_threads(units < nt ? (int)units : nt)
    {
        fc_fpstate fp = fc_fp_enter();
#pragma omp for schedule(static)
        for (int64_t it = 0; it < g->G * cblocks * items; it++) { /* (the blocks' items, as gemm_run's) */
            const int64_t b = it / items, gi = b / cblocks;
            int64_t c0, c1;
            fc_split_range(Cg, cblocks, b % cblocks, &c0, &c1);
            FCN(strided) wa = {w + gi * Kg * CgRS + c0 * RS, 1, CgRS};
            FCN(gemm_op) op = {.M = (c1 - c0) * RS, .K = Kg, .pack_a = FCN(pack_a_strided), .a_ctx = &wa};
            if (it % items < FCN(gemm_apk_items)(op.M, Kg)) FCN(gemm_pack_apk_item)(&op, apk + b * blk, it % items);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            int failed;
#pragma omp atomic read
            failed = err;
            if (failed) continue;
            int64_t cb = u % cblocks, gi = (u / cblocks) % g->G, i0 = u / (cblocks * g->G) * ipu;
            const int64_t ni = FC_MIN(g->N, i0 + ipu) - i0, ncols = ni * PQ;
            int64_t c0, c1;
            fc_split_range(Cg, cblocks, cb, &c0, &c1);
            const int64_t cu = c1 - c0, rows = cu * RS, tile_elems = phased ? FC_DCOL_TILE_PHASED : FC_DCOL_TILE_ELEMS;
            int64_t tile = FC_MAX((int64_t)GEMM_NR, tile_elems / FC_MAX(rows, 1) / GEMM_NR * GEMM_NR);
            tile = FC_MIN(tile, ncols);
            T *dcol = fc_scratch(FC_SCRATCH_WORK, (size_t)rows * tile * sizeof(T)), *dxs = NULL;
            fc_run *runs = NULL;
            if (phased) { /* (the unit's phase planes, then its tiles' runs) */
                const size_t db = FC_ROUND_UP((size_t)(ni * cu * ph.ps.chan) * sizeof(T), 64);
                char *sc = fc_scratch(FC_SCRATCH_WORK2, db + (size_t)(tile / g->Q + 2) * sizeof(fc_run));
                dxs = sc ? (T *)(void *)sc : NULL;
                runs = sc ? (fc_run *)(void *)(sc + db) : NULL;
                if (dxs) memset(dxs, 0, (size_t)(ni * cu * ph.ps.chan) * sizeof(T));
            }
            if (!dcol || (phased && !dxs)) {
#pragma omp atomic write
                err = FC_ERR_NOMEM;
                continue;
            }
            /* (one image's columns: the strided packing, which reads dy row after row) */
            FCN(dy_cols) dyc = {dy + (i0 * g->K + gi * Kg) * PQ, g->K * PQ, PQ, 0};
            for (int64_t t0 = 0; t0 < ncols; t0 += tile) { /* t0: the unit's column (image i0 + t0 / PQ) */
                const int64_t ntc = FC_MIN(tile, ncols - t0);
                dyc.off = t0;
                FCN(strided) dyb = {dy + (i0 * g->K + gi * Kg) * PQ + t0, 1, PQ};
                FCN(gemm_op) op = {
                    .M = rows, .N = ntc, .K = Kg,
                    .pack_a = NULL, .a_ctx = NULL,
                    .pack_b = ncols > PQ ? FCN(pack_dy_cols) : FCN(pack_b_strided),
                    .b_ctx = ncols > PQ ? (const void *)&dyc : (const void *)&dyb,
                    .c = dcol, .ldc = ntc, .seg_len = ntc, .seg_stride = 0,
                    .bias = NULL, .accumulate = 0,
                };
                if (FCN(gemm_serial)(&op, apk + (gi * cblocks + cb) * blk)) {
#pragma omp atomic write
                    err = FC_ERR_NOMEM;
                    break;
                }
                if (phased) {
                    const int64_t nrun = fc_split_runs(runs, t0, ntc, g->P, g->Q);
                    FCN(dx_phases_add)(dxs, &ph, cu, dcol, ntc, rows, RS, runs, nrun);
                    continue;
                }
                for (int64_t t = t0; t < t0 + ntc;) { /* the tile's columns image by image */
                    const int64_t img = i0 + t / PQ, p = t % PQ, len = FC_MIN(t0 + ntc - t, PQ - p);
                    FCN(col2im_add)(dx + (img * g->C + gi * Cg + c0) * HW, dcol + (t - t0), ntc, rows, p, len, g,
                                    &cols);
                    t += len;
                }
            }
#pragma omp atomic read
            failed = err;
            if (phased && !failed) FCN(dx_phases_copy)(dx + (i0 * g->C + gi * Cg + c0) * HW, dxs, &ph, g, ni, cu);
        }
        fc_fp_leave(fp);
    }
    free(ph.tapoff);
    fc_tap_range_free(&cols);
    return err;
}
