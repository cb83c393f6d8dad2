"""The GPU backend (fastconv._gpu) against the CPU core.

Every test body runs a public function on the CPU (NumPy arrays) and through
the GPU backend, and compares:
- "cupy": the arrays moved to the GPU with CuPy; skipped, with the reason,
  where CuPy or a CUDA device is not usable;
- "emulated": the same GPU code on NumPy arrays, its CUDA kernels compiled
  for the CPU by tests/cuda_emulator.py (cuBLAS / cuFFT replaced by NumPy's
  matmul / FFT); runs wherever a C++ compiler is.  These small arrays take
  the kernels' 32-bit index builds; "emulated-int64" runs the 64-bit ones.
Then the dispatch itself: mixed array types, info().
"""
import contextlib

import numpy as np
import pytest

import fastconv
from fastconv import _backend, _gpu
from fastconv._ext import _fastconv as _core
from fastconv._gpu import _launch

import cuda_emulator


def cuda_unavailable():
    """Why CuPy arrays cannot run here, or None when they can."""
    gpu = fastconv.info()["gpu"]
    return None if gpu["available"] else gpu["reason"]


def _tree(fn, obj):
    if isinstance(obj, (tuple, list)):
        return type(obj)(_tree(fn, o) for o in obj)
    if isinstance(obj, dict):
        return {k: _tree(fn, v) for k, v in obj.items()}
    return fn(obj)


class GPU:
    """gpu(fn, *args, **kwargs): fn run on the GPU backend, its array
    arguments moved there and its array results moved back to NumPy."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "cupy":
            import cupy

            self.device = lambda a: cupy.asarray(a) if type(a) is np.ndarray else a
            self.host = lambda a: cupy.asnumpy(a) if _backend.is_cupy_array(a) else a
        else:
            self.emulator = cuda_emulator.emulator()
            self.device = self.host = lambda a: a

    @contextlib.contextmanager
    def active(self):
        if self.kind == "cupy":
            yield
            return
        saved = _backend.kernels, _launch.emulator, _launch._INT32_LIMIT
        _backend.kernels, _launch.emulator = (lambda xp: _gpu), self.emulator
        if self.kind == "emulated-int64":
            _launch._INT32_LIMIT = 0  # nothing fits: every launch indexes in 64 bits
        try:
            yield
        finally:
            _backend.kernels, _launch.emulator, _launch._INT32_LIMIT = saved

    def __call__(self, fn, *args, **kwargs):
        args, kwargs = _tree(self.device, args), _tree(self.device, kwargs)
        with self.active():
            out = fn(*args, **kwargs)
        return _tree(self.host, out)


@pytest.fixture(autouse=True)
def _quick_cpu_side(monkeypatch):
    """The CPU side on one thread (these arrays are small) with FFT plans by
    estimate: a measured plan, or threads waiting for busy cores, take longer
    than the whole test."""
    monkeypatch.setenv("FASTCONV_FFT_PLAN_SECONDS", "0")
    with fastconv.threads(1):
        yield


@pytest.fixture(params=["emulated", "emulated-int64", "cupy"])
def gpu(request):
    if request.param == "cupy":
        reason = cuda_unavailable()
        if reason:
            pytest.skip(f"no GPU backend here: {reason}")
    elif cuda_emulator.compiler() is None:
        pytest.skip("no C++ compiler to emulate the CUDA kernels with")
    return GPU(request.param)


def same(actual, expected, tol=None):
    """Equal to rounding, relative to the largest magnitude (exact for
    integers); tuples element by element, non-arrays (caches) skipped."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            same(a, e, tol)
        return
    if expected is None or not isinstance(expected, np.ndarray):
        assert (actual is None) == (expected is None)
        return
    a, e = actual, expected
    assert isinstance(a, np.ndarray) and a.shape == e.shape and a.dtype == e.dtype, (type(a), a.shape, e.shape)
    if e.dtype.kind != "f":
        np.testing.assert_array_equal(a, e)
        return
    t = tol or (3e-5 if e.dtype == np.float32 else 1e-12)
    finite = e[np.isfinite(e)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    np.testing.assert_allclose(a, e, rtol=t, atol=t * scale)


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


DTYPES = [np.float32, np.float64]

# ---- convolution -------------------------------------------------------------------------

CONV2D = [  # x shape, w shape, keyword arguments
    ((2, 4, 9, 8), (6, 4, 3, 3), dict(padding=1)),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((3, 6, 7, 7), (6, 1, 3, 3), dict(padding="same", groups=6)),             # depthwise
    ((2, 8, 5, 6), (16, 8, 1, 1), {}),                                          # pointwise
    ((2, 8, 9, 9), (16, 8, 1, 1), dict(stride=2)),
    ((1, 3, 12, 11), (4, 3, 5, 4), dict(stride=3, padding=(2, 0), dilation=2)),
    ((2, 3, 6, 6), (10, 3, 3, 3), dict(padding=(0, 1))),                        # 8 + 2 output channels
    ((4, 10, 10), (5, 4, 3, 3), dict(padding="valid")),                         # unbatched
    ((1, 32, 13, 14), (32, 32, 3, 3), dict(padding=2, dilation=2)),             # auto: Winograd on phases
]


@pytest.mark.parametrize("algorithm", ["auto", "direct", "im2col", "fft"])
@pytest.mark.parametrize("xs, ws, kw", CONV2D)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_and_gradients(gpu, xs, ws, kw, algorithm, dtype):
    rng = np.random.default_rng(0)
    x, w, b = normal(rng, xs, dtype), normal(rng, ws, dtype), normal(rng, ws[0], dtype)
    kw = dict(kw, algorithm=algorithm)
    y = fastconv.conv2d(x, w, b, **kw)
    same(gpu(fastconv.conv2d, x, w, b, **kw), y)
    if x.ndim == 3:
        return
    gy = normal(rng, y.shape, dtype)
    same(gpu(fastconv.conv2d_grad_input, x.shape, w, gy, **kw), fastconv.conv2d_grad_input(x.shape, w, gy, **kw))
    same(gpu(fastconv.conv2d_grad_weight, x, w.shape, gy, **kw), fastconv.conv2d_grad_weight(x, w.shape, gy, **kw))


@pytest.mark.parametrize("algorithm", ["auto", "direct", "im2col", "fft"])
@pytest.mark.parametrize("kw", [dict(padding=2), dict(stride=2, dilation=3, groups=2), dict(padding="same")])
def test_conv1d_and_gradients(gpu, kw, algorithm):
    rng = np.random.default_rng(1)
    x, w = normal(rng, (3, 4, 23), np.float32), normal(rng, (6, 4 // kw.get("groups", 1), 5), np.float32)
    kw = dict(kw, algorithm=algorithm)
    y = fastconv.conv1d(x, w, **kw)
    same(gpu(fastconv.conv1d, x, w, **kw), y)
    gy = normal(rng, y.shape, np.float32)
    same(gpu(fastconv.conv1d_grad_input, x.shape, w, gy, **kw), fastconv.conv1d_grad_input(x.shape, w, gy, **kw))
    same(gpu(fastconv.conv1d_grad_weight, x, w.shape, gy, **kw), fastconv.conv1d_grad_weight(x, w.shape, gy, **kw))


@pytest.mark.parametrize("algorithm", ["direct", "im2col", "fft"])
@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1), dict(groups=2, dilation=2, stride=3)])
def test_conv_transpose2d(gpu, kw, algorithm):
    rng = np.random.default_rng(2)
    x, w = normal(rng, (2, 4, 5, 6), np.float64), normal(rng, (4, 3, 3, 4), np.float64)
    b = normal(rng, 3 * kw.get("groups", 1), np.float64)
    same(gpu(fastconv.conv_transpose2d, x, w, b, algorithm=algorithm, **kw),
         fastconv.conv_transpose2d(x, w, b, algorithm=algorithm, **kw))


