# Two commands for a newcomer (see README.md):
#   make lab    set everything up, then open JupyterLab on notebooks/
#   make test   set everything up, then run the package tests and every notebook under nbval
# Both are safe to re-run: the set-up steps do nothing when already done.
# `make test-anywhere` runs every notebook with the CPU-dependent choices forced elsewhere (CI runs both).

PYTHON ?= python3
VENV   ?= .venv
# The PyTorch version the outputs were recorded with (CI gets its CPU build). Install the CPU
# build of this version yourself first to avoid the large CUDA one (README, "PyTorch without
# CUDA"); `make lab TORCH=torch` keeps any torch you have, at the price of other last digits.
TORCH  ?= torch==2.13.0
# LightFM, compiled here from source: pinned, and built portably (see "Same numbers on every machine").
LIGHTFM := rectools-lightfm==1.17.3
# Parallel notebook runs: one kernel per notebook (loadscope keeps a notebook's cells together).
JOBS   ?= 2
PORT   ?= 8888
# `make serve`: the recommender service of notebook 10
SERVE_PORT ?= 8000

BIN      := $(VENV)/bin
# Jupyter refuses to start as root (common in containers) unless told it is intended.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP    := $(VENV)/.installed
PYTEST   := $(BIN)/python -m pytest

# ---- Same numbers on every machine (README: "Same numbers on every machine") --------------------
# Compiled libraries pick their machine code for the CPU they run on (SSE, AVX2, AVX-512; Intel or
# AMD paths), and other code adds floating-point numbers in another order, so the last digits of a
# trained model depend on the CPU. The stored outputs were recorded with each such choice pinned to
# code that every x86-64 CPU with AVX2 runs, and `make test`, `make lab`, `make record` and the
# kernel that `make kernel` registers run under the same pins:
#   ATEN_CPU_CAPABILITY=avx2  PyTorch's own vectorised kernels (AVX-512 and AVX2 train NeuMF apart)
#   MKL_CBWR=COMPATIBLE       the matrix products inside PyTorch: Intel MKL's AVX2 branch computes
#                             differently on Intel and AMD; COMPATIBLE is one path on both
#   NPY_DISABLE_CPU_FEATURES, OPENBLAS_CORETYPE, NUMBA_CPU_NAME, FAISS_SIMD_LEVEL
#                             numpy's SIMD loops, numpy/scipy's (and FAISS's own) BLAS, FunkSVD's compiled
#                             loop and FAISS's distance kernels held at the AVX2 level (on the recording machine each gave the outputs its
#                             own choice gave; pinned so that CPUs with AVX-512 or other kernels do too)
#   *_NUM_THREADS=1           OpenBLAS, MKL and OpenMP on one thread: some of their reductions split
#                             the sum by thread (no output changed between 1 and 2 threads here, but
#                             a 64-core machine splits further); the notebooks run torch and LightFM
#                             on one thread already
#   RECSYS_COURSE_PINNED=1    tells tests/test_reproducibility.py that the pins are on
# LightFM is another: its setup.py compiles with -march=native -ffast-math unless told not to, so
# the $(STAMP) rule builds it without them, from source and never from pip's wheel cache. Another
# is in the code: PyTorch's plain Adam takes square roots from MKL, whose code differs per vendor
# and cannot be pinned, so the course uses the fused Adam. And the library versions themselves are
# pinned (pyproject.toml's "pinned" extra). Where the CPU lacks AVX2 or is not x86-64, nothing is
# pinned (those settings would not run there): `make test` then checks the claims, not the digits.
HAS_AVX2   := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo yes)
AVX2_PINS  := RECSYS_COURSE_PINNED=1 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE \
              NPY_DISABLE_CPU_FEATURES=X86_V4,AVX512_ICL,AVX512_SPR OPENBLAS_CORETYPE=Haswell NUMBA_CPU_NAME=haswell \
              FAISS_SIMD_LEVEL=AVX2 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1
PINNED_ENV := $(if $(HAS_AVX2),$(AVX2_PINS))
# The same choices forced elsewhere, for `make test-anywhere`: PyTorch's generic kernels, MKL's
# vendor-specific AVX2 branch, numpy at its x86-64-v2 baseline, an AVX-only BLAS kernel, numba's
# generic CPU, FAISS's scalar distance code, and LightFM built with its own native flags (into $(NATIVE_LFM), first on the path).
NATIVE_LFM := $(VENV)/lightfm-native
ELSEWHERE_ENV := ATEN_CPU_CAPABILITY=default MKL_CBWR=AVX2 NPY_DISABLE_CPU_FEATURES=X86_V3,X86_V4,AVX512_ICL,AVX512_SPR \
                 OPENBLAS_CORETYPE=Sandybridge NUMBA_CPU_NAME=generic FAISS_SIMD_LEVEL=NONE PYTHONPATH="$(abspath $(NATIVE_LFM))"
# Digit by digit where the pins apply; elsewhere (macOS, ARM, no AVX2) the claims only, and say so.
NBVAL      := $(if $(HAS_AVX2),--nbval,--nbval-lax)

# Notebooks that `make record` re-runs and stores (e.g. NB=notebooks/05_hybrid_lightfm.ipynb).
NB ?= notebooks/[0-9]*.ipynb

.PHONY: help setup lab test test-anywhere record data bench kernel serve clean clean-data

