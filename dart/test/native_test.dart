// Loading the native library: overlapping initLime calls start the bridge once, and the
// library the build hook registers is found through its asset id.
import 'dart:io';

import 'package:lime/lime.dart';
import 'package:lime/src/native.dart' show assetLibraryPath, nativeAssetId;
import 'package:test/test.dart';

import 'support.dart';

void main() {
  test('overlapping initLime calls start the bridge once', () async {
    final path = nativeLibraryPath();
    // Before the fix the second call initialized flutter_rust_bridge a second time and failed.
    await Future.wait([initLime(libraryPath: path), initLime(libraryPath: path), initLime()]);
    // ignore: invalid_use_of_internal_member
    expect(RustLib.instance.initialized, isTrue);
    await initLime(); // and later calls return at once
    expect(Node.parse('a@b.com/x').instance, 'x');
  });

  test('the build hook registers the library as the native asset $nativeAssetId', () {
    // `dart test` ran hook/build.dart (Dart 3.10+), which built the library with cargo.
    final path = assetLibraryPath();
    if (Platform.isWindows) {
      expect(path, isNull, reason: 'Windows opens the loaded asset by name');
      return;
    }
    expect(path, isNotNull);
    expect(File(path!).existsSync(), isTrue, reason: path);
    expect(path, contains('lime_dart'));
  });
}
