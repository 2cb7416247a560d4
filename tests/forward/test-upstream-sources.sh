#!/bin/sh
# backends.sources: upstream sockets are bound to the configured source addresses,
# in turn, and the backend sees them; bad sources are configuration errors.
. "${srcdir:-.}/tests/forward/lib.sh"

start_backend
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@;
               sources = [ "127.0.0.3", "127.0.0.4" ]; } );
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"

step "two sessions: their requests leave from 127.0.0.3 and 127.0.0.4, one each"
for p in /src/one /src/two; do
	out=$(get dev-42 devKey42 5 "$url$p")
	echo "$out" | grep -q '^payload ' || fail "$p not answered: $out"
done
for p in /src/one /src/two; do
	[ "$(reqs backend "$p")" = 1 ] || fail "$p: expected 1 request at the backend"
done
srcs=$(grep '^req .* path=/src/' "$tmp/backend.out" | sed 's/.* src=\([0-9.]*\):.*/\1/' | sort | tr '\n' ' ')
[ "$srcs" = "127.0.0.3 127.0.0.4 " ] || fail "backend saw sources: $srcs"

step "an IPv6 source for an IPv4 backend"
expect_config 'c.conf:4: backends[0].sources[0]: "::1" is not an IPv4 address (backend address 127.0.0.1 is IPv4)' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683;
               sources = [ "::1" ]; } );
CONF

step "a host name, an empty list, a number"
expect_config 'c.conf:4: backends[0].sources[0]: "localhost" is not an IPv4 address' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683;
               sources = [ "localhost" ]; } );
CONF
expect_config 'c.conf:4: backends[0].sources: must name 1 to 64 source addresses' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683;
               sources = [ ]; } );
CONF
expect_config 'c.conf:4: backends[0].sources[0]: must be a string' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683;
               sources = [ 5 ]; } );
CONF

echo "PASS"
