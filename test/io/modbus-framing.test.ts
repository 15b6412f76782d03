import assert from 'node:assert/strict';
import { ModbusExceptionError, crc16, exceptionMeaning } from '../../lib/io';
import { FairQueue, UnitQueue } from '../../lib/io/modbus/fair-queue';
import { FunctionCode, ModbusRequest, type ReplyValue } from '../../lib/io/modbus/pdu';
import { TcpWire } from '../../lib/io/modbus/tcp-wire';
import type { WireHost } from '../../lib/io/modbus/modbus-wire';
import { mbap } from '../support/modbus-servers';

/** A request whose outcome is recorded in `outcomes`. */
function request(outcomes: unknown[], unit: number, address: number, fc = FunctionCode.ReadHoldingRegisters, count = 1, value?: ModbusRequest['value']): ModbusRequest {
  return new ModbusRequest(`bus unit ${unit}`, unit, fc, address, count, value, false, 1000, (v: ReplyValue) => outcomes.push(v), (e: unknown) => outcomes.push(e));
}

describe('Modbus framing parts', () => {
  it('computes CRC-16/Modbus: the standard example, and 0 over a frame with its CRC', () => {
    const frame = Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x0a]);
    assert.equal(crc16(frame), 0xcdc5); // sent as C5 CD
    assert.equal(crc16(Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x0a, 0xc5, 0xcd])), 0);
  });

  it('names every standard exception code by its meaning', () => {
    const codes: Record<number, string> = {
      1: 'illegal function', 2: 'illegal data address', 3: 'illegal data value', 4: 'server device failure', 5: 'acknowledge',
      6: 'server device busy', 8: 'memory parity error', 10: 'gateway path unavailable', 11: 'gateway target failed to respond',
    };
    for (const [code, meaning] of Object.entries(codes)) assert.ok(exceptionMeaning(Number(code)).startsWith(meaning), `${code}: ${exceptionMeaning(Number(code))}`);
    assert.equal(exceptionMeaning(0x42), 'an exception code the Modbus standard does not define');
    assert.equal(new ModbusExceptionError('bus unit 3', 'write register 26 = 1200', 0x0b).message, 'bus unit 3: write register 26 = 1200: exception 0B, gateway target failed to respond (the gateway got no answer from that unit)');
  });

  it('encodes FC 15 and 16 requests and unpacks coils low bit first', () => {
    const outcomes: unknown[] = [];
    const coils = request(outcomes, 1, 19, FunctionCode.WriteMultipleCoils, 10, [true, false, true, true, false, false, true, true, true, false]);
    const out = Buffer.alloc(coils.pduLength());
    coils.writePdu(out, 0);
    assert.deepEqual([...out], [15, 0, 19, 0, 10, 2, 0xcd, 0x01]);
    const registers = request(outcomes, 1, 1, FunctionCode.WriteMultipleRegisters, 2, [10, 258]);
    const out2 = Buffer.alloc(registers.pduLength());
    registers.writePdu(out2, 0);
    assert.deepEqual([...out2], [16, 0, 1, 0, 2, 4, 0, 10, 1, 2]);
    const read = request(outcomes, 1, 19, FunctionCode.ReadCoils, 10);
    assert.deepEqual(read.decodeReply(Buffer.from([1, 2, 0xcd, 0x01]), 0, 4), [true, false, true, true, false, false, true, true, true, false]);
  });

  it('keeps a timed-out transaction id retired until its late reply arrives, and reclaims none of the ids in flight', () => {
    const replied: string[] = [];
    const discarded: string[] = [];
    const host: WireHost = {
      replied: (r, result) => replied.push(`${r.address}: ${result instanceof Error ? result.message : JSON.stringify(result)}`),
      discarded: (why) => discarded.push(why),
      broken: (why) => assert.fail(why),
      ready: () => undefined,
    };
    const wire = new TcpWire(host, 4);
    const outcomes: unknown[] = [];
    const out = Buffer.alloc(64);
    const first = request(outcomes, 1, 100);
    wire.writeFrame(first, out, 0);
    wire.timedOut(first);
    assert.equal(wire.inFlight, 0);
    // 65535 more requests, each answered at once: none of them gets the retired id.
    const tids = new Set<number>();
    for (let i = 0; i < 65535; i++) {
      const r = request(outcomes, 1, i % 100);
      wire.writeFrame(r, out, 0);
      tids.add(r.tid);
      wire.receive(mbap(r.tid, 1, Buffer.from([3, 2, 0, 7])));
    }
    assert.equal(tids.has(first.tid), false);
    assert.equal(tids.size, 65535);
    // The late reply comes: absorbed, and the id is free again.
    wire.receive(mbap(first.tid, 1, Buffer.from([3, 2, 0, 9])));
    assert.deepEqual(discarded, [`a late reply (transaction ${first.tid}, unit 1) to a request that had timed out`]);
    assert.equal(replied.length, 65535);
    assert.ok(replied.every((line) => line.endsWith(': [7]')));
    const again = request(outcomes, 1, 5);
    wire.writeFrame(again, out, 0);
    assert.equal(again.tid, first.tid);
  });

  it('takes the stop lane first, then units in turn, skipping a unit at its in-flight bound and requests aborted while queued', () => {
    const outcomes: unknown[] = [];
    const queue = new FairQueue();
    const units = [new UnitQueue(1), new UnitQueue(2), new UnitQueue(3)];
    const aborted = request(outcomes, 2, 21);
    for (const [unit, address] of [[1, 10], [1, 11], [2, 20], [3, 30], [3, 31]] as const) queue.push(units[unit - 1], request(outcomes, unit, address));
    queue.push(units[1], aborted);
    queue.push(units[1], request(outcomes, 2, 22));
    const stop = request(outcomes, 3, 99);
    queue.pushStop(stop);
    aborted.abort(new Error('cancelled'));
    units[2].inFlight = 1; // unit 3 is at its bound of 1
    const taken: number[] = [];
    assert.equal(queue.takeStop()?.address, 99);
    for (let r = queue.take(1); r; r = queue.take(1)) {
      taken.push(r.address);
      units[r.unitId - 1].inFlight++;
      if (taken.length === 2) units.forEach((u) => (u.inFlight = 0)); // replies came
    }
    // Unit 3 has one out: its 31 waits while the others' go.
    assert.deepEqual(taken, [10, 20, 30, 11, 22]);
    units[2].inFlight = 0;
    assert.equal(queue.take(1)?.address, 31);
    assert.equal(queue.take(1), undefined);
    assert.equal(queue.hasStop(), false);
  });
});
