import assert from 'node:assert/strict';
import { connectAsync } from 'mqtt';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ModbusRTU from 'modbus-serial';
import { DEMO_MODBUS_UNITS, DEMO_PART, loadExamples, nodeTypes, packageRoot, probeVolts, startDemoSimulators, thermocoupleVolts } from '../../lib/demo';
import { freePort } from '../support/node-red-process';
import { timePassed } from '../support/event-order';

const root = packageRoot(__dirname);
const script = join(root, 'scripts', 'start-demo.js');

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The demo as a child process, with its output collected line by line: the script itself, or
 * `npm start` as a terminal runs it, in a process group of its own (a terminal's foreground job).
 */
class DemoProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters = new Set<() => void>();

  /** `node scripts/start-demo.js`. */
  static script(env: Record<string, string>): DemoProcess {
    return new DemoProcess(process.execPath, [script], env, false);
  }

  /**
   * `npm start --ignore-scripts`: npm runs the `start` script exactly as `npm start` does and
   * exits with its status; only the `prestart` build is skipped (npm test has built already).
   */
  static npmStart(env: Record<string, string>): DemoProcess {
    return new DemoProcess('npm', ['start', '--ignore-scripts'], env, true);
  }

  private constructor(command: string, args: string[], env: Record<string, string>, readonly ownGroup: boolean) {
    this.child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        this.lines.push(...parts);
        for (const w of [...this.waiters]) w();
      });
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Ctrl+C in the terminal: SIGINT to every process of the foreground group (npm and the demo). */
  pressCtrlC(): void {
    assert.ok(this.ownGroup, 'a process group of its own');
    process.kill(-this.child.pid!, 'SIGINT');
  }

  /** The first output line matching `pattern`, waiting at most `ms`; fails with the whole output otherwise. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (const line of this.lines) {
          const m = line.match(pattern);
          if (m) {
            done();
            resolve(m);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the demo did not print ${pattern} within ${ms} ms; its output:\n${this.lines.join('\n')}`));
      }, ms);
      const onExit = () => {
        check();
        done();
        reject(new Error(`the demo exited before printing ${pattern}; its output:\n${this.lines.join('\n')}`));
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        this.child.off('exit', onExit);
      };
      this.waiters.add(check);
      this.child.once('exit', onExit);
      check();
    });
  }

  /** Simulator addresses the demo printed, by environment variable name. */
  addresses(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const line of this.lines) {
      const m = line.match(/^\s+([A-Z_]+_ADDRESS)=tcp:\/\/127\.0\.0\.1:(\d+)\s/);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }
}

/** Sends one SCPI line to 127.0.0.1:port and resolves with the answer line (a query) once it arrives. */
function scpiQuery(port: number, query: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(`${query}\n`));
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) {
        s.destroy();
        resolve(got.trim());
      }
    });
    s.once('error', reject);
  });
}

/** The devices' state the demo printed when Node-RED had exited (see DemoSimulators.describeState). */
function shutdownState(demo: DemoProcess): string {
  const line = demo.lines.find((l) => l.startsWith('Workcell demo: devices at shutdown: '));
  assert.ok(line, `the demo printed the devices' state at shutdown; its output:\n${demo.lines.join('\n')}`);
  return line.slice('Workcell demo: devices at shutdown: '.length);
}

