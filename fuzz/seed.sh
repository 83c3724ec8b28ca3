#!/usr/bin/env bash
# Seeds the fuzz corpora from the recordings of a real Asterisk (crates/amiwire/tests/data).
set -euo pipefail
cd "$(dirname "$0")"
data=../crates/amiwire/tests/data
mkdir -p corpus/decoder corpus/roundtrip corpus/filter corpus/callfile corpus/connection
printf "\x00\x00\x04\x00\x05\x00\x01\x01\x04\x00\x05\x03\x06\x01\x07\x01\x03\xff\x03\xff" > corpus/connection/seed
for f in "$data"/*.server.bin; do
  # The first byte selects the decoder settings; keep a few variants of each recording.
  for sel in 0 5 18 255; do
    { printf "\\x$(printf %02x $sel)"; head -c 4096 "$f"; } > "corpus/decoder/$(basename "$f").$sel"
  done
done
for f in "$data"/*.client.bin; do
  tr '\r\n:' '\000\000\000' < "$f" | head -c 2048 > "corpus/roundtrip/$(basename "$f")" || true
done
printf 'Event: Hangup' > corpus/filter/legacy
printf '!Event: Newexten' > corpus/filter/exclude
printf 'action(include),name(UserEvent)' > corpus/filter/criteria
printf 'action(exclude),name(Newchannel),header(Channel),method(starts_with)\x00Local/' > corpus/filter/criteria2
printf 'Channel: Local/100@test\nContext: test\nExtension: 100\nPriority: 1\nMaxRetries: 2\nSet: A=1\n' > corpus/callfile/basic
printf 'Channel: SIP/100\nApplication: Playback\nData: hello-world\nArchive: yes\n' > corpus/callfile/app
