"""The GPU backend's CUDA sources compile as NVRTC will compile them (the
prelude prepended, scalar_t float and double, fastconv._gpu._launch's
options), checked with nvcc where it is installed, so that a syntax error
cannot land on machines without a GPU.  Skipped without nvcc."""
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from fastconv._gpu import _launch


def nvcc():
    default = "/usr/local/cuda/bin/nvcc"
    return shutil.which("nvcc") or (default if os.access(default, os.X_OK) else None)


def test_sources_include_no_headers():
    # NVRTC has no host headers; the prelude defines what the kernels use
    for source in _launch.SOURCES:
        assert not re.search(r"^\s*#\s*include", _launch.source_text(source), re.M), source


@pytest.mark.skipif(nvcc() is None, reason="nvcc is not installed (not on PATH, not in /usr/local/cuda/bin)")
def test_sources_compile_with_nvcc(tmp_path):
    def compile_one(job):
        source, scalar = job
        path = tmp_path / f"{scalar}_{source}"
        path.write_text(_launch.source_text(source))
        cmd = [nvcc(), "--ptx", "-arch=sm_80", *_launch.OPTIONS, f"-Dscalar_t={scalar}", "-o", os.devnull, str(path)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        return source, scalar, done.returncode, done.stderr

    jobs = [(s, t) for s in _launch.SOURCES for t in ("float", "double")]
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        failures = [f"{s} ({t}):\n{err}" for s, t, rc, err in pool.map(compile_one, jobs) if rc]
    assert not failures, "\n".join(failures)
