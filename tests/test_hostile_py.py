"""Hostile input to the Python layer (issue 13, items 1, 8 and 9): each call
either gives scipy's (or torch's) answer or raises a clear ValueError /
TypeError naming the argument, and returns within a second."""
import itertools
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.signal as ss

import fastconv
from fastconv import _conv_fft
from fastconv._fft import plans as fftplans
from fastconv import nn

pytestmark = pytest.mark.usefixtures("channels_first")  # written against torch's layouts


@pytest.fixture(autouse=True)
def _estimated_fft_plans(monkeypatch):
    # FFTW_MEASURE planning, which a transform size gets on its third use,
    # takes up to FASTCONV_FFT_PLAN_SECONDS (a busy machine makes even small
    # sizes take a second): these tests time the calls, not the planning
    monkeypatch.setenv("FASTCONV_FFT_PLAN_SECONDS", "0")


def finishes(fn, seconds=1.0):
    """fn()'s result, or its exception re-raised; fails when fn has not
    returned within `seconds` (it then keeps running in a daemon thread: an
    SVD of a kernel holding an infinity never ended)."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the test's thread
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t0 = time.perf_counter()
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"], time.perf_counter() - t0


def same_as_scipy(got, expected):
    """scipy's shape, dtype, and values: integers exactly, floats to
    rounding (the separable and FFT methods sum in another order), NaN and
    infinities where scipy has them."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.shape,
                                                                          expected.dtype)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(expected) * np.sign(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5 if got.dtype == np.float32 else 1e-12,
                                   atol=1e-12)
    else:
        np.testing.assert_array_equal(got, expected)


# ---- 1: non-finite kernels never reach an SVD ---------------------------------------------------


@pytest.mark.parametrize("bad", [-np.inf, np.inf, np.nan])
@pytest.mark.parametrize("method", ["auto", "separable", "direct", "fft"])
def test_non_finite_kernel_gives_scipys_answer(bad, method):
    x = np.ones((8, 8))
    k = np.ones((3, 3))
    k[1, 1] = bad
    (got, last), _ = finishes(lambda: (fastconv.correlate2d(x, k, "same", method=method), fastconv.last_method()))
    same_as_scipy(got, ss.correlate2d(x, k, "same"))
    if method in ("auto", "separable"):
        assert last["method"] == "direct"


def test_issue_reproducer_inf_kernel_returns_at_once():
    k = np.zeros((3, 3))
    k[0, 2] = -np.inf
    for method in ("auto", "separable"):
        got, _ = finishes(lambda: fastconv.correlate2d(np.ones((8, 8)), k, "same", method=method))
        same_as_scipy(got, ss.correlate2d(np.ones((8, 8)), k, "same"))


@pytest.mark.parametrize("fn,sp", [(fastconv.correlate2d, ss.correlate2d), (fastconv.convolve2d, ss.convolve2d)])
@pytest.mark.parametrize("method", ["auto", "separable", "direct", "fft"])
def test_non_finite_kernel_every_mode_and_boundary(fn, sp, method, rng):
    # inf * 0 of the zeros outside the image is NaN in scipy's sums: the FFT
    # path used to leave those out
    x = rng.integers(-3, 4, (9, 11)).astype(float)
    for pos in [(0, 2), (1, 1), (2, 0)]:
        for bad in (np.inf, np.nan):
            k = rng.integers(-2, 3, (3, 4)).astype(float)
            k[pos] = bad
            for mode, boundary, fill in itertools.product(("full", "same", "valid"), ("fill", "wrap", "symm"),
                                                          (0, 0.5)):
                got, _ = finishes(lambda: fn(x, k, mode, boundary, fillvalue=fill, method=method))
                expected = sp(x, k, mode, boundary, fillvalue=fill)
                np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
                np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(expected) * np.sign(expected))
                finite = np.isfinite(expected)
                np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9)


def test_non_finite_fillvalue_takes_the_direct_method():
    x = np.arange(30.0).reshape(5, 6)
    g = np.outer([1.0, 2, 1], [1.0, 0, -1])  # rank 1: "auto" would pass it to the separable method
    for fill in (np.inf, np.nan):
        got = fastconv.correlate2d(x, g, "same", fillvalue=fill, method="separable")
        assert fastconv.last_method()["method"] == "direct"
        same_as_scipy(got, ss.correlate2d(x, g, "same", fillvalue=fill))


