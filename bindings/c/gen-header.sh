#!/usr/bin/env bash
# Regenerates the repository's include/amiwire.h and include/amiwire_ffi.h with cbindgen 0.29.4.
# With --check, fails when the checked-in headers differ from what cbindgen generates.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
inc="$(cd "$here/../.." && pwd)/include"
want=0.29.4
if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version | awk '{print $2}')" != "$want" ]; then
    cargo install cbindgen --version "$want" --locked -q
fi
out="$inc"
if [ "${1:-}" = "--check" ]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
cd "$here"
cbindgen --quiet --config cbindgen.toml --crate amiwire-ffi --output "$out/amiwire.h"
cbindgen --quiet --config cbindgen-ffi.toml --crate amiwire-ffi --output "$out/amiwire_ffi.h"
# FFI::cdef takes no preprocessor lines at all.
sed -i '/^#/d' "$out/amiwire_ffi.h"
if [ "${1:-}" = "--check" ]; then
    diff -u "$inc/amiwire.h" "$out/amiwire.h"
    diff -u "$inc/amiwire_ffi.h" "$out/amiwire_ffi.h"
    echo "headers up to date"
fi
