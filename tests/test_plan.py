"""ConvPlan, the plan cache behind the public functions, and wisdom."""
import numpy as np
import pytest

import fastconv
from fastconv import _conv_plan, conv as conv_module


def _arrays(xs, ws, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)


@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plan_matches_the_functions_bit_for_bit(algorithm, dtype):
    x, w = _arrays((2, 6, 9, 8), (4, 3, 3, 2), dtype)
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    plan = fastconv.ConvPlan(x.shape, w.shape, dtype, algorithm=algorithm, **kw)
    bias = np.arange(4, dtype=dtype)
    y = fastconv.conv2d(x, w, bias, algorithm=algorithm, **kw)
    np.testing.assert_array_equal(plan.forward(x, w, bias), y)
    gy = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(plan.grad_input(w, gy),
                                  fastconv.conv2d_grad_input(x.shape, w, gy, algorithm=algorithm, **kw))
    np.testing.assert_array_equal(plan.grad_weight(x, gy),
                                  fastconv.conv2d_grad_weight(x, w.shape, gy, algorithm=algorithm, **kw))
    assert plan.output_shape == y.shape and plan.geometry.K == 4 and plan.geometry.sw == 1
    assert plan.algorithm == {op: algorithm for op in ("forward", "grad_input", "grad_weight")}


@pytest.mark.parametrize("x_shape, w_shape, expected", [
    ((8, 256, 14, 14), (512, 256, 3, 3), "im2col"),   # ResNet-18's layer4 downsampling, batch 8
    ((4, 128, 1600), (256, 128, 11), "im2col"),       # a speech layer, batch 4
    ((8, 64, 56, 56), (128, 64, 3, 3), "direct"),     # fewer weights: direct's tiles
    ((8, 128, 28, 28), (256, 128, 3, 3), "direct"),   # 295K weights in 2-D: direct (0.95-0.99)
    ((16, 128, 1600), (256, 128, 11), "direct"),      # many pixels
])
def test_auto_strided_forward(x_shape, w_shape, expected, monkeypatch):
    # the measured rule (bench/RESULTS.md): strided layers of many weights over a few thousand
    # pixels take the GEMM that reads W in place (the speech layers, float32, take the 1-D
    # Winograd before that rule: tests/test_winograd.py; here without it)
    monkeypatch.setenv("FASTCONV_WINOGRAD", "0")
    plan = fastconv.ConvPlan(x_shape, w_shape, np.float32, stride=2, padding=1)
    assert plan.algorithm["forward"] == expected


@pytest.mark.parametrize("dtype, x_shape, w_shape, expected", [
    (np.float64, (8, 512, 7, 7), (512, 512, 3, 3), "im2col"),     # 2.4M weights: 1.5x direct
    (np.float64, (32, 256, 14, 14), (256, 256, 3, 3), "im2col"),  # 590K, float64: any map
    (np.float64, (8, 128, 28, 28), (128, 128, 3, 3), "direct"),   # 147K: direct's tiles
    (np.float32, (8, 512, 7, 7), (512, 512, 3, 3), "im2col"),     # float32: 590K+ over few pixels
    (np.float32, (8, 256, 14, 14), (256, 256, 3, 3), "im2col"),
    (np.float32, (32, 256, 14, 14), (256, 256, 3, 3), "direct"),  # 6272 pixels: a tie, direct kept
])
def test_auto_stride_one_forward_of_many_weights(dtype, x_shape, w_shape, expected, monkeypatch):
    # the measured rule (src/fastconv/_cpu/conv.py): the GEMM reads W in place and the zero-padded
    # input; in float64 (direct's tiles hold half the lanes) from 262144 weights over any map, in
    # float32 from 524288 over at most 4096 pixels (without Winograd, which float32 would take here)
    monkeypatch.setenv("FASTCONV_WINOGRAD", "0")
    plan = fastconv.ConvPlan(x_shape, w_shape, dtype, padding=1)
    assert plan.algorithm["forward"] == expected


@pytest.mark.parametrize("pads", [((0, 1), (1, 2)),    # Keras 'same', even kernels
                                  ((0, 4), (3, 0)),    # trailing padding beyond the kernels' own reach
                                  ((2, 0), (0, 5))])
