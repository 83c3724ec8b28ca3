#!/usr/bin/env bash
# Seeds the fuzz targets from the recordings of a real Asterisk (crates/amiwire/tests/data).
#
# 1. Writes the committed seeds, crates/amiwire/tests/data/fuzz/<target>/seed-*: small files, a
#    few dozen at most per target, replayed by `cargo test` (tests/fuzz_replay.rs) on a fresh
#    clone. Rerun this script and commit the result when the recordings or an input format
#    change; other saved inputs there (crashes found by fuzzing) are kept as they are.
# 2. Fills the fuzz corpora, fuzz/corpus/<target>/ (not committed): every saved input, plus
#    more variants of each recording.
set -euo pipefail
cd "$(dirname "$0")"
data=../crates/amiwire/tests/data
saved=$data/fuzz
targets="decoder roundtrip filter callfile connection ajam"
for t in $targets; do
  mkdir -p "$saved/$t" "corpus/$t"
  rm -f "$saved/$t"/seed-*
done

# decoder: the first byte selects the decoder settings (banner or not, tight limits, chunk
# size); one setting per recording, in turn, and the first KiB of the stream.
sels=(0 5 18 255)
i=0
for f in "$data"/*.server.bin; do
  sel=${sels[$((i % 4))]}
  i=$((i + 1))
  { printf "\\x$(printf %02x "$sel")"; head -c 1024 "$f"; } > "$saved/decoder/seed-$(basename "$f" .server.bin).$sel"
done

# roundtrip: NUL-separated name, key, value, key, value… (the client's bytes with CR, LF and
# colons turned into NULs).
for f in "$data"/*.client.bin; do
  tr '\r\n:' '\000\000\000' < "$f" | head -c 1024 > "$saved/roundtrip/seed-$(basename "$f" .client.bin)" || true
done
printf 'Originate\0Channel\0Local/100@test\0Application\0Wait\0Data\0 1 \0Variable\0A=1,B=2' > "$saved/roundtrip/seed-originate"
printf 'Ping\0ActionID\0p-1\0X\0a\tb\0Action\0Command' > "$saved/roundtrip/seed-reserved-keys"

# filter: a legacy regex, a criteria line and its pattern (split at LF), manager.conf lines.
printf 'Event: Hangup' > "$saved/filter/seed-legacy"
printf '!Event: Newexten' > "$saved/filter/seed-exclude"
printf 'action(include),name(UserEvent)' > "$saved/filter/seed-criteria"
printf 'action(exclude),name(Newchannel),header(Channel),method(starts_with)\nLocal/' > "$saved/filter/seed-criteria2"
printf 'eventfilter(action(include),name(DialBegin),header(DestChannel),method(regex)) = ^PJSIP/' > "$saved/filter/seed-manager-conf"
printf 'eventfilter=!Event: Newexten\neventfilter=Event: Hangup' > "$saved/filter/seed-lines"

# callfile: call file text.
printf 'Channel: Local/100@test\nContext: test\nExtension: 100\nPriority: 1\nMaxRetries: 2\nSet: A=1\n' > "$saved/callfile/seed-basic"
printf 'Channel: SIP/100\nApplication: Playback\nData: hello-world\nArchive: yes\n' > "$saved/callfile/seed-app"
printf '# comment\r\nChannel: PJSIP/201\r\nCallerid: "A" <1>\r\nApplication: Echo\r\nSetvar: X=a\\;b ; note\r\nStartRetry: 123 1 (1700000000)\r\nStatus: Completed\r\n' > "$saved/callfile/seed-crlf-history"

# connection: pairs of (operation, argument) bytes; see amiwire::fuzzing::fuzz_connection.
printf "\x00\x00\x04\x00\x05\x00\x01\x01\x04\x00\x05\x03\x06\x01\x07\x01\x03\xff\x03\xff" > "$saved/connection/seed"
printf "\x02\x00\x04\x00\x05\x00\x08\x00\x00\x00\x0a\x00\x03\x80\x0b\x01\x04\x00\x03\xff" > "$saved/connection/seed-originate-logoff"
printf "\x00\x00\x09\x10Response: Success\x05\x00\x0b\x00" > "$saved/connection/seed-raw-close"

# ajam: a selector byte (body format: 0 rawman, 1 mxml, 2 manager; +4 tight limits), then an
# HTTP response as recorded (head, blank line, body): the start of each AMI-over-HTTP recording.
for f in "$data"/11a-http-rawman.server.bin:0 "$data"/11b-http-mxml.server.bin:1 "$data"/11d-http-arawman-digest.server.bin:0 "$data"/11b-http-mxml.server.bin:5; do
  file=${f%:*}
  sel=${f##*:}
  { printf "\\x$(printf %02x "$sel")"; head -c 1024 "$file"; } > "$saved/ajam/seed-$(basename "$file" .server.bin).$sel"
done
printf '\002WWW-authenticate: Digest algorithm=MD5, realm="a, b", nonce="1", qop="auth,auth-int", opaque="x", stale=true\r\nSet-Cookie: mansession_id="8a100a0e"; Version=1; Max-Age=60\r\n\r\n<table><tr><td>Response</td><td>Success</td></tr><tr><td colspan="2"><hr></td></tr></table>' > "$saved/ajam/seed-headers-html"

# The corpora: every saved input, and each recording with more settings and more of its bytes.
for t in $targets; do
  cp "$saved/$t"/* "corpus/$t/"
done
for f in "$data"/*.server.bin; do
  for sel in 0 5 18 255; do
    { printf "\\x$(printf %02x $sel)"; head -c 4096 "$f"; } > "corpus/decoder/$(basename "$f").$sel"
  done
done
for f in "$data"/*.client.bin; do
  tr '\r\n:' '\000\000\000' < "$f" | head -c 2048 > "corpus/roundtrip/$(basename "$f")" || true
done
