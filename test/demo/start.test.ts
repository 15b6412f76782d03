import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadExamples, nodeTypes, packageRoot } from '../../lib/demo';
import { freePort } from '../support/node-red-process';

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

/** The demo script as a child process, with its output collected line by line. */
class DemoProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters = new Set<() => void>();

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      const m = line.match(/^\s+([A-Z]+_ADDRESS)=tcp:\/\/127\.0\.0\.1:(\d+)\s/);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }
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
    if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGKILL');
      await demo.exited;
    }
    demo = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts Node-RED on 127.0.0.1:$PORT with our nodes, the simulators and the examples, and Ctrl+C stops all of it cleanly', async () => {
    const port = await freePort();
    demo = new DemoProcess({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
    const [, url] = await demo.waitFor(/Editor: (http:\/\/\S+)/, 90_000);
    assert.equal(url, `http://127.0.0.1:${port}/`);

    // The simulators listen on ports of their own, named by the variables the flows read.
    const sims = demo.addresses();
    assert.deepEqual(Object.keys(sims).sort(), ['DMM_ADDRESS', 'GANTRY_ADDRESS', 'PSU_ADDRESS']);
    for (const p of Object.values(sims)) assert.ok(p > 0 && p !== port);
    // The DMM answers *IDN? like the real one (several clients may talk to it; the GRBL bridge takes one, so it is left alone).
    const idn = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: sims.DMM_ADDRESS }, () => s.write('*IDN?\n'));
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
    assert.match(idn, /^Keysight Technologies,34461A,/);

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

    // Ctrl+C in the middle of a scan: the gantry homing, the cell running.
    const inject = await fetch(`${url}inject/wc02-start`, { method: 'POST' });
    assert.equal(inject.status, 200);
    await new Promise((r) => setTimeout(r, 1500));
    // A Ctrl+C under npm start arrives twice within milliseconds (from the terminal and
    // forwarded by npm): that is one stop request, not a request to kill Node-RED.
    demo.child.kill('SIGINT');
    setTimeout(() => demo?.child.kill('SIGINT'), 20);
    const exit = await demo.exited;
    assert.ok(!demo.lines.some((l) => /killing Node-RED/.test(l)), 'the echoed SIGINT did not escalate');
    assert.deepEqual(exit, { code: 0, signal: null }, `clean exit; output:\n${demo.lines.join('\n')}`);
    assert.ok(demo.lines.some((l) => /\[info\] Stopped flows/.test(l)), 'Node-RED stopped its flows (close handlers ran)');
    // The cell's close handler stops the run and brings the devices safe while the simulators
    // still answer; it warns when a device was not made safe in time.
    const stopping = demo.lines.slice(demo.lines.findIndex((l) => /\[info\] Stopping flows/.test(l)));
    assert.deepEqual(stopping.filter((l) => /\[(warn|error)\]/.test(l)), [], 'no warnings or errors while stopping');
    assert.ok(demo.lines.some((l) => /Workcell demo: stopped\./.test(l)));
    for (const [name, p] of Object.entries(sims)) assert.equal(await accepts(p), false, `${name} port ${p} is closed`);
    assert.equal(await accepts(port), false, `Node-RED's port ${port} is closed`);
  });

  it('keeps flows deployed from the editor across restarts, and refuses a taken or bad PORT with a clear message', async () => {
    const port = await freePort();
    demo = new DemoProcess({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
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

    demo = new DemoProcess({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
    await demo.waitFor(/Editor: /, 90_000);
    assert.ok(demo.lines.some((l) => /keeping the flows deployed/.test(l)), demo.lines.join('\n'));
    const again = (await (await fetch(`http://127.0.0.1:${port}/flows`)).json()) as { id: string }[];
    assert.ok(again.some((n) => n.id === 'user-added'), 'the deployed change survived the restart');
    demo.child.kill('SIGINT');
    assert.equal((await demo.exited).code, 0);

    // A port held by a program that accepts connections and never answers.
    const squatter = createServer(() => undefined);
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
    try {
      const started = Date.now();
      demo = new DemoProcess({ PORT: String(port), WORKCELL_DEMO_DIR: dir });
      const taken = await demo.exited;
      assert.equal(taken.code, 1);
      assert.ok(Date.now() - started < 20_000, 'it gives up at once instead of waiting for an answer');
      assert.ok(demo.lines.some((l) => new RegExp(`is port ${port} already in use\\? Set PORT to choose another`).test(l)), demo.lines.join('\n'));
    } finally {
      squatter.close();
    }

    demo = new DemoProcess({ PORT: 'eighteen-eighty', WORKCELL_DEMO_DIR: dir });
    const exit = await demo.exited;
    assert.equal(exit.code, 1);
    assert.ok(demo.lines.some((l) => /PORT must be a TCP port number between 1 and 65535, got "eighteen-eighty"/.test(l)), demo.lines.join('\n'));
  });
});
