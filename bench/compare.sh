#!/usr/bin/env bash
# Benchmarks our networks against PyTorch on this machine, in one run.
#
#   bench/compare.sh [compare.py options]     e.g. --rows mnist-train-b64 --rounds 6
#
# Builds our side (resnet-core's bench_network example, release), sets up
# PyTorch in a virtual environment outside the repository if none is given,
# and hands over to bench/compare.py, which alternates the two sides row by
# row and prints medians, ratios and a Markdown table (JSON in
# /tmp/resnet-bench.json unless --out says otherwise).
#
# PyTorch: set TORCH_PYTHON to a python that imports torch, or let the
# script create $TORCH_VENV (default ~/.cache/resnet-bench/venv) and install
# torch and torchvision from PyPI there: the wheel is the CUDA build, about
# 5 GiB with its CUDA libraries, and runs on the CPU as well.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${TORCH_VERSION:-2.15.0}"
TORCH_VENV="${TORCH_VENV:-$HOME/.cache/resnet-bench/venv}"

echo "== building bench_network (release)" >&2
cargo build --release --quiet -p resnet-core --example bench_network
target_dir="${CARGO_TARGET_DIR:-target}"
ours="$target_dir/release/examples/bench_network"

if [[ -z "${TORCH_PYTHON:-}" ]]; then
    TORCH_PYTHON="$TORCH_VENV/bin/python"
    if ! "$TORCH_PYTHON" -c 'import torch' 2>/dev/null; then
        echo "== installing torch $TORCH_VERSION into $TORCH_VENV (several GiB, once)" >&2
        python3 -m venv "$TORCH_VENV"
        "$TORCH_VENV/bin/pip" install --quiet "torch==$TORCH_VERSION" numpy
    fi
fi
if ! "$TORCH_PYTHON" -c 'import torch' 2>/dev/null; then
    echo "error: $TORCH_PYTHON cannot import torch; set TORCH_PYTHON to one that can" >&2
    exit 1
fi

exec "$TORCH_PYTHON" bench/compare.py --ours "$ours" "$@"
