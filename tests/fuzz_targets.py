"""Hostile-argument fuzz targets for every public fastconv function.

A *case* is Python source: setup lines that build the arguments (arrays come
from ``A``, below) and one line that calls fastconv and assigns ``result``.
Running a case executes that source, so the printed source (``reproducer``)
is exactly what ran.  Hypothesis strategies (``TARGETS[name].strategy``) draw
the cases: mostly well-formed calls with small shapes, then, with some
probability per argument, hostile ones: empty / 0-d / huge (broadcast)
shapes, wrong dtypes (float16, ints, bool, complex, object, strings,
datetimes), non-contiguous, negative-stride, misaligned, read-only and
broadcast views, NaN / Inf / denormal / huge values, extreme or ill-typed
integer arguments (negative, 2**31 .. 2**64, bool, float, None, str, numpy
scalars, sequences of the wrong length), huge-but-consistent geometry
(dilation or kernel 2**40 with the padding that makes it valid), and out=
arrays of the wrong shape / dtype / type, read-only, non-contiguous or
aliasing an input.

The property (``run_case``):

* the call returns, or raises one of ``ALLOWED`` (ValueError, TypeError,
  MemoryError, OverflowError, NotImplementedError, or a subclass such as
  numpy's LinAlgError / AxisError; fastconv.ndimage also RuntimeError, the
  type scipy.ndimage raises for a bad mode, sequence or array type); any
  other exception fails, and so does a
  crash, a sanitizer report or a hang (the runner's time guard);
* a MemoryError is a failure where the case knows the problem is tiny
  (``meta["tiny"]``: a few KiB of inputs and outputs, whatever the
  parameters say);
* a returned value is made of arrays (with the dtype the documentation
  promises), None, tuples, caches, dicts, bytes, scalars; out= is returned
  itself; the inputs that are not out= are left unchanged;
* a well-formed call (``meta["clean"]``) must succeed, and where a float64
  NumPy / SciPy reference is cheap its result is compared with it (exact
  for max pooling, within a rounding bound elsewhere).

Bugs that are known and being fixed are listed in KNOWN_BUGS (issue 13):
cases they match are skipped (or not compared) unless the runner includes
them; delete an entry once its fix is merged.
"""
import inspect
import math
import os
import sys
import textwrap
import warnings
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

ALLOWED = (ValueError, TypeError, MemoryError, OverflowError, NotImplementedError)

# ---- arrays ------------------------------------------------------------------------------------------


