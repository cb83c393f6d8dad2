"""N-dimensional convolution with scipy.signal's semantics: convolve,
correlate, oaconvolve and choose_conv_method, drop-ins for their
namesakes (same arguments, modes, result dtypes, complex conjugation and
'valid' swapping).

method="direct" runs the compiled 2-D filter (fastconv.correlate2d's
direct method) over the last two axes, once per tap of the leading axes,
summing the shifted results: exact for integers (wrapping as scipy's
sums do), IEEE for NaN and Inf.  1-D input is a one-row image.
method="fft" is fastconv.fftconvolve (integer results rounded, as scipy).
method="auto" takes what choose_conv_method says: the direct sums for
integer results (exact), else the method with the smaller operation count.
"""
import math
import time

import numpy as np

from . import _dask
from ._arrays import get_array_module
from .fft import fftconvolve
from .filtering import correlate2d
from ._validation import signal_operand

__all__ = ["choose_conv_method", "convolve", "correlate", "oaconvolve"]

_MODES = ("full", "same", "valid")
_METHODS = ("auto", "direct", "fft")
# a direct multiply-add costs about this many FFT operations (n log2 n of
# the transform, three transforms), fitted to direct / FFT timings of 1-D
# signals (200000 samples, 15-1023 taps), 2-D images (128^2-1024^2, 3-31
# taps square) and 3-D volumes (64^3, 3-11 taps cubed), float32 and float64,
# on this machine: the crossover sits near a 4:1 operation ratio in 1-D and
# 2-D; in 3-D the direct sums run as one 2-D filtering per kernel plane and
# lose near 1.3:1
_DIRECT_PER_FFT_OP = {1: 0.24, 2: 0.24, 3: 0.75}


def _operands(in1, in2, xp):
    return signal_operand(in1, "in1", xp), signal_operand(in2, "in2", xp)


def _check(a, b, mode, method=None):
    if a.ndim != b.ndim:
        raise ValueError(f"in1 and in2 must have the same number of dimensions; received {a.shape} and {b.shape}")
    if a.size == 0 or b.size == 0:  # (scipy: ValueError, or an IndexError from its FFT path)
        raise ValueError(f"in1 and in2 must not be empty; received shapes {a.shape} and {b.shape}")
    if mode not in _MODES:
        raise ValueError(f"mode must be 'full', 'same' or 'valid'; received {mode!r}")
    if method is not None and method not in _METHODS:
        raise ValueError(f"method must be 'auto', 'direct' or 'fft'; received {method!r}")


def _empty_same(a, b, mode, method, xp):
    """scipy's one result for an empty operand: 'same' of an empty in1 (and a
    non-empty in2) by the direct sums (or "auto"), an empty array of in1's
    shape; None otherwise (_check then raises)."""
    if a.size == 0 and b.size and a.ndim == b.ndim and mode == "same" and method in ("auto", "direct"):
        return xp.zeros(a.shape, np.result_type(a.dtype, b.dtype))
    return None


def _swap_needed(mode, s1, s2):
    """scipy's rule: in 'valid' mode the operands swap when in2 is the larger
    in every axis; ValueError when neither is at least the other's size."""
    if mode != "valid":
        return False
    if not s1:
        return False
    ok1 = all(i >= j for i, j in zip(s1, s2))
    ok2 = all(i <= j for i, j in zip(s1, s2))
    if not (ok1 or ok2):
        raise ValueError("for 'valid' mode, one of in1 and in2 must be at least as large as the other in every "
                         f"dimension; received shapes {s1} and {s2}")
    return not ok1


def _reverse_conj(x, xp):
    r = x[(slice(None, None, -1),) * x.ndim]
    return xp.conj(r) if x.dtype.kind == "c" else r


