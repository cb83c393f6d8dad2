"""Recurrent layers on the GPU: the CPU core's rnn_forward / rnn_backward,
same arguments (geom (T, B, I, H, xt, xb, yt, yb, cell) as fastconv.rnn's).

The input projection of all steps is one cuBLAS GEMM (into the gates
buffer, time-major); each step is then one GEMM h_{t-1} W_hh^T (straight
to cuBLAS, _blas.gemm_rows) and one fused gate kernel (rnn.cu) that writes
the activations over the projection.  Both are prepared once per sequence
(_blas.gemm_rows, _launch.prepare), so a step costs the host two calls: the
chain of small steps waits on the host, not on the device.
The backward runs the same in reverse (gate kernel, then dh_{t-1} = dgates_t
W_hh) and forms dX, dW_ih, dW_hh as three GEMMs over all steps."""
from .._arrays import get_array_module
from ._blas import gemm_rows
from ._launch import STEP, prepare

_TANH, _RELU, _LSTM, _GRU = 0, 1, 2, 3


def _time_major(xp, a, T, B, n, st, sb):
    """a's (T, B, n) view from its step and row strides (in elements)."""
    isz = a.itemsize
    return xp.lib.stride_tricks.as_strided(a, (T, B, n), (st * isz, sb * isz, isz))


def rnn_forward(y, gates, cell, hn, x, h0, c0, w_ih, w_hh, bias, bias_hn, geom, nthreads=None):
    """y, gates, cell, hn (OUT); the rest IN (see the CPU core's fc_rnn_forward)."""
    T, B, I, H, xt, xb, yt, yb, kind = geom
    xp = get_array_module(x)
    G = w_ih.shape[0] // H
    xw = gates.reshape(T * B, G * H)
    xp.matmul(_time_major(xp, x, T, B, I, xt, xb).reshape(T * B, I), w_ih.T, out=xw)
    if bias is not None:
        xw += bias
    y_tm = _time_major(xp, y, T, B, H, yt, yb)
    hs = y_tm if y_tm.flags.c_contiguous else xp.empty((T, B, H), y.dtype)
    hw = xp.empty((B, G * H), x.dtype)
    rec_h0 = None if h0 is None else gemm_rows(h0[None], w_hh, hw, trans_b=True)
    rec = gemm_rows(hs, w_hh, hw, trans_b=True)  # rec(t - 1): hw = h_{t-1} W_hh^T

    def gate(hw):
        if kind == _LSTM:
            return prepare("rnn.cu", "rnn_lstm_forward", x.dtype, B * H, gates, cell, hs, hw, c0, STEP, B, H)
        if kind == _GRU:
            return prepare("rnn.cu", "rnn_gru_forward", x.dtype, B * H, gates, hn, hs, hw, h0, bias_hn, STEP, B, H)
        return prepare("rnn.cu", "rnn_elman_forward", x.dtype, B * H, hs, gates, hw, kind == _RELU, STEP, B, H)

    step = gate(hw)
    if rec_h0 is None:
        gate(None)(0)
    else:
        rec_h0(0)
        step(0)
    for t in range(1, T):
        rec(t - 1)
        step(t)
    if hs is not y_tm:
        y_tm[...] = hs


def rnn_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT, gates, cell, hn,
                 x, y, h0, c0, w_ih, w_hh, geom, nthreads=None):
    """Gradients (OUT, added into) then workspaces then IN (see the CPU core's
    fc_rnn_backward; dhn is not used here)."""
    T, B, I, H, xt, xb, yt, yb, kind = geom
    xp = get_array_module(x)
    G = w_ih.shape[0] // H
    hs = xp.ascontiguousarray(_time_major(xp, y, T, B, H, yt, yb))
    dy = None if dy is None else xp.ascontiguousarray(_time_major(xp, dy, T, B, H, yt, yb))
    # the W_hh side of the gate gradients: GRU's n rows are scaled by r
    dgh = xp.empty_like(dgates) if kind == _GRU else dgates
    dh_dir = xp.zeros((B, H), x.dtype) if kind == _GRU else None
    dc = None
    if kind == _LSTM:
        dc = xp.zeros((B, H), x.dtype) if dcT is None else dcT.copy()
    buf = xp.empty((B, H), x.dtype)

    def gate(rec):  # rec: what reaches h_t through step t + 1 (for t = T - 1: the loss gradient at h_T)
        if kind == _LSTM:
            return prepare("rnn.cu", "rnn_lstm_backward", x.dtype, B * H, dgates, dc, gates, cell, c0, rec, dy, STEP,
                           B, H)
        if kind == _GRU:
            return prepare("rnn.cu", "rnn_gru_backward", x.dtype, B * H, dgates, dgh, dh_dir, gates, hn, hs, h0, rec,
                           dy, STEP, B, H)
        return prepare("rnn.cu", "rnn_elman_backward", x.dtype, B * H, dgates, hs, rec, dy, kind == _RELU, STEP, B, H)

    step, rec = gate(buf), gemm_rows(dgh, w_hh, buf)  # rec(t): buf = dgates_h[t] W_hh
    gate(dhT)(T - 1)
    rec(T - 1)
    for t in range(T - 2, -1, -1):
        step(t)
        rec(t)
    rec = buf
    if dh0 is not None:
        dh0 += rec if dh_dir is None else rec + dh_dir
    if dc0 is not None:
        dc0 += dc
    dg = dgates.reshape(T * B, G * H)
    dg_h = dgh.reshape(T * B, G * H)
    if dx is not None:
        _time_major(xp, dx, T, B, I, xt, xb)[...] += xp.matmul(dg, w_ih).reshape(T, B, I)
    dw_ih += xp.matmul(dg.T, xp.ascontiguousarray(_time_major(xp, x, T, B, I, xt, xb)).reshape(T * B, I))
    dw_hh += xp.matmul(dg_h[B:].T, hs[:-1].reshape((T - 1) * B, H))
    if h0 is not None:
        dw_hh += xp.matmul(dgh[0].T, h0)
    if db_ih is not None:
        db_ih += dg.sum(axis=0)
    if db_hh is not None:
        db_hh += dg_h.sum(axis=0)
