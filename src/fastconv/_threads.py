"""Thread count of fastconv's kernels.

One process-wide count (``set_num_threads``), a per-thread / per-task
override (``with threads(n):``), and the environment at import time:
FASTCONV_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may
run on.  threadpoolctl lists fastconv (user_api "fastconv") and can limit it.

Where none of those chose the count and the process may run on every CPU of
the machine (Linux), the kernels leave CPUs that other processes keep busy:
every 0.1 s at most, the tasks ready to run system-wide (/proc/loadavg) less
this process's own give the others' demand, and the kernels run on the CPUs
left (at least one) once two samples in a row saw it.  Beside one busy
process on the 2-core machine, the MNIST-1D CNN's training on 2 threads ran
2.8x slower than quiet (its threads waiting on each other's shared core),
on 1 thread as fast as 1 thread quiet (tools/shared_cores.py).
"""
import contextlib
import contextvars
import os
import sys
import time
import warnings

from ._ext import _fastconv as _core
from ._validation import as_int

_override = contextvars.ContextVar("fastconv_threads", default=0)


def _check_count(n, name="n"):
    n = as_int(n, name)
    if n < 1:
        raise ValueError(f"{name} must be >= 1; received {n}")
    return n


def get_num_threads():
    """Number of threads fastconv's kernels use in the calling context."""
    return current() or _core.get_num_threads()


def set_num_threads(n):
    """Sets the number of threads fastconv's kernels use (process-wide)."""
    global _adaptive
    _core.set_num_threads(_check_count(n))
    _adaptive = False  # the user's count, whatever other processes do


@contextlib.contextmanager
def threads(n):
    """``with fastconv.threads(n):`` runs fastconv's kernels on n threads in
    this thread (or async task) only, restoring the previous count after."""
    token = _override.set(_check_count(n))
    try:
        yield
    finally:
        _override.reset(token)


def current():
    """Thread count to pass to a kernel: 0 means the process-wide count."""
    n = _override.get()
    if n or not _adaptive:
        return n
    now = time.monotonic()
    if now - _state["t"] >= _SAMPLE_SECONDS:
        _state["t"] = now
        _state["n"] = _adapt()
    return _state["n"]


_SAMPLE_SECONDS = 0.1
_state = {"t": -1e9, "n": 0, "low": 0}


def _my_ready():
    """This process's threads ready to run now."""
    mine = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                mine += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except OSError:  # the thread ended
            pass
    return mine


def _runnable():
    """(tasks ready to run system-wide, this process's threads among them), or None.

    The two counts cannot be read at one instant, and the kernels' worker threads, spinning after
    the last kernel, go to sleep at any moment between them (while this thread reads, none can
    wake: nothing starts a kernel).  So this process's count is read before and after the total:
    equal, no thread of it changed in between and the pair is exact; else read again (three
    tries, then the later count).  Read once, either way round, a worker asleep by the second
    read was taken for another process's task (on an idle 2-core machine every third 0.1 s sample
    ran the kernels on one thread) or hid one (beside a busy process, samples saw none)."""
    try:
        for _ in range(3):
            before = _my_ready()
            with open("/proc/loadavg") as f:
                total = int(f.read().split()[3].split("/")[0])
            mine = _my_ready()
            if mine == before:
                break
        return total, mine
    except (OSError, ValueError, IndexError):
        return None


def _adapt():
    """The count for the next kernels: 0 (the process-wide count) unless other processes' ready
    tasks have kept CPUs busy in this sample and the one before; then the CPUs they leave."""
    if _core.get_num_threads() != _auto_count:  # set since (threadpoolctl, set_num_threads)
        return 0
    counts = _runnable()
    others = 0 if counts is None else max(0, counts[0] - counts[1])
    free = max(1, _auto_count - others)
    if free >= _auto_count:
        _state["low"] = 0
        return 0
    _state["low"] += 1
    return free if _state["low"] >= 2 else 0


def _default_count():
    for var in ("FASTCONV_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        first = raw.split(",")[0].strip()  # OMP_NUM_THREADS may list nested levels
        try:
            n = int(first)
            if n >= 1:
                return n
        except ValueError:
            pass
        warnings.warn(f"fastconv: ignoring {var}={raw!r}, expected a positive integer", RuntimeWarning,
                      stacklevel=3)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _register_threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return
    if not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return

    class FastconvController(threadpoolctl.LibController):
        user_api = "fastconv"
        internal_api = "fastconv"
        filename_prefixes = ("_fastconv",)

        def get_num_threads(self):
            return self.dynlib.fc_get_num_threads()

        def set_num_threads(self, num_threads):
            self.dynlib.fc_set_num_threads(int(num_threads))

        def get_version(self):
            from ._version import __version__

            return __version__

        def set_additional_attributes(self):
            pass

    threadpoolctl.register(FastconvController)


def _adaptive_default():
    """Whether the count follows other processes' load: nobody chose it, and this process may run
    on every CPU (so the machine's ready tasks compete for its CPUs), on Linux."""
    if any(os.environ.get(v, "").strip() for v in ("FASTCONV_NUM_THREADS", "OMP_NUM_THREADS")):
        return False
    try:
        every_cpu = len(os.sched_getaffinity(0)) == os.cpu_count()
    except (AttributeError, OSError):
        return False
    return sys.platform.startswith("linux") and every_cpu and _auto_count > 1 and _runnable() is not None


_auto_count = _default_count()
_core.set_num_threads(_auto_count)
_adaptive = _adaptive_default()
