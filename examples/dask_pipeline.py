"""A large image, blurred and edge-detected on a Dask cluster.

Makes a zarr image on disk (20000 x 20000 float32 by default, 1.6 GB: a
smooth random field with bright discs), then on a ``dask.distributed``
LocalCluster of worker processes with bounded memory: a Gaussian blur
(``fastconv.ndimage.gaussian_filter``), the Sobel gradient magnitude of the
blurred image, written to a second zarr store, and a small PNG preview.
Every step is a lazy Dask graph whose tasks run fastconv on one chunk plus
the halo its filter reaches (results do not depend on the chunking).  It
prints the time of each step and the peak memory of each worker.

    python examples/dask_pipeline.py [--size 20000] [--chunk 2048] [--workers 2] [--compress] [--compare] [--repeat N]
                                     [--dask-malloc]

The stores are uncompressed unless --compress (zarr's default codec, zstd):
this image's noise leaves little to compress, and a codec's cost per byte
is the same for every filter library.

The workers run with glibc's own allocator settings.  distributed sets
MALLOC_TRIM_THRESHOLD_=65536 in its worker processes, so that freed memory
goes back to the system at once; glibc then maps every 16 MB buffer (the zarr
reads and writes, the filters' outputs) afresh, and the kernel zeroes its
pages on first touch: a 16 MB zarr read takes 46 ms instead of 5, and page
zeroing is an eighth of the pipeline's CPU time.  glibc's default keeps freed
buffers for the next chunk instead (the peak memory printed shows what that
holds).  --dask-malloc keeps distributed's setting.

--compare runs the same pipeline with dask-image (``dask_image.ndfilters``,
scipy.ndimage per chunk) on the same cluster and chunks and prints the
ratio of the times.
"""
import argparse
import pathlib
import resource
import shutil
import sys
import tempfile
import time

import numpy as np


