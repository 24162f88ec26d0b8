#!/usr/bin/env bash
# The GPU check (issue 29): make bench's device parts, a smoke table with --device cuda for every
# runnable default system, and 200 training steps of latentft-mlp on cuda; writes results/bench-gpu.json.
# Usage: bash scripts/gpu_check.sh [--device cuda] [--systems a,b] [--train-steps 200] [--out FILE]
# Python: $PY, else .venv/bin/python, else python3. Run from anywhere; it works in the checkout.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || \
  echo "nvidia-smi not found (the check needs a CUDA device unless --device cpu)" >&2
exec "$PY" -m tools.gpu_check "$@"
