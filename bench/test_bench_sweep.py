"""The real-network sweep (bench/sweep.py): every layer forward, and
forward + backward, fastconv against PyTorch CPU, float32 and float64, with
each row's floor (flops / peak, bytes / bandwidth).

    python -m pytest bench/test_bench_sweep.py --benchmark-json=bench/out/sweep.json
    python bench/ratios.py bench/out/sweep.json --markdown
    python bench/sweep_summary.py bench/out/sweep.json     # geometric mean, worst rows
"""
import time

import numpy as np
import pytest

import fastconv
from sweep import CONV, CONV64, POOL, RECURRENT, floor_seconds

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

BUDGET = 0.4  # seconds of timed calls per side and row (at least 3 calls)


def _rng_array(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _conv_call(layer, dtype, mode, side):
    x = _rng_array(layer.x, dtype, 0)
    w = (_rng_array(layer.w, dtype, 1) / np.sqrt(np.prod(layer.w[1:]))).astype(dtype)
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    gy = _rng_array(layer.out_shape(), dtype, 2)
    if side == "fastconv":
        nd = layer.nd
        conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
        gi = fastconv.conv2d_grad_input if nd == 2 else fastconv.conv1d_grad_input
        gw = fastconv.conv2d_grad_weight if nd == 2 else fastconv.conv1d_grad_weight
        fwd = lambda: conv(x, w, **kw)
        if mode == "fwd":
            return fwd
        return lambda: (fwd(), gi(x.shape, w, gy, **kw), gw(x, w.shape, gy, **kw))
    conv = F.conv2d if layer.nd == 2 else F.conv1d
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    if mode == "fwd":
        return lambda: conv(tx, tw, **kw)
    txg, twg, tgy = tx.clone().requires_grad_(), tw.clone().requires_grad_(), torch.from_numpy(gy)
    return lambda: torch.autograd.grad(conv(txg, twg, **kw), (txg, twg), tgy)


def _recurrent_call(layer, dtype, mode, side):
    G = {"lstm": 4, "gru": 3}[layer.kind]
    k = 1 / np.sqrt(layer.H)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.T, layer.B, layer.I)).astype(dtype)
    h0 = np.zeros((layer.B, layer.H), dtype)
    w_ih = rng.uniform(-k, k, (G * layer.H, layer.I)).astype(dtype)
    w_hh = rng.uniform(-k, k, (G * layer.H, layer.H)).astype(dtype)
    b_ih, b_hh = rng.uniform(-k, k, (2, G * layer.H)).astype(dtype)
    gy = rng.standard_normal((layer.T, layer.B, layer.H)).astype(dtype)
    if side == "fastconv":
        if layer.kind == "lstm":
            fwd = lambda: fastconv.lstm_forward(x, h0, h0, w_ih, w_hh, b_ih, b_hh)
            bwd = lambda out: fastconv.lstm_backward(gy, None, None, out[3])
        else:
            fwd = lambda: fastconv.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh)
            bwd = lambda out: fastconv.gru_backward(gy, None, out[2])
        return fwd if mode == "fwd" else (lambda: bwd(fwd()))
    m = (torch.nn.LSTM if layer.kind == "lstm" else torch.nn.GRU)(layer.I, layer.H).to(getattr(torch, str(
        np.dtype(dtype))))
    with torch.no_grad():
        for p, a in zip((m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(torch.from_numpy(a))
    tx = torch.from_numpy(x)
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return m(tx)
        return fwd
    txg, tgy = tx.clone().requires_grad_(), torch.from_numpy(gy)
    params = [txg] + list(m.parameters())
    return lambda: torch.autograd.grad(m(txg)[0], params, tgy)


def _pool_call(layer, dtype, mode, side):
    x = _rng_array(layer.x, dtype, 0)
    if side == "fastconv":
        if layer.kind == "global":
            y = fastconv.global_avg_pool2d(x)
            gy = _rng_array(y.shape, dtype, 1)
            fwd = lambda: fastconv.global_avg_pool2d(x)
            bwd = lambda: fastconv.global_avg_pool2d_backward(gy, x.shape)
        elif layer.kind == "max":
            args = (layer.kernel, layer.stride, layer.padding)
            y, idx = fastconv.max_pool2d(x, *args, return_indices=True)
            gy = _rng_array(y.shape, dtype, 1)
            fwd = lambda: fastconv.max_pool2d(x, *args)
            bwd = lambda: fastconv.max_pool2d_backward(gy, fastconv.max_pool2d(x, *args, return_indices=True)[1],
                                                       x.shape)
        else:
            args = (layer.kernel, layer.stride, layer.padding)
            y = fastconv.avg_pool2d(x, *args)
            gy = _rng_array(y.shape, dtype, 1)
            fwd = lambda: fastconv.avg_pool2d(x, *args)
            bwd = lambda: fastconv.avg_pool2d_backward(gy, x.shape, *args)
        return fwd if mode == "fwd" else (lambda: (fwd(), bwd()))
    tx = torch.from_numpy(x)
    if layer.kind == "global":
        op = lambda t: F.adaptive_avg_pool2d(t, 1)
    elif layer.kind == "max":
        op = lambda t: F.max_pool2d(t, layer.kernel, layer.stride, layer.padding)
    else:
        op = lambda t: F.avg_pool2d(t, layer.kernel, layer.stride, layer.padding)
    if mode == "fwd":
        return lambda: op(tx)
    txg = tx.clone().requires_grad_()
    tgy = torch.from_numpy(_rng_array(tuple(op(tx).shape), dtype, 1))
    return lambda: torch.autograd.grad(op(txg), txg, tgy)


CASES = [(c, np.float32, _conv_call) for c in CONV] + [(c, np.float64, _conv_call) for c in CONV64] + \
    [(r, d, _recurrent_call) for r in RECURRENT for d in (np.float32, np.float64)] + \
    [(p, d, _pool_call) for p in POOL for d in (np.float32, np.float64)]


def _id(case):
    layer, dtype, _ = case
    return f"{layer.id} {np.dtype(dtype).name}"


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_sweep(benchmark, case, mode, side):
    layer, dtype, make = case
    if side == "torch" and torch is None:
        pytest.skip("torch is not installed")
    fn = make(layer, dtype, mode, side)
    fn()  # warm-up: plans, scratch memory, one-time costs
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    rounds = int(min(200, max(3, BUDGET / once)))
    backward = mode == "fwd+bwd"
    benchmark.group = f"{_id(case)} {mode}"
    benchmark.extra_info.update(side=side, mode=mode, layer=layer.id, dtype=np.dtype(dtype).name,
                                floor_ms=1e3 * floor_seconds(layer, dtype, backward))
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
