import { AbortContext, WorkcellError, showValue } from '../../lib';
import { getWatchdog } from './cell-registry';
import { ESTOP_ACTIONS } from './node-fields';
import { readRunRef } from './run-ref';
import { HttpRequest, NodeMessage } from './red';

/**
 * The control actions on a cell, carried out one way for every way of asking: an estop node's
 * message or its editor button, and the editor's Workcell sidebar. Each answers with the same
 * payload, so a flow and an operator see the same outcome.
 */
export const CELL_ACTIONS = [...ESTOP_ACTIONS, 'clear'] as const;
export type CellAction = (typeof CELL_ACTIONS)[number];

/** Whether `value` names a control action. */
export function isCellAction(value: unknown): value is CellAction {
  return typeof value === 'string' && (CELL_ACTIONS as readonly string[]).includes(value);
}

/**
 * Carry out one control action on a cell; resolves with what an estop node puts on msg.payload.
 * `clear` takes the device from `msg.device`, `cancel` the run from `msg.run` or `msg.workcell`.
 */
export async function performCellAction(cell: AbortContext, cellId: string, action: CellAction, msg: NodeMessage, source: string): Promise<Record<string, unknown>> {
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

/**
 * The source of an action asked for in the editor: `editor`, naming the user when the editor
 * has authentication (`editor (alice)`), so the cell's log and trip sources say who it was.
 */
export function editorSource(req: HttpRequest): string {
  const user = req.user?.username;
  return typeof user === 'string' && user ? `editor (${user})` : 'editor';
}
