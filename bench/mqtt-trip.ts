/**
 * A remote emergency stop over MQTT, measured from the publish of "tripped" to the last stop
 * frame received by the fan-out benchmark's listener (a native process, bench/frame-listener.c),
 * against the broker's own round trip measured in the same run, trip by trip in turn: the publish
 * of a message to a subscriber in this process and its receipt there. A cell with N
 * TcpFrameDevices on 127.0.0.1 hears its remote e-stop topic through a BrokerLink and CellLink
 * (lib/mqtt), as the `workcell-abort-context` node wires them.
 *
 * The broker is Mosquitto (a separate process, started on a free port) when installed, else the
 * embedded aedes broker in this process (`--broker=aedes` chooses it). Target: the trip's p50
 * within 1 ms of the round trip's p50.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { AbortContext } from '../lib';
import { BrokerLink, CellLink, startEmbeddedBroker } from '../lib/mqtt';
import { TcpFrameDevice } from '../test/support/tcp-frame-device';
import { mosquittoInstalled, startMosquitto } from '../test/support/mosquitto';
import { startListener } from './estop-fanout';
import { fmt, machineFacts, msSince, summarize, table, type Summary } from './stats';

export interface MqttTripOptions {
  devices?: number;
  trips?: number;
  warmupTrips?: number;
  broker?: 'mosquitto' | 'aedes';
  protocolVersion?: 4 | 5;
}

export interface MqttTripResult {
  broker: string;
  devices: number;
  trip: Summary;
  roundTrip: Summary;
  /** Median of each trip over the round trip measured just before it. */
  pairedDifferenceP50: number;
  facts: Record<string, string>;
}

const ESTOP = 'bench/cell/estop';
const ECHO = 'bench/echo';

/** Resolves when `check()` holds, looking after each event-loop turn. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

export async function runMqttTrip(options: MqttTripOptions = {}): Promise<MqttTripResult> {
  const size = options.devices ?? 10;
  const trips = options.trips ?? 300;
  const warmup = options.warmupTrips ?? 50;
  const kind = options.broker ?? (mosquittoInstalled() ? 'mosquitto' : 'aedes');
  // aedes speaks MQTT 3.1.1 only.
  const protocolVersion = options.protocolVersion ?? (kind === 'aedes' ? 4 : 5);
  const broker = kind === 'mosquitto' ? await startMosquitto() : await startEmbeddedBroker();
  const listener = await startListener();
  const cell = new AbortContext({ name: 'bench-mqtt', safeTimeoutMs: 1000, stopTimeoutMs: 1000 });
  const devices = Array.from({ length: size }, (_, i) => new TcpFrameDevice(`dev${i + 1}`));
  const link = new BrokerLink({ url: broker.url, protocolVersion });
  const cellLink = new CellLink({ cell, link, estop: ESTOP, brokerLoss: 'warn', log: { info: () => undefined, warn: (t) => console.warn(t), error: (t) => console.error(t) } });
  let publisher: MqttClient | undefined;
  let subscriber: MqttClient | undefined;
  try {
    await Promise.all(devices.map((d) => d.connect(listener.port)));
    for (const d of devices) cell.addDevice(d);
    publisher = await connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0 });
    subscriber = await connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0 });
    await subscriber.subscribeAsync(ECHO, { qos: 1 });
    await until(() => link.connected);
    // The link's SUBACK: a first trip goes through before measuring.
    let tripNo = 0;
    const roundTrip = async (): Promise<number> => {
      const received = new Promise<bigint>((resolve) => subscriber!.once('message', () => resolve(process.hrtime.bigint())));
      const t0 = process.hrtime.bigint();
      publisher!.publish(ECHO, 'ping', { qos: 0 });
      return msSince(t0, await received);
    };
    const remoteTrip = async (): Promise<number> => {
      const n = ++tripNo;
      const frame = Buffer.from(`!S${n}\n`, 'latin1');
      for (const d of devices) d.stopFrame = frame;
      const received = listener.frames(n, size);
      const t0 = process.hrtime.bigint();
      publisher!.publish(ESTOP, 'tripped', { qos: 0 });
      const frames = await received;
      const ms = msSince(t0, frames.last);
      await cell.settled();
      publisher!.publish(ESTOP, 'clear', { qos: 0 });
      await until(() => cell.activeTrips['mqtt-estop'] === undefined);
      await cell.reset('bench');
      return ms;
    };
    for (let i = 0; i < warmup; i++) {
      await roundTrip();
      await remoteTrip();
    }
    const rt: number[] = [];
    const tr: number[] = [];
    for (let i = 0; i < trips; i++) {
      // Alternate which goes first, so neither always follows the other.
      if (i % 2) {
        rt.push(await roundTrip());
        tr.push(await remoteTrip());
      } else {
        tr.push(await remoteTrip());
        rt.push(await roundTrip());
      }
    }
    const diffs = tr.map((t, i) => t - rt[i]).sort((a, b) => a - b);
    return {
      broker: kind === 'mosquitto' ? `Mosquitto (separate process), MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}` : 'aedes (embedded, this process), MQTT 3.1.1',
      devices: size,
      trip: summarize(tr),
      roundTrip: summarize(rt),
      pairedDifferenceP50: diffs[diffs.length >> 1],
      facts: machineFacts(),
    };
  } finally {
    await cellLink.close();
    await publisher?.endAsync();
    await subscriber?.endAsync();
    await Promise.all(devices.map((d) => d.close()));
    await listener.close();
    await broker.close();
  }
}

/** The result as markdown, with the verdict on the target. */
export function mqttTripTable(r: MqttTripResult): string {
  const row = (label: string, s: Summary) => [label, s.n, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)];
  const gap = r.trip.p50 - r.roundTrip.p50;
  return [
    `broker: ${r.broker}; ${r.devices} TcpFrameDevices; times in ms`,
    '',
    table(['', 'n', 'p50', 'p90', 'p99', 'max'], [row('remote trip: publish → last stop frame', r.trip), row('broker round trip: publish → subscriber', r.roundTrip)]),
    '',
    `p50 gap: ${fmt(gap)} ms (paired per trip: ${fmt(r.pairedDifferenceP50)} ms); target p50 within 1 ms of the round trip: ${gap <= 1 ? 'met' : 'MISSED'}`,
  ].join('\n');
}

if (require.main === module) {
  const broker = process.argv.includes('--broker=aedes') ? 'aedes' : process.argv.includes('--broker=mosquitto') ? 'mosquitto' : undefined;
  const quick = process.argv.includes('--quick');
  runMqttTrip({ broker, trips: quick ? 50 : undefined, warmupTrips: quick ? 10 : undefined }).then(
    (r) => {
      console.log(Object.entries(r.facts).map(([k, v]) => `- ${k}: ${v}`).join('\n'));
      console.log(mqttTripTable(r));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
