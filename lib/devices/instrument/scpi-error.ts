import { WorkcellError } from '../../errors/workcell-error';

/** One entry of an instrument's error queue, as `SYST:ERR?` reports it. */
export interface ScpiErrorEntry {
  /** The SCPI error number: 0 = no error, negative = standard (-113 undefined header), positive = device-specific. */
  readonly code: number;
  /** The error text without its quotes (`Data out of range`). */
  readonly message: string;
}

// SCPI-99 §21.8: <error number>,"<error description>[;<device-dependent info>]". Keysight prints `+0`.
const ERROR_ENTRY = /^\s*([+-]?\d+)\s*,\s*"((?:[^"]|"")*)"\s*$/;

/**
 * Parses one `SYST:ERR?` reply (`-222,"Data out of range"`, `+0,"No error"`, `0,"No error"`).
 * Returns undefined for anything else, which a caller treats as a garbled reply.
 */
export function parseScpiError(reply: string): ScpiErrorEntry | undefined {
  const m = ERROR_ENTRY.exec(reply);
  if (!m) return undefined;
  return { code: Number(m[1]), message: m[2].replace(/""/g, '"') };
}

/** How an error entry is shown: as the instrument prints it, `-222,"Data out of range"`. */
export function formatScpiError(entry: ScpiErrorEntry): string {
  return `${entry.code},"${entry.message}"`;
}

/**
 * The instrument reported errors for something the driver sent. The message is one sentence:
 * `DMM: write "VOLT 99" → -222,"Data out of range"` (several errors joined by `; `), and
 * `errors` holds the entries, oldest first, for `msg.error`.
 */
export class ScpiCommandError extends WorkcellError {
  override readonly name = 'ScpiCommandError';
  readonly errors: readonly ScpiErrorEntry[];
  readonly command: string;

  constructor(device: string, operation: string, command: string, errors: readonly ScpiErrorEntry[], note = '') {
    super('scpi-error', `${device}: ${operation} ${JSON.stringify(command)} → ${errors.map(formatScpiError).join('; ')}${note}`, {
      subject: device,
      operation,
      value: command,
    });
    this.errors = errors;
    this.command = command;
  }
}
