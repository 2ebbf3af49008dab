#!/bin/sh
# selftest.sh - check.sh must fail on each thing it checks: a tree whose
# core includes libpq, one whose core reads the clock, one whose core opens
# a file, and one whose worker includes a coordinator header.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
case_() { # name, file, text
    rm -rf "$T/tree" && mkdir -p "$T/tree/engine/core" "$T/tree/workers"
    printf '#include "ok.h"\n' > "$T/tree/engine/core/ok.c"
    : > "$T/tree/engine/core/ok.h"
    printf '/* store */\n' > "$T/tree/engine/store.h"
    printf '%s\n' "$3" > "$T/tree/$2"
    if out=$(sh "$HERE/check.sh" "$T/tree" 2>&1); then
        echo "FAIL: check.sh passed a tree with $1"; fails=$((fails + 1))
    else
        echo "ok: check.sh refused $1: $(echo "$out" | head -1)"
    fi
}
case_ "libpq in the core" engine/core/bad.c '#include <libpq-fe.h>'
case_ "the clock in the core" engine/core/bad.c 'long f(void) { return time(0); }'
case_ "file I/O in the core" engine/core/bad.c 'void *f(void) { return fopen("x", "r"); }'
case_ "a common header in the core" engine/core/bad.c '#include "log.h"'
case_ "a coordinator header in a worker" workers/bad.c '#include "store.h"'
rm -rf "$T/tree" && mkdir -p "$T/tree/engine/core" "$T/tree/workers"
printf '/* the clock: time(NULL) is named in prose only */\nint f(void);\n' > "$T/tree/engine/core/fine.c"
sh "$HERE/check.sh" "$T/tree" >/dev/null 2>&1 || { echo "FAIL: check.sh refused a pure tree"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ]
