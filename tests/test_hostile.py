"""Hostile arguments (fuzzing findings): huge strides, paddings, dilations and
windows, denormals, misaligned arrays.  Each must give PyTorch's answer, or a
ValueError / TypeError / MemoryError that names the argument, quickly: never
a crash, a hang or a wrong answer.

Expected values are derived by hand from PyTorch's output-size rule,
floor((n + 2p - d(k - 1) - 1) / s) + 1 (pooling: torch's pooling_output_shape),
so the tests need no torch; where torch is installed, one test also checks
that a caller's flush-to-zero mode does not change pooling."""
import time

import numpy as np
import pytest

import fastconv
from fastconv._ext import _fastconv as _core
from fastconv._validation import contiguous

ALGOS = ["direct", "im2col", "fft", "auto"]
SECOND = 1.0  # each call: well under this (the findings ran for minutes, or crashed)


def timed(f, *args, **kwargs):
    if kwargs.get("algorithm") == "fft":
        f(*args, **kwargs)  # FFTW plans each new transform size once, measuring (up to a second or so)
    t0 = time.perf_counter()
    r = f(*args, **kwargs)
    dt = time.perf_counter() - t0
    assert dt < SECOND, f"{f.__name__} took {dt:.2f} s"
    return r


def misaligned(shape, dtype):
    """A C-contiguous array of `shape` and `dtype` one byte off alignment."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = np.zeros(n * dtype.itemsize + 1, np.uint8)
    a = buf[1:].view(dtype).reshape(shape)
    assert a.flags.c_contiguous and not a.flags.aligned
    return a


# ---- 2: column strides of 2**58 and more, stride with large padding ----------------------


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("stride", [2**58, 2**61, 2**62 - 1])
def test_huge_column_stride(simd_level, algo, stride):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.full((1, 1, 1, 1), 2, np.float32)
    # one output column (the windows at column 0): y = 2 x[..., :1]
    y = timed(fastconv.conv2d, x, w, stride=(1, stride), algorithm=algo)
    np.testing.assert_array_equal(y, 2 * x[..., :1])
    dy = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 4, 1)
    dx = timed(fastconv.conv2d_grad_input, x.shape, w, dy, stride=(1, stride), algorithm=algo)
    expected = np.zeros_like(x)
    expected[..., :1] = 2 * dy
    np.testing.assert_array_equal(dx, expected)
    dw = timed(fastconv.conv2d_grad_weight, x, w.shape, dy, stride=(1, stride), algorithm=algo)
    np.testing.assert_allclose(dw, [[[[np.dot(dy.ravel(), x[0, 0, :, 0])]]]], rtol=1e-6)


@pytest.mark.parametrize("algo", ALGOS)
def test_huge_stride_and_padding_gives_zero(simd_level, algo):
    # torch: floor((4 + 2 * 2**40 - 2 - 1) / 2**61) + 1 = 1 output, all taps in the padding
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    y = timed(fastconv.conv2d, x, w, stride=2**61, padding=2**40, algorithm=algo)
    np.testing.assert_array_equal(y, np.zeros((1, 1, 1, 1), np.float32))
    b = np.array([0.5], np.float32)
    y = timed(fastconv.conv2d, x, w, b, stride=2**61, padding=2**40, algorithm=algo)
    np.testing.assert_array_equal(y, np.full((1, 1, 1, 1), 0.5, np.float32))


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_stride_with_padding_several_outputs(simd_level, algo, dtype):
    # columns: (5 + 2 * 2**40 - 1) // 2**40 + 1 = 3 outputs at padded columns
    # 0, 2**40, 2**41, i.e. input columns -2**40, 0, 2**40: only the middle one reads x
    s = 2**40
    x = np.arange(2 * 3 * 2 * 5, dtype=dtype).reshape(2, 3, 2, 5)
    w = np.arange(1, 4 * 3 + 1, dtype=dtype).reshape(4, 3, 1, 1)
    y = timed(fastconv.conv2d, x, w, stride=(1, s), padding=(0, s), algorithm=algo)
    expected = np.zeros((2, 4, 2, 3), dtype)
    expected[..., 1] = np.einsum("kc,nch->nkh", w[:, :, 0, 0], x[..., 0])
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    dy = np.ones_like(expected)
    dx = timed(fastconv.conv2d_grad_input, x.shape, w, dy, stride=(1, s), padding=(0, s), algorithm=algo)
    edx = np.zeros_like(x)
    edx[..., 0] = w[:, :, 0, 0].sum(0)[None, :, None]
    np.testing.assert_allclose(dx, edx, rtol=1e-6)
    dw = timed(fastconv.conv2d_grad_weight, x, w.shape, dy, stride=(1, s), padding=(0, s), algorithm=algo)
    np.testing.assert_allclose(dw[:, :, 0, 0], np.broadcast_to(x[..., 0].sum((0, 2)), (4, 3)), rtol=1e-6)


@pytest.mark.parametrize("algo", ALGOS)
def test_huge_stride_1d(algo):
    x = np.arange(10, dtype=np.float64).reshape(1, 1, 10)
    w = np.ones((1, 1, 3))
    y = timed(fastconv.conv1d, x, w, stride=2**61, algorithm=algo)
    np.testing.assert_array_equal(y, [[[3.0]]])


def test_unrepresentable_geometry_names_the_argument():
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="padding .* too large"):
        fastconv.conv2d(x, w, padding=2**61)
    with pytest.raises(ValueError, match="dilation .* too large"):
        fastconv.conv2d(x, w, padding=2**60, dilation=2**61)
    with pytest.raises(ValueError, match="stride is too large"):
        fastconv.conv2d(x, w, stride=2**62)
    with pytest.raises(ValueError, match="padding .* too large"):
        fastconv.conv2d_grad_input((1, 1, 4, 4), w, np.ones((1, 1, 1, 1), np.float32), padding=(0, 2**61))
    with pytest.raises(ValueError, match="kernel_size .* too large"):
        fastconv.max_pool2d(x, (2, 2**61), dilation=(1, 4))
    with pytest.raises(ValueError, match="output"):
        # 2**40 + 1 rows and columns: far too many bytes
        fastconv.conv_transpose2d(np.ones((1, 1, 2, 2), np.float32), np.ones((1, 1, 1, 1), np.float32),
                                  stride=2**40)


def test_kernels_check_the_geometry_themselves():
    """The compiled layer rejects what the Python layer would (status FC_ERR_GEOM)."""
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    y = np.zeros((1, 1, 4, 4), np.float32)
    ok = (1, 1, 4, 4, 1, 1, 1, 4, 4, 1, 1, 1, 0, 0, 1, 1)
    _core.conv2d_forward(_core.ALGO_DIRECT, y, x, w, None, ok, 1)
    np.testing.assert_array_equal(y, x)
    bad = [  # the arrays' sizes match each: only the geometry is wrong
        ok[:10] + (1, 2**62) + ok[12:],                          # stride beyond 2**62
        ok[:10] + (1, 2) + ok[12:],                              # windows past the input
        ok[:12] + (0, 2**61) + ok[14:],                          # padded input beyond 2**62
        ok[:14] + (1, 2**62) + ok[16:],                          # dilation beyond 2**62
    ]
    for geom in bad:
        for algo in (_core.ALGO_DIRECT, _core.ALGO_IM2COL):
            with pytest.raises(ValueError, match="out of the kernels' range"):
                _core.conv2d_forward(algo, y, x, w, None, geom, 1)
            with pytest.raises(ValueError, match="out of the kernels' range"):
                _core.conv2d_backward_input(algo, y, x, w, geom, 1)
            with pytest.raises(ValueError, match="out of the kernels' range"):
                _core.conv2d_backward_weight(algo, w.copy(), x, x, geom, 1)
    pool_ok = (1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1)
    yp = np.zeros((1, 2, 2), np.float32)
    _core.max_pool2d_forward(yp, None, x, pool_ok, 1)
    for geom in [pool_ok[:5] + (2**62, 2) + pool_ok[7:],           # window beyond 2**62
                 pool_ok[:7] + (4,) + pool_ok[8:],                 # a window starting past the input
                 pool_ok[:9] + (2, 0) + pool_ok[11:]]:             # padding over half the window
        with pytest.raises(ValueError, match="out of the kernels' range"):
            _core.max_pool2d_forward(yp, None, x, geom, 1)
        with pytest.raises(ValueError, match="out of the kernels' range"):
            _core.avg_pool2d_forward(yp, x, geom, True, 1)


# ---- 3: pooling windows far larger than the input -------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_pool_window_ceil_mode(simd_level, dtype):
    x = np.ones((2, 2, 10), dtype)  # unbatched (C, H, W) for 2-D, (N, C, L) for 1-D
    k = 2**61
    # torch: floor((10 - (k - 1) - 1 + k - 1) / k) + 1 = 1 window, clipped to the input
    np.testing.assert_array_equal(timed(fastconv.avg_pool2d, x, k, ceil_mode=True), np.ones((2, 1, 1), dtype))
    np.testing.assert_array_equal(timed(fastconv.max_pool2d, x, k, ceil_mode=True), np.ones((2, 1, 1), dtype))
    np.testing.assert_array_equal(timed(fastconv.max_pool1d, x, k, ceil_mode=True), np.ones((2, 2, 1), dtype))
    np.testing.assert_array_equal(timed(fastconv.avg_pool1d, x, k, ceil_mode=True), np.ones((2, 2, 1), dtype))
    np.testing.assert_array_equal(timed(fastconv.max_pool1d, x[0], k, ceil_mode=True), np.ones((2, 1), dtype))


@pytest.mark.parametrize("k", [3 * 10**4, 10**6, 2**31, 2**40])
def test_pool_work_bounded_by_the_input(simd_level, k):
    x = np.arange(20, dtype=np.float32).reshape(1, 1, 2, 10)
    y, i = timed(fastconv.max_pool2d, x, k, ceil_mode=True, return_indices=True)
    assert y.shape == (1, 1, 1, 1) and y.item() == 19 and i.item() == 19
    # count_include_pad: the window clipped to the padded input (no padding): 2 x 10
    a = timed(fastconv.avg_pool2d, x, k, ceil_mode=True)
    np.testing.assert_allclose(a, [[[[9.5]]]], rtol=1e-6)
    dx = timed(fastconv.avg_pool2d_backward, np.ones((1, 1, 1, 1), np.float32), x.shape, k, ceil_mode=True)
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 20, np.float32), rtol=1e-6)
    dx = timed(fastconv.max_pool2d_backward, np.ones((1, 1, 1, 1), np.float32), i, x.shape)
    assert dx.sum() == 1 and dx[0, 0, 1, 9] == 1


def test_huge_pool_window_with_padding_and_dilation(simd_level):
    # kernel 2**31, padding 2**30 (at most half the window): the windows start at
    # -2**30 and reach the whole row; stride 1 gives 10 + 2 * 2**30 - 2**31 + 1 = 11 windows,
    # each of which covers the input from its start on
    x = np.arange(10, dtype=np.float64)[None, None]
    k, p = 2**31, 2**30
    y, i = timed(fastconv.max_pool1d, x, k, 1, p, return_indices=True)
    assert y.shape == (1, 1, 11)
    np.testing.assert_array_equal(y[0, 0], np.full(11, 9.0))
    np.testing.assert_array_equal(i[0, 0], np.full(11, 9))
    a = timed(fastconv.avg_pool1d, x, k, 1, p, count_include_pad=False)
    np.testing.assert_allclose(a[0, 0], np.full(11, 4.5))
    # dilation 2**20 with 3 taps and padding 2**20: output j reads j - 2**20, j, j + 2**20
    y = timed(fastconv.max_pool1d, x, 3, 1, 2**20, dilation=2**20)
    assert y.shape == (1, 1, 10)
    np.testing.assert_array_equal(y[0, 0], x[0, 0])


# ---- 4: denormals compare exactly -----------------------------------------------------------


@pytest.mark.parametrize("dtype,tiny", [(np.float32, 1e-40), (np.float64, 1e-310)])
def test_max_pool_denormals(simd_level, dtype, tiny):
    x = np.array([[[[1, 3], [2, 5]]]], dtype) * dtype(tiny)
    assert 0 < x.max() < np.finfo(dtype).tiny  # denormal
    y, i = fastconv.max_pool2d(x, 2, return_indices=True)
    assert y.item() == x.max() and i.item() == 3
    y, i = fastconv.max_pool1d(x[0, 0], 2, return_indices=True)
    np.testing.assert_array_equal(y, [[x[0, 0, 0, 1]], [x[0, 0, 1, 1]]])
    np.testing.assert_array_equal(i, [[1], [1]])


@pytest.mark.parametrize("dtype,tiny", [(np.float32, 1e-40), (np.float64, 1e-310)])
@pytest.mark.parametrize("shape,k,s,p", [((6, 70), 3, 2, 1), ((5, 5), 2, 2, 0), ((9, 9), 3, 1, 1),
                                         ((4, 40), 2, 2, 0), ((3, 7), (2, 3), (1, 2), (1, 1))])
def test_pooling_denormals_every_path(simd_level, rng, dtype, tiny, shape, k, s, p):
    x = (rng.integers(1, 1000, (2, 3) + shape) * tiny).astype(dtype)
    y, i = fastconv.max_pool2d(x, k, s, p, ceil_mode=True, return_indices=True)
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, i.reshape(2, 3, -1), 2).reshape(y.shape), y)
    # every window's maximum: compare with the same pooling of the values scaled to normal numbers
    big = x.astype(np.float64) / tiny
    yb, ib = fastconv.max_pool2d(big, k, s, p, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(i, ib)
    a = fastconv.avg_pool2d(x, k, s, p, ceil_mode=True)
    ab = fastconv.avg_pool2d(big, k, s, p, ceil_mode=True) * tiny
    assert (a > 0).all()  # not flushed to zero
    np.testing.assert_allclose(a, ab, rtol=1e-2)


@pytest.mark.parametrize("dtype,tiny", [(np.float32, 1e-40), (np.float64, 1e-310)])
def test_max_pool_denormals_under_flush_to_zero(dtype, tiny):
    """A caller's flush-to-zero / denormals-are-zero mode does not change the winner."""
    torch = pytest.importorskip("torch")
    x = np.array([[[[1, 3], [2, 5]]]], dtype) * dtype(tiny)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU has no flush-to-zero mode")
    try:
        y, i = fastconv.max_pool2d(x, 2, return_indices=True)
        y2, i2 = fastconv.max_pool2d(np.tile(x, (1, 1, 8, 40)), 2, 1, return_indices=True)
    finally:
        torch.set_flush_denormal(False)
    assert y.item() == x.max() and i.item() == 3
    assert y2.max() == x.max()


