"""Image filtering with SciPy's semantics: correlate2d, convolve2d, sepfilter2d.

``correlate2d`` / ``convolve2d`` take scipy.signal's arguments and give its
results (modes full / same / valid, boundaries fill / wrap / symm, fillvalue),
plus leading batch axes on in1 (a stack of images, one kernel).  The result
has scipy's dtype, np.result_type(in1, in2): float32 with float32 stays
float32; integer images give integers, computed in float64 and rounded
(exact while the sums of absolute terms stay below 2**53; beyond that in
integer arithmetic that wraps around as scipy's does).  fillvalue converts
to the result dtype as in scipy (1.5 fills an integer image with 1; a
string that is no integer cannot fill one: ValueError).

method="auto" chooses among
  direct     the register-tiled convolution kernel (the NN conv2d's),
  separable  r two-pass 1-D filters, r = the kernel's numerical rank
             (rank 1 for a Gaussian, box or Sobel kernel),
  fft        FFT convolution on pyFFTW (fastconv.fftconvolve),
by predicted time.  A kernel (or fillvalue) holding NaN or Inf takes the
direct method under "auto" and "separable": an SVD cannot factor it, and
the direct sums give scipy's IEEE answer.  The predictions come from a
cost model whose constants are measured on the running machine:
  direct     t = pixels * (c_px + c_tap * kh * kw)
  separable  t = rank * pixels * (s_px + s_tap * (kh + kw))
  fft        t = (f_a + f_b log2 n) * n log2 n + 20 us,   n = padded transform size
(pixels: output pixels of all images; float64 costs twice float32).  The
spatial constants come from timing 3x3 and 11x11 dense and 3- and 31-tap
separable filters of a 1024x1024 image (about 0.1 s a pass).  The FFT
constants take about 1 s to measure (FFTW planning included), so they are
measured only when some call could use them: when the best spatial
prediction is above an FFT cost no transform of that size can beat.

Measuring is made robust to a busy machine: each time is the least of
several interleaved rounds, passes repeat until one reproduces the minima
(at most 4), and times implausible against built-in defaults (scheduler
slices instead of work) are refused, the defaults then standing in.  A
reliable measurement (reproduced, and taken while the process had its
threads' CPUs) is saved per machine, SIMD level, thread count and
fastconv version in a cache file (FASTCONV_CACHE_DIR, else
$XDG_CACHE_HOME/fastconv, else ~/.cache/fastconv; FASTCONV_CACHE_DIR=""
keeps none; failing to write it is silent), which later processes read
instead of measuring.  ``calibrate_filters()`` re-measures (and re-saves).
``last_method()`` reports what the last call in this thread chose, and the
predictions.

CuPy arrays run the same methods on the GPU (fastconv._gpu.filtering), where
"auto" counts multiply-adds instead of timing (no predictions reported).
"""
import collections
import hashlib
import json
import math
import os
import platform
import tempfile
import threading
import time

import numpy as np

from . import _threads
from . import _backend
from ._backend import get_array_module, is_array, to_host
from ._ext import _fastconv as _core
from . import fft as _fft_module
from ._validation import contiguous
from .fft import _conv_full, fast_length

__all__ = ["calibrate_filters", "convolve2d", "correlate2d", "last_method", "sepfilter2d"]

_BOUNDARY = {"fill": _core.BOUNDARY_FILL, "wrap": _core.BOUNDARY_WRAP, "circular": _core.BOUNDARY_WRAP,
             "symm": _core.BOUNDARY_SYMM, "symmetric": _core.BOUNDARY_SYMM}
_NP_PAD = {_core.BOUNDARY_WRAP: "wrap", _core.BOUNDARY_SYMM: "symmetric"}
_METHODS = ("auto", "direct", "separable", "fft")
_local = threading.local()
_model_lock = threading.Lock()  # guards the cost model and the factor cache


def last_method():
    """What the last correlate2d / convolve2d / sepfilter2d call in this
    thread did: a dict with "method" ("direct", "separable", "fft"), "rank"
    (separable passes) and, when "auto" chose, "predicted_ms" per method."""
    return getattr(_local, "last", None)


# ---- argument checking ----------------------------------------------------------------


def _as_image(a, name, xp):
    if not is_array(a):
        a = xp.asarray(a)
    if a.dtype.kind not in "biu" and a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have a real floating (float32, float64), integer or bool dtype; "
                        f"received dtype {a.dtype}")
    return a


def _dtypes(*arrays):
    """(result dtype, compute dtype): scipy.signal's result type (integers stay
    integers; bool, which scipy rejects, counts as integer 0 / 1); computed
    in float32 when that is the result, else float64."""
    result = np.result_type(*(a.dtype for a in arrays))
    if result.kind == "b":
        result = np.dtype(np.int64)
    return result, (np.float32 if result == np.float32 else np.float64)


