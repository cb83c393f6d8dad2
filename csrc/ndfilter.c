/* 1-D correlation along one axis of an N-D array, with scipy.ndimage's
 * boundary modes                                     (template, see internal.h)
 *
 *   y[o, i, c] = sum_k w[k] xe[o, i + k - shift, c],   shift = K / 2 + origin
 *
 * x, y: (outer, n, inner), C-contiguous, y == x or not overlapping (in
 * place, each unit copies its lines before writing them); w: (K); xe: x extended
 * along its middle axis by the mode (fc_ndmode).  Separable N-D filters
 * (Gaussian, box, Sobel) are one such pass per axis.
 *
 * inner > 1 (any axis but the last): vectorised along inner.  A work unit
 * is (o, band of output rows, block of inner columns); its input rows are
 * row pointers into x (the mode picks which row; the constant mode points
 * at a row of cval), and filter.c's register tile runs them as a KY x 1
 * kernel: each input row is loaded once per tile and feeds the 4 output
 * rows it reaches.  Column blocks are narrow enough that the K + 3 rows a
 * tile reads stay in L2 while the tile walks down the band.
 *
 * inner == 1 (the last axis): each line is extended by the mode into a
 * per-thread buffer (so the taps read without branches) and filter.c's
 * horizontal pass runs across output positions (on AVX-512 its shifted
 * inputs are lane rotations of two loads).
 *
 * Why not scipy's symmetric form (x[i-k] + x[i+k]) w[k]: with fused
 * multiply-add it takes the same number of vector instructions (an add and
 * an FMA per pair of taps against two FMAs), and it would forgo the tile's
 * reuse of each loaded row for 4 output rows.  Measured on the horizontal
 * pass (Zen 4, 4096x4096 float32, K = 15, 17, 65): the symmetric form with
 * plain loads ran 3-5 % slower than filter_hpass's lane rotations.
 */

#ifndef FC_NDFILTER_COMMON
#define FC_NDFILTER_COMMON
/* the rows a vertical tile reads stay below this (L2 is 1-2 MiB) */
#define FC_NDFILTER_BLOCK_BYTES (256 * 1024)
/* lines extended per unit of a last-axis pass */
#define FC_NDFILTER_LINES 8

/* index of the extended line at j (any integer) under mode, or -1 for the
 * constant; n >= 1 */
static inline int64_t fc_nd_index(int64_t j, int64_t n, int mode)
{
    if (j >= 0 && j < n) return j;
    /* within one reflection of the line (all a kernel shorter than it reaches): no division */
    if (j >= -n && j < 2 * n && n > 1) {
        switch (mode) {
        case FC_ND_NEAREST:
            return j < 0 ? 0 : n - 1;
        case FC_ND_WRAP:
            return j < 0 ? j + n : j - n;
        case FC_ND_REFLECT:
            return j < 0 ? -j - 1 : 2 * n - 1 - j;
        case FC_ND_MIRROR:
            if (j > -n && j < 2 * n - 1) return j < 0 ? -j : 2 * n - 2 - j;
            break;
        default:
            return -1;
        }
    }
    switch (mode) {
    case FC_ND_NEAREST:
        return j < 0 ? 0 : n - 1;
    case FC_ND_WRAP:
        j %= n;
        return j < 0 ? j + n : j;
    case FC_ND_REFLECT: {
        const int64_t m = 2 * n; /* b a | a b c d | d c: period 2n */
        j %= m;
        if (j < 0) j += m;
        return j < n ? j : m - 1 - j;
    }
    case FC_ND_MIRROR: {
        if (n == 1) return 0;
        const int64_t m = 2 * n - 2; /* c b | a b c d | c b: period 2n - 2 */
        j %= m;
        if (j < 0) j += m;
        return j < n ? j : m - j;
    }
    default:
        return -1;
    }
}
#endif

typedef struct FCN(nd_job) {
    T *y;
    const T *x, *w;
    int64_t outer, n, inner, K, shift;
    int mode;
    T cval;
    int64_t band, nbands, cb, ncb, units;
    int slab; /* in place (y == x): each unit copies its columns of whole lines first */
} FCN(nd_job);

