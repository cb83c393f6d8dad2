/* Direct convolution of small output maps, vectorised along output
 * channels   (template, see internal.h; used by conv_direct.c)
 *
 * The lane tiles of conv_direct.c run vectors along output columns.  When a
 * row holds only a few columns most of those lanes are padding: an 8x8 map
 * fills 64 of the 96 lanes it computes, a 4x4 map 16 of 48.  Here the
 * vectors run along output channels instead.  A tile is CV_MR output pixels
 * x NV vectors of output channels; for each input channel and tap it loads
 * NV weight vectors and broadcasts one input element per pixel.  Every
 * pixel has its own window origin, so a tile may cross rows and images, and
 * the only idle lanes are the output channels' round-up to a vector.
 *
 * A work unit is a block of images of one group: their planes are copied,
 * zero-padded, into scratch; the tiles write a pixel-major buffer (pixel,
 * output channel), which is then transposed into NCHW with the bias.
 */

#ifndef FC_CV_COMMON
#define FC_CV_COMMON
#include <string.h>

/* a unit's padded input and its pixel-major output stay within this when
 * it holds more than one image ... */
#define FC_CV_UNIT_BYTES (256 * 1024)
/* ... and channel vectors run only where one image's stay within this */
#define FC_CV_MAX_UNIT_BYTES (4 << 20)
#endif

#if FC_VBYTES == 64 /* 32 vector registers */
#define CV_NVMAX 4
#define CV_MR_1 8
#define CV_MR_2 8
#define CV_MR_3 8
#define CV_MR_4 6
#else /* 16 vector registers */
#define CV_NVMAX 2
#define CV_MR_1 8
#define CV_MR_2 6
#define CV_MR_3 4
#define CV_MR_4 2
#endif
#define CV_MR_MAX 8

typedef struct FCN(cv_plan) {
    const fc_conv_geom *g;
    int64_t Cg, Kg, Kp, RS, PQ, HWin;
    int64_t Hn, Wn;  /* padded rows and columns the outputs read */
    int64_t plane;   /* Hn * Wn */
    int64_t ib;      /* images per unit */
    int64_t units;   /* image blocks x groups */
    int64_t *ct;     /* Cg * RS: offset of (channel, tap) from a window origin */
    int64_t *pixoff; /* ib * PQ: window origin of pixel i of a unit */
} FCN(cv_plan);

/* The output-channel vectors of a tile, and its pixels for that width. */
static inline int FCN(cv_mr)(int nv)
{
    return nv == 1 ? CV_MR_1 : nv == 2 ? CV_MR_2 : nv == 3 ? CV_MR_3 : CV_MR_4;
}

/* Bytes of one image's padded input planes and pixel-major output (or dy)
 * in a unit's scratch. */
