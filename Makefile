# `make run` and `make test` do all setup on a fresh machine (Python 3.11+, venv).
# `make run` installs only the runtime packages (requirements.txt); `make test`, `make
# lint` and `make binary` install the development set (requirements-dev.txt) on top.
VENV      := .venv
PY        := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint deps dev-deps docs binary footprint

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The development set includes the runtime set, so it satisfies both stamps.
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

deps: $(RUN_STAMP)

dev-deps: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(PY) scheduler.py serve

test: $(DEV_STAMP)
	$(PY) -m ruff check scheduler_lib scheduler.py tests tools
	$(PY) -m mypy
	$(PY) -m pytest -q -n 2

lint: $(DEV_STAMP)
	$(PY) -m ruff check scheduler_lib scheduler.py tests tools
	$(PY) -m mypy

# docs/configuration.md and docs/cli.md from the options table and the Click commands.
docs: $(RUN_STAMP)
	$(PY) -m tools.docgen

# The one-file executable dist/scheduler (scheduler.spec), and its footprint figures.
binary: $(DEV_STAMP)
	$(PY) -m PyInstaller --noconfirm scheduler.spec

footprint: binary
	$(PY) bench/footprint.py dist/scheduler
