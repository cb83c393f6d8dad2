"""Keras's reshaping layers: UpSampling1D / 2D (nearest neighbour),
ZeroPadding1D / 2D and Cropping1D / 2D.

Image layers (data_format) run on the channel axis first, (N, C, ...), as
the convolutions do: inside a model, channels_last data reaches them with
its channel axis moved (see fastconv.nn.config).  UpSampling1D and
Cropping1D have no data_format in Keras: they take (N, steps, features)."""
from .. import _validation
from . import _ops, config
from ._base import Layer, int_tuple


def _pairs(value, nd, name):
    """((before, after),) * nd from an int, nd ints (symmetric), or nd pairs (Keras's forms); 1-D: one pair."""
    if nd == 1 and isinstance(value, (tuple, list)) and len(value) == 2:
        return (_validation.int_tuple(value, 2, name, 0),)
    if isinstance(value, (tuple, list)) and len(value) == nd and all(isinstance(v, (tuple, list)) for v in value):
        return tuple(_validation.int_tuple(v, 2, name, 0) for v in value)
    return tuple((p, p) for p in _validation.int_tuple(value, nd, name, 0))


class _Spatial(Layer):
    """A layer acting on the nd axes after axis `first` ((N, C, spatial...)
    for image layers, (N, steps, features) for the 1-D ones without
    data_format)."""

    nd = 1
    has_data_format = True

    @property
    def rank(self):
        return self.nd + 1

    def _init_format(self, data_format):
        self.data_format = config.resolve(data_format) if self.has_data_format else "channels_last"

    @property
    def layout(self):
        return "channels_first" if self.has_data_format and self.data_format == "channels_last" else "logical"

    @property
    def _first(self):
        return 2 if self.has_data_format else 1  # the first spatial axis of the arrays the layer sees

    def _config(self, **extra):
        return dict(extra, data_format=self.data_format) if self.has_data_format else extra


class _Crop(_Spatial):
    """Removes (before, after) entries of each spatial axis; ZeroPadding adds zeros there instead."""

    pad = False

    def __init__(self, amounts, data_format=None, name=None, argname="cropping", **kwargs):
        super().__init__(name, **kwargs)
        self._init_format(data_format)
        self._amounts = _pairs(amounts, self.nd, argname)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for i, (b, a) in enumerate(self._amounts):
            k = self._first - 1 + i
            out[k] = out[k] + b + a if self.pad else out[k] - b - a
            if out[k] < 1:
                raise ValueError(f"{type(self).__name__}: cropping {self._amounts} leaves nothing of inputs "
                                 f"(N,) + {tuple(input_shape)}")
        return tuple(out)

    def _crop(self, x):
        index = [slice(None)] * x.ndim
        for i, (b, a) in enumerate(self._amounts):
            index[self._first + i] = slice(b, x.shape[self._first + i] - a)
        return x[tuple(index)]

    def _zero_pad(self, x):
        widths = [(0, 0)] * x.ndim
        for i, pair in enumerate(self._amounts):
            widths[self._first + i] = pair
        return _ops.xp_of(x).pad(x, widths)

    def forward(self, x, training=False):
        return self._zero_pad(x) if self.pad else _ops.xp_of(x).ascontiguousarray(self._crop(x))

    def backward(self, dy):
        return _ops.xp_of(dy).ascontiguousarray(self._crop(dy)) if self.pad else self._zero_pad(dy)


class Cropping1D(_Crop):
    """keras.layers.Cropping1D: (N, steps, features) without cropping = (before, after) (or an int) steps."""

    nd, has_data_format = 1, False

    def __init__(self, cropping=(1, 1), name=None, **kwargs):
        super().__init__(cropping, None, name, **kwargs)

    def get_config(self):
        return {"cropping": list(self._amounts[0])}


class Cropping2D(_Crop):
    """keras.layers.Cropping2D: removes cropping ((top, bottom), (left,
    right)) rows and columns (an int: all four; a pair: symmetric)."""

    nd = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, name=None, **kwargs):
        super().__init__(cropping, data_format, name, **kwargs)

    def get_config(self):
        return self._config(cropping=[list(p) for p in self._amounts])


class ZeroPadding1D(_Crop):
    """keras.layers.ZeroPadding1D: padding (an int, or (before, after)) zeros at both ends of the steps."""

    nd, pad = 1, True

    def __init__(self, padding=1, data_format=None, name=None, **kwargs):
        super().__init__(padding, data_format, name, argname="padding", **kwargs)

    def get_config(self):
        return self._config(padding=list(self._amounts[0]))


class ZeroPadding2D(_Crop):
    """keras.layers.ZeroPadding2D: padding ((top, bottom), (left, right))
    rows and columns of zeros (an int: all four; a pair: symmetric)."""

    nd, pad = 2, True

    def __init__(self, padding=(1, 1), data_format=None, name=None, **kwargs):
        super().__init__(padding, data_format, name, argname="padding", **kwargs)

    def get_config(self):
        return self._config(padding=[list(p) for p in self._amounts])


class _UpSampling(_Spatial):
    """Repeats every entry of each spatial axis size times (nearest neighbour)."""

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for i, s in enumerate(self.size):
            out[self._first - 1 + i] *= s
        return tuple(out)

    def forward(self, x, training=False):
        xp = _ops.xp_of(x)
        for i, s in enumerate(self.size):
            x = xp.repeat(x, s, axis=self._first + i)
        return x

    def backward(self, dy):
        # each input entry's gradient: the sum over its size[0] x size[1] ... copies
        shape = list(dy.shape[:self._first])
        axes = []
        for i, s in enumerate(self.size):
            shape += [dy.shape[self._first + i] // s, s]
            axes.append(len(shape) - 1)
        shape += list(dy.shape[self._first + self.nd:])
        return _ops.xp_of(dy).ascontiguousarray(dy.reshape(shape).sum(axis=tuple(axes)))


class UpSampling1D(_UpSampling):
    """keras.layers.UpSampling1D: (N, steps, features) with each step repeated size times."""

    nd, has_data_format = 1, False

    def __init__(self, size=2, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self._init_format(None)
        self.size = int_tuple(size, 1, "size")

    def get_config(self):
        return {"size": self.size[0]}


class UpSampling2D(_UpSampling):
    """keras.layers.UpSampling2D: rows repeated size[0] times and columns
    size[1] times (interpolation "nearest", the only one here)."""

    nd = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", name=None, **kwargs):
        super().__init__(name, **kwargs)
        self._init_format(data_format)
        self.size = int_tuple(size, 2, "size")
        if interpolation != "nearest":
            raise ValueError(f"interpolation must be 'nearest' (the only one fastconv.nn has); received "
                             f"interpolation={interpolation!r}")
        self.interpolation = interpolation

    def get_config(self):
        return self._config(size=list(self.size), interpolation=self.interpolation)
