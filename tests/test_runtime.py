"""Threads, SIMD dispatch, info(), the array-module seam and the GEMM interface."""
import ast
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastconv
from fastconv._ext import _fastconv as _core


def test_set_and_get_num_threads():
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(3)
        assert fastconv.get_num_threads() == 3
        with fastconv.threads(1):
            assert fastconv.get_num_threads() == 1
            with fastconv.threads(2):
                assert fastconv.get_num_threads() == 2
            assert fastconv.get_num_threads() == 1
        assert fastconv.get_num_threads() == 3
    finally:
        fastconv.set_num_threads(before)


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError),
                                      (True, TypeError)])
def test_bad_thread_counts(bad, exc):
    with pytest.raises(exc, match="n must be"):
        fastconv.set_num_threads(bad)
    with pytest.raises(exc, match="n must be"):
        with fastconv.threads(bad):
            pass


def test_thread_count_leaves_cpus_other_processes_keep_busy(monkeypatch):
    """With the count nobody chose, the kernels run on the CPUs other processes' ready tasks leave
    (at least one), once two samples in a row saw them; back to every CPU at the first quiet sample;
    a count the user sets, or a threads() context, is kept whatever the load."""
    import types

    from fastconv import _threads

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(_threads.time, "monotonic", lambda: clock.now)
    monkeypatch.setattr(_threads, "_adaptive", True)
    monkeypatch.setattr(_threads, "_auto_count", 4)
    monkeypatch.setattr(_threads, "_core", types.SimpleNamespace(get_num_threads=lambda: 4, set_num_threads=_core.set_num_threads))
    monkeypatch.setattr(_threads, "_state", {"t": -1e9, "n": 0, "low": 0})
    load = {"counts": (1, 1)}  # (ready tasks system-wide, this process's)
    monkeypatch.setattr(_threads, "_runnable", lambda: load["counts"])

    def sample(counts):
        load["counts"] = counts
        clock.now += 0.2
        return fastconv.get_num_threads()

    assert sample((1, 1)) == 4
    assert sample((3, 1)) == 4      # one sample of two other ready tasks: not yet
    assert sample((3, 1)) == 2      # two in a row: the 2 CPUs they leave
    clock.now += 0.01
    load["counts"] = (1, 1)
    assert fastconv.get_num_threads() == 2  # within 0.1 s of the last sample: no new sample
    assert sample((9, 2)) == 1      # 7 others on 4 CPUs: one thread
    assert sample((2, 2)) == 4      # this process's own ready threads are not others'
    assert sample((5, 1)) == 4 and sample((5, 1)) == 1
    with fastconv.threads(3):
        assert sample((5, 1)) == 3
    monkeypatch.setattr(_threads, "_runnable", lambda: None)  # no /proc: no adaptation
    assert sample(None) == 4
    monkeypatch.setattr(_threads, "_runnable", lambda: load["counts"])
    monkeypatch.setattr(_threads, "_core", types.SimpleNamespace(get_num_threads=lambda: 3))
    assert sample((5, 1)) == 3 and sample((5, 1)) == 3  # threadpoolctl's (or anyone's) count is kept


def test_runnable_counts_read_proc():
    from fastconv import _threads

    counts = _threads._runnable()
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    total, mine = counts
    assert mine >= 1 and total >= 1  # this thread is running
    assert fastconv.info()["threads_follow_load"] is _threads._adaptive
    code = "import fastconv; print(fastconv.info()['threads_follow_load'])"
    assert _in_subprocess(code, FASTCONV_NUM_THREADS="2")[0] == "False"


@pytest.mark.parametrize("flip", range(12))
def test_runnable_counts_a_worker_going_to_sleep_as_this_process_s(monkeypatch, flip):
    """A kernel's worker thread spinning when the sample starts and asleep from some read of it on
    (what a loop of short kernels shows every time: flip is that read) is this process's, wherever
    it falls asleep: beside one other process's ready task, exactly one task is another's (never
    zero, never two)."""
    import builtins
    import io

    from fastconv import _threads

    reads = {"n": 0}
    real_open = builtins.open

    def fake_listdir(path):
        assert path == "/proc/self/task"
        return ["1", "2"]  # this thread (running) and the worker

    def fake_open(path, *args, **kwargs):
        if not path.startswith("/proc/"):
            return real_open(path, *args, **kwargs)
        worker = reads["n"] < flip
        reads["n"] += 1
        if path == "/proc/loadavg":
            return io.StringIO(f"0.5 0.5 0.5 {2 + worker}/80 999\n")  # the other process, this thread
        ready = path == "/proc/self/task/1/stat" or worker
        return io.StringIO(f"{path.split('/')[4]} (python) {'R' if ready else 'S'} 1 2 3\n")

    monkeypatch.setattr(_threads.os, "listdir", fake_listdir)
    monkeypatch.setattr(builtins, "open", fake_open)
    total, mine = _threads._runnable()
    assert total - mine == 1, (flip, total, mine)


