import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { describeError } from '../../scope/reasons';
import { ProgramError, splitProgram, type ProgramLine } from './gcode-program';

/** The largest program file read, bytes. */
export const MAX_PROGRAM_FILE_BYTES = 50_000_000;

/**
 * A program's lines from a `program` operation's parameters: `gcode` (the text) or `file` (a
 * name inside `programDir`), exactly one of them. Refuses, through `refuse(why, value)`: both
 * or neither given, a file when no program folder is configured, a file that cannot be read or
 * resolves (through links) outside the folder or is larger than 50 MB, a program `splitProgram`
 * refuses, and a program without G-code lines. Reads synchronously: the soft-limit check of
 * every line must be complete before the operation is queued.
 */
export function loadProgram(programDir: string | undefined, params: { gcode?: unknown; file?: unknown }, refuse: (why: string, value?: unknown) => Error): ProgramLine[] {
  const gcode = params.gcode as string | undefined;
  const file = params.file as string | undefined;
  if ((gcode === undefined) === (file === undefined)) throw refuse('give the program either as gcode or as file (one of them)');
  let text = gcode ?? '';
  if (file !== undefined) {
    if (!programDir) throw refuse(`program files are not enabled on this device (no program folder configured), got file ${JSON.stringify(file)}`, file);
    const path = resolve(programDir, file);
    let real: string;
    try {
      real = realpathSync(path);
    } catch (err) {
      throw refuse(`cannot read the program file ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file in the program folder' : describeError(err)}`, file);
    }
    const inside = relative(realpathSync(programDir), real);
    if (inside.startsWith('..') || isAbsolute(inside)) throw refuse(`the program file ${JSON.stringify(file)} is outside the program folder`, file);
    if (statSync(real).size > MAX_PROGRAM_FILE_BYTES) throw refuse(`the program file ${JSON.stringify(file)} is larger than 50 MB`, file);
    text = readFileSync(real, 'utf8');
  }
  try {
    const lines = splitProgram(text);
    if (lines.length === 0) throw refuse('the program has no G-code lines');
    return lines;
  } catch (err) {
    if (err instanceof ProgramError) throw refuse(`program ${err.message}`, err.text);
    throw err;
  }
}