# ---- 5: misaligned arrays -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contiguous_aligns(dtype):
    a = misaligned((1, 1, 4, 4), dtype)
    a[...] = np.arange(16).reshape(a.shape)
    c = contiguous(a)
    assert c.flags.c_contiguous and c.flags.aligned
    np.testing.assert_array_equal(c, a)
    assert contiguous(c) is c


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algo", ["direct", "im2col", "fft"])
def test_misaligned_conv(simd_level, rng, dtype, algo):
    x = misaligned((2, 3, 6, 7), dtype)
    x[...] = rng.standard_normal(x.shape)
    w = misaligned((4, 3, 3, 3), dtype)
    w[...] = rng.standard_normal(w.shape)
    b = misaligned((4,), dtype)
    b[...] = rng.standard_normal(4)
    xa, wa, ba = x.copy(), w.copy(), b.copy()
    # (the FFT's plan of a size is re-made with FFTW_MEASURE at its third use, and what it measures
    # may pick other codelets, rounding differently: the compared calls all come after it)
    for _ in range(3):
        expected = fastconv.conv2d(xa, wa, ba, padding=1, algorithm=algo)
    np.testing.assert_array_equal(fastconv.conv2d(x, w, b, padding=1, algorithm=algo), expected)
    out = misaligned(expected.shape, dtype)
    r = fastconv.conv2d(x, w, b, padding=1, algorithm=algo, out=out)
    assert r is out
    np.testing.assert_array_equal(out, expected)
    dy = misaligned(expected.shape, dtype)
    dy[...] = rng.standard_normal(dy.shape)
    np.testing.assert_array_equal(fastconv.conv2d_grad_input(x.shape, w, dy, padding=1, algorithm=algo),
                                  fastconv.conv2d_grad_input(x.shape, wa, dy.copy(), padding=1, algorithm=algo))
    np.testing.assert_array_equal(fastconv.conv2d_grad_weight(x, w.shape, dy, padding=1, algorithm=algo),
                                  fastconv.conv2d_grad_weight(xa, w.shape, dy.copy(), padding=1, algorithm=algo))


