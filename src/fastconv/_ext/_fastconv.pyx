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

    ctypedef struct fc_pool_geom:
        int64_t NC, H, W, P, Q, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w

    ctypedef struct fc_rnn_geom:
        int64_t steps, batch, input, hidden, xt, xb, yt, yb
        int cell

    ctypedef struct fc_filter_geom:
        int64_t N, H, W, P, Q, ky, kx, pad_top, pad_left
        int boundary

    int fc_get_num_threads()
    void fc_set_num_threads(int n)
    int fc_simd_detected()
    int fc_simd_active()
    int fc_simd_set(int level)
    const char *fc_simd_name(int level)
    void fc_gemm_tile(int dtype_bytes, int *mr, int *nr)

# the operations: int fc_<stem>(int dtype, ...) for each entry of csrc/ops.def
include "_ops.pxi"

ALGO_DIRECT = 0
ALGO_IM2COL = 1
ALGO_WINOGRAD = 2  # F(4x4, 3x3) (csrc/conv_winograd.c): 3x3, stride 1, forward and input gradient


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


cdef inline int _dtype(cnp.ndarray a) except -1:
    """FC_F32 or FC_F64: the element type of a float32 or float64 array."""
    cdef int t = cnp.PyArray_TYPE(a)
    if t == cnp.NPY_FLOAT32:
        return FC_F32
    if t == cnp.NPY_FLOAT64:
        return FC_F64
    _mismatch(a)


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


cdef inline void *_ptr(object a) except? NULL:
    return NULL if a is None else _data(<cnp.ndarray>a)


cdef inline void *_ptr_aligned(object a) except? NULL:
    return NULL if a is None else _aligned(<cnp.ndarray>a)


cdef inline tuple _fields(object geom, Py_ssize_t n):
    """geom as a tuple of n fields: a plain tuple or a named one (fastconv._geometry)."""
    if not isinstance(geom, tuple) or len(<tuple>geom) != n:
        raise TypeError(f"fastconv: geometry must be a tuple of {n} fields; received {geom!r}")
    return <tuple>geom


# Geometries (fastconv._geometry names their fields in these orders).

cdef inline void _conv_geom(fc_conv_geom *g, object geom) except *:
    cdef tuple t = _fields(geom, 16)
    (g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.G,
     g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w) = t


cdef inline void _pool_geom(fc_pool_geom *g, object geom) except *:
    cdef tuple t = _fields(geom, 13)
    (g.NC, g.H, g.W, g.P, g.Q, g.R, g.S, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
     g.dil_h, g.dil_w) = t


cdef inline void _rnn_geom(fc_rnn_geom *g, object geom) except *:
    cdef tuple t = _fields(geom, 9)
    g.steps, g.batch, g.input, g.hidden, g.xt, g.xb, g.yt, g.yb, g.cell = t


cdef inline void _filter_geom(fc_filter_geom *g, object geom) except *:
    cdef tuple t = _fields(geom, 10)
    g.N, g.H, g.W, g.P, g.Q, g.ky, g.kx, g.pad_top, g.pad_left, g.boundary = t


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
# Each binding is named after its operation in csrc/ops.def: it checks the
# arrays against the geometry, releases the GIL and calls fc_<stem> for the
# arrays' element type.

def gemm(cnp.ndarray c, cnp.ndarray a, cnp.ndarray b, bint accumulate, int nthreads):
    """c (OUT, C-contiguous rows) (+)= a @ b; a and b may have any element strides."""
    cdef int dt = _dtype(a)
    cdef int64_t M = a.shape[0], K = a.shape[1], N = b.shape[1]
    cdef int64_t isz = a.itemsize
    cdef int64_t ldc = c.strides[0] // isz
    cdef int64_t rsa = a.strides[0] // isz, csa = a.strides[1] // isz
    cdef int64_t rsb = b.strides[0] // isz, csb = b.strides[1] // isz
    cdef void *pc = _aligned(c)
    cdef void *pa = _aligned(a)
    cdef void *pb = _aligned(b)
    cdef int st
    with nogil:
        st = fc_gemm(dt, pc, ldc, pa, rsa, csa, pb, rsb, csb, M, N, K, accumulate, nthreads)
    if st:
        _raise(st)


# ---- convolution -----------------------------------------------------------------
# geom: ConvGeometry (N, C, H, W, K, R, S, P, Q, G, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)

