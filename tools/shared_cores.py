"""Training speed on a quiet machine and beside busy processes, fastconv
against PyTorch (issue 14's shared-core measurement).

Each run is a fresh process training the MNIST-1D CNN (bench/test_bench_
train.py's T1 model and recipe) for --epochs epochs on every core, timed;
"busy" runs start --busy processes that spin in a Python loop first.  The
slowdown is busy time / quiet time, per library and OpenMP setting:

    python tools/shared_cores.py [--epochs 10] [--busy 1] [--rounds 2]

fastconv's rows: its default (idle OpenMP threads spin briefly, then
sleep: GOMP_SPINCOUNT set at import unless the user set the OpenMP
variables), libgomp's own default spin (GOMP_SPINCOUNT=300000, what
fastconv ran with before), and OMP_WAIT_POLICY=passive.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, {bench!r})
import numpy as np
side, epochs = {side!r}, {epochs}
import test_bench_train as T
from fastconv.nn import zoo
x, y, xt, yt = T.data("mnist1d_cnn")
recipe = zoo.RECIPES["mnist1d_cnn"]
if side == "torch":
    import fastconv, torch
    torch.set_num_threads(fastconv.get_num_threads())
    seconds, acc = T.fit_torch("mnist1d_cnn", x, y, xt, yt, epochs, recipe["batch_size"])
else:
    seconds, acc = T.fit_fastconv("mnist1d_cnn", x, y, xt, yt, epochs, recipe["batch_size"])
print(json.dumps({{"seconds": seconds, "accuracy": acc}}))
"""

VARIANTS = [  # (label, side, environment changes)
    ("fastconv (default)", "fastconv", {}),
    ("fastconv GOMP_SPINCOUNT=300000 (libgomp's default)", "fastconv", {"GOMP_SPINCOUNT": "300000"}),
    ("fastconv OMP_WAIT_POLICY=passive", "fastconv", {"OMP_WAIT_POLICY": "passive"}),
    ("torch (default)", "torch", {}),
]


def run(side, env_changes, epochs):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_changes)
    code = CHILD.format(bench=str(ROOT / "bench"), side=side, epochs=epochs)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--busy", type=int, default=1, help="competing busy processes")
    ap.add_argument("--rounds", type=int, default=2, help="runs per cell (the minimum is reported)")
    args = ap.parse_args(argv)
    results = {}
    for label, side, env in VARIANTS:
        quiet = min(run(side, env, args.epochs) for _ in range(args.rounds))
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
        try:
            time.sleep(0.5)
            busy = min(run(side, env, args.epochs) for _ in range(args.rounds))
        finally:
            for h in hogs:
                h.kill()
        results[label] = (quiet, busy)
        print(f"{label}: quiet {quiet:.2f} s, beside {args.busy} busy process(es) {busy:.2f} s: "
              f"{busy / quiet:.2f}x slower", flush=True)
    return results


if __name__ == "__main__":
    main()
