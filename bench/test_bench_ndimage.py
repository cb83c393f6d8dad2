"""N1-N4: fastconv.ndimage against scipy.ndimage and OpenCV, every side with
fastconv's thread count.  Run with:

    python -m pytest bench/test_bench_ndimage.py --benchmark-json=bench/out/ndimage.json
    python bench/ratios.py bench/out/ndimage.json --markdown

N1, N2: gaussian_filter of a 4096x4096 float32 image, sigma 2 and 8 (mode
    'reflect', truncate 4); OpenCV's GaussianBlur with the same kernel:
    ksize 2 * radius + 1, radius = int(4 * sigma + 0.5), sigmaX = sigmaY =
    sigma, BORDER_REFLECT (scipy's 'reflect': d c b a | a b c d).
N3: gaussian_filter of a 256^3 float32 volume, sigma 1.5 (13 taps per axis).
N4: uniform_filter, size 15, of the 4096x4096 float32 image; OpenCV's blur
    with ksize (15, 15), BORDER_REFLECT.
N5: fftconvolve of a 2048x2048 complex64 image with a 63x63 complex64
    kernel (mode 'full'), against scipy.signal.fftconvolve (the SciPy issue's
    complex target; scipy with workers = fastconv's threads).

floor_ms is the larger of the compute floor (2 flops per tap of every 1-D
pass at 228 GFLOP/s, the two cores' FMA peak) and the memory floor (the
input read and the output written once at 44 GB/s).
"""
import numpy as np
import pytest
import scipy.ndimage as ndi

import fastconv
import fastconv.ndimage as fnd

try:
    import cv2

    cv2.setNumThreads(fastconv.get_num_threads())
except ImportError:
    cv2 = None

PEAK_GFLOPS, BANDWIDTH_GBS = 228.0, 44.0


class Workload:
    def __init__(self, wid, kind, shape, param, rounds):
        self.id, self.kind, self.shape, self.param, self.rounds = wid, kind, shape, param, rounds

    def taps(self):
        """Taps per 1-D pass."""
        return 2 * int(4.0 * self.param + 0.5) + 1 if self.kind == "gaussian" else self.param

    def floor_ms(self):
        n = int(np.prod(self.shape))
        flops = 2.0 * n * self.taps() * len(self.shape)
        return max(flops / (PEAK_GFLOPS * 1e9), 2.0 * n * 4 / (BANDWIDTH_GBS * 1e9)) * 1e3

    def gflop(self):
        return 2.0 * int(np.prod(self.shape)) * self.taps() * len(self.shape) / 1e9


NDIMAGE = [
    Workload("N1 gaussian 4096^2 s2", "gaussian", (4096, 4096), 2.0, 20),
    Workload("N2 gaussian 4096^2 s8", "gaussian", (4096, 4096), 8.0, 10),
    Workload("N3 gaussian 256^3 s1.5", "gaussian", (256, 256, 256), 1.5, 10),
    Workload("N4 uniform 4096^2 k15", "uniform", (4096, 4096), 15, 20),
]


def sides(wl):
    peer = {"gaussian": "cv2_GaussianBlur", "uniform": "cv2_blur"}[wl.kind] if len(wl.shape) == 2 else None
    return ["fastconv", "fastconv_out", "scipy_ndimage"] + ([peer] if peer else [])


def make_call(wl, side):
    if side.startswith("cv2") and cv2 is None:
        pytest.skip("opencv-python is not installed")
    x = np.random.default_rng(0).random(wl.shape, dtype=np.float32)
    out = np.empty_like(x)
    k = wl.taps()
    if wl.kind == "gaussian":
        s = wl.param
        calls = {
            "fastconv": lambda: fnd.gaussian_filter(x, s),
            "fastconv_out": lambda: fnd.gaussian_filter(x, s, output=out),
            "scipy_ndimage": lambda: ndi.gaussian_filter(x, s),
            "cv2_GaussianBlur": lambda: cv2.GaussianBlur(x, (k, k), s, sigmaY=s, borderType=cv2.BORDER_REFLECT),
        }
    else:
        calls = {
            "fastconv": lambda: fnd.uniform_filter(x, k),
            "fastconv_out": lambda: fnd.uniform_filter(x, k, output=out),
            "scipy_ndimage": lambda: ndi.uniform_filter(x, k),
            "cv2_blur": lambda: cv2.blur(x, (k, k), borderType=cv2.BORDER_REFLECT),
        }
    return calls[side]


@pytest.mark.parametrize("wl, side", [(wl, s) for wl in NDIMAGE for s in sides(wl)],
                         ids=[f"{wl.id.split()[0]}-{s}" for wl in NDIMAGE for s in sides(wl)])
def test_ndimage(benchmark, run, wl, side):
    fn = make_call(wl, side)
    fn()  # warm
    benchmark.group = wl.id
    benchmark.extra_info.update(side=side, workload=wl.id, gflop=wl.gflop(), floor_ms=wl.floor_ms())
    run(fn, 3 if side == "scipy_ndimage" else wl.rounds)


@pytest.mark.parametrize("side", ["fastconv", "scipy_signal"])
def test_complex_fftconvolve(benchmark, run, side):
    import scipy.fft
    import scipy.signal

    rng = np.random.default_rng(2)
    a = (rng.standard_normal((2048, 2048)) + 1j * rng.standard_normal((2048, 2048))).astype(np.complex64)
    k = (rng.standard_normal((63, 63)) + 1j * rng.standard_normal((63, 63))).astype(np.complex64)
    nt = fastconv.get_num_threads()

    def scipy_call():
        with scipy.fft.set_workers(nt):
            return scipy.signal.fftconvolve(a, k)

    fn = (lambda: fastconv.fftconvolve(a, k)) if side == "fastconv" else scipy_call
    fn()  # warm (plans)
    benchmark.group = "N5 complex fftconvolve 2048^2 * 63^2"
    benchmark.extra_info.update(side=side, workload="N5 complex fftconvolve 2048^2 * 63^2")
    run(fn, 10)


def test_peers_compute_the_same(rng=np.random.default_rng(1)):
    """The peers' calls filter as fastconv's do (OpenCV's Gaussian weights are its own, so to
    float32 rounding), on a small image."""
    x = rng.random((300, 200), dtype=np.float32)
    for s in [2.0, 8.0]:
        k = 2 * int(4 * s + 0.5) + 1
        np.testing.assert_allclose(fnd.gaussian_filter(x, s), ndi.gaussian_filter(x, s), rtol=1e-5, atol=1e-6)
        if cv2 is not None:
            np.testing.assert_allclose(fnd.gaussian_filter(x, s),
                                       cv2.GaussianBlur(x, (k, k), s, sigmaY=s, borderType=cv2.BORDER_REFLECT),
                                       atol=1e-5)
    if cv2 is not None:
        np.testing.assert_allclose(fnd.uniform_filter(x, 15), cv2.blur(x, (15, 15), borderType=cv2.BORDER_REFLECT),
                                   atol=1e-5)
