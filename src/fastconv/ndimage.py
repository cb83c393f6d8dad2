"""scipy.ndimage's convolution filters on fastconv's compiled core.

Each function keeps scipy.ndimage's signature, argument checks (with
SciPy's exception types: RuntimeError for a bad mode, sequence length,
output or array type, ValueError for a bad origin or axes, AxisError for an
axis out of range) and results, and follows SciPy's order of passes: a
separable filter is one 1-D correlation per axis, each pass stored in the
output's dtype before the next reads it (so an integer output is rounded
toward zero after every pass, as in SciPy).

The passes run on csrc/ndfilter.c: ``correlate1d_forward`` (one axis,
vectorised along the contiguous axis, parallel over blocks of lines) and
``sepcorrelate_forward`` (the last two axes in one sweep).  The first step
goes from the input into the output and the others run in place, so a
filter allocates nothing beyond its output (one scratch array only when a
constant border with a nonzero cval fixes the order of the passes and a
fused pair cannot run in place).  Float32 data
with a float32 output is computed in float32 (SciPy computes in float64 and
rounds): a pass of K taps then differs from SciPy by a few float32 ulps
times sqrt(K) of the sum of the absolute terms.  Every other real case is
computed in float64.

Integer and bool outputs (an integer input keeps its dtype by default) are
computed in NumPy with SciPy's float64 operations in SciPy's order (the
symmetric / antisymmetric forms of its 1-D correlation, its running sum for
the box filter, its tap order for N-D correlation), then converted as
SciPy's C casts do (toward zero; out of range as the x86 conversions give;
a bool output receives the low byte of the uint8 conversion, as SciPy
writes it), so they equal SciPy's exactly.  Complex data runs as its real
and imaginary parts, as SciPy does.

N-D ``correlate`` / ``convolve``: a kernel with one axis longer than 1 runs
as a 1-D pass; two such axes on the compiled 2-D filter (fastconv's
correlate2d kernel) over the boundary-extended array; more, or an input
holding NaN or Inf with a kernel that has zero weights (SciPy skips weights
within DBL_EPSILON of zero), as a float64 sum over the taps in NumPy.

One difference from SciPy: ``uniform_filter1d`` and ``uniform_filter``
compute each output from its own window, where SciPy keeps a running sum
along the line, so a NaN or Inf in SciPy's result spoils the rest of its
line and here only the outputs whose windows hold it (finite results agree
to rounding; integer outputs follow SciPy's running sum exactly).

Where SciPy misbehaves, fastconv follows the definition: SciPy's N-D
``correlate`` / ``convolve`` with mode 'reflect' read outside their input
where the kernel reaches 4n or more before a line of n, and misread some
inputs whose strides are all zero (a broadcast scalar, shape (2, 1)).

Array types: NumPy arrays (and array-likes) in, NumPy arrays out; CuPy
arrays in, CuPy arrays out, as cupyx.scipy.ndimage (the passes on the GPU
backend's ndfilter.cu, the same order of operations; integer outputs
computed in float64 on the device in SciPy's order, so they equal SciPy's,
except where a float value out of the integer type's range is converted:
the device's conversion then decides, where SciPy gets the x86 one); a Dask
array in gives a lazy Dask array out (each chunk with the halo its filter
reaches; the result does not depend on the chunking).  Weights may be a
CuPy array with a CuPy input (they are read on the host); NumPy and CuPy
arrays mixed in one call are a TypeError.
"""
import collections
import functools
import numbers
import operator
import threading
import warnings
from collections.abc import Iterable

import numpy as np

from . import _backend, _threads
from ._arrays import get_array_module, is_cupy_array, to_host
from ._cpu.ndfilter import line_index as _line_index
from ._ext import _fastconv as _core
from ._validation import contiguous

try:
    from numpy.lib.array_utils import normalize_axis_index
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import normalize_axis_index  # type: ignore[no-redef]

__all__ = [
    "convolve",
    "convolve1d",
    "correlate",
    "correlate1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "gaussian_gradient_magnitude",
    "gaussian_laplace",
    "generic_gradient_magnitude",
    "laplace",
    "prewitt",
    "sobel",
    "uniform_filter",
    "uniform_filter1d",
]

# the filters' modes (scipy.ndimage._ni_support._extend_mode_to_code with is_filter=True)
_MODES = {"nearest": _core.ND_NEAREST, "wrap": _core.ND_WRAP, "grid-wrap": _core.ND_WRAP,
          "reflect": _core.ND_REFLECT, "grid-mirror": _core.ND_REFLECT, "mirror": _core.ND_MIRROR,
          "constant": _core.ND_CONSTANT, "grid-constant": _core.ND_CONSTANT}
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_DBL_EPSILON = np.finfo(np.float64).eps


# ---- argument normalisation, as scipy.ndimage._ni_support -------------------------------


def _array(a):
    """a as an array of its module: CuPy arrays stay on their device, the rest become NumPy arrays."""
    return get_array_module(a).asarray(a)


def _host_weights(input, weights):
    """The weights as a NumPy array (they are read on the host): NumPy weights (or a sequence) with
    either input, CuPy weights with a CuPy input only (TypeError with a NumPy one)."""
    if is_cupy_array(weights):
        get_array_module(input, weights)  # a CuPy weights array with a NumPy input: TypeError
    return np.asarray(to_host(weights))


def _mode_code(mode):
    if isinstance(mode, str) and mode in _MODES:
        return _MODES[mode]
    raise RuntimeError(f"boundary mode not supported; received {mode!r}")


