"""fastconv.nn's Keras vocabulary (issue 15, items 5 and 6): the layers
PReLU ... Bidirectional, the recurrent layers' Keras arguments, regularizers,
optimizers and schedules, callbacks, activations, losses and metrics.  Each
layer's backward is checked against float64 central differences, and where
Keras (torch backend) is installed its outputs, loss values and updates are
the oracle."""
import os

import numpy as np
import pytest
from test_nn import _numeric, _probe
from test_nn_keras import keras_defaults  # noqa: F401  (autouse: Keras's channels_last)

from fastconv import nn


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def make(expr, module):
    """expr with {L} the layers' module prefix ("nn." or "keras.layers.")."""
    prefix = "nn." if module is nn else "keras.layers."
    return eval(prefix + expr.format(L=prefix), {"nn": nn, "keras": module})


# ---- layers against Keras ------------------------------------------------------------------------------

KERAS_CASES = [  # (layer expression, one example's shape (Keras's layout))
    ("PReLU()", (5, 4)),
    ("PReLU(shared_axes=[1])", (5, 4)),
    ("PReLU(shared_axes=[1, 2])", (4, 5, 3)),
    ("Softmax()", (5, 4)),
    ("Softmax(axis=1)", (5, 4)),
    ("UpSampling1D(3)", (5, 4)),
    ("UpSampling2D((2, 3))", (4, 5, 3)),
    ("ZeroPadding1D((1, 2))", (5, 4)),
    ("ZeroPadding2D(((1, 0), (2, 1)))", (4, 5, 3)),
    ("ZeroPadding2D(2)", (4, 5, 3)),
    ("Cropping1D((1, 2))", (6, 4)),
    ("Cropping2D(((1, 0), (2, 1)))", (5, 6, 3)),
    ("GlobalMaxPooling1D()", (6, 4)),
    ("GlobalMaxPooling2D()", (4, 5, 3)),
    ("GlobalMaxPooling2D(keepdims=True)", (4, 5, 3)),
    ("GlobalAveragePooling1D()", (6, 4)),
    ("GlobalAveragePooling1D(keepdims=True)", (6, 4)),
    ("SpatialDropout1D(0.5)", (6, 4)),
    ("SpatialDropout2D(0.5)", (4, 5, 3)),
    ("LayerNormalization()", (5, 4)),
    ("LayerNormalization(axis=[1, 2], epsilon=0.1)", (5, 4)),
    ("LayerNormalization(center=False)", (3, 5, 4)),
    ("TimeDistributed({L}Dense(3, activation='tanh'))", (5, 4)),
    ("TimeDistributed({L}Conv2D(2, 3))", (3, 6, 5, 2)),
    ("Bidirectional({L}LSTM(4, return_sequences=True))", (5, 3)),
    ("Bidirectional({L}GRU(4), merge_mode='sum')", (5, 3)),
    ("Bidirectional({L}SimpleRNN(4, return_sequences=True), merge_mode='mul')", (5, 3)),
    ("Bidirectional({L}LSTM(4), merge_mode='ave')", (5, 3)),
    ("LSTM(4, go_backwards=True, return_sequences=True)", (5, 3)),
    ("GRU(4, go_backwards=True)", (5, 3)),
    ("SimpleRNN(4, go_backwards=True, return_sequences=True)", (5, 3)),
]


