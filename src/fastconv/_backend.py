"""Backends: the kernels that arrays of each module run on.  NumPy arrays run
on the compiled CPU core, CuPy arrays on fastconv._gpu, which has the same
functions with the same arguments (see fastconv._arrays for how an array's
module is decided; its names are re-exported here).
"""
import numpy as np

from ._arrays import get_array_module, is_array, is_cupy_array, to_host  # noqa: F401
from ._cpu import train as _cpu_train
from ._ext import _fastconv as _core


def kernels(xp):
    """The kernels arrays of module xp run on: the CPU core for NumPy,
    fastconv._gpu for CuPy (same function names and arguments)."""
    if xp is np:
        return _core
    from . import _gpu

    return _gpu


def train(xp):
    """fastconv.nn's elementwise and GEMM steps for arrays of module xp: the
    compiled fused passes on the CPU (fastconv._cpu.train), array
    expressions on the GPU (fastconv._gpu.train); follows kernels(xp)."""
    k = kernels(xp)
    if k is _core:
        return _cpu_train
    from ._gpu import train as gpu_train

    return gpu_train
