"""Convolution for neural networks (PyTorch semantics, NCHW / NCL layouts).

Cross-correlation, as torch.nn.functional.conv1d / conv2d compute it, with
stride, padding (int, pair, "same", "valid"), dilation, groups and bias;
both gradients with torch.nn.grad.conv*d_input / conv*d_weight's argument
order; and conv_transpose2d.  Every function takes ``algorithm``: "direct",
"im2col" (GEMM), "fft" (channel sums in the frequency domain; see
_conv_fft) or "winograd" (F(4x4, 3x3), 3x3 stride-1 layers; stride-2
forwards by input phase; F(4, r) in 1-D), which agree to rounding, "auto"
(by shape, per backend), or "measure" (timed once on the real shapes; see
ConvPlan).  CuPy arrays run
the same algorithms on the GPU (fastconv._gpu.conv).

Each call checks its arrays, then takes its ConvPlan (geometry checked,
algorithms chosen) from a bounded cache keyed on everything that affects
the result, so a repeated call costs the array checks and the kernel.
"""
import numpy as np

from . import _dask
from ._backend import get_array_module
from ._cache import PlanCache, plain
from ._conv_plan import ConvPlan, geometry, run_grad_input
from ._validation import (
    as_float_array,
    as_int,
    check_ndim,
    check_nonempty,
    check_shape_size,
    contiguous,
    finish,
    int_tuple,
    result_array,
    same_dtype,
    shape_tuple,
)

__all__ = [
    "ConvPlan",
    "conv1d",
    "conv2d",
    "conv1d_grad_input",
    "conv1d_grad_weight",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "conv_transpose2d",
]

_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)"}
_WLAYOUT = {1: "(K, C/groups, S)", 2: "(K, C/groups, R, S)"}
_PLANS = PlanCache()


def _plan(key, input_shape, weight_shape, dtype, stride, padding, dilation, groups, algorithm):
    """The cached plan under key, made (and kept) on first use; arguments of
    other forms than plain ints / str / tuples get a plan of their own,
    uncached (its checks then raise what they should)."""
    if not plain(stride, padding, dilation, groups, algorithm):
        return ConvPlan(input_shape, weight_shape, dtype, stride, padding, dilation, groups, algorithm)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS.put(key, ConvPlan(input_shape, weight_shape, dtype, stride, padding, dilation, groups,
                                        algorithm))
    return plan


# ---- shared paths ------------------------------------------------------------------


def _check_input(x, nd, xp, name="x"):
    x = as_float_array(x, name, xp)
    check_ndim(x, name, (nd + 1, nd + 2), f"{_LAYOUT[nd]} or unbatched {_LAYOUT[nd].replace('N, ', '')}")
    check_nonempty(x, name)
    return x


def _check_weight(w, nd, ref, ref_name, xp, name="w"):
    w = as_float_array(w, name, xp)
    same_dtype(ref, ref_name, w, name)
    check_ndim(w, name, (nd + 2,), _WLAYOUT[nd])
    check_nonempty(w, name)
    return w


def _check_bias(bias, x, K, xp):
    bias = as_float_array(bias, "bias", xp)
    same_dtype(x, "x", bias, "bias")
    if bias.shape != (K,):
        raise ValueError(f"bias must have shape ({K},) (one per output channel); received shape {bias.shape}")
    return contiguous(bias)


