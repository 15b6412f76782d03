import assert from 'node:assert/strict';
import {
  ConnectionClosedError, ConnectionLostError, ModbusBus, ModbusExceptionError, ModbusReplyError, ModbusRequestError, ModbusTimeoutError, ModbusUnitIdError,
  NotConnectedError, type ConnectionStatus,
} from '../../lib/io';
import { MemoryUnits, RawModbusServer, answerPdu, echoRegisters, mbap, rejection, startServerTcp } from '../support/modbus-servers';

/** Resolves at the bus's next `status` of `wanted`. */
function statusReached(bus: ModbusBus, wanted: ConnectionStatus): Promise<void> {
  if (bus.status === wanted) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (status: ConnectionStatus) => {
      if (status !== wanted) return;
      bus.off('status', on);
      resolve();
    };
    bus.on('status', on);
  });
}

const fast = { reconnect: { minMs: 20, maxMs: 50 } };

describe('ModbusBus on Modbus TCP, against modbus-serial ServerTCP', () => {
  const units = new MemoryUnits();
  let server: { port: number; close(): Promise<void> };
  let bus: ModbusBus;
  let release: () => Promise<void>;

  before(async () => {
    server = await startServerTcp(units);
    bus = new ModbusBus(`tcp://127.0.0.1:${server.port}`, { ...fast, timeoutMs: 500 });
    release = bus.acquire();
    await statusReached(bus, 'connected');
  });

  after(async () => {
    await release();
    await server.close();
  });

  it('reads and writes with every function code (1, 2, 3, 4, 5, 6, 15, 16), as the server holds them', async () => {
    const data = units.unit(3);
    data.discreteInputs[10] = true;
    data.discreteInputs[12] = true;
    data.input.splice(20, 3, 7, 8, 65535);
    const unit = bus.unit(3);
    await unit.writeRegister(26, 1200);
    assert.equal(data.holding[26], 1200);
    await unit.writeRegisters(100, [1, 2, 65535]);
    assert.deepEqual(data.holding.slice(100, 103), [1, 2, 65535]);
    assert.deepEqual(await unit.readHoldingRegisters(100, 3), [1, 2, 65535]);
    await unit.writeCoil(5, true);
    assert.equal(data.coils[5], true);
    await unit.writeCoils(8, [true, false, true, true, false, false, false, false, true]);
    assert.deepEqual(data.coils.slice(8, 17), [true, false, true, true, false, false, false, false, true]);
    assert.deepEqual(await unit.readCoils(5, 12), [true, false, false, true, false, true, true, false, false, false, false, true]);
    assert.deepEqual(await unit.readDiscreteInputs(10, 3), [true, false, true]);
    assert.deepEqual(await unit.readInputRegisters(20, 3), [7, 8, 65535]);
    await unit.writeCoil(5, false);
    assert.equal(data.coils[5], false);
  });

  it('keeps units apart: each request reaches its own unit', async () => {
    await Promise.all([1, 2, 3, 4].map((id) => bus.unit(id).writeRegister(0, 100 + id)));
    const read = await Promise.all([1, 2, 3, 4].map((id) => bus.unit(id).readHoldingRegisters(0, 1)));
    assert.deepEqual(read, [[101], [102], [103], [104]]);
  });

  it('turns an exception reply into a sentence naming the unit, the request, the code and its meaning', async () => {
    const error = await bus.unit(3).writeRegister(1200, 7).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ModbusExceptionError);
    assert.equal(error.message, `tcp://127.0.0.1:${server.port} unit 3: write register 1200 = 7: exception 02, illegal data address (the unit has no such register)`);
    assert.equal(error.exceptionCode, 2);
    // The bus goes on serving.
    assert.deepEqual(await bus.unit(3).readHoldingRegisters(26, 1), [1200]);
  });

  it('serves the other units while one never answers: theirs complete before its timeouts fire (it holds at most half the slots)', async () => {
    units.silent.add(9);
    // 4 requests in flight on the connection, at most 2 of one unit.
    const small = new ModbusBus(`tcp://127.0.0.1:${server.port}`, { ...fast, maxInFlight: 4 });
    const releaseSmall = small.acquire();
    try {
      await statusReached(small, 'connected');
      assert.equal(small.maxInFlightPerUnit, 2);
      const order: string[] = [];
      const silent = [0, 1, 2, 3].map((i) => small.unit(9).readHoldingRegisters(i, 1, { timeoutMs: 400 }).then(
        () => order.push('unit 9 answered'),
        (e: unknown) => order.push(e instanceof ModbusTimeoutError ? 'unit 9 timed out' : `unit 9: ${String(e)}`),
      ));
      const others = [];
      for (let round = 0; round < 10; round++) {
        for (const id of [1, 2, 4]) others.push(small.unit(id).readHoldingRegisters(0, 1).then(() => order.push('other')));
      }
      await Promise.all([...silent, ...others]);
      assert.deepEqual(order, [...new Array(30).fill('other'), ...new Array(4).fill('unit 9 timed out')]);
      const timeout = await rejection(small.unit(9).readCoils(0, 1, { timeoutMs: 50 }));
      assert.equal(timeout.message, `tcp://127.0.0.1:${server.port} unit 9: read 1 coil from 0: no reply within 50 ms`);
      assert.equal(small.counters.timeouts, 5);
    } finally {
      units.silent.delete(9);
      await releaseSmall();
    }
  });

  it('takes as many devices as a bus has units: 32 listeners on each event are no leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const listeners = Array.from({ length: 32 }, () => () => undefined);
    try {
      for (const l of listeners) for (const e of ['status', 'up', 'down'] as const) bus.on(e, l);
      // Node emits the warning on a later tick.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
    } finally {
      for (const l of listeners) for (const e of ['status', 'up', 'down'] as const) bus.off(e, l);
      process.off('warning', onWarning);
    }
  });

  it('closeWhenReleased keeps serving its holders until the last lets go, then closes for good; a holder that never lets go is cut off after the grace', async () => {
    const second = new ModbusBus(`tcp://127.0.0.1:${server.port}`, { ...fast, timeoutMs: 500 });
    const a = second.acquire();
    const b = second.acquire();
    await statusReached(second, 'connected');
    const closed = second.closeWhenReleased(60_000);
    let done = false;
    void closed.then(() => (done = true));
    await a();
    assert.equal(second.status, 'connected', 'one holder left: still up');
    assert.deepEqual(await second.unit(1).readHoldingRegisters(0, 1), [units.unit(1).holding[0]], 'and still serving it');
    assert.equal(done, false);
    await b();
    await closed;
    assert.equal(second.status, 'closed');
    assert.throws(() => second.acquire(), /closed/i);

    const third = new ModbusBus(`tcp://127.0.0.1:${server.port}`, { ...fast, timeoutMs: 500 });
    third.acquire(); // never released
    await statusReached(third, 'connected');
    await third.closeWhenReleased(50);
    assert.equal(third.status, 'closed');
  });

  it('refuses bad unit ids with a sentence, never unit 1', () => {
    for (const bad of ['3', 0, 248, 254, 1.5, -1, NaN, undefined]) {
      assert.throws(() => bus.unit(bad as number), (e: Error) => e instanceof ModbusUnitIdError
        && e.message.startsWith(`tcp://127.0.0.1:${server.port}: unit id must be a whole number from 1 to 247 (or 255), got `));
    }
    assert.throws(() => bus.unit('3' as never), { message: `tcp://127.0.0.1:${server.port}: unit id must be a whole number from 1 to 247 (or 255), got "3" (string)` });
    assert.equal(bus.unit(255).unitId, 255);
    assert.equal(bus.unit(3), bus.unit(3));
  });
});

