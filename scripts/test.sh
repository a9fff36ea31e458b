#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors and runs every test; then builds
# everything again with AddressSanitizer and UndefinedBehaviorSanitizer (GCC, UB is fatal) and
# runs every test a second time: no leak, no UB report may appear (issue 6).
#   CKPT_SANITIZE_PASS=0        skip the sanitizer pass (quick local runs)
#   CKPT_BUILD_DIR, CKPT_ASAN_BUILD_DIR   build directories (build-test, build-test-asan)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# The modern oracle (torch 2.13 in .venv-oracle, pinned in tests/oracle/requirements-torch2.txt):
# the random oracle test runs under it as well as under Debian's torch 1.13.
"$root/scripts/oracle_env.sh" >/dev/null

build=${CKPT_BUILD_DIR:-$root/build-test}
started=$SECONDS
CKPT_BUILD_DIR=$build "$root/scripts/build.sh" -DCKPT_WERROR=ON
(cd "$build" && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$(nproc)" --timeout 900)
echo "test: normal pass: $((SECONDS - started)) s"

if [[ "${CKPT_SANITIZE_PASS:-1}" == 1 ]]; then
  started=$SECONDS
  asan=${CKPT_ASAN_BUILD_DIR:-$root/build-test-asan}
  # -O1: the sanitizer build compiles and runs about twice as fast as at -O2 and still finds
  # what -O2 would; every test runs. -fno-sanitize-recover makes any UB report fail its test.
  CKPT_BUILD_DIR=$asan CKPT_BUILD_TYPE=RelWithDebInfo "$root/scripts/build.sh" -DCKPT_WERROR=ON \
    -DCMAKE_CXX_COMPILER=g++ -DCKPT_SANITIZE=address,undefined \
    -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=undefined" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
  # Leaks are reported at exit and fail the test (exitcode 23); suppressions only for leaks
  # inside third-party libraries, each explained in tests/lsan.supp.
  export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0:exitcode=23"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$asan" && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$(nproc)" --timeout 1800)
  echo "test: sanitizer pass (address,undefined): $((SECONDS - started)) s"
fi
"$root/scripts/fuzz.sh" --ci # every libFuzzer harness ~60 s with ASan+UBSan; fails on any finding (docs/FUZZING.md)