# integer images: computed in float64, exact by the direct method while
# every sum of absolute terms stays below 2**53; rounding of the separable
# and FFT methods stays well under 1/2 below 2**41.
_INT_EXACT = 2.0 ** 53
_INT_ROUNDED = 2.0 ** 41


def _as_result(out, result):
    """The float result (integral where the result is an integer type, see
    _INT_EXACT) in the result dtype, rounded, and wrapped modulo 2**bits as
    scipy's integer sums are (through int64, whose wrap-around the narrower
    types share)."""
    if result.kind in "iu":
        wide = np.uint64 if result == np.uint64 else np.int64
        return get_array_module(out).rint(out).astype(wide).astype(result, copy=False)
    return out


def _int_bound(x, k, boundary, fill):
    """An upper bound on |sum of the terms| of any output of integer x, k
    (in float64: max |x| or |fill| times sum |k|)."""
    xp = get_array_module(x)
    # along axes of stride 0 (a broadcast view) every value repeats: look at one
    x = x[tuple(slice(0, 1) if st == 0 else slice(None) for st in x.strides)]
    m = max(abs(float(x.max())), abs(float(x.min()))) if x.size else 0.0
    if boundary == _core.BOUNDARY_FILL:
        m = max(m, abs(float(fill)))
    return m * float(xp.abs(k.astype(np.float64)).sum())


def _direct_integer(x, k, P, Q, pt, pl, boundary, fill, result):
    """correlate2d of integer x and k in integer arithmetic that wraps
    modulo 2**64, as scipy's does modulo 2**bits of the result type (for
    sums 2**53 and beyond, which float64 cannot hold exactly).  One pass of
    the extended image per nonzero tap."""
    xp = get_array_module(x)
    wide = np.uint64 if result == np.uint64 else np.int64
    kh, kw = k.shape
    ext = _extended(x.astype(wide), P, Q, kh, kw, pt, pl, boundary, fill)
    k = to_host(k).astype(wide)
    out = xp.zeros(x.shape[:-2] + (P, Q), wide)
    with np.errstate(over="ignore"):
        for i in range(kh):
            for j in range(kw):
                if k[i, j]:
                    out += k[i, j] * ext[..., i: i + P, j: j + Q]
    return out.astype(result, copy=False)


def _check_common(in1, in2, mode, boundary, fillvalue, method, xp):
    in1 = _as_image(in1, "in1", xp)
    in2 = _as_image(in2, "in2", xp)
    if in1.ndim < 2:
        raise ValueError(f"in1 must have at least 2 dimensions (..., H, W); received shape {in1.shape}")
    if in2.ndim != 2:
        raise ValueError(f"in2 must be a 2-D kernel; received shape {in2.shape}")
    if in1.size == 0 or in2.size == 0:
        raise ValueError(f"in1 and in2 must not be empty; received shapes {in1.shape} and {in2.shape}")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid'; received {mode!r}")
    if boundary not in _BOUNDARY:
        raise ValueError(f"boundary must be 'fill', 'wrap' or 'symm'; received {boundary!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; received {method!r}")
    return in1, in2, _BOUNDARY[boundary]


def _fill_value(fillvalue, result):
    """fillvalue as scipy.signal converts it: to one element of the result
    dtype (1.5 fills an integer image with 1; '1.5' fills a float image with
    1.5 but cannot fill an integer one), else ValueError, as scipy raises."""
    if type(fillvalue) is int and fillvalue == 0:  # the default, in every dtype
        return 0
    try:
        with np.errstate(invalid="raise", over="ignore"):
            v = np.asarray(fillvalue, dtype=result)
    except (TypeError, ValueError, OverflowError, FloatingPointError):
        raise ValueError(f"fillvalue must be a real scalar that converts to the result dtype {result}; "
                         f"received {fillvalue!r}") from None
    if v.size != 1:
        raise ValueError(f"fillvalue must be a scalar or an array with one element; received {fillvalue!r}")
    return v.reshape(()).item()


def _geometry(H, W, kh, kw, mode, flipped):
    """(P, Q, pad_top, pad_left): output (p, q) correlates the extended input
    from (p - pad_top, q - pad_left) with the (flipped, for convolve2d) kernel,
    with scipy's centring of 'same'."""
    if mode == "full":
        return H + kh - 1, W + kw - 1, kh - 1, kw - 1
    if mode == "valid":
        return H - kh + 1, W - kw + 1, 0, 0
    if flipped:
        return H, W, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2
    return H, W, (kh - 1) // 2, (kw - 1) // 2


