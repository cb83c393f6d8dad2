"""Pooling on the GPU: the CPU core's pooling functions, same arguments
(geom as fastconv.pool's kernel geometry), on pool.cu's kernels."""
from .._arrays import get_array_module
from ._launch import fits_int32, launch


def _index32(geom, *sizes):
    """Whether pool.cu's kernels may index in 32 bits for arrays of these
    sizes (window rows and columns p * sh - ph + r * dh in range, the
    window size too)."""
    NC, H, W, P, Q, R, S, sh, sw, ph, pw, dh, dw = geom[:13]
    return fits_int32(*sizes, P * sh + R * dh + ph + H, Q * sw + S * dw + pw + W, R * S)


def max_pool2d_forward(y, idx, x, geom, nthreads=None):
    """y (OUT) = window maxima of x; idx (OUT, int64, or None) = their in-plane indices."""
    NC, H, W, P, Q = geom[:5]
    index32 = _index32(geom, x.size, y.size)
    if geom[5:] == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * P <= H and 2 * Q <= W:
        launch("pool.cu", "pool_max_forward_2x2", x.dtype, NC * P * Q, y, idx, x, NC, H, W, P, Q, index32=index32)
    else:
        launch("pool.cu", "pool_max_forward", x.dtype, NC * P * Q, y, idx, x, *geom, index32=index32)


def max_pool2d_backward(dx, dy, idx, geom, nthreads=None):
    """dx (OUT, overwritten) = dy scattered through idx; ValueError for an index outside its plane."""
    NC, H, W, P, Q = geom[:5]
    bad = get_array_module(dx).zeros(1, "int32")
    # a block per plane: threads enough for the larger of input and output plane
    threads = min(256, 32 * -(-max(H * W, P * Q) // 32))
    launch("pool.cu", "pool_max_backward", dy.dtype, None, dx, dy, idx, bad, NC, H * W, P * Q, threads=threads,
           blocks=min(NC, 1 << 16), index32=fits_int32(dx.size, dy.size))
    if int(bad[0]):
        raise ValueError(f"indices must lie in [0, {H * W}) (the flat index within each {H}x{W} input plane); "
                         "some do not")


def avg_pool2d_forward(y, x, geom, include_pad, nthreads=None):
    """y (OUT) = window means of x."""
    NC, H, W, P, Q = geom[:5]
    launch("pool.cu", "pool_avg_forward", x.dtype, NC * P * Q, y, x, *geom, include_pad,
           index32=_index32(geom, x.size, y.size))


def avg_pool2d_backward(dx, dy, geom, include_pad, nthreads=None):
    """dx (OUT, overwritten) = gradient of the window means."""
    NC, H, W = geom[:3]
    launch("pool.cu", "pool_avg_backward", dy.dtype, NC * H * W, dx, dy, *geom, include_pad,
           index32=_index32(geom, dx.size, dy.size))


def global_avg_pool_forward(y, x, planes, n, nthreads=None):
    """y[i] (OUT) = mean(x[i*n:(i+1)*n])."""
    get_array_module(y).mean(x.reshape(planes, n), axis=1, out=y.reshape(planes))


def global_avg_pool_backward(dx, dy, planes, n, nthreads=None):
    """dx[i*n + j] (OUT, overwritten) = dy[i] / n."""
    dx.reshape(planes, n)[...] = dy.reshape(planes, 1) / dy.dtype.type(n)
