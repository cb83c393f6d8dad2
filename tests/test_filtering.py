"""Image filtering: correlate2d / convolve2d / sepfilter2d against scipy.signal
for every mode, boundary and method; fftconvolve against
scipy.signal.fftconvolve; the method choice; bad input."""
import itertools
import json
import os

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv._fft import overlap_add, plans as fftplans
from fastconv._fft.sizes import fast_length
from fastconv._cpu import filter_model

from conftest import assert_close

MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "wrap", "symm"]
METHODS = ["direct", "separable", "fft"]
PAIRS = [(fastconv.correlate2d, ss.correlate2d), (fastconv.convolve2d, ss.convolve2d)]
# (H, W, kh, kw): odd, even, 1xN, Nx1, kernel as large as the image, larger
SHAPES = [(17, 23, 3, 3), (16, 20, 4, 6), (12, 31, 1, 7), (25, 9, 5, 1), (8, 8, 8, 8), (6, 7, 9, 4), (33, 40, 15, 15)]


def check_filter(fc_fn, sp_fn, x, k, dtype, **kw):
    """fc_fn(x, k, **kw) against scipy in float64, within a bound scaled by
    the absolute terms (normwise for FFT)."""
    got = fc_fn(x.astype(dtype), k.astype(dtype), **kw)
    sp_kw = {a: b for a, b in kw.items() if a != "method"}
    expected = sp_fn(x, k, **sp_kw)
    bound = sp_fn(np.abs(x), np.abs(k), **dict(sp_kw, fillvalue=abs(sp_kw.get("fillvalue", 0))))
    method = kw.get("method", "auto")
    # separable passes re-associate the sums; rank-r factors come from an SVD
    normwise = method in ("fft", "separable", "auto")
    scale = (np.linalg.norm(x) + abs(kw.get("fillvalue", 0)) * x.size ** 0.5) * np.linalg.norm(k)
    assert_close(got, expected, bound, k.size, np.dtype(dtype), scale if normwise else False)
    return got


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_against_scipy(shape, dtype, method, rng):
    H, W, kh, kw = shape
    x = rng.standard_normal((H, W))
    k = rng.standard_normal((kh, kw))
    for (fc_fn, sp_fn), mode, boundary in itertools.product(PAIRS, MODES, BOUNDARIES):
        if mode == "valid" and not (H >= kh and W >= kw or H <= kh and W <= kw):
            continue
        fill = 0.75 if boundary == "fill" else 0
        check_filter(fc_fn, sp_fn, x, k, dtype, mode=mode, boundary=boundary, fillvalue=fill, method=method)


@settings(max_examples=60, deadline=None)
@given(H=st.integers(1, 24), W=st.integers(1, 24), kh=st.integers(1, 9), kw=st.integers(1, 9),
       mode=st.sampled_from(MODES), boundary=st.sampled_from(BOUNDARIES), method=st.sampled_from(METHODS + ["auto"]),
       convolve=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31))
def test_property(H, W, kh, kw, mode, boundary, method, convolve, dtype, seed):
    if mode == "valid" and not (H >= kh and W >= kw or H <= kh and W <= kw):
        return
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((H, W)), rng.standard_normal((kh, kw))
    fc_fn, sp_fn = PAIRS[convolve]
    check_filter(fc_fn, sp_fn, x, k, dtype, mode=mode, boundary=boundary, fillvalue=seed % 3 - 1, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_batches_and_views(method, rng):
    x = rng.standard_normal((2, 3, 19, 22))
    k = rng.standard_normal((5, 4))
    got = fastconv.correlate2d(x, k, mode="same", boundary="symm", method=method)
    assert got.shape == (2, 3, 19, 22)
    for i, j in np.ndindex(2, 3):
        np.testing.assert_allclose(got[i, j], ss.correlate2d(x[i, j], k, mode="same", boundary="symm"),
                                   rtol=1e-10, atol=1e-10)
    # non-contiguous and negative-stride views give the same as their copies
    view = x[:, ::2, ::-2, 1::2]
    np.testing.assert_allclose(fastconv.convolve2d(view, k[::-1], method=method),
                               fastconv.convolve2d(view.copy(), k[::-1].copy(), method=method), rtol=1e-12,
                               atol=1e-12)


def test_dtypes_follow_scipy(rng):
    img = rng.integers(-50, 50, (12, 15))
    k = rng.integers(-3, 4, (3, 3))
    for method in METHODS + ["auto"]:
        got = fastconv.correlate2d(img, k, method=method)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, ss.correlate2d(img, k))
    f32 = img.astype(np.float32)
    assert fastconv.convolve2d(f32, k.astype(np.float32)).dtype == np.float32
    assert fastconv.convolve2d(f32, k).dtype == np.float64  # as np.result_type(float32, int64)
    assert fastconv.convolve2d(f32, k.astype(np.float64)).dtype == np.float64
    mask = np.ones((4, 5), bool)
    np.testing.assert_array_equal(fastconv.correlate2d(mask, mask[:2, :2], mode="valid"), np.full((3, 4), 4))


