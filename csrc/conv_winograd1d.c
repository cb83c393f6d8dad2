/* Winograd F(4, r) for 1-D convolutions   (template, see internal.h)
 *
 * A 1-D correlation at stride s or dilation d (one of them 1), S taps,
 *     y[n][k][o] = sum_{c, t} w[k][c][t] x[n][c][s o + d t - pad],
 * computed 4 outputs at a time as y = A^T [sum (G g) .* (B^T d)]: F(4, 3)
 * from 6 inputs with conv_winograd.c's transforms (6 multiplies per 4
 * outputs and 3 taps instead of 12), F(4, 2) from 5 at the same points less
 * -2 (5 instead of 8), F(4, 1) the 4 products themselves.
 *
 *   dilation d  the outputs o = a + d (4 j + i) of phase a (a < d) read
 *               x[a - pad + d (4 j + i + t)]: a tile's inputs are d apart;
 *   stride s    tap t = s t' + p reads x[p - pad + s (o + t')]: input phase p
 *               (p < s) is a stride-1 correlation with taps p, p + s, ...
 * By phase (S <= 3 s): phase p's r = ceil((S - p) / s) taps are one F(4, r),
 * whose r + 3 products each sum over the C input channels: 3 taps at stride
 * 2 take 5 + 4 multiplies per 4 outputs instead of 12 (1.33x fewer), 3 taps
 * at stride 1 (any dilation) 6 (2x), 2 taps 5 (1.6x).
 * In pieces (S > 3 s): each phase's taps in pieces of 3, piece u shifting the
 * inputs by 3 u, a tap past the last zero; each (input channel, phase, piece)
 * is one "virtual channel" of 6 F(4, 3) products over J = C s ceil(ceil(S /
 * s) / 3) of them: the speech layer's 11 taps at stride 2 take 24 per 4
 * outputs instead of 44 (1.8x).  (auto's rule, fastconv/_cpu/conv.py, counts
 * the same.)
 *
 * The weights transform in double once per call (the team sharing them),
 * the input is copied once with zeros around it (every tile reads inside
 * it), then blocks of tiles as in the 2-D code: a block's inputs transformed
 * into V (the micro-kernel's B panels), its products, its outputs.
 *
 * The input gradient at stride 1 is the correlation of dy with the taps
 * reversed and the channel axes swapped, padding d (S - 1) - pad.
 */

#ifndef FC_WINOGRAD1D_COMMON
#define FC_WINOGRAD1D_COMMON

typedef struct fc_wg1_geo {
    int64_t N, CI, L, KO, Q, S; /* images, input channels and length, output channels and length, taps */
    int64_t pad;                /* zeros before the input */
    int64_t D, A, E;            /* d (1 at a stride): a tile's inputs and outputs D apart; output phases
                                 * (D, or fewer where fewer hold outputs); input phases (the stride) */
    int64_t NU, J;              /* pieces of 3 taps per input phase; virtual channels C E NU */
    int64_t TJ, tiles, LP;      /* tiles per output phase, all tiles, the padded phase rows' length */
    /* The transforms: NG groups of positions, group g's r[g] + 3 of them from x0[g] on (F(4, r[g]));
     * each position's product sums over JG channels.  By phase (S <= 3 E): group g is input phase
     * g with its r[g] = ceil((S - g) / E) taps, JG = C.  In pieces (S > 3 E): one group of F(4, 3)
     * whose JG = J virtual channels are the (channel, phase, piece) triples. */
    int64_t NG, XI, JG;
    int r[8], x0[8];
} fc_wg1_geo;

/* whether the (canonical) geometry is a 1-D one Winograd computes: one group, 2 or more taps,
 * stride 1 (any dilation) or dilation 1 (stride up to 8), padding at most d (S - 1) */
static inline int fc_winograd1d_fits(const fc_conv_geom *g)
{
    return g->H == 1 && g->R == 1 && g->P == 1 && g->pad_h == 0 && g->stride_h == 1 && g->G == 1 && g->S >= 2 &&
           g->Q >= 1 && (g->stride_w == 1 || g->dil_w == 1) && g->stride_w <= 8 && g->pad_w >= 0 &&
           g->pad_w <= g->dil_w * (g->S - 1);
}

