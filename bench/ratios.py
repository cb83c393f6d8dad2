"""Turns a pytest-benchmark JSON file into a table of ratios peer / fastconv.

    python bench/ratios.py bench/out/conv.json [--markdown]

A ratio > 1 means fastconv is faster.  Times are medians; the ratio of each
peer is taken against "fastconv" (allocating its outputs, as the peers do);
"out=" is fastconv reusing its outputs; other "fastconv_*" sides are other
fastconv entry points, shown in ms only.  For memory-bound workloads the
bandwidth floor (bytes moved / 44 GB/s) is shown, and fastconv's best time
as a multiple of it.
"""
import argparse
import json
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    groups = defaultdict(dict)
    meta = defaultdict(dict)
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        side = info.get("side") or b["params"].get("side")
        groups[b["group"]][side] = b["stats"]["median"]
        meta[b["group"]].update(info)
        if "accuracy" in info:  # training benchmarks: the accuracy each side reached
            meta[b["group"]].setdefault("accuracy_by_side", {})[side] = info["accuracy"]
    return data.get("machine_info", {}), groups, meta


def table(groups, meta, markdown):
    every = {s for g in groups.values() for s in g}
    sides = sorted(s for s in every if not s.startswith("fastconv"))
    variants = sorted(s for s in every if s.startswith("fastconv_") and s != "fastconv_out")
    floors = any(m.get("floor_ms") for m in meta.values())
    head = ["workload", "fastconv ms", "out= ms"] + [f"{v} ms" for v in variants] + \
           ["floor ms" if floors else "GFLOP/s"] + [f"{s} ms" for s in sides] + \
           [f"{s}/fastconv" for s in sides] + ["fastest peer/fastconv"] + (["fastconv/floor"] if floors else [])
    accuracy = any("accuracy_by_side" in m for m in meta.values())
    if accuracy:
        head += ["fastconv accuracy"] + [f"{s} accuracy" for s in sides]
    rows = []
    for name in sorted(groups, key=lambda g: (g.split()[0], g)):
        g = groups[name]
        fc = g.get("fastconv")
        if fc is None:
            continue
        gflop, floor = meta[name].get("gflop"), meta[name].get("floor_ms")
        row = [name, f"{fc * 1e3:.3f}", f"{g['fastconv_out'] * 1e3:.3f}" if "fastconv_out" in g else "-"]
        row += [f"{g[v] * 1e3:.3f}" if v in g else "-" for v in variants]
        if floors:
            row.append(f"{floor:.2f}" if floor else "-")
        else:
            row.append(f"{gflop / fc:.0f}" if gflop else "-")
        row += [f"{g[s] * 1e3:.3f}" if s in g else "-" for s in sides]
        row += [f"{g[s] / fc:.2f}x" if s in g else "-" for s in sides]
        present = [s for s in sides if s in g]
        fastest = min(present, key=g.get) if present else None
        row.append(f"{g[fastest] / fc:.2f}x ({fastest})" if fastest else "-")
        if floors:
            best = min(fc, g.get("fastconv_out", fc))
            row.append(f"{best * 1e3 / floor:.2f}x" if floor else "-")
        if accuracy:
            acc = meta[name].get("accuracy_by_side", {})
            row += [f"{acc[s]:.1%}" if s in acc else "-" for s in ["fastconv"] + sides]
        rows.append(row)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        out = ["  ".join(str(x).rjust(w) for x, w in zip(r, widths)) for r in [head] + rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    machine, groups, meta = load(args.json)
    if machine:
        cpu = machine.get("cpu", {})
        print(f"machine: {cpu.get('brand_raw', machine.get('processor', '?'))}, "
              f"{cpu.get('count', '?')} CPUs, python {machine.get('python_version', '?')}\n")
    print(table(groups, meta, args.markdown))


if __name__ == "__main__":
    main()