def test_valid_mode_swaps_like_scipy(rng):
    small, big = rng.standard_normal((3, 4)), rng.standard_normal((6, 7))
    for fc_fn, sp_fn in PAIRS:
        for method in METHODS:
            np.testing.assert_allclose(fc_fn(small, big, mode="valid", method=method),
                                       sp_fn(small, big, mode="valid"), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
def test_non_finite_values_stay_in_their_footprint(method, rng):
    x = rng.standard_normal((20, 24))
    x[5, 7] = np.nan
    x[12, 20] = np.inf
    k = np.outer([1.0, 2.0, 1.0], [1.0, 0.5, -1.0])
    got = fastconv.correlate2d(x, k, mode="same", method=method)
    expected = ss.correlate2d(x, k, mode="same")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9)


def test_sepfilter2d(rng):
    x = rng.standard_normal((3, 30, 41)).astype(np.float32)
    ky, kx = rng.standard_normal(7), rng.standard_normal(4)
    for mode, boundary in itertools.product(MODES, BOUNDARIES):
        got = fastconv.sepfilter2d(x, ky.astype(np.float32), kx.astype(np.float32), mode=mode, boundary=boundary)
        assert got.dtype == np.float32
        k = np.outer(ky, kx)
        for i in range(3):
            e = ss.correlate2d(x[i].astype(np.float64), k, mode=mode, boundary=boundary)
            b = ss.correlate2d(np.abs(x[i]).astype(np.float64), np.abs(k), mode=mode, boundary=boundary)
            assert_close(got[i], e, b, k.size, np.dtype(np.float32))
    assert fastconv.last_method() == {"method": "separable", "rank": 1}


def test_auto_detects_separable_kernels(rng):
    x = rng.standard_normal((300, 300))
    g = np.exp(-0.5 * (np.arange(-7, 8) / 2.5) ** 2)
    gauss = np.outer(g, g) / g.sum() ** 2
    got = fastconv.correlate2d(x, gauss, mode="same")
    assert fastconv.last_method()["method"] == "separable"
    assert fastconv.last_method()["rank"] == 1
    assert set(fastconv.last_method()["predicted_ms"]) >= {"direct", "separable"}
    np.testing.assert_allclose(got, ss.correlate2d(x, gauss, mode="same"), rtol=1e-9, atol=1e-12)
    # rank 2: a sum of two outer products, as two separable passes
    k2 = np.outer(g, g) + np.outer(np.arange(15.0), np.ones(15))
    got = fastconv.correlate2d(x, k2, mode="same", method="separable")
    assert fastconv.last_method()["rank"] == 2
    np.testing.assert_allclose(got, ss.correlate2d(x, k2, mode="same"), rtol=1e-9, atol=1e-9)
    # a random kernel has full rank
    fastconv.correlate2d(x, rng.standard_normal((5, 5)), method="separable")
    assert fastconv.last_method()["rank"] == 5
    # a 3x3 random kernel on an image: a spatial method, never the FFT
    fastconv.correlate2d(x, rng.standard_normal((3, 3)), mode="same")
    assert fastconv.last_method()["method"] in ("direct", "separable")


def test_cost_model_constants():
    model = fastconv.calibrate_filters(fft=False)
    for method in ("direct", "separable"):
        assert model[method]["px"] >= 0 and model[method]["tap"] > 0
    assert model["threads"] == fastconv.get_num_threads()


