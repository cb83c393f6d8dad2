"""Image filtering on the GPU: the CPU core's filter2d and sepfilter, same
arguments (geom (N, H, W, P, Q, ky, kx, pad_top, pad_left, boundary)), on
filter.cu's kernel, and the choice "auto" makes."""
from .._arrays import get_array_module
from ._launch import launch


def choose_method(N, H, W, P, Q, kh, kw, rank, itemsize):
    """"auto": (the method doing the fewest multiply-adds per output (the
    separable passes count twice, for their buffer), or the FFT once every
    spatial method needs more than 400 (a 20 x 20 dense kernel); None: no
    predicted times)."""
    cost = {"direct": kh * kw, "separable": 2 * rank * (kh + kw)}
    best = min(cost, key=cost.get)
    return ("fft" if cost[best] > 400 else best), None


def filter2d_forward(y, x, k, fill, geom, accumulate, nthreads=None):
    """y (OUT, (+)=) = correlation of x with the dense kernel k."""
    launch("filter.cu", "filter_correlate", x.dtype, y.size, y, x, k, float(fill), *geom, accumulate)


def sepfilter_forward(y, x, ky, kx, fill, geom, accumulate, nthreads=None):
    """y (OUT, (+)=) = separable correlation of x: ky down the columns into a
    buffer spanning the extended columns the rows then read, kx along them."""
    N, H, W, P, Q, KY, KX, pt, pl, boundary = geom
    tmp = get_array_module(y).empty((N, P, Q + KX - 1), x.dtype)
    launch("filter.cu", "filter_correlate", x.dtype, tmp.size, tmp, x, ky, float(fill), N, H, W, P, Q + KX - 1,
           KY, 1, pt, pl, boundary, False)
    launch("filter.cu", "filter_correlate", x.dtype, y.size, y, tmp, kx, 0.0, N, P, Q + KX - 1, P, Q, 1, KX, 0, 0,
           0, accumulate)
