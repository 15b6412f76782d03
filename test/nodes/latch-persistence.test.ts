import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helper, controlNodes, placed, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { until } from '../support/event-order';
import { RigolDP821 } from '../../lib/simulators/scpi';
import { NodeRedProcess, startNodeRed } from '../support/node-red-process';

const flow = () =>
  placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell P' },
    { id: 'stop', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'estop', wires: [] },
  ]);

/** A restart of Node-RED: flows stopped, the process's memory gone, flows loaded again. */
async function restart(): Promise<void> {
  await helper.unload();
  forgetLatches();
  await helper.load(controlNodes, flow());
}

describe('a latched emergency stop across a restart of Node-RED', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = mkdtempSync(join(tmpdir(), 'workcell-latch-'));
    helper.settings({ userDir });
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    helper.settings({ userDir: undefined });
    rmSync(userDir, { recursive: true, force: true });
  });

  it('is stored when it happens and the cell comes back aborted; a reset clears it for the next start', async () => {
    await helper.load(controlNodes, flow());
    helper.getNode('stop').receive({});
    await until(() => getCell('cell')!.state !== 'ready', 'the trip (the latch is announced as it begins)');
    const file = join(userDir, 'workcell-latches.json');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { cell: ['node "stop"'] }, 'stored at once (a crash must not unlatch the cell)');
    await restart();
    assert.equal(getCell('cell')!.state, 'aborted', 'after the restart the cell is still latched');
    assert.deepEqual(getCell('cell')!.tripSources, ['node "stop"']);
    await getCell('cell')!.reset('operator');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {});
    await restart();
    assert.equal(getCell('cell')!.state, 'ready');
  });

  it('a stop caused only by a redeploy or shutdown (a typed flag) does not latch the next start', async () => {
    await helper.load(controlNodes, flow());
    await getCell('cell')!.estop('redeploy', { redeploy: true });
    await restart();
    assert.equal(getCell('cell')!.state, 'ready');
  });

  it('a msg.source that merely begins with "redeploy" latches like any other stop', async () => {
    await helper.load(controlNodes, flow());
    helper.getNode('stop').receive({ source: 'redeploy-panel 3' });
    await until(() => getCell('cell')!.state !== 'ready', 'the trip (the latch is announced as it begins)');
    await restart();
    assert.equal(getCell('cell')!.state, 'aborted');
    assert.deepEqual(getCell('cell')!.tripSources, ['redeploy-panel 3']);
  });

  it('an unreadable latch store fails closed: every cell starts aborted ("latch store unreadable") until it is reset, and the file is kept aside', async () => {
    const file = join(userDir, 'workcell-latches.json');
    writeFileSync(file, '{"cell": ["panel"'); // cut off mid-write
    const warnings: string[] = [];
    await helper.load(controlNodes, flow());
    helper.log().args.forEach((a: unknown[]) => warnings.push(JSON.stringify(a)));
    const cell = getCell('cell')!;
    assert.equal(cell.state, 'aborted');
    assert.deepEqual(cell.tripSources, ['latch store unreadable']);
    assert.ok(existsSync(`${file}.unreadable`), 'the unreadable file is kept for inspection');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { cell: ['latch store unreadable'] }, 'the fail-closed latch is itself stored');
    assert.ok(warnings.some((w) => /could not be read.*every cell starts latched/.test(w)), 'the warning says why');
    await cell.reset('operator');
    assert.equal(cell.state, 'ready');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {});
    await restart();
    assert.equal(getCell('cell')!.state, 'ready');
  });

  it('a store that is valid JSON of the wrong shape is unreadable too', async () => {
    writeFileSync(join(userDir, 'workcell-latches.json'), '{"cell": "panel"}');
    await helper.load(controlNodes, flow());
    assert.deepEqual(getCell('cell')!.tripSources, ['latch store unreadable']);
  });
});

