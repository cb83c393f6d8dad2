"""Pooling with PyTorch's semantics (NCHW / NCL, and unbatched CHW / CL).

Max and average pooling, 1-D and 2-D, forward and backward; the stride
defaults to the kernel size, padding is at most half the (dilated) kernel,
max pooling pads with -inf, ``ceil_mode`` as in PyTorch.  Max indices are
flat within each (image, channel) plane, int64, as torch returns them.

NaN: a window containing NaN gives NaN, and its index points at the last NaN
in the window (row-major order), as PyTorch's CPU kernel does; otherwise the
index is that of the first maximum.  A window that dilation makes skip every
input element (all its taps in the padding) gives -inf and index -1, which
the backward skips (PyTorch returns an index outside the plane there).  Average pooling propagates NaN / Inf like
the sum it is.  CuPy arrays run on the GPU (fastconv._gpu.pool), with the same
semantics.
"""
import math

import numpy as np

from . import _threads
from . import _backend, _dask
from ._cache import PlanCache, plain
from ._ext import _fastconv as _core
from ._backend import get_array_module, is_array
from ._validation import (
    MAX_EXTENT,
    as_float_array,
    check_ndim,
    check_nonempty,
    contiguous,
    finish,
    int_tuple,
    result_array,
    shape_tuple,
)

__all__ = [
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
]

_LAYOUT = {1: "(N, C, L) or unbatched (C, L)", 2: "(N, C, H, W) or unbatched (C, H, W)"}
# (op, the arguments as given, x's shape and dtype) -> (output shape, kernel
# geometry[, option]): a repeated call on NumPy arrays skips the checks that
# the key already vouches for
_PLANS = PlanCache()


def _ready(x):
    """x is a NumPy array the kernels read as it is."""
    if type(x) is not np.ndarray:
        return False
    flags = x.flags
    return flags.c_contiguous and flags.aligned


def _as_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; received {type(value).__name__} {value!r}")
    return bool(value)


def _output_size(n, k, s, p, d, ceil_mode):
    """torch's pooling_output_shape."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window would start in the right padding
    return out


def _geometry(nd, spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """(k, s, p, d, out) per spatial axis, checked like torch."""
    k = int_tuple(kernel_size, nd, "kernel_size", 1)
    s = k if stride is None else int_tuple(stride, nd, "stride", 1)
    p = int_tuple(padding, nd, "padding", 0)
    d = int_tuple(dilation, nd, "dilation", 1)
    ceil_mode = _as_bool(ceil_mode, "ceil_mode")
    out = []
    for i in range(nd):
        eff = d[i] * (k[i] - 1) + 1
        if eff >= MAX_EXTENT:
            # the kernels index in int64: window spans stay below 2**62 so sums of two fit
            raise ValueError(f"kernel_size {kernel_size!r} with dilation {dilation!r} is too large: the window "
                             f"spans {eff} positions along spatial axis {i}, beyond the kernels' 64-bit range "
                             f"(2**62)")
        if 2 * p[i] > eff:
            raise ValueError(f"padding must be at most half the (dilated) kernel size, {eff}; "
                             f"received padding={padding!r} with kernel_size={kernel_size!r}")
        o = _output_size(spatial[i], k[i], s[i], p[i], d[i], ceil_mode)
        if o < 1:
            raise ValueError(f"the pooling window ({eff} with dilation) does not fit the input "
                             f"({spatial[i]} plus padding {p[i]}) along spatial axis {i}")
        out.append(o)
    return k, s, p, d, tuple(out)


def _pool_geom(nd, planes, spatial, k, s, p, d, out):
    if nd == 1:
        return (planes, 1, spatial[0], 1, out[0], 1, k[0], 1, s[0], 0, p[0], 1, d[0])
    return (planes, spatial[0], spatial[1], out[0], out[1], k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1])


def _check_x(x, nd, xp):
    x = as_float_array(x, "x", xp)
    check_ndim(x, "x", (nd + 1, nd + 2), _LAYOUT[nd])
    check_nonempty(x, "x")
    return x


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_plane_size(nd, spatial, dtype):
    # float32 kernels track indices in 32-bit vector lanes
    n = math.prod(spatial)
    if dtype == np.float32 and n >= 2**31:
        raise ValueError(f"max pooling of float32 planes of {n} >= 2**31 elements is not supported; "
                         "use float64")


def _dask_pool(nd, x, osz, out, fn, dtype=None):
    """fn over a Dask array x: a lazy Dask array, chunk by chunk along the
    leading (batch, channel) axes, each plane read whole (the spatial axes
    are rechunked to one chunk)."""
    if out is not None:
        raise TypeError("out= is not supported for Dask arrays (the result is a lazy Dask array)")
    lead = x.ndim - nd
    specs = [(_dask._SAME,)] * lead + [(_dask._WHOLE, n) for n in osz]
    return _dask.blockwise(lambda block, ranges: fn(block), x, specs, x.dtype if dtype is None else dtype)


def _dask_check(nd, x):
    """x's rank and dtype checked as the NumPy path checks them (on a one-element sample)."""
    module = get_array_module(x._meta)
    as_float_array(module.zeros((1,), x.dtype), "x", module)
    check_ndim(x, "x", (nd + 1, nd + 2), _LAYOUT[nd])
    check_nonempty(x, "x")


