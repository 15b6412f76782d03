import type { CellLink } from '../../lib/mqtt';

/** The MQTT links of the live cells, by cell config node id (a cell without one has none). */
const links = new Map<string, CellLink>();

/** Record (or, with undefined, forget) the MQTT link of the cell with this id. */
export function setCellLink(cellId: string, link: CellLink | undefined): void {
  if (link) links.set(cellId, link);
  else links.delete(cellId);
}

/** The MQTT link of the cell with this id, if it has one. */
export function cellLinkOf(cellId: string): CellLink | undefined {
  return links.get(cellId);
}
