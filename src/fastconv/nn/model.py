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
from . import _tensor, merge
from . import metrics as metrics_module
from ._base import ActivatedLayer, Layer, move_channels

_LAYER_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    L.Dense, L.Activation, L.Flatten, L.Reshape, L.Dropout, L.BatchNorm, L.Conv1D, L.Conv2D, L.Conv2DTranspose,
    L.MaxPool1D, L.MaxPool2D, L.AvgPool1D, L.AvgPool2D, L.GlobalAvgPool2D,
    L.LeakyReLU, L.ELU, L.ReLU, L.Embedding, recurrent.SimpleRNN, recurrent.LSTM, recurrent.GRU,
    L.InputLayer, merge.Add, merge.Subtract, merge.Multiply, merge.Average, merge.Concatenate)}
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


class ModelBase:
    """What Sequential and the functional Model share: compile, fit,
    evaluate, predict, train_on_batch, the weights in Keras's and the
    optimizer's views, devices.  A subclass holds `layers` (each layer
    once) and gives: _inputs(x) (the input arrays, checked, as a list),
    _targets(y) (one target array per output), _run(xs, training, logits)
    (the outputs as a list; logits: per output, leave out the fused
    activation), _run_backward(grads, input_grad), _pack(outputs) (the
    user's structure), _output_layers() (the layer making each output, or
    None where its activation may not be fused into the loss),
    output_names."""

    def _init_state(self, name, seed, dtype):
        self.name = name
        self.seed = seed
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64; received dtype={dtype!r}")
        self._rng = np.random.default_rng(seed)
        self._xp = np  # the parameters' array module: NumPy (CPU) or CuPy (GPU)
        self.optimizer = self.loss = None
        self.metrics = []
        self._heads = []
        self.stop_training = False

    # ---- the Layer protocol, for a model used as a layer (a node of a functional model's graph) -----

    layout = "logical"
    param_names = buffer_names = ()
    input_grad = True  # (False: backward may skip d loss / d input; a graph sets it for the node)

    def __call__(self, x, training=None):
        """On KerasTensors: the model used as a layer of a functional model
        (one input and one output; training as Layer's); its layers keep
        their weights, shared with this model.  On arrays: forward(x)."""
        if _tensor.is_symbolic(x):
            return _tensor.call(self, x, training)
        return self.forward(x, bool(training))

    def kernel_shape(self, shape):
        return tuple(shape)

    def logical_shape(self, shape):
        return tuple(shape)

    def node_state(self):
        return {"model": dict(self.__dict__), "layers": [(layer, layer.node_state()) for layer in self.layers]}

    def restore_node_state(self, state):
        self.__dict__.update(state["model"])
        for layer, s in state["layers"]:
            layer.restore_node_state(s)

    def _build_layer(self, layer, shape):
        """Builds a layer for inputs of shape (N,) + shape, keeping the weights
        of one already built for that shape (trained layers reused in another
        model keep what they learnt)."""
        if layer.built:
            if _shape_key(layer.input_shape) != _shape_key(shape):
                raise ValueError(f"layer {layer.name or type(layer).__name__} was built for inputs of shape "
                                 f"(N,) + {tuple(layer.input_shape)}; here it would receive (N,) + {tuple(shape)}")
            held = layer.__dict__.get("dtype")
            if held is not None and np.dtype(held) != self.dtype:
                raise ValueError(f"layer {layer.name or type(layer).__name__} holds {np.dtype(held).name} weights; "
                                 f"this model computes in {self.dtype.name} (give it dtype={np.dtype(held).name!r})")
            return
        layer.build(shape, self._rng, self.dtype)

    @property
    def trainable(self):
        """False freezes every layer (fit then leaves their weights); True
        (or setting it True) trains them all."""
        return all(layer.trainable for layer in self.weight_layers())

    @trainable.setter
    def trainable(self, value):
        for layer in self.weight_layers():
            layer.trainable = bool(value)

    # ---- compiling ------------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None):
        """optimizer (Keras's default "rmsprop"), loss (required: a name or a
        Loss; with several outputs one for all, a list in output order or a
        dict by output name), metrics (names, computed for each output),
        loss_weights (a list or dict: the training loss is the weighted sum
        of the outputs' losses)."""
        if loss is None:
            raise ValueError("compile() needs a loss (for example loss='mse' or "
                             "'sparse_categorical_crossentropy'): fastconv.nn trains only on a compiled loss")
        names = self.output_names
        per_output = per_name(loss, names, "loss", "output", broadcast=True)
        weights = [1.0] * len(names) if loss_weights is None else per_name(loss_weights, names, "loss_weights",
                                                                             "output", broadcast=True)
        for name, w in zip(names, weights):
            if not isinstance(w, (int, float, np.floating, np.integer)) or isinstance(w, bool) or w < 0:
                raise ValueError(f"loss_weights must be numbers >= 0; received {w!r} for output {name!r}")
        self.optimizer = optimizers.get(optimizer)
        resolved = [losses.get(v) for v in per_output]
        self.loss = resolved[0] if len(names) == 1 else resolved
        self._loss_config = ([v.get_config() for v in resolved], [float(w) for w in weights])
        self.metrics = list(metrics or [])
        self._heads = []
        for k, (loss_k, w) in enumerate(zip(resolved, weights)):
            fns = {}
            for m in self.metrics:
                if m in ("accuracy", "acc"):
                    kind = {"sparse_categorical_crossentropy": "sparse", "categorical_crossentropy": "categorical"}
                    fns["accuracy"] = _accuracy(kind.get(loss_k.name, "binary"))
                elif m in ("mae", "mean_absolute_error"):
                    fns["mae"] = _mae
                elif m in ("mse", "mean_squared_error"):
                    fns["mse"] = _mse
                else:  # Keras's counting metrics (precision, recall, AUC): accumulated over an epoch
                    metric = metrics_module.get(m)
                    if metric is None:
                        raise ValueError(f"metrics may hold 'accuracy', 'mae', 'mse', 'precision', 'recall', 'auc' "
                                         f"or fastconv.nn.metrics objects; received {m!r}")
                    if k:  # each output counts its own
                        metric = copy.deepcopy(metric)
                    name, i = metric.name, 0
                    while name in fns:  # a second AUC() is auc_1, as in Keras
                        i += 1
                        name = f"{metric.name}_{i}"
                    fns[name] = metric
            self._heads.append({"loss": loss_k, "weight": float(w), "metrics": fns})
        self._set_fusion()

    def _set_fusion(self):
        """Cross-entropy after a softmax (sigmoid) trains on the logits, with
        the activation fused into the loss (exact where softmax then log is
        not)."""
        pairs = {("softmax", "categorical_crossentropy"), ("softmax", "sparse_categorical_crossentropy"),
                 ("sigmoid", "binary_crossentropy")}
        for head, layer in zip(self._heads, self._output_layers()):
            act = layer.activation.name if isinstance(layer, ActivatedLayer) else None
            loss = head["loss"]
            head["fused"] = (act, loss.name) in pairs and not loss.from_logits
            head["fused"] = head["fused"] and getattr(layer.activation, "axis", -1) == -1  # (a Softmax over another axis)
            head["train_loss"] = type(loss)(from_logits=True) if head["fused"] else loss
            head["activation"] = layer.activation if head["fused"] else None
        if self._heads:
            self._fused, self._train_loss = self._heads[0]["fused"], self._heads[0]["train_loss"]

    def _check_compiled(self):
        if self.loss is None:
            raise RuntimeError("call compile(optimizer, loss, metrics) before fit / evaluate / train_on_batch")

    @property
    def metrics_names(self):
        """["loss", metric, ...]: the names of evaluate's values."""
        several = len(self._heads) > 1
        names = ["loss"] + ([f"{n}_loss" for n in self.output_names] if several else [])
        for head, name in zip(self._heads, self.output_names):
            names += [f"{name}_{m}" if several else m for m in head["metrics"]]
        return names

    # ---- devices ------------------------------------------------------------------------------

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
        for layer in self.weight_layers():
            for store in (layer.params, layer.buffers, layer.grads):
                for k, v in store.items():
                    store[k] = _ops.to_module(v, xp)
        if self.optimizer is not None:
            for slots in self.optimizer._slots:
                for k, v in slots.items():
                    slots[k] = _ops.to_module(v, xp)
        self._pack_key = None  # re-pack the flat parameters on the new device

    def _check_array(self, x, name):
        """x as an array of the model's module and dtype, with a batch axis."""
        if x is None:
            raise TypeError(f"{name} must be an array of numbers (N, ...); received None")
        if _backend.is_cupy_array(x) and self._xp is np:
            self.to("gpu")
        x = _ops.to_module(x, self._xp)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be an array of real numbers (N, ...); received dtype {x.dtype}")
        if x.ndim == 0:
            raise ValueError(f"{name} must have a batch axis (N, ...); received a 0-d array")
        return x.astype(self.dtype) if x.dtype != self.dtype else x

    # ---- weights --------------------------------------------------------------------------------

    def parameters(self):
        """The trainable arrays (layers with trainable=False left out), in
        state_dict order (updated in place by the optimizers)."""
        return [layer.params[n] for layer in self.weight_layers() if layer.trainable for n in layer.param_names]

    def gradients(self):
        """The gradients of the last backward, matching parameters()."""
        return [layer.grads[n] for layer in self.weight_layers() if layer.trainable for n in layer.param_names]

    @property
    def trainable_variables(self):
        """Keras's name for parameters(): the arrays fit updates."""
        return self.parameters()

    def get_weights(self):
        """Every layer's weights in Keras's layouts and order (kernels (in,
        out) / (kh, kw, in, out), one recurrent bias, BatchNorm's moving
        statistics), host copies; state_dict keeps PyTorch's."""
        return [w for layer in self.weight_layers() for w in layer.get_weights()]

    def set_weights(self, weights):
        """Sets every layer's weights from Keras's layouts (as get_weights)."""
        weights = list(weights)
        counts = [len(layer.keras_weights()) for layer in self.weight_layers()]
        if len(weights) != sum(counts):
            raise ValueError(f"set_weights needs {sum(counts)} arrays; received {len(weights)}")
        at = 0
        for layer, n in zip(self.weight_layers(), counts):
            if n:
                layer.set_weights(weights[at: at + n])
            at += n

    @staticmethod
    def _layer_arrays(layer):
        return [layer.params[n] for n in layer.param_names] + [layer.buffers[n] for n in layer.buffer_names]

    def weight_layers(self):
        """The layers holding weights, each once: a model used as a layer
        (a nested functional Model) stands for its own layers."""
        out, seen = [], set()
        for layer in self.layers:
            for leaf in (layer.weight_layers() if isinstance(layer, ModelBase) else [layer]):
                if id(leaf) not in seen:
                    seen.add(id(leaf))
                    out.append(leaf)
        return out

    def reset_states(self):
        """Zeroes the states every stateful recurrent layer (a Bidirectional
        one's too, a nested model's too) carries between batches, as
        tf.keras's model.reset_states() (Keras 3: each layer's
        reset_state())."""
        for layer in self.weight_layers():
            reset = getattr(layer, "reset_states", None)
            if reset is not None:
                reset()

    reset_state = reset_states

    def count_weights(self):
        """(trainable, non-trainable) weight counts, as Keras counts them."""
        counts = [layer.count_weights() for layer in self.weight_layers()]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def count_params(self):
        """Every weight, trainable or not, as Keras counts them (see summary)."""
        return sum(self.count_weights())

    # ---- training -------------------------------------------------------------------------------

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on (x, y); returns the batch's loss (as Keras:
        the loss alone when nothing else is logged, else the list of the
        metrics_names values; return_dict=True: the logs as a dict).
        sample_weight (one per example) and class_weight ({class: weight},
        from integer or one-hot targets) scale each example's loss, as
        Keras's (the metrics stay unweighted)."""
        self._check_compiled()
        self._reset_counting_metrics()  # standalone: this batch's counts only (Keras's reset_metrics)
        logs = self._train_step(self._inputs(x), self._targets(y), sample_weight, class_weight)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def _train_step(self, xs, ys, sample_weight, class_weight):
        fused = [h["fused"] for h in self._heads]
        outs = self._run(xs, True, fused)
        if class_weight is not None and len(outs) > 1:
            raise ValueError("class_weight applies to a model with one output; this one has "
                             f"{len(outs)} (weigh examples with sample_weight)")
        w = _example_weights(ys[0], len(outs[0]), sample_weight, class_weight)
        total, parts, grads = 0.0, [], []
        for head, y, out in zip(self._heads, ys, outs):
            loss_fn = head["train_loss"]
            loss, grad = loss_fn(y, out) if w is None else loss_fn.weighted(y, out, w)
            if head["weight"] != 1:
                grad = grad * grad.dtype.type(head["weight"])
            total += head["weight"] * loss
            parts.append(loss)
            grads.append(grad)
        if not np.isfinite(total):
            raise FloatingPointError(f"the loss became {total}; lower the learning rate or check the data")
        self._run_backward(grads, input_grad=False)
        total += regularizers.apply(self.weight_layers(), with_gradients=True)  # the layers' penalties (Keras's losses)
        flat, flat_grad = self._packed()
        self._xp.concatenate([g.reshape(-1) for g in self.gradients()], out=flat_grad)
        self.optimizer.step([flat], [flat_grad])  # one update over every parameter
        return self._logs_of(total, parts, ys, outs)

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
            for layer in self.weight_layers():
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

    def _counting_metrics(self):
        return [fn for head in getattr(self, "_heads", []) for fn in head["metrics"].values()
                if isinstance(fn, metrics_module.Metric)]

    def _reset_counting_metrics(self):
        for fn in self._counting_metrics():
            fn.reset_state()

    def _counting_results(self):
        """The accumulated metrics' results (their epoch's, not a mean of per-batch values), by log name."""
        several = len(self._heads) > 1
        return {f"{name}_{m}" if several else m: fn.result()
                for head, name in zip(self._heads, self.output_names) for m, fn in head["metrics"].items()
                if isinstance(fn, metrics_module.Metric)}

    def _logs_of(self, total, parts, ys, outs):
        """The logs of a batch: the (weighted total) loss, then with several
        outputs each output's loss, then the metrics (output-prefixed with
        several outputs), on probabilities where the activation was fused."""
        several = len(self._heads) > 1
        logs = {"loss": total}
        if several:
            logs.update({f"{n}_loss": p for n, p in zip(self.output_names, parts)})
        for k, (head, name) in enumerate(zip(self._heads, self.output_names)):
            if not head["metrics"]:
                continue
            probs = outs[k] if head["activation"] is None else head["activation"].forward(outs[k])
            for m, fn in head["metrics"].items():
                logs[f"{name}_{m}" if several else m] = fn(ys[k], probs)
        return logs

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0):
        """Trains for epochs initial_epoch ... epochs - 1 over (x, y) in
        shuffled mini-batches (Keras's arguments, in its order; batch_size
        None is 32); returns the History (per-epoch loss, metrics, and
        their ``val_`` twins).  validation_split: the last fraction of x
        and y (taken before shuffling, as Keras) held out for validation.
        class_weight / sample_weight: see train_on_batch."""
        self._check_compiled()
        xs, ys = self._inputs(x), self._targets(y)
        n = len(xs[0])
        for t in ys:
            if len(t) != n:
                raise ValueError(f"x and y must hold the same number of examples; received {n} and {len(t)}")
        if sample_weight is not None and len(sample_weight) != n:
            raise ValueError(f"sample_weight must hold one weight per example ({n}); received "
                             f"{len(sample_weight)}")
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; received batch_size={batch_size!r}")
        verbose = 1 if verbose == "auto" else verbose
        if not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch:
            raise ValueError(f"initial_epoch must be an int >= 0; received {initial_epoch!r}")
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be a fraction in [0, 1); received {validation_split!r}")
        val = None
        if validation_split and validation_data is None:
            cut = n - int(n * validation_split)
            if cut == n or cut == 0:
                raise ValueError(f"validation_split={validation_split} of {n} examples leaves no validation "
                                 "or no training example")
            val = ([a[cut:] for a in xs], [t[cut:] for t in ys])
            xs, ys, n = [a[:cut] for a in xs], [t[:cut] for t in ys], cut
            if sample_weight is not None:
                sample_weight = np.asarray(_backend.to_host(sample_weight))[:cut]
        elif validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            val = (self._inputs(validation_data[0], "x_val (validation_data[0])"),
                   self._targets(validation_data[1]))
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
                logs = self._train_step([a[rows] for a in xs], [t[rows] for t in ys], sw, class_weight)
                for k, v in logs.items():
                    sums[k] += v * len(idx)
                running = {k: v / min((step + 1) * batch_size, n) for k, v in sums.items()}
                for cb in cbs:
                    cb.on_batch_end(step, running)
            logs = {k: v / n for k, v in sums.items()}
            logs.update(self._counting_results())
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate(*val, batch_size).items()})
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
        None); several outputs: a list (or a dict, as the outputs were given)."""
        xs = self._inputs(x)
        n = len(xs[0])
        if batch_size is None or batch_size >= n:
            return self._pack(self._run(xs, False, None))
        parts = [self._run([a[i: i + batch_size] for a in xs], False, None) for i in range(0, n, batch_size)]
        return self._pack([self._xp.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))])

    def evaluate(self, x, y, batch_size=None, verbose="auto", return_dict=False):
        """Loss (and metrics) on (x, y) in inference mode: the loss if no
        metrics were compiled (and one output), else [loss, ...], or a dict."""
        self._check_compiled()
        logs = self._evaluate(self._inputs(x), self._targets(y), batch_size)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def _evaluate(self, xs, ys, batch_size):
        n = len(xs[0])
        bs = n if batch_size is None else batch_size
        fused = [h["fused"] for h in self._heads]
        sums = collections.defaultdict(float)
        self._reset_counting_metrics()
        penalty = regularizers.apply(self.weight_layers(), with_gradients=False)
        for i in range(0, n, bs):
            bx, by = [a[i: i + bs] for a in xs], [t[i: i + bs] for t in ys]
            outs = self._run(bx, False, fused)
            parts = [h["train_loss"](t, o)[0] for h, t, o in zip(self._heads, by, outs)]
            total = sum(h["weight"] * p for h, p in zip(self._heads, parts)) + penalty
            for k, v in self._logs_of(total, parts, by, outs).items():
                sums[k] += v * len(outs[0])
        logs = {k: v / n for k, v in sums.items()}
        logs.update(self._counting_results())
        return logs

    # ---- description ------------------------------------------------------------------------------

    def _summary_text(self, title, rows, print_fn):
        """Keras's summary table of rows (the header first), then the total,
        trainable and non-trainable weight counts with their sizes."""
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(len(rows[0]))]
        rule = "-" * sum(widths)
        trainable, frozen = self.count_weights()

        def size(n):
            b = n * self.dtype.itemsize
            for unit in ("B", "KB", "MB", "GB"):
                if b < 1024 or unit == "GB":
                    return f"{b:.2f} {unit}"
                b /= 1024

        lines = [f'Model: "{title}"', rule, "".join(v.ljust(w) for v, w in zip(rows[0], widths)).rstrip(),
                 "=" * sum(widths)]
        lines += ["".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows[1:]]
        lines += ["=" * sum(widths), f" Total params: {trainable + frozen:,} ({size(trainable + frozen)})",
                  f" Trainable params: {trainable:,} ({size(trainable)})",
                  f" Non-trainable params: {frozen:,} ({size(frozen)})", rule]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def _compile_config(self):
        if self.loss is None:
            return {}
        loss_configs, weights = self._loss_config
        loss = loss_configs[0] if len(loss_configs) == 1 else loss_configs
        metrics = [m if isinstance(m, str) else m.get_config() for m in self.metrics]
        return {"compile": {"optimizer": self.optimizer.get_config(), "loss": loss, "metrics": metrics,
                            "loss_weights": weights if len(weights) > 1 else None}}

    def _write(self, path, config, layers):
        """One .npz: config (JSON) and every array of the given layers, keyed layer{i}/{name}."""
        arrays = {"config": np.array(json.dumps(config))}
        for i, layer in enumerate(layers):
            for n in layer.param_names + layer.buffer_names:
                arrays[f"layer{i}/{n}"] = _backend.to_host(layer.params[n] if n in layer.params else layer.buffers[n])
        with open(path, "wb") as f:
            np.savez(f, **arrays)


class Sequential(ModelBase):
    """Layers applied in order.  seed fixes the weight initialisation, the
    dropout masks and the shuffling, so a run repeats exactly (with the same
    thread count); by default it is drawn from keras.utils.set_random_seed's
    generator (fresh entropy if that was never called), as Model's.  dtype
    is the parameters' (float32 or float64)."""

    output_names = ("output",)

    def __init__(self, layers=None, name=None, seed=None, dtype="float32"):
        # seed None: drawn from keras.utils.set_random_seed's generator once it was called, as Model's
        self._init_state(name, _tensor.next_model_seed() if seed is None else seed, dtype)
        self.layers = []
        self._shapes = []
        self.built = False
        self.input_shape = None
        self._fused = False
        for layer in layers or []:
            self.add(layer)

    # ---- building ---------------------------------------------------------------------------

    def add(self, layer):
        if isinstance(layer, _tensor.KerasTensor) and layer.is_input:  # keras.Input(shape)
            layer = layer.node.layer
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

    def _build_logical(self, layer, shape):
        """Builds a layer for inputs of logical shape (N,) + shape (the model's
        data layout) and returns its output's logical shape: an image layer
        in channels_last format is built, and runs, on the channel axis moved
        first."""
        self._build_layer(layer, layer.kernel_shape(shape))
        return layer.logical_shape(layer.output_shape)

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

    def _output_layers(self):
        return [self.layers[-1] if self.layers else None]

    # ---- the low-level path ---------------------------------------------------------------------

    def _as_input(self, x, name="x"):
        x = self._check_array(x, name)
        if not self.built:
            self.build(x.shape[1:])
        elif x.shape[1:] != self.input_shape:
            raise ValueError(f"the model takes inputs of shape (N,) + {self.input_shape}; received {x.shape}")
        return x

    def _inputs(self, x, name="x"):
        return [self._as_input(x, name)]

    def _targets(self, y):
        return [_ops.to_module(y, self._xp)]

    def _run(self, xs, training, logits):
        return [self.forward(xs[0], training, bool(logits and logits[0]))]

    def _run_backward(self, grads, input_grad):
        return self.backward(grads[0], input_grad)

    def _pack(self, outs):
        return outs[0]

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

    def symbolic_output_shape(self, shape):
        """The output shape for inputs of shape (None,) + shape: the model
        used as a layer of a functional model (built here if it was not)."""
        if not self.built:
            self.build(shape)
        elif tuple(shape) != self.input_shape:
            raise ValueError(f"model {self.name!r} takes inputs of shape (None,) + {self.input_shape}; it was "
                             f"called on (None,) + {tuple(shape)}")
        return tuple(self.output_shape)

    def backward(self, grad_output, input_grad=None):
        """Gradients of the last forward: fills each layer's grads from
        d loss / d output (of the logits, if the forward returned logits),
        and returns d loss / d input (None with input_grad=False, which
        saves the first layer that work; None: the attribute input_grad,
        which a functional model using this one as a layer sets)."""
        if grad_output is None:
            raise TypeError("grad_output must be an array (the gradient of the loss by the output); received None")
        g = self._xp.asarray(_ops.to_module(grad_output, self._xp), self.dtype)
        self.layers[0].input_grad = bool(self.input_grad if input_grad is None else input_grad)
        moves = getattr(self, "_moves", {})
        if len(self.layers) in moves:
            g = _move_channels(g, not moves[len(self.layers)])
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.layers[i].backward(g)
            if i in moves and g is not None:
                g = _move_channels(g, not moves[i])
        return g

    # ---- Dask, description and storage ---------------------------------------------------------

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
        return super().predict(x, batch_size, verbose)

    def evaluate(self, x, y, batch_size=None, verbose="auto", return_dict=False):
        """Loss (and metrics) on (x, y) in inference mode: the loss if no
        metrics were compiled, else [loss, metric, ...], or a dict (Dask arrays:
        block by block)."""
        self._check_compiled()
        if _dask.is_dask_array(x) or _dask.is_dask_array(y):
            return self._dask_evaluate(x, y, batch_size, return_dict)
        return super().evaluate(x, y, batch_size, verbose, return_dict)

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

        if self._counting_metrics():
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
        return self._summary_text(self.name or "sequential", rows, print_fn)

    def get_config(self):
        config = {"name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                  "input_shape": list(self.input_shape) if self.built else None,
                  "layers": [{"class": type(layer).__name__, "name": layer.name, "config": layer.get_config()}
                             for layer in self.layers]}
        config.update(self._compile_config())
        return config

    def save(self, path):
        """Writes the architecture (JSON) and every weight to one .npz file
        (loadable with allow_pickle=False; optimizer moments are not saved)."""
        if not self.built:
            raise RuntimeError("build the model (or run it on data) before saving it")
        self._write(path, self.get_config(), self.layers)

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


