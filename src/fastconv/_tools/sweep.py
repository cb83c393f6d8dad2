"""The real-network sweep: the layers of ResNet-18/50, VGG-16, MobileNetV2,
ResNeXt, DeepLab, LeNet, a CIFAR stem, speech / TCN 1-D stacks, recurrent
layers of real models, and their pooling, each at several batch sizes and
in float32 and float64 (fewer rows in float64: the large layers only in
float32).  bench/test_bench_sweep.py times each against PyTorch, and so
does `fastconv bench --only sweep`; the geometric mean and the worst rows
summarise it.  The canonical rows (C1-C5,
P1-P2, R1-R4) are not enough: they miss depthwise, 1x1, small-map and
batch-1 layers, where the per-call cost and the kernel's blocking matter.

Each row's floor: flops / 230 GFLOP/s (2 Zen 4 cores, fp32; half that in
fp64) and bytes (inputs read once, outputs written once) / 44 GB/s; the
larger is the least time any implementation can take here.
"""
from dataclasses import dataclass

import numpy as np

import fastconv

PEAK_FLOPS = {np.float32: 230e9, np.float64: 115e9}
BANDWIDTH = 44e9


@dataclass(frozen=True)
class ConvLayer:
    id: str
    x: tuple          # (N, C, H, W) or (N, C, L)
    w: tuple          # (K, C/groups, R, S) or (K, C/groups, S)
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    @property
    def nd(self):
        return len(self.x) - 2

    def out_shape(self):
        sizes = tuple((n + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1
                      for n, k in zip(self.x[2:], self.w[2:]))
        return (self.x[0], self.w[0]) + sizes

    def flops(self, backward=False):
        fwd = 2 * int(np.prod(self.out_shape())) * int(np.prod(self.w[1:]))
        return 3 * fwd if backward else fwd

    def bytes(self, itemsize, backward=False):
        n = int(np.prod(self.x)) + int(np.prod(self.w)) + int(np.prod(self.out_shape()))
        return itemsize * n * (3 if backward else 1)  # backward: dy read twice, dx and dw written


@dataclass(frozen=True)
class RecurrentLayer:
    id: str
    kind: str         # "lstm" or "gru"
    T: int
    B: int
    I: int  # noqa: E741
    H: int

    def flops(self, backward=False):
        gates = {"lstm": 4, "gru": 3}[self.kind]
        fwd = 2 * self.T * self.B * gates * self.H * (self.I + self.H)
        return 3 * fwd if backward else fwd

    def bytes(self, itemsize, backward=False):
        gates = {"lstm": 4, "gru": 3}[self.kind]
        n = self.T * self.B * (self.I + self.H) + gates * self.H * (self.I + self.H)
        return itemsize * n * (3 if backward else 1)


@dataclass(frozen=True)
class PoolLayer:
    id: str
    kind: str         # "max", "avg", "global"
    x: tuple
    kernel: int = 1
    stride: int = 1
    padding: int = 0

    def flops(self, backward=False):
        return int(np.prod(self.x))

    def bytes(self, itemsize, backward=False):
        return itemsize * int(np.prod(self.x)) * (2 if backward else 1)


def _batches(make, batches):
    return [make(n) for n in batches]


CONV = [
    # ResNet-18 (224x224 input)
    *_batches(lambda n: ConvLayer(f"resnet18 conv1 7x7/2 3-64 @224 b{n}", (n, 3, 224, 224), (64, 3, 7, 7), 2, 3),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer1 3x3 64 @56 b{n}", (n, 64, 56, 56), (64, 64, 3, 3), 1, 1),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer2 3x3/2 64-128 @56 b{n}", (n, 64, 56, 56), (128, 64, 3, 3), 2, 1),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer2 1x1/2 64-128 @56 b{n}", (n, 64, 56, 56), (128, 64, 1, 1), 2, 0),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer3 3x3/2 128-256 @28 b{n}", (n, 128, 28, 28), (256, 128, 3, 3), 2,
                                  1), (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer3 3x3 256 @14 b{n}", (n, 256, 14, 14), (256, 256, 3, 3), 1, 1),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer4 3x3/2 256-512 @14 b{n}", (n, 256, 14, 14), (512, 256, 3, 3), 2,
                                  1), (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet18 layer4 3x3 512 @7 b{n}", (n, 512, 7, 7), (512, 512, 3, 3), 1, 1),
              (1, 8)),
    # ResNet-50 bottleneck
    *_batches(lambda n: ConvLayer(f"resnet50 1x1 64-256 @56 b{n}", (n, 64, 56, 56), (256, 64, 1, 1)), (1, 4)),
    *_batches(lambda n: ConvLayer(f"resnet50 1x1 256-64 @56 b{n}", (n, 256, 56, 56), (64, 256, 1, 1)), (1, 4)),
    *_batches(lambda n: ConvLayer(f"resnet50 1x1 1024-256 @14 b{n}", (n, 1024, 14, 14), (256, 1024, 1, 1)), (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet50 1x1 2048-512 @7 b{n}", (n, 2048, 7, 7), (512, 2048, 1, 1)), (1, 8)),
    *_batches(lambda n: ConvLayer(f"resnet50 1x1 512-2048 @7 b{n}", (n, 512, 7, 7), (2048, 512, 1, 1)), (1, 8)),
    # VGG-16
    ConvLayer("vgg16 conv1_2 3x3 64 @224 b1", (1, 64, 224, 224), (64, 64, 3, 3), 1, 1),
    ConvLayer("vgg16 conv3_2 3x3 256 @56 b1", (1, 256, 56, 56), (256, 256, 3, 3), 1, 1),
    *_batches(lambda n: ConvLayer(f"vgg16 conv5_2 3x3 512 @14 b{n}", (n, 512, 14, 14), (512, 512, 3, 3), 1, 1),
              (1, 4)),
    # MobileNetV2
    *_batches(lambda n: ConvLayer(f"mobilenetv2 dw 3x3 144 @56 b{n}", (n, 144, 56, 56), (144, 1, 3, 3), 1, 1, 1, 144),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"mobilenetv2 dw 3x3/2 192 @28 b{n}", (n, 192, 28, 28), (192, 1, 3, 3), 2, 1, 1,
                                  192), (1, 8)),
    *_batches(lambda n: ConvLayer(f"mobilenetv2 pw 1x1 144-24 @56 b{n}", (n, 144, 56, 56), (24, 144, 1, 1)), (1, 8)),
    *_batches(lambda n: ConvLayer(f"mobilenetv2 pw 1x1 24-144 @56 b{n}", (n, 24, 56, 56), (144, 24, 1, 1)), (1, 8)),
    # ResNeXt-50 grouped 3x3 (32 groups of 4 channels)
    *_batches(lambda n: ConvLayer(f"resnext50 3x3 g32 128 @56 b{n}", (n, 128, 56, 56), (128, 4, 3, 3), 1, 1, 1, 32),
              (1, 4)),
    # DeepLab atrous 3x3
    ConvLayer("deeplab 3x3 d2 512 @28 b1", (1, 512, 28, 28), (512, 512, 3, 3), 1, 2, 2),
    ConvLayer("deeplab 3x3 d4 256 @33 b2", (2, 256, 33, 33), (256, 256, 3, 3), 1, 4, 4),
    # LeNet-5 (MNIST)
    *_batches(lambda n: ConvLayer(f"lenet 5x5 1-6 @28 b{n}", (n, 1, 28, 28), (6, 1, 5, 5)), (1, 64)),
    *_batches(lambda n: ConvLayer(f"lenet 5x5 6-16 @14 b{n}", (n, 6, 14, 14), (16, 6, 5, 5)), (1, 64)),
    # CIFAR ResNet stem
    *_batches(lambda n: ConvLayer(f"cifar stem 3x3 3-32 @32 b{n}", (n, 3, 32, 32), (32, 3, 3, 3), 1, 1), (16, 128)),
    # 1-D: speech (Wav2Letter-like), TCN (dilated causal stacks), conv1d k3/2
    *_batches(lambda n: ConvLayer(f"speech conv1d k11/2 128-256 L1600 b{n}", (n, 128, 1600), (256, 128, 11), 2, 5),
              (1, 4)),
    *_batches(lambda n: ConvLayer(f"tcn conv1d k3 d4 128 L1000 b{n}", (n, 128, 1000), (128, 128, 3), 1, 4, 4),
              (1, 8)),
    *_batches(lambda n: ConvLayer(f"conv1d k3/2 512 L4000 b{n}", (n, 512, 4000), (512, 512, 3), 2, 1), (1, 2)),
]

# float64 rows: the small and medium layers (the large ones cost minutes in fp64)
CONV64 = [c for c in CONV if c.flops() < 2e9]

RECURRENT = [
    RecurrentLayer("lstm T50 B1 512-512 (latency)", "lstm", 50, 1, 512, 512),
    RecurrentLayer("lstm T35 B20 650-650 (PTB medium)", "lstm", 35, 20, 650, 650),
    RecurrentLayer("lstm T35 B20 1500-1500 (PTB large)", "lstm", 35, 20, 1500, 1500),
    RecurrentLayer("gru T50 B1 1024-1024 (latency)", "gru", 50, 1, 1024, 1024),
    RecurrentLayer("gru T50 B16 1024-1024", "gru", 50, 16, 1024, 1024),
]

POOL = [
    *_batches(lambda n: PoolLayer(f"resnet maxpool 3x3/2 64 @112 b{n}", "max", (n, 64, 112, 112), 3, 2, 1), (1, 8)),
    *_batches(lambda n: PoolLayer(f"vgg maxpool 2x2/2 128 @112 b{n}", "max", (n, 128, 112, 112), 2, 2), (1, 4)),
    *_batches(lambda n: PoolLayer(f"global avg 512 @7 b{n}", "global", (n, 512, 7, 7)), (1, 32)),
    *_batches(lambda n: PoolLayer(f"global avg 2048 @7 b{n}", "global", (n, 2048, 7, 7)), (1, 32)),
    *_batches(lambda n: PoolLayer(f"avgpool 2x2/2 256 @28 b{n}", "avg", (n, 256, 28, 28), 2, 2), (1, 8)),
]


def floor_seconds(layer, dtype, backward=False):
    dtype = np.dtype(dtype).type
    return max(layer.flops(backward) / PEAK_FLOPS[dtype], layer.bytes(np.dtype(dtype).itemsize, backward) / BANDWIDTH)


# ---- the calls each row times ------------------------------------------------------------------
# make(layer, dtype, mode, side): a function of no arguments running the row
# (mode "fwd" or "fwd+bwd") on side "fastconv" or "torch" (ImportError without torch)

def _rng_array(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _torch():
    import torch

    return torch, torch.nn.functional


def _conv_call(layer, dtype, mode, side):
    x = _rng_array(layer.x, dtype, 0)
    w = (_rng_array(layer.w, dtype, 1) / np.sqrt(np.prod(layer.w[1:]))).astype(dtype)
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    gy = _rng_array(layer.out_shape(), dtype, 2)
    if side == "fastconv":
        nd = layer.nd
        conv = fastconv.conv2d if nd == 2 else fastconv.conv1d
        gi = fastconv.conv2d_grad_input if nd == 2 else fastconv.conv1d_grad_input
        gw = fastconv.conv2d_grad_weight if nd == 2 else fastconv.conv1d_grad_weight
        fwd = lambda: conv(x, w, **kw)
        if mode == "fwd":
            return fwd
        return lambda: (fwd(), gi(x.shape, w, gy, **kw), gw(x, w.shape, gy, **kw))
    torch, F = _torch()
    conv = F.conv2d if layer.nd == 2 else F.conv1d
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    if mode == "fwd":
        return lambda: conv(tx, tw, **kw)
    txg, twg, tgy = tx.clone().requires_grad_(), tw.clone().requires_grad_(), torch.from_numpy(gy)
    return lambda: torch.autograd.grad(conv(txg, twg, **kw), (txg, twg), tgy)


def _recurrent_call(layer, dtype, mode, side):
    G = {"lstm": 4, "gru": 3}[layer.kind]
    k = 1 / np.sqrt(layer.H)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((layer.T, layer.B, layer.I)).astype(dtype)
    h0 = np.zeros((layer.B, layer.H), dtype)
    w_ih = rng.uniform(-k, k, (G * layer.H, layer.I)).astype(dtype)
    w_hh = rng.uniform(-k, k, (G * layer.H, layer.H)).astype(dtype)
    b_ih, b_hh = rng.uniform(-k, k, (2, G * layer.H)).astype(dtype)
    gy = rng.standard_normal((layer.T, layer.B, layer.H)).astype(dtype)
    if side == "fastconv":
        if layer.kind == "lstm":
            fwd = lambda: fastconv.lstm_forward(x, h0, h0, w_ih, w_hh, b_ih, b_hh)
            bwd = lambda out: fastconv.lstm_backward(gy, None, None, out[3])
        else:
            fwd = lambda: fastconv.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh)
            bwd = lambda out: fastconv.gru_backward(gy, None, out[2])
        return fwd if mode == "fwd" else (lambda: bwd(fwd()))
    return torch_recurrent(_torch()[0], layer.kind, (w_ih, w_hh, b_ih, b_hh), x, gy, mode)


def torch_recurrent(torch, kind, weights, x, gy, mode):
    """The torch side of a recurrent row (also `fastconv bench`'s): torch.nn.LSTM / GRU / RNN holding
    weights (w_ih, w_hh, b_ih, b_hh) in x's dtype, run on x (T, B, I); "fwd" without autograd, else
    forward + backward from gy."""
    G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        x.shape[-1], weights[1].shape[0] // G).to(getattr(torch, str(x.dtype)))
    with torch.no_grad():
        for p, a in zip((m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), weights):
            p.copy_(torch.from_numpy(a))
    tx = torch.from_numpy(x)
    if mode == "fwd":
        def fwd():
            with torch.no_grad():
                return m(tx)
        return fwd
    txg, tgy = tx.clone().requires_grad_(), torch.from_numpy(gy)
    params = [txg] + list(m.parameters())
    return lambda: torch.autograd.grad(m(txg)[0], params, tgy)


def _pool_call(layer, dtype, mode, side):
    x = _rng_array(layer.x, dtype, 0)
    if side == "fastconv":
        if layer.kind == "global":
            y = fastconv.global_avg_pool2d(x)
            gy = _rng_array(y.shape, dtype, 1)
            fwd = lambda: fastconv.global_avg_pool2d(x)
            bwd = lambda: fastconv.global_avg_pool2d_backward(gy, x.shape)
        elif layer.kind == "max":
            args = (layer.kernel, layer.stride, layer.padding)
            y, idx = fastconv.max_pool2d(x, *args, return_indices=True)
            gy = _rng_array(y.shape, dtype, 1)
            fwd = lambda: fastconv.max_pool2d(x, *args)
            bwd = lambda: fastconv.max_pool2d_backward(gy, fastconv.max_pool2d(x, *args, return_indices=True)[1],
                                                       x.shape)
        else:
            args = (layer.kernel, layer.stride, layer.padding)
            y = fastconv.avg_pool2d(x, *args)
            gy = _rng_array(y.shape, dtype, 1)
            fwd = lambda: fastconv.avg_pool2d(x, *args)
            bwd = lambda: fastconv.avg_pool2d_backward(gy, x.shape, *args)
        return fwd if mode == "fwd" else (lambda: (fwd(), bwd()))
    torch, F = _torch()
    tx = torch.from_numpy(x)
    if layer.kind == "global":
        op = lambda t: F.adaptive_avg_pool2d(t, 1)
    elif layer.kind == "max":
        op = lambda t: F.max_pool2d(t, layer.kernel, layer.stride, layer.padding)
    else:
        op = lambda t: F.avg_pool2d(t, layer.kernel, layer.stride, layer.padding)
    if mode == "fwd":
        return lambda: op(tx)
    txg = tx.clone().requires_grad_()
    tgy = torch.from_numpy(_rng_array(tuple(op(tx).shape), dtype, 1))
    return lambda: torch.autograd.grad(op(txg), txg, tgy)


CASES = [(c, np.float32, _conv_call) for c in CONV] + [(c, np.float64, _conv_call) for c in CONV64] + \
    [(r, d, _recurrent_call) for r in RECURRENT for d in (np.float32, np.float64)] + \
    [(p, d, _pool_call) for p in POOL for d in (np.float32, np.float64)]


def case_id(case):
    layer, dtype, _ = case
    return f"{layer.id} {np.dtype(dtype).name}"