def _normalize_sequence(value, rank):
    """value repeated rank times, or the sequence value checked to have rank entries."""
    if not isinstance(value, str) and np.iterable(value):
        normalized = list(value)
        if len(normalized) != rank:
            raise RuntimeError(f"sequence argument must have length equal to input rank ({rank}); "
                               f"received {value!r}")
        return normalized
    return [value] * rank


def _get_output(output, input, complex_output=False):
    """The output array: new (uninitialised: every filter writes all of it; no zeroing pass
    over a large output) of input's dtype or the dtype given, or the array given."""
    shape, xp = input.shape, get_array_module(input)
    if output is None:
        dtype = np.promote_types(input.dtype, np.complex64) if complex_output else input.dtype.name
        return xp.empty(shape, dtype=dtype)
    if isinstance(output, (type, np.dtype)):
        if complex_output and np.dtype(output).kind != "c":
            warnings.warn("promoting specified output dtype to complex", stacklevel=4)
            output = np.promote_types(output, np.complex64)
        return xp.empty(shape, dtype=output)
    if isinstance(output, str):
        dtype = np.dtype(output)
        if complex_output and dtype.kind != "c":
            raise RuntimeError(f"output must have complex dtype; received {output!r}")
        if not issubclass(dtype.type, np.number):
            raise RuntimeError(f"output must have numeric dtype; received {output!r}")
        return xp.empty(shape, dtype=dtype)
    xp = get_array_module(input, output)  # (TypeError: NumPy and CuPy arrays mixed)
    output = xp.asarray(output)
    if output.shape != shape:
        raise RuntimeError(f"output shape not correct: expected {shape}; received {output.shape}")
    if complex_output and output.dtype.kind != "c":
        raise RuntimeError(f"output must have complex dtype; received dtype {output.dtype}")
    return output


def _check_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if np.isscalar(axes):
        axes = (operator.index(axes),)
    elif isinstance(axes, Iterable):
        axes = tuple(operator.index(ax) for ax in axes)
        for ax in axes:
            if ax < -ndim or ax > ndim - 1:
                raise ValueError(f"specified axis: {ax} is out of range")
        axes = tuple(ax % ndim if ax < 0 else ax for ax in axes)
    else:
        raise ValueError(f"axes must be an integer, iterable of integers, or None; received {axes!r}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes must be unique; received {axes}")
    return axes