def test_auto_takes_cublas_unless_the_product_is_thin():
    geom = lambda C, K, R, G, s=1: (8, C, 32, 32, K, R, R, 30, 30, G, s, s, 0, 0, 1, 1)
    winograd = _gpu.conv.ALGO_WINOGRAD
    assert winograd not in (_core.ALGO_DIRECT, _core.ALGO_IM2COL)
    assert _gpu.choose_algorithm(geom(64, 64, 3, 1), "forward") == winograd
    assert _gpu.choose_algorithm(geom(64, 64, 3, 1), "backward_input") == winograd
    assert _gpu.choose_algorithm(geom(64, 64, 3, 1), "backward_weight") == _core.ALGO_IM2COL
    assert _gpu.choose_algorithm(geom(64, 64, 3, 1, s=2), "forward") == _core.ALGO_IM2COL
    assert _gpu.choose_algorithm(geom(64, 64, 5, 1), "forward") == _core.ALGO_IM2COL
    assert _gpu.choose_algorithm(geom(16, 64, 3, 1), "forward") == _core.ALGO_IM2COL  # too thin to gain
    assert _gpu.choose_algorithm(geom(64, 64, 1, 1), "backward_input") == _core.ALGO_IM2COL
    assert _gpu.choose_algorithm(geom(64, 64, 3, 64), "forward") == _core.ALGO_DIRECT  # depthwise
    assert _gpu.choose_algorithm(geom(1, 32, 3, 1), "backward_input") == _core.ALGO_DIRECT
    assert _gpu.choose_algorithm(geom(64, 64, 3, 64), "backward_weight") == _core.ALGO_IM2COL


WINOGRAD = [  # x shape, w shape, keyword arguments: 3x3, stride 1
    ((2, 5, 9, 8), (6, 5, 3, 3), dict(padding=1)),                    # odd output height: a half tile
    ((3, 4, 7, 6), (3, 4, 3, 3), dict(padding=0)),
    ((1, 3, 6, 9), (4, 3, 3, 3), dict(padding=(2, 0))),               # input gradient: negative padding
    ((2, 6, 5, 5), (2, 6, 3, 3), dict(padding=((1, 0), (0, 1)))),     # asymmetric
    ((4, 10, 10), (5, 4, 3, 3), dict(padding="same")),                # unbatched
]


@pytest.fixture
def fresh_plans():
    """Plans chosen by the rules a test sets, and none of them kept."""
    fastconv.conv._PLANS.clear()
    yield
    fastconv.conv._PLANS.clear()