# ---- the cost model: "auto" by injected constants; calibration and its cache file ------------------
# (conftest pins a fixed model for every test, so what "auto" chooses never
# depends on timing this machine)


def test_auto_follows_the_model_constants(monkeypatch, fixed_filter_cost_model):
    x = np.ones((64, 64))
    g = np.exp(-0.5 * (np.arange(-3, 4) / 1.5) ** 2)
    gauss = np.outer(g, g)
    fastconv.correlate2d(x, gauss, mode="same")
    last = fastconv.last_method()
    assert last["method"] == "separable"
    model = fixed_filter_cost_model
    px = 64 * 64
    assert last["predicted_ms"]["direct"] == pytest.approx(
        2 * px * (model["direct"]["px"] + 49 * model["direct"]["tap"]) * 1e3)  # float64: twice float32
    assert last["predicted_ms"]["separable"] == pytest.approx(
        2 * px * (model["separable"]["px"] + 14 * model["separable"]["tap"]) * 1e3)
    # taps that cost (next to) nothing: direct
    monkeypatch.setattr(filter_model, "_model", dict(model, direct={"px": 0.0, "tap": 1e-18}))
    fastconv.correlate2d(x, gauss, mode="same")
    assert fastconv.last_method()["method"] == "direct"
    # a model for another thread count or SIMD level is not used (unless pinned)
    monkeypatch.setattr(filter_model, "_model", dict(model, pinned=False, threads=fastconv.get_num_threads() + 1))
    monkeypatch.setattr(filter_model, "_load_cached", lambda simd, threads: dict(model, source="cache"))
    fastconv.correlate2d(x, gauss, mode="same")
    assert filter_model._model["source"] == "cache"


def _sane_times(threads, simd, factor=1.5):
    """Timings (3x3, 11x11 direct, 3-, 31-tap separable of 1024^2) that the
    defaults predict, times factor."""
    ref = filter_model._defaults(simd, threads)
    return [factor * 1024 * 1024 * (ref[m]["px"] + ref[m]["tap"] * n)
            for m in ("direct", "separable") for n in filter_model._SPATIAL_TAPS[m]]


@pytest.fixture
def fake_timing(monkeypatch, tmp_path):
    """Replaces the timing of the calibration by a script of passes (lists
    of times); the cache directory is tmp_path/cache.  Returns the list to
    fill, which the passes are taken from."""
    passes = []

    def timer(fns, rounds=5, usage=None):
        assert passes, "timed more often than the test expected"
        if usage is not None:  # the CPUs all the process's (see test_calibration_on_a_preempted_process)
            usage.append((fastconv.get_num_threads() * 1.0, 1.0))
        return list(passes.pop(0))

    monkeypatch.setattr(filter_model, "_min_times", timer)
    monkeypatch.setattr(filter_model, "fft_full", lambda *a: None)  # the FFT calibration's warm-up
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(filter_model, "_model", None)
    return passes


def _setting():
    return fastconv.get_num_threads(), fastconv._ext._fastconv.simd_active()


def test_calibration_reproduced_is_saved_and_read_back(fake_timing, tmp_path, monkeypatch):
    threads, simd = _setting()
    t = _sane_times(threads, simd)
    fake_timing += [t, [v * 1.1 for v in t]]  # the second pass reproduces the minima within 25%
    model = fastconv.calibrate_filters(fft=False)
    assert model["source"] == "measured" and model["reliable"] and not fake_timing
    assert model["direct"] == pytest.approx(filter_model._fit_spatial(t, 1024 * 1024)["direct"])
    path = filter_model._cache_path(simd, threads)
    assert path.startswith(str(tmp_path / "cache")) and os.path.exists(path)
    name = os.path.basename(path)
    assert fastconv.__version__ in name and f"-{simd}-" in name and f"-{threads}t-" in name
    # a later process reads the file instead of timing (the timer has no passes left)
    monkeypatch.setattr(filter_model, "_model", None)
    fastconv.correlate2d(np.ones((32, 32)), np.ones((3, 3)), mode="same")
    assert filter_model._model["source"] == "cache"
    assert filter_model._model["direct"] == pytest.approx(model["direct"])
    # FFT constants, once measured, join the file
    n1, l1 = filter_model._fft_points(224)
    n2, l2 = filter_model._fft_points(992)
    ref = filter_model._defaults(simd, threads)["fft"]
    fft_times = [2 * n * lg * (ref["a"] + ref["b"] * lg) for n, lg in ((n1, l1), (n2, l2))]
    fake_timing += [fft_times, fft_times]
    model = filter_model._with_fft(filter_model._model)
    assert model["reliable"]
    with open(path) as f:
        saved = json.load(f)
    assert set(saved) == {"direct", "separable", "fft"}
    assert saved["fft"]["b"] == pytest.approx(2 * ref["b"])


