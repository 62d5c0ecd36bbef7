// The build hook's pieces (lib/src/build/rust_build.dart): target triples, library file names,
// the cargo command, finding cargo, the Android NDK set-up and the messages that say what to
// install. Pure Dart: needs neither cargo nor the native library.
import 'dart:io';

import 'package:code_assets/code_assets.dart';
import 'package:lime/src/build/rust_build.dart';
import 'package:test/test.dart';

void main() {
  test('every supported OS and architecture maps to its Rust target', () {
    final expected = {
      (OS.android, Architecture.arm64): 'aarch64-linux-android',
      (OS.android, Architecture.arm): 'armv7-linux-androideabi',
      (OS.android, Architecture.ia32): 'i686-linux-android',
      (OS.android, Architecture.x64): 'x86_64-linux-android',
      (OS.iOS, Architecture.arm64): 'aarch64-apple-ios',
      (OS.iOS, Architecture.x64): 'x86_64-apple-ios',
      (OS.macOS, Architecture.arm64): 'aarch64-apple-darwin',
      (OS.macOS, Architecture.x64): 'x86_64-apple-darwin',
      (OS.linux, Architecture.arm64): 'aarch64-unknown-linux-gnu',
      (OS.linux, Architecture.x64): 'x86_64-unknown-linux-gnu',
      (OS.windows, Architecture.arm64): 'aarch64-pc-windows-msvc',
      (OS.windows, Architecture.x64): 'x86_64-pc-windows-msvc',
    };
    expected.forEach((target, triple) {
      expect(rustTarget(target.$1, target.$2), triple, reason: '$target');
    });
    expect(rustTarget(OS.iOS, Architecture.arm64, iOSSimulator: true), 'aarch64-apple-ios-sim');
    expect(
      () => rustTarget(OS.fuchsia, Architecture.x64),
      throwsA(isA<RustBuildException>()
          .having((e) => e.message, 'message', contains('cannot be built for'))),
    );
  });

  test('library file names per OS', () {
    expect(libraryFileName(OS.linux), 'liblime_dart.so');
    expect(libraryFileName(OS.android), 'liblime_dart.so');
    expect(libraryFileName(OS.macOS), 'liblime_dart.dylib');
    expect(libraryFileName(OS.iOS), 'liblime_dart.dylib');
    expect(libraryFileName(OS.windows), 'lime_dart.dll');
  });

  test('cargo builds the lime-dart library in release for the target', () {
    final arguments = cargoArguments(
      manifestPath: '/r/bindings/dart/Cargo.toml',
      target: 'aarch64-linux-android',
      targetDirectory: '/o',
    );
    expect(arguments.take(2), ['build', '--release']);
    expect(arguments.join(' '), contains('--package lime-dart'));
    expect(arguments.join(' '), contains('--target aarch64-linux-android'));
    expect(arguments.join(' '), contains('--manifest-path /r/bindings/dart/Cargo.toml'));
    expect(arguments.join(' '), contains('--target-dir /o'));
  });

  group('finding cargo', () {
    late Directory root;
    setUp(() async => root = await Directory.systemTemp.createTemp('lime-hook-test'));
    tearDown(() => root.delete(recursive: true));

    File fakeTool(String directory, String name) =>
        File('${root.path}/$directory/$name')..createSync(recursive: true);

    test('on PATH first', () {
      final onPath = fakeTool('path-bin', 'cargo');
      fakeTool('home/.cargo/bin', 'cargo');
      final env = {'PATH': '/nonexistent:${root.path}/path-bin', 'HOME': '${root.path}/home'};
      expect(locateTool('cargo', env), onPath.path);
    });

    test('in ~/.cargo/bin when PATH lacks it (an IDE started from the desktop)', () {
      final installed = fakeTool('home/.cargo/bin', 'cargo');
      final env = {'PATH': '/nonexistent', 'HOME': '${root.path}/home'};
      expect(locateTool('cargo', env), installed.path);
    });

    test('in CARGO_HOME/bin', () {
      final installed = fakeTool('cargo-home/bin', 'cargo');
      expect(locateTool('cargo', {'CARGO_HOME': '${root.path}/cargo-home'}), installed.path);
    });

    test('nowhere: null, and the message says how to install Rust and the target', () {
      expect(locateTool('cargo', {'PATH': '', 'HOME': '${root.path}/empty'}), isNull);
      final message = missingCargoMessage('aarch64-apple-ios');
      expect(message, contains('https://rustup.rs'));
      expect(message, contains('rustup target add aarch64-apple-ios'));
    });
  });

  test('the hook depends on every Rust source file and directory of the two crates', () async {
    final root = await Directory.systemTemp.createTemp('lime-hook-sources');
    addTearDown(() => root.delete(recursive: true));
    for (final path in [
      'Cargo.toml',
      'Cargo.lock',
      'bindings/dart/Cargo.toml',
      'bindings/dart/src/lib.rs',
      'bindings/dart/src/api/client.rs',
      'core/Cargo.toml',
      'core/src/lib.rs',
      'core/src/channel/core/mod.rs',
      'core/src/notes.txt',
    ]) {
      File('${root.path}/$path').createSync(recursive: true);
    }
    Directory('${root.path}/dart').createSync();
    final sources = rustSources(Directory('${root.path}/dart').uri)
        .map((uri) => uri.toFilePath().substring(root.path.length + 1).replaceAll(r'\', '/'))
        .toSet();
    expect(
        sources,
        containsAll([
          'Cargo.toml',
          'Cargo.lock',
          'bindings/dart/Cargo.toml',
          'bindings/dart/src/',
          'bindings/dart/src/lib.rs',
          'bindings/dart/src/api/',
          'bindings/dart/src/api/client.rs',
          'core/Cargo.toml',
          'core/src/channel/core/',
          'core/src/channel/core/mod.rs',
        ]));
    expect(sources, isNot(contains('core/src/notes.txt')));
    expect(sources, isNot(contains('core/README.md')), reason: 'missing files are not listed');
  });

  test("macOS builds drop Xcode's platform tool directories from PATH", () {
    const path = '/Applications/Xcode.app/Contents/Developer/Platforms/iPhoneOS.platform/'
        'Developer/usr/bin:/Applications/Xcode.app/Contents/Developer/usr/bin:'
        '/Users/me/.cargo/bin:/usr/bin:/bin';
    expect(hostPath(path), '/Users/me/.cargo/bin:/usr/bin:/bin');
    expect(hostPath('/usr/bin'), '/usr/bin');
  });

  test('a missing Rust target is reported with the rustup command that adds it', () {
    expect(missingTargetMessage('armv7-linux-androideabi'),
        contains('rustup target add armv7-linux-androideabi'));
    const stderr = 'error[E0463]: can\'t find crate for `core`\n'
        '  = note: the `aarch64-linux-android` target may not be installed';
    expect(cargoFailedMessage('aarch64-linux-android', stderr),
        contains('rustup target add aarch64-linux-android'));
    final other = cargoFailedMessage('x86_64-unknown-linux-gnu', 'error: linker `cc` not found');
    expect(other, contains('linker `cc` not found'));
    expect(other, contains('--target x86_64-unknown-linux-gnu'));
  });

  test('Android links with the NDK clang wrapper for the target and API level', () {
    final env = androidEnvironment(
      target: 'armv7-linux-androideabi',
      api: 21,
      compiler: Uri.file('/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin/clang'),
      archiver: Uri.file('/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin/llvm-ar'),
    );
    const bin = '/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin';
    const wrapper = '$bin/armv7a-linux-androideabi21-clang';
    expect(env['CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_LINKER'], wrapper);
    expect(env['CC_armv7_linux_androideabi'], wrapper);
    expect(env['AR_armv7_linux_androideabi'], '$bin/llvm-ar');
    final windows = androidEnvironment(
      target: 'aarch64-linux-android',
      api: 24,
      compiler: Uri.file('/ndk/bin/clang'),
      archiver: Uri.file('/ndk/bin/llvm-ar'),
      windowsHost: true,
    );
    expect(windows['CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER'],
        endsWith('aarch64-linux-android24-clang.cmd'));
  }, testOn: 'posix');
}
