"""Convolution for neural networks (PyTorch semantics, NCHW / NCL layouts).

Cross-correlation, as torch.nn.functional.conv1d / conv2d compute it, with
stride, padding (int, pair, "same", "valid"), dilation, groups and bias;
both gradients with torch.nn.grad.conv*d_input / conv*d_weight's argument
order; and conv_transpose2d.  Every function takes ``algorithm``: "direct",
"im2col" (GEMM) or "fft" (channel sums in the frequency domain; see
_conv_fft), which agree to rounding, or "auto" (direct or im2col by shape).
CuPy arrays run the same algorithms on the GPU (fastconv._gpu.conv).
"""
from . import _threads
from . import _conv_fft
from . import _backend
from ._backend import get_array_module
from ._ext import _fastconv as _core
from ._validation import (
    MAX_EXTENT,
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
    "conv1d",
    "conv2d",
    "conv1d_grad_input",
    "conv1d_grad_weight",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "conv_transpose2d",
]

_FFT = "fft"
_ALGORITHMS = {"direct": _core.ALGO_DIRECT, "im2col": _core.ALGO_IM2COL, "fft": _FFT}
_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)"}
_WLAYOUT = {1: "(K, C/groups, S)", 2: "(K, C/groups, R, S)"}


# ---- geometry -------------------------------------------------------------------