def test_calibration_on_a_busy_machine_falls_back_to_the_defaults(fake_timing):
    threads, simd = _setting()
    # every run a whole number of scheduler slices: 8 and 16 ms for what takes 0.2 and 1.7 ms
    fake_timing += [[8e-3, 16e-3, 8e-3, 16e-3]] * filter_model._MAX_PASSES
    model = fastconv.calibrate_filters(fft=False)
    assert not fake_timing  # every pass tried
    assert model["source"] == "default" and not model["reliable"]
    assert model["direct"] == filter_model._defaults(simd, threads)["direct"]
    assert not os.path.exists(filter_model._cache_path(simd, threads))  # measured again next time
    # "auto" still decides, by the defaults, and does not time again in this process
    fastconv.correlate2d(np.ones((64, 64)), np.outer(np.ones(9), np.ones(9)), mode="same")
    assert fastconv.last_method()["method"] == "separable"


def test_calibration_takes_minima_until_a_pass_reproduces_them(fake_timing):
    threads, simd = _setting()
    t = _sane_times(threads, simd)
    # a disturbed first pass, then the minima, then a pass that reproduces them
    fake_timing += [[3 * v for v in t], t, [1.2 * v for v in t], t]
    model = fastconv.calibrate_filters(fft=False)
    assert len(fake_timing) == 1 and model["reliable"]
    assert model["separable"] == pytest.approx(filter_model._fit_spatial(t, 1024 * 1024)["separable"])
    # minima never reproduced: used in this process, not saved
    fake_timing[:] = [t, [2 * v for v in t], [1.5 * v for v in t], [1.4 * v for v in t]]
    model = fastconv.calibrate_filters(fft=False)
    assert not fake_timing and model["source"] == "measured" and not model["reliable"]
    assert model["direct"] == pytest.approx(filter_model._fit_spatial(t, 1024 * 1024)["direct"])


def test_calibration_on_a_preempted_process_is_not_saved(fake_timing, monkeypatch):
    # other processes took half the CPUs: times reproducible, only slower
    threads, simd = _setting()
    t = _sane_times(threads, simd, factor=2.0)
    fake_timing += [t, t]
    timer = filter_model._min_times

    def preempted(fns, rounds=5, usage=None):
        times = timer(fns, rounds, usage)
        usage[-1] = (usage[-1][0] / 2, usage[-1][1])
        return times

    monkeypatch.setattr(filter_model, "_min_times", preempted)
    model = fastconv.calibrate_filters(fft=False)
    assert model["source"] == "measured" and not model["reliable"]
    assert not os.path.exists(filter_model._cache_path(simd, threads))


def test_implausible_timings_are_not_believed(fake_timing):
    threads, simd = _setting()
    t = _sane_times(threads, simd)
    t[1] = t[0]  # 11x11 as fast as 3x3: the per-tap cost would come out as 0
    fake_timing += [t] * filter_model._MAX_PASSES
    assert fastconv.calibrate_filters(fft=False)["source"] == "default"


def test_cache_failures_are_silent(fake_timing, tmp_path, monkeypatch):
    threads, simd = _setting()
    t = _sane_times(threads, simd)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    fake_timing += [t, t]
    assert fastconv.calibrate_filters(fft=False)["reliable"]
    # an unreadable or malformed cache file is no cache: measured again and rewritten
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(tmp_path / "cache"))
    path = filter_model._cache_path(simd, threads)
    os.makedirs(os.path.dirname(path))
    for junk in ("{not json", json.dumps({"direct": {"px": "x"}}), json.dumps([1, 2])):
        with open(path, "w") as f:
            f.write(junk)
        monkeypatch.setattr(filter_model, "_model", None)
        fake_timing += [t, t]
        fastconv.correlate2d(np.ones((32, 32)), np.ones((3, 3)), mode="same")
        assert filter_model._model["source"] == "measured" and not fake_timing
        with open(path) as f:
            assert set(json.load(f)) == {"direct", "separable"}


