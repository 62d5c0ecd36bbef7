#!/usr/bin/env bash
# Checks the Dart package without needing a Dart SDK (and runs its tests when one is present):
#
#   1. drift:   passes at once when dart/tool/generated.stamp (written by generate.sh) still
#               matches the codegen version and the sha256 of the codegen's inputs and of the
#               generated code; otherwise (or with LIME_DART_DRIFT=full) regenerates the
#               flutter_rust_bridge glue, installing the codegen if needed, and fails if
#               dart/lib/src/rust/ or bindings/dart/src/frb_generated.rs differ from what is
#               checked in;
#   2. syntax:  parses every .dart file of the package (lib/, test/, example/, the build hook in
#               hook/, tool/) with tree-sitter (npm @sengac packages);
#   3. symbols: builds the native library and checks that every symbol the Dart side looks up
#               by name (generated code, the flutter_rust_bridge runtime and the asset loader's
#               `@Native` lookup) is exported;
#   4. tests:   `dart analyze` and `dart test` when a Dart SDK is on PATH, otherwise reported
#               skipped.
#
#   bash dart/tool/check.sh            # from anywhere; ends with "check.sh: N passed, N failed, N skipped"
#   LIME_DART_DRIFT=full bash dart/tool/check.sh   # always regenerate for the drift check
#
# Tools are cached under $LIME_TOOLS (default <repo>/target/tools): the codegen and cargo-expand
# (see generate.sh) and the npm packages. Exit status 1 when any check failed.
set -uo pipefail

DART_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$DART_DIR/.." && pwd)"
TOOLS="${LIME_TOOLS:-$REPO/target/tools}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
GENERATED=(dart/lib/src/rust bindings/dart/src/frb_generated.rs)
cd "$REPO" || exit 1

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "check.sh: PASS $1"; }
fail() { failed=$((failed + 1)); echo "check.sh: FAIL $1"; }
skipped_what=()
skip() { skipped=$((skipped + 1)); skipped_what+=("${2:-$1}"); echo "check.sh: SKIP $1"; }
section() { echo; echo "== $1"; }

# --- 1. generated code is up to date ---------------------------------------------------------
section "drift: the flutter_rust_bridge glue matches its inputs"
snapshot="$(mktemp -d)"
trap 'rm -rf "$snapshot"' EXIT
STAMP=dart/tool/generated.stamp
# The stamp says which codegen version made the generated code from which inputs (generate.sh
# writes it after generating). When the version and both hashes still match, regenerating would
# reproduce the checked-in code, so the drift check skips the codegen (and its ~5 minute
# install on a fresh machine). Any mismatch, a missing stamp, untracked generated files or
# LIME_DART_DRIFT=full take the full path: regenerate and diff.
full_why=""
if [ "${LIME_DART_DRIFT:-}" = full ]; then
    full_why="LIME_DART_DRIFT=full"
elif [ ! -f "$STAMP" ]; then
    full_why="no $STAMP"
elif ! current="$(bash "$DART_DIR/tool/generate.sh" --stamp 2>"$snapshot/stamp.err")"; then
    cat "$snapshot/stamp.err"
    full_why="could not hash the inputs/outputs"
else
    for key in frb_version inputs outputs; do
        now="$(awk -v k="$key" '$1 == k { print $2 }' <<<"$current")"
        then_="$(awk -v k="$key" '$1 == k { print $2 }' "$STAMP")"
        if [ -z "$now" ] || [ "$now" != "$then_" ]; then
            full_why="${full_why:+$full_why, }$key changed since the stamp"
        fi
    done
    if [ -z "$full_why" ] &&
        [ -n "$(git ls-files --others --exclude-standard -- "${GENERATED[@]}")" ]; then
        full_why="untracked generated files"
    fi
fi

if [ -z "$full_why" ]; then
    pass "drift: verified by $STAMP (codegen $(awk '$1 == "frb_version" { print $2 }' "$STAMP"), inputs and generated code unchanged since the last generation; LIME_DART_DRIFT=full forces a regeneration)"
