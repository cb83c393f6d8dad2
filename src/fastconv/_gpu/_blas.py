"""Direct cuBLAS calls where xp.matmul would cost more: gemm_rows, out =
a[i] @ b (or a[i] @ b.T), the per-step products of the recurrent layers,
where xp.matmul's dispatch costs more than the product; gemm_images, the
im2col forward's product written per image in place (no transposing copy);
gemm_batched, Winograd's 16 products in one call.  CuPy arrays go straight to cublas<s|d>gemm[StridedBatched]
(full precision: the handle's default math mode, never TF32); NumPy arrays
to np.matmul."""
import numpy as np

from .._arrays import is_cupy_array

_SCALARS = {c: (np.ones((), c), np.zeros((), c)) for c in "fd"}


def gemm_arguments(m, n, k, trans_b):
    """cuBLAS's (op(B), m, n, k, ldb, lda, ldc) for row-major out (m, n) =
    a (m, k) @ op(b): column-major, that is out^T (n, m) = op(b)^T @ a^T,
    with b passed first.  (tests/test_gpu.py checks it against a
    column-major GEMM written out in NumPy.)"""
    return (1 if trans_b else 0), n, m, k, (k if trans_b else n), k, n


def gemm_rows(a, b, out, trans_b=False):
    """run(i): out = a[i] @ b (or a[i] @ b.T) for a (n, m, k), the products
    of a recurrence's steps, with cuBLAS's arguments worked out once (run(i)
    is one cuBLAS call: the host time between a step's kernels is what the
    recurrence waits for)."""
    if not is_cupy_array(out):
        return lambda i: np.matmul(a[i], b.T if trans_b else b, out=out)
    import cupy
    from cupy.cuda import device
    from cupy_backends.cuda.libs import cublas

    m, k = a.shape[1:]
    op_b, mm, nn, kk, ldb, lda, ldc = gemm_arguments(m, out.shape[1], k, trans_b)
    one, zero = _SCALARS[out.dtype.char]
    handle = device.get_cublas_handle()
    cublas.setStream(handle, cupy.cuda.get_current_stream().ptr)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)  # alpha, beta in host memory
    fn = cublas.sgemm if out.dtype.char == "f" else cublas.dgemm
    op = cublas.CUBLAS_OP_T if op_b else cublas.CUBLAS_OP_N
    opn, pone, pzero, pb, pout = cublas.CUBLAS_OP_N, one.ctypes.data, zero.ctypes.data, b.data.ptr, out.data.ptr
    base, step = a.data.ptr, m * k * a.itemsize
    return lambda i: fn(handle, op, opn, mm, nn, kk, pone, pb, ldb, base + i * step, lda, pzero, pout, ldc)


def _strided_batched(out, a, lda, sa, b, ldb, sb, ldc, sc, m, n, k, batch):
    """cuBLAS column-major C = A @ B, batch times (both operands untransposed):
    C (m, n), A (m, k), B (k, n) at batch strides sa, sb, sc (elements)."""
    import cupy
    from cupy.cuda import device
    from cupy_backends.cuda.libs import cublas

    one, zero = _SCALARS[out.dtype.char]
    handle = device.get_cublas_handle()
    cublas.setStream(handle, cupy.cuda.get_current_stream().ptr)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
    (cublas.sgemmStridedBatched if out.dtype.char == "f" else cublas.dgemmStridedBatched)(
        handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, m, n, k,
        one.ctypes.data, a.data.ptr, lda, sa, b.data.ptr, ldb, sb,
        zero.ctypes.data, out.data.ptr, ldc, sc, batch)
    return out


def gemm_images(w, col, y, nb, pq):
    """y (nb, K, pq) = w (K, k) @ col (k, nb * pq) taken one image's block
    of pq columns at a time: a strided-batched GEMM that writes the product
    in NCHW order.  Column-major, image n: y[n]^T (pq, K), ldc pq, stride
    K pq = col block^T (pq, k), lda nb pq, stride pq @ w^T (k, K), ldb k,
    stride 0."""
    K, k = w.shape
    if not is_cupy_array(y):
        return np.matmul(w, col.reshape(k, nb, pq).transpose(1, 0, 2), out=y)
    return _strided_batched(y, col, nb * pq, pq, w, k, 0, pq, K * pq, pq, K, k, nb)


def gemm_batched(a, b, out):
    """out (nb, m, n) = a (nb, m, k) @ b (nb, k, n), all C-contiguous, in one
    strided-batched GEMM.  Column-major: out[i]^T (n, m) = b[i]^T (n, k) @
    a[i]^T (k, m)."""
    nb, m, k = a.shape
    n = b.shape[2]
    if not is_cupy_array(out):
        return np.matmul(a, b, out=out)
    return _strided_batched(out, b, n, k * n, a, k, m * k, n, m * n, n, m, k, nb)
