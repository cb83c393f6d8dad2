"""Recurrent kernels: finite-difference gradients of every output against
every input and parameter, PyTorch agreement when installed, long sequences,
activation accuracy, layouts, thread splits and bad input."""
import numpy as np
import pytest

import fastconv
from fastconv._ext import _fastconv as _core

KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
G = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def params(kind, I, H, rng, dtype=np.float64, bias=True, scale=0.5):
    g = G[kind]
    w = [scale * rng.standard_normal((g * H, I)), scale * rng.standard_normal((g * H, H))]
    w += [scale * rng.standard_normal(g * H), scale * rng.standard_normal(g * H)] if bias else [None, None]
    return [None if a is None else a.astype(dtype) for a in w]


def forward(kind, x, h0, c0, w, batch_first):
    """(outputs, cache): outputs is the list of differentiable outputs."""
    if kind == "lstm":
        y, hT, cT, cache = fastconv.lstm_forward(x, h0, c0, *w, batch_first=batch_first)
        return [y, hT, cT], cache
    if kind == "gru":
        y, hT, cache = fastconv.gru_forward(x, h0, *w, batch_first=batch_first)
        return [y, hT], cache
    y, hT, cache = fastconv.rnn_forward(x, h0, *w, nonlinearity=kind[4:], batch_first=batch_first)
    return [y, hT], cache


def backward(kind, grads, cache):
    """(dx, dh0, dc0 or None, dw_ih, dw_hh, db_ih, db_hh)"""
    if kind == "lstm":
        return fastconv.lstm_backward(*grads, cache)
    if kind == "gru":
        dx, dh0, *rest = fastconv.gru_backward(*grads, cache)
    else:
        dx, dh0, *rest = fastconv.rnn_backward(*grads, cache)
    return (dx, dh0, None, *rest)


def loss(kind, x, h0, c0, w, bf, grads):
    outs, _ = forward(kind, x, h0, c0, w, bf)
    return sum(float(np.sum(o * g)) for o, g in zip(outs, grads) if g is not None)


