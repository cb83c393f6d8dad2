"""Convolution on the GPU: the CPU core's conv_forward / conv_backward_input /
conv_backward_weight, same arguments (geom as fastconv.conv's kernel
geometry; arrays C-contiguous, backward outputs added into).

im2col: conv.cu's gather kernel fills a column matrix (C R S, images x
pixels) for a chunk of images (at most _COL_BYTES, so temporary memory stays
bounded), and cuBLAS (xp.matmul) does one product per group for the whole
chunk: forward w[g] @ col[g]; input gradient w[g]^T @ dy[g], then col2im;
weight gradient col[g] @ dy[g]^T.  direct: conv.cu's kernels without a GEMM,
for thin products (depthwise and few-channel layers).  winograd (ALGO_WINOGRAD,
this backend's own code, chosen by "auto" only): F(2x2, 3x3) for 3x3 kernels
of stride 1 and dilation 1 in one group, forward and input gradient
(winograd.cu's transforms around 16 GEMMs in one strided-batched cuBLAS
call): 2.25x fewer multiplies than the im2col product."""
from .._arrays import get_array_module
from .._ext._fastconv import ALGO_DIRECT, ALGO_IM2COL, ALGO_WINOGRAD
import os

from ._blas import gemm_batched, gemm_images
from ._launch import fits_int32, launch

# Few, large chunks: each costs a few launches whatever its size, and C1 or
# C3 of the benchmarks (115 MB and 231 MB of columns) then take one or two.
_COL_BYTES = 128 << 20
_KT = 8  # output channels per thread of conv_direct_forward (CONV_KT)
_IM2COL_CT = 8  # input channels per thread of conv_im2col (IM2COL_CT)

# auto takes Winograd where both channel counts reach this (the GEMMs' inner
# and outer sizes: below it the products are too thin to gain)
_WINOGRAD_MIN_CHANNELS = int(os.environ.get("FASTCONV_GPU_WINOGRAD_MIN_CHANNELS", "32"))
# ungrouped im2col forward: one strided-batched GEMM writing NCHW ("images"),
# or one GEMM then a transposing copy ("single")
_FORWARD_GEMM = os.environ.get("FASTCONV_GPU_FORWARD_GEMM", "images")


