#!/usr/bin/env bash
# What each mode of midl-alloc costs: instructions per 64-byte allocate+free
# pair (callgrind, examples/pair_instructions.rs) and time per operation
# (examples/mode_throughput.rs: 64-byte pairs and the marshalling path),
# for four builds of the same sources:
#   unprotected  RUSTFLAGS="--cfg midl_unprotected" (plain free-list links,
#                no free checks: measurement only, not a supported build)
#   unchecked-free  RUSTFLAGS="--cfg midl_unchecked_free" (encoded links, no
#                free checks: measurement only)
#   default      encoded links and the free checks (double, foreign and
#                interior frees detected)
#   checked      --features checked (checked mode: live-block bitmaps)
# The builds run interleaved, ROUNDS times; the best time per mode is
# reported with its ratio to the unprotected build and to the
# unchecked-free build (the cost of the free checks). Writes
# results/modes.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
N=${N:-1000000}
modes=(unprotected unchecked-free default checked)
build() { # mode
    local flags=() rustflags=""
    case "$1" in
        unprotected) rustflags="--cfg midl_unprotected" ;;
        unchecked-free) rustflags="--cfg midl_unchecked_free" ;;
        checked) flags=(--features checked) ;;
    esac
    RUSTFLAGS="$rustflags" cargo build --release --quiet --example pair_instructions --example mode_throughput \
        "${flags[@]}" --target-dir "target/modes/$1"
}
for m in "${modes[@]}"; do build "$m"; done
bin() { echo "target/modes/$1/release/examples/$2"; }
count() { # binary allocator
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*pairs_*' \
        "$1" "$2" 64 "$N" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A instr times_p times_m
for m in "${modes[@]}"; do
    b=$(bin "$m" pair_instructions)
    instr[$m]=$(python3 -c "print(f'{($(count "$b" midl) - $(count "$b" empty)) / $N:.1f}')")
done
for _ in $(seq "$ROUNDS"); do
    for m in "${modes[@]}"; do
        read -r _ p _ mm < <("$(bin "$m" mode_throughput)")
        times_p[$m]+="$p "
        times_m[$m]+="$mm "
    done
done
# The best process of the rounds: this machine's other tenants only ever slow
# a run down (and do so in spells, which a median of few rounds straddles).
best() { python3 -c "import sys; print(f'{min(map(float, sys.argv[1:])):.2f}')" $1; }
out=results/modes.md
{
    echo "# What each mode costs"
    echo
    echo "Produced by \`scripts/modes.sh\` on $(uname -m) ($(nproc) cores), $(rustc --version)."
    echo "Instructions: callgrind, 64-byte same-thread allocate+free pairs, loop overhead subtracted."
    echo "Time: examples/mode_throughput.rs, best of 7 runs per process, best of $ROUNDS interleaved processes;"
    echo "ratio = time / time of the unprotected build (1.00 = no cost); vs unchecked = time / time of the"
    echo "unchecked-free build (the cost of the free checks alone)."
    echo
    echo "| build | instructions per pair | ns per pair | ratio | vs unchecked | ns per marshalling call | ratio | vs unchecked |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    bp=$(best "${times_p[unprotected]}")
    bm=$(best "${times_m[unprotected]}")
    up=$(best "${times_p[unchecked-free]}")
    um=$(best "${times_m[unchecked-free]}")
    ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
    for m in "${modes[@]}"; do
        p=$(best "${times_p[$m]}")
        mm=$(best "${times_m[$m]}")
        echo "| $m | ${instr[$m]} | $p | $(ratio "$p" "$bp") | $(ratio "$p" "$up") | $mm | $(ratio "$mm" "$bm") | $(ratio "$mm" "$um") |"
    done
    echo
    echo "- unprotected: plain owner free-list links, no free checks (the cost baseline; \`--cfg midl_unprotected\`,"
    echo "  measurement only)."
    echo "- unchecked-free: the default without the free checks (\`--cfg midl_unchecked_free\`, measurement only)."
    echo "- default: the free checks (docs/HARDENING.md: the segment map, the block-start test, the first word of the"
    echo "  block; an allocation clears that word), and owner free-list links stored xor-encoded with a per-heap key"
    echo "  (one \`xor\` per allocation and per free):"
    echo "  a stray write into a freed block decodes to a non-user address, so the allocation that reaches it faults"
    echo "  (or the slow path, which checks the head of each list it hands to the fast path, reports it) instead of"
    echo "  handing out a forged pointer. All three builds count each allocation for the statistics in the add that"
    echo "  counts the page's blocks out (no instruction of its own)."
    echo "- checked: \`--features checked\`: the default plus a check word in each free block verified on every pop"
    echo "  (a corrupted link is reported with a message), and checked mode: every free validated against a segment"
    echo "  bitmap and a per-segment live-block bitmap (atomic read-modify-writes on allocation and free)."
} > "$out"
cat "$out"
