#!/usr/bin/env bash
# ThreadSanitizer over the multi-threaded tests: the allocator and the tests
# built with -Zsanitizer=thread (RUSTC_BOOTSTRAP=1 on the stable compiler,
# whose sanitizer runtimes it ships) and --cfg midl_tsan (the allocator's
# lock tells the sanitizer what it orders: see base::sync::lock). The
# standard library is not instrumented (no -Zbuild-std without rust-src),
# hence -Cunsafe-allow-abi-mismatch=sanitizer and the suppressions in
# tests/tsan.supp, each for code outside the allocator. Fails on any
# report (halt_on_error).
#   scripts/tsan.sh [TEST...]     default: stress remote_collect
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=${*:-stress remote_collect}
args=()
for t in $TESTS; do args+=(--test "$t"); done
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer --cfg midl_tsan"
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 abort_on_error=1 report_signal_unsafe=0"
cargo test --release --target x86_64-unknown-linux-gnu --target-dir target/tsan "${args[@]}"
echo "tsan: no report from $TESTS"
