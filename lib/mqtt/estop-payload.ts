import { WorkcellError, showValue } from '../errors/workcell-error';

/** What a message on a cell's remote emergency-stop topic says. */
export interface RemoteStopState {
  state: 'tripped' | 'clear';
  /** Who published it, when the payload names them. */
  by?: string;
}

/**
 * Read a remote emergency-stop payload. Accepted: the text `tripped` or `clear` (spaces around
 * it ignored), or a JSON object `{"state": "tripped" | "clear", "by": "<who>"}` (`by` optional,
 * text). Anything else (an empty payload, other text, JSON of another shape) throws a
 * WorkcellError `bad-estop-payload` naming the topic and showing the payload: it is never read
 * as a clear.
 */
export function readRemoteStop(topic: string, payload: Buffer | string): RemoteStopState {
  const text = (typeof payload === 'string' ? payload : payload.toString('utf8')).trim();
  if (text === 'tripped' || text === 'clear') return { state: text };
  let parsed: unknown;
  if (text.startsWith('{')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const { state, by } = parsed as { state?: unknown; by?: unknown };
    if ((state === 'tripped' || state === 'clear') && (by === undefined || typeof by === 'string')) return by ? { state, by } : { state };
  }
  throw new WorkcellError(
    'bad-estop-payload',
    `remote emergency stop on topic "${topic}": unreadable payload ${showValue(text)}; expected "tripped", "clear" or {"state":"tripped"|"clear","by":"…"}`,
    { operation: 'remote estop', value: text },
  );
}