def _invalid_origin(origin, lenw):
    return origin < -(lenw // 2) or origin > (lenw - 1) // 2


def _check_origin(origin, lenw):
    """origin as an int (TypeError for a float, as SciPy's C layer) within the kernel's length."""
    if _invalid_origin(origin, lenw):
        raise ValueError(f"Invalid origin; origin must satisfy -(len(weights) // 2) <= origin <= "
                         f"(len(weights)-1) // 2; received origin={origin!r} for {lenw} weights")
    return operator.index(origin)


def _as_cval(cval):
    """cval as SciPy's C layer reads it (a real number; TypeError otherwise)."""
    if isinstance(cval, np.complexfloating):  # NumPy converts it: the real part, with a ComplexWarning
        return float(cval)
    if isinstance(cval, (str, bytes, complex)) or cval is None:
        raise TypeError(f"cval must be a real number; received {type(cval).__name__} {cval!r}")
    try:
        return float(cval)
    except (TypeError, ValueError):
        raise TypeError(f"cval must be a real number; received {type(cval).__name__} {cval!r}") from None


def _is_float(dtype):
    """float32 or float64, in either byte order (what the kernels compute in, once native)."""
    return dtype.newbyteorder("=") in _KERNEL_DTYPES


def _check_array_type(a):
    if a.dtype.kind not in "biu" and not _is_float(a.dtype):
        raise RuntimeError(f"array type {a.dtype!r} not supported")


# ---- the passes ---------------------------------------------------------------------------


def _to_output_dtype(values, dtype):
    """float64 values as SciPy's C casts store them in an integer or bool array.  On x86-64 the
    compiler converts a double to a narrower integer through int32 (to uint32 through int64) and
    keeps the low bytes, so out-of-range values wrap; the conversion is written out that way, since
    a GPU's double-to-uint8 conversion saturates instead."""
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype == np.uint32:
            return values.astype(np.int64).astype(np.uint32)
        if dtype == np.bool_:  # the uint8 conversion's byte, stored as it is
            return values.astype(np.int32).astype(np.uint8).view(np.bool_)
        if dtype.itemsize < 4:
            return values.astype(np.int32).astype(dtype)
        return values.astype(dtype)


def _extend(x, axis, before, after, mode, cval):
    """x (float64) extended along axis by before / after elements under mode."""
    xp = get_array_module(x)
    idx = _line_index(x.shape[axis], before, after, mode)
    xe = xp.take(x, xp.asarray(np.maximum(idx, 0)), axis=axis)
    if mode == _core.ND_CONSTANT:
        where = [slice(None)] * x.ndim
        where[axis] = xp.asarray(np.flatnonzero(idx < 0))
        xe[tuple(where)] = cval
    return xe


def _symmetry(w):
    """SciPy's test: 1 symmetric, -1 antisymmetric, 0 neither (odd lengths only, DBL_EPSILON apart)."""
    K = len(w)
    if not K & 1:
        return 0
    c = K // 2
    if all(abs(w[c + i] - w[c - i]) <= _DBL_EPSILON for i in range(1, c + 1)):
        return 1
    if all(abs(w[c + i] + w[c - i]) <= _DBL_EPSILON for i in range(1, c + 1)):
        return -1
    return 0


def _exact_correlate1d(x, w, axis, origin, mode, cval):
    """float64 x correlated along axis in SciPy's float64 operations and order (NI_Correlate1D)."""
    K, n = len(w), x.shape[axis]
    size1 = K // 2
    xe = _extend(x, axis, size1 + origin, K - 1 - size1 - origin, mode, cval)

    def tap(k):  # the extended line from tap k: x_ext[i - size1 - origin + k]
        where = [slice(None)] * x.ndim
        where[axis] = slice(k, k + n)
        return xe[tuple(where)]

    sym = _symmetry(w)
    if sym:
        acc = tap(size1) * w[size1]
        for jj in range(-size1, 0):
            pair = tap(size1 + jj) + tap(size1 - jj) if sym > 0 else tap(size1 + jj) - tap(size1 - jj)
            acc += pair * w[size1 + jj]
        return acc
    acc = tap(K - 1) * w[K - 1]
    for k in range(K - 1):
        acc += tap(k) * w[k]
    return acc


def _exact_uniform1d(x, size, axis, origin, mode, cval):
    """float64 x box-filtered along axis by SciPy's running sum (NI_UniformFilter1D: the sum of the
    window updated by one difference per step, divided by size at each output), exactly."""
    x = contiguous(x)
    shape = x.shape
    y = get_array_module(x).empty(shape, np.float64)
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    _backend.kernels(get_array_module(x)).uniform1d_running(y, x, outer, shape[axis], inner, size, origin, mode, cval)
    return y


def _as_float64(a):
    """a's values as SciPy's C layer reads them (a bool array: its bytes)."""
    return (a.view(np.uint8) if a.dtype == np.bool_ else a).astype(np.float64)


def _kernel_step(src, dst, step, cval):
    """dst = src through one pass, or two fused (the last two axes), on the compiled kernels (both
    arrays C-contiguous, of one float dtype)."""
    shape, nthreads, xp = src.shape, _threads.current(), get_array_module(src)
    kern = _backend.kernels(xp)
    if len(step) == 2:
        (_, wv, origin_v, mode_v, _), (_, wh, origin_h, mode_h, _) = step
        outer = int(np.prod(shape[:-2], dtype=np.int64))
        kern.sepcorrelate_forward(dst, src, contiguous(xp.asarray(wv, dtype=src.dtype)),
                                  contiguous(xp.asarray(wh, dtype=src.dtype)), outer, shape[-2], shape[-1], origin_v,
                                  origin_h, mode_v, mode_h, cval, nthreads)
        return
    ((axis, w, origin, mode, _),) = step
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    kern.correlate1d_forward(dst, src, contiguous(xp.asarray(w, dtype=src.dtype)), outer, shape[axis], inner,
                             origin, mode, cval, nthreads)


def _passes(input, output, passes, cval):
    """output (real) = the chain of 1-D passes [(axis, weights, origin, mode, kind)] over input (real),
    each stored in output's dtype before the next reads it, as SciPy chains them through its output.
    kind: "taps" (a correlation with the float64 weights) or "box" (the weights are a box filter)."""
    _check_array_type(input)
    _check_array_type(output)
    cval = _as_cval(cval)
    if input.size == 0:
        return output
    if not _is_float(output.dtype):
        cur = input
        for axis, w, origin, mode, kind in passes:
            x = _as_float64(cur)
            if kind == "box":
                res = _exact_uniform1d(x, len(w), axis, origin, mode, cval)
            else:
                res = _exact_correlate1d(x, w, axis, origin, mode, cval)
            cur = _to_output_dtype(res, output.dtype)
        output[...] = cur
        return output
    return _float_passes(input, output, passes, cval)


def _float_passes(input, output, passes, cval):
    """_passes into a float32 / float64 output, on the compiled kernels.  Passes along the last two
    axes, in that order, run fused (one sweep over the data).  Every step can run in place, at a
    cost: none along the last axis (each line is copied into a buffer first), little for a fused
    pair over a stack of planes (a thread holds whole planes), a copy of the lines for the other
    axes.  When the order does not matter (passes along different axes commute, except through a
    constant border that is not zero), the step dearest in place runs first, from the input into
    the result, and the others follow in place; otherwise what cannot run in place alternates
    between the result array and one scratch array."""
    shape, dtype, xp = output.shape, output.dtype.newbyteorder("="), get_array_module(output)
    ndim = len(shape)
    planes = int(np.prod(shape[:-2], dtype=np.int64))

    def in_place_cost(step):  # 0 free, 1 cheap, 2 a copy of the lines, 3 not at all
        if len(step) == 2:
            small = shape[-2] * (shape[-1] + 64) * dtype.itemsize <= 1 << 22
            return 1 if planes >= 2 * _threads.current() and small else 3
        return 0 if int(np.prod(shape[step[0][0] + 1:], dtype=np.int64)) == 1 else 2

    def in_place_ok(step):
        return in_place_cost(step) < 3

    steps = []
    for p in passes:
        if steps and len(steps[-1]) == 1 and steps[-1][0][0] == ndim - 2 and p[0] == ndim - 1:
            steps[-1] = steps[-1] + [p]
        else:
            steps.append([p])
    if all(p[3] != _core.ND_CONSTANT for p in passes) or cval == 0:
        steps.sort(key=in_place_cost, reverse=True)  # (stable: SciPy's order among equals)
    overlap = xp.may_share_memory(input, output)
    aligned = getattr(output.flags, "aligned", True)  # (CuPy's arrays are)
    direct = output.flags.c_contiguous and aligned and output.dtype.isnative and not overlap
    target = output if direct else None
    final = target if target is not None else xp.empty(shape, dtype)
    # destinations, from the last step back: a step that cannot run in place reads the other buffer
    dsts, buf, other = [], final, None
    for i in range(len(steps) - 1, -1, -1):
        dsts.append(buf)
        if i > 0 and not in_place_ok(steps[i]):
            if other is None:
                other = xp.empty(shape, dtype)
            buf, other = other, buf
    cur = input
    for step, dst in zip(steps, reversed(dsts)):
        src = contiguous(cur if cur.dtype == dtype else _as_float64(cur))
        if src.dtype == dtype:
            _kernel_step(src, dst, step, cval)
        else:  # the first pass of a float64 computation stored in float32
            wide = xp.empty(shape, np.float64)
            _kernel_step(src, wide, step, cval)
            dst[...] = wide
        cur = dst
    if target is None:
        output[...] = final
    return output


def _parts(input, output, cval, passes):
    """_passes on real data, or on the real and imaginary parts of complex data (cval's parts)."""
    if input.dtype.kind != "c":
        return _passes(input, output, passes, cval)
    if output.dtype.kind != "c":
        raise RuntimeError(f"output must have complex dtype; received dtype {output.dtype}")
    _passes(input.real, output.real, passes, np.real(cval))
    _passes(input.imag, output.imag, passes, np.imag(cval))
    return output


# ---- 1-D filters ------------------------------------------------------------------------


def _complex_via_real_components(func, input, weights, output, cval, **kwargs):
    """SciPy's complex filtering: func on the real and imaginary parts of the input and weights."""
    complex_input = input.dtype.kind == "c"
    complex_weights = weights.dtype.kind == "c"
    if complex_input and complex_weights:
        func(input.real, weights.real, output=output.real, cval=np.real(cval), **kwargs)
        output.real -= func(input.imag, weights.imag, output=None, cval=np.imag(cval), **kwargs)
        func(input.real, weights.imag, output=output.imag, cval=np.real(cval), **kwargs)
        output.imag += func(input.imag, weights.real, output=None, cval=np.imag(cval), **kwargs)
    elif complex_input:
        func(input.real, weights, output=output.real, cval=np.real(cval), **kwargs)
        func(input.imag, weights, output=output.imag, cval=np.imag(cval), **kwargs)
    else:
        if np.iscomplexobj(cval):
            raise ValueError(f"Cannot provide a complex-valued cval when the input is real; received cval={cval!r}")
        func(input, weights.real, output=output.real, cval=cval, **kwargs)
        func(input, weights.imag, output=output.imag, cval=cval, **kwargs)
    return output


def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D correlation along the given axis; matches scipy.ndimage.correlate1d (same arguments)."""
    input = _array(input)
    weights = _host_weights(input, weights)
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c":
            weights = weights.conj().astype(np.complex128, copy=False)
        output = _get_output(output, input, complex_output=True)
        return _complex_via_real_components(correlate1d, input, weights, output, cval, axis=axis, mode=mode,
                                            origin=origin)
    output = _get_output(output, input)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.shape[0] < 1:
        raise RuntimeError(f"no filter weights given: weights must be a non-empty 1-D sequence; received shape "
                           f"{weights.shape}")
    axis = normalize_axis_index(axis, input.ndim)
    origin = _check_origin(origin, len(weights))
    return _passes(input, output, [(axis, weights, origin, _mode_code(mode), "taps")], cval)


def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D convolution along the given axis; matches scipy.ndimage.convolve1d (same arguments)."""
    weights = _host_weights(input, weights)
    weights = weights[::-1]
    origin = -origin
    if not weights.shape[0] & 1:
        origin -= 1
    if weights.dtype.kind == "c":
        weights = weights.conj()
    return correlate1d(input, weights, axis, output, mode, cval, origin)


class _ZeroSigmaError(ZeroDivisionError, ValueError):
    """sigma = 0 for a 1-D Gaussian: SciPy's ZeroDivisionError, and a ValueError."""


def _gaussian_kernel1d(sigma, order, radius):
    """SciPy's 1-D Gaussian kernel (or its derivative of the given order), computed as SciPy does."""
    if order < 0:
        raise ValueError(f"order must be non-negative; received {order!r}")
    exponent_range = np.arange(order + 1)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    try:
        scale = -0.5 / sigma2
    except ZeroDivisionError:
        raise _ZeroSigmaError(f"sigma must not be zero; received sigma={sigma!r}") from None
    phi_x = np.exp(scale * x ** 2)
    phi_x = phi_x / phi_x.sum()
    if order == 0:
        return phi_x
    # f(x) = q(x) * phi(x) = q(x) * exp(p(x)); f'(x) = (q'(x) + q(x) * p'(x)) * phi(x)
    q = np.zeros(order + 1)
    q[0] = 1
    D = np.diag(exponent_range[1:], 1)  # D @ q(x) = q'(x)
    P = np.diag(np.ones(order) / -sigma2, -1)  # P @ q(x) = q(x) * p'(x)
    Q_deriv = D + P
    for _ in range(order):
        q = Q_deriv.dot(q)
    q = (x[:, None] ** exponent_range).dot(q)
    return q * phi_x


def _gaussian_weights(sigma, order, truncate, radius):
    """The correlation weights of gaussian_filter1d, with its checks."""
    sd = float(sigma)
    lw = int(truncate * sd + 0.5)
    if radius is not None:
        lw = radius
    if not isinstance(lw, numbers.Integral) or lw < 0:
        raise ValueError(f"Radius must be a nonnegative integer; received radius={lw!r}")
    # the kernel is reversed: the filter is a convolution with it
    return _gaussian_kernel1d(sigma, order, lw)[::-1]


def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
                      radius=None):
    """1-D Gaussian filter (order 0) or its derivatives (order 1, 2, 3, ...); matches
    scipy.ndimage.gaussian_filter1d (same arguments)."""
    weights = _gaussian_weights(sigma, order, truncate, radius)
    return correlate1d(input, weights, axis, output, mode, cval, 0)


