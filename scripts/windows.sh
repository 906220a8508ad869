#!/usr/bin/env bash
# Builds midl-alloc for 64-bit Windows with Debian's Rust 1.63 and MinGW-w64:
#   target/windows/midl_alloc.dll        the DLL
#   target/windows/libmidl_alloc.dll.a   its import library (MinGW; MSVC
#                                        links the DLL through a .lib made
#                                        from include/midl_alloc.def)
#   target/windows/libmidl_alloc.a       the static library
#   target/windows/libmidl_alloc.rlib    the crate, for Rust 1.63 programs
# Needs: apt-get install rustc libstd-rust-dev-windows gcc-mingw-w64-x86-64
# (scripts/windows-test.sh installs them and runs the tests under Wine).
# The rustup toolchain has no Windows target and Debian's cargo cannot read
# the project's lockfile, so this calls rustc directly: on Windows the crate
# has no dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTC=${WINDOWS_RUSTC:-/usr/bin/rustc}
OUT=target/windows
mkdir -p "$OUT"
# The version, as cargo would pass it.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IFS=. read -r major minor patch <<<"$version"
export CARGO_PKG_VERSION_MAJOR=$major CARGO_PKG_VERSION_MINOR=$minor CARGO_PKG_VERSION_PATCH=$patch
common=(--edition 2021 --crate-name midl_alloc --target x86_64-pc-windows-gnu
  -C linker=x86_64-w64-mingw32-gcc -C opt-level=3 -C codegen-units=1 -C panic=abort -C strip=debuginfo
  -D warnings --out-dir "$OUT")
"$RUSTC" "${common[@]}" --crate-type cdylib src/lib.rs
"$RUSTC" "${common[@]}" --crate-type staticlib --cfg midl_static src/lib.rs
"$RUSTC" "${common[@]}" --crate-type rlib src/lib.rs
ls -l "$OUT"/midl_alloc.dll "$OUT"/libmidl_alloc.dll.a "$OUT"/libmidl_alloc.a "$OUT"/libmidl_alloc.rlib
