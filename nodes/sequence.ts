import { AbortContext, EStop, RunResult, WorkcellError, describeError } from '../lib';
import { getCell, noCellError, redeployPolicy, showCellFailure } from './shared/cell-registry';
import { shortText } from './shared/checkpoint-input';
import { configure, nodeLabel } from './shared/editor-fields';
import { SEQUENCE_FIELDS } from './shared/node-fields';
import { deliveringAtOnce, onFlowsStopping, sendOutputs } from './shared/flows-stopping';
import { startObservers } from './shared/sequence-start';
import { DoneFn, NodeDef, NodeMessage, NodeStatus, RedAPI, RedNode, SendFn, closeTimeoutMs } from './shared/red';

const STATUS_MS = 100;

interface SequenceDef extends NodeDef {
  cell: string;
}

/** A run's outcome as one log line: which run, how and where it ended, and why. */
function outcomeLine(r: RunResult): string {
  return `run ${r.run} of sequence "${r.sequence}" ${r.outcome}${r.step ? ` at ${r.step}` : ''}${r.error ? `: ${r.error}` : ''}`;
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
   * aborted. Concurrency (at most one run of this node in progress, whatever the input rate):
   * reject a new message while a run is in progress, queue it, or cancel the previous run
   * (which ends `cancelled` at once) and start the new one. When Node-RED stops the node (a
   * deploy that restarts or removes it, a shutdown) its runs end `aborted` with the source
   * `redeploy: sequence "<name>" restarted|removed` while the flows are still whole: their
   * outcomes reach the nodes wired to output 2 and the log.
   */
  function SequenceNode(this: RedNode, def: SequenceDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = configure(node, SEQUENCE_FIELDS, def, nodeLabel('sequence', def));
    if (!configured.ok) {
      node.on('input', (msg, _send, done) => {
        startObservers.get(msg)?.refused(configured.error);
        done(configured.error);
      });
      return;
    }
    const { concurrency, timeout: timeoutMs, policy } = configured.config;
    const label = configured.config.name || 'sequence';
    showCellFailure(node, def.cell);
    const active = new Set<string>();
    const pending: Pending[] = [];
    /** Set once the node is being stopped (a redeploy, a shutdown): nothing new starts. */
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

    const noCell = () => noCellError(`sequence "${label}"`, def.cell, 'start');

    const start = (cell: AbortContext, p: Pending): void => {
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
        sendOutputs(RED, node, p.send, [null, out as NodeMessage]);
        // A run ended by the node's stop (a redeploy, a shutdown) is said in the log too: the
        // flows that would show its outcome are about to go. Info, not a warning: the stop was
        // asked for.
        if (closing) node.log(outcomeLine(result));
        const fill = result.outcome === 'completed' ? 'green' : result.outcome === 'cancelled' ? 'yellow' : 'red';
        setStatus({ fill, shape: 'dot', text: shortText(`${result.outcome}${result.step ? ` at ${result.step}` : ''}`) });
        p.done();
        if (active.size === 0) startNext();
      });
      refusalShown = false;
      showStatus();
      startObservers.get(p.msg)?.started(run);
      p.msg.workcell = ref;
      p.send([p.msg, null]);
    };

    const startNext = (): void => {
      const next = pending.shift();
      if (!next || closing) return;
      try {
        const cell = getCell(def.cell);
        if (!cell) throw noCell();
        start(cell, next);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(describeError(err));
        startObservers.get(next.msg)?.refused(error);
        next.done(error);
        startNext();
      }
    };

    /**
     * A message that may start a run now (the cell is not held): start it, or by the
     * concurrency refuse it, queue it, or end the run in progress first. All synchronous, so
     * inputs arriving together cannot interleave: at most one run of this node is in progress
     * (the cell ends a cancelled run at once; the devices it held are stopped and made safe
     * before they serve the new run).
     */
    const admit = (cell: AbortContext, p: Pending): void => {
      if (closing) throw new WorkcellError('sequence-closed', `sequence "${label}": refused a new start: the sequence is being stopped (a redeploy or shutdown)`, { operation: 'start' });
      if (active.size > 0) {
        if (concurrency === 'reject') {
          const current = active.values().next().value;
          throw new WorkcellError('sequence-busy', `sequence "${label}": refused a new start: run ${current} is still in progress (concurrency: reject)`, {
            operation: 'start',
            value: current,
          });
        }
        if (concurrency === 'queue') {
          pending.push(p);
          showStatus();
          return;
        }
        for (const id of [...active]) cell.cancelRun(id, `sequence "${label}": replaced by a new run`).catch(() => undefined);
      }
      start(cell, p);
    };

    // A refusal shows red only while no run is in progress (a refused second start must not
    // make a running sequence look failed: the error still reaches Catch nodes), and only until
    // the cell is ready again (a reset) or a run starts.
    let refusalShown = false;
    const refuse = (err: unknown, p: Pending): void => {
      const error = err instanceof Error ? err : new Error(describeError(err));
      if (active.size === 0) {
        refusalShown = true;
        setStatus({ fill: 'red', shape: 'ring', text: shortText(error.message) });
      }
      startObservers.get(p.msg)?.refused(error);
      p.done(error);
    };
    const watched = getCell(def.cell);
    const onCellState = (e: { to: string }): void => {
      if (e.to !== 'ready' || !refusalShown) return;
      refusalShown = false;
      showStatus();
    };
    watched?.on('state', onCellState);

    node.on('input', (msg, send, done) => {
      // Synchronous unless the cell is held: no promise per message, and no other input can
      // slip in between the concurrency decision and the start.
      const p: Pending = { msg, send, done };
      let cell: AbortContext | undefined;
      try {
        cell = getCell(def.cell);
        if (!cell) throw noCell();
        if (cell.state !== 'held') {
          admit(cell, p);
          return;
        }
      } catch (err) {
        refuse(err, p);
        return;
      }
      // The input is a checkpoint: a held cell makes a new run wait before it starts.
      const held = cell;
      held.checkpoint(undefined, `sequence "${label}"`).then(
        (scope) => {
          scope.close();
          try {
            admit(held, p);
          } catch (err) {
            refuse(err, p);
          }
        },
        (err: unknown) => refuse(err, p),
      );
    });

    /**
     * Stop the runs in progress because the node is being stopped: each run ends at once
     * (aborted, the source naming the redeploy) and its outcome leaves output 2; the returned
     * promise settles when their devices are stopped and safe. Called when Node-RED announces the
     * stop, while the flows are still whole, or else from the close handler. Runs once.
     */
    let stopping: Promise<unknown> | undefined;
    const stopRuns = (removed: boolean): Promise<unknown> => {
      if (stopping) return stopping;
      closing = true;
      for (const p of pending.splice(0)) {
        const error = new Error(`sequence "${label}": closed by a redeploy before this message's run could start`);
        startObservers.get(p.msg)?.refused(error);
        p.done(error);
      }
      const cell = getCell(def.cell);
      if (!cell || active.size === 0) return (stopping = Promise.resolve());
      const why = `redeploy: sequence "${label}" ${removed ? 'removed' : 'restarted'}`;
      const stops =
        redeployPolicy(def.cell) === 'estop-cell'
          ? [cell.estop(why, { redeploy: true })]
          : [...active].map((id) => cell.cancelRun(id, why, true, new EStop(why)));
      return (stopping = Promise.allSettled(stops));
    };
    const unwatch = onFlowsStopping(RED, node, (removed) => void stopRuns(removed));

    node.on('close', (removed: boolean, done: () => void) => {
      unwatch();
      watched?.off('state', onCellState);
      // Not announced (a stop Node-RED's event did not name this node for): stop the runs now,
      // delivering their outcomes at once to what is still open.
      const stopped = deliveringAtOnce(() => stopRuns(removed));
      if (statusTimer) clearTimeout(statusTimer);
      const timer = setTimeout(done, Math.max(100, closeTimeoutMs(RED) - 1000));
      void stopped.then(() => {
        clearTimeout(timer);
        done();
      });
    });
  }
  RED.nodes.registerType('workcell-sequence', SequenceNode as unknown as (this: RedNode, def: NodeDef) => void);
};
