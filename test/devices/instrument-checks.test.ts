import assert from 'node:assert/strict';
import { INSTRUMENT_PRESETS, ScpiInstrumentDevice, parseOutputLimits } from '../../lib/devices/instrument';
import { WorkcellError } from '../../lib';
import type { Dmm34461A, RigolDP821 } from '../../lib/simulators/scpi';
import { readyDevice, received, startSimulators } from './instrument-fixtures';

const run = (device: ScpiInstrumentDevice, operation: string, params: Record<string, unknown>) => device.execute(operation, params, { signal: new AbortController().signal });

/** A channel's settings as the simulator holds them. */
interface OutputSnapshotLike { channel: number; enabled: boolean; volts: number; amps: number }

/** What the power supply's outputs are set to, for "nothing changed" comparisons. */
const levels = (psu: RigolDP821): OutputSnapshotLike[] => psu.outputs.map((o) => ({ channel: o.channel, enabled: o.enabled, volts: o.voltageSetpoint, amps: o.currentLimit }));

describe('SCPI instrument driver: commands checked before a byte is sent (Rigol DP821 and Keysight 34461A simulators)', function () {
  let dmm: Dmm34461A;
  let psu: RigolDP821;
  let dmmAddress: string;
  let psuAddress: string;
  let closeSims: () => Promise<void>;
  const opened: ScpiInstrumentDevice[] = [];

  beforeEach(async () => {
    ({ dmm, psu, dmmAddress, psuAddress, close: closeSims } = await startSimulators());
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await closeSims();
  });

  async function thePsu(options: Record<string, unknown> = {}): Promise<ScpiInstrumentDevice> {
    const d = await readyDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', timeoutMs: 1000, ...options });
    opened.push(d);
    return d;
  }

  /**
   * Asserts that every refusal so far left the wire untouched: the next valid message arrives
   * alone, not glued to the bytes of a refused one, and nothing else was received.
   */
  async function nothingWasSent(d: ScpiInstrumentDevice, sim: RigolDP821 | Dmm34461A, before: number): Promise<void> {
    assert.deepEqual(received(sim, before), [], 'no program message reached the instrument');
    await run(d, 'write', { command: '*CLS' });
    assert.deepEqual(received(sim, before), ['*CLS', 'SYST:ERR?'], 'no partial bytes were left in its input either');
  }

  describe('control characters', () => {
    it('refuses every control character (0x00-0x1F, 0x7F) in a write, query or measure query, naming device, operation, the character and its position; nothing is sent', async () => {
      const p = await thePsu();
      const d = await readyDevice({ name: 'DMM', address: dmmAddress, preset: 'keysight-34461a', timeoutMs: 1000 });
      opened.push(d);
      const codes = [...Array.from({ length: 0x20 }, (_, c) => c), 0x7f];
      const beforePsu = psu.commandLog.length;
      const beforeDmm = dmm.commandLog.length;
      for (const code of codes) {
        const ch = String.fromCharCode(code);
        const hex = `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
        for (const [device, operation, params, position] of [
          [p, 'write', { command: `:APPL CH1,5${ch},0.1` }, 12],
          [p, 'query', { command: `${ch}:APPL? CH1` }, 1],
          [d, 'measure', { query: `MEAS:VOLT:DC?${ch}` }, 14],
        ] as const) {
          const err = await run(device, operation, params).then(() => assert.fail(`${hex} in ${operation} was accepted`), (e: unknown) => e);
          assert.ok(err instanceof WorkcellError, `${hex}: a WorkcellError`);
          assert.equal(err.subject, device.name);
          assert.equal(err.operation, operation);
          assert.match(err.message, new RegExp(`^${device.name}: ${operation} refused: .* contains .*${hex.replace('\\', '\\\\')} \\(\\^.*\\).* at character ${position}\\b.*; nothing was sent$`), `${hex} in ${operation}: ${err.message}`);
        }
      }
      await nothingWasSent(p, psu, beforePsu);
      assert.deepEqual(received(dmm, beforeDmm), []);
    });

    it('names ^C as a possible device clear, and a line break as one program message too many', async () => {
      const p = await thePsu();
      await assert.rejects(run(p, 'write', { command: ':OUTP CH1,ON\u0003' }), {
        message: 'PSU: write refused: ":OUTP CH1,ON\\u0003" (string) contains the control character \\x03 (^C) at character 13, which an instrument may act on at once (on RS-232 some take ^C as a device clear); nothing was sent',
        code: 'invalid-command',
      });
      await assert.rejects(run(p, 'write', { command: ':OUTP CH1,ON\r:OUTP CH2,ON' }), {
        message: 'PSU: write refused: ":OUTP CH1,ON\\r:OUTP CH2,ON" (string) contains a line break, \\x0D (^M, carriage return), at character 13 (send one program message per operation); nothing was sent',
      });
      assert.deepEqual(psu.outputs.map((o) => o.enabled), [false, false]);
    });

    it('refuses a configured command holding a control character when the device is made', () => {
      assert.throws(
        () => new ScpiInstrumentDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', initCommands: ['SYST:REM\u0003'] }),
        { name: 'RangeError', message: 'PSU: the stop, safe or init command "SYST:REM\\u0003" contains the control character \\x03 (^C) at character 9' },
      );
      assert.throws(() => new ScpiInstrumentDevice({ name: 'DMM', address: dmmAddress, preset: 'keysight-34461a', measureQuery: 'MEAS:VOLT:DC?\u001b' }), /the measure query .* contains the control character \\x1B \(\^\[, escape\) at character 14/);
    });
  });

  describe('output limits', () => {
    it('default to the preset\'s ratings, which are the simulated DP821\'s (CH1 60 V / 1 A, CH2 8 V / 10 A)', async () => {
      const p = await thePsu();
      assert.deepEqual(p.outputLimits, [{ volts: 60, amps: 1 }, { volts: 8, amps: 10 }]);
      assert.deepEqual(INSTRUMENT_PRESETS['rigol-dp821'].ratings, psu.ratings);
      const before = psu.commandLog.length;
      await assert.rejects(run(p, 'write', { command: ':APPL CH2,9,1' }), {
        code: 'limit',
        subject: 'PSU',
        operation: 'write',
        message: 'PSU: write refused: ":APPL CH2,9,1" (string) sets CH2\'s voltage to 9 V, above CH2\'s limit of 8 V; nothing was sent',
      });
      assert.deepEqual(received(psu, before), []);
      await run(p, 'write', { command: ':APPL CH1,60,1' });
      assert.equal(psu.output(1).voltageSetpoint, 60);
    });

    it('a DMM and a generic instrument have none unless configured: their commands are not read for levels', async () => {
      const d = await readyDevice({ name: 'DMM', address: dmmAddress, preset: 'keysight-34461a', timeoutMs: 1000 });
      opened.push(d);
      assert.deepEqual(d.outputLimits, []);
      assert.deepEqual(new ScpiInstrumentDevice({ name: 'G', address: psuAddress, preset: 'generic' }).outputLimits, []);
      // VOLT 1000 means nothing to the 34461A (-113), but no limit refuses it: the instrument does.
      await assert.rejects(run(d, 'write', { command: 'VOLT 1000' }), { message: 'DMM: write "VOLT 1000" → -113,"Undefined header"' });
    });

    it('an empty list turns them off: the instrument judges the level itself', async () => {
      const p = await thePsu({ outputLimits: [] });
      await assert.rejects(run(p, 'write', { command: ':APPL CH2,9,1' }), { message: 'PSU: write ":APPL CH2,9,1" → -222,"Data out of range"' });
    });

    describe('with CH1 30 V / 0.5 A and CH2 5 V / 3 A', () => {
      const limits = [{ volts: 30, amps: 0.5 }, { volts: 5, amps: 3 }];

      it('lets through what is within them, in short or long form, any case, compound or not, and the simulator sets what the driver read', async () => {
        // Each is accepted only if the driver took the level to the channel given here (a
        // current of 2.5 A is above CH1's limit), and the simulator applying it to that channel
        // shows that it reads the message the same way.
        const accepted: [command: string, channel: number, volts: number | undefined, amps: number | undefined][] = [
          ['*RST;:INST CH2;:CURR 3', 2, undefined, 3],
          [':APPL CH2,4.5,2.5', 2, 4.5, 2.5],
          [':apply ch2,4,2', 2, 4, 2],
          ['APPLy CH1,29.5,0.5', 1, 29.5, 0.5],
          [':SOUR2:CURR:LEV:IMM:AMPL 2.5', 2, undefined, 2.5],
          [':source2:current:level:immediate:amplitude 2.25', 2, undefined, 2.25],
          ['SOURce2:VOLTage 4500mV', 2, 4.5, undefined],
          [':SOUR2:VOLT 1;CURR 2.75', 2, 1, 2.75],
          [':INST CH2;:CURR 2.5', 2, undefined, 2.5],
          [':INSTrument:SELect CH2;:VOLTage:LEVel 3.3', 2, 3.3, undefined],
          [':INST:NSEL 2;:CURR 1500mA', 2, undefined, 1.5],
          [':APPL CH1,25,0.4;:APPL CH2,5,3', 2, 5, 3],
          [':INST CH1;:CURR MIN', 1, undefined, 0],
        ];
        const p = await thePsu({ outputLimits: limits });
        for (const [command, channel, volts, amps] of accepted) {
          const before = levels(psu)[channel - 1];
          assert.deepEqual(await run(p, 'write', { command }), { command }, command);
          const after = levels(psu)[channel - 1];
          assert.deepEqual(after, { ...before, ...(volts === undefined ? {} : { volts }), ...(amps === undefined ? {} : { amps }) }, `${command}: CH${channel} set as the driver read it`);
        }
        // The selected channel is unknown, so a level within every channel's limit goes.
        await run(p, 'write', { command: ':INST CH1' });
        await run(p, 'write', { command: 'VOLT 4.5' });
        assert.equal(psu.output(1).voltageSetpoint, 4.5);
      });

      it('refuses what is beyond them, naming device, operation, channel, limit and value; nothing is sent, the outputs keep their levels', async () => {
        const p = await thePsu({ outputLimits: limits });
        await run(p, 'write', { command: ':APPL CH1,12,0.2;:APPL CH2,3,1' });
        const set = levels(psu);
        const refused: [command: string, says: string][] = [
          [':APPL CH1,31,0.1', 'sets CH1\'s voltage to 31 V, above CH1\'s limit of 30 V'],
          ['appl ch2,1,3.5', 'sets CH2\'s current to 3.5 A, above CH2\'s limit of 3 A'],
          [':sour2:curr:lev:imm:ampl 3.5', 'sets CH2\'s current to 3.5 A, above CH2\'s limit of 3 A'],
          [':SOURCE1:VOLTAGE:LEVEL:TRIGGERED:AMPLITUDE 31', 'sets CH1\'s voltage to 31 V, above CH1\'s limit of 30 V'],
          ['SOUR2:VOLT 5.5V', 'sets CH2\'s voltage to 5.5 V (written "5.5V"), above CH2\'s limit of 5 V'],
          [':SOUR2:VOLT 1;CURR 3.5', 'sets CH2\'s current to 3.5 A, above CH2\'s limit of 3 A'],
          [':INST CH2;:VOLT 5500mV', 'sets CH2\'s voltage to 5.5 V (written "5500mV"), above CH2\'s limit of 5 V'],
          [':INSTRUMENT:NSELECT 1;:CURRENT 0.6', 'sets CH1\'s current to 0.6 A, above CH1\'s limit of 0.5 A'],
          [':APPL CH1,25,0.4;:APPL CH2,6', 'sets CH2\'s voltage to 6 V, above CH2\'s limit of 5 V'],
          [':SOUR2:VOLT MAX', 'sets CH2\'s voltage to 8 V (MAX: the rating), above CH2\'s limit of 5 V'],
          [':VOLT 6', 'sets the selected channel\'s voltage to 6 V, above CH2\'s limit of 5 V; which channel is selected cannot be known before sending'],
          ['*RST;:CURR 1', 'sets the selected channel\'s current to 1 A, above CH1\'s limit of 0.5 A; which channel is selected'],
          [':VOLT UP', 'sets the selected channel\'s voltage to "UP", which cannot be checked against CH1\'s limit of 30 V'],
          [':APPL P25V,1,0.1', 'the output "P25V" cannot be matched to a channel, so its output levels cannot be checked against the limits'],
          [':SOUR3:VOLT 1', 'sets the voltage of CH3, but the device\'s output channels are CH1…CH2: no limit is known for it'],
          [':VOLT 6,(@2)', 'sets CH2\'s voltage to 6 V, above CH2\'s limit of 5 V'],
          [':APPL OUTP2,6', 'sets CH2\'s voltage to 6 V, above CH2\'s limit of 5 V'],
          [':SOUR1:VOLT -31', 'sets CH1\'s voltage to -31 V, above CH1\'s limit of 30 V'],
          [':INST CH1;*RCL 1;:CURR 1', 'sets the selected channel\'s current to 1 A, above CH1\'s limit of 0.5 A; which channel is selected'],
          // Spellings between the short and the long form are read too, whether the instrument takes them or not.
          [':SOUR2:VOLTA 6', 'sets CH2\'s voltage to 6 V, above CH2\'s limit of 5 V'],
          // By the path rule this VOLT is INST:VOLT (an error); an instrument that ignores the rule sets CH2.
          [':INST:NSEL 2;VOLT 5.5', 'sets CH2\'s voltage to 5.5 V, above CH2\'s limit of 5 V'],
          [':CURR DEF', 'sets the selected channel\'s current to "DEF", which cannot be checked against CH1\'s limit of 0.5 A'],
          [':SOUR2:VOLT 1,CH2', 'a parameter after the voltage cannot be placed, so its output levels cannot be checked against the limits'],
          [':OUTP CH1,ON;:VOLT:5 1', '":VOLT:5 1" cannot be read as a SCPI command, so its output levels cannot be checked against the limits'],
        ];
        const before = psu.commandLog.length;
        for (const [command, says] of refused) {
          const err = await run(p, 'write', { command }).then(() => assert.fail(`${command} was accepted`), (e: unknown) => e);
          assert.ok(err instanceof WorkcellError);
          assert.equal(err.code, 'limit', command);
          assert.equal(err.value, command);
          assert.ok(err.message.startsWith(`PSU: write refused: ${JSON.stringify(command)} (string)`), err.message);
          assert.ok(err.message.includes(says), `${command}: ${err.message}`);
          assert.ok(err.message.endsWith('; nothing was sent'), err.message);
        }
        // A query or a measurement may carry a setting too.
        await assert.rejects(run(p, 'query', { command: ':SOUR2:VOLT 6;:SOUR2:VOLT?' }), /^WorkcellError: PSU: query refused: .*sets CH2's voltage to 6 V, above CH2's limit of 5 V; nothing was sent$/);
        await assert.rejects(run(p, 'measure', { query: ':APPL CH1,40;:MEAS:VOLT? CH1' }), /^WorkcellError: PSU: measure refused: .*sets CH1's voltage to 40 V, above CH1's limit of 30 V; nothing was sent$/);
        assert.deepEqual(levels(psu), set, 'every output keeps its levels');
        await nothingWasSent(p, psu, before);
      });

      it('do not cover protection levels: VOLT:PROT goes to the instrument (the simulator does not model it)', async () => {
        const p = await thePsu({ outputLimits: limits });
        await assert.rejects(run(p, 'write', { command: ':SOUR1:VOLT:PROT 70' }), { message: 'PSU: write ":SOUR1:VOLT:PROT 70" → -113,"Undefined header"' });
      });

      it('refuses a configured init command beyond them when the device is made', () => {
        assert.throws(() => new ScpiInstrumentDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', outputLimits: limits, initCommands: [':APPL CH1,31,0.1'] }), {
          name: 'RangeError',
          message: 'PSU: the stop, safe or init command ":APPL CH1,31,0.1" is refused: ":APPL CH1,31,0.1" (string) sets CH1\'s voltage to 31 V, above CH1\'s limit of 30 V',
        });
      });
    });

    it('on an instrument whose ratings are unknown, MAX cannot be checked and is refused', async () => {
      const g = new ScpiInstrumentDevice({ name: 'Supply', address: psuAddress, preset: 'generic', outputLimits: [{ volts: 10 }] });
      await assert.rejects(run(g, 'write', { command: 'VOLT MAX' }), {
        code: 'limit',
        message: 'Supply: write refused: "VOLT MAX" (string) sets the selected channel\'s voltage to MAX, the instrument\'s maximum, which the driver does not know, so it cannot be checked against CH1\'s limit of 10 V (give the value as a number); which channel is selected cannot be known before sending, so the value must be within every channel\'s limit: name the channel with SOURce<n>, APPLy CH<n>, or INSTrument CH<n> earlier in the same message; nothing was sent',
      });
      await assert.rejects(run(g, 'write', { command: 'CURR 100' }), /is not connected|refused: the device is/, 'no current limit: only the closed link refuses it');
    });

    it('are refused when they name a channel the device does not have, or are not sizes', () => {
      assert.throws(() => new ScpiInstrumentDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', outputLimits: [{}, {}, { volts: 5 }] }), { message: 'PSU: the output limits name CH3, but the device has 2 output channels' });
      assert.throws(() => new ScpiInstrumentDevice({ name: 'PSU', address: psuAddress, preset: 'rigol-dp821', outputLimits: [{ volts: -1 }] }), { message: 'PSU: the CH1 output limit must be a number of V, 0 or more, got -1 (number)' });
    });
  });

  describe('output limits as the editor field reads them', () => {
    it('one channel per line, the voltage, the current or both, any case and spacing', () => {
      assert.deepEqual(parseOutputLimits('CH1: 30 V, 0.5 A\n\n ch2:5v\nCH4 : .25 A , 12.5 V'), [{ volts: 30, amps: 0.5 }, { volts: 5 }, {}, { amps: 0.25, volts: 12.5 }]);
      assert.deepEqual(parseOutputLimits(''), []);
    });

    it('refuses anything else, naming the line', () => {
      assert.throws(() => parseOutputLimits('CH1 30 V'), { message: 'output limits line "CH1 30 V": expected CH<n>: <volts> V, <amps> A (either or both)' });
      assert.throws(() => parseOutputLimits('CH1: 30 mV'), { message: 'output limits line "CH1: 30 mV": "30 mV" is not a limit: a number followed by V or A' });
      assert.throws(() => parseOutputLimits('CH1: -3 V'), /"-3 V" is not a limit/);
      assert.throws(() => parseOutputLimits('CH1: 3 V, 4 V'), { message: 'output limits line "CH1: 3 V, 4 V": the voltage is given twice' });
      assert.throws(() => parseOutputLimits('CH1: 3 V\nch1: 1 A'), { message: 'output limits line "ch1: 1 A": CH1 is given twice' });
      assert.throws(() => parseOutputLimits('CH17: 3 V'), { message: 'output limits line "CH17: 3 V": the channel must be 1 to 16, got 17' });
    });
  });
});
