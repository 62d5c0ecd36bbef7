# The interface to build, test and benchmark lime-rs. `make all` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
VENV ?= .venv
PY := $(VENV)/bin/python
# Cargo's target directory as cargo resolves it ($CARGO_TARGET_DIR, .cargo/config), so the tests
# find the binaries wherever the build put them.
TARGET_DIR := $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | \
	python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null),$(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: all demo serve build-dev fmt lint test test-all test-rust check-features test-python test-python-setup test-cluster-peers test-kotlin test-dart dart-generate vectors interop bench bench-python bench-python-smoke clean

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
## suite (drop-in lime_python + vectors through `lime decode`), then the interop matrix and the
## cluster scenario with the real peers.
test: lint check-features test-rust test-python test-kotlin test-dart interop test-cluster-peers

## What CI runs (.ci/run): `test`, then the Python benchmark smoke, the wheel/sdist and crate
## checks, each fuzz target briefly, and every `lime bench` (and the soak) with shrunk counts.
test-all: test bench-python-smoke test-wheels test-crate fuzz-smoke
	$(CARGO) test -q -p lime-cli --test bench_smoke

test-rust:
	$(CARGO) test --workspace

## lime-core with no features, each feature alone and the defaults: `cargo check` only, in the
## shared target directory; any warning fails it (a flag would rebuild every dependency). Then
## tests/no-default runs lime-core built without features (no TLS chosen, wss:// refused).
CORE_FEATURES := tcp websocket tls server uniffi cluster
check-features:
	@for f in none $(CORE_FEATURES) default; do \
		case $$f in none) args=--no-default-features;; default) args=;; \
			*) args="--no-default-features --features $$f";; esac; \
		start=$$(date +%s); \
		out=$$($(CARGO) check -q -p lime-core $$args --message-format short 2>&1); status=$$?; \
		echo "lime-core [$$f]: exit $$status, $$(( $$(date +%s) - start )) s"; \
		if [ $$status != 0 ] || grep -q 'warning' <<<"$$out"; then echo "$$out"; exit 1; fi; \
	done
	$(CARGO) run -q -p lime-no-default-check

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

## The cluster scenario with real peers (cli/tests/cluster.rs, ignored by test-rust, which runs
## before the peers are installed): the published lime-python 2.0.13 (the venv test-python-setup
## downloads into python/tests/.cache), our drop-in ($(VENV), built by test-python) and the
## published lime-js 3.0.1 (installed by interop into tests/interop/.cache/node), each on its
## own `lime serve --cluster`, our Rust client on a fourth. Under CI=true a missing peer fails it
## with the cause. About 1 s once nats-server is installed.
test-cluster-peers: test-python-setup
	LIME_CLUSTER_LIME_PYTHON=$$($(PY) -c 'import sys; sys.path.insert(0, "python/tests"); \
		import upstream_cache; print(upstream_cache.venv_python())') \
	LIME_CLUSTER_DROPIN_PYTHON=$(abspath $(PY)) \
	LIME_CLUSTER_NODE_PATH=$(CURDIR)/tests/interop/.cache/node/node_modules \
		$(CARGO) test -q -p lime-cli --test cluster -- --ignored --exact real_peers_on_different_servers

vectors:
	$(CARGO) test -p lime-core --test vectors -- --nocapture

## Benchmarks (release build): criterion for the codec, `lime bench` for transports, channels
## and the server. Figures are recorded in BENCHMARKS.md.
bench:
	$(CARGO) bench -p lime-core --bench codec
	$(CARGO) run --release -q -p lime-cli -- bench all

## The Python benchmark side by side (lime-python 2.0.13, ours on asyncio and uvloop, the picows
## floor, the Rust client; 3 alternating rounds, release builds). Figures in BENCHMARKS.md.
bench-python:
	python3 python/bench/run.py

## A smoke run of the same runner: debug builds, small counts, one round (checks that every row
## runs, not how fast). Sets up its venvs (.venv-bench-smoke: lime-python 2.0.13, picows, uvloop).
bench-python-smoke:
	python3 python/bench/run.py --quick --venvs .venv-bench-smoke

clean:
	$(CARGO) clean
	rm -rf $(VENV)

# ---------------------------------------------------------------------------------------------
# Release artifacts: the Python wheel and sdist, the publishable lime-core crate. The platforms
# this machine cannot build are in .github/workflows/release.yml (hosted CI; not run here).

.PHONY: wheels test-wheels test-crate examples

