/**
 * G-code line filtering and block parsing with GRBL 1.1h's rules (protocol.c pre-filter,
 * gcode.c error checks and order of execution). The parser is pure: it takes the parser state
 * and a line and returns either an error code or the new parser state plus the list of
 * machine actions the simulator must carry out, in order, before answering `ok`.
 */
import { ErrorCode, LINE_BUFFER_SIZE } from './codes';

/** Millimetres per inch (G20). */
const MM_PER_INCH = 25.4;
/** MAX_TOOL_NUMBER and MAX_LINE_NUMBER of gcode.h. */
const MAX_TOOL = 255;
const MAX_LINE_NUMBER = 10000000;

/** Axis triple in machine millimetres, index 0..2 = X, Y, Z. */
export type Axes = [number, number, number];

/** Modal state of the parser (gc_state.modal). */
export interface GcModal {
  /** 0, 1, 2, 3 or 80. */
  motion: number;
  /** 0..5 for G54..G59. */
  coordSelect: number;
  /** 0 = G17, 1 = G18, 2 = G19. */
  plane: number;
  /** true = G20. */
  inches: boolean;
  /** true = G91. */
  incremental: boolean;
  /** true = G93. */
  inverseTime: boolean;
  spindle: 'off' | 'cw' | 'ccw';
  mist: boolean;
  flood: boolean;
  /** G43.1 active. */
  toolLengthDynamic: boolean;
}

/** Parser state (gc_state). Positions are in machine coordinates. */
export interface GcState {
  modal: GcModal;
  feedRate: number;
  spindleSpeed: number;
  tool: number;
  /** Where the parser believes the tool is after all planned motion. */
  position: Axes;
  /** Active G54..G59 offset. */
  coordSystem: Axes;
  /** G92 offset. */
  coordOffset: Axes;
  toolLengthOffset: number;
}

/** Persistent (EEPROM) coordinate data: indexes 0..5 = G54..G59, 6 = G28, 7 = G30. */
export type CoordData = Axes[];

/** Kind of planned motion, which decides its speed and which override applies. */
export type MotionKind = 'rapid' | 'feed' | 'inverse' | 'jog';

/** One thing the machine must do for a parsed line. */
export type GcAction =
  | { type: 'sync' }
  | { type: 'commit' }
  | { type: 'spindle'; spindle: GcModal['spindle']; speed: number }
  | { type: 'coolant'; mist: boolean; flood: boolean }
  | { type: 'dwell'; seconds: number }
  | { type: 'line'; target: Axes; kind: MotionKind; feed: number }
  | { type: 'pause' }
  | { type: 'programEnd' };

/** Successful parse: the state to commit and the actions to perform. */
export interface ParsedBlock {
  ok: true;
  state: GcState;
  coordData: CoordData;
  actions: GcAction[];
  /** The block changed the work coordinate offset (refresh WCO in the next report). */
  wcoChanged: boolean;
  jog: boolean;
}

/** Failed parse: the `error:N` code. */
export interface ParseError {
  ok: false;
  code: number;
}

/** The parser state GRBL starts with after power-up or reset (gc_init). */
export function initialGcState(coordData: CoordData, position: Axes): GcState {
  return {
    modal: {
      motion: 0,
      coordSelect: 0,
      plane: 0,
      inches: false,
      incremental: false,
      inverseTime: false,
      spindle: 'off',
      mist: false,
      flood: false,
      toolLengthDynamic: false,
    },
    feedRate: 0,
    spindleSpeed: 0,
    tool: 0,
    position: [...position],
    coordSystem: [...(coordData[0] ?? [0, 0, 0])] as Axes,
    coordOffset: [0, 0, 0],
    toolLengthOffset: 0,
  };
}

/** Fresh, all-zero EEPROM coordinate data. */
export function emptyCoordData(): CoordData {
  return Array.from({ length: 8 }, () => [0, 0, 0] as Axes);
}

/** Result of the protocol pre-filter applied to one received line. */
export interface FilteredLine {
  /** Upper-cased line without spaces, control characters and comments. */
  text: string;
  /** More than LINE_BUFFER_SIZE-1 characters survived the filter (answered with error:11). */
  overflow: boolean;
}

/**
 * The character filter of protocol_main_loop(): drops whitespace and control characters,
 * `/` (block delete), `( … )` and `;` comments, upper-cases letters, and flags overflow.
 */