def conv2d_forward(int algo, cnp.ndarray y, cnp.ndarray x, cnp.ndarray w, object bias, object geom,
                   int nthreads):
    """y (OUT) = conv(x, w) + bias.  All C-contiguous, one dtype."""
    cdef fc_conv_geom g
    _conv_geom(&g, geom)
    cdef int t = cnp.PyArray_TYPE(x), dt = _dtype(x)
    cdef int64_t Cg = g.C // g.G if g.G > 0 else -1
    cdef void *px = _arr(x, t, g.N, g.C, g.H, g.W)
    cdef void *py = _arr(y, t, g.N, g.K, g.P, g.Q)
    cdef void *pw = _arr(w, t, g.K, Cg, g.R, g.S)
    cdef void *pb = NULL if bias is None else _arr(bias, t, g.K, 1, 1, 1)
    cdef int st
    with nogil:
        st = fc_conv2d_forward(dt, algo, py, px, pw, pb, &g, nthreads)
    if st:
        _raise(st)


ctypedef int (*conv_backward_fn)(int, int, void *, const void *, const void *, const fc_conv_geom *,
                                 int) noexcept nogil


cdef _conv_backward(conv_backward_fn fn, int algo, cnp.ndarray out, cnp.ndarray dy, cnp.ndarray other,
                    object geom, int nthreads, bint weight):
    """weight: out is dw (K, C/G, R, S) and other x (N, C, H, W); else out is dx, other w."""
    cdef fc_conv_geom g
    _conv_geom(&g, geom)
    cdef int t = cnp.PyArray_TYPE(dy), dt = _dtype(dy)
    cdef int64_t Cg = g.C // g.G if g.G > 0 else -1
    cdef void *pdy = _arr(dy, t, g.N, g.K, g.P, g.Q)
    cdef void *pimg = _arr(other if weight else out, t, g.N, g.C, g.H, g.W)
    cdef void *pw = _arr(out if weight else other, t, g.K, Cg, g.R, g.S)
    cdef int st
    with nogil:
        st = fn(dt, algo, pw if weight else pimg, pdy, pimg if weight else pw, &g, nthreads)
    if st:
        _raise(st)


def conv2d_backward_input(int algo, cnp.ndarray dx, cnp.ndarray dy, cnp.ndarray w, object geom, int nthreads):
    """dx (OUT, overwritten) = conv^T(dy, w)."""
    _conv_backward(fc_conv2d_backward_input, algo, dx, dy, w, geom, nthreads, False)


def conv2d_backward_weight(int algo, cnp.ndarray dw, cnp.ndarray dy, cnp.ndarray x, object geom, int nthreads):
    """dw (OUT, overwritten) = correlation of dy with x."""
    _conv_backward(fc_conv2d_backward_weight, algo, dw, dy, x, geom, nthreads, True)


# ---- pooling ---------------------------------------------------------------------
# geom: PoolGeometry (NC, H, W, P, Q, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)

def max_pool2d_forward(cnp.ndarray y, object idx, cnp.ndarray x, object geom, int nthreads):
    """y (OUT) = window maxima of x; idx (OUT, int64, or None) = their in-plane indices."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = cnp.PyArray_TYPE(x), dt = _dtype(x)
    cdef void *px = _arr(x, t, g.NC, g.H, g.W, 1)
    cdef void *py = _arr(y, t, g.NC, g.P, g.Q, 1)
    cdef int64_t *pi = NULL if idx is None else <int64_t *>_arr(idx, cnp.NPY_INT64, g.NC, g.P, g.Q, 1)
    cdef int st
    with nogil:
        st = fc_max_pool2d_forward(dt, py, pi, px, &g, nthreads)
    if st:
        _raise(st)


def max_pool2d_backward(cnp.ndarray dx, cnp.ndarray dy, cnp.ndarray idx, object geom, int nthreads):
    """dx (OUT, overwritten) = dy scattered through idx; ValueError for an index outside its plane."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = cnp.PyArray_TYPE(dy), dt = _dtype(dy)
    cdef void *pdy = _arr(dy, t, g.NC, g.P, g.Q, 1)
    cdef void *pdx = _arr(dx, t, g.NC, g.H, g.W, 1)
    cdef const int64_t *pi = <const int64_t *>_arr(idx, cnp.NPY_INT64, g.NC, g.P, g.Q, 1)
    cdef int st
    with nogil:
        st = fc_max_pool2d_backward(dt, pdx, pdy, pi, &g, nthreads)
    if st == 2:
        raise ValueError(f"indices must lie in [0, {g.H * g.W}) (the flat index within each "
                         f"{g.H}x{g.W} input plane); some do not")
    if st:
        _raise(st)


