"""The CPU backend: what fastconv runs on NumPy arrays.

The same functions, with the same arguments, as the GPU backend
(fastconv._gpu), so the public functions validate once and call either
through fastconv._backend.kernels: the compiled core's kernels
(fastconv._ext._fastconv, one binding per operation of csrc/ops.def), the
choice "auto" makes for convolution (conv) and filtering (filter_model,
timed on this machine), the FFT transforms (fft, on pyFFTW), and
fastconv.nn's elementwise and GEMM steps (train).  can_measure: this
backend can time candidate algorithms (algorithm="measure");
winograd_weight_gradient: its conv2d_backward_weight runs Winograd
(ALGO_WINOGRAD); winograd_1d: it runs the 1-D Winograd (forward, and the
input gradient at stride 1); winograd_stride2: it runs the stride-2 3x3
Winograd (forward); backward_overwrites: its conv2d_backward_input and
conv2d_backward_weight overwrite dx and dw (the GPU backend's add into them).
"""
from .._ext._fastconv import (  # noqa: F401 (the backend's interface)
    avg_pool2d_backward, avg_pool2d_forward, conv2d_backward_input, conv2d_backward_weight, conv2d_forward,
    correlate1d_forward, filter2d_forward, global_avg_pool_backward, global_avg_pool_forward, max_pool2d_backward,
    max_pool2d_forward, rnn_backward, rnn_forward, sepcorrelate_forward, sepfilter_forward,
)
from . import train  # noqa: F401 (fastconv.nn's steps: fastconv._backend.train)
from .conv import choose_algorithm  # noqa: F401
from .fft import fft_full, irfft_cropped, rfft_padded  # noqa: F401
from .filter_model import choose_method as choose_filter_method  # noqa: F401
from .ndfilter import uniform1d_running  # noqa: F401

can_measure = True
winograd_1d = True
winograd_stride2 = True
winograd_weight_gradient = True
backward_overwrites = True
