#!/usr/bin/env bash
# Interop matrix: independently written LIME peers against our server (`lime serve`), and our
# Rust client and Python drop-in against an independent server (lime-go's). See
# tests/interop/README.md.
#
#   tests/interop/run.sh [--allow-skips] [path-to-lime-binary]
#       (default binary: $CARGO_TARGET_DIR/debug/lime, target/ without it; built if missing)
#
# Under CI=true every cell must run: a skipped or unavailable cell (a peer that could not be
# installed, no openssl, our bindings not built) fails the run, with one line naming the cause.
# --allow-skips or INTEROP_ALLOW_SKIPS=1 allows them; outside CI they are allowed, with a warning.
#
# Peers are installed (pinned, idempotent) under tests/interop/.cache/; logs of the last run are in
# tests/interop/.cache/run/. Network: 127.0.0.1 only (plus the package registries on first install).
# Environment: INTEROP_CELL_TIMEOUT (seconds per cell, default 30); CARGO_TARGET_DIR (where
# `make test-kotlin` left the Kotlin bindings and liblime_ffi.so); LIME_PYTHON_VENV (the venv with
# our lime_python, default .venv; `make interop` passes $(VENV)); KOTLIN_LIB_DIR (default
# $CARGO_TARGET_DIR/debug); INTEROP_CACHE (instead of tests/interop/.cache, e.g. a throwaway one).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${INTEROP_CACHE:-$HERE/.cache}
RUN=$CACHE/run
CELL_TIMEOUT=${INTEROP_CELL_TIMEOUT:-30}
# Cargo's output directory, as cargo resolves it from the repository root ($CARGO_TARGET_DIR,
# .cargo/config); target/ when cargo cannot say.
TARGET=$(cd "$ROOT" && "${CARGO:-cargo}" metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null) ||
  TARGET=
