"""fastconv.nn on the GPU backend against the CPU: whole training steps of
small models (every layer kind, loss and optimizer rule), through the
harness of test_gpu.py: "emulated" runs the GPU code paths on NumPy arrays
(the CUDA kernels compiled for the CPU; nn's CuPy expressions evaluated by
NumPy), "cupy" moves the data to a real device (skipped without one)."""
import numpy as np
import pytest

from fastconv import nn
from test_gpu import cuda_unavailable, gpu, same  # noqa: F401  (gpu: the harness's fixture)

pytestmark = pytest.mark.usefixtures("channels_first")  # written against torch's layouts


def _cnn():
    model = nn.Sequential([
        nn.Conv2D(4, 3, padding="same", activation="relu"),
        nn.BatchNorm(),
        nn.MaxPool2D(2),
        nn.Conv2D(6, 3, padding="same", activation="leaky_relu"),
        nn.AvgPool2D(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Dense(5, activation="softmax"),
    ], seed=3, dtype="float64")
    model.compile(nn.Adam(1e-2, weight_decay=1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    return model, (8, 1, 8, 8), lambda rng: rng.integers(0, 5, 8)


def _rnn():
    model = nn.Sequential([
        nn.Conv1D(3, 3, padding=1, activation="tanh"),
        nn.Reshape((6, 3)),
        nn.LSTM(5, return_sequences=True),
        nn.GRU(4),
        nn.Dense(1, activation="sigmoid"),
    ], seed=4, dtype="float64")
    model.compile(nn.RMSprop(1e-2, momentum=0.5), "binary_crossentropy", ["accuracy"])
    return model, (8, 3, 6), lambda rng: rng.integers(0, 2, (8, 1)).astype(np.float64)


def _mlp():
    model = nn.Sequential([nn.Dense(7, activation="sigmoid"), nn.Dense(3)], seed=5, dtype="float64")
    model.compile(nn.SGD(0.1, momentum=0.9, nesterov=True), "mse", ["mae"])
    return model, (8, 4), lambda rng: rng.standard_normal((8, 3))


@pytest.mark.parametrize("make", [_cnn, _rnn, _mlp], ids=["cnn", "recurrent", "mlp"])
def test_training_matches_the_cpu(gpu, make):
    rng = np.random.default_rng(0)
    _, shape, labels = make()
    x, y = rng.standard_normal(shape), labels(rng)

    def train(x, y):
        model = make()[0]
        logs = [model.train_on_batch(x, y, return_dict=True) for _ in range(3)]
        history = model.fit(x, y, epochs=2, batch_size=3, verbose=0)
        weights = model.get_weights()
        return weights, model.predict(x), model.evaluate(x, y), logs, history.history["loss"]

    w_cpu, p_cpu, e_cpu, logs_cpu, h_cpu = train(x, y)
    w_gpu, p_gpu, e_gpu, logs_gpu, h_gpu = gpu(train, x, y)
    same(tuple(w_gpu), tuple(w_cpu), 1e-9)
    same(p_gpu, p_cpu, 1e-9)
    np.testing.assert_allclose(e_gpu, e_cpu, rtol=1e-9)
    for a, b in zip(logs_gpu, logs_cpu):
        assert a.keys() == b.keys()
        np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-9)
    np.testing.assert_allclose(h_gpu, h_cpu, rtol=1e-9)


@pytest.mark.parametrize("opt", [lambda: nn.SGD(0.1), lambda: nn.SGD(0.05, momentum=0.8, weight_decay=0.01),
                                 lambda: nn.Adagrad(0.1, weight_decay=0.02),
                                 lambda: nn.RMSprop(0.01, rho=0.8, momentum=0.5, weight_decay=0.05),
                                 lambda: nn.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3)],
                         ids=["sgd", "momentum", "adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_rules_match_the_cpu(gpu, opt, dtype):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(50).astype(dtype)
    grads = [rng.standard_normal(50).astype(dtype) for _ in range(3)]

    def run(w, grads):
        w = w.copy()
        o = opt()
        for g in grads:
            o.step([w], [g])
        return w

    same(gpu(run, w0, grads), run(w0, grads), 1e-5 if dtype == np.float32 else 1e-12)


def test_activations_on_the_gpu_path(gpu):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5)) * 4
    x[0, 0, 0] = np.nan

    def run(x):
        out = []
        for name in ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "identity"):
            a = nn.activations.get(name)
            y = a.forward(x)
            out += [y, a.backward(np.ones_like(x), x, y)]
        return tuple(out)

    same(gpu(run, x), run(x), 1e-12)


