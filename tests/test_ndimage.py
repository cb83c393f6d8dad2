"""fastconv.ndimage against scipy.ndimage itself: every function, mode,
dtype (float32 / float64, integers, uint8, bool, complex), origin, axes,
output (a dtype or an array), 1-D to 3-D input, per-axis sequences, empty and
0-d arrays, non-contiguous views, the compiled kernel at every SIMD level,
and every error with SciPy's exception type."""
import warnings

import numpy as np
import pytest
import scipy.ndimage as snd
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
import fastconv.ndimage as fnd
from fastconv._ext import _fastconv as _core

MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror", "grid-wrap"]
DTYPES = [np.float64, np.float32, np.int32, np.uint8, np.int16, np.uint64, np.bool_, np.complex128, np.complex64]
SHAPES = [(17,), (9, 12), (5, 6, 7)]
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.complex64): 1e-5, np.dtype(np.float64): 1e-12,
        np.dtype(np.complex128): 1e-12}


def sample(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "u":
        return rng.integers(0, 256 if dtype.itemsize == 1 else 1000, shape).astype(dtype)
    if dtype.kind == "i":
        return rng.integers(-200, 200, shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return (rng.standard_normal(shape) * 10).astype(dtype)


class Own:
    """An argument naming a function of the module under test (generic_gradient_magnitude's
    derivative: scipy.ndimage.sobel for SciPy, fastconv.ndimage.sobel for fastconv)."""

    def __init__(self, name):
        self.name = name


def call(module, name, *args, **kwargs):
    args = [getattr(module, a.name) if isinstance(a, Own) else a for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (np.exceptions.ComplexWarning, UserWarning, RuntimeWarning))
        return getattr(module, name)(*args, **kwargs)


def check_same(expected, got, rtol=None, scale=0.0):
    """got equals SciPy's result: its dtype and shape; integers and bools exactly (bools byte for
    byte, as SciPy writes them); floats to rounding, relative to the largest magnitude of the
    result and of the input (scale)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape, (got.dtype, got.shape, expected.dtype,
                                                                         expected.shape)
    if expected.dtype.kind in "biu":
        raw = (lambda a: a.view(np.uint8)) if expected.dtype == np.bool_ else (lambda a: a)
        np.testing.assert_array_equal(raw(got), raw(expected))
        return
    rtol = RTOL[expected.dtype] if rtol is None else rtol
    scale = max(float(np.abs(expected[np.isfinite(expected)]).max(initial=0.0)), scale)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale, equal_nan=True)


def against_scipy(name, x, *args, rtol=None, **kwargs):
    expected = call(snd, name, x, *args, **kwargs)
    got = call(fnd, name, x, *args, **kwargs)
    size = np.abs(np.asarray(x, dtype=complex))
    check_same(expected, got, rtol, scale=size[np.isfinite(size)].max(initial=0.0))
    return got


def test_module():
    assert fastconv.ndimage is fnd
    for name in fnd.__all__:
        assert callable(getattr(fnd, name)) and getattr(snd, name)


# ---- every function, mode, dtype and rank ------------------------------------------------------

SEPARABLE_CASES = [
    ("gaussian_filter", lambda x: (1.3,), {"cval": 1.7}),
    ("gaussian_filter", lambda x: ([0.8, 1.5, 1.1][:x.ndim],), lambda x: {"order": [1, 2, 3][:x.ndim], "truncate": 3.0}),
    ("gaussian_filter", lambda x: (1.0,), {"order": 3, "radius": 2}),
    ("gaussian_filter1d", lambda x: (2.0,), {"axis": 0, "order": 1, "truncate": 2.5}),
    ("gaussian_filter1d", lambda x: (1.0,), {"axis": -1, "order": 2, "radius": 5, "cval": -2.0}),
    ("uniform_filter", lambda x: (3,), {"cval": 1.7}),
    ("uniform_filter", lambda x: ([4, 2, 5][:x.ndim],), lambda x: {"origin": [1, 0, -2][:x.ndim]}),
    ("uniform_filter1d", lambda x: (4,), {"axis": 0, "origin": -1, "cval": 3.0}),
    ("correlate1d", lambda x: ([1.0, 2.0, -0.5, 3.0],), {"axis": 0, "origin": 1, "cval": 1.7}),
    ("correlate1d", lambda x: ([0.25, 0.5, 0.25],), {"axis": -1}),
    ("correlate1d", lambda x: ([-1.0, 0.0, 1.0],), {"axis": -1, "cval": 2.0}),
    ("convolve1d", lambda x: ([1.0, 2.0, -0.5],), {"axis": -1, "origin": -1, "cval": 1.7}),
    ("convolve1d", lambda x: ([1.0, 2.0, -0.5, 4.0],), {"axis": 0, "origin": 1}),
    ("sobel", lambda x: (), {"axis": 0, "cval": 1.7}),
    ("prewitt", lambda x: (), {"axis": -1}),
    ("laplace", lambda x: (), {"cval": 1.7}),
    ("gaussian_laplace", lambda x: (1.1,), {}),
    ("gaussian_gradient_magnitude", lambda x: (1.1,), {"cval": 0.5}),
    ("generic_gradient_magnitude", lambda x: (Own("sobel"),), {"cval": 0.5}),
    ("generic_gradient_magnitude", lambda x: (Own("prewitt"),), lambda x: {"axes": [0, x.ndim - 1][:x.ndim]}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", range(len(SEPARABLE_CASES)),
                         ids=lambda i: f"{SEPARABLE_CASES[i][0]}-{i}")
def test_filters_against_scipy(case, dtype, rng):
    name, args, kwargs = SEPARABLE_CASES[case]
    for shape in SHAPES:
        x = sample(rng, shape, dtype)
        kw = kwargs(x) if callable(kwargs) else kwargs
        for mode in MODES:
            against_scipy(name, x, *args(x), mode=mode, **kw)


CORRELATE_WEIGHTS = [(1,), (2,), (3,), (4, 3), (1, 5), (3, 1, 2), (2, 2, 2), (1, 1, 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["correlate", "convolve"])
def test_correlate_against_scipy(name, dtype, rng):
    for shape in SHAPES:
        x = sample(rng, shape, dtype)
        for wshape in CORRELATE_WEIGHTS:
            if len(wshape) > x.ndim:
                continue
            w = rng.standard_normal(wshape)
            axes = tuple(range(x.ndim - len(wshape), x.ndim))
            origin = [-(k // 2) for k in wshape]
            for mode in MODES:
                against_scipy(name, x, w, mode=mode, cval=1.5, axes=axes)
                against_scipy(name, x, w, mode=mode, origin=origin, axes=axes)
            if x.ndim == len(wshape):
                against_scipy(name, x, w)
                against_scipy(name, x, w + 0.5j, mode="constant", cval=1.5)


def test_correlate_two_long_axes_on_any_axes(rng):
    x = sample(rng, (6, 7, 8, 5), np.float32)
    w = rng.standard_normal((3, 4))
    for axes in [(0, 1), (1, 3), (3, 0), (2, 3)]:
        for mode in ["reflect", "mirror", "wrap"]:
            against_scipy("correlate", x, w, mode=mode, axes=axes, origin=(1, -1))
            against_scipy("convolve", x.astype(np.float64), w, mode=mode, axes=axes)


def test_large_kernels_on_short_lines(rng):
    # the extension repeats (reflect, mirror, wrap) when the kernel is longer than the line
    for n in [1, 2, 3, 5]:
        x = sample(rng, (n, 4), np.float64)
        for K in [1, 2, 7, 12, 31]:
            w = rng.standard_normal(K)
            for mode in MODES:
                for origin in sorted({-(K // 2), 0, (K - 1) // 2}):
                    against_scipy("correlate1d", x, w, axis=0, mode=mode, cval=2.5, origin=origin)
                    against_scipy("correlate1d", x.T.copy(), w, axis=1, mode=mode, cval=2.5, origin=origin)
                    # SciPy's N-D correlate reads outside the array for 'reflect' where the kernel
                    # reaches 4n or more before the line (its offsets are -1 at multiples of 2n), so
                    # the N-D path is checked against its 1-D correlation
                    check_same(snd.correlate1d(x, w, axis=0, mode=mode, cval=2.5, origin=origin),
                               fnd.correlate(x, w[:, None], mode=mode, cval=2.5, origin=(origin, 0)))


# ---- the compiled kernel ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_at_every_simd_level(simd_level, dtype, rng):
    # (outer, n, inner) layouts: the vertical tile (inner > 1, narrow and wide, tails) and the
    # extended last axis (inner == 1), kernels from 1 tap to longer than the line
    for shape in [(3, 37, 1), (2, 40, 19), (1, 70, 133), (5, 3, 64), (4, 130, 1), (1, 1, 1)]:
        x = rng.standard_normal(shape)
        for K in [1, 2, 5, 17, 65]:
            w = rng.standard_normal(K)
            for mode in MODES[:5]:
                origin = (K - 1) // 2
                got = fnd.correlate1d(x.astype(dtype), w, axis=1, mode=mode, cval=0.5, origin=origin)
                expected = snd.correlate1d(x, w, axis=1, mode=mode, cval=0.5, origin=origin)
                bound = snd.correlate1d(np.abs(x), np.abs(w), axis=1, mode=mode, cval=0.5, origin=origin)
                err = np.abs(got - expected)
                assert (err <= 4 * np.sqrt(K) * np.finfo(dtype).eps * (bound + 1e-300)).all(), (shape, K, mode)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_last_two_axes_at_every_simd_level(simd_level, dtype, rng):
    # sepcorrelate_forward: the middle-axis pass into a band buffer, extended there by the last
    # axis's mode, then the last-axis pass; bands of every height, modes that differ per axis
    for shape in [(1, 70, 37), (3, 5, 130), (2, 200, 9), (1, 1, 1)]:
        x = rng.standard_normal(shape)
        for Kv, Kh in [(1, 3), (5, 2), (17, 33), (66, 4)]:
            wv, wh = rng.standard_normal(Kv), rng.standard_normal(Kh)
            for mode_v, mode_h in [("reflect", "constant"), ("mirror", "wrap"), ("constant", "nearest")]:
                origin_v, origin_h = (Kv - 1) // 2, -(Kh // 2)
                got = np.empty(shape, dtype)
                _core.sepcorrelate_forward(got, x.astype(dtype), wv.astype(dtype), wh.astype(dtype), *shape, origin_v,
                                           origin_h, fnd._MODES[mode_v], fnd._MODES[mode_h], 0.5, 0)
                expected = snd.correlate1d(snd.correlate1d(x, wv, axis=1, mode=mode_v, cval=0.5, origin=origin_v), wh,
                                           axis=2, mode=mode_h, cval=0.5, origin=origin_h)
                bound = snd.correlate1d(snd.correlate1d(np.abs(x), np.abs(wv), axis=1, mode=mode_v, cval=0.5,
                                                        origin=origin_v), np.abs(wh), axis=2, mode=mode_h, cval=0.5,
                                        origin=origin_h)
                err = np.abs(got - expected)
                assert (err <= 8 * np.sqrt(Kv + Kh) * np.finfo(dtype).eps * (bound + 1e-300)).all(), (shape, Kv, Kh)
                # in place: a thread holds whole planes
                inplace = x.astype(dtype)
                _core.sepcorrelate_forward(inplace, inplace, wv.astype(dtype), wh.astype(dtype), *shape, origin_v,
                                           origin_h, fnd._MODES[mode_v], fnd._MODES[mode_h], 0.5, 0)
                np.testing.assert_array_equal(inplace, got)


def test_float32_accuracy_within_ulps_of_scipy(rng):
    # float32 accumulates in float32: a few ulps * sqrt(K) of the terms' size from SciPy's float64 sums
    x = rng.random((64, 300)).astype(np.float32)
    for sigma in [1.0, 4.0, 12.0]:
        got = fnd.gaussian_filter(x, sigma)
        expected = snd.gaussian_filter(x.astype(np.float64), sigma)
        K = 2 * int(4 * sigma + 0.5) + 1
        assert np.abs(got - expected).max() <= 4 * np.sqrt(K) * np.finfo(np.float32).eps * x.max()


def test_kernel_in_place(rng):
    # in place along any axis: the last (each line is extended into a buffer first) and the others
    # (each unit copies its columns of whole lines first)
    for shape, axis in [((4, 9), 1), ((9, 4), 0), ((3, 40, 70), 1), ((300, 20), 0)]:
        for mode in MODES[:5]:
            x = rng.standard_normal(shape)
            expected = snd.correlate1d(x, [1.0, 2.0, 3.0, -1.0], axis=axis, mode=mode, cval=0.5, origin=1)
            outer, n = int(np.prod(shape[:axis])), shape[axis]
            _core.correlate1d_forward(x, x, np.array([1.0, 2.0, 3.0, -1.0]), outer, n, x.size // (outer * n), 1,
                                      _core.ND_MIRROR if mode == "mirror" else fnd._MODES[mode], 0.5, 0)
            np.testing.assert_allclose(x, expected, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError):  # sizes that do not match the arrays
        _core.correlate1d_forward(np.empty(5), x, np.array([1.0]), 4, 9, 1, 0, _core.ND_REFLECT, 0.0, 0)


def test_results_do_not_depend_on_threads(rng):
    x = rng.standard_normal((40, 50, 30)).astype(np.float32)
    with fastconv.threads(1):
        one = fnd.gaussian_filter(x, 2.0)
    with fastconv.threads(2):
        two = fnd.gaussian_filter(x, 2.0)
    np.testing.assert_array_equal(one, two)


# ---- outputs, integer casts, views, empty and 0-d arrays ---------------------------------------


def test_output_dtype_and_array(rng):
    x = sample(rng, (12, 15), np.float64)
    for output in [np.float32, "f", np.dtype(np.int16), np.uint8, np.bool_, np.int64, np.uint32]:
        against_scipy("gaussian_filter", x, 1.5, output=output)
        against_scipy("uniform_filter", x, 3, output=output)
        against_scipy("sobel", x, output=output)
    for dtype in [np.float64, np.float32, np.int32]:
        expected = snd.gaussian_filter(x, 2.0, output=np.zeros(x.shape, dtype))
        out = np.full(x.shape, 7, dtype)
        assert fnd.gaussian_filter(x, 2.0, output=out) is out
        check_same(expected, out)
        # a non-contiguous output view
        big = np.zeros((24, 15), dtype)
        assert fnd.gaussian_filter(x, 2.0, output=big[::2]).base is big
        check_same(expected, big[::2])


def test_output_aliasing_the_input(rng):
    for name, args in [("gaussian_filter", (1.5,)), ("uniform_filter", (4,)), ("correlate", (np.ones((3, 2)),)),
                       ("correlate1d", ([1.0, -2.0, 0.5],)), ("sobel", ())]:
        x = sample(rng, (10, 11), np.float32)
        expected = snd.__dict__[name](x.copy(), *args)
        assert fnd.__dict__[name](x, *args, output=x) is x
        check_same(expected, x)


def test_integer_outputs_round_toward_zero_and_wrap_as_scipy(rng):
    # flat regions: Gaussian weights sum to 1 only to rounding, so 100 * sum lands on either side of 100
    x = np.full((8, 9), 100, np.uint8)
    x[3:5, 3:6] = 200
    for mode in MODES:
        against_scipy("gaussian_filter", x, 1.3, mode=mode)
        against_scipy("uniform_filter", x, 3, mode=mode)
    big = np.array([-1.5, 300.7, 1e20, np.nan, 2.5, -0.5, -300.2, 70000.9, 3e9, -3e9, np.inf, 256.0])
    for dtype in [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64, np.bool_]:
        against_scipy("correlate1d", big, [1.0], output=dtype, mode="nearest")
    # sobel of an unsigned image wraps negative differences as SciPy does
    against_scipy("sobel", rng.integers(0, 256, (9, 9)).astype(np.uint8), axis=0)


def test_views_and_byte_orders(rng):
    base = sample(rng, (20, 30), np.float64)
    for x in [base[::2, ::3], base[::-1], base.T, base[:, 5:17], base.astype(">f8"), base.astype(np.float32)[1:, ::-2]]:
        against_scipy("gaussian_filter", x, 1.2)
        against_scipy("uniform_filter", x, 4, mode="wrap")
        against_scipy("correlate", x, np.arange(6.0).reshape(2, 3), mode="mirror")


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2), ()])
def test_empty_and_0d(shape):
    x = np.ones(shape)
    names = [("gaussian_filter", (1.0,)), ("uniform_filter", (3,)), ("laplace", ()), ("gaussian_laplace", (1.0,)),
             ("gaussian_gradient_magnitude", (1.0,)), ("correlate", (np.ones((2,) * len(shape)),))]
    if shape:
        names += [("correlate1d", ([1.0, 2.0],)), ("convolve1d", ([1.0, 2.0, 3.0],)), ("sobel", ()), ("prewitt", ()),
                  ("uniform_filter1d", (2,)), ("gaussian_filter1d", (1.0,))]
    for name, args in names:
        for dtype in [np.float64, np.float32, np.int16, np.bool_]:
            against_scipy(name, x.astype(dtype), *args)


def test_0d_and_misaligned_weights():
    # a 0-d bool result holds the byte SciPy writes (2 here); misaligned weights are copied for the kernels
    against_scipy("correlate", np.array(True), np.array(2.0))
    raw = np.zeros(8 * 7 + 1, np.uint8)[1:].view(np.float64)
    raw[:] = np.arange(7.0)
    assert not raw.flags.aligned
    x = np.arange(60.0).reshape(6, 10)
    against_scipy("correlate1d", x, raw, axis=0)
    against_scipy("correlate", x, raw[:6].reshape(2, 3), mode="wrap")
    against_scipy("correlate", x, raw[:3].reshape(3, 1), mode="mirror")


def test_nan_stays_in_the_kernel_footprint(rng):
    x = rng.standard_normal((20, 20))
    x[7, 9] = np.nan
    x[12, 3] = np.inf
    for mode in ["reflect", "constant", "wrap"]:
        against_scipy("gaussian_filter", x, 1.0, mode=mode)
        against_scipy("correlate1d", x, [1.0, 0.0, 2.0], axis=0, mode=mode)
        # SciPy's N-D correlation skips weights within DBL_EPSILON of zero, and so reads no NaN there
        against_scipy("correlate", x, np.array([[0.0, 1.0, 0.0], [2.0, 1e-17, 1.0]]), mode=mode)
    # the box filter: only the outputs whose windows hold the NaN (SciPy's running sum spreads it
    # to the end of the line; see the module's docstring)
    got = fnd.uniform_filter1d(x, 3, axis=1)
    assert np.isnan(got[7]).sum() == 3 and np.isfinite(got[7, 11:]).all()


def test_per_axis_sequences(rng):
    x = sample(rng, (7, 8, 9), np.float64)
    against_scipy("gaussian_filter", x, [1.0, 0.0, 2.0], order=[0, 1, 2], mode=["wrap", "mirror", "constant"],
                  radius=[1, 3, 4], cval=2.0)
    against_scipy("gaussian_filter", x, [1.0, 2.0], axes=(2, 0), mode=["nearest", "reflect"], order=[1, 0])
    against_scipy("uniform_filter", x, [3, 1, 4], origin=[-1, 0, 1], mode=["wrap", "reflect", "constant"], cval=3.0)
    against_scipy("uniform_filter", x, [2, 5], axes=(-1, 0))
    against_scipy("sobel", x, axis=1, mode=["constant", "wrap", "nearest"], cval=1.0)
    against_scipy("laplace", x, mode=["constant", "wrap", "nearest"], cval=1.0, axes=None)
    against_scipy("laplace", x, axes=(0, 2), mode=["mirror", "wrap"])
    against_scipy("gaussian_laplace", x, [1.0, 2.0], axes=(1, 2))
    against_scipy("gaussian_gradient_magnitude", x, 1.5, axes=(0, 1), truncate=2.0)
    against_scipy("correlate", x, rng.standard_normal((3, 2)), axes=(2, 0), origin=(0, 1))


# ---- errors: SciPy's exception types ----------------------------------------------------------

_X = np.ones((4, 5))
ERROR_CASES = [
    ("correlate1d", (_X, [1, 2]), {"cval": 1j}),
    ("correlate1d", (_X, [1, 2]), {"cval": "1"}),
    ("correlate1d", (_X, [1, 2]), {"cval": None}),
    ("correlate1d", (_X, [1, 2]), {"origin": 0.0}),
    ("correlate1d", (_X, [1, 2]), {"origin": 1}),
    ("correlate1d", (_X, [1, 2, 3]), {"origin": -2}),
    ("correlate1d", (_X, [1, 2]), {"axis": 2}),
    ("correlate1d", (_X, [1, 2]), {"axis": 1.0}),
    ("correlate1d", (_X, [[1, 2]]), {}),
    ("correlate1d", (_X, []), {}),
    ("correlate1d", (_X, ["a"]), {}),
    ("correlate1d", (_X, [1]), {"mode": "foo"}),
    ("correlate1d", (_X, [1]), {"mode": ["reflect", "reflect"]}),
    ("correlate1d", (np.float64(3), [1, 2]), {}),
    ("correlate1d", (_X, [1, 2]), {"output": np.complex64}),
    ("correlate1d", (_X, [1, 2]), {"output": np.ones((3, 3))}),
    ("sobel", (np.float64(3),), {}),
    ("sobel", (_X,), {"mode": ["reflect"]}),
    ("sobel", (_X.astype(np.float16),), {}),
    ("sobel", (_X + 1j,), {"output": np.float64}),
    ("gaussian_filter", (_X, [1, 2, 3]), {}),
    ("gaussian_filter", (_X, "a"), {}),
    ("gaussian_filter", (_X, 1), {"order": -1}),
    ("gaussian_filter", (_X, 1), {"order": 1.0}),
    ("gaussian_filter", (_X, 1), {"radius": -1}),
    ("gaussian_filter", (_X, 1), {"radius": 2.0}),
    ("gaussian_filter", (_X, 1), {"axes": (0, 0)}),
    ("gaussian_filter", (_X, 1), {"axes": (0, 2)}),
    ("gaussian_filter", (_X, 1), {"axes": 5}),
    ("gaussian_filter", (_X, 1), {"axes": 1.5}),
    ("gaussian_filter", (_X, 1), {"output": "U"}),
    ("gaussian_filter", (_X, 1), {"output": np.float16}),
    ("gaussian_filter", (_X.astype(np.float16), 1), {}),
    ("gaussian_filter", (_X.astype(object), 1), {}),
    ("gaussian_filter", (_X + 1j, 1), {"output": np.float64}),
    ("gaussian_filter", (_X, 1), {"mode": ["reflect", "bad"]}),
    ("gaussian_filter1d", (_X, 0), {}),
    ("uniform_filter1d", (_X, 0), {}),
    ("uniform_filter1d", (_X, 2.5), {}),
    ("uniform_filter1d", (_X, 3), {"origin": 2}),
    ("uniform_filter", (_X, 3), {"origin": [1, -2]}),
    ("uniform_filter", (_X, [2, 3, 4]), {}),
    ("uniform_filter", (_X + 1j, 3), {"output": np.ones((4, 5))}),
    ("uniform_filter", (np.array(["a", "b"]), 3), {}),
    ("correlate", (_X, [1, 2]), {}),
    ("correlate", (_X, np.ones((2, 2))), {"mode": ["reflect", "wrap"]}),
    ("correlate", (_X, np.ones((3, 3))), {"origin": (1, 2)}),
    ("correlate", (_X, np.ones((3, 3))), {"origin": (1, 1, 1)}),
    ("correlate", (_X, np.ones((0, 3))), {}),
    ("correlate", (_X, np.ones((2, 2, 2))), {}),
    ("correlate", (_X, np.ones((2, 2)) + 1j), {"cval": 1j}),
    ("correlate", (_X, [1, 2]), {"axes": (0, 1)}),
    ("convolve", (_X, np.ones((2, 2))), {"origin": (-2, 0)}),
    ("laplace", (_X,), {"mode": ["reflect", "foo"]}),
    ("laplace", (_X,), {"axes": (0, 1, 2)}),
    ("gaussian_laplace", (_X, 1.0), {"foo": 1}),
    ("gaussian_laplace", (_X, [1.0, 2.0, 3.0]), {}),
    ("gaussian_gradient_magnitude", (_X, [1.0]), {"axes": (0,)}),
    ("generic_gradient_magnitude", (_X, None), {}),
    ("generic_gradient_magnitude", (_X, Own("sobel")), {"mode": ["reflect"]}),
    ("generic_gradient_magnitude", (_X, Own("sobel")), {"axes": (0, 0)}),
]


@pytest.mark.parametrize("case", range(len(ERROR_CASES)), ids=lambda i: f"{ERROR_CASES[i][0]}-{i}")
def test_errors_as_scipy(case):
    name, args, kwargs = ERROR_CASES[case]
    with pytest.raises(Exception) as expected:
        call(snd, name, *args, **kwargs)
    with pytest.raises(expected.type):
        call(fnd, name, *args, **kwargs)


def test_warnings_as_scipy():
    with pytest.warns(UserWarning, match="promoting specified output dtype to complex"):
        assert fnd.uniform_filter(_X + 1j, 3, output=np.float32).dtype == np.complex64
    with pytest.warns(np.exceptions.ComplexWarning):
        fnd.correlate1d(_X, [1, 2], cval=np.complex128(1))


# ---- random shapes, axes and modes ----------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(data=st.data(), ndim=st.integers(1, 3), dtype=st.sampled_from([np.float64, np.float32, np.int16]),
       name=st.sampled_from(["gaussian_filter", "uniform_filter", "correlate1d", "sobel", "correlate"]))
def test_random_shapes_axes_modes(data, ndim, dtype, name):
    shape = tuple(data.draw(st.lists(st.integers(1, 12), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = sample(rng, shape, dtype)
    mode = data.draw(st.sampled_from(MODES))
    axis = data.draw(st.integers(-ndim, ndim - 1))
    if name == "gaussian_filter":
        against_scipy(name, x, data.draw(st.floats(0.3, 4.0)), order=data.draw(st.integers(0, 3)), mode=mode,
                      axes=(axis,) if data.draw(st.booleans()) else None, cval=1.5)
    elif name == "uniform_filter":
        size = data.draw(st.integers(1, 9))
        against_scipy(name, x, size, mode=mode, origin=data.draw(st.integers(-(size // 2), (size - 1) // 2)))
    elif name == "correlate1d":
        K = data.draw(st.integers(1, 20))
        against_scipy(name, x, rng.standard_normal(K), axis=axis, mode=mode, cval=-1.0,
                      origin=data.draw(st.integers(-(K // 2), (K - 1) // 2)))
    elif name == "sobel":
        against_scipy(name, x, axis=axis, mode=mode)
    else:
        w = rng.standard_normal(tuple(data.draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim))))
        against_scipy(name, x, w, mode=mode, cval=0.5)


def test_generic_gradient_magnitude_with_a_user_derivative(rng):
    """A derivative of the user's, with extra_arguments and extra_keywords, as SciPy calls it."""
    def derivative(module):
        def d(input, axis, output, mode, cval, weights, origin=0):
            return module.correlate1d(input, weights, axis, output, mode, cval, origin)
        return d

    for dtype in (np.float32, np.float64, np.int16):
        x = sample(rng, (7, 9, 5), dtype)
        kw = dict(extra_arguments=([1.0, -3.0, 2.0],), extra_keywords={"origin": 1}, mode="nearest", axes=(0, 2))
        check_same(snd.generic_gradient_magnitude(x, derivative(snd), **kw),
                   fnd.generic_gradient_magnitude(x, derivative(fnd), **kw), scale=float(np.abs(x).max()))
