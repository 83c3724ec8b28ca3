#!/usr/bin/env bash
# The click2call page in headless Chromium (see drive.py): installs Chromium, chromedriver and
# tesseract from Debian when they are missing (as root, or with sudo), builds `amiwire`, then
# drives the page against the simulator. Screenshots and logs go to target/browser/.
#
#   bash tests/browser/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "browser: ${need[*]} missing, and neither root nor sudo to install them" >&2
    exit 2
  fi
  echo "browser: installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build -q -p amiwire-cli
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/browser"
mkdir -p "$out"

# drive.py ends what it starts (also on SIGTERM); at most three minutes, whatever hangs.
exec timeout --kill-after=10 180 python3 tests/browser/drive.py --amiwire "$target_dir/debug/amiwire" --out "$out"
