"""Winograd F(4x4, 3x3) (csrc/conv_winograd.c, algorithm="winograd"):
forward and both gradients against the float64 reference over sizes that
are not multiples of the 4x4 tile, maps smaller than a tile, every padding
it takes, tile blocks that span images, every SIMD level; its error next to
direct's; when auto takes it; what it refuses.  The same for the 1-D
Winograd F(4, 3) (csrc/conv_winograd1d.c): strides, dilations, long
kernels in pieces."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastconv
import reference as ref

DTYPES = [np.float32, np.float64]

# (N, C, H, W, K, padding): padding an int or ((top, bottom), (left, right))
CASES = [
    (2, 8, 12, 12, 16, 1),            # whole tiles
    (2, 5, 9, 11, 13, 1),             # partial tiles; K not a multiple of the micro-kernel's rows
    (1, 3, 3, 3, 4, 0),               # one output
    (3, 4, 2, 5, 6, 1),               # a map smaller than a tile
    (2, 6, 7, 9, 7, 2),               # padding 2 (the input gradient's padding is 0)
    (2, 4, 8, 10, 5, ((0, 2), (2, 1))),  # asymmetric, a trailing pad of 2
    (19, 3, 6, 6, 4, 1),              # 76 tiles: blocks of tiles that span images
    (2, 5, 24, 22, 17, 1),            # 72 tiles, few channels: the output channels split (ksplit)
    (1, 1, 30, 33, 1, 1),             # one channel, 72 tiles
    (4, 20, 5, 14, 18, ((1, 1), (0, 0))),
    # 64 tiles or fewer, the forward by output channels (wgk): input channels over several chunks
    # of 64, the last partial, 9 C not a multiple of 8; output channels over blocks of a vector,
    # the last partial; 16 tiles (two vectors of float64's 8 lanes); 4 groups of tiles
    (1, 70, 7, 7, 35, 1),
    (1, 37, 7, 7, 35, 1),
    (4, 19, 6, 6, 21, 1),
    (2, 33, 5, 3, 17, ((2, 0), (1, 2))),
    (5, 6, 13, 9, 19, 1),
]


def case_id(c):
    return "N{}C{}{}x{}K{}p{}".format(*c)


def _bound_check(actual, expected, bound, n_terms, dtype):
    """|error| <= 16 (n_terms + 2) eps max(bound): Winograd's transforms mix
    a tile's inputs, so its rounding follows the largest terms of the tile,
    not each output's own; a missing or wrong term is still off by orders of
    magnitude."""
    assert actual.dtype == dtype and actual.shape == expected.shape
    tol = 16 * (n_terms + 2) * np.finfo(dtype).eps * float(bound.max()) + np.finfo(dtype).tiny
    err = np.abs(actual.astype(np.float64) - expected)
    assert err.max() <= tol, f"largest error {err.max():.3g} > {tol:.3g}"


def _pads(padding):
    return ((padding, padding),) * 2 if isinstance(padding, int) else padding


def check(case, dtype, rng, layout=None, bias=True):
    N, C, H, W, K, padding = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    ra = dict(stride=(1, 1), pads=_pads(padding), dilation=(1, 1), groups=1)
    xin = x if layout is None else np.asfortranarray(x)
    y = fastconv.conv2d(xin, w, b, padding=padding, algorithm="winograd")
    expected = ref.conv_forward(x, w, b, **ra)
    _bound_check(y, expected, ref.conv_forward(np.abs(x), np.abs(w), None if b is None else np.abs(b), **ra),
                 9 * C, dtype)
    gy = rng.standard_normal(expected.shape).astype(dtype)
    gx = fastconv.conv2d_grad_input(x.shape, w, gy, padding=padding, algorithm="winograd")
    _bound_check(gx, ref.conv_grad_input(x.shape, w, gy, **ra),
                 ref.conv_grad_input(x.shape, np.abs(w), np.abs(gy), **ra), 9 * K, dtype)
    gw = fastconv.conv2d_grad_weight(x, w.shape, gy, padding=padding, algorithm="winograd")
    _bound_check(gw, ref.conv_grad_weight(x, w.shape, gy, **ra), ref.conv_grad_weight(np.abs(x), w.shape, np.abs(gy), **ra),
                 N * expected.shape[2] * expected.shape[3], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_winograd_against_reference(case, dtype, rng):
    check(case, dtype, rng)


def test_every_simd_level(simd_level, rng):
    for case in CASES[:7] + CASES[-5:]:
        for dtype in DTYPES:
            check(case, dtype, rng)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(N=st.integers(1, 4), C=st.integers(1, 12), K=st.integers(1, 20), H=st.integers(1, 19),
       W=st.integers(1, 19), pads=st.tuples(*[st.integers(0, 2)] * 4), dtype=st.sampled_from(DTYPES),
       fortran=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_winograd_property(N, C, K, H, W, pads, dtype, fortran, seed):
    t, b, left, right = pads
    if H + t + b < 3 or W + left + right < 3:
        with pytest.raises(ValueError):
            fastconv.conv2d(np.zeros((N, C, H, W), dtype), np.zeros((K, C, 3, 3), dtype),
                            padding=((t, b), (left, right)), algorithm="winograd")
        return
    check((N, C, H, W, K, ((t, b), (left, right))), dtype, np.random.default_rng(seed),
          layout="F" if fortran else None, bias=seed % 2 == 0)


@pytest.mark.parametrize("shape, K", [((5, 12, 13, 18), 10), ((1, 40, 7, 7), 70)], ids=["tiles", "few-tiles"])
def test_threads_do_not_change_results(rng, shape, K):
    """Each tile block (or, over few tiles, each block of output channels) is computed whole by
    one thread: the same bits for any thread count."""
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((K, shape[1], 3, 3)).astype(np.float32)
    gy = rng.standard_normal((shape[0], K) + shape[2:]).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        with fastconv.threads(n):
            outs.append((fastconv.conv2d(x, w, padding=1, algorithm="winograd"),
                         fastconv.conv2d_grad_input(x.shape, w, gy, padding=1, algorithm="winograd")))
    for y, gx in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        np.testing.assert_array_equal(gx, outs[0][1])


def _rel_errors(x, w, gy):
    """float32 largest error / largest |result|, against float64 direct, of the forward and both
    gradients: {op: {"direct": ..., "winograd": ...}}."""
    ops = {"forward": lambda a, x, w, gy: fastconv.conv2d(x, w, padding=1, algorithm=a),
           "grad_input": lambda a, x, w, gy: fastconv.conv2d_grad_input(x.shape, w, gy, padding=1, algorithm=a),
           "grad_weight": lambda a, x, w, gy: fastconv.conv2d_grad_weight(x, w.shape, gy, padding=1, algorithm=a)}
    out = {}
    for name, op in ops.items():
        exact = op("direct", x, w, gy)
        out[name] = {a: np.abs(op(a, x.astype(np.float32), w.astype(np.float32), gy.astype(np.float32))
                              - exact).max() / np.abs(exact).max() for a in ("direct", "winograd")}
    return out


def test_float32_error_within_4x_direct():
    """The points 0, 1, -1, 1/2, -2 keep float32 Winograd within 4x of direct's
    error (bench/RESULTS.md: 2.1-3.6x on network-sized layers); the usual
    0, +-1, +-2 gave 5-9x on the same data.  Normal and ReLU'd inputs, the
    forward and both gradients."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 64, 20, 20))
    w = rng.standard_normal((64, 64, 3, 3)) * np.sqrt(2 / (9 * 64))
    gy = rng.standard_normal((2, 64, 20, 20))
    for data in (x, np.maximum(x, 0)):
        for op, e in _rel_errors(data, w, gy).items():
            assert e["winograd"] <= 4 * e["direct"], (op, e)


