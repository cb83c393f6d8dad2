"""FFT convolution on pyFFTW: fftconvolve (a drop-in for scipy.signal.fftconvolve)
and the helpers the other FFT paths share.

- Real-to-complex transforms of sizes rounded up to 5-smooth lengths, which
  FFTW transforms fastest here.
- Plans cached under a complete key (transform shape including batch axes,
  axes, dtype, thread count), created under a lock, each with its own
  aligned buffers; the inverse transform reuses the first forward buffer.
  FFTW wisdom can be exported and imported.
- Threads follow fastconv's thread setting.
- The spectrum of a small operand (16x smaller than the other: a kernel) is
  cached by its exact bytes, so a kernel applied to image after image is
  transformed once (the last 4 such spectra, 128 MB at most).
- Overlap-add along an axis when one operand is much smaller than the other
  (blocks sized to minimise transform work per output).
- NaN and Inf spoil only their footprint: the transforms run on the inputs
  with non-finite values replaced by 0, and each non-finite value's own
  contributions x * w are then added exactly, with IEEE semantics.
- CuPy arrays transform on cuFFT (fastconv._gpu.fft, one transform of the
  whole operands) with the same handling of non-finite values.
"""
import numbers
import operator

import numpy as np

from . import _backend, _dask
from ._backend import get_array_module, to_host
from ._validation import signal_operand
from ._fft import plans as _plans

__all__ = ["export_fft_wisdom", "fftconvolve", "import_fft_wisdom"]

# beyond this many non-finite elements, their contributions are added by
# direct summation instead of one footprint at a time
_MAX_REPAIRS = 256


def export_fft_wisdom():
    """FFTW's accumulated wisdom (pyfftw.export_wisdom), to save and pass to
    import_fft_wisdom in a later process so plans are made instantly."""
    return _plans.export_wisdom()


def import_fft_wisdom(wisdom):
    """Loads wisdom from export_fft_wisdom; returns pyfftw's success flags.

    wisdom must be export_fft_wisdom's value: a sequence of three bytes
    objects (double, single and long-double precision); anything else is a
    TypeError (wrong types) or ValueError (wrong length)."""
    return _plans.import_wisdom(wisdom)


# ---- convolution of finite-or-not operands ----------------------------------------------------


def _repair_nonfinite(out, a, b, axes):
    """Adds the terms of the non-finite elements exactly (IEEE): for each
    non-finite a[q], out[q + t] += a[q] * b[t] over b's window (and the
    same with the roles swapped).  a and b are broadcast along the other
    axes first, so each batch position pairs with its own operand slices.
    False when there are too many (the caller then sums directly)."""
    xp = get_array_module(out)
    batch = [out.shape[ax] if ax not in axes else None for ax in range(out.ndim)]
    A = xp.broadcast_to(a, [batch[ax] or a.shape[ax] for ax in range(a.ndim)])
    B = xp.broadcast_to(b, [batch[ax] or b.shape[ax] for ax in range(b.ndim)])
    for src, other in ((A, B), (B, A)):
        bad = to_host(xp.argwhere(~xp.isfinite(src)))
        if len(bad) > _MAX_REPAIRS:
            return False
        for q in map(tuple, bad):
            window = tuple(slice(q[ax], q[ax] + other.shape[ax]) if ax in axes else slice(q[ax], q[ax] + 1)
                           for ax in range(out.ndim))
            piece = tuple(slice(None) if ax in axes else slice(q[ax], q[ax] + 1) for ax in range(out.ndim))
            with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in a direct sum
                out[window] += src[q] * other[piece]
    return True


def _conv_full(a, b, axes, dtype):
    """Full convolution of finite-or-not a, b along axes."""
    xp = get_array_module(a, b)
    kern = _backend.kernels(xp)
    bad = not bool(xp.isfinite(a).all() and xp.isfinite(b).all())
    af = xp.where(xp.isfinite(a), a, 0).astype(dtype, copy=False) if bad else a
    bf = xp.where(xp.isfinite(b), b, 0).astype(dtype, copy=False) if bad else b
    out = kern.fft_full(af, bf, axes, dtype)
    if bad and not _repair_nonfinite(out, a.astype(dtype, copy=False), b.astype(dtype, copy=False), axes):
        # many non-finite values: direct summation keeps every footprint exact
        if xp is np:
            import scipy.signal as signal
        else:
            import cupyx.scipy.signal as signal
        wide = xp.complex128 if out.dtype.kind == "c" else xp.float64
        a, b = a.astype(wide), b.astype(wide)
        batch = [ax for ax in range(out.ndim) if ax not in axes]
        A = xp.broadcast_to(a, [out.shape[ax] if ax in batch else a.shape[ax] for ax in range(a.ndim)])
        B = xp.broadcast_to(b, [out.shape[ax] if ax in batch else b.shape[ax] for ax in range(b.ndim)])
        for pos in np.ndindex(*[out.shape[ax] for ax in batch]):  # one convolution per batch position
            where = dict(zip(batch, pos))
            sel = tuple(where.get(ax, slice(None)) for ax in range(out.ndim))
            out[sel] = signal.convolve(A[sel], B[sel], mode="full", method="direct")
    return out


