#!/usr/bin/env bash
# The one prepared GPU check, run through the device tool from the repository root with
# carry [".whl", ".media"]. Prepare here first (see README, "GPU path"):
#   .whl/   cp312 wheels the lent machine lacks (ultralytics, ultralytics-thop, pydantic,
#           pydantic-core, pydantic-settings, annotated-types, typing-inspection,
#           python-dotenv, confluent-kafka, gdown, beautifulsoup4, soupsieve) —
#           `pip download --no-deps --python-version 3.12`; and .whl/py/torchreid, copied
#           from the venv (torchreid ships as an sdist; its Python code is enough);
#   .media/ one-by-one-person-detection.mp4, bus.jpg and zidane.jpg from the media mirror.
# Writes the JSON of each run into $OUT (or bench/results/) named after the card.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD/.whl/py:$PWD" YOLO_OFFLINE=1 CIVICSIGHT_MEDIA_MIRROR="$PWD/.media"
export PYTHONUNBUFFERED=1 YOLO_CONFIG_DIR=/tmp/yolo
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'tv', torchvision.__version__)"
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')
dir="${OUT:-bench/results}"
# 1. the service default (640x384 input, batch 128), through the documented command
timeout 200 python3 -m civicsight.cli bench detect --device cuda --json \
  --out "$dir/detect-gpu-${card}.json" || echo "main run failed: $?"
# 2. variants, for the notes: square input as in ultralytics; a larger batch
timeout 80 python3 -m bench.detect_gpu --device cuda --square --repeats 1 --json \
  --out "$dir/detect-gpu-${card}-square.json" || echo "square run failed: $?"
timeout 80 python3 -m bench.detect_gpu --device cuda --batch 256 --depth 3 --repeats 1 \
  --baseline-frames 50 --json --out "$dir/detect-gpu-${card}-b256.json" || echo "b256 run failed: $?"
# 3. the services choose CUDA, and the torch unit tests pass on the GPU
python3 -c "from models.runtimes.torch_device import cuda_present as c
from services.detect.logic import choose_backend as b
print('cuda_present', c(), 'detect backend (auto, .pt weights):', b('auto', True, c()))"
timeout 90 python3 -m pytest -q -p no:cacheprovider --import-mode=importlib \
  tests/unit/models/runtimes/test_torch_yolo.py tests/unit/models/runtimes/test_torchreid_osnet.py \
  2>&1 | tail -8
