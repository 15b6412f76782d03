import assert from 'node:assert/strict';
import type { Progress } from '../../lib/device';
import { Cancelled, EStop } from '../../lib';
import { FurnaceDevice, type FurnacePresetName } from '../../lib/devices/furnace';
import { ModbusBus } from '../../lib/io/modbus';
import { FurnaceSimulator, startFurnaces } from '../../lib/simulators/modbus/furnace';
import { openPtyPair } from '../support/pty-pair';
import { firstOf } from '../support/event-order';
import { readyFurnace, startFurnaceBus, waitForStatus } from './furnace-fixtures';

const ctx = () => ({ signal: new AbortController().signal });

const PRESETS: [number, FurnacePresetName][] = [
  [1, 'eurotherm-3216'],
  [2, 'watlow-pm'],
  [3, 'omega-cn7500'],
  [4, 'generic'],
];

describe('furnace driver: every preset against its simulator over Modbus TCP', () => {
  let env: Awaited<ReturnType<typeof startFurnaceBus>>;
  const devices: FurnaceDevice[] = [];

  before(async () => {
    env = await startFurnaceBus(PRESETS.map(([unitId, preset]) => ({ unitId, preset, timeScale: 300 })));
  });
  after(async () => {
    for (const d of devices) await d.close();
    await env.close();
  });

  async function furnace(unitId: number, preset: FurnacePresetName, extra: Partial<ConstructorParameters<typeof FurnaceDevice>[0]> = {}) {
    const d = await readyFurnace({ name: `Furnace ${unitId}`, bus: env.bus, unitId, preset, ...extra });
    devices.push(d);
    return d;
  }

  for (const [unitId, preset] of PRESETS) {
    it(`${preset}: set setpoint, read, manual with an output, auto, stop and run reach the controller`, async () => {
      const sim = env.sim.furnaces.get(unitId)!;
      const d = await furnace(unitId, preset);
      assert.deepEqual(await d.execute('setpoint', { value: 150 }, ctx()), { setpoint: 150, unit: 'C' });
      assert.ok(Math.abs(sim.model.target - 150) < 0.01, `${preset}: the controller's setpoint is ${sim.model.target} °C`);
      const reading = (await d.execute('read', {}, ctx())) as { pv: number; setpoint: number; output: number; unit: string };
      assert.equal(reading.setpoint, 150);
      assert.ok(Math.abs(reading.pv - sim.model.temperatureC) < 2, `${preset}: PV ${reading.pv} against ${sim.model.temperatureC}`);
      await d.execute('manual', { output: 40 }, ctx());
      assert.deepEqual([sim.model.manual, sim.model.manualOutput], [true, 40]);
      await d.execute('auto', {}, ctx());
      assert.equal(sim.model.manual, false);
      await d.execute('stop', {}, ctx());
      assert.equal(sim.model.running, false);
      await d.execute('run', {}, ctx());
      assert.equal(sim.model.running, true);
    });
  }

  const SENSOR_BREAKS: Record<FurnacePresetName, string> = {
    'eurotherm-3216': 'sensor break (bit 5 of status register 75 is set)',
    'watlow-pm': 'sensor break: input error register 362 reads 65 (61 is no error)',
    'omega-cn7500': 'sensor break: PV reads error code 0x8003 (input sensor not connected)',
    generic: 'sensor break (bit 0 of status register 6 is set)',
  };
  const STOPPED: Record<FurnacePresetName, string> = {
    'eurotherm-3216': 'instrument mode standby (IM 199 = 1: control outputs off)',
    'watlow-pm': 'loop control mode Off (1880 = 62)',
    'omega-cn7500': 'run/stop bit 0x0814 cleared (stop)',
    generic: 'run register 0 (stop)',
  };

  for (const [unitId, preset] of PRESETS) {
    it(`${preset}: a sensor break is seen as the controller reports it; a reset is refused while it lasts`, async () => {
      const sim = env.sim.furnaces.get(unitId)!;
      const d = await furnace(unitId, preset);
      sim.breakSensor(true);
      try {
        assert.equal((await waitForStatus(d, 'fault')).fault, SENSOR_BREAKS[preset]);
        await d.reset(new AbortController().signal);
        assert.equal(d.status, 'fault');
        assert.equal(d.activeFault(), SENSOR_BREAKS[preset]);
      } finally {
        sim.breakSensor(false);
      }
      await waitForStatus(d, 'ready');
    });

    it(`${preset}: safe writes the safe setpoint and stops the controller (${STOPPED[preset]})`, async () => {
      const sim = env.sim.furnaces.get(unitId)!;
      const d = await furnace(unitId, preset, { safeSetpoint: 35 });
      await d.execute('setpoint', { value: 300 }, ctx());
      await d.safe(new AbortController().signal);
      assert.ok(Math.abs(sim.model.target - 35) < 0.01, `${preset}: setpoint ${sim.model.target}`);
      assert.equal(sim.model.running, false);
      await d.execute('run', {}, ctx());
      assert.equal(sim.model.running, true);
    });
  }

  it('a cancelled ramp leaves the setpoint where the ramp had got to and writes nothing more', async () => {
    const sim = env.sim.furnaces.get(4)!;
    const d = await furnace(4, 'generic');
    const writes: number[] = [];
    sim.slave.onWrite = () => writes.push(sim.model.target);
    const abort = new AbortController();
    const ramp = d.execute('ramp', { to: 1000, rate: 600 }, { signal: abort.signal, onProgress: () => writes.length >= 3 && abort.abort(new Cancelled('enough')) });
    await assert.rejects(ramp, Cancelled);
    const count = writes.length;
    const held = sim.model.target;
    assert.ok(held < 1000);
    await d.execute('read', {}, ctx());
    await new Promise((resolve) => setTimeout(resolve, d.rampStepMs * 2));
    sim.slave.onWrite = undefined;
    assert.equal(writes.length, count, 'no step after the cancel');
    assert.equal(sim.model.target, held);
  });

  it('eurotherm-3216: setpoints and ramps go to the comms setpoint (26, enabled by 276), never to the EEPROM', async () => {
    const sim = env.sim.furnaces.get(1)!;
    const d = await furnace(1, 'eurotherm-3216');
    await d.execute('setpoint', { value: 80 }, ctx());
    await d.execute('ramp', { to: 90, rate: 6000 }, ctx());
    assert.equal(sim.model.target, 90);
    assert.equal(sim.eepromWrites, 0);
  });

  it('watlow-pm: a device in °F converts, whatever unit the controller speaks (read from 2490)', async () => {
    const sim = env.sim.furnaces.get(2)!;
    const d = await furnace(2, 'watlow-pm', { unit: 'F', minSetpoint: 32, maxSetpoint: 2000 });
    await d.execute('setpoint', { value: 392 }, ctx());
    assert.ok(Math.abs(sim.model.target - 200) < 0.01);
    assert.equal(((await d.execute('read', {}, ctx())) as { setpoint: number }).setpoint, 392);
  });

  it('ramps the setpoint in steps from the PV to the target, with progress', async () => {
    const sim = env.sim.furnaces.get(4)!;
    const d = await furnace(4, 'generic');
    const targets: number[] = [];
    sim.slave.onWrite = () => targets.push(sim.model.target);
    const progress: Progress[] = [];
    const pv = ((await d.execute('read', {}, ctx())) as { pv: number }).pv;
    const to = Math.round(pv) + 40;
    const result = await d.execute('ramp', { to, rate: 2400 }, { ...ctx(), onProgress: (p) => progress.push(p) });
    sim.slave.onWrite = undefined;
    assert.deepEqual(result, { setpoint: to, unit: 'C' });
    assert.ok(targets.length >= 4, `the ramp wrote ${targets.length} setpoints`);
    assert.deepEqual([...targets].sort((a, b) => a - b), targets, 'the setpoints rise');
    assert.equal(targets.at(-1), to);
    assert.equal(progress.at(-1)!.fraction, 1);
  });

  it('waits until the PV holds within the band for the dwell time; fails with a sentence at its timeout', async () => {
    const d = await furnace(4, 'generic');
    await d.execute('setpoint', { value: 120 }, ctx());
    const result = (await d.execute('wait', { band: 1, dwell: 0.2, timeout: 20 }, ctx())) as { pv: number };
    assert.ok(Math.abs(result.pv - 120) <= 1);
    await d.execute('setpoint', { value: 600 }, ctx());
    await assert.rejects(d.execute('wait', { band: 1, dwell: 1, timeout: 0.1 }, ctx()), /^WorkcellError: Furnace 4: wait: the PV did not hold within ±1 °C of 600 °C for 1 s within 0.1 s \(PV [\d.]+ °C\)$/);
    await d.execute('setpoint', { value: 120 }, ctx());
  });

  it('refuses a setpoint or ramp outside the limits before anything is written', async () => {
    const sim = env.sim.furnaces.get(3)!;
    const d = await furnace(3, 'omega-cn7500', { maxSetpoint: 500, minSetpoint: 20, maxRampRate: 100 });
    const before = sim.writeRequests;
    await assert.rejects(d.execute('setpoint', { value: 501 }, ctx()), /Furnace 3: setpoint refused: setpoint 501 \(number\) is outside the limit 20…500 °C; nothing was sent/);
    await assert.rejects(d.execute('setpoint', { value: 5 }, ctx()), /outside the limit 20…500 °C/);
    await assert.rejects(d.execute('ramp', { to: 300, rate: 150 }, ctx()), /Furnace 3: ramp refused: ramp rate 150 \(number\) is outside the limit of 100 °C\/min; nothing was sent/);
    await assert.rejects(d.execute('ramp', { to: 900, rate: 10 }, ctx()), /target 900 \(number\) is outside the limit 20…500 °C/);
    assert.equal(sim.writeRequests, before);
  });

  it('an exception reply fails the operation with a sentence naming the device, the request and the code', async () => {
    const d = await furnace(4, 'generic');
    env.sim.server.failWith(4, 4);
    try {
      await assert.rejects(d.execute('setpoint', { value: 100 }, ctx()), (err: Error) => {
        assert.match(err.message, /^Furnace 4: setpoint: tcp:\/\/127\.0\.0\.1:\d+ unit 4: .*exception 04, server device failure/);
        return true;
      });
    } finally {
      env.sim.server.failWith(4, null);
    }
  });

  it('a unit that stops answering shows as a fault on its device while the others on the bus go on; answering again, it is ready', async () => {
    const silent = await furnace(4, 'generic');
    const other = await furnace(1, 'eurotherm-3216');
    env.sim.server.silence(4, true);
    try {
      const fault = await waitForStatus(silent, 'fault');
      assert.match(fault.detail, /^no reading: .*unit 4: .*no reply within 300 ms/);
      await other.execute('setpoint', { value: 60 }, ctx());
      assert.equal(env.sim.furnaces.get(1)!.model.target, 60);
      assert.equal(other.status, 'ready');
    } finally {
      env.sim.server.silence(4, false);
    }
    await waitForStatus(silent, 'ready');
  });

  it('a sensor break is a fault while it lasts, with the controller\'s report; mended, the device is ready again', async () => {
    const sim = env.sim.furnaces.get(3)!;
    const d = await furnace(3, 'omega-cn7500');
    const faults: unknown[] = [];
    d.on('fault', (f) => faults.push(f));
    sim.breakSensor(true);
    try {
      const h = await waitForStatus(d, 'fault');
      assert.equal(h.fault, 'sensor break: PV reads error code 0x8003 (input sensor not connected)');
      assert.deepEqual(faults, [{ device: 'Furnace 3', fault: h.fault, critical: false }]);
      assert.deepEqual(((await d.execute('read', {}, ctx())) as { pv: unknown }).pv, null);
      await assert.rejects(d.execute('wait', { dwell: 0, timeout: 5 }, ctx()), /^WorkcellError: Furnace 3: wait: the controller reports a sensor break: PV reads error code 0x8003/);
    } finally {
      sim.breakSensor(false);
    }
    await waitForStatus(d, 'ready');
  });

  it('emits telemetry of PV, setpoint and output, and shows it in its status detail while ready', async () => {
    const d = await furnace(4, 'generic');
    const t = (await new Promise((resolve) => d.once('telemetry', resolve))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(t).sort(), ['device', 'kind', 'output', 'pv', 'setpoint', 'time', 'unit']);
    assert.equal(t.kind, 'furnace');
    await waitForStatus(d, 'ready', 2000, (h) => /^PV [\d.]+ SP [\d.]+ °C \d+%$/.test(h.detail));
  });

  it('a unit that answers as another controller is a fault naming the preset', async () => {
    const d = new FurnaceDevice({ name: 'Wrong', bus: env.bus, unitId: 4, preset: 'watlow-pm' });
    devices.push(d);
    const ready = waitForStatus(d, 'fault');
    await d.open();
    assert.match((await ready).detail, /^Wrong: unit 4 does not answer as a Watlow EZ-ZONE PM: .*exception 02, illegal data address/);
  });

  it('a unit whose controller is missing fails its session check while the bus works; once the controller answers, the device is ready', async () => {
    const d = new FurnaceDevice({ name: 'Nobody', bus: env.bus, unitId: 9, telemetryIntervalMs: 50 });
    devices.push(d);
    const fault = waitForStatus(d, 'fault');
    await d.open();
    assert.match((await fault).detail, /^Nobody: unit 9 does not answer as a generic controller: .*exception 0B/);
    env.sim.server.setUnit(9, new FurnaceSimulator({ preset: 'generic' }).slave);
    try {
      await waitForStatus(d, 'ready', 5000);
    } finally {
      env.sim.server.removeUnit(9);
    }
  });
});

