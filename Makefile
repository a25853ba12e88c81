# CivicSight — set-up and everyday commands. `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-12)
VENV ?= $(HOME)/.cache/civicsight/venv-$(LOCK_HASH)
PY := $(VENV)/bin/python
SHARED ?= $(abspath $(CURDIR)/../shared)
export PYTHONPATH := $(CURDIR)
export YOLO_OFFLINE := 1
export CIVICSIGHT_MODEL_MIRROR ?= $(SHARED)/models
export CIVICSIGHT_MEDIA_MIRROR ?= $(SHARED)/media

.PHONY: venv demo test lint bench topics clean-venv

venv: $(VENV)/.ready

# The virtualenv lives outside the clone, keyed by the lock file's hash: a fresh machine
# builds it from scratch, later clones reuse it.
$(VENV)/.ready: requirements.lock
	@echo "creating $(VENV) (first run only; several minutes)"
	rm -rf $(VENV)
	python3.11 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --no-deps -r requirements.lock
	$(PY) -c "import cv2, openvino, confluent_kafka, faust, ultralytics, fastapi"
	touch $@

demo: venv
	$(PY) -m civicsight up --demo

test: venv
	bash scripts/browser-deps.sh
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: venv
	$(PY) -m civicsight bench detect --json --rounds 5 --e2e-seconds 60 --out bench/results/detect-cpu-2core.json

topics: venv
	$(PY) -m civicsight topics --yaml > infra/kafka/topics.yaml

clean-venv:
	rm -rf $(VENV)
