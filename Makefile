# The README's two commands: `make demo` and `make test`. Both set everything up from scratch on a fresh
# machine (a virtualenv in .venv with the Python dependencies from pyproject.toml, and the release build of
# the Rust extension), then run.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(VENV)
export PYO3_PYTHON := $(PY)
export PATH := $(VENV)/bin:$(PATH)
# Tests locate the real data through HYPERLOCAL_DATA (default ../shared/data beside the repository).
export HYPERLOCAL_DATA ?= $(abspath $(CURDIR)/../shared/data)

.PHONY: all venv deps build demo test test-rust test-python browser bench bench-ci lint clean

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Python dependencies: read from pyproject.toml, so there is one list of them.
$(VENV)/.deps-%: pyproject.toml | $(PY)
	$(PY) -m pip install -q $$($(PY) tools/deps.py $*)
	touch $@

venv: $(VENV)/.deps-core

build: $(VENV)/.deps-core $(VENV)/.deps-test
	$(VENV)/bin/maturin develop --release --quiet
	$(PY) -c "import hyperlocal._core as c; assert c.is_release_build(), 'debug build'; print('hyperlocal', c.__version__, 'built')"

demo: build
	$(VENV)/bin/hyperlocal demo --out-dir demo

test: build test-rust test-python

test-rust:
	cargo test --workspace --release --quiet

# Headless Chromium for the HTML map tests (tests/test_maps.py): Debian's package, installed when missing.
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -q && sudo apt-get install -y -q chromium; \
	else echo "chromium is missing and cannot be installed (not root, no sudo): install it, or the browser tests skip"; fi

test-python: browser
	$(PY) -m pytest -q

bench: build $(VENV)/.deps-bench
	$(PY) -m pytest benches -q --ignore=benches/ci --benchmark-enable --benchmark-only --benchmark-json=benches/results/latest.json
	$(PY) benches/memory.py benches/results/memory.json
	$(PY) benches/streaming.py benches/results/streaming.json benches/results/streaming.md
	$(PY) benches/report.py benches/results/latest.json benches/results/latest.md
	$(PY) benches/differential.py benches/results/differential.json
	$(PY) benches/floors.py record benches/results/latest.json
	cat benches/results/latest.md

# The CI subset (≤ 5 minutes): smaller inputs, the same peers; fails when a ratio falls below its floor in
# benches/floors.toml. Run by .ci/run after the tests.
bench-ci: build $(VENV)/.deps-bench
	$(PY) -m pytest benches/ci -q --benchmark-enable --benchmark-only --benchmark-json=benches/results/ci.json
	$(PY) benches/floors.py check benches/results/ci.json benches/floors.toml

lint: $(VENV)/.deps-lint build
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --release -- -D warnings
	$(VENV)/bin/ruff check python tests benches tools
	$(VENV)/bin/mypy python/hyperlocal
	$(PY) -m mypy.stubtest hyperlocal._core

clean:
	rm -rf $(VENV) target demo python/hyperlocal/_core*.so
