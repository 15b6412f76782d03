import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { crc16 } from '../../lib/io/modbus/crc16';
import { openSerialEndpoint } from '../../lib/io/serve-on-serial';
import { ModbusServer, rtuSilenceMs } from '../../lib/simulators/modbus/server';
import { RegisterBank } from '../../lib/simulators/modbus/register-bank';
import { openPtyPair, type PtyPair } from '../support/pty-pair';
import { firstOf, timePassed } from '../support/event-order';

/** modbus-serial's error for an exception reply carries the code. */
async function exceptionCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    const code = (err as { modbusCode?: number }).modbusCode;
    assert.ok(code !== undefined, `expected an exception reply, got ${String(err)}`);
    return code;
  }
  assert.fail('expected an exception reply, got an answer');
}

/** modbus-serial's timeout (a plain object, `errno: 'ETIMEDOUT'`). */
const timedOut = (err: { errno?: string }) => err.errno === 'ETIMEDOUT';

/** A raw MBAP request frame. */
function mbap(txn: number, unit: number, pdu: number[]): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(txn, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b[6] = unit;
  Buffer.from(pdu).copy(b, 7);
  return b;
}

/** A raw RTU request frame with its CRC. */
function rtu(bytes: number[]): Buffer {
  const b = Buffer.alloc(bytes.length + 2);
  Buffer.from(bytes).copy(b);
  const crc = crc16(b, 0, bytes.length);
  b[bytes.length] = crc & 0xff;
  b[bytes.length + 1] = crc >> 8;
  return b;
}

/** Collects what a stream receives; `next(n)` resolves once `n` more bytes are in. */
function collector(stream: NodeJS.ReadableStream) {
  let got = Buffer.alloc(0);
  let want: { n: number; resolve: (b: Buffer) => void } | undefined;
  stream.on('data', (chunk: Buffer) => {
    got = Buffer.concat([got, chunk]);
    if (want && got.length >= want.n) {
      const w = want;
      want = undefined;
      const out = got.subarray(0, w.n);
      got = got.subarray(w.n);
      w.resolve(out);
    }
  });
  return {
    next(n: number): Promise<Buffer> {
      if (got.length >= n) {
        const out = got.subarray(0, n);
        got = got.subarray(n);
        return Promise.resolve(out);
      }
      return new Promise((resolve) => (want = { n, resolve }));
    },
    get pending() {
      return got.length;
    },
  };
}

