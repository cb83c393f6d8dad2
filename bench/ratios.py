"""Turns a pytest-benchmark JSON file into a table of ratios peer / fastconv.

    python bench/ratios.py bench/out/conv.json [--markdown]

A ratio > 1 means fastconv is faster.  Times are medians; the ratio of each
peer is taken against "fastconv" (allocating its outputs) and, where
present, "fastconv_out" (reusing them through out=).
"""
import argparse
import json
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    groups = defaultdict(dict)
    meta = {}
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        side = info.get("side") or b["params"].get("side")
        groups[b["group"]][side] = b["stats"]["median"]
        meta[b["group"]] = info
    return data.get("machine_info", {}), groups, meta


def table(groups, meta, markdown):
    sides = sorted({s for g in groups.values() for s in g} - {"fastconv", "fastconv_out"})
    head = ["workload", "fastconv ms", "out= ms", "GFLOP/s"] + [f"{s} ms" for s in sides] + \
           [f"{s}/fastconv" for s in sides]
    rows = []
    for name in sorted(groups, key=lambda g: (g.split()[0], g)):
        g = groups[name]
        fc = g.get("fastconv")
        if fc is None:
            continue
        gflop = meta[name].get("gflop")
        row = [name, f"{fc * 1e3:.3f}", f"{g['fastconv_out'] * 1e3:.3f}" if "fastconv_out" in g else "-",
               f"{gflop / fc:.0f}" if gflop else "-"]
        row += [f"{g[s] * 1e3:.3f}" if s in g else "-" for s in sides]
        row += [f"{g[s] / fc:.2f}x" if s in g else "-" for s in sides]
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
