// Loading the native library and calling into it.

import 'dart:io';

import 'package:flutter_rust_bridge/flutter_rust_bridge_for_generated.dart' show ExternalLibrary;

import 'protocol/exceptions.dart';
import 'rust/api/error.dart' as rust;
import 'rust/frb_generated.dart';

/// Loads the native library of this package (`liblime_dart`) and starts the bridge. Call it
/// once, before anything that parses LIME text or connects.
///
/// The library is looked up, in order:
/// 1. at [libraryPath], when given;
/// 2. at the path in the environment variable `LIME_DART_LIBRARY`;
/// 3. where flutter_rust_bridge looks by default: bundled with the app (Flutter), or by its
///    file name (`liblime_dart.so`, `liblime_dart.dylib`, `lime_dart.dll`) on the system's
///    library search path, or in the directory named by
///    `FRB_DART_LOAD_EXTERNAL_LIBRARY_NATIVE_LIB_DIR`.
///
/// With [fromProcess] the symbols are looked up in the running process instead: for a
/// library linked statically into the app (iOS, `liblime_dart.a`).
///
/// Calling it again does nothing.
Future<void> initLime({String? libraryPath, bool fromProcess = false}) async {
  // `instance` is marked internal to this package's generated code; this is that package.
  // ignore: invalid_use_of_internal_member
  if (RustLib.instance.initialized) return;
  final path = libraryPath ?? Platform.environment['LIME_DART_LIBRARY'];
  final ExternalLibrary? nativeLibrary = fromProcess
      ? ExternalLibrary.process(iKnowHowToUseIt: true)
      : path == null
          ? null
          : ExternalLibrary.open(path);
  await RustLib.init(externalLibrary: nativeLibrary);
}

/// Runs a synchronous native call, turning a native error into a [LimeException].
T native<T>(T Function() call) {
  try {
    return call();
  } on rust.LimeError catch (e) {
    throw LimeException.fromNative(e);
  }
}

/// Awaits an asynchronous native call, turning a native error into a [LimeException].
Future<T> nativeAsync<T>(Future<T> Function() call) async {
  try {
    return await call();
  } on rust.LimeError catch (e) {
    throw LimeException.fromNative(e);
  }
}