describe('furnace driver over Modbus RTU on a pseudo-terminal', () => {
  it('omega-cn7500 end to end: session check, setpoint, ramp, read, stop', async () => {
    const pty = await openPtyPair();
    const sim = await startFurnaces([{ unitId: 5, preset: 'omega-cn7500', timeScale: 300 }], { rtu: { path: pty.a, baudRate: 115200 } });
    const bus = new ModbusBus(pty.b, { serial: { baudRate: 115200 }, timeoutMs: 300, reconnect: { minMs: 20, maxMs: 100 } });
    const d = await readyFurnace({ name: 'Kiln', bus, unitId: 5, preset: 'omega-cn7500' });
    try {
      const furnace = sim.furnaces.get(5)!;
      await d.execute('setpoint', { value: 100 }, ctx());
      assert.equal(furnace.model.target, 100);
      await d.execute('ramp', { to: 130, rate: 6000 }, ctx());
      assert.equal(furnace.model.target, 130);
      const r = (await d.execute('read', {}, ctx())) as { setpoint: number };
      assert.equal(r.setpoint, 130);
      await d.execute('stop', {}, ctx());
      assert.equal(furnace.model.running, false);
    } finally {
      await d.close();
      await sim.close();
      await pty.close();
    }
  });
});

describe('furnace driver: order of events', () => {
  it('the stop reads the working setpoint before anything queued behind it', async () => {
    const env = await startFurnaceBus([{ unitId: 1, preset: 'generic', timeScale: 300 }]);
    const d = await readyFurnace({ name: 'F', bus: env.bus, unitId: 1 });
    try {
      const stopped = d.writeStop(new EStop('test'));
      const read = d.execute('read', {}, ctx());
      assert.equal(await firstOf({ stopped, read }), 'stopped');
      await read;
    } finally {
      await d.close();
      await env.close();
    }
  });
});
