#!/usr/bin/env bash
# The Python binding's suite: a venv in bindings/python/.venv with pinned test tools, the
# module built into it (maturin develop), the simulator built, then stubtest and pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  maturin==1.9.4 pytest==8.3.3 pytest-asyncio==0.24.0 hypothesis==6.112.1 mypy==1.11.2

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build -q -p amiwire-sim)
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop -q --release 2>&1 | grep -v "^🐍\|^📡\|^📦\|^✏️\|^🛠" || true
"$venv/bin/python" -c "import amiwire._amiwire" # the build above must have installed it

echo "-- stubtest"
(cd "$here/python" && "$venv/bin/python" -m mypy.stubtest amiwire --allowlist "$here/stubtest-allowlist.txt")
echo "-- pytest"
"$venv/bin/python" -m pytest -q "$here/tests"
