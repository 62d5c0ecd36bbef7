// The package's build hook: when an app (or `dart run` / `dart test`) that depends on `lime` is
// built, Dart 3.10+ / Flutter 3.38+ run it to build the native library with cargo for the
// target OS and architecture and bundle it as the code asset `package:lime/lime_dart`, which
// `initLime()` loads. Needs a Rust toolchain (see README.md); fails saying what to install
// otherwise. The work is in lib/src/build/rust_build.dart (tested by test/rust_build_test.dart).

import 'dart:io';

import 'package:code_assets/code_assets.dart';
import 'package:hooks/hooks.dart';
import 'package:lime/src/build/rust_build.dart';

void main(List<String> arguments) async {
  await build(arguments, (input, output) async {
    if (!input.config.buildCodeAssets) return;
    try {
      await buildNativeLibrary(input, output);
    } on RustBuildException catch (e) {
      // The SDK shows a failed hook's error output: say what to do first.
      stderr.writeln(e);
      rethrow;
    }
  });
}
