#!/usr/bin/env python3
"""Checks the architecture rules of docs/ARCHITECTURE.md on src/:

1. a file of a layer names (`crate::<layer>`) only its own layer and the
   layers below it;
2. the modules of the crate form no import cycle: within a layer, a
   file (or a folder module, taken whole) that uses a sibling is not used
   by it, directly or through others;
3. only the platform layer (src/pal/) names `libc`;
4. `cfg(loom)` appears only in the atomics facade and the fault switches
   (src/base/sync.rs, src/base/fault.rs) and in src/lib.rs, which leaves
   the process-wide instance out of the loom build;
5. no file is longer than 600 lines and no function longer than 80.

Prints each violation as `path:line: message` and exits 1 if any.
Run: python3 scripts/check-layers.py [src-dir]
"""
import os
import re
import sys

LAYERS = ["base", "pal", "ds", "mem", "global", "api"]
RANK = {name: i for i, name in enumerate(LAYERS)}
LOOM_CFG_ALLOWED = {"base/sync.rs", "base/fault.rs", "lib.rs"}
MAX_FILE_LINES = 600
MAX_FN_LINES = 80

def rust_files(src):
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                path = os.path.join(root, f)
                yield os.path.relpath(path, src), path

def code_lines(text):
    """Lines with comments (// to the end of the line) blanked out."""
    out = []
    for line in text.split("\n"):
        i = line.find("//")
        out.append(line if i < 0 else line[:i])
    return out

def unit_of(rel):
    """(layer, unit): the unit is the file or folder module right under the
    layer folder (mem/heap/find.rs -> ("mem", "heap"))."""
    parts = rel[:-3].split("/")
    if len(parts) == 1:
        return None, parts[0]
    layer = parts[0]
    unit = parts[1]
    return layer, ("mod" if unit == "mod" else unit)

def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    src = os.path.normpath(src)
    errors = []
    edges = {}  # (layer, unit) -> {(layer, unit): (rel, line)}
    for rel, path in rust_files(src):
        text = open(path).read()
        lines = code_lines(text)
        layer, unit = unit_of(rel)
        if len(text.split("\n")) > MAX_FILE_LINES + 1:
            errors.append(f"{rel}:1: {len(text.splitlines())} lines (at most {MAX_FILE_LINES})")
        for n, line in enumerate(lines, 1):
            if re.search(r"\blibc\b", line) and layer != "pal":
                errors.append(f"{rel}:{n}: names libc outside the platform layer")
            if re.search(r"cfg\w*\s*\(\s*(not\s*\(\s*)?(all\s*\([^)]*)?loom", line) or "cfg!(loom)" in line:
                if rel not in LOOM_CFG_ALLOWED:
                    errors.append(f"{rel}:{n}: cfg(loom) outside the atomics facade and the fault switches")
            if layer is None:
                continue
            # crate::<layer>::<unit> references
            for m in re.finditer(r"crate::(\w+)(?:::(\w+))?", line):
                target, tunit = m.group(1), m.group(2)
                if target not in RANK:
                    errors.append(f"{rel}:{n}: crate::{target} is not a layer (name a layer's module)")
                    continue
                if RANK[target] > RANK[layer]:
                    errors.append(f"{rel}:{n}: {layer} uses {target}, a layer above it")
                if target == layer and tunit and tunit != unit:
                    edges.setdefault((layer, unit), {}).setdefault((layer, tunit), (rel, n))
            # super::<sibling> from a file directly under the layer folder
            depth = rel.count("/")
            if depth == 1 and not rel.endswith("/mod.rs"):
                for m in re.finditer(r"\bsuper::(\w+)", line):
                    tunit = m.group(1)
                    if tunit != unit:
                        edges.setdefault((layer, unit), {}).setdefault((layer, tunit), (rel, n))
            elif depth == 2 and rel.endswith("/mod.rs"):
                for m in re.finditer(r"\bsuper::(\w+)", line):
                    tunit = m.group(1)
                    edges.setdefault((layer, unit), {}).setdefault((layer, tunit), (rel, n))
        errors.extend(long_functions(rel, lines))
    errors.extend(cycles(edges))
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} architecture violation(s); see docs/ARCHITECTURE.md")
        return 1
    print(f"layers ok: {', '.join(LAYERS)} (each uses only those before it); no import cycle")
    return 0

def long_functions(rel, lines):
    out = []
    for n, line in enumerate(lines):
        m = re.match(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)", line)
        if not m or line.rstrip().endswith(";"):
            continue
        indent = m.group(1)
        for k in range(n, len(lines)):
            if lines[k].rstrip() == indent + "}":
                length = k - n + 1
                if length > MAX_FN_LINES:
                    out.append(f"{rel}:{n + 1}: fn {m.group(7)} is {length} lines (at most {MAX_FN_LINES})")
                break
    return out

def cycles(edges):
    out = []
    state = {}
    stack = []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in edges.get(u, {}):
            if state.get(v) == 1:
                cyc = stack[stack.index(v):] + [v]
                rel, n = edges[u][v]
                out.append(f"{rel}:{n}: import cycle: " + " -> ".join(f"{l}::{m}" for l, m in cyc))
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for u in sorted(edges):
        if u not in state:
            visit(u)
    return out

if __name__ == "__main__":
    sys.exit(main())
