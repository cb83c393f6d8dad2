"""Activation functions: forward(x) -> y and backward(dy, x, y) -> dx.

sigmoid and tanh run on fastconv's vectorised kernels (a few ulps, no
overflow for any finite input); softmax is over the last axis and shifted by
its maximum.  Names: relu, leaky_relu, sigmoid, tanh, softmax, elu, selu,
softplus, swish (silu), gelu, identity (also None and "linear")."""
import math

import numpy as np

from .._ext import _fastconv as _core
from . import _ops


class Activation:
    """An elementwise (or, for softmax, last-axis) function and its gradient.

    kind: the compiled kernel's code where the backward needs only the
    output y (identity, relu, sigmoid, tanh): layers then activate their own
    fresh output in place and fuse the backward with the bias gradient."""

    name = "identity"
    kind = _core.ACT_IDENTITY

    def forward(self, x):
        return x

    def backward(self, dy, x, y):
        return dy

    def get_config(self):
        return {"name": self.name}


class ReLU(Activation):
    name = "relu"
    kind = _core.ACT_RELU

    def forward(self, x):
        return _kernel(_core.ACT_RELU, x)

    def backward(self, dy, x, y):
        return backward_from_output(self.kind, dy, y)


class LeakyReLU(Activation):
    name = "leaky_relu"
    kind = None

    def __init__(self, negative_slope=0.2):
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return _ops.xp_of(x).where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dy, x, y):
        return _ops.xp_of(dy).where(x > 0, dy, dy * dy.dtype.type(self.negative_slope))

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}


def _kernel(kind, x):
    return _ops.activation_forward(kind, x)


def backward_from_output(kind, dy, y, layout=None, bias_grad=False):
    """dy f'(x) from y = f(x) for a kernel kind; with bias_grad, also its sum
    per channel of layout (outer, channels, inner) (default: all of y one
    channel).  Returns dx, or (dx, dbias)."""
    if dy.shape != y.shape:
        raise ValueError(f"the gradient's shape {dy.shape} differs from the output's {y.shape}")
    return _ops.activation_backward(kind, dy, y, (1, 1, y.size) if layout is None else layout, bias_grad)


class Sigmoid(Activation):
    name = "sigmoid"
    kind = _core.ACT_SIGMOID

    def forward(self, x):
        return _kernel(_core.ACT_SIGMOID, x)

    def backward(self, dy, x, y):
        return backward_from_output(self.kind, dy, y)


class Tanh(Activation):
    name = "tanh"
    kind = _core.ACT_TANH

    def forward(self, x):
        return _kernel(_core.ACT_TANH, x)

    def backward(self, dy, x, y):
        return backward_from_output(self.kind, dy, y)


class Softmax(Activation):
    """exp(x) / sum(exp(x)) along axis (the last by default), shifted by the maximum."""

    name = "softmax"
    kind = None

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def forward(self, x):
        e = _ops.xp_of(x).exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, dy, x, y):
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

    def get_config(self):
        return {"name": self.name} if self.axis == -1 else {"name": self.name, "axis": self.axis}


class GELU(Activation):
    """Keras's gelu: x Phi(x) with Phi the standard normal distribution
    function (approximate=False, Keras's default), or the tanh approximation
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) (approximate=True)."""

    name = "gelu"
    kind = None
    _C = math.sqrt(2 / math.pi)

    def __init__(self, approximate=False):
        self.approximate = bool(approximate)

    def forward(self, x):
        xp = _ops.xp_of(x)
        if self.approximate:
            return 0.5 * x * (1 + xp.tanh(x.dtype.type(self._C) * (x + x.dtype.type(0.044715) * x ** 3)))
        return 0.5 * x * (1 + _erf(x / x.dtype.type(math.sqrt(2))))

    def backward(self, dy, x, y):
        xp = _ops.xp_of(x)
        if self.approximate:
            c = x.dtype.type(self._C)
            t = xp.tanh(c * (x + x.dtype.type(0.044715) * x ** 3))
            return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + x.dtype.type(3 * 0.044715) * x * x))
        cdf = 0.5 * (1 + _erf(x / x.dtype.type(math.sqrt(2))))
        pdf = xp.exp(-0.5 * x * x) * x.dtype.type(1 / math.sqrt(2 * math.pi))
        return dy * (cdf + x * pdf)

    def get_config(self):
        return {"name": self.name, "approximate": self.approximate}


def _erf(x):
    """The error function elementwise, in x's dtype (SciPy's on the CPU, CuPy's on the GPU)."""
    if _ops.xp_of(x) is np:
        from scipy import special
        return special.erf(x).astype(x.dtype, copy=False)
    from cupyx.scipy import special
    return special.erf(x)


class ELU(Activation):
    """x for x > 0, alpha (exp(x) - 1) otherwise (Keras's elu)."""

    name = "elu"
    kind = None

    def __init__(self, alpha=1.0):
        self.alpha = float(alpha)

    def forward(self, x):
        xp = _ops.xp_of(x)
        a = x.dtype.type(self.alpha)
        return xp.where(x > 0, x, a * xp.expm1(xp.minimum(x, 0)))

    def backward(self, dy, x, y):
        xp = _ops.xp_of(dy)
        return xp.where(x > 0, dy, dy * (y + x.dtype.type(self.alpha)))

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


class SELU(ELU):
    """scale * elu(x, alpha) with Keras's (Klambauer et al.'s) constants."""

    name = "selu"
    _SCALE, _ALPHA = 1.0507009873554805, 1.6732632423543772

    def __init__(self):
        super().__init__(self._ALPHA)

    def forward(self, x):
        return super().forward(x) * x.dtype.type(self._SCALE)

    def backward(self, dy, x, y):
        xp = _ops.xp_of(dy)
        s, a = x.dtype.type(self._SCALE), x.dtype.type(self._ALPHA)
        return xp.where(x > 0, dy * s, dy * (y + s * a))

    def get_config(self):
        return {"name": self.name}


class Softplus(Activation):
    """log(1 + exp(x)), computed without overflow."""

    name = "softplus"
    kind = None

    def forward(self, x):
        xp = _ops.xp_of(x)
        return xp.logaddexp(x, x.dtype.type(0))

    def backward(self, dy, x, y):
        xp = _ops.xp_of(dy)
        return dy / (1 + xp.exp(-x))


class Swish(Activation):
    """x * sigmoid(x) (Keras's swish / silu)."""

    name = "swish"
    kind = None

    def forward(self, x):
        return x * _kernel(_core.ACT_SIGMOID, x)

    def backward(self, dy, x, y):
        s = _kernel(_core.ACT_SIGMOID, x)
        return dy * (s + x * s * (1 - s))


_BY_NAME = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax,
            "identity": Activation, "linear": Activation, "elu": ELU, "selu": SELU, "softplus": Softplus,
            "swish": Swish, "silu": Swish, "gelu": GELU}


def get(activation):
    """An Activation from a name, None (identity), a config dict, or itself."""
    if activation is None:
        return Activation()
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, dict):
        config = dict(activation)
        name = config.pop("name")
        return _BY_NAME[name](**config) if name in _BY_NAME else get(name)
    if isinstance(activation, str) and activation in _BY_NAME:
        return _BY_NAME[activation]()
    raise ValueError(f"activation must be one of {sorted(_BY_NAME)} or None; received {activation!r}")
