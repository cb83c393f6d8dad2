"""fastconv.nn against Keras's contract: input shapes before data, summary
counts, frozen layers, reused trained layers, compile's loss, Keras's weight
layouts (checked against Keras itself where it is installed with the torch
backend), fit's Keras arguments."""
import os

import numpy as np
import pytest

from fastconv import nn


@pytest.fixture(autouse=True)
def keras_defaults():
    """Keras's image data format (channels_last), whatever a test before set."""
    saved = nn.config.image_data_format()
    nn.config.set_image_data_format("channels_last")
    yield
    nn.config.set_image_data_format(saved)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, 40)  # Keras's (N, H, W, C)


def small_cnn(**first):
    return nn.Sequential([nn.Conv2D(4, 3, activation="relu", **first), nn.BatchNormalization(), nn.Flatten(),
                          nn.Dense(3, activation="softmax")], seed=0)


def test_input_shape_builds_the_model_and_summary_counts_as_keras():
    for model in (small_cnn(input_shape=(8, 8, 1)),
                  nn.Sequential([nn.Input((8, 8, 1))] + small_cnn().layers),
                  nn.Sequential([nn.InputLayer(shape=(8, 8, 1))] + small_cnn().layers)):
        assert model.built and model.input_shape == (8, 8, 1)
        text = model.summary(print_fn=None)
        # conv 4 * 9 + 4, BatchNorm 4 + 4 trainable and 4 + 4 moving statistics, dense 144 * 3 + 3
        assert "(None, 6, 6, 4)" in text and " Total params: 491 " in text
        assert " Trainable params: 483 " in text and " Non-trainable params: 8 " in text
        assert model.count_params() == 491
    lstm = nn.Sequential([nn.LSTM(5, input_shape=(7, 3)), nn.Dense(1)])
    assert lstm.count_params() == 4 * 5 * (3 + 5) + 4 * 5 + 6  # one recurrent bias, as Keras counts
    with pytest.raises(ValueError, match="only come first"):
        nn.Sequential([nn.Dense(2), nn.Input((3,))])
    with pytest.raises(RuntimeError, match="input_shape"):
        nn.Sequential([nn.Dense(2)]).summary(print_fn=None)


def test_frozen_layers_keep_their_weights(data):
    x, y = data
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    conv, bn = model.layers[0], model.layers[1]
    conv.trainable = bn.trainable = False
    frozen = [a.copy() for a in (conv.params["weight"], bn.params["weight"], bn.buffers["running_mean"])]
    dense = model.layers[3].params["weight"].copy()
    model.fit(x, y, epochs=2, verbose=0)
    for before, after in zip(frozen, (conv.params["weight"], bn.params["weight"], bn.buffers["running_mean"])):
        np.testing.assert_array_equal(before, after)  # BatchNorm frozen: inference mode, statistics kept
    assert not np.array_equal(dense, model.layers[3].params["weight"])
    assert len(model.trainable_variables) == 2
    text = model.summary(print_fn=None)
    assert " Trainable params: 435 " in text and " Non-trainable params: 56 " in text


def test_trained_layers_reused_in_a_new_model_keep_their_weights(data):
    x, y = data
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(x)
    np.testing.assert_array_equal(nn.Sequential(model.layers).predict(x), expected)
    head = nn.Sequential(model.layers[:3])
    np.testing.assert_array_equal(model.layers[3].forward(head.predict(x)), expected)
    with pytest.raises(ValueError, match="was built for inputs"):
        nn.Sequential(model.layers).predict(np.zeros((2, 9, 9, 1), np.float32))


def test_compile_needs_a_loss_and_names_the_metrics(data):
    model = small_cnn()
    with pytest.raises(ValueError, match="needs a loss"):
        model.compile("adam")
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.optimizer.name == "rmsprop"  # Keras's default
    assert model.metrics_names == ["loss", "accuracy"]


