import { WorkcellError, describeError } from '../lib';
import { checkpointedInput } from './shared/checkpoint-input';
import { NodeDef, RedAPI, RedNode } from './shared/red';

type EndAs = 'complete' | 'cancel' | 'fail';

interface SequenceEndDef extends NodeDef {
  cell: string;
  outcome?: EndAs;
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
    const endAs: EndAs = def.outcome === 'cancel' || def.outcome === 'fail' ? def.outcome : 'complete';
    // Named as the user named it (the step of a failed run, the source of a cancel), or by what it does.
    const label = def.name || (endAs === 'complete' ? 'sequence end' : `sequence end (${endAs})`);
    checkpointedInput(node, { cellId: def.cell, label: () => label, onHeld: (held) => node.status(held ? { fill: 'yellow', shape: 'ring', text: 'held' } : {}) }, async (msg, _send, ctx) => {
      const run = ctx.run;
      if (!run) {
        throw new WorkcellError('no-run', `${label}: the message is not part of a run (msg.workcell.run is missing); wire it from a sequence node`, { operation: label });
      }
      const action = typeof msg.action === 'string' && ['complete', 'cancel', 'fail'].includes(msg.action) ? (msg.action as EndAs) : endAs;
      if (action === 'complete') run.complete();
      else if (action === 'cancel') await ctx.cell.cancelRun(run.id, label);
      else run.fail(new Error(typeof msg.payload === 'string' && msg.payload ? msg.payload : `${label}: the flow failed the run (${describeError(msg.payload)})`), label);
      node.status({ fill: 'green', shape: 'dot', text: `${action === 'complete' ? 'completed' : action === 'cancel' ? 'cancelled' : 'failed'} ${run.id}` });
    });
  }
  RED.nodes.registerType('workcell-sequence-end', SequenceEndNode as unknown as (this: RedNode, def: NodeDef) => void);
};
