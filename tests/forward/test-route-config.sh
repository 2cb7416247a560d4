#!/bin/sh
# Routing configuration: coaps-proxyd -t rejects routes naming no backend, routes
# after the default, unresolvable backend names and bad identity_option /
# backend_timeout values, bad anonymous / forward_proxy keys; a down backend is fine;
# a bad reload keeps the old routes.
. "${srcdir:-.}/tests/forward/lib.sh"

step "the issue's example shape, with a backend nothing listens on: configuration OK"
expect_config "configuration OK" 0 <<CONF
backends = ( { name = "telemetry"; address = "127.0.0.1"; port = $down_port; },
             { name = "firmware";  address = "localhost"; port = 5683; } );
routes = ( { path_prefix = "/fw";  backend = "firmware"; },
           { identity = "sensor-*"; backend = "telemetry"; },
           { uri_host = "ota.example"; backend = "firmware"; },
           { backend = "telemetry"; } );
identity_option = 65000;
backend_timeout = 5;
CONF

step "a route naming no backend that exists"
expect_config 'c.conf:5: routes[1].backend: no backend is named "nope"' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { path_prefix = "/x"; backend = "a"; },
           { identity = "s-*"; backend = "nope"; } );
CONF

step "a route after the default route"
expect_config 'c.conf:5: routes[1]: comes after the default route' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { backend = "a"; },
           { path_prefix = "/x"; backend = "a"; } );
CONF

step "a backend name that does not resolve"
expect_config 'cannot resolve "no-such-host.invalid"' 1 <<'CONF'
backends = ( { name = "a"; address = "no-such-host.invalid"; port = 5683; } );
CONF

step "bad identity_option, backend_timeout and route keys"
expect_config 'identity_option' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
identity_option = 70000;
CONF
expect_config 'identity_option' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
identity_option = 11;
CONF
expect_config 'backend_timeout' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
backend_timeout = 0;
CONF
expect_config 'routes[0]' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { path = "/x"; backend = "a"; } );
CONF
expect_config 'routes[0]' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { path_prefix = "/x"; } );
CONF

step "anonymous and forward_proxy: true or false; anonymous excludes identity; shadowed routes"
expect_config 'c.conf:4: routes[0].forward_proxy: must be true or false' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { forward_proxy = 1; backend = "a"; } );
CONF
expect_config 'c.conf:4: routes[0].anonymous: must be true or false' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { anonymous = "yes"; backend = "a"; } );
CONF
expect_config 'c.conf:4: routes[0].identity: cannot go with anonymous = true' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { identity = "*"; anonymous = true; backend = "a"; } );
CONF
expect_config 'c.conf:6: routes[2]: comes after routes[0] (anonymous = true and no other match key)' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { anonymous = true; backend = "a"; },
           { backend = "a"; },
           { anonymous = true; path_prefix = "/x"; backend = "a"; } );
CONF
expect_config 'c.conf:6: routes[2]: comes after the default route' 1 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { backend = "a"; },
           { anonymous = true; backend = "a"; forward_proxy = false; },
           { identity = "x"; backend = "a"; } );
CONF
# The default route takes no anonymous session: an anonymous route after it can match.
expect_config "configuration OK" 0 <<'CONF'
backends = ( { name = "a"; address = "127.0.0.1"; port = 5683; } );
routes = ( { identity = "ops-*"; forward_proxy = true; backend = "a"; },
           { backend = "a"; forward_proxy = true; },
           { anonymous = true; path_prefix = "/pub"; backend = "a"; },
           { anonymous = true; backend = "a"; } );
CONF

step "a reload with a route naming no backend fails and keeps the old routes"
start_backend
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
routes = ( { path_prefix = "/ok"; backend = "echo"; } );
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"
out=$(get dev-42 devKey42 5 "$url/ok/1")
echo "$out" | grep -q '^payload 0' || fail "/ok/1: $out"
sed -i 's/backend = "echo"; } );$/backend = "gone"; } );/' "$tmp/proxy.conf"
grep -q '"gone"' "$tmp/proxy.conf" || fail "test bug: config not edited"
reload_proxy 'event=reload-failed'
wait_log 'event=reload-failed .*no backend is named \\"gone\\"|event=reload-failed .*no backend is named .gone'
out=$(get dev-42 devKey42 5 "$url/ok/2")
echo "$out" | grep -q '^payload 0' || fail "old routes lost after a failed reload: $out"
[ "$(reqs backend /ok/2)" = 1 ] || fail "/ok/2 did not reach the backend"
out=$(get dev-42 devKey42 5 "$url/other")
echo "$out" | grep -q '4\.04' || fail "no route (no default): expected 4.04, got: $out"
stop_proxy
echo "PASS"
