'use strict';
// Interop peer: the published lime-js 3.0.1 client with lime-transport-websocket 2.0.3.
//
// Run by tests/interop/harness.py with NODE_PATH pointing at the installed packages. Prints
// {"ready": NODE} once the main session is established (the harness then starts the partner that
// writes to us) and one result line {"cell": ..., "steps": {...}, "observed": {...}} at the end.
// Every envelope sent or received is logged to standard error as "> JSON" / "< JSON".
//
// Steps (same names in every peer):
//   guest session   establish_guest, command (get /ping to the server), unknown_destination
//                   (failed notification, reason 42), finish_guest
//   wrong password  wrong_password (failed session, reason 13)
//   main session    establish_plain, receipt_in, message_in, receipt_out, finish
// The harness requires exactly these (harness.py REQUIRED) and adds the partners' checks.
// lime-js sends `received` receipts only when asked (autoNotifyReceipt), to message.from (§7).

const Lime = require('lime-js');
const WebSocketTransport = require('lime-transport-websocket');

const WAIT = 10000; // ms for any single expected envelope

function parseArgs(argv) {
  const args = { user: 'alice@localhost', password: 'wonderland' };
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['uri', 'cell', 'instance', 'partner']) {
    if (!args[k]) throw new Error(`--${k} is required`);
  }
  return args;
}

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');
const log = (direction, envelope) => process.stderr.write(`${direction} ${JSON.stringify(envelope)}\n`);

class StepFailed extends Error {}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A ClientChannel (auto ping replies on, auto receipts on) whose received envelopes are queued.
class Peer extends Lime.ClientChannel {
  constructor() {
    super(new WebSocketTransport(), true, true);
    this.received = [];
    this.waiters = [];
    this.sent = [];
    const send = this.transport.send.bind(this.transport);
    this.transport.send = (envelope) => {
      log('>', envelope);
      this.sent.push(envelope);
      send(envelope);
    };
    const receive = this.transport.onEnvelope;
    this.transport.onEnvelope = (envelope) => {
      log('<', envelope);
      receive(envelope);
    };
  }

  onMessage(m) { this.push('message', m); }
  onNotification(n) { this.push('notification', n); }
  onCommand(c) { this.push('command', c); }

  push(kind, envelope) {
    const waiter = this.waiters.find((w) => w.kind === kind && w.predicate(envelope));
    if (waiter) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(envelope);
    } else {
      this.received.push({ kind, envelope });
    }
  }

  // The first received envelope of `kind` matching `predicate` (others are kept).
  expect(kind, predicate, what) {
    const i = this.received.findIndex((r) => r.kind === kind && predicate(r.envelope));
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0].envelope);
    return withTimeout(new Promise((resolve) => this.waiters.push({ kind, predicate, resolve })),
      WAIT, what);
  }
}

class Scenario {
  constructor(args) {
    this.args = args;
    this.steps = {};
    this.observed = {};
  }

  step(name, ok, detail) {
    this.steps[name] = ok ? 'pass' : `fail: ${detail}`;
    if (!ok) throw new StepFailed(name);
  }

  async connect() {
    const peer = new Peer();
    await withTimeout(peer.transport.open(this.args.uri), WAIT, 'the WebSocket connection');
    return peer;
  }

  async establish(name, peer, identity, auth) {
    const session = await withTimeout(
      peer.establishSession('none', 'none', identity, auth, this.args.instance), WAIT, 'established');
    this.step(name, session.state === 'established' && peer.state === 'established',
      `state ${session.state}`);
  }

  async finish(name, peer) {
    const session = await withTimeout(peer.sendFinishingSession(), WAIT, 'finished');
    this.step(name, session.state === 'finished', `state ${session.state}`);
  }

  async guest() {
    const peer = await this.connect();
    await this.establish('establish_guest', peer, `guest-${this.args.instance}@localhost`,
      new Lime.GuestAuthentication());
    const response = await peer.processCommand(
      { id: `${this.args.cell}-ping`, method: 'get', uri: '/ping' }, WAIT);
    this.step('command', response.status === 'success'
      && response.type === 'application/vnd.lime.ping+json', JSON.stringify(response));
    const message = {
      id: `${this.args.cell}-lost`, to: 'nobody@localhost/void', type: 'text/plain', content: 'to nobody',
    };
    peer.sendMessage(message);
    const failed = await peer.expect('notification',
      (n) => n.id === message.id && n.event === 'failed', 'the failed notification');
    const code = failed.reason && failed.reason.code;
    this.step('unknown_destination', code === 42, `reason ${JSON.stringify(failed.reason)}`);
    await this.finish('finish_guest', peer);
  }

