import { setMaxListeners } from 'node:events';
import type { ProgramLine } from './gcode-program';
import { GrblCommandError } from './grbl-errors';
import { errorCode, type GrblLink } from './grbl-link';

/** How many program lines are queued on the connection ahead of their replies (more than 128 bytes' worth). */
export const PROGRAM_WINDOW = 64;

/** Where and how a program is streamed. */
export interface ProgramStream {
  link: GrblLink;
  /** The device and operation, for the error. */
  device: string;
  operation: string;
  signal: AbortSignal;
  /** Called after each `ok`, with the number of lines acknowledged so far. */
  onAcked?: (acked: number) => void;
}

/**
 * Streams `lines` to GRBL in order, up to `PROGRAM_WINDOW` of them queued on the link ahead of
 * their replies (the link's pipeline counts the characters in GRBL's receive buffer), and
 * resolves once every line has its `ok`. The first `error:N` ends the stream: no line is
 * written after it, and it rejects with a GrblCommandError naming the source line ("Mill:
 * program line 2 refused by GRBL: error:20 — …"); the lines already in GRBL's buffer still run
 * (stopping them is the caller's). Rejects with the link's error, or with `signal`'s reason.
 */
export async function streamProgram(lines: readonly ProgramLine[], stream: ProgramStream): Promise<void> {
  let acked = 0;
  let failure: GrblCommandError | undefined;
  const stop = new AbortController();
  const lineSignal = AbortSignal.any([stream.signal, stop.signal]);
  setMaxListeners(PROGRAM_WINDOW * 2 + 20, lineSignal);
  const window: Promise<void>[] = [];
  const send = (line: ProgramLine): Promise<void> =>
    stream.link.request(line.text, { signal: lineSignal, timeoutMs: Infinity }, `line ${line.source} ${JSON.stringify(line.text)}`).then((reply) => {
      const code = errorCode(reply);
      if (code !== undefined) {
        if (!failure) {
          failure = new GrblCommandError(stream.device, stream.operation, line.text, code, ` line ${line.source}`);
          stop.abort(failure);
        }
        return;
      }
      acked++;
      stream.onAcked?.(acked);
    });
  try {
    for (const line of lines) {
      if (failure) break;
      const sent = send(line);
      sent.catch(() => undefined); // awaited below; a rejection is never left unhandled
      window.push(sent);
      if (window.length >= PROGRAM_WINDOW) await window.shift();
    }
    await Promise.all(window);
  } catch (err) {
    if (!failure) throw err;
  }
  if (failure) throw failure;
}