def _dask_forward(nd, x, w, bias, stride, padding, dilation, groups, algorithm, out):
    """conv1d / conv2d of a Dask array x: a lazy Dask array, each output block
    from the input rows and columns its outputs read (any chunking of the
    batch and spatial axes; the channels are read whole), the padding at the
    array's edges passed to the block's call as padding, with the algorithm
    the whole-array call would choose."""
    if out is not None:
        raise TypeError("out= is not supported for Dask arrays (the result is a lazy Dask array)")
    w, bias = _dask.on_chunks_device(w, "w", x), _dask.on_chunks_device(bias, "bias", x)
    xp = get_array_module(x._meta)  # the blocks' module
    check_ndim(x, "x", (nd + 1, nd + 2), f"{_LAYOUT[nd]} or unbatched {_LAYOUT[nd].replace('N, ', '')}")
    plan = ConvPlan(x.shape, w.shape, x.dtype, stride, padding, dilation, groups, algorithm)
    ref = xp.empty((1,), x.dtype)
    w = _check_weight(w, nd, ref, "x", xp)
    if bias is not None:
        bias = _check_bias(bias, ref, w.shape[0], xp)
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = plan.geometry
    if algorithm in ("auto", "measure") and xp is np:
        algorithm = plan.algorithm["forward"]
    batched = x.ndim == nd + 2
    if not batched:
        x = x[None]
    specs = [(_dask._SAME,), (_dask._WHOLE, K)] + [(_dask._WINDOW, ph, sh, (R - 1) * dh + 1, P, "fill")] * (nd == 2)
    specs.append((_dask._WINDOW, pw, sw, (S - 1) * dw + 1, Q, "fill"))

    def block(window, ranges, pads):
        if 0 in window.shape:  # a block whose outputs read padding only
            window = get_array_module(window).zeros(window.shape[:2] + tuple(
                n + a + b for n, (a, b) in zip(window.shape[2:], pads[2:])), window.dtype)
            pads = ((0, 0),) * window.ndim
        return _forward(nd, window, w, bias, stride, tuple(pads[2:]), dilation, groups, algorithm, None)

    y = _dask.blockwise(block, x, specs, x.dtype, pad=False)
    return y if batched else y[0]


def _forward(nd, x, w, bias, stride, padding, dilation, groups, algorithm, out):
    if type(x) is np.ndarray and type(w) is np.ndarray and plain(stride, padding, dilation, groups, algorithm):
        plan = _PLANS.get((nd, x.shape, w.shape, x.dtype, w.dtype, stride, padding, dilation, groups, algorithm))
        if plan is not None:
            return plan.forward(x, w, bias, out)
    if _dask.any_dask(x, w, bias):
        return _dask_forward(nd, x, w, bias, stride, padding, dilation, groups, algorithm, out)
    xp = get_array_module(x, w, bias, out)
    x = _check_input(x, nd, xp)
    w = _check_weight(w, nd, x, "x", xp)
    key = (nd, x.shape, w.shape, x.dtype, w.dtype, stride, padding, dilation, groups, algorithm)
    plan = _plan(key, x.shape, w.shape, x.dtype, stride, padding, dilation, groups, algorithm)
    if bias is not None:
        bias = _check_bias(bias, x, w.shape[0], xp)
    return plan.forward(x, w, bias, out)


def _dask_batches(a, name, nd):
    """A Dask array's (N, ...) form chunked along N only (the other axes
    rechunked whole, lazily): the gradients run example block by example
    block."""
    check_ndim(a, name, (nd + 2,), _LAYOUT[nd] if name == "x" else _LAYOUT[nd].replace("C", "K"))
    return a.rechunk({i: -1 for i in range(1, a.ndim)})


def _dask_grad_input(nd, input_shape, w, grad_out, stride, padding, dilation, groups, algorithm, out):
    """The input gradient of a Dask grad_out: a lazy Dask array, one block
    per block of examples (each spatial plane whole)."""
    if out is not None:
        raise TypeError("out= is not supported for Dask arrays (the result is a lazy Dask array)")
    if _dask.is_dask_array(grad_out):
        w = _dask.on_chunks_device(w, "w", grad_out)
    _dask.not_dask(w, "w")
    input_shape = shape_tuple(input_shape, nd + 2, "input_shape")
    dy = _dask_batches(grad_out, "grad_out", nd)
    plan = ConvPlan(input_shape, w.shape, dy.dtype, stride, padding, dilation, groups, algorithm)
    if dy.shape != plan.output_shape:
        raise ValueError(f"grad_out must have the convolution's output shape {plan.output_shape} for "
                         f"input_shape={input_shape}; received shape {dy.shape}")
    return dy.map_blocks(lambda b: _grad_input(nd, (len(b),) + input_shape[1:], w, b, stride, padding, dilation,
                                               groups, algorithm, None),
                         chunks=(dy.chunks[0],) + tuple((n,) for n in input_shape[1:]), dtype=dy.dtype)


