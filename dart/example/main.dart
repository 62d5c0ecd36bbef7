// A console client: connects to a LIME server, establishes a guest session, sends a message
// to itself, pings the server and finishes.
//
//   cargo build -p lime-cli
//   ../target/debug/lime serve &          # net.tcp://127.0.0.1:55321, ws://127.0.0.1:8080
//   dart run example/main.dart ws://127.0.0.1:8080
//
// `dart run` runs the package's build hook, which builds the native library with cargo.
import 'package:lime/lime.dart';

Future<void> main(List<String> args) async {
  final uri = args.isEmpty ? 'ws://127.0.0.1:8080' : args.first;
  await initLime();

  final Transport transport = uri.startsWith('net.tcp://') ? TcpTransport() : WebSocketTransport();
  await transport.open(uri);
  final channel = ClientChannel(transport, autoNotifyReceipt: true);
  channel.onReceiveMessage.stream.listen((m) => print('message from ${m.from}: ${m.content}'));
  channel.onReceiveNotification.stream.listen((n) => print('notification ${n.event?.name} for ${n.id}'));
  channel.onSessionFailed.stream.listen((s) => print('session failed: ${s.reason}'));

  try {
    final session = await channel.establishSession('dart-example@localhost', 'console', GuestAuthentication());
    print('established as ${session.to} (session ${session.id})');

    await channel.sendMessage(Message(to: channel.localNode, type: 'text/plain', content: 'Hello from Dart'));

    final pong = await channel.processCommand(Command(uri: '/ping', method: CommandMethod.get));
    print('ping: ${pong.status?.name}');

    await Future<void>.delayed(const Duration(milliseconds: 300));
    final finished = await channel.sendFinishingSession();
    print('session ${finished?.state?.name ?? 'not finished in time'}');
  } on LimeException catch (e) {
    print('failed: $e');
  } finally {
    // Closes the connection if it is still open, ends the streams, releases the session.
    await channel.dispose();
  }
}
