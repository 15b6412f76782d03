import { EventEmitter } from 'node:events';
import { Transform, type TransformCallback } from 'node:stream';
import { ReadlineParser } from '@serialport/parser-readline';

/** The line endings a device may use. */
export type LineDelimiter = '\n' | '\r\n' | '\r';

export interface LineFramerOptions {
  /** What ends an incoming line. Default `\n`. */
  delimiter?: LineDelimiter | string;
  /** Longest line kept, in bytes, delimiter excluded. Longer lines are cut and reported as `overlong`. Default 4096. */
  maxLineBytes?: number;
}

export interface LineFramerEvents {
  /** A complete line, delimiter removed, decoded as UTF-8 on its own (bad bytes become U+FFFD). */
  line: [line: string];
  /** A line longer than `maxLineBytes`: its first `maxLineBytes` bytes, decoded, and its full length. */
  overlong: [prefix: string, bytes: number];
}

/**
 * Caps line length ahead of the line parser: bytes of a line beyond `maxBytes` are dropped
 * (the delimiter still passes), so a device spewing bytes without a line end cannot grow the
 * parser's buffer without bound. It counts the delimiters it passes so the framer can tell
 * which parsed line was cut.
 */
class LineLengthGuard extends Transform {
  /** Index of the line being received (= delimiters passed so far). */
  private lineIndex = 0;
  private lineBytes = 0;
  /** Lines that were cut: index → full length in bytes. */
  readonly cut = new Map<number, number>();
  /** Up to delimiter.length - 1 trailing bytes that may be the start of a delimiter. */
  private carry = Buffer.alloc(0);

  constructor(private readonly delimiter: Buffer, private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const out: Buffer[] = [];
    let start = 0;
    for (let at = data.indexOf(this.delimiter, start); at !== -1; at = data.indexOf(this.delimiter, start)) {
      this.content(data.subarray(start, at), out);
      out.push(this.delimiter);
      this.lineIndex += 1;
      this.lineBytes = 0;
      start = at + this.delimiter.length;
    }
    const rest = data.subarray(start);
    const keep = Math.min(rest.length, this.delimiter.length - 1);
    this.content(rest.subarray(0, rest.length - keep), out);
    this.carry = Buffer.from(rest.subarray(rest.length - keep));
    if (out.length) this.push(Buffer.concat(out));
    done();
  }

  private content(bytes: Buffer, out: Buffer[]): void {
    if (bytes.length === 0) return;
    const room = this.maxBytes - this.lineBytes;
    this.lineBytes += bytes.length;
    if (this.lineBytes > this.maxBytes) {
      if (room > 0) out.push(bytes.subarray(0, room));
      this.cut.set(this.lineIndex, this.lineBytes);
    } else {
      out.push(bytes);
    }
  }
}

/**
 * Splits a byte stream into lines: a length guard, then serialport's `ReadlineParser` with the
 * configured delimiter. The parser runs without a stream decoder (it hands out each line as
 * bytes) and every line is decoded on its own, so a broken UTF-8 sequence at the end of one
 * line cannot swallow the first character of the next (`ok` must stay `ok`). Empty lines are
 * delivered as `''`. Use one framer per transport session: a partial line from a session that
 * ended is discarded with the framer, never glued to the next session's first line.
 */
export class LineFramer extends EventEmitter<LineFramerEvents> {
  readonly delimiter: string;
  readonly maxLineBytes: number;
  private readonly guard: LineLengthGuard;
  private readonly parser: ReadlineParser;
  private parsedLines = 0;
  private destroyed = false;

  constructor(options: LineFramerOptions = {}) {
    super();
    this.delimiter = options.delimiter ?? '\n';
    if (this.delimiter.length === 0) throw new TypeError('a line delimiter cannot be empty');
    this.maxLineBytes = options.maxLineBytes ?? 4096;
    if (!(this.maxLineBytes >= 1)) throw new TypeError(`maxLineBytes must be at least 1, got ${options.maxLineBytes}`);
    const delimiter = Buffer.from(this.delimiter, 'utf8');
    this.guard = new LineLengthGuard(delimiter, this.maxLineBytes);
    // encoding undefined + object mode: lines come out as Buffers, empty ones included.
    this.parser = new ReadlineParser({ delimiter, encoding: undefined, readableObjectMode: true });
    this.guard.on('data', (bytes: Buffer) => this.parser.write(bytes));
    this.parser.on('data', (bytes: Buffer) => this.deliver(bytes));
  }

  /** Feeds received bytes. Lines are emitted in order, possibly a tick later. Ignored after `destroy()`. */
  push(chunk: Buffer): void {
    if (!this.destroyed) this.guard.write(chunk);
  }

  /** Drops any partial line and stops emitting. */
  destroy(): void {
    this.destroyed = true;
    this.guard.destroy();
    this.parser.destroy();
    this.removeAllListeners();
  }

  private deliver(bytes: Buffer): void {
    if (this.destroyed) return;
    const index = this.parsedLines++;
    const text = bytes.toString('utf8');
    const fullLength = this.guard.cut.get(index);
    if (fullLength !== undefined) {
      this.guard.cut.delete(index);
      this.emit('overlong', text, fullLength);
    } else {
      this.emit('line', text);
    }
  }
}
