"""Feed-forward layers.  Convolution and pooling layers take channels-first
input, PyTorch's layout: (N, C, L) for 1-D, (N, C, H, W) for 2-D; weights
have PyTorch's layouts too, so state_dicts port both ways."""
import math

import numpy as np

from .. import _validation
from .. import conv as F
from .. import pool as P
from . import _ops, _tensor, config
from . import activations
from .merge import Add, Average, Concatenate, Multiply, Subtract  # noqa: F401 (keras.layers.Add, ...)
from ._base import ActivatedLayer, Layer, check_initializer, initialise, int_tuple, padding_arg, positive_int
from .regularizers import Regularized


# ---- core layers -------------------------------------------------------------------------------


class Dense(Regularized, ActivatedLayer):
    """y = activation(x W^T + b) over the last axis; W (units, in) as torch.nn.Linear."""

    param_names = ("weight", "bias")
    min_rank = 1

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, name=None, **kwargs):
        super().__init__(activation, name, **kwargs)
        self._set_regularizers(kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
        self.units = positive_int(units, "units")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = check_initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = check_initializer(bias_initializer, "bias_initializer")
        if not self.use_bias:
            self.param_names = ("weight",)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        fan_in = input_shape[-1]
        self.params["weight"] = initialise(self.kernel_initializer, (self.units, fan_in), fan_in, self.units, rng,
                                           dtype)
        if self.use_bias:
            self.params["bias"] = initialise(self.bias_initializer, (self.units,), fan_in, self.units, rng, dtype)

    def forward(self, x, training=False):
        self._x2 = _validation.contiguous(x.reshape(-1, x.shape[-1]))
        z = _ops.matmul(self._x2, self.params["weight"].T)
        if self.use_bias:
            z += self.params["bias"]
        return self._activate(z.reshape(x.shape[:-1] + (self.units,)), owned=True)

    def backward(self, dy):
        if self.use_bias:
            dz, self.grads["bias"] = self._deactivate_with_bias(dy, (self._x2.shape[0], self.units, 1))
            dz = dz.reshape(-1, self.units)
        else:
            dz = _validation.contiguous(self._deactivate(dy).reshape(-1, self.units))
        self.grads["weight"] = _ops.matmul(dz.T, self._x2)
        if not self.input_grad:
            return None
        dx = _ops.matmul(dz, self.params["weight"])
        return dx.reshape(dy.shape[:-1] + (dx.shape[-1],))

    def keras_weights(self):
        """Keras's kernel (in, units) = weight^T, then bias."""
        self._check_built("get_weights")
        return [self.params["weight"].T] + ([self.params["bias"]] if self.use_bias else [])

    def load_keras_weights(self, weights):
        _load(self.params["weight"], weights[0].T)
        if self.use_bias:
            _load(self.params["bias"], weights[1])

    def get_config(self):
        return dict(units=self.units, use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                    bias_initializer=self.bias_initializer, **self._regularizer_config(), **super().get_config())


def _image_layout(layer):
    return "channels_first" if layer.data_format == "channels_last" else "logical"


def _load(dst, src):
    """dst[...] = src (a host array in Keras's layout, already transposed to dst's), on dst's device."""
    dst[...] = _ops.to_module(np.ascontiguousarray(src, dst.dtype), _ops.xp_of(dst))


def _kernel_keras(w):
    """PyTorch's (out, in, *k) (or a transposed convolution's (in, out, *k)) as
    Keras's (*k, in, out) ((*k, out, in)): the two channel axes last, reversed."""
    nd = w.ndim - 2
    return w.transpose(tuple(range(2, 2 + nd)) + (1, 0))


def _kernel_torch(k):
    nd = k.ndim - 2
    return k.transpose((nd + 1, nd) + tuple(range(nd)))


class _KerasKernelBias:
    """Keras's weights of a convolution: [kernel (spatial..., in, out), bias]."""

    def keras_weights(self):
        self._check_built("get_weights")
        return [_kernel_keras(self.params["weight"])] + ([self.params["bias"]] if self.use_bias else [])

    def load_keras_weights(self, weights):
        _load(self.params["weight"], _kernel_torch(weights[0]))
        if self.use_bias:
            _load(self.params["bias"], weights[1])


class Activation(ActivatedLayer):
    """An activation function as a layer."""

    def __init__(self, activation, name=None, **kwargs):
        super().__init__(activation, name, **kwargs)

    @property
    def layout(self):
        return "logical" if self.activation.name == "softmax" else "any"  # softmax: along the last axis

    def forward(self, x, training=False):
        return self._activate(x)

    def backward(self, dy):
        return self._deactivate(dy)


class LeakyReLU(Activation):
    """keras.layers.LeakyReLU: x, or negative_slope * x below 0 (Keras's default slope 0.3)."""

    def __init__(self, negative_slope=0.3, name=None, **kwargs):
        super().__init__(activations.LeakyReLU(negative_slope), name, **kwargs)

    def get_config(self):
        return {"negative_slope": self.activation.negative_slope}


class ELU(Activation):
    """keras.layers.ELU(alpha=1.0)."""

    def __init__(self, alpha=1.0, name=None, **kwargs):
        super().__init__(activations.ELU(alpha), name, **kwargs)

    def get_config(self):
        return {"alpha": self.activation.alpha}


class ReLU(Activation):
    """keras.layers.ReLU (max(x, 0))."""

    def __init__(self, name=None, **kwargs):
        super().__init__("relu", name, **kwargs)

    def get_config(self):
        return {}


class Embedding(Layer):
    """keras.layers.Embedding: integer indices (N, ...) -> their rows of a
    (input_dim, output_dim) table (N, ..., output_dim); the table's layout
    is Keras's and torch.nn.Embedding's.  Indices outside [0, input_dim) are
    a ValueError.  Initialised uniform in [-0.05, 0.05] (Keras's default)."""

    param_names = ("weight",)

    def __init__(self, input_dim, output_dim, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.input_dim = positive_int(input_dim, "input_dim")
        self.output_dim = positive_int(output_dim, "output_dim")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.params["weight"] = rng.uniform(-0.05, 0.05, (self.input_dim, self.output_dim)).astype(dtype)

    def forward(self, x, training=False):
        xp = _ops.xp_of(x)
        idx = x.astype(xp.int64)
        if x.size and (bool((idx != x).any()) or int(idx.min()) < 0 or int(idx.max()) >= self.input_dim):
            raise ValueError(f"Embedding takes integer indices in [0, {self.input_dim}); received values from "
                             f"{float(x.min())} to {float(x.max())}")
        self._idx = idx
        return self.params["weight"][idx]

    def backward(self, dy):
        xp = _ops.xp_of(dy)
        grad = xp.zeros_like(self.params["weight"])
        xp.add.at(grad, self._idx.reshape(-1), dy.reshape(-1, self.output_dim))
        self.grads["weight"] = grad
        return None  # (indices have no gradient)

    def get_config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim}


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)), in C order (as torch.flatten(x, 1))."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)


