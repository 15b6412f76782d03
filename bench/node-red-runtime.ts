/**
 * An in-process Node-RED runtime for the benchmarks, without the test helper's instrumentation:
 * node-red-node-test-helper loads the real flows engine (Flow, Node, message delivery by
 * `setImmediate` as in production) but wraps `Node.prototype.send/status/log/...` (and each
 * node's own `send`) in sinon spies that record every call and schedule a `nextTick` per call.
 * A benchmark must not carry that (it would also hold every message ever sent), so the real
 * methods are put back after loading.
 */
import helper from 'node-red-node-test-helper';

// Not the tests' flow harness: that installs a tap on Node-RED's log (test/support/node-red-log.ts)
// which copies every log event, and Node-RED logs per message; measured here, it doubled the
// per-message time of the change-node baseline and cut the reported ratio from 3.0x to 1.8-2.1x.
helper.init(require.resolve('node-red'));

export { helper };

/** Node-RED 4.1 takes a flow node without `x`/`y` for a config node: give every flow node a position. */
export function placed(flow: object[]): object[] {
  return flow.map((n) => ('z' in n && !('x' in n) ? { x: 100, y: 100, ...n } : n));
}

/** The Node methods node-red-node-test-helper 0.3.6 instruments (its PROXY_METHODS). */
const INSTRUMENTED = ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send'];

/** Load `flow` with the node modules `nodeModules` and take the test helper's spies off again. */
export async function loadUninstrumented(nodeModules: ((red: unknown) => void)[], flow: { id: string }[]): Promise<void> {
  const internals = helper as unknown as { _NodePrototype: Record<string, unknown>; _log: Record<string, unknown> };
  const proto = internals._NodePrototype;
  const originals = Object.fromEntries(INSTRUMENTED.map((m) => [m, proto[m]]));
  const originalLog = internals._log.log;
  await helper.load(nodeModules, flow);
  // Node-RED also copies `Node.prototype.send` onto each node with wires (Node._updateWires).
  const spiedSend = proto.send;
  for (const m of INSTRUMENTED) proto[m] = originals[m];
  for (const { id } of flow) {
    const n = helper.getNode(id) as Record<string, unknown> | null;
    if (n && n.send === spiedSend) n.send = originals.send;
  }
  internals._log.log = originalLog;
}
