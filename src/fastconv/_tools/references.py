"""NumPy reference implementations: the peers `fastconv bench` always has.

Each is the straightforward vectorised NumPy way to compute the same thing
(what one writes without fastconv or PyTorch): convolution as im2col plus
one matrix product (NumPy's BLAS does the arithmetic), pooling over
`sliding_window_view` windows, recurrent layers as a Python loop over time
steps with one matrix product per step.  They compute the same outputs and
gradients as fastconv's functions (checked against them by
`tools/check_bench_references.py`), in the same dtype.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# ---- convolution: im2col + GEMM ----------------------------------------------------------------


def _as_2d(x, w):
    """conv1d operands as conv2d operands of height 1."""
    if x.ndim == 3:
        return x[:, :, None, :], w[:, :, None, :]
    return x, w


def conv_forward(x, w, stride, padding):
    """y = conv(x, w) (cross-correlation, no groups or dilation) and the
    im2col matrix (C*R*S, N*P*Q) the backward reuses."""
    nd = x.ndim - 2
    x2, w2 = _as_2d(x, w)
    K, C, R, S = w2.shape
    ph = padding if nd == 2 else 0
    sh = stride if nd == 2 else 1
    xp = np.pad(x2, ((0, 0), (0, 0), (ph, ph), (padding, padding)))
    win = sliding_window_view(xp, (R, S), axis=(2, 3))[:, :, ::sh, ::stride]   # N, C, P, Q, R, S
    N, _, P, Q = win.shape[:4]
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(C * R * S, N * P * Q)
    y = (w2.reshape(K, -1) @ cols).reshape(K, N, P, Q).transpose(1, 0, 2, 3)
    y = np.ascontiguousarray(y)
    return (y[:, :, 0, :] if nd == 1 else y), cols


def conv_backward(x, w, gy, cols, stride, padding):
    """(dx, dw) from the forward's im2col matrix: dw = dY cols^T and
    dx = col2im(W^T dY), the columns added back one kernel tap at a time."""
    nd = x.ndim - 2
    x2, w2 = _as_2d(x, w)
    gy2 = gy[:, :, None, :] if nd == 1 else gy
    N, C, H, W = x2.shape
    K, _, R, S = w2.shape
    P, Q = gy2.shape[2:]
    ph = padding if nd == 2 else 0
    sh = stride if nd == 2 else 1
    gy_mat = gy2.transpose(1, 0, 2, 3).reshape(K, -1)
    dw = (gy_mat @ cols.T).reshape(w2.shape)
    dcols = (w2.reshape(K, -1).T @ gy_mat).reshape(C, R, S, N, P, Q)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * padding), x.dtype)
    for r in range(R):
        for s in range(S):
            dxp[:, :, r:r + sh * (P - 1) + 1:sh, s:s + stride * (Q - 1) + 1:stride] += \
                dcols[:, r, s].transpose(1, 0, 2, 3)
    dx = dxp[:, :, ph:ph + H, padding:padding + W]
    if nd == 1:
        return dx[:, :, 0, :], dw[:, :, 0, :]
    return dx, dw


# ---- pooling: sliding windows ------------------------------------------------------------------


def _windows(x, k, s, p, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else x
    return sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]    # N, C, P, Q, k, k


def max_pool_forward(x, k, s, p):
    return _windows(x, k, s, p, -np.inf).max(axis=(-2, -1))


def max_pool_forward_backward(x, k, s, p, gy):
    """y and dx: each window's first maximum receives its output's gradient."""
    win = _windows(x, k, s, p, -np.inf)
    N, C, P, Q = win.shape[:4]
    flat = win.reshape(N, C, P, Q, k * k)
    arg = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, arg[..., None], -1)[..., 0]
    dxp = np.zeros((N, C, x.shape[2] + 2 * p, x.shape[3] + 2 * p), x.dtype)
    for t in range(k * k):  # one kernel tap at a time: its outputs hit distinct inputs
        r, c = divmod(t, k)
        dxp[:, :, r:r + s * (P - 1) + 1:s, c:c + s * (Q - 1) + 1:s] += np.where(arg == t, gy, 0)
    return y, dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]


def avg_pool_forward(x, k, s, p):
    """Window means, zero padding counted (count_include_pad=True)."""
    return _windows(x, k, s, p, 0).mean(axis=(-2, -1), dtype=x.dtype)


def avg_pool_backward(x_shape, k, s, p, gy, dtype):
    N, C, H, W = x_shape
    P, Q = gy.shape[2:]
    g = gy / dtype.type(k * k)
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype)
    for r in range(k):
        for c in range(k):
            dxp[:, :, r:r + s * (P - 1) + 1:s, c:c + s * (Q - 1) + 1:s] += g
    return dxp[:, :, p:p + H, p:p + W]


# ---- recurrent layers: a loop over time steps --------------------------------------------------


def _sigmoid(a):
    return 0.5 * (np.tanh(0.5 * a) + 1)  # no overflow for large |a|


_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def rnn_forward(kind, x, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.LSTM / GRU / RNN (tanh) over x (T, B, I) from zero states:
    (y (T, B, H), what rnn_backward needs)."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    h = np.zeros((B, H), x.dtype)
    c = np.zeros((B, H), x.dtype)
    xw = (x.reshape(T * B, -1) @ w_ih.T + b_ih).reshape(T, B, -1)   # every step's input projection
    y = np.empty((T, B, H), x.dtype)
    saved = []
    for t in range(T):
        hw = h @ w_hh.T + b_hh
        if kind == "lstm":
            a = xw[t] + hw
            i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 3 * H:])
            g = np.tanh(a[:, 2 * H:3 * H])
            c_prev, c = c, f * c + i * g
            tc = np.tanh(c)
            saved.append((h, c_prev, i, f, g, o, tc))
            h = o * tc
        elif kind == "gru":
            r = _sigmoid(xw[t, :, :H] + hw[:, :H])
            z = _sigmoid(xw[t, :, H:2 * H] + hw[:, H:2 * H])
            n = np.tanh(xw[t, :, 2 * H:] + r * hw[:, 2 * H:])
            saved.append((h, r, z, n, hw[:, 2 * H:]))
            h = (1 - z) * n + z * h
        else:
            saved.append(())
            h = np.tanh(xw[t] + hw)
        y[t] = h
    return y, saved


def rnn_backward(kind, x, w_ih, w_hh, y, saved, gy):
    """Backpropagation through time for rnn_forward with loss gradient gy on
    every output: (dx, dw_ih, dw_hh, db_ih, db_hh)."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    G = _GATES[kind]
    d_xw = np.empty((T, B, G * H), x.dtype)   # gradient of each step's input projection
    d_hw = np.empty((T, B, G * H), x.dtype)   # and of its recurrent projection
    dh = np.zeros((B, H), x.dtype)
    dc = np.zeros((B, H), x.dtype)
    for t in range(T - 1, -1, -1):
        dh = dh + gy[t]
        if kind == "lstm":
            _, c_prev, i, f, g, o, tc = saved[t]
            do = dh * tc
            dc = dc + dh * o * (1 - tc * tc)
            da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                                 do * o * (1 - o)], axis=1)
            dc = dc * f
            d_xw[t] = d_hw[t] = da
            carry = 0
        elif kind == "gru":
            h_prev, r, z, n, hn = saved[t]
            dn = dh * (1 - z) * (1 - n * n)
            dz = dh * (h_prev - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            d_xw[t] = np.concatenate([dr, dz, dn], axis=1)
            d_hw[t] = np.concatenate([dr, dz, dn * r], axis=1)
            carry = dh * z
        else:
            h = y[t]
            d_xw[t] = d_hw[t] = dh * (1 - h * h)
            carry = 0
        dh = carry + d_hw[t] @ w_hh   # h_{t-1}'s gradient: through W_hh, plus GRU's z * h_{t-1}
    h_prev_all = np.concatenate([np.zeros((1, B, H), x.dtype), y[:-1]]).reshape(T * B, H)
    dxw, dhw = d_xw.reshape(T * B, -1), d_hw.reshape(T * B, -1)
    dx = (dxw @ w_ih).reshape(x.shape)
    dw_ih = dxw.T @ x.reshape(T * B, -1)
    dw_hh = dhw.T @ h_prev_all
    return dx, dw_ih, dw_hh, dxw.sum(0), dhw.sum(0)
