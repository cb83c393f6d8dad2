"""fastconv.nn's functional API: Input tensors, layers called on them,
Model(inputs, outputs) with shared layers, merge layers, several inputs
and outputs; gradients against float64 central finite differences, and
predictions against Keras itself (torch backend) where it is installed."""
import os
import pathlib
import re
import subprocess
import sys
import types

import numpy as np
import pytest

from fastconv import nn
from test_nn_keras import keras_defaults  # noqa: F401  (autouse: Keras's channels_last)


def real_keras():
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras runs another backend here")
    return keras


def nn_as_keras():
    """fastconv.nn under Keras's module names (keras.Model, keras.layers.X)."""
    return types.SimpleNamespace(Model=nn.Model, Input=nn.Input, layers=nn.layers)


def numerical_gradient(loss, a, eps=1e-6):
    """d loss() / d a by central differences, a (float64) changed in place and restored."""
    flat, num = a.reshape(-1), np.empty(a.size)
    for i in range(a.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = loss()
        flat[i] = keep - eps
        num[i] = (up - loss()) / (2 * eps)
        flat[i] = keep
    return num.reshape(a.shape)


def dag(k):
    """Two inputs; a residual Add over two convolutions, a Multiply, a
    Concatenate of images, a layer shared by two nodes, a Concatenate of
    three branches (k: keras or fastconv.nn under Keras's names): the
    inputs, the output and the shared layer."""
    a, b = k.Input((5, 5, 2), name="image"), k.Input((3,), name="vector")
    h = k.layers.Conv2D(3, 3, padding="same", activation="tanh")(a)
    r = k.layers.Add()([h, k.layers.Conv2D(3, 3, padding="same")(h)])  # kept channels-first between the layers
    m = k.layers.Multiply()([a, k.layers.Conv2D(2, 1)(a)])  # an input and a convolution: mixed layouts
    c = k.layers.Concatenate()([r, m])  # images joined along the channel axis
    shared = k.layers.Dense(3, activation="tanh")
    p = shared(b)
    q = shared(k.layers.Dense(3, activation="sigmoid")(b))  # the shared layer's second node reads a computed tensor
    z = k.layers.Concatenate()([k.layers.Dense(4)(k.layers.Flatten()(c)), p, q])
    return [a, b], k.layers.Dense(2)(z), shared


def check_gradients(model, xs, r):
    """The gradients of sum(model(xs) * r) by the parameters and the inputs
    (float64) against central finite differences."""
    def loss():
        return float((model.forward(xs) * r).sum())

    model.forward(xs)
    gx = model.backward(r)
    grads = [g.copy() for g in model.gradients()]
    for a, g in zip(model.parameters() + xs, grads + gx):
        np.testing.assert_allclose(g, numerical_gradient(loss, a), rtol=1e-5, atol=1e-7)


def small_dag(dtype="float64"):
    inputs, output, shared = dag(nn_as_keras())
    return nn.Model(inputs, output, seed=0, dtype=dtype), shared


def test_dag_gradients_match_finite_differences():
    model, shared = small_dag()
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((4, 5, 5, 2)), rng.standard_normal((4, 3))]
    assert len(model.parameters()) == 14  # the shared layer's weights count once
    check_gradients(model, xs, rng.standard_normal((4, 2)))
    assert np.abs(shared.grads["weight"]).sum() > 0


MERGES = [(nn.Add, 3, {}), (nn.Subtract, 2, {}), (nn.Multiply, 3, {}), (nn.Average, 3, {}),
          (nn.Concatenate, 3, {}), (nn.Concatenate, 3, {"axis": 1})]


