import { choice, configNode, fieldTable, flag, number, text, type BetweenFields, type EditorField, type FieldValues } from './editor-fields';

// Apart from node-fields.ts so that a kind's own field file (furnace-fields.ts) can build on
// them while node-fields.ts gathers every table (no import cycle).

/** The fields every device config node has, whatever its kind. */
export const DEVICE_FIELDS = {
  name: text('name'),
  serial: configNode('connection'),
  cell: configNode('cell'),
  safeGroup: number('safe group', { min: -1000, max: 1000, default: 0 }),
  ownership: choice('ownership', ['wait', 'fail-fast'], 'wait'),
  critical: flag('critical', false),
};

/** What every device config node is configured with. */
export type DeviceSettings = FieldValues<typeof DEVICE_FIELDS>;

/** A device kind's config node fields: the common ones and its own. */
export function deviceFields<F extends Record<string, EditorField<unknown>>>(own: F, check?: (values: FieldValues<typeof DEVICE_FIELDS & F>) => BetweenFields[]) {
  return fieldTable({ ...DEVICE_FIELDS, ...own }, check);
}

