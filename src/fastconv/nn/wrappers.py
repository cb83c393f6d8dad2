"""Keras's layer wrappers and function layer: TimeDistributed(layer),
Bidirectional(rnn, merge_mode), Lambda(function).

A wrapper owns its inner layers' weights: its params / grads / buffers are
theirs (TimeDistributed: the very dicts; Bidirectional: the two directions'
arrays under PyTorch's bidirectional names, weight_ih_l0 ...
weight_ih_l0_reverse ...), so a model's optimizer, save / load_model and
state_dict see them as any layer's."""
import numpy as np

from . import _ops
from ._base import Layer
from .recurrent import _Recurrent


def _layer_entry(layer):
    return {"class": type(layer).__name__, "name": layer.name, "config": layer.get_config()}


def _nn_layer_classes():
    """fastconv.nn's public layer classes by name (every subclass of Layer the package defines)."""
    found, todo = {}, [Layer]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("fastconv.nn.") and not sub.__name__.startswith("_"):
                found.setdefault(sub.__name__, sub)
    return found


def _as_layer(layer, name):
    """A layer, or one rebuilt from its saved entry {"class", "name", "config"}."""
    if isinstance(layer, dict):
        cls = _nn_layer_classes().get(layer.get("class"))
        if cls is None:
            raise ValueError(f"unknown layer class {layer.get('class')!r} in the saved {name}")
        rebuilt = cls(**layer["config"])
        rebuilt.name = layer.get("name")
        return rebuilt
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a fastconv.nn layer; received {type(layer).__name__}")
    return layer


def _move(x, first):
    xp = _ops.xp_of(x)
    return xp.ascontiguousarray(xp.moveaxis(x, -1, 1) if first else xp.moveaxis(x, 1, -1))


class _Wrapper(Layer):
    """A layer running inner layers: what one call left on them (their
    caches for the backward) is part of its node state, so a wrapper shared
    by several nodes of a graph backpropagates each node with its own."""

    def _inner(self):
        return ()

    def node_state(self):
        return {"own": dict(self.__dict__), "inner": [layer.node_state() for layer in self._inner()]}

    def restore_node_state(self, state):
        self.__dict__.update(state["own"])
        for layer, s in zip(self._inner(), state["inner"]):
            layer.restore_node_state(s)


