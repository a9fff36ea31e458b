#!/usr/bin/env bash
# Makes the modern oracle environment (.venv-oracle, ignored by git): torch 2.13 (CPU) and what
# the fixture scripts need, pinned in tests/oracle/requirements-torch2.txt. Debian's torch 1.13
# stays the second oracle (/usr/bin/python3). Idempotent; prints the venv's python.
#   scripts/oracle_env.sh transformers4   makes .venv-tf4 instead (tests/oracle/requirements-
#                                         transformers4.txt), for make_transformers4_fixtures.py only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-oracle"
req="$root/tests/oracle/requirements-torch2.txt"
if [[ "${1:-}" == transformers4 ]]; then
  venv="$root/.venv-tf4"
  req="$root/tests/oracle/requirements-transformers4.txt"
fi
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$req" "$venv/.requirements"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import torch, safetensors.torch, numpy" # fails loudly when incomplete
  cp "$req" "$venv/.requirements"
fi
echo "$venv/bin/python"
