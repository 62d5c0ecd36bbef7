# The interface to build, test and benchmark lime-rs. `make all` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: all demo build-dev fmt lint test test-rust test-python vectors bench clean

all: lint test

## The main job: decode the bundled sample capture (replaced by `lime demo` once the server lands).
demo:
	$(CARGO) run --release -q -p lime-cli -- decode tests/captures/sample-session.lime

build-dev:
	$(CARGO) build --workspace --all-targets

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

$(VENV)/.ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'pytest>=8,<10'
	touch $@

## Everything: lints, Rust unit/integration/property/vector tests and doc tests, then the
## Python suite that checks the vectors through the `lime decode` binary.
test: lint test-rust test-python

test-rust:
	$(CARGO) test --workspace

test-python: $(VENV)/.ready
	$(CARGO) build -q -p lime-cli
	LIME_BIN=$(CURDIR)/target/debug/lime $(PY) -m pytest -q tests

vectors:
	$(CARGO) test -p lime-core --test vectors -- --nocapture

## Criterion benchmarks (release build). Figures are recorded in BENCHMARKS.md.
bench:
	$(CARGO) bench -p lime-core --bench codec

clean:
	$(CARGO) clean
	rm -rf $(VENV)