/* and its input gradient: stride 1 */
static inline int fc_winograd1d_grad_fits(const fc_conv_geom *g) { return fc_winograd1d_fits(g) && g->stride_w == 1; }

static inline fc_wg1_geo fc_wg1_plan(int64_t N, int64_t CI, int64_t L, int64_t KO, int64_t Q, int64_t S,
                                     int64_t stride, int64_t dil, int64_t pad)
{
    fc_wg1_geo q = {N, CI, L, KO, Q, S, pad, stride == 1 ? dil : 1, 1, stride, 0, 0, 0, 0, 0, 0, 0, 0, {0}, {0}};
    q.A = FC_MIN(q.D, Q); /* (phases past the last output have none) */
    q.NU = FC_CEIL_DIV(FC_CEIL_DIV(S, q.E), 3);
    q.J = CI * q.E * q.NU;
    q.TJ = FC_CEIL_DIV(FC_CEIL_DIV(Q, q.D), 4);
    q.tiles = N * q.A * q.TJ;
    /* the last element of a phase row any tile reads, + 1 */
    q.LP = (q.A - 1) + q.D * (3 * (q.NU - 1) + 4 * (q.TJ - 1) + 5) + 1;
    if (S <= 3 * q.E) { /* (NU = 1) */
        q.NG = FC_MIN(q.E, S); /* (phases past the last tap have none) */
        q.JG = CI;
        for (int g = 0; g < q.NG; g++) {
            q.r[g] = (int)FC_CEIL_DIV(S - g, q.E);
            q.x0[g] = (int)q.XI;
            q.XI += 3 + q.r[g];
        }
    } else {
        q.NG = 1;
        q.JG = q.J;
        q.r[0] = 3;
        q.XI = 6;
    }
    return q;
}

/* F(4, 2) at the points 0, 1, -1, 1/2 and infinity (those of conv_winograd.c less -2), the rows of
 * B^T scaled to small integers and G the other way: G g for taps g0 g1, in double */
static inline void fc_wg1_g2(double g0, double g1, double o[5])
{
    o[0] = g0;
    o[1] = (g0 + g1) * 0.5;
    o[2] = (g0 - g1) / 6;
    o[3] = (g0 + 0.5 * g1) * 8 / 3;
    o[4] = g1 * 0.5;
}

/* G g for r = 1, 2 or 3 taps: r + 3 values (F(4, 1) is the tap 4 times) */
static inline void fc_wg1_g(int r, const double *g, double o[6])
{
    if (r == 3)
        fc_wg_g(g[0], g[1], g[2], o);
    else if (r == 2)
        fc_wg1_g2(g[0], g[1], o);
    else
        o[0] = o[1] = o[2] = o[3] = g[0];
}

/* Channel j of group grp (fc_wg1_geo): its input channel ci, input phase p and piece u (in pieces
 * j is (ci, p, u); by phase ci = j, p the group, u = 0) */
static inline void fc_wg1_channel(const fc_wg1_geo *q, int64_t j, int grp, int64_t *ci, int64_t *p, int64_t *u)
{
    const int pieces = q->S > 3 * q->E;
    *ci = pieces ? j / (q->E * q->NU) : j;
    *p = pieces ? (j / q->NU) % q->E : grp;
    *u = pieces ? j % q->NU : 0;
}

/* where channel j of group grp reads in xp: its phase row, from its piece on */
static inline int64_t fc_wg1_row(const fc_wg1_geo *q, int64_t j, int grp)
{
    int64_t ci, p, u;
    fc_wg1_channel(q, j, grp, &ci, &p, &u);
    return (ci * q->E + p) * q->LP + q->D * 3 * u;
}
#endif

/* The weights of channel j of every group (wg1_geo) for panel kp's MR output channels:
 * U[xi][kp][j][l] = (G g)_xi for g the group's taps E (3 u + v) + p (v < r) of w[ko][ci]
 * (fc_wg1_channel), zero past the last (or past KO), or flipped, w[ci][ko] reversed (in double). */
