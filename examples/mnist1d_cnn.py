"""The MNIST-1D paper's CNN (Greydanus 2020) with fastconv.nn: three 1-D
convolutions of 25 channels and a linear layer, Adam 1e-2 with L2 weight
decay 1e-4, batch 100, on the MNIST-1D dataset generated locally by the
`mnist1d` package (4000 train / 1000 test).  The reference recipe (150 epochs) reaches about 95% test
accuracy; `fastconv demo` runs the same.

    python examples/mnist1d_cnn.py [--epochs 150] [--seed 0]

Needs mnist1d (pip install mnist1d).
"""
import argparse
import time

from fastconv.nn import zoo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=zoo.RECIPES["mnist1d_cnn"]["epochs"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = ap.parse_args(argv)

    x, y, xt, yt = zoo.load_mnist1d()
    model = zoo.mnist1d_cnn(seed=args.seed)
    model.summary()
    t = time.perf_counter()
    history = model.fit(x[:, None], y, epochs=args.epochs, batch_size=zoo.RECIPES["mnist1d_cnn"]["batch_size"],
                        validation_data=(xt[:, None], yt), verbose=args.verbose)
    seconds = time.perf_counter() - t
    loss, acc = model.evaluate(xt[:, None], yt)
    print(f"MNIST-1D CNN: test accuracy {acc:.1%}, {args.epochs} epochs in {seconds:.1f} s")
    return acc, history


if __name__ == "__main__":
    main()
