#!/usr/bin/env bash
# Configures and builds into build/ (or $CKPT_BUILD_DIR). Extra arguments go to cmake.
# CKPT_TARGETS="a b" builds only those targets (scripts/run.sh: the two programs, no tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CKPT_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${CKPT_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
targets=()
for t in ${CKPT_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
