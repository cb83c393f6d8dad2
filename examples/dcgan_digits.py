"""A small DCGAN on scikit-learn's 8x8 digits, with fastconv.nn's low-level
path (the lecture notes train one in Keras): a custom loop of
forward(training=True) / backward(grad) / optimizer.step on two models.

Generator: noise (32) -> Dense 64*2*2 -> 2x2 -> Conv2DTranspose 4x4 -> 8x8.
Discriminator: 8x8 -> strided Conv2D 4x4 -> 2x2 -> Dense -> one logit.
Both with Adam(2e-3, beta_1=0.5); the discriminator's sigmoid is fused into
the binary cross-entropy (from_logits).  At the end a logistic-regression
digit classifier, fitted on the real digits, reads the generated ones: how
confidently it recognises them, and which digits the generator draws, say
whether it learned digits or noise.  Saves a grid of samples as a PNG.

    python examples/dcgan_digits.py [--epochs 60] [--out dcgan_digits.png]

Needs scikit-learn and Pillow (pip install scikit-learn pillow).
"""
import argparse
import time

import numpy as np

from fastconv import nn
from fastconv.nn import losses, zoo

LATENT = 32
CF = "channels_first"  # the digits come as (N, 1, 8, 8), PyTorch's layout


def generator(seed):
    return nn.Sequential([
        nn.Dense(64 * 2 * 2, activation="leaky_relu"),
        nn.Reshape((64, 2, 2)),
        nn.Conv2DTranspose(32, 4, strides=2, padding="same", data_format=CF),
        nn.BatchNorm(axis=1, momentum=0.9),
        nn.Activation("leaky_relu"),
        nn.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid", data_format=CF),
    ], name="generator", seed=seed)


def discriminator(seed):
    return nn.Sequential([
        nn.Conv2D(32, 3, strides=2, padding="same", activation="leaky_relu", data_format=CF),
        nn.Conv2D(64, 3, strides=2, padding="same", activation="leaky_relu", data_format=CF),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Dense(1, activation="sigmoid"),
    ], name="discriminator", seed=seed)


def train(epochs, batch=64, seed=0, log=print):
    x, _, _, _ = zoo.load_digits(test_size=0.01, seed=seed)
    rng = np.random.default_rng(seed)
    G, D = generator(seed), discriminator(seed + 1)
    G.build((LATENT,))
    D.build((1, 8, 8))
    g_opt, d_opt = nn.Adam(2e-3, beta_1=0.5), nn.Adam(2e-3, beta_1=0.5)
    bce = losses.BinaryCrossentropy(from_logits=True)
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        d_sum = g_sum = 0.0
        for i in range(0, len(x) - batch + 1, batch):
            real = x[order[i: i + batch]]
            z = rng.standard_normal((batch, LATENT)).astype(np.float32)
            fake = G.forward(z, training=True)
            # discriminator: real -> 1 (smoothed to 0.9), fake -> 0, one batch of both
            both = np.concatenate([real, fake])
            target = np.concatenate([np.full((batch, 1), 0.9), np.zeros((batch, 1))]).astype(np.float32)
            d_loss, grad = bce(target, D.forward(both, training=True, logits=True))
            D.backward(grad, input_grad=False)
            d_opt.step(D.parameters(), D.gradients())
            # generator: make D say 1 on fakes; the gradient flows through D into G
            g_loss, grad = bce(np.ones((batch, 1), np.float32), D.forward(fake, training=True, logits=True))
            G.backward(D.backward(grad), input_grad=False)
            g_opt.step(G.parameters(), G.gradients())
            d_sum, g_sum = d_sum + d_loss, g_sum + g_loss
        steps = len(x) // batch
        if log and (epoch + 1) % max(1, epochs // 10) == 0:
            log(f"epoch {epoch + 1:3d}/{epochs}: discriminator loss {d_sum / steps:.3f}, "
                f"generator loss {g_sum / steps:.3f}")
    return G, D


def judge(G, n=500, seed=0):
    """A digit classifier fitted on the real images reads n generated ones:
    (mean confidence, fraction read with confidence > 0.9, digit counts)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    d = load_digits()
    clf = LogisticRegression(max_iter=2000).fit(d.images.reshape(-1, 64) / 16.0, d.target)
    z = np.random.default_rng(seed + 99).standard_normal((n, LATENT)).astype(np.float32)
    p = clf.predict_proba(G.predict(z).reshape(n, 64))
    return float(p.max(1).mean()), float((p.max(1) > 0.9).mean()), np.bincount(p.argmax(1), minlength=10)


def save_grid(G, path, rows=8, seed=0):
    from PIL import Image

    z = np.random.default_rng(seed + 7).standard_normal((rows * rows, LATENT)).astype(np.float32)
    imgs = G.predict(z)[:, 0]  # (rows^2, 8, 8) in [0, 1]
    grid = np.ones((rows * 9 + 1, rows * 9 + 1), np.float32)
    for k, img in enumerate(imgs):
        r, c = divmod(k, rows)
        grid[1 + 9 * r: 9 + 9 * r, 1 + 9 * c: 9 + 9 * c] = img
    Image.fromarray((255 * (1 - grid)).astype(np.uint8)).resize((grid.shape[1] * 6, grid.shape[0] * 6),
                                                               Image.NEAREST).save(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="dcgan_digits.png")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    G, _ = train(args.epochs, seed=args.seed)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - t:.1f} s")
    confidence, sure, counts = judge(G, seed=args.seed)
    print(f"a digit classifier reads the generated images with mean confidence {confidence:.2f} "
          f"({sure:.0%} above 0.9); digits drawn: {dict(enumerate(counts.tolist()))}")
    save_grid(G, args.out, seed=args.seed)
    print(f"samples saved to {args.out}")
    return confidence, counts


if __name__ == "__main__":
    main()
