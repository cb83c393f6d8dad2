"""The fuzzer in the test suite: every public function with hostile arguments.

test_fuzz runs each target of fuzz_targets.py for a bounded number of cases
(FASTCONV_FUZZ_EXAMPLES per unit of the target's weight, default 25; about
900 cases, 20-40 s on two cores) from a fixed seed (FASTCONV_FUZZ_SEED,
default 0), so the suite is deterministic.  The cases run in a worker
process (fuzz_runner.py), so a crash, a sanitizer report or a hang (a case
over 10 s, 30 s under sanitizers) fails the target that caused it, with a
reproducer, and the other targets still run.  Longer runs: tools/fuzz.py.

test_known_bug_fixed runs one reproducer per known bug of issue 13 (the
bugs fuzz_targets.KNOWN_BUGS keeps out of test_fuzz) in a subprocess with a
time limit; they are expected to fail until the fixes are merged.
"""
import os
import subprocess
import sys
import textwrap

import pytest

import fuzz_runner
import fuzz_targets

EXAMPLES = int(os.environ.get("FASTCONV_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("FASTCONV_FUZZ_SEED", "0"))


@pytest.fixture(scope="module")
def fuzz_results(request):
    # only the targets this session selected (-k), in one worker
    wanted = [item.callspec.params["target"] for item in request.session.items
              if getattr(item, "originalname", None) == "test_fuzz"]
    return fuzz_runner.run_targets(wanted or list(fuzz_targets.TARGETS), EXAMPLES, SEED)


@pytest.mark.parametrize("target", list(fuzz_targets.TARGETS))
def test_fuzz(fuzz_results, target):
    rec = fuzz_results[target]
    assert rec["status"] == "ok", "\n" + fuzz_runner.format_failure(rec)
    assert rec["cases"] > 0, rec


# ---- the known bugs (issue 13), one reproducer each -------------------------------------------------

_PRELUDE = '''
import faulthandler, os, resource, sys
import numpy as np
import fastconv

faulthandler.enable()
faulthandler.dump_traceback_later(float(sys.argv[1]), exit=True)   # a hang prints where it is
if "san.so" not in os.environ.get("LD_PRELOAD", ""):   # a huge allocation: MemoryError, not swap
    vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + (4 << 30), resource.getrlimit(resource.RLIMIT_AS)[1]))


def check(call, expected, refusals=(ValueError, OverflowError)):
    """call() returns expected (arrays compared exactly), or is refused as too large."""
    try:
        got = call()
    except refusals:
        return
    for g, e in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple) else (expected,)):
        np.testing.assert_array_equal(g, e)


ones = lambda *s, dtype=np.float32: np.ones(s, dtype)
'''

KNOWN = {
    # conv with huge stride / dilation / padding: output of a few zeros (every tap lands in the padding)
    1: '''
check(lambda: fastconv.conv2d(ones(1, 1, 4, 4), ones(1, 1, 2, 2), dilation=(2**58, 1), padding=(2**57, 0),
                              stride=(2**58, 1)), np.zeros((1, 1, 1, 3), np.float32))          # segfault
check(lambda: fastconv.conv1d_grad_weight(ones(2, 4, 5, dtype=np.float64), (4, 2, 2), ones(2, 4, 5, dtype=np.float64),
                                          padding=2**60, dilation=2**61, groups=2, algorithm="direct"),
      np.zeros((4, 2, 2)))                                                                     # segfault
check(lambda: fastconv.conv2d(ones(1, 1, 2, 1), ones(1, 1, 2, 1), padding=(2**30 - 1, 0), dilation=(2**31 - 1, 1)),
      np.zeros((1, 1, 1, 1), np.float32))                       # 8 GiB of scratch and 40 s (MemoryError here)
check(lambda: fastconv.conv2d(ones(1, 1, 4, 4), ones(1, 1, 2, 2), stride=2**40),
      np.full((1, 1, 1, 1), 4, np.float32))                     # MemoryError: could not allocate kernel scratch
''',
    # pooling with a huge kernel: each window covers the whole (tiny) input
    2: '''
check(lambda: fastconv.max_pool1d(ones(1, 1, 4, dtype=np.float64), 2**61, stride=2**61, padding=2**60,
                                  return_indices=True), (np.ones((1, 1, 1)), np.zeros((1, 1, 1), np.int64)))  # segfault
check(lambda: fastconv.avg_pool1d(ones(1, 1, 4, dtype=np.float64), 2**62 - 2, stride=1, padding=2**61 - 1,
                                  count_include_pad=False, ceil_mode=True), np.ones((1, 1, 5)))  # segfault
check(lambda: fastconv.max_pool1d(ones(1, 1), 2**31 - 1, stride=1, padding=2**30 - 1, return_indices=True),
      (np.ones((1, 1), np.float32), np.zeros((1, 1), np.int64)))              # MemoryError: kernel scratch
check(lambda: fastconv.max_pool1d(ones(1, 1, 4), 2**31, stride=1, padding=2**30, return_indices=True),
      (np.ones((1, 1, 5), np.float32), np.zeros((1, 1, 5), np.int64)))        # runs for minutes
''',
    # denormals are values too: the largest is picked, not the first (flushed to zero) element
    3: '''
check(lambda: fastconv.max_pool1d(np.array([[[1e-40, 2e-40, 0.5e-40]]], np.float32), 3, return_indices=True),
      (np.array([[[2e-40]]], np.float32), np.array([[[1]]])))
check(lambda: fastconv.max_pool2d(np.array([[[[1e-310, 3e-310], [2e-310, -1e-310]]]]), 2, return_indices=True),
      (np.array([[[[3e-310]]]]), np.array([[[[1]]]])))
''',
    # misaligned (C-contiguous) arrays must be copied before they reach C (UBSan: misaligned load);
    # np.ascontiguousarray returns them as they are
    4: '''
def misaligned(shape, dtype=np.float32):
    n = int(np.prod(shape))
    a = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)[1:].view(dtype).reshape(shape)
    a[...] = np.arange(n).reshape(shape) % 5
    return a
x, w_ih, w_hh = misaligned((3, 2, 4)), misaligned((8, 4)), misaligned((8, 2))
y, hT, cache = fastconv.rnn_forward(x, None, w_ih[:2], w_hh[:2, :2], None, None)
fastconv.rnn_backward(misaligned(y.shape), None, cache)
fastconv.lstm_forward(x, None, None, w_ih, w_hh, None, None)
fastconv.conv1d_grad_input((2, 3, 4), misaligned((3, 3, 1)), np.ones((2, 3, 3), np.float32), stride=2, padding=1,
                           dilation=3, algorithm="direct")
fastconv.max_pool1d(misaligned((1, 1, 6)), 2, 3, dilation=2, return_indices=True)
y, idx = fastconv.max_pool2d(np.ones((2, 5, 8), np.float32), (2, 1), 3, (1, 0), return_indices=True, dilation=2)
idx2 = misaligned(idx.shape, np.int64)
idx2[...] = idx
fastconv.max_pool2d_backward(y, idx2, (2, 5, 8))
fastconv.global_avg_pool2d_backward(misaligned((1, 1, 1, 1), np.float64), (1, 1, 5, 1))
fastconv.correlate2d(misaligned((6, 7), np.float64), misaligned((3, 3), np.float64), method="direct")
fastconv.sepfilter2d(misaligned((6, 7)), misaligned((3,)), misaligned((2,)))
''',
    # float64 pooling with a small output: pool_small's divisor table is misaligned (UBSan)
    5: '''
x = np.arange(2 * 3 * 5 * 5, dtype=np.float64).reshape(2, 3, 5, 5)
for k, s in ((2, 2), (3, 2), (2, 3)):
    fastconv.max_pool2d(x, k, s, ceil_mode=True, return_indices=True)
fastconv.avg_pool1d(np.ones((1, 1, 4)), 4, 1, count_include_pad=False)
fastconv.max_pool1d(np.ones((2, 1, 5)), 2, 2, 1, return_indices=True)
fastconv.avg_pool2d(np.ones((1, 1, 2, 2)), (4, 2), 3, (2, 0))
''',
    # a non-finite kernel: np.linalg.svd (method auto / separable) never returns
    6: '''
inf = np.inf
k = np.array([[inf, 0.644, -0.746], [inf, -inf, 1.566], [inf, -0.104, 1.044]])
for method in ("auto", "separable"):
    try:
        fastconv.correlate2d(np.ones((5, 5)), k, method=method)
    except (ValueError, TypeError):
        pass
''',
    # fftconvolve: 0-d operands, axes=()
    7: '''
check(lambda: fastconv.fftconvolve(np.array(1.0), np.array(2.0)), np.array(2.0), refusals=(ValueError,))
check(lambda: fastconv.fftconvolve(np.ones(3), 2 * np.ones(3), axes=()), 2 * np.ones(3), refusals=(ValueError,))
check(lambda: fastconv.fftconvolve(np.array(1.0), np.array(2.0), axes=0), np.array(2.0), refusals=(ValueError,))
''',
}


def _run_known(row):
    sanitized = fuzz_targets.sanitized()
    limit = 30.0 if sanitized else 6.0   # seconds for the calls (a call on tiny inputs: well under a second)
    code = _PRELUDE + textwrap.dedent(KNOWN[row])
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(limit)], capture_output=True, text=True,
                              timeout=limit + 30, cwd=os.path.dirname(os.path.abspath(__file__)),
                              env=fuzz_runner.worker_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"issue 13 row {row}: no result in {limit + 30:.0f} s")
    report = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"issue 13 row {row}: exit status {proc.returncode}\n{report}"
    assert "runtime error:" not in proc.stderr, f"issue 13 row {row}: UBSan report\n{report}"


@pytest.mark.parametrize("row", [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
])
def test_known_bug_fixed(row):
    _run_known(row)
