#!/bin/sh
# gen.sh - regenerates what the Go library copies from the C tree, so both
# languages read one wire format and one barrier table:
#   sagapb/saga.pb.go          from schema/saga.proto (protoc + protoc-gen-go,
#                              the generator pinned by go.mod)
#   migrations/001_barrier.sql from schema/barrier/ (go:embed cannot reach
#                              outside the module; the copy must stay byte
#                              for byte identical, its checksum is recorded)
# Both are committed, so building needs neither protoc nor the plugin;
# TestGeneratedUpToDate fails when they drift. `make go-gen` runs this.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$HERE}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
command -v protoc >/dev/null || { echo "gen.sh: protoc not found (make deps installs protobuf-compiler)" >&2; exit 1; }
(cd "$HERE" && go build -o "$TMP/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)
mkdir -p "$OUT/sagapb" "$OUT/migrations"
PATH="$TMP:$PATH" protoc -I"$ROOT/schema" --go_out="$OUT/sagapb" --go_opt=paths=source_relative \
    "--go_opt=Msaga.proto=sagad.local/workers/go/sagapb;sagapb" "$ROOT/schema/saga.proto"
for f in "$ROOT"/schema/barrier/[0-9][0-9][0-9]_*.sql; do
    cp "$f" "$OUT/migrations/"
done
