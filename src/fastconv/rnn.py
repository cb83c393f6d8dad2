"""Recurrent layers with PyTorch's weight layout: RNN (tanh, relu), LSTM, GRU.

Shapes: x (T, B, I), or (B, T, I) with batch_first=True, or unbatched (T, I);
h0, c0 (B, H); w_ih (G*H, I); w_hh (G*H, H); b_ih, b_hh (G*H,) with G = 1 for
the RNN, 4 for the LSTM (gate rows i, f, g, o) and 3 for the GRU (r, z, n,
with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).  Weights therefore move
between fastconv and torch.nn.LSTM / GRU / RNN (weight_ih_l0, ...) unchanged.

The forward returns a cache holding what the backward needs (the inputs, the
gate activations and states it saved); the backward leaves the cache intact,
so it may run more than once.  h0 / c0 / biases may be None (zeros); the
backward then still returns the gradient with respect to the zero initial
state, and None for an absent bias.  CuPy arrays run on the GPU
(fastconv._gpu.rnn); the cache keeps their array module, and the backward
takes gradients of that module only.
"""
import numpy as np

from . import _threads
from . import _backend
from ._backend import get_array_module
from ._validation import as_float_array, contiguous, same_dtype

__all__ = [
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
]

_TANH, _RELU, _LSTM, _GRU = 0, 1, 2, 3
_GATES = {_TANH: 1, _RELU: 1, _LSTM: 4, _GRU: 3}
_NAMES = {_TANH: "rnn", _RELU: "rnn", _LSTM: "lstm", _GRU: "gru"}


class RecurrentCache:
    """What a recurrent backward needs from its forward (opaque to users)."""

    __slots__ = ("xp", "kind", "geom", "batch_first", "unbatched", "x", "y", "h0", "c0", "w_ih", "w_hh",
                 "has_b_ih", "has_b_hh", "gates", "cell", "hn")


def _as_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; received {type(value).__name__} {value!r}")
    return bool(value)


def _optional(a, name, shape, dtype, xp):
    if a is None:
        return None
    a = as_float_array(a, name, xp)
    if a.dtype != dtype:
        raise TypeError(f"{name} must have the dtype of x ({dtype}); received dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; received shape {a.shape}")
    return contiguous(a)


