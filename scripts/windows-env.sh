# Sourced by scripts/windows-test.sh and scripts/windows-bench.sh: what
# building against the Windows library and widl's stubs needs.
W=target/windows
# The native libraries the static library needs (rustc --print native-static-libs).
STATIC_LIBS=(-lkernel32 -lbcrypt -ladvapi32 -luserenv -lws2_32)
# Wine's exception macros, which widl's stubs use (wine/exception.h), and
# the Wine libraries they link with.
WINE_EH=(-DPrev=prev -DEH_UNWINDING=2 -DEH_EXIT_UNWIND=4 -DEH_NESTED_CALL=0x10 -idirafter /usr/include/wine)
WINE_LIB=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows
WINE_LINK=(-lrpcrt4 "$WINE_LIB/libwinecrt0.a" "$WINE_LIB/libntdll.a")

# widl_stubs DIR: widl's header and stubs of tests/windows/midltest.idl in
# DIR, compiled as they are (no warning flags) to DIR/midltest_{c,s}.o.
widl_stubs() {
    local dir=$1 idl
    idl="$(pwd)/tests/windows/midltest.idl"
    (cd "$dir" && /usr/lib/wine/widl -m64 --win64 -h -c -s --prefix-client=c_ -o midltest "$idl")
    for s in c s; do
        x86_64-w64-mingw32-gcc -O2 -w "${WINE_EH[@]}" -I"$dir" -c "$dir/midltest_$s.c" -o "$dir/midltest_$s.o"
    done
}
