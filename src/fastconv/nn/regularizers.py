"""keras.regularizers: L1, L2, L1L2 (and their names l1, l2, l1_l2).

A layer's kernel_regularizer / bias_regularizer (recurrent layers: also
recurrent_regularizer) adds penalty(w) to the loss that fit reports and
minimises, and its gradient to the weight's gradient, as Keras adds a
layer's losses to the compiled loss: L1: l1 * sum(abs(w)) (gradient
l1 * sign(w)); L2: l2 * sum(w ** 2) (gradient 2 * l2 * w).  A recurrent
layer's bias is Keras's single bias (bias_ih + bias_hh), penalised as one."""
import numpy as np

from . import _ops


class Regularizer:
    """penalty(w) -> float and gradient(w) -> array of w's shape."""

    def __call__(self, w):
        return self.penalty(w)


class L1L2(Regularizer):
    """l1 * sum(abs(w)) + l2 * sum(w ** 2) (Keras's defaults l1 = l2 = 0)."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0; received {name}={value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def penalty(self, w):
        xp = _ops.xp_of(w)
        total = 0.0
        if self.l1:
            total += self.l1 * float(xp.abs(w).sum(dtype=np.float64))
        if self.l2:
            total += self.l2 * float((w.astype(np.float64) ** 2).sum())
        return total

    def gradient(self, w):
        xp = _ops.xp_of(w)
        g = xp.zeros_like(w)
        if self.l1:
            g += w.dtype.type(self.l1) * xp.sign(w)
        if self.l2:
            g += w.dtype.type(2 * self.l2) * w
        return g

    def get_config(self):
        return {"name": "L1L2", "l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(abs(w)) (Keras's default l1 = 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"name": "L1", "l1": self.l1}


class L2(L1L2):
    """l2 * sum(w ** 2) (Keras's default l2 = 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"name": "L2", "l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2

_BY_NAME = {"l1": L1, "l2": L2, "L1": L1, "L2": L2, "L1L2": L1L2}  # (Keras reads no 'l1_l2' string)


def get(identifier, argname="regularizer"):
    """A Regularizer from None (none), a name as Keras reads them ('l1',
    'l2' with the factor 0.01; 'L1L2' with zeros), a config dict, or
    itself."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        config = dict(identifier)
        name = config.pop("name", None)
        if name in _BY_NAME:
            return _BY_NAME[name](**config)
    elif isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"{argname} must be None, 'l1', 'l2', 'L1L2' or a fastconv.nn.regularizers.Regularizer; "
                     f"received {argname}={identifier!r}")


def config_of(regularizer):
    return None if regularizer is None else regularizer.get_config()


class Regularized:
    """Mixin of the layers taking kernel_regularizer / bias_regularizer
    (recurrent_regularizer): terms() lists (regularizer, Keras's array,
    parameter names its gradient goes to)."""

    _regularizers: dict = {}

    def _set_regularizers(self, **given):
        self._regularizers = {k: get(v, k) for k, v in given.items()}

    def _regularizer_config(self):
        return {k: config_of(v) for k, v in self._regularizers.items() if v is not None}

    def regularization_terms(self):
        kernel, bias = self._regularizers.get("kernel_regularizer"), self._regularizers.get("bias_regularizer")
        out = []
        if kernel is not None:
            out.append((kernel, self.params["weight"], ("weight",)))
        if bias is not None and "bias" in self.params:
            out.append((bias, self.params["bias"], ("bias",)))
        return out


def apply(layers, with_gradients):
    """The regularization penalty of layers (frozen ones left out, as
    Keras's trainable weights); with_gradients also adds each penalty's
    gradient to its layer's grads."""
    total = 0.0
    for layer in layers:
        if not layer.trainable or not hasattr(layer, "regularization_terms"):
            continue
        for reg, w, names in layer.regularization_terms():
            total += reg.penalty(w)
            if with_gradients:
                g = reg.gradient(w)
                for name in names:
                    layer.grads[name] = layer.grads[name] + g
    return total
