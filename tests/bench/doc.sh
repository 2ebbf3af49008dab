#!/bin/sh
# doc.sh RESULTS_MD DOC - puts the latest results into DOC between the lines
# "<!-- bench:results:begin -->" and "<!-- bench:results:end -->", leaving
# the hand-written method and analysis around them untouched.
set -eu
RES=$1
DOC=$2
grep -q '^<!-- bench:results:begin -->$' "$DOC" && grep -q '^<!-- bench:results:end -->$' "$DOC" || {
    echo "doc.sh: $DOC has no bench:results markers; not touching it" >&2
    exit 1
}
tmp=$DOC.tmp.$$
awk -v res="$RES" '
    /^<!-- bench:results:begin -->$/ { print; while ((getline line < res) > 0) print line; skip = 1; next }
    /^<!-- bench:results:end -->$/ { skip = 0 }
    !skip { print }
' "$DOC" >"$tmp" && mv "$tmp" "$DOC"
