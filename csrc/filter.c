/* Dense and separable 2-D correlation of single-channel images   (template, see internal.h)
 *
 *   y[p, q] (+)= sum_r sum_s k[r, s] xb[p - pad_top + r, q - pad_left + s]
 *
 * where xb is the input extended by the boundary rule (fill value, wrap or
 * symmetric reflection); the separable form has k = ky kx^T.
 *
 * Work units are (image, band of output rows, strip of output columns).
 * Strips are cut at the columns where the kernel starts to reach outside
 * the image, so each strip's input columns lie either wholly inside the
 * image (its rows are read in place, no copy) or not (an edge strip: its
 * rows are extended by the boundary rule into a buffer).  Rows above and
 * below the image are image rows again (wrap, symm) or a row of fill
 * values.  A unit then sees its input as an array of row pointers.
 *
 * One tile routine does the arithmetic of every pass: FILTER_RB output rows
 * by FILTER_NV vectors in registers; each input row j of the tile is loaded
 * once per tap column s and feeds the output rows i = j - r it reaches, so
 * one load serves up to FILTER_RB fused multiply-adds per vector.
 *   dense      the tile routine with the whole kernel;
 *   separable  vertical pass first (the tile routine with ky as a KY x 1
 *              kernel) into a buffer of the band's rows that stays in L2,
 *              then the horizontal pass (a 1 x KX kernel) into y.
 *              Vertical first: the halo a band recomputes is KX - 1
 *              columns of a wide strip, not KY - 1 rows of a short band.
 */

#ifndef FC_FILTER_COMMON
#define FC_FILTER_COMMON
/* a unit's input rows (dense) or pass buffer (separable) stay below this */
#define FC_FILTER_BUF_BYTES (384 * 1024)

/* index of the extended input at i (any integer) under the boundary rule,
 * or -1 for the fill value */
static inline int64_t fc_boundary_index(int64_t i, int64_t n, int boundary)
{
    if (i >= 0 && i < n) return i;
    if (boundary == FC_BOUNDARY_WRAP) {
        i %= n;
        return i < 0 ? i + n : i;
    }
    if (boundary == FC_BOUNDARY_SYMM) {
        /* ... 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...: period 2n */
        const int64_t m = 2 * n;
        i %= m;
        if (i < 0) i += m;
        return i < n ? i : m - 1 - i;
    }
    return -1;
}

/* The strips of a unit's columns: output columns [0, Q) split into left
 * edge [0, a), inside [a, b), right edge [b, Q), each cut into pieces of at
 * most `width` columns. */
typedef struct fc_filter_strips {
    int64_t a, b, Q, width, n0, n1, n2;
} fc_filter_strips;

static inline fc_filter_strips fc_filter_make_strips(const fc_filter_geom *g, int64_t width, int64_t align)
{
    fc_filter_strips s;
    /* output column q reads input columns q - pad_left .. q - pad_left + kx - 1 */
    s.b = FC_MIN(FC_MAX(g->W - g->kx + 1 + g->pad_left, (int64_t)0), g->Q);
    /* the inside strips start at a multiple of `align` (aligned stores) */
    s.a = FC_MIN(FC_ROUND_UP(FC_MAX(g->pad_left, (int64_t)0), align), s.b);
    s.Q = g->Q;
    s.width = width;
    s.n0 = FC_CEIL_DIV(s.a, width);
    s.n1 = FC_CEIL_DIV(s.b - s.a, width);
    s.n2 = FC_CEIL_DIV(s.Q - s.b, width);
    return s;
}

/* strip i: first column, width, and whether its input lies inside the image */
static inline void fc_filter_strip(const fc_filter_strips *s, int64_t i, int64_t *q0, int64_t *nq, int *inside)
{
    int64_t lo, hi;
    if (i < s->n0) {
        lo = 0, hi = s->a, *inside = 0;
    } else if (i < s->n0 + s->n1) {
        i -= s->n0, lo = s->a, hi = s->b, *inside = 1;
    } else {
        i -= s->n0 + s->n1, lo = s->b, hi = s->Q, *inside = 0;
    }
    *q0 = lo + i * s->width;
    *nq = FC_MIN(s->width, hi - *q0);
}
#endif

#define FILTER_RB 4 /* output rows per register tile */
#if FC_VBYTES == 64
#define FILTER_NV 4 /* vectors per register tile row: 16 accumulators of 32 registers */
#else
#define FILTER_NV 2 /* 8 accumulators of 16 registers */
#endif

