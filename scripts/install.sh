#!/usr/bin/env bash
# Builds the release library and installs it for C programs:
#   PREFIX/lib/libmidl_alloc.so.X.Y.Z, with the soname libmidl_alloc.so.0.Y for
#       0.Y releases (libmidl_alloc.so.X from 1.0 on: the ABI's semver), the
#       soname's link to it and the development link libmidl_alloc.so;
#       and libmidl_alloc.a
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
IFS=. read -r major minor _ <<<"$version"
if [ "$major" = 0 ]; then soname=libmidl_alloc.so.0.$minor; else soname=libmidl_alloc.so.$major; fi
# Its own target directory: the soname is only the installed library's
# (target/release/libmidl_alloc.so, linked in the tree, has none).
cargo rustc --release --lib --target-dir target/install -- -C link-arg=-Wl,-soname,"$soname"
built=target/install/release
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 755 "$built/libmidl_alloc.so" "$prefix/lib/libmidl_alloc.so.$version"
ln -sf "libmidl_alloc.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/libmidl_alloc.so"
install -m 644 "$built/libmidl_alloc.a" "$prefix/lib/"
install -m 644 include/midl_alloc.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" pkgconfig/midl-alloc.pc.in \
    > "$prefix/lib/pkgconfig/midl-alloc.pc"
echo "installed midl-alloc $version ($soname) in $prefix"
