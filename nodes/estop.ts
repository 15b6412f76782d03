import { AbortContext, WorkcellError, describeError, showValue } from '../lib';
import { getCell, getWatchdog, noCellError, showCellFailure } from './shared/cell-registry';
import { shortText } from './shared/checkpoint-input';
import { configure, nodeLabel } from './shared/editor-fields';
import { ESTOP_ACTIONS, ESTOP_FIELDS } from './shared/node-fields';
import { readRunRef } from './shared/run-ref';
import { NodeDef, NodeMessage, RedAPI, RedNode } from './shared/red';

/** What `msg.action` can ask: the configurable actions and `clear` (with `msg.device`). */
const ACTIONS = [...ESTOP_ACTIONS, 'clear'] as const;
type Action = (typeof ACTIONS)[number];

interface EStopDef extends NodeDef {
  cell: string;
}

interface EStopNode extends RedNode {
  action: Action;
  trigger(action: Action, msg: NodeMessage, source: string): Promise<NodeMessage['payload']>;
  /** Carry out `msg` (its action, or the configured one) and resolve with it answered; `source` overrides the message's. */
  handle(msg: NodeMessage, source?: string): Promise<NodeMessage>;
}

/** Carry out one control action on a cell; resolves with what to put on msg.payload. */
async function perform(cell: AbortContext, cellId: string, action: Action, msg: NodeMessage, source: string): Promise<Record<string, unknown>> {
  switch (action) {
    case 'estop':
    case 'halt': {
      const report = action === 'estop' ? await cell.estop(source) : await cell.halt(source);
      return { action, cell: cell.name, state: cell.state, report };
    }
    case 'reset':
      await cell.reset(source);
      return { action, cell: cell.name, state: cell.state };
    case 'hold':
      await cell.hold(source);
      return { action, cell: cell.name, state: cell.state };
    case 'resume':
      await cell.resume(source);
      return { action, cell: cell.name, state: cell.state };
    case 'heartbeat': {
      const watchdog = getWatchdog(cellId);
      if (!watchdog) {
        throw new WorkcellError('no-heartbeat', `estop: heartbeat: cell "${cell.name}" has no heartbeat period configured`, { subject: cell.name, operation: 'heartbeat' });
      }
      watchdog.beat();
      return { action, cell: cell.name, state: cell.state, heartbeatLost: false };
    }
    case 'clear': {
      // An operator made one device safe by hand: explicit, named, and logged by the cell node.
      cell.clearDevice(msg.device, source);
      return { action, cell: cell.name, state: cell.state, device: msg.device, unsafe: cell.unsafeDevices };
    }
    case 'cancel': {
      const runId = runToCancel(msg, cellId);
      const report = await cell.cancelRun(runId, source);
      return { action, cell: cell.name, state: cell.state, run: runId, report };
    }
  }
}

function runToCancel(msg: NodeMessage, cellId: string): string {
  if (typeof msg.run === 'string' && msg.run) return msg.run;
  if (msg.run !== undefined) throw new WorkcellError('bad-run-ref', `estop: cancel needs msg.run to be a run id string, got ${showValue(msg.run)}`, { operation: 'cancel', value: msg.run });
  const ref = readRunRef(msg, 'estop: cancel');
  if (!ref) throw new WorkcellError('no-run', 'estop: cancel needs the run to cancel in msg.run or msg.workcell.run', { operation: 'cancel' });
  if (ref.cell !== undefined && ref.cell !== cellId) {
    throw new WorkcellError('foreign-run', `estop: cancel: run ${ref.run} belongs to another cell (${ref.cell})`, { operation: 'cancel', value: ref.run });
  }
  return ref.run;
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-estop`: trips, halts, resets, holds, resumes its cell or cancels a run. The action
   * is the node's configured one, or `msg.action` (`estop`, `halt`, `reset`, `hold`, `resume`,
   * `cancel`, `heartbeat`, `clear` with `msg.device`: a device an operator made safe by hand). Its
   * input is not a checkpoint: it acts while the cell is held or aborted. The editor's button on
   * the node triggers the configured action (source "editor"). A configured action that is not
   * one the editor offers (`clear` needs a device, so it is not one) is an error at deploy, and
   * the node then acts as `estop`: a stop button must never do nothing.
   */
  function EStopNodeCtor(this: EStopNode, def: EStopDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const fields = configure(node, ESTOP_FIELDS, def, nodeLabel('estop', def));
    const configured: Action = fields.ok ? fields.config.action : 'estop';
    node.action = configured;
    if (fields.ok) showCellFailure(node, def.cell);

    node.trigger = async (action, msg, source) => {
      const cell = getCell(def.cell);
      if (!cell) throw noCellError(`estop "${def.name || action}"`, def.cell, action);
      const payload = await perform(cell, def.cell, action, msg, source);
      node.status({ fill: cell.state === 'aborted' ? 'red' : 'green', shape: 'dot', text: shortText(`${action}: ${cell.state}`) });
      return payload;
    };

    // One way for a message and for the editor's button: the action carried out, the answer on
    // msg.payload sent on, an error to Catch nodes with the message.
    node.handle = (msg, source) =>
      (async () => {
        let action: Action = configured;
        if (msg.action !== undefined) {
          if (typeof msg.action !== 'string' || !ACTIONS.includes(msg.action as Action)) {
            throw new WorkcellError('unknown-action', `estop: unknown msg.action ${showValue(msg.action)}; expected one of ${ACTIONS.join(', ')}`, { operation: 'estop', value: msg.action });
          }
          action = msg.action as Action;
        }
        msg.payload = await node.trigger(action, msg, source ?? (typeof msg.source === 'string' && msg.source ? msg.source : `node "${def.name || node.id}"`));
        return msg;
      })().catch((err: unknown) => {
        const error = err instanceof Error ? err : new Error(describeError(err));
        node.status({ fill: 'red', shape: 'ring', text: shortText(error.message) });
        throw error;
      });

    node.on('input', (msg, send, done) => {
      node.handle(msg).then(
        (answered) => {
          send(answered);
          done();
        },
        (err: Error) => done(err),
      );
    });
  }
  RED.nodes.registerType('workcell-estop', EStopNodeCtor as unknown as (this: RedNode, def: NodeDef) => void);

  // The editor's button on an estop node: its configured action, attributed to the editor.
  RED.httpAdmin.post('/workcell/estop/:id', RED.auth.needsPermission('workcell.write'), (req, res) => {
    const target = RED.nodes.getNode(req.params.id) as EStopNode | null;
    if (!target || target.type !== 'workcell-estop') {
      res.status(404).json({ error: `no deployed estop node ${req.params.id}` });
      return;
    }
    // The same answer a message would get: on the node's output, and errors to Catch nodes.
    const msg: NodeMessage = { _msgid: RED.util.generateId(), action: target.action, topic: 'editor' };
    target.handle(msg, 'editor').then(
      (answered) => {
        target.send(answered);
        res.json(answered.payload);
      },
      (err: Error) => {
        target.error(err, msg);
        res.status(409).json({ error: describeError(err) });
      },
    );
  });
};
