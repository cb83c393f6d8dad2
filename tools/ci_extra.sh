#!/usr/bin/env bash
# CI checks beside the test suite, for .ci/run to call inside its virtual
# environment once fastconv is installed there (`pip install ".[test]"`):
#
#   1. installs the `docs` and `typing` extras of pyproject.toml into that
#      environment (not fastconv itself again);
#   2. mypy on the package, and mypy's stubtest: the hand-written stubs
#      (src/fastconv/__init__.pyi, src/fastconv/_ext/_fastconv.pyi) against
#      the installed runtime;
#   3. the benchmark's NumPy reference peers against fastconv;
#   4. the command: `fastconv` alone, a closed pipe, `fastconv bench --only
#      pool` against its peers with a chart that has bars, and fit's progress
#      output in a log file (no carriage-return frames);
#   5. the documentation: Sphinx with warnings as errors (API reference,
#      guide, gallery of the examples, benchmark pages), and every public
#      name present in the API reference.
#
# Prints the time of each step.  Exit status non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t_all=$(date +%s)
timings=()
step() {  # step NAME COMMAND...: runs it, records its time
  local name=$1 t0
  shift
  echo
  echo "== ci_extra: $name"
  t0=$(date +%s)
  "$@"
  timings+=("$(printf '%-34s %4d s' "$name" $(( $(date +%s) - t0 )))")
}

install_extras() {
  python - "$tmp/extras.txt" <<'EOF'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "tomli"], check=True)
    import tomli as tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
open(sys.argv[1], "w").write("\n".join(extras["docs"] + extras["typing"]) + "\n")
EOF
  python -m pip install --quiet -r "$tmp/extras.txt"
  python -c "import fastconv; print('fastconv', fastconv.__version__, 'from', fastconv.__file__)"
}

types() {
  python -m mypy src/fastconv
  # from outside the tree, so the runtime checked is the installed package
  (cd "$tmp" && python -m mypy.stubtest --mypy-config-file "$repo/pyproject.toml" \
      --allowlist "$repo/tools/stubtest_allowlist.txt" fastconv)
}

references() {
  python tools/check_bench_references.py > "$tmp/references.txt" || { cat "$tmp/references.txt"; return 1; }
  echo "$(grep -c '^ok' "$tmp/references.txt") checks of the NumPy references passed"
}

command_line() {
  local rc
  fastconv > "$tmp/help.txt" || { echo "fastconv alone exited $?"; return 1; }
  grep -q "^usage: fastconv" "$tmp/help.txt" || { echo "fastconv alone printed no help"; return 1; }
  echo "fastconv alone: help, exit status 0"
  # a reader that never reads: the first write meets a closed pipe
  set +o pipefail
  fastconv info 2> "$tmp/pipe_err.txt" | true
  rc=${PIPESTATUS[0]}
  set -o pipefail
  if [ "$rc" != 141 ] || [ -s "$tmp/pipe_err.txt" ]; then
    echo "fastconv info | true: exit status $rc (expected 141), stderr:"; cat "$tmp/pipe_err.txt"; return 1
  fi
  echo "fastconv info into a closed pipe: exit status 141, nothing on stderr"
  fastconv bench --only pool --rounds-scale 0.05 --plot "$tmp/pool.png" | tee "$tmp/bench.txt"
  grep -q "^peers measured: .*numpy.sliding_window" "$tmp/bench.txt" \
    || { echo "fastconv bench measured no NumPy peer"; return 1; }
  python - "$tmp/pool.png" <<'EOF'
import sys
import matplotlib.image
import numpy as np
img = matplotlib.image.imread(sys.argv[1])[..., :3]
bars = np.zeros(img.shape[:2], bool)
for hex_colour in ("1f77b4", "ff7f0e"):  # matplotlib's C0, C1: the first two peers' bars
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (0, 2, 4)]) / 255
    bars |= np.abs(img - rgb).max(axis=2) < 0.02
share = bars.mean()
print(f"chart {sys.argv[1]}: {share:.1%} of its pixels are bars")
sys.exit(0 if share > 0.02 else 1)
EOF
  python - > "$tmp/fit.log" <<'EOF'
import numpy as np
from fastconv import nn
x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
model = nn.Sequential([nn.Dense(4, activation="relu"), nn.Dense(1)], seed=0)
model.compile(nn.SGD(1e-2), "mse")
model.fit(x, x[:, :1], epochs=3, batch_size=8, verbose=1)
EOF
  if grep -q $'\r' "$tmp/fit.log" || [ "$(grep -c '^Epoch' "$tmp/fit.log")" != 3 ]; then
    echo "fit(verbose=1) into a file:"; cat -A "$tmp/fit.log"; return 1
  fi
  echo "fit(verbose=1) into a file: one line per epoch, no carriage returns"
}

docs() {
  rm -rf docs/_build/html docs/_generated docs/gallery  # a clean build, as in a fresh clone
  python -m sphinx -q -W --keep-going -b html docs docs/_build/html   # -q: warnings only
  python - <<'EOF'
import re
import fastconv
import fastconv.nn
import fastconv.ndimage
for page, mod, prefix in (("api_fastconv", fastconv, "fastconv."), ("api_nn", fastconv.nn, "fastconv.nn."),
                          ("api_ndimage", fastconv.ndimage, "fastconv.ndimage.")):
    html = open(f"docs/_build/html/_generated/{page}.html").read()
    ids = set(re.findall(r'id="([\w.]+)"', html))
    missing = [n for n in mod.__all__ if prefix + n not in ids]
    assert not missing, f"{page}: no entry for {missing}"
    print(f"{page}.html documents all {len(mod.__all__)} names of {mod.__name__}.__all__")
EOF
}

step "install docs + typing extras" install_extras
step "mypy + stubtest" types
step "NumPy reference peers" references
step "fastconv command" command_line
step "docs (sphinx -W)" docs
echo
echo "== ci_extra: timings"
printf '%s\n' "${timings[@]}"
echo "total                              $(printf '%4d' $(( $(date +%s) - t_all ))) s"
