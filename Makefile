# motcua-edge: `make run` and `make test` do all the set-up on a fresh Debian 12 / Raspberry Pi OS.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Debian packages: shared libraries the wheels load at run time (zbar for pyzbar; GL, mtdev and
# espeak-ng for the kiosk), and for the tests: gammu, the
# independent AT client that checks the modem emulator's fidelity; systemd-analyze; Chromium for the
# fleet page; promtool (package prometheus) for the alert rules.
APT_RUN := libzbar0 espeak-ng libgl1 libegl1 libgl1-mesa-dri libmtdev1 xclip
APT_TEST := gammu systemd chromium prometheus

.PHONY: run test bench lint deps system-deps test-deps clean

run: deps
	$(VENV)/bin/motcua run $(if $(MOTCUA_CONFIG),--config $(MOTCUA_CONFIG),) $(RUN_ARGS)

test: deps test-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: deps
	$(PY) bench/run_all.py

lint: deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/mypy

deps: system-deps $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "motcua-edge needs Python 3.11 or newer (Debian 12 has it: apt-get install python3)"; exit 1; }
	@if [ ! -x $(PY) ]; then \
	  $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); \
	    else echo "Python's venv module is missing. Run: sudo apt-get install -y python3-venv"; exit 1; fi; }; \
	fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

system-deps:
	@bash appliance/system_deps.sh $(APT_RUN)

test-deps:
	@bash appliance/system_deps.sh $(APT_TEST)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
