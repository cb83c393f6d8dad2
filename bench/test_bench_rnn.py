"""R1-R4: LSTM / GRU / RNN forward, and forward + backpropagation through time,
fastconv against torch.nn.LSTM / GRU / RNN with the same weights:

    python -m pytest bench/test_bench_rnn.py --benchmark-json=bench/out/rnn.json
    python bench/ratios.py bench/out/rnn.json
"""
import numpy as np
import pytest

import fastconv
from workloads import RECURRENT

try:
    import torch
except ImportError:
    torch = None


def make_call(wl, side, mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((wl.T, wl.B, wl.I)).astype(np.float32)
    g = {"lstm": 4, "gru": 3, "rnn": 1}[wl.kind]
    k = 1 / np.sqrt(wl.H)  # torch's default initialisation range
    w = [rng.uniform(-k, k, s).astype(np.float32) for s in ((g * wl.H, wl.I), (g * wl.H, wl.H), (g * wl.H,), (g * wl.H,))]
    gy = np.ones((wl.T, wl.B, wl.H), np.float32)
    if side == "fastconv":
        if wl.kind == "lstm":
            fwd = lambda: fastconv.lstm_forward(x, None, None, *w)
            bwd = lambda out: fastconv.lstm_backward(gy, None, None, out[3])
        elif wl.kind == "gru":
            fwd = lambda: fastconv.gru_forward(x, None, *w)
            bwd = lambda out: fastconv.gru_backward(gy, None, out[2])
        else:
            fwd = lambda: fastconv.rnn_forward(x, None, *w)
            bwd = lambda out: fastconv.rnn_backward(gy, None, out[2])
        return fwd if mode == "fwd" else (lambda: bwd(fwd()))
    if torch is None:
        pytest.skip("torch is not installed")
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[wl.kind]
    m = cls(wl.I, wl.H)
    with torch.no_grad():
        for p, a in zip((m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), w):
            p.copy_(torch.from_numpy(a))
    tx = torch.from_numpy(x)
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return m(tx)
        return fwd
    txg, tgy = tx.clone().requires_grad_(), torch.from_numpy(gy)

    def fb():
        y, _ = m(txg)
        torch.autograd.grad(y, [txg] + list(m.parameters()), tgy)

    return fb


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("wl", RECURRENT, ids=lambda wl: wl.id)
def test_recurrent(benchmark, run, wl, mode, side):
    fn = make_call(wl, side, mode)
    benchmark.group = f"{wl.id} {wl.kind} {mode}"
    benchmark.extra_info.update(side=side, workload=wl.id, mode=mode,
                                gflop=wl.flops() * (1 if mode == "fwd" else 3) / 1e9)
    run(fn, wl.rounds)
