// Sessions against a real `lime serve` over WebSocket and TCP: messages both ways with
// receipts, a command round trip, a ping, a refused authentication (reason 13) and a clean
// finish. The server is ../target/debug/lime (`cargo build -p lime-cli`) or $LIME_SERVER_BIN.
import 'dart:async';
import 'dart:convert';
import 'dart:io';

import 'package:lime/lime.dart';
import 'package:test/test.dart';

import 'support.dart';

const _timeout = Duration(seconds: 10);

class Server {
  Server._(this.process, this.tcp, this.ws, this.users);

  final Process process;
  final String tcp;
  final String ws;
  final Directory users;

  static Future<Server> start() async {
    final exe = File(Platform.environment['LIME_SERVER_BIN'] ??
        '../target/debug/lime${Platform.isWindows ? '.exe' : ''}');
    if (!exe.existsSync()) throw StateError('Build the server first: cargo build -p lime-cli');
    final users = await Directory.systemTemp.createTemp('lime-dart-test');
    final file = File('${users.path}/users.txt')
      ..writeAsStringSync('alice@localhost plain wonderland\n');
    final process = await Process.start(exe.path, [
      'serve',
      '--tcp', '127.0.0.1:0',
      '--ws', '127.0.0.1:0',
      '--auth', 'guest,plain',
      '--users', file.path,
      '--log-level', 'warn',
    ]);
    unawaited(process.stderr.drain<void>());
    String? tcp;
    String? ws;
    final ready = Completer<void>();
    process.stdout.transform(utf8.decoder).transform(const LineSplitter()).listen((line) {
      final match = RegExp(r'listening on ((?:net\.tcp|ws)://\S+)').firstMatch(line);
      if (match == null) return;
      final uri = match.group(1)!;
      if (uri.startsWith('net.tcp://')) tcp = uri;
      if (uri.startsWith('ws://')) ws = uri;
      if (tcp != null && ws != null && !ready.isCompleted) ready.complete();
    });
    await ready.future.timeout(_timeout);
    return Server._(process, tcp!, ws!, users);
  }

  Future<void> stop() async {
    process.kill();
    await process.exitCode.timeout(_timeout, onTimeout: () => -1);
    users.deleteSync(recursive: true);
  }
}

Transport transportFor(String uri) =>
    uri.startsWith('net.tcp://') ? TcpTransport() : WebSocketTransport();

PlainAuthentication plain(String password) => PlainAuthentication()..setToBase64Password(password);

Future<T> next<T>(StreamIterator<T> it) async {
  expect(await it.moveNext().timeout(_timeout), isTrue, reason: 'the stream ended');
  return it.current;
}

