"""Bad input to the convolution functions gets a ValueError or TypeError that
names the argument and shows what was received: never a crash, never a
silent wrong answer."""
import numpy as np
import pytest

import fastconv

X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)
X1 = np.zeros((2, 4, 16), np.float32)
W1 = np.zeros((6, 4, 3), np.float32)
GY = np.zeros((2, 6, 6, 6), np.float32)


@pytest.mark.parametrize("call, exc, match", [
    # dtypes
    (lambda: fastconv.conv2d(X.astype(np.int32), W), TypeError, r"x must have dtype float32 or float64; received dtype int32"),
    (lambda: fastconv.conv2d(X.astype(np.float16), W), TypeError, r"received dtype float16"),
    (lambda: fastconv.conv2d(X.astype(np.complex64), W), TypeError, r"x must have dtype"),
    (lambda: fastconv.conv2d(X, W.astype(np.float64)), TypeError, r"w must have the dtype of x \(float32\); received dtype float64"),
    (lambda: fastconv.conv2d(X, W, bias=np.zeros(6)), TypeError, r"bias must have the dtype of x"),
    (lambda: fastconv.conv2d(X, W, algorithm="toom-cook"), ValueError,
     r"algorithm must be 'auto', 'measure', 'direct', 'im2col', 'fft' or 'winograd'; received 'toom-cook'"),
    (lambda: fastconv.conv2d(X, W, algorithm=None), ValueError, r"algorithm must be"),
    # ranks and channels
    (lambda: fastconv.conv2d(X[0, 0], W), ValueError, r"x must be 3 or 4-D .*received shape \(8, 8\)"),
    (lambda: fastconv.conv2d(X, W[0]), ValueError, r"w must be 4-D .*received shape \(4, 3, 3\)"),
    (lambda: fastconv.conv1d(X, W1), ValueError, r"x must be 2 or 3-D"),
    (lambda: fastconv.conv2d(X, np.zeros((6, 3, 3, 3), np.float32)), ValueError, r"w expects 3 input channels .* the input has 4"),
    (lambda: fastconv.conv2d(X, W, groups=3), ValueError, r"input channels \(4\) must be divisible by groups \(3\)"),
    (lambda: fastconv.conv2d(X, np.zeros((5, 2, 3, 3), np.float32), groups=2), ValueError, r"output channels, w.shape\[0\] \(5\), must be divisible by groups \(2\)"),
    (lambda: fastconv.conv2d(X, W, groups=0), ValueError, r"groups must be >= 1; received 0"),
    (lambda: fastconv.conv2d(X, W, groups=1.5), TypeError, r"groups must be an int; received float 1.5"),
    (lambda: fastconv.conv2d(X, W, bias=np.zeros(5, np.float32)), ValueError, r"bias must have shape \(6,\)"),
    # geometry
    (lambda: fastconv.conv2d(X, W, stride=0), ValueError, r"stride must be >= 1; received 0"),
    (lambda: fastconv.conv2d(X, W, stride=(1, -2)), ValueError, r"stride must be >= 1; received \(1, -2\)"),
    (lambda: fastconv.conv2d(X, W, stride=(1, 2, 3)), ValueError, r"stride must be an int or a sequence of 2 ints"),
    (lambda: fastconv.conv2d(X, W, stride="2"), TypeError, r"stride must be an int; received str"),
    (lambda: fastconv.conv2d(X, W, stride=True), TypeError, r"stride must be an int; received True"),
    (lambda: fastconv.conv2d(X, W, dilation=0), ValueError, r"dilation must be >= 1; received 0"),
    (lambda: fastconv.conv2d(X, W, padding=-1), ValueError, r"padding must be >= 0; received -1"),
    (lambda: fastconv.conv2d(X, W, padding="full"), ValueError, r"padding must be an int, a sequence of 2 ints, 'same' or 'valid' .*; received 'full'"),
    (lambda: fastconv.conv2d(X, W, padding="same", stride=2), ValueError, r"padding='same' needs stride 1"),
    (lambda: fastconv.conv2d(X, np.zeros((6, 4, 9, 3), np.float32)), ValueError, r"kernel size \(9, 3\) .* spans 9 along spatial axis 0, more than the padded input size 8"),
    (lambda: fastconv.conv2d(X, W, dilation=5), ValueError, r"spans 11 .* more than the padded input size 8"),
    # empty arrays
    (lambda: fastconv.conv2d(X[:0], W), ValueError, r"x must not be empty; received shape \(0, 4, 8, 8\)"),
    (lambda: fastconv.conv2d(X[:, :, :0], W), ValueError, r"x must not be empty"),
    (lambda: fastconv.conv2d(X, W[:0]), ValueError, r"w must not be empty"),
    # out=
    (lambda: fastconv.conv2d(X, W, out=np.zeros((2, 6, 6, 5), np.float32)), ValueError, r"out must have shape \(2, 6, 6, 6\); received shape \(2, 6, 6, 5\)"),
    (lambda: fastconv.conv2d(X, W, out=np.zeros((2, 6, 6, 6), np.float64)), TypeError, r"out must have dtype float32; received dtype float64"),
    (lambda: fastconv.conv2d(X, W, out=[0.0]), TypeError, r"out must be a numpy.ndarray; received list"),
    # gradients
    (lambda: fastconv.conv2d_grad_input((2, 4, 8), W, GY), ValueError, r"input_shape must have 4 entries"),
    (lambda: fastconv.conv2d_grad_input((2, 4, 8, 0), W, GY), ValueError, r"input_shape must contain positive sizes"),
    (lambda: fastconv.conv2d_grad_input(5, W, GY), TypeError, r"input_shape must be a sequence of 4 ints; received 5"),
    (lambda: fastconv.conv2d_grad_input((2, 4, 9, 8), W, GY), ValueError, r"grad_out must have the convolution's output shape \(2, 6, 7, 6\)"),
    (lambda: fastconv.conv2d_grad_input(X.shape, W, GY.astype(np.float64)), TypeError, r"w must have the dtype of grad_out"),
    (lambda: fastconv.conv2d_grad_weight(X, (6, 4, 3), GY), ValueError, r"weight_shape must have 4 entries"),
    (lambda: fastconv.conv2d_grad_weight(X, W.shape, GY[:, :5]), ValueError, r"grad_out must have the convolution's output shape \(2, 6, 6, 6\)"),
    (lambda: fastconv.conv2d_grad_weight(X, (6, 3, 3, 3), GY), ValueError, r"w expects 3 input channels"),
    (lambda: fastconv.conv1d_grad_input((2, 4, 16), W1, GY), ValueError, r"grad_out must be 3-D"),
    # sizes that overflow 64-bit indexing
    (lambda: fastconv.conv2d_grad_input((2**31, 2**31, 2**31, 3), W[:, :1], GY), ValueError, r"overflows the kernels' 64-bit sizes"),
    (lambda: fastconv.conv2d_grad_weight(X, (2**40, 4, 2**40, 3), GY), ValueError, r"overflows"),
    (lambda: fastconv.conv2d(X, W, padding=2**62), ValueError, r"padding is too large"),
    (lambda: fastconv.conv2d(X, W, padding=2**61), ValueError, r"overflows|too large"),
    (lambda: fastconv.conv1d(X1, W1, dilation=2**63), ValueError, r"dilation is too large"),
    # transpose
    (lambda: fastconv.conv_transpose2d(X, W), ValueError, r"w.shape\[0\] \(6\) must equal the input channels \(4\)"),
    (lambda: fastconv.conv_transpose2d(X, W.transpose(1, 0, 2, 3), output_padding=1), ValueError, r"output_padding must be smaller than stride or dilation"),
    (lambda: fastconv.conv_transpose2d(X, W.transpose(1, 0, 2, 3), padding=9), ValueError, r"the output would have size"),
    (lambda: fastconv.conv_transpose2d(X, W.transpose(1, 0, 2, 3), padding="same"), ValueError, r"padding must be an int or a pair"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_numpy_integer_arguments_and_lists_are_accepted():
    y = fastconv.conv2d(X, W, stride=np.int64(1), padding=[np.int32(1), 1], dilation=(1, 1), groups=np.int8(1))
    assert y.shape == (2, 6, 8, 8)
    y = fastconv.conv1d(X1.tolist(), W1.astype(np.float64))  # lists become float64 arrays
    assert y.dtype == np.float64 and y.shape == (2, 6, 14)


def test_cupy_like_arrays_are_refused_not_misread():
    class FakeCupy(np.ndarray):
        pass

    FakeCupy.__module__ = "cupy._core.core"
    a = np.zeros((1, 1, 4, 4), np.float32).view(FakeCupy)
    with pytest.raises(TypeError, match="cannot mix NumPy and CuPy"):
        fastconv.conv2d(a, np.zeros((1, 1, 3, 3), np.float32))
