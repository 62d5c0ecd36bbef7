// One run of an asynchronous task at a time, shared by every caller that arrives meanwhile.

/// Runs an asynchronous task so that overlapping callers share one run: a call that arrives
/// while the task runs gets the same future instead of starting it again. Once the run
/// completes (with a value or an error) the next call starts a new one, so a failed run can
/// be retried.
///
/// Used for `initLime` (two overlapping calls would initialize the bridge twice) and for the
/// channel's take-over of its transport (the second take-over would find it taken).
class InFlight<T> {
  Future<T>? _running;

  /// True while a run is under way.
  bool get isRunning => _running != null;

  /// The running task's future, or a new run of [task].
  Future<T> run(Future<T> Function() task) {
    final running = _running;
    if (running != null) return running;
    final started = Future<T>.sync(task);
    _running = started;
    // Forget the run once it is over. This listener handles the error for itself only: the
    // callers still receive it through `started`.
    started.then<void>(
      (_) => _finished(started),
      onError: (Object _) => _finished(started),
    );
    return started;
  }

  void _finished(Future<T> run) {
    if (identical(_running, run)) _running = null;
  }
}
