import assert from 'node:assert/strict';
import * as net from 'node:net';
import { EStop } from '../../lib';
import {
  GrblLink, LOST_REPLY_MS, StatusMonitor, StopSequence, classifyPushedLine, dwellOf, gantryConnection, parseStatusReport, type GrblStatus, type LostReply,
  type OwedReply,
} from '../../lib/devices/gantry';
import type { LineConnection } from '../../lib/io';
import { Realtime, type GrblSimulator } from '../../lib/simulators/grbl';
import { REALTIME_NAMES, startRelay, startSim, tokens, until } from './gantry-fixtures';

/**
 * The driver's parts on a live link, with no device: a GRBL connection cut into sessions, a
 * status monitor fed the reports, a stop sequence told of the banners. This is the wiring the
 * device's controller watch does; the parts are tested through it.
 */
interface Parts {
  connection: LineConnection;
  link: GrblLink;
  monitor: StatusMonitor;
  stops: StopSequence;
  /** The host's count of stops begun (the device's `stopCount`). */
  stopsBegun: { count: number };
  /** What `bannerArrived` said of each banner: whether the driver expected it. */
  banners: boolean[];
  /** The outcome of each reset after a hard or soft limit (`criticalAlarm`): undefined, or its error. */
  locks: Promise<unknown>[];
  close(): Promise<void>;
}

async function partsOn(address: string, pollIntervalMs = 50): Promise<Parts> {
  const connection = gantryConnection(address, { reconnect: false });
  const link = new GrblLink(connection, 'Mill');
  const monitor = new StatusMonitor(connection, 'Mill', pollIntervalMs);
  const stopsBegun = { count: 0 };
  const banners: boolean[] = [];
  const locks: Promise<unknown>[] = [];
  const stops = new StopSequence({
    name: 'Mill',
    link: connection,
    monitor,
    session: () => link.session,
    linkDropped: (phase) => link.linkDropped(phase),
    stopsBegun: () => stopsBegun.count,
  });
  link.on('pushed', (line) => {
    if (line.kind === 'status') {
      const status = monitor.parse(line.text);
      if (status) monitor.accept(status);
    } else if (line.kind === 'banner') {
      connection.discardPendingReplies('GRBL was reset');
      banners.push(stops.bannerArrived());
    } else if (line.kind === 'alarm' && (line.code === 1 || line.code === 2)) {
      locks.push(stops.criticalAlarm(line.code).then(() => undefined, (err: unknown) => err));
    } else if (line.kind === 'reset-to-continue') {
      stops.resetPrompted();
    }
  });
  link.on('session-end', () => stops.linkEnded(link.linkDropped('before GRBL acknowledged the soft reset')));
  connection.open();
  await connection.waitConnected();
  return {
    connection, link, monitor, stops, stopsBegun, banners, locks,
    close: async () => {
      monitor.stop();
      await connection.close();
    },
  };
}

/** Starts a move on an unlocked machine and waits until it runs past `x`. */
async function moving(p: Parts, sim: GrblSimulator, x = -10): Promise<void> {
  await p.connection.request('G1 X-250 F3000');
  await until(() => sim.state === 'Run' && sim.machinePosition.x < x, 'motion');
}

const realtime = (sim: GrblSimulator) => sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport).map((r) => REALTIME_NAMES[r.byte]);

