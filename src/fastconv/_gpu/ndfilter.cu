/* scipy.ndimage's 1-D correlation on the GPU (csrc/ndfilter.c's op family):
 * lines of n along the middle axis of an (outer, n, inner) array, extended
 * by mode as scipy.ndimage's filters extend them: 0 nearest (a a | a b c |
 * c c), 1 wrap (b c | a b c | a b), 2 reflect (b a | a b c | c b), 3 mirror
 * (c b | a b c | b a), 4 constant (cval).  Output p reads the extended line
 * from p - K / 2 - origin, as csrc/ndfilter.c and SciPy do. */

/* index into a line of n of extended position j, or -1 for cval */
__device__ __forceinline__ index_t nd_line_index(index_t j, index_t n, index_t mode)
{
    if (j >= 0 && j < n) return j;
    if (mode == 0) return j < 0 ? 0 : n - 1;
    if (mode == 1) {
        j %= n;
        return j < 0 ? j + n : j;
    }
    if (mode == 2) {
        const index_t m = 2 * n;
        j %= m;
        if (j < 0) j += m;
        return j < n ? j : m - 1 - j;
    }
    if (mode == 3) {
        if (n == 1) return 0;
        const index_t m = 2 * n - 2;
        j %= m;
        if (j < 0) j += m;
        return j < n ? j : m - j;
    }
    return -1;
}

/* y = x correlated with the K weights w along the middle axis (y and x
 * distinct).  One output per thread: neighbouring threads take neighbouring
 * elements of the contiguous axis, so their reads coalesce whether the line
 * runs along it (inner 1) or across it. */
extern "C" __global__ void nd_correlate1d(scalar_t *__restrict__ y, const scalar_t *__restrict__ x,
                                          const scalar_t *__restrict__ w, index_t outer, index_t n, index_t inner,
                                          index_t K, index_t origin, index_t mode, scalar_t cval)
{
    CUDA_KERNEL_LOOP(i, outer * n * inner) {
        const index_t r = i % inner, p = (i / inner) % n, o = i / (n * inner);
        const scalar_t *line = x + o * n * inner + r;
        const index_t start = p - K / 2 - origin;
        scalar_t acc = 0;
        if (start >= 0 && start + K <= n) {
            const scalar_t *src = line + start * inner;
            for (index_t k = 0; k < K; k++) acc += w[k] * src[k * inner];
        } else {
            for (index_t k = 0; k < K; k++) {
                const index_t j = nd_line_index(start + k, n, mode);
                acc += w[k] * (j < 0 ? cval : line[j * inner]);
            }
        }
        y[i] = acc;
    }
}

/* y = the mean of `size` neighbours along the middle axis, by SciPy's
 * running sum (NI_UniformFilter1D): the first window summed in order, then
 * one difference (entering - leaving) added per step, the sum divided by
 * size at each output.  One thread per line, sequential along it, so a
 * double computation gives SciPy's result to the bit (the integer outputs
 * need that). */
extern "C" __global__ void nd_uniform1d_running(scalar_t *__restrict__ y, const scalar_t *__restrict__ x,
                                                index_t outer, index_t n, index_t inner, index_t size, index_t origin,
                                                index_t mode, scalar_t cval)
{
    CUDA_KERNEL_LOOP(l, outer * inner) {
        const index_t r = l % inner, o = l / inner;
        const scalar_t *line = x + o * n * inner + r;
        scalar_t *out = y + o * n * inner + r;
        const index_t start = -(size / 2) - origin;
        scalar_t sum = 0;
        for (index_t k = 0; k < size; k++) {
            const index_t j = nd_line_index(start + k, n, mode);
            sum += j < 0 ? cval : line[j * inner];
        }
        out[0] = sum / (scalar_t)size;
        for (index_t p = 1; p < n; p++) {
            const index_t ja = nd_line_index(start + p - 1 + size, n, mode), jb = nd_line_index(start + p - 1, n, mode);
            sum += (ja < 0 ? cval : line[ja * inner]) - (jb < 0 ? cval : line[jb * inner]);
            out[p * inner] = sum / (scalar_t)size;
        }
    }
}