static void FCN(wg1_weight_panel)(T *U, int64_t ux, const T *w, const fc_wg1_geo *q, int64_t kp, int64_t j, int flip)
{
    const int64_t S = q->S, KO = q->KO, CI = q->CI;
    for (int grp = 0; grp < q->NG; grp++) {
        const int r = q->r[grp];
        int64_t ci, p, u;
        fc_wg1_channel(q, j, grp, &ci, &p, &u);
        double g[3][GEMM_MR];
        for (int v = 0; v < r; v++) {
            const int64_t t = q->E * (3 * u + v) + p;
            for (int l = 0; l < GEMM_MR; l++) {
                const int64_t ko = kp * GEMM_MR + l;
                g[v][l] = ko >= KO || t >= S ? 0.0
                          : flip             ? (double)w[(ci * KO + ko) * S + S - 1 - t]
                                             : (double)w[(ko * CI + ci) * S + t];
            }
        }
        double o[6][GEMM_MR];
        for (int l = 0; l < GEMM_MR; l++) {
            double ol[6];
            const double gl[3] = {g[0][l], r > 1 ? g[1][l] : 0, r > 2 ? g[2][l] : 0};
            fc_wg1_g(r, gl, ol);
            for (int xi = 0; xi < r + 3; xi++) o[xi][l] = ol[xi];
        }
        /* (stored a row of MR at a time: element by element down the rows, the stores ux apart
         * were most of the transform's time) */
        T *dst = U + q->x0[grp] * ux + (kp * q->JG + j) * GEMM_MR;
        for (int xi = 0; xi < r + 3; xi++)
            for (int l = 0; l < GEMM_MR; l++) dst[xi * ux + l] = (T)o[xi][l];
    }
}

/* B^T of F(4, 2) (fc_wg1_g2) applied to 5 values (stride s) in place */
static inline void FCN(wg1_bt2)(V *d, int s)
{
    const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s];
    const V two = FCN(splat)(2), three = FCN(splat)(3);
    d[0] = d0 - d2 + two * (d3 - d1);
    d[s] = d2 - d1 + two * d3;
    d[2 * s] = three * d2 - d1 - two * d3;
    d[3 * s] = d1 - d3;
    d[4 * s] = d1 - d3 + two * (d4 - d2);
}

/* A^T of F(4, 2) applied to 5 values (stride s) giving 4 (stride o) */
static inline void FCN(wg1_at2)(const V *m, int s, V *out, int o)
{
    const V p12 = m[s] + m[2 * s], d12 = m[s] - m[2 * s], m3 = m[3 * s];
    out[0] = m[0] + p12 + m3;
    out[o] = d12 + FCN(splat)((T)0.5) * m3;
    out[2 * o] = p12 + FCN(splat)((T)0.25) * m3;
    out[3 * o] = d12 + FCN(splat)((T)0.125) * m3 + m[4 * s];
}

/* out[0..3] += A^T m for F(4, r), m its r + 3 values */
static inline void FCN(wg1_at_add)(int r, const V *m, V *out)
{
    V o[4];
    if (r == 3)
        FCN(wg_at)(m, 1, o, 1);
    else if (r == 2)
        FCN(wg1_at2)(m, 1, o, 1);
    else
        for (int i = 0; i < 4; i++) o[i] = m[i];
    for (int i = 0; i < 4; i++) out[i] += o[i];
}

/* xp (N, CI, E, LP) = the input rows with pad zeros before them and zeros after, split into
 * the stride's E phases: xp[n][c][p][m] = x[n][c][E m + p - pad] (a tile's inputs then lie D
 * apart whatever the stride) */
