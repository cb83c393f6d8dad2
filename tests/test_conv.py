"""Convolution kernels against the float64 reference: forward, both gradients
and the transpose, for every algorithm, dtype, memory layout and SIMD level."""
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastconv
import reference as ref
from conftest import assert_close

ALGORITHMS = ["direct", "im2col", "fft"]
DTYPES = [np.float32, np.float64]


@dataclass(frozen=True)
class Case:
    nd: int
    N: int
    C: int
    size: tuple
    K: int
    ksize: tuple
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    groups: int = 1

    def pair(self, v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * self.nd

    @property
    def pads(self):
        if self.padding == "valid":
            return ((0, 0),) * self.nd
        if self.padding == "same":
            tot = [d * (k - 1) for k, d in zip(self.ksize, self.pair(self.dilation))]
            return tuple((t // 2, t - t // 2) for t in tot)
        return tuple((p, p) for p in self.pair(self.padding))

    @property
    def x_shape(self):
        return (self.N, self.C) + self.size

    @property
    def w_shape(self):
        return (self.K, self.C // self.groups) + self.ksize

    @property
    def n_terms(self):
        return (self.C // self.groups) * int(np.prod(self.ksize))

    def args(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def ref_args(self):
        return dict(stride=self.pair(self.stride), pads=self.pads, dilation=self.pair(self.dilation),
                    groups=self.groups)


CASES = [
    Case(2, 2, 8, (12, 12), 16, (3, 3), padding=1),                       # ResNet body, small
    Case(2, 2, 5, (9, 11), 13, (3, 3), padding=1),                        # K not a multiple of the tile
    Case(2, 2, 6, (10, 9), 6, (3, 3), padding=1, groups=6),               # depthwise
    Case(2, 1, 4, (8, 8), 8, (3, 3), padding=1, groups=4),                # depthwise, multiplier 2
    Case(2, 2, 3, (23, 21), 8, (7, 7), stride=2, padding=3),              # stem
    Case(2, 2, 4, (13, 14), 5, (3, 3), padding=2, dilation=2),
    Case(2, 2, 3, (9, 10), 4, (4, 4), padding="same"),                    # asymmetric padding
    Case(2, 2, 3, (9, 10), 4, (2, 3), padding="same", dilation=(3, 2)),
    Case(2, 2, 3, (7, 8), 4, (3, 3), padding="valid"),
    Case(2, 3, 6, (5, 6), 7, (1, 1)),                                     # pointwise
    Case(2, 3, 400, (5, 7), 34, (1, 1), groups=2),                        # pointwise: panels cross images and K slices
    # few output pixels, many channels: pixels as the GEMM's rows (im2col's pixel-rows form)
    Case(2, 1, 20, (6, 6), 70, (3, 3), padding=1),
    Case(2, 2, 6, (11, 11), 128, (3, 3), stride=2, padding=1, groups=2),
    Case(2, 1, 5, (9, 8), 64, (3, 3), padding=2, dilation=2),
    Case(2, 1, 7, (5, 4), 96, (2, 3), padding=(3, 0)),                    # windows wholly in the padding
    Case(1, 3, 9, (10,), 80, (3,), stride=2, padding=1),
    Case(2, 2, 3, (4, 5), 6, (4, 5)),                                     # kernel covers the input
    Case(2, 2, 3, (9, 1), 4, (3, 1), padding=(1, 0)),                     # one column
    Case(2, 1, 2, (3, 100), 9, (3, 3), padding=1),                        # wide rows
    Case(2, 2, 3, (11, 12), 5, (1, 5), stride=(1, 2), dilation=(2, 1), padding=(0, 2)),
    Case(2, 2, 3, (11, 12), 5, (5, 1), stride=(2, 1), padding=(2, 0)),
    Case(2, 2, 3, (6, 7), 4, (3, 3), padding=3),                          # padding > kernel reach
    Case(2, 2, 20, (7, 9), 10, (3, 3), padding=1),                        # channels-last weight grad
    Case(2, 3, 12, (8, 8), 18, (3, 3), stride=2, padding=1, groups=3),
    Case(1, 70, 5, (40,), 9, (5,), padding=2),                            # many 1-D images
    Case(1, 4, 6, (33,), 8, (3,), stride=2, padding=1),
    Case(1, 3, 4, (30,), 6, (3,), dilation=3, padding=3, groups=2),
    Case(1, 5, 3, (1,), 4, (1,)),
    Case(1, 2, 32, (40,), 64, (5,), padding=2),                           # C5
    Case(2, 1, 1, (1, 1), 1, (1, 1), stride=(3, 1), padding=1),           # one row, read from padding
    # small maps: vectors along output channels (conv_cv.c)
    Case(2, 5, 8, (4, 4), 32, (3, 3), padding=1),                         # images per unit do not divide N
    Case(2, 3, 6, (8, 8), 17, (3, 3), padding=1),                         # K rounded up to a vector
    Case(2, 2, 12, (6, 5), 40, (2, 3), stride=(2, 1), padding=(1, 1), dilation=(1, 2)),
    Case(2, 3, 8, (7, 7), 64, (3, 3), padding=1, groups=2),
    Case(2, 2, 40, (4, 4), 20, (3, 3), padding=2),                        # input gradient over 40 channels
    # few pixels: the input gradient's pixel rows with W read in place (panels crossing images, a
    # partial last panel, the tall last tile, groups, stride 2)
    Case(2, 1, 37, (7, 7), 50, (3, 3), padding=1),
    Case(2, 1, 24, (6, 6), 32, (3, 3), padding=1, groups=2),
    Case(2, 2, 16, (13, 13), 24, (3, 3), stride=2, padding=1),
    Case(1, 7, 25, (20,), 25, (3,), stride=2, padding=1),                 # MNIST-1D CNN layer
    Case(2, 2, 5, (11, 12), 5, (3, 3), stride=2, padding=1, groups=5),    # depthwise, strided
    # depthwise, stride 1: the padded plane (5x5, no padding, asymmetric "same")
    Case(2, 2, 4, (9, 7), 4, (5, 5), padding=2, groups=4),
    Case(2, 2, 3, (7, 6), 3, (3, 3), groups=3),
    Case(2, 1, 3, (6, 8), 3, (2, 3), padding="same", groups=3),
    Case(2, 1, 3, (9, 13), 3, (3, 2), stride=(3, 2), padding=(0, 2), dilation=(2, 3), groups=3),
    # few pixels, the forward with W read in place (conv_wip_group) where the pixels fill vectors,
    # pixel rows where not: 49 pixels, 70 rows (a partial last tile); two reduction blocks (1152
    # rows); 3 images of 11 pixels; 98 strided pixels in groups
    Case(2, 1, 20, (7, 7), 70, (3, 3), padding=1),
    Case(2, 1, 128, (7, 7), 64, (3, 3), padding=1),
    Case(2, 3, 16, (1, 11), 72, (3, 3), padding=1),
    Case(2, 2, 32, (13, 13), 132, (3, 3), stride=2, padding=1, groups=2),
    # strided: panels split between the threads, in chunks (two each), the one left over by rows
    # (529 pixels: 16 panels and one of 17), two reduction blocks
    Case(2, 1, 128, (46, 46), 20, (3, 3), stride=2, padding=1),
    # the input gradient's GEMM over five images' pixels a unit (245 columns: tiles of 160 crossing
    # images)
    Case(2, 24, 40, (13, 13), 16, (3, 3), stride=2, padding=1),
    # strided forwards with the border pixels grouped by the taps they keep (conv_wip_group's
    # classes, where they save 5 % of the products): 2 x 2 kinds of rows and columns, 3 x 3 (a 5x5
    # kernel; dilated), a map of 6 x 5
    Case(2, 8, 24, (14, 14), 64, (3, 3), stride=2, padding=1),
    Case(2, 3, 8, (13, 13), 72, (5, 5), stride=2, padding=2),
    Case(2, 3, 8, (13, 13), 64, (3, 3), stride=2, padding=2, dilation=2),
    Case(2, 4, 8, (12, 10), 64, (3, 3), stride=2, padding=1),
    # sums of panels not in one run of y kept over two reduction blocks (1152 rows) before they are
    # stored: grouped border pixels, and panels across images; a panel's rows split between the
    # threads in proportion to their shares
    Case(2, 4, 128, (14, 14), 64, (3, 3), stride=2, padding=1),
    Case(2, 3, 128, (13, 13), 24, (3, 3), stride=2, padding=1),
    Case(2, 2, 16, (9, 10), 24, (1, 1), stride=2),                        # one phase plane of four read
    # panels of at most half a vector of pixels, as half vectors: 196 pixels (the last 4), and
    # grouped border pixels of 3 images (3 corners, 2 of a row)
    Case(2, 1, 16, (28, 28), 64, (3, 3), stride=2, padding=1),
    Case(2, 3, 64, (14, 14), 64, (3, 3), stride=2, padding=1),
    # a last GEMM panel of at most one vector's columns (196 pixels: 6 panels of 32 and 4), 20
    # channels (a tile of 8 and a tall one of 12)
    Case(2, 1, 24, (14, 14), 20, (1, 1)),
    Case(2, 1, 10, (14, 14), 12, (3, 3), padding=1),
    # plain 1x1 layers of long reductions over few pixels, W read in place and col packed from x
    # (im2col_wip_plain), the threads splitting W's rows: panels across images and a last one of
    # half a vector; two reduction blocks (1100 rows); groups of 256 channels; 49 pixels (a last
    # panel of a vector and a half, a partial tile of W's rows); then 200 pixels, the threads
    # splitting the panels
    Case(2, 2, 300, (5, 7), 40, (1, 1)),
    Case(2, 1, 1100, (9, 9), 20, (1, 1)),
    Case(2, 2, 512, (5, 6), 16, (1, 1), groups=2),
    Case(2, 1, 256, (7, 7), 70, (1, 1)),
    Case(2, 2, 300, (10, 10), 24, (1, 1)),
    # pixel rows grouped by the kinds of their row and column, gathered from x itself (no phase
    # planes): 36 pixels of 3 images, taps in the padding on both axes at the corners
    Case(2, 3, 12, (9, 8), 72, (5, 5), stride=2, padding=3, dilation=2),
    # tiles of one and two pixel rows (a corner of one image, of two) over 4 / R panels of W at once
    # (64 channels: two panels, fewer than 4 / R), slices of 80-84 reduction rows a corner
    Case(2, 1, 41, (7, 7), 64, (3, 3), padding=1),
    Case(2, 2, 41, (7, 7), 64, (3, 3), padding=1),
]


def make(shape, dtype, rng):
    return rng.standard_normal(shape).astype(dtype)


def relayout(a, layout):
    """a's values in another memory layout: a strided view, a view with
    negative strides, or Fortran order."""
    if layout == "contiguous":
        return a
    if layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "reversed":
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if layout == "fortran":
        return np.asfortranarray(a)
    raise ValueError(layout)


def conv_fn(nd):
    return fastconv.conv1d if nd == 1 else fastconv.conv2d


def grad_input_fn(nd):
    return fastconv.conv1d_grad_input if nd == 1 else fastconv.conv2d_grad_input


def grad_weight_fn(nd):
    return fastconv.conv1d_grad_weight if nd == 1 else fastconv.conv2d_grad_weight


def check_case(case, dtype, algorithm, rng, layout="contiguous", bias=True):
    x = make(case.x_shape, dtype, rng)
    w = make(case.w_shape, dtype, rng)
    b = make((case.K,), dtype, rng) if bias else None
    ra = case.ref_args()
    y = conv_fn(case.nd)(relayout(x, layout), relayout(w, layout), b, algorithm=algorithm, **case.args())
    expected = ref.conv_forward(x, w, b, **ra)
    bound = ref.conv_forward(np.abs(x), np.abs(w), None if b is None else np.abs(b), **ra)
    fft = algorithm == "fft"
    norms = lambda a, b: np.linalg.norm(a) * np.linalg.norm(b) if fft else False
    assert_close(y, expected, bound, case.n_terms, dtype, norms(x, w))

    gy = make(expected.shape, dtype, rng)
    gx = grad_input_fn(case.nd)(x.shape, relayout(w, layout), relayout(gy, layout), algorithm=algorithm,
                                **case.args())
    e_gx = ref.conv_grad_input(x.shape, w, gy, **ra)
    b_gx = ref.conv_grad_input(x.shape, np.abs(w), np.abs(gy), **ra)
    assert_close(gx, e_gx, b_gx, case.K // case.groups * int(np.prod(case.ksize)), dtype, norms(w, gy))

    gw = grad_weight_fn(case.nd)(relayout(x, layout), w.shape, relayout(gy, layout), algorithm=algorithm,
                                 **case.args())
    e_gw = ref.conv_grad_weight(x, w.shape, gy, **ra)
    b_gw = ref.conv_grad_weight(np.abs(x), w.shape, np.abs(gy), **ra)
    assert_close(gw, e_gw, b_gw, case.N * int(np.prod(expected.shape[2:])), dtype, norms(x, gy))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.nd}d-N{c.N}C{c.C}{c.size}K{c.K}{c.ksize}"
                         f"s{c.stride}p{c.padding}d{c.dilation}g{c.groups}")
def test_conv_against_reference(case, dtype, algorithm, rng):
    check_case(case, dtype, algorithm, rng)


@pytest.mark.parametrize("layout", ["strided", "reversed", "fortran"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_any_input_strides(layout, algorithm, rng):
    for case in (CASES[0], CASES[4], CASES[18]):
        check_case(case, np.float32, algorithm, rng, layout=layout)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_simd_level(simd_level, algorithm, rng):
    # 9-10: pointwise GEMMs; then the strided depthwise planes (their shuffles) and the input
    # gradient's pixel rows (W read in place, the tall tile), the narrow last panel
    extra = ([c for c in CASES if c.groups == c.C == c.K] + [c for c in CASES if c.C == 37] +
             [c for c in CASES if c.size == (14, 14)] + [c for c in CASES if c.K in (70, 72, 132) or c.size in ((46, 46), (13, 13))])
    for case in CASES[:6] + CASES[9:11] + CASES[16:19] + [CASES[22]] + extra:
        for dtype in DTYPES:
            check_case(case, dtype, algorithm, rng)


@st.composite
def cases(draw):
    nd = draw(st.sampled_from([1, 2]))
    groups = draw(st.integers(1, 3))
    C = groups * draw(st.integers(1, 4))
    K = groups * draw(st.integers(1, 24))
    ksize = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    kind = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    if kind == "same" and any(s != 1 for s in stride):
        kind = "int"
    if kind == "int":
        padding = draw(st.integers(0, 3))
        pads = [padding] * nd
    elif kind == "pair":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(nd))
        pads = list(padding)
    else:
        padding = kind
        pads = [0] * nd if kind == "valid" else [d * (k - 1) // 2 for k, d in zip(ksize, dilation)]
    size = []
    for k, d, p in zip(ksize, dilation, pads):
        need = max(1, d * (k - 1) + 1 - (2 * p if kind != "same" else d * (k - 1)))
        size.append(draw(st.integers(need, need + 20)))
    N = draw(st.integers(1, 3))
    return Case(nd, N, C, tuple(size), K, ksize, stride, padding, dilation, groups)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), dtype=st.sampled_from(DTYPES), algorithm=st.sampled_from(ALGORITHMS),
       layout=st.sampled_from(["contiguous", "strided", "reversed"]), seed=st.integers(0, 2**32 - 1))
def test_conv_property(case, dtype, algorithm, layout, seed):
    check_case(case, dtype, algorithm, np.random.default_rng(seed), layout=layout, bias=seed % 2 == 0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[5], CASES[17], CASES[19]])
def test_gradients_by_finite_differences(case, algorithm, rng):
    """Central differences of the forward along random directions match the
    gradients' inner products (float64; the convolution is linear, so the
    difference quotient is exact up to rounding)."""
    x = make(case.x_shape, np.float64, rng)
    w = make(case.w_shape, np.float64, rng)
    f = conv_fn(case.nd)
    y = f(x, w, algorithm=algorithm, **case.args())
    gy = make(y.shape, np.float64, rng)
    loss = lambda xx, ww: float(np.sum(f(xx, ww, algorithm=algorithm, **case.args()) * gy))
    u, v, h = make(x.shape, np.float64, rng), make(w.shape, np.float64, rng), 1e-3
    fd_x = (loss(x + h * u, w) - loss(x - h * u, w)) / (2 * h)
    fd_w = (loss(x, w + h * v) - loss(x, w - h * v)) / (2 * h)
    gx = grad_input_fn(case.nd)(x.shape, w, gy, algorithm=algorithm, **case.args())
    gw = grad_weight_fn(case.nd)(x, w.shape, gy, algorithm=algorithm, **case.args())
    assert np.isclose(np.sum(gx * u), fd_x, rtol=1e-9, atol=1e-9)
    assert np.isclose(np.sum(gw * v), fd_w, rtol=1e-9, atol=1e-9)
    # the bias gradient is the sum of grad_out over all but the channel axis
    b = make((case.K,), np.float64, rng)
    db = np.sum(f(x, w, b + h * 0 + h * np.eye(case.K)[0], **case.args()) * gy) - np.sum(
        f(x, w, b - h * np.eye(case.K)[0], **case.args()) * gy)
    assert np.isclose(db / (2 * h), gy.sum(axis=tuple(i for i in range(gy.ndim) if i != 1))[0], rtol=1e-8)


TRANSPOSE = [
    # (N, C_in, H, W, C_out, R, S, stride, padding, output_padding, groups, dilation)
    (2, 4, 5, 6, 3, 3, 3, 1, 0, 0, 1, 1),
    (2, 4, 5, 6, 6, 4, 4, 2, 1, 0, 1, 1),        # DCGAN generator layer
    (1, 6, 4, 3, 4, 3, 2, 2, 1, 1, 2, 1),
    (2, 3, 5, 5, 2, 3, 3, (2, 3), (1, 2), (1, 2), 1, 1),
    (1, 2, 4, 4, 3, 3, 3, 1, 0, 1, 1, 2),        # output_padding < dilation
]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", TRANSPOSE)
def test_conv_transpose2d(spec, dtype, algorithm, rng):
    N, Cin, H, W, Cout, R, S, stride, padding, opad, groups, dil = spec
    pair = lambda v: v if isinstance(v, tuple) else (v, v)
    x = make((N, Cin, H, W), dtype, rng)
    w = make((Cin, Cout // groups, R, S), dtype, rng)
    b = make((Cout,), dtype, rng)
    y = fastconv.conv_transpose2d(x, w, b, stride, padding, opad, groups, dil, algorithm=algorithm)
    args = (pair(stride), pair(padding), pair(opad), groups, pair(dil))
    expected = ref.conv_transpose(x, w, b, *args)
    bound = ref.conv_transpose(np.abs(x), np.abs(w), np.abs(b), *args)
    assert_close(y, expected, bound, Cin // groups * R * S, dtype,
                 np.linalg.norm(x) * np.linalg.norm(w) if algorithm == "fft" else False)


def assert_same(a, b, algorithm):
    """Equal, or for FFT (whose plans may be re-made between calls, see
    fastconv.fft) equal to rounding."""
    if algorithm == "fft":
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unbatched_input(algorithm, rng):
    x = make((3, 9, 10), np.float32, rng)
    w = make((4, 3, 3, 3), np.float32, rng)
    y = fastconv.conv2d(x, w, padding=1, algorithm=algorithm)
    assert_same(y, fastconv.conv2d(x[None], w, padding=1, algorithm=algorithm)[0], algorithm)
    x1 = make((3, 17), np.float64, rng)
    w1 = make((2, 3, 4), np.float64, rng)
    assert_same(fastconv.conv1d(x1, w1, algorithm=algorithm),
                fastconv.conv1d(x1[None], w1, algorithm=algorithm)[0], algorithm)
    t = fastconv.conv_transpose2d(x, w.transpose(1, 0, 2, 3).copy(), stride=2, algorithm=algorithm)
    assert_same(t, fastconv.conv_transpose2d(x[None], w.transpose(1, 0, 2, 3).copy(), stride=2,
                                             algorithm=algorithm)[0], algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_out_argument_and_aliasing(algorithm, rng):
    x = make((2, 4, 10, 10), np.float64, rng)
    w = make((4, 4, 3, 3), np.float64, rng)
    expected = fastconv.conv2d(x, w, padding=1, algorithm=algorithm)
    out = np.full_like(expected, np.nan)
    assert fastconv.conv2d(x, w, padding=1, algorithm=algorithm, out=out) is out
    assert_same(out, expected, algorithm)
    # out is the input itself: the result must still be right
    xa = x.copy()
    assert fastconv.conv2d(xa, w, padding=1, algorithm=algorithm, out=xa) is xa
    np.testing.assert_allclose(xa, expected, rtol=1e-12, atol=1e-12)
    # a non-contiguous out
    big = np.zeros((2, 4, 10, 20))
    view = big[..., ::2]
    fastconv.conv2d(x, w, padding=1, algorithm=algorithm, out=view)
    assert_same(view, expected, algorithm)
    # gradients write into out (which starts dirty) and do not accumulate into it
    gy = make(expected.shape, np.float64, rng)
    gx = fastconv.conv2d_grad_input(x.shape, w, gy, padding=1, algorithm=algorithm)
    o = np.full_like(gx, 7.0)
    fastconv.conv2d_grad_input(x.shape, w, gy, padding=1, algorithm=algorithm, out=o)
    assert_same(o, gx, algorithm)
    gw = fastconv.conv2d_grad_weight(x, w.shape, gy, padding=1, algorithm=algorithm)
    o = np.full_like(gw, 7.0)
    fastconv.conv2d_grad_weight(x, w.shape, gy, padding=1, algorithm=algorithm, out=o)
    assert_same(o, gw, algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_thread_count_does_not_change_results(algorithm, rng):
    for case in (CASES[0], CASES[16], CASES[18], CASES[22]):
        x = make(case.x_shape, np.float32, rng)
        w = make(case.w_shape, np.float32, rng)
        outs = []
        for n in (1, 2, 3):
            with fastconv.threads(n):
                y = conv_fn(case.nd)(x, w, algorithm=algorithm, **case.args())
                gy = np.ones_like(y)
                gx = grad_input_fn(case.nd)(x.shape, w, gy, algorithm=algorithm, **case.args())
                gw = grad_weight_fn(case.nd)(x, w.shape, gy, algorithm=algorithm, **case.args())
                outs.append((y, gx, gw))
        for other in outs[1:]:
            # no reduction split: identical (FFT plans differ per thread count: to rounding)
            assert_same(outs[0][0], other[0], algorithm)
            assert_same(outs[0][1], other[1], algorithm)
            # weight gradients reduce over images; thread partial sums only re-round
            np.testing.assert_allclose(outs[0][2], other[2], rtol=2e-5, atol=2e-5 * np.abs(outs[0][2]).max())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_nan_and_inf_stay_in_their_footprint(algorithm, rng):
    case = Case(2, 2, 3, (12, 13), 5, (3, 3), padding=1)
    x = make(case.x_shape, np.float32, rng)
    w = make(case.w_shape, np.float32, rng)
    x[1, 2, 5, 7] = np.nan
    x[0, 0, 0, 12] = np.inf
    y = fastconv.conv2d(x, w, algorithm=algorithm, **case.args())
    reach = ref.conv_forward(np.isnan(x) | np.isinf(x), np.ones(case.w_shape), **case.ref_args()) > 0
    np.testing.assert_array_equal(~np.isfinite(y), reach)
    # a NaN in grad_out reaches only the inputs its window read
    gy = make(y.shape, np.float32, rng)
    gy[0, 1, 4, 4] = np.nan
    gx = fastconv.conv2d_grad_input(x.shape, w, gy, algorithm=algorithm, **case.args())
    reach = ref.conv_grad_input(x.shape, np.ones(case.w_shape), np.isnan(gy), **case.ref_args()) > 0
    np.testing.assert_array_equal(np.isnan(gx), reach)


def test_denormals_flushed_inside_and_fp_state_restored(rng):
    tiny = np.float32(1e-40)  # a float32 denormal
    x = np.full((2, 4, 16, 16), tiny, np.float32)
    w = make((8, 4, 3, 3), np.float32, rng)
    y = fastconv.conv2d(x, w, padding=1)
    assert np.all(np.abs(y) < 1e-30)
    # the caller's floating-point mode is back: denormals still arise here
    assert tiny * np.float32(1.0) != 0
    assert np.float32(1e-38) / np.float32(100.0) != 0


def test_auto_matches_explicit_algorithms(rng):
    for case in CASES:
        x = make(case.x_shape, np.float64, rng)
        w = make(case.w_shape, np.float64, rng)
        y = conv_fn(case.nd)(x, w, **case.args())
        np.testing.assert_allclose(y, conv_fn(case.nd)(x, w, algorithm="im2col", **case.args()),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, shape", [(np.float32, (2, 40, 160, 161)), (np.float64, (1, 40, 160, 161))])
def test_pointwise_gemm_over_an_input_beyond_the_caches(dtype, shape):
    """A plain 1x1 layer whose input outgrows the caches (8 MB) packs its GEMM's panels step by step
    along each channel's plane: panels within one image that way, a panel across two images (25760
    pixels an image, not a multiple of the panels) as before; against a float64 reference."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((24, 40, 1, 1)).astype(dtype)
    b = rng.standard_normal(24).astype(dtype)
    y = fastconv.conv2d(x, w, b, algorithm="im2col")
    expected = np.einsum("nchw,kc->nkhw", x.astype(np.float64), w[:, :, 0, 0].astype(np.float64)) + b[:, None, None]
    bound = np.einsum("nchw,kc->nkhw", np.abs(x).astype(np.float64), np.abs(w[:, :, 0, 0]).astype(np.float64))
    assert y.dtype == dtype
    assert np.all(np.abs(y - expected) <= 4 * 40 * np.finfo(dtype).eps * (bound + np.abs(b)[:, None, None]))


def _ending_at_a_guard_page(a):
    """A copy of a whose last byte ends a page followed by one that cannot be read (Linux): a read
    past its end is a segmentation fault, not a read of whatever follows (the copy holds the
    mapping).  None where mprotect is not available."""
    import ctypes
    import mmap

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mprotect = libc.mprotect
    except (OSError, AttributeError):
        return None
    page = mmap.PAGESIZE
    data = -(-a.nbytes // page) * page
    mm = mmap.mmap(-1, data + page)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if mprotect(ctypes.c_void_p(addr + data), page, 0) != 0:
        return None
    b = np.frombuffer(mm, dtype=a.dtype, count=a.size, offset=data - a.nbytes).reshape(a.shape)
    b[...] = a
    return b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, K, stride, groups", [
    ((1, 3, 3, 40), 24, 2, 1),          # the last vector of pixels near x's end: packed pixel by pixel
    ((3, 5, 9, 56), 24, 2, 1),          # vectors across output rows (two segments), images after images
    ((2, 4, 7, 64), 40, 2, 1),
    ((2, 3, 10, 50), 24, (3, 2), 1),
    ((1, 2, 5, 33), 24, (1, 2), 1),
    ((2, 8, 5, 40), 24, 2, 2),          # the second group's channels read up to x's end
])
def test_strided_pointwise_reads_x_itself(shape, K, stride, groups, dtype):
    """A 1x1 layer of stride 2 along rows, unpadded, runs on the W-in-place tiles reading x itself
    (no phase planes): each vector of pixels two vectors of an input row, permuted, where that
    stays inside x, else pixel by pixel.  x ends at a page that cannot be read, so a read past its
    end crashes the test; against a float64 reference."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((K, shape[1] // groups, 1, 1)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    guarded = _ending_at_a_guard_page(x)
    if guarded is not None:
        x = guarded
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    xs = x.astype(np.float64)[:, :, ::sh, ::sw].reshape(shape[0], groups, -1, *x[:, :, ::sh, ::sw].shape[2:])
    wg = w[:, :, 0, 0].astype(np.float64).reshape(groups, K // groups, -1)
    expected = np.einsum("ngchw,gkc->ngkhw", xs, wg).reshape(shape[0], K, *xs.shape[3:]) + b[:, None, None]
    bound = np.einsum("ngchw,gkc->ngkhw", np.abs(xs), np.abs(wg)).reshape(expected.shape) + np.abs(b)[:, None, None]
    for algorithm in ("im2col", "auto"):
        y = fastconv.conv2d(x, w, b, stride=stride, groups=groups, algorithm=algorithm)
        assert y.dtype == dtype
        assert_close(y, expected, bound, shape[1] // groups + 1, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, pads", [
    ((2, 5, 9, 11), (3, 3), ((1, 1), (1, 1))),
    ((1, 3, 8, 7), (3, 3), ((0, 0), (0, 0))),
    ((2, 4, 13, 12), (5, 3), ((2, 2), (1, 1))),
    ((1, 2, 10, 10), (4, 4), ((1, 1), (2, 2))),
    ((1, 4, 1, 1), (3, 3), ((1, 1), (1, 1))),          # a 1x1 input: every tap but the centre is padding
    ((2, 3, 11, 9), (1, 3), ((0, 0), (1, 1))),
    ((1, 2, 12, 13), (3, 3), ((3, 3), (3, 3))),          # padding past the kernel's reach
])
def test_depthwise_stride_two_phase_planes(shape, ksize, pads, dtype):
    """Depthwise stride-2 layers run on phase planes (forward, input and weight gradients): odd and
    even sizes, asymmetric kernels, padding up to beyond the kernel, against float64 references."""
    rng = np.random.default_rng(31)
    N, C, H, W = shape
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((C, 1) + ksize).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    kw = dict(stride=2, padding=(pads[0][0], pads[1][0]), groups=C, algorithm="direct")
    y = fastconv.conv2d(x, w, b, **kw)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    expected = ref.conv_forward(x64, w64, b.astype(np.float64), (2, 2), pads, (1, 1), C)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, expected, **tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(fastconv.conv2d_grad_input(x.shape, w, gy, **kw),
                               ref.conv_grad_input(shape, w64, gy.astype(np.float64), (2, 2), pads, (1, 1), C), **tol)
    np.testing.assert_allclose(fastconv.conv2d_grad_weight(x, w.shape, gy, **kw),
                               ref.conv_grad_weight(x64, w.shape, gy.astype(np.float64), (2, 2), pads, (1, 1), C),
                               **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, K, stride, padding", [
    ((1, 1, 1000, 1000), 2, 2, 1),    # a unit's phase planes of dx just under their bound (1M elements)
    ((1, 1, 1030, 1030), 2, 2, 1),    # just over: col2im's adds into dx
    ((2, 3, 3, 4), 5, 2, 200),        # planes mostly padding: col2im's adds
    ((2, 3, 17, 16), 4, 3, 2),        # stride 3: nine planes
])
def test_im2col_strided_input_gradient_phase_planes(shape, K, stride, padding, dtype):
    """The im2col input gradient of a strided layer adds its columns into phase planes of dx, or
    where those would be too large, straight into dx; both against float64 references."""
    rng = np.random.default_rng(32)
    w = rng.standard_normal((K, shape[1], 3, 3)).astype(dtype)
    kw = dict(stride=stride, padding=padding)
    y_shape = fastconv.conv2d(np.zeros(shape, dtype), w, **kw).shape
    gy = rng.standard_normal(y_shape).astype(dtype)
    gx = fastconv.conv2d_grad_input(shape, w, gy, algorithm="im2col", **kw)
    pads = ((padding, padding), (padding, padding))
    expected = ref.conv_grad_input(shape, w.astype(np.float64), gy.astype(np.float64), (stride, stride), pads,
                                   (1, 1), 1)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, expected, **tol)