# ---- the methods ---------------------------------------------------------------------


def _extended(x, P, Q, kh, kw, pt, pl, boundary, fill):
    """The part of x's boundary extension that outputs (P, Q) read, as an array."""
    pads = [(0, 0)] * (x.ndim - 2) + [(pt, P + kh - 1 - pt - x.shape[-2]), (pl, Q + kw - 1 - pl - x.shape[-1])]
    crop = [slice(None)] * (x.ndim - 2)
    for ax, (lo, hi) in zip((-2, -1), pads[-2:]):
        # negative padding (valid mode): crop instead
        n = x.shape[ax]
        crop.append(slice(max(0, -lo), n - max(0, -hi)))
    x = x[tuple(crop)]
    pads = [(max(0, lo), max(0, hi)) for lo, hi in pads]
    xp = get_array_module(x)
    if boundary == _core.BOUNDARY_FILL:
        return xp.pad(x, pads, mode="constant", constant_values=fill)
    return xp.pad(x, pads, mode=_NP_PAD[boundary])


def _direct(x, k, P, Q, pt, pl, boundary, fill, out, kern=_core):
    N = int(np.prod(x.shape[:-2]))
    H, W = x.shape[-2:]
    geom = (N, H, W, P, Q, k.shape[0], k.shape[1], pt, pl, boundary)
    xp = get_array_module(x)
    kern.filter2d_forward(out, contiguous(x), contiguous(k), fill, geom, False, _threads.current())


def _separable(x, factors, P, Q, pt, pl, boundary, fill, out, kern=_core):
    N = int(np.prod(x.shape[:-2]))
    H, W = x.shape[-2:]
    x = contiguous(x)
    for i, (ky, kx) in enumerate(factors):
        geom = (N, H, W, P, Q, len(ky), len(kx), pt, pl, boundary)
        # fill values: every pass filters the same extension, so each sees the fill
        kern.sepfilter_forward(out, x, ky, kx, fill, geom, i > 0, _threads.current())


# beyond this many non-finite pixels, a separable filter falls back to the
# direct sums instead of adding their terms one footprint at a time
_MAX_SEPARABLE_REPAIRS = 256


def _separable_nonfinite(x, k, factors, P, Q, pt, pl, boundary, fill, out, kern=_core):
    """Separable passes over an image holding NaN or Inf, with scipy's
    (direct summation's) IEEE semantics.  The rank-1 passes of a kernel of
    rank > 1 would combine an Inf's partial sums (Inf - Inf = NaN where the
    direct sum is Inf), so the passes run on the boundary-extended image with
    its non-finite pixels zeroed, and each such pixel's own terms
    out[p] += x[p + t] * k[t] are added afterwards, exactly.  False (nothing
    written) when there are too many such pixels."""
    xp = get_array_module(x)
    kh, kw = k.shape
    ext = _extended(x, P, Q, kh, kw, pt, pl, boundary, fill)
    bad = to_host(xp.argwhere(~xp.isfinite(ext)))
    if len(bad) > _MAX_SEPARABLE_REPAIRS:
        return False
    values = [ext[tuple(q)].item() for q in bad]
    ext[~xp.isfinite(ext)] = 0
    _separable(ext, factors, P, Q, 0, 0, _core.BOUNDARY_FILL, 0.0, out, kern)
    kf = k.astype(out.dtype, copy=False)
    for q, v in zip(bad, values):
        *lead, i, j = (int(t) for t in q)
        # outputs p = q - t for taps t inside the kernel and p inside the output
        t0, t1 = max(0, i - P + 1), min(kh, i + 1)
        s0, s1 = max(0, j - Q + 1), min(kw, j + 1)
        if t0 >= t1 or s0 >= s1:
            continue
        window = tuple(lead) + (slice(i - t1 + 1, i - t0 + 1), slice(j - s1 + 1, j - s0 + 1))
        with np.errstate(invalid="ignore", over="ignore"):  # Inf * 0 is NaN, as in a direct sum
            out[window] += v * kf[t0:t1, s0:s1][::-1, ::-1]
    return True


def _fft(x, k, P, Q, pt, pl, boundary, fill, out, dtype):
    kh, kw = k.shape
    # with a non-finite kernel the zeros outside the image count (inf * 0 is
    # NaN in scipy's sums), so they are made part of the image
    if boundary != _core.BOUNDARY_FILL or fill != 0 or not bool(get_array_module(k).isfinite(k).all()):
        x = _extended(x, P, Q, kh, kw, pt, pl, boundary, fill)
        pt = pl = 0
        lo = (kh - 1, kw - 1)
    else:
        lo = (kh - 1 - pt, kw - 1 - pl)
    # correlation = convolution with the kernel rotated; full output, then crop
    kb = get_array_module(k).ascontiguousarray(k[::-1, ::-1]).reshape((1,) * (x.ndim - 2) + k.shape)
    full = _conv_full(x, kb, (x.ndim - 2, x.ndim - 1), dtype)
    out[...] = full[..., lo[0]: lo[0] + P, lo[1]: lo[1] + Q]


