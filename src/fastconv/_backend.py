"""Array-type dispatch: NumPy arrays run on the CPU core, CuPy arrays on the GPU.

``get_array_module`` is the one place that decides between NumPy and CuPy:
every public function passes it all its array arguments (out= included)
once, validates with the module it returns, and runs the kernels of
``kernels(xp)``: the compiled CPU core, or fastconv._gpu, which has the same
functions with the same arguments.  CuPy arrays are recognised by their
type's module, so CuPy is imported only when one arrives.
"""
import numpy as np

from ._ext import _fastconv as _core


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


def kernels(xp):
    """The kernels arrays of module xp run on: the CPU core for NumPy,
    fastconv._gpu for CuPy (same function names and arguments)."""
    if xp is np:
        return _core
    from . import _gpu

    return _gpu


def to_host(a):
    """A NumPy copy of a CuPy array (a NumPy array itself)."""
    return a.get() if is_cupy_array(a) else a