describe('Modbus simulator server over TCP (modbus-serial as the client)', () => {
  const one = new RegisterBank({ coils: 16, discreteInputs: 8, holdingRegisters: 10, inputRegisters: 4 });
  const two = new RegisterBank({ holdingRegisters: 4 });
  const server = new ModbusServer([[1, one], [2, two]]);
  let port = 0;
  const clients: ModbusRTU[] = [];

  async function client(unit: number): Promise<ModbusRTU> {
    const c = new ModbusRTU();
    await c.connectTCP('127.0.0.1', { port });
    c.setID(unit);
    c.setTimeout(300);
    clients.push(c);
    return c;
  }

  before(async () => {
    port = (await server.listenTcp({ host: '127.0.0.1', port: 0 })).port;
  });
  after(async () => {
    for (const c of clients) c.close(() => undefined);
    await server.close();
  });

  it('serves every standard function of a unit: reads, single and multiple writes', async () => {
    const c = await client(1);
    one.inputRegisters[2] = 0xbeef;
    one.discreteInputs[5] = true;
    await c.writeRegister(3, 1234);
    await c.writeRegisters(5, [1, 2, 65535]);
    await c.writeCoil(9, true);
    await c.writeCoils(0, [true, false, true]);
    assert.deepEqual((await c.readHoldingRegisters(3, 5)).data, [1234, 0, 1, 2, 65535]);
    assert.deepEqual((await c.readInputRegisters(2, 1)).data, [0xbeef]);
    assert.deepEqual((await c.readCoils(0, 10)).data.slice(0, 10), [true, false, true, false, false, false, false, false, false, true]);
    assert.deepEqual((await c.readDiscreteInputs(0, 8)).data, [false, false, false, false, false, true, false, false]);
    assert.equal(one.writes, 4);
  });

  it('answers an unmapped address with exception 02 and a unit without a table with 02 too', async () => {
    const c = await client(1);
    assert.equal(await exceptionCode(c.readHoldingRegisters(8, 3)), 2);
    assert.equal(await exceptionCode(c.writeRegister(10, 1)), 2);
    const c2 = await client(2);
    assert.equal(await exceptionCode(c2.readCoils(0, 1)), 2);
  });

  it('serves several connections at once, each its own unit', async () => {
    const [a, b] = await Promise.all([client(1), client(2)]);
    await Promise.all([a.writeRegister(0, 11), b.writeRegister(0, 22)]);
    const [ra, rb] = await Promise.all([a.readHoldingRegisters(0, 1), b.readHoldingRegisters(0, 1)]);
    assert.deepEqual([ra.data[0], rb.data[0]], [11, 22]);
    assert.ok(server.tcpClientCount >= 2);
  });

  it('answers a unit it does not have with exception 0B (gateway target failed to respond)', async () => {
    const c = await client(9);
    assert.equal(await exceptionCode(c.readHoldingRegisters(0, 1)), 0x0b);
  });

  it('a silenced unit answers nothing while the others on the server still answer; unsilenced it answers again', async () => {
    const [a, b] = await Promise.all([client(1), client(2)]);
    server.silence(2, true);
    try {
      const silent = b.readHoldingRegisters(0, 1);
      const other = a.readHoldingRegisters(0, 1);
      assert.equal(await firstOf({ other, silent }), 'other');
      await assert.rejects(silent, timedOut);
    } finally {
      server.silence(2, false);
    }
    assert.equal((await b.readHoldingRegisters(0, 1)).data.length, 1);
  });

  it('answers exception 04 on demand, then serves again', async () => {
    const c = await client(1);
    server.failWith(1, 4);
    assert.equal(await exceptionCode(c.readHoldingRegisters(0, 1)), 4);
    assert.equal(await exceptionCode(c.writeRegister(0, 1)), 4);
    server.failWith(1, null);
    assert.equal((await c.readHoldingRegisters(0, 1)).data.length, 1);
  });

  it('refuses bad quantities with 03 and unknown functions with 01, on raw frames; coalesced and split frames are each answered', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const got = collector(socket);
    // Two requests in one packet: a read of 126 registers (over 125: 03) and function 0x2B (01).
    socket.write(Buffer.concat([mbap(7, 1, [3, 0, 0, 0, 126]), mbap(8, 1, [0x2b, 0x0e, 1, 0])]));
    assert.deepEqual([...(await got.next(9))], [0, 7, 0, 0, 0, 3, 1, 0x83, 3]);
    assert.deepEqual([...(await got.next(9))], [0, 8, 0, 0, 0, 3, 1, 0xab, 1]);
    // One request split across two packets.
    const frame = mbap(9, 1, [3, 0, 3, 0, 1]);
    socket.write(frame.subarray(0, 4));
    await timePassed(5);
    socket.write(frame.subarray(4));
    assert.deepEqual([...(await got.next(11))], [0, 9, 0, 0, 0, 5, 1, 3, 2, 0x04, 0xd2]);
    socket.destroy();
  });

  it('ignores a frame whose protocol id is not 0, and closes a connection whose length field is outside 2–254', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const got = collector(socket);
    const foreign = mbap(1, 1, [3, 0, 3, 0, 1]);
    foreign.writeUInt16BE(1, 2);
    socket.write(Buffer.concat([foreign, mbap(2, 1, [3, 0, 3, 0, 1])]));
    // The only answer is the second frame's.
    assert.equal((await got.next(11)).readUInt16BE(0), 2);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const broken = mbap(3, 1, [3, 0, 3, 0, 1]);
    broken.writeUInt16BE(300, 4);
    socket.write(broken);
    await closed;
    assert.equal(got.pending, 0);
  });
});

