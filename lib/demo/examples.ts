import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One node of an exported Node-RED flow, as far as the demo needs to know it. */
export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  wires?: string[][];
  [key: string]: unknown;
}

/** An importable example: `examples/<label>.json`, shown as `<label>` under Import › Examples. */
export interface ExampleFlow {
  readonly label: string;
  readonly file: string;
  readonly nodes: readonly FlowNode[];
}

/**
 * The example flows in `dir` (the package's `examples/`), sorted by file name, so the numbered
 * labels give the order Node-RED's Import › Examples shows. Each file must be a JSON array of
 * nodes, each with a string `id` and `type`, and the ids must be unique across all examples,
 * because the demo deploys them side by side in one flow file.
 * @throws Error naming the file and the problem when one is malformed.
 */
export function loadExamples(dir: string): ExampleFlow[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const seen = new Map<string, string>();
  return files.map((file) => {
    const path = join(dir, file);
    let nodes: unknown;
    try {
      nodes = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`example ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(nodes)) throw new Error(`example ${file} must be a JSON array of nodes, as Node-RED exports a flow`);
    for (const [i, n] of nodes.entries()) {
      if (typeof n !== 'object' || n === null || typeof n.id !== 'string' || typeof n.type !== 'string') {
        throw new Error(`example ${file}: entry ${i} is not a node with a string id and type`);
      }
      const other = seen.get(n.id);
      if (other) throw new Error(`example ${file}: node id ${n.id} is also used in ${other}; ids must be unique across examples`);
      seen.set(n.id, file);
    }
    return { label: file.slice(0, -'.json'.length), file: path, nodes: nodes as FlowNode[] };
  });
}

/** The node types an example uses (tabs and groups excluded: the editor provides them). */
export function nodeTypes(example: ExampleFlow): Set<string> {
  return new Set(example.nodes.map((n) => n.type).filter((t) => t !== 'tab' && t !== 'group' && !t.startsWith('subflow')));
}

/** Every example side by side: the flow file the demo cell starts with. */
export function combinedFlows(examples: readonly ExampleFlow[]): FlowNode[] {
  return examples.flatMap((e) => e.nodes.map((n) => ({ ...n })));
}
