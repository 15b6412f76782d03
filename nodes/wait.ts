import { Timeout, WorkcellError, abortable, showValue, sleep } from '../lib';
import { showCellFailure } from './shared/cell-registry';
import { checkpointedInput, shortText } from './shared/checkpoint-input';
import { configure, nodeLabel } from './shared/editor-fields';
import { WAIT_FIELDS } from './shared/node-fields';
import { NodeDef, NodeMessage, RedAPI, RedNode } from './shared/red';

type Operator = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'true' | 'false';
const OPERATORS: Record<Operator, string> = { eq: '==', neq: '!=', lt: '<', lte: '<=', gt: '>', gte: '>=', true: 'is true', false: 'is false' };
const MAX_DELAY_MS = 24 * 3600 * 1000;

interface WaitDef extends NodeDef {
  cell: string;
}

function holds(op: Operator, actual: unknown, expected: unknown): boolean {
  switch (op) {
    case 'true':
      return actual === true || actual === 'true' || actual === 1;
    case 'false':
      return actual === false || actual === 'false' || actual === 0;
    case 'eq':
      return typeof expected === 'object' ? JSON.stringify(actual) === JSON.stringify(expected) : actual == expected; // eslint-disable-line eqeqeq
    case 'neq':
      return !holds('eq', actual, expected);
    default: {
      const a = Number(actual);
      const b = Number(expected);
      if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
      return op === 'lt' ? a < b : op === 'lte' ? a <= b : op === 'gt' ? a > b : a >= b;
    }
  }
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-wait`: a cancellable delay, or a wait until a condition holds (on a property of
   * condition messages — those whose `msg.topic` is the configured topic — or on flow/global
   * context, polled), with a timeout that fails the step (the run ends `timed-out`) or sends the
   * message to a second output. Both obey the run's scope, hold (checked again before sending)
   * and the emergency stop.
   */
  function WaitNode(this: RedNode, def: WaitDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = configure(node, WAIT_FIELDS, def, nodeLabel('wait', def));
    if (!configured.ok) {
      const name = (typeof def.name === 'string' && def.name) || 'wait';
      checkpointedInput(node, { cellId: def.cell, label: () => name }, () => Promise.reject(configured.error));
      return;
    }
    const config = configured.config;
    const { mode, source, property, topic, poll: pollMs } = config;
    const configuredDelay = config.delay;
    const op: Operator = config.operator;
    const expected = config.value;
    const timeoutMs = config.timeout;
    const toOutput = config.onTimeout === 'output';
    // The node names itself (in errors, and as the step of a run's outcome) by its name, or
    // by what it waits for: "wait 10 s", "wait until temperature > 100".
    const label =
      config.name ||
      (mode === 'delay'
        ? `wait ${Number(def.delay ?? 1)} ${config.units}`
        : `wait until ${property} ${OPERATORS[op]}${op === 'true' || op === 'false' ? '' : ` ${def.value}`}`);
    showCellFailure(node, def.cell);
    let lastValue: unknown = undefined;
    const waiters = new Set<() => void>();
    let waiting = 0;

    const current = (): unknown => {
      if (source === 'msg') return lastValue;
      const ctx = node.context()[source];
      return ctx.get(property);
    };
    const showWaiting = () => node.status(waiting ? { fill: 'blue', shape: 'ring', text: `${waiting} waiting` } : {});

    /** Resolves when the condition holds; `signal` ends it with the run's reason or the deadline. */
    const until = (signal: AbortSignal): Promise<void> => {
      if (holds(op, current(), expected)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          if (!holds(op, current(), expected)) return;
          cleanup();
          resolve();
        };
        const cleanup = () => {
          waiters.delete(check);
          if (timer) clearInterval(timer);
          signal.removeEventListener('abort', onAbort);
        };
        const onAbort = () => {
          cleanup();
          reject(signal.reason);
        };
        waiters.add(check);
        if (source !== 'msg') timer = setInterval(check, pollMs);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    };

    const held = (isHeld: boolean) => node.status(isHeld ? { fill: 'yellow', shape: 'ring', text: 'held' } : {});

    const conditionMessage = (msg: NodeMessage) => mode === 'until' && source === 'msg' && msg.topic === topic && msg.workcell === undefined;

    // Condition messages are not steps: they update the watched value even while the cell is held.
    const takeCondition = (msg: NodeMessage): boolean => {
      if (!conditionMessage(msg)) return false;
      try {
        lastValue = RED.util.getMessageProperty(msg, property);
      } catch {
        lastValue = undefined;
      }
      for (const check of [...waiters]) check();
      return true;
    };

    checkpointedInput(node, { cellId: def.cell, label: () => label, onHeld: held, before: takeCondition }, async (msg, send, ctx) => {
      let ms = configuredDelay;
      if (mode === 'delay' && msg.delay !== undefined) {
        if (typeof msg.delay !== 'number' || !Number.isFinite(msg.delay) || msg.delay < 0 || msg.delay > MAX_DELAY_MS) {
          throw new WorkcellError('invalid-parameter', `${label}: msg.delay must be a number of milliseconds between 0 and ${MAX_DELAY_MS}, got ${showValue(msg.delay)}`, {
            operation: 'wait',
            value: msg.delay,
          });
        }
        ms = msg.delay;
      }
      waiting++;
      showWaiting();
      let timedOut = false;
      try {
        await ctx.step(label, async (signal) => {
          if (mode === 'delay') return sleep(ms, signal);
          if (timeoutMs === undefined) return until(signal);
          const deadline = new AbortController();
          const timer = setTimeout(() => deadline.abort(new Timeout(label, timeoutMs)), timeoutMs);
          try {
            await abortable(signal, until(AbortSignal.any([signal, deadline.signal])));
          } catch (err) {
            if (!signal.aborted && err instanceof Timeout && toOutput) {
              timedOut = true;
              return;
            }
            throw err;
          } finally {
            clearTimeout(timer);
          }
        });
      } finally {
        waiting--;
        showWaiting();
      }
      // Hold applies to what comes next: check it again before the message moves on; while
      // the message waits here, the node says so.
      const waitsHeld = ctx.cell.state === 'held';
      if (waitsHeld) held(true);
      try {
        await ctx.cell.checkpoint(ctx.ref?.run, label).then((scope) => {
          if (!ctx.run) scope.close();
        });
      } finally {
        if (waitsHeld) held(false);
      }
      if (timedOut) {
        node.status({ fill: 'yellow', shape: 'dot', text: shortText('timed out: moved on') });
        send([null, msg]);
      } else {
        send(toOutput ? [msg, null] : msg);
      }
    });
  }
  RED.nodes.registerType('workcell-wait', WaitNode as unknown as (this: RedNode, def: NodeDef) => void);
};