def test_auto_takes_it_for_float32_only(monkeypatch):
    shape, wshape = (32, 128, 28, 28), (128, 128, 3, 3)
    plan = fastconv.ConvPlan(shape, wshape, np.float32, padding=1)
    assert plan.algorithm == {"forward": "winograd", "grad_input": "winograd", "grad_weight": "winograd"}
    # 256 channels and up: the weight gradient's error passes 4x direct's, so not for it (im2col:
    # 590K weights over 1568 pixels)
    assert fastconv.ConvPlan((8, 256, 14, 14), (256, 256, 3, 3), np.float32, padding=1).algorithm == {
        "forward": "winograd", "grad_input": "winograd", "grad_weight": "im2col"}
    assert "winograd" not in fastconv.ConvPlan(shape, wshape, np.float64, padding=1).algorithm.values()
    # few tiles (ResNet-18's 512 @7 at batch 1: 4 tiles): the forward and input gradient by output
    # channels, which pay from 4 tiles at 128 channels; not the weight gradient
    assert fastconv.ConvPlan((1, 512, 7, 7), (512, 512, 3, 3), np.float32, padding=1).algorithm == {
        "forward": "winograd", "grad_input": "winograd", "grad_weight": "im2col"}
    # one tile, 4 tiles of 64 channels, stride 3, few channels: not taken
    for args in [((1, 512, 4, 4), (512, 512, 3, 3), {}), ((1, 64, 7, 7), (64, 64, 3, 3), {}),
                 (shape, wshape, dict(stride=3)), ((32, 8, 28, 28), (8, 8, 3, 3), {})]:
        p = fastconv.ConvPlan(args[0], args[1], np.float32, padding=1, **args[2])
        assert "winograd" not in p.algorithm.values(), args
    monkeypatch.setenv("FASTCONV_WINOGRAD", "0")
    assert "winograd" not in fastconv.ConvPlan(shape, wshape, np.float32, padding=1).algorithm.values()