def _dask_grad_weight(nd, x, weight_shape, grad_out, stride, padding, dilation, groups, algorithm, out):
    """The weight gradient over Dask arrays: the blocks of examples' gradients,
    summed by a tree reduction (to rounding the whole batch's)."""
    import dask
    import dask.array as da

    if out is not None:
        raise TypeError("out= is not supported for Dask arrays (the result is a lazy Dask array)")
    weight_shape = shape_tuple(weight_shape, nd + 2, "weight_shape")
    x = _dask_batches(x if _dask.is_dask_array(x) else da.from_array(x, chunks=-1), "x", nd)
    plan = ConvPlan(x.shape, weight_shape, x.dtype, stride, padding, dilation, groups, algorithm)
    dy = grad_out if _dask.is_dask_array(grad_out) else da.from_array(grad_out, chunks=-1)
    if dy.shape != plan.output_shape or dy.dtype != x.dtype:
        raise ValueError(f"grad_out must have the convolution's output shape {plan.output_shape} and x's dtype "
                         f"{x.dtype}; received shape {dy.shape}, dtype {dy.dtype}")
    dy = dy.rechunk((x.chunks[0],) + tuple((n,) for n in dy.shape[1:]))
    call = dask.delayed(lambda xb, db: _grad_weight(nd, xb, weight_shape, db, stride, padding, dilation, groups,
                                                    algorithm, None), pure=True)
    parts = [da.from_delayed(call(xb, db), weight_shape, dtype=x.dtype)
             for xb, db in zip(x.to_delayed().ravel(), dy.to_delayed().ravel())]
    return da.stack(parts).sum(axis=0)


def _grad_input(nd, input_shape, w, grad_out, stride, padding, dilation, groups, algorithm, out):
    if _dask.any_dask(w, grad_out):
        return _dask_grad_input(nd, input_shape, w, grad_out, stride, padding, dilation, groups, algorithm, out)
    xp = get_array_module(w, grad_out, out)
    input_shape = shape_tuple(input_shape, nd + 2, "input_shape")
    grad_out = as_float_array(grad_out, "grad_out", xp)
    w = _check_weight(w, nd, grad_out, "grad_out", xp)
    check_ndim(grad_out, "grad_out", (nd + 2,), _LAYOUT[nd].replace("C", "K"))
    check_nonempty(grad_out, "grad_out")
    check_shape_size(input_shape, grad_out.dtype.itemsize, "input_shape")
    key = (nd, input_shape, w.shape, grad_out.dtype, stride, padding, dilation, groups, algorithm)
    plan = _plan(key, input_shape, w.shape, grad_out.dtype, stride, padding, dilation, groups, algorithm)
    if grad_out.shape != plan.output_shape:
        raise ValueError(f"grad_out must have the convolution's output shape {plan.output_shape} for "
                         f"input_shape={input_shape}; received shape {grad_out.shape}")
    return plan.grad_input(w, grad_out, out)


def _grad_weight(nd, x, weight_shape, grad_out, stride, padding, dilation, groups, algorithm, out):
    if _dask.any_dask(x, grad_out):
        return _dask_grad_weight(nd, x, weight_shape, grad_out, stride, padding, dilation, groups, algorithm, out)
    xp = get_array_module(x, grad_out, out)
    x = as_float_array(x, "x", xp)
    check_ndim(x, "x", (nd + 2,), _LAYOUT[nd])
    check_nonempty(x, "x")
    weight_shape = shape_tuple(weight_shape, nd + 2, "weight_shape")
    grad_out = as_float_array(grad_out, "grad_out", xp)
    same_dtype(x, "x", grad_out, "grad_out")
    check_ndim(grad_out, "grad_out", (nd + 2,), _LAYOUT[nd].replace("C", "K"))
    check_nonempty(grad_out, "grad_out")
    check_shape_size(weight_shape, x.dtype.itemsize, "weight_shape")
    key = (nd, x.shape, weight_shape, x.dtype, stride, padding, dilation, groups, algorithm)
    plan = _plan(key, x.shape, weight_shape, x.dtype, stride, padding, dilation, groups, algorithm)
    if grad_out.shape != plan.output_shape:
        raise ValueError(f"grad_out must have the convolution's output shape {plan.output_shape}; "
                         f"received shape {grad_out.shape}")
    return plan.grad_weight(x, grad_out, out)


# ---- public functions ------------------------------------------------------------------


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", *, out=None):
    """2-D convolution (cross-correlation); matches torch.nn.functional.conv2d.

    x (N, C, H, W) or unbatched (C, H, W); w (K, C/groups, R, S); bias (K,).
    padding: int, pair, "same" (stride 1; an odd total puts the extra row or
    column after, as PyTorch does) or "valid".  Returns (N, K, P, Q)."""
    return _forward(2, x, w, bias, stride, padding, dilation, groups, algorithm, out)


