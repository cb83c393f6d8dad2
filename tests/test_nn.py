"""fastconv.nn: every layer's backward against float64 central differences,
the losses and optimizers against their formulas, storage round trips,
reproducibility, and small models that must learn."""
import io
import json

import numpy as np
import pytest

from fastconv import nn
from fastconv._ext import _fastconv as _core
from fastconv.nn import activations, losses

pytestmark = pytest.mark.usefixtures("channels_first")  # written against torch's layouts

# ---- finite differences ----------------------------------------------------------------------------


def _probe(rng, a, n):
    """Up to n flat indices of a (every index if a is small)."""
    return range(a.size) if a.size <= n else rng.choice(a.size, n, replace=False)


def _numeric(f, a, i, h=1e-6):
    flat = a.reshape(-1)
    old = flat[i]
    flat[i] = old + h
    up = f()
    flat[i] = old - h
    down = f()
    flat[i] = old
    return (up - down) / (2 * h)


def fd_check(layer, in_shape, rng, training=True, batch=3, n_probe=15, x=None):
    """Builds the layer in float64, backpropagates a random output gradient r
    and checks d sum(r * y) / d (input, each parameter) at sampled entries."""
    layer.build(in_shape, rng, np.float64)
    if x is None:
        x = rng.standard_normal((batch,) + tuple(in_shape))
    y = layer.forward(x, training)
    assert y.shape == (len(x),) + tuple(layer.output_shape)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r.copy())
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert set(grads) == set(layer.param_names)

    def f():
        return float(np.sum(layer.forward(x, training) * r))

    for name, arr, g in [("input", x, dx)] + [(k, layer.params[k], grads[k]) for k in layer.param_names]:
        assert g.shape == arr.shape, name
        for i in _probe(rng, arr, n_probe):
            num = _numeric(f, arr, i)
            assert abs(num - g.reshape(-1)[i]) <= 1e-6 * (1 + abs(num)), (name, i, num, g.reshape(-1)[i])
    return x, y


LAYER_CASES = [
    (lambda: nn.Dense(4), (5,)),
    (lambda: nn.Dense(3, activation="tanh", use_bias=False), (2, 6)),
    (lambda: nn.Dense(4, activation="softmax"), (5,)),
    (lambda: nn.Conv1D(4, 3), (2, 9)),
    (lambda: nn.Conv1D(4, 3, strides=2, padding="same", activation="relu"), (3, 10)),
    (lambda: nn.Conv1D(4, 3, dilation_rate=2, padding=1, groups=2, activation="sigmoid"), (2, 11)),
    (lambda: nn.Conv2D(3, 3), (2, 6, 5)),
    (lambda: nn.Conv2D(4, (3, 2), strides=2, padding="same", activation="leaky_relu"), (2, 7, 6)),
    (lambda: nn.Conv2D(2, 3, padding=1, use_bias=False, activation="tanh"), (3, 5, 5)),
    (lambda: nn.Conv2DTranspose(3, 4, strides=2, padding="same"), (2, 3, 4)),
    (lambda: nn.Conv2DTranspose(2, 3, strides=2, padding=1, output_padding=1, activation="tanh"), (3, 3, 3)),
    (lambda: nn.Conv2DTranspose(2, 3, padding="valid", use_bias=False), (2, 4, 3)),
    (lambda: nn.MaxPool1D(2), (2, 9)),
    (lambda: nn.MaxPool1D(3, strides=2, padding=1), (2, 8)),
    (lambda: nn.MaxPool2D(2), (2, 6, 5)),
    (lambda: nn.MaxPool2D((3, 2), strides=(2, 1), padding=(1, 0)), (1, 7, 5)),
    (lambda: nn.AvgPool1D(3, strides=2, padding=1), (2, 9)),
    (lambda: nn.AvgPool2D(2), (2, 6, 6)),
    (lambda: nn.AvgPool2D(3, strides=2, padding=1), (2, 7, 5)),
    (lambda: nn.GlobalAvgPool2D(), (3, 4, 5)),
    (lambda: nn.Flatten(), (2, 3, 4)),
    (lambda: nn.Reshape((4, -1)), (2, 3, 4)),
    (lambda: nn.BatchNorm(), (5,)),
    (lambda: nn.BatchNorm(momentum=0.9), (3, 4, 4)),
    (lambda: nn.BatchNorm(), (3, 7)),
    (lambda: nn.Dropout(0.0), (4,)),
    (lambda: nn.SimpleRNN(4), (5, 3)),
    (lambda: nn.SimpleRNN(4, activation="relu", return_sequences=True), (5, 3)),
    (lambda: nn.LSTM(3), (4, 2)),
    (lambda: nn.LSTM(3, return_sequences=True, use_bias=False), (4, 2)),
    (lambda: nn.GRU(3), (5, 2)),
    (lambda: nn.GRU(4, return_sequences=True), (3, 3)),
] + [(lambda a=a: nn.Activation(a), (3, 4)) for a in ("relu", "leaky_relu", "sigmoid", "tanh", "softmax",
                                                          "identity")]


