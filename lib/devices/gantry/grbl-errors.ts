import { WorkcellError } from '../../errors/workcell-error';
import { describeGrblAlarm, describeGrblError } from './codes';

/** An `error:N` answer, as a clear sentence naming the device, the operation and the line GRBL refused. */
export class GrblCommandError extends WorkcellError {
  override readonly name = 'GrblCommandError';
  constructor(device: string, operation: string, readonly line: string, readonly grblCode: number, where = '') {
    super('grbl-error', `${device}: ${operation}${where} refused by GRBL: ${describeGrblError(grblCode)} (line ${JSON.stringify(line)})`, {
      subject: device,
      operation,
      value: line,
    });
  }
}

/** An `ALARM:N` that ended an operation. */
export class GrblAlarmError extends WorkcellError {
  override readonly name = 'GrblAlarmError';
  constructor(device: string, operation: string, readonly alarm: number) {
    super('grbl-alarm', `${device}: ${operation} failed: GRBL raised ${describeGrblAlarm(alarm)}`, { subject: device, operation, value: alarm });
  }
}