static void FCN(wg1_pad)(T *restrict xp, const T *x, const fc_wg1_geo *q)
{
    const int64_t L = q->L, LP = q->LP, pad = q->pad, E = q->E, n = FC_MIN(L, LP - pad);
    IV even;
    for (int l = 0; l < VL; l++) even[l] = 2 * l;
#pragma omp for schedule(static)
    for (int64_t row = 0; row < q->N * q->CI; row++) {
        const T *src = x + row * L;
        T *d = xp + row * E * LP;
        if (E == 1) {
            for (int64_t i = 0; i < pad; i++) d[i] = 0;
            memcpy(d + pad, src, (size_t)n * sizeof(T));
            for (int64_t i = pad + n; i < LP; i++) d[i] = 0;
            continue;
        }
        for (int64_t p = 0; p < E; p++, d += LP) {
            /* m in [m0, m1): the input element E m + p - pad lies in the row */
            const int64_t m0 = FC_MIN(LP, FC_CEIL_DIV(FC_MAX(0, pad - p), E));
            const int64_t m1 = FC_MAX(m0, FC_MIN(LP, L + pad - p > 0 ? FC_CEIL_DIV(L + pad - p, E) : 0));
            const T *sp = src + p - pad;
            int64_t m = 0;
            for (; m < m0; m++) d[m] = 0;
            if (E == 2) /* (the even lanes of two vectors, the last odd one inside the row) */
                for (; m + VL < m1; m += VL)
                    FCN(storeu)(d + m, __builtin_shuffle(FCN(loadu)(sp + 2 * m), FCN(loadu)(sp + 2 * m + VL), even));
            for (; m < m1; m++) d[m] = sp[E * m];
            for (; m < LP; m++) d[m] = 0;
        }
    }
}

/* Tiles [t0, t0 + TB) of the run (the last block may have fewer; returns how many): tile t of
 * image n, output phase a, outputs a + D (4 j + i) of the phase: off[t] = where its inputs start
 * in xp, dst[t] = where its first output lies in y's output channel 0, cnt[t] of them (< 4 at the
 * end of a phase). */
static int64_t FCN(wg1_tiles)(int64_t *off, int64_t *dst, int *cnt, char *run, const fc_wg1_geo *q, int packed,
                              int64_t t0, int64_t TB)
{
    const int64_t per_image = q->A * q->TJ, tiles = FC_MIN(TB, q->tiles - t0);
    for (int64_t i = 0; i < tiles; i++) {
        /* the phases innermost: A tiles cover 4 A outputs together (and a block whole cache lines
         * of x and y) */
        const int64_t t = t0 + i, n = t / per_image, a = t % q->A, c0 = 4 * ((t % per_image) / q->A);
        const int64_t first = a + q->D * c0;
        off[i] = n * q->CI * q->E * q->LP + a + q->D * c0;
        dst[i] = n * q->KO * q->Q + first;
        cnt[i] = first >= q->Q ? 0 : (int)FC_MIN(4, FC_CEIL_DIV(q->Q - first, q->D));
    }
    /* run[g] for the g-th VL tiles: 1 where they form a run (wg1_lanes: one image, from phase 0 on),
     * 2 where every one of them has 4 outputs too */
    const int64_t D = q->D;
    for (int64_t t0 = 0, g = 0; t0 < TB; t0 += VL, g++) {
        int ok = packed && tiles - t0 >= VL, full = ok;
        for (int l = 0; ok && l < VL; l++) {
            ok = off[t0 + l] == off[t0] + l % D + 4 * D * (l / D);
            full = full && cnt[t0 + l] == 4;
        }
        run[g] = (char)(ok ? 1 + full : 0);
    }
    return tiles;
}

/* A run of VL tiles of one image, D tiles per 4 D outputs from phase 0 on (wg1_tiles' order), reads
 * input P = 4 D b + D i + a of its start for lane l = D b + a, value i < 4, and values 4 and 5 as
 * values 0 and 1 from 4 D on; its outputs go to the same positions P.  Where 4 D divides VL, each
 * vector of VL positions holds VL / 4 of each value: the lanes move between 4 such vectors and the
 * 4 vectors of values by two rounds of shuffles, with these masks (computed once per call). */
typedef struct FCN(wg1_lanes) {
    int packed;               /* whether runs move by the shuffles */
    IV c01[2], c23[2], rr[2]; /* inputs: positions (vectors 2 h, 2 h + 1) into halves c01[h] (values 0
                               * and 1) and c23[h] (2 and 3), then those into values (rr[i % 2]) */
    IV m1[2], m2[4];          /* outputs: values (0 1, and 2 3) into halves, the halves into vector k */
} FCN(wg1_lanes);

