import { WorkcellError } from '../../errors/workcell-error';
import { IoError } from '../../io/errors';
import { describeError, isCancellation } from '../../scope/reasons';

/**
 * An error met during a device's operation, as the device's sentence: a bus error (an
 * exception reply, a timeout, the connection lost; they begin with the unit) gets the device's
 * name and the operation in front (`Press: weld: tcp://… unit 3: write register 3 = 3000:
 * exception 03, …`), keeping the bus error as its cause. A cancellation, or anything once
 * `signal` has fired, goes back as it is, and so does a sentence the device made itself (a
 * `WorkcellError` that is not a bus error).
 */
export function deviceError(device: string, operation: string, err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted || isCancellation(err)) return err;
  if (err instanceof WorkcellError && !(err instanceof IoError)) return err;
  return new WorkcellError(err instanceof WorkcellError ? err.code : 'modbus', `${device}: ${operation}: ${describeError(err)}`, { subject: device, operation, cause: err });
}