_FACTOR_CACHE_SIZE = 64
_factor_cache = collections.OrderedDict()
_blas = []


def _svd(k):
    """np.linalg.svd on one BLAS thread: the kernels are small, and a threaded
    BLAS leaves its threads spinning for milliseconds after each call, on the
    cores the filter that follows needs (measured: a 2x slower FFT)."""
    if not _blas:
        try:
            import threadpoolctl

            _blas.append(threadpoolctl.ThreadpoolController().select(user_api="blas"))
        except Exception:  # threadpoolctl missing or unable to inspect this process
            _blas.append(None)
    if _blas[0] is None or not _blas[0].lib_controllers:
        return np.linalg.svd(k)
    with _blas[0].limit(limits=1):
        return np.linalg.svd(k)


def _factors(k, dtype):
    """[(ky, kx), ...]: k = sum ky kx^T over the kernel's numerical rank
    (singular values above max(kh, kw) * eps(dtype) * the largest).  Cached
    for the last kernels seen, as a stack of images is often filtered with
    one kernel call after call.  None for a kernel holding NaN or Inf (never
    cached, so a cache hit is finite)."""
    key = (k.shape, np.dtype(dtype).str, k.tobytes())
    with _model_lock:
        hit = _factor_cache.get(key)
        if hit is not None:
            _factor_cache.move_to_end(key)
            return hit
    if not np.isfinite(k).all():
        return None
    u, s, vt = _svd(k.astype(np.float64))
    tol = max(k.shape) * np.finfo(dtype).eps * s[0]
    r = max(int(np.sum(s > tol)), 1)
    factors = [(np.ascontiguousarray((u[:, i] * np.sqrt(s[i])).astype(dtype)),
                np.ascontiguousarray((vt[i] * np.sqrt(s[i])).astype(dtype))) for i in range(r)]
    with _model_lock:
        _factor_cache[key] = factors
        while len(_factor_cache) > _FACTOR_CACHE_SIZE:
            _factor_cache.popitem(last=False)
    return factors


# ---- the cost model ----------------------------------------------------------------------

# The model in use: {"direct": {"px", "tap"}, "separable": {"px", "tap"},
# "fft": {"a", "b"} (once measured), "threads", "simd", "source", "reliable"},
# for the thread count and SIMD level in "threads" and "simd" (a model with
# "pinned": True serves every setting: tests inject constants that way).
_model = None
# FFT convolution never costs less than this many seconds per n log2 n of
# its transform size (three transforms at well under the fastest measured
# rate): when direct or separable is predicted faster than that bound, FFT
# is not a contender and its constants need not be measured.
_FFT_FLOOR_PER_POINT = 3 * 0.02e-9

# Constants of one thread (float32; seconds per output pixel and per tap),
# measured with one thread at each SIMD level on the development machine
# (an AMD EPYC VM).  They stand in when measuring keeps failing (a busy
# machine), and bound what a measurement may plausibly give.
_DEFAULTS = {
    "generic": {"direct": {"px": 6.3e-10, "tap": 7.6e-11}, "separable": {"px": 5.7e-10, "tap": 1.23e-10}},
    "avx2": {"direct": {"px": 3.2e-10, "tap": 3.4e-11}, "separable": {"px": 2.6e-10, "tap": 6.5e-11}},
    "avx512": {"direct": {"px": 1.8e-10, "tap": 2.6e-11}, "separable": {"px": 3.3e-10, "tap": 2.6e-11}},
}
_DEFAULT_FFT = {"a": 2.5e-10, "b": 2e-12}
# a measured time or constant more than this factor away from the default's
# prediction is not believed (machines differ by far less)
_SANE_FACTOR = 20.0
# measured timing ratios (11x11 / 3x3 direct, 31 / 3 taps separable) within
# this factor of the defaults' ratios
_SANE_RATIO = 3.0
# a minimum time is believed when a second pass reproduces it this closely
_STABLE = 1.25
_MAX_PASSES = 4
# a measurement is saved only when the process had at least this share of
# its threads' CPUs while timing (see _had_the_cpus)
_CPU_SHARE = 0.8
# FFT convolution's cost per call beyond the n log n term (planned
# transforms of a few points, Python around them): tiny images never take it
_FFT_CALL_SECONDS = 20e-6
_CACHE_ENV = "FASTCONV_CACHE_DIR"