def test_measure_times_it():
    plan = fastconv.ConvPlan((16, 32, 16, 16), (32, 32, 3, 3), np.float32, padding=1, algorithm="measure")
    assert set(plan.algorithm.values()) <= {"direct", "im2col", "fft", "winograd"}


@pytest.mark.parametrize("kwargs, wshape", [
    (dict(stride=3, padding=1), (4, 3, 3, 3)),
    (dict(stride=(2, 1), padding=1), (4, 3, 3, 3)),
    (dict(stride=2, padding=3), (4, 3, 3, 3)),
    (dict(dilation=2, padding=2), (4, 3, 3, 3)),
    (dict(groups=3, padding=1), (6, 1, 3, 3)),
    (dict(padding=3), (4, 3, 3, 3)),
    (dict(padding=1), (4, 3, 5, 5)),
])
def test_refuses_what_it_cannot_compute(kwargs, wshape):
    x = np.zeros((1, 3, 8, 8), np.float32)
    w = np.zeros(wshape, np.float32)
    with pytest.raises(ValueError, match="algorithm='winograd' needs a 3x3 kernel"):
        fastconv.conv2d(x, w, algorithm="winograd", **kwargs)
    with pytest.raises(ValueError, match="algorithm='winograd' needs a 3x3 kernel"):
        fastconv.conv_transpose2d(x, np.zeros((3, 4, 3, 3), np.float32), stride=3, algorithm="winograd")


# ---- 3x3 at stride 2, by input phase (csrc/conv_winograd_s2.c) ----------------------------------