def avg_pool2d_forward(cnp.ndarray y, cnp.ndarray x, object geom, bint include_pad, int nthreads):
    """y (OUT) = window means of x."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = cnp.PyArray_TYPE(x), dt = _dtype(x)
    cdef void *px = _arr(x, t, g.NC, g.H, g.W, 1)
    cdef void *py = _arr(y, t, g.NC, g.P, g.Q, 1)
    cdef int st
    with nogil:
        st = fc_avg_pool2d_forward(dt, py, px, &g, include_pad, nthreads)
    if st:
        _raise(st)


def avg_pool2d_backward(cnp.ndarray dx, cnp.ndarray dy, object geom, bint include_pad, int nthreads):
    """dx (OUT, overwritten) = gradient of the window means."""
    cdef fc_pool_geom g
    _pool_geom(&g, geom)
    cdef int t = cnp.PyArray_TYPE(dy), dt = _dtype(dy)
    cdef void *pdy = _arr(dy, t, g.NC, g.P, g.Q, 1)
    cdef void *pdx = _arr(dx, t, g.NC, g.H, g.W, 1)
    cdef int st
    with nogil:
        st = fc_avg_pool2d_backward(dt, pdx, pdy, &g, include_pad, nthreads)
    if st:
        _raise(st)


def global_avg_pool_forward(cnp.ndarray y, cnp.ndarray x, int64_t planes, int64_t n, int nthreads):
    """y[i] (OUT) = mean(x[i*n:(i+1)*n])."""
    cdef int t = cnp.PyArray_TYPE(x), dt = _dtype(x)
    cdef void *px = _arr(x, t, planes, n, 1, 1)
    cdef void *py = _arr(y, t, planes, 1, 1, 1)
    cdef int st
    with nogil:
        st = fc_global_avg_pool_forward(dt, py, px, planes, n, nthreads)
    if st:
        _raise(st)


def global_avg_pool_backward(cnp.ndarray dx, cnp.ndarray dy, int64_t planes, int64_t n, int nthreads):
    """dx[i*n + j] (OUT, overwritten) = dy[i] / n."""
    cdef int t = cnp.PyArray_TYPE(dy), dt = _dtype(dy)
    cdef void *pdy = _arr(dy, t, planes, 1, 1, 1)
    cdef void *pdx = _arr(dx, t, planes, n, 1, 1)
    cdef int st
    with nogil:
        st = fc_global_avg_pool_backward(dt, pdx, pdy, planes, n, nthreads)
    if st:
        _raise(st)


# ---- recurrent ---------------------------------------------------------------------
# geom: RnnGeometry (steps, batch, input, hidden, xt, xb, yt, yb, cell); None for optional arrays

def rnn_forward(y, gates, cell, hn, cnp.ndarray x, h0, c0, w_ih, w_hh, bias, bias_hn, object geom, int nthreads):
    """y, gates, cell, hn (OUT); the rest IN (see ops.def)."""
    cdef fc_rnn_geom g
    _rnn_geom(&g, geom)
    cdef int dt = _dtype(x)
    cdef void *p[11]
    cdef int i
    for i, a in enumerate((y, gates, cell, hn, x, h0, c0, w_ih, w_hh, bias, bias_hn)):
        p[i] = _ptr_aligned(a)
    cdef int st
    with nogil:
        st = fc_rnn_forward(dt, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], &g, nthreads)
    if st:
        _raise(st)


def rnn_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT, gates, cell, hn,
                 cnp.ndarray x, y, h0, c0, w_ih, w_hh, object geom, int nthreads):
    """Gradients (OUT, added into) then workspaces then IN (see ops.def)."""
    cdef fc_rnn_geom g
    _rnn_geom(&g, geom)
    cdef int dt = _dtype(x)
    cdef void *p[21]
    cdef int i
    for i, a in enumerate((dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT, gates, cell,
                           hn, x, y, h0, c0, w_ih, w_hh)):
        p[i] = _ptr_aligned(a)
    cdef int st
    with nogil:
        st = fc_rnn_backward(dt, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12],
                             p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20], &g, nthreads)
    if st:
        _raise(st)


# ---- activations ---------------------------------------------------------------------

ACT_SIGMOID = 0
ACT_TANH = 1
ACT_RELU = 2
ACT_IDENTITY = 3


def activation_forward(int kind, cnp.ndarray y, cnp.ndarray x, int nthreads):
    """y (OUT, C-contiguous, may be x) = sigmoid / tanh / relu of x (C-contiguous)."""
    cdef int dt = _dtype(x)
    cdef void *py = _data(y)
    cdef void *px = _data(x)
    cdef int64_t n = x.size
    cdef int st
    with nogil:
        st = fc_activation_forward(dt, kind, py, px, n, nthreads)
    if st:
        _raise(st)


def activation_backward(int kind, cnp.ndarray dx, cnp.ndarray dy, cnp.ndarray y, tuple layout, object dbias,
                        int nthreads):
    """dx (OUT, may be dy) = dy f'(from y) over layout (outer, channels,
    inner); dbias (OUT, channels, or None) = its per-channel sum.  All
    C-contiguous, one dtype."""
    cdef int dt = _dtype(dy)
    cdef int64_t outer = layout[0], channels = layout[1], inner = layout[2]
    cdef void *pdx = _data(dx)
    cdef void *pdy = _data(dy)
    cdef void *py = _data(y)
    cdef void *pb = _ptr(dbias)
    cdef int st
    with nogil:
        st = fc_activation_backward(dt, kind, pdx, pdy, py, outer, channels, inner, pb, nthreads)
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
    cdef int dt = _dtype(w)
    cdef void *pw = _data(w)
    cdef void *pg = _data(g)
    cdef void *p1 = _ptr(s1)
    cdef void *p2 = _ptr(s2)
    cdef int64_t n = w.size
    cdef int st
    with nogil:
        st = fc_optim_update(dt, kind, pw, pg, p1, p2, n, h, nthreads)
    if st:
        _raise(st)


# ---- image filtering ---------------------------------------------------------------
# geom: (N, H, W, P, Q, ky, kx, pad_top, pad_left, boundary)

BOUNDARY_FILL = 0
BOUNDARY_WRAP = 1
BOUNDARY_SYMM = 2


def filter2d_forward(cnp.ndarray y, cnp.ndarray x, cnp.ndarray k, double fill, object geom, bint accumulate,
                     int nthreads):
    """y (OUT, (+)=) = correlation of x with the dense kernel k."""
    cdef fc_filter_geom g
    _filter_geom(&g, geom)
    cdef int dt = _dtype(x)
    cdef void *py = _data(y)
    cdef void *px = _data(x)
    cdef void *pk = _data(k)
    cdef int st
    with nogil:
        st = fc_filter2d_forward(dt, py, px, pk, fill, &g, accumulate, nthreads)
    if st:
        _raise(st)


def sepfilter_forward(cnp.ndarray y, cnp.ndarray x, cnp.ndarray ky, cnp.ndarray kx, double fill, object geom,
                      bint accumulate, int nthreads):
    """y (OUT, (+)=) = correlation of x with the separable kernel ky kx^T, in two 1-D passes."""
    cdef fc_filter_geom g
    _filter_geom(&g, geom)
    cdef int dt = _dtype(x)
    cdef void *py = _data(y)
    cdef void *px = _data(x)
    cdef void *pky = _data(ky)
    cdef void *pkx = _data(kx)
    cdef int st
    with nogil:
        st = fc_sepfilter_forward(dt, py, px, pky, pkx, fill, &g, accumulate, nthreads)
    if st:
        _raise(st)


# ---- N-D 1-D filtering ------------------------------------------------------------------

ND_NEAREST = 0
ND_WRAP = 1
ND_REFLECT = 2
ND_MIRROR = 3
ND_CONSTANT = 4


def correlate1d_forward(cnp.ndarray y, cnp.ndarray x, cnp.ndarray w, int64_t outer, int64_t n, int64_t inner,
                        int64_t origin, int mode, double cval, int nthreads):
    """y (OUT) = x correlated with w along the middle axis of (outer, n, inner), extended by mode;
    y may be x (in place)."""
    cdef int dt = _dtype(x)
    cdef int t = cnp.PyArray_TYPE(x)
    cdef void *px = _arr(x, t, outer, n, inner, 1)
    cdef void *py = _arr(y, t, outer, n, inner, 1)
    cdef void *pw = _data(w)
    cdef int64_t K = cnp.PyArray_SIZE(w)
    if cnp.PyArray_TYPE(w) != t or K < 1:
        _mismatch(w)
    cdef int st
    with nogil:
        st = fc_correlate1d_forward(dt, py, px, pw, outer, n, inner, K, origin, mode, cval, nthreads)
    if st:
        _raise(st)


def sepcorrelate_forward(cnp.ndarray y, cnp.ndarray x, cnp.ndarray wv, cnp.ndarray wh, int64_t outer, int64_t n,
                         int64_t m, int64_t origin_v, int64_t origin_h, int mode_v, int mode_h, double cval,
                         int nthreads):
    """y (OUT) = x correlated along the middle axis of (outer, n, m) with wv, then along the last with wh;
    y may be x (in place: a thread then holds whole (n, m) planes)."""
    cdef int dt = _dtype(x)
    cdef int t = cnp.PyArray_TYPE(x)
    cdef void *px = _arr(x, t, outer, n, m, 1)
    cdef void *py = _arr(y, t, outer, n, m, 1)
    cdef void *pv = _data(wv)
    cdef void *ph = _data(wh)
    cdef int64_t Kv = cnp.PyArray_SIZE(wv)
    cdef int64_t Kh = cnp.PyArray_SIZE(wh)
    if cnp.PyArray_TYPE(wv) != t or Kv < 1:
        _mismatch(wv)
    if cnp.PyArray_TYPE(wh) != t or Kh < 1:
        _mismatch(wh)
    cdef int st
    with nogil:
        st = fc_sepcorrelate_forward(dt, py, px, pv, ph, outer, n, m, Kv, Kh, origin_v, origin_h, mode_v, mode_h,
                                     cval, nthreads)
    if st:
        _raise(st)