def test_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(tmp_path / "mine"))
    assert filter_model._cache_dir() == str(tmp_path / "mine")
    monkeypatch.setenv("FASTCONV_CACHE_DIR", "")
    assert filter_model._cache_dir() is None and filter_model._cache_path("avx2", 1) is None  # no cache file
    monkeypatch.delenv("FASTCONV_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert filter_model._cache_dir() == str(tmp_path / "xdg" / "fastconv")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert filter_model._cache_dir() == str(tmp_path / "home" / ".cache" / "fastconv")
    assert filter_model._cache_path("avx2", 1) != filter_model._cache_path("avx512", 1) != filter_model._cache_path("avx512", 2)


@pytest.mark.slow
def test_auto_picks_fft_for_a_large_kernel(rng):
    x = rng.standard_normal((1024, 1024)).astype(np.float32)
    k = rng.standard_normal((63, 63)).astype(np.float32)
    fastconv.correlate2d(x, k, mode="same")
    assert fastconv.last_method()["method"] == "fft"


BAD = [
    (lambda: fastconv.correlate2d(np.ones(5), np.ones((2, 2))), ValueError, r"in1 must have at least 2 dimensions"),
    (lambda: fastconv.correlate2d(np.ones((5, 5)), np.ones(2)), ValueError, r"in2 must be a 2-D kernel"),
    (lambda: fastconv.correlate2d(np.ones((5, 5)), np.ones((2, 2)), mode="circular"), ValueError,
     r"mode must be 'full', 'same' or 'valid'; received 'circular'"),
    (lambda: fastconv.correlate2d(np.ones((5, 5)), np.ones((2, 2)), boundary="reflect"), ValueError,
     r"boundary must be 'fill', 'wrap' or 'symm'; received 'reflect'"),
    (lambda: fastconv.convolve2d(np.ones((5, 5)), np.ones((2, 2)), method="winograd"), ValueError,
     r"method must be one of .*received 'winograd'"),
    # scipy.signal raises ValueError for a fillvalue it cannot convert
    (lambda: fastconv.correlate2d(np.ones((5, 5)), np.ones((2, 2)), fillvalue="zero"), ValueError,
     r"fillvalue must be a scalar .*received 'zero'"),
    (lambda: fastconv.correlate2d(np.ones((5, 5), np.clongdouble), np.ones((2, 2))), TypeError,
     r"in1 must have a floating .* received dtype complex256"),
    # a complex fill value cannot fill a real image (scipy: ValueError)
    (lambda: fastconv.correlate2d(np.ones((5, 5)), np.ones((2, 2)), fillvalue=1 + 2j), ValueError,
     r"fillvalue must be a scalar .*\(1\+2j\)"),
    (lambda: fastconv.correlate2d(np.ones((5, 5)), np.ones((2, 2), np.float16)), TypeError, r"in2 must have"),
    (lambda: fastconv.correlate2d(np.ones((5, 3)), np.ones((3, 5)), mode="valid"), ValueError,
     r"for 'valid' mode, one of in1 and in2 must be at least as large"),
    (lambda: fastconv.sepfilter2d(np.ones((5, 5)), np.ones((2, 2)), np.ones(2)), ValueError,
     r"kernel_y and kernel_x must be non-empty 1-D arrays"),
    (lambda: fastconv.sepfilter2d(np.ones((5, 5)), np.ones(2), []), ValueError, r"non-empty 1-D"),
    (lambda: fastconv.fftconvolve(np.ones((5, 5)), np.ones(3)), ValueError, r"same number of dimensions"),
    (lambda: fastconv.fftconvolve(np.ones((5, 4)), np.ones((3, 3)), axes=1), ValueError,
     r"incompatible shapes .*axis 0 is not convolved"),
    (lambda: fastconv.fftconvolve(np.ones(5), np.ones(3), mode="circular"), ValueError, r"mode must be"),
    (lambda: fastconv.fftconvolve(np.ones(5), np.ones(3), axes="x"), ValueError, r"axes must be None"),
    (lambda: fastconv.fftconvolve(np.ones((5, 3)), np.ones((3, 5)), mode="valid"), ValueError, r"'valid' mode"),
    (lambda: fastconv.fftconvolve(np.ones(5, np.clongdouble), np.ones(3)), TypeError, r"in1 must have a floating"),
]


@pytest.mark.parametrize("call, exc, match", BAD)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- fftconvolve ------------------------------------------------------------------------


def check_fftconvolve(a, b, dtype=np.float64, **kw):
    got = fastconv.fftconvolve(a.astype(dtype), b.astype(dtype), **kw)
    expected = ss.fftconvolve(a, b, **kw)
    bound = ss.convolve(np.abs(a), np.abs(b), method="direct", mode=kw.get("mode", "full")) \
        if kw.get("axes") is None else np.abs(expected) + 1
    assert_close(got, expected, bound, b.size, np.dtype(dtype), np.linalg.norm(a) * np.linalg.norm(b))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fftconvolve_against_scipy(mode, dtype, rng):
    check_fftconvolve(rng.standard_normal(100), rng.standard_normal(17), dtype, mode=mode)
    check_fftconvolve(rng.standard_normal((30, 41)), rng.standard_normal((7, 6)), dtype, mode=mode)
    check_fftconvolve(rng.standard_normal((6, 8, 9)), rng.standard_normal((3, 2, 4)), dtype, mode=mode)
    # the second operand larger: scipy swaps them for 'full' and 'valid'
    check_fftconvolve(rng.standard_normal(9), rng.standard_normal(40), dtype, mode=mode)


def test_fftconvolve_axes_and_broadcasting(rng):
    a, b = rng.standard_normal((4, 50)), rng.standard_normal((1, 9))
    for mode in MODES:
        np.testing.assert_allclose(fastconv.fftconvolve(a, b, mode=mode, axes=1),
                                   ss.fftconvolve(a, b, mode=mode, axes=1), rtol=1e-9, atol=1e-9)
    a, b = rng.standard_normal((3, 20, 5)), rng.standard_normal((3, 4, 5))
    np.testing.assert_allclose(fastconv.fftconvolve(a, b, axes=[1]), ss.fftconvolve(a, b, axes=[1]),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fastconv.fftconvolve(a, b, axes=-2), ss.fftconvolve(a, b, axes=-2),
                               rtol=1e-9, atol=1e-9)


def test_fftconvolve_overlap_add(rng):
    # a long signal and a short filter take the overlap-add path
    a, b = rng.standard_normal(20000), rng.standard_normal(300)
    assert overlap_add.block_length(a.size, b.size) is not None
    for mode in MODES:
        np.testing.assert_allclose(fastconv.fftconvolve(a, b, mode=mode), ss.fftconvolve(a, b, mode=mode),
                                   rtol=1e-9, atol=1e-9)
    a2 = rng.standard_normal((3, 12000)).astype(np.float32)
    got = fastconv.fftconvolve(a2, b[None].astype(np.float32), axes=-1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ss.fftconvolve(a2.astype(np.float64), b[None], axes=-1), rtol=1e-4,
                               atol=1e-4)


def test_fftconvolve_dtypes_and_non_finite(rng):
    ints = fastconv.fftconvolve(np.arange(10), np.arange(3))
    assert ints.dtype == np.float64
    np.testing.assert_allclose(ints, np.convolve(np.arange(10), np.arange(3)), atol=1e-9)
    a = rng.standard_normal(64)
    a[10] = np.nan
    a[40] = -np.inf
    b = rng.standard_normal(5)
    got = fastconv.fftconvolve(a, b)
    expected = np.convolve(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9)


def test_fftconvolve_many_non_finite_values_along_axes(rng):
    """Past the per-element repairs, the direct fallback convolves along
    `axes` only, each batch row with its own (broadcast) operand."""
    a = rng.standard_normal((2, 400))
    a[:, ::3] = np.nan
    a[1, 1::7] = np.inf
    b = rng.standard_normal((1, 5))
    got = fastconv.fftconvolve(a, b, axes=1)
    assert got.shape == (2, 404)
    expected = np.stack([np.convolve(a[i], b[0]) for i in range(2)])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9)


