"""Symbolic tensors of the functional API (Keras's KerasTensor and Node).

keras.Input(shape) gives a KerasTensor; a layer called on KerasTensors
records a Node (the layer, the tensors it reads, the tensors it makes) and
returns its output tensors.  Nothing is built or computed here: the output
shapes come from the layers' compute_output_shape, and fastconv.nn.Model
builds the layers of its graph (with its seed) and runs them.

Shapes are logical: Keras's channels-last layout, batch axis first as
None.  Names follow Keras's: the class name in snake case, made unique in
the session by a suffix (dense, dense_1, ...)."""
import itertools
import re

import numpy as np

_name_counts: dict[str, int] = {}


def snake_case(name):
    """Keras's layer-name stem of a class name: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(stem):
    """stem, then stem_1, stem_2, ... (per session, as Keras names layers)."""
    n = _name_counts.get(stem, 0)
    _name_counts[stem] = n + 1
    return stem if n == 0 else f"{stem}_{n}"


def name_layer(layer):
    """Gives an unnamed layer Keras's default name (once)."""
    if layer.name is None:
        layer.name = unique_name(snake_case(type(layer).__name__))
    return layer.name


class KerasTensor:
    """A symbolic tensor: the shape (None for the batch axis, then one
    example's shape, channels last for images) and dtype of a value the
    graph will compute, and the node that computes it (None: no layer made
    it yet)."""

    def __init__(self, shape, dtype="float32", node=None, index=0, name=None):
        self.shape = (None,) + tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype).name
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def example_shape(self):
        """The shape of one example (without the batch axis)."""
        return self.shape[1:]

    @property
    def is_input(self):
        """True for the tensor of a keras.Input."""
        return self.node is not None and not self.node.inputs

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer in a graph: the tensors it reads (none for an
    Input) and those it makes.  multi: the layer took a list of tensors."""

    _ids = itertools.count()

    def __init__(self, layer, inputs, output_shapes, dtype, multi=False, training=None):
        self.layer = layer
        self.inputs = list(inputs)
        self.multi = bool(multi)
        self.training = None if training is None else bool(training)  # None: the model's mode
        self.id = next(Node._ids)  # creation order
        nodes = layer.__dict__.setdefault("_inbound_nodes", [])
        self.index = len(nodes)  # this node's index among the layer's calls ("Connected to": name[index][tensor])
        nodes.append(self)
        self.outputs = [KerasTensor(s, dtype, self, i, name=layer.name) for i, s in enumerate(output_shapes)]


def is_symbolic(inputs):
    """True when inputs is a KerasTensor or a list / tuple holding one."""
    if isinstance(inputs, KerasTensor):
        return True
    return isinstance(inputs, (list, tuple)) and any(isinstance(t, KerasTensor) for t in inputs)


def call(layer, inputs, training=None):
    """layer called on KerasTensor(s): records the node, returns its output
    tensor (a list of them when the layer has several outputs).  training:
    the node's fixed mode, or None (the model's)."""
    multi = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if multi else [inputs]
    for i, t in enumerate(tensors):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"{type(layer).__name__} was called on a list mixing symbolic tensors (keras.Input "
                            f"and layer outputs) and arrays; item {i} is a {type(t).__name__}")
    name_layer(layer)
    shapes = [t.example_shape for t in tensors]
    out = layer.symbolic_output_shape(shapes if multi else shapes[0])
    several = isinstance(out, list)
    node = Node(layer, tensors, out if several else [out], tensors[0].dtype, multi, training)
    return node.outputs if several else node.outputs[0]


# the generator that builds layers called eagerly (outside a model), and
# the seed of models made without one (keras.utils.set_random_seed)
_state = {"rng": np.random.default_rng(), "seed": None}


def default_rng():
    return _state["rng"]


def set_random_seed(seed):
    """Seeds NumPy's global generator, the one that builds layers called on
    arrays, and the weights of models made with seed=None from now on
    (keras.utils.set_random_seed)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; received seed={seed!r}")
    np.random.seed(int(seed))
    _state["rng"] = np.random.default_rng(int(seed))
    _state["seed"] = int(seed)


def next_model_seed():
    """A seed for a model made with seed=None: drawn from the seeded
    generator once set_random_seed was called (so a seeded program repeats
    exactly), else None (fresh entropy)."""
    if _state["seed"] is None:
        return None
    return int(_state["rng"].integers(2 ** 31))
