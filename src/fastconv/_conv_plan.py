"""Convolution plans: a geometry checked and its algorithms chosen once.

``ConvPlan(input_shape, weight_shape, dtype, stride, padding, dilation,
groups, algorithm)`` does everything that depends only on the shapes: the
argument checks, the kernel geometry (ConvGeometry), the output shape, and
the algorithm of each operation (forward, grad_input, grad_weight) for each
backend it meets.  Its methods then only check that the arrays match and run
the kernels.  The public functions (fastconv.conv) look their plan up in a
bounded cache keyed on everything that affects the result; fastconv.nn
layers make theirs in build().

``algorithm="measure"`` times the candidate algorithms once on the real
shapes and keeps the fastest, as FFTW_MEASURE does; the choices are kept
per process, keyed on the SIMD level, dtype and thread count, and travel
with FFTW's wisdom through fastconv.export_wisdom / import_wisdom.
"""
import math
import threading
import time

import numpy as np

from . import _backend, _conv_fft, _cpu, _threads
from ._arrays import get_array_module
from ._ext import _fastconv as _core
from ._geometry import ConvGeometry, winograd1d_fits, winograd_fits, winograd_s2_fits
from ._validation import (
    FLOAT_DTYPES,
    MAX_EXTENT,
    as_int,
    check_shape_size,
    contiguous,
    finish,
    int_tuple,
    result_array,
)

OPS = ("forward", "grad_input", "grad_weight")
ALGORITHMS = ("direct", "im2col", "fft", "winograd")
_CHOICES = ("auto", "measure") + ALGORITHMS
_CHOICES_TEXT = "'auto', 'measure', 'direct', 'im2col', 'fft' or 'winograd'"
_CODE = {"direct": _core.ALGO_DIRECT, "im2col": _core.ALGO_IM2COL, "winograd": _core.ALGO_WINOGRAD}
_NAME = {_core.ALGO_DIRECT: "direct", _core.ALGO_IM2COL: "im2col", _core.ALGO_WINOGRAD: "winograd"}
_TINY_MACS = 1 << 15  # multiply-adds under which one thread runs an operation (tiny layers, single images)
_CHOOSER_OP = {"forward": "forward", "grad_input": "backward_input", "grad_weight": "backward_weight"}


# ---- geometry ---------------------------------------------------------------------


