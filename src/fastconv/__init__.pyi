"""Type stub of fastconv's public API (the names in ``fastconv.__all__``).

Arrays are typed ``Any``: every function takes NumPy arrays (or anything
``numpy.asarray`` accepts) and returns NumPy arrays, or takes and returns
CuPy arrays, so no single array type fits both.  The other arguments are
typed exactly.  ``tools/ci_extra.sh`` runs mypy's stubtest, which fails when
this file and the runtime signatures disagree."""
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, Literal, TypeAlias, overload

from . import ndimage as ndimage  # scipy.ndimage's convolution filters (typed by ndimage.py itself)

__version__: str

# NumPy or CuPy array (output: the input's kind)
_Array: TypeAlias = Any
# a recurrent forward's saved state, passed back to its backward as is
_Cache: TypeAlias = Any
_Shape: TypeAlias = Sequence[int]
_Ints: TypeAlias = int | Sequence[int]
_ConvPadding: TypeAlias = int | Sequence[int] | Literal["same", "valid"]
_ConvAlgorithm: TypeAlias = Literal["auto", "measure", "direct", "im2col", "fft", "winograd"]
_PlanPadding: TypeAlias = int | Sequence[int] | Sequence[Sequence[int]] | Literal["same", "valid"]
_Mode: TypeAlias = Literal["full", "same", "valid"]
_Boundary: TypeAlias = Literal["fill", "wrap", "circular", "symm", "symmetric"]
_FilterMethod: TypeAlias = Literal["auto", "direct", "separable", "fft"]
_Nonlinearity: TypeAlias = Literal["tanh", "relu"]

__all__ = [
    "__version__",
    "ConvPlan",
    "export_wisdom",
    "import_wisdom",
    "sepfilter2d",
    "last_method",
    "import_fft_wisdom",
    "fftconvolve",
    "convolve",
    "correlate",
    "oaconvolve",
    "choose_conv_method",
    "export_fft_wisdom",
    "correlate2d",
    "convolve2d",
    "calibrate_filters",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "conv1d",
    "conv1d_grad_input",
    "conv1d_grad_weight",
    "conv2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "conv_transpose2d",
    "get_array_module",
    "get_num_threads",
    "info",
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "set_num_threads",
    "threads",
]

# ---- runtime ---------------------------------------------------------------------------

def get_array_module(*arrays: object) -> ModuleType: ...
def info() -> dict[str, Any]: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def threads(n: int) -> AbstractContextManager[None]: ...

# ---- convolution -----------------------------------------------------------------------

class ConvPlan:
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: Any
    geometry: tuple[int, ...]
    requested: str
    def __init__(self, input_shape: _Shape, weight_shape: _Shape, dtype: Any, stride: _Ints = 1,
                 padding: _PlanPadding = 0, dilation: _Ints = 1, groups: int = 1,
                 algorithm: _ConvAlgorithm = "auto") -> None: ...
    @property
    def algorithm(self) -> dict[str, str]: ...
    def forward(self, x: _Array, w: _Array, bias: _Array | None = None, out: _Array | None = None) -> _Array: ...
    def grad_input(self, w: _Array, grad_out: _Array, out: _Array | None = None) -> _Array: ...
    def grad_weight(self, x: _Array, grad_out: _Array, out: _Array | None = None) -> _Array: ...

def export_wisdom() -> bytes: ...
def import_wisdom(data: bytes | str) -> dict[str, Any]: ...

def conv1d(x: _Array, w: _Array, bias: _Array | None = None, stride: _Ints = 1, padding: _ConvPadding = 0,
           dilation: _Ints = 1, groups: int = 1, algorithm: _ConvAlgorithm = "auto", *,
           out: _Array | None = None) -> _Array: ...
def conv2d(x: _Array, w: _Array, bias: _Array | None = None, stride: _Ints = 1, padding: _ConvPadding = 0,
           dilation: _Ints = 1, groups: int = 1, algorithm: _ConvAlgorithm = "auto", *,
           out: _Array | None = None) -> _Array: ...
def conv1d_grad_input(input_shape: _Shape, w: _Array, grad_out: _Array, stride: _Ints = 1,
                      padding: _ConvPadding = 0, dilation: _Ints = 1, groups: int = 1,
                      algorithm: _ConvAlgorithm = "auto", *, out: _Array | None = None) -> _Array: ...
def conv2d_grad_input(input_shape: _Shape, w: _Array, grad_out: _Array, stride: _Ints = 1,
                      padding: _ConvPadding = 0, dilation: _Ints = 1, groups: int = 1,
                      algorithm: _ConvAlgorithm = "auto", *, out: _Array | None = None) -> _Array: ...
