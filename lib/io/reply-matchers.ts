/**
 * What an incoming line is, as far as the request at the head of the line (the oldest one still
 * owed a reply) is concerned:
 * - `'final'`: the last (often only) line of its reply: the request completes with it;
 * - `'part'`: a line of its reply with more to come (kept, returned with the final line);
 * - `'push'`: not part of any reply: a status report, an alarm, a banner; it goes out as an
 *   unsolicited `'message'` event and the request keeps waiting.
 */
export type ReplyVerdict = 'final' | 'part' | 'push';

/**
 * Decides what `line` is for the head request. `parts` are the lines already collected for it.
 * Called only while a request is owed a reply; with none owed, every line is a push. A matcher
 * that throws is treated as answering `'push'`.
 */
export type ReplyMatcher = (line: string, parts: readonly string[]) => ReplyVerdict;

/** The next line, whatever it is, is the whole reply (SCPI queries, UR dashboard commands). */
export const nextLine: ReplyMatcher = () => 'final';

/**
 * Collects lines until one satisfies `isFinal`. Lines satisfying `isPart` are kept as parts of
 * the reply; all others are pushes. By default nothing but the final line belongs to the reply.
 * Example, GRBL `$$`: `untilFinal(l => l === 'ok' || l.startsWith('error:'), l => /^\$\d+=/.test(l))`.
 */
export function untilFinal(isFinal: (line: string) => boolean, isPart: (line: string) => boolean = () => false): ReplyMatcher {
  return (line) => (isFinal(line) ? 'final' : isPart(line) ? 'part' : 'push');
}

/**
 * Collects exactly `count` lines (the last one is final); every line in between is a part.
 * For instruments that answer some queries with a fixed number of lines.
 */
export function lineCount(count: number): ReplyMatcher {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`lineCount: expected a whole number of lines, 1 or more, got ${count}`);
  return (_line, parts) => (parts.length + 1 >= count ? 'final' : 'part');
}