@pytest.mark.parametrize("case", range(len(LAYER_CASES)), ids=lambda i: f"{i}")
def test_layer_backward_matches_finite_differences(case, rng):
    make, shape = LAYER_CASES[case]
    fd_check(make(), shape, rng, training=True)


ACT_FORMULAS = {  # forward, and the derivative from the output y
    "relu": (lambda x: np.maximum(x, 0), lambda y: (y > 0).astype(y.dtype)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda y: y * (1 - y)),
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "identity": (lambda x: x, np.ones_like),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_kernels_and_fused_bias_gradient(dtype, simd_level, rng):
    """The compiled forward (in place too) and the backward from the output
    with the per-channel sum, over both layouts (channels innermost, as
    Dense; planes, as Conv) and a size that splits between threads."""
    eps = np.finfo(dtype).eps
    for name, (f, df) in ACT_FORMULAS.items():
        act = activations.get(name)
        for layout in [(3, 5, 7), (50, 37, 1), (64, 40, 20), (2, 3, 1)]:
            x = (rng.standard_normal(layout) * 3).astype(dtype)
            y = act.forward(x)
            np.testing.assert_allclose(y, f(x.astype(np.float64)), rtol=8 * eps, atol=8 * eps)
            if act.kind != _core.ACT_IDENTITY:
                z = x.copy()
                _core.activation_forward(act.kind, z, z, 2)
                np.testing.assert_array_equal(z, y)
            dy = rng.standard_normal(layout).astype(dtype)
            dx, db = activations.backward_from_output(act.kind, dy, y, layout, True)
            expected = dy.astype(np.float64) * df(y.astype(np.float64))
            np.testing.assert_allclose(dx, expected, rtol=4 * eps, atol=4 * eps)
            np.testing.assert_allclose(db, expected.sum(axis=(0, 2)), rtol=1e-5 if dtype == np.float32 else 1e-12,
                                       atol=layout[0] * layout[2] * 4 * eps)
    relu = activations.get("relu")
    x = np.array([np.nan, -1.0, 2.0, -0.0, np.inf, -np.inf], dtype)
    y = relu.forward(x)
    np.testing.assert_array_equal(y, [np.nan, 0, 2, 0, np.inf, 0])
    np.testing.assert_array_equal(relu.backward(np.ones_like(x), x, y), [0, 0, 1, 0, 1, 0])  # as torch


def test_batchnorm_inference_backward_and_running_statistics(rng):
    layer = nn.BatchNorm(momentum=0.8)
    x = rng.standard_normal((64, 3, 2, 2)) * 2 + 5
    layer.build(x.shape[1:], rng, np.float64)
    layer.forward(x, training=True)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.8 + 0.2 * var, rtol=1e-12)
    # inference: the running statistics, and the gradient of a fixed affine map
    fd_check(layer, (3, 2, 2), rng, training=False)
    layer.buffers["running_mean"][:] = mean
    layer.buffers["running_var"][:] = var
    y = layer.forward(x, training=False)
    np.testing.assert_allclose(y, (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-3), rtol=1e-10)


def test_dropout_masks_and_scales_in_training_only(rng):
    layer = nn.Dropout(0.25)
    layer.build((1000,), rng, np.float64)
    x = rng.standard_normal((8, 1000)) + 3
    assert layer.forward(x, training=False) is x
    y = layer.forward(x, training=True)
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y[kept], x[kept] / 0.75)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, dy / 0.75, 0))


def test_first_layer_skips_input_gradient(rng):
    layer = nn.Conv1D(2, 3)
    layer.build((1, 8), rng, np.float64)
    layer.input_grad = False
    layer.forward(rng.standard_normal((2, 1, 8)))
    assert layer.backward(rng.standard_normal((2, 2, 6))) is None
    assert layer.grads["weight"].shape == (2, 1, 3)