# ---- fftconvolve -----------------------------------------------------------------------------


def _transform_dtype(d1, d2):
    """scipy's type of a transformed convolution: single precision when both
    operands are (float32, complex64), complex when either is."""
    single = all(d in (np.float32, np.complex64) for d in (d1, d2))
    if d1.kind == "c" or d2.kind == "c":
        return np.dtype(np.complex64 if single else np.complex128)
    return np.dtype(np.float32 if single else np.float64)


def _axes_list(axes, nd):
    """scipy.fft's reading of axes: an integer or an iterable of integers
    (operator.index: 1.5 or "0" are refused), negative from the end, each
    in range and once."""
    given = axes
    if isinstance(axes, numbers.Number):
        axes = (axes,)
    try:
        axes = [operator.index(a) for a in axes]
    except TypeError:
        raise ValueError(f"axes must be None, an int or a sequence of ints; received {given!r}") from None
    axes = [a + nd if a < 0 else a for a in axes]
    if any(a >= nd or a < 0 for a in axes):
        raise ValueError(f"axes exceeds dimensionality of input: axes {axes} for {nd}-D inputs")
    if len(set(axes)) != len(axes):
        raise ValueError(f"all axes must be unique; received {axes}")
    if not axes:
        raise ValueError("when provided, axes cannot be empty")
    return axes


def _centered(arr, shape):
    """The centre of arr of the given shape (every axis), as scipy's."""
    start = [(n - s) // 2 for n, s in zip(arr.shape, shape)]
    return arr[tuple(slice(b, b + s) for b, s in zip(start, shape))]


def fftconvolve(in1, in2, mode="full", axes=None):
    """Convolution by FFT; a drop-in for scipy.signal.fftconvolve (same
    arguments, modes, axes and broadcasting; integer input gives float64,
    float32 input float32, complex input complex64 or complex128 as scipy's).  Runs on pyFFTW with cached plans and fastconv's
    threads, and by overlap-add when one operand is much smaller.  As scipy:
    0-d operands give their product, an empty one an empty float64 array,
    and axes along which either operand has length 1 broadcast instead.
    A Dask array in1 gives a lazy Dask array: overlap-save across its
    chunks (fastconv._dask)."""
    if _dask.any_dask(in1, in2):
        return _dask.conv_nd(lambda a, b, m: fftconvolve(a, b, m, axes), in1, in2, mode, axes)
    xp = get_array_module(in1, in2)
    in1 = signal_operand(in1, "in1", xp)
    in2 = signal_operand(in2, "in2", xp)
    if in1.ndim == in2.ndim == 0:
        return in1 * in2
    if in1.ndim != in2.ndim:
        raise ValueError(f"in1 and in2 must have the same number of dimensions; received {in1.shape} and {in2.shape}")
    if in1.size == 0 or in2.size == 0:
        return xp.asarray([])
    nd = in1.ndim
    s1, s2 = in1.shape, in2.shape
    axes = list(range(nd)) if axes is None else _axes_list(axes, nd)
    axes = [ax for ax in axes if s1[ax] != 1 and s2[ax] != 1]  # the others broadcast
    for ax in range(nd):
        if ax not in axes and s1[ax] != s2[ax] and 1 not in (s1[ax], s2[ax]):
            raise ValueError(f"incompatible shapes for in1 and in2: {s1} and {s2} "
                             f"(axis {ax} is not convolved, so it must match or be 1)")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid'; received {mode!r}")
    if mode == "valid":
        bigger1 = all(s1[ax] >= s2[ax] for ax in axes)
        bigger2 = all(s2[ax] >= s1[ax] for ax in axes)
        if not (bigger1 or bigger2):
            raise ValueError("for 'valid' mode, one of in1 and in2 must be at least as large as the other "
                             f"along every convolved axis; received {s1} and {s2}")
        if not bigger1:
            in1, in2 = in2, in1
            s1, s2 = s2, s1
    if not axes:
        full = in1 * in2  # nothing to convolve (scipy: in the inputs' own dtype)
    else:
        dtype = _transform_dtype(in1.dtype, in2.dtype)
        # the smaller operand second: it is the one transformed whole in overlap-add
        swap = mode == "full" and all(s2[ax] > s1[ax] for ax in axes)
        a, b = (in2, in1) if swap else (in1, in2)
        full = _conv_full(a.astype(dtype, copy=False), b.astype(dtype, copy=False), tuple(sorted(axes)), dtype)
    if mode == "full":
        return full
    if mode == "same":
        return xp.ascontiguousarray(_centered(full, s1))
    shape = [s1[ax] - s2[ax] + 1 if ax in axes else full.shape[ax] for ax in range(nd)]
    return xp.ascontiguousarray(_centered(full, shape))