/* inner > 1: units (o, band, column block), rows by pointer (into x, or
 * into the unit's copy of its columns when y is x: a slab of n rows that
 * stays in L2, so running in place costs no extra memory traffic) */
static void FCN(nd_inner_units)(const FCN(nd_job) *job, int *err)
{
    const int64_t n = job->n, inner = job->inner, K = job->K, band = job->band, cb = job->cb;
    fc_fpstate fp = fc_fp_enter();
    /* WORK2: the row pointers of a unit, then a row of cval; WORK: the slab */
    const T **rows = fc_scratch(FC_SCRATCH_WORK2, (size_t)(band + K - 1) * sizeof(T *) + (size_t)cb * sizeof(T));
    T *slab = job->slab ? fc_scratch(FC_SCRATCH_WORK, (size_t)(n * cb) * sizeof(T)) : NULL;
    if (!rows || (job->slab && !slab)) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        T *cvalrow = (T *)(rows + band + K - 1);
        for (int64_t t = 0; t < cb; t++) cvalrow[t] = job->cval;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < job->units; u++) {
            const int64_t cbi = u % job->ncb, bi = (u / job->ncb) % job->nbands, o = u / (job->ncb * job->nbands);
            const int64_t c0 = cbi * cb, nc = FC_MIN(cb, inner - c0);
            const int64_t i0 = bi * band, np_ = FC_MIN(band, n - i0);
            const T *xo = job->x + o * n * inner + c0;
            int64_t xs = inner;
            if (slab) {
                for (int64_t r = 0; r < n; r++) memcpy(slab + r * cb, xo + r * inner, (size_t)nc * sizeof(T));
                xo = slab, xs = cb;
            }
            for (int64_t j = 0; j < np_ + K - 1; j++) {
                const int64_t r = fc_nd_index(i0 + j - job->shift, n, job->mode);
                rows[j] = r < 0 ? cvalrow : xo + r * xs;
            }
            FCN(filter_rows)(job->y + (o * n + i0) * inner + c0, inner, rows, job->w, K, 1, np_, nc, 0);
        }
    }
    fc_fp_leave(fp);
}

/* A line held at dst[shift .. shift + n) extended in place by mode to
 * dst[0 .. n + K - 1), then zeros to es (what the horizontal pass reads
 * beyond it) */
static void FCN(nd_extend_margins)(T *dst, int64_t n, int64_t K, int64_t shift, int mode, T cval, int64_t es)
{
    const int64_t ext = n + K - 1;
    for (int64_t t = 0; t < shift; t++) {
        const int64_t j = fc_nd_index(t - shift, n, mode);
        dst[t] = j < 0 ? cval : dst[shift + j];
    }
    for (int64_t t = shift + n; t < ext; t++) {
        const int64_t j = fc_nd_index(t - shift, n, mode);
        dst[t] = j < 0 ? cval : dst[shift + j];
    }
    for (int64_t t = ext; t < es; t++) dst[t] = 0;
}

/* inner == 1: units of FC_NDFILTER_LINES lines, each extended into WORK */
static void FCN(nd_last_units)(const FCN(nd_job) *job, int *err)
{
    const int64_t n = job->n, K = job->K;
    const int64_t es = FC_ROUND_UP(n + K - 1, VL) + 2 * VL; /* the pass reads to n + K - 1 + VL */
    fc_fpstate fp = fc_fp_enter();
    T *buf = fc_scratch(FC_SCRATCH_WORK, (size_t)(FC_NDFILTER_LINES * es) * sizeof(T));
    const T **rows = fc_scratch(FC_SCRATCH_WORK2, FC_NDFILTER_LINES * sizeof(T *));
    if (!buf || !rows) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        for (int l = 0; l < FC_NDFILTER_LINES; l++) rows[l] = buf + l * es;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < job->units; u++) {
            const int64_t l0 = u * FC_NDFILTER_LINES, nl = FC_MIN((int64_t)FC_NDFILTER_LINES, job->outer - l0);
            for (int64_t l = 0; l < nl; l++) {
                memcpy(buf + l * es + job->shift, job->x + (l0 + l) * n, (size_t)n * sizeof(T));
                FCN(nd_extend_margins)(buf + l * es, n, K, job->shift, job->mode, job->cval, es);
            }
            FCN(filter_hpass)(job->y + l0 * n, n, rows, job->w, K, nl, n, 0);
        }
    }
    fc_fp_leave(fp);
}

