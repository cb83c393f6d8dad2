"""The functional API: Model(inputs, outputs), the graph of layers between
keras.Input tensors and the outputs computed from them.

    inp = nn.Input((8, 8, 1))
    h = nn.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = nn.Add()([h, nn.Conv2D(8, 3, padding="same")(h)])
    out = nn.Dense(10, activation="softmax")(nn.Flatten()(h))
    model = nn.Model(inp, out)

The graph runs as Sequential does, with explicit forward / backward: the
nodes in topological order, then their backward in reverse, each tensor's
gradient the sum over the nodes that read it.  A layer called at several
nodes (a shared layer) has one set of weights: the model keeps what each
node's forward left on the layer and puts it back before that node's
backward, and the weight gradients are summed over the nodes.  Layers
already built (trained in another model) keep their weights, so
Model(inp, code) after training an autoencoder is its trained encoder.

Values flow between nodes in the logical layout (Keras's channels last);
an image layer in channels_last format runs its channels-first kernels on
the channel axis moved first, and its output is moved back."""
import json

import numpy as np

from . import _ops, _tensor
from . import layers as L
from . import model as M
from ._base import ActivatedLayer, move_channels


def _leaves(layer):
    """The layers holding a node's weights: the layer, or a nested model's layers."""
    return layer.weight_layers() if isinstance(layer, M.ModelBase) else [layer]


def _structure(value, what):
    """(list of KerasTensors, the names of a dict's keys or None)."""
    if isinstance(value, dict):
        keys = list(value)
        items = [value[k] for k in keys]
    elif isinstance(value, (list, tuple)):
        keys, items = None, list(value)
    else:
        keys, items = None, [value]
    if not items:
        raise ValueError(f"{what} must hold at least one tensor")
    for i, t in enumerate(items):
        if not isinstance(t, _tensor.KerasTensor):
            raise TypeError(f"{what} must be KerasTensors (keras.Input and the outputs of layers called on "
                            f"them); item {i} is a {type(t).__name__}")
    return items, keys


def _graph(inputs, outputs):
    """(nodes in topological order, layers in Keras's order) of the graph
    from inputs to outputs; ValueError if an output depends on an Input not
    among inputs.  Keras's order (keras.src.ops.function.map_graph): by
    decreasing depth from the outputs, ties by first visit of a depth-first
    walk from the outputs."""
    input_ids = {id(t) for t in inputs}
    order, index, finished = [], {}, set()

    def visit(t):
        node = t.node
        if id(node) in finished:
            return
        if t.is_input and id(t) not in input_ids:
            raise ValueError(f"the outputs depend on the Input {t.name!r} {t.shape}, which is not among the "
                             "model's inputs (graph disconnected): pass it in inputs=")
        index.setdefault(node.layer, len(index))
        for parent in node.inputs:
            visit(parent)
        finished.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    depth = {}
    for node in reversed(order):
        d = depth.setdefault(id(node), 0)
        for t in node.inputs:
            depth[id(t.node)] = max(depth.get(id(t.node), 0), d + 1)
    for t in inputs:  # an Input the outputs do not read still belongs to the model
        if id(t.node) not in finished:
            index.setdefault(t.node.layer, -1)
            depth[id(t.node)] = 0
            order.insert(0, t.node)
    layer_depth = {}
    for node in order:
        layer_depth[node.layer] = max(layer_depth.get(node.layer, 0), depth[id(node)])
    layers = sorted(index, key=lambda layer: (-layer_depth[layer], index[layer]))
    return order, layers


