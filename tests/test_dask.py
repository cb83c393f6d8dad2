"""Dask arrays in, lazy Dask arrays out (fastconv._dask): for random shapes,
chunkings, kernels and every boundary mode the chunked result equals the
unchunked NumPy call, bit for bit for the direct methods (and im2col), to
rounding for the FFT ones; graphs are lazy; a LocalCluster of worker
processes runs them.  Skipped without dask."""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import fastconv
from fastconv import _dask

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

SETTINGS = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunked(x, chunks):
    return da.from_array(x, chunks=chunks)


@st.composite
def images(draw, lead=1, spatial=2, max_side=24):
    """(array, chunks): lead batch axes and spatial axes of random sizes, chunked at random."""
    shape = tuple(draw(st.integers(1, 3)) for _ in range(lead)) + tuple(
        draw(st.integers(1, max_side)) for _ in range(spatial))
    chunks = tuple(draw(st.integers(max(1, n // 5), n)) for n in shape)  # up to ~5 blocks per axis
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32), chunks


def same(got, expected, exact=True):
    got = got.compute()
    assert type(got) is np.ndarray and got.shape == expected.shape and got.dtype == expected.dtype
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(expected).max())))


@settings(**SETTINGS)
@given(images(), st.tuples(st.integers(1, 7), st.integers(1, 7)), st.sampled_from(["full", "same", "valid"]),
       st.sampled_from(["fill", "wrap", "symm"]), st.sampled_from(["auto", "direct", "separable", "fft"]),
       st.sampled_from([fastconv.correlate2d, fastconv.convolve2d]))
def test_filtering_equals_the_unchunked_call(image, ksize, mode, boundary, method, fn):
    x, chunks = image
    k = np.random.default_rng(1).standard_normal(ksize).astype(np.float32)
    try:
        expected = fn(x, k, mode, boundary, 1.5, method)
    except ValueError:
        with pytest.raises(ValueError):
            fn(chunked(x, chunks), k, mode, boundary, 1.5, method)
        return
    same(fn(chunked(x, chunks), k, mode, boundary, 1.5, method), expected, exact=method != "fft")


@settings(**SETTINGS)
@given(images(max_side=30), st.integers(1, 9), st.integers(1, 9), st.sampled_from(["fill", "wrap", "symm"]))
def test_sepfilter_and_large_kernels_wrap_across_chunks(image, ky, kx, boundary):
    """Kernels longer than a chunk (and than the image): the wrap and symm
    windows are gathered by index, exact for any size."""
    x, chunks = image
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(ky), rng.standard_normal(kx)
    same(fastconv.sepfilter2d(chunked(x, chunks), a, b, "same", boundary), fastconv.sepfilter2d(x, a, b, "same",
                                                                                                  boundary))


def test_integer_complex_and_fill_dtypes():
    rng = np.random.default_rng(3)
    xi = rng.integers(-1000, 1000, (2, 13, 11), dtype=np.int32)
    k = rng.integers(-3, 4, (3, 4))
    same(fastconv.correlate2d(chunked(xi, (1, 5, 4)), k, "same", "fill", 7), fastconv.correlate2d(xi, k, "same",
                                                                                                    "fill", 7))
    xc = (rng.standard_normal((9, 10)) + 1j * rng.standard_normal((9, 10))).astype(np.complex64)
    kc = rng.standard_normal((3, 2)).astype(np.float32)
    for fill in (0, 1 + 2j):
        same(fastconv.convolve2d(chunked(xc, (4, 3)), kc, "full", "fill", fill),
             fastconv.convolve2d(xc, kc, "full", "fill", fill))
    xr, kz = rng.standard_normal((9, 10)), kc.astype(np.complex64) * (1 - 1j)  # a real image, complex result
    same(fastconv.correlate2d(chunked(xr, (4, 3)), kz, "same", "fill", 2 - 1j),
         fastconv.correlate2d(xr, kz, "same", "fill", 2 - 1j))


@settings(**SETTINGS)
@given(images(lead=0, spatial=3, max_side=14), st.tuples(*[st.integers(1, 5)] * 3),
       st.sampled_from(["full", "same", "valid"]))
