"""The elementwise and GEMM steps of fastconv.nn, on the backend of their
arrays (fastconv._backend.train): the compiled fused passes of the CPU
(fastconv._cpu.train) or the GPU's array expressions (fastconv._gpu.train),
with the same functions and arguments.
"""
import numpy as np

from .. import _backend
from .._ext import _fastconv as _core

RELU, SIGMOID, TANH, IDENTITY = _core.ACT_RELU, _core.ACT_SIGMOID, _core.ACT_TANH, _core.ACT_IDENTITY
SGD, ADAGRAD, RMSPROP, ADAM = _core.OPT_SGD, _core.OPT_ADAGRAD, _core.OPT_RMSPROP, _core.OPT_ADAM


def xp_of(*arrays):
    return _backend.get_array_module(*arrays)


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
    """a @ b."""
    return _backend.train(xp_of(a, b)).matmul(a, b)


def activation_forward(kind, x, out=None):
    """relu / sigmoid / tanh of x into out (a new array when None; may be x)."""
    return _backend.train(xp_of(x)).activation_forward(kind, x, out)


def activation_backward(kind, dy, y, layout, bias_grad):
    """dy f'(x) from y = f(x) (kind RELU, SIGMOID, TANH or IDENTITY), over
    layout (outer, channels, inner); with bias_grad also its per-channel sum.
    Returns dx, or (dx, dbias)."""
    return _backend.train(xp_of(dy, y)).activation_backward(kind, dy, y, layout, bias_grad)


def optim_update(kind, w, g, s1, s2, hp):
    """One optimizer step in place (the rules of csrc/optim.c; hp =
    (lr, weight decay, the rule's own hyper-parameters...))."""
    _backend.train(xp_of(w, g)).optim_update(kind, w, g, s1, s2, hp)
