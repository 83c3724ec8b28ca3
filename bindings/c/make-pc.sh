#!/usr/bin/env bash
# Writes amiwire.pc from amiwire.pc.in: ./make-pc.sh PREFIX > amiwire.pc
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${1:-/usr/local}"
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -1)"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$here/amiwire.pc.in"