def test_finite_kernels_still_factor():
    g = np.outer([1.0, 2, 1], [1.0, 0, -1])
    fastconv.correlate2d(np.ones((8, 8)), g, "same", method="separable")
    assert fastconv.last_method() == {"method": "separable", "rank": 1}


# ---- 8: fftconvolve on 0-d, empty and axes edge cases ---------------------------------------------------

A = np.array
FFT_CASES = [
    ("0-d", A(2.0), A(3.0), {}),
    ("0-d same", A(2.0), A(3.0), {"mode": "same"}),
    ("0-d valid", A(2.0), A(3.0), {"mode": "valid"}),
    ("0-d axes=()", A(2.0), A(3.0), {"axes": ()}),
    ("0-d axes=0", A(2.0), A(3.0), {"axes": 0}),
    ("0-d int", A(2), A(3), {}),
    ("0-d float32", A(2.0, np.float32), A(3.0, np.float32), {}),
    ("0-d and 1-d", A(2.0), A([3.0, 4.0]), {}),
    ("axes=()", np.ones((3, 4)), np.ones((3, 4)), {"axes": ()}),
    ("axes=[]", np.ones((3, 4)), np.ones((3, 4)), {"axes": []}),
    ("axes=[] valid", np.ones((3, 4)), np.ones((3, 4)), {"axes": [], "mode": "valid"}),
    ("axes=1.5", np.ones((3, 4)), np.ones((3, 2)), {"axes": 1.5}),
    ("axes=[1.5]", np.ones((3, 4)), np.ones((3, 2)), {"axes": [1.5]}),
    ("axes=float64(1)", np.ones((3, 4)), np.ones((3, 2)), {"axes": np.float64(1)}),
    ("axes=array([1.])", np.ones((3, 4)), np.ones((3, 2)), {"axes": A([1.0])}),
    ("axes='0'", np.ones((3, 4)), np.ones((2, 2)), {"axes": "0"}),
    ("axes=[None]", np.ones((3, 4)), np.ones((2, 2)), {"axes": [None]}),
    ("axes=int64(1)", np.ones((3, 4)), np.ones((3, 2)), {"axes": np.int64(1)}),
    ("axes=array([1])", np.ones((3, 4)), np.ones((3, 2)), {"axes": A([1])}),
    ("axes=True", np.ones((3, 4)), np.ones((3, 2)), {"axes": True}),
    ("axes=[0, 0]", np.ones((3, 4)), np.ones((2, 4)), {"axes": [0, 0]}),
    ("axes=(0, 1, 0)", np.ones((3, 4)), np.ones((2, 2)), {"axes": (0, 1, 0)}),
    ("axes=[0, -2]", np.ones((3, 4)), np.ones((2, 4)), {"axes": [0, -2]}),
    ("axes=2", np.ones((3, 4)), np.ones((3, 4)), {"axes": 2}),
    ("axes=-3", np.ones((3, 4)), np.ones((3, 4)), {"axes": -3}),
    ("axes=[1, 0]", np.arange(12.0).reshape(3, 4), np.ones((2, 2)), {"axes": [1, 0]}),
    ("empty in1", np.ones((0, 4)), np.ones((2, 2)), {}),
    ("empty in2", np.ones((3, 4)), np.ones((3, 0)), {"mode": "same"}),
    ("empty both", np.ones(0), np.ones(0), {"mode": "valid"}),
    ("empty, bad axes", np.ones((0, 4)), np.ones((1, 2)), {"axes": 5}),
    ("empty batch", np.ones((0, 4)), np.ones((1, 2)), {"axes": 1}),
    # along an axis of length 1 in either operand scipy multiplies (broadcasts)
    ("length-1 axis, valid", np.arange(5.0)[None], np.ones((3, 2)), {"mode": "valid"}),
    ("length-1 axis, same", np.arange(5.0)[None], np.ones((3, 2)), {"mode": "same"}),
    ("length-1 axes only", np.arange(3.0)[:, None], np.arange(1.0, 4.0)[:, None], {"axes": 1}),
    ("length-1 axes only, int", np.arange(3)[:, None], np.arange(1, 4)[:, None], {"axes": 1}),
    ("bool, length-1", A([True, False]), A([True]), {}),
    ("batch same crops to in1", np.arange(5.0)[None], np.ones((3, 2)), {"mode": "same", "axes": 1}),
    ("incompatible batch", np.ones((3, 4)), np.ones((2, 2)), {"axes": 1}),
    ("bad mode", np.ones(3), np.ones(2), {"mode": "circular"}),
    ("0-d bad mode", A(1.0), A(2.0), {"mode": "circular"}),
    ("valid, neither larger", np.ones((5, 3)), np.ones((3, 5)), {"mode": "valid"}),
]