/* One padded input row: dst[t] = xb[row, c0 + t], t < ext */
static void FCN(filter_extend_row)(T *dst, const T *row, int64_t ext, int64_t c0, int64_t W, int boundary, T fill)
{
    int64_t t = 0;
    for (; t < ext && c0 + t < 0; t++) {
        const int64_t j = fc_boundary_index(c0 + t, W, boundary);
        dst[t] = j < 0 ? fill : row[j];
    }
    const int64_t inside = FC_MIN(ext, W - c0) - t;
    if (inside > 0) {
        memcpy(dst + t, row + c0 + t, (size_t)inside * sizeof(T));
        t += inside;
    }
    for (; t < ext; t++) {
        const int64_t j = fc_boundary_index(c0 + t, W, boundary);
        dst[t] = j < 0 ? fill : row[j];
    }
}

/* The register tile: y rows [0, nr) (nr <= FILTER_RB), columns
 * [q, q + FILTER_NV * VL) clipped to n, (+)= the KY x KX kernel k
 * correlated with rows[0 .. nr + KY - 1) from column q.  `full` (a constant
 * after inlining) says the tile lies wholly inside n. */
static inline __attribute__((always_inline)) void FCN(filter_tile)(T *y, int64_t ys, const T *const *rows,
                                                                   const T *k, int64_t KY, int64_t KX, int64_t nr,
                                                                   int64_t q, int64_t n, int accumulate, int full)
{
    V acc[FILTER_RB][FILTER_NV];
    for (int i = 0; i < FILTER_RB; i++)
        for (int v = 0; v < FILTER_NV; v++) acc[i][v] = (V){0};
    for (int64_t j = 0; j < nr + KY - 1; j++) {
        const T *src = rows[j] + q;
        /* row j feeds output rows i in [ilo, ihi], with kernel row j - i */
        const int64_t ilo = FC_MAX(j - KY + 1, (int64_t)0), ihi = FC_MIN(j, nr - 1);
        for (int64_t s = 0; s < KX; s++) {
            V xv[FILTER_NV];
            for (int v = 0; v < FILTER_NV; v++)
                xv[v] = full ? FCN(loadu)(src + s + v * VL) : FCN(load_lanes)(src + s + v * VL, n - q - v * VL);
            for (int i = 0; i < FILTER_RB; i++) {
                if (i < ilo || i > ihi) continue;
                const V w = FCN(splat)(k[(j - i) * KX + s]);
                for (int v = 0; v < FILTER_NV; v++) acc[i][v] += w * xv[v];
            }
        }
    }
    for (int i = 0; i < FILTER_RB; i++) {
        if (i >= nr) break;
        T *d = y + i * ys + q;
        for (int v = 0; v < FILTER_NV; v++) {
            if (full) {
                FCN(storeu)(d + v * VL, accumulate ? acc[i][v] + FCN(loadu)(d + v * VL) : acc[i][v]);
            } else {
                const int64_t m = n - q - v * VL;
                V r = acc[i][v];
                if (accumulate) r += FCN(load_lanes)(d + v * VL, m);
                FCN(store_lanes)(d + v * VL, r, m);
            }
        }
    }
}

/* y rows [0, np) x columns [0, n) from rows[0 .. np + KY - 1) */
static void FCN(filter_rows)(T *y, int64_t ys, const T *const *rows, const T *k, int64_t KY, int64_t KX,
                             int64_t np, int64_t n, int accumulate)
{
    const int64_t step = FILTER_NV * VL;
    for (int64_t i = 0; i < np; i += FILTER_RB) {
        const int64_t nr = FC_MIN((int64_t)FILTER_RB, np - i);
        int64_t q = 0;
        for (; q + step <= n; q += step)
            FCN(filter_tile)(y + i * ys, ys, rows + i, k, KY, KX, nr, q, n, accumulate, 1);
        if (q < n) FCN(filter_tile)(y + i * ys, ys, rows + i, k, KY, KX, nr, q, n, accumulate, 0);
    }
}

/* The horizontal pass of a separable filter: y rows [0, np) x columns
 * [0, n) (+)= sum_s k[s] rows[i][q + s], rows readable to n + KX - 1 + VL.
 * On AVX-512 each tap's shifted input is a lane rotation (valign) of two
 * aligned loads: an unaligned 64-byte load splits two cache lines and
 * halves the load rate, which bounds a pass that needs a load per FMA. */
#if FC_X86 && FC_VBYTES == 64 && !defined(FC_TUNE_NO_ALIGNR)
#if FC_DOUBLE
#define FILTER_ALIGNR(hi, lo, t) ((V)_mm512_alignr_epi64((__m512i)(hi), (__m512i)(lo), (t) & 7))
#else
#define FILTER_ALIGNR(hi, lo, t) ((V)_mm512_alignr_epi32((__m512i)(hi), (__m512i)(lo), (t) & 15))
#endif
#define FILTER_TAP(t)                                                                                         \
    if ((t) < VL && (t) < KX - s0) {                                                                          \
        const V w = FCN(splat)(k[s0 + (t)]);                                                                  \
        for (int v = 0; v < FILTER_NV; v++) acc[v] += w * FILTER_ALIGNR(A[v + 1], A[v], t);                  \
    }
