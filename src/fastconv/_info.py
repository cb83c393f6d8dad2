"""fastconv.info(): what this build runs on."""
import functools
import os

from ._ext import _fastconv as _core


def _simd_cap_from_env():
    level = os.environ.get("FASTCONV_SIMD", "").strip().lower()
    if level:
        if level not in ("generic", "avx2", "avx512", "best"):
            import warnings

            warnings.warn(f"fastconv: ignoring FASTCONV_SIMD={level!r}; expected generic, avx2, avx512 "
                          "or best", RuntimeWarning, stacklevel=3)
            return
        _core.simd_set(level)


def _fftw_version():
    try:
        import pyfftw
    except ImportError:
        return None
    return getattr(pyfftw, "__version__", "unknown")


@functools.cache
def _gpu():
    """The GPU backend's state: available (CuPy imports and sees a CUDA
    device), the device's name, or the reason it is off.  Never raises."""
    off = {"available": False, "device": None, "cupy": None}
    try:
        import cupy
    except Exception as e:  # not installed, or a broken CUDA installation under it
        if isinstance(e, ModuleNotFoundError) and e.name == "cupy":
            return dict(off, reason="CuPy is not installed (pip install cupy-cuda12x, or fastconv[gpu])")
        return dict(off, reason=f"CuPy failed to import: {e}")
    off["cupy"] = cupy.__version__
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return dict(off, reason="no CUDA device")
        device = cupy.cuda.runtime.getDevice()
        name = cupy.cuda.runtime.getDeviceProperties(device)["name"]
    except Exception as e:  # cupy.cuda.runtime.CUDARuntimeError: no driver, too old a driver, ...
        return dict(off, reason=f"no usable CUDA device (CUDA driver or runtime error: {e})")
    name = name.decode() if isinstance(name, bytes) else str(name)
    return {"available": True, "device": f"{name} (device {device} of {count})", "cupy": cupy.__version__,
            "reason": None}


def info():
    """Build and runtime facts as a dict: version, SIMD level in use (and the
    best the CPU supports), GEMM register tile, thread count (and whether it
    follows other processes' load: "threads_follow_load", see fastconv._threads),
    OpenMP (and how its idle threads wait: "openmp_wait", see fastconv._openmp_env), FFTW
    (through pyFFTW), and the GPU backend's state: "available", "device"
    (name), "cupy" (version, or None) and "reason" (why it is off, or None)."""
    from . import _openmp_env
    from . import _threads
    from ._threads import get_num_threads
    from ._version import __version__

    mr32, nr32 = _core.gemm_tile(4)
    mr64, nr64 = _core.gemm_tile(8)
    return {
        "version": __version__,
        "simd": _core.simd_active(),
        "simd_detected": _core.simd_detected(),
        "gemm": "fastconv packed GEMM (own micro-kernels)",
        "gemm_tile": {"float32": (mr32, nr32), "float64": (mr64, nr64)},
        "num_threads": get_num_threads(),
        "threads_follow_load": _threads._adaptive,
        "openmp": True,
        "openmp_wait": _openmp_env.policy(),
        "pyfftw": _fftw_version(),
        "gpu": dict(_gpu()),
    }


_simd_cap_from_env()
