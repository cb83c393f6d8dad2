"""Thread count of fastconv's kernels.

One process-wide count (``set_num_threads``), a per-thread / per-task
override (``with threads(n):``), and the environment at import time:
FASTCONV_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may
run on.  threadpoolctl lists fastconv (user_api "fastconv") and can limit it.
"""
import contextlib
import contextvars
import os
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
    return _override.get() or _core.get_num_threads()


def set_num_threads(n):
    """Sets the number of threads fastconv's kernels use (process-wide)."""
    _core.set_num_threads(_check_count(n))


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
    return _override.get()


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


_core.set_num_threads(_default_count())
