import assert from 'node:assert/strict';
import { channelList, decimalValue, programUnits, spells, splitOutsideQuotes } from '../../lib/devices/instrument/scpi-message';
import { findControlCharacter, showControlCharacter } from '../../lib/io';

describe('reading a SCPI program message (the driver\'s own reading, for its checks)', () => {
  const paths = (message: string) =>
    programUnits(message).map((u) => ('unreadable' in u ? `unreadable ${u.unreadable}` : u.common ? u.commonName : u.path.map((n) => `${n.mnemonic}${n.suffix ?? ''}`).join(':')));

  it('resolves each header by the path rule: a leading colon starts at the root, others continue the previous header\'s path, common commands leave it alone', () => {
    assert.deepEqual(paths(':SOUR2:VOLT 1;CURR 2;*RST;LEV 3;:VOLT 4'), ['SOUR2:VOLT', 'SOUR2:CURR', '*RST', 'SOUR2:LEV', 'VOLT']);
    assert.deepEqual(paths('INST:NSEL 2;VOLT 5'), ['INST:NSEL', 'INST:VOLT']);
  });

  it('keeps a unit\'s own header too, as an instrument ignoring the path rule reads it', () => {
    const [, second] = programUnits('INST:NSEL 2;VOLT 5');
    assert.ok(!('unreadable' in second));
    assert.deepEqual(second.own, [{ mnemonic: 'VOLT', suffix: undefined }]);
  });

  it('splits at ; and , outside quoted strings (a doubled quote stays inside) and parentheses; empty units are skipped', () => {
    assert.deepEqual(paths('DISP:TEXT "a;VOLT 70";;:OUTP ON;'), ['DISP:TEXT', 'OUTP']);
    assert.deepEqual(splitOutsideQuotes('DISP:TEXT "say ""hi"";:VOLT 70"', ';'), ['DISP:TEXT "say ""hi"";:VOLT 70"']);
    assert.deepEqual(splitOutsideQuotes(`5,'a,b',(@1,2)`, ','), ['5', `'a,b'`, '(@1,2)']);
    const [unit] = programUnits(':APPL CH1, 5 ,0.5');
    assert.ok(!('unreadable' in unit));
    assert.deepEqual(unit.params, ['CH1', '5', '0.5']);
    assert.equal(unit.query, false);
  });

  it('marks a unit whose header cannot be read, so a check can refuse it', () => {
    assert.deepEqual(paths(':OUTP ON;VOLT:5 1;:SOUR2:*RST'), ['OUTP', 'unreadable VOLT:5 1', 'unreadable :SOUR2:*RST']);
  });

  it('reads a mnemonic in its short form, its long form or anything in between, in any case', () => {
    for (const word of ['VOLT', 'VOLTA', 'VOLTAG', 'VOLTAGE', 'volt', 'Voltage']) assert.equal(spells('VOLTage', word), true, word);
    for (const word of ['VOL', 'VOLTAGES', 'VOLTS']) assert.equal(spells('VOLTage', word), false, word);
  });

  it('reads decimal values with a V or A suffix and SCPI\'s multipliers (M is milli, MA mega), nothing else', () => {
    assert.equal(decimalValue('5', 'V'), 5);
    assert.equal(decimalValue('+.5E1', 'V'), 5);
    assert.equal(decimalValue('3300mV', 'V'), 3.3);
    assert.equal(decimalValue('2 MA', 'A'), 0.002);
    assert.equal(decimalValue('1MAA', 'A'), 1e6);
    assert.equal(decimalValue('1 kV', 'V'), 1000);
    for (const text of ['MAX', '#H1F', '5 A', '5 XV', '']) assert.equal(decimalValue(text, 'V'), undefined, text);
  });

  it('reads channel lists', () => {
    assert.deepEqual(channelList('(@2)'), [2]);
    assert.deepEqual(channelList('( @1,3:4 )'), [1, 3, 4]);
    assert.equal(channelList('CH2'), undefined);
  });
});

describe('control characters in text bound for a wire', () => {
  it('finds the first one (0x00-0x1F, 0x7F) and its position in characters, not UTF-16 units', () => {
    assert.deepEqual(findControlCharacter('😀 OUTP\u0003'), { code: 3, position: 7, shown: '\\x03 (^C)' });
    assert.equal(findControlCharacter('DISP:TEXT "é ~"'), undefined);
  });

  it('names it in hex and caret notation, with a name for the common ones', () => {
    assert.equal(showControlCharacter(0x00), '\\x00 (^@, null)');
    assert.equal(showControlCharacter(0x09), '\\x09 (^I, tab)');
    assert.equal(showControlCharacter(0x18), '\\x18 (^X)');
    assert.equal(showControlCharacter(0x7f), '\\x7F (^?, delete)');
  });
});
