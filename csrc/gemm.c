/* Packed GEMM: C[M,N] (+)= A[M,K] B[K,N] + bias[M]   (template, see internal.h)
 *
 * BLIS-style: operands are copied ("packed") into panels that the
 * micro-kernel streams with unit stride.  A is packed into panels of GEMM_MR
 * rows (the broadcast operand), B into panels of GEMM_NR columns (the vector
 * operand).  Operands are described by pack callbacks rather than pointers,
 * so a convolution packs B straight from the image: that packing *is* the
 * im2col, and no im2col matrix ever exists in memory.
 *
 * Loop nest of one work unit (a block of rows x a block of columns):
 *   for each KC slice of the reduction:        pack B block (KC x NC, in L2)
 *     for each MC chunk of rows:               pack A chunk (MC x KC)
 *       for each NR panel of B:                B panel stays in L1
 *         for each MR panel of A:              micro-kernel
 * Threads take work units (2-D blocks of C); when C has too few blocks for
 * the threads and the reduction is long, the reduction is split instead and
 * per-thread partial products are summed in a fixed order.
 */

#ifndef FC_GEMM_COMMON
#define FC_GEMM_COMMON
#include <string.h>
/* A rows / C rows chunk so that a packed A chunk (MC x KC) stays in L2. */
#define FC_GEMM_A_CHUNK_BYTES (256 * 1024)
#endif

/* Packs rows (for A) or columns (for B) [i0, i0 + n) over the reduction range
 * [k0, k0 + kc) as ceil(n / width) consecutive panels, panel element
 * (kk, t) at dst[kk * width + t], lanes t >= n zero-filled; width is GEMM_MR
 * for A and GEMM_NR for B. */
typedef void (*FCN(pack_fn))(const void *ctx, T *dst, int64_t i0, int64_t n, int64_t k0,
                              int64_t kc);

typedef struct FCN(gemm_op) {
    int64_t M, N, K;
    FCN(pack_fn) pack_a;
    const void *a_ctx;
    FCN(pack_fn) pack_b;
    const void *b_ctx;
    /* C(i, j) lives at c[i * ldc + (j / seg_len) * seg_stride + j % seg_len]:
     * a plain matrix has seg_len = N; a convolution output spans images. */
    T *c;
    int64_t ldc, seg_len, seg_stride;
    const T *bias; /* per row, added when overwriting; may be NULL */
    int accumulate;
} FCN(gemm_op);

/* acc[i][:] = sum_k a[k R + i] b[k ldb ..][:] for R rows (A packed R to a step), then R2 more rows
 * from the next panel a2 (packed GEMM_MR to a step, its first R2 rows): the micro-kernel's loop,
 * R = GEMM_MR (a recurrent step's few rows use more, see rnn.c).  B's steps are ldb apart: GEMM_NR
 * packed, or a row-major matrix read in place; pf, if not NULL, is prefetched along with b.  NVX
 * (<= GEMM_NV): the vectors of each step's columns computed, the first NVX (a narrow last panel) */
static inline __attribute__((always_inline)) void FCN(gemm_acc_nv)(int R, int R2, int NVX, int64_t kc,
                                                                   const T *restrict a, const T *restrict a2,
                                                                   const T *restrict b, int64_t ldb, const T *pf,
                                                                   V acc[][GEMM_NV])
{
#pragma GCC unroll 16
    for (int i = 0; i < R + R2; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NVX; v++) acc[i][v] = (V){0};
    for (int64_t k = 0; k < kc; k++) {
        V bv[GEMM_NV];
        if (pf) __builtin_prefetch(pf + k * ldb, 0, 3);
#pragma GCC unroll 4
        for (int v = 0; v < NVX; v++) bv[v] = FCN(loadu)(b + k * ldb + v * VL);
#pragma GCC unroll 16
        for (int i = 0; i < R + R2; i++) {
            V ai = FCN(splat)(i < R ? a[k * R + i] : a2[k * GEMM_MR + i - R]);
#pragma GCC unroll 4
            for (int v = 0; v < NVX; v++) acc[i][v] += ai * bv[v];
        }
    }
}

static inline __attribute__((always_inline)) void FCN(gemm_acc_ldb)(int R, int R2, int64_t kc, const T *restrict a,
                                                                    const T *restrict a2, const T *restrict b,
                                                                    int64_t ldb, const T *pf, V acc[][GEMM_NV])
{
    FCN(gemm_acc_nv)(R, R2, GEMM_NV, kc, a, a2, b, ldb, pf, acc);
}

/* B packed (panels of GEMM_NR) */
static inline __attribute__((always_inline)) void FCN(gemm_acc)(int R, int R2, int64_t kc, const T *restrict a,
                                                                const T *restrict a2, const T *restrict b,
                                                                V acc[][GEMM_NV])
{
    FCN(gemm_acc_ldb)(R, R2, kc, a, a2, b, GEMM_NR, NULL, acc);
}

