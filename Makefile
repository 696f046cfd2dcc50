# Two commands for a newcomer: `make run` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types unit install lock clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Everything `run` and `test` need: the dev tools, the Inspect and PostgreSQL extras, at the versions in constraints.txt.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,inspect,postgres]'
	touch $(STAMP)

install: $(STAMP)

# Re-pin constraints.txt to what .venv holds now (after changing a dependency in pyproject.toml and testing it).
lock: | $(BIN)/python
	{ echo '# The versions `make` (and so CI) installs: pip freeze of .venv less pip and setuptools. `make lock` rewrites it.'; \
	  $(BIN)/pip freeze --exclude-editable | grep -vE '^(pip|setuptools)=='; } > constraints.txt

run: $(STAMP)
	$(BIN)/tripwire dev

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy

# Two workers (pytest-xdist): the suite waits on subprocesses, PostgreSQL and a browser as much as it computes.
# Every test has its own database, ports and folders, so they run side by side; `-n 0` runs them one by one.
test: lint types
	$(BIN)/python -m pytest -n 2

# Tripwire against a minimal endpoint and Alertmanager, at the edge (wrk, loopback); the table is in README.md.
bench: $(STAMP)
	$(BIN)/python -m bench --readme

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
