#!/bin/sh
# make-corpus.sh: writes the seed corpus of fuzz_coap_msg (tiny valid CoAP messages;
# the second argument of seed is a printf format: octal escapes, %% for %).
set -eu
dir=${1:-$(dirname "$0")/corpus/coap_msg}
mkdir -p "$dir"
seed() { printf "$2" > "$dir/$1.bin"; }
seed con-get-path '\102\001\022\064\252\273\261a\001b'          # CON GET /a/b, token aabb
seed non-post-payload '\120\002\000\001\301\000\377hello'      # NON POST, Content-Format 0
seed ack-205 '\141\105\000\002\001\300\377hi'                  # ACK 2.05 piggybacked
seed ping '\100\000\000\005'                                   # empty CON
seed rst '\160\000\000\004'                                    # empty RST
seed con-notify '\101\105\000\006\177\143\001\002\003'         # CON 2.05, Observe
seed identity-65001 '\101\001\022\064\231\261a\321\352\002\342\373\332ev\002il\101z\377p'
seed proxy-uri '\101\001\000\020\132\335\026\020coap://127.0.0.1:5683/a/b?x=1'
seed proxy-uri-name '\100\001\000\021\335\026\027coap://Example.COM:5690/x%%20y/?a=1&b'
seed proxy-scheme '\100\001\000\040\061h\102\026\072\101p\324\017coap'
seed uri-host '\100\001\000\001\067Example\202fw\002v1\000'
