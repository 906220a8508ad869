#!/usr/bin/env bash
# Real programs under LD_PRELOAD: the machine's CPython test suite (a fixed
# list of modules, PYTHONMALLOC=malloc so every object goes through malloc),
# sqlite3 running a generated SQL workload, and examples/c/large_buffers.c
# (buffers of 5-25 MiB and a realloc to 256 MiB, contents checked), each
# run with glibc malloc, with midl-alloc's override build, and (where
# installed) the overrides of Debian's mimalloc (libmimalloc2.0), jemalloc
# (libjemalloc2) and tcmalloc (libtcmalloc-minimal4). Compares results
# (test counts; output hashes) and wall time. Writes results/override.md
# unless OUT is set to another path; exits non-zero if midl-alloc's results
# differ from glibc's.
#   ALLOCATORS="glibc midl-alloc mimalloc jemalloc tcmalloc"   which runs to make
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/override.md}
ALLOCATORS=${ALLOCATORS:-"glibc midl-alloc mimalloc jemalloc tcmalloc"}
PY=${PY:-python3}

# The test modules: all pass under glibc on this machine's CPython 3.11
# (test_threading does not here, under glibc too: it is left out).
MODULES=(test_thread test_threading_local test_json test_re test_unicode test_dict test_set
    test_list test_pickle test_subprocess test_tuple test_deque test_heapq test_bisect test_collections
    test_itertools test_functools test_math test_random test_struct test_array test_decimal test_fractions
    test_statistics test_string test_format test_textwrap test_difflib test_csv test_zlib test_hashlib
    test_base64 test_queue test_sort test_enum test_dataclasses test_weakref test_gc test_contextlib
    test_sqlite3 test_bytes test_long test_float test_class test_descr test_copy test_operator
    test_unicodedata)

cargo build --release --quiet --lib --features override --target-dir target/override
MIDL=$PWD/target/override/release/libmidl_alloc.so
MIMALLOC=$(ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -1 || true)
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
TCMALLOC=$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -1 || true)

preload_of() {
    case "$1" in
        glibc) echo "" ;;
        midl-alloc) echo "$MIDL" ;;
        mimalloc) echo "$MIMALLOC" ;;
        jemalloc) echo "$JEMALLOC" ;;
        tcmalloc) echo "$TCMALLOC" ;;
    esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$work/large_buffers" examples/c/large_buffers.c
# The sqlite3 workload: 300k rows inserted, indexed, aggregated, joined,
# updated and deleted; its output is compared byte for byte.
$PY - "$work/workload.sql" <<'PYEOF'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "w") as f:
    f.write("PRAGMA cache_size=-65536;\nCREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload BLOB);\n")
    f.write("CREATE TABLE u(k INTEGER PRIMARY KEY, label TEXT);\nBEGIN;\n")
    for i in range(300000):
        name = "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(4, 40)))
        f.write(f"INSERT INTO t(k, name, payload) VALUES({r.randint(0, 5000)}, '{name}', randomblob({r.randint(0, 300)}));\n")
    for k in range(5001):
        f.write(f"INSERT INTO u VALUES({k}, 'label-{k * 7919 % 10007}');\n")
    f.write("COMMIT;\nCREATE INDEX t_k ON t(k);\nCREATE INDEX t_name ON t(name);\n")
    f.write("SELECT k, count(*), sum(length(payload)), min(name), max(name) FROM t GROUP BY k ORDER BY k LIMIT 200;\n")
    f.write("SELECT u.label, count(*) FROM t JOIN u ON t.k = u.k WHERE t.name LIKE 'a%' GROUP BY u.label ORDER BY 2 DESC, 1 LIMIT 50;\n")
    f.write("UPDATE t SET name = upper(name) WHERE k % 3 = 0;\nDELETE FROM t WHERE k % 5 = 0;\n")
    f.write("SELECT count(*), sum(k), group_concat(substr(name, 1, 2), '') FROM (SELECT * FROM t ORDER BY name LIMIT 2000);\n")
    f.write("SELECT name, count(*) FROM t GROUP BY name HAVING count(*) > 1 ORDER BY 2 DESC, 1 LIMIT 20;\n")
    f.write("VACUUM;\nSELECT count(*) FROM t;\n")
