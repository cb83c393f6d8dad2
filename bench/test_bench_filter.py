"""F1-F3: image filtering, fastconv against OpenCV, scipy.signal, scipy.ndimage
and pyFFTW, every side with fastconv's thread count.  Run with:

    python -m pytest bench/test_bench_filter.py --benchmark-json=bench/out/filter.json
    python bench/ratios.py bench/out/filter.json

F1: correlate2d(mode="same") of a 2048x2048 image with a dense k x k kernel
    (zero boundary), fastconv method="auto".
F2: the same with a Gaussian passed as a dense 2-D kernel (fastconv must find
    it separable), and fastconv.sepfilter2d given the 1-D factors.
F3: fftconvolve(mode="full"): 2048x2048 with 63x63, and 2^20 with 4097 (1-D).

fastconv caches the spectrum of a small operand (the kernel), so repeated
calls with one kernel skip its transform; "fastconv_uncached" drops that
cache before every call: the time for a kernel seen for the first time.

Peers too slow to time here (direct 2-D correlation of a large kernel, a
minute or more per call) are skipped with the reason.
"""
import numpy as np
import pytest
import scipy.fft
import scipy.ndimage as ndi
import scipy.signal as ss

import fastconv
from fastconv._fft import spectra as fft_spectra
from workloads import FILTER

try:
    import cv2

    cv2.setNumThreads(fastconv.get_num_threads())
except ImportError:
    cv2 = None
try:
    import pyfftw
    import pyfftw.interfaces.cache
    import pyfftw.interfaces.scipy_fft

    pyfftw.interfaces.cache.enable()
    pyfftw.interfaces.cache.set_keepalive_time(600)
    pyfftw.config.NUM_THREADS = fastconv.get_num_threads()
except ImportError:
    pyfftw = None

NT = fastconv.get_num_threads()
# direct-summation peers whose k x k correlation of 2048x2048 takes minutes
TOO_SLOW = {("scipy_correlate2d", 63), ("ndimage", 63)}


def _scipy(fn):
    """Runs fn with scipy.fft using fastconv's thread count."""
    def call():
        with scipy.fft.set_workers(NT):
            return fn()
    return call


def _pyfftw(fn):
    def call():
        with scipy.fft.set_backend(pyfftw.interfaces.scipy_fft), scipy.fft.set_workers(NT):
            return fn()
    return call


def uncached(fn):
    """fn with fastconv's cached kernel spectra dropped first: the cost of a
    kernel seen for the first time (one more transform)."""
    def call():
        fft_spectra.spectra.clear()
        return fn()
    return call


def sides(wl):
    if wl.kind == "dense":
        return ["fastconv"] + (["fastconv_uncached"] if wl.k > 15 else []) + ["cv2_filter2D", "scipy_correlate2d", "scipy_fftconvolve", "scipy_oaconvolve", "ndimage"]
    if wl.kind == "gaussian":
        return ["fastconv", "fastconv_sepfilter2d", "cv2_sepFilter2D", "ndimage_correlate1d"]
    return ["fastconv", "fastconv_uncached", "scipy_fftconvolve", "pyfftw_interfaces"]


def make_call(wl, side):
    img, k, g = wl.arrays()
    if (side, wl.k) in TOO_SLOW and wl.kind == "dense":
        pytest.skip(f"{side} sums {wl.k}x{wl.k} terms per pixel directly: over a minute per call")
    if side.startswith("cv2") and cv2 is None:
        pytest.skip("opencv-python is not installed")
    if side.startswith("pyfftw") and pyfftw is None:
        pytest.skip("pyfftw is not installed")
    flipped = np.ascontiguousarray(k[::-1, ::-1]) if k.ndim == 2 else None
    if wl.kind in ("dense", "gaussian"):
        calls = {
            "fastconv": lambda: fastconv.correlate2d(img, k, mode="same"),
            "fastconv_uncached": uncached(lambda: fastconv.correlate2d(img, k, mode="same")),
            "fastconv_sepfilter2d": lambda: fastconv.sepfilter2d(img, g, g, mode="same"),
            # OpenCV correlates; its anchor for odd k is the centre, as scipy's 'same'
            "cv2_filter2D": lambda: cv2.filter2D(img, -1, k, borderType=cv2.BORDER_CONSTANT),
            "cv2_sepFilter2D": lambda: cv2.sepFilter2D(img, -1, g, g, borderType=cv2.BORDER_CONSTANT),
            "scipy_correlate2d": lambda: ss.correlate2d(img, k, mode="same"),
            "scipy_fftconvolve": _scipy(lambda: ss.fftconvolve(img, flipped, mode="same")),
            "scipy_oaconvolve": _scipy(lambda: ss.oaconvolve(img, flipped, mode="same")),
            "ndimage": lambda: ndi.correlate(img, k, mode="constant"),
            "ndimage_correlate1d": lambda: ndi.correlate1d(ndi.correlate1d(img, g, axis=0, mode="constant"), g,
                                                           axis=1, mode="constant"),
        }
    else:
        calls = {
            "fastconv": lambda: fastconv.fftconvolve(img, k),
            "fastconv_uncached": uncached(lambda: fastconv.fftconvolve(img, k)),
            "scipy_fftconvolve": _scipy(lambda: ss.fftconvolve(img, k)),
            "pyfftw_interfaces": _pyfftw(lambda: ss.fftconvolve(img, k)),
        }
    return calls[side]


@pytest.mark.parametrize("wl, side", [(wl, s) for wl in FILTER for s in sides(wl)],
                         ids=[f"{wl.id.replace(' ', '-')}-{s}" for wl in FILTER for s in sides(wl)])
def test_filter(benchmark, run, wl, side):
    fn = make_call(wl, side)
    fn()  # warm: plans, fastconv's cost model
    benchmark.group = wl.id
    benchmark.extra_info.update(side=side, workload=wl.id, gflop=wl.flops() / 1e9)
    slow = side in ("scipy_correlate2d", "ndimage") and wl.k > 3
    run(fn, 3 if slow else wl.rounds)