else
    echo "check.sh: drift: full regeneration ($full_why)"
    for path in "${GENERATED[@]}"; do
        mkdir -p "$snapshot/$(dirname "$path")"
        cp -R "$path" "$snapshot/$path"
    done
    cp "$STAMP" "$snapshot/stamp.before" 2>/dev/null || true
    # Were the generated files unmodified (relative to git) before regenerating?
    tracked_clean=false
    if git ls-files --error-unmatch "${GENERATED[@]}" >/dev/null 2>&1 &&
        git diff --quiet -- "${GENERATED[@]}"; then
        tracked_clean=true
    fi
    if bash "$DART_DIR/tool/generate.sh" >"$snapshot/generate.log" 2>&1; then
        drift=false
        for path in "${GENERATED[@]}"; do
            if ! diff -r "$snapshot/$path" "$path" >"$snapshot/drift.diff" 2>&1; then
                drift=true
                head -40 "$snapshot/drift.diff"
            fi
        done
        if $tracked_clean && ! git diff --exit-code --stat -- "${GENERATED[@]}"; then
            drift=true
        fi
        untracked="$(git ls-files --others --exclude-standard -- "${GENERATED[@]}")"
        if $tracked_clean && [ -n "$untracked" ]; then
            echo "new generated files not checked in:"
            echo "$untracked"
            drift=true
        fi
        if $drift; then
            fail "drift: generated code differs; run dart/tool/generate.sh and commit the result (with $STAMP)"
        else
            if ! cmp -s "$snapshot/stamp.before" "$STAMP"; then
                echo "check.sh: drift: generate.sh refreshed $STAMP; commit it so the next check can skip the codegen"
            fi
            pass "drift: generated code is up to date (regenerated)"
        fi
    else
        tail -30 "$snapshot/generate.log"
        fail "drift: the codegen failed"
    fi
fi

# --- 2. Dart syntax ----------------------------------------------------------------------------
section "syntax: tree-sitter over every .dart file"
NPM_DIR="$TOOLS/npm"
if [ ! -d "$NPM_DIR/node_modules/@sengac/tree-sitter-dart" ]; then
    if command -v npm >/dev/null; then
        mkdir -p "$NPM_DIR"
        npm install --prefix "$NPM_DIR" --no-save --no-audit --no-fund \
            @sengac/tree-sitter@0.25.15 @sengac/tree-sitter-dart@1.1.6 >/dev/null 2>&1 ||
            echo "npm install failed"
    fi
fi
if [ -d "$NPM_DIR/node_modules/@sengac/tree-sitter-dart" ] && command -v node >/dev/null; then
    mapfile -t dart_files < <(find dart -name '*.dart' -not -path '*/.dart_tool/*' -not -path 'dart/build/*' -not -path 'dart/example/build/*' | sort)
    if NODE_PATH="$NPM_DIR/node_modules" node "$DART_DIR/tool/check_dart_syntax.cjs" "${dart_files[@]}" \
        >"$snapshot/syntax.log" 2>&1; then
        tail -1 "$snapshot/syntax.log"
        pass "syntax: ${#dart_files[@]} Dart files parse"
    else
        grep -v ': ok$' "$snapshot/syntax.log"
        fail "syntax: Dart syntax errors"
    fi
else
    fail "syntax: needs node and npm (for @sengac/tree-sitter-dart)"
fi

