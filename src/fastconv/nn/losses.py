"""Losses: __call__(y_true, y_pred) -> (mean loss, d loss / d y_pred).

The mean is over the batch (and, for mse, over every output).  With
from_logits=True the cross-entropies take pre-activation outputs and fuse
the softmax / sigmoid in, which is exact in floating point where the
separate steps are not (log of a softmax that underflowed to 0): Sequential
switches to that form by itself when the model ends in a softmax (or
sigmoid) and the loss is the matching cross-entropy."""
import numpy as np


class Loss:
    name = "loss"
    from_logits = False

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


class MeanSquaredError(Loss):
    name = "mse"

    def __call__(self, y_true, y_pred):
        y_true = np.asarray(y_true, y_pred.dtype).reshape(y_pred.shape)
        diff = y_pred - y_true
        return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


class BinaryCrossentropy(Loss):
    """Targets in [0, 1]; predictions probabilities (clipped to [eps, 1 - eps])
    or, from_logits, pre-sigmoid values."""

    name = "binary_crossentropy"

    def __call__(self, y_true, y_pred):
        y = np.asarray(y_true, y_pred.dtype).reshape(y_pred.shape)
        scale = y_pred.dtype.type(1.0 / y_pred.size)  # the mean over every output
        if self.from_logits:
            z = y_pred
            # log(1 + e^z) - y z, written to neither overflow nor lose digits
            loss = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
            p = 0.5 * (1 + np.tanh(0.5 * z))  # sigmoid without overflow
            return float(np.mean(loss)), (p - y) * scale
        eps = np.finfo(y_pred.dtype).eps
        p = np.clip(y_pred, eps, 1 - eps)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        grad = (p - y) / (p * (1 - p)) * scale
        return float(np.mean(loss)), grad


class CategoricalCrossentropy(Loss):
    """One-hot (or probability) targets over the last axis."""

    name = "categorical_crossentropy"

    def __call__(self, y_true, y_pred):
        y = np.asarray(y_true, y_pred.dtype)
        if y.shape != y_pred.shape:
            raise ValueError(f"categorical_crossentropy needs targets of the output's shape {y_pred.shape} "
                             f"(one-hot); received shape {y.shape}")
        n = int(np.prod(y_pred.shape[:-1]))
        if self.from_logits:
            logp = _log_softmax(y_pred)
            p = np.exp(logp)
            return float(-np.sum(y * logp) / n), (p * y.sum(axis=-1, keepdims=True) - y) / y_pred.dtype.type(n)
        eps = np.finfo(y_pred.dtype).eps
        p = np.clip(y_pred, eps, 1.0)
        return float(-np.sum(y * np.log(p)) / n), -(y / p) / y_pred.dtype.type(n)


class SparseCategoricalCrossentropy(Loss):
    """Integer class targets; the classes along the last axis."""

    name = "sparse_categorical_crossentropy"

    def __call__(self, y_true, y_pred):
        labels = np.asarray(y_true)
        if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
            raise TypeError(f"sparse_categorical_crossentropy needs integer class labels; received dtype "
                            f"{labels.dtype}")
        labels = labels.astype(np.int64).reshape(y_pred.shape[:-1])
        classes = y_pred.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"class labels must lie in [0, {classes}); received labels from {labels.min()} "
                             f"to {labels.max()}")
        flat = y_pred.reshape(-1, classes)
        idx = (np.arange(flat.shape[0]), labels.reshape(-1))
        n = flat.shape[0]
        if self.from_logits:
            logp = _log_softmax(flat)
            grad = np.exp(logp)
            grad[idx] -= 1
            return float(-np.sum(logp[idx]) / n), (grad / flat.dtype.type(n)).reshape(y_pred.shape)
        eps = np.finfo(y_pred.dtype).eps
        picked = np.clip(flat[idx], eps, 1.0)
        grad = np.zeros_like(flat)
        grad[idx] = -1.0 / (picked * n)
        return float(-np.sum(np.log(picked)) / n), grad.reshape(y_pred.shape)


_BY_NAME = {"mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy}


def get(loss):
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        config = dict(loss)
        return _BY_NAME[config.pop("name")](**config)
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"loss must be one of {sorted(_BY_NAME)} or a Loss; received {loss!r}")
