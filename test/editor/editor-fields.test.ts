import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { InvalidConfiguration, readFields, type EditorField, type FieldTable } from '../../nodes/shared/editor-fields';
import { EDITOR_FIELDS } from '../../nodes/shared/node-fields';
import { packageRoot } from '../support/node-red-process';

/** A node type's editor definition as its `.html` file registers it: only what this test reads. */
interface EditorDefinition {
  defaults: Record<string, { value: unknown; required?: boolean; type?: string; validate?: (this: Record<string, unknown>, v: unknown, opt?: object) => unknown }>;
}

/**
 * Run the inline editor scripts of a `.html` file as the editor would, with just enough of the
 * editor's globals for them to register their node types (nothing here opens a dialog).
 */
function editorDefinitions(file: string): Record<string, EditorDefinition> {
  const html = readFileSync(file, 'utf8');
  const registered: Record<string, EditorDefinition> = {};
  const noElement = { length: 0, val: () => undefined };
  const context: Record<string, unknown> = {
    // An editor plugin's file (the workcell sidebar) registers no node type: its plugin is not run here.
    RED: { nodes: { registerType: (type: string, def: EditorDefinition) => (registered[type] = def) }, plugins: { registerPlugin: () => undefined }, utils: { validatePropertyExpression: () => true }, _: (key: string) => key },
    $: () => noElement,
  };
  context.window = context;
  // The package's shared editor scripts the file loads first (resources/), as the editor loads them.
  for (const [, name] of html.matchAll(/<script type="text\/javascript" src="resources\/@workcell\/node-red-workcell\/([\w.-]+)"><\/script>/g)) {
    runInNewContext(readFileSync(join(packageRoot(), 'resources', name), 'utf8'), context);
  }
  for (const [, script] of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) runInNewContext(script, context);
  return registered;
}

const nodesDir = join(packageRoot(), 'nodes');
const editors: Record<string, EditorDefinition> = Object.assign({}, ...readdirSync(nodesDir).filter((f) => f.endsWith('.html')).map((f) => editorDefinitions(join(nodesDir, f))));

/** Whether the editor marks a property valid, as Node-RED's editor decides (`required`, then `validate`). */
function editorAccepts(def: EditorDefinition, node: Record<string, unknown>, key: string): boolean {
  const spec = def.defaults[key];
  const value = node[key];
  if (spec.type) return true; // a config node reference: Node-RED checks that the node exists
  if (spec.required && value === '') return false;
  if (!spec.validate) return true;
  if (spec.required === false && value === '') return true;
  const verdict = spec.validate.call(node, value, {});
  return typeof verdict !== 'string' && !Array.isArray(verdict) && !!verdict;
}

/** A new node of a type as the editor makes it (every default), as plain data of this realm. */
function newNode(type: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify({ id: 'n1', type, ...Object.fromEntries(Object.entries(editors[type].defaults).map(([k, d]) => [k, d.value])) }));
}

function runtimeAccepts(table: FieldTable<Record<string, unknown>>, node: Record<string, unknown>): boolean {
  try {
    readFields(table, node as { id: string }, 'test node');
    return true;
  } catch (err) {
    if (err instanceof InvalidConfiguration) return false;
    throw err;
  }
}

/** What is typed into number fields: blanks, words, bounds and just past them, fractions. */
const NUMBER_PROBES = [
  '', ' ', 'abc', '1,5', '-1001', '-1000', '-1', '0', '0.0005', '0.001', '0.5', '1', '1.5', '4', '5', '8', '9', '10', '16', '17', '19', '20', '50',
  '3600', '3600.5', '3601', '60000', '60001', '86400', '86401', '115200', '115200.5', '2147483', '2147484', '4000000', '4000001', '86400000', '86400001',
];

/** Field values some fields depend on (the wait's mode, unit, operator and value type). */
const CONTEXTS: Record<string, Record<string, unknown>[]> = {
  'workcell-wait': [
    {},
    { units: 'ms' },
    { units: 'min' },
    { mode: 'until', operator: 'gte', valueType: 'num' },
    { mode: 'until', operator: 'eq', valueType: 'bool' },
    { mode: 'until', operator: 'eq', valueType: 'json' },
    { mode: 'until', operator: 'eq', valueType: 'str' },
    { mode: 'until', operator: 'true' },
  ],
};

