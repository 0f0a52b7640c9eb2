# The two commands: `make run` (install, start the app) and `make test` (install test deps, run the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint bench clean

run: $(VENV)/.app
	$(VENV)/bin/streamlit run app.py

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(PY) -m ruff check .

bench: $(VENV)/.app
	$(PY) -m bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.app: $(VENV)/bin/python requirements.txt requirements-nodeps.txt
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt requirements-ray.txt
	$(PIP) -r requirements-dev.txt
	$(PIP) -r requirements-ray.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
