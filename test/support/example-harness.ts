import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helper } from './flow-harness';
import { LOG_LEVEL, type LogRecorder } from './node-red-log';
import { until as waitUntil } from './event-order';
import { ExampleFlow, loadExamples, nodeTypes, packageRoot } from '../../lib/demo';

/**
 * Loading the package's example flows into a test runtime (node-red-node-test-helper), shared by
 * the example tests: the node modules an example needs, found from package.json and its types.
 */
export const root = packageRoot(__dirname);
export const examples = loadExamples(join(root, 'examples'));

/**
 * Every node file the package declares, loaded from this tree (source under tsx, dist under
 * npm test), so an example can only use what the package really registers.
 */
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
function workcellNodeModules(): unknown[] {
  const out: unknown[] = [];
  for (const file of Object.values(pkg['node-red'].nodes)) {
    const name = file.replace(/^dist\/nodes\//, '').replace(/\.js$/, '');
    let mod;
    try {
      mod = require(`../../nodes/${name}`);
    } catch (err) {
      // A node file listed but not written yet: its types are simply not registered, and an
      // example that uses them fails below with the missing type named.
      if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(`nodes/${name}`)) continue;
      throw err;
    }
    out.push(mod.default ?? mod);
  }
  return out;
}

/** Node-RED core nodes an example may use, by type. */
export const CORE_NODES: Record<string, string> = {
  inject: 'common/20-inject.js',
  debug: 'common/21-debug.js',
  complete: 'common/24-complete.js',
  catch: 'common/25-catch.js',
  status: 'common/25-status.js',
  'link in': 'common/60-link.js',
  'link out': 'common/60-link.js',
  'link call': 'common/60-link.js',
  comment: 'common/90-comment.js',
  junction: 'common/05-junction.js',
  function: 'function/10-function.js',
  switch: 'function/10-switch.js',
  change: 'function/15-change.js',
  range: 'function/16-range.js',
  template: 'function/80-template.js',
  delay: 'function/89-delay.js',
  trigger: 'function/89-trigger.js',
  'mqtt in': 'network/10-mqtt.js',
  'mqtt out': 'network/10-mqtt.js',
  'mqtt-broker': 'network/10-mqtt.js',
};

function coreNodeModules(example: ExampleFlow): unknown[] {
  const files = new Set<string>();
  for (const t of nodeTypes(example)) {
    if (t.startsWith('workcell-')) continue;
    const file = CORE_NODES[t];
    assert.ok(file, `example "${example.label}" uses node type "${t}", which is neither Workcell's nor a core node this test knows`);
    files.add(file);
  }
  return [...files].map((f) => require(`@node-red/nodes/core/${f}`));
}

/** Loads one example into the runtime and checks that every one of its nodes exists there. */
export async function loadExample(example: ExampleFlow): Promise<void> {
  await helper.load([...workcellNodeModules(), ...coreNodeModules(example)], example.nodes as object[]);
  const missing = example.nodes.filter((n) => n.type !== 'tab' && !helper.getNode(n.id)).map((n) => `${n.id} (${n.type})`);
  assert.deepEqual(missing, [], `every node of "${example.label}" is created; missing types or failed constructors otherwise`);
}

export function example(prefix: string): ExampleFlow {
  const e = examples.find((x) => x.label.startsWith(prefix));
  assert.ok(e, `examples/${prefix}*.json exists`);
  return e;
}

export type Payload = Record<string, unknown>;

/** Resolves when `check()` holds (event-order.ts's `until`, described for the examples' waits). */
export function until(check: () => boolean, what = 'the condition the example waits for'): Promise<void> {
  return waitUntil(check, what);
}


/**
 * Stops the flows (their close handlers bring the devices safe), then checks the log of the
 * whole test: no node logged an error or a warning (an error a Catch node handled is not
 * logged), and the runtime logged no error. The runtime's own warnings are the test harness's
 * (node registration) and are not about the example.
 */
export async function checkExampleLog(log: LogRecorder): Promise<void> {
  await helper.unload();
  log.stop();
  assert.deepEqual(log.fromNodes(LOG_LEVEL.error), [], 'no node logged an error');
  assert.deepEqual(log.fromNodes(LOG_LEVEL.warn), [], 'no node logged a warning');
  assert.deepEqual(log.errors(), [], 'the runtime logged no error');
}