def _defaults(simd, threads, fft=True):
    """The default model for a SIMD level and thread count (one thread's
    constants divided among the threads)."""
    base = _DEFAULTS.get(simd, _DEFAULTS["generic"])
    model = {m: {c: v / threads for c, v in base[m].items()} for m in ("direct", "separable")}
    if fft:
        model["fft"] = {c: v / threads for c, v in _DEFAULT_FFT.items()}
    model.update(threads=threads, simd=simd, source="default", reliable=False)
    return model


def _min_times(fns, rounds=5, usage=None):
    """Best time of each callable over `rounds` interleaved rounds (after one
    untimed call each), so a noisy moment spoils one round of each, not one
    method's every sample.  usage: a list to append (CPU seconds of the
    process, wall seconds) of all the timed calls to."""
    for fn in fns:
        fn()
    best = [np.inf] * len(fns)
    cpu = wall = 0.0
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            t = time.perf_counter() - t0
            cpu += time.process_time() - c0
            wall += t
            best[i] = min(best[i], t)
    if usage is not None:
        usage.append((cpu, wall))
    return best


def _had_the_cpus(usage, threads):
    """Whether the timed calls got the CPUs they ran on: the process's CPU
    time at least _CPU_SHARE of wall time x threads.  A machine busy with
    other work preempts the threads, and times that are nonetheless
    reproducible, only slower, would be saved."""
    cpu, wall = sum(u[0] for u in usage), sum(u[1] for u in usage)
    return wall <= 0 or cpu >= _CPU_SHARE * wall * threads


def _measured(passes, sane):
    """(times, stable): the least of each time over up to _MAX_PASSES passes
    (each a list of minimum times), stopping once a second pass reproduces
    every minimum within _STABLE and sane(times) holds; times is None when
    even the minima are not sane (a machine too busy to time)."""
    seen = []
    best = None
    for _ in range(_MAX_PASSES):
        seen.append(passes())
        best = [min(s[i] for s in seen) for i in range(len(seen[0]))]
        if len(seen) >= 2 and sane(best):
            second = [sorted(s[i] for s in seen)[1] for i in range(len(best))]
            if all(s <= _STABLE * b for s, b in zip(second, best)):
                return best, True
    return (best, False) if sane(best) else (None, False)


def _within(value, ref):
    return ref / _SANE_FACTOR <= value <= ref * _SANE_FACTOR


def _fit2(x1, t1, x2, t2):
    """(a, b) with t = a + b x through two measurements (b >= 0, a >= 0)."""
    b = max((t2 - t1) / (x2 - x1), 1e-15)
    return max(t1 - b * x1, 0.0), b


# (taps of the two measurements) per method: 3x3 and 11x11 dense, 3 and 31 separable
_SPATIAL_TAPS = {"direct": (9, 121), "separable": (6, 62)}


def _fit_spatial(t, px):
    a, b = _fit2(9, t[0] / px, 121, t[1] / px)
    c, d = _fit2(6, t[2] / px, 62, t[3] / px)
    return {"direct": {"px": a, "tap": b}, "separable": {"px": c, "tap": d}}


def _spatial_sane(t, px, ref):
    """Times t (3x3, 11x11 direct, 3-, 31-tap separable) that a model
    believes: each within _SANE_FACTOR of the default's prediction, and the
    ratios of the larger to the smaller within _SANE_RATIO of the default's
    (a busy machine gives times of whole scheduler slices, whose ratios are
    off: 8 ms and 16 ms for what takes 0.2 and 1.7 ms)."""
    if not all(np.isfinite(v) and v > 0 for v in t):
        return False
    for i, m in enumerate(("direct", "separable")):
        lo, hi = (px * (ref[m]["px"] + ref[m]["tap"] * n) for n in _SPATIAL_TAPS[m])
        if not (_within(t[2 * i], lo) and _within(t[2 * i + 1], hi)):
            return False
        ratio = t[2 * i + 1] / t[2 * i]
        if not hi / lo / _SANE_RATIO <= ratio <= hi / lo * _SANE_RATIO:
            return False
    return True


def _calibrate_spatial(ref):
    """The spatial constants, measured (see _measured); None when the
    machine is too busy to time them."""
    rng = np.random.default_rng(0)
    n = 1024
    img = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(img)
    px = n * n
    d3, d11 = (rng.standard_normal((k, k)).astype(np.float32) for k in (3, 11))
    s3, s31 = ([(rng.standard_normal(k).astype(np.float32), rng.standard_normal(k).astype(np.float32))]
               for k in (3, 31))
    fill = _core.BOUNDARY_FILL
    fns = [
        lambda: _direct(img, d3, n, n, 1, 1, fill, 0.0, out),
        lambda: _direct(img, d11, n, n, 5, 5, fill, 0.0, out),
        lambda: _separable(img, s3, n, n, 1, 1, fill, 0.0, out),
        lambda: _separable(img, s31, n, n, 15, 15, fill, 0.0, out),
    ]
    usage = []
    t, stable = _measured(lambda: _min_times(fns, usage=usage), lambda t: _spatial_sane(t, px, ref))
    stable = stable and _had_the_cpus(usage, _threads.get_num_threads())
    return (None, False) if t is None else (_fit_spatial(t, px), stable)