def test_threads_context_is_per_python_thread():
    seen = {}
    barrier = threading.Barrier(2)

    def worker(n):
        with fastconv.threads(n):
            barrier.wait()
            seen[n] = fastconv.get_num_threads()

    ts = [threading.Thread(target=worker, args=(n,)) for n in (1, 5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert seen == {1: 1, 5: 5}


def _in_subprocess(code, **env):
    full = dict(os.environ, **env)
    for k in ("FASTCONV_NUM_THREADS", "OMP_NUM_THREADS", "FASTCONV_SIMD"):
        if k not in env:
            full.pop(k, None)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True)
    return out.stdout.strip(), out.stderr


def test_environment_sets_the_default_thread_count():
    code = "import fastconv; print(fastconv.get_num_threads())"
    assert _in_subprocess(code, FASTCONV_NUM_THREADS="3")[0] == "3"
    assert _in_subprocess(code, OMP_NUM_THREADS="4,2")[0] == "4"
    assert _in_subprocess(code, FASTCONV_NUM_THREADS="2", OMP_NUM_THREADS="5")[0] == "2"
    out, err = _in_subprocess(code, FASTCONV_NUM_THREADS="many")
    assert "ignoring FASTCONV_NUM_THREADS" in err and int(out) >= 1


def test_fastconv_simd_environment_caps_the_level():
    out, _ = _in_subprocess("import fastconv; print(fastconv.info()['simd'])", FASTCONV_SIMD="generic")
    assert out == "generic"


def test_threadpoolctl_sees_and_limits_fastconv():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "fastconv"]
    assert len(info) == 1 and info[0]["num_threads"] == fastconv.get_num_threads()
    before = fastconv.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="fastconv"):
        assert fastconv.get_num_threads() == 1
    assert fastconv.get_num_threads() == before


def test_info_reports_the_build():
    info = fastconv.info()
    assert info["version"] == fastconv.__version__
    assert info["simd"] in ("generic", "avx2", "avx512")
    assert info["simd_detected"] in ("generic", "avx2", "avx512")
    assert info["num_threads"] == fastconv.get_num_threads()
    assert info["openmp"] is True
    assert set(info["gpu"]) >= {"available", "device", "reason"}
    assert info["gpu"]["available"] is True or info["gpu"]["reason"]  # a reason whenever it is off
    mr, nr = info["gemm_tile"]["float32"]
    assert mr >= 1 and nr >= 4


def test_get_array_module():
    assert fastconv.get_array_module(np.zeros(3), None, 2.0, [1, 2]) is np
    assert fastconv.get_array_module() is np


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_interface(simd_level, dtype):
    rng = np.random.default_rng(7)
    for M, N, K in [(1, 1, 1), (5, 7, 3), (33, 65, 17), (64, 300, 200), (130, 40, 700), (8, 1000, 5000)]:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        expected = a.astype(np.float64) @ b.astype(np.float64)
        bound = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
        tol = (K + 2) * np.finfo(dtype).eps * bound
        for aa, bb in [(a, b), (np.asfortranarray(a), np.asfortranarray(b)), (a.T.copy().T, b[:, ::-1][:, ::-1])]:
            for nt in (1, 2):
                c = np.full((M, N), np.nan, dtype)
                _core.gemm(c, aa, bb, False, nt)
                assert np.all(np.abs(c - expected) <= tol), (M, N, K, nt)
                _core.gemm(c, aa, bb, True, nt)  # accumulate
                assert np.all(np.abs(c - 2 * expected) <= 2 * tol), (M, N, K, nt)


def test_kernels_are_reentrant_across_python_threads():
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((4, 8, 20, 20)).astype(np.float32) for _ in range(4)]
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    expected = [fastconv.conv2d(x, w, padding=1) for x in xs]
    results = [None] * 4

    def work(i):
        for _ in range(5):
            results[i] = fastconv.conv2d(xs[i], w, padding=1, algorithm=["direct", "im2col"][i % 2])

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r, e in zip(results, expected):
        np.testing.assert_allclose(r, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("user", [None, {"GOMP_SPINCOUNT": "7"}, {"OMP_WAIT_POLICY": "active"}])
def test_openmp_threads_spin_briefly_then_sleep_unless_the_user_chose(user):
    """Both OpenMP runtimes that `import fastconv` loads (its own and pyFFTW's) start with a spin
    count of 10000 unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT; the variable is gone from
    the environment afterwards (other libraries, child processes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(user or {}, OMP_DISPLAY_ENV="verbose")
    code = "import os, fastconv; print(repr(os.environ.get('GOMP_SPINCOUNT')), fastconv.info()['openmp_wait'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    shown = [line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip().startswith("GOMP_SPINCOUNT")]
    assert len(shown) >= 1
    last = out.stdout.strip().splitlines()[-1]
    if user is None:
        assert all(s == "GOMP_SPINCOUNT = '10000'" for s in shown), shown
        assert last.startswith("None spin 10000,")
    elif "GOMP_SPINCOUNT" in user:
        assert all(s == "GOMP_SPINCOUNT = '7'" for s in shown), shown
        assert "the environment's" in last
    else:
        assert all(s != "GOMP_SPINCOUNT = '10000'" for s in shown), shown


def test_bundled_openmp_runtime_is_not_shared_with_other_libraries():
    """A build from source carries libgomp renamed (soname and the extension's DT_NEEDED): under
    libgomp.so.1 the loader handed it to any library loaded later (PyTorch ran on fastconv's
    runtime and spin count) or handed fastconv another's (its wait policy never applied)."""
    ext_dir = pathlib.Path(_core.__file__).parent
    bundled = sorted(p.name for p in ext_dir.glob("libgomp*"))
    if not bundled:
        pytest.skip("no runtime bundled next to the extension (a repaired wheel grafts one under a hashed name)")
    assert bundled == ["libgomp-fastconv.so.1"]
    # another libgomp.so.1 loaded first (the system's) stays a runtime of its own
    code = ("import ctypes, ctypes.util, sys; name = ctypes.util.find_library('gomp')\n"
            "if name is None: print('none'); sys.exit()\n"
            "ctypes.CDLL(name); import fastconv\n"
            "print(sorted({l.split()[-1].rsplit('/', 1)[-1] for l in open('/proc/self/maps') if 'libgomp' in l}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    if out == "none":
        pytest.skip("no system libgomp to load first")
    names = ast.literal_eval(out)
    assert "libgomp-fastconv.so.1" in names and any(n.startswith("libgomp.so.1") for n in names), names