  async wrongPassword() {
    const peer = await this.connect();
    let outcome;
    try {
      const session = await withTimeout(peer.establishSession('none', 'none', this.args.user,
        new Lime.PlainAuthentication(b64(`not-${this.args.password}`)), this.args.instance),
      WAIT, 'the failed session');
      outcome = { resolved: session };
    } catch (e) {
      outcome = { rejected: e instanceof Error ? e.message : e };
    }
    this.observed.wrong_password = outcome;
    const failed = outcome.rejected;
    const code = failed && failed.state === 'failed' && failed.reason ? failed.reason.code : null;
    this.step('wrong_password', code === 13, `establishSession gave ${JSON.stringify(outcome)}`);
  }

  async main() {
    const peer = await this.connect();
    await this.establish('establish_plain', peer, this.args.user,
      new Lime.PlainAuthentication(b64(this.args.password)));
    process.stdout.write(`${JSON.stringify({ ready: peer.localNode })}\n`);

    const message = {
      id: `${this.args.cell}-out`, to: this.args.partner, type: 'text/plain',
      content: `hello from ${this.args.cell}: ünïcødé ✓ <&> "q"`,
    };
    // No step of its own for the send: the message is judged where it arrives (B1's copy, the
    // harness's message_delivered; B1's receipt, receipt_in). A send that throws fails receipt_in.
    peer.sendMessage(message);
    const receipt = await peer.expect('notification',
      (n) => n.id === message.id && n.event === 'received', 'the receipt');
    this.step('receipt_in', (receipt.from || '').toLowerCase().startsWith(this.args.partner.toLowerCase()),
      `receipt from ${receipt.from}`);

    const incoming = await peer.expect('message', (m) => m.type === 'text/plain', 'the partner message');
    this.step('message_in', Boolean(incoming.id && incoming.from), JSON.stringify(incoming));
    this.observed.message_in = incoming;
    // lime-js answers the ping itself and still hands it to onCommand.
    const ping = await peer.expect('command', (c) => c.uri === '/ping' && !c.status, 'the partner ping');
    this.observed.ping_delivered_to_application = Boolean(ping.id);
    const receipts = peer.sent.filter((e) => e.event === 'received' && e.id === incoming.id);
    this.observed.receipt_out_sent = receipts;
    this.step('receipt_out', receipts.length === 1 && receipts[0].to === incoming.from,
      `expected one receipt to ${incoming.from}, sent ${JSON.stringify(receipts)}`);
    await this.finish('finish', peer);
  }

  async run() {
    const phases = [
      ['guest', () => this.guest(), ['establish_guest', 'command', 'unknown_destination', 'finish_guest']],
      ['wrong_password', () => this.wrongPassword(), ['wrong_password']],
      ['main', () => this.main(),
        ['establish_plain', 'receipt_in', 'message_in', 'receipt_out', 'finish']],
    ];
    for (const [, phase, names] of phases) {
      try {
        await phase();
      } catch (e) {
        if (!(e instanceof StepFailed)) {
          const broken = names.find((n) => !(n in this.steps));
          const why = e instanceof Error ? e.message : JSON.stringify(e);
          this.steps[broken] = `fail: ${why}`;
        }
      }
    }
    if (uncaught.length) this.observed.uncaught_exceptions = uncaught;
    process.stdout.write(`${JSON.stringify({ cell: this.args.cell, steps: this.steps, observed: this.observed })}\n`);
  }
}

// An exception thrown inside a library callback must not hide the result line: it is recorded.
const uncaught = [];
process.on('uncaughtException', (e) => {
  uncaught.push(String(e && e.stack ? e.stack : e));
  log('!', { uncaughtException: uncaught[uncaught.length - 1] });
});

new Scenario(parseArgs(process.argv.slice(2))).run().then(() => process.exit(0));
