"""Activation functions: forward(x) -> y and backward(dy, x, y) -> dx.

sigmoid and tanh run on fastconv's vectorised kernels (a few ulps, no
overflow for any finite input); softmax is over the last axis and shifted by
its maximum.  Names: relu, leaky_relu, sigmoid, tanh, softmax, identity
(also None and "linear")."""
import numpy as np

from .. import _threads
from .._ext import _fastconv as _core


class Activation:
    """An elementwise (or, for softmax, last-axis) function and its gradient."""

    name = "identity"

    def forward(self, x):
        return x

    def backward(self, dy, x, y):
        return dy

    def get_config(self):
        return {"name": self.name}


class ReLU(Activation):
    name = "relu"

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, dy, x, y):
        return dy * (x > 0)


class LeakyReLU(Activation):
    name = "leaky_relu"

    def __init__(self, negative_slope=0.2):
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return np.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dy, x, y):
        return np.where(x > 0, dy, dy * dy.dtype.type(self.negative_slope))

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}


def _kernel(kind, x):
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _core.activation_forward(kind, y, x, _threads.current())
    return y


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, x):
        return _kernel(_core.ACT_SIGMOID, x)

    def backward(self, dy, x, y):
        return dy * y * (1 - y)


class Tanh(Activation):
    name = "tanh"

    def forward(self, x):
        return _kernel(_core.ACT_TANH, x)

    def backward(self, dy, x, y):
        return dy * (1 - y * y)


class Softmax(Activation):
    name = "softmax"

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, dy, x, y):
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


_BY_NAME = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax,
            "identity": Activation, "linear": Activation}


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
