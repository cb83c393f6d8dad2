"""The GPU backend: what fastconv runs on CuPy arrays.

The same kernel functions as the CPU core (fastconv._ext._fastconv), with
the same arguments, so the public functions validate once and call either
(see fastconv._backend.kernels): CUDA C kernels in the .cu sources here
(compiled with NVRTC through cupy.RawModule, cached per device and dtype),
cuBLAS for the GEMMs (im2col, recurrent projections; through xp.matmul, or
_blas.gemm for the small per-step products) and cuFFT through xp.fft for
the FFT paths.  CuPy is imported on first use only.  fastconv never enables
TF32: its GEMMs run in full fp32 (CuPy rounds to TF32 only when the user
sets CUPY_TF32=1).

The Python here is written against the array module of its arguments, so
the tests also run it on NumPy arrays, with the kernels emulated on the CPU
(see _launch.emulator).
"""
from .conv import choose_algorithm, conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from .fft import fft_full, irfft_cropped, rfft_padded
from .filtering import choose_method as choose_filter_method, filter2d_forward, sepfilter_forward
from .ndfilter import correlate1d_forward, sepcorrelate_forward, uniform1d_running
from .pool import (avg_pool2d_backward, avg_pool2d_forward, global_avg_pool_backward, global_avg_pool_forward,
                   max_pool2d_backward, max_pool2d_forward)
from .rnn import rnn_backward, rnn_forward
from . import train  # noqa: F401 (fastconv.nn's steps: fastconv._backend.train)

# (algorithm="measure" follows "auto"'s rules here: timing on the device would need its own timers)
can_measure = False
winograd_1d = False  # (its Winograd: 3x3 layers only)
winograd_stride2 = False  # (its Winograd: 3x3 at stride 1)
winograd_weight_gradient = False  # (its Winograd: forward and input gradient)
backward_overwrites = False  # (its convolution gradients add into dx and dw, zeroed first)
