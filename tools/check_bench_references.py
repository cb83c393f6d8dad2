"""Checks the NumPy reference peers of `fastconv bench`
(fastconv._tools.references) against fastconv on small float64 problems:
a peer that computed something else would make its timings meaningless.

    python tools/check_bench_references.py
"""
import sys

import numpy as np

import fastconv
from fastconv._tools import references as ref


def close(name, a, b, tol=1e-9):
    err = float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / max(1.0, float(np.max(np.abs(b))))
    ok = err < tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max relative error {err:.1e}")
    return ok


def main():
    rng = np.random.default_rng(0)
    ok = True
    for nd, (xs, ws, s, p) in {1: ((3, 4, 17), (5, 4, 3), 2, 1), 2: ((2, 3, 9, 11), (4, 3, 3, 2), 2, 1)}.items():
        for stride in (1, s):
            x, w = rng.standard_normal(xs), rng.standard_normal(ws)
            conv = fastconv.conv1d if nd == 1 else fastconv.conv2d
            gin = fastconv.conv1d_grad_input if nd == 1 else fastconv.conv2d_grad_input
            gw = fastconv.conv1d_grad_weight if nd == 1 else fastconv.conv2d_grad_weight
            y, cols = ref.conv_forward(x, w, stride, p)
            ok &= close(f"conv{nd}d stride {stride} forward", y, conv(x, w, stride=stride, padding=p))
            gy = rng.standard_normal(y.shape)
            dx, dw = ref.conv_backward(x, w, gy, cols, stride, p)
            ok &= close(f"conv{nd}d stride {stride} grad input", dx, gin(x.shape, w, gy, stride, p))
            ok &= close(f"conv{nd}d stride {stride} grad weight", dw, gw(x, w.shape, gy, stride, p))
    x = rng.standard_normal((2, 3, 12, 13))
    for k, s, p in ((2, 2, 0), (3, 2, 1), (3, 1, 1)):
        y, ii = fastconv.max_pool2d(x, k, s, p, return_indices=True)
        gy = rng.standard_normal(y.shape)
        ry, rdx = ref.max_pool_forward_backward(x, k, s, p, gy)
        ok &= close(f"max pool k{k} s{s} p{p} forward", ref.max_pool_forward(x, k, s, p), y)
        ok &= close(f"max pool k{k} s{s} p{p} forward (with argmax)", ry, y)
        ok &= close(f"max pool k{k} s{s} p{p} backward", rdx, fastconv.max_pool2d_backward(gy, ii, x.shape))
        y = fastconv.avg_pool2d(x, k, s, p)
        ok &= close(f"avg pool k{k} s{s} p{p} forward", ref.avg_pool_forward(x, k, s, p), y)
        ok &= close(f"avg pool k{k} s{s} p{p} backward", ref.avg_pool_backward(x.shape, k, s, p, gy, x.dtype),
                    fastconv.avg_pool2d_backward(gy, x.shape, k, s, p))
    T, B, I, H = 7, 3, 4, 5
    x = rng.standard_normal((T, B, I))
    for kind, g in ref._GATES.items():
        w = [rng.uniform(-0.5, 0.5, sh) for sh in ((g * H, I), (g * H, H), (g * H,), (g * H,))]
        y, saved = ref.rnn_forward(kind, x, *w)
        gy = rng.standard_normal(y.shape)
        grads = ref.rnn_backward(kind, x, w[0], w[1], y, saved, gy)
        if kind == "lstm":
            fy, *_, cache = fastconv.lstm_forward(x, None, None, *w)
            fg = fastconv.lstm_backward(gy, None, None, cache)
            fg = (fg[0],) + tuple(fg[3:])
        else:
            fwd, bwd = ((fastconv.gru_forward, fastconv.gru_backward) if kind == "gru"
                        else (fastconv.rnn_forward, fastconv.rnn_backward))
            fy, _, cache = fwd(x, None, *w)
            fg = bwd(gy, None, cache)
            fg = (fg[0],) + tuple(fg[2:])
        ok &= close(f"{kind} forward", y, fy)
        for name, a, b in zip(("dx", "dw_ih", "dw_hh", "db_ih", "db_hh"), grads, fg):
            ok &= close(f"{kind} {name}", a, b)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