Future<void> fullSession(String uri) async {
  // alice: the whole handshake in one call
  final aliceTransport = transportFor(uri);
  await aliceTransport.open(uri);
  if (aliceTransport is WebSocketTransport) expect(aliceTransport.subprotocol, 'lime');
  final alice = ClientChannel(aliceTransport, autoNotifyReceipt: true);
  expect(alice.state, SessionState.isNew);
  final established = await alice
      .establishSession('alice@localhost', 'home', plain('wonderland'))
      .timeout(_timeout);
  expect(established.state, SessionState.established);
  expect(alice.state, SessionState.established);
  expect(alice.localNode, Node.parse('alice@localhost/home'));
  expect(alice.remoteNode?.name, 'postmaster');
  expect(alice.sessionId, isNotNull);

  // bob: step by step (the server offers no negotiation: TLS is not configured)
  final bobTransport = transportFor(uri);
  final bob = ClientChannel(bobTransport, autoNotifyReceipt: true);
  await bob.open(uri);
  final authenticating = await bob.startNewSession().timeout(_timeout);
  expect(authenticating.state, SessionState.authenticating);
  expect(authenticating.schemeOptions, contains(AuthenticationScheme.guest));
  final bobSession = await bob
      .authenticateSession('bob@localhost', 'phone', GuestAuthentication())
      .timeout(_timeout);
  expect(bobSession.state, SessionState.established);

  final aliceMessages = StreamIterator(alice.onReceiveMessage.stream);
  final aliceNotifications = StreamIterator(alice.onReceiveNotification.stream);
  final bobMessages = StreamIterator(bob.onReceiveMessage.stream);
  final bobNotifications = StreamIterator(bob.onReceiveNotification.stream);
  final bobCommands = StreamIterator(bob.onReceiveCommand.stream);

  // alice → bob, with bob's automatic receipt
  await alice.sendMessage(Message(
    id: 'm1',
    to: Node.parse('bob@localhost/phone'),
    type: 'text/plain',
    content: 'Hello Bob',
    metadata: {'k': 'v'},
  ));
  final m1 = await next(bobMessages);
  expect(m1.id, 'm1');
  expect(m1.content, 'Hello Bob');
  expect(m1.type, 'text/plain');
  expect(m1.from, Node.parse('alice@localhost/home'));
  expect(m1.metadata, {'k': 'v'});
  final receipt = await next(aliceNotifications);
  expect(receipt.id, 'm1');
  expect(receipt.event, NotificationEvent.received);
  expect(receipt.from, Node.parse('bob@localhost/phone'));

  // bob → alice, JSON content to her identity, with alice's receipt
  await bob.sendMessage(Message(
    id: 'm2',
    to: Node.parse('alice@localhost'),
    type: 'application/vnd.lime.chatstate+json',
    content: {'state': 'composing'},
  ));
  final m2 = await next(aliceMessages);
  expect(m2.content, {'state': 'composing'});
  expect((await next(bobNotifications)).event, NotificationEvent.received);

  // a command round trip through the server to bob, answered by bob
  final answered = () async {
    final request = await next(bobCommands);
    expect(request.uri, '/status');
    await bob.sendCommand(Command(
      id: request.id,
      to: request.from,
      method: request.method,
      status: CommandStatus.success,
      type: 'text/plain',
      resource: 'fine',
    ));
  }();
  final response = await alice
      .processCommand(
        Command(to: Node.parse('bob@localhost/phone'), uri: '/status', method: CommandMethod.get),
        timeout: _timeout,
      )
      .timeout(_timeout);
  await answered;
  expect(response.status, CommandStatus.success);
  expect(response.resource, 'fine');

  // a ping to the server
  final pong = await alice.processCommand(Command(uri: '/ping', method: CommandMethod.get));
  expect(pong.status, CommandStatus.success);

  // both finish
  final aliceFinished = StreamIterator(alice.onSessionFinished.stream);
  final finished = await alice.sendFinishingSession().timeout(_timeout);
  expect(finished?.state, SessionState.finished);
  expect((await next(aliceFinished)).state, SessionState.finished);
  expect(await alice.onConnectionDone.stream.first.timeout(_timeout), isTrue);
  expect(alice.state, SessionState.finished);
  await expectLater(alice.sendMessage(Message(content: 'late')), throwsA(isA<LimeException>()));
  // the connection ended: every stream of the channel ended, so `await for` loops finish
  expect(await aliceMessages.moveNext().timeout(_timeout), isFalse);
  expect(await aliceNotifications.moveNext().timeout(_timeout), isFalse);
  expect(await aliceFinished.moveNext().timeout(_timeout), isFalse);
  expect(await alice.onSessionFailed.stream.toList().timeout(_timeout), isEmpty);
  expect(await aliceTransport.onConnectionDone!.stream.toList().timeout(_timeout), [true]);

  expect((await bob.sendFinishingSession().timeout(_timeout))?.state, SessionState.finished);
  await bob.dispose();
  await alice.dispose();
  expect(alice.state, SessionState.finished, reason: 'the last state stays readable');
}

Future<void> refusedAuthentication(String uri) async {
  final transport = transportFor(uri);
  await transport.open(uri);
  final channel = ClientChannel(transport);
  final failures = StreamIterator(channel.onSessionFailed.stream);
  await expectLater(
    channel.establishSession('alice@localhost', 'home', plain('wrong')).timeout(_timeout),
    throwsA(isA<LimeException>().having((e) => e.reason.code, 'code', ReasonCodes.sessionAuthenticationFailed)),
  );
  expect((await next(failures)).reason?.code, 13);
  expect(channel.state, SessionState.failed);
  // the refusal ended the connection: the streams end
  expect(await failures.moveNext().timeout(_timeout), isFalse);
  expect(await channel.onConnectionDone.stream.toList().timeout(_timeout), [true]);
  await channel.dispose();
}

/// A channel whose message hook fails, as application code may.
class FailingChannel extends ClientChannel {
  FailingChannel(super.transport);

  @override
  void onMessage(Message message) => throw StateError('hook failed on ${message.id}');
}

