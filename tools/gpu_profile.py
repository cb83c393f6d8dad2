"""Where the GPU conv / pool time goes (device events, medians): the whole
public call, then its parts, for the C1 / C3 / P1 workloads.  Run on a GPU
machine: python tools/gpu_profile.py"""
import numpy as np
import cupy as cp

import fastconv
from fastconv._gpu import conv as gconv
from fastconv._gpu._launch import launch


def timed(fn, reps=30):
    for _ in range(3):
        fn()
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    ts = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        ts.append(cp.cuda.get_elapsed_time(start, stop))
    return float(np.median(ts))


def conv_parts(name, xs, ws):
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal(xs, dtype=np.float32))
    w = cp.asarray(rng.standard_normal(ws, dtype=np.float32))
    N, C, H, W = xs
    K, _, R, S = ws
    P, Q = H, W
    geom = (N, C, H, W, K, R, S, P, Q, 1, 1, 1, 1, 1, 1, 1)
    col = cp.empty((C * R * S, N * P * Q), np.float32)
    wm = w.reshape(K, -1)
    prod = cp.empty((K, N * P * Q), np.float32)
    y = cp.empty((N, K, P * Q), np.float32)
    flops = 2 * N * K * C * R * S * P * Q
    rows = {
        "conv2d": lambda: fastconv.conv2d(x, w, padding=1),
        "im2col i32": lambda: launch("conv.cu", "conv_im2col", x.dtype, col.size, col, x, N, *geom, index32=True),
        "im2col i64": lambda: launch("conv.cu", "conv_im2col", x.dtype, col.size, col, x, N, *geom, index32=False),
        "matmul": lambda: cp.matmul(wm, col, out=prod),
        "transpose": lambda: y.__setitem__(slice(None), prod.reshape(K, N, P * Q).transpose(1, 0, 2)),
    }
    for k, fn in rows.items():
        t = timed(fn)
        extra = f"  {flops / t / 1e9:.0f} GFLOP/s" if k in ("conv2d", "matmul") else f"  {col.nbytes / t / 1e6:.0f} GB/s(col)"
        print(f"{name} {k:12s} {t:8.3f} ms{extra}")


def pool_parts():
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((32, 64, 112, 112), dtype=np.float32))
    small = cp.asarray(rng.standard_normal((1, 1, 8, 8), dtype=np.float32))
    t = timed(lambda: fastconv.max_pool2d(x, 2, 2))
    print(f"P1 max_pool2d   {t:8.3f} ms  {(x.nbytes * 1.25) / t / 1e6:.0f} GB/s")
    print(f"tiny max_pool2d {timed(lambda: fastconv.max_pool2d(small, 2, 2)):8.3f} ms (per-call overhead)")
    print(f"tiny conv2d     {timed(lambda: fastconv.conv2d(small, small[:, :, :3, :3])):8.3f} ms")
    print(f"copy 2x P1      {timed(lambda: cp.copyto(cp.empty_like(x), x)):8.3f} ms  (device copy of x)")


if __name__ == "__main__" and "--python" not in __import__("sys").argv:
    conv_parts("C1", (32, 64, 56, 56), (64, 64, 3, 3))
    conv_parts("C3", (32, 128, 28, 28), (128, 128, 3, 3))
    pool_parts()


def python_overhead():
    """Where a tiny max_pool2d call spends its host time (cProfile)."""
    import cProfile
    import pstats

    small = cp.asarray(np.random.default_rng(0).standard_normal((1, 1, 8, 8), dtype=np.float32))
    for _ in range(100):
        fastconv.max_pool2d(small, 2, 2)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(2000):
        fastconv.max_pool2d(small, 2, 2)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(14)


if __name__ == "__main__" and "--python" in __import__("sys").argv:
    python_overhead()
