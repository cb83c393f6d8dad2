"""On a GPU machine: the GPU backend's convolution algorithms side by side on
real layers (forward and input gradient; direct, im2col, winograd, and
torch's cuDNN), Winograd's float32 error against float64 next to im2col's,
and the recurrent R1 step loop's host time; `wgrad`: the weight gradient by
algorithm against torch's, with the layer's other two passes.  Medians of
synchronised wall times, ms.  python tools/gpu_ab.py [layers error recurrent
wgrad public]"""
import time

import numpy as np
import cupy as cp

import fastconv
from fastconv import _gpu
from fastconv._ext import _fastconv as core

try:
    import torch
    import torch.nn.functional as F

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
except ImportError:
    torch = None

LAYERS = [  # name, x shape, w shape (3x3, stride 1, padding 1)
    ("C1 resnet 64@56 b32", (32, 64, 56, 56), (64, 64, 3, 3)),
    ("C3 128@28 b32", (32, 128, 28, 28), (128, 128, 3, 3)),
    ("resnet l3 256@14 b8", (8, 256, 14, 14), (256, 256, 3, 3)),
    ("resnet l4 512@7 b8", (8, 512, 7, 7), (512, 512, 3, 3)),
    ("vgg 128@112 b8", (8, 128, 112, 112), (128, 128, 3, 3)),
    ("cifar 32@32 b128", (128, 32, 32, 32), (32, 32, 3, 3)),
    ("thin 16@64 b32", (32, 16, 64, 64), (16, 16, 3, 3)),
    ("vgg first 3->64 @224 b8", (8, 3, 224, 224), (64, 3, 3, 3)),
]
ALGOS = {"direct": core.ALGO_DIRECT, "im2col": core.ALGO_IM2COL, "winograd": _gpu.conv.ALGO_WINOGRAD}


def timed(fn, reps=20):
    for _ in range(3):
        fn()
    cp.cuda.runtime.deviceSynchronize()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        cp.cuda.runtime.deviceSynchronize()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def layers():
    rng = np.random.default_rng(0)
    print(f"{'layer':26s} {'op':9s} " + " ".join(f"{a:>9s}" for a in list(ALGOS) + ["torch", "auto"]))
    for name, xs, ws in LAYERS:
        x = cp.asarray(rng.standard_normal(xs, dtype=np.float32))
        w = cp.asarray(rng.standard_normal(ws, dtype=np.float32))
        plan = fastconv.ConvPlan(xs, ws, np.float32, padding=1)
        geom = plan.geometry
        y = cp.empty(plan.output_shape, np.float32)
        dx = cp.empty(xs, np.float32)
        gy = cp.asarray(rng.standard_normal(plan.output_shape, dtype=np.float32))
        for op in ("forward", "grad_in"):
            row = []
            for code in ALGOS.values():
                if op == "forward":
                    row.append(timed(lambda: _gpu.conv2d_forward(code, y, x, w, None, geom)))
                else:
                    row.append(timed(lambda: (dx.fill(0), _gpu.conv2d_backward_input(code, dx, gy, w, geom))))
            if torch is not None:
                tx, tw, tg = (torch.as_tensor(a, device="cuda") for a in (x, w, gy))
                if op == "forward":
                    row.append(timed(lambda: F.conv2d(tx, tw, padding=1)))
                else:
                    row.append(timed(lambda: torch.nn.grad.conv2d_input(xs, tw, tg, padding=1)))
            else:
                row.append(float("nan"))
            auto = _gpu.choose_algorithm(geom, "forward" if op == "forward" else "backward_input")
            print(f"{name:26s} {op:9s} " + " ".join(f"{t:9.3f}" for t in row) + f" {list(ALGOS)[auto]:>9s}",
                  flush=True)


