"""Per-call cost on tiny inputs (1x1x8x8 float32, a 3x3 kernel): what a
call costs beyond its arithmetic, fastconv's public functions and a
ConvPlan's forward against PyTorch's functional calls:

    python -m pytest bench/test_bench_overhead.py --benchmark-json=bench/out/overhead.json
    python bench/ratios.py bench/out/overhead.json
"""
import numpy as np
import pytest

import fastconv

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

X = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
W = np.random.default_rng(1).standard_normal((1, 1, 3, 3)).astype(np.float32)
ROUNDS = 20000


def _fastconv_call(op):
    if op == "conv2d":
        return lambda: fastconv.conv2d(X, W)
    if op == "ConvPlan.forward":
        plan = fastconv.ConvPlan(X.shape, W.shape, X.dtype)
        return lambda: plan.forward(X, W)
    if op == "max_pool2d":
        return lambda: fastconv.max_pool2d(X, 2)
    return lambda: fastconv.global_avg_pool2d(X)


def _torch_call(op):
    if torch is None:
        pytest.skip("torch is not installed")
    tx, tw = torch.from_numpy(X), torch.from_numpy(W)
    if op in ("conv2d", "ConvPlan.forward"):
        return lambda: F.conv2d(tx, tw)
    if op == "max_pool2d":
        return lambda: F.max_pool2d(tx, 2)
    return lambda: F.adaptive_avg_pool2d(tx, 1)


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("op", ["conv2d", "ConvPlan.forward", "max_pool2d", "global_avg_pool2d"])
def test_overhead(benchmark, op, side):
    fn = _fastconv_call(op) if side == "fastconv" else _torch_call(op)
    benchmark.group = f"tiny {op}"
    benchmark.extra_info["side"] = side
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1000)  # default threads, as users call