def _forward(kind, x, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_first):
    xp = get_array_module(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    batch_first = _as_bool(batch_first, "batch_first")
    x = as_float_array(x, "x", xp)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be 3-D {'(B, T, I)' if batch_first else '(T, B, I)'} or unbatched 2-D "
                         f"(T, I); received shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None] if not batch_first else x[None]
    if x.size == 0:
        raise ValueError(f"x must not be empty; received shape {x.shape}")
    x = contiguous(x)
    T, B = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
    I = x.shape[2]
    G = _GATES[kind]
    w_ih = as_float_array(w_ih, "w_ih", xp)
    w_hh = as_float_array(w_hh, "w_hh", xp)
    same_dtype(x, "x", w_ih, "w_ih")
    same_dtype(x, "x", w_hh, "w_hh")
    if w_ih.ndim != 2 or w_ih.shape[0] % G or w_ih.shape[0] == 0 or w_ih.shape[1] != I:
        raise ValueError(f"w_ih must have shape ({G} * H, I) = ({G} * H, {I}) for a {_NAMES[kind]} "
                         f"with input size {I}; received shape {w_ih.shape}")
    H = w_ih.shape[0] // G
    if w_hh.shape != (G * H, H):
        raise ValueError(f"w_hh must have shape {(G * H, H)} (hidden size {H} from w_ih); received shape {w_hh.shape}")
    w_ih, w_hh = contiguous(w_ih), contiguous(w_hh)
    b_ih = _optional(b_ih, "b_ih", (G * H,), x.dtype, xp)
    b_hh = _optional(b_hh, "b_hh", (G * H,), x.dtype, xp)
    state = (H,) if unbatched else (B, H)
    h0 = _optional(h0, "h0", state, x.dtype, xp)
    c0 = _optional(c0, "c0", state, x.dtype, xp) if kind == _LSTM else None
    if kind == _GRU:
        # b_ih + b_hh for r and z; b_in alone; b_hn separately (it is scaled by r)
        parts = [b for b in (b_ih, b_hh) if b is not None]
        bias = None
        if parts:
            bias = xp.zeros(G * H, x.dtype)
            for b in parts:
                bias[:2 * H] += b[:2 * H]
            if b_ih is not None:
                bias[2 * H:] = b_ih[2 * H:]
        bias_hn = None if b_hh is None else contiguous(b_hh[2 * H:])
    else:
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        bias_hn = None
    y = xp.empty((B, T, H) if batch_first else (T, B, H), x.dtype)
    gates = xp.empty((T, B, G * H), x.dtype)
    cell = xp.empty((T, B, H), x.dtype) if kind == _LSTM else None
    hn = xp.empty((T, B, H), x.dtype) if kind == _GRU else None
    isz = x.itemsize
    geom = (T, B, I, H, x.strides[1 if batch_first else 0] // isz, x.strides[0 if batch_first else 1] // isz,
            y.strides[1 if batch_first else 0] // isz, y.strides[0 if batch_first else 1] // isz, kind)
    _backend.kernels(xp).rnn_forward(y, gates, cell, hn, x, h0, c0, w_ih, w_hh, bias, bias_hn, geom, _threads.current())
    cache = RecurrentCache()
    cache.xp, cache.kind, cache.geom, cache.batch_first, cache.unbatched = xp, kind, geom, batch_first, unbatched
    cache.x, cache.y, cache.h0, cache.c0, cache.w_ih, cache.w_hh = x, y, h0, c0, w_ih, w_hh
    cache.has_b_ih, cache.has_b_hh = b_ih is not None, b_hh is not None
    cache.gates, cache.cell, cache.hn = gates, cell, hn
    h_T = (y[:, -1] if batch_first else y[-1]).copy()
    c_T = cell[-1].copy() if kind == _LSTM else None
    if unbatched:
        y = y[0] if batch_first else y[:, 0]
        h_T = h_T[0]
        c_T = None if c_T is None else c_T[0]
    return y, h_T, c_T, cache


def _backward(kind, grad_y, grad_hT, grad_cT, cache):
    if not isinstance(cache, RecurrentCache):
        raise TypeError(f"cache must be the cache returned by the forward; received {type(cache).__name__}")
    if cache.kind not in ((_TANH, _RELU) if kind == _TANH else (kind,)):
        raise ValueError(f"this cache comes from a {_NAMES[cache.kind]} forward, not a {_NAMES[kind]} one")
    x, y, xp = cache.x, cache.y, cache.xp
    get_array_module(grad_y, grad_hT, grad_cT, x)  # TypeError when their array type is not the cache's
    T, B, I, H = cache.geom[:4]
    G = _GATES[cache.kind]
    y_shape = (y[0] if cache.batch_first else y[:, 0]).shape if cache.unbatched else y.shape
    state = (H,) if cache.unbatched else (B, H)
    dy = _optional(grad_y, "grad_y", y_shape, x.dtype, xp)
    if dy is not None and cache.unbatched:
        dy = dy[None] if cache.batch_first else dy[:, None]
    dhT = _optional(grad_hT, "grad_hT", state, x.dtype, xp)
    dcT = _optional(grad_cT, "grad_cT", state, x.dtype, xp) if kind == _LSTM else None
    dx = xp.zeros_like(x)
    dh0 = xp.zeros((B, H), x.dtype)
    dc0 = xp.zeros((B, H), x.dtype) if kind == _LSTM else None
    dw_ih, dw_hh = xp.zeros_like(cache.w_ih), xp.zeros_like(cache.w_hh)
    db_ih = xp.zeros(G * H, x.dtype) if cache.has_b_ih else None
    db_hh = xp.zeros(G * H, x.dtype) if cache.has_b_hh else None
    dgates = xp.empty((T, B, G * H), x.dtype)
    dhn = xp.empty((T, B, H), x.dtype) if kind == _GRU else None
    _backend.kernels(xp).rnn_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT, cache.gates,
                       cache.cell, cache.hn, x, y, cache.h0, cache.c0, cache.w_ih, cache.w_hh, cache.geom,
                       _threads.current())
    if cache.unbatched:
        dx = dx[0] if cache.batch_first else dx[:, 0]
        dh0 = dh0[0]
        dc0 = None if dc0 is None else dc0[0]
    return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh


def _nonlinearity(nonlinearity):
    if nonlinearity == "tanh":
        return _TANH
    if nonlinearity == "relu":
        return _RELU
    raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; received {nonlinearity!r}")


# ---- sequences -------------------------------------------------------------------------


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", batch_first=False):
    """Elman RNN over a sequence, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh);
    as torch.nn.RNN (one layer).  Returns (y, h_T, cache)."""
    y, h_T, _, cache = _forward(_nonlinearity(nonlinearity), x, h0, None, w_ih, w_hh, b_ih, b_hh, batch_first)
    return y, h_T, cache


def rnn_backward(grad_y, grad_hT, cache):
    """Backpropagation through time for rnn_forward: returns
    (dx, dh0, dw_ih, dw_hh, db_ih, db_hh).  grad_y or grad_hT may be None."""
    dx, dh0, _, dw_ih, dw_hh, db_ih, db_hh = _backward(_TANH, grad_y, grad_hT, None, cache)
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_first=False):
    """LSTM over a sequence, as torch.nn.LSTM (one layer; gates i, f, g, o).
    Returns (y, h_T, c_T, cache)."""
    return _forward(_LSTM, x, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_first)


