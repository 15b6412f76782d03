import { IoError } from '../errors';
import { showValue } from '../../errors/workcell-error';

/**
 * Errors of the Modbus bus. Each message starts with the unit (`tcp://127.0.0.1:5020 unit 3`),
 * then the request (`write register 26 = 1200`), then what went wrong; the same facts are fields
 * (`subject` = unit label, `operation` = request text, `value`) for `msg.error`.
 */

/** The meaning of each standard exception code, as the end of a sentence. */
const EXCEPTION_MEANINGS: Readonly<Record<number, string>> = {
  0x01: 'illegal function (the unit does not support this function)',
  0x02: 'illegal data address (the unit has no such register)',
  0x03: 'illegal data value (the unit refused the value or count)',
  0x04: 'server device failure (the unit failed while doing it)',
  0x05: 'acknowledge (the unit accepted it and is still working on it)',
  0x06: 'server device busy (the unit is busy with a long command; try again later)',
  0x08: 'memory parity error (the unit found its extended memory inconsistent)',
  0x0a: 'gateway path unavailable (the gateway has no path to that unit)',
  0x0b: 'gateway target failed to respond (the gateway got no answer from that unit)',
};

/** `illegal data address (…)` for a known code, `unknown exception code` otherwise. */
export function exceptionMeaning(code: number): string {
  return EXCEPTION_MEANINGS[code] ?? 'an exception code the Modbus standard does not define';
}

/** Two hex digits: how exception codes are written (`02`, `0B`). */
export function hex2(value: number): string {
  return value.toString(16).toUpperCase().padStart(2, '0');
}

/** The unit answered with an exception: the code and its meaning. */
export class ModbusExceptionError extends IoError {
  override readonly name = 'ModbusExceptionError';
  readonly exceptionCode: number;
  constructor(unitLabel: string, request: string, code: number) {
    super('EMODBUS', `${unitLabel}: ${request}: exception ${hex2(code)}, ${exceptionMeaning(code)}`, {
      subject: unitLabel, operation: request, value: code,
    });
    this.exceptionCode = code;
  }
}

/** No reply within the request's timeout. */
export class ModbusTimeoutError extends IoError {
  override readonly name = 'ModbusTimeoutError';
  readonly timeoutMs: number;
  constructor(unitLabel: string, request: string, timeoutMs: number) {
    super('ETIMEOUT', `${unitLabel}: ${request}: no reply within ${timeoutMs} ms`, { subject: unitLabel, operation: request, value: timeoutMs });
    this.timeoutMs = timeoutMs;
  }
}

/** A request with bad arguments, refused before anything was queued or written. */
export class ModbusRequestError extends IoError {
  override readonly name = 'ModbusRequestError';
  constructor(unitLabel: string, request: string, why: string, value: unknown) {
    super('EREQUEST', `${unitLabel}: ${request}: ${why}, got ${showValue(value)}`, { subject: unitLabel, operation: request, value });
  }
}

/**
 * A reply that does not answer the request (wrong function, wrong byte count, a write echoed
 * back with another address or value, a bad CRC): refused, never handed back as values.
 */
export class ModbusReplyError extends IoError {
  override readonly name = 'ModbusReplyError';
  constructor(unitLabel: string, request: string, why: string) {
    super('EREPLY', `${unitLabel}: ${request}: bad reply: ${why}`, { subject: unitLabel, operation: request, value: why });
  }
}

/** A unit id that is not an integer 1–247 (255 on TCP). */
export class ModbusUnitIdError extends IoError {
  override readonly name = 'ModbusUnitIdError';
  constructor(busLabel: string, unitId: unknown, tcp: boolean) {
    super('EUNITID', `${busLabel}: unit id must be a whole number from 1 to 247${tcp ? ' (or 255)' : ''}, got ${showValue(unitId)}`, {
      subject: busLabel, operation: 'unit', value: unitId,
    });
  }
}