class Model(M.ModelBase):
    """keras.Model(inputs, outputs): the layers between keras.Input tensors
    and outputs computed from them (one tensor, a list, or a dict by name).
    Several inputs and outputs, shared layers, merge layers (Add,
    Concatenate, ...).  seed fixes the initialisation of the layers not yet
    built (by default drawn from keras.utils.set_random_seed's generator),
    the dropout masks and the shuffling; dtype: the parameters' (float32 or
    float64; by default that of layers already built, else float32).

    Inputs to fit / predict / evaluate: one array per input (a list in
    input order, or a dict by Input name); targets likewise per output.
    Same high-level API as Sequential: compile (losses and loss_weights per
    output), fit, evaluate, predict, train_on_batch, summary, save."""

    def __init__(self, inputs, outputs, name=None, seed=None, dtype=None):
        ins, self._input_keys = _structure(inputs, "inputs")
        outs, self._output_keys = _structure(outputs, "outputs")
        for i, t in enumerate(ins):
            if not t.is_input:
                raise ValueError(f"inputs must be keras.Input tensors; input {i} ({t.name!r}) is the output of a "
                                 "layer")
        if len({id(t) for t in ins}) != len(ins):
            raise ValueError("inputs holds one Input twice")
        nodes, layers = _graph(ins, outs)
        built = {}  # dtype -> a layer built (or a model made) with it: one model computes in one dtype
        for layer in layers:
            if (layer.built and layer.__dict__.get("dtype") is not None) or isinstance(layer, M.ModelBase):
                built.setdefault(np.dtype(layer.dtype), layer)
        if dtype is None:
            dtype = next(iter(built)) if len(built) == 1 else "float32"
        clash = [layer for d, layer in built.items() if d != np.dtype(dtype)]
        if clash:
            raise ValueError(f"dtype={np.dtype(dtype).name}: layer {clash[0].name!r} holds "
                             f"{np.dtype(clash[0].dtype).name} weights (make the model with its dtype)")
        self._init_state(name, _tensor.next_model_seed() if seed is None else seed, dtype)
        self.inputs, self.outputs = ins, outs
        self.layers = layers
        names = [_tensor.name_layer(layer) for layer in layers]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"the layers of a model need unique names; {dup} name several layers")
        self._nodes = [n for n in nodes if n.inputs]  # the Input nodes compute nothing
        uses = {}
        for node in self._nodes:
            uses[id(node.layer)] = uses.get(id(node.layer), 0) + 1
        self._shared = {id(node) for node in self._nodes if uses[id(node.layer)] > 1}
        readers = {}
        for node in self._nodes:
            for t in node.inputs:
                readers[id(t)] = readers.get(id(t), 0) + 1
        # an output whose activation may be fused into the loss: made by a layer used once, read by no node
        self._fusable = [bool(t.node.inputs) and isinstance(t.node.layer, ActivatedLayer) and id(t) not in readers
                         and id(t.node) not in self._shared and t.index == 0
                         and sum(o is t for o in outs) == 1 for t in outs]
        self.built = False
        self.input_grad = True
        self._build()

    # ---- building ---------------------------------------------------------------------------

    def _build(self):
        for node in self._nodes:
            layer = node.layer
            shapes = [t.example_shape for t in node.inputs]
            if node.multi:
                self._build_layer(layer, shapes)
            else:
                self._build_layer(layer, layer.kernel_shape(shapes[0]))
        for t in self.inputs:
            t.node.layer.built = True
            t.node.layer.input_shape = t.node.layer.output_shape = t.example_shape
        self.built = True

    @property
    def input_names(self):
        return [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self):
        if self._output_keys is not None:
            return list(self._output_keys)
        return [t.node.layer.name for t in self.outputs]

    @property
    def input(self):
        """The input tensor (a list of them with several inputs), as Keras's model.input."""
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        """The output tensor (a list of them with several outputs)."""
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    @property
    def input_shape(self):
        """One example's shape (a list of them with several inputs)."""
        shapes = [t.example_shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.example_shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _output_layers(self):
        return [t.node.layer if ok else None for t, ok in zip(self.outputs, self._fusable)]

    def get_layer(self, name=None, index=None):
        """The layer called name (or at index in model.layers)."""
        if index is not None:
            if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"index must be an int in [0, {len(self.layers)}); received index={index!r}")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; the layers are {[layer.name for layer in self.layers]}")

    # ---- arrays in and out ------------------------------------------------------------------------

    def _inputs(self, x, name="x"):
        keys = self._input_keys if self._input_keys is not None else self.input_names
        xs = M.per_name(x, keys, "x", "input")
        out = []
        for t, k, a in zip(self.inputs, keys, xs):
            a = self._check_array(a, f"{name}[{k!r}]" if len(xs) > 1 else name)
            if a.shape[1:] != t.example_shape:
                raise ValueError(f"input {k!r} takes arrays of shape (N,) + {t.example_shape}; received {a.shape}")
            out.append(a)
        if any(len(a) != len(out[0]) for a in out):
            raise ValueError(f"the inputs must hold the same number of examples; received {[len(a) for a in out]}")
        return out

    def _targets(self, y):
        return [_ops.to_module(t, self._xp) for t in M.per_name(y, self.output_names, "y", "output")]

    def _pack(self, outs):
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        return outs[0] if len(outs) == 1 else list(outs)

    # ---- the graph, forward and backward ---------------------------------------------------------

    def forward(self, x, training=False, logits=False):
        """The model's output(s) for x (an array, or one per input);
        training=True uses batch statistics and dropout; logits=True leaves
        out the fusable output activations.  Keeps what backward needs."""
        return self._pack(self._run(self._inputs(x), training, [logits] * len(self.outputs)))

    def _as_layer(self):
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise ValueError(f"a model used as a layer takes one input and gives one output; model {self.name!r} "
                             f"has {len(self.inputs)} and {len(self.outputs)}")

    def symbolic_output_shape(self, shape):
        self._as_layer()
        if tuple(shape) != self.inputs[0].example_shape:
            raise ValueError(f"model {self.name!r} takes inputs of shape {self.inputs[0].shape}; it was called on "
                             f"(None,) + {tuple(shape)}")
        return self.outputs[0].example_shape

    def _run(self, xs, training, logits):
        # tensor -> (array, stored with the channel axis moved first): an image layer's output stays in its
        # kernels' layout until a node needs the logical one, so a chain of image layers moves it once
        values = {id(t): (a, False) for t, a in zip(self.inputs, xs)}
        other = {}  # tensor -> its array in the other layout, made once
        logits = logits or [False] * len(self.outputs)
        logit_nodes = {id(t.node) for t, ok, lg in zip(self.outputs, self._fusable, logits) if ok and lg}
        self._states, self._converted = {}, {}
        for node in self._nodes:
            layer = node.layer
            if isinstance(layer, ActivatedLayer):
                layer.logits = id(node) in logit_nodes
            stored = [values[id(t)] for t in node.inputs]
            if layer.layout == "any":  # elementwise: either layout, if the inputs agree
                first = all(cf == stored[0][1] for _, cf in stored) and stored[0][1]
            else:
                first = layer.layout == "channels_first"
            args, converted = [], []
            for t, (a, cf) in zip(node.inputs, stored):
                want = first and a.ndim >= 3
                if want != cf:
                    if id(t) not in other:
                        other[id(t)] = move_channels(a, want)
                    a = other[id(t)]
                args.append(a)
                converted.append(want != cf)
            y = layer.forward(args if node.multi else args[0], training if node.training is None else node.training)
            ran_first = any(a.ndim >= 3 for a in args) and first
            values[id(node.outputs[0])] = (y, ran_first and y.ndim >= 3)
            if any(converted):  # for the backward: which inputs' gradients go back to their stored layout
                self._converted[id(node)] = [(c, cf) for c, (_, cf) in zip(converted, stored)]
            if id(node) in self._shared:
                self._states[id(node)] = layer.node_state()
        self._stored_first = {id(t): values[id(t)][1] for t in self.outputs}
        return [move_channels(values[id(t)][0], False) if values[id(t)][1] else values[id(t)][0]
                for t in self.outputs]

    def backward(self, grad_output, input_grad=None):
        """Gradients of the last forward: d loss / d output (one array per
        output) -> each layer's grads (summed over a shared layer's nodes);
        returns d loss / d input (one per input, as the inputs were given;
        None with input_grad=False; None: the attribute input_grad, which a
        model using this one as a layer sets)."""
        grads = M.per_name(grad_output, self.output_names, "grad_output", "output")
        grads = [self._xp.asarray(_ops.to_module(g, self._xp), self.dtype) for g in grads]
        gx = self._run_backward(grads, self.input_grad if input_grad is None else input_grad)
        if self._input_keys is not None:
            return dict(zip(self._input_keys, gx))
        return gx[0] if len(gx) == 1 else gx

    def _run_backward(self, grads, input_grad):
        g = {}  # tensor -> d loss / d tensor, in the layout the tensor is stored in
        for t, d in zip(self.outputs, grads):
            d = move_channels(d, True) if self._stored_first[id(t)] else d
            g[id(t)] = d if id(t) not in g else g[id(t)] + d
        # the tensors whose gradient some node needs: those downstream of a layer with parameters (or every
        # one, with input_grad)
        needed = {id(t) for t in self.inputs} if input_grad else set()
        for node in self._nodes:
            if any(leaf.params for leaf in _leaves(node.layer)) or any(id(t) in needed for t in node.inputs):
                needed.add(id(node.outputs[0]))
        sums = {}
        for node in reversed(self._nodes):
            dy = g.pop(id(node.outputs[0]), None)
            layer = node.layer
            if dy is None:
                continue
            if id(node) in self._shared:
                layer.restore_node_state(self._states[id(node)])
            layer.input_grad = any(id(t) in needed for t in node.inputs)
            try:
                dx = layer.backward(dy)
            finally:
                layer.input_grad = True
            for leaf in _leaves(layer):  # (a nested model's layers hold its gradients)
                acc = sums.setdefault(id(leaf), {})
                for n in leaf.param_names:
                    acc[n] = acc[n] + leaf.grads[n] if n in acc else leaf.grads[n].copy()
            if dx is None:
                continue
            moves = self._converted.get(id(node))
            for i, (t, d) in enumerate(zip(node.inputs, dx if node.multi else [dx])):
                if d is None or id(t) not in needed:
                    continue
                if moves is not None and moves[i][0]:
                    d = move_channels(d, moves[i][1])
                g[id(t)] = d if id(t) not in g else g[id(t)] + d
        for layer in self.weight_layers():
            if layer.param_names:
                acc = sums.get(id(layer))
                for n in layer.param_names:
                    layer.grads[n] = acc[n] if acc else self._xp.zeros_like(layer.params[n])
        return [g.get(id(t)) if input_grad else None for t in self.inputs]

    # ---- description and storage -------------------------------------------------------------

    def summary(self, print_fn=print):
        """Prints (and returns) Keras's functional table: Layer (type),
        Output Shape, Param #, Connected to (name[node][tensor] of each input
        tensor), then the total, trainable and non-trainable weight counts."""
        rows = [("Layer (type)", "Output Shape", "Param #", "Connected to")]
        by_layer = {}
        for node in self._nodes:
            by_layer.setdefault(id(node.layer), []).append(node)
        for layer in self.layers:
            nodes = by_layer.get(id(layer)) or [next(t.node for t in self.inputs if t.node.layer is layer)]
            shapes = [t.shape for node in nodes for t in node.outputs]
            shape = str(shapes[0]) if len(set(shapes)) == 1 else ", ".join(map(str, shapes))
            links = [f"{t.node.layer.name}[{t.node.index}][{t.index}]" for node in nodes for t in node.inputs]
            kind = "Functional" if isinstance(layer, Model) else type(layer).__name__
            rows.append((f"{layer.name} ({kind})", shape, f"{sum(layer.count_weights()):,}",
                         ", ".join(links) or "-"))
        return self._summary_text(self.name or "functional", rows, print_fn)

    def get_config(self):
        """The graph as JSON-able data: the layers (class, name, constructor
        arguments), each node (its layer, the tensors it reads as [node,
        tensor] pairs), the inputs and outputs."""
        at = {id(layer): i for i, layer in enumerate(self.layers)}
        node_at = {id(t.node): i for i, t in enumerate(self.inputs)}
        nodes = []
        for node in self._nodes:
            node_at[id(node)] = len(self.inputs) + len(nodes)
            nodes.append({"layer": at[id(node.layer)], "multi": node.multi, "training": node.training,
                          "inputs": [[node_at[id(t.node)], t.index] for t in node.inputs]})
        config = {"class": "Functional", "name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                  "layers": [{"class": type(layer).__name__, "name": layer.name, "config": layer.get_config()}
                             for layer in self.layers],
                  "inputs": [at[id(t.node.layer)] for t in self.inputs], "nodes": nodes,
                  "outputs": [[node_at[id(t.node)], t.index] for t in self.outputs],
                  "input_keys": self._input_keys, "output_keys": self._output_keys}
        config.update(self._compile_config())
        return config

    def save(self, path):
        """Writes the graph (JSON) and every weight to one .npz file
        (loadable with allow_pickle=False; optimizer moments are not saved);
        fastconv.nn.load_model rebuilds the model."""
        self._write(path, self.get_config(), self.weight_layers())


