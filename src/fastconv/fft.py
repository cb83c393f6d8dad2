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
import collections
import numbers
import operator
import os
import threading

import numpy as np

from . import _threads
from . import _backend
from ._backend import get_array_module, is_array, to_host
from ._ext import _fastconv as _core
from ._fft.sizes import fast_length

__all__ = ["export_fft_wisdom", "fftconvolve", "import_fft_wisdom"]

try:
    import pyfftw

    _HAVE_PYFFTW = True
except ImportError:  # pragma: no cover - pyfftw is a dependency
    pyfftw = None
    _HAVE_PYFFTW = False

_PLAN_CACHE_SIZE = 12
# beyond this many non-finite elements, their contributions are added by
# direct summation instead of one footprint at a time
_MAX_REPAIRS = 256
# spectra of small operands kept for reuse (a kernel applied to image after
# image): at most this many, and this many bytes in all
_SPECTRA_COUNT = 4
_SPECTRA_BYTES = 128 << 20


# ---- sizes ---------------------------------------------------------------------------


# ---- plans ------------------------------------------------------------------------------


def _measure_seconds():
    try:
        return float(os.environ.get("FASTCONV_FFT_PLAN_SECONDS", "5"))
    except ValueError:
        return 5.0


class _Plan:
    """FFTW plans over aligned buffers for one transform size, made with
    FFTW_ESTIMATE (instant); a size used a third time is re-planned once
    with FFTW_MEASURE, bounded by FASTCONV_FFT_PLAN_SECONDS (default 5; 0
    keeps the estimates), which about halves large 2-D transforms here.  The
    wisdom it gathers makes later plans of that size instant (see
    export_fft_wisdom).  Callers hold self.lock while they use the buffers."""

    def __init__(self, fshape, axes, dtype, threads):
        cdtype = np.complex64 if dtype == np.float32 else np.complex128
        cshape = list(fshape)
        cshape[axes[-1]] = fshape[axes[-1]] // 2 + 1
        self.axes, self.threads = axes, threads
        self._buffers(fshape, cshape, dtype, cdtype)
        self.uses = 0
        self.measured = False
        self._plan(("FFTW_ESTIMATE",), None)
        self.lock = threading.Lock()

    def _fftw(self, src, dst, direction, flags, limit):
        kw = dict(axes=self.axes, threads=self.threads, flags=flags, direction=direction)
        if limit is not None:
            kw["planning_timelimit"] = limit
        return pyfftw.FFTW(src, dst, **kw)

    def used(self):
        """Counts a use; the third one re-plans with FFTW_MEASURE (which
        overwrites the buffers)."""
        self.uses += 1
        if self.uses == 3 and not self.measured:
            self.measured = True
            seconds = _measure_seconds()
            if seconds > 0:
                self._plan(("FFTW_MEASURE",), seconds)


class _ConvPlan(_Plan):
    """Convolution of two operands: a, b (real) -> A, B (complex); inverse
    A -> a (FFTW's c2r overwrites its input; A is not needed afterwards)."""

    def _buffers(self, fshape, cshape, dtype, cdtype):
        self.a = pyfftw.empty_aligned(fshape, dtype)
        self.b = pyfftw.empty_aligned(fshape, dtype)
        self.A = pyfftw.empty_aligned(cshape, cdtype)
        self.B = pyfftw.empty_aligned(cshape, cdtype)

    def _plan(self, flags, limit):
        self.fa = self._fftw(self.a, self.A, "FFTW_FORWARD", flags, limit)
        self.fb = self._fftw(self.b, self.B, "FFTW_FORWARD", flags, limit)
        self.inv = self._fftw(self.A, self.a, "FFTW_BACKWARD", flags, limit)


class _RealPlan(_Plan):
    """One real array a <-> its half spectrum A, both directions."""

    def _buffers(self, fshape, cshape, dtype, cdtype):
        self.a = pyfftw.empty_aligned(fshape, dtype)
        self.A = pyfftw.empty_aligned(cshape, cdtype)

    def _plan(self, flags, limit):
        self.fwd = self._fftw(self.a, self.A, "FFTW_FORWARD", flags, limit)
        self.inv = self._fftw(self.A, self.a, "FFTW_BACKWARD", flags, limit)


def _require_pyfftw():
    """ImportError with what to do, where pyFFTW is not installed."""
    if pyfftw is None:
        raise ImportError("pyFFTW is required for FFT convolution (fastconv.fftconvolve, method='fft' of the "
                          "filtering functions, algorithm='fft' of conv2d / conv1d) on NumPy arrays, and it is "
                          "not installed: pip install pyfftw")


