/**
 * SCPI error codes the simulators raise, with the standard texts from SCPI-99 / IEEE 488.2 as
 * Keysight prints them. Drivers match on the number, people read the text, so both stay exact.
 */
export const SCPI_ERROR_TEXT: Readonly<Record<number, string>> = {
  0: 'No error',
  [-102]: 'Syntax error',
  [-104]: 'Data type error',
  [-108]: 'Parameter not allowed',
  [-109]: 'Missing parameter',
  [-113]: 'Undefined header',
  [-114]: 'Header suffix out of range',
  [-131]: 'Invalid suffix',
  [-138]: 'Suffix not allowed',
  [-211]: 'Trigger ignored',
  [-213]: 'Init ignored',
  [-214]: 'Trigger deadlock',
  [-221]: 'Settings conflict',
  [-222]: 'Data out of range',
  [-224]: 'Illegal parameter value',
  [-230]: 'Data corrupt or stale',
  [-300]: 'Device-specific error',
  [-350]: 'Queue overflow',
  [-363]: 'Input buffer overrun',
  [-410]: 'Query INTERRUPTED',
};

/**
 * An error a command raises while it is parsed or executed. The engine catches it, puts
 * `code,"text"` into the error queue and sets the matching bit of the standard event register;
 * nothing is sent to the client, exactly as an instrument stays silent on a bad command.
 */
export class ScpiError extends Error {
  override readonly name = 'ScpiError';
  /** The SCPI error number, negative for the standard classes (-1xx command, -2xx execution, …). */
  readonly code: number;
  /** The standard text, exactly as `SYSTem:ERRor?` prints it (drivers compare it verbatim). */
  readonly text: string;
  /** What exactly was wrong, for people reading logs; never sent over the wire. */
  readonly detail: string | undefined;
  constructor(code: number, detail?: string) {
    const text = SCPI_ERROR_TEXT[code] ?? 'Unknown error';
    super(detail ? `SCPI error ${code} "${text}": ${detail}` : `SCPI error ${code} "${text}"`);
    this.code = code;
    this.text = text;
    this.detail = detail;
  }
}

/**
 * Which bit of the IEEE 488.2 standard event status register an error number sets: command
 * errors (-1xx) set CME, execution errors (-2xx) EXE, device-specific errors (-3xx and positive
 * numbers) DDE, query errors (-4xx) QYE.
 */
export function esrBitForError(code: number): number {
  if (code <= -100 && code > -200) return ESR.CME;
  if (code <= -200 && code > -300) return ESR.EXE;
  if (code <= -400 && code > -500) return ESR.QYE;
  return ESR.DDE;
}

/** Bits of the standard event status register (`*ESR?`), IEEE 488.2 §11.5.1. */
export const ESR = {
  OPC: 1,
  QYE: 4,
  DDE: 8,
  EXE: 16,
  CME: 32,
  PON: 128,
} as const;

/** Bits of the status byte (`*STB?`), IEEE 488.2 §11.2. */
export const STB = {
  EAV: 4,
  MAV: 16,
  ESB: 32,
  MSS: 64,
} as const;
