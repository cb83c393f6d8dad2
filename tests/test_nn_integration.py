"""The Keras vocabulary (PReLU ... Bidirectional, stateful recurrent layers,
regularizers, schedules, counting metrics, callbacks) inside the functional
API (keras.Input, layers called on symbolic tensors, keras.Model): each
layer's output shape before build, its build from the symbolic shape, its
forward and backward through the graph (channels_last image layers
included), save / load, and training with the high-level API, against the
Sequential model of the same layers and weights and against Keras (torch
backend) where it is installed."""
import numpy as np
import pytest
from test_nn_keras import keras_defaults  # noqa: F401  (autouse: Keras's channels_last)
from test_nn_vocab import KERAS_CASES, _finite_difference_check, keras, make, pytestmark  # noqa: F401

from fastconv import nn


def _pre(shape, module):
    """A layer with weights in front of the layer under test, keeping the
    shape: a 1x1 Conv2D on images (channels_last: the graph moves the
    channel axis for it), a Dense on sequences."""
    L = module.layers
    if len(shape) == 3 and shape[0] > 3:  # images (H, W, C)
        return L.Conv2D(shape[-1], 1, activation="tanh")
    if len(shape) == 4:  # sequences of images
        return L.TimeDistributed(L.Conv2D(shape[-1], 1))
    return L.Dense(shape[-1], activation="tanh")


CASES = KERAS_CASES + [
    ("LSTM(4, stateful=True, return_sequences=True)", (5, 3)),
    ("GRU(4, dropout=0.3)", (5, 3)),
    ("Dense(3, kernel_regularizer='l2', bias_regularizer='l1')", (4,)),
]
LOCAL_CASES = [  # (no Keras twin here: data_format channels_first images, a NumPy Lambda)
    ("UpSampling2D(2, data_format='channels_first')", (3, 4, 5)),
    ("ZeroPadding2D(1, data_format='channels_first')", (3, 4, 5)),
    ("Cropping2D(1, data_format='channels_first')", (3, 4, 5)),
    ("GlobalMaxPooling1D(data_format='channels_first')", (3, 6)),
    ("SpatialDropout2D(0.4, data_format='channels_first')", (3, 4, 5)),
    ("Softmax(axis=2)", (4, 5, 3)),
    ("Lambda(lambda x: x ** 3, backward=lambda x, dy: 3 * x ** 2 * dy)", (5, 4)),
    ("TimeDistributed({L}LayerNormalization())", (3, 4, 5)),
    ("TimeDistributed({L}Bidirectional({L}GRU(2)))", (3, 4, 5)),
]


def _functional(expr, shape, seed=0):
    inp = nn.Input(shape)
    pre, layer = _pre(shape, nn), make(expr, nn)
    out = layer(pre(inp))
    return nn.Model(inp, out, seed=seed), out