static int FCN(correlate1d_forward)(T *y, const T *x, const T *w, int64_t outer, int64_t n, int64_t inner,
                                    int64_t K, int64_t origin, int mode, double cval, int nthreads)
{
    if (outer < 0 || n < 0 || inner < 0 || K < 1 || mode < FC_ND_NEAREST || mode > FC_ND_CONSTANT) return FC_ERR_ARG;
    if (origin < -(K / 2) || origin > (K - 1) / 2) return FC_ERR_ARG;
    if (outer == 0 || n == 0 || inner == 0) return FC_OK;
    const int nt = fc_resolve_threads(nthreads);
    FCN(nd_job) job = {y, x, w, outer, n, inner, K, K / 2 + origin, mode, (T)cval, n, 1, 1, 1, 0, y == x};
    const double work = (double)outer * (double)n * (double)inner * (double)K;
    int err = 0;
    if (inner == 1) {
        job.units = FC_CEIL_DIV(outer, (int64_t)FC_NDFILTER_LINES);
        const int team = work < 65536.0 ? 1 : (int)FC_MIN((int64_t)nt, job.units);
        FC_TEAM(team, FCN(nd_last_units)(&job, &err));
        return err;
    }
    /* column blocks: the K + 3 rows a tile reads fit the block budget (a slab of whole lines
     * is wider than L2 then, but narrower blocks cut the lines into short, strided pieces
     * that the prefetchers serve worse: measured 4x slower on 256^3); equal widths */
    const int64_t cb_max = FC_MAX((int64_t)(4 * VL), FC_NDFILTER_BLOCK_BYTES / ((K + 3) * (int64_t)sizeof(T)));
    job.ncb = FC_CEIL_DIV(inner, cb_max);
    job.cb = FC_MIN(inner, FC_ROUND_UP(FC_CEIL_DIV(inner, job.ncb), VL));
    job.ncb = FC_CEIL_DIV(inner, job.cb);
    /* bands: enough units to balance the threads, each band much taller than its K - 1 halo rows */
    while (!job.slab && outer * job.nbands * job.ncb < 4 * nt && job.band > FC_MAX((int64_t)16, 2 * K)) {
        job.band = FC_CEIL_DIV(job.band, 2);
        job.nbands = FC_CEIL_DIV(n, job.band);
    }
    job.units = outer * job.nbands * job.ncb;
    const int team = work < 65536.0 ? 1 : (int)FC_MIN((int64_t)nt, job.units);
    FC_TEAM(team, FCN(nd_inner_units)(&job, &err));
    return err;
}

/* ---- two passes in one sweep: the middle axis, then the last ----
 * Work units are (o, band of rows).  A unit's vertical pass writes its rows
 * into a buffer at the horizontal pass's offset, extends each row there by
 * the last axis's mode (SciPy's order: the first pass's result is what the
 * second extends), and the horizontal pass reads the buffer: the image is
 * read once and written once, where two passes read and write it twice.
 * In place (y == x) a unit is a whole (n, m) plane (for stacks of planes). */
typedef struct FCN(nd_sep_job) {
    T *y;
    const T *x, *wv, *wh;
    int64_t n, m, Kv, Kh, shift_v, shift_h, band, nbands, units, es;
    int mode_v, mode_h;
    T cval;
} FCN(nd_sep_job);

