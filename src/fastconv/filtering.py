"""Image filtering with SciPy's semantics: correlate2d, convolve2d, sepfilter2d.

``correlate2d`` / ``convolve2d`` take scipy.signal's arguments and give its
results (modes full / same / valid, boundaries fill / wrap / symm, fillvalue),
plus leading batch axes on in1 (a stack of images, one kernel).  The result
has scipy's dtype, np.result_type(in1, in2): float32 with float32 stays
float32; integer images give integers, computed in float64 and rounded
(exact while the sums of absolute terms stay below 2**53; beyond that in
integer arithmetic that wraps around as scipy's does).  fillvalue converts
to the result dtype as in scipy (1.5 fills an integer image with 1; a
string that is no integer cannot fill one: ValueError).  Complex images,
kernels and fill values (complex64, complex128) give scipy's complex
results, correlate2d conjugating in2 as scipy's does; they run as real
filterings of the parts (two for one complex operand, four for two).

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
import math
import threading

import numpy as np

from . import _backend, _dask
from ._arrays import get_array_module, to_host
from ._cpu import filter_model as _cpu_model
from ._filter_args import _BOUNDARY, _check_common, _dtypes, _empty_filter, _fill_value, _geometry
from ._filter_methods import (_INT_EXACT, _INT_ROUNDED, _as_result, _direct, _direct_integer, _factors, _fft,
                              _int_bound, _separable, _separable_nonfinite)
from ._validation import contiguous, signal_operand

__all__ = ["calibrate_filters", "convolve2d", "correlate2d", "last_method", "sepfilter2d"]

_local = threading.local()


def last_method():
    """What the last correlate2d / convolve2d / sepfilter2d call in this
    thread did: a dict with "method" ("direct", "separable", "fft"), "rank"
    (separable passes) and, when "auto" chose, "predicted_ms" per method."""
    return getattr(_local, "last", None)


# ---- public functions ----------------------------------------------------------------------


def _filter(in1, in2, mode, boundary, fillvalue, method, flipped, xp, factors=None, result=None):
    kern = _backend.kernels(xp)
    x, k, bnd = _check_common(in1, in2, mode, boundary, fillvalue, method, xp)
    if result is None:
        result, dtype = _dtypes(x, k)
    else:
        dtype = np.float32 if result == np.float32 else np.float64
    # scipy reads fillvalue only for boundary='fill'
    fill = _fill_value(fillvalue, result) if bnd == _BOUNDARY["fill"] else 0
    if x.size == 0 or k.size == 0:
        return _empty_filter(x, k, mode, boundary, fill, flipped, result, xp)
    if result.kind == "c":
        return _complex_filter(x, k, mode, boundary, fill, method, flipped, xp, result)
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
    if method == "auto":
        chosen, pred = kern.choose_filter_method(N, H, W, P, Q, kh, kw, len(factors), np.dtype(dtype).itemsize)
        if pred is not None:
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


def _complex_filter(x, k, mode, boundary, fill, method, flipped, xp, result):
    """A complex filtering as real ones: with X = xr + i xi (the fill's parts
    extending each) and K = kr + i ki, F(X, K) = F(xr, kr) - F(xi, ki) +
    i (F(xr, ki) + F(xi, kr)), F the real filtering; parts that are zero
    (a real image and fill, a real kernel) are skipped.  scipy's
    correlate2d conjugates its second operand after the 'valid' swap: K
    normally, the image when the operands swap."""
    part = np.float32 if result == np.complex64 else np.float64
    fill = complex(fill)
    swapped = mode == "valid" and x.ndim == 2 and (x.shape[0] < k.shape[0] or x.shape[1] < k.shape[1])
    sign_x = -1.0 if not flipped and swapped else 1.0
    sign_k = -1.0 if not flipped and not swapped else 1.0
    xs = [(x.real, fill.real, 1.0)]
    if x.dtype.kind == "c" or fill.imag != 0:
        xs.append((x.imag if x.dtype.kind == "c" else xp.zeros(x.shape, part), fill.imag, sign_x))
    ks = [(k.real, 1.0)] + ([(k.imag, sign_k)] if k.dtype.kind == "c" else [])
    out = None
    for i, (xpart, fpart, sx) in enumerate(xs):
        for j, (kpart, sk) in enumerate(ks):
            term = _filter(xpart, kpart, mode, boundary, fpart, method, flipped, xp, result=np.dtype(part))
            coef = sx * sk * (-1.0 if i == 1 and j == 1 else 1.0)  # i * i = -1
            if out is None:
                out = xp.zeros(term.shape, result)
            if i + j == 1:
                out.imag += coef * term
            else:
                out.real += coef * term
    return out


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, method="auto"):
    """2-D cross-correlation; matches scipy.signal.correlate2d (same arguments),
    with leading batch axes on in1 and method "auto", "direct", "separable"
    or "fft".  A Dask array in1 gives a lazy Dask array (see fastconv._dask)."""
    if _dask.any_dask(in1, in2):
        return _dask_filter(correlate2d, in1, in2, mode, boundary, fillvalue, method, False)
    return _filter(in1, in2, mode, boundary, fillvalue, method, False, get_array_module(in1, in2))


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, method="auto"):
    """2-D convolution; matches scipy.signal.convolve2d (same arguments), with
    leading batch axes on in1 and method "auto", "direct", "separable" or
    "fft".  A Dask array in1 gives a lazy Dask array."""
    if _dask.any_dask(in1, in2):
        return _dask_filter(convolve2d, in1, in2, mode, boundary, fillvalue, method, True)
    return _filter(in1, in2, mode, boundary, fillvalue, method, True, get_array_module(in1, in2))


def sepfilter2d(image, kernel_y, kernel_x, mode="same", boundary="fill", fillvalue=0):
    """Separable 2-D correlation with the kernel outer(kernel_y, kernel_x)
    (as cv2.sepFilter2D; modes and boundaries as correlate2d), in two
    vectorised passes: kernel_y down the columns, kernel_x along the rows.
    A Dask array image gives a lazy Dask array."""
    if _dask.any_dask(image, kernel_y, kernel_x):
        kernel_y = _dask.on_chunks_device(kernel_y, "kernel_y", image)
        kernel_x = _dask.on_chunks_device(kernel_x, "kernel_x", image)
        ky, kx = (signal_operand(k, n, get_array_module(k)) for k, n in ((kernel_y, "kernel_y"), (kernel_x, "kernel_x")))
        return _dask_filter(lambda a, k, mode, boundary, fillvalue, method: sepfilter2d(
            a, kernel_y, kernel_x, mode, boundary, fillvalue), image, np.ones((ky.size, kx.size)), mode, boundary,
            fillvalue, "separable", False)
    xp = get_array_module(image, kernel_y, kernel_x)
    ky = signal_operand(kernel_y, "kernel_y", xp)
    kx = signal_operand(kernel_x, "kernel_x", xp)
    if ky.ndim != 1 or kx.ndim != 1 or ky.size == 0 or kx.size == 0:
        raise ValueError(f"kernel_y and kernel_x must be non-empty 1-D arrays; received shapes {ky.shape} "
                         f"and {kx.shape}")
    img = signal_operand(image, "image", xp)
    result, dtype = _dtypes(img, ky, kx)
    if result.kind == "c":  # real parts: outer(ky, kx)'s real and imaginary parts need not be rank 1
        return _filter(img, xp.outer(ky, kx), mode, boundary, fillvalue, "separable", False, xp)
    factors = [(xp.ascontiguousarray(ky.astype(dtype)), xp.ascontiguousarray(kx.astype(dtype)))]
    return _filter(img, xp.outer(ky, kx).astype(dtype), mode, boundary, fillvalue, "separable", False, xp,
                   factors=factors, result=result)


def _dask_filter(fn, in1, in2, mode, boundary, fillvalue, method, flipped):
    """fn (correlate2d, convolve2d or a sepfilter2d call) over a Dask array
    in1: each output block from the window of in1 its outputs read, extended
    by the boundary rule, in 'valid' mode with the method the whole-array
    call would choose (integers: the exact direct sums)."""
    in2 = _dask.on_chunks_device(in2, "in2", in1)
    k = signal_operand(in2, "in2", get_array_module(in2))
    module = get_array_module(in1._meta)
    # the arguments checked, and the result dtype learnt, on a sample of in1's dtype
    sample_shape = (1,) * max(in1.ndim - 2, 0) + tuple(k.shape[-2:])[:in1.ndim]
    sample = fn(module.zeros(sample_shape if in1.ndim >= 2 else in1.shape, in1.dtype), in2, mode, boundary,
                fillvalue, method)
    result = sample.dtype
    H, W = in1.shape[-2:]
    kh, kw = k.shape
    call = lambda a: fn(a, in2, mode, boundary, fillvalue, method)
    if in1.size == 0 or (mode == "valid" and (H < kh or W < kw)):  # scipy's operand swap: one task
        return _dask.single_task(call, in1, call(module.zeros(in1.shape, in1.dtype)).shape, result)
    if result.kind in "iub":
        method = "direct"
    elif method == "auto":
        part = np.float32 if result in (np.float32, np.complex64) else np.float64
        fill = _fill_value(fillvalue, result) if boundary == "fill" else 0
        host = _factors(np.real(to_host(k)).astype(part), part) if np.isfinite(complex(fill)) else None
        if host is None:
            method = "direct"
        else:
            P, Q, _, _ = _geometry(H, W, kh, kw, mode, flipped)
            method = _backend.kernels(module).choose_filter_method(
                int(np.prod(in1.shape[:-2])), H, W, P, Q, kh, kw, len(host), np.dtype(part).itemsize)[0]
    P, Q, pt, pl = _geometry(H, W, kh, kw, mode, flipped)
    fill = np.asarray(_fill_value(fillvalue, result) if boundary == "fill" else 0, result)
    specs = [(_dask._SAME,)] * (in1.ndim - 2) + [(_dask._WINDOW, pt, 1, kh, P, boundary),
                                                  (_dask._WINDOW, pl, 1, kw, Q, boundary)]
    block = lambda a, ranges: fn(a, in2, "valid", "fill", 0, method)
    return _dask.blockwise(block, in1, specs, result, fill)


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
    return _cpu_model.calibrate(fft)
