/* Image filtering (correlation) of N single-channel H x W images into P x Q
 * outputs with a KY x KX kernel: output (p, q) reads the boundary-extended
 * input from (p - pt, q - pl).  Boundary: 0 fill (value `fill` outside),
 * 1 wrap, 2 symmetric (..., 1, 0 | 0, 1, ..., n-1 | n-1, n-2, ...), as the
 * CPU core's fc_boundary_index. */

/* index of the extended input at i, or -1 for the fill value */
__device__ __forceinline__ index_t filter_boundary_index(index_t i, index_t n, index_t boundary)
{
    if (i >= 0 && i < n) return i;
    if (boundary == 1) {
        i %= n;
        return i < 0 ? i + n : i;
    }
    if (boundary == 2) {
        const index_t m = 2 * n;
        i %= m;
        if (i < 0) i += m;
        return i < n ? i : m - 1 - i;
    }
    return -1;
}

/* y (N, P, Q) (+)= k (KY, KX) correlated with the extended x (N, H, W).  The
 * separable method runs it twice: a KY x 1 pass into a buffer spanning the
 * extended columns, then a 1 x KX pass over that buffer. */
extern "C" __global__ void filter_correlate(scalar_t *__restrict__ y, const scalar_t *__restrict__ x,
                                            const scalar_t *__restrict__ k, scalar_t fill, index_t N, index_t H,
                                            index_t W, index_t P, index_t Q, index_t KY, index_t KX, index_t pt,
                                            index_t pl, index_t boundary, index_t accumulate)
{
    CUDA_KERNEL_LOOP(i, N * P * Q) {
        const index_t q = i % Q, p = (i / Q) % P, n = i / (P * Q);
        const scalar_t *img = x + n * H * W;
        scalar_t acc = 0;
        for (index_t r = 0; r < KY; r++) {
            const index_t ih = filter_boundary_index(p - pt + r, H, boundary);
            for (index_t s = 0; s < KX; s++) {
                const index_t iw = filter_boundary_index(q - pl + s, W, boundary);
                acc += k[r * KX + s] * (ih < 0 || iw < 0 ? fill : img[ih * W + iw]);
            }
        }
        y[i] = accumulate ? y[i] + acc : acc;
    }
}
