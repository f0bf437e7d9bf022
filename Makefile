# `make demo` and `make test` work on a fresh clone with only Python >= 3.11 and the package registry.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every distribution of the monorepo, installed editable with its test extras.
DISTS  := core plugins/exchange-sim exchange-binance
PYPROJECTS := $(foreach d,$(DISTS),$(d)/pyproject.toml)

.PHONY: setup test demo bench lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python $(PYPROJECTS) Makefile
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e '$(d)[test]') ruff mypy
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

demo: $(STAMP)
	$(BIN)/exchanges demo

bench: $(STAMP)
	@for b in bench/*_bench.py bench/cold_start.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check core plugins tests bench
	$(BIN)/mypy core/src/exchanges

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