def test_fft_plans_are_cached_and_wisdom_round_trips(rng, monkeypatch):
    monkeypatch.setenv("FASTCONV_FFT_PLAN_SECONDS", "0.2")
    a, b = rng.standard_normal((37, 29)), rng.standard_normal((5, 5))
    first = fastconv.fftconvolve(a, b)
    for _ in range(3):  # the third use re-plans with FFTW_MEASURE; results agree to rounding
        np.testing.assert_allclose(fastconv.fftconvolve(a, b), first, rtol=1e-12, atol=1e-12)
    key = ((fast_length(41), fast_length(33)), (0, 1), np.dtype(np.float64).str,
           fastconv.get_num_threads())
    assert key in fftplans.plans._plans and fftplans.plans._plans[key].measured
    wisdom = fastconv.export_fft_wisdom()
    assert isinstance(wisdom, tuple) and any(len(w) > 0 for w in wisdom)
    assert all(fastconv.import_fft_wisdom(wisdom))


def test_fast_length():
    for n in list(range(1, 200)) + [1000, 2049, 4097, 10**6 + 1]:
        m = fast_length(n)
        assert m >= n
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        assert r == 1
        assert not any(_smooth(j) for j in range(n, m))  # the smallest such


def _smooth(j):
    for p in (2, 3, 5):
        while j % p == 0:
            j //= p
    return j == 1


