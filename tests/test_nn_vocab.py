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

# Keras 3 on NumPy 2 (its variables' __array__ without copy=)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


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
    ("GlobalAveragePooling2D(keepdims=True)", (4, 5, 3)),
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


# ---- recurrent layers' Keras arguments -------------------------------------------------------------------


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
def test_stateful_layers_carry_their_states_as_keras(keras, cls):
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((2, 5, 3)).astype(np.float32) for _ in range(3)]
    k = getattr(keras.layers, cls)(4, stateful=True, return_sequences=True)
    k(xs[0])
    k.reset_states()
    f = getattr(nn, cls)(4, stateful=True, return_sequences=True)
    model = nn.Sequential([f])
    model.build((5, 3))
    f.set_weights(k.get_weights())
    for x in xs:
        np.testing.assert_allclose(model.predict(x), keras.ops.convert_to_numpy(k(x)), rtol=1e-5, atol=1e-5)
    k.reset_states()
    f.reset_states()
    np.testing.assert_allclose(model.predict(xs[1]), keras.ops.convert_to_numpy(k(xs[1])), rtol=1e-5, atol=1e-5)
    first = model.predict(xs[0])
    assert not np.allclose(model.predict(xs[0]), first)  # the second call starts from the first's final state
    with pytest.raises(ValueError, match="reset_states"):
        model.predict(np.zeros((3, 5, 3), np.float32))
    f.reset_state()
    assert model.predict(np.zeros((3, 5, 3), np.float32)).shape == (3, 5, 4)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_stateful_gradients_hold_the_carried_state_constant(cls):
    """The carried state is a constant of the next batch (Keras's truncated
    backpropagation): the gradients match differences taken from it."""
    rng = np.random.default_rng(8)
    layer = getattr(nn, cls)(3, stateful=True, go_backwards=True)
    model = nn.Sequential([layer], seed=0, dtype="float64")
    model.forward(rng.standard_normal((2, 4, 3)))  # leaves a state
    carried = layer._state
    x = rng.standard_normal((2, 4, 3))
    r = rng.standard_normal((2, 3))
    model.forward(x)
    dx = model.backward(r)
    grads = [g.copy() for g in model.gradients()]

    def loss():
        layer._state = carried
        return float((model.forward(x) * r).sum())

    assert not np.allclose(loss(), float((nn.Sequential([getattr(nn, cls)(3)]).forward(x) * r).sum()))
    for array, grad in [(x, dx)] + list(zip(model.parameters(), grads)):
        for i in _probe(rng, array, 10):
            np.testing.assert_allclose(grad.reshape(-1)[i], _numeric(loss, array, i), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_dropout_masks_each_sequence_once(cls):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 5, 4))
    f = getattr(nn, cls)(3, dropout=0.5, return_sequences=True)
    model = nn.Sequential([f], seed=0, dtype="float64")
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # inference: no dropout
    plain = getattr(nn, cls)(3, return_sequences=True)
    reference = nn.Sequential([plain], dtype="float64")
    reference.build((5, 4))
    plain.set_weights(f.get_weights())
    y = model.forward(x, training=True)
    mask = f._mask
    assert mask.shape == (6, 1, 4) and set(np.unique(mask)) == {0.0, 2.0}  # one mask per sequence, scaled
    np.testing.assert_allclose(y, reference.forward(x * mask), rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(model.backward(dy), reference.backward(dy) * mask, rtol=1e-12)
    np.testing.assert_allclose(model.gradients()[0], reference.gradients()[0], rtol=1e-12)


# ---- regularizers against Keras --------------------------------------------------------------------------


def test_regularized_training_step_matches_keras(keras):
    """The loss train_on_batch reports (the compiled loss plus every
    penalty, a Bidirectional's two layers' included), the weights after one
    SGD step and evaluate's loss, as Keras's."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((8, 6, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)

    def listing(k):
        r = k.regularizers
        return k.Sequential([
            k.Input((6, 3)),
            k.layers.Conv1D(4, 2, kernel_regularizer=r.L1L2(l1=0.01, l2=0.02), bias_regularizer=r.l2(0.1)),
            k.layers.LSTM(5, return_sequences=True, kernel_regularizer="l2", recurrent_regularizer=r.l1(0.03),
                          bias_regularizer=r.L2(0.05)),
            k.layers.Bidirectional(k.layers.GRU(3, kernel_regularizer=r.l1_l2(l1=0.01), bias_regularizer=r.L1(0.02))),
            k.layers.Dense(2, kernel_regularizer="l1", bias_regularizer=r.L2(0.3))])

    km, fm = listing(keras), listing(nn_as_keras())
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in km.get_weights()]
    km.set_weights(weights)
    fm.set_weights(weights)
    km.compile(keras.optimizers.SGD(0.1), "mse")
    fm.compile(nn.SGD(0.1), "mse")
    np.testing.assert_allclose(fm.evaluate(x, y), km.evaluate(x, y, verbose=0), rtol=1e-5)
    plain = nn.Sequential([nn.Conv1D(4, 2), nn.LSTM(5, return_sequences=True), nn.Bidirectional(nn.GRU(3)),
                           nn.Dense(2)])
    plain.build((6, 3))
    plain.set_weights(weights)
    plain.compile(nn.SGD(0.1), "mse")
    assert fm.evaluate(x, y) > plain.evaluate(x, y) + 0.1  # (the penalties are not negligible here)
    k_loss = km.train_on_batch(x, y)
    f_loss = fm.train_on_batch(x, y)
    np.testing.assert_allclose(f_loss, k_loss, rtol=1e-5)
    lstm_bias = 4  # Keras's LSTM bias is fastconv's bias_ih + bias_hh: each receives Keras's gradient, so
    for i, (a, b) in enumerate(zip(fm.get_weights(), km.get_weights())):  # their sum moves twice Keras's step
        if i == lstm_bias:
            a = weights[i] + (a - weights[i]) / 2
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_regularizers_by_name_and_config():
    r = nn.regularizers
    assert r.get("l1").l1 == 0.01 and r.get("l2").l2 == 0.01 and (r.get("L1L2").l1, r.get("L1L2").l2) == (0, 0)
    assert r.l1_l2 is r.L1L2  # (as Keras 3, which reads no 'l1_l2' string)
    with pytest.raises(ValueError, match="regularizer"):
        r.get("l1_l2")
    w = np.array([[-2.0, 0.5], [0.0, 1.0]])
    reg = r.L1L2(l1=0.1, l2=0.2)
    assert reg(w) == pytest.approx(0.1 * 3.5 + 0.2 * 5.25)
    np.testing.assert_allclose(reg.gradient(w), 0.1 * np.sign(w) + 0.4 * w)
    layer = nn.Dense(3, kernel_regularizer=reg, bias_regularizer="l2")
    again = nn.Dense(**layer.get_config())
    assert again._regularizers["kernel_regularizer"].l2 == 0.2 and again._regularizers["bias_regularizer"].l2 == 0.01


def nn_as_keras():
    """fastconv.nn under Keras's module names."""
    import types

    return types.SimpleNamespace(Sequential=nn.Sequential, Input=nn.Input, layers=nn, regularizers=nn.regularizers)


# ---- activations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_matches_keras_and_finite_differences(keras, approximate):
    x = np.linspace(-5, 5, 41)
    act = nn.activations.GELU(approximate)
    expected = keras.ops.convert_to_numpy(keras.activations.gelu(x.astype(np.float32), approximate=approximate))
    np.testing.assert_allclose(act.forward(x.astype(np.float32)), expected, rtol=1e-5, atol=1e-6)
    dy = np.random.default_rng(11).standard_normal(x.shape)
    h = 1e-6
    np.testing.assert_allclose(act.backward(dy, x, act.forward(x)),
                               dy * (act.forward(x + h) - act.forward(x - h)) / (2 * h), rtol=1e-6, atol=1e-9)
    assert nn.activations.get("gelu").approximate is False  # Keras's default


# ---- callbacks -------------------------------------------------------------------------------------------


class _Stub:
    """What the monitoring callbacks touch of a model: an optimizer's rate, weights, stop_training."""

    def __init__(self, optimizer):
        self.optimizer, self.stop_training, self.weights = optimizer, False, [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


MONITORED = [0.9, 0.8, 0.85, 0.8, 0.79, 0.795, 0.81, 0.7, 0.72, 0.73, 0.74, 0.75, 0.69, 0.7]


@pytest.mark.parametrize("args", ["patience=2, cooldown=1", "patience=1, factor=0.5, min_lr=0.02, min_delta=0.005",
                                  "monitor='val_accuracy', patience=1, mode='max'"])
def test_reduce_lr_on_plateau_follows_keras(keras, args):
    def run(module, sgd):
        cb = eval(f"module.callbacks.ReduceLROnPlateau({args})")
        model = _Stub(sgd)
        cb.set_model(model) if hasattr(cb, "set_model") else setattr(cb, "model", model)
        cb.on_train_begin()
        rates = []
        for epoch, value in enumerate(MONITORED):
            logs = {"val_loss": value, "val_accuracy": 1 - value}
            cb.on_epoch_end(epoch, logs)
            rates.append((logs["learning_rate"], float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
        return rates

    np.testing.assert_allclose(run(nn, nn.SGD(0.1)), run(keras, keras.optimizers.SGD(0.1)), rtol=1e-6)


@pytest.mark.parametrize("args", ["patience=2", "patience=3, min_delta=0.02, restore_best_weights=True",
                                  "patience=2, baseline=0.75", "patience=1, start_from_epoch=4",
                                  "patience=3, baseline=0.6, restore_best_weights=True",
                                  "monitor='val_accuracy', patience=2, mode='max', restore_best_weights=True"])
def test_early_stopping_follows_keras(keras, args):
    def run(module):
        cb = eval(f"module.callbacks.EarlyStopping({args})")
        model = _Stub(None)
        cb.set_model(model) if hasattr(cb, "set_model") else setattr(cb, "model", model)
        cb.on_train_begin()
        for epoch, value in enumerate(MONITORED):
            model.weights = [np.array([float(epoch)])]
            cb.on_epoch_end(epoch, {"val_loss": value, "val_accuracy": 1 - value})
            if model.stop_training:
                break
        cb.on_train_end()
        return epoch, model.weights[0][0]

    assert run(nn) == run(keras)


def test_early_stopping_mode_auto_minimises_errors():
    assert nn.EarlyStopping("val_mae")._sign == 1.0 and nn.EarlyStopping("val_auc")._sign == -1.0
    with pytest.raises(ValueError, match="mode="):
        nn.EarlyStopping("val_something")


def test_learning_rate_scheduler_and_csv_logger_follow_keras(keras, tmp_path):
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    histories, texts = [], []
    for module, sgd in ((nn, nn.SGD), (keras, keras.optimizers.SGD)):
        model = module.Sequential([module.Input((3,)), module.layers.Dense(1)])
        model.compile(sgd(0.1), "mse")
        path = tmp_path / f"{module.__name__}.csv"
        cbs = [module.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr),
               module.callbacks.CSVLogger(str(path))]
        histories.append(model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=cbs,
                                   validation_data=(x, y)).history)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[module.callbacks.CSVLogger(str(path), append=True)])
        texts.append(path.read_text().splitlines())
    ours, theirs = histories
    assert sorted(ours) == sorted(theirs)
    np.testing.assert_allclose(ours["learning_rate"], theirs["learning_rate"], rtol=1e-6)  # 0.1, 0.05, 0.025
    assert texts[0][0] == texts[1][0] and len(texts[0]) == len(texts[1]) == 5  # header, 3 rows, 1 appended
    assert [line.split(",")[0] for line in texts[0][1:]] == ["0", "1", "2", "0"]


def test_model_checkpoint_saves_the_best_epochs(tmp_path):
    rng = np.random.default_rng(13)
    x, y = rng.standard_normal((32, 3)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    model = nn.Sequential([nn.Dense(1, input_shape=(3,))], seed=0)
    model.compile(nn.SGD(0.05), "mse")
    template = str(tmp_path / "m-{epoch:02d}-{val_loss:.4f}.npz")
    best = tmp_path / "best.npz"
    h = model.fit(x, y, epochs=4, verbose=0, validation_data=(x, y), callbacks=[
        nn.ModelCheckpoint(template), nn.ModelCheckpoint(str(best), save_best_only=True),
        nn.ModelCheckpoint(str(tmp_path / "w.npz"), save_weights_only=True)])
    names = sorted(p.name for p in tmp_path.glob("m-*.npz"))
    assert names == [f"m-{e + 1:02d}-{v:.4f}.npz" for e, v in enumerate(h.history["val_loss"])]
    # SGD on this convex loss improves every epoch: the best is the last
    np.testing.assert_array_equal(nn.load_model(best).predict(x), model.predict(x))
    weights = list(np.load(tmp_path / "w.npz").values())
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="filepath"):
        nn.ModelCheckpoint("model.keras")
    with pytest.raises(ValueError, match="save_freq"):
        nn.ModelCheckpoint("m.npz", save_freq=10)


# ---- losses and metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, expr", [("huber", "Huber()"), ("huber", "Huber(delta=0.3)"),
                                        ("kl_divergence", "KLDivergence()"), ("mae", "MeanAbsoluteError()")])
