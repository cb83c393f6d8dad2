"""Direct cuBLAS calls where xp.matmul would cost more: gemm, out = a @ b
(or a @ b.T) for C-contiguous 2-D arrays, the per-step products of the
recurrent layers, where xp.matmul's dispatch costs more than the product;
gemm_images, the im2col forward's product written per image in place (no
transposing copy).  CuPy arrays go straight to cublas<s|d>gemm[StridedBatched]
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


def gemm(a, b, out, trans_b=False):
    if not is_cupy_array(out):
        return np.matmul(a, b.T if trans_b else b, out=out)
    from cupy.cuda import device
    from cupy_backends.cuda.libs import cublas

    m, k = a.shape
    op_b, mm, nn, kk, ldb, lda, ldc = gemm_arguments(m, out.shape[1], k, trans_b)
    one, zero = _SCALARS[out.dtype.char]
    handle = device.get_cublas_handle()
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)  # alpha, beta in host memory
    (cublas.sgemm if out.dtype.char == "f" else cublas.dgemm)(
        handle, cublas.CUBLAS_OP_T if op_b else cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, mm, nn, kk,
        one.ctypes.data, b.data.ptr, ldb, a.data.ptr, lda, zero.ctypes.data, out.data.ptr, ldc)
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
    from cupy.cuda import device
    from cupy_backends.cuda.libs import cublas

    one, zero = _SCALARS[y.dtype.char]
    handle = device.get_cublas_handle()
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
    (cublas.sgemmStridedBatched if y.dtype.char == "f" else cublas.dgemmStridedBatched)(
        handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, pq, K, k,
        one.ctypes.data, col.data.ptr, nb * pq, pq, w.data.ptr, k, 0,
        zero.ctypes.data, y.data.ptr, pq, K * pq, nb)
    return y
