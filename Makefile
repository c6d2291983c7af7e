# basewatch: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := dev,web,postgres,dask

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/basewatch demo --out demo-output
	@echo "report: $(CURDIR)/demo-output/report.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check basewatch tests bench
	$(VENV)/bin/ruff format --check basewatch tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy basewatch

test: lint typecheck
	$(PY) -m pytest

clean:
	rm -rf demo-output .pytest_cache .mypy_cache .ruff_cache
