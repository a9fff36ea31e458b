#!/usr/bin/env bash
# Benchmarks against torch 1.13 and torch 2.13 (issues 7 and 18, docs/BENCHMARKS.md). Generates the inputs with torch into
# ${CKPT_BENCH_DIR:-/tmp/ckpt-bench} (about 8 GB, kept and reused; never committed), builds
# Release into build-bench/ (or $CKPT_BENCH_BUILD_DIR) with the benchmarks, runs every benchmark
# and its torch counterpart interleaved ${CKPT_BENCH_REPS:-5} times, prints the table and writes
# it with the machine's description to docs/BENCHMARKS.md.
#
#   scripts/bench.sh                 # everything
#   scripts/bench.sh --only B1,B5    # a subset (B1..B6, K = kernel micro-benchmarks)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inputs=${CKPT_BENCH_DIR:-/tmp/ckpt-bench}
build=${CKPT_BENCH_BUILD_DIR:-$root/build-bench}

if [[ ! -x /usr/bin/python3 ]] || ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: needs torch for /usr/bin/python3 (scripts/setup.sh installs python3-torch)" >&2
  exit 2
fi
if ! dpkg-query -W -f='${Status}' libbenchmark-dev 2>/dev/null | grep -q "install ok installed"; then
  "$root/scripts/setup.sh"
fi
# Today's peer: torch 2.13 in .venv-oracle runs beside Debian's 1.13 on every row (issue 18).
"$root/scripts/oracle_env.sh" >/dev/null

echo "bench: inputs in $inputs"
/usr/bin/python3 "$root/scripts/bench/make_inputs.py" "$inputs"
# DCP directories (B6): torch 2.13's own writer in 4 processes.
"$root/.venv-oracle/bin/python" "$root/scripts/bench/make_dcp_inputs.py" "$inputs"

echo "bench: building Release in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCKPT_BUILD_BENCH=ON \
  -DCKPT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target ckpt-inspect bench_launch bench_floor bench_kernels bench_gui

/usr/bin/python3 "$root/scripts/bench/run_bench.py" --build "$build" --inputs "$inputs" \
  --reps "${CKPT_BENCH_REPS:-5}" --out "$root/docs/BENCHMARKS.md" "$@"
