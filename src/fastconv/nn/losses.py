"""Losses: __call__(y_true, y_pred) -> (mean loss, d loss / d y_pred).

The mean is over the batch (and, for mse, over every output).  With
from_logits=True the cross-entropies take pre-activation outputs and fuse
the softmax / sigmoid in, which is exact in floating point where the
separate steps are not (log of a softmax that underflowed to 0): Sequential
switches to that form by itself when the model ends in a softmax (or
sigmoid) and the loss is the matching cross-entropy.

Predictions may be NumPy or CuPy arrays; targets are moved to their device,
and the gradient is an array of the predictions' module."""
import numbers

import numpy as np

from . import _ops


class Loss:
    """A loss; subclasses define __call__ and, for sample and class weights,
    elements(y_true, y_pred): the loss of each output (each row of classes
    for the cross-entropies), whose mean is the loss."""

    name = "loss"
    from_logits = False

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}

    def weighted(self, y_true, y_pred, sample_weight):
        """(loss, gradient) with each example's terms scaled by its weight, as
        Keras's sum-over-batch-size reduction: sum(w_i * terms_i) / terms.
        (Each example's gradient rows depend on its own terms only, so the
        plain gradient scaled row by row is the weighted one.)"""
        if not hasattr(self, "elements"):
            raise TypeError(f"{type(self).__name__} gives no per-output terms (an elements(y_true, y_pred) method: "
                            "the loss of each output, whose mean is the loss); sample and class weights need them")
        grad = self(y_true, y_pred)[1]
        xp = _ops.xp_of(y_pred)
        w = _ops.to_module(sample_weight, xp).astype(y_pred.dtype).reshape(-1)
        if w.shape[0] != y_pred.shape[0]:
            raise ValueError(f"sample_weight must hold one weight per example ({y_pred.shape[0]}); received "
                             f"{w.shape[0]}")
        terms = self.elements(y_true, y_pred)
        per = terms.reshape(terms.shape[0], -1) if terms.ndim else terms.reshape(1, 1)
        loss = float((per * w[:, None]).sum() / per.size)
        return loss, grad * w.reshape((-1,) + (1,) * (grad.ndim - 1))


def _log_softmax(z, xp):
    z = z - z.max(axis=-1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))


def _targets(y_true, y_pred, dtype=None):
    """y_true as an array of y_pred's module (and dtype, if given), and that module."""
    xp = _ops.xp_of(y_pred)
    y = _ops.to_module(y_true, xp)
    return (y if dtype is None else y.astype(dtype, copy=False)), xp


class MeanSquaredError(Loss):
    name = "mse"

    def __call__(self, y_true, y_pred):
        y_true = _targets(y_true, y_pred, y_pred.dtype)[0].reshape(y_pred.shape)
        diff = y_pred - y_true
        return float((diff * diff).mean()), (2.0 / diff.size) * diff

    def elements(self, y_true, y_pred):
        diff = y_pred - _targets(y_true, y_pred, y_pred.dtype)[0].reshape(y_pred.shape)
        return diff * diff


class BinaryCrossentropy(Loss):
    """Targets in [0, 1]; predictions probabilities (clipped to [eps, 1 - eps])
    or, from_logits, pre-sigmoid values."""

    name = "binary_crossentropy"

    def __call__(self, y_true, y_pred):
        y, xp = _targets(y_true, y_pred, y_pred.dtype)
        y = y.reshape(y_pred.shape)
        scale = y_pred.dtype.type(1.0 / y_pred.size)  # the mean over every output
        if self.from_logits:
            z = y_pred
            # log(1 + e^z) - y z, written to neither overflow nor lose digits
            loss = xp.maximum(z, 0) - y * z + xp.log1p(xp.exp(-xp.abs(z)))
            p = 0.5 * (1 + xp.tanh(0.5 * z))  # sigmoid without overflow
            return float(loss.mean()), (p - y) * scale
        eps = np.finfo(y_pred.dtype).eps
        p = xp.clip(y_pred, eps, 1 - eps)
        loss = -(y * xp.log(p) + (1 - y) * xp.log(1 - p))
        grad = (p - y) / (p * (1 - p)) * scale
        return float(loss.mean()), grad

    def elements(self, y_true, y_pred):
        y, xp = _targets(y_true, y_pred, y_pred.dtype)
        y = y.reshape(y_pred.shape)
        if self.from_logits:
            z = y_pred
            return xp.maximum(z, 0) - y * z + xp.log1p(xp.exp(-xp.abs(z)))
        eps = np.finfo(y_pred.dtype).eps
        p = xp.clip(y_pred, eps, 1 - eps)
        return -(y * xp.log(p) + (1 - y) * xp.log(1 - p))


class CategoricalCrossentropy(Loss):
    """One-hot (or probability) targets over the last axis."""

    name = "categorical_crossentropy"

    def __call__(self, y_true, y_pred):
        y, xp = _targets(y_true, y_pred, y_pred.dtype)
        if y.shape != y_pred.shape:
            raise ValueError(f"categorical_crossentropy needs targets of the output's shape {y_pred.shape} "
                             f"(one-hot); received shape {y.shape}")
        n = int(np.prod(y_pred.shape[:-1]))
        if self.from_logits:
            logp = _log_softmax(y_pred, xp)
            p = xp.exp(logp)
            return float(-(y * logp).sum() / n), (p * y.sum(axis=-1, keepdims=True) - y) / y_pred.dtype.type(n)
        eps = np.finfo(y_pred.dtype).eps
        p = xp.clip(y_pred, eps, 1.0)
        return float(-(y * xp.log(p)).sum() / n), -(y / p) / y_pred.dtype.type(n)

    def elements(self, y_true, y_pred):
        y, xp = _targets(y_true, y_pred, y_pred.dtype)
        if self.from_logits:
            return -(y.reshape(y_pred.shape) * _log_softmax(y_pred, xp)).sum(axis=-1)
        p = xp.clip(y_pred, np.finfo(y_pred.dtype).eps, 1.0)
        return -(y.reshape(y_pred.shape) * xp.log(p)).sum(axis=-1)