describe('Modbus simulator server over RTU on a pseudo-terminal (modbus-serial as the client)', () => {
  const one = new RegisterBank({ coils: 8, holdingRegisters: 10 });
  const three = new RegisterBank({ holdingRegisters: 10 });
  const server = new ModbusServer({ 1: one, 3: three });
  let pty: PtyPair;
  let client: ModbusRTU;

  before(async () => {
    pty = await openPtyPair();
    await server.listenRtu(pty.a, { baudRate: 115200 });
    client = new ModbusRTU();
    await client.connectRTUBuffered(pty.b, { baudRate: 115200 });
    client.setTimeout(300);
  });
  after(async () => {
    await new Promise<void>((resolve) => client.close(() => resolve()));
    await server.close();
    await pty.close();
  });

  it('serves reads and writes of each unit on the line, by unit id', async () => {
    client.setID(1);
    await client.writeRegisters(0, [10, 20, 30]);
    await client.writeCoil(2, true);
    client.setID(3);
    await client.writeRegister(0, 99);
    assert.deepEqual((await client.readHoldingRegisters(0, 2)).data, [99, 0]);
    client.setID(1);
    assert.deepEqual((await client.readHoldingRegisters(0, 3)).data, [10, 20, 30]);
    assert.equal((await client.readCoils(0, 8)).data[2], true);
  });

  it('answers exceptions as the unit does (02 unmapped, 04 on demand)', async () => {
    client.setID(1);
    assert.equal(await exceptionCode(client.readHoldingRegisters(9, 2)), 2);
    server.failWith(1, 4);
    try {
      assert.equal(await exceptionCode(client.readHoldingRegisters(0, 1)), 4);
    } finally {
      server.failWith(1, null);
    }
  });

  it('does not answer a unit it does not have, nor a silenced one', async () => {
    client.setID(5);
    await assert.rejects(client.readHoldingRegisters(0, 1), timedOut);
    server.silence(3, true);
    client.setID(3);
    try {
      await assert.rejects(client.readHoldingRegisters(0, 1), timedOut);
    } finally {
      server.silence(3, false);
    }
    assert.deepEqual((await client.readHoldingRegisters(0, 1)).data, [99]);
  });
});

describe('Modbus simulator server RTU framing (raw bytes on a pseudo-terminal)', () => {
  const unit = new RegisterBank({ holdingRegisters: 10 });
  const server = new ModbusServer({ 4: unit });
  let pty: PtyPair;
  let port: Awaited<ReturnType<typeof openSerialEndpoint>>;
  let got: ReturnType<typeof collector>;

  before(async () => {
    pty = await openPtyPair();
    await server.listenRtu(pty.a, { baudRate: 9600 });
    port = await openSerialEndpoint(pty.b, 9600);
    got = collector(port);
  });
  after(async () => {
    await new Promise<void>((resolve) => port.close(() => resolve()));
    await server.close();
    await pty.close();
  });

  it('ignores a request with a bad CRC, then answers the next one after a silence', async () => {
    unit.holdingRegisters[1] = 0x1234;
    const bad = rtu([4, 3, 0, 1, 0, 1]);
    bad[6] ^= 0xff;
    const discarded = once(server, 'discarded');
    port.write(bad);
    assert.deepEqual(await discarded, ['a frame with a bad CRC and what followed it']);
    assert.equal(got.pending, 0);
    port.write(rtu([4, 3, 0, 1, 0, 1]));
    assert.deepEqual([...(await got.next(7))], [...rtu([4, 3, 2, 0x12, 0x34])]);
  });

  it('drops a frame the silence cut short; the next whole frame is answered', async () => {
    const frame = rtu([4, 3, 0, 1, 0, 1]);
    const discarded = once(server, 'discarded');
    port.write(frame.subarray(0, 5));
    assert.deepEqual(await discarded, ['an incomplete frame of 5 bytes']);
    assert.equal(got.pending, 0, 'nothing answered the cut-short frame');
    port.write(frame);
    assert.deepEqual([...(await got.next(7))], [...rtu([4, 3, 2, 0x12, 0x34])]);
  });

  it('the silence that ends a frame is t3.5: 3.5 characters of 11 bits, 1.75 ms above 19200 baud', () => {
    assert.equal(rtuSilenceMs(9600), (3.5 * 11 * 1000) / 9600);
    assert.equal(rtuSilenceMs(19200), (3.5 * 11 * 1000) / 19200);
    assert.equal(rtuSilenceMs(115200), 1.75);
  });

  it('a broadcast (unit 0) write is done and not answered', async () => {
    port.write(rtu([0, 6, 0, 2, 0, 7]));
    port.write(rtu([4, 3, 0, 2, 0, 1]));
    // The only reply is the read's, and it shows the broadcast's write.
    assert.deepEqual([...(await got.next(7))], [...rtu([4, 3, 2, 0, 7])]);
  });

  it('answers a function it does not know with 01 once the frame ends in silence', async () => {
    port.write(rtu([4, 0x11]));
    assert.deepEqual([...(await got.next(5))], [...rtu([4, 0x91, 1])]);
  });
});