# --- 3. native symbols -------------------------------------------------------------------------
section "symbols: every symbol the Dart side looks up is exported"
if cargo build -p lime-dart -p lime-cli --quiet; then
    case "$(uname -s)" in
        Linux) lib="$TARGET/debug/liblime_dart.so"; nm_args=(-D --defined-only) ;;
        Darwin) lib="$TARGET/debug/liblime_dart.dylib"; nm_args=(-gU) ;;
        *) lib="" ;;
    esac
    if [ -z "$lib" ] || ! command -v nm >/dev/null; then
        skip "symbols: needs nm on Linux or macOS"
    else
        # Looked up by name in the generated code...
        grep -ohE "lookup(Function)?<[^']*>\('[A-Za-z0-9_]+'\)|lookup(Function)?\('[A-Za-z0-9_]+'\)" \
            dart/lib/src/rust/*.dart | grep -oE "'[A-Za-z0-9_]+'" | tr -d "'" >"$snapshot/want"
        generated_count="$(sort -u "$snapshot/want" | wc -l)"
        # ...and by the flutter_rust_bridge 2.13 Dart runtime (its ffigen bindings of the
        # runtime crate, frb_dart/lib/src/ffigen_generated/multi_package.dart).
        printf '%s\n' frb_create_shutdown_callback frb_dart_fn_deliver_output \
            frb_dart_opaque_dart2rust_encode frb_dart_opaque_drop_thread_box_persistent_handle \
            frb_dart_opaque_rust2dart_decode frb_free_wire_sync_rust2dart_dco \
            frb_free_wire_sync_rust2dart_sse frb_get_rust_content_hash frb_init_frb_dart_api_dl \
            frb_pde_ffi_dispatcher_primary frb_pde_ffi_dispatcher_sync frb_rust_vec_u8_free \
            frb_rust_vec_u8_new frb_rust_vec_u8_resize store_dart_post_cobject >>"$snapshot/want"
        # ...and by the loader of the build hook's asset (lib/src/native.dart, `@Native`).
        grep -ohE "symbol: '[A-Za-z0-9_]+'" dart/lib/src/native.dart | grep -oE "'[A-Za-z0-9_]+'" |
            tr -d "'" >>"$snapshot/want"
        sort -u "$snapshot/want" -o "$snapshot/want"
        nm "${nm_args[@]}" "$lib" | awk '{print $NF}' | sed 's/^_//' | sort -u >"$snapshot/have"
        missing="$(comm -23 "$snapshot/want" "$snapshot/have")"
        if [ "$generated_count" -eq 0 ]; then
            fail "symbols: found no lookups in the generated Dart (pattern out of date?)"
        elif [ -n "$missing" ]; then
            echo "$missing"
            fail "symbols: $(echo "$missing" | wc -l) looked-up symbol(s) missing from $lib"
        else
            pass "symbols: $(wc -l <"$snapshot/want") symbols ($generated_count from the generated code) exported by $lib"
        fi
    fi
else
    fail "symbols: cargo build -p lime-dart -p lime-cli failed"
fi

# --- 4. Dart tests -----------------------------------------------------------------------------
section "tests: the Dart test suite"
if [ -z "${LIME_DART_LIBRARY:-}" ]; then
    case "$(uname -s)" in
        Darwin) LIME_DART_LIBRARY="$TARGET/debug/liblime_dart.dylib" ;;
        MINGW* | MSYS* | CYGWIN*) LIME_DART_LIBRARY="$TARGET/debug/lime_dart.dll" ;;
        *) LIME_DART_LIBRARY="$TARGET/debug/liblime_dart.so" ;;
    esac
fi
export LIME_DART_LIBRARY
export LIME_SERVER_BIN="${LIME_SERVER_BIN:-$TARGET/debug/lime}"
# A pure Dart package: any Dart SDK (standalone or Flutter's) runs the tests. `dart test` also
# runs the build hook (hook/build.dart), which builds the release library into .dart_tool/.
if command -v dart >/dev/null && dart --version >/dev/null 2>&1; then
    if (cd "$DART_DIR" && dart pub get && dart analyze && dart test); then
        pass "tests: dart analyze, dart test"
    else
        fail "tests: dart analyze, dart test"
    fi
else
    skip "tests: no Dart/Flutter SDK on PATH, the Dart tests were skipped (the Rust tests of lime-dart cover the same API)" \
        "the Dart test suite did NOT run (no Dart/Flutter SDK)"
fi

echo
if [ "$skipped" -gt 0 ]; then
    echo "check.sh: $passed passed, $failed failed, $skipped skipped: $(IFS=';'; echo "${skipped_what[*]}")"
else
    echo "check.sh: $passed passed, $failed failed, $skipped skipped"
fi
[ "$failed" -eq 0 ]