def _centered(arr, shape):
    start = [(n - s) // 2 for n, s in zip(arr.shape, shape)]
    return arr[tuple(slice(b, b + s) for b, s in zip(start, shape))]


def _correlate_full(a, b, result, xp):
    """The full correlation of a with b (sum a * conj(b), as correlate2d's) by
    the compiled 2-D filter over the last two axes, once per tap of the
    leading axes; in the result dtype."""
    nd = a.ndim
    a2 = a.reshape((1,) * (2 - nd) + a.shape) if nd < 2 else a
    b2 = b.reshape((1,) * (2 - nd) + b.shape) if nd < 2 else b
    lead_b = b2.shape[:-2]
    out_shape = tuple(i + j - 1 for i, j in zip(a2.shape, b2.shape))
    out = xp.zeros(out_shape, result)
    n_lead = a2.shape[:-2]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in np.ndindex(*lead_b):
            # correlate2d is batched over a's leading axes: y_t[j] = sum_s a[j, s] b[t, s]
            y = correlate2d(a2, b2[t], "full", method="direct")
            # out[m] gets a[m + t - (K - 1)] b[t]: y_t lands at offset K - 1 - t on each leading axis
            where = tuple(slice(k - 1 - ti, k - 1 - ti + n) for ti, k, n in zip(t, lead_b, n_lead))
            out[where] += y.astype(result, copy=False)
    return out.reshape(tuple(i + j - 1 for i, j in zip(a.shape, b.shape)))


def _direct(a, b, mode, xp):
    """scipy's correlate(a, b, mode, method='direct'): sum a * conj(b)."""
    result = np.result_type(a.dtype, b.dtype)
    if result.kind == "b":
        if a.ndim == 1 and (a.size >= b.size or mode != "same") and xp is np:
            return np.correlate(a, b, mode)  # scipy's 1-D path: numpy's logical sums
        raise ValueError("correlate / convolve of two bool arrays has no direct method (as scipy's); "
                         "convert one to an integer type")
    swapped = _swap_needed(mode, a.shape, b.shape)
    if swapped:
        a, b = b, a
    full = _correlate_full(a, b, result, xp)
    if mode == "full":
        out = full
    elif mode == "same":
        out = _centered(full, a.shape)
    else:
        out = _centered(full, [i - j + 1 for i, j in zip(a.shape, b.shape)])
    out = xp.ascontiguousarray(out)
    if swapped:
        out = xp.ascontiguousarray(_reverse_conj(out, xp))
    return out


def _fft_conv(volume, kernel, mode, xp):
    """scipy's convolve(..., method='fft'): fftconvolve, integer results rounded."""
    result = np.result_type(volume.dtype, kernel.dtype)
    out = fftconvolve(volume, kernel, mode=mode)
    if result.kind in "iub":
        # (scipy leaves a bool result unrounded, so its FFT's rounding residue reads True: here the
        # exact result, rounded first)
        out = xp.round(out)
    return out.astype(result, copy=False)


def _costs(volume, kernel, mode):
    """(direct multiply-adds, FFT operations) of convolving these operands."""
    full = [i + j - 1 for i, j in zip(volume.shape, kernel.shape)]
    if mode == "full":
        out = full
    elif mode == "same":
        out = list(volume.shape)
    else:
        out = [abs(i - j) + 1 for i, j in zip(volume.shape, kernel.shape)]
    direct = math.prod(out) * min(volume.size, kernel.size)
    n = math.prod(full)
    return direct, 3 * n * math.log2(max(n, 2))


def choose_conv_method(in1, in2, mode="full", measure=False):
    """The method ("direct" or "fft") that convolve / correlate's "auto"
    takes for these operands, as scipy.signal.choose_conv_method: the
    direct sums for integer (and bool) results, which they keep exact, and
    for NaN or Inf (whose footprint the FFT's sums do not keep), else the
    method with the smaller estimated cost.  measure=True times both
    instead and returns (the faster, {"direct": s, "fft": s})."""
    xp = get_array_module(in1, in2)
    a, b = _operands(in1, in2, xp)
    _check(a, b, mode)
    if measure:
        times = {}
        for m in ("fft", "direct"):
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                convolve(a, b, mode=mode, method=m)
                best = min(best, time.perf_counter() - t0)
            times[m] = best
        return min(times, key=times.get), times
    if np.result_type(a.dtype, b.dtype).kind in "iub" or a.ndim == 0:
        return "direct"
    if not (bool(xp.isfinite(a).all()) and bool(xp.isfinite(b).all())):
        return "direct"
    direct, fft = _costs(a, b, mode)
    return "fft" if direct * _DIRECT_PER_FFT_OP.get(a.ndim, 0.75) > fft else "direct"


def convolve(in1, in2, mode="full", method="auto"):
    """N-dimensional convolution, a drop-in for scipy.signal.convolve (same
    arguments; method "auto", "direct" or "fft"; scipy's result dtype,
    'valid' swapping and 0-d operands).  A Dask array in1 gives a lazy Dask
    array (each block's "auto" chooses for its own window)."""
    if _dask.any_dask(in1, in2):
        return _dask.conv_nd(lambda a, b, m: convolve(a, b, m, method), in1, in2, mode, None)
    xp = get_array_module(in1, in2)
    volume, kernel = _operands(in1, in2, xp)
    if volume.ndim == kernel.ndim == 0:
        return volume * kernel
    empty = _empty_same(volume, kernel, mode, method, xp)
    if empty is not None:
        return empty
    _check(volume, kernel, mode, method)
    if _swap_needed(mode, volume.shape, kernel.shape):
        volume, kernel = kernel, volume
    if method == "auto":
        method = choose_conv_method(volume, kernel, mode)
    if method == "fft":
        return _fft_conv(volume, kernel, mode, xp)
    return _direct(volume, _reverse_conj(kernel, xp), mode, xp)


def correlate(in1, in2, mode="full", method="auto"):
    """N-dimensional cross-correlation, a drop-in for scipy.signal.correlate
    (sum in1 * conj(in2); same arguments, method "auto", "direct" or "fft").
    A Dask array in1 gives a lazy Dask array."""
    if _dask.any_dask(in1, in2):
        return _dask.conv_nd(lambda a, b, m: correlate(a, b, m, method), in1, in2, mode, None)
    xp = get_array_module(in1, in2)
    a, b = _operands(in1, in2, xp)
    if a.ndim == b.ndim == 0:
        return a * (xp.conj(b) if b.dtype.kind == "c" else b)
    empty = _empty_same(a, b, mode, method, xp)
    if empty is not None:
        return empty
    _check(a, b, mode, method)
    if method in ("fft", "auto"):
        return convolve(a, _reverse_conj(b, xp), mode, method)
    return _direct(a, b, mode, xp)


def oaconvolve(in1, in2, mode="full", axes=None):
    """Convolution by overlap-add, a drop-in for scipy.signal.oaconvolve
    (the same values as fftconvolve, which already cuts a long operand into
    blocks where that is faster)."""
    return fftconvolve(in1, in2, mode=mode, axes=axes)