_FFT_SIZES = (224, 992)  # images, with a 33x33 kernel: transforms of 256^2 and 1024^2


def _fft_points(m):
    n = fast_length(m + 32) ** 2
    return n, np.log2(n)


def _fft_sane(t, ref):
    if not all(np.isfinite(v) and v > 0 for v in t):
        return False
    for m, v in zip(_FFT_SIZES, t):
        n, lg = _fft_points(m)
        if not _within(v / (n * lg), max(ref["a"] + ref["b"] * lg, _FFT_FLOOR_PER_POINT)):
            return False
    return True


def _calibrate_fft(ref):
    """t = c(n) * n log2 n, with c(n) = a + b log2 n (transforms of more
    points fall out of cache) through two transform sizes, 256^2 and 1024^2,
    timed with the plans the steady state uses (FFTW_MEASURE, which a size
    gets on its third use).  None when the machine is too busy to time."""
    rng = np.random.default_rng(1)
    fns = []
    for m in _FFT_SIZES:
        x = rng.standard_normal((m, m)).astype(np.float32)
        k = rng.standard_normal((33, 33)).astype(np.float32)
        for _ in range(2):
            _conv_full(x, k, (0, 1), np.float32)
        fns.append(lambda x=x, k=k: _conv_full(x, k, (0, 1), np.float32))
    usage = []
    t, stable = _measured(lambda: _min_times(fns, usage=usage), lambda t: _fft_sane(t, ref))
    stable = stable and _had_the_cpus(usage, _threads.get_num_threads())
    if t is None:
        return None, False
    (l1, c1), (l2, c2) = ((lg, v / (n * lg)) for v, (n, lg) in zip(t, map(_fft_points, _FFT_SIZES)))
    b = max((c2 - c1) / (l2 - l1), 0.0)
    return {"a": float(c1 - b * l1), "b": float(b)}, stable


# ---- the cost model's cache file ------------------------------------------------------------


def _cache_dir():
    """FASTCONV_CACHE_DIR (empty: no cache file), else $XDG_CACHE_HOME/fastconv,
    else ~/.cache/fastconv."""
    d = os.environ.get(_CACHE_ENV)
    if d is not None:
        return d or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastconv")


def _machine_id():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = f"{platform.machine()}|{cpu}|{os.cpu_count()}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _cache_path(simd, threads):
    d = _cache_dir()
    if not d:
        return None
    from ._version import __version__

    return os.path.join(d, f"filter-cost-{__version__}-{simd}-{threads}t-{_machine_id()}.json")


def _valid_constants(d, names):
    """d holds finite numbers under names (all >= 0 but the FFT's "a")."""
    return isinstance(d, dict) and all(
        isinstance(d.get(c), (int, float)) and np.isfinite(d[c]) and (c == "a" or d[c] >= 0) for c in names)


def _load_cached(simd, threads):
    """The model saved for this machine, SIMD level and thread count, or
    None (no file, unreadable, or not a model)."""
    try:
        path = _cache_path(simd, threads)
        if path is None:
            return None
        with open(path) as f:
            saved = json.load(f)
        if not all(_valid_constants(saved.get(m), ("px", "tap")) for m in ("direct", "separable")):
            return None
        model = {m: {c: float(saved[m][c]) for c in ("px", "tap")} for m in ("direct", "separable")}
        if _valid_constants(saved.get("fft"), ("a", "b")):
            model["fft"] = {c: float(saved["fft"][c]) for c in ("a", "b")}
        model.update(threads=threads, simd=simd, source="cache", reliable=True)
        return model
    except Exception:  # a cache that cannot be read is no cache
        return None


def _save(model):
    """Writes a reliably measured model to the cache file (atomically);
    silently does nothing when that fails."""
    if not model.get("reliable") or model.get("pinned"):
        return
    try:
        path = _cache_path(model["simd"], model["threads"])
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = {m: model[m] for m in ("direct", "separable", "fft") if m in model}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".filter-cost-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # read-only or full disk, no home directory: the model lives in memory only
        pass


