"""C1-C5: conv1d / conv2d forward, and forward + both gradients, fastconv
against PyTorch CPU (and NumPy im2col on C4).  Run with:

    python -m pytest bench/test_bench_conv.py --benchmark-json=bench/out/conv.json
    python bench/ratios.py bench/out/conv.json
"""
import numpy as np
import pytest

import fastconv
from peers import numpy_im2col_conv2d, numpy_im2col_conv2d_backward
from workloads import CONV

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

SIDES = ["fastconv", "fastconv_out", "torch", "numpy_im2col"]


def fastconv_fns(wl):
    if wl.nd == 1:
        return fastconv.conv1d, fastconv.conv1d_grad_input, fastconv.conv1d_grad_weight
    return fastconv.conv2d, fastconv.conv2d_grad_input, fastconv.conv2d_grad_weight


def make_call(wl, side, mode):
    x, w = wl.arrays()
    s, p = wl.stride, wl.padding
    if side.startswith("fastconv"):
        conv, grad_input, grad_weight = fastconv_fns(wl)
        y = conv(x, w, stride=s, padding=p)
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        if side == "fastconv":
            fwd = lambda: conv(x, w, stride=s, padding=p)
            bwd = lambda: (grad_input(x.shape, w, gy, s, p), grad_weight(x, w.shape, gy, s, p))
        else:
            yo, gxo, gwo = np.empty_like(y), np.empty_like(x), np.empty_like(w)
            fwd = lambda: conv(x, w, stride=s, padding=p, out=yo)
            bwd = lambda: (grad_input(x.shape, w, gy, s, p, out=gxo), grad_weight(x, w.shape, gy, s, p, out=gwo))
        if mode == "fwd":
            return fwd, y.shape
        return (lambda: (fwd(), bwd())), y.shape
    if side == "torch":
        if torch is None:
            pytest.skip("torch is not installed")
        conv = F.conv1d if wl.nd == 1 else F.conv2d
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        y = conv(tx, tw, stride=s, padding=p)
        if mode == "fwd":
            return (lambda: conv(tx, tw, stride=s, padding=p)), tuple(y.shape)
        txg, twg = tx.clone().requires_grad_(), tw.clone().requires_grad_()
        gy = torch.from_numpy(np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(np.float32))

        def fb():
            out = conv(txg, twg, stride=s, padding=p)
            torch.autograd.grad(out, (txg, twg), gy)

        return fb, tuple(y.shape)
    if side == "numpy_im2col":
        if wl.id != "C4":
            pytest.skip("NumPy im2col is a peer on C4 only")
        y, cols = numpy_im2col_conv2d(x, w, p)
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        if mode == "fwd":
            return (lambda: numpy_im2col_conv2d(x, w, p)), y.shape

        def fb():
            yy, cc = numpy_im2col_conv2d(x, w, p)
            numpy_im2col_conv2d_backward(x, w, gy, cc, p)

        return fb, y.shape
    raise ValueError(side)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("wl", CONV, ids=lambda wl: wl.id)
def test_conv(benchmark, run, wl, mode, side):
    fn, y_shape = make_call(wl, side, mode)
    benchmark.group = f"{wl.id} {mode}"
    benchmark.extra_info.update(side=side, workload=wl.id, mode=mode,
                                gflop=wl.flops(y_shape) * (1 if mode == "fwd" else 3) / 1e9)
    run(fn, wl.rounds)
