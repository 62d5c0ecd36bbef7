# The interface to build, test and benchmark lime-rs. `make all` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
VENV ?= .venv
PY := $(VENV)/bin/python
# Cargo's target directory as cargo resolves it ($CARGO_TARGET_DIR, .cargo/config), so the tests
# find the binaries wherever the build put them.
TARGET_DIR := $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | \
	python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null),$(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: all demo serve build-dev fmt lint test test-rust test-python test-python-setup test-kotlin test-dart dart-generate vectors interop bench clean

all: lint test

## The main job: a server and two clients over loopback sockets (TLS over TCP, WebSocket,
## routing, receipts, a command round trip, a clean finish).
demo:
	$(CARGO) run -q -p lime-cli -- demo

## Run the server on its embedded defaults (net.tcp://127.0.0.1:55321, ws://127.0.0.1:8080).
serve:
	$(CARGO) run --release -q -p lime-cli -- serve

build-dev:
	$(CARGO) build --workspace --all-targets

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

$(VENV)/.ready: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'maturin>=1.9,<2' 'pytest>=8,<10' \
		'pytest-asyncio>=1.0,<2' 'pytest-mock>=3.14,<4' 'pytest-timeout==2.4.0' 'websockets>=13' \
		'cryptography>=42' 'mypy>=1.10' 'uvloop>=0.19'
	touch $@

## What the Python suite downloads (the published lime-python 2.0.13 and
## lime-transport-websocket 1.0.9, and a venv with them) goes into python/tests/.cache here,
## before pytest runs; it prints what it fetched. Inside pytest a missing download fails the run
## under CI=true (elsewhere the tests skip, naming the cause).
test-python-setup: $(VENV)/.ready
	$(PY) python/tests/upstream_cache.py

## Everything: lints, Rust unit/integration/property/vector tests and doc tests, the Python
## suite (drop-in lime_python + vectors through `lime decode`), then the interop matrix.
test: lint test-rust test-python test-kotlin test-dart interop

test-rust:
	$(CARGO) test --workspace

## The lime-python drop-in (built into the venv with maturin) and the vector checks through
## `lime decode`, against real `lime serve` processes.
test-python: $(VENV)/.ready test-python-setup
	$(CARGO) build -q -p lime-cli
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q
	LIME_BIN=$(TARGET_DIR)/debug/lime $(PY) -m pytest -q tests python/tests

## The uniffi bindings from Kotlin against a real `lime serve` (Swift is generated only: no
## Swift toolchain here). Installs npm kotlin-compiler and Debian libjna-java itself.
test-kotlin:
	bash bindings/ffi/run-kotlin-tests.sh

## Dart package: regenerate the flutter_rust_bridge glue and fail on drift, Dart syntax check,
## native symbol check, Dart tests when an SDK is present. The first run installs the codegen
## and cargo-expand into target/tools (about 10 minutes on 2 cores).
test-dart:
	bash dart/tool/check.sh

dart-generate:
	bash dart/tool/generate.sh

## Real peers (lime-python 2.0.13, lime-js 3.0.1, lime-go) against `lime serve`, our bindings
## (the drop-in in $(VENV) from test-python, Kotlin from test-kotlin) as clients, and our clients
## against the lime-go server; installs the peers into tests/interop/.cache. Under CI=true a cell
## that could not run fails it (INTEROP_ALLOW_SKIPS=1 allows that).
interop:
	$(CARGO) build -q -p lime-cli
	LIME_PYTHON_VENV=$(abspath $(VENV)) tests/interop/run.sh

vectors:
	$(CARGO) test -p lime-core --test vectors -- --nocapture

## Benchmarks (release build): criterion for the codec, `lime bench` for transports, channels
## and the server. Figures are recorded in BENCHMARKS.md.
bench:
	$(CARGO) bench -p lime-core --bench codec
	$(CARGO) run --release -q -p lime-cli -- bench all

clean:
	$(CARGO) clean
	rm -rf $(VENV)
