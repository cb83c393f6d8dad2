/* Elementwise activations   (template, see internal.h)
 *
 * y = f(x) over n elements: relu, and the smooth activations that need the
 * vectorised exponential of vmath.h (sigmoid, tanh), so the layer API and
 * the tests use the same code as the recurrent kernels.  The backward
 * takes the gradient through f from y alone (relu: y > 0, sigmoid: y (1 -
 * y), tanh: 1 - y^2, identity) and can sum it per channel in the same pass
 * (the bias gradient of the layer before it).
 */

/* (the caller's team, or one thread: omp_get_num_threads() is 1 outside a region) */
static void FCN(activation_forward_part)(int kind, T *y, const T *x, int64_t n)
{
    fc_fpstate fp = fc_fp_enter();
    int64_t i0, i1;
    fc_split_range(FC_CEIL_DIV(n, VL), omp_get_num_threads(), omp_get_thread_num(), &i0, &i1);
    for (int64_t i = i0 * VL; i < FC_MIN(n, i1 * VL); i += VL) {
        const V v = FCN(load_lanes)(x + i, n - i);
        const V r = kind == FC_ACT_SIGMOID ? FCN(vsigmoid)(v)
                    : kind == FC_ACT_TANH  ? FCN(vtanh)(v)
                                           : FCN(select)(v < (V){0}, (V){0}, v); /* relu; NaN stays */
        FCN(store_lanes)(y + i, r, n - i);
    }
    fc_fp_leave(fp);
}

static int FCN(activation_forward)(int kind, T *y, const T *x, int64_t n, int nthreads)
{
    const int nt = n < (1 << 15) ? 1 : fc_resolve_threads(nthreads);
    FC_TEAM(nt, FCN(activation_forward_part)(kind, y, x, n));
    return FC_OK;
}

static inline V FCN(act_grad)(int kind, V dy, V y)
{
    switch (kind) {
    case FC_ACT_RELU: return FCN(select)(y > (V){0}, dy, (V){0});
    case FC_ACT_SIGMOID: return dy * y * (FCN(splat)(1) - y);
    case FC_ACT_TANH: return dy * (FCN(splat)(1) - y * y);
    default: return dy;
    }
}

/* dx = dy f'(from y) over (outer, channels, inner); dbias[c] = the sum of
 * dx over outer and inner when dbias is not NULL.  Threads own channels. */
/* (the caller's team, or one thread: omp_get_num_threads() is 1 outside a region) */
static void FCN(activation_backward_part)(int kind, T *dx, const T *dy, const T *y, int64_t outer, int64_t channels,
                                          int64_t inner, T *dbias)
{
    fc_fpstate fp = fc_fp_enter();
    if (inner == 1) { /* (outer, channels): vectors along channels */
        int64_t c0, c1;
        fc_split_range(FC_CEIL_DIV(channels, VL), omp_get_num_threads(), omp_get_thread_num(), &c0, &c1);
        c0 *= VL;
        c1 = FC_MIN(channels, c1 * VL);
        for (int64_t c = c0; c < c1; c += VL) {
            const int64_t m = c1 - c;
            V acc = (V){0};
            for (int64_t o = 0; o < outer; o++) {
                const int64_t i = o * channels + c;
                const V d = FCN(act_grad)(kind, FCN(load_lanes)(dy + i, m), FCN(load_lanes)(y + i, m));
                FCN(store_lanes)(dx + i, d, m);
                acc += d;
            }
            if (dbias) FCN(store_lanes)(dbias + c, acc, m);
        }
    } else {
        int64_t c0, c1;
        fc_split_range(channels, omp_get_num_threads(), omp_get_thread_num(), &c0, &c1);
        for (int64_t c = c0; c < c1; c++) {
            V acc = (V){0};
            for (int64_t o = 0; o < outer; o++) {
                const int64_t base = (o * channels + c) * inner;
                for (int64_t i = 0; i < inner; i += VL) {
                    const int64_t m = inner - i;
                    const V d = FCN(act_grad)(kind, FCN(load_lanes)(dy + base + i, m),
                                              FCN(load_lanes)(y + base + i, m));
                    FCN(store_lanes)(dx + base + i, d, m);
                    acc += d;
                }
            }
            if (dbias) dbias[c] = FCN(hsum)(acc);
        }
    }
    fc_fp_leave(fp);
}

static int FCN(activation_backward)(int kind, T *dx, const T *dy, const T *y, int64_t outer, int64_t channels,
                                    int64_t inner, T *dbias, int nthreads)
{
    const int64_t n = outer * channels * inner;
    const int nt = n < (1 << 15) || channels < 2 ? 1 : fc_resolve_threads(nthreads);
    FC_TEAM(nt, FCN(activation_backward_part)(kind, dx, dy, y, outer, channels, inner, dbias));
    return FC_OK;
}