def _outcome(fn, a, b, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "ok", fn(a, b, **kw)
        except Exception as e:  # the type is what is compared
            return type(e), None


@pytest.mark.parametrize("a,b,kw", [c[1:] for c in FFT_CASES], ids=[c[0] for c in FFT_CASES])
def test_fftconvolve_edge_cases_match_scipy(a, b, kw):
    expected, want = _outcome(ss.fftconvolve, a, b, kw)
    (got, have), _ = finishes(lambda: _outcome(fastconv.fftconvolve, a, b, kw))
    assert got == expected, (got, expected)
    if expected == "ok":
        have, want = np.asarray(have), np.asarray(want)
        assert have.shape == want.shape and have.dtype == want.dtype, (have.shape, have.dtype, want.shape, want.dtype)
        np.testing.assert_allclose(have, want, rtol=1e-12, atol=1e-12)


def test_fftconvolve_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"axes must be None, an int or a sequence of ints; received 1.5"):
        fastconv.fftconvolve(np.ones((3, 4)), np.ones((3, 2)), axes=1.5)
    with pytest.raises(ValueError, match=r"axes cannot be empty"):
        fastconv.fftconvolve(np.ones((3, 4)), np.ones((3, 4)), axes=())
    with pytest.raises(ValueError, match=r"all axes must be unique"):
        fastconv.fftconvolve(np.ones((3, 4)), np.ones((3, 4)), axes=[1, -1])
    with pytest.raises(ValueError, match=r"axes exceeds dimensionality"):
        fastconv.fftconvolve(np.ones((3, 4)), np.ones((3, 4)), axes=2)


def test_fftconvolve_random_shapes_and_axes_match_scipy():
    rng = np.random.default_rng(13)
    for _ in range(300):
        nd = int(rng.integers(1, 4))
        s1 = tuple(int(v) for v in rng.integers(0, 5, nd))
        s2 = tuple(int(rng.choice([1, s1[i], rng.integers(0, 5)])) for i in range(nd))
        a, b = rng.standard_normal(s1), rng.standard_normal(s2)
        axes = None
        if rng.random() < 0.7:
            axes = [int(v) - (nd if rng.random() < 0.3 else 0) for v in rng.choice(nd, rng.integers(0, nd + 1),
                                                                                     replace=False)]
        kw = {"mode": str(rng.choice(["full", "same", "valid"])), "axes": axes}
        expected, want = _outcome(ss.fftconvolve, a, b, kw)
        got, have = _outcome(fastconv.fftconvolve, a, b, kw)
        assert got == expected, (s1, s2, kw, got, expected)
        if expected == "ok":
            assert have.shape == want.shape and have.dtype == want.dtype, (s1, s2, kw)
            np.testing.assert_allclose(have, want, rtol=1e-10, atol=1e-10)


# ---- 9: the rest -------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [None, "abc", np.array(1.0), np.ones((2, 3), complex)],
                         ids=["None", "str", "0-d", "complex"])
def test_sequential_forward_rejects_what_is_not_an_input(x):
    model = nn.Sequential([nn.Dense(2)])
    with pytest.raises((TypeError, ValueError), match=r"^x must"):
        finishes(lambda: model.forward(x))
    with pytest.raises((TypeError, ValueError), match=r"^x must"):
        model.predict(x)