@pytest.mark.parametrize("cls, n, kwargs", MERGES)
def test_merge_backward_matches_finite_differences(cls, n, kwargs):
    rng = np.random.default_rng(2)
    shapes = [(3, 4, 2 + i if cls is nn.Concatenate and not kwargs else 2) for i in range(n)]
    if kwargs.get("axis") == 1:
        shapes = [(3, 1 + i, 2) for i in range(n)]
    xs = [rng.standard_normal(s) for s in shapes]
    layer = cls(**kwargs)
    y = layer(xs)
    r = rng.standard_normal(y.shape)
    grads = layer.backward(r)
    for x, g in zip(xs, grads):
        np.testing.assert_allclose(g, numerical_gradient(lambda: (layer.forward(xs) * r).sum(), x), rtol=1e-6,
                                   atol=1e-8)
    expected = {nn.Add: lambda: sum(xs), nn.Multiply: lambda: np.prod(xs, axis=0),
                nn.Average: lambda: sum(xs) / n, nn.Subtract: lambda: xs[0] - xs[1],
                nn.Concatenate: lambda: np.concatenate(xs, axis=kwargs.get("axis", -1))}[cls]()
    np.testing.assert_allclose(layer.forward(xs), expected, rtol=1e-12)


def siamese(k, **kwargs):
    """A model used as a layer at two nodes (k: keras or fastconv.nn under
    Keras's names; kwargs: fastconv's seed and dtype)."""
    i = k.Input((6,))
    encoder = k.Model(i, k.layers.Dense(3, activation="tanh")(k.layers.Dense(5, activation="relu")(i)), name="enc",
                      **kwargs)
    a, b = k.Input((6,)), k.Input((6,))
    za, zb = encoder(a), encoder(b)
    out = k.layers.Dense(2)(k.layers.Concatenate()([za, zb, k.layers.Subtract()([za, zb])]))
    return k.Model([a, b], out, **kwargs), encoder


def test_a_model_used_as_a_layer_twice(tmp_path):
    model, encoder = siamese(nn_as_keras(), seed=0, dtype="float64")
    assert model.get_layer("enc") is encoder and len(model.parameters()) == 6
    rng = np.random.default_rng(10)
    xs = [rng.standard_normal((4, 6)), rng.standard_normal((4, 6))]
    check_gradients(model, xs, rng.standard_normal((4, 2)))
    assert "enc (Functional)" in model.summary(print_fn=None)
    model.save(tmp_path / "siamese.npz")
    loaded = nn.load_model(tmp_path / "siamese.npz")
    np.testing.assert_array_equal(loaded.predict(xs), model.predict(xs))
    np.testing.assert_array_equal(loaded.get_layer("enc").predict(xs[0]), encoder.predict(xs[0]))
    with pytest.raises(ValueError, match="takes inputs of shape"):
        encoder(nn.Input((5,)))
    with pytest.raises(ValueError, match="one input and gives one output"):
        model(nn.Input((6,)))
    with pytest.raises(ValueError, match="holds float64 weights"):
        nn.Model(encoder.inputs, encoder.outputs, dtype="float32")


def test_a_nested_model_gives_keras_predictions():
    keras = real_keras()
    km, _ = siamese(keras)
    fm, _ = siamese(nn_as_keras())
    assert [type(layer).__name__ for layer in fm.layers] == [
        "Model" if name == "Functional" else name for name in (type(layer).__name__ for layer in km.layers)]
    fm.set_weights(km.get_weights())
    rng = np.random.default_rng(11)
    xs = [rng.standard_normal((3, 6)).astype(np.float32), rng.standard_normal((3, 6)).astype(np.float32)]
    np.testing.assert_allclose(fm.predict(xs), keras.ops.convert_to_numpy(km.predict(xs, verbose=0)), rtol=1e-5,
                               atol=1e-6)


def keras_listing(k):
    """A functional model with a residual Add block and a Concatenate, in
    Keras's spelling (k: keras or fastconv.nn under Keras's names)."""
    inp = k.Input((8, 8, 3))
    h = k.layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    skip = h
    h = k.layers.Conv2D(6, 3, padding="same", activation="relu")(h)
    h = k.layers.BatchNormalization()(h)
    h = k.layers.Conv2D(6, 3, padding="same")(h)
    h = k.layers.Add()([h, skip])
    h = k.layers.MaxPooling2D(2)(h)
    a = k.layers.Flatten()(h)
    b = k.layers.GlobalAveragePooling2D()(h)
    z = k.layers.Concatenate()([k.layers.Dense(5, activation="relu")(a), b])
    return k.Model(inp, k.layers.Dense(4, activation="softmax")(z))


