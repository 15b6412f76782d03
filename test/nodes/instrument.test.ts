import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { Dmm34461A, RigolDP821 } from '../../lib/simulators/scpi';
import { until } from '../support/event-order';

const instrumentNodes = require('../../nodes/instrument') as (red: unknown) => void;
const nodes = [...controlNodes, (instrumentNodes as unknown as { default?: (red: unknown) => void }).default ?? instrumentNodes];

/**
 * A cell with a DMM and a PSU on simulated instruments over TCP; a sequence that measures on the
 * DMM and ends; an E-stop node; a Catch node; a cell status node.
 */
function flow(dmmPort: number, psuPort: number, extra: object[] = [], psuExtra: object = {}): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell A', safeTimeout: '3', stopTimeout: '1' },
    { id: 'dmmDev', type: 'workcell-instrument-device', name: 'DMM', address: `tcp://127.0.0.1:${dmmPort}`, preset: 'keysight-34461a', timeout: '2', errorCheck: true, cell: 'cell', safeGroup: '0', ownership: 'wait' },
    { id: 'psuDev', type: 'workcell-instrument-device', name: 'PSU', address: `tcp://127.0.0.1:${psuPort}`, preset: 'rigol-dp821', timeout: '2', errorCheck: true, cell: 'cell', safeGroup: '0', ...psuExtra },
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['measure'], ['outcome']] },
    { id: 'measure', type: 'workcell-instrument', z: 't1', name: 'measure', device: 'dmmDev', operation: 'measure', params: { timeoutMs: 600000 }, wires: [['end', 'after']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'after', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'psu', type: 'workcell-instrument', z: 't1', name: 'psu', device: 'psuDev', operation: 'write', params: {}, wires: [['psuOut']] },
    { id: 'psuOut', type: 'helper', z: 't1' },
    { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [['stopped']] },
    { id: 'stopped', type: 'helper', z: 't1' },
    { id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [['statusOut']] },
    { id: 'statusOut', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    ...extra,
  ]);
}

/** Resolves once every instrument of the cell has identified itself. */
async function allReady(ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const devices = getCell('cell')?.devices ?? [];
    if (devices.length === 2 && devices.every((d) => d.status === 'ready')) return;
    if (Date.now() > deadline) throw new Error(`instruments not ready: ${JSON.stringify(devices.map((d) => [d.device, d.status, d.detail]))}`);
    await delay(10);
  }
}

