import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SerialPort } from 'serialport';
import {
  ConnectionLostError, LineConnection, OpenFailedError, SerialTransport, createTransport, openSerialEndpoint,
} from '../../lib/io';
import { openPtyPair, type PtyPair } from '../support/pty-pair';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A request/reply device on the far end of the pty: answers `PING n` with `PONG n`, pushes `<Idle>` first. */
function answerPings(port: SerialPort): void {
  let buffered = '';
  port.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let at: number;
    while ((at = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      if (line.startsWith('PING')) port.write(`<Idle>\r\n${line.replace('PING', 'PONG')}\r\n`);
    }
  });
}

function closePort(port: SerialPort | undefined): Promise<void> {
  return new Promise((resolve) => (port && port.isOpen ? port.close(() => resolve()) : resolve()));
}

describe('LineConnection over a pseudo-terminal (serialport)', () => {
  let pty: PtyPair;
  let device: SerialPort | undefined;
  let connection: LineConnection | undefined;

  beforeEach(async () => {
    pty = await openPtyPair();
  });

  afterEach(async () => {
    await connection?.close();
    connection = undefined;
    await closePort(device);
    device = undefined;
    await pty.close();
  });

  it('answers requests through serialport, with pushes as messages (CRLF framing)', async () => {
    device = await openSerialEndpoint(pty.b, 115200);
    answerPings(device);
    connection = new LineConnection(createTransport(pty.a, { serial: { baudRate: 115200 } }), {
      framing: { delimiter: '\r\n' }, lineEnding: '\n', isReply: (line) => (line.startsWith('PONG') ? 'final' : 'push'),
    });
    const messages: string[] = [];
    connection.on('message', (line) => messages.push(line));
    connection.open();
    await connection.waitConnected();
    assert.deepEqual(await connection.request('PING 1'), { final: 'PONG 1', parts: [] });
    assert.deepEqual(await connection.request('PING 2'), { final: 'PONG 2', parts: [] });
    assert.deepEqual(messages, ['<Idle>', '<Idle>']);
  });

  it('fails to open a missing port with a sentence naming the path', async () => {
    const transport = new SerialTransport('/dev/workcell-no-such-port');
    await assert.rejects(transport.open(), (error: Error) => {
      assert.ok(error instanceof OpenFailedError);
      assert.match(error.message, /^\/dev\/workcell-no-such-port: cannot open: no such port/);
      return true;
    });
  });

  it('rejects the pending request when the adapter is unplugged, then reconnects when it is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'workcell-replug-'));
    await pty.close();
    pty = await openPtyPair(dir);
    device = await openSerialEndpoint(pty.b, 115200);
    connection = new LineConnection(createTransport(pty.a), { framing: { delimiter: '\r\n' }, lineEnding: '\n', reconnect: { minMs: 50, maxMs: 200 }, timeoutMs: 5000 });
    connection.open();
    await connection.waitConnected();
    const atDevice = new Promise((resolve) => device!.once('data', resolve));
    const pending = connection.request('PING 1');
    pending.catch(() => undefined); // asserted below, after the unplug
    const disconnected = new Promise<string>((resolve) => connection!.once('disconnected', ({ reason }) => resolve(reason)));
    await atDevice; // written (not still on its way out) and owed a reply
    // Unplug: socat exits, both pseudo-terminals vanish.
    await closePort(device);
    device = undefined;
    await pty.close();
    await assert.rejects(pending, (error: Error) => {
      assert.ok(error instanceof ConnectionLostError, error.message);
      assert.match(error.message, new RegExp(`^${pty.a.replace(/[/.-]/g, '\\$&')}: connection lost before the reply to "PING 1" arrived`));
      return true;
    });
    assert.match(await disconnected, /device disconnected/);
    await delay(150);
    assert.notEqual(connection.status, 'connected');

    // Replug at the same path.
    pty = await openPtyPair(dir);
    device = await openSerialEndpoint(pty.b, 115200);
    answerPings(device);
    await connection.waitConnected(AbortSignal.timeout(5000));
    assert.equal((await connection.request('PING 3', { isReply: (l) => (l.startsWith('PONG') ? 'final' : 'push') })).final, 'PONG 3');
  });

  it('releases the port on close(), so it can be opened again at once', async () => {
    connection = new LineConnection(createTransport(pty.a));
    connection.open();
    await connection.waitConnected();
    await connection.close();
    const again = new SerialTransport(pty.a);
    await again.open();
    assert.equal(again.isOpen, true);
    await again.close();
    assert.equal(again.isOpen, false);
  });
});

describe('openPtyPair', () => {
  it('says how to install socat when it is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(openPtyPair(), { message: 'socat is required for the pseudo-terminal tests: apt-get install -y socat' });
    } finally {
      process.env.PATH = path;
    }
  });
});
