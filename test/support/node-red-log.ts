/**
 * Node-RED's log events as they were when logged. A log handler may rewrite an event in place
 * before a test gets to read it: the debug node's handler (added again by every load of that
 * node) encodes an Error as JSON and a second one cuts that string at 1000 characters, so a
 * stack trace through a deep checkout pushes the message out of it. A spy on `RED.log.log`
 * (node-red-node-test-helper's `helper.log()`) holds the rewritten object; `asLogged` gives the
 * copy taken when it was logged, with the Error itself, and a recorder keeps such copies.
 */

/** One log event: Node-RED's fields; `msg` is what was logged (an Error stays an Error). */
export interface LogEvent {
  readonly level: number;
  /** The node that logged it (absent for the runtime's own messages). */
  readonly id?: string;
  readonly type?: string;
  readonly name?: string;
  readonly msg: unknown;
}

interface RedLog {
  log(event: LogEvent): void;
  ERROR: number;
  WARN: number;
}

const redLog = (require('node-red') as { log: RedLog }).log;
const recorders = new Set<LogEvent[]>();
const copies = new WeakMap<object, LogEvent>();
const logged = redLog.log;
// Installed when this module is first imported, before any test loads a flow: the helper's
// spy then wraps this tap, and its restore at unload puts the tap back.
redLog.log = function tap(this: unknown, event: LogEvent) {
  const copy = { ...event };
  copies.set(event, copy);
  for (const events of recorders) events.push(copy);
  return logged.call(this, event);
};

/** A log event (as a spy on `RED.log.log` holds it) as it was when logged. */
export function asLogged(event: LogEvent): LogEvent {
  return copies.get(event) ?? event;
}

/** Node-RED's numeric log levels. */
export const LOG_LEVEL = { error: redLog.ERROR, warn: redLog.WARN } as const;

/** The text of a logged message: an Error's message, a string as it is, anything else as JSON. */
export function logText(msg: unknown): string {
  if (msg instanceof Error) return msg.message;
  if (typeof msg === 'string') return msg;
  return JSON.stringify(msg);
}

/** Records every log event from now on, until `stop()`. */
export class LogRecorder {
  readonly events: LogEvent[] = [];

  constructor() {
    recorders.add(this.events);
  }

  /** The texts of the events at `level` that a node logged (not the runtime's own), in order. */
  fromNodes(level: number): string[] {
    return this.events.filter((e) => e.level === level && e.id !== undefined).map((e) => logText(e.msg));
  }

  /** The texts of the errors logged, by nodes or the runtime. */
  errors(): string[] {
    return this.events.filter((e) => e.level === LOG_LEVEL.error).map((e) => logText(e.msg));
  }

  stop(): void {
    recorders.delete(this.events);
  }
}