# (N, C, H, W, K, padding)
CASES_S2 = [
    (2, 8, 16, 16, 16, 1),            # whole 4x4 tiles of outputs (8x8)
    (2, 5, 11, 13, 13, 1),            # partial tiles; K not a multiple of the micro-kernel's rows
    (1, 3, 3, 3, 4, 0),               # one output
    (3, 4, 4, 6, 6, 1),               # a map smaller than a tile
    (2, 6, 9, 10, 7, 2),              # padding 2
    (2, 4, 12, 9, 5, ((0, 2), (2, 1))),  # asymmetric
    (9, 3, 12, 12, 4, 1),             # 36 tiles: blocks of tiles that span images, runs of 8 lanes
    (1, 1, 70, 66, 1, 1),             # one channel, 153 tiles: several blocks
    (2, 64, 28, 28, 24, 1),           # 14x14 outputs: 2x2 tiles (fewer products than 4x4 there)
    (2, 16, 56, 56, 24, 1),           # 28x28: 4x4 tiles, the whole 8-lane transposes
    (1, 4, 13, 9, 5, 1),              # 7x5 outputs
    # 64 tiles or fewer: the output channels as the lanes (csrc/conv_winograd_k.c); input channels
    # over chunks (32 a chunk at 81 positions), output channels over a partial block
    (2, 70, 15, 15, 19, 0),           # 4x4 tiles, 8 of them
    (1, 40, 27, 27, 21, 1),           # 2x2 tiles, 49: groups of tiles
]


def check_s2(case, dtype, rng, bias=True):
    N, C, H, W, K, padding = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    ra = dict(stride=(2, 2), pads=_pads(padding), dilation=(1, 1), groups=1)
    y = fastconv.conv2d(x, w, b, stride=2, padding=padding, algorithm="winograd")
    _bound_check(y, ref.conv_forward(x, w, b, **ra),
                 ref.conv_forward(np.abs(x), np.abs(w), None if b is None else np.abs(b), **ra), 9 * C, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES_S2, ids=case_id)
def test_winograd_s2_against_reference(case, dtype, rng):
    check_s2(case, dtype, rng, bias=case[0] % 2 == 0)


def test_winograd_s2_every_simd_level(simd_level, rng):
    for case in CASES_S2:
        for dtype in DTYPES:
            check_s2(case, dtype, rng)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(N=st.integers(1, 3), C=st.integers(1, 10), K=st.integers(1, 20), H=st.integers(1, 40),
       W=st.integers(1, 40), pads=st.tuples(*[st.integers(0, 2)] * 4), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**32 - 1))
def test_winograd_s2_property(N, C, K, H, W, pads, dtype, seed):
    t, b, left, right = pads
    if H + t + b < 3 or W + left + right < 3:
        return
    check_s2((N, C, H, W, K, ((t, b), (left, right))), dtype, np.random.default_rng(seed), bias=seed % 2 == 0)


def test_winograd_s2_threads_and_gradients(rng):
    """The same bits for any thread count (many tiles, and few: the output channels as the lanes);
    the gradients (no stride-2 Winograd) run auto's choice, which ConvPlan.algorithm shows."""
    for xs, ws in [((1, 40, 14, 14), (70, 40, 3, 3)), ((5, 12, 26, 30), (10, 12, 3, 3))]:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        outs = []
        for n in (1, 2, 3):
            with fastconv.threads(n):
                outs.append(fastconv.conv2d(x, w, stride=2, padding=1, algorithm="winograd"))
        for y in outs[1:]:
            np.testing.assert_array_equal(y, outs[0])
    plan = fastconv.ConvPlan(x.shape, w.shape, np.float32, stride=2, padding=1, algorithm="winograd")
    assert plan.algorithm["forward"] == "winograd" and "winograd" not in (plan.algorithm["grad_input"],
                                                                          plan.algorithm["grad_weight"])
    gy = rng.standard_normal(outs[0].shape).astype(np.float32)
    np.testing.assert_allclose(plan.grad_input(w, gy), fastconv.conv2d_grad_input(x.shape, w, gy, stride=2, padding=1),
                               rtol=1e-5, atol=1e-5)


