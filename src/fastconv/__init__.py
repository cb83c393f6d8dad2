"""fastconv: fast convolution, pooling and recurrent kernels for NumPy.

A compiled core (C11 + OpenMP, runtime-selected AVX2 / AVX-512 kernels)
behind NumPy-native functions.  See ``fastconv.info()`` for what this build
runs on.
"""
from . import _openmp_env

_openmp_env.set_default()  # (before the OpenMP runtimes load: the imports below load them)

from ._version import __version__  # noqa: E402

from ._backend import get_array_module
from ._info import info
from ._threads import get_num_threads, set_num_threads, threads
from .fft import export_fft_wisdom, fftconvolve, import_fft_wisdom
from .filtering import calibrate_filters, convolve2d, correlate2d, last_method, sepfilter2d
from .signal import choose_conv_method, convolve, correlate, oaconvolve
from .pool import (
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from .rnn import (
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
    rnn_backward,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
)
from ._wisdom import export_wisdom, import_wisdom
from . import ndimage  # noqa: F401 (fastconv.ndimage, scipy.ndimage's filters)
from .conv import (
    ConvPlan,
    conv1d,
    conv1d_grad_input,
    conv1d_grad_weight,
    conv2d,
    conv2d_grad_input,
    conv2d_grad_weight,
    conv_transpose2d,
)

__all__ = [
    "__version__",
    "ConvPlan",
    "export_wisdom",
    "import_wisdom",
    "sepfilter2d",
    "last_method",
    "import_fft_wisdom",
    "fftconvolve",
    "export_fft_wisdom",
    "correlate2d",
    "convolve2d",
    "calibrate_filters",
    "convolve",
    "correlate",
    "oaconvolve",
    "choose_conv_method",
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

from ._threads import _register_threadpoolctl

_register_threadpoolctl()
del _register_threadpoolctl
_openmp_env.restore()