def test_nd_convolution_and_fftconvolve(image, ksize, mode):
    x, chunks = image
    k = np.random.default_rng(4).standard_normal(ksize).astype(np.float32)
    for fn, exact in [(lambda a: fastconv.convolve(a, k, mode, "direct"), True),
                      (lambda a: fastconv.correlate(a, k, mode, "direct"), True),
                      (lambda a: fastconv.fftconvolve(a, k, mode), False),
                      (lambda a: fastconv.fftconvolve(a, k[:1], mode, axes=(1, 2)), False)]:
        try:
            expected = fn(x)
        except ValueError:
            with pytest.raises(ValueError):
                fn(chunked(x, chunks))
            continue
        same(fn(chunked(x, chunks)), expected, exact)


def test_fftconvolve_broadcasts_a_kernel_per_batch_entry():
    rng = np.random.default_rng(5)
    x, k = rng.standard_normal((4, 30, 20)), rng.standard_normal((4, 5, 3))
    same(fastconv.fftconvolve(chunked(x, (3, 7, 6)), k, "same", axes=(1, 2)),
         fastconv.fftconvolve(x, k, "same", axes=(1, 2)), exact=False)


CONV = [  # x shape, w shape, keyword arguments
    ((3, 4, 19, 17), (5, 4, 3, 3), dict(padding=1)),
    ((3, 4, 19, 17), (6, 2, 3, 2), dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)),
    ((2, 4, 16, 15), (4, 4, 4, 4), dict(padding="same")),
    ((2, 3, 12, 13), (4, 3, 3, 3), dict(padding=((0, 6), (5, 0)))),
    ((4, 19, 17), (5, 4, 3, 3), dict(padding=1, stride=2)),                    # unbatched
    ((4, 8, 14, 14), (64, 8, 3, 3), dict(stride=2, padding=1)),  # im2col: border pixels grouped (or not)
]