def test_device_moves():
    model = nn.Sequential([nn.Dense(2)], seed=0)
    model.build((3,))
    assert model.device == "cpu" and model.to("cpu") is model
    with pytest.raises(ValueError, match="device must be 'cpu' or 'gpu'"):
        model.to("tpu")
    reason = cuda_unavailable()
    if reason:
        with pytest.raises(RuntimeError, match="no GPU backend"):
            model.to("gpu")
        assert model.device == "cpu"
    else:
        import cupy

        model.to("gpu")
        assert model.device == "gpu" and isinstance(model.parameters()[0], cupy.ndarray)
        assert isinstance(model.predict(np.ones((2, 3), np.float32)), cupy.ndarray)
        model.to("cpu")
        assert isinstance(model.predict(np.ones((2, 3), np.float32)), np.ndarray)


def _functional():
    """A functional graph: a shared layer, Add and Concatenate merges, and the
    vocabulary layers (PReLU, LayerNormalization, padding / cropping /
    upsampling, global pools, Softmax, regularizers), trained with AdamW."""
    inp = nn.Input((2, 8, 8), dtype="float64")
    a = nn.Conv2D(4, 3, padding="same", kernel_regularizer=nn.regularizers.l2(1e-3))(inp)
    a = nn.PReLU()(a)
    shared = nn.Conv2D(4, 3, padding="same", activation="tanh")
    b = shared(a)
    c = shared(nn.Cropping2D(1)(nn.ZeroPadding2D(1)(a)))
    s = nn.Add()([b, c])
    s = nn.UpSampling2D(2)(nn.MaxPool2D(2)(s))
    g1 = nn.GlobalMaxPooling2D()(s)
    g2 = nn.GlobalAveragePooling2D()(nn.SpatialDropout2D(0.2)(s))
    h = nn.Concatenate()([g1, g2])
    h = nn.LayerNormalization()(nn.Dense(6, activation="gelu")(h))
    out = nn.Softmax()(nn.Dense(3)(h))
    model = nn.Model(inp, out, dtype="float64")
    model.compile(nn.AdamW(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    return model, (8, 2, 8, 8), lambda rng: rng.integers(0, 3, 8)


def _wrapped_recurrent():
    """TimeDistributed and Bidirectional around recurrent layers, Nadam."""
    model = nn.Sequential([
        nn.TimeDistributed(nn.Dense(5, activation="relu")),
        nn.Bidirectional(nn.LSTM(4, return_sequences=True)),
        nn.Bidirectional(nn.GRU(3), merge_mode="sum"),
        nn.Dense(2),
    ], seed=6, dtype="float64")
    model.compile(nn.Nadam(1e-2), nn.losses.Huber(), ["mae"])
    return model, (8, 6, 3), lambda rng: rng.standard_normal((8, 2))


@pytest.mark.parametrize("make", [_functional, _wrapped_recurrent], ids=["functional", "wrappers"])
def test_graphs_and_wrappers_match_the_cpu(gpu, make):
    """The functional API and the wrapper layers on the GPU backend (their
    CuPy code paths: the emulator evaluates them with NumPy), as on the CPU."""
    rng = np.random.default_rng(3)
    _, shape, labels = make()
    x, y = rng.standard_normal(shape), labels(rng)

    def train(x, y):
        nn.utils.set_random_seed(11)
        model = make()[0]
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        return tuple(model.get_weights()), model.predict(x), model.evaluate(x, y), history.history["loss"]

    w_cpu, p_cpu, e_cpu, h_cpu = train(x, y)
    w_gpu, p_gpu, e_gpu, h_gpu = gpu(train, x, y)
    same(w_gpu, w_cpu, 1e-9)
    same(p_gpu, p_cpu, 1e-9)
    np.testing.assert_allclose(e_gpu, e_cpu, rtol=1e-9)
    np.testing.assert_allclose(h_gpu, h_cpu, rtol=1e-9)