def _from_config(config, data):
    """The model of a saved config, with the weights of data (None: as initialised)."""
    layers = [_from_config(e["config"], None) if e["class"] == "Model" else
              M.sequential_from_config(e["config"]) if e["class"] == "Sequential" else M._layer_from_config(e)
              for e in config["layers"]]
    tensors = []  # per node (inputs first): its output tensors
    for i in config["inputs"]:
        layer = layers[i]
        tensors.append([L.Input(layer.shape, name=layer.name)])
        layers[i] = tensors[-1][0].node.layer
    for entry in config["nodes"]:
        args = [tensors[n][k] for n, k in entry["inputs"]]
        out = layers[entry["layer"]](args if entry["multi"] else args[0], training=entry.get("training"))
        tensors.append(out if isinstance(out, list) else [out])

    def pick(refs, keys):
        items = [tensors[n][k] for n, k in refs]
        return dict(zip(keys, items)) if keys is not None else items if len(items) > 1 else items[0]

    ins = pick([[j, 0] for j in range(len(config["inputs"]))], config["input_keys"])
    model = Model(ins, pick(config["outputs"], config["output_keys"]), name=config["name"],
                  seed=config["seed"], dtype=config["dtype"])
    for i, layer in enumerate(model.weight_layers() if data is not None else []):
        for n, dst in zip(layer.param_names + layer.buffer_names, model._layer_arrays(layer)):
            dst[...] = data[f"layer{i}/{n}"]
    return model


def load_model(path):
    """The model saved by Sequential.save or Model.save (compiled again if it was)."""
    with np.load(path, allow_pickle=False) as data:
        config = json.loads(str(data["config"]))
        if config.get("class") != "Functional":
            return M.load_model(path)
        model = _from_config(config, data)
    if "compile" in config:
        c = config["compile"]
        model.compile(c["optimizer"], c["loss"], c["metrics"], c.get("loss_weights"))
    return model
