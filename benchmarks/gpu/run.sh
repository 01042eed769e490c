#!/usr/bin/env bash
# The GPU benchmark rows of BENCHMARKS.md, in one run on a CUDA machine that has torch, torchvision and timm.
# Usage: [PYTHON=python] benchmarks/gpu/run.sh OUT_DIR [run.py options]. Prints the table last; OUT_DIR keeps results and logs.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: benchmarks/gpu/run.sh OUT_DIR}; shift
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
PYTHONUNBUFFERED=1 "${PYTHON:-python3}" benchmarks/gpu/run.py --out "$out" "$@"
