/* Recurrent layers: RNN (tanh, relu), LSTM and GRU, forward and backpropagation
 * through time   (template, see internal.h; sizes in fastconv.h)
 *
 * Forward:
 *   1. one GEMM for the input projection of every step, XW = X W_ih^T, into
 *      the gates buffer (T, B, Gn H), time-major whatever x's layout;
 *   2. one parallel region for the recurrence.  Thread u owns hidden units
 *      [j0, j1): the columns of every gate for those units, so per step it
 *      multiplies h_{t-1} by its own columns of W_hh^T (packed into GEMM
 *      panels once, before the first step) and applies the gate functions to
 *      its own units; one barrier per step publishes h_t.
 *   The gates buffer ends holding the gate activations (the cache).
 * Backward, the same in reverse: each thread turns dh into gate gradients
 * for its units (dgates, a workspace), a barrier, then dh_{t-1} for its
 * units = dgates_t W_hh[:, units].  After the loop, three big GEMMs over all
 * steps: dX = dgates W_ih, dW_ih = dgates^T X, dW_hh = dgates_h^T H_{t-1}.
 *
 * Gates (PyTorch order): LSTM i f g o; GRU r z n, with
 * n = tanh(W_in x + b_in + r (W_hn h + b_hn)); RNN one.
 */

#ifndef FC_RNN_COMMON
#define FC_RNN_COMMON
static inline int64_t fc_rnn_gates(int cell) { return cell == FC_LSTM ? 4 : cell == FC_GRU ? 3 : 1; }
#endif

/* ---- GEMM pieces shared by the steps -------------------------------------- */

/* Columns c of a product map to (c / seg_len) * seg_stride + c % seg_len
 * columns of a matrix whose column col starts at base + col * lane and
 * advances by red along the reduction. */
typedef struct FCN(rnn_cols) {
    const T *base;
    int64_t lane, red, seg_len, seg_stride;
} FCN(rnn_cols);

/* B panels (GEMM_NR columns, full reduction K) [p0, p1) of columns [0, n), panel p at dst + p ps
 * (ps = GEMM_NR K for consecutive panels) */
static void FCN(rnn_pack_b_panels)(T *dst, const FCN(rnn_cols) *m, int64_t n, int64_t K, int64_t ps, int64_t p0,
                                   int64_t p1)
{
    dst += p0 * ps;
    for (int64_t c0 = p0 * GEMM_NR; c0 < FC_MIN(n, p1 * GEMM_NR); c0 += GEMM_NR, dst += ps) {
        if (m->red == 1 && GEMM_NR % 8 == 0 && c0 + GEMM_NR <= n) {
            /* columns contiguous along the reduction (the weights' rows): 8 columns of one gate
             * segment x 8 steps at a time through the register transpose (element by element
             * it was 6 % of PTB's LSTM forward) */
            for (int64_t t0 = 0; t0 < GEMM_NR; t0 += 8) {
                const int64_t c = c0 + t0, off = c % m->seg_len;
                const T *src = m->base + ((c / m->seg_len) * m->seg_stride + off) * m->lane;
                int64_t k = 0;
                if (off + 8 <= m->seg_len)
                    for (; k + 8 <= K; k += 8) FCN(transpose8)(dst + k * GEMM_NR + t0, GEMM_NR, src + k, m->lane);
                for (int64_t t = t0; t < t0 + 8; t++) {
                    const int64_t ct = c0 + t;
                    const T *st = m->base + ((ct / m->seg_len) * m->seg_stride + ct % m->seg_len) * m->lane;
                    for (int64_t kk = k; kk < K; kk++) dst[kk * GEMM_NR + t] = st[kk];
                }
            }
            continue;
        }
        if (m->lane == 1 && c0 + GEMM_NR <= n && c0 % m->seg_len + GEMM_NR <= m->seg_len) {
            /* the panel's columns adjacent in memory (W_hh for dh = dgates W_hh): a row of the
             * panel is a contiguous piece of each reduction step's row */
            const T *src = m->base + (c0 / m->seg_len) * m->seg_stride + c0 % m->seg_len;
            for (int64_t k = 0; k < K; k++) memcpy(dst + k * GEMM_NR, src + k * m->red, GEMM_NR * sizeof(T));
            continue;
        }
        for (int64_t t = 0; t < GEMM_NR; t++) {
            const int64_t c = c0 + t;
            if (c >= n) {
                for (int64_t k = 0; k < K; k++) dst[k * GEMM_NR + t] = 0;
                continue;
            }
            const T *src = m->base + ((c / m->seg_len) * m->seg_stride + c % m->seg_len) * m->lane;
            for (int64_t k = 0; k < K; k++) dst[k * GEMM_NR + t] = src[k * m->red];
        }
    }
}

/* every panel of columns [0, n) */
static void FCN(rnn_pack_b)(T *dst, const FCN(rnn_cols) *m, int64_t n, int64_t K, int64_t ps)
{
    FCN(rnn_pack_b_panels)(dst, m, n, K, ps, 0, FC_CEIL_DIV(n, GEMM_NR));
}

/* this thread's share of the panels, the team's packing complete on return */
static void FCN(rnn_pack_b_team)(T *dst, const FCN(rnn_cols) *m, int64_t n, int64_t K, int64_t ps)
{
    int64_t p0, p1;
    fc_split_range(FC_CEIL_DIV(n, GEMM_NR), omp_get_num_threads(), omp_get_thread_num(), &p0, &p1);
    FCN(rnn_pack_b_panels)(dst, m, n, K, ps, p0, p1);
}

/* A's rows as one or two segments along the reduction: row i is a[0] + i lda[0] for the first
 * k[0] steps, then a[1] + i lda[1] for k[1] (x_t's rows, then h_{t-1}'s, in the fused step) */
typedef struct FCN(rows_ab) {
    const T *a[2];
    int64_t lda[2], k[2];
} FCN(rows_ab);

static inline FCN(rows_ab) FCN(rows_one)(const T *a, int64_t lda, int64_t K)
{
    return (FCN(rows_ab)){{a, a}, {lda, lda}, {K, 0}};
}

/* tmp[p][i][c] (4 rows per panel) = sum_k A[i][k] bp[p ps][k][c] for R rows (1-4) of A and P
 * prepacked panels, ps apart: the micro-kernel's MR rows for the rows there are.  One
 * accumulator per (row, panel vector), summed in k order as the micro-kernel sums, so a row's
 * result does not depend on how many rows share its tile; R * P * NV of them (8 for R P = 4)
 * hide the FMA latency that one row's NV chains would expose. */