@pytest.mark.parametrize("xs, ws, kw", WINOGRAD)
@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_forward_and_input_gradient(gpu, monkeypatch, fresh_plans, xs, ws, kw, dtype):
    """auto's Winograd path (ALGO_WINOGRAD), taken here for few channels too,
    in chunks of images; against the CPU."""
    monkeypatch.setattr(_gpu.conv, "_WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(_gpu.conv, "_COL_BYTES", 16 * 9 * 4 * 16)  # a few images per chunk
    calls = []
    run = _gpu.conv._winograd
    monkeypatch.setattr(_gpu.conv, "_winograd", lambda *a: calls.append(a[-2:]) or run(*a))
    rng = np.random.default_rng(4)
    x, w, b = normal(rng, xs, dtype), normal(rng, ws, dtype), normal(rng, ws[0], dtype)
    y = fastconv.conv2d(x, w, b, **kw)
    same(gpu(fastconv.conv2d, x, w, b, **kw), y)
    if x.ndim == 4:
        gy = normal(rng, y.shape, dtype)
        same(gpu(fastconv.conv2d_grad_input, x.shape, w, gy, **kw), fastconv.conv2d_grad_input(x.shape, w, gy, **kw))
    assert calls == [(False, False), (True, True)][: 2 if x.ndim == 4 else 1]  # (flip, accumulate)


def test_winograd_error_is_within_twice_the_gemm_products(fresh_plans):
    """float32 against float64 on 64 channels: F(2x2, 3x3)'s transforms add
    rounding, but its error stays within 2x that of the im2col product (4x is
    what auto allows)."""
    gpu = GPU("emulated")
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 64, 12, 12)), rng.standard_normal((64, 64, 3, 3)) / 24
    gy = rng.standard_normal((2, 64, 12, 12))
    exact = fastconv.conv2d(x, w, padding=1), fastconv.conv2d_grad_input(x.shape, w, gy, padding=1)
    f32 = lambda a: a.astype(np.float32)

    def error(algorithm):
        y = gpu(fastconv.conv2d, f32(x), f32(w), padding=1, algorithm=algorithm)
        dx = gpu(fastconv.conv2d_grad_input, x.shape, f32(w), f32(gy), padding=1, algorithm=algorithm)
        return [float(np.abs(a - e).max() / np.abs(e).max()) for a, e in zip((y, dx), exact)]

    assert _gpu.choose_algorithm(fastconv.ConvPlan(x.shape, w.shape, np.float32, padding=1).geometry,
                                 "forward") == _gpu.conv.ALGO_WINOGRAD
    for wino, gemm in zip(error("auto"), error("im2col")):
        assert wino < 2 * gemm, (wino, gemm)


def test_im2col_runs_in_chunks_of_images(gpu, monkeypatch):
    """A column buffer too small for the batch: the images go in several chunks."""
    monkeypatch.setattr(_gpu.conv, "_COL_BYTES", 3000)
    rng = np.random.default_rng(3)
    x, w = normal(rng, (5, 3, 8, 7), np.float32), normal(rng, (4, 3, 3, 3), np.float32)
    assert len(_gpu.conv._chunks(5, 3 * 9 * 8 * 7 * 4)[0]) > 1
    kw = dict(padding=1, algorithm="im2col")
    y = fastconv.conv2d(x, w, **kw)
    gy = normal(rng, y.shape, np.float32)
    same(gpu(fastconv.conv2d, x, w, **kw), y)
    same(gpu(fastconv.conv2d_grad_input, x.shape, w, gy, **kw), fastconv.conv2d_grad_input(x.shape, w, gy, **kw))
    same(gpu(fastconv.conv2d_grad_weight, x, w.shape, gy, **kw), fastconv.conv2d_grad_weight(x, w.shape, gy, **kw))


def test_conv_out_argument_and_non_finite_input(gpu):
    rng = np.random.default_rng(4)
    x, w = normal(rng, (2, 3, 8, 8), np.float32), normal(rng, (4, 3, 3, 3), np.float32)
    x[0, 1, 2, 3], x[1, 0, 5, 5] = np.nan, np.inf
    for algorithm in ["direct", "im2col", "fft"]:  # fft runs direct on non-finite input, as on the CPU
        expected = fastconv.conv2d(x, w, padding=1, algorithm=algorithm)
        out = np.full_like(expected, 7)

        def call(x, w, out):
            y = fastconv.conv2d(x, w, padding=1, algorithm=algorithm, out=out)
            assert y is out
            return y

        same(gpu(call, x, w, out), expected)