def test_sequential_forward_none_is_a_type_error():
    with pytest.raises(TypeError, match=r"x must be an array .*received None"):
        nn.Sequential([nn.Dense(2)]).forward(None)
    model = nn.Sequential([nn.Dense(2)])
    model.forward(np.ones((3, 4)))
    with pytest.raises(TypeError, match=r"grad_output must be an array"):
        model.backward(None)


@pytest.mark.parametrize("which", ["lstm", "gru", "rnn"])
def test_cell_backward_refuses_a_sequence_cache(which, rng):
    T, B, I, H = 5, 2, 4, 3
    G = {"lstm": 4, "gru": 3, "rnn": 1}[which]
    x = rng.standard_normal((T, B, I))
    w_ih, w_hh = rng.standard_normal((G * H, I)), rng.standard_normal((G * H, H))
    h = np.zeros((B, H))
    if which == "lstm":
        *_, cache = fastconv.lstm_forward(x, h, h, w_ih, w_hh, None, None)
        call = lambda c: fastconv.lstm_cell_backward(np.ones((B, H)), np.ones((B, H)), c)  # noqa: E731
        _, _, step = fastconv.lstm_cell_forward(x[0], h, h, w_ih, w_hh, None, None)
    elif which == "gru":
        *_, cache = fastconv.gru_forward(x, h, w_ih, w_hh, None, None)
        call = lambda c: fastconv.gru_cell_backward(np.ones((B, H)), c)  # noqa: E731
        _, step = fastconv.gru_cell_forward(x[0], h, w_ih, w_hh, None, None)
    else:
        *_, cache = fastconv.rnn_forward(x, h, w_ih, w_hh, None, None)
        call = lambda c: fastconv.rnn_cell_backward(np.ones((B, H)), c)  # noqa: E731
        _, step = fastconv.rnn_cell_forward(x[0], h, w_ih, w_hh, None, None)
    with pytest.raises(ValueError, match=rf"cache must come from {which}_cell_forward .*sequence of {T} steps"):
        call(cache)
    dx = call(step)[0]  # one step's cache still works
    assert dx.shape == (B, I)


FILLS = ["1.5", "1", 1.5, -1, "x", None, [1, 2], [], [2], np.nan, np.inf, 1e300, 2 ** 70, 1j, 1 + 0j]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("fill", FILLS, ids=[repr(f) for f in FILLS])
def test_fillvalue_converts_as_scipy(dtype, fill):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    k = np.ones((2, 2), dtype)
    expected, want = _outcome(lambda a, b: ss.correlate2d(a, b, fillvalue=fill), x, k, {})
    got, have = _outcome(lambda a, b: fastconv.correlate2d(a, b, fillvalue=fill), x, k, {})
    assert got == expected, (got, expected)
    if expected == "ok":
        same_as_scipy(have, want)
    else:
        with pytest.raises(ValueError, match=r"^fillvalue must be"):
            fastconv.correlate2d(x, k, fillvalue=fill)


def test_fillvalue_string_reproducer():
    # scipy takes '1.5' for a float image and refuses it for an integer one
    same_as_scipy(fastconv.correlate2d(np.ones((8, 8)), np.ones((3, 3)), fillvalue="1.5"),
                  ss.correlate2d(np.ones((8, 8)), np.ones((3, 3)), fillvalue="1.5"))
    with pytest.raises(ValueError, match=r"fillvalue must be a scalar that converts to the result dtype int64"):
        fastconv.correlate2d(np.ones((8, 8), int), np.ones((3, 3), int), fillvalue="1.5")
    # an integer image fills with the value cast to its type, 1.5 -> 1 (it was 1.5)
    same_as_scipy(fastconv.correlate2d(np.ones((4, 4), int), np.ones((3, 3), int), fillvalue=1.5),
                  ss.correlate2d(np.ones((4, 4), int), np.ones((3, 3), int), fillvalue=1.5))
    # boundaries other than fill never read it (as scipy)
    same_as_scipy(fastconv.correlate2d(np.ones((4, 4)), np.ones((3, 3)), boundary="wrap", fillvalue="x"),
                  ss.correlate2d(np.ones((4, 4)), np.ones((3, 3)), boundary="wrap", fillvalue="x"))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint8, np.uint32, np.uint64])
