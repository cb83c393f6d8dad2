"""The `fastconv` command (also `python -m fastconv`):

    fastconv info                 build, SIMD level, threads, FFTW, GPU, installed peers
    fastconv demo [--model cnn]   trains the MNIST-1D CNN (or GRU), prints accuracy and time
    fastconv bench [--only conv]  fastconv against installed peers: ratio table and a PNG chart

`fastconv` alone prints this help and exits 0.  Output into a pipe that
closes early (`fastconv info | head -2`) ends quietly with status 141, as a
process killed by SIGPIPE; Ctrl-C ends with status 130.
"""
import argparse
import importlib.metadata
import json
import os
import sys
import time

# label: the distributions that provide it
PEERS = {"torch": ("torch",),
         "opencv": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                    "opencv-contrib-python-headless"),
         "scipy": ("scipy",), "pyfftw": ("pyFFTW",), "mnist1d": ("mnist1d",), "scikit-learn": ("scikit-learn",),
         "matplotlib": ("matplotlib",)}


def _peer_versions():
    out = {}
    for label, dists in PEERS.items():
        out[label] = None
        for dist in dists:
            try:
                out[label] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                pass
    return out


def cmd_info(args):
    import fastconv

    info = fastconv.info()
    if args.json:
        print(json.dumps({"fastconv": info, "peers": _peer_versions()}, indent=2, default=str))
        return 0
    print(f"fastconv {info['version']}")
    print(f"  SIMD        {info['simd']} (CPU supports {info['simd_detected']}; FASTCONV_SIMD overrides)")
    print(f"  GEMM        {info['gemm']}, register tile float32 {info['gemm_tile']['float32']}, "
          f"float64 {info['gemm_tile']['float64']}")
    follows = ", fewer while other processes keep CPUs busy" if info["threads_follow_load"] else ""
    print(f"  threads     {info['num_threads']} (OpenMP; fastconv.set_num_threads / OMP_NUM_THREADS{follows})")
    print(f"  FFT         pyFFTW {info['pyfftw'] or 'not installed'}")
    gpu = info["gpu"]
    print(f"  GPU         {gpu['device'] if gpu['available'] else 'off: ' + gpu['reason']}")
    print("  peers       " + ", ".join(f"{k} {v or '-'}" for k, v in _peer_versions().items()))
    return 0


def cmd_demo(args):
    import numpy as np

    from fastconv.nn import zoo

    build = {"cnn": zoo.mnist1d_cnn, "gru": zoo.mnist1d_gru}[args.model]
    name = f"mnist1d_{args.model}"
    recipe = zoo.RECIPES[name]
    epochs = args.epochs or recipe["epochs"]
    try:
        x, y, xt, yt = zoo.load_mnist1d()
    except ImportError as e:
        print(f"fastconv demo: {e}", file=sys.stderr)
        return 1
    model = build(seed=args.seed)
    shape = (-1,) + model.input_shape  # (N, 1, 40) for the CNN, (N, 40, 1) for the GRU
    x, xt = x.reshape(shape), xt.reshape(shape)
    print(f"MNIST-1D: {len(x)} train / {len(xt)} test sequences of 40 samples (generated locally)")
    model.summary()
    t = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=recipe["batch_size"], verbose=2 if args.quiet else 1)
    train_s = time.perf_counter() - t
    loss, acc = model.evaluate(xt, yt)
    print(f"\n{name}: test accuracy {acc:.1%} (loss {loss:.3f}) after {epochs} epochs; "
          f"training took {train_s:.1f} s ({train_s / epochs * 1e3:.0f} ms / epoch)")
    if args.save:
        model.save(args.save)
        print(f"weights saved to {args.save}")
    return 0 if np.isfinite(loss) else 1