@pytest.mark.parametrize("expr, shape", KERAS_CASES)
def test_layers_give_keras_outputs_with_keras_weights(keras, expr, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2,) + shape).astype(np.float32)
    k = make(expr, keras)
    k(x)  # (builds it)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in k.get_weights()]
    k.set_weights(weights)
    expected = keras.ops.convert_to_numpy(k(x))
    f = make(expr, nn)
    model = nn.Sequential([f])
    model.build(shape)
    assert len(f.get_weights()) == len(weights)
    f.set_weights(weights)
    got = model.predict(x)
    assert got.shape == expected.shape and model.output_shape == expected.shape[1:]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(f.get_weights(), weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert sum(f.count_weights()) == k.count_params()


# ---- gradients against finite differences ----------------------------------------------------------------

GRAD_CASES = [case for case in KERAS_CASES if "Dropout" not in case[0]] + [
    ("UpSampling2D(2, data_format='channels_first')", (3, 4, 5)),
    ("ZeroPadding2D(1, data_format='channels_first')", (3, 4, 5)),
    ("Cropping2D(1, data_format='channels_first')", (3, 4, 5)),
    ("GlobalMaxPooling1D(data_format='channels_first')", (3, 6)),
    ("Softmax(axis=2)", (4, 5, 3)),
    ("Lambda(lambda x: x ** 3, backward=lambda x, dy: 3 * x ** 2 * dy)", (5, 4)),
    ("TimeDistributed({L}LayerNormalization())", (3, 4, 5)),
    ("Dense(3, kernel_regularizer='l2')", (4,)),
]


def _finite_difference_check(model, x, rng, count=12):
    """model.backward's input and parameter gradients of sum(R * out)
    against central differences at `count` random entries of each."""
    out = model.forward(x)
    r = rng.standard_normal(out.shape)
    dx = model.backward(r)
    grads = [g.copy() for g in model.gradients()]

    def loss():
        return float((model.forward(x) * r).sum())

    for array, grad in [(x, dx)] + list(zip(model.parameters(), grads)):
        for i in _probe(rng, array, count):
            np.testing.assert_allclose(grad.reshape(-1)[i], _numeric(loss, array, i), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("expr, shape", GRAD_CASES)
def test_layer_gradients_match_finite_differences(expr, shape):
    rng = np.random.default_rng(2)
    layer = make(expr, nn)
    model = nn.Sequential([layer], seed=0, dtype="float64")
    x = rng.standard_normal((3,) + shape)
    model.build(shape)
    for p in model.parameters():  # (PReLU's alpha starts at 0: no negative slope to check)
        p[...] = rng.standard_normal(p.shape) * 0.5
    _finite_difference_check(model, x, rng)


def test_layers_save_and_load_with_the_model(tmp_path):
    rng = np.random.default_rng(3)
    model = nn.Sequential([
        nn.Conv2D(3, 3, padding="same"), nn.PReLU(shared_axes=[1, 2]), nn.ZeroPadding2D(1), nn.Cropping2D(1),
        nn.UpSampling2D(2), nn.SpatialDropout2D(0.2), nn.GlobalMaxPooling2D(keepdims=True), nn.Reshape((3,)),
        nn.LayerNormalization(epsilon=0.01), nn.Dense(8), nn.Reshape((4, 2)), nn.ZeroPadding1D(1),
        nn.UpSampling1D(2), nn.Cropping1D(1), nn.SpatialDropout1D(0.1),
        nn.Bidirectional(nn.GRU(3, return_sequences=True), merge_mode="sum"),
        nn.TimeDistributed(nn.Dense(2)), nn.GlobalAveragePooling1D(), nn.Softmax()], seed=0)
    x = rng.standard_normal((4, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 2, 4)
    model.compile("nadam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = nn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(a).__name__ for a in loaded.layers] == [type(a).__name__ for a in model.layers]
    assert loaded.optimizer.name == "nadam"


def test_bidirectional_state_dict_uses_pytorch_names_and_matches_torch():
    torch = pytest.importorskip("torch")
    model = nn.Sequential([nn.Bidirectional(nn.LSTM(4, return_sequences=True))], seed=0)
    model.build((5, 3))
    keys = list(model.state_dict())
    assert keys[:4] == ["0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0", "0.bias_hh_l0"]
    assert keys[4:] == ["0.weight_ih_l0_reverse", "0.weight_hh_l0_reverse", "0.bias_ih_l0_reverse",
                        "0.bias_hh_l0_reverse"]
    t = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    t.load_state_dict({k[2:]: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), t(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_spatial_dropout_drops_whole_channels_in_training_only():
    x = np.ones((4, 6, 5, 8), np.float32)
    model = nn.Sequential([nn.SpatialDropout2D(0.5)], seed=0)
    assert np.array_equal(model.predict(x), x)
    y = model.forward(x, training=True)
    per_channel = y.reshape(4, 30, 8)
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))  # one value per example and channel
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(model.backward(np.ones_like(y)), y)
    one = nn.Sequential([nn.SpatialDropout1D(0.5)], seed=0).forward(np.ones((4, 7, 6), np.float32), training=True)
    assert np.all(one.min(axis=1) == one.max(axis=1))


def test_lambda_without_backward_is_a_clear_type_error():
    model = nn.Sequential([nn.Dense(3), nn.Lambda(np.tanh)], seed=0)
    model.compile("sgd", "mse")
    x = np.ones((4, 2), np.float32)
    np.testing.assert_allclose(model.predict(x), np.tanh(model.layers[0].forward(x)), rtol=1e-6)
    assert model.layers[1].output_shape == (3,)
    with pytest.raises(TypeError, match="backward="):
        model.fit(x, np.zeros((4, 3)), verbose=0)
    with pytest.raises(TypeError, match="cannot be saved"):
        model.save("/nonexistent/never-written.npz")
    with pytest.raises(TypeError, match="function must be callable"):
        nn.Lambda(3)


@pytest.mark.parametrize("bad, match", [
    ("nn.UpSampling2D(interpolation='bilinear')", "interpolation"),
    ("nn.Softmax(axis=0)", "axis"),
    ("nn.LayerNormalization(axis=0)", "axis"),
    ("nn.LayerNormalization(epsilon=0)", "epsilon"),
    ("nn.PReLU(shared_axes=[0])", "shared_axes"),
    ("nn.ZeroPadding2D(-1)", "padding"),
    ("nn.Cropping2D('a')", "cropping"),
    ("nn.SpatialDropout1D(1.5)", "rate"),
    ("nn.Bidirectional(nn.Dense(3))", "recurrent"),
    ("nn.Bidirectional(nn.LSTM(3), merge_mode=None)", "merge_mode"),
    ("nn.TimeDistributed(3)", "layer"),
    ("nn.LSTM(3, activation='relu')", "activation"),
    ("nn.GRU(3, recurrent_activation='hard_sigmoid')", "recurrent_activation"),
    ("nn.GRU(3, reset_after=False)", "reset_after"),
    ("nn.LSTM(3, recurrent_dropout=0.2)", "recurrent_dropout"),
    ("nn.LSTM(3, dropout=1.0)", "dropout"),
    ("nn.Dense(3, kernel_regularizer='l3')", "kernel_regularizer"),
    ("nn.regularizers.L2(-1)", "l2"),
    ("nn.Adam(learning_rate=-1)", "learning_rate"),
])
def test_hostile_arguments_name_themselves(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        eval(bad)


def test_layers_reject_inputs_of_the_wrong_rank():
    with pytest.raises(ValueError, match="Cropping2D"):
        nn.Sequential([nn.Cropping2D(3)]).build((4, 4, 1))
    with pytest.raises(ValueError, match="GlobalMaxPooling2D"):
        nn.Sequential([nn.GlobalMaxPooling2D()]).build((4, 3))
    with pytest.raises(ValueError, match="axis"):
        nn.Sequential([nn.Softmax(axis=3)]).build((4, 3))


# ---- optimizers and schedules against Keras --------------------------------------------------------------

OPTIMIZERS = [
    ("Nadam(learning_rate=0.01)", "nadam"),
    ("Adadelta(learning_rate=0.5, rho=0.9)", "adadelta"),
    ("AdamW(learning_rate=0.01, weight_decay=0.1)", "adamw"),
    ("Nadam(learning_rate=keras_schedules.ExponentialDecay(0.1, 2, 0.5))", None),
    ("SGD(learning_rate=keras_schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01]))", None),
    ("SGD(learning_rate=keras_schedules.CosineDecay(0.1, 4, alpha=0.1))", None),
    ("SGD(learning_rate=keras_schedules.CosineDecay(0.0, 3, warmup_target=0.2, warmup_steps=2))", None),
    ("SGD(learning_rate=keras_schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True))", None),
]


@pytest.mark.parametrize("expr, name", OPTIMIZERS)
def test_optimizer_steps_match_keras(keras, expr, name):
    """Six updates of two arrays from the same gradients: Keras's variables and fastconv's arrays agree."""
    rng = np.random.default_rng(5)
    w0 = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(w.shape) for w in w0] for _ in range(6)]
    kopt = eval("keras.optimizers." + expr, {"keras": keras, "keras_schedules": keras.optimizers.schedules})
    fopt = eval("nn.optimizers." + expr, {"nn": nn, "keras_schedules": nn.optimizers.schedules})
    kvars = [keras.Variable(w.astype(np.float32)) for w in w0]
    fvars = [w.astype(np.float32) for w in w0]
    for g in grads:
        kopt.apply_gradients([(keras.ops.convert_to_tensor(gi.astype(np.float32)), v) for gi, v in zip(g, kvars)])
        fopt.step(fvars, [gi.astype(np.float32) for gi in g])
        for f, k in zip(fvars, kvars):
            np.testing.assert_allclose(f, keras.ops.convert_to_numpy(k), rtol=2e-5, atol=2e-6)
    if name is not None:
        assert nn.optimizers.get(name).name == name
        assert type(nn.optimizers.get(fopt.get_config())) is type(fopt)


def test_schedules_match_keras_and_survive_the_config(keras):
    cases = [("ExponentialDecay(0.1, 3, 0.5)", range(10)), ("ExponentialDecay(0.1, 3, 0.5, staircase=True)", range(10)),
             ("PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])", range(8)),
             ("CosineDecay(0.2, 5, alpha=0.05)", range(8)),
             ("CosineDecay(0.0, 4, warmup_target=0.3, warmup_steps=3)", range(10))]
    for expr, steps in cases:
        k = eval("keras.optimizers.schedules." + expr)
        f = eval("nn.optimizers.schedules." + expr)
        for step in steps:
            np.testing.assert_allclose(f(step), float(keras.ops.convert_to_numpy(k(step))), rtol=1e-6)
        opt = nn.optimizers.get(nn.SGD(f).get_config())
        assert opt.learning_rate(4) == f(4)
    opt = nn.SGD(nn.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5))
    with pytest.raises(TypeError, match="schedule"):
        opt.learning_rate = 0.5
    with pytest.raises(ValueError, match="boundaries"):
        nn.optimizers.schedules.PiecewiseConstantDecay([3, 1], [1, 2, 3])


def test_compile_takes_the_new_optimizer_names():
    x = np.random.default_rng(6).standard_normal((16, 3)).astype(np.float32)
    for name in ("nadam", "adadelta", "adamw"):
        model = nn.Sequential([nn.Dense(2)], seed=0)
        model.compile(name, "mse")
        assert model.optimizer.name == name
        before = model.predict(x)
        model.fit(x, np.zeros((16, 2)), epochs=1, verbose=0)
        assert not np.array_equal(before, model.predict(x))
