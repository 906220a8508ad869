#!/usr/bin/env bash
# Instructions per same-thread allocate+free pair, counted by callgrind for
# midl-alloc, mimalloc (libmimalloc-sys default build) and glibc malloc, in
# the same loop (examples/pair_instructions.rs). The loop's own cost (the
# same loop with no allocator) is subtracted. Writes results/instructions.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SIZES=${SIZES:-"16 48 200 1000 4000"}
cargo build --release --example pair_instructions >/dev/null 2>&1
bin=target/release/examples/pair_instructions
count() { # allocator size -> total instructions inside pairs_*
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*pairs_*' \
        "$bin" "$1" "$2" "$N" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
out=results/instructions.md
{
    echo "# Instructions per allocate+free pair (callgrind)"
    echo
    echo "Same-thread pairs of one size, $N per run, loop overhead subtracted."
    echo "Produced by \`scripts/instructions.sh\` on $(uname -m), $(rustc --version), $(valgrind --version)."
    echo "midl-alloc (C) is called through \`MIDL_user_allocate\`/\`MIDL_user_free\` (function calls, as a C program makes);"
    echo "midl-alloc (Rust) through \`MidlAlloc\` (\`GlobalAlloc\`, inlined into the loop as in a Rust program);"
    echo "mimalloc through \`mi_malloc\`/\`mi_free\`; glibc through \`malloc\`/\`free\` (function calls)."
    echo "The default build: free-list check words and per-page allocation counting included (see results/modes.md)."
    echo
    echo "| size (bytes) | midl-alloc (C) | midl-alloc (Rust) | mimalloc | glibc malloc |"
    echo "|---:|---:|---:|---:|---:|"
    for size in $SIZES; do
        empty=$(count empty "$size")
        row="| $size"
        for a in midl midl-rust mimalloc system; do
            total=$(count "$a" "$size")
            row="$row | $(python3 -c "print(f'{($total - $empty) / $N:.1f}')")"
        done
        echo "$row |"
    done
} > "$out"
cat "$out"
