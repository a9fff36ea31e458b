#!/usr/bin/env bash
# Installs what is missing, builds, and opens the bundled sample checkpoint.
# Arguments replace the sample: scripts/run.sh my.pth other.safetensors
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Only what it runs (issue 16): no tests, fuzzers, benchmarks or torch.
CKPT_FOR=run CKPT_WITH_TORCH=0 "$root/scripts/setup.sh"
CKPT_TARGETS="ckpt-browser ckpt-inspect" "$root/scripts/build.sh"
files=("$@")
((${#files[@]})) || files=("$root/resources/samples/sample_epoch1.pt")
if [[ -x "$root/build/app/ckpt-browser" && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" || -n "${QT_QPA_PLATFORM:-}" ) ]]; then
  exec "$root/build/app/ckpt-browser" "${files[@]}"
fi
echo "== ckpt-inspect ls ${files[0]}"
"$root/build/app/inspect/ckpt-inspect" ls "${files[0]}"
echo
echo "== ckpt-inspect stats ${files[0]}"
"$root/build/app/inspect/ckpt-inspect" stats "${files[0]}"
echo
echo "== ckpt-inspect scan ${files[0]}"
"$root/build/app/inspect/ckpt-inspect" scan "${files[0]}"
