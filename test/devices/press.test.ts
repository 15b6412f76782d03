import assert from 'node:assert/strict';
import { AbortContext, EStop, WorkcellError, type Progress } from '../../lib';
import type { ModbusBus } from '../../lib/io/modbus/modbus-bus';
import { PressDevice } from '../../lib/devices/press';
import { PRESS_PLC_COILS, PressPlc } from '../../lib/simulators/modbus/press-plc';
import type { StartedPressCell } from '../../lib/simulators/modbus/press-host';
import { until } from '../lib/helpers';
import { waitForStatus } from '../support/device-health';
import { PRESS_UNIT, noSignal, readyPress, startPressSims, tcpBus } from './press-fixtures';

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected a rejection');
}

/** The press PLC simulator and the press driver over Modbus TCP. */
describe('press on Modbus TCP', function () {
  let sims: StartedPressCell;
  let plc: PressPlc;
  let bus: ModbusBus;
  let press: PressDevice;

  before(async () => {
    sims = await startPressSims();
    bus = tcpBus(sims.port!);
  });

  beforeEach(async () => {
    plc = new PressPlc({ timeScale: 10 });
    sims.server.setUnit(PRESS_UNIT, plc);
    press = await readyPress(bus, { limits: { maxForceKn: 300, maxCurrentKa: 20, maxWeldTimeMs: 1000, minPositionMm: 10, maxPositionMm: 120 } });
  });

  afterEach(async () => {
    await press.close();
  });

  after(async () => {
    await sims.close();
  });

  it('runs a press cycle to a force: the PLC presses to it, holds, retracts; progress along the way', async () => {
    const progress: Progress[] = [];
    const result = (await press.execute('cycle', { target: 'force', force: 100, holdMs: 100 }, { signal: noSignal, onProgress: (p) => progress.push(p) })) as Record<string, number>;
    assert.ok(result.force >= 100, `peak force read ${result.force} kN`);
    assert.ok(result.position > 80, `the ram went past contact (${result.position} mm)`);
    assert.equal(plc.cycles, 1);
    assert.equal(plc.ramAtTop, true);
    assert.ok(progress.length > 2 && progress.some((p) => (p.fraction ?? 0) > 0.5), `progress: ${progress.map((p) => p.text).join(' | ')}`);
    assert.equal(press.status, 'ready');
    assert.equal(plc.unsafeEvents, 0);
  });

  it('runs a press cycle to a position and writes the setpoints in one FC 16 where they are adjacent', async () => {
    const result = (await press.execute('cycle', { target: 'position', position: 84.5, holdMs: 300 }, { signal: noSignal })) as Record<string, number>;
    assert.equal(result.position, 84.5);
    assert.deepEqual(plc.holding.slice(0, 3), [0, 845, 300]);
    assert.equal(plc.holding[5], 1, 'mode: position');
  });

  it('a cycle to a position that presses harder than the maximum force is stopped', async () => {
    const err = await rejection(press.execute('cycle', { target: 'position', position: 87, holdMs: 500 }, { signal: noSignal }));
    assert.match(err.message, /^Press: cycle: the force reached [\d.]+ kN, above the limit of 300 kN; the cycle was stopped$/);
    assert.equal(plc.state, 'stopped');
    assert.equal(press.status, 'ready', 'not an interlock: the device is not held in fault');
  });

  it('welds: weld enable on for the weld only, the current flows while the electrodes are closed, then off', async () => {
    const currents: number[] = [];
    plc.on('weld', (ka: number) => currents.push(ka));
    const result = (await press.execute('weld', { force: 40, current: 12.5, timeMs: 150, holdMs: 50 }, { signal: noSignal })) as Record<string, number>;
    assert.deepEqual(currents, [12.5]);
    assert.equal(result.current, 12.5);
    const enable = plc.writes.filter((w) => w.function === 'coil' && w.address === PRESS_PLC_COILS.weldEnable).map((w) => w.value);
    assert.deepEqual(enable, [true, false]);
    assert.equal(plc.weldEnabled, false);
    assert.deepEqual(plc.holding.slice(3, 5), [1250, 150]);
  });

  it('reads the ram, force, interlocks and state', async () => {
    plc.openInterlock('twoHand');
    const r = (await press.execute('read', {}, { signal: noSignal })) as Record<string, unknown>;
    assert.deepEqual(r, { position: 0, force: 0, weldCurrent: 0, ramAtTop: true, cycleDone: false, fault: false, faultCode: 0, state: 0, interlocks: { guard: true, lightCurtain: true, twoHand: false } });
  });

  it('refuses values outside its limits with nothing written', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['cycle', { force: 301 }, 'Press: cycle refused: force 301 (number) is outside the limit of 300 kN; nothing was sent'],
      ['cycle', { target: 'position', position: 121 }, 'Press: cycle refused: position 121 (number) is outside the limit 10–120 mm; nothing was sent'],
      ['cycle', { target: 'position', position: 5 }, 'Press: cycle refused: position 5 (number) is outside the limit 10–120 mm; nothing was sent'],
      ['weld', { force: 40, current: 20.5, timeMs: 100 }, 'Press: weld refused: weld current 20.5 (number) is outside the limit of 20 kA; nothing was sent'],
      ['weld', { force: 40, current: 10, timeMs: 1001 }, 'Press: weld refused: weld time 1001 (number) is outside the limit of 1000 ms; nothing was sent'],
    ];
    for (const [op, params, message] of cases) {
      const err = await rejection(press.execute(op, params, { signal: noSignal }));
      assert.equal(err.message, message);
    }
    assert.deepEqual(plc.writes, []);
  });

  it('refuses a cycle while an interlock is open, naming it, with nothing written', async () => {
    plc.openInterlock('lightCurtain');
    const err = await rejection(press.execute('cycle', { force: 50 }, { signal: noSignal }));
    assert.equal(err.message, 'Press: cycle refused: the light curtain is broken (input 3); nothing was written');
    plc.closeInterlock('lightCurtain');
    plc.openInterlock('guard');
    const weld = await rejection(press.execute('weld', { force: 40, current: 10, timeMs: 100 }, { signal: noSignal }));
    assert.equal(weld.message, 'Press: weld refused: the guard is open (input 2); nothing was written');
    assert.deepEqual(plc.writes, []);
    assert.equal(plc.unsafeEvents, 0);
  });

  it('an interlock opened mid-cycle stops the cycle with the stop coil and holds the device in fault until it closes and is reset', async () => {
    plc.timeScale = 2;
    const cycle = press.execute('cycle', { force: 100, holdMs: 100 }, { signal: noSignal });
    await until(() => plc.ramPositionMm > 20, 'ram going down');
    plc.openInterlock('guard');
    const err = await rejection(cycle);
    assert.ok(err instanceof WorkcellError && err.code === 'interlock');
    assert.equal(err.message, 'Press: cycle: the guard opened mid-cycle (input 2); the cycle was stopped');
    assert.ok(plc.writes.some((w) => w.function === 'coil' && w.address === PRESS_PLC_COILS.stop && w.value === true), 'the stop coil was written');
    assert.equal(press.status, 'fault');
    assert.equal(press.activeFault(), 'the guard is open (input 2)');
    const refused = await rejection(press.execute('reset', {}, { signal: noSignal }));
    assert.equal(refused.message, 'Press: reset refused: the guard is open (input 2): close it first; nothing was written');
    plc.closeInterlock('guard');
    await until(() => press.activeFault() === null, 'the fault watch to read the guard closed');
    assert.deepEqual(await press.execute('reset', {}, { signal: noSignal }), { faultCode: 0 });
    assert.equal(press.status, 'ready');
    assert.equal(plc.fault, 0);
    assert.equal(plc.unsafeEvents, 0);
  });

  it('an interlock broken mid-weld stops it: the current goes off, weld enable is written off; the fault outlasts a reconnect', async () => {
    plc.timeScale = 1;
    const weld = press.execute('weld', { force: 40, current: 10, timeMs: 1000, holdMs: 100 }, { signal: noSignal });
    weld.catch(() => undefined);
    await until(() => plc.state === 'welding', 'welding');
    plc.openInterlock('twoHand');
    const err = await rejection(weld);
    assert.equal(err.message, 'Press: weld: the two-hand start was released mid-cycle (input 4); the cycle was stopped');
    assert.equal(plc.weldCurrentKa, 0);
    assert.equal(plc.weldEnabled, false);
    assert.equal(plc.unsafeEvents, 0);
    sims.server.dropTcpClients();
    await waitForStatus(press, 'disconnected');
    const back = await waitForStatus(press, 'fault');
    assert.equal(back.detail, 'weld: the two-hand start was released mid-cycle (input 4); the cycle was stopped');
    await until(() => press.activeFault() === 'the two-hand start is released (input 4)', 'the fault watch after the reconnect');
    plc.closeInterlock('twoHand');
    await until(() => press.activeFault() === null, 'two-hand start pressed again');
  });

  it('a value the PLC refuses fails with its exception 03 as a sentence', async () => {
    await press.close();
    press = await readyPress(bus, { limits: { maxCurrentKa: 40 } });
    const err = await rejection(press.execute('weld', { force: 40, current: 30, timeMs: 100 }, { signal: noSignal }));
    assert.equal(err.message, `Press: weld: tcp://127.0.0.1:${sims.port} unit 3: write 4 registers from 2 = [200,3000,100,0]: exception 03, illegal data value (the unit refused the value or count)`);
    assert.equal(plc.cycles, 0);
  });

  it('refuses a cycle with the ram away from the top or the PLC in fault, with nothing written', async () => {
    plc.timeScale = 2;
    const run = new AbortController();
    const cycle = press.execute('cycle', { force: 100 }, { signal: run.signal });
    await until(() => plc.ramPositionMm > 20, 'ram going down');
    run.abort(new Error('cancelled'));
    await assert.rejects(cycle);
    await until(() => plc.state === 'stopped', 'stopped');
    const writes = plc.writes.length;
    const away = await rejection(press.execute('cycle', { force: 100 }, { signal: noSignal }));
    assert.match(away.message, /^Press: cycle refused: the ram is not at the top \(input 1 reads open, ram at [\d.]+ mm\): retract it first; nothing was written$/);
    plc.timeScale = 10;
    await press.execute('retract', {}, { signal: noSignal });
    const overloaded = new PressPlc({ timeScale: 10, partAtMm: 10, ratedForceKn: 50 });
    sims.server.setUnit(PRESS_UNIT, overloaded);
    const fault = await rejection(press.execute('cycle', { target: 'position', position: 20, holdMs: 50 }, { signal: noSignal }));
    assert.equal(fault.message, 'Press: cycle: the PLC stopped the cycle with a fault (code 4: overload); the cycle was stopped');
    const writesBefore = overloaded.writes.length;
    const refused = await rejection(press.execute('cycle', { force: 10 }, { signal: noSignal }));
    assert.equal(refused.message, 'Press: cycle refused: the PLC reports a fault (code 4: overload): reset it first; nothing was written');
    assert.equal(overloaded.writes.length, writesBefore);
    assert.equal(plc.writes.length, writes + 1, 'only the retract was written to the first PLC after the refusal');
  });

  it('a cycle that does not finish in its timeout is stopped and fails saying where the ram is', async () => {
    plc.timeScale = 1;
    const err = await rejection(press.execute('cycle', { force: 100, timeoutMs: 50 }, { signal: noSignal }));
    assert.match(err.message, /^Press: cycle: the cycle did not finish within 50 ms \(ram at [\d.]+ mm, force [\d.]+ kN, cycle done clear\); the cycle was stopped$/);
    assert.equal(plc.state, 'stopped');
  });

  it('a unit that does not answer as the map says puts the device in fault with the exception as a sentence', async () => {
    await press.close();
    press = new PressDevice({ name: 'Press', unitId: PRESS_UNIT, bus, map: { inputRegisters: { bottomPosition: 40 } } });
    await press.open();
    const health = await waitForStatus(press, 'fault');
    assert.equal(health.detail, `Press: unit 3 does not answer as the press PLC its map describes: tcp://127.0.0.1:${sims.port} unit 3: read 41 input registers from 0: exception 02, illegal data address (the unit has no such register)`);
  });

  it('sends telemetry at its period: ram, force, current, interlocks', async () => {
    await press.close();
    press = await readyPress(bus, { telemetryIntervalMs: 20 });
    const t = await new Promise<Record<string, unknown>>((resolve) => press.once('telemetry', resolve));
    assert.equal(t.device, 'Press');
    assert.equal(t.kind, 'press');
    assert.deepEqual(t.interlocks, { guard: true, lightCurtain: true, twoHand: true });
    assert.equal(t.ramAtTop, true);
  });

  it('a cancelled cycle writes the stop coil; retract brings the ram back to the top', async () => {
    plc.timeScale = 2;
    const run = new AbortController();
    const cycle = press.execute('cycle', { force: 100, holdMs: 100 }, { signal: run.signal });
    await until(() => plc.ramPositionMm > 20, 'ram going down');
    run.abort(new Error('operator cancelled'));
    await assert.rejects(cycle, /operator cancelled/);
    await until(() => plc.state === 'stopped', 'the PLC stopped');
    plc.timeScale = 10;
    assert.deepEqual(await press.execute('retract', {}, { signal: noSignal }), { position: 0 });
    assert.equal(plc.ramAtTop, true);
  });
});

