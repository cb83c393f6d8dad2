"""Sequential: a stack of layers trained with explicit forward / backward.

High level (Keras): compile, fit, evaluate, predict, summary, save /
load_model.  Low level (custom loops, GANs): forward(x, training),
backward(grad_output) -> grad_input, parameters() / gradients() (matching
lists of arrays), and an optimizer's step(params, grads).

Weights: save(path) writes one .npz (the architecture as JSON text and every
array; no pickle); load_model(path) rebuilds the model.  state_dict() /
load_state_dict() use PyTorch's order and shapes, so a torch.nn.Sequential
of the equivalent layers exchanges weights with it as NumPy arrays.

Devices: a model runs where its parameters are: on the CPU (NumPy), or on
the GPU (CuPy) after model.to("gpu") or when given CuPy arrays; inputs and
targets follow it, and outputs are arrays of its device."""
import collections
import contextlib
import copy
import json
import threading

import numpy as np

from .. import _backend, _dask, _info
from . import _ops
from . import callbacks as C
from . import layers as L
from . import losses, optimizers, recurrent, regularizers
from . import metrics as metrics_module
from ._base import ActivatedLayer, Layer

_LAYER_CLASSES = {cls.__name__: cls for cls in (
    L.Dense, L.Activation, L.Flatten, L.Reshape, L.Dropout, L.BatchNorm, L.Conv1D, L.Conv2D, L.Conv2DTranspose,
    L.MaxPool1D, L.MaxPool2D, L.AvgPool1D, L.AvgPool2D, L.GlobalAvgPool2D,
    L.LeakyReLU, L.ELU, L.ReLU, L.Embedding, recurrent.SimpleRNN, recurrent.LSTM, recurrent.GRU)}
# Keras's vocabulary beyond the core layers (issue 15): saved and loaded by class name too
_LAYER_CLASSES.update({cls.__name__: cls for cls in L.VOCABULARY})


def _host_targets(y_true, y_out):
    """y_true as an array of y_out's module."""
    return _ops.to_module(y_true, _ops.xp_of(y_out))


def _accuracy(kind):
    def accuracy(y_true, y_out):
        y = _host_targets(y_true, y_out)
        if kind == "sparse":
            return float((y_out.argmax(axis=-1) == y.reshape(y_out.shape[:-1])).mean())
        if kind == "categorical":
            return float((y_out.argmax(axis=-1) == y.argmax(axis=-1)).mean())
        return float(((y_out > 0.5) == (y.reshape(y_out.shape) > 0.5)).mean())
    return accuracy


def _mae(y_true, y_out):
    return float(abs(y_out - _host_targets(y_true, y_out).reshape(y_out.shape)).mean())


def _mse(y_true, y_out):
    return float(((y_out - _host_targets(y_true, y_out).reshape(y_out.shape)) ** 2).mean())