def test_conv_errors_are_the_cpu_ones(gpu):
    x, w = np.zeros((1, 3, 5, 5), np.float32), np.zeros((2, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"w expects 4 input channels"):
        gpu(fastconv.conv2d, x, w)
    with pytest.raises(TypeError, match=r"w must have the dtype of x"):
        gpu(fastconv.conv2d, x, w[:, :3].astype(np.float64))
    with pytest.raises(ValueError, match=r"out must have shape"):
        gpu(fastconv.conv2d, x, w[:, :3], out=np.zeros((1, 2, 2, 2), np.float32))


# ---- pooling ---------------------------------------------------------------------------------


def _with_specials(x):
    x = x.copy()
    flat = x.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = -np.inf
    flat[5::13] = np.inf
    return x


MAX_POOL2D = [
    dict(kernel_size=2),  # the 2x2 stride-2 kernel (odd H: the last row is outside every window)
    dict(kernel_size=2, ceil_mode=True),  # the general kernel: the last window is cut off
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
    dict(kernel_size=2, stride=1, padding=1, dilation=3),  # windows entirely in the padding
]


@pytest.mark.parametrize("kw", MAX_POOL2D)
@pytest.mark.parametrize("values", ["normal", "specials", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d(gpu, kw, values, dtype):
    rng = np.random.default_rng(5)
    x = normal(rng, (2, 3, 9, 8), dtype)
    if values == "specials":  # NaN wins (the last one); -inf windows report their first element
        x = _with_specials(x)
    elif values == "ties":  # the first maximum wins
        x = np.round(x).astype(dtype)
    y, idx = fastconv.max_pool2d(x, return_indices=True, **kw)
    same(gpu(fastconv.max_pool2d, x, return_indices=True, **kw), (y, idx))
    same(gpu(fastconv.max_pool2d, x, **kw), y)
    gy = normal(rng, y.shape, dtype)
    same(gpu(fastconv.max_pool2d_backward, gy, idx, x.shape), fastconv.max_pool2d_backward(gy, idx, x.shape))


def test_max_pool1d_unbatched_and_repeated_indices(gpu):
    rng = np.random.default_rng(6)
    x = normal(rng, (4, 17), np.float32)
    kw = dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)
    y, idx = fastconv.max_pool1d(x, return_indices=True, **kw)
    same(gpu(fastconv.max_pool1d, x, return_indices=True, **kw), (y, idx))
    gy = normal(rng, y.shape, np.float32)
    same(gpu(fastconv.max_pool1d_backward, gy, idx, x.shape), fastconv.max_pool1d_backward(gy, idx, x.shape))
    idx = np.zeros_like(idx)  # every output onto element 0: the adds must not race
    same(gpu(fastconv.max_pool1d_backward, gy, idx, x.shape), fastconv.max_pool1d_backward(gy, idx, x.shape))
    idx[1, 2] = 17
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 17\)"):
        gpu(fastconv.max_pool1d_backward, gy, idx, x.shape)


def test_pooling_out_arguments(gpu):
    rng = np.random.default_rng(18)
    x = normal(rng, (2, 3, 8, 8), np.float32)
    y, idx = fastconv.max_pool2d(x, 2, return_indices=True)

    def call(x, yo, io, ao):
        got = fastconv.max_pool2d(x, 2, return_indices=True, out=(yo, io))
        assert got[0] is yo and got[1] is io
        assert fastconv.avg_pool2d(x, 2, out=ao) is ao
        return got + (ao,)

    empty = (np.full_like(y, 5), np.full_like(idx, 5), np.full_like(y, 5))
    same(gpu(call, x, *empty), (y, idx, fastconv.avg_pool2d(x, 2)))


AVG_POOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),  # the last window is cut at the padding
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    dict(kernel_size=(2, 4), stride=(3, 1), padding=(1, 2), ceil_mode=True),
]


@pytest.mark.parametrize("kw", AVG_POOL)
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool2d(gpu, kw, dtype):
    rng = np.random.default_rng(7)
    x = normal(rng, (2, 3, 10, 9), dtype)
    y = fastconv.avg_pool2d(x, **kw)
    same(gpu(fastconv.avg_pool2d, x, **kw), y)
    gy = normal(rng, y.shape, dtype)
    same(gpu(fastconv.avg_pool2d_backward, gy, x.shape, **kw), fastconv.avg_pool2d_backward(gy, x.shape, **kw))
    same(gpu(fastconv.avg_pool2d, _with_specials(x), **kw), fastconv.avg_pool2d(_with_specials(x), **kw))


def test_avg_pool1d_and_global_avg_pool2d(gpu):
    rng = np.random.default_rng(8)
    x = normal(rng, (3, 2, 15), np.float32)
    kw = dict(kernel_size=4, stride=2, padding=2, count_include_pad=False, ceil_mode=True)
    y = fastconv.avg_pool1d(x, **kw)
    same(gpu(fastconv.avg_pool1d, x, **kw), y)
    gy = normal(rng, y.shape, np.float32)
    same(gpu(fastconv.avg_pool1d_backward, gy, x.shape, **kw), fastconv.avg_pool1d_backward(gy, x.shape, **kw))
    x = normal(rng, (3, 4, 5, 6), np.float64)
    for keepdims in (False, True):
        y = fastconv.global_avg_pool2d(x, keepdims=keepdims)
        same(gpu(fastconv.global_avg_pool2d, x, keepdims=keepdims), y)
        same(gpu(fastconv.global_avg_pool2d_backward, y, x.shape), fastconv.global_avg_pool2d_backward(y, x.shape))


# ---- recurrent ---------------------------------------------------------------------------------

CELLS = {"lstm": 4, "gru": 3, "tanh": 1, "relu": 1}


def _weights(rng, cell, I, H, dtype, biases):
    G = CELLS[cell]
    w = [normal(rng, (G * H, I), dtype) * 0.5, normal(rng, (G * H, H), dtype) * 0.5]
    return w + [normal(rng, G * H, dtype) if b else None for b in biases]