static int64_t FCN(cv_image_bytes)(const fc_conv_geom *g)
{
    const int64_t Hn = (g->P - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    const int64_t Wn = (g->Q - 1) * g->stride_w + (g->S - 1) * g->dil_w + 1;
    return (g->C / g->G * Hn * Wn + g->P * g->Q * FC_ROUND_UP(g->K / g->G, VL)) * (int64_t)sizeof(T);
}

/* (Re)builds the plan's offset tables for pl->ib images per unit. */
static int FCN(cv_plan_tables)(FCN(cv_plan) *pl)
{
    const fc_conv_geom *g = pl->g;
    free(pl->ct);
    pl->ct = malloc((size_t)(pl->Cg * pl->RS + pl->ib * pl->PQ) * sizeof(int64_t));
    if (!pl->ct) return FC_ERR_NOMEM;
    pl->pixoff = pl->ct + pl->Cg * pl->RS;
    for (int64_t c = 0; c < pl->Cg; c++)
        for (int64_t r = 0; r < g->R; r++)
            for (int64_t s = 0; s < g->S; s++)
                pl->ct[(c * g->R + r) * g->S + s] = c * pl->plane + r * g->dil_h * pl->Wn + s * g->dil_w;
    for (int64_t i = 0; i < pl->ib * pl->PQ; i++) {
        const int64_t img = i / pl->PQ, p = (i % pl->PQ) / g->Q, q = i % g->Q;
        pl->pixoff[i] = img * pl->Cg * pl->plane + p * g->stride_h * pl->Wn + q * g->stride_w;
    }
    return FC_OK;
}

/* ib > 0: that many images per unit; 0: chosen for the forward's tiles. */
static int FCN(cv_plan_init)(FCN(cv_plan) *pl, const fc_conv_geom *g, int nt, int64_t ib)
{
    pl->g = g;
    pl->ct = NULL;
    pl->Cg = g->C / g->G;
    pl->Kg = g->K / g->G;
    pl->Kp = FC_ROUND_UP(pl->Kg, VL);
    pl->RS = g->R * g->S;
    pl->PQ = g->P * g->Q;
    pl->HWin = g->H * g->W;
    pl->Hn = (g->P - 1) * g->stride_h + (g->R - 1) * g->dil_h + 1;
    pl->Wn = (g->Q - 1) * g->stride_w + (g->S - 1) * g->dil_w + 1;
    pl->plane = pl->Hn * pl->Wn;
    const int ib_fixed = ib > 0;
    ib = ib_fixed ? ib : 1;
    /* images per unit: the fewest (up to 8) that waste under an eighth of
     * the tiles' pixels, or else the least waste; a unit must fit L2, and
     * each thread should get two units or more */
    const int64_t per_img = FCN(cv_image_bytes)(g);
    const int64_t mr = FCN(cv_mr)((int)FC_MIN(CV_NVMAX, pl->Kp / VL));
    int64_t best = FC_ROUND_UP(pl->PQ, mr) - pl->PQ;
    for (int64_t b = 2; !ib_fixed && b <= 8 && 8 * best >= ib * pl->PQ; b++) { /* waste >= 1/8 of ib images' pixels */
        if (b * per_img > FC_CV_UNIT_BYTES || FC_CEIL_DIV(g->N, b) * g->G < 2 * nt) break;
        const int64_t waste = FC_ROUND_UP(b * pl->PQ, mr) - b * pl->PQ;
        if (waste * ib < best * b) {
            ib = b;
            best = waste;
        }
    }
    pl->ib = ib;
    pl->units = FC_CEIL_DIV(g->N, ib) * g->G;
    return FCN(cv_plan_tables)(pl);
}

/* Packs row j = (i * R + r) * S + s of group gi of the weights, element
 * (gi, output channel o, input channel i, r, s) = wb[gi * gs + o * os + i *
 * is + r * rs + s * ss], as wp[gi][j][o]: rows of Kp, zeros past Kg. */
static void FCN(cv_pack_row)(T *wp, const T *wb, fc_wview v, const FCN(cv_plan) *pl, int64_t gi, int64_t j)
{
    const fc_conv_geom *g = pl->g;
    const int64_t i = j / pl->RS, r = (j % pl->RS) / g->S, s = j % g->S;
    T *row = wp + (gi * pl->Cg * pl->RS + j) * pl->Kp;
    const T *src = wb + gi * v.gs + i * v.is + r * v.rs + s * v.ss;
    for (int64_t o = 0; o < pl->Kg; o++) row[o] = src[o * v.os];
    for (int64_t o = pl->Kg; o < pl->Kp; o++) row[o] = 0;
}

/* cv_pack_row of rows j0 .. j0 + 8 (fewer at the end) where the view's row j runs contiguous (ss = 1,
 * rs = S, is = R S: the forward's weights), 8 x 8 blocks by register transposes: row by row, an
 * element a cache line (rows Cg R S apart), it was 3 % of ResNet-18's layer3 3x3/2 at batch 8. */
static void FCN(cv_pack_rows8)(T *wp, const T *wb, fc_wview v, const FCN(cv_plan) *pl, int64_t gi, int64_t j0)
{
    const int64_t n = pl->Cg * pl->RS, m = FC_MIN((int64_t)8, n - j0);
    T *rows = wp + (gi * n + j0) * pl->Kp;
    const T *src = wb + gi * v.gs + j0;
    int64_t o = 0;
    if (m == 8)
        for (; o + 8 <= pl->Kg; o += 8) FCN(transpose8)(rows + o, pl->Kp, src + o * v.os, v.os);
    for (int64_t e = 0; e < m; e++) {
        T *row = rows + e * pl->Kp;
        for (int64_t k = o; k < pl->Kg; k++) row[k] = src[k * v.os + e];
        for (int64_t k = pl->Kg; k < pl->Kp; k++) row[k] = 0;
    }
}

/* MR pixels (window origins px[i]) x NV vectors of output channels: ob[i *
 * Kp + v * VL ..] = sum over (channel, tap) j of x[px[i] + ct[j]] * wp[j *
 * Kp + v * VL ..]; rows i >= npix are computed (on a repeated pixel) but
 * not stored. */
static inline __attribute__((always_inline)) void FCN(cv_tile)(const int MR, const int NV,
                                                              const T *const *px, const int64_t *ct,
                                                              int64_t n, const T *wp, int64_t Kp, T *ob,
                                                              int64_t npix)
{
    V acc[CV_MR_MAX][CV_NVMAX];
    const T *p[CV_MR_MAX];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        p[i] = px[i];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = (V){0};
    }
    for (int64_t j = 0; j < n; j++, wp += Kp) {
        const int64_t o = ct[j];
        V w[CV_NVMAX];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) w[v] = FCN(loadu)(wp + v * VL);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const V xv = FCN(splat)(p[i][o]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] += xv * w[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= npix) break;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) FCN(storeu)(ob + i * Kp + v * VL, acc[i][v]);
    }
}

