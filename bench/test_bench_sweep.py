"""The real-network sweep (fastconv._tools.sweep): every layer forward, and
forward + backward, fastconv against PyTorch CPU, float32 and float64, with
each row's floor (flops / peak, bytes / bandwidth).

    python -m pytest bench/test_bench_sweep.py --benchmark-json=bench/out/sweep.json
    python bench/ratios.py bench/out/sweep.json --markdown
    python bench/sweep_summary.py bench/out/sweep.json     # geometric mean, worst rows
"""
import time

import numpy as np
import pytest

from fastconv._tools.sweep import CASES, case_id, floor_seconds

try:
    import torch
except ImportError:
    torch = None

BUDGET = 0.4  # seconds of timed calls per side and row (at least 3 calls)


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
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
    benchmark.group = f"{case_id(case)} {mode}"
    benchmark.extra_info.update(side=side, mode=mode, layer=layer.id, dtype=np.dtype(dtype).name,
                                floor_ms=1e3 * floor_seconds(layer, dtype, backward))
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
