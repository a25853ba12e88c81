#!/usr/bin/env bash
# The one prepared GPU check (run it through the device tool, from the repository root):
#   - the lent machine has python3 with PyTorch + torchvision, but no registry: carry the
#     pure-Python wheels it lacks, made here with
#       pip download --no-deps -d .wheels ultralytics ultralytics-thop polars polars-runtime-32 \
#         pydantic pydantic-settings pydantic-core annotated-types typing-inspection opencv-python-headless
#     and a copy of the two sample videos in .media/ (name both in `carry`);
#   - writes bench/results/detect-gpu-<card>.json into $OUT.
set -euo pipefail
python3 -m pip install -q --no-index --find-links .wheels ultralytics opencv-python-headless \
  pydantic-settings 2>&1 | tail -2 || true
export YOLO_OFFLINE=1 PYTHONPATH="$PWD" CIVICSIGHT_MEDIA_MIRROR="$PWD/.media"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')
out="${OUT:-bench/results}/detect-gpu-${card}.json"
python3 -m bench.detect_gpu --device cuda --frames 8192 --batch 128 --json --out "$out"