class _PlanCache:
    def __init__(self, size, kind):
        self._size = size
        self._kind = kind
        self._plans = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, fshape, axes, dtype, threads):
        _require_pyfftw()
        key = (tuple(fshape), tuple(axes), np.dtype(dtype).str, threads)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = self._kind(tuple(fshape), tuple(axes), np.dtype(dtype), threads)
        with self._lock:
            plan = self._plans.setdefault(key, plan)
            self._plans.move_to_end(key)
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)
        return plan

    def clear(self):
        with self._lock:
            self._plans.clear()


class _SpectrumCache:
    """Recently used spectra of small operands, least recently used first out."""

    def __init__(self, count, nbytes):
        self._count, self._nbytes = count, nbytes
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        if key is None:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key, spectrum):
        if key is None or spectrum.nbytes > self._nbytes:
            return
        with self._lock:
            self._items[key] = spectrum.copy()
            while len(self._items) > self._count or sum(v.nbytes for v in self._items.values()) > self._nbytes:
                self._items.popitem(last=False)

    def clear(self):
        with self._lock:
            self._items.clear()


_spectra = _SpectrumCache(_SPECTRA_COUNT, _SPECTRA_BYTES)
_plans = _PlanCache(_PLAN_CACHE_SIZE, _ConvPlan)
_real_plans = _PlanCache(_PLAN_CACHE_SIZE, _RealPlan)


def export_fft_wisdom():
    """FFTW's accumulated wisdom (pyfftw.export_wisdom), to save and pass to
    import_fft_wisdom in a later process so plans are made instantly."""
    _require_pyfftw()
    return pyfftw.export_wisdom()


def import_fft_wisdom(wisdom):
    """Loads wisdom from export_fft_wisdom; returns pyfftw's success flags.

    wisdom must be export_fft_wisdom's value: a sequence of three bytes
    objects (double, single and long-double precision); anything else is a
    TypeError (wrong types) or ValueError (wrong length)."""
    _require_pyfftw()
    if isinstance(wisdom, (str, bytes, bytearray)) or not isinstance(wisdom, (tuple, list)):
        raise TypeError(f"wisdom must be a tuple of 3 bytes objects (export_fft_wisdom's value), "
                        f"got {type(wisdom).__name__}")
    if len(wisdom) != 3:
        raise ValueError(f"wisdom must hold 3 bytes objects (double, single, long double), got {len(wisdom)}")
    for i, part in enumerate(wisdom):
        if not isinstance(part, bytes):
            raise TypeError(f"wisdom[{i}] must be bytes, got {type(part).__name__}")
    return pyfftw.import_wisdom(tuple(wisdom))


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
    plan = _real_plans.get(fshape, (a.ndim - 2, a.ndim - 1), a.dtype, _threads.get_num_threads())
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
    plan = _real_plans.get(fshape, (A.ndim - 2, A.ndim - 1), dtype, _threads.get_num_threads())
    with plan.lock:
        if count:
            plan.used()
        plan.A[...] = A
        plan.inv()
        return plan.a[..., rows, cols].copy()


def _fft_full(a, b, axes, dtype):
    """Full linear convolution of a and b along axes (same ndim; other axes
    broadcast), by one FFT of 5-smooth size."""
    nd = a.ndim
    out_shape = [max(a.shape[i], b.shape[i]) for i in range(nd)]
    fshape = list(out_shape)
    for ax in axes:
        out_shape[ax] = a.shape[ax] + b.shape[ax] - 1
        fshape[ax] = fast_length(out_shape[ax])
    plan = _plans.get(fshape, axes, dtype, _threads.get_num_threads())
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


def _oa_block(n1, n2):
    """Block length for overlap-add along an axis where n1 >> n2, or None.
    Measured here (2 threads, float32): overlap-add pays off only along a
    single convolved axis, for long filters: 2^20 samples with 257 taps 6.0
    vs 7.5 ms, with 4097 taps 7.6 vs 11.9 ms, but with 65 taps 8.8 vs 7.8;
    in 2-D (2048^2 with 7 to 31 square kernels) blocks took 56-63 ms against
    27-30 ms for one large transform.  Block transforms are powers of two
    of at least 4 (n2 - 1)."""
    if n2 < 256 or n1 < 32 * n2:
        return None
    n = 1 << max(4, (4 * (n2 - 1) - 1).bit_length())
    block = n - n2 + 1
    return block if n1 >= 2 * block else None