/* The tile's lines of C asked for before its products: added to (or written) after them, from
 * beyond L2 (a weight gradient's 4.7 MB of C over three slices of the reduction) each tile's end
 * waited on them: ResNet-18 layer4 3x3/2 b8's weight gradient 3-4 % faster, layer4 3x3 b8's 3-7 % */
static inline __attribute__((always_inline)) void FCN(gemm_prefetch_c)(int R, const T *c, int64_t ldc)
{
    const int64_t last = GEMM_NR * (int64_t)sizeof(T) - 1; /* (a row's bytes: two or three lines) */
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
        const char *ci = (const char *)(c + i * ldc);
        __builtin_prefetch(ci, 1, 3);
        __builtin_prefetch(ci + FC_MIN(64, last), 1, 3);
        __builtin_prefetch(ci + last, 1, 3);
    }
}

/* c[R x NR] = acc (+ bias[i]) or c += acc */
static inline __attribute__((always_inline)) void FCN(gemm_put)(int R, V acc[][GEMM_NV], T *restrict c, int64_t ldc,
                                                                const T *restrict bias, int accumulate)
{
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
        T *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < GEMM_NV; v++) {
            V r = acc[i][v];
            if (accumulate)
                r += FCN(loadu)(ci + v * VL);
            else if (bias)
                r += FCN(splat)(bias[i]);
            FCN(storeu)(ci + v * VL, r);
        }
    }
}

/* c[MR x NR] = acc (+ bias[i]) or c += acc, acc = sum_k a[k][:] (x) b[k][:] */
static void FCN(gemm_ukr)(int64_t kc, const T *restrict a, const T *restrict b, T *restrict c,
                          int64_t ldc, const T *restrict bias, int accumulate)
{
    V acc[GEMM_MR][GEMM_NV];
    FCN(gemm_prefetch_c)(GEMM_MR, c, ldc);
    FCN(gemm_acc)(GEMM_MR, 0, kc, a, a, b, acc);
    FCN(gemm_put)(GEMM_MR, acc, c, ldc, bias, accumulate);
}

/* With 32 vector registers (AVX-512), tiles of up to 12 rows (24 accumulators): a last row tile
 * of up to 4 rows rides with the full tile before it (a batch-1 layer's 49 output pixels ran as
 * 7 tiles of 8, the last holding 1 row: an eighth of the work wasted, and a scalar store through
 * a temporary); the recurrent steps' few rows too (rnn.c) */
#define FC_GEMM_TALL (GEMM_MR == 8 && GEMM_NV == 2 && FC_VBYTES == 64)

/* the MR rows of panel a and the first r2 (1-4) of the next, a + MR kc */
static void FCN(gemm_ukr_tall)(int r2, int64_t kc, const T *restrict a, const T *restrict b, T *restrict c,
                               int64_t ldc, const T *restrict bias, int accumulate)
{
    V acc[GEMM_MR + 4][GEMM_NV];
    const T *a2 = a + (int64_t)GEMM_MR * kc;
    FCN(gemm_prefetch_c)(GEMM_MR + r2, c, ldc);
    switch (r2) {
    case 1: FCN(gemm_acc)(GEMM_MR, 1, kc, a, a2, b, acc); FCN(gemm_put)(GEMM_MR + 1, acc, c, ldc, bias, accumulate); break;
    case 2: FCN(gemm_acc)(GEMM_MR, 2, kc, a, a2, b, acc); FCN(gemm_put)(GEMM_MR + 2, acc, c, ldc, bias, accumulate); break;
    case 3: FCN(gemm_acc)(GEMM_MR, 3, kc, a, a2, b, acc); FCN(gemm_put)(GEMM_MR + 3, acc, c, ldc, bias, accumulate); break;
    default: FCN(gemm_acc)(GEMM_MR, 4, kc, a, a2, b, acc); FCN(gemm_put)(GEMM_MR + 4, acc, c, ldc, bias, accumulate); break;
    }
}

/* The tile of GEMM_MR + r2 rows (r2 <= 4 where FC_GEMM_TALL, else 0) of panels a and a + MR kc,
 * with B a row-major matrix read in place (steps ldb apart), into tmp (GEMM_NR to a row); pf
 * (NULL: none) prefetched step by step along (the next panel's columns of B's rows) */
static void FCN(gemm_ukr_ldb)(int r2, int64_t kc, const T *restrict a, const T *restrict b, int64_t ldb,
                              const T *pf, T *restrict tmp)
{
    V acc[GEMM_MR + 4][GEMM_NV];
    const T *a2 = a + (int64_t)GEMM_MR * kc;
#define FC_UKR_LDB(R2)                                                           \
    do {                                                                         \
        if (pf)                                                                  \
            FCN(gemm_acc_ldb)(GEMM_MR, R2, kc, a, a2, b, ldb, pf, acc);          \
        else                                                                     \
            FCN(gemm_acc_ldb)(GEMM_MR, R2, kc, a, a2, b, ldb, NULL, acc);        \
        FCN(gemm_put)(GEMM_MR + R2, acc, tmp, GEMM_NR, NULL, 0);                 \
    } while (0)
    switch (FC_GEMM_TALL ? r2 : 0) {
    case 0: FC_UKR_LDB(0); break;
    case 1: FC_UKR_LDB(1); break;
    case 2: FC_UKR_LDB(2); break;
    case 3: FC_UKR_LDB(3); break;
    default: FC_UKR_LDB(4); break;
    }
#undef FC_UKR_LDB
}

