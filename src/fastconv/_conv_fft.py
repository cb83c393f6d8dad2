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

Written against the array module of the inputs: NumPy arrays transform on
pyFFTW's cached plans (fastconv.fft), CuPy arrays on cuFFT (fastconv._gpu.fft);
`kern` is the kernel set of fastconv._backend.kernels."""
from ._backend import get_array_module
from ._ext import _fastconv as _core
from .fft import fast_length, irfft_cropped, rfft_padded


def _transforms(kern):
    """(rfft_padded, irfft_cropped) of the kernel set's backend."""
    return (rfft_padded, irfft_cropped) if kern is _core else (kern.rfft_padded, kern.irfft_cropped)


def _padded_input(x, geom):
    """x padded to exactly the rows and columns the windows read (trailing
    rows and columns no window reaches are left out)."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    Hp, Wp = (P - 1) * sh + dh * (R - 1) + 1, (Q - 1) * sw + dw * (S - 1) + 1
    padded = get_array_module(x).zeros((N, C, Hp, Wp), x.dtype)
    r1, c1 = min(H, Hp - ph), min(W, Wp - pw)
    padded[:, :, ph: ph + r1, pw: pw + c1] = x.reshape(N, C, H, W)[:, :, :r1, :c1]
    return padded, (Hp, Wp)


def _dilated(w, dh, dw):
    if dh == 1 and dw == 1:
        return w
    K, Cg, R, S = w.shape
    out = get_array_module(w).zeros((K, Cg, dh * (R - 1) + 1, dw * (S - 1) + 1), w.dtype)
    out[:, :, ::dh, ::dw] = w
    return out


def _spread(dy, geom):
    """grad_out on the stride grid of the padded input (zeros between)."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw = geom[:12]
    dy = dy.reshape(N, K, P, Q)
    if sh == 1 and sw == 1:
        return dy
    up = get_array_module(dy).zeros((N, K, (P - 1) * sh + 1, (Q - 1) * sw + 1), dy.dtype)
    up[:, :, ::sh, ::sw] = dy
    return up


def _lengths(Hp, Wp):
    return fast_length(Hp), fast_length(Wp)


def _groups(A, G, order):
    """(F, G, a, b) of a (batch, channels, F) spectrum, channels split into G
    groups; order picks (a, b) from (batch, channel-in-group) = (0, 2)."""
    n, ch, F = A.shape
    return get_array_module(A).ascontiguousarray(A.reshape(n, G, ch // G, F).transpose((3, 1) + order))


def _weights(Wf, G, order):
    """(F, G, a, b) of a weight spectrum (K, Cg, F); order picks (a, b) from
    (output-channel-in-group, input channel) = (1, 2)."""
    K, Cg, F = Wf.shape
    return get_array_module(Wf).ascontiguousarray(Wf.reshape(G, K // G, Cg, F).transpose((3, 0) + order))


def _ungroup(out):
    """(F, G, m, c) products -> (m, G * c, F)."""
    F, G, m, c = out.shape
    return get_array_module(out).ascontiguousarray(out.transpose(2, 1, 3, 0)).reshape(m, G * c, F)


def _spectrum(a, L, rfft):
    """rfft of a (n, ch, h, w) padded to L, as (n, ch, F)."""
    A = rfft(a, L)
    return A.reshape(A.shape[0], A.shape[1], -1)


def forward(x, w, bias, geom, kern):
    """y (N, K, P, Q) of conv2d; x (N, C, H, W) and w (K, C/G, R, S) contiguous."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    xp = get_array_module(x)
    rfft, irfft = _transforms(kern)
    padded, (Hp, Wp) = _padded_input(x, geom)
    L = _lengths(Hp, Wp)
    X = _spectrum(padded, L, rfft)
    Wf = xp.conj(_spectrum(_dilated(w.reshape(K, C // G, R, S), dh, dw), L, rfft))
    # Y[n, k] = sum_c X[n, c] conj(W[k, c]): (N, Cg) @ (Cg, Kg) per frequency and group
    Y = _ungroup(xp.matmul(_groups(X, G, (0, 2)), _weights(Wf, G, (2, 1))))
    Y = Y.reshape(N, K, L[0], L[1] // 2 + 1)
    y = irfft(Y, L, slice(0, (P - 1) * sh + 1, sh), slice(0, (Q - 1) * sw + 1, sw))
    if bias is not None:
        y += bias.reshape(1, K, 1, 1)
    return y


def grad_input(dy, w, geom, kern):
    """dx (N, C, H, W) of conv2d."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    xp = get_array_module(dy)
    rfft, irfft = _transforms(kern)
    Hp, Wp = (P - 1) * sh + dh * (R - 1) + 1, (Q - 1) * sw + dw * (S - 1) + 1
    L = _lengths(Hp, Wp)
    D = _spectrum(_spread(dy, geom), L, rfft)
    Wf = _spectrum(_dilated(w.reshape(K, C // G, R, S), dh, dw), L, rfft)
    # DXp[n, c] = sum_k DY[n, k] W[k, c]: (N, Kg) @ (Kg, Cg)
    DX = _ungroup(xp.matmul(_groups(D, G, (0, 2)), _weights(Wf, G, (1, 2))))
    DX = DX.reshape(N, C, L[0], L[1] // 2 + 1)
    # padded-input rows that are rows of x; rows of x past them got nothing
    r1, c1 = min(H, Hp - ph), min(W, Wp - pw)
    part = irfft(DX, L, slice(ph, ph + r1), slice(pw, pw + c1))
    if r1 == H and c1 == W:
        return part
    dx = xp.zeros((N, C, H, W), dy.dtype)
    dx[:, :, :r1, :c1] = part
    return dx


def grad_weight(dy, x, geom, kern):
    """dw (K, C/G, R, S) of conv2d."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom
    xp = get_array_module(x)
    rfft, irfft = _transforms(kern)
    padded, (Hp, Wp) = _padded_input(x, geom)
    L = _lengths(Hp, Wp)
    X = _spectrum(padded, L, rfft)
    D = xp.conj(_spectrum(_spread(dy, geom), L, rfft))
    # DW[k, c] = sum_n conj(DY[n, k]) X[n, c]: (Kg, N) @ (N, Cg)
    prod = xp.matmul(_groups(D, G, (2, 0)), _groups(X, G, (0, 2)))  # (F, G, Kg, Cg)
    F, G_, Kg, Cg = prod.shape
    DW = xp.ascontiguousarray(prod.transpose(1, 2, 3, 0)).reshape(K, Cg, L[0], L[1] // 2 + 1)
    return irfft(DW, L, slice(0, dh * (R - 1) + 1, dh), slice(0, dw * (S - 1) + 1, dw))


def finite(*arrays):
    """True when no array holds a NaN or an infinity."""
    return all(bool(get_array_module(a).isfinite(a).all()) for a in arrays)
