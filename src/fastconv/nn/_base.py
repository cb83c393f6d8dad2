"""The Layer protocol and weight initialisers.

A layer normalises its hyper-parameters in __init__, creates its weights in
build(input_shape, rng, dtype) from the shape of one example (no batch axis),
and runs fastconv's functional kernels in forward(x, training) and
backward(dy).  forward keeps what backward needs; backward returns the
gradient with respect to the layer's input and stores the parameter
gradients in self.grads (same keys as self.params, overwritten each call)."""
import abc
import math

import numpy as np

from .. import _backend, _validation
from .._ext import _fastconv as _core
from . import _ops, _tensor, activations


class Layer(abc.ABC):
    # parameter names in the order of the equivalent PyTorch module's
    # state_dict (weight, bias, ...); buffers are saved but not trained
    param_names = ()
    buffer_names = ()
    # the input's rank without the batch axis: exactly `rank` (when set), at least `min_rank`
    rank = None
    min_rank = 0
    # how the layer reads its input inside a model: "logical" (as the model's data is laid out),
    # "channels_first" (an image layer in channels_last format: its kernels run on the channel axis
    # moved to axis 1, and so is its output), or "any" (elementwise: either)
    layout = "logical"

    def __init__(self, name=None, *, input_shape=None, trainable=True):
        """input_shape (Keras): the shape of one example (no batch axis), so a
        model starting with this layer is built (and can print its summary)
        before it sees data.  trainable=False freezes the layer's weights
        (fit leaves them; BatchNorm then runs in inference mode)."""
        self.name = name
        self.declared_input_shape = None if input_shape is None else _validation.shape_tuple(
            input_shape, len(input_shape) if isinstance(input_shape, (tuple, list)) else 1, "input_shape")
        self.trainable = bool(trainable)
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.built = False
        self.input_shape = None
        self.output_shape = None
        # False: backward may skip the gradient with respect to the input
        # (the first layer of a model being trained) and return None
        self.input_grad = True

    # -- building ---------------------------------------------------------------------------

    def check_input_shape(self, input_shape):
        """ValueError naming the layer when inputs of shape (N,) + input_shape
        do not have the rank it takes."""
        n = len(input_shape)
        if (self.rank is not None and n != self.rank) or n < self.min_rank:
            want = f"{self.rank}" if self.rank is not None else f"at least {self.min_rank}"
            raise ValueError(f"{type(self).__name__} takes inputs with {want} axes after the batch axis; "
                             f"received an input of shape (N,) + {tuple(input_shape)}")

    def build(self, input_shape, rng, dtype):
        self.check_input_shape(input_shape)
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.dtype = np.dtype(dtype)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # -- calling (Keras): on symbolic tensors (the functional API) or on arrays ---------------

    def __call__(self, inputs, training=None):
        """On keras.Input / layer outputs (KerasTensor): records the call
        in the graph and returns the output KerasTensor (see
        fastconv.nn.Model); training=True / False fixes the node's mode
        (False: a BatchNorm that keeps its statistics while the model
        trains), None follows the model's.  On arrays (N, ...), laid out as
        the model's data (channels last for images in that format): builds
        the layer on the first call and returns its output (inference mode
        unless training=True)."""
        if _tensor.is_symbolic(inputs):
            return _tensor.call(self, inputs, training)
        return self.call_eager(inputs, bool(training))

    def kernel_shape(self, shape):
        """The input shape the layer's kernels see for data of logical
        shape (N,) + shape: the channel axis first for an image layer in
        channels_last format."""
        shape = tuple(shape)
        if self.layout == "channels_first" and len(shape) >= 2:
            return (shape[-1],) + shape[:-1]
        return shape

    def logical_shape(self, out):
        """The logical shape of an output of kernel shape (N,) + out."""
        out = tuple(out)
        if self.layout == "channels_first" and len(out) >= 2:
            return out[1:] + (out[0],)
        return out

    def symbolic_output_shape(self, shape):
        """The logical output shape for inputs of logical shape (N,) +
        shape, checked against the shape the layer was built (or first
        called) with: one layer object holds one set of weights."""
        kshape = self.kernel_shape(shape)
        known = self.input_shape if self.built else self.__dict__.get("_call_shape")
        if known is not None and tuple(known) != kshape:
            raise ValueError(f"layer {self.name or type(self).__name__} takes inputs of shape (None,) + "
                             f"{self.logical_shape(known)}; it was called on (None,) + {tuple(shape)}")
        if self.built:
            return self.logical_shape(self.output_shape)
        self.check_input_shape(kshape)
        out = self.compute_output_shape(kshape)
        self._call_shape = kshape
        return self.logical_shape(out)

    def call_eager(self, x, training=False):
        """The layer's output for the array x (logical layout), building
        the layer on the first call (with the generator keras.utils.
        set_random_seed seeds)."""
        xp = _ops.xp_of(x)
        x = xp.asarray(x)
        if x.dtype.kind not in "biuf" or x.ndim == 0:
            raise TypeError(f"{type(self).__name__} takes an array of real numbers (N, ...); received "
                            f"{x.dtype} of shape {x.shape}")
        if not self.built:
            dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
            self.build(self.kernel_shape(x.shape[1:]), _tensor.default_rng(), dtype)
        if getattr(self, "logits", False):  # (left on by a model's training step that fused the activation)
            self.logits = False
        moved = self.layout == "channels_first" and x.ndim >= 3
        x = move_channels(x, True) if moved else x
        y = self.forward(xp.asarray(x, self.dtype), training)
        return move_channels(y, False) if moved and y.ndim >= 3 else y

    def node_state(self):
        """What one forward left on the layer for its backward (a shallow
        copy of its attributes): a graph that calls one layer at several
        nodes keeps one per node and puts it back before that node's
        backward."""
        return dict(self.__dict__)

    def restore_node_state(self, state):
        self.__dict__.update(state)

    # -- running -------------------------------------------------------------------------------

    @abc.abstractmethod
    def forward(self, x, training=False):
        """The layer's output for x (N, ...); keeps what backward needs."""

    @abc.abstractmethod
    def backward(self, dy):
        """d loss / d input from d loss / d output; fills self.grads."""

    # -- description ---------------------------------------------------------------------------

    def get_config(self):
        """The constructor's arguments (JSON-able), to rebuild the layer."""
        return {}

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    def count_weights(self):
        """(trainable, non-trainable) weight counts as Keras counts them (its
        layouts: one recurrent bias): a frozen layer's parameters and every
        layer's buffers (BatchNorm's moving statistics) are non-trainable."""
        if not self.built:
            return 0, 0
        total = int(sum(w.size for w in self.keras_weights()))
        buffers = int(sum(b.size for b in self.buffers.values()))
        return (total - buffers, buffers) if self.trainable else (0, total)

    # -- Keras's weights -------------------------------------------------------------------------

    def get_weights(self):
        """The layer's weights in Keras's layouts and order (see keras_weights)."""
        return [_backend.to_host(a).copy() for a in self.keras_weights()]

    def set_weights(self, weights):
        """Sets the weights from Keras's layouts and order (as get_weights returns them)."""
        self._check_built("set_weights")
        weights = [np.asarray(_backend.to_host(w)) for w in weights]
        expected = self.keras_weights()
        if len(weights) != len(expected):
            raise ValueError(f"{type(self).__name__}.set_weights needs {len(expected)} arrays (Keras's order); "
                             f"received {len(weights)}")
        for i, (w, e) in enumerate(zip(weights, expected)):
            if w.shape != e.shape:
                raise ValueError(f"{type(self).__name__}.set_weights: array {i} must have shape {e.shape}; "
                                 f"received {w.shape}")
        self.load_keras_weights(weights)

    def keras_weights(self):
        """The weights as Keras lays them out (host arrays); the default:
        parameters then buffers, as stored.  Layers whose layout differs
        from PyTorch's (which state_dict keeps) override this and
        load_keras_weights."""
        return [self.params[n] for n in self.param_names] + [self.buffers[n] for n in self.buffer_names]

    def load_keras_weights(self, weights):
        for dst, w in zip([self.params[n] for n in self.param_names] + [self.buffers[n] for n in self.buffer_names],
                          weights):
            dst[...] = _ops.to_module(w.astype(dst.dtype), _ops.xp_of(dst))

    def _check_built(self, what):
        if not self.built:
            raise ValueError(f"{type(self).__name__}.{what}: the layer has no weights until it is built "
                             "(call the model on data, or give the first layer input_shape=)")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ActivatedLayer(Layer):
    """A layer with an optional activation applied to its output."""

    def __init__(self, activation=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.activation = activations.get(activation)
        # set by Sequential while it trains with the activation fused into the
        # loss (softmax / sigmoid with cross-entropy): output the logits
        self.logits = False

    def _activate(self, z, owned=False):
        """The activation of z; owned: z is this layer's own fresh output,
        activated in place when the backward needs only the output."""
        self._z = z
        kind = self.activation.kind
        if self.logits:
            self._a = z
        elif owned and kind not in (None, _core.ACT_IDENTITY) and z.flags.c_contiguous:
            self._a = _ops.activation_forward(kind, z, out=z)
        else:
            self._a = self.activation.forward(z)
        return self._a

    def _deactivate(self, dy):
        return dy if self.logits else self.activation.backward(dy, self._z, self._a)

    def _deactivate_with_bias(self, dy, layout):
        """(d loss / d z, its sum per channel of layout (outer, channels,
        inner)), in one pass where the activation allows."""
        kind = _core.ACT_IDENTITY if self.logits else self.activation.kind
        if kind is not None:
            return activations.backward_from_output(kind, dy.reshape(self._a.shape), self._a, layout, True)
        dz = self._deactivate(dy)
        o, c, i = layout
        return dz, dz.reshape(o, c, i).sum(axis=(0, 2))

    def get_config(self):
        name = self.activation.name
        return {"activation": None if name == "identity" else self.activation.get_config()}


def move_channels(x, first):
    """x (N, ..., C) with C moved to axis 1 (first), or back (N, C, ...) ->
    (N, ..., C); a contiguous copy."""
    xp = _ops.xp_of(x)
    return xp.ascontiguousarray(xp.moveaxis(x, -1, 1) if first else xp.moveaxis(x, 1, -1))


# ---- hyper-parameter checks ------------------------------------------------------------------


def positive_int(value, name):
    value = _validation.as_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1; received {name}={value}")
    return value


def int_tuple(value, n, name):
    return _validation.int_tuple(value, n, name, 1)


def padding_arg(padding, n):
    """'valid', 'same' or ints (symmetric, PyTorch style)."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid', 'same' or an int / tuple; received padding={padding!r}")
        return padding
    return _validation.int_tuple(padding, n, "padding", 0)


# ---- initialisers ----------------------------------------------------------------------------


def initialise(kind, shape, fan_in, fan_out, rng, dtype):
    """glorot_uniform (Keras' default), he_uniform, he_normal, torch (PyTorch's
    default: U(+-1/sqrt(fan_in))), orthogonal, zeros, ones.  A shape too large
    to index is a ValueError (one too large for memory a MemoryError)."""
    _validation.check_shape_size(shape, np.dtype(dtype).itemsize, "the weight")
    if kind == "zeros":
        return np.zeros(shape, dtype)
    if kind == "ones":
        return np.ones(shape, dtype)
    if kind == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(dtype)
    if kind == "he_uniform":
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape).astype(dtype)
    if kind == "he_normal":
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
    if kind == "torch":
        limit = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-limit, limit, shape).astype(dtype)
    if kind == "orthogonal":
        rows, cols = shape[0], math.prod(shape[1:])
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        q = q if rows >= cols else q.T
        return q[:rows, :cols].reshape(shape).astype(dtype)
    raise ValueError(f"initializer must be one of glorot_uniform, he_uniform, he_normal, torch, orthogonal, "
                     f"zeros, ones; received {kind!r}")


INITIALIZERS = ("glorot_uniform", "he_uniform", "he_normal", "torch", "orthogonal", "zeros", "ones")


def check_initializer(kind, name):
    if kind not in INITIALIZERS:
        raise ValueError(f"{name} must be one of {INITIALIZERS}; received {name}={kind!r}")
    return kind