void main() {
  late Server server;

  setUpAll(() async {
    await initForTests();
    server = await Server.start();
  });

  tearDownAll(() => server.stop());

  test('full session over WebSocket', () => fullSession(server.ws));
  test('full session over TCP', () => fullSession(server.tcp));
  test('refused authentication over WebSocket', () => refusedAuthentication(server.ws));
  test('refused authentication over TCP', () => refusedAuthentication(server.tcp));

  test('a transport opens only its own schemes', () async {
    await expectLater(WebSocketTransport().open(server.tcp), throwsArgumentError);
    await expectLater(TcpTransport().open(server.ws), throwsArgumentError);
  });

  test('overlapping first calls share one take-over of the transport', () async {
    final transport = WebSocketTransport();
    await transport.open(server.ws);
    final channel = ClientChannel(transport);
    // Both reach the session, which refuses them (15): before the fix the second call found
    // the connection already taken and failed with "closed".
    final early = [
      for (var i = 0; i < 3; i++)
        channel.sendMessage(Message(content: 'too early $i')).then<Object?>((_) => null,
            onError: (Object e) => e),
    ];
    for (final outcome in await Future.wait(early).timeout(_timeout)) {
      expect(outcome,
          isA<LimeException>()
              .having((e) => e.reason.code, 'code', ReasonCodes.sessionInvalidActionForState));
    }
    await channel.dispose();
  });

  test('dispose closes the session, ends the streams and releases the native session', () async {
    final transport = TcpTransport();
    await transport.open(server.tcp);
    final channel = ClientChannel(transport);
    await channel.establishSession('erin@localhost', 'x', GuestAuthentication()).timeout(_timeout);
    final messages = channel.onReceiveMessage.stream.toList();
    final done = channel.onConnectionDone.stream.toList();
    await channel.dispose().timeout(_timeout);
    expect(await messages.timeout(_timeout), isEmpty);
    expect(await done.timeout(_timeout), [true]);
    expect(channel.sessionId, isNotNull, reason: 'the last values stay readable');
    await expectLater(channel.sendMessage(Message(content: 'after dispose')), throwsStateError);
    await channel.dispose(); // again: nothing
    await transport.close(); // the channel owned the connection: nothing left to close
  });

  test('closing a transport without a channel releases it and ends its streams', () async {
    final transport = WebSocketTransport();
    await transport.open(server.ws);
    expect(transport.subprotocol, 'lime');
    final closed = transport.onClose.stream.toList();
    final done = transport.onConnectionDone!.stream.toList();
    await transport.close().timeout(_timeout);
    expect(await closed.timeout(_timeout), [true]);
    expect(await done.timeout(_timeout), isEmpty);
    expect(transport.subprotocol, isNull);
    await transport.close(); // again: nothing
    await expectLater(transport.open(server.ws), throwsStateError);
  });

  test('an exception in a hook reaches onError, not the zone', () async {
    final uncaught = <Object>[];
    await runZonedGuarded(() async {
      final transport = WebSocketTransport();
      await transport.open(server.ws);
      final channel = FailingChannel(transport);
      await channel
          .establishSession('frank@localhost', 'x', GuestAuthentication())
          .timeout(_timeout);
      final errors = StreamIterator(channel.onError.stream);
      await channel.sendMessage(Message(id: 'm9', to: channel.localNode, content: 'to myself'));
      final error = await next(errors);
      expect(error, isA<StateError>().having((e) => e.message, 'message', 'hook failed on m9'));
      // Transport.send returns nothing: its failure (content that is not JSON) goes there too
      transport.send(Message(to: channel.localNode, content: Object()));
      expect(await next(errors), isA<JsonUnsupportedObjectError>());
      await channel.sendFinishingSession().timeout(_timeout);
      expect(await errors.moveNext().timeout(_timeout), isFalse);
      await channel.dispose();
    }, (error, _) => uncaught.add(error));
    expect(uncaught, isEmpty);
  });

  test('a plain authentication without a password is refused before anything is sent',
      () async {
    final transport = WebSocketTransport();
    await transport.open(server.ws);
    final channel = ClientChannel(transport);
    await expectLater(
      channel.establishSession('alice@localhost', 'home', PlainAuthentication()),
      throwsA(isA<LimeException>()
          .having((e) => e.kind, 'kind', ErrorCategory.invalidArgument)
          .having((e) => e.reason.description, 'description', contains('password'))),
    );
    await channel.dispose();
  });

  test('a command pending when the channel is disposed fails as closed', () async {
    final transport = WebSocketTransport();
    await transport.open(server.ws);
    final channel = ClientChannel(transport);
    await channel.establishSession('gina@localhost', 'x', GuestAuthentication()).timeout(_timeout);
    final requests = StreamIterator(channel.onReceiveCommand.stream);
    final pending = channel.processCommand(
        Command(to: channel.localNode, uri: '/x', method: CommandMethod.get),
        timeout: const Duration(minutes: 1));
    final failed = expectLater(
        pending, throwsA(isA<LimeException>().having((e) => e.kind, 'kind', ErrorCategory.closed)));
    expect((await next(requests)).uri, '/x'); // it reached us, and nobody answers it
    await channel.dispose().timeout(_timeout);
    await failed.timeout(_timeout);
  });

  test('envelopes without a session fail cleanly', () async {
    final transport = WebSocketTransport();
    await transport.open(server.ws);
    final channel = ClientChannel(transport);
    await expectLater(
      channel.sendMessage(Message(content: 'too early')),
      throwsA(isA<LimeException>()
          .having((e) => e.reason.code, 'code', ReasonCodes.sessionInvalidActionForState)),
    );
    await transport.close();
  });
}
