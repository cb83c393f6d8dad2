"""Dask: examples/dask_pipeline.py's pipeline (Gaussian blur, then the Sobel
gradient magnitude) with fastconv.ndimage against dask-image
(dask_image.ndfilters: scipy.ndimage per chunk), on the same LocalCluster
of worker processes and the same chunks, with 1 and 2 workers of one thread
(the scaling table).  The image lives on the workers (made there, persisted
before timing), so the times are the filters' and Dask's, not a store's;
the example itself, with its zarr reads and writes, is timed by
`python examples/dask_pipeline.py --compare`.

    python -m pytest bench/test_bench_dask.py --benchmark-json=bench/out/dask.json
    python bench/ratios.py bench/out/dask.json --markdown
"""
import sys
import pathlib

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))
import dask_pipeline  # noqa: E402

SIZE, CHUNK, SIGMA = 8192, 2048, 8.0


@pytest.fixture(scope="module", params=[1, 2], ids=lambda n: f"{n}w")
def cluster(request):
    with distributed.LocalCluster(n_workers=request.param, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as c, distributed.Client(c) as client:
        image = da.random.default_rng(0).standard_normal((SIZE, SIZE), chunks=CHUNK, dtype=np.float32).persist()
        distributed.wait(image)
        yield request.param, client, image


def _ndi(side):
    if side == "fastconv":
        from fastconv import ndimage

        return ndimage
    dask_image = pytest.importorskip("dask_image.ndfilters")
    return dask_image


@pytest.mark.parametrize("side", ["fastconv", "dask-image"])
def test_pipeline(benchmark, cluster, side):
    workers, client, image = cluster
    ndi = _ndi(side)
    run = lambda: dask_pipeline.pipeline(image, SIGMA, ndi).sum().compute()  # noqa: E731
    run()  # warm-up: imports and kernels on every worker
    benchmark.group = f"D1 pipeline {SIZE}^2 sigma {SIGMA:g}, chunks {CHUNK}, {workers} worker(s) x 1 thread"
    benchmark.extra_info.update(side=side, workers=workers)
    benchmark.pedantic(run, rounds=3, iterations=1)