def test_winograd_s2_error_and_auto(rng):
    """float32 against float64 within 4x direct's on ResNet-18's layer2 and layer3 (4x4 and 2x2 tiles),
    and over few tiles (layer3 at batch 1, layer4 at batch 4: the output channels as the lanes);
    auto takes it from 384 tiles over 64 or more channels each way and at most 2M transformed
    weights, or over 16 to 64 tiles with 64 or more channels each way (not for float64)."""
    for xs, ws in [((2, 64, 56, 56), (128, 64, 3, 3)), ((2, 128, 28, 28), (256, 128, 3, 3)),
                   ((1, 128, 28, 28), (256, 128, 3, 3)), ((4, 256, 14, 14), (512, 256, 3, 3))]:
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws) * np.sqrt(2 / (ws[1] * 9))
        ref64 = fastconv.conv2d(x, w, stride=2, padding=1, algorithm="direct")
        e = {a: np.abs(fastconv.conv2d(x.astype(np.float32), w.astype(np.float32), stride=2, padding=1, algorithm=a)
                       - ref64).max() / np.abs(ref64).max() for a in ("direct", "winograd")}
        assert e["winograd"] <= 4 * e["direct"], (xs, e)
    algo = lambda xs, ws, dtype=np.float32: fastconv.ConvPlan(xs, ws, dtype, stride=2, padding=1).algorithm
    assert algo((8, 64, 56, 56), (128, 64, 3, 3))["forward"] == "winograd"  # 392 tiles of 4x4
    assert algo((8, 128, 28, 28), (256, 128, 3, 3))["forward"] == "winograd"  # 392 tiles of 2x2
    assert algo((1, 128, 28, 28), (256, 128, 3, 3))["forward"] == "winograd"  # 49 tiles of 2x2
    assert algo((8, 256, 14, 14), (512, 256, 3, 3))["forward"] == "winograd"  # 32 tiles of 4x4
    for xs, ws, dtype in [((4, 64, 56, 56), (128, 64, 3, 3), np.float32),  # 196 tiles
                          ((1, 256, 14, 14), (512, 256, 3, 3), np.float32),  # 4 tiles
                          ((4, 32, 32, 32), (64, 32, 3, 3), np.float32),  # 64 tiles of 32 channels
                          ((4, 128, 28, 28), (256, 128, 3, 3), np.float32),
                          ((8, 32, 112, 112), (64, 32, 3, 3), np.float32),  # 32 channels
                          ((64, 256, 14, 14), (512, 256, 3, 3), np.float32),  # 10.6 M transformed weights
                          ((8, 64, 56, 56), (128, 64, 3, 3), np.float64)]:
        assert "winograd" not in algo(xs, ws, dtype).values(), (xs, ws)


def test_winograd_s2_tile_size():
    """4x4 tiles of outputs where they overrun the map no more than 2x2 ones would (by products in
    all), as the C code picks."""
    from fastconv._cpu.conv import _winograd_s2_size
    assert _winograd_s2_size(28, 28) == 4 and _winograd_s2_size(7, 7) == 4
    assert _winograd_s2_size(14, 14) == 2 and _winograd_s2_size(2, 6) == 2


# ---- 1-D: Winograd F(4, 3) (csrc/conv_winograd1d.c) ------------------------------------------------

# (N, C, L, K, taps, stride, dilation, padding)
CASES_1D = [
    (2, 5, 30, 7, 3, 1, 1, 1),       # 8 tiles per row; K not a multiple of the micro-kernel's rows
    (3, 4, 50, 10, 3, 1, 4, 4),      # dilation 4: 4 output phases (the TCN layer's form)
    (1, 3, 17, 9, 3, 1, 2, 2),       # phases of unequal lengths
    (2, 6, 40, 5, 11, 2, 1, 5),      # stride 2, 11 taps: 2 input phases of 2 pieces (the speech layer's)
    (2, 4, 25, 6, 7, 3, 1, 3),       # stride 3: by phase, F(4, 3), F(4, 2) and F(4, 2)
    (2, 8, 101, 16, 4, 2, 1, 0),     # an even kernel at stride 2, unpadded: F(4, 2) twice
    (1, 8, 33, 16, 5, 1, 1, 2),      # 5 taps: 2 pieces, the last 1 tap
    (2, 3, 20, 3, 2, 1, 1, 0),       # 2 taps: F(4, 2)
    (2, 5, 60, 6, 2, 1, 3, 3),       # 2 taps, dilation 3
    (2, 5, 13, 9, 6, 1, 2, 10),      # padding d (taps - 1)
    (1, 1, 5, 1, 2, 1, 1, 1),        # one channel, one tile
    (3, 17, 77, 33, 3, 2, 1, 1),     # 3 taps at stride 2: F(4, 2) and F(4, 1)
    (1, 16, 1000, 24, 3, 2, 1, 1),   # the same over several blocks of runs of tiles
    (2, 3, 60, 5, 3, 8, 1, 2),       # stride 8, 3 taps: the phases past the last tap left out
    (2, 4, 7, 4, 3, 1, 5, 10),       # dilation past the phases that hold outputs
    (1, 16, 1000, 24, 3, 1, 4, 4),   # several blocks of tiles
    (9, 3, 40, 4, 3, 1, 1, 1),       # blocks of tiles that span sequences
]


