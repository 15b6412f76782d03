import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SerialPort } from 'serialport';
import { AbortContext } from '../../lib/cell';
import { EStop } from '../../lib';
import type { InstrumentReading, ScpiInstrumentDevice } from '../../lib/devices/instrument';
import { openSerialEndpoint } from '../../lib/io';
import { Dmm34461A, RigolDP821, type ScpiInstrument } from '../../lib/simulators/scpi';
import { openPtyPair, type PtyPair } from '../support/pty-pair';
import { readyDevice, received, waitForStatus } from './instrument-fixtures';
import { until } from '../support/event-order';

/** A simulator answering on the far end of a socat pseudo-terminal pair, as over a null-modem cable. */
interface SerialSim {
  pty: PtyPair;
  port: SerialPort;
  dir: string;
}

async function serveOnPty(sim: ScpiInstrument, dir = mkdtempSync(join(tmpdir(), 'workcell-scpi-'))): Promise<SerialSim> {
  const pty = await openPtyPair(dir);
  const port = await openSerialEndpoint(pty.b, 115200);
  sim.attach(port);
  return { pty, port, dir };
}

async function unserve(s: SerialSim): Promise<void> {
  if (s.port.isOpen) await new Promise<void>((resolve) => s.port.close(() => resolve()));
  await s.pty.close();
}

describe('SCPI instrument driver over a serial line (socat pseudo-terminals, serialport)', function () {
  let dmm: Dmm34461A;
  let psu: RigolDP821;
  let dmmLine: SerialSim;
  let psuLine: SerialSim;
  const opened: ScpiInstrumentDevice[] = [];

  beforeEach(async () => {
    dmm = new Dmm34461A({ timeScale: 0.01 });
    dmm.setNoise('VOLT:DC', 0);
    psu = new RigolDP821();
    dmmLine = await serveOnPty(dmm);
    psuLine = await serveOnPty(psu);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await Promise.all([unserve(dmmLine), unserve(psuLine)]);
    await Promise.all([dmm.close(), psu.close()]);
  });

  async function open(name: string, line: SerialSim, preset: string, extra: Record<string, unknown> = {}): Promise<ScpiInstrumentDevice> {
    const d = await readyDevice({ name, address: line.pty.a, serial: { baudRate: 115200 }, preset, timeoutMs: 1000, ...extra });
    opened.push(d);
    return d;
  }

  it('identifies the instrument, measures, and reports SCPI errors over the tty', async () => {
    dmm.setInput('VOLT:DC', -0.125);
    const d = await open('DMM', dmmLine, 'keysight-34461a');
    assert.equal(d.identity, 'Keysight Technologies,34461A,MY53212931,A.02.08-02.37-02.08-00.49-01-01');
    assert.match(d.health.detail, /^34461A MY53212931 \(Keysight Technologies/);
    assert.deepEqual(await run(d, 'measure'), { value: -0.125, unit: 'V', query: 'MEAS:VOLT:DC?', overload: false });
    await assert.rejects(run(d, 'write', { command: 'VOLT:NPLC 1000' }), { message: 'DMM: write "VOLT:NPLC 1000" → -222,"Data out of range"' });
    assert.equal(dmm.errorQueue.length, 0);
  });

  it('speaks CR LF when configured, and switches outputs', async () => {
    const p = await open('PSU', psuLine, 'rigol-dp821', { terminator: '\r\n' });
    await run(p, 'write', { command: ':APPL CH1,24,0.1' });
    assert.deepEqual(await run(p, 'output', { channel: 1, on: true }), { channel: 1, on: true });
    assert.equal(psu.output(1).enabled, true);
    assert.equal(psu.output(1).voltageSetpoint, 24);
    assert.equal(await run(p, 'query', { command: ':OUTP? CH1' }), 'ON');
  });

  it('a garbled reply and a silent one are clear errors, and the line stays in step', async () => {
    dmm.setInput('VOLT:DC', 9);
    const d = await open('DMM', dmmLine, 'keysight-34461a');
    dmm.faults.garbleNextResponse = true;
    await assert.rejects(run(d, 'measure'), /^WorkcellError: DMM: measure: the reply to "MEAS:VOLT:DC\?" is not a number: /);
    dmm.faults.silenceNextResponse = true;
    await assert.rejects(run(d, 'read', { timeoutMs: 200 }), { message: 'DMM: read "READ?": no reply within 200 ms' });
    assert.equal(((await run(d, 'measure')) as InstrumentReading).value, 9);
  });

  it('an emergency stop reaches both instruments over their ttys: ABOR ends the measurement, outputs go off', async () => {
    const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
    const d = await open('DMM', dmmLine, 'keysight-34461a');
    const p = await open('PSU', psuLine, 'rigol-dp821');
    cell.addDevice(d, 1);
    cell.addDevice(p, 0);
    await run(p, 'write', { command: ':APPL CH2,5,3;:OUTP CH2,ON' });
    await run(d, 'write', { command: 'CONF:VOLT:DC;:VOLT:NPLC 100;:TRIG:COUN INF' });
    const aborted = new Promise<{ interrupted: boolean }>((resolve) => dmm.once('abort', resolve));
    const measuring = run(d, 'read', { timeoutMs: 600_000 }).then(() => assert.fail('the measurement should not complete'), (e: unknown) => e);
    await until(() => dmm.measuring, 'the meter to be measuring');
    assert.equal(dmm.measuring, true);
    const report = await cell.estop('test');
    assert.ok((await measuring) instanceof EStop);
    assert.equal((await aborted).interrupted, true);
    assert.equal(dmm.measuring, false);
    assert.equal(psu.output(2).enabled, false);
    assert.deepEqual(report.devices.map((r) => [r.device, r.stop, r.safe]), [['DMM', 'stopped', 'safe'], ['PSU', 'stopped', 'safe']]);
    assert.ok(received(psu).includes(':OUTP CH2,OFF'));
    assert.equal(dmm.errorQueue.length, 0);
  });

  it('a stop still on its way on a stalled line fails as soon as the line is unplugged, saying the link dropped', async () => {
    const p = await open('PSU', psuLine, 'rigol-dp821');
    // The instrument stops reading its input; a long program message (a waveform upload, sent
    // on the connection: the write operation caps messages at 1000 characters) fills the line.
    psuLine.port.pause();
    const upload = p.connection.send(`:TRAC:DATA CH1,${'0.5,'.repeat(60_000)}0.5`);
    upload.catch(() => undefined);
    let settled = false;
    const stopping = p.stop(new EStop('test')).then(
      () => 'acknowledged',
      (err: Error) => err,
    ).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled, false, 'ABOR waits behind the upload on the stalled line');
    await unserve(psuLine);
    const err = await stopping;
    assert.ok(err instanceof Error, String(err));
    assert.match(err.message, /^PSU: stop failed: the link dropped before "ABOR" was written \(.+\)$/);
    assert.ok(!received(psu).includes('ABOR'));
  });

  it('comes back after the serial link is unplugged and replugged', async () => {
    const p = await open('PSU', psuLine, 'rigol-dp821');
    const lost = waitForStatus(p, 'disconnected');
    await unserve(psuLine);
    await lost;
    psuLine = await serveOnPty(psu, psuLine.dir);
    await waitForStatus(p, 'ready', 8000);
    assert.deepEqual(await run(p, 'output', { channel: 1, on: true }), { channel: 1, on: true });
    assert.equal(psu.output(1).enabled, true);
  });
});

function run(device: ScpiInstrumentDevice, operation: string, params: Record<string, unknown> = {}): Promise<unknown> {
  return device.execute(operation, params, { signal: new AbortController().signal });
}
