#!/usr/bin/env bash
# The heap-security suite (tests/security/suite.c) against midl-alloc's
# default and checked builds (the malloc override, LD_PRELOAD), glibc's
# malloc, Debian's mimalloc (libmimalloc2.0) and snmalloc's checks build
# (libsnmallocshim-checks, SNMALLOC_CHECK_CLIENT, compiled here from the
# sources of the snmalloc-sys crate the benchmarks use). Each case runs in
# its own process and is classified (see suite.c): detected / stopped /
# refused / missed (corrupt). Writes results/security.md (OUT= to write
# elsewhere) and exits non-zero if midl-alloc's default build misses a
# double-free or invalid-free case, or catches fewer cases than glibc.
#   ALLOCATORS="midl-alloc midl-alloc-checked glibc mimalloc snmalloc-checks"
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/security.md}
ALLOCATORS=${ALLOCATORS:-"midl-alloc midl-alloc-checked glibc mimalloc snmalloc-checks"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O1 -g -Wall -Wextra -Wno-free-nonheap-object -Wno-use-after-free -Wno-stringop-overflow -Wno-alloc-size-larger-than \
    -o "$work/suite" tests/security/suite.c -pthread
lib_of() {
    case "$1" in
        glibc) echo "" ;;
        midl-alloc)
            cargo build --release --quiet --lib --features override --target-dir target/override
            echo "$PWD/target/override/release/libmidl_alloc.so"
            ;;
        midl-alloc-checked)
            cargo build --release --quiet --lib --features override,checked --target-dir target/override-checked
            echo "$PWD/target/override-checked/release/libmidl_alloc.so"
            ;;
        mimalloc)
            ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -1 || true
            ;;
        snmalloc-checks)
            # The snmalloc sources the benchmarks build (snmalloc-sys), as
            # its CMake build makes libsnmallocshim-checks.so.
            cargo fetch --quiet
            local src
            src=$(cargo metadata --format-version 1 --locked |
                python3 -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="snmalloc-sys"))')/upstream
            g++ -std=c++20 -O2 -fPIC -shared -mcx16 -fvisibility=hidden -I "$src/src" -DSNMALLOC_CHECK_CLIENT \
                -DSNMALLOC_USE_WAIT_ON_ADDRESS=1 -DSNMALLOC_USE_PTHREAD_DESTRUCTORS -DSNMALLOC_CHECK_LOADS=false \
                -DSNMALLOC_PAGEID=false '-DSNMALLOC_EXPORT=__attribute__((visibility("default")))' \
                "$src/src/snmalloc/override/malloc.cc" "$src/src/snmalloc/override/new.cc" \
                -o "$work/libsnmallocshim-checks.so" -pthread 2>/dev/null
            echo "$work/libsnmallocshim-checks.so"
            ;;
    esac
}
declare -A libs
for a in $ALLOCATORS; do
    libs[$a]=$(lib_of "$a")
    if [ "$a" != glibc ] && [ ! -f "${libs[$a]}" ]; then
        echo "security-suite: no library for $a (mimalloc: apt-get install libmimalloc2.0)" >&2
        exit 1
    fi
done
for a in $ALLOCATORS; do echo "$a=${libs[$a]}"; done >"$work/libs"

python3 - "$work/suite" "$work/libs" "$OUT" <<'PYEOF'
import os, signal, subprocess, sys

suite, libs_file, out = sys.argv[1:4]
libs = dict(line.rstrip("\n").split("=", 1) for line in open(libs_file))
allocators = list(libs)
runs = subprocess.run([suite], capture_output=True, text=True, check=True).stdout.split()

def classify(run, lib):
    env = dict(os.environ, LIBC_FATAL_STDERR_="1", MIMALLOC_SHOW_ERRORS="1")
    if lib:
        env["LD_PRELOAD"] = lib
    try:
        p = subprocess.run([suite, run], capture_output=True, text=True, env=env, timeout=30)
    except subprocess.TimeoutExpired:
        return "hung", ""
    err = p.stderr.strip()
    first = err.splitlines()[0][:110] if err else ""
    if "END" in p.stdout.split():
        if "REFUSED all" in p.stdout:
            return "refused", "NULL"
        if err:
            return "refused", first
        return ("missed (corrupt)" if "CORRUPT" in p.stdout else "missed"), ""
    if err:
        return "detected", first
    if p.returncode < 0:
        return "stopped", signal.Signals(-p.returncode).name
    return "stopped", f"exit {p.returncode}"

results = {(r, a): classify(r, libs[a]) for r in runs for a in allocators}
CAUGHT = ("detected", "refused")

with open(out, "w") as f:
    f.write("# Heap-security suite\n\n")
    f.write("Produced by `scripts/security-suite.sh` (programs: `tests/security/suite.c`, one process per case).\n")
    f.write("detected: stopped with a message; stopped: a signal, no message; refused: went on after a message "
            "(huge sizes: every request NULL with ENOMEM); missed: ran to its end silently (corrupt: the heap then "
            "handed out a block twice or a forged pointer).\n\n")
    f.write("| allocator | caught (of %d) | detected | stopped | refused | missed | of which corrupt | "
            "double frees caught | invalid frees caught |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n" % len(runs))
    for a in allocators:
        v = [results[(r, a)][0] for r in runs]
        df = [results[(r, a)][0] for r in runs if r.startswith("double-free")]
        inv = [results[(r, a)][0] for r in runs if r.startswith("invalid-free")]
        f.write(f"| {a} | {sum(x in CAUGHT for x in v)} | {v.count('detected')} | {v.count('stopped')} | "
                f"{v.count('refused')} | {sum(x.startswith('missed') for x in v)} | {v.count('missed (corrupt)')} | "
                f"{sum(x in CAUGHT for x in df)} of {len(df)} | {sum(x in CAUGHT for x in inv)} of {len(inv)} |\n")
    f.write("\n## Every case\n\n| case | " + " | ".join(allocators) + " |\n|---|" + "---|" * len(allocators) + "\n")
    for r in runs:
        f.write(f"| {r} | " + " | ".join(results[(r, a)][0] for a in allocators) + " |\n")
    f.write("\n## Messages\n\nThe first line each allocator wrote to stderr (or the signal), for the cases of the "
            "size 8 runs and the unsized ones.\n\n| case | " + " | ".join(allocators) + " |\n|---|" +
            "---|" * len(allocators) + "\n")
    for r in runs:
        if "@" in r and not r.endswith("@8"):
            continue
        cells = [results[(r, a)][1].replace("|", "\\|") or "-" for a in allocators]
        f.write(f"| {r} | " + " | ".join(f"`{c}`" if c != "-" else c for c in cells) + " |\n")

print(open(out).read())
if "midl-alloc" in libs:
    bad = [r for r in runs if r.startswith(("double-free", "invalid-free")) and results[(r, "midl-alloc")][0] not in CAUGHT]
    if bad:
        print("security-suite: midl-alloc's default build missed:", " ".join(bad), file=sys.stderr)
        sys.exit(1)
    if "glibc" in libs:
        caught = lambda a: sum(results[(r, a)][0] in CAUGHT for r in runs)
        if caught("midl-alloc") < caught("glibc"):
            print(f"security-suite: midl-alloc caught {caught('midl-alloc')}, glibc {caught('glibc')}", file=sys.stderr)
            sys.exit(1)
PYEOF
