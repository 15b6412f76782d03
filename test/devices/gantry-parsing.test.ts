import assert from 'node:assert/strict';
import {
  DEFAULT_MODAL, ZERO_OFFSETS, arcExtremes, describeGrblAlarm, describeGrblError, foldOffsetLine, parseBanner, parseGcodeModes, parseStatusReport,
  planMotions, splitProgram, type ArcMotion, type Offsets,
} from '../../lib/devices/gantry';

describe('GRBL reports, programs and codes (parsing)', () => {
  describe('status reports', () => {
    it('parses state, MPos, WCO, feed/spindle, buffer, overrides, accessories and pins', () => {
      const s = parseStatusReport('<Hold:1|MPos:-10.000,-20.500,-1.000|Bf:12,100|FS:850,1200|Pn:XD|WCO:-1.000,-1.000,0.000>\r');
      assert.ok(s);
      assert.equal(s.state, 'Hold');
      assert.equal(s.subState, 1);
      assert.deepEqual(s.machine, { x: -10, y: -20.5, z: -1 });
      assert.deepEqual(s.work, { x: -9, y: -19.5, z: -1 });
      assert.deepEqual(s.buffer, { blocks: 12, bytes: 100 });
      assert.equal(s.feed, 850);
      assert.equal(s.spindle, 1200);
      assert.equal(s.pins, 'XD');
      assert.equal(s.accessories, undefined, 'unknown without Ov');
      const o = parseStatusReport('<Idle|MPos:0,0,0|FS:0,0|Ov:100,100,100|A:SF>');
      assert.deepEqual(o?.accessories, { spindle: 'cw', flood: true, mist: false });
      const off = parseStatusReport('<Idle|MPos:0,0,0|FS:0,0|Ov:100,100,100>');
      assert.deepEqual(off?.accessories, { spindle: 'off', flood: false, mist: false }, 'no A: with Ov means all off');
    });

    it('converts WPos to machine coordinates with a known WCO', () => {
      const s = parseStatusReport('<Run|WPos:5.000,5.000,0.000|F:300>', { x: -100, y: -50, z: -2 });
      assert.deepEqual(s?.machine, { x: -95, y: -45, z: -2 });
      assert.equal(s?.feed, 300);
      assert.equal(parseStatusReport('<Run|WPos:5,5,0|FS:0,0>')?.machine, undefined, 'unknown without the offset');
    });

    it('refuses damaged or foreign reports', () => {
      for (const line of ['<Idle|MPos:1,2>', '<Idle|MPos:-99.000,-99.0', 'Idle|MPos:0,0,0>', '<Walk|MPos:0,0,0>', '<Idle|FS:0,0>', '<Hold:x|MPos:0,0,0>', '<Idle|MPos:0,a,0>']) {
        assert.equal(parseStatusReport(line), undefined, line);
      }
    });

    it('recognises the GRBL and grblHAL banners', () => {
      assert.deepEqual(parseBanner("Grbl 1.1h ['$' for help]\r"), { firmware: 'Grbl', version: '1.1h' });
      assert.deepEqual(parseBanner("GrblHAL 1.1f ['$' or '$HELP' for help]"), { firmware: 'GrblHAL', version: '1.1f' });
      assert.equal(parseBanner('Grbl'), undefined);
    });
  });

  describe('codes', () => {
    it('gives GRBL\'s meaning, and says so for a code it does not know', () => {
      assert.equal(describeGrblError(9), 'error:9 — G-code locked out during alarm or jog state');
      assert.equal(describeGrblError(22), 'error:22 — undefined feed rate: the feed rate has not been set');
      assert.match(describeGrblAlarm(3), /^ALARM:3 — reset while in motion; the machine position is likely lost/);
      assert.match(describeGrblAlarm(11), /homing required \(grblHAL\)/);
      assert.match(describeGrblError(99), /^error:99 — an error code this driver does not know/);
    });
  });

  describe('programs', () => {
    it('removes comments, spaces, % and block-deleted lines, keeping source line numbers', () => {
      const lines = splitProgram('%\n(header)\nG21 G90 ; metric\n\ng1 x1.5 (cut) y2\n/G0 Z5\n%');
      assert.deepEqual(lines, [{ source: 3, text: 'G21G90' }, { source: 5, text: 'G1X1.5Y2' }]);
    });

    it('refuses real-time characters, $ commands, unclosed comments and lines longer than GRBL\'s buffer', () => {
      assert.throws(() => splitProgram('G1 X1 ~'), /line 1 "G1 X1 ~": the character "~" is a GRBL real-time command/);
      assert.throws(() => splitProgram('G0 X1\n?'), /line 2/);
      assert.throws(() => splitProgram('$H'), /system commands/);
      assert.throws(() => splitProgram('G1 (no end'), /comment "\(" is not closed/);
      assert.throws(() => splitProgram(`G1 X${'1'.repeat(80)}`), /GRBL takes at most 79/);
    });

    it('reads $G and $# into the modal state and offsets', () => {
      assert.deepEqual(parseGcodeModes('[GC:G1 G55 G17 G20 G91 G94 M5 M9 T0 F500 S0]'), { unitsMm: 25.4, absolute: false, motion: 1, coordSystem: 1, plane: 17 });
      assert.equal(parseGcodeModes('[GC:G0 G54 G18 G21 G90 G94 M5 M9 T0 F0 S0]')?.plane, 18);
      const o: Offsets = structuredClone(ZERO_OFFSETS);
      assert.equal(foldOffsetLine(o, '[G55:-100.000,-50.000,0.000]'), true);
      assert.equal(foldOffsetLine(o, '[TLO:2.500]'), true);
      assert.equal(foldOffsetLine(o, '[PRB:0.000,0.000,0.000:0]'), false);
      assert.deepEqual(o.coordSystems[1], { x: -100, y: -50, z: 0 });
      assert.equal(o.tlo, 2.5);
    });

    it('follows a program through G90/G91, G20, G53, G54–G59, G92, G10 L2/L20, G43.1 and G28 to machine targets', () => {
      const offsets: Offsets = structuredClone(ZERO_OFFSETS);
      offsets.coordSystems[0] = { x: -100, y: -100, z: -10 };
      offsets.g28 = { x: -1, y: -1, z: -1 };
      const program = [
        'G90 G54 G0 X10 Y10', //   → (-90, -90, 0)
        'G91 X-5', //              → (-95, -90, 0)
        'G90 G20 Z-1', //          → Z -10 - 25.4 = -35.4
        'G21 G53 G0 X-3', //       → machine X -3
        'G92 X0', //               → G92 offset: -3 - (-100) - 0 = 97
        'G0 X-10', //              → -10 + (-100) + 97 = -13
        'G92.1',
        'G10 L2 P2 X-200',
        'G55 X5', //               → -195
        'G10 L20 P1 Y0', //        → G54 Y so that here is 0: -90
        'G54 Y1', //               → -89
        'G43.1 Z2', //             → Z: -10 + 2 + 0 = ... at next Z move
        'Z0', //                   → -8
        'G28 G91 Z0', //           → intermediate (Z -8 + 0), then stored (-1, -1, -1)
      ].map((text, i) => ({ source: i + 1, text }));
      const targets = planMotions(lines(program), { x: 0, y: 0, z: 0 }, DEFAULT_MODAL, offsets).map((m) => [m.line.source, round(m.target)]);
      assert.deepEqual(targets, [
        [1, { x: -90, y: -90, z: 0 }],
        [2, { x: -95, y: -90, z: 0 }],
        [3, { x: -95, y: -90, z: -35.4 }],
        [4, { x: -3, y: -90, z: -35.4 }],
        [6, { x: -13, y: -90, z: -35.4 }],
        [9, { x: -195, y: -90, z: -35.4 }],
        [11, { x: -195, y: -89, z: -35.4 }],
        [13, { x: -195, y: -89, z: -8 }],
        [14, { x: -195, y: -89, z: -8 }],
        [14, { x: -1, y: -1, z: -1 }],
      ]);
    });

    it('gives each G2/G3 its arc: start, end, plane, direction, centre offsets or radius in millimetres', () => {
      const program = ['G90 G0 X10 Y0', 'G2 X0 Y-10 I-10', 'G20 G18 G3 Z1 I0.5 K0', 'G21 G19 G2 Y5 R-3'].map((text, i) => ({ source: i + 1, text: text.replace(/\s+/g, '') }));
      const arcs = planMotions(program, { x: 0, y: 0, z: 0 }, DEFAULT_MODAL, ZERO_OFFSETS).map((m) => m.arc);
      assert.equal(arcs[0], undefined);
      assert.deepEqual(arcs[1], { start: { x: 10, y: 0, z: 0 }, end: { x: 0, y: -10, z: 0 }, plane: 17, clockwise: true, offset: { x: -10, y: 0, z: 0 } });
      assert.deepEqual(arcs[2], { start: { x: 0, y: -10, z: 0 }, end: { x: 0, y: -10, z: 25.4 }, plane: 18, clockwise: false, offset: { x: 12.7, y: 0, z: 0 } });
      assert.deepEqual(arcs[3], { start: { x: 0, y: -10, z: 25.4 }, end: { x: 0, y: 5, z: 25.4 }, plane: 19, clockwise: true, radius: -3 });
    });
  });

  describe('arc extents', () => {
    const points = (arc: ArcMotion) => arcExtremes(arc)?.map((e) => round(e.point));
    const xy = (x: number, y: number) => ({ x, y, z: 0 });

    it('an arc within one quadrant reaches no extent between its end points', () => {
      assert.deepEqual(points({ start: xy(10, 0), end: xy(0, -10), plane: 17, clockwise: true, offset: xy(-10, 0) }), []);
    });

    it('G3 (counter-clockwise) over half a turn passes the top of its circle; G2 the same way round passes the bottom', () => {
      assert.deepEqual(points({ start: xy(10, 0), end: xy(-10, 0), plane: 17, clockwise: false, offset: xy(-10, 0) }), [xy(0, 10)]);
      assert.deepEqual(points({ start: xy(10, 0), end: xy(-10, 0), plane: 17, clockwise: true, offset: xy(-10, 0) }), [xy(0, -10)]);
    });

    it('a full turn (the end back at the start) reaches every extent, in the order it passes them', () => {
      assert.deepEqual(points({ start: xy(5, 0), end: xy(5, 0), plane: 17, clockwise: true, offset: xy(-5, 0) }), [xy(0, -5), xy(-5, 0), xy(0, 5)]);
    });

    it('the radius format: R takes the shorter arc, a negative R the longer one, on the side GRBL takes', () => {
      assert.deepEqual(points({ start: xy(0, 0), end: xy(10, 0), plane: 17, clockwise: true, radius: 10 }), [xy(5, 1.34)]);
      assert.deepEqual(points({ start: xy(0, 0), end: xy(10, 0), plane: 17, clockwise: true, radius: -10 }), [xy(-5, 8.66), xy(5, 18.66), xy(15, 8.66)]);
      assert.deepEqual(points({ start: xy(0, 0), end: xy(10, 0), plane: 17, clockwise: false, radius: 10 }), [xy(5, -1.34)]);
    });

    it('G18 turns in the ZX plane and G19 in the YZ plane, the linear axis moving evenly (a helix)', () => {
      const zx = points({ start: { x: 10, y: 0, z: 0 }, end: { x: -10, y: 4, z: 0 }, plane: 18, clockwise: false, offset: { x: -10, y: 0, z: 0 } });
      assert.deepEqual(zx, [{ x: 0, y: 2, z: -10 }], 'G3 in G18 from X+ to X- passes Z-');
      const yz = points({ start: { x: 0, y: 0, z: 10 }, end: { x: 3, y: 0, z: -10 }, plane: 19, clockwise: true, offset: { x: 0, y: 0, z: -10 } });
      assert.deepEqual(yz, [{ x: 1.5, y: 10, z: 0 }], 'G2 in G19 from Z+ to Z- passes Y+');
    });

    it('an arc GRBL refuses (error:33) has no extent: a radius too short for its chord, or a radius-format arc ending where it starts', () => {
      assert.equal(arcExtremes({ start: xy(0, 0), end: xy(10, 0), plane: 17, clockwise: true, radius: 4 }), undefined);
      assert.equal(arcExtremes({ start: xy(0, 0), end: xy(0, 0), plane: 17, clockwise: true, radius: 4 }), undefined);
    });
  });
});

function lines(l: { source: number; text: string }[]) {
  return l.map((x) => ({ source: x.source, text: x.text.replace(/\s+/g, '') }));
}
function round(a: { x: number; y: number; z: number }) {
  const r = (n: number) => Math.round(n * 1000) / 1000 + 0;
  return { x: r(a.x), y: r(a.y), z: r(a.z) };
}
