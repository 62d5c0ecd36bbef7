import 'dart:io';

import 'package:lime/lime.dart';

/// The native library built by `cargo build -p lime-dart` (or `LIME_DART_LIBRARY`).
String nativeLibraryPath() {
  final fromEnv = Platform.environment['LIME_DART_LIBRARY'];
  if (fromEnv != null) return fromEnv;
  final name = Platform.isWindows
      ? 'lime_dart.dll'
      : Platform.isMacOS
          ? 'liblime_dart.dylib'
          : 'liblime_dart.so';
  for (final profile in ['debug', 'release']) {
    final file = File('../target/$profile/$name');
    if (file.existsSync()) return file.absolute.path;
  }
  throw StateError('Build the native library first: cargo build -p lime-dart');
}

/// Loads the native library once per test file.
Future<void> initForTests() => initLime(libraryPath: nativeLibraryPath());

/// The repository's `tests/vectors` directory.
Directory vectorsDir() => Directory('../tests/vectors');