def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D box filter (the mean of size neighbours); matches scipy.ndimage.uniform_filter1d (same
    arguments)."""
    input = _array(input)
    axis = normalize_axis_index(axis, input.ndim)
    if size < 1:
        raise RuntimeError(f"incorrect filter size: size must be >= 1; received {size!r}")
    output = _get_output(output, input, complex_output=input.dtype.kind == "c")
    return _parts(input, output, cval, [_uniform_pass(size, axis, origin, mode)])


def _uniform_pass(size, axis, origin, mode):
    if size // 2 + origin < 0 or size // 2 + origin >= size:
        raise ValueError(f"invalid origin: origin must satisfy -(size // 2) <= origin <= (size - 1) // 2; "
                         f"received origin={origin!r} for size={size!r}")
    size = operator.index(size)
    return (axis, np.full(size, 1.0 / size), operator.index(origin), _mode_code(mode), "box")


# ---- separable N-D filters ----------------------------------------------------------------


def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *, radius=None,
                    axes=None):
    """N-D Gaussian filter (or derivatives, order per axis) as 1-D passes; matches
    scipy.ndimage.gaussian_filter (same arguments: sigma, order, mode and radius may be per axis)."""
    input = _array(input)
    output = _get_output(output, input)
    axes = _check_axes(axes, input.ndim)
    num_axes = len(axes)
    orders = _normalize_sequence(order, num_axes)
    sigmas = _normalize_sequence(sigma, num_axes)
    modes = _normalize_sequence(mode, num_axes)
    radiuses = _normalize_sequence(radius, num_axes)
    passes = []
    for ii in range(num_axes):
        if sigmas[ii] > 1e-15:
            weights = _gaussian_weights(sigmas[ii], orders[ii], truncate, radiuses[ii])
            axis = normalize_axis_index(axes[ii], input.ndim)
            passes.append((axis, weights, 0, _mode_code(modes[ii]), "taps"))
    if not passes:
        output[...] = input[...]
        return output
    return _parts(input, output, cval, passes)


def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D box filter as 1-D passes; matches scipy.ndimage.uniform_filter (same arguments: size,
    origin and mode may be per axis)."""
    input = _array(input)
    output = _get_output(output, input, complex_output=input.dtype.kind == "c")
    axes = _check_axes(axes, input.ndim)
    num_axes = len(axes)
    sizes = _normalize_sequence(size, num_axes)
    origins = _normalize_sequence(origin, num_axes)
    modes = _normalize_sequence(mode, num_axes)
    passes = [_uniform_pass(int(sizes[ii]), normalize_axis_index(axes[ii], input.ndim), origins[ii], modes[ii])
              for ii in range(num_axes) if sizes[ii] > 1]
    if not passes:
        output[...] = input[...]
        return output
    return _parts(input, output, cval, passes)