static void FCN(wg1_lanes_init)(FCN(wg1_lanes) *s, const fc_wg1_geo *q)
{
    const int64_t D = q->D;
    s->packed = q->A == D && VL % (4 * D) == 0;
    if (!s->packed) return;
    int n01[4] = {0, 0, 0, 0}, n23[4] = {0, 0, 0, 0}; /* values 0 1 (2 3) placed in vector k so far */
    for (int P = 0; P < 4 * VL; P++) {
        const int k = P / VL, h = k / 2, i = (int)(P % (4 * D) / D), l = (int)(P / (4 * D) * D + P % D);
        (i < 2 ? s->c01 : s->c23)[h][(i % 2) * (VL / 2) + l - h * (VL / 2)] = (k - 2 * h) * VL + P % VL;
        int *nk = i < 2 ? n01 + k : n23 + k;
        s->m1[h][(k % 2) * (VL / 2) + *nk] = (i % 2) * VL + l; /* (2 and 3 in the same pattern) */
        s->m2[k][P % VL] = (k % 2) * (VL / 2) + *nk + (i < 2 ? 0 : VL);
        (*nk)++;
    }
    for (int l = 0; l < VL; l++) {
        s->rr[0][l] = l / (VL / 2) * VL + l % (VL / 2);
        s->rr[1][l] = s->rr[0][l] + VL / 2;
    }
}

/* The block's inputs transformed: Vb[xi][tile panel][j][NR] (the xi at stride vx), channel j of
 * group g (wg1_geo) reading its input channel's phase row p from piece u on.  A run (wg1_lanes)
 * comes from 4 or 8 vector loads by shuffles instead of r + 3 VL scalar copies. */
static void FCN(wg1_input)(T *restrict Vb, const T *xp, const fc_wg1_geo *q, const FCN(wg1_lanes) *s,
                           const int64_t *off, const char *run, int64_t tiles, int64_t TB, int64_t vx)
{
    const int64_t JG = q->JG, pw = FCN(wg_pw)(TB), D = q->D;
    T d[6 * VL] __attribute__((aligned(64)));
    for (int64_t j = 0; j < JG; j++)
        for (int grp = 0; grp < q->NG; grp++) {
            const int n = q->r[grp] + 3;
            const T *base = xp + fc_wg1_row(q, j, grp);
            T *vg = Vb + q->x0[grp] * vx + j * pw;
            /* the next channel's part of its row (the rows are a plane apart: the lines of one
             * channel's tiles came from memory at the first load, 13 % of the time at k3/2) */
            if (tiles > 0 && j + 1 < JG) {
                const T *nb = xp + fc_wg1_row(q, j + 1, grp);
                for (int64_t t = 0; t < tiles; t += 4) __builtin_prefetch(nb + off[t]); /* (a line a 4 tiles at D 1) */
                __builtin_prefetch(nb + off[tiles - 1] + (n - 1) * D);
            }
            for (int64_t t0 = 0; t0 < TB; t0 += VL) {
                V vv[6], *v = vv;
                if (run[t0 / VL]) {
                    const T *src = base + off[t0];
                    V x[4], c[4];
                    for (int k = 0; k < 4; k++) x[k] = FCN(loadu)(src + k * VL);
                    for (int h = 0; h < 2; h++) {
                        c[h] = __builtin_shuffle(x[2 * h], x[2 * h + 1], s->c01[h]);
                        c[2 + h] = __builtin_shuffle(x[2 * h], x[2 * h + 1], s->c23[h]);
                    }
                    for (int i = 0; i < 4; i++) v[i] = __builtin_shuffle(c[i & 2], c[(i & 2) + 1], s->rr[i % 2]);
                    if (n > 4) {
                        for (int k = 0; k < 4; k++) x[k] = FCN(loadu)(src + 4 * D + k * VL);
                        for (int h = 0; h < 2; h++) c[h] = __builtin_shuffle(x[2 * h], x[2 * h + 1], s->c01[h]);
                        for (int i = 0; i < n - 4; i++) v[4 + i] = __builtin_shuffle(c[0], c[1], s->rr[i]);
                    }
                } else {
                    const int lanes = (int)FC_MAX(0, FC_MIN(VL, tiles - t0));
                    for (int l = 0; l < lanes; l++) {
                        const T *src = base + off[t0 + l];
                        for (int i = 0; i < n; i++) d[i * VL + l] = src[i * D];
                    }
                    for (int l = lanes; l < VL; l++)
                        for (int i = 0; i < n; i++) d[i * VL + l] = 0;
                    v = (V *)d;
                }
                if (n == 6)
                    FCN(wg_bt)(v, 1);
                else if (n == 5)
                    FCN(wg1_bt2)(v, 1);
                T *dst = vg + (t0 / pw) * JG * pw + t0 % pw;
                for (int xi = 0; xi < n; xi++) *(V *)(dst + xi * vx) = v[xi];
            }
        }
}

