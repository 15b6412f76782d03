import helper from 'node-red-node-test-helper';
import { EventEmitter } from 'node:events';
import { LOG_LEVEL, type LogEvent, asLogged, logText } from './node-red-log';

helper.init(require.resolve('node-red'));

export { helper };

/** The Node-RED node modules of the control nodes, loaded from source (tsx) or dist (tsc). */
export const controlNodes = [
  require('../../nodes/abort-context'),
  require('../../nodes/sequence'),
  require('../../nodes/sequence-end'),
  require('../../nodes/estop'),
  require('../../nodes/cell-status'),
  require('../../nodes/wait'),
  require('./memory-nodes'),
  require('@node-red/nodes/core/common/25-catch.js'),
].map((m) => (m.default ?? m) as (red: unknown) => void);

/** Messages a node received, with a way to wait for the next one (or the nth). */
export class Received extends EventEmitter {
  readonly messages: Record<string, unknown>[] = [];
  constructor(node: { on(e: 'input', f: (msg: Record<string, unknown>) => void): void }) {
    super();
    node.on('input', (msg) => {
      this.messages.push(msg);
      this.emit('msg', msg);
    });
  }
  /** Resolves with the `count`-th message (1-based), waiting at most `ms`. */
  nth(count: number, ms = 15_000): Promise<Record<string, unknown>> {
    if (this.messages.length >= count) return Promise.resolve(this.messages[count - 1]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${count} message(s) within ${ms} ms, got ${this.messages.length}`)), ms);
      const on = () => {
        if (this.messages.length >= count) {
          clearTimeout(timer);
          this.off('msg', on);
          resolve(this.messages[count - 1]);
        }
      };
      this.on('msg', on);
    });
  }
}

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A cell, its memory devices and a catch node, ready to add flow nodes to. */
export function baseFlow(extra: object[], devices: { id: string; name: string; safeGroup?: number; ownership?: string }[] = [{ id: 'd1', name: 'dev1' }]): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell A', safeTimeout: '1', stopTimeout: '1' },
    ...devices.map((d) => ({ id: d.id, type: 'workcell-memory-device', name: d.name, cell: 'cell', safeGroup: String(d.safeGroup ?? 0), ownership: d.ownership ?? 'wait' })),
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    ...extra,
  ]);
}

/**
 * Node-RED 4.1 tells flow nodes from config nodes by their editor position: a node with `z`
 * but no `x`/`y` is taken for a tab-scoped config node. Give every flow node a position.
 */
export function placed(flow: object[]): object[] {
  return flow.map((n) => ('z' in n && !('x' in n) ? { x: 100, y: 100, ...n } : n));
}

/**
 * The messages Node-RED logged at error level since the flows were loaded (Workcell logs
 * sentences), each as it was logged: a log handler may have encoded it in place since.
 */
export function loggedErrors(): string[] {
  return (helper.log().args as [LogEvent][])
    .map(([entry]) => asLogged(entry))
    .filter((entry) => entry.level === LOG_LEVEL.error)
    .map((entry) => logText(entry.msg));
}

/** The latest status each node showed, by node id, recorded from Node-RED's runtime events. */
export function recordStatuses(): { statuses: Map<string, { fill?: string; shape?: string; text?: string }>; stop: () => void } {
  const statuses = new Map<string, { fill?: string; shape?: string; text?: string }>();
  const events = (helper as unknown as { _events: EventEmitter })._events;
  const on = (e: { id: string; status: { fill?: string; shape?: string; text?: string } }) => statuses.set(e.id, e.status);
  events.on('node-status', on);
  return { statuses, stop: () => events.off('node-status', on) };
}
