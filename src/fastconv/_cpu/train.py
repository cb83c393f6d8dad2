"""fastconv.nn's elementwise and GEMM steps on the compiled core: fused
passes on fastconv's own threads (NumPy's BLAS threads would spin on the
cores the next kernel needs).  fastconv._gpu.train has the same functions
as array expressions."""
import numpy as np

from .. import _threads
from .._ext import _fastconv as _core
from .._validation import contiguous


def matmul(a, b):
    """a @ b (2-D) on fastconv's GEMM."""
    c = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    _core.gemm(c, a, b, False, _threads.current())
    return c


def activation_forward(kind, x, out=None):
    """relu / sigmoid / tanh of x into out (a new array when None; may be x)."""
    x = contiguous(x)
    out = np.empty_like(x) if out is None else out
    _core.activation_forward(kind, out, x, _threads.current())
    return out


def activation_backward(kind, dy, y, layout, bias_grad):
    """dy f'(x) from y = f(x), over layout (outer, channels, inner); with
    bias_grad also its per-channel sum.  Returns dx, or (dx, dbias)."""
    y = contiguous(y)
    dy = contiguous(dy.astype(y.dtype, copy=False))
    dx = np.empty_like(y)
    dbias = np.empty(layout[1], y.dtype) if bias_grad else None
    _core.activation_backward(kind, dx, dy, y, layout, dbias, _threads.current())
    return (dx, dbias) if bias_grad else dx


def optim_update(kind, w, g, s1, s2, hp):
    """One optimizer step in place (csrc/optim.c's rules; hp = (lr, weight
    decay, the rule's own hyper-parameters...))."""
    _core.optim_update(kind, w, g, s1, s2, hp, _threads.current())
