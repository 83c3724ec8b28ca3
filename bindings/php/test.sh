#!/usr/bin/env bash
# The PHP binding's suite: installs php-cli when missing (Debian's, with FFI), builds
# amiwire-ffi (the C ABI, libamiwire.so) and amiwire-sim, checks the C ABI's FFI header
# (include/amiwire_ffi.h) against the library's exports, and runs tests/run.php
# against the simulator. Ends with "N passed, N failed"; non-zero on failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v php >/dev/null 2>&1 || ! php -m 2>/dev/null | grep -qx FFI; then
  echo "== installing php-cli (Debian, with FFI)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq php-cli >/dev/null
fi
php -r 'exit(version_compare(PHP_VERSION, "8.2.0", ">=") && extension_loaded("FFI") ? 0 : 1);' || {
  echo "php >= 8.2 with FFI is needed (found $(php -r 'echo PHP_VERSION;'))" >&2
  exit 1
}

echo "== building amiwire-ffi and amiwire-sim"
cd "$root"
cargo build --quiet -p amiwire-ffi -p amiwire-sim
target="${CARGO_TARGET_DIR:-$root/target}"
export AMIWIRE_LIB="${AMIWIRE_LIB:-$target/debug/libamiwire.so}"
export AMIWIRE_SIM="${AMIWIRE_SIM:-$target/debug/amiwire-sim}"

echo "== FFI header declares exactly the library's exports"
php "$here/tools/check-ffi-header.php" "$AMIWIRE_LIB"

echo "== php $(php -r 'echo PHP_VERSION;') suite against amiwire-sim"
php "$here/tests/run.php" "$@"
