import assert from 'node:assert/strict';
import type { SerialPort } from 'serialport';
import {
  ConnectionLostError, ModbusBus, ModbusExceptionError, ModbusReplyError, ModbusTimeoutError, ModbusUnitIdError, crc16, openSerialEndpoint, type ConnectionStatus,
} from '../../lib/io';
import { MemoryUnits, rejection, startServerSerial } from '../support/modbus-servers';
import { openPtyPair, type PtyPair } from '../support/pty-pair';

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

/** An RTU frame: unit, PDU, CRC low byte first. */
function rtu(unit: number, pdu: number[]): Buffer {
  const frame = Buffer.from([unit, ...pdu, 0, 0]);
  const crc = crc16(frame, 0, frame.length - 2);
  frame.writeUInt16LE(crc, frame.length - 2);
  return frame;
}

describe('ModbusBus on Modbus RTU over a pseudo-terminal, against modbus-serial ServerSerial', () => {
  const units = new MemoryUnits();
  let pty: PtyPair;
  let server: { close(): Promise<void> };
  let bus: ModbusBus;
  let release: () => Promise<void>;

  before(async () => {
    pty = await openPtyPair();
    server = await startServerSerial(units, pty.b);
    bus = new ModbusBus(pty.a, { serial: { baudRate: 38400 }, timeoutMs: 500, reconnect: { minMs: 20, maxMs: 50 } });
    release = bus.acquire();
    await statusReached(bus, 'connected');
  });

  after(async () => {
    await release();
    await server.close();
    await pty.close();
  });

  it('reads and writes with every function code, one transaction at a time', async () => {
    const data = units.unit(7);
    data.discreteInputs[1] = true;
    data.input[4] = 4321;
    const unit = bus.unit(7);
    // Issued together: the bus serializes them on the line.
    await Promise.all([
      unit.writeRegister(26, 1200), unit.writeRegisters(30, [5, 6]), unit.writeCoil(3, true), unit.writeCoils(10, [true, false, true]),
    ]);
    assert.equal(data.holding[26], 1200);
    assert.deepEqual(data.holding.slice(30, 32), [5, 6]);
    assert.deepEqual(data.coils.slice(10, 13), [true, false, true]);
    const [holding, coils, inputs, registers] = await Promise.all([
      unit.readHoldingRegisters(30, 2), unit.readCoils(3, 1), unit.readDiscreteInputs(0, 3), unit.readInputRegisters(4, 1),
    ]);
    assert.deepEqual(holding, [5, 6]);
    assert.deepEqual(coils, [true]);
    assert.deepEqual(inputs, [false, true, false]);
    assert.deepEqual(registers, [4321]);
  });

  it('turns an exception reply into a sentence', async () => {
    const error = await rejection(bus.unit(7).writeRegister(1200, 1));
    assert.ok(error instanceof ModbusExceptionError);
    assert.equal(error.message, `${pty.a} unit 7: write register 1200 = 1: exception 02, illegal data address (the unit has no such register)`);
  });

  it('refuses unit 255 on RTU (it is allowed on TCP only)', () => {
    assert.throws(() => bus.unit(255), (e: Error) => e instanceof ModbusUnitIdError && e.message === `${pty.a}: unit id must be a whole number from 1 to 247, got 255 (number)`);
  });

  it('serves the other units once a silent unit\'s request on the line has timed out (one transaction at a time)', async () => {
    units.silent.add(9);
    try {
      const order: string[] = [];
      const silent = bus.unit(9).readHoldingRegisters(0, 1, { timeoutMs: 400 }).then(() => order.push('9 answered'), () => order.push('9 timed out'));
      await new Promise((resolve) => setImmediate(resolve));
      // Unit 9's request is on the line; the others wait for its timeout, then go in turn.
      const others = [1, 2].map((id) => bus.unit(id).readHoldingRegisters(0, 1).then(() => order.push(`${id}`)));
      await Promise.all([silent, ...others]);
      assert.deepEqual(order, ['9 timed out', '1', '2']);
    } finally {
      units.silent.delete(9);
    }
  });
});

