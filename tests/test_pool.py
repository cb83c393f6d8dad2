"""Pooling against float64 references (and PyTorch when installed)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastconv
import reference as ref

DTYPES = [np.float32, np.float64]


def tol(dtype, k):
    return (k + 2) * np.finfo(dtype).eps


def as2(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def check_max(x, k, s, p, d, ceil_mode, rng):
    k2, s2, p2, d2 = as2(k), as2(k if s is None else s), as2(p), as2(d)
    y, idx = fastconv.max_pool2d(x, k, s, p, ceil_mode, True, dilation=d)
    ey, ei = ref.max_pool(x, k2, s2, p2, d2, ceil_mode)
    assert y.dtype == x.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ey.astype(x.dtype))  # a max is exact
    np.testing.assert_array_equal(idx, ei)
    np.testing.assert_array_equal(fastconv.max_pool2d(x, k, s, p, ceil_mode, dilation=d), y)
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    dx = fastconv.max_pool2d_backward(gy, idx, x.shape)
    edx = ref.max_pool_backward(gy, idx, x.shape)
    bound = ref.max_pool_backward(np.abs(gy), idx, x.shape)  # overlapping windows sum into one input
    assert np.all(np.abs(dx - edx) <= tol(x.dtype, k2[0] * k2[1]) * bound + 1e-300)


def check_avg(x, k, s, p, ceil_mode, include, rng):
    k2, s2, p2 = as2(k), as2(k if s is None else s), as2(p)
    y = fastconv.avg_pool2d(x, k, s, p, include, ceil_mode=ceil_mode)
    ey = ref.avg_pool(x, k2, s2, p2, ceil_mode, include)
    bound = ref.avg_pool(np.abs(x), k2, s2, p2, ceil_mode, include)
    assert y.dtype == x.dtype
    assert np.all(np.abs(y - ey) <= tol(x.dtype, k2[0] * k2[1]) * bound + 1e-300)
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    dx = fastconv.avg_pool2d_backward(gy, x.shape, k, s, p, include, ceil_mode=ceil_mode)
    edx = ref.avg_pool_backward(gy, x.shape, k2, s2, p2, ceil_mode, include)
    bdx = ref.avg_pool_backward(np.abs(gy), x.shape, k2, s2, p2, ceil_mode, include)
    assert np.all(np.abs(dx - edx) <= tol(x.dtype, 16) * bdx + 1e-300)


CASES = [
    # (H, W, kernel, stride, padding, dilation, ceil_mode)
    (8, 9, 2, None, 0, 1, False),         # P1 shape of window
    (5, 70, 2, 2, 0, 1, False),           # 2x2 path: rows of several vectors and a tail
    (4, 4, 2, 2, 0, 1, False),            # 2x2 path: rows shorter than a vector
    (9, 11, 3, 2, 1, 1, False),           # P2
    (9, 11, 3, 2, 1, 1, True),
    (5, 5, 2, 2, 0, 1, True),             # ceil adds a clipped window
    (7, 40, 3, 1, 1, 1, False),           # overlapping, wide rows
    (10, 13, (3, 2), (2, 3), (1, 1), 1, True),
    (9, 10, 2, 3, 1, 2, True),            # dilation
    (12, 12, (9, 8), 1, (4, 3), 1, False),  # 72 taps: more than one slice of taps
    (3, 70, (1, 5), (1, 3), (0, 2), 1, False),
    (6, 6, 6, 1, 0, 1, False),            # one window covers the plane
    (4, 7, 1, 1, 0, 1, False),            # identity
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_max_pool2d(case, dtype, rng):
    H, W, k, s, p, d, c = case
    check_max(rng.standard_normal((2, 3, H, W)).astype(dtype), k, s, p, d, c, rng)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CASES if c[5] == 1], ids=str)
def test_avg_pool2d(case, dtype, include, rng):
    H, W, k, s, p, _, c = case
    check_avg(rng.standard_normal((2, 3, H, W)).astype(dtype), k, s, p, c, include, rng)


def test_every_simd_level(simd_level, rng):
    for H, W, k, s, p, d, c in CASES[:8]:
        for dtype in DTYPES:
            x = rng.standard_normal((2, 2, H, W)).astype(dtype)
            check_max(x, k, s, p, d, c, rng)
            if d == 1:
                check_avg(x, k, s, p, c, True, rng)


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = tuple(draw(st.integers(0, (dd * (kk - 1) + 1) // 2)) for kk, dd in zip(k, d))
    size = tuple(draw(st.integers(max(1, dd * (kk - 1) + 1 - 2 * pp), 40)) for kk, dd, pp in zip(k, d, p))
    return size, k, s, p, d, draw(st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(["c", "strided", "reversed"]),
       include=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_pool_property(case, dtype, layout, include, seed):
    size, k, s, p, d, c = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2) + size).astype(dtype)
    if layout == "strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype)
        big[..., ::2] = x
        x = big[..., ::2]
    elif layout == "reversed":
        x = np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    check_max(x, k, s, p, d, c, rng)
    if d == (1, 1):
        check_avg(x, k, s, p, c, include, rng)


def test_1d_twins_match_2d(rng):
    x = rng.standard_normal((3, 4, 37))
    y, i = fastconv.max_pool1d(x, 3, 2, 1, True, True)
    y2, i2 = fastconv.max_pool2d(x[:, :, None], (1, 3), (1, 2), (0, 1), True, True)
    np.testing.assert_array_equal(y, y2[:, :, 0])
    np.testing.assert_array_equal(i, i2[:, :, 0])
    gy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(fastconv.max_pool1d_backward(gy, i, x.shape),
                                  fastconv.max_pool2d_backward(gy[:, :, None], i2, x[:, :, None].shape)[:, :, 0])
    a = fastconv.avg_pool1d(x, 4, 3, 2, False, ceil_mode=True)
    np.testing.assert_allclose(a, fastconv.avg_pool2d(x[:, :, None], (1, 4), (1, 3), (0, 2), False,
                                                      ceil_mode=True)[:, :, 0])
    gy = rng.standard_normal(a.shape)
    np.testing.assert_allclose(fastconv.avg_pool1d_backward(gy, x.shape, 4, 3, 2, False, ceil_mode=True),
                               ref.avg_pool_backward(gy[:, :, None], x[:, :, None].shape, (1, 4), (1, 3),
                                                     (0, 2), True, False)[:, :, 0], rtol=1e-12)


def test_unbatched_and_stride_default(rng):
    x = rng.standard_normal((3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(fastconv.max_pool2d(x, 2), fastconv.max_pool2d(x[None], 2, 2)[0])
    np.testing.assert_array_equal(fastconv.avg_pool2d(x, 2), fastconv.avg_pool2d(x[None], 2, 2)[0])


def test_ties_pick_the_first_maximum():
    x = np.ones((1, 1, 4, 4), np.float32)
    _, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx[0, 0], [[0, 2], [8, 10]])
    x = np.full((1, 1, 3, 3), -np.inf)
    y, idx = fastconv.max_pool2d(x, 2, 1, 1, return_indices=True)  # windows of -inf and padding
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1, 2], [0, 0, 1, 2], [3, 3, 4, 5], [6, 6, 7, 8]])


def test_nan_and_inf():
    x = np.array([[[[1, np.nan, 3, np.nan], [5, 5, np.inf, 1]]]], np.float32)
    y, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(y).all()
    np.testing.assert_array_equal(idx, [[[[1, 3]]]])       # the last NaN of each window, as torch
    x = np.array([[[[np.nan, 1], [np.nan, 2]]]])
    _, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    assert idx.item() == 2
    np.testing.assert_array_equal(fastconv.max_pool2d(np.array([[[[1.0, np.inf]]]]), (1, 2)), [[[[np.inf]]]])
    a = fastconv.avg_pool2d(np.array([[[[1.0, np.nan, 2.0, 3.0]]]]), (1, 2))
    assert np.isnan(a[0, 0, 0, 0]) and a[0, 0, 0, 1] == 2.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_2x2_windows_with_nan_and_ties(dtype, rng):
    """The 2x2 stride-2 path keeps the general paths' order: first of tied
    maxima, last NaN, over rows of one to several vectors."""
    for H, W in [(4, 4), (6, 9), (5, 70)]:
        x = rng.integers(0, 3, (2, 3, H, W)).astype(dtype)  # many ties
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.05] = -np.inf
        check_max(x, 2, 2, 0, 1, False, rng)


def test_window_without_input_elements():
    x = np.array([[[[1.0], [2.0]]]])
    y, idx = fastconv.max_pool2d(x, (2, 1), (1, 1), (1, 0), return_indices=True, dilation=(3, 1))
    assert y.item() == -np.inf and idx.item() == -1
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(np.ones((1, 1, 1, 1)), idx, x.shape), 0)


def test_overlapping_windows_and_repeated_indices_add_up():
    gy = np.ones((1, 2, 2, 2))
    idx = np.zeros((1, 2, 2, 2), np.int64)  # every output points at element 0
    dx = fastconv.max_pool2d_backward(gy, idx, (1, 2, 3, 3))
    assert dx[0, 0, 0, 0] == 4 and dx[0, 1, 0, 0] == 4 and dx.sum() == 8


def test_global_avg_pool(rng):
    x = rng.standard_normal((3, 5, 7, 9)).astype(np.float32)
    y = fastconv.global_avg_pool2d(x)
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(2, 3)), rtol=1e-6, atol=1e-7)
    assert fastconv.global_avg_pool2d(x, keepdims=True).shape == (3, 5, 1, 1)
    gy = rng.standard_normal((3, 5)).astype(np.float32)
    dx = fastconv.global_avg_pool2d_backward(gy, x.shape)
    np.testing.assert_allclose(dx, np.broadcast_to(gy[:, :, None, None] / 63, x.shape), rtol=1e-6)
    np.testing.assert_array_equal(fastconv.global_avg_pool2d_backward(gy[:, :, None, None], x.shape), dx)
    # finite differences: the mean is linear
    h, u = 1e-3, rng.standard_normal(x.shape)
    x64 = x.astype(np.float64)
    fd = (np.sum(fastconv.global_avg_pool2d(x64 + h * u) * gy) - np.sum(fastconv.global_avg_pool2d(x64 - h * u) * gy)) / (2 * h)
    assert np.isclose(fd, np.sum(fastconv.global_avg_pool2d_backward(gy.astype(np.float64), x.shape) * u))


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avg_pool_every_simd_level(simd_level, dtype, rng):
    """Planes are reduced a vector's lanes' worth at a time: every count of planes (partial
    groups included) and plane sizes below, at and past a vector, against float64; a plane's
    mean is the same bits wherever it sits in its group, and with a team or one thread."""
    for planes in (1, 2, 3, 5, 8, 15, 16, 17, 33):
        for hw in ((1, 1), (1, 3), (2, 4), (7, 7), (5, 13), (17, 17)):
            x = rng.standard_normal((planes,) + hw).astype(dtype) + 3
            y = fastconv.global_avg_pool2d(x)
            np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(1, 2)), rtol=4 * np.finfo(dtype).eps)
            if planes > 1:
                np.testing.assert_array_equal(fastconv.global_avg_pool2d(x[1:]), y[1:])
    x = rng.standard_normal((4, 1024, 17, 17)).astype(dtype)  # past the team's 512 KiB
    with fastconv.threads(2):
        y2 = fastconv.global_avg_pool2d(x)
    with fastconv.threads(1):
        np.testing.assert_array_equal(fastconv.global_avg_pool2d(x), y2)


def test_gradients_by_finite_differences(rng):
    x = rng.standard_normal((2, 2, 9, 10))
    gy_shape = fastconv.avg_pool2d(x, 3, 2, 1, ceil_mode=True).shape
    gy = rng.standard_normal(gy_shape)
    u, h = rng.standard_normal(x.shape), 1e-4
    f = lambda xx: np.sum(fastconv.avg_pool2d(xx, 3, 2, 1, ceil_mode=True) * gy)
    fd = (f(x + h * u) - f(x - h * u)) / (2 * h)
    assert np.isclose(fd, np.sum(fastconv.avg_pool2d_backward(gy, x.shape, 3, 2, 1, ceil_mode=True) * u))
    # max pooling is piecewise linear: tiny steps keep the argmax
    y, idx = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    gy = rng.standard_normal(y.shape)
    g = lambda xx: np.sum(fastconv.max_pool2d(xx, 3, 2, 1) * gy)
    fd = (g(x + 1e-7 * u) - g(x - 1e-7 * u)) / 2e-7
    assert np.isclose(fd, np.sum(fastconv.max_pool2d_backward(gy, idx, x.shape) * u), rtol=1e-6)


def test_thread_count_does_not_change_results(rng):
    x = rng.standard_normal((4, 6, 30, 31)).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        with fastconv.threads(n):
            y, i = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True)
            a = fastconv.avg_pool2d(x, 3, 2, 1)
            outs.append((y, i, a, fastconv.avg_pool2d_backward(a, x.shape, 3, 2, 1),
                         fastconv.max_pool2d_backward(y, i, x.shape)))
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(a, b)


def test_out_arguments(rng):
    x = rng.standard_normal((2, 3, 10, 10))
    y, i = fastconv.max_pool2d(x, 2, return_indices=True)
    yo, io = np.empty_like(y), np.empty_like(i)
    r = fastconv.max_pool2d(x, 2, return_indices=True, out=(yo, io))
    assert r[0] is yo and r[1] is io
    np.testing.assert_array_equal(yo, y)
    np.testing.assert_array_equal(io, i)
    dx = np.full_like(x, 9.0)
    fastconv.max_pool2d_backward(y, i, x.shape, out=dx)  # overwrites, does not add
    np.testing.assert_array_equal(dx, fastconv.max_pool2d_backward(y, i, x.shape))


def test_matches_torch_when_installed(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 17, 19)).astype(np.float32)
    x[0, 1, 3, 4] = np.nan
    tx = torch.from_numpy(x).requires_grad_()
    for k, s, p, d, c in [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), ((2, 4), (1, 3), (1, 2), 1, True)]:
        y, i = fastconv.max_pool2d(x, k, s, p, c, True, dilation=d)
        ty, ti = F.max_pool2d(tx, k, s, p, d, c, True)
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(i, ti.numpy())
        gy = rng.standard_normal(y.shape).astype(np.float32)
        g, = torch.autograd.grad(ty, tx, torch.from_numpy(gy))
        np.testing.assert_allclose(fastconv.max_pool2d_backward(gy, i, x.shape), g.numpy(), rtol=1e-6)
        if d == 1:
            for inc in (True, False):
                a = fastconv.avg_pool2d(x, k, s, p, inc, ceil_mode=c)
                ta = F.avg_pool2d(tx, k, s, p, c, inc)
                np.testing.assert_allclose(a, ta.detach().numpy(), rtol=1e-5, atol=1e-6)
                ga = rng.standard_normal(a.shape).astype(np.float32)
                g, = torch.autograd.grad(ta, tx, torch.from_numpy(ga))
                np.testing.assert_allclose(fastconv.avg_pool2d_backward(ga, x.shape, k, s, p, inc, ceil_mode=c),
                                           g.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4), np.int64), 2), TypeError, "x must have dtype float32 or float64"),
    (lambda: fastconv.max_pool2d(np.zeros((4, 4)), 2), ValueError, r"x must be 3 or 4-D"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 0, 4)), 2), ValueError, "x must not be empty"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2), ValueError, "padding must be at most half"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4)), 0), ValueError, "kernel_size must be >= 1"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4)), 5), ValueError, "does not fit the input"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4)), 2, ceil_mode=1), TypeError, "ceil_mode must be a bool"),
    (lambda: fastconv.max_pool2d(np.zeros((1, 1, 4, 4)), 2, return_indices=True, out=np.zeros((1, 1, 2, 2))), TypeError, "out must be a pair"),
    (lambda: fastconv.avg_pool2d(np.zeros((1, 1, 4, 4)), 3, padding=2), ValueError, "padding must be at most half"),
    (lambda: fastconv.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, count_include_pad="yes"), TypeError, "count_include_pad must be a bool"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), (1, 1, 4, 4)), TypeError, "indices must have dtype int64"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64), (1, 1, 4, 4)), ValueError, "indices must have grad_out's shape"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16, np.int64), (1, 1, 4, 4)), ValueError, r"indices must lie in \[0, 16\)"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), -2, np.int64), (1, 1, 4, 4)), ValueError, "indices must lie in"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), (2, 1, 4, 4)), ValueError, "must agree on the leading"),
    (lambda: fastconv.avg_pool2d_backward(np.zeros((1, 1, 3, 2)), (1, 1, 4, 4), 2), ValueError, r"grad_out must have the pooling's output shape \(1, 1, 2, 2\)"),
    (lambda: fastconv.global_avg_pool2d_backward(np.zeros((2, 3)), (2, 4, 5, 5)), ValueError, "grad_out must have shape"),
    (lambda: fastconv.max_pool1d(np.zeros((1, 1, 4, 4)), 2), ValueError, r"x must be 2 or 3-D"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
