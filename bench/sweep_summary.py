"""Summary of a sweep run (bench/test_bench_sweep.py's JSON): per row the
ratio torch / fastconv (> 1: fastconv faster) and fastconv's time over the
row's floor; then the geometric mean of the ratios and the worst rows.

    python bench/sweep_summary.py bench/out/sweep.json [--markdown] [--worst 10]
"""
import argparse
import math

from ratios import load


def rows(groups, meta):
    out = []
    for name, sides in groups.items():
        if "fastconv" in sides and "torch" in sides:
            out.append((name, sides["fastconv"], sides["torch"], sides["torch"] / sides["fastconv"],
                        meta[name].get("floor_ms")))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worst", type=int, default=10)
    args = ap.parse_args()
    _, groups, meta = load(args.json)
    table = rows(groups, meta)
    if not table:
        print("no row has both sides (is torch installed?)")
        return
    sep = " | " if args.markdown else "  "
    head = ["row", "fastconv ms", "torch ms", "torch/fastconv", "floor ms", "fastconv/floor"]
    lines = [head] + [[n, f"{f * 1e3:.3f}", f"{t * 1e3:.3f}", f"{r:.2f}x",
                       f"{fl:.3f}" if fl else "-", f"{f * 1e3 / fl:.1f}x" if fl else "-"]
                      for n, f, t, r, fl in table]
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for line in lines[1:]:
            print("| " + sep.join(line) + " |")
    else:
        for line in lines:
            print(sep.join(line))
    geo = math.exp(sum(math.log(r) for *_, r, _ in table) / len(table))
    print(f"\n{len(table)} rows; geometric mean torch/fastconv {geo:.2f}x; "
          f"{sum(r >= 1 for *_, r, _ in table)} rows >= 1.0x")
    print(f"worst {args.worst}:")
    for n, f, t, r, fl in sorted(table, key=lambda row: row[3])[: args.worst]:
        print(f"  {r:.2f}x  {n}")


if __name__ == "__main__":
    main()