def _sequence(cell):
    """(forward, backward) taking (x, h0, c0, weights..., batch_first) and (dy, dhT, dcT, cache)."""
    if cell == "lstm":
        return fastconv.lstm_forward, fastconv.lstm_backward
    if cell == "gru":
        return (lambda x, h0, c0, *w, batch_first: fastconv.gru_forward(x, h0, *w, batch_first=batch_first),
                lambda dy, dh, dc, cache: fastconv.gru_backward(dy, dh, cache))
    return (lambda x, h0, c0, *w, batch_first: fastconv.rnn_forward(x, h0, *w, nonlinearity=cell,
                                                                      batch_first=batch_first),
            lambda dy, dh, dc, cache: fastconv.rnn_backward(dy, dh, cache))


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batch_first, states, biases, loss_on", [
    (False, True, (True, True), ("y", "h", "c")),
    (True, False, (False, True), ("y",)),
    (True, True, (True, False), ("h", "c")),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_recurrent_sequences(gpu, cell, batch_first, states, biases, loss_on, dtype):
    rng = np.random.default_rng(9)
    T, B, I, H = 5, 3, 4, 6
    fwd, bwd = _sequence(cell)
    x = normal(rng, (B, T, I) if batch_first else (T, B, I), dtype)
    h0, c0 = (normal(rng, (B, H), dtype), normal(rng, (B, H), dtype)) if states else (None, None)
    w = _weights(rng, cell, I, H, dtype, biases)
    expected = fwd(x, h0, c0, *w, batch_first=batch_first)
    got = gpu(fwd, x, h0, c0, *w, batch_first=batch_first)
    same(tuple(got[:-1]), tuple(expected[:-1]))
    dy = normal(rng, expected[0].shape, dtype) if "y" in loss_on else None
    dh = normal(rng, (B, H), dtype) if "h" in loss_on else None
    dc = normal(rng, (B, H), dtype) if "c" in loss_on else None
    same(gpu(bwd, dy, dh, dc, got[-1]), bwd(dy, dh, dc, expected[-1]))


@pytest.mark.parametrize("cell", list(CELLS))
def test_recurrent_unbatched_and_single_steps(gpu, cell):
    rng = np.random.default_rng(10)
    T, I, H = 4, 3, 5
    fwd, bwd = _sequence(cell)
    x = normal(rng, (T, I), np.float64)
    w = _weights(rng, cell, I, H, np.float64, (True, True))
    expected, got = fwd(x, None, None, *w, batch_first=True), gpu(fwd, x, None, None, *w, batch_first=True)
    same(tuple(got[:-1]), tuple(expected[:-1]))
    dy = normal(rng, expected[0].shape, np.float64)
    same(gpu(bwd, dy, None, None, got[-1]), bwd(dy, None, None, expected[-1]))
    # one step, as torch.nn.*Cell
    xs, h = normal(rng, (2, I), np.float64), normal(rng, (2, H), np.float64)
    dh = normal(rng, (2, H), np.float64)
    if cell == "lstm":
        c = normal(rng, (2, H), np.float64)
        exp, got = fastconv.lstm_cell_forward(xs, h, c, *w), gpu(fastconv.lstm_cell_forward, xs, h, c, *w)
        same(got[:2], exp[:2])
        same(gpu(fastconv.lstm_cell_backward, dh, dh, got[2]), fastconv.lstm_cell_backward(dh, dh, exp[2]))
    elif cell == "gru":
        exp, got = fastconv.gru_cell_forward(xs, h, *w), gpu(fastconv.gru_cell_forward, xs, h, *w)
        same(got[0], exp[0])
        same(gpu(fastconv.gru_cell_backward, dh, got[1]), fastconv.gru_cell_backward(dh, exp[1]))
    else:
        exp = fastconv.rnn_cell_forward(xs, h, *w, nonlinearity=cell)
        got = gpu(fastconv.rnn_cell_forward, xs, h, *w, nonlinearity=cell)
        same(got[0], exp[0])
        same(gpu(fastconv.rnn_cell_backward, dh, got[1]), fastconv.rnn_cell_backward(dh, exp[1]))


def test_recurrent_cache_keeps_its_backend(gpu):
    rng = np.random.default_rng(11)
    w = _weights(rng, "lstm", 3, 4, np.float32, (True, True))
    _, _, _, cache = gpu(fastconv.lstm_forward, normal(rng, (2, 2, 3), np.float32), None, None, *w)
    assert cache.xp is (np if gpu.kind.startswith("emulated") else __import__("cupy"))


# ---- filtering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "direct", "separable", "fft"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary, fillvalue", [("fill", 0), ("fill", 1.5), ("wrap", 0), ("symm", 0)])
def test_correlate2d_and_convolve2d(gpu, method, mode, boundary, fillvalue):
    rng = np.random.default_rng(12)
    x = normal(rng, (2, 11, 9), np.float32)
    k = normal(rng, (4, 5), np.float32)
    for fn in (fastconv.correlate2d, fastconv.convolve2d):
        kw = dict(mode=mode, boundary=boundary, fillvalue=fillvalue)
        # "auto" on the CPU would time the methods first; any method gives the answer
        same(gpu(fn, x, k, method=method, **kw), fn(x, k, method="direct" if method == "auto" else method, **kw),
             tol=1e-4)