def _max_pool(nd, x, kernel_size, stride, padding, ceil_mode, return_indices, dilation, out):
    if _dask.is_dask_array(x):
        _dask_check(nd, x)
        return_indices = _as_bool(return_indices, "return_indices")
        k, s, p, d, osz = _geometry(nd, x.shape[-nd:], kernel_size, stride, padding, dilation, ceil_mode)
        _check_plane_size(nd, x.shape[-nd:], x.dtype)
        call = lambda b, r: _max_pool(nd, b, kernel_size, stride, padding, ceil_mode, r, dilation, None)
        y = _dask_pool(nd, x, osz, out, lambda b: call(b, False))
        if not return_indices:
            return y
        # (the indices' graph runs the pooling again: they are within each plane, so blocks keep them)
        return y, _dask_pool(nd, x, osz, None, lambda b: call(b, True)[1], np.dtype(np.int64))
    if out is None and _ready(x) and (return_indices is True or return_indices is False) and \
            (ceil_mode is True or ceil_mode is False) and plain(kernel_size, stride, padding, dilation):
        key = ("max", nd, x.shape, x.dtype, kernel_size, stride, padding, ceil_mode, dilation)
        plan = _PLANS.get(key)
        if plan is not None:
            yshape, geom = plan
            y = np.empty(yshape, x.dtype)
            idx = np.empty(yshape, np.int64) if return_indices else None
            _core.max_pool2d_forward(y, idx, x, geom, _threads.current())
            return (y, idx) if return_indices else y
    xp = get_array_module(x, *(out if isinstance(out, tuple) else (out,)))
    x = _check_x(x, nd, xp)
    return_indices = _as_bool(return_indices, "return_indices")
    spatial = x.shape[-nd:]
    k, s, p, d, osz = _geometry(nd, spatial, kernel_size, stride, padding, dilation, ceil_mode)
    _check_plane_size(nd, spatial, x.dtype)
    yshape = x.shape[:-nd] + osz
    planes = math.prod(x.shape[:-nd])
    geom = _pool_geom(nd, planes, spatial, k, s, p, d, osz)
    if xp is np and plain(kernel_size, stride, padding, dilation):
        _PLANS.put(("max", nd, x.shape, x.dtype, kernel_size, stride, padding, ceil_mode, dilation), (yshape, geom))
    if return_indices:
        if out is not None and not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("with return_indices=True, out must be a pair (values, indices)")
        yo, io = (None, None) if out is None else out
        y, yret = result_array(yshape, x.dtype, yo, (x,), xp)
        idx, iret = result_array(yshape, np.dtype(np.int64), io, (x, y), xp)
    else:
        y, yret = result_array(yshape, x.dtype, out, (x,), xp)
        idx = iret = None
    _backend.kernels(xp).max_pool2d_forward(y, idx, contiguous(x), geom, _threads.current())
    if return_indices:
        return finish(y, yret), finish(idx, iret)
    return finish(y, yret)


