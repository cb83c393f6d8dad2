#!/usr/bin/env python
"""Fuzzes every public fastconv function with hostile arguments for a given time.

    python tools/fuzz.py --minutes 30                 # all targets, batch after batch, new seeds
    python tools/fuzz.py --seconds 60 --seed 1        # what tools/sanitize.sh runs
    python tools/fuzz.py --minutes 5 conv2d max_pool2d --include-known

Each batch runs every target (tests/fuzz_targets.py) for --examples cases in
a worker process (tests/fuzz_runner.py), so a segfault, an abort, a
sanitizer report or a hang (a case running over --timeout seconds) is caught
and reported with the case that caused it, as a runnable Python script.
Failures of the property (an exception outside ValueError, TypeError,
MemoryError, OverflowError, NotImplementedError; a wrong result; a modified
input; ...) are shrunk to a minimal case first.  The cases of the known bugs
listed in fuzz_targets.KNOWN_BUGS are skipped unless --include-known.

At the end: the calls made, the distinct failures with their reproducers
(also written to --report), and the slow cases.  Exit status 1 if anything
failed.  Run it under tools/sanitize.sh's environment (or via that script)
to fuzz the instrumented build.
"""
import argparse
import os
import random
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import fuzz_runner  # noqa: E402
import fuzz_targets  # noqa: E402


def signature(rec):
    """What makes two failures the same bug: target, kind and the error's first line without numbers."""
    f = rec.get("failure") or {}
    msg = f.get("message", "") if rec["kind"] == "property" else ""
    if rec["kind"] in ("ubsan", "asan"):
        m = re.search(r"(runtime error: [^\n]*|ERROR: AddressSanitizer: [\w-]+)", f.get("traceback", ""))
        msg = m.group(1) if m else ""
    msg = re.sub(r"0x[0-9a-f]+|\d+", "N", msg.split("\n")[0])[:160]
    return rec["target"], rec["kind"], msg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", help="targets to fuzz (default: all): " + ", ".join(fuzz_targets.TARGETS))
    p.add_argument("--minutes", type=float, default=None, help="how long to fuzz (default 5)")
    p.add_argument("--seconds", type=float, default=None, help="how long to fuzz, in seconds")
    p.add_argument("--examples", type=int, default=100, help="cases per target and batch (default 100)")
    p.add_argument("--seed", type=int, default=None, help="first batch's seed (default: random); batch i uses seed + i")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds a case may run before it is a hang (default 10, 30 under sanitizers)")
    p.add_argument("--include-known", action="store_true", help="also run the cases of KNOWN_BUGS")
    p.add_argument("--report", default=None, help="also write the failures and their reproducers to this file")
    a = p.parse_args(argv)
    seconds = a.seconds if a.seconds is not None else 60 * (a.minutes if a.minutes is not None else 5)
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    targets = a.targets or list(fuzz_targets.TARGETS)
    unknown = [t for t in targets if t not in fuzz_targets.TARGETS]
    if unknown:
        p.error(f"unknown targets {unknown}")
    t0 = time.time()
    stop = t0 + seconds
    print(f"fuzz.py: {len(targets)} targets, {a.examples} cases each per batch, seeds from {seed}, "
          f"{seconds:.0f} s{', sanitized build' if fuzz_targets.sanitized() else ''}", flush=True)
    calls = 0
    per_target = {t: 0 for t in targets}
    failures = {}
    slow = []
    batch = 0
    while time.time() < stop:
        order = list(targets)
        random.Random(seed + batch).shuffle(order)

        def log(rec):
            nonlocal calls
            calls += rec.get("cases", 0)
            per_target[rec["target"]] += rec.get("cases", 0)
            if rec.get("slowest", {}).get("source"):
                slow.append((rec["slowest"]["seconds"], rec["target"], rec["slowest"]["source"]))
            if rec["status"] != "ok":
                sig = signature(rec)
                if sig not in failures:
                    failures[sig] = rec
                    print("\n" + fuzz_runner.format_failure(rec) + "\n", flush=True)
                else:
                    print(f"  (again: {rec['target']} {rec['kind']})", flush=True)

        fuzz_runner.run_targets(order, a.examples, seed + batch, a.timeout, a.include_known, log=log, stop_at=stop)
        batch += 1
        print(f"fuzz.py: batch {batch} (seed {seed + batch - 1}) done, {calls} calls so far, "
              f"{len(failures)} distinct failures, {time.time() - t0:.0f} s", flush=True)
    elapsed = time.time() - t0
    lines = [f"fuzz.py: {calls} calls in {batch} batches ({elapsed:.0f} s, {calls / max(elapsed, 1e-9):.0f} calls/s), "
             f"seeds {seed}..{seed + batch - 1}; {len(failures)} distinct failures"]
    for (target, kind, msg), rec in failures.items():
        lines.append(f"  {target}: {kind} {msg}")
    if slow:
        slow.sort(reverse=True)
        lines.append(f"slow cases (over {fuzz_runner.SLOW_SECONDS} s, not failures): {len(slow)}, the slowest:")
        for sec, target, src in slow[:3]:
            lines.append(f"  {target} {sec:.2f} s:\n" + "\n".join("    " + ln for ln in src.splitlines()))
    summary = "\n".join(lines)
    print("\n" + summary)
    if a.report:
        with open(a.report, "w") as f:
            f.write(summary + "\n\n")
            for rec in failures.values():
                f.write(fuzz_runner.format_failure(rec) + "\n\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
