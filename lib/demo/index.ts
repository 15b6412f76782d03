/**
 * The demo cell behind `npm start`: Node-RED 4.1 with Workcell loaded from dist/, the device
 * simulators in this process, and the example flows deployed. Nothing here is part of the
 * shipped package's runtime; it is the bench a newcomer (or a browser test) starts with no
 * hardware. scripts/start-demo.js is the command-line entry.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { combinedFlows, loadExamples } from './examples';
import { spawnNodeRed } from './node-red-child';
import { startDemoSimulators } from './simulators';
import { PACKAGE_NAME, prepareDemoUserDir } from './user-dir';
import { startEmbeddedBroker } from '../mqtt/embedded-broker';
import { mqttTopicsHelp } from './mqtt-topics';

export { loadExamples, combinedFlows, nodeTypes } from './examples';
export type { ExampleFlow, FlowNode } from './examples';
export { startDemoSimulators, DEMO_GANTRY_TRAVEL } from './simulators';
export { startDemoModbusCell, thermocoupleVolts, DEMO_MODBUS_UNITS, DEMO_FURNACE_SPEEDUP } from './modbus-cell';
export type { DemoModbusCell } from './modbus-cell';
export { DEMO_PART, probeVolts } from './part-under-test';
export type { ProbePosition } from './part-under-test';
export type { DemoSimulatorOptions, DemoSimulators, DemoSimulatorAddress } from './simulators';
export { prepareDemoUserDir } from './user-dir';
export { spawnNodeRed } from './node-red-child';

/** The repository root: the nearest directory above `from` whose package.json is Workcell's (works from source and from dist/). */
export function packageRoot(from: string = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no ${PACKAGE_NAME} package.json above ${from}`);
    dir = up;
  }
}

export interface DemoOptions {
  /** Environment to read PORT, WORKCELL_DEMO_DIR and WORKCELL_DEMO_TIME_SCALE from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where the demo's messages go (Node-RED's own output included). Default: stdout. */
  readonly print?: (line: string) => void;
  /** How long Node-RED may take to start its flows. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** How long Node-RED may take to stop after SIGINT before it is killed. Default 20 s (its close timeout is 15 s). */
  readonly stopTimeoutMs?: number;
}

/** A running demo cell. */
export interface Demo {
  readonly url: string;
  readonly userDir: string;
  /** Stops Node-RED (flows stopped, devices brought safe), then the simulators. Safe to call twice. */
  stop(): Promise<void>;
  /** Kills Node-RED at once (SIGKILL): for a second Ctrl+C, when a close handler hangs. */
  kill(): void;
  /** Resolves when Node-RED has exited, for whatever reason, and the simulators are closed; with Node-RED's exit code. */
  readonly ended: Promise<number>;
}

const HOST = '127.0.0.1';

/** The TCP port from `$PORT`, 1880 when unset. @throws RangeError when it is not a port number. */
export function demoPort(env: NodeJS.ProcessEnv): number {
  const text = env.PORT;
  if (text === undefined || text === '') return 1880;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`PORT must be a TCP port number between 1 and 65535, got "${text}"`);
  return port;
}

/**
 * The simulated machines' speed-up from `$WORKCELL_DEMO_TIME_SCALE` (1, real speed, when unset;
 * 10 makes homing and moves ten times faster). @throws RangeError when it is not a positive number.
 */
export function demoTimeScale(env: NodeJS.ProcessEnv): number {
  const text = env.WORKCELL_DEMO_TIME_SCALE;
  if (text === undefined || text === '') return 1;
  const scale = Number(text);
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`WORKCELL_DEMO_TIME_SCALE must be a positive number (10 runs the machines ten times faster), got "${text}"`);
  return scale;
}

/**
 * Starts the demo cell: checks that Workcell is built, starts the simulators on free ports of
 * 127.0.0.1, prepares the userDir (`$WORKCELL_DEMO_DIR`, default `<repo>/.demo`) with the
 * examples as its flows, and starts Node-RED on 127.0.0.1:`$PORT` (default 1880) with the
 * simulators' addresses in its environment (`GANTRY_ADDRESS`, `DMM_ADDRESS`, `PSU_ADDRESS`,
 * which the example flows' device config nodes name as `${…}`) and `MQTT_BROKER`: `$MQTT_BROKER`
 * when set, else an embedded broker (aedes, MQTT 3.1.1) on a free port of 127.0.0.1, closed with
 * the simulators; the MQTT example's topics are printed with mosquitto_pub / mosquitto_sub
 * commands to try. Resolves once the flows run.
 * When Node-RED has exited it prints the devices' state, read from the simulators (`Workcell
 * demo: devices at shutdown: …`), then closes the simulators.
 * If anything fails on the way, what was started is stopped again before the error is thrown.
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const root = packageRoot();
  if (!existsSync(join(root, 'dist', 'nodes', 'abort-context.js'))) {
    throw new Error(`Workcell is not built (${join(root, 'dist', 'nodes')} has no nodes): run "npm start", which builds first, or "npm run build"`);
  }
  const port = demoPort(env);
  const timeScale = demoTimeScale(env);
  const userDirPath = resolve(root, env.WORKCELL_DEMO_DIR || '.demo');
  const examples = loadExamples(join(root, 'examples'));

  const simulators = await startDemoSimulators({ host: HOST, timeScale });
  let nodeRed: ReturnType<typeof spawnNodeRed> | undefined;
  let broker: { url: string; close(): Promise<void> } | undefined;
  try {
    // The MQTT example's broker: $MQTT_BROKER when given, else an embedded one on a free port.
    broker = env.MQTT_BROKER ? { url: env.MQTT_BROKER, close: async () => undefined } : await startEmbeddedBroker({ host: HOST });
    const userDir = prepareDemoUserDir({ dir: userDirPath, packageRoot: root, host: HOST, port, flows: combinedFlows(examples) });
    print(`Workcell demo: simulators listening on ${HOST}`);
    for (const a of simulators.addresses) print(`  ${a.envVar}=${a.address}  (${a.label})`);
    print(`  MQTT_BROKER=${broker.url}  (${env.MQTT_BROKER ? 'from $MQTT_BROKER' : 'embedded aedes broker, MQTT 3.1.1'})`);
    const fromCwd = relative(process.cwd(), userDir.dir);
    const shownDir = fromCwd === '' ? '.' : fromCwd.startsWith('..') ? userDir.dir : fromCwd;
    if (userDir.newSecret) print(`Workcell demo: generated a credential secret in ${join(shownDir, 'credential-secret')}`);
    if (userDir.flows === 'written') print(`Workcell demo: flows from examples/ (${examples.map((e) => e.label).join('; ')}) written to ${join(shownDir, 'flows.json')}`);
    if (userDir.flows === 'kept') print(`Workcell demo: keeping the flows deployed in ${join(shownDir, 'flows.json')}; delete that file to start again from examples/`);

    nodeRed = spawnNodeRed({ packageRoot: root, userDir: userDir.dir, settingsFile: userDir.settingsFile, host: HOST, port, env: { ...simulators.env, MQTT_BROKER: broker.url }, onLine: print });
    try {
      await nodeRed.ready(options.readyTimeoutMs ?? 60_000);
    } catch (err) {
      const exit = await Promise.race([nodeRed.exited, new Promise<undefined>((r) => setTimeout(r, 50, undefined))]);
      const hint = exit && exit.code !== 0 ? ` (is port ${port} already in use? Set PORT to choose another)` : '';
      throw new Error(`${(err as Error).message}${hint}`);
    }
    const url = `http://${HOST}:${port}/`;
    print('');
    print(`Workcell demo cell is running. Editor: ${url}`);
    print(`  userDir ${shownDir}; Import › Examples › @workcell/node-red-workcell has the example flows.`);
    print('  Ctrl+C stops Node-RED (devices brought to their safe state) and the simulators.');
    print('');
    for (const line of mqttTopicsHelp(broker.url)) print(line);
    print('');

    const child = nodeRed;
    const mqttBroker = broker;
    const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
    const ended = child.exited.then(async ({ code, signal }) => {
      // Node-RED's close handlers have done what they could; show what they left behind.
      print(`Workcell demo: devices at shutdown: ${simulators.describeState()}`);
      await simulators.close();
      await mqttBroker.close();
      return code ?? (signal ? 1 : 0);
    });
    let stopping: Promise<void> | undefined;
    return {
      url,
      userDir: userDir.dir,
      ended,
      stop() {
        stopping ??= child.stop(stopTimeoutMs).then(() => ended).then(() => undefined);
        return stopping;
      },
      kill() {
        child.child.kill('SIGKILL');
      },
    };
  } catch (err) {
    if (nodeRed) await nodeRed.stop(5000);
    await simulators.close();
    await broker?.close();
    throw err;
  }
}