describe('instrument nodes (workcell-instrument-device, workcell-instrument) against simulated instruments', function () {
  let dmm: Dmm34461A;
  let psu: RigolDP821;
  let dmmPort: number;
  let psuPort: number;

  beforeEach(async () => {
    dmm = new Dmm34461A({ timeScale: 0.01 });
    dmm.setNoise('VOLT:DC', 0);
    psu = new RigolDP821();
    dmmPort = (await dmm.listen({ port: 0 })).port;
    psuPort = (await psu.listen({ port: 0 })).port;
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    await Promise.all([dmm.close(), psu.close()]);
  });

  it('sequence → instrument measure → sequence end: the reading is on msg.payload and the run completes', async () => {
    dmm.setInput('VOLT:DC', 4.5);
    await helper.load(nodes, flow(dmmPort, psuPort));
    await allReady();
    const statuses: { text?: string }[] = [];
    helper.getNode('measure').on('call:status', (call: { args: [{ text?: string }] }) => statuses.push(call.args[0]));
    const outcome = new Received(helper.getNode('outcome'));
    const after = new Received(helper.getNode('after'));
    helper.getNode('seq').receive({ payload: 'go' });
    assert.deepEqual((await after.nth(1)).payload, { value: 4.5, unit: 'V', query: 'MEAS:VOLT:DC?', overload: false });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
    const health = getCell('cell')!.devices.find((d) => d.device === 'DMM')!;
    assert.equal(health.detail, '34461A MY53212931 (Keysight Technologies, A.02.08-02.37-02.08-00.49-01-01)');
    assert.ok(statuses.some((s) => /^ready: 34461A MY53212931/.test(s.text ?? '')), `status shows the identity: ${JSON.stringify(statuses)}`);
  });

  it('an E-stop while the DMM measures at 100 NPLC and the PSU output is on: run aborted, ABOR received, outputs off', async () => {
    await helper.load(nodes, flow(dmmPort, psuPort, [], {}));
    await allReady();
    psu.execute(':APPL CH1,12,0.5;:OUTP CH1,ON;:APPL CH2,5,1;:OUTP CH2,ON');
    dmm.execute('CONF:VOLT:DC;:VOLT:NPLC 100;:SAMP:COUN 50');
    dmm.timeScale = 1;
    const aborts: boolean[] = [];
    dmm.on('abort', (e: { interrupted: boolean }) => aborts.push(e.interrupted));
    const outcome = new Received(helper.getNode('outcome'));
    const stopped = new Received(helper.getNode('stopped'));
    // READ? with the present settings: 50 readings of 2 s each.
    helper.getNode('seq').receive({ payload: 'go', params: { query: 'READ?' } });
    await until(() => dmm.measuring, 'the DMM to be measuring');
    assert.equal(dmm.measuring, true);
    helper.getNode('stop').receive({ payload: 'trip' });
    const o = (await outcome.nth(1)).payload as { outcome: string; step: string };
    assert.equal(o.outcome, 'aborted');
    assert.equal(o.step, 'measure', 'the step is named by the node name');
    const report = ((await stopped.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['DMM', 'stopped', 'safe'], ['PSU', 'stopped', 'safe']]);
    assert.deepEqual(aborts, [true], 'ABOR interrupted the measurement');
    assert.equal(dmm.measuring, false);
    assert.deepEqual(psu.outputs.map((x) => x.enabled), [false, false]);
    assert.equal(getCell('cell')!.state, 'aborted');
  });

  it('a SCPI error reaches Catch nodes as a sentence naming device, operation, command and error, and fails the run', async () => {
    await helper.load(nodes, flow(dmmPort, psuPort, [
      { id: 'seq2', type: 'workcell-sequence', z: 't1', name: 'Seq2', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['psu'], ['outcome2']] },
      { id: 'outcome2', type: 'helper', z: 't1' },
    ]));
    await allReady();
    const caught = new Received(helper.getNode('caught'));
    const outcome = new Received(helper.getNode('outcome2'));
    helper.getNode('seq2').receive({ payload: 'go', params: { command: 'VOLT -1' } });
    const err = (await caught.nth(1)).error as { message: string; source: { id: string } };
    assert.match(err.message, /(^|: )PSU: write "VOLT -1" → -222,"Data out of range"$/);
    assert.equal(err.source.id, 'psu');
    const o = (await outcome.nth(1)).payload as { outcome: string; error: string | { message: string } };
    assert.equal(o.outcome, 'failed');
    assert.equal(psu.errorQueue.length, 0);
  });

  it('operations and parameters come from the message, validated before anything is sent', async () => {
    await helper.load(nodes, flow(dmmPort, psuPort));
    await allReady();
    const caught = new Received(helper.getNode('caught'));
    const out = new Received(helper.getNode('psuOut'));
    helper.getNode('psu').receive({ operation: 'output', params: { channel: 2, on: true } });
    assert.deepEqual((await out.nth(1)).payload, { channel: 2, on: true });
    assert.equal(psu.output(2).enabled, true);
    const before = psu.commandLog.length;
    helper.getNode('psu').receive({ operation: 'output', params: { channel: 5, on: true } });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /(^|: )PSU: output refused: channel 5 \(number\) is outside the limit 1…2; nothing was sent$/);
    helper.getNode('psu').receive({ operation: 'query', params: { command: ':OUTP? CH2' } });
    assert.equal((await out.nth(2)).payload, 'ON');
    assert.deepEqual(psu.commandLog.slice(before).map((e) => e.message), [':OUTP? CH2', 'SYST:ERR?']);
  });

  it('output limits typed in the device node refuse a level above them before anything is sent; the refusal reaches Catch nodes', async () => {
    await helper.load(nodes, flow(dmmPort, psuPort, [], { outputLimits: 'CH1: 12 V, 0.5 A\nCH2: 5 V' }));
    await allReady();
    const caught = new Received(helper.getNode('caught'));
    const out = new Received(helper.getNode('psuOut'));
    const before = psu.commandLog.length;
    helper.getNode('psu').receive({ operation: 'write', params: { command: ':APPL CH1,13,0.1' } });
    const err = (await caught.nth(1)).error as { message: string; source: { id: string } };
    assert.match(err.message, /(^|: )PSU: write refused: ":APPL CH1,13,0\.1" \(string\) sets CH1's voltage to 13 V, above CH1's limit of 12 V; nothing was sent$/);
    assert.equal(err.source.id, 'psu');
    assert.deepEqual(psu.commandLog.slice(before), []);
    // CH2's current is not limited here (the preset's 10 A applies only when the field is blank).
    helper.getNode('psu').receive({ operation: 'write', params: { command: ':APPL CH2,5,10' } });
    assert.deepEqual((await out.nth(1)).payload, { command: ':APPL CH2,5,10' });
    assert.equal(psu.output(2).currentLimit, 10);
  });

  it('telemetry reaches flows through the cell status node (topic "telemetry")', async () => {
    psu.setLoad(1, 100);
    psu.execute(':APPL CH1,10,1;:OUTP CH1,ON');
    await helper.load(nodes, flow(dmmPort, psuPort, [], { telemetryInterval: '0.05', telemetryQueries: 'v=:MEAS:VOLT? CH1\ni=:MEAS:CURR? CH1' }));
    const status = new Received(helper.getNode('statusOut'));
    const telemetry = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no telemetry within 3 s')), 3000);
      status.on('msg', (m: Record<string, unknown>) => {
        if (m.topic === 'telemetry') {
          clearTimeout(timer);
          resolve(m.payload as Record<string, unknown>);
        }
      });
    });
    assert.equal(telemetry.device, 'PSU');
    assert.deepEqual(telemetry.readings, { v: 10, i: 0.1 });
    assert.deepEqual(telemetry.units, { v: 'V', i: 'A' });
  });

  it('serves the operation table and the presets to the editor', async () => {
    await helper.load(nodes, flow(dmmPort, psuPort));
    const ops = await helper.request().get('/workcell/kinds/instrument/operations').expect(200);
    assert.deepEqual(ops.body.operations.map((o: { name: string }) => o.name), ['measure', 'read', 'query', 'write', 'output']);
    const presets = await helper.request().get('/workcell/instrument/presets').expect(200);
    const dp821 = presets.body.presets.find((p: { id: string }) => p.id === 'rigol-dp821');
    assert.deepEqual(dp821.safeCommands, [':OUTP CH1,OFF', ':OUTP CH2,OFF']);
    assert.deepEqual(dp821.ratings, [{ volts: 60, amps: 1 }, { volts: 8, amps: 10 }], 'the editor shows the ratings as the output limits\' placeholder');
  });

  it('a bad configuration is a clear node error and the action node says so', async () => {
    await helper.load(nodes, flow(dmmPort, psuPort, [], { telemetryQueries: 'v=OUTP ON' }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('psu').receive({ operation: 'query', params: { command: '*IDN?' } });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /no instrument device is configured/);
  });
});
