/* Elementwise activations   (template, see internal.h)
 *
 * y = f(x) over n elements for the smooth activations that need the
 * vectorised exponential of vmath.h (sigmoid, tanh), so the layer API and
 * the tests use the same code as the recurrent kernels.
 */

static int FCN(activation_forward)(int kind, T *y, const T *x, int64_t n, int nthreads)
{
    const int nt = n < (1 << 15) ? 1 : fc_resolve_threads(nthreads);
#pragma omp parallel num_threads(nt)
    {
        fc_fpstate fp = fc_fp_enter();
        int64_t i0, i1;
        fc_split_range(FC_CEIL_DIV(n, VL), omp_get_num_threads(), omp_get_thread_num(), &i0, &i1);
        for (int64_t i = i0 * VL; i < FC_MIN(n, i1 * VL); i += VL) {
            const V v = FCN(load_lanes)(x + i, n - i);
            FCN(store_lanes)(y + i, kind == FC_ACT_SIGMOID ? FCN(vsigmoid)(v) : FCN(vtanh)(v), n - i);
        }
        fc_fp_leave(fp);
    }
    return FC_OK;
}
