#!/usr/bin/env bash
# Builds the release library and installs it for C programs:
#   PREFIX/lib/libmidl_alloc.so and libmidl_alloc.a
#   PREFIX/include/midl_alloc.h
#   PREFIX/lib/pkgconfig/midl-alloc.pc (from pkgconfig/midl-alloc.pc.in)
# Usage: scripts/install.sh PREFIX   (then: pkg-config --cflags --libs midl-alloc,
# with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does not search)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: scripts/install.sh PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
version=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "midl-alloc"))')
cargo build --release --lib
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 755 target/release/libmidl_alloc.so "$prefix/lib/"
install -m 644 target/release/libmidl_alloc.a "$prefix/lib/"
install -m 644 include/midl_alloc.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" pkgconfig/midl-alloc.pc.in \
    > "$prefix/lib/pkgconfig/midl-alloc.pc"
echo "installed midl-alloc $version in $prefix"
