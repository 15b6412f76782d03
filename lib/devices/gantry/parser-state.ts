import type { LineConnection } from '../../io/line-connection';
import { DEFAULT_MODAL, ZERO_OFFSETS, foldOffsetLine, parseGcodeModes, planMotions, type ModalState, type Offsets, type PlannedMotion, type ProgramLine } from './gcode-program';
import { bracketReply, errorCode } from './grbl-link';
import type { Axes3 } from './status-report';

/**
 * GRBL's G-code parser state as far as it decides where a motion goes: the modal state (`$G`)
 * and the stored offsets (`$#`). Known once read; forgotten when GRBL is reset (a reset restores
 * the modal defaults).
 */
export class ParserState {
  private modalValue: ModalState = { ...DEFAULT_MODAL };
  private offsetsValue: Offsets = ZERO_OFFSETS;
  private knownValue = false;

  /** True once `$G` and `$#` have been read since the last reset. */
  get known(): boolean {
    return this.knownValue;
  }

  get modal(): ModalState {
    return this.modalValue;
  }

  /**
   * Reads `$G` and `$#` (each alone on the link, bounded by `timeoutMs` and `signal`). When either
   * answers `error:N` (GRBL refuses `$` commands while it runs) or `$G` has no `[GC:…]` line, the
   * state stays as it was.
   */
  async read(link: LineConnection, signal: AbortSignal, timeoutMs: number): Promise<void> {
    const g = await link.request('$G', { signal, exclusive: true, isReply: bracketReply, timeoutMs });
    const modal = g.parts.map(parseGcodeModes).find(Boolean);
    const h = await link.request('$#', { signal, exclusive: true, isReply: bracketReply, timeoutMs });
    if (errorCode(g) !== undefined || errorCode(h) !== undefined || !modal) return;
    const offsets: Offsets = { coordSystems: ZERO_OFFSETS.coordSystems.map((c) => ({ ...c })), g28: { ...ZERO_OFFSETS.g28 }, g30: { ...ZERO_OFFSETS.g30 }, g92: { ...ZERO_OFFSETS.g92 }, tlo: 0 };
    for (const line of h.parts) foldOffsetLine(offsets, line);
    this.modalValue = modal;
    this.offsetsValue = offsets;
    this.knownValue = true;
  }

  /** GRBL was reset: the state must be read again. */
  forget(): void {
    this.knownValue = false;
  }

  /** What a `move` leaves in GRBL: millimetres, absolute (G90), and its motion mode (G0 or G1). */
  afterMove(rapid: boolean): void {
    this.modalValue = { ...this.modalValue, unitsMm: 1, absolute: true, motion: rapid ? 0 : 1 };
  }

  /** The motions of `lines` from `start`, followed through this state (see `planMotions`). */
  plan(lines: readonly ProgramLine[], start: Axes3): PlannedMotion[] {
    return planMotions(lines, start, this.modalValue, this.offsetsValue);
  }
}