@pytest.mark.parametrize("method", ["auto", "direct", "separable", "fft"])
def test_integer_overflow_wraps_as_scipy(dtype, method):
    info = np.iinfo(dtype)
    x = np.full((6, 7), info.max, dtype)
    x[2, 3] = info.min
    k = np.ones((3, 3), dtype)
    k[0, 0] = 3
    for fn, sp in [(fastconv.correlate2d, ss.correlate2d), (fastconv.convolve2d, ss.convolve2d)]:
        for mode in ("full", "same", "valid"):
            for boundary in ("fill", "wrap", "symm"):
                got, _ = finishes(lambda: fn(x, k, mode, boundary, fillvalue=7, method=method))
                same_as_scipy(got, sp(x, k, mode, boundary, fillvalue=7))


def test_int64_beyond_2_63_is_scipys_wrapped_sum():
    x = np.full((4, 4), 2 ** 61, np.int64)
    k = np.ones((3, 3), np.int64)
    got = fastconv.correlate2d(x, k)
    same_as_scipy(got, ss.correlate2d(x, k))
    # 'full' output (1, 1) sums 4 * 2**61 = 2**63, which wraps to -2**63 in scipy too
    # (it came out as INT64_MIN by a float64 cast before, right by chance); (2, 2): 9 * 2**61 wraps to 2**61
    assert got[1, 1] == -2 ** 63 and got[2, 2] == 2 ** 61 and got[1, 2] == -2 ** 62
    # sums near 2**53, where float64 is no longer exact, and the swapped 'valid' case
    x = np.full((3, 3), 2 ** 52 + 1, np.int64)
    k = np.arange(20, dtype=np.int64).reshape(4, 5)
    for fn, sp in [(fastconv.correlate2d, ss.correlate2d), (fastconv.convolve2d, ss.convolve2d)]:
        for mode in ("full", "same", "valid"):
            same_as_scipy(fn(x, k, mode), sp(x, k, mode))


def test_integers_below_2_53_keep_the_fast_path():
    x = np.arange(64, dtype=np.int32).reshape(8, 8)
    g = np.outer([1, 2, 1], [1, 2, 1]).astype(np.int32)
    same_as_scipy(fastconv.correlate2d(x, g, "same", method="separable"), ss.correlate2d(x, g, "same"))
    assert fastconv.last_method()["method"] == "separable"


@pytest.fixture
def no_pyfftw(monkeypatch):
    """fastconv.fft as without pyFFTW installed (and no plans made before)."""
    monkeypatch.setattr(fftplans, "pyfftw", None)
    monkeypatch.setattr(fftplans, "plans", fftplans.PlanCache(fftplans.PLAN_CACHE_SIZE, fftplans.ConvPlan))
    monkeypatch.setattr(fftplans, "real_plans", fftplans.PlanCache(fftplans.PLAN_CACHE_SIZE, fftplans.RealPlan))


def test_fft_without_pyfftw_says_it_is_required(no_pyfftw):
    x, w = np.ones((1, 2, 8, 8), np.float32), np.ones((3, 2, 3, 3), np.float32)
    calls = [
        lambda: fastconv.conv2d(x, w, algorithm="fft"),
        lambda: fastconv.conv2d_grad_input(x.shape, w, np.ones((1, 3, 6, 6), np.float32), algorithm="fft"),
        lambda: fastconv.conv2d_grad_weight(x, w.shape, np.ones((1, 3, 6, 6), np.float32), algorithm="fft"),
        lambda: fastconv.conv1d(np.ones((1, 2, 8)), np.ones((3, 2, 3)), algorithm="fft"),
        lambda: fastconv.fftconvolve(np.ones((8, 8)), np.ones((3, 3))),
        lambda: fastconv.correlate2d(np.ones((8, 8)), np.ones((3, 3)), method="fft"),
        fastconv.export_fft_wisdom,
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"pyFFTW is required .*pip install pyfftw"):
            call()
    # "auto" leaves the FFT out, even where its model would take it
    x = np.ones((300, 300), np.float32)
    fastconv.correlate2d(x, np.random.default_rng(0).standard_normal((63, 63)).astype(np.float32), "same")
    assert "fft" not in fastconv.last_method()["predicted_ms"]
    # and the direct path of conv2d never needed it
    fastconv.conv2d(np.ones((1, 2, 8, 8)), np.ones((3, 2, 3, 3)), algorithm="direct")