describe('press in a cell', function () {
  let sims: StartedPressCell;
  let plc: PressPlc;
  let bus: ModbusBus;

  before(async () => {
    sims = await startPressSims({ timeScale: 2 });
    plc = sims.presses.get(PRESS_UNIT)!;
    bus = tcpBus(sims.port!);
  });

  after(async () => {
    await sims.close();
  });

  it('an emergency stop during a weld cycle writes the stop coil before the safe routine: weld off, ram retracted', async () => {
    const press = await readyPress(bus);
    try {
      const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
      cell.addDevice(press, 0);
      const heard: string[] = [];
      plc.on('write', (w: { function: string; address: number; value: unknown }) => heard.push(`${w.function} ${w.address}=${String(w.value)}`));
      const run = cell.startRun({ sequence: 'weld' });
      const step = run.runStep('weld', (signal) => press.execute('weld', { force: 40, current: 10, timeMs: 2000, holdMs: 500 }, { signal, runId: run.id }));
      step.catch(() => undefined);
      await until(() => plc.state === 'welding', 'welding');
      const before = heard.length;
      const report = await cell.estop('test');
      await assert.rejects(step, EStop);
      assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['Press', 'stopped', 'safe']]);
      const after = heard.slice(before);
      assert.equal(after[0], `coil ${PRESS_PLC_COILS.stop}=true`, `the stop coil first (heard after the trip: ${after.join(', ')})`);
      assert.ok(after.indexOf(`coil ${PRESS_PLC_COILS.retract}=true`) > 0, 'then the retract');
      assert.equal(plc.ramAtTop, true);
      assert.equal(plc.weldCurrentKa, 0);
      assert.equal(plc.weldEnabled, false);
      assert.equal(plc.holding[3], 0, 'weld current setpoint 0');
      assert.equal(plc.unsafeEvents, 0);
      await cell.reset('test');
    } finally {
      await press.close();
    }
  });

  it('a critical press trips the cell when an interlock opens mid-cycle; the cell reset is refused until it closes', async () => {
    const press = await readyPress(bus, { critical: true });
    try {
      const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
      cell.addDevice(press, 0);
      const run = cell.startRun({ sequence: 'press' });
      const step = run.runStep('cycle', (signal) => press.execute('cycle', { force: 100, holdMs: 200 }, { signal, runId: run.id }));
      step.catch(() => undefined);
      await until(() => plc.ramPositionMm > 20, 'ram going down');
      plc.openInterlock('lightCurtain');
      await assert.rejects(step);
      await until(() => cell.state === 'aborted', 'the cell tripped');
      await until(() => plc.ramAtTop, 'the safe routine retracted the ram');
      await assert.rejects(cell.reset('test'), /device Press is still in fault \(the light curtain is broken \(input 3\)\)/);
      plc.closeInterlock('lightCurtain');
      await until(() => press.activeFault() === null, 'the fault watch to read the light curtain clear');
      await cell.reset('test');
      assert.equal(cell.state, 'ready');
      assert.equal(plc.fault, 0);
      await waitForStatus(press, 'ready');
      assert.equal(plc.unsafeEvents, 0);
    } finally {
      await press.close();
    }
  });
});