def test_new_losses_match_keras_and_finite_differences(keras, name, expr):
    rng = np.random.default_rng(14)
    if name == "kl_divergence":
        t = rng.dirichlet(np.ones(4), 6)
        p = rng.dirichlet(np.ones(4), 6)
        p[0, 0] = 0.0  # clipped: no gradient there
    else:
        t, p = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    ours = eval("nn.losses." + expr)
    expected = float(keras.ops.convert_to_numpy(eval("keras.losses." + expr)(t, p)))
    loss, grad = ours(t, p)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert type(nn.losses.get(name)) is type(ours) and type(nn.losses.get(ours.get_config())) is type(ours)
    for i in range(p.size):
        if name == "kl_divergence" and i == 0:
            assert grad.reshape(-1)[0] == 0
            continue
        np.testing.assert_allclose(grad.reshape(-1)[i], _numeric(lambda: ours(t, p)[0], p, i), rtol=1e-5, atol=1e-9)
    w = rng.random(6)
    np.testing.assert_allclose(ours.weighted(t, p, w)[0], float(keras.ops.convert_to_numpy(
        eval("keras.losses." + expr)(t, p, sample_weight=w))), rtol=1e-6)


def test_huber_default_delta_and_a_hostile_one():
    assert nn.losses.Huber().delta == 1.0
    with pytest.raises(ValueError, match="delta"):
        nn.losses.Huber(delta=0)


