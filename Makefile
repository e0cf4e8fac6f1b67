# Two commands for a newcomer (see README.md):
#   make lab    set everything up, then open JupyterLab on notebooks/
#   make test   set everything up, then run the package tests and every notebook under nbval
# Both are safe to re-run: the set-up steps do nothing when already done.

PYTHON ?= python3
VENV   ?= .venv
# The CPU build of PyTorch that CI tests with. On your own machine you may keep a torch
# you installed yourself: `make lab TORCH=torch` (see README, "PyTorch without CUDA").
TORCH  ?= torch==2.13.0
# Parallel notebook runs: one kernel per notebook (loadscope keeps a notebook's cells together).
JOBS   ?= 2
PORT   ?= 8888

BIN      := $(VENV)/bin
# Jupyter refuses to start as root (common in containers) unless told it is intended.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP    := $(VENV)/.installed
PYTEST   := $(BIN)/python -m pytest

.PHONY: help setup lab test data bench kernel clean clean-data

help:
	@echo "make lab    - set up .venv, fetch the data, open JupyterLab on notebooks/"
	@echo "make test   - set up, then pytest the package and nbval every notebook"
	@echo "make data   - fetch and validate MovieLens-100k only (prepare a workshop room)"
	@echo "make bench  - run benchmarks/ and write benchmarks/results/"
	@echo "make clean  - remove .venv and build caches (keeps the downloaded data)"
	@echo "make clean-data - remove the cached MovieLens-100k too"

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, $(PYTHON) is " + sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet "$(TORCH)" -e ".[dev]"
	@# Build matplotlib's font cache now: on first import it says so on stderr,
	@# which would fail the first notebook cell that plots under nbval.
	MPLBACKEND=Agg $(BIN)/python -c "import matplotlib.pyplot"
	touch $(STAMP)

setup: $(STAMP)

# Cheap when the cache is there: it checks the cached files' SHA-256 and fetches only if needed.
data: $(STAMP)
	$(BIN)/python -m recsys_course.data

kernel: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name recsys-course --display-name "Python (recsys-course)" >/dev/null

lab: data kernel
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --port=$(PORT) $(ALLOW_ROOT) $(LAB_ARGS)

test: data
	$(PYTEST) -n $(JOBS) --dist loadscope --doctest-modules --nbval --nbval-current-env -p no:cacheprovider \
		tests recsys_course notebooks

bench: data
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:
	rm -rf datasets/ml-100k datasets/.ml-100k-* datasets/.download-*
