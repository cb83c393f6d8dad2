"""Compiling and launching the CUDA kernels of this directory's .cu sources.

Each source is compiled with NVRTC through cupy.RawModule (common.cuh
prepended, scalar_t = float or double), once per device and dtype, and
cached; CuPy also keeps the binaries on disk across processes.  Kernels
cover their work with grid-stride loops, so the grid is sized freely.

NumPy arrays run the same sources through ``emulator``, which the tests
install (tests/cuda_emulator.py compiles the sources as C++ for the CPU):
that is how the kernels and the code around them are checked on machines
without a GPU.  Without it, NumPy arrays here are a TypeError.
"""
import functools
import pathlib

import numpy as np

SOURCES = ("conv.cu", "pool.cu", "rnn.cu", "filter.cu")
PRELUDE = "common.cuh"
# NVRTC options; no --use_fast_math: the kernels rely on IEEE NaN / Inf
OPTIONS = ("-std=c++17",)
_DIR = pathlib.Path(__file__).parent
_THREADS = 256
_MAX_BLOCKS = 1 << 16  # grid-stride loops cover the rest

emulator = None  # emulator(source, name, dtype, blocks, threads, args) for NumPy arrays


@functools.cache
def source_text(name):
    """The text NVRTC compiles for a source file: the prelude, then the file."""
    return (_DIR / PRELUDE).read_text() + (_DIR / name).read_text()


def scalar_type(dtype):
    return {"f": "float", "d": "double"}[np.dtype(dtype).char]


@functools.cache
def _module(device, source, scalar):
    import cupy

    return cupy.RawModule(code=source_text(source), options=OPTIONS + (f"-Dscalar_t={scalar}",))


@functools.cache
def _function(device, source, name, scalar):
    return _module(device, source, scalar).get_function(name)


def _argument(a, dtype):
    """Python numbers as the kernels' parameter types: ints (and bools) as
    index_t (64-bit), floats as scalar_t; arrays and None (NULL) as they are."""
    if isinstance(a, (bool, int, np.integer)):
        return np.int64(a)
    if isinstance(a, (float, np.floating)):
        return np.dtype(dtype).type(a)
    return a


def launch(source, name, dtype, work, *args, threads=_THREADS, blocks=None):
    """Runs kernel `name` of `source` compiled for `dtype` over `work` items
    (blocks: a block count instead, for kernels that give each block a unit
    of work), with `args` in the kernel's parameter order."""
    if blocks is None:
        blocks = max(1, min(-(-work // threads), _MAX_BLOCKS))
    args = tuple(_argument(a, dtype) for a in args)
    if any(type(a) is np.ndarray for a in args):
        if emulator is None:
            raise TypeError("the GPU kernels run on CuPy arrays; received NumPy arrays")
        return emulator(source, name, dtype, blocks, threads, args)
    import cupy

    fn = _function(cupy.cuda.runtime.getDevice(), source, name, scalar_type(dtype))
    fn((blocks,), (threads,), args)
