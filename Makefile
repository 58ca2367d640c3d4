# `make demo` and `make test` each set up .venv on first use (quick the second time), then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench lint clean model

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vis demo --out demo-out

test: $(STAMP)
	$(BIN)/ruff check vis tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest tests -n auto

# the model shipped with the package (vis/models/default), trained on the real footage of ../shared/realgh
model: $(STAMP)
	$(BIN)/python scripts/make_model.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check vis tests benchmarks scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache .mypy_cache
