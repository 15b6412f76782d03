/**
 * Sequence overhead: messages per second through a 10-step sequence of no-op device steps
 * (each message is one run: `workcell-sequence` → 10 × `workcell-memory` 'noop' on one device →
 * `workcell-sequence-end`, the run's outcome on the sequence's second output) against the same
 * flow built from 10 core `change` nodes, both deployed together in one in-process Node-RED
 * runtime (node-red-node-test-helper loads the real flows engine and the real change node).
 *
 * Closed loop, one message in flight per flow: the next message enters when the previous one
 * has left (a sequence runs one run at a time under its default concurrency, so this is the
 * like-for-like comparison). After a warm-up the two flows are measured in alternating batches
 * (A B, B A, ...) so drift affects both; the ratio is taken per round and its median reported.
 * Target: at most 1.3× the plain flow's time per message.
 */
import { helper, loadUninstrumented, placed } from './node-red-runtime';
import { forgetLatches } from '../nodes/shared/cell-registry';
import { fmt, machineFacts, median, table } from './stats';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const changeNode = require('@node-red/nodes/core/function/15-change.js') as (red: unknown) => void;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const catchNode = require('@node-red/nodes/core/common/25-catch.js') as (red: unknown) => void;
const nodeModules = [
  require('../nodes/abort-context'),
  require('../nodes/sequence'),
  require('../nodes/sequence-end'),
  require('../test/support/memory-nodes'),
].map((m) => (m.default ?? m) as (red: unknown) => void);

export interface OverheadOptions {
  steps?: number;
  /** Messages per measured batch. */
  batch?: number;
  /** Measured rounds; each round is one batch of each flow, in alternating order. */
  rounds?: number;
  warmup?: number;
}

export interface OverheadResult {
  steps: number;
  batch: number;
  rounds: number;
  /** µs per message, per round. */
  sequenceUs: number[];
  changeUs: number[];
  /** Per round: sequence time per message / change time per message. */
  ratios: number[];
  facts: Record<string, string>;
}

function flow(steps: number): object[] {
  const seqSteps = Array.from({ length: steps }, (_, i) => ({
    id: `s${i + 1}`,
    type: 'workcell-memory',
    z: 't1',
    name: `noop ${i + 1}`,
    device: 'd1',
    operation: 'noop',
    params: {},
    wires: [[i + 1 < steps ? `s${i + 2}` : 'end']],
  }));
  const changes = Array.from({ length: steps }, (_, i) => ({
    id: `c${i + 1}`,
    type: 'change',
    z: 't1',
    name: `change ${i + 1}`,
    rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'ok', tot: 'str' }],
    wires: [[i + 1 < steps ? `c${i + 2}` : 'changeDone']],
  }));
  return placed([
    { id: 't1', type: 'tab', label: 'bench' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Bench cell', safeTimeout: '1', stopTimeout: '1' },
    { id: 'd1', type: 'workcell-memory-device', name: 'dev1', cell: 'cell', safeGroup: '0', ownership: 'wait' },
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['s1'], ['seqDone']] },
    ...seqSteps,
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'seqDone', type: 'helper', z: 't1' },
    ...changes,
    { id: 'changeDone', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ]);
}

/** Send `n` messages through `entry`, each after the previous one reached `sink`; µs per message. */
function closedLoop(entryId: string, sinkId: string, n: number, check?: (msg: Record<string, unknown>) => void): Promise<number> {
  const entry = helper.getNode(entryId);
  const sink = helper.getNode(sinkId);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let t0 = 0n;
    const onMsg = (msg: Record<string, unknown>) => {
      try {
        check?.(msg);
      } catch (err) {
        sink.removeListener('input', onMsg);
        reject(err);
        return;
      }
      if (sent < n) {
        sent++;
        entry.receive({ payload: sent, topic: 'bench' });
        return;
      }
      sink.removeListener('input', onMsg);
      resolve(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    };
    sink.on('input', onMsg);
    t0 = process.hrtime.bigint();
    sent = 1;
    entry.receive({ payload: sent, topic: 'bench' });
  });
}

/** Run the sequence-overhead benchmark. */
export async function runOverhead(options: OverheadOptions = {}): Promise<OverheadResult> {
  const steps = options.steps ?? 10;
  const batch = options.batch ?? 2000;
  const rounds = options.rounds ?? 8;
  const warmup = options.warmup ?? 3000;
  // Without the test helper's spies (see node-red-runtime.ts): with them in place the first
  // version of this benchmark measured sinon.
  await loadUninstrumented([...nodeModules, changeNode, catchNode], flow(steps) as { id: string }[]);
  const caught: unknown[] = [];
  helper.getNode('caught').on('input', (msg: Record<string, unknown>) => caught.push(msg.error));
  const completed = (msg: Record<string, unknown>) => {
    const outcome = (msg.payload as { outcome?: string; error?: string }) ?? {};
    if (outcome.outcome !== 'completed') throw new Error(`a benchmark run ended ${outcome.outcome}: ${outcome.error}`);
  };
  const plain = (msg: Record<string, unknown>) => {
    if (msg.payload !== 'ok') throw new Error(`the change flow delivered ${String(msg.payload)}`);
  };
  const A = () => closedLoop('seq', 'seqDone', batch, completed);
  const B = () => closedLoop('c1', 'changeDone', batch, plain);
  try {
    await A();
    await B();
    await closedLoop('seq', 'seqDone', warmup, completed);
    await closedLoop('c1', 'changeDone', warmup, plain);
    const sequenceUs: number[] = [];
    const changeUs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate the order so neither flow always runs first (warm caches, GC debt).
      if (r % 2 === 0) {
        sequenceUs.push(await A());
        changeUs.push(await B());
      } else {
        changeUs.push(await B());
        sequenceUs.push(await A());
      }
    }
    if (caught.length) throw new Error(`errors reached the Catch node during the benchmark: ${caught.map(String).join('; ')}`);
    return { steps, batch, rounds, sequenceUs, changeUs, ratios: sequenceUs.map((s, i) => s / changeUs[i]), facts: machineFacts() };
  } finally {
    await helper.unload();
    forgetLatches();
  }
}

/** The result as a markdown table. */
export function overheadTable(r: OverheadResult): string {
  const seq = median(r.sequenceUs);
  const chg = median(r.changeUs);
  const ratio = median(r.ratios);
  return table(
    ['flow', 'µs per message (median of rounds)', 'messages/s', 'min–max µs', 'ratio (median of per-round ratios)', 'target'],
    [
      [`sequence + ${r.steps} no-op device steps + sequence end`, fmt(seq, 1), Math.round(1e6 / seq), `${fmt(Math.min(...r.sequenceUs), 1)}–${fmt(Math.max(...r.sequenceUs), 1)}`, `${fmt(ratio, 2)}×`, ratio <= 1.3 ? 'met (≤ 1.3×)' : 'MISSED (> 1.3×)'],
      [`${r.steps} core change nodes`, fmt(chg, 1), Math.round(1e6 / chg), `${fmt(Math.min(...r.changeUs), 1)}–${fmt(Math.max(...r.changeUs), 1)}`, '1.00×', ''],
    ],
  );
}

if (require.main === module) {
  runOverhead().then(
    (result) => {
      console.log(overheadTable(result));
      console.log(JSON.stringify({ ratios: result.ratios.map((x) => fmt(x, 2)), ...result.facts }));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