describe('npm start: the demo cell', function () {
  this.timeout(120_000);
  let dir: string;
  let demo: DemoProcess | undefined;

  before(function () {
    if (!existsSync(join(root, 'dist', 'lib', 'demo', 'index.js'))) throw new Error('dist/lib/demo is missing: run npm run build (npm test does) before this test');
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'workcell-demo-test-'));
  });
  afterEach(async () => {
    // After a failure: stop it as a SIGTERM would (the demo stops Node-RED, which runs in a
    // group of its own), to the whole group under npm (a demo npm left behind is in it too);
    // kill it only if that does not work.
    if (demo) {
      const signal = (s: NodeJS.Signals) => {
        try {
          if (demo!.ownGroup) process.kill(-demo!.child.pid!, s);
          else if (demo!.running) demo!.child.kill(s);
        } catch {
          // nothing left in the group
        }
      };
      signal('SIGTERM');
      if (demo.running && !(await Promise.race([demo.exited, timePassed(30_000)]))) {
        signal('SIGKILL');
        await demo.exited;
      }
    }
    demo = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('npm start builds first, then runs the demo as its own child, so that npm exits with the demo\'s status', () => {
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.equal(scripts.prestart, 'npm run build', 'the build is the prestart script (the one --ignore-scripts skips below)');
    // Without exec, /bin/sh waits for the demo and dies of the terminal's Ctrl+C itself (dash
    // does), and npm reports "killed by SIGINT" however cleanly the demo stopped.
    assert.equal(scripts.start, 'exec node scripts/start-demo.js');
  });

  it('starts Node-RED on 127.0.0.1:$PORT with our nodes, the simulators and the examples; Ctrl+C mid-scan brings the devices safe and npm exits 0', async () => {
    const port = await freePort();
    // Five times real speed: the scan reaches its moves in about two seconds.
    demo = DemoProcess.npmStart({ PORT: String(port), WORKCELL_DEMO_DIR: dir, WORKCELL_DEMO_TIME_SCALE: '5' });
    const [, url] = await demo.waitFor(/Editor: (http:\/\/\S+)/, 90_000);
    assert.equal(url, `http://127.0.0.1:${port}/`);

    // The simulators listen on ports of their own, named by the variables the flows read.
    const sims = demo.addresses();
    assert.deepEqual(Object.keys(sims).sort(), ['DMM_ADDRESS', 'FURNACE_DMM_ADDRESS', 'GANTRY_ADDRESS', 'MODBUS_ADDRESS', 'PSU_ADDRESS', 'ROUTER_ADDRESS']);
    for (const p of Object.values(sims)) assert.ok(p > 0 && p !== port);
    // The DMM answers *IDN? like the real one (several clients may talk to it; the GRBL bridge takes one, so it is left alone).
    assert.match(await scpiQuery(sims.DMM_ADDRESS, '*IDN?'), /^Keysight Technologies,34461A,/);

    // No $MQTT_BROKER: an embedded broker on a free port, the topics to try printed, and the
    // MQTT example's cell publishes its retained status there.
    const brokerLine = demo.lines.find((l) => /^\s+MQTT_BROKER=mqtt:\/\/127\.0\.0\.1:\d+\s+\(embedded aedes broker, MQTT 3\.1\.1\)/.test(l));
    assert.ok(brokerLine, 'the embedded broker is announced');
    const brokerUrl = brokerLine.trim().split(/\s+/)[0].slice('MQTT_BROKER='.length);
    assert.ok(demo.lines.some((l) => l.includes(`mosquitto_pub -h 127.0.0.1 -p ${new URL(brokerUrl).port} -r -t workcell/demo/estop -m tripped`)), 'the remote stop to try is printed');
    const mqttClient = await connectAsync(brokerUrl, { protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const status = new Promise<Record<string, unknown>>((resolve) => mqttClient.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as Record<string, unknown>)));
      await mqttClient.subscribeAsync('workcell/demo/status', { qos: 1 });
      assert.equal((await status).cell, 'Remote cell');
    } finally {
      await mqttClient.endAsync();
    }

    const settings = await fetch(`${url}settings`);
    assert.equal(settings.status, 200);
    assert.match(String(((await settings.json()) as { version: string }).version), /^4\.1\./);

    // The flows running are the examples, every node of every one.
    const examples = loadExamples(join(root, 'examples'));
    const flowsRes = await fetch(`${url}flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
    assert.equal(flowsRes.status, 200);
    const deployed = ((await flowsRes.json()) as { flows: { id: string; type: string }[] }).flows;
    const deployedIds = new Set(deployed.map((n) => n.id));
    for (const e of examples) for (const n of e.nodes) assert.ok(deployedIds.has(n.id), `node ${n.id} (${n.type}) of "${e.label}" is deployed`);
    assert.ok(demo.lines.some((l) => /\[info\] Started flows/.test(l)), 'Node-RED started the flows');
    assert.ok(!demo.lines.some((l) => /Waiting for missing types/.test(l)), 'no missing node types');

    // Our node types are registered, loaded and enabled.
    const nodesRes = await fetch(`${url}nodes`, { headers: { Accept: 'application/json' } });
    assert.equal(nodesRes.status, 200);
    const sets = (await nodesRes.json()) as { module: string; types: string[]; enabled: boolean; err?: unknown }[];
    // A node set that failed to load carries `err` and no types.
    const ours = sets.filter((s) => s.module === '@workcell/node-red-workcell' && s.enabled && !s.err);
    const types = new Set(ours.flatMap((s) => s.types));
    for (const t of ['workcell-abort-context', 'workcell-sequence', 'workcell-sequence-end', 'workcell-estop', 'workcell-cell-status', 'workcell-wait', 'workcell-serial', 'workcell-instrument', 'workcell-instrument-device', 'workcell-gantry', 'workcell-gantry-device']) {
      assert.ok(types.has(t), `${t} is registered (got ${[...types].join(', ')})`);
    }
    for (const e of examples) for (const t of nodeTypes(e)) if (t.startsWith('workcell-')) assert.ok(types.has(t), `${t}, used by "${e.label}", is registered`);

    // The userDir: settings for 127.0.0.1, a generated credential secret kept out of the settings file, Workcell linked.
    const settingsJs = readFileSync(join(dir, 'settings.js'), 'utf8');
    assert.match(settingsJs, /"uiHost": "127\.0\.0\.1"/);
    const secret = readFileSync(join(dir, 'credential-secret'), 'utf8').trim();
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.equal(statSync(join(dir, 'credential-secret')).mode & 0o077, 0, 'the secret is readable by its owner only');
    assert.ok(!settingsJs.includes(secret), 'the secret is read from its file, not written into the settings');
    assert.equal(realpathSync(join(dir, 'node_modules', '@workcell', 'node-red-workcell')), realpathSync(root));

    // Ctrl+C in the middle of the scan (homed, CH1 of the power supply on, the gantry on its way
    // to A) and of the heat treat (the furnace's working setpoint ramping up).
    const inject = await fetch(`${url}inject/wc02-start`, { method: 'POST' });
    assert.equal(inject.status, 200);
    assert.equal((await fetch(`${url}inject/wc07-start-ht`, { method: 'POST' })).status, 200);
    const deadline = Date.now() + 30_000;
    while ((await scpiQuery(sims.PSU_ADDRESS, ':OUTP? CH1')) !== 'ON') {
      assert.ok(Date.now() < deadline, `the scan never switched CH1 on; the demo's output:\n${demo.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const furnace = new ModbusRTU();
    try {
      await furnace.connectTCP('127.0.0.1', { port: sims.MODBUS_ADDRESS });
      furnace.setID(1);
      furnace.setTimeout(2000);
      // The Eurotherm's working setpoint (register 5, one decimal) above 30 °C: the ramp is under way.
      while ((await furnace.readHoldingRegisters(5, 1)).data[0] <= 300) {
        assert.ok(Date.now() < deadline, `the heat treat never ramped; the demo's output:\n${demo.lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await new Promise<void>((r) => furnace.close(() => r()));
    }
    // The terminal signals npm and the demo; npm forwards its SIGINT to the demo as well, an
    // echo within milliseconds that is one stop request, not a second Ctrl+C.
    demo.pressCtrlC();
    const exit = await demo.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `npm exits 0; output:\n${demo.lines.join('\n')}`);
    assert.ok(!demo.lines.some((l) => /killing Node-RED/.test(l)), 'the echoed SIGINT did not escalate');
    assert.ok(demo.lines.some((l) => /\[info\] Stopped flows/.test(l)), 'Node-RED stopped its flows (close handlers ran)');
    // The cell's close handler stops the run and brings the devices safe while the simulators
    // still answer; it warns when a device was not made safe in time.
    const stopping = demo.lines.slice(demo.lines.findIndex((l) => /\[info\] Stopping flows/.test(l)));
    assert.deepEqual(stopping.filter((l) => /\[(warn|error)\]/.test(l)), [], 'no warnings or errors while stopping');
    // The simulators' own state once Node-RED had gone: the gantry at rest, not parked (the
    // scan was cut short, not finished), every output off, no measurement running; the furnace
    // at its safe setpoint (25 °C) in standby, its bus closed only after that.
    const state = shutdownState(demo);
    const m = /^gantry (Alarm|Idle) at X(\S+) Y(\S+) Z(\S+), spindle off, coolant off; DMM idle; power supply CH1 off, CH2 off; router (Alarm|Idle), spindle off; furnace \S+ °C \(SP 25\.0, stopped\); press \S+, ram at the top, weld off; gripper open$/.exec(state);
    assert.ok(m, `devices safe at shutdown: ${state}`);
    assert.notDeepEqual([m[2], m[3], m[4]].map(Number), [-5, -5, -2], `the scan was interrupted, not finished and parked: ${state}`);
    assert.ok(demo.lines.some((l) => /Workcell demo: stopped\./.test(l)));
    for (const [name, p] of Object.entries(sims)) assert.equal(await accepts(p), false, `${name} port ${p} is closed`);
    assert.equal(await accepts(port), false, `Node-RED's port ${port} is closed`);
  });

  it('keeps flows deployed from the editor across restarts, stops cleanly on SIGTERM to npm and on SIGHUP (the terminal closed), and refuses a taken or bad PORT with a clear message', async () => {
    const port = await freePort();
    demo = DemoProcess.script({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
    const [, url] = await demo.waitFor(/Editor: (http:\/\/\S+)/, 90_000);
    // Deploy a change, as the editor would.
    const current = (await (await fetch(`${url}flows`, { headers: { 'Node-RED-API-Version': 'v2' } })).json()) as { rev: string; flows: object[] };
    const changed = [...current.flows, { id: 'user-added', type: 'comment', z: 'wc01-tab', name: 'mine', info: '', x: 600, y: 800, wires: [] }];
    const deploy = await fetch(`${url}flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ rev: current.rev, flows: changed }),
    });
    assert.equal(deploy.status, 200, await deploy.text());
    demo.child.kill('SIGINT');
    assert.equal((await demo.exited).code, 0);

    demo = DemoProcess.npmStart({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
    await demo.waitFor(/Editor: /, 90_000);
    assert.ok(demo.lines.some((l) => /keeping the flows deployed/.test(l)), demo.lines.join('\n'));
    const again = (await (await fetch(`http://127.0.0.1:${port}/flows`)).json()) as { id: string }[];
    assert.ok(again.some((n) => n.id === 'user-added'), 'the deployed change survived the restart');
    // SIGTERM to npm alone, as `kill` or a process manager sends it: npm passes it on to the
    // demo, which stops Node-RED and the simulators (it is not left running without npm).
    demo.child.kill('SIGTERM');
    assert.deepEqual(await demo.exited, { code: 0, signal: null }, demo.lines.join('\n'));
    assert.ok(demo.lines.some((l) => /Workcell demo: SIGTERM: stopping Node-RED/.test(l)), demo.lines.join('\n'));
    assert.match(shutdownState(demo), /^gantry \S+ at .*; power supply CH1 off, CH2 off; router \S+, spindle off; furnace .* °C \(SP .*\); press \S+, ram at the top, weld off; gripper open$/);
    assert.equal(await accepts(port), false, `Node-RED's port ${port} is closed`);

    // The terminal closed (SIGHUP): the same clean stop, not a demo gone with Node-RED left running.
    demo = DemoProcess.script({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
    await demo.waitFor(/Editor: /, 90_000);
    demo.child.kill('SIGHUP');
    assert.deepEqual(await demo.exited, { code: 0, signal: null }, demo.lines.join('\n'));
    assert.ok(demo.lines.some((l) => /Workcell demo: SIGHUP: stopping Node-RED/.test(l)), demo.lines.join('\n'));
    assert.match(shutdownState(demo), /power supply CH1 off, CH2 off; router \S+, spindle off; furnace .*; press \S+, ram at the top, weld off; gripper open$/);
    assert.equal(await accepts(port), false, `Node-RED's port ${port} is closed after SIGHUP`);

    // A port held by a program that accepts connections and never answers: the demo sees
    // Node-RED exit instead of waiting for an answer until its readiness deadline.
    const squatter = createServer(() => undefined);
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
    try {
      demo = DemoProcess.script({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
      const taken = await demo.exited;
      assert.equal(taken.code, 1);
      assert.ok(demo.lines.some((l) => new RegExp(`Node-RED exited \\(code 1, signal null\\) before it was ready \\(is port ${port} already in use\\? Set PORT to choose another\\)`).test(l)), demo.lines.join('\n'));
    } finally {
      squatter.close();
    }

    demo = DemoProcess.script({ PORT: 'eighteen-eighty', WORKCELL_DEMO_DIR: dir });
    const exit = await demo.exited;
    assert.equal(exit.code, 1);
    assert.ok(demo.lines.some((l) => /PORT must be a TCP port number between 1 and 65535, got "eighteen-eighty"/.test(l)), demo.lines.join('\n'));

    demo = DemoProcess.script({ PORT: String(port), WORKCELL_DEMO_DIR: dir, WORKCELL_DEMO_TIME_SCALE: 'fast' });
    assert.equal((await demo.exited).code, 1);
    assert.ok(demo.lines.some((l) => /WORKCELL_DEMO_TIME_SCALE must be a positive number \(10 runs the machines ten times faster\), got "fast"/.test(l)), demo.lines.join('\n'));
  });
});

describe('the demo simulators', () => {
  /** A TCP client that sends lines and waits for the reply matching `reply`; resolves with what it received. */
  async function lineClient(port: number): Promise<{ send(line: string, reply: RegExp): Promise<string>; close(): void }> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.setEncoding('utf8');
    let received = '';
    socket.on('data', (d: string) => (received += d));
    return {
      async send(line, reply) {
        received = '';
        socket.write(`${line}\n`);
        while (!reply.test(received)) await new Promise((r) => setTimeout(r, 5));
        return received;
      },
      close: () => socket.destroy(),
    };
  }

  it('describe their devices in one line: the gantry\'s state, position, spindle and coolant; the DMM; each power-supply output; the router; the furnace, the press and the gripper on Modbus', async () => {
    const sims = await startDemoSimulators({ timeScale: 10 });
    const address = (envVar: string) => sims.addresses.find((a) => a.envVar === envVar)!.port;
    const clients = await Promise.all(['GANTRY_ADDRESS', 'DMM_ADDRESS', 'PSU_ADDRESS'].map((v) => lineClient(address(v))));
    try {
      const [grbl, dmm, psu] = clients;
      const modbusIdle = 'furnace 20.0 °C (SP 20.0, running); press idle, ram at the top, weld off; gripper open';
      assert.equal(sims.describeState(), `gantry Alarm at X0.000 Y0.000 Z0.000, spindle off, coolant off; DMM idle; power supply CH1 off, CH2 off; router Alarm, spindle off; ${modbusIdle}`);
      await grbl.send('$X', /ok\r\n/);
      await grbl.send('G0 X-12.5 Y-3', /ok\r\n/);
      await grbl.send('M3 S1000', /ok\r\n/);
      await grbl.send('M7', /ok\r\n/);
      await grbl.send('M8', /ok\r\n/);
      await dmm.send('CONF:VOLT:DC;:VOLT:NPLC 100;:SAMP:COUN 50;:INIT;*IDN?', /\n/);
      await psu.send(':OUTP CH2,ON;*IDN?', /\n/);
      assert.equal(sims.describeState(), `gantry Idle at X-12.500 Y-3.000 Z0.000, spindle on, coolant flood and mist on; DMM measuring; power supply CH1 off, CH2 on; router Alarm, spindle off; ${modbusIdle}`);
    } finally {
      for (const c of clients) c.close();
      await sims.close();
    }
  });

  it('model the part: the probe sees CH1\'s voltage divided along the track at its X (clamped to the track\'s ends) while it is down on it, else 0 V', () => {
    assert.deepEqual(DEMO_PART, { fedAtX: 0, groundedAtX: -300, touchesAtZ: -5 });
    assert.equal(probeVolts(5, { x: -60, y: -50, z: -10 }), 4);
    assert.equal(probeVolts(5, { x: -240, y: -170, z: -5 }), 1);
    assert.equal(probeVolts(5, { x: 10, y: 0, z: -10 }), 5);
    assert.equal(probeVolts(5, { x: -320, y: 0, z: -10 }), 0);
    assert.equal(probeVolts(5, { x: -60, y: -50, z: -4.9 }), 0);
    assert.equal(probeVolts(0, { x: -60, y: -50, z: -10 }), 0);
  });

  it('wire the second DMM to the furnace\'s thermocouple (about 41 µV/°C), and put the furnace, the press and the gripper on one Modbus TCP server as units 1, 2 and 3', async () => {
    const sims = await startDemoSimulators({ timeScale: 10 });
    const dmm = await lineClient(sims.addresses.find((a) => a.envVar === 'FURNACE_DMM_ADDRESS')!.port);
    const modbus = new ModbusRTU();
    try {
      const volts = async () => Number((await dmm.send('MEAS:VOLT:DC?', /\n/)).trim());
      const furnace = sims.modbus.furnace.model;
      assert.ok(Math.abs((await volts()) - thermocoupleVolts(furnace.temperatureC)) < 1e-4, 'the thermocouple at the furnace\'s temperature');
      assert.equal(sims.env.MODBUS_ADDRESS, `tcp://127.0.0.1:${sims.modbus.port}`);
      await modbus.connectTCP('127.0.0.1', { port: sims.modbus.port });
      modbus.setTimeout(2000);
      // The Eurotherm's PV (register 1, one decimal), the press's ram-at-top input, the gripper's retracted switch.
      modbus.setID(DEMO_MODBUS_UNITS.furnace);
      assert.equal((await modbus.readHoldingRegisters(1, 1)).data[0], Math.round(furnace.temperatureC * 10));
      modbus.setID(DEMO_MODBUS_UNITS.press);
      // Inputs 1–4: ram at the top, guard closed, light curtain clear, two-hand start.
      assert.deepEqual((await modbus.readDiscreteInputs(1, 4)).data.slice(0, 4), [true, true, true, true]);
      modbus.setID(DEMO_MODBUS_UNITS.gripper);
      assert.deepEqual((await modbus.readDiscreteInputs(0, 2)).data.slice(0, 2), [false, true], 'open: the retracted switch closed');
    } finally {
      dmm.close();
      await new Promise<void>((r) => modbus.close(() => r()));
      await sims.close();
    }
  });

  it('wire the DMM to the part the power supply feeds: its DC volts follow CH1\'s output where the gantry holds the probe', async () => {
    const sims = await startDemoSimulators({ timeScale: 10 });
    const address = (envVar: string) => sims.addresses.find((a) => a.envVar === envVar)!.port;
    const clients = await Promise.all(['GANTRY_ADDRESS', 'DMM_ADDRESS', 'PSU_ADDRESS'].map((v) => lineClient(address(v))));
    try {
      const [grbl, dmm, psu] = clients;
      const volts = async () => Number((await dmm.send('MEAS:VOLT:DC?', /\n/)).trim());
      const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-3, `${what}: ${got} V, expected ${want} V`);
      // G4 P0 answers once the moves before it are done.
      await grbl.send('$X', /ok\r\n/);
      await grbl.send('G0 X-60 Y-50', /ok\r\n/);
      await grbl.send('G0 Z-10', /ok\r\n/);
      await grbl.send('G4 P0', /ok\r\n/);
      near(await volts(), 0, 'probe on the part, CH1 off');
      await psu.send(':APPL CH1,5,0.1;:OUTP CH1,ON;*OPC?', /\n/);
      near(await volts(), 4, 'CH1 at 5 V, probe at X -60 of the track from X 0 (fed) to X -300 (grounded)');
      await grbl.send('G0 X-150', /ok\r\n/);
      await grbl.send('G4 P0', /ok\r\n/);
      near(await volts(), 2.5, 'probe at X -150');
      await psu.send(':APPL CH1,3;*OPC?', /\n/);
      near(await volts(), 1.5, 'CH1 at 3 V');
      await grbl.send('G0 Z-2', /ok\r\n/);
      await grbl.send('G4 P0', /ok\r\n/);
      near(await volts(), 0, 'probe lifted off the part');
      await grbl.send('G0 Z-10', /ok\r\n/);
      await grbl.send('G4 P0', /ok\r\n/);
      await psu.send(':OUTP CH1,OFF;*OPC?', /\n/);
      near(await volts(), 0, 'CH1 off');
    } finally {
      for (const c of clients) c.close();
      await sims.close();
    }
  });
});
