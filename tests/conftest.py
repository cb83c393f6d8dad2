import zlib

import numpy as np
import pytest

from fastconv._cpu import filter_model
from fastconv._ext import _fastconv as _core

# Every SIMD level this CPU can run, so one machine tests every kernel variant.
_ORDER = ["generic", "avx2", "avx512"]
SIMD_LEVELS = _ORDER[: _ORDER.index(_core.simd_detected()) + 1]


@pytest.fixture(params=SIMD_LEVELS)
def simd_level(request):
    used = _core.simd_set(request.param)
    assert used == request.param
    yield used
    _core.simd_set("best")


@pytest.fixture(scope="session", autouse=True)
def _filter_cost_cache(tmp_path_factory):
    """The filtering cost model's cache file goes to a temporary directory:
    the suite neither reads a cache measured before nor leaves one behind."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTCONV_CACHE_DIR", str(tmp_path_factory.mktemp("fastconv-cache")))
        yield


@pytest.fixture(autouse=True)
def fixed_filter_cost_model(monkeypatch):
    """The filtering functions' "auto" decides by fixed constants (the
    built-in AVX-512 defaults for 2 threads), not by timing this machine,
    which a busy machine makes random: what a test expects "auto" to choose
    holds everywhere.  Tests of the calibration replace this model."""
    model = dict(filter_model._defaults("avx512", 2), pinned=True, source="pinned")
    monkeypatch.setattr(filter_model, "_model", model)
    return model


@pytest.fixture
def rng(request):
    # a stable seed per test, so failures reproduce (crc32: Python's hash() of a str changes from
    # process to process, which made the seeds, and tests with accuracy thresholds, vary)
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def assert_close(actual, expected, bound, n_terms, dtype, normwise=False):
    """|actual - expected| <= (n_terms + 2) * eps(dtype) * bound elementwise, where
    bound is the reference computed on absolute values (the size of the terms
    summed).  A missing or wrong term breaks this by orders of magnitude.

    normwise: for FFT methods, whose rounding error spreads over the whole
    output (an output whose terms are all zero still gets the rounding of
    the others), the bound is the largest one, or normwise if that is a
    larger number (e.g. ||x|| ||w||), times 4 log2(output size)."""
    actual = np.asarray(actual)
    if normwise is not False:
        scale = bound.max() if normwise is True else max(bound.max(), normwise)
        bound = np.full_like(bound, scale * 4 * np.log2(bound.size + 2))
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == dtype, (actual.dtype, dtype)
    eps = np.finfo(dtype).eps
    tol = (n_terms + 2) * eps * bound + np.finfo(dtype).tiny
    err = np.abs(actual.astype(np.float64) - expected)
    bad = err > tol
    if bad.any():
        i = np.unravel_index(np.argmax(err - tol), err.shape)
        raise AssertionError(f"{bad.sum()} of {err.size} elements off; worst at {i}: "
                             f"got {actual[i]}, expected {expected[i]}, tol {tol[i]:.3g}")


@pytest.fixture
def channels_first():
    """fastconv.nn's image layers made channels-first (PyTorch's layout), as
    the tests written against torch build them; the format in force is
    restored after."""
    from fastconv.nn import config

    saved = config.image_data_format()
    config.set_image_data_format("channels_first")
    yield
    config.set_image_data_format(saved)