def test_misaligned_issue_reproducer():
    x = np.zeros(65, np.uint8)[1:].view(np.float32).reshape(1, 1, 4, 4)
    y = fastconv.conv2d(x, np.ones((1, 1, 1, 1), np.float32))
    np.testing.assert_array_equal(y, np.zeros((1, 1, 4, 4), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_pooling(simd_level, rng, dtype):
    x = misaligned((2, 3, 9, 9), dtype)
    x[...] = rng.standard_normal(x.shape)
    xa = x.copy()
    ey, ei = fastconv.max_pool2d(xa, 3, 2, 1, return_indices=True)
    yo, io = misaligned(ey.shape, dtype), misaligned(ei.shape, np.int64)
    y, i = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True, out=(yo, io))
    assert y is yo and i is io
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(fastconv.avg_pool2d(x, 3, 2, 1), fastconv.avg_pool2d(xa, 3, 2, 1))
    dy = misaligned(ey.shape, dtype)
    dy[...] = 1
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(dy, i, x.shape),
                                  fastconv.max_pool2d_backward(dy.copy(), ei, x.shape))
    np.testing.assert_array_equal(fastconv.avg_pool2d_backward(dy, x.shape, 3, 2, 1),
                                  fastconv.avg_pool2d_backward(dy.copy(), x.shape, 3, 2, 1))
    np.testing.assert_array_equal(fastconv.global_avg_pool2d(x), fastconv.global_avg_pool2d(xa))


