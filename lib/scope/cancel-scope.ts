import { setMaxListeners } from 'node:events';
import { Cancellation, Cancelled, Timeout } from './reasons';

/** What a scope does when its own deadline passes. */
export type DeadlineMode = 'fail' | 'move-on';

export interface ScopeOptions {
  /** Shown in reasons and errors ("run 7f3a", "gantry move"). */
  name?: string;
  /** The enclosing scope: cancelling it cancels this one, with the same reason. */
  parent?: CancelScope;
  /**
   * A deadline relative to now, in ms. When it passes the scope is cancelled with `Timeout`.
   * A deadline of zero or less is already past: the scope is born cancelled.
   */
  timeoutMs?: number;
  /**
   * `fail` (fail-after, the default): `run()` rejects with the `Timeout`.
   * `move-on` (move-on-after): `run()` resolves to `undefined` and `movedOn` is true.
   */
  onDeadline?: DeadlineMode;
}

/**
 * A cancel scope: owns one `AbortSignal` that fires at most once, with a typed reason
 * (`EStop`, `Cancelled`, `Timeout` or `Failed`).
 *
 * - Nesting: cancelling a scope cancels every child with the same reason; cancelling a child
 *   never cancels its parent. A child created under an already cancelled parent is born
 *   cancelled with the parent's reason.
 * - The first reason wins: later `cancel()` calls change nothing and return false.
 * - Deadlines: see `ScopeOptions.timeoutMs` and `onDeadline`. A parent's cancellation is never
 *   swallowed by a child's move-on deadline: only the scope's own deadline moves on.
 * - `close()` ends the scope's life without cancelling it: its timer stops and its parent
 *   forgets it, so long-lived parents (a cell) do not accumulate finished children.
 */
export class CancelScope {
  readonly name: string;
  readonly parent: CancelScope | undefined;
  readonly onDeadline: DeadlineMode;
  /** Created when the signal is first read (many scopes never hand it out). */
  private controller: AbortController | undefined;
  private readonly children = new Set<CancelScope>();
  /**
   * Cheap abort listeners (`addAbortListener`), in the order added. An array: a listener is
   * usually removed right after it was added (the operation settled), which is a pop; one
   * removed out of order leaves a hole until the array is compacted. (A Set reallocated its
   * table on nearly every add/delete pair.)
   */
  private listeners: ((() => void) | undefined)[] | undefined;
  private holes = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private ownDeadlineHit = false;
  private signalHandedOut = false;
  /**
   * The reason, kept here as well as on the signal: `cancelled` and `reason` are read several
   * times per step, and a field is far cheaper than AbortSignal's `aborted`/`reason` getters.
   */
  private firedReason: Cancellation | undefined;
  private fired = false;

