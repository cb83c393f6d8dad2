"""How OpenMP's idle threads wait, decided before the OpenMP runtimes load.

A thread that finishes a kernel waits for the next one.  libgomp's default
spins for about 300000 pause instructions (7.5 ms here, 25 ns a pause)
before sleeping: fastest on a machine of one's own, and ruinous where other
processes want the cores (the spinning threads hold them).  fastconv's
default, applied when the user set neither OMP_WAIT_POLICY nor
GOMP_SPINCOUNT: spin 10000 times (0.25 ms: the Python between the kernels of
a training step, a layer's forward, input and weight gradients, finds the
threads awake), then sleep.  Measured on the 2-core machine: with 1000 spins
(25 us) the threads slept between a layer's kernels, and ResNet-18's layer2
stride-2 layer at batch 1, forward + backward, read 3.4 ms median (2.45 ms
best) against 2.1 (2.0) with 10000; MNIST-1D CNN training
(tools/shared_cores.py) beside a busy process ran 1.55x slower than quiet,
libgomp's default 1.5-14x, PyTorch's 3.6-4.3x.

The runtimes read the variable when they load (fastconv's own copy of
libgomp with the extension, pyFFTW's with pyFFTW), which happens during
``import fastconv``; ``set_default()`` runs first and ``restore()`` last,
so other libraries loaded later (and child processes) see the user's
environment unchanged.
"""
import os

SPIN_COUNT = "10000"
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
