import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { LOG_LEVEL, LogRecorder } from '../support/node-red-log';
import { startFurnaces, type StartedFurnaces } from '../../lib/simulators/modbus/furnace';
import type { DeviceConfigNode } from '../../nodes/shared/device-nodes';
import type { ModbusConfigNode } from '../../nodes/shared/modbus-bus-node';

const furnaceNodes = require('../../nodes/furnace') as (red: unknown) => void;
const modbusNodes = require('../../nodes/modbus') as (red: unknown) => void;
const nodes = [...controlNodes, modbusNodes, furnaceNodes];

/** A cell with a furnace (Eurotherm preset, unit 3) on a simulated Modbus TCP bus; a sequence that sets its setpoint and ends. */
function flow(port: number, device: object = {}, extra: object[] = []): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell F', safeTimeout: '3', stopTimeout: '1' },
    { id: 'bus', type: 'workcell-modbus', name: 'Line', address: `tcp://127.0.0.1:${port}`, timeout: 300, backoffMin: '0.05', backoffMax: '0.2' },
    { id: 'oven', type: 'workcell-furnace-device', name: 'Oven', bus: 'bus', unitId: 3, preset: 'eurotherm-3216', maxSetpoint: 900, safeSetpoint: 30, telemetryInterval: '0.05', cell: 'cell', ...device },
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['setpoint'], ['outcome']] },
    { id: 'setpoint', type: 'workcell-furnace', z: 't1', name: 'heat', device: 'oven', operation: 'setpoint', params: { value: 100 }, wires: [['end', 'after']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'after', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    ...extra,
  ]);
}

async function ready(ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const devices = getCell('cell')?.devices ?? [];
    if (devices.length === 1 && devices[0].status === 'ready') return;
    if (Date.now() > deadline) throw new Error(`furnace not ready: ${JSON.stringify(devices.map((d) => [d.device, d.status, d.detail]))}`);
    await delay(10);
  }
}