def _measure_model(fft):
    """A model measured now for the current setting (the defaults where the
    machine is too busy to time); saved when reliably measured."""
    threads, simd = _threads.get_num_threads(), _core.simd_active()
    ref = _defaults(simd, threads)
    spatial, stable = _calibrate_spatial(ref)
    if spatial is None:
        model = _defaults(simd, threads, fft=False)
    else:
        model = dict(spatial, threads=threads, simd=simd, source="measured", reliable=stable)
    if fft:
        model = _with_fft(model)
    else:
        _save(model)
    return model


def _with_fft(model):
    """model with FFT constants: measured (the defaults where the machine
    is too busy; none without pyFFTW); saved when all reliably measured."""
    model = dict(model)
    if _pyfftw() is None:
        _save(model)
        return model
    fft_consts, stable = _calibrate_fft(_defaults(model["simd"], model["threads"])["fft"])
    if fft_consts is None:
        model["fft"] = _defaults(model["simd"], model["threads"])["fft"]
        model["reliable"] = False
    else:
        model["fft"] = fft_consts
        model["reliable"] = model.get("reliable", False) and stable
    _save(model)
    return model


def _pyfftw():
    return _fft_module.pyfftw


def calibrate_filters(fft=True):
    """Measures the filtering cost model on this machine with the current
    thread count and SIMD level, and returns its constants (seconds per
    unit).  The spatial methods take about 0.1 s; fft=True also measures FFT
    convolution (about 1 s, mostly FFTW planning, whose wisdom later plans
    reuse).  Each timing is the least of several passes, repeated until a
    pass reproduces it; where the machine is too busy for that, or the
    results are implausible, the built-in defaults stand in.  A reliable
    measurement is saved (FASTCONV_CACHE_DIR, else $XDG_CACHE_HOME/fastconv
    or ~/.cache/fastconv) and "auto" reads it in later processes instead of
    measuring again."""
    global _model
    model = _measure_model(fft)
    with _model_lock:
        _model = model
    return model


def _current_model():
    """The model for the current thread count and SIMD level: the one in
    memory, else the cache file's, else measured now (once per process and
    setting: a model measured under load stays in memory, unsaved)."""
    global _model
    with _model_lock:
        model = _model
    if model is not None and (model.get("pinned") or (model.get("threads"), model.get("simd")) == (
            _threads.get_num_threads(), _core.simd_active())):
        return model
    threads, simd = _threads.get_num_threads(), _core.simd_active()
    model = _load_cached(simd, threads) or _measure_model(fft=False)
    with _model_lock:
        _model = model
    return model


def _predict(N, H, W, P, Q, kh, kw, rank, itemsize):
    global _model
    model = _current_model()
    scale = 2.0 if itemsize == 8 else 1.0  # double precision: half the vector lanes
    pixels = N * P * Q
    pred = {
        "direct": scale * pixels * (model["direct"]["px"] + model["direct"]["tap"] * kh * kw),
        "separable": scale * rank * pixels * (model["separable"]["px"] + model["separable"]["tap"] * (kh + kw)),
    }
    n = fast_length(H + kh - 1) * fast_length(W + kw - 1)
    nlogn = N * n * np.log2(n)
    if min(pred.values()) > scale * _FFT_FLOOR_PER_POINT * nlogn and _pyfftw() is not None:
        if "fft" not in model:
            model = _with_fft(model)
            with _model_lock:
                _model = model
        per_point = max(model["fft"]["a"] + model["fft"]["b"] * np.log2(n), _FFT_FLOOR_PER_POINT)
        pred["fft"] = scale * per_point * nlogn + _FFT_CALL_SECONDS
    return {k: float(v) * 1e3 for k, v in pred.items()}


# ---- public functions ----------------------------------------------------------------------


