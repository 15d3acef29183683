#!/usr/bin/env bash
# The CUDA path on a machine with an NVIDIA GPU, the CUDA toolkit (nvcc,
# nvidia-smi), Rust, and for the last step PyTorch with CUDA:
#
#   scripts/gpu_check.sh [BATCH]        (ResNet-50 batch, default 32)
#
# 1. resnet-core's CUDA tests: every op's output and input gradient, a
#    network's logits in both modes against the CPU (within 1e-3 of the
#    largest value), and a short training run whose loss falls.
# 2. The command on the GPU: one epoch on the shipped digits, then eval.
# 3. ResNet-50 (configs/resnet50.toml) training throughput, ours and
#    PyTorch's, on the same GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
batch="${1:-32}"
python="${TORCH_PYTHON:-python3}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== 1. CUDA tests against the CPU"
cargo test --release --features cuda -p resnet-core --test cuda --test ops_portable
cargo test --release --features cuda --test macro_typed

echo "== 2. resnet train --device cuda, one epoch on the shipped digits"
run="$(mktemp -d)/run"
cargo run --release --features cuda -- train --device cuda --epochs 1 --out "$run" --quiet
cargo run --release --features cuda -- eval --device cuda --model "$run"

echo "== 3. ResNet-50 training throughput at batch $batch"
cargo run --release --features cuda -p resnet-core --example gpu_throughput -- \
    configs/resnet50.toml "$batch" 10
"$python" bench/torch_gpu.py configs/resnet50.toml "$batch" 10