def case_id_1d(c):
    return "N{}C{}L{}K{}k{}s{}d{}p{}".format(*c)


def check_1d(case, dtype, rng, bias=True):
    N, C, L, K, S, s, d, p = case
    x = rng.standard_normal((N, C, L)).astype(dtype)
    w = rng.standard_normal((K, C, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    ra = dict(stride=(s,), pads=((p, p),), dilation=(d,), groups=1)
    y = fastconv.conv1d(x, w, b, stride=s, padding=p, dilation=d, algorithm="winograd")
    expected = ref.conv_forward(x, w, b, **ra)
    _bound_check(y, expected, ref.conv_forward(np.abs(x), np.abs(w), None if b is None else np.abs(b), **ra),
                 S * C, dtype)
    gy = rng.standard_normal(expected.shape).astype(dtype)
    gx = fastconv.conv1d_grad_input(x.shape, w, gy, stride=s, padding=p, dilation=d, algorithm="winograd")
    _bound_check(gx, ref.conv_grad_input(x.shape, w, gy, **ra),
                 ref.conv_grad_input(x.shape, np.abs(w), np.abs(gy), **ra), S * K, dtype)
    gw = fastconv.conv1d_grad_weight(x, w.shape, gy, stride=s, padding=p, dilation=d, algorithm="winograd")
    _bound_check(gw, ref.conv_grad_weight(x, w.shape, gy, **ra),
                 ref.conv_grad_weight(np.abs(x), w.shape, np.abs(gy), **ra), N * expected.shape[2], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES_1D, ids=case_id_1d)
def test_winograd_1d_against_reference(case, dtype, rng):
    check_1d(case, dtype, rng, bias=case[0] % 2 == 0)


def test_winograd_1d_every_simd_level(simd_level, rng):
    for case in CASES_1D:
        for dtype in DTYPES:
            check_1d(case, dtype, rng)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(N=st.integers(1, 4), C=st.integers(1, 9), K=st.integers(1, 20), L=st.integers(1, 90), S=st.integers(2, 12),
       strided=st.booleans(), step=st.integers(1, 5), pfrac=st.floats(0, 1), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**32 - 1))
def test_winograd_1d_property(N, C, K, L, S, strided, step, pfrac, dtype, seed):
    s, d = (step, 1) if strided else (1, step)
    p = int(pfrac * d * (S - 1))
    if L + 2 * p < d * (S - 1) + 1:
        with pytest.raises(ValueError):
            fastconv.conv1d(np.zeros((N, C, L), dtype), np.zeros((K, C, S), dtype), stride=s, padding=p, dilation=d,
                            algorithm="winograd")
        return
    check_1d((N, C, L, K, S, s, d, p), dtype, np.random.default_rng(seed), bias=seed % 2 == 0)


def test_winograd_1d_threads_do_not_change_results(rng):
    x = rng.standard_normal((5, 12, 300)).astype(np.float32)
    w = rng.standard_normal((10, 12, 3)).astype(np.float32)
    gy = rng.standard_normal((5, 10, 300)).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        with fastconv.threads(n):
            outs.append((fastconv.conv1d(x, w, padding=2, dilation=2, algorithm="winograd"),
                         fastconv.conv1d_grad_input(x.shape, w, gy, padding=2, dilation=2, algorithm="winograd")))
    for y, gx in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        np.testing.assert_array_equal(gx, outs[0][1])


def test_winograd_1d_float32_error_within_4x_direct():
    """Random and ReLU'd data on the sweep's TCN and speech layers (smaller): the forward and the
    input gradient within 4x of direct's float32 error against float64 (bench/RESULTS.md)."""
    rng = np.random.default_rng(5)
    for xs, ws, kw in [((2, 64, 300), (64, 64, 3), dict(padding=4, dilation=4)),
                       ((1, 64, 400), (96, 64, 11), dict(stride=2, padding=5))]:
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws) * np.sqrt(2 / (ws[1] * ws[2]))
        for data in (x, np.maximum(x, 0)):
            exact = fastconv.conv1d(data, w, **kw)
            gy = rng.standard_normal(exact.shape)
            ops = {"forward": lambda a, v: fastconv.conv1d(v[0], v[1], algorithm=a, **kw)}
            if kw.get("stride", 1) == 1:
                ops["grad_input"] = lambda a, v: fastconv.conv1d_grad_input(xs, v[1], v[2], algorithm=a, **kw)
            for name, op in ops.items():
                ref64 = op("direct", (data, w, gy))
                e = {a: np.abs(op(a, (data.astype(np.float32), w.astype(np.float32), gy.astype(np.float32)))
                               - ref64).max() / np.abs(ref64).max() for a in ("direct", "winograd")}
                assert e["winograd"] <= 4 * e["direct"], (name, xs, e)


