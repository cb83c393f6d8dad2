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


def _ops(nd):
    conv, gi, gw = ((fastconv.conv2d, fastconv.conv2d_grad_input, fastconv.conv2d_grad_weight) if nd == 2 else
                    (fastconv.conv1d, fastconv.conv1d_grad_input, fastconv.conv1d_grad_weight))
    return {
        "forward": lambda a, x, w, gy, kw: conv(x, w, algorithm=a, **kw),
        "input gradient": lambda a, x, w, gy, kw: gi(x.shape, w, gy, algorithm=a, **kw),
        "weight gradient": lambda a, x, w, gy, kw: gw(x, w.shape, gy, algorithm=a, **kw),
    }


def errors(x, w, gy=None, op="forward", **kw):
    """{algorithm: (max error / max |result|, rms error / rms result)} of a float32 operation
    (conv2d or, x of 3 axes, conv1d; kw its stride, padding and dilation: padding 1 if not given)."""
    f = _ops(x.ndim - 2)[op]
    kw.setdefault("padding", 1)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    g32 = None if gy is None else gy.astype(np.float32)
    exact = f("direct", x32.astype(np.float64), w32.astype(np.float64), None if gy is None else g32.astype(np.float64),
              kw)
    out = {}
    for algo in ("direct", "winograd"):
        d = f(algo, x32, w32, g32, kw).astype(np.float64) - exact
        out[algo] = (np.abs(d).max() / np.abs(exact).max(), np.sqrt(np.mean(d ** 2) / np.mean(exact ** 2)))
    return out


def random_rows(rng):
    layers = [("C3 128 @28, batch 4", (4, 128, 28, 28), 128), ("C1 64 @56, batch 4", (4, 64, 56, 56), 64),
              ("ResNet-18 layer3 256 @14, batch 2", (2, 256, 14, 14), 256),
              ("ResNet-18 layer4 512 @7, batch 2", (2, 512, 7, 7), 512), ("CIFAR 32 @32, batch 8", (8, 32, 32, 32), 32),
              # few tiles: the forward's output channels as the lanes (conv_winograd_k.c)
              ("ResNet-18 layer4 512 @7, batch 1 (4 tiles)", (1, 512, 7, 7), 512),
              ("ResNet-18 layer3 256 @14, batch 1 (16 tiles)", (1, 256, 14, 14), 256)]
    for name, shape, k in layers:
        x = rng.standard_normal(shape)
        w = rng.standard_normal((k, shape[1], 3, 3)) * np.sqrt(2 / (9 * shape[1]))
        gy = rng.standard_normal((shape[0], k) + shape[2:])
        yield name, "N(0, 1)", errors(x, w)
        yield name, "N(0, 1) after ReLU", errors(np.maximum(x, 0), w)
        for op in ("input gradient", "weight gradient"):
            yield name, f"{op}, N(0, 1) data and output gradient", errors(x, w, gy, op)


def random_rows_s2(rng):
    """3x3 stride-2 layers (csrc/conv_winograd_s2.c, the forward)."""
    for name, shape, k in [("ResNet-18 layer2 3x3/2 64->128 @56, batch 2", (2, 64, 56, 56), 128),
                           ("ResNet-18 layer3 3x3/2 128->256 @28, batch 2", (2, 128, 28, 28), 256),
                           # 64 tiles or fewer: the output channels as the lanes (conv_winograd_k.c)
                           ("ResNet-18 layer3 3x3/2 128->256 @28, batch 1 (49 tiles)", (1, 128, 28, 28), 256),
                           ("ResNet-18 layer4 3x3/2 256->512 @14, batch 8 (32 tiles)", (8, 256, 14, 14), 512)]:
        x = rng.standard_normal(shape)
        w = rng.standard_normal((k, shape[1], 3, 3)) * np.sqrt(2 / (9 * shape[1]))
        yield name, "N(0, 1)", errors(x, w, stride=2)
        yield name, "N(0, 1) after ReLU", errors(np.maximum(x, 0), w, stride=2)


