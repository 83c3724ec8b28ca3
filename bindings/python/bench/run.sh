#!/usr/bin/env bash
# The decoding benchmark: a venv in bindings/python/bench/.venv with panoramisk 1.4 and
# asterisk-ami 0.1.7 (bench only, not dependencies), amiwire built into it (release), then decode.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  maturin==1.9.4 panoramisk==1.4 asterisk-ami==0.1.7
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$here/.." && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop -q --release >/dev/null)
"$venv/bin/python" "$here/decode.py"