/* The first vector of a panel's columns only, for the MR rows of a and the first r2 of a2 (as
 * gemm_ukr_tall's), into tmp (GEMM_NR to a row): a last panel of at most VL columns (ResNet's
 * 14 x 14 maps, 196 pixels, left 4 in the seventh panel: a full tile spent 1/8 of the product
 * on columns that do not exist) */
static void FCN(gemm_ukr_narrow)(int r2, int64_t kc, const T *restrict a, const T *restrict b, T *restrict tmp)
{
    V acc[GEMM_MR + 4][GEMM_NV];
    const T *a2 = a + (int64_t)GEMM_MR * kc;
#define FC_UKR_NARROW(R2)                                                                    \
    do {                                                                                     \
        FCN(gemm_acc_nv)(GEMM_MR, R2, 1, kc, a, a2, b, GEMM_NR, NULL, acc);                  \
        for (int i = 0; i < GEMM_MR + R2; i++) FCN(storeu)(tmp + i * GEMM_NR, acc[i][0]);    \
    } while (0)
    switch (FC_GEMM_TALL ? r2 : 0) {
    case 0: FC_UKR_NARROW(0); break;
    case 1: FC_UKR_NARROW(1); break;
    case 2: FC_UKR_NARROW(2); break;
    case 3: FC_UKR_NARROW(3); break;
    default: FC_UKR_NARROW(4); break;
    }
#undef FC_UKR_NARROW
}

/* Adds or stores the valid mr x nr corner of a tile computed into tmp. */
static void FCN(gemm_store_tile)(const FCN(gemm_op) *g, const T *tmp, int64_t i0, int64_t j0,
                                 int64_t mr, int64_t nr, int overwrite)
{
    for (int64_t jj = 0; jj < nr;) {
        int64_t j = j0 + jj, off = j % g->seg_len;
        int64_t run = FC_MIN(nr - jj, g->seg_len - off);
        T *cb = g->c + (j / g->seg_len) * g->seg_stride + off;
        for (int64_t i = 0; i < mr; i++) { /* (masked vectors: libc's memcpy per row of an edge tile
                                                * was a fifth of a batch-1 input gradient) */
            T *ci = cb + (i0 + i) * g->ldc;
            const T *ti = tmp + i * GEMM_NR + jj;
            for (int64_t t = 0; t < run; t += VL) {
                V v = FCN(load_lanes)(ti + t, run - t);
                if (!overwrite)
                    v += FCN(load_lanes)(ci + t, run - t);
                else if (g->bias)
                    v += FCN(splat)(g->bias[i0 + i]);
                FCN(store_lanes)(ci + t, v, run - t);
            }
        }
        jj += run;
    }
}

/* The macro-kernel: C[mc0 .. mc0 + mc, n0 .. n1) (+)= packed A (mc x kc)
 * times packed B (kc x (n1 - n0), its panels bps apart: GEMM_NR kc, or more
 * where a panel holds a longer reduction), full tiles straight into C, edge
 * tiles (partial, or columns crossing a segment) through a temporary. */
static void FCN(gemm_macro)(const FCN(gemm_op) *g, const T *abuf, const T *bbuf, int64_t mc0, int64_t mc,
                            int64_t n0, int64_t n1, int64_t kc, int overwrite, int64_t bps)
{
    T tmp[(GEMM_MR + 4) * GEMM_NR] __attribute__((aligned(64)));
    for (int64_t j = n0; j < n1; j += GEMM_NR) {
        const int64_t nr = FC_MIN(GEMM_NR, n1 - j);
        const T *bp = bbuf + (j - n0) / GEMM_NR * bps;
        const int64_t off = j % g->seg_len;
        const int full_cols = nr == GEMM_NR && off + GEMM_NR <= g->seg_len;
        T *cj = g->c + (j / g->seg_len) * g->seg_stride + off;
        for (int64_t i = mc0; i < mc0 + mc; i += GEMM_MR) {
            const int64_t mr = FC_MIN(GEMM_MR, mc0 + mc - i);
            const T *ap = abuf + ((i - mc0) / GEMM_MR) * GEMM_MR * kc;
            const int64_t r2 = mc0 + mc - i - GEMM_MR;
            const int tall = FC_GEMM_TALL && r2 >= 1 && r2 <= 4;
            if (GEMM_NV > 1 && nr <= VL) { /* a last panel of one vector's columns or fewer */
                FCN(gemm_ukr_narrow)(tall ? (int)r2 : 0, kc, ap, bp, tmp);
                FCN(gemm_store_tile)(g, tmp, i, j, tall ? GEMM_MR + r2 : mr, nr, overwrite);
                if (tall) break;
                continue;
            }
            if (tall) { /* this tile and the last few rows, see gemm_ukr_tall */
                if (full_cols) {
                    FCN(gemm_ukr_tall)((int)r2, kc, ap, bp, cj + i * g->ldc, g->ldc, g->bias ? g->bias + i : NULL,
                                       !overwrite);
                } else {
                    FCN(gemm_ukr_tall)((int)r2, kc, ap, bp, tmp, GEMM_NR, NULL, 0);
                    FCN(gemm_store_tile)(g, tmp, i, j, GEMM_MR + r2, nr, overwrite);
                }
                break;
            }
            if (full_cols && mr == GEMM_MR) {
                FCN(gemm_ukr)(kc, ap, bp, cj + i * g->ldc, g->ldc, g->bias ? g->bias + i : NULL, !overwrite);
            } else {
                FCN(gemm_ukr)(kc, ap, bp, tmp, GEMM_NR, NULL, 0);
                FCN(gemm_store_tile)(g, tmp, i, j, mr, nr, overwrite);
            }
        }
    }
}

