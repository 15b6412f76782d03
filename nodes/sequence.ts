import { BranchPolicy, EStop, RunResult, WorkcellError, describeError } from '../lib';
import { getCell, redeployPolicy } from './shared/cell-registry';
import { shortText } from './shared/checkpoint-input';
import { DoneFn, NodeDef, NodeMessage, NodeStatus, RedAPI, RedNode, SendFn, closeTimeoutMs } from './shared/red';

const STATUS_MS = 100;

type Concurrency = 'reject' | 'queue' | 'cancel-previous';

interface SequenceDef extends NodeDef {
  cell: string;
  concurrency?: Concurrency;
  timeout?: string | number;
  policy?: BranchPolicy;
}

interface Pending {
  msg: NodeMessage;
  send: SendFn;
  done: DoneFn;
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-sequence`: an input starts a run of its cell. Output 1 carries the message into
   * the steps with `msg.workcell = {run, cell, sequence}`; output 2 emits the run's outcome
   * exactly once as `msg.payload = {outcome, run, step, error, durationMs, ...}`. The input
   * message is done when its run has ended. Refused with a clear error while the cell is
   * aborted. Concurrency: reject a new message while a run of this node is in progress, queue
   * it, or cancel the previous run.
   */
  function SequenceNode(this: RedNode, def: SequenceDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const label = def.name || 'sequence';
    const concurrency: Concurrency = def.concurrency === 'queue' || def.concurrency === 'cancel-previous' ? def.concurrency : 'reject';
    const timeoutS = Number(def.timeout);
    const timeoutMs = Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS * 1000 : undefined;
    const policy: BranchPolicy = def.policy === 'report-only' ? 'report-only' : 'fail-run';
    const active = new Set<string>();
    const pending: Pending[] = [];
    let closing = false;

    // Status goes to every open editor: at a high run rate, show the latest at most every
    // STATUS_MS (the last one always lands), rather than two updates per run.
    let statusShownAt = 0;
    let statusTimer: NodeJS.Timeout | undefined;
    // The latest status, or a function that builds it from the node's state when it is shown
    // (most are superseded before they land: no object and no text for those).
    let latestStatus: NodeStatus | (() => NodeStatus) = {};
    const setStatus = (status: NodeStatus | (() => NodeStatus)): void => {
      latestStatus = status;
      if (statusTimer) return;
      const since = Date.now() - statusShownAt;
      if (since >= STATUS_MS) {
        statusShownAt = Date.now();
        node.status(typeof status === 'function' ? status() : status);
        return;
      }
      statusTimer = setTimeout(() => {
        statusTimer = undefined;
        statusShownAt = Date.now();
        node.status(typeof latestStatus === 'function' ? latestStatus() : latestStatus);
      }, STATUS_MS - since);
    };
    const runsStatus = (): NodeStatus => {
      if (active.size === 0) return pending.length ? { fill: 'yellow', shape: 'ring', text: `${pending.length} queued` } : {};
      return { fill: 'blue', shape: 'dot', text: active.size === 1 ? `run ${[...active][0]}` : `${active.size} runs` + (pending.length ? `, ${pending.length} queued` : '') };
    };
    const showStatus = () => setStatus(runsStatus);

    const start = (p: Pending): void => {
      const cell = getCell(def.cell);
      if (!cell) throw new WorkcellError('no-cell', `sequence "${label}": no abort context (cell) is configured`, { operation: 'start' });
      const run = cell.startRun({ sequence: label, timeoutMs, policy });
      active.add(run.id);
      // Output 2 carries the message's properties as they were at the start (a shallow copy:
      // no deep clone per run, and objects such as an HTTP response stay usable), without the
      // input's _msgid (taken out by the rest pattern: `delete` would leave the message a slow
      // dictionary-mode object for every node downstream).
      const { _msgid: _inputMsgId, ...out } = p.msg;
      const ref = { run: run.id, cell: def.cell, sequence: node.id };
      run.once('end', (result: RunResult) => {
        active.delete(run.id);
        out.workcell = ref;
        out.payload = { ...result };
        out.topic ??= label;
        p.send([null, out as NodeMessage]);
        const fill = result.outcome === 'completed' ? 'green' : result.outcome === 'cancelled' ? 'yellow' : 'red';
        setStatus({ fill, shape: 'dot', text: shortText(`${result.outcome}${result.step ? ` at ${result.step}` : ''}`) });
        p.done();
        if (active.size === 0) startNext();
      });
      showStatus();
      p.msg.workcell = ref;
      p.send([p.msg, null]);
    };

    const startNext = (): void => {
      const next = pending.shift();
      if (!next || closing) return;
      try {
        start(next);
      } catch (err) {
        next.done(err instanceof Error ? err : new Error(describeError(err)));
        startNext();
      }
    };

    const refuse = (err: unknown, done: DoneFn): void => {
      const error = err instanceof Error ? err : new Error(describeError(err));
      node.status({ fill: 'red', shape: 'ring', text: shortText(error.message) });
      done(error);
    };

    node.on('input', (msg, send, done) => {
      // The common case (a cell that is not held, no run of this node in progress) starts the
      // run here, without an async function's promise per message; everything else (waiting at
      // a held cell, concurrency) goes the general way below.
      try {
        const cell = getCell(def.cell);
        if (cell && cell.state !== 'held' && active.size === 0) {
          start({ msg, send, done });
          return;
        }
      } catch (err) {
        refuse(err, done);
        return;
      }
      void (async () => {
        const cell = getCell(def.cell);
        if (!cell) throw new WorkcellError('no-cell', `sequence "${label}": no abort context (cell) is configured`, { operation: 'start' });
        // The input is a checkpoint: a held cell makes a new run wait before it starts.
        if (cell.state === 'held') (await cell.checkpoint(undefined, `sequence "${label}"`)).close();
        if (active.size > 0) {
          if (concurrency === 'reject') {
            throw new WorkcellError('sequence-busy', `sequence "${label}": refused a new start: run ${[...active][0]} is still in progress (concurrency: reject)`, {
              operation: 'start',
              value: [...active][0],
            });
          }
          if (concurrency === 'queue') {
            pending.push({ msg, send, done });
            showStatus();
            return;
          }
          await Promise.all([...active].map((id) => cell.cancelRun(id, `sequence "${label}": replaced by a new run`).catch(() => undefined)));
        }
        start({ msg, send, done });
      })().catch((err: unknown) => refuse(err, done));
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      if (statusTimer) clearTimeout(statusTimer);
      for (const p of pending.splice(0)) p.done(new Error(`sequence "${label}": closed by a redeploy before this message's run could start`));
      const cell = getCell(def.cell);
      if (!cell || active.size === 0) {
        done();
        return;
      }
      const why = `redeploy: sequence "${label}" ${removed ? 'removed' : 'restarted'}`;
      const stops =
        redeployPolicy(def.cell) === 'estop-cell'
          ? [cell.estop(why, { redeploy: true })]
          : [...active].map((id) => cell.cancelRun(id, why, true, new EStop(why)));
      const timer = setTimeout(done, Math.max(100, closeTimeoutMs(RED) - 1000));
      void Promise.allSettled(stops).then(() => {
        clearTimeout(timer);
        done();
      });
    });
  }
  RED.nodes.registerType('workcell-sequence', SequenceNode as unknown as (this: RedNode, def: NodeDef) => void);
};