REL_VENV ?= .venv-rel
DIST ?= dist
# `make test-crate CRATE_FLAGS=--allow-dirty` while files under core/ are uncommitted.
CRATE_FLAGS ?=
PY_TEST_DEPS := 'pytest>=8,<10' 'pytest-asyncio>=1.0,<2' 'pytest-mock>=3.14,<4' \
	'pytest-timeout==2.4.0' 'websockets>=13' 'cryptography>=42' 'mypy>=1.10' 'uvloop>=0.19'
# test_blip_sdk builds its own wheel from source with maturin; these venvs test ours.
WHEEL_PYTEST := -m pytest -q -p no:cacheprovider --ignore=python/tests/test_blip_sdk.py \
	tests python/tests
# Fails unless lime_python is imported from the venv's site-packages (not the source tree).
INSTALLED_CHECK := import lime_python, lime_python._lime as m, sys; \
	print('lime_python', m.__version__, 'from', m.__file__); \
	sys.exit(0 if '/site-packages/lime_python/' in m.__file__ else 'not the installed package')

$(REL_VENV)/.ready:
	python3 -m venv $(REL_VENV)
	$(REL_VENV)/bin/pip install -q --disable-pip-version-check 'maturin>=1.9,<2' \
		'ziglang>=0.13,<0.18' 'auditwheel>=6,<7'
	touch $@

## dist/: the abi3 wheel for manylinux2014 x86_64 (a release build linked by zig against glibc
## 2.17, without debug info) and the sdist; auditwheel must report the manylinux_2_17 (= 2014)
## tag.
wheels: $(REL_VENV)/.ready
	rm -rf $(DIST)
	PATH=$(CURDIR)/$(REL_VENV)/bin:$$PATH CARGO_PROFILE_RELEASE_DEBUG=0 maturin build -q \
		--release --strip --zig --compatibility manylinux2014 -o $(DIST)
	PATH=$(CURDIR)/$(REL_VENV)/bin:$$PATH maturin sdist -o $(DIST)
	$(REL_VENV)/bin/auditwheel show $(DIST)/lime_python-*-manylinux2014_x86_64*.whl \
		| tee $(DIST)/auditwheel.txt
	tr -s ' \n' ' ' < $(DIST)/auditwheel.txt \
		| grep -q 'consistent with the following platform tag: "manylinux_2_17_x86_64"'
	ls -l $(DIST)

## The manylinux2014 wheel in a fresh venv runs the whole Python suite; the sdist is built by
## pip (PEP 517 through maturin) in another fresh venv and runs the suite too. The sdist build
## uses the dev profile and shares target/ so only the two workspace crates compile (the
## release build is what the wheel already checks).
test-wheels: wheels
	$(CARGO) build -q -p lime-cli
	rm -rf $(REL_VENV)-wheel && python3 -m venv $(REL_VENV)-wheel
	$(REL_VENV)-wheel/bin/pip install -q --disable-pip-version-check $(PY_TEST_DEPS) \
		$(DIST)/lime_python-*-manylinux2014_x86_64*.whl
	$(REL_VENV)-wheel/bin/python -c "$(INSTALLED_CHECK)"
	$(REL_VENV)-wheel/bin/python python/tests/upstream_cache.py
	LIME_BIN=$(TARGET_DIR)/debug/lime $(REL_VENV)-wheel/bin/python $(WHEEL_PYTEST)
	rm -rf $(REL_VENV)-sdist && python3 -m venv $(REL_VENV)-sdist
	$(REL_VENV)-sdist/bin/pip install -q --disable-pip-version-check $(PY_TEST_DEPS)
	CARGO_TARGET_DIR=$(TARGET_DIR) MATURIN_PEP517_ARGS='--profile dev' \
		$(REL_VENV)-sdist/bin/pip install -q --no-cache-dir --disable-pip-version-check \
		$(DIST)/lime_python-*.tar.gz
	$(REL_VENV)-sdist/bin/python -c "$(INSTALLED_CHECK)"
	LIME_BIN=$(TARGET_DIR)/debug/lime $(REL_VENV)-sdist/bin/python $(WHEEL_PYTEST)

## The examples of core/examples against real servers (lime serve on port 0, bounded).
examples:
	$(CARGO) build -q -p lime-cli
	$(CARGO) build -q -p lime-core --examples
	python3 core/examples/run_examples.py $(TARGET_DIR)/debug/lime $(TARGET_DIR)/debug/examples