/* The reduction's slices: even, none tiny */
static inline int64_t FCN(gemm_kcs)(int64_t K) { return FC_CEIL_DIV(K, FC_CEIL_DIV(K, GEMM_KC)); }

/* One work unit: rows [m0, m1) x columns [n0, n1) over reduction [kb, ke).
 * abuf holds MC x KC, bbuf KC x (n1 - n0) rounded up to NR.  With `apk`,
 * A is packed already (gemm_run: slice s at apk + s ma kcs, all rows). */
static void FCN(gemm_unit)(const FCN(gemm_op) *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                           int64_t kb, int64_t ke, T *abuf, T *bbuf, const T *apk, int64_t ma)
{
    const int64_t kcs = FCN(gemm_kcs)(ke - kb);
    const int64_t mc_max = FC_MAX(GEMM_MR, FC_GEMM_A_CHUNK_BYTES / (kcs * (int64_t)sizeof(T)) /
                                               GEMM_MR * GEMM_MR);
    for (int64_t k0 = kb; k0 < ke; k0 += kcs) {
        const int64_t kc = FC_MIN(kcs, ke - k0);
        g->pack_b(g->b_ctx, bbuf, n0, n1 - n0, k0, kc);
        for (int64_t mc0 = m0; mc0 < m1; mc0 += mc_max) {
            const int64_t mc = FC_MIN(mc_max, m1 - mc0);
            const T *ap = abuf;
            if (apk)
                ap = apk + (k0 - kb) / kcs * ma * kcs + mc0 * kc;
            else
                g->pack_a(g->a_ctx, abuf, mc0, mc, k0, kc);
            FCN(gemm_macro)(g, ap, bbuf, mc0, mc, n0, n1, kc, (k0 == kb) && !g->accumulate, (int64_t)GEMM_NR * kc);
        }
    }
}

static size_t FCN(gemm_abuf_elems)(void)
{
    return (size_t)FC_MAX(FC_GEMM_A_CHUNK_BYTES / (int)sizeof(T), GEMM_MR * GEMM_KC) + GEMM_MR * GEMM_KC;
}

/* A packed whole for gemm_unit's apk (every KC slice of rows [0, M), a slice ROUND_UP(M, GEMM_MR)
 * x kcs elements, rows i0.. of slice s from s * that + i0 * its kc), for an A that several
 * products share: its size in elements */
static int64_t FCN(gemm_apk_elems)(int64_t M, int64_t K)
{
    const int64_t kcs = FCN(gemm_kcs)(K);
    return FC_ROUND_UP(M, GEMM_MR) * FC_CEIL_DIV(K, kcs) * kcs;
}

/* apk packed by a team in items of one slice's 8 panels of rows: their count for an M x K A, and
 * item it of g's A (its rows below M) */
static int64_t FCN(gemm_apk_items)(int64_t M, int64_t K)
{
    return FC_CEIL_DIV(K, FCN(gemm_kcs)(K)) * FC_CEIL_DIV(FC_CEIL_DIV(M, GEMM_MR), 8);
}

static void FCN(gemm_pack_apk_item)(const FCN(gemm_op) *g, T *apk, int64_t it)
{
    const int64_t kcs = FCN(gemm_kcs)(g->K), nchunk = FC_CEIL_DIV(FC_CEIL_DIV(g->M, GEMM_MR), 8);
    const int64_t s = it / nchunk, i0 = it % nchunk * 8 * GEMM_MR, k0 = s * kcs, kc = FC_MIN(kcs, g->K - k0);
    g->pack_a(g->a_ctx, apk + s * FC_ROUND_UP(g->M, GEMM_MR) * kcs + i0 * kc, i0, FC_MIN(8 * GEMM_MR, g->M - i0), k0,
              kc);
}

/* Runs the whole product on the calling thread (no OpenMP region, so it may
 * be called from inside one); A packed by the call, or already (apk, see
 * gemm_apk_elems). */
