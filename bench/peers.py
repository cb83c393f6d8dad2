"""Peer implementations, each built from what its library offers directly."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def numpy_im2col_conv2d(x, w, padding):
    """The lecture notes' NumPy convolution: im2col by sliding windows, one GEMM."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = sliding_window_view(xp, (R, S), axis=(2, 3))            # N, C, P, Q, R, S
    P, Q = cols.shape[2:4]
    cols = cols.transpose(1, 4, 5, 0, 2, 3).reshape(C * R * S, N * P * Q)
    y = w.reshape(K, -1) @ cols                                    # K, N*P*Q
    return y.reshape(K, N, P, Q).transpose(1, 0, 2, 3), cols


def numpy_im2col_conv2d_backward(x, w, gy, cols, padding):
    """Gradients with the same im2col: dW = dY col^T, dX = col2im(W^T dY)."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = gy.shape[2:]
    gy_mat = gy.transpose(1, 0, 2, 3).reshape(K, -1)
    dw = (gy_mat @ cols.T).reshape(w.shape)
    dcols = (w.reshape(K, -1).T @ gy_mat).reshape(C, R, S, N, P, Q)
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), x.dtype)
    for r in range(R):
        for s in range(S):
            dxp[:, :, r:r + P, s:s + Q] += dcols[:, r, s].transpose(1, 0, 2, 3)
    return dxp[:, :, padding:padding + H, padding:padding + W], dw