/** Text typed into the text fields the runtime checks. */
const TEXT_PROBES: Record<string, unknown[]> = {
  measureQuery: ['', 'MEAS?', 'MEAS', ' READ? '],
  readQuery: ['', 'READ?', 'READ'],
  telemetryQueries: ['', 'v=MEAS?', 'MEAS?\n\ni=:MEAS:CURR? CH1', 'v=MEAS', '1v=MEAS?'],
  outputLimits: ['', ' ', 'CH1: 30 V, 0.5 A', 'ch2:5v\n\nCH1: .5 A , 12 V', 'CH1 30 V', 'CH1: 30 mV', 'CH1: -3 V', 'CH1: 3 V, 4 V', 'CH1: 3 V\nCH1: 1 A', 'CH0: 1 V', 'CH16: 1 V', 'CH17: 1 V', 'CH1:', 'CH1: 5'],
  property: ['', 'payload', 'door.closed'],
  value: ['', '3.5', 'abc', 'true', '{"a":1}', '{bad'],
};

/** Fields whose text is checked elsewhere: an address by the endpoint parser when the device is created. */
const CHECKED_ELSEWHERE = new Set(['address']);

describe('editor fields: the runtime reads every field the editor saves, as the editor validates it', () => {
  const types = Object.keys(editors).filter((t) => t.startsWith('workcell-'));

  it('every node type the .html files register has its fields in node-fields.ts, and no others', () => {
    assert.deepEqual(types.sort(), Object.keys(EDITOR_FIELDS).sort());
    for (const type of types) {
      assert.deepEqual(Object.keys(editors[type].defaults).sort(), Object.keys(EDITOR_FIELDS[type].fields).sort(), `${type}: the .html defaults and the runtime's fields`);
    }
  });

  it('every field has the .html default; a new node deploys as the editor makes it, and an absent field means that default', () => {
    for (const type of types) {
      const fields = EDITOR_FIELDS[type].fields as Record<string, EditorField<unknown>>;
      for (const [key, spec] of Object.entries(editors[type].defaults)) {
        assert.deepEqual(fields[key].editorDefault, newNode(type)[key], `${type}.${key}: default`);
      }
      const made = readFields(EDITOR_FIELDS[type], newNode(type) as { id: string }, type);
      const absent = readFields(EDITOR_FIELDS[type], { id: 'n1', type }, type);
      for (const [key, field] of Object.entries(fields)) {
        if (!field.absentDiffers) assert.deepEqual(absent[key], made[key], `${type}.${key}: absent reads as the editor's default`);
      }
    }
  });

  it('the runtime accepts exactly the values the editor accepts, field by field (numbers, choices, checked text)', () => {
    let compared = 0;
    for (const type of types) {
      const def = editors[type];
      const fields = EDITOR_FIELDS[type].fields as Record<string, EditorField<unknown>>;
      for (const context of CONTEXTS[type] ?? [{}]) {
        for (const [key, field] of Object.entries(fields)) {
          if (CHECKED_ELSEWHERE.has(key) || def.defaults[key].type || field.kind === 'node-red') continue;
          const probes =
            field.kind === 'number'
              ? NUMBER_PROBES
              : field.kind === 'choice'
                ? [...(((def.defaults[key].validate ? ['', 'bogus', 'estop', 'cancel-previous', 'report-only', 'until', 'min', 'json', 'gte', 'output', 'estop-cell', 'fail-fast', 'crlf', 'generic', 'mark', 'clear', 1.5, '2', '9'] : []) as unknown[])), def.defaults[key].value]
                : def.defaults[key].validate
                  ? (TEXT_PROBES[key] ?? [])
                  : []; // the dialog offers only valid text (an operation from the kind's list)
          for (const probe of probes) {
            const node = { ...newNode(type), ...context, [key]: probe };
            const editor = Object.keys(def.defaults).every((k) => CHECKED_ELSEWHERE.has(k) || editorAccepts(def, node, k));
            assert.equal(runtimeAccepts(EDITOR_FIELDS[type], node), editor, `${type}.${key} = ${JSON.stringify(probe)} with ${JSON.stringify(context)}: the editor ${editor ? 'accepts' : 'refuses'} it`);
            compared++;
          }
        }
      }
    }
    assert.ok(compared > 500, `compared ${compared} values`);
  });

  it('every Workcell node of the shipped examples reads without an error (saved flows keep loading)', () => {
    const dir = join(packageRoot(), 'examples');
    let read = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      for (const node of JSON.parse(readFileSync(join(dir, file), 'utf8')) as { id: string; type: string }[]) {
        if (!EDITOR_FIELDS[node.type]) continue;
        assert.doesNotThrow(() => readFields(EDITOR_FIELDS[node.type], node, `${file}: ${node.type} ${node.id}`));
        read++;
      }
    }
    assert.ok(read > 20, `read ${read} example nodes`);
  });
});
