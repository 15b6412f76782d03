import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, delay, loggedErrors } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { GrblSimulator, Realtime } from '../../lib/simulators/grbl';

const gantryNodes = require('../../nodes/gantry') as (red: unknown) => void;
const nodes = [...controlNodes, (gantryNodes as unknown as { default?: (red: unknown) => void }).default ?? gantryNodes];

/** A cell with a gantry on the simulator; a sequence that runs one gantry step and ends; an E-stop; a Catch node. */
function flow(port: number, step: object, device: object = {}): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell A', safeTimeout: '3', stopTimeout: '2' },
    {
      id: 'mill', type: 'workcell-gantry-device', name: 'Mill', address: `tcp://127.0.0.1:${port}`, pollInterval: '50',
      xMin: '-290', xMax: '0', yMin: '-290', yMax: '0', zMin: '', zMax: '', allowUnlock: false, safeSpindleOff: true, safeCoolantOff: true,
      estopHold: '0', cancelHold: '2000', programDir: '', cell: 'cell', safeGroup: '0', ownership: 'wait', critical: false,
      ...device,
    },
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['step'], ['outcome']] },
    { id: 'step', type: 'workcell-gantry', z: 't1', device: 'mill', ...step, wires: [['end', 'after']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'after', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [['stopped']] },
    { id: 'stopped', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ]);
}

async function gantryReady(ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const d = getCell('cell')?.devices.find((h) => h.device === 'Mill');
    if (d?.status === 'ready') return;
    if (Date.now() > deadline) throw new Error(`gantry not ready: ${JSON.stringify(d)}`);
    await delay(10);
  }
}