def test_counting_metrics_in_fit_and_evaluate_follow_keras(keras):
    """precision, recall and AUC accumulate over the epoch (not a mean of
    per-batch values); names as Keras's (auc_1 for a second AUC)."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, :1] + 0.8 * rng.standard_normal((40, 1)) > 0).astype(np.float32)
    results = []
    for module in (nn, keras):
        model = module.Sequential([module.Input((3,)), module.layers.Dense(1, activation="sigmoid")])
        model.compile(module.optimizers.SGD(0.1), "binary_crossentropy", metrics=[
                      "mae", "precision", "recall", "auc", module.metrics.AUC(num_thresholds=7),
                       module.metrics.Precision(thresholds=0.3, name="p3")])
        results.append((model, model.get_weights()))
    (fm, _), (km, weights) = results
    fm.set_weights(weights)
    ours = fm.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    theirs = km.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(ours) == sorted(theirs) == ["auc", "auc_1", "loss", "mae", "p3", "precision", "recall"]
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=2e-4, atol=1e-6, err_msg=k)
    e_ours = fm.evaluate(x, y, batch_size=16, return_dict=True)
    e_theirs = km.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for k in e_theirs:
        np.testing.assert_allclose(e_ours[k], e_theirs[k], rtol=2e-4, atol=1e-6, err_msg=k)


def test_counting_metrics_values_and_save(tmp_path):
    t = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.7, 0.2])
    precision, recall, auc = nn.metrics.Precision(), nn.metrics.Recall(), nn.metrics.AUC()
    assert precision(t, p) == pytest.approx(2 / 3) and recall(t, p) == pytest.approx(2 / 3)
    assert auc(t, p) == pytest.approx(8 / 9, abs=1e-3)  # 8 of the 9 (positive, negative) pairs in order
    precision.reset_state()
    assert precision.result() == 0.0
    model = nn.Sequential([nn.Dense(1, activation="sigmoid", input_shape=(2,))], seed=0)
    model.compile("sgd", "binary_crossentropy", [nn.metrics.AUC(num_thresholds=50, name="area"), "recall"])
    model.save(tmp_path / "m.npz")
    loaded = nn.load_model(tmp_path / "m.npz")
    assert loaded.metrics_names == ["loss", "area", "recall"] and loaded._heads[0]["metrics"]["area"].num_thresholds == 50
    with pytest.raises(ValueError, match="metrics"):
        model.compile("sgd", "mse", ["f1"])
    with pytest.raises(ValueError, match="curve"):
        nn.metrics.AUC(curve="PR")
    with pytest.raises(ValueError, match="top_k"):
        nn.metrics.Precision(top_k=2)


def test_counting_metrics_refuse_dask_evaluation():
    da = pytest.importorskip("dask.array")
    model = nn.Sequential([nn.Dense(1, activation="sigmoid", input_shape=(2,))], seed=0)
    model.compile("sgd", "binary_crossentropy", ["auc"])
    x = da.from_array(np.ones((4, 2), np.float32), chunks=2)
    with pytest.raises(TypeError, match="auc"):
        model.evaluate(x, da.from_array(np.ones((4, 1), np.float32), chunks=2))


def test_conv2d_transpose_keeps_its_data_format_through_save(tmp_path):
    model = nn.Sequential([nn.Conv2DTranspose(2, 3, strides=2, data_format="channels_first")], seed=0)
    x = np.random.default_rng(16).standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = model.predict(x)
    model.save(tmp_path / "t.npz")
    np.testing.assert_array_equal(nn.load_model(tmp_path / "t.npz").predict(x), expected)


# ---- Keras listings ----------------------------------------------------------------------------------------


def _as_keras():
    import types

    return types.SimpleNamespace(Sequential=nn.Sequential, Input=nn.Input, layers=nn.layers)


@pytest.mark.parametrize("listing", [
    # a text classifier
    lambda k: k.Sequential([k.Input((9,)), k.layers.Embedding(20, 6),
                            k.layers.Bidirectional(k.layers.LSTM(5, return_sequences=True)),
                            k.layers.LayerNormalization(), k.layers.GlobalMaxPooling1D(),
                            k.layers.Dense(3, activation="softmax")]),
    # a convolutional autoencoder, channels_last throughout
    lambda k: k.Sequential([k.Input((8, 8, 2)), k.layers.ZeroPadding2D(1), k.layers.Conv2D(4, 3, activation="relu"),
                            k.layers.MaxPooling2D(2), k.layers.UpSampling2D(2), k.layers.Cropping2D(((1, 0), (0, 1))),
                            k.layers.Conv2D(2, 3, padding="same"), k.layers.PReLU(shared_axes=[1, 2]),
                            k.layers.GlobalMaxPooling2D(), k.layers.Softmax()]),
    # a sequence tagger
    lambda k: k.Sequential([k.Input((7, 3)), k.layers.Conv1D(4, 3, padding="same"), k.layers.ZeroPadding1D(1),
                            k.layers.GRU(5, return_sequences=True, go_backwards=True), k.layers.UpSampling1D(2),
                            k.layers.TimeDistributed(k.layers.Dense(2, activation="gelu")),
                            k.layers.GlobalAveragePooling1D()]),
])
def test_keras_listings_give_keras_outputs(keras, listing):
    km, fm = listing(keras), listing(_as_keras())
    rng = np.random.default_rng(17)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.4 for w in km.get_weights()]
    km.set_weights(weights)
    fm.set_weights(weights)
    shape = km.input_shape[1:]
    x = rng.integers(0, 20, (3,) + shape) if len(shape) == 1 else rng.standard_normal((3,) + shape)
    x = x.astype(np.float32)
    np.testing.assert_allclose(fm.predict(x), keras.ops.convert_to_numpy(km(x)), rtol=2e-5, atol=2e-5)
    assert fm.count_params() == km.count_params()
