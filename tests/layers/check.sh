#!/bin/sh
# check.sh [ROOT] - the layering rules of docs/architecture.md, checked on
# the sources (the build's include paths already refuse most upward
# includes; this catches what an include path cannot: system headers and
# calls). Exits 1 and names each offending line.
#   engine/core/    pure: no libpq, librdkafka, libmicrohttpd, sockets,
#                   files, clock or randomness
#   workers/        no coordinator-only header (engine/*.h, engine/sagad,
#                   engine/sagactl)
set -u
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 2
bad=0
say() { echo "layers: $*"; bad=1; }

# Comments are stripped first so that prose may name what code may not use.
strip_comments() {
    sed -e 's://.*$::' "$1" | awk '
        { line = $0; out = "" }
        { while (length(line)) {
              if (inc) { i = index(line, "*/"); if (!i) { line = ""; break }
                         line = substr(line, i + 2); inc = 0 }
              else { i = index(line, "/*"); if (!i) { out = out line; line = ""; break }
                     out = out substr(line, 1, i - 1); line = substr(line, i + 2); inc = 1 } } }
        { print out }'
}

core_headers='<libpq-fe\.h>|<librdkafka/|<microhttpd\.h>|<time\.h>|<sys/time\.h>|<sys/socket\.h>|<netinet/|<arpa/|<netdb\.h>|<unistd\.h>|<fcntl\.h>|<sys/random\.h>|<poll\.h>|<pthread\.h>|<dirent\.h>|<sys/stat\.h>|<signal\.h>'
core_calls='\b(fopen|fdopen|freopen|fread|fwrite|fgets|fputs|fprintf|printf|puts|putchar|getchar|perror|open|openat|close|read|write|pread|pwrite|socket|connect|bind|listen|accept|send|recv|poll|select|time|clock_gettime|gettimeofday|clock|localtime|localtime_r|mktime|getrandom|rand|srand|random|srandom|getenv|setenv|system|popen|sleep|usleep|nanosleep|exit|abort)[[:space:]]*\('
for f in engine/core/*.c engine/core/*.h; do
    [ -f "$f" ] || continue
    strip_comments "$f" | grep -nE "#[[:space:]]*include[[:space:]]*($core_headers)" |
        while IFS= read -r l; do echo "layers: $f:${l%%:*}: the core includes ${l#*:}"; done
    strip_comments "$f" | grep -nE "$core_calls" | grep -v '^[0-9]*:[[:space:]]*#' |
        while IFS= read -r l; do echo "layers: $f:${l%%:*}: the core calls I/O, the clock or randomness: ${l#*:}"; done
    strip_comments "$f" | grep -nE '#[[:space:]]*include[[:space:]]*"' | while IFS= read -r l; do
        h=$(echo "$l" | sed 's/.*"\(.*\)".*/\1/')
        [ -f "engine/core/$h" ] || echo "layers: $f:${l%%:*}: the core includes \"$h\", which is not in engine/core/"
    done
done > /tmp/layers.$$ 2>&1

coord=$(for h in engine/*.h engine/sagad/*.h engine/sagactl/*.h; do [ -f "$h" ] && basename "$h"; done)
for f in $(find workers -name '*.c' -o -name '*.h' | grep -v '^workers/go/'); do
    strip_comments "$f" | grep -nE '#[[:space:]]*include[[:space:]]*"' | while IFS= read -r l; do
        h=$(echo "$l" | sed 's/.*"\(.*\)".*/\1/')
        for c in $coord; do
            [ "$(basename "$h")" = "$c" ] &&
                echo "layers: $f:${l%%:*}: a worker includes the coordinator-only header \"$h\""
        done
    done
done >> /tmp/layers.$$ 2>&1

if [ -s /tmp/layers.$$ ]; then
    cat /tmp/layers.$$
    rm -f /tmp/layers.$$
    exit 1
fi
rm -f /tmp/layers.$$
n_core=$(ls engine/core/*.[ch] | wc -l)
n_work=$(find workers -name '*.[ch]' | wc -l)
echo "layers: $n_core core files pure, $n_work worker files free of coordinator headers"
