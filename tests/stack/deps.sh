#!/bin/sh
# deps.sh - install the Debian packages sagad needs to build, test and run
# its local stack. Cheap when everything is present (one dpkg-query), so every
# make target can depend on it; runs `apt-get update` only when something must
# actually be installed. Non-interactive.
set -eu

PKGS="gcc make pkg-config librdkafka-dev libpq-dev libprotobuf-c-dev \
protobuf-c-compiler protobuf-compiler libjansson-dev libcmocka-dev libmicrohttpd-dev \
postgresql-15 postgresql-client-15 openjdk-17-jre-headless maven kcat \
clang libclang-rt-14-dev valgrind gnuplot-nox procps curl jq openssl iproute2 \
libgraphviz-dev chromium"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in
    ii*) ;;
    *) missing="$missing $p" ;;
    esac
done
# The Go participant library (workers/go) needs a Go toolchain as recent as
# its go.mod says; Debian's golang-go is older, so it is not installed here.
# Its modules are fetched by `go` itself (go.sum is committed).
command -v go >/dev/null 2>&1 ||
    echo "deps: no Go toolchain on PATH: workers/go and tests/integration/go_participant.sh need one" >&2
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "deps: missing packages:$missing; run as root or install them" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# postgresql-common would create and start a system cluster on port 5432;
# the project runs its own private cluster, so skip that.
if [ ! -e /etc/postgresql-common/createcluster.conf ] && [ -z "$SUDO" ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
