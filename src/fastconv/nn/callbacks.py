"""Training callbacks (Keras semantics): History, EarlyStopping,
ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
ProgressBar."""
import csv
import os
import sys
import time

import numpy as np

# the quantities "auto" mode minimises / maximises (Keras reads the direction off its metric objects)
_DOWN = ("loss", "mae", "mse", "mean_absolute_error", "mean_squared_error", "crossentropy", "kl_divergence", "huber")
_UP = ("accuracy", "acc", "auc", "precision", "recall")


def _maximises(monitor, mode, who):
    """True when `monitor` improves upwards: mode "max", or "auto" for
    accuracy, AUC, precision, recall; "min" and "auto" for losses and errors
    minimise; "auto" for another name is a ValueError (as Keras's)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; received mode={mode!r}")
    if mode != "auto":
        return mode == "max"
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name in _DOWN or name.endswith("loss"):
        return False
    if name in _UP:
        return True
    raise ValueError(f"{who}: cannot tell whether monitor={monitor!r} should rise or fall; pass mode='max' or "
                     "mode='min'")


def _current_lr(model, who):
    lr = model.optimizer.learning_rate
    if not isinstance(lr, float):
        raise TypeError(f"{who} sets the learning rate, but the optimizer's is a schedule ({type(lr).__name__})")
    return lr


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
    for `patience` epochs; restore_best_weights puts back the weights of
    the best epoch when training ends (as Keras 3, whether it stopped early
    or not).  mode "auto" minimises losses and errors and maximises
    accuracy, AUC, precision and recall.  baseline: improvements count
    (reset the patience) only beyond it; start_from_epoch: epochs before it
    are not monitored."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        if patience < 0:
            raise ValueError(f"patience must be >= 0; received {patience!r}")
        if start_from_epoch < 0:
            raise ValueError(f"start_from_epoch must be >= 0; received start_from_epoch={start_from_epoch!r}")
        self.monitor, self.min_delta, self.patience = monitor, abs(float(min_delta)), int(patience)
        self.baseline, self.start_from_epoch = None if baseline is None else float(baseline), int(start_from_epoch)
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = int(verbose)
        self._sign = -1.0 if _maximises(monitor, mode, "EarlyStopping") else 1.0
        self.stopped_epoch = None
        self.best = None

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.stopped_epoch, self._best_weights = np.inf, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit does not report; it reports "
                             f"{sorted(logs)}")
        if epoch < self.start_from_epoch:
            return
        value = self._sign * logs[self.monitor]
        self.wait += 1
        if value < self.best - self.min_delta:
            self.best = value
            if self.restore_best_weights:
                self._best_weights = [w.copy() for w in self.model.get_weights()]
            if self.baseline is None or value < self._sign * self.baseline - self.min_delta:
                self.wait = 0
            return
        # as Keras: stop after `patience` epochs without improvement (at least one)
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        # as Keras 3: the best epoch's weights come back at the end of training
        if self.restore_best_weights and self._best_weights is not None:
            if self.verbose:
                print("Restoring model weights from the end of the best epoch.")
            self.model.set_weights(self._best_weights)


class ModelCheckpoint(Callback):
    """Saves the model (Sequential.save: one .npz, reloaded by
    fastconv.nn.load_model) at the end of every epoch, or only when
    `monitor` improved (save_best_only); filepath may hold Keras's fields,
    "model-{epoch:02d}-{val_loss:.3f}.npz" (epoch counted from 1).  With
    save_weights_only the .npz holds get_weights()'s arrays (arr_0, arr_1,
    ... in Keras's order: model.set_weights(list(np.load(path).values())))."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        filepath = os.fspath(filepath)
        if not filepath.endswith(".npz"):
            raise ValueError(f"filepath must end in .npz (fastconv.nn saves one NumPy archive); received "
                             f"filepath={filepath!r}")
        if save_freq != "epoch":
            raise ValueError(f"save_freq must be 'epoch' (saving every n batches is not supported); received "
                             f"save_freq={save_freq!r}")
        self.filepath, self.monitor, self.verbose = filepath, monitor, int(verbose)
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self._sign = (-1.0 if _maximises(monitor, mode, "ModelCheckpoint") else 1.0) if save_best_only else 1.0
        self.best = np.inf if initial_value_threshold is None else self._sign * float(initial_value_threshold)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r}, which fit does not report; it "
                                 f"reports {sorted(logs)}")
            value = self._sign * logs[self.monitor]
            if not value < self.best:
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self._sign * self.best:.5f}")
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self._sign * self.best:.5f} to "
                      f"{logs[self.monitor]:.5f}, saving model to {path}")
            self.best = value
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            with open(path, "wb") as f:
                np.savez(f, *self.model.get_weights())
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiplies the optimizer's learning rate by factor (not below min_lr)
    when `monitor` has not improved by more than min_delta for `patience`
    epochs, then waits `cooldown` epochs; reports "learning_rate" in the
    epoch's logs (Keras's defaults: factor 0.1, patience 10, min_delta 1e-4)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1) (ReduceLROnPlateau lowers the rate); received "
                             f"factor={factor!r}")
        if patience < 0 or cooldown < 0:
            raise ValueError(f"patience and cooldown must be >= 0; received patience={patience!r}, "
                             f"cooldown={cooldown!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.min_delta, self.cooldown, self.min_lr = int(verbose), float(min_delta), int(cooldown), \
            float(min_lr)
        self._sign = -1.0 if _maximises(monitor, mode, "ReduceLROnPlateau") else 1.0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = np.inf, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_lr(self.model, "ReduceLROnPlateau")
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r}, which fit does not report; it reports "
                             f"{sorted(logs)}")
        value = self._sign * logs[self.monitor]
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = logs["learning_rate"]
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to
    schedule(epoch, lr) (or schedule(epoch)), epoch counted from 0; reports
    "learning_rate" in the epoch's logs."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable (epoch, lr) -> lr; received schedule={schedule!r}")
        self.schedule, self.verbose = schedule, int(verbose)

    def on_epoch_begin(self, epoch, logs=None):
        lr = _current_lr(self.model, "LearningRateScheduler")
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule of the epoch alone (as Keras allows)
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
            raise ValueError(f"the schedule must return a number; it returned {lr!r} for epoch {epoch}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_lr(self.model, "LearningRateScheduler")


class CSVLogger(Callback):
    """Writes one CSV row per epoch: "epoch" (from 0) then the logs' keys
    in sorted order, as Keras's; append=True continues an existing file
    (its header kept)."""

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.separator, self.append = os.fspath(filename), separator, bool(append)
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                header = not f.readline()
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header, self._writer, self._keys = header, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, ["epoch"] + self._keys, delimiter=self.separator,
                                          lineterminator="\n")
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


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
