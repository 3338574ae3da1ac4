# tunelab: `make demo` trains the default model on the shipped BANKING77 data; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format clean

install: $(STAMP)

# torch goes in first, pinned to the local CPU wheel, so no resolver ever pulls CUDA packages;
# everything else is installed under the same constraints.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/tunelab train examples/banking77.yaml -o runs/banking77 --overwrite --restart

# two workers (pytest-xdist), one file each at a time, one torch thread each: the tiny-model tests
# are mostly Python and I/O, so two of them share the 2 cores far better than one (12 min -> 6 min)
test: install
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadfile

# the unit tier: no test that trains a model (marked train) or uses the real packaged model (slow)
test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow and not train"

LINTED := src tests benchmarks scripts examples

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

clean:
	rm -rf $(VENV) runs .pytest_cache
