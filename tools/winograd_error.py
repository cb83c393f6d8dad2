"""Winograd F(4x4, 3x3)'s float32 error next to direct's, against float64.

    python tools/winograd_error.py [--epochs 20]

Each row: a 3x3 stride-1 layer, its data, and for float32 direct and float32
Winograd the largest error over the largest |output| and the rms error over
the rms output (forward), against the float64 direct convolution of the same
(float32-rounded) data; then Winograd / direct.  Data: N(0, 1) inputs with
He-scaled weights, the same inputs after a ReLU, and a trained network
(zoo.digits_cnn trained on scikit-learn's digits: each conv layer's trained
weights on the activations that real test images bring to it).  auto takes
Winograd for float32 only where this ratio stays within 4x
(fastconv._cpu.conv._winograd_wins).  Prints a markdown table.
"""
import argparse

import numpy as np

import fastconv
from fastconv import nn
from fastconv.nn import zoo


OPS = {
    "forward": lambda a, x, w, gy: fastconv.conv2d(x, w, padding=1, algorithm=a),
    "input gradient": lambda a, x, w, gy: fastconv.conv2d_grad_input(x.shape, w, gy, padding=1, algorithm=a),
    "weight gradient": lambda a, x, w, gy: fastconv.conv2d_grad_weight(x, w.shape, gy, padding=1, algorithm=a),
}


def errors(x, w, gy=None, op="forward"):
    """{algorithm: (max error / max |result|, rms error / rms result)} of a float32 operation."""
    f = OPS[op]
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    g32 = None if gy is None else gy.astype(np.float32)
    exact = f("direct", x32.astype(np.float64), w32.astype(np.float64), None if gy is None else g32.astype(np.float64))
    out = {}
    for algo in ("direct", "winograd"):
        d = f(algo, x32, w32, g32).astype(np.float64) - exact
        out[algo] = (np.abs(d).max() / np.abs(exact).max(), np.sqrt(np.mean(d ** 2) / np.mean(exact ** 2)))
    return out


def random_rows(rng):
    layers = [("C3 128 @28, batch 4", (4, 128, 28, 28), 128), ("C1 64 @56, batch 4", (4, 64, 56, 56), 64),
              ("ResNet-18 layer3 256 @14, batch 2", (2, 256, 14, 14), 256),
              ("ResNet-18 layer4 512 @7, batch 2", (2, 512, 7, 7), 512), ("CIFAR 32 @32, batch 8", (8, 32, 32, 32), 32)]
    for name, shape, k in layers:
        x = rng.standard_normal(shape)
        w = rng.standard_normal((k, shape[1], 3, 3)) * np.sqrt(2 / (9 * shape[1]))
        gy = rng.standard_normal((shape[0], k) + shape[2:])
        yield name, "N(0, 1)", errors(x, w)
        yield name, "N(0, 1) after ReLU", errors(np.maximum(x, 0), w)
        for op in ("input gradient", "weight gradient"):
            yield name, f"{op}, N(0, 1) data and output gradient", errors(x, w, gy, op)


def trained_rows(epochs):
    xtr, ytr, xte, yte = zoo.load_digits()
    model = zoo.digits_cnn(seed=0)
    model.fit(xtr, ytr, epochs=epochs, batch_size=32, verbose=0)
    acc = model.evaluate(xte, yte, verbose=0)[1]
    a, conv = xte, 0
    for layer in model.layers:
        if isinstance(layer, nn.layers.Conv2D):
            conv += 1
            w = np.asarray(layer.params["weight"], np.float64)
            yield (f"digits CNN conv{conv} {w.shape[1]}->{w.shape[0]} @{a.shape[-1]} (test accuracy {acc:.3f})",
                   "trained weights, test images' activations", errors(np.asarray(a, np.float64), w))
        a = layer(a)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| layer | data | direct max | Winograd max | ratio | direct rms | Winograd rms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, data, e in list(random_rows(rng)) + list(trained_rows(args.epochs)):
        (dm, dr), (wm, wr) = e["direct"], e["winograd"]
        print(f"| {name} | {data} | {dm:.2e} | {wm:.2e} | {wm / dm:.2f}x | {dr:.2e} | {wr:.2e} | {wr / dr:.2f}x |",
              flush=True)


if __name__ == "__main__":
    main()
