"""Benchmark session setup (see bench/WORKLOADS.md, "Hygiene").

- glibc serves allocations above its mmap threshold with fresh pages on every
  call until a large block has been freed; freeing one ~30 MB block first
  raises the threshold so neither side pays page faults per call.
- every side uses all of fastconv's threads (torch.set_num_threads etc.).
"""
import numpy as np
import pytest

import fastconv

_block = np.ones(30_000_000 // 8)
del _block

try:
    import torch

    torch.set_num_threads(fastconv.get_num_threads())
except ImportError:  # peers that are not installed are skipped
    torch = None


def pytest_report_header(config):
    import platform

    peers = {"torch": torch.__version__ if torch else "not installed"}
    return [f"fastconv {fastconv.__version__}: {fastconv.info()['simd']}, {fastconv.get_num_threads()} threads; "
            f"peers: {peers}; {platform.processor() or platform.machine()}"]


@pytest.fixture
def run(benchmark):
    """run(fn, rounds): warm up, then time `rounds` calls and keep the median."""

    def go(fn, rounds):
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=max(2, rounds // 10))

    return go
