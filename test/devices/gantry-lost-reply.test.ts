import assert from 'node:assert/strict';
import type { GrblGantry } from '../../lib/devices/gantry';
import type { GrblSimulator } from '../../lib/simulators/grbl';
import { readyGantry, segments, startRelay, startSim, type Relay } from './gantry-fixtures';

const run = (g: GrblGantry, operation: string, params: Record<string, unknown> = {}) => g.execute(operation, params, { signal: new AbortController().signal });

describe('GRBL gantry driver: a reply lost on the wire does not stall a step (GRBL 1.1h simulator over TCP)', function () {
  this.timeout(30_000);
  let sim: GrblSimulator;
  let relay: Relay;
  let g: GrblGantry;

  beforeEach(async () => {
    const started = await startSim();
    sim = started.sim;
    relay = await startRelay(started.address);
    g = await readyGantry({ name: 'Mill', address: relay.address });
    await run(g, 'home');
  });
  afterEach(async () => {
    await g.close();
    await relay.close();
    await sim.close();
  });

  it('an ok lost during a program: the step fails naming the line still owed its reply once GRBL shows nothing left to run; the next step works', async () => {
    relay.dropOk(30);
    await assert.rejects(run(g, 'program', { gcode: segments(60, -1, -0.5, 6000) }), {
      code: 'reply-lost',
      message: 'Mill: program failed: the reply to line 61 "G1X-31.000Y-10" never came: GRBL has been idle with nothing left to run for 2000 ms (an ok lost on the wire); the step is not confirmed',
    });
    assert.ok(relay.timeline.includes('(lost on the wire)'));
    assert.ok(sim.executedLines.includes('G1X-31.000Y-10'), 'GRBL ran the program to its end');
    assert.equal(g.positionTrusted, true, 'nothing was stopped');
    assert.equal(sim.receivedRealtime.filter((r) => r.name !== 'StatusReport').length, 0, 'no stop was written');
    const moved = (await run(g, 'move', { x: -5, feed: 3000 })) as { machine: unknown };
    assert.deepEqual(moved.machine, { x: -5, y: -10, z: -1 }, 'the replies are matched to their lines again');
  });

  it('the ok of a move\'s G4 P0 lost: the move fails naming "G4 P0"', async () => {
    relay.dropOk(2); // the move line's ok, then G4 P0's
    await assert.rejects(run(g, 'move', { x: -40, feed: 3000 }), {
      code: 'reply-lost',
      message: 'Mill: move failed: the reply to "G4 P0" never came: GRBL has been idle with nothing left to run for 2000 ms (an ok lost on the wire); the step is not confirmed',
    });
    assert.deepEqual(sim.machinePosition, { x: -40, y: -1, z: -1 });
    await run(g, 'move', { x: -10, feed: 3000 });
    assert.deepEqual(sim.machinePosition, { x: -10, y: -1, z: -1 });
  });

  it('a machine still moving, or dwelling longer than the bound, is not a lost reply: the steps complete', async () => {
    // 250 mm at 600 mm/min: 2.5 s of real time at the simulator's 10x, in Run throughout.
    const moved = (await run(g, 'move', { x: -250, feed: 600 })) as { machine: unknown };
    assert.deepEqual(moved.machine, { x: -250, y: -1, z: -1 });
    // G4 P30: 3 s of real time at 10x, reported Idle with nothing in the planner.
    const dwelt = (await run(g, 'program', { gcode: 'G4 P30\nG1 X-240 F3000' })) as { lines: number; machine: unknown };
    assert.deepEqual(dwelt, { lines: 2, state: 'Idle', machine: { x: -240, y: -1, z: -1 }, work: { x: -240, y: -1, z: -1 } });
  });
});