TARGET=${TARGET:-${CARGO_TARGET_DIR:-target}}
[[ $TARGET == /* ]] || TARGET=$ROOT/$TARGET

ALLOW_SKIPS=${INTEROP_ALLOW_SKIPS:-}
[[ $ALLOW_SKIPS == 0 ]] && ALLOW_SKIPS=
ARGS=()
for arg in "$@"; do
  case $arg in
    --allow-skips) ALLOW_SKIPS=1 ;;
    -*) printf 'run.sh: unknown option %s\n' "$arg" >&2; exit 2 ;;
    *) ARGS+=("$arg") ;;
  esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"
case ${CI:-} in
  true | TRUE | True | 1 | yes) IN_CI=1 ;;
  *) IN_CI= ;;
esac
if [[ -n $IN_CI && -z $ALLOW_SKIPS ]]; then
  REPORT_MODE=(--strict)
elif [[ -n $IN_CI ]]; then
  REPORT_MODE=(--lenient "INTEROP_ALLOW_SKIPS=1 or --allow-skips allowed them in this CI run")
else
  REPORT_MODE=(--lenient "this is not a CI run (under CI=true they fail it)")
fi

# Exact versions of every peer (and of the packages their transports load).
PY_PINS=(lime-python==2.0.13 lime-transport-websocket==1.0.9 pyhumps==3.8.0
         websockets==13.1) # 13.1: the legacy websockets.client.connect API, without deprecation
NODE_PINS=(lime-js@3.0.1 lime-transport-websocket@2.0.3 websocket@1.0.35 bluebird@3.7.2)
GO_LIME=github.com/takenet/lime-go # version pinned in tests/interop/go/go.mod

say() { printf '%s\n' "$*" >&2; }

# --- the binary under test -------------------------------------------------------------------
if [[ $# -gt 1 ]]; then
  say "usage: run.sh [--allow-skips] [path-to-lime-binary]"; exit 2
elif [[ $# -eq 1 ]]; then
  LIME=$1
  [[ -x $LIME ]] || { say "run.sh: $LIME is not an executable"; exit 2; }
else
  LIME=$TARGET/debug/lime
  if [[ ! -x $LIME ]]; then
    say "run.sh: building lime (cargo build -p lime-cli)"
    (cd "$ROOT" && "${CARGO:-cargo}" build -q -p lime-cli)
  fi
fi
LIME=$(cd "$(dirname "$LIME")" && pwd)/$(basename "$LIME")

rm -rf "$RUN"
mkdir -p "$RUN/logs" "$CACHE"
RESULTS=$RUN/results.jsonl
: >"$RESULTS"
PIDS=()

cleanup() { # SIGTERM: lime serve fails every session (reason 11) and exits once all are closed
  local pid rc
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    timeout 10 tail -s 0.05 --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    rc=0 && wait "$pid" 2>/dev/null || rc=$?
    [[ $rc -eq 0 ]] || say "run.sh: server $pid exited with status $rc (logs in $RUN/logs)"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- peers -----------------------------------------------------------------------------------
# Each install function sets <PEER>_STATUS to "ok" or "unavailable: <reason>".
first_error_line() { grep -m1 -iE "$2" "$1" || tail -n1 "$1"; }

install_python() {
  local venv=$CACHE/venv log=$CACHE/install-python.log
  if [[ -f $venv/.pins && $(<"$venv/.pins") == "${PY_PINS[*]}" ]]; then
    PYTHON_STATUS=ok; say "python peer: cached (${PY_PINS[*]})"; return
  fi
  say "python peer: installing ${PY_PINS[*]}"
  rm -rf "$venv"
  if ! command -v python3 >/dev/null; then PYTHON_STATUS="unavailable: python3 not found"; return; fi
  if ! python3 -m venv "$venv" >"$log" 2>&1; then
    PYTHON_STATUS="unavailable: python3 -m venv failed: $(first_error_line "$log" 'error')"
  elif ! timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}" >>"$log" 2>&1; then
    PYTHON_STATUS="unavailable: pip install of ${PY_PINS[*]} failed: $(first_error_line "$log" 'error|no matching')"
  elif ! "$venv/bin/python" -c 'import lime_python, lime_transport_websocket; from websockets.client import connect' >>"$log" 2>&1; then
    PYTHON_STATUS="unavailable: the installed lime-python does not import: $(tail -n1 "$log")"
  else
    printf '%s' "${PY_PINS[*]}" >"$venv/.pins"
    PYTHON_STATUS=ok
  fi
}

install_node() {
  local dir=$CACHE/node log=$CACHE/install-node.log
  if [[ -f $dir/.pins && $(<"$dir/.pins") == "${NODE_PINS[*]}" ]]; then
    NODE_STATUS=ok; say "node peer: cached (${NODE_PINS[*]})"; return
  fi
  say "node peer: installing ${NODE_PINS[*]}"
  rm -rf "$dir"
  local tool
  for tool in node npm; do
    if ! command -v $tool >/dev/null; then NODE_STATUS="unavailable: $tool not found"; return; fi
  done
  mkdir -p "$dir"
  if ! timeout 300 npm install --prefix "$dir" --save-exact --no-audit --no-fund --loglevel=error \
       "${NODE_PINS[@]}" >"$log" 2>&1; then
    NODE_STATUS="unavailable: npm install of ${NODE_PINS[*]} failed: $(first_error_line "$log" 'ERR|error')"
  elif ! NODE_PATH=$dir/node_modules node -e "require('lime-js'); require('lime-transport-websocket')" >>"$log" 2>&1; then
    NODE_STATUS="unavailable: the installed lime-js does not load: $(first_error_line "$log" 'Error')"
  else
    printf '%s' "${NODE_PINS[*]}" >"$dir/.pins"
    NODE_STATUS=ok
  fi
}

install_go() {
  local gocache=$CACHE/go log=$CACHE/install-go.log src=$CACHE/go/src
  GO_PEER=$gocache/bin/lime-go-peer
  if ! command -v go >/dev/null; then GO_STATUS="unavailable: go not found (the Go toolchain)"; return; fi
  export GOPATH=$gocache/path GOMODCACHE=$gocache/path/pkg/mod GOCACHE=$gocache/build \
    GOFLAGS="-modcacherw -mod=readonly" GOTOOLCHAIN=local
  local sum
  sum=$(cat "$HERE"/go/go.mod "$HERE"/go/go.sum "$HERE"/go/*.go | sha256sum | cut -c1-16)
  if [[ -x $GO_PEER && -f $gocache/.built && $(<"$gocache/.built") == "$sum" ]]; then
    GO_STATUS=ok; say "go peer: cached ($(awk '/takenet\/lime-go v/{print $NF}' "$HERE/go/go.mod"))"; return
  fi
  say "go peer: building against $GO_LIME $(awk '/takenet\/lime-go v/{print $NF}' "$HERE/go/go.mod")"
  # Build a copy (the source tree stays as it is); go.sum pins every module's hash.
  rm -rf "$src" && mkdir -p "$src" "$gocache/bin" && cp "$HERE"/go/go.mod "$HERE"/go/go.sum "$HERE"/go/*.go "$src"/
  if (cd "$src" && timeout 300 go build -o "$GO_PEER" .) >"$log" 2>&1; then
    printf '%s' "$sum" >"$gocache/.built"
    GO_STATUS=ok
  else
    local why
    rm -f "$GO_PEER"
    if why=$(grep -m1 -iE '403|404|410|not available|forbidden|unknown revision|GOPROXY|proxy|dial tcp|toolchain|verifying' "$log"); then
      GO_STATUS="unavailable: the Go module proxy did not serve $GO_LIME ($(tr -s ' \t' ' ' <<<"${why:0:160}"))"
    else # our peer does not compile: that is a failure, not a missing peer
      GO_STATUS="fail: the Go peer did not build: $(tail -n1 "$log" | cut -c1-160)"
    fi
  fi
}

# Our own bindings as clients: built by the repository's targets, never installed here. Each
# sets <PEER>_STATUS to "ok", "unavailable: <what is missing, how to build it>" or "fail: <reason>".
setup_dropin() { # our lime_python (python/, maturin develop) in $LIME_PYTHON_VENV (default .venv)
  local venv=${LIME_PYTHON_VENV:-.venv} log=$CACHE/dropin-probe.log
  [[ $venv == /* ]] || venv=$ROOT/$venv
  DROPIN_PY=$venv/bin/python
  if [[ ! -x $DROPIN_PY ]]; then
    DROPIN_STATUS="unavailable: our lime_python: no venv at $venv (make test-python builds it; LIME_PYTHON_VENV=path for another)"
    return
  fi
  if "$DROPIN_PY" -c 'import lime_python._lime, lime_transport_websocket; from lime_python import TcpTransport' \
       >"$log" 2>&1; then
    DROPIN_STATUS=ok
  else
    DROPIN_STATUS="unavailable: our lime_python does not import in $venv (make test-python installs it): $(tail -n1 "$log")"
  fi
}

setup_kotlin() { # our Kotlin bindings: compiled against the jar `make test-kotlin` leaves in $TARGET
  local uniffi=$TARGET/uniffi kt=$TARGET/kotlin-tools/node_modules/kotlin-compiler
  local libdir=${KOTLIN_LIB_DIR:-$TARGET/debug} dir=$CACHE/kotlin jna sum out f missing=()
  [[ $libdir == /* ]] || libdir=$ROOT/$libdir
  for f in "$uniffi/kotlin-tests.jar" "$kt/bin/kotlinc" "$libdir/liblime_ffi.so"; do
    [[ -s $f ]] || missing+=("$f")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    KOTLIN_STATUS="unavailable: our Kotlin bindings are not built: no ${missing[*]} (make test-kotlin builds them)"
    return
  fi
  if ! command -v java >/dev/null; then KOTLIN_STATUS="unavailable: java not found"; return; fi
  jna=$(dpkg -L libjna-java 2>/dev/null | grep -m1 '/jna\.jar$') || true
  if [[ -z $jna ]]; then KOTLIN_STATUS="unavailable: no libjna-java (make test-kotlin installs it)"; return; fi
  local cp=$uniffi/kotlin-tests.jar:$jna:$kt/lib/kotlinx-coroutines-core-jvm.jar
  sum=$(cat "$HERE/peers/KotlinPeer.kt" "$uniffi/kotlin/org/limeprotocol/lime_ffi.kt" \
    "$uniffi/kotlin/org/limeprotocol/core/lime.kt" | sha256sum | cut -c1-16)
  if [[ ! -s $dir/peer.jar || ! -f $dir/.built || $(<"$dir/.built") != "$sum" ]]; then
    say "kotlin peer: compiling peers/KotlinPeer.kt"
    rm -rf "$dir" && mkdir -p "$dir"
    if ! timeout 300 "$kt/bin/kotlinc" -nowarn -cp "$cp" "$HERE/peers/KotlinPeer.kt" \
         -d "$dir/peer.jar" >"$dir/build.log" 2>&1; then
      KOTLIN_STATUS="fail: peers/KotlinPeer.kt did not compile: $(grep -m1 'error:' "$dir/build.log" | cut -c1-160)"
      return
    fi
    printf '%s' "$sum" >"$dir/.built"
  fi
  KOTLIN_PEER="java -Djna.library.path=$libdir -cp $dir/peer.jar:$cp:$kt/lib/kotlin-stdlib.jar interop.KotlinPeerKt"
  # The generated bindings check the native library's API checksums when it loads.
  if out=$($KOTLIN_PEER --probe 2>&1) && [[ $out == *'"probe":"ok"'* ]]; then
    KOTLIN_STATUS=ok
  else
    KOTLIN_STATUS="unavailable: $uniffi/kotlin-tests.jar does not load against $libdir/liblime_ffi.so (make test-kotlin rebuilds both): $(grep -m1 -iE 'exception|error' <<<"$out" | cut -c1-160)"
  fi
}

install_python
install_node
install_go
setup_dropin
setup_kotlin
say "python peer: $PYTHON_STATUS"
say "node peer:   $NODE_STATUS"
say "go peer:     $GO_STATUS"
say "our lime_python: $DROPIN_STATUS"
say "our Kotlin:      $KOTLIN_STATUS"

# --- certificates ----------------------------------------------------------------------------
PKI=$RUN/pki
CA=
if command -v openssl >/dev/null; then
  mkdir -p "$PKI"
  if (
    cd "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout ca.key -out ca.pem -subj "/CN=lime interop test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout server.key -out server.csr -subj "/CN=localhost"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 \
      -extfile server.ext -out server.pem
  ) >"$RUN/logs/openssl.log" 2>&1; then
    CA=$PKI/ca.pem
  else
    TLS_SKIP="openssl could not make a test certificate (see $RUN/logs/openssl.log)"
  fi
else
  TLS_SKIP="openssl not found: no test certificate"
fi

# --- servers ---------------------------------------------------------------------------------
USERS=$RUN/users.txt
printf '%s\n' '# identity scheme secret (generated by tests/interop/run.sh)' \
  'alice@localhost plain wonderland' >"$USERS"

# start_server NAME ARGS...: runs `lime serve` on free ports and reads its "listening on" lines;
# sets ADDR_TCP and ADDR_WS. Its stdout stays open on a FIFO until the end.
start_server() {
  local name=$1 fifo=$RUN/$1.fifo line fd
  shift
  ADDR_TCP= ADDR_WS=
  mkfifo "$fifo"
  # The cells log alice in with her password over cleartext TCP and ws:// next to tls/wss, and
  # each fails her password once on purpose: allow both (lime serve refuses them by default).
  "$LIME" serve --auth guest,plain --users "$USERS" --allow-cleartext-passwords --auth-failures 0 \
    --log-level info "$@" \
    >"$fifo" 2>"$RUN/logs/$name.log" &
  PIDS+=($!)
  exec {fd}<"$fifo"
  while [[ -z $ADDR_TCP || -z $ADDR_WS ]]; do
    if ! IFS= read -r -t 15 -u "$fd" line; then
      say "run.sh: $name did not start: $(tail -n3 "$RUN/logs/$name.log")"
      return 1
    fi
    case $line in
      *"listening on net.tcp://"*) ADDR_TCP=${line##*listening on } ;;
      *"listening on ws://"* | *"listening on wss://"*) ADDR_WS=${line##*listening on } ;;
    esac
  done
}

# lime-go as the server for our Rust client and our Python drop-in; same contract: a "listening
# on" line on stdout. It offers tls during TCP negotiation when it has the certificate (same port).
start_go_server() {
  local fifo=$RUN/lime-go-server.fifo line fd
  GO_TCP=
  mkfifo "$fifo"
  "$GO_PEER" server --tcp 127.0.0.1:0 "${cert_args[@]}" --users "$USERS" \
    >"$fifo" 2>"$RUN/logs/lime-go-server.log" &
  PIDS+=($!)
  exec {fd}<"$fifo"
  IFS= read -r -t 15 -u "$fd" line || return 1
  [[ $line == *"listening on net.tcp://"* ]] || return 1
  GO_TCP=${line##*listening on }
}

cert_args=()
[[ -n $CA ]] && cert_args=(--cert "$PKI/server.pem" --key "$PKI/server.key")
start_server server --tcp 127.0.0.1:0 --ws 127.0.0.1:0 "${cert_args[@]}"
TCP=$ADDR_TCP WS=$ADDR_WS
say "lime serve: $TCP $WS${CA:+ (tls offered on TCP)}"
if [[ -n $CA ]]; then
  start_server server-wss --tcp 127.0.0.1:0 --ws 127.0.0.1:0 "${cert_args[@]}" --wss
  TCP2=$ADDR_TCP WSS=$ADDR_WS
  say "lime serve (wss): $TCP2 $WSS"
fi

# --- cells -----------------------------------------------------------------------------------
PY_PEER="$CACHE/venv/bin/python $HERE/peers/python_peer.py"
NODE_PEER="node $HERE/peers/node_peer.js"
export NODE_PATH=$CACHE/node/node_modules

note() { # note ID CLIENT TRANSPORT SERVER STATUS REASON
  python3 "$HERE/harness.py" note --cell "$1" --client "$2" --transport "$3" --server "$4" \
    --status "$5" --reason "$6" >>"$RESULTS"
}

# cell ID CLIENT-KIND CLIENT-NAME TRANSPORT SERVER-NAME URI PARTNER-URI STATUS [PEER-COMMAND]
CELLS=() # every cell named here: the report fails on a missing or extra result line
cell() {
  local id=$1 kind=$2 name=$3 transport=$4 server=$5 uri=$6 partner=$7 status=$8 peer=${9:-}
  CELLS+=("$id")
  if [[ $status != ok ]]; then
    note "$id" "$name" "$transport" "$server" "${status%%:*}" "${status#*: }"
    return
  fi
  if [[ $transport == *tls* || $transport == wss ]] && [[ -z $CA ]]; then
    note "$id" "$name" "$transport" "$server" unavailable "$TLS_SKIP"
    return
  fi
  local out rc=0
  say "cell $id"
  out=$(timeout -k 5 "$CELL_TIMEOUT" python3 "$HERE/harness.py" cell --cell "$id" --kind "$kind" \
    --client-name "$name" --transport "$transport" --server "$server" --uri "$uri" \
    --partner-uri "$partner" --lime "$LIME" --peer "$peer" --instance "$id" --ca "$CA" \
    --logs "$RUN/logs" --budget "$((CELL_TIMEOUT - 5))" ${CELL_EXTRA:-} 2>>"$RUN/logs/harness.log") || rc=$?
  if [[ $rc -ne 0 || -z $out ]]; then
    note "$id" "$name" "$transport" "$server" fail "cell stopped (exit $rc) after ${CELL_TIMEOUT} s limit or crash; see $RUN/logs/$id"
  else
    printf '%s\n' "$out" >>"$RESULTS"
  fi
}

S="lime serve"
cell python-ws   python "lime-python 2.0.13" ws      "$S" "$WS"       "$TCP"     "$PYTHON_STATUS" "$PY_PEER"
cell python-wss  python "lime-python 2.0.13" wss     "$S" "${WSS:-}"  "${TCP2:-}" "$PYTHON_STATUS" "$PY_PEER"
cell js-ws       node   "lime-js 3.0.1"      ws      "$S" "$WS"       "$TCP"     "$NODE_STATUS"   "$NODE_PEER"
cell js-wss      node   "lime-js 3.0.1"      wss     "$S" "${WSS:-}"  "${TCP2:-}" "$NODE_STATUS"   "$NODE_PEER"
cell go-tcp      go     "lime-go v0.2.1"     tcp     "$S" "$TCP"      "$TCP"     "$GO_STATUS"     "${GO_PEER:-} client"
cell go-tcp-tls  go     "lime-go v0.2.1"     tcp+tls "$S" "$TCP"      "$TCP"     "$GO_STATUS"     "${GO_PEER:-} client --tls"
cell go-ws       go     "lime-go v0.2.1"     ws      "$S" "$WS"       "$TCP"     "$GO_STATUS"     "${GO_PEER:-} client"
cell go-wss      go     "lime-go v0.2.1"     wss     "$S" "${WSS:-}"  "${TCP2:-}" "$GO_STATUS"     "${GO_PEER:-} client"
cell rust-tcp     rust  "lime client (Rust)" tcp     "$S" "$TCP"      "$TCP"     ok
cell rust-tcp-tls rust  "lime client (Rust)" tcp+tls "$S" "$TCP"      "$TCP"     ok
cell rust-ws      rust  "lime client (Rust)" ws      "$S" "$WS"       "$TCP"     ok
cell rust-wss     rust  "lime client (Rust)" wss     "$S" "${WSS:-}"  "${TCP2:-}" ok

# Our bindings as clients (the scenario of the scripted peers, through our own libraries).
DP="${DROPIN_PY:-} $HERE/peers/dropin_peer.py" KP=${KOTLIN_PEER:-}
PY_OURS="lime_python (ours)" KT_OURS="Kotlin (lime-ffi)"
cell dropin-tcp     dropin "$PY_OURS" tcp     "$S" "$TCP"      "$TCP"      "$DROPIN_STATUS" "$DP --encryption none"
cell dropin-tcp-tls dropin "$PY_OURS" tcp+tls "$S" "$TCP"      "$TCP"      "$DROPIN_STATUS" "$DP --encryption tls"
cell dropin-ws      dropin "$PY_OURS" ws      "$S" "$WS"       "$TCP"      "$DROPIN_STATUS" "$DP"
cell dropin-wss     dropin "$PY_OURS" wss     "$S" "${WSS:-}"  "${TCP2:-}" "$DROPIN_STATUS" "$DP"
cell kotlin-tcp     kotlin "$KT_OURS" tcp     "$S" "$TCP"      "$TCP"      "$KOTLIN_STATUS" "$KP --encryption none"
cell kotlin-tcp-tls kotlin "$KT_OURS" tcp+tls "$S" "$TCP"      "$TCP"      "$KOTLIN_STATUS" "$KP --encryption tls"
cell kotlin-ws      kotlin "$KT_OURS" ws      "$S" "$WS"       "$TCP"      "$KOTLIN_STATUS" "$KP"
cell kotlin-wss     kotlin "$KT_OURS" wss     "$S" "${WSS:-}"  "${TCP2:-}" "$KOTLIN_STATUS" "$KP"

# Our client against an independent server: lime-go's.
GO_SERVER_STATUS=$GO_STATUS
if [[ $GO_STATUS == ok ]] && ! start_go_server; then
  GO_SERVER_STATUS="fail: the lime-go server did not start (see $RUN/logs/lime-go-server.log)"
fi
# lime-go's rules: guest names must be uuids; a wrong password fails the session with code 1
# ("The session authentication failed"; code 1 is also lime-go's "Invalid session ID").
G="lime-go v0.2.1 server" CELL_EXTRA="--guest-uuid --auth-failed-code 1 --auth-failed-text authentication"
cell rust-to-go-tcp     rust "lime client (Rust)" tcp     "$G" "${GO_TCP:-}" "${GO_TCP:-}" "$GO_SERVER_STATUS"
cell rust-to-go-tcp-tls rust "lime client (Rust)" tcp+tls "$G" "${GO_TCP:-}" "${GO_TCP:-}" "$GO_SERVER_STATUS"
# Our Python drop-in against it (the peer gets the same two rules as options).
DROPIN_GO_STATUS=$GO_SERVER_STATUS
[[ $DROPIN_STATUS == ok ]] || DROPIN_GO_STATUS=$DROPIN_STATUS
DPG="$DP --guest-uuid --auth-failed-code 1 --auth-failed-text authentication"
cell dropin-to-go-tcp     dropin "$PY_OURS" tcp     "$G" "${GO_TCP:-}" "${GO_TCP:-}" "$DROPIN_GO_STATUS" "$DPG --encryption none"
cell dropin-to-go-tcp-tls dropin "$PY_OURS" tcp+tls "$G" "${GO_TCP:-}" "${GO_TCP:-}" "$DROPIN_GO_STATUS" "$DPG --encryption tls"
CELL_EXTRA=

# --- report ----------------------------------------------------------------------------------
echo
EXPECT=$(IFS=,; printf '%s' "${CELLS[*]}")
python3 "$HERE/harness.py" report "$RESULTS" --expect "$EXPECT" "${REPORT_MODE[@]}"
