"""keras.metrics' confusion-matrix metrics: Precision, Recall, AUC.

Unlike the per-batch means (accuracy, mae, mse, averaged over the
examples), these accumulate counts over an epoch (or an evaluate call) as
Keras's do: update_state(y_true, y_pred) per batch, result() at any point,
reset_state() at the start of each epoch.  compile(metrics=[...]) takes
them as objects or by Keras's names "precision", "recall", "auc"; the
history keys are their names (a second AUC() is "auc_1", as in Keras).

Every output counts as one binary decision (y_true > 0.5 is positive;
predictions are probabilities, positive when above the threshold)."""
import numpy as np

from .. import _backend

_EPSILON = 1e-7  # Keras's backend epsilon: the end thresholds sit just outside [0, 1]


class Metric:
    name = "metric"

    def __init__(self, name=None):
        if name is not None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"name must be a non-empty string; received name={name!r}")
            self.name = name
        self.reset_state()

    def __call__(self, y_true, y_pred):
        """Adds a batch and returns the result so far (how fit reads a metric)."""
        self.update_state(y_true, y_pred)
        return self.result()

    def get_config(self):
        """The constructor's arguments with "class_name" (JSON-able; get() rebuilds the metric)."""
        return dict(self._config, class_name=type(self).__name__, name=self.name)

    def _host(self, y_true, y_pred):
        p = np.asarray(_backend.to_host(y_pred), np.float64)
        t = np.asarray(_backend.to_host(y_true), np.float64)
        if t.size != p.size:
            raise ValueError(f"{type(self).__name__}: y_true holds {t.size} values and y_pred {p.size}; the "
                             "confusion-matrix metrics take one target per output")
        return t.reshape(-1) > 0.5, p.reshape(-1)


def _thresholds(value, name):
    t = np.atleast_1d(np.asarray(value, np.float64))
    if t.ndim != 1 or not np.all((t >= 0) & (t <= 1)):
        raise ValueError(f"{name} must be a threshold (or a list of them) in [0, 1]; received {name}={value!r}")
    return t


class _Counts(Metric):
    """Counts true / false positives and negatives at each threshold."""

    def _unsupported(self, top_k, class_id):
        if top_k is not None or class_id is not None:
            raise ValueError(f"{type(self).__name__}: top_k and class_id are not supported (every output is one "
                             f"binary decision); received top_k={top_k!r}, class_id={class_id!r}")

    def reset_state(self):
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (np.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred):
        positive, p = self._host(y_true, y_pred)
        above = p[None, :] > self.thresholds[:, None]  # (thresholds, outputs): predicted positive
        self.tp += (above & positive).sum(axis=1)
        self.fp += (above & ~positive).sum(axis=1)
        self.fn += (~above & positive).sum(axis=1)
        self.tn += (~above & ~positive).sum(axis=1)

    @staticmethod
    def _ratio(a, b):
        """a / b, 0 where b is 0 (Keras's divide_no_nan)."""
        return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


class Precision(_Counts):
    """true positives / predicted positives (threshold 0.5; a list of
    thresholds gives one value per threshold, as Keras's)."""

    name = "precision"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        self._unsupported(top_k, class_id)
        self._config = {"thresholds": None if thresholds is None else np.asarray(thresholds).tolist()}
        self.thresholds = _thresholds(0.5 if thresholds is None else thresholds, "thresholds")
        self._scalar = np.ndim(thresholds) == 0
        super().__init__(name)

    def result(self):
        r = self._ratio(self.tp, self.tp + self.fp)
        return float(r[0]) if self._scalar else r


class Recall(Precision):
    """true positives / actual positives (threshold 0.5)."""

    name = "recall"

    def result(self):
        r = self._ratio(self.tp, self.tp + self.fn)
        return float(r[0]) if self._scalar else r


class AUC(_Counts):
    """The area under the ROC curve, as Keras's AUC: confusion counts at
    num_thresholds thresholds (evenly spaced in [0, 1], the ends just
    outside), summed by the trapezoid rule (summation_method
    "interpolation"), or by the lower ("minoring") or upper ("majoring")
    step.  from_logits: predictions pass a sigmoid first.  curve="PR" and
    multi_label are not supported (ValueError)."""

    name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, thresholds=None,
                 multi_label=False, from_logits=False):
        if curve != "ROC":
            raise ValueError(f"curve must be 'ROC' (the precision-recall curve is not supported); received "
                             f"curve={curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"summation_method must be 'interpolation', 'minoring' or 'majoring'; received "
                             f"summation_method={summation_method!r}")
        if multi_label:
            raise ValueError("multi_label must be False (one AUC over every output); received multi_label=True")
        if thresholds is None:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds < 2:
                raise ValueError(f"num_thresholds must be an int > 1; received num_thresholds={num_thresholds!r}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        else:
            inner = sorted(_thresholds(thresholds, "thresholds").tolist())
        self._config = {"num_thresholds": num_thresholds, "summation_method": summation_method,
                        "thresholds": None if thresholds is None else list(inner), "from_logits": bool(from_logits)}
        self.thresholds = np.array([-_EPSILON] + inner + [1 + _EPSILON])
        self.num_thresholds = len(self.thresholds)
        self.curve, self.summation_method, self.from_logits = curve, summation_method, bool(from_logits)
        super().__init__(name)

    def update_state(self, y_true, y_pred):
        if self.from_logits:
            y_pred = 1 / (1 + np.exp(-np.asarray(_backend.to_host(y_pred), np.float64)))
        super().update_state(y_true, y_pred)

    def result(self):
        recall = self._ratio(self.tp, self.tp + self.fn)
        fp_rate = self._ratio(self.fp, self.fp + self.tn)
        if self.summation_method == "interpolation":
            heights = (recall[:-1] + recall[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(recall[:-1], recall[1:])
        else:
            heights = np.maximum(recall[:-1], recall[1:])
        return float(((fp_rate[:-1] - fp_rate[1:]) * heights).sum())


_BY_NAME = {"precision": Precision, "recall": Recall, "auc": AUC}


def get(identifier):
    """A Metric from Keras's name ("precision", "recall", "auc"), its
    get_config() dict, or itself; None for another name (the model's
    per-batch means)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        config = dict(identifier)
        cls = {c.__name__: c for c in _BY_NAME.values()}.get(config.pop("class_name", None))
        return None if cls is None else cls(**config)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    return None