def _oa_full(a, b, axes, dtype, blocks):
    """Full convolution by overlap-add: a is cut into blocks along the axes in
    `blocks` ({axis: block length}); all blocks are transformed in one
    batched FFT, then each block's output is added in at its offset."""
    nd = a.ndim
    split = sorted(blocks)
    pad = [(-(-a.shape[ax] // blocks[ax]) * blocks[ax]) if ax in blocks else a.shape[ax] for ax in range(nd)]
    ap = np.zeros(pad, dtype)
    ap[tuple(slice(0, s) for s in a.shape)] = a
    # (..., nb, L, ...) per split axis, then the block counts moved to the front
    shape = []
    for ax in range(nd):
        shape += [pad[ax] // blocks[ax], blocks[ax]] if ax in blocks else [pad[ax]]
    grid = ap.reshape(shape)
    count_pos, data_pos, pos = [], [], 0
    for ax in range(nd):
        if ax in blocks:
            count_pos.append(pos)
            pos += 1
        data_pos.append(pos)
        pos += 1
    grid = np.ascontiguousarray(grid.transpose(count_pos + data_pos))
    nc = len(split)
    part = _fft_full(grid, b.reshape((1,) * nc + b.shape), tuple(nc + ax for ax in axes), dtype)
    # add the blocks back, one split axis at a time (its count axis is first)
    out = part
    for j, ax in enumerate(split):
        L = blocks[ax]
        data = nc - j + ax  # position of ax's data axis behind the remaining counts
        x = np.moveaxis(out, (0, data), (0, 1))  # (nb, L + n, rest)
        nb, span = x.shape[0], x.shape[1]
        acc = np.zeros((nb * L + span - L,) + x.shape[2:], dtype)
        for k in range(nb):
            acc[k * L: k * L + span] += x[k]
        out = np.moveaxis(acc, 0, data - 1)
    return out[tuple(slice(0, a.shape[ax] + b.shape[ax] - 1) if ax in axes else slice(None) for ax in range(nd))]


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
    blocks = {}
    long_axes = [ax for ax in axes if af.shape[ax] + bf.shape[ax] > 2]
    if len(long_axes) == 1 and kern is _core:  # overlap-add only along a single convolved axis (see _oa_block)
        blk = _oa_block(af.shape[long_axes[0]], bf.shape[long_axes[0]])
        if blk is not None:
            blocks[long_axes[0]] = blk
    if kern is not _core:
        out = kern.fft_full(af, bf, axes, dtype)
    else:
        out = _oa_full(af, bf, axes, dtype, blocks) if blocks else _fft_full(af, bf, axes, dtype)
    if bad and not _repair_nonfinite(out, a.astype(dtype, copy=False), b.astype(dtype, copy=False), axes):
        # many non-finite values: direct summation keeps every footprint exact
        if xp is np:
            import scipy.signal as signal
        else:
            import cupyx.scipy.signal as signal
        a, b = a.astype(xp.float64), b.astype(xp.float64)
        batch = [ax for ax in range(out.ndim) if ax not in axes]
        A = xp.broadcast_to(a, [out.shape[ax] if ax in batch else a.shape[ax] for ax in range(a.ndim)])
        B = xp.broadcast_to(b, [out.shape[ax] if ax in batch else b.shape[ax] for ax in range(b.ndim)])
        for pos in np.ndindex(*[out.shape[ax] for ax in batch]):  # one convolution per batch position
            where = dict(zip(batch, pos))
            sel = tuple(where.get(ax, slice(None)) for ax in range(out.ndim))
            out[sel] = signal.convolve(A[sel], B[sel], mode="full", method="direct")
    return out


# ---- fftconvolve -----------------------------------------------------------------------------


def _check_real(a, name, xp):
    if not is_array(a):
        a = xp.asarray(a)
    if a.dtype.kind not in "biu" and a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have a real floating (float32, float64) or integer dtype; "
                        f"received dtype {a.dtype}")
    return a


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
    float32 input float32).  Runs on pyFFTW with cached plans and fastconv's
    threads, and by overlap-add when one operand is much smaller.  As scipy:
    0-d operands give their product, an empty one an empty float64 array,
    and axes along which either operand has length 1 broadcast instead."""
    xp = get_array_module(in1, in2)
    in1 = _check_real(in1, "in1", xp)
    in2 = _check_real(in2, "in2", xp)
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
        dtype = np.float32 if in1.dtype == np.float32 and in2.dtype == np.float32 else np.float64
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