def test_keras_weights_give_keras_predictions():
    keras = real_keras()
    x = np.random.default_rng(3).standard_normal((5, 8, 8, 3)).astype(np.float32)
    km, fm = keras_listing(keras), keras_listing(nn_as_keras())
    kw = [w.copy() for w in km.get_weights()]
    kw[8] += 0.5  # BatchNorm's moving mean and variance away from the identity
    kw[9] += 0.7
    km.set_weights(kw)
    fm.set_weights(kw)
    np.testing.assert_allclose(fm.predict(x), keras.ops.convert_to_numpy(km.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    assert [w.shape for w in fm.get_weights()] == [w.shape for w in kw]
    assert fm.count_params() == km.count_params()
    text = fm.summary(print_fn=None)
    trainable = sum(int(np.prod(w.shape)) for w in km.trainable_weights)
    assert f" Total params: {km.count_params():,} " in text
    assert f" Trainable params: {trainable:,} " in text
    assert f" Non-trainable params: {km.count_params() - trainable:,} " in text
    assert [type(layer).__name__ for layer in fm.layers][:3] == ["InputLayer", "Conv2D", "Conv2D"]


def test_keras_order_and_predictions_of_a_dag_with_a_shared_layer():
    keras = real_keras()
    inputs, output, _ = dag(keras)
    km = keras.Model(inputs, output)
    fm, _ = small_dag("float32")
    assert [type(layer).__name__ for layer in fm.layers] == [type(layer).__name__ for layer in km.layers]
    fm.set_weights(km.get_weights())
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((4, 5, 5, 2)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)]
    np.testing.assert_allclose(fm.predict(xs), keras.ops.convert_to_numpy(km.predict(xs, verbose=0)), rtol=1e-5,
                               atol=1e-6)


def test_summary_lists_connections_and_counts():
    model, _ = small_dag()
    text = model.summary(print_fn=None)
    assert text.splitlines()[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to"]
    add = next(line for line in text.splitlines() if "(Add)" in line)
    assert add.split()[-2:] == [f"{model.layers[1].name}[0][0],", f"{model.layers[2].name}[0][0]"]
    concat = [line for line in text.splitlines() if "(Concatenate)" in line][-1]
    assert concat.count("[0][0]") + concat.count("[1][0]") == 3 and "[1][0]" in concat  # the shared layer's 2nd node
    shared = model.get_layer(model.layers[-3].name)
    assert shared is model.layers[-3]
    # conv 2*9*3+3, conv 3*9*3+3, conv 2*2+2, dense 125*4+4, dense 3*3+3 twice over (one shared), dense 10*2+2
    assert model.count_params() == 57 + 84 + 6 + 504 + 12 + 12 + 22
    assert f" Total params: {model.count_params():,} " in text
    assert next(line for line in text.splitlines() if "(Conv2D)" in line).endswith(" image[0][0]")
    with pytest.raises(ValueError, match="no layer named"):
        model.get_layer("nope")


def autoencoder(seed=0):
    inp = nn.Input((16,))
    code = nn.Dense(4, activation="relu")(nn.Dense(8, activation="relu")(inp))
    out = nn.Dense(16)(nn.Dense(8, activation="relu")(code))
    return nn.Model(inp, out, seed=seed), inp, code


def test_encoder_sub_model_keeps_the_trained_weights():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    auto, inp, code = autoencoder()
    auto.compile(nn.Adam(1e-2), "mse")
    before = auto.evaluate(x, x)
    auto.fit(x, x, epochs=5, batch_size=16, verbose=0)
    assert auto.evaluate(x, x) < before
    trained = auto.get_weights()
    encoder = nn.Model(inp, code)
    for a, b in zip(auto.get_weights(), trained):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(encoder.get_weights()[0], trained[0])
    both = nn.Model(inp, [code, auto.outputs[0]])
    z, out = both.predict(x)
    np.testing.assert_allclose(encoder.predict(x), z, rtol=1e-6)
    np.testing.assert_allclose(auto.predict(x), out, rtol=1e-6)
    np.testing.assert_allclose(z, np.maximum(np.maximum(x @ trained[0] + trained[1], 0) @ trained[2] + trained[3], 0),
                               rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip(tmp_path):
    model, _ = small_dag("float32")
    rng = np.random.default_rng(5)
    xs = {"image": rng.standard_normal((6, 5, 5, 2)).astype(np.float32),
          "vector": rng.standard_normal((6, 3)).astype(np.float32)}
    model.compile("adam", "mse")
    model.fit(xs, rng.standard_normal((6, 2)), epochs=2, verbose=0)
    path = tmp_path / "f.npz"
    model.save(path)
    loaded = nn.load_model(path)
    assert isinstance(loaded, nn.Model) and loaded.loss.name == "mse"
    np.testing.assert_array_equal(loaded.predict([xs["image"], xs["vector"]]), model.predict(xs))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.summary(print_fn=None) == model.summary(print_fn=None)
    with np.load(path, allow_pickle=False) as data:
        assert "config" in data
    seq = nn.Sequential([nn.Input((3,)), nn.Dense(2)], seed=0)
    seq.save(tmp_path / "s.npz")
    assert isinstance(nn.models.load_model(tmp_path / "s.npz"), nn.Sequential)


def test_several_outputs_with_weighted_losses(tmp_path):
    inp = nn.Input((6,))
    h = nn.Dense(8, activation="relu")(inp)
    cls = nn.Dense(3, activation="softmax", name="cls")(h)
    reg = nn.Dense(1, name="reg")(h)
    model = nn.Model(inp, [cls, reg], seed=0)
    model.compile("adam", {"cls": "sparse_categorical_crossentropy", "reg": "mse"}, ["accuracy"],
                  loss_weights={"cls": 1.0, "reg": 0.5})
    rng = np.random.default_rng(6)
    x, yc, yr = rng.standard_normal((40, 6)), rng.integers(0, 3, 40), rng.standard_normal((40, 1))
    history = model.fit(x, {"cls": yc, "reg": yr}, epochs=3, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_accuracy"}
    logs = model.evaluate(x, [yc, yr], return_dict=True)
    assert logs["loss"] == pytest.approx(logs["cls_loss"] + 0.5 * logs["reg_loss"], rel=1e-6)
    p, r = model.predict(x)
    expected = -np.log(p[np.arange(40), yc]).mean()
    assert logs["cls_loss"] == pytest.approx(expected, rel=1e-4)
    assert logs["reg_loss"] == pytest.approx(((r - yr) ** 2).mean(), rel=1e-4)
    assert model.metrics_names == list(logs)
    model.save(tmp_path / "m.npz")
    loaded = nn.load_model(tmp_path / "m.npz")
    assert loaded.evaluate(x, [yc, yr], return_dict=True) == pytest.approx(logs)


def test_frozen_layers_and_trainable_false():
    auto, inp, code = autoencoder()
    first = auto.layers[1]
    first.trainable = False
    kept = first.get_weights()
    x = np.random.default_rng(7).standard_normal((32, 16)).astype(np.float32)
    auto.compile("adam", "mse")
    auto.fit(x, x, epochs=2, verbose=0)
    for a, b in zip(first.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
    assert auto.count_params() == sum(sum(layer.count_weights()) for layer in auto.layers)
    assert len(auto.trainable_variables) == 6
    auto.trainable = False
    assert auto.trainable_variables == [] and not auto.trainable
    assert " Trainable params: 0 " in auto.summary(print_fn=None)


def test_layers_called_on_arrays():
    x = np.random.default_rng(8).standard_normal((2, 6, 6, 3)).astype(np.float32)
    conv = nn.Conv2D(4, 3)
    y = conv(x)
    assert y.shape == (2, 4, 4, 4) and conv.built
    seq = nn.Sequential([conv])
    seq.build((6, 6, 3))
    np.testing.assert_allclose(y, seq.predict(x), rtol=1e-6)
    dense = nn.Dense(2)
    np.testing.assert_allclose(dense(x[:, 0, 0]), x[:, 0, 0] @ dense.get_weights()[0], rtol=1e-6)
    inp = nn.Input((3,))
    soft = nn.Dense(2, activation="softmax")
    model = nn.Model(inp, soft(inp), seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.train_on_batch(x[:, 0, 0], np.array([0, 1]))  # trains on the logits (softmax fused into the loss)
    np.testing.assert_allclose(soft(x[:, 0, 0]).sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(soft(x[:, 0, 0]), model.predict(x[:, 0, 0]), rtol=1e-6)


def test_hostile_graphs_and_inputs():
    a, b = nn.Input((4,)), nn.Input((4,))
    h = nn.Dense(3)(a)
    with pytest.raises(ValueError, match="graph disconnected"):
        nn.Model(a, nn.Add()([h, nn.Dense(3)(b)]))
    with pytest.raises(ValueError, match="inputs must be keras.Input"):
        nn.Model(h, nn.Dense(2)(h))
    with pytest.raises(TypeError, match="KerasTensors"):
        nn.Model(a, np.zeros(3))
    with pytest.raises(ValueError, match="one shape"):
        nn.Add()([a, h])
    with pytest.raises(ValueError, match="agree except along axis"):
        nn.Concatenate(axis=1)([nn.Input((2, 3)), nn.Input((2, 4))])
    with pytest.raises(ValueError, match="exactly 2"):
        nn.Subtract()([a, b, a])
    with pytest.raises(TypeError, match="list of tensors"):
        nn.Add()(a)
    with pytest.raises(TypeError, match="mixing symbolic"):
        nn.Add()([a, np.zeros((1, 4))])
    shared = nn.Dense(2)
    shared(a)
    with pytest.raises(ValueError, match="takes inputs of shape"):
        shared(nn.Input((5,)))
    model = nn.Model([a, b], nn.Add()([nn.Dense(3)(a), nn.Dense(3)(b)]))
    with pytest.raises(ValueError, match="has 2 inputs"):
        model.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="received a list of 3"):
        model.predict([np.zeros((2, 4))] * 3)
    with pytest.raises(ValueError, match="takes arrays of shape"):
        model.predict([np.zeros((2, 4)), np.zeros((2, 5))])
    with pytest.raises(ValueError, match="same number of examples"):
        model.predict([np.zeros((2, 4)), np.zeros((3, 4))])
    with pytest.raises(ValueError, match="unique names"):
        nn.Model(a, nn.Dense(2, name="x")(nn.Dense(2, name="x")(a)))
    with pytest.raises(ValueError, match="one entry per output"):
        model.compile("adam", ["mse", "mse"])
    with pytest.raises(ValueError, match="needs the keys"):
        model.compile("adam", {"wrong": "mse"})
    with pytest.raises(ValueError, match="numbers >= 0"):
        model.compile("adam", "mse", loss_weights=[-1])


PROGRAMS = pathlib.Path(__file__).parent / "keras_programs"


@pytest.mark.parametrize("program, ranges", [
    ("autoencoder_digits.py", {"test reconstruction mse": (0.0, 0.035),
                               "nearest-centroid accuracy on the codes": (0.6, 1.0)}),
    ("residual_cnn_digits.py", {"test accuracy": (0.8, 1.0)}),
    ("mnist_convnet_digits.py", {"test accuracy": (0.8, 1.0), "epochs run": (3, 15)}),
    ("lstm_forecast.py", {"test mse": (0.0, 0.03), "mse / persistence mse": (0.0, 0.5)}),
    ("frozen_base_finetune.py", {"base weight change": (0.0, 0.0), "test accuracy on the new digits": (0.45, 1.0)}),
    ("dcgan_digits.py", {"all losses finite": (1, 1), "generator weight change": (0.01, 10.0),
                         "discriminator loss (last 20 steps)": (0.05, 2.0),
                         "generator loss (last 20 steps)": (0.05, 5.0)}),
])
def test_keras_programs(program, ranges):
    """The Keras listings in tests/keras_programs run on fastconv.nn (their
    only difference from Keras programs: the imports) and reach Keras's
    figures (quoted in each program's docstring)."""
    pytest.importorskip("sklearn")
    # one thread unless told otherwise: on a loaded machine OpenMP's spin-waits make a small model 15x slower
    env = {"FASTCONV_NUM_THREADS": "1", **os.environ}
    done = subprocess.run([sys.executable, str(PROGRAMS / program)], capture_output=True, text=True, timeout=300,
                          cwd=PROGRAMS, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    for metric, (low, high) in ranges.items():
        value = float(re.search(rf"^{re.escape(metric)}: ([0-9.]+)$", done.stdout, re.M).group(1))
        assert low <= value <= high, done.stdout


def test_a_chain_trains_as_the_same_sequential():
    """A functional chain and the Sequential of the same layers (same
    weights, no shuffling): the same history and weights, through fit's
    Keras arguments (validation_split, sample_weight, class_weight,
    callbacks) and the channels-last image layers."""
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((48, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, 48)

    def layers():
        return [nn.Conv2D(4, 3, padding="same", activation="relu"), nn.BatchNormalization(), nn.MaxPooling2D(2),
                nn.Conv2D(4, 3), nn.Flatten(), nn.Dense(3, activation="softmax")]

    seq = nn.Sequential([nn.Input((8, 8, 2))] + layers(), seed=0)
    h = inp = nn.Input((8, 8, 2))
    for layer in layers():
        h = layer(h)
    model = nn.Model(inp, h, seed=1)
    model.set_weights(seq.get_weights())
    args = dict(epochs=4, batch_size=10, shuffle=False, validation_split=0.25, verbose=0,
                sample_weight=rng.uniform(0.5, 2, 48), class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    histories = []
    for m in (seq, model):
        m.compile(nn.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
        histories.append(m.fit(x, y, callbacks=[nn.EarlyStopping(patience=1, restore_best_weights=True)],
                               **args).history)
    assert histories[0].keys() == histories[1].keys() and "val_accuracy" in histories[1]
    for k in histories[0]:
        np.testing.assert_allclose(histories[1][k], histories[0][k], rtol=2e-5, atol=1e-6)
    for a, b in zip(model.get_weights(), seq.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.train_on_batch(x[:8], y[:8]), seq.train_on_batch(x[:8], y[:8]),
                               rtol=1e-5)


def test_a_node_called_with_training_false_keeps_inference_mode(tmp_path):
    """layer(t, training=False): a BatchNorm whose statistics stay put while
    the model trains (Keras's fine-tuning idiom), kept by save / load."""
    inp = nn.Input((5,))
    bn = nn.BatchNormalization()
    model = nn.Model(inp, nn.Dense(1)(bn(nn.Dense(4)(inp), training=False)), seed=0)
    assert model.input is inp and model.output is model.outputs[0]
    x = np.random.default_rng(13).standard_normal((32, 5)).astype(np.float32)
    model.compile("adam", "mse")
    model.fit(x, x[:, :1], epochs=2, verbose=0)
    np.testing.assert_array_equal(bn.get_weights()[2:], [np.zeros(4), np.ones(4)])  # moving mean and variance
    model.save(tmp_path / "bn.npz")
    loaded = nn.load_model(tmp_path / "bn.npz")
    loaded.fit(x, x[:, :1], epochs=1, verbose=0)
    np.testing.assert_array_equal(loaded.get_layer(bn.name).get_weights()[2:], [np.zeros(4), np.ones(4)])
    free = nn.Model(inp, nn.Dense(1)(nn.BatchNormalization()(nn.Dense(4)(inp))), seed=0)
    free.compile("adam", "mse")
    free.fit(x, x[:, :1], epochs=1, verbose=0)
    assert np.abs(free.layers[2].get_weights()[2]).sum() > 0


def test_recurrent_layers_in_a_graph():
    """An LSTM and a GRU reading one sequence, their last states joined:
    the same outputs as the two Sequential branches."""
    inp = nn.Input((7, 3))
    lstm, gru = nn.LSTM(4), nn.GRU(5, return_sequences=True)
    model = nn.Model(inp, nn.Concatenate()([lstm(inp), nn.Flatten()(gru(inp))]), seed=0)
    x = np.random.default_rng(14).standard_normal((6, 7, 3)).astype(np.float32)
    expected = np.concatenate([nn.Sequential([lstm]).predict(x), nn.Sequential([gru, nn.Flatten()]).predict(x)], 1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)
    assert model.output_shape == (4 + 7 * 5,)
