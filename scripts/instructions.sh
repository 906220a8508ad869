#!/usr/bin/env bash
# Instructions per same-thread allocate+free pair, counted by callgrind, in
# two settings. Writes results/instructions.md.
#
# 1. From C through shared libraries (examples/c/pairs.c): the way a C
#    program or an RPC stub calls MIDL_user_allocate/MIDL_user_free, through
#    the PLT into libmidl_alloc.so. Against mimalloc built as a shared
#    library from the sources libmimalloc-sys vendors (the benchmark's
#    baseline, mimalloc's release flags: -O3, initial-exec TLS) and glibc.
#    The same loop calling empty functions in a shared library is
#    subtracted, so a figure counts what the allocator adds to a call.
# 2. From Rust (examples/pair_instructions.rs, everything linked
#    statically): midl-alloc through its C functions and through MidlAlloc
#    (GlobalAlloc, inlined), mimalloc through libmimalloc-sys, glibc; the
#    same loop without an allocator is subtracted.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SIZES=${SIZES:-"16 48 200 1000 4000"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --release --lib >/dev/null 2>&1
cargo build --release --lib --features dlopen-tls --target-dir target/dlopen-tls >/dev/null 2>&1
cargo build --release --example pair_instructions >/dev/null 2>&1
mi_dir=$(cargo metadata --format-version 1 | python3 -c '
import json, sys, os
pkgs = json.load(sys.stdin)["packages"]
print(next(os.path.dirname(p["manifest_path"]) for p in pkgs if p["name"] == "libmimalloc-sys"))')
mi_version=$(basename "$mi_dir")
mi_src="$mi_dir/c_src/mimalloc/v3"
gcc -O3 -fPIC -shared -ftls-model=initial-exec -fvisibility=hidden -DMI_SHARED_LIB -DMI_SHARED_LIB_EXPORT \
    -DMI_BUILD_RELEASE -DNDEBUG -DMI_DEBUG=0 -I"$mi_src/include" "$mi_src/src/static.c" -o "$tmp/libmimalloc.so" -lpthread
gcc -O2 -fPIC -shared -DNOOP_LIBRARY examples/c/pairs.c -o "$tmp/libnoop.so"
lib=$PWD/target/release
gcc -O2 -DALLOC=MIDL_user_allocate -DFREE=MIDL_user_free examples/c/pairs.c -L"$lib" -lmidl_alloc \
    -Wl,-rpath,"$lib" -o "$tmp/pairs-midl"
dl_lib=$PWD/target/dlopen-tls/release
gcc -O2 -DALLOC=MIDL_user_allocate -DFREE=MIDL_user_free examples/c/pairs.c -L"$dl_lib" -lmidl_alloc \
    -Wl,-rpath,"$dl_lib" -o "$tmp/pairs-midl-dlopen-tls"
gcc -O2 -DALLOC=mi_malloc -DFREE=mi_free examples/c/pairs.c -L"$tmp" -lmimalloc -Wl,-rpath,"$tmp" -o "$tmp/pairs-mimalloc"
gcc -O2 -fno-builtin -DALLOC=malloc -DFREE=free examples/c/pairs.c -o "$tmp/pairs-glibc"
gcc -O2 -DALLOC=noop_alloc -DFREE=noop_free examples/c/pairs.c -L"$tmp" -lnoop -Wl,-rpath,"$tmp" -o "$tmp/pairs-empty"

collected() { # toggle-collect pattern, command...
    local pattern=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$pattern" "$@" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_pair() { # total empty pairs
    python3 -c "print(f'{($1 - $2) / $3:.1f}')"
}
# pairs.c runs N/10 warm-up pairs, then N, all inside the counted function.
c_pairs=$((N + N / 10))
out=results/instructions.md
{
    echo "# Instructions per allocate+free pair (callgrind)"
    echo
    echo "Produced by \`scripts/instructions.sh\` on $(uname -m), $(rustc --version), $(gcc --version | head -1),"
    echo "$(valgrind --version). Same-thread pairs of one size; the figures include the warm-up (first page) spread"
    echo "over $N pairs. The default build: key-encoded free-list links (see results/modes.md); each allocation is"
    echo "counted for the statistics by the same add that counts the page's blocks out."
    echo
    echo "## From C, through shared libraries"
    echo
    echo "\`examples/c/pairs.c\` calls each allocator's functions through the PLT, as a C program does:"
    echo "\`MIDL_user_allocate\`/\`MIDL_user_free\` in libmidl_alloc.so; \`mi_malloc\`/\`mi_free\` in a shared build of the"
    echo "mimalloc sources that the benchmarks use ($mi_version, mimalloc v3, release flags); glibc's \`malloc\`/\`free\`."
    echo "The same loop calling two empty functions in a shared library is subtracted. midl-alloc (dlopen-tls):"
    echo "the \`dlopen-tls\` build, whose heap slot is a general-dynamic TLS variable (a \`__tls_get_addr\` call) rather"
    echo "than initial-exec, so the library loads with dlopen into any process."
    echo
    echo "| size (bytes) | midl-alloc | mimalloc | glibc malloc | midl-alloc (dlopen-tls) |"
    echo "|---:|---:|---:|---:|---:|"
    for size in $SIZES; do
        empty=$(collected pairs "$tmp/pairs-empty" "$size" "$N")
        row="| $size"
        for a in midl mimalloc glibc midl-dlopen-tls; do
            row="$row | $(per_pair "$(collected pairs "$tmp/pairs-$a" "$size" "$N")" "$empty" "$c_pairs")"
        done
        echo "$row |"
    done
    echo
    echo "## From Rust, linked statically"
    echo
    echo "\`examples/pair_instructions.rs\`: midl-alloc (C) through \`MIDL_user_allocate\`/\`MIDL_user_free\` (calls);"
    echo "midl-alloc (Rust) through \`MidlAlloc\` (\`GlobalAlloc\`, inlined into the loop as in a Rust program);"
    echo "mimalloc through libmimalloc-sys \`mi_malloc\`/\`mi_free\`; glibc through \`malloc\`/\`free\`. The same loop"
    echo "without an allocator is subtracted."
    echo
    echo "| size (bytes) | midl-alloc (C) | midl-alloc (Rust) | mimalloc | glibc malloc |"
    echo "|---:|---:|---:|---:|---:|"
    bin=target/release/examples/pair_instructions
    for size in $SIZES; do
        empty=$(collected '*pairs_*' "$bin" empty "$size" "$N")
        row="| $size"
        for a in midl midl-rust mimalloc system; do
            row="$row | $(per_pair "$(collected '*pairs_*' "$bin" "$a" "$size" "$N")" "$empty" "$N")"
        done
        echo "$row |"
    done
} > "$out"
cat "$out"