  constructor(options: ScopeOptions = {}) {
    this.name = options.name ?? 'scope';
    this.parent = options.parent;
    this.onDeadline = options.onDeadline ?? 'fail';
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && !Number.isFinite(timeoutMs)) {
      // Refuse before joining the parent: a refused child must not linger in its children.
      throw new RangeError(`${this.name}: deadline must be a finite number of ms, got ${timeoutMs}`);
    }
    const parent = options.parent;
    if (parent) {
      if (parent.cancelled) {
        this.cancel(parent.reason);
        return;
      }
      parent.children.add(this);
    }
    if (timeoutMs !== undefined) {
      if (timeoutMs <= 0) this.expire(timeoutMs);
      else this.timer = setTimeout(() => this.expire(timeoutMs), timeoutMs);
    }
  }

  /** The signal every awaited operation in this scope takes. */
  get signal(): AbortSignal {
    if (!this.signalHandedOut) {
      // The AbortController is made when first needed (Node's AbortSignal costs more than the
      // rest of the scope); a scope that has already fired hands out a signal that has too.
      const controller = new AbortController();
      this.controller = controller;
      (controller.signal as ScopeSignal)[SCOPE] = this;
      if (this.fired) controller.abort(this.firedReason);
      // Every operation awaiting in the scope may listen on its signal: many is normal, not a
      // leak. Lifted when the signal is first handed out: it costs more than the scope itself.
      this.signalHandedOut = true;
      setMaxListeners(0, controller.signal);
    }
    return this.controller!.signal;
  }

  get cancelled(): boolean {
    return this.fired;
  }

  /** The reason the scope fired with, or undefined while it has not. */
  get reason(): Cancellation | undefined {
    return this.firedReason;
  }

  /** True when the scope fired because its own deadline passed and it is a move-on scope. */
  get movedOn(): boolean {
    return this.ownDeadlineHit && this.onDeadline === 'move-on';
  }

  /** True when this scope's own deadline (not a parent's) cancelled it. */
  get deadlineHit(): boolean {
    return this.ownDeadlineHit;
  }

  /**
   * Cancel this scope and, with the same reason, every child. The first reason wins; returns
   * false when the scope had already fired. Listeners on the signal run synchronously here.
   */
  cancel(reason: Cancellation = new Cancelled(this.name)): boolean {
    if (this.fired) return false;
    this.fired = true;
    this.firedReason = reason;
    this.clearTimer();
    this.controller?.abort(reason);
    this.notifyListeners();
    for (const child of [...this.children]) child.cancel(reason);
    this.children.clear();
    this.detach();
    return true;
  }

  /** A nested scope. See `ScopeOptions`. */
  child(options: Omit<ScopeOptions, 'parent'> = {}): CancelScope {
    return new CancelScope({ ...options, parent: this });
  }

  /** Throws the scope's reason if it has fired: a checkpoint. */
  throwIfCancelled(): void {
    if (this.cancelled) throw this.reason;
  }

  /**
   * Run `fn` inside the scope and close the scope afterwards. Rejects with the scope's reason
   * as soon as the scope fires, even if `fn` has not settled yet (it still gets the signal and
   * should wind down). For a move-on scope whose own deadline passed, resolves to `undefined`.
   */
  async run<T>(fn: (scope: CancelScope) => Promise<T>): Promise<T | undefined> {
    try {
      this.throwIfCancelled();
      return await abortable(this.signal, fn(this));
    } catch (err) {
      if (this.movedOn && err === this.reason) return undefined;
      throw err;
    } finally {
      this.close();
    }
  }

  /** End the scope's life without cancelling it (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.detach();
  }

  /** Listen cheaply for this scope's cancellation (see `addAbortListener`). */
  addListener(listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  /** Forget a listener added with `addListener`. */
  removeListener(listener: () => void): void {
    const listeners = this.listeners;
    if (!listeners) return;
    const i = listeners.lastIndexOf(listener);
    if (i < 0) return;
    if (i < listeners.length - 1) {
      listeners[i] = undefined;
      if (++this.holes > 16 && this.holes * 2 > listeners.length) {
        this.listeners = listeners.filter((l) => l !== undefined);
        this.holes = 0;
      }
      return;
    }
    listeners.pop();
    // Holes left at the end go with it.
    while (listeners.length > 0 && listeners[listeners.length - 1] === undefined) {
      listeners.pop();
      this.holes--;
    }
  }

  private notifyListeners(): void {
    const listeners = this.listeners;
    if (!listeners) return;
    // Like EventTarget: each listener runs; one that throws is reported as uncaught and does not
    // keep the others from running. One removed while others run is not called; one added
    // meanwhile is not either (the signal has fired: callers check `aborted` first).
    const count = listeners.length;
    for (let i = 0; i < count && i < listeners.length; i++) {
      const listener = listeners[i];
      if (listener === undefined) continue;
      listeners[i] = undefined;
      try {
        listener();
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
    this.listeners = undefined;
    this.holes = 0;
  }

  private expire(timeoutMs: number): void {
    if (this.cancelled) return;
    this.ownDeadlineHit = true;
    this.cancel(new Timeout(this.name, Math.max(0, timeoutMs)));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private detach(): void {
    this.parent?.children.delete(this);
  }
}

/**
 * On a scope's signal: the scope, whose cancellation listeners (an array, see `listeners`) are
 * far cheaper than EventTarget's. A property, not a WeakMap: scopes are short-lived (one per run).
 */
const SCOPE = Symbol('workcell.scope');
type ScopeSignal = AbortSignal & { [SCOPE]?: CancelScope };

/**
 * Call `listener` (synchronously, once) when `signal` fires; read `signal.reason` inside it.
 * Nothing happens for a signal that has already fired: check `signal.aborted` first. For a
 * `CancelScope`'s signal the listener is kept by the scope and runs within `cancel()`, after the
 * listeners added with `addEventListener` and before the scope's children are cancelled; for any
 * other signal it is an `'abort'` event listener. A listener that throws is reported as an
 * uncaught exception, as EventTarget does. Remove it with `removeAbortListener` once not needed.
 */
export function addAbortListener(signal: AbortSignal, listener: () => void): void {
  const scope = (signal as ScopeSignal)[SCOPE];
  if (scope) scope.addListener(listener);
  else signal.addEventListener('abort', listener, { once: true });
}

/** Remove a listener added with `addAbortListener` (no effect if it has run or was never added). */
export function removeAbortListener(signal: AbortSignal, listener: () => void): void {
  const scope = (signal as ScopeSignal)[SCOPE];
  if (scope) scope.removeListener(listener);
  else signal.removeEventListener('abort', listener);
}

/** On a promise: the signal it is known to race (`markRacing`). A property, not a WeakMap: cheaper for short-lived promises. */
const RACING = Symbol('workcell.racing');

/**
 * Declare that `promise` already races `signal`: while it is pending, it rejects with
 * `signal.reason` synchronously when `signal` fires (and calls whatever its producer must call
 * on abort). `abortable(signal, promise)` without an `onAbort` then returns `promise` itself
 * instead of racing it a second time. Returns `promise`.
 */
export function markRacing<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  (promise as Promise<T> & { [RACING]?: AbortSignal })[RACING] = signal;
  return promise;
}

/**
 * Settle with `promise`, unless `signal` fires first: then reject with `signal.reason` at once
 * (the rejection is delivered within the same event-loop turn as the abort) and call `onAbort`
 * so the caller can tell the device to stop what it is doing. An already-aborted signal
 * rejects immediately. The listener is removed when either side settles.
 */
export function abortable<T>(signal: AbortSignal, promise: Promise<T>, onAbort?: (reason: unknown) => void): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    onAbort?.(signal.reason);
    return Promise.reject(signal.reason);
  }
  // Already raced on this very signal (and nothing to call on abort): the same promise settles
  // the same way, as promptly.
  if (onAbort === undefined && (promise as (Promise<T> & { [RACING]?: AbortSignal }) | undefined)?.[RACING] === signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const listener = () => {
      promise.catch(() => undefined);
      try {
        onAbort?.(signal.reason);
      } finally {
        reject(signal.reason);
      }
    };
    addAbortListener(signal, listener);
    promise.then(
      (value) => {
        removeAbortListener(signal, listener);
        resolve(value);
      },
      (err) => {
        removeAbortListener(signal, listener);
        reject(err);
      },
    );
  });
}

/**
 * Run cleanup shielded: `fn` gets a fresh root scope that no outer cancellation reaches (not
 * an emergency stop, not the scope it cleans up after), bounded only by its own fail-after
 * deadline of `timeoutMs`. Rejects with `Timeout` when the deadline passes, promptly, even if
 * `fn` ignores its signal. A shield without a finite positive bound is refused: unbounded
 * cleanup could hang a shutdown.
 */
export function shielded<T>(name: string, timeoutMs: number, fn: (scope: CancelScope) => Promise<T>): Promise<T> {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    return Promise.reject(new RangeError(`${name}: a shielded cleanup needs a finite positive timeout, got ${timeoutMs}`));
  }
  const scope = new CancelScope({ name, timeoutMs, onDeadline: 'fail' });
  return scope.run(fn) as Promise<T>;
}

/** A delay that ends early, rejecting with the signal's reason, when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
