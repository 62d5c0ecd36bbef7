#!/usr/bin/env bash
# Regenerates the flutter_rust_bridge glue: dart/lib/src/rust/ and bindings/dart/src/frb_generated.rs.
#
#   bash dart/tool/generate.sh
#
# Needs flutter_rust_bridge_codegen 2.13.0 and cargo-expand. They are taken from PATH, else from
# the tool cache ($LIME_TOOLS, default <repo>/target/tools), and installed there when missing
# (`cargo install --locked --root`, about 5 minutes once; CI can cache that directory).
# The codegen insists on running `dart --version` (or `flutter --version`); without a Dart SDK a
# stub that exits 0 stands in. flutter_rust_bridge.yaml turns off every other Dart call
# (format, fix, build_runner), so the output does not depend on whether an SDK is present.
set -euo pipefail

FRB_VERSION=2.13.0
DART_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$DART_DIR/.." && pwd)"
TOOLS="${LIME_TOOLS:-$REPO/target/tools}"
export PATH="$TOOLS/bin:$PATH"

ensure_tools() {
    if ! flutter_rust_bridge_codegen --version 2>/dev/null | grep -q " $FRB_VERSION\$"; then
        echo "generate.sh: installing flutter_rust_bridge_codegen $FRB_VERSION into $TOOLS" >&2
        cargo install "flutter_rust_bridge_codegen@$FRB_VERSION" --locked --root "$TOOLS"
    fi
    if ! cargo expand --version >/dev/null 2>&1; then
        echo "generate.sh: installing cargo-expand into $TOOLS" >&2
        cargo install cargo-expand --locked --root "$TOOLS"
    fi
}

ensure_tools

STUB=""
cleanup() { [ -n "$STUB" ] && rm -rf "$STUB"; }
trap cleanup EXIT
if ! { command -v flutter >/dev/null && flutter --version >/dev/null 2>&1; }; then
    # No SDK: stub both executables (the codegen asks for `dart --version`, or for
    # `flutter --version` in a Flutter package). Nothing else of the SDK is called (see
    # flutter_rust_bridge.yaml).
    STUB="$(mktemp -d)"
    for tool in dart flutter; do
        printf '#!/bin/sh\n# stub for flutter_rust_bridge_codegen: only `--version` is called\nexit 0\n' >"$STUB/$tool"
        chmod +x "$STUB/$tool"
    done
    export PATH="$STUB:$PATH"
    echo "generate.sh: no Flutter SDK on PATH, using a stub dart/flutter for the codegen" >&2
fi

cd "$DART_DIR"
# cargo-expand builds with RUSTFLAGS="--cfg frb_expand"; a separate target directory keeps that
# from invalidating the check/clippy artifacts of the normal builds.
export CARGO_TARGET_DIR="${LIME_FRB_TARGET_DIR:-$REPO/target/frb-expand}"
flutter_rust_bridge_codegen generate --config-file flutter_rust_bridge.yaml
# The codegen writes a Cargo.lock next to a crate it treats as standalone; the workspace has one.
rm -f "$REPO/bindings/dart/Cargo.lock"
# flutter_rust_bridge's fallback lookup directory is derived from `rust_root` (the crate's own
# target/release/, which a workspace build never fills): point it at the workspace's target/
# directory, relative to the package root as the generated loader resolves it.
sed -i.bak "s|ioDirectory: '../bindings/dart/target/release/'|ioDirectory: '../target/release/'|" \
    lib/src/rust/frb_generated.dart
rm -f lib/src/rust/frb_generated.dart.bak
grep -q "ioDirectory: '../target/release/'" lib/src/rust/frb_generated.dart || {
    echo "generate.sh: the generated ioDirectory changed form; update the sed above" >&2
    exit 1
}
