import assert from 'node:assert/strict';
import * as net from 'node:net';
import {
  ConnectionClosedError, ConnectionLostError, LineConnection, NotConnectedError, RequestTimeoutError,
  TcpTransport, untilFinal, type LineConnectionOptions, type ConnectionStatus,
} from '../../lib/io';
import { until as waitFor } from '../support/event-order';

/**
 * A device on a real TCP socket: it splits what it receives into lines and hands each to
 * `onLine`, which may answer through `reply`. `raw` keeps every byte received, in order.
 */
class Peer {
  readonly server: net.Server;
  sockets: net.Socket[] = [];
  lines: string[] = [];
  raw = '';
  onLine: (line: string, reply: (text: string) => void) => void = () => undefined;
  port = 0;

  constructor() {
    this.server = net.createServer((socket) => {
      this.sockets.push(socket);
      let buffered = '';
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => {
        this.raw += chunk.toString('latin1');
        buffered += chunk.toString('latin1');
        let at: number;
        while ((at = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, at);
          buffered = buffered.slice(at + 1);
          this.lines.push(line);
          this.onLine(line, (text) => socket.write(text));
        }
      });
    });
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Sends bytes to every connected client, as a device pushing status would. */
  push(text: string | Buffer): void {
    for (const socket of this.sockets) socket.write(text);
  }

