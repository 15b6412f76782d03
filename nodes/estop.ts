import { WorkcellError, describeError, showValue } from '../lib';
import { getCell, noCellError, showCellFailure } from './shared/cell-registry';
import { CELL_ACTIONS, CellAction, editorSource, isCellAction, performCellAction } from './shared/cell-control';
import { shortText } from './shared/checkpoint-input';
import { configure, nodeLabel } from './shared/editor-fields';
import { ESTOP_FIELDS } from './shared/node-fields';
import { NodeDef, NodeMessage, RedAPI, RedNode } from './shared/red';

interface EStopDef extends NodeDef {
  cell: string;
}

interface EStopNode extends RedNode {
  action: CellAction;
  trigger(action: CellAction, msg: NodeMessage, source: string): Promise<NodeMessage['payload']>;
  /** Carry out `msg` (its action, or the configured one) and resolve with it answered; `source` overrides the message's. */
  handle(msg: NodeMessage, source?: string): Promise<NodeMessage>;
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-estop`: trips, halts, resets, holds, resumes its cell or cancels a run. The action
   * is the node's configured one, or `msg.action` (`estop`, `halt`, `reset`, `hold`, `resume`,
   * `cancel`, `heartbeat`, `clear` with `msg.device`: a device an operator made safe by hand). Its
   * input is not a checkpoint: it acts while the cell is held or aborted. The editor's button on
   * the node triggers the configured action (source "editor", or "editor (<user>)" when the
   * editor has authentication). A configured action that is not
   * one the editor offers (`clear` needs a device, so it is not one) is an error at deploy, and
   * the node then acts as `estop`: a stop button must never do nothing.
   */
  function EStopNodeCtor(this: EStopNode, def: EStopDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const fields = configure(node, ESTOP_FIELDS, def, nodeLabel('estop', def));
    const configured: CellAction = fields.ok ? fields.config.action : 'estop';
    node.action = configured;
    if (fields.ok) showCellFailure(node, def.cell);

    node.trigger = async (action, msg, source) => {
      const cell = getCell(def.cell);
      if (!cell) throw noCellError(`estop "${def.name || action}"`, def.cell, action);
      const payload = await performCellAction(cell, def.cell, action, msg, source);
      node.status({ fill: cell.state === 'aborted' ? 'red' : 'green', shape: 'dot', text: shortText(`${action}: ${cell.state}`) });
      return payload;
    };

    // One way for a message and for the editor's button: the action carried out, the answer on
    // msg.payload sent on, an error to Catch nodes with the message.
    node.handle = (msg, source) =>
      (async () => {
        let action: CellAction = configured;
        if (msg.action !== undefined) {
          if (!isCellAction(msg.action)) {
            throw new WorkcellError('unknown-action', `estop: unknown msg.action ${showValue(msg.action)}; expected one of ${CELL_ACTIONS.join(', ')}`, { operation: 'estop', value: msg.action });
          }
          action = msg.action;
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

  // The editor's button on an estop node: its configured action, attributed to the editor (and its user).
  RED.httpAdmin.post('/workcell/estop/:id', RED.auth.needsPermission('workcell.write'), (req, res) => {
    const target = RED.nodes.getNode(req.params.id) as EStopNode | null;
    if (!target || target.type !== 'workcell-estop') {
      res.status(404).json({ error: `no deployed estop node ${req.params.id}` });
      return;
    }
    // The same answer a message would get: on the node's output, and errors to Catch nodes.
    const msg: NodeMessage = { _msgid: RED.util.generateId(), action: target.action, topic: 'editor' };
    target.handle(msg, editorSource(req)).then(
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
