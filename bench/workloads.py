"""The canonical workloads of ../shared/WORKLOADS.md, float32."""
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
