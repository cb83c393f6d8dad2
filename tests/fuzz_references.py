"""float64 NumPy / SciPy references for the fuzz targets' well-formed cases.

compare(case, inputs, result) raises fuzz_targets.Failure when the result
is off: exactly for max pooling (values and indices), elsewhere beyond
(n_terms + 2) * eps * the sum of absolute terms, elementwise, or normwise
for FFT methods.  Inputs with NaN / Inf / denormal / huge values are only
compared where the semantics are exact (max pooling); geometries with a
huge parameter are compared against by-definition loops that visit only
the taps inside the input.
"""
import math

import numpy as np

import reference as ref
from fuzz_targets import FINITE_FILLS, Failure


def _close(actual, expected, bound, n_terms, dtype, normwise=False, what="result", scale=0.0):
    """scale (normwise): the size of the operands' product (max |a| * sum |b|), which an FFT's rounding
    error follows even where the exact result is small or zero."""
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        raise Failure(f"{what} has shape {actual.shape}, the reference {expected.shape}")
    eps = np.finfo(dtype).eps
    if normwise:
        top = max(bound.max() if bound.size else 0.0, scale)
        bound = np.full(bound.shape, top * 4 * math.log2(bound.size + 2) if bound.size else 0.0)
    tol = 4 * (n_terms + 2) * eps * bound + np.finfo(dtype).tiny * 4
    err = np.abs(actual.astype(np.float64) - expected)
    bad = ~(err <= tol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - tol, -np.inf)), err.shape)
        raise Failure(f"{what}: {int(bad.sum())} of {err.size} elements differ from the float64 reference; "
                      f"worst at {i}: got {actual[i]!r}, expected {expected[i]!r} (tolerance {tol[i]:.3g})")


def _eval(code):
    return eval(code, {"np": np})


# ---- convolution -------------------------------------------------------------------------------------