def _fft_conv_calls(x, w, dy, **kw):
    return [fastconv.conv2d(x, w, **kw), fastconv.conv2d_grad_input(x.shape, w, dy, **kw),
            fastconv.conv2d_grad_weight(x, w.shape, dy, **kw)]


@pytest.mark.parametrize("N,C,H,K,G,stride,dilation,dtype", [
    (3, 6, 11, 4, 2, 1, 1, np.float64),
    (3, 4, 13, 6, 1, 2, 2, np.float32),
    (5, 3, 9, 5, 1, 1, 1, np.float64),
    (1, 4, 7, 8, 4, 3, 1, np.float64),
])
def test_fft_conv_tiles_give_the_untiled_result(monkeypatch, rng, N, C, H, K, G, stride, dilation, dtype):
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C // G, 3, 3)).astype(dtype)
    kw = dict(stride=stride, padding=1, dilation=dilation, groups=G, algorithm="fft")
    dy = rng.standard_normal(fastconv.conv2d(x, w, **kw).shape).astype(dtype)
    whole = _fft_conv_calls(x, w, dy, **kw)
    monkeypatch.setattr(_conv_fft, "_TILE_BYTES", 1)  # one image and one channel a tile
    tiled = _fft_conv_calls(x, w, dy, **kw)
    direct = _fft_conv_calls(x, w, dy, **dict(kw, algorithm="direct"))
    eps = np.finfo(dtype).eps
    for a, b, d in zip(whole, tiled, direct):
        assert a.shape == b.shape and a.dtype == b.dtype
        # the same transforms and products, batched differently: equal to rounding
        np.testing.assert_allclose(b, a, rtol=0, atol=64 * eps * np.abs(d).max())
        np.testing.assert_allclose(b, d, rtol=0, atol=1024 * eps * np.abs(d).max())


def test_fft_conv_memory_is_a_small_multiple_of_input_and_output(monkeypatch):
    # few images, many channels: the weights' spectra (K * C planes) were
    # held whole, 38x the input and output here
    monkeypatch.setattr(_conv_fft, "_TILE_MIN_BYTES", 0)  # the budget of a large problem: its in + out bytes
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64, 48, 48), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    dy = rng.standard_normal((2, 64, 48, 48), dtype=np.float32)
    calls = [lambda: fastconv.conv2d(x, w, padding=1, algorithm="fft"),
             lambda: fastconv.conv2d_grad_input(x.shape, w, dy, padding=1, algorithm="fft"),
             lambda: fastconv.conv2d_grad_weight(x, w.shape, dy, padding=1, algorithm="fft")]
    io = x.nbytes + dy.nbytes
    for call in calls:
        call()  # plans made
        tracemalloc.start()
        try:
            call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= 4 * io, f"peak {peak / io:.1f}x input + output"


# ---- found by tools/fuzz.py after the first round --------------------------------------------------------


@pytest.mark.parametrize("wisdom,exc", [((b"",), ValueError), ((), ValueError), ((b"", b""), ValueError),
                                        ((b"",) * 4, ValueError), (None, TypeError), (b"abc", TypeError),
                                        ("abc", TypeError), ((1, 2, 3), TypeError), ((b"", "x", b""), TypeError)])
def test_import_fft_wisdom_refuses_what_export_cannot_give(wisdom, exc):
    pytest.importorskip("pyfftw")
    with pytest.raises(exc, match="wisdom"):
        fastconv.import_fft_wisdom(wisdom)


def test_import_fft_wisdom_takes_a_list_of_three_bytes():
    pytest.importorskip("pyfftw")
    assert len(fastconv.import_fft_wisdom(list(fastconv.export_fft_wisdom()))) == 3


