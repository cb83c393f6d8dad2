#!/usr/bin/env bash
# One device call for the GPU backend (issue: run it on a real device).
# Builds fastconv on the lent GPU machine (its image has CUDA, CuPy, torch,
# CMake, Cython, scikit-build-core), installs carried wheels (.whl/: pyFFTW,
# mnist1d), runs the GPU tests, the GPU benchmark against torch CUDA, then
# the rest of the suite.  Logs go to $OUT.  Stages are given by $STAGES
# (default: "tests bench suite"; also ab, profile, bench-single).
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
STAGES=${STAGES:-"tests bench suite"}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import cupy, torch, numpy; print('cupy', cupy.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
fi
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps --no-cache-dir --target /tmp/fc . > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
export PYTHONPATH=/tmp/fc:/tmp/site
python3 -c "import fastconv, json; print(json.dumps(fastconv.info(), default=str))"
for s in $STAGES; do
  t0=$(date +%s)
  case $s in
    tests) timeout ${TEST_SECONDS:-240} python3 -m pytest -p no:cacheprovider -q -rfE --timeout 90 tests/test_gpu.py tests/test_nn_gpu.py tests/test_cuda_sources.py tests/test_dask.py::test_dask_arrays_of_cupy_chunks -k "${TEST_K:-not emulated}" > "$OUT/gpu_tests.log" 2>&1
           echo "tests rc=$?"; grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/gpu_tests.log" | tail -40 ;;
    bench) timeout 200 python3 -m pytest -p no:cacheprovider -q bench/test_bench_gpu.py --benchmark-json="$OUT/gpu.json" > "$OUT/bench.log" 2>&1
           echo "bench rc=$?"; tail -5 "$OUT/bench.log"; python3 bench/ratios.py "$OUT/gpu.json" --markdown 2>&1 | tee "$OUT/ratios.md" ;;
    bench-single) FASTCONV_GPU_FORWARD_GEMM=single timeout 100 python3 -m pytest -p no:cacheprovider -q bench/test_bench_gpu.py -k "C1 or C3" --benchmark-json="$OUT/gpu_single.json" > "$OUT/bench_single.log" 2>&1
           echo "bench-single rc=$?"; python3 bench/ratios.py "$OUT/gpu_single.json" --markdown 2>&1 | tee "$OUT/ratios_single.md" ;;
    ab) timeout 150 python3 tools/gpu_ab.py 2>&1 | tee "$OUT/ab.log" ;;
    profile) timeout 60 python3 tools/gpu_profile.py 2>&1 | tee "$OUT/profile.log"; timeout 60 python3 tools/gpu_profile.py --python > "$OUT/python_profile.log" 2>&1; grep -A22 "Ordered by" "$OUT/python_profile.log" | cut -c1-150 ;;
    suite) OMP_NUM_THREADS=2 timeout ${SUITE_SECONDS:-200} python3 -m pytest -p no:cacheprovider -q -rfE -n 8 --timeout 60 tests --ignore tests/test_gpu.py --ignore tests/test_nn_gpu.py > "$OUT/suite.log" 2>&1
           echo "suite rc=$?"; grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/suite.log" | tail -30 ;;
  esac
  echo "stage $s: $(( $(date +%s) - t0 )) s"
done