def padding_pairs(padding, nd, ksize, stride, dilation):
    """((before, after), ...) per spatial axis from an int, nd ints, nd
    (before, after) pairs, "same" or "valid"."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' needs stride 1 (as in PyTorch); received stride={stride}")
            total = [d * (k - 1) for k, d in zip(ksize, dilation)]
            return tuple((t // 2, t - t // 2) for t in total)  # the extra one after, as PyTorch
        raise ValueError(f"padding must be an int, a sequence of {nd} ints, 'same' or 'valid' (or a "
                         f"(before, after) pair per axis); received {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == nd and \
            any(isinstance(p, (tuple, list)) for p in padding):
        pairs = []
        for p in padding:
            if not (isinstance(p, (tuple, list)) and len(p) == 2):
                raise ValueError(f"padding pairs must be (before, after) for each of the {nd} spatial axes; "
                                 f"received {padding!r}")
            pair = tuple(as_int(v, "padding") for v in p)
            if min(pair) < 0 or max(pair) >= MAX_EXTENT:
                raise ValueError(f"padding must be non-negative and below 2**62; received {padding!r}")
            pairs.append(pair)
        return tuple(pairs)
    return tuple((p, p) for p in int_tuple(padding, nd, "padding", 0))


def geometry(nd, x_shape, w_shape, stride, padding, dilation, groups):
    """Checks a convolution's arguments (x_shape batched); returns its
    ConvGeometry and the output shape."""
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1; received {groups}")
    N, C = x_shape[0], x_shape[1]
    K, Cg = w_shape[0], w_shape[1]
    if C % groups:
        raise ValueError(f"input channels ({C}) must be divisible by groups ({groups})")
    if K % groups:
        raise ValueError(f"output channels, w.shape[0] ({K}), must be divisible by groups ({groups})")
    if Cg * groups != C:
        raise ValueError(f"w expects {Cg * groups} input channels (w.shape[1]={Cg} x groups={groups}); "
                         f"the input has {C}")
    stride = int_tuple(stride, nd, "stride", 1)
    dilation = int_tuple(dilation, nd, "dilation", 1)
    ksize = tuple(w_shape[2:])
    pads = padding_pairs(padding, nd, ksize, stride, dilation)
    insize = tuple(x_shape[2:])
    outsize = []
    stride, dilation = list(stride), list(dilation)
    for i in range(nd):
        # Python ints: exact whatever the sizes; the kernels index in int64, so
        # every extent stays below MAX_EXTENT (2**62) and sums of two fit
        extent = dilation[i] * (ksize[i] - 1) + 1
        padded = insize[i] + pads[i][0] + pads[i][1]
        if extent >= MAX_EXTENT:
            raise ValueError(f"dilation {tuple(dilation)} is too large: with kernel size {ksize} it spans "
                             f"{extent} positions along spatial axis {i}, beyond the kernels' 64-bit range "
                             f"(2**62)")
        if padded >= MAX_EXTENT:
            raise ValueError(f"padding {tuple(p[0] for p in pads)} is too large: the padded input spans "
                             f"{padded} along spatial axis {i}, beyond the kernels' 64-bit range (2**62)")
        if extent > padded:
            raise ValueError(f"kernel size {ksize} with dilation {tuple(dilation)} spans {extent} along "
                             f"spatial axis {i}, more than the padded input size {padded} "
                             f"(input {insize}, padding {tuple(p[0] for p in pads)})")
        n = (padded - extent) // stride[i] + 1
        # canonical form: a stride beyond the padded input (one output) and the
        # dilation of a one-tap kernel change no output; as 1 they keep the
        # kernels' scratch (and choices) those of a plain convolution
        if n == 1 and stride[i] > padded:
            stride[i] = 1
        if ksize[i] == 1:
            dilation[i] = 1
        outsize.append(n)
    if nd == 1:
        geom = ConvGeometry(N, C, 1, insize[0], K, 1, ksize[0], 1, outsize[0], groups,
                            1, stride[0], 0, pads[0][0], 1, dilation[0])
    else:
        geom = ConvGeometry(N, C, insize[0], insize[1], K, ksize[0], ksize[1], outsize[0], outsize[1], groups,
                            stride[0], stride[1], pads[0][0], pads[1][0], dilation[0], dilation[1])
    return geom, (N, K) + tuple(outsize)


def sparse(geom):
    """Whether the windows reach far more padded positions than the input
    holds (padding, stride or dilation far beyond the input): the compiled
    kernels then run im2col, whose work grows only with the output, whatever
    the algorithm asked (csrc/conv_common.h, fc_conv_sparse, the same test),
    and the FFT, whose transforms would span the padded input, is not used."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    if P == 1 and sh > 64:
        sh = 1
    if Q == 1 and sw > 64:
        sw = 1
    Hn, Wn = (P - 1) * sh + (R - 1) * dh + 1, (Q - 1) * sw + (S - 1) * dw + 1
    return (ph >= Hn or pw >= Wn or Hn > 2 * (H + R) + 64 or Wn > 2 * (W + S) + 64
            or sw * (Q + (S - 1) * dw // sw + 80) > 4 * (W + S) + 4096)


def check_winograd(geom, weight_shape):
    """ValueError unless algorithm='winograd' can compute this convolution."""
    if not _winograd_geometry(geom):
        raise ValueError(f"algorithm='winograd' needs a 3x3 kernel with stride 1 or 2, dilation 1, groups 1 and "
                         f"padding at most 2 (conv2d), or a 1-D kernel of 2 or more taps with stride 1 or dilation 1 (stride "
                         f"at most 8), groups 1 and padding at most dilation x (taps - 1); received weight shape "
                         f"{tuple(weight_shape)}, stride {(geom.sh, geom.sw)}, dilation {(geom.dh, geom.dw)}, groups {geom.G}, padding "
                         f"{(geom.ph, geom.pw)}")


def _winograd_geometry(geom):
    """Whether algorithm='winograd' takes the geometry (some of its operations may run auto's
    choice: _winograd_runs)."""
    return winograd_fits(geom) or winograd1d_fits(geom) or winograd_s2_fits(geom)


def _phase_groups(geom):
    """A 3x3 layer of dilation d (both axes), stride 1, one group, padding a multiple of d (1 or 2
    times it), at least d output rows and columns: (d, groups), or None.  Output row a + d i' of
    the layer is output row i' of phase a's stride-1 undilated layer (padding p / d) over the
    input's rows a + d i'; the phases run as batches of one size: group (phases (a, b), geometry).
    Where d does not divide the map, phase sizes differ by one (DeepLab's 33 at d 4: 9, 8, 8, 8):
    the phases of the smaller size both ways form one group, the rest another at the larger size
    (one batch of 9x9 phases ran Winograd's 4x4 tiles 56 % full; a group per size pair transformed
    the weights four times and left four tile panels part empty)."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    d = dh
    if not (R == S == 3 and dh == dw > 1 and sh == sw == G == 1 and ph == pw and ph % d == 0 and 1 <= ph // d <= 2
            and P >= d and Q >= d):
        return None
    p = ph // d
    rows = [-(-(P - a) // d) for a in range(d)]  # outputs per phase
    cols = [-(-(Q - b) // d) for b in range(d)]
    small = [(a, b) for a in range(d) for b in range(d) if rows[a] == min(rows) and cols[b] == min(cols)]
    rest = [(a, b) for a in range(d) for b in range(d) if (a, b) not in small]
    groups = []
    for pairs, (Pg, Qg) in ((small, (min(rows), min(cols))), (rest, (max(rows), max(cols)))):
        if pairs:
            groups.append((tuple(pairs), ConvGeometry(len(pairs) * N, C, Pg + 2 - 2 * p, Qg + 2 - 2 * p, K, 3, 3,
                                                      Pg, Qg, 1, 1, 1, p, p, 1, 1)))
    return d, tuple(groups)


def _dilation_phases(kern, geom, op, dtype):
    """auto's choice for a dilated 3x3 layer: ("phases", d, ((pairs, geometry, code), ...), code)
    when its phases take Winograd (which has no dilated form), else None; each group runs the
    algorithm auto picks for it.  DeepLab's 3x3 of dilation 2, 512 channels @28, batch 1: four
    14x14 phases as a batch of 4."""
    pgs = _phase_groups(geom)
    if pgs is None:
        return None
    d, groups = pgs
    # decided on the phases as one batch of the largest phase's size (the work as a whole), each
    # group then running what auto picks for it (a group of few phases may take direct)
    big = groups[-1][1]
    code = kern.choose_algorithm(big._replace(N=d * d * geom.N), _CHOOSER_OP[op], dtype)
    if code != _core.ALGO_WINOGRAD:
        return None
    return ("phases", d, tuple((pairs, pg, kern.choose_algorithm(pg, _CHOOSER_OP[op], dtype)) for pairs, pg in groups),
            code)


def _phase_split(a, d, pairs, Hd, Wd, xp):
    """(N, C, H, W) -> (len(pairs) N, C, Hd, Wd): phase (i, j) = a[:, :, i::d, j::d] for each
    (i, j) of pairs, cropped or zero-extended to Hd x Wd."""
    N, C = a.shape[:2]
    out = xp.zeros((len(pairs), N, C, Hd, Wd), a.dtype)
    for u, (i, j) in enumerate(pairs):
        sub = a[:, :, i::d, j::d][:, :, :Hd, :Wd]
        out[u, :, :, :sub.shape[2], :sub.shape[3]] = sub
    return out.reshape(len(pairs) * N, C, Hd, Wd)


def _phase_merge(ph, d, pairs, out):
    """out (N, C, H, W)[:, :, i::d, j::d] = phase (i, j) of ph (len(pairs) N, C, Hd, Wd), cropped."""
    N, C = out.shape[:2]
    ph = ph.reshape((len(pairs), N, C) + ph.shape[2:])
    for u, (i, j) in enumerate(pairs):
        dst = out[:, :, i::d, j::d]
        dst[...] = ph[u, :, :, :dst.shape[2], :dst.shape[3]]


def _use_fft(code, geom, *arrays):
    return code == "fft" and not sparse(geom) and _conv_fft.finite(*arrays)


# ---- measured choices ("measure"), kept as wisdom -------------------------------------

_measured: dict[tuple, str] = {}  # (simd, dtype char, threads, op, geometry) -> algorithm name
_measure_lock = threading.Lock()


def _wisdom_key(dtype, op, geom):
    return (_core.simd_active(), np.dtype(dtype).char, _threads.current() or _core.get_num_threads(), op,
            tuple(geom))


def measured_choices():
    """The measured choices, as [[simd, dtype, threads, op, [geometry...], algorithm], ...]."""
    return [[k[0], k[1], k[2], k[3], list(k[4]), v] for k, v in _measured.items()]


def load_measured_choices(items):
    """Adds choices saved by measured_choices; returns how many were taken."""
    taken = 0
    for item in items:
        simd, dtype, threads, op, geom, algo = item
        if op in OPS and algo in ALGORITHMS and len(geom) == len(ConvGeometry._fields):
            _measured[(str(simd), str(dtype), int(threads), op, tuple(int(v) for v in geom))] = algo
            taken += 1
    return taken


def _best_of(run, repeats=3):
    run()  # warm-up: scratch memory, FFT plans
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


# ---- the plan ---------------------------------------------------------------------


class ConvPlan:
    """A convolution's geometry, checked, and its algorithms, chosen once.

    ``ConvPlan(input_shape, weight_shape, dtype, stride=1, padding=0,
    dilation=1, groups=1, algorithm="auto")``

    input_shape: (N, C, H, W) or (N, C, L), or unbatched (C, H, W) / (C, L);
    weight_shape: (K, C/groups, R, S) or (K, C/groups, S).  padding: an int,
    one per spatial axis, a (before, after) pair per spatial axis (as
    Keras's 'same' needs for even kernels), "same" or "valid".  algorithm:
    "auto" (the cost rules of each backend), "direct", "im2col", "fft",
    "winograd" (F(4x4, 3x3): 3x3 kernels at stride 1; on the GPU the weight
    gradient takes auto's choice; at stride 2 by input phase, the forward on
    the CPU, the rest auto's choice; F(4, r) for 1-D kernels of 2 or more taps
    at stride 1 or dilation 1, on the CPU: its weight gradient, a strided
    layer's input gradient and the GPU take auto's choice), or "measure"
    (time the candidates on these shapes once; the choice is kept with
    fastconv.export_wisdom).

    The methods ``forward(x, w, bias=None, out=None)``,
    ``grad_input(w, grad_out, out=None)`` and
    ``grad_weight(x, grad_out, out=None)`` have PyTorch's semantics
    (conv2d / conv1d and torch.nn.grad.conv*d_input / _weight).  Attributes:
    input_shape, weight_shape, output_shape, dtype, geometry (a
    ConvGeometry), algorithm ({operation: algorithm chosen on the CPU}).
    """

    __slots__ = ("input_shape", "weight_shape", "output_shape", "dtype", "geometry", "requested",
                 "_nd", "_batched", "_yshape", "_codes", "_kgeom", "_tiny", "_extra")

    def __init__(self, input_shape, weight_shape, dtype, stride=1, padding=0, dilation=1, groups=1,
                 algorithm="auto"):
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64; received {dtype}")
        if not isinstance(algorithm, str) or algorithm not in _CHOICES:
            raise ValueError(f"algorithm must be {_CHOICES_TEXT}; received {algorithm!r}")
        weight_shape = _sizes(weight_shape, "weight_shape", (3, 4))
        nd = len(weight_shape) - 2
        input_shape = _sizes(input_shape, "input_shape", (nd + 1, nd + 2))
        batched = input_shape if len(input_shape) == nd + 2 else (1,) + input_shape
        check_shape_size(batched, dtype.itemsize, "input_shape")
        check_shape_size(weight_shape, dtype.itemsize, "weight_shape")
        geom, yshape = geometry(nd, batched, weight_shape, stride, padding, dilation, groups)
        check_shape_size(yshape, dtype.itemsize, "the output")
        if algorithm == "winograd":
            check_winograd(geom, weight_shape)
        self.input_shape, self.weight_shape, self.dtype, self.geometry = input_shape, weight_shape, dtype, geom
        self.output_shape = yshape if len(input_shape) == nd + 2 else yshape[1:]
        self.requested = algorithm
        self._nd, self._batched, self._yshape = nd, batched, yshape
        # the kernels pad each axis by `before` and read at most one position past before + input +
        # before (an odd total of 'same'); a larger trailing pad gets its zeros appended to the input
        extra = [max(0, b - a - 1) for a, b in padding_pairs(padding, nd, weight_shape[2:],
                                                             int_tuple(stride, nd, "stride", 1),
                                                             int_tuple(dilation, nd, "dilation", 1))]
        self._extra = ((0, 0),) * (4 - nd) + tuple((0, e) for e in extra) if any(extra) else None
        if self._extra:
            geom = geom._replace(H=geom.H + self._extra[2][1], W=geom.W + self._extra[3][1])
        self._kgeom = geom
        # work a thread does in a few microseconds: waking a second one costs more than it saves
        self._tiny = math.prod(yshape) * math.prod(weight_shape[1:]) < _TINY_MACS
        self._codes = {}  # backend -> (forward, grad_input, grad_weight) algorithm codes or "fft"
        self._codes_for(_cpu)

    def __getstate__(self):
        """Pickling (a model's layers hold plans): the choices per backend are
        made again where the plan arrives."""
        return {k: getattr(self, k) for k in self.__slots__ if k != "_codes"}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._codes = {}

    # ---- algorithms ----

    def _codes_for(self, kern):
        codes = self._codes.get(kern)
        if codes is None:
            codes = self._codes[kern] = tuple(choose(kern, self.requested, self._kgeom, op, self.dtype)
                                              for op in OPS)
        return codes

    @property
    def algorithm(self):
        """{operation: algorithm} on the CPU."""
        return {op: _code_name(code) for op, code in zip(OPS, self._codes_for(_cpu))}

    def __repr__(self):
        return (f"ConvPlan(input_shape={self.input_shape}, weight_shape={self.weight_shape}, dtype={self.dtype}, "
                f"output_shape={self.output_shape}, algorithm={self.algorithm})")

    # ---- operations ----

    def forward(self, x, w, bias=None, out=None):
        """The convolution of x with w (plus bias), of shape output_shape."""
        if (out is None and bias is None and self._extra is None and self._ready(x, self.input_shape)
                and self._ready(w, self.weight_shape)):
            kern = _backend.kernels(np)  # the common case: NumPy arrays as the kernels read them
            y = np.empty(self.output_shape, self.dtype)
            _run_forward(self._codes_for(kern)[0], x, w, None, self._kgeom, y, kern, self._threads())
            return y
        xp = get_array_module(x, w, bias, out)
        kern = _backend.kernels(xp)
        x = self._array(x, "x", self.input_shape, xp)
        w = self._array(w, "w", self.weight_shape, xp)
        if bias is not None:
            bias = self._array(bias, "bias", (self.weight_shape[0],), xp)
        y, ret = result_array(self.output_shape, self.dtype, out, (x, w, bias), xp)
        _run_forward(self._codes_for(kern)[0], self._extended(x, xp), w, bias, self._kgeom,
                     y.reshape(self._yshape), kern, self._threads())
        return finish(y, ret)

    def grad_input(self, w, grad_out, out=None):
        """d loss / d x from grad_out (of shape output_shape), of shape input_shape."""
        xp = get_array_module(w, grad_out, out)
        kern = _backend.kernels(xp)
        w = self._array(w, "w", self.weight_shape, xp)
        dy = self._array(grad_out, "grad_out", self.output_shape, xp)
        dx, ret = result_array(self.input_shape, self.dtype, out, (w, dy), xp)
        if self._extra is None:
            _run_grad_input(self._codes_for(kern)[1], dy.reshape(self._yshape), w, self._kgeom,
                            dx.reshape(self._batched), kern, self._threads())
        else:  # the gradient of the appended zeros is dropped
            dxe = xp.empty(self._kshape(), self.dtype)
            _run_grad_input(self._codes_for(kern)[1], dy.reshape(self._yshape), w, self._kgeom, dxe, kern,
                            self._threads())
            dx.reshape(self._batched)[...] = dxe[(Ellipsis,) + tuple(slice(0, n) for n in self._batched[2:])]
        return finish(dx, ret)

    def grad_weight(self, x, grad_out, out=None):
        """d loss / d w from x and grad_out, of shape weight_shape."""
        xp = get_array_module(x, grad_out, out)
        kern = _backend.kernels(xp)
        x = self._array(x, "x", self.input_shape, xp)
        dy = self._array(grad_out, "grad_out", self.output_shape, xp)
        dw, ret = result_array(self.weight_shape, self.dtype, out, (x, dy), xp)
        _run_grad_weight(self._codes_for(kern)[2], dy.reshape(self._yshape), self._extended(x, xp),
                         self._kgeom, dw, kern, self._threads())
        return finish(dw, ret)

    def _threads(self):
        return 1 if self._tiny else _threads.current()

    def _extended(self, x, xp):
        """x as the kernels read it: batched, with the trailing zeros of a
        trailing pad beyond the kernels' reach appended (a copy)."""
        x = x.reshape(self._batched)
        if self._extra is None:
            return x
        return xp.pad(x, self._extra[4 - x.ndim:])

    def _kshape(self):
        g = self._kgeom
        return (g.N, g.C) + ((g.H, g.W) if self._nd == 2 else (g.W,))

    def _ready(self, a, shape):
        """a is a NumPy array of the plan's dtype and shape that the kernels read as it is."""
        if type(a) is not np.ndarray or a.shape != shape or a.dtype != self.dtype:
            return False
        flags = a.flags
        return flags.c_contiguous and flags.aligned

    def _array(self, a, name, shape, xp):
        """a, checked against the plan, as the kernels read it (C-contiguous, aligned)."""
        if type(a) is not xp.ndarray:
            if isinstance(a, np.ndarray) and xp is np:  # a subclass: its data as a plain array
                a = np.asarray(a)
            else:
                a = xp.asarray(a)
        if a.dtype != self.dtype:
            raise TypeError(f"{name} must have dtype {self.dtype} (the plan's); received dtype {a.dtype}")
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (the plan's); received shape {a.shape}")
        return contiguous(a)


def _code_name(code):
    """An algorithm code's name; dilation phases by their algorithm's ("winograd")."""
    if isinstance(code, tuple):
        return _NAME[code[3]]
    return code if code == "fft" else _NAME[code]


def choose(kern, algorithm, geom, op, dtype):
    """The algorithm code (or "fft") that `algorithm` means for operation op
    on backend kern."""
    if not isinstance(algorithm, str) or algorithm not in _CHOICES:
        raise ValueError(f"algorithm must be {_CHOICES_TEXT}; received {algorithm!r}")
    if algorithm == "auto" or (algorithm == "measure" and not kern.can_measure):
        phases = _dilation_phases(kern, geom, op, dtype)
        return phases if phases is not None else kern.choose_algorithm(geom, _CHOOSER_OP[op], dtype)
    if algorithm == "measure":
        return _measured_choice(geom, op, dtype)
    if algorithm == "winograd" and not _winograd_runs(kern, geom, op):
        return kern.choose_algorithm(geom, _CHOOSER_OP[op], dtype)
    return "fft" if algorithm == "fft" else _CODE[algorithm]


def _winograd_runs(kern, geom, op):
    """Whether backend kern runs op of a geometry that algorithm="winograd" takes as Winograd (else
    that operation runs auto's choice): the weight gradient where the backend has one; in 1-D
    (the CPU's only) the forward, and the input gradient at stride 1; at stride 2 (the CPU's
    only) the forward."""
    if winograd_s2_fits(geom):
        return kern.winograd_stride2 and op == "forward"
    if winograd1d_fits(geom):
        return kern.winograd_1d and (op == "forward" or op == "grad_input" and geom.sw == 1)
    return op != "grad_weight" or kern.winograd_weight_gradient


def _measured_choice(geom, op, dtype):
    key = _wisdom_key(dtype, op, geom)
    name = _measured.get(key)
    if name is None:
        with _measure_lock:
            name = _measured.get(key) or _measure(geom, op, dtype)
            _measured[key] = name
    return "fft" if name == "fft" else _CODE[name]


def _measure(geom, op, dtype):
    """The fastest algorithm for op on these shapes, timed on random data."""
    N, C, H, W, K, R, S, P, Q, G = geom[:10]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // G, R, S)).astype(dtype)
    dy = rng.standard_normal((N, K, P, Q)).astype(dtype)
    times = {}
    for name in ALGORITHMS:
        if name == "winograd" and not (_winograd_geometry(geom) and _winograd_runs(_cpu, geom, op)):
            continue
        code = "fft" if name == "fft" else _CODE[name]
        if op == "forward":
            out = np.empty((N, K, P, Q), dtype)
            run = lambda: _run_forward(code, x, w, None, geom, out, _cpu)
        elif op == "grad_input":
            out = np.empty((N, C, H, W), dtype)
            run = lambda: _run_grad_input(code, dy, w, geom, out, _cpu)
        else:
            out = np.empty((K, C // G, R, S), dtype)
            run = lambda: _run_grad_weight(code, dy, x, geom, out, _cpu)
        times[name] = _best_of(run)
    return min(times, key=times.get)


def run_grad_input(algorithm, dy, w, geom, dx, xp):
    """dx = the adjoint of the convolution geom applied to dy (conv_transpose2d's path)."""
    if algorithm == "winograd":
        check_winograd(geom, w.shape)
    kern = _backend.kernels(xp)
    _run_grad_input(choose(kern, algorithm, geom, "grad_input", dy.dtype), dy, w, geom, dx, kern)


def _sizes(shape, name, lengths):
    try:
        out = tuple(as_int(v, name) for v in shape)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints; received {shape!r}") from None
    if len(out) not in lengths:
        raise ValueError(f"{name} must have {' or '.join(map(str, lengths))} sizes; received {shape!r}")
    if any(v < 1 for v in out):
        raise ValueError(f"{name} must contain positive sizes; received {shape!r}")
    return out


# ---- running one operation -------------------------------------------------------------
# (y, dx, dw: arrays the kernels may write, C-contiguous; inputs contiguous)


def _run_forward(code, x, w, bias, geom, y, kern, nthreads=None):
    if isinstance(code, tuple):  # dilation phases (_dilation_phases)
        _, d, groups, _ = code
        xp = get_array_module(x)
        for pairs, pg, sub in groups:
            yp = xp.empty((pg.N, pg.K, pg.P, pg.Q), y.dtype)
            _run_forward(sub, _phase_split(x, d, pairs, pg.H, pg.W, xp), w, bias, pg, yp, kern, nthreads)
            _phase_merge(yp, d, pairs, y)
        return
    if _use_fft(code, geom, x, w):
        y[...] = _conv_fft.forward(x, w, bias, geom, kern).reshape(y.shape)
    else:
        kern.conv2d_forward(_core.ALGO_DIRECT if code == "fft" else code, y, x, w, bias, geom,
                          _threads.current() if nthreads is None else nthreads)


def _run_grad_input(code, dy, w, geom, dx, kern, nthreads=None):
    if isinstance(code, tuple):
        _, d, groups, _ = code
        xp = get_array_module(dy)
        for pairs, pg, sub in groups:
            dxp = xp.empty((pg.N, pg.C, pg.H, pg.W), dx.dtype)
            _run_grad_input(sub, _phase_split(dy, d, pairs, pg.P, pg.Q, xp), w, pg, dxp, kern, nthreads)
            _phase_merge(dxp, d, pairs, dx)
        return
    if _use_fft(code, geom, dy, w):
        dx[...] = _conv_fft.grad_input(dy, w, geom, kern).reshape(dx.shape)
        return
    if not kern.backward_overwrites:
        dx.fill(0)  # the GPU's kernels add into dx
    kern.conv2d_backward_input(_core.ALGO_DIRECT if code == "fft" else code, dx, dy, w, geom,
                             _threads.current() if nthreads is None else nthreads)


def _run_grad_weight(code, dy, x, geom, dw, kern, nthreads=None):
    if isinstance(code, tuple):  # the phases are the batch: their weight gradients sum (over groups too)
        _, d, groups, _ = code
        xp = get_array_module(x)
        part = xp.empty_like(dw) if len(groups) > 1 else dw
        for g, (pairs, pg, sub) in enumerate(groups):
            _run_grad_weight(sub, _phase_split(dy, d, pairs, pg.P, pg.Q, xp), _phase_split(x, d, pairs, pg.H, pg.W, xp),
                             pg, dw if g == 0 else part, kern, nthreads)
            if g:
                dw += part
        return
    if _use_fft(code, geom, dy, x):
        dw[...] = _conv_fft.grad_weight(dy, x, geom, kern).reshape(dw.shape)
        return
    if not kern.backward_overwrites:
        dw.fill(0)  # the GPU's kernels add into dw
    kern.conv2d_backward_weight(_core.ALGO_DIRECT if code == "fft" else code, dw, dy, x, geom,
                              _threads.current() if nthreads is None else nthreads)