/* r = b + the sum over the groups of A^T m (m the group's positions in M at stride mx) */
static inline void FCN(wg1_at_all)(V r[4], const T *M, int64_t mx, const fc_wg1_geo *q, T b)
{
    for (int e = 0; e < 4; e++) r[e] = FCN(splat)(b);
    for (int grp = 0; grp < q->NG; grp++) {
        V m[6];
        const T *mg = M + q->x0[grp] * mx;
        for (int xi = 0; xi < q->r[grp] + 3; xi++) m[xi] = *(const V *)(mg + xi * mx);
        FCN(wg1_at_add)(q->r[grp], m, r);
    }
}

/* The block's outputs from M: y (=, plus bias) the up to 4 outputs of each tile, D apart (tile t's
 * first at dst[t] of output channel 0, cnt[t] of them).  A run (wg1_lanes) of tiles with 4
 * outputs each leaves by 8 shuffles and 4 vector stores instead of 4 VL scalar ones. */
static void FCN(wg1_output)(T *y, const T *Mb, const T *bias, const fc_wg1_geo *q, const FCN(wg1_lanes) *s,
                            const int64_t *dst, const int *cnt, const char *run, int64_t tiles, int64_t TB,
                            int64_t mx)
{
    const int64_t KO = q->KO, Q = q->Q, D = q->D;
    T o[4 * VL] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < tiles; t0 += VL) {
        const int lanes = (int)FC_MIN(VL, tiles - t0);
        if (run[t0 / VL] == 2) {
            for (int64_t ko = 0; ko < KO; ko++) {
                V r[4];
                FCN(wg1_at_all)(r, Mb + ko * TB + t0, mx, q, bias ? bias[ko] : 0);
                T *d = y + ko * Q + dst[t0];
                for (int h = 0; h < 2; h++) {
                    const V a01 = __builtin_shuffle(r[0], r[1], s->m1[h]);
                    const V a23 = __builtin_shuffle(r[2], r[3], s->m1[h]);
                    FCN(storeu)(d + 2 * h * VL, __builtin_shuffle(a01, a23, s->m2[2 * h]));
                    FCN(storeu)(d + (2 * h + 1) * VL, __builtin_shuffle(a01, a23, s->m2[2 * h + 1]));
                }
            }
            continue;
        }
        for (int64_t ko = 0; ko < KO; ko++) {
            V r[4];
            FCN(wg1_at_all)(r, Mb + ko * TB + t0, mx, q, bias ? bias[ko] : 0);
            for (int e = 0; e < 4; e++) *(V *)(o + e * VL) = r[e];
            T *yk = y + ko * Q;
            for (int l = 0; l < lanes; l++) {
                T *d = yk + dst[t0 + l];
                const T *ol = o + l;
                if (cnt[t0 + l] == 4) {
                    d[0] = ol[0];
                    d[D] = ol[VL];
                    d[2 * D] = ol[2 * VL];
                    d[3 * D] = ol[3 * VL];
                } else {
                    for (int i = 0; i < cnt[t0 + l]; i++) d[i * D] = ol[i * VL];
                }
            }
        }
    }
}

