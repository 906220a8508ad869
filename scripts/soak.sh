#!/usr/bin/env bash
# The soak (examples/soak.rs): mixed workloads (threads starting and
# exiting, remote frees, RpcSs environments shared by two threads, large
# blocks, bursts) on midl-alloc for SECONDS (default 120), the resident set
# and the mapped bytes sampled every 250 ms; fails on any content error or
# on growth of either past its bound (the warm-up's peak, plus half, plus
# 64 MiB). With OUT=path, writes the summary there as a results table row.
#   scripts/soak.sh [SECONDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-120}
THREADS=${2:-4}
cargo build --release --quiet --example soak
line=$(target/release/examples/soak "$SECONDS_" "$THREADS")
echo "$line"
if [ -n "${OUT:-}" ]; then
    {
        echo "# Soak"
        echo
        echo "Produced by \`scripts/soak.sh $SECONDS_ $THREADS\` (examples/soak.rs) on $(uname -m) ($(nproc) cores), $(rustc --version)."
        echo
        echo "$line"
    } >"$OUT"
fi