define CONSUMER_TOML
[package]
name = "lime-consumer"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lime-core = { path = "$(CURDIR)/core" }

[workspace]
endef
define CONSUMER_MAIN
fn main() -> Result<(), lime::ParseError> {
    let message = lime::Message::text("hi").with_id("1").with_to("bob@localhost".parse()?);
    println!("{}", lime::Envelope::from(message).to_json());
    let tls = lime::transport::tls::ClientTlsConfig::default();
    let suites = tls.rustls().crypto_provider().cipher_suites.len();
    println!("TLS client configuration with {suites} cipher suites");
    Ok(())
}
endef
export CONSUMER_TOML CONSUMER_MAIN

## lime-core as crates.io would have it: the package list (README in, test data out), a
## publish dry run (packages and builds the crate), docs without warnings, a fresh project
## depending on it without a lock file (newest compatible dependencies) checked with warnings
## as errors, and the examples.
test-crate: examples
	$(CARGO) package -q -p lime-core --list $(CRATE_FLAGS) > $(TARGET_DIR)/lime-core.files
	grep -qx README.md $(TARGET_DIR)/lime-core.files
	! grep -vE '^(src/.+\.rs|(examples|benches)/[a-z_]+\.rs|README\.md|Cargo\.(toml|toml\.orig|lock)|\.cargo_vcs_info\.json)$$' \
		$(TARGET_DIR)/lime-core.files
	$(CARGO) publish -q --dry-run -p lime-core $(CRATE_FLAGS)
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc -q -p lime-core --no-deps
	rm -rf $(TARGET_DIR)/consumer/src $(TARGET_DIR)/consumer/Cargo.lock && mkdir -p $(TARGET_DIR)/consumer/src
	printf '%s\n' "$$CONSUMER_TOML" > $(TARGET_DIR)/consumer/Cargo.toml
	printf '%s\n' "$$CONSUMER_MAIN" > $(TARGET_DIR)/consumer/src/main.rs
	cd $(TARGET_DIR)/consumer && $(CARGO) generate-lockfile -q && grep -A1 '^name = "rustls"$$' Cargo.lock
	cd $(TARGET_DIR)/consumer && RUSTFLAGS=-Dwarnings $(CARGO) check -q

## Fuzzing (cargo-fuzz / libFuzzer on stable Rust: --sanitizer none). The crate is core/fuzz,
## outside the workspace, with its own lock file and target directory (core/fuzz/target); the
## corpora (core/fuzz/corpus/<target>) are seeded from tests/vectors and tests/captures by
## core/fuzz/seed.py. See core/fuzz/README.md and RELIABILITY.md.
FUZZ_TARGETS := frame_decoder envelope text_parsers gzip_stream client_connection server_session
FUZZ_SECONDS ?= 5
FUZZ_RUNS ?= 10000000

.PHONY: fuzz-tool fuzz-smoke fuzz-long
fuzz-tool:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --version 0.13.2 --locked

## Each target briefly: replays the seeds, then fuzzes for $(FUZZ_SECONDS) s; a crash fails it.
fuzz-smoke: fuzz-tool
	python3 core/fuzz/seed.py
	cd core && $(CARGO) fuzz build --sanitizer none
	cd core && for t in $(FUZZ_TARGETS); do \
		$(CARGO) fuzz run --sanitizer none $$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			2>&1 | grep -E '^(stat::(number_of_executed_units|average_exec_per_sec)|.*panicked at|SUMMARY)' \
			| sed "s/^/$$t: /"; \
		test "$${PIPESTATUS[0]}" = 0 || exit 1; \
	done

## The long run of RELIABILITY.md: $(FUZZ_RUNS) executions of each target (one after the
## other; FUZZ_TARGETS=... picks some), logs and final stats in core/fuzz/target/fuzz-long/.
fuzz-long: fuzz-tool
	python3 core/fuzz/seed.py
	mkdir -p core/fuzz/target/fuzz-long
	cd core && for t in $(FUZZ_TARGETS); do \
		start=$$(date +%s); \
		$(CARGO) fuzz run --sanitizer none $$t -- -runs=$(FUZZ_RUNS) -print_final_stats=1 \
			> fuzz/target/fuzz-long/$$t.log 2>&1; status=$$?; \
		echo "$$t: exit $$status, $$(( $$(date +%s) - start )) s wall, $$(grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' fuzz/target/fuzz-long/$$t.log | tr -s ' ' | tr '\n' ' ')"; \
		test $$status = 0 || exit 1; \
	done
