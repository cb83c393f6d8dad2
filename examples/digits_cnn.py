"""A small CNN on scikit-learn's 8x8 handwritten digits (1797 images, shipped
with scikit-learn), as the lecture notes train one in Keras: two 3x3
convolutions, max pooling, a third convolution, dropout and two dense
layers; Adam 1e-3 with L2 weight decay 1e-4, batch 32, a quarter of the images held out for testing.
The held-out quarter is shown per epoch as validation data, for
watching only (nothing is chosen by it).

    python examples/digits_cnn.py [--epochs 20] [--save digits.npz]

Needs scikit-learn (pip install scikit-learn).
"""
import argparse
import time

from fastconv import nn
from fastconv.nn import zoo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=zoo.RECIPES["digits_cnn"]["epochs"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", help="save the trained model to this .npz")
    ap.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = ap.parse_args(argv)

    x, y, xt, yt = zoo.load_digits()
    model = zoo.digits_cnn(seed=args.seed)
    model.summary()
    t = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=zoo.RECIPES["digits_cnn"]["batch_size"],
              validation_data=(xt, yt), verbose=args.verbose)
    seconds = time.perf_counter() - t
    loss, acc = model.evaluate(xt, yt)
    print(f"digits CNN: test accuracy {acc:.1%} on {len(xt)} held-out images, trained in {seconds:.1f} s")
    if args.save:
        model.save(args.save)
        reloaded = nn.load_model(args.save)
        print(f"saved to {args.save}; reloaded model's accuracy {reloaded.evaluate(xt, yt)[1]:.1%}")
    return acc


if __name__ == "__main__":
    main()
