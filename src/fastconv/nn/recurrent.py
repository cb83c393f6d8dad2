"""Recurrent layers over (N, T, features) (batch first, as Keras), on
fastconv's RNN / LSTM / GRU kernels, with torch.nn.RNN / LSTM / GRU's
weights: weight_ih (G*units, features), weight_hh (G*units, units), bias_ih,
bias_hh (G*units,), gates i, f, g, o (LSTM) and r, z, n (GRU, PyTorch's
"reset after" form).  Output: the last state (N, units), or every state
(N, T, units) with return_sequences=True.  The initial state is zero, or
with stateful=True the last batch's final state (reset_states() zeroes it).

Keras's arguments: go_backwards (the sequence read from its end; the
output sequence in that reading order, as Keras's), stateful, dropout (one
mask per sequence on the inputs, in training, as Keras's when
recurrent_dropout is 0), kernel / recurrent / bias regularizers.  The
compiled cells fix the activations: LSTM and GRU take activation="tanh" and
recurrent_activation="sigmoid" only (SimpleRNN "tanh" or "relu"), GRU
reset_after=True only (Keras's default), recurrent_dropout 0 only; other
values are a ValueError naming the argument."""
import numbers

import numpy as np

from .. import rnn as R
from . import _ops
from ._base import Layer, check_initializer, initialise, positive_int
from .regularizers import Regularized


def _only(value, allowed, name):
    if value not in allowed:
        raise ValueError(f"{name} must be {' or '.join(repr(a) for a in allowed)} (the compiled cells' "
                         f"function); received {name}={value!r}")
    return value


class _Recurrent(Regularized, Layer):
    gates = 1
    param_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    states = 1  # state arrays carried by stateful=True (LSTM: h and c)

    def __init__(self, units, return_sequences=False, use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                 go_backwards=False, stateful=False, return_state=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if return_state:
            raise ValueError("return_state must be False: Keras's [output, *states] is several outputs, and a "
                             "fastconv.nn layer gives one; received return_state=True")
        self.units = positive_int(units, "units")
        self.return_sequences = bool(return_sequences)
        self._set_regularizers(kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                               bias_regularizer=bias_regularizer)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a fraction in [0, 1); received dropout={dropout!r}")
        if recurrent_dropout != 0:
            raise ValueError(f"recurrent_dropout must be 0: the compiled kernels run the whole recurrence and "
                             f"cannot mask the state at each step; received recurrent_dropout={recurrent_dropout!r}")
        self.dropout, self.recurrent_dropout = float(dropout), 0.0
        self.go_backwards, self.stateful = bool(go_backwards), bool(stateful)
        self._state = None
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
        self._rng = rng
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

    def _input(self, x, training):
        """The sequence the kernels read: x reversed in time (go_backwards),
        times the dropout mask (one per sequence and feature, in training)."""
        self._mask = None
        if training and self.dropout:
            keep = self._rng.random((x.shape[0], 1, x.shape[2]), dtype=np.float32) >= self.dropout
            self._mask = _ops.to_module(keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.dropout)), _ops.xp_of(x))
            x = x * self._mask
        return x[:, ::-1] if self.go_backwards else x

    def _input_grad(self, dx):
        if self.go_backwards:
            dx = _ops.xp_of(dx).ascontiguousarray(dx[:, ::-1])
        return dx if self._mask is None else dx * self._mask

    def _initial(self, x):
        """The initial states: zeros (None), or the last batch's final ones (stateful)."""
        if not self.stateful or self._state is None:
            return (None,) * self.states
        if self._state[0].shape[0] != x.shape[0]:
            raise ValueError(f"{type(self).__name__}(stateful=True) carries the states of batches of "
                             f"{self._state[0].shape[0]} sequences; received a batch of {x.shape[0]} "
                             "(call reset_states() to start again with another batch size)")
        return tuple(_ops.to_module(s, _ops.xp_of(x)) for s in self._state)

    def _keep(self, *final):
        if self.stateful:
            self._state = tuple(s.copy() for s in final)

    def reset_states(self):
        """Zeroes the states a stateful layer carries between batches (Keras's reset_states / reset_state)."""
        self._state = None

    reset_state = reset_states

    def restore_node_state(self, state):
        carried = self._state  # (a shared stateful layer carries its last call's states, not a restored node's)
        super().restore_node_state(state)
        self._state = carried

    def _output(self, y, h_T):
        return y if self.return_sequences else h_T

    def _grads(self, dw_ih, dw_hh, db_ih, db_hh):
        self.grads["weight_ih"], self.grads["weight_hh"] = dw_ih, dw_hh
        if self.use_bias:
            self.grads["bias_ih"], self.grads["bias_hh"] = db_ih, db_hh

    def _upstream(self, dy):
        """(grad_y, grad_hT) for the kernels' backward."""
        return (dy, None) if self.return_sequences else (None, dy)

    def regularization_terms(self):
        r, p, out = self._regularizers, self.params, []
        if r["kernel_regularizer"] is not None:
            out.append((r["kernel_regularizer"], p["weight_ih"], ("weight_ih",)))
        if r["recurrent_regularizer"] is not None:
            out.append((r["recurrent_regularizer"], p["weight_hh"], ("weight_hh",)))
        if r["bias_regularizer"] is not None and self.use_bias:
            out += self._bias_terms(r["bias_regularizer"])
        return out

    def _bias_terms(self, reg):
        """Keras's one bias, bias_ih + bias_hh: its penalty's gradient goes to both."""
        return [(reg, self.params["bias_ih"] + self.params["bias_hh"], ("bias_ih", "bias_hh"))]

    def get_config(self):
        return dict(units=self.units, return_sequences=self.return_sequences, use_bias=self.use_bias,
                    kernel_initializer=self.kernel_initializer, recurrent_initializer=self.recurrent_initializer,
                    bias_initializer=self.bias_initializer, dropout=self.dropout, go_backwards=self.go_backwards,
                    stateful=self.stateful, **self._regularizer_config())


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
        y, h_T, self._cache = R.rnn_forward(self._input(x, training), *self._initial(x), *self._weights(),
                                            nonlinearity=self.activation, batch_first=True)
        self._keep(h_T)
        return self._output(y, h_T)

    def backward(self, dy):
        dx, _, *grads = R.rnn_backward(*self._upstream(dy), self._cache)
        self._grads(*grads)
        return self._input_grad(dx)

    def get_config(self):
        return dict(activation=self.activation, **super().get_config())