def test_keras_weight_layouts_round_trip(data):
    x, _ = data
    model = small_cnn()
    model.build(x.shape[1:])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 1, 4), (4,), (4,), (4,), (4,), (4,), (144, 3), (3,)]
    np.testing.assert_array_equal(model.get_weights()[0], model.layers[0].params["weight"].transpose(2, 3, 1, 0))
    before = model.predict(x)
    weights = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in weights])
    model.set_weights(weights)
    np.testing.assert_array_equal(model.predict(x), before)
    with pytest.raises(ValueError, match="needs 8 arrays"):
        model.set_weights(weights[:-1])
    with pytest.raises(ValueError, match="must have shape"):
        model.layers[3].set_weights([weights[6].T, weights[7]])
    with pytest.raises(ValueError, match="built"):
        nn.Dense(3).set_weights([np.zeros((2, 3)), np.zeros(3)])


def test_fit_takes_keras_arguments(data):
    x, y = data
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    h = model.fit(x, y, None, 3, 0, validation_split=0.25, initial_epoch=1)  # Keras's positional order
    assert h.epoch == [1, 2] and set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # the validation examples are the last quarter, as Keras takes them
    np.testing.assert_allclose(h.history["val_loss"][-1], model.evaluate(x[30:], y[30:], verbose=0)[0], rtol=1e-6)
    model.predict(x, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)


KERAS_LAYERS = [  # (keras layer, fastconv layer, input shape (Keras's layout), to channels-first or None)
    ("Dense(5)", "Dense(5)", (4, 7, 3), None),
    ("LSTM(6, return_sequences=True)", "LSTM(6, return_sequences=True)", (4, 7, 3), None),
    ("GRU(6, return_sequences=True)", "GRU(6, return_sequences=True)", (4, 7, 3), None),
    ("SimpleRNN(6)", "SimpleRNN(6)", (4, 7, 3), None),
    ("Conv2D(4, (3, 2))", "Conv2D(4, (3, 2))", (2, 9, 8, 3), None),                   # channels_last, as Keras
    ("Conv2D(4, (3, 2))", "Conv2D(4, (3, 2), data_format='channels_first')", (2, 9, 8, 3), (0, 3, 1, 2)),
    ("Conv2DTranspose(4, 3, strides=2)", "Conv2DTranspose(4, 3, strides=2)", (2, 9, 8, 3), None),
    ("Conv1D(4, 3)", "Conv1D(4, 3)", (2, 11, 3), None),
    ("MaxPooling2D(2)", "MaxPooling2D(2)", (2, 9, 8, 3), None),
    ("GlobalAveragePooling2D()", "GlobalAveragePooling2D()", (2, 9, 8, 3), None),
]