def cmd_bench(args):
    from fastconv._tools import bench as _bench

    families = tuple(args.only.split(",")) if args.only else _bench.DEFAULT_FAMILIES
    bad = [f for f in families if f not in _bench.FAMILIES]
    if bad:
        print(f"fastconv bench: --only takes {', '.join(_bench.FAMILIES)}; received {', '.join(bad)}",
              file=sys.stderr)
        return 2
    if args.passes < 1:
        print(f"fastconv bench: --passes must be at least 1; received {args.passes}", file=sys.stderr)
        return 2
    ids = args.workloads.split(",") if args.workloads else None
    print("fastconv bench: minimum of repeated calls, every library on the same threads; "
          "ratio = peer time / fastconv time (> 1: fastconv is faster)\n")
    if args.blocks < 1:
        print(f"fastconv bench: --blocks must be at least 1; received {args.blocks}", file=sys.stderr)
        return 2
    rows = _bench.run(families, ids, args.rounds_scale, passes=args.passes, blocks=args.blocks)
    if not rows:
        print("no workload matched", file=sys.stderr)
        return 2
    print("\n" + _bench.table(rows))
    if "sweep" in families:
        print("\n" + _bench.sweep_summary(rows))
    measured = sorted({p for r in rows for p in r["peers"]})
    print("\npeers measured: " + (", ".join(measured) or "none"))
    missing = _bench.missing_peers(rows)
    if missing:
        skipped = sorted({p for r in rows for p in r["skipped"]})
        print("peers not installed, skipped: " + ", ".join(skipped))
        for dist, how in sorted(missing.items()):
            print(f"  to add {dist}: {how}")
    if args.plot:
        try:
            _bench.plot(rows, args.plot)
            print(f"\nchart written to {args.plot}")
        except ImportError:
            print("\nno chart: matplotlib is not installed (pip install matplotlib)")
    return 0


def parser():
    from .._version import __version__

    p = argparse.ArgumentParser(prog="fastconv", description="fastconv: fast convolution, pooling and "
                                "recurrent kernels for NumPy")
    p.add_argument("--version", action="version", version=f"fastconv {__version__}")
    sub = p.add_subparsers(dest="command", title="commands")
    s = sub.add_parser("info", help="what this build runs on")
    s.add_argument("--json", action="store_true", help="print as JSON")
    s.set_defaults(fn=cmd_info)
    s = sub.add_parser("demo", help="train a small model on MNIST-1D, print accuracy and time")
    s.add_argument("--model", choices=("cnn", "gru"), default="cnn")
    s.add_argument("--epochs", type=int, default=None, help="default: the reference recipe's")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    s.add_argument("--save", metavar="PATH.npz", help="save the trained model")
    s.set_defaults(fn=cmd_demo)
    s = sub.add_parser("bench", help="time fastconv against the installed peers")
    s.add_argument("--only", help="families, comma separated: conv, pool, rnn, filter (the default), and sweep "
                   "(the layers of real networks against torch: minutes)")
    s.add_argument("--workloads", help="workload ids, comma separated (e.g. C1,P1,R1,F1)")
    s.add_argument("--rounds-scale", type=float, default=0.34, help="fraction of the canonical rounds")
    s.add_argument("--passes", type=int, default=1,
                   help="time every row this many times, pass after pass, keeping each side's minimum "
                        "(a shared host: 2-3)")
    s.add_argument("--blocks", type=int, default=2,
                   help="time each side of a row in this many blocks, alternating with the other sides' "
                        "and keeping each side's minimum")
    s.add_argument("--plot", default="fastconv-bench.png", help="PNG chart path ('' for none)")
    s.set_defaults(fn=cmd_bench)
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:  # `fastconv` alone: the help, as a successful answer
        p.print_help()
        return 0
    try:
        status = args.fn(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return status
    except BrokenPipeError:
        # The reader went away (`fastconv info | head -2`).  As the signal
        # module's documentation recommends: point stdout at devnull so the
        # interpreter's final flush cannot raise again, and exit with the
        # status of a process killed by SIGPIPE (128 + 13).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("fastconv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
