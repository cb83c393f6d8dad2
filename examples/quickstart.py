"""fastconv in a NumPy program: convolve a batch, get both gradients, and
compare with the same convolution written in NumPy (im2col + matmul, the way
the lecture notes build a CNN by hand).  Prints agreement and timings.

    python examples/quickstart.py
"""
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import fastconv


def numpy_conv2d(x, w, padding):
    """Cross-correlation by im2col: every window as a column, one matmul."""
    K, C, R, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = sliding_window_view(xp, (R, S), axis=(2, 3))          # N, C, P, Q, R, S
    N, _, P, Q = cols.shape[:4]
    cols = cols.transpose(1, 4, 5, 0, 2, 3).reshape(C * R * S, N * P * Q)
    return (w.reshape(K, -1) @ cols).reshape(K, N, P, Q).transpose(1, 0, 2, 3)


def best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    print(f"fastconv {fastconv.__version__}: {fastconv.info()['simd']} kernels, "
          f"{fastconv.get_num_threads()} threads\n")
    layers = [
        ("MNIST batch, 1 -> 32 channels, 3x3", (64, 1, 28, 28), (32, 1, 3, 3), 1, 50),
        ("ResNet body, 64 -> 64 channels, 3x3", (8, 64, 56, 56), (64, 64, 3, 3), 1, 5),
    ]
    for name, xs, ws, pad, repeats in layers:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
        y = fastconv.conv2d(x, w, padding=pad)
        y_np = numpy_conv2d(x, w, pad)
        err = np.abs(y - y_np).max() / np.abs(y_np).max()
        t_fc = best_of(lambda: fastconv.conv2d(x, w, padding=pad), repeats)
        t_np = best_of(lambda: numpy_conv2d(x, w, pad), repeats)
        gflop = 2 * y.size * np.prod(ws[1:]) / 1e9
        print(f"{name}: x {xs} -> y {y.shape}")
        print(f"  forward   fastconv {t_fc * 1e3:8.2f} ms ({gflop / t_fc:5.0f} GFLOP/s)   "
              f"NumPy im2col {t_np * 1e3:8.2f} ms   speed-up {t_np / t_fc:5.1f}x   max rel. diff {err:.1e}")
        gy = rng.standard_normal(y.shape).astype(np.float32)
        t_bw = best_of(lambda: (fastconv.conv2d_grad_input(x.shape, w, gy, padding=pad),
                                fastconv.conv2d_grad_weight(x, w.shape, gy, padding=pad)), repeats)
        print(f"  gradients fastconv {t_bw * 1e3:8.2f} ms ({2 * gflop / t_bw:5.0f} GFLOP/s) for dL/dx and dL/dw\n")


if __name__ == "__main__":
    main()
