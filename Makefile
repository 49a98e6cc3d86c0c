# `make run` and `make test` do all setup on a fresh machine (Python 3.11+, venv).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-stamp

.PHONY: run test lint deps docs binary footprint

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

deps: $(STAMP)

run: $(STAMP)
	$(PY) scheduler.py serve

test: $(STAMP)
	$(PY) -m ruff check scheduler_lib scheduler.py tests tools
	$(PY) -m pytest -q -n 2

lint: $(STAMP)
	$(PY) -m ruff check scheduler_lib scheduler.py tests tools

# docs/configuration.md and docs/cli.md from the options table and the Click commands.
docs: $(STAMP)
	$(PY) -m tools.docgen

# The one-file executable dist/scheduler (scheduler.spec), and its footprint figures.
binary: $(STAMP)
	$(PY) -m PyInstaller --noconfirm scheduler.spec

footprint: binary
	$(PY) bench/footprint.py dist/scheduler
