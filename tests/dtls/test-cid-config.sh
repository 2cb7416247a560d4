#!/bin/sh
# dtls.connection_id and dtls.cid_length: defaults, ranges, and a clear error for
# connection_id = true where this build's mbedTLS has no Connection IDs.
. "${srcdir:-.}/tests/lib/harness.sh"

start_backend
if grep -q '^#define HAVE_MBEDTLS_CID 1' config.h; then
	step "mbedTLS with Connection IDs: connection_id = true and cid_length = 16 are accepted"
	expect_config "configuration OK" 0 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { connection_id = true; cid_length = 16; };
CONF
else
	step "mbedTLS without Connection IDs: connection_id = true is an error that says why"
	expect_config "c.conf:4: dtls.connection_id: this build's mbedTLS (" 1 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { connection_id = true; };
CONF
	expect_config "has no RFC 9146 Connection IDs" 1 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { connection_id = true; };
CONF
fi

step "connection_id = false and cid_length build everywhere (one file for both platforms)"
expect_config "configuration OK" 0 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { connection_id = false; cid_length = 4; };
CONF

step "cid_length out of 4..16, connection_id not a boolean"
expect_config "c.conf:4: dtls.cid_length: 3 is out of range (4 to 16)" 1 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { cid_length = 3; };
CONF
expect_config "c.conf:4: dtls.cid_length: 17 is out of range (4 to 16)" 1 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { cid_length = 17; };
CONF
expect_config "c.conf:4: dtls.connection_id: must be true or false" 1 <<CONF
backends = ( { name = "b"; address = "127.0.0.1"; port = $backend_port; } );
dtls = { connection_id = 1; };
CONF
