#!/usr/bin/env bash
# ThreadSanitizer over the multi-threaded tests: the allocator and the tests
# built with -Zsanitizer=thread (RUSTC_BOOTSTRAP=1 on the stable compiler,
# whose sanitizer runtimes it ships) and --cfg midl_tsan (the allocator's
# lock tells the sanitizer what it orders: see base::sync::lock). The
# standard library is not instrumented (no -Zbuild-std without rust-src),
# hence -Cunsafe-allow-abi-mismatch=sanitizer and the suppressions in
# tests/tsan.supp, each for code outside the allocator. Fails on any
# report (halt_on_error). Then the shared library, built the same way,
# under tests/c/threads.c compiled with gcc -fsanitize=thread (remote
# frees, one RpcSs environment shared by four threads): no report; and
# the same program with a relaxed handoff (-DMIDL_TEST_RACY) must be
# reported, with a frame in the library, or the sanitizer is not seeing
# into it.
#   scripts/tsan.sh [TEST...]     default: stress remote_collect remote_batch
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=${*:-stress remote_collect remote_batch}
args=()
for t in $TESTS; do args+=(--test "$t"); done
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer --cfg midl_tsan"
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 abort_on_error=1 report_signal_unsafe=0"
cargo test --release --target x86_64-unknown-linux-gnu --target-dir target/tsan "${args[@]}"
echo "tsan: no report from $TESTS"

cargo build --release --lib -p midl-alloc --target x86_64-unknown-linux-gnu --target-dir target/tsan
lib=$PWD/target/tsan/x86_64-unknown-linux-gnu/release
out=target/tsan/c
mkdir -p "$out"
for variant in clean racy; do
    flags=()
    [ "$variant" = racy ] && flags=(-DMIDL_TEST_RACY)
    # tests/c/tsan_shim.c: __tsan_memset and company, which rustc's LLVM
    # emits and GCC 12's runtime lacks.
    gcc -std=c11 -O1 -g -fsanitize=thread -pthread "${flags[@]}" tests/c/threads.c tests/c/tsan_shim.c \
        -Iinclude -Itests/c -L"$lib" -lmidl_alloc -Wl,-rpath,"$lib" -o "$out/threads-$variant"
done
TSAN_OPTIONS="halt_on_error=1 report_signal_unsafe=0" "$out/threads-clean"
echo "tsan: no report from tests/c/threads.c"
if TSAN_OPTIONS="halt_on_error=1 report_signal_unsafe=0" "$out/threads-racy" >"$out/racy.log" 2>&1; then
    echo "tsan: the racy handoff was not reported" >&2
    exit 1
fi
if ! grep -q "ThreadSanitizer: data race" "$out/racy.log" || ! grep -q "libmidl_alloc.so" "$out/racy.log"; then
    echo "tsan: the racy handoff failed without a report in the library:" >&2
    cat "$out/racy.log" >&2
    exit 1
fi
echo "tsan: the racy handoff is reported inside the library, as it must be"