class LSTM(_Recurrent):
    """torch.nn.LSTM's cell (gates i, f, g, o).  unit_forget_bias=True starts
    the forget gate's bias_ih at 1, as Keras does."""

    gates = 4
    states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", return_sequences=False,
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, return_sequences, **kwargs)
        self.activation = _only(activation, ("tanh",), "activation")
        self.recurrent_activation = _only(recurrent_activation, ("sigmoid",), "recurrent_activation")
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if self.use_bias and self.unit_forget_bias:
            self.params["bias_ih"][self.units: 2 * self.units] = 1

    def forward(self, x, training=False):
        y, h_T, c_T, self._cache = R.lstm_forward(self._input(x, training), *self._initial(x), *self._weights(),
                                                  batch_first=True)
        self._keep(h_T, c_T)
        return self._output(y, h_T)

    def backward(self, dy):
        dx, _, _, *grads = R.lstm_backward(*self._upstream(dy), None, self._cache)
        self._grads(*grads)
        return self._input_grad(dx)

    def get_config(self):
        return dict(unit_forget_bias=self.unit_forget_bias, activation=self.activation,
                    recurrent_activation=self.recurrent_activation, **super().get_config())


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

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", return_sequences=False,
                 reset_after=True, **kwargs):
        super().__init__(units, return_sequences, **kwargs)
        self.activation = _only(activation, ("tanh",), "activation")
        self.recurrent_activation = _only(recurrent_activation, ("sigmoid",), "recurrent_activation")
        if reset_after is not True:
            raise ValueError("reset_after must be True (Keras's default and PyTorch's form, the one the compiled "
                             f"GRU cell computes); received reset_after={reset_after!r}")
        self.reset_after = True

    def forward(self, x, training=False):
        y, h_T, self._cache = R.gru_forward(self._input(x, training), *self._initial(x), *self._weights(),
                                            batch_first=True)
        self._keep(h_T)
        return self._output(y, h_T)

    def backward(self, dy):
        dx, _, *grads = R.gru_backward(*self._upstream(dy), self._cache)
        self._grads(*grads)
        return self._input_grad(dx)

    def _bias_terms(self, reg):
        """Keras's GRU bias (2, 3 units) holds the input and the recurrent biases apart."""
        return [(reg, self.params["bias_ih"], ("bias_ih",)), (reg, self.params["bias_hh"], ("bias_hh",))]

    def get_config(self):
        return dict(activation=self.activation, recurrent_activation=self.recurrent_activation,
                    reset_after=self.reset_after, **super().get_config())
