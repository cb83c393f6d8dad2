/* Convolution kernels (cross-correlation, NCHW; 1-D runs as H = R = P = 1).
 * Sizes as the CPU core's geometry, in its order (CONV_GEOM): x (N, C, H, W),
 * w (K, C/G, R, S), y (N, K, P, Q), strides sh sw, padding ph pw, dilation
 * dh dw; Cg = C / G input and Kg = K / G output channels per group.  Input
 * row ih = p * sh - ph + r * dh of output row p and tap r (columns alike).
 * Backward kernels add into their output (the caller zeroes it). */

#define CONV_GEOM                                                                                        \
    index_t N, index_t C, index_t H, index_t W, index_t K, index_t R, index_t S, index_t P, index_t Q,   \
        index_t G, index_t sh, index_t sw, index_t ph, index_t pw, index_t dh, index_t dw

/* ---- im2col + GEMM ------------------------------------------------------- */

/* col (C, R, S, nb, P, Q) = the input values each output reads (0 in the
 * padding) for nb images from x (the first of the chunk): rows (c, r, s),
 * columns (image, pixel), so one GEMM per group covers the chunk:
 * y[g] (Kg, nb P Q) = w[g] (Kg, Cg R S) @ col[g]; dw[g] += dy[g] @ col[g]^T.
 * Thread: one column (image, pixel) of IM2COL_CT channels' R S rows; its
 * index is decomposed once, each tap's offset and bounds test serve all its
 * channels, whose IM2COL_CT loads are independent (in flight together).  A
 * warp's stores and loads are consecutive columns: coalesced. */
#define IM2COL_CT 8

extern "C" __global__ void conv_im2col(scalar_t *__restrict__ col, const scalar_t *__restrict__ x, index_t nb,
                                       CONV_GEOM)
{
    const index_t M = nb * P * Q, RS = R * S, HW = H * W, blocks = (C + IM2COL_CT - 1) / IM2COL_CT;
    CUDA_KERNEL_LOOP(i, M * blocks) {
        const index_t j = i % M, c0 = (i / M) * IM2COL_CT;
        const index_t q = j % Q, p = (j / Q) % P, n = j / (P * Q);
        const index_t h0 = p * sh - ph, w0 = q * sw - pw;
        const index_t cn = C - c0 < IM2COL_CT ? C - c0 : IM2COL_CT;
        const scalar_t *xc = x + (n * C + c0) * HW;
        scalar_t *out = col + c0 * RS * M + j;
        for (index_t r = 0; r < R; r++) {
            const index_t ih = h0 + r * dh;
            const bool row_in = ih >= 0 && ih < H;
            for (index_t s = 0; s < S; s++) {
                const index_t iw = w0 + s * dw;
                const bool in = row_in && iw >= 0 && iw < W;
                const index_t off = in ? ih * W + iw : 0;
                scalar_t *o = out + (r * S + s) * M;
                scalar_t v[IM2COL_CT];
#pragma unroll
                for (int cc = 0; cc < IM2COL_CT; cc++) v[cc] = (in && cc < cn) ? xc[cc * HW + off] : (scalar_t)0;
#pragma unroll
                for (int cc = 0; cc < IM2COL_CT; cc++)
                    if (cc < cn) o[cc * RS * M] = v[cc];
            }
        }
    }
}

/* dx (nb, C, H, W) += the entries of col (C, R, S, nb, P, Q) that read each
 * input element: the adjoint of conv_im2col, as a gather (one thread per
 * input element, no atomics): tap r reaches row ih from output row
 * p = (ih + ph - r dh) / sh when that divides exactly and lies in [0, P). */
extern "C" __global__ void conv_col2im(scalar_t *__restrict__ dx, const scalar_t *__restrict__ col, index_t nb,
                                       CONV_GEOM)
{
    CUDA_KERNEL_LOOP(i, nb * C * H * W) {
        const index_t iw = i % W, ih = (i / W) % H, c = (i / (H * W)) % C, n = i / (C * H * W);
        scalar_t acc = 0;
        for (index_t r = 0; r < R; r++) {
            const index_t hp = ih + ph - r * dh;
            if (hp < 0 || hp % sh) continue;
            const index_t p = hp / sh;
            if (p >= P) continue;
            for (index_t s = 0; s < S; s++) {
                const index_t wp = iw + pw - s * dw;
                if (wp < 0 || wp % sw) continue;
                const index_t q = wp / sw;
                if (q >= Q) continue;
                acc += col[((((c * R + r) * S + s) * nb + n) * P + p) * Q + q];
            }
        }
        dx[i] += acc;
    }
}

/* ---- direct ---------------------------------------------------------------- */

/* output channels per thread: each input value loaded once feeds KT of them */
#define CONV_KT 8

/* y = conv(x, w) + bias (bias may be NULL).  Thread: one output pixel of
 * CONV_KT output channels of one group; the weights it reads are the same
 * for every pixel, so a warp's loads of them are broadcasts. */
