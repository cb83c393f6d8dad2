"""Runs the fuzz targets (fuzz_targets.py) in worker processes.

A worker runs targets one after the other in one process, each a Hypothesis
search of `examples` cases from a fixed seed.  Before each case it writes
the case's source to a file, and arms a time guard (faulthandler: tracebacks,
then exit, after `timeout` seconds), so when the worker dies (a segfault, an
abort, a sanitizer report, a hang) the supervisor, ``run_targets``, knows
which case did it; it records that target's failure and starts a new worker
for the targets left.  A property failure (an exception outside the allowed
set, a wrong result, ...) is shrunk by Hypothesis to a minimal case.

    python tests/fuzz_runner.py [--examples N] [--seed S] [--timeout T] [--include-known] [targets...]

runs targets (all by default) and prints each failure with a reproducer.
tools/fuzz.py runs batches for a given time; tests/test_fuzz.py runs a
bounded, deterministic batch in the test suite.
"""
import argparse
import collections
import faulthandler
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

SLOW_SECONDS = 1.0     # cases slower than this are reported (not failed)


def default_timeout():
    """Seconds a case may run before it counts as a hang: 10, or 30 under sanitizers
    (FASTCONV_FUZZ_TIMEOUT overrides)."""
    env = os.environ.get("FASTCONV_FUZZ_TIMEOUT")
    if env:
        return float(env)
    import fuzz_targets

    return 30.0 if fuzz_targets.sanitized() else 10.0


# ---- the worker ------------------------------------------------------------------------------------


def _limit_memory():
    """Address space capped at 4 GiB above what is mapped now, so an allocation
    of a huge array fails with MemoryError instead of swapping or waking the OOM
    killer (not under ASan, which maps terabytes of shadow memory)."""
    import fuzz_targets

    if fuzz_targets.sanitized():
        return
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = vm + (4 << 30)
        if hard == resource.RLIM_INFINITY or want < hard:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (OSError, ValueError, StopIteration):
        pass


def _warm_up():
    """What a first call costs once (imports, the filtering cost model, FFT plans), outside the time guard."""
    import numpy as np
    import scipy.signal  # noqa: F401 - the references' (a second to import)

    import fastconv
    import fuzz_references  # noqa: F401

    fastconv.calibrate_filters(fft=True)
    fastconv.correlate2d(np.ones((5, 5)), np.ones((2, 2)), method="auto")
    fastconv.fftconvolve(np.ones(7), np.ones(3))


def _cases(counts):
    """Cases run (ok + raised), from the outcome counts."""
    return counts.get("ok", 0) + counts.get("raised", 0)