def lstm_backward(grad_y, grad_hT, grad_cT, cache):
    """Backpropagation through time for lstm_forward: returns
    (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh).  Any of grad_y, grad_hT and
    grad_cT may be None (no loss on those outputs)."""
    return _backward(_LSTM, grad_y, grad_hT, grad_cT, cache)


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, batch_first=False):
    """GRU over a sequence, as torch.nn.GRU (one layer; gates r, z, n).
    Returns (y, h_T, cache)."""
    y, h_T, _, cache = _forward(_GRU, x, h0, None, w_ih, w_hh, b_ih, b_hh, batch_first)
    return y, h_T, cache


def gru_backward(grad_y, grad_hT, cache):
    """Backpropagation through time for gru_forward: returns
    (dx, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
    dx, dh0, _, dw_ih, dw_hh, db_ih, db_hh = _backward(_GRU, grad_y, grad_hT, None, cache)
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


# ---- single steps ------------------------------------------------------------------------


def _step_input(x):
    x = as_float_array(x, "x", get_array_module(x))
    if x.ndim not in (1, 2):
        raise ValueError(f"x must be 2-D (B, I) or unbatched 1-D (I,); received shape {x.shape}")
    return x[None]  # a sequence of one step


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step, as torch.nn.LSTMCell: returns (h', c', cache)."""
    _, h1, c1, cache = _forward(_LSTM, _step_input(x), h, c, w_ih, w_hh, b_ih, b_hh, False)
    return h1, c1, cache


def _step_cache(cache, forward):
    """cache, checked to be one step's (a cell forward's): a sequence's cache
    would give the gradient of its first step's input only, silently."""
    if isinstance(cache, RecurrentCache) and (cache.geom[0] != 1 or cache.batch_first):
        raise ValueError(f"cache must come from {forward} (one step); received the cache of a sequence of "
                         f"{cache.geom[0]} steps (use the sequence's backward)")
    return cache


def lstm_cell_backward(grad_h, grad_c, cache):
    """Gradients of one LSTM step: (dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)."""
    cache = _step_cache(cache, "lstm_cell_forward")
    dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh = _backward(_LSTM, None, grad_h, grad_c, cache)
    return dx[0], dh, dc, dw_ih, dw_hh, db_ih, db_hh


def gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh):
    """One GRU step, as torch.nn.GRUCell: returns (h', cache)."""
    _, h1, _, cache = _forward(_GRU, _step_input(x), h, None, w_ih, w_hh, b_ih, b_hh, False)
    return h1, cache


def gru_cell_backward(grad_h, cache):
    """Gradients of one GRU step: (dx, dh, dw_ih, dw_hh, db_ih, db_hh)."""
    cache = _step_cache(cache, "gru_cell_forward")
    dx, dh, _, dw_ih, dw_hh, db_ih, db_hh = _backward(_GRU, None, grad_h, None, cache)
    return dx[0], dh, dw_ih, dw_hh, db_ih, db_hh


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    """One Elman RNN step, as torch.nn.RNNCell: returns (h', cache)."""
    _, h1, _, cache = _forward(_nonlinearity(nonlinearity), _step_input(x), h, None, w_ih, w_hh, b_ih, b_hh,
                               False)
    return h1, cache


def rnn_cell_backward(grad_h, cache):
    """Gradients of one Elman RNN step: (dx, dh, dw_ih, dw_hh, db_ih, db_hh)."""
    cache = _step_cache(cache, "rnn_cell_forward")
    dx, dh, _, dw_ih, dw_hh, db_ih, db_hh = _backward(_TANH, None, grad_h, None, cache)
    return dx[0], dh, dw_ih, dw_hh, db_ih, db_hh
