"""Optimizers: step(params, grads) updates each parameter array in place.

weight_decay adds weight_decay * w to each gradient (L2 regularisation of
every parameter, as torch.optim's weight_decay).  Slots (moments) are kept
per parameter array, keyed by its position in the lists passed to step, so
one optimizer serves one model (or one fixed list of parameters).

Each update is one fused pass of a compiled kernel (csrc/optim.c) per
parameter array on the CPU, the same arithmetic as CuPy expressions on the
GPU: parameters must be C-contiguous float32 / float64 arrays (updated in
place), and gradients arrays of the same shape."""
import numpy as np

from .. import _backend
from .._ext import _fastconv as _core
from .._validation import contiguous
from . import _ops


class Optimizer:
    name = "optimizer"

    def __init__(self, learning_rate, weight_decay=0.0):
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; received {learning_rate!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; received {weight_decay!r}")
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.iterations = 0
        self._slots = []

    def _slot(self, i, name, like, fill=0.0):
        while len(self._slots) <= i:
            self._slots.append({})
        slots = self._slots[i]
        if name not in slots or slots[name].shape != like.shape or _ops.xp_of(slots[name]) is not _ops.xp_of(like):
            slots[name] = _ops.xp_of(like).full_like(like, fill)
        return slots[name]

    def step(self, params, grads):
        """One update of every parameter from its gradient."""
        if len(params) != len(grads):
            raise ValueError(f"step needs one gradient per parameter; received {len(params)} parameters and "
                             f"{len(grads)} gradients")
        checked = [self._check(i, w, g) for i, (w, g) in enumerate(zip(params, grads))]
        self.iterations += 1
        for i, (w, g) in enumerate(checked):
            self._update(i, w, g)

    @staticmethod
    def _check(i, w, g):
        if not (_backend.is_array(w) and w.dtype in (np.float32, np.float64) and w.flags.c_contiguous
                and getattr(w.flags, "aligned", True) and getattr(w.flags, "writeable", True)):
            raise TypeError(f"parameter {i} must be a writeable C-contiguous (and aligned) float32 or float64 array (it is "
                            f"updated in place); received "
                            f"{type(w).__name__ if not _backend.is_array(w) else w.dtype} "
                            f"{getattr(w, 'shape', '')}")
        xp = _ops.xp_of(w)
        g = contiguous(_ops.to_module(g, xp).astype(w.dtype, copy=False))
        if g.shape != w.shape:
            raise ValueError(f"gradient {i} must have its parameter's shape {w.shape}; received {g.shape}")
        return w, g

    def _run(self, kind, w, g, s1, s2, *hp, lr=None):
        lr = self.learning_rate if lr is None else lr
        _ops.optim_update(kind, w, g, s1, s2, (lr, self.weight_decay) + hp)

    def get_config(self):
        config = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "iterations"}
        config["name"] = self.name
        return config


class SGD(Optimizer):
    """w -= lr * g, or with momentum m: v = m v + g; w -= lr * v (nesterov:
    w -= lr * (g + m v)), as torch.optim.SGD."""

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); received {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0; received momentum=0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, i, w, g):
        v = self._slot(i, "velocity", w) if self.momentum else None
        self._run(_core.OPT_SGD, w, g, v, None, self.momentum, float(self.nesterov))


class Adagrad(Optimizer):
    """a += g^2; w -= lr g / (sqrt(a) + eps)."""

    name = "adagrad"

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _update(self, i, w, g):
        a = self._slot(i, "accumulator", w, self.initial_accumulator_value)
        self._run(_core.OPT_ADAGRAD, w, g, a, None, self.epsilon)


class RMSprop(Optimizer):
    """s = rho s + (1 - rho) g^2; w -= lr g / (sqrt(s) + eps) (with momentum:
    through a velocity, as Keras)."""

    name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)

    def _update(self, i, w, g):
        s = self._slot(i, "square", w)
        v = self._slot(i, "velocity", w) if self.momentum else None
        self._run(_core.OPT_RMSPROP, w, g, s, v, self.rho, self.epsilon, self.momentum)


class Adam(Optimizer):
    """m, v: bias-corrected first and second moments; w -= lr m^ / (sqrt(v^) + eps)."""

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, i, w, g):
        m = self._slot(i, "m", w)
        v = self._slot(i, "v", w)
        k = self.iterations
        lr = self.learning_rate * np.sqrt(1 - self.beta_2 ** k) / (1 - self.beta_1 ** k)
        # eps on the bias-corrected v, as torch.optim.Adam and Keras
        eps = self.epsilon * np.sqrt(1 - self.beta_2 ** k)
        self._run(_core.OPT_ADAM, w, g, m, v, self.beta_1, self.beta_2, eps, lr=lr)


_BY_NAME = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam}


def get(optimizer):
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        config = dict(optimizer)
        return _BY_NAME[config.pop("name")](**config)
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    raise ValueError(f"optimizer must be one of {sorted(_BY_NAME)} or an Optimizer; received {optimizer!r}")
