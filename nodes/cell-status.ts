import { DeviceHealth, RunResult, StopDebtChange, StopReport } from '../lib';
import { cellFailure, getCell, noCellError } from './shared/cell-registry';
import { configure, nodeLabel } from './shared/editor-fields';
import { CELL_STATUS_FIELDS } from './shared/node-fields';
import { sendOutputs } from './shared/flows-stopping';
import { cellLinkOf } from './shared/cell-links';
import { NodeDef, NodeMessage, RedAPI, RedNode } from './shared/red';

interface CellStatusDef extends NodeDef {
  cell: string;
}

const FILL = { ready: 'green', running: 'blue', held: 'yellow', aborting: 'red', aborted: 'red', resetting: 'yellow' } as const;

/**
 * What the default `changes` setting reports of a device's health: its connection, faults and
 * position trust, not its busy/ready flips and their detail (every step makes two of those).
 */
function healthChange(h: DeviceHealth): string {
  const working = h.status === 'ready' || h.status === 'busy';
  return JSON.stringify([working ? 'working' : h.status, working ? '' : h.detail, h.fault, h.positionTrusted ?? null]);
}

/** The object without its undefined properties (a message shows every field it has). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-cell-status`: emits every state change of its cell (`topic: "state"`), device
   * health changes (`topic: "device"`; by its `devices` setting: `changes` (default) when a
   * device connects, disconnects, faults, recovers or changes position trust, not its busy/ready
   * flips; `all`; or `none`), every run's end (`topic: "run"`), every stop
   * report (`topic: "stop-report"`), every device telemetry reading (`topic: "telemetry"`,
   * only from devices configured to poll) and every change of a device's stop debt
   * (`topic: "stop-debt"`: a device not known to be stopped and safe, or known so again). Any input message asks for a snapshot (`topic: "snapshot"`).
   * Its status shows the cell's state and, for a cell with an MQTT link, the connection
   * (`ready · MQTT connected`; a ring while it is not connected).
   * The ends of runs stopped by a redeploy and the state changes they cause still reach the
   * nodes wired to it (handed over at once, before Node-RED closes them).
   */
  function CellStatusNode(this: RedNode, def: CellStatusDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = configure(node, CELL_STATUS_FIELDS, def, nodeLabel('cell status', def));
    if (!configured.ok) {
      node.on('input', (_msg, _send, done) => done(configured.error));
      return;
    }
    const cell = getCell(def.cell);
    if (!cell) {
      node.status({ fill: 'red', shape: 'ring', text: cellFailure(def.cell) ? 'cell did not start' : 'no cell configured' });
      const error = noCellError(configured.config.name ? `cell status "${configured.config.name}"` : 'cell status', def.cell);
      node.on('input', (_msg, _send, done) => done(error));
      return;
    }
    // A cell with an MQTT link: its connection shows too (a ring while it is not connected).
    const mqtt = cellLinkOf(def.cell)?.link;
    const show = () =>
      node.status(
        mqtt
          ? { fill: FILL[cell.state], shape: mqtt.connected ? 'dot' : 'ring', text: `${cell.state} · MQTT ${mqtt.connected ? 'connected' : mqtt.state}` }
          : { fill: FILL[cell.state], shape: 'dot', text: cell.state },
      );
    mqtt?.on('state', show);
    // While Node-RED is about to stop the flows (runs ending on a redeploy), what this node
    // emits is handed at once to the nodes wired to it: routed as usual, it would arrive after
    // they had closed.
    const send = node.send.bind(node);
    const emit = (msg: NodeMessage) => sendOutputs(RED, node, send, msg);
    const onState = (e: { cell: string; from: string; to: string; source: string }) => {
      show();
      emit({ topic: 'state', payload: defined({ ...e, activeRuns: cell.activeRuns.length, tripSources: cell.tripSources }) });
    };
    const deviceEvents = configured.config.devices;
    // Per device, what its last "device" message said (the health as `changes` compares it).
    const lastSent = new Map<string, string>();
    for (const h of cell.devices) lastSent.set(h.device, healthChange(h));
    const onHealth = (h: DeviceHealth) => {
      if (deviceEvents === 'changes') {
        const change = healthChange(h);
        if (lastSent.get(h.device) === change) return;
        lastSent.set(h.device, change);
      }
      emit({ topic: 'device', payload: defined(h) });
    };
    const onRunEnd = (r: RunResult) => emit({ topic: 'run', payload: defined(r) });
    const onReport = (r: StopReport) => emit({ topic: 'stop-report', payload: defined(r) });
    const onTelemetry = (t: Record<string, unknown>) => emit({ topic: 'telemetry', payload: defined(t) });
    const onDebt = (d: StopDebtChange) => emit({ topic: 'stop-debt', payload: defined({ ...d, unsafe: cell.unsafeDevices }) });
    cell.on('state', onState);
    if (deviceEvents !== 'none') cell.on('device-health', onHealth);
    cell.on('run-end', onRunEnd);
    cell.on('stop-report', onReport);
    cell.on('device-telemetry', onTelemetry);
    cell.on('stop-debt', onDebt);
    show();
    node.on('input', (msg, send, done) => {
      msg.topic = 'snapshot';
      msg.payload = {
        cell: cell.name,
        state: cell.state,
        runs: cell.activeRuns.map((r) => ({ run: r.id, sequence: r.sequence, step: r.step })),
        devices: cell.devices,
        tripSources: cell.tripSources,
        activeTrips: cell.activeTrips,
        unsafe: cell.unsafeDevices,
        lastReport: cell.lastReport ?? null,
      };
      send(msg);
      done();
    });
    node.on('close', () => {
      mqtt?.off('state', show);
      cell.off('state', onState);
      cell.off('device-health', onHealth);
      cell.off('run-end', onRunEnd);
      cell.off('stop-report', onReport);
      cell.off('device-telemetry', onTelemetry);
      cell.off('stop-debt', onDebt);
    });
  }
  RED.nodes.registerType('workcell-cell-status', CellStatusNode as unknown as (this: RedNode, def: NodeDef) => void);
};
