"""The elementwise and GEMM steps of fastconv.nn on either backend.

Arrays on the CPU core run the compiled kernels (fused passes, fastconv's
GEMM and threads); arrays on the GPU backend (CuPy) run the same arithmetic
as array expressions, which CuPy fuses into a few element-wise kernels and
hands to cuBLAS.  Which one runs follows fastconv._backend.kernels, so the
tests can run the expression path on NumPy arrays too (tests/test_gpu.py).
"""
import numpy as np

from .. import _backend, _threads
from .._ext import _fastconv as _core
from .._validation import contiguous

RELU, SIGMOID, TANH, IDENTITY = _core.ACT_RELU, _core.ACT_SIGMOID, _core.ACT_TANH, _core.ACT_IDENTITY
SGD, ADAGRAD, RMSPROP, ADAM = _core.OPT_SGD, _core.OPT_ADAGRAD, _core.OPT_RMSPROP, _core.OPT_ADAM


def xp_of(*arrays):
    return _backend.get_array_module(*arrays)


def compiled(xp):
    """Whether arrays of module xp run on the compiled CPU core."""
    return _backend.kernels(xp) is _core


def to_module(a, xp):
    """a (an array of either module, or anything np.asarray takes; None
    stays None) as an array of module xp, moved between host and device if
    needed."""
    if a is None:
        return None
    if not _backend.is_array(a):
        a = np.asarray(a)
    if xp_of(a) is xp:
        return a
    return xp.asarray(a) if xp is not np else _backend.to_host(a)


def matmul(a, b):
    """a @ b: fastconv's GEMM on the CPU (one OpenMP pool for every kernel:
    NumPy's BLAS threads would spin on the cores the next kernel needs),
    cuBLAS on the GPU."""
    xp = xp_of(a, b)
    if not compiled(xp):
        return xp.matmul(a, b)
    c = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    _core.gemm(c, a, b, False, _threads.current())
    return c


def activation_forward(kind, x, out=None):
    """relu / sigmoid / tanh of x into out (a new array when None; may be x)."""
    xp = xp_of(x)
    if compiled(xp):
        x = contiguous(x)
        out = np.empty_like(x) if out is None else out
        _core.activation_forward(kind, out, x, _threads.current())
        return out
    if kind == RELU:
        y = xp.maximum(x, 0)  # NaN stays NaN
    elif kind == SIGMOID:
        e = xp.exp(-xp.abs(x))  # no overflow for any finite x
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    else:
        y = xp.tanh(x)
    y = y.astype(x.dtype, copy=False)
    if out is None:
        return y
    out[...] = y
    return out


def activation_backward(kind, dy, y, layout, bias_grad):
    """dy f'(x) from y = f(x) (kind RELU, SIGMOID, TANH or IDENTITY), over
    layout (outer, channels, inner); with bias_grad also its per-channel sum.
    Returns dx, or (dx, dbias)."""
    xp = xp_of(dy, y)
    if compiled(xp):
        y = contiguous(y)
        dy = contiguous(dy.astype(y.dtype, copy=False))
        dx = np.empty_like(y)
        dbias = np.empty(layout[1], y.dtype) if bias_grad else None
        _core.activation_backward(kind, dx, dy, y, layout, dbias, _threads.current())
        return (dx, dbias) if bias_grad else dx
    dy = dy.astype(y.dtype, copy=False)
    if kind == RELU:
        dx = xp.where(y > 0, dy, xp.zeros((), y.dtype))
    elif kind == SIGMOID:
        dx = dy * y * (1 - y)
    elif kind == TANH:
        dx = dy * (1 - y * y)
    else:
        dx = dy.copy()
    if not bias_grad:
        return dx
    return dx, dx.reshape(layout).sum(axis=(0, 2))


def optim_update(kind, w, g, s1, s2, hp):
    """One optimizer step in place (the rules of csrc/optim.c; hp =
    (lr, weight decay, the rule's own hyper-parameters...))."""
    xp = xp_of(w, g)
    if compiled(xp):
        _core.optim_update(kind, w, g, s1, s2, hp, _threads.current())
        return
    t = w.dtype.type
    lr, wd = t(hp[0]), t(hp[1])
    g = g + wd * w if hp[1] else g
    if kind == SGD:
        mom = t(hp[2])
        if not hp[2]:
            w -= lr * g
            return
        s1 *= mom
        s1 += g
        w -= lr * (g + mom * s1 if hp[3] else s1)
    elif kind == ADAGRAD:
        s1 += g * g
        w -= lr * g / (xp.sqrt(s1) + t(hp[2]))
    elif kind == RMSPROP:
        rho, eps, mom = t(hp[2]), t(hp[3]), t(hp[4])
        s1 *= rho
        s1 += (1 - rho) * (g * g)
        d = lr * g / (xp.sqrt(s1) + eps)
        if hp[4]:
            s2 *= mom
            s2 += d
            d = s2
        w -= d
    else:  # ADAM
        b1, b2, eps = t(hp[2]), t(hp[3]), t(hp[4])
        s1 *= b1
        s1 += (1 - b1) * g
        s2 *= b2
        s2 += (1 - b2) * (g * g)
        w -= lr * s1 / (xp.sqrt(s2) + eps)