def _derivative_filter(input, axis, output, mode, cval, smooth):
    """Sobel / Prewitt: the central difference along axis, then the smoothing kernel along the others."""
    input = _array(input)
    axis = normalize_axis_index(axis, input.ndim)
    output = _get_output(output, input)
    modes = _normalize_sequence(mode, input.ndim)
    passes = [(axis, np.array([-1.0, 0.0, 1.0]), 0, _mode_code(modes[axis]), "taps")]
    passes += [(ii, np.asarray(smooth, dtype=np.float64), 0, _mode_code(modes[ii]), "taps")
               for ii in range(input.ndim) if ii != axis]
    if input.dtype.kind == "c" and output.dtype.kind != "c":
        # SciPy's first pass raises; its later passes would not
        raise RuntimeError(f"output must have complex dtype; received dtype {output.dtype}")
    return _parts(input, output, cval, passes)


def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Sobel derivative along axis; matches scipy.ndimage.sobel (same arguments)."""
    return _derivative_filter(input, axis, output, mode, cval, [1.0, 2.0, 1.0])


def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Prewitt derivative along axis; matches scipy.ndimage.prewitt (same arguments)."""
    return _derivative_filter(input, axis, output, mode, cval, [1.0, 1.0, 1.0])


# ---- sums of derivatives, as scipy.ndimage.generic_laplace / generic_gradient_magnitude ------


def _generic_laplace(input, derivative2, output, mode, cval, axes, *extra):
    input = _array(input)
    output = _get_output(output, input)
    axes = _check_axes(axes, input.ndim)
    if len(axes) > 0:
        modes = _normalize_sequence(mode, len(axes))
        derivative2(input, axes[0], output, modes[0], cval, *extra)
        for ii in range(1, len(axes)):
            tmp = derivative2(input, axes[ii], output.dtype, modes[ii], cval, *extra)
            output += tmp
    else:
        output[...] = input[...]
    return output


def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """N-D Laplace filter from second differences [1, -2, 1]; matches scipy.ndimage.laplace."""

    def derivative2(input, axis, output, mode, cval):
        return correlate1d(input, [1, -2, 1], axis, output, mode, cval, 0)

    return _generic_laplace(input, derivative2, output, mode, cval, axes)


def _sigma_per_axis(sigma, axes, ndim):
    """sigma for every axis of the input (0 for the axes not filtered)."""
    sigma = _normalize_sequence(sigma, len(axes))
    if len(axes) < ndim:
        full = [0] * ndim
        for s, ax in zip(sigma, axes):
            full[ax] = s
        sigma = full
    return sigma


