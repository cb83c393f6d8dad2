"""Array-type dispatch: NumPy arrays run on the CPU core.

``get_array_module`` is the one place that decides between NumPy and CuPy.
This build has no GPU backend: CuPy arrays are recognised (without importing
CuPy) and rejected with a TypeError that says so.
"""
import numpy as np


def _is_cupy(a):
    return type(a).__module__.partition(".")[0] == "cupy"


def _uses_cupy(arrays):
    """True for CuPy arrays, False for NumPy ones; TypeError when mixed."""
    cupy_seen = numpy_seen = False
    for a in arrays:
        if a is None:
            continue
        if _is_cupy(a):
            cupy_seen = True
        elif isinstance(a, np.ndarray):
            numpy_seen = True
    if cupy_seen and numpy_seen:
        raise TypeError("cannot mix NumPy and CuPy arrays in one call; move them to one device "
                        "(cupy.asarray / cupy.asnumpy)")
    return cupy_seen


def get_array_module(*arrays):
    """numpy, or cupy when the arrays are CuPy arrays; TypeError when mixed.

    None and Python scalars are ignored."""
    if _uses_cupy(arrays):
        import cupy

        return cupy
    return np


def require_numpy(*arrays):
    """Raises TypeError for CuPy input, which this build cannot run."""
    if _uses_cupy(arrays):
        raise TypeError("fastconv was built without a GPU backend, so it cannot run on CuPy arrays; "
                        "pass NumPy arrays (cupy.asnumpy(a))")
