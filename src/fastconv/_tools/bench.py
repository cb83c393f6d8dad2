"""`fastconv bench`: fastconv against whichever peers are installed on the
canonical workloads, timed side by side in one process.  The full
pytest-benchmark suite lives in the repository's bench/; this is the quick,
installable version of it.

Peers: every family has one that needs nothing beyond fastconv's own
dependencies (NumPy reference implementations, fastconv._tools.references,
for convolution, pooling and recurrent layers; SciPy's fftconvolve for
filtering), plus PyTorch CPU and OpenCV where installed.

Each side is timed as the minimum over `rounds` calls after warm-up calls
(the minimum: the machine's noise only ever adds time), every library with
fastconv's thread count (NumPy's BLAS limited through threadpoolctl).  A
side whose calls take long (the NumPy references on the large workloads)
stops after a time budget, with at least one timed call."""
import math
import time

import numpy as np

from .. import _threads
from . import references as ref
from .workloads import CONV, FILTER, POOL, RECURRENT

# how to add a missing peer
INSTALL = {
    "torch": "pip install torch==2.13.0 (the CPU-only build: add --index-url https://download.pytorch.org/whl/cpu)",
    "opencv-python": "pip install opencv-python-headless",
}


class Unavailable(Exception):
    """A peer that is not installed (the message says which)."""


def _torch():
    try:
        import torch
    except ImportError:
        raise Unavailable("torch") from None
    torch.set_num_threads(_threads.get_num_threads())
    return torch


def _cv2():
    try:
        import cv2
    except ImportError:
        raise Unavailable("opencv-python") from None
    cv2.setNumThreads(_threads.get_num_threads())
    return cv2


# ---- the sides of each workload family ----------------------------------------------------------------


def conv_sides(wl, mode):
    import fastconv

    x, w = wl.arrays()
    s, p = wl.stride, wl.padding
    conv, gin, gw = ((fastconv.conv1d, fastconv.conv1d_grad_input, fastconv.conv1d_grad_weight) if wl.nd == 1
                     else (fastconv.conv2d, fastconv.conv2d_grad_input, fastconv.conv2d_grad_weight))
    gy = np.random.default_rng(1).standard_normal(conv(x, w, stride=s, padding=p).shape).astype(np.float32)

    def fc():
        y = conv(x, w, stride=s, padding=p)
        if mode != "fwd":
            gin(x.shape, w, gy, s, p)
            gw(x, w.shape, gy, s, p)
        return y

    def torch_side():
        torch = _torch()
        F = torch.nn.functional
        tconv = F.conv1d if wl.nd == 1 else F.conv2d
        tx, tw, tgy = (torch.from_numpy(a) for a in (x, w, gy))
        if mode == "fwd":
            return lambda: tconv(tx, tw, stride=s, padding=p)
        txg, twg = tx.clone().requires_grad_(), tw.clone().requires_grad_()
        return lambda: torch.autograd.grad(tconv(txg, twg, stride=s, padding=p), (txg, twg), tgy)

    def numpy_side():
        if mode == "fwd":
            return lambda: ref.conv_forward(x, w, s, p)[0]

        def fwd_bwd():
            y, cols = ref.conv_forward(x, w, s, p)
            return ref.conv_backward(x, w, gy, cols, s, p)
        return fwd_bwd

    return fc, {"torch": torch_side, "numpy.im2col": numpy_side}


def pool_sides(wl, mode):
    import fastconv

    x = wl.arrays()
    k, s, p = wl.kernel, wl.stride, wl.padding
    gy = np.ones_like(fastconv.avg_pool2d(x, k, s, p) if wl.kind == "avg" else fastconv.max_pool2d(x, k, s, p))
    if wl.kind == "max":
        def fc():
            out, ii = fastconv.max_pool2d(x, k, s, p, return_indices=True)
            return out if mode == "fwd" else fastconv.max_pool2d_backward(gy, ii, x.shape)
    else:
        def fc():
            out = fastconv.avg_pool2d(x, k, s, p)
            return out if mode == "fwd" else fastconv.avg_pool2d_backward(gy, x.shape, k, s, p)

    def torch_side():
        torch = _torch()
        F = torch.nn.functional
        tx = torch.from_numpy(x)
        pool = (lambda t: F.max_pool2d(t, k, s, p)) if wl.kind == "max" else (lambda t: F.avg_pool2d(t, k, s, p))
        if mode == "fwd":
            return lambda: pool(tx)
        txg, tgy = tx.clone().requires_grad_(), torch.from_numpy(gy)
        return lambda: torch.autograd.grad(pool(txg), txg, tgy)

    def numpy_side():
        if wl.kind == "max":
            if mode == "fwd":
                return lambda: ref.max_pool_forward(x, k, s, p)
            return lambda: ref.max_pool_forward_backward(x, k, s, p, gy)
        if mode == "fwd":
            return lambda: ref.avg_pool_forward(x, k, s, p)
        return lambda: (ref.avg_pool_forward(x, k, s, p), ref.avg_pool_backward(x.shape, k, s, p, gy, x.dtype))

    return fc, {"torch": torch_side, "numpy.sliding_window": numpy_side}