export function filterLine(raw: string): FilteredLine {
  let text = '';
  let inParen = false;
  let inSemicolon = false;
  let overflow = false;
  for (const ch of raw) {
    const c = ch.charCodeAt(0);
    if (inParen || inSemicolon || overflow) {
      if (ch === ')' && inParen) inParen = false;
      continue;
    }
    if (c <= 0x20 || ch === '/') continue;
    if (ch === '(') inParen = true;
    else if (ch === ';') inSemicolon = true;
    else if (text.length >= LINE_BUFFER_SIZE - 1) overflow = true;
    else text += ch >= 'a' && ch <= 'z' ? ch.toUpperCase() : ch;
  }
  return { text, overflow };
}

/**
 * read_float() of nuts_bolts.c: an optional sign, digits with at most one decimal point,
 * at least one digit, no exponent.
 * @returns the value and the index after it, or null when no number is there.
 */
export function readFloat(line: string, at: number): { value: number; next: number } | null {
  const m = /^[+-]?(\d+\.?\d*|\.\d+)/.exec(line.slice(at));
  if (!m) return null;
  return { value: Number(m[0]), next: at + m[0].length };
}

const enum AxisCommand {
  None = 0,
  NonModal = 1,
  Motion = 2,
  ToolLength = 3,
}

const fail = (code: number): ParseError => ({ ok: false, code });

/**
 * Parses and validates one filtered G-code line (or, with `jog`, the part of a `$J=` line after
 * the `=`) against the parser state, as gc_execute_line() does.
 */
