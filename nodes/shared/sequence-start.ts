import type { Run, RunResult } from '../../lib';
import { WorkcellError } from '../../lib';
import type { StartedRun } from '../../lib/mqtt';
import type { NodeDef, NodeMessage, RedAPI } from './red';

/** Told by a sequence node what became of one message it received: a run started, or a refusal. */
export interface StartObserver {
  started(run: Run): void;
  refused(error: Error): void;
}

/**
 * The observers of messages handed to sequence nodes by `startSequenceByName`, by message object
 * (Node-RED's `receive` passes the object itself): the sequence node tells the observer of a
 * message when its run starts or when it refuses it.
 */
export const startObservers = new WeakMap<object, StartObserver>();

/**
 * Start the `workcell-sequence` node of cell `cellId` named `name` by injecting a message
 * (`node.receive`) with `msg.payload = parameters` and `msg.source`: resolves with the run id
 * once its run has started (a held cell makes it wait, a queue too) and its outcome promise;
 * rejects with the sequence's refusal, or when the cell has no deployed sequence of that name
 * or more than one.
 */
export function startSequenceByName(RED: RedAPI, cellId: string, cellName: string, name: string, parameters: unknown, source: string): Promise<StartedRun> {
  const ids: string[] = [];
  RED.nodes.eachNode?.((n: NodeDef) => {
    if (n.type === 'workcell-sequence' && n.cell === cellId && n.name === name && n.d !== true) ids.push(n.id);
  });
  const live = ids.map((id) => RED.nodes.getNode(id)).filter((n) => n !== null);
  if (live.length !== 1) {
    const why = live.length === 0 ? 'it has no deployed sequence node of that name' : `it has ${live.length} sequence nodes of that name`;
    return Promise.reject(new WorkcellError('no-sequence', `cannot start sequence ${JSON.stringify(name)} in cell "${cellName}": ${why}`, { subject: cellName, operation: 'start', value: name }));
  }
  return new Promise((resolve, reject) => {
    const msg: NodeMessage = { payload: parameters, topic: name, source };
    startObservers.set(msg, {
      started: (run) => resolve({ run: run.id, ended: run.result ? Promise.resolve(run.result) : new Promise<RunResult>((r) => run.once('end', r)) }),
      refused: reject,
    });
    live[0].receive(msg);
  });
}