def test_every_simd_level(simd_level, rng):
    # widths around the vector and tile sizes exercise the masked tails and,
    # on AVX-512, the lane-rotation horizontal pass
    for W, kw in ((5, 3), (37, 7), (70, 17), (129, 33)):
        x = rng.standard_normal((2, 11, W))
        k = rng.standard_normal((4, kw))
        for dtype in (np.float32, np.float64):
            for boundary in BOUNDARIES:
                for method in ("direct", "separable"):
                    kk = np.outer(k[:, 0], k[0]) if method == "separable" else k
                    for i in range(2):
                        check_filter(fastconv.correlate2d, ss.correlate2d, x[i], kk, dtype, mode="same",
                                     boundary=boundary, method=method)


def test_thread_count_does_not_change_results(rng):
    x = rng.standard_normal((3, 64, 70)).astype(np.float32)
    k = rng.standard_normal((5, 6)).astype(np.float32)
    g = np.outer(np.hanning(7), np.hanning(9)).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        with fastconv.threads(n):
            outs.append((fastconv.correlate2d(x, k, method="direct"), fastconv.correlate2d(x, g, method="separable")))
    for other in outs[1:]:
        np.testing.assert_array_equal(outs[0][0], other[0])
        np.testing.assert_array_equal(outs[0][1], other[1])


# ---- complex images and kernels (scipy.signal's semantics: correlate2d conjugates in2) ----------------

COMPLEX_KINDS = ["complex128", "complex64", "float32", "float64", "int64"]


def _operand(rng, shape, kind):
    if kind.startswith("complex"):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(kind)
    if kind == "int64":
        return rng.integers(-5, 5, shape)
    return rng.standard_normal(shape).astype(kind)


@settings(max_examples=150, deadline=None)
@given(H=st.integers(1, 9), W=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
       kinds=st.tuples(st.sampled_from(COMPLEX_KINDS), st.sampled_from(COMPLEX_KINDS)).filter(
           lambda t: "complex64" in t or "complex128" in t),
       mode=st.sampled_from(MODES), boundary=st.sampled_from(["fill", "wrap", "symm"]),
       fill=st.sampled_from([0, 1.5, 2 - 3j]), method=st.sampled_from(["auto", "direct", "separable", "fft"]),
       flipped=st.booleans(), seed=st.integers(0, 2**16))
