"""The canonical workloads (float32), shared by bench/ and `fastconv bench`; bench/WORKLOADS.md describes them."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvWorkload:
    id: str
    x: tuple
    w: tuple
    stride: int
    padding: int
    rounds: int  # enough repetitions for a stable median on a shared machine

    @property
    def nd(self):
        return len(self.x) - 2

    def flops(self, y_shape):
        """2 * multiply-adds of the forward."""
        return 2 * int(np.prod(y_shape)) * int(np.prod(self.w[1:]))

    def arrays(self, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(self.x).astype(np.float32)
        w = (rng.standard_normal(self.w) / np.sqrt(np.prod(self.w[1:]))).astype(np.float32)
        return x, w


CONV = [
    ConvWorkload("C1", (32, 64, 56, 56), (64, 64, 3, 3), 1, 1, 15),
    ConvWorkload("C2", (16, 3, 224, 224), (64, 3, 7, 7), 2, 3, 15),
    ConvWorkload("C3", (32, 128, 28, 28), (128, 128, 3, 3), 1, 1, 15),
    ConvWorkload("C4", (64, 1, 28, 28), (32, 1, 3, 3), 1, 1, 300),
    ConvWorkload("C5", (256, 32, 40), (64, 32, 5), 1, 2, 200),
]


@dataclass(frozen=True)
class PoolWorkload:
    id: str
    kind: str        # "max" or "avg"
    x: tuple
    kernel: int
    stride: int
    padding: int
    rounds: int

    def arrays(self, seed=0):
        return np.random.default_rng(seed).standard_normal(self.x).astype(np.float32)

    def bytes_moved(self, y_shape, mode):
        """Bytes a perfect kernel reads plus writes (float32 values, int64
        indices): the forward reads x and writes y (and, for max with its
        backward, the indices); the backward reads grad_out (and indices)
        and writes grad_x."""
        x, y = 4 * int(np.prod(self.x)), 4 * int(np.prod(y_shape))
        idx = 2 * y if self.kind == "max" else 0
        if mode == "fwd":
            return x + y
        return (x + y + idx) + (y + idx + x)


# The machine's copy bandwidth, read + write (bench/WORKLOADS.md, "Floors").
BANDWIDTH = 44e9

POOL = [
    PoolWorkload("P1", "max", (32, 64, 112, 112), 2, 2, 0, 15),
    PoolWorkload("P2", "avg", (32, 64, 112, 112), 3, 2, 1, 15),
]


@dataclass(frozen=True)
class RecurrentWorkload:
    id: str
    kind: str  # "lstm", "gru", "rnn"
    T: int
    B: int
    I: int
    H: int
    rounds: int

    def flops(self):
        """2 x multiply-adds of the forward's two GEMMs (input and recurrent)."""
        g = {"lstm": 4, "gru": 3, "rnn": 1}[self.kind]
        return 2 * self.T * self.B * g * self.H * (self.I + self.H)


RECURRENT = [
    RecurrentWorkload("R1", "lstm", 100, 64, 128, 256, 15),
    RecurrentWorkload("R2", "gru", 100, 64, 128, 256, 15),
    RecurrentWorkload("R3", "rnn", 100, 64, 128, 256, 20),
    RecurrentWorkload("R4", "lstm", 40, 128, 1, 64, 100),
]


@dataclass(frozen=True)
class FilterWorkload:
    id: str
    kind: str      # "dense" (F1), "gaussian" (F2), "fft" (F3 2-D), "fft1d" (F3 1-D)
    image: tuple
    k: int
    rounds: int

    def arrays(self, seed=0):
        """The image and the kernel (2-D; a Gaussian for F2, sigma = k / 6)."""
        rng = np.random.default_rng(seed)
        img = rng.standard_normal(self.image).astype(np.float32)
        if self.kind == "gaussian":
            t = np.arange(self.k) - (self.k - 1) / 2
            g = np.exp(-0.5 * (t / (self.k / 6)) ** 2)
            g = (g / g.sum()).astype(np.float32)
            return img, np.outer(g, g), g
        if self.kind == "fft1d":
            return img, rng.standard_normal(self.k).astype(np.float32), None
        return img, (rng.standard_normal((self.k, self.k)) / self.k).astype(np.float32), None

    def flops(self):
        """2 x multiply-adds of the direct method (dense) or of the two 1-D
        passes (separable) at the output size: the work the spatial methods
        do, for scale."""
        px = int(np.prod(self.image))
        if self.kind == "gaussian":
            return 2 * px * 2 * self.k
        if self.kind == "fft1d":
            return 2 * (px + self.k - 1) * self.k
        return 2 * px * self.k * self.k


FILTER = [
    FilterWorkload("F1 k=3", "dense", (2048, 2048), 3, 30),
    FilterWorkload("F1 k=15", "dense", (2048, 2048), 15, 15),
    FilterWorkload("F1 k=63", "dense", (2048, 2048), 63, 10),
    FilterWorkload("F2 k=15", "gaussian", (2048, 2048), 15, 30),
    FilterWorkload("F2 k=63", "gaussian", (2048, 2048), 63, 15),
    FilterWorkload("F3 2-D", "fft", (2048, 2048), 63, 10),
    FilterWorkload("F3 1-D", "fft1d", (2 ** 20,), 4097, 15),
]