describe('ModbusBus on Modbus RTU, against a device that misbehaves', () => {
  let pty: PtyPair;
  let device: SerialPort;
  let bus: ModbusBus;
  let release: () => Promise<void>;
  /** What the device does with each request it receives (the whole frame). */
  let answer: (request: Buffer) => void;

  before(async () => {
    pty = await openPtyPair();
    device = await openSerialEndpoint(pty.b, 38400);
    let buffered = Buffer.alloc(0);
    device.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Every request here is 8 bytes (reads and single writes).
      while (buffered.length >= 8) {
        const frame = buffered.subarray(0, 8);
        buffered = buffered.subarray(8);
        answer(frame);
      }
    });
    bus = new ModbusBus(pty.a, { serial: { baudRate: 38400 }, timeoutMs: 300, recoveryMs: 30, reconnect: { minMs: 20, maxMs: 50 } });
    release = bus.acquire();
    await statusReached(bus, 'connected');
  });

  after(async () => {
    await release();
    await new Promise((resolve) => device.close(resolve));
    await pty.close();
  });

  it('rejects a reply with a bad CRC with a sentence, and answers the next request', async () => {
    answer = (request) => {
      const reply = rtu(request[0], [3, 2, 0, request[3]]);
      if (request[3] === 1) reply[reply.length - 1] ^= 0xff;
      device.write(reply);
    };
    const before = { ...bus.counters };
    const bad = await rejection(bus.unit(4).readHoldingRegisters(1, 1));
    assert.equal(bus.counters.discarded - before.discarded, 1);
    assert.equal(bus.counters.badReplies - before.badReplies, 1);
    assert.ok(bad instanceof ModbusReplyError);
    assert.equal(bad.message, `${pty.a} unit 4: read 1 holding register from 1: bad reply: its CRC is wrong (a corrupted frame)`);
    assert.deepEqual(await bus.unit(4).readHoldingRegisters(2, 1), [2]);
  });

  it('discards a frame from another unit and takes the right one', async () => {
    const discarded: string[] = [];
    const onDiscarded = (why: string) => discarded.push(why);
    bus.on('discarded', onDiscarded);
    answer = (request) => device.write(Buffer.concat([rtu(request[0] + 1, [3, 2, 0, 99]), rtu(request[0], [3, 2, 0, request[3]])]));
    assert.deepEqual(await bus.unit(4).readHoldingRegisters(5, 1), [5]);
    bus.off('discarded', onDiscarded);
    assert.deepEqual(discarded, ['a frame from unit 5 while unit 4 was asked']);
  });

  it('rejects a reply of the wrong function or length', async () => {
    answer = (request) => device.write(request[3] === 1 ? rtu(request[0], [4, 2, 0, 1]) : rtu(request[0], [3, 4, 0, 1, 0, 2]));
    const wrongFunction = await rejection(bus.unit(4).readHoldingRegisters(1, 1));
    assert.equal(wrongFunction.message, `${pty.a} unit 4: read 1 holding register from 1: bad reply: it answers function 4 (04), not 3`);
    const wrongLength = await rejection(bus.unit(4).readHoldingRegisters(2, 1));
    assert.equal(wrongLength.message, `${pty.a} unit 4: read 1 holding register from 2: bad reply: byte count 4 where 1 register takes 2`);
  });

  it('sends a stop request next, ahead of the normal requests waiting for the line', async () => {
    const received: string[] = [];
    let release!: () => void;
    const firstOnLine = new Promise<void>((resolve) => {
      answer = (request) => {
        received.push(`${request[0]}:${request[1]}:${request.readUInt16BE(2)}`);
        // FC 3 gets registers, FC 6 its echo; the first reply is held until the stop is queued.
        const reply = request[1] === 6 ? rtu(request[0], [...request.subarray(1, 6)]) : rtu(request[0], [3, 2, 0, request[3]]);
        if (received.length === 1) {
          release = () => device.write(reply);
          resolve();
        } else {
          device.write(reply);
        }
      };
    });
    const normal = [1, 2, 3].map((unit) => bus.unit(unit).readHoldingRegisters(unit, 1));
    await firstOnLine;
    const stop = bus.unit(3).writeRegister(500, 0, { priority: 'stop' });
    release();
    await Promise.all([...normal, stop]);
    assert.deepEqual(received, ['1:3:1', '3:6:500', '2:3:2', '3:3:3']);
  });

  it('makes a stop wait for the request on the line (its timeout, when its unit is silent), then sends it before the others', async () => {
    const received: string[] = [];
    const silentOnLine = new Promise<void>((resolve) => {
      answer = (request) => {
        received.push(`${request[0]}:${request[1]}`);
        if (request[0] === 9) return resolve(); // unit 9 never answers
        device.write(request[1] === 6 ? rtu(request[0], [...request.subarray(1, 6)]) : rtu(request[0], [3, 2, 0, request[3]]));
      };
    });
    const order: string[] = [];
    const silent = bus.unit(9).readHoldingRegisters(0, 1, { timeoutMs: 60 }).catch(() => order.push('unit 9 timed out'));
    const normal = bus.unit(1).readHoldingRegisters(1, 1).then(() => order.push('unit 1 read'));
    await silentOnLine;
    const stop = bus.unit(2).writeRegister(500, 0, { priority: 'stop' }).then(() => order.push('unit 2 stopped'));
    await Promise.all([silent, normal, stop]);
    assert.deepEqual(received, ['9:3', '2:6', '1:3']);
    assert.deepEqual(order, ['unit 9 timed out', 'unit 2 stopped', 'unit 1 read']);
    assert.deepEqual(received, ['9:3', '2:6', '1:3']);
  });

  it('leaves the line silent for 3.5 characters between a reply and the next request', async () => {
    // 38400 baud, 8N1: 3.5 characters of 10 bits are 0.911 ms.
    const arrived: bigint[] = [];
    const replied: bigint[] = [];
    answer = (request) => {
      arrived.push(process.hrtime.bigint());
      device.write(rtu(request[0], [3, 2, 0, request[3]]));
      replied.push(process.hrtime.bigint());
    };
    await Promise.all([bus.unit(4).readHoldingRegisters(1, 1), bus.unit(5).readHoldingRegisters(2, 1), bus.unit(6).readHoldingRegisters(3, 1)]);
    for (let i = 1; i < arrived.length; i++) assert.ok(Number(arrived[i] - replied[i - 1]) / 1e6 >= 0.91, `request ${i + 1} came ${Number(arrived[i] - replied[i - 1]) / 1e6} ms after reply ${i}`);
    assert.equal(arrived.length, 3);
  });

  it('never takes a late reply after a timeout for the next request: the line must fall silent first', async () => {
    const received: number[] = [];
    answer = (request) => {
      received.push(request[3]);
      // The first request gets no reply in time; the others are answered at once.
      if (received.length > 1) device.write(rtu(request[0], [3, 2, 0, request[3]]));
    };
    const discarded: string[] = [];
    const onDiscarded = (why: string) => discarded.push(why);
    bus.on('discarded', onDiscarded);
    const timedOut = await rejection(bus.unit(4).readHoldingRegisters(1, 1, { timeoutMs: 40 }));
    assert.ok(timedOut instanceof ModbusTimeoutError);
    // Its reply comes now, late, with another value, and the next request is made at the same time.
    device.write(rtu(4, [3, 2, 0, 77]));
    const next = await bus.unit(4).readHoldingRegisters(3, 1);
    bus.off('discarded', onDiscarded);
    assert.deepEqual(next, [3]);
    assert.deepEqual(received, [1, 3]);
    // However the pty cut them up, the 7 bytes of the late reply were all thrown away.
    assert.equal(discarded.reduce((sum, why) => sum + Number(/^(\d+) bytes? with no request out$/.exec(why)![1]), 0), 7);
  });
});