def rnn_sides(wl, mode):
    import fastconv

    rng = np.random.default_rng(0)
    x = rng.standard_normal((wl.T, wl.B, wl.I)).astype(np.float32)
    g = {"lstm": 4, "gru": 3, "rnn": 1}[wl.kind]
    k = 1 / np.sqrt(wl.H)
    w = [rng.uniform(-k, k, sh).astype(np.float32) for sh in ((g * wl.H, wl.I), (g * wl.H, wl.H), (g * wl.H,),
                                                             (g * wl.H,))]
    gy = np.ones((wl.T, wl.B, wl.H), np.float32)

    def fc():
        if wl.kind == "lstm":
            out = fastconv.lstm_forward(x, None, None, *w)
            return out if mode == "fwd" else fastconv.lstm_backward(gy, None, None, out[3])
        fwd, bwd = ((fastconv.gru_forward, fastconv.gru_backward) if wl.kind == "gru"
                    else (fastconv.rnn_forward, fastconv.rnn_backward))
        out = fwd(x, None, *w)
        return out if mode == "fwd" else bwd(gy, None, out[2])

    def torch_side():
        from .sweep import torch_recurrent

        return torch_recurrent(_torch(), wl.kind, w, x, gy, mode)

    def numpy_side():
        if mode == "fwd":
            return lambda: ref.rnn_forward(wl.kind, x, *w)[0]

        def fwd_bwd():
            y, saved = ref.rnn_forward(wl.kind, x, *w)
            return ref.rnn_backward(wl.kind, x, w[0], w[1], y, saved, gy)
        return fwd_bwd

    return fc, {"torch": torch_side, "numpy.loop": numpy_side}


def filter_sides(wl, mode):
    import scipy.fft
    import scipy.signal as ss

    import fastconv

    img, k, g = wl.arrays()
    nt = _threads.get_num_threads()

    def scipy_side(fn):
        def build():
            def call():
                with scipy.fft.set_workers(nt):
                    return fn()
            return call
        return build

    def cv2_side(fn):
        def build():
            cv2 = _cv2()
            return lambda: fn(cv2)
        return build

    if wl.kind in ("fft", "fft1d"):
        return (lambda: fastconv.fftconvolve(img, k)), {"scipy.fftconvolve": scipy_side(lambda: ss.fftconvolve(img, k))}
    flipped = np.ascontiguousarray(k[::-1, ::-1])
    peers = {"scipy.fftconvolve": scipy_side(lambda: ss.fftconvolve(img, flipped, mode="same"))}
    if wl.kind == "gaussian":
        peers["cv2.sepFilter2D"] = cv2_side(lambda cv2: cv2.sepFilter2D(img, -1, g, g, borderType=cv2.BORDER_CONSTANT))
    else:
        peers["cv2.filter2D"] = cv2_side(lambda cv2: cv2.filter2D(img, -1, k, borderType=cv2.BORDER_CONSTANT))
    return (lambda: fastconv.correlate2d(img, k, mode="same")), peers


class SweepRow:
    """A row of the real-network sweep (fastconv._tools.sweep) as a workload."""
    rounds = 4

    def __init__(self, case):
        from . import sweep

        self.case, self.id = case, sweep.case_id(case)

    def floor(self, mode):
        from . import sweep

        layer, dtype, _ = self.case
        return sweep.floor_seconds(layer, dtype, mode == "fwd+bwd")


def sweep_sides(row, mode):
    layer, dtype, make = row.case

    def torch_side():
        _torch()  # Unavailable without torch; the threads set as for every peer
        return make(layer, dtype, mode, "torch")

    return make(layer, dtype, mode, "fastconv"), {"torch": torch_side}


def _sweep_rows():
    from . import sweep

    return [SweepRow(c) for c in sweep.CASES]


class _Lazy(list):
    """The sweep's rows, listed on first use (fastconv bench imports no sweep otherwise)."""

    def __iter__(self):
        if not self:
            self.extend(_sweep_rows())
        return super().__iter__()


