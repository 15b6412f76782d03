/**
 * The parts of the simulated firmware, each a file of its own idea, wired to one another
 * through this record as GRBL's modules call each other: every part reaches the shared
 * machine state (`m`) and the other parts through it.
 */
import type { Homing } from './homing';
import type { Machine } from './machine';
import type { Protocol } from './protocol';
import type { RealtimeCommands } from './realtime';
import type { ResetControl } from './reset';
import type { StatusReports } from './status-report';
import type { Stepper } from './stepper';
import type { SystemCommands } from './system-commands';
import type { Wire } from './wire';

export interface Parts {
  /** The shared machine state. */
  readonly m: Machine;
  /** Bytes on the wire, both ways, with their timing. */
  readonly wire: Wire;
  /** `?`, `!`, `~`, 0x18 and the extended bytes. */
  readonly realtime: RealtimeCommands;
  /** Execution of planned motion: where the machine is and how fast it moves. */
  readonly stepper: Stepper;
  /** Lines out of the RX ring: parse, execute, answer. */
  readonly protocol: Protocol;
  /** `$` commands. */
  readonly system: SystemCommands;
  /** The `$H` cycle. */
  readonly homing: Homing;
  /** Soft reset, alarms and re-initialisation. */
  readonly reset: ResetControl;
  /** Answers to `?`. */
  readonly status: StatusReports;
  /** Emits 'state' when the state text changed since the last call. */
  noteState(): void;
}