def conv1d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", *, out=None):
    """1-D convolution (cross-correlation); matches torch.nn.functional.conv1d.

    x (N, C, L) or unbatched (C, L); w (K, C/groups, S); bias (K,)."""
    return _forward(1, x, w, bias, stride, padding, dilation, groups, algorithm, out)


def conv2d_grad_input(input_shape, w, grad_out, stride=1, padding=0, dilation=1, groups=1,
                      algorithm="auto", *, out=None):
    """Gradient of conv2d with respect to its input; matches torch.nn.grad.conv2d_input."""
    return _grad_input(2, input_shape, w, grad_out, stride, padding, dilation, groups, algorithm, out)


def conv1d_grad_input(input_shape, w, grad_out, stride=1, padding=0, dilation=1, groups=1,
                      algorithm="auto", *, out=None):
    """Gradient of conv1d with respect to its input; matches torch.nn.grad.conv1d_input."""
    return _grad_input(1, input_shape, w, grad_out, stride, padding, dilation, groups, algorithm, out)


def conv2d_grad_weight(x, weight_shape, grad_out, stride=1, padding=0, dilation=1, groups=1,
                       algorithm="auto", *, out=None):
    """Gradient of conv2d with respect to its weight; matches torch.nn.grad.conv2d_weight.

    The bias gradient is grad_out.sum((0, 2, 3))."""
    return _grad_weight(2, x, weight_shape, grad_out, stride, padding, dilation, groups, algorithm, out)


def conv1d_grad_weight(x, weight_shape, grad_out, stride=1, padding=0, dilation=1, groups=1,
                       algorithm="auto", *, out=None):
    """Gradient of conv1d with respect to its weight; matches torch.nn.grad.conv1d_weight."""
    return _grad_weight(1, x, weight_shape, grad_out, stride, padding, dilation, groups, algorithm, out)


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     algorithm="auto", *, out=None):
    """Transposed 2-D convolution; matches torch.nn.functional.conv_transpose2d
    (argument order and weight layout (C, K/groups, R, S) included).

    x (N, C, H, W) or unbatched (C, H, W).  Output size along each axis:
    (H - 1) * stride - 2 * padding + dilation * (R - 1) + output_padding + 1."""
    xp = get_array_module(x, w, bias, out)
    x = _check_input(x, 2, xp)
    w = _check_weight(w, 2, x, "x", xp)
    unbatched = x.ndim == 3
    xb = x[None] if unbatched else x
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1; received {groups}")
    if w.shape[0] != xb.shape[1]:
        raise ValueError(f"w.shape[0] ({w.shape[0]}) must equal the input channels ({xb.shape[1]}); "
                         "w has layout (C_in, C_out/groups, R, S)")
    stride = int_tuple(stride, 2, "stride", 1)
    dilation = int_tuple(dilation, 2, "dilation", 1)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int or a pair of ints for conv_transpose2d; received {padding!r}")
    padding = int_tuple(padding, 2, "padding", 0)
    output_padding = int_tuple(output_padding, 2, "output_padding", 0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"output_padding must be smaller than stride or dilation; received "
                             f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    size = []
    for i in range(2):
        n = (xb.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1) \
            + output_padding[i] + 1
        if n < 1:
            raise ValueError(f"the output would have size {n} along spatial axis {i}: padding {padding} "
                             f"is too large for input {xb.shape[2:]} and kernel {w.shape[2:]}")
        size.append(n)
    K = w.shape[1] * groups
    in_shape = (xb.shape[0], K, size[0], size[1])
    check_shape_size(in_shape, x.dtype.itemsize, "the output")
    # the adjoint of the convolution from the output shape back to x's shape
    geom, _ = geometry(2, in_shape, (w.shape[0], w.shape[1], w.shape[2], w.shape[3]),
                       stride, padding, dilation, groups)
    geom = geom._replace(P=xb.shape[2], Q=xb.shape[3])  # rows/columns of x; any extra output row adds nothing
    if bias is not None:
        bias = _check_bias(bias, x, K, xp)
    dx, ret = result_array(in_shape[1:] if unbatched else in_shape, x.dtype, out, (x, w, bias), xp)
    run_grad_input(algorithm, contiguous(xb), contiguous(w), geom, dx, xp)
    if bias is not None:
        dx += bias.reshape(K, 1, 1)
    return finish(dx, ret)