@pytest.mark.parametrize("klayer, flayer, shape, perm", KERAS_LAYERS)
def test_keras_weights_load_and_give_keras_outputs(klayer, flayer, shape, perm):
    """Weights taken from a Keras layer (get_weights) and set on fastconv's
    give Keras's outputs, and come back unchanged."""
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    k = eval(f"keras.layers.{klayer}")
    expected = keras.ops.convert_to_numpy(k(x))
    f = eval(f"nn.{flayer}")
    xf = x if perm is None else np.ascontiguousarray(x.transpose(perm))
    model = nn.Sequential([f])
    model.build(xf.shape[1:])
    f.set_weights(k.get_weights())
    got = model.predict(xf)
    if perm is not None:
        got = got.transpose(np.argsort(perm))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(f.get_weights(), k.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_keras_cnn_program_runs_channels_last():
    """A Keras CNN listing: channels-last images, Input, Flatten in Keras's
    order; Keras's weights give Keras's outputs."""
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(2).standard_normal((6, 12, 12, 3)).astype(np.float32)

    def listing(k):
        return k.Sequential([k.Input((12, 12, 3)), k.layers.Conv2D(6, 3, padding="same", activation="relu"),
                             k.layers.MaxPooling2D(2), k.layers.Conv2D(5, 3), k.layers.Flatten(),
                             k.layers.Dense(4, activation="softmax")])

    km, fm = listing(keras), listing(nn_as_keras())
    fm.set_weights(km.get_weights())
    np.testing.assert_allclose(fm.predict(x), keras.ops.convert_to_numpy(km(x)), rtol=1e-5, atol=1e-6)


def nn_as_keras():
    """fastconv.nn under Keras's module names (keras.Sequential, keras.layers.X)."""
    import types

    return types.SimpleNamespace(Sequential=nn.Sequential, Input=nn.Input, layers=nn)


def test_channels_last_trains_as_channels_first(data):
    """The same model channels-last and channels-first (weights shared through
    Keras's layouts, which do not depend on the format): identical outputs,
    and identical training, step for step."""
    x, y = data

    def make(fmt):
        axis = -1 if fmt == "channels_last" else 1
        return nn.Sequential([nn.Conv2D(6, 3, padding="same", activation="relu", data_format=fmt),
                              nn.BatchNormalization(axis=axis), nn.MaxPooling2D(2, data_format=fmt), nn.Dropout(0.2),
                              nn.Conv2D(5, 3, data_format=fmt), nn.GlobalAveragePooling2D(data_format=fmt),
                              nn.Dense(3, activation="softmax")], seed=3)

    last, first = make("channels_last"), make("channels_first")
    xf = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    last.build(x.shape[1:])
    first.build(xf.shape[1:])
    first.set_weights(last.get_weights())
    np.testing.assert_array_equal(last.predict(x), first.predict(xf))
    for m in (last, first):
        m.compile("adam", "sparse_categorical_crossentropy")
    h1 = last.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    h2 = first.fit(xf, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert h1["loss"] == h2["loss"]
    # an output of image layers comes back channels-last
    ae = nn.Sequential([nn.Input((8, 8, 1)), nn.Conv2D(4, 3, padding="same"), nn.Conv2DTranspose(2, 3, padding="same")])
    assert ae.predict(x).shape == (40, 8, 8, 2) and ae.output_shape == (8, 8, 2)
    with pytest.raises(ValueError, match="data_format"):
        nn.Conv2D(2, 3, data_format="NHWC")


def test_keras_utilities_mae_and_early_stopping_verbose(capsys):
    np.testing.assert_array_equal(nn.utils.to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert nn.utils.to_categorical(np.array([[1], [0]]), 4).shape == (2, 4)
    with pytest.raises(ValueError, match="num_classes"):
        nn.utils.to_categorical([3], 2)
    with pytest.raises(ValueError, match="integer"):
        nn.utils.to_categorical([0.5])
    loss, grad = nn.MeanAbsoluteError()(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 3.5]))
    assert loss == pytest.approx(0.5) and np.array_equal(grad, [-1 / 3, 0.0, 1 / 3])
    assert nn.losses.get("mae").name == "mae"
    model = nn.Sequential([nn.Dense(1, input_shape=(3,))], seed=0)
    model.compile(nn.SGD(1e-3), "mae", ["mae"])
    stop = nn.EarlyStopping("loss", min_delta=10.0, patience=1, verbose=1)  # no step improves by 10
    model.fit(np.ones((8, 3), np.float32), np.zeros(8, np.float32), epochs=5, verbose=0, callbacks=[stop])
    assert stop.stopped_epoch == 1 and "Epoch 2: early stopping" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["elu", "selu", "softplus", "swish", "silu"])
def test_new_activations_match_finite_differences(name):
    act = nn.activations.get(name)
    x = np.linspace(-4, 4, 40)  # (not 0: elu and selu have a kink there)
    y = act.forward(x)
    dy = np.random.default_rng(3).standard_normal(x.shape)
    h = 1e-6
    numeric = dy * (act.forward(x + h) - act.forward(x - h)) / (2 * h)
    np.testing.assert_allclose(act.backward(dy, x, y), numeric, rtol=1e-6, atol=1e-8)
    model = nn.Sequential([nn.Dense(3, activation=name, input_shape=(2,))], seed=0)  # usable by name in layers
    assert model.predict(np.ones((1, 2), np.float32)).shape == (1, 3)