def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Laplace filter from Gaussian second derivatives; matches scipy.ndimage.gaussian_laplace
    (keyword arguments go to gaussian_filter)."""
    input = _array(input)

    def derivative2(input, axis, output, mode, cval, sigma):
        order = [0] * input.ndim
        order[axis] = 2
        return gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)

    axes = _check_axes(axes, input.ndim)
    sigma = _sigma_per_axis(sigma, axes, input.ndim)
    return _generic_laplace(input, derivative2, output, mode, cval, axes, sigma)


_POOL = threading.local()


def _scratch(xp, shape, dtype, use):
    """A scratch array of the calling thread, kept for its next call with the same shape: a fresh
    16 MB array per Dask chunk costs page faults (the kernel zeroing every page: a fifth of a Dask
    pipeline's time, its workers returning freed memory to the system at once), where the
    temporaries of these functions never leave them.  A few per use (chunk and frame-slab
    shapes)."""
    pool = getattr(_POOL, "arrays", None)
    if pool is None:
        pool = _POOL.arrays = {}
    key = (use, xp.__name__, tuple(shape), np.dtype(dtype).str)
    a = pool.get(key)
    if a is None:
        if len(pool) >= 16:
            pool.clear()
        a = pool[key] = xp.empty(shape, dtype)
    return a


def _gradient_magnitude(input, derivative, output, mode, cval, axes):
    """sqrt(sum over axes of derivative(input, axis, ...)^2) in output's dtype, in SciPy's order of
    operations (scipy.ndimage.generic_gradient_magnitude)."""
    output = _get_output(output, input)
    axes = _check_axes(axes, input.ndim)
    if len(axes) > 0:
        modes = _normalize_sequence(mode, len(axes))
        xp = get_array_module(output)
        derivative(input, axes[0], output, modes[0], cval)
        xp.multiply(output, output, output)
        # (scipy passes output.dtype; an array of it is within derivative's contract.  Real floats only:
        # a complex derivative into an array loses the sign of its zeros, which sqrt would show)
        real = output.dtype.kind == "f"
        for ii in range(1, len(axes)):
            tmp = derivative(input, axes[ii], _scratch(xp, output.shape, output.dtype, "magnitude") if real else
                             output.dtype, modes[ii], cval)
            xp.multiply(tmp, tmp, tmp)
            output += tmp
        if xp is np:
            np.sqrt(output, output, casting="unsafe")
        else:  # (the same loop and conversion)
            output[...] = xp.sqrt(output)
    else:
        output[...] = input[...]
    return output


def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Gradient magnitude from Gaussian first derivatives; matches
    scipy.ndimage.gaussian_gradient_magnitude (keyword arguments go to gaussian_filter)."""
    input = _array(input)

    def derivative(input, axis, output, mode, cval):
        order = [0] * input.ndim
        order[axis] = 1
        return gaussian_filter(input, sigma, order, output, mode, cval, **kwargs)

    return _gradient_magnitude(input, derivative, output, mode, cval, axes)


def generic_gradient_magnitude(input, derivative, output=None, mode="reflect", cval=0.0, extra_arguments=(),
                               extra_keywords=None, *, axes=None):
    """Gradient magnitude from a first-derivative filter, the square root of the sum over the axes of
    ``derivative(input, axis, output, mode, cval, *extra_arguments, **extra_keywords) ** 2``;
    matches scipy.ndimage.generic_gradient_magnitude (the Sobel magnitude is
    ``generic_gradient_magnitude(x, fastconv.ndimage.sobel)``).  On a Dask array the
    derivative must be fastconv.ndimage.sobel or prewitt (a callable's reach is unknown); the
    derivatives and the magnitude of a chunk run in one task, and on the output of another
    fastconv.ndimage filter both run in one task per chunk (the intermediate is never stored)."""
    input = _array(input)
    if not callable(derivative):
        raise TypeError(f"derivative must be callable; received {type(derivative).__name__}")
    extra_keywords = {} if extra_keywords is None else extra_keywords

    def deriv(input, axis, output, mode, cval):
        return derivative(input, axis, output, mode, cval, *extra_arguments, **extra_keywords)

    return _gradient_magnitude(input, deriv, output, mode, cval, axes)


# ---- N-D correlation ------------------------------------------------------------------------


def _expand_to_ndim(ndim, axes, weights, origin):
    """weights with axes of length 1 inserted for the axes not filtered, and the origin of every axis."""
    num_axes = len(axes)
    origins = _normalize_sequence(origin, num_axes)
    if num_axes < ndim:
        if weights.ndim != num_axes:
            raise RuntimeError(f"weights.ndim ({weights.ndim}) must match len(axes) ({num_axes})")
        weights = np.expand_dims(weights, tuple(ax for ax in range(ndim) if ax not in axes))
        full = [0] * ndim
        for o, ax in zip(origins, axes):
            full[ax] = o
        origins = full
    return weights, origins


def _correlate_or_convolve(input, weights, output, mode, cval, origin, convolution, axes):
    input = _array(input)
    weights = _host_weights(input, weights)
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c" and not convolution:
            # scipy.signal.correlate conjugates its second operand; so does ndimage.correlate
            weights = weights.conj()
        output = _get_output(output, input, complex_output=True)
        return _complex_via_real_components(_correlate_or_convolve, input, weights, output, cval, mode=mode,
                                            origin=origin, convolution=convolution, axes=axes)
    axes = _check_axes(axes, input.ndim)
    weights = np.asarray(weights, dtype=np.float64)
    weights, origins = _expand_to_ndim(input.ndim, axes, weights, origin)
    wshape = [ii for ii in weights.shape if ii > 0]
    if len(wshape) != input.ndim:
        raise RuntimeError(f"weights.ndim ({len(wshape)}) must match len(axes) ({len(axes)}); received weights "
                           f"of shape {weights.shape}")
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        for ii in range(len(origins)):
            origins[ii] = -origins[ii]
            if not weights.shape[ii] & 1:
                origins[ii] -= 1
    for o, lenw in zip(origins, wshape):
        if _invalid_origin(o, lenw):
            raise ValueError(f"Invalid origin; origin must satisfy -(weights.shape[k] // 2) <= origin[k] <= "
                             f"(weights.shape[k]-1) // 2; received origin={origin!r} for weights of shape "
                             f"{weights.shape}")
    origins = [operator.index(o) for o in origins]
    output = _get_output(output, input)
    if not isinstance(mode, str) and isinstance(mode, Iterable):
        raise RuntimeError(f"A sequence of modes is not supported; received mode={mode!r}")
    _correlate_nd(input, weights, output, _mode_code(mode), cval, origins)
    return output


def _correlate_nd(input, weights, output, mode, cval, origins):
    """output = input correlated with weights (input.ndim axes) under mode, as SciPy's NI_Correlate."""
    _check_array_type(input)
    _check_array_type(output)
    cval = _as_cval(cval)
    xp = get_array_module(input)
    if input.size == 0:
        return
    if input.ndim == 0:
        value = xp.asarray(_as_float64(input) * weights[()] if abs(weights[()]) > _DBL_EPSILON else 0.0)
        output[...] = value if _is_float(output.dtype) else _to_output_dtype(value, output.dtype)
        return
    # SciPy's footprint: the weights farther than DBL_EPSILON from zero
    footprint = np.abs(weights) > _DBL_EPSILON
    long_axes = [ax for ax in range(input.ndim) if weights.shape[ax] > 1]
    if _is_float(output.dtype) and len(long_axes) <= 2 and footprint.any() and \
            (footprint.all() or bool(xp.isfinite(input).all())):
        if len(long_axes) <= 1:
            axis = long_axes[0] if long_axes else input.ndim - 1
            w = weights.reshape(-1)
            _passes(input, output, [(axis, w, origins[axis], mode, "taps")], cval)
        else:
            _filter2d(input, weights, output, mode, cval, origins, long_axes)
        return
    # a float64 sum over the footprint's taps in C order (SciPy's order)
    x = _as_float64(input)
    for ax in range(input.ndim):
        K = weights.shape[ax]
        if K > 1:
            x = _extend(x, ax, K // 2 + origins[ax], K - 1 - K // 2 - origins[ax], mode, cval)
    acc = xp.zeros(input.shape)
    for tap in zip(*np.nonzero(footprint)):
        acc += x[tuple(slice(t, t + n) for t, n in zip(tap, input.shape))] * weights[tap]
    output[...] = acc if _is_float(output.dtype) else _to_output_dtype(acc, output.dtype)


def _filter2d(input, weights, output, mode, cval, origins, long_axes):
    """A kernel with two long axes: fastconv's 2-D correlation of the extended planes."""
    a, b = long_axes
    xp = get_array_module(input)
    dtype = np.float32 if input.dtype == output.dtype == np.float32 else np.float64
    x = xp.moveaxis(input if input.dtype == dtype else _as_float64(input), (a, b), (-2, -1))
    k = np.moveaxis(weights, (a, b), (-2, -1)).reshape(weights.shape[a], weights.shape[b]).astype(dtype)
    k = contiguous(xp.asarray(k))
    for ax, K, o in ((-2, k.shape[0], origins[a]), (-1, k.shape[1], origins[b])):
        x = _extend(x, x.ndim + ax, K // 2 + o, K - 1 - K // 2 - o, mode, cval)
    x = contiguous(x)
    H, W = input.shape[a], input.shape[b]
    N = input.size // (H * W)
    y = xp.empty(x.shape[:-2] + (H, W), dtype)
    geom = (N, x.shape[-2], x.shape[-1], H, W, k.shape[0], k.shape[1], 0, 0, _core.BOUNDARY_FILL)
    _backend.kernels(xp).filter2d_forward(y, x, k, 0.0, geom, False, _threads.current())
    output[...] = xp.moveaxis(y, (-2, -1), (a, b))


def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D correlation; matches scipy.ndimage.correlate (same arguments)."""
    return _correlate_or_convolve(input, weights, output, mode, cval, origin, False, axes)


def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D convolution; matches scipy.ndimage.convolve (same arguments)."""
    return _correlate_or_convolve(input, weights, output, mode, cval, origin, True, axes)


# ---- Dask arrays -----------------------------------------------------------------------------
# A Dask array input gives a lazy Dask array: each chunk filtered with the halo the filter reaches
# (fastconv._dask.halo_filter), so the result does not depend on the chunking.  The reach is
# counted generously (one more than the kernel's half-width plus the origin's shift).


def _axes_of(ndim, axes):
    return list(range(ndim)) if axes is None else [normalize_axis_index(operator.index(a), ndim)
                                                   for a in ((axes,) if np.ndim(axes) == 0 else axes)]


def _per_axis(value, n):
    return [value] * n if isinstance(value, str) or np.ndim(value) == 0 else list(value)


def _gauss_reach(sigma, truncate, radius):
    return (int(radius) if radius is not None else int(float(truncate) * float(sigma) + 0.5)) + 1


def _reach(name, ndim, a):
    """(depths, modes) per axis of an input of rank ndim for call arguments a."""
    depths, modes = [0] * ndim, ["reflect"] * ndim
    if name in ("correlate1d", "convolve1d", "gaussian_filter1d", "uniform_filter1d"):
        axis = normalize_axis_index(operator.index(a["axis"]), ndim)
        if name == "gaussian_filter1d":
            depths[axis] = _gauss_reach(a["sigma"], a["truncate"], a["radius"])
        else:
            n = int(a["size"]) if name == "uniform_filter1d" else len(np.asarray(a["weights"]).reshape(-1))
            depths[axis] = n // 2 + abs(int(a["origin"])) + 1
        modes[axis] = a["mode"]
        return depths, modes
    if name == "generic_gradient_magnitude":
        d = a["derivative"]
        if d not in (sobel, prewitt, _RAW.get("sobel"), _RAW.get("prewitt")) or a["extra_arguments"] or \
                a["extra_keywords"]:
            raise TypeError("on a Dask array, generic_gradient_magnitude's derivative must be "
                            "fastconv.ndimage.sobel or fastconv.ndimage.prewitt, without extra arguments (the "
                            "halo a chunk needs is known for those only); received "
                            f"{getattr(d, '__name__', type(d).__name__)}")
    axes = list(range(ndim)) if name in ("sobel", "prewitt") else _axes_of(ndim, a.get("axes"))
    mode = _per_axis(a["mode"], len(axes))
    if name in ("gaussian_filter", "gaussian_laplace", "gaussian_gradient_magnitude"):
        extra = a.get("kwargs", {})
        truncate = a.get("truncate", extra.get("truncate", 4.0))
        radius = _per_axis(a.get("radius", extra.get("radius")), len(axes))
        reach = [_gauss_reach(s, truncate, r) for s, r in zip(_per_axis(a["sigma"], len(axes)), radius)]
    elif name == "uniform_filter":
        reach = [int(s) // 2 + abs(int(o)) + 1 for s, o in zip(_per_axis(a["size"], len(axes)),
                                                                _per_axis(a["origin"], len(axes)))]
    elif name in ("correlate", "convolve"):
        w = np.asarray(a["weights"])
        reach = [n // 2 + abs(int(o)) + 1 for n, o in zip(w.shape, _per_axis(a["origin"], len(axes)))]
    else:  # sobel, prewitt, laplace: 3-tap stencils
        reach = [2] * len(axes)
    for ax, d, m in zip(axes, reach, mode):
        depths[ax], modes[ax] = d, m
    return depths, modes


def _dask_aware(func):
    """func, taking a Dask array input to a lazy Dask array (see above)."""
    import inspect

    from . import _dask

    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        x = args[0] if args else kwargs.get("input")
        if not _dask.is_dask_array(x):
            return func(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        output = a.get("output")
        if output is not None and not isinstance(output, (type, np.dtype, str)):
            raise TypeError("output must be None or a dtype for a Dask array input (the result is a lazy Dask "
                            "array)")
        if "weights" in a:
            a["weights"] = _dask.on_chunks_device(a["weights"], "weights", x)
        rest = {k: v for k, v in a.items() if k not in ("input", "kwargs")}
        rest.update(a.get("kwargs", {}))
        call = functools.partial(func, **rest)
        depths, modes = _reach(func.__name__, x.ndim, a)
        # the arguments checked, and the result dtype learnt, on a one-element input of x's dtype and rank
        sample = call(get_array_module(x._meta).zeros((1,) * x.ndim, x.dtype))
        wraps = [m in ("wrap", "grid-wrap") for m in modes]
        made = _PRODUCED.get(x.name) if func.__name__ == "generic_gradient_magnitude" else None
        if made is not None and made[5] == wraps:
            # x is another fastconv.ndimage filter's output: both in one task per chunk of x's source
            # (rebuilt from x's graph, which holds it), with both halos (the intermediate is exact
            # wherever the second filter reads it)
            first, src_name, src_chunks, src_meta, src_depths = made[:5]
            import dask.array as da

            from dask.core import flatten

            graph = x.dask if src_name in x.dask.layers else dict(x.__dask_graph__())
            src = da.Array(graph, src_name, src_chunks, meta=src_meta)
            # (only where x's graph holds the source's blocks as tasks of their own: a wrap axis's
            # windows gathered into delayed tasks hold them inside those, and the rebuilt source
            # would miss them; then the two filters run one after the other)
            if src_name in x.dask.layers or all(k in graph for k in flatten(src.__dask_keys__())):
                return _dask.halo_filter(functools.partial(_fused, first, call, x.dtype), src,
                                         [d + e for d, e in zip(depths, src_depths)], wraps, sample.dtype)
        out = _dask.halo_filter(call, x, depths, wraps, sample.dtype)
        _PRODUCED[out.name] = (call, x.name, x.chunks, x._meta, depths, wraps)
        while len(_PRODUCED) > 256:
            _PRODUCED.popitem(last=False)
        return out

    return wrapper


def _fused(first, second, dtype, window):
    """second(first(window)), first's output in a scratch array (the intermediate never leaves the
    task)."""
    return second(first(window, output=_scratch(get_array_module(window), window.shape, dtype, "fused")))


# The halo filters made, by their output's name: (call, input's name, chunks, meta, depths, wraps), so
# that generic_gradient_magnitude can fuse with the filter that made its input; the last 256 (names
# and small tuples: no arrays held, so nothing a cluster has persisted is kept alive)
_PRODUCED: "collections.OrderedDict[str, tuple]" = collections.OrderedDict()
_RAW = {}


for _name in __all__:
    _RAW[_name] = globals()[_name]
    globals()[_name] = _dask_aware(globals()[_name])
del _name
