# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Bindings of the compiled core (csrc/).

Input assumed valid: the public functions in fastconv/*.py check shapes,
dtypes and contiguity and allocate outputs; these functions only release the
GIL, pass pointers and turn status codes into exceptions.  Arrays are IN
(read) or OUT (written; backward kernels add into them).
"""
cimport numpy as cnp
from libc.stdint cimport int64_t

cnp.import_array()

cdef extern from "fastconv.h" nogil:
    ctypedef struct fc_conv_geom:
        int64_t N, C, H, W, K, R, S, P, Q, G
        int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w

    int fc_get_num_threads()
    void fc_set_num_threads(int n)
    int fc_simd_detected()
    int fc_simd_active()
    int fc_simd_set(int level)
    const char *fc_simd_name(int level)
    void fc_gemm_tile(int dtype_bytes, int *mr, int *nr)

    int fc_gemm_f32(float *c, int64_t ldc, const float *a, int64_t rsa, int64_t csa,
                    const float *b, int64_t rsb, int64_t csb, int64_t M, int64_t N,
                    int64_t K, int accumulate, int nthreads)
    int fc_gemm_f64(double *c, int64_t ldc, const double *a, int64_t rsa, int64_t csa,
                    const double *b, int64_t rsb, int64_t csb, int64_t M, int64_t N,
                    int64_t K, int accumulate, int nthreads)

    int fc_conv2d_forward_f32(int algo, float *y, const float *x, const float *w,
                              const float *bias, const fc_conv_geom *g, int nthreads)
    int fc_conv2d_forward_f64(int algo, double *y, const double *x, const double *w,
                              const double *bias, const fc_conv_geom *g, int nthreads)
    int fc_conv2d_backward_input_f32(int algo, float *dx, const float *dy, const float *w,
                                     const fc_conv_geom *g, int nthreads)
    int fc_conv2d_backward_input_f64(int algo, double *dx, const double *dy, const double *w,
                                     const fc_conv_geom *g, int nthreads)
    int fc_conv2d_backward_weight_f32(int algo, float *dw, const float *dy, const float *x,
                                      const fc_conv_geom *g, int nthreads)
    int fc_conv2d_backward_weight_f64(int algo, double *dw, const double *dy, const double *x,
                                      const fc_conv_geom *g, int nthreads)

    ctypedef struct fc_pool_geom:
        int64_t NC, H, W, P, Q, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w

    int fc_max_pool2d_forward_f32(float *y, int64_t *idx, const float *x, const fc_pool_geom *g, int nthreads)
    int fc_max_pool2d_forward_f64(double *y, int64_t *idx, const double *x, const fc_pool_geom *g, int nthreads)
    int fc_max_pool2d_backward_f32(float *dx, const float *dy, const int64_t *idx, const fc_pool_geom *g, int nthreads)
    int fc_max_pool2d_backward_f64(double *dx, const double *dy, const int64_t *idx, const fc_pool_geom *g, int nthreads)
    int fc_avg_pool2d_forward_f32(float *y, const float *x, const fc_pool_geom *g, int count_include_pad, int nthreads)
    int fc_avg_pool2d_forward_f64(double *y, const double *x, const fc_pool_geom *g, int count_include_pad, int nthreads)
    int fc_avg_pool2d_backward_f32(float *dx, const float *dy, const fc_pool_geom *g, int count_include_pad, int nthreads)
    int fc_avg_pool2d_backward_f64(double *dx, const double *dy, const fc_pool_geom *g, int count_include_pad, int nthreads)
    int fc_global_avg_pool_forward_f32(float *y, const float *x, int64_t planes, int64_t n, int nthreads)
    int fc_global_avg_pool_forward_f64(double *y, const double *x, int64_t planes, int64_t n, int nthreads)
    int fc_global_avg_pool_backward_f32(float *dx, const float *dy, int64_t planes, int64_t n, int nthreads)
    int fc_global_avg_pool_backward_f64(double *dx, const double *dy, int64_t planes, int64_t n, int nthreads)

    int fc_optim_update_f32(int kind, float *w, const float *g, float *s1, float *s2, int64_t n,
                            const double *hp, int nthreads)
    int fc_optim_update_f64(int kind, double *w, const double *g, double *s1, double *s2, int64_t n,
                            const double *hp, int nthreads)
    int fc_activation_backward_f32(int kind, float *dx, const float *dy, const float *y, int64_t outer,
                                   int64_t channels, int64_t inner, float *dbias, int nthreads)
    int fc_activation_backward_f64(int kind, double *dx, const double *dy, const double *y, int64_t outer,
                                   int64_t channels, int64_t inner, double *dbias, int nthreads)
    int fc_activation_forward_f32(int kind, float *y, const float *x, int64_t n, int nthreads)
    int fc_activation_forward_f64(int kind, double *y, const double *x, int64_t n, int nthreads)

    ctypedef struct fc_filter_geom:
        int64_t N, H, W, P, Q, ky, kx, pad_top, pad_left
        int boundary

    int fc_filter2d_forward_f32(float *y, const float *x, const float *k, float fill, const fc_filter_geom *g,
                                int accumulate, int nthreads)
    int fc_filter2d_forward_f64(double *y, const double *x, const double *k, double fill,
                                const fc_filter_geom *g, int accumulate, int nthreads)
    int fc_sepfilter_forward_f32(float *y, const float *x, const float *ky, const float *kx, float fill,
                                 const fc_filter_geom *g, int accumulate, int nthreads)
    int fc_sepfilter_forward_f64(double *y, const double *x, const double *ky, const double *kx, double fill,
                                 const fc_filter_geom *g, int accumulate, int nthreads)

    ctypedef struct fc_rnn_geom:
        int64_t steps, batch, input, hidden, xt, xb, yt, yb
        int cell

    int fc_rnn_forward_f32(float *y, float *gates, float *cell, float *hn, const float *x, const float *h0,
                           const float *c0, const float *w_ih, const float *w_hh, const float *bias,
                           const float *bias_hn, const fc_rnn_geom *g, int nthreads)
    int fc_rnn_forward_f64(double *y, double *gates, double *cell, double *hn, const double *x, const double *h0,
                           const double *c0, const double *w_ih, const double *w_hh, const double *bias,
                           const double *bias_hn, const fc_rnn_geom *g, int nthreads)
    int fc_rnn_backward_f32(float *dx, float *dh0, float *dc0, float *dw_ih, float *dw_hh, float *db_ih,
                            float *db_hh, float *dgates, float *dhn, const float *dy, const float *dhT,
                            const float *dcT, const float *gates, const float *cell, const float *hn,
                            const float *x, const float *y, const float *h0, const float *c0,
                            const float *w_ih, const float *w_hh, const fc_rnn_geom *g, int nthreads)
    int fc_rnn_backward_f64(double *dx, double *dh0, double *dc0, double *dw_ih, double *dw_hh, double *db_ih,
                            double *db_hh, double *dgates, double *dhn, const double *dy, const double *dhT,
                            const double *dcT, const double *gates, const double *cell, const double *hn,
                            const double *x, const double *y, const double *h0, const double *c0,
                            const double *w_ih, const double *w_hh, const fc_rnn_geom *g, int nthreads)

ALGO_DIRECT = 0
ALGO_IM2COL = 1


cdef int _raise(int status) except -1:
    if status == 1:
        raise MemoryError("fastconv: could not allocate kernel scratch memory")
    if status == 3:
        raise ValueError("fastconv: sizes, strides, paddings or dilations out of the kernels' range "
                         "(beyond 2**62, or inconsistent with the output size)")
    raise RuntimeError(f"fastconv: kernel failed with status {status}")


cdef int _misaligned(object a) except -1:
    raise ValueError(f"fastconv: arrays passed to the kernels must be C-contiguous and aligned for their "
                     f"dtype (fastconv._validation.contiguous makes them so); received flags {a.flags!r}")


cdef inline void *_data(cnp.ndarray a) except? NULL:
    """a's data, checked C-contiguous and aligned (the kernels load whole elements and vectors)."""
    if not cnp.PyArray_ISCARRAY_RO(a):
        _misaligned(a)
    return cnp.PyArray_DATA(a)


cdef extern from *:
    """
    static inline int fc_size_is(int64_t size, int64_t a, int64_t b, int64_t c, int64_t d)
    {
        int64_t p;
        return a >= 0 && b >= 0 && c >= 0 && d >= 0 && !__builtin_mul_overflow(a, b, &p) &&
               !__builtin_mul_overflow(p, c, &p) && !__builtin_mul_overflow(p, d, &p) && p == size;
    }
    """
    bint fc_size_is(int64_t size, int64_t a, int64_t b, int64_t c, int64_t d) nogil


cdef int _mismatch(object a) except -1:
    raise ValueError(f"fastconv: an array's dtype or size does not match the kernel's geometry; received "
                     f"dtype {a.dtype}, shape {a.shape}")


cdef inline int _float_type(cnp.ndarray a) except -1:
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        _mismatch(a)
    return t


cdef inline void *_arr(cnp.ndarray a, int typenum, int64_t n0, int64_t n1, int64_t n2, int64_t n3) except? NULL:
    """a's data, checked C-contiguous, aligned, of dtype typenum and n0 * n1 * n2 * n3
    elements (the product formed without overflow): the kernels trust the geometry."""
    if not cnp.PyArray_ISCARRAY_RO(a):
        _misaligned(a)
    if cnp.PyArray_TYPE(a) != typenum or not fc_size_is(cnp.PyArray_SIZE(a), n0, n1, n2, n3):
        _mismatch(a)
    return cnp.PyArray_DATA(a)


cdef inline void *_aligned(cnp.ndarray a) except? NULL:
    """a's data, checked aligned for its dtype (strided views: GEMM operands, recurrent steps)."""
    if not cnp.PyArray_ISALIGNED(a):
        _misaligned(a)
    return cnp.PyArray_DATA(a)


cdef inline void _geom(fc_conv_geom *g, tuple t):
    (g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.G,
     g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w) = t


cdef inline bint _is_f32(cnp.ndarray a):
    return cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32


cdef inline void *_ptr(object a) except? NULL:
    return NULL if a is None else _data(<cnp.ndarray>a)


cdef inline void *_ptr_aligned(object a) except? NULL:
    return NULL if a is None else _aligned(<cnp.ndarray>a)


# ---- runtime -------------------------------------------------------------------

def get_num_threads():
    return fc_get_num_threads()


def set_num_threads(int n):
    fc_set_num_threads(n)


def simd_detected():
    return fc_simd_name(fc_simd_detected()).decode()


def simd_active():
    return fc_simd_name(fc_simd_active()).decode()


def simd_set(str name):
    """Caps the SIMD level ("generic", "avx2", "avx512" or "best"); returns the level in use."""
    levels = {"generic": 0, "avx2": 1, "avx512": 2, "best": -1}
    return fc_simd_name(fc_simd_set(levels[name])).decode()


def gemm_tile(int itemsize):
    cdef int mr = 0, nr = 0
    fc_gemm_tile(itemsize, &mr, &nr)
    return mr, nr


# ---- GEMM ----------------------------------------------------------------------

def gemm(cnp.ndarray c, cnp.ndarray a, cnp.ndarray b, bint accumulate, int nthreads):
    """c (OUT, C-contiguous rows) (+)= a @ b; a and b may have any element strides."""
    cdef int64_t M = a.shape[0], K = a.shape[1], N = b.shape[1]
    cdef int64_t isz = a.itemsize
    cdef int64_t ldc = c.strides[0] // isz
    cdef int64_t rsa = a.strides[0] // isz, csa = a.strides[1] // isz
    cdef int64_t rsb = b.strides[0] // isz, csb = b.strides[1] // isz
    cdef void *pc = _aligned(c)
    cdef void *pa = _aligned(a)
    cdef void *pb = _aligned(b)
    cdef int st
    if _is_f32(a):
        with nogil:
            st = fc_gemm_f32(<float *>pc, ldc, <const float *>pa, rsa, csa, <const float *>pb,
                             rsb, csb, M, N, K, accumulate, nthreads)
    else:
        with nogil:
            st = fc_gemm_f64(<double *>pc, ldc, <const double *>pa, rsa, csa, <const double *>pb,
                             rsb, csb, M, N, K, accumulate, nthreads)
    if st:
        _raise(st)


# ---- convolution -----------------------------------------------------------------
# geom: (N, C, H, W, K, R, S, P, Q, G, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)

def conv_forward(int algo, cnp.ndarray y, cnp.ndarray x, cnp.ndarray w, object bias,
                 tuple geom, int nthreads):
    """y (OUT) = conv(x, w) + bias.  All C-contiguous, one dtype."""
    cdef fc_conv_geom g
    _geom(&g, geom)
    cdef int t = _float_type(x)
    cdef int64_t Cg = g.C // g.G if g.G > 0 else -1
    cdef void *px = _arr(x, t, g.N, g.C, g.H, g.W)
    cdef void *py = _arr(y, t, g.N, g.K, g.P, g.Q)
    cdef void *pw = _arr(w, t, g.K, Cg, g.R, g.S)
    cdef void *pb = NULL if bias is None else _arr(bias, t, g.K, 1, 1, 1)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            st = fc_conv2d_forward_f32(algo, <float *>py, <const float *>px, <const float *>pw,
                                       <const float *>pb, &g, nthreads)
    else:
        with nogil:
            st = fc_conv2d_forward_f64(algo, <double *>py, <const double *>px, <const double *>pw,
                                       <const double *>pb, &g, nthreads)
    if st:
        _raise(st)


ctypedef int (*backward_f32)(int, float *, const float *, const float *, const fc_conv_geom *,
                             int) noexcept nogil
ctypedef int (*backward_f64)(int, double *, const double *, const double *, const fc_conv_geom *,
                             int) noexcept nogil


cdef _backward(backward_f32 f32, backward_f64 f64, int algo, cnp.ndarray out, cnp.ndarray dy,
               cnp.ndarray other, tuple geom, int nthreads, bint weight):
    """weight: out is dw (K, C/G, R, S) and other x (N, C, H, W); else out is dx, other w."""
    cdef fc_conv_geom g
    _geom(&g, geom)
    cdef int t = _float_type(dy)
    cdef int64_t Cg = g.C // g.G if g.G > 0 else -1
    cdef void *pdy = _arr(dy, t, g.N, g.K, g.P, g.Q)
    cdef void *po
    cdef void *pother
    if weight:
        po = _arr(out, t, g.K, Cg, g.R, g.S)
        pother = _arr(other, t, g.N, g.C, g.H, g.W)
    else:
        po = _arr(out, t, g.N, g.C, g.H, g.W)
        pother = _arr(other, t, g.K, Cg, g.R, g.S)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            st = f32(algo, <float *>po, <const float *>pdy, <const float *>pother, &g, nthreads)
    else:
        with nogil:
            st = f64(algo, <double *>po, <const double *>pdy, <const double *>pother, &g, nthreads)
    if st:
        _raise(st)


def conv_backward_input(int algo, cnp.ndarray dx, cnp.ndarray dy, cnp.ndarray w,
                        tuple geom, int nthreads):
    """dx (OUT, added into) += conv^T(dy, w)."""
    _backward(fc_conv2d_backward_input_f32, fc_conv2d_backward_input_f64, algo, dx, dy, w, geom, nthreads, False)


def conv_backward_weight(int algo, cnp.ndarray dw, cnp.ndarray dy, cnp.ndarray x,
                         tuple geom, int nthreads):
    """dw (OUT, added into) += correlation of dy with x."""
    _backward(fc_conv2d_backward_weight_f32, fc_conv2d_backward_weight_f64, algo, dw, dy, x, geom, nthreads, True)


# ---- pooling ---------------------------------------------------------------------
# geom: (NC, H, W, P, Q, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)

cdef inline void _pool_geom(fc_pool_geom *g, tuple t):
    (g.NC, g.H, g.W, g.P, g.Q, g.R, g.S, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
     g.dil_h, g.dil_w) = t


def max_pool_forward(cnp.ndarray y, object idx, cnp.ndarray x, tuple geom, int nthreads):
    """y (OUT) = window maxima of x; idx (OUT, int64, or None) = their in-plane indices."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = _float_type(x)
    cdef void *px = _arr(x, t, g.NC, g.H, g.W, 1)
    cdef void *py = _arr(y, t, g.NC, g.P, g.Q, 1)
    cdef int64_t *pi = NULL if idx is None else <int64_t *>_arr(idx, cnp.NPY_INT64, g.NC, g.P, g.Q, 1)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            st = fc_max_pool2d_forward_f32(<float *>py, pi, <const float *>px, &g, nthreads)
    else:
        with nogil:
            st = fc_max_pool2d_forward_f64(<double *>py, pi, <const double *>px, &g, nthreads)
    if st:
        _raise(st)


def max_pool_backward(cnp.ndarray dx, cnp.ndarray dy, cnp.ndarray idx, tuple geom, int nthreads):
    """dx (OUT, overwritten) = dy scattered through idx; ValueError for an index outside its plane."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = _float_type(dy)
    cdef void *pdy = _arr(dy, t, g.NC, g.P, g.Q, 1)
    cdef void *pdx = _arr(dx, t, g.NC, g.H, g.W, 1)
    cdef const int64_t *pi = <const int64_t *>_arr(idx, cnp.NPY_INT64, g.NC, g.P, g.Q, 1)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            st = fc_max_pool2d_backward_f32(<float *>pdx, <const float *>pdy, pi, &g, nthreads)
    else:
        with nogil:
            st = fc_max_pool2d_backward_f64(<double *>pdx, <const double *>pdy, pi, &g, nthreads)
    if st == 2:
        raise ValueError(f"indices must lie in [0, {g.H * g.W}) (the flat index within each "
                         f"{g.H}x{g.W} input plane); some do not")
    if st:
        _raise(st)


def avg_pool_forward(cnp.ndarray y, cnp.ndarray x, tuple geom, bint include_pad, int nthreads):
    """y (OUT) = window means of x."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = _float_type(x)
    cdef void *px = _arr(x, t, g.NC, g.H, g.W, 1)
    cdef void *py = _arr(y, t, g.NC, g.P, g.Q, 1)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            st = fc_avg_pool2d_forward_f32(<float *>py, <const float *>px, &g, include_pad, nthreads)
    else:
        with nogil:
            st = fc_avg_pool2d_forward_f64(<double *>py, <const double *>px, &g, include_pad, nthreads)
    if st:
        _raise(st)


def avg_pool_backward(cnp.ndarray dx, cnp.ndarray dy, tuple geom, bint include_pad, int nthreads):
    """dx (OUT, overwritten) = gradient of the window means."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = _float_type(dy)
    cdef void *pdy = _arr(dy, t, g.NC, g.P, g.Q, 1)
    cdef void *pdx = _arr(dx, t, g.NC, g.H, g.W, 1)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            st = fc_avg_pool2d_backward_f32(<float *>pdx, <const float *>pdy, &g, include_pad, nthreads)
    else:
        with nogil:
            st = fc_avg_pool2d_backward_f64(<double *>pdx, <const double *>pdy, &g, include_pad, nthreads)
    if st:
        _raise(st)


def global_avg_pool(cnp.ndarray out, cnp.ndarray inp, int64_t planes, int64_t n, bint backward,
                    int nthreads):
    """forward: out[i] = mean(inp[i*n:(i+1)*n]); backward: out[i*n + j] = inp[i] / n."""
    cdef int t = _float_type(inp)
    cdef void *pi = _arr(inp, t, planes, 1 if backward else n, 1, 1)
    cdef void *po = _arr(out, t, planes, n if backward else 1, 1, 1)
    cdef int st
    if t == cnp.NPY_FLOAT32:
        with nogil:
            if backward:
                st = fc_global_avg_pool_backward_f32(<float *>po, <const float *>pi, planes, n, nthreads)
            else:
                st = fc_global_avg_pool_forward_f32(<float *>po, <const float *>pi, planes, n, nthreads)
    else:
        with nogil:
            if backward:
                st = fc_global_avg_pool_backward_f64(<double *>po, <const double *>pi, planes, n, nthreads)
            else:
                st = fc_global_avg_pool_forward_f64(<double *>po, <const double *>pi, planes, n, nthreads)
    if st:
        _raise(st)


# ---- recurrent ---------------------------------------------------------------------
# geom: (steps, batch, input, hidden, xt, xb, yt, yb, cell); None for optional arrays

cdef inline void _rnn_geom(fc_rnn_geom *g, tuple t):
    g.steps, g.batch, g.input, g.hidden, g.xt, g.xb, g.yt, g.yb, g.cell = t


def rnn_forward(y, gates, cell, hn, x, h0, c0, w_ih, w_hh, bias, bias_hn, tuple geom, int nthreads):
    """y, gates, cell, hn (OUT); the rest IN (see fc_rnn_forward)."""
    cdef fc_rnn_geom g
    _rnn_geom(&g, geom)
    cdef void *py = _ptr_aligned(y)
    cdef void *pg = _ptr_aligned(gates)
    cdef void *pc = _ptr_aligned(cell)
    cdef void *phn = _ptr_aligned(hn)
    cdef void *px = _ptr_aligned(x)
    cdef void *ph0 = _ptr_aligned(h0)
    cdef void *pc0 = _ptr_aligned(c0)
    cdef void *pwi = _ptr_aligned(w_ih)
    cdef void *pwh = _ptr_aligned(w_hh)
    cdef void *pb = _ptr_aligned(bias)
    cdef void *pbn = _ptr_aligned(bias_hn)
    cdef int st
    if _is_f32(<cnp.ndarray>x):
        with nogil:
            st = fc_rnn_forward_f32(<float *>py, <float *>pg, <float *>pc, <float *>phn, <const float *>px,
                                    <const float *>ph0, <const float *>pc0, <const float *>pwi,
                                    <const float *>pwh, <const float *>pb, <const float *>pbn, &g, nthreads)
    else:
        with nogil:
            st = fc_rnn_forward_f64(<double *>py, <double *>pg, <double *>pc, <double *>phn, <const double *>px,
                                    <const double *>ph0, <const double *>pc0, <const double *>pwi,
                                    <const double *>pwh, <const double *>pb, <const double *>pbn, &g, nthreads)
    if st:
        _raise(st)


def rnn_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT, gates, cell, hn,
                 x, y, h0, c0, w_ih, w_hh, tuple geom, int nthreads):
    """Gradients (OUT, added into) then workspaces then IN (see fc_rnn_backward)."""
    cdef fc_rnn_geom g
    _rnn_geom(&g, geom)
    cdef void *p[21]
    cdef int i
    for i, a in enumerate((dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT, gates, cell,
                           hn, x, y, h0, c0, w_ih, w_hh)):
        p[i] = _ptr_aligned(a)
    cdef int st
    if _is_f32(<cnp.ndarray>x):
        with nogil:
            st = fc_rnn_backward_f32(<float *>p[0], <float *>p[1], <float *>p[2], <float *>p[3], <float *>p[4],
                                     <float *>p[5], <float *>p[6], <float *>p[7], <float *>p[8],
                                     <const float *>p[9], <const float *>p[10], <const float *>p[11],
                                     <const float *>p[12], <const float *>p[13], <const float *>p[14],
                                     <const float *>p[15], <const float *>p[16], <const float *>p[17],
                                     <const float *>p[18], <const float *>p[19], <const float *>p[20],
                                     &g, nthreads)
    else:
        with nogil:
            st = fc_rnn_backward_f64(<double *>p[0], <double *>p[1], <double *>p[2], <double *>p[3], <double *>p[4],
                                     <double *>p[5], <double *>p[6], <double *>p[7], <double *>p[8],
                                     <const double *>p[9], <const double *>p[10], <const double *>p[11],
                                     <const double *>p[12], <const double *>p[13], <const double *>p[14],
                                     <const double *>p[15], <const double *>p[16], <const double *>p[17],
                                     <const double *>p[18], <const double *>p[19], <const double *>p[20],
                                     &g, nthreads)
    if st:
        _raise(st)


# ---- activations ---------------------------------------------------------------------

ACT_SIGMOID = 0
ACT_TANH = 1
ACT_RELU = 2
ACT_IDENTITY = 3


def activation_forward(int kind, cnp.ndarray y, cnp.ndarray x, int nthreads):
    """y (OUT, C-contiguous, may be x) = sigmoid / tanh / relu of x (C-contiguous)."""
    cdef void *py = _data(y)
    cdef void *px = _data(x)
    cdef int64_t n = x.size
    cdef int st
    if _is_f32(x):
        with nogil:
            st = fc_activation_forward_f32(kind, <float *>py, <const float *>px, n, nthreads)
    else:
        with nogil:
            st = fc_activation_forward_f64(kind, <double *>py, <const double *>px, n, nthreads)
    if st:
        _raise(st)


def activation_backward(int kind, cnp.ndarray dx, cnp.ndarray dy, cnp.ndarray y, tuple layout, object dbias,
                        int nthreads):
    """dx (OUT, may be dy) = dy f'(from y) over layout (outer, channels,
    inner); dbias (OUT, channels, or None) = its per-channel sum.  All
    C-contiguous, one dtype."""
    cdef int64_t outer = layout[0], channels = layout[1], inner = layout[2]
    cdef void *pdx = _data(dx)
    cdef void *pdy = _data(dy)
    cdef void *py = _data(y)
    cdef void *pb = _ptr(dbias)
    cdef int st
    if _is_f32(dy):
        with nogil:
            st = fc_activation_backward_f32(kind, <float *>pdx, <const float *>pdy, <const float *>py, outer,
                                            channels, inner, <float *>pb, nthreads)
    else:
        with nogil:
            st = fc_activation_backward_f64(kind, <double *>pdx, <const double *>pdy, <const double *>py, outer,
                                            channels, inner, <double *>pb, nthreads)
    if st:
        _raise(st)


# ---- optimizer updates ---------------------------------------------------------------

OPT_SGD = 0
OPT_ADAGRAD = 1
OPT_RMSPROP = 2
OPT_ADAM = 3


def optim_update(int kind, cnp.ndarray w, cnp.ndarray g, object s1, object s2, tuple hp, int nthreads):
    """One step of w (IN/OUT) from g and the state arrays s1, s2 (IN/OUT or
    None where the rule has none); all C-contiguous, of w's dtype and size.
    hp: the rule's hyper-parameters (csrc/optim.c)."""
    cdef double h[8]
    cdef int i
    if len(hp) > 8:
        raise ValueError("optim_update takes at most 8 hyper-parameters")
    for i in range(len(hp)):
        h[i] = hp[i]
    cdef void *pw = _data(w)
    cdef void *pg = _data(g)
    cdef void *p1 = _ptr(s1)
    cdef void *p2 = _ptr(s2)
    cdef int64_t n = w.size
    cdef int st
    if _is_f32(w):
        with nogil:
            st = fc_optim_update_f32(kind, <float *>pw, <const float *>pg, <float *>p1, <float *>p2, n, h,
                                     nthreads)
    else:
        with nogil:
            st = fc_optim_update_f64(kind, <double *>pw, <const double *>pg, <double *>p1, <double *>p2, n,
                                     h, nthreads)
    if st:
        _raise(st)


# ---- separable filtering ---------------------------------------------------------------

BOUNDARY_FILL = 0
BOUNDARY_WRAP = 1
BOUNDARY_SYMM = 2


def filter2d(cnp.ndarray y, cnp.ndarray x, cnp.ndarray k, double fill, tuple geom, bint accumulate,
             int nthreads):
    """y (OUT, (+)=) = correlation of x with the dense kernel k; geom as sepfilter."""
    cdef fc_filter_geom g
    g.N, g.H, g.W, g.P, g.Q, g.ky, g.kx, g.pad_top, g.pad_left, g.boundary = geom
    cdef void *py = _data(y)
    cdef void *px = _data(x)
    cdef void *pk = _data(k)
    cdef int st
    if _is_f32(x):
        with nogil:
            st = fc_filter2d_forward_f32(<float *>py, <const float *>px, <const float *>pk, <float>fill, &g,
                                         accumulate, nthreads)
    else:
        with nogil:
            st = fc_filter2d_forward_f64(<double *>py, <const double *>px, <const double *>pk, fill, &g,
                                         accumulate, nthreads)
    if st:
        _raise(st)


def sepfilter(cnp.ndarray y, cnp.ndarray x, cnp.ndarray ky, cnp.ndarray kx, double fill, tuple geom,
              bint accumulate, int nthreads):
    """y (OUT, (+)=) = separable correlation of x; geom (N, H, W, P, Q, ky, kx, pad_top, pad_left, boundary)."""
    cdef fc_filter_geom g
    g.N, g.H, g.W, g.P, g.Q, g.ky, g.kx, g.pad_top, g.pad_left, g.boundary = geom
    cdef void *py = _data(y)
    cdef void *px = _data(x)
    cdef void *pky = _data(ky)
    cdef void *pkx = _data(kx)
    cdef int st
    if _is_f32(x):
        with nogil:
            st = fc_sepfilter_forward_f32(<float *>py, <const float *>px, <const float *>pky, <const float *>pkx,
                                          <float>fill, &g, accumulate, nthreads)
    else:
        with nogil:
            st = fc_sepfilter_forward_f64(<double *>py, <const double *>px, <const double *>pky,
                                          <const double *>pkx, fill, &g, accumulate, nthreads)
    if st:
        _raise(st)
