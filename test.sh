#!/usr/bin/env bash
# Every test of amiwire, in every language: Rust (the whole workspace), then the C ABI, PHP and
# Python bindings, each through its own bindings/<lang>/test.sh, which installs what its suite
# needs when it is missing (cbindgen, php-cli, a Python venv with maturin and pytest…), then
# the click2call page in headless Chromium (tests/browser/run.sh, which installs chromium,
# chromium-driver and tesseract-ocr when they are missing).
#
#   ./test.sh                 everything
#   ./test.sh rust c          only these parts (rust, c, php, python, browser)
set -euo pipefail
cd "$(dirname "$0")"

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust c php python browser)

failed=()
for part in "${parts[@]}"; do
  echo "=== $part"
  case "$part" in
    rust) cmd=(cargo test --workspace) ;;
    c | php | python)
      script="bindings/$part/test.sh"
      if [ ! -f "$script" ]; then
        echo "test.sh: $script is missing" >&2
        exit 2
      fi
      cmd=(bash "$script")
      ;;
    browser) cmd=(bash tests/browser/run.sh) ;;
    *)
      echo "test.sh: unknown part '$part' (rust, c, php, python, browser)" >&2
      exit 2
      ;;
  esac
  if ! "${cmd[@]}"; then
    failed+=("$part")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "=== FAILED: ${failed[*]}"
  exit 1
fi
echo "=== all passed: ${parts[*]}"
