"""fastconv.ndimage's box filter for exact integer outputs, on the CPU:
SciPy's running sum in NumPy (the GPU backend runs the same sum on the
device), and the index arithmetic of scipy.ndimage's boundary modes."""
import numpy as np

from .._ext._fastconv import ND_MIRROR, ND_NEAREST, ND_REFLECT, ND_WRAP


def line_index(n, before, after, mode):
    """Indices into a line of n for positions -before .. n + after - 1 under mode (-1: the constant)."""
    j = np.arange(-before, n + after, dtype=np.int64)
    if mode == ND_NEAREST:
        return np.clip(j, 0, n - 1)
    if mode == ND_WRAP:
        return j % n
    if mode == ND_REFLECT:
        j = j % (2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)
    if mode == ND_MIRROR:
        if n == 1:
            return np.zeros_like(j)
        j = j % (2 * n - 2)
        return np.where(j < n, j, 2 * n - 2 - j)
    return np.where((j >= 0) & (j < n), j, -1)


def uniform1d_running(y, x, outer, n, inner, size, origin, mode, cval):
    """y (OUT) = x box-filtered along the middle axis of (outer, n, inner) by SciPy's running sum
    (NI_UniformFilter1D: the first window summed in order, then one difference added per step, the
    sum divided by size at each output; float64 data: SciPy's values to the bit); y and x distinct."""
    size1 = size // 2
    idx = line_index(n, size1 + origin, size - 1 - size1 - origin, mode)
    xe = x.reshape(outer, n, inner)[:, np.maximum(idx, 0), :]
    xe[:, idx < 0, :] = cval
    steps = np.empty((outer, n, inner), x.dtype)
    steps[:, 0] = np.add.accumulate(xe[:, :size], axis=1)[:, -1]
    steps[:, 1:] = xe[:, size:size + n - 1] - xe[:, :n - 1]
    np.divide(np.add.accumulate(steps, axis=1), size, out=y.reshape(outer, n, inner))