def conv1d_grad_weight(x: _Array, weight_shape: _Shape, grad_out: _Array, stride: _Ints = 1,
                       padding: _ConvPadding = 0, dilation: _Ints = 1, groups: int = 1,
                       algorithm: _ConvAlgorithm = "auto", *, out: _Array | None = None) -> _Array: ...
def conv2d_grad_weight(x: _Array, weight_shape: _Shape, grad_out: _Array, stride: _Ints = 1,
                       padding: _ConvPadding = 0, dilation: _Ints = 1, groups: int = 1,
                       algorithm: _ConvAlgorithm = "auto", *, out: _Array | None = None) -> _Array: ...
def conv_transpose2d(x: _Array, w: _Array, bias: _Array | None = None, stride: _Ints = 1, padding: _Ints = 0,
                     output_padding: _Ints = 0, groups: int = 1, dilation: _Ints = 1,
                     algorithm: _ConvAlgorithm = "auto", *, out: _Array | None = None) -> _Array: ...

# ---- pooling ---------------------------------------------------------------------------

@overload
def max_pool1d(x: _Array, kernel_size: _Ints, stride: _Ints | None = None, padding: _Ints = 0,
               ceil_mode: bool = False, return_indices: Literal[False] = False, *, dilation: _Ints = 1,
               out: _Array | None = None) -> _Array: ...
@overload
def max_pool1d(x: _Array, kernel_size: _Ints, stride: _Ints | None, padding: _Ints, ceil_mode: bool,
               return_indices: Literal[True], *, dilation: _Ints = 1,
               out: tuple[_Array, _Array] | None = None) -> tuple[_Array, _Array]: ...
@overload
def max_pool1d(x: _Array, kernel_size: _Ints, stride: _Ints | None = None, padding: _Ints = 0,
               ceil_mode: bool = False, *, return_indices: Literal[True], dilation: _Ints = 1,
               out: tuple[_Array, _Array] | None = None) -> tuple[_Array, _Array]: ...
@overload
def max_pool2d(x: _Array, kernel_size: _Ints, stride: _Ints | None = None, padding: _Ints = 0,
               ceil_mode: bool = False, return_indices: Literal[False] = False, *, dilation: _Ints = 1,
               out: _Array | None = None) -> _Array: ...
@overload
def max_pool2d(x: _Array, kernel_size: _Ints, stride: _Ints | None, padding: _Ints, ceil_mode: bool,
               return_indices: Literal[True], *, dilation: _Ints = 1,
               out: tuple[_Array, _Array] | None = None) -> tuple[_Array, _Array]: ...
@overload
def max_pool2d(x: _Array, kernel_size: _Ints, stride: _Ints | None = None, padding: _Ints = 0,
               ceil_mode: bool = False, *, return_indices: Literal[True], dilation: _Ints = 1,
               out: tuple[_Array, _Array] | None = None) -> tuple[_Array, _Array]: ...
def max_pool1d_backward(grad_out: _Array, indices: _Array, input_shape: _Shape, *,
                        out: _Array | None = None) -> _Array: ...
def max_pool2d_backward(grad_out: _Array, indices: _Array, input_shape: _Shape, *,
                        out: _Array | None = None) -> _Array: ...
def avg_pool1d(x: _Array, kernel_size: _Ints, stride: _Ints | None = None, padding: _Ints = 0,
               count_include_pad: bool = True, *, ceil_mode: bool = False, out: _Array | None = None) -> _Array: ...
def avg_pool2d(x: _Array, kernel_size: _Ints, stride: _Ints | None = None, padding: _Ints = 0,
               count_include_pad: bool = True, *, ceil_mode: bool = False, out: _Array | None = None) -> _Array: ...
def avg_pool1d_backward(grad_out: _Array, input_shape: _Shape, kernel_size: _Ints, stride: _Ints | None = None,
                        padding: _Ints = 0, count_include_pad: bool = True, *, ceil_mode: bool = False,
                        out: _Array | None = None) -> _Array: ...
def avg_pool2d_backward(grad_out: _Array, input_shape: _Shape, kernel_size: _Ints, stride: _Ints | None = None,
                        padding: _Ints = 0, count_include_pad: bool = True, *, ceil_mode: bool = False,
                        out: _Array | None = None) -> _Array: ...
def global_avg_pool2d(x: _Array, *, keepdims: bool = False, out: _Array | None = None) -> _Array: ...
def global_avg_pool2d_backward(grad_out: _Array, input_shape: _Shape, *, out: _Array | None = None) -> _Array: ...