class Reshape(Layer):
    """(N, ...) -> (N,) + target_shape (one entry may be -1)."""

    def __init__(self, target_shape, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.target_shape = tuple(int(t) for t in target_shape)
        if sum(t == -1 for t in self.target_shape) > 1 or any(t < -1 or t == 0 for t in self.target_shape):
            raise ValueError(f"target_shape must hold positive sizes and at most one -1; received "
                             f"target_shape={target_shape!r}")

    def compute_output_shape(self, input_shape):
        total = math.prod(input_shape)
        known = math.prod(t for t in self.target_shape if t != -1)
        shape = tuple(total // known if t == -1 else t for t in self.target_shape)
        if math.prod(shape) != total:
            raise ValueError(f"cannot reshape an input of shape {tuple(input_shape)} ({total} values) to "
                             f"target_shape={self.target_shape}")
        return shape

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape((x.shape[0],) + self.output_shape)

    def backward(self, dy):
        return dy.reshape(self._shape)

    def get_config(self):
        return {"target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Zeroes a fraction `rate` of the values in training and scales the rest
    by 1 / (1 - rate) (inverted dropout); the identity otherwise."""

    layout = "any"

    def __init__(self, rate, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1); received rate={rate!r}")
        self.rate = float(rate)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self._rng = rng

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(x.shape, dtype=np.float32) >= self.rate  # the same masks on either device
        mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.rate))
        self._mask = _ops.to_module(mask, _ops.xp_of(x))
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {"rate": self.rate}


class BatchNorm(Layer):
    """Normalises each feature (axis 1: the channel of (N, C, ...), the
    feature of (N, F)) by the batch statistics in training and by running
    averages otherwise: running = momentum * running + (1 - momentum) *
    batch (Keras' momentum; PyTorch's momentum m is 1 - m here), with the
    unbiased batch variance for running_var, as PyTorch stores it.  Params
    weight (gamma), bias (beta); buffers running_mean, running_var."""

    param_names = ("weight", "bias")
    min_rank = 1
    buffer_names = ("running_mean", "running_var")

    def __init__(self, axis=None, momentum=0.99, epsilon=1e-3, name=None, **kwargs):
        """axis: the feature axis, -1 (Keras's, the channels of channels_last
        images) or 1 (PyTorch's); None: the one of the image data format in
        force (-1 for channels_last)."""
        super().__init__(name, **kwargs)
        if axis is None:
            axis = -1 if config.image_data_format() == "channels_last" else 1
        if axis not in (-1, 1):
            raise ValueError(f"axis must be -1 (the last axis) or 1; received axis={axis!r}")
        self.axis = axis
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); received momentum={momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0; received epsilon={epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        c = input_shape[0]
        self.params["weight"] = np.ones(c, dtype)
        self.params["bias"] = np.zeros(c, dtype)
        self.buffers["running_mean"] = np.zeros(c, dtype)
        self.buffers["running_var"] = np.ones(c, dtype)

    def _view(self, v, ndim):
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x, training=False):
        axes = (0,) + tuple(range(2, x.ndim))
        if training and self.trainable:  # a frozen BatchNorm runs in inference mode, as Keras's
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            n = x.size // x.shape[1]
            m = x.dtype.type(self.momentum)
            self.buffers["running_mean"] *= m
            self.buffers["running_mean"] += (1 - m) * mean
            self.buffers["running_var"] *= m
            self.buffers["running_var"] += (1 - m) * var * x.dtype.type(n / max(n - 1, 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self._inv_std = 1 / _ops.xp_of(x).sqrt(var + x.dtype.type(self.epsilon))
        self._xhat = (x - self._view(mean, x.ndim)) * self._view(self._inv_std, x.ndim)
        self._training = training
        return self._xhat * self._view(self.params["weight"], x.ndim) + self._view(self.params["bias"], x.ndim)

    def backward(self, dy):
        axes = (0,) + tuple(range(2, dy.ndim))
        xhat = self._xhat
        self.grads["weight"] = (dy * xhat).sum(axis=axes)
        self.grads["bias"] = dy.sum(axis=axes)
        g = self._view(self.params["weight"] * self._inv_std, dy.ndim)
        if not self._training:  # running statistics are constants
            return dy * g
        n = dy.size // dy.shape[1]
        dxhat_mean = self._view(self.grads["bias"] / n, dy.ndim)
        dxhat_xhat_mean = self._view(self.grads["weight"] / n, dy.ndim)
        return g * (dy - dxhat_mean - xhat * dxhat_xhat_mean)

    def get_config(self):
        return {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon}

    @property
    def layout(self):
        # the kernels normalise axis 1: the model moves a last feature axis there
        return "channels_first" if self.axis == -1 else "logical"


# ---- convolution -----------------------------------------------------------------------------------


class _Conv(Regularized, _KerasKernelBias, ActivatedLayer):
    nd = 2
    param_names = ("weight", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, kernel_regularizer=None, bias_regularizer=None, name=None, **kwargs):
        super().__init__(activation, name, **kwargs)
        self._set_regularizers(kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
        self.data_format = config.resolve(data_format)
        self.filters = positive_int(filters, "filters")
        self.kernel_size = int_tuple(kernel_size, self.nd, "kernel_size")
        self.strides = int_tuple(strides, self.nd, "strides")
        self.padding = padding_arg(padding, self.nd)
        self.dilation_rate = int_tuple(dilation_rate, self.nd, "dilation_rate")
        self.groups = positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(f"filters ({self.filters}) must be divisible by groups ({self.groups})")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = check_initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = check_initializer(bias_initializer, "bias_initializer")
        if not self.use_bias:
            self.param_names = ("weight",)

    def _pads(self, size):
        """((before, after), ...) per spatial axis; 'same' as Keras / TensorFlow
        (output ceil(size / stride), any extra row after)."""
        if self.padding == "valid":
            return ((0, 0),) * self.nd
        if self.padding == "same":
            pads = []
            for n, k, s, d in zip(size, self.kernel_size, self.strides, self.dilation_rate):
                total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        return tuple((p, p) for p in self.padding)

    def compute_output_shape(self, input_shape):
        size = input_shape[1:]
        out = []
        for n, (b, a), k, s, d in zip(size, self._pads(size), self.kernel_size, self.strides, self.dilation_rate):
            m = (n + b + a - d * (k - 1) - 1) // s + 1
            if m < 1:
                raise ValueError(f"{type(self).__name__}: kernel_size {self.kernel_size} does not fit the input "
                                 f"{tuple(input_shape)} with padding {self.padding!r}")
            out.append(m)
        return (self.filters,) + tuple(out)

    @property
    def rank(self):
        return self.nd + 1

    @property
    def layout(self):
        return _image_layout(self)

    def build(self, input_shape, rng, dtype):
        self.check_input_shape(input_shape)
        channels = input_shape[0]
        if channels % self.groups:
            raise ValueError(f"input channels ({channels}) must be divisible by groups ({self.groups})")
        super().build(input_shape, rng, dtype)
        shape = (self.filters, channels // self.groups) + self.kernel_size
        taps = math.prod(self.kernel_size)
        fan_in, fan_out = channels // self.groups * taps, self.filters // self.groups * taps
        self.params["weight"] = initialise(self.kernel_initializer, shape, fan_in, fan_out, rng, dtype)
        if self.use_bias:
            self.params["bias"] = initialise(self.bias_initializer, (self.filters,), fan_in, fan_out, rng, dtype)
        self._pairs = self._pads(input_shape[1:])  # asymmetric for 'same' with even kernels: no padded copy
        self._input_shape = tuple(input_shape)
        self._plans = {}  # batch size -> ConvPlan (geometry and algorithms fixed at the first batch of a size)

    def _plan(self, n):
        plan = self._plans.get(n)
        if plan is None:
            plan = self._plans[n] = F.ConvPlan((n,) + self._input_shape, self.params["weight"].shape,
                                               self.params["weight"].dtype, self.strides, self._pairs,
                                               self.dilation_rate, self.groups)
        return plan

    def forward(self, x, training=False):
        self._x = x
        y = self._plan(x.shape[0]).forward(x, self.params["weight"], self.params.get("bias"))
        return self._activate(y, owned=True)

    def backward(self, dy):
        if self.use_bias:
            shape = self._a.shape
            dz, self.grads["bias"] = self._deactivate_with_bias(dy, (shape[0], shape[1], math.prod(shape[2:])))
        else:
            dz = self._deactivate(dy)
        plan = self._plan(self._x.shape[0])
        self.grads["weight"] = plan.grad_weight(self._x, dz)
        if not self.input_grad:
            return None
        return plan.grad_input(self.params["weight"], dz)

    def get_config(self):
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return dict(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                    padding=padding, dilation_rate=list(self.dilation_rate), groups=self.groups,
                    data_format=self.data_format,
                    use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                    bias_initializer=self.bias_initializer, **self._regularizer_config(), **super().get_config())


class Conv1D(_Conv):
    """1-D convolution over (N, C, L), as torch.nn.Conv1d (weight (filters,
    C/groups, k)); padding 'valid', 'same' (Keras: output ceil(L / stride))
    or an int."""

    nd = 1


class Conv2D(_Conv):
    """2-D convolution over (N, C, H, W), as torch.nn.Conv2d (weight
    (filters, C/groups, kh, kw)); padding 'valid', 'same' (Keras: output
    ceil(size / stride)) or ints."""

    nd = 2


class Conv2DTranspose(Regularized, _KerasKernelBias, ActivatedLayer):
    """Transposed 2-D convolution over (N, C, H, W), as
    torch.nn.ConvTranspose2d (weight (C, filters, kh, kw)).  padding 'same'
    gives output size * strides (Keras), 'valid' (size - 1) * strides + k,
    or ints as PyTorch's padding with output_padding."""

    param_names = ("weight", "bias")

    rank = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=0, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", data_format=None,
                 kernel_regularizer=None, bias_regularizer=None, name=None, **kwargs):
        super().__init__(activation, name, **kwargs)
        self._set_regularizers(kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
        self.data_format = config.resolve(data_format)
        self.filters = positive_int(filters, "filters")
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size")
        self.strides = int_tuple(strides, 2, "strides")
        self.padding = padding_arg(padding, 2)
        self.output_padding = _validation.int_tuple(output_padding, 2, "output_padding", 0)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = check_initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = check_initializer(bias_initializer, "bias_initializer")
        if not self.use_bias:
            self.param_names = ("weight",)
        if self.padding == "same":
            pads, extra = [], []
            for k, s in zip(self.kernel_size, self.strides):
                if k < s:
                    raise ValueError(f"padding='same' needs kernel_size >= strides; received kernel_size="
                                     f"{self.kernel_size}, strides={self.strides}")
                p = -(-(k - s) // 2)
                pads.append(p)
                extra.append(2 * p - (k - s))
            self._pad, self._opad = tuple(pads), tuple(extra)
        elif self.padding == "valid":
            self._pad, self._opad = (0, 0), self.output_padding
        else:
            self._pad, self._opad = self.padding, self.output_padding

    @property
    def layout(self):
        return _image_layout(self)

    def compute_output_shape(self, input_shape):
        size = [(n - 1) * s - 2 * p + k + o for n, s, p, k, o in
                zip(input_shape[1:], self.strides, self._pad, self.kernel_size, self._opad)]
        if min(size) < 1:
            raise ValueError(f"Conv2DTranspose: the output of input {tuple(input_shape)} would be empty")
        return (self.filters,) + tuple(size)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        channels, taps = input_shape[0], math.prod(self.kernel_size)
        shape = (channels, self.filters) + self.kernel_size
        fan_in, fan_out = self.filters * taps, channels * taps  # as Keras counts a transposed kernel
        self.params["weight"] = initialise(self.kernel_initializer, shape, fan_in, fan_out, rng, dtype)
        if self.use_bias:
            self.params["bias"] = initialise(self.bias_initializer, (self.filters,), fan_in, fan_out, rng, dtype)

    def forward(self, x, training=False):
        self._x = x
        y = F.conv_transpose2d(x, self.params["weight"], self.params.get("bias"), self.strides, self._pad,
                               self._opad)
        return self._activate(y)

    def backward(self, dy):
        dz = self._deactivate(dy)
        # the layer is the adjoint of conv2d(., weight): its input gradient is
        # that conv2d of dz, and its weight gradient conv2d's with the roles
        # of input and output gradient exchanged
        args = dict(stride=self.strides, padding=self._pad)
        self.grads["weight"] = F.conv2d_grad_weight(dz, self.params["weight"].shape, self._x, **args)
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=(0, 2, 3))
        return F.conv2d(dz, self.params["weight"], **args) if self.input_grad else None

    def get_config(self):
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return dict(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                    padding=padding, output_padding=list(self.output_padding), use_bias=self.use_bias,
                    kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                    data_format=self.data_format, **self._regularizer_config(), **super().get_config())


# ---- pooling ---------------------------------------------------------------------------------------


class _Pool(Layer):
    nd = 2
    kind = "max"

    @property
    def rank(self):
        return self.nd + 1

    def __init__(self, pool_size=2, strides=None, padding=0, data_format=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.data_format = config.resolve(data_format)
        self.pool_size = int_tuple(pool_size, self.nd, "pool_size")
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.nd, "strides")
        if padding == "valid":
            padding = 0
        self.padding = _validation.int_tuple(padding, self.nd, "padding", 0)

    def compute_output_shape(self, input_shape):
        out = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(input_shape[1:], self.pool_size, self.strides,
                                                              self.padding)]
        if min(out) < 1:
            raise ValueError(f"{type(self).__name__}: pool_size {self.pool_size} does not fit the input "
                             f"{tuple(input_shape)}")
        return (input_shape[0],) + tuple(out)

    @property
    def layout(self):
        return _image_layout(self)

    def _args(self):
        return self.pool_size, self.strides, self.padding

    def forward(self, x, training=False):
        self._shape = x.shape
        if self.kind == "max":
            fn = P.max_pool1d if self.nd == 1 else P.max_pool2d
            y, self._indices = fn(x, *self._args(), return_indices=True)
            return y
        fn = P.avg_pool1d if self.nd == 1 else P.avg_pool2d
        return fn(x, *self._args())

    def backward(self, dy):
        if self.kind == "max":
            fn = P.max_pool1d_backward if self.nd == 1 else P.max_pool2d_backward
            return fn(dy, self._indices, self._shape)
        fn = P.avg_pool1d_backward if self.nd == 1 else P.avg_pool2d_backward
        return fn(dy, self._shape, *self._args())

    def get_config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides), "padding": list(self.padding),
                "data_format": self.data_format}


class MaxPool1D(_Pool):
    """Max pooling over (N, C, L), as torch.nn.MaxPool1d (strides default to pool_size)."""

    nd, kind = 1, "max"


class MaxPool2D(_Pool):
    """Max pooling over (N, C, H, W), as torch.nn.MaxPool2d (strides default to pool_size)."""

    nd, kind = 2, "max"


class AvgPool1D(_Pool):
    """Average pooling over (N, C, L), as torch.nn.AvgPool1d."""

    nd, kind = 1, "avg"


class AvgPool2D(_Pool):
    """Average pooling over (N, C, H, W), as torch.nn.AvgPool2d."""

    nd, kind = 2, "avg"


class GlobalAvgPool2D(Layer):
    """(N, C, H, W) (or (N, H, W, C) channels_last) -> (N, C): the mean of
    each plane; keepdims keeps the plane's axes with size 1 (Keras's)."""

    rank = 3

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.data_format = config.resolve(data_format)
        self.keepdims = bool(keepdims)

    @property
    def layout(self):
        return _image_layout(self)

    def get_config(self):
        return {"data_format": self.data_format, "keepdims": self.keepdims}

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + ((1, 1) if self.keepdims else ())

    def forward(self, x, training=False):
        self._shape = x.shape
        y = P.global_avg_pool2d(x)
        return y.reshape(y.shape + (1, 1)) if self.keepdims else y

    def backward(self, dy):
        return P.global_avg_pool2d_backward(dy.reshape(dy.shape[:2]), self._shape)


class _GlobalPool(Layer):
    """Reduces every spatial axis of (N, C, ...) (channels_last data reaches
    it with the channel axis moved first) to one value per channel: the
    maximum or the mean; keepdims keeps the reduced axes with size 1."""

    nd = 1
    kind = "max"

    @property
    def rank(self):
        return self.nd + 1

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.data_format = config.resolve(data_format)
        self.keepdims = bool(keepdims)

    @property
    def layout(self):
        return _image_layout(self)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + ((1,) * self.nd if self.keepdims else ())

    def forward(self, x, training=False):
        self._shape = x.shape
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        if self.kind == "max":
            self._arg = flat.argmax(axis=-1)[..., None]
            y = _ops.xp_of(x).take_along_axis(flat, self._arg, axis=-1)[..., 0]
        else:
            y = flat.mean(axis=-1)
        return y.reshape(y.shape + (1,) * self.nd) if self.keepdims else y

    def backward(self, dy):
        xp = _ops.xp_of(dy)
        n, c = self._shape[:2]
        dy = dy.reshape(n, c, 1)
        size = math.prod(self._shape[2:])
        if self.kind == "max":  # the whole gradient to the first maximum, as max pooling's
            dx = xp.where(xp.arange(size) == self._arg, dy, dy.dtype.type(0))
        else:
            dx = xp.broadcast_to(dy * dy.dtype.type(1 / size), (n, c, size))
        return xp.ascontiguousarray(dx).reshape(self._shape)

    def get_config(self):
        return {"data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPool):
    """keras.layers.GlobalMaxPooling1D: (N, steps, features) -> (N, features), the maximum over the steps."""

    nd, kind = 1, "max"


class GlobalMaxPooling2D(_GlobalPool):
    """keras.layers.GlobalMaxPooling2D: (N, H, W, C) -> (N, C), the maximum of each plane."""

    nd, kind = 2, "max"


class GlobalAveragePooling1D(_GlobalPool):
    """keras.layers.GlobalAveragePooling1D: (N, steps, features) -> (N, features), the mean over the steps."""

    nd, kind = 1, "avg"


GlobalMaxPool1D, GlobalMaxPool2D, GlobalAvgPool1D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D


class PReLU(Layer):
    """keras.layers.PReLU: x, or alpha * x below 0, with a learnt alpha of the
    input's shape (one example's; initialised to 0 as Keras's "zeros"),
    shared (size 1) along the axes in shared_axes (1 is the first axis
    after the batch axis, as Keras counts)."""

    param_names = ("alpha",)
    min_rank = 1

    def __init__(self, alpha_initializer="zeros", shared_axes=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.alpha_initializer = check_initializer(str(alpha_initializer).lower(), "alpha_initializer")
        if shared_axes is None:
            shared = ()
        else:
            shared = (shared_axes,) if isinstance(shared_axes, int) else tuple(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in shared):
                raise ValueError(f"shared_axes must be axes >= 1 (1: the first axis after the batch axis); "
                                 f"received shared_axes={shared_axes!r}")
        self.shared_axes = tuple(sorted(set(shared)))

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if self.shared_axes and self.shared_axes[-1] > len(input_shape):
            raise ValueError(f"PReLU: shared_axes={list(self.shared_axes)} names an axis the input (N,) + "
                             f"{tuple(input_shape)} lacks")
        shape = tuple(1 if i + 1 in self.shared_axes else n for i, n in enumerate(input_shape))
        self.params["alpha"] = initialise(self.alpha_initializer, shape, 1, 1, rng, dtype)

    def forward(self, x, training=False):
        self._x = x
        return _ops.xp_of(x).where(x > 0, x, x * self.params["alpha"])

    def backward(self, dy):
        xp = _ops.xp_of(dy)
        neg = self._x <= 0
        alpha = self.params["alpha"]
        axes = (0,) + tuple(i + 1 for i, n in enumerate(alpha.shape) if n == 1 and self._x.shape[i + 1] != 1)
        self.grads["alpha"] = xp.where(neg, dy * self._x, 0).sum(axis=axes, keepdims=True).reshape(alpha.shape)
        return xp.where(neg, dy * alpha, dy)

    def get_config(self):
        return {"alpha_initializer": self.alpha_initializer,
                "shared_axes": list(self.shared_axes) if self.shared_axes else None}


class Softmax(Activation):
    """keras.layers.Softmax(axis=-1): exp(x) / sum(exp(x)) along axis (an
    axis of the model's data, as Keras counts: -1 the last, 1 the first
    after the batch axis)."""

    def __init__(self, axis=-1, name=None, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ValueError(f"axis must be a non-zero int (the batch axis 0 cannot be normalised); "
                             f"received axis={axis!r}")
        super().__init__(activations.Softmax(int(axis)), name, **kwargs)

    @property
    def layout(self):
        return "logical"

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        axis, ndim = self.activation.axis, len(input_shape) + 1
        if not -ndim <= axis < ndim or axis % ndim == 0:
            raise ValueError(f"Softmax: axis={axis} is not an axis of inputs (N,) + {tuple(input_shape)}")

    def get_config(self):
        return {"axis": self.activation.axis}


class SpatialDropout1D(Dropout):
    """keras.layers.SpatialDropout1D: drops whole features of (N, steps,
    features) in training (one mask (N, 1, features)), scaling the rest by
    1 / (1 - rate)."""

    layout = "logical"
    rank = 2

    def _mask_shape(self, shape):
        return (shape[0], 1, shape[2])

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(self._mask_shape(x.shape), dtype=np.float32) >= self.rate
        self._mask = _ops.to_module(keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.rate)), _ops.xp_of(x))
        return x * self._mask


class SpatialDropout2D(SpatialDropout1D):
    """keras.layers.SpatialDropout2D: drops whole channels of images in
    training (one value per example and channel), scaling the rest by
    1 / (1 - rate)."""

    rank = 3

    def __init__(self, rate, data_format=None, name=None, **kwargs):
        super().__init__(rate, name, **kwargs)
        self.data_format = config.resolve(data_format)

    @property
    def layout(self):
        return _image_layout(self)

    def _mask_shape(self, shape):
        return (shape[0], shape[1], 1, 1)  # (N, C, H, W): the channel axis is first here

    def get_config(self):
        return {"rate": self.rate, "data_format": self.data_format}


class LayerNormalization(Layer):
    """keras.layers.LayerNormalization: each example normalised over axis
    (an int or a list; -1, the last, by default) to zero mean and unit
    variance, (x - mean) / sqrt(var + epsilon) (Keras's epsilon 1e-3), then
    scaled by gamma and shifted by beta (learnt, of the normalised axes'
    shape) where scale / center."""

    min_rank = 1

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", name=None, **kwargs):
        super().__init__(name, **kwargs)
        axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
        try:
            axes = tuple(axes)
        except TypeError:
            raise TypeError(f"axis must be an int or a list of ints; received axis={axis!r}") from None
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a != 0
                               for a in axes):
            raise ValueError(f"axis must name axes other than the batch axis 0; received axis={axis!r}")
        self.axis = tuple(int(a) for a in axes)
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0; received epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = check_initializer(beta_initializer, "beta_initializer")
        self.gamma_initializer = check_initializer(gamma_initializer, "gamma_initializer")
        self.param_names = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ())

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        ndim = len(input_shape) + 1
        axes = sorted({a % ndim if a < 0 else a for a in self.axis})
        if any(not 1 <= a < ndim for a in axes) or any(a < -ndim for a in self.axis):
            raise ValueError(f"LayerNormalization: axis={list(self.axis)} names an axis inputs (N,) + "
                             f"{tuple(input_shape)} lack (or the batch axis)")
        self._axes = tuple(axes)
        shape = tuple(input_shape[a - 1] for a in axes)
        if self.scale:
            self.params["gamma"] = initialise(self.gamma_initializer, shape, 1, 1, rng, dtype)
        if self.center:
            self.params["beta"] = initialise(self.beta_initializer, shape, 1, 1, rng, dtype)
        # gamma / beta broadcast against the input: size 1 on the axes not normalised
        self._bshape = tuple(n if i + 1 in axes else 1 for i, n in enumerate(input_shape))

    def forward(self, x, training=False):
        xp = _ops.xp_of(x)
        mean = x.mean(axis=self._axes, keepdims=True)
        var = x.var(axis=self._axes, keepdims=True)
        self._inv_std = 1 / xp.sqrt(var + x.dtype.type(self.epsilon))
        self._xhat = (x - mean) * self._inv_std
        y = self._xhat
        if self.scale:
            y = y * self.params["gamma"].reshape(self._bshape)
        if self.center:
            y = y + self.params["beta"].reshape(self._bshape)
        return y

    def backward(self, dy):
        xhat = self._xhat
        other = (0,) + tuple(a for a in range(1, dy.ndim) if a not in self._axes)
        if self.scale:
            self.grads["gamma"] = (dy * xhat).sum(axis=other).reshape(self.params["gamma"].shape)
            dxhat = dy * self.params["gamma"].reshape(self._bshape)
        else:
            dxhat = dy
        if self.center:
            self.grads["beta"] = dy.sum(axis=other).reshape(self.params["beta"].shape)
        mean_d = dxhat.mean(axis=self._axes, keepdims=True)
        mean_dx = (dxhat * xhat).mean(axis=self._axes, keepdims=True)
        return self._inv_std * (dxhat - mean_d - xhat * mean_dx)

    def get_config(self):
        return {"axis": list(self.axis), "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer, "gamma_initializer": self.gamma_initializer}


MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D = MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D
GlobalAveragePooling2D = GlobalAvgPool2D
BatchNormalization = BatchNorm


class InputLayer(Layer):
    """The input of a Sequential model: InputLayer(shape=(...)) (or
    input_shape=), the shape of one example.  Sequential builds its layers
    from it at once, so summary() works before fit."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, **kwargs):
        if shape is None:
            shape = input_shape
        if shape is None:
            raise ValueError("InputLayer needs shape= (the shape of one example, without the batch axis)")
        super().__init__(name, input_shape=shape, **kwargs)
        self.shape = self.declared_input_shape
        self.batch_size = batch_size

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"shape": list(self.shape)}


def Input(shape=None, batch_size=None, dtype=None, name=None):
    """keras.Input: a symbolic tensor (KerasTensor) of shape (None,) + shape,
    the input of a functional Model (layers called on it record the graph);
    as the first entry of a Sequential model, its input shape."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    _tensor.name_layer(layer)
    dtype = "float32" if dtype is None else dtype
    return _tensor.Node(layer, [], [layer.shape], dtype).outputs[0]


# ---- the rest of keras.layers (keras.layers.X must serve Keras programs) ----------------------------

from .recurrent import GRU, LSTM, SimpleRNN  # noqa: E402, F401  (keras.layers.LSTM, ...)
from .reshaping import (Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D,  # noqa: E402
                        ZeroPadding2D)
from .wrappers import Bidirectional, Lambda, TimeDistributed  # noqa: E402

# the layers beyond the core ones that models save and load by class name (fastconv.nn.model)
VOCABULARY = (PReLU, Softmax, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D,
              GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, SpatialDropout1D, SpatialDropout2D,
              LayerNormalization, Lambda, TimeDistributed, Bidirectional)
