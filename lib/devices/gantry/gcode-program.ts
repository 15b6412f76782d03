import type { ArcMotion, ArcPlane } from './soft-limits';
import type { Axes3 } from './status-report';

/** GRBL's line buffer holds 79 characters after it drops spaces and comments (LINE_BUFFER_SIZE 80). */
export const GRBL_MAX_LINE = 79;

/** One line of a program as it goes on the wire. */
export interface ProgramLine {
  /** 1-based line number in the source text. */
  source: number;
  /** Cleaned text: comments, spaces and `%` removed, upper case. */
  text: string;
}

/** Why a program (or a line of it) cannot be sent; `line` is the 1-based source line. */
export class ProgramError extends Error {
  constructor(readonly line: number, readonly text: string, why: string) {
    super(`line ${line} ${JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text)}: ${why}`);
  }
}

/**
 * Splits G-code text into the lines to send: drops `( … )` and `; …` comments, whitespace,
 * `%` tape marks, block-delete `/` lines and lines left empty, and upper-cases the rest (fewer
 * bytes on the wire, the same block for GRBL, which ignores spaces and case). Refuses, naming
 * the line: real-time characters (`?`, `!`, `~`, bytes ≥ 0x80 and control characters — GRBL
 * would act on them at once, not as part of the line), `$` system commands (settings writes
 * must not be streamed), an unclosed comment, and a line longer than GRBL's 79-character buffer.
 */
export function splitProgram(text: string): ProgramLine[] {
  const out: ProgramLine[] = [];
  const rows = text.split(/\r\n|\r|\n/);
  rows.forEach((row, i) => {
    const source = i + 1;
    let clean = '';
    let depth = 0;
    for (const ch of row) {
      if (depth > 0) {
        if (ch === ')') depth = 0;
        continue;
      }
      if (ch === '(') {
        depth = 1;
        continue;
      }
      if (ch === ';') break;
      if (ch === ' ' || ch === '\t') continue;
      clean += ch;
    }
    if (depth > 0) throw new ProgramError(source, row, 'a comment "(" is not closed on its line');
    clean = clean.toUpperCase();
    if (clean === '%' || clean === '' || clean.startsWith('/')) return;
    // eslint-disable-next-line no-control-regex
    const bad = /[?!~\x00-\x1f\x7f-\uffff]/.exec(clean);
    if (bad) {
      throw new ProgramError(source, row, `the character ${JSON.stringify(bad[0])} is a GRBL real-time command (or not ASCII) and cannot be part of a program line`);
    }
    if (clean.startsWith('$')) throw new ProgramError(source, row, 'system commands ($…) cannot be streamed in a program; use the unlock or home operations');
    if (clean.length > GRBL_MAX_LINE) throw new ProgramError(source, row, `the line is ${clean.length} characters without comments and spaces; GRBL takes at most ${GRBL_MAX_LINE}`);
    out.push({ source, text: clean });
  });
  return out;
}

/** The part of GRBL's parser state that decides where a motion line goes. */
export interface ModalState {
  /** 1 for G21 (mm), 25.4 for G20 (inch). */
  unitsMm: number;
  /** G90 (true) or G91. */
  absolute: boolean;
  /** Active motion mode: 0, 1, 2, 3, 38.2…, 80. */
  motion: number;
  /** Active work coordinate system, 0 = G54 … 5 = G59. */
  coordSystem: number;
  /** Arc plane: G17 (XY), G18 (ZX), G19 (YZ). */
  plane: ArcPlane;
}

/** The controller's stored offsets, as `$#` reports them (machine coordinates, mm). */
export interface Offsets {
  /** G54 … G59. */
  coordSystems: Axes3[];
  g28: Axes3;
  g30: Axes3;
  g92: Axes3;
  /** Tool length offset on Z. */
  tlo: number;
}

export const DEFAULT_MODAL: ModalState = { unitsMm: 1, absolute: true, motion: 0, coordSystem: 0, plane: 17 };
const zero = (): Axes3 => ({ x: 0, y: 0, z: 0 });
export const ZERO_OFFSETS: Offsets = { coordSystems: Array.from({ length: 6 }, zero), g28: zero(), g30: zero(), g92: zero(), tlo: 0 };

