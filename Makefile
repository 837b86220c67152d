# Two set-up commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench soak constraints clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/notifier demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check notifier tests $(wildcard bench)
	$(BIN)/ruff format --check notifier tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy notifier tests $(wildcard bench)

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes 10 --record

# The scale benchmark (bench/scale.py): 150k jobs, both intervals, about an hour; not in `make bench`.
.PHONY: bench-scale
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --record

# The push benchmark (bench/push.py): native webhooks beside polling, about 7 minutes; not in `make bench`.
.PHONY: bench-push
bench-push: $(STAMP)
	$(BIN)/python -m bench.push --record

constraints: $(STAMP)
	$(BIN)/python deploy/constraints.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