def test_filtering_large_kernels_integers_and_separable(gpu):
    rng = np.random.default_rng(13)
    x = normal(rng, (6, 7), np.float64)
    k = normal(rng, (9, 12), np.float64)  # larger than the image: boundaries repeat
    for boundary in ("wrap", "symm"):
        for method in ("direct", "separable", "fft"):
            kw = dict(mode="same", boundary=boundary, method=method)
            same(gpu(fastconv.correlate2d, x, k, **kw), fastconv.correlate2d(x, k, **kw))
    same(gpu(fastconv.convolve2d, k, x, mode="valid"), fastconv.convolve2d(k, x, mode="valid"))
    same(gpu(fastconv.correlate2d, x[:3, :4], k, mode="valid"), fastconv.correlate2d(x[:3, :4], k, mode="valid"))
    img = rng.integers(0, 255, (12, 13)).astype(np.uint8)
    ki = rng.integers(-3, 4, (3, 3))
    same(gpu(fastconv.correlate2d, img, ki, mode="same"), fastconv.correlate2d(img, ki, mode="same"))
    g = np.exp(-0.5 * np.linspace(-2, 2, 7) ** 2)
    big = normal(rng, (3, 30, 40), np.float32)
    gg = np.outer(g, g).astype(np.float32)
    for method in ("auto", "separable"):
        same(gpu(fastconv.correlate2d, big, gg, mode="same", method=method),
             fastconv.correlate2d(big, gg, mode="same", method="separable"), tol=1e-4)
    for boundary in ("fill", "symm"):
        kw = dict(mode="same", boundary=boundary, fillvalue=2.0)
        same(gpu(fastconv.sepfilter2d, big, g[:5], g, **kw), fastconv.sepfilter2d(big, g[:5], g, **kw))


def test_filtering_auto_on_the_gpu_counts_operations(gpu):
    rng = np.random.default_rng(14)
    x = normal(rng, (40, 40), np.float32)
    g = np.hanning(9)[1:-1]
    for k, method in [(normal(rng, (3, 3), np.float32), "direct"), (np.outer(g, g), "separable"),
                      (normal(rng, (25, 25), np.float32), "fft")]:
        k = k.astype(np.float32)
        got = gpu(fastconv.correlate2d, x, k, mode="same")
        assert fastconv.last_method()["method"] == method
        same(got, fastconv.correlate2d(x, k, mode="same", method="direct"), tol=1e-4)


# ---- fastconv.ndimage ------------------------------------------------------------------------------

ND_MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-wrap"]


@pytest.mark.parametrize("mode", ND_MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ndimage_separable_filters(gpu, mode, dtype):
    from fastconv import ndimage as nd

    rng = np.random.default_rng(16)
    x = normal(rng, (3, 9, 14), dtype)
    kw = dict(mode=mode, cval=1.5)
    cases = [
        (nd.gaussian_filter, (x, 1.3), dict(order=(0, 1, 2))),
        (nd.gaussian_filter, (x[0], (0.8, 2.5)), dict(truncate=3.0, axes=(0, 1))),   # a 2-D image: a fused pair
        (nd.gaussian_filter1d, (x, 2.0), dict(axis=1, order=3, radius=4)),
        (nd.uniform_filter, (x, (3, 4, 5)), dict(origin=(0, 1, -2))),
        (nd.uniform_filter1d, (x, 20), dict(axis=-1)),                              # longer than the line
        (nd.correlate1d, (x, [0.5, -1.0, 2.0, 0.25]), dict(axis=0, origin=-1)),
        (nd.convolve1d, (x, [1.0, 2.0, -3.0]), dict(axis=2)),
        (nd.sobel, (x,), dict(axis=1)),
        (nd.prewitt, (x,), dict(axis=0)),
        (nd.laplace, (x,), {}),
        (nd.gaussian_laplace, (x, 1.1), {}),
        (nd.gaussian_gradient_magnitude, (x, 0.9), {}),
        (nd.generic_gradient_magnitude, (x, nd.sobel), {}),
    ]
    for fn, args, extra in cases:
        same(gpu(fn, *args, **kw, **extra), fn(*args, **kw, **extra), tol=1e-4 if dtype == np.float32 else None)


@pytest.mark.parametrize("mode", ND_MODES)
def test_ndimage_nd_correlate_and_in_place(gpu, mode):
    from fastconv import ndimage as nd

    rng = np.random.default_rng(17)
    x = normal(rng, (5, 8, 7), np.float64)
    for w in (normal(rng, (3, 4), np.float64), normal(rng, (2, 3, 3), np.float64), normal(rng, (1, 5, 1), np.float64)):
        kw = dict(mode=mode, cval=-0.5, axes=(1, 2) if w.ndim == 2 else None)
        same(gpu(nd.correlate, x, w, **kw), nd.correlate(x, w, **kw))
        same(gpu(nd.convolve, x, w, **kw), nd.convolve(x, w, **kw))
    # output= the input (the passes then run in place) and a strided output view
    # (inside one call on the device: the harness moves each argument to the device separately)
    def in_place(y):
        nd.gaussian_filter(y, 1.5, output=y, mode=mode)
        return y

    def strided(x, out):
        nd.uniform_filter(x, 3, output=out[:, :, ::2], mode=mode)
        return out

    same(gpu(in_place, x.copy()), nd.gaussian_filter(x, 1.5, mode=mode))
    out = gpu(strided, x, np.zeros((5, 8, 14)))
    same(out[:, :, ::2], nd.uniform_filter(x, 3, mode=mode))
    assert not out[:, :, 1::2].any()


def test_ndimage_integer_complex_and_errors(gpu):
    """Integer outputs equal SciPy's exactly (the running sum and SciPy's order of operations on
    the device); complex data runs as its parts; bad arguments raise SciPy's exception types."""
    import scipy.ndimage as snd

    from fastconv import ndimage as nd

    rng = np.random.default_rng(18)
    img = rng.integers(0, 256, (2, 17, 19)).astype(np.uint8)
    for fn, args, kw in [(nd.uniform_filter, (img, 5), dict(mode="nearest")),
                         (nd.uniform_filter1d, (img.astype(np.float64) / 3, 4), dict(output=np.int16)),
                         (nd.gaussian_filter, (img, 1.7), dict(mode="constant", cval=7)),
                         (nd.sobel, (img.astype(np.int32),), dict(axis=0)),
                         (nd.correlate, (img, np.arange(9).reshape(3, 3) - 4), dict(mode="wrap", axes=(1, 2))),
                         (nd.correlate1d, (img.astype(bool), [1, 1, 1]), {})]:
        expected = getattr(snd, fn.__name__)(*args, **kw)
        got = gpu(fn, *args, **kw)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    z = normal(rng, (6, 9), np.float64) + 1j * normal(rng, (6, 9), np.float64)
    w = normal(rng, 5, np.float64) - 0.5j
    for fn, args, kw, tol in [(nd.correlate1d, (z, w), dict(mode="wrap", cval=1 + 2j), 1e-12),
                              (nd.gaussian_filter, (z.astype(np.complex64), 1.0), {}, 1e-5)]:
        got, expected = gpu(fn, *args, **kw), fn(*args, **kw)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)
    with pytest.raises(RuntimeError):
        gpu(nd.gaussian_filter, img, 1.0, mode="bogus")
    with pytest.raises(ValueError):
        gpu(nd.correlate1d, img, [1, 2, 3], origin=2)


