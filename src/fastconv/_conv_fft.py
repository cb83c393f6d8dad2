"""conv2d / conv1d and both gradients by FFT (algorithm="fft").

With the input padded to Hp x Wp, the stride-1 correlation y[p] =
sum_r w[r] xp[p + r] is the circular correlation of transforms of any
length L >= Hp: its outputs never reach past Hp - 1, so nothing wraps.
One transform size, L = fast_length(Hp) x fast_length(Wp), serves all
three operations:
  forward       Y[n, k] = sum_c X[n, c] conj(W[k, c])
  grad input    DXp[n, c] = sum_k DY[n, k] W[k, c]      (a full convolution)
  grad weight   DW[k, c] = sum_n X[n, c] conj(DY[n, k])
with the channel sums done in the frequency domain, as one batched complex
matrix product per frequency.  Dilation is a kernel with zeros between its
taps; stride is a stride-1 correlation read every stride-th output (and
grad_out spread onto that grid for the gradients).  Groups contract within
each group.

The transforms spread a NaN or Inf over a whole plane, so inputs with
non-finite values go to the direct kernel, which keeps them to their
footprint.

Memory: one operand's spectrum is held whole (transformed a chunk of
images at a time), in the layout the channel products read, (G, F, N,
channels in group); the other operand is transformed a tile of channels at
a time, and each tile's products are inverted and written out before the
next, so the working set beyond the inputs, the output and that spectrum
(about the input's size) stays within a budget of the input and output
bytes (at least _TILE_MIN_BYTES).  No transform is done twice.

Written against the array module of the inputs: NumPy arrays transform on
pyFFTW's cached plans (fastconv.fft), CuPy arrays on cuFFT (fastconv._gpu.fft);
`kern` is the kernel set of fastconv._backend.kernels."""
import numpy as np

from ._backend import get_array_module
from ._fft.sizes import fast_length

# the working set of one tile: the bytes of the input and output, and at
# least this many (smaller problems run in one tile)
_TILE_MIN_BYTES = 64 << 20
# tests set a budget here (bytes) to force small tiles
_TILE_BYTES = None


def _budget(io_bytes):
    if _TILE_BYTES is not None:
        return _TILE_BYTES
    return max(_TILE_MIN_BYTES, io_bytes)


def _padded(x4, geom):
    """x4 (n, C, H, W) padded to exactly the rows and columns the windows
    read (trailing rows and columns no window reaches are left out)."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    Hp, Wp = _padded_size(geom)
    padded = get_array_module(x4).zeros((x4.shape[0], x4.shape[1], Hp, Wp), x4.dtype)
    r1, c1 = min(H, Hp - ph), min(W, Wp - pw)
    padded[:, :, ph: ph + r1, pw: pw + c1] = x4[:, :, :r1, :c1]
    return padded


def _padded_size(geom):
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    return (P - 1) * sh + dh * (R - 1) + 1, (Q - 1) * sw + dw * (S - 1) + 1


def _dilated(w, dh, dw):
    if dh == 1 and dw == 1:
        return w
    K, Cg, R, S = w.shape
    out = get_array_module(w).zeros((K, Cg, dh * (R - 1) + 1, dw * (S - 1) + 1), w.dtype)
    out[:, :, ::dh, ::dw] = w
    return out


def _spread(dy4, sh, sw):
    """grad_out (n, k, P, Q) on the stride grid of the padded input (zeros between)."""
    if sh == 1 and sw == 1:
        return dy4
    n, k, P, Q = dy4.shape
    up = get_array_module(dy4).zeros((n, k, (P - 1) * sh + 1, (Q - 1) * sw + 1), dy4.dtype)
    up[:, :, ::sh, ::sw] = dy4
    return up


def _lengths(Hp, Wp):
    return fast_length(Hp), fast_length(Wp)


class _Sizes:
    """Transform lengths and byte counts of one convolution's spectra."""

    def __init__(self, geom, dtype):
        self.L = _lengths(*_padded_size(geom))
        self.half = self.L[1] // 2 + 1
        self.F = self.L[0] * self.half
        self.real = np.dtype(dtype).itemsize
        self.cplx = 2 * self.real
        self.cdtype = np.complex64 if np.dtype(dtype) == np.float32 else np.complex128

    def plane(self, h, w):
        """Bytes one (h, w) plane costs on its way to a spectrum kept in a
        new layout: the plane, the plan's real and complex buffers, the
        spectrum and its copy."""
        return h * w * self.real + self.L[0] * self.L[1] * self.real + 3 * self.F * self.cplx

    def inverse(self, h, w):
        """Bytes one product plane costs on its way back: the product, its
        layout copy, the plan's buffers and the cropped (h, w) result."""
        return 3 * self.F * self.cplx + self.L[0] * self.L[1] * self.real + h * w * self.real