class TimeDistributed(_Wrapper):
    """keras.layers.TimeDistributed: the same layer (one set of weights)
    applied to every step of (N, T, ...), as one batch of N * T examples."""

    min_rank = 2

    def __init__(self, layer, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.layer = _as_layer(layer, "layer")
        self.params, self.grads, self.buffers = self.layer.params, self.layer.grads, self.layer.buffers

    def _inner(self):
        return (self.layer,)

    @property
    def param_names(self):
        return self.layer.param_names

    @property
    def buffer_names(self):
        return self.layer.buffer_names

    def _moves(self, step_shape):
        """True when the inner layer runs on the channel axis moved first (a channels_last image layer)."""
        return self.layer.layout == "channels_first" and len(step_shape) >= 2

    def _inner_shape(self, input_shape):
        """The shape of one step as the inner layer's kernels see it (channel axis first where it moves)."""
        step = tuple(input_shape[1:])
        return (step[-1],) + step[:-1] if self._moves(step) else step

    def compute_output_shape(self, input_shape):
        self.check_input_shape(input_shape)
        inner = self._inner_shape(input_shape)
        if self.layer.built:  # (a symbolic call before build: the inner layer's shape from its own rule)
            out = tuple(self.layer.output_shape)
        else:
            self.layer.check_input_shape(inner)
            out = tuple(self.layer.compute_output_shape(inner))
        if self._moves(input_shape[1:]) and len(out) >= 2:
            out = out[1:] + out[:1]
        return (input_shape[0],) + out

    def build(self, input_shape, rng, dtype):
        self.check_input_shape(input_shape)
        inner = self._inner_shape(input_shape)
        if self.layer.built:
            if tuple(self.layer.input_shape) != inner:
                raise ValueError(f"TimeDistributed: the wrapped layer was built for steps of shape "
                                 f"{self.layer.input_shape}; here it would receive {inner}")
        else:
            self.layer.build(inner, rng, dtype)
        super().build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        n, t = x.shape[:2]
        steps = _ops.xp_of(x).ascontiguousarray(x).reshape((n * t,) + x.shape[2:])
        moved = self._moves(x.shape[2:])
        if moved:
            steps = _move(steps, True)
        y = self.layer.forward(steps, training)
        self._moved_out = moved and y.ndim >= 3
        if self._moved_out:
            y = _move(y, False)
        return y.reshape((n, t) + y.shape[1:])

    def backward(self, dy):
        n, t = dy.shape[:2]
        g = _ops.xp_of(dy).ascontiguousarray(dy).reshape((n * t,) + dy.shape[2:])
        if self._moved_out:
            g = _move(g, True)
        self.layer.input_grad = self.input_grad
        dx = self.layer.backward(g)
        if dx is None:
            return None
        if self._moves(self.input_shape[1:]):
            dx = _move(dx, False)
        return dx.reshape((n, t) + dx.shape[1:])

    def keras_weights(self):
        return self.layer.keras_weights()

    def load_keras_weights(self, weights):
        self.layer.load_keras_weights(weights)

    def regularization_terms(self):
        terms = getattr(self.layer, "regularization_terms", None)
        return terms() if terms is not None else []

    def get_config(self):
        return {"layer": _layer_entry(self.layer)}


class Bidirectional(_Wrapper):
    """keras.layers.Bidirectional: a recurrent layer reading the sequence
    forwards and a copy of it (or backward_layer) reading it backwards
    (go_backwards flipped), their outputs merged by merge_mode: "concat"
    (Keras's default, forward units first), "sum", "mul" or "ave".  With
    return_sequences the backward layer's outputs are put back in time
    order before merging, as Keras's.  Weights: Keras's order (the forward
    layer's, then the backward one's); parameters named as PyTorch's
    bidirectional modules (weight_ih_l0, ..., weight_ih_l0_reverse, ...)."""

    _MERGE = ("concat", "sum", "mul", "ave")

    def __init__(self, layer, merge_mode="concat", backward_layer=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.forward_layer = _as_layer(layer, "layer")
        if not isinstance(self.forward_layer, _Recurrent):
            raise TypeError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU); received "
                            f"{type(self.forward_layer).__name__}")
        if merge_mode not in self._MERGE:
            raise ValueError(f"merge_mode must be one of {self._MERGE} (None, Keras's list of two outputs: a "
                             f"fastconv.nn layer gives one output); received merge_mode={merge_mode!r}")
        self.merge_mode = merge_mode
        if backward_layer is None:
            config = dict(self.forward_layer.get_config(), go_backwards=not self.forward_layer.go_backwards)
            backward_layer = type(self.forward_layer)(**config)
            self._own_backward = True
        else:
            backward_layer = _as_layer(backward_layer, "backward_layer")
            self._own_backward = False
            if not isinstance(backward_layer, _Recurrent):
                raise TypeError(f"backward_layer must be a recurrent layer; received {type(backward_layer).__name__}")
            if backward_layer.return_sequences != self.forward_layer.return_sequences:
                raise ValueError("backward_layer must have the forward layer's return_sequences")
        self.backward_layer = backward_layer
        self.return_sequences = self.forward_layer.return_sequences

    def _directions(self):
        return ((self.forward_layer, "_l0"), (self.backward_layer, "_l0_reverse"))

    def _inner(self):
        return (self.forward_layer, self.backward_layer)

    @property
    def param_names(self):
        return tuple(n + suffix for layer, suffix in self._directions() for n in layer.param_names)

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            return f[:-1] + (f[-1] + b[-1],)
        if f != b:
            raise ValueError(f"merge_mode={self.merge_mode!r} needs both directions' outputs of one shape; "
                             f"received {f} and {b}")
        return f

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        for layer, _ in self._directions():
            if not layer.built:
                layer.build(input_shape, rng, dtype)
        self._gather()

    def _gather(self):
        # in place: a TimeDistributed around this layer holds these very dicts
        self.params.clear()
        self.params.update({n + s: layer.params[n] for layer, s in self._directions() for n in layer.param_names})

    def _scatter(self):
        """The inner layers' params from ours (the model may have replaced our arrays with views of its own)."""
        for layer, suffix in self._directions():
            for n in layer.param_names:
                layer.params[n] = self.params[n + suffix]

    def forward(self, x, training=False):
        self._scatter()
        yf = self.forward_layer.forward(x, training)
        yb = self.backward_layer.forward(x, training)
        if self.return_sequences:
            yb = yb[:, ::-1]
        self._yf, self._yb = yf, yb
        xp = _ops.xp_of(x)
        if self.merge_mode == "concat":
            return xp.concatenate([yf, yb], axis=-1)
        if self.merge_mode == "sum":
            return yf + yb
        if self.merge_mode == "mul":
            return yf * yb
        return (yf + yb) * yf.dtype.type(0.5)

    def backward(self, dy):
        if self.merge_mode == "concat":
            units = self._yf.shape[-1]
            dyf, dyb = dy[..., :units], dy[..., units:]
        elif self.merge_mode == "sum":
            dyf = dyb = dy
        elif self.merge_mode == "mul":
            dyf, dyb = dy * self._yb, dy * self._yf
        else:
            dyf = dyb = dy * dy.dtype.type(0.5)
        xp = _ops.xp_of(dy)
        if self.return_sequences:
            dyb = dyb[:, ::-1]
        dx = self.forward_layer.backward(xp.ascontiguousarray(dyf))
        dx = dx + self.backward_layer.backward(xp.ascontiguousarray(dyb))
        self.grads.clear()
        self.grads.update({n + s: layer.grads[n] for layer, s in self._directions() for n in layer.param_names})
        return dx

    def reset_states(self):
        for layer, _ in self._directions():
            layer.reset_states()

    reset_state = reset_states

    def keras_weights(self):
        self._check_built("get_weights")
        self._scatter()
        return self.forward_layer.keras_weights() + self.backward_layer.keras_weights()

    def load_keras_weights(self, weights):
        self._scatter()
        n = len(self.forward_layer.keras_weights())
        self.forward_layer.load_keras_weights(weights[:n])
        self.backward_layer.load_keras_weights(weights[n:])

    def regularization_terms(self):
        self._scatter()
        return [(reg, w, tuple(n + suffix for n in names)) for layer, suffix in self._directions()
                for reg, w, names in layer.regularization_terms()]

    def get_config(self):
        return {"layer": _layer_entry(self.forward_layer), "merge_mode": self.merge_mode,
                "backward_layer": None if self._own_backward else _layer_entry(self.backward_layer)}