def make_image(path, size, chunk, seed=0, **store):
    """A smooth random field plus bright discs, written chunk by chunk (never whole in memory)."""
    import dask.array as da

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (max(1, size // 400), 2))
    radii = rng.uniform(size / 200, size / 60, len(centres))

    def block(b, block_info=None):
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        rows, cols = np.arange(r0, r1, dtype=np.float32)[:, None], np.arange(c0, c1, dtype=np.float32)[None]
        out = 0.3 * np.sin(rows / 97.0) * np.cos(cols / 131.0) + 0.05 * np.random.default_rng(r0 * size + c0).standard_normal(
            (r1 - r0, c1 - c0)).astype(np.float32)
        near = (np.abs(centres[:, 0] - (r0 + r1) / 2) < (r1 - r0) / 2 + radii) & \
               (np.abs(centres[:, 1] - (c0 + c1) / 2) < (c1 - c0) / 2 + radii)
        for (cy, cx), r in zip(centres[near], radii[near]):
            out[(rows - cy) ** 2 + (cols - cx) ** 2 < r * r] += 1.0
        return out.astype(np.float32)

    image = da.zeros((size, size), chunks=chunk, dtype=np.float32).map_blocks(block, dtype=np.float32)
    image.to_zarr(str(path), overwrite=True, **store)


def pipeline(image, sigma, ndi):
    """Blur, then the Sobel gradient magnitude, with the ndimage functions of `ndi` (lazy).

    scipy.ndimage's way to the Sobel magnitude is generic_gradient_magnitude(x, sobel), which
    fastconv.ndimage has (on a Dask array: the blur, both derivatives and the magnitude in one
    task per chunk); dask-image has no generic_gradient_magnitude, so there it is the hypot of
    the two Sobel derivatives."""
    import dask.array as da

    blurred = ndi.gaussian_filter(image, sigma)
    if hasattr(ndi, "generic_gradient_magnitude"):
        return ndi.generic_gradient_magnitude(blurred, ndi.sobel)
    return da.hypot(ndi.sobel(blurred, axis=0), ndi.sobel(blurred, axis=1))


def warm_up(client, image, sigma, chunk, ndi):
    """The pipeline once on a corner of the image (2 x 2 chunks per worker), so that the timed run
    does not include each worker's first import of the library and its first-call costs (the same
    for both libraries; the cold times are about a second longer)."""
    n = len(client.scheduler_info()["workers"])
    side = min(image.shape[0], 2 * chunk * max(1, int(np.ceil(np.sqrt(n)))))
    pipeline(image[:side, :side], sigma, ndi).sum().compute()


def best_of(n, run):
    """The shortest of n timed runs (s)."""
    times = []
    for _ in range(max(1, n)):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20000, help="image side (pixels)")
    ap.add_argument("--chunk", type=int, default=2048, help="chunk side (pixels)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker")
    ap.add_argument("--memory-limit", default="3GiB", help="per worker")
    ap.add_argument("--sigma", type=float, default=4.0)
    ap.add_argument("--dir", default=None, help="where the zarr stores go (default: a temporary directory)")
    ap.add_argument("--out", default="dask_pipeline.png", help="the PNG preview")
    ap.add_argument("--compress", action="store_true", help="compress the zarr stores (zarr's default codec)")
    ap.add_argument("--compare", action="store_true", help="also time dask-image's pipeline (pip install dask-image)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each pipeline (the best is reported)")
    ap.add_argument("--dask-malloc", action="store_true",
                    help="keep distributed's MALLOC_TRIM_THRESHOLD_=65536 in the workers (see above)")
    args = ap.parse_args(argv)

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from fastconv import ndimage

    if __name__ != "__main__" and __name__ in sys.modules:  # imported (tests): the workers cannot import it
        import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])

    work = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="fastconv-dask-"))
    work.mkdir(parents=True, exist_ok=True)
    # (None unsets the variable; it applies to the worker processes started below)
    malloc = {} if args.dask_malloc else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    try:
        with dask.config.set(malloc), \
                LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                             memory_limit=args.memory_limit, dashboard_address=None, silence_logs=40) as cluster, \
                Client(cluster) as client:
            store = {} if args.compress else {"compressors": None}
            t0 = time.perf_counter()
            make_image(work / "image.zarr", args.size, args.chunk, **store)
            print(f"image {args.size} x {args.size} float32 ({args.size ** 2 * 4 / 1e9:.2f} GB) in chunks of "
                  f"{args.chunk}: written to {work / 'image.zarr'} in {time.perf_counter() - t0:.1f} s")
            image = da.from_zarr(str(work / "image.zarr"))
            edges = pipeline(image, args.sigma, ndimage)
            warm_up(client, image, args.sigma, args.chunk, ndimage)
            ours = best_of(args.repeat, lambda: edges.to_zarr(str(work / "edges.zarr"), overwrite=True, **store))
            print(f"gaussian_filter(sigma={args.sigma}) + Sobel magnitude, {args.workers} workers x {args.threads} "
                  f"threads: {ours:.1f} s" + (f" (best of {args.repeat})" if args.repeat > 1 else ""))
            peaks = client.run(_peak_rss_mb)
            for worker, mb in sorted(peaks.items()):
                print(f"  peak memory of worker {worker}: {mb:.0f} MB")
            if args.compare:
                import dask_image.ndfilters

                warm_up(client, image, args.sigma, args.chunk, dask_image.ndfilters)
                theirs = best_of(args.repeat, lambda: pipeline(image, args.sigma, dask_image.ndfilters).to_zarr(
                    str(work / "edges_dask_image.zarr"), overwrite=True, **store))
                diff = da.fabs(da.from_zarr(str(work / "edges.zarr")) -
                               da.from_zarr(str(work / "edges_dask_image.zarr"))).max().compute()
                print(f"dask-image, same cluster and chunks: {theirs:.1f} s; dask-image / fastconv = "
                      f"{theirs / ours:.2f}x (largest difference {float(diff):.2e})")
            step = max(1, args.size // 800)
            preview = da.from_zarr(str(work / "edges.zarr"))[::step, ::step].compute()
        scale = np.percentile(preview, 99.5) or 1.0
        img = (np.clip(preview / scale, 0, 1) * 255).astype(np.uint8)
        from PIL import Image

        Image.fromarray(img).save(args.out)
        print(f"preview ({img.shape[1]} x {img.shape[0]}) written to {args.out}")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
