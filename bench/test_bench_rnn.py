"""R1-R4: LSTM / GRU / RNN forward, and forward + backpropagation through time,
fastconv against torch.nn.LSTM / GRU / RNN with the same weights:

    python -m pytest bench/test_bench_rnn.py --benchmark-json=bench/out/rnn.json
    python bench/ratios.py bench/out/rnn.json
"""
import pytest

from fastconv._tools import bench as _bench
from workloads import RECURRENT


def make_call(wl, side, mode):
    """The sides of fastconv's `fastconv bench` (same weights on both)."""
    fc, peers = _bench.rnn_sides(wl, mode)
    if side == "fastconv":
        return fc
    try:
        return peers[side]()
    except _bench.Unavailable as e:
        pytest.skip(f"{e} is not installed")


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("wl", RECURRENT, ids=lambda wl: wl.id)
def test_recurrent(benchmark, run, wl, mode, side):
    fn = make_call(wl, side, mode)
    benchmark.group = f"{wl.id} {wl.kind} {mode}"
    benchmark.extra_info.update(side=side, workload=wl.id, mode=mode,
                                gflop=wl.flops() * (1 if mode == "fwd" else 3) / 1e9)
    run(fn, wl.rounds)
