#!/usr/bin/env bash
# Installs what building, running and testing Checkpoint Browser needs on Debian 12 or 13.
# Idempotent: apt is only called when a package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-base-dev-tools qt6-svg-dev libqt6svg6 libgl-dev
  libqcustomplot-dev nlohmann-json3-dev zlib1g-dev
  xvfb xauth
)
# CKPT_FOR=run (scripts/run.sh): only what building and running the app needs.
if [[ "${CKPT_FOR:-all}" != run ]]; then
  # Fuzzing (scripts/fuzz.sh, docs/FUZZING.md): the distribution's Clang with its libFuzzer and
  # sanitizer runtimes (the unversioned packages: Clang 14 on Debian 12, Clang 19 on Debian 13).
  packages+=(clang libclang-rt-dev)
  # Benchmarks (scripts/bench.sh, CKPT_BUILD_BENCH): Google Benchmark.
  packages+=(libbenchmark-dev)
fi
# torch is used only by tests and benchmarks (expected values, the oracle); never at run time.
if [[ "${CKPT_WITH_TORCH:-1}" == 1 ]]; then
  packages+=(python3 python3-torch python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
