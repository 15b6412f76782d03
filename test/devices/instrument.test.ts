import assert from 'node:assert/strict';
import { AbortContext } from '../../lib/cell';
import { ScpiCommandError, type InstrumentReading, type ScpiInstrumentDevice } from '../../lib/devices/instrument';
import { Cancelled, EStop, WorkcellError } from '../../lib';
import type { Dmm34461A, RigolDP821 } from '../../lib/simulators/scpi';
import { readyDevice, received, startSimulators, waitForStatus } from './instrument-fixtures';
import { tick } from '../lib/helpers';
import { until } from '../support/event-order';

const run = (device: ScpiInstrumentDevice, operation: string, params: Record<string, unknown> = {}, signal = new AbortController().signal) =>
  device.execute(operation, params, { signal });

describe('SCPI instrument driver over TCP (Keysight 34461A and Rigol DP821 simulators)', function () {
  let dmm: Dmm34461A;
  let psu: RigolDP821;
  let dmmAddress: string;
  let psuAddress: string;
  let closeSims: () => Promise<void>;
  const opened: ScpiInstrumentDevice[] = [];

  beforeEach(async () => {
    ({ dmm, psu, dmmAddress, psuAddress, close: closeSims } = await startSimulators());
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await closeSims();
  });

  async function theDmm(options: Record<string, unknown> = {}): Promise<ScpiInstrumentDevice> {
    const d = await readyDevice({ name: 'DMM', address: dmmAddress, preset: 'keysight-34461a', timeoutMs: 1000, ...options });
    opened.push(d);
    return d;
  }
  async function thePsu(options: Record<string, unknown> = {}): Promise<ScpiInstrumentDevice> {
    const d = await readyDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', timeoutMs: 1000, ...options });
    opened.push(d);
    return d;
  }

  describe('connection', () => {
    it('asks *IDN? on connect and shows the identity in its health detail, also after an operation', async () => {
      const d = await theDmm();
      assert.equal(received(dmm)[0], '*IDN?');
      assert.equal(d.identity, 'Keysight Technologies,34461A,MY53212931,A.02.08-02.37-02.08-00.49-01-01');
      assert.equal(d.health.status, 'ready');
      assert.equal(d.health.detail, '34461A MY53212931 (Keysight Technologies, A.02.08-02.37-02.08-00.49-01-01)');
      await run(d, 'query', { command: 'CONF?' });
      assert.equal(d.health.detail, '34461A MY53212931 (Keysight Technologies, A.02.08-02.37-02.08-00.49-01-01)', 'the identity is shown again once the operation is over');
    });

    it('reconnects after the simulator drops its clients, identifies again and works', async () => {
      const d = await thePsu();
      const lost = waitForStatus(d, 'disconnected');
      psu.dropClients();
      const h = await lost;
      assert.match(h.detail, /retrying in \d+ s/);
      await assert.rejects(run(d, 'query', { command: '*IDN?' }), /PSU: query refused: the device is (disconnected|connecting)/);
      await waitForStatus(d, 'ready');
      assert.equal(d.health.detail, 'DP821 DP8E241400123 (RIGOL TECHNOLOGIES, 00.01.16)');
      assert.equal(received(psu).filter((m) => m === '*IDN?').length, 2);
      assert.deepEqual(await run(d, 'output', { channel: 1, on: true }), { channel: 1, on: true });
      assert.equal(psu.output(1).enabled, true);
    });

    it('drains errors left in the queue from before it connected, so they are not blamed on the first operation', async () => {
      psu.pushError(-113, 'left by someone else');
      const d = await readyDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821' });
      opened.push(d);
      assert.equal(psu.errorQueue.length, 0);
      assert.deepEqual(await run(d, 'write', { command: ':APPL CH1,5,0.5' }), { command: ':APPL CH1,5,0.5' });
    });
  });

  describe('operations', () => {
    it('measure sends the configured query and returns the reading as a number with its unit', async () => {
      dmm.setInput('VOLT:DC', 1.23456);
      const d = await theDmm();
      const before = dmm.commandLog.length;
      const r = (await run(d, 'measure')) as InstrumentReading;
      assert.deepEqual(r, { value: 1.23456, unit: 'V', query: 'MEAS:VOLT:DC?', overload: false });
      assert.deepEqual(received(dmm, before), ['MEAS:VOLT:DC?', 'SYST:ERR?'], 'the error queue is checked after the measurement');
    });

    it('measure with a given query takes the unit from its header (MEAS:RES? → Ω), or the unit given', async () => {
      dmm.setInput('RES', 4700, 0);
      const d = await theDmm();
      assert.deepEqual(await run(d, 'measure', { query: 'MEAS:RES?' }), { value: 4700, unit: 'Ω', query: 'MEAS:RES?', overload: false });
      dmm.setInput('TEMP', 21.5, 0);
      assert.equal(((await run(d, 'measure', { query: 'MEAS:TEMP?', unit: 'degC' })) as InstrumentReading).unit, 'degC');
    });

    it('read takes one reading with the present settings (READ?) in the unit of the function last configured', async () => {
      dmm.setInput('CURR:DC', 0.25, 0);
      const d = await theDmm();
      await run(d, 'write', { command: 'CONF:CURR:DC' });
      const before = dmm.commandLog.length;
      assert.deepEqual(await run(d, 'read'), { value: 0.25, unit: 'A', query: 'READ?', overload: false });
      assert.equal(received(dmm, before)[0], 'READ?');
    });

    it('several readings in one reply come as values (sample count 3)', async () => {
      dmm.setInput('VOLT:DC', 2, 0);
      const d = await theDmm();
      await run(d, 'write', { command: 'CONF:VOLT:DC;:SAMP:COUN 3' });
      assert.deepEqual(await run(d, 'read'), { value: 2, unit: 'V', query: 'READ?', overload: false, values: [2, 2, 2] });
    });

    it('query returns the reply line as text', async () => {
      const d = await thePsu();
      await run(d, 'write', { command: ':APPL CH2,3.3,2' });
      assert.equal(await run(d, 'query', { command: ':APPL? CH2' }), 'CH2:8V/10A,3.300,2.0000');
      assert.equal(await run(d, 'query', { command: '*IDN?' }), 'RIGOL TECHNOLOGIES,DP821,DP8E241400123,00.01.16');
    });

    it('output switches a power supply channel on and off with the preset\'s command', async () => {
      const d = await thePsu();
      await run(d, 'write', { command: ':APPL CH2,5,1' });
      const before = psu.commandLog.length;
      assert.deepEqual(await run(d, 'output', { channel: 2, on: true }), { channel: 2, on: true });
      assert.equal(psu.output(2).enabled, true);
      assert.equal(psu.output(1).enabled, false);
      await run(d, 'output', { channel: 2, on: false });
      assert.equal(psu.output(2).enabled, false);
      assert.deepEqual(received(psu, before), [':OUTP CH2,ON', 'SYST:ERR?', ':OUTP CH2,OFF', 'SYST:ERR?']);
    });

    it('refuses malformed commands and missing outputs before a byte is sent', async () => {
      const d = await theDmm();
      const p = await thePsu();
      const before = dmm.commandLog.length;
      await assert.rejects(run(d, 'query', { command: 'CONF:VOLT:DC' }), /^WorkcellError: DMM: query refused: "CONF:VOLT:DC" \(string\) is not a query \(a query contains \?\); use write for commands without a reply; nothing was sent$/);
      await assert.rejects(run(d, 'write', { command: 'CONF:VOLT:DC;:READ?' }), /DMM: write refused: "CONF:VOLT:DC;:READ\?" \(string\) contains a query \(\?\) whose reply nobody would read; use query/);
      await assert.rejects(run(d, 'write', { command: 'DISP:TEXT "ok?"\nREAD?' }), /contains a line break/);
      await assert.rejects(run(d, 'output', { on: true }), /DMM: output refused: the Keysight 34461A DMM has no output to switch/);
      await assert.rejects(run(p, 'output', { channel: 3, on: true }), /PSU: output refused: channel 3 \(number\) is outside the limit 1…2; nothing was sent/);
      await assert.rejects(run(d, 'measure', { query: 'MEAS:VOLT:DC?', overload: 'ignore' }), /parameter "overload" must be one of error, flag/);
      assert.deepEqual(received(dmm, before), []);
      // A quoted ? is data, not a query.
      assert.deepEqual(await run(d, 'write', { command: 'DISP:TEXT "ready?"' }), { command: 'DISP:TEXT "ready?"' });
      assert.equal(dmm.displayText, 'ready?');
    });
  });

  describe('SCPI errors', () => {
    it('a write the instrument rejects fails with its error, naming device, operation and command, and the queue is left empty', async () => {
      const d = await thePsu();
      const err = await run(d, 'write', { command: 'VOLT -1' }).then(() => assert.fail('expected an error'), (e: unknown) => e);
      assert.ok(err instanceof ScpiCommandError);
      assert.equal(err.message, 'PSU: write "VOLT -1" → -222,"Data out of range"');
      assert.deepEqual(err.errors, [{ code: -222, message: 'Data out of range' }]);
      assert.equal(psu.errorQueue.length, 0);
      assert.equal(d.status, 'ready');
    });

    it('every error in the queue is drained and reported, oldest first', async () => {
      const d = await thePsu();
      const before = psu.commandLog.length;
      await assert.rejects(run(d, 'write', { command: ':VOLT -1;:CURR -1;:BOGUS' }), {
        message: 'PSU: write ":VOLT -1;:CURR -1;:BOGUS" → -222,"Data out of range"; -222,"Data out of range"; -113,"Undefined header"',
      });
      assert.deepEqual(received(psu, before), [':VOLT -1;:CURR -1;:BOGUS', 'SYST:ERR?', 'SYST:ERR?', 'SYST:ERR?', 'SYST:ERR?']);
      assert.equal(psu.errorQueue.length, 0);
    });

    it('a query the instrument does not know (no reply) is reported with its SCPI error rather than as a bare timeout', async () => {
      const d = await theDmm();
      await assert.rejects(run(d, 'query', { command: 'SOUR:VOLT?', timeoutMs: 200 }), {
        message: 'DMM: query "SOUR:VOLT?" → -113,"Undefined header" (no reply within 200 ms)',
      });
      assert.equal(dmm.errorQueue.length, 0);
      assert.equal(await run(d, 'query', { command: '*IDN?' }), d.identity, 'the link is in step afterwards');
    });

    it('with the error check off, nothing but the command is sent and errors stay in the queue', async () => {
      const d = await thePsu({ errorCheck: false });
      const before = psu.commandLog.length;
      await run(d, 'write', { command: 'VOLT -1' });
      await until(() => received(psu, before).length > 0, 'the command at the instrument');
      // Then a window in which anything else (an error query) would have arrived too.
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(received(psu, before), ['VOLT -1']);
      assert.equal(psu.errorQueue[0].code, -222);
    });
  });

  describe('damaged and missing replies', () => {
    it('a garbled reply where a number is expected is a clear error naming device, operation and value; the next reading is fine', async () => {
      dmm.setInput('VOLT:DC', 5, 0);
      const d = await theDmm();
      dmm.faults.garbleNextResponse = true;
      const err = (await run(d, 'measure').then(() => assert.fail('expected an error'), (e: unknown) => e)) as WorkcellError;
      assert.equal(err.code, 'garbled-reply');
      assert.match(err.message, /^DMM: measure: the reply to "MEAS:VOLT:DC\?" is not a number: ".+" \(string\)$/);
      assert.equal(err.subject, 'DMM');
      assert.equal(err.operation, 'measure');
      assert.equal(((await run(d, 'measure')) as InstrumentReading).value, 5);
    });

    it('a garbled *IDN? reply keeps the device identifying until a valid one arrives', async () => {
      dmm.faults.garbleNextResponse = true;
      const d = await theDmm({ timeoutMs: 150 });
      assert.equal(d.identity, 'Keysight Technologies,34461A,MY53212931,A.02.08-02.37-02.08-00.49-01-01');
      assert.equal(received(dmm).filter((m) => m === '*IDN?').length, 2);
    });

    it('a silent instrument makes the operation fail with a timeout sentence; the late stream stays in step', async () => {
      dmm.setInput('VOLT:DC', 7, 0);
      const d = await theDmm();
      dmm.faults.silenceNextResponse = true;
      await assert.rejects(run(d, 'measure', { timeoutMs: 150 }), {
        message: 'DMM: measure "MEAS:VOLT:DC?": no reply within 150 ms',
        code: 'timeout',
      });
      assert.ok(received(dmm).includes('ABOR'), 'the abandoned query is stopped on the instrument');
      assert.equal(((await run(d, 'measure')) as InstrumentReading).value, 7);
    });

    it('an overload (±9.9E37) fails the step by default, or is flagged with value null', async () => {
      dmm.setInput('VOLT:DC', 5000, 0);
      const d = await theDmm();
      await assert.rejects(run(d, 'measure'), { code: 'overload', message: 'DMM: measure "MEAS:VOLT:DC?": overload (+9.90000000E+37): the input is above the selected range' });
      assert.deepEqual(await run(d, 'measure', { overload: 'flag' }), { value: null, unit: 'V', query: 'MEAS:VOLT:DC?', overload: true });
    });
  });

  describe('cancellation', () => {
    it('cancelling a measurement writes ABOR at once; the next request gets its own reply', async () => {
      dmm.setInput('VOLT:DC', 3, 0);
      const d = await theDmm();
      await run(d, 'write', { command: 'CONF:VOLT:DC;:VOLT:NPLC 100;:SAMP:COUN 100' });
      dmm.timeScale = 1; // 100 readings × 2 s
      const aborts: boolean[] = [];
      dmm.on('abort', (e: { interrupted: boolean }) => aborts.push(e.interrupted));
      const controller = new AbortController();
      const reading = run(d, 'read', { timeoutMs: 600_000 }, controller.signal);
      await until(() => dmm.measuring, 'the meter to be measuring');
      assert.equal(dmm.measuring, true);
      const order: string[] = [];
      setImmediate(() => order.push('next turn'));
      controller.abort(new Cancelled('test'));
      await assert.rejects(reading, Cancelled);
      order.push('step ended');
      await tick();
      assert.deepEqual(order, ['step ended', 'next turn'], 'the step ends at once');
      await until(() => aborts.length > 0, 'the ABOR at the meter');
      assert.deepEqual(aborts, [true]);
      assert.equal(dmm.measuring, false);
      dmm.timeScale = 0.01;
      const before = dmm.commandLog.length;
      assert.deepEqual(await run(d, 'measure'), { value: 3, unit: 'V', query: 'MEAS:VOLT:DC?', overload: false });
      assert.deepEqual(received(dmm, before), ['*OPC?', 'SYST:ERR?', 'SYST:ERR?', 'MEAS:VOLT:DC?', 'SYST:ERR?'], 'resync, the -410 the abort caused drained, then the measurement');
    });

    it('a reply still on its way when a query is aborted is absorbed, never taken for the next request\'s', async () => {
      dmm.setInput('VOLT:DC', 1, 0);
      dmm.setInput('RES', 220, 0);
      const d = await theDmm();
      const late: string[] = [];
      d.connection.on('lateReply', (r) => late.push(r.final));
      d.connection.on('message', (line) => late.push(line));
      dmm.faults.delayResponsesMs = 150;
      const controller = new AbortController();
      // Aborted the moment the reading is taken: its reply is then held back in transit.
      dmm.once('reading', () => controller.abort(new Cancelled('test')));
      const first = run(d, 'measure', {}, controller.signal);
      await assert.rejects(first, Cancelled);
      const second = (await run(d, 'measure', { query: 'MEAS:RES?' })) as InstrumentReading;
      assert.equal(second.value, 220);
      assert.equal(second.unit, 'Ω');
      assert.deepEqual(late, ['+1.00000000E+00']);
    });

    it('an emergency stop while the DMM measures (100 NPLC) and the PSU output is on: ABOR received, measurement ended, outputs off', async () => {
      const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
      const d = await theDmm();
      const p = await thePsu();
      cell.addDevice(d, 0);
      cell.addDevice(p, 0);
      await run(p, 'write', { command: ':APPL CH1,12,0.5;:APPL CH2,5,2' });
      await run(p, 'output', { channel: 1, on: true });
      await run(p, 'output', { channel: 2, on: true });
      await run(d, 'write', { command: 'CONF:VOLT:DC;:VOLT:NPLC 100;:SAMP:COUN 50' });
      dmm.timeScale = 1;
      const aborts: { interrupted: boolean; time: number }[] = [];
      dmm.on('abort', (e: { interrupted: boolean; time: number }) => aborts.push(e));
      const measuring = run(d, 'read', { timeoutMs: 600_000 }).then(() => assert.fail('the measurement should not complete'), (e: unknown) => e);
      while (!dmm.measuring) await new Promise((r) => setTimeout(r, 5));
      assert.equal(psu.output(1).enabled && psu.output(2).enabled, true);

      const report = await cell.estop('test button');
      assert.ok((await measuring) instanceof EStop);
      assert.deepEqual(report.devices.map((r) => [r.device, r.stop, r.safe, r.stopError ?? r.safeError]), [
        ['DMM', 'stopped', 'safe', null],
        ['PSU', 'stopped', 'safe', null],
      ]);
      assert.equal(aborts.length, 1);
      assert.equal(aborts[0].interrupted, true, 'ABOR ended a measurement in progress');
      assert.equal(dmm.measuring, false);
      assert.deepEqual(psu.outputs.map((o) => o.enabled), [false, false]);
      const psuLog = received(psu);
      const abor = psuLog.lastIndexOf('ABOR');
      assert.ok(abor >= 0 && abor < psuLog.indexOf(':OUTP CH1,OFF'), 'ABOR before the safe routine');
      assert.deepEqual(psuLog.slice(psuLog.indexOf(':OUTP CH1,OFF')), [
        ':OUTP CH1,OFF', ':OUTP CH2,OFF', // written at once, before any query
        '*OPC?', 'SYST:ERR?', // in step again, errors from before drained
        ':OUTP CH1,OFF', ':OUTP CH2,OFF', 'SYST:ERR?', '*CLS', '*OPC?', // confirmed
      ]);
      assert.equal(dmm.errorQueue.length, 0, 'the -410 the abort caused was drained');
      assert.equal(psu.errorQueue.length, 0);
      assert.equal(cell.state, 'aborted');
    });

    it('safe fails, naming the command and the error, when a safe command is rejected', async () => {
      const p = await thePsu({ safeCommands: [':OUTP CH1,OFF', ':OUTP CH3,OFF'] });
      await assert.rejects(p.safe(AbortSignal.timeout(2000)), {
        message: 'PSU: safe ":OUTP CH1,OFF; :OUTP CH3,OFF" → -224,"Illegal parameter value"',
      });
      assert.equal(psu.errorQueue.length, 0, 'drained and cleared');
    });
  });

  describe('telemetry', () => {
    it('reads the telemetry queries periodically and emits them as telemetry events', async () => {
      psu.setLoad(1, 10);
      const p = await thePsu({ telemetryIntervalMs: 30 });
      await run(p, 'write', { command: ':APPL CH1,5,1;:OUTP CH1,ON' });
      const event = await new Promise<Record<string, unknown>>((resolve) => {
        const on = (t: Record<string, unknown>) => {
          if ((t.readings as Record<string, number>).ch1_voltage > 0) {
            p.off('telemetry', on);
            resolve(t);
          }
        };
        p.on('telemetry', on);
      });
      assert.equal(event.device, 'PSU');
      assert.equal(event.kind, 'instrument');
      assert.equal(event.identity, 'RIGOL TECHNOLOGIES,DP821,DP8E241400123,00.01.16');
      assert.deepEqual(event.readings, { ch1_voltage: 5, ch1_current: 0.5, ch2_voltage: 0, ch2_current: 0 });
      assert.deepEqual(event.units, { ch1_voltage: 'V', ch1_current: 'A', ch2_voltage: 'V', ch2_current: 'A' });
    });

    it('a failed read is a warning and the next read comes all the same; no read goes out while an operation runs', async () => {
      dmm.setInput('VOLT:DC', 1.5, 0);
      const d = await theDmm({ telemetryIntervalMs: 20 });
      const warnings: string[] = [];
      d.on('warning', (w: string) => warnings.push(w));
      const readings: unknown[] = [];
      d.on('telemetry', (t: { readings: { reading: unknown } }) => readings.push(t.readings.reading));
      dmm.faults.garbleNextResponse = true;
      const deadline = Date.now() + 5000;
      while (readings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(readings[0], 1.5);
      assert.match(warnings[0], /^DMM: telemetry read failed: DMM: telemetry: the reply to "READ\?" is not a number: /);
      // A measurement of 200 ms (10 PLC at real speed), ten telemetry periods: telemetry waits for it to end.
      dmm.timeScale = 1;
      const from = dmm.commandLog.length;
      await run(d, 'measure', { timeoutMs: 10_000 });
      const during = received(dmm, from);
      const at = during.indexOf('MEAS:VOLT:DC?');
      assert.equal(during[at + 1], 'SYST:ERR?', `nothing between the operation's query and its error check: ${JSON.stringify(during)}`);
    });
  });
});