def test_same_padding_output_sizes_follow_keras():
    for n, k, s in [(10, 3, 2), (9, 3, 2), (8, 4, 3), (7, 5, 1)]:
        layer = nn.Conv1D(2, k, strides=s, padding="same")
        assert layer.compute_output_shape((1, n)) == (2, -(-n // s))
    t = nn.Conv2DTranspose(2, 4, strides=2, padding="same")
    assert t.compute_output_shape((3, 5, 6)) == (2, 10, 12)
    t = nn.Conv2DTranspose(2, 3, strides=2, padding="valid")
    assert t.compute_output_shape((3, 5, 6)) == (2, 11, 13)


# ---- whole-model gradients -------------------------------------------------------------------------


def _small_cnn(dtype="float64", seed=0):
    return nn.Sequential([
        nn.Conv2D(3, 3, padding="same", activation="relu"),
        nn.BatchNorm(),
        nn.MaxPool2D(2),
        nn.Conv2D(4, 2, activation="tanh"),
        nn.Flatten(),
        nn.Dropout(0.0),
        nn.Dense(5, activation="softmax"),
    ], seed=seed, dtype=dtype)


def test_sequential_backward_matches_finite_differences(rng):
    model = _small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.standard_normal((4, 2, 6, 6))
    y = rng.integers(0, 5, 4)
    loss = losses.SparseCategoricalCrossentropy()

    def f():
        return loss(y, model.forward(x, training=True))[0]

    out = model.forward(x, training=True)
    _, g = loss(y, out)
    dx = model.backward(g)
    grads = [a.copy() for a in model.gradients()]
    for arr, grad in [(x, dx)] + list(zip(model.parameters(), grads)):
        for i in _probe(rng, arr, 8):
            num = _numeric(f, arr, i)
            assert abs(num - grad.reshape(-1)[i]) <= 1e-6 * (1 + abs(num))


def test_fused_softmax_cross_entropy_equals_separate_steps(rng):
    model = _small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.standard_normal((6, 2, 6, 6))
    y = rng.integers(0, 5, 6)
    probs = model.forward(x, training=True)
    loss_p, g_p = losses.SparseCategoricalCrossentropy()(y, probs)
    model.backward(g_p)
    separate = [g.copy() for g in model.gradients()]
    logits = model.forward(x, training=True, logits=True)
    np.testing.assert_allclose(activations.get("softmax").forward(logits), probs, rtol=1e-12)
    loss_z, g_z = losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    model.backward(g_z)
    assert loss_z == pytest.approx(loss_p, rel=1e-12)
    for a, b in zip(model.gradients(), separate):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)


def test_fused_loss_is_finite_where_softmax_underflows():
    model = nn.Sequential([nn.Dense(2, activation="softmax", kernel_initializer="ones")], dtype="float32")
    model.compile(nn.SGD(1e-3), "sparse_categorical_crossentropy")
    x = np.array([[200.0, -200.0]], np.float32)  # logits (0, 0) + huge bias below
    model.build((2,))
    model.layers[0].params["bias"][:] = [200.0, -200.0]
    logs = model.train_on_batch(x, np.array([1]), return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] == pytest.approx(400.0, rel=1e-5)


# ---- losses ----------------------------------------------------------------------------------------------


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


LOSS_CASES = [
    ("mse", False, lambda rng: rng.standard_normal((4, 3)), lambda rng, p: rng.standard_normal(p.shape),
     lambda y, p: np.mean((p - y) ** 2)),
    ("binary_crossentropy", False, lambda rng: rng.uniform(0.05, 0.95, (5, 1)),
     lambda rng, p: rng.integers(0, 2, p.shape).astype(float),
     lambda y, p: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
    ("binary_crossentropy", True, lambda rng: rng.standard_normal((5, 2)) * 3,
     lambda rng, p: rng.uniform(0, 1, p.shape),
     lambda y, z: -np.mean(y * np.log(1 / (1 + np.exp(-z))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-z))))),
    ("categorical_crossentropy", False, lambda rng: _softmax(rng.standard_normal((4, 5))),
     lambda rng, p: np.eye(5)[rng.integers(0, 5, 4)], lambda y, p: -np.sum(y * np.log(p)) / 4),
    ("categorical_crossentropy", True, lambda rng: rng.standard_normal((4, 5)) * 2,
     lambda rng, p: np.eye(5)[rng.integers(0, 5, 4)], lambda y, z: -np.sum(y * np.log(_softmax(z))) / 4),
    ("sparse_categorical_crossentropy", False, lambda rng: _softmax(rng.standard_normal((2, 3, 4))),
     lambda rng, p: rng.integers(0, 4, (2, 3)),
     lambda y, p: -np.mean(np.log(np.take_along_axis(p, y[..., None], -1)))),
    ("sparse_categorical_crossentropy", True, lambda rng: rng.standard_normal((6, 4)) * 3,
     lambda rng, p: rng.integers(0, 4, 6),
     lambda y, z: -np.mean(np.log(np.take_along_axis(_softmax(z), y[..., None], -1)))),
]


