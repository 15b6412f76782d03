import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeRedProcess, startNodeRed } from '../support/node-red-process';

/**
 * A run in progress, a sequence whose outcome (output 2) and a cell status node whose events are
 * each appended to a file by core `file` nodes (file names from the environment), and an inject
 * node to start the run over the admin API.
 */
const flows = [
  { id: 't1', type: 'tab', label: 'redeploy' },
  { id: 'cell', type: 'workcell-abort-context', name: 'Cell R', safeTimeout: '1', stopTimeout: '1' },
  { id: 'start', type: 'inject', z: 't1', name: 'start', props: [{ p: 'payload' }], payload: 'go', payloadType: 'str', repeat: '', once: false, x: 100, y: 100, wires: [['seq']] },
  { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', x: 300, y: 100, wires: [['settle'], ['outcomes']] },
  { id: 'settle', type: 'workcell-wait', z: 't1', name: 'settle', cell: 'cell', mode: 'delay', delay: '10', units: 's', x: 500, y: 100, wires: [['end']] },
  { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', x: 700, y: 100, wires: [] },
  ...[
    ['outcomes', 'OUTCOMES_FILE', 300, 200],
    ['statuses', 'STATUS_FILE', 300, 300],
  ].map(([id, env, x, y]) => ({ id, type: 'file', z: 't1', name: id, filename: env, filenameType: 'env', appendNewline: true, createDir: false, overwriteFile: 'false', encoding: 'none', x, y, wires: [[]] })),
  { id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', x: 100, y: 300, wires: [['statuses']] },
];

/** The JSON lines of `file` so far (none if it does not exist yet). */
function lines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves with the lines of `file` once one of them satisfies `pred`, polling; fails after `ms` with what there is. */
async function untilLine(file: string, pred: (l: Record<string, unknown>) => boolean, what: string, ms = 15_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = lines(file);
    if (got.some(pred)) return got;
    if (Date.now() > deadline) throw new Error(`${what}: not in ${file} within ${ms} ms; it has ${JSON.stringify(got)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a full deploy during a run, in a real Node-RED process', function () {
  this.timeout(60_000);
  let red: NodeRedProcess | undefined;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'workcell-redeploy-'));
  });
  afterEach(async () => {
    await red?.stop();
    red = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("the run's outcome leaves output 2, reaches cell status and the log before the old flows are gone", async () => {
    const outcomes = join(dir, 'outcomes.jsonl');
    const statuses = join(dir, 'statuses.jsonl');
    red = await startNodeRed({ flows, env: { OUTCOMES_FILE: outcomes, STATUS_FILE: statuses } });
    const inject = await fetch(`${red.url}inject/start`, { method: 'POST' });
    assert.equal(inject.status, 200, await inject.text());
    await untilLine(statuses, (l) => l.to === 'running', 'the cell running');

    // A full deploy of the same flows, as the editor's Deploy button does by default.
    const current = (await (await fetch(`${red.url}flows`, { headers: { 'Node-RED-API-Version': 'v2' } })).json()) as { rev: string; flows: object[] };
    const deploy = await fetch(`${red.url}flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ rev: current.rev, flows: current.flows }),
    });
    assert.equal(deploy.status, 200, await deploy.text());

    const [outcome] = await untilLine(outcomes, () => true, 'the outcome');
    assert.equal(outcome.outcome, 'aborted');
    assert.equal(outcome.step, 'settle');
    assert.equal(outcome.source, 'redeploy: sequence "Seq" restarted');
    assert.equal(lines(outcomes).length, 1, 'one outcome');

    const events = await untilLine(statuses, (l) => l.run === outcome.run, "cell status: the run's end");
    const runEnd = events.findIndex((l) => l.run === outcome.run);
    assert.equal(events[runEnd].outcome, 'aborted');
    assert.ok(
      events.slice(runEnd).some((l) => l.from === 'running' && l.to === 'ready'),
      `cell status: the state change the run's end caused: ${JSON.stringify(events)}`,
    );

    const logs = red.logs;
    const stopping = logs.findIndex((l) => /\[info\] Stopping flows/.test(l));
    const stopped = logs.findIndex((l) => /\[info\] Stopped flows/.test(l));
    const said = logs.findIndex((l) => l.includes(`[info] [workcell-sequence:Seq] run ${outcome.run as string} of sequence "Seq" aborted at settle: emergency stop (redeploy: sequence "Seq" restarted)`));
    assert.ok(stopping >= 0 && said > stopping && said < stopped, `the log says so while the flows stop:\n${logs.join('\n')}`);

    // The restarted flows are not wedged: a new run starts.
    while (logs.filter((l) => /\[info\] Started flows/.test(l)).length < 2) await new Promise((r) => setTimeout(r, 20));
    const again = await fetch(`${red.url}inject/start`, { method: 'POST' });
    assert.equal(again.status, 200);
    await untilLine(statuses, () => lines(statuses).slice(runEnd + 1).some((l) => l.to === 'running'), 'the cell running again');
  });
});