def sequential_from_config(config):
    """The Sequential model of a saved config, built if it was, with fresh weights."""
    model = Sequential([_layer_from_config(e) for e in config["layers"]], name=config["name"],
                       seed=config["seed"], dtype=config["dtype"])
    if config["input_shape"] is not None:
        model.build(config["input_shape"])
    return model


def load_model(path):
    """The model saved by Sequential.save (compiled again if it was)."""
    with np.load(path, allow_pickle=False) as data:
        config = json.loads(str(data["config"]))
        model = sequential_from_config(config)
        if config["input_shape"] is not None:
            for i, layer in enumerate(model.layers):
                for n, dst in zip(layer.param_names + layer.buffer_names, model._layer_arrays(layer)):
                    dst[...] = data[f"layer{i}/{n}"]
    if "compile" in config:
        c = config["compile"]
        model.compile(c["optimizer"], c["loss"], c["metrics"], c.get("loss_weights"))
    return model


def per_name(value, names, what, kind, broadcast=False):
    """value matched to names (the model's inputs or outputs): a dict by
    name, a list / tuple in order, or one value: given once for every name
    (broadcast), else for a model of one input (output) only.  With
    broadcast, a dict with a "name" key none of whose keys is a name is one
    value (a loss's saved config)."""
    if isinstance(value, dict) and (not broadcast or "name" not in value or set(value) & set(names)):
        if sorted(value) != sorted(names):
            raise ValueError(f"{what} as a dict needs the keys {names} (one per {kind}); received {sorted(value)}")
        return [value[n] for n in names]
    listed = isinstance(value, (list, tuple)) and (
        broadcast or len(names) > 1 or (len(value) == 1 and np.ndim(value[0]) > 0))
    if listed:
        if len(value) != len(names):
            raise ValueError(f"{what} needs one entry per {kind}: the model has {len(names)} {kind}s ({names}); "
                             f"received a list of {len(value)}")
        return list(value)
    if not broadcast and len(names) != 1:
        raise ValueError(f"{what}: the model has {len(names)} {kind}s ({names}); received one array (give a list "
                         "or a dict)")
    return [value] * len(names)


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


_move_channels = move_channels


def _shape_key(shape):
    """A layer's input shape as a comparable tuple (a tuple of tuples for a
    layer of several inputs)."""
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return tuple(tuple(s) for s in shape)
    return tuple(shape)


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