@settings(**SETTINGS)
@given(st.sampled_from(CONV), st.data(), st.sampled_from(["auto", "direct", "im2col", "fft"]))
def test_conv2d_over_batch_and_spatial_chunks(case, data, algorithm):
    xs, ws, kw = case
    chunks = tuple(data.draw(st.integers(max(1, n // 4), n)) for n in xs)
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32), \
        rng.standard_normal(ws[0]).astype(np.float32)
    same(fastconv.conv2d(chunked(x, chunks), w, b, algorithm=algorithm, **kw),
         fastconv.conv2d(x, w, b, algorithm=algorithm, **kw), exact=algorithm != "fft")


def test_conv1d_and_pooling():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 50))
    w = rng.standard_normal((5, 4, 7))
    same(fastconv.conv1d(chunked(x, (2, 4, 9)), w, stride=3, padding=2, dilation=2),
         fastconv.conv1d(x, w, stride=3, padding=2, dilation=2))
    img = rng.standard_normal((5, 6, 17, 15)).astype(np.float32)
    d = chunked(img, (2, 4, 6, 5))
    same(fastconv.max_pool2d(d, 3, 2, 1), fastconv.max_pool2d(img, 3, 2, 1))
    y, idx = fastconv.max_pool2d(d, 2, ceil_mode=True, return_indices=True)
    y0, idx0 = fastconv.max_pool2d(img, 2, ceil_mode=True, return_indices=True)
    same(y, y0)
    same(idx, idx0)
    same(fastconv.avg_pool2d(d, 3, 2, 1, count_include_pad=False),
         fastconv.avg_pool2d(img, 3, 2, 1, count_include_pad=False))
    same(fastconv.global_avg_pool2d(d), fastconv.global_avg_pool2d(img))
    same(fastconv.global_avg_pool2d(d, keepdims=True), fastconv.global_avg_pool2d(img, keepdims=True))


def test_graphs_are_lazy():
    """Building a graph reads no data: the source raises if computed."""
    def boom(block):
        raise AssertionError("computed while building the graph")

    x = da.zeros((2, 3, 40, 40), chunks=(1, 3, 20, 20), dtype=np.float32).map_blocks(boom, dtype=np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    calls = [lambda: fastconv.conv2d(x, w, padding=1), lambda: fastconv.correlate2d(x, w[0, 0], "same", "wrap"),
             lambda: fastconv.fftconvolve(x, w[:1, :1], "same"), lambda: fastconv.max_pool2d(x, 2),
             lambda: fastconv.sepfilter2d(x, np.ones(5), np.ones(3), boundary="symm"),
             lambda: fastconv.convolve(x, w[:1, :1], "valid")]
    for call in calls:
        assert _dask.is_dask_array(call())


def test_errors():
    x = chunked(np.zeros((10, 10), np.float32), 5)
    with pytest.raises(TypeError, match="not a Dask array"):
        fastconv.correlate2d(x, chunked(np.ones((3, 3)), 3))
    with pytest.raises(ValueError, match="mode"):
        fastconv.correlate2d(x, np.ones((3, 3)), mode="bad")
    with pytest.raises(ValueError, match="boundary"):
        fastconv.convolve2d(x, np.ones((3, 3)), boundary="bad")
    x4 = chunked(np.zeros((1, 2, 10, 10), np.float32), 5)
    with pytest.raises(TypeError, match="out="):
        fastconv.conv2d(x4, np.ones((3, 2, 3, 3), np.float32), out=np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        fastconv.conv2d(x4, np.ones((3, 2, 3, 3), np.float64))
    with pytest.raises(ValueError, match="channels"):
        fastconv.conv2d(x4, np.ones((3, 3, 3, 3), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        fastconv.max_pool2d(x4.astype(np.int32), 2)


def _small_model():
    from fastconv import nn

    rng = np.random.default_rng(9)
    x = rng.standard_normal((60, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    m = nn.Sequential([nn.Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first"),
                       nn.MaxPool2D(2, data_format="channels_first"), nn.Flatten(), nn.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=1, verbose=0)
    return m, x, y


def test_model_predict_and_evaluate():
    m, x, y = _small_model()
    d = chunked(x, (16, 1, 4, 8))
    p = m.predict(d)
    assert _dask.is_dask_array(p) and p.chunks[0] == (16, 16, 16, 12)
    same(p, m.predict(x))
    # the weights are one key of the graph, whatever the number of tasks
    graph = dict(p.__dask_graph__())
    assert sum(v is m or getattr(v, "value", None) is m for v in graph.values()) == 1
    for yy in (y, chunked(y, 7)):
        np.testing.assert_allclose(m.evaluate(d, yy), m.evaluate(x, y), rtol=1e-6)
    with pytest.raises(ValueError, match="same number of examples"):
        m.evaluate(d, y[:10])
    with pytest.raises(ValueError, match="inputs of shape"):
        m.predict(chunked(x[:, :, :4], 4))


def test_task_threads_follow_the_scheduler():
    with dask.config.set(scheduler="threads"):
        assert _dask.task_threads() == 1
    with dask.config.set(scheduler="synchronous"):
        assert _dask.task_threads() is None


def test_local_cluster_of_worker_processes():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(8)
    img = rng.standard_normal((2, 64, 48)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        d = chunked(img, (2, 20, 16))
        k = np.ones((5, 5), np.float32) / 25
        got = client.compute([fastconv.correlate2d(d, k, "same", "symm"),
                              fastconv.conv2d(d[None], w, padding=1)], sync=True)
        np.testing.assert_array_equal(got[0], fastconv.correlate2d(img, k, "same", "symm"))
        np.testing.assert_array_equal(got[1], fastconv.conv2d(img[None], w, padding=1))
        # one fastconv thread per task in a worker of one thread (its nanny sets OMP_NUM_THREADS=1)
        assert set(client.run(_dask.task_threads).values()) == {1}
        m, x, y = _small_model()
        d = chunked(x, (16, 1, 8, 8))
        np.testing.assert_array_equal(client.compute(m.predict(d), sync=True), m.predict(x))


def test_gradients_block_by_block_of_examples():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((5, 3, 12, 11))
    w = rng.standard_normal((4, 3, 3, 3))
    kw = dict(stride=2, padding=1)
    gy = rng.standard_normal(fastconv.conv2d(x, w, **kw).shape)
    dx, dgy = chunked(x, (2, 3, 5, 4)), chunked(gy, (3, 2, 3, 3))
    same(fastconv.conv2d_grad_input(x.shape, w, dgy, **kw), fastconv.conv2d_grad_input(x.shape, w, gy, **kw))
    same(fastconv.conv2d_grad_weight(dx, w.shape, dgy, **kw), fastconv.conv2d_grad_weight(x, w.shape, gy, **kw),
         exact=False)
    same(fastconv.conv2d_grad_weight(dx, w.shape, gy, **kw), fastconv.conv2d_grad_weight(x, w.shape, gy, **kw),
         exact=False)
    y, idx = fastconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    g = rng.standard_normal(y.shape)
    same(fastconv.max_pool2d_backward(chunked(g, (2, 2, 3, 3)), chunked(idx, (3, 1, 2, 2)), x.shape),
         fastconv.max_pool2d_backward(g, idx, x.shape))
    same(fastconv.max_pool2d_backward(chunked(g, (2, 2, 3, 3)), idx, x.shape),
         fastconv.max_pool2d_backward(g, idx, x.shape))
    ga = rng.standard_normal(fastconv.avg_pool2d(x, 2).shape)
    same(fastconv.avg_pool2d_backward(chunked(ga, (2, 2, 3, 3)), x.shape, 2),
         fastconv.avg_pool2d_backward(ga, x.shape, 2))


NDIMAGE_MODES = ["reflect", "mirror", "nearest", "wrap", "constant", "grid-wrap", "grid-mirror", "grid-constant"]


@settings(**SETTINGS)
@given(images(lead=0, spatial=2, max_side=30), st.sampled_from(NDIMAGE_MODES),
       st.sampled_from(["gaussian", "gaussian_order", "uniform", "sobel", "laplace", "correlate", "ggm"]),
       st.floats(0.5, 6.0))
def test_ndimage_filters_equal_the_unchunked_call(image, mode, fn, sigma):
    """Every boundary mode exact across chunks (wrap gathered from the far
    side of the array, the others applied at its true edges), bit for bit."""
    from fastconv import ndimage as ndi

    x, chunks = image
    calls = {"gaussian": lambda a: ndi.gaussian_filter(a, sigma, mode=mode, cval=1.5),
             "gaussian_order": lambda a: ndi.gaussian_filter(a, (sigma, 1.0), order=(1, 0), mode=mode),
             "uniform": lambda a: ndi.uniform_filter(a, (int(2 * sigma) + 1, 3), mode=mode, origin=(0, 1)),
             "sobel": lambda a: ndi.sobel(a, axis=0, mode=mode),
             "laplace": lambda a: ndi.laplace(a, mode=mode),
             "correlate": lambda a: ndi.correlate(a, np.arange(12.0).reshape(3, 4), mode=mode, origin=(1, 0)),
             "ggm": lambda a: ndi.gaussian_gradient_magnitude(a, sigma, mode=mode)}
    same(calls[fn](chunked(x, chunks)), calls[fn](x))


@settings(**SETTINGS)
@given(images(lead=0, spatial=2, max_side=30), st.sampled_from(NDIMAGE_MODES), st.sampled_from(NDIMAGE_MODES),
       st.floats(0.5, 2.5))
def test_ndimage_chains_equal_the_unchunked_calls(image, first, second, sigma):
    """Filters of filters' lazy results (chunks grown to the halo where thinner), bit for bit the
    unchunked chain."""
    from fastconv import ndimage as ndi

    x, chunks = image
    blur = lambda a: ndi.gaussian_filter(a, sigma, mode=first, cval=0.5)  # noqa: E731
    edge = lambda a, axis: ndi.sobel(a, axis=axis, mode=second)  # noqa: E731
    src = chunked(x, chunks)
    blurred = blur(src)
    gy, gx = edge(blurred, 0), edge(blurred, 1)
    for got, want in ((gy, edge(blur(x), 0)), (gx, edge(blur(x), 1)), (blurred, blur(x))):
        same(got, want)
    same(edge(edge(gy, 1), 0), edge(edge(edge(blur(x), 0), 1), 0))  # longer chains


@settings(**SETTINGS)
@given(images(lead=0, spatial=2, max_side=30), st.sampled_from(NDIMAGE_MODES), st.sampled_from(NDIMAGE_MODES),
       st.floats(0.5, 2.5), st.booleans())
# (a wrap axis whose last chunk is thinner than the blur's halo: the blur's graph holds the source's
# blocks inside its gathered windows, and a fused graph rebuilt from it missed one of them)
@example((np.random.default_rng(8).standard_normal((1, 26)).astype(np.float32), (1, 5)), "wrap", "wrap", 1.0, False)
def test_gradient_magnitude_of_a_filter_runs_in_one_task_per_chunk(image, first, second, sigma, prewitt):
    """generic_gradient_magnitude of another filter's lazy result: both filters in one task per chunk
    of the source when their wrap axes agree (the intermediate never stored), bit for bit the
    unchunked calls either way."""
    from fastconv import ndimage as ndi

    x, chunks = image
    d = ndi.prewitt if prewitt else ndi.sobel
    blurred = ndi.gaussian_filter(chunked(x, chunks), sigma, mode=first, cval=0.5)
    got = ndi.generic_gradient_magnitude(blurred, d, mode=second)
    same(got, ndi.generic_gradient_magnitude(ndi.gaussian_filter(x, sigma, mode=first, cval=0.5), d, mode=second))


@pytest.mark.parametrize("first, second", [("reflect", "nearest"), ("wrap", "wrap"), ("reflect", "wrap")])
def test_gradient_magnitude_fuses_with_the_filter_before_it(first, second):
    """Where the two filters' wrap axes agree, the blurred array's tasks are not in the result's graph."""
    from fastconv import ndimage as ndi

    x = np.random.default_rng(3).standard_normal((64, 60)).astype(np.float32)
    blurred = ndi.gaussian_filter(chunked(x, (16, 15)), 1.5, mode=first)
    got = ndi.generic_gradient_magnitude(blurred, ndi.sobel, mode=second)
    keys = set(dask.core.flatten(got.__dask_keys__()))
    needed = {k[0] for k in got.__dask_graph__().cull(keys).keys() if isinstance(k, tuple)}
    assert (blurred.name in needed) == (("wrap" in first) != ("wrap" in second))
    same(got, ndi.generic_gradient_magnitude(ndi.gaussian_filter(x, 1.5, mode=first), ndi.sobel, mode=second))


def test_gradient_magnitude_on_dask_needs_a_known_derivative():
    import scipy.ndimage as snd

    from fastconv import ndimage as ndi

    d = chunked(np.ones((8, 8)), 4)
    with pytest.raises(TypeError, match="derivative must be fastconv.ndimage.sobel"):
        ndi.generic_gradient_magnitude(d, snd.sobel)
    with pytest.raises(TypeError, match="derivative must be fastconv.ndimage.sobel"):
        ndi.generic_gradient_magnitude(d, ndi.sobel, extra_arguments=(1,))


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", "nearest", "mirror"])
def test_ndimage_blocks_run_on_their_chunk_and_redo_the_frame(mode):
    """Chunks at least 6 halos deep take the frame path (the chunk itself through the filter, the
    frame from slabs of the window): bit for bit the unchunked call, in 2-D and 3-D, chained."""
    from fastconv import ndimage as ndi

    rng = np.random.default_rng(13)
    x = rng.standard_normal((130, 125)).astype(np.float32)
    for chunks in ((65, 63), (130, 63), (44, 125)):
        g = ndi.gaussian_filter(chunked(x, chunks), 1.5, mode=mode, cval=2.0)  # reach 7: 42 <= 44
        same(g, ndi.gaussian_filter(x, 1.5, mode=mode, cval=2.0))
        same(ndi.sobel(g, axis=1, mode=mode), ndi.sobel(ndi.gaussian_filter(x, 1.5, mode=mode, cval=2.0), axis=1,
                                                       mode=mode))
    v = rng.standard_normal((30, 40, 36))
    same(ndi.laplace(chunked(v, (15, 20, 13)), mode=mode), ndi.laplace(v, mode=mode))
    same(ndi.uniform_filter(chunked(v, (15, 20, 13)), (3, 1, 3), mode=mode, origin=(1, 0, -1)),
         ndi.uniform_filter(v, (3, 1, 3), mode=mode, origin=(1, 0, -1)))


def test_ndimage_chain_after_an_assignment_reads_the_assigned_values():
    from fastconv import ndimage as ndi

    x = np.random.default_rng(12).standard_normal((40, 36))
    blurred = ndi.gaussian_filter(chunked(x, 12), 1.0)
    blurred[5:9, 3:30] = 7.0  # Dask's __setitem__ gives the array a new graph and name
    expected = ndi.gaussian_filter(x, 1.0)
    expected[5:9, 3:30] = 7.0
    same(ndi.sobel(blurred, axis=0), ndi.sobel(expected, axis=0))


def test_ndimage_volumes_integers_and_errors():
    from fastconv import ndimage as ndi

    rng = np.random.default_rng(11)
    v = rng.standard_normal((14, 15, 13))
    same(ndi.gaussian_filter(chunked(v, (5, 6, 4)), 1.5, axes=(0, 2)), ndi.gaussian_filter(v, 1.5, axes=(0, 2)))
    same(ndi.gaussian_filter1d(chunked(v, (5, 6, 4)), 4.0, axis=1, mode="wrap"),
         ndi.gaussian_filter1d(v, 4.0, axis=1, mode="wrap"))
    img = rng.integers(0, 255, (40, 33)).astype(np.uint8)
    for output in (None, np.float32):
        same(ndi.uniform_filter(chunked(img, (9, 7)), 5, output=output), ndi.uniform_filter(img, 5, output=output))
    with pytest.raises(TypeError, match="output must be None or a dtype"):
        ndi.sobel(chunked(img, 9), output=np.zeros(img.shape))
    with pytest.raises(RuntimeError):  # scipy.ndimage's exception type for a bad mode
        ndi.gaussian_filter(chunked(img, 9), 1.0, mode="bogus")
    with pytest.raises(TypeError, match="not a Dask array"):
        ndi.correlate1d(chunked(img, 9), chunked(np.ones(3), 3))
    lazy = da.zeros((64, 64), chunks=16).map_blocks(lambda b: (_ for _ in ()).throw(AssertionError("computed")),
                                                   dtype=float)
    assert _dask.is_dask_array(ndi.gaussian_gradient_magnitude(lazy, 2.0))


def test_dask_arrays_of_cupy_chunks():
    """Dask arrays whose chunks are CuPy arrays run on the GPU backend chunk
    by chunk and stay CuPy (the "run by either" of the design): the filters,
    ndimage, overlap-add fftconvolve, conv2d and pooling over spatial chunks,
    and predict, each against the unchunked NumPy call."""
    gpu = fastconv.info()["gpu"]
    if not gpu["available"]:
        pytest.skip(f"no GPU backend here: {gpu['reason']}")
    import cupy

    from fastconv import ndimage as fnd
    from fastconv import nn

    rng = np.random.default_rng(5)
    img = rng.standard_normal((70, 90)).astype(np.float32)
    k = rng.standard_normal((5, 4)).astype(np.float32)
    d = da.from_array(cupy.asarray(img), chunks=(30, 40))
    x = rng.standard_normal((4, 3, 20, 22)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    dx = da.from_array(cupy.asarray(x), chunks=(2, 3, 9, 11))
    model = nn.Sequential([nn.Conv2D(4, 3, activation="relu", data_format="channels_first"), nn.Flatten(),
                           nn.Dense(2)], seed=0)
    model.build((3, 20, 22))
    expected = model.predict(x)
    cases = [
        (fastconv.correlate2d(d, k, "same", "wrap"), fastconv.correlate2d(img, k, "same", "wrap")),
        (fastconv.convolve2d(d, k, "full", "symm"), fastconv.convolve2d(img, k, "full", "symm")),
        (fnd.gaussian_filter(d, 2.5, mode="mirror"), fnd.gaussian_filter(img, 2.5, mode="mirror")),
        (fnd.uniform_filter(d, 7), fnd.uniform_filter(img, 7)),
        (fastconv.fftconvolve(d, k, "same"), fastconv.fftconvolve(img, k, "same")),
        (fastconv.conv2d(dx, w, stride=2, padding=1), fastconv.conv2d(x, w, stride=2, padding=1)),
        (fastconv.max_pool2d(dx, 3, 2, 1), fastconv.max_pool2d(x, 3, 2, 1)),
        (model.predict(dx), expected),
    ]
    for lazy, want in cases:
        assert isinstance(lazy, da.Array) and isinstance(lazy._meta, cupy.ndarray)
        got = lazy.compute()
        assert isinstance(got, cupy.ndarray) and got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
