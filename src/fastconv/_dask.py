"""Dask arrays: lazy graphs whose tasks run fastconv's own functions on
blocks (NumPy blocks on the CPU, CuPy blocks on the GPU).

Every result is assembled from output blocks.  An output block reads a
window of the input: along a batch-like axis the block's own chunk
("same"), along an axis the operation reduces the whole axis ("whole": it
is rechunked to one chunk, lazily), and along a filtered axis ("window")
the inputs its outputs reach, output o reading inputs o * stride - before
... o * stride - before + extent - 1.  Where that window crosses the
array's edge, the boundary rule extends it: a fill value (padding, zeros
for convolutions), wrap (periodic) or symm (mirrored with the edge
repeated); wrap and symm windows are gathered by index from the array,
so they are exact across chunks for any kernel size.  Each task then calls
the public function on its window in 'valid' mode with the algorithm the
whole-array call would choose, so direct methods give bit-identical results
to the unchunked call, and FFT ones agree to rounding (overlap-save across
chunks, never a rechunk to one block).

Threads: a task runs fastconv on ``task_threads()`` threads: one where the
scheduler runs several tasks at once (Dask's threaded scheduler; a
distributed worker, whose nanny also sets OMP_NUM_THREADS=1 in its
process), the process-wide count under the synchronous scheduler.
"""
import functools
import itertools
import os

import numpy as np

_WINDOW, _SAME, _WHOLE = "window", "same", "whole"


def is_dask_array(a):
    t = type(a)
    return t.__name__ == "Array" and t.__module__.partition(".")[0] == "dask"


def any_dask(*arrays):
    return any(is_dask_array(a) for a in arrays)


def task_threads():
    """fastconv's thread count inside a Dask task (see the module docstring)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    if worker is not None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        limit = int(env) if env.isdigit() and int(env) > 0 else cores
        return max(1, min(limit, cores // max(1, worker.state.nthreads)))
    import dask

    scheduler = dask.config.get("scheduler", None)
    if scheduler in ("sync", "synchronous", "single-threaded"):
        return None
    return 1


def _run(fn, window, pads, fill, ranges, pad):
    """A task: the window, extended by `pads` (before, after) of `fill` per
    axis (or, with pad False, the pads given to fn), through fn, on the
    task's thread share."""
    from ._arrays import get_array_module

    if not pad:
        fn = functools.partial(fn, pads=pads)
    elif any(p != (0, 0) for p in pads):
        xp = get_array_module(window)
        fill = np.asarray(fill)
        window = xp.pad(window.astype(np.result_type(window.dtype, fill.dtype), copy=False), pads,
                        mode="constant", constant_values=fill)
    return _threaded(fn, window, ranges)


def _threaded(fn, *args):
    """fn(*args) on the task's thread share (task_threads)."""
    from . import _threads

    n = task_threads()
    if n is None:
        return fn(*args)
    with _threads.threads(n):
        return fn(*args)


