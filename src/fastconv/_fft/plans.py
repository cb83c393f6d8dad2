"""pyFFTW plans for the CPU's FFT convolution: plans per transform size,
cached under a complete key (transform shape including batch axes, axes,
dtype, thread count), created under a lock, each with its own aligned
buffers (the inverse transform reuses the first forward buffer); FFTW
wisdom export and import."""
import collections
import os
import threading

import numpy as np

try:
    import pyfftw
except ImportError:  # pragma: no cover - pyfftw is a dependency
    pyfftw = None

PLAN_CACHE_SIZE = 12


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
        cshape = list(fshape)
        if np.dtype(dtype).kind == "c":  # complex to complex: spectra of the full size
            cdtype = dtype
        else:  # real to complex: half spectra
            cdtype = np.complex64 if dtype == np.float32 else np.complex128
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


class ConvPlan(_Plan):
    """Convolution of two operands: a, b (real or complex) -> A, B (complex);
    inverse A -> a (FFTW's c2r overwrites its input; A is not needed
    afterwards)."""

    def _buffers(self, fshape, cshape, dtype, cdtype):
        self.a = pyfftw.empty_aligned(fshape, dtype)
        self.b = pyfftw.empty_aligned(fshape, dtype)
        self.A = pyfftw.empty_aligned(cshape, cdtype)
        self.B = pyfftw.empty_aligned(cshape, cdtype)

    def _plan(self, flags, limit):
        self.fa = self._fftw(self.a, self.A, "FFTW_FORWARD", flags, limit)
        self.fb = self._fftw(self.b, self.B, "FFTW_FORWARD", flags, limit)
        self.inv = self._fftw(self.A, self.a, "FFTW_BACKWARD", flags, limit)


class RealPlan(_Plan):
    """One real array a <-> its half spectrum A, both directions."""

    def _buffers(self, fshape, cshape, dtype, cdtype):
        self.a = pyfftw.empty_aligned(fshape, dtype)
        self.A = pyfftw.empty_aligned(cshape, cdtype)

    def _plan(self, flags, limit):
        self.fwd = self._fftw(self.a, self.A, "FFTW_FORWARD", flags, limit)
        self.inv = self._fftw(self.A, self.a, "FFTW_BACKWARD", flags, limit)


def require_pyfftw():
    """ImportError with what to do, where pyFFTW is not installed."""
    if pyfftw is None:
        raise ImportError("pyFFTW is required for FFT convolution (fastconv.fftconvolve, method='fft' of the "
                          "filtering functions, algorithm='fft' of conv2d / conv1d) on NumPy arrays, and it is "
                          "not installed: pip install pyfftw")


class PlanCache:
    def __init__(self, size, kind):
        self._size = size
        self._kind = kind
        self._plans = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, fshape, axes, dtype, threads):
        require_pyfftw()
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


plans = PlanCache(PLAN_CACHE_SIZE, ConvPlan)
real_plans = PlanCache(PLAN_CACHE_SIZE, RealPlan)


def export_wisdom():
    """FFTW's accumulated wisdom (pyfftw.export_wisdom), to save and pass to
    import_wisdom in a later process so plans are made instantly."""
    require_pyfftw()
    return pyfftw.export_wisdom()


def import_wisdom(wisdom):
    """Loads wisdom from export_wisdom; returns pyfftw's success flags.

    wisdom must be export_fft_wisdom's value: a sequence of three bytes
    objects (double, single and long-double precision); anything else is a
    TypeError (wrong types) or ValueError (wrong length)."""
    require_pyfftw()
    if isinstance(wisdom, (str, bytes, bytearray)) or not isinstance(wisdom, (tuple, list)):
        raise TypeError(f"wisdom must be a tuple of 3 bytes objects (export_fft_wisdom's value), "
                        f"got {type(wisdom).__name__}")
    if len(wisdom) != 3:
        raise ValueError(f"wisdom must hold 3 bytes objects (double, single, long double), got {len(wisdom)}")
    for i, part in enumerate(wisdom):
        if not isinstance(part, bytes):
            raise TypeError(f"wisdom[{i}] must be bytes, got {type(part).__name__}")
    return pyfftw.import_wisdom(tuple(wisdom))