def _dask_planes(a, nd, chunks=None):
    """a chunked along its leading (batch, channel) axes only, or as chunks."""
    return a.rechunk(chunks if chunks is not None else {i: -1 for i in range(a.ndim - nd, a.ndim)})


def _dask_backward(nd, grad_out, input_shape, out, fn, *more):
    """A pooling gradient of Dask arrays: plane block by plane block."""
    import dask.array as da

    if out is not None:
        raise TypeError("out= is not supported for Dask arrays (the result is a lazy Dask array)")
    check_ndim(grad_out, "grad_out", (nd + 1, nd + 2), _LAYOUT[nd])
    input_shape = shape_tuple(input_shape, grad_out.ndim, "input_shape")
    dy = _dask_planes(grad_out, nd)
    more = [_dask_planes(m if _dask.is_dask_array(m) else da.from_array(m, chunks=-1), nd, dy.chunks)
            if m.shape == dy.shape else m for m in more]
    return da.map_blocks(lambda b, *m: fn(b, b.shape[:-nd] + input_shape[-nd:], *m), dy, *more,
                         chunks=dy.chunks[:-nd] + tuple((n,) for n in input_shape[-nd:]), dtype=dy.dtype)


def _max_pool_backward(nd, grad_out, indices, input_shape, out):
    if _dask.any_dask(grad_out, indices):
        if not (hasattr(indices, "shape") and hasattr(grad_out, "shape")) or indices.shape != grad_out.shape:
            raise ValueError("indices must have grad_out's shape")
        return _dask_backward(nd, grad_out, input_shape, out,
                              lambda b, shape, i: _max_pool_backward(nd, b, i, shape, None), indices)
    xp = get_array_module(grad_out, indices, out)
    grad_out = as_float_array(grad_out, "grad_out", xp)
    check_ndim(grad_out, "grad_out", (nd + 1, nd + 2), _LAYOUT[nd])
    check_nonempty(grad_out, "grad_out")
    if not is_array(indices):
        indices = xp.asarray(indices)
    if indices.dtype != np.int64:
        raise TypeError(f"indices must have dtype int64 (as max_pool{nd}d returns them); "
                        f"received dtype {indices.dtype}")
    if indices.shape != grad_out.shape:
        raise ValueError(f"indices must have grad_out's shape {grad_out.shape}; received shape {indices.shape}")
    input_shape = shape_tuple(input_shape, grad_out.ndim, "input_shape")
    if input_shape[:-nd] != grad_out.shape[:-nd]:
        raise ValueError(f"input_shape {input_shape} and grad_out {grad_out.shape} must agree on the "
                         f"leading (batch, channel) sizes")
    planes = int(np.prod(grad_out.shape[:-nd]))
    spatial, osz = input_shape[-nd:], grad_out.shape[-nd:]
    geom = _pool_geom(nd, planes, spatial, (1,) * nd, (1,) * nd, (0,) * nd, (1,) * nd, osz)
    dx, ret = result_array(input_shape, grad_out.dtype, out, (grad_out, indices), xp)
    _backend.kernels(xp).max_pool2d_backward(dx, contiguous(grad_out), contiguous(indices), geom, _threads.current())
    return finish(dx, ret)


