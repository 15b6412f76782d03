import assert from 'node:assert/strict';
import { LineFramer, type LineFramerOptions } from '../../lib/io';

async function frame(chunks: Array<string | Buffer>, options?: LineFramerOptions): Promise<{ lines: string[]; overlong: Array<[string, number]> }> {
  const framer = new LineFramer(options);
  const lines: string[] = [];
  const overlong: Array<[string, number]> = [];
  framer.on('line', (line) => lines.push(line));
  framer.on('overlong', (prefix, bytes) => overlong.push([prefix, bytes]));
  for (const chunk of chunks) framer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  await new Promise((resolve) => setImmediate(resolve));
  framer.destroy();
  return { lines, overlong };
}

describe('LineFramer', () => {
  it('splits on a CRLF delimiter that arrives split across chunks, and keeps empty lines', async () => {
    const { lines } = await frame(['ok\r', '\n\r\nGrbl 1.1h [\'$\' for help]\r', '\n<Idle'], { delimiter: '\r\n' });
    assert.deepEqual(lines, ['ok', '', "Grbl 1.1h ['$' for help]"]);
  });

  it('decodes each line on its own, so a broken UTF-8 sequence cannot swallow the next line\'s first characters', async () => {
    const { lines } = await frame([Buffer.from([0x41, 0xe2, 0x82, 0x0a]), 'ok\n', Buffer.from('25 \u00b0C\n')]);
    assert.deepEqual(lines, ['A\ufffd', 'ok', '25 \u00b0C']);
  });

  it('cuts a line longer than maxLineBytes, reports it as overlong with its length, and frames the following lines normally', async () => {
    const { lines, overlong } = await frame(['abcdefgh', 'ijkl\r', '\nok\r\n'], { delimiter: '\r\n', maxLineBytes: 5 });
    assert.deepEqual(overlong, [['abcde', 12]]);
    assert.deepEqual(lines, ['ok']);
  });

  it('accepts a line of exactly maxLineBytes', async () => {
    const { lines, overlong } = await frame(['12345\n'], { maxLineBytes: 5 });
    assert.deepEqual(lines, ['12345']);
    assert.deepEqual(overlong, []);
  });

  it('splits on a bare CR for devices that end lines with CR', async () => {
    const { lines } = await frame(['a\rb\r'], { delimiter: '\r' });
    assert.deepEqual(lines, ['a', 'b']);
  });
});