def test_winograd_1d_auto():
    """auto: float32 layers where it saves 1.8x of the multiplies or more, with 64 or more channels
    each way over 128 or more tiles, or 1.3x or more with 128 channels over 500 tiles; the forward
    and (stride 1) the input gradient."""
    tcn = fastconv.ConvPlan((8, 128, 1000), (128, 128, 3), np.float32, padding=4, dilation=4)
    assert tcn.algorithm["forward"] == tcn.algorithm["grad_input"] == "winograd"
    assert tcn.algorithm["grad_weight"] != "winograd"
    speech = fastconv.ConvPlan((4, 128, 1600), (256, 128, 11), np.float32, stride=2, padding=5)
    assert speech.algorithm["forward"] == "winograd" and speech.algorithm["grad_input"] != "winograd"
    k3s2 = fastconv.ConvPlan((1, 512, 4000), (512, 512, 3), np.float32, stride=2, padding=1)  # 1.33x, 500 tiles
    assert k3s2.algorithm["forward"] == "winograd"
    for args, kw in [(((8, 128, 1000), (128, 128, 3)), dict(dtype=np.float64, padding=1)),  # float64
                     (((1, 256, 2000), (256, 256, 3)), dict(stride=2, padding=1)),  # 1.33x over 250 tiles
                     (((4, 64, 4000), (64, 64, 3)), dict(stride=2, padding=1)),  # 1.33x over 64 channels
                     (((2, 256, 4000), (256, 256, 3)), dict(stride=3, padding=1)),  # 3 taps at stride 3: none fewer
                     (((16, 128, 50), (128, 128, 5)), dict(padding=2)),  # 5 taps: 1.67x fewer, 208 tiles
                     (((32, 32, 100), (32, 32, 3)), dict(padding=1)),  # few channels
                     (((1, 256, 100), (256, 256, 3)), dict(padding=1))]:  # 25 tiles
        dtype = kw.pop("dtype", np.float32)
        assert "winograd" not in fastconv.ConvPlan(*args, dtype, **kw).algorithm.values(), args


def test_winograd_1d_multiplies():
    """The count auto's rule uses, as csrc/conv_winograd1d.c computes: by phase F(4, r) (r + 3 for a
    phase's r taps) where no phase has more than 3, else pieces of F(4, 3)."""
    from fastconv._cpu.conv import _winograd1d_multiplies
    assert _winograd1d_multiplies(3, 1) == 6
    assert _winograd1d_multiplies(2, 1) == 5
    assert _winograd1d_multiplies(3, 2) == 5 + 4
    assert _winograd1d_multiplies(7, 3) == 6 + 5 + 5
    assert _winograd1d_multiplies(3, 8) == 4 + 4 + 4  # phases 3-7 hold no tap
    assert _winograd1d_multiplies(5, 1) == 12  # pieces: 3 taps and 2 (F(4, 3) each)
    assert _winograd1d_multiplies(11, 2) == 24