  /** Drops every client connection, as a serial server losing its device would. */
  dropClients(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets = [];
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const grblReply = untilFinal((line) => line === 'ok' || line.startsWith('error:'));

function until<T>(emitter: LineConnection, event: 'connected' | 'closed'): Promise<void>;
function until<T>(emitter: LineConnection, event: string, predicate?: (...args: T[]) => boolean): Promise<T[]>;
function until<T>(emitter: LineConnection, event: string, predicate: (...args: T[]) => boolean = () => true): Promise<T[] | void> {
  return new Promise((resolve) => {
    const listener = (...args: T[]) => {
      if (!predicate(...args)) return;
      emitter.off(event as never, listener as never);
      resolve(args);
    };
    emitter.on(event as never, listener as never);
  });
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LineConnection over TCP', () => {
  let peer: Peer;
  let connection: LineConnection;

  async function connect(options: LineConnectionOptions = {}): Promise<LineConnection> {
    connection = new LineConnection(new TcpTransport('127.0.0.1', peer.port), { reconnect: { minMs: 20, maxMs: 100 }, ...options });
    const connected = until(connection, 'connected');
    connection.open();
    await connected;
    return connection;
  }

  beforeEach(async () => {
    peer = await new Peer().listen();
  });

  afterEach(async () => {
    await connection?.close();
    await peer.close();
  });

  it('answers a request with the next line the device sends (SCPI query)', async () => {
    peer.onLine = (line, reply) => { if (line === '*IDN?') reply('Keysight Technologies,34461A,MY53212931,A.02.08\n'); };
    await connect();
    assert.equal(connection.status, 'connected');
    const reply = await connection.request('*IDN?');
    assert.deepEqual(reply, { final: 'Keysight Technologies,34461A,MY53212931,A.02.08', parts: [] });
  });

  it('rejects with a RequestTimeoutError naming connection, request and timeout when no reply comes', async () => {
    await connect();
    const started = Date.now();
    await assert.rejects(connection.request('MEAS:VOLT:DC?', { timeoutMs: 150 }), (error: Error) => {
      assert.ok(error instanceof RequestTimeoutError);
      assert.equal(error.message, `tcp://127.0.0.1:${peer.port}: no reply to "MEAS:VOLT:DC?" within 150 ms`);
      return true;
    });
    assert.ok(Date.now() - started >= 140);
  });

  it('routes lines that are not replies to "message" events while a request waits', async () => {
    peer.onLine = (line, reply) => {
      if (line === 'G0 X10') reply('<Run|MPos:0.000,0.000,0.000|FS:500,0>\r\nALARM:1\n[MSG:Reset to continue]\nok\n');
    };
    await connect({ isReply: grblReply });
    const messages: string[] = [];
    connection.on('message', (line) => messages.push(line));
    const reply = await connection.request('G0 X10');
    assert.equal(reply.final, 'ok');
    assert.deepEqual(messages, ['<Run|MPos:0.000,0.000,0.000|FS:500,0>\r', 'ALARM:1', '[MSG:Reset to continue]']);
  });

  it('collects a multi-line reply until its final line', async () => {
    peer.onLine = (line, reply) => { if (line === '$$') reply('$0=10\n<Idle>\n$1=25\nok\n'); };
    await connect({ isReply: grblReply });
    const messages: string[] = [];
    connection.on('message', (line) => messages.push(line));
    const reply = await connection.request('$$', { isReply: untilFinal((l) => l === 'ok', (l) => /^\$\d+=/.test(l)) });
    assert.deepEqual(reply, { final: 'ok', parts: ['$0=10', '$1=25'] });
    assert.deepEqual(messages, ['<Idle>']);
  });

  it('pipelines requests: several go out before any reply, each answered in order by one final line, pushes interleaved', async () => {
    await connect({ isReply: grblReply, pipeline: { maxInFlight: 8, maxInFlightBytes: 128 } });
    const messages: string[] = [];
    connection.on('message', (line) => messages.push(line));
    const replies = ['G1 X1 F100', 'G1 X2', 'G1 X3'].map((line) => connection.request(line));
    await waitFor(() => peer.lines.length === 3, 'three lines at the device');
    assert.equal(connection.inFlightCount, 3);
    peer.push('<Run|MPos:1,0,0>\nok\nerror:2\n[MSG:Pgm End]\n<Idle|MPos:3,0,0>\nok\n');
    const finals = (await Promise.all(replies)).map((r) => r.final);
    assert.deepEqual(finals, ['ok', 'error:2', 'ok']);
    assert.deepEqual(messages, ['<Run|MPos:1,0,0>', '[MSG:Pgm End]', '<Idle|MPos:3,0,0>']);
  });

  it('keeps the bytes owed a reply within maxInFlightBytes (GRBL character counting)', async () => {
    await connect({ isReply: grblReply, pipeline: { maxInFlight: 16, maxInFlightBytes: 20 } });
    // "G1 X100\n" is 8 bytes: two fit in 20, a third would make 24.
    const replies = ['G1 X100', 'G1 X200', 'G1 X300'].map((line) => connection.request(line));
    await waitFor(() => peer.lines.length === 2, 'two lines at the device');
    await delay(30);
    assert.deepEqual(peer.lines, ['G1 X100', 'G1 X200']);
    peer.push('ok\n');
    await waitFor(() => peer.lines.length === 3, 'the third line once the first is acknowledged');
    peer.push('ok\nok\n');
    await Promise.all(replies);
  });

  it('writes no more than maxInFlight requests owed a reply; the next goes when the oldest is answered', async () => {
    await connect({ isReply: grblReply, pipeline: { maxInFlight: 2 } });
    const replies = ['G1 X1', 'G1 X2', 'G1 X3'].map((line) => connection.request(line));
    await waitFor(() => peer.lines.length === 2, 'two lines at the device');
    await delay(30);
    assert.deepEqual(peer.lines, ['G1 X1', 'G1 X2'], 'the third waits while two are owed a reply');
    assert.equal(connection.queuedCount, 1);
    peer.push('ok\n');
    await waitFor(() => peer.lines.length === 3, 'the third line once the first is answered');
    peer.push('ok\nok\n');
    await Promise.all(replies);
  });

  it('writes a request longer than maxInFlightBytes when nothing is in flight', async () => {
    await connect({ isReply: grblReply, pipeline: { maxInFlight: 4, maxInFlightBytes: 8 } });
    const long = 'G1 X100 Y100 Z100';
    peer.onLine = (_line, reply) => reply('ok\n');
    assert.equal((await connection.request(long)).final, 'ok');
    assert.deepEqual(peer.lines, [long]);
  });

  it('counts a request\'s timeout from its write, not from the call, while it waits for its turn', async () => {
    await connect();
    const first = connection.request('FIRST?', { timeoutMs: 5000 });
    const second = connection.request('SECOND?', { timeoutMs: 100 });
    await waitFor(() => peer.lines.length === 1, 'the first request');
    // Longer than the second's timeout, all of it spent waiting for its turn.
    await delay(250);
    peer.onLine = (line, reply) => { if (line === 'SECOND?') reply('two\n'); };
    peer.push('one\n');
    assert.equal((await first).final, 'one');
    assert.equal((await second).final, 'two');
  });

  it('waits for an empty pipeline before an exclusive request and sends nothing else until it is answered', async () => {
    await connect({ isReply: grblReply, pipeline: { maxInFlight: 8 } });
    const first = connection.request('G1 X1');
    const setting = connection.request('$110=500', { exclusive: true });
    const after = connection.request('G1 X2');
    await waitFor(() => peer.lines.length === 1, 'the first line');
    await delay(20);
    assert.deepEqual(peer.lines, ['G1 X1']);
    peer.push('ok\n');
    await waitFor(() => peer.lines.length === 2, 'the setting');
    await delay(20);
    assert.deepEqual(peer.lines, ['G1 X1', '$110=500']);
    peer.push('ok\n');
    await waitFor(() => peer.lines.length === 3, 'the line after the setting');
    peer.push('ok\n');
    await Promise.all([first, setting, after]);
  });

  it('writes writeNow bytes at once, ahead of requests waiting for their turn', async () => {
    await connect({ isReply: grblReply });
    const first = connection.request('G1 X1');
    const second = connection.request('G1 X2');
    const third = connection.request('G1 X3');
    await waitFor(() => peer.raw.length > 0, 'the first request');
    await connection.writeNow('!');
    await waitFor(() => peer.raw.endsWith('!'), 'the feed hold');
    peer.push('ok\n');
    await first;
    peer.push('ok\n');
    await second;
    peer.push('ok\n');
    await third;
    assert.equal(peer.raw, 'G1 X1\n!G1 X2\nG1 X3\n');
  });

  it('never writes a request aborted while queued, and rejects it with the signal reason', async () => {
    await connect();
    const first = connection.request('A?');
    const controller = new AbortController();
    const second = connection.request('B?', { signal: controller.signal });
    const third = connection.request('C?');
    const reason = new Error('run cancelled');
    controller.abort(reason);
    await assert.rejects(second, (error) => error === reason);
    await waitFor(() => peer.lines.length === 1, 'the first request');
    peer.onLine = (line, reply) => reply(`${line.toLowerCase()}\n`);
    peer.push('a?\n');
    assert.equal((await first).final, 'a?');
    assert.equal((await third).final, 'c?');
    assert.deepEqual(peer.lines, ['A?', 'C?']);
  });

  it('rejects a request whose signal already fired without writing it', async () => {
    await connect();
    const reason = new Error('already stopped');
    await assert.rejects(connection.request('A?', { signal: AbortSignal.abort(reason) }), (error) => error === reason);
    await delay(20);
    assert.deepEqual(peer.lines, []);
  });

  it('rejects an in-flight request promptly on abort and absorbs its late reply instead of giving it to the next request', async () => {
    await connect({ lateReplyMs: 5000 });
    const controller = new AbortController();
    const measuring = connection.request('MEAS?', { signal: controller.signal, timeoutMs: 5000 });
    await waitFor(() => peer.lines.length === 1, 'the query at the device');
    let rejectedWith: unknown;
    measuring.catch((error) => { rejectedWith = error; });
    const reason = new Error('emergency stop');
    controller.abort(reason);
    await tick();
    assert.equal(rejectedWith, reason, 'the awaiting code resumed within one turn with the reason');

    const late: string[] = [];
    connection.on('lateReply', ({ request, final }) => late.push(`${request} -> ${final}`));
    const next = connection.request('*IDN?');
    await delay(20);
    assert.deepEqual(peer.lines, ['MEAS?'], 'the next request waits while the late reply is still owed');
    peer.onLine = (line, reply) => { if (line === '*IDN?') reply('SIM,DMM,1,1.0\n'); };
    peer.push('+1.23456789E+00\n');
    assert.equal((await next).final, 'SIM,DMM,1,1.0');
    assert.deepEqual(late, ['MEAS? -> +1.23456789E+00']);
  });

  it('lets the next request go once the late reply of a timed-out request is no longer expected', async () => {
    await connect({ lateReplyMs: 50 });
    await assert.rejects(connection.request('SLOW?', { timeoutMs: 50 }), RequestTimeoutError);
    peer.onLine = (line, reply) => { if (line === 'FAST?') reply('fast\n'); };
    assert.equal((await connection.request('FAST?')).final, 'fast');
  });

  it('rejects in-flight requests of a reset device with the reason and sends the queued ones', async () => {
    await connect({ isReply: grblReply, lateReplyMs: Infinity });
    const moving = connection.request('G1 X10');
    const next = connection.request('G1 X20');
    await waitFor(() => peer.lines.length === 1, 'the first move');
    connection.discardPendingReplies('soft reset flushed the input buffer');
    await assert.rejects(moving, /reply to "G1 X10" will not come: soft reset flushed the input buffer/);
    await waitFor(() => peer.lines.length === 2, 'the queued move');
    peer.push('ok\n');
    assert.equal((await next).final, 'ok');
  });

  it('rejects pending requests clearly when the peer drops, reconnects with backoff, and works again', async () => {
    await connect({ reconnect: { minMs: 30, maxMs: 200, jitter: 0 } });
    const inFlight = connection.request('MEAS?', { timeoutMs: 5000 });
    const queued = connection.request('*IDN?', { timeoutMs: 5000 });
    await waitFor(() => peer.lines.length === 1, 'the query');
    const events: string[] = [];
    connection.on('disconnected', ({ reason }) => events.push(`disconnected: ${reason}`));
    connection.on('reconnecting', ({ inMs, attempt }) => events.push(`reconnecting in ${inMs} ms, attempt ${attempt}`));
    connection.on('connecting', ({ attempt }) => events.push(`connecting, attempt ${attempt}`));
    const reconnected = until(connection, 'connected');
    peer.dropClients();

    await assert.rejects(inFlight, (error: Error) => {
      assert.ok(error instanceof ConnectionLostError);
      assert.equal(error.message, `tcp://127.0.0.1:${peer.port}: connection lost before the reply to "MEAS?" arrived (the peer closed the connection)`);
      return true;
    });
    await assert.rejects(queued, (error: Error) => {
      assert.ok(error instanceof ConnectionLostError);
      assert.match(error.message, /connection lost before "\*IDN\?" was sent/);
      return true;
    });
    await reconnected;
    assert.deepEqual(events, [
      'disconnected: the peer closed the connection',
      'reconnecting in 30 ms, attempt 1',
      'connecting, attempt 1',
    ]);
    peer.onLine = (line, reply) => reply(`echo ${line}\n`);
    assert.equal((await connection.request('*IDN?')).final, 'echo *IDN?');
  });

  it('keeps retrying with growing delays while nothing listens, then connects when the device is back', async () => {
    const port = peer.port;
    await peer.close();
    connection = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: { minMs: 10, maxMs: 40, jitter: 0 } });
    const delays: number[] = [];
    const failures: string[] = [];
    connection.on('reconnecting', ({ inMs }) => delays.push(inMs));
    connection.on('connectFailed', ({ error }) => failures.push(error.message));
    connection.open();
    await waitFor(() => delays.length >= 4, 'four retries');
    assert.deepEqual(delays.slice(0, 4), [10, 20, 40, 40]);
    assert.equal(failures[0], `tcp://127.0.0.1:${port}: cannot open: connection refused (nothing listening on that port)`);
    peer = await new Peer().listen(port);
    await until(connection, 'connected');
  });