static int FCN(gemm_serial)(const FCN(gemm_op) *g, const T *apk)
{
    const int64_t ncols = FC_MIN(g->N, (int64_t)GEMM_NC);
    T *abuf = fc_scratch(FC_SCRATCH_PACK_A, FCN(gemm_abuf_elems)() * sizeof(T));
    T *bbuf = fc_scratch(FC_SCRATCH_PACK_B, (size_t)GEMM_KC * FC_ROUND_UP(ncols, GEMM_NR) * sizeof(T));
    if (!abuf || !bbuf) return FC_ERR_NOMEM;
    for (int64_t n0 = 0; n0 < g->N; n0 += GEMM_NC)
        FCN(gemm_unit)(g, 0, g->M, n0, FC_MIN(g->N, n0 + GEMM_NC), 0, g->K, abuf, bbuf, apk,
                       FC_ROUND_UP(g->M, GEMM_MR));
    return FC_OK;
}

/* C = 0 or bias when there is nothing to reduce over. */
static void FCN(gemm_empty_reduction)(const FCN(gemm_op) *g)
{
    if (g->accumulate) return;
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++)
            g->c[i * g->ldc + (j / g->seg_len) * g->seg_stride + j % g->seg_len] =
                g->bias ? g->bias[i] : 0;
}

/* Split-K: thread t reduces over its slice of K into a private M x N buffer;
 * the partial products are then added into C in thread order. */
static int FCN(gemm_split_k)(const FCN(gemm_op) *g, int nt)
{
    const int64_t MN = g->M * g->N;
    T *part = fc_scratch(FC_SCRATCH_SHARED, (size_t)MN * nt * sizeof(T));
    if (!part) return FC_ERR_NOMEM;
    int err = 0;
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
        int t = omp_get_thread_num(), nteam = omp_get_num_threads();
        int64_t kb, ke;
        fc_split_range(g->K, nteam, t, &kb, &ke);
        FCN(gemm_op) sub = *g;
        sub.c = part + (size_t)t * MN;
        sub.ldc = g->N;
        sub.seg_len = g->N;
        sub.seg_stride = 0;
        sub.bias = NULL;
        sub.accumulate = 0;
        T *abuf = fc_scratch(FC_SCRATCH_PACK_A, FCN(gemm_abuf_elems)() * sizeof(T));
        T *bbuf = fc_scratch(FC_SCRATCH_PACK_B,
                             (size_t)GEMM_KC * FC_ROUND_UP(FC_MIN(g->N, (int64_t)GEMM_NC), GEMM_NR) * sizeof(T));
        if (!abuf || !bbuf) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        } else if (ke > kb) {
            for (int64_t n0 = 0; n0 < g->N; n0 += GEMM_NC)
                FCN(gemm_unit)(&sub, 0, g->M, n0, FC_MIN(g->N, n0 + GEMM_NC), kb, ke, abuf, bbuf, NULL, 0);
        } else {
            memset(sub.c, 0, (size_t)MN * sizeof(T));
        }
#pragma omp barrier
        if (!err) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < g->M; i++) {
                for (int64_t j = 0; j < g->N; j++) {
                    T s = 0;
                    for (int u = 0; u < nteam; u++) s += part[(size_t)u * MN + i * g->N + j];
                    T *cij = g->c + i * g->ldc + (j / g->seg_len) * g->seg_stride + j % g->seg_len;
                    if (g->accumulate)
                        *cij += s;
                    else
                        *cij = g->bias ? s + g->bias[i] : s;
                }
            }
        }
        fc_fp_leave(fp);
    }
    return err;
}

