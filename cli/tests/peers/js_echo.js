'use strict';
// Cluster test peer: the published lime-js 3.0.1 client (lime-transport-websocket 2.0.3) as an
// echo, run by cli/tests/cluster.rs (`real_peers_on_different_servers`) with NODE_PATH at the
// packages tests/interop/run.sh installs (tests/interop/.cache/node/node_modules).
//
//   node js_echo.js URI NAME INSTANCE
//
// Establishes a guest session as NAME@localhost/INSTANCE over WebSocket, prints `ready`, then
// answers every text message with `echo:<text>` to its sender. lime-js answers pings and sends
// the `received` receipt to the sender itself (both turned on here). Exits when standard input
// closes or after 60 s.

const Lime = require('lime-js');
const WebSocketTransport = require('lime-transport-websocket');

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class Echo extends Lime.ClientChannel {
  constructor() {
    super(new WebSocketTransport(), true, true);
  }

  onMessage(message) {
    if (typeof message.content !== 'string' || message.content.startsWith('echo:')) return;
    this.sendMessage({ type: 'text/plain', content: `echo:${message.content}`, to: message.from });
  }

  onNotification() {}

  onCommand() {}
}

async function main([uri, name, instance]) {
  const peer = new Echo();
  await withTimeout(peer.transport.open(uri), 10000, 'the WebSocket connection');
  const session = await withTimeout(
    peer.establishSession('none', 'none', `${name}@localhost`, new Lime.GuestAuthentication(), instance),
    10000, 'the session');
  console.log(session.state === 'established' ? 'ready' : `failed ${session.state}`);
  const stop = () => process.exit(0);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  setTimeout(stop, 60000);
}

main(process.argv.slice(2)).catch((error) => {
  console.log(`failed ${error.message}`);
  process.exit(1);
});