@pytest.mark.parametrize("kwargs, wshape", [
    (dict(stride=2, dilation=2, padding=2), (4, 3, 3)),
    (dict(groups=3, padding=1), (6, 1, 3)),
    (dict(padding=3), (4, 3, 3)),     # past d (taps - 1)
    (dict(padding=0), (4, 3, 1)),     # one tap
    (dict(stride=9, padding=1), (4, 3, 3)),
])
def test_winograd_1d_refuses_what_it_cannot_compute(kwargs, wshape):
    with pytest.raises(ValueError, match="or a 1-D kernel of 2 or more taps"):
        fastconv.conv1d(np.zeros((1, 3, 40), np.float32), np.zeros(wshape, np.float32), algorithm="winograd", **kwargs)


def test_winograd_1d_conv2d_of_one_row(rng):
    """A conv2d over one row with a 1 x k kernel is a 1-D layer: it takes the 1-D Winograd."""
    x = rng.standard_normal((2, 6, 1, 50)).astype(np.float32)
    w = rng.standard_normal((5, 6, 1, 3)).astype(np.float32)
    np.testing.assert_allclose(fastconv.conv2d(x, w, padding=(0, 1), algorithm="winograd"),
                               fastconv.conv2d(x, w, padding=(0, 1), algorithm="direct"), rtol=1e-4, atol=1e-4)


def test_conv_transpose2d_runs_it(rng):
    x = rng.standard_normal((2, 6, 7, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(fastconv.conv_transpose2d(x, w, padding=1, algorithm="winograd"),
                               fastconv.conv_transpose2d(x, w, padding=1, algorithm="direct"), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("N, C, H, W, K, d, p", [
    (1, 32, 28, 28, 32, 2, 2),     # DeepLab-like: four 14x14 phases
    (2, 24, 33, 31, 20, 4, 4),     # sizes not multiples of the dilation: phases of two sizes, two groups
    (3, 20, 13, 14, 18, 3, 3),
    (1, 32, 19, 22, 32, 2, 4),     # padding 2 d
])
def test_dilated_layers_run_winograd_on_their_phases(N, C, H, W, K, d, p, rng):
    """A dilated 3x3 layer is d x d undilated layers on the phase sub-images of its input: auto
    runs those with Winograd (float32), the outputs interleaved back; all three operations against
    the float64 reference."""
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    plan = fastconv.ConvPlan(x.shape, w.shape, np.float32, padding=p, dilation=d)
    assert plan.algorithm["forward"] == "winograd" and plan.algorithm["grad_input"] == "winograd"
    assert "winograd" not in fastconv.ConvPlan(x.shape, w.shape, np.float64, padding=p, dilation=d).algorithm.values()
    ra = dict(stride=(1, 1), pads=((p, p), (p, p)), dilation=(d, d), groups=1)
    y = plan.forward(x, w)
    _bound_check(y, ref.conv_forward(x, w, None, **ra), ref.conv_forward(np.abs(x), np.abs(w), None, **ra),
                 9 * C, np.float32)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    _bound_check(plan.grad_input(w, gy), ref.conv_grad_input(x.shape, w, gy, **ra),
                 ref.conv_grad_input(x.shape, np.abs(w), np.abs(gy), **ra), 9 * K, np.float32)
    _bound_check(plan.grad_weight(x, gy), ref.conv_grad_weight(x, w.shape, gy, **ra),
                 ref.conv_grad_weight(np.abs(x), w.shape, np.abs(gy), **ra), N * y.shape[2] * y.shape[3],
                 np.float32)
    # the public functions take the same plan
    np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=p, dilation=d), y)
