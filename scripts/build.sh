#!/usr/bin/env bash
# Configures and builds KME Studio into build/ (ccache, -j = cores).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${KME_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
