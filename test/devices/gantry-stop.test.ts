import assert from 'node:assert/strict';
import { EStop } from '../../lib';
import { GrblGantry, type GrblGantryOptions } from '../../lib/devices/gantry';
import { Realtime, type GrblSimulator, type GrblSimulatorOptions } from '../../lib/simulators/grbl';
import { REALTIME_NAMES, owedStopAcknowledged, readyGantry, startSim, tokens, transcript, until, waitForStatus } from './gantry-fixtures';

/** The run of `move` the tests stop: long, at a feed the hold takes a while to absorb. */
const longMove = { x: -250, feed: 3000 };

describe('GRBL gantry driver: the stop path (GRBL 1.1h simulator over TCP)', function () {
  this.timeout(30_000);
  let sim: GrblSimulator;
  let address: string;
  const opened: GrblGantry[] = [];

  async function start(options: GrblSimulatorOptions = {}): Promise<void> {
    ({ sim, address } = await startSim(options));
  }
  async function gantry(options: Partial<GrblGantryOptions> = {}): Promise<GrblGantry> {
    const g = await readyGantry({ name: 'Mill', address, ...options });
    opened.push(g);
    return g;
  }
  const run = (g: GrblGantry, operation: string, params: Record<string, unknown> = {}) =>
    g.execute(operation, params, { signal: new AbortController().signal });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((g) => g.close()));
    await sim?.close();
  });

  describe('pause and resume racing a stop', () => {
    // The feed hold takes about a second of real time to absorb 3000 mm/min (5 mm/s², 10× time).
    const slowHold: GrblSimulatorOptions = { acceleration: 5 };

    /** Streams the long move, holds it, and starts `resume` while GRBL still decelerates (Hold:1). */
    async function resumeDuringHold(g: GrblGantry, signal: AbortSignal): Promise<{ resuming: Promise<unknown>; order: string[] }> {
      const order: string[] = [];
      sim.on('realtime', (byte: number) => byte !== Realtime.StatusReport && order.push(REALTIME_NAMES[byte] ?? String(byte)));
      sim.on('motion-start', () => order.push('motion-start'));
      const moving = run(g, 'move', longMove);
      moving.catch(() => undefined);
      await until(() => sim.state === 'Run' && sim.machinePosition.x < -10, 'motion');
      await g.pause(new AbortController().signal).catch(() => undefined);
      await until(() => sim.state === 'Hold:1', 'the hold decelerating');
      const resuming = g.resume(signal).then(() => 'resumed', (err: Error) => err);
      return { resuming, order };
    }

    it('a stop begun while resume waits for the hold: no ~ ever reaches GRBL, the machine stays stopped, resume says why', async () => {
      await start(slowHold);
      const g = await gantry({ estopHoldMs: 5000, softLimits: {} });
      await run(g, 'home');
      const { resuming, order } = await resumeDuringHold(g, new AbortController().signal);
      // The stop lets the hold finish (estopHoldMs) before its reset: the window where a
      // resume that had waited for Hold:0 used to write its ~.
      const stopped = g.stop(new EStop('test'));
      assert.equal(sim.state, 'Hold:1', 'the stop began during the deceleration');
      await stopped;
      const outcome = await resuming;
      assert.ok(outcome instanceof Error, `resume did not resume (${String(outcome)})`);
      assert.equal(outcome.message, 'Mill: resume abandoned: a stop began on the device; cycle start (~) not sent');
      assert.deepEqual(order.filter((t) => t !== 'motion-start'), ['!', '!', 'reset'], 'feed hold, the stop\'s feed hold, its reset; no ~');
      assert.ok(!order.slice(order.indexOf('!')).includes('motion-start'), 'no motion block started after the hold');
      assert.equal(sim.state, 'Idle', 'reset at rest: no alarm');
      const x = sim.machinePosition.x;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(sim.machinePosition.x, x, 'nothing moves afterwards');
    });

    it('when the cell\'s signal fires, resume settles at once with its reason and writes nothing', async () => {
      await start(slowHold);
      const g = await gantry({ estopHoldMs: 5000, softLimits: {} });
      await run(g, 'home');
      const trip = new AbortController();
      const { resuming, order } = await resumeDuringHold(g, trip.signal);
      const events: string[] = [];
      void resuming.then((outcome) => events.push(outcome instanceof EStop ? 'resume rejected with the trip' : `resume: ${String(outcome)}`));
      setImmediate(() => events.push('next turn'));
      const reason = new EStop('test');
      trip.abort(reason);
      const stopped = g.stop(reason);
      await resuming;
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(events, ['resume rejected with the trip', 'next turn']);
      await stopped;
      assert.deepEqual(order.filter((t) => t !== 'motion-start'), ['!', '!', 'reset']);
      assert.ok(!order.slice(order.indexOf('!')).includes('motion-start'), 'no motion block started after the hold');
    });

    it('while a stop sequence is under way, pause and resume write nothing and say why', async () => {
      await start(slowHold);
      const g = await gantry({ estopHoldMs: 5000, softLimits: {} });
      await run(g, 'home');
      const moving = run(g, 'move', longMove);
      moving.catch(() => undefined);
      await until(() => sim.state === 'Run' && sim.machinePosition.x < -10, 'motion');
      const stopped = g.stop(new EStop('test'));
      const fresh = new AbortController().signal;
      await assert.rejects(g.pause(fresh), { message: 'Mill: pause abandoned: a stop sequence is under way; feed hold (!) not sent' });
      await assert.rejects(g.resume(fresh), { message: 'Mill: resume abandoned: a stop sequence is under way; cycle start (~) not sent' });
      await stopped;
      assert.deepEqual(sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport).map((r) => REALTIME_NAMES[r.byte]), ['!', 'reset']);
    });

    it('when the link drops while resume waits for the hold, no ~ goes out on the new connection', async () => {
      await start(slowHold);
      const g = await gantry({ softLimits: {} });
      await run(g, 'home');
      const connections = transcript(sim);
      const { resuming } = await resumeDuringHold(g, new AbortController().signal);
      sim.dropClients();
      const outcome = await resuming;
      assert.ok(outcome instanceof Error, String(outcome));
      assert.equal(outcome.message, 'Mill: resume abandoned: the link dropped (GRBL was reset); cycle start (~) not sent');
      await waitForStatus(g, 'ready');
      assert.equal(connections.length, 1);
      assert.ok(!tokens(connections[0]).includes('~'), JSON.stringify(tokens(connections[0])));
    });

    it('pause waiting for a jog to wind down settles at once with the signal\'s reason when it fires', async () => {
      await start(slowHold);
      const g = await gantry({ softLimits: {} });
      await run(g, 'home');
      const jogging = g.execute('jog', { x: -200, feed: 3000 }, { signal: new AbortController().signal });
      jogging.catch(() => undefined);
      await until(() => sim.state === 'Jog' && sim.machinePosition.x < -10, 'jogging');
      const trip = new AbortController();
      const events: string[] = [];
      const pausing = g.pause(trip.signal).then(() => events.push('paused'), (err: unknown) => events.push(err instanceof EStop ? 'pause rejected with the trip' : String(err)));
      await until(() => sim.receivedRealtime.some((r) => r.byte === Realtime.FeedHold), 'the feed hold');
      assert.equal(sim.state, 'Jog', 'GRBL still winds the jog down');
      setImmediate(() => events.push('next turn'));
      trip.abort(new EStop('test'));
      await pausing;
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(events, ['pause rejected with the trip', 'next turn']);
    });

    it('pause with a signal that has already fired writes no feed hold', async () => {
      await start();
      const g = await gantry();
      const trip = new AbortController();
      trip.abort(new EStop('test'));
      await assert.rejects(g.pause(trip.signal), EStop);
      await assert.rejects(g.resume(trip.signal), EStop);
      assert.deepEqual(sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport), []);
    });
  });

  describe('an owed stop', () => {
    it('is written first thing when the link returns, before any status poll; the banner after its reset acknowledges it (\'owed-stop\')', async () => {
      // A bridge that keeps the serial port open: the controller runs on while the link is down.
      await start({ resetOnAttach: false, homingEnabled: false, softLimits: undefined });
      const g = await gantry({ softLimits: {} });
      const connections = transcript(sim);
      const port = Number(/:(\d+)$/.exec(address)![1]);
      const moving = run(g, 'move', longMove);
      moving.catch(() => undefined);
      await until(() => sim.state === 'Run', 'motion');
      const lost = waitForStatus(g, 'disconnected');
      await sim.close();
      await lost;
      const order: string[] = [];
      const stopNow = g.stop(new EStop('test')).then(() => order.push('resolved'), (err: Error) => order.push(err.message));
      setImmediate(() => order.push('next turn'));
      await stopNow;
      await new Promise((r) => setImmediate(r));
      assert.equal(order.length, 2);
      assert.match(order[0], /^Mill: cannot stop: not connected \(tcp:\/\/127\.0\.0\.1:\d+ is (reconnecting|connecting)(: .+)?\)$/);
      assert.equal(order[1], 'next turn', 'the stop failed at once');

      g.oweStop(new EStop('test'));
      const events: string[] = [];
      // 'owed-stop' carries the acknowledgement's promise.
      const owed = new Promise<void>((resolve, reject) => g.once('owed-stop', (ack: Promise<void>) => ack.then(() => resolve(void events.push('acknowledged')), reject)));
      g.on('health', (h: { status: string }) => h.status === 'ready' && events.push('ready'));
      await sim.listen({ port });
      await owed;
      await waitForStatus(g, 'ready');
      assert.deepEqual(events.slice(0, 2), ['acknowledged', 'ready'], 'ready only once the owed stop has settled');
      assert.equal(g.owesStop, true, 'the debt is the cell\'s to clear');
      assert.equal(connections.length, 1);
      assert.deepEqual(tokens(connections[0]).slice(0, 2), ['!', 'reset'], 'the stop frame came first');
      assert.equal(sim.state, 'Alarm', 'the reset caught the machine in motion');
      assert.equal(sim.alarm, 3);
      assert.equal(g.positionTrusted, false);
      g.clearOwedStop();

      // Owing nothing: a reconnect writes no stop.
      const lostAgain = waitForStatus(g, 'disconnected');
      sim.dropClients();
      await lostAgain;
      await waitForStatus(g, 'ready');
      assert.equal(connections.length, 2);
      assert.ok(!tokens(connections[1]).some((t) => t === '!' || t === 'reset'), `no stop frame: ${JSON.stringify(tokens(connections[1]))}`);
      assert.equal(tokens(connections[1])[0], '?');
    });

    it('on a board that resets when the port opens, the owed stop still goes first and is acknowledged; the device gets ready', async () => {
      await start();
      const g = await gantry();
      const connections = transcript(sim);
      const lost = waitForStatus(g, 'disconnected');
      sim.dropClients();
      await lost;
      g.oweStop(new EStop('test'));
      const owed = owedStopAcknowledged(g);
      await owed;
      await waitForStatus(g, 'ready');
      assert.deepEqual(tokens(connections[0]).slice(0, 2), ['!', 'reset']);
      await run(g, 'home');
      assert.equal(g.positionTrusted, true);
    });
  });

  describe('the link dropping mid-stop', () => {
    it('during the feed hold: the stop rejects at once, saying the link dropped, while the machine still decelerates', async () => {
      await start({ acceleration: 5 });
      const g = await gantry({ estopHoldMs: 60_000, reconnect: false, softLimits: {} });
      await run(g, 'home');
      const moving = run(g, 'move', longMove);
      moving.catch(() => undefined);
      await until(() => sim.state === 'Run' && sim.machinePosition.x < -10, 'motion');
      let stateAtRejection = '';
      const stopped = g.stop(new EStop('test')).catch((err: Error) => {
        stateAtRejection = sim.state;
        return err;
      });
      await until(() => sim.state === 'Hold:1', 'the hold decelerating');
      sim.dropClients();
      const err = await stopped;
      assert.ok(err instanceof Error);
      assert.match(err.message, /^Mill: stop failed: the link dropped during the feed hold, before the soft reset \(tcp:\/\/127\.0\.0\.1:\d+: .+\)$/);
      assert.equal(stateAtRejection, 'Hold:1', 'rejected while the machine was still decelerating, not after the 60 s hold');
    });

    it('between the reset and its banner: the stop rejects at once, saying the link dropped, before GRBL could print the banner', async () => {
      await start();
      const g = await gantry({ reconnect: false });
      await run(g, 'home');
      const moving = run(g, 'move', longMove);
      moving.catch(() => undefined);
      await until(() => sim.state === 'Run', 'motion');
      const order: string[] = [];
      sim.on('alarm', () => {
        order.push('ALARM');
        sim.dropClients();
      });
      sim.on('reset', () => order.push('banner'));
      const err = await g.stop(new EStop('test')).then(() => undefined, (e: Error) => e);
      order.push('rejected');
      assert.ok(err instanceof Error);
      assert.match(err.message, /^Mill: stop failed: the link dropped before GRBL acknowledged the soft reset \(tcp:\/\/127\.0\.0\.1:\d+: .+\)$/);
      assert.deepEqual(order, ['ALARM', 'rejected'], 'rejected during the 500 ms GRBL waits after ALARM:3, before its banner');
    });
  });

  it("declares its emergency-stop hold plus GRBL's 500 ms alarm pause as its stop bound", () => {
    assert.equal(new GrblGantry({ name: 'Mill', address: 'tcp://127.0.0.1:1' }).stopBoundMs, 500);
    assert.equal(new GrblGantry({ name: 'Mill', address: 'tcp://127.0.0.1:1', estopHoldMs: 1500 }).stopBoundMs, 2000);
  });
});
