#!/usr/bin/env bash
# The C ABI's test suite: header up to date, C tests under ASan+UBSan and valgrind, the three
# examples against amiwire-sim over a real socket. Runnable from any directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
inc="$(cd "$here/../.." && pwd)/include"
root="$(cd "$here/../.." && pwd)"
cd "$root"
out="$(mktemp -d)"
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$out"
}
trap cleanup EXIT
step() { printf '== %s\n' "$*"; }
pass=0
ok() { pass=$((pass + 1)); printf '   ok: %s\n' "$*"; }

# --- tools ---
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v gcc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "header up to date (cbindgen 0.29.4)"
"$here/gen-header.sh" --check >/dev/null
ok "include/amiwire.h and include/amiwire_ffi.h match cbindgen's output"
if grep -q '^#' "$inc/amiwire_ffi.h"; then echo "amiwire_ffi.h has preprocessor lines" >&2; exit 1; fi
ok "amiwire_ffi.h has no preprocessor lines (PHP FFI::cdef)"

step "building libamiwire and amiwire-sim"
cargo build -q -p amiwire-ffi
cargo build -q -p amiwire-sim
lib="$root/target/debug"
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -I"$inc")
libs=(-lpthread -ldl -lm)

step "compiling C tests and examples (-Wall -Wextra -Wpedantic -Werror, C11)"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    "$here/tests/unit.c" "$lib/libamiwire.a" "${libs[@]}" -o "$out/unit-asan"
gcc "${cflags[@]}" "$here/tests/unit.c" "$lib/libamiwire.a" "${libs[@]}" -o "$out/unit"
# the shared library, as the README shows
gcc "${cflags[@]}" "$here/tests/unit.c" -L"$lib" -lamiwire -Wl,-rpath,"$lib" -o "$out/unit-shared"
for e in oneshot events originate; do
    gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
        "$here/examples/$e.c" "$lib/libamiwire.a" "${libs[@]}" -o "$out/$e"
done
# pkg-config, from the template
mkdir -p "$out/pc"
"$here/make-pc.sh" "$out/prefix" >"$out/pc/amiwire.pc"
mkdir -p "$out/prefix/lib" "$out/prefix/include"
cp "$lib/libamiwire.a" "$out/prefix/lib/" && cp "$inc/amiwire.h" "$out/prefix/include/"
# shellcheck disable=SC2046
gcc -std=c11 "$here/tests/unit.c" $(PKG_CONFIG_PATH="$out/pc" pkg-config --static --cflags --libs amiwire) -o "$out/unit-pc"
"$out/unit-pc" "$root/crates/amiwire/tests/data" >/dev/null
ok "amiwire.pc: compiled and linked with pkg-config --static"
g++ -x c++ -Wall -Wextra -Werror -I"$inc" -fsyntax-only - <<<'#include "amiwire.h"'
ok "compiled (the header also compiles as C++)"

data="$root/crates/amiwire/tests/data"
step "unit tests"
ASAN_OPTIONS=detect_leaks=1 "$out/unit-asan" "$data" >/dev/null
ok "ASan+UBSan (static library)"
valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all "$out/unit" "$data" >/dev/null
ok "valgrind: no errors, no leaks"
"$out/unit-shared" "$data" >/dev/null
ok "shared library"

step "examples against amiwire-sim"
mkfifo "$out/sim.in"
"$root/target/debug/amiwire-sim" --listen 127.0.0.1:0 --control <"$out/sim.in" >"$out/sim.out" 2>"$out/sim.err" &
sim_pid=$!
exec 7>"$out/sim.in"
for _ in $(seq 100); do grep -q 'listening on' "$out/sim.out" 2>/dev/null && break; sleep 0.1; done
port="$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$out/sim.out")"
[ -n "$port" ] || { echo "simulator did not start" >&2; cat "$out/sim.err" >&2; exit 1; }
sim() { # sends a control command and waits for its "ok" line
    local n; n=$(grep -c '^ok' "$out/sim.out" || true)
    echo "$*" >&7
    for _ in $(seq 200); do [ "$(grep -c '^ok' "$out/sim.out" || true)" -gt "$n" ] && return 0; sleep 0.05; done
    echo "simulator did not answer $*" >&2; exit 1
}
export AMI_HOST=127.0.0.1 AMI_PORT="$port" AMI_USERNAME=admin AMI_SECRET=amp111
expect() { # file pattern what
    grep -q -- "$2" "$1" || { echo "FAIL: $3: no '$2' in:" >&2; cat "$1" >&2; exit 1; }
}

