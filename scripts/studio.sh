#!/usr/bin/env bash
# Installs what is missing, builds, and opens KME Studio on the demo project.
# Extra arguments go to kme-studio (e.g. --model DIR, --screenshot DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
BUILD_DIR=${KME_BUILD_DIR:-build}
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found: running under Xvfb (use --screenshot DIR to get pictures)." >&2
  exec xvfb-run -a -s "-screen 0 1600x1000x24" "$BUILD_DIR/app/kme-studio" "$@"
fi
exec "$BUILD_DIR/app/kme-studio" "$@"
