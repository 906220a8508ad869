#!/usr/bin/env python3
"""Writes the README's headline results, between the markers
<!-- headline:begin --> and <!-- headline:end -->, from the committed
results/compare.md (written by `cargo bench --bench compare`) and
results/instructions.md (written by scripts/instructions.sh). The README
never carries figures of its own: rerun this after either file changes.

  python3 scripts/headline.py           rewrite README.md
  python3 scripts/headline.py --check   exit 1 if README.md is not up to date (CI)
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"

# (section of compare.md, row label prefix, what the README calls it)
THROUGHPUT = [
    ("The allocator's share of a marshalling call", "marshalling path (call)",
     "marshalling call, the allocator's share (calls-only baseline subtracted)"),
    ("Throughput", "marshalling path (call)", "marshalling call, whole"),
    ("Throughput", "alloc+free 16 B", "allocate+free pair, 16 B"),
    ("Throughput", "alloc+free 4096 B", "allocate+free pair, 4 KiB"),
    ("Throughput", "producer/consumer", "producer/consumer, every free remote"),
    ("Throughput", "64 B blocks streamed", "64 B blocks streamed to another thread"),
    ("Throughput", "server in miniature", "server in miniature, 4 threads"),
    ("Throughput", "thread churn, Larson", "thread churn, Larson-style"),
    ("Throughput", "short-lived threads", "short-lived threads handing blocks on, mstress-like"),
    ("Throughput", "mixed sizes, 8 B", "mixed sizes 8 B-128 KiB, alloc-test style, 1 thread"),
    ("Throughput", "mixed sizes on 2 threads", "mixed sizes 8 B-128 KiB, 2 threads"),
    ("Throughput", "large buffers", "large buffers, 5-25 MiB, 20 live, written through"),
]
# The allocators of compare.md, midl-alloc first, and what the README calls them.
ALLOCATORS = ["midl-alloc", "mimalloc", "system", "jemalloc", "snmalloc", "tcmalloc", "rpmalloc"]
SHOWN = {a: a for a in ALLOCATORS} | {"system": "glibc"}
MEMORY = [
    ("mixed-churn", "steady mixed-size churn"),
    ("phase-shift", "size-phase shift"),
    ("thread-churn", "thread churn (one live block per thread lifetime)"),
    ("large-buffers", "large buffers, 5-25 MiB"),
]


def table_rows(text, section):
    """The rows (dicts from column header to cell) of the first table under
    `## section`."""
    m = re.search(r"^## " + re.escape(section) + r"\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        sys.exit(f"results/compare.md has no section {section!r}")
    rows = []
    for line in m.group(1).splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:]]


def find(rows, prefix, optional=False):
    for r in rows:
        if next(iter(r.values())).startswith(prefix):
            return r
    if optional:
        return None
    sys.exit(f"results/compare.md has no row {prefix!r}")


def present(compare):
    """The allocators of ALLOCATORS that results/compare.md has columns
    for (an older results file compares fewer)."""
    header = re.search(r"^\| workload \| unit \|(.*)$", compare, re.M)
    if not header:
        sys.exit("results/compare.md has no throughput table")
    cols = {c.strip() for c in header.group(1).split("|")}
    return [a for a in ALLOCATORS if a in cols]


def headline():
    compare = open(os.path.join(ROOT, "results", "compare.md")).read()
    allocators = present(compare)
    others = allocators[1:]
    # Memory: relative to glibc, so glibc's own column would be all 1.00.
    measured = [a for a in allocators if a != "system"]
    instructions = open(os.path.join(ROOT, "results", "instructions.md")).read()
    out = [
        "Ratios are midl-alloc's speed over the other's, measured in one run (above 1: midl-alloc "
        "is faster; the marshalling and threaded rows are paired round by round); from "
        "`results/compare.md` (`cargo bench --bench compare`), copied here by "
        "`python3 scripts/headline.py`.",
        "",
        "| workload |" + "".join(f" vs {SHOWN[o]} |" for o in others),
        "|---|" + "---:|" * len(others),
    ]
    for section, prefix, name in THROUGHPUT:
        r = find(table_rows(compare, section), prefix, optional=True)
        if r is None:
            continue  # a workload an older results file lacks
        out.append(f"| {name} |" + "".join(f" {r['vs ' + o]} |" for o in others))
    out += [
        "",
        "| memory workload: peak RSS relative to glibc |" + "".join(f" {SHOWN[a]} |" for a in measured),
        "|---|" + "---:|" * len(measured),
    ]
    mem = table_rows(compare, "Memory")
    for key, name in MEMORY:
        peaks = {r["allocator"]: r["peak vs system"] for r in mem if r["workload"].startswith(key)}
        if not peaks:
            continue  # a workload an older results file lacks
        out.append(f"| {name} |" + "".join(f" {peaks[a]} |" for a in measured))
    rows = table_rows(instructions, "From C, through shared libraries")
    r16 = find(rows, "16")
    out += [
        "",
        f"Instructions per 16-byte allocate+free pair from C (callgrind, `results/instructions.md`, "
        f"`scripts/instructions.sh`): midl-alloc {r16['midl-alloc']}, mimalloc {r16['mimalloc']}, "
        f"glibc {r16['glibc malloc']}.",
    ]
    return "\n".join(out)


def main():
    path = os.path.join(ROOT, "README.md")
    readme = open(path).read()
    if BEGIN not in readme or END not in readme:
        sys.exit(f"README.md lacks the markers {BEGIN} / {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + headline() + "\n" + END + tail
    if "--check" in sys.argv:
        if new != readme:
            print("README.md's headline results differ from results/: run python3 scripts/headline.py")
            return 1
        print("README.md's headline results match results/")
        return 0
    open(path, "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