/** GET or POST one of the test flow's HTTP endpoints; the body (an http response node sends msg.payload). */
async function http(nr: NodeRedProcess, method: 'GET' | 'POST', path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${nr.url}${path}`, { method });
  const text = await res.text();
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

async function pollUntil<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await delay(25);
  }
}

describe('a crash of Node-RED during an emergency stop\'s safe routines (a real Node-RED process)', function () {
  this.timeout(60_000);
  let psu: RigolDP821;
  let nr: NodeRedProcess | undefined;
  let userDir: string | undefined;
  afterEach(async () => {
    await nr?.stop(5000);
    nr = undefined;
    if (userDir) rmSync(userDir, { recursive: true, force: true });
    userDir = undefined;
    await psu?.close();
  });

  /** A cell with a power supply whose safe routine is slow, and HTTP endpoints to trip and to read the cell. */
  const crashFlow = (psuPort: number) => [
    { id: 't1', type: 'tab', label: 'crash' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell K', safeTimeout: '60', stopTimeout: '2' },
    { id: 'psuDev', type: 'workcell-instrument-device', name: 'PSU', address: `tcp://127.0.0.1:${psuPort}`, preset: 'rigol-dp821', timeout: '2', errorCheck: true, cell: 'cell', safeGroup: '0' },
    { id: 'cellIn', type: 'http in', z: 't1', url: '/cell', method: 'get', wires: [['status']] },
    { id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [['onlySnapshot']] },
    { id: 'onlySnapshot', type: 'switch', z: 't1', property: 'topic', propertyType: 'msg', rules: [{ t: 'eq', v: 'snapshot', vt: 'str' }], checkall: 'true', outputs: 1, wires: [['cellOut']] },
    { id: 'cellOut', type: 'http response', z: 't1', wires: [] },
    { id: 'tripIn', type: 'http in', z: 't1', url: '/trip', method: 'post', wires: [['trip', 'tripOut']] },
    { id: 'tripOut', type: 'http response', z: 't1', wires: [] },
    { id: 'trip', type: 'workcell-estop', z: 't1', name: 'panel', cell: 'cell', action: 'estop', wires: [] },
  ];

  it('the latch is on disk while the cell is still aborting, and the restarted cell comes back aborted', async () => {
    psu = new RigolDP821();
    const psuPort = (await psu.listen({ port: 0 })).port;
    const flows = crashFlow(psuPort);
    nr = await startNodeRed({ flows, keepUserDir: true });
    userDir = nr.userDir;
    await pollUntil('the PSU to be ready', () => http(nr!, 'GET', 'cell'), (c) => (c as { devices: { status: string }[] }).devices[0]?.status === 'ready');
    // The supply stops answering (it still listens): its safe routine waits for its confirmation.
    psu.faults.delayResponsesMs = 120_000;
    await http(nr, 'POST', 'trip');
    const latchFile = join(userDir, 'workcell-latches.json');
    await pollUntil('the latch file', async () => (existsSync(latchFile) ? readFileSync(latchFile, 'utf8') : ''), (t) => t.includes('Cell') || t.includes('panel'));
    const during = (await http(nr, 'GET', 'cell')) as { state: string };
    assert.equal(during.state, 'aborting', 'the safe routine is still running');
    assert.deepEqual(JSON.parse(readFileSync(latchFile, 'utf8')), { cell: ['node "panel"'] });
    // Crash: no close handler runs.
    const exited = once(nr.child, 'exit');
    nr.child.kill('SIGKILL');
    await exited;
    psu.faults.delayResponsesMs = 0;
    nr = await startNodeRed({ flows, userDir });
    const after = (await http(nr, 'GET', 'cell')) as { state: string; tripSources: string[] };
    assert.equal(after.state, 'aborted');
    assert.deepEqual(after.tripSources, ['node "panel"']);
    // Nobody knows what the supply did while Node-RED was down: it owes its stop, which is the
    // first thing on its new connection, then its safe routine; then nothing owes any more.
    const settled = await pollUntil('the PSU to be known safe', () => http(nr!, 'GET', 'cell'), (c) => Array.isArray(c.unsafe) && (c.unsafe as unknown[]).length === 0 && (c as { devices: { status: string }[] }).devices[0]?.status === 'ready');
    assert.equal(settled.state, 'aborted', 'still latched until a reset');
    const lastClient = psu.commandLog.at(-1)!.clientId;
    const onNewLink = psu.commandLog.filter((e) => e.clientId === lastClient).map((e) => e.message);
    assert.equal(onNewLink[0], 'ABOR', `the owed stop went first: ${onNewLink.slice(0, 4).join(' | ')}`);
    assert.ok(onNewLink.some((m) => /OUTP.*OFF/i.test(m)), 'then its outputs were switched off');
  });
});