/** `[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]` (the `$G` report) → the modal state, or undefined. */
export function parseGcodeModes(line: string): ModalState | undefined {
  const m = /^\[GC:(.*)\]$/.exec(line.trim());
  if (!m) return undefined;
  const state = { ...DEFAULT_MODAL };
  for (const word of m[1].split(/\s+/)) {
    if (!word.startsWith('G')) continue;
    const g = Number(word.slice(1));
    if (g === 20) state.unitsMm = 25.4;
    else if (g === 21) state.unitsMm = 1;
    else if (g === 90) state.absolute = true;
    else if (g === 91) state.absolute = false;
    else if (g >= 54 && g <= 59 && Number.isInteger(g)) state.coordSystem = g - 54;
    else if (g === 17 || g === 18 || g === 19) state.plane = g;
    else if ([0, 1, 2, 3, 38.2, 38.3, 38.4, 38.5, 80].includes(g)) state.motion = g;
  }
  return state;
}

/** Folds one `$#` report line (`[G54:0.000,0.000,0.000]`, `[TLO:0.000]`) into `offsets`; false when it is none. */
export function foldOffsetLine(offsets: Offsets, line: string): boolean {
  const m = /^\[(G5[4-9]|G28|G30|G92|TLO):([^\]]*)\]$/.exec(line.trim());
  if (!m) return false;
  if (m[1] === 'TLO') {
    const v = Number(m[2]);
    if (!Number.isFinite(v)) return false;
    offsets.tlo = v;
    return true;
  }
  const v = m[2].split(',').map(Number);
  if (v.length < 3 || v.slice(0, 3).some((n) => !Number.isFinite(n))) return false;
  const a = { x: v[0], y: v[1], z: v[2] };
  if (m[1] === 'G28') offsets.g28 = a;
  else if (m[1] === 'G30') offsets.g30 = a;
  else if (m[1] === 'G92') offsets.g92 = a;
  else offsets.coordSystems[Number(m[1].slice(1)) - 54] = a;
  return true;
}

/** A motion a program line commands, in machine coordinates. */
export interface PlannedMotion {
  line: ProgramLine;
  target: Axes3;
  /** For G2/G3: the arc from the position before the line to `target` (see `arcExtremes`). */
  arc?: ArcMotion;
}

const AXES = ['x', 'y', 'z'] as const;

function cloneOffsets(o: Offsets): Offsets {
  return { coordSystems: o.coordSystems.map((c) => ({ ...c })), g28: { ...o.g28 }, g30: { ...o.g30 }, g92: { ...o.g92 }, tlo: o.tlo };
}

/**
 * Follows a program through GRBL's modal state, starting from the controller's state, and
 * returns the machine-coordinate target of every motion (G0/G1, G2/G3 end points, G38 probe
 * targets, G28/G30 intermediate and stored positions), so each can be checked against the soft
 * limits before the first byte is sent. A G2/G3 motion also carries its arc: start, end, plane
 * (G17/G18/G19) and direction, with its centre offsets (I, J, K, incremental from the start) or
 * its radius (R, negative for the arc longer than half a turn) in millimetres. It applies
 * G20/G21, G90/G91, G53, G54–G59, G92/G92.1, G10 L2/L20, G28.1/G30.1, G43.1/G49 and G17–G19 as
 * GRBL does (gc_execute_line). Not modelled: letters GRBL would refuse anyway (it answers those
 * lines with `error:N`).
 */
