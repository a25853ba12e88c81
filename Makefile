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

.PHONY: venv demo test lint bench topics clean-venv py

venv: $(VENV)/.ready

# The virtualenv lives outside the clone, keyed by the lock file's hash (not its date: a
# fresh clone's files are all new): a fresh machine builds it from scratch, later clones
# reuse it. It is built in a temporary folder and moved into place, under a lock, so two
# makes at once never share a half-built one.
$(VENV)/.ready:
	@mkdir -p $(dir $(VENV))
	@flock $(VENV).lock bash -c '\
	  if [ -f $(VENV)/.ready ]; then exit 0; fi; \
	  echo "creating $(VENV) (first run only; several minutes)"; \
	  rm -rf $(VENV).tmp $(VENV) && \
	  python3.11 -m venv $(VENV).tmp && \
	  $(VENV).tmp/bin/pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" ; \
	  $(VENV).tmp/bin/pip install -q --no-deps -r requirements.lock 2>&1 | grep -v "^WARNING: Location" ; \
	  mv $(VENV).tmp $(VENV) && \
	  grep -lI "$(VENV).tmp" $(VENV)/bin/* | xargs -r sed -i "s|$(VENV).tmp|$(VENV)|g" && \
	  $(PY) -c "import cv2, openvino, confluent_kafka, faust, ultralytics, fastapi" && \
	  touch $(VENV)/.ready'

demo: venv
	$(PY) -m civicsight up --demo

test: venv
	bash scripts/browser-deps.sh
	bash scripts/prometheus-deps.sh
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

bench: venv
	$(PY) -m civicsight bench detect --json --rounds 5 --out bench/results/detect-cpu-2core.json
	$(PY) -m civicsight bench latency --json --cameras 4 --seconds 120 --rounds 5 --out bench/results/latency-cpu-2core.json

topics: venv
	$(PY) -m civicsight topics --yaml > infra/kafka/topics.yaml

py: venv
	@echo $(PY)

clean-venv:
	rm -rf $(VENV)
