#!/bin/sh
# coaps-proxyd -t on hostile files: the configuration and its @include files must be
# regular files, not world-writable, 1 MiB in all; keys, certificates, CAs and CRLs must not
# be world-writable; key material others can read is warned about; integers too large for
# libconfig 1.5's 32 bits are reported as written.
. "${srcdir:-.}/tests/config/lib.sh"

# The tests cd into $tmp (check_config runs from /): certgen must be absolute.
certgen=$(cd "$(dirname "$certgen")" && pwd)/$(basename "$certgen")
head='listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );'
ok=$tmp/ok.conf
printf '%s\npsk = ( { identity = "a"; key = "k"; } );\n' "$head" >"$ok"
chmod 600 "$ok"

step "a directory, a FIFO, a device: named, not read"
mkdir "$tmp/dir.conf"
check_config "$tmp/dir.conf"
expect_out 1 "$tmp/dir.conf:0: (file): is a directory, not a regular file"
mkfifo "$tmp/fifo.conf"
check_config "$tmp/fifo.conf"
expect_out 1 "$tmp/fifo.conf:0: (file): is a FIFO, not a regular file"
check_config /dev/zero
expect_out 1 "/dev/zero:0: (file): is a character device, not a regular file"

step "more than 1 MiB is refused with the size; just under it loads"
{ cat "$ok"; head -c $((1024 * 1024)) /dev/zero | tr '\0' '#'; echo; } >"$tmp/big.conf"
chmod 600 "$tmp/big.conf"
check_config "$tmp/big.conf"
expect_out 1 "$tmp/big.conf:0: (file): is $(stat -c %s "$tmp/big.conf") bytes: the configuration and its @include files may have 1048576 bytes (1 MiB) in all"
{ cat "$ok"; head -c $((1024 * 1024 - 200)) /dev/zero | tr '\0' '#'; echo; } >"$tmp/under.conf"
chmod 600 "$tmp/under.conf"
check_config "$tmp/under.conf"
expect_out 0 "configuration OK"

step "a NUL byte is refused (libconfig would stop reading there)"
printf '%s\n' "$head" >"$tmp/nul.conf"
printf 'psk = ( { identity = "a"; key = "k"; } );\0frobnicate = 1;\n' >>"$tmp/nul.conf"
check_config "$tmp/nul.conf"
expect_out 1 "$tmp/nul.conf:0: (file): contains a NUL byte"

step "@include files: checked like the main file, named with the line that includes them"
cd "$tmp"
printf '%s\n@include "psk.inc"\n' "$head" >"$tmp/inc.conf"
printf 'psk = ( { identity = "a"; key = "k"; } );\n' >"$tmp/psk.inc"
chmod 600 "$tmp/inc.conf" "$tmp/psk.inc"
check_config "$tmp/inc.conf"
expect_out 0 "configuration OK"
rm "$tmp/psk.inc"
mkfifo "$tmp/psk.inc"
check_config "$tmp/inc.conf"
expect_out 1 "$tmp/inc.conf:3: @include \"psk.inc\": $tmp/psk.inc: is a FIFO, not a regular file"
rm "$tmp/psk.inc"
{ printf 'psk = ( { identity = "a"; key = "k"; } );\n'; head -c $((1024 * 1024)) /dev/zero | tr '\0' '#'; echo; } >"$tmp/psk.inc"
check_config "$tmp/inc.conf"
expect_out 1 "$tmp/inc.conf:3: @include \"psk.inc\": $tmp/psk.inc: is $(stat -c %s "$tmp/psk.inc") bytes"
# Many includes of a file under the limit add up.
head -c 300000 /dev/zero | tr '\0' '#' >"$tmp/pad.inc"
echo >>"$tmp/pad.inc"
printf 'psk = ( { identity = "a"; key = "k"; } );\n' >"$tmp/psk.inc"
printf '%s\n@include "psk.inc"\n@include "pad.inc"\n@include "pad.inc"\n@include "pad.inc"\n@include "pad.inc"\n' "$head" >"$tmp/inc.conf"
chmod 600 "$tmp/psk.inc" "$tmp/pad.inc"
check_config "$tmp/inc.conf"
expect_out 1 "$tmp/inc.conf:7: @include \"pad.inc\": $tmp/pad.inc: is 300001 bytes: the configuration and its @include files may have 1048576 bytes (1 MiB) in all"
# An @include inside a comment is not followed by libconfig, nor checked.
printf '%s\n/*\n@include "fifo.conf"\n*/\n@include "psk.inc"\n' "$head" >"$tmp/inc.conf"
check_config "$tmp/inc.conf"
expect_out 0 "configuration OK"
cd - >/dev/null