export function planMotions(lines: readonly ProgramLine[], start: Axes3, modalStart: ModalState, offsetsStart: Offsets): PlannedMotion[] {
  const modal = { ...modalStart };
  const offsets = cloneOffsets(offsetsStart);
  let position = { ...start };
  const motions: PlannedMotion[] = [];
  for (const line of lines) {
    const words = [...line.text.matchAll(/([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))/g)].map((m) => ({ letter: m[1], value: Number(m[2]) }));
    const gs = words.filter((w) => w.letter === 'G').map((w) => w.value);
    const axisWords: Partial<Axes3> = {};
    for (const w of words) {
      const axis = w.letter.toLowerCase();
      if (axis === 'x' || axis === 'y' || axis === 'z') axisWords[axis] = w.value;
    }
    const l = words.find((w) => w.letter === 'L')?.value;
    const p = words.find((w) => w.letter === 'P')?.value;
    let machineCoords = false;
    let nonModal: number | undefined;
    for (const g of gs) {
      if (g === 20) modal.unitsMm = 25.4;
      else if (g === 21) modal.unitsMm = 1;
      else if (g === 90) modal.absolute = true;
      else if (g === 91) modal.absolute = false;
      else if (g >= 54 && g <= 59 && Number.isInteger(g)) modal.coordSystem = g - 54;
      else if (g === 17 || g === 18 || g === 19) modal.plane = g;
      else if (g === 53) machineCoords = true;
      else if ([0, 1, 2, 3, 38.2, 38.3, 38.4, 38.5, 80].includes(g)) modal.motion = g;
      else if ([4, 10, 28, 30, 92, 28.1, 30.1, 92.1, 43.1, 49].includes(g)) nonModal = g;
    }
    const mm = (v: number) => v * modal.unitsMm;
    const hasAxes = Object.keys(axisWords).length > 0;
    const workToMachine = (axis: 'x' | 'y' | 'z', v: number) =>
      mm(v) + offsets.coordSystems[modal.coordSystem][axis] + offsets.g92[axis] + (axis === 'z' ? offsets.tlo : 0);
    /** Where the axis words of this line point, in machine coordinates. */
    const target = (): Axes3 => {
      const t = { ...position };
      for (const axis of AXES) {
        const v = axisWords[axis];
        if (v === undefined) continue;
        if (machineCoords) t[axis] = mm(v);
        else if (modal.absolute) t[axis] = workToMachine(axis, v);
        else t[axis] = position[axis] + mm(v);
      }
      return t;
    };
    switch (nonModal) {
      case 10: {
        const index = p === undefined || p === 0 ? modal.coordSystem : Math.round(p) - 1;
        if (index < 0 || index > 5) break;
        const cs = offsets.coordSystems[index];
        for (const axis of AXES) {
          const v = axisWords[axis];
          if (v === undefined) continue;
          if (l === 20) cs[axis] = position[axis] - mm(v) - offsets.g92[axis] - (axis === 'z' ? offsets.tlo : 0);
          else cs[axis] = mm(v);
        }
        continue;
      }
      case 92:
        for (const axis of AXES) {
          const v = axisWords[axis];
          if (v !== undefined) offsets.g92[axis] = position[axis] - offsets.coordSystems[modal.coordSystem][axis] - (axis === 'z' ? offsets.tlo : 0) - mm(v);
        }
        continue;
      case 92.1:
        offsets.g92 = zero();
        continue;
      case 28.1:
        offsets.g28 = { ...position };
        continue;
      case 30.1:
        offsets.g30 = { ...position };
        continue;
      case 43.1:
        if (axisWords.z !== undefined) offsets.tlo = mm(axisWords.z);
        continue;
      case 49:
        offsets.tlo = 0;
        continue;
      case 28:
      case 30: {
        if (hasAxes) {
          const via = target();
          motions.push({ line, target: via });
          position = via;
        }
        const stored = nonModal === 28 ? offsets.g28 : offsets.g30;
        motions.push({ line, target: { ...stored } });
        position = { ...stored };
        continue;
      }
      case 4:
        continue;
    }
    if (hasAxes && modal.motion !== 80) {
      const t = target();
      if (modal.motion === 2 || modal.motion === 3) {
        const word = (letter: string) => {
          const v = words.find((w) => w.letter === letter)?.value;
          return v === undefined ? undefined : mm(v);
        };
        const radius = word('R');
        const arc: ArcMotion = { start: { ...position }, end: t, plane: modal.plane, clockwise: modal.motion === 2 };
        if (radius !== undefined) arc.radius = radius;
        else arc.offset = { x: word('I') ?? 0, y: word('J') ?? 0, z: word('K') ?? 0 };
        motions.push({ line, target: t, arc });
        position = t;
        continue;
      }
      motions.push({ line, target: t });
      // A probe stops at contact somewhere before its target; the rest of the check assumes it reached it.
      position = t;
    }
  }
  return motions;
}