def _step(budget, per_item, n):
    return int(max(1, min(n, budget // max(per_item, 1))))


def _held_spectrum(get, n, ch, G, sizes, budget, rfft, xp, plane_bytes):
    """The spectrum of get(i0, i1) (items i0:i1 of n, each (ch, h, w)) in the
    layout (G, F, n, ch / G), transformed a chunk of items at a time."""
    out = xp.empty((G, sizes.F, n, ch // G), sizes.cdtype)
    step = _step(budget, ch * plane_bytes, n)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        A = rfft(get(i0, i1), sizes.L, count=i0 == 0 or i1 - i0 != step)
        out[:, :, i0:i1, :] = A.reshape(i1 - i0, G, ch // G, sizes.F).transpose(1, 3, 0, 2)
        del A
    return out


def _tile_spectrum(a, sizes, rfft, count):
    """rfft of a (m, ch, h, w) as (F, ch, m), contiguous."""
    A = rfft(a, sizes.L, count=count)
    return get_array_module(A).ascontiguousarray(A.reshape(a.shape[0], a.shape[1], sizes.F).transpose(2, 1, 0))


def forward(x, w, bias, geom, kern):
    """y (N, K, P, Q) of conv2d; x (N, C, H, W) and w (K, C/G, R, S) contiguous."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    xp = get_array_module(x)
    # count=False marks a later tile of the same call, not a new use of a CPU plan
    # (FFTW_MEASURE planning comes with a plan's third call, not its third tile)
    rfft, irfft = kern.rfft_padded, kern.irfft_cropped
    sizes = _Sizes(geom, x.dtype)
    Cg, Kg = C // G, K // G
    budget = _budget((N * C * H * W + N * K * P * Q) * sizes.real)
    x4 = x.reshape(N, C, H, W)
    Hp, Wp = _padded_size(geom)
    X = _held_spectrum(lambda i0, i1: _padded(x4[i0:i1], geom), N, C, G, sizes, budget, rfft, xp,
                       sizes.plane(Hp, Wp))
    wd = _dilated(w.reshape(K, Cg, R, S), dh, dw)
    rows, cols = slice(0, (P - 1) * sh + 1, sh), slice(0, (Q - 1) * sw + 1, sw)
    y = xp.empty((N, K, P, Q), x.dtype)
    # Y[n, k] = sum_c X[n, c] conj(W[k, c]): (N, Cg) @ (Cg, kt) per frequency, kt output channels a tile
    kt = _step(budget, Cg * sizes.plane(*wd.shape[2:]) + N * sizes.inverse(P, Q), Kg)
    first = True
    for g in range(G):
        for k0 in range(0, Kg, kt):
            ks = slice(g * Kg + k0, g * Kg + min(Kg, k0 + kt))
            m = ks.stop - ks.start
            Wf = xp.conj(_tile_spectrum(wd[ks], sizes, rfft, first or m != kt))  # (F, Cg, m)
            Y = xp.matmul(X[g], Wf)  # (F, N, m)
            del Wf
            Y = xp.ascontiguousarray(Y.transpose(1, 2, 0)).reshape(N, m, sizes.L[0], sizes.half)
            y[:, ks] = irfft(Y, sizes.L, rows, cols, count=first or m != kt)
            del Y
            first = False
    if bias is not None:
        y += bias.reshape(1, K, 1, 1)
    return y


def grad_input(dy, w, geom, kern):
    """dx (N, C, H, W) of conv2d."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    xp = get_array_module(dy)
    rfft, irfft = kern.rfft_padded, kern.irfft_cropped
    sizes = _Sizes(geom, dy.dtype)
    Cg, Kg = C // G, K // G
    budget = _budget((N * C * H * W + N * K * P * Q) * sizes.real)
    dy4 = dy.reshape(N, K, P, Q)
    Hs, Ws = (P - 1) * sh + 1, (Q - 1) * sw + 1
    D = _held_spectrum(lambda i0, i1: _spread(dy4[i0:i1], sh, sw), N, K, G, sizes, budget, rfft, xp,
                       sizes.plane(Hs, Ws))
    wd = _dilated(w.reshape(K, Cg, R, S), dh, dw)
    Hp, Wp = _padded_size(geom)
    # padded-input rows that are rows of x; rows of x past them got nothing
    r1, c1 = min(H, Hp - ph), min(W, Wp - pw)
    dx = xp.empty((N, C, H, W), dy.dtype) if (r1, c1) == (H, W) else xp.zeros((N, C, H, W), dy.dtype)
    # DXp[n, c] = sum_k DY[n, k] W[k, c]: (N, Kg) @ (Kg, ct) per frequency, ct input channels a tile
    ct = _step(budget, Kg * sizes.plane(*wd.shape[2:]) + N * sizes.inverse(r1, c1), Cg)
    first = True
    for g in range(G):
        for c0 in range(0, Cg, ct):
            c1_ = min(Cg, c0 + ct)
            m = c1_ - c0
            # (m, Kg, R, S) -> (F, Kg, m)
            Wf = _tile_spectrum(wd[g * Kg: (g + 1) * Kg, c0:c1_].transpose(1, 0, 2, 3), sizes, rfft, first or m != ct)
            DX = xp.matmul(D[g], Wf)  # (F, N, Kg) @ (F, Kg, m)
            del Wf
            DX = xp.ascontiguousarray(DX.transpose(1, 2, 0)).reshape(N, m, sizes.L[0], sizes.half)
            cs = slice(g * Cg + c0, g * Cg + c1_)
            dx[:, cs, :r1, :c1] = irfft(DX, sizes.L, slice(ph, ph + r1), slice(pw, pw + c1), count=first or m != ct)
            del DX
            first = False
    return dx


def grad_weight(dy, x, geom, kern):
    """dw (K, C/G, R, S) of conv2d."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    xp = get_array_module(x)
    rfft, irfft = kern.rfft_padded, kern.irfft_cropped
    sizes = _Sizes(geom, x.dtype)
    Cg, Kg = C // G, K // G
    budget = _budget((N * C * H * W + N * K * P * Q) * sizes.real)
    x4 = x.reshape(N, C, H, W)
    dy4 = dy.reshape(N, K, P, Q)
    Hp, Wp = _padded_size(geom)
    X = _held_spectrum(lambda i0, i1: _padded(x4[i0:i1], geom), N, C, G, sizes, budget, rfft, xp,
                       sizes.plane(Hp, Wp))
    Hs, Ws = (P - 1) * sh + 1, (Q - 1) * sw + 1
    Rd, Sd = dh * (R - 1) + 1, dw * (S - 1) + 1
    out = xp.empty((K, Cg, R, S), x.dtype)
    # DW[k, c] = sum_n conj(DY[n, k]) X[n, c]: (kt, N) @ (N, Cg) per frequency, kt output channels a tile
    kt = _step(budget, N * sizes.plane(Hs, Ws) + Cg * sizes.inverse(Rd, Sd), Kg)
    first = True
    for g in range(G):
        for k0 in range(0, Kg, kt):
            ks = slice(g * Kg + k0, g * Kg + min(Kg, k0 + kt))
            m = ks.stop - ks.start
            # (N, m, Hs, Ws) -> (F, m, N)
            Dc = xp.conj(_tile_spectrum(_spread(dy4[:, ks], sh, sw), sizes, rfft, first or m != kt))
            DW = xp.matmul(Dc, X[g])  # (F, m, Cg)
            del Dc
            DW = xp.ascontiguousarray(DW.transpose(1, 2, 0)).reshape(m, Cg, sizes.L[0], sizes.half)
            out[ks] = irfft(DW, sizes.L, slice(0, Rd, dh), slice(0, Sd, dw), count=first or m != kt)
            del DW
            first = False
    return out


def finite(*arrays):
    """True when no array holds a NaN or an infinity."""
    return all(bool(get_array_module(a).isfinite(a).all()) for a in arrays)
