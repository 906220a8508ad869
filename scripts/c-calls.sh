#!/usr/bin/env bash
# One unmarshalled call from C through the shared library
# (benches/c/rpcss_call.c): the RpcSs environment call (enable, a block per
# parameter, disable) against the same call freed block by block with
# MIDL_user_allocate / MIDL_user_free, and glibc's malloc for scale.
# ROUNDS interleaved rounds (default 31) of CALLS calls (default 100000);
# the table goes to OUT (default results/c_calls.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-31}
CALLS=${CALLS:-100000}
OUT=${OUT:-results/c_calls.md}
cargo build --release --quiet --lib
mkdir -p target/c-bench
cc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -Iinclude benches/c/rpcss_call.c \
    -Ltarget/release -lmidl_alloc -Wl,-rpath,"$PWD/target/release" -o target/c-bench/rpcss_call
table=$(target/c-bench/rpcss_call "$ROUNDS" "$CALLS")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
{
    echo "# One call from C through the shared library"
    echo
    echo "Machine: $cpu, $(nproc) cores, $mem RAM, $(cc --version | head -1), $(rustc --version).  "
    echo "Command: \`ROUNDS=$ROUNDS CALLS=$CALLS bash scripts/c-calls.sh\`. A C program (\`benches/c/rpcss_call.c\`)"
    echo "linked against \`target/release/libmidl_alloc.so\` makes the calls a MIDL stub makes, as exported"
    echo "functions (no inlining into the caller): $ROUNDS rounds of $CALLS calls a variant, a different variant first"
    echo "each round; calls/s is the median over rounds, and each ratio the median of the rounds' ratios of the"
    echo "variant's time to the RpcSs call's (above 1.00: the RpcSs call is faster)."
    echo
    echo "One call has the marshalling row's shape: a 64-byte struct, 1-7 strings of 8-256 bytes, an array of"
    echo "16 B to 4 KiB in one call of four, four referents of 16-64 bytes, every block written. Single thread."
    echo
    echo "$table"
} >"$OUT"
cat "$OUT"
