"""Argument checking of the filtering functions (fastconv.filtering): the
image and kernel arrays, their result and compute dtypes, the fill value,
and the output geometry of each mode, as scipy.signal reads them."""
import numpy as np

from ._validation import signal_operand
from ._ext import _fastconv as _core

_BOUNDARY = {"fill": _core.BOUNDARY_FILL, "wrap": _core.BOUNDARY_WRAP, "circular": _core.BOUNDARY_WRAP,
             "symm": _core.BOUNDARY_SYMM, "symmetric": _core.BOUNDARY_SYMM}
_METHODS = ("auto", "direct", "separable", "fft")


def _dtypes(*arrays):
    """(result dtype, compute dtype): scipy.signal's result type (integers stay
    integers; bool, which scipy rejects, counts as integer 0 / 1); computed
    in float32 when that is the result (or complex64: its parts), else
    float64."""
    result = np.result_type(*(a.dtype for a in arrays))
    if result.kind == "b":
        result = np.dtype(np.int64)
    return result, (np.float32 if result in (np.float32, np.complex64) else np.float64)


def _check_common(in1, in2, mode, boundary, fillvalue, method, xp):
    in1 = signal_operand(in1, "in1", xp)
    in2 = signal_operand(in2, "in2", xp)
    if in1.ndim < 2:
        raise ValueError(f"in1 must have at least 2 dimensions (..., H, W); received shape {in1.shape}")
    if in2.ndim != 2:
        raise ValueError(f"in2 must be a 2-D kernel; received shape {in2.shape}")
    if in1.size == 0 or in2.size == 0:
        raise ValueError(f"in1 and in2 must not be empty; received shapes {in1.shape} and {in2.shape}")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid'; received {mode!r}")
    if boundary not in _BOUNDARY:
        raise ValueError(f"boundary must be 'fill', 'wrap' or 'symm'; received {boundary!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; received {method!r}")
    return in1, in2, _BOUNDARY[boundary]


def _fill_value(fillvalue, result):
    """fillvalue as scipy.signal converts it: to one element of the result
    dtype (1.5 fills an integer image with 1; '1.5' fills a float image with
    1.5 but cannot fill an integer one), else ValueError, as scipy raises."""
    if type(fillvalue) is int and fillvalue == 0:  # the default, in every dtype
        return 0
    try:
        with np.errstate(invalid="raise", over="ignore"):
            v = np.asarray(fillvalue, dtype=result)
    except (TypeError, ValueError, OverflowError, FloatingPointError):
        raise ValueError(f"fillvalue must be a scalar that converts to the result dtype {result}; "
                         f"received {fillvalue!r}") from None
    if v.size != 1:
        raise ValueError(f"fillvalue must be a scalar or an array with one element; received {fillvalue!r}")
    return v.reshape(()).item()


def _geometry(H, W, kh, kw, mode, flipped):
    """(P, Q, pad_top, pad_left): output (p, q) correlates the extended input
    from (p - pad_top, q - pad_left) with the (flipped, for convolve2d) kernel,
    with scipy's centring of 'same'."""
    if mode == "full":
        return H + kh - 1, W + kw - 1, kh - 1, kw - 1
    if mode == "valid":
        return H - kh + 1, W - kw + 1, 0, 0
    if flipped:
        return H, W, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2
    return H, W, (kh - 1) // 2, (kw - 1) // 2