def _random_weights(model, rng):
    return [(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in model.get_weights()]


@pytest.mark.parametrize("expr, shape", CASES + LOCAL_CASES)
def test_layer_in_a_functional_model_as_in_sequential(expr, shape, tmp_path):
    """Output shape before build, predict, one training step (the backward
    through the graph) and save / load: the functional model of [pre, layer]
    gives what the Sequential model of the same layers and weights gives."""
    rng = np.random.default_rng(1)
    model, out = _functional(expr, shape)
    seq = nn.Sequential([nn.Input(shape), _pre(shape, nn), make(expr, nn)], seed=0)
    assert out.shape[1:] == model.output_shape == seq.output_shape
    weights = _random_weights(model, rng)
    model.set_weights(weights)
    seq.set_weights(weights)
    x = rng.standard_normal((4,) + shape).astype(np.float32)
    y = model.predict(x)
    np.testing.assert_allclose(y, seq.predict(x), rtol=1e-5, atol=1e-6)
    model.reset_states()  # (a stateful layer: both start again from zero states)
    seq.reset_states()
    assert "(None, " in model.summary(print_fn=None)
    target = rng.standard_normal(y.shape).astype(np.float32)
    for m in (model, seq):
        m.compile(nn.SGD(0.1), "mse")
    loss = model.train_on_batch(x, target)
    assert isinstance(loss, float)  # (Keras's: the loss alone, with no metric compiled)
    np.testing.assert_allclose(loss, seq.train_on_batch(x, target, return_dict=True)["loss"], rtol=1e-5)
    for a, b in zip(model.get_weights(), seq.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model.reset_states()
    if expr.startswith("Lambda"):
        with pytest.raises(TypeError, match="cannot be saved"):
            model.save(tmp_path / "m.npz")
        return
    model.save(tmp_path / "m.npz")
    loaded = nn.load_model(tmp_path / "m.npz")
    assert [type(a).__name__ for a in loaded.layers] == [type(a).__name__ for a in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("expr, shape", CASES)
def test_layer_in_a_functional_model_gives_keras_outputs(keras, expr, shape):
    """The same graph built with Keras, with Keras's weights: the same
    symbolic output shape and the same predictions."""
    rng = np.random.default_rng(2)
    kin = keras.Input(shape, batch_size=3 if "stateful" in expr else None)  # (Keras: a stateful batch is static)
    kout = make(expr, keras)(_pre(shape, keras)(kin))
    km = keras.Model(kin, kout)
    weights = _random_weights(km, rng)
    km.set_weights(weights)
    model, out = _functional(expr, shape)
    assert out.shape[1:] == tuple(kout.shape)[1:]
    model.set_weights(weights)
    x = rng.standard_normal((3,) + shape).astype(np.float32)
    expected = keras.ops.convert_to_numpy(km(x))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    assert model.count_params() == km.count_params()


def _wrapper_graph(dtype="float64", seed=0):
    """Two branches over one sequence (a TimeDistributed Dense then a
    Bidirectional LSTM; a Bidirectional GRU), joined by Concatenate and Add,
    then LayerNormalization, a TimeDistributed Dense and global pooling."""
    L = nn.layers
    inp = nn.Input((5, 3))
    a = L.TimeDistributed(L.Dense(4, activation="tanh"))(inp)
    a = L.Bidirectional(L.LSTM(3, return_sequences=True))(a)
    b = L.Bidirectional(L.GRU(3, return_sequences=True, go_backwards=True), merge_mode="concat")(inp)
    h = L.Add()([a, b])
    h = L.Concatenate()([h, L.PReLU()(a)])
    h = L.LayerNormalization()(h)
    h = L.TimeDistributed(L.Dense(2))(h)
    out = L.GlobalAveragePooling1D()(h)
    return nn.Model(inp, out, seed=seed, dtype=dtype)


def _image_graph(dtype="float64", seed=0):
    """Sequences of channels_last images through TimeDistributed(Conv2D),
    and images through Conv2D / ZeroPadding2D / UpSampling2D / Cropping2D
    joined by Add and Multiply (the graph moves the channel axis)."""
    L = nn.layers
    inp = nn.Input((2, 4, 4, 2))
    h = L.TimeDistributed(L.Conv2D(3, 3, padding="same", activation="tanh"))(inp)
    h = L.TimeDistributed(L.Flatten())(h)
    h = L.Bidirectional(L.SimpleRNN(2))(h)
    img = nn.Input((4, 4, 2))
    c = L.Conv2D(3, 3, padding="same")(img)
    p = L.Cropping2D(1)(L.UpSampling2D(2)(L.ZeroPadding2D(((1, 1), (0, 2)))(c)))
    p = L.Conv2D(3, 4, strides=2)(p)
    m = L.Multiply()([L.Add()([c, p]), L.PReLU(shared_axes=[1, 2])(c)])
    m = L.GlobalMaxPooling2D()(L.SpatialDropout2D(0.3)(m))
    out = L.Concatenate()([m, h])
    return nn.Model([inp, img], out, seed=seed, dtype=dtype)


def test_gradients_through_wrappers_and_merges_match_finite_differences():
    rng = np.random.default_rng(3)
    model = _wrapper_graph()
    for p in model.parameters():  # (PReLU's alpha starts at 0: no negative slope to check)
        p[...] = rng.standard_normal(p.shape) * 0.5
    _finite_difference_check(model, rng.standard_normal((3, 5, 3)), rng, count=10)


def test_gradients_through_an_image_graph_of_two_inputs_match_finite_differences():
    from test_nn import _numeric, _probe

    rng = np.random.default_rng(4)
    model = _image_graph()
    for p in model.parameters():
        p[...] = rng.standard_normal(p.shape) * 0.5
    xs = [rng.standard_normal((2, 2, 4, 4, 2)), rng.standard_normal((2, 4, 4, 2))]
    out = model.forward(xs)
    r = rng.standard_normal(out.shape)
    dxs = model.backward(r, input_grad=True)
    grads = [g.copy() for g in model.gradients()]

    def loss():
        return float((model.forward(xs) * r).sum())

    for array, grad in list(zip(xs, dxs)) + list(zip(model.parameters(), grads)):
        for i in _probe(rng, array, 8):
            np.testing.assert_allclose(grad.reshape(-1)[i], _numeric(loss, array, i), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("expr", ["Bidirectional({L}GRU(3, return_sequences=True))",
                                  "TimeDistributed({L}Dense(3, activation='tanh'))",
                                  "TimeDistributed({L}TimeDistributed({L}Dense(2, activation='tanh')))"])
def test_a_wrapper_shared_by_two_nodes_backpropagates_each_with_its_own_state(expr):
    """A wrapper called at two nodes: each node's backward reads the
    inner layers' caches of its own forward (not the last call's)."""
    rng = np.random.default_rng(10)
    shape = (4, 2, 3) if expr.count("TimeDistributed") == 2 else (4, 3)
    inp = nn.Input(shape)
    shared = make(expr, nn)
    out = nn.layers.Add()([shared(inp), shared(nn.layers.Dense(3)(inp))])
    _finite_difference_check(nn.Model(inp, out, dtype="float64", seed=0), rng.standard_normal((2,) + shape), rng)


def test_a_shared_stateful_layer_carries_its_last_calls_state():
    """A stateful layer called at two nodes carries the states of its last
    call to the next batch, whether or not a backward ran in between."""
    rng = np.random.default_rng(11)
    inp = nn.Input((4, 3))
    lstm = nn.layers.LSTM(3, stateful=True)
    model = nn.Model(inp, nn.layers.Concatenate()([lstm(inp), lstm(nn.layers.Dense(3)(inp))]), seed=0)
    x = rng.standard_normal((2, 4, 3))
    model.predict(x)
    after_predict = [s.copy() for s in lstm._state]
    model.reset_states()
    out = model.forward(x)
    model.backward(np.ones_like(out))
    for a, b in zip(lstm._state, after_predict):
        np.testing.assert_array_equal(a, b)


def test_wrapper_graphs_save_and_load(tmp_path):
    rng = np.random.default_rng(5)
    for make_model, xs in ((_wrapper_graph, rng.standard_normal((3, 5, 3))),
                           (_image_graph, [rng.standard_normal((2, 2, 4, 4, 2)), rng.standard_normal((2, 4, 4, 2))])):
        model = make_model("float32")
        model.compile("adamw", "mse")
        y = model.predict(xs)
        model.fit(xs, np.zeros_like(y), epochs=1, batch_size=2, verbose=0)
        model.save(tmp_path / "m.npz")
        loaded = nn.load_model(tmp_path / "m.npz")
        np.testing.assert_array_equal(loaded.predict(xs), model.predict(xs))
        assert loaded.optimizer.name == "adamw" and len(loaded.layers) == len(model.layers)


def test_stateful_layers_in_a_functional_model_reset_with_the_model():
    """model.reset_states() (tf.keras's) zeroes the states of every stateful
    layer of the graph, a Bidirectional one's and a nested model's too."""
    rng = np.random.default_rng(6)
    L = nn.layers
    inner_in = nn.Input((4, 3))
    inner = nn.Model(inner_in, L.GRU(2, stateful=True, return_sequences=True)(inner_in))
    inp = nn.Input((4, 3))
    h = L.Bidirectional(L.LSTM(3, stateful=True, return_sequences=True))(inp)
    out = L.Concatenate()([h, inner(inp)])
    model = nn.Model(inp, out, seed=0)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    first = model.predict(x)
    second = model.predict(x)
    assert not np.allclose(first[..., :6], second[..., :6]) and not np.allclose(first[..., 6:], second[..., 6:])
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x), first)
    model.reset_state()  # (Keras 3's layer spelling)
    np.testing.assert_array_equal(model.predict(x), first)
    with pytest.raises(ValueError, match="reset_states"):
        model.predict(x[:1])
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x), first)


