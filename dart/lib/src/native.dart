// Loading the native library and calling into it.

import 'dart:convert';
import 'dart:ffi';
import 'dart:io';

import 'package:flutter_rust_bridge/flutter_rust_bridge_for_generated.dart' show ExternalLibrary;
import 'package:meta/meta.dart';

import 'in_flight.dart';
import 'protocol/exceptions.dart';
import 'rust/api/error.dart' as rust;
import 'rust/frb_generated.dart';

/// The id of the native library that this package's build hook (`hook/build.dart`) builds with
/// cargo and registers as a code asset: `package:<package>/<asset name>`.
const String nativeAssetId = 'package:lime/lime_dart';

/// `lime_dart_library_path` of the native library (bindings/dart/src/library_path.rs): the
/// path of the file it was loaded from. Resolving it makes the Dart VM load the asset.
@Native<Pointer<Uint8> Function()>(
    symbol: 'lime_dart_library_path', assetId: nativeAssetId, isLeaf: true)
external Pointer<Uint8> _libraryPathOfAsset();

final InFlight<void> _initializing = InFlight<void>();

/// Loads the native library of this package (`lime_dart`) and starts the bridge. Call it
/// once, before anything that parses LIME text or connects; calling it again, or while a call
/// is under way, returns the same result (the bridge starts once).
///
/// The library is looked up, in order:
/// 1. at [libraryPath], when given; with [fromProcess], in the running process instead (a
///    library linked statically into the app);
/// 2. at the path in the environment variable `LIME_DART_LIBRARY`;
/// 3. as the native asset [nativeAssetId] that the package's build hook built: what a Flutter
///    app (`flutter run`, `flutter build`) or `dart run` / `dart test` (Dart 3.10+) get;
/// 4. by its file name: `liblime_dart.so` (Linux, Android), `liblime_dart.dylib` or
///    `lime_dart.framework/lime_dart` (macOS, iOS), `lime_dart.dll` (Windows): first in the
///    cargo workspace's `../target/release/` and `../target/debug/` (a program run from
///    `dart/`), then on the system's library search path.
///
/// Fails with a [StateError] listing every place tried when none holds the library.
Future<void> initLime({String? libraryPath, bool fromProcess = false}) {
  // `instance` is marked internal to this package's generated code; this is that package.
  // ignore: invalid_use_of_internal_member
  if (RustLib.instance.initialized) return Future<void>.value();
  return _initializing.run(() async {
    // ignore: invalid_use_of_internal_member
    if (RustLib.instance.initialized) return;
    await RustLib.init(
        externalLibrary: openNativeLibrary(libraryPath: libraryPath, fromProcess: fromProcess));
  });
}

/// Opens the native library as [initLime] describes.
@internal
ExternalLibrary openNativeLibrary({String? libraryPath, bool fromProcess = false}) {
  if (fromProcess) return ExternalLibrary.process(iKnowHowToUseIt: true);
  final explicit = libraryPath ?? Platform.environment['LIME_DART_LIBRARY'];
  if (explicit != null) return ExternalLibrary.open(explicit);

  final tried = <String>[];
  try {
    final path = assetLibraryPath();
    if (path != null) return ExternalLibrary.open(path);
    // Windows: the asset is loaded, and a DLL opened by its name is that loaded copy.
    if (Platform.isWindows) return ExternalLibrary.open(_fileName);
    tried.add('the native asset $nativeAssetId (loaded, but it did not tell its path)');
  } catch (e) {
    tried.add('the native asset $nativeAssetId ($e)');
  }

  for (final candidate in _candidates()) {
    try {
      return ExternalLibrary.open(candidate);
    } catch (e) {
      tried.add('$candidate ($e)');
    }
  }
  throw StateError('The native library of the lime package was not found. Tried:\n'
      '${tried.map((t) => '  - $t').join('\n')}\n'
      'It is built by the package\'s build hook (Dart 3.10+ / Flutter 3.38+ with a Rust '
      'toolchain, see the package README), or by `cargo build -p lime-dart --release`; pass '
      'its path to initLime(libraryPath: ...) or in LIME_DART_LIBRARY.');
}

/// The path of the library loaded as the native asset [nativeAssetId], or null when the
/// platform cannot tell it (Windows). Throws when there is no such asset (an SDK without
/// build hooks, or a build that skipped the hook).
@internal
String? assetLibraryPath() {
  final path = _libraryPathOfAsset();
  if (path == nullptr) return null;
  var length = 0;
  while (path[length] != 0) {
    length++;
  }
  return utf8.decode(path.asTypedList(length));
}

String get _fileName => Platform.isWindows
    ? 'lime_dart.dll'
    : Platform.isMacOS || Platform.isIOS
        ? 'liblime_dart.dylib'
        : 'liblime_dart.so';

/// Where the library may be when no asset was built: the cargo workspace's target directory
/// (for `dart run` from `dart/` in a checkout), then by name, as an app bundles it.
List<String> _candidates() => [
      for (final profile in ['release', 'debug'])
        if (File('../target/$profile/$_fileName').existsSync())
          File('../target/$profile/$_fileName').absolute.path,
      _fileName,
      if (Platform.isMacOS || Platform.isIOS) 'lime_dart.framework/lime_dart',
    ];

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