  it('stops reconnecting for good on close(), which resolves once the socket is closed', async () => {
    await connect({ reconnect: { minMs: 20, maxMs: 20 } });
    await waitFor(() => peer.sockets.length === 1, 'the server side of the socket');
    const serverSide = peer.sockets[0];
    const serverSaw = new Promise<void>((resolve) => serverSide.once('close', () => resolve()));
    const pending = assert.rejects(connection.request('MEAS?', { timeoutMs: 5000 }),
      (error: Error) => error instanceof ConnectionClosedError && /"MEAS\?" was dropped/.test(error.message));
    await connection.close();
    assert.equal(connection.status, 'closed');
    await pending;
    await serverSaw;
    const attempts: number[] = [];
    connection.on('connecting', ({ attempt }) => attempts.push(attempt));
    await delay(100);
    assert.deepEqual(attempts, []);
    assert.equal(peer.sockets.filter((s) => !s.destroyed).length, 0);
    await assert.rejects(connection.request('X?'), ConnectionClosedError);
  });

  it('stops a backoff wait on close() without another attempt', async () => {
    const port = peer.port;
    await peer.close();
    connection = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: { minMs: 10000, maxMs: 10000 } });
    const reconnecting = until(connection, 'reconnecting');
    connection.open();
    await reconnecting;
    const order: string[] = [];
    setImmediate(() => order.push('next turn'));
    await connection.close();
    order.push('closed');
    await tick();
    assert.deepEqual(order, ['closed', 'next turn'], 'close did not wait for the backoff delay');
    assert.equal(connection.status, 'closed');
    peer = await new Peer().listen();
  });

  it('rejects requests and writes at once with NotConnectedError while not connected', async () => {
    const port = peer.port;
    await peer.close();
    connection = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: { minMs: 1000 } });
    await assert.rejects(connection.request('*IDN?'), (error: Error) => error instanceof NotConnectedError
      && error.message === `tcp://127.0.0.1:${port}: cannot send "*IDN?": not connected (idle)`);
    await assert.rejects(connection.writeNow('!'), NotConnectedError);
    peer = await new Peer().listen();
  });

  it('survives garbled bytes: invalid UTF-8 stays in its own line and an overlong line is dropped, not matched', async () => {
    await connect({ isReply: grblReply, framing: { maxLineBytes: 64 } });
    const messages: string[] = [];
    const overlong: number[] = [];
    connection.on('message', (line) => messages.push(line));
    connection.on('overlong', ({ bytes }) => overlong.push(bytes));
    const reply = connection.request('G4 P0');
    await waitFor(() => peer.lines.length === 1, 'the request');
    peer.push(Buffer.concat([Buffer.from([0xff, 0xfe, 0xe2, 0x82]), Buffer.from('\n'), Buffer.from('x'.repeat(100_000)), Buffer.from('ok\n'), Buffer.from('ok\n')]));
    assert.equal((await reply).final, 'ok');
    assert.deepEqual(messages, ['\ufffd\ufffd\ufffd']);
    assert.deepEqual(overlong, [100_002]);
    peer.onLine = (_line, answer) => answer('ok\n');
    assert.equal((await connection.request('G4 P0')).final, 'ok');
  });

  it('refuses a request line containing a line break (LF or CR), naming it, and writes nothing', async () => {
    await connect();
    await assert.rejects(connection.request('A?\nB?'), /cannot send "A\?\\nB\?": a request is one line, without CR or LF/);
    await assert.rejects(connection.request('A?\rB?'), /cannot send "A\?\\rB\?": a request is one line, without CR or LF/);
    await assert.rejects(connection.send('OUTP OFF\r'), /cannot send "OUTP OFF\\r": a request is one line/);
    await delay(20);
    assert.equal(peer.raw, '');
  });

  it('sends lines without a reply in order with requests', async () => {
    peer.onLine = (line, reply) => { if (line.endsWith('?')) reply('1\n'); };
    await connect();
    await Promise.all([connection.send('OUTP OFF'), connection.request('*OPC?'), connection.send('*CLS')]);
    await waitFor(() => peer.lines.length === 3, 'all three lines');
    assert.deepEqual(peer.lines, ['OUTP OFF', '*OPC?', '*CLS']);
  });

  it('with reconnection off, stays disconnected after a loss (waitConnected says why) until open() is called again', async () => {
    await connect({ reconnect: false });
    await waitFor(() => peer.sockets.length === 1, 'the server side of the socket');
    const lost = until(connection, 'status', (status: ConnectionStatus) => status === 'disconnected');
    peer.dropClients();
    await lost;
    assert.deepEqual(connection.statusDetail, { reason: 'the peer closed the connection' });
    await assert.rejects(connection.waitConnected(), (error: Error) => error instanceof NotConnectedError && /not connected \(the peer closed the connection\)/.test(error.message));
    const attempts: number[] = [];
    connection.on('connecting', ({ attempt }) => attempts.push(attempt));
    await delay(50);
    assert.deepEqual(attempts, [], 'no attempt of its own');
    const back = until(connection, 'connected');
    connection.open();
    await back;
    assert.deepEqual(attempts, [0]);
  });

  it('waitConnected resolves once connected (at once when it is), rejects with the signal\'s reason, when the connection is or gets closed, and when it gives up', async () => {
    const port = peer.port;
    await peer.close();
    const givingUp = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: false });
    givingUp.open();
    await assert.rejects(givingUp.waitConnected(), (error: Error) =>
      error instanceof NotConnectedError && error.message.startsWith(`tcp://127.0.0.1:${port}: cannot write: not connected (tcp://127.0.0.1:${port}: cannot open: connection refused`));
    await givingUp.close();

    connection = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: { minMs: 10, maxMs: 10, jitter: 0 } });
    connection.open();
    const reason = new Error('gave up waiting');
    const controller = new AbortController();
    const aborted = connection.waitConnected(controller.signal);
    controller.abort(reason);
    await assert.rejects(aborted, (error) => error === reason);
    const waiting = connection.waitConnected();
    peer = await new Peer().listen(port);
    await waiting;
    await connection.waitConnected();
    const closing = connection.close();
    await assert.rejects(connection.waitConnected(), ConnectionClosedError, 'while closing');
    await closing;
    await assert.rejects(connection.waitConnected(), ConnectionClosedError, 'once closed');

    connection = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: { minMs: 10_000 } });
    const closedWhileWaiting = connection.waitConnected();
    await connection.close();
    await assert.rejects(closedWhileWaiting, ConnectionClosedError, 'closed while waiting');
  });

  it('reports every status change in order, ending with closed', async () => {
    const statuses: ConnectionStatus[] = [];
    connection = new LineConnection(new TcpTransport('127.0.0.1', peer.port), { reconnect: { minMs: 10, maxMs: 10, jitter: 0 } });
    connection.on('status', (status) => statuses.push(status));
    const connected = until(connection, 'connected');
    connection.open();
    await connected;
    const back = until(connection, 'connected');
    peer.dropClients();
    await back;
    await connection.close();
    assert.deepEqual(statuses, ['connecting', 'connected', 'reconnecting', 'connecting', 'connected', 'closed']);
  });
});