#define FC_CV_VARIANT(NV)                                                                         \
    static void FCN(cv_tile_##NV)(const T *const *px, const int64_t *ct, int64_t n, const T *wp,  \
                                  int64_t Kp, T *ob, int64_t npix)                                \
    {                                                                                             \
        FCN(cv_tile)(CV_MR_##NV, NV, px, ct, n, wp, Kp, ob, npix);                                \
    }
FC_CV_VARIANT(1)
FC_CV_VARIANT(2)
#if CV_NVMAX >= 3
FC_CV_VARIANT(3)
FC_CV_VARIANT(4)
#endif
#undef FC_CV_VARIANT

/* The planes of images i0 .. i0 + nimg, group gi, into the interior of
 * xs, whose padding the caller zeroed (the same positions in every unit). */
static void FCN(cv_load_planes)(const FCN(cv_plan) *pl, T *xs, const T *x, int64_t i0, int64_t nimg, int64_t gi)
{
    const fc_conv_geom *g = pl->g;
    const int64_t Wn = pl->Wn;
    const int64_t r0 = FC_MAX(0, g->pad_h), r1 = FC_MIN(pl->Hn, g->pad_h + g->H);
    const int64_t c0 = FC_MAX(0, g->pad_w), c1 = FC_MIN(Wn, g->pad_w + g->W);
    for (int64_t m = 0; m < nimg; m++) {
        for (int64_t c = 0; c < pl->Cg; c++) {
            const T *src = x + ((i0 + m) * g->C + gi * pl->Cg + c) * pl->HWin;
            T *dst = xs + (m * pl->Cg + c) * pl->plane;
            for (int64_t i = r0; i < r1; i++) {
                const T *row = src + (i - g->pad_h) * g->W - g->pad_w;
                for (int64_t t = c0; t < c1; t++) dst[i * Wn + t] = row[t];
            }
        }
    }
}

/* One unit: images i0 .. i0 + nimg of group gi. */
static void FCN(cv_unit)(T *y, const T *x, const T *wp, const T *bias, const FCN(cv_plan) *pl,
                         int64_t i0, int64_t nimg, int64_t gi, T *xs, T *ob, int accumulate)
{
    const fc_conv_geom *g = pl->g;
    FCN(cv_load_planes)(pl, xs, x, i0, nimg, gi);
    const int64_t npix = nimg * pl->PQ, n = pl->Cg * pl->RS;
    const T *wg = wp + gi * n * pl->Kp;
    for (int64_t k0 = 0; k0 < pl->Kp;) {
        const int nv = (int)FC_MIN(CV_NVMAX, (pl->Kp - k0) / VL), mr = FCN(cv_mr)(nv);
        for (int64_t t0 = 0; t0 < npix; t0 += mr) {
            const T *px[CV_MR_MAX];
            for (int i = 0; i < mr; i++) px[i] = xs + pl->pixoff[FC_MIN(t0 + i, npix - 1)];
            T *o = ob + t0 * pl->Kp + k0;
            const int64_t left = npix - t0;
            switch (nv) {
            case 1: FCN(cv_tile_1)(px, pl->ct, n, wg + k0, pl->Kp, o, left); break;
            case 2: FCN(cv_tile_2)(px, pl->ct, n, wg + k0, pl->Kp, o, left); break;
#if CV_NVMAX >= 3
            case 3: FCN(cv_tile_3)(px, pl->ct, n, wg + k0, pl->Kp, o, left); break;
            default: FCN(cv_tile_4)(px, pl->ct, n, wg + k0, pl->Kp, o, left); break;
#endif
            }
        }
        k0 += nv * VL;
    }
    /* pixel-major -> NCHW (+ bias) */
    for (int64_t m = 0; m < nimg; m++)
        FCN(pixmajor_to_rows)(y + ((i0 + m) * g->K + gi * pl->Kg) * pl->PQ, pl->PQ, ob + m * pl->PQ * pl->Kp, pl->Kp,
                              pl->PQ, pl->Kg, bias ? bias + gi * pl->Kg : NULL, accumulate);
}

/* y (+)= conv(x, w) (+ bias), the weights (as the view v of wb) packed
 * into wp by the team first */
static int FCN(cv_forward_run)(T *y, const T *x, T *wp, const T *wb, fc_wview v, const T *bias,
                               const FCN(cv_plan) *pl, int accumulate, int nt)
{
    const fc_conv_geom *g = pl->g;
    const int64_t rows = g->G * pl->Cg * pl->RS;
    int err = 0;
#pragma omp parallel num_threads(pl->units < nt ? (int)pl->units : nt)
    {
        fc_fpstate fp = fc_fp_enter();
        const int64_t n = pl->Cg * pl->RS, nb = FC_CEIL_DIV(n, 8);
        if (v.ss == 1 && v.rs == g->S && v.is == pl->RS) { /* (a weight's rows j contiguous) */
#pragma omp for schedule(static)
            for (int64_t b = 0; b < g->G * nb; b++) FCN(cv_pack_rows8)(wp, wb, v, pl, b / nb, b % nb * 8);
        } else {
#pragma omp for schedule(static)
            for (int64_t j = 0; j < rows; j++) FCN(cv_pack_row)(wp, wb, v, pl, j / n, j % n);
        }
        T *xs = fc_scratch(FC_SCRATCH_WORK, (size_t)(pl->ib * pl->Cg * pl->plane) * sizeof(T));
        T *ob = fc_scratch(FC_SCRATCH_WORK2, (size_t)(pl->ib * pl->PQ * pl->Kp) * sizeof(T));
        if (!xs || !ob) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        } else {
            memset(xs, 0, (size_t)(pl->ib * pl->Cg * pl->plane) * sizeof(T));
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < pl->units; u++) {
            if (!xs || !ob) continue;
            const int64_t blk = u / g->G, gi = u % g->G, i0 = blk * pl->ib;
            FCN(cv_unit)(y, x, wp, bias, pl, i0, FC_MIN(pl->ib, g->N - i0), gi, xs, ob, accumulate);
        }
        fc_fp_leave(fp);
    }
    return err;
}

