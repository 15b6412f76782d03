import assert from 'node:assert/strict';
import { AbortContext } from '../../lib/cell';
import { GrblAlarmError, type GrblGantry, type GrblGantryOptions } from '../../lib/devices/gantry';
import type { GrblSimulator } from '../../lib/simulators/grbl';
import { readyGantry, startRelay, startSim, until, waitForStatus, type Relay } from './gantry-fixtures';

const run = (g: GrblGantry, operation: string, params: Record<string, unknown> = {}) => g.execute(operation, params, { signal: new AbortController().signal });

/** The sentence of GRBL staying locked after a soft limit, for `operation` (or in the fault, without one). */
const locked = (operation: string) =>
  `Mill: ${operation} failed: GRBL is waiting for a reset after ALARM:2 (soft limit) and took none of the driver's 2 soft resets (0x18); it answers nothing until it takes one: check the link, or power-cycle the controller`;

describe('GRBL gantry driver: hard and soft limits, after which GRBL waits for a reset (GRBL 1.1h simulator over TCP)', function () {
  this.timeout(30_000);
  let sim: GrblSimulator;
  let relay: Relay;
  let gantry: GrblGantry | undefined;
  let warnings: string[];

  beforeEach(async () => {
    const started = await startSim();
    sim = started.sim;
    relay = await startRelay(started.address);
    warnings = [];
  });
  afterEach(async () => {
    await gantry?.close();
    gantry = undefined;
    await relay.close();
    await sim.close();
  });

  /** A homed gantry through the relay, without driver limits: GRBL's own soft limits (travel -300) catch a move past them. */
  async function homed(options: Partial<GrblGantryOptions> = {}): Promise<GrblGantry> {
    gantry = await readyGantry({ name: 'Mill', address: relay.address, softLimits: {}, ...options });
    gantry.on('warning', (w: string) => warnings.push(w));
    await run(gantry, 'home');
    return gantry;
  }

  it('after ALARM:2 the driver resets GRBL once GRBL asks for it ([MSG:Reset to continue]), not before; the move fails with the alarm, the position is kept', async () => {
    const g = await homed();
    await assert.rejects(run(g, 'move', { x: -400, feed: 3000 }), (err: GrblAlarmError) => err instanceof GrblAlarmError && err.alarm === 2);
    const after = () => relay.timeline.slice(relay.timeline.indexOf('GRBL: ALARM:2'));
    await until(() => after().some((l) => l.startsWith('GRBL: Grbl 1.1h')), 'the banner after the alarm');
    const seen = after();
    const prompt = seen.indexOf('GRBL: [MSG:Reset to continue]');
    assert.ok(prompt > 0, JSON.stringify(seen));
    assert.deepEqual(seen.filter((l) => l === 'driver: reset'), ['driver: reset'], 'one reset');
    assert.ok(seen.indexOf('driver: reset') > prompt, `the reset came after GRBL asked for it: ${JSON.stringify(seen)}`);
    assert.ok(seen.findIndex((l) => l.startsWith('GRBL: Grbl 1.1h')) > seen.indexOf('driver: reset'), 'then the banner');
    assert.equal(g.status, 'fault');
    assert.equal(g.positionTrusted, true, 'ALARM:2 keeps the position');
    assert.deepEqual(warnings, [], 'no warning: GRBL took the reset');
    await g.reset(new AbortController().signal);
    assert.deepEqual([g.status, g.health.detail, g.lockout], ['ready', 'alarm (ALARM:2) — home with $H', 'alarm (ALARM:2) — home with $H'], 'a cell reset cannot open the lock: homing can');
    await run(g, 'home');
    assert.deepEqual([g.status, g.lockout], ['ready', null]);
  });

  it('with unlocking allowed, the lock after ALARM:2 (the position kept) reads "unlock ($X) or home ($H)"', async () => {
    const g = await homed({ allowUnlock: true });
    await assert.rejects(run(g, 'move', { x: -400, feed: 3000 }), { name: 'GrblAlarmError' });
    await until(() => g.lastStatus?.state === 'Alarm' && !g.lockout?.includes('waiting'), 'the alarm lock after the reset');
    assert.equal(g.lockout, 'alarm (ALARM:2) — unlock ($X) or home ($H)');
    await run(g, 'unlock');
    assert.equal(g.lockout, null);
  });

  it('GRBL that takes none of the resets (lost on the wire): a warning and a fault say so; status and safe fail saying so, not with a timeout; once a reset gets through the next operation works', async () => {
    const g = await homed();
    relay.dropResets = true;
    await assert.rejects(run(g, 'move', { x: -400, feed: 3000 }), { name: 'GrblAlarmError' });
    const fault = await waitForStatus(g, 'fault', 10_000, (h) => /took none/.test(h.detail));
    assert.equal(fault.detail, locked('').replace('Mill:  failed: ', ''));
    assert.deepEqual(warnings, [`Mill: ${locked('').replace('Mill:  failed: ', '')}`]);
    assert.equal(relay.timeline.filter((l) => l === 'driver: reset').length, 2, 'a reset, then one retry');
    await assert.rejects(run(g, 'status'), { code: 'grbl-locked', message: locked('status') });
    await assert.rejects(g.safe(new AbortController().signal), { code: 'grbl-locked', message: locked('safe') });
    relay.dropResets = false;
    const status = (await run(g, 'status')) as { state: string; alarm: number | null; positionTrusted: boolean };
    assert.deepEqual([status.state, status.positionTrusted], ['Alarm', true]);
    assert.equal(sim.state, 'Alarm');
    await run(g, 'home');
    await run(g, 'move', { x: -20, feed: 3000 });
    assert.deepEqual(sim.machinePosition, { x: -20, y: -1, z: -1 });
  });

  it('after a hard limit (ALARM:1) the same: the move fails, GRBL gets its reset when it asks; the position is lost, homing clears the lock', async () => {
    const g = await homed();
    const moving = run(g, 'move', { x: -200, feed: 1000 });
    moving.catch(() => undefined);
    await until(() => sim.state === 'Run' && sim.machinePosition.x < -5, 'motion');
    sim.triggerHardLimit();
    await assert.rejects(moving, (err: GrblAlarmError) => err instanceof GrblAlarmError && /^Mill: move failed: GRBL raised ALARM:1 — hard limit triggered/.test(err.message));
    const after = () => relay.timeline.slice(relay.timeline.indexOf('GRBL: ALARM:1'));
    await until(() => after().some((l) => l.startsWith('GRBL: Grbl 1.1h')), 'the banner after the alarm');
    const seen = after();
    assert.ok(seen.indexOf('driver: reset') > seen.indexOf('GRBL: [MSG:Reset to continue]'), JSON.stringify(seen));
    assert.equal(g.positionTrusted, false);
    await g.reset(new AbortController().signal);
    assert.deepEqual([g.status, g.lockout], ['ready', 'alarm (ALARM:1) — home with $H']);
    await run(g, 'home');
    assert.deepEqual([g.status, g.lockout, g.positionTrusted], ['ready', null, true]);
  });

  it('an emergency stop during the wait after the alarm is acknowledged by the banner that follows the driver\'s reset; the cell\'s report says stopped and safe', async () => {
    const g = await homed();
    const cell = new AbortContext({ name: 'cell', stopTimeoutMs: 5000 });
    cell.addDevice(g);
    const moving = run(g, 'move', { x: -400, feed: 3000 });
    moving.catch(() => undefined);
    await until(() => relay.timeline.includes('GRBL: ALARM:2'), 'the alarm');
    const report = await cell.estop('test');
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe, d.stopError ?? null]), [['Mill', 'stopped', 'safe', null]]);
    const seen = relay.timeline.slice(relay.timeline.indexOf('GRBL: ALARM:2'));
    const prompt = seen.indexOf('GRBL: [MSG:Reset to continue]');
    assert.ok(seen.indexOf('driver: reset') < prompt, `the stop's reset went out during GRBL's pause (where the firmware throws it away): ${JSON.stringify(seen)}`);
    assert.ok(seen.lastIndexOf('driver: reset') > prompt, 'the driver reset GRBL again when it asked');
    assert.equal(seen.filter((l) => l.startsWith('GRBL: Grbl 1.1h')).length, 1, 'one banner: GRBL threw the first reset away');
    assert.equal(sim.state, 'Alarm');
    assert.equal(g.positionTrusted, true, 'no restart was seen: one banner per reset GRBL took');
    assert.ok(!warnings.some((w) => /banner|restart|reset unexpectedly/.test(w)), JSON.stringify(warnings));
  });
});