PYEOF

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
declare -A py_result py_time py_rc py_failed sq_result sq_time lb_result lb_time
for a in $ALLOCATORS; do
    pre=$(preload_of "$a")
    if [ "$a" != glibc ] && [ ! -f "$pre" ]; then
        echo "skipping $a: no library" >&2
        continue
    fi
    echo "== CPython tests, $a" >&2
    t0=$(now)
    set +e
    # From an empty directory (nothing of the checkout in the way); -w
    # re-runs a failed module once, verbosely, so a flaky test shows as such.
    (cd "$work" && env ${pre:+LD_PRELOAD=$pre} PYTHONMALLOC=malloc $PY -m test -j2 -w "${MODULES[@]}") \
        > "$work/py-$a.log" 2>&1
    rc=$?
    set -e
    py_time[$a]=$(elapsed "$t0")
    ok=$(grep -Eo '^(All )?[0-9]+ tests? OK' "$work/py-$a.log" | grep -Eo '[0-9]+' | tail -1 || true)
    bad=$(grep -Eo '^[0-9]+ tests? failed' "$work/py-$a.log" | grep -Eo '^[0-9]+' | tail -1 || true)
    failed=$(grep -Eo '^[0-9:]+ load avg: [0-9.]+ \[ *[0-9]+/[0-9]+/[0-9]+\] test_[a-z0-9_]+ failed' "$work/py-$a.log" \
        | grep -Eo 'test_[a-z0-9_]+' | sort -u | tr '\n' ' ' || true)
    py_result[$a]="${ok:-0} modules OK, ${bad:-0} failed${failed:+ ($failed)}, exit $rc"
    py_rc[$a]=$rc
    py_failed[$a]=$failed
    grep -E 'Result|tests? OK|failed' "$work/py-$a.log" | tail -6 >&2
    echo "== sqlite3, $a" >&2
    t0=$(now)
    env ${pre:+LD_PRELOAD=$pre} sqlite3 "$work/db-$a.sqlite" < "$work/workload.sql" > "$work/sq-$a.out"
    sq_time[$a]=$(elapsed "$t0")
    sq_result[$a]=$(md5sum < "$work/sq-$a.out" | cut -c1-12)
    rm -f "$work/db-$a.sqlite"
    echo "== large buffers, $a" >&2
    t0=$(now)
    set +e
    lb_result[$a]=$(env ${pre:+LD_PRELOAD=$pre} "$work/large_buffers" 2>&1)
    lb_rc=$?
    set -e
    lb_time[$a]=$(elapsed "$t0")
    [ "$lb_rc" = 0 ] || lb_result[$a]="failed (exit $lb_rc): ${lb_result[$a]}"
done

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
{
    echo "# Real programs with the malloc override"
    echo
    echo "Produced by \`scripts/override-programs.sh\` on $(uname -m) ($(nproc) cores), $($PY --version 2>&1), $(sqlite3 --version | cut -d' ' -f1-2)."
    echo "midl-alloc: \`cargo build --release --features override\`, loaded with LD_PRELOAD."
    for lib in "$MIMALLOC" "$JEMALLOC" "$TCMALLOC"; do
        [ -n "$lib" ] && echo "$(basename "$lib"): Debian's package (the library's own override), loaded with LD_PRELOAD."
    done
    echo "Times are wall-clock seconds of one run each; time ratio = allocator / glibc (below 1.00: faster)."
    echo
    echo "CPython: \`PYTHONMALLOC=malloc $PY -m test -j2\` with ${#MODULES[@]} modules: ${MODULES[*]}."
    echo
    echo "sqlite3: a generated script (300k inserts with random blobs, two indexes, grouped and joined queries, updates, deletes, VACUUM) into a file database; result = hash of its output."
    echo
    echo "large buffers: \`examples/c/large_buffers.c\` (20 live buffers of 5-25 MiB replaced 300 times, malloc and calloc, written through; a realloc from 64 KiB to 256 MiB and back; contents checked); result = the checksum it prints."
    echo
    echo "| program | allocator | result | time (s) | vs glibc |"
    echo "|---|---|---|---:|---:|"
    for a in $ALLOCATORS; do
        [ -n "${py_time[$a]:-}" ] || continue
        echo "| CPython tests | $a | ${py_result[$a]} | ${py_time[$a]} | $(ratio "${py_time[$a]}" "${py_time[glibc]}") |"
    done
    for a in $ALLOCATORS; do
        [ -n "${sq_time[$a]:-}" ] || continue
        echo "| sqlite3 workload | $a | ${sq_result[$a]} | ${sq_time[$a]} | $(ratio "${sq_time[$a]}" "${sq_time[glibc]}") |"
    done
    for a in $ALLOCATORS; do
        [ -n "${lb_time[$a]:-}" ] || continue
        echo "| large buffers | $a | ${lb_result[$a]} | ${lb_time[$a]} | $(ratio "${lb_time[$a]}" "${lb_time[glibc]}") |"
    done
} > "$OUT"
cat "$OUT"
status=0
# midl-alloc must pass where glibc passes: a failure counts unless glibc
# failed the very same modules in the same run.
if [ "${py_rc[midl-alloc]}" != 0 ] &&
    { [ "${py_rc[glibc]}" = 0 ] || [ "${py_failed[midl-alloc]}" != "${py_failed[glibc]}" ]; }; then
    echo "CPython tests: midl-alloc ${py_result[midl-alloc]}; glibc ${py_result[glibc]}" >&2
    status=1
fi
if [ "${sq_result[midl-alloc]}" != "${sq_result[glibc]}" ]; then
    echo "sqlite3 output differs under midl-alloc" >&2
    status=1
fi
if [ "${lb_result[midl-alloc]}" != "${lb_result[glibc]}" ]; then
    echo "large buffers: midl-alloc ${lb_result[midl-alloc]}; glibc ${lb_result[glibc]}" >&2
    status=1
fi
exit $status