static inline __attribute__((always_inline)) void FCN(rnn_rows_panels)(int R, int P, const FCN(rows_ab) *A,
                                                                       int64_t i0, const T *restrict bp, int64_t ps,
                                                                       T *restrict tmp)
{
    V acc[4][4][GEMM_NV];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
#pragma GCC unroll 4
            for (int v = 0; v < GEMM_NV; v++) acc[i][p][v] = (V){0};
    const T *b = bp;
    for (int seg = 0; seg < 2; seg++) {
        const T *restrict a = A->a[seg] + i0 * A->lda[seg];
        const int64_t lda = A->lda[seg];
        for (int64_t k = 0; k < A->k[seg]; k++, b += GEMM_NR) {
            V bv[4][GEMM_NV];
#pragma GCC unroll 4
            for (int p = 0; p < P; p++)
#pragma GCC unroll 4
                for (int v = 0; v < GEMM_NV; v++) bv[p][v] = *(const V *)(b + p * ps + v * VL);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const V ai = FCN(splat)(a[i * lda + k]);
#pragma GCC unroll 4
                for (int p = 0; p < P; p++)
#pragma GCC unroll 4
                    for (int v = 0; v < GEMM_NV; v++) acc[i][p][v] += ai * bv[p][v];
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
#pragma GCC unroll 4
            for (int v = 0; v < GEMM_NV; v++) FCN(storeu)(tmp + (p * 4 + i) * GEMM_NR + v * VL, acc[i][p][v]);
}

/* The rows that run in micro-tiles, of M (the rest on rnn_rows_gemm): the full tiles, and with
 * 32 vector registers (FC_GEMM_TALL) up to 4 rows past them too, which gemm_macro runs with the
 * last full tile (PTB's 10 rows a thread ran as 8 and 2, the 2 a quarter slower per flop) */
static inline int64_t FCN(rnn_tiled_rows)(int64_t M)
{
    const int64_t full = M / GEMM_MR * GEMM_MR;
    return FC_GEMM_TALL && full > 0 && M - full <= 4 ? M : full;
}

/* tmp[i][c] = sum_k ap[k R + i] bp[k][c] for R rows (5-7) packed R to a step: the micro-kernel
 * for R rows (A packed: R rows' addresses in place took more registers than there are) */
static inline __attribute__((always_inline)) void FCN(rnn_tall)(int R, int64_t K, const T *restrict ap,
                                                                const T *restrict bp, T *restrict tmp)
{
    V acc[7][GEMM_NV];
    FCN(gemm_acc)(R, 0, K, ap, ap, bp, acc);
#pragma GCC unroll 7
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int v = 0; v < GEMM_NV; v++) FCN(storeu)(tmp + i * GEMM_NR + v * VL, acc[i][v]);
}

/* C rows [m0, M) (+)= A Bp over panels [p0, p1) (ps apart), for fewer than GEMM_MR rows: groups of
 * up to 4 rows, a single group over 4 / rows panels at a time; with FC_GEMM_TALL, 5-7 rows as one
 * tile (packed into ap, room for K of them) */
static void FCN(rnn_rows_gemm)(const FCN(gemm_op) *g, int64_t m0, const FCN(rows_ab) *A, const T *bp, int64_t ps,
                               int64_t p0, int64_t p1, T *ap)
{
    T tmp[4 * 4 * GEMM_NR] __attribute__((aligned(64)));
    const int rem = (int)(g->M - m0), P = rem == 1 ? 4 : rem == 2 ? 2 : 1;
    if (FC_GEMM_TALL && rem > 4) {
        const int64_t K = A->k[0] + A->k[1];
        if (p0 == 0) /* the rows packed once, for the first panel group (ap: space after the tiles') */
            for (int64_t seg = 0, k0 = 0; seg < 2; k0 += A->k[seg++])
                for (int64_t k = 0; k < A->k[seg]; k++)
                    for (int i = 0; i < rem; i++) ap[(k0 + k) * rem + i] = A->a[seg][(m0 + i) * A->lda[seg] + k];
        for (int64_t q = p0; q < p1; q++) {
            const T *b = bp + q * ps;
            switch (rem) {
            case 5: FCN(rnn_tall)(5, K, ap, b, tmp); break;
            case 6: FCN(rnn_tall)(6, K, ap, b, tmp); break;
            default: FCN(rnn_tall)(7, K, ap, b, tmp); break;
            }
            const int64_t j = q * GEMM_NR;
            FCN(gemm_store_tile)(g, tmp, m0, j, rem, FC_MIN((int64_t)GEMM_NR, g->N - j), !g->accumulate);
        }
        return;
    }
    for (int64_t q0 = p0; q0 < p1;) {
        const int np_ = (int)FC_MIN((int64_t)P, p1 - q0);
        const T *b = bp + q0 * ps;
        for (int64_t i0 = m0; i0 < g->M; i0 += 4) {
            const int R = (int)FC_MIN((int64_t)4, g->M - i0);
            switch (R * 4 + np_) { /* R rows over np_ panels, each shape its own unrolled loop */
            case 4 + 4: FCN(rnn_rows_panels)(1, 4, A, i0, b, ps, tmp); break;
            case 4 + 3: FCN(rnn_rows_panels)(1, 3, A, i0, b, ps, tmp); break;
            case 4 + 2: FCN(rnn_rows_panels)(1, 2, A, i0, b, ps, tmp); break;
            case 4 + 1: FCN(rnn_rows_panels)(1, 1, A, i0, b, ps, tmp); break;
            case 8 + 2: FCN(rnn_rows_panels)(2, 2, A, i0, b, ps, tmp); break;
            case 8 + 1: FCN(rnn_rows_panels)(2, 1, A, i0, b, ps, tmp); break;
            case 12 + 1: FCN(rnn_rows_panels)(3, 1, A, i0, b, ps, tmp); break;
            default: FCN(rnn_rows_panels)(4, 1, A, i0, b, ps, tmp); break;
            }
            for (int p = 0; p < np_; p++) { /* panel p's rows, GEMM_NR apart as gemm_store_tile reads them */
                const int64_t j = (q0 + p) * GEMM_NR;
                FCN(gemm_store_tile)(g, tmp + p * 4 * GEMM_NR, i0, j, R, FC_MIN((int64_t)GEMM_NR, g->N - j),
                                     !g->accumulate);
            }
        }
        q0 += np_;
    }
}

/* Panels per group for the few-rows kernel to find in L2 after the full tiles: up to 4, within
 * 768 KiB (PTB's backward, 2600-long panels of 333 KB, re-read groups of 4 from L3) */
static inline int64_t FCN(rnn_group)(int64_t K)
{
    return FC_MAX(1, FC_MIN(4, ((int64_t)768 << 10) / ((int64_t)GEMM_NR * K * (int64_t)sizeof(T))));
}

/* C (+)= A Bp: A packed here through g->pack_a, Bp prepacked (rnn_pack_b,
 * full K); runs on the calling thread.  With `rows` (A's rows, contiguous
 * along the reduction), the rows past the last full micro-tile run on
 * rnn_rows_gemm instead of a tile of mostly empty rows, panel group by
 * panel group (rnn_group) after the full tiles' (so each panel is read
 * from memory once, then from L2) where those fit one packing of A. */
static void FCN(rnn_gemm_prepacked)(const FCN(gemm_op) *g, T *abuf, const T *bp, const FCN(strided) *rows)
{
    const int64_t K = g->K, npan = FC_CEIL_DIV(g->N, GEMM_NR);
    const int64_t full = rows && rows->rs_red == 1 ? FCN(rnn_tiled_rows)(g->M) : g->M;
    const int64_t mc_max = FC_MAX(GEMM_MR, FC_GEMM_A_CHUNK_BYTES / (K * (int64_t)sizeof(T)) / GEMM_MR * GEMM_MR);
    if (full < g->M && full <= mc_max) {
        const FCN(rows_ab) A = FCN(rows_one)(rows->p, rows->rs_lane, K);
        if (full) g->pack_a(g->a_ctx, abuf, 0, full, 0, K);
        const int64_t grp = FCN(rnn_group)(K);
        for (int64_t q0 = 0; q0 < npan; q0 += grp) {
            const int64_t q1 = FC_MIN(npan, q0 + grp);
            if (full)
                FCN(gemm_macro)(g, abuf, bp + q0 * GEMM_NR * K, 0, full, q0 * GEMM_NR, FC_MIN(g->N, q1 * GEMM_NR),
                                K, !g->accumulate, (int64_t)GEMM_NR * K);
            FCN(rnn_rows_gemm)(g, full, &A, bp, (int64_t)GEMM_NR * K, q0, q1, abuf + full * K);
        }
        return;
    }
    for (int64_t m0 = 0; m0 < full; m0 += mc_max) {
        const int64_t mc = FC_MIN(mc_max, full - m0);
        g->pack_a(g->a_ctx, abuf, m0, mc, 0, K);
        FCN(gemm_macro)(g, abuf, bp, m0, mc, 0, g->N, K, !g->accumulate, (int64_t)GEMM_NR * K);
    }
    if (full < g->M) {
        const FCN(rows_ab) A = FCN(rows_one)(rows->p, rows->rs_lane, K);
        FCN(rnn_rows_gemm)(g, full, &A, bp, (int64_t)GEMM_NR * K, 0, npan, abuf);
    }
}

/* The fused step of an LSTM or plain RNN split by rows: C = [x_t | h_{t-1}] [W_ih^T ; W_hh^T]
 * in one product, bp's panels (ps apart) holding W_ih^T's columns over W_hh^T's.  One
 * reduction of I + H per tile where the input projection and the recurrence were two (a tile of
 * R1's 128-long projection spent 7 % of it starting and storing), and no second pass over the
 * gates to add them.  A's full row tiles are packed (the micro-kernel reading the rows in place
 * ran 2 % slower), the rows past them run on rnn_rows_gemm. */
static void FCN(rnn_fused_step)(const FCN(gemm_op) *g, T *abuf, const T *bp, int64_t ps, const FCN(rows_ab) *A)
{
    const int64_t K = A->k[0] + A->k[1], full = FCN(rnn_tiled_rows)(g->M), npan = FC_CEIL_DIV(g->N, GEMM_NR);
    for (int64_t i = 0; i < full; i += GEMM_MR)
        for (int seg = 0; seg < 2; seg++) {
            const FCN(strided) rows = {A->a[seg], A->lda[seg], 1};
            if (A->k[seg])
                FCN(pack_strided)(&rows, abuf + i * K + (seg ? GEMM_MR * A->k[0] : 0), i,
                                  FC_MIN((int64_t)GEMM_MR, full - i), 0, A->k[seg], GEMM_MR);
        }
    const int64_t grp = FCN(rnn_group)(K);
    for (int64_t q0 = 0; q0 < npan; q0 += grp) { /* the rows past the tiles read a group's panels from L2 */
        const int64_t q1 = FC_MIN(npan, q0 + grp);
        if (full) FCN(gemm_macro)(g, abuf, bp + q0 * ps, 0, full, q0 * GEMM_NR, FC_MIN(g->N, q1 * GEMM_NR), K, 1, ps);
        if (full < g->M) FCN(rnn_rows_gemm)(g, full, A, bp, ps, q0, q1, abuf + full * K);
    }
}

/* A operand whose row r is at p + (r / n1) * s1 + (r % n1) * s2, elements
 * contiguous along the reduction (x rows for the input projection, gate
 * gradient rows in x's memory order). */
typedef struct FCN(rows2d) {
    const T *p;
    int64_t n1, s1, s2;
} FCN(rows2d);

static void FCN(rnn_pack_a_rows2d)(const void *ctx, T *dst, int64_t i0, int64_t m, int64_t k0, int64_t kc)
{
    const FCN(rows2d) *a = ctx;
    for (int64_t ip = 0; ip < m; ip += GEMM_MR, dst += (int64_t)GEMM_MR * kc) {
        for (int64_t ii = 0; ii < GEMM_MR; ii++) {
            const int64_t r = i0 + ip + ii;
            if (ip + ii >= m) {
                for (int64_t kk = 0; kk < kc; kk++) dst[kk * GEMM_MR + ii] = 0;
                continue;
            }
            const T *src = a->p + (r / a->n1) * a->s1 + (r % a->n1) * a->s2 + k0;
            for (int64_t kk = 0; kk < kc; kk++) dst[kk * GEMM_MR + ii] = src[kk];
        }
    }
}

/* B operand for the weight gradients, reduction row k (one (t, b) pair):
 * rows2d mode (h0 == NULL): row k of `rows` (x rows for dW_ih, y rows for
 * dW_hh when there is no h0 and the first step is skipped);
 * hprev mode: row k = (t, b) = h_{t-1}[b]: h0[b] (rows H apart) at t = 0,
 * else rows.p + (t - 1) * rows.s1 + b * rows.s2 (y). */
typedef struct FCN(rnn_rows) {
    FCN(rows2d) rows;
    const T *h0;
    int64_t B, H;
} FCN(rnn_rows);

static void FCN(rnn_pack_b_rows)(const void *ctx, T *dst, int64_t j0, int64_t n, int64_t k0, int64_t kc)
{
    const FCN(rnn_rows) *b = ctx;
    for (int64_t kk = 0; kk < kc; kk++) {
        const int64_t k = k0 + kk;
        const T *row;
        if (b->h0) {
            const int64_t t = k / b->B, bb = k % b->B;
            row = t == 0 ? b->h0 + bb * b->H : b->rows.p + (t - 1) * b->rows.s1 + bb * b->rows.s2;
        } else {
            row = b->rows.p + (k / b->rows.n1) * b->rows.s1 + (k % b->rows.n1) * b->rows.s2;
        }
        row += j0;
        T *d = dst + kk * GEMM_NR;
        int64_t jp = 0;
        for (; jp + GEMM_NR <= n; jp += GEMM_NR, d += (int64_t)GEMM_NR * kc) memcpy(d, row + jp, GEMM_NR * sizeof(T));
        if (jp < n)
            for (int64_t t = 0; t < GEMM_NR; t++) d[t] = jp + t < n ? row[jp + t] : 0;
    }
}

/* A = dgates_h^T for a GRU: column k = (t, b), row c (gate column): c < 2H
 * from dgates, c >= 2H from dhn (the gradient of W_hn h + b_hn). */
typedef struct FCN(gru_dgh) {
    const T *dg, *dhn;
    int64_t H;
} FCN(gru_dgh);

static void FCN(gru_pack_dgh_t)(const void *ctx, T *dst, int64_t i0, int64_t m, int64_t k0, int64_t kc)
{
    const FCN(gru_dgh) *a = ctx;
    const int64_t H = a->H;
    for (int64_t ip = 0; ip < m; ip += GEMM_MR, dst += (int64_t)GEMM_MR * kc) {
        for (int64_t kk = 0; kk < kc; kk++) {
            const int64_t k = k0 + kk;
            for (int64_t ii = 0; ii < GEMM_MR; ii++) {
                const int64_t c = i0 + ip + ii;
                T v = 0;
                if (ip + ii < m) v = c < 2 * H ? a->dg[k * 3 * H + c] : a->dhn[k * H + c - 2 * H];
                dst[kk * GEMM_MR + ii] = v;
            }
        }
    }
}

/* The same rows for the per-step dh GEMM: row b of [dgates_t r z | dhn_t]. */
static void FCN(gru_pack_dgh)(const void *ctx, T *dst, int64_t i0, int64_t m, int64_t k0, int64_t kc)
{
    const FCN(gru_dgh) *a = ctx;
    const int64_t H = a->H;
    for (int64_t ip = 0; ip < m; ip += GEMM_MR, dst += (int64_t)GEMM_MR * kc) {
        for (int64_t ii = 0; ii < GEMM_MR; ii++) {
            const int64_t b = i0 + ip + ii;
            for (int64_t kk = 0; kk < kc; kk++) {
                const int64_t c = k0 + kk;
                T v = 0;
                if (ip + ii < m) v = c < 2 * H ? a->dg[b * 3 * H + c] : a->dhn[b * H + c - 2 * H];
                dst[kk * GEMM_MR + ii] = v;
            }
        }
    }
}

/* ---- gate functions, one row of one thread's units ----------------------------- */

static inline V FCN(rnn_ld)(const T *p, int64_t j, int64_t n) { return p ? FCN(load_lanes)(p + j, n) : (V){0}; }

/* p[j] = sigmoid or tanh (p[j] + bias[j]) for j < n, in place.  A loop of its own per gate: the
 * functions are long dependency chains, and only short iterations let the core overlap several
 * (the LSTM cell as one loop took about twice its instruction count's time). */
static void FCN(rnn_act)(T *p, const T *bias, int64_t n, int tanh_)
{
    for (int64_t j = 0; j < n; j += VL) {
        const V a = FCN(load_lanes)(p + j, n - j) + FCN(rnn_ld)(bias, j, n - j);
        FCN(store_lanes)(p + j, tanh_ ? FCN(vtanh)(a) : FCN(vsigmoid)(a), n - j);
    }
}

/* units [j0, j1) of batch row b at step t */
static void FCN(rnn_fwd_row)(int cell, T *gt, T *ct, T *hnt, T *yt, const T *rec, const T *hprev,
                             const T *cprev, const T *bias, const T *bias_hn, int64_t H, int64_t j0, int64_t j1)
{
    for (int64_t j = j0; j < j1; j += VL) {
        const int64_t n = j1 - j;
        if (cell == FC_LSTM) {
            if (j == j0) /* the gate activations first, in place */
                for (int q = 0; q < 4; q++)
                    FCN(rnn_act)(gt + q * H + j0, bias ? bias + q * H + j0 : NULL, j1 - j0, q == 2);
            const V i = FCN(load_lanes)(gt + j, n), f = FCN(load_lanes)(gt + H + j, n);
            const V gg = FCN(load_lanes)(gt + 2 * H + j, n), o = FCN(load_lanes)(gt + 3 * H + j, n);
            const V c = f * FCN(rnn_ld)(cprev, j, n) + i * gg;
            FCN(store_lanes)(ct + j, c, n);
            FCN(store_lanes)(yt + j, o * FCN(vtanh)(c), n);
        } else if (cell == FC_GRU) {
            const V r = FCN(vsigmoid)(FCN(load_lanes)(gt + j, n) + FCN(rnn_ld)(rec, j, n) + FCN(rnn_ld)(bias, j, n));
            const V z = FCN(vsigmoid)(FCN(load_lanes)(gt + H + j, n) + FCN(rnn_ld)(rec, H + j, n) +
                                      FCN(rnn_ld)(bias, H + j, n));
            const V hn = FCN(rnn_ld)(rec, 2 * H + j, n) + FCN(rnn_ld)(bias_hn, j, n);
            const V nn = FCN(vtanh)(FCN(load_lanes)(gt + 2 * H + j, n) + FCN(rnn_ld)(bias, 2 * H + j, n) + r * hn);
            const V hp = FCN(rnn_ld)(hprev, j, n);
            FCN(store_lanes)(gt + j, r, n);
            FCN(store_lanes)(gt + H + j, z, n);
            FCN(store_lanes)(gt + 2 * H + j, nn, n);
            FCN(store_lanes)(hnt + j, hn, n);
            FCN(store_lanes)(yt + j, nn + z * (hp - nn), n);
        } else {
            const V a = FCN(load_lanes)(gt + j, n) + FCN(rnn_ld)(bias, j, n);
            const V h = cell == FC_RNN_TANH ? FCN(vtanh)(a) : FCN(select)((IV)(a > 0), a, (V){0});
            FCN(store_lanes)(yt + j, h, n);
        }
    }
}

/* gate gradients of units [j0, j1) of batch row b at step t, from dh (and
 * dc); leaves in dh the part of dh_{t-1} that bypasses W_hh (GRU: dh z) */
static void FCN(rnn_bwd_row)(int cell, T *dgt, T *dhnt, T *dh, T *dc, const T *gt, const T *ct,
                             const T *cprev, const T *hnt, const T *hprev, const T *yt, int64_t H,
                             int64_t j0, int64_t j1)
{
    const V one = FCN(splat)((T)1);
    for (int64_t j = j0; j < j1; j += VL) {
        const int64_t n = j1 - j;
        const V d = FCN(load_lanes)(dh + j, n);
        if (cell == FC_LSTM) {
            const V i = FCN(load_lanes)(gt + j, n), f = FCN(load_lanes)(gt + H + j, n);
            const V gg = FCN(load_lanes)(gt + 2 * H + j, n), o = FCN(load_lanes)(gt + 3 * H + j, n);
            const V tc = FCN(vtanh)(FCN(load_lanes)(ct + j, n));
            const V dcv = FCN(load_lanes)(dc + j, n) + d * o * (one - tc * tc);
            FCN(store_lanes)(dgt + j, dcv * gg * i * (one - i), n);
            FCN(store_lanes)(dgt + H + j, dcv * FCN(rnn_ld)(cprev, j, n) * f * (one - f), n);
            FCN(store_lanes)(dgt + 2 * H + j, dcv * i * (one - gg * gg), n);
            FCN(store_lanes)(dgt + 3 * H + j, d * tc * o * (one - o), n);
            FCN(store_lanes)(dc + j, dcv * f, n);
        } else if (cell == FC_GRU) {
            const V r = FCN(load_lanes)(gt + j, n), z = FCN(load_lanes)(gt + H + j, n);
            const V nn = FCN(load_lanes)(gt + 2 * H + j, n), hn = FCN(load_lanes)(hnt + j, n);
            const V hp = FCN(rnn_ld)(hprev, j, n);
            const V dan = d * (one - z) * (one - nn * nn);
            FCN(store_lanes)(dgt + j, dan * hn * r * (one - r), n);
            FCN(store_lanes)(dgt + H + j, d * (hp - nn) * z * (one - z), n);
            FCN(store_lanes)(dgt + 2 * H + j, dan, n);
            FCN(store_lanes)(dhnt + j, dan * r, n);
            FCN(store_lanes)(dh + j, d * z, n);
        } else {
            const V h = FCN(load_lanes)(yt + j, n);
            const V da = cell == FC_RNN_TANH ? d * (one - h * h) : FCN(select)((IV)(h > 0), d, (V){0});
            FCN(store_lanes)(dgt + j, da, n);
        }
    }
}

/* How the recurrence splits between threads: by batch rows when every
 * thread gets at least a full micro-tile of rows (no barriers) and W_hh
 * stays in L3 from step to step (every thread reads all of it), else by
 * hidden units (one barrier per step, each thread streams its own share of
 * W_hh).  PTB's large LSTM (36 MB of W_hh in float32, 72 in float64) read
 * all of it from memory on both threads at every step: by units, float32
 * forward 167 -> 132 ms, float64 381 -> 332 ms, forward + backward 505 ->
 * 451 ms (float32). */
#ifndef FC_RNN_SHARED_BYTES
#define FC_RNN_SHARED_BYTES ((int64_t)16 << 20)
#endif
typedef struct FCN(rnn_split) {
    int by_rows, team;
    int64_t B, H;
} FCN(rnn_split);

static void FCN(rnn_split_init)(FCN(rnn_split) *sp, int64_t B, int64_t H, int64_t G, int nt)
{
    sp->B = B;
    sp->H = H;
    sp->by_rows = B >= (int64_t)nt * GEMM_MR && (nt == 1 || (int64_t)sizeof(T) * G * H * H <= FC_RNN_SHARED_BYTES);
    sp->team = sp->by_rows ? nt : (int)FC_MAX(1, FC_MIN((int64_t)nt, H / VL));
}

static void FCN(rnn_split_mine)(const FCN(rnn_split) *sp, int tid, int nteam, int64_t *b0, int64_t *b1,
                                int64_t *j0, int64_t *j1)
{
    if (sp->by_rows) {
        /* equal shares of rows (the rows past a share's full micro-tiles run on rnn_rows_gemm, at
         * the tiles' cost per row: whole tiles per thread gave PTB's batch of 20 16 and 4 rows) */
        fc_split_range(sp->B, nteam, tid, b0, b1);
        *j0 = 0;
        *j1 = sp->H;
    } else {
        *b0 = 0;
        *b1 = sp->B;
        fc_split_range(sp->H, nteam, tid, j0, j1);
    }
}

/* ---- forward -------------------------------------------------------------------- */

static int FCN(rnn_forward)(T *y, T *gates, T *cell, T *hn, const T *x, const T *h0, const T *c0,
                            const T *w_ih, const T *w_hh, const T *bias, const T *bias_hn,
                            const fc_rnn_geom *g, int nthreads)
{
    const int64_t T_ = g->steps, B = g->batch, I = g->input, H = g->hidden, G = fc_rnn_gates(g->cell), GH = G * H;
    int nt = fc_resolve_threads(nthreads);
    /* The recurrence.  Batch rows are independent, so with enough rows each
     * thread runs its own rows through every step with no barrier, reading
     * one shared packing of W_hh^T; with few rows, threads split the hidden
     * units instead and meet at a barrier after every step. */
    FCN(rnn_split) sp;
    FCN(rnn_split_init)(&sp, B, H, G, nt);
    /* The input projection x_t W_ih^T: split by rows with W_ih's and W_hh's packings within 16 MiB
     * (so they stay in L3 from step to step), each thread projects its own rows step by step, so a
     * step's gate rows are in its cache when the recurrence adds to them; R1 (T 100, B 64,
     * 128 -> 256) wrote and re-read 26 MB of gates through memory when every step was projected
     * first.  Otherwise one GEMM over every step first (PTB's 1500 -> 1500 LSTM ran 188 -> 250 ms
     * streaming its 36 MB W_ih^T packing once per step). */
    const int step_proj = sp.by_rows && (int64_t)sizeof(T) * FC_ROUND_UP(GH, GEMM_NR) * (I + H) <= FC_RNN_SHARED_BYTES;
    /* LSTM and RNN: both products of a step in one (rnn_fused_step) where a thread's packed rows
     * fit 256 KiB (a GRU's n gate needs W_hn h apart from W_in x) */
    const int64_t fps = (int64_t)GEMM_NR * (I + H);
    const int fused = step_proj && g->cell != FC_GRU &&
                      (int64_t)sizeof(T) * FC_ROUND_UP(FC_CEIL_DIV(B, nt), GEMM_MR) * (I + H) <= ((int64_t)256 << 10);
    if (!step_proj) {
        FCN(rows2d) xa = {x, B, g->xt, g->xb};
        FCN(strided) wt = {w_ih, I, 1};
        FCN(gemm_op) proj = {
            .M = T_ * B, .N = GH, .K = I,
            .pack_a = FCN(rnn_pack_a_rows2d), .a_ctx = &xa,
            .pack_b = FCN(pack_b_strided), .b_ctx = &wt,
            .c = gates, .ldc = GH, .seg_len = GH, .seg_stride = 0, .bias = NULL, .accumulate = 0,
        };
        int st = FCN(gemm_run)(&proj, nt);
        if (st) return st;
    }
    T *rec_all = NULL, *bp_all = NULL;
    if (g->cell == FC_GRU) {
        rec_all = fc_scratch(FC_SCRATCH_WORK2, (size_t)(B * GH) * sizeof(T));
        if (!rec_all) return FC_ERR_NOMEM;
    }
    /* by rows: W_ih^T's columns over W_hh^T's (fused), or W_hh^T (and W_ih^T when projecting step
     * by step), all columns, shared, packed by the team (PTB's 13.5 MB took 1 ms on one thread) */
    T *bpi = NULL;
    const int64_t cols = FC_ROUND_UP(GH, GEMM_NR);
    if (sp.by_rows) {
        bp_all = fc_scratch(FC_SCRATCH_SHARED, (size_t)(cols * (H + (step_proj ? I : 0))) * sizeof(T));
        if (!bp_all) return FC_ERR_NOMEM;
        if (step_proj && !fused) bpi = bp_all + cols * H;
    }
    int err = 0;
#pragma omp parallel num_threads(sp.team)
    {
        fc_fpstate fp = fc_fp_enter();
        if (sp.by_rows) {
            FCN(rnn_cols) wh = {w_hh, H, 1, GH, 0}, wi = {w_ih, I, 1, GH, 0};
            if (fused) {
                FCN(rnn_pack_b_team)(bp_all, &wi, GH, I, fps);
                FCN(rnn_pack_b_team)(bp_all + (int64_t)GEMM_NR * I, &wh, GH, H, fps);
            } else {
                FCN(rnn_pack_b_team)(bp_all, &wh, GH, H, (int64_t)GEMM_NR * H);
                if (bpi) FCN(rnn_pack_b_team)(bpi, &wi, GH, I, (int64_t)GEMM_NR * I);
            }
#pragma omp barrier
        }
        int64_t b0, b1, j0, j1;
        FCN(rnn_split_mine)(&sp, omp_get_thread_num(), omp_get_num_threads(), &b0, &b1, &j0, &j1);
        const int64_t nj = j1 - j0, ncol = G * nj;
        T *bp = bp_all;
        T *abuf = fc_scratch(FC_SCRATCH_PACK_A, (size_t)(FCN(gemm_abuf_elems)() + GEMM_MR * (H + I)) * sizeof(T));
        if (!sp.by_rows) { /* this thread's columns of W_hh^T, gate after gate */
            bp = fc_scratch(FC_SCRATCH_PACK_B, (size_t)(FC_ROUND_UP(FC_MAX(ncol, 1), GEMM_NR) * H) * sizeof(T));
            if (bp && nj > 0) {
                FCN(rnn_cols) wm = {w_hh + j0 * H, H, 1, nj, H};
                FCN(rnn_pack_b)(bp, &wm, ncol, H, (int64_t)GEMM_NR * H);
            }
        }
        if (!bp || !abuf) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
        const int ok = bp && abuf && nj > 0 && b1 > b0;
        for (int64_t t = 0; t < T_; t++) {
            T *gt = gates + t * B * GH;
            const T *hprev = t > 0 ? y + (t - 1) * g->yt : h0;
            const int64_t hrs = t > 0 ? g->yb : H; /* row stride of hprev */
            if (ok && fused) {
                FCN(rows_ab) A = {{x + t * g->xt + b0 * g->xb, hprev ? hprev + b0 * hrs : x},
                                  {g->xb, hrs}, {I, hprev ? H : 0}};
                FCN(gemm_op) step = {
                    .M = b1 - b0, .N = GH, .K = I + H, .pack_a = NULL, .a_ctx = NULL, .pack_b = NULL, .b_ctx = NULL,
                    .c = gt + b0 * GH, .ldc = GH, .seg_len = GH, .seg_stride = 0, .bias = NULL, .accumulate = 0,
                };
                FCN(rnn_fused_step)(&step, abuf, bp_all, fps, &A);
            }
            if (ok && step_proj && !fused) { /* this step's input projection of this thread's rows */
                FCN(strided) xs = {x + t * g->xt + b0 * g->xb, g->xb, 1};
                FCN(gemm_op) xstep = {
                    .M = b1 - b0, .N = GH, .K = I,
                    .pack_a = FCN(pack_a_strided), .a_ctx = &xs,
                    .pack_b = NULL, .b_ctx = NULL,
                    .c = gt + b0 * GH, .ldc = GH, .seg_len = GH, .seg_stride = 0, .bias = NULL, .accumulate = 0,
                };
                FCN(rnn_gemm_prepacked)(&xstep, abuf, bpi, &xs);
            }
            if (ok && hprev && !fused) {
                FCN(strided) ha = {hprev + b0 * hrs, hrs, 1};
                FCN(gemm_op) step = {
                    .M = b1 - b0, .N = ncol, .K = H,
                    .pack_a = FCN(pack_a_strided), .a_ctx = &ha,
                    .pack_b = NULL, .b_ctx = NULL,
                    .c = (g->cell == FC_GRU ? rec_all : gt) + b0 * GH + j0, .ldc = GH, .seg_len = nj,
                    .seg_stride = H, .bias = NULL, .accumulate = g->cell != FC_GRU,
                };
                FCN(rnn_gemm_prepacked)(&step, abuf, bp, &ha);
            }
            if (ok) {
                const T *cprev = t > 0 ? (cell ? cell + (t - 1) * B * H : NULL) : c0;
                for (int64_t b = b0; b < b1; b++)
                    FCN(rnn_fwd_row)(g->cell, gt + b * GH, cell ? cell + (t * B + b) * H : NULL,
                                     hn ? hn + (t * B + b) * H : NULL, y + t * g->yt + b * g->yb,
                                     rec_all && hprev ? rec_all + b * GH : NULL, hprev ? hprev + b * hrs : NULL,
                                     cprev ? cprev + b * H : NULL, bias, bias_hn, H, j0, j1);
            }
            if (!sp.by_rows) {
#pragma omp barrier
            }
        }
        fc_fp_leave(fp);
    }
    return err;
}


/* dX[t, b, i] += sum_c dgates[t, b, c] w_ih[c, i] and
 * dW_ih[c, i] += sum_(t, b) dgates[t, b, c] x[t, b, i], for I < VL / 2:
 * dot products over the gate columns and column sums weighted by x. */
static int FCN(rnn_small_input_grads)(T *dx, T *dw_ih, const T *dgates, const T *x, const T *w_ih,
                                      const fc_rnn_geom *g, int nt)
{
    const int64_t R = g->steps * g->batch, B = g->batch, I = g->input;
    const int64_t GH = fc_rnn_gates(g->cell) * g->hidden;
    T *wt = fc_scratch(FC_SCRATCH_SHARED, (size_t)(I * GH) * sizeof(T)); /* w_ih^T: rows of GH */
    if (!wt) return FC_ERR_NOMEM;
    for (int64_t c = 0; c < GH; c++)
        for (int64_t i = 0; i < I; i++) wt[i * GH + c] = w_ih[c * I + i];
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
        if (dx) {
#pragma omp for schedule(static)
            for (int64_t r = 0; r < R; r++) {
                const T *dg = dgates + r * GH;
                T *d = dx + (r / B) * g->xt + (r % B) * g->xb;
                for (int64_t i = 0; i < I; i++) {
                    V acc = (V){0};
                    for (int64_t c = 0; c < GH; c += VL)
                        acc += FCN(load_lanes)(dg + c, GH - c) * FCN(load_lanes)(wt + i * GH + c, GH - c);
                    d[i] += FCN(hsum)(acc);
                }
            }
        }
#pragma omp for schedule(static)
        for (int64_t c0 = 0; c0 < GH; c0 += VL) {
            V acc[VL / 2];
            for (int64_t i = 0; i < I; i++) acc[i] = (V){0};
            for (int64_t r = 0; r < R; r++) {
                const V dg = FCN(load_lanes)(dgates + r * GH + c0, GH - c0);
                const T *xr = x + (r / B) * g->xt + (r % B) * g->xb;
                for (int64_t i = 0; i < I; i++) acc[i] += dg * FCN(splat)(xr[i]);
            }
            for (int64_t i = 0; i < I; i++)
                for (int64_t l = 0; l < VL && c0 + l < GH; l++) dw_ih[(c0 + l) * I + i] += acc[i][l];
        }
        fc_fp_leave(fp);
    }
    return FC_OK;
}