describe('gantry nodes (workcell-gantry-device, workcell-gantry) against the GRBL simulator', function () {
  this.timeout(30_000);
  let sim: GrblSimulator;
  let port: number;

  beforeEach(async () => {
    // Homing disabled: the controller starts unlocked, so a flow can move at once.
    sim = new GrblSimulator({ timeScale: 10, homingEnabled: false });
    port = (await sim.listen({ port: 0 })).port;
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    await sim.close();
  });

  it("a gantry whose emergency-stop hold is not well below the cell's stop timeout is refused at deploy with a sentence, not connected, and its steps fail their run", async () => {
    let attached = 0;
    sim.on('attach', () => attached++);
    await helper.load(nodes, flow(port, { operation: 'move', params: { feed: 3000, x: -10 } }, { estopHold: '800' }));
    const errors = loggedErrors();
    assert.ok(
      errors.some((m: string) => /Mill: its stop takes up to 1300 ms by design \(its emergency-stop hold of 800 ms, then GRBL's 500 ms pause after the alarm before the banner that acknowledges the stop\), which is not well below the stop timeout of cell "Cell A" \(2000 ms\)/.test(m)),
      errors.join('\n'),
    );
    assert.deepEqual(getCell('cell')!.devices, [], 'the gantry is not in the cell');
    await delay(100);
    assert.equal(attached, 0, 'the gantry was not connected');
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go' });
    const o = (await outcome.nth(1)).payload as { outcome: string; error: string };
    assert.equal(o.outcome, 'failed');
    assert.match(o.error, /not well below the stop timeout/);
  });

  it('sequence → gantry move → sequence end: the position is on msg.payload and the run completes', async () => {
    await helper.load(nodes, flow(port, { operation: 'move', params: { feed: 3000 } }));
    await gantryReady();
    const outcome = new Received(helper.getNode('outcome'));
    const after = new Received(helper.getNode('after'));
    helper.getNode('seq').receive({ payload: 'go', params: { x: -40, y: -25 } });
    assert.deepEqual((await after.nth(1)).payload, { state: 'Idle', machine: { x: -40, y: -25, z: 0 }, work: { x: -40, y: -25, z: 0 } });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
    assert.deepEqual(sim.machinePosition, { x: -40, y: -25, z: 0 });
  });

  it('the node status reads "alarm — home with $H" while GRBL is locked (not "ready"), and "ready: Idle" once homed', async () => {
    await sim.close();
    sim = new GrblSimulator({ timeScale: 10 }); // homing enabled: GRBL boots locked
    port = (await sim.listen({ port: 0 })).port;
    await helper.load(nodes, flow(port, { operation: 'home', params: {} }));
    const statuses: { fill?: string; shape?: string; text?: string }[] = [];
    helper.getNode('step').on('call:status', (call: { args: [{ fill?: string; shape?: string; text?: string }] }) => statuses.push(call.args[0]));
    await gantryReady();
    const shows = async (text: string) => {
      const deadline = Date.now() + 5000;
      while (statuses.at(-1)?.text !== text) {
        if (Date.now() > deadline) throw new Error(`the node status did not read ${JSON.stringify(text)}: ${JSON.stringify(statuses)}`);
        await delay(10);
      }
      return statuses.at(-1)!;
    };
    assert.deepEqual(await shows('alarm — home with $H'), { fill: 'yellow', shape: 'ring', text: 'alarm — home with $H' });
    assert.ok(!statuses.some((s) => s.text?.startsWith('ready')), JSON.stringify(statuses));
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go' });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
    // Its step over, the node shows the health quietly (a ring).
    assert.deepEqual(await shows('ready: Idle'), { fill: 'green', shape: 'ring', text: 'ready: Idle' });
  });

  it('a target outside the soft limits reaches Catch as a sentence, and nothing is sent', async () => {
    await helper.load(nodes, flow(port, { operation: 'move', params: { feed: 3000 } }));
    await gantryReady();
    const lines: string[] = [];
    sim.on('line', (l: string) => lines.push(l));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 'go', params: { x: -400 } });
    const err = (await caught.nth(1)).error as { message: string };
    assert.match(err.message, /Mill: move refused: the X target \(machine coordinates\) -400 \(number\) is outside the limit -290 to 0 mm; nothing was sent/);
    assert.deepEqual(lines, []);
  });

  it('an E-stop while a program streams: run aborted, motion halted with ALARM:3, position untrusted, progress shown', async () => {
    const program = ['G90 G1 F1200', ...Array.from({ length: 40 }, (_, i) => `G1 X${-(i + 1) * 5} Y-10`)].join('\n');
    await helper.load(nodes, flow(port, { operation: 'program', params: {} }));
    await gantryReady();
    const outcome = new Received(helper.getNode('outcome'));
    const stopped = new Received(helper.getNode('stopped'));
    const statuses: { text?: string }[] = [];
    helper.getNode('step').on('call:status', (call: { args: [{ text?: string }] }) => statuses.push(call.args[0]));
    helper.getNode('seq').receive({ payload: 'go', params: { gcode: program } });
    const deadline = Date.now() + 5000;
    while (sim.executedLines.filter((l) => l.startsWith('G1X')).length < 4) {
      if (Date.now() > deadline) throw new Error('the program did not start');
      await delay(5);
    }
    helper.getNode('stop').receive({ payload: 'trip' });
    const o = (await outcome.nth(1)).payload as { outcome: string; step: string };
    assert.equal(o.outcome, 'aborted');
    assert.equal(o.step, 'Mill: program');
    const report = ((await stopped.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['Mill', 'stopped', 'safe']]);
    assert.equal(sim.alarm, 3);
    assert.ok(sim.receivedRealtime.some((r) => r.byte === Realtime.Reset));
    const x = sim.machinePosition.x;
    assert.ok(x < 0 && x > -200, `halted mid-program at X ${x}`);
    assert.ok(statuses.some((s) => /^\d+% line \d+\/41$/.test(s.text ?? '')), `progress in the node status: ${JSON.stringify(statuses.map((s) => s.text))}`);
    const health = getCell('cell')!.devices.find((d) => d.device === 'Mill')!;
    assert.equal(health.positionTrusted, false);
  });
});