def run_target(name, examples, seed, timeout, include_known, current_fd):
    """One target's Hypothesis search; returns its result record."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed

    import fuzz_targets as ft

    target = ft.TARGETS[name]
    counts = collections.Counter()
    state = {"failure": None, "slowest": (0.0, None)}

    def prop(case):
        record = json.dumps({"target": name, "setup": case.setup, "call": case.call, "cases": _cases(counts)})
        data = record.encode()
        os.pwrite(current_fd, data, 0)
        os.ftruncate(current_fd, len(data))
        faulthandler.dump_traceback_later(timeout, exit=True)
        t0 = time.perf_counter()
        try:
            outcome = ft.run_case(case, include_known)
        except ft.Failure as e:
            state["failure"] = {"setup": case.setup, "call": case.call, "message": str(e),
                                "traceback": traceback.format_exc(limit=-8)}
            raise
        finally:
            faulthandler.cancel_dump_traceback_later()
        dt = time.perf_counter() - t0
        if dt > state["slowest"][0]:
            state["slowest"] = (dt, case.source())
        counts[outcome.split(":")[0] if not outcome.startswith("known") else outcome] += 1
        if outcome.startswith("raised"):
            counts[outcome] += 1

    n = max(1, int(round(examples * target.weight)))
    test = settings(max_examples=n, deadline=None, database=None, derandomize=False, print_blob=False,
                    verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])(given(case=target.strategy)(prop))
    test = hseed(seed)(test)
    t0 = time.perf_counter()
    status, error = "ok", None
    try:
        test()
    except Exception as e:  # noqa: BLE001 - a property failure, or a fuzzer error
        if state["failure"] is not None:
            status = "fail"
        else:
            status, error = "error", "".join(traceback.format_exception(e, limit=-6))
    slow_s, slow_src = state["slowest"]
    calls = _cases(counts)
    return {"target": name, "status": status, "kind": "property" if status == "fail" else status,
            "failure": state["failure"], "error": error, "counts": dict(counts), "cases": calls,
            "seconds": round(time.perf_counter() - t0, 2),
            "slowest": {"seconds": round(slow_s, 3), "source": slow_src if slow_s > SLOW_SECONDS else None}}


def worker_main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--targets", required=True)
    p.add_argument("--examples", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--include-known", action="store_true")
    p.add_argument("--results", required=True)
    p.add_argument("--current", required=True)
    p.add_argument("--stop-at", type=float, default=None)
    a = p.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    # FFTW_MEASURE re-plans a transform size on its third use, up to this many seconds (default 5): a tiny
    # 3-D fftconvolve then takes seconds.  Kept short so cases stay well inside the time guard.
    os.environ.setdefault("FASTCONV_FFT_PLAN_SECONDS", "0.05")
    faulthandler.enable()
    _limit_memory()
    _warm_up()
    fd = os.open(a.current, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for name in a.targets.split(","):
        if a.stop_at is not None and time.time() >= a.stop_at:
            break  # out of time: the supervisor counts the rest as not run
        rec = run_target(name, a.examples, a.seed, a.timeout, a.include_known, fd)
        with open(a.results, "a") as f:
            f.write(json.dumps(rec) + "\n")
    os.ftruncate(fd, 0)
    return 0


# ---- the supervisor ----------------------------------------------------------------------------------


def _classify(rc, stderr):
    if "runtime error:" in stderr:
        return "ubsan"
    if "ERROR: AddressSanitizer" in stderr:
        return "asan"
    if "Timeout (" in stderr and "Thread 0x" in stderr or "Timeout (" in stderr and "Current thread" in stderr:
        return "hang"
    if rc is not None and rc < 0:
        try:
            return f"crash ({signal.Signals(-rc).name})"
        except ValueError:
            return f"crash (signal {-rc})"
    if "Fatal Python error" in stderr:
        return "crash (" + stderr.split("Fatal Python error:")[1].split("\n")[0].strip() + ")"
    return f"crash (exit status {rc})"


def _report_excerpt(stderr, kind, lines=40):
    """The part of the worker's stderr that explains its death."""
    text = stderr
    for marker in ("runtime error:", "ERROR: AddressSanitizer", "Timeout (", "Fatal Python error"):
        i = text.find(marker)
        if i >= 0:
            start = text.rfind("\n", 0, max(0, i - 1)) + 1 if marker == "runtime error:" else i
            return "\n".join(text[start:].splitlines()[:lines])
    return "\n".join(text.splitlines()[-lines:])


def worker_env(env=None):
    """The environment for a child process whose sanitizer reports must reach its stderr (where the
    supervisor reads them), whatever log_path the caller set."""
    env = dict(os.environ if env is None else env)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if var in env:
            # and without the suppressions of known bugs (tools/ubsan-known.supp): the fuzzer skips their
            # cases itself (fuzz_targets.KNOWN_BUGS), and test_known_bug_fixed must see them
            opts = [o for o in env[var].split(":") if o and not o.startswith(("suppressions=", "log_path="))]
            env[var] = ":".join(opts + ["log_path=stderr"])
    return env


