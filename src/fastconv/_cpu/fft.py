"""The CPU backend's transforms (pyFFTW, fastconv._fft.plans): the
functions of fastconv._gpu.fft with the same arguments.  Threads follow
fastconv's thread setting; transform sizes are rounded up to 5-smooth
lengths."""
import numpy as np

from .. import _threads
from .._fft.overlap_add import block_length, oa_full
from .._fft import plans as _fftplans
from .._fft.sizes import fast_length
from .._fft.spectra import spectra as _spectra


def _copy_padded(dst, src):
    """dst[:src.shape] = src (broadcast along length-1 axes), the rest zero."""
    region = tuple(slice(0, s) for s in src.shape)
    dst[region] = src
    for ax in range(dst.ndim):
        if src.shape[ax] < dst.shape[ax]:
            tail = [slice(None)] * dst.ndim
            for prev in range(ax):  # slabs already zeroed need no second pass
                tail[prev] = slice(0, src.shape[prev])
            tail[ax] = slice(src.shape[ax], None)
            dst[tuple(tail)] = 0


def rfft_padded(a, lengths, count=True):
    """Half spectrum of a (..., n1, n2) zero-padded to lengths along its last
    two axes, on a cached plan (a new array).  count=False: not a new use of
    the plan (a later tile of one call), which does not bring its FFTW_MEASURE
    planning nearer."""
    fshape = a.shape[:-2] + tuple(lengths)
    plan = _fftplans.real_plans.get(fshape, (a.ndim - 2, a.ndim - 1), a.dtype, _threads.get_num_threads())
    with plan.lock:
        if count:
            plan.used()
        _copy_padded(plan.a, a)
        plan.fwd()
        return plan.A.copy()


def irfft_cropped(A, lengths, rows, cols, count=True):
    """Inverse of rfft_padded at transform lengths, then [..., rows, cols]
    (slices), as a new array (count as rfft_padded's)."""
    dtype = np.float32 if A.dtype == np.complex64 else np.float64
    fshape = A.shape[:-2] + tuple(lengths)
    plan = _fftplans.real_plans.get(fshape, (A.ndim - 2, A.ndim - 1), dtype, _threads.get_num_threads())
    with plan.lock:
        if count:
            plan.used()
        plan.A[...] = A
        plan.inv()
        return plan.a[..., rows, cols].copy()


def _one_transform(a, b, axes, dtype):
    """Full linear convolution of a and b along axes (same ndim; other axes
    broadcast), by one FFT of 5-smooth size."""
    nd = a.ndim
    out_shape = [max(a.shape[i], b.shape[i]) for i in range(nd)]
    fshape = list(out_shape)
    for ax in axes:
        out_shape[ax] = a.shape[ax] + b.shape[ax] - 1
        fshape[ax] = fast_length(out_shape[ax])
    plan = _fftplans.plans.get(fshape, axes, dtype, _threads.get_num_threads())
    # a small b (a kernel) is likely to come again: its spectrum is cached,
    # keyed by its exact bytes, which saves one of the three transforms
    key = (tuple(fshape), tuple(axes), np.dtype(dtype).str, b.shape, b.tobytes()) if 16 * b.size <= a.size else None
    with plan.lock:
        plan.used()
        # batch axes: broadcast a and b to the plan's full batch size
        _copy_padded(plan.a, np.broadcast_to(a, [fshape[i] if i not in axes else a.shape[i] for i in range(nd)]))
        plan.fa()
        spectrum = _spectra.get(key)
        if spectrum is None:
            _copy_padded(plan.b, np.broadcast_to(b, [fshape[i] if i not in axes else b.shape[i] for i in range(nd)]))
            plan.fb()
            spectrum = plan.B
            _spectra.put(key, plan.B)
        np.multiply(plan.A, spectrum, out=plan.A)
        plan.inv()
        return plan.a[tuple(slice(0, s) for s in out_shape)].copy()


def fft_full(a, b, axes, dtype):
    """Full linear convolution of a and b (finite, dtype) along axes (same
    ndim; other axes broadcast): by overlap-add along a single convolved
    axis where one operand is much the longer (see block_length), else by
    one transform of 5-smooth size."""
    long_axes = [ax for ax in axes if a.shape[ax] + b.shape[ax] > 2]
    if len(long_axes) == 1:
        blk = block_length(a.shape[long_axes[0]], b.shape[long_axes[0]])
        if blk is not None:
            return oa_full(a, b, axes, dtype, {long_axes[0]: blk}, _one_transform)
    return _one_transform(a, b, axes, dtype)