static void FCN(filter_hpass)(T *y, int64_t ys, const T *const *rows, const T *k, int64_t KX, int64_t np,
                              int64_t n, int accumulate)
{
    const int64_t step = FILTER_NV * VL, nfull = n / step * step;
    for (int64_t i = 0; i < np; i++) {
        const T *src = rows[i];
        T *d = y + i * ys;
        for (int64_t q = 0; q < nfull; q += step) {
            V acc[FILTER_NV];
            for (int v = 0; v < FILTER_NV; v++) acc[v] = (V){0};
            for (int64_t s0 = 0; s0 < KX; s0 += VL) {
                V A[FILTER_NV + 1];
                for (int v = 0; v <= FILTER_NV; v++) A[v] = FCN(loadu)(src + q + s0 + v * VL);
                FILTER_TAP(0) FILTER_TAP(1) FILTER_TAP(2) FILTER_TAP(3)
                FILTER_TAP(4) FILTER_TAP(5) FILTER_TAP(6) FILTER_TAP(7)
                FILTER_TAP(8) FILTER_TAP(9) FILTER_TAP(10) FILTER_TAP(11)
                FILTER_TAP(12) FILTER_TAP(13) FILTER_TAP(14) FILTER_TAP(15)
            }
            for (int v = 0; v < FILTER_NV; v++)
                FCN(storeu)(d + q + v * VL, accumulate ? acc[v] + FCN(loadu)(d + q + v * VL) : acc[v]);
        }
        if (nfull < n) FCN(filter_tile)(d, ys, rows + i, k, 1, KX, 1, nfull, n, accumulate, 0);
    }
}
#undef FILTER_TAP
#undef FILTER_ALIGNR
#else
static void FCN(filter_hpass)(T *y, int64_t ys, const T *const *rows, const T *k, int64_t KX, int64_t np,
                              int64_t n, int accumulate)
{
    FCN(filter_rows)(y, ys, rows, k, 1, KX, np, n, accumulate);
}
#endif

/* Points rows[0 .. nrows) at the unit's extended input rows p0 - pad_top + j,
 * each from column c0 for ext elements: in place where the strip lies inside
 * the image, else extended into ebuf (row stride es); fill rows -> fillrow. */
static void FCN(filter_unit_rows)(const T **rows, T *ebuf, int64_t es, const T *fillrow, const T *xi,
                                  const fc_filter_geom *g, int64_t p0, int64_t nrows, int64_t c0, int64_t ext,
                                  int inside, T fill)
{
    for (int64_t j = 0; j < nrows; j++) {
        const int64_t ih = fc_boundary_index(p0 - g->pad_top + j, g->H, g->boundary);
        if (ih < 0) {
            rows[j] = fillrow;
        } else if (inside) {
            rows[j] = xi + ih * g->W + c0;
        } else {
            FCN(filter_extend_row)(ebuf + j * es, xi + ih * g->W, ext, c0, g->W, g->boundary, fill);
            rows[j] = ebuf + j * es;
        }
    }
}

/* The common driver: kx2 == NULL for a dense kernel k (KY x KX), else the
 * separable kernel k (KY) by kx2 (KX). */
/* What a filtering's units share (filter_units runs them: the caller's team, or one thread). */
typedef struct FCN(filter_job) {
    T *y;
    const T *x, *k, *kx2;
    T fill;
    const fc_filter_geom *g;
    fc_filter_strips st;
    int64_t band, ns, nb, units, es, nrows;
    int accumulate, sep;
} FCN(filter_job);

