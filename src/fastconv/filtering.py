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
cost model whose constants are measured on the running machine, once per
process and thread count, the first time "auto" needs them
(``calibrate_filters()`` re-measures):
  direct     t = pixels * (c_px + c_tap * kh * kw)
  separable  t = rank * pixels * (s_px + s_tap * (kh + kw))
  fft        t = (f_a + f_b log2 n) * n log2 n,   n = padded transform size
(pixels: output pixels of all images; float64 costs twice float32).  The
spatial constants come from timing 3x3 and 11x11 dense and 3- and 31-tap
separable filters of a 1024x1024 image (about 0.1 s).  The FFT constants
take about 1 s to measure (FFTW planning included), so they are measured
only when some call could use them: when the best spatial prediction is
above an FFT cost no transform of that size can beat.  ``last_method()`` reports what the
last call in this thread chose, and the predictions.

CuPy arrays run the same methods on the GPU (fastconv._gpu.filtering), where
"auto" counts multiply-adds instead of timing (no predictions reported).
"""
import collections
import math
import threading
import time

import numpy as np

from . import _threads
from . import _backend
from ._backend import get_array_module, is_array, to_host
from ._ext import _fastconv as _core
from . import fft as _fft_module
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
    m = max(abs(float(x.max())), abs(float(x.min())))
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
    kern.filter2d(out, xp.ascontiguousarray(x), xp.ascontiguousarray(k), fill, geom, False, _threads.current())


def _separable(x, factors, P, Q, pt, pl, boundary, fill, out, kern=_core):
    N = int(np.prod(x.shape[:-2]))
    H, W = x.shape[-2:]
    x = get_array_module(x).ascontiguousarray(x)
    for i, (ky, kx) in enumerate(factors):
        geom = (N, H, W, P, Q, len(ky), len(kx), pt, pl, boundary)
        # fill values: every pass filters the same extension, so each sees the fill
        kern.sepfilter(out, x, ky, kx, fill, geom, i > 0, _threads.current())


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

_model = None
# FFT convolution never costs less than this many seconds per n log2 n of
# its transform size (three transforms at well under the fastest measured
# rate): when direct or separable is predicted faster than that bound, FFT
# is not a contender and its constants need not be measured.
_FFT_FLOOR_PER_POINT = 3 * 0.02e-9


def _min_times(fns, rounds=5):
    """Best time of each callable over `rounds` interleaved rounds (after one
    untimed call each), so a noisy moment spoils one round of each, not one
    method's every sample."""
    for fn in fns:
        fn()
    best = [np.inf] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _fit2(x1, t1, x2, t2):
    """(a, b) with t = a + b x through two measurements (b >= 0, a >= 0)."""
    b = max((t2 - t1) / (x2 - x1), 1e-15)
    return max(t1 - b * x1, 0.0), b


def _calibrate_spatial():
    rng = np.random.default_rng(0)
    n = 1024
    img = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(img)
    px = n * n
    d3, d11 = (rng.standard_normal((k, k)).astype(np.float32) for k in (3, 11))
    s3, s31 = ([(rng.standard_normal(k).astype(np.float32), rng.standard_normal(k).astype(np.float32))]
               for k in (3, 31))
    fill = _core.BOUNDARY_FILL
    t = _min_times([
        lambda: _direct(img, d3, n, n, 1, 1, fill, 0.0, out),
        lambda: _direct(img, d11, n, n, 5, 5, fill, 0.0, out),
        lambda: _separable(img, s3, n, n, 1, 1, fill, 0.0, out),
        lambda: _separable(img, s31, n, n, 15, 15, fill, 0.0, out),
    ])
    a, b = _fit2(9, t[0] / px, 121, t[1] / px)
    c, d = _fit2(6, t[2] / px, 62, t[3] / px)
    return {"direct": {"px": a, "tap": b}, "separable": {"px": c, "tap": d}}


def _calibrate_fft():
    """t = c(n) * n log2 n, with c(n) = a + b log2 n (transforms of more
    points fall out of cache) through two transform sizes, 256^2 and 1024^2,
    timed with the plans the steady state uses (FFTW_MEASURE, which a size
    gets on its third use)."""
    rng = np.random.default_rng(1)
    pts = []
    for m in (224, 992):
        x = rng.standard_normal((m, m)).astype(np.float32)
        k = rng.standard_normal((33, 33)).astype(np.float32)
        n = fast_length(m + 32) ** 2
        for _ in range(2):
            _conv_full(x, k, (0, 1), np.float32)
        t = _min_times([lambda: _conv_full(x, k, (0, 1), np.float32)])[0]
        pts.append((np.log2(n), t / (n * np.log2(n))))
    (l1, c1), (l2, c2) = pts
    b = max((c2 - c1) / (l2 - l1), 0.0)
    return {"a": c1 - b * l1, "b": b}


def calibrate_filters(fft=True):
    """Measures the filtering cost model on this machine with the current
    thread count and returns its constants (seconds per unit).  The spatial
    methods take about 0.1 s; fft=True also measures FFT convolution (about
    1 s, mostly FFTW planning, whose wisdom later plans reuse)."""
    global _model
    model = _calibrate_spatial()
    if fft:
        model["fft"] = _calibrate_fft()
    model["threads"] = _threads.get_num_threads()
    with _model_lock:
        _model = model
    return model


def _predict(N, H, W, P, Q, kh, kw, rank, itemsize):
    global _model
    with _model_lock:
        model = _model
    if model is None or model.get("threads") != _threads.get_num_threads():
        model = calibrate_filters(fft=False)
    scale = 2.0 if itemsize == 8 else 1.0  # double precision: half the vector lanes
    pixels = N * P * Q
    pred = {
        "direct": scale * pixels * (model["direct"]["px"] + model["direct"]["tap"] * kh * kw),
        "separable": scale * rank * pixels * (model["separable"]["px"] + model["separable"]["tap"] * (kh + kw)),
    }
    n = fast_length(H + kh - 1) * fast_length(W + kw - 1)
    nlogn = N * n * np.log2(n)
    if min(pred.values()) > scale * _FFT_FLOOR_PER_POINT * nlogn and _fft_module.pyfftw is not None:
        if "fft" not in model:
            with _model_lock:
                model = dict(_model)
            model["fft"] = _calibrate_fft()
            with _model_lock:
                _model = model
        per_point = max(model["fft"]["a"] + model["fft"]["b"] * np.log2(n), _FFT_FLOOR_PER_POINT)
        pred["fft"] = scale * per_point * nlogn
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
        _direct(x, xp.ascontiguousarray(k), P, Q, pt, pl, bnd, fill, out, kern)
    elif chosen == "separable":
        _separable(x, factors, P, Q, pt, pl, bnd, fill, out, kern)
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