def _filter(in1, in2, mode, boundary, fillvalue, method, flipped, xp, factors=None, result=None):
    kern = _backend.kernels(xp)
    x, k, bnd = _check_common(in1, in2, mode, boundary, fillvalue, method, xp)
    if result is None:
        result, dtype = _dtypes(x, k)
    else:
        dtype = np.float32 if result == np.float32 else np.float64
    # scipy reads fillvalue only for boundary='fill'
    fill = _fill_value(fillvalue, result) if bnd == _core.BOUNDARY_FILL else 0
    exact = False
    limits = np.iinfo(result) if result.kind in "iu" else None
    # (8- and 16-bit images need no look at the values: their type bounds the sums)
    if limits is not None and float(max(limits.max, -limits.min)) ** 2 * k.size >= _INT_ROUNDED:
        bound = _int_bound(x, k, bnd, fill)
        exact = bound >= _INT_EXACT
        if bound >= _INT_ROUNDED and method != "direct":
            method, factors = "direct", None
    if exact:
        x, k = x.astype(result, copy=False), k.astype(result, copy=False)
    else:
        x, k, fill = x.astype(dtype, copy=False), k.astype(dtype, copy=False), float(fill)
    H, W = x.shape[-2:]
    kh, kw = k.shape
    rotate = False
    if mode == "valid" and (H < kh or W < kw):
        if H <= kh and W <= kw and x.ndim == 2:
            # scipy swaps the operands; a correlation then comes out rotated
            x, k = xp.ascontiguousarray(k), xp.ascontiguousarray(x)
            (H, W), (kh, kw) = x.shape, k.shape
            rotate = not flipped
        else:
            raise ValueError("for 'valid' mode, one of in1 and in2 must be at least as large as the other in "
                             f"every dimension; received shapes {x.shape[-2:]} and {k.shape}")
    if flipped:
        k = k[::-1, ::-1]
    P, Q, pt, pl = _geometry(H, W, kh, kw, mode, flipped)
    if exact:
        out = _direct_integer(x, k, P, Q, pt, pl, bnd, fill, result)
        _local.last = {"method": "direct", "rank": None}
        return out[::-1, ::-1].copy() if rotate else out
    N = int(np.prod(x.shape[:-2]))
    chosen = method
    record = {}
    if factors is None and method in ("auto", "separable"):
        host = _factors(to_host(k), dtype) if math.isfinite(fill) else None
        if host is None:
            # a kernel with NaN or Inf cannot be factored (its SVD fails or
            # never ends), and separable passes would spread a non-finite
            # fill beyond its footprint: the direct sums give scipy's answer
            method = chosen = "direct"
        else:
            factors = [(xp.asarray(ky), xp.asarray(kx)) for ky, kx in host]
    if method == "auto" and kern is not _core:
        chosen = kern.choose_filter_method(kh, kw, len(factors))
    elif method == "auto":
        pred = _predict(N, H, W, P, Q, kh, kw, len(factors), np.dtype(dtype).itemsize)
        chosen = min(pred, key=pred.get)
        record["predicted_ms"] = pred
    out = xp.empty(x.shape[:-2] + (P, Q), dtype)
    if chosen == "direct":
        _direct(x, contiguous(k), P, Q, pt, pl, bnd, fill, out, kern)
    elif chosen == "separable":
        if bool(xp.isfinite(x).all()):
            _separable(x, factors, P, Q, pt, pl, bnd, fill, out, kern)
        elif not _separable_nonfinite(x, k, factors, P, Q, pt, pl, bnd, fill, out, kern):
            chosen = "direct"  # many non-finite pixels: the direct sums
            _direct(x, contiguous(k), P, Q, pt, pl, bnd, fill, out, kern)
    else:
        _fft(x, k, P, Q, pt, pl, bnd, fill, out, dtype)
    record.update(method=chosen, rank=len(factors) if chosen == "separable" else None)
    _local.last = record
    return _as_result(out[::-1, ::-1].copy() if rotate else out, result)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, method="auto"):
    """2-D cross-correlation; matches scipy.signal.correlate2d (same arguments),
    with leading batch axes on in1 and method "auto", "direct", "separable"
    or "fft"."""
    return _filter(in1, in2, mode, boundary, fillvalue, method, False, get_array_module(in1, in2))


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, method="auto"):
    """2-D convolution; matches scipy.signal.convolve2d (same arguments), with
    leading batch axes on in1 and method "auto", "direct", "separable" or
    "fft"."""
    return _filter(in1, in2, mode, boundary, fillvalue, method, True, get_array_module(in1, in2))


def sepfilter2d(image, kernel_y, kernel_x, mode="same", boundary="fill", fillvalue=0):
    """Separable 2-D correlation with the kernel outer(kernel_y, kernel_x)
    (as cv2.sepFilter2D; modes and boundaries as correlate2d), in two
    vectorised passes: kernel_y down the columns, kernel_x along the rows."""
    xp = get_array_module(image, kernel_y, kernel_x)
    ky = _as_image(kernel_y, "kernel_y", xp)
    kx = _as_image(kernel_x, "kernel_x", xp)
    if ky.ndim != 1 or kx.ndim != 1 or ky.size == 0 or kx.size == 0:
        raise ValueError(f"kernel_y and kernel_x must be non-empty 1-D arrays; received shapes {ky.shape} "
                         f"and {kx.shape}")
    img = _as_image(image, "image", xp)
    result, dtype = _dtypes(img, ky, kx)
    factors = [(xp.ascontiguousarray(ky.astype(dtype)), xp.ascontiguousarray(kx.astype(dtype)))]
    return _filter(img, xp.outer(ky, kx).astype(dtype), mode, boundary, fillvalue, "separable", False, xp,
                   factors=factors, result=result)
