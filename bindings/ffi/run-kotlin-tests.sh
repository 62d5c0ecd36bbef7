#!/usr/bin/env bash
# Builds lime-ffi and its bindgen, generates the Kotlin (and Swift) bindings in library mode,
# compiles bindings/ffi/tests/bindings/{Main,Vectors}.kt with kotlinc from npm, starts
# `lime serve` on free loopback ports and runs the Kotlin tests: the cross-language vectors in
# tests/vectors, then the sessions against the server. Exits non-zero on any failure.
#
# Needs: cargo, node/npm, a JDK (java), and libjna-java (installed with apt-get when missing;
# run as root or with it preinstalled). Everything built or downloaded goes under target/.
#
# Environment: PROFILE=debug|release (default debug), CARGO_TARGET_DIR (default target/),
# CARGO (default cargo), KOTLIN_COMPILER_VERSION (default 2.4.20).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
CARGO=${CARGO:-cargo}
PROFILE=${PROFILE:-debug}
KOTLIN_COMPILER_VERSION=${KOTLIN_COMPILER_VERSION:-2.4.20}
case $PROFILE in
  debug | release) ;;
  *) echo "PROFILE must be debug or release" >&2; exit 2 ;;
esac
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/$PROFILE
OUT=$TARGET/uniffi
TOOLS=$TARGET/kotlin-tools
LIB=$BIN/liblime_ffi.so

TIMINGS=()
step() { # step NAME COMMAND...: runs a step, records its wall time, returns its status
  local name=$1 start ms rc=0
  shift
  echo "==> $name"
  start=$(date +%s%N)
  "$@" || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  TIMINGS+=("$(printf '%-38s %4d.%01d s' "$name" $((ms / 1000)) $((ms % 1000 / 100)))")
  return "$rc"
}

SERVER_PID=
WORK=$(mktemp -d)
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

build_rust() {
  if [[ $PROFILE == debug ]]; then # one invocation: one feature resolution, one build of core
    "$CARGO" build -q -p lime-ffi -p uniffi-bindgen -p lime-cli
  else
    "$CARGO" build -q --release -p lime-ffi -p uniffi-bindgen
    "$CARGO" build -q -p lime-cli # the server is always target/debug/lime
  fi
}

generate() {
  rm -rf "$OUT/kotlin" "$OUT/swift"
  "$BIN/uniffi-bindgen" generate --no-format --language kotlin --out-dir "$OUT/kotlin" "$LIB"
  "$BIN/uniffi-bindgen" generate --no-format --language swift --out-dir "$OUT/swift" "$LIB"
  # Swift cannot be compiled here (no toolchain): check that every file is there (lime-ffi's
  # module, and LimeCore with the core types of lime-core's `uniffi` feature).
  for f in Lime.swift LimeFFI.h LimeFFI.modulemap LimeCore.swift LimeCoreFFI.h LimeCoreFFI.modulemap; do
    [[ -s $OUT/swift/$f ]] || { echo "missing generated $OUT/swift/$f" >&2; return 1; }
  done
  for f in lime_ffi.kt core/lime.kt; do
    [[ -s $OUT/kotlin/org/limeprotocol/$f ]] || { echo "no Kotlin $f generated" >&2; return 1; }
  done
}

install_tools() {
  local installed=$TOOLS/node_modules/kotlin-compiler/package.json
  if ! grep -q "\"version\": \"$KOTLIN_COMPILER_VERSION\"" "$installed" 2>/dev/null; then
    npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --loglevel=error \
      "kotlin-compiler@$KOTLIN_COMPILER_VERSION"
  fi
  chmod +x "$TOOLS"/node_modules/kotlin-compiler/bin/*
  if ! dpkg -s libjna-java >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjna-java
  fi
}

KOTLIN=$TOOLS/node_modules/kotlin-compiler
classpath() {
  local jna
  jna=$(dpkg -L libjna-java | grep '/jna\.jar$' | head -n1)
  echo "$jna:$KOTLIN/lib/kotlinx-coroutines-core-jvm.jar"
}

compile() {
  "$KOTLIN/bin/kotlinc" -nowarn -cp "$(classpath)" \
    "$OUT/kotlin/org/limeprotocol/lime_ffi.kt" "$OUT/kotlin/org/limeprotocol/core/lime.kt" \
    bindings/ffi/tests/bindings/Main.kt \
    bindings/ffi/tests/bindings/Vectors.kt \
    -d "$OUT/kotlin-tests.jar"
}

TCP_URI=
WS_URI=
start_server() {
  printf 'alice@localhost plain wonderland\ndora@localhost plain pässwörd\n' >"$WORK/users"
  # The server prints one `listening on` line per listener on stdout; read them as they come.
  exec {SERVER_OUT}< <(exec "$TARGET/debug/lime" serve --tcp 127.0.0.1:0 --ws 127.0.0.1:0 \
    --auth guest,plain --users "$WORK/users" --log-level warn)
  SERVER_PID=$!
  local line
  while [[ -z $TCP_URI || -z $WS_URI ]]; do
    if ! IFS= read -r -t 30 -u "$SERVER_OUT" line; then
      echo "lime serve did not report its listeners" >&2
      return 1
    fi
    case $line in
      *"listening on net.tcp://"*) TCP_URI=net.tcp://${line##*net.tcp://} ;;
      *"listening on ws://"*) WS_URI=ws://${line##*ws://} ;;
    esac
  done
  # Keep draining its stdout so it can never block on a full pipe.
  cat <&"$SERVER_OUT" >/dev/null &
  echo "lime serve (pid $SERVER_PID): $TCP_URI $WS_URI"
}

run_tests() {
  local rc=0
  java -Djna.library.path="$BIN" \
    -cp "$OUT/kotlin-tests.jar:$(classpath):$KOTLIN/lib/kotlin-stdlib.jar" \
    MainKt "$TCP_URI" "$WS_URI" "$ROOT/tests/vectors" | tee "$WORK/results" || rc=$?
  # Besides the exit status, insist on the summary line (a crash prints none).
  tail -n1 "$WORK/results" | grep -Eq '^[0-9]+ passed, 0 failed$' || rc=1
  return "$rc"
}

status=0
step "cargo build ($PROFILE): ffi, bindgen, cli" build_rust
step "generate Kotlin + Swift" generate
step "npm kotlin-compiler + libjna-java" install_tools
step "kotlinc" compile
step "start lime serve" start_server
step "run Kotlin tests" run_tests || status=$?

echo
echo "timings:"
printf '  %s\n' "${TIMINGS[@]}"
echo "Swift bindings (generated only): $OUT/swift"
exit "$status"
