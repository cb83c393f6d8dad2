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

SOURCES = ("conv.cu", "winograd.cu", "pool.cu", "rnn.cu", "filter.cu", "ndfilter.cu")
PRELUDE = "common.cuh"
# NVRTC options; no --use_fast_math: the kernels rely on IEEE NaN / Inf
OPTIONS = ("-std=c++17",)
_DIR = pathlib.Path(__file__).parent
_THREADS = 256
_MAX_BLOCKS = 1 << 16  # grid-stride loops cover the rest
# 32-bit index arithmetic (FC_INDEX32) where every size and index bound of a
# launch is below this: room for one grid-stride step past the end
_INT32_LIMIT = (1 << 31) - _THREADS * _MAX_BLOCKS

emulator = None  # emulator(source, name, dtype, blocks, threads, args, index32=) for NumPy arrays


@functools.cache
def source_text(name):
    """The text NVRTC compiles for a source file: the prelude, then the file."""
    return (_DIR / PRELUDE).read_text() + (_DIR / name).read_text()


def scalar_type(dtype):
    return {"f": "float", "d": "double"}[np.dtype(dtype).char]


def fits_int32(*bounds):
    """Whether a launch may index in 32 bits: every bound (array sizes, and
    the largest index expressions its kernel forms) is non-negative and
    below the limit."""
    return all(0 <= b < _INT32_LIMIT for b in bounds)


@functools.cache
def _module(device, source, scalar, index32):
    import cupy

    options = OPTIONS + (f"-Dscalar_t={scalar}",) + (("-DFC_INDEX32",) if index32 else ())
    return cupy.RawModule(code=source_text(source), options=options)


@functools.cache
def _function(device, source, name, scalar, index32):
    return _module(device, source, scalar, index32).get_function(name)


def _arguments(args, dtype, index):
    """Python numbers as the kernels' parameter types: ints (and bools) as
    index_t (`index`: np.int64, or np.int32), floats as scalar_t; arrays and
    None (NULL) as they are.  Also whether a NumPy array is among them.
    (One pass with exact type tests: a launch's host cost is what small
    calls pay.)"""
    out, numpy_seen = [], False
    scalar = np.dtype(dtype).type
    for a in args:
        t = type(a)
        if t is int or t is bool:
            a = index(a)
        elif t is float:
            a = scalar(a)
        elif t is np.ndarray:
            numpy_seen = True
        elif isinstance(a, np.integer):
            a = index(a)
        elif isinstance(a, np.floating):
            a = scalar(a)
        out.append(a)
    return tuple(out), numpy_seen


def _blocks(work, threads, blocks):
    return max(1, min(-(-work // threads), _MAX_BLOCKS)) if blocks is None else blocks


def launch(source, name, dtype, work, *args, threads=_THREADS, blocks=None, index32=False):
    """Runs kernel `name` of `source` compiled for `dtype` over `work` items
    (blocks: a block count instead, for kernels that give each block a unit
    of work), with `args` in the kernel's parameter order.  index32: the
    caller checked with fits_int32 that the launch may index in 32 bits."""
    prepare(source, name, dtype, work, *args, threads=threads, blocks=blocks, index32=index32)(None)


STEP = object()  # prepare's placeholder for the argument that changes from launch to launch


def prepare(source, name, dtype, work, *args, threads=_THREADS, blocks=None, index32=False):
    """launch's work done once for a kernel launched many times (a
    recurrence's steps): returns run(step), which launches with the STEP
    placeholder among args replaced by the integer step (run(None) where
    there is none)."""
    blocks = _blocks(work, threads, blocks)
    index = np.int32 if index32 else np.int64
    args, numpy_seen = _arguments(args, dtype, index)
    at = next((i for i, a in enumerate(args) if a is STEP), None)
    head, tail = (args, ()) if at is None else (args[:at], args[at + 1:])
    if numpy_seen:
        if emulator is None:
            raise TypeError("the GPU kernels run on CuPy arrays; received NumPy arrays")
        index32 = bool(index32)
        return lambda step: emulator(source, name, dtype, blocks, threads,
                                     head if at is None else head + (index(step),) + tail, index32=index32)
    import cupy

    fn = _function(cupy.cuda.runtime.getDevice(), source, name, scalar_type(dtype), bool(index32))
    grid, block = (blocks,), (threads,)
    if at is None:
        return lambda step: fn(grid, block, head)
    return lambda step: fn(grid, block, head + (index(step),) + tail)