def test_kernels_check_array_sizes():
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    geom = (1, 1, 4, 4, 1, 1, 1, 4, 4, 1, 1, 1, 0, 0, 1, 1)
    for y, xx, ww in [(np.zeros((1, 1, 4, 3), np.float32), x, w), (np.zeros((1, 1, 4, 4)), x, w),
                      (x.copy(), x, np.ones((1, 1, 1, 2), np.float32)), (x.copy(), x[..., :3].copy(), w)]:
        with pytest.raises(ValueError, match="does not match the kernel's geometry"):
            _core.conv2d_forward(_core.ALGO_DIRECT, y, xx, ww, None, geom, 1)
    with pytest.raises(ValueError, match="does not match the kernel's geometry"):
        _core.max_pool2d_forward(np.zeros((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.int32), x,
                               (1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1), 1)


def test_kernels_reject_misaligned_arrays():
    """The bindings check alignment themselves (the public functions copy first)."""
    x = misaligned((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    y = np.zeros((1, 1, 4, 4), np.float32)
    geom = (1, 1, 4, 4, 1, 1, 1, 4, 4, 1, 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="aligned"):
        _core.conv2d_forward(_core.ALGO_DIRECT, y, x, w, None, geom, 1)
    with pytest.raises(ValueError, match="aligned"):
        _core.conv2d_forward(_core.ALGO_DIRECT, misaligned(y.shape, np.float32), y, w, None, geom, 1)
    with pytest.raises(ValueError, match="aligned"):
        _core.max_pool2d_forward(np.zeros((1, 2, 2), np.float32), None, x, (1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1), 1)


# ---- 6: the small-plane pooling path's tables (float64 after int32) ----------------------


@pytest.mark.parametrize("shape", [(1, 1, 5, 5), (1, 1, 3, 3), (2, 3, 7, 5), (1, 1, 5, 8)])
def test_small_plane_float64_tables(simd_level, shape):
    x = np.ones(shape)
    y, i = fastconv.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
    P, Q = -(-(shape[2] - 2) // 2) + 1, -(-(shape[3] - 2) // 2) + 1
    P -= (P - 1) * 2 >= shape[2]
    Q -= (Q - 1) * 2 >= shape[3]
    np.testing.assert_array_equal(y, np.ones(shape[:2] + (P, Q)))
    a = fastconv.avg_pool2d(x, 2, ceil_mode=True)
    np.testing.assert_array_equal(a, np.ones(shape[:2] + (P, Q)))


# ---- 7: dilation and padding of 2**50, transposed stride 2**40, pool kernel 2**31 --------------


@pytest.mark.parametrize("algo", ALGOS)
def test_huge_dilation_and_padding(simd_level, rng, algo):
    # columns: (4 + 2 * 2**50 - 2 * 2**50 - 1) + 1 = 4 outputs; tap s reads column
    # q - 2**50 + s * 2**50: only the middle tap lands in the input
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 1, 3)).astype(np.float32)
    big = 2**50
    y = timed(fastconv.conv2d, x, w, dilation=(1, big), padding=(0, big), algorithm=algo)
    expected = np.einsum("kc,nchw->nkhw", w[:, :, 0, 1], x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    dx = timed(fastconv.conv2d_grad_input, x.shape, w, dy, dilation=(1, big), padding=(0, big), algorithm=algo)
    np.testing.assert_allclose(dx, np.einsum("kc,nkhw->nchw", w[:, :, 0, 1], dy), rtol=1e-5, atol=1e-5)
    dw = timed(fastconv.conv2d_grad_weight, x, w.shape, dy, dilation=(1, big), padding=(0, big), algorithm=algo)
    edw = np.zeros_like(w)
    edw[:, :, 0, 1] = np.einsum("nkhw,nchw->kc", dy, x)
    np.testing.assert_allclose(dw, edw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algo", ["direct", "im2col", "fft"])
def test_transposed_huge_stride(simd_level, algo):
    x = np.full((1, 1, 1, 1), 3, np.float32)
    w = np.full((1, 1, 1, 1), 2, np.float32)
    # (1 - 1) * 2**40 + 1 = one output row and column
    y = timed(fastconv.conv_transpose2d, x, w, stride=2**40, algorithm=algo)
    np.testing.assert_array_equal(y, [[[[6]]]])
    w = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    y = timed(fastconv.conv_transpose2d, x, w, stride=2**40, algorithm=algo)
    np.testing.assert_array_equal(y, 3 * w)


def test_pool_kernel_2_31(simd_level):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y, i = timed(fastconv.max_pool2d, x, 2**31, ceil_mode=True, return_indices=True)
    assert y.item() == 15 and i.item() == 15
    np.testing.assert_allclose(timed(fastconv.avg_pool2d, x, 2**31, ceil_mode=True), [[[[7.5]]]])
    with pytest.raises(ValueError, match="does not fit the input"):
        fastconv.max_pool2d(x, (1, 2**31), stride=1)