FAMILIES = {
    "conv": (CONV, conv_sides, ("fwd", "fwd+bwd")),
    "pool": (POOL, pool_sides, ("fwd", "fwd+bwd")),
    "rnn": (RECURRENT, rnn_sides, ("fwd", "fwd+bwd")),
    "filter": (FILTER, filter_sides, ("fwd",)),
    # the real-network sweep: about 200 rows, minutes; only when asked for
    "sweep": (_Lazy(), sweep_sides, ("fwd", "fwd+bwd")),
}
DEFAULT_FAMILIES = ("conv", "pool", "rnn", "filter")


def sweep_summary(rows, worst=10):
    """The sweep's rows against torch: geometric mean, rows at or above 1.0x, the worst rows with
    fastconv's time over the row's floor (flops / 230 GFLOP/s, bytes / 44 GB/s)."""
    floors = {f"{r.id} {m}": r.floor(m) for r in FAMILIES["sweep"][0] for m in ("fwd", "fwd+bwd")}
    rated = [(r["peers"]["torch"] / r["fastconv"], r) for r in rows if "torch" in r["peers"] and r["workload"] in floors]
    if not rated:
        return "sweep: no row has a torch time (is torch installed?)"
    geo = math.exp(sum(math.log(q) for q, _ in rated) / len(rated))
    lines = [f"sweep: {len(rated)} rows; geometric mean torch/fastconv {geo:.2f}x; "
             f"{sum(q >= 1 for q, _ in rated)} rows >= 1.0x", f"worst {min(worst, len(rated))}:"]
    for q, r in sorted(rated, key=lambda t: t[0])[:worst]:
        lines.append(f"  {q:5.2f}x  {r['workload']}  (fastconv {r['fastconv'] / floors[r['workload']]:.1f}x its floor)")
    return "\n".join(lines)


# ---- timing -------------------------------------------------------------------------------------------


def best_time(fn, rounds, warmup=2, budget=None, min_seconds=0.0):
    """Minimum wall time of one call over `rounds` calls, after warm-up calls.
    With a budget (seconds), a slow side stops early: one warm-up call only
    when that call alone took more than a tenth of the budget, and no new
    timed call once the timed calls have used the budget (at least one).
    min_seconds: more calls (up to 100 x rounds) until the timed ones span
    that long: the shared host has slow spells of tens of milliseconds (every
    call 10x slow), and the 8 calls of a 0.03 ms row fell wholly inside one."""
    for _ in range(warmup):
        t = time.perf_counter()
        fn()
        if budget is not None and time.perf_counter() - t > budget / 10:
            break
    best, spent, n = np.inf, 0.0, 0
    start = time.perf_counter()
    while n < rounds or (time.perf_counter() - start < min_seconds and n < 100 * rounds):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best, spent, n = min(best, dt), spent + dt, n + 1
        if budget is not None and spent >= budget:
            break
    return best


def _blas_limit(n):
    """NumPy's BLAS on at most n threads while the peers run (a context manager): lowered where it
    has more, never raised.  Raising it (OPENBLAS_NUM_THREADS=1 set by the user, then n) starts
    OpenBLAS's threads mid-run, and they spin: fastconv's one-sequence LSTM forward ran 2.9 ->
    7.4 ms beside them (50 steps, a barrier each), and whatever else was timed after them."""
    import contextlib

    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    if all(lib["num_threads"] <= n for lib in threadpool_info() if lib["user_api"] == "blas"):
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def run(families=("conv", "pool", "rnn", "filter"), ids=None, rounds_scale=0.34, log=print, peer_budget=2.0,
        passes=1, blocks=2):
    """Times every workload of the chosen families: a list of rows
    {"workload", "fastconv": seconds, "peers": {name: seconds}, "skipped": {name: reason}}.
    A peer's timed calls stop after peer_budget seconds (at least one call).

    Within a row, each side's calls are timed in `blocks` blocks that alternate with the other
    sides' (fastconv, torch, fastconv, torch, ...), and each side keeps its minimum: on a shared
    host a core runs at about half speed for seconds at a time (another tenant on it), and a side
    timed only then reads up to 2x slow; alternating, a slow spell falls on both sides of the row.
    passes > 1 times every row that many times, pass after pass over all of them, and keeps each
    side's minimum: passes minutes apart give each side of a row as many chances at a quiet spell."""
    if passes < 1:
        raise ValueError(f"passes must be at least 1; received {passes}")
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1; received {blocks}")
    best = None
    for p in range(passes):
        if log and passes > 1:
            log(f"-- pass {p + 1} of {passes}")
        rows = _run_pass(families, ids, rounds_scale, log, peer_budget, blocks)
        if best is None:
            best = rows
            continue
        for b, r in zip(best, rows):
            b["fastconv"] = min(b["fastconv"], r["fastconv"])
            for peer, t in r["peers"].items():
                b["peers"][peer] = min(b["peers"].get(peer, t), t)
    return best


