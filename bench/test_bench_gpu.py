"""GPU: C1 and C3 conv2d forward (and forward + both gradients), P1 max
pooling forward and forward + backward, R1 LSTM forward and forward +
backward, fastconv on CuPy arrays against PyTorch CUDA (cuDNN), fp32 with
TF32 off on both sides; N1-N3 ``fastconv.ndimage.gaussian_filter`` on CuPy
arrays against ``cupyx.scipy.ndimage.gaussian_filter`` (same workloads as
bench/test_bench_ndimage.py).  Each timed call ends with a device synchronise, so
the time is the work's, not its launch's.  Skipped without CuPy and a CUDA
device (fastconv side) or without a CUDA build of torch (torch side).

    python -m pytest bench/test_bench_gpu.py --benchmark-json=bench/out/gpu.json
    python bench/ratios.py bench/out/gpu.json
"""
import os

import numpy as np
import pytest

import fastconv
from workloads import CONV, POOL, RECURRENT

GPU = fastconv.info()["gpu"]
ROUNDS = 50  # GPU calls are short: more of them for a stable median

try:
    import torch
    import torch.nn.functional as F

    TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    torch, TORCH_CUDA = None, False

if TORCH_CUDA:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True  # cuDNN's fastest algorithm for each shape


def _cupy():
    if not GPU["available"]:
        pytest.skip(f"no GPU backend: {GPU['reason']}")
    if os.environ.get("CUPY_TF32", "0") != "0":
        pytest.skip("CUPY_TF32 is set: CuPy's GEMMs would round to TF32; unset it")
    import cupy

    return cupy


def _torch_cuda():
    if not TORCH_CUDA:
        pytest.skip("torch with CUDA is not installed")
    return torch


def synchronised(fn, sync):
    def call():
        fn()
        sync()
    return call