export function parseBlock(line: string, current: GcState, coordDataIn: CoordData, jog = false): ParsedBlock | ParseError {
  const modal: GcModal = { ...current.modal };
  if (jog) {
    modal.motion = 1;
    modal.inverseTime = false;
  }
  let nonModal = 0; // 4, 10, 28, 30, 53, 92, 28.1 → 281 style codes below
  let axisCommand = AxisCommand.None;
  const commandGroups = new Set<string>();
  const words = new Map<string, number>();
  const xyz: Axes = [0, 0, 0];
  let axisWords = 0;
  let programFlow = 0; // 0 running, 1 = M0 pause, 2 = M2, 30 = M30
  let tlo: 'none' | 'cancel' | 'dynamic' = 'none';
  let explicitCoordSelect = false;

  let i = 0;
  while (i < line.length) {
    const letter = line[i]!;
    if (letter < 'A' || letter > 'Z') return fail(ErrorCode.ExpectedCommandLetter);
    const num = readFloat(line, i + 1);
    if (!num) return fail(ErrorCode.BadNumberFormat);
    i = num.next;
    const value = num.value;
    const intValue = Math.trunc(value);
    let mantissa = Math.round(100 * (value - intValue));
    let group = '';

    if (letter === 'G') {
      switch (intValue) {
        case 10: case 28: case 30: case 92: case 4: case 53:
          // G10/28/30/92 take the axis words (but not G28.1, G30.1, G92.1).
          if (intValue !== 4 && intValue !== 53 && mantissa === 0) {
            if (axisCommand) return fail(ErrorCode.AxisCommandConflict);
            axisCommand = AxisCommand.NonModal;
          }
          group = 'G0';
          nonModal = intValue * 10;
          if (intValue === 28 || intValue === 30 || intValue === 92) {
            if (!(mantissa === 0 || mantissa === 10)) return fail(ErrorCode.UnsupportedCommand);
            nonModal += mantissa / 10;
            mantissa = 0;
          }
          break;
        case 0: case 1: case 2: case 3: case 38: case 80:
          if (intValue !== 80) {
            if (axisCommand) return fail(ErrorCode.AxisCommandConflict);
            axisCommand = AxisCommand.Motion;
          }
          group = 'G1';
          if (intValue === 38) {
            if (![20, 30, 40, 50].includes(mantissa)) return fail(ErrorCode.UnsupportedCommand);
            // Probing needs a probe input, which this simulator does not model.
            return fail(ErrorCode.UnsupportedCommand);
          }
          if (intValue === 2 || intValue === 3) {
            // Arcs are not modelled; see the README section of simulator.ts.
            return fail(ErrorCode.UnsupportedCommand);
          }
          modal.motion = intValue;
          break;
        case 17: case 18: case 19:
          group = 'G2';
          modal.plane = intValue - 17;
          break;
        case 90: case 91:
          if (mantissa === 0) {
            group = 'G3';
            modal.incremental = intValue === 91;
          } else {
            group = 'G4';
            if (mantissa !== 10 || intValue === 90) return fail(ErrorCode.UnsupportedCommand);
            mantissa = 0;
          }
          break;
        case 93: case 94:
          group = 'G5';
          modal.inverseTime = intValue === 93;
          break;
        case 20: case 21:
          group = 'G6';
          modal.inches = intValue === 20;
          break;
        case 40:
          group = 'G7';
          break;
        case 43: case 49:
          group = 'G8';
          if (axisCommand) return fail(ErrorCode.AxisCommandConflict);
          axisCommand = AxisCommand.ToolLength;
          if (intValue === 49) tlo = 'cancel';
          else if (mantissa === 10) tlo = 'dynamic';
          else return fail(ErrorCode.UnsupportedCommand);
          mantissa = 0;
          break;
        case 54: case 55: case 56: case 57: case 58: case 59:
          group = 'G12';
          modal.coordSelect = intValue - 54;
          explicitCoordSelect = true;
          break;
        case 61:
          group = 'G13';
          if (mantissa !== 0) return fail(ErrorCode.UnsupportedCommand);
          break;
        default:
          return fail(ErrorCode.UnsupportedCommand);
      }
      if (mantissa > 0) return fail(ErrorCode.CommandValueNotInteger);
      if (commandGroups.has(group)) return fail(ErrorCode.ModalGroupViolation);
      commandGroups.add(group);
      continue;
    }

    if (letter === 'M') {
      if (mantissa > 0) return fail(ErrorCode.CommandValueNotInteger);
      switch (intValue) {
        case 0: case 1: case 2: case 30:
          group = 'M4';
          if (intValue === 0) programFlow = 1;
          else if (intValue !== 1) programFlow = intValue;
          break;
        case 3: case 4: case 5:
          group = 'M7';
          modal.spindle = intValue === 3 ? 'cw' : intValue === 4 ? 'ccw' : 'off';
          break;
        case 7: case 8: case 9:
          group = 'M8';
          if (intValue === 7) modal.mist = true;
          else if (intValue === 8) modal.flood = true;
          else modal.mist = modal.flood = false;
          break;
        default:
          return fail(ErrorCode.UnsupportedCommand);
      }
      if (commandGroups.has(group)) return fail(ErrorCode.ModalGroupViolation);
      commandGroups.add(group);
      continue;
    }

    const axisIndex = 'XYZ'.indexOf(letter);
    if (!'FIJKLNPRSTXYZ'.includes(letter)) return fail(ErrorCode.UnsupportedCommand);
    if (letter === 'T' && value > MAX_TOOL) return fail(ErrorCode.MaxValueExceeded);
    if (words.has(letter)) return fail(ErrorCode.WordRepeated);
    if ('FNPTS'.includes(letter) && value < 0) return fail(ErrorCode.NegativeValue);
    words.set(letter, value);
    if (axisIndex >= 0) {
      xyz[axisIndex] = value;
      axisWords |= 1 << axisIndex;
    }
  }

  // ---- Error checking (gcode.c step 3) ----
  if (axisWords && !axisCommand) axisCommand = AxisCommand.Motion;
  const n = words.get('N');
  if (n !== undefined && n > MAX_LINE_NUMBER) return fail(ErrorCode.InvalidLineNumber);

  let feed: number;
  if (jog) {
    if (!words.has('F')) return fail(ErrorCode.UndefinedFeedRate);
    feed = words.get('F')! * (modal.inches ? MM_PER_INCH : 1);
  } else if (modal.inverseTime) {
    feed = words.get('F') ?? 0;
    if (axisCommand === AxisCommand.Motion && modal.motion !== 80 && modal.motion !== 0 && !words.has('F')) {
      return fail(ErrorCode.UndefinedFeedRate);
    }
  } else if (!current.modal.inverseTime) {
    feed = words.has('F') ? words.get('F')! * (modal.inches ? MM_PER_INCH : 1) : current.feedRate;
  } else {
    feed = words.get('F') ?? 0;
  }
  const speed = words.get('S') ?? current.spindleSpeed;

  if (nonModal === 40 && !words.has('P')) return fail(ErrorCode.ValueWordMissing);
  const used = new Set(['F', 'N', 'S', 'T']);
  if (nonModal === 40) used.add('P');

  if (modal.inches) for (let a = 0; a < 3; a++) if (axisWords & (1 << a)) xyz[a] *= MM_PER_INCH;

  if (axisCommand === AxisCommand.ToolLength && tlo === 'dynamic' && axisWords !== 0b100) {
    return fail(ErrorCode.G43DynamicAxisError);
  }

  const coordData = coordDataIn.map((c) => [...c] as Axes);
  let coordSystem: Axes = [...current.coordSystem];
  if (explicitCoordSelect && modal.coordSelect !== current.modal.coordSelect) {
    coordSystem = [...coordData[modal.coordSelect]!] as Axes;
  }

  let target: Axes = [...current.position];
  let coordOffset: Axes = [...current.coordOffset];
  let g10: { index: number; values: Axes } | null = null;
  let homeTarget: Axes | null = null;

  if (nonModal === 100) {
    if (!axisWords) return fail(ErrorCode.NoAxisWords);
    if (!words.has('P') && !words.has('L')) return fail(ErrorCode.ValueWordMissing);
    const p = Math.trunc(words.get('P') ?? 0);
    if (p > 6) return fail(ErrorCode.UnsupportedCoordSys);
    const l = Math.trunc(words.get('L') ?? 0);
    if (l !== 20) {
      if (l === 2) {
        if (words.has('R')) return fail(ErrorCode.UnsupportedCommand);
      } else return fail(ErrorCode.UnsupportedCommand);
    }
    used.add('P').add('L');
    const index = p > 0 ? p - 1 : modal.coordSelect;
    const values = [...coordData[index]!] as Axes;
    for (let a = 0; a < 3; a++) {
      if (!(axisWords & (1 << a))) continue;
      if (l === 20) {
        values[a] = current.position[a]! - current.coordOffset[a]! - xyz[a]!;
        if (a === 2) values[a] -= current.toolLengthOffset;
      } else values[a] = xyz[a]!;
    }
    g10 = { index, values };
  } else if (nonModal === 920) {
    if (!axisWords) return fail(ErrorCode.NoAxisWords);
    for (let a = 0; a < 3; a++) {
      if (axisWords & (1 << a)) {
        coordOffset[a] = current.position[a]! - coordSystem[a]! - xyz[a]!;
        if (a === 2) coordOffset[a] -= current.toolLengthOffset;
      }
    }
  } else {
    if (axisCommand !== AxisCommand.ToolLength && axisWords) {
      for (let a = 0; a < 3; a++) {
        if (!(axisWords & (1 << a))) continue;
        if (nonModal === 530) target[a] = xyz[a]!;
        else if (!modal.incremental) {
          target[a] = xyz[a]! + coordSystem[a]! + coordOffset[a]!;
          if (a === 2) target[a] += current.toolLengthOffset;
        } else target[a] = xyz[a]! + current.position[a]!;
      }
    }
    if (nonModal === 280 || nonModal === 300) {
      homeTarget = [...coordData[nonModal === 280 ? 6 : 7]!] as Axes;
      if (!axisWords) axisCommand = AxisCommand.None;
    }
    if (nonModal === 530 && !(modal.motion === 0 || modal.motion === 1)) {
      return fail(ErrorCode.G53InvalidMotionMode);
    }
  }

  if (jog) {
    for (const g of commandGroups) if (!['G3', 'G6', 'G0'].includes(g)) return fail(ErrorCode.InvalidJogCommand);
    if (!(nonModal === 0 || nonModal === 530)) return fail(ErrorCode.InvalidJogCommand);
    if (words.has('S') || words.has('T')) return fail(ErrorCode.InvalidJogCommand);
  }

  // [20. Motion modes]
  if (modal.motion === 80) {
    if (axisWords) return fail(ErrorCode.AxisWordsExist);
  } else if (axisCommand === AxisCommand.Motion) {
    if (modal.motion === 0) {
      if (!axisWords) axisCommand = AxisCommand.None;
    } else {
      if (feed === 0) return fail(ErrorCode.UndefinedFeedRate);
      if (!axisWords) axisCommand = AxisCommand.None;
    }
  }
  if (axisCommand) for (const a of 'XYZ') used.add(a);
  for (const letter of words.keys()) if (!used.has(letter)) return fail(ErrorCode.UnusedWords);

  // ---- Execution plan (gcode.c step 4) ----
  if (jog) {
    const state: GcState = { ...current, modal: { ...current.modal }, position: target };
    const actions: GcAction[] = [{ type: 'commit' }];
    actions.push({ type: 'line', target, kind: 'jog', feed });
    return { ok: true, state, coordData: coordDataIn, actions, wcoChanged: false, jog: true };
  }

  const state: GcState = {
    modal,
    feedRate: feed,
    spindleSpeed: speed,
    tool: Math.trunc(words.get('T') ?? current.tool),
    position: [...current.position],
    coordSystem,
    coordOffset,
    toolLengthOffset: current.toolLengthOffset,
  };
  let wcoChanged = explicitCoordSelect && modal.coordSelect !== current.modal.coordSelect;
  if (axisCommand === AxisCommand.ToolLength) {
    state.modal.toolLengthDynamic = tlo === 'dynamic';
    const offset = tlo === 'cancel' ? 0 : xyz[2];
    if (offset !== current.toolLengthOffset) {
      state.toolLengthOffset = offset;
      wcoChanged = true;
    }
  }
  if (g10) {
    coordData[g10.index] = g10.values;
    if (g10.index === modal.coordSelect) {
      state.coordSystem = [...g10.values];
      wcoChanged = true;
    }
  }
  if (nonModal === 281) coordData[6] = [...current.position];
  if (nonModal === 301) coordData[7] = [...current.position];
  if (nonModal === 920) wcoChanged = true;
  if (nonModal === 921) {
    state.coordOffset = [0, 0, 0];
    wcoChanged = true;
  }

  const spindleChanged =
    modal.spindle !== current.modal.spindle || (modal.spindle !== 'off' && speed !== current.spindleSpeed);
  const coolantChanged = modal.mist !== current.modal.mist || modal.flood !== current.modal.flood;
  const eepromWrite = g10 !== null || nonModal === 281 || nonModal === 301;
  const needsSync = spindleChanged || coolantChanged || nonModal === 40 || wcoChanged || eepromWrite;

  const actions: GcAction[] = [];
  // GRBL syncs the planner before spindle, coolant, dwell, EEPROM writes and WCO changes
  // (FORCE_BUFFER_SYNC_*), so the earlier motion finishes before this block takes effect.
  if (needsSync) actions.push({ type: 'sync' });
  actions.push({ type: 'commit' });
  if (spindleChanged) actions.push({ type: 'spindle', spindle: modal.spindle, speed });
  if (coolantChanged) actions.push({ type: 'coolant', mist: modal.mist, flood: modal.flood });
  if (nonModal === 40) actions.push({ type: 'dwell', seconds: words.get('P')! });

  const kind: MotionKind = modal.inverseTime ? 'inverse' : 'feed';
  if (homeTarget) {
    if (axisCommand) actions.push({ type: 'line', target, kind: 'rapid', feed });
    const home: Axes = [...homeTarget];
    if (axisWords) for (let a = 0; a < 3; a++) if (!(axisWords & (1 << a))) home[a] = target[a]!;
    actions.push({ type: 'line', target: home, kind: 'rapid', feed });
    state.position = home;
  } else if (modal.motion !== 80 && axisCommand === AxisCommand.Motion) {
    actions.push({ type: 'line', target, kind: modal.motion === 0 ? 'rapid' : kind, feed });
    state.position = target;
  }

  if (programFlow === 1) actions.push({ type: 'sync' }, { type: 'pause' });
  if (programFlow === 2 || programFlow === 30) actions.push({ type: 'sync' }, { type: 'programEnd' });
  return { ok: true, state, coordData, actions, wcoChanged, jog: false };
}