def choose_algorithm(geom, op, dtype=None):
    """"auto": the cuBLAS path unless the products would be thin (few input
    taps per output or few output channels per group), where the direct
    kernels waste less; the weight gradient always reduces through cuBLAS.
    (Winograd F(2x2, 3x3) for both dtypes: dtype is not consulted.)"""
    N, C, H, W, K, R, S, P, Q, G = geom[:10]
    if op != "backward_weight" and _winograd_fits(geom) and min(C, K) >= _WINOGRAD_MIN_CHANNELS:
        return ALGO_WINOGRAD
    thin = (C // G) * R * S < 16 or K // G < 8
    return ALGO_DIRECT if thin and op != "backward_weight" else ALGO_IM2COL


def _winograd_fits(geom):
    """3x3 kernel, stride 1, dilation 1, one group."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom[:16]
    return R == S == 3 and sh == sw == dh == dw == G == 1


def _index32(geom, *sizes):
    """Whether conv.cu's kernels may index in 32 bits for arrays of these
    sizes: the input rows and columns a tap reaches, p * sh - ph + r * dh,
    stay in range too."""
    N, C, H, W, K, R, S, P, Q, G, sh, sw, ph, pw, dh, dw = geom[:16]
    return fits_int32(*sizes, P * sh + R * dh + ph + H, Q * sw + S * dw + pw + W, K * C * R * S)


def _im2col(col, x, geom):
    """col (C R S, len(x) P Q) = conv.cu's column matrix of the images x."""
    C, P, Q = geom[1], geom[7], geom[8]
    nb = x.shape[0]
    work = nb * P * Q * -(-C // _IM2COL_CT)
    launch("conv.cu", "conv_im2col", x.dtype, work, col, x, nb, *geom, index32=_index32(geom, col.size, x.size))


def _chunks(N, per_image):
    """[(n0, n1), ...]: image ranges of equal size whose columns fit _COL_BYTES; the size."""
    count = -(-N // max(1, min(N, _COL_BYTES // max(per_image, 1))))
    nb = -(-N // count)
    return [(n0, min(N, n0 + nb)) for n0 in range(0, N, nb)], nb


def _matmul(xp, a, b, out=None):
    """Batched over groups; one group as a 2-D product (cuBLAS then reads
    transposed operands in place instead of copying them)."""
    if a.shape[0] == 1:
        return xp.matmul(a[0], b[0], out=None if out is None else out[0])[None]
    return xp.matmul(a, b, out=out)


def _by_group(xp, a, n0, n1, G):
    """a[n0:n1] (images, G * k, pixels) as (G, k, images x pixels), a copy."""
    nb, ch, px = n1 - n0, a.shape[1], a.shape[2]
    return xp.ascontiguousarray(a[n0:n1].reshape(nb, G, ch // G, px).transpose(1, 2, 0, 3)).reshape(
        G, ch // G, nb * px)


def _winograd(y, x, w, bias, CI, KO, H, W, P, Q, ph, pw, flip, accumulate):
    """y (nb, KO, P, Q) (+)= the 3x3 stride-1 correlation of x (nb, CI, H, W),
    zero-padded by ph, pw (either may be negative: cropped), with w (KO, CI,
    3, 3), or with flip the kernel of conv^T of w (CI, KO, 3, 3); + bias."""
    xp = get_array_module(y)
    TP, TQ = -(-P // 2), -(-Q // 2)
    tiles = TP * TQ
    chunks, nb = _chunks(x.shape[0], 16 * (CI + KO) * tiles * x.itemsize)
    u = xp.empty((16, KO, CI), x.dtype)
    v = xp.empty(16 * CI * nb * tiles, x.dtype)
    m = xp.empty(16 * KO * nb * tiles, x.dtype)
    i32 = fits_int32(u.size, v.size, m.size, x.size, y.size, w.size, H + abs(ph) + 4, W + abs(pw) + 4)
    launch("winograd.cu", "winograd_weight", x.dtype, KO * CI, u, w, KO, CI, flip, index32=i32)
    for n0, n1 in chunks:
        T = (n1 - n0) * tiles
        vc, mc = v[: 16 * CI * T].reshape(16, CI, T), m[: 16 * KO * T].reshape(16, KO, T)
        launch("winograd.cu", "winograd_input", x.dtype, CI * T, vc, x[n0:n1], n1 - n0, CI, H, W, ph, pw, TP, TQ,
               index32=i32)
        gemm_batched(u, vc, mc)
        launch("winograd.cu", "winograd_output", x.dtype, KO * T, y[n0:n1], mc, bias, n1 - n0, KO, P, Q, TP, TQ,
               accumulate, index32=i32)


def conv2d_forward(algo, y, x, w, bias, geom, nthreads=None):
    """y (OUT) = conv(x, w) + bias."""
    N, C, H, W, K, R, S, P, Q, G = geom[:10]
    Cg, Kg = C // G, K // G
    if algo == ALGO_WINOGRAD and not _winograd_fits(geom):  # (a 1-D layer: the CPU's Winograd only)
        algo = ALGO_IM2COL
    if algo == ALGO_WINOGRAD:
        _winograd(y, x, w, bias, C, K, H, W, P, Q, geom[12], geom[13], False, False)
        return
    if algo == ALGO_DIRECT:
        work = N * G * -(-Kg // _KT) * P * Q
        launch("conv.cu", "conv_direct_forward", x.dtype, work, y, x, w, bias, *geom,
               index32=_index32(geom, work, y.size, x.size))
        return
    xp = get_array_module(y)
    wg = w.reshape(G, Kg, Cg * R * S)
    chunks, nb = _chunks(N, C * R * S * P * Q * x.itemsize)
    col = xp.empty(C * R * S * nb * P * Q, x.dtype)
    if G == 1 and _FORWARD_GEMM == "images":
        y = y.reshape(N, K, P * Q)
        for n0, n1 in chunks:
            c = col[: C * R * S * (n1 - n0) * P * Q].reshape(C * R * S, (n1 - n0) * P * Q)
            _im2col(c, x[n0:n1], geom)
            gemm_images(wg[0], c, y[n0:n1], n1 - n0, P * Q)
        if bias is not None:
            y += bias.reshape(K, 1)
        return
    y = y.reshape(N, G, Kg, P * Q)
    prod = xp.empty(K * nb * P * Q, x.dtype)
    for n0, n1 in chunks:
        m = (n1 - n0) * P * Q
        c = col[: C * R * S * m].reshape(G, Cg * R * S, m)
        _im2col(c, x[n0:n1], geom)
        out = _matmul(xp, wg, c, prod[: K * m].reshape(G, Kg, m))
        out = out.reshape(G, Kg, n1 - n0, P * Q).transpose(2, 0, 1, 3)
        if bias is None:
            y[n0:n1] = out
        else:
            xp.add(out, bias.reshape(G, Kg, 1), out=y[n0:n1])


def conv2d_backward_input(algo, dx, dy, w, geom, nthreads=None):
    """dx (OUT, added into) += conv^T(dy, w)."""
    N, C, H, W, K, R, S, P, Q, G = geom[:10]
    Cg, Kg = C // G, K // G
    if algo == ALGO_WINOGRAD and not _winograd_fits(geom):
        algo = ALGO_IM2COL
    if algo == ALGO_WINOGRAD:  # a 3x3 correlation of dy with the flipped, transposed kernel
        _winograd(dx, dy, w, None, K, C, P, Q, H, W, 2 - geom[12], 2 - geom[13], True, True)
        return
    if algo == ALGO_DIRECT:
        launch("conv.cu", "conv_direct_backward_input", dy.dtype, N * C * H * W, dx, dy, w, *geom,
               index32=_index32(geom, dx.size, dy.size))
        return
    xp = get_array_module(dx)
    wt = w.reshape(G, Kg, Cg * R * S).transpose(0, 2, 1)
    dy = dy.reshape(N, K, P * Q)
    chunks, nb = _chunks(N, C * R * S * P * Q * dy.itemsize)
    dcol = xp.empty(C * R * S * nb * P * Q, dy.dtype)
    for n0, n1 in chunks:
        m = (n1 - n0) * P * Q
        d = dcol[: C * R * S * m].reshape(G, Cg * R * S, m)
        _matmul(xp, wt, _by_group(xp, dy, n0, n1, G), d)
        launch("conv.cu", "conv_col2im", dy.dtype, (n1 - n0) * C * H * W, dx[n0:n1], d, n1 - n0, *geom,
               index32=_index32(geom, d.size, dx[n0:n1].size))


def conv2d_backward_weight(algo, dw, dy, x, geom, nthreads=None):
    """dw (OUT, added into) += correlation of dy with x."""
    N, C, H, W, K, R, S, P, Q, G = geom[:10]
    Cg, Kg = C // G, K // G
    xp = get_array_module(dw)
    if algo == ALGO_DIRECT:
        nw = K * Cg * R * S
        # enough threads to fill a large GPU, each summing at least 64 products
        chunks = max(1, min(N * P * Q // 64, -(-(1 << 16) // nw)))
        partial = xp.empty((chunks, nw), dw.dtype)
        launch("conv.cu", "conv_direct_backward_weight", x.dtype, partial.size, partial, dy, x, chunks, *geom)
        dw += partial.sum(axis=0).reshape(dw.shape)
        return
    dwg = dw.reshape(G, Kg, Cg * R * S)
    dy = dy.reshape(N, K, P * Q)
    chunks, nb = _chunks(N, C * R * S * P * Q * x.itemsize)
    col = xp.empty(C * R * S * nb * P * Q, x.dtype)
    for n0, n1 in chunks:
        m = (n1 - n0) * P * Q
        c = col[: C * R * S * m].reshape(G, Cg * R * S, m)
        _im2col(c, x[n0:n1], geom)
        # dw[g]^T (Cg R S, Kg) = col[g] @ dy[g]^T: the small operand is the transposed one
        dwg += _matmul(xp, c, _by_group(xp, dy, n0, n1, G).transpose(0, 2, 1)).transpose(0, 2, 1)