@pytest.mark.parametrize("with_grad_y", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_by_finite_differences(kind, batch_first, with_state, with_grad_y, rng):
    T, B, I, H = 4, 3, 5, 6
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    w = params(kind, I, H, rng)
    h0 = rng.standard_normal((B, H)) if with_state else None
    c0 = rng.standard_normal((B, H)) if with_state and kind == "lstm" else None
    outs, cache = forward(kind, x, h0, c0, w, batch_first)
    grads = [rng.standard_normal(o.shape) for o in outs]
    if not with_grad_y:
        grads[0] = None  # loss on the final state(s) only
    dx, dh0, dc0, *dw = backward(kind, grads, cache)
    eps = 1e-6
    inputs = {"x": (x, dx)}
    if with_state:
        inputs["h0"] = (h0, dh0)
        if kind == "lstm":
            inputs["c0"] = (c0, dc0)
    for name, (val, grad) in inputs.items():
        u = rng.standard_normal(val.shape)
        args = {"x": x, "h0": h0, "c0": c0}
        plus, minus = dict(args), dict(args)
        plus[name], minus[name] = val + eps * u, val - eps * u
        fd = (loss(kind, plus["x"], plus["h0"], plus["c0"], w, batch_first, grads)
              - loss(kind, minus["x"], minus["h0"], minus["c0"], w, batch_first, grads)) / (2 * eps)
        assert np.isclose(np.sum(grad * u), fd, rtol=1e-6, atol=1e-8), name
    for i, (p, gp) in enumerate(zip(w, dw)):
        u = rng.standard_normal(p.shape)
        wp = list(w)
        wm = list(w)
        wp[i], wm[i] = p + eps * u, p - eps * u
        fd = (loss(kind, x, h0, c0, wp, batch_first, grads) - loss(kind, x, h0, c0, wm, batch_first, grads)) / (2 * eps)
        assert np.isclose(np.sum(gp * u), fd, rtol=1e-6, atol=1e-8), ["w_ih", "w_hh", "b_ih", "b_hh"][i]


@pytest.mark.parametrize("kind", KINDS)
def test_cells_match_one_step_sequences(kind, rng):
    B, I, H = 4, 3, 8
    w = params(kind, I, H, rng)
    x = rng.standard_normal((B, I))
    h = rng.standard_normal((B, H))
    c = rng.standard_normal((B, H))
    gh = rng.standard_normal((B, H))
    gc = rng.standard_normal((B, H))
    if kind == "lstm":
        h1, c1, cache = fastconv.lstm_cell_forward(x, h, c, *w)
        _, hT, cT, _ = fastconv.lstm_forward(x[None], h, c, *w)
        np.testing.assert_allclose(h1, hT)
        np.testing.assert_allclose(c1, cT)
        dx, dh, dc, *dw = fastconv.lstm_cell_backward(gh, gc, cache)
        _, _, _, seq = fastconv.lstm_forward(x[None], h, c, *w)
        ref = fastconv.lstm_backward(None, gh, gc, seq)
        np.testing.assert_allclose(dx, ref[0][0])
        np.testing.assert_allclose(dc, ref[2])
    elif kind == "gru":
        h1, cache = fastconv.gru_cell_forward(x, h, *w)
        np.testing.assert_allclose(h1, fastconv.gru_forward(x[None], h, *w)[1])
        dx, dh, *dw = fastconv.gru_cell_backward(gh, cache)
        ref = fastconv.gru_backward(None, gh, fastconv.gru_forward(x[None], h, *w)[2])
        np.testing.assert_allclose(dx, ref[0][0])
    else:
        nl = kind[4:]
        h1, cache = fastconv.rnn_cell_forward(x, h, *w, nonlinearity=nl)
        np.testing.assert_allclose(h1, fastconv.rnn_forward(x[None], h, *w, nonlinearity=nl)[1])
        dx, dh, *dw = fastconv.rnn_cell_backward(gh, cache)
        ref = fastconv.rnn_backward(None, gh, fastconv.rnn_forward(x[None], h, *w, nonlinearity=nl)[2])
        np.testing.assert_allclose(dx, ref[0][0])
    assert dx.shape == x.shape and dh.shape == h.shape
    # an unbatched step
    if kind == "lstm":
        hu, cu, _ = fastconv.lstm_cell_forward(x[0], h[0], c[0], *w)
        np.testing.assert_allclose(hu, fastconv.lstm_cell_forward(x[:1], h[:1], c[:1], *w)[0][0])


@pytest.mark.parametrize("kind", KINDS)
def test_layouts_unbatched_and_reuse_of_the_cache(kind, rng):
    T, B, I, H = 5, 4, 3, 7
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    w = params(kind, I, H, rng, np.float32)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    c0 = h0 + 1 if kind == "lstm" else None
    outs, cache = forward(kind, x, h0, c0, w, False)
    outs_bf, cache_bf = forward(kind, x.transpose(1, 0, 2).copy(), h0, c0, w, True)
    np.testing.assert_allclose(outs_bf[0], outs[0].transpose(1, 0, 2), rtol=1e-6)
    grads = [np.ones_like(o) for o in outs]
    g1 = backward(kind, grads, cache)
    g2 = backward(kind, grads, cache)  # the cache survives a backward
    for a, b in zip(g1, g2):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    gbf = backward(kind, [grads[0].transpose(1, 0, 2).copy()] + grads[1:], cache_bf)
    np.testing.assert_allclose(gbf[0], g1[0].transpose(1, 0, 2), rtol=1e-5, atol=1e-6)
    for a, b in zip(gbf[1:], g1[1:]):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # unbatched (T, I) equals a batch of one
    xu = x[:, 0]
    ou, cu = forward(kind, xu, h0[0], None if c0 is None else c0[0], w, False)
    ob, _ = forward(kind, x[:, :1], h0[:1], None if c0 is None else c0[:1], w, False)
    np.testing.assert_allclose(ou[0], ob[0][:, 0], rtol=1e-6)
    gu = backward(kind, [np.ones_like(o) for o in ou], cu)
    assert gu[0].shape == xu.shape and gu[1].shape == (H,)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("B", [3, 40])  # few rows: threads split units; many: threads split rows
def test_thread_count_and_split_do_not_change_results(kind, B, rng):
    T, I, H = 6, 5, 48
    x = rng.standard_normal((T, B, I))
    w = params(kind, I, H, rng)
    res = []
    for n in (1, 2, 3):
        with fastconv.threads(n):
            outs, cache = forward(kind, x, None, None, w, False)
            res.append((outs[0], backward(kind, [np.ones_like(o) for o in outs], cache)))
    for y, g in res[1:]:
        np.testing.assert_allclose(y, res[0][0], rtol=1e-12, atol=1e-12)
        for a, b in zip(g, res[0][1]):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_every_batch_size_against_the_reference(kind, simd_level, rng):
    """Batches of 1 to 40 rows: the rows past a thread's full micro-tiles run on the few-rows
    kernel (1-4 rows over 4 / rows packed panels; with AVX-512 up to 4 with the last full tile
    and 5-7 as one tile), across panels cut by the gate segments (H = 37),
    in both splits (units below 2 tiles of rows per thread, rows above, and units again once
    W_hh passes 16 MiB, H = 840 in float64, 1050 in float32: each thread then streams its own
    half), with the input projection per step (the rows split), in one product with the recurrence (LSTM, RNN) or
    apart (GRU, and every cell once a thread's rows of [x_t | h_{t-1}] pass 256 KiB: I = 1400),
    and as one GEMM first (the units split); float64 against NumPy's forward and
    backpropagation through time."""
    from fastconv._tools import references

    for shape in [(1, 7, 37), (2, 7, 37), (3, 5, 37), (4, 7, 40), (5, 6, 37), (7, 3, 37), (9, 7, 37),
                    (17, 7, 37), (20, 9, 37), (23, 300, 37), (26, 7, 37), (30, 7, 37), (35, 7, 64),
                    (40, 1400, 37), (20, 9, 840), (20, 9, 37, np.float32), (20, 9, 1050, np.float32), (26, 7, 37, np.float32), (30, 7, 37, np.float32)]:
        B, I, H = shape[:3]
        dtype = np.float64 if len(shape) == 3 else shape[3]
        tol = 1e-10 if dtype == np.float64 else 2e-4
        T = 3
        x = rng.standard_normal((T, B, I))
        w = params(kind, I, H, rng)
        gy = rng.standard_normal((T, B, H))
        ref_kind = "rnn" if kind == "rnn_tanh" else kind
        y, saved = references.rnn_forward(ref_kind, x, *w)
        outs, cache = forward(kind, x.astype(dtype), None, None, [a.astype(dtype) for a in w], False)
        np.testing.assert_allclose(outs[0], y, rtol=tol / 10, atol=tol / 10 if dtype == np.float64 else tol,
                                   err_msg=f"B={B}")
        grads = [gy.astype(dtype)] + [None] * (len(outs) - 1)
        dx, _, _, dw_ih, dw_hh, db_ih, db_hh = backward(kind, grads, cache)
        ref = references.rnn_backward(ref_kind, x, w[0], w[1], y, saved, gy)
        for got, want in zip((dx, dw_ih, dw_hh, db_ih, db_hh), ref):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max(), err_msg=f"B={B}")


