#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (Clang 14, ASan + UBSan) and runs them
# (docs/FUZZING.md).
#
#   scripts/fuzz.sh [--time SECONDS] [harness...] [-- LIBFUZZER-FLAGS...]
#                                                   long runs: 600 s per harness by default; the
#                                                   corpus grows over runs in the work folder
#                                                   (e.g. -- -use_value_profile=1)
#   scripts/fuzz.sh --ci                            every harness 60 s from the seeds and the
#                                                   committed regressions; fails on any finding
#
# Harnesses: zip pickle legacy tar safetensors index checkpoint dcp (default: all, one after the other,
# one process each: the machine is shared).
# Limits (PRODUCT.md section 6: an input under 1 MB never allocates more than 256 MB nor works
# longer than 2 s): -malloc_limit_mb=256, -rss_limit_mb=2048, -timeout=10 (sanitizers slow things
# down several times), and units slower than 2 s are saved as slow-unit-* findings.
# Work folder: $CKPT_FUZZ_WORK (default build-fuzz/work): seeds/<h> (cut from tests/fixtures
# by tests/fuzz/make_seeds.py), corpus/<h> (what the fuzzer found; scratch, never committed),
# dict/<h>.dict, logs/<h>.log, findings/<h>/ (crash-*, leak-*, timeout-*, oom-*, slow-unit-*).
# A finding, once fixed, is committed to tests/fixtures/fuzz/<h>/ (tst_fuzzregressions runs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
all=(zip pickle legacy tar safetensors index checkpoint dcp)

seconds=600
ci=0
harnesses=()
extra=()
while (($#)); do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    --time) seconds=$2; shift 2 ;;
    --time=*) seconds=${1#--time=}; shift ;;
    --ci) ci=1; seconds=60; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *)
      if [[ " ${all[*]} " != *" $1 "* ]]; then
        echo "fuzz.sh: unknown harness '$1' (have: ${all[*]})" >&2; exit 2
      fi
      harnesses+=("$1"); shift ;;
  esac
done
((${#harnesses[@]})) || harnesses=("${all[@]}")

command -v clang++ >/dev/null || "$root/scripts/setup.sh"
build=${CKPT_FUZZ_BUILD_DIR:-$root/build-fuzz}
work=${CKPT_FUZZ_WORK:-$build/work}
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCKPT_FUZZ=ON -DCKPT_BUILD_GUI=OFF -DCKPT_BUILD_TESTS=OFF -DCKPT_WERROR=ON \
  -DCKPT_SANITIZE=address,undefined >/dev/null
cmake --build "$build" --target fuzzers

rm -rf "$work/seeds"
python3 "$root/tests/fuzz/make_seeds.py" "$root/tests/fixtures" "$work/seeds"
mkdir -p "$work/dict" "$work/logs"
dict_of() {
  case "$1" in
    zip|pickle|tar|safetensors|index) cat "$root/tests/fuzz/$1.dict" ;;
    legacy|dcp) cat "$root/tests/fuzz/pickle.dict" ;;
    checkpoint) cat "$root/tests/fuzz/"{pickle,zip,tar,safetensors}.dict ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
summary="$work/summary.txt"
: >"$summary"
for h in "${harnesses[@]}"; do
  dict_of "$h" >"$work/dict/$h.dict"
  findings="$work/findings/$h"
  mkdir -p "$findings"
  if ((ci)); then
    corpus=$(mktemp -d)
  else
    corpus="$work/corpus/$h"
    mkdir -p "$corpus"
  fi
  regressions="$root/tests/fixtures/fuzz/$h"
  inputs=("$corpus" "$work/seeds/$h")
  [[ -d $regressions ]] && inputs+=("$regressions")
  log="$work/logs/$h.log"
  echo "fuzz.sh: $h for ${seconds}s (log $log)"
  stamp="$work/logs/$h.started"
  touch "$stamp"
  rc=0
  "$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=256 -report_slow_units=2 -print_final_stats=1 -dict="$work/dict/$h.dict" \
    -artifact_prefix="$findings/" "${extra[@]}" "${inputs[@]}" >"$log" 2>&1 || rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  slow=$(find "$findings" -name 'slow-unit-*' -newer "$stamp" | wc -l)
  line=$(printf '%-12s execs %9s  cov %5s  ft %6s  corpus %5s files %9s bytes  slow units %s  exit %s' \
    "$h" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$slow" "$rc")
  echo "$line" | tee -a "$summary"
  ((ci)) && rm -rf "$corpus"
  artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
  if ((rc != 0)) && [[ $artifact == */timeout-* ]] \
    && "$build/tests/fuzz/fuzz_$h" -timeout=10 "$artifact" >"$log.recheck" 2>&1; then
    # libFuzzer's timeout is wall-clock time: on a loaded shared machine a process can stall.
    # A timeout that does not come back when the input is run again alone is reported, not failed.
    echo "fuzz.sh: $h: timeout did not reproduce ($(grep -o 'in [0-9]* ms' "$log.recheck")); kept $artifact" >&2
  elif ((rc != 0)); then
    failed+=("$h")
    grep -E 'ERROR:|runtime error|SUMMARY|Test unit written|artifact' "$log" | head -20 >&2 || true
  elif ((slow)); then
    echo "fuzz.sh: $h: inputs slower than 2 s (under ASan+UBSan) in $findings" >&2
  fi
done
echo "fuzz.sh: summary in $summary"
if ((${#failed[@]})); then
  echo "fuzz.sh: findings in: ${failed[*]} (see $work/findings/ and $work/logs/)" >&2
  exit 1
fi
