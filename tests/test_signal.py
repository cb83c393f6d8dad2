"""fastconv.convolve / correlate / oaconvolve / choose_conv_method against
scipy.signal: N-D shapes, modes, methods, dtypes (integer, bool, complex)
and the errors scipy raises."""
import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv

DTYPES = ["complex64", "complex128", "float32", "float64", "int16", "int64", "uint8", "bool"]


def _operand(rng, shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    if dt.kind in "iu":
        return rng.integers(0 if dt.kind == "u" else -4, 4, shape).astype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    return rng.standard_normal(shape).astype(dt)


def _scipy(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(ss, fn)(*args, **kw)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), nd=st.integers(1, 3), dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
       mode=st.sampled_from(["full", "same", "valid"]), method=st.sampled_from(["auto", "direct", "fft"]),
       fn=st.sampled_from(["convolve", "correlate"]), seed=st.integers(0, 2**16))
def test_matches_scipy(data, nd, dtypes, mode, method, fn, seed):
    s1 = tuple(data.draw(st.lists(st.integers(1, 6), min_size=nd, max_size=nd)))
    s2 = tuple(data.draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd)))
    if dtypes == ("bool", "bool") and method != "direct":
        # scipy leaves a bool FFT result unrounded, so its rounding residue reads True; fastconv rounds
        method = "direct"
    rng = np.random.default_rng(seed)
    a, b = _operand(rng, s1, dtypes[0]), _operand(rng, s2, dtypes[1])
    try:
        expected = _scipy(fn, a, b, mode, method=method)
    except ValueError:
        with pytest.raises(ValueError):
            getattr(fastconv, fn)(a, b, mode, method=method)
        return
    got = getattr(fastconv, fn)(a, b, mode, method=method)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype.kind in "iub":
        np.testing.assert_array_equal(got, expected)  # exact, as scipy's
    else:
        tol = 1e-4 if {"complex64", "float32"} & set(dtypes) else 1e-10
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_zero_d_and_errors():
    assert fastconv.convolve(np.array(2.0), np.array(3.0)) == 6.0
    assert fastconv.correlate(np.array(2.0), np.array(1 + 1j)) == 2 - 2j  # in2 conjugated
    with pytest.raises(ValueError, match="same number of dimensions"):
        fastconv.convolve(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="must not be empty"):
        fastconv.correlate(np.ones((0, 3)), np.ones((2, 2)))
    # scipy's one result for an empty operand: 'same' of an empty in1 by the direct sums
    for fn in (fastconv.convolve, fastconv.correlate):
        for method in ("auto", "direct"):
            got = fn(np.ones((0, 3), np.float32), np.ones((2, 2)), "same", method)
            assert got.shape == (0, 3) and got.dtype == np.float64
        with pytest.raises(ValueError, match="must not be empty"):
            fn(np.ones(0), np.ones(3), "same", "fft")
    with pytest.raises(ValueError, match="mode must be"):
        fastconv.convolve(np.ones(3), np.ones(2), mode="reflect")
    with pytest.raises(ValueError, match="method must be"):
        fastconv.convolve(np.ones(3), np.ones(2), method="winograd")
    with pytest.raises(ValueError, match="'valid' mode"):
        fastconv.convolve(np.ones((5, 3)), np.ones((3, 5)), mode="valid")
    with pytest.raises(TypeError, match="in1 must have"):
        fastconv.convolve(np.ones(3, np.float16), np.ones(2))
    with pytest.raises(ValueError, match="bool"):  # scipy too has no direct sum of two bool images
        fastconv.correlate(np.ones((3, 3), bool), np.ones((2, 2), bool), method="direct")


def test_volume_integers_are_exact(rng):
    vol = rng.integers(-1000, 1000, (9, 12, 10))
    k = rng.integers(-50, 50, (3, 4, 2))
    for mode in ("full", "same", "valid"):
        np.testing.assert_array_equal(fastconv.convolve(vol, k, mode), _scipy("convolve", vol, k, mode, method="direct"))
        np.testing.assert_array_equal(fastconv.correlate(vol, k, mode), _scipy("correlate", vol, k, mode,
                                                                            method="direct"))


def test_non_finite_stays_in_its_footprint(rng):
    x = rng.standard_normal((20, 20))
    x[5, 5] = np.nan
    got = fastconv.convolve(x, np.ones((3, 3)), "same")  # auto: direct for non-finite input
    assert np.isnan(got).sum() == 9
    np.testing.assert_allclose(got, _scipy("convolve", x, np.ones((3, 3)), "same", method="direct"),
                               equal_nan=True)


def test_choose_conv_method():
    assert fastconv.choose_conv_method(np.ones(100000), np.ones(1000)) == "fft"
    assert fastconv.choose_conv_method(np.ones((64, 64)), np.ones((3, 3))) == "direct"
    assert fastconv.choose_conv_method(np.ones((512, 512)), np.ones((31, 31))) == "fft"
    assert fastconv.choose_conv_method(np.ones(100000, np.int64), np.ones(1000, np.int64)) == "direct"  # exact
    method, times = fastconv.choose_conv_method(np.ones((16, 16)), np.ones((3, 3)), measure=True)
    assert method in ("direct", "fft") and set(times) == {"direct", "fft"} and min(times.values()) > 0


def test_oaconvolve_matches_scipy(rng):
    a, b = rng.standard_normal((3, 5000)), rng.standard_normal((1, 300))
    for mode in ("full", "same", "valid"):
        np.testing.assert_allclose(fastconv.oaconvolve(a, b, mode, axes=-1), ss.oaconvolve(a, b, mode, axes=-1),
                                   rtol=1e-9, atol=1e-9)