# ---- recurrent layers ------------------------------------------------------------------

def rnn_forward(x: _Array, h0: _Array | None, w_ih: _Array, w_hh: _Array, b_ih: _Array | None,
                b_hh: _Array | None, nonlinearity: _Nonlinearity = "tanh",
                batch_first: bool = False) -> tuple[_Array, _Array, _Cache]: ...
def rnn_backward(grad_y: _Array | None, grad_hT: _Array | None, cache: _Cache) -> tuple[_Array, ...]: ...
def lstm_forward(x: _Array, h0: _Array | None, c0: _Array | None, w_ih: _Array, w_hh: _Array,
                 b_ih: _Array | None, b_hh: _Array | None,
                 batch_first: bool = False) -> tuple[_Array, _Array, _Array, _Cache]: ...
def lstm_backward(grad_y: _Array | None, grad_hT: _Array | None, grad_cT: _Array | None,
                  cache: _Cache) -> tuple[_Array, ...]: ...
def gru_forward(x: _Array, h0: _Array | None, w_ih: _Array, w_hh: _Array, b_ih: _Array | None,
                b_hh: _Array | None, batch_first: bool = False) -> tuple[_Array, _Array, _Cache]: ...
def gru_backward(grad_y: _Array | None, grad_hT: _Array | None, cache: _Cache) -> tuple[_Array, ...]: ...
def rnn_cell_forward(x: _Array, h: _Array, w_ih: _Array, w_hh: _Array, b_ih: _Array | None,
                     b_hh: _Array | None, nonlinearity: _Nonlinearity = "tanh") -> tuple[_Array, _Cache]: ...
def rnn_cell_backward(grad_h: _Array, cache: _Cache) -> tuple[_Array, ...]: ...
def lstm_cell_forward(x: _Array, h: _Array, c: _Array, w_ih: _Array, w_hh: _Array, b_ih: _Array | None,
                      b_hh: _Array | None) -> tuple[_Array, _Array, _Cache]: ...
def lstm_cell_backward(grad_h: _Array | None, grad_c: _Array | None, cache: _Cache) -> tuple[_Array, ...]: ...
def gru_cell_forward(x: _Array, h: _Array, w_ih: _Array, w_hh: _Array, b_ih: _Array | None,
                     b_hh: _Array | None) -> tuple[_Array, _Cache]: ...
def gru_cell_backward(grad_h: _Array, cache: _Cache) -> tuple[_Array, ...]: ...

# ---- image filtering and FFT convolution -----------------------------------------------

def correlate2d(in1: _Array, in2: _Array, mode: _Mode = "full", boundary: _Boundary = "fill",
                fillvalue: float = 0, method: _FilterMethod = "auto") -> _Array: ...
def convolve2d(in1: _Array, in2: _Array, mode: _Mode = "full", boundary: _Boundary = "fill",
               fillvalue: float = 0, method: _FilterMethod = "auto") -> _Array: ...
def sepfilter2d(image: _Array, kernel_y: _Array, kernel_x: _Array, mode: _Mode = "same",
                boundary: _Boundary = "fill", fillvalue: float = 0) -> _Array: ...
def last_method() -> dict[str, Any] | None: ...
def calibrate_filters(fft: bool = True) -> dict[str, Any]: ...
def fftconvolve(in1: _Array, in2: _Array, mode: _Mode = "full", axes: int | Sequence[int] | None = None) -> _Array: ...
def export_fft_wisdom() -> tuple[bytes, ...]: ...
def import_fft_wisdom(wisdom: tuple[bytes, ...]) -> tuple[bool, ...]: ...

# ---- N-dimensional convolution (scipy.signal's) -------------------------------------------

def convolve(in1: _Array, in2: _Array, mode: _Mode = "full",
             method: Literal["auto", "direct", "fft"] = "auto") -> _Array: ...
def correlate(in1: _Array, in2: _Array, mode: _Mode = "full",
              method: Literal["auto", "direct", "fft"] = "auto") -> _Array: ...
def oaconvolve(in1: _Array, in2: _Array, mode: _Mode = "full", axes: int | Sequence[int] | None = None) -> _Array: ...
@overload
def choose_conv_method(in1: _Array, in2: _Array, mode: _Mode = "full",
                       measure: Literal[False] = False) -> Literal["direct", "fft"]: ...
@overload
def choose_conv_method(in1: _Array, in2: _Array, mode: _Mode = "full", *,
                       measure: Literal[True]) -> tuple[str, dict[str, float]]: ...
