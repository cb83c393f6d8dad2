"""Array types: which module an array belongs to (NumPy or CuPy), decided in
one place.  Every public function passes all its array arguments (out=
included) to ``get_array_module`` once and validates with the module it
returns; fastconv._backend then maps that module to the kernels that run it.
CuPy arrays are recognised by their type's module, so CuPy is imported only
when one arrives.  This module imports nothing of the package: every other
module may depend on it.
"""
import numpy as np


def is_cupy_array(a):
    return type(a).__module__.partition(".")[0] == "cupy"


def is_array(a):
    """A NumPy or CuPy array (not a list, scalar or None)."""
    return type(a) is np.ndarray or is_cupy_array(a)


def _cupy_array_among(arrays):
    """A CuPy array among arrays, or None when there is none; TypeError when
    CuPy and NumPy arrays are mixed."""
    cupy_seen = numpy_seen = None
    for a in arrays:
        if a is None:
            continue
        if type(a) is np.ndarray:  # the common case, without the module-name test
            numpy_seen = a
        elif is_cupy_array(a):
            cupy_seen = a
        elif isinstance(a, np.ndarray):
            numpy_seen = a
    if cupy_seen is not None and numpy_seen is not None:
        raise TypeError("cannot mix NumPy and CuPy arrays in one call; move them to one device "
                        "(cupy.asarray / cupy.asnumpy)")
    return cupy_seen


def get_array_module(*arrays):
    """numpy, or cupy when the arrays are CuPy arrays; TypeError when mixed.

    None, Python scalars and lists are ignored."""
    a = _cupy_array_among(arrays)
    if a is None:
        return np
    try:
        import cupy
    except ImportError as e:
        raise TypeError(f"received a CuPy array ({type(a).__module__}.{type(a).__name__}) but CuPy cannot be "
                        f"imported: {e}") from None
    return cupy


def to_host(a):
    """A NumPy copy of a CuPy array (a NumPy array itself)."""
    return a.get() if is_cupy_array(a) else a