def test_ndimage_cupy_arrays_stay_on_the_device():
    """CuPy in, CuPy out; weights may live on either side of a CuPy call; NumPy and CuPy mixed is a
    TypeError."""
    reason = cuda_unavailable()
    if reason:
        pytest.skip(f"no GPU backend here: {reason}")
    import cupy

    from fastconv import ndimage as nd

    x = cupy.asarray(np.random.default_rng(19).standard_normal((64, 80), np.float32))
    y = nd.gaussian_filter(x, 2.0)
    assert isinstance(y, cupy.ndarray) and y.dtype == np.float32
    same(cupy.asnumpy(y), nd.gaussian_filter(cupy.asnumpy(x), 2.0), tol=1e-4)
    assert isinstance(nd.correlate(x, cupy.ones((3, 3), np.float32)), cupy.ndarray)
    with pytest.raises(TypeError, match="mix"):
        nd.correlate(cupy.asnumpy(x), cupy.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match="mix"):
        nd.uniform_filter(x, 3, output=np.empty((64, 80), np.float32))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_fftconvolve(gpu, mode):
    rng = np.random.default_rng(15)
    a, b = normal(rng, (3, 40), np.float64), normal(rng, (1, 9), np.float64)
    same(gpu(fastconv.fftconvolve, a, b, mode=mode, axes=1), fastconv.fftconvolve(a, b, mode=mode, axes=1))
    a2, b2 = normal(rng, (20, 17), np.float32), normal(rng, (5, 6), np.float32)
    a2[3, 4], b2[1, 1] = np.nan, np.inf  # non-finite values stay in their footprint
    same(gpu(fastconv.fftconvolve, a2, b2, mode=mode), fastconv.fftconvolve(a2, b2, mode=mode), tol=1e-4)


# ---- dispatch (no GPU needed) ------------------------------------------------------------------------


class FakeCupy(np.ndarray):
    """Looks like a CuPy array to fastconv's dispatch (its type's module)."""


FakeCupy.__module__ = "cupy._core.core"


def fake(shape, dtype=np.float32):
    return np.zeros(shape, dtype).view(FakeCupy)


@pytest.mark.parametrize("call", [
    lambda: fastconv.conv2d(fake((1, 1, 4, 4)), np.zeros((1, 1, 3, 3), np.float32)),
    lambda: fastconv.conv2d(np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 3, 3), np.float32),
                            out=fake((1, 1, 2, 2))),
    lambda: fastconv.conv1d_grad_weight(np.zeros((1, 1, 4), np.float32), (1, 1, 3), fake((1, 1, 2))),
    lambda: fastconv.max_pool2d(fake((1, 1, 4, 4)), 2, out=(np.zeros((1, 1, 2, 2), np.float32), None)),
    lambda: fastconv.max_pool2d_backward(np.zeros((1, 2, 2), np.float32), fake((1, 2, 2), np.int64), (1, 4, 4)),
    lambda: fastconv.avg_pool1d_backward(fake((1, 2)), (1, 4), 2, out=np.zeros((1, 4), np.float32)),
    lambda: fastconv.lstm_forward(np.zeros((2, 1, 3), np.float32), None, None, fake((8, 3)),
                                  np.zeros((8, 2), np.float32), None, None),
    lambda: fastconv.correlate2d(np.zeros((5, 5)), fake((3, 3))),
    lambda: fastconv.sepfilter2d(np.zeros((5, 5)), np.ones(3), fake(3)),
    lambda: fastconv.fftconvolve(fake(5), np.ones(3)),
    lambda: fastconv.get_array_module(np.zeros(2), fake(2)),
])
def test_mixing_numpy_and_cupy_arrays_is_a_type_error(call):
    with pytest.raises(TypeError, match="cannot mix NumPy and CuPy arrays"):
        call()