static int FCN(gemm_run)(const FCN(gemm_op) *g, int nthreads)
{
    if (g->M <= 0 || g->N <= 0) return FC_OK;
    if (g->K <= 0) {
        FCN(gemm_empty_reduction)(g);
        return FC_OK;
    }
    int nt = fc_resolve_threads(nthreads);
    const double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
    if (flops < 2e5) nt = 1; /* a fork/join costs more than the product */
    if (nt == 1) {
        fc_fpstate fp = fc_fp_enter();
        int st = FCN(gemm_serial)(g, NULL);
        fc_fp_leave(fp);
        return st;
    }

    /* Work units: split the row or column panels into more blocks until every thread has about
     * two units (dynamic scheduling evens out the rest), the panels shared out evenly (blocks of
     * a fixed size left a remainder: ResNet's 1-D layer of 800 columns ran as 256, 256, 256 and
     * 32, one thread doing 512 of them).  Each unit packs its own A rows and B columns, so
     * splitting columns re-packs A (M x K) once more per unit and splitting rows re-packs B
     * (K x N): split the longer side first. */
    const int64_t pm = FC_CEIL_DIV(g->M, GEMM_MR), pn = FC_CEIL_DIV(g->N, GEMM_NR);
    int64_t nmu = 1, nnu = FC_CEIL_DIV(g->N, GEMM_NC);
    for (;;) {
        if (nmu * nnu >= 2 * nt) break;
        const int can_m = pm / nmu > 4, can_n = pn / nnu > 1;
        if (can_m && (g->M * nnu >= g->N * nmu || !can_n))
            nmu = FC_MIN(2 * nmu, pm);
        else if (can_n)
            nnu = FC_MIN(2 * nnu, pn);
        else
            break;
    }
    if (nmu * nnu < nt && g->K >= 8 * GEMM_KC && g->M * g->N * nt <= (1 << 22))
        return FCN(gemm_split_k)(g, nt);
    /* whole rounds: units not a multiple of the threads leave all but one thread idle for the
     * last (a 1-D layer's 2000 columns ran as 5 units on 2 threads, 3 + 2: 17 % lost) */
    while ((nmu * nnu) % nt) {
        const int can_m = nmu < pm, can_n = nnu < pn;
        if (can_m && (g->M * nnu >= g->N * nmu || !can_n))
            nmu++;
        else if (can_n)
            nnu++;
        else
            break;
    }
    /* Column panels not a multiple of the threads (25 on 2: units of 7, 6, 6 and 6 ran as 13 and 12):
     * the grid takes the largest multiple, and the panels left over are split by rows, one unit a
     * thread, each thread's share of them the same */
    int64_t pn_grid = pn, nrest = 0;
    if (nmu == 1 && nt > 1 && pn > nt && pn % nt && pm >= 2 * nt) {
        pn_grid = pn - pn % nt;
        nrest = nt;
        nnu = FC_MIN(nnu, pn_grid);
    }
    const int64_t ncu = FC_CEIL_DIV(pn_grid, nnu) * GEMM_NR; /* the widest unit's columns */
    /* Columns split: A packed once by the team for every unit, within 4 MiB (each unit packed its
     * rows again: a batch-1 layer's 56 pixel rows 4 times, 9 % of the call) */
    const int64_t ma = pm * GEMM_MR;
    const int64_t apk_elems = FCN(gemm_apk_elems)(g->M, g->K);
    T *apk = NULL;
    if (nnu > 1 && (double)apk_elems * sizeof(T) <= (double)(4 << 20)) {
        apk = fc_scratch(FC_SCRATCH_GEMM_A, (size_t)apk_elems * sizeof(T));
        if (!apk) return FC_ERR_NOMEM;
    }

    int err = 0;
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
        T *abuf = fc_scratch(FC_SCRATCH_PACK_A, FCN(gemm_abuf_elems)() * sizeof(T));
        T *bbuf = fc_scratch(FC_SCRATCH_PACK_B, (size_t)GEMM_KC * ncu * sizeof(T));
        if (!abuf || !bbuf) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
        if (apk) {
#pragma omp for schedule(static)
            for (int64_t it = 0; it < FCN(gemm_apk_items)(g->M, g->K); it++) FCN(gemm_pack_apk_item)(g, apk, it);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < nmu * nnu + nrest; u++) {
            if (!abuf || !bbuf) continue;
            int64_t pm0, pm1, pn0, pn1;
            if (u < nmu * nnu) {
                fc_split_range(pm, nmu, u / nnu, &pm0, &pm1);
                fc_split_range(pn_grid, nnu, u % nnu, &pn0, &pn1);
            } else {
                fc_split_range(pm, nrest, u - nmu * nnu, &pm0, &pm1);
                pn0 = pn_grid;
                pn1 = pn;
            }
            FCN(gemm_unit)(g, pm0 * GEMM_MR, FC_MIN(g->M, pm1 * GEMM_MR), pn0 * GEMM_NR,
                           FC_MIN(g->N, pn1 * GEMM_NR), 0, g->K, abuf, bbuf, apk, ma);
        }
        fc_fp_leave(fp);
    }
    return err;
}

/* ---- plain strided matrices ------------------------------------------------ */

typedef struct FCN(strided) {
    const T *p;
    int64_t rs_lane; /* stride between panel lanes (rows of A, columns of B) */
    int64_t rs_red;  /* stride along the reduction */
} FCN(strided);