describe('ModbusBus on Modbus TCP, against a server that misbehaves', () => {
  let server: RawModbusServer;
  let bus: ModbusBus;
  let release: () => Promise<void>;

  beforeEach(async () => {
    server = new RawModbusServer();
    await server.listen();
  });

  afterEach(async () => {
    await release?.();
    await server.close();
  });

  async function connect(options: ConstructorParameters<typeof ModbusBus>[1] = {}): Promise<void> {
    bus = new ModbusBus(`tcp://127.0.0.1:${server.port}`, { ...fast, timeoutMs: 300, ...options });
    release = bus.acquire();
    await statusReached(bus, 'connected');
  }

  it('refuses bad addresses, counts and values before anything is written', async () => {
    await connect();
    const unit = bus.unit(1);
    const refused = [
      unit.readHoldingRegisters(-1, 1), unit.readHoldingRegisters(65536, 1), unit.readHoldingRegisters('5' as never, 1),
      unit.readHoldingRegisters(0, 126), unit.readHoldingRegisters(0, 0), unit.readCoils(0, 2001), unit.readHoldingRegisters(65535, 2),
      unit.writeRegister(0, 65536), unit.writeRegister(0, -1), unit.writeRegister(0, 1.5), unit.writeCoil(0, 1 as never),
      unit.writeRegisters(0, new Array(124).fill(0)), unit.writeRegisters(0, []), unit.writeRegisters(0, [1, '2' as never]),
      unit.writeRegisters(0, 7 as never), unit.writeCoils(0, [true, 0 as never]),
      unit.writeRegister(0, 1, { priority: 'urgent' as never }), unit.readCoils(0, 1, { timeoutMs: 0 }),
    ];
    const errors = await Promise.all(refused.map((p) => p.then(() => undefined, (e: unknown) => e)));
    for (const e of errors) assert.ok(e instanceof ModbusRequestError, String(e));
    const label = `tcp://127.0.0.1:${server.port} unit 1`;
    assert.equal((errors[2] as Error).message, `${label}: read holding registers: the address must be a whole number from 0 to 65535, got "5" (string)`);
    assert.equal((errors[3] as Error).message, `${label}: read holding registers at 0: the count must be a whole number from 1 to 125, got 126 (number)`);
    assert.equal((errors[6] as Error).message, `${label}: read holding registers at 65535: 2 items from 65535 run past the last address 65535, got 2 (number)`);
    assert.equal((errors[7] as Error).message, `${label}: write register at 0: a register value must be a whole number from 0 to 65535, got 65536 (number)`);
    assert.equal((errors[14] as Error).message, `${label}: write registers at 0: the values must be an array, got 7 (number)`);
    assert.equal((errors[16] as Error).message, `${label}: write register at 0: the priority must be 'stop' or 'normal', got "urgent" (string)`);
    assert.equal((errors[17] as Error).message, `${label}: read coils at 0: the timeout must be a number of ms from 1 to 3600000, got 0 (number)`);
    // One good request after them: it is the first the server sees.
    assert.deepEqual(await unit.readHoldingRegisters(10, 2), [10, 11]);
    assert.equal(server.requests.length, 1);
  });

  it('never lets a late reply settle another request: its transaction id stays retired until the reply comes', async () => {
    let first = true;
    const late: (() => void)[] = [];
    server.answer = (request) => {
      if (first) {
        first = false;
        // Held back until after the request timed out, then sent with the values of the late request.
        late.push(() => { for (const socket of server.sockets) socket.write(mbap(request.tid, request.unit, answerPdu(request, 1000))); });
        return null;
      }
      return echoRegisters(request);
    };
    await connect({ maxInFlight: 1 });
    const discarded: string[] = [];
    bus.on('discarded', (why) => discarded.push(why));
    const timedOut = await rejection(bus.unit(1).readHoldingRegisters(0, 2, { timeoutMs: 50 }));
    assert.ok(timedOut instanceof ModbusTimeoutError);
    const next = bus.unit(1).readHoldingRegisters(0, 2);
    // The next request is out under another transaction id; the late reply comes now.
    await new Promise((resolve) => setImmediate(resolve));
    late[0]();
    assert.deepEqual(await next, [0, 1]);
    assert.notEqual(server.requests[0].tid, server.requests[1].tid);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(discarded, [`a late reply (transaction ${server.requests[0].tid}, unit 1) to a request that had timed out`]);
  });

  it('sends stop requests ahead of a full normal queue (order on the wire)', async () => {
    await connect({ maxInFlight: 1 });
    server.pause();
    const normal = [0, 1, 2, 3, 4, 5].map((i) => bus.unit(1 + (i % 3)).readHoldingRegisters(i, 1));
    await new Promise((resolve) => setImmediate(resolve));
    const stops = [bus.unit(2).writeRegister(500, 0, { priority: 'stop' }), bus.unit(3).writeCoil(7, false, { priority: 'stop' })];
    await new Promise((resolve) => setImmediate(resolve));
    server.resume();
    await Promise.all([...normal, ...stops]);
    // The first normal request was already out; both stops go next, in their order, even above maxInFlight.
    assert.deepEqual(server.requests.map((r) => `${r.unit}:${r.fc}:${r.address}`), [
      '1:3:0', '2:6:500', '3:5:7', '2:3:1', '3:3:2', '1:3:3', '2:3:4', '3:3:5',
    ]);
  });

  it('drops a request aborted while it waits, never sending it; one already sent runs to its reply', async () => {
    await connect({ maxInFlight: 1 });
    server.pause();
    const first = new AbortController();
    const second = new AbortController();
    const sent = bus.unit(1).readHoldingRegisters(0, 1, { signal: first.signal });
    const waiting = bus.unit(1).readHoldingRegisters(1, 1, { signal: second.signal });
    await new Promise((resolve) => setImmediate(resolve));
    first.abort(new Error('cancelled by the run'));
    const reason = { why: 'not an Error' };
    second.abort(reason);
    // Its signal's reason as it is.
    assert.equal(await waiting.then(() => undefined, (r: unknown) => r), reason);
    server.resume();
    assert.deepEqual(await sent, [0]);
    assert.deepEqual(await bus.unit(1).readHoldingRegisters(2, 1), [2]);
    assert.deepEqual(server.requests.map((r) => r.address), [0, 2]);
  });

  it('writes the requests made in one turn of the event loop in one write', async () => {
    await connect();
    const all = [1, 2, 3, 4, 5].map((unit) => bus.unit(unit).readHoldingRegisters(unit, 1));
    assert.deepEqual(await Promise.all(all), [[1], [2], [3], [4], [5]]);
    assert.deepEqual(server.chunks, [5]);
  });

  it('takes tcp://host as port 502, and refuses options out of range with a sentence naming them', () => {
    assert.equal(new ModbusBus('tcp://127.0.0.1').label, 'tcp://127.0.0.1:502');
    assert.equal(new ModbusBus(' tcp://plc.local/ ').label, 'tcp://plc.local:502');
    assert.throws(() => new ModbusBus('tcp://127.0.0.1', { maxInFlight: 65 }), { name: 'RangeError', message: 'Modbus bus: maxInFlight must be a whole number from 1 to 64, got 65' });
    assert.throws(() => new ModbusBus('tcp://127.0.0.1', { maxInFlight: 8, maxInFlightPerUnit: 9 }), { message: 'Modbus bus: maxInFlightPerUnit must be a whole number from 1 to 8, got 9' });
    assert.throws(() => new ModbusBus('tcp://127.0.0.1', { timeoutMs: 0 }), { message: 'Modbus bus: timeoutMs must be a number from 1 to 3600000, got 0' });
    assert.throws(() => new ModbusBus('modbus://127.0.0.1'), { name: 'EndpointError' });
    assert.throws(() => new ModbusBus('tcp://127.0.0.1', { reconnect: { minMs: 10, maxMs: 5 } }), { message: 'reconnect backoff: maximum delay 5 ms is below the minimum 10 ms' });
  });

  it('takes units in turn (round robin), not in call order', async () => {
    await connect({ maxInFlight: 1 });
    server.pause();
    const all = [
      ...[0, 1, 2].map((i) => bus.unit(1).readHoldingRegisters(i, 1)),
      ...[0, 1, 2].map((i) => bus.unit(2).readHoldingRegisters(i, 1)),
      ...[0, 1].map((i) => bus.unit(3).readHoldingRegisters(i, 1)),
    ];
    await new Promise((resolve) => setImmediate(resolve));
    server.resume();
    await Promise.all(all);
    assert.deepEqual(server.requests.map((r) => `${r.unit}:${r.address}`), ['1:0', '2:0', '3:0', '1:1', '2:1', '3:1', '1:2', '2:2']);
  });

  it('rejects replies that do not answer the request, with sentences, and goes on', async () => {
    const replies: Record<number, Buffer> = {
      0: Buffer.from([4, 2, 0, 1]), // function 4 for a read of holding registers
      1: Buffer.from([3, 4, 0, 1]), // byte count 4 with 2 bytes of data
      2: Buffer.from([3, 2, 0, 1]), // byte count 2 where 2 registers take 4
    };
    server.answer = (request) => {
      if (request.fc === 3 && request.address in replies) return { pdu: replies[request.address] };
      if (request.fc === 6) return { pdu: Buffer.from([6, 0, 9, 0, 1]) }; // echoes another address
      if (request.fc === 16) return { pdu: Buffer.from([16, 0, 40, 0, 3]) }; // echoes another count
      if (request.address === 77) return { pdu: Buffer.from([3, 2, 0, 1]), unit: 5 }; // from another unit
      return echoRegisters(request);
    };
    await connect();
    const label = `tcp://127.0.0.1:${server.port} unit 1`;
    const unit = bus.unit(1);
    const messages = await Promise.all([
      unit.readHoldingRegisters(0, 2), unit.readHoldingRegisters(1, 2), unit.readHoldingRegisters(2, 2),
      unit.writeRegister(8, 1), unit.writeRegisters(40, [1, 2]), unit.readHoldingRegisters(77, 1),
    ].map((p) => p.then(() => 'resolved', (e: Error) => (e instanceof ModbusReplyError ? e.message : `other: ${e.message}`))));
    assert.deepEqual(messages, [
      `${label}: read 2 holding registers from 0: bad reply: it answers function 4 (04), not 3`,
      `${label}: read 2 holding registers from 1: bad reply: 2 data bytes where its byte count says 4`,
      `${label}: read 2 holding registers from 2: bad reply: byte count 2 where 2 registers take 4`,
      `${label}: write register 8 = 1: bad reply: it echoes address 9, not 8`,
      `${label}: write 2 registers from 40 = [1,2]: bad reply: it echoes count 3, not 2`,
      `${label}: read 1 holding register from 77: bad reply: it comes from unit 5`,
    ]);
    assert.deepEqual(await unit.readHoldingRegisters(5, 1), [5]);
    assert.deepEqual(bus.counters, { replies: 7, badReplies: 6, timeouts: 0, discarded: 0 });
  });

  it('parses replies split across TCP segments and several replies in one segment', async () => {
    const pending: Buffer[] = [];
    server.answer = (request) => {
      pending.push(mbap(request.tid, request.unit, answerPdu(request)));
      if (pending.length < 3) return null;
      const all = Buffer.concat(pending.splice(0));
      // Three replies sent as: 5 bytes, then the rest byte by byte in two writes.
      for (const socket of server.sockets) {
        socket.write(all.subarray(0, 5));
        socket.write(all.subarray(5, 20));
        setImmediate(() => socket.write(all.subarray(20)));
      }
      return null;
    };
    await connect();
    assert.deepEqual(await Promise.all([10, 20, 30].map((a) => bus.unit(2).readHoldingRegisters(a, 2))), [[10, 11], [20, 21], [30, 31]]);
  });

  it('ends the session on a byte stream that is not Modbus TCP, fails what was out, and reconnects', async () => {
    let garbage = true;
    server.answer = (request) => {
      if (garbage) {
        garbage = false;
        return { raw: Buffer.from([0, 1, 0, 7, 0, 3, 1, 3, 0]) }; // protocol id 7
      }
      return echoRegisters(request);
    };
    await connect();
    const events: string[] = [];
    bus.on('down', (reason) => events.push(`down: ${reason}`));
    bus.on('up', () => events.push('up'));
    const lost = await rejection(bus.unit(1).readHoldingRegisters(0, 1));
    assert.ok(lost instanceof ConnectionLostError);
    assert.match(lost.message, /unit 1: connection lost before the reply to "read 1 holding register from 0" arrived \(a reply that is not Modbus TCP \(protocol id 7, length 3\)\)$/);
    await statusReached(bus, 'connected');
    assert.deepEqual(await bus.unit(1).readHoldingRegisters(3, 1), [3]);
    assert.deepEqual(events, ['down: a reply that is not Modbus TCP (protocol id 7, length 3)', 'up']);
  });

  it('follows the server going away and coming back: down, requests refused, reconnect, up', async () => {
    await connect();
    const events: string[] = [];
    bus.on('down', () => events.push('down'));
    bus.on('up', () => events.push('up'));
    server.pause();
    const inFlight = bus.unit(1).readHoldingRegisters(0, 1).catch((e: Error) => e);
    await new Promise((resolve) => setImmediate(resolve));
    const port = server.port;
    await server.close();
    const lost = await inFlight;
    assert.ok(lost instanceof ConnectionLostError, String(lost));
    assert.notEqual(bus.status, 'connected');
    const refused = await rejection(bus.unit(1).readHoldingRegisters(0, 1));
    assert.ok(refused instanceof NotConnectedError);
    assert.match(refused.message, /^tcp:\/\/127\.0\.0\.1:\d+ unit 1: cannot send "read holding registers at 0": not connected \((reconnecting|connecting)\)$/);
    server = new RawModbusServer();
    await server.listen(port);
    await statusReached(bus, 'connected');
    assert.deepEqual(await bus.unit(1).readHoldingRegisters(4, 1), [4]);
    assert.deepEqual(events, ['down', 'up']);
  });

  it('opens on the first acquire and closes on the last release', async () => {
    bus = new ModbusBus(`tcp://127.0.0.1:${server.port}`, fast);
    assert.equal(bus.status, 'idle');
    const a = bus.acquire();
    const b = bus.acquire();
    await statusReached(bus, 'connected');
    await a();
    await a();
    assert.equal(bus.status, 'connected');
    server.pause();
    const out = rejection(bus.unit(1).readHoldingRegisters(0, 1));
    await new Promise((resolve) => setImmediate(resolve));
    await b();
    assert.equal(bus.status, 'idle');
    const dropped = await out;
    assert.ok(dropped instanceof ConnectionClosedError, dropped.message);
    assert.equal(dropped.message, `tcp://127.0.0.1:${server.port} unit 1: connection closed: "read 1 holding register from 0" was dropped`);
    server.resume();
    const refused = await rejection(bus.unit(1).readCoils(0, 1));
    assert.ok(refused instanceof NotConnectedError);
    release = bus.acquire();
    await statusReached(bus, 'connected');
    assert.deepEqual(await bus.unit(1).readHoldingRegisters(1, 1), [1]);
    // Closed for good (a redeploy): nothing acquires it again.
    await bus.close();
    assert.equal(bus.status, 'closed');
    assert.throws(() => bus.acquire(), { name: 'ConnectionClosedError', message: `tcp://127.0.0.1:${server.port}: connection closed` });
    assert.ok((await rejection(bus.unit(1).readCoils(0, 1))) instanceof ConnectionClosedError);
  });
});
