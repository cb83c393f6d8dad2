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


# ---- pooling ------------------------------------------------------------------------


def pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size, from its definition."""
    eff = d * (k - 1) + 1
    if ceil_mode:
        out = -(-(n + 2 * p - eff) // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
    else:
        out = (n + 2 * p - eff) // s + 1
    return out


def _pool_windows(shape, k, s, p, d, ceil_mode):
    """For every output position: its window's in-input taps, in row-major
    order, as (flat index, row, column) lists; plus the window bounds."""
    H, W = shape
    P = pool_out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    Q = pool_out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    wins = {}
    for i in range(P):
        for j in range(Q):
            taps = []
            for r in range(k[0]):
                for c in range(k[1]):
                    ih, iw = i * s[0] - p[0] + r * d[0], j * s[1] - p[1] + c * d[1]
                    if 0 <= ih < H and 0 <= iw < W:
                        taps.append((ih * W + iw, ih, iw))
            wins[i, j] = taps
    return P, Q, wins


def max_pool(x, k, s, p, d, ceil_mode):
    """(values, indices) of max pooling over the last two axes, scanning each
    window like PyTorch's CPU kernel: val > max or isnan(val) replaces."""
    x = np.asarray(x, np.float64)
    lead, (H, W) = x.shape[:-2], x.shape[-2:]
    planes = x.reshape(-1, H * W)
    P, Q, wins = _pool_windows((H, W), k, s, p, d, ceil_mode)
    y = np.empty((planes.shape[0], P, Q))
    idx = np.empty((planes.shape[0], P, Q), np.int64)
    for (i, j), taps in wins.items():
        best = np.full(planes.shape[0], -np.inf)
        best_i = np.full(planes.shape[0], taps[0][0] if taps else -1, np.int64)  # -1: no input
        for flat, _, _ in taps:
            v = planes[:, flat]
            upd = (v > best) | np.isnan(v)
            best = np.where(upd, v, best)
            best_i = np.where(upd, flat, best_i)
        y[:, i, j], idx[:, i, j] = best, best_i
    return y.reshape(lead + (P, Q)), idx.reshape(lead + (P, Q))


def _avg_divisor(i, j, shape, k, s, p, count_include_pad):
    H, W = shape
    h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
    h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
    if count_include_pad:
        return (h1 - h0) * (w1 - w0)
    return (min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0))


def avg_pool(x, k, s, p, ceil_mode, count_include_pad):
    x = np.asarray(x, np.float64)
    lead, (H, W) = x.shape[:-2], x.shape[-2:]
    planes = x.reshape(-1, H * W)
    P, Q, wins = _pool_windows((H, W), k, s, p, (1, 1), ceil_mode)
    y = np.empty((planes.shape[0], P, Q))
    for (i, j), taps in wins.items():
        y[:, i, j] = planes[:, [t[0] for t in taps]].sum(axis=1) / _avg_divisor(
            i, j, (H, W), k, s, p, count_include_pad)
    return y.reshape(lead + (P, Q))


def max_pool_backward(gy, idx, input_shape):
    gy = np.asarray(gy, np.float64)
    H, W = input_shape[-2:]
    g = gy.reshape(-1, gy.shape[-2] * gy.shape[-1])
    ix = np.asarray(idx).reshape(g.shape)
    dx = np.zeros((g.shape[0], H * W))
    for n in range(g.shape[0]):
        keep = ix[n] >= 0
        np.add.at(dx[n], ix[n][keep], g[n][keep])
    return dx.reshape(input_shape)


def avg_pool_backward(gy, input_shape, k, s, p, ceil_mode, count_include_pad):
    gy = np.asarray(gy, np.float64)
    H, W = input_shape[-2:]
    g = gy.reshape(-1, gy.shape[-2], gy.shape[-1])
    P, Q, wins = _pool_windows((H, W), k, s, p, (1, 1), ceil_mode)
    dx = np.zeros((g.shape[0], H * W))
    for (i, j), taps in wins.items():
        share = g[:, i, j] / _avg_divisor(i, j, (H, W), k, s, p, count_include_pad)
        for flat, _, _ in taps:
            dx[:, flat] += share
    return dx.reshape(input_shape)
