"""Reference models and their datasets, shared by the examples, the
`fastconv demo` command and the training benchmarks (which build the same
architectures in PyTorch).  Datasets are generated or shipped locally:
nothing downloads.

- mnist1d_cnn: the MNIST-1D paper's CNN (Greydanus 2020): three 1-D
  convolutions of 25 channels (kernel 5 then 3, stride 2, padding 1), ReLU,
  and a linear layer; Adam 1e-2, batch 100.
- mnist1d_gru: a GRU of 32 units read at every step, then a linear layer.
- digits_cnn: a small VGG-style CNN for scikit-learn's 8x8 digits."""
import numpy as np

from . import layers as L

CF = "channels_first"  # the recipes take (N, C, ...) arrays, as the PyTorch models they are measured against
from .model import Sequential
from .optimizers import Adam
from .recurrent import GRU


def load_mnist1d(seed=42):
    """MNIST-1D with the package's default arguments (4000 train / 1000 test
    sequences of 40 samples), generated locally by the `mnist1d` package:
    (x_train, y_train, x_test, y_test), x float32 (N, 40)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ImportError("MNIST-1D needs the mnist1d package: pip install mnist1d") from None
    args = get_dataset_args()
    args.seed = seed
    data = make_dataset(args)
    return (data["x"].astype(np.float32), data["y"].astype(np.int64), data["x_test"].astype(np.float32),
            data["y_test"].astype(np.int64))


def load_digits(test_size=0.25, seed=0):
    """scikit-learn's 8x8 digits scaled to [0, 1], split stratified:
    (x_train, y_train, x_test, y_test), x float32 (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=test_size, random_state=seed, stratify=d.target)
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def mnist1d_cnn(seed=0):
    """Input (N, 1, 40); compiled with Adam(1e-2, L2 1e-4) and cross-entropy."""
    model = Sequential([
        L.Conv1D(25, 5, strides=2, padding=1, activation="relu", data_format=CF),
        L.Conv1D(25, 3, strides=2, padding=1, activation="relu", data_format=CF),
        L.Conv1D(25, 3, strides=2, padding=1, activation="relu", data_format=CF),
        L.Flatten(),
        L.Dense(10, activation="softmax"),
    ], name="mnist1d_cnn", seed=seed)
    model.compile(_adam("mnist1d_cnn"), "sparse_categorical_crossentropy", ["accuracy"])
    model.build((1, 40))
    return model


def mnist1d_gru(seed=0, units=32):
    """Input (N, 40, 1): the sequence one sample per step; compiled with
    Adam(3e-3) and cross-entropy."""
    model = Sequential([GRU(units, return_sequences=True), L.Flatten(), L.Dense(10, activation="softmax")],
                       name="mnist1d_gru", seed=seed)
    model.compile(_adam("mnist1d_gru"), "sparse_categorical_crossentropy", ["accuracy"])
    model.build((40, 1))
    return model


def digits_cnn(seed=0, data_format=CF):
    """Input (N, 1, 8, 8) (data_format "channels_last": (N, 8, 8, 1)); compiled with Adam(1e-3, L2
    1e-4) and cross-entropy."""
    model = Sequential([
        L.Conv2D(32, 3, padding="same", activation="relu", data_format=data_format),
        L.Conv2D(32, 3, padding="same", activation="relu", data_format=data_format),
        L.MaxPool2D(2, data_format=data_format),
        L.Conv2D(64, 3, padding="same", activation="relu", data_format=data_format),
        L.MaxPool2D(2, data_format=data_format),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dropout(0.3),
        L.Dense(10, activation="softmax"),
    ], name="digits_cnn", seed=seed)
    model.compile(_adam("digits_cnn"), "sparse_categorical_crossentropy", ["accuracy"])
    model.build((1, 8, 8) if data_format == CF else (8, 8, 1))
    return model


# the reference runs (examples, demo, benchmarks): epochs, batch size, and
# Adam's learning rate and L2 weight decay.  The CNNs' small L2 term (1e-4,
# the same rule as torch.optim.Adam's weight_decay) steadies their test
# accuracy from seed to seed: MNIST-1D CNN, seeds 0-3, 94.4 / 93.2 / 93.7
# / - % without it, 95.9 / 92.9 / 95.6 / 95.5 % with it; digits CNN, seeds
# 0-4, 97.6 / 98.4 / 98.2 / 98.9 / 97.6 % without, 98.0 / 98.4 / 98.7 /
# 98.9 / 98.2 % with.
RECIPES = {
    "mnist1d_cnn": {"epochs": 150, "batch_size": 100, "learning_rate": 1e-2, "weight_decay": 1e-4},
    "mnist1d_gru": {"epochs": 40, "batch_size": 100, "learning_rate": 3e-3, "weight_decay": 0.0},
    "digits_cnn": {"epochs": 20, "batch_size": 32, "learning_rate": 1e-3, "weight_decay": 1e-4},
}


def _adam(name):
    recipe = RECIPES[name]
    return Adam(recipe["learning_rate"], weight_decay=recipe["weight_decay"])
