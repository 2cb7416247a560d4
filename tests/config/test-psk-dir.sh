#!/bin/sh
# psk_dir: every *.conf file of a directory holds psk = ( ... ) entries; each is checked with
# its file and line and the permission rules of key files; duplicates across files name both
# places; a reload picks up files added and removed.
. "${srcdir:-.}/tests/config/lib.sh"

etc=$tmp/etc
d=$etc/psk.d
mkdir -p "$d"
chmod 700 "$d"
# Writes psk.d/$1 (mode 0600) from standard input.
pskfile() {
	cat >"$d/$1"
	chmod 600 "$d/$1"
}
# GET as identity $1 with text key $2; output on stdout.
get() {
	client coap-client-openssl 5 -m get -u "$1" -k "$2" "coaps://127.0.0.1:$proxy_port/time"
}

start_coap_server
write_conf "$etc/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "main"; key = "mainkey"; } );
psk_dir = "psk.d";   # relative to this file's directory
CONF
chmod 600 "$etc/proxy.conf"
pskfile a.conf <<'EOF2'
# written by provisioning
psk = ( { identity = "dev-a"; key = "keya"; } );
EOF2
pskfile b.conf <<'EOF2'
psk = (
  { identity = "dev-b"; key_hex = "6b657962"; },   # "keyb"
  { identity = "dev-b2"; key = "keyb2"; }
);
EOF2
# Not *.conf, or hidden (a provisioning tool's temporary file): not read.
printf 'garbage\n' >"$d/README"
printf 'garbage\n' >"$d/.c.conf.tmp"
printf 'garbage\n' >"$d/.hidden.conf"

step "coaps-proxyd -t: the directory's files load, others are skipped"
check_config "$etc/proxy.conf"
expect_out 0 "configuration OK"

step "errors inside a PSK file name it and the line"
pskfile c.conf <<'EOF2'
psk = (
  { identity = "dev-c"; key_hex = "zz"; }
);
EOF2
check_config "$etc/proxy.conf"
expect_out 1 "$d/c.conf:2: psk[0].key_hex: not valid hex"
printf 'psk = ( { identity = ; } );\n' >"$d/c.conf"
check_config "$etc/proxy.conf"
expect_out 1 "$d/c.conf:1: (syntax)"
printf 'psk = ( { identity = "dev-c"; key = "k"; } );\nlisten = ( );\n' >"$d/c.conf"
check_config "$etc/proxy.conf"
expect_out 1 "$d/c.conf:2: listen: unknown key"
printf '@include "%s"\n' "$d/a.conf" >"$d/c.conf"
check_config "$etc/proxy.conf"
expect_out 1 "$d/c.conf:1: @include is not allowed in a PSK file"

step "a duplicate identity across files names both files and lines"
pskfile c.conf <<'EOF2'
psk = ( { identity = "dev-c"; key = "keyc"; },
        { identity = "dev-a"; key = "other"; } );
EOF2
check_config "$etc/proxy.conf"
expect_out 1 "$d/c.conf:2: psk[1].identity: duplicate identity \"dev-a\", first at $d/a.conf:2"
printf 'psk = ( { identity = "main"; key = "k"; } );\n' >"$d/c.conf"
check_config "$etc/proxy.conf"
expect_out 1 "$d/c.conf:1: psk[0].identity: duplicate identity \"main\", first at $etc/proxy.conf:3"
rm "$d/c.conf"

step "permissions: a world-writable file or directory is refused, a readable file warned about"
chmod 602 "$d/b.conf"
check_config "$etc/proxy.conf"
expect_out 1 "psk_dir: $d/b.conf is world-writable (mode 0602)"
chmod 644 "$d/b.conf"
check_config "$etc/proxy.conf"
expect_out 0 "$d/b.conf: holds PSK keys and is readable by every user (mode 0644)"
chmod 600 "$d/b.conf"
chmod 777 "$d"
check_config "$etc/proxy.conf"
expect_out 1 "psk_dir: $d is world-writable (mode 0777)"
chmod 700 "$d"
mkfifo "$d/fifo.conf"
check_config "$etc/proxy.conf"
expect_out 1 "psk_dir: $d/fifo.conf is a FIFO, not a regular file"
rm "$d/fifo.conf"
check_config "$etc/proxy.conf"
expect_out 0 "configuration OK"
printf '%s\n' "$out" | grep -q "holds PSK keys" && fail "warned about mode 0600 files: $out"

step "the daemon: identities of both files and of the main file connect"
start_proxy "$etc/proxy.conf"
pid=$(cat "$tmp/proxy.pid")
wait_log 'event=started .*psk_identities=4'
for id in dev-a:keya dev-b:keyb dev-b2:keyb2 main:mainkey; do
	out=$(get "${id%%:*}" "${id#*:}") || fail "GET as ${id%%:*} failed"
	[ -n "$out" ] || fail "GET as ${id%%:*}: no answer"
done

step "reload: a new file's identity connects, a removed file's cannot"
pskfile d.conf <<'EOF2'
psk = ( { identity = "dev-d"; key = "keyd"; } );
EOF2
rm "$d/a.conf"
kill -HUP "$pid"
wait_log 'event=reloaded .*psk_identities=4'
out=$(get dev-d keyd) || fail "GET as the new dev-d failed"
[ -n "$out" ] || fail "GET as dev-d: no answer"
get dev-a keya >/dev/null 2>&1 || true
wait_log 'reason="unknown PSK identity .dev-a.'

step "reload with a broken PSK file keeps the running configuration"
printf 'psk = ( { identity = "dev-e"; key_hex = "0"; } );\n' >"$d/e.conf"
chmod 600 "$d/e.conf"
kill -HUP "$pid"
wait_log "event=reload-failed .*reason=\"$d/e.conf:1: psk\\[0\\].key_hex"
out=$(get dev-d keyd) || fail "dev-d lost after a failed reload"
stop_proxy
echo PASS
