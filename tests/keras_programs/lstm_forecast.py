"""A stacked-LSTM time-series forecast on a generated series (two sines and
noise): windows of 24 steps predict the next value, through a
Bidirectional LSTM returning sequences, an LSTM and a Dense head, in a
functional Model, with validation_split.  Keras's spelling; only the
imports differ.

Figures (600 training windows, 20% of them for validation, 200 test
windows, 12 epochs, batch 32, seed 0):
    Keras 3.15 (torch backend): test mse 0.0154, test mae 0.0962, mse / persistence mse 0.2229 (62.5 s)
    fastconv.nn:                test mse 0.0146, test mae 0.0952, mse / persistence mse 0.2107 (0.9 s)
    (persistence, tomorrow = today: mse 0.0692; the noise alone: 0.01)
Run under Keras with: import keras / from keras import layers (times: the
whole script on a shared 2-core machine)."""
import numpy as np

from fastconv import nn as keras
from fastconv.nn import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
t = np.arange(900, dtype="float64")
series = np.sin(2 * np.pi * t / 37) + 0.5 * np.sin(2 * np.pi * t / 11) + 0.1 * rng.standard_normal(t.size)
series = series.astype("float32")

window = 24
x = np.stack([series[i: i + window] for i in range(len(series) - window)])[..., None]
y = series[window:, None]
x_train, y_train, x_test, y_test = x[:600], y[:600], x[676:], y[676:]  # (the test windows do not overlap training)

inputs = keras.Input(shape=(window, 1))
h = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(inputs)
h = layers.LSTM(16)(h)
outputs = layers.Dense(1)(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
model.fit(x_train, y_train, epochs=12, batch_size=32, validation_split=0.2, verbose=0)

mse, mae = model.evaluate(x_test, y_test, verbose=0)
persistence = float(np.mean((x_test[:, -1] - y_test) ** 2))  # tomorrow = today
print(f"test mse: {mse:.4f}")
print(f"test mae: {mae:.4f}")
print(f"persistence mse: {persistence:.4f}")
print(f"mse / persistence mse: {mse / persistence:.4f}")
