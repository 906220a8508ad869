#!/usr/bin/env bash
# Installs, from Debian's packages, what the Windows build and its tests
# under Wine need (docs/WINDOWS.md); does nothing when all is there.
set -euo pipefail
need=()
{ [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/x86_64-pc-windows-gnu ]; } || need+=(rustc libstd-rust-dev-windows)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev)
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
[ -x /usr/lib/wine/widl ] || need+=(wine64-tools)
[ -f /usr/include/wine/wine/exception.h ] || need+=(libwine-dev)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
