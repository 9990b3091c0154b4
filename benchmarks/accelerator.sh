#!/usr/bin/env bash
# The encode and generate benchmarks on one GPU, both frameworks on it, fp32 and bf16.
#
# Usage: benchmarks/accelerator.sh [OUTPUT_DIR]   (default: $OUT if set, else benchmarks/)
# Writes results_encode_throughput_gpu.json, results_generate_throughput_gpu.json and
# gpu.txt (nvidia-smi's name, memory and driver) there; about 5 minutes on one H100.
# Needs python3 with jax (CUDA), torch (CUDA), flax and transformers; run from the repo root.
# Nothing else in the project needs a GPU: this script is the only place one is used.
set -euo pipefail
out="${1:-${OUT:-benchmarks}}"
mkdir -p "$out"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(pwd)" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # torch and JAX share the GPU's memory
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -m benchmarks.encode_throughput --device=gpu --sizes=minilm,base \
  --dtypes=float32,bfloat16 --variants=xla-default --batch_size=256 --seq_len=128 \
  --repeats=10 --peak_n=8192 --peak_repeats=20 \
  --output="$out/results_encode_throughput_gpu.json"
python3 -m benchmarks.generate_throughput --device=gpu --sizes=tiny,mt5-small \
  --dtypes=float32,bfloat16 --torch_bf16=cast --batch_size=64 --repeats=5 --peak_n=8192 \
  --output="$out/results_generate_throughput_gpu.json"
