import type { ChildProcess } from 'node:child_process';
import { packageRoot as demoPackageRoot, spawnNodeRed } from '../../lib/demo';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const PACKAGE_NAME = '@workcell/node-red-workcell';

/** The repository root (works from source and from dist/): the demo's, re-exported for the tests. */
export function packageRoot(from: string = __dirname): string {
  return demoPackageRoot(from);
}

/**
 * A TCP port that was free a moment ago on `host`: bind port 0, read the port the kernel
 * chose, release it. Node-RED cannot listen on port 0 itself (it would not say which port it
 * got), so this is how a test picks its port. Another process may take it in between, so
 * startNodeRed retries with a new port when Node-RED reports the port in use.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePort(port) : reject(new Error(`could not find a free port on ${host}`))));
    });
  });
}

export interface NodeRedOptions {
  /** The flows to start with (written to the userDir's flows.json). Default: none. */
  flows?: object[];
  /** Credentials by node id, stored in clear (the settings use `credentialSecret: false`). */
  credentials?: Record<string, Record<string, unknown>>;
  /**
   * Settings merged over the defaults (uiHost 127.0.0.1, the free port, the userDir,
   * flowFile, credentialSecret false, telemetry off, logging at info on the console). Must be JSON-serialisable:
   * adminAuth with bcrypt hashes, editorTheme, nodeCloseTimeout, … are.
   */
  settings?: Record<string, unknown>;
  /** Extra environment variables for the Node-RED process (merged over this process's). */
  env?: Record<string, string>;
  /** Load Workcell itself (a symlink to the repository in the userDir's node_modules). Default true. */
  workcell?: boolean;
  /** More node modules to load: package name → directory, symlinked into the userDir's node_modules. */
  modules?: Record<string, string>;
  /** Host to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on. Default: a free one. */
  port?: number;
  /** How long to wait for GET /settings and "Started flows". Default 30 s. */
  readyTimeoutMs?: number;
  /** Echo Node-RED's output: a function gets each line; true writes to stderr. Default: WORKCELL_NODE_RED_LOG=1. */
  log?: boolean | ((line: string) => void);
  /** Keep the temporary userDir after stop() (for post-mortems). Default false. */
  keepUserDir?: boolean;
  /**
   * Use this userDir (one a previous start kept) instead of a new one: a restart of Node-RED
   * over the same files. It is kept after stop(), like `keepUserDir`.
   */
  userDir?: string;
}

export interface NodeRedProcess {
  /** The editor and admin API root, e.g. http://127.0.0.1:43121/ (with a trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly userDir: string;
  readonly child: ChildProcess;
  /** Everything Node-RED printed so far, line by line. */
  readonly logs: string[];
  /** Resolves with the first log line (past or future) matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Stop Node-RED (SIGINT: flows are stopped and close handlers run), then SIGKILL after `timeoutMs`; removes the userDir. */
  stop(timeoutMs?: number): Promise<void>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Settings objects merged one level deep per key (so `editorTheme: {page: …}` keeps other defaults). */
function mergeSettings(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(base[k]) ? mergeSettings(base[k], v) : v;
  return out;
}

function linkModule(nodeModules: string, name: string, target: string): void {
  const link = join(nodeModules, ...name.split('/'));
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(resolve(target), link, 'dir');
}

/**
 * Start a real Node-RED (node_modules/node-red/red.js) as a child process, with a temporary
 * userDir holding a settings file, the flows and symlinks to the node modules to load (Workcell
 * itself, from dist/: build first), on a free port of 127.0.0.1. Resolves once GET /settings
 * answers and the flows have started; rejects with Node-RED's output if it exits or does not
 * get ready in time.
 */
export async function startNodeRed(options: NodeRedOptions = {}): Promise<NodeRedProcess> {
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: Error | undefined;
  for (let i = 0; i < attempts; i++) {
    try {
      return await startOnce(options, options.port ?? (await freePort(options.host ?? '127.0.0.1')));
    } catch (err) {
      lastError = err as Error;
      if (!/EADDRINUSE/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError;
}

async function startOnce(options: NodeRedOptions, port: number): Promise<NodeRedProcess> {
  const root = packageRoot();
  const host = options.host ?? '127.0.0.1';
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const userDir = options.userDir ?? mkdtempSync(join(tmpdir(), 'workcell-node-red-'));
  const keepUserDir = options.keepUserDir === true || options.userDir !== undefined;
  const nodeModules = join(userDir, 'node_modules');
  mkdirSync(nodeModules, { recursive: true });
  const link = (name: string, dir: string) => {
    if (!existsSync(join(nodeModules, ...name.split('/')))) linkModule(nodeModules, name, dir);
  };
  if (options.workcell !== false) {
    if (!existsSync(join(root, 'dist', 'nodes', 'abort-context.js'))) throw new Error(`Workcell is not built: ${join(root, 'dist', 'nodes')} has no nodes; run npm run build first`);
    link(PACKAGE_NAME, root);
  }
  for (const [name, dir] of Object.entries(options.modules ?? {})) link(name, dir);

  const settings = mergeSettings(
    {
      uiHost: host,
      uiPort: port,
      userDir,
      flowFile: 'flows.json',
      credentialSecret: false,
      // No consent prompt over the editor and no calls home (tests and the demo run offline).
      telemetry: { enabled: false, updateNotification: false },
      logging: { console: { level: 'info', metrics: false, audit: false } },
    },
    options.settings ?? {},
  );
  const settingsFile = join(userDir, 'settings.js');
  writeFileSync(settingsFile, `// Written by test/support/node-red-process.ts\nmodule.exports = ${JSON.stringify(settings, null, 2)};\n`);
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(options.flows ?? [], null, 2));
  if (options.credentials) writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify(options.credentials, null, 2));

  const logs: string[] = [];
  const logWaiters = new Set<(line: string) => void>();
  const echo = options.log === undefined ? (process.env.WORKCELL_NODE_RED_LOG === '1' ? true : false) : options.log;
  const onLine = (line: string) => {
    logs.push(line);
    if (echo === true) process.stderr.write(`[node-red:${port}] ${line}\n`);
    else if (typeof echo === 'function') echo(line);
    for (const w of [...logWaiters]) w(line);
  };
  // The demo's launcher: one way to start, wait for and stop a Node-RED child.
  const nodeRed = spawnNodeRed({ packageRoot: root, userDir, settingsFile, host, port, env: (options.env ?? {}) as Record<string, string>, onLine });

  const waitForLog = (pattern: RegExp, timeoutMs = 10_000): Promise<string> => {
    const seen = logs.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => {
        logWaiters.delete(check);
        reject(new Error(`Node-RED on port ${port} did not log ${pattern} within ${timeoutMs} ms; its output:\n${logs.join('\n')}`));
      }, timeoutMs);
      const check = (line: string) => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        logWaiters.delete(check);
        resolveLine(line);
      };
      logWaiters.add(check);
    });
  };

  let stopped = false;
  const stop = async (timeoutMs = 20_000): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await nodeRed.stop(timeoutMs);
    if (!keepUserDir) rmSync(userDir, { recursive: true, force: true });
  };

  const url = `http://${host}:${port}/`;
  try {
    // A flow with an unknown node type never starts: this then fails with Node-RED's output.
    await nodeRed.ready(readyTimeoutMs);
  } catch (err) {
    await stop(5000);
    throw new Error(`${(err as Error).message}; its output:\n${logs.join('\n')}`);
  }
  const child = nodeRed.child;
  return { url, port, userDir, child, logs, waitForLog, stop };
}
