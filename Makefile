# `make run` and `make test` set everything up on a fresh machine (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN ?= runs/ml-100k-quick
PORT ?= 8501
BUILD_LOG = $(dir $(RUN)).$(notdir $(RUN)).log
# The browser test drives Debian's chromium; `make test` installs it where missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup run serve lint test test-fast bench clean

setup: $(STAMP)

# Re-install whenever a requirements file or the package metadata changes.
$(STAMP): requirements.txt requirements-assets.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-assets.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The dashboard is served at once while the quick run is built (or resumed) in the background; the
# Runs page follows its stages, and stopping the dashboard stops the build (the next `make run` resumes
# it). --overwrite: a quick run made by an earlier version with other creation settings is replaced
# (once the new one is made); the same run is resumed, never rebuilt.
run: setup
	@mkdir -p $(dir $(RUN))
	@echo "building $(RUN) in the background (log: $(BUILD_LOG)); dashboard: http://127.0.0.1:$(PORT)"
	@$(PY) -m recranker_core run --profile quick --dataset ml-100k --out $(RUN) --overwrite \
		> $(BUILD_LOG) 2>&1 & build=$$!; \
	trap 'kill $$build 2>/dev/null' EXIT INT TERM; \
	$(PY) -m recranker_core serve --port $(PORT)

serve: setup
	$(PY) -m recranker_core serve --port $(PORT)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The whole suite, with lint (what CI runs): the fast tier on two processes, then the slow tests in
# one (two processes each training torch models on 2 cores make those slower, not faster).
test: lint $(CHROMIUM)
	$(PY) -m pytest -m "not slow" -n 2 --dist loadscope
	$(PY) -m pytest -m slow

# The edit loop: lint and the tests that need no trained run, no embedded model and no browser.
test-fast: lint
	$(PY) -m pytest -m "not slow" -n 2 --dist loadscope

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

bench: setup
	$(PY) bench/baselines.py
	$(PY) bench/instructions.py
	$(PY) bench/inference.py --run $(RUN)
	$(PY) bench/dashboard.py --run $(RUN)

clean:
	rm -rf $(VENV) .pytest_cache
