#!/bin/sh
# pc.sh NAME PREFIX VERSION - print the pkg-config file of libsaga ("saga")
# or libsagaworker ("sagaworker") for an installation under PREFIX.
set -eu
name=$1
prefix=$2
version=$3
case "$name" in
saga)
    desc="sagad engine library: saga specs, decision core, store, start API"
    libs="-lsaga -lsagacommon"
    requires="rdkafka libpq libprotobuf-c jansson libmicrohttpd"
    ;;
sagaworker)
    desc="sagad participant library: idempotent saga workers"
    libs="-lsagaworker -lsagacommon"
    requires="rdkafka libpq libprotobuf-c jansson libmicrohttpd"
    ;;
*) echo "pc.sh: unknown library $name" >&2; exit 2 ;;
esac
# saga_prefix, not only prefix: --define-variable=prefix would also move
# the dependencies' (libpq's) include paths.
cat <<PC
saga_prefix=$prefix
prefix=\${saga_prefix}
libdir=\${saga_prefix}/lib
includedir=\${saga_prefix}/include

Name: $name
Description: $desc
Version: $version
Requires: $requires
Cflags: -I\${includedir}/saga
Libs: -L\${libdir} $libs
Libs.private: -lm -lpthread
PC