class Lambda(Layer):
    """keras.layers.Lambda: function(x) as a layer (a NumPy function of the
    batch).  fastconv.nn has no autograd, so training through it needs
    backward=, a function (x, dy) -> dx (the gradient by the input from the
    gradient by the output); without one, its backward (a training step
    through it) is a TypeError saying so.  output_shape (one example's, or
    a function of the input shape) is found by calling function on one
    example of zeros when not given.  Its function cannot be saved in the
    .npz (no pickle): save() is a TypeError."""

    def __init__(self, function, output_shape=None, backward=None, arguments=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not callable(function):
            raise TypeError(f"function must be callable; received function={function!r}")
        if backward is not None and not callable(backward):
            raise TypeError(f"backward must be callable (x, dy) -> dx or None; received backward={backward!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"arguments must be a dict of keyword arguments; received arguments={arguments!r}")
        self.function, self.backward_function = function, backward
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            return tuple(self._output_shape(tuple(input_shape)))
        if self._output_shape is not None:
            return tuple(self._output_shape)
        y = self._call(np.zeros((1,) + tuple(input_shape), getattr(self, "dtype", np.float32)))
        return tuple(y.shape[1:])

    def build(self, input_shape, rng, dtype):
        self.dtype = np.dtype(dtype)
        super().build(input_shape, rng, dtype)

    def _one_input(self, inputs):
        if isinstance(inputs, (list, tuple)):
            raise TypeError("Lambda takes one tensor (fastconv.nn's Lambda has one input); received a list of "
                            f"{len(inputs)}: join them first (Concatenate) or use a merge layer")

    def symbolic_output_shape(self, shape):
        self._one_input(shape if shape and isinstance(shape[0], (tuple, list)) else None)
        return super().symbolic_output_shape(shape)

    def call_eager(self, x, training=False):
        self._one_input(x)
        return super().call_eager(x, training)

    def _call(self, x):
        y = self.function(x, **self.arguments)
        if not hasattr(y, "shape") or not hasattr(y, "dtype"):
            raise TypeError(f"Lambda's function must return an array; it returned {type(y).__name__}")
        return y

    def forward(self, x, training=False):
        self._x = x
        return self._call(x)

    def backward(self, dy):
        if self.backward_function is None:
            raise TypeError(f"Lambda({getattr(self.function, '__name__', 'function')}) has no gradient: "
                            "fastconv.nn has no autograd; give Lambda(function, backward=lambda x, dy: dx) to train "
                            "through it")
        dx = self.backward_function(self._x, dy)
        if getattr(dx, "shape", None) != self._x.shape:
            raise ValueError(f"Lambda's backward must return the input's shape {self._x.shape}; returned "
                             f"{getattr(dx, 'shape', type(dx).__name__)}")
        return dx

    def get_config(self):
        raise TypeError("a Lambda layer's function cannot be saved (fastconv.nn's .npz holds no code and no "
                        "pickle); rebuild the model in code and load its weights with set_weights")

    def __repr__(self):
        return f"Lambda({getattr(self.function, '__name__', 'function')})"