def test_every_simd_level(simd_level, rng):
    for kind in KINDS:
        T, B, I, H = 3, 9, 4, 20
        x = rng.standard_normal((T, B, I))
        w = params(kind, I, H, rng)
        h0 = rng.standard_normal((B, H))
        outs, cache = forward(kind, x, h0, h0 if kind == "lstm" else None, w, False)
        grads = [rng.standard_normal(o.shape) for o in outs]
        dx, *_ = backward(kind, grads, cache)
        u = rng.standard_normal(x.shape)
        fd = (loss(kind, x + 1e-6 * u, h0, h0 if kind == "lstm" else None, w, False, grads)
              - loss(kind, x - 1e-6 * u, h0, h0 if kind == "lstm" else None, w, False, grads)) / 2e-6
        assert np.isclose(np.sum(dx * u), fd, rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_long_float32_sequences_stay_finite(kind, rng):
    T, B, I, H = 500, 4, 8, 32
    x = (5 * rng.standard_normal((T, B, I))).astype(np.float32)
    # saturated gates for the bounded cells; a ReLU RNN is unbounded and
    # explodes with large weights (as in any framework): PyTorch-sized ones
    w = params(kind, I, H, rng, np.float32, scale=0.5 / np.sqrt(H) if kind == "rnn_relu" else 2.0)
    outs, cache = forward(kind, x, None, None, w, False)
    assert all(np.isfinite(o).all() for o in outs)
    grads = backward(kind, [np.ones_like(o) for o in outs], cache)
    assert all(np.isfinite(g).all() for g in grads if g is not None)


@pytest.mark.parametrize("dtype, bound", [(np.float32, {0: 4, 1: 3}), (np.float64, {0: 4, 1: 16})])
def test_activation_accuracy_and_saturation(dtype, bound, simd_level):
    x = np.concatenate([np.linspace(-40, 40, 400001), np.geomspace(1e-30, 1, 4001), -np.geomspace(1e-30, 1, 4001),
                        [0.0, 1e3, -1e3, 1e300 if dtype == np.float64 else 1e30]]).astype(dtype)
    for kind, ref in [(_core.ACT_SIGMOID, lambda v: 1 / (1 + np.exp(-v.astype(np.longdouble)))),
                      (_core.ACT_TANH, lambda v: np.tanh(v.astype(np.longdouble)))]:
        y = np.empty_like(x)
        _core.activation_forward(kind, y, x, 0)
        assert np.isfinite(y).all()
        r = ref(x)
        keep = np.abs(r) > np.finfo(dtype).tiny
        ulps = np.abs(y.astype(np.longdouble) - r)[keep] / np.spacing(np.abs(r).astype(dtype))[keep]
        assert ulps.max() <= bound[kind], (kind, float(ulps.max()))
    y = np.empty(3, dtype)
    _core.activation_forward(_core.ACT_TANH, y, np.array([np.nan, np.inf, -np.inf], dtype), 0)
    assert np.isnan(y[0]) and y[1] == 1 and y[2] == -1


def test_matches_torch_when_installed(rng):
    torch = pytest.importorskip("torch")
    for kind, mod in [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU), ("rnn_tanh", torch.nn.RNN)]:
        for dtype in (np.float32, np.float64):
            T, B, I, H = 7, 5, 6, 24
            m = mod(I, H, batch_first=True).to(torch.float64 if dtype == np.float64 else torch.float32)
            w = [p.detach().numpy() for p in (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)]
            x = rng.standard_normal((B, T, I)).astype(dtype)
            h0 = rng.standard_normal((B, H)).astype(dtype)
            xt = torch.tensor(x, requires_grad=True)
            h0t = torch.tensor(h0[None], requires_grad=True)
            c0t = torch.tensor(h0[None], requires_grad=True)
            yt, _ = m(xt, (h0t, c0t) if kind == "lstm" else h0t)
            gy = rng.standard_normal(yt.shape).astype(dtype)
            (yt * torch.tensor(gy)).sum().backward()
            outs, cache = forward(kind, x, h0, h0 if kind == "lstm" else None, w, True)
            dx, dh0, _, dwi, dwh, dbi, dbh = backward(kind, [gy, None, None][:len(outs)], cache)
            tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(outs[0], yt.detach().numpy(), **tol)
            np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
            np.testing.assert_allclose(dh0, h0t.grad.numpy()[0], **tol)
            np.testing.assert_allclose(dwi, m.weight_ih_l0.grad.numpy(), **tol)
            np.testing.assert_allclose(dwh, m.weight_hh_l0.grad.numpy(), **tol)
            np.testing.assert_allclose(dbi, m.bias_ih_l0.grad.numpy(), **tol)
            np.testing.assert_allclose(dbh, m.bias_hh_l0.grad.numpy(), **tol)