help:
	@echo "make lab    - set up .venv, fetch the data, open JupyterLab on notebooks/"
	@echo "make test   - set up, then pytest the package and nbval every notebook"
	@echo "make test-anywhere - run every notebook with the CPU-dependent choices forced elsewhere (lax nbval)"
	@echo "make record - re-run notebooks top to bottom under the pins and store their outputs (NB=...)"
	@echo "make kernel - register the environment as the Jupyter kernel 'Python (recsys-course)', pins included"
	@echo "make data   - fetch and validate MovieLens-100k only (prepare a workshop room)"
	@echo "make bench  - run benchmarks/ and write benchmarks/results/"
	@echo "make serve  - train the recommender once (about 20 s), serve it on http://127.0.0.1:$(SERVE_PORT)/ and open the page"
	@echo "make clean  - remove .venv and build caches (keeps the downloaded data)"
	@echo "make clean-data - remove the cached MovieLens-100k too"

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, $(PYTHON) is " + sys.version.split()[0])'
	@# A .venv left broken by an interrupted or failed creation (no pip in it) is made again.
	$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@# LightFM first, portable: from source (never a wheel, whose flags nobody knows), without
	@# -march=native/-ffast-math, and not from pip's cache, which does not key on how it compiled.
	LIGHTFM_NO_CFLAGS=1 $(BIN)/python -m pip install --disable-pip-version-check --quiet \
		--force-reinstall --no-deps --no-cache-dir --no-binary rectools-lightfm "$(LIGHTFM)"
	$(BIN)/python -m pip install --disable-pip-version-check --quiet "$(TORCH)" "$(LIGHTFM)" -e ".[dev,pinned]"
	@# Build matplotlib's font cache now: on first import it says so on stderr,
	@# which would fail the first notebook cell that plots under nbval.
	MPLBACKEND=Agg $(BIN)/python -c "import matplotlib.pyplot"
	touch $(STAMP)

setup: $(STAMP)

# Cheap when the cache is there: it checks the cached files' SHA-256 and fetches only if needed.
data: $(STAMP)
	$(BIN)/python -m recsys_course.data

kernel: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name recsys-course --display-name "Python (recsys-course)" \
		$(foreach pin,$(PINNED_ENV),--env $(subst =, ,$(pin))) >/dev/null

lab: data kernel
	env $(PINNED_ENV) $(BIN)/jupyter lab --ServerApp.root_dir=notebooks --port=$(PORT) $(ALLOW_ROOT) $(LAB_ARGS)

test: data
	@test -n "$(HAS_AVX2)" || echo "NOTE: this CPU is not x86-64 with AVX2, so the pins do not apply: the notebooks" \
		"run and their claims are checked, not their digits (README: Same numbers on every machine)."
	env $(PINNED_ENV) $(PYTEST) -n $(JOBS) --dist loadscope --doctest-modules $(NBVAL) --nbval-current-env \
		-p no:cacheprovider tests recsys_course notebooks

# LightFM as pip builds it by default: -march=native -ffast-math, for this CPU only.
$(NATIVE_LFM)/.built: $(STAMP)
	rm -rf $(NATIVE_LFM)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --no-deps --no-cache-dir \
		--no-binary rectools-lightfm --target $(NATIVE_LFM) "$(LIGHTFM)"
	touch $@

# Every notebook runs and every claim its prose makes holds (the check cells' asserts), with the
# digits allowed to differ, on this CPU with each choice above forced elsewhere: one other x86
# set-up, a stand-in for another machine (on ARM or macOS those switches do nothing).
test-anywhere: data $(NATIVE_LFM)/.built
	env $(ELSEWHERE_ENV) $(BIN)/python -c 'import lightfm, sys; \
		sys.exit(0 if "lightfm-native" in lightfm.__file__ else "the native LightFM build is not the one imported")'
	env $(ELSEWHERE_ENV) $(PYTEST) -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env -p no:cacheprovider \
		notebooks

# Stored outputs are what strict nbval compares, on every machine: record them only under the pins.
# The canaries run first: a torch or LightFM that is not the pinned build would record other digits.
record:
	@test -n "$(HAS_AVX2)" || { echo "make record needs an x86-64 CPU with AVX2: outputs recorded" \
		"without the pins would not reproduce elsewhere (README: Same numbers on every machine)"; exit 1; }
	@$(MAKE) --no-print-directory data
	env $(PINNED_ENV) $(PYTEST) -q -p no:cacheprovider tests/test_reproducibility.py
	env $(PINNED_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace $(NB)

# Trains notebook 09's model into the data folder the first time (and when the saved one is corrupt
# or from other library versions), then serves it until Ctrl-C.
serve: data
	env $(PINNED_ENV) $(BIN)/python -m recsys_course.serve --train --if-missing
	env $(PINNED_ENV) $(BIN)/python -m recsys_course.serve --port $(SERVE_PORT) --open

bench: data
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e ".[dev,pinned,bench]"
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; env $(PINNED_ENV) $(BIN)/python $$script || exit 1; done

clean:
	-test -x $(BIN)/jupyter && $(BIN)/jupyter kernelspec remove -y recsys-course >/dev/null 2>&1
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:
	rm -rf datasets/ml-100k datasets/.ml-100k-* datasets/.download-*
