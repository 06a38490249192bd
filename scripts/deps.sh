#!/usr/bin/env bash
# Installs the Debian 12 packages KME Studio needs, when any is missing.
# Usage: scripts/deps.sh [--gui]   (--gui adds what the window needs at run time: Xvfb is for tests/screenshots)
set -euo pipefail

PACKAGES=(cmake g++ make pkg-config ccache git
  qt6-base-dev qt6-qpa-plugins qt6-svg-dev libqcustomplot-dev libqcustomplot2.1-qt6
  libtorch-dev libopenblas0-openmp libsqlite3-dev nlohmann-json3-dev libpcre2-dev libicu-dev libgl-dev
  xvfb xauth fonts-dejavu-core)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm are only needed by the tokenizer's golden tests (npm gpt-3-encoder).
# A machine may already carry a newer Node from elsewhere; Debian's npm conflicts with it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
