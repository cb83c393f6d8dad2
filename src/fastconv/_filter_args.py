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
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid'; received {mode!r}")
    if boundary not in _BOUNDARY:
        raise ValueError(f"boundary must be 'fill', 'wrap' or 'symm'; received {boundary!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; received {method!r}")
    return in1, in2, _BOUNDARY[boundary]


def _empty_filter(x, k, mode, boundary, fill, flipped, result, xp):
    """scipy.signal's correlate2d / convolve2d with an empty operand: the
    output shape of its formulas ('full' is a ValueError where a size comes
    out negative); an empty kernel sums nothing (zeros); an empty image read
    through the fill gives fill * sum(k) (conj(k) for correlate2d) at every
    output.  Through wrap or symm an empty image has no values at all: a
    ValueError (scipy's C code divides by its zero size there and halts the
    process)."""
    (H, W), (kh, kw) = x.shape[-2:], k.shape
    if mode == "full":
        P, Q = H + kh - 1, W + kw - 1
        if P < 0 or Q < 0:
            raise ValueError(f"in1 {x.shape} and in2 {k.shape} are both empty along an axis: the 'full' output "
                             "would have a negative size")
    elif mode == "same":
        P, Q = H, W
    else:
        if not (H >= kh and W >= kw) and not (kh >= H and kw >= W and x.ndim == 2):
            raise ValueError("for 'valid' mode, one of in1 and in2 must be at least as large as the other in "
                             f"every dimension; received shapes {x.shape[-2:]} and {k.shape}")
        P, Q = abs(H - kh) + 1, abs(W - kw) + 1
    shape = x.shape[:-2] + (P, Q)
    if k.size == 0 or 0 in shape or mode == "valid":
        return xp.zeros(shape, result)
    if boundary != "fill":
        raise ValueError(f"boundary {boundary!r} reads the values of in1, which is empty (shape {x.shape})")
    total = (k if flipped or k.dtype.kind != "c" else xp.conj(k)).sum(dtype=result)
    return xp.full(shape, xp.asarray(fill, result) * total, result)


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
