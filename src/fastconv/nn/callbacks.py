"""Training callbacks: History, EarlyStopping, ProgressBar (Keras semantics)."""
import sys
import time

import numpy as np


class Callback:
    """Hooks fit calls; `model` is set before training starts."""

    model = None

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class History(dict):
    """Per-epoch lists of loss and metrics, keyed by name ("loss",
    "accuracy", "val_loss", ...); also reachable as .history, as in Keras."""

    def __init__(self):
        super().__init__()
        self.epoch = []

    @property
    def history(self):
        return self

    def record(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.setdefault(k, []).append(v)


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than min_delta
    for `patience` epochs; restore_best_weights, when it stops training, puts back the weights of the
    best epoch.  mode "auto" minimises losses and maximises the rest."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 restore_best_weights=False):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; received {mode!r}")
        if patience < 0:
            raise ValueError(f"patience must be >= 0; received {patience!r}")
        self.monitor, self.min_delta, self.patience = monitor, abs(float(min_delta)), int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = int(verbose)
        maximise = mode == "max" or (mode == "auto" and "loss" not in monitor)
        self._sign = -1.0 if maximise else 1.0
        self.stopped_epoch = None
        self.best = None

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.stopped_epoch, self._best_weights = np.inf, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit does not report; it reports "
                             f"{sorted(logs)}")
        value = self._sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self._best_weights = [w.copy() for w in self.model.get_weights()]
            return
        self.wait += 1
        # as Keras: stop after `patience` epochs without improvement (at least one)
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping" + (" (restoring the best epoch's weights)"
                                                              if self.restore_best_weights else ""))
            # as Keras: the best weights come back when training stops early
            if self.restore_best_weights and self._best_weights is not None:
                self.model.set_weights(self._best_weights)


def _format(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class ProgressBar(Callback):
    """verbose=1: a bar redrawn as batches finish, then the epoch's line;
    verbose=2: the epoch's line only.  verbose=1 on a stream that is not a
    terminal (a log file, a pipe) writes the epoch's line only, as verbose=2,
    since a redrawn bar would leave its carriage-return frames there."""

    def __init__(self, epochs, steps, verbose=1, stream=None):
        self.epochs, self.steps = epochs, steps
        self.stream = stream or sys.stdout
        self.verbose = 2 if verbose == 1 and not _is_terminal(self.stream) else verbose

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._drawn = time.perf_counter()
        if self.verbose == 1:
            self.stream.write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.verbose != 1 or (now - self._drawn < 0.1 and batch + 1 < self.steps):
            return
        self._drawn = now
        done = int(30 * (batch + 1) / self.steps)
        bar = "=" * done + (">" if done < 30 else "") + "." * (29 - done)
        self.stream.write(f"\r{batch + 1}/{self.steps} [{bar}] {now - self._start:.1f}s - {_format(logs)}")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        if self.verbose == 1:
            self.stream.write(f"\r{self.steps}/{self.steps} [{'=' * 30}] {seconds:.1f}s - {_format(logs)}\n")
        elif self.verbose == 2:
            self.stream.write(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.1f}s - {_format(logs)}\n")
        self.stream.flush()
