import { RunResult, WorkcellError, showValue } from '../lib';
import { getCell, showCellFailure } from './shared/cell-registry';
import { checkpointedInput } from './shared/checkpoint-input';
import { configure, nodeLabel } from './shared/editor-fields';
import { SEQUENCE_END_FIELDS } from './shared/node-fields';
import { NodeDef, RedAPI, RedNode } from './shared/red';

type EndAs = 'complete' | 'cancel' | 'fail';

interface SequenceEndDef extends NodeDef {
  cell: string;
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-sequence-end`: ends the run named in `msg.workcell.run`. `complete` (default)
   * completes it once no step of it is in flight; `cancel` cancels it (its devices get stop and
   * safe); `fail` fails it with `msg.payload` as the error. A message without a run is an error.
   */
  function SequenceEndNode(this: RedNode, def: SequenceEndDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = configure(node, SEQUENCE_END_FIELDS, def, nodeLabel('sequence end', def));
    if (!configured.ok) {
      const name = (typeof def.name === 'string' && def.name) || 'sequence end';
      checkpointedInput(node, { cellId: def.cell, label: () => name }, () => Promise.reject(configured.error));
      return;
    }
    const endAs: EndAs = configured.config.outcome;
    // Named as the user named it (the step of a failed run, the source of a cancel), or by what it does.
    const label = configured.config.name || (endAs === 'complete' ? 'sequence end' : `sequence end (${endAs})`);
    showCellFailure(node, def.cell);
    // The outcome shown belongs to the latest run of its sequence: a later run of that sequence
    // that ends elsewhere (aborted, failed on the way) clears it.
    let shown: { run: string; sequence: string } | undefined;
    const cell = getCell(def.cell);
    const onRunEnd = (r: RunResult): void => {
      if (!shown || r.sequence !== shown.sequence || r.run === shown.run) return;
      shown = undefined;
      node.status({});
    };
    cell?.on('run-end', onRunEnd);
    node.on('close', () => cell?.off('run-end', onRunEnd));
    checkpointedInput(node, { cellId: def.cell, label: () => label, onHeld: (held) => node.status(held ? { fill: 'yellow', shape: 'ring', text: 'held' } : {}) }, async (msg, _send, ctx) => {
      const run = ctx.run;
      if (!run) {
        throw new WorkcellError('no-run', `${label}: the message is not part of a run (msg.workcell.run is missing); wire it from a sequence node`, { operation: label });
      }
      const action = typeof msg.action === 'string' && ['complete', 'cancel', 'fail'].includes(msg.action) ? (msg.action as EndAs) : endAs;
      if (action === 'complete') run.complete();
      else if (action === 'cancel') await ctx.cell.cancelRun(run.id, label);
      else run.fail(new Error(typeof msg.payload === 'string' && msg.payload ? msg.payload : `${label}: the flow failed the run (msg.payload was ${showValue(msg.payload)})`), label);
      shown = { run: run.id, sequence: run.sequence };
      node.status({ fill: 'green', shape: 'dot', text: `${action === 'complete' ? 'completed' : action === 'cancel' ? 'cancelled' : 'failed'} ${run.id}` });
    });
  }
  RED.nodes.registerType('workcell-sequence-end', SequenceEndNode as unknown as (this: RedNode, def: NodeDef) => void);
};
