import { Timeout, WorkcellError, abortable, showValue, sleep } from '../lib';
import { checkpointedInput, shortText } from './shared/checkpoint-input';
import { NodeDef, NodeMessage, RedAPI, RedNode } from './shared/red';

type Operator = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'true' | 'false';
const OPERATORS: Record<Operator, string> = { eq: '==', neq: '!=', lt: '<', lte: '<=', gt: '>', gte: '>=', true: 'is true', false: 'is false' };
const MAX_DELAY_MS = 24 * 3600 * 1000;

interface WaitDef extends NodeDef {
  cell: string;
  mode?: 'delay' | 'until';
  delay?: string | number;
  units?: 'ms' | 's' | 'min';
  source?: 'msg' | 'flow' | 'global';
  property?: string;
  operator?: Operator;
  value?: string;
  valueType?: 'num' | 'str' | 'bool' | 'json';
  topic?: string;
  timeout?: string | number;
  onTimeout?: 'fail' | 'output';
  poll?: string | number;
}

/** The configured comparison value, typed. */
function typedValue(def: WaitDef): unknown {
  const raw = def.value ?? '';
  switch (def.valueType) {
    case 'num':
      return Number(raw);
    case 'bool':
      return raw === 'true';
    case 'json':
      return JSON.parse(raw);
    default:
      return raw;
  }
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
    const mode = def.mode === 'until' ? 'until' : 'delay';
    const unit = def.units === 's' ? 1000 : def.units === 'min' ? 60_000 : 1;
    const configuredDelay = Number(def.delay ?? 1000) * unit;
    const source = def.source === 'flow' || def.source === 'global' ? def.source : 'msg';
    const property = def.property || 'payload';
    const op: Operator = (def.operator && def.operator in OPERATORS ? def.operator : 'true') as Operator;
    const expected = mode === 'until' ? typedValue(def) : undefined;
    const topic = def.topic || 'condition';
    const timeoutS = Number(def.timeout);
    const timeoutMs = Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS * 1000 : undefined;
    const toOutput = def.onTimeout === 'output';
    const pollMs = Math.max(10, Number(def.poll) || 100);
    // The node names itself (in errors, and as the step of a run's outcome) by its name, or
    // by what it waits for: "wait 10 s", "wait until temperature > 100".
    const label =
      def.name ||
      (mode === 'delay'
        ? `wait ${Number(def.delay ?? 1000)} ${def.units === 's' || def.units === 'min' ? def.units : 'ms'}`
        : `wait until ${property} ${OPERATORS[op]}${op === 'true' || op === 'false' ? '' : ` ${def.value}`}`);
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
      // Hold applies to what comes next: check it again before the message moves on.
      await ctx.cell.checkpoint(ctx.ref?.run, label).then((scope) => {
        if (!ctx.run) scope.close();
      });
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
