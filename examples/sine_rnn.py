"""Forecast a noisy sine wave one step ahead with SimpleRNN and LSTM, the
lecture notes' first recurrent example: windows of the last `window` samples
predict the next one.  The series is split in time (train on the first 80%,
test on the rest, no window crossing the split); EarlyStopping watches a
validation slice taken from the end of the training part.  Both networks are
compared with the naive forecast (tomorrow = today) and with the noise floor
(the variance of the added noise: no forecast can beat it on average).

    python examples/sine_rnn.py [--epochs 30] [--plot sine_rnn.png]
"""
import argparse
import time

import numpy as np

from fastconv import nn


def make_series(n=3000, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 0.05
    return (np.sin(t) + 0.5 * np.sin(0.31 * t) + noise * rng.standard_normal(n)).astype(np.float32)


def windows(series, window):
    """(N, window, 1) inputs and (N, 1) next values."""
    idx = np.arange(len(series) - window)[:, None] + np.arange(window)
    return series[idx][..., None], series[window:][:, None]


def build(kind, window, units, seed):
    cell = nn.SimpleRNN(units) if kind == "SimpleRNN" else nn.LSTM(units)
    model = nn.Sequential([cell, nn.Dense(1)], name=kind, seed=seed)
    model.compile(nn.Adam(5e-3), "mse", ["mae"])
    model.build((window, 1))
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", help="save a PNG of the test forecasts (needs matplotlib)")
    args = ap.parse_args(argv)

    series = make_series(noise=args.noise, seed=args.seed)
    split = int(0.8 * len(series))
    x, y = windows(series[:split], args.window)
    xt, yt = windows(series[split - args.window:], args.window)
    nval = len(x) // 8
    results = {"naive (last value)": float(np.mean((xt[:, -1] - yt) ** 2))}
    forecasts = {}
    for kind in ("SimpleRNN", "LSTM"):
        model = build(kind, args.window, args.units, args.seed)
        stop = nn.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
        t = time.perf_counter()
        h = model.fit(x[:-nval], y[:-nval], epochs=args.epochs, batch_size=64, validation_data=(x[-nval:], y[-nval:]),
                      callbacks=[stop], verbose=0)
        seconds = time.perf_counter() - t
        forecasts[kind] = model.predict(xt)
        results[kind] = float(np.mean((forecasts[kind] - yt) ** 2))
        print(f"{kind:<9} trained {len(h.epoch)} epochs in {seconds:.1f} s")
    print(f"\ntest MSE over {len(yt)} one-step forecasts (noise floor {args.noise ** 2:.4f}):")
    for name, mse in results.items():
        print(f"  {name:<20} {mse:.4f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 3.5))
        ax.plot(yt[:200, 0], "k.", ms=3, label="noisy series")
        for kind, f in forecasts.items():
            ax.plot(f[:200, 0], label=f"{kind} forecast")
        ax.legend()
        ax.set_xlabel("test step")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"plot saved to {args.plot}")
    return results


if __name__ == "__main__":
    main()
