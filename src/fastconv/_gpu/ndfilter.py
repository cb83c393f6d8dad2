"""fastconv.ndimage's passes on the GPU: the CPU core's correlate1d_forward
and sepcorrelate_forward, same arguments, on ndfilter.cu's kernels, and the
running-sum box filter its exact integer outputs need."""
from .._arrays import get_array_module
from ._launch import fits_int32, launch


def _distinct(y, x):
    """x, or a copy of it where y shares its memory (the kernels read
    neighbours another thread may already have overwritten)."""
    return x.copy() if get_array_module(y).may_share_memory(y, x) else x


def correlate1d_forward(y, x, w, outer, n, inner, origin, mode, cval, nthreads=None):
    """y (OUT) = x correlated with w along the middle axis of (outer, n, inner), extended by mode;
    y may be x (in place)."""
    K = w.size
    launch("ndfilter.cu", "nd_correlate1d", x.dtype, y.size, y, _distinct(y, x), w, outer, n, inner, K, origin, mode,
           float(cval), index32=fits_int32(y.size, n + 2 * K + abs(origin)))


def sepcorrelate_forward(y, x, wv, wh, outer, n, m, origin_v, origin_h, mode_v, mode_h, cval, nthreads=None):
    """y (OUT) = x correlated along the middle axis of (outer, n, m) with wv, then along the last with
    wh; y may be x.  Two passes through a buffer (the second reads the first's result with cval past
    its ends, as SciPy's chain of 1-D filters does)."""
    tmp = get_array_module(x).empty(x.shape, x.dtype)
    correlate1d_forward(tmp, x, wv, outer, n, m, origin_v, mode_v, cval)
    correlate1d_forward(y, tmp, wh, outer * n, m, 1, origin_h, mode_h, cval)


def uniform1d_running(y, x, outer, n, inner, size, origin, mode, cval):
    """y (OUT) = x box-filtered along the middle axis of (outer, n, inner) by SciPy's running sum
    (float64 data: SciPy's values to the bit); y and x distinct."""
    launch("ndfilter.cu", "nd_uniform1d_running", x.dtype, outer * inner, y, x, outer, n, inner, size, origin, mode,
           float(cval), index32=fits_int32(y.size, n + 2 * size + abs(origin)))
