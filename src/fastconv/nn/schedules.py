"""keras.optimizers.schedules: learning rates as functions of the step.

An optimizer given one (Adam(learning_rate=ExponentialDecay(...))) takes
schedule(step) at each update, step = the number of updates made before
(0 at the first), as Keras's optimizers read their iterations."""
import math
import numbers


class LearningRateSchedule:
    """__call__(step) -> the learning rate of update number step (from 0)."""

    def __call__(self, step):
        raise TypeError(f"{type(self).__name__} defines no __call__(step)")

    def get_config(self):
        return dict(vars(self), name=type(self).__name__)


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a number > 0; received {name}={value!r}")
    return value


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps) (the
    exponent floored with staircase=True)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = float(_positive(initial_learning_rate, "initial_learning_rate"))
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.decay_rate = float(_positive(decay_rate, "decay_rate"))
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to step boundaries[0] (included), values[1] up to
    boundaries[1], ..., values[-1] after the last boundary."""

    def __init__(self, boundaries, values):
        self.boundaries, self.values = list(boundaries), [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"values must hold one more entry than boundaries; received {len(self.boundaries)} "
                             f"boundaries and {len(self.values)} values")
        if any(b <= a for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must increase; received boundaries={self.boundaries!r}")

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]


class CosineDecay(LearningRateSchedule):
    """Keras's cosine decay: after warmup_steps of linear rise from
    initial_learning_rate to warmup_target (when given), the rate falls as
    a half cosine over decay_steps to alpha times its start, then stays."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = float(initial_learning_rate)
        if not self.initial_learning_rate >= 0:
            raise ValueError(f"initial_learning_rate must be >= 0; received {initial_learning_rate!r}")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.alpha = float(alpha)
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0; received warmup_steps={warmup_steps!r}")
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        start = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        if self.warmup_target is not None and step < self.warmup_steps:
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * (
                step / self.warmup_steps)
        t = min(step - (self.warmup_steps if self.warmup_target is not None else 0), self.decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * t / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def get(config):
    """A schedule from its get_config() dict."""
    config = dict(config)
    cls = _BY_NAME.get(config.pop("name", None))
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {config!r}")
    return cls(**config)
