/* Winograd F(2x2, 3x3) convolution: 3x3 kernels, stride 1, dilation 1, one
 * group (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016).  Each 2x2 block of outputs (a tile) of an output channel is
 *   y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A
 * with d_c the 4x4 input patch of channel c under the tile, g_c the 3x3
 * kernel and . the elementwise product: 16 multiplies per tile and channel
 * pair instead of 36.  The sum over channels, for each of the 16 positions
 * xi of the 4x4 transform, is a GEMM (cuBLAS, strided-batched over xi):
 *   M[xi] (K, T) = U[xi] (K, C) @ V[xi] (C, T),   T = tiles of the chunk.
 * The transforms use only 0, +-1, +-1/2, so they add little rounding; the
 * tests bound the error against float64 by that of the im2col product.
 *
 * Layouts: x (nb, C, H, W); y (nb, K, P, Q); tiles t = (n, tp, tq) over the
 * nb images and TP x TQ tiles (TP = ceil(P / 2)); V (16, C, T); U (16, K, C);
 * M (16, K, T).  The input patch of tile (tp, tq) starts at row 2 tp - ph,
 * column 2 tq - pw (zeros outside x). */

/* V = B^T d B per (channel, tile), B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
 * Thread per (c, t): consecutive threads take consecutive tiles, so the 16
 * stores of a warp are coalesced; the reads overlap by half a patch. */
extern "C" __global__ void winograd_input(scalar_t *__restrict__ v, const scalar_t *__restrict__ x, index_t nb,
                                          index_t C, index_t H, index_t W, index_t ph, index_t pw, index_t TP,
                                          index_t TQ)
{
    const index_t tiles = TP * TQ, T = nb * tiles;
    CUDA_KERNEL_LOOP(e, C * T) {
        const index_t c = e / T, t = e - c * T, n = t / tiles, r = t - n * tiles, tp = r / TQ, tq = r - tp * TQ;
        const index_t h0 = 2 * tp - ph, w0 = 2 * tq - pw;
        const scalar_t *xc = x + (n * C + c) * H * W;
        scalar_t d[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const index_t ih = h0 + i;
            const bool row_in = ih >= 0 && ih < H;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const index_t iw = w0 + j;
                d[i][j] = (row_in && iw >= 0 && iw < W) ? xc[ih * W + iw] : (scalar_t)0;
            }
        }
        scalar_t b[4][4]; /* B^T d */
#pragma unroll
        for (int j = 0; j < 4; j++) {
            b[0][j] = d[0][j] - d[2][j];
            b[1][j] = d[1][j] + d[2][j];
            b[2][j] = d[2][j] - d[1][j];
            b[3][j] = d[1][j] - d[3][j];
        }
        scalar_t *out = v + c * T + t;
        const index_t step = C * T;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            out[(4 * i + 0) * step] = b[i][0] - b[i][2];
            out[(4 * i + 1) * step] = b[i][1] + b[i][2];
            out[(4 * i + 2) * step] = b[i][2] - b[i][1];
            out[(4 * i + 3) * step] = b[i][1] - b[i][3];
        }
    }
}

/* U = G g G^T per (output channel ko, input channel ci) of the Winograd
 * convolution, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].  g is
 * w[ko, ci] (w: KO, CI, 3, 3); with flip, the kernel of the input gradient:
 * g[r][s] = w[ci, ko, 2 - r, 2 - s] (w: CI, KO, 3, 3). */
extern "C" __global__ void winograd_weight(scalar_t *__restrict__ u, const scalar_t *__restrict__ w, index_t KO,
                                           index_t CI, index_t flip)
{
    CUDA_KERNEL_LOOP(e, KO * CI) {
        const index_t ko = e / CI, ci = e - ko * CI;
        scalar_t g[3][3];
#pragma unroll
        for (int i = 0; i < 9; i++)
            g[i / 3][i % 3] = flip ? w[(ci * KO + ko) * 9 + 8 - i] : w[e * 9 + i];
        scalar_t a[4][3]; /* G g */
#pragma unroll
        for (int j = 0; j < 3; j++) {
            a[0][j] = g[0][j];
            a[1][j] = (g[0][j] + g[1][j] + g[2][j]) * (scalar_t)0.5;
            a[2][j] = (g[0][j] - g[1][j] + g[2][j]) * (scalar_t)0.5;
            a[3][j] = g[2][j];
        }
        const index_t step = KO * CI;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            u[(4 * i + 0) * step + e] = a[i][0];
            u[(4 * i + 1) * step + e] = (a[i][0] + a[i][1] + a[i][2]) * (scalar_t)0.5;
            u[(4 * i + 2) * step + e] = (a[i][0] - a[i][1] + a[i][2]) * (scalar_t)0.5;
            u[(4 * i + 3) * step + e] = a[i][2];
        }
    }
}

/* y (nb, K, P, Q) (+)= A^T m A (+ bias) per (k, tile), A^T = [1 1 1 0; 0 1 -1 -1];
 * bias may be NULL; accumulate adds into y (the input gradient). */
extern "C" __global__ void winograd_output(scalar_t *__restrict__ y, const scalar_t *__restrict__ m,
                                           const scalar_t *__restrict__ bias, index_t nb, index_t K, index_t P,
                                           index_t Q, index_t TP, index_t TQ, index_t accumulate)
{
    const index_t tiles = TP * TQ, T = nb * tiles;
    CUDA_KERNEL_LOOP(e, K * T) {
        const index_t k = e / T, t = e - k * T, n = t / tiles, r = t - n * tiles, tp = r / TQ, tq = r - tp * TQ;
        const scalar_t *src = m + k * T + t;
        const index_t step = K * T;
        scalar_t a[2][4]; /* A^T m */
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const scalar_t m0 = src[j * step], m1 = src[(4 + j) * step], m2 = src[(8 + j) * step],
                           m3 = src[(12 + j) * step];
            a[0][j] = m0 + m1 + m2;
            a[1][j] = m1 - m2 - m3;
        }
        const scalar_t b = bias ? bias[k] : (scalar_t)0;
        scalar_t *yk = y + (n * K + k) * P * Q;
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const index_t p = 2 * tp + i;
            if (p >= P) break;
            const scalar_t out[2] = {a[i][0] + a[i][1] + a[i][2] + b, a[i][1] - a[i][2] - a[i][3] + b};
#pragma unroll
            for (int j = 0; j < 2; j++) {
                const index_t q = 2 * tq + j;
                if (q < Q) yk[p * Q + q] = accumulate ? yk[p * Q + q] + out[j] : out[j];
            }
        }
    }
}
