#!/usr/bin/env bash
# The Windows benchmark under Wine (benches/windows/rpc_bench.c): midl-alloc
# against MIDL_user_allocate written the usual way (HeapAlloc on the process
# heap, and malloc), on the widl stubs' RPC loop and on the allocations of
# one call without the runtime. ROUNDS interleaved rounds (default 5); the
# medians and their ratios go to results/windows.md (OUT to change).
# Wine's heap is not Windows' heap: the figures say nothing about Windows.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
CALLS=${CALLS:-2000}
MICRO=${MICRO:-500000}
OUT=${OUT:-results/windows.md}
bash scripts/windows-deps.sh
bash scripts/windows.sh >/dev/null
source scripts/windows-env.sh
T=$W/bench
rm -rf "$T" && mkdir -p "$T"
widl_stubs "$T"
variants=(midl-alloc HeapAlloc malloc)
for v in "${variants[@]}"; do
    case $v in
    midl-alloc) flags=(); libs=("$W/libmidl_alloc.a" "${STATIC_LIBS[@]}") ;;
    HeapAlloc) flags=(-DUSER_HEAP); libs=() ;;
    malloc) flags=(-DUSER_MALLOC); libs=() ;;
    esac
    x86_64-w64-mingw32-gcc -std=gnu11 -O2 -Wall -Wextra -Werror "${flags[@]}" "${WINE_EH[@]}" -Iinclude -I"$T" \
        benches/windows/rpc_bench.c "$T/midltest_c.o" "$T/midltest_s.o" -o "$T/$v.exe" "${libs[@]}" \
        "${WINE_LINK[@]}"
done
export WINEDEBUG=-all WINEPREFIX="$PWD/target/wineprefix"
: >"$T/runs.txt"
for r in $(seq "$ROUNDS"); do
    for v in "${variants[@]}"; do
        (cd "$T" && timeout 600 /usr/lib/wine/wine64 "$v.exe" "$CALLS" "$MICRO") >>"$T/runs.txt"
    done
done
python3 - "$T/runs.txt" "$OUT" "$ROUNDS" "$CALLS" "$MICRO" <<'PY'
import statistics, sys, subprocess
runs, out, rounds, calls, micro = sys.argv[1], sys.argv[2], *sys.argv[3:]
data = {}
for line in open(runs):
    f = line.split()
    data.setdefault(f[0], {"stubs": [], "micro": []})
    data[f[0]]["stubs"].append(float(f[2]))
    data[f[0]]["micro"].append(float(f[4]))
med = {v: {k: statistics.median(x) for k, x in d.items()} for v, d in data.items()}
wine = subprocess.run(["/usr/lib/wine/wine64", "--version"], capture_output=True, text=True).stdout.strip()
base = med["midl-alloc"]
lines = [
    "# Windows, under Wine",
    "",
    f"`ROUNDS={rounds} CALLS={calls} MICRO={micro} bash scripts/windows-bench.sh` ({wine}, this 2-core machine;",
    f"{rounds} interleaved rounds, medians). MIDL_user_allocate / MIDL_user_free backed by midl-alloc (linked",
    "statically), by HeapAlloc on the process heap, and by malloc. **Wine's heap is not Windows' heap**: these",
    "ratios hold under Wine only; nothing here was measured on Windows.",
    "",
    "- *stubs*: a client thread calling Fetch and Send (`tests/windows/midltest.idl`) on a server in the same",
    "  process over ncalrpc, through widl's stubs and Wine's NDR engine; time per call.",
    "- *micro*: the allocations of one such call (a record, two strings, an array, a list of nodes with labels,",
    "  a blob) without the RPC runtime, allocated and freed in order; time per call.",
    "",
    "| MIDL_user_allocate | stubs, µs/call | range over rounds | midl-alloc's speed-up | micro, ns/call | midl-alloc's speed-up |",
    "|---|---|---|---|---|---|",
]
for v in ["midl-alloc", "HeapAlloc", "malloc"]:
    m = med[v]
    lo, hi = min(data[v]["stubs"]) / 1000, max(data[v]["stubs"]) / 1000
    lines.append(f"| {v} | {m['stubs']/1000:.1f} | {lo:.1f}–{hi:.1f} | {m['stubs']/base['stubs']:.2f}x | {m['micro']:.0f} | {m['micro']/base['micro']:.2f}x |")
lines += ["", "A speed-up above 1 means midl-alloc took less time. Each stub call is a round trip through Wine's",
          "ncalrpc transport; compare the stub loop's differences with its range over the rounds."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
