import { WorkcellError, showValue } from '../../lib';
import { NodeMessage } from './red';

/** What a message carries to say which run (and cell) it belongs to: plain data, never objects. */
export interface RunRef {
  run: string;
  cell?: string;
  sequence?: string;
}

/**
 * Read `msg.workcell` (the run reference). Absent means "not part of a run". Present but not
 * `{run: string}` is a clear error naming the node and the value: a message must not be
 * silently treated as outside its run.
 */
export function readRunRef(msg: NodeMessage, where: string): RunRef | undefined {
  const ref = msg.workcell;
  if (ref === undefined || ref === null) return undefined;
  if (typeof ref !== 'object' || Array.isArray(ref)) {
    throw new WorkcellError('bad-run-ref', `${where}: msg.workcell must be an object like {run: "<id>"}, got ${showValue(ref)}`, { operation: where, value: ref });
  }
  const r = ref as Record<string, unknown>;
  if (typeof r.run !== 'string' || r.run === '') {
    throw new WorkcellError('bad-run-ref', `${where}: msg.workcell.run must be a run id (a non-empty string), got ${showValue(r.run)}`, { operation: where, value: r.run });
  }
  if (r.cell !== undefined && typeof r.cell !== 'string') {
    throw new WorkcellError('bad-run-ref', `${where}: msg.workcell.cell must be a cell id string, got ${showValue(r.cell)}`, { operation: where, value: r.cell });
  }
  return { run: r.run, cell: r.cell as string | undefined, sequence: typeof r.sequence === 'string' ? r.sequence : undefined };
}
