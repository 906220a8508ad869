#!/usr/bin/env bash
# Fuzzes midl-alloc for SECONDS per target (default 60): fuzz/fuzz_targets
# (alloc_ops: allocate / zeroed / aligned / free / realloc / cross-thread
# free sequences, contents, zeroing, alignment and non-overlap checked;
# rpcss_ops: RpcSs enable / allocate / free / bad free / disable), built as
# cargo-fuzz builds them (libFuzzer from the libfuzzer-sys crate,
# SanitizerCoverage, AddressSanitizer; RUSTC_BOOTSTRAP=1 on the stable
# compiler, which ships the sanitizer runtimes), so `cargo fuzz run
# alloc_ops` does the same where cargo-fuzz is installed. Each target first
# replays its kept crash inputs (fuzz/regressions/TARGET/) and its corpus;
# a crash found is kept in fuzz/artifacts/TARGET/ (copy it to
# fuzz/regressions/TARGET/ once fixed). Prints each target's executions.
# With OUT=path, also writes the executions as a table there.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=${*:-alloc_ops rpcss_ops}
TRIPLE=x86_64-unknown-linux-gnu
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks \
-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer"
export ASAN_OPTIONS="detect_leaks=0"
rows=""
for t in $TARGETS; do
    cargo build --release --quiet --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --bin "$t"
    bin=fuzz/target/$TRIPLE/release/$t
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t" "fuzz/regressions/$t"
    if [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
        "$bin" "fuzz/regressions/$t"/* 2>&1 | tail -2
    fi
    "$bin" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" "fuzz/corpus/$t" \
        2>"fuzz/artifacts/$t.log" || { tail -40 "fuzz/artifacts/$t.log"; exit 1; }
    runs=$(grep -m1 'stat::number_of_executed_units' "fuzz/artifacts/$t.log" | awk '{print $2}')
    echo "$t: $runs executions in $SECS s"
    rows+="| $t | $SECS | $runs | $(ls "fuzz/corpus/$t" | wc -l) | 0 |"$'\n'
done
if [ -n "${OUT:-}" ]; then
    {
        echo "# Fuzzing"
        echo
        echo "Produced by \`scripts/fuzz.sh $SECS\` on $(uname -m) ($(nproc) cores), $(rustc --version): libFuzzer and"
        echo "AddressSanitizer, one process per target, starting from the corpus then kept in fuzz/corpus (not committed)."
        echo
        echo "| target | seconds | executions | corpus inputs at the end | crashes |"
        echo "|---|---:|---:|---:|---:|"
        printf "%s" "$rows"
    } >"$OUT"
fi