@pytest.mark.parametrize("algorithm", ["direct", "im2col", "fft"])
def test_asymmetric_padding_is_padding_then_a_valid_convolution(pads, algorithm):
    x, w = _arrays((2, 3, 7, 6), (5, 3, 2, 4), np.float64)
    plan = fastconv.ConvPlan(x.shape, w.shape, np.float64, padding=pads, algorithm=algorithm)
    padded = np.pad(x, ((0, 0), (0, 0)) + pads)
    expected = fastconv.conv2d(padded, w)
    np.testing.assert_allclose(plan.forward(x, w), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fastconv.conv2d(x, w, padding=pads, algorithm=algorithm), expected, rtol=1e-12,
                               atol=1e-12)
    assert plan.output_shape == expected.shape and plan.geometry.H == 7 and plan.geometry.W == 6
    gy = np.random.default_rng(1).standard_normal(expected.shape)
    # the gradient of pad-then-convolve, cropped back
    full = fastconv.conv2d_grad_input(padded.shape, w, gy)
    crop = (slice(None), slice(None), slice(pads[0][0], pads[0][0] + 7), slice(pads[1][0], pads[1][0] + 6))
    np.testing.assert_allclose(plan.grad_input(w, gy), full[crop], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(plan.grad_weight(x, gy), fastconv.conv2d_grad_weight(padded, w.shape, gy),
                               rtol=1e-12, atol=1e-12)
    x1 = x[:, :, 0]
    np.testing.assert_allclose(fastconv.conv1d(x1, w[:, :, 0], padding=(pads[1],), algorithm=algorithm),
                               fastconv.conv1d(np.pad(x1, ((0, 0), (0, 0), pads[1])), w[:, :, 0]), rtol=1e-12,
                               atol=1e-12)


def test_unbatched_and_1d_plans():
    x, w = _arrays((3, 10, 10), (4, 3, 3, 3))
    plan = fastconv.ConvPlan(x.shape, w.shape, np.float32, padding="same")
    np.testing.assert_array_equal(plan.forward(x, w), fastconv.conv2d(x, w, padding="same"))
    x1, w1 = _arrays((2, 3, 20), (4, 3, 5))
    plan1 = fastconv.ConvPlan(x1.shape, w1.shape, np.float32, stride=2)
    np.testing.assert_array_equal(plan1.forward(x1, w1), fastconv.conv1d(x1, w1, stride=2))


def test_plan_checks_its_arrays():
    x, w = _arrays((2, 3, 8, 8), (4, 3, 3, 3))
    plan = fastconv.ConvPlan(x.shape, w.shape, np.float32)
    with pytest.raises(ValueError, match="x must have shape"):
        plan.forward(x[:1], w)
    with pytest.raises(TypeError, match="w must have dtype float32"):
        plan.forward(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        plan.grad_input(w, np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="algorithm must be 'auto', 'measure'"):
        fastconv.ConvPlan(x.shape, w.shape, np.float32, algorithm="toom-cook")
    with pytest.raises(ValueError, match="algorithm='winograd' needs a 3x3 kernel with stride 1"):
        fastconv.ConvPlan(x.shape, w.shape, np.float32, stride=3, algorithm="winograd")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        fastconv.ConvPlan(x.shape, w.shape, np.int32)
    with pytest.raises(ValueError, match="weight_shape must have 3 or 4 sizes"):
        fastconv.ConvPlan(x.shape, (4, 3), np.float32)
    with pytest.raises(ValueError, match="padding pairs"):
        fastconv.ConvPlan(x.shape, w.shape, np.float32, padding=((1, 1), 1))


def test_public_functions_reuse_a_cached_plan():
    conv_module._PLANS.clear()
    x, w = _arrays((1, 2, 6, 6), (3, 2, 3, 3))
    y = fastconv.conv2d(x, w, padding=1)
    assert len(conv_module._PLANS) == 1
    np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=1), y)
    assert len(conv_module._PLANS) == 1
    # unhashable arguments still work, uncached
    np.testing.assert_array_equal(fastconv.conv2d(x, w, padding=[1, 1]), y)
    assert len(conv_module._PLANS) == 1


def test_measure_chooses_once_and_wisdom_restores_the_choice(monkeypatch):
    x, w = _arrays((2, 4, 12, 12), (8, 4, 3, 3))
    _conv_plan._measured.clear()
    plan = fastconv.ConvPlan(x.shape, w.shape, np.float32, padding=1, algorithm="measure")
    assert set(plan.algorithm.values()) <= set(_conv_plan.ALGORITHMS)
    expected = fastconv.conv2d(x, w, padding=1)  # (Winograd, if measured fastest, rounds differently)
    np.testing.assert_allclose(plan.forward(x, w), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    wisdom = fastconv.export_wisdom()
    assert isinstance(wisdom, bytes)
    _conv_plan._measured.clear()

    def no_timing(*args):
        raise AssertionError("measured again although wisdom was imported")

    monkeypatch.setattr(_conv_plan, "_measure", no_timing)
    assert fastconv.import_wisdom(wisdom)["conv"] == 3
    again = fastconv.ConvPlan(x.shape, w.shape, np.float32, padding=1, algorithm="measure")
    assert again.algorithm == plan.algorithm


def test_import_wisdom_rejects_what_is_not_wisdom():
    with pytest.raises(ValueError, match="not fastconv wisdom"):
        fastconv.import_wisdom(b"{}")
    with pytest.raises(ValueError, match="not fastconv wisdom"):
        fastconv.import_wisdom("not json")
    with pytest.raises(TypeError, match="data must be"):
        fastconv.import_wisdom(42)


def test_cached_plans_do_not_stand_for_floats_or_bools():
    """2.0 == 2 == True as keys: such arguments take the checking path."""
    x, w = _arrays((1, 2, 6, 6), (3, 2, 3, 3))
    fastconv.conv2d(x, w, stride=1)
    with pytest.raises(TypeError, match="stride"):
        fastconv.conv2d(x, w, stride=1.0)
    with pytest.raises(TypeError, match="groups"):
        fastconv.conv2d(x, w, groups=True)
    fastconv.max_pool2d(x, 2)
    with pytest.raises(TypeError, match="kernel_size"):
        fastconv.max_pool2d(x, 2.0)
    fastconv.avg_pool2d(x, 2)
    with pytest.raises(TypeError, match="count_include_pad"):
        fastconv.avg_pool2d(x, 2, count_include_pad=1)


def test_pooling_repeats_are_the_first_call():
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(np.float32)
    for _ in range(2):
        y, idx = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(fastconv.max_pool2d(x, 3, 2, 1), y)
        assert idx.dtype == np.int64 and idx.shape == y.shape
        np.testing.assert_allclose(fastconv.avg_pool2d(x, 2), x[:, :, :8].reshape(2, 3, 4, 2, 4, 2).mean(axis=(3, 5)),
                                   rtol=1e-6)
        np.testing.assert_allclose(fastconv.global_avg_pool2d(x), x.mean(axis=(2, 3)), rtol=1e-6)
        np.testing.assert_allclose(fastconv.global_avg_pool2d(x, keepdims=True), x.mean(axis=(2, 3), keepdims=True),
                                   rtol=1e-6)