def test_recurrent_backward_takes_gradients_of_the_cache_backend():
    rng = np.random.default_rng(16)
    w = _weights(rng, "gru", 3, 4, np.float32, (True, True))
    _, _, cache = fastconv.gru_forward(normal(rng, (2, 2, 3), np.float32), None, *w)
    with pytest.raises(TypeError, match="cannot mix NumPy and CuPy arrays"):
        fastconv.gru_backward(fake((2, 2, 4)), None, cache)


def test_cupy_arrays_without_cupy_are_a_type_error():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(TypeError, match="CuPy cannot be imported"):
            fastconv.conv2d(fake((1, 1, 4, 4)), fake((1, 1, 3, 3)))
    else:
        pytest.skip("CuPy is installed")


def test_kernels_compile_once_per_device_and_dtype():
    if cuda_unavailable():
        pytest.skip(f"no GPU backend here: {cuda_unavailable()}")
    import cupy

    x = cupy.ones((2, 3, 8, 8), cupy.float32)
    fastconv.max_pool2d(x, 2)
    before = _launch._module.cache_info()
    fastconv.max_pool2d(x, 2)
    fastconv.max_pool2d(x.astype(cupy.float64), 2)
    after = _launch._module.cache_info()
    assert after.currsize - before.currsize <= 1  # float64's module, at most


def test_get_array_module():
    assert fastconv.get_array_module(np.zeros(3), None, 2.0, [1, 2]) is np
    assert fastconv.get_array_module() is np
    if cuda_unavailable() is None:
        import cupy

        assert fastconv.get_array_module(cupy.zeros(3), None) is cupy


def test_info_reports_the_gpu_backend():
    gpu = fastconv.info()["gpu"]
    assert set(gpu) == {"available", "device", "cupy", "reason"}
    if gpu["available"]:
        assert gpu["device"] and gpu["reason"] is None and gpu["cupy"]
    else:
        assert gpu["device"] is None and gpu["reason"]
        assert gpu["reason"].startswith("CuPy ") == (gpu["cupy"] is None)  # else a CUDA device problem


def test_gpu_kernels_refuse_numpy_arrays_without_the_emulator():
    with pytest.raises(TypeError, match="the GPU kernels run on CuPy arrays"):
        _gpu.max_pool2d_forward(np.zeros((1, 1, 1)), None, np.zeros((1, 2, 2)), (1, 2, 2, 1, 1, 2, 2, 2, 2, 0, 0, 1, 1))


@pytest.mark.parametrize("trans_b", [False, True])
def test_cublas_arguments_of_the_recurrent_products(trans_b):
    """_blas.gemm's column-major call, run by a column-major GEMM written out here."""
    def column_major(flat, rows, cols, ld):
        return np.array([[flat[i + j * ld] for j in range(cols)] for i in range(rows)])

    rng = np.random.default_rng(17)
    m, n, k = 3, 5, 4
    a, b = normal(rng, (m, k), np.float64), normal(rng, (n, k) if trans_b else (k, n), np.float64)
    op_b, mm, nn, kk, ldb, lda, ldc = _gpu._blas.gemm_arguments(m, n, k, trans_b)
    first = column_major(b.ravel(), kk, mm, ldb).T if op_b else column_major(b.ravel(), mm, kk, ldb)
    product = first @ column_major(a.ravel(), kk, nn, lda)  # cuBLAS: C (mm, nn) = op(B) @ A
    out = np.zeros(m * n)
    for i in range(mm):
        for j in range(nn):
            out[i + j * ldc] = product[i, j]
    np.testing.assert_allclose(out.reshape(m, n), a @ (b.T if trans_b else b))


def test_cublas_arguments_of_the_batched_products(monkeypatch):
    """_blas.gemm_batched's and gemm_images's strided-batched calls, run by a
    column-major batched GEMM written out here on the flat arrays."""
    def strided_batched(out, a, lda, sa, b, ldb, sb, ldc, sc, m, n, k, batch):
        A, B, C = a.ravel(), b.ravel(), out.reshape(-1)
        for i in range(batch):
            for col in range(n):
                for row in range(m):
                    C[i * sc + row + col * ldc] = sum(A[i * sa + row + j * lda] * B[i * sb + j + col * ldb]
                                                      for j in range(k))
        return out

    monkeypatch.setattr(_gpu._blas, "is_cupy_array", lambda a: True)
    monkeypatch.setattr(_gpu._blas, "_strided_batched", strided_batched)
    rng = np.random.default_rng(18)
    a, b = normal(rng, (3, 2, 4), np.float64), normal(rng, (3, 4, 5), np.float64)
    np.testing.assert_allclose(_gpu._blas.gemm_batched(a, b, np.zeros((3, 2, 5))), a @ b)
    w, col = normal(rng, (3, 4), np.float64), normal(rng, (4, 2 * 5), np.float64)
    np.testing.assert_allclose(_gpu._blas.gemm_images(w, col, np.zeros((2, 3, 5)), 2, 5),
                               np.matmul(w, col.reshape(4, 2, 5).transpose(1, 0, 2)))
