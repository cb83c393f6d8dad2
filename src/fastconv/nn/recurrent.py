"""Recurrent layers over (N, T, features) (batch first, as Keras), on
fastconv's RNN / LSTM / GRU kernels, with torch.nn.RNN / LSTM / GRU's
weights: weight_ih (G*units, features), weight_hh (G*units, units), bias_ih,
bias_hh (G*units,), gates i, f, g, o (LSTM) and r, z, n (GRU, PyTorch's
"reset after" form).  Output: the last state (N, units), or every state
(N, T, units) with return_sequences=True.  The initial state is zero."""
from .. import rnn as R
from . import _ops
from ._base import Layer, check_initializer, initialise, positive_int


class _Recurrent(Layer):
    gates = 1
    param_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def __init__(self, units, return_sequences=False, use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.units = positive_int(units, "units")
        self.return_sequences = bool(return_sequences)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = check_initializer(kernel_initializer, "kernel_initializer")
        self.recurrent_initializer = check_initializer(recurrent_initializer, "recurrent_initializer")
        self.bias_initializer = check_initializer(bias_initializer, "bias_initializer")
        if not self.use_bias:
            self.param_names = ("weight_ih", "weight_hh")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} takes sequences (N, T, features); received an input of "
                             f"shape (N,) + {tuple(input_shape)}")
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        G, H, I = self.gates, self.units, input_shape[-1]
        self.params["weight_ih"] = initialise(self.kernel_initializer, (G * H, I), I, G * H, rng, dtype)
        self.params["weight_hh"] = initialise(self.recurrent_initializer, (G * H, H), H, G * H, rng, dtype)
        if self.use_bias:
            self.params["bias_ih"] = initialise(self.bias_initializer, (G * H,), I, G * H, rng, dtype)
            self.params["bias_hh"] = initialise(self.bias_initializer, (G * H,), H, G * H, rng, dtype)

    # Keras's weights: kernel (I, G H), recurrent_kernel (H, G H), bias (G H): W_ih^T, W_hh^T, b_ih + b_hh
    # (Keras has one bias; set_weights puts it in b_ih and zeroes b_hh).  LSTM's gate order is PyTorch's.
    _keras_order = None  # GRU: Keras's gate order z, r, h against PyTorch's r, z, n

    def _to_keras(self, a):
        """a's gate blocks (along axis 0) in Keras's order."""
        if self._keras_order is None:
            return a
        H = self.units
        return self._xp_concat([a[g * H:(g + 1) * H] for g in self._keras_order], 0)

    _from_keras = _to_keras  # (the gate permutation is its own inverse)

    @staticmethod
    def _xp_concat(parts, axis):
        return _ops.xp_of(parts[0]).concatenate(parts, axis=axis)

    def keras_weights(self):
        self._check_built("get_weights")
        p = self.params
        out = [self._to_keras(p["weight_ih"]).T, self._to_keras(p["weight_hh"]).T]
        if self.use_bias:
            out.append(self._to_keras(p["bias_ih"] + p["bias_hh"]))
        return out

    def load_keras_weights(self, weights):
        xp = _ops.xp_of(self.params["weight_ih"])
        for name, w in zip(("weight_ih", "weight_hh"), weights):
            self.params[name][...] = self._from_keras(xp.asarray(w.T, self.params[name].dtype))
        if self.use_bias:
            self.params["bias_ih"][...] = self._from_keras(xp.asarray(weights[2], self.params["bias_ih"].dtype))
            self.params["bias_hh"][...] = 0

    def _weights(self):
        p = self.params
        return p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh")

    def _output(self, y, h_T):
        return y if self.return_sequences else h_T

    def _grads(self, dw_ih, dw_hh, db_ih, db_hh):
        self.grads["weight_ih"], self.grads["weight_hh"] = dw_ih, dw_hh
        if self.use_bias:
            self.grads["bias_ih"], self.grads["bias_hh"] = db_ih, db_hh

    def _upstream(self, dy):
        """(grad_y, grad_hT) for the kernels' backward."""
        return (dy, None) if self.return_sequences else (None, dy)

    def get_config(self):
        return dict(units=self.units, return_sequences=self.return_sequences, use_bias=self.use_bias,
                    kernel_initializer=self.kernel_initializer, recurrent_initializer=self.recurrent_initializer,
                    bias_initializer=self.bias_initializer)


class SimpleRNN(_Recurrent):
    """h_t = activation(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), activation
    "tanh" or "relu" (torch.nn.RNN)."""

    gates = 1

    def __init__(self, units, activation="tanh", return_sequences=False, **kwargs):
        super().__init__(units, return_sequences, **kwargs)
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu'; received activation={activation!r}")
        self.activation = activation

    def forward(self, x, training=False):
        y, h_T, self._cache = R.rnn_forward(x, None, *self._weights(), nonlinearity=self.activation,
                                            batch_first=True)
        return self._output(y, h_T)

    def backward(self, dy):
        dx, _, *grads = R.rnn_backward(*self._upstream(dy), self._cache)
        self._grads(*grads)
        return dx

    def get_config(self):
        return dict(activation=self.activation, **super().get_config())


class LSTM(_Recurrent):
    """torch.nn.LSTM's cell (gates i, f, g, o).  unit_forget_bias=True starts
    the forget gate's bias_ih at 1, as Keras does."""

    gates = 4

    def __init__(self, units, return_sequences=False, unit_forget_bias=True, **kwargs):
        super().__init__(units, return_sequences, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if self.use_bias and self.unit_forget_bias:
            self.params["bias_ih"][self.units: 2 * self.units] = 1

    def forward(self, x, training=False):
        y, h_T, _, self._cache = R.lstm_forward(x, None, None, *self._weights(), batch_first=True)
        return self._output(y, h_T)

    def backward(self, dy):
        dx, _, _, *grads = R.lstm_backward(*self._upstream(dy), None, self._cache)
        self._grads(*grads)
        return dx

    def get_config(self):
        return dict(unit_forget_bias=self.unit_forget_bias, **super().get_config())


class GRU(_Recurrent):
    """torch.nn.GRU's cell (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))."""

    # Keras's GRU (reset_after=True, its default) has a bias of shape (2, 3 H): the input and the
    # recurrent biases, each in its gate order z, r, h
    _keras_order = (1, 0, 2)

    def keras_weights(self):
        out = super().keras_weights()
        if self.use_bias:
            p = self.params
            out[2] = self._xp_concat([self._to_keras(p["bias_ih"])[None], self._to_keras(p["bias_hh"])[None]], 0)
        return out

    def load_keras_weights(self, weights):
        super().load_keras_weights(weights[:2] + [weights[2][0]] if self.use_bias else weights)
        if self.use_bias:
            xp = _ops.xp_of(self.params["bias_hh"])
            self.params["bias_hh"][...] = self._from_keras(xp.asarray(weights[2][1], self.params["bias_hh"].dtype))

    gates = 3

    def forward(self, x, training=False):
        y, h_T, self._cache = R.gru_forward(x, None, *self._weights(), batch_first=True)
        return self._output(y, h_T)

    def backward(self, dy):
        dx, _, *grads = R.gru_backward(*self._upstream(dy), self._cache)
        self._grads(*grads)
        return dx