describe('the GRBL driver\'s parts without a device (GRBL 1.1h simulator over TCP)', function () {
  this.timeout(20_000);
  let sim: GrblSimulator;
  let parts: Parts;

  beforeEach(async () => {
    const started = await startSim({ homingEnabled: false, softLimits: undefined, resetOnAttach: false });
    sim = started.sim;
    parts = await partsOn(started.address);
  });
  afterEach(async () => {
    await parts.close();
    await sim.close();
  });

  describe('the link', () => {
    it('classifies what GRBL pushes: reports, banner, alarms, the reset prompt, feedback, echoes, stray replies, and lines GRBL does not send', () => {
      assert.deepEqual(classifyPushedLine('<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r'), { kind: 'status', text: '<Idle|MPos:0.000,0.000,0.000|FS:0,0>' });
      assert.deepEqual(classifyPushedLine("Grbl 1.1h ['$' for help]"), { kind: 'banner', firmware: 'Grbl', version: '1.1h' });
      assert.deepEqual(classifyPushedLine('ALARM:2'), { kind: 'alarm', code: 2 });
      assert.deepEqual(classifyPushedLine('[MSG:Reset to continue]'), { kind: 'reset-to-continue' });
      assert.deepEqual(classifyPushedLine("[MSG:'$H'|'$X' to unlock]"), { kind: 'feedback', text: "[MSG:'$H'|'$X' to unlock]" });
      assert.deepEqual(classifyPushedLine('$110=5000.000'), { kind: 'echo', text: '$110=5000.000' });
      assert.deepEqual(classifyPushedLine('>G54:ok'), { kind: 'echo', text: '>G54:ok' });
      assert.deepEqual(classifyPushedLine('ok'), { kind: 'stray-reply', text: 'ok' });
      assert.deepEqual(classifyPushedLine('error:9'), { kind: 'stray-reply', text: 'error:9' });
      assert.deepEqual(classifyPushedLine('hello'), { kind: 'unknown', text: 'hello' });
      assert.deepEqual(classifyPushedLine('  \r'), { kind: 'empty' });
    });

    it('cuts the connection into sessions: a session\'s signal fires with a sentence when the link drops', async () => {
      const session = parts.link.session;
      assert.ok(session && !session.signal.aborted);
      const ended = new Promise<string>((resolve) => parts.link.once('session-end', resolve));
      sim.dropClients();
      const why = await ended;
      assert.match(why, /^tcp:\/\/127\.0\.0\.1:\d+: /);
      assert.equal(parts.link.session, undefined);
      assert.match(String((session.signal.reason as Error).message), /^Mill: the link to GRBL dropped \(tcp:\/\/127\.0\.0\.1:\d+: .+\)$/);
      assert.match(parts.link.linkDropped('during the feed hold').message, /^Mill: stop failed: the link dropped during the feed hold \(tcp:/);
    });

    it('counts the lines owed a reply, oldest first, with the dwell they may take', async () => {
      assert.equal(parts.link.oldestOwed(), undefined);
      const signal = new AbortController().signal;
      const dwell = parts.link.request('G4 P0.3', { signal, timeoutMs: 5000 });
      const move = parts.link.request('G1X-5F3000', { signal, timeoutMs: 5000 }, 'line 2 "G1X-5F3000"');
      assert.deepEqual(parts.link.oldestOwed(), { oldest: { label: '"G4 P0.3"', dwellMs: 300 }, dwellMs: 300 });
      await dwell;
      assert.equal(parts.link.oldestOwed()?.oldest.label, 'line 2 "G1X-5F3000"');
      await move;
      assert.equal(parts.link.oldestOwed(), undefined);
      assert.deepEqual(['G4 P2', 'G4P0.5', 'g04 p1', 'G1 X4 P2', 'G40', 'M3 S1000'].map(dwellOf), [2000, 500, 1000, 0, 0, 0]);
    });

    it('a command answered error:N is a GrblCommandError naming the device, the operation and the line', async () => {
      await assert.rejects(parts.link.command('move', 'G1 X1 Q3', new AbortController().signal, false, 5000), {
        name: 'GrblCommandError',
        message: 'Mill: move refused by GRBL: error:20 — unsupported or invalid G-code command in the block (line "G1 X1 Q3")',
      });
    });
  });

  describe('the status monitor', () => {
    it('asks ? and resolves with the next report; keeps the work offset for the reports that do not carry it', async () => {
      const before = sim.receivedRealtime.filter((r) => r.byte === Realtime.StatusReport).length;
      await parts.connection.request('G10 L20 P1 X5');
      const report = await parts.monitor.nextStatus();
      assert.ok(sim.receivedRealtime.filter((r) => r.byte === Realtime.StatusReport).length > before, 'a ? was written');
      assert.equal(report.state, 'Idle');
      assert.equal(parts.monitor.last, report);
      await until(() => parts.monitor.wco !== undefined, 'a report with WCO');
      assert.deepEqual(parts.monitor.wco, { x: -5, y: 0, z: 0 });
      const withoutWco = parts.monitor.parse('<Idle|MPos:-10.000,0.000,0.000|FS:0,0>');
      assert.deepEqual(withoutWco?.work, { x: -5, y: 0, z: 0 }, 'the work position comes from the known offset');
      parts.monitor.forgetWco();
      assert.equal(parts.monitor.parse('<Idle|MPos:-10.000,0.000,0.000|FS:0,0>')?.work, undefined);
    });

    it('waits for a report that satisfies a condition, and fails after its bound naming the state GRBL is in', async () => {
      await parts.connection.request('G1 X-60 F3000');
      const end = await parts.monitor.waitFor((s) => s.state === 'Idle' && s.machine?.x === -60, 10_000);
      assert.deepEqual(end.machine, { x: -60, y: 0, z: 0 });
      await parts.connection.request('G1 X-250 F600');
      await assert.rejects(parts.monitor.waitFor((s) => s.state === 'Idle', 100), { message: 'Mill: GRBL did not reach the expected state within 100 ms (it is Run)' });
    });

    it('polls every period once started, and writes no ? once stopped', async () => {
      const polls = () => sim.receivedRealtime.filter((r) => r.byte === Realtime.StatusReport).length;
      const start = polls();
      parts.monitor.start();
      await until(() => polls() >= start + 3, 'three polls');
      parts.monitor.stop();
      const stopped = polls();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(polls(), stopped);
    });

    it('publishes readings only when they change', () => {
      const report = (text: string) => parseStatusReport(text) as GrblStatus;
      const first = parts.monitor.changedReadings(report('<Idle|MPos:1.000,2.000,3.000|FS:0,0>'));
      assert.deepEqual(first, { state: 'Idle', machine: { x: 1, y: 2, z: 3 }, work: null, feed: 0, spindle: 0 });
      assert.equal(parts.monitor.changedReadings(report('<Idle|MPos:1.000,2.000,3.000|FS:0,0|Bf:15,128>')), undefined);
      assert.equal(parts.monitor.changedReadings(report('<Run|MPos:1.000,2.000,3.000|FS:100,0>'))?.state, 'Run');
    });

    it('while GRBL is silenced every wait for a report rejects at once with why, those in progress too; then it answers again', async () => {
      await parts.connection.request('G1 X-250 F600');
      const waiting = parts.monitor.waitFor((s) => s.state === 'Idle', 10_000);
      const why = 'Mill: GRBL is waiting for a reset after ALARM:2 (soft limit) and answers no status request until it has taken one';
      parts.monitor.silence(why);
      await assert.rejects(waiting, { code: 'grbl-locked', message: why });
      await assert.rejects(parts.monitor.nextStatus(), { code: 'grbl-locked', message: why });
      parts.monitor.silence(undefined);
      assert.equal((await parts.monitor.nextStatus()).state, 'Run');
    });

    it('takes a reply as lost once GRBL has shown nothing left to do for the bound while the same line stayed owed, not while it moves', async () => {
      parts.monitor.start();
      const owed: OwedReply = { label: '"G4 P0"', dwellMs: 0 };
      const lost: { at: string; lost: LostReply }[] = [];
      await parts.connection.request('G1 X-60 F600'); // 0.6 s of real time in Run
      const stop = parts.monitor.watchReplies(() => ({ oldest: owed, dwellMs: 0 }), (l) => lost.push({ at: sim.state, lost: l }));
      await until(() => sim.state === 'Idle', 'the motion to end', 10_000);
      assert.deepEqual(lost, [], 'not while it moved');
      await until(() => lost.length > 0, 'the lost reply', 10_000);
      stop();
      assert.deepEqual(lost, [{ at: 'Idle', lost: { owed, boundMs: LOST_REPLY_MS } }]);
    });

    it('rejects naming the device when no report comes within the bound', async () => {
      const silent = net.createServer((socket) => socket.on('data', () => undefined));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
      const quiet = await partsOn(`tcp://127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
      try {
        await assert.rejects(quiet.monitor.nextStatus(undefined, 300), { code: 'no-status', message: 'Mill: GRBL sent no status report within 300 ms' });
      } finally {
        await quiet.close();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  });

  describe('the stop sequence', () => {
    it('with no hold: feed hold and soft reset in one write; resolves at the banner, after GRBL\'s ALARM:3', async () => {
      const chunks: Buffer[] = [];
      sim.on('received', (bytes: Buffer) => chunks.push(bytes));
      await moving(parts, sim);
      const order: string[] = [];
      sim.on('alarm', (code: number) => order.push(`ALARM:${code}`));
      sim.on('reset', () => order.push('banner'));
      await parts.stops.haltAndReset(0, false).then(() => order.push('resolved'));
      assert.deepEqual(order, ['ALARM:3', 'banner', 'resolved']);
      assert.ok(chunks.some((c) => c.equals(Buffer.from([Realtime.FeedHold, Realtime.Reset]))), `one write: ${JSON.stringify(tokens(chunks))}`);
    });

    it('with a hold: the reset waits until the machine is at rest (no alarm, the position kept); a second call joins the first', async () => {
      await moving(parts, sim);
      const first = parts.stops.haltAndReset(5000, false);
      const second = parts.stops.haltAndReset(5000, false);
      assert.equal(parts.stops.settling, second);
      assert.equal(first, second, 'the same sequence');
      await first;
      assert.equal(parts.stops.settling, undefined);
      assert.equal(sim.alarm, null);
      assert.equal(sim.state, 'Idle');
      assert.deepEqual(realtime(sim), ['!', '!', 'reset'], 'the hold written again, one reset');
      const x = sim.machinePosition.x;
      assert.ok(x < -10 && x > -250, `stopped between (${x})`);
    });

    it('a banner that answers two resets leaves a second banner expected too (GRBL may have taken both); a later one is not', async () => {
      await Promise.all([parts.stops.resetNow(), parts.stops.resetNow()]);
      await until(() => parts.banners.length === 2, 'two banners');
      assert.deepEqual(parts.banners, [true, true]);
      await parts.connection.writeNow(Buffer.from([Realtime.Reset])); // a reset the stop sequence did not write
      await until(() => parts.banners.length === 3, 'a third banner');
      assert.equal(parts.banners[2], false);
    });

    it('after a soft limit, when the link drops before GRBL has taken a reset, the reset fails saying so and writes nothing more', async () => {
      const locked = await startSim({ resetOnAttach: false });
      const relay = await startRelay(locked.address);
      const p = await partsOn(relay.address);
      try {
        await p.connection.request('$H', { timeoutMs: 20_000 });
        relay.dropResets = true;
        p.connection.request('G1 X-400 F3000').catch(() => undefined); // answered only after the reset
        await until(() => relay.timeline.includes('driver: reset'), 'the reset GRBL asked for');
        assert.equal(p.stops.lockedAfter, 2);
        await relay.close();
        const outcome = await p.locks[0];
        assert.match(String((outcome as Error).message), /^Mill: stop failed: the link dropped before GRBL took the reset it waits for \(tcp:\/\/127\.0\.0\.1:\d+: .+\)$/);
        assert.equal(relay.timeline.filter((l) => l === 'driver: reset').length, 1, 'no reset after the link dropped');
      } finally {
        await p.close();
        await locked.sim.close();
      }
    });

    it('pause writes feed hold; resume writes cycle start once the hold is complete; after a stop has begun, resume writes nothing and says why', async () => {
      await moving(parts, sim);
      await parts.stops.pause(new AbortController().signal);
      await until(() => sim.state === 'Hold:0', 'the hold complete');
      await parts.stops.resume(new AbortController().signal);
      await until(() => sim.state === 'Run', 'running again');
      await parts.stops.pause(new AbortController().signal);
      const resuming = parts.stops.resume(new AbortController().signal);
      parts.stopsBegun.count++;
      await assert.rejects(resuming, { message: 'Mill: resume abandoned: a stop began on the device; cycle start (~) not sent' });
      assert.deepEqual(realtime(sim), ['!', '~', '!']);
      const trip = new AbortController();
      trip.abort(new EStop('test'));
      await assert.rejects(parts.stops.pause(trip.signal), EStop);
    });
  });
});
