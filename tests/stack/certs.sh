#!/bin/sh
# certs.sh DIR - the TLS material of the local stack (stack.sh, SAGA_TLS=1):
# a private CA, one server certificate for both PostgreSQL and Kafka (SAN
# IP:127.0.0.1 and DNS:localhost, so sslmode=verify-full and librdkafka's
# hostname check pass for either spelling), and a client certificate whose
# key is encrypted (Kafka's SSL listener requires a client certificate, so
# ssl.key.password is a real secret to keep out of logs). Certificates come
# from openssl; the broker's keystore and truststore (PKCS12) from the JDK's
# keytool, as a Java service's would. Made once: DIR/.complete marks a
# finished set, and a half-made one is redone from scratch.
#
#   ca.crt                  the CA: sslrootcert=, kafka.ssl.ca.location=
#   client.crt client.key   kafka.ssl.certificate.location=, .key.location=
#   client.pass             kafka.ssl.key.password= (the key's passphrase)
#   pg.crt pg.key pg_hba.conf   PostgreSQL's (the key owned by postgres)
#   kafka.keystore.p12 kafka.truststore.p12 store.pass   the broker's
set -eu

DIR=${1:?usage: certs.sh DIR}
[ -f "$DIR/.complete" ] && exit 0
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"
umask 077
DAYS=825

openssl rand -hex 16 >store.pass
openssl rand -hex 16 >client.pass

openssl req -x509 -newkey rsa:2048 -nodes -days $DAYS -subj "/CN=sagad local stack CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt

# sign NAME EXTENSIONS: NAME.csr -> NAME.crt, signed by the CA.
sign() {
    printf '%s\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days $DAYS \
        -extfile "$1.ext" -out "$1.crt"
}

openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
sign server "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc \
    -pass file:client.pass -out client.key
openssl req -new -key client.key -passin file:client.pass -subj "/CN=sagad-client" -out client.csr
sign client "extendedKeyUsage=clientAuth"

# Kafka: the server key and chain as PKCS12, rewritten by keytool into the
# broker's keystore; the CA alone in its truststore (to check clients).
openssl pkcs12 -export -name kafka -in server.crt -inkey server.key -certfile ca.crt \
    -passout file:store.pass -out server.p12
keytool -importkeystore -noprompt -srckeystore server.p12 -srcstoretype PKCS12 \
    -srcstorepass:file store.pass -destkeystore kafka.keystore.p12 -deststoretype PKCS12 \
    -deststorepass:file store.pass
keytool -importcert -noprompt -alias ca -file ca.crt -keystore kafka.truststore.p12 \
    -storetype PKCS12 -storepass:file store.pass

# PostgreSQL: its own copies, as its key must belong to the server's user.
cp server.crt pg.crt
cp server.key pg.key
cat >pg_hba.conf <<EOF
# sagad local stack, TLS mode: the stack's own role as before; every other
# role only over TLS and with a password.
local   all  all                 trust
host    all  saga  127.0.0.1/32  trust
hostssl all  all   127.0.0.1/32  scram-sha-256
EOF
chmod 644 ca.crt server.crt client.crt pg.crt pg_hba.conf
chmod 755 .
[ "$(id -u)" = 0 ] && chown postgres pg.key pg.crt pg_hba.conf
rm -f server.p12 ./*.csr ./*.ext ca.srl
touch .complete
echo "certs: made in $DIR"