def _taps(i, k, s, p, d, n):
    """[(tap, input index)] of output i's window that fall inside the input (any magnitudes)."""
    base = i * s - p
    lo = max(0, -(-(-base) // d)) if base < 0 else 0
    hi = min(k - 1, (n - 1 - base) // d) if n - 1 - base >= 0 else -1
    return [(r, base + r * d) for r in range(lo, hi + 1)]


def _conv_by_definition(x, w, bias, s, pads, d, G):
    """Forward convolution by its definition, for geometries with huge parameters."""
    N, C = x.shape[:2]
    K, Cg = w.shape[:2]
    nd = x.ndim - 2
    Kg = K // G
    out = [(x.shape[2 + i] + pads[i][0] + pads[i][1] - d[i] * (w.shape[2 + i] - 1) - 1) // s[i] + 1
           for i in range(nd)]
    y = np.zeros((N, K) + tuple(out))
    for pos in np.ndindex(*out):
        taps = [_taps(pos[i], w.shape[2 + i], s[i], pads[i][0], d[i], x.shape[2 + i]) for i in range(nd)]
        for combo in np.ndindex(*[len(t) for t in taps]):
            tap = tuple(taps[i][combo[i]][0] for i in range(nd))
            src = tuple(taps[i][combo[i]][1] for i in range(nd))
            for g in range(G):
                xs = x[(slice(None), slice(g * Cg, (g + 1) * Cg)) + src]          # (N, Cg)
                ws = w[(slice(g * Kg, (g + 1) * Kg), slice(None)) + tap]          # (Kg, Cg)
                y[(slice(None), slice(g * Kg, (g + 1) * Kg)) + pos] += xs @ ws.T
    if bias is not None:
        y += bias.reshape((1, K) + (1,) * nd)
    return y


def _conv(case, inp, result):
    m = case.meta
    g = m["geom"]
    if not m["finite"]:
        return
    dtype = np.dtype(m["dtype"])
    # (FFT and Winograd spread their rounding over a transform's span: normwise bounds)
    normwise = m.get("algorithm") in ("'fft'", "'winograd'")
    nd = len(g["k"])
    fn = m["fn"]

    def scale(a, b):  # the product's size that an FFT's rounding follows
        a, b = np.abs(np.asarray(a, np.float64)), np.abs(np.asarray(b, np.float64))
        return float(a.max() * b.sum()) if normwise and a.size and b.size else 0.0

    if fn == "conv_transpose2d":
        if g["big"] is not None:
            return
        x = inp["x"][None] if m["unbatched"] else inp["x"]
        w, bias = inp["w"], inp.get("bias")
        args = (g["s"], g["p"], g["op"], g["G"], g["d"])
        exp = ref.conv_transpose(x, w, bias, *args)
        bound = ref.conv_transpose(np.abs(x), np.abs(w), None if bias is None else np.abs(bias), *args)
        if m["unbatched"]:
            exp, bound = exp[0], bound[0]
        _close(result, exp, bound, (w.shape[0] // g["G"]) * int(np.prod(w.shape[2:])), dtype, normwise,
               scale=scale(x, w))
        return
    pads = g["pads"]
    if fn.endswith("_grad_input"):
        if g["big"] is not None:
            return
        w, gy = inp["w"], inp["gy"]
        args = (g["s"], pads, g["d"], g["G"])
        exp = ref.conv_grad_input(m["in_shape"], w, gy, *args)
        bound = ref.conv_grad_input(m["in_shape"], np.abs(w), np.abs(gy), *args)
        _close(result, exp, bound, (w.shape[0] // g["G"]) * int(np.prod(w.shape[2:])), dtype, normwise,
               scale=scale(gy, w))
        return
    if fn.endswith("_grad_weight"):
        if g["big"] is not None:
            return
        x, gy = inp["x"], inp["gy"]
        args = (g["s"], pads, g["d"], g["G"])
        exp = ref.conv_grad_weight(x, m["wshape"], gy, *args)
        bound = ref.conv_grad_weight(np.abs(x), m["wshape"], np.abs(gy), *args)
        _close(result, exp, bound, x.shape[0] * int(np.prod(gy.shape[2:])), dtype, normwise, scale=scale(x, gy))
        return
    x = inp["x"][None] if m["unbatched"] else inp["x"]
    w, bias = inp["w"], inp.get("bias")
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if bias is None else bias.astype(np.float64)
    if g["big"] is not None:
        exp = _conv_by_definition(x64, w64, b64, g["s"], pads, g["d"], g["G"])
        bound = _conv_by_definition(np.abs(x64), np.abs(w64), None if b64 is None else np.abs(b64), g["s"], pads,
                                    g["d"], g["G"])
    else:
        exp = ref.conv_forward(x64, w64, b64, g["s"], pads, g["d"], g["G"])
        bound = ref.conv_forward(np.abs(x64), np.abs(w64), None if b64 is None else np.abs(b64), g["s"], pads,
                                 g["d"], g["G"])
    if m["unbatched"]:
        exp, bound = exp[0], bound[0]
    _close(result, exp, bound, w.shape[1] * int(np.prod(w.shape[2:])), dtype, normwise, scale=scale(x, w))


# ---- pooling -----------------------------------------------------------------------------------------


def _as2(g, nd):
    """(k, s, p, d) as pairs: 1-D pooling is 2-D pooling of rows of height 1."""
    if nd == 2:
        return tuple(tuple(g[key]) for key in "kspd")
    return tuple((1, g[key][0]) if key != "p" else (0, g[key][0]) for key in "kspd")


def _pool_by_definition(x, k, s, p, d, ceil, kind, include=True):
    """Pooling by definition over the last two axes, visiting only the taps in the input."""
    lead, (H, W) = x.shape[:-2], x.shape[-2:]
    planes = x.reshape(-1, H, W)
    P = ref.pool_out_size(H, k[0], s[0], p[0], d[0], ceil)
    Q = ref.pool_out_size(W, k[1], s[1], p[1], d[1], ceil)
    y = np.empty((planes.shape[0], P, Q))
    idx = np.empty((planes.shape[0], P, Q), np.int64)
    for i in range(P):
        rows = _taps(i, k[0], s[0], p[0], d[0], H)
        for j in range(Q):
            cols = _taps(j, k[1], s[1], p[1], d[1], W)
            flat = [ih * W + iw for _, ih in rows for _, iw in cols]
            vals = planes.reshape(planes.shape[0], -1)[:, flat] if flat else np.zeros((planes.shape[0], 0))
            if kind == "max":
                best = np.full(planes.shape[0], -np.inf)
                bi = np.full(planes.shape[0], flat[0] if flat else -1, np.int64)
                for t, f in enumerate(flat):
                    v = vals[:, t]
                    upd = (v > best) | np.isnan(v)
                    best, bi = np.where(upd, v, best), np.where(upd, f, bi)
                y[:, i, j], idx[:, i, j] = best, bi
            else:
                y[:, i, j] = vals.sum(axis=1) / ref._avg_divisor(i, j, (H, W), k, s, p, include)
    return y.reshape(lead + (P, Q)), idx.reshape(lead + (P, Q))


def _pool(case, inp, result):
    m = case.meta
    fn = m["fn"]
    nd = 2 if "2d" in fn else 1
    dtype = np.dtype(m["dtype"])
    if fn.startswith("global_avg_pool2d"):
        if not m["finite"]:
            return
        if fn.endswith("_backward"):
            gy = inp["gy"].astype(np.float64)
            H, W = m["xshape"][-2:]
            g = gy.reshape(gy.shape[:len(m["xshape"]) - 2] + (1, 1))
            exp = np.broadcast_to(g / (H * W), m["xshape"])
            _close(result, exp, np.abs(exp), 1, dtype)
        else:
            x = inp["x"].astype(np.float64)
            exp = x.mean(axis=(-2, -1), keepdims=m["keepdims"])
            _close(result, exp, np.abs(x).mean(axis=(-2, -1), keepdims=m["keepdims"]), x.shape[-1] * x.shape[-2],
                    dtype)
        return
    g = m["geom"]
    k, s, p, d = _as2(g, nd)
    if fn.endswith("_backward"):
        if not m["finite"]:
            return
        gy = inp["gy"].astype(np.float64)
        xshape = m["xshape"]
        shape2 = xshape if nd == 2 else xshape[:-1] + (1, xshape[-1])
        gy2 = gy if nd == 2 else gy[..., None, :]
        if fn.startswith("max"):
            exp = ref.max_pool_backward(gy2, inp["idx"].reshape(gy2.shape), shape2)
            bound = ref.max_pool_backward(np.abs(gy2), inp["idx"].reshape(gy2.shape), shape2)
        elif g["big"] is not None:
            return  # (the reference visits every tap of a window: a huge one takes forever)
        else:
            exp = ref.avg_pool_backward(gy2, shape2, k, s, p, g["ceil"], m["include"])
            bound = ref.avg_pool_backward(np.abs(gy2), shape2, k, s, p, g["ceil"], m["include"])
        _close(result, exp.reshape(xshape), bound.reshape(xshape), math.prod(int(v) for v in k) * 4, dtype)
        return
    x = inp["x"].astype(np.float64)
    x2 = x if nd == 2 else x[..., None, :]
    if fn.startswith("max"):
        if g["big"] is not None:
            ey, ei = _pool_by_definition(x2, k, s, p, d, g["ceil"], "max")
        else:
            ey, ei = ref.max_pool(x2, k, s, p, d, g["ceil"])
        if nd == 1:
            ey, ei = ey[..., 0, :], ei[..., 0, :]
        y, idx = result if m["return_indices"] else (result, None)
        if y.shape != ey.shape:
            raise Failure(f"max pooling result has shape {y.shape}, the reference {ey.shape}")
        if not np.array_equal(y, ey.astype(dtype), equal_nan=True):
            bad = ~((y == ey.astype(dtype)) | (np.isnan(y) & np.isnan(ey)))
            i = np.unravel_index(np.argmax(bad), bad.shape)
            raise Failure(f"max pooling values differ from the reference at {int(bad.sum())} of {bad.size} "
                          f"outputs, first at {i}: got {y[i]!r}, expected {ey[i]!r}")
        if idx is not None and not np.array_equal(idx, ei):
            bad = idx != ei
            i = np.unravel_index(np.argmax(bad), bad.shape)
            raise Failure(f"max pooling indices differ from the reference at {int(bad.sum())} of {bad.size} "
                          f"outputs, first at {i}: got {idx[i]}, expected {ei[i]}")
        return
    if not m["finite"]:
        return
    if g["big"] is not None:
        ey, _ = _pool_by_definition(x2, k, s, p, d, g["ceil"], "avg", m["include"])
        bound, _ = _pool_by_definition(np.abs(x2), k, s, p, d, g["ceil"], "avg", m["include"])
    else:
        ey = ref.avg_pool(x2, k, s, p, g["ceil"], m["include"])
        bound = ref.avg_pool(np.abs(x2), k, s, p, g["ceil"], m["include"])
    if nd == 1:
        ey, bound = ey[..., 0, :], bound[..., 0, :]
    _close(result, ey, bound, min(math.prod(int(v) for v in k), x2.shape[-1] * x2.shape[-2]) + 2, dtype)


# ---- recurrent -----------------------------------------------------------------------------------------


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def rnn_reference(kind, x, h0, c0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    """x (T, B, I) float64: (y (T, B, H), h_T, c_T)."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    G = w_ih.shape[0] // H
    h = np.zeros((B, H)) if h0 is None else h0.reshape(B, H)
    c = np.zeros((B, H)) if c0 is None else c0.reshape(B, H)
    b_ih = np.zeros(G * H) if b_ih is None else b_ih
    b_hh = np.zeros(G * H) if b_hh is None else b_hh
    ys = []
    for t in range(T):
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        if kind == "lstm":
            a = gi + gh
            i, f, gg, o = (a[:, n * H:(n + 1) * H] for n in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
            h = _sigmoid(o) * np.tanh(c)
        elif kind == "gru":
            r = _sigmoid(gi[:, :H] + gh[:, :H])
            z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            a = gi + gh
            h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
        ys.append(h)
    return np.stack(ys), h, c


def _rnn(case, inp, result):
    m = case.meta
    g = m["geom"]
    if not m["finite"] or m["fn"].endswith("_backward"):
        return
    f = {k: (None if inp.get(k) is None else inp[k].astype(np.float64))
         for k in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")}
    x = f["x"]
    if g["cell"]:
        x = x.reshape(1, -1, g["I"])      # one step
    elif g["unbatched"]:
        x = x[:, None]                    # (T, I): one sequence, with or without batch_first
    elif g["batch_first"]:
        x = x.transpose(1, 0, 2)
    nl = eval(g["nonlinearity"]) if g["nonlinearity"] else "tanh"
    y, hT, cT = rnn_reference(g["kind"], x, f["h0"] if g["has_h0"] else None, f["c0"] if g["has_c0"] else None,
                              f["w_ih"], f["w_hh"], f["b_ih"] if g["has_b_ih"] else None,
                              f["b_hh"] if g["has_b_hh"] else None, nl)
    scale = max(1.0, float(np.abs(y).max()) if y.size else 1.0)
    n_terms = (g["I"] + g["H"] + 4) * g["T"] * 8
    dtype = np.dtype(m["dtype"])

    def chk(got, exp, what):
        _close(got, exp, np.full(exp.shape, scale), n_terms, dtype, what=what)

    if g["cell"]:
        h1 = result[0]
        chk(h1, hT[0] if g["unbatched"] else hT, "h'")
        if g["kind"] == "lstm":
            chk(result[1], cT[0] if g["unbatched"] else cT, "c'")
        return
    if g["unbatched"]:
        ey, ehT, ecT = y[:, 0], hT[0], cT[0]
    else:
        ey, ehT, ecT = (y.transpose(1, 0, 2) if g["batch_first"] else y), hT, cT
    chk(result[0], ey, "y")
    chk(result[1], ehT, "h_T")
    if g["kind"] == "lstm":
        chk(result[2], ecT, "c_T")


# ---- filtering ---------------------------------------------------------------------------------------------


def _result_dtype(*arrays):
    r = np.result_type(*(a.dtype for a in arrays))
    return np.dtype(np.int64) if r.kind == "b" else r


def _per_image(fn, in1, *rest, **kw):
    lead = in1.shape[:-2]
    outs = [fn(in1[idx], *rest, **kw) for idx in np.ndindex(*lead)] if lead else [fn(in1, *rest, **kw)]
    return np.stack(outs).reshape(lead + outs[0].shape)


def _filter(case, inp, result):
    import scipy.signal as signal

    m = case.meta
    if not m["finite"]:
        return
    fn = m["fn"]
    if fn == "signal":
        _signal(m, inp["in1"], inp["in2"], result, signal)
        return
    if fn == "fftconvolve":
        a, b = inp["in1"], inp["in2"]
        # scipy's result type: float32 only from float32 spectra, except that an axis of length 1 in
        # either input is a plain product (in1 * in2, NumPy's promotion)
        dt = signal.fftconvolve(a, b, mode=m["mode"], axes=m["axes"]).dtype
        if result.dtype != dt:
            raise Failure(f"fftconvolve returned dtype {result.dtype}, expected {dt}")
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        axes = m["axes"]
        exp = signal.fftconvolve(a64, b64, mode=m["mode"], axes=axes)
        bound = signal.fftconvolve(np.abs(a64), np.abs(b64), mode=m["mode"], axes=axes)
        n_terms = int(np.prod([b.shape[ax] for ax in (range(b.ndim) if axes is None else axes)]))
        # (an integer product, for an axis of length 1: compared at float64's precision)
        _close(result, exp, np.abs(bound), n_terms, dt if dt.kind == "f" else np.dtype(np.float64), normwise=True)
        return
    fill = float(_eval(m["fillvalue"]))
    boundary, mode = _eval(m["boundary"]), m["mode"]
    if fn == "sepfilter2d":
        img, ky, kx = inp["image"], inp["ky"], inp["kx"]
        rd = _result_dtype(img, ky, kx)
        k = np.outer(ky.astype(np.float64), kx.astype(np.float64))
        x, op, arrays = img, signal.correlate2d, (img, ky, kx)
    else:
        x, k0 = inp["in1"], inp["in2"]
        rd = _result_dtype(x, k0)
        k = k0.astype(np.float64)
        op = signal.correlate2d if fn == "correlate2d" else signal.convolve2d
        arrays = (x, k0)
    if result.dtype != rd:
        raise Failure(f"{fn} returned dtype {result.dtype}, expected {rd} (scipy's result type)")
    x64 = x.astype(np.float64)
    if rd.kind in "iu":  # scipy converts the fill value to the inputs' common type
        fill = float(np.array(fill).astype(rd))
    exp = _per_image(op, x64, k, mode=mode, boundary=boundary, fillvalue=fill)
    bound = _per_image(op, np.abs(x64), np.abs(k), mode=mode, boundary=boundary, fillvalue=abs(fill))
    cdt = np.dtype(np.float32) if rd == np.float32 else np.dtype(np.float64)
    # FFT and the SVD of separable filtering are accurate normwise, not elementwise (an SVD's rank-1
    # factors leave eps-sized values where the direct sum is exactly zero)
    normwise = m["method"] in ("'fft'", "'auto'", "'separable'")
    if rd.kind in "iu":
        # integers: rounded from the float sum, wrapped to the result type as scipy's sums are
        exp = np.rint(exp).astype(np.int64).astype(rd).astype(np.float64)
        bound = bound + 1
    # (normwise: an SVD's or FFT's rounding follows the operands' sizes even where the exact output is zero)
    scale = float(np.abs(x64).max() * np.abs(k).sum()) if normwise and x64.size else 0.0
    _close(result, exp, bound, k.size, cdt, normwise, scale=scale)


def _signal(m, a, b, result, signal):
    """convolve / correlate / oaconvolve against scipy.signal's, choose_conv_method's answer checked."""
    sf = m["sigfn"]
    if sf == "choose_conv_method":
        if result not in ("direct", "fft"):
            raise Failure(f"choose_conv_method returned {result!r}")
        return
    kw = {"method": _eval(m["method"])} if sf in ("convolve", "correlate") else {}
    if a.dtype == b.dtype == np.bool_ and kw.get("method") != "direct":
        return  # scipy's bool FFT result keeps its rounding residue (True); fastconv rounds
    try:
        exp = getattr(signal, sf)(a, b, mode=m["mode"], **kw)
    except (ValueError, IndexError):  # scipy refuses (or trips on) it: fastconv's refusal is checked elsewhere
        return
    if result.dtype != exp.dtype or result.shape != exp.shape:
        raise Failure(f"{sf} returned {result.dtype} {result.shape}, scipy {exp.dtype} {exp.shape}")
    if exp.dtype.kind in "iub":
        if not np.array_equal(result, exp):
            raise Failure(f"{sf}: integer result differs from scipy's")
        return
    single = np.dtype(np.float32) in (a.dtype, b.dtype) or np.dtype(np.complex64) in (a.dtype, b.dtype)
    tol = 1e-3 if single else 1e-8
    scale = float(np.abs(a).max() * np.abs(b).sum()) if a.size and b.size else 0.0
    err = np.abs(result.astype(np.complex128) - exp.astype(np.complex128))
    if err.size and err.max() > tol * max(scale, 1e-300) + 1e-300:
        raise Failure(f"{sf}: differs from scipy's by {err.max():.3g} (scale {scale:.3g})")


def compare(case, inputs, result):
    fam = case.meta["family"]
    if fam == "conv":
        _conv(case, inputs, result)
    elif fam == "pool":
        _pool(case, inputs, result)
    elif fam == "rnn":
        _rnn(case, inputs, result)
    elif fam == "filter":
        _filter(case, inputs, result)
    elif fam == "ndimage":
        _ndimage(case, result)


def _ndimage(case, result):
    """The same call to scipy.ndimage, on the setup run again (the same arrays): integers exactly,
    floats to rounding of the largest magnitude."""
    import scipy.ndimage

    if not case.meta["finite"]:
        return  # (SciPy's box filter spreads a NaN along its line; fastconv's keeps it in its window)
    make = _array_maker()
    # (copies: scipy.ndimage.correlate misreads some inputs whose strides are all zero)
    ns = {"np": np, "A": lambda *args: np.array(make(*args)), "fastconv": _Scipy(scipy)}
    exec("\n".join(case.setup), ns)
    exec(case.call, ns)
    exp = ns["result"]
    if result.dtype != exp.dtype or result.shape != exp.shape:
        raise Failure(f"result {result.dtype} {result.shape}, scipy.ndimage {exp.dtype} {exp.shape}")
    if exp.dtype.kind in "biu":
        view = (lambda a: a.view(np.uint8)) if exp.dtype == np.bool_ else (lambda a: a)
        if not np.array_equal(view(result), view(exp)):
            raise Failure("integer result differs from scipy.ndimage's")
        return
    if case.meta["ndfn"] == "gaussian_gradient_magnitude" and exp.dtype.kind == "c":
        # the square root of a complex sum of squares: a zero imaginary part's sign (a rounding
        # detail) picks the branch, so the squares are compared
        result, exp = result * result, exp * exp
    rtol = 1e-5 if exp.dtype in (np.float32, np.complex64) else 1e-12
    x = np.abs(np.asarray(ns["x"], dtype=complex))
    scale = max(float(np.abs(exp).max(initial=0.0)), float(x.max(initial=0.0)))
    bad = ~(np.abs(result - exp) <= rtol * (np.abs(exp) + scale) * 16)
    if bad.any():
        i = np.unravel_index(np.argmax(bad), bad.shape)
        raise Failure(f"{int(bad.sum())} elements differ from scipy.ndimage's; at {i}: got {result[i]!r}, "
                      f"expected {exp[i]!r}")


def _array_maker():
    from fuzz_targets import A

    return A


class _Scipy:
    """Stands in for the fastconv module in a case's source: fastconv.ndimage -> scipy.ndimage."""

    def __init__(self, scipy):
        self.ndimage = scipy.ndimage
