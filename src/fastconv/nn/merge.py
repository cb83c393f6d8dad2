"""Merge layers (keras.layers.Add, Subtract, Multiply, Average,
Concatenate): called on a list of tensors, in a functional Model.
Concatenate reads its inputs in the model's logical layout (channels last
for images), so its axis is Keras's; the elementwise ones take either
layout (the model keeps image layers' outputs channels-first between
them).  Inputs of Add, Subtract, Multiply and Average must have one shape
(no broadcasting)."""
from . import _ops
from ._base import Layer


class _Merge(Layer):
    """A layer of several inputs: forward(list of arrays) -> array;
    backward(dy) -> list of the inputs' gradients."""

    min_inputs = 2
    max_inputs: int | None = None

    def _check_count(self, n):
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = (f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs
                    else f"at least {self.min_inputs}")
            raise ValueError(f"{type(self).__name__} takes a list of {want} inputs; received {n}")

    def _check_shapes(self, shapes):
        """ValueError unless the inputs may merge; returns the output shape."""
        if any(tuple(s) != tuple(shapes[0]) for s in shapes):
            raise ValueError(f"{type(self).__name__} takes inputs of one shape; received shapes "
                             f"{[(None,) + tuple(s) for s in shapes]}")
        return tuple(shapes[0])

    def _as_shapes(self, shapes):
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
            raise TypeError(f"{type(self).__name__} is called on a list of tensors; received one tensor")
        self._check_count(len(shapes))
        return [tuple(s) for s in shapes]

    def symbolic_output_shape(self, shapes):
        shapes = self._as_shapes(shapes)
        known = self.input_shape if self.built else self.__dict__.get("_call_shape")
        if known is not None and list(known) != shapes:
            raise ValueError(f"layer {self.name or type(self).__name__} takes inputs of shapes {known}; it was "
                             f"called on {shapes}")
        out = self._check_shapes(shapes)
        self._call_shape = shapes
        return out

    def build(self, input_shape, rng, dtype):
        shapes = self._as_shapes(input_shape)
        self.output_shape = self._check_shapes(shapes)
        self.input_shape = shapes
        self.dtype = dtype
        self.built = True

    def call_eager(self, xs, training=False):
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"{type(self).__name__} is called on a list of arrays; received "
                            f"{type(xs).__name__}")
        if not self.built:
            self.build([x.shape[1:] for x in xs], None, xs[0].dtype)
        self._check_batch(xs)
        return self.forward(list(xs), training)

    def _check_batch(self, xs):
        shapes = [tuple(x.shape[1:]) for x in xs]
        if shapes != [tuple(s) for s in self.input_shape] or any(len(x) != len(xs[0]) for x in xs):
            raise ValueError(f"{type(self).__name__} takes inputs of shapes (N,) + each of {self.input_shape}; "
                             f"received {[x.shape for x in xs]}")


class Add(_Merge):
    """keras.layers.Add: the sum of the inputs."""

    layout = "any"

    def forward(self, xs, training=False):
        self._n = len(xs)
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y

    def backward(self, dy):
        return [dy] * self._n


class Subtract(_Merge):
    """keras.layers.Subtract: inputs[0] - inputs[1]."""

    layout = "any"

    max_inputs = 2

    def forward(self, xs, training=False):
        return xs[0] - xs[1]

    def backward(self, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """keras.layers.Multiply: the elementwise product of the inputs."""

    layout = "any"

    def forward(self, xs, training=False):
        self._xs = list(xs)
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x
        return y

    def backward(self, dy):
        # d/dx_i = dy * prod of the others (no division: inputs may be 0)
        out = []
        for i in range(len(self._xs)):
            g = dy
            for j, x in enumerate(self._xs):
                if j != i:
                    g = g * x
            out.append(g)
        return out


class Average(Add):
    """keras.layers.Average: the mean of the inputs."""

    def forward(self, xs, training=False):
        y = super().forward(xs, training)
        y *= y.dtype.type(1 / len(xs))
        return y

    def backward(self, dy):
        return [dy * dy.dtype.type(1 / self._n)] * self._n


class Concatenate(_Merge):
    """keras.layers.Concatenate(axis=-1): the inputs joined along axis
    (counted with the batch axis, as Keras; not the batch axis itself).
    Every other axis must agree."""

    min_inputs = 1

    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"axis must be an int; received axis={axis!r}")
        self.axis = axis

    def _example_axis(self, rank):
        """The axis of one example's shape (rank axes) that axis names."""
        axis = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= rank:
            raise ValueError(f"Concatenate: axis={self.axis} is not an axis of inputs of rank {rank + 1} other "
                             "than the batch axis")
        return axis - 1

    def _check_shapes(self, shapes):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"Concatenate takes inputs of one rank; received shapes "
                             f"{[(None,) + tuple(s) for s in shapes]}")
        a = self._example_axis(rank)
        rest = [s[:a] + s[a + 1:] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ValueError(f"Concatenate(axis={self.axis}) takes inputs whose shapes agree except along axis "
                             f"{self.axis}; received shapes {[(None,) + tuple(s) for s in shapes]}")
        return shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1:]

    def forward(self, xs, training=False):
        a = self._example_axis(xs[0].ndim - 1) + 1
        self._sizes = [x.shape[a] for x in xs]
        return _ops.xp_of(xs[0]).concatenate(xs, axis=a)

    def backward(self, dy):
        a = self._example_axis(dy.ndim - 1) + 1
        out, at = [], 0
        for n in self._sizes:
            index = (slice(None),) * a + (slice(at, at + n),)
            out.append(dy[index])
            at += n
        return out

    def get_config(self):
        return {"axis": self.axis}