describe('furnace nodes (workcell-furnace-device, workcell-furnace) in Node-RED against a simulated controller', () => {
  let sim: StartedFurnaces;

  before(async () => {
    sim = await startFurnaces([{ unitId: 3, preset: 'eurotherm-3216', timeScale: 300 }]);
  });
  after(() => sim.close());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('deploys; a message runs an operation as a step: the setpoint reaches the controller and the run completes; msg.operation runs another', async () => {
    await helper.load(nodes, flow(sim.port!));
    await ready();
    const furnace = sim.furnaces.get(3)!;
    const after = new Received(helper.getNode('after'));
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go' });
    assert.deepEqual((await after.nth(1)).payload, { setpoint: 100, unit: 'C' });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
    assert.equal(furnace.model.target, 100);
    assert.equal(furnace.eepromWrites, 0);
    helper.getNode('setpoint').receive({ operation: 'read' });
    const reading = (await after.nth(2)).payload as { setpoint: number; pv: number; unit: string };
    assert.equal(reading.setpoint, 100);
    assert.equal(reading.unit, 'C');
  });

  it('shows telemetry in the action node status while the furnace is ready', async () => {
    await helper.load(nodes, flow(sim.port!));
    await ready();
    const node = helper.getNode('setpoint');
    const texts: string[] = [];
    node.on('call:status', (call: { args: [{ text?: string }] }) => texts.push(call.args[0].text ?? ''));
    const deadline = Date.now() + 3000;
    while (!texts.some((t) => /^ready: PV [\d.]+ SP [\d.]+ °C \d+%$/.test(t))) {
      if (Date.now() > deadline) throw new Error(`no telemetry in the status: ${JSON.stringify(texts)}`);
      await delay(20);
    }
  });

  it('a ramp through a message shows its progress in the node status; the E-stop node aborts the run, and the furnace is held, then made safe', async () => {
    await helper.load(nodes, flow(sim.port!, {}, [
      { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [['stopped']] },
      { id: 'stopped', type: 'helper', z: 't1' },
    ]));
    await ready();
    const furnace = sim.furnaces.get(3)!;
    const node = helper.getNode('setpoint');
    const texts: string[] = [];
    node.on('call:status', (call: { args: [{ text?: string }] }) => texts.push(call.args[0].text ?? ''));
    const outcome = new Received(helper.getNode('outcome'));
    const stopped = new Received(helper.getNode('stopped'));
    helper.getNode('seq').receive({ payload: 'go', operation: 'ramp', params: { to: 800, rate: 300 } });
    const deadline = Date.now() + 5000;
    while (!texts.some((t) => /^\d+% ramp: SP [\d.]+ °C → 800 °C$/.test(t))) {
      if (Date.now() > deadline) throw new Error(`no ramp progress in the status: ${JSON.stringify(texts)}`);
      await delay(10);
    }
    helper.getNode('stop').receive({ payload: 'trip' });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'aborted');
    const report = ((await stopped.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['Oven', 'stopped', 'safe']]);
    assert.equal(furnace.model.target, 30, 'the safe setpoint');
    assert.equal(furnace.model.running, false, 'standby');
  });

  it('Node-RED stopping during a ramp: the furnace is held and made safe over its bus before the bus closes (the bus waits for its devices)', async () => {
    await helper.load(nodes, flow(sim.port!));
    await ready();
    const furnace = sim.furnaces.get(3)!;
    const bus = (helper.getNode('bus') as unknown as ModbusConfigNode).bus!;
    helper.getNode('seq').receive({ payload: 'go', operation: 'ramp', params: { to: 800, rate: 300 } });
    while (getCell('cell')?.activeRuns[0]?.step !== 'heat' || furnace.model.target <= 100) await delay(10);
    const log = new LogRecorder();
    try {
      // Not a deploy: the flows stop (as at shutdown), every node closes at once.
      await helper.unload();
    } finally {
      log.stop();
    }
    assert.equal(furnace.model.target, 30, 'the safe setpoint reached the controller');
    assert.equal(furnace.model.running, false, 'standby');
    assert.equal(bus.status, 'closed', 'then the bus closed');
    assert.deepEqual(log.fromNodes(LOG_LEVEL.warn), [], 'no device was left unsafe');
  });

  it('a setpoint above the limit reaches Catch nodes as a sentence; nothing was written', async () => {
    await helper.load(nodes, flow(sim.port!));
    await ready();
    const furnace = sim.furnaces.get(3)!;
    const writes = furnace.writeRequests;
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('setpoint').receive({ params: { value: 950 } });
    const err = (await caught.nth(1)).error as { message: string; source: { id: string } };
    assert.match(err.message, /Oven: setpoint refused: setpoint 950 \(number\) is outside the limit 0…900 °C; nothing was sent$/);
    assert.equal(err.source.id, 'setpoint');
    assert.equal(furnace.writeRequests, writes);
  });

  it('a bad configuration is refused at deploy: the action node says why and refuses its messages', async () => {
    await helper.load(nodes, flow(sim.port!, { minSetpoint: 500, maxSetpoint: 400 }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('setpoint').receive({ payload: 'x' });
    const err = (await caught.nth(1)).error as { message: string };
    assert.match(err.message, /no furnace device is configured for this node: .*highest setpoint \(400\) must be above the lowest \(500\)/);
    assert.equal(getCell('cell')?.devices.length ?? 0, 0);
  });

  it('a full deploy keeps an unchanged bus and its furnace connected; one that changes the bus gives the furnace a new driver on the new bus (never one left on a closed bus)', async () => {
    await helper.load(nodes, flow(sim.port!));
    await ready();
    const device = () => (helper.getNode('oven') as unknown as DeviceConfigNode).device;
    const bus = () => (helper.getNode('bus') as unknown as ModbusConfigNode).bus;
    const first = device();
    const firstBus = bus();
    // Only the action node changed: Node-RED restarts it alone.
    const renamed = flow(sim.port!).map((n) => ((n as { id: string }).id === 'setpoint' ? { ...n, name: 'heat up' } : n));
    await helper.setFlows(renamed, 'nodes');
    assert.equal(device(), first, 'the same driver');
    // A full deploy restarts every node: the bus node and the furnace's adopt what they had.
    await helper.setFlows(renamed, 'full');
    await ready();
    assert.equal(bus(), firstBus, 'the same bus, parked while the flows restarted');
    assert.equal(device(), first, 'the same driver, on the same bus');
    // The bus's configuration changed: a new bus, and a new driver on it.
    const slower = renamed.map((n) => ((n as { id: string }).id === 'bus' ? { ...n, timeout: 400 } : n));
    await helper.setFlows(slower, 'full');
    await ready();
    assert.notEqual(bus(), firstBus);
    assert.notEqual(device(), first, 'a new driver, on the new bus');
    assert.equal((firstBus as unknown as { status: string }).status, 'closed', 'the old bus is closed');
    const after = new Received(helper.getNode('after'));
    helper.getNode('setpoint').receive({ params: { value: 90 } });
    assert.deepEqual((await after.nth(1)).payload, { setpoint: 90, unit: 'C' });
  });

  it('a furnace whose bus node is missing is refused with a sentence naming it', async () => {
    await helper.load(nodes, flow(sim.port!, { bus: 'nope' }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('setpoint').receive({ payload: 'x' });
    const err = (await caught.nth(1)).error as { message: string };
    assert.match(err.message, /Oven: the Modbus bus node "nope" does not exist/);
  });
});