X = np.zeros((4, 2, 3))
W4 = [np.zeros((8, 3)), np.zeros((8, 2)), np.zeros(8), np.zeros(8)]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: fastconv.lstm_forward(X.astype(np.int32), None, None, *W4), TypeError, "x must have dtype float32 or float64"),
    (lambda: fastconv.lstm_forward(X[0, 0], None, None, *W4), ValueError, r"x must be 3-D \(T, B, I\)"),
    (lambda: fastconv.lstm_forward(X[:0], None, None, *W4), ValueError, "x must not be empty"),
    (lambda: fastconv.lstm_forward(X, None, None, np.zeros((7, 3)), *W4[1:]), ValueError, r"w_ih must have shape \(4 \* H, I\)"),
    (lambda: fastconv.lstm_forward(X, None, None, np.zeros((8, 4)), *W4[1:]), ValueError, "input size 3"),
    (lambda: fastconv.lstm_forward(X, None, None, W4[0], np.zeros((8, 3)), *W4[2:]), ValueError, r"w_hh must have shape \(8, 2\)"),
    (lambda: fastconv.lstm_forward(X, None, None, W4[0].astype(np.float32), *W4[1:]), TypeError, "w_ih must have the dtype of x"),
    (lambda: fastconv.lstm_forward(X, np.zeros((3, 2)), None, *W4), ValueError, r"h0 must have shape \(2, 2\)"),
    (lambda: fastconv.lstm_forward(X, None, np.zeros(2), *W4), ValueError, r"c0 must have shape \(2, 2\)"),
    (lambda: fastconv.lstm_forward(X, None, None, *W4[:2], np.zeros(7), W4[3]), ValueError, r"b_ih must have shape \(8,\)"),
    (lambda: fastconv.lstm_forward(X, None, None, *W4, batch_first=1), TypeError, "batch_first must be a bool"),
    (lambda: fastconv.rnn_forward(X, None, np.zeros((2, 3)), np.zeros((2, 2)), None, None, nonlinearity="sigmoid"), ValueError, "nonlinearity must be 'tanh' or 'relu'"),
    (lambda: fastconv.gru_backward(None, None, fastconv.lstm_forward(X, None, None, *W4)[3]), ValueError, "comes from a lstm forward, not a gru one"),
    (lambda: fastconv.lstm_backward(np.zeros((4, 2, 3)), None, None, fastconv.lstm_forward(X, None, None, *W4)[3]), ValueError, r"grad_y must have shape \(4, 2, 2\)"),
    (lambda: fastconv.lstm_backward(None, None, None, object()), TypeError, "cache must be the cache returned by the forward"),
    (lambda: fastconv.lstm_cell_forward(X, None, None, *W4), ValueError, r"x must be 2-D \(B, I\)"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
