"""How OpenMP's idle threads wait, decided before the OpenMP runtimes load.

A thread that finishes a kernel waits for the next one.  libgomp's default
spins for about 300000 pause instructions (milliseconds) before sleeping:
fastest on a machine of one's own, and ruinous where other processes want
the cores (the spinning threads hold them).  fastconv's default, applied
when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT: spin 1000
times (microseconds, enough for the next kernel of a training step to find
its threads awake), then sleep.  Measured on the 2-core machine (tools/
shared_cores.py, MNIST-1D CNN training): the same quiet speed as libgomp's
default, and beside a busy process 2.8x slower than quiet where libgomp's
default spin made it 14x slower (PyTorch: 3.3x).

The runtimes read the variable when they load (fastconv's own copy of
libgomp with the extension, pyFFTW's with pyFFTW), which happens during
``import fastconv``; ``set_default()`` runs first and ``restore()`` last,
so other libraries loaded later (and child processes) see the user's
environment unchanged.
"""
import os

SPIN_COUNT = "1000"
_applied = False  # whether set_default set it (the runtimes then loaded with it)


def set_default():
    global _applied
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        _applied = True


def restore():
    if _applied and os.environ.get("GOMP_SPINCOUNT") == SPIN_COUNT:
        del os.environ["GOMP_SPINCOUNT"]


def policy():
    """What the OpenMP runtimes of this process were told (for fastconv.info())."""
    if _applied:
        return f"spin {SPIN_COUNT}, then sleep (fastconv's default)"
    keys = [k for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ]
    return ", ".join(f"{k}={os.environ[k]}" for k in keys) + " (the environment's)" if keys else \
        "the runtime's default"
