"""A GRU on MNIST-1D with fastconv.nn: each sequence read one sample per step
(40 steps), 32 units, every step's state into a linear layer; Adam 3e-3,
batch 100.  The reference recipe (40 epochs) reaches about 93% test accuracy.

    python examples/mnist1d_gru.py [--epochs 40] [--units 32]

Needs mnist1d (pip install mnist1d).
"""
import argparse
import time

from fastconv.nn import zoo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=zoo.RECIPES["mnist1d_gru"]["epochs"])
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = ap.parse_args(argv)

    x, y, xt, yt = zoo.load_mnist1d()
    x, xt = x[..., None], xt[..., None]  # (N, T=40, features=1)
    model = zoo.mnist1d_gru(seed=args.seed, units=args.units)
    model.summary()
    t = time.perf_counter()
    history = model.fit(x, y, epochs=args.epochs, batch_size=zoo.RECIPES["mnist1d_gru"]["batch_size"],
                        validation_data=(xt, yt), verbose=args.verbose)
    seconds = time.perf_counter() - t
    loss, acc = model.evaluate(xt, yt)
    print(f"MNIST-1D GRU: test accuracy {acc:.1%}, {args.epochs} epochs in {seconds:.1f} s")
    return acc, history


if __name__ == "__main__":
    main()
