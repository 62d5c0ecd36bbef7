// InFlight: overlapping calls of initLime / the channel's transport take-over share one run.
// Pure Dart: needs no native library.
import 'dart:async';

import 'package:lime/src/in_flight.dart';
import 'package:test/test.dart';

void main() {
  test('overlapping calls share one run of the task', () async {
    final gate = Completer<int>();
    var runs = 0;
    final once = InFlight<int>();
    Future<int> task() {
      runs++;
      return gate.future;
    }

    final first = once.run(task);
    final second = once.run(task);
    expect(identical(first, second), isTrue);
    expect(once.isRunning, isTrue);
    gate.complete(7);
    expect(await Future.wait([first, second]), [7, 7]);
    expect(runs, 1);
  });

  test('a finished run is not reused: the next call runs the task again', () async {
    var runs = 0;
    final once = InFlight<int>();
    expect(await once.run(() async => ++runs), 1);
    await Future<void>.delayed(Duration.zero);
    expect(once.isRunning, isFalse);
    expect(await once.run(() async => ++runs), 2);
  });

  test('a failed run reaches every caller and can be retried', () async {
    final gate = Completer<int>();
    final once = InFlight<int>();
    final first = once.run(() => gate.future);
    final second = once.run(() async => 0);
    gate.completeError(StateError('no library'));
    await expectLater(first, throwsStateError);
    await expectLater(second, throwsStateError);
    await Future<void>.delayed(Duration.zero);
    expect(await once.run(() async => 3), 3);
  });

  test('a task that throws synchronously fails its future, not the caller', () async {
    final once = InFlight<void>();
    final run = once.run(() => throw ArgumentError('bad'));
    await expectLater(run, throwsArgumentError);
  });
}