def run_targets(targets, examples, seed=0, timeout=None, include_known=False, env=None, log=None,
                stall_factor=3.0, stop_at=None):
    """Runs targets in worker processes; returns {target: result record}.  A
    worker that dies takes its current target with it (recorded as a crash
    with the case that was running); the others run in a new worker.  With
    stop_at (a time.time()), no target starts after that time."""
    timeout = default_timeout() if timeout is None else timeout
    env = worker_env(env)
    results = {}
    remaining = list(targets)
    tmp = tempfile.mkdtemp(prefix="fastconv-fuzz-")
    attempt = 0
    while remaining:
        attempt += 1
        res_path = os.path.join(tmp, f"results-{attempt}.jsonl")
        cur_path = os.path.join(tmp, f"current-{attempt}.json")
        err_path = os.path.join(tmp, f"stderr-{attempt}.txt")
        cmd = [sys.executable, os.path.join(HERE, "fuzz_runner.py"), "--worker", "--targets", ",".join(remaining),
               "--examples", str(examples), "--seed", str(seed), "--timeout", str(timeout), "--results", res_path,
               "--current", cur_path] + (["--include-known"] if include_known else []) \
            + (["--stop-at", repr(stop_at)] if stop_at is not None else [])
        with open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=HERE)
            last_change, last_mtime = time.monotonic(), None
            while proc.poll() is None:
                time.sleep(0.2)
                try:
                    mtime = os.stat(cur_path).st_mtime_ns
                except FileNotFoundError:
                    mtime = None
                if mtime != last_mtime:
                    last_mtime, last_change = mtime, time.monotonic()
                # the time guard inside the worker failed to fire (or the warm-up hangs): kill it
                elif time.monotonic() - last_change > stall_factor * timeout + 60:
                    proc.kill()
                    with open(err_path, "a") as e2:
                        e2.write("\nTimeout (supervisor): no progress, worker killed\nCurrent thread ?\n")
        rc = proc.returncode
        done = []
        if os.path.exists(res_path):
            with open(res_path) as f:
                for line in f:
                    rec = json.loads(line)
                    results[rec["target"]] = rec
                    done.append(rec["target"])
                    if log:
                        log(rec)
        remaining = [t for t in remaining if t not in done]
        if rc == 0:
            break  # all done, or the rest not started for lack of time
        with open(err_path, errors="replace") as f:
            stderr = f.read()
        current = None
        try:
            with open(cur_path) as f:
                current = json.loads(f.read() or "null")
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        if not remaining:
            break
        victim = current["target"] if current and current["target"] in remaining else remaining[0]
        kind = _classify(rc, stderr)
        rec = {"target": victim, "status": "fail", "kind": kind, "cases": current["cases"] if current else 0,
               "counts": {}, "failure": {"setup": current["setup"] if current else [],
                                         "call": current["call"] if current else "# (the worker died before "
                                                                                 "its first case)",
                                         "message": f"{kind}, worker exit status {rc}",
                                         "traceback": _report_excerpt(stderr, kind)}}
        results[victim] = rec
        if log:
            log(rec)
        remaining.remove(victim)
    return results


def format_failure(rec):
    """A failure record as text: what happened, the evidence, and a reproducer."""
    import fuzz_targets as ft

    f = rec.get("failure")
    if rec["status"] == "error":
        return f"{rec['target']}: fuzzer error\n{rec['error']}"
    if not f:
        return f"{rec['target']}: {rec['status']}"
    case = ft.Case(rec["target"], list(f["setup"]), f["call"])
    head = f"{rec['target']}: {rec['kind']}: {f['message']}"
    return "\n".join([head, "--- evidence ---", (f.get("traceback") or "").rstrip(), "--- reproducer ---",
                      ft.reproducer(case, head)])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        return worker_main(argv[1:])
    import fuzz_targets as ft

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", help=f"default: all of {', '.join(ft.TARGETS)}")
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("--include-known", action="store_true", help="also run the cases of known bugs (KNOWN_BUGS)")
    a = p.parse_args(argv)
    t0 = time.time()
    res = run_targets(a.targets or list(ft.TARGETS), a.examples, a.seed, a.timeout, a.include_known,
                      log=lambda r: print(f"{r['target']:28s} {r['status']:5s} {r.get('cases', 0):6d} cases "
                                          f"{r.get('seconds', 0):7.2f} s  {r.get('counts', {})}", flush=True))
    bad = [r for r in res.values() if r["status"] != "ok"]
    for r in bad:
        print("\n" + format_failure(r))
    print(f"\n{sum(r.get('cases', 0) for r in res.values())} cases, {len(bad)} failing targets, "
          f"{time.time() - t0:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