AMI_MD5=1 timeout 20 "$out/oneshot" Command Command='core show version' >"$out/o1" 2>&1
expect "$out/o1" '^Asterisk 22' "oneshot Command output line"
expect "$out/o1" '^Message: Command output follows' "oneshot Command response"
ok "oneshot: MD5 login, Command, its output lines, Logoff"
timeout 20 "$out/oneshot" CoreShowChannels >"$out/o2" 2>&1
expect "$out/o2" '^EventList: start' "oneshot list response"
expect "$out/o2" '^Event: CoreShowChannelsComplete' "oneshot list completion"
ok "oneshot: an event list with its completion"
if AMI_SECRET=wrong timeout 20 "$out/oneshot" Ping >"$out/o3" 2>&1; then
    echo "FAIL: oneshot with a wrong secret exited 0" >&2; exit 1
fi
expect "$out/o3" 'login refused' "oneshot refused login message"
ok "oneshot: a refused login exits non-zero with a clear message"
if timeout 20 "$out/oneshot" 'Bad Name' >"$out/o4" 2>&1; then echo "FAIL: bad action name accepted" >&2; exit 1; fi
expect "$out/o4" 'cannot be encoded' "oneshot invalid action"
ok "oneshot: an invalid action name is refused before connecting"

timeout 30 "$out/originate" Local/100@test test 100 >"$out/or" 2>&1
expect "$out/or" '^Message: Originate successfully queued' "originate ack"
expect "$out/or" '^OriginateResponse for ActionID' "originate result"
expect "$out/or" '^Event: OriginateResponse' "originate result event"
id="$(sed -n 's/^OriginateResponse for ActionID \(.*\):$/\1/p' "$out/or")"
grep -q "^ActionID: $id\$" "$out/or"
ok "originate: async Originate and the OriginateResponse tied to its ActionID"

timeout 60 "$out/events" 'UserEvent: Keep' --count 4 >"$out/ev" 2>&1 &
ev=$!
for _ in $(seq 100); do grep -q -- '^--- logged in' "$out/ev" && break; sleep 0.1; done
expect "$out/ev" '^--- logged in' "events login"
sim flood 3 Drop
sim flood 2 Keep
for _ in $(seq 100); do [ "$(grep -c '^UserEvent: Keep' "$out/ev" || true)" -ge 2 ] && break; sleep 0.1; done
sim restart
for _ in $(seq 150); do grep -q -- '^--- reconnected' "$out/ev" && break; sleep 0.1; done
expect "$out/ev" '^--- disconnected' "events disconnect marker"
expect "$out/ev" '^--- reconnected' "events reconnect marker"
sim flood 3 Drop
sim flood 2 Keep
wait "$ev" || { echo "FAIL: events exited non-zero" >&2; cat "$out/ev" >&2; exit 1; }
[ "$(grep -c '^UserEvent: Keep' "$out/ev")" -eq 4 ] || { echo "FAIL: events count" >&2; cat "$out/ev" >&2; exit 1; }
if grep -q '^UserEvent: Drop' "$out/ev"; then echo "FAIL: the filter let Drop through" >&2; exit 1; fi
ok "events: filtered stream across a simulator restart, markers, filter still in force, Logoff"

exec 7>&-
wait "$sim_pid" 2>/dev/null || true
sim_pid=""
echo "C ABI: all $pass checks passed"