@pytest.mark.parametrize("name, from_logits, make_pred, make_true, formula", LOSS_CASES,
                         ids=[f"{c[0]}-{'logits' if c[1] else 'probs'}" for c in LOSS_CASES])
def test_loss_values_and_gradients(name, from_logits, make_pred, make_true, formula, rng):
    loss = losses.get({"name": name, "from_logits": from_logits})
    p = make_pred(rng)
    y = make_true(rng, p)
    value, grad = loss(y, p)
    assert value == pytest.approx(formula(y, p), rel=1e-10)
    for i in range(p.size):
        num = _numeric(lambda: loss(y, p)[0], p, i)
        assert grad.reshape(-1)[i] == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_loss_errors():
    with pytest.raises(ValueError, match="class labels"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(TypeError, match="integer class labels"):
        losses.SparseCategoricalCrossentropy()(np.array([0.5, 1.0]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="one-hot"):
        losses.CategoricalCrossentropy()(np.array([0, 1]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="loss must be one of"):
        losses.get("hinge")


# ---- optimizers -------------------------------------------------------------------------------------


def _reference_steps(name, w, grads, lr, wd=0.0, **kw):
    """The update rules as torch.optim documents them, step by step in float64."""
    w = w.copy()
    state = {}
    for t, g in enumerate(grads, start=1):
        g = g + wd * w
        if name == "sgd":
            mu, nesterov = kw.get("momentum", 0.0), kw.get("nesterov", False)
            if mu:
                b = mu * state.get("b", 0) + g  # torch's first step: b = g
                state["b"] = b
                g = g + mu * b if nesterov else b
            w = w - lr * g
        elif name == "adagrad":
            state["s"] = state.get("s", kw["initial_accumulator_value"]) + g * g
            w = w - lr * g / (np.sqrt(state["s"]) + kw["epsilon"])
        elif name == "rmsprop":
            state["v"] = kw["rho"] * state.get("v", 0) + (1 - kw["rho"]) * g * g
            step = g / (np.sqrt(state["v"]) + kw["epsilon"])
            if kw.get("momentum", 0.0):  # torch: buf = momentum * buf + step; w -= lr * buf
                state["b"] = kw["momentum"] * state.get("b", 0) + step
                step = state["b"]
            w = w - lr * step
        elif name == "adam":
            b1, b2, eps = kw["beta_1"], kw["beta_2"], kw["epsilon"]
            state["m"] = b1 * state.get("m", 0) + (1 - b1) * g
            state["v"] = b2 * state.get("v", 0) + (1 - b2) * g * g
            m_hat = state["m"] / (1 - b1 ** t)
            v_hat = state["v"] / (1 - b2 ** t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


OPT_CASES = [
    (nn.SGD, "sgd", dict(learning_rate=0.1)),
    (nn.SGD, "sgd", dict(learning_rate=0.1, momentum=0.9)),
    (nn.SGD, "sgd", dict(learning_rate=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    (nn.Adagrad, "adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.1, epsilon=1e-7)),
    (nn.RMSprop, "rmsprop", dict(learning_rate=0.01, rho=0.9, epsilon=1e-7)),
    (nn.RMSprop, "rmsprop", dict(learning_rate=0.01, rho=0.8, momentum=0.5, epsilon=1e-6, weight_decay=0.05)),
    (nn.Adagrad, "adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.0, epsilon=1e-5,
                                 weight_decay=0.02)),
    (nn.Adam, "adam", dict(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    (nn.Adam, "adam", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3, weight_decay=0.1)),
]


@pytest.mark.parametrize("cls, name, kw", OPT_CASES, ids=[f"{c[1]}{i}" for i, c in enumerate(OPT_CASES)])
def test_optimizer_matches_update_rule(cls, name, kw, rng):
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    opt = cls(**kw)
    w = w0.copy()
    for g in grads:
        opt.step([w], [g])
    kw = dict(kw)
    lr, wd = kw.pop("learning_rate"), kw.pop("weight_decay", 0.0)
    np.testing.assert_allclose(w, _reference_steps(name, w0, grads, lr, wd, **kw), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls, name, kw", OPT_CASES, ids=[f"{c[1]}{i}" for i, c in enumerate(OPT_CASES)])
def test_optimizer_matches_torch(cls, name, kw, rng):
    torch = pytest.importorskip("torch")
    kw = dict(kw)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    tw = torch.nn.Parameter(torch.tensor(w0))
    lr, wd = kw["learning_rate"], kw.get("weight_decay", 0.0)
    if name == "sgd":
        topt = torch.optim.SGD([tw], lr=lr, momentum=kw.get("momentum", 0), nesterov=kw.get("nesterov", False),
                               weight_decay=wd)
    elif name == "adagrad":
        topt = torch.optim.Adagrad([tw], lr=lr, initial_accumulator_value=kw["initial_accumulator_value"],
                                   eps=kw["epsilon"], weight_decay=wd)
    elif name == "rmsprop":
        topt = torch.optim.RMSprop([tw], lr=lr, alpha=kw["rho"], eps=kw["epsilon"], weight_decay=wd,
                                   momentum=kw.get("momentum", 0.0))
    else:
        topt = torch.optim.Adam([tw], lr=lr, betas=(kw["beta_1"], kw["beta_2"]), eps=kw["epsilon"],
                                weight_decay=wd)
    opt = cls(**kw)
    w = w0.copy()
    for g in grads:
        opt.step([w], [g])
        tw.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, name, kw", OPT_CASES, ids=[f"{c[1]}{i}" for i, c in enumerate(OPT_CASES)])
def test_optimizer_float32_and_large_arrays(cls, name, kw, rng):
    """float32 parameters (arithmetic in float32), and one array large
    enough that the update kernel splits it between threads."""
    w0 = rng.standard_normal(300_001).astype(np.float32)
    grads = [rng.standard_normal(w0.shape).astype(np.float32) for _ in range(3)]
    opt = cls(**kw)
    w = w0.copy()
    for g in grads:
        opt.step([w], [g])
    assert w.dtype == np.float32
    kw = dict(kw)
    lr, wd = kw.pop("learning_rate"), kw.pop("weight_decay", 0.0)
    expected = _reference_steps(name, w0.astype(np.float64), [g.astype(np.float64) for g in grads], lr, wd, **kw)
    np.testing.assert_allclose(w, expected, rtol=1e-4, atol=1e-5)


def test_optimizer_errors():
    with pytest.raises(TypeError, match="parameter 0 must be a writeable C-contiguous"):
        nn.SGD().step([np.zeros((4, 4))[:, ::2]], [np.zeros((4, 2))])
    with pytest.raises(TypeError, match="parameter 0 must be"):
        nn.SGD().step([np.zeros(3, np.int64)], [np.zeros(3)])
    with pytest.raises(ValueError, match="gradient 1 must have its parameter's shape"):
        nn.Adam().step([np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(4)])
    with pytest.raises(ValueError, match="learning_rate"):
        nn.Adam(0)
    with pytest.raises(ValueError, match="nesterov"):
        nn.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="one gradient per parameter"):
        nn.SGD().step([np.zeros(2)], [])
    with pytest.raises(ValueError, match="optimizer must be one of"):
        nn.Sequential([nn.Dense(1)]).compile("lbfgs", "mse")


# ---- storage ----------------------------------------------------------------------------------------------


def test_save_and_load_model_round_trip(tmp_path, rng):
    model = _small_cnn(dtype="float32", seed=3)
    model.compile(nn.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    x = rng.standard_normal((10, 2, 6, 6)).astype(np.float32)
    model.fit(x, rng.integers(0, 5, 10), epochs=2, batch_size=5, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as data:  # no pickled objects inside
        assert "config" in data.files and json.loads(str(data["config"]))["layers"][0]["class"] == "Conv2D"
    loaded = nn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.loss.name == "sparse_categorical_crossentropy" and loaded.metrics == ["accuracy"]
    assert [type(a) for a in loaded.layers] == [type(a) for a in model.layers]
    assert loaded.count_params() == model.count_params()


def test_state_dict_round_trip_and_errors(rng):
    a = nn.Sequential([nn.Conv1D(4, 3), nn.BatchNorm(), nn.Flatten(), nn.Dense(2)], seed=1)
    a.build((2, 7))
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "3.weight", "3.bias"]
    b = nn.Sequential([nn.Conv1D(4, 3), nn.BatchNorm(), nn.Flatten(), nn.Dense(2)], seed=2)
    b.build((2, 7))
    b.load_state_dict({k: v.copy() for k, v in sd.items()})
    x = rng.standard_normal((3, 2, 7)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    bad = dict(sd)
    bad["0.weight"] = np.zeros((4, 2, 5), np.float32)
    with pytest.raises(ValueError, match="0.weight"):
        b.load_state_dict(bad)
    with pytest.raises(ValueError, match="holds 7 arrays"):
        b.load_state_dict(dict(list(sd.items())[:-1]))


def _torch_cnn(torch):
    tn = torch.nn
    return tn.Sequential(tn.Conv2d(2, 3, 3, padding=1), tn.ReLU(), tn.BatchNorm2d(3), tn.MaxPool2d(2),
                         tn.Conv2d(3, 4, 2), tn.Tanh(), tn.Flatten(), tn.Linear(16, 5))


def test_load_state_dict_from_torch_cnn(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tmodel = _torch_cnn(torch).double().train()
    x = rng.standard_normal((8, 2, 6, 6))
    tmodel(torch.tensor(x))  # moves the BatchNorm running statistics off their start
    tmodel.eval()
    model = _small_cnn()
    model.build((2, 6, 6))
    model.load_state_dict(tmodel.state_dict())
    model.layers[1].epsilon = 1e-5  # torch's default
    expected = torch.softmax(tmodel(torch.tensor(x)), -1).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_load_state_dict_from_torch_recurrent(kind, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    cell = getattr(torch.nn, kind)(3, 5, batch_first=True).double()
    head = torch.nn.Linear(5, 2).double()
    layer = {"RNN": nn.SimpleRNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind](5)
    model = nn.Sequential([layer, nn.Dense(2)], dtype="float64")
    model.build((6, 3))
    model.load_state_dict(dict(list(cell.state_dict().items()) + list(head.state_dict().items())))
    x = rng.standard_normal((4, 6, 3))
    out, _ = cell(torch.tensor(x))
    expected = head(out[:, -1]).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-10, atol=1e-12)


# ---- training behaviour ---------------------------------------------------------------------------------


def test_seed_makes_training_reproducible(rng):
    x = rng.standard_normal((40, 1, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)

    def run(seed):
        model = nn.Sequential([nn.Conv1D(4, 3, activation="relu"), nn.Dropout(0.2), nn.Flatten(),
                               nn.Dense(3, activation="softmax")], seed=seed)
        model.compile(nn.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
        h = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        return model.get_weights(), h["loss"]

    w1, l1 = run(7)
    w2, l2 = run(7)
    w3, _ = run(8)
    assert l1 == l2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(w1, w3))


def test_fit_history_validation_and_progress_bar(rng, capsys):
    x = rng.standard_normal((30, 4)).astype(np.float32)
    y = (x.sum(1) > 0).astype(np.float32)
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(1, activation="sigmoid")], seed=0)
    model.compile(nn.RMSprop(1e-2), "binary_crossentropy", ["accuracy", "mae"])
    h = model.fit(x, y, epochs=3, batch_size=10, validation_data=(x[:10], y[:10]), verbose=1)
    assert set(h) == {"loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae"}
    assert h.epoch == [0, 1, 2] and all(len(v) == 3 for v in h.values()) and h.history is h
    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "val_loss" in out
    loss, acc, mae = model.evaluate(x, y)
    assert 0 <= acc <= 1 and loss > 0 and mae > 0
    assert model.predict(x, batch_size=7).shape == (30, 1)


def test_early_stopping_stops_and_restores_best_weights():
    class Scripted(nn.Callback):
        # replaces the validation loss with a scripted sequence
        values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.1]

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = self.values[epoch]
            self.model.layers[0].params["bias"][:] = epoch

    model = nn.Sequential([nn.Dense(1)], seed=0)
    model.compile(nn.SGD(1e-3), "mse")
    stop = nn.EarlyStopping(patience=2, restore_best_weights=True)
    h = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=6, batch_size=4, callbacks=[Scripted(), stop], verbose=0)
    assert h.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3
    np.testing.assert_array_equal(model.layers[0].params["bias"], [1.0])
    with pytest.raises(ValueError, match="patience"):
        nn.EarlyStopping(patience=-1)


def test_summary_lists_layers_and_parameters():
    model = nn.Sequential([nn.Conv2D(8, 3), nn.Flatten(), nn.Dense(10)], name="net")
    model.build((1, 8, 8))
    text = model.summary(print_fn=None)
    assert 'Model: "net"' in text and "(None, 8, 6, 6)" in text
    assert f"Total params: {8 * 9 + 8 + 288 * 10 + 10:,}" in text


def test_bad_input_and_arguments(rng):
    with pytest.raises(ValueError, match="filters"):
        nn.Conv2D(0, 3)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="activation"):
        nn.Dense(3, activation="mish")
    with pytest.raises(ValueError, match="kernel_initializer"):
        nn.Dense(3, kernel_initializer="lecun")
    with pytest.raises(TypeError, match="layers"):
        nn.Sequential([np.zeros(3)])
    with pytest.raises(TypeError, match="dtype"):
        nn.Sequential(dtype="float16")
    model = nn.Sequential([nn.Dense(2)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 3)), np.zeros(2))
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="same number of examples"):
        model.fit(np.zeros((2, 3)), np.zeros(3), verbose=0)
    model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"inputs of shape \(N,\) \+ \(3,\)"):
        model.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="takes sequences"):
        nn.Sequential([nn.LSTM(3)]).build((4,))
    with pytest.raises(ValueError, match="metrics"):
        model.compile("adam", "mse", ["f1"])


# ---- learning ----------------------------------------------------------------------------------------------


def _toy_signals(rng, n):
    """Noisy 1-D signals of three shapes (sine, square, sawtooth) at random phase and frequency."""
    t = np.linspace(0, 1, 32)
    y = rng.integers(0, 3, n)
    f = rng.uniform(2, 4, (n, 1))
    ph = rng.uniform(0, 2 * np.pi, (n, 1))
    arg = 2 * np.pi * f * t + ph
    waves = [np.sin(arg), np.sign(np.sin(arg)), 2 * ((arg / (2 * np.pi)) % 1) - 1]
    x = np.choose(y[:, None], waves) + 0.2 * rng.standard_normal((n, 32))
    return x.astype(np.float32), y


def test_small_cnn_learns_toy_signals(rng):
    x, y = _toy_signals(rng, 600)
    model = nn.Sequential([nn.Conv1D(8, 5, activation="relu"), nn.MaxPool1D(2), nn.Conv1D(8, 3, activation="relu"),
                           nn.Flatten(), nn.Dense(3, activation="softmax")],
                          seed=0)
    model.compile(nn.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x[:500, None], y[:500], epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(x[500:, None], y[500:])[1] >= 0.95


def test_small_lstm_learns_toy_sequences(rng):
    # which of the two marked positions holds the larger value (needs memory across steps)
    n, T = 800, 12
    x = np.zeros((n, T, 2), np.float32)
    x[..., 0] = rng.uniform(0, 1, (n, T))
    for row in x:
        row[rng.choice(T, 2, replace=False), 1] = 1
    marked = x[..., 0][x[..., 1] == 1].reshape(n, 2)
    y = (marked[:, 0] > marked[:, 1]).astype(np.int64)
    model = nn.Sequential([nn.LSTM(16), nn.Dense(2, activation="softmax")], seed=0)
    model.compile(nn.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x[:700], y[:700], epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x[700:], y[700:])[1] >= 0.9


def test_custom_training_loop_low_level_path(rng):
    # regression with mse by hand: forward(training) / backward / optimizer.step
    x = rng.standard_normal((64, 3)).astype(np.float32)
    target = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    model = nn.Sequential([nn.Dense(1)], seed=0)
    opt = nn.SGD(0.1, momentum=0.5)
    loss = losses.MeanSquaredError()
    for _ in range(200):
        value, grad = loss(target, model.forward(x, training=True))
        model.backward(grad, input_grad=False)
        opt.step(model.parameters(), model.gradients())
    assert value < 1e-6
    np.testing.assert_allclose(model.layers[0].params["weight"], [[1.0, -2.0, 0.5]], atol=1e-3)
    buf = io.StringIO()
    model.summary(print_fn=lambda s: buf.write(s))
    assert "Dense" in buf.getvalue()