def _avg_pool(nd, x, kernel_size, stride, padding, count_include_pad, ceil_mode, out):
    if _dask.is_dask_array(x):
        _dask_check(nd, x)
        _as_bool(count_include_pad, "count_include_pad")
        osz = _geometry(nd, x.shape[-nd:], kernel_size, stride, padding, 1, ceil_mode)[-1]
        return _dask_pool(nd, x, osz, out, lambda b: _avg_pool(nd, b, kernel_size, stride, padding,
                                                               count_include_pad, ceil_mode, None))
    if out is None and _ready(x) and (count_include_pad is True or count_include_pad is False) and \
            (ceil_mode is True or ceil_mode is False) and plain(kernel_size, stride, padding):
        plan = _PLANS.get(("avg", nd, x.shape, x.dtype, kernel_size, stride, padding, count_include_pad, ceil_mode))
        if plan is not None:
            yshape, geom, include = plan
            y = np.empty(yshape, x.dtype)
            _core.avg_pool2d_forward(y, x, geom, include, _threads.current())
            return y
    xp = get_array_module(x, out)
    x = _check_x(x, nd, xp)
    include = _as_bool(count_include_pad, "count_include_pad")
    spatial = x.shape[-nd:]
    k, s, p, d, osz = _geometry(nd, spatial, kernel_size, stride, padding, 1, ceil_mode)
    geom = _pool_geom(nd, math.prod(x.shape[:-nd]), spatial, k, s, p, d, osz)
    yshape = x.shape[:-nd] + osz
    if xp is np and plain(kernel_size, stride, padding):
        _PLANS.put(("avg", nd, x.shape, x.dtype, kernel_size, stride, padding, count_include_pad, ceil_mode),
                   (yshape, geom, include))
    y, ret = result_array(yshape, x.dtype, out, (x,), xp)
    _backend.kernels(xp).avg_pool2d_forward(y, contiguous(x), geom, include, _threads.current())
    return finish(y, ret)


def _avg_pool_backward(nd, grad_out, input_shape, kernel_size, stride, padding, count_include_pad,
                       ceil_mode, out):
    if _dask.is_dask_array(grad_out):
        return _dask_backward(nd, grad_out, input_shape, out, lambda b, shape: _avg_pool_backward(
            nd, b, shape, kernel_size, stride, padding, count_include_pad, ceil_mode, None))
    xp = get_array_module(grad_out, out)
    grad_out = as_float_array(grad_out, "grad_out", xp)
    check_ndim(grad_out, "grad_out", (nd + 1, nd + 2), _LAYOUT[nd])
    check_nonempty(grad_out, "grad_out")
    include = _as_bool(count_include_pad, "count_include_pad")
    input_shape = shape_tuple(input_shape, grad_out.ndim, "input_shape")
    spatial = input_shape[-nd:]
    k, s, p, d, osz = _geometry(nd, spatial, kernel_size, stride, padding, 1, ceil_mode)
    expected = input_shape[:-nd] + osz
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the pooling's output shape {expected} for "
                         f"input_shape={input_shape}; received shape {grad_out.shape}")
    planes = int(np.prod(input_shape[:-nd]))
    dx, ret = result_array(input_shape, grad_out.dtype, out, (grad_out,), xp)
    _backend.kernels(xp).avg_pool2d_backward(dx, contiguous(grad_out), _pool_geom(nd, planes, spatial, k, s, p, d, osz),
                            include, _threads.current())
    return finish(dx, ret)


# ---- public functions ------------------------------------------------------------------


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_indices=False, *,
               dilation=1, out=None):
    """2-D max pooling; matches torch.nn.functional.max_pool2d.

    Returns y, or (y, indices) with return_indices=True (int64, flat within
    each H x W plane).  out: y's array, or a pair (y, indices)."""
    return _max_pool(2, x, kernel_size, stride, padding, ceil_mode, return_indices, dilation, out)


def max_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_indices=False, *,
               dilation=1, out=None):
    """1-D max pooling; matches torch.nn.functional.max_pool1d."""
    return _max_pool(1, x, kernel_size, stride, padding, ceil_mode, return_indices, dilation, out)


def max_pool2d_backward(grad_out, indices, input_shape, *, out=None):
    """Gradient of max_pool2d: grad_out scattered (added) to the positions in
    indices.  Any indices in range are accepted, as torch does; -1 (a window
    without input elements) is skipped; any other index outside its plane is
    a ValueError."""
    return _max_pool_backward(2, grad_out, indices, input_shape, out)