describe('ModbusBus on Modbus RTU: the adapter unplugged and plugged back in', () => {
  it('fails the request on the line, reads down, reconnects and serves again (up)', async () => {
    const units = new MemoryUnits();
    units.unit(2).holding[0] = 77;
    let pty = await openPtyPair();
    const dir = pty.a.slice(0, pty.a.lastIndexOf('/'));
    let server = await startServerSerial(units, pty.b);
    const bus = new ModbusBus(pty.a, { serial: { baudRate: 38400 }, timeoutMs: 2000, reconnect: { minMs: 20, maxMs: 50 } });
    const events: string[] = [];
    bus.on('down', () => events.push('down'));
    bus.on('up', () => events.push('up'));
    const release = bus.acquire();
    try {
      await statusReached(bus, 'connected');
      assert.deepEqual(await bus.unit(2).readHoldingRegisters(0, 1), [77]);
      units.silent.add(2);
      const onTheLine = rejection(bus.unit(2).readHoldingRegisters(0, 1));
      await new Promise((resolve) => setImmediate(resolve));
      await server.close();
      await pty.close();
      const lost = await onTheLine;
      assert.ok(lost instanceof ConnectionLostError, lost.message);
      units.silent.delete(2);
      pty = await openPtyPair(dir);
      server = await startServerSerial(units, pty.b);
      await statusReached(bus, 'connected');
      assert.deepEqual(await bus.unit(2).readHoldingRegisters(0, 1), [77]);
      assert.deepEqual(events, ['up', 'down', 'up']);
    } finally {
      await release();
      await server.close();
      await pty.close();
    }
  });
});
