import { NodeMessage, RedAPI, RedNode, SendFn } from './red';

/**
 * How Node-RED 4.1 stops flows (a deploy of any type, a shutdown, a stop from the admin API),
 * read from @node-red/runtime/lib/flows (index.js `stop`, Flow.js `stop` and `handlePreDeliver`):
 * - it emits `flows:stopping` ({type, diff}) on `RED.events`, then, in one synchronous pass,
 *   takes each affected node out of its flow and calls its close handlers: the flows' nodes
 *   first, then their config nodes, the global config nodes (a cell, its devices) last;
 * - a message is routed when it is sent (a node already taken out is no destination) and
 *   delivered on a later turn (setImmediate), by which time every node of the pass has begun
 *   to close, and a node whose close has finished has no input handler left.
 * A message sent from a close handler, or from anything the pass sets off, therefore reaches no
 * one: the outcome of a run ended there would be lost. So a node that must report the end of
 * its work ends it while the flows are still whole (`onFlowsStopping`), and what it sends
 * meanwhile goes straight into the input handlers of the nodes its outputs are wired to
 * (`sendOutputs`), the way Node-RED itself hands messages to Catch, Status and Complete nodes
 * (`receive`, at once). Only those first nodes receive it: what they send on is routed as usual.
 *
 * A deploy stops the flows with the diff it computed between the old and the new configuration
 * (flows/util.js `diffConfigs`, which always sets `globalConfigChanged`), then starts them
 * again; a shutdown or a stop from the admin API (`stopFlows()`) passes no diff, and the flows
 * do not start again (a reload from storage neither: its diff is not computed). So a stop whose
 * diff carries `globalConfigChanged` is a deploy (`stoppingForDeploy`).
 */

/** One node that wants to know, before its close, that Node-RED is about to stop it. */
interface Watcher {
  id: string;
  z: string | undefined;
  stop: (removed: boolean) => void;
}

/** What Node-RED's `flows:stopping` event carries (the parts read here). */
interface StoppingEvent {
  type?: string;
  diff?: {
    changed?: string[];
    removed?: string[];
    rewired?: string[];
    linked?: string[];
    added?: string[];
    flowChanged?: string[];
    globalConfigChanged?: boolean;
  };
}

const watchers = new Set<Watcher>();
/** The event emitters (one per runtime) this module listens to. */
const hooked = new WeakSet<object>();
/** True while messages must be delivered at once: the flows are about to stop. */
let stoppingNow = false;
/** The last stop Node-RED announced was a deploy's: the flows start again right after. */
let deployStop = false;

/**
 * Whether the stop Node-RED announced takes the node `id` on flow `z` down, and if so whether
 * it is removed: the same lists Node-RED's own stop reads. Errs towards "not stopped" (a node
 * in a subflow instance, for one): the node's close handler then does the work, later.
 */
function stopsNode(event: StoppingEvent, id: string, z: string | undefined): { removed: boolean } | null {
  const diff = event.diff ?? {};
  const removed = diff.removed?.includes(id) ?? false;
  const type = event.type ?? 'full';
  if (type === 'full' || diff.globalConfigChanged) return { removed };
  if (z !== undefined && (diff.flowChanged?.includes(z) || diff.added?.includes(z) || diff.removed?.includes(z))) return { removed };
  const lists = type === 'flows' ? [diff.changed, diff.removed, diff.linked, diff.rewired] : [diff.changed, diff.removed];
  return lists.some((l) => l?.includes(id)) ? { removed } : null;
}

/** Run `fn` with what Workcell's nodes send delivered at once (see the module comment). */
export function deliveringAtOnce<T>(fn: () => T): T {
  const was = stoppingNow;
  stoppingNow = true;
  try {
    return fn();
  } finally {
    stoppingNow = was;
  }
}

/**
 * Call `stop(removed)` when Node-RED announces a stop that takes `node` down, before any node
 * is closed; what Workcell's nodes send during `stop` is delivered at once. Returns the function
 * that stops watching (call it from the node's close handler).
 */
export function onFlowsStopping(RED: RedAPI, node: RedNode, stop: (removed: boolean) => void): () => void {
  hookStopping(RED);
  const watcher: Watcher = { id: node.id, z: node.z, stop };
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}

/**
 * Whether the flows Node-RED is stopping now (or stopped last) are stopped by a deploy, which
 * starts them again at once (see the module comment), rather than by a shutdown or a stop from
 * the admin API. Call `hookStopping(RED)` when the node is created, so the announcement is seen.
 */
export function stoppingForDeploy(): boolean {
  return deployStop;
}

/** Listen to Node-RED's `flows:stopping` (once per runtime). */
export function hookStopping(RED: RedAPI): void {
  const events = RED.events;
  if (events && !hooked.has(events)) {
    hooked.add(events);
    events.on('flows:stopping', (payload: unknown) => {
      const event = (payload ?? {}) as StoppingEvent;
      deployStop = event.diff !== undefined && 'globalConfigChanged' in event.diff;
      deliveringAtOnce(() => {
        for (const w of [...watchers]) {
          const stopped = stopsNode(event, w.id, w.z);
          if (!stopped) continue;
          watchers.delete(w);
          try {
            w.stop(stopped.removed);
          } catch (err) {
            RED.log.error(err);
          }
        }
      });
    });
  }
}

/**
 * Send `msgs` from `node` as `send` would, except while the flows are about to stop: then each
 * message goes straight into the input handler of every node its output is wired to (the first
 * one gets the message, the others a clone, as Node-RED's router does).
 */
export function sendOutputs(RED: RedAPI, node: RedNode, send: SendFn, msgs: NodeMessage | (NodeMessage | null)[]): void {
  if (!stoppingNow) {
    send(msgs);
    return;
  }
  const outputs = Array.isArray(msgs) ? msgs : [msgs];
  const wires = node.wires ?? [];
  for (let port = 0; port < outputs.length; port++) {
    const msg = outputs[port];
    if (!msg) continue;
    const targets = wires[port] ?? [];
    for (let i = 0; i < targets.length; i++) {
      const target = RED.nodes.getNode(targets[i]);
      target?.receive(i === 0 ? msg : RED.util.cloneMessage(msg));
    }
  }
}
