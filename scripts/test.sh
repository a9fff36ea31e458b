#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
CKPT_BUILD_DIR=${CKPT_BUILD_DIR:-$root/build-test} "$root/scripts/build.sh" -DCKPT_WERROR=ON
cd "${CKPT_BUILD_DIR:-$root/build-test}"
QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$(nproc)" --timeout 900
