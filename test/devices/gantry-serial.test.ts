import assert from 'node:assert/strict';
import { readlinkSync, rmSync, symlinkSync } from 'node:fs';
import type { SerialPort } from 'serialport';
import { AbortContext } from '../../lib/cell';
import { EStop } from '../../lib';
import type { GrblGantry } from '../../lib/devices/gantry';
import { openSerialEndpoint } from '../../lib/io';
import { GrblSimulator } from '../../lib/simulators/grbl';
import { openPtyPair, type PtyPair } from '../support/pty-pair';
import { TRAVEL, owedStopAcknowledged, readyGantry, segments, tokens, transcript, until } from './gantry-fixtures';

describe('GRBL gantry driver over a serial line (socat pseudo-terminals, serialport)', function () {
  this.timeout(30_000);
  let pty: PtyPair;
  let port: SerialPort;
  let sim: GrblSimulator;
  let gantry: GrblGantry | undefined;

  beforeEach(async () => {
    pty = await openPtyPair();
    port = await openSerialEndpoint(pty.b, 115200);
    // The simulator models the 115200-baud wire itself; the pty adds its own (tiny) delay.
    sim = new GrblSimulator({ timeScale: 10, softLimits: TRAVEL });
    sim.attach(port);
  });
  afterEach(async () => {
    await gantry?.close();
    gantry = undefined;
    await sim.close();
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    await pty.close();
  });

  it('connects (status report or banner), homes, moves, streams a program and switches the spindle over the tty', async () => {
    gantry = await readyGantry({ name: 'Router', address: pty.a, serial: { baudRate: 115200 } });
    assert.equal(gantry.positionTrusted, false, 'GRBL is locked at power-up');
    await gantry.execute('home', {}, { signal: new AbortController().signal });
    await gantry.execute('move', { x: -40, y: -30, feed: 3000 }, { signal: new AbortController().signal });
    assert.deepEqual(sim.machinePosition, { x: -40, y: -30, z: -1 });
    const r = (await gantry.execute('program', { gcode: segments(100, -40, -0.5, 6000) }, { signal: new AbortController().signal })) as { lines: number; machine: unknown };
    assert.equal(r.lines, 101);
    assert.deepEqual(r.machine, { x: -90, y: -10, z: -1 });
    assert.equal(sim.overflows, 0);
    await gantry.execute('spindle', { on: true, speed: 300 }, { signal: new AbortController().signal });
    assert.equal(sim.spindle.speed, 300);
  });

  it('an emergency stop over the tty halts a program mid-way with ALARM:3 and switches the spindle off', async () => {
    gantry = await readyGantry({ name: 'Router', address: pty.a, serial: { baudRate: 115200 } });
    const g = gantry;
    await g.execute('home', {}, { signal: new AbortController().signal });
    await g.execute('spindle', { on: true, speed: 300 }, { signal: new AbortController().signal });
    const cell = new AbortContext({ name: 'cell' });
    cell.addDevice(g);
    const scope = await cell.checkpoint(undefined, 'test');
    const streaming = g.execute('program', { gcode: segments(40, -1, -5, 1200) }, { signal: scope.signal });
    streaming.catch(() => undefined);
    await until(() => sim.executedLines.filter((l) => l.startsWith('G1X')).length >= 3, 'three segments');
    const report = await cell.estop('test');
    assert.deepEqual(report.devices.map((d) => [d.stop, d.safe]), [['stopped', 'safe']]);
    assert.equal(sim.alarm, 3);
    const x = sim.machinePosition.x;
    assert.ok(x < -1 && x > -201, `halted between start and end (${x})`);
    assert.ok(sim.executedLines.filter((l) => l.startsWith('G1X')).length < 40);
    assert.equal(sim.spindle.on, false);
    assert.equal(g.positionTrusted, false);
  });

  it('after the adapter is unplugged and plugged back, it reconnects and the position is untrusted', async () => {
    gantry = await readyGantry({ name: 'Router', address: pty.a, serial: { baudRate: 115200 } });
    const g = gantry;
    await g.execute('home', {}, { signal: new AbortController().signal });
    assert.equal(g.positionTrusted, true);
    const dir = pty.a.slice(0, pty.a.lastIndexOf('/'));
    await new Promise<void>((resolve) => port.close(() => resolve()));
    await pty.close();
    await until(() => g.status === 'disconnected', 'disconnected');
    await assert.rejects(g.execute('status', {}, { signal: new AbortController().signal }), /Router: status refused: the device is (disconnected|connecting)/);
    pty = await openPtyPair(dir);
    port = await openSerialEndpoint(pty.b, 115200);
    sim.attach(port); // the board resets when the port opens again (DTR): banner, locked
    await until(() => g.status === 'ready', 'ready again', 10_000);
    assert.equal(g.positionTrusted, false);
    await g.execute('home', {}, { signal: new AbortController().signal });
    await g.execute('move', { x: -5, feed: 3000 }, { signal: new AbortController().signal });
    assert.deepEqual(sim.machinePosition, { x: -5, y: -1, z: -1 });
  });

  it('a stop owed while the adapter was unplugged is the first thing on the line when it is plugged back, acknowledged by the banner', async () => {
    gantry = await readyGantry({ name: 'Router', address: pty.a, serial: { baudRate: 115200 } });
    const g = gantry;
    await new Promise<void>((resolve) => port.close(() => resolve()));
    await pty.close();
    await until(() => g.status === 'disconnected', 'disconnected');
    await assert.rejects(g.stop(new EStop('test')), /^WorkcellError: Router: cannot stop: not connected \(.+\)$/);
    g.oweStop(new EStop('test'));
    const owed = owedStopAcknowledged(g);
    const connections = transcript(sim);
    // Plugged back in with GRBL listening on the far side: the new pair is made elsewhere and
    // its end appears at the driver's path only once the simulator is attached (bytes written
    // into a pseudo-terminal nobody has open are lost, as to a board still booting).
    const replug = await openPtyPair();
    port = await openSerialEndpoint(replug.b, 115200);
    sim.attach(port);
    const driverPath = pty.a;
    symlinkSync(readlinkSync(replug.a), driverPath);
    pty = { ...replug, close: async () => { await replug.close(); rmSync(driverPath, { force: true }); } };
    await owed;
    await until(() => g.status === 'ready', 'ready again', 10_000);
    assert.deepEqual(tokens(connections[0]).slice(0, 3), ['!', 'reset', '?'], 'the stop frame, then the first status poll');
  });
});