def wgrad():
    """The weight gradient by algorithm (public call), torch's, and C1's forward + backward by parts."""
    rng = np.random.default_rng(0)
    print(f"{'layer':26s} {'direct':>9s} {'im2col':>9s} {'torch':>9s}  grad_in  fwd  fwd+bwd(public)")
    for name, xs, ws in LAYERS:
        x = cp.asarray(rng.standard_normal(xs, dtype=np.float32))
        w = cp.asarray(rng.standard_normal(ws, dtype=np.float32))
        gy = cp.asarray(rng.standard_normal(fastconv.ConvPlan(xs, ws, np.float32, padding=1).output_shape,
                                            dtype=np.float32))
        row = [timed(lambda: fastconv.conv2d_grad_weight(x, ws, gy, 1, 1, algorithm=a)) for a in ("direct", "im2col")]
        if torch is not None:
            tx, tg = (torch.as_tensor(a, device="cuda") for a in (x, gy))
            row.append(timed(lambda: torch.nn.grad.conv2d_weight(tx, ws, tg, padding=1)))
        row.append(timed(lambda: fastconv.conv2d_grad_input(xs, w, gy, 1, 1)))
        row.append(timed(lambda: fastconv.conv2d(x, w, padding=1)))
        row.append(timed(lambda: (fastconv.conv2d(x, w, padding=1), fastconv.conv2d_grad_input(xs, w, gy, 1, 1),
                                  fastconv.conv2d_grad_weight(x, ws, gy, 1, 1))))
        print(f"{name:26s} " + " ".join(f"{t:9.3f}" for t in row), flush=True)


def error():
    rng = np.random.default_rng(5)
    print("float32 error against float64 (max |err| / max |ref|, rms rel), forward and input gradient:")
    for C, n in [(64, 28), (256, 14)]:
        x, w = rng.standard_normal((4, C, n, n)), rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)
        gy = rng.standard_normal((4, C, n, n))
        exact = fastconv.conv2d(x, w, padding=1), fastconv.conv2d_grad_input(x.shape, w, gy, padding=1)
        xg, wg, gg = (cp.asarray(a.astype(np.float32)) for a in (x, w, gy))
        for alg in ("auto", "im2col", "direct"):
            got = (fastconv.conv2d(xg, wg, padding=1, algorithm=alg),
                   fastconv.conv2d_grad_input(x.shape, wg, gg, padding=1, algorithm=alg))
            errs = [(float(np.abs(cp.asnumpy(a) - e).max() / np.abs(e).max()),
                     float(np.sqrt(np.mean((cp.asnumpy(a) - e) ** 2) / np.mean(e ** 2)))) for a, e in zip(got, exact)]
            print(f"  C={C:3d} {alg:7s} " + "  ".join(f"{m:.2e} rms {r:.2e}" for m, r in errs), flush=True)


def recurrent():
    rng = np.random.default_rng(1)
    T, B, I, H = 100, 64, 128, 256
    x = cp.asarray(rng.standard_normal((T, B, I), dtype=np.float32))
    ws = [cp.asarray(rng.standard_normal(s, dtype=np.float32) * 0.05) for s in ((4 * H, I), (4 * H, H), (4 * H,), (4 * H,))]
    h0 = cp.zeros((B, H), np.float32)

    def fwd():
        return fastconv.lstm_forward(x, h0, h0, *ws)

    def fwd_bwd():
        y, h, c, cache = fastconv.lstm_forward(x, h0, h0, *ws)
        return fastconv.lstm_backward(y, None, None, cache)

    print(f"R1 LSTM T100 B64 I128 H256: fwd {timed(fwd):.3f} ms, fwd+bwd {timed(fwd_bwd):.3f} ms", flush=True)


def public():
    """The public call against the backend's, C1 and C3 forward: where the host's time goes."""
    import cProfile
    import pstats

    rng = np.random.default_rng(0)
    for name, xs, ws in LAYERS[:2]:
        x = cp.asarray(rng.standard_normal(xs, dtype=np.float32))
        w = cp.asarray(rng.standard_normal(ws, dtype=np.float32))
        plan = fastconv.ConvPlan(xs, ws, np.float32, padding=1)
        y = cp.empty(plan.output_shape, np.float32)
        code = _gpu.choose_algorithm(plan.geometry, "forward")
        rows = {"conv2d": lambda: fastconv.conv2d(x, w, padding=1),
                "plan.forward": lambda: plan.forward(x, w),
                "backend": lambda: _gpu.conv2d_forward(code, y, x, w, None, plan.geometry),
                "conv2d again": lambda: fastconv.conv2d(x, w, padding=1)}
        print(name, " ".join(f"{k} {timed(f, 50):.3f}" for k, f in rows.items()), flush=True)
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(50):
            fastconv.conv2d(x, w, padding=1)
        cp.cuda.runtime.deviceSynchronize()
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(12)


if __name__ == "__main__":
    import sys

    print(cp.cuda.runtime.getDeviceProperties(0)["name"].decode())
    for part in sys.argv[1:] or ["recurrent", "error", "layers"]:
        globals()[part]()
