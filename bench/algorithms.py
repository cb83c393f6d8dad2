"""Times the convolution algorithms (direct, im2col, and Winograd where it
applies) for every operation on a spread of layer shapes, float32, to derive
and check the rules of ``algorithm="auto"`` (fastconv._cpu.conv).

    python bench/algorithms.py [--markdown] [--only NAME,...]
"""
import argparse
import time

import numpy as np

import fastconv

SHAPES = [
    # name, x shape, w shape, stride, padding, groups
    ("C1 3x3 64->64 @56", (32, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("C2 7x7/2 3->64 @224", (16, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1),
    ("C3 3x3 128->128 @28", (32, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1),
    ("C4 3x3 1->32 @28", (64, 1, 28, 28), (32, 1, 3, 3), 1, 1, 1),
    ("C5 conv1d 32->64 k5 L40", (256, 32, 40), (64, 32, 5), 1, 2, 1),
    ("3x3 256->256 @14", (32, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1),
    ("3x3 512->512 @7", (32, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1),
    ("1x1 64->256 @56", (32, 64, 56, 56), (256, 64, 1, 1), 1, 0, 1),
    ("1x1 1024->256 @14", (32, 1024, 14, 14), (256, 1024, 1, 1), 1, 0, 1),
    ("3x3/2 128->128 @56", (32, 128, 56, 56), (128, 128, 3, 3), 2, 1, 1),
    ("depthwise 3x3 64 @56", (32, 64, 56, 56), (64, 1, 3, 3), 1, 1, 64),
    ("groups 8, 128 @28", (16, 128, 28, 28), (128, 16, 3, 3), 1, 1, 8),
    ("conv1d 64->64 k9 L1000", (32, 64, 1000), (64, 64, 9), 1, 4, 1),
    # the 3x3 stride-1 layers of the real-network sweep (Winograd's candidates), small batches
    ("ResNet-18 3x3 64 @56 b1", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("ResNet-18 3x3 64 @56 b8", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("ResNet-18 3x3 256 @14 b1", (1, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1),
    ("ResNet-18 3x3 256 @14 b8", (8, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1),
    ("ResNet-18 3x3 512 @7 b1", (1, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1),
    ("ResNet-18 3x3 512 @7 b8", (8, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1),
    ("VGG-16 3x3 64 @224 b1", (1, 64, 224, 224), (64, 64, 3, 3), 1, 1, 1),
    ("VGG-16 3x3 256 @56 b1", (1, 256, 56, 56), (256, 256, 3, 3), 1, 1, 1),
    ("VGG-16 3x3 512 @14 b1", (1, 512, 14, 14), (512, 512, 3, 3), 1, 1, 1),
    ("VGG-16 3x3 512 @14 b4", (4, 512, 14, 14), (512, 512, 3, 3), 1, 1, 1),
    ("CIFAR 3x3 32 @32 b128", (128, 32, 32, 32), (32, 32, 3, 3), 1, 1, 1),
    ("3x3 16 @32 b16", (16, 16, 32, 32), (16, 16, 3, 3), 1, 1, 1),
]


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--only", default="", help="shape names, comma separated")
    args = ap.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    head = ["shape", "fwd direct", "fwd im2col", "fwd winograd", "grad x direct", "grad x im2col",
            "grad x winograd", "grad w direct", "grad w im2col", "auto picks"]
    print("| " + " | ".join(head) + " |" if args.markdown else "  ".join(head))
    if args.markdown:
        print("|" + "---|" * len(head))
    rng = np.random.default_rng(0)
    short = {"direct": "d", "im2col": "i", "winograd": "w", "fft": "f"}
    for name, xs, ws, s, p, g in SHAPES:
        if only and name not in only:
            continue
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        nd = len(xs) - 2
        conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
        gin = fastconv.conv2d_grad_input if nd == 2 else fastconv.conv1d_grad_input
        gwt = fastconv.conv2d_grad_weight if nd == 2 else fastconv.conv1d_grad_weight
        y = conv(x, w, stride=s, padding=p, groups=g)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        reps = max(3, min(50, int(2e9 / (2 * y.size * np.prod(ws[1:])))))
        plan = fastconv.ConvPlan(xs, ws, np.float32, s, p, 1, g)
        wino = nd == 2 and ws[2:] == (3, 3) and s == 1 and g == 1 and p <= 2
        row = []
        for op, algos in ((lambda a: conv(x, w, stride=s, padding=p, groups=g, algorithm=a),
                           ("direct", "im2col", "winograd")),
                          (lambda a: gin(x.shape, w, gy, s, p, 1, g, algorithm=a), ("direct", "im2col", "winograd")),
                          (lambda a: gwt(x, w.shape, gy, s, p, 1, g, algorithm=a), ("direct", "im2col"))):
            row += [f"{median_ms(lambda: op(a), reps):.3f}" if a != "winograd" or wino else "-" for a in algos]
        picks = "/".join(short[plan.algorithm[op]] for op in ("forward", "grad_input", "grad_weight"))
        cells = [name] + row + [picks]
        print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