/* Runs the convolution of g (weights as the view v of wb) on channel
 * vectors: y (+)= conv(x, w) (+ bias). */
static int FCN(conv_cv)(T *y, const T *x, const T *wb, fc_wview v, const T *bias, const fc_conv_geom *g,
                        int accumulate, int nt)
{
    FCN(cv_plan) pl;
    if (FCN(cv_plan_init)(&pl, g, nt, 0)) return FC_ERR_NOMEM;
    T *wp = fc_scratch(FC_SCRATCH_SHARED, (size_t)(g->G * pl.Cg * pl.RS * pl.Kp) * sizeof(T));
    int st = FC_ERR_NOMEM;
    if (wp) st = FCN(cv_forward_run)(y, x, wp, wb, v, bias, &pl, accumulate, nt);
    free(pl.ct);
    return st;
}

/* ---- weight gradient ------------------------------------------------------------- */

/* dwT[j][k] = sum over pixels of x[pixel origin + ct[j]] * dyT[pixel][k],
 * for MR rows j (offsets o[i] = ct[j0 + i]) x NV vectors of k, over the
 * npix pixels of a unit; added to part (rows i < nrows, pitch Kp). */
static inline __attribute__((always_inline)) void FCN(cv_wgrad_tile)(const int MR, const int NV, const T *xs,
                                                                    const int64_t *pixoff, int64_t npix,
                                                                    const int64_t *ctj, const T *dyT,
                                                                    int64_t Kp, T *part, int64_t nrows)
{
    V acc[CV_MR_MAX][CV_NVMAX];
    int64_t o[CV_MR_MAX];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        o[i] = ctj[i];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = (V){0};
    }
    for (int64_t pix = 0; pix < npix; pix++, dyT += Kp) {
        const T *base = xs + pixoff[pix];
        V d[CV_NVMAX];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) d[v] = FCN(loadu)(dyT + v * VL);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const V xv = FCN(splat)(base[o[i]]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] += xv * d[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= nrows) break;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            T *dst = part + i * Kp + v * VL;
            FCN(storeu)(dst, FCN(loadu)(dst) + acc[i][v]);
        }
    }
}

