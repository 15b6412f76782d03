import { join } from 'node:path';
// ws comes with Node-RED (its editor's comms server is built on it); Node 20 has no WebSocket client.
import WebSocket from 'ws';
import { DemoSimulators, FlowNode, loadExamples, startDemoSimulators } from '../../lib/demo';
import { NodeRedProcess, packageRoot, startNodeRed } from './node-red-process';

/**
 * The editor's users in the sidebar tests: alice may do everything, bob may only read.
 * Passwords hashed with bcrypt (cost 4: hashing speed is not under test).
 */
export const USERS = {
  alice: { password: 'alice-password', hash: '$2b$04$e31tk6dCbUuCQEECN6SDVO/AhShMq4k8TgM2fl09xtamqK21J1x96', permissions: '*' },
  bob: { password: 'bob-password', hash: '$2b$04$zBbS9I2atNuCoyQC3anQ5ewpTjBdLDss0j.nfVbd28gvGNjgsIa/C', permissions: 'read' },
} as const;
export type UserName = keyof typeof USERS;

/** The demo cell's example flow (example 02: cell `wc02-cell`, a gantry, a DMM and a power supply), as shipped. */
export function demoCellFlow(): readonly FlowNode[] {
  const example = loadExamples(join(packageRoot(), 'examples')).find((e) => e.nodes.some((n) => n.id === 'wc02-cell'));
  if (!example) throw new Error('no example flow has the demo cell (wc02-cell): example 02 is missing from examples/');
  return example.nodes;
}

export interface DemoCellRuntime {
  red: NodeRedProcess;
  sims: DemoSimulators;
  /** The demo cell's config node id. */
  cellId: string;
  stop(): Promise<void>;
}

/**
 * The demo cell (examples' gantry, DMM and power supply on their simulators, ten times faster)
 * in a real Node-RED child process, with adminAuth users alice and bob when `auth` is set.
 * `adjust` may change the flow's nodes first (e.g. a shorter reply timeout).
 */
export async function startDemoCell(options: { auth?: boolean; adjust?: (nodes: FlowNode[]) => void } = {}): Promise<DemoCellRuntime> {
  const nodes = demoCellFlow().map((n) => ({ ...n }));
  options.adjust?.(nodes);
  const cell = nodes.find((n) => n.type === 'workcell-abort-context');
  if (!cell) throw new Error('the demo flow has no cell');
  const sims = await startDemoSimulators({ timeScale: 10 });
  const settings: Record<string, unknown> = {
    // No palette catalogue: this machine has no route to the Flow Library, and the editor's
    // console must stay free of errors that are not ours.
    editorTheme: { palette: { catalogues: [] } },
  };
  if (options.auth) settings.adminAuth = { type: 'credentials', users: Object.entries(USERS).map(([username, u]) => ({ username, password: u.hash, permissions: u.permissions })) };
  let red: NodeRedProcess;
  try {
    red = await startNodeRed({ flows: nodes, env: { ...sims.env }, settings });
  } catch (err) {
    await sims.close();
    throw err;
  }
  return {
    red,
    sims,
    cellId: cell.id,
    async stop() {
      await red.stop();
      await sims.close();
    },
  };
}

/** An access token for `user`, from Node-RED's own token endpoint (as the admin CLI gets one). */
export async function tokenFor(red: NodeRedProcess, user: UserName): Promise<string> {
  const res = await fetch(new URL('auth/token', red.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: USERS[user].permissions, username: user, password: USERS[user].password }),
  });
  if (res.status !== 200) throw new Error(`Node-RED refused a token for ${user}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The messages of Node-RED's comms channel on one topic pattern, as an editor receives them. */
export class CommsListener {
  readonly messages: { topic: string; data: unknown }[] = [];
  private readonly waiters = new Set<() => void>();
  private constructor(private readonly ws: WebSocket) {}

  /** Connects to the editor's comms endpoint, authenticates with `token` (when given) and subscribes to `topic`. */
  static async open(red: NodeRedProcess, topic: string, token?: string): Promise<CommsListener> {
    const ws = new WebSocket(new URL('comms', red.url.replace(/^http/, 'ws')));
    const listener = new CommsListener(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const authed = new Promise<void>((resolve, reject) => {
      ws.on('message', (raw) => {
        const parsed = JSON.parse(String(raw)) as unknown;
        if (!Array.isArray(parsed)) {
          const m = parsed as { auth?: string };
          if (m.auth === 'ok') resolve();
          else if (m.auth === 'fail') reject(new Error('comms authentication failed'));
          return;
        }
        for (const m of parsed as { topic: string; data: unknown }[]) {
          listener.messages.push(m);
          for (const w of [...listener.waiters]) w();
        }
      });
    });
    if (token) {
      ws.send(JSON.stringify({ auth: token }));
      await authed;
    }
    ws.send(JSON.stringify({ subscribe: topic }));
    return listener;
  }

  /** Resolves with the first message (past or future) whose data satisfies `test`. */
  waitFor<T>(test: (data: T) => boolean, what: string, ms = 10_000): Promise<T> {
    const seen = this.messages.find((m) => test(m.data as T));
    if (seen) return Promise.resolve(seen.data as T);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no comms message ${what} within ${ms} ms; got ${JSON.stringify(this.messages).slice(0, 2000)}`));
      }, ms);
      const check = () => {
        const m = this.messages.find((x) => test(x.data as T));
        if (!m) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(m.data as T);
      };
      this.waiters.add(check);
    });
  }

  close(): void {
    this.ws.close();
  }
}
