# basewatch: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.installed-demo-stamp
# Tests need every extra; torch==2.13.0 ([train]) is the CPU build (a plain `torch` is CUDA);
# [coast] (roaring-landmask, GSHHG) lets the --coastline test run instead of skipping.
EXTRAS := dev,web,postgres,dask,train,coast

.PHONY: demo test lint typecheck system-deps clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP) $(DEMO_STAMP)

# The demo needs only the package itself (no torch, no test tools).
$(DEMO_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/basewatch demo --out demo-output
	@echo "report: $(CURDIR)/demo-output/report.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check basewatch tests bench
	$(VENV)/bin/ruff format --check basewatch tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy basewatch

# Browser tests drive Debian's Chromium (never a downloaded browser); the PostGIS tests start
# their own server from Debian's PostgreSQL 15 + PostGIS 3. Install what is missing when we can.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: browser tests will skip (install Debian's chromium)"; fi; }
	@{ test -x /usr/lib/postgresql/15/bin/initdb && \
	   test -f /usr/share/postgresql/15/extension/postgis.control; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      postgresql postgresql-15-postgis-3 >/dev/null; \
	  else echo "PostgreSQL 15 + PostGIS are missing: PostGIS tests will skip" \
	    "(apt-get install postgresql postgresql-15-postgis-3)"; fi; }

test: lint typecheck system-deps
	$(PY) -m pytest

clean:
	rm -rf demo-output .pytest_cache .mypy_cache .ruff_cache
