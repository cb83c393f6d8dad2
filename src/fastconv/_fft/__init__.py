"""The FFT machinery behind fastconv.fftconvolve and the FFT convolution
paths, by concern: transform sizes (sizes), pyFFTW plans and wisdom (plans),
the cache of small operands' spectra (spectra) and overlap-add
(overlap_add).  The CPU backend's transforms on them: fastconv._cpu.fft."""
