"""T1, T2: training speed and accuracy, fastconv.nn against the same
architecture in PyTorch CPU: same data, batch size, epochs, optimizer and
learning rate, each side with fastconv's thread count (each framework its
own default initialisation).  Wall time of the whole fit and the test
accuracy it reached, for seeds 0, 1 and 2 (one round each; the table shows
the medians: one seed's accuracy moves by about a percent on these small
test sets, and this host's timings by more).

    python -m pytest bench/test_bench_train.py --benchmark-json=bench/out/train.json
    python bench/ratios.py bench/out/train.json

T1: MNIST-1D (mnist1d defaults: 4000 train / 1000 test), the paper's CNN
    (150 epochs) and a GRU (40 epochs), batch 100, Adam.
T2: scikit-learn digits, the small CNN of fastconv.nn.zoo, 20 epochs,
    batch 32, Adam 1e-3.
Learning rates and L2 weight decay: fastconv.nn.zoo.RECIPES, on both sides.
"""
import time

import numpy as np
import pytest

import fastconv
from fastconv.nn import zoo

try:
    import torch
    import torch.nn as tn
except ImportError:
    torch = None

MODELS = {"T1 mnist1d_cnn": "mnist1d_cnn", "T1 mnist1d_gru": "mnist1d_gru", "T2 digits_cnn": "digits_cnn"}


def data(name):
    if name.startswith("mnist1d"):
        pytest.importorskip("mnist1d")
        x, y, xt, yt = zoo.load_mnist1d()
        if name == "mnist1d_cnn":
            return x[:, None], y, xt[:, None], yt
        return x[..., None], y, xt[..., None], yt
    pytest.importorskip("sklearn")
    return zoo.load_digits()


def torch_model(name):
    if name == "mnist1d_cnn":
        return tn.Sequential(tn.Conv1d(1, 25, 5, 2, 1), tn.ReLU(), tn.Conv1d(25, 25, 3, 2, 1), tn.ReLU(),
                             tn.Conv1d(25, 25, 3, 2, 1), tn.ReLU(), tn.Flatten(), tn.Linear(125, 10))
    if name == "mnist1d_gru":
        class GRUNet(tn.Module):
            def __init__(self):
                super().__init__()
                self.gru, self.head = tn.GRU(1, 32, batch_first=True), tn.Linear(40 * 32, 10)

            def forward(self, x):
                return self.head(self.gru(x)[0].flatten(1))

        return GRUNet()
    return tn.Sequential(tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.Conv2d(32, 32, 3, padding=1), tn.ReLU(),
                         tn.MaxPool2d(2), tn.Conv2d(32, 64, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
                         tn.Linear(256, 128), tn.ReLU(), tn.Dropout(0.3), tn.Linear(128, 10))


SEEDS = (0, 1, 2)


def fit_fastconv(name, x, y, xt, yt, epochs, batch, seed=0):
    model = getattr(zoo, name)(seed=seed)
    t = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
    seconds = time.perf_counter() - t
    return seconds, model.evaluate(xt, yt)[1]


def fit_torch(name, x, y, xt, yt, epochs, batch, seed=0):
    torch.manual_seed(seed)
    model = torch_model(name)
    recipe = zoo.RECIPES[name]  # the same Adam as the fastconv side (L2 as weight_decay)
    opt = torch.optim.Adam(model.parameters(), lr=recipe["learning_rate"], weight_decay=recipe["weight_decay"])
    loss_fn = tn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(tx), generator=g)
        for i in range(0, len(tx), batch):
            idx = order[i: i + batch]
            opt.zero_grad()
            loss_fn(model(tx[idx]), ty[idx]).backward()
            opt.step()
    seconds = time.perf_counter() - t
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())
    return seconds, acc


@pytest.mark.parametrize("side", ["fastconv", "torch"])
@pytest.mark.parametrize("workload", list(MODELS))
def test_train(benchmark, workload, side):
    name = MODELS[workload]
    if side == "torch":
        if torch is None:
            pytest.skip("torch is not installed")
        torch.set_num_threads(fastconv.get_num_threads())
    x, y, xt, yt = data(name)
    recipe = zoo.RECIPES[name]
    runs = []

    def fit():
        seed = SEEDS[len(runs)]
        if side == "fastconv":
            runs.append(fit_fastconv(name, x, y, xt, yt, recipe["epochs"], recipe["batch_size"], seed))
        else:
            runs.append(fit_torch(name, x, y, xt, yt, recipe["epochs"], recipe["batch_size"], seed))

    benchmark.group = workload
    benchmark.pedantic(fit, rounds=len(SEEDS), iterations=1, warmup_rounds=0)
    seconds, accs = [r[0] for r in runs], [r[1] for r in runs]
    benchmark.extra_info.update(side=side, workload=workload, accuracy=float(np.median(accs)),
                                accuracy_by_seed=accs, fit_s_by_seed=seconds, seeds=list(SEEDS),
                                epochs=recipe["epochs"], batch_size=recipe["batch_size"])


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_train_layout(benchmark, layout):
    """T2's model in Keras's default channels-last layout ("fastconv") against the same model
    channels-first ("fastconv_channels_first"): the model moves the channel axis once in and out,
    so the two should train at the same speed."""
    x, y, xt, yt = data("digits_cnn")
    if layout == "channels_last":
        x, xt = np.moveaxis(x, 1, -1).copy(), np.moveaxis(xt, 1, -1).copy()
    recipe = zoo.RECIPES["digits_cnn"]
    runs = []

    def fit():
        model = zoo.digits_cnn(seed=SEEDS[len(runs) % len(SEEDS)], data_format=layout)
        t = time.perf_counter()
        model.fit(x, y, epochs=recipe["epochs"], batch_size=recipe["batch_size"], verbose=0)
        runs.append((time.perf_counter() - t, model.evaluate(xt, yt)[1]))

    benchmark.group = "T2 digits_cnn, channels-last against channels-first"
    side = "fastconv" if layout == "channels_last" else "fastconv_channels_first"
    # a warm-up fit first: the side that runs first in the process would pay the first call's costs
    benchmark.pedantic(fit, rounds=len(SEEDS), iterations=1, warmup_rounds=1)
    runs = runs[-len(SEEDS):]
    benchmark.extra_info.update(side=side, accuracy=float(np.median([r[1] for r in runs])),
                                fit_s_by_seed=[r[0] for r in runs])
