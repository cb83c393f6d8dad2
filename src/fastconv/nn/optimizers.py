"""Optimizers: step(params, grads) updates each parameter array in place.

weight_decay adds weight_decay * w to each gradient (L2 regularisation of
every parameter, as torch.optim's weight_decay).  Slots (moments) are kept
per parameter array, keyed by its position in the lists passed to step, so
one optimizer serves one model (or one fixed list of parameters).

Each update is one fused pass of a compiled kernel (csrc/optim.c) per
parameter array on the CPU, the same arithmetic as CuPy expressions on the
GPU: parameters must be C-contiguous float32 / float64 arrays (updated in
place), and gradients arrays of the same shape."""
import numbers

import numpy as np

from .. import _backend
from .._ext import _fastconv as _core
from .._validation import contiguous
from . import _ops, schedules


class Optimizer:
    """learning_rate: a number, or a schedule (fastconv.nn.optimizers.schedules)
    giving the rate of each update from the number of updates made before."""

    name = "optimizer"

    def __init__(self, learning_rate, weight_decay=0.0):
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; received {weight_decay!r}")
        self._learning_rate = None
        if isinstance(learning_rate, dict):
            learning_rate = schedules.get(learning_rate)
        self.learning_rate = learning_rate
        self.weight_decay = float(weight_decay)
        self.iterations = 0
        self._slots = []

    @property
    def learning_rate(self):
        """The rate (a float), or the schedule given."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("this optimizer's learning rate is a schedule; it cannot be set to a number "
                            "(as Keras's)")
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not value > 0:
            raise ValueError(f"learning_rate must be a number > 0 or a schedule; received learning_rate={value!r}")
        self._learning_rate = float(value)

    @property
    def current_learning_rate(self):
        """The rate of the next update (the schedule's at the current iteration)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if isinstance(lr, schedules.LearningRateSchedule) else lr

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
        self._lr = self.current_learning_rate  # (a schedule's rate at this update, counted from 0)
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
        lr = self._lr if lr is None else lr
        _ops.optim_update(kind, w, g, s1, s2, (lr, self.weight_decay) + hp)

    def get_config(self):
        config = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "iterations"}
        lr = self._learning_rate
        config["learning_rate"] = lr.get_config() if isinstance(lr, schedules.LearningRateSchedule) else lr
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
        lr = self._lr * np.sqrt(1 - self.beta_2 ** k) / (1 - self.beta_1 ** k)
        # eps on the bias-corrected v, as torch.optim.Adam and Keras
        eps = self.epsilon * np.sqrt(1 - self.beta_2 ** k)
        self._run(_core.OPT_ADAM, w, g, m, v, self.beta_1, self.beta_2, eps, lr=lr)


class AdamW(Adam):
    """Adam with decoupled weight decay, as keras.optimizers.AdamW: first
    w -= lr * weight_decay * w (Keras's default weight_decay 0.004), then
    Keras's Adam step w -= lr_t m / (sqrt(v) + epsilon), lr_t = lr
    sqrt(1 - beta_2^t) / (1 - beta_1^t) (epsilon on the uncorrected v, as
    Keras's)."""

    name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) or not weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0; received weight_decay={weight_decay!r}")
        self.decoupled_weight_decay = float(weight_decay)

    def _update(self, i, w, g):
        m = self._slot(i, "m", w)
        v = self._slot(i, "v", w)
        if self.decoupled_weight_decay:
            w -= w * w.dtype.type(self.decoupled_weight_decay * self._lr)
        k = self.iterations
        lr = self._lr * np.sqrt(1 - self.beta_2 ** k) / (1 - self.beta_1 ** k)
        self._run(_core.OPT_ADAM, w, g, m, v, self.beta_1, self.beta_2, self.epsilon, lr=lr)

    def get_config(self):
        config = super().get_config()
        config["weight_decay"] = config.pop("decoupled_weight_decay")
        return config


class Nadam(Optimizer):
    """keras.optimizers.Nadam: Adam with Nesterov momentum and Keras's
    momentum schedule u_t = beta_1 (1 - 0.5 * 0.96^t); w -= lr m^ / (sqrt(v^)
    + epsilon), m^ = u_{t+1} m / (1 - prod u_1..u_{t+1}) + (1 - u_t) g /
    (1 - prod u_1..u_t), v^ = v / (1 - beta_2^t)."""

    name = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._u_product = 1.0
        self._u_step = 0  # the iteration _u_product was last advanced for

    def _update(self, i, w, g):
        t = self.iterations
        u_t = self.beta_1 * (1 - 0.5 * 0.96 ** t)
        u_next = self.beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        if self._u_step != t:  # once per step, whatever the number of parameter arrays
            self._u_product *= u_t
            self._u_step = t
        xp, f = _ops.xp_of(w), w.dtype.type
        if self.weight_decay:
            g = g + f(self.weight_decay) * w
        m, v = self._slot(i, "m", w), self._slot(i, "v", w)
        m += (g - m) * f(1 - self.beta_1)
        v += (g * g - v) * f(1 - self.beta_2)
        m_hat = m * f(u_next / (1 - self._u_product * u_next)) + g * f((1 - u_t) / (1 - self._u_product))
        v_hat = v * f(1 / (1 - self.beta_2 ** t))
        w -= m_hat * f(self._lr) / (xp.sqrt(v_hat) + f(self.epsilon))


class Adadelta(Optimizer):
    """keras.optimizers.Adadelta: a = rho a + (1 - rho) g^2; d = -sqrt(s +
    eps) / sqrt(a + eps) g; s = rho s + (1 - rho) d^2; w += lr d (Keras's
    defaults learning_rate 0.001, rho 0.95, epsilon 1e-7)."""

    name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        if not 0 <= rho < 1:
            raise ValueError(f"rho must be in [0, 1); received rho={rho!r}")
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, i, w, g):
        xp, f = _ops.xp_of(w), w.dtype.type
        if self.weight_decay:
            g = g + f(self.weight_decay) * w
        a, s = self._slot(i, "accumulated_grad", w), self._slot(i, "accumulated_delta", w)
        rho, eps = f(self.rho), f(self.epsilon)
        a *= rho
        a += (1 - rho) * g * g
        d = -xp.sqrt(s + eps) / xp.sqrt(a + eps) * g
        s *= rho
        s += (1 - rho) * d * d
        w += f(self._lr) * d


_BY_NAME = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "nadam": Nadam,
            "adadelta": Adadelta}


def get(optimizer):
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        config = dict(optimizer)
        return _BY_NAME[config.pop("name")](**config)  # (a saved schedule comes back from its dict)
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    raise ValueError(f"optimizer must be one of {sorted(_BY_NAME)} or an Optimizer; received {optimizer!r}")