def _same_ieee(r, e, atol):
    return (np.array_equal(np.isnan(r), np.isnan(e)) and np.array_equal(np.isposinf(r), np.isposinf(e))
            and np.array_equal(np.isneginf(r), np.isneginf(e)) and np.allclose(r, e, equal_nan=True, atol=atol))


@pytest.mark.parametrize("count", [3, 300], ids=["few", "many"])  # many: past _MAX_SEPARABLE_REPAIRS
@pytest.mark.parametrize("fn,sp", [(fastconv.correlate2d, ss.correlate2d), (fastconv.convolve2d, ss.convolve2d)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_separable_with_non_finite_image_is_scipys_answer(count, fn, sp, mode, boundary):
    # a kernel of rank > 1: its rank-1 passes would make Inf - Inf = NaN where the direct sum is Inf
    rng = np.random.default_rng(count)
    x = rng.standard_normal((2, 23, 21))
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, count, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], count)
    k = rng.random((3, 4))
    k[1, 2] = 0.0  # Inf * 0 is NaN in scipy's sums
    got = fn(x, k, mode, boundary=boundary, fillvalue=0.5, method="separable")
    exp = np.stack([sp(xi, k, mode, boundary=boundary, fillvalue=0.5) for xi in x])
    assert _same_ieee(got, exp, 1e-9)
    assert fastconv.last_method()["method"] == ("separable" if count < 256 else "direct")


def test_huge_broadcast_integer_image_is_refused_at_once():
    # the integer bound looked at all 6e10 values of a broadcast view before the allocation failed
    x = np.broadcast_to(np.int32(2), (1 << 33, 7))
    with pytest.raises(MemoryError):
        finishes(lambda: fastconv.convolve2d(x, np.ones((5, 4), np.int64), mode="valid", boundary="symm"))


@pytest.mark.parametrize("layers,shape", [
    (lambda: [nn.Conv2D(1, 1), nn.Flatten(), nn.Dense(1)], (0,)),   # found by the fuzzer: an IndexError
    (lambda: [nn.Conv1D(1, 1)], (2, 3, 4, 5)),
    (lambda: [nn.Dense(2)], (3,)),
    (lambda: [nn.MaxPool2D(2)], (2, 3, 4)),
    (lambda: [nn.GlobalAvgPool2D()], (2, 3)),
    (lambda: [nn.Conv2DTranspose(1, 2)], (2, 3, 4)),
    (lambda: [nn.BatchNorm()], (4,)),
])
def test_nn_input_of_the_wrong_rank_is_a_value_error(layers, shape):
    model = nn.Sequential(layers(), seed=0)
    with pytest.raises(ValueError, match="takes inputs with"):
        model.forward(np.ones(shape, np.float32))


def test_nn_weight_too_large_to_index_is_a_value_error():
    # found by the fuzzer: (2**40)**2 taps overflowed np.prod to 0, and Glorot's limit divided by zero
    model = nn.Sequential([nn.Conv2DTranspose(1, 2**40), nn.Flatten()], seed=0)
    with pytest.raises(ValueError, match="the weight of shape"):
        model.forward(np.ones((1, 1, 1, 1), np.float32), training=True)


@pytest.mark.parametrize("algorithm", ["im2col", "direct", "auto"])
def test_conv_padding_past_2_52_reads_only_zeros(algorithm, rng):
    """A stride and padding near 2^53 (one output, every tap in the padding): im2col's phase planes
    once formed a row pointer 2^52 elements before the input (UBSan: pointer overflow; fuzz-found)."""
    x = rng.standard_normal((1, 2, 2)).astype(np.float32)
    gy = rng.standard_normal((1, 6, 1)).astype(np.float32)
    kw = dict(stride=2 ** 53, padding=2 ** 52, dilation=3, groups=2, algorithm=algorithm)
    gw = fastconv.conv1d_grad_weight(x, (6, 1, 2), gy, **kw)
    assert gw.shape == (6, 1, 2) and not gw.any()
    y = fastconv.conv1d(x, np.ones((6, 1, 2), np.float32), **kw)
    assert y.shape == (1, 6, 1) and not y.any()