/**
 * Program end (M2/M30) resets a subset of modal groups to their defaults (gcode.c step 21).
 */
export function programEndState(s: GcState, coordData: CoordData): GcState {
  return {
    ...s,
    modal: {
      ...s.modal,
      motion: 1,
      plane: 0,
      incremental: false,
      inverseTime: false,
      coordSelect: 0,
      spindle: 'off',
      mist: false,
      flood: false,
    },
    coordSystem: [...coordData[0]!] as Axes,
  };
}

/** `[GC:...]` body for `$G` (report_gcode_modes()). */
export function formatGcodeModes(s: GcState): string {
  const m = s.modal;
  const parts = [
    `G${m.motion}`,
    `G${m.coordSelect + 54}`,
    `G${m.plane + 17}`,
    m.inches ? 'G20' : 'G21',
    m.incremental ? 'G91' : 'G90',
    m.inverseTime ? 'G93' : 'G94',
    m.spindle === 'cw' ? 'M3' : m.spindle === 'ccw' ? 'M4' : 'M5',
  ];
  if (m.mist) parts.push('M7');
  if (m.flood) parts.push('M8');
  if (!m.mist && !m.flood) parts.push('M9');
  parts.push(`T${s.tool}`);
  const feed = m.inches ? (s.feedRate / MM_PER_INCH).toFixed(1) : s.feedRate.toFixed(0);
  parts.push(`F${feed}`, `S${s.spindleSpeed.toFixed(0)}`);
  return `[GC:${parts.join(' ')}]`;
}
