#!/bin/bash
# demo.sh: installs what is needed (Debian 13 or 12, as root), builds, and runs a
# demo: coap-server-notls as the backend on 127.0.0.1:5683 and coaps-proxyd in
# the foreground on UDP 5684 with a demo PSK and demo certificates.
# Ctrl-C (or SIGTERM to the script) stops both.
set -eu
cd "$(dirname "$0")"
top=$PWD

deps="build-essential autoconf automake pkg-config libcoap3-dev libcoap3-bin
	libmbedtls-dev libevent-dev libconfig-dev check libsystemd-dev openssl"
if [ "$(dpkg-query -W -f='${Status}\n' $deps 2>/dev/null | grep -c '^install ok installed')" != "$(echo $deps | wc -w)" ]; then
	echo "== installing dependencies"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $deps >/dev/null
fi
echo "== building"
autoreconf -fi >/dev/null 2>&1
mkdir -p build && cd build
"$top/configure" -q
make -j2 >/dev/null

demo=$top/build/demo
mkdir -p "$demo"
sh "$top/certs/gen-certs.sh" "$demo/certs"
cat >"$demo/coaps-proxy.conf" <<CONF
# Demo configuration written by demo.sh (see conf/coaps-proxy.conf for every key).
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );   # key as text bytes
x509 = {
  certificate = "certs/server-cert.pem";
  private_key = "certs/server-key.pem";
  client_ca = "certs/ca-cert.pem";
  verify_client = "required";
};
control = { socket = "$demo/control.sock"; };
CONF

# Both run in the background and this shell waits for them: Ctrl-C (SIGINT),
# SIGTERM and SIGHUP to this script stop both (a foreground proxy outlived a
# SIGTERM to the script).
backend= proxy=
trap 'kill $proxy $backend 2>/dev/null; wait $proxy $backend 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
coap-server-notls -A 127.0.0.1 -p 5683 &
backend=$!
cat <<MSG

== demo running: backend coap-server-notls on 127.0.0.1:5683, coaps-proxyd on UDP 5684
Try, in another terminal:
  coap-client-openssl -m get -u my_identity -k secretPSK123 coaps://127.0.0.1:5684/.well-known/core
  coap-client-openssl -m get -j $demo/certs/client-key.pem -c $demo/certs/client-cert.pem -R $demo/certs/ca-cert.pem coaps://localhost:5684/time
  $top/build/src/coaps-proxyctl -s $demo/control.sock stats
Ctrl-C stops both.

MSG
"$top/build/src/coaps-proxyd" -f -c "$demo/coaps-proxy.conf" &
proxy=$!
wait $proxy || true