def _out_ranges(in_chunks, stride, out_len):
    """Output blocks along a filtered axis: cut where the input's chunks are
    (at ceil(border / stride)), so a same-size output keeps the input's
    chunking and a strided one follows it."""
    cuts, at = set(), 0
    for c in in_chunks[:-1]:
        at += c
        o = -(-at // stride)
        if 0 < o < out_len:
            cuts.add(o)
    edges = [0] + sorted(cuts) + [out_len]
    return list(zip(edges[:-1], edges[1:]))


def _reader(a, b, n, boundary):
    """How to read input positions [a, b) of an axis of length n: (index,
    pads) with index a slice or an integer array into the axis, pads the
    (before, after) fill the task adds.  Boundaries: fill (a constant),
    wrap, symm (scipy.ndimage's reflect), mirror, nearest, clip (no
    extension)."""
    if boundary == "fill":
        lo, hi = max(a, 0), min(b, n)
        if lo >= hi:
            return slice(0, 0), (b - a, 0)
        return slice(lo, hi), (lo - a, b - hi)
    if boundary == "clip":  # the window stops at the array's edges (the caller's filter applies its own rule)
        return slice(max(a, 0), min(b, n)), (0, 0)
    pos = np.arange(a, b)
    if boundary == "wrap":
        idx = pos % n
    elif boundary == "nearest":
        idx = np.clip(pos, 0, n - 1)
    elif boundary == "mirror" and n > 1:  # mirrored about the edge element, period 2 n - 2
        m = pos % (2 * n - 2)
        idx = np.where(m < n, m, 2 * n - 2 - m)
    elif boundary == "mirror":
        idx = np.zeros_like(pos)
    else:  # symm (ndimage's reflect): mirrored with the edge repeated, period 2 n
        m = pos % (2 * n)
        idx = np.where(m < n, m, 2 * n - 1 - m)
    if idx.size and np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return slice(int(idx[0]), int(idx[0]) + idx.size), (0, 0)
    return idx, (0, 0)


def _halo_pieces(block, depths):
    """What a block's neighbours read of it: {e: piece} for each direction e
    in {-1, 0, 1}^ndim (not all 0) along which a neighbour lies, the piece
    being the block's first depths[a] elements along axis a where e[a] is
    -1 (the neighbour is before it), its last where e[a] is +1, all of it
    where e[a] is 0.  Copies: a task that receives a piece holds (or is sent)
    only that."""
    pieces = {}
    for e in itertools.product((-1, 0, 1), repeat=block.ndim):
        if not any(e) or any(ea and not d for ea, d in zip(e, depths)):
            continue
        pieces[e] = block[tuple(slice(None) if not ea else slice(0, d) if ea < 0 else slice(n - d, n)
                                for ea, d, n in zip(e, depths, block.shape))].copy()
    return pieces


def _window_part(piece, segments, ranges, xp):
    """The part [lo, hi) per axis (in the block's coordinates: the block is [0, n), its halo
    before it negative) of a block's window, from its pieces: segments[a] lists the window's
    segments along axis a as (offset, start, stop), piece(combo) the array of a combination of
    offsets.  One piece sliced where the part lies in one (no copy), else one array filled from
    the pieces it spans."""
    picks = []  # per axis: [(offset, slice into the piece, slice into the part)]
    for (lo, hi), segs in zip(ranges, segments):
        picks.append([(f, slice(max(lo, s0) - s0, min(hi, s1) - s0), slice(max(lo, s0) - lo, min(hi, s1) - lo))
                      for f, s0, s1 in segs if s0 < hi and s1 > lo])
    combos = list(itertools.product(*picks))
    if len(combos) == 1:
        return piece(tuple(c[0] for c in combos[0]))[tuple(c[1] for c in combos[0])]
    first = piece(tuple(c[0] for c in combos[0]))
    part = xp.empty(tuple(hi - lo for lo, hi in ranges), first.dtype)
    for combo in combos:
        part[tuple(c[2] for c in combo)] = piece(tuple(c[0] for c in combo))[tuple(c[1] for c in combo)]
    return part


def _halo_block(call, own, neighbours, offsets, depths):
    """One output block of _halo_exchange: the block `own` through call, where its window (own
    with the pieces of `neighbours`, one per combination of `offsets` other than all 0, in C
    order) would give the outputs, on the task's thread share.

    The outputs farther than the halo depth from every side that has a neighbour read only the
    block: call runs on the block itself (not a copy of the whole window), and the frame is
    redone from slabs of the window, each a slab of outputs with the halo around it (so their
    outputs are exact as the window's; the corners are computed by two slabs).  Where the
    block is too thin for slabs to save work (under 6 halo depths), call runs on the whole
    window, cropped."""
    from ._arrays import get_array_module

    xp = get_array_module(own)
    nd = own.ndim
    got = dict(zip((c for c in itertools.product(*offsets) if any(c)), neighbours))

    def piece(combo):
        return own if not any(combo) else got[combo][tuple(-f for f in combo)]

    n = own.shape
    segments = [[(f, -d, 0) if f < 0 else (f, 0, m) if f == 0 else (f, m, m + d) for f in offs]
                for offs, d, m in zip(offsets, depths, n)]
    lo = [-d if -1 in offs else 0 for offs, d in zip(offsets, depths)]
    hi = [m + d if 1 in offs else m for offs, d, m in zip(offsets, depths, n)]
    framed = [a for a in range(nd) if offsets[a] != [0]]
    if any(n[a] < 6 * depths[a] for a in framed):
        window = _window_part(piece, segments, list(zip(lo, hi)), xp)
        return _threaded(call, window)[tuple(slice(-a, -a + m) for a, m in zip(lo, n))]

    def run():
        y = call(own)
        for a in framed:
            d = depths[a]
            for side in (f for f in offsets[a] if f):
                # the slab of outputs [0, d) or [n - d, n) along a, all of the block along the others,
                # from the window's [-d, 2 d) or [n - 2 d, n + d) along a
                start = -d if side < 0 else n[a] - 2 * d
                ranges = [(start, start + 3 * d) if b == a else (lo[b], hi[b]) for b in range(nd)]
                ys = call(_window_part(piece, segments, ranges, xp))
                keep = tuple(slice(d, 2 * d) if b == a else slice(-lo[b], -lo[b] + n[b]) for b in range(nd))
                y[tuple(slice(0, d) if b == a and side < 0 else slice(n[a] - d, n[a]) if b == a else slice(None)
                        for b in range(nd))] = ys[keep]
        return y

    return _threaded(run)


def _needed(depths, wraps, chunks):
    """The halo depths, 0 along an axis of one chunk that does not wrap (no neighbours)."""
    return tuple(0 if len(c) == 1 and not w else d for d, w, c in zip(depths, wraps, chunks))


def _halo_exchange(call, x, depths, wraps, out_dtype):
    """halo_filter where every halo fits in the neighbouring chunk: two tasks
    per chunk, one cutting the pieces its neighbours read (_halo_pieces),
    one assembling its window from them and running call (_halo_block).
    (Dask's map_overlap cuts and joins with about a dozen tasks per chunk of
    an image, whose scheduling costs more than fastconv's filter.)  Along a
    wrap axis the neighbours are periodic; elsewhere the window stops at the
    array's edges."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    grid = x.numblocks
    # (the pieces are shared by every filter of x with the same depths)
    pieces = "fastconv-halo-pieces-" + tokenize(x.name, tuple(depths))
    name = "fastconv-halo-" + tokenize(call, x.name, tuple(depths), tuple(wraps), np.dtype(out_dtype).str)
    dsk = {}
    for b in itertools.product(*(range(n) for n in grid)):
        dsk[(pieces,) + b] = (_halo_pieces, (x.name,) + b, tuple(depths))
    for b in itertools.product(*(range(n) for n in grid)):
        offsets = []
        for a, (i, n) in enumerate(zip(b, grid)):
            has = depths[a] > 0
            before = has and (wraps[a] or i > 0)
            after = has and (wraps[a] or i < n - 1)
            offsets.append(([-1] if before else []) + [0] + ([1] if after else []))
        keys = [(pieces,) + tuple((i + f) % n for i, f, n in zip(b, combo, grid))
                for combo in itertools.product(*offsets) if any(combo)]
        dsk[(name,) + b] = (_halo_block, call, (x.name,) + b, keys, offsets, tuple(depths))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    meta = da.utils.meta_from_array(x, ndim=x.ndim, dtype=out_dtype)
    return da.Array(graph, name, x.chunks, meta=meta)


def blockwise(fn, x, specs, out_dtype, fill=0, pad=True):
    """A lazy Dask array of fn's outputs over x's blocks.  specs, one per axis
    of x: (_SAME,), (_WHOLE, out_len) or (_WINDOW, before, stride, extent,
    out_len, boundary).  fn(window, ranges) returns the output block, ranges
    being the block's (start, stop) along each output axis; with pad False
    the window is not extended by the fill and fn(window, ranges, pads=)
    receives the (before, after) extension per axis instead (for kernels
    that take their own padding)."""
    import dask
    import dask.array as da

    whole = {i: -1 for i, s in enumerate(specs) if s[0] == _WHOLE}
    if whole:
        x = x.rechunk(whole)
    axes = []  # per axis: [(out_start, out_stop, index, pads)]
    for axis, s in enumerate(specs):
        n = x.shape[axis]
        if s[0] == _SAME:
            starts = np.cumsum((0,) + x.chunks[axis])
            axes.append([(int(a), int(a) + c, slice(int(a), int(a) + c), (0, 0))
                         for a, c in zip(starts, x.chunks[axis])])
        elif s[0] == _WHOLE:
            axes.append([(0, s[1], slice(0, n), (0, 0))])
        else:
            _, before, stride, extent, out_len, boundary = s
            blocks = []
            for o0, o1 in _out_ranges(x.chunks[axis], stride, out_len):
                a, b = o0 * stride - before, (o1 - 1) * stride - before + extent
                blocks.append((o0, o1) + _reader(a, b, n, boundary))
            axes.append(blocks)
    meta = da.utils.meta_from_array(x, ndim=x.ndim, dtype=out_dtype)
    task = dask.delayed(_run, pure=True)

    def block(combo):
        window = x
        basic = tuple(c[2] if isinstance(c[2], slice) else slice(None) for c in combo)
        window = window[basic]
        for axis, c in enumerate(combo):
            if not isinstance(c[2], slice):
                window = window[(slice(None),) * axis + (c[2],)]
        ranges = tuple((c[0], c[1]) for c in combo)
        shape = tuple(c[1] - c[0] for c in combo)
        value = task(fn, window, tuple(c[3] for c in combo), fill, ranges, pad)
        return da.from_delayed(value, shape, dtype=out_dtype, meta=meta)

    grid = [len(a) for a in axes]
    flat = [block(combo) for combo in itertools.product(*axes)]

    def nest(items, dims):
        if len(dims) == 1:
            return list(items)
        step = len(items) // dims[0]
        return [nest(items[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])]

    return da.block(nest(flat, grid))


def single_task(fn, x, shape, dtype):
    """fn(x) as one task (empty inputs and the few cases that need the
    whole array at once)."""
    import dask
    import dask.array as da

    meta = da.utils.meta_from_array(x, ndim=len(shape), dtype=dtype)
    return da.from_delayed(dask.delayed(fn, pure=True)(x), shape, dtype=dtype, meta=meta)


def not_dask(a, name):
    if is_dask_array(a):
        raise TypeError(f"{name} must be a NumPy (or CuPy) array, not a Dask array (call .compute() on it): "
                        f"kernels and weights are read whole by every task")


def on_chunks_device(a, name, x):
    """Kernel or weights a (not a Dask array) as an array of the module of
    x's chunks: a NumPy kernel goes to the device once, into the graph, when
    the chunks are CuPy arrays (and a CuPy one to the host for NumPy
    chunks), as the tasks' calls take no mix of the two.  None and Python
    scalars and sequences are left as they are."""
    from ._arrays import get_array_module, is_cupy_array, to_host

    not_dask(a, name)
    if not isinstance(a, np.ndarray) and not is_cupy_array(a):
        return a
    module = get_array_module(x._meta)
    return to_host(a) if module is np else module.asarray(a)


def _before(mode, k):
    """Inputs before output 0 that output 0 reads, for a convolution (or
    scipy.signal.correlate) of kernel length k: scipy's centring."""
    return {"full": k - 1, "same": k // 2}.get(mode, 0)


def conv_nd(call, in1, in2, mode, axes):
    """call(a, b, mode) (fftconvolve, or scipy.signal-style convolve /
    correlate with its method bound) over a Dask array in1 and a NumPy (or
    CuPy) in2: each output block from a window of in1 in 'valid' mode.
    axes: the convolved axes (None: all); along the others the operands
    broadcast (in2's length there is 1, or in1's: then each block takes its
    slice of in2).  Cases that need the whole of in1 at once (scipy's
    'valid' swap, in1 of length 1 against a longer in2) are one task."""
    from ._arrays import get_array_module
    from ._validation import signal_operand

    in2 = on_chunks_device(in2, "in2", in1)
    k = signal_operand(in2, "in2", get_array_module(in2))
    module = get_array_module(in1._meta)
    s1, s2 = in1.shape, k.shape
    # the arguments checked, and the result dtype learnt, on a small in1 with the same shape relations
    small = tuple(a if a <= b + 1 else b + 1 for a, b in zip(s1, s2)) if len(s1) == len(s2) else s1
    sample = call(module.zeros(small, in1.dtype), k, mode)
    if in1.size == 0 or k.size == 0 or in1.ndim == 0:
        return single_task(lambda a: call(a, k, mode), in1, sample.shape, sample.dtype)
    nd = in1.ndim
    conv = set(range(nd)) if axes is None else {a % nd for a in ((axes,) if np.ndim(axes) == 0 else axes)}
    conv = {a for a in conv if s1[a] != 1 and s2[a] != 1}
    if any(s1[a] == 1 and s2[a] > 1 for a in range(nd)) or (
            mode == "valid" and any(s1[a] < s2[a] for a in conv)):
        shape = tuple((s1[a] + s2[a] - 1 if mode == "full" else s1[a] if mode == "same" else abs(s1[a] - s2[a]) + 1)
                      if a in conv else max(s1[a], s2[a]) for a in range(nd))
        return single_task(lambda a: call(a, k, mode), in1, shape, sample.dtype)
    specs = []
    for a in range(nd):
        if a in conv:
            out = {"full": s1[a] + s2[a] - 1, "same": s1[a]}.get(mode, s1[a] - s2[a] + 1)
            specs.append((_WINDOW, _before(mode, s2[a]), 1, s2[a], out, "fill"))
        else:
            specs.append((_SAME,))
    sliced = [a for a in range(nd) if a not in conv and s2[a] == s1[a] > 1]

    def block(window, ranges):
        kb = k[tuple(slice(*ranges[a]) if a in sliced else slice(None) for a in range(nd))] if sliced else k
        return call(window, kb, "valid")

    return blockwise(block, in1, specs, sample.dtype, np.zeros((), sample.dtype))


def halo_filter(call, x, depths, wraps, out_dtype):
    """call(block) for scipy.ndimage-style filters over a Dask array x: each
    output block computed from its chunk plus `depths[a]` neighbours on each
    side along axis a (at least the filter's reach), the filter's own
    boundary mode applied at the array's true edges (the window stops there:
    reflect, mirror, nearest and constant need only the values near the
    edge) except for wrap axes (`wraps[a]`), whose windows are gathered
    across the array; then the halo cropped off.  The outputs a block keeps
    read only real data or the true edges, so they are those of the
    unchunked call.  Chunks thinner than the halo are first grown to it (as
    Dask's map_overlap does; the result has those chunks), except along a
    wrap axis shorter than the halo, whose windows are gathered by index."""
    if x.size == 0 or x.ndim == 0:
        return single_task(call, x, x.shape, out_dtype)
    wraps = tuple(bool(w) for w in wraps)
    if not any(w and d > n for d, w, n in zip(depths, wraps, x.shape)):
        # chunks thinner than the halo grow to it (as map_overlap's do); an axis the halo spans
        # becomes one chunk (unless it wraps), which needs no halo
        from dask.array.overlap import ensure_minimum_chunksize

        whole = [not w and d >= n for d, w, n in zip(depths, wraps, x.shape)]
        chunks = tuple((n,) if wh else ensure_minimum_chunksize(d, c) if d > min(c) else c
                       for c, d, n, wh in zip(x.chunks, depths, x.shape, whole))
        if chunks != x.chunks:
            x = x.rechunk(chunks)
        return _halo_exchange(call, x, _needed(depths, wraps, x.chunks), wraps, out_dtype)
    specs = [(_WINDOW, d, 1, 2 * d + 1, n, "wrap" if w else "clip") for d, w, n in zip(depths, wraps, x.shape)]

    def block(window, ranges):
        y = call(window)
        crop = tuple(slice(d if w else min(d, o0), (d if w else min(d, o0)) + o1 - o0)
                     for (o0, o1), d, w in zip(ranges, depths, wraps))
        return y[crop]

    return blockwise(block, x, specs, out_dtype)
