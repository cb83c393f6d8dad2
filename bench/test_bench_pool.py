"""P1, P2: max / average pooling forward, and forward + backward, fastconv
against PyTorch CPU, with the bandwidth floor (bytes moved / 44 GB/s):

    python -m pytest bench/test_bench_pool.py --benchmark-json=bench/out/pool.json
    python bench/ratios.py bench/out/pool.json
"""
import numpy as np
import pytest

import fastconv
from workloads import BANDWIDTH, POOL

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None


def make_call(wl, side, mode):
    x = wl.arrays()
    k, s, p = wl.kernel, wl.stride, wl.padding
    if side.startswith("fastconv"):
        reuse = side == "fastconv_out"
        if wl.kind == "max":
            y, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            yo, io, dxo = np.empty_like(y), np.empty_like(idx), np.empty_like(x)
            gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
            if mode == "fwd":
                return (lambda: fastconv.max_pool2d(x, k, s, p, out=yo if reuse else None)), y.shape

            def fb():
                yy, ii = fastconv.max_pool2d(x, k, s, p, return_indices=True, out=(yo, io) if reuse else None)
                fastconv.max_pool2d_backward(gy, ii, x.shape, out=dxo if reuse else None)

            return fb, y.shape
        y = fastconv.avg_pool2d(x, k, s, p)
        yo, dxo = np.empty_like(y), np.empty_like(x)
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        fwd = lambda: fastconv.avg_pool2d(x, k, s, p, out=yo if reuse else None)
        if mode == "fwd":
            return fwd, y.shape
        return (lambda: (fwd(), fastconv.avg_pool2d_backward(gy, x.shape, k, s, p, out=dxo if reuse else None))), y.shape
    if torch is None:
        pytest.skip("torch is not installed")
    tx = torch.from_numpy(x)
    pool = (lambda t: F.max_pool2d(t, k, s, p)) if wl.kind == "max" else (lambda t: F.avg_pool2d(t, k, s, p))
    y = pool(tx)
    if mode == "fwd":
        return (lambda: pool(tx)), tuple(y.shape)
    txg = tx.clone().requires_grad_()
    gy = torch.from_numpy(np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(np.float32))
    return (lambda: torch.autograd.grad(pool(txg), txg, gy)), tuple(y.shape)


@pytest.mark.parametrize("side", ["fastconv", "fastconv_out", "torch"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("wl", POOL, ids=lambda wl: wl.id)
def test_pool(benchmark, run, wl, mode, side):
    fn, y_shape = make_call(wl, side, mode)
    benchmark.group = f"{wl.id} {mode}"
    benchmark.extra_info.update(side=side, workload=wl.id, mode=mode,
                                floor_ms=1e3 * wl.bytes_moved(y_shape, mode) / BANDWIDTH)
    run(fn, wl.rounds)
