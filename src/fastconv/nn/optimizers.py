"""Optimizers: step(params, grads) updates each parameter array in place.

weight_decay adds weight_decay * w to each gradient (L2 regularisation of
every parameter, as torch.optim's weight_decay).  Slots (moments) are kept
per parameter array, keyed by its position in the lists passed to step, so
one optimizer serves one model (or one fixed list of parameters)."""
import numpy as np


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
        if name not in slots or slots[name].shape != like.shape:
            slots[name] = np.full_like(like, fill)
        return slots[name]

    def step(self, params, grads):
        """One update of every parameter from its gradient."""
        if len(params) != len(grads):
            raise ValueError(f"step needs one gradient per parameter; received {len(params)} parameters and "
                             f"{len(grads)} gradients")
        self.iterations += 1
        for i, (w, g) in enumerate(zip(params, grads)):
            if self.weight_decay:
                g = g + w.dtype.type(self.weight_decay) * w
            self._update(i, w, g)

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
        lr = w.dtype.type(self.learning_rate)
        if not self.momentum:
            w -= lr * g
            return
        v = self._slot(i, "velocity", w)
        v *= w.dtype.type(self.momentum)
        v += g
        w -= lr * (g + w.dtype.type(self.momentum) * v if self.nesterov else v)


class Adagrad(Optimizer):
    """a += g^2; w -= lr g / (sqrt(a) + eps)."""

    name = "adagrad"

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _update(self, i, w, g):
        a = self._slot(i, "accumulator", w, self.initial_accumulator_value)
        a += g * g
        w -= w.dtype.type(self.learning_rate) * g / (np.sqrt(a) + w.dtype.type(self.epsilon))


class RMSprop(Optimizer):
    """s = rho s + (1 - rho) g^2; w -= lr g / (sqrt(s) + eps) (with momentum:
    through a velocity, as Keras)."""

    name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)

    def _update(self, i, w, g):
        t = w.dtype.type
        s = self._slot(i, "square", w)
        s *= t(self.rho)
        s += t(1 - self.rho) * g * g
        step = t(self.learning_rate) * g / (np.sqrt(s) + t(self.epsilon))
        if self.momentum:
            v = self._slot(i, "velocity", w)
            v *= t(self.momentum)
            v += step
            step = v
        w -= step


class Adam(Optimizer):
    """m, v: bias-corrected first and second moments; w -= lr m^ / (sqrt(v^) + eps)."""

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, i, w, g):
        t = w.dtype.type
        m = self._slot(i, "m", w)
        v = self._slot(i, "v", w)
        m *= t(self.beta_1)
        m += t(1 - self.beta_1) * g
        v *= t(self.beta_2)
        v += t(1 - self.beta_2) * (g * g)
        k = self.iterations
        lr = self.learning_rate * np.sqrt(1 - self.beta_2 ** k) / (1 - self.beta_1 ** k)
        # eps on the bias-corrected v, as torch.optim.Adam and Keras
        eps = self.epsilon * np.sqrt(1 - self.beta_2 ** k)
        w -= t(lr) * m / (np.sqrt(v) + t(eps))


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