def max_pool1d_backward(grad_out, indices, input_shape, *, out=None):
    """Gradient of max_pool1d (see max_pool2d_backward)."""
    return _max_pool_backward(1, grad_out, indices, input_shape, out)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True, *, ceil_mode=False,
               out=None):
    """2-D average pooling; matches torch.nn.functional.avg_pool2d (its
    divisor: the window clipped to the padded input, or to the input when
    count_include_pad is False)."""
    return _avg_pool(2, x, kernel_size, stride, padding, count_include_pad, ceil_mode, out)


def avg_pool1d(x, kernel_size, stride=None, padding=0, count_include_pad=True, *, ceil_mode=False,
               out=None):
    """1-D average pooling; matches torch.nn.functional.avg_pool1d."""
    return _avg_pool(1, x, kernel_size, stride, padding, count_include_pad, ceil_mode, out)


def avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True,
                        *, ceil_mode=False, out=None):
    """Gradient of avg_pool2d with respect to its input."""
    return _avg_pool_backward(2, grad_out, input_shape, kernel_size, stride, padding, count_include_pad,
                              ceil_mode, out)


def avg_pool1d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True,
                        *, ceil_mode=False, out=None):
    """Gradient of avg_pool1d with respect to its input."""
    return _avg_pool_backward(1, grad_out, input_shape, kernel_size, stride, padding, count_include_pad,
                              ceil_mode, out)


def global_avg_pool2d(x, *, keepdims=False, out=None):
    """Mean over H and W: (N, C, H, W) -> (N, C), or (N, C, 1, 1) with keepdims
    (Keras' GlobalAveragePooling2D; torch's adaptive_avg_pool2d(x, 1)).  A
    Dask array x gives a lazy Dask array."""
    if _dask.is_dask_array(x):
        _dask_check(2, x)
        keepdims = _as_bool(keepdims, "keepdims")
        if out is not None:
            raise TypeError("out= is not supported for Dask arrays (the result is a lazy Dask array)")
        y = _dask_pool(2, x, (1, 1), None, lambda b: global_avg_pool2d(b, keepdims=True))
        return y if keepdims else y[..., 0, 0]
    if out is None and _ready(x) and x.dtype in _FLOATS and x.size and 3 <= x.ndim <= 4 and \
            (keepdims is False or keepdims is True):
        lead = x.shape[:-2]
        y = np.empty(lead + ((1, 1) if keepdims else ()), x.dtype)
        _core.global_avg_pool_forward(y, x, math.prod(lead), x.shape[-2] * x.shape[-1], _threads.current())
        return y
    xp = get_array_module(x, out)
    x = as_float_array(x, "x", xp)
    check_ndim(x, "x", (3, 4), _LAYOUT[2])
    check_nonempty(x, "x")
    keepdims = _as_bool(keepdims, "keepdims")
    lead = x.shape[:-2]
    y, ret = result_array(lead + ((1, 1) if keepdims else ()), x.dtype, out, (x,), xp)
    _backend.kernels(xp).global_avg_pool_forward(y, contiguous(x), math.prod(lead), x.shape[-2] * x.shape[-1],
                                                 _threads.current())
    return finish(y, ret)


def global_avg_pool2d_backward(grad_out, input_shape, *, out=None):
    """Gradient of global_avg_pool2d: grad_out / (H * W) over each plane.
    grad_out: (N, C) or (N, C, 1, 1) (keepdims), or the unbatched forms."""
    xp = get_array_module(grad_out, out)
    grad_out = as_float_array(grad_out, "grad_out", xp)
    n = len(input_shape) if isinstance(input_shape, (tuple, list)) else 4
    input_shape = shape_tuple(input_shape, n if n in (3, 4) else 4, "input_shape")
    lead = input_shape[:-2]
    if grad_out.shape not in (lead, lead + (1, 1)):
        raise ValueError(f"grad_out must have shape {lead} or {lead + (1, 1)} for input_shape="
                         f"{input_shape}; received shape {grad_out.shape}")
    dx, ret = result_array(input_shape, grad_out.dtype, out, (grad_out,), xp)
    _backend.kernels(xp).global_avg_pool_backward(dx, contiguous(grad_out), int(np.prod(lead)),
                                                  input_shape[-2] * input_shape[-1], _threads.current())
    return finish(dx, ret)