extern "C" __global__ void conv_direct_forward(scalar_t *__restrict__ y, const scalar_t *__restrict__ x,
                                               const scalar_t *__restrict__ w, const scalar_t *__restrict__ bias,
                                               CONV_GEOM)
{
    const index_t Cg = C / G, Kg = K / G, PQ = P * Q, RS = R * S;
    const index_t tiles = (Kg + CONV_KT - 1) / CONV_KT;
    CUDA_KERNEL_LOOP(i, N * G * tiles * PQ) {
        const index_t pq = i % PQ, p = pq / Q, q = pq % Q;
        index_t t = i / PQ;
        const index_t k0 = (t % tiles) * CONV_KT; t /= tiles;
        const index_t g = t % G, n = t / G;
        const index_t kn = Kg - k0 < CONV_KT ? Kg - k0 : CONV_KT;
        scalar_t acc[CONV_KT];
#pragma unroll
        for (int kk = 0; kk < CONV_KT; kk++) acc[kk] = 0;
        for (index_t c = 0; c < Cg; c++) {
            const scalar_t *xc = x + (n * C + g * Cg + c) * H * W;
            const scalar_t *wc = w + ((g * Kg + k0) * Cg + c) * RS;
            for (index_t r = 0; r < R; r++) {
                const index_t ih = p * sh - ph + r * dh;
                if (ih < 0 || ih >= H) continue;
                for (index_t s = 0; s < S; s++) {
                    const index_t iw = q * sw - pw + s * dw;
                    if (iw < 0 || iw >= W) continue;
                    const scalar_t v = xc[ih * W + iw];
#pragma unroll
                    for (int kk = 0; kk < CONV_KT; kk++)
                        if (kk < kn) acc[kk] += v * wc[kk * Cg * RS + r * S + s];
                }
            }
        }
        for (int kk = 0; kk < kn; kk++) {
            const index_t k = g * Kg + k0 + kk;
            y[(n * K + k) * PQ + pq] = acc[kk] + (bias ? bias[k] : (scalar_t)0);
        }
    }
}

/* dx += conv^T(dy, w): thread per input element, gathering the outputs
 * whose windows read it (as conv_col2im) over the group's output channels. */
extern "C" __global__ void conv_direct_backward_input(scalar_t *__restrict__ dx, const scalar_t *__restrict__ dy,
                                                      const scalar_t *__restrict__ w, CONV_GEOM)
{
    const index_t Cg = C / G, Kg = K / G, PQ = P * Q, RS = R * S;
    CUDA_KERNEL_LOOP(i, N * C * H * W) {
        const index_t iw = i % W, ih = (i / W) % H, c = (i / (H * W)) % C, n = i / (C * H * W);
        const index_t g = c / Cg, cg = c % Cg;
        const scalar_t *dyg = dy + (n * K + g * Kg) * PQ;
        const scalar_t *wg = w + (g * Kg * Cg + cg) * RS;
        scalar_t acc = 0;
        for (index_t r = 0; r < R; r++) {
            const index_t hp = ih + ph - r * dh;
            if (hp < 0 || hp % sh) continue;
            const index_t p = hp / sh;
            if (p >= P) continue;
            for (index_t s = 0; s < S; s++) {
                const index_t wp = iw + pw - s * dw;
                if (wp < 0 || wp % sw) continue;
                const index_t q = wp / sw;
                if (q >= Q) continue;
                for (index_t k = 0; k < Kg; k++)
                    acc += dyg[k * PQ + p * Q + q] * wg[k * Cg * RS + r * S + s];
            }
        }
        dx[i] += acc;
    }
}

/* partial (chunks, K, Cg, R, S): thread (j, weight element) sums dy * x over
 * the j-th of `chunks` equal slices of the N * P * Q outputs; the caller
 * adds the chunks up (a deterministic reduction, no atomics). */
extern "C" __global__ void conv_direct_backward_weight(scalar_t *__restrict__ partial, const scalar_t *__restrict__ dy,
                                                       const scalar_t *__restrict__ x, index_t chunks, CONV_GEOM)
{
    const index_t Cg = C / G, Kg = K / G, PQ = P * Q, nw = K * Cg * R * S, M = N * PQ;
    CUDA_KERNEL_LOOP(i, chunks * nw) {
        const index_t j = i / nw, e = i % nw;
        const index_t s = e % S, r = (e / S) % R, cg = (e / (R * S)) % Cg, k = e / (Cg * R * S);
        const index_t c = (k / Kg) * Cg + cg;
        const index_t m1 = M * (j + 1) / chunks;
        scalar_t acc = 0;
        for (index_t m = M * j / chunks; m < m1; m++) {
            const index_t n = m / PQ, pq = m % PQ;
            const index_t ih = (pq / Q) * sh - ph + r * dh, iw = (pq % Q) * sw - pw + s * dw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            acc += dy[(n * K + k) * PQ + pq] * x[((n * C + c) * H + ih) * W + iw];
        }
        partial[i] = acc;
    }
}