def test_activation_layers_and_embedding(data):
    x = np.linspace(-2, 2, 9).reshape(1, 9)
    np.testing.assert_allclose(nn.LeakyReLU().forward(x), np.where(x > 0, x, 0.3 * x))  # Keras's slope
    np.testing.assert_allclose(nn.ELU(0.5).forward(x), np.where(x > 0, x, 0.5 * np.expm1(x)))
    np.testing.assert_array_equal(nn.ReLU().forward(x), np.maximum(x, 0))
    tokens = np.array([[1, 4, 4, 0], [2, 3, 1, 1]])
    model = nn.Sequential([nn.Embedding(5, 3, input_shape=(4,)), nn.Flatten(), nn.Dense(2)], seed=0)
    table = model.layers[0].params["weight"]
    np.testing.assert_array_equal(model.layers[0].forward(tokens.astype(np.float32)), table[tokens])
    model.compile("sgd", "mse")
    model.fit(tokens, np.zeros((2, 2), np.float32), epochs=1, batch_size=2, verbose=0)
    # the rows of the tokens seen moved, the row of the token never seen (none here: 0-4 all appear) kept
    emb = nn.Embedding(6, 2)
    emb.build((3,), np.random.default_rng(0), np.float32)
    emb.forward(np.array([[0.0, 2.0, 2.0]]))
    emb.backward(np.ones((1, 3, 2), np.float32))
    np.testing.assert_array_equal(emb.grads["weight"][:, 0], [1, 0, 2, 0, 0, 0])  # repeated indices add up
    with pytest.raises(ValueError, match="integer indices"):
        emb.forward(np.array([[6.0, 0.0, 0.0]]))


def test_sample_and_class_weights_scale_each_examples_loss(data):
    """Keras's weighting: sum(w_i * loss_i) / n for the loss and its gradient;
    class_weight from the labels; zero weights leave examples out."""
    x, y = data
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.build(x.shape[1:])
    start = model.get_weights()
    w = np.where(y == 0, 2.0, 0.5)
    a = model.train_on_batch(x, y, sample_weight=w)
    after_sample = model.get_weights()
    model.set_weights(start)
    b = model.train_on_batch(x, y, class_weight={0: 2.0, 1: 0.5, 2: 0.5})
    assert a == pytest.approx(b, rel=1e-6)
    for p, q in zip(after_sample, model.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)
    # the weighted loss is the weighted mean of the per-example losses
    model.set_weights(start)
    per = model._train_loss.elements(y, model.forward(x, training=True, logits=model._fused))
    assert a == pytest.approx(float((per * w).sum() / len(y)), rel=1e-5)
    # weights of zero everywhere: a zero gradient, the parameters stay (SGD without momentum)
    model.set_weights(start)
    before = [p.copy() for p in model.parameters()]
    assert model.train_on_batch(x, y, sample_weight=np.zeros(len(y))) == 0.0
    for p, q in zip(before, model.parameters()):
        np.testing.assert_array_equal(p, q)
    h = model.fit(x, y, batch_size=10, epochs=1, verbose=0, sample_weight=np.ones(len(y)), class_weight={1: 3.0})
    assert np.isfinite(h["loss"][0])
    with pytest.raises(ValueError, match="one weight per example"):
        model.fit(x, y, epochs=1, verbose=0, sample_weight=np.ones(3))


def test_a_layer_built_in_another_dtype_is_refused_not_misread():
    """A trained float64 layer put into a float32 Sequential was read as float32 (garbage); now a
    ValueError names the layer and the dtype to give."""
    dense = nn.Dense(3)
    nn.Sequential([dense], dtype="float64").build((4,))
    with pytest.raises(ValueError, match="holds float64 weights"):
        nn.Sequential([dense]).build((4,))
    nn.Sequential([dense], dtype="float64").build((4,))  # the same dtype reuses it
