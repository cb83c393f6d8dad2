"""Times both convolution algorithms for every operation on a spread of layer
shapes, to derive and check the rules of ``algorithm="auto"``.

    python bench/algorithms.py [--markdown]
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
    args = ap.parse_args()
    head = ["shape", "fwd direct", "fwd im2col", "grad x direct", "grad x im2col", "grad w direct",
            "grad w im2col", "auto picks"]
    print("| " + " | ".join(head) + " |" if args.markdown else "  ".join(head))
    if args.markdown:
        print("|" + "---|" * len(head))
    rng = np.random.default_rng(0)
    for name, xs, ws, s, p, g in SHAPES:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        nd = len(xs) - 2
        conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
        gin = fastconv.conv2d_grad_input if nd == 2 else fastconv.conv1d_grad_input
        gwt = fastconv.conv2d_grad_weight if nd == 2 else fastconv.conv1d_grad_weight
        y = conv(x, w, stride=s, padding=p, groups=g)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        reps = max(3, min(50, int(2e9 / (2 * y.size * np.prod(ws[1:])))))
        ops = [lambda a: conv(x, w, stride=s, padding=p, groups=g, algorithm=a),
               lambda a: gin(x.shape, w, gy, s, p, 1, g, algorithm=a),
               lambda a: gwt(x, w.shape, gy, s, p, 1, g, algorithm=a)]
        row = [f"{median_ms(lambda: op(a), reps):.3f}" for op in ops for a in ("direct", "im2col")]
        from fastconv.conv import _choose, _geometry

        geom, _ = _geometry(nd, xs, ws, s, p, 1, g)
        names = {0: "d", 1: "i"}
        picks = "/".join(names[_choose(geom, op)] for op in ("forward", "backward_input", "backward_weight"))
        cells = [name] + row + [picks]
        print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
