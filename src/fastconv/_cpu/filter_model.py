"""The CPU's cost model of the filtering methods (fastconv.filtering's
"auto"): per method a time per output pixel and per kernel tap (direct,
separable) or per n log n of the transform (FFT), measured once per
machine, SIMD level and thread count and kept in a cache file; the
built-in defaults where the machine is too busy to measure.

  direct     t = pixels * (s_px + s_tap * kh * kw)
  separable  t = rank * pixels * (s_px + s_tap * (kh + kw))
  fft        t = n log2 n * (a + b log2 n) + a call's cost
"""
import hashlib
import json
import os
import platform
import tempfile
import threading
import time

import numpy as np

from .. import _threads
from .._ext import _fastconv as _core
from .._fft import plans as _plans
from .._fft.sizes import fast_length
from .fft import fft_full

_model_lock = threading.Lock()  # guards the model


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

    def dense(k):
        p = k.shape[0] // 2
        return lambda: _core.filter2d_forward(out, img, k, 0.0, (1, n, n, n, n, k.shape[0], k.shape[1], p, p, fill),
                                              False, _threads.current())

    def separable(factors):
        (ky, kx), = factors
        p = len(ky) // 2
        return lambda: _core.sepfilter_forward(out, img, ky, kx, 0.0, (1, n, n, n, n, len(ky), len(kx), p, p, fill),
                                               False, _threads.current())

    fns = [dense(d3), dense(d11), separable(s3), separable(s31)]
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
            fft_full(x, k, (0, 1), np.float32)
        fns.append(lambda x=x, k=k: fft_full(x, k, (0, 1), np.float32))
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
    from .._version import __version__

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
    return _plans.pyfftw


def calibrate(fft=True):
    """Measures the model now (fastconv.calibrate_filters); returns it."""
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


def predict(N, H, W, P, Q, kh, kw, rank, itemsize):
    """Predicted milliseconds of each method for this correlation (the FFT
    only where it could win)."""
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


def choose_method(N, H, W, P, Q, kh, kw, rank, itemsize):
    """"auto": (the method predicted fastest, the predictions in ms)."""
    pred = predict(N, H, W, P, Q, kh, kw, rank, itemsize)
    return min(pred, key=pred.get), pred
