"""fastconv.nn: a Keras-like layer API on fastconv's kernels.

    from fastconv import nn
    model = nn.Sequential([nn.Conv1D(25, 5, strides=2, padding=1, activation="relu"),   # x: (N, 40, 1)
                           nn.Flatten(), nn.Dense(10, activation="softmax")], seed=0)
    model.compile(nn.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=100, validation_data=(xv, yv))

Image layers take channels-last input as Keras does ((N, L, C), (N, H, W, C);
data_format="channels_first", or nn.config.set_image_data_format, for
PyTorch's (N, C, ...)), running channels-first kernels behind the model's
one move of the channel axis; recurrent layers take (N, T, features).  Every layer's forward / backward
calls fastconv's kernels; there is no autograd engine: Sequential.backward
runs the layers' backward in reverse (see fastconv.nn.model for the
low-level path used by custom training loops)."""
from . import config, utils  # noqa: F401 (keras.config, keras.utils)
from . import models  # noqa: F401 (keras.models)
from .activations import Activation as ActivationFunction
from . import metrics, regularizers  # noqa: F401 (keras.metrics, keras.regularizers)
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                        ProgressBar, ReduceLROnPlateau)
from .layers import (
    Activation,
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    BatchNorm,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Cropping1D,
    Cropping2D,
    Dense,
    Dropout,
    ELU,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Input,
    InputLayer,
    Lambda,
    LayerNormalization,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
    PReLU,
    ReLU,
    Reshape,
    Softmax,
    SpatialDropout1D,
    SpatialDropout2D,
    TimeDistributed,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from ._base import Layer
from .losses import (BinaryCrossentropy, CategoricalCrossentropy, Huber, KLDivergence, Loss, MeanAbsoluteError,
                     MeanSquaredError, SparseCategoricalCrossentropy)
from .model import Sequential
from .functional import Model, load_model
from .merge import Add, Average, Concatenate, Multiply, Subtract
from ._tensor import KerasTensor
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, Nadam, Optimizer, RMSprop
from .recurrent import GRU, LSTM, SimpleRNN

__all__ = [
    "Bidirectional", "Cropping1D", "Cropping2D", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Lambda", "LayerNormalization", "PReLU", "Softmax",
    "SpatialDropout1D", "SpatialDropout2D", "TimeDistributed", "UpSampling1D", "UpSampling2D", "ZeroPadding1D",
    "ZeroPadding2D", "CSVLogger", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "Adadelta",
    "AdamW", "Nadam", "Huber", "KLDivergence",
    "Activation", "ActivationFunction", "Adagrad", "Adam", "AveragePooling1D", "AveragePooling2D", "AvgPool1D",
    "AvgPool2D", "BatchNorm", "BatchNormalization", "BinaryCrossentropy", "Callback", "CategoricalCrossentropy",
    "Conv1D", "Conv2D", "Conv2DTranspose", "Dense", "Dropout", "ELU", "EarlyStopping", "Embedding", "Flatten", "GRU",
    "GlobalAveragePooling2D", "GlobalAvgPool2D", "History", "Input", "InputLayer", "LSTM", "LeakyReLU", "Layer", "Loss", "MaxPool1D", "MaxPool2D",
    "MaxPooling1D", "MaxPooling2D", "MeanAbsoluteError", "MeanSquaredError", "Optimizer", "ProgressBar", "RMSprop", "ReLU", "Reshape", "SGD",
    "Sequential", "SimpleRNN", "SparseCategoricalCrossentropy", "load_model",
]
# the functional API (keras.Model, keras.layers' merge layers)
__all__ += ["Add", "Average", "Concatenate", "KerasTensor", "Model", "Multiply", "Subtract"]