def _conv_out(wl):
    return (wl.x[0], wl.w[0]) + tuple((n + 2 * wl.padding - r) // wl.stride + 1 for n, r in zip(wl.x[2:], wl.w[2:]))


def conv_call(wl, side, mode):
    x, w = wl.arrays()
    s, p = wl.stride, wl.padding
    gy = np.random.default_rng(1).standard_normal(_conv_out(wl)).astype(np.float32)
    if side == "fastconv":
        cupy = _cupy()
        x, w, gy = (cupy.asarray(a) for a in (x, w, gy))
        fwd = lambda: fastconv.conv2d(x, w, stride=s, padding=p)
        bwd = lambda: (fastconv.conv2d_grad_input(x.shape, w, gy, s, p), fastconv.conv2d_grad_weight(x, w.shape, gy, s, p))
        return synchronised(fwd if mode == "fwd" else lambda: (fwd(), bwd()), cupy.cuda.runtime.deviceSynchronize)
    torch = _torch_cuda()
    tx, tw, tgy = (torch.from_numpy(a).cuda() for a in (x, w, gy))
    if mode == "fwd":
        return synchronised(lambda: F.conv2d(tx, tw, stride=s, padding=p), torch.cuda.synchronize)
    txg, twg = tx.clone().requires_grad_(), tw.clone().requires_grad_()
    return synchronised(lambda: torch.autograd.grad(F.conv2d(txg, twg, stride=s, padding=p), (txg, twg), tgy),
                        torch.cuda.synchronize)


def pool_call(wl, side, mode):
    x = wl.arrays()
    k, s, p = wl.kernel, wl.stride, wl.padding
    out = tuple((n + 2 * p - k) // s + 1 for n in x.shape[2:])
    gy = np.random.default_rng(1).standard_normal(x.shape[:2] + out).astype(np.float32)
    if side == "fastconv":
        cupy = _cupy()
        x, gy = cupy.asarray(x), cupy.asarray(gy)
        if mode == "fwd":
            return synchronised(lambda: fastconv.max_pool2d(x, k, s, p), cupy.cuda.runtime.deviceSynchronize)

        def fb():
            y, idx = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            fastconv.max_pool2d_backward(gy, idx, x.shape)

        return synchronised(fb, cupy.cuda.runtime.deviceSynchronize)
    torch = _torch_cuda()
    tx, tgy = torch.from_numpy(x).cuda(), torch.from_numpy(gy).cuda()
    if mode == "fwd":
        return synchronised(lambda: F.max_pool2d(tx, k, s, p), torch.cuda.synchronize)
    txg = tx.clone().requires_grad_()
    return synchronised(lambda: torch.autograd.grad(F.max_pool2d(txg, k, s, p), txg, tgy), torch.cuda.synchronize)


def lstm_call(wl, side, mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((wl.T, wl.B, wl.I)).astype(np.float32)
    k = 1 / np.sqrt(wl.H)
    w = [rng.uniform(-k, k, sh).astype(np.float32) for sh in ((4 * wl.H, wl.I), (4 * wl.H, wl.H), (4 * wl.H,),
                                                             (4 * wl.H,))]
    gy = np.ones((wl.T, wl.B, wl.H), np.float32)
    if side == "fastconv":
        cupy = _cupy()
        x, gy, w = cupy.asarray(x), cupy.asarray(gy), [cupy.asarray(a) for a in w]

        def call():
            out = fastconv.lstm_forward(x, None, None, *w)
            if mode != "fwd":
                fastconv.lstm_backward(gy, None, None, out[3])

        return synchronised(call, cupy.cuda.runtime.deviceSynchronize)
    torch = _torch_cuda()
    m = torch.nn.LSTM(wl.I, wl.H).cuda()
    with torch.no_grad():
        for param, a in zip((m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), w):
            param.copy_(torch.from_numpy(a))
    tx, tgy = torch.from_numpy(x).cuda(), torch.from_numpy(gy).cuda()
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return m(tx)
        return synchronised(fwd, torch.cuda.synchronize)
    txg = tx.clone().requires_grad_()
    return synchronised(lambda: torch.autograd.grad(m(txg)[0], [txg] + list(m.parameters()), tgy),
                        torch.cuda.synchronize)


CASES = [(wl, conv_call, wl.flops(_conv_out(wl))) for wl in CONV if wl.id in ("C1", "C3")] + \
        [(wl, pool_call, None) for wl in POOL if wl.id == "P1"] + \
        [(wl, lstm_call, wl.flops()) for wl in RECURRENT if wl.id == "R1"]


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("wl, make_call, flops", CASES, ids=[case[0].id for case in CASES])
def test_gpu(benchmark, run, wl, make_call, flops, mode, side):
    fn = make_call(wl, side, mode)
    benchmark.group = f"GPU {wl.id} {mode}"
    benchmark.extra_info.update(side=side, workload=wl.id, mode=mode, device=GPU["device"],
                                torch_device=torch.cuda.get_device_name() if TORCH_CUDA else None,
                                gflop=flops * (1 if mode == "fwd" else 3) / 1e9 if flops else None)
    run(fn, ROUNDS)


NDIMAGE_GPU = [("N1", (4096, 4096), 2.0), ("N2", (4096, 4096), 8.0), ("N3", (256, 256, 256), 1.5)]


@pytest.mark.parametrize("side", ["fastconv", "cupyx_ndimage"])
@pytest.mark.parametrize("name, shape, sigma", NDIMAGE_GPU, ids=[n for n, _, _ in NDIMAGE_GPU])
def test_gpu_ndimage(benchmark, run, name, shape, sigma, side):
    cupy = _cupy()
    import cupyx.scipy.ndimage as cnd

    import fastconv.ndimage as fnd

    x = cupy.asarray(np.random.default_rng(0).standard_normal(shape, np.float32))
    f = fnd.gaussian_filter if side == "fastconv" else cnd.gaussian_filter
    if side == "fastconv":  # the same filter as CuPy's, to float32 rounding
        ref = cnd.gaussian_filter(x, sigma)
        assert float(cupy.abs(f(x, sigma) - ref).max()) <= 1e-5 * float(cupy.abs(ref).max())
    benchmark.group = f"GPU {name} gaussian_filter"
    benchmark.extra_info.update(side=side, workload=name, device=GPU["device"])
    run(synchronised(lambda: f(x, sigma), cupy.cuda.runtime.deviceSynchronize), ROUNDS)
