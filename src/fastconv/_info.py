"""fastconv.info(): what this build runs on."""
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


def info():
    """Build and runtime facts as a dict: version, SIMD level in use (and the
    best the CPU supports), GEMM register tile, thread count, OpenMP, FFTW
    (through pyFFTW), and the GPU backend's availability."""
    from . import __version__
    from ._threads import get_num_threads

    mr32, nr32 = _core.gemm_tile(4)
    mr64, nr64 = _core.gemm_tile(8)
    return {
        "version": __version__,
        "simd": _core.simd_active(),
        "simd_detected": _core.simd_detected(),
        "gemm": "fastconv packed GEMM (own micro-kernels)",
        "gemm_tile": {"float32": (mr32, nr32), "float64": (mr64, nr64)},
        "num_threads": get_num_threads(),
        "openmp": True,
        "pyfftw": _fftw_version(),
        "gpu": {"available": False, "device": None,
                "reason": "this build has no GPU backend; CuPy arrays raise TypeError"},
    }


_simd_cap_from_env()
