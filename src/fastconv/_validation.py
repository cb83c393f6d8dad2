"""Argument checking shared by the public functions.

Every message names the argument, shows what was received and says what was
expected.  Kernels behind these checks assume valid, C-contiguous input.
The same checks serve NumPy and CuPy arrays: functions that create arrays
take the array module (xp) that _backend.get_array_module chose.
"""
import operator

import numpy as np

from ._arrays import get_array_module, is_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Sizes beyond this overflow the kernels' 64-bit index arithmetic (with margin).
MAX_EXTENT = 1 << 62


def as_float_array(a, name, xp=np):
    """a as an array of float32 or float64 (array-likes are converted by xp)."""
    if not is_array(a):
        a = xp.asarray(a)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64; received dtype {a.dtype}")
    return a


_SIGNAL_INEXACT = (np.float32, np.float64, np.complex64, np.complex128)


def signal_operand(a, name, xp=np):
    """a as an array of a dtype scipy.signal's functions take: float32,
    float64, complex64, complex128, integer or bool; TypeError naming the
    argument otherwise."""
    if not is_array(a):
        a = xp.asarray(a)
    if a.dtype.kind not in "biu" and a.dtype not in _SIGNAL_INEXACT:
        raise TypeError(f"{name} must have a floating (float32, float64), complex (complex64, complex128), "
                        f"integer or bool dtype; received dtype {a.dtype}")
    return a


def same_dtype(ref, ref_name, a, name):
    if a.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}); received dtype {a.dtype}")


def check_ndim(a, name, ndims, layout):
    if a.ndim not in ndims:
        expected = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name} must be {expected}-D {layout}; received shape {a.shape}")


def check_nonempty(a, name):
    if a.size == 0:
        raise ValueError(f"{name} must not be empty; received shape {a.shape}")


def as_int(value, name):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int; received {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int; received {type(value).__name__} {value!r}") from None


def int_tuple(value, n, name, minimum):
    """value as an n-tuple of ints >= minimum (an int is repeated n times)."""
    if type(value) is int and minimum <= value < MAX_EXTENT:
        return (value,) * n
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a sequence of {n} ints; received {value!r}")
        out = tuple(as_int(v, name) for v in value)
    else:
        out = (as_int(value, name),) * n
    for v in out:
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}; received {value!r}")
        if v >= MAX_EXTENT:
            raise ValueError(f"{name} is too large; received {value!r}")
    return out


def check_shape_size(shape, itemsize, name):
    """ValueError when an array of this shape could not be indexed in 64 bits."""
    total = itemsize
    for d in shape:
        total *= d
    if total >= MAX_EXTENT:
        raise ValueError(f"{name} of shape {tuple(shape)} would need {total} bytes, which overflows "
                         f"the kernels' 64-bit sizes")


def shape_tuple(value, n, name):
    """A user-given array shape: a sequence of n positive ints."""
    try:
        seq = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of {n} ints; received {value!r}") from None
    if len(seq) != n:
        raise ValueError(f"{name} must have {n} entries; received {value!r}")
    out = tuple(as_int(v, name) for v in seq)
    if any(v < 1 for v in out):
        raise ValueError(f"{name} must contain positive sizes; received {value!r}")
    return out


def check_out(out, shape, dtype, xp=np, name="out"):
    """out must be an array of module xp of exactly this shape and dtype."""
    if type(out) is not xp.ndarray:
        raise TypeError(f"{name} must be a {xp.__name__}.ndarray; received {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; received shape {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}; received dtype {out.dtype}")
    if not getattr(out.flags, "writeable", True):  # CuPy arrays are always writeable
        raise ValueError(f"{name} must be writeable")


def _c_contiguous(a):
    """C-contiguous and aligned for its dtype: what the kernels may read and write."""
    return a.flags.c_contiguous and getattr(a.flags, "aligned", True)  # CuPy arrays are always aligned


def contiguous(a):
    """a itself when the kernels can read it, else a C-contiguous aligned copy.
    (Not ascontiguousarray, which returns a contiguous but misaligned array,
    e.g. a float32 view at an odd byte offset, as it is.)"""
    if _c_contiguous(a):
        return a
    return get_array_module(a).array(a, order="C", copy=True)


def kernel_target(out, inputs):
    """The array a kernel may write directly: out when it is C-contiguous and
    shares no memory with an input, else None (compute into a temporary)."""
    if not _c_contiguous(out):
        return None
    xp = get_array_module(out)
    for a in inputs:
        if a is not None and xp.may_share_memory(out, a):
            return None
    return out


def result_array(shape, dtype, out, inputs, xp=np):
    """(array the kernel writes, array returned): a new array of module xp, or
    out itself when the kernel can write it directly, or a temporary copied
    into out afterwards (see finish) when out is not C-contiguous or shares
    memory with one of the inputs."""
    if out is None:
        check_shape_size(shape, np.dtype(dtype).itemsize, "the output")
        y = xp.empty(shape, dtype)
        return y, y
    check_out(out, shape, dtype, xp)
    target = kernel_target(out, inputs)
    if target is None:
        return xp.empty(shape, dtype), out
    return target, out


def finish(y, ret):
    if y is not ret:
        ret[...] = y
    return ret