def A(shape, dtype="float32", layout="c", fill="normal", seed=0):
    """A test array of this shape and dtype, with this memory layout and contents.

    layout: c, f (Fortran order), strided (every other element of the last
    axis), reversed (negative strides on every axis), misaligned (C order,
    one byte off the allocation), misaligned_strided, readonly, broadcast
    (zero stride on the first axis longer than 1), transposed.  Shapes of
    more than 2**16 elements are one value broadcast (read-only, strides 0).
    fill: normal, ints (-3..3), zeros, nan, inf, specials (NaN, +-Inf, -0,
    denormals, the largest finite value), denormal, huge (near the largest
    finite value), range:LO:HI (integers in [LO, HI))."""
    shape, dt = tuple(int(s) for s in shape), np.dtype(dtype)
    rng = np.random.default_rng(seed)
    n = 1
    for s in shape:
        n *= s
    if n > 1 << 16:
        return np.broadcast_to(np.zeros((), dt), shape)
    if fill.startswith("range:"):
        lo, hi = (int(v) for v in fill.split(":")[1:])
        v = rng.integers(lo, hi, n).astype(np.float64)
    elif dt.kind == "b" or fill == "ints" or dt.kind in "iumM":
        v = rng.integers(0 if dt.kind in "ub" else -3, 2 if dt.kind == "b" else 4, n).astype(np.float64)
    elif fill == "zeros":
        v = np.zeros(n)
    else:
        v = rng.standard_normal(n)
        fi = np.finfo(dt if dt.kind in "fc" else np.float64)
        if fill == "denormal":
            v = v * float(fi.tiny) / 8
        elif fill == "huge":
            v = np.sign(v) * float(fi.max) * rng.uniform(0.5, 1, n)
        elif fill in ("nan", "inf", "specials") and n:
            pool = {"nan": [np.nan], "inf": [np.inf, -np.inf],
                    "specials": [np.nan, np.inf, -np.inf, -0.0, float(fi.tiny) / 4, float(fi.max)]}[fill]
            k = int(rng.integers(1, max(1, n // 3) + 1))
            v[rng.integers(0, n, k)] = rng.choice(pool, k)
    if dt.kind == "c":
        v = v + 1j * rng.standard_normal(n)
    if dt.kind in "OSU":
        base = np.array([repr(float(t)) if dt.kind != "O" else float(t) for t in v], dtype=dt)
    elif dt.kind in "mM":
        base = v.astype(np.int64).astype(dt)
    else:
        with np.errstate(all="ignore"):
            base = v.astype(dt)
    base = base.reshape(shape)
    nd = len(shape)
    if layout in ("misaligned", "misaligned_strided") and dt.kind not in "OV" and dt.itemsize > 1:
        last = 2 * shape[-1] if layout == "misaligned_strided" and nd else (shape[-1] if nd else 1)
        full = shape[:-1] + (last,) if nd else ()
        m = int(np.prod(full))
        a = np.zeros(m * dt.itemsize + 1, np.uint8)[1:].view(dt).reshape(full)
        if layout == "misaligned_strided" and nd:
            a = a[..., ::2]
        a[...] = base
        return a
    if layout == "f" and nd >= 2:
        return np.asfortranarray(base)
    if layout == "strided" and nd:
        big = np.zeros(shape[:-1] + (2 * shape[-1],), dt)
        big[..., ::2] = base
        return big[..., ::2]
    if layout == "reversed" and nd:
        r = np.empty(shape, dt)[(slice(None, None, -1),) * nd]
        r[...] = base
        return r
    if layout == "readonly":
        base.flags.writeable = False
        return base
    if layout == "broadcast":
        for ax, s in enumerate(shape):
            if s > 1:
                return np.broadcast_to(base[(slice(None),) * ax + (slice(0, 1),)], shape)
        return base
    if layout == "transposed" and nd >= 2:
        return np.ascontiguousarray(base.T).T
    return base


# ---- cases ---------------------------------------------------------------------------------------


@dataclass
class Case:
    target: str
    setup: list          # source lines run first
    call: str            # the line under test; assigns `result`
    meta: dict = field(default_factory=dict)

    def source(self):
        return "\n".join(self.setup + [self.call])


def reproducer(case, note=""):
    """A standalone script that reruns the case (numpy and fastconv only)."""
    head = f"# fastconv fuzz reproducer, target {case.target}"
    if note:
        head += "\n" + textwrap.indent(note.strip(), "# ")
    return "\n".join([head, "import numpy as np", "import fastconv", "", inspect.getsource(A),
                      case.source(), "print(result)", ""])


HUGE_INTS = [2**31 - 1, 2**31, 2**32 + 1, 2**40, 2**53 + 1, 2**58, 2**61, 2**62 - 1, 2**62, 2**63 - 1,
             2**63, 2**64, 10**30]
NEG_INTS = [-1, -2, -2**31, -2**63, -10**30]
ODD_VALUES = ["True", "False", "1.0", "2.5", "float('nan')", "float('inf')", "None", "'2'", "'same'", "'valid'",
              "b'1'", "[]", "[1]", "[1, 2, 3]", "(1, 'a')", "(None, 1)", "np.int64(2)", "np.uint64(2**63)",
              "np.float32(1)", "np.array(2)", "np.array([1, 2])", "np.array([[1]])", "object()", "1j",
              "np.bool_(True)", "{}", "range(2)", "(2**63, 1)", "(1, -1)", "(0, 0)"]
# a huge value B makes a consistent geometry: dilation B with padding B * (k - 1) // 2, a kernel of B with
# padding B // 2, a stride of B
BIG_VALUES = [2**31 - 1, 2**31, 2**32, 2**40, 2**53, 2**58, 2**61, 2**62 - 2]
FLOATS = ["float32", "float64"]
HOSTILE_DTYPES = ["float16", "int8", "int32", "int64", "uint8", "uint64", "bool", "complex64", "complex128",
                  "object", "<U4", "|S4", "datetime64[s]", "timedelta64[s]", ">f4", ">f8", "longdouble"]
LAYOUTS = ["c", "c", "c", "strided", "reversed", "f", "misaligned", "misaligned_strided", "readonly",
           "broadcast", "transposed"]
FILLS = ["normal", "normal", "ints", "zeros", "nan", "inf", "specials", "denormal", "huge"]
FINITE_FILLS = ("normal", "ints", "zeros")


class Builder:
    """Draws one case: collects setup lines, the call, and what the checks need (meta)."""

    def __init__(self, draw, target, family):
        self.draw = draw
        self.target = target
        self.setup = []
        self.meta = {"family": family, "fn": target, "arrays": {}, "ints": [], "clean": True, "finite": True,
                     "layouts": set(), "fills": set(), "dtypes": set(), "out": None, "params": {}}
        self.evil = self.rare(45)   # a case with hostile arguments (else every argument is well-formed)

    # -- choices (all shrink towards the benign option) --
    def rare(self, percent):
        """True with about this probability (shrinks to False)."""
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def bad(self, percent):
        """Whether to make one argument hostile: never in a benign case (most cases), else with twice
        this probability; marks the case as not well-formed."""
        if self.evil and self.rare(2 * percent):
            self.hostile()
            return True
        return False

    def one(self, options):
        return self.draw(st.sampled_from(options))

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def hostile(self):
        self.meta["clean"] = False

    def line(self, text):
        self.setup.append(text)

    # -- values --
    def dtype(self, options=FLOATS, percent=6):
        if self.bad(percent):
            return self.one(HOSTILE_DTYPES)
        return self.one(options)

    def hostile_int(self):
        """Code for an integer-ish argument nobody should pass."""
        kind = self.int(0, 3)
        if kind == 0:
            v = self.one(HUGE_INTS)
        elif kind == 1:
            v = self.one(NEG_INTS + [0])
        elif kind == 2:
            return self.one(ODD_VALUES)
        else:
            v = self.one(HUGE_INTS + NEG_INTS)
            return self.one([f"np.int64({v})" if -2**63 <= v < 2**63 else repr(v),
                             f"({v}, 1)", f"[1, {v}]", f"({v},)"])
        self.meta["ints"].append(v)
        return repr(v)

    def int_arg(self, name, valid, percent=8):
        """Code for an int-or-tuple argument whose valid value is `valid` (an int or a tuple)."""
        if self.bad(percent):
            return self.hostile_int()
        vals = valid if isinstance(valid, tuple) else (valid,)
        self.meta["ints"].extend(vals)
        if isinstance(valid, tuple):
            form = self.int(0, 3)
            if form == 1 and len(set(valid)) == 1:
                return repr(valid[0])
            if form == 2:
                return repr(list(valid))
            if form == 3:
                return "(" + ", ".join(f"np.int64({v})" for v in valid) + ("," if len(valid) == 1 else "") + ")"
            return repr(tuple(valid))
        return self.one([repr(valid), f"np.int64({valid})"]) if -2**63 <= valid < 2**63 else repr(valid)

    def choice_arg(self, options, percent=6, hostile=("None", "1", "''", "'FULL'", "b'full'", "object()",
                                                       "['full']")):
        """Code for a string / bool option: one of options (Python values), or a hostile one."""
        if self.bad(percent):
            return self.one(list(hostile))
        return repr(self.one(options))

    def array(self, name, shape, dtype, fill=None, layout=None, percent=6, allow_list=True):
        """Defines `name` in the setup (an array of about this shape and dtype); returns `name`."""
        shape = tuple(shape)
        if self.bad(percent):  # a wrong shape
            self.hostile()
            how = self.int(0, 4)
            if how == 0 and shape:
                i = self.int(0, len(shape) - 1)
                shape = shape[:i] + (self.one([0, 1, 2, 7, 2**31, 2**33, 2**40]),) + shape[i + 1:]
            elif how == 1 and shape:
                shape = shape[:-1]
            elif how == 2:
                shape = shape + (self.int(1, 3),)
            elif how == 3:
                shape = ()
            else:
                shape = tuple(self.int(0, 3) for _ in range(self.int(0, 5)))
        if fill is None:
            fill = self.one(FILLS)
        if layout is None:
            layout = self.one(LAYOUTS)
        seed = self.int(0, 2**16)
        expr = f"A({shape!r}, {dtype!r}, {layout!r}, {fill!r}, {seed})"
        if allow_list and self.bad(4):  # not an ndarray at all
            self.meta["non_arrays"] = True    # (lists of float32 values become float64 arrays)
            small = math.prod(shape) <= 1 << 16   # (a list or a copy of a huge broadcast view would take minutes)
            expr = self.one(["None", "1.0", "'x'", "object()"] + ([
                f"{expr}.tolist()", f"np.asmatrix({expr})" if len(shape) == 2 else f"{expr}.tolist()",
                f"memoryview(np.ascontiguousarray({expr}))"] if small else []))
        self.line(f"{name} = {expr}")
        self.meta["arrays"][name] = {"shape": shape, "dtype": dtype, "layout": layout, "fill": fill}
        self.meta["layouts"].add(layout)
        self.meta["fills"].add(fill)
        self.meta["dtypes"].add(dtype)
        if fill not in FINITE_FILLS:
            self.meta["finite"] = False
        return name

    def out(self, shape, dtype, inputs, percent=12, name="out"):
        """Code for out=: None mostly; else an array that is right, or wrong in one way, or aliases an input."""
        if not self.rare(percent):
            return None
        kind = self.one(["fresh", "strided", "misaligned", "alias", "alias_flat", "reversed"]
                        + (["wrong_shape", "wrong_dtype", "readonly", "list", "scalar"] if self.evil else []))
        self.meta["out"] = kind
        shape = tuple(shape)
        n = int(np.prod(shape))
        if kind in ("fresh", "strided", "misaligned", "readonly", "reversed"):
            layout = {"fresh": "c"}.get(kind, kind)
            self.line(f"{name} = A({shape!r}, {dtype!r}, {layout!r}, 'normal', 1)")
            if kind == "readonly":
                self.hostile()
        elif kind in ("alias", "alias_flat"):
            src = self.one(inputs)
            info = self.meta["arrays"].get(src, {})
            fits = info.get("shape") == shape or (kind == "alias_flat" and int(np.prod(info.get("shape", ()))) >= n
                                                  and info.get("layout") in ("c", "misaligned"))
            if not fits or info.get("dtype") != dtype or info.get("layout") in ("readonly", "broadcast"):
                self.hostile()
            if kind == "alias":
                self.line(f"{name} = {src}")
            else:  # an out sharing memory with an input, reshaped
                self.line(f"{name} = {src}.reshape(-1)[:{n}].reshape({shape!r}) "
                          f"if isinstance({src}, np.ndarray) and {src}.size >= {n} else {src}")
        elif kind == "wrong_shape":
            self.hostile()
            bad = shape + (1,) if self.rare(50) else tuple(s + 1 for s in shape)
            self.line(f"{name} = A({bad!r}, {dtype!r}, 'c', 'normal', 1)")
        elif kind == "wrong_dtype":
            self.hostile()
            other = self.one([d for d in FLOATS + HOSTILE_DTYPES if d != dtype])
            self.line(f"{name} = A({shape!r}, {other!r}, 'c', 'normal', 1)")
        elif kind == "list":
            self.hostile()
            self.line(f"{name} = A({shape!r}, {dtype!r}, 'c', 'normal', 1).tolist()")
        else:
            self.hostile()
            self.line(f"{name} = 0.0")
        return name

    def case(self, call, **meta):
        self.meta.update(meta)
        geom = self.meta.get("geom")
        self.meta["big"] = bool(isinstance(geom, dict) and geom.get("big"))
        return Case(self.target, self.setup, call, self.meta)


def kwargs_code(pairs):
    return ", ".join(f"{k}={v}" for k, v in pairs if v is not ...)


# ---- convolution -------------------------------------------------------------------------------------


def _conv_geometry(b, nd, transpose=False):
    """Draws a valid convolution geometry (maybe with one axis made huge but consistent)."""
    G = b.one([1, 1, 1, 2, 3])
    Cg, Kg, N = b.int(1, 3), b.int(1, 3), b.int(1, 2)
    k = [b.int(1, 4) for _ in range(nd)]
    s = [b.int(1, 3) for _ in range(nd)]
    d = [b.int(1, 3) for _ in range(nd)]
    p = [b.int(0, 2) for _ in range(nd)]
    n = [b.int(1, 9) for _ in range(nd)]
    big = None
    if b.rare(12):  # one axis huge, the rest consistent: the output stays tiny
        ax, B, how = b.int(0, nd - 1), b.one(BIG_VALUES), b.one(["dilation", "stride", "padding_stride",
                                                                  "dilation_stride"])
        big = (ax, B, how)
        if how in ("dilation", "dilation_stride"):
            k[ax] = max(k[ax], 2)
            d[ax] = B
            p[ax] = B * (k[ax] - 1) // 2 + b.int(0, 1)
        if how in ("stride", "dilation_stride", "padding_stride"):
            s[ax] = B
        if how == "padding_stride":
            p[ax] = B // 2
    for i in range(nd):
        extent = d[i] * (k[i] - 1) + 1
        n[i] = max(n[i], extent - 2 * p[i])
    return dict(G=G, Cg=Cg, Kg=Kg, N=N, k=k, s=s, d=d, p=p, n=n, big=big)


def _conv_out(n, k, s, p, d):
    return [(n[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(len(n))]


def _padding_code(b, g, nd, allow_strings=True):
    pad = tuple(g["p"])
    if allow_strings and g["big"] is None and b.rare(15):
        if all(v == 1 for v in g["s"]) and b.rare(60):
            g["pads"] = [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(g["k"], g["d"])]
            return "'same'"
        g["p"] = [0] * nd
        g["n"] = [max(n, d * (k - 1) + 1) for n, k, d in zip(g["n"], g["k"], g["d"])]
        g["pads"] = [(0, 0)] * nd
        return "'valid'"
    g["pads"] = [(v, v) for v in pad]
    return b.int_arg("padding", pad if nd > 1 else pad[0])


def _algorithm_code(b, g=None):
    """An algorithm's code; "winograd" among the choices only for geometries it computes (3x3,
    stride 1 or 2, dilation 1, one group, top / left padding at most 2, or the 1-D ones below: others
    are a ValueError that tests/test_winograd.py checks)."""
    names = ["auto", "direct", "im2col", "fft"]
    pads = None if g is None else g.get("pads", [(v, v) for v in g["p"]])
    if g is not None and tuple(g["k"]) == (3, 3) and all(v == 1 for v in list(g["s"]) + list(g["d"])) and \
            g["G"] == 1 and all(p[0] <= 2 for p in pads):
        names.append("winograd")
    # at stride 2 (csrc/conv_winograd_s2.c): 3x3, dilation 1, one group, top / left padding at most 2
    if g is not None and tuple(g["k"]) == (3, 3) and all(v == 2 for v in g["s"]) and \
            all(v == 1 for v in g["d"]) and g["G"] == 1 and all(p[0] <= 2 for p in pads):
        names.append("winograd")
    # the 1-D Winograd (csrc/conv_winograd1d.c): 2 or more taps, stride 1 or dilation 1 (stride <= 8),
    # padding at most d (taps - 1)
    if g is not None and len(g["k"]) == 1 and g["k"][0] >= 2 and g["G"] == 1 and \
            (g["s"][0] == 1 or g["d"][0] == 1) and g["s"][0] <= 8 and pads[0][0] <= g["d"][0] * (g["k"][0] - 1):
        names.append("winograd")
    return b.choice_arg(names, hostile=("None", "'gemm'", "1", "'FFT'", "[]"))


def _tiny(*shapes, itemsize=8):
    total = sum(int(np.prod(s)) for s in shapes) * itemsize
    return total <= 1 << 16


def conv_forward_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"conv{nd}d", "conv")
        g = _conv_geometry(b, nd)
        dtype = b.dtype()
        pad = _padding_code(b, g, nd)
        stride = b.int_arg("stride", tuple(g["s"]) if nd > 1 else g["s"][0])
        dil = b.int_arg("dilation", tuple(g["d"]) if nd > 1 else g["d"][0])
        groups = b.int_arg("groups", g["G"], percent=5)
        C, K = g["Cg"] * g["G"], g["Kg"] * g["G"]
        unbatched = b.rare(15)
        xshape = ((C,) if unbatched else (g["N"], C)) + tuple(g["n"])
        x = b.array("x", xshape, dtype)
        w = b.array("w", (K, g["Cg"]) + tuple(g["k"]), b.dtype([dtype], percent=3))
        bias = b.array("bias", (K,), dtype) if b.rare(40) else "None"
        pads = g["pads"]
        out_sp = [(g["n"][i] + pads[i][0] + pads[i][1] - g["d"][i] * (g["k"][i] - 1) - 1) // g["s"][i] + 1
                  for i in range(nd)]
        yshape = ((K,) if unbatched else (g["N"], K)) + tuple(out_sp)
        out = b.out(yshape, dtype, ["x", "w"])
        algo = _algorithm_code(b, g)
        kw = kwargs_code([("bias", bias), ("stride", stride), ("padding", pad), ("dilation", dil),
                          ("groups", groups), ("algorithm", algo), ("out", out or ...)])
        call = f"result = fastconv.conv{nd}d(x, w, {kw})"
        return b.case(call, geom=g, yshape=yshape, dtype=dtype, unbatched=unbatched, algorithm=algo,
                      tiny=_tiny(xshape, yshape, (K, g["Cg"]) + tuple(g["k"])) and g["big"] is not None,
                      out_dtype=dtype)
    return strat()


def conv_grad_input_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"conv{nd}d_grad_input", "conv")
        g = _conv_geometry(b, nd)
        dtype = b.dtype()
        pad = _padding_code(b, g, nd)
        stride = b.int_arg("stride", tuple(g["s"]) if nd > 1 else g["s"][0])
        dil = b.int_arg("dilation", tuple(g["d"]) if nd > 1 else g["d"][0])
        groups = b.int_arg("groups", g["G"], percent=5)
        C, K = g["Cg"] * g["G"], g["Kg"] * g["G"]
        in_shape = (g["N"], C) + tuple(g["n"])
        pads = g["pads"]
        out_sp = [(g["n"][i] + pads[i][0] + pads[i][1] - g["d"][i] * (g["k"][i] - 1) - 1) // g["s"][i] + 1
                  for i in range(nd)]
        yshape = (g["N"], K) + tuple(out_sp)
        if b.bad(8):
            shape_code = b.one([f"{in_shape[:-1]!r}", f"{in_shape + (1,)!r}", "None", "3", "'abc'",
                                f"({g['N']}, {C}) + ({2**62},) * {nd}", f"({g['N']}, {C}) + (-1,) * {nd}",
                                f"({g['N']}, {C}) + (0,) * {nd}", f"np.array({list(in_shape)!r})",
                                f"({g['N']}, {C}) + ({2**40},) * {nd}", f"[{g['N']}, {C}] + [2.0] * {nd}"])
        else:
            shape_code = b.one([repr(in_shape), repr(list(in_shape)), f"np.array({list(in_shape)!r})"])
        w = b.array("w", (K, g["Cg"]) + tuple(g["k"]), dtype)
        gy = b.array("gy", yshape, b.dtype([dtype], percent=3))
        out = b.out(in_shape, dtype, ["w", "gy"])
        algo = _algorithm_code(b, g)
        kw = kwargs_code([("stride", stride), ("padding", pad), ("dilation", dil), ("groups", groups),
                          ("algorithm", algo), ("out", out or ...)])
        call = f"result = fastconv.conv{nd}d_grad_input({shape_code}, w, gy, {kw})"
        return b.case(call, geom=g, in_shape=in_shape, dtype=dtype, algorithm=algo,
                      tiny=_tiny(in_shape, yshape) and g["big"] is not None, out_dtype=dtype)
    return strat()


def conv_grad_weight_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"conv{nd}d_grad_weight", "conv")
        g = _conv_geometry(b, nd)
        dtype = b.dtype()
        pad = _padding_code(b, g, nd)
        stride = b.int_arg("stride", tuple(g["s"]) if nd > 1 else g["s"][0])
        dil = b.int_arg("dilation", tuple(g["d"]) if nd > 1 else g["d"][0])
        groups = b.int_arg("groups", g["G"], percent=5)
        C, K = g["Cg"] * g["G"], g["Kg"] * g["G"]
        wshape = (K, g["Cg"]) + tuple(g["k"])
        pads = g["pads"]
        out_sp = [(g["n"][i] + pads[i][0] + pads[i][1] - g["d"][i] * (g["k"][i] - 1) - 1) // g["s"][i] + 1
                  for i in range(nd)]
        yshape = (g["N"], K) + tuple(out_sp)
        if b.bad(8):
            shape_code = b.one([f"{wshape[:-1]!r}", "None", f"({K}, {g['Cg']}) + ({2**62},) * {nd}",
                                f"({K}, {g['Cg']}) + (0,) * {nd}", f"({K}, {g['Cg']}) + ({2**31},) * {nd}",
                                f"({K + 1}, {g['Cg']}) + {tuple(g['k'])!r}", "'w'"])
        else:
            shape_code = b.one([repr(wshape), repr(list(wshape))])
        x = b.array("x", (g["N"], C) + tuple(g["n"]), dtype)
        gy = b.array("gy", yshape, b.dtype([dtype], percent=3))
        out = b.out(wshape, dtype, ["x", "gy"])
        algo = _algorithm_code(b, g)
        kw = kwargs_code([("stride", stride), ("padding", pad), ("dilation", dil), ("groups", groups),
                          ("algorithm", algo), ("out", out or ...)])
        call = f"result = fastconv.conv{nd}d_grad_weight(x, {shape_code}, gy, {kw})"
        return b.case(call, geom=g, wshape=wshape, dtype=dtype, algorithm=algo,
                      tiny=_tiny(wshape, yshape, (g["N"], C) + tuple(g["n"])) and g["big"] is not None,
                      out_dtype=dtype)
    return strat()


def conv_transpose_case():
    @st.composite
    def strat(draw):
        b = Builder(draw, "conv_transpose2d", "conv")
        G = b.one([1, 1, 2])
        Cin, Coutg, N = G * b.int(1, 3), b.int(1, 3), b.int(1, 2)
        k = [b.int(1, 4) for _ in range(2)]
        s = [b.int(1, 3) for _ in range(2)]
        d = [b.int(1, 3) for _ in range(2)]
        n = [b.int(1, 6) for _ in range(2)]
        p = [b.int(0, 2) for _ in range(2)]
        op = [b.int(0, max(s[i], d[i]) - 1) for i in range(2)]
        big = None
        if b.rare(10):
            ax, B = b.int(0, 1), b.one(BIG_VALUES)
            big = (ax, B)
            how = b.one(["stride_1", "dilation_pad", "stride_pad"])
            if how == "stride_1":     # stride huge on a single row: output 1 + padding-free
                s[ax], n[ax] = B, 1
            elif how == "dilation_pad":
                k[ax], d[ax] = 2, B
                p[ax] = B // 2
            else:
                s[ax], n[ax], p[ax] = B, 2, B // 2
            op[ax] = 0
        for i in range(2):  # output size >= 1
            while (n[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 < 1:
                p[i] -= 1
        size = [(n[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 for i in range(2)]
        dtype = b.dtype()
        x_unb = b.rare(15)
        xshape = ((Cin,) if x_unb else (N, Cin)) + tuple(n)
        x = b.array("x", xshape, dtype)
        w = b.array("w", (Cin, Coutg) + tuple(k), b.dtype([dtype], percent=3))
        K = Coutg * G
        bias = b.array("bias", (K,), dtype) if b.rare(40) else "None"
        yshape = ((K,) if x_unb else (N, K)) + tuple(size)
        out = b.out(yshape, dtype, ["x", "w"])
        args = [("bias", bias), ("stride", b.int_arg("stride", tuple(s))),
                ("padding", b.int_arg("padding", tuple(p)) if not b.bad(3) else "'same'"),
                ("output_padding", b.int_arg("output_padding", tuple(op))), ("groups", b.int_arg("groups", G)),
                ("dilation", b.int_arg("dilation", tuple(d))), ("algorithm", _algorithm_code(b)),
                ("out", out or ...)]
        call = f"result = fastconv.conv_transpose2d(x, w, {kwargs_code(args)})"
        if args[2][1] == "'same'":
            b.hostile()
        return b.case(call, geom=dict(G=G, k=k, s=s, d=d, p=p, op=op, n=n, big=big), yshape=yshape, dtype=dtype,
                      unbatched=x_unb, algorithm=args[6][1],
                      tiny=big is not None and _tiny(xshape, yshape), out_dtype=dtype)
    return strat()


# ---- pooling -----------------------------------------------------------------------------------------


def _pool_out(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_geometry(b, nd, dilation=True):
    k = [b.int(1, 4) for _ in range(nd)]
    s = [b.int(1, 3) for _ in range(nd)]
    d = [b.int(1, 2) if dilation else 1 for _ in range(nd)]
    p = [b.int(0, (d[i] * (k[i] - 1) + 1) // 2) for i in range(nd)]
    n = [b.int(1, 9) for _ in range(nd)]
    big = None
    if b.rare(12):
        ax, B = b.int(0, nd - 1), b.one(BIG_VALUES)
        how = b.one(["kernel", "kernel_stride", "stride", "dilation"] if dilation else ["kernel", "kernel_stride",
                                                                                        "stride"])
        big = (ax, B, how)
        if how in ("kernel", "kernel_stride"):
            k[ax], p[ax] = B, B // 2
            d[ax] = 1
        if how in ("kernel_stride", "stride"):
            s[ax] = B
        if how == "dilation":
            k[ax], d[ax], p[ax] = 2, B, B // 2 + b.int(0, 1) * (B % 2)
    for i in range(nd):
        n[i] = max(n[i], d[i] * (k[i] - 1) + 1 - 2 * p[i])
    ceil = b.rare(40)
    return dict(k=k, s=s, d=d, p=p, n=n, big=big, ceil=ceil)


def _lead_shape(b, nd):
    how = b.int(0, 3)
    if how == 0:
        return (b.int(1, 3),)               # unbatched (C, ...)
    return (b.int(1, 2), b.int(1, 3))      # (N, C, ...)


def max_pool_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"max_pool{nd}d", "pool")
        g = _pool_geometry(b, nd)
        dtype = b.dtype()
        lead = _lead_shape(b, nd)
        x = b.array("x", lead + tuple(g["n"]), dtype)
        stride_default = b.rare(25) and g["s"] == g["k"]
        osz = tuple(_pool_out(g["n"][i], g["k"][i], g["s"][i], g["p"][i], g["d"][i], g["ceil"]) for i in range(nd))
        yshape = lead + osz
        ri = b.rare(40)
        out = None
        if b.rare(12):
            if ri:
                b.line(f"out = (A({yshape!r}, {dtype!r}, 'c', 'normal', 1), A({yshape!r}, 'int64', 'c', 'ints', 2))")
                if b.bad(30):
                    b.line(f"out = {b.one(['(out[0],)', 'out[0]', '(out[1], out[0])', '(out[0], x)', 'list(out)'])}")
                out = "out"
                b.meta["out"] = "pair"
            else:
                out = b.out(yshape, dtype, ["x"], percent=101)
        v = lambda key: tuple(g[key]) if nd > 1 else g[key][0]  # noqa: E731
        args = [("kernel_size", b.int_arg("kernel_size", v("k"))),
                ("stride", "None" if stride_default else b.int_arg("stride", v("s"))),
                ("padding", b.int_arg("padding", v("p"))),
                ("ceil_mode", b.choice_arg([g["ceil"]], hostile=("None", "1", "'yes'", "np.bool_(True)"))),
                ("return_indices", b.choice_arg([ri], hostile=("None", "0", "'no'", "np.bool_(False)"))),
                ("dilation", b.int_arg("dilation", v("d"))), ("out", out or ...)]
        call = f"result = fastconv.max_pool{nd}d(x, {kwargs_code(args)})"
        return b.case(call, geom=g, yshape=yshape, dtype=dtype, return_indices=ri,
                      tiny=g["big"] is not None and _tiny(lead + tuple(g["n"]), yshape), out_dtype=dtype)
    return strat()


def avg_pool_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"avg_pool{nd}d", "pool")
        g = _pool_geometry(b, nd, dilation=False)
        for i in range(nd):  # avg pooling: padding at most half the kernel
            g["p"][i] = min(g["p"][i], g["k"][i] // 2)
            g["n"][i] = max(g["n"][i], g["k"][i] - 2 * g["p"][i])
        dtype = b.dtype()
        lead = _lead_shape(b, nd)
        x = b.array("x", lead + tuple(g["n"]), dtype)
        osz = tuple(_pool_out(g["n"][i], g["k"][i], g["s"][i], g["p"][i], 1, g["ceil"]) for i in range(nd))
        yshape = lead + osz
        out = b.out(yshape, dtype, ["x"])
        include = b.rare(50)
        v = lambda key: tuple(g[key]) if nd > 1 else g[key][0]  # noqa: E731
        args = [("kernel_size", b.int_arg("kernel_size", v("k"))), ("stride", b.int_arg("stride", v("s"))),
                ("padding", b.int_arg("padding", v("p"))),
                ("count_include_pad", b.choice_arg([not include], hostile=("None", "1", "'no'"))),
                ("ceil_mode", b.choice_arg([g["ceil"]], hostile=("None", "1", "'no'"))), ("out", out or ...)]
        call = f"result = fastconv.avg_pool{nd}d(x, {kwargs_code(args)})"
        return b.case(call, geom=g, yshape=yshape, dtype=dtype, include=not include,
                      tiny=g["big"] is not None and _tiny(lead + tuple(g["n"]), yshape), out_dtype=dtype)
    return strat()


def max_pool_backward_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"max_pool{nd}d_backward", "pool")
        g = _pool_geometry(b, nd)
        g["big"] = None
        for i in range(nd):
            g["k"][i], g["s"][i], g["d"][i] = min(g["k"][i], 4), min(g["s"][i], 3), min(g["d"][i], 2)
            g["p"][i] = min(g["p"][i], (g["d"][i] * (g["k"][i] - 1) + 1) // 2)
            g["n"][i] = max(min(g["n"][i], 9), g["d"][i] * (g["k"][i] - 1) + 1 - 2 * g["p"][i])
        dtype = b.dtype(percent=0)
        lead = _lead_shape(b, nd)
        xshape = lead + tuple(g["n"])
        b.line(f"x = A({xshape!r}, {dtype!r}, 'c', {b.one(['normal', 'ints', 'nan'])!r}, {b.int(0, 999)})")
        v = lambda key: tuple(g[key]) if nd > 1 else g[key][0]  # noqa: E731
        b.line(f"y, idx = fastconv.max_pool{nd}d(x, {v('k')!r}, {v('s')!r}, {v('p')!r}, {g['ceil']!r}, True, "
               f"dilation={v('d')!r})")
        gdt = b.dtype([dtype])
        fill, layout, seed = b.one(FILLS), b.one(LAYOUTS), b.int(0, 999)
        b.meta["fills"].add(fill)
        b.meta["layouts"].add(layout)
        if fill not in FINITE_FILLS:
            b.meta["finite"] = False
        b.line(f"gy = A(y.shape, {gdt!r}, {layout!r}, {fill!r}, {seed})")
        plane = int(np.prod(g["n"]))
        if b.bad(20):
            b.line("idx = " + b.one([f"A(y.shape, 'int64', 'c', 'range:-3:{plane + 3}', 5)", f"idx + {plane}",
                                     "idx * 0 - 1", "idx * 0 + 2**62", "idx.astype(np.int32)", "idx[..., :1]",
                                     "idx.tolist()", "idx[..., ::-1]", "idx * 0 - 2**63", "y"]))
        elif b.rare(15):
            how = b.one(["reversed", "misaligned"])
            b.line(f"idx2 = A(y.shape, 'int64', {how!r}, 'zeros', 0)")
            b.line("idx2[...] = idx")
            b.line("idx = idx2")
            b.meta["layouts"].add(how)
        if b.bad(8):
            shape_code = b.one(["x.shape[:-1]", "x.shape + (1,)", "(0,) + x.shape[1:]", "x.shape[:-1] + (2**62,)",
                                "x.shape[:-1] + (2**31,)", "x.shape[:-1] + (1,)", "None", "'s'",
                                "x.shape[:-1] + (-4,)", "x.shape[:-1] + (2**40,)"])
        else:
            shape_code = b.one(["x.shape", "list(x.shape)"])
        out = b.out(xshape, dtype, ["gy", "idx"])
        call = f"result = fastconv.max_pool{nd}d_backward(gy, idx, {shape_code}{', out=' + out if out else ''})"
        return b.case(call, geom=g, dtype=dtype, xshape=xshape, out_dtype=dtype)
    return strat()


def avg_pool_backward_case(nd):
    @st.composite
    def strat(draw):
        b = Builder(draw, f"avg_pool{nd}d_backward", "pool")
        g = _pool_geometry(b, nd, dilation=False)
        for i in range(nd):
            g["p"][i] = min(g["p"][i], g["k"][i] // 2)
            g["n"][i] = max(g["n"][i], g["k"][i] - 2 * g["p"][i])
        dtype = b.dtype()
        lead = _lead_shape(b, nd)
        xshape = lead + tuple(g["n"])
        osz = tuple(_pool_out(g["n"][i], g["k"][i], g["s"][i], g["p"][i], 1, g["ceil"]) for i in range(nd))
        gy = b.array("gy", lead + osz, dtype)
        include = not b.rare(50)
        if b.bad(8):
            shape_code = b.one([f"{xshape[:-1]!r}", f"{lead + (2**62,) * nd!r}", f"{lead + (0,) * nd!r}", "None",
                                f"{lead + (2**40,) * nd!r}", f"{(99,) + xshape[1:]!r}"])
        else:
            shape_code = b.one([repr(xshape), repr(list(xshape))])
        out = b.out(xshape, dtype, ["gy"])
        v = lambda key: tuple(g[key]) if nd > 1 else g[key][0]  # noqa: E731
        args = [("stride", b.int_arg("stride", v("s"))), ("padding", b.int_arg("padding", v("p"))),
                ("count_include_pad", b.choice_arg([include], hostile=("None", "1"))),
                ("ceil_mode", b.choice_arg([g["ceil"]], hostile=("None", "1"))), ("out", out or ...)]
        call = (f"result = fastconv.avg_pool{nd}d_backward(gy, {shape_code}, {b.int_arg('kernel_size', v('k'))}, "
                f"{kwargs_code(args)})")
        return b.case(call, geom=g, dtype=dtype, xshape=xshape, include=include,
                      tiny=g["big"] is not None and _tiny(xshape, lead + osz), out_dtype=dtype)
    return strat()


@st.composite
def global_avg_pool_case(draw):
    b = Builder(draw, "global_avg_pool2d", "pool")
    dtype = b.dtype()
    shape = _lead_shape(b, 2) + (b.int(1, 6), b.int(1, 6))
    x = b.array("x", shape, dtype)
    keep = b.rare(50)
    yshape = shape[:-2] + ((1, 1) if keep else ())
    out = b.out(yshape, dtype, ["x"])
    kd = b.choice_arg([keep], hostile=("None", "1", "'yes'"))
    call = f"result = fastconv.global_avg_pool2d(x, keepdims={kd}{', out=' + out if out else ''})"
    return b.case(call, dtype=dtype, keepdims=keep, out_dtype=dtype)


@st.composite
def global_avg_pool_backward_case(draw):
    b = Builder(draw, "global_avg_pool2d_backward", "pool")
    dtype = b.dtype()
    xshape = _lead_shape(b, 2) + (b.int(1, 6), b.int(1, 6))
    keep = b.rare(50)
    gy = b.array("gy", xshape[:-2] + ((1, 1) if keep else ()), dtype)
    if b.bad(8):
        shape_code = b.one([repr(xshape[:-1]), repr(xshape[:-2] + (2**62, 2**62)), repr(xshape[:-2] + (0, 3)),
                            repr(xshape[:-2] + (2**31, 2**31)), "None", "5", repr(xshape + (1, 1)), "()",
                            repr(xshape[:-2] + (-1, -1))])
    else:
        shape_code = b.one([repr(xshape), repr(list(xshape))])
    out = b.out(xshape, dtype, ["gy"])
    call = f"result = fastconv.global_avg_pool2d_backward(gy, {shape_code}{', out=' + out if out else ''})"
    return b.case(call, dtype=dtype, xshape=xshape, out_dtype=dtype)


# ---- recurrent ----------------------------------------------------------------------------------------

_RNN_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _rnn_args(b, kind, cell):
    """Setup for a forward: returns (code of the argument list, geometry)."""
    T = 1 if cell else b.int(1, 4)
    B, I, H = b.int(1, 3), b.int(1, 4), b.int(1, 4)
    G = _RNN_GATES[kind]
    dtype = b.dtype()
    bf = False if cell else b.rare(40)
    unb = b.rare(20)
    if cell:
        xshape = (I,) if unb else (B, I)
    else:
        xshape = (T, I) if unb else ((B, T, I) if bf else (T, B, I))
    b.array("x", xshape, dtype)
    state = (H,) if unb else (B, H)
    h0 = b.array("h0", state, b.dtype([dtype], percent=2)) if not b.rare(30) else "None"
    c0 = "None"
    if kind == "lstm":
        c0 = b.array("c0", state, b.dtype([dtype], percent=2)) if not b.rare(30) else "None"
    b.array("w_ih", (G * H, I), b.dtype([dtype], percent=2))
    b.array("w_hh", (G * H, H), b.dtype([dtype], percent=2))
    b_ih = b.array("b_ih", (G * H,), dtype) if not b.rare(30) else "None"
    b_hh = b.array("b_hh", (G * H,), dtype) if not b.rare(30) else "None"
    if kind == "lstm":
        args = ["x", h0, c0, "w_ih", "w_hh", b_ih, b_hh]
    else:
        args = ["x", h0, "w_ih", "w_hh", b_ih, b_hh]
    extra = []
    if kind == "rnn":
        extra.append(("nonlinearity", b.choice_arg(["tanh", "relu"], hostile=("None", "'sigmoid'", "'TANH'", "1"))))
    if not cell:
        extra.append(("batch_first", b.choice_arg([bf], hostile=("None", "1", "'yes'"))))
    code = ", ".join(args) + (", " + kwargs_code(extra) if extra else "")
    geom = dict(T=T, B=B, I=I, H=H, G=G, batch_first=bf, unbatched=unb, kind=kind, cell=cell,
                nonlinearity=extra[0][1] if kind == "rnn" else None, has_h0=h0 != "None", has_c0=c0 != "None",
                has_b_ih=b_ih != "None", has_b_hh=b_hh != "None")
    return code, geom, dtype


def rnn_forward_case(kind, cell):
    name = f"{kind}_cell_forward" if cell else f"{kind}_forward"

    @st.composite
    def strat(draw):
        b = Builder(draw, name, "rnn")
        code, geom, dtype = _rnn_args(b, kind, cell)
        return b.case(f"result = fastconv.{name}({code})", geom=geom, dtype=dtype, out_dtype=dtype)
    return strat()


def rnn_backward_case(kind, cell):
    name = f"{kind}_cell_backward" if cell else f"{kind}_backward"
    fwd = f"{kind}_cell_forward" if cell else f"{kind}_forward"

    @st.composite
    def strat(draw):
        b = Builder(draw, name, "rnn")
        code, geom, dtype = _rnn_args(b, kind, cell)
        outs = {("lstm", False): "y, hT, cT, cache", ("lstm", True): "hT, cT, cache"}.get((kind, cell),
                                                                                         "hT, cache" if cell
                                                                                         else "y, hT, cache")
        b.line(f"{outs} = fastconv.{fwd}({code})")
        grads = []
        names = (["y"] if not cell else []) + ["hT"] + (["cT"] if kind == "lstm" else [])
        for n in names:
            if b.rare(20):
                grads.append("None")
                continue
            gdt = b.dtype([dtype], percent=3)
            fill, layout, seed = b.one(FILLS), b.one(LAYOUTS), b.int(0, 999)
            b.meta["fills"].add(fill)
            b.meta["layouts"].add(layout)
            if b.bad(5):
                b.line(f"g{n} = A({n}.shape + (1,), {gdt!r}, {layout!r}, {fill!r}, {seed})")
            else:
                b.line(f"g{n} = A({n}.shape, {gdt!r}, {layout!r}, {fill!r}, {seed})")
            grads.append(f"g{n}")
        cache = "cache"
        if b.bad(8):
            cache = b.one(["None", "object()", "(cache,)", "'cache'",
                           "fastconv.rnn_forward(A((2, 1, 3)), None, A((2, 3)), A((2, 2)), None, None)[2]",
                           "fastconv.gru_forward(A((2, 1, 3)), None, A((6, 3)), A((6, 2)), None, None)[2]",
                           "fastconv.lstm_forward(A((2, 1, 3)), None, None, A((8, 3)), A((8, 2)), None, None)[3]"])
        call = f"result = fastconv.{name}({', '.join(grads + [cache])})"
        return b.case(call, geom=geom, dtype=dtype, out_dtype=dtype)
    return strat()


# ---- filtering ----------------------------------------------------------------------------------------

IMAGE_DTYPES = ["float32", "float64", "float32", "float64", "int8", "int32", "int64", "uint8", "uint16", "bool"]


def _refuses_fill(b, fv, *dtypes):
    """Marks the case hostile when scipy, too, refuses the fill value: one
    that the integer result type cannot hold raises its ValueError."""
    try:
        rd = np.result_type(*(np.dtype(d) for d in dtypes))
    except (TypeError, ValueError):  # no common type (a hostile dtype): hostile already
        return
    if rd.kind == "b":  # bool images filter as integers (fastconv's reading; scipy rejects bool)
        rd = np.dtype(np.int64)
    if rd.kind in "iu" and (fv in ("float('nan')", "float('inf')", "2**70") or (rd.kind == "u" and fv == "-2")):
        b.hostile()


def filter2d_case(name):
    @st.composite
    def strat(draw):
        b = Builder(draw, name, "filter")
        lead = tuple(b.int(1, 2) for _ in range(b.one([0, 0, 1, 2])))
        H, W, kh, kw = b.int(1, 10), b.int(1, 10), b.int(1, 5), b.int(1, 5)
        mode = b.one(["full", "same", "valid"])
        swap = False
        if mode == "valid" and (H < kh or W < kw):
            if not lead and b.rare(50):  # scipy swaps the operands when in1 is the smaller in both
                H, W = min(H, kh), min(W, kw)
                swap = H <= kh and W <= kw
            H, W = (H, W) if swap else (max(H, kh), max(W, kw))
        d1, d2 = b.dtype(IMAGE_DTYPES), b.dtype(IMAGE_DTYPES)
        b.array("in1", lead + (H, W), d1)
        b.array("in2", (kh, kw), d2)
        method = b.choice_arg(["auto", "direct", "separable", "fft"], hostile=("None", "'svd'", "1", "'AUTO'"))
        boundary = b.choice_arg(["fill", "wrap", "symm", "circular", "symmetric"],
                                hostile=("None", "'reflect'", "1", "'pad'"))
        fv = b.one(["0", "0", "1.5", "-2", "np.float32(3)", "True"])
        if b.rare(10):
            fv = b.one(["float('nan')", "float('inf')", "'x'", "None", "[1]", "1j", "10**400", "np.array([1, 2])",
                        "2**70"])
            if fv not in ("float('nan')", "float('inf')", "2**70"):
                b.hostile()
            b.meta["finite"] = False
        _refuses_fill(b, fv, d1, d2)
        mode_code = b.choice_arg([mode], hostile=("None", "'FULL'", "1", "'reflect'"))
        args = [("mode", mode_code), ("boundary", boundary), ("fillvalue", fv), ("method", method)]
        call = f"result = fastconv.{name}(in1, in2, {kwargs_code(args)})"
        return b.case(call, mode=mode, method=method, boundary=boundary, fillvalue=fv, lead=lead)
    return strat()


@st.composite
def sepfilter_case(draw):
    b = Builder(draw, "sepfilter2d", "filter")
    lead = tuple(b.int(1, 2) for _ in range(b.one([0, 0, 1])))
    H, W, kh, kw = b.int(1, 10), b.int(1, 10), b.int(1, 5), b.int(1, 5)
    mode = b.one(["same", "full", "valid"])
    if mode == "valid":
        H, W = max(H, kh), max(W, kw)
    dts = [b.dtype(IMAGE_DTYPES) for _ in range(3)]
    b.array("image", lead + (H, W), dts[0])
    b.array("ky", (kh,), dts[1])
    b.array("kx", (kw,), dts[2])
    boundary = b.choice_arg(["fill", "wrap", "symm"], hostile=("None", "'reflect'", "1"))
    fv = b.one(["0", "1.5"]) if not b.rare(8) else b.one(["'x'", "None", "float('nan')", "10**400"])
    if fv not in ("0", "1.5"):
        b.meta["finite"] = False
        if fv != "float('nan')":
            b.hostile()
    _refuses_fill(b, fv, *dts)
    args = [("mode", b.choice_arg([mode], hostile=("None", "'FULL'"))), ("boundary", boundary), ("fillvalue", fv)]
    call = f"result = fastconv.sepfilter2d(image, ky, kx, {kwargs_code(args)})"
    return b.case(call, mode=mode, method="'separable'", boundary=boundary, fillvalue=fv, lead=lead)


@st.composite
def fftconvolve_case(draw):
    b = Builder(draw, "fftconvolve", "filter")
    nd = b.one([1, 2, 2, 3, 0])
    s1 = [b.int(1, 9) for _ in range(nd)]
    s2 = [b.int(1, 6) for _ in range(nd)]
    axes_choice = b.int(0, 3)
    axes = None
    if nd and axes_choice == 1:
        axes = sorted(set(b.int(0, nd - 1) for _ in range(b.int(1, nd))))
    elif nd and axes_choice == 2:
        axes = [nd - 1]
    conv_axes = list(range(nd)) if axes is None else axes
    for ax in range(nd):  # broadcast rule on the other axes
        if ax not in conv_axes and s1[ax] != s2[ax] and 1 not in (s1[ax], s2[ax]):
            s2[ax] = s1[ax]
    mode = b.one(["full", "same", "valid"])
    if mode == "valid":
        for ax in conv_axes:
            s1[ax] = max(s1[ax], s2[ax])
    if nd == 0:
        b.hostile()
    d1, d2 = b.dtype(IMAGE_DTYPES[:-1]), b.dtype(IMAGE_DTYPES[:-1])
    b.array("in1", tuple(s1), d1)
    b.array("in2", tuple(s2), d2)
    if b.bad(10):
        axes_code = b.one(["()", "[]", "5", "-1", "[0, 0]", "'0'", "[0.5]", "2**63", "np.array([0])", "[None]"])
    else:
        axes_code = "None" if axes is None else b.one([repr(axes), repr(tuple(axes))])
    mode_code = b.choice_arg([mode], hostile=("None", "'FULL'", "1"))
    call = f"result = fastconv.fftconvolve(in1, in2, mode={mode_code}, axes={axes_code})"
    return b.case(call, mode=mode, axes=axes, axes_code=axes_code, nd=nd)


@st.composite
def signal_case(draw):
    """fastconv.convolve / correlate / oaconvolve / choose_conv_method (scipy.signal's N-D functions)."""
    b = Builder(draw, "signal", "filter")
    fn = b.one(["convolve", "correlate", "convolve", "correlate", "oaconvolve", "choose_conv_method"])
    nd = b.one([1, 2, 3, 2, 0])
    s1 = [b.int(1, 8) for _ in range(nd)]
    s2 = [b.int(1, 5) for _ in range(nd)]
    mode = b.one(["full", "same", "valid"])
    if mode == "valid":
        s1 = [max(x, y) for x, y in zip(s1, s2)]
    kinds = IMAGE_DTYPES[:-1] + ["complex64", "complex128"]
    b.array("in1", tuple(s1), b.dtype(kinds))
    b.array("in2", tuple(s2), b.dtype(kinds))
    mode_code = b.choice_arg([mode], hostile=("None", "'FULL'", "1"))
    method = b.choice_arg(["auto", "direct", "fft"], hostile=("None", "'svd'", "1"))
    if fn in ("convolve", "correlate"):
        call = f"result = fastconv.{fn}(in1, in2, mode={mode_code}, method={method})"
    else:
        call = f"result = fastconv.{fn}(in1, in2, mode={mode_code})"
    return b.case(call, mode=mode, method=method, sigfn=fn, nd=nd)


ND_MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror", "grid-wrap"]
ND_FUNCTIONS = ["gaussian_filter", "gaussian_filter1d", "uniform_filter", "uniform_filter1d", "correlate1d",
                "convolve1d", "correlate", "convolve", "sobel", "prewitt", "laplace", "gaussian_laplace",
                "gaussian_gradient_magnitude", "generic_gradient_magnitude"]


@st.composite
def ndimage_case(draw):
    """fastconv.ndimage's filters, whose errors are scipy.ndimage's (RuntimeError included)."""
    b = Builder(draw, "ndimage", "ndimage")
    fn = b.one(ND_FUNCTIONS)
    nd = b.one([1, 2, 3, 2, 0])
    shape = tuple(b.int(0, 8) if b.rare(10) else b.int(1, 8) for _ in range(nd))
    axis_fns = ("gaussian_filter1d", "uniform_filter1d", "correlate1d", "convolve1d", "sobel", "prewitt")
    if nd == 0 and fn in axis_fns:  # no axis to filter along: scipy's AxisError
        b.hostile()
    dt = b.dtype(IMAGE_DTYPES + ["complex64", "complex128"])
    b.array("x", shape, dt)
    args = []
    if fn in ("gaussian_filter", "gaussian_filter1d", "gaussian_laplace", "gaussian_gradient_magnitude"):
        args.append(b.one(["1.0", "0.6", "2.5"]) if not b.bad(8) else b.one(["0", "-1.0", "'a'", "None", "[1.0] * 9"]))
    if fn in ("uniform_filter", "uniform_filter1d"):
        args.append(b.int_arg("size", b.int(1, 5)))
    if fn == "generic_gradient_magnitude":  # (the reference reads fastconv.ndimage as scipy.ndimage)
        args.append(b.one(["fastconv.ndimage.sobel", "fastconv.ndimage.prewitt"]) if not b.bad(8) else
                    b.one(["None", "1", "'sobel'"]))
    wdt = None
    if fn in ("correlate1d", "convolve1d"):
        wdt = b.dtype(["float64", "float32", "int32", "complex128"])
        args.append(b.array("w", (b.int(1, 5),), wdt))
    if fn in ("correlate", "convolve"):
        # kernels of at most 3 per axis: SciPy's N-D 'reflect' reads outside its input where a kernel
        # reaches 4n before a line of n (tests/test_ndimage.py)
        wdt = b.dtype(["float64", "float32", "complex128"])
        args.append(b.array("w", tuple(b.int(1, 3) for _ in range(nd)), wdt))
    kw = [("mode", b.choice_arg(ND_MODES, hostile=("None", "'fill'", "1", "'REFLECT'")))]
    kw.append(("cval", b.one(["0.0", "1.5", "-2"]) if not b.bad(6) else b.one(["'x'", "None", "1j", "[1.0]"])))
    if fn in axis_fns:
        kw.append(("axis", b.int_arg("axis", b.int(-nd, nd - 1) if nd else -1)))
    if fn in ("gaussian_filter", "gaussian_filter1d"):
        kw.append(("order", b.int_arg("order", b.int(0, 3))))
    if fn in ("uniform_filter1d", "correlate1d", "convolve1d") and b.rare(30):
        kw.append(("origin", b.int_arg("origin", 0)))
    out = b.out(shape, dt, ["x"])
    if out is not None:
        kw.append(("output", out))
        if wdt == "complex128" and not dt.startswith("complex"):  # a complex result in a real output
            b.hostile()
    call = f"result = fastconv.ndimage.{fn}(x, {', '.join(args + [kwargs_code(kw)]) if args else kwargs_code(kw)})"
    # (IndexError: scipy.ndimage.convolve1d reverses 0-d weights before it checks them)
    return b.case(call, also_allowed=(RuntimeError, IndexError), ndfn=fn, nd_complex=dt.startswith("complex"))


# ---- the rest of the API --------------------------------------------------------------------------------


@st.composite
def threads_case(draw):
    b = Builder(draw, "threads", "runtime")
    n = b.int_arg("n", b.int(1, 4), percent=40)
    how = b.int(0, 2)
    if how == 0:
        call = f"fastconv.set_num_threads({n}); result = fastconv.get_num_threads()"
    elif how == 1:
        call = (f"with fastconv.threads({n}):\n"
                f"    result = fastconv.conv2d(A((1, 2, 6, 6)), A((2, 2, 3, 3)), padding=1), fastconv.get_num_threads()")
    else:
        call = (f"fastconv.set_num_threads({n})\n"
                f"result = fastconv.max_pool2d(A((2, 3, 7, 7)), 2), fastconv.avg_pool1d(A((2, 9)), 3)")
    return b.case(call)


@st.composite
def wisdom_case(draw):
    b = Builder(draw, "import_fft_wisdom", "runtime")
    w = b.one(["fastconv.export_fft_wisdom()", "None", "()", "(b'', b'', b'')", "('a', 'b', 'c')", "b'x'",
               "(b'(fftw-3.3.10 fftw_wisdom (fftw_codelet_r2cf_32 0 #x1040 #x1040 #x0 #x2 #x3 #x4))', b'', b'')",
               "(b'garbage' * 100, b'(fftw', b')')", "[b'', b'', b'']", "1", "(1, 2, 3)", "(b'',) * 5"])
    if w != "fastconv.export_fft_wisdom()":
        b.hostile()
    return b.case(f"result = fastconv.import_fft_wisdom({w})")


@st.composite
def misc_case(draw):
    b = Builder(draw, "misc", "runtime")
    call = b.one(["result = fastconv.info()", "result = fastconv.last_method()",
                  "result = fastconv.get_array_module()", "result = fastconv.get_array_module(None, 1, [2])",
                  "result = fastconv.get_array_module(A((2,)), A((3,), 'int8'))",
                  "result = fastconv.get_array_module(object(), 'x', np.float32(1))",
                  "result = fastconv.export_fft_wisdom()", "result = fastconv.get_num_threads()",
                  "result = fastconv.correlate2d(A((4, 4)), A((2, 2))), fastconv.last_method()",
                  "result = fastconv.calibrate_filters(fft=False)"])
    return b.case(call)


# ---- fastconv.nn ------------------------------------------------------------------------------------------


@st.composite
def nn_case(draw):
    b = Builder(draw, "nn.Sequential", "nn")
    b.hostile()  # the layers' sizes are not made to fit each other: only the exception types are checked
    kind = b.one(["conv2d", "conv1d", "rnn", "dense", "transpose", "embedding", "sequence", "image", "functional"])
    N = b.int(1, 3)

    def ia(valid):
        return b.int_arg("p", valid, percent=10)

    fmt = b.one(["channels_first", "channels_last"])  # image layers' data_format (shapes read either way)
    df = f"data_format={fmt!r}"
    if kind == "conv2d":
        shape = (b.int(1, 3), b.int(3, 8), b.int(3, 8))
        pad = b.choice_arg(["valid", "same"], hostile=("1", "(1, 1)", "'full'", "-1", "None"), percent=15)
        layers = [f"nn.Conv2D({ia(b.int(1, 4))}, {ia(b.int(1, 3))}, strides={ia(b.int(1, 2))}, padding={pad}, "
                  f"dilation_rate={ia(1)}, activation={b.choice_arg(['relu', None, 'tanh'], hostile=('1', 'max'))}, "
                  f"{df})",
                  b.one([f"nn.MaxPool2D({ia(b.int(1, 2))}, strides={ia(1)}, padding={ia(0)}, {df})",
                         f"nn.AvgPool2D({ia(b.int(1, 2))}, {df})", f"nn.GlobalAvgPool2D({df})",
                         f"nn.BatchNorm(axis={-1 if fmt == 'channels_last' else 1})",
                         "nn.Dropout(0.5)", "nn.Activation('sigmoid')"]), "nn.Flatten()",
                  f"nn.Dense({ia(b.int(1, 4))}, activation='softmax')"]
    elif kind == "conv1d":
        shape = (b.int(1, 3), b.int(3, 12))
        layers = [f"nn.Conv1D({ia(b.int(1, 4))}, {ia(b.int(1, 3))}, strides={ia(b.int(1, 2))}, "
                  f"padding={ia(b.int(0, 1))}, {df})",
                  b.one([f"nn.MaxPool1D({ia(b.int(1, 2))}, {df})", f"nn.AvgPool1D({ia(b.int(1, 2))}, {df})",
                         f"nn.BatchNorm(axis={-1 if fmt == 'channels_last' else 1})"]),
                  "nn.Flatten()", f"nn.Dense({ia(b.int(1, 4))})"]
    elif kind == "rnn":
        shape = (b.int(1, 4), b.int(1, 4))
        cls = b.one(["SimpleRNN", "LSTM", "GRU"])
        layers = [f"nn.{cls}({ia(b.int(1, 4))}, return_sequences={b.choice_arg([True, False])})",
                  "nn.Flatten()", f"nn.Dense({ia(b.int(1, 3))})"]
    elif kind == "transpose":
        shape = (b.int(1, 3), b.int(1, 5), b.int(1, 5))
        layers = [f"nn.Conv2DTranspose({ia(b.int(1, 3))}, {ia(b.int(1, 3))}, strides={ia(b.int(1, 2))}, "
                  f"output_padding={ia(0)}, {df})", "nn.Flatten()"]
    elif kind == "sequence":  # Keras's sequence vocabulary (wrappers, reshaping, normalisation)
        shape = (b.int(1, 5), b.int(1, 4))
        cls = b.one(["LSTM", "GRU", "SimpleRNN"])
        merge = b.choice_arg(["concat", "sum", "mul", "ave"], hostile=("None", "'max'", "1"))
        layers = [b.one([f"nn.Bidirectional(nn.{cls}({ia(b.int(1, 3))}, return_sequences=True), merge_mode={merge})",
                         f"nn.{cls}({ia(b.int(1, 3))}, return_sequences=True, go_backwards=True, dropout=0.5)",
                         f"nn.TimeDistributed(nn.Dense({ia(b.int(1, 3))}))"]),
                  b.one([f"nn.UpSampling1D({ia(b.int(1, 2))})", f"nn.ZeroPadding1D({ia(b.int(0, 2))})",
                         f"nn.Cropping1D({ia(0)})", "nn.SpatialDropout1D(0.5)", "nn.LayerNormalization()",
                         "nn.PReLU()", "nn.Softmax(axis=1)"]),
                  b.one(["nn.GlobalMaxPooling1D()", "nn.GlobalAveragePooling1D()", "nn.Flatten()"]),
                  f"nn.Dense({ia(b.int(1, 3))})"]
    elif kind == "image":  # Keras's image reshaping layers
        shape = (b.int(1, 3), b.int(2, 6), b.int(2, 6))
        layers = [b.one([f"nn.UpSampling2D({ia(b.int(1, 2))}, {df})", f"nn.ZeroPadding2D({ia(b.int(0, 2))}, {df})",
                         f"nn.Cropping2D({ia(0)}, {df})", f"nn.SpatialDropout2D(0.5, {df})"]),
                  b.one([f"nn.GlobalMaxPooling2D({df})", "nn.Flatten()"]),
                  f"nn.Dense({ia(b.int(1, 3))}, activation='gelu')"]
    elif kind == "functional":  # a graph: two branches of one input, merged (their widths drawn apart)
        shape = (b.int(1, 6),)
        merge = b.one(["Add()", "Subtract()", "Multiply()", "Average()", "Concatenate()", "Concatenate(axis=1)"])
        graph = (f"inp = nn.Input(({ia(shape[0])},))\n"
                 f"left = nn.Dense({ia(b.int(1, 4))}, activation='relu')(inp)\n"
                 f"right = nn.Dense({ia(b.int(1, 4))})(nn.LayerNormalization()(inp))\n"
                 f"merged = nn.{merge}([left, right])\n"
                 f"out = nn.Dense({ia(b.int(1, 3))})(merged)")
        layers = None
    elif kind == "embedding":  # (the drawn values are rarely whole indices: mostly the ValueError)
        shape = (b.int(1, 5),)
        layers = [f"nn.Embedding({ia(b.int(1, 6))}, {ia(b.int(1, 3))})", "nn.Flatten()", f"nn.Dense({ia(b.int(1, 3))})"]
    else:
        shape = (b.int(1, 6),)
        act = b.choice_arg(["relu", "elu", "selu", "softplus", "swish"], hostile=("'mish'", "1"))
        layers = [f"nn.Dense({ia(b.int(1, 5))}, activation={act})",
                  b.one(["nn.LeakyReLU(0.2)", "nn.ELU(0.5)", "nn.ReLU()", "nn.Activation('silu')"]),
                  f"nn.Reshape(({ia(1)}, -1))", "nn.Flatten()", f"nn.Dense({ia(b.int(1, 3))})"]
    dtype = b.dtype()
    b.array("x", (N,) + shape, dtype, allow_list=False)
    b.line("import fastconv.nn as nn")
    model_dtype = b.one(["float32", "float64"])
    if layers is None:
        for line in graph.splitlines():
            b.line(line)
        b.line(f"model = nn.Model(inp, out, seed=0, dtype={model_dtype!r})")
    else:
        b.line(f"model = nn.Sequential([{', '.join(layers)}], seed=0, dtype={model_dtype!r})")
    b.meta["dtypes"].add(model_dtype)
    b.meta["pooling"] = any("Pool" in layer for layer in layers or [])
    if b.rare(50):
        call = "result = model.predict(x)"
    else:
        call = ("y = model.forward(x, training=True)\n"
                "result = y, model.backward(np.ones_like(y)), model.gradients()")
    return b.case(call)


# ---- the targets ----------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    strategy: object
    weight: float = 1.0      # relative number of examples


def _targets():
    t = []
    for nd in (1, 2):
        t += [Target(f"conv{nd}d", conv_forward_case(nd), 2), Target(f"conv{nd}d_grad_input", conv_grad_input_case(nd)),
              Target(f"conv{nd}d_grad_weight", conv_grad_weight_case(nd))]
    t.append(Target("conv_transpose2d", conv_transpose_case()))
    for nd in (1, 2):
        t += [Target(f"max_pool{nd}d", max_pool_case(nd), 2), Target(f"max_pool{nd}d_backward",
                                                                     max_pool_backward_case(nd)),
              Target(f"avg_pool{nd}d", avg_pool_case(nd)), Target(f"avg_pool{nd}d_backward", avg_pool_backward_case(nd))]
    t += [Target("global_avg_pool2d", global_avg_pool_case()),
          Target("global_avg_pool2d_backward", global_avg_pool_backward_case())]
    for kind in ("rnn", "lstm", "gru"):
        for cell in (False, True):
            t.append(Target(f"{kind}{'_cell' if cell else ''}_forward", rnn_forward_case(kind, cell), 0.5))
            t.append(Target(f"{kind}{'_cell' if cell else ''}_backward", rnn_backward_case(kind, cell), 0.5))
    t += [Target("correlate2d", filter2d_case("correlate2d"), 1.5), Target("convolve2d", filter2d_case("convolve2d")),
          Target("sepfilter2d", sepfilter_case()), Target("fftconvolve", fftconvolve_case(), 1.5),
          Target("signal", signal_case()), Target("ndimage", ndimage_case(), 1.5),
          Target("threads", threads_case(), 0.3), Target("import_fft_wisdom", wisdom_case(), 0.2),
          Target("misc", misc_case(), 0.2), Target("nn", nn_case(), 0.5)]
    return {x.name: x for x in t}


TARGETS = _targets()


# ---- known bugs (issue 13): skipped or not compared until fixed -----------------------------------------


def sanitized():
    """True in a process running under ASan / UBSan (tools/sanitize.sh)."""
    return "san.so" in os.environ.get("LD_PRELOAD", "") or os.environ.get("FASTCONV_FUZZ_SANITIZED") == "1"


def _max_int(meta):
    return max([abs(v) for v in meta["ints"] if isinstance(v, int)] + [0])


@dataclass
class KnownBug:
    row: int
    what: str
    applies: object           # meta -> bool
    gate: str = "skip"        # "skip": not run; "noref": run, result not compared


# Issue 13's rows 1-7 are fixed (tests/test_hostile.py, tests/test_hostile_py.py).
KNOWN_BUGS = [
    KnownBug(8, "fastconv.ndimage's 1-D correlations give some exact zeros the other sign than "
                "scipy.ndimage (which sums symmetric and antisymmetric kernels in its own order); equal as "
                "numbers, but generic_gradient_magnitude of a complex input takes sqrt of a negative real "
                "with that zero as its imaginary part, so +j where scipy has -j",
             lambda m: m.get("ndfn") == "generic_gradient_magnitude" and m.get("nd_complex", False), gate="noref"),
]


def known_bug(meta, gate):
    """The first known bug with this gate that the case falls under, or None."""
    for bug in KNOWN_BUGS:
        if bug.gate == gate and bug.applies(meta):
            return bug
    return None


# ---- running a case --------------------------------------------------------------------------------------


class Failure(Exception):
    """The property does not hold for a case."""


def namespace():
    import fastconv
    import fastconv.ndimage  # noqa: F401
    import fastconv.nn  # noqa: F401

    return {"np": np, "fastconv": fastconv, "A": A, "__name__": "fuzzcase"}


def _snapshot(ns):
    snap = {}
    for k, v in ns.items():
        if isinstance(v, np.ndarray) and v.dtype.kind not in "OV" and v.size <= 1 << 16:
            snap[k] = (v, v.copy())
    return snap


def _outputs(result):
    """The arrays in a result, flattened."""
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _outputs(r)]
    return []


def _check_structure(result, depth=0):
    import fastconv.rnn

    if depth > 6:
        raise Failure("result nested too deeply")
    if result is None or isinstance(result, (bool, int, float, str, bytes, dict, np.generic, type(np))):
        return
    if isinstance(result, fastconv.rnn.RecurrentCache):
        return
    if isinstance(result, np.ndarray):
        if any(s < 0 or s >= 2**62 for s in result.shape) or result.ndim > 32:
            raise Failure(f"result array of shape {result.shape}")
        return
    if isinstance(result, (tuple, list)):
        for r in result:
            _check_structure(r, depth + 1)
        return
    raise Failure(f"result of unexpected type {type(result).__name__}")


def run_case(case, include_known=False):
    """Runs one case and checks the property.  Returns an outcome string ("ok",
    "raised:<Type>", "known:<row>"); raises Failure when the property fails."""
    meta = case.meta
    if not include_known:
        bug = known_bug(meta, "skip")
        if bug is not None:
            return f"known:{bug.row}"
    ns = namespace()
    import fastconv

    threads_before = fastconv.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec("\n".join(case.setup), ns)
            except ALLOWED as e:  # a hostile argument the setup's own fastconv call rejected
                if meta["clean"] and not meta["big"] and not isinstance(e, MemoryError):
                    raise Failure(f"the well-formed setup raised {type(e).__name__}: {e}") from e
                return f"raised:{type(e).__name__}"
            except Exception as e:
                if any("fastconv." in line for line in case.setup):
                    raise Failure(f"{type(e).__name__} raised: {e}") from e
                raise RuntimeError(f"fuzzer bug, the setup of this case failed: {e!r}\n{case.source()}") from e
            snap = _snapshot(ns)
            try:
                exec(case.call, ns)
            except ALLOWED + meta.get("also_allowed", ()) as e:
                # (tiny as planned: a hostile mutation may have made an input array huge)
                small = all(v.size <= 1 << 16 for v in ns.values() if isinstance(v, np.ndarray))
                # (and as planned: a hostile argument may ask for a huge output)
                if isinstance(e, MemoryError) and meta.get("tiny") and small and meta["clean"]:
                    raise Failure(f"MemoryError on a tiny problem: {e}") from e
                # a well-formed call must succeed; with a huge (consistent) parameter it may also be refused
                # as too large, but not run out of memory when the problem is tiny (checked above)
                if meta["clean"] and not isinstance(e, MemoryError) and not (
                        meta["big"] and isinstance(e, (ValueError, OverflowError))):
                    raise Failure(f"a well-formed call raised {type(e).__name__}: {e}") from e
                return f"raised:{type(e).__name__}"
            except Failure:
                raise
            except Exception as e:
                raise Failure(f"{type(e).__name__} raised (not in the allowed set): {e}") from e
            result = ns["result"]
            _check_result(case, ns, snap, result, include_known)
            return "ok"
    finally:
        if fastconv.get_num_threads() != threads_before:
            fastconv.set_num_threads(threads_before)


def _check_result(case, ns, snap, result, include_known):
    import fuzz_references

    meta = case.meta
    _check_structure(result)
    out = ns.get("out")
    if meta.get("out") and out is not None and isinstance(out, np.ndarray):
        first = result[0] if isinstance(result, tuple) and meta.get("return_indices") else result
        if first is not out:
            raise Failure("out= was given but the result is not out")
    elif meta.get("out") == "pair" and isinstance(out, tuple):
        if not (isinstance(result, tuple) and len(result) == 2 and result[0] is out[0] and result[1] is out[1]):
            raise Failure("out=(values, indices) was given but the result is not that pair")
    dt = meta.get("out_dtype")
    if dt in FLOATS and meta["clean"]:
        main = result[0] if isinstance(result, tuple) else result
        if isinstance(main, np.ndarray) and main.dtype != np.dtype(dt):
            raise Failure(f"result dtype {main.dtype}, expected {dt}")
    # the inputs are unchanged (except out= and what shares its memory)
    outs = [o for o in _outputs(out if isinstance(out, tuple) else [out]) if isinstance(o, np.ndarray)]
    for name, (arr, copy) in snap.items():
        if name in ("out", "result") or any(np.may_share_memory(arr, o) for o in outs):
            continue
        if arr.tobytes() != copy.tobytes():
            raise Failure(f"the call modified its input {name!r}")
    if meta["clean"] and (include_known or known_bug(meta, "noref") is None):
        fuzz_references.compare(case, {k: c for k, (_, c) in snap.items()}, result)