def test_fit_with_regularizer_schedule_counting_metrics_and_callbacks_as_sequential(tmp_path):
    """A functional chain and the Sequential model of the same layers and
    weights (no shuffling) train alike: an L2 kernel regularizer, an
    ExponentialDecay schedule, Precision / Recall / AUC, EarlyStopping with
    restore_best_weights, ModelCheckpoint (best only), then
    ReduceLROnPlateau; the same histories, weights and checkpoints."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((60, 6, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1, keepdims=True) + 0.3 * rng.standard_normal((60, 1)) > 0).astype(np.float32)
    L = nn.layers

    def layers():
        return [L.Bidirectional(L.GRU(4, return_sequences=True, kernel_regularizer=nn.regularizers.L2(0.01))),
                L.LayerNormalization(), L.GlobalMaxPooling1D(),
                L.Dense(1, activation="sigmoid", kernel_regularizer="l1")]

    seq = nn.Sequential([nn.Input((6, 3))] + layers(), seed=0)
    h = inp = nn.Input((6, 3))
    for layer in layers():
        h = layer(h)
    model = nn.Model(inp, h, seed=1)
    model.set_weights(seq.get_weights())
    histories = []
    for m, name in ((seq, "seq"), (model, "fun")):
        schedule = nn.optimizers.schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5)
        m.compile(nn.optimizers.Adam(schedule), "binary_crossentropy",
                  metrics=["accuracy", nn.metrics.Precision(), nn.metrics.Recall(), nn.metrics.AUC()])
        best = tmp_path / f"{name}-best.npz"
        h1 = m.fit(x, y, epochs=8, batch_size=16, shuffle=False, validation_split=0.25, verbose=0, callbacks=[
            nn.callbacks.EarlyStopping(patience=1, restore_best_weights=True),
            nn.callbacks.ModelCheckpoint(str(best), save_best_only=True)]).history
        # restore_best_weights: the weights of the best epoch, the one the checkpoint kept
        np.testing.assert_allclose(m.predict(x), nn.load_model(best).predict(x), rtol=1e-6, atol=1e-7)
        m.compile(nn.optimizers.Nadam(0.05), "binary_crossentropy", metrics=["auc"])
        h2 = m.fit(x, y, epochs=3, batch_size=16, shuffle=False, validation_split=0.25, verbose=0, callbacks=[
            nn.callbacks.ReduceLROnPlateau(patience=0, factor=0.5, min_delta=1.0)]).history
        histories.append((h1, h2, nn.load_model(best).predict(x), m.predict(x)))
    (s1, s2, s_best, s_out), (f1, f2, f_best, f_out) = histories
    assert sorted(f1) == ["accuracy", "auc", "loss", "precision", "recall", "val_accuracy", "val_auc", "val_loss",
                          "val_precision", "val_recall"]
    for ours, theirs in ((f1, s1), (f2, s2)):
        assert sorted(ours) == sorted(theirs) and len(ours["loss"]) == len(theirs["loss"])
        for k in theirs:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert f2["learning_rate"] == pytest.approx([0.05, 0.05, 0.025])  # (Keras logs the rate before its cut)
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    assert len(f1["loss"]) < 8, f1["val_loss"]  # EarlyStopping stopped it
    np.testing.assert_allclose(f_best, s_best, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(f_out, s_out, rtol=1e-4, atol=1e-6)


def test_frozen_base_keeps_its_weights_in_a_functional_model():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((32, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 32)
    L = nn.layers
    inp = nn.Input((6, 6, 2))
    feat = L.GlobalAveragePooling2D()(L.PReLU()(L.Conv2D(4, 3, padding="same")(inp)))
    base = nn.Model(inp, feat, seed=0)
    base.trainable = False
    frozen = [w.copy() for w in base.get_weights()]
    new_in = nn.Input((6, 6, 2))
    out = L.Dense(3, activation="softmax")(L.Dropout(0.2)(base(new_in, training=False)))
    model = nn.Model(new_in, out, seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    head = model.layers[-1].get_weights()[0].copy()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(base.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.layers[-1].get_weights()[0], head)
    assert model.count_weights()[1] == sum(w.size for w in frozen)


def _gan(dtype):
    L = nn.layers
    gen = nn.Sequential([nn.Input((4,)), L.Dense(2 * 2 * 3), L.LeakyReLU(0.2), L.Reshape((2, 2, 3)),
                         L.Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh")],
                        name="generator", seed=0, dtype=dtype)
    disc = nn.Sequential([nn.Input((4, 4, 2)), L.Conv2D(3, 3, strides=2, padding="same"), L.LeakyReLU(0.2),
                          L.Flatten(), L.Dense(1, activation="sigmoid")], name="discriminator", seed=1, dtype=dtype)
    z = nn.Input((4,))
    return gen, disc, nn.Model(z, disc(gen(z)), dtype=dtype)


def test_sequential_models_as_layers_of_a_functional_model(tmp_path):
    """A Sequential model called on a KerasTensor is a node of the graph
    (Keras's GAN spelling discriminator(generator(z))): same outputs, input
    and weight gradients against finite differences, frozen while its
    trainable is False, saved and loaded with the graph."""
    from test_nn import _numeric, _probe

    rng = np.random.default_rng(9)
    gen, disc, gan = _gan("float64")
    z = rng.standard_normal((3, 4))
    np.testing.assert_allclose(gan.predict(z), disc.predict(gen.predict(z)), rtol=1e-12)
    assert "generator (Sequential)" in gan.summary(print_fn=None)
    out = gan.forward(z)
    r = rng.standard_normal(out.shape)
    dz = gan.backward(r, input_grad=True)
    grads = [g.copy() for g in gan.gradients()]
    for array, grad in [(z, dz)] + list(zip(gan.parameters(), grads)):
        for i in _probe(rng, array, 6):
            np.testing.assert_allclose(grad.reshape(-1)[i], _numeric(lambda: float((gan.forward(z) * r).sum()),
                                                                     array, i), rtol=1e-5, atol=1e-8)
    disc.trainable = False
    gan.compile(nn.optimizers.Adam(0.01), "binary_crossentropy")
    frozen = [w.copy() for w in disc.get_weights()]
    before = [w.copy() for w in gen.get_weights()]
    loss = gan.train_on_batch(z, np.ones((3, 1)))
    assert np.isfinite(loss)
    assert all(np.array_equal(a, b) for a, b in zip(disc.get_weights(), frozen))
    assert not any(np.array_equal(a, b) for a, b in zip(gen.get_weights(), before))
    gan.save(tmp_path / "gan.npz")
    loaded = nn.load_model(tmp_path / "gan.npz")
    assert [type(a).__name__ for a in loaded.layers] == ["InputLayer", "Sequential", "Sequential"]
    np.testing.assert_array_equal(loaded.predict(z), gan.predict(z))
    with pytest.raises(ValueError, match="takes inputs of shape"):
        disc(nn.Input((5, 5, 2)))


def test_set_random_seed_repeats_sequential_and_functional_runs():
    """keras.utils.set_random_seed fixes the models made with seed=None, Sequential ones as functional ones."""
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    runs = []
    for _ in range(2):
        nn.utils.set_random_seed(5)
        seq = nn.Sequential([nn.Input((4,)), nn.layers.Dense(3), nn.layers.Dropout(0.5), nn.layers.Dense(1)])
        inp = nn.Input((4,))
        fun = nn.Model(inp, nn.layers.Dense(1)(nn.layers.Dropout(0.5)(nn.layers.Dense(3)(inp))))
        for m in (seq, fun):
            m.compile("adam", "mse")
            m.fit(x, y, epochs=2, batch_size=4, verbose=0)
        runs.append(seq.get_weights() + fun.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_what_the_functional_api_cannot_take_is_a_clear_error():
    """Keras's several-output forms and a several-input Lambda name their argument."""
    L = nn.layers
    with pytest.raises(ValueError, match="merge_mode"):
        L.Bidirectional(L.LSTM(2), merge_mode=None)
    with pytest.raises(ValueError, match="return_state"):
        L.LSTM(2, return_state=True)
    a, b = nn.Input((3,)), nn.Input((3,))
    with pytest.raises(TypeError, match="Lambda takes one tensor"):
        L.Lambda(lambda xs: xs[0] * xs[1])([a, b])
    with pytest.raises(TypeError, match="Lambda takes one tensor"):
        L.Lambda(lambda xs: xs[0] * xs[1])([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(TypeError, match="layer must be a fastconv.nn layer"):
        L.TimeDistributed(nn.Sequential([nn.Input((3,)), L.Dense(2)]))
    shared = L.TimeDistributed(L.Dense(2))
    shared(nn.Input((4, 3)))  # (one set of weights: steps of 3 features)
    with pytest.raises(ValueError, match="takes inputs of shape"):
        shared(nn.Input((4, 5)))
