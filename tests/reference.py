"""Plain float64 NumPy references for the kernels, written for clarity, not speed.

Convolutions are sums over kernel taps of strided slices of the padded input
(one einsum per tap and group); the gradients are the exact adjoints of that
sum, written the same way.  Nothing here shares code with fastconv.
"""
import numpy as np


def _window(start, stride, count):
    return slice(start, start + stride * (count - 1) + 1, stride)


def out_size(n, k, stride, pad_before, pad_after, dilation):
    return (n + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def conv_forward(x, w, bias=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """x (N, C, *spatial), w (K, C/groups, *kernel): cross-correlation, as torch."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    N, C = x.shape[:2]
    K, Cg = w.shape[:2]
    Kg = K // groups
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    out = tuple(out_size(x.shape[2 + i], w.shape[2 + i], stride[i], *pads[i], dilation[i]) for i in range(nd))
    y = np.zeros((N, K) + out)
    for tap in np.ndindex(*w.shape[2:]):
        sl = tuple(_window(tap[i] * dilation[i], stride[i], out[i]) for i in range(nd))
        for g in range(groups):
            patch = xp[(slice(None), slice(g * Cg, (g + 1) * Cg)) + sl]
            wt = w[(slice(g * Kg, (g + 1) * Kg), slice(None)) + tap]
            y[:, g * Kg:(g + 1) * Kg] += np.einsum("nc...,kc->nk...", patch, wt)
    if bias is not None:
        y += np.asarray(bias, np.float64).reshape((1, K) + (1,) * nd)
    return y


def conv_grad_input(input_shape, w, gy, stride, pads, dilation, groups):
    """Adjoint of conv_forward with respect to x."""
    w = np.asarray(w, np.float64)
    gy = np.asarray(gy, np.float64)
    nd = len(input_shape) - 2
    K, Cg = w.shape[:2]
    Kg = K // groups
    padded = tuple(input_shape[2 + i] + pads[i][0] + pads[i][1] for i in range(nd))
    dxp = np.zeros(tuple(input_shape[:2]) + padded)
    out = gy.shape[2:]
    for tap in np.ndindex(*w.shape[2:]):
        sl = tuple(_window(tap[i] * dilation[i], stride[i], out[i]) for i in range(nd))
        for g in range(groups):
            wt = w[(slice(g * Kg, (g + 1) * Kg), slice(None)) + tap]
            dxp[(slice(None), slice(g * Cg, (g + 1) * Cg)) + sl] += np.einsum(
                "nk...,kc->nc...", gy[:, g * Kg:(g + 1) * Kg], wt)
    crop = tuple(slice(pads[i][0], pads[i][0] + input_shape[2 + i]) for i in range(nd))
    return dxp[(slice(None), slice(None)) + crop]


def conv_grad_weight(x, weight_shape, gy, stride, pads, dilation, groups):
    """Adjoint of conv_forward with respect to w."""
    x = np.asarray(x, np.float64)
    gy = np.asarray(gy, np.float64)
    nd = x.ndim - 2
    K, Cg = weight_shape[:2]
    Kg = K // groups
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    out = gy.shape[2:]
    dw = np.zeros(weight_shape)
    for tap in np.ndindex(*weight_shape[2:]):
        sl = tuple(_window(tap[i] * dilation[i], stride[i], out[i]) for i in range(nd))
        for g in range(groups):
            patch = xp[(slice(None), slice(g * Cg, (g + 1) * Cg)) + sl]
            gyg = gy[:, g * Kg:(g + 1) * Kg]
            dw[(slice(g * Kg, (g + 1) * Kg), slice(None)) + tap] = np.einsum(
                "nkt,nct->kc", gyg.reshape(gyg.shape[:2] + (-1,)), patch.reshape(patch.shape[:2] + (-1,)))
    return dw


def conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation):
    """torch.nn.functional.conv_transpose2d, w (C_in, C_out/groups, R, S), by its
    definition: y[n, o, i*stride + r*dilation - padding, ...] += x[n, c, i, ...] w[c, o, r, ...]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, Cin, H, W = x.shape
    Cin_g, Cout_g = Cin // groups, w.shape[1]
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1)
                 + output_padding[i] + 1 for i in range(2))
    yp = np.zeros((N, Cout_g * groups) + tuple(size[i] + 2 * padding[i] for i in range(2)))
    for r in range(w.shape[2]):
        for s in range(w.shape[3]):
            rows = _window(r * dilation[0], stride[0], H)
            cols = _window(s * dilation[1], stride[1], W)
            for g in range(groups):
                contrib = np.einsum("nchw,co->nohw", x[:, g * Cin_g:(g + 1) * Cin_g],
                                    w[g * Cin_g:(g + 1) * Cin_g, :, r, s])
                yp[:, g * Cout_g:(g + 1) * Cout_g, rows, cols] += contrib
    y = yp[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(1, -1, 1, 1)
    return y