# every side's timed calls span at least this long (best_time's min_seconds)
MIN_SECONDS = 0.05


def _run_pass(families, ids, rounds_scale, log, peer_budget, blocks):
    rows = []
    last = None  # the side timed last
    with _blas_limit(_threads.get_num_threads()):
        for fam in families:
            workloads, sides, modes = FAMILIES[fam]
            for wl in workloads:
                if ids and not any(wl.id == i or wl.id.split()[0] == i for i in ids):
                    continue
                rounds = max(3, math.ceil(max(3, round(wl.rounds * rounds_scale)) / blocks))  # a block's
                for mode in modes:
                    name = wl.id if len(modes) == 1 else f"{wl.id} {mode}"
                    fc, peers = sides(wl, mode)
                    row = {"workload": name, "fastconv": np.inf, "peers": {}, "skipped": {}}
                    timed = [("fastconv", fc, None)]
                    for peer, build in peers.items():
                        try:
                            timed.append((peer, build(), peer_budget / blocks))
                        except Unavailable as e:
                            row["skipped"][peer] = str(e)
                    for _ in range(blocks):
                        for side, fn, budget in timed:
                            _settle(last)
                            t = best_time(fn, rounds, budget=budget, min_seconds=MIN_SECONDS)
                            last = side
                            if side == "fastconv":
                                row["fastconv"] = min(row["fastconv"], t)
                            else:
                                row["peers"][side] = min(row["peers"].get(side, np.inf), t)
                    rows.append(row)
                    if log:
                        log(format_row(row))
    return rows


def _settle(last):
    """Lets the threads of the side timed last (None: none) go idle before the next side is timed:
    OpenBLAS's workers (the NumPy peers) spin for about 0.1 s after their last call, OpenMP
    workers (torch's, fastconv's) briefly, on the cores the next side needs (R4's forward read
    1.38 ms timed alone, 2.6-2.75 ms right after the NumPy loop of the row before; its forward +
    backward 3.8-7.4 ms after torch's).  Every side gets the same pause."""
    if last is not None:
        time.sleep(0.2 if last.startswith("numpy") else 0.1)


def missing_peers(rows):
    """{distribution: how to install it} for the peers that were skipped."""
    return {dist: INSTALL.get(dist, f"pip install {dist}") for r in rows for dist in r["skipped"].values()}


def format_row(row):
    fc = row["fastconv"]
    peers = "  ".join(f"{p} {t * 1e3:9.3f} ms ({t / fc:5.2f}x)" for p, t in row["peers"].items())
    return f"{row['workload']:<18} fastconv {fc * 1e3:9.3f} ms  {peers or '(no peer measured)'}"


def table(rows):
    """Markdown table: times in ms and peer / fastconv ratios (> 1: fastconv is faster)."""
    peers = sorted({p for r in rows for p in r["peers"]})
    head = ["workload", "fastconv ms"] + [f"{p} ms" for p in peers] + [f"{p} / fastconv" for p in peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        fc = r["fastconv"]
        cells = [r["workload"], f"{fc * 1e3:.3f}"]
        cells += [f"{r['peers'][p] * 1e3:.3f}" if p in r["peers"] else "-" for p in peers]
        cells += [f"{r['peers'][p] / fc:.2f}x" if p in r["peers"] else "-" for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, path):
    """A bar chart of peer / fastconv per workload (log scale, 1 = parity) as
    PNG; with no peer measured at all, fastconv's own times instead (never an
    empty chart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = sorted({p for r in rows for p in r["peers"]})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows) + 2), 4.5))
    if not peers:
        ax.bar(range(len(rows)), [r["fastconv"] * 1e3 for r in rows], 0.6, color="C0")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r["workload"] for r in rows], rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("fastconv time (ms)")
        ax.set_title("fastconv (no peer measured)")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return
    colors = {p: f"C{j}" for j, p in enumerate(peers)}
    width = 0.8 / max(max((len(r["peers"]) for r in rows), default=1), 1)
    labelled = set()
    for i, r in enumerate(rows):  # each workload's bars centred on its tick
        present = [p for p in peers if p in r["peers"]]
        for j, p in enumerate(present):
            ax.bar(i + (j - (len(present) - 1) / 2) * width, r["peers"][p] / r["fastconv"], width,
                   color=colors[p], label=None if p in labelled else p)
            labelled.add(p)
    ax.axhline(1.0, color="k", lw=1)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["workload"] for r in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("peer time / fastconv time  (> 1: fastconv faster)")
    ax.set_title("fastconv against its peers")
    if peers:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
