"""Backends: the kernels that arrays of each module run on.  NumPy arrays run
on fastconv._cpu, CuPy arrays on fastconv._gpu, which has the same
functions with the same arguments (see fastconv._arrays for how an array's
module is decided; its names are re-exported here).
"""
import numpy as np

from . import _cpu
from ._arrays import get_array_module, is_array, is_cupy_array, to_host  # noqa: F401


def kernels(xp):
    """The backend arrays of module xp run on: fastconv._cpu for NumPy,
    fastconv._gpu for CuPy (the same functions and arguments)."""
    if xp is np:
        return _cpu
    from . import _gpu

    return _gpu


def train(xp):
    """fastconv.nn's elementwise and GEMM steps for arrays of module xp: the
    compiled fused passes on the CPU (fastconv._cpu.train), array
    expressions on the GPU (fastconv._gpu.train)."""
    return kernels(xp).train