class Sequential:
    """Layers applied in order.  seed fixes the weight initialisation, the
    dropout masks and the shuffling, so a run repeats exactly (with the same
    thread count); dtype is the parameters' (float32 or float64)."""

    def __init__(self, layers=None, name=None, seed=None, dtype="float32"):
        self.name = name
        self.seed = seed
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64; received dtype={dtype!r}")
        self._rng = np.random.default_rng(seed)
        self._xp = np  # the parameters' array module: NumPy (CPU) or CuPy (GPU)
        self.layers = []
        self._shapes = []
        self.built = False
        self.input_shape = None
        self.optimizer = self.loss = None
        self.metrics = []
        self._fused = False
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # ---- building ---------------------------------------------------------------------------

    def add(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes fastconv.nn layers; received {type(layer).__name__}")
        if isinstance(layer, L.InputLayer):  # keras.Input / InputLayer: the input shape, not a layer
            if self.layers or self.built:
                raise ValueError("an Input (InputLayer) can only come first in a Sequential model")
            self.build(layer.shape)
            return
        self.layers.append(layer)
        if self.built:
            self._shapes.append(self._build_logical(layer, self._output_shape(len(self.layers) - 1)))
            if self._xp is not np:
                self._move_state(self._xp)
        elif len(self.layers) == 1 and layer.declared_input_shape is not None:  # input_shape= on the first layer
            self.build(layer.declared_input_shape)

    def _build_layer(self, layer, shape):
        """Builds a layer for inputs of shape (N,) + shape, keeping the weights
        of one already built for that shape (trained layers reused in another
        model keep what they learnt)."""
        if layer.built:
            if tuple(layer.input_shape) != tuple(shape):
                raise ValueError(f"layer {layer.name or type(layer).__name__} was built for inputs of shape "
                                 f"(N,) + {tuple(layer.input_shape)}; here it would receive (N,) + {tuple(shape)}")
            return
        layer.build(shape, self._rng, self.dtype)

    def _build_logical(self, layer, shape):
        """Builds a layer for inputs of logical shape (N,) + shape (the model's
        data layout) and returns its output's logical shape: an image layer
        in channels_last format is built, and runs, on the channel axis moved
        first."""
        if layer.layout == "channels_first" and len(shape) >= 2:
            self._build_layer(layer, (shape[-1],) + tuple(shape[:-1]))
            out = layer.output_shape
            return tuple(out[1:]) + (out[0],) if len(out) >= 2 else tuple(out)
        self._build_layer(layer, shape)
        return tuple(layer.output_shape)

    def _output_shape(self, upto):
        return self._shapes[upto - 1] if upto else self.input_shape

    def build(self, input_shape):
        """Creates every layer's weights for inputs of shape (N,) + input_shape."""
        shape = tuple(int(n) for n in input_shape)
        self.input_shape = shape
        self._shapes = []  # each layer's output shape in the model's (logical) layout
        for layer in self.layers:
            shape = self._build_logical(layer, shape)
            self._shapes.append(shape)
        self.built = True
        if self._xp is not np:  # built after moving (to("gpu"), or a first CuPy input): weights follow
            self._move_state(self._xp)
        if self.loss is not None:
            self._set_fusion()

    @property
    def output_shape(self):
        return self._shapes[-1] if self.layers else self.input_shape

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """optimizer (Keras's default "rmsprop"), loss (required: a name or a
        Loss), metrics (names)."""
        if loss is None:
            raise ValueError("compile() needs a loss (for example loss='mse' or "
                             "'sparse_categorical_crossentropy'): fastconv.nn trains only on a compiled loss")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self.metrics = list(metrics or [])
        self._metric_fns = {}
        for m in self.metrics:
            if m in ("accuracy", "acc"):
                kind = {"sparse_categorical_crossentropy": "sparse", "categorical_crossentropy": "categorical"}
                self._metric_fns["accuracy"] = _accuracy(kind.get(self.loss.name, "binary"))
            elif m in ("mae", "mean_absolute_error"):
                self._metric_fns["mae"] = _mae
            elif m in ("mse", "mean_squared_error"):
                self._metric_fns["mse"] = _mse
            else:  # Keras's counting metrics (precision, recall, AUC): accumulated over an epoch
                metric = metrics_module.get(m)
                if metric is None:
                    raise ValueError(f"metrics may hold 'accuracy', 'mae', 'mse', 'precision', 'recall', 'auc' or "
                                     f"fastconv.nn.metrics objects; received {m!r}")
                name, i = metric.name, 0
                while name in self._metric_fns:  # a second AUC() is auc_1, as in Keras
                    i += 1
                    name = f"{metric.name}_{i}"
                self._metric_fns[name] = metric
        self._set_fusion()

    def _set_fusion(self):
        """Cross-entropy after a softmax (sigmoid) trains on the logits, with
        the activation fused into the loss (exact where softmax then log is
        not)."""
        last = self.layers[-1] if self.layers else None
        act = last.activation.name if isinstance(last, ActivatedLayer) else None
        pairs = {("softmax", "categorical_crossentropy"), ("softmax", "sparse_categorical_crossentropy"),
                 ("sigmoid", "binary_crossentropy")}
        self._fused = (act, self.loss.name) in pairs and not self.loss.from_logits
        self._fused = self._fused and getattr(last.activation, "axis", -1) == -1  # (a Softmax over another axis)
        self._train_loss = type(self.loss)(from_logits=True) if self._fused else self.loss

    # ---- the low-level path ---------------------------------------------------------------------

    @property
    def device(self):
        """"cpu" or "gpu": where the parameters are and the model runs."""
        return "cpu" if self._xp is np else "gpu"

    def to(self, device):
        """Moves the parameters, buffers and optimizer state to "gpu" (CuPy;
        "cuda" also accepted) or "cpu"; returns the model.  A model also
        moves to the GPU by itself when it is given CuPy arrays."""
        if device not in ("cpu", "gpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'gpu'; received {device!r}")
        if device == "cpu":
            xp = np
        else:
            gpu = _info.info()["gpu"]
            if not gpu["available"]:
                raise RuntimeError(f"no GPU backend: {gpu['reason']}")
            import cupy as xp
        self._move_state(xp)
        self._xp = xp
        return self

    def __getstate__(self):
        """Pickling (and copy.deepcopy, and Dask's shipping of a model to its
        workers): the array module by name."""
        state = dict(self.__dict__)
        state["_xp"] = "numpy" if self._xp is np else "cupy"
        return state

    def __setstate__(self, state):
        if state["_xp"] == "cupy":
            import cupy as xp
        else:
            xp = np
        self.__dict__.update(state, _xp=xp)

    def _move_state(self, xp):
        """Parameters, buffers, gradients and optimizer slots as arrays of module xp."""
        for layer in self.layers:
            for store in (layer.params, layer.buffers, layer.grads):
                for k, v in store.items():
                    store[k] = _ops.to_module(v, xp)
        if self.optimizer is not None:
            for slots in self.optimizer._slots:
                for k, v in slots.items():
                    slots[k] = _ops.to_module(v, xp)
        self._pack_key = None  # re-pack the flat parameters on the new device

    def _as_input(self, x, name="x"):
        if x is None:
            raise TypeError(f"{name} must be an array of numbers (N, ...); received None")
        if _backend.is_cupy_array(x) and self._xp is np:
            self.to("gpu")
        x = _ops.to_module(x, self._xp)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be an array of real numbers (N, ...); received dtype {x.dtype}")
        if x.ndim == 0:
            raise ValueError(f"{name} must have a batch axis (N, ...); received a 0-d array")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        if not self.built:
            self.build(x.shape[1:])
        elif x.shape[1:] != self.input_shape:
            raise ValueError(f"the model takes inputs of shape (N,) + {self.input_shape}; received {x.shape}")
        return x

    def forward(self, x, training=False, logits=False):
        """The model's output for x (N, ...); training=True uses batch
        statistics and dropout; logits=True leaves out the last layer's
        activation.  Keeps what backward needs."""
        x = self._as_input(x)
        stored_cf = False  # x holds channels-last data with its channel axis moved first
        self._moves = {}   # layer index (or len(layers): the output) -> the move made before it (True: to first)
        last = self.layers[-1]
        if isinstance(last, ActivatedLayer):
            last.logits = bool(logits)
        for i, layer in enumerate(self.layers):
            want = layer.layout
            if want == "channels_first" and not stored_cf and x.ndim >= 3:
                x, stored_cf, self._moves[i] = _move_channels(x, True), True, True
            elif want == "logical" and stored_cf:
                x, stored_cf, self._moves[i] = _move_channels(x, False), False, False
            x = layer.forward(x, training)
            if want == "channels_first":
                stored_cf = x.ndim >= 3
        if stored_cf:
            x, self._moves[len(self.layers)] = _move_channels(x, False), False
        return x

    __call__ = forward

    def backward(self, grad_output, input_grad=True):
        """Gradients of the last forward: fills each layer's grads from
        d loss / d output (of the logits, if the forward returned logits),
        and returns d loss / d input (None with input_grad=False, which
        saves the first layer that work)."""
        if grad_output is None:
            raise TypeError("grad_output must be an array (the gradient of the loss by the output); received None")
        g = self._xp.asarray(_ops.to_module(grad_output, self._xp), self.dtype)
        self.layers[0].input_grad = bool(input_grad)
        moves = getattr(self, "_moves", {})
        if len(self.layers) in moves:
            g = _move_channels(g, not moves[len(self.layers)])
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.layers[i].backward(g)
            if i in moves and g is not None:
                g = _move_channels(g, not moves[i])
        return g

    def parameters(self):
        """The trainable arrays (layers with trainable=False left out), in
        state_dict order (updated in place by the optimizers)."""
        return [layer.params[n] for layer in self.layers if layer.trainable for n in layer.param_names]

    def gradients(self):
        """The gradients of the last backward, matching parameters()."""
        return [layer.grads[n] for layer in self.layers if layer.trainable for n in layer.param_names]

    @property
    def trainable_variables(self):
        """Keras's name for parameters(): the arrays fit updates."""
        return self.parameters()

    @property
    def metrics_names(self):
        """["loss", metric, ...]: the names of evaluate's values."""
        return ["loss"] + list(getattr(self, "_metric_fns", {}))

    def get_weights(self):
        """Every layer's weights in Keras's layouts and order (kernels (in,
        out) / (kh, kw, in, out), one recurrent bias, BatchNorm's moving
        statistics), host copies; state_dict keeps PyTorch's."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Sets every layer's weights from Keras's layouts (as get_weights)."""
        weights = list(weights)
        counts = [len(layer.keras_weights()) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"set_weights needs {sum(counts)} arrays; received {len(weights)}")
        at = 0
        for layer, n in zip(self.layers, counts):
            layer.set_weights(weights[at: at + n])
            at += n

    @staticmethod
    def _layer_arrays(layer):
        return [layer.params[n] for n in layer.param_names] + [layer.buffers[n] for n in layer.buffer_names]

    # ---- training -------------------------------------------------------------------------------

    def _check_compiled(self):
        if self.loss is None:
            raise RuntimeError("call compile(optimizer, loss, metrics) before fit / evaluate / train_on_batch")

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimizer step on (x, y); returns the logs (loss and metrics of
        the batch).  sample_weight (one per example) and class_weight
        ({class: weight}, from integer or one-hot targets) scale each
        example's loss, as Keras's (the metrics stay unweighted)."""
        self._check_compiled()
        if not getattr(self, "_fitting", False):  # standalone: this batch's counts only (Keras's reset_metrics)
            self._reset_counting_metrics()
        out = self.forward(x, training=True, logits=self._fused)
        w = _example_weights(y, len(out), sample_weight, class_weight)
        loss, grad = self._train_loss(y, out) if w is None else self._train_loss.weighted(y, out, w)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss}; lower the learning rate or check the data")
        self.backward(grad, input_grad=False)
        loss += regularizers.apply(self.layers, with_gradients=True)  # the layers' penalties, as Keras's losses
        flat, flat_grad = self._packed()
        self._xp.concatenate([g.reshape(-1) for g in self.gradients()], out=flat_grad)
        self.optimizer.step([flat], [flat_grad])  # one update over every parameter
        return self._logs(loss, y, out, self._fused)

    def _packed(self):
        """Every parameter as a view into one flat array (and a flat gradient
        buffer): the optimizers' elementwise updates then run once per step
        instead of once per array (a dozen NumPy calls each: most of a small
        model's step).  Re-packed if the layers' arrays change."""
        params = self.parameters()
        key = tuple(id(p) for p in params)
        if getattr(self, "_pack_key", None) != key:
            flat = self._xp.empty(sum(p.size for p in params), self.dtype)
            offset = 0
            for layer in self.layers:
                if not layer.trainable:
                    continue
                for name in layer.param_names:
                    p = layer.params[name]
                    view = flat[offset: offset + p.size].reshape(p.shape)
                    view[...] = p
                    layer.params[name] = view
                    offset += p.size
            self._flat_params, self._flat_grads = flat, self._xp.empty_like(flat)
            self._pack_key = tuple(id(p) for p in self.parameters())
        return self._flat_params, self._flat_grads

    def _reset_counting_metrics(self):
        for fn in getattr(self, "_metric_fns", {}).values():
            if isinstance(fn, metrics_module.Metric):
                fn.reset_state()

    def _counting_results(self):
        """The accumulated metrics' results (their epoch's, not a mean of per-batch values)."""
        return {k: fn.result() for k, fn in getattr(self, "_metric_fns", {}).items()
                if isinstance(fn, metrics_module.Metric)}

    def _logs(self, loss, y, out, logits):
        logs = {"loss": loss}
        if self._metric_fns:
            probs = out
            if logits:  # metrics on probabilities (accuracy is the same on logits except for sigmoid)
                probs = self.layers[-1].activation.forward(out)
            for name, fn in self._metric_fns.items():
                logs[name] = fn(y, probs)
        return logs

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0):
        """Trains for epochs initial_epoch ... epochs - 1 over (x, y) in
        shuffled mini-batches (Keras's arguments, in its order; batch_size
        None is 32); returns the History (per-epoch loss, metrics, val_
        ones).  validation_split: the last fraction of x and y (taken before
        shuffling, as Keras) held out for validation.  class_weight /
        sample_weight: see train_on_batch."""
        self._check_compiled()
        x = self._as_input(x)
        y = _ops.to_module(y, self._xp)
        if len(x) != len(y):
            raise ValueError(f"x and y must hold the same number of examples; received {len(x)} and {len(y)}")
        if sample_weight is not None and len(sample_weight) != len(x):
            raise ValueError(f"sample_weight must hold one weight per example ({len(x)}); received "
                             f"{len(sample_weight)}")
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; received batch_size={batch_size!r}")
        verbose = 1 if verbose == "auto" else verbose
        if not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch:
            raise ValueError(f"initial_epoch must be an int >= 0; received {initial_epoch!r}")
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be a fraction in [0, 1); received {validation_split!r}")
        if validation_split and validation_data is None:
            cut = len(x) - int(len(x) * validation_split)
            if cut == len(x) or cut == 0:
                raise ValueError(f"validation_split={validation_split} of {len(x)} examples leaves no validation "
                                 "or no training example")
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
            if sample_weight is not None:
                sample_weight = np.asarray(_backend.to_host(sample_weight))[:cut]
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            vx, vy = validation_data
            vx = self._as_input(vx, "x_val (validation_data[0])")
        n = len(x)
        steps = -(-n // batch_size)
        history = C.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(C.ProgressBar(epochs, steps, verbose))
        for cb in cbs:
            cb.model = self
            cb.on_train_begin()
        self.stop_training = False
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            order = self._rng.permutation(n) if shuffle else np.arange(n)
            sums = collections.defaultdict(float)
            self._reset_counting_metrics()
            for step in range(steps):
                idx = order[step * batch_size: (step + 1) * batch_size]
                rows = idx if self._xp is np else self._xp.asarray(idx)
                sw = None if sample_weight is None else np.asarray(_backend.to_host(sample_weight))[idx]
                self._fitting = True
                try:
                    logs = self.train_on_batch(x[rows], y[rows], sw, class_weight)
                finally:
                    self._fitting = False
                for k, v in logs.items():
                    sums[k] += v * len(idx)
                running = {k: v / min((step + 1) * batch_size, n) for k, v in sums.items()}
                for cb in cbs:
                    cb.on_batch_end(step, running)
            logs = {k: v / n for k, v in sums.items()}
            logs.update(self._counting_results())
            if validation_data is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(vx, vy, batch_size, return_dict=True).items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            history.record(epoch, logs)  # after the callbacks, as Keras's History (they may add learning_rate)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        return history

    def predict(self, x, batch_size=None, verbose="auto"):
        """The model's output for x, in batches of batch_size (all at once if
        None).  A Dask array x gives a lazy Dask array, block by block along
        the batch axis (see _dask_graph)."""
        if _dask.is_dask_array(x):
            import dask
            import dask.array as da

            x, model = self._dask_graph(x)
            meta = da.utils.meta_from_array(x, ndim=1 + len(self.output_shape), dtype=self.dtype)
            return da.concatenate([
                da.from_delayed(dask.delayed(_predict_block, pure=False)(xb, model, batch_size),
                                (n,) + tuple(self.output_shape), dtype=self.dtype, meta=meta)
                for xb, n in zip(x.to_delayed().ravel(), x.chunks[0])])
        x = self._as_input(x)
        if batch_size is None or batch_size >= len(x):
            return self.forward(x, training=False)
        return self._xp.concatenate([self.forward(x[i: i + batch_size]) for i in range(0, len(x), batch_size)])

    def evaluate(self, x, y, batch_size=None, verbose="auto", return_dict=False):
        """Loss (and metrics) on (x, y) in inference mode: the loss if no
        metrics were compiled, else [loss, *metrics], or a dict."""
        self._check_compiled()
        if _dask.is_dask_array(x) or _dask.is_dask_array(y):
            return self._dask_evaluate(x, y, batch_size, return_dict)
        x = self._as_input(x)
        y = _ops.to_module(y, self._xp)
        bs = len(x) if batch_size is None else batch_size
        sums = collections.defaultdict(float)
        self._reset_counting_metrics()
        for i in range(0, len(x), bs):
            out = self.forward(x[i: i + bs], training=False, logits=self._fused)
            loss, _ = self._train_loss(y[i: i + bs], out)
            loss += regularizers.apply(self.layers, with_gradients=False)
            for k, v in self._logs(loss, y[i: i + bs], out, self._fused).items():
                sums[k] += v * len(out)
        logs = {k: v / len(x) for k, v in sums.items()}
        logs.update(self._counting_results())
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def _dask_graph(self, x):
        """For predict / evaluate on a Dask array: x with its example axes
        whole (rechunked along them if needed, lazily; the batch axis keeps
        its chunks), checked like any input, and the model as one graph key
        (a Delayed): a distributed worker receives the weights once, not
        once per task; each thread then runs its own copy (forward keeps
        per-call state in the layers)."""
        import dask

        if not _dask.is_dask_array(x):
            raise TypeError("x must be a Dask array when y is one (the two are read block by block together)")
        if x.ndim == 0:
            raise ValueError("x must have a batch axis (N, ...); received a 0-d array")
        # checks the dtype and the example shape (building the model if needed) on one example
        self._as_input(_backend.get_array_module(x._meta).zeros((1,) + x.shape[1:], x.dtype))
        x = x.rechunk({i: -1 for i in range(1, x.ndim)})
        return x, dask.delayed(self, pure=False, traverse=False)

    def _dask_evaluate(self, x, y, batch_size, return_dict):
        import dask
        import dask.array as da

        if self._counting_results():
            raise TypeError(f"evaluate on Dask arrays averages block results, which the counting metrics "
                            f"({', '.join(self._counting_results())}) cannot be; evaluate NumPy arrays instead")
        x, model = self._dask_graph(x)
        y = y if _dask.is_dask_array(y) else da.from_array(_backend.to_host(y) if not isinstance(y, np.ndarray)
                                                         else y, chunks=-1)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x and y must hold the same number of examples; received {x.shape[0]} and "
                             f"{y.shape[0]}")
        y = y.rechunk((x.chunks[0],) + tuple((n,) for n in y.shape[1:]))
        parts = [dask.delayed(_evaluate_block, pure=False)(model, xb, yb, batch_size)
                 for xb, yb in zip(x.to_delayed().ravel(), y.to_delayed().ravel())]
        sums = collections.defaultdict(float)
        for part in dask.compute(*parts):
            for k, v in part.items():
                sums[k] += v
        logs = {k: v / x.shape[0] for k, v in sums.items()}
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    # ---- description and storage -------------------------------------------------------------

    def count_params(self):
        """Every weight, trainable or not, as Keras counts them (see summary)."""
        return sum(sum(layer.count_weights()) for layer in self.layers)

    def summary(self, print_fn=print):
        """Prints (and returns) Keras's table: layers, output shapes (batch as
        None) and weight counts, then the total, trainable and non-trainable
        counts with their sizes.  Counts are Keras's (kernels in its layouts,
        one recurrent bias; BatchNorm's moving statistics non-trainable); the
        PyTorch layout behind state_dict() holds a second recurrent bias."""
        if not self.built:
            raise RuntimeError("the model is not built yet: give the first layer input_shape= (or start with "
                               "keras.Input), call build(input_shape), or run it on data first")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for i, layer in enumerate(self.layers):
            rows.append((f"{layer.name or f'{type(layer).__name__.lower()}_{i}'} ({type(layer).__name__})",
                         str((None,) + tuple(self._shapes[i])), f"{sum(layer.count_weights()):,}"))
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(3)]
        rule = "-" * sum(widths)
        trainable = sum(layer.count_weights()[0] for layer in self.layers)
        frozen = sum(layer.count_weights()[1] for layer in self.layers)

        def size(n):
            b = n * self.dtype.itemsize
            for unit in ("B", "KB", "MB", "GB"):
                if b < 1024 or unit == "GB":
                    return f"{b:.2f} {unit}"
                b /= 1024

        lines = [f'Model: "{self.name or "sequential"}"', rule,
                 "".join(v.ljust(w) for v, w in zip(rows[0], widths)), "=" * sum(widths)]
        lines += ["".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows[1:]]
        lines += ["=" * sum(widths), f" Total params: {trainable + frozen:,} ({size(trainable + frozen)})",
                  f" Trainable params: {trainable:,} ({size(trainable)})",
                  f" Non-trainable params: {frozen:,} ({size(frozen)})", rule]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self):
        config = {"name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                  "input_shape": list(self.input_shape) if self.built else None,
                  "layers": [{"class": type(layer).__name__, "name": layer.name, "config": layer.get_config()}
                             for layer in self.layers]}
        if self.loss is not None:
            config["compile"] = {"optimizer": self.optimizer.get_config(), "loss": self.loss.get_config(),
                                 "metrics": [m if isinstance(m, str) else m.get_config() for m in self.metrics]}
        return config

    def save(self, path):
        """Writes the architecture (JSON) and every weight to one .npz file
        (loadable with allow_pickle=False; optimizer moments are not saved)."""
        if not self.built:
            raise RuntimeError("build the model (or run it on data) before saving it")
        arrays = {"config": np.array(json.dumps(self.get_config()))}
        for i, layer in enumerate(self.layers):
            for n in layer.param_names + layer.buffer_names:
                arrays[f"layer{i}/{n}"] = _backend.to_host(layer.params[n] if n in layer.params else layer.buffers[n])
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    def state_dict(self):
        """OrderedDict of NumPy arrays with torch.nn.Sequential's keys
        ("0.weight", "0.bias", "2.running_mean", ...)."""
        out = collections.OrderedDict()
        for i, layer in enumerate(self.layers):
            for n in layer.param_names + layer.buffer_names:
                key = n if not isinstance(layer, recurrent._Recurrent) else f"{n}_l0"
                out[f"{i}.{key}"] = _backend.to_host(layer.params[n] if n in layer.params else layer.buffers[n])
        return out

    def load_state_dict(self, state_dict):
        """Copies a PyTorch state_dict (of NumPy arrays, or anything with
        .numpy() / __array__) of the equivalent architecture in: entries are
        matched in order (layer by layer: weight, bias, then running_mean,
        running_var; recurrent weight_ih_l0, weight_hh_l0, bias_ih_l0,
        bias_hh_l0), skipping num_batches_tracked; names may differ."""
        if not self.built:
            raise RuntimeError("build the model (build(input_shape)) before loading weights into it")
        entries = [(k, v) for k, v in state_dict.items() if not k.endswith("num_batches_tracked")]
        targets = [(f"{i}.{n}", a) for i, layer in enumerate(self.layers)
                   for n, a in zip(layer.param_names + layer.buffer_names, self._layer_arrays(layer))]
        if len(entries) != len(targets):
            raise ValueError(f"the state_dict holds {len(entries)} arrays; this model has {len(targets)} "
                             f"({', '.join(k for k, _ in targets)})")
        for (key, value), (name, dst) in zip(entries, targets):
            value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
            if value.shape != dst.shape:
                raise ValueError(f"state_dict entry {key!r} has shape {value.shape}; layer parameter {name} "
                                 f"needs {dst.shape}")
            dst[...] = _ops.to_module(value, _ops.xp_of(dst))


def _layer_from_config(entry):
    cls = _LAYER_CLASSES.get(entry["class"])
    if cls is None:
        raise ValueError(f"unknown layer class {entry['class']!r} in the saved model")
    layer = cls(**entry["config"])
    layer.name = entry.get("name")
    return layer


def load_model(path):
    """The model saved by Sequential.save (compiled again if it was)."""
    with np.load(path, allow_pickle=False) as data:
        config = json.loads(str(data["config"]))
        model = Sequential([_layer_from_config(e) for e in config["layers"]], name=config["name"],
                           seed=config["seed"], dtype=config["dtype"])
        if config["input_shape"] is not None:
            model.build(config["input_shape"])
            for i, layer in enumerate(model.layers):
                for n, dst in zip(layer.param_names + layer.buffer_names, model._layer_arrays(layer)):
                    dst[...] = data[f"layer{i}/{n}"]
    if "compile" in config:
        c = config["compile"]
        model.compile(c["optimizer"], c["loss"], c["metrics"])
    return model


def _example_weights(y, n, sample_weight, class_weight):
    """Each example's loss weight from sample_weight and class_weight (their
    product), or None for neither.  Classes: integer targets, or the argmax
    of one-hot rows; classes class_weight leaves out weigh 1."""
    w = None
    if sample_weight is not None:
        w = np.asarray(_backend.to_host(sample_weight), np.float64).reshape(-1)
        if w.shape[0] != n:
            raise ValueError(f"sample_weight must hold one weight per example ({n}); received {w.shape[0]}")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class: weight}}; received {type(class_weight).__name__}")
        t = np.asarray(_backend.to_host(y))
        classes = t.argmax(axis=-1) if t.ndim > 1 and t.shape[-1] > 1 else np.rint(t.reshape(n, -1)[:, 0])
        cw = np.array([float(class_weight.get(int(c), 1.0)) for c in classes.reshape(n, -1)[:, 0]])
        w = cw if w is None else w * cw
    return w


def _move_channels(x, first):
    """x (N, ..., C) with C moved to axis 1 (first), or back (N, C, ...) ->
    (N, ..., C); a contiguous copy."""
    xp = _ops.xp_of(x)
    return xp.ascontiguousarray(xp.moveaxis(x, -1, 1) if first else xp.moveaxis(x, 1, -1))


# ---- Dask tasks ------------------------------------------------------------------------------

_copies = threading.local()


def _thread_copy(model):
    """This thread's own copy of a model (made once per thread and model)."""
    cache = getattr(_copies, "models", None)
    if cache is None:
        cache = _copies.models = {}
    entry = cache.get(id(model))
    if entry is None or entry[0] is not model:
        entry = cache[id(model)] = (model, copy.deepcopy(model))
    return entry[1]


def _predict_block(block, model, batch_size):
    from .. import _dask, _threads

    n = _dask.task_threads()
    m = _thread_copy(model)
    if n is None:
        return m.predict(block, batch_size)
    with _threads.threads(n):
        return m.predict(block, batch_size)


def _evaluate_block(model, xb, yb, batch_size):
    """The block's loss and metrics, summed over its examples."""
    from .. import _dask, _threads

    m = _thread_copy(model)
    n = _dask.task_threads()
    with _threads.threads(n) if n else contextlib.nullcontext():
        logs = m.evaluate(xb, yb, batch_size, return_dict=True)
    return {k: v * len(xb) for k, v in logs.items()}

