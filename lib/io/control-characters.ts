/** A control character found in text bound for a wire. */
export interface ControlCharacter {
  /** Its code, 0x00–0x1F or 0x7F. */
  readonly code: number;
  /** Where it is: the 1-based character position in the text (characters, not UTF-16 units). */
  readonly position: number;
  /** How a sentence names it: `\x03 (^C)`, `\x0A (^J, line feed)`, `\x7F (^?, delete)`. */
  readonly shown: string;
}

const NAMES: Readonly<Record<number, string>> = { 0x00: 'null', 0x09: 'tab', 0x0a: 'line feed', 0x0d: 'carriage return', 0x1b: 'escape', 0x7f: 'delete' };

/**
 * The first control character (0x00–0x1F, 0x7F) in `text`, or undefined when there is none.
 * Such a byte is never part of a command: a device on a serial line may act on it at once
 * (some instruments take ^C as a device clear; GRBL takes 0x18 as a reset), and CR or LF ends
 * the line early.
 */
export function findControlCharacter(text: string): ControlCharacter | undefined {
  let position = 0;
  for (const ch of text) {
    position++;
    const code = ch.codePointAt(0)!;
    if (code <= 0x1f || code === 0x7f) return { code, position, shown: showControlCharacter(code) };
  }
  return undefined;
}

/** `\x03 (^C)`: the byte in hex and in caret notation, with a name for the common ones. */
export function showControlCharacter(code: number): string {
  const hex = code.toString(16).toUpperCase().padStart(2, '0');
  const caret = code === 0x7f ? '^?' : `^${String.fromCharCode(code + 0x40)}`;
  const name = NAMES[code];
  return `\\x${hex} (${caret}${name ? `, ${name}` : ''})`;
}
