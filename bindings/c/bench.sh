#!/usr/bin/env bash
# Instructions per byte (callgrind) of the C decoder over the real bulk stream, next to the
# Rust decoder's in the same run, and the per-message cost of reading every header through
# the C API. Release builds (lto). Not run by test.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
inc="$(cd "$here/../.." && pwd)/include"
root="$(cd "$here/../.." && pwd)"
cd "$root"
command -v valgrind >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq valgrind >/dev/null; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo build -q --release -p amiwire-ffi
cargo build -q --release -p amiwire-benches --bin decode-count
gunzip -c crates/amiwire/tests/data/12a-bulk-events.server.bin.gz >"$out/bulk.bin"
bytes=$(stat -c %s "$out/bulk.bin")
gcc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -I"$inc" "$here/tests/bench_decode.c" \
    target/release/libamiwire.a -lpthread -ldl -lm -o "$out/bench_decode"
count() { # prints the instruction count (Ir) of a command under callgrind
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$@" >"$out/run.txt" 2>"$out/cg.err"
    cat "$out/run.txt" >&2
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$out/cg.err"
}
rust_none=$(count target/release/decode-count none "$out/bulk.bin")
rust=$(count target/release/decode-count amiwire "$out/bulk.bin")
c_none=$(count "$out/bench_decode" none "$out/bulk.bin")
c=$(count "$out/bench_decode" decode "$out/bulk.bin")
c_h=$(count "$out/bench_decode" headers "$out/bulk.bin")
messages=$(sed -n 's/.* \([0-9]*\) messages.*/\1/p' "$out/run.txt")
awk -v b="$bytes" -v m="$messages" -v rn="$rust_none" -v r="$rust" -v cn="$c_none" -v c="$c" -v ch="$c_h" 'BEGIN {
    rb = (r - rn) / b; cb = (c - cn) / b;
    printf "bulk stream: %d bytes, %d messages\n", b, m;
    printf "Rust decoder (decode-count amiwire): %.2f instructions/byte\n", rb;
    printf "C decoder (amiwire_decoder_decode + kind + header count): %.2f instructions/byte (%+.1f%% vs Rust)\n", cb, (cb / rb - 1) * 100;
    printf "C, reading every header (amiwire_message_header): %.2f instructions/byte; %.0f instructions/message more than decode alone\n", (ch - cn) / b, (ch - c) / m;
    printf "C API per message (decode + kind + count, over Rust decode alone): %.0f instructions\n", ((c - cn) - (r - rn)) / m;
}'
