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
#
# After a successful generation it writes dart/tool/generated.stamp: the codegen version, a
# sha256 over every input the codegen reads (stamp_inputs below) and one over the generated
# outputs. check.sh's drift check trusts the checked-in code without regenerating (and without
# installing the tools) when both hashes and the version still match the stamp; commit the
# stamp with the generated code.
#
#   bash dart/tool/generate.sh --stamp   # print the current version and hashes, generate nothing
set -euo pipefail

FRB_VERSION=2.13.0
DART_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$DART_DIR/.." && pwd)"
TOOLS="${LIME_TOOLS:-$REPO/target/tools}"
export PATH="$TOOLS/bin:$PATH"
STAMP="$DART_DIR/tool/generated.stamp"

# Everything the codegen reads, relative to the repository: the crate's sources (the API in
# src/api/, lib.rs with its modules) but not its own output, the crate manifest and the
# workspace's (edition, dependency features), Cargo.lock (dependency versions change the macro
# expansions cargo-expand hands the codegen), core/src/error.rs (lime-core's ErrorCategory,
# which the API re-exports and `#[frb(mirror)]`s; no other lime-core type crosses the API: the
# other enums are hand-written DTOs), the codegen configuration, the Dart package's pubspec.yaml
# and this script (the codegen version, the stub and the ioDirectory fix-up).
stamp_inputs() {
    find bindings/dart/src -type f -name '*.rs' ! -path bindings/dart/src/frb_generated.rs -print0
    printf '%s\0' bindings/dart/Cargo.toml Cargo.toml Cargo.lock core/src/error.rs \
        dart/flutter_rust_bridge.yaml dart/pubspec.yaml dart/tool/generate.sh
}
# What the codegen writes: the GENERATED paths of check.sh (keep both lists in sync).
stamp_outputs() {
    find dart/lib/src/rust bindings/dart/src/frb_generated.rs -type f -print0
}
# One sha256 over the sorted "content-sha256  path" lines of the NUL-separated paths on stdin:
# covers the paths and the contents, independent of the locale and of the find order.
hash_files() {
    local list
    list="$(LC_ALL=C sort -z -u | xargs -0 sha256sum --)" || return 1
    printf '%s\n' "$list" | sha256sum | cut -d' ' -f1
}
# The stamp's values for the working tree, one "key value" line each (no comments).
stamp_values() {
    local inputs outputs
    inputs="$(cd "$REPO" && stamp_inputs | hash_files)"
    outputs="$(cd "$REPO" && stamp_outputs | hash_files)"
    printf 'frb_version %s\ninputs %s\noutputs %s\n' "$FRB_VERSION" "$inputs" "$outputs"
}

case "${1:-}" in
    --stamp)
        stamp_values
        exit 0
        ;;
    "") ;;
    *)
        echo "usage: bash dart/tool/generate.sh [--stamp]" >&2
        exit 2
        ;;
esac

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

values="$(stamp_values)"
{
    echo "# Written by dart/tool/generate.sh after generating; dart/tool/check.sh's drift check trusts"
    echo "# the checked-in generated code while these still match (\`generate.sh --stamp\` prints them)."
    echo "# Commit it with the generated code. sha256 over the codegen's inputs and its outputs."
    echo "$values"
} >"$STAMP"
echo "generate.sh: wrote ${STAMP#"$REPO"/}" >&2