static void FCN(nd_sep_units)(const FCN(nd_sep_job) *job, int *err)
{
    const int64_t n = job->n, m = job->m, band = job->band, es = job->es, Kv = job->Kv;
    fc_fpstate fp = fc_fp_enter();
    /* WORK: the band's vertical results; WORK2: their row pointers, the input's, a row of cval */
    T *vbuf = fc_scratch(FC_SCRATCH_WORK, (size_t)(band * es) * sizeof(T));
    const T **rows = fc_scratch(FC_SCRATCH_WORK2, (size_t)(2 * band + Kv - 1) * sizeof(T *) + (size_t)m * sizeof(T));
    if (!vbuf || !rows) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    } else {
        const T **vrows = rows + band + Kv - 1;
        T *cvalrow = (T *)(vrows + band);
        for (int64_t t = 0; t < m; t++) cvalrow[t] = job->cval;
        for (int64_t i = 0; i < band; i++) vrows[i] = vbuf + i * es;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < job->units; u++) {
            const int64_t o = u / job->nbands, i0 = (u % job->nbands) * band, np_ = FC_MIN(band, n - i0);
            for (int64_t j = 0; j < np_ + Kv - 1; j++) {
                const int64_t r = fc_nd_index(i0 + j - job->shift_v, n, job->mode_v);
                rows[j] = r < 0 ? cvalrow : job->x + (o * n + r) * m;
            }
            FCN(filter_rows)(vbuf + job->shift_h, es, rows, job->wv, Kv, 1, np_, m, 0);
            for (int64_t i = 0; i < np_; i++)
                FCN(nd_extend_margins)(vbuf + i * es, m, job->Kh, job->shift_h, job->mode_h, job->cval, es);
            FCN(filter_hpass)(job->y + (o * n + i0) * m, m, vrows, job->wh, job->Kh, np_, m, 0);
        }
    }
    fc_fp_leave(fp);
}

static int FCN(sepcorrelate_forward)(T *y, const T *x, const T *wv, const T *wh, int64_t outer, int64_t n, int64_t m,
                                     int64_t Kv, int64_t Kh, int64_t origin_v, int64_t origin_h, int mode_v,
                                     int mode_h, double cval, int nthreads)
{
    if (outer < 0 || n < 0 || m < 0 || Kv < 1 || Kh < 1 || mode_v < FC_ND_NEAREST || mode_v > FC_ND_CONSTANT ||
        mode_h < FC_ND_NEAREST || mode_h > FC_ND_CONSTANT)
        return FC_ERR_ARG;
    if (origin_v < -(Kv / 2) || origin_v > (Kv - 1) / 2 || origin_h < -(Kh / 2) || origin_h > (Kh - 1) / 2)
        return FC_ERR_ARG;
    if (outer == 0 || n == 0 || m == 0) return FC_OK;
    const int nt = fc_resolve_threads(nthreads);
    FCN(nd_sep_job) job = {y, x, wv, wh, n, m, Kv, Kh, Kv / 2 + origin_v, Kh / 2 + origin_h, 0, 0, 0,
                           FC_ROUND_UP(m + Kh - 1, VL) + 2 * VL, mode_v, mode_h, (T)cval};
    /* bands tall enough that the Kv - 1 halo rows each re-reads cost little (they are likely
     * still in L3), fewer rows when there are too few units for the threads; in place (y == x),
     * a unit is a whole plane, whose vertical pass has read all of it before its rows are
     * written */
    job.band = y == x ? n : FC_MIN(n, FC_ROUND_UP(FC_MAX((int64_t)32, 2 * (Kv - 1)), 4));
    job.nbands = FC_CEIL_DIV(n, job.band);
    while (y != x && outer * job.nbands < 4 * nt && job.band > 4) {
        job.band = FC_ROUND_UP(FC_CEIL_DIV(job.band, 2), 4);
        job.nbands = FC_CEIL_DIV(n, job.band);
    }
    job.units = outer * job.nbands;
    const double work = (double)outer * (double)n * (double)m * (double)(Kv + Kh);
    const int team = work < 65536.0 ? 1 : (int)FC_MIN((int64_t)nt, job.units);
    int err = 0;
    FC_TEAM(team, FCN(nd_sep_units)(&job, &err));
    return err;
}
