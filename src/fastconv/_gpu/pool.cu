/* Pooling kernels with PyTorch's semantics (see fastconv/pool.py).  Sizes as
 * the CPU core's pooling geometry, in its order (POOL_GEOM): NC planes of
 * H x W input and P x Q output, window R x S, strides sh sw, padding ph pw,
 * dilation dh dw; 1-D pooling runs as H = P = R = 1.  Window (p, q) starts at
 * input row p * sh - ph. */

#define POOL_GEOM                                                                                           \
    index_t NC, index_t H, index_t W, index_t P, index_t Q, index_t R, index_t S, index_t sh, index_t sw,   \
        index_t ph, index_t pw, index_t dh, index_t dw

/* y = window maxima; idx (may be NULL) = their flat indices in the plane.
 * PyTorch's scan: a value replaces the maximum when greater or NaN (so a
 * NaN wins, the last one in row-major order); the first in-input tap is
 * always taken, so an all -inf window reports its first element, and a
 * window with no in-input tap (dilation over padding) gives -inf and -1. */
extern "C" __global__ void pool_max_forward(scalar_t *__restrict__ y, long long *__restrict__ idx,
                                            const scalar_t *__restrict__ x, POOL_GEOM)
{
    CUDA_KERNEL_LOOP(i, NC * P * Q) {
        const index_t q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
        const scalar_t *xp = x + plane * H * W;
        scalar_t best = -fc_infinity((scalar_t)0);
        index_t best_i = -1;
        for (index_t r = 0; r < R; r++) {
            const index_t ih = p * sh - ph + r * dh;
            if (ih < 0 || ih >= H) continue;
            for (index_t s = 0; s < S; s++) {
                const index_t iw = q * sw - pw + s * dw;
                if (iw < 0 || iw >= W) continue;
                const scalar_t v = xp[ih * W + iw];
                if (best_i < 0 || v > best || isnan(v)) {
                    best = v;
                    best_i = ih * W + iw;
                }
            }
        }
        y[i] = best;
        if (idx) idx[i] = best_i;
    }
}

/* pool_max_forward for the most common window, 2x2 with stride 2, no
 * padding or dilation, every window inside the plane: no bounds tests or
 * loops, the same scan order and NaN rule. */
extern "C" __global__ void pool_max_forward_2x2(scalar_t *__restrict__ y, long long *__restrict__ idx,
                                                const scalar_t *__restrict__ x, index_t NC, index_t H, index_t W,
                                                index_t P, index_t Q)
{
    CUDA_KERNEL_LOOP(i, NC * P * Q) {
        const index_t q = i % Q, t = i / Q, p = t % P, plane = t / P;
        const index_t o = 2 * p * W + 2 * q;
        const scalar_t *xp = x + plane * H * W + o;
        const scalar_t v0 = xp[0], v1 = xp[1], v2 = xp[W], v3 = xp[W + 1];
        scalar_t best = v0;
        index_t at = o;
        if (v1 > best || isnan(v1)) { best = v1; at = o + 1; }
        if (v2 > best || isnan(v2)) { best = v2; at = o + W; }
        if (v3 > best || isnan(v3)) { best = v3; at = o + W + 1; }
        y[i] = best;
        if (idx) idx[i] = at;
    }
}

/* dx (NC, HW) = dy (NC, PQ) scattered through idx, -1 skipped.  One block per
 * plane: the block zeroes the plane, then adds into it (atomically, as
 * windows may overlap and indices repeat) while it is still in cache.  An
 * index outside [-1, HW) sets *bad and is skipped. */
extern "C" __global__ void pool_max_backward(scalar_t *__restrict__ dx, const scalar_t *__restrict__ dy,
                                             const long long *__restrict__ idx, int *__restrict__ bad, index_t NC,
                                             index_t HW, index_t PQ)
{
    GRID_BLOCKS_LOOP(plane, NC) {
        scalar_t *d = dx + plane * HW;
        BLOCK_LOOP(j, HW) d[j] = 0;
        __syncthreads();
        BLOCK_LOOP(o, PQ) {
            const index_t j = idx[plane * PQ + o];
            if (j >= 0 && j < HW)
                atomicAdd(d + j, dy[plane * PQ + o]);
            else if (j != -1)
                *bad = 1;
        }
        __syncthreads();
    }
}

/* PyTorch's divisor of window (p, q): its size clipped to the padded input,
 * or, without count_include_pad, to the input. */
__device__ __forceinline__ index_t pool_avg_divisor(index_t p, index_t q, POOL_GEOM, index_t include_pad)
{
    index_t h0 = p * sh - ph, w0 = q * sw - pw;
    index_t h1 = h0 + R < H + ph ? h0 + R : H + ph, w1 = w0 + S < W + pw ? w0 + S : W + pw;
    if (include_pad) return (h1 - h0) * (w1 - w0);
    h0 = h0 > 0 ? h0 : 0; w0 = w0 > 0 ? w0 : 0;
    h1 = h1 < H ? h1 : H; w1 = w1 < W ? w1 : W;
    return (h1 - h0) * (w1 - w0);
}

/* y = window sums / divisor */
extern "C" __global__ void pool_avg_forward(scalar_t *__restrict__ y, const scalar_t *__restrict__ x, POOL_GEOM,
                                            index_t include_pad)
{
    CUDA_KERNEL_LOOP(i, NC * P * Q) {
        const index_t q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
        const scalar_t *xp = x + plane * H * W;
        scalar_t acc = 0;
        for (index_t r = 0; r < R; r++) {
            const index_t ih = p * sh - ph + r;
            if (ih < 0 || ih >= H) continue;
            for (index_t s = 0; s < S; s++) {
                const index_t iw = q * sw - pw + s;
                if (iw >= 0 && iw < W) acc += xp[ih * W + iw];
            }
        }
        y[i] = acc / (scalar_t)pool_avg_divisor(p, q, NC, H, W, P, Q, R, S, sh, sw, ph, pw, dh, dw, include_pad);
    }
}

/* dx = gradient of the window means, gathered per input element over the
 * windows p in [ceil((ih + ph - R + 1) / sh), (ih + ph) / sh] that hold it */
extern "C" __global__ void pool_avg_backward(scalar_t *__restrict__ dx, const scalar_t *__restrict__ dy, POOL_GEOM,
                                             index_t include_pad)
{
    CUDA_KERNEL_LOOP(i, NC * H * W) {
        const index_t iw = i % W, ih = (i / W) % H, plane = i / (H * W);
        const index_t p0 = ih + ph < R ? 0 : (ih + ph - R) / sh + 1, q0 = iw + pw < S ? 0 : (iw + pw - S) / sw + 1;
        const index_t p1 = (ih + ph) / sh + 1 < P ? (ih + ph) / sh + 1 : P;
        const index_t q1 = (iw + pw) / sw + 1 < Q ? (iw + pw) / sw + 1 : Q;
        const scalar_t *g = dy + plane * P * Q;
        scalar_t acc = 0;
        for (index_t p = p0; p < p1; p++)
            for (index_t q = q0; q < q1; q++)
                acc += g[p * Q + q] /
                       (scalar_t)pool_avg_divisor(p, q, NC, H, W, P, Q, R, S, sh, sw, ph, pw, dh, dw, include_pad);
        dx[i] = acc;
    }
}
