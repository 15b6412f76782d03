import { AbortContext, Run, describeError, showValue } from '../lib';
import { getCell, liveCells, registryEvents } from './shared/cell-registry';
import { CellAction, editorSource, performCellAction } from './shared/cell-control';
import { CellReadings, cellView } from './shared/cell-view';
import { HttpRequest, NodeMessage, RedAPI } from './shared/red';

/** The comms topic of one cell's view; the editor subscribes to `workcell/cells/+`. */
const CELL_TOPIC = 'workcell/cells/';

/**
 * A cell's view goes to the editors at most this often: a trip or a moving gantry causes
 * bursts of events (every device's health, telemetry at each status poll), and an operator
 * needs the latest state, not each step of the burst. The first change after a quiet spell goes
 * out on the next turn of the event loop (a synchronous burst is one publish).
 */
const PUBLISH_INTERVAL_MS = 100;

/**
 * Publish on Node-RED's comms channel. A cell's view is retained, so an editor that connects or
 * reconnects (after a restart of Node-RED, a network drop) gets every cell's latest view at once.
 */
type Publish = (topic: string, data: unknown, retain: boolean) => void;

/** What the cell emits that changes its view. */
const VIEW_EVENTS = ['state', 'device-health', 'run-start', 'run-end', 'stop-debt', 'trip-source', 'latch', 'stop-report', 'device-telemetry'] as const;

/** The actions the sidebar offers (a heartbeat from an editor would defeat a dead-man watchdog). */
const SIDEBAR_ACTIONS: readonly CellAction[] = ['estop', 'halt', 'reset', 'hold', 'resume', 'clear', 'cancel'];

/** Publishes one cell's view to the editors on every change, coalesced. */
class WatchedCell {
  private readonly readings: CellReadings;
  private pending: (() => void) | undefined;
  private lastPublishedAt = -Infinity;
  private lastPublished = '';
  private readonly changed = (): void => this.schedule();
  /** A run's `'step'` events change the view too (the node each run is in); a run that ended emits no more. */
  private readonly watchRun = (run: Run): void => {
    run.on('step', this.changed);
  };

  constructor(
    readonly id: string,
    readonly cell: AbortContext,
    private readonly publish: Publish,
  ) {
    this.readings = new CellReadings(cell);
    for (const event of VIEW_EVENTS) cell.on(event, this.changed);
    cell.on('run-start', this.watchRun);
    for (const run of cell.activeRuns) this.watchRun(run);
    this.schedule();
  }

  view() {
    return cellView(this.id, this.cell, this.readings);
  }

  private schedule(): void {
    if (this.pending) return;
    const wait = this.lastPublishedAt + PUBLISH_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      const immediate = setImmediate(() => this.flush());
      this.pending = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(() => this.flush(), wait);
      this.pending = () => clearTimeout(timer);
    }
  }

  private flush(): void {
    this.pending = undefined;
    const view = this.view();
    const text = JSON.stringify(view);
    if (text !== this.lastPublished) {
      this.lastPublished = text;
      this.lastPublishedAt = performance.now();
      this.publish(CELL_TOPIC + this.id, view, true);
    }
  }

  close(): void {
    for (const event of VIEW_EVENTS) this.cell.off(event, this.changed);
    this.cell.off('run-start', this.watchRun);
    for (const run of this.cell.activeRuns) run.off('step', this.changed);
    this.pending?.();
    this.pending = undefined;
    this.readings.close();
  }
}

/** Every live cell of the process, watched from its registration to its removal. */
class CellFeed {
  private readonly watched = new Map<string, WatchedCell>();
  private readonly onRegistered = (id: string, cell: AbortContext): void => {
    this.watched.get(id)?.close();
    this.watched.set(id, new WatchedCell(id, cell, this.publish));
  };
  private readonly onUnregistered = (id: string, cell: AbortContext): void => {
    const w = this.watched.get(id);
    if (!w || w.cell !== cell) return;
    w.close();
    this.watched.delete(id);
    // Not retained: this also drops the cell's retained view.
    this.publish(CELL_TOPIC + id, { id, removed: true }, false);
  };

  constructor(private readonly publish: Publish) {
    for (const [id, cell] of liveCells()) this.onRegistered(id, cell);
    registryEvents.on('registered', this.onRegistered);
    registryEvents.on('unregistered', this.onUnregistered);
  }

  views() {
    return [...this.watched.values()].map((w) => w.view());
  }

  close(): void {
    registryEvents.off('registered', this.onRegistered);
    registryEvents.off('unregistered', this.onUnregistered);
    for (const w of this.watched.values()) w.close();
    this.watched.clear();
  }
}

/** The one feed of this process (a second load of the plugin replaces it). */
let feed: CellFeed | undefined;

/** A string field of the request's JSON body, or undefined. */
function bodyField(req: HttpRequest, name: string): unknown {
  return typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>)[name] : undefined;
}

/**
 * The editor plugin behind the Workcell sidebar (nodes/sidebar.html): every cell's view over
 * Node-RED's comms channel, and the admin endpoints the sidebar reads and acts through.
 * `GET /workcell/cells` (permission `workcell.read`) answers `{cells: [view, …]}`;
 * `POST /workcell/cells/:id/:action` (permission `workcell.write`), with `estop`, `halt`,
 * `reset`, `hold`, `resume`, `clear` (JSON body `{device}`) or `cancel` (`{run}`), answers what
 * an estop node puts on msg.payload for that action; the source is the editor and its user.
 * Errors are JSON `{error: sentence}`: 404 no such cell, 400 an action the sidebar does not
 * offer or a cancel without a run id, 409 the cell refused (the cell's own sentence).
 */
export = function (RED: RedAPI): void {
  feed?.close();
  const publish: Publish = (topic, data, retain) => RED.comms?.publish(topic, data, retain);
  const current = new CellFeed(publish);
  feed = current;
  RED.plugins?.registerPlugin('workcell-sidebar', {});

  RED.httpAdmin.get('/workcell/cells', RED.auth.needsPermission('workcell.read'), (_req, res) => {
    res.json({ cells: current.views() });
  });

  RED.httpAdmin.post('/workcell/cells/:id/:action', RED.auth.needsPermission('workcell.write'), (req, res) => {
    const { id, action } = req.params;
    const cell = getCell(id);
    if (!cell) {
      res.status(404).json({ error: `no deployed cell ${JSON.stringify(id)} (deploy its flows, or the cell did not start)` });
      return;
    }
    if (!(SIDEBAR_ACTIONS as readonly string[]).includes(action)) {
      res.status(400).json({ error: `unknown action ${JSON.stringify(action)} on cell "${cell.name}"; expected one of ${SIDEBAR_ACTIONS.join(', ')}` });
      return;
    }
    const msg: NodeMessage = {};
    if (action === 'clear') msg.device = bodyField(req, 'device');
    if (action === 'cancel') {
      const run = bodyField(req, 'run');
      if (typeof run !== 'string' || !run) {
        res.status(400).json({ error: `cancel on cell "${cell.name}" needs the id of the run to cancel as "run" in the JSON body, got ${showValue(run)}` });
        return;
      }
      msg.run = run;
    }
    const source = editorSource(req);
    performCellAction(cell, id, action as CellAction, msg, source).then(
      (payload) => res.json(payload),
      (err: unknown) => {
        RED.log.warn(`cell "${cell.name}": ${action} from ${source} refused: ${describeError(err)}`);
        res.status(409).json({ error: describeError(err) });
      },
    );
  });
};
