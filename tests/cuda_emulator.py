"""Runs fastconv's CUDA kernel sources on the CPU, so that the GPU backend's
code (fastconv._gpu: the kernels and the Python around them) is tested on
machines without a GPU.

The .cu sources are compiled as C++ (g++) with the definitions below in
place of CUDA's, one shared library per dtype, and called through ctypes
for each block of a small grid, one thread per block: the kernels' grid-
and block-stride loops then cover all the work (a block's phases run in
__syncthreads order).  Each launch is checked the way a GPU would not:
arguments against the kernel's parameter list (count, pointer element
type, scalar type), pointers in bounds (every array is copied between guard
zones of NaN / -2 that must come back untouched; reads there poison the
result), and C-contiguous memory.  Not emulated: races between threads,
and the exact rounding of CUDA's math functions.
"""
import ctypes
import pathlib
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastconv._gpu import _launch

_PRELUDE = r"""
#include <cmath>
#include <limits>
using std::exp;
using std::isnan;
using std::tanh;
struct fc_dim3 { unsigned int x, y, z; };
static fc_dim3 blockIdx, threadIdx, blockDim, gridDim;
extern "C" void fc_emulate_block(unsigned int block, unsigned int blocks)
{
    blockIdx = {block, 0, 0};
    threadIdx = {0, 0, 0};
    blockDim = {1, 1, 1};
    gridDim = {blocks, 1, 1};
}
#define __global__
#define __device__
#define __forceinline__ inline
#define __syncthreads() ((void)0)
template <class T> inline T atomicAdd(T *p, T v) { T old = *p; *p = old + v; return old; }
template <class T> inline T fc_infinity(T) { return std::numeric_limits<T>::infinity(); }
"""
_BLOCKS = 3  # emulated grid: enough to exercise the grid-stride arithmetic
_GUARD = 64  # elements of guard zone on each side of every array


def compiler():
    return shutil.which("g++") or shutil.which("clang++")


def _parameters(text):
    """{kernel name: [(kind, const), ...]}, kind "scalar_t*", "long long*",
    "int*", "index_t" or "scalar_t", from the sources' kernel signatures
    (with parameter-list macros such as CONV_GEOM expanded)."""
    text = re.sub(r"\\\n", " ", text)
    macros = dict(re.findall(r"#define (\w+)\s+(index_t [^\n]*)", text))
    kernels = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', text):
        for macro, body in macros.items():
            params = re.sub(rf"\b{macro}\b", body, params)
        out = []
        for p in (p.strip() for p in params.split(",")):
            const = p.startswith("const ")
            base = p.removeprefix("const ").split("*")[0].strip() if "*" in p else p.rsplit(" ", 1)[0].strip()
            out.append((base + "*" if "*" in p else base, const))
        kernels[name] = out
    return kernels


class Emulator:
    """_launch.emulator: emulator(source, name, dtype, blocks, threads, args)."""

    def __init__(self, directory):
        self.params = {s: _parameters(_launch.source_text(s)) for s in _launch.SOURCES}
        text = "".join(_launch.source_text(s) for s in _launch.SOURCES)
        directory = pathlib.Path(directory)
        cxx = compiler()

        def build(variant):
            scalar, index32 = variant
            stem = f"kernels_{scalar}{'_i32' if index32 else ''}"
            src, lib = directory / f"{stem}.cpp", directory / f"{stem}.so"
            src.write_text(_PRELUDE + f"typedef {scalar} scalar_t;\n" + text)
            flags = ["-DFC_INDEX32"] if index32 else []
            subprocess.run([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", "-w", *flags, "-o", str(lib), str(src)],
                           check=True, capture_output=True, text=True)
            return ctypes.CDLL(str(lib))

        variants = [(s, i) for s in ("float", "double") for i in (False, True)]
        with ThreadPoolExecutor(2) as pool:
            self.libs = {(s[0], i): lib for (s, i), lib in zip(variants, pool.map(build, variants))}

    def __call__(self, source, name, dtype, blocks, threads, args, index32=False):
        dtype = np.dtype(dtype)
        assert name in self.params[source], f"{source} has no kernel {name}"  # one module per source on a GPU
        params = self.params[source][name]
        assert len(args) == len(params), f"{name}: {len(args)} arguments for {len(params)} parameters"
        c_args, buffers, copies = [], [], []
        for i, (a, (kind, const)) in enumerate(zip(args, params)):
            if kind.endswith("*"):
                if a is None:
                    c_args.append(ctypes.c_void_p(None))
                    continue
                want = {"scalar_t*": dtype, "long long*": np.dtype(np.int64), "int*": np.dtype(np.int32)}[kind]
                assert type(a) is np.ndarray and a.dtype == want, f"{name} argument {i}: {kind}, got {a!r:.60}"
                assert a.flags.c_contiguous, f"{name} argument {i} is not C-contiguous"
                buf = self._guarded(a, buffers)
                c_args.append(ctypes.c_void_p(buf[_GUARD:].ctypes.data))
                if not const:
                    copies.append((a, buf))
            else:
                want = (np.int32 if index32 else np.int64) if kind == "index_t" else dtype.type
                assert type(a) is want, f"{name} argument {i}: {kind}, got {type(a).__name__}"
                c_args.append({np.int64: ctypes.c_longlong, np.int32: ctypes.c_int, np.float32: ctypes.c_float,
                               np.float64: ctypes.c_double}[type(a)](a))
        lib = self.libs[dtype.char, index32]
        fn = getattr(lib, name)
        grid = min(blocks, _BLOCKS)
        for b in range(grid):
            lib.fc_emulate_block(b, grid)
            fn(*c_args)
        for a, buf in {id(buf): (a, buf) for a, buf in copies}.values():
            for zone in (buf[:_GUARD], buf[_GUARD + a.size:]):
                assert _is_guard(zone), f"{name} wrote outside an array argument of shape {a.shape}"
            a.reshape(-1)[...] = buf[_GUARD: _GUARD + a.size]

    @staticmethod
    def _guarded(a, buffers):
        """a's data between guard zones; an array already passed (as another
        argument of the launch) gets the same buffer."""
        for b, buf in buffers:
            if b.ctypes.data == a.ctypes.data and b.nbytes == a.nbytes:
                return buf
            assert not np.may_share_memory(a, b), "kernel arguments overlap partially"
        buf = np.full(a.size + 2 * _GUARD, _guard_value(a.dtype), a.dtype)
        buf[_GUARD: _GUARD + a.size] = a.reshape(-1)
        buffers.append((a, buf))
        return buf


def _guard_value(dtype):
    return np.nan if dtype.kind == "f" else -2  # -2: neither an index nor the "no input" -1


def _is_guard(zone):
    return bool(np.isnan(zone).all()) if zone.dtype.kind == "f" else bool((zone == -2).all())


_instance = []


def emulator():
    """The process's emulator (built on first use, in a directory removed at
    exit), or None without a C++ compiler."""
    if not _instance:
        if compiler() is None:
            _instance.append(None)
        else:
            directory = tempfile.TemporaryDirectory(prefix="fastconv-cuda-emulator-")
            _instance.append(Emulator(directory.name))
            _instance.append(directory)  # kept alive with the libraries
    return _instance[0]
