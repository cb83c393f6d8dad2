"""The examples run and produce what they promise (smoke tests)."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart(capsys):
    load("quickstart").main()
    assert "fastconv" in capsys.readouterr().out


def test_image_filtering(tmp_path, capsys):
    pytest.importorskip("sklearn")
    Image = pytest.importorskip("PIL.Image")
    example = load("image_filtering")
    out = tmp_path / "panel.png"
    example.main(["--out", str(out)])
    panel = np.asarray(Image.open(out))
    assert panel.shape == (427, 3 * 640, 3)
    text = capsys.readouterr().out
    assert "chose 'separable' (rank 1)" in text
    # the edges panel is dark where the sky is flat and bright on the tower's outline
    edges = panel[:, 1280:, 0].astype(float)
    assert edges[:40, 450:600].mean() < 20 and edges.max() > 200


# ---- fastconv.nn examples, each with a tiny budget --------------------------------------------------------


def test_mnist1d_cnn():
    pytest.importorskip("mnist1d")
    acc, history = load("mnist1d_cnn").main(["--epochs", "3", "--verbose", "0"])
    assert history["loss"][-1] < history["loss"][0] and acc > 0.4  # chance is 0.1


def test_mnist1d_gru():
    pytest.importorskip("mnist1d")
    acc, history = load("mnist1d_gru").main(["--epochs", "2", "--units", "16", "--verbose", "0"])
    assert history["loss"][-1] < history["loss"][0] and acc > 0.2


def test_digits_cnn(tmp_path):
    pytest.importorskip("sklearn")
    acc = load("digits_cnn").main(["--epochs", "2", "--verbose", "0", "--save", str(tmp_path / "d.npz")])
    assert acc > 0.8 and (tmp_path / "d.npz").exists()


def test_sine_rnn(tmp_path):
    results = load("sine_rnn").main(["--epochs", "8", "--plot", str(tmp_path / "s.png")])
    # both networks forecast better than repeating the last value
    assert results["SimpleRNN"] < results["naive (last value)"]
    assert results["LSTM"] < results["naive (last value)"]
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_dcgan_digits(tmp_path):
    pytest.importorskip("sklearn")
    Image = pytest.importorskip("PIL.Image")
    confidence, counts = load("dcgan_digits").main(["--epochs", "2", "--out", str(tmp_path / "g.png")])
    assert 0 < confidence <= 1 and counts.sum() == 500
    assert Image.open(tmp_path / "g.png").size == (73 * 6, 73 * 6)


def test_cli_info_and_demo(capsys):
    from fastconv._tools import cli

    assert cli.main(["info"]) == 0
    assert "SIMD" in capsys.readouterr().out
    pytest.importorskip("mnist1d")
    assert cli.main(["demo", "--epochs", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mnist1d_cnn: test accuracy" in out and "Total params: 5,210" in out


def test_cli_bench_writes_table_and_chart(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from fastconv._tools import cli

    chart = tmp_path / "bench.png"
    assert cli.main(["bench", "--workloads", "C4,R4", "--rounds-scale", "0.01", "--plot", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "| C4 fwd |" in out and "| R4 fwd+bwd |" in out and chart.stat().st_size > 1000
    assert cli.main(["bench", "--only", "gemm"]) == 2


def test_bench_passes_keep_each_sides_minimum(monkeypatch):
    """--passes times every row once per pass and keeps each side's own minimum over the passes."""
    from fastconv._tools import bench, cli

    times = iter([(3.0, 4.0), (1.0, 5.0), (2.0, 2.0)])  # (fastconv, torch) per pass

    def one_pass(*args):
        fc, peer = next(times)
        return [{"workload": "X1 fwd", "fastconv": fc, "peers": {"torch": peer}, "skipped": {}}]

    monkeypatch.setattr(bench, "_run_pass", one_pass)
    rows = bench.run(("conv",), passes=3, log=None)
    assert rows == [{"workload": "X1 fwd", "fastconv": 1.0, "peers": {"torch": 2.0}, "skipped": {}}]
    with pytest.raises(ValueError, match="passes"):
        bench.run(("conv",), passes=0)
    assert cli.main(["bench", "--passes", "0"]) == 2


def test_bench_blocks_alternate_the_sides(monkeypatch):
    """Each side of a row is timed in blocks that alternate with the peers' (a slow spell of the
    shared host then falls on both sides), keeping each side's minimum; a peer that is not
    installed is skipped and named."""
    from fastconv._tools import bench, cli

    order, times = [], iter([3.0, 4.0, 1.0, 5.0, 2.0, 2.0])

    class Row:
        id, rounds = "X1", 4

    def unavailable():
        raise bench.Unavailable("nothing")

    def sides(wl, mode):
        return "fc", {"torch": lambda: "peer", "absent": unavailable}

    def fake_best_time(fn, rounds, warmup=2, budget=None, min_seconds=0.0):
        order.append((fn, rounds, budget))
        return next(times)

    monkeypatch.setitem(bench.FAMILIES, "fake", ([Row()], sides, ("fwd",)))
    monkeypatch.setattr(bench, "best_time", fake_best_time)
    monkeypatch.setattr(bench, "_settle", lambda last: None)
    rows = bench.run(("fake",), rounds_scale=1.0, log=None, peer_budget=3.0, blocks=3)
    assert rows == [{"workload": "X1", "fastconv": 1.0, "peers": {"torch": 2.0}, "skipped": {"absent": "nothing"}}]
    assert order == [("fc", 3, None), ("peer", 3, 1.0)] * 3  # 4 rounds in 3 blocks: 3 each (at least 3)
    with pytest.raises(ValueError, match="blocks"):
        bench.run(("fake",), blocks=0)
    assert cli.main(["bench", "--blocks", "0"]) == 2


def test_bench_lowers_blas_threads_never_raises(monkeypatch):
    """fastconv bench limits NumPy's BLAS to fastconv's threads only where it has more: raising it
    (OPENBLAS_NUM_THREADS=1, then 2) starts OpenBLAS's workers mid-run, and they spin beside
    the timed calls."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import contextlib

    from fastconv._tools import bench

    calls = []
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda **kw: calls.append(kw) or contextlib.nullcontext())
    for have, n, limited in [(1, 2, False), (2, 2, False), (4, 2, True)]:
        calls.clear()
        monkeypatch.setattr(threadpoolctl, "threadpool_info",
                            lambda have=have: [{"user_api": "blas", "num_threads": have},
                                               {"user_api": "openmp", "num_threads": 8}])
        with bench._blas_limit(n):
            pass
        assert calls == ([{"limits": n, "user_api": "blas"}] if limited else []), (have, n)


def test_python_m_fastconv():
    import subprocess

    r = subprocess.run([sys.executable, "-m", "fastconv", "info", "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and '"simd"' in r.stdout


def test_dask_pipeline(tmp_path, capsys):
    """The zarr image blurred and edge-detected on a LocalCluster (small)."""
    pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "preview.png"
    load("dask_pipeline").main(["--size", "600", "--chunk", "256", "--workers", "1", "--out", str(out),
                                "--dir", str(tmp_path / "stores")])
    text = capsys.readouterr().out
    assert "peak memory of worker" in text and "Sobel magnitude" in text
    assert np.asarray(Image.open(out)).shape == (600, 600)
