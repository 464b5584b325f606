# The two commands a new user runs (README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?=
MODEL  ?= runs/arxiv
DATA_ARG := $(if $(DATA),--data $(DATA),)

.PHONY: demo test check lint install clean

$(BIN)/mlc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[tensorflow,jax,dev,ray]"
	touch $(BIN)/mlc

install: $(BIN)/mlc

# Set up, train a model (or reuse $(MODEL)), tag examples/abstracts.jsonl and print the result.
demo: install
	@test -f $(MODEL)/model.keras || $(BIN)/mlc train $(DATA_ARG) --model-dir $(MODEL)
	$(BIN)/mlc info $(MODEL)
	$(BIN)/mlc batch-predict examples/abstracts.jsonl --model-dir $(MODEL) -o -

# What .ci/run calls: every test, slow and service-backed ones included, one worker per core (a module's tests
# stay on one worker, so what a module sets up is made once). mlc's own bytecode is written first: where
# PYTHONDONTWRITEBYTECODE is set, each of the hundreds of processes the tests start would compile it again.
test: install
	$(BIN)/python -m compileall -q cli pipeline models __init__.py
	$(BIN)/python -m pytest -q -rs --durations=15 -n auto --dist loadfile

# The edit-test loop: the tests not marked slow (no Redis, Ray or process faults).
check: install
	$(BIN)/python -m pytest -q -rs -m "not slow" -n auto --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs build *.egg-info