def _padding(padding, nd, ksize, stride, dilation):
    """((before, after), ...) per spatial dimension."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' needs stride 1 (as in PyTorch); received stride={stride}")
            total = [d * (k - 1) for k, d in zip(ksize, dilation)]
            return tuple((t // 2, t - t // 2) for t in total)  # the extra one after, as PyTorch
        raise ValueError(f"padding must be an int, a sequence of {nd} ints, 'same' or 'valid'; "
                         f"received {padding!r}")
    return tuple((p, p) for p in int_tuple(padding, nd, "padding", 0))


def _geometry(nd, x_shape, w_shape, stride, padding, dilation, groups):
    """Checks a convolution's arguments; returns the kernel geometry tuple
    (N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw) and the output shape."""
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1; received {groups}")
    N, C = x_shape[0], x_shape[1]
    K, Cg = w_shape[0], w_shape[1]
    if C % groups:
        raise ValueError(f"input channels ({C}) must be divisible by groups ({groups})")
    if K % groups:
        raise ValueError(f"output channels, w.shape[0] ({K}), must be divisible by groups ({groups})")
    if Cg * groups != C:
        raise ValueError(f"w expects {Cg * groups} input channels (w.shape[1]={Cg} x groups={groups}); "
                         f"the input has {C}")
    stride = int_tuple(stride, nd, "stride", 1)
    dilation = int_tuple(dilation, nd, "dilation", 1)
    ksize = tuple(w_shape[2:])
    pads = _padding(padding, nd, ksize, stride, dilation)
    insize = tuple(x_shape[2:])
    outsize = []
    stride, dilation = list(stride), list(dilation)
    for i in range(nd):
        # Python ints: exact whatever the sizes; the kernels index in int64, so
        # every extent stays below MAX_EXTENT (2**62) and sums of two fit
        extent = dilation[i] * (ksize[i] - 1) + 1
        padded = insize[i] + pads[i][0] + pads[i][1]
        if extent >= MAX_EXTENT:
            raise ValueError(f"dilation {tuple(dilation)} is too large: with kernel size {ksize} it spans "
                             f"{extent} positions along spatial axis {i}, beyond the kernels' 64-bit range "
                             f"(2**62)")
        if padded >= MAX_EXTENT:
            raise ValueError(f"padding {tuple(p[0] for p in pads)} is too large: the padded input spans "
                             f"{padded} along spatial axis {i}, beyond the kernels' 64-bit range (2**62)")
        if extent > padded:
            raise ValueError(f"kernel size {ksize} with dilation {tuple(dilation)} spans {extent} along "
                             f"spatial axis {i}, more than the padded input size {padded} "
                             f"(input {insize}, padding {tuple(p[0] for p in pads)})")
        n = (padded - extent) // stride[i] + 1
        # canonical form: a stride beyond the padded input (one output) and the
        # dilation of a one-tap kernel change no output; as 1 they keep the
        # kernels' scratch (and choices) those of a plain convolution
        if n == 1 and stride[i] > padded:
            stride[i] = 1
        if ksize[i] == 1:
            dilation[i] = 1
        outsize.append(n)
    if nd == 1:
        geom = (N, C, 1, insize[0], K, 1, ksize[0], 1, outsize[0], groups,
                1, stride[0], 0, pads[0][0], 1, dilation[0])
    else:
        geom = (N, C, insize[0], insize[1], K, ksize[0], ksize[1], outsize[0], outsize[1], groups,
                stride[0], stride[1], pads[0][0], pads[1][0], dilation[0], dilation[1])
    return geom, (N, K) + tuple(outsize)


def _sparse(geom):
    """Whether the windows reach far more padded positions than the input
    holds (padding, stride or dilation far beyond the input): the compiled
    kernels then run im2col, whose work grows only with the output, whatever
    the algorithm asked (csrc/conv_common.h, fc_conv_sparse, the same test),
    and the FFT, whose transforms would span the padded input, is not used."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    if P == 1 and sh > 64:
        sh = 1
    if Q == 1 and sw > 64:
        sw = 1
    Hn, Wn = (P - 1) * sh + (R - 1) * dh + 1, (Q - 1) * sw + (S - 1) * dw + 1
    return (ph >= Hn or pw >= Wn or Hn > 2 * (H + R) + 64 or Wn > 2 * (W + S) + 64
            or sw * (Q + (S - 1) * dw // sw + 80) > 4 * (W + S) + 4096)


def _use_fft(algo, geom, *arrays):
    return algo == _FFT and not _sparse(geom) and _conv_fft.finite(*arrays)


def _algorithm(algorithm, geom, op, kern):
    try:
        if algorithm != "auto":
            return _ALGORITHMS[algorithm]
    except (KeyError, TypeError):
        raise ValueError(f"algorithm must be 'auto', 'direct', 'im2col' or 'fft'; received {algorithm!r}") \
            from None
    return _choose(geom, op) if kern is _core else kern.choose_algorithm(geom, op)


def _choose(geom, op):
    """The faster algorithm for this shape and operation, from timing both on
    ResNet / MNIST / 1-D layers on AVX-512 (bench/RESULTS.md, "auto").

    Direct (register-tiled, no packing) wins almost everywhere, by up to 15x
    when the GEMM would be thin (depthwise, few channels per group).  The
    im2col GEMM wins where direct's access pattern is weakest: the strided
    input gradient, strided pointwise layers over large maps, and the weight
    gradient of large weights over small feature maps.  (Strided forwards
    with larger kernels went to im2col until the direct kernel vectorised
    small maps along channels: the ResNet stem now runs 25 vs 38 ms, a
    stride-2 3x3 layer 4.8 vs 7.0 ms, MNIST-1D's 1-D layers 2x faster.)"""
    N, C, H, W, K, R, S, P, Q, G, sh, sw = geom[:12]
    Cg, Kg = C // G, K // G
    if Cg * R * S < 16 or Kg < 8:
        return _core.ALGO_DIRECT
    strided = sh > 1 or sw > 1
    if op == "forward":
        # 1x1 stride 2, 64 -> 128 channels, 56x56: 0.70 (im2col) vs 0.91 ms; 28x28: a tie
        pointwise_big = R * S == 1 and P * Q > 256 and Kg >= 16
        return _core.ALGO_IM2COL if strided and pointwise_big else _core.ALGO_DIRECT
    if op == "backward_input":
        # 1-D (H = R = 1): direct, measured (100, 25, 19) k3 s2: 161 vs 216 us
        return _core.ALGO_IM2COL if strided and (H > 1 or R > 1) else _core.ALGO_DIRECT
    # direct adds into a per-thread partial weight gradient once per image
    # band: when that partial outgrows L2 and the maps are small (few pixels
    # to reduce over between visits), the GEMM's blocking wins
    partial_bytes = K * Cg * R * S * 4
    small_map = R * S == 1 and P * Q <= 256 or P * Q < 64
    return _core.ALGO_IM2COL if partial_bytes > (1 << 19) and small_map else _core.ALGO_DIRECT


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


def _forward(nd, x, w, bias, stride, padding, dilation, groups, algorithm, out):
    xp = get_array_module(x, w, bias, out)
    kern = _backend.kernels(xp)
    x = _check_input(x, nd, xp)
    w = _check_weight(w, nd, x, "x", xp)
    unbatched = x.ndim == nd + 1
    xb = x[None] if unbatched else x
    geom, yshape = _geometry(nd, xb.shape, w.shape, stride, padding, dilation, groups)
    if bias is not None:
        bias = _check_bias(bias, x, w.shape[0], xp)
    algo = _algorithm(algorithm, geom, "forward", kern)
    if unbatched:
        yshape = yshape[1:]
    y, ret = result_array(yshape, x.dtype, out, (x, w, bias), xp)
    xb, w = contiguous(xb), contiguous(w)
    if _use_fft(algo, geom, xb, w):
        y[...] = _conv_fft.forward(xb, w, bias, geom, kern).reshape(y.shape)
    else:
        kern.conv_forward(_core.ALGO_DIRECT if algo == _FFT else algo, y, xb, w, bias, geom, _threads.current())
    return finish(y, ret)


def _zeroed_result(shape, dtype, out, inputs, xp):
    y, ret = result_array(shape, dtype, out, inputs, xp)
    y.fill(0)  # the backward kernels add into their output
    return y, ret


def _backward_input(algo, shape, dy, w, geom, out, inputs, xp, kern):
    """dx of shape `shape` (batched or not) from contiguous dy (batched) and w."""
    if _use_fft(algo, geom, dy, w):
        dx, ret = result_array(shape, dy.dtype, out, inputs, xp)
        dx[...] = _conv_fft.grad_input(dy, w, geom, kern).reshape(dx.shape)
        return dx, ret
    dx, ret = _zeroed_result(shape, dy.dtype, out, inputs, xp)
    kern.conv_backward_input(_core.ALGO_DIRECT if algo == _FFT else algo, dx, dy, w, geom, _threads.current())
    return dx, ret


def _grad_input(nd, input_shape, w, grad_out, stride, padding, dilation, groups, algorithm, out):
    xp = get_array_module(w, grad_out, out)
    kern = _backend.kernels(xp)
    input_shape = shape_tuple(input_shape, nd + 2, "input_shape")
    grad_out = as_float_array(grad_out, "grad_out", xp)
    w = _check_weight(w, nd, grad_out, "grad_out", xp)
    check_ndim(grad_out, "grad_out", (nd + 2,), _LAYOUT[nd].replace("C", "K"))
    check_nonempty(grad_out, "grad_out")
    check_shape_size(input_shape, grad_out.dtype.itemsize, "input_shape")
    geom, yshape = _geometry(nd, input_shape, w.shape, stride, padding, dilation, groups)
    if grad_out.shape != yshape:
        raise ValueError(f"grad_out must have the convolution's output shape {yshape} for "
                         f"input_shape={input_shape}; received shape {grad_out.shape}")
    algo = _algorithm(algorithm, geom, "backward_input", kern)
    dx, ret = _backward_input(algo, input_shape, contiguous(grad_out), contiguous(w), geom, out, (w, grad_out),
                              xp, kern)
    return finish(dx, ret)


def _grad_weight(nd, x, weight_shape, grad_out, stride, padding, dilation, groups, algorithm, out):
    xp = get_array_module(x, grad_out, out)
    kern = _backend.kernels(xp)
    x = as_float_array(x, "x", xp)
    check_ndim(x, "x", (nd + 2,), _LAYOUT[nd])
    check_nonempty(x, "x")
    weight_shape = shape_tuple(weight_shape, nd + 2, "weight_shape")
    grad_out = as_float_array(grad_out, "grad_out", xp)
    same_dtype(x, "x", grad_out, "grad_out")
    check_ndim(grad_out, "grad_out", (nd + 2,), _LAYOUT[nd].replace("C", "K"))
    check_nonempty(grad_out, "grad_out")
    check_shape_size(weight_shape, x.dtype.itemsize, "weight_shape")
    geom, yshape = _geometry(nd, x.shape, weight_shape, stride, padding, dilation, groups)
    if grad_out.shape != yshape:
        raise ValueError(f"grad_out must have the convolution's output shape {yshape}; "
                         f"received shape {grad_out.shape}")
    algo = _algorithm(algorithm, geom, "backward_weight", kern)
    grad_out, x = contiguous(grad_out), contiguous(x)
    if _use_fft(algo, geom, grad_out, x):
        dw, ret = result_array(weight_shape, x.dtype, out, (x, grad_out), xp)
        dw[...] = _conv_fft.grad_weight(grad_out, x, geom, kern).reshape(dw.shape)
    else:
        dw, ret = _zeroed_result(weight_shape, x.dtype, out, (x, grad_out), xp)
        kern.conv_backward_weight(_core.ALGO_DIRECT if algo == _FFT else algo, dw, grad_out, x, geom,
                                  _threads.current())
    return finish(dw, ret)


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
    kern = _backend.kernels(xp)
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
    geom, yshape = _geometry(2, in_shape, (w.shape[0], w.shape[1], w.shape[2], w.shape[3]),
                             stride, padding, dilation, groups)
    geom = geom[:7] + xb.shape[2:] + geom[9:]  # rows/columns of x; any extra output row adds nothing
    if bias is not None:
        bias = _check_bias(bias, x, K, xp)
    algo = _algorithm(algorithm, geom, "backward_input", kern)
    dx, ret = _backward_input(algo, in_shape[1:] if unbatched else in_shape, contiguous(xb), contiguous(w), geom,
                              out, (x, w, bias), xp, kern)
    if bias is not None:
        dx += bias.reshape(K, 1, 1)
    return finish(dx, ret)