/* ---- backward ------------------------------------------------------------------- */

/* column sums of rows [0, rows) x cols of a matrix with row stride ld, added to out */
static void FCN(rnn_colsum)(T *out, const T *m, int64_t rows, int64_t cols, int64_t ld, int nt)
{
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c0 = 0; c0 < cols; c0 += VL) {
        const int64_t n = cols - c0;
        V s = (V){0};
        for (int64_t r = 0; r < rows; r++) s += FCN(load_lanes)(m + r * ld + c0, n);
        FCN(store_lanes)(out + c0, FCN(load_lanes)(out + c0, n) + s, n);
    }
}

static int FCN(rnn_backward)(T *dx, T *dh0, T *dc0, T *dw_ih, T *dw_hh, T *db_ih, T *db_hh, T *dgates,
                             T *dhn, const T *dy, const T *dhT, const T *dcT, const T *gates, const T *cell,
                             const T *hn, const T *x, const T *y, const T *h0, const T *c0, const T *w_ih,
                             const T *w_hh, const fc_rnn_geom *g, int nthreads)
{
    const int64_t T_ = g->steps, B = g->batch, I = g->input, H = g->hidden, G = fc_rnn_gates(g->cell), GH = G * H;
    const int gru = g->cell == FC_GRU;
    const int nt = fc_resolve_threads(nthreads);
    /* running dh and dc (B, H), rows or columns owned per thread */
    T *run = fc_scratch(FC_SCRATCH_WORK2, (size_t)(2 * B * H) * sizeof(T));
    if (!run) return FC_ERR_NOMEM;
    T *dh = run, *dc = run + B * H;
    FCN(rnn_split) sp;
    FCN(rnn_split_init)(&sp, B, H, G, nt);
    T *bp_all = NULL;
    if (sp.by_rows) { /* W_hh, all columns (rows: every gate column), shared, packed by the team */
        bp_all = fc_scratch(FC_SCRATCH_SHARED, (size_t)(FC_ROUND_UP(H, GEMM_NR) * GH) * sizeof(T));
        if (!bp_all) return FC_ERR_NOMEM;
    }
    int err = 0;
#pragma omp parallel num_threads(sp.team)
    {
        fc_fpstate fp = fc_fp_enter();
        if (sp.by_rows) {
            FCN(rnn_cols) wm = {w_hh, 1, H, H, 0};
            FCN(rnn_pack_b_team)(bp_all, &wm, H, GH, (int64_t)GEMM_NR * GH);
#pragma omp barrier
        }
        int64_t b0, b1, j0, j1;
        FCN(rnn_split_mine)(&sp, omp_get_thread_num(), omp_get_num_threads(), &b0, &b1, &j0, &j1);
        const int64_t nj = j1 - j0;
        T *bp = bp_all;
        T *abuf = fc_scratch(FC_SCRATCH_PACK_A, (size_t)(FCN(gemm_abuf_elems)() + GEMM_MR * GH) * sizeof(T));
        if (!sp.by_rows) { /* this thread's columns of W_hh */
            bp = fc_scratch(FC_SCRATCH_PACK_B, (size_t)(FC_ROUND_UP(FC_MAX(nj, 1), GEMM_NR) * GH) * sizeof(T));
            if (bp && nj > 0) {
                FCN(rnn_cols) wm = {w_hh + j0, 1, H, nj, 0};
                FCN(rnn_pack_b)(bp, &wm, nj, GH, (int64_t)GEMM_NR * GH);
            }
        }
        if (!bp || !abuf) {
#pragma omp atomic write
            err = FC_ERR_NOMEM;
        }
        const int ok = bp && abuf && nj > 0 && b1 > b0;
        for (int64_t b = b0; ok && b < b1; b++)
            for (int64_t j = j0; j < j1; j++) {
                dh[b * H + j] = dhT ? dhT[b * H + j] : 0;
                dc[b * H + j] = dcT ? dcT[b * H + j] : 0;
            }
        for (int64_t t = T_ - 1; t >= 0; t--) {
            const T *gt = gates + t * B * GH;
            T *dgt = dgates + t * B * GH;
            const T *hprev = t > 0 ? y + (t - 1) * g->yt : h0;
            const int64_t hrs = t > 0 ? g->yb : H;
            const T *cprev = t > 0 ? (cell ? cell + (t - 1) * B * H : NULL) : c0;
            if (ok) {
                for (int64_t b = b0; b < b1; b++) {
                    T *dhb = dh + b * H;
                    if (dy) {
                        const T *dyb = dy + t * g->yt + b * g->yb;
                        for (int64_t j = j0; j < j1; j++) dhb[j] += dyb[j];
                    }
                    FCN(rnn_bwd_row)(g->cell, dgt + b * GH, dhn ? dhn + (t * B + b) * H : NULL, dhb, dc + b * H,
                                     gt + b * GH, cell ? cell + (t * B + b) * H : NULL,
                                     cprev ? cprev + b * H : NULL, hn ? hn + (t * B + b) * H : NULL,
                                     hprev ? hprev + b * hrs : NULL, y + t * g->yt + b * g->yb, H, j0, j1);
                }
            }
            if (!sp.by_rows) { /* the dh GEMM reads every unit's gate gradients */
#pragma omp barrier
            }
            /* dh_{t-1} (own rows, own units) (+)= gate gradients W_hh[:, own units] */
            if (ok) {
                FCN(strided) da = {dgt + b0 * GH, GH, 1};
                FCN(gru_dgh) dga = {dgt + b0 * GH, dhn ? dhn + (t * B + b0) * H : NULL, H};
                FCN(gemm_op) step = {
                    .M = b1 - b0, .N = nj, .K = GH,
                    .pack_a = gru ? FCN(gru_pack_dgh) : FCN(pack_a_strided), .a_ctx = gru ? (const void *)&dga : &da,
                    .pack_b = NULL, .b_ctx = NULL,
                    .c = dh + b0 * H + j0, .ldc = H, .seg_len = nj, .seg_stride = 0,
                    .bias = NULL, .accumulate = gru, /* GRU: dh already holds dh_t z */
                };
                FCN(rnn_gemm_prepacked)(&step, abuf, bp, gru ? NULL : &da);
            }
        }
        for (int64_t b = b0; ok && b < b1; b++)
            for (int64_t j = j0; j < j1; j++) {
                if (dh0) dh0[b * H + j] += dh[b * H + j];
                if (dc0 && g->cell == FC_LSTM) dc0[b * H + j] += dc[b * H + j];
            }
        fc_fp_leave(fp);
    }
    if (err) return err;

    const int batch_first = g->xb > g->xt;
    if (I < VL / 2) {
        /* few input features: dX and dW_ih are I dot products per row and
         * I weighted column sums, which a GEMM tile of GEMM_NR columns would
         * mostly waste */
        if ((err = FCN(rnn_small_input_grads)(dx, dw_ih, dgates, x, w_ih, g, nt))) return err;
    } else if (dx) {
        /* dX (rows in x's memory order) += dgates W_ih */
        FCN(rows2d) rows = batch_first ? (FCN(rows2d)){dgates, T_, GH, B * GH} : (FCN(rows2d)){dgates, B, B * GH, GH};
        FCN(strided) wb = {w_ih, 1, I};
        FCN(gemm_op) op = {
            .M = T_ * B, .N = I, .K = GH,
            .pack_a = FCN(rnn_pack_a_rows2d), .a_ctx = &rows,
            .pack_b = FCN(pack_b_strided), .b_ctx = &wb,
            .c = dx, .ldc = I, .seg_len = I, .seg_stride = 0, .bias = NULL, .accumulate = 1,
        };
        if ((err = FCN(gemm_run)(&op, nt))) return err;
    }
    /* dW_ih += dgates^T X   (reduction over the rows (t, b)) */
    if (I >= VL / 2) {
        FCN(strided) at = {dgates, 1, GH};
        FCN(rnn_rows) xb = {{x, B, g->xt, g->xb}, NULL, B, H};
        FCN(gemm_op) op = {
            .M = GH, .N = I, .K = T_ * B,
            .pack_a = FCN(pack_a_strided), .a_ctx = &at,
            .pack_b = FCN(rnn_pack_b_rows), .b_ctx = &xb,
            .c = dw_ih, .ldc = I, .seg_len = I, .seg_stride = 0, .bias = NULL, .accumulate = 1,
        };
        if ((err = FCN(gemm_run)(&op, nt))) return err;
    }
    /* dW_hh += dgates_h^T H_{t-1}: rows (t, b); h_{-1} = h0, or zero (skip t = 0) */
    {
        const int64_t skip = h0 ? 0 : B;
        FCN(strided) at = {dgates + skip * GH, 1, GH};
        FCN(gru_dgh) atg = {dgates + skip * GH, dhn ? dhn + skip * H : NULL, H};
        FCN(rnn_rows) hb = h0 ? (FCN(rnn_rows)){{y, B, g->yt, g->yb}, h0, B, H}
                              : (FCN(rnn_rows)){{y, B, g->yt, g->yb}, NULL, B, H}; /* row k: y (k/B, k%B) */
        FCN(gemm_op) op = {
            .M = GH, .N = H, .K = T_ * B - skip,
            .pack_a = gru ? FCN(gru_pack_dgh_t) : FCN(pack_a_strided), .a_ctx = gru ? (const void *)&atg : &at,
            .pack_b = FCN(rnn_pack_b_rows), .b_ctx = &hb,
            .c = dw_hh, .ldc = H, .seg_len = H, .seg_stride = 0, .bias = NULL, .accumulate = 1,
        };
        if (op.K > 0 && (err = FCN(gemm_run)(&op, nt))) return err;
    }
    if (db_ih) FCN(rnn_colsum)(db_ih, dgates, T_ * B, GH, GH, nt);
    if (db_hh) {
        if (gru) {
            FCN(rnn_colsum)(db_hh, dgates, T_ * B, 2 * H, GH, nt);
            FCN(rnn_colsum)(db_hh + 2 * H, dhn, T_ * B, H, H, nt);
        } else {
            FCN(rnn_colsum)(db_hh, dgates, T_ * B, GH, GH, nt);
        }
    }
    return FC_OK;
}