#define FC_CV_WVARIANT(NV)                                                                          \
    static void FCN(cv_wgrad_tile_##NV)(const T *xs, const int64_t *pixoff, int64_t npix,          \
                                        const int64_t *ctj, const T *dyT, int64_t Kp, T *part,     \
                                        int64_t nrows)                                             \
    {                                                                                               \
        FCN(cv_wgrad_tile)(CV_MR_##NV, NV, xs, pixoff, npix, ctj, dyT, Kp, part, nrows);            \
    }
FC_CV_WVARIANT(1)
FC_CV_WVARIANT(2)
#if CV_NVMAX >= 3
FC_CV_WVARIANT(3)
FC_CV_WVARIANT(4)
#endif
#undef FC_CV_WVARIANT

/* The weight gradient of g on channel vectors: dw += sum over images and
 * pixels.  Units are blocks of images (a multiple of the team in number,
 * each within FC_CV_UNIT_BYTES), so every tile reduces over many pixels
 * before it adds into its thread's partial dwT[group][(c, r, s)][k]; the
 * partials are summed in thread order at the end (static schedule: the
 * same result run to run for a given thread count). */
static int FCN(conv_cv_backward_weight)(T *dw, const T *dy, const T *x, const fc_conv_geom *g, int nthreads)
{
    const int nt = fc_resolve_threads(nthreads);
    /* units: images split into team-multiple blocks that fit the unit budget */
    const int64_t per_img = FCN(cv_image_bytes)(g);
    int64_t nblk = FC_MIN(nt * FC_CEIL_DIV(g->N * per_img, nt * (int64_t)FC_CV_UNIT_BYTES), g->N);
    const int64_t ib = FC_CEIL_DIV(g->N, nblk);
    nblk = FC_CEIL_DIV(g->N, ib);
    FCN(cv_plan) pl;
    if (FCN(cv_plan_init)(&pl, g, nt, ib)) return FC_ERR_NOMEM;
    const int64_t n = pl.Cg * pl.RS, part_size = g->G * n * pl.Kp, units = nblk * g->G;
    const int team = units < nt ? (int)units : nt;
    T *part = fc_scratch(FC_SCRATCH_SHARED, (size_t)(part_size * team) * sizeof(T));
    if (!part) {
        free(pl.ct);
        return FC_ERR_NOMEM;
    }
    int err = 0;
#pragma omp parallel num_threads(team)
    {
        fc_fpstate fp = fc_fp_enter();
        const int tid = omp_get_thread_num(), nteam = omp_get_num_threads();
        T *mine = part + (size_t)tid * part_size;
        memset(mine, 0, (size_t)part_size * sizeof(T));
        T *xs = fc_scratch(FC_SCRATCH_WORK, (size_t)(ib * pl.Cg * pl.plane) * sizeof(T));
        T *dyT = fc_scratch(FC_SCRATCH_WORK2, (size_t)(ib * pl.PQ * pl.Kp) * sizeof(T));
        if (!xs || !dyT) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        } else {
            memset(xs, 0, (size_t)(ib * pl.Cg * pl.plane) * sizeof(T));
            memset(dyT, 0, (size_t)(ib * pl.PQ * pl.Kp) * sizeof(T));
        }
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            if (!xs || !dyT) continue;
            const int64_t gi = u % g->G, i0 = (u / g->G) * ib, nimg = FC_MIN(ib, g->N - i0);
            FCN(cv_load_planes)(&pl, xs, x, i0, nimg, gi);
            for (int64_t m = 0; m < nimg; m++) /* dy of the unit, pixel-major */
                for (int64_t k = 0; k < pl.Kg; k++) {
                    const T *src = dy + ((i0 + m) * g->K + gi * pl.Kg + k) * pl.PQ;
                    T *dst = dyT + m * pl.PQ * pl.Kp + k;
                    for (int64_t i = 0; i < pl.PQ; i++) dst[i * pl.Kp] = src[i];
                }
            const int64_t npix = nimg * pl.PQ;
            T *pg = mine + gi * n * pl.Kp;
            for (int64_t k0 = 0; k0 < pl.Kp;) {
                const int nv = (int)FC_MIN(CV_NVMAX, (pl.Kp - k0) / VL), mr = FCN(cv_mr)(nv);
                for (int64_t j0 = 0; j0 < n; j0 += mr) {
                    int64_t ctj[CV_MR_MAX];
                    for (int i = 0; i < mr; i++) ctj[i] = pl.ct[FC_MIN(j0 + i, n - 1)];
                    T *o = pg + j0 * pl.Kp + k0;
                    const int64_t rows = n - j0;
                    switch (nv) {
                    case 1: FCN(cv_wgrad_tile_1)(xs, pl.pixoff, npix, ctj, dyT + k0, pl.Kp, o, rows); break;
                    case 2: FCN(cv_wgrad_tile_2)(xs, pl.pixoff, npix, ctj, dyT + k0, pl.Kp, o, rows); break;
#if CV_NVMAX >= 3
                    case 3: FCN(cv_wgrad_tile_3)(xs, pl.pixoff, npix, ctj, dyT + k0, pl.Kp, o, rows); break;
                    default: FCN(cv_wgrad_tile_4)(xs, pl.pixoff, npix, ctj, dyT + k0, pl.Kp, o, rows); break;
#endif
                    }
                }
                k0 += nv * VL;
            }
        }
#pragma omp barrier
        /* dw[gi * Kg + k][j] += sum over threads of part[t][gi][j][k]: rows of
         * the partials read contiguously (they sit in other cores' caches) */
#pragma omp for schedule(static)
        for (int64_t row = 0; row < g->G * n; row++) {
            const int64_t gi = row / n, j = row % n;
            T *d = dw + gi * pl.Kg * n + j;
            const T *p0 = part + row * pl.Kp;
            for (int64_t k = 0; k < pl.Kg; k++) {
                T s = 0;
                for (int t = 0; t < nteam; t++) s += p0[(size_t)t * part_size + k];
                d[k * n] += s;
            }
        }
        fc_fp_leave(fp);
    }
    free(pl.ct);
    return err;
}

#undef CV_NVMAX
#undef CV_MR_1
#undef CV_MR_2
#undef CV_MR_3
#undef CV_MR_4
#undef CV_MR_MAX