step "world-writable files are refused: configuration, @include, key, certificate, CA, CRL"
cp "$ok" "$tmp/ww.conf"
chmod 666 "$tmp/ww.conf"
check_config "$tmp/ww.conf"
expect_out 1 "$tmp/ww.conf:0: (file): is world-writable (mode 0666)"
chmod 602 "$tmp/ww.conf"
check_config "$tmp/ww.conf"
expect_out 1 "$tmp/ww.conf:0: (file): is world-writable (mode 0602)"
cd "$tmp"
printf '%s\n@include "psk.inc"\n' "$head" >"$tmp/inc.conf"
chmod 646 "$tmp/psk.inc"
check_config "$tmp/inc.conf"
expect_out 1 "$tmp/inc.conf:3: @include \"psk.inc\": $tmp/psk.inc: is world-writable (mode 0646)"
chmod 600 "$tmp/psk.inc"
cd - >/dev/null
make_certs
x509() {
	printf '%s\nx509 = { certificate = "%s"; private_key = "%s"; client_ca = "%s"; %s };\n' \
		"$head" "${1:-$certs/server-cert.pem}" "${2:-$certs/server-key.pem}" \
		"${3:-$certs/ca-cert.pem}" "${4:-}" >"$tmp/x.conf"
	chmod 600 "$tmp/x.conf"
	check_config "$tmp/x.conf"
}
x509
expect_out 0 "configuration OK"
expect_not "private key"
for f in server-key.pem server-cert.pem ca-cert.pem; do
	chmod o+w "$certs/$f"
	x509
	expect_out 1 "$certs/$f is world-writable (mode"
	chmod o-w "$certs/$f"
done
chmod 666 "$certs/ca.crl"
x509 "" "" "" "crl = \"$certs/ca.crl\";"
expect_out 1 "x509.crl: $certs/ca.crl is world-writable (mode 0666)"
chmod 644 "$certs/ca.crl"
mkdir "$tmp/cadir"
cp "$certs/ca-cert.pem" "$tmp/cadir/"
x509 "" "" "$tmp/cadir"
expect_out 0 "configuration OK"
chmod 666 "$tmp/cadir/ca-cert.pem"
x509 "" "" "$tmp/cadir"
expect_out 1 "$tmp/cadir/ca-cert.pem is world-writable (mode 0666)"
chmod 644 "$tmp/cadir/ca-cert.pem"
chmod 777 "$tmp/cadir"
x509 "" "" "$tmp/cadir"
expect_out 1 "$tmp/cadir is world-writable (mode 0777)"

step "key material others can read is warned about, with the file and why"
chmod 644 "$certs/server-key.pem"
x509
expect_out 0 "configuration OK"
expect_out "0" "$certs/server-key.pem: the private key is readable by every user (mode 0644)"
chmod 600 "$certs/server-key.pem"
chmod 644 "$ok"
check_config "$ok"
expect_out 0 "$ok: holds PSK keys and is readable by every user (mode 0644)"
chmod 640 "$ok"
check_config "$ok"
expect_out 0 "configuration OK"
if [ "$(id -g)" != 65534 ] && chgrp 65534 "$ok" 2>/dev/null; then
	check_config "$ok"
	expect_out 0 "$ok: holds PSK keys and is readable by its group (not the daemon's) (mode 0640)"
fi
chmod 600 "$ok"
check_config "$ok"
expect_not "holds PSK keys"
# The warning names the included file that holds the keys, not the main file.
cd "$tmp"
chmod 644 "$tmp/psk.inc"
check_config "$tmp/inc.conf"
expect_out 0 "psk.inc: holds PSK keys and is readable by every user (mode 0644)"
expect_not "inc.conf: holds PSK keys"
cd - >/dev/null

step "integers beyond 32 bits are reported as written, not wrapped"
for v in 99999999999 4294967297 0x100001633; do
	printf 'listen = ( { address = "::"; port = %s; } );\n%s\n' "$v" "$(printf '%s\n' "$head" | tail -1)" >"$tmp/int.conf"
	printf 'psk = ( { identity = "a"; key = "k"; } );\n' >>"$tmp/int.conf"
	check_config "$tmp/int.conf"
	expect_out 1 "$tmp/int.conf:1: listen[0].port: $v is out of range (1 to 65535)"
done
printf '%s\npsk = ( { identity = "port = 7"; key = "k"; } ); dtls = { mtu = 1232; };\n' "$head" >"$tmp/int.conf"
check_config "$tmp/int.conf"
expect_out 0 "configuration OK"
printf '%s\npsk = ( { identity = "a"; key = "k"; } );\nsession = { idle_timeout = 99999999999L; };\n' "$head" >"$tmp/int.conf"
check_config "$tmp/int.conf"
expect_out 1 "session.idle_timeout: 99999999999 is out of range (1 to 604800)"
echo PASS
