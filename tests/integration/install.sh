#!/bin/sh
# install.sh - `make install` into a temporary DESTDIR puts binaries,
# libraries (static and shared), headers, pkg-config files, the man page
# and the examples in place; the example participant builds against the
# installed library through pkg-config alone and runs; `make uninstall`
# removes every file again.
. "$(dirname "$0")/lib.sh"

D=$(mktemp -d)
trap 'cleanup; rm -rf "$D"' EXIT
make -C "$ROOT" --no-print-directory install DESTDIR="$D" PREFIX=/opt/saga >"$LOGS/install.log" 2>&1 ||
    fail "make install failed (see $LOGS/install.log)"
for f in bin/sagad bin/sagactl bin/inventory-worker bin/payment-worker \
         lib/libsaga.a lib/libsaga.so lib/libsagaworker.a lib/libsagaworker.so lib/libsagacommon.a lib/libsagacommon.so \
         include/saga/worker.h include/saga/start.h include/saga/saga.pb-c.h \
         lib/pkgconfig/saga.pc lib/pkgconfig/sagaworker.pc share/man/man1/sagactl.1 \
         share/doc/sagad/examples/sagad.conf share/doc/sagad/examples/systemd/sagad.service; do
    [ -e "$D/opt/saga/$f" ] || fail "missing after install: $f"
done
ok "make install put binaries, libraries, headers, pkg-config files, man page, examples in place"

B=$D/build
mkdir -p "$B"
cp "$ROOT/examples/participant/shipping.c" "$ROOT/examples/participant/Makefile" "$B/"
# The .pc files name PREFIX; point pkg-config at where DESTDIR put it.
PKG_CONFIG_PATH=$D/opt/saga/lib/pkgconfig \
    make -C "$B" --no-print-directory SAGA=pkg-config SAGA_ROOT=/nonexistent \
    PKG_CONFIG="pkg-config --define-variable=saga_prefix=$D/opt/saga" >"$LOGS/participant.log" 2>&1 ||
    fail "example participant did not build against the installed library (see $LOGS/participant.log)"
grep -q -- "-I$D/opt/saga/include/saga" "$LOGS/participant.log" ||
    fail "the build did not use the installed headers"
LD_LIBRARY_PATH=$D/opt/saga/lib "$B/shipping-worker" --help >/dev/null 2>&1 ||
    fail "the example participant does not run"
ok "example participant built through pkg-config against the installed library, and runs"

make -C "$ROOT" --no-print-directory uninstall DESTDIR="$D" PREFIX=/opt/saga >>"$LOGS/install.log" 2>&1 ||
    fail "make uninstall failed"
left=$(find "$D/opt/saga" -type f -o -type l | head -5)
[ -z "$left" ] || fail "left after uninstall: $left"
ok "make uninstall removed every installed file"