static void FCN(wg1_units)(T *y, const T *x, const T *w, const T *bias, const fc_wg1_geo *q, T *U, T *xp,
                           int64_t KP, int64_t TB, int flip, int *err)
{
    fc_fpstate fp = fc_fp_enter();
    const int64_t J = q->JG, ux = FCN(wg_ux)(KP, J);
#pragma omp for schedule(static)
    for (int64_t job = 0; job < KP * J; job++) FCN(wg1_weight_panel)(U, ux, w, q, job / J, job % J, flip);
    FCN(wg1_pad)(xp, x, q); /* (each omp for ends with a barrier) */
    /* V's and M's matrices a cache line more apart than their size (conv_winograd.c) */
    const int64_t vx = J * TB + 64 / (int64_t)sizeof(T), mx = KP * GEMM_MR * TB + 64 / (int64_t)sizeof(T);
    const size_t mb = (size_t)q->XI * mx;
    T *Vb = fc_scratch(FC_SCRATCH_WORK, (size_t)q->XI * vx * sizeof(T));
    T *Mb = fc_scratch(FC_SCRATCH_WORK2, mb * sizeof(T) + (size_t)TB * (2 * sizeof(int64_t) + sizeof(int) + 1));
    if (!Vb || !Mb) {
#pragma omp atomic write
        *err = FC_ERR_NOMEM;
    }
    int64_t *off = Mb ? (int64_t *)(Mb + mb) : NULL, *dst = off ? off + TB : NULL;
    int *cnt = dst ? (int *)(dst + TB) : NULL;
    char *run = cnt ? (char *)(cnt + TB) : NULL;
    FCN(wg1_lanes) lanes;
    FCN(wg1_lanes_init)(&lanes, q);
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; b++) {
        if (!Vb || !Mb) continue;
        const int64_t tiles = FCN(wg1_tiles)(off, dst, cnt, run, q, lanes.packed, b * TB, TB);
        FCN(wg1_input)(Vb, xp, q, &lanes, off, run, tiles, TB, vx);
        FCN(wg_products)(Mb, U, ux, Vb, (int)q->XI, J, KP, TB, vx, mx);
        FCN(wg1_output)(y, Mb, bias, q, &lanes, dst, cnt, run, tiles, TB, mx);
    }
    fc_fp_leave(fp);
}

static int FCN(wg1_run)(T *y, const T *x, const T *w, const T *bias, const fc_wg1_geo *q, int flip, int nthreads)
{
    if (q->tiles == 0 || q->KO == 0) return FC_OK;
    const int64_t KP = FC_CEIL_DIV(q->KO, GEMM_MR);
    const int nt = fc_resolve_threads(nthreads);
    /* shared: the transformed weights, then the padded input (rounded to whole cache lines) */
    const size_t ue = FC_ROUND_UP((size_t)q->XI * FCN(wg_ux)(KP, q->JG), 64 / sizeof(T));
    const size_t xe = (size_t)q->N * q->CI * q->E * q->LP + 8 * VL; /* (wg1_input's vector loads read past a row) */
    /* TB: a multiple of NR whose V and M fit the block's cache budget */
    const int64_t per_tile = q->XI * (q->JG + KP * GEMM_MR) * (int64_t)sizeof(T);
    int64_t TB = FC_MAX(1, FC_WG_BLOCK_BYTES / per_tile / GEMM_NR) * GEMM_NR;
    TB = FC_MIN(TB, 4 * GEMM_NR);
    TB = FC_MIN(TB, FC_ROUND_UP(q->tiles, GEMM_NR));
    const int64_t blocks = FC_CEIL_DIV(q->tiles, TB);
    T *U = fc_scratch(FC_SCRATCH_SHARED, (ue + xe) * sizeof(T));
    if (!U) return FC_ERR_NOMEM;
    int err = 0;
    FC_TEAM(blocks < nt ? (int)blocks : nt, FCN(wg1_units)(y, x, w, bias, q, U, U + ue, KP, TB, flip, &err));
    return err;
}

static int FCN(conv_winograd1d_forward)(T *y, const T *x, const T *w, const T *bias, const fc_conv_geom *g,
                                        int nthreads)
{
    const fc_wg1_geo q = fc_wg1_plan(g->N, g->C, g->W, g->K, g->Q, g->S, g->stride_w, g->dil_w, g->pad_w);
    return FCN(wg1_run)(y, x, w, bias, &q, 0, nthreads);
}

/* dx = the correlation of dy with w's taps reversed and its channel axes swapped, padding
 * d (S - 1) - pad: every element of dx written once */
static int FCN(conv_winograd1d_backward_input)(T *dx, const T *dy, const T *w, const fc_conv_geom *g, int nthreads)
{
    const fc_wg1_geo q = fc_wg1_plan(g->N, g->K, g->Q, g->C, g->W, g->S, 1, g->dil_w, g->dil_w * (g->S - 1) - g->pad_w);
    return FCN(wg1_run)(dx, dy, w, NULL, &q, 1, nthreads);
}