class SparseCategoricalCrossentropy(Loss):
    """Integer class targets; the classes along the last axis."""

    name = "sparse_categorical_crossentropy"

    def __call__(self, y_true, y_pred):
        labels, xp = _targets(y_true, y_pred)
        if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and bool((labels == xp.round(labels)).all())):
            raise TypeError(f"sparse_categorical_crossentropy needs integer class labels; received dtype "
                            f"{labels.dtype}")
        labels = labels.astype(np.int64).reshape(y_pred.shape[:-1])
        classes = y_pred.shape[-1]
        if labels.size:
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= classes:
                raise ValueError(f"class labels must lie in [0, {classes}); received labels from {lo} to {hi}")
        flat = y_pred.reshape(-1, classes)
        idx = (xp.arange(flat.shape[0]), labels.reshape(-1))
        n = flat.shape[0]
        if self.from_logits:
            logp = _log_softmax(flat, xp)
            grad = xp.exp(logp)
            grad[idx] -= 1
            return float(-logp[idx].sum() / n), (grad / flat.dtype.type(n)).reshape(y_pred.shape)
        eps = np.finfo(y_pred.dtype).eps
        picked = xp.clip(flat[idx], eps, 1.0)
        grad = xp.zeros_like(flat)
        grad[idx] = -1.0 / (picked * n)
        return float(-xp.log(picked).sum() / n), grad.reshape(y_pred.shape)

    def elements(self, y_true, y_pred):
        labels, xp = _targets(y_true, y_pred)
        classes = y_pred.shape[-1]
        flat = y_pred.reshape(-1, classes)
        idx = (xp.arange(flat.shape[0]), labels.astype(np.int64).reshape(-1))
        if self.from_logits:
            out = -_log_softmax(flat, xp)[idx]
        else:
            out = -xp.log(xp.clip(flat[idx], np.finfo(y_pred.dtype).eps, 1.0))
        return out.reshape(y_pred.shape[:-1])


class MeanAbsoluteError(Loss):
    """The mean absolute difference of y_pred and y_true over every output;
    the gradient sign(y_pred - y_true) / size (0 where the two are equal, as
    Keras's)."""

    name = "mae"

    def __call__(self, y_true, y_pred):
        y_true = _targets(y_true, y_pred, y_pred.dtype)[0].reshape(y_pred.shape)
        diff = y_pred - y_true
        xp = _ops.xp_of(diff)
        return float(xp.abs(diff).mean()), xp.sign(diff) * diff.dtype.type(1.0 / diff.size)

    def elements(self, y_true, y_pred):
        diff = y_pred - _targets(y_true, y_pred, y_pred.dtype)[0].reshape(y_pred.shape)
        return _ops.xp_of(diff).abs(diff)


class Huber(Loss):
    """keras.losses.Huber: per output 0.5 d^2 where abs(d) <= delta, else
    delta (abs(d) - 0.5 delta), d = y_pred - y_true; the mean over every
    output (Keras's delta 1.0)."""

    name = "huber"

    def __init__(self, delta=1.0):
        super().__init__()
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not delta > 0:
            raise ValueError(f"delta must be a number > 0; received delta={delta!r}")
        self.delta = float(delta)

    def get_config(self):
        return {"name": self.name, "delta": self.delta}

    def _diff(self, y_true, y_pred):
        return y_pred - _targets(y_true, y_pred, y_pred.dtype)[0].reshape(y_pred.shape)

    def __call__(self, y_true, y_pred):
        d = self._diff(y_true, y_pred)
        xp, delta = _ops.xp_of(d), d.dtype.type(self.delta)
        grad = xp.clip(d, -delta, delta) * d.dtype.type(1.0 / d.size)
        return float(self.elements(y_true, y_pred).mean()), grad

    def elements(self, y_true, y_pred):
        d = self._diff(y_true, y_pred)
        xp, delta = _ops.xp_of(d), d.dtype.type(self.delta)
        a = xp.abs(d)
        return xp.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))


class KLDivergence(Loss):
    """keras.losses.KLDivergence: sum(y_true log(y_true / y_pred)) over the
    last axis, both clipped to [1e-7, 1] (Keras's epsilon), the mean over
    the other axes; the gradient is 0 where y_pred was clipped."""

    name = "kl_divergence"
    _EPS = 1e-7

    def get_config(self):
        return {"name": self.name}

    def _clipped(self, y_true, y_pred):
        y, xp = _targets(y_true, y_pred, y_pred.dtype)
        eps = y_pred.dtype.type(self._EPS)
        return xp.clip(y.reshape(y_pred.shape), eps, 1), xp.clip(y_pred, eps, 1), xp

    def __call__(self, y_true, y_pred):
        t, p, xp = self._clipped(y_true, y_pred)
        terms = (t * xp.log(t / p)).sum(axis=-1)
        n = terms.size
        inside = (y_pred >= self._EPS) & (y_pred <= 1)
        return float(terms.mean()), xp.where(inside, -t / p, 0) * y_pred.dtype.type(1.0 / n)

    def elements(self, y_true, y_pred):
        t, p, xp = self._clipped(y_true, y_pred)
        return (t * xp.log(t / p)).sum(axis=-1)


_BY_NAME = {"mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
            "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "huber": Huber, "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence}


def get(loss):
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        config = dict(loss)
        return _BY_NAME[config.pop("name")](**config)
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"loss must be one of {sorted(_BY_NAME)} or a Loss; received {loss!r}")
