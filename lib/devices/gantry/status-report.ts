/** Three axes, millimetres. */
export interface Axes3 {
  x: number;
  y: number;
  z: number;
}

/** The machine states a status report names (the part before `:` of e.g. `Hold:1`). */
export type GrblState = 'Idle' | 'Run' | 'Hold' | 'Jog' | 'Alarm' | 'Door' | 'Check' | 'Home' | 'Sleep' | 'Tool';

const STATES: ReadonlySet<string> = new Set(['Idle', 'Run', 'Hold', 'Jog', 'Alarm', 'Door', 'Check', 'Home', 'Sleep', 'Tool']);

/** One real-time status report `<State|MPos:…|FS:…|…>`, parsed. Fields the report did not carry are undefined. */
export interface GrblStatus {
  /** As printed: `Idle`, `Hold:0`, `Door:1`, … */
  stateText: string;
  state: GrblState;
  /** The number after the colon (`Hold:1` → 1; Hold:0 = hold complete, ready to resume). */
  subState: number | undefined;
  /** Machine position (`MPos`, or `WPos` + WCO). */
  machine: Axes3 | undefined;
  /** Work position (`WPos`, or `MPos` − WCO). */
  work: Axes3 | undefined;
  /** Work coordinate offset, only on the reports that carry `WCO:`. */
  wco: Axes3 | undefined;
  /** Current feed rate, mm/min (`FS:` or `F:`). */
  feed: number | undefined;
  /** Current spindle speed, rpm (`FS:`). */
  spindle: number | undefined;
  /** Planner blocks and RX bytes available (`Bf:`). */
  buffer: { blocks: number; bytes: number } | undefined;
  /** Feed, rapid and spindle overrides in percent (`Ov:`). */
  overrides: { feed: number; rapid: number; spindle: number } | undefined;
  /**
   * Accessory state: known only on reports that carry `Ov:` (GRBL prints `A:` right after it,
   * and leaves it out when everything is off).
   */
  accessories: { spindle: 'cw' | 'ccw' | 'off'; flood: boolean; mist: boolean } | undefined;
  /** Active input pins (`Pn:`), e.g. `XD` (X limit, door); '' when the report has none. */
  pins: string;
  /** Line number being executed (`Ln:`). */
  line: number | undefined;
}

function axes(text: string | undefined): Axes3 | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map(Number);
  if (parts.length < 3 || parts.some((n) => !Number.isFinite(n))) return undefined;
  return { x: parts[0], y: parts[1], z: parts[2] };
}

function numbers(text: string | undefined, count: number): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map(Number);
  return parts.length >= count && parts.slice(0, count).every(Number.isFinite) ? parts : undefined;
}

const sub = (a: Axes3, b: Axes3): Axes3 => ({ x: a.x - b.x, y: a.y - b.y, z: a.z - b.z });
const add = (a: Axes3, b: Axes3): Axes3 => ({ x: a.x + b.x, y: a.y + b.y, z: a.z + b.z });

/**
 * Parses a GRBL 1.1 / grblHAL status report line. Returns undefined for anything that is not a
 * well-formed report (a line damaged on the wire must not move the tracked position): it must
 * start with `<`, end with `>`, name a known state, and carry MPos or WPos with three numbers.
 * `knownWco` (from an earlier report) converts between MPos and WPos when this report has no
 * `WCO:` field; without it the other position stays undefined.
 */
export function parseStatusReport(line: string, knownWco?: Axes3): GrblStatus | undefined {
  const text = line.trim();
  if (!text.startsWith('<') || !text.endsWith('>')) return undefined;
  const [stateText, ...fields] = text.slice(1, -1).split('|');
  const [stateName, subText] = stateText.split(':');
  if (!STATES.has(stateName)) return undefined;
  const subState = subText === undefined ? undefined : Number(subText);
  if (subState !== undefined && !Number.isInteger(subState)) return undefined;
  const map = new Map<string, string>();
  for (const field of fields) {
    const colon = field.indexOf(':');
    if (colon <= 0) return undefined;
    map.set(field.slice(0, colon), field.slice(colon + 1));
  }
  const mpos = axes(map.get('MPos'));
  const wpos = axes(map.get('WPos'));
  if (!mpos && !wpos) return undefined;
  const wco = axes(map.get('WCO'));
  const offset = wco ?? knownWco;
  const machine = mpos ?? (wpos && offset ? add(wpos, offset) : undefined);
  const work = wpos ?? (mpos && offset ? sub(mpos, offset) : undefined);
  const fs = numbers(map.get('FS'), 2);
  const f = numbers(map.get('F'), 1);
  const bf = numbers(map.get('Bf'), 2);
  const ov = numbers(map.get('Ov'), 3);
  let accessories: GrblStatus['accessories'];
  if (ov) {
    const a = map.get('A') ?? '';
    accessories = { spindle: a.includes('S') ? 'cw' : a.includes('C') ? 'ccw' : 'off', flood: a.includes('F'), mist: a.includes('M') };
  }
  const ln = map.get('Ln');
  return {
    stateText,
    state: stateName as GrblState,
    subState,
    machine,
    work,
    wco,
    feed: fs ? fs[0] : f ? f[0] : undefined,
    spindle: fs ? fs[1] : undefined,
    buffer: bf ? { blocks: bf[0], bytes: bf[1] } : undefined,
    overrides: ov ? { feed: ov[0], rapid: ov[1], spindle: ov[2] } : undefined,
    accessories,
    pins: map.get('Pn') ?? '',
    line: ln !== undefined && /^\d+$/.test(ln) ? Number(ln) : undefined,
  };
}

/** True for the `Grbl 1.1h ['$' for help]` / `GrblHAL 1.1f ['$' or '$HELP' for help]` banner; returns the version. */
export function parseBanner(line: string): { firmware: string; version: string } | undefined {
  const m = /^(Grbl(?:HAL)?)\s+(\S+)\s*\[.*\]\s*$/i.exec(line.trim());
  return m ? { firmware: m[1], version: m[2] } : undefined;
}