static void FCN(filter_units)(const FCN(filter_job) *job, int *err)
{
    T *y = job->y;
    const T *x = job->x, *k = job->k, *kx2 = job->kx2;
    const T fill = job->fill;
    const fc_filter_geom *g = job->g;
    const fc_filter_strips st = job->st;
    const int64_t band = job->band, ns = job->ns, nb = job->nb, units = job->units, es = job->es;
    const int64_t nrows = job->nrows, KY = g->ky, KX = g->kx, P = g->P, Q = g->Q;
    const int accumulate = job->accumulate, sep = job->sep;
    fc_fpstate fp = fc_fp_enter();
    /* WORK: extended rows of an edge strip, then (separable) the vertical
     * pass buffer; WORK2: the row pointers and a row of fill values */
    T *ebuf = fc_scratch(FC_SCRATCH_WORK, (size_t)((nrows + (sep ? band : 0)) * es) * sizeof(T));
    const T **rows = fc_scratch(FC_SCRATCH_WORK2, (size_t)(nrows + band) * sizeof(T *) + (size_t)es * sizeof(T));
    if (!ebuf || !rows) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        T *vbuf = ebuf + nrows * es;
        const T **vrows = rows + nrows;
        T *fillrow = (T *)(vrows + band);
        for (int64_t t = 0; t < es; t++) fillrow[t] = fill;
        if (sep)
            for (int64_t i = 0; i < band; i++) vrows[i] = vbuf + i * es;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < units; u++) {
            const int64_t sidx = u % ns, bidx = (u / ns) % nb, img = u / (ns * nb);
            int64_t q0, nq;
            int inside;
            fc_filter_strip(&st, sidx, &q0, &nq, &inside);
            const int64_t p0 = bidx * band, np_ = FC_MIN(band, P - p0);
            const int64_t ext = nq + KX - 1;
            FCN(filter_unit_rows)(rows, ebuf, es, fillrow, x + img * g->H * g->W, g, p0, np_ + KY - 1,
                                  q0 - g->pad_left, ext, inside, fill);
            T *yu = y + img * P * Q + p0 * Q + q0;
            if (!sep) {
                FCN(filter_rows)(yu, Q, rows, k, KY, KX, np_, nq, accumulate);
            } else {
                FCN(filter_rows)(vbuf, es, rows, k, KY, 1, np_, ext, 0);
                FCN(filter_hpass)(yu, Q, vrows, kx2, KX, np_, nq, accumulate);
            }
        }
    }
    fc_fp_leave(fp);
}

static int FCN(filter_run)(T *y, const T *x, const T *k, const T *kx2, T fill, const fc_filter_geom *g,
                           int accumulate, int nthreads)
{
    if (g->N < 0 || g->H < 1 || g->W < 1 || g->P < 0 || g->Q < 0 || g->ky < 1 || g->kx < 1) return FC_ERR_ARG;
    if (g->N == 0 || g->P == 0 || g->Q == 0) return FC_OK;
    const int nt = fc_resolve_threads(nthreads);
    const int64_t KY = g->ky, KX = g->kx, P = g->P, Q = g->Q;
    const int sep = kx2 != NULL;
    /* bands tall enough that the KY - 1 halo rows cost little */
    int64_t band = FC_ROUND_UP(FC_MAX((int64_t)32, 2 * (KY - 1)), FILTER_RB);
    /* strips narrow enough that a band's rows (dense) or pass buffer
     * (separable) stay in L2 */
    const int64_t rows_held = sep ? band : band + KY - 1;
    int64_t width = FC_MAX((int64_t)(FILTER_NV * VL), FC_FILTER_BUF_BYTES / (rows_held * (int64_t)sizeof(T)) - KX);
    width = FC_ROUND_UP(FC_MIN(width, Q), VL);
    fc_filter_strips st = fc_filter_make_strips(g, width, VL);
    int64_t ns = st.n0 + st.n1 + st.n2, nb = FC_CEIL_DIV(P, band);
    /* enough units for the threads: thinner bands when there are too few */
    while (g->N * nb * ns < 2 * nt && band > FILTER_RB) {
        band = FC_ROUND_UP(FC_MAX((int64_t)FILTER_RB, band / 2), FILTER_RB);
        nb = FC_CEIL_DIV(P, band);
    }
    const int64_t units = g->N * nb * ns;
    const int64_t es = FC_ROUND_UP(width + KX - 1, VL) + VL; /* extended / pass buffer row stride */
    const int64_t nrows = band + KY - 1;
    /* a team only when there is work for it (waking one costs microseconds) */
    const double work = (double)g->N * (double)P * (double)Q * (double)(sep ? KY + KX : KY * KX);
    const int team = work < 65536.0 ? 1 : (units < nt ? (int)units : nt);
    const FCN(filter_job) job = {y, x, k, kx2, fill, g, st, band, ns, nb, units, es, nrows, accumulate, sep};
    int err = 0;
    FC_TEAM(team, FCN(filter_units)(&job, &err));
    return err;
}

static int FCN(filter2d_forward)(T *y, const T *x, const T *k, double fill, const fc_filter_geom *g, int accumulate,
                                 int nthreads)
{
    return FCN(filter_run)(y, x, k, NULL, (T)fill, g, accumulate, nthreads);
}

static int FCN(sepfilter_forward)(T *y, const T *x, const T *ky, const T *kx, double fill, const fc_filter_geom *g,
                                  int accumulate, int nthreads)
{
    return FCN(filter_run)(y, x, ky, kx, (T)fill, g, accumulate, nthreads);
}

#undef FILTER_RB
#undef FILTER_NV
