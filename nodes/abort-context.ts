import { AbortContext, LatchChange, StopDebtChange, Watchdog } from '../lib';
import { registerCell, setCellFailure, setWatchdog, unregisterCell } from './shared/cell-registry';
import { configure, nodeLabel } from './shared/editor-fields';
import { ABORT_CONTEXT_FIELDS } from './shared/node-fields';
import { configureLatchStore, getLatch, setLatch } from './shared/latch-store';
import { brokerLinkOf } from './shared/broker-node';
import { startSequenceByName } from './shared/sequence-start';
import { setCellLink } from './shared/cell-links';
import { CellLink } from '../lib/mqtt';
import { NodeDef, RedAPI, RedNode, closeTimeoutMs } from './shared/red';

interface AbortContextNode extends RedNode {
  cell: AbortContext;
}

export = function (RED: RedAPI): void {
  const userDir = typeof RED.settings.userDir === 'string' ? RED.settings.userDir : undefined;
  configureLatchStore(userDir, (m) => RED.log.warn(m));
  /**
   * `workcell-abort-context`: the cell, one emergency-stop domain. Owns the engine's
   * AbortContext. A latched emergency stop survives a redeploy of this node: the new instance
   * starts aborted and needs a reset. On close, runs still in progress are stopped and every
   * device is brought safe, within Node-RED's close timeout.
   *
   * A cell whose configuration is invalid (a timeout that is not a number of seconds in range)
   * does not start: it is not registered, so every node of it refuses its messages naming why,
   * and no device joins it or connects (it fails closed).
   */
  function AbortContextNodeCtor(this: AbortContextNode, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = configure(node, ABORT_CONTEXT_FIELDS, def, nodeLabel('cell', def));
    if (!configured.ok) {
      setCellFailure(def.id, configured.error.message);
      node.on('close', () => setCellFailure(def.id, undefined));
      return;
    }
    const config = configured.config;
    // A cell whose MQTT broker node is missing or did not start does not start either: a remote
    // emergency stop it cannot hear must not look armed.
    let link: ReturnType<typeof brokerLinkOf> | undefined;
    if (config.mqtt) {
      try {
        link = brokerLinkOf(RED, config.mqtt, nodeLabel('cell', def));
      } catch (err) {
        const why = (err as Error).message;
        node.error(why);
        setCellFailure(def.id, why);
        node.on('close', () => setCellFailure(def.id, undefined));
        return;
      }
    }
    node.cell = new AbortContext({
      name: config.name || `cell ${def.id}`,
      safeTimeoutMs: config.safeTimeout,
      stopTimeoutMs: config.stopTimeout,
      resetTimeoutMs: config.resetTimeout,
      startAborted: getLatch(def.id),
    });
    registerCell(def.id, node.cell, config.redeploy);
    // The latch is stored durably the moment the cell enters aborting (a crash or power loss
    // during the safe routines must not unlatch it) and cleared by a reset. A latch made only
    // of redeploy trips (a typed flag, not a source text) is not kept across a restart.
    node.cell.on('latch', (l: LatchChange) => setLatch(def.id, l.persistent ? l.sources : null));
    // Every stop debt, its settling and above all a device cleared by hand are logged.
    node.cell.on('stop-debt', (d: StopDebtChange) => {
      const text = `cell "${node.cell.name}": device ${d.device} ${d.owes ? `is not known to be stopped and safe: ${d.why}` : `is known stopped and safe again: ${d.why}`}${d.source ? ` (by ${d.source})` : ''}`;
      if (d.owes || d.source) node.warn(text);
      else node.log(text);
    });
    // Dead-man: with a heartbeat period set, the cell trips unless an estop node with
    // msg.action "heartbeat" (or a remote supervisor through one) beats at least that often.
    const heartbeatMs = config.heartbeat;
    const watchdog = heartbeatMs > 0 ? new Watchdog(node.cell, 'heartbeat', heartbeatMs) : undefined;
    setWatchdog(def.id, watchdog);

    // The cell's MQTT link (remote emergency stop, commands, status, heartbeat): see lib/mqtt/cell-link.ts.
    const cellLink = link
      ? new CellLink({
          cell: node.cell,
          link,
          watchdog,
          estop: config.estopTopic,
          command: config.commandTopic,
          reply: config.replyTopic,
          status: config.statusTopic,
          heartbeat: config.heartbeatTopic,
          brokerLoss: config.brokerLoss,
          startSequence: (name, parameters, source) => startSequenceByName(RED, def.id, node.cell.name, name, parameters, source),
          log: { info: (t) => node.log(t), warn: (t) => node.warn(t), error: (t) => node.error(t) },
        })
      : undefined;
    setCellLink(def.id, cellLink);

    node.on('close', (removed: boolean, done: () => void) => {
      const cell = node.cell;
      watchdog?.stop();
      setWatchdog(def.id, undefined);
      const finish = () => {
        const latched = (cell.state === 'aborted' || cell.state === 'aborting') && cell.latchPersistent;
        setLatch(def.id, !removed && latched ? cell.tripSources : null);
        unregisterCell(def.id, cell);
        // The offline status goes out and the cell leaves its broker link before done().
        if (cellLink) {
          setCellLink(def.id, undefined);
          void cellLink.close().then(done, done);
        }
        else done();
      };
      const busy = cell.activeRuns.length > 0 || cell.devices.some((d) => d.status === 'busy' || d.owner !== null);
      if (!busy || cell.state === 'aborted') {
        void cell.settled().then(finish);
        return;
      }
      // Leave a margin inside Node-RED's close timeout so done() is called before it gives up.
      const budget = Math.max(100, closeTimeoutMs(RED) - 1000);
      const timer = setTimeout(() => {
        node.warn(`cell "${cell.name}": devices were not all safe within ${budget} ms of the redeploy`);
        finish();
      }, budget);
      cell.estop(removed ? 'redeploy: cell removed' : 'redeploy', { redeploy: true }).then(
        (report) => {
          clearTimeout(timer);
          if (report.unsafe.length) node.warn(`cell "${cell.name}": after the redeploy stop, not known safe: ${report.unsafe.map((u) => `${u.device} (${u.why})`).join('; ')}`);
          finish();
        },
        () => {
          clearTimeout(timer);
          finish();
        },
      );
    });
  }
  RED.nodes.registerType('workcell-abort-context', AbortContextNodeCtor as unknown as (this: RedNode, def: NodeDef) => void);
};

