"""The FFT machinery behind fastconv.fftconvolve and the FFT convolution
paths, by concern: transform sizes (sizes)."""