def random_rows_1d(rng):
    """1-D layers (Winograd F(4, r), csrc/conv_winograd1d.c): (name, x shape, w shape, conv keywords)."""
    layers = [("TCN k3 d4 128, L 1000, batch 2", (2, 128, 1000), (128, 128, 3), dict(padding=4, dilation=4)),
              ("speech k11/2 128->256, L 1600, batch 1", (1, 128, 1600), (256, 128, 11), dict(stride=2, padding=5)),
              ("conv1d k3 512, L 1000, batch 1", (1, 512, 1000), (512, 512, 3), dict(padding=1)),
              ("conv1d k3/2 512, L 4000, batch 1", (1, 512, 4000), (512, 512, 3), dict(stride=2, padding=1)),
              ("conv1d k9 64, L 1000, batch 2", (2, 64, 1000), (64, 64, 9), dict(padding=4))]
    for name, xs, ws, kw in layers:
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws) * np.sqrt(2 / (ws[1] * ws[2]))
        yield name, "N(0, 1)", errors(x, w, **kw)
        yield name, "N(0, 1) after ReLU", errors(np.maximum(x, 0), w, **kw)
        if kw.get("stride", 1) == 1:
            gy = rng.standard_normal(fastconv.conv1d(x, w, **kw).shape)
            yield name, "input gradient, N(0, 1) data and output gradient", errors(x, w, gy, "input gradient", **kw)


def _trained(model, data, epochs, conv_type, describe):
    """Each conv layer of `model` (trained on data) with its trained weights on the activations the
    test inputs bring to it: (name, data, errors); describe(n, w, a, kw, acc) names a layer."""
    xtr, ytr, xte, yte = data
    model.fit(xtr, ytr, epochs=epochs, batch_size=32, verbose=0)
    acc = model.evaluate(xte, yte, verbose=0)[1]
    a, conv = xte, 0
    for layer in model.layers:
        if isinstance(layer, conv_type):
            conv += 1
            w = np.asarray(layer.params["weight"], np.float64)
            kw = dict(stride=layer.strides, padding=layer.padding)
            yield (describe(conv, w, a, kw, acc), "trained weights, test inputs' activations",
                   errors(np.asarray(a, np.float64), w, **kw))
            if np.ndim(a) == 4:  # one image: few tiles (the forward's output channels as the lanes)
                yield (describe(conv, w, a, kw, acc), "trained weights, one test image's activations",
                       errors(np.asarray(a[:1], np.float64), w, **kw))
        a = layer(a)


def trained_rows(epochs):
    """zoo.digits_cnn trained on scikit-learn's digits (3x3 stride-1 layers)."""
    return _trained(zoo.digits_cnn(seed=0), zoo.load_digits(), epochs, nn.layers.Conv2D,
                    lambda n, w, a, kw, acc: f"digits CNN conv{n} {w.shape[1]}->{w.shape[0]} @{a.shape[-1]} "
                                             f"(test accuracy {acc:.3f})")


def trained_rows_1d(epochs):
    """zoo.mnist1d_cnn trained on MNIST-1D: its k5/2 and k3/2 layers (Winograd by request only: auto
    takes the 1-D Winograd only over 64 channels or more, fastconv/_cpu/conv.py)."""
    xtr, ytr, xte, yte = zoo.load_mnist1d()
    return _trained(zoo.mnist1d_cnn(seed=0), (xtr[:, None], ytr, xte[:, None], yte), epochs, nn.layers.Conv1D,
                    lambda n, w, a, kw, acc: f"MNIST-1D CNN conv{n} {w.shape[1]}->{w.shape[0]} "
                                             f"k{w.shape[2]}/{kw['stride'][0]} (test accuracy {acc:.3f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| layer | data | direct max | Winograd max | ratio | direct rms | Winograd rms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    rows = list(random_rows(rng)) + list(trained_rows(args.epochs)) + list(random_rows_s2(rng)) + \
        list(random_rows_1d(rng))
    for name, data, e in rows + list(trained_rows_1d(args.epochs)):
        (dm, dr), (wm, wr) = e["direct"], e["winograd"]
        print(f"| {name} | {data} | {dm:.2e} | {wm:.2e} | {wm / dm:.2f}x | {dr:.2e} | {wr:.2e} | {wr / dr:.2f}x |",
              flush=True)


if __name__ == "__main__":
    main()