/* 8 x 8 blocks transposed in three rounds of two-vector shuffles */
typedef T FCN(v8) __attribute__((vector_size(8 * sizeof(T))));
#if FC_DOUBLE
typedef int64_t FCN(m8) __attribute__((vector_size(8 * sizeof(int64_t))));
#else
typedef int32_t FCN(m8) __attribute__((vector_size(8 * sizeof(int32_t))));
#endif
/* d[e * ld + i] = row[i][e] for i < 8, e < m (<= 8; each row's 8 elements read): the rows anywhere */
static inline __attribute__((always_inline)) void FCN(transpose8_rows)(T *d, int64_t ld, const T *const row[8], int m)
{
#if FC_X86 && !FC_DOUBLE && FC_VBYTES == 32
    /* AVX2: rows i and i + 4 as the two 128-bit halves of one register (a load each), then 4 x 4
     * transposes within the halves, no lane-crossing shuffle (the three rounds of two-vector
     * shuffles compile to vpermt2ps only with AVX-512; here they took 53 cycles a block, this 25) */
    for (int h = 0; h < 8; h += 4) {
        __m256 t[4];
        for (int i = 0; i < 4; i++)
            t[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(row[i] + h)),
                                        _mm_loadu_ps(row[i + 4] + h), 1);
        const __m256 u0 = _mm256_unpacklo_ps(t[0], t[1]), u1 = _mm256_unpackhi_ps(t[0], t[1]);
        const __m256 u2 = _mm256_unpacklo_ps(t[2], t[3]), u3 = _mm256_unpackhi_ps(t[2], t[3]);
        if (h + 0 < m) _mm256_storeu_ps(d + (h + 0) * ld, _mm256_shuffle_ps(u0, u2, 0x44));
        if (h + 1 < m) _mm256_storeu_ps(d + (h + 1) * ld, _mm256_shuffle_ps(u0, u2, 0xEE));
        if (h + 2 < m) _mm256_storeu_ps(d + (h + 2) * ld, _mm256_shuffle_ps(u1, u3, 0x44));
        if (h + 3 < m) _mm256_storeu_ps(d + (h + 3) * ld, _mm256_shuffle_ps(u1, u3, 0xEE));
    }
#else
    typedef FCN(v8) W8;
    typedef FCN(m8) M8;
    W8 a[8], x[8], y[8];
    for (int i = 0; i < 8; i++) memcpy(&a[i], row[i], sizeof(W8));
    const M8 lo1 = {0, 8, 2, 10, 4, 12, 6, 14}, hi1 = {1, 9, 3, 11, 5, 13, 7, 15};
    const M8 lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
    const M8 lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
    for (int i = 0; i < 8; i += 2) {
        x[i] = __builtin_shuffle(a[i], a[i + 1], lo1);
        x[i + 1] = __builtin_shuffle(a[i], a[i + 1], hi1);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; j++) {
            y[i + j] = __builtin_shuffle(x[i + j], x[i + j + 2], lo2);
            y[i + j + 2] = __builtin_shuffle(x[i + j], x[i + j + 2], hi2);
        }
    for (int j = 0; j < 4; j++) {
        const W8 c = __builtin_shuffle(y[j], y[j + 4], lo4), e = __builtin_shuffle(y[j], y[j + 4], hi4);
        if (j < m) memcpy(d + j * ld, &c, sizeof(W8));
        if (j + 4 < m) memcpy(d + (j + 4) * ld, &e, sizeof(W8));
    }
#endif
}

/* d[e * ld + i] = s[i * ls + e] for i, e < 8 */
static inline __attribute__((always_inline)) void FCN(transpose8)(T *d, int64_t ld, const T *s, int64_t ls)
{
    const T *row[8];
    for (int i = 0; i < 8; i++) row[i] = s + i * ls;
    FCN(transpose8_rows)(d, ld, row, 8);
}

/* y[k * ldy + i] = src[i * lds + k] + bias[k] (bias NULL: 0), or y[...] += that (accumulate), for
 * i < npix, k < nk: a pixel-major buffer into channel rows, 16 pixels x 8 channels at a time through
 * register transposes, the block's 16 rows of src in L1 across the channels.  Channel by channel,
 * down a column of src rows 512 bytes apart (every element another line), it was 8 % of ResNet-18's
 * layer2 3x3/2 at batch 8.  The same sums as element by element. */
static inline void FCN(pixmajor_to_rows_1)(T *y, int64_t ldy, const T *src, int64_t lds, int64_t i0, int64_t i1,
                                           int64_t k0, int64_t k1, const T *bias, int accumulate)
{ /* (pixels [i0, i1) x channels [k0, k1) element by element) */
    for (int64_t k = k0; k < k1; k++) {
        T *yk = y + k * ldy;
        const T b = bias ? bias[k] : (T)0;
        for (int64_t i = i0; i < i1; i++) {
            const T v = src[i * lds + k] + b;
            yk[i] = accumulate ? yk[i] + v : v;
        }
    }
}

static void FCN(pixmajor_to_rows)(T *y, int64_t ldy, const T *src, int64_t lds, int64_t npix, int64_t nk,
                                  const T *bias, int accumulate)
{
    T tmp[8 * 16];
    int64_t i0 = 0;
    for (; i0 + 16 <= npix; i0 += 16) {
        const T *s = src + i0 * lds;
        int64_t k0 = 0;
        for (; k0 + 8 <= nk; k0 += 8) {
            FCN(transpose8)(tmp, 16, s + k0, lds);
            FCN(transpose8)(tmp + 8, 16, s + 8 * lds + k0, lds);
            for (int e = 0; e < 8; e++) {
                T *yk = y + (k0 + e) * ldy + i0;
                const T b = bias ? bias[k0 + e] : (T)0;
                for (int h = 0; h < 16; h += 8) {
                    FCN(v8) v, o;
                    memcpy(&v, tmp + e * 16 + h, sizeof v);
                    v += b;
                    if (accumulate) {
                        memcpy(&o, yk + h, sizeof o);
                        v = o + v;
                    }
                    memcpy(yk + h, &v, sizeof v);
                }
            }
        }
        FCN(pixmajor_to_rows_1)(y, ldy, src, lds, i0, i0 + 16, k0, nk, bias, accumulate);
    }
    FCN(pixmajor_to_rows_1)(y, ldy, src, lds, i0, npix, 0, nk, bias, accumulate);
}

