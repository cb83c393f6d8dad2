"""keras.utils: to_categorical, set_random_seed."""
import numpy as np

from ._tensor import set_random_seed  # noqa: F401 (keras.utils.set_random_seed)


def to_categorical(x, num_classes=None):
    """Class indices (any shape, integers >= 0) as one-hot rows: shape
    x.shape + (num_classes,), float32, as keras.utils.to_categorical (a
    trailing axis of length 1 is dropped first, as Keras does)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iub" and not (x.dtype.kind == "f" and np.array_equal(x, np.round(x))):
        raise ValueError(f"to_categorical takes integer class indices; received dtype {x.dtype}")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical takes class indices >= 0; received {int(x.min())}")
    n = int(x.max()) + 1 if num_classes is None and x.size else int(num_classes or 0)
    if x.size and int(x.max()) >= n:
        raise ValueError(f"class index {int(x.max())} does not fit num_classes={n}")
    out = np.zeros(x.shape + (n,), np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out