def test_complex_matches_scipy(H, W, kh, kw, kinds, mode, boundary, fill, method, flipped, seed):
    rng = np.random.default_rng(seed)
    a, b = _operand(rng, (H, W), kinds[0]), _operand(rng, (kh, kw), kinds[1])
    fn, ref = (fastconv.convolve2d, ss.convolve2d) if flipped else (fastconv.correlate2d, ss.correlate2d)
    try:
        expected = ref(a, b, mode, boundary=boundary, fillvalue=fill)
    except ValueError:  # 'valid' with neither operand the larger
        with pytest.raises(ValueError):
            fn(a, b, mode, boundary=boundary, fillvalue=fill, method=method)
        return
    got = fn(a, b, mode, boundary=boundary, fillvalue=fill, method=method)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    tol = 1e-4 if np.complex64 in (a.dtype, b.dtype) or np.float32 in (a.dtype, b.dtype) else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)


def test_complex_batch_and_sepfilter(rng):
    img = rng.standard_normal((2, 12, 10)) + 1j * rng.standard_normal((2, 12, 10))
    ky, kx = rng.standard_normal(3) + 0.5j, rng.standard_normal(5).astype(np.float32)
    got = fastconv.correlate2d(img, np.outer(ky, kx), "same", boundary="symm")
    expected = np.stack([ss.correlate2d(i, np.outer(ky, kx), "same", boundary="symm") for i in img])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # sepfilter2d is correlate2d with outer(ky, kx), conjugation included
    np.testing.assert_allclose(fastconv.sepfilter2d(img, ky, kx, "same", boundary="symm"), expected,
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=120, deadline=None)
@given(s1=st.lists(st.integers(1, 8), min_size=1, max_size=3), data=st.data(),
       kinds=st.tuples(st.sampled_from(COMPLEX_KINDS), st.sampled_from(COMPLEX_KINDS)).filter(
           lambda t: "complex64" in t or "complex128" in t),
       mode=st.sampled_from(MODES), seed=st.integers(0, 2**16))
def test_fftconvolve_complex_matches_scipy(s1, data, kinds, mode, seed):
    nd = len(s1)
    s2 = data.draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd))
    axes = data.draw(st.none() | st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    rng = np.random.default_rng(seed)
    a, b = _operand(rng, tuple(s1), kinds[0]), _operand(rng, tuple(s2), kinds[1])
    try:
        expected = ss.fftconvolve(a, b, mode, axes=axes)
    except ValueError:
        with pytest.raises(ValueError):
            fastconv.fftconvolve(a, b, mode, axes=axes)
        return
    got = fastconv.fftconvolve(a, b, mode, axes=axes)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    # (scipy transforms a single-precision operand in single precision even for a double result)
    tol = 1e-4 if {"complex64", "float32"} & set(kinds) else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


EMPTY_SHAPES = [(0, 3), (3, 0), (0, 0), (2, 3)]
KERNEL_SHAPES = [(2, 2), (0, 2), (2, 0), (1, 1)]


@pytest.mark.parametrize("fn", ["correlate2d", "convolve2d"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_empty_operands_as_scipy(fn, mode, boundary):
    """scipy's shapes, values (fill * sum of the kernel read through an empty
    image) and errors; where scipy's C code halts the process (wrap or symm
    reading an empty image), a ValueError."""
    ours, theirs = getattr(fastconv, fn), getattr(ss, fn)
    for xs in EMPTY_SHAPES:
        for ks in KERNEL_SHAPES:
            if 0 not in xs + ks:
                continue
            x = np.arange(np.prod(xs), dtype=float).reshape(xs) + 1
            k = (np.arange(np.prod(ks), dtype=float).reshape(ks) + 1) * (1 - 2j)
            if boundary != "fill" and mode == "full" and 0 in xs:
                if k.size and xs[0] + ks[0] > 1 and xs[1] + ks[1] > 1:
                    with pytest.raises(ValueError, match="empty"):
                        ours(x, k, mode, boundary)
                continue
            try:
                expected = theirs(x, k, mode, boundary, 5)
            except ValueError:
                with pytest.raises(ValueError):
                    ours(x, k, mode, boundary, 5)
                continue
            got = ours(x, k, mode, boundary, 5)
            assert got.shape == expected.shape and got.dtype == expected.dtype, (xs, ks)
            np.testing.assert_allclose(got, expected)