static inline void FCN(pack_strided)(const FCN(strided) *m, T *dst, int64_t i0, int64_t n,
                                     int64_t k0, int64_t kc, int width)
{
    if (m->rs_lane == 1 && n >= width) {
        /* lanes adjacent (a transposed A, a row-major B): step by step, every panel's piece of the
         * step's run, so the source is read row after row (panel after panel, each step a new
         * cache line far from the last, was memory latency: 14 % of an LSTM's weight gradient) */
        const int64_t nfull = n / width * width;
        for (int64_t kk = 0; kk < kc; kk++) {
            const T *s = m->p + i0 + (k0 + kk) * m->rs_red;
            T *d = dst + kk * width;
            if (width == GEMM_MR)
                for (int64_t p = 0; p < nfull; p += GEMM_MR) memcpy(d + p * kc, s + p, GEMM_MR * sizeof(T));
            else
                for (int64_t p = 0; p < nfull; p += GEMM_NR) memcpy(d + p * kc, s + p, GEMM_NR * sizeof(T));
        }
        if (nfull == n) return;
        dst += nfull * kc;
        i0 += nfull;
        n -= nfull;
    }
    for (int64_t p = 0; p < n; p += width, dst += (int64_t)width * kc) {
        const int64_t w = FC_MIN((int64_t)width, n - p);
        const T *src = m->p + (i0 + p) * m->rs_lane + k0 * m->rs_red;
        if (m->rs_lane == 1) {
            for (int64_t kk = 0; kk < kc; kk++) {
                const T *s = src + kk * m->rs_red;
                T *d = dst + kk * width;
                for (int64_t t = 0; t < w; t++) d[t] = s[t];
                for (int64_t t = w; t < width; t++) d[t] = 0;
            }
        } else if (m->rs_red == 1 && w == width && width % 8 == 0) {
            /* rows contiguous along the reduction (a row-major A, a weight matrix): 8 rows x 8
             * reduction steps at a time, transposed in registers (element by element, the
             * packing of a 512 x 4608 weight matrix took a fifth of a batch-1 layer) */
            for (int t0 = 0; t0 < width; t0 += 8) {
                const T *r0 = src + t0 * m->rs_lane;
                /* the next 8 rows prefetched along (the rows are far apart and their runs short: too
                 * many, too short streams for the hardware's prefetchers) */
                const T *pf = p + t0 + 8 < n ? r0 + 8 * m->rs_lane : NULL;
                int64_t kk = 0;
                for (; kk + 8 <= kc; kk += 8) {
                    if (pf && kk % (64 / sizeof(T)) == 0)
                        for (int t = 0; t < 8; t++) __builtin_prefetch(pf + t * m->rs_lane + kk, 0, 3);
                    FCN(transpose8)(dst + kk * width + t0, width, r0 + kk, m->rs_lane);
                }
                for (; kk < kc; kk++)
                    for (int t = 0; t < 8; t++) dst[kk * width + t0 + t] = r0[t * m->rs_lane + kk];
            }
        } else {
            for (int64_t t = 0; t < w; t++) {
                const T *s = src + t * m->rs_lane;
                for (int64_t kk = 0; kk < kc; kk++) dst[kk * width + t] = s[kk * m->rs_red];
            }
            for (int64_t t = w; t < width; t++)
                for (int64_t kk = 0; kk < kc; kk++) dst[kk * width + t] = 0;
        }
    }
}

static void FCN(pack_a_strided)(const void *ctx, T *dst, int64_t i0, int64_t n, int64_t k0, int64_t kc)
{
    FCN(pack_strided)(ctx, dst, i0, n, k0, kc, GEMM_MR);
}

static void FCN(pack_b_strided)(const void *ctx, T *dst, int64_t i0, int64_t n, int64_t k0, int64_t kc)
{
    FCN(pack_strided)(ctx, dst, i0, n, k0, kc, GEMM_NR);
}

static int FCN(gemm)(T *c, int64_t ldc, const T *a, int64_t rsa, int64_t csa, const T *b,
                     int64_t rsb, int64_t csb, int64_t M, int64_t N, int64_t K, int accumulate,
                     int nthreads)
{
    FCN(strided) am = {a, rsa, csa}, bm = {b, csb, rsb};
    FCN(gemm_op) g = {
        .M = M, .N = N, .K = K,
        .pack_a = FCN(pack_a_strided), .a_ctx = &am,
        .pack_b = FCN(pack_b_strided), .b_ctx = &bm,
        .c = c, .ldc = ldc, .seg_len = FC_MAX(N, 1), .seg_stride = 0,
        .bias = NULL, .accumulate = accumulate,
    };
    return FCN(gemm_run)(&g, nthreads);
}
