"""The filtering methods (fastconv.filtering): direct, separable (with the
SVD factors of the kernel, cached) and FFT correlation of a stack of
images with one kernel, the extension of an image past its boundary, and
exact integer filtering.  They run on the backend of their arrays."""
import collections
import threading

import numpy as np

from . import _threads
from ._arrays import get_array_module, to_host
from ._ext import _fastconv as _core
from ._validation import contiguous
from .fft import _conv_full

_NP_PAD = {_core.BOUNDARY_WRAP: "wrap", _core.BOUNDARY_SYMM: "symmetric"}
_factor_lock = threading.Lock()  # guards the factor cache


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


def _direct(x, k, P, Q, pt, pl, boundary, fill, out, kern):
    N = int(np.prod(x.shape[:-2]))
    H, W = x.shape[-2:]
    geom = (N, H, W, P, Q, k.shape[0], k.shape[1], pt, pl, boundary)
    kern.filter2d_forward(out, contiguous(x), contiguous(k), fill, geom, False, _threads.current())


def _separable(x, factors, P, Q, pt, pl, boundary, fill, out, kern):
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


def _separable_nonfinite(x, k, factors, P, Q, pt, pl, boundary, fill, out, kern):
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
_factor_cache: "collections.OrderedDict[tuple, list]" = collections.OrderedDict()
_blas: list = []  # the threadpoolctl controller of the BLAS, once looked up (None: none)


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
    with _factor_lock:
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
    with _factor_lock:
        _factor_cache[key] = factors
        while len(_factor_cache) > _FACTOR_CACHE_SIZE:
            _factor_cache.popitem(last=False)
    return factors
