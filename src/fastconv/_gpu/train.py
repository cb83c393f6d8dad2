"""fastconv.nn's elementwise and GEMM steps on the GPU: the arithmetic of
the CPU's fused kernels (fastconv._cpu.train, csrc/activation.c, optim.c)
as array expressions, which CuPy fuses into a few element-wise kernels and
hands to cuBLAS.  Written against the arrays' module, so the tests run them
on NumPy arrays too."""
from .._arrays import get_array_module
from .._ext._fastconv import ACT_RELU as RELU, ACT_SIGMOID as SIGMOID, ACT_TANH as TANH
from .._ext._fastconv import OPT_ADAGRAD as ADAGRAD, OPT_RMSPROP as RMSPROP, OPT_SGD as SGD


def matmul(a, b):
    return get_array_module(a, b).matmul(a, b)


def activation_forward(kind, x, out=None):
    xp = get_array_module(x)
    if kind == RELU:
        y = xp.maximum(x, 0)  # NaN stays NaN
    elif kind == SIGMOID:
        e = xp.exp(-xp.abs(x))  # no overflow for any finite x
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    else:
        y = xp.tanh(x)
    y = y.astype(x.dtype, copy=False)
    if out is None:
        return y
    out[...] = y
    return out


def activation_backward(kind, dy, y, layout, bias_grad):
    xp = get_array_module(dy, y)
    dy = dy.astype(y.dtype, copy=False)
    if kind == RELU:
        dx = xp.where(y > 0, dy, xp.zeros((), y.dtype))
    elif kind == SIGMOID:
        dx = dy * y * (1 - y)
    elif kind == TANH:
        dx = dy * (1 - y * y)
    else:
        dx = dy.copy()
    if not bias_grad:
        return dx
    return dx, dx.reshape(layout).sum(axis=(0, 2))


def optim_update(kind, w, g, s1, s2, hp):
    xp = get_array_module(w, g)
    t = w.dtype.type
    lr, wd = t(hp[0]), t(hp[1])
    g = g + wd * w if hp[1] else g
    if kind == SGD:
        mom = t(hp[2])
        if not hp[2]:
            w -= lr * g
            return
        s1 *= mom
        s1 += g
        w -= lr * (g + mom * s1 if hp[3] else s1)
    elif kind == ADAGRAD:
        s1 += g * g
        w -= lr * g / (xp.sqrt(s1) + t(hp[2]))
    elif kind == RMSPROP:
        rho, eps, mom = t(hp[2]), t(hp[3]), t(hp[4])
        s1 *= rho
        s1 += (1 - rho) * (g * g)
        d = lr * g / (xp.sqrt(s1) + eps)
        if hp[4]:
            s2 *= mom
            s2 += d
            d = s2
        w -= d
    else:  # ADAM
        b1, b2, eps = t(hp[2]), t(hp[3]), t(hp[4])
        s1 *= b1
        s1 += (1 - b1) * g
        s2 *= b2
        s2 += (1 - b2) * (g * g)
        w -= lr * s1 / (xp.sqrt(s2) + eps)
