"""FFT pieces on the GPU (cuFFT through xp.fft; CuPy caches the plans): the
transforms of fastconv.fft that the FFT convolution paths use."""
from .._arrays import get_array_module
from .._fft.sizes import fast_length


def rfft_padded(a, lengths, count=True):
    """Half spectrum of a (..., n1, n2) zero-padded to lengths along its last
    two axes (count: the CPU's plan bookkeeping; CuPy plans its own)."""
    return get_array_module(a).fft.rfftn(a, s=tuple(lengths), axes=(-2, -1))


def irfft_cropped(A, lengths, rows, cols, count=True):
    """Inverse of rfft_padded at transform lengths, then [..., rows, cols], as a new array."""
    xp = get_array_module(A)
    return xp.ascontiguousarray(xp.fft.irfftn(A, s=tuple(lengths), axes=(-2, -1))[..., rows, cols])


def fft_full(a, b, axes, dtype):
    """Full linear convolution of a and b (finite, dtype) along axes (same
    ndim; other axes broadcast), by one transform of 5-smooth size."""
    xp = get_array_module(a, b)
    out_shape = [max(m, n) for m, n in zip(a.shape, b.shape)]
    for ax in axes:
        out_shape[ax] = a.shape[ax] + b.shape[ax] - 1
    size = tuple(fast_length(out_shape[ax]) for ax in axes)
    if xp.dtype(dtype).kind == "c":
        full = xp.fft.ifftn(xp.fft.fftn(a, s=size, axes=axes) * xp.fft.fftn(b, s=size, axes=axes), s=size, axes=axes)
    else:
        spectrum = xp.fft.rfftn(a, s=size, axes=axes) * xp.fft.rfftn(b, s=size, axes=axes)
        full = xp.fft.irfftn(spectrum, s=size, axes=axes)
    return xp.ascontiguousarray(full[tuple(slice(0, n) for n in out_shape)]).astype(dtype, copy=False)
